// faults_benchmark.cpp: delos-bench-faults: how long fault recovery takes inside the guest
// (`bench-faults`, booted with build/cells/recovery-test.a), under delos-vmm when /dev/kvm is
// usable, else under QEMU TCG (an emulator: its figures are not the hardware's):
//  - restart: a restartable task faults (a null write); from just before the faulting
//    instruction to its next instance running, >= 100 faults;
//  - reload: the faulty cell faults through its client and the policy reloads it from its
//    pristine object; from just before the fault to the fresh copy answering a call through the
//    re-pointed client, >= 100 faults;
// each as the system runs by default (every fault's report printed on the serial console) and
// with the console report off (the fault log and the channel still carry it). Anchor: what a user
// does today instead, rebooting the VM: the same hypervisor booting the same kernel to its ready
// line, timed from the host in the same run.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "child_process.h"

namespace {

struct Summary {
    double median_us = -1, p99_us = -1;
    int count = 0;
};

double field(const std::string& line, const std::string& key)
{
    auto at = line.find(" " + key + "=");
    return at == std::string::npos ? -1 : std::atof(line.c_str() + at + key.size() + 2);
}

// "bench-faults: restart console n=200 median_ns=... p99_ns=..."
Summary summary_of(const std::string& out, const std::string& what, const std::string& mode)
{
    Summary summary;
    auto at = out.find("bench-faults: " + what + " " + mode + " n=");
    if (at == std::string::npos)
        return summary;
    std::string line = out.substr(at, out.find('\n', at) - at);
    summary.count = static_cast<int>(field(line, "n"));
    summary.median_us = field(line, "median_ns") / 1e3;
    summary.p99_us = field(line, "p99_ns") / 1e3;
    return summary;
}

std::string number(double value, int decimals = 1)
{
    if (value < 0)
        return "null";
    char text[64];
    std::snprintf(text, sizeof text, "%.*f", decimals, value);
    return text;
}

std::string ratio(double value, double baseline) { return value <= 0 || baseline <= 0 ? "null" : number(value / baseline, 1); }

double median(std::vector<double> values)
{
    if (values.empty())
        return -1;
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
}

struct Run {
    std::string hypervisor;
    std::string error;
    delos::test::ChildResult result;
};

Run run_guest(const std::string& build, const std::string& command, const std::string& module)
{
    Run run;
    std::string kernel = build + "/guest/delos.elf";
    if (delos::test::kvm_available()) {
        run.hypervisor = "delos-vmm (KVM)";
        run.result = delos::test::run_child({build + "/bin/delos-vmm", "--module", module, "--cmdline", command, kernel},
                                            {std::chrono::seconds(900), "delos: ready"});
    } else if (delos::test::program_exists("qemu-system-x86_64")) {
        run.hypervisor = "QEMU TCG (emulated; no usable /dev/kvm)";
        run.result = delos::test::run_child({"qemu-system-x86_64", "-accel", "tcg", "-M", "microvm", "-m", "64M", "-nodefaults",
                                             "-no-user-config", "-nographic", "-no-reboot", "-kernel", kernel, "-initrd", module,
                                             "-append", command, "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-serial",
                                             "stdio", "-monitor", "none"},
                                            {std::chrono::seconds(900), "delos: ready"});
    } else {
        run.error = "neither KVM nor QEMU is available";
    }
    return run;
}

} // namespace

int main(int argc, char** argv)
{
    bool json = false;
    for (int i = 1; i < argc; ++i) {
        std::string argument = argv[i];
        if (argument == "--json") {
            json = true;
        } else {
            std::fprintf(stderr, "usage: delos-bench-faults [--json]\n");
            return 2;
        }
    }
    std::string build = DELOS_BUILD_DIR;

    // The anchor: rebooting the VM (process start to the guest's ready line), 5 boots.
    std::vector<double> reboot_ms, guest_boot_ms;
    std::string hypervisor;
    for (int boot = 0; boot < 5; ++boot) {
        Run run = run_guest(build, "exit", build + "/cells/cells.a");
        if (!run.error.empty()) {
            std::fprintf(stderr, "delos-bench-faults: %s\n", run.error.c_str());
            return 1;
        }
        hypervisor = run.hypervisor;
        if (run.result.watch_ms >= 0)
            reboot_ms.push_back(run.result.watch_ms);
        auto at = run.result.out.find(", boot ");
        if (at != std::string::npos)
            guest_boot_ms.push_back(std::atof(run.result.out.c_str() + at + 7) / 1e3);
    }

    // Under a loaded emulator the guest's TSC calibration against the PIT can fail at boot (it
    // then stops with a panic before anything is measured): such a boot is tried again, twice.
    Run bench;
    for (int attempt = 0; attempt < 3; ++attempt) {
        bench = run_guest(build, "bench-faults", build + "/cells/recovery-test.a");
        if (bench.result.out.find("bench-faults: done") != std::string::npos
            || bench.result.out.find("the TSC is not calibrated") == std::string::npos)
            break;
        std::fprintf(stderr, "delos-bench-faults: the guest could not calibrate its TSC at boot; booting again\n");
    }
    const std::string& out = bench.result.out;
    if (!bench.error.empty() || out.find("bench-faults: done") == std::string::npos) {
        std::string tail = out.substr(out.size() > 3000 ? out.size() - 3000 : 0);
        std::fprintf(stderr, "delos-bench-faults: the guest did not finish bench-faults (exit %d)%s\n%s\n", bench.result.exit_code,
                     bench.error.empty() ? "" : (": " + bench.error).c_str(), tail.c_str());
        return 1;
    }
    Summary restart = summary_of(out, "restart", "console"), reload = summary_of(out, "reload", "console");
    Summary restart_quiet = summary_of(out, "restart", "quiet"), reload_quiet = summary_of(out, "reload", "quiet");
    double reboot = median(reboot_ms), guest_boot = median(guest_boot_ms);
    double reboot_us = reboot * 1e3;

    if (json) {
        std::printf("{\"hypervisor\":\"%s\",\"restarts\":%d,\"reloads\":%d,"
                    "\"recover_restart_us_median\":%s,\"recover_restart_us_p99\":%s,"
                    "\"recover_reload_us_median\":%s,\"recover_reload_us_p99\":%s,"
                    "\"quiet_console\":{\"recover_restart_us_median\":%s,\"recover_restart_us_p99\":%s,"
                    "\"recover_reload_us_median\":%s,\"recover_reload_us_p99\":%s},"
                    "\"reboot_ms_median\":%s,\"guest_boot_ms_median\":%s,"
                    "\"reboot_vs_restart\":%s,\"reboot_vs_reload\":%s,"
                    "\"targets\":{\"recover_restart_us\":50,\"recover_reload_us\":2000}}\n",
                    hypervisor.c_str(), restart.count, reload.count, number(restart.median_us).c_str(), number(restart.p99_us).c_str(),
                    number(reload.median_us).c_str(), number(reload.p99_us).c_str(), number(restart_quiet.median_us).c_str(),
                    number(restart_quiet.p99_us).c_str(), number(reload_quiet.median_us).c_str(), number(reload_quiet.p99_us).c_str(),
                    number(reboot, 1).c_str(), number(guest_boot, 1).c_str(), ratio(reboot_us, restart.median_us).c_str(),
                    ratio(reboot_us, reload.median_us).c_str());
        return 0;
    }
    std::printf("delos-bench-faults: fault recovery inside the guest, under %s\n", hypervisor.c_str());
    std::printf("  (each figure: from just before the faulting instruction; median and p99 over the faults shown)\n\n");
    std::printf("  %-52s %10s %10s\n", "", "median", "p99");
    std::printf("  %-52s %7s us %7s us   (target <= 50 us)\n", ("restart, task running again (" + std::to_string(restart.count) + " faults)").c_str(),
                number(restart.median_us).c_str(), number(restart.p99_us).c_str());
    std::printf("  %-52s %7s us %7s us   (target <= 2000 us)\n", ("reload, cell serving again (" + std::to_string(reload.count) + " faults)").c_str(),
                number(reload.median_us).c_str(), number(reload.p99_us).c_str());
    std::printf("  with the console report off (the fault log and channel still carry it):\n");
    std::printf("  %-52s %7s us %7s us\n", "  restart", number(restart_quiet.median_us).c_str(), number(restart_quiet.p99_us).c_str());
    std::printf("  %-52s %7s us %7s us\n", "  reload", number(reload_quiet.median_us).c_str(), number(reload_quiet.p99_us).c_str());
    std::printf("\n  anchor, rebooting the VM (host: start to ready line, 5 boots): %s ms (guest's own boot %s ms)\n",
                number(reboot).c_str(), number(guest_boot).c_str());
    std::printf("  a restart is %sx, a reload %sx faster than a reboot\n", ratio(reboot_us, restart.median_us).c_str(),
                ratio(reboot_us, reload.median_us).c_str());
    if (hypervisor.find("TCG") != std::string::npos)
        std::printf("\n  QEMU TCG emulates every instruction and each serial byte: these are not hardware figures, and the\n"
                    "  guest's TSC is calibrated against an emulated PIT (docs/fault-recovery.md)\n");
    return 0;
}
