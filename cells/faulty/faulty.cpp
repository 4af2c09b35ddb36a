// faulty.cpp: the test-only cell faulty 1.0.0 (NOT_BOOT; packed into build/cells/recovery-test.a):
// it faults on demand (null write, wild jump into data, #UD, divide by zero) for fault recovery's
// tests and delos-bench-faults. See faulty_body.h.
#define FAULTY_VERSION "1.0.0"
#define FAULTY_VERSION_NUMBER 1
#define FAULTY_SERVE_ALWAYS_FAULTS false
#include "faulty/faulty_body.h"
