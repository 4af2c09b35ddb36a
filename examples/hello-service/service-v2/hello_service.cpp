// hello_service.cpp: version 2 of the hello_service cell: the same interface, a new greeting.
#include "service/hello_service.h"

#include "lib/core/format.h"
#include "linker/cell_info.h"
#include "log/log.h"

namespace hello_service {

namespace {
std::uint64_t g_greetings = 0;

delos::ErrorOr<void> start()
{
    delos::log::info("hello_service 2.0.0 ready");
    return {};
}
} // namespace

delos::String greet(delos::StringView who)
{
    ++g_greetings;
    return delos::format("hello, {} (from version 2)", who);
}

std::uint64_t greetings_given() { return g_greetings; }

} // namespace hello_service

DELOS_CELL("hello_service", "2.0.0", hello_service::start, nullptr);
