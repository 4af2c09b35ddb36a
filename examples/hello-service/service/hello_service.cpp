// hello_service.cpp: version 1 of the hello_service cell.
#include "service/hello_service.h"

#include "lib/core/format.h"
#include "linker/cell_info.h"
#include "log/log.h"

namespace hello_service {

namespace {
std::uint64_t g_greetings = 0;

delos::ErrorOr<void> start()
{
    delos::log::info("hello_service 1.0.0 ready");
    return {};
}
} // namespace

delos::String greet(delos::StringView who)
{
    ++g_greetings;
    return delos::format("hello, {}", who);
}

std::uint64_t greetings_given() { return g_greetings; }

} // namespace hello_service

DELOS_CELL("hello_service", "1.0.0", hello_service::start, nullptr);
