// wide.cpp (wide 2.0.0, cells/wide.v2): the second version delos-bench-swap swaps with 1.0.0.
#define WIDE_SEED 0xc2b2ae3d27d4eb4full
#define WIDE_TAG 2
#define WIDE_VERSION "2.0.0"
#include "wide/wide_body.h"
