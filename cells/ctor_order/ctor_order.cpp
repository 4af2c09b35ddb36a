// ctor_order.cpp: a test-only cell (NOT_BOOT) with constructors of every kind and priority, each
// logging its name, to show that the loader runs them in priority order and the destructors in
// exactly the reverse order: init_priority(101), a legacy .ctors entry of priority 200,
// constructor(250), init_priority(300), then the default priority.
#include "linker/cell_info.h"
#include "log/log.h"

namespace {

struct Step {
    explicit Step(const char* name) : name(name) { delos::log::info("construct {}", name); }
    ~Step() { delos::log::info("destroy {}", name); }
    const char* name;
};

Step g_default("default");
[[gnu::init_priority(300)]] Step g_300("300");
[[gnu::init_priority(101)]] Step g_101("101");

[[gnu::constructor(250)]] void attribute_constructor() { delos::log::info("construct attribute-250"); }

} // namespace

extern "C" [[gnu::used]] void ctor_order_legacy_constructor() { delos::log::info("construct legacy-200"); }

// Legacy .ctors sections number priorities backwards: .ctors.65335 is priority 65535 - 65335 = 200.
asm(R"(
    .section .ctors.65335,"aw",@progbits
    .balign 8
    .quad ctor_order_legacy_constructor
    .previous
)");

DELOS_CELL("ctor_order", "1.0.0", nullptr, nullptr);
