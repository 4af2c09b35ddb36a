// hello.cpp: a test-only cell (NOT_BOOT) whose init logs one line; pushed into a running guest
// to show that a new cell links against what is already there. Its greeting is a function-local
// static with a destructor, which the compiler registers through atexit(): the kernel's atexit
// hands it to the namespace, which runs it when this cell is unloaded.
#include "linker/cell_info.h"
#include "log/log.h"

namespace {

struct Greeting {
    Greeting() { delos::log::info("greeting prepared"); }
    ~Greeting() { delos::log::info("goodbye"); }
    void say() const { delos::log::info("hello from a cell loaded at run time"); }
};

delos::ErrorOr<void> hello_init()
{
    static Greeting greeting;
    greeting.say();
    return {};
}

} // namespace

DELOS_CELL("hello", "1.0.0", hello_init, nullptr);
