// main.cpp: delos-vmm, a small KVM VMM that boots a Delos guest by PVH and supervises it.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "vm_config.h"
#include "stop_request.h"
#include "virtual_machine.h"
#include "vmm_error.h"

using namespace delos::vmm;

namespace {

std::uint64_t process_rss_bytes()
{
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0)
            return std::stoull(line.substr(6)) * 1024;
    }
    return 0;
}

void print_stats(const VirtualMachine& vm)
{
    std::uint64_t rss = process_rss_bytes();
    std::uint64_t guest = vm.memory().resident_bytes();
    std::uint64_t overhead = rss > guest ? rss - guest : 0;
    std::fprintf(stderr, "delos-vmm: %s\n", vm.describe_exits().c_str());
    std::fprintf(stderr, "delos-vmm: memory rss_kib=%llu guest_resident_kib=%llu overhead_kib=%llu\n",
                 static_cast<unsigned long long>(rss >> 10), static_cast<unsigned long long>(guest >> 10),
                 static_cast<unsigned long long>(overhead >> 10));
}

} // namespace

int main(int argc, char** argv)
{
    auto vmm_start = BootTimer::Clock::now();
    install_signal_handlers();  // first: a SIGTERM during setup is a clean stop too
    try {
        VmConfig config = parse_arguments(argc, argv);
        if (config.show_help) {
            std::fputs(usage_text(), stdout);
            return 0;
        }
        VirtualMachine vm(config, vmm_start);
        RunOutcome outcome = vm.run();
        vm.flush_console();
        if (outcome.kind == RunOutcome::Kind::GuestCrash)
            std::fprintf(stderr, "delos-vmm: guest crashed: %s", outcome.reason.c_str());
        else if (outcome.kind == RunOutcome::Kind::Interrupted)
            std::fprintf(stderr, "delos-vmm: %s: guest stopped\n", outcome.reason.c_str());
        if (config.print_stats)
            print_stats(vm);
        return outcome.exit_code;
        // ~VirtualMachine: the control socket's thread stops and its path is removed.
    } catch (const StopRequested& stop) {
        std::fprintf(stderr, "delos-vmm: stopped by %s before the guest started\n", signal_name(stop.signal()));
        return stop_exit_status(stop.signal());
    } catch (const BadInput& error) {
        std::fprintf(stderr, "delos-vmm: %s\n", error.what());
        return 2;
    } catch (const HostFailure& error) {
        std::fprintf(stderr, "delos-vmm: %s\n", error.what());
        return 1;
    }
}
