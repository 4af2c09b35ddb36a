// channel_benchmark.cpp: delos-bench-channel measures the control channel end to end: a
// controller on delos-vmm's control socket (and on QEMU microvm's chardev socket, and on a libvirt
// q35 domain's channel socket) pushes build/cells/bulk.o (1 MiB, verified by
// SHA-256 and parsed as a cell by the guest's agent) and times no-op pings. The baseline is the
// same client against the fake guest agent in this process (same protocol, same freestanding
// codec, a unix socket, no VM), so the ratio is what the VM path adds.
#include <signal.h>
#include <unistd.h>

#include <thread>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "background_process.h"
#include "cell_push.h"
#include "channel_client.h"
#include "child_process.h"
#include "fake_guest.h"

using namespace delos;
using namespace delos::test;

namespace {

struct Figures {
    double push_mib_per_s = -1;
    double rtt_us_median = -1;
    double rtt_us_p99 = -1;
    double rtt_idle_us_median = -1;  // a ping after the guest has stopped polling (its interrupt path)
    double exits_per_ping = -1;  // delos-vmm only: userspace exits + virtio notifications (ioeventfd exits)
    double exits_per_mib = -1;
    double interrupts_per_ping = -1;
    double interrupts_per_mib = -1;
};

// Exit counters of a running delos-vmm, read by SIGUSR1 (it prints a "stats:" line to stderr).
struct ExitSnapshot {
    double exits = -1;          // KVM_RUN returns to userspace (mmio, io, intr)
    double notifications = -1;  // QueueNotify writes, most of them ioeventfd exits that never reach userspace
    double interrupts = -1;
    double total() const { return exits + notifications; }
};

double number_after(const std::string& text, const std::string& key)
{
    auto at = text.rfind(key);
    return at == std::string::npos ? -1 : std::atof(text.c_str() + at + key.size());
}

ExitSnapshot snapshot_exits(BackgroundProcess& vm)
{
    int before = count_occurrences(vm.err(), "delos-vmm: stats:");
    ::kill(vm.pid(), SIGUSR1);
    for (int i = 0; i < 200 && count_occurrences(vm.err(), "delos-vmm: stats:") == before; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::string err = vm.err();
    auto line = err.rfind("delos-vmm: stats:");
    if (line == std::string::npos || count_occurrences(err, "delos-vmm: stats:") == before)
        return {};
    std::string text = err.substr(line, err.find('\n', line) - line);
    return {number_after(text, "exits "), number_after(text, "virtio-notifications="),
            number_after(text, "virtio-interrupts=")};
}

double percentile(std::vector<double> values, double fraction)
{
    if (values.empty())
        return -1;
    std::sort(values.begin(), values.end());
    return values[std::min(values.size() - 1, static_cast<std::size_t>(fraction * values.size()))];
}

std::string json_number(double value) { return value < 0 ? "null" : std::to_string(value); }

// Pings then pushes on one connection; progress of long pushes goes to stderr.
Figures measure(const std::string& socket, const std::string& object, int pings, int pushes, const char* label,
                BackgroundProcess* vm = nullptr)
{
    chan::ChannelClient client(socket, std::chrono::minutes(10));
    client.hello("delos-bench-channel");
    Figures figures;
    ExitSnapshot at_start = vm ? snapshot_exits(*vm) : ExitSnapshot{};
    std::vector<double> round_trips;
    for (int i = 0; i < pings; ++i) {
        v1::HostMessage ping;
        ping.mutable_ping();
        auto start = std::chrono::steady_clock::now();
        client.call(std::move(ping));
        round_trips.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
    }
    figures.rtt_us_median = percentile(round_trips, 0.5);
    figures.rtt_us_p99 = percentile(round_trips, 0.99);
    // The same after a pause longer than the guest agent's busy-poll window (500 us): the request
    // then finds the guest asleep and must come through the device interrupt.
    std::vector<double> idle_round_trips;
    for (int i = 0; i < std::min(pings, 50); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(3));
        v1::HostMessage ping;
        ping.mutable_ping();
        auto start = std::chrono::steady_clock::now();
        client.call(std::move(ping));
        idle_round_trips.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
    }
    figures.rtt_idle_us_median = percentile(idle_round_trips, 0.5);
    ExitSnapshot after_pings = vm ? snapshot_exits(*vm) : ExitSnapshot{};
    if (at_start.exits >= 0 && after_pings.exits >= 0) {
        double all_pings = pings + static_cast<double>(idle_round_trips.size());
        figures.exits_per_ping = (after_pings.total() - at_start.total()) / all_pings;
        figures.interrupts_per_ping = (after_pings.interrupts - at_start.interrupts) / all_pings;
    }

    std::vector<double> rates;
    for (int i = 0; i < pushes; ++i) {
        chan::PushSettings settings;
        settings.progress = [&](std::uint64_t done, std::uint64_t total) {
            std::fprintf(stderr, "\r%s: push %d of %d: %3llu%%", label, i + 1, pushes,
                         static_cast<unsigned long long>(done * 100 / total));
        };
        chan::PushResult pushed = chan::push_cell(client, "bulk", object, settings);
        std::fprintf(stderr, "\n");
        if (pushed.committed.cell().object_bytes() != object.size())
            throw std::runtime_error(std::string(label) + ": the guest staged a cell of the wrong size");
        rates.push_back(object.size() / (1024.0 * 1024.0) / std::max(pushed.seconds, 1e-9));
    }
    figures.push_mib_per_s = percentile(rates, 0.5);
    ExitSnapshot after_pushes = vm ? snapshot_exits(*vm) : ExitSnapshot{};
    if (after_pings.exits >= 0 && after_pushes.exits >= 0) {
        double mib = pushes * (object.size() / (1024.0 * 1024.0));
        figures.exits_per_mib = (after_pushes.total() - after_pings.total()) / mib;
        figures.interrupts_per_mib = (after_pushes.interrupts - after_pings.interrupts) / mib;
    }
    return figures;
}

std::string read_file(const std::string& path)
{
    std::ifstream file(path, std::ios::binary);
    if (!file)
        throw std::runtime_error("cannot read " + path + " (build the cells first)");
    return std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
}

// The guest every VM column boots: build/guest/delos.elf, or DELOS_BENCH_KERNEL (e.g. an older
// build's, to compare guest changes on the same machine at the same time).
std::string guest_kernel(const std::string& build)
{
    const char* other = std::getenv("DELOS_BENCH_KERNEL");
    return other && *other ? other : build + "/guest/delos.elf";
}

double ratio(double delos, double baseline) { return delos > 0 && baseline > 0 ? delos / baseline : -1; }

// QEMU microvm with the control channel on a chardev unix socket (docs/qemu-and-libvirt.md).
std::vector<std::string> qemu_microvm_command(const std::string& build, const std::string& socket, const char* accel)
{
    return {"qemu-system-x86_64", "-accel", accel, "-M", "microvm,acpi=off", "-m", "256M", "-nodefaults",
            "-no-user-config", "-nographic", "-no-reboot", "-kernel", guest_kernel(build), "-initrd",
            build + "/cells/cells.a", "-append", "run", "-serial", "stdio", "-monitor", "none", "-global",
            "virtio-mmio.force-legacy=false", "-device", "virtio-serial-device", "-device",
            "virtserialport,name=org.delos.control.0,chardev=control", "-chardev",
            "socket,id=control,path=" + socket + ",server=on,wait=off"};
}

// Boots `command`, measures its guest; false (with the reason on stderr) if it never served.
bool measure_vm(const std::vector<std::string>& command, const std::string& socket, const std::string& object, int pings,
                int pushes, const char* label, bool count_exits, Figures& out)
{
    ::unlink(socket.c_str());
    BackgroundProcess vm(command);
    if (!vm.wait_for_output("control: serving the channel", std::chrono::seconds(300))) {
        std::fprintf(stderr, "delos-bench-channel: %s: the guest did not start its control agent:\n%s", label,
                     vm.output().c_str());
        return false;
    }
    out = measure(socket, object, pings, pushes, label, count_exits ? &vm : nullptr);
    if (count_exits && std::getenv("DELOS_BENCH_SHOW_STATS")) {
        std::string err = vm.err();
        for (auto at = err.find("delos-vmm: stats:"); at != std::string::npos; at = err.find("delos-vmm: stats:", at + 1))
            std::fprintf(stderr, "%s\n", err.substr(at, err.find('\n', at) - at).c_str());
    }
    ::unlink(socket.c_str());
    return true;
}

constexpr const char* kLibvirtUri = "qemu:///system";

bool libvirt_answers()
{
    return run_child({"virsh", "-q", "-c", kLibvirtUri, "version"}, {std::chrono::seconds(20), ""}).exit_code == 0;
}

// Empty when libvirt answers (already running, or started here as the libvirt tests do: no
// systemd on this machine; the daemons stay up afterwards); else why the column is skipped.
std::string ensure_libvirt_running()
{
    for (const char* program : {"virsh", "libvirtd", "virtlogd"}) {
        if (!program_exists(program))
            return std::string(program) + " is not installed (libvirt-daemon-system, libvirt-clients)";
    }
    if (libvirt_answers())
        return {};
    if (::geteuid() != 0)
        return "libvirtd is not running and starting the system daemon needs root";
    for (const char* daemon : {"virtlogd", "libvirtd"}) {
        auto started = run_child({daemon, "-d"}, {std::chrono::seconds(30), ""});
        std::fprintf(stderr, "delos-bench-channel: started %s -d (exit %d)\n", daemon, started.exit_code);
    }
    for (int attempt = 0; attempt < 100; ++attempt) {
        if (libvirt_answers())
            return {};
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return "libvirtd does not answer on qemu:///system after 'virtlogd -d; libvirtd -d'";
}

// A q35 domain (virtio-serial-pci behind a PCIe root port) from deploy/delos-q35.xml, started by
// deploy/delos-libvirt, measured through libvirt's channel socket, then destroyed and undefined.
bool measure_libvirt(const std::string& build, const std::string& stem, const char* domain_type, const std::string& object,
                     int pings, int pushes, Figures& out)
{
    std::string domain = "delos-bench-channel-" + std::to_string(::getpid());
    std::string socket = stem + "-libvirt.sock", serial_log = stem + "-libvirt.serial.log";
    auto virsh = [&](const char* command) {
        run_child({"virsh", "-q", "-c", kLibvirtUri, command, domain}, {std::chrono::seconds(60), ""});
    };
    virsh("destroy");
    virsh("undefine");
    ::unlink(socket.c_str());
    auto started = run_child({std::string(DELOS_SOURCE_DIR) + "/deploy/delos-libvirt", "--machine", "q35", "--type", domain_type,
                              "--kernel", guest_kernel(build), "--cells", build + "/cells/cells.a", "--socket", socket,
                              "--serial-log", serial_log, "--uri", kLibvirtUri, "--wait", "300", domain},
                             {std::chrono::seconds(360), ""});
    bool ok = started.exit_code == 0;
    if (!ok) {
        std::fprintf(stderr, "delos-bench-channel: libvirt q35 domain did not serve its channel:\n%s%s", started.out.c_str(),
                     started.err.c_str());
    } else {
        try {
            out = measure(socket, object, pings, pushes, "libvirt q35 guest");
        } catch (const std::exception& error) {
            std::fprintf(stderr, "delos-bench-channel: libvirt q35: %s\n", error.what());
            ok = false;
        }
    }
    virsh("destroy");
    virsh("undefine");
    ::unlink(socket.c_str());
    ::unlink(serial_log.c_str());
    return ok;
}

std::string cell(double value, const char* format)
{
    if (value < 0)
        return "-";
    char text[32];
    std::snprintf(text, sizeof text, format, value);
    return text;
}

} // namespace

int main(int argc, char** argv)
{
    bool json = false, libvirt = true;
    int pings = 200, pushes = 1;
    for (int i = 1; i < argc; ++i) {
        std::string argument = argv[i];
        if (argument == "--json")
            json = true;
        else if (argument == "--pings" && i + 1 < argc)
            pings = std::max(1, std::atoi(argv[++i]));
        else if (argument == "--pushes" && i + 1 < argc)
            pushes = std::max(1, std::atoi(argv[++i]));
        else if (argument == "--no-libvirt")
            libvirt = false;
        else {
            std::fprintf(stderr, "usage: delos-bench-channel [--pings N] [--pushes N] [--no-libvirt] [--json]\n");
            return 2;
        }
    }
    // delos-vmm needs KVM; QEMU runs with KVM where it can and under TCG (emulation) elsewhere.
    bool have_kvm = kvm_available();
    bool have_qemu = program_exists("qemu-system-x86_64");
    const char* qemu_accel = have_kvm ? "kvm" : "tcg";
    if (!have_kvm)
        std::fprintf(stderr, "delos-bench-channel: /dev/kvm is not available: the delos-vmm column is skipped\n");
    if (!have_qemu)
        std::fprintf(stderr, "delos-bench-channel: qemu-system-x86_64 is not installed: the QEMU column is skipped\n");
    std::string libvirt_skipped;
    if (!libvirt)
        libvirt_skipped = "--no-libvirt";
    else if (!have_qemu)
        libvirt_skipped = "qemu-system-x86_64 is not installed";
    else
        libvirt_skipped = ensure_libvirt_running();
    if (!libvirt_skipped.empty())
        std::fprintf(stderr, "delos-bench-channel: the libvirt q35 column is skipped: %s\n", libvirt_skipped.c_str());
    std::string build = DELOS_BUILD_DIR;
    Figures vmm, qemu, host, libvirt_q35;
    bool vmm_ran = false, qemu_ran = false, libvirt_ran = false;
    std::size_t object_bytes = 0;
    try {
        std::string object = read_file(build + "/cells/bulk.o");
        object_bytes = object.size();
        std::string stem = "/tmp/delos-bench-channel-" + std::to_string(::getpid());

        {
            chan::FakeGuest fake(stem + "-fake.sock");
            host = measure(fake.socket_path(), object, pings, pushes, "fake guest");
        }
        if (have_kvm) {
            vmm_ran = measure_vm({build + "/bin/delos-vmm", "--module", build + "/cells/cells.a", "--control-socket",
                                  stem + ".sock", guest_kernel(build)},
                                 stem + ".sock", object, pings, pushes, "delos-vmm guest", true, vmm);
            if (!vmm_ran)
                return 1;
        }
        if (have_qemu) {
            qemu_ran = measure_vm(qemu_microvm_command(build, stem + "-qemu.sock", qemu_accel), stem + "-qemu.sock",
                                  object, pings, pushes, "QEMU microvm guest", false, qemu);
            if (!qemu_ran)
                return 1;
        }
        if (libvirt_skipped.empty()) {
            libvirt_ran = measure_libvirt(build, stem, have_kvm ? "kvm" : "qemu", object, pings, pushes, libvirt_q35);
            if (!libvirt_ran)
                return 1;
        }
    } catch (const std::exception& error) {
        std::fprintf(stderr, "delos-bench-channel: %s\n", error.what());
        return 1;
    }

    if (json) {
        std::printf("{\"object_bytes\": %zu, \"push_mib_per_s\": %s, \"rtt_us_median\": %s, \"rtt_us_p99\": %s, "
                    "\"host_push_mib_per_s\": %s, \"host_rtt_us_median\": %s, \"host_rtt_us_p99\": %s, \"rtt_idle_us_median\": %s, \"host_rtt_idle_us_median\": %s, "
                    "\"exits_per_ping\": %s, \"exits_per_mib\": %s, \"interrupts_per_ping\": %s, \"interrupts_per_mib\": %s, "
                    "\"qemu_microvm_accel\": %s, \"qemu_microvm_push_mib_per_s\": %s, \"qemu_microvm_rtt_us_median\": %s, "
                    "\"qemu_microvm_rtt_us_p99\": %s, \"qemu_microvm_rtt_idle_us_median\": %s, \"libvirt_q35_domain_type\": %s, \"libvirt_q35_push_mib_per_s\": %s, "
                    "\"libvirt_q35_rtt_us_median\": %s, \"libvirt_q35_rtt_us_p99\": %s, \"libvirt_q35_rtt_idle_us_median\": %s}\n",
                    object_bytes, json_number(vmm.push_mib_per_s).c_str(), json_number(vmm.rtt_us_median).c_str(),
                    json_number(vmm.rtt_us_p99).c_str(), json_number(host.push_mib_per_s).c_str(),
                    json_number(host.rtt_us_median).c_str(), json_number(host.rtt_us_p99).c_str(),
                    json_number(vmm.rtt_idle_us_median).c_str(), json_number(host.rtt_idle_us_median).c_str(),
                    json_number(vmm.exits_per_ping).c_str(), json_number(vmm.exits_per_mib).c_str(),
                    json_number(vmm.interrupts_per_ping).c_str(), json_number(vmm.interrupts_per_mib).c_str(),
                    qemu_ran ? (std::string("\"") + qemu_accel + "\"").c_str() : "null",
                    json_number(qemu.push_mib_per_s).c_str(), json_number(qemu.rtt_us_median).c_str(),
                    json_number(qemu.rtt_us_p99).c_str(), json_number(qemu.rtt_idle_us_median).c_str(), libvirt_ran ? (have_kvm ? "\"kvm\"" : "\"qemu\"") : "null",
                    json_number(libvirt_q35.push_mib_per_s).c_str(), json_number(libvirt_q35.rtt_us_median).c_str(),
                    json_number(libvirt_q35.rtt_us_p99).c_str(), json_number(libvirt_q35.rtt_idle_us_median).c_str());
        return 0;
    }
    std::printf("Control channel: push of bulk.o (%.2f MiB) and no-op round trips (%d pings, %d push%s)\n\n",
                object_bytes / (1024.0 * 1024.0), pings, pushes, pushes == 1 ? "" : "es");
    std::string qemu_header = std::string("QEMU microvm (") + qemu_accel + ")";
    std::string libvirt_header = std::string("libvirt q35 (") + (have_kvm ? "kvm" : "qemu") + ")";
    std::printf("%-26s %16s %10s %20s %10s %20s %10s %22s\n", "", "delos-vmm guest", "ratio", qemu_header.c_str(), "ratio",
                libvirt_header.c_str(), "ratio", "fake agent (baseline)");
    struct Row {
        const char* name;
        double Figures::*field;
        const char* format;
        const char* ratio_format;
    };
    for (const Row& row : {Row{"push, MiB/s (median)", &Figures::push_mib_per_s, "%.2f", "%.3fx"},
                           Row{"round trip, us (median)", &Figures::rtt_us_median, "%.1f", "%.1fx"},
                           Row{"round trip, us (p99)", &Figures::rtt_us_p99, "%.1f", "%.1fx"},
                           Row{"after 3 ms idle, us (med)", &Figures::rtt_idle_us_median, "%.1f", "%.1fx"}}) {
        std::printf("%-26s %16s %10s %20s %10s %20s %10s %22s\n", row.name, cell(vmm.*row.field, row.format).c_str(),
                    cell(ratio(vmm.*row.field, host.*row.field), row.ratio_format).c_str(),
                    cell(qemu.*row.field, row.format).c_str(),
                    cell(ratio(qemu.*row.field, host.*row.field), row.ratio_format).c_str(),
                    cell(libvirt_q35.*row.field, row.format).c_str(),
                    cell(ratio(libvirt_q35.*row.field, host.*row.field), row.ratio_format).c_str(),
                    cell(host.*row.field, row.format).c_str());
    }
    std::printf("\nratio: to the fake agent in this process (same protocol and codec, no VM); '-': not run%s\n",
                have_kvm ? "" : " (delos-vmm needs /dev/kvm)");
    if (qemu_ran && !have_kvm)
        std::printf("QEMU runs under TCG here (no /dev/kvm): its figures measure CPU emulation, not virtualisation\n");
    if (!libvirt_skipped.empty())
        std::printf("libvirt q35 column skipped: %s\n", libvirt_skipped.c_str());
    if (vmm_ran && libvirt_ran)
        std::printf("libvirt q35 / delos-vmm: round trip %.1fx, push %.2fx\n",
                    ratio(libvirt_q35.rtt_us_median, vmm.rtt_us_median), ratio(libvirt_q35.push_mib_per_s, vmm.push_mib_per_s));
    if (vmm_ran && qemu_ran)
        std::printf("QEMU microvm / delos-vmm: round trip %.1fx, push %.2fx\n", ratio(qemu.rtt_us_median, vmm.rtt_us_median),
                    ratio(qemu.push_mib_per_s, vmm.push_mib_per_s));
    if (vmm_ran) {
        std::printf("VM exits (delos-vmm: userspace exits + virtio notifications): %.1f per ping, %.0f per MiB pushed\n",
                    vmm.exits_per_ping, vmm.exits_per_mib);
        std::printf("device interrupts: %.1f per ping, %.0f per MiB pushed\n", vmm.interrupts_per_ping,
                    vmm.interrupts_per_mib);
    }
    return 0;
}
