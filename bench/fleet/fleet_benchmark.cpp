// fleet_benchmark.cpp: delos-bench-fleet. Real delosd processes (build/bin/delosd) running real
// Delos guests (build/guest/delos.elf + cells.a, shared by every guest) under the QEMU runner:
// TCG on this KVM-less machine (KVM where /dev/kvm exists, as delosd decides). Measured:
//   - guests started per second: a burst of CreateVm on one delosd, until every guest's channel
//     session is open (RUNNING), and the same burst of bare QEMU processes (no delosd) until each
//     guest's serial says it is ready, as the baseline in the same run;
//   - memory per idle guest: the QEMU processes' proportional set size (PSS, shared pages split)
//     and resident set size, after the guests settle;
//   - max guests at once: batches of 10 until --max-guests (100) run, stopping early when
//     MemAvailable falls under 2 GiB or a batch does not come up within 120 s;
//   - where a start's CPU goes: each guest's QEMU CPU time when it is up, and what `qemu -version`
//     alone costs (exec and dynamic linking): with one process per guest, cores / CPU per start is
//     the most guests per second this machine can start however they are scheduled;
//   - the snapshot-clone experiment (snapshot_clones.h): the same burst as clones of one booted
//     guest, attached to a delosd that pushes and loads a cell into each (they must work), their
//     start rate, CPU and PSS;
//   - a rollout of rollout_probe 2.0.0 (a 64 KiB object) to 9 guests (3 delosds x 3) under load;
//   - a rollout of rollout_probe 2.1.0 (faults when called) stopped at its canary: from the first
//     fault report stored by the canary's delosd to every swapped guest rolled back.
// Anchor (not measured here): Firecracker starts 5 microVMs per core per second with <= 5 MiB of
// overhead each. Targets: >= 50 guests/s, <= 16 MiB per idle guest, 100 guests, rollback <= 1 s.
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "background_process.h"
#include "cell_signature.h"
#include "child_process.h"
#include "controller_connection.h"
#include "delos/v1/controller.grpc.pb.h"
#include "snapshot_clones.h"

using namespace delos;
using namespace delos::test;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kBuild = DELOS_BUILD_DIR;

std::string read_file(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

template <typename Condition>
bool wait_until(Condition condition, std::chrono::seconds limit)
{
    auto deadline = Clock::now() + limit;
    while (!condition()) {
        if (Clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
}

// kB field of /proc/PID/FILE ("Pss:", "VmRSS:"), 0 if gone.
std::uint64_t proc_kib(int pid, const char* file, const char* field)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/" + file);
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(field, 0) == 0)
            return std::stoull(line.substr(std::strlen(field)));
    return 0;
}

std::uint64_t mem_available_mib()
{
    std::ifstream in("/proc/meminfo");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("MemAvailable:", 0) == 0)
            return std::stoull(line.substr(13)) / 1024;
    return 0;
}

// One delosd in its own directory, reached on its unix socket.
class Host {
public:
    Host(const std::string& dir, const std::string& name, const std::string& fleet_file)
        : m_dir(dir + "/" + name), m_name(name)
    {
        std::filesystem::create_directories(m_dir);
        std::vector<std::string> argv = {kBuild + "/bin/delosd", "--state-dir", m_dir + "/state", "--listen", "unix:" + socket(),
                                         "--allow-unsigned", "--no-libvirt", "--log-level", "warn"};
        if (!fleet_file.empty())
            argv.insert(argv.end(), {"--fleet", fleet_file, "--fleet-name", name});
        m_process = std::make_unique<BackgroundProcess>(argv);
        wait_until([&] { return std::filesystem::exists(socket()); }, std::chrono::seconds(20));
        m_stub = v1::Controller::NewStub(grpc::CreateChannel("unix:" + socket(), grpc::InsecureChannelCredentials()));
    }
    std::string socket() const { return m_dir + "/d.sock"; }
    v1::Controller::Stub& stub() { return *m_stub; }
    const std::string& dir() const { return m_dir; }

    grpc::Status create(const std::string& vm, std::uint32_t memory_mib)
    {
        v1::VmSpec spec;
        spec.set_runner(v1::RUNNER_QEMU);
        spec.set_kernel(kBuild + "/guest/delos.elf");
        spec.add_modules(kBuild + "/cells/cells.a");
        spec.set_cmdline("run");
        spec.set_memory_mib(memory_mib);
        return create_vm(vm, std::move(spec));
    }
    // A guest someone else started, reached on its channel socket.
    grpc::Status attach(const std::string& vm, const std::string& control_socket)
    {
        v1::VmSpec spec;
        spec.set_runner(v1::RUNNER_ATTACH);
        spec.set_control_socket(control_socket);
        return create_vm(vm, std::move(spec));
    }
    std::vector<v1::Vm> vms()
    {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
        v1::ListVmsResponse response;
        m_stub->ListVms(&context, v1::ListVmsRequest(), &response);
        return {response.vms().begin(), response.vms().end()};
    }
    int running()
    {
        int count = 0;
        for (const v1::Vm& vm : vms())
            count += vm.state() == v1::VM_STATE_RUNNING;
        return count;
    }
    void remove_all()
    {
        std::vector<std::thread> removers;
        for (const v1::Vm& vm : vms())
            removers.emplace_back([this, name = vm.spec().name()] {
                grpc::ClientContext context;
                context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
                v1::DeleteVmRequest request;
                request.set_name(name);
                v1::DeleteVmResponse response;
                m_stub->DeleteVm(&context, request, &response);
            });
        for (std::thread& remover : removers)
            remover.join();
    }
    grpc::Status push_load(const std::string& vm, const std::string& cell, const std::string& path)
    {
        std::string object = read_file(path);
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
        v1::PushCellResponse response;
        auto writer = m_stub->PushCell(&context, &response);
        v1::PushCellRequest part;
        auto* header = part.mutable_header();
        header->set_vm(vm);
        header->set_cell(cell);
        header->set_total_size(object.size());
        header->set_sha256(controller::sha256_of(object));
        header->set_action(v1::PUSH_ACTION_LOAD);
        writer->Write(part);
        part.set_chunk(object);
        writer->Write(part);
        writer->WritesDone();
        return writer->Finish();
    }

private:
    grpc::Status create_vm(const std::string& vm, v1::VmSpec spec)
    {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
        v1::CreateVmRequest request;
        *request.mutable_spec() = std::move(spec);
        request.mutable_spec()->set_name(vm);
        request.mutable_spec()->set_restart(v1::RESTART_NEVER);
        v1::Vm created;
        return m_stub->CreateVm(&context, request, &created);
    }

    std::string m_dir, m_name;
    std::unique_ptr<BackgroundProcess> m_process;
    std::unique_ptr<v1::Controller::Stub> m_stub;
};

struct Memory {
    double pss_mib = 0, rss_mib = 0;
};

Memory process_memory(const std::vector<int>& pids)
{
    Memory total;
    int counted = 0;
    for (int pid : pids) {
        if (pid <= 0)
            continue;
        total.pss_mib += static_cast<double>(proc_kib(pid, "smaps_rollup", "Pss:")) / 1024.0;
        total.rss_mib += static_cast<double>(proc_kib(pid, "status", "VmRSS:")) / 1024.0;
        ++counted;
    }
    if (counted) {
        total.pss_mib /= counted;
        total.rss_mib /= counted;
    }
    return total;
}

Memory guest_memory(Host& host)
{
    std::vector<int> pids;
    for (const v1::Vm& vm : host.vms())
        pids.push_back(vm.pid());
    return process_memory(pids);
}

// CPU seconds one `qemu-system-x86_64 -version` takes: exec, dynamic linking, QEMU's constructors.
double qemu_exec_cpu_s()
{
    constexpr int kRuns = 5;
    rusage before{}, after{};
    ::getrusage(RUSAGE_CHILDREN, &before);
    for (int i = 0; i < kRuns; ++i) {
        BackgroundProcess version({"qemu-system-x86_64", "-version"});
        version.wait_for_exit(std::chrono::seconds(30));
    }
    ::getrusage(RUSAGE_CHILDREN, &after);
    auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
    return (seconds(after.ru_utime) + seconds(after.ru_stime) - seconds(before.ru_utime) - seconds(before.ru_stime)) / kRuns;
}

struct CloneFigures {
    bench::CloneRun run;
    int working = 0;  // attached to delosd, a cell pushed and loaded
    Memory memory;             // idle, as the booted guests are measured
    Memory memory_after_push;  // idle again after the push (the cell's code translated, its pages written)
    std::string error;
};

// The snapshot-clone experiment: `count` clones at once, each attached to a delosd that pushes
// and loads hello into it, then their memory once idle.
CloneFigures snapshot_clone_figures(const std::string& dir, int count, std::uint32_t memory_mib)
{
    CloneFigures figures;
    figures.run = bench::start_snapshot_clones(dir + "/clones", count, memory_mib, kBuild + "/guest/delos.elf",
                                               kBuild + "/cells/cells.a");
    if (!figures.run.ok) {
        figures.error = figures.run.error;
    } else {
        Host host(dir, "cloned", "");
        for (int i = 0; i < count; ++i)
            host.attach("k" + std::to_string(i), figures.run.control_sockets[static_cast<std::size_t>(i)]);
        wait_until([&] { return host.running() == count; }, std::chrono::seconds(60));
        std::this_thread::sleep_for(std::chrono::seconds(3));  // idle
        figures.memory = process_memory(figures.run.pids);
        for (int i = 0; i < count; ++i) {
            grpc::Status pushed = host.push_load("k" + std::to_string(i), "hello", kBuild + "/cells/hello.o");
            if (pushed.ok())
                ++figures.working;
            else
                figures.error = "k" + std::to_string(i) + ": " + pushed.error_message();
        }
        std::this_thread::sleep_for(std::chrono::seconds(3));
        figures.memory_after_push = process_memory(figures.run.pids);
        host.remove_all();  // attached guests are only forgotten
    }
    for (int pid : figures.run.pids)
        if (pid > 0)
            ::kill(pid, SIGKILL);
    for (int pid : figures.run.pids)
        if (pid > 0)
            ::waitpid(pid, nullptr, 0);
    return figures;
}

// The baseline: the same guests as bare QEMU processes (the argv delosd uses, with a socket no one
// opens), until each serial log says the guest is ready.
double bare_qemu_guests_per_s(const std::string& dir, int count, std::uint32_t memory_mib, int* not_ready)
{
    std::vector<std::unique_ptr<BackgroundProcess>> guests;
    auto start = Clock::now();
    for (int i = 0; i < count; ++i) {
        std::string serial = dir + "/bare-" + std::to_string(i) + ".log";
        guests.push_back(std::make_unique<BackgroundProcess>(std::vector<std::string>{
            "qemu-system-x86_64", "-accel", std::filesystem::exists("/dev/kvm") ? "kvm" : "tcg", "-M", "microvm,acpi=off", "-m",
            std::to_string(memory_mib) + "M", "-nodefaults", "-no-user-config", "-nographic", "-no-reboot", "-kernel",
            kBuild + "/guest/delos.elf", "-append", "run", "-initrd", kBuild + "/cells/cells.a", "-serial", "file:" + serial,
            "-monitor", "none", "-global", "virtio-mmio.force-legacy=false", "-chardev",
            "socket,id=c,path=" + dir + "/bare-" + std::to_string(i) + ".sock,server=on,wait=off", "-device",
            "virtio-serial-device", "-device", "virtserialport,chardev=c,name=org.delos.control.0"}));
    }
    // The rate over the guests that got ready (one that panics or hangs is named, not waited for).
    int ready = 0;
    double last_ready = 0;
    std::vector<bool> seen(static_cast<std::size_t>(count), false);
    wait_until([&] {
        for (int i = 0; i < count; ++i)
            if (!seen[static_cast<std::size_t>(i)]
                && read_file(dir + "/bare-" + std::to_string(i) + ".log").find("delos: ready") != std::string::npos) {
                seen[static_cast<std::size_t>(i)] = true;
                ++ready;
                last_ready = seconds_since(start);
            }
        return ready == count;
    }, std::chrono::seconds(120));
    if (ready < count)
        std::fprintf(stderr, "delos-bench-fleet: %d of %d bare QEMU guests were not ready after 120 s\n", count - ready, count);
    *not_ready = count - ready;
    guests.clear();  // killed
    return ready > 0 ? ready / last_ready : -1;
}

struct RolloutFigures {
    double rollout_s = -1, rollback_s = -1, report_s = -1;
    std::string rollout_state, rollback_state;
    std::uint64_t object_bytes = 0;
};

v1::Rollout run_rollout(Host& coordinator, const std::string& object_path, std::uint32_t bake_ms, double* seconds)
{
    std::string object = read_file(object_path);
    v1::StartRolloutRequest request;
    v1::RolloutSpec* spec = request.mutable_spec();
    spec->set_cell("rollout_probe");
    spec->set_object(object);
    spec->set_sha256(controller::sha256_of(object));
    spec->set_canary(1);
    spec->set_bake_ms(bake_ms);
    auto start = Clock::now();
    v1::Rollout started;
    {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
        grpc::Status status = coordinator.stub().StartRollout(&context, request, &started);
        if (!status.ok()) {
            std::fprintf(stderr, "delos-bench-fleet: StartRollout: %s\n", status.error_message().c_str());
            return started;
        }
    }
    grpc::ClientContext context;
    v1::WatchRolloutRequest watch;
    watch.set_id(started.id());
    auto reader = coordinator.stub().WatchRollout(&context, watch);
    v1::Rollout latest;
    while (reader->Read(&latest)) {
    }
    reader->Finish();
    *seconds = seconds_since(start);
    return latest;
}

} // namespace

int main(int argc, char** argv)
{
    bool json = false;
    int max_guests = 100, burst = 10;
    std::uint32_t memory_mib = 32;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--json")
            json = true;
        else if (arg == "--max-guests" && i + 1 < argc)
            max_guests = std::max(1, std::atoi(argv[++i]));
        else if (arg == "--burst" && i + 1 < argc)
            burst = std::max(1, std::atoi(argv[++i]));
        else if (arg == "--memory" && i + 1 < argc)
            memory_mib = static_cast<std::uint32_t>(std::max(8, std::atoi(argv[++i])));
        else {
            std::fprintf(stderr, "usage: delos-bench-fleet [--json] [--max-guests N (100)] [--burst N (10)] [--memory MiB (32)]\n");
            return 2;
        }
    }
    if (!program_exists("qemu-system-x86_64")) {
        std::fprintf(stderr, "delos-bench-fleet: qemu-system-x86_64 is not installed (scripts/bootstrap)\n");
        return 1;
    }
    const std::string runner = std::filesystem::exists("/dev/kvm") ? "qemu-kvm" : "qemu-tcg";
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    char pattern[] = "/tmp/dfleet-XXXXXX";
    std::string dir = ::mkdtemp(pattern);
    auto progress = [&](const std::string& what) {
        if (!json)
            std::fprintf(stderr, "... %s\n", what.c_str());
    };

    // 1. Start rate and idle memory, one delosd.
    double guests_per_s = -1, bare_per_s = -1, cpu_s_per_start = -1;
    int bare_not_ready = 0;
    Memory idle, idle_at_max;  // with the first burst running, and with the most guests running
    int max_guests_running = 0;
    std::string max_stop = "reached the limit asked for";
    int guests_failed = 0;
    std::string failed_detail;
    {
        Host host(dir, "solo", "");
        progress("starting " + std::to_string(burst) + " guests at once through delosd");
        auto start = Clock::now();
        std::vector<std::thread> creators;
        for (int i = 0; i < burst; ++i)
            creators.emplace_back([&, i] { host.create("s" + std::to_string(i), memory_mib); });
        for (std::thread& creator : creators)
            creator.join();
        // The rate over the guests that came up (one that never does is counted in guests_failed).
        int up = 0;
        double last_up = 0;
        wait_until([&] {
            int now = host.running();
            if (now > up) {
                up = now;
                last_up = seconds_since(start);
            }
            return up == burst;
        }, std::chrono::seconds(180));
        if (up > 0)
            guests_per_s = up / last_up;
        {
            double total = 0;
            int counted = 0;
            for (const v1::Vm& vm : host.vms())
                if (vm.pid() > 0 && vm.state() == v1::VM_STATE_RUNNING)
                    if (double cpu = bench::process_cpu_s(vm.pid()); cpu >= 0)
                        total += cpu, ++counted;
            cpu_s_per_start = counted ? total / counted : -1;
        }
        std::this_thread::sleep_for(std::chrono::seconds(3));  // idle: boot work done
        idle = guest_memory(host);

        progress("scaling up to " + std::to_string(max_guests) + " guests in batches of 10");
        int created = burst;
        max_guests_running = host.running();
        while (created < max_guests) {
            if (mem_available_mib() < 2048) {
                max_stop = "memory pressure (MemAvailable < 2 GiB)";
                break;
            }
            int batch = std::min(10, max_guests - created);
            std::vector<std::thread> more;
            for (int i = 0; i < batch; ++i)
                more.emplace_back([&, i] { host.create("s" + std::to_string(created + i), memory_mib); });
            for (std::thread& creator : more)
                creator.join();
            created += batch;
            int before = max_guests_running;
            // Settled: every guest is running or has ended (a guest that exits is counted, not waited for).
            bool settled = wait_until([&] {
                int done = 0;
                for (const v1::Vm& vm : host.vms())
                    done += vm.state() == v1::VM_STATE_RUNNING || vm.state() == v1::VM_STATE_EXITED;
                return done >= created;
            }, std::chrono::seconds(120));
            max_guests_running = std::max(max_guests_running, host.running());
            progress(std::to_string(max_guests_running) + " guests running, MemAvailable " + std::to_string(mem_available_mib()) + " MiB");
            if (max_guests_running <= before) {
                max_stop = settled ? "a batch of guests all exited" : "a batch did not come up within 120 s";
                break;
            }
        }
        std::this_thread::sleep_for(std::chrono::seconds(3));
        idle_at_max = guest_memory(host);
        for (const v1::Vm& vm : host.vms())
            if (vm.state() != v1::VM_STATE_RUNNING)
                ++guests_failed, failed_detail = vm.spec().name() + ": " + v1::VmState_Name(vm.state()) + " " + vm.last_exit().substr(0, 200);
        host.remove_all();
    }
    progress("baseline: " + std::to_string(burst) + " bare QEMU processes at once");
    bare_per_s = bare_qemu_guests_per_s(dir, burst, memory_mib, &bare_not_ready);
    progress("where a start's CPU goes: qemu -version alone");
    const double exec_cpu_s = qemu_exec_cpu_s();
    progress("experiment: " + std::to_string(burst) + " clones of one booted guest (snapshot), attached to a delosd");
    CloneFigures clones = snapshot_clone_figures(dir, burst, memory_mib);
    if (!clones.error.empty())
        std::fprintf(stderr, "delos-bench-fleet: snapshot clones: %s\n", clones.error.c_str());

    // 2. Rollouts over three delosds x three guests.
    RolloutFigures figures;
    {
        std::string fleet_file = dir + "/fleet.json";
        std::string hosts;
        for (const char* name : {"a", "b", "c"})
            hosts += std::string(hosts.empty() ? "" : ",") + "{\"name\":\"" + name + "\",\"address\":\"unix:" + dir + "/" + name + "/d.sock\"}";
        std::ofstream(fleet_file) << "{\"hosts\":[" << hosts << "],\"coordinator\":\"a\"}\n";
        std::vector<std::unique_ptr<Host>> fleet;
        for (const char* name : {"a", "b", "c"})
            fleet.push_back(std::make_unique<Host>(dir, name, fleet_file));
        progress("3 delosds x 3 guests, rollout_probe 1.0.0 under load in each");
        for (auto& host : fleet)
            for (int g = 1; g <= 3; ++g)
                host->create("g" + std::to_string(g), memory_mib);
        for (auto& host : fleet)
            wait_until([&] { return host->running() == 3; }, std::chrono::seconds(180));
        for (auto& host : fleet)
            for (int g = 1; g <= 3; ++g) {
                host->push_load("g" + std::to_string(g), "rollout_probe", kBuild + "/cells/rollout_probe.o");
                host->push_load("g" + std::to_string(g), "rollout_load", kBuild + "/cells/rollout_load.o");
            }
        figures.object_bytes = std::filesystem::file_size(kBuild + "/cells/rollout_probe.v2.o");
        progress("rollout of rollout_probe 2.0.0 to 9 guests (canary 1, then the rest, no bake)");
        v1::Rollout good = run_rollout(*fleet[0], kBuild + "/cells/rollout_probe.v2.o", 0, &figures.rollout_s);
        figures.rollout_state = v1::RolloutState_Name(good.state());
        progress("rollout of rollout_probe 2.1.0 (faults under load), canary 1, bake 30 s");
        double bad_seconds = 0;
        v1::Rollout bad = run_rollout(*fleet[0], kBuild + "/cells/rollout_probe.bad.o", 30000, &bad_seconds);
        figures.rollback_state = v1::RolloutState_Name(bad.state());
        if (bad.state() == v1::ROLLOUT_STATE_ROLLED_BACK && bad.first_fault_unix_ms() > 0) {
            figures.rollback_s = static_cast<double>(bad.rolled_back_unix_ms() - bad.first_fault_unix_ms()) / 1000.0;
            if (!bad.targets().empty() && bad.targets(0).swapped_unix_ms() > 0)
                figures.report_s = static_cast<double>(bad.first_fault_unix_ms() - bad.targets(0).swapped_unix_ms()) / 1000.0;
        }
        for (auto& host : fleet)
            host->remove_all();
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);

    const double anchor_per_s = 5.0 * cores;  // Firecracker: 5 microVMs per core per second
    const double anchor_mib = 5.0;
    if (json) {
        std::printf("{\"runner\":\"%s\",\"cores\":%u,\"guest_memory_mib\":%u,\"guests_per_s\":%.2f,\"baseline_bare_qemu_guests_per_s\":%.2f,\"baseline_bare_qemu_not_ready\":%d,"
                    "\"anchor_firecracker_guests_per_s\":%.1f,\"mib_per_idle_guest\":%.1f,\"rss_mib_per_idle_guest\":%.1f,"
                    "\"mib_per_idle_guest_at_burst\":%.1f,\"anchor_firecracker_mib_per_guest\":%.1f,\"max_guests\":%d,\"max_guests_asked\":%d,\"max_guests_stop\":\"%s\",\"guests_failed\":%d,"
                    "\"rollout_s\":%.3f,\"rollout_object_bytes\":%llu,\"rollout_state\":\"%s\",\"rollback_s\":%.3f,"
                    "\"fault_report_s\":%.3f,\"rollback_state\":\"%s\",\"cpu_s_per_start\":%.3f,\"qemu_exec_cpu_s\":%.3f,"
                    "\"start_ceiling_per_s\":%.1f,\"clone_guests_per_s\":%.2f,\"clone_cpu_s\":%.3f,\"clone_mib_per_idle_guest\":%.1f,"
                    "\"clone_rss_mib_per_idle_guest\":%.1f,\"clone_mib_after_push\":%.1f,\"clones_working\":%d,\"clones\":%d,\"clone_template_s\":%.2f}\n",
                    runner.c_str(), cores, memory_mib, guests_per_s, bare_per_s, bare_not_ready, anchor_per_s, idle_at_max.pss_mib, idle_at_max.rss_mib, idle.pss_mib, anchor_mib,
                    max_guests_running, max_guests, max_stop.c_str(), guests_failed, figures.rollout_s,
                    static_cast<unsigned long long>(figures.object_bytes), figures.rollout_state.c_str(), figures.rollback_s,
                    figures.report_s, figures.rollback_state.c_str(), cpu_s_per_start, exec_cpu_s,
                    cpu_s_per_start > 0 ? cores / cpu_s_per_start : -1.0, clones.run.clones_per_s, clones.run.cpu_s_per_clone,
                    clones.memory.pss_mib, clones.memory.rss_mib, clones.memory_after_push.pss_mib, clones.working, burst, clones.run.template_s);
        return 0;
    }
    std::printf("delos-bench-fleet: runner %s (QEMU -M microvm, %u MiB guests), %u cores\n\n", runner.c_str(), memory_mib, cores);
    std::printf("%-44s %12s %14s %12s\n", "figure", "measured", "anchor/base", "target");
    std::printf("%-44s %12.2f %14s %12s\n", "guests started per second (through delosd)", guests_per_s,
                ("fc " + std::to_string(static_cast<int>(anchor_per_s))).c_str(), ">= 50");
    std::printf("%-44s %12.2f %14s %12s\n", "  baseline: bare QEMU processes per second", bare_per_s, "", "");
    std::printf("%-44s %12.3f\n", "  CPU s per start (its QEMU, when up)", cpu_s_per_start);
    std::printf("%-44s %12.3f\n", "    of which qemu -version alone", exec_cpu_s);
    std::printf("%-44s %12.1f %14s %12s\n", "  ceiling: cores / CPU per start, per s", cpu_s_per_start > 0 ? cores / cpu_s_per_start : -1.0, "", ">= 50");
    std::printf("%-44s %12.1f %14s %12s\n", "MiB per idle guest (PSS of its QEMU, max run)", idle_at_max.pss_mib, "fc <= 5", "<= 16");
    std::printf("%-44s %12.1f %14s %12s\n", "  RSS of its QEMU, MiB", idle_at_max.rss_mib, "", "");
    std::printf("%-44s %12.1f %14s %12s\n", "  PSS with only the first burst running", idle.pss_mib, "", "");
    std::printf("%-44s %12.2f %14s\n", "experiment: snapshot clones started per s", clones.run.clones_per_s, "(not adopted)");
    std::printf("%-44s %12.3f\n", "  CPU s per clone (exec to running)", clones.run.cpu_s_per_clone);
    std::printf("%-44s %12.1f %14s %12s\n", "  MiB per idle clone (PSS)", clones.memory.pss_mib, "", "<= 16");
    std::printf("%-44s %9d/%-2d\n", "  clones that took a pushed cell", clones.working, burst);
    std::printf("%-44s %12.1f\n", "  MiB per clone after that push (PSS)", clones.memory_after_push.pss_mib);
    std::printf("%-44s %12.2f\n", "  template: boot, pause, save, s", clones.run.template_s);
    std::printf("%-44s %12d %14s %12s\n", "max guests running at once", max_guests_running, "", "100");
    std::printf("%-44s %12s\n", "  stopped because", max_stop.c_str());
    std::printf("%-44s %12d %s\n", "  guests that did not run (all attempts)", guests_failed, failed_detail.c_str());
    std::printf("%-44s %12.3f %14s %12s\n", ("rollout of a " + std::to_string(figures.object_bytes / 1024) + " KiB cell to 9 guests, s").c_str(),
                figures.rollout_s, "", "");
    std::printf("%-44s %12s\n", "  ended", figures.rollout_state.c_str());
    std::printf("%-44s %12.3f %14s %12s\n", "canary's first fault -> all rolled back, s", figures.rollback_s, "", "<= 1");
    std::printf("%-44s %12.3f\n", "  canary swapped -> first fault report stored, s", figures.report_s);
    std::printf("%-44s %12s\n", "  ended", figures.rollback_state.c_str());
    std::printf("\nguests/s: %.2fx the anchor (Firecracker, 5 per core per s), %.2fx bare QEMU; MiB: %.1fx the anchor\n",
                guests_per_s / anchor_per_s, bare_per_s > 0 ? guests_per_s / bare_per_s : 0.0, idle_at_max.pss_mib / anchor_mib);
    std::printf("to start 50 guests/s on %u cores a start may take %.3f s of CPU in all; qemu -version alone takes %.3f s\n"
                "(exec and linking, before any guest work): the target needs KVM and a lighter VMM (delos-vmm), see docs/fleet.md\n",
                cores, cores / 50.0, exec_cpu_s);
    return 0;
}
