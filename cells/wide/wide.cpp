// wide.cpp (wide 1.0.0): see wide.h.
#define WIDE_SEED 0x9e3779b97f4a7c15ull
#define WIDE_TAG 1
#define WIDE_VERSION "1.0.0"
#include "wide/wide_body.h"
