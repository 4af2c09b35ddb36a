// faulty.cpp (faulty.v2): faulty 2.0.0, a broken new version: every plain call to serve()
// faults. Swapped in, it starts faulting at once, and fault recovery rolls it back to 1.0.0.
#define FAULTY_VERSION "2.0.0"
#define FAULTY_VERSION_NUMBER 2
#define FAULTY_SERVE_ALWAYS_FAULTS true
#include "faulty/faulty_body.h"
