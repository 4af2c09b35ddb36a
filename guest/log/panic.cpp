// panic.cpp: print the reason, let the installed reporter add the backtrace, exit with kExitPanic.
#include "log/panic.h"

#include "arch/x86_64/cpu.h"
#include "log/kernel_log.h"
#include "platform/platform_ports.h"

namespace delos {

namespace {
bool g_panicking = false;
PanicReporter g_reporter = nullptr;
} // namespace

void set_panic_reporter(PanicReporter reporter) { g_reporter = reporter; }

void panic(StringView message)
{
    cpu::disable_interrupts_hard();  // the real cli: nothing may run any more (native mode too)
    if (g_panicking) {
        kprint("delos: PANIC while panicking: {}\n", message);
        platform::shutdown(platform::kExitPanic);
    }
    g_panicking = true;
    kprint("delos: PANIC: {}\n", message);
    if (g_reporter)
        g_reporter(reinterpret_cast<std::uint64_t>(__builtin_frame_address(0)));
    platform::shutdown(platform::kExitPanic);
}

void panic(StringView context, const Error& error)
{
    char buffer[256];
    FixedBufferSink sink(buffer, sizeof buffer);
    if (error.has_value)
        format_to(sink, "{}: {} ({}: {:#x})", context, error.message, error_code_name(error.code), error.value);
    else
        format_to(sink, "{}: {} ({})", context, error.message, error_code_name(error.code));
    if (error.has_detail())
        format_to(sink, ": {}", error.detail.text());
    panic(sink.view());
}

} // namespace delos
