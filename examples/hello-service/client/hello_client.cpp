// hello_client.cpp: a cell that uses hello_service: its init asks for a greeting and logs it, so
// loading this cell shows which version of the service answers.
#include "linker/cell_info.h"
#include "log/log.h"
#include "service/hello_service.h"

namespace {

delos::ErrorOr<void> ask()
{
    delos::String greeting = hello_service::greet("delos");
    delos::log::info("the service says: {}", greeting);
    return {};
}

} // namespace

DELOS_CELL("hello_client", "1.0.0", ask, nullptr);
