// fleet_benchmark.cpp: delos-bench-fleet. Real delosd processes (build/bin/delosd) running real
// Delos guests (build/guest/delos.elf + cells.a, shared by every guest) under QEMU: TCG on this
// KVM-less machine (KVM where /dev/kvm exists, as delosd decides). Both of delosd's QEMU runners
// are measured the same way, each on its own delosd: `qemu` (every guest boots) and `clone`
// (every guest is restored from a template guest delosd booted once; docs/fleet.md):
//   - guests started per second: a burst of CreateVm, until every guest's channel session is
//     open (RUNNING); for clones after a first clone VM built the template (reported apart);
//     bare QEMU processes booting (no delosd) as the baseline in the same run;
//   - memory per idle guest: the QEMU processes' proportional set size (PSS, shared pages split,
//     so a clone's share of the template's page cache is in it) and RSS, after the guests settle;
//     for clones also the template RAM file's page cache, which no PSS holds in full;
//   - max guests at once: batches of 10 until --max-guests (100) run, stopping early when
//     MemAvailable falls under 2 GiB or a batch does not come up within 120 s;
//   - where a start's CPU goes: each guest's QEMU CPU time when it is up, what `qemu -version`
//     alone costs (exec and dynamic linking), and for a clone the CPU at each step of its start
//     (QEMU up, restored, channel open): cores / CPU per start is the most guests per second
//     this machine can start however they are scheduled;
//   - a rollout of rollout_probe 2.0.0 (a 64 KiB object) to 9 guests (3 delosds x 3) under load;
//   - a rollout of rollout_probe 2.1.0 (faults when called) stopped at its canary: from the first
//     fault report stored by the canary's delosd to every swapped guest rolled back.
// Anchor (not measured here): Firecracker starts 5 microVMs per core per second with <= 5 MiB of
// overhead each. Targets: >= 50 guests/s, <= 16 MiB per idle guest, 100 guests, rollback <= 1 s.
#include <grpcpp/grpcpp.h>
#include <fcntl.h>
#include <sys/mman.h>
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
#include "clone_templates.h"
#include "qmp_client.h"
#include "runner_process.h"
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

    grpc::Status create(const std::string& vm, std::uint32_t memory_mib, v1::Runner runner = v1::RUNNER_QEMU)
    {
        v1::VmSpec spec;
        spec.set_runner(runner);
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

// MiB of `path` resident in the page cache (mincore over a mapping of it).
double resident_mib(const std::string& path)
{
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat info{};
    double mib = 0;
    if (::fstat(fd, &info) == 0 && info.st_size > 0) {
        std::size_t size = static_cast<std::size_t>(info.st_size);
        void* mapped = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
        if (mapped != MAP_FAILED) {
            long page = ::sysconf(_SC_PAGESIZE);
            std::vector<unsigned char> resident((size + static_cast<std::size_t>(page) - 1) / static_cast<std::size_t>(page));
            if (::mincore(mapped, size, resident.data()) == 0)
                for (unsigned char bit : resident)
                    mib += (bit & 1) ? static_cast<double>(page) / (1024.0 * 1024.0) : 0;
            ::munmap(mapped, size);
        }
    }
    ::close(fd);
    return mib;
}

// Where one clone start's CPU goes, measured the way delosd starts one (the same argv, from the
// template `template_vm` runs from; `qemu -version` is measured apart): the clone's QEMU CPU when
// its QMP socket answers (QEMU started, machine built, kernel file loaded), when the restore is
// done and the guest runs, and when the delosd `host` has opened its channel session (attached).
// Three starts, one after the other; the average of each.
std::vector<double> clone_start_phases(Host& host, const std::string& template_vm)
{
    v1::Vm from;
    for (const v1::Vm& vm : host.vms())
        if (vm.spec().name() == template_vm)
            from = vm;
    if (from.clone_template().empty())
        return {};
    controller::CloneTemplates templates(host.dir() + "/phases-templates", "qemu-system-x86_64");
    controller::CloneTemplate cloned_from;
    cloned_from.key = from.clone_template();
    cloned_from.dir = host.dir() + "/state/templates/" + from.clone_template();
    constexpr int kRuns = 3;
    std::vector<double> sums(3, 0);
    int done = 0;
    for (int run = 0; run < kRuns; ++run) {
        std::string base = host.dir() + "/ph" + std::to_string(run);
        auto argv = templates.clone_argv(from.spec(), cloned_from, base + ".sock", base + ".serial", base + ".qmp",
                                         "phase-" + std::to_string(run) + "-" + std::to_string(::getpid()));
        int state = ::open(cloned_from.state_path().c_str(), O_RDONLY | O_CLOEXEC);
        pid_t pid = controller::spawn_in_own_group(argv, base + ".log", state);
        ::close(state);
        std::vector<double> cpu;
        try {
            controller::QmpClient qmp(base + ".qmp", Clock::now() + std::chrono::seconds(60));
            cpu.push_back(bench::process_cpu_s(pid));
            qmp.command(R"({"execute":"migrate-set-capabilities","arguments":{"capabilities":[{"capability":"x-ignore-shared","state":true}]}})");
            qmp.command(R"({"execute":"migrate-incoming","arguments":{"uri":"fd:3"}})");
            while (qmp.command(R"({"execute":"query-status"})").find("\"running\"") == std::string::npos)
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            cpu.push_back(bench::process_cpu_s(pid));
            std::string vm = "ph" + std::to_string(run);
            host.attach(vm, base + ".sock");
            if (wait_until([&] {
                    for (const v1::Vm& listed : host.vms())
                        if (listed.spec().name() == vm)
                            return listed.state() == v1::VM_STATE_RUNNING;
                    return false;
                }, std::chrono::seconds(60)))
                cpu.push_back(bench::process_cpu_s(pid));
        } catch (const std::exception& error) {
            std::fprintf(stderr, "delos-bench-fleet: clone phases: %s\n", error.what());
        }
        ::kill(-pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        if (cpu.size() == 3) {
            for (int i = 0; i < 3; ++i)
                sums[static_cast<std::size_t>(i)] += cpu[static_cast<std::size_t>(i)];
            ++done;
        }
    }
    if (done == 0)
        return {};
    for (double& sum : sums)
        sum /= done;
    return sums;
}

// What one runner does on one delosd: a burst of `burst` CreateVm at once until every guest's
// channel session is open (for the clone runner after one first clone VM built the template,
// which stays running), CPU per start, idle memory, then batches of 10 up to `max_guests`.
struct RunnerFigures {
    double guests_per_s = -1, cpu_s_per_start = -1, template_s = -1;
    Memory idle, idle_at_max;  // with the first burst running, and with the most guests running
    int max_guests_running = 0;
    std::string max_stop = "reached the limit asked for";
    int guests_failed = 0;
    std::string failed_detail;
    double template_cache_mib = 0;  // clone: the template RAM file's pages in the page cache
    std::uint64_t mem_available_drop_mib = 0;  // MemAvailable before the first start minus at the most guests
    std::vector<double> phases;     // clone: CPU at QEMU up, at restored, at the channel session
};

template <typename Progress>
RunnerFigures measure_runner(const std::string& dir, const std::string& name, v1::Runner runner, int burst, int max_guests,
                             std::uint32_t memory_mib, const Progress& progress)
{
    RunnerFigures figures;
    Host host(dir, name, "");
    const std::string prefix = runner == v1::RUNNER_CLONE ? "k" : "s";
    std::uint64_t available_before = mem_available_mib();
    int created = 0;
    if (runner == v1::RUNNER_CLONE) {
        auto start = Clock::now();
        host.create(prefix + "t", memory_mib, runner);
        wait_until([&] { return host.running() == 1; }, std::chrono::seconds(240));
        figures.template_s = seconds_since(start);
        created = 1;
        progress("template built and first clone running after " + std::to_string(figures.template_s) + " s");
    }
    auto start = Clock::now();
    std::vector<std::thread> creators;
    for (int i = 0; i < burst; ++i)
        creators.emplace_back([&, i] { host.create(prefix + std::to_string(i), memory_mib, runner); });
    for (std::thread& creator : creators)
        creator.join();
    created += burst;
    // The rate over the guests that came up (one that never does is counted in guests_failed).
    const int already = created - burst;
    int up = 0;
    double last_up = 0;
    wait_until([&] {
        int now = host.running() - already;
        if (now > up) {
            up = now;
            last_up = seconds_since(start);
        }
        return up == burst;
    }, std::chrono::seconds(180));
    if (up > 0)
        figures.guests_per_s = up / last_up;
    {
        double total = 0;
        int counted = 0;
        for (const v1::Vm& vm : host.vms())
            if (vm.pid() > 0 && vm.state() == v1::VM_STATE_RUNNING && vm.spec().name() != prefix + "t")
                if (double cpu = bench::process_cpu_s(vm.pid()); cpu >= 0)
                    total += cpu, ++counted;
        figures.cpu_s_per_start = counted ? total / counted : -1;
    }
    std::this_thread::sleep_for(std::chrono::seconds(3));  // idle: boot work done
    figures.idle = guest_memory(host);

    progress("scaling up to " + std::to_string(max_guests) + " guests in batches of 10");
    figures.max_guests_running = host.running();
    while (created < max_guests) {
        if (mem_available_mib() < 2048) {
            figures.max_stop = "memory pressure (MemAvailable < 2 GiB)";
            break;
        }
        int batch = std::min(10, max_guests - created);
        std::vector<std::thread> more;
        for (int i = 0; i < batch; ++i)
            more.emplace_back([&, i] { host.create(prefix + std::to_string(created + i), memory_mib, runner); });
        for (std::thread& creator : more)
            creator.join();
        created += batch;
        int before = figures.max_guests_running;
        // Settled: every guest is running or has ended (a guest that exits is counted, not waited for).
        bool settled = wait_until([&] {
            int done = 0;
            for (const v1::Vm& vm : host.vms())
                done += vm.state() == v1::VM_STATE_RUNNING || vm.state() == v1::VM_STATE_EXITED;
            return done >= created;
        }, std::chrono::seconds(120));
        figures.max_guests_running = std::max(figures.max_guests_running, host.running());
        progress(std::to_string(figures.max_guests_running) + " guests running, MemAvailable " + std::to_string(mem_available_mib()) + " MiB");
        if (figures.max_guests_running <= before) {
            figures.max_stop = settled ? "a batch of guests all exited" : "a batch did not come up within 120 s";
            break;
        }
    }
    std::this_thread::sleep_for(std::chrono::seconds(3));
    figures.idle_at_max = guest_memory(host);
    std::uint64_t available_at_max = mem_available_mib();
    figures.mem_available_drop_mib = available_before > available_at_max ? available_before - available_at_max : 0;
    for (const v1::Vm& vm : host.vms())
        if (vm.state() != v1::VM_STATE_RUNNING)
            ++figures.guests_failed,
                figures.failed_detail = vm.spec().name() + ": " + v1::VmState_Name(vm.state()) + " " + vm.last_exit().substr(0, 200);
    if (runner == v1::RUNNER_CLONE) {
        std::error_code error;
        for (const auto& entry : std::filesystem::directory_iterator(host.dir() + "/state/templates", error))
            figures.template_cache_mib += resident_mib(entry.path().string() + "/ram");
        progress("where one clone start's CPU goes (3 starts, one at a time)");
        figures.phases = clone_start_phases(host, prefix + "t");
    }
    host.remove_all();
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

    // 1. Start rate, idle memory and the most guests at once, one delosd per runner.
    progress("runner qemu (fresh boot): " + std::to_string(burst) + " guests at once through delosd");
    RunnerFigures fresh = measure_runner(dir, "solo", v1::RUNNER_QEMU, burst, max_guests, memory_mib, progress);
    progress("runner clone: template, then " + std::to_string(burst) + " clones at once through delosd");
    RunnerFigures clone = measure_runner(dir, "clones", v1::RUNNER_CLONE, burst, max_guests, memory_mib, progress);
    progress("baseline: " + std::to_string(burst) + " bare QEMU processes at once");
    int bare_not_ready = 0;
    const double bare_per_s = bare_qemu_guests_per_s(dir, burst, memory_mib, &bare_not_ready);
    progress("where a start's CPU goes: qemu -version alone");
    const double exec_cpu_s = qemu_exec_cpu_s();
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
    auto ratio = [](double a, double b) { return a > 0 && b > 0 ? a / b : -1.0; };
    // Honest memory for clones: their PSS counts the template's pages they map, split between
    // them; the template file's page cache that no clone maps is in no PSS, so it is added in
    // full (split over the clones at the most running): an upper bound.
    const int clones_at_max = std::max(1, clone.max_guests_running);
    const double clone_mib_with_template = clone.idle_at_max.pss_mib + clone.template_cache_mib / clones_at_max;
    double phase[3] = {-1, -1, -1};
    for (std::size_t i = 0; i < clone.phases.size() && i < 3; ++i)
        phase[i] = clone.phases[i];
    if (json) {
        auto runner_json = [&](const RunnerFigures& f) {
            char text[1024];
            std::snprintf(text, sizeof text,
                          "{\"guests_per_s\":%.2f,\"mib_per_idle_guest\":%.1f,\"rss_mib_per_idle_guest\":%.1f,\"mib_per_idle_guest_at_burst\":%.1f,"
                          "\"max_guests\":%d,\"max_guests_stop\":\"%s\",\"guests_failed\":%d,\"cpu_s_per_start\":%.3f,"
                          "\"start_ceiling_per_s\":%.1f,\"mem_available_drop_mib\":%llu}",
                          f.guests_per_s, f.idle_at_max.pss_mib, f.idle_at_max.rss_mib, f.idle.pss_mib, f.max_guests_running,
                          f.max_stop.c_str(), f.guests_failed, f.cpu_s_per_start, f.cpu_s_per_start > 0 ? cores / f.cpu_s_per_start : -1.0,
                          static_cast<unsigned long long>(f.mem_available_drop_mib));
            return std::string(text);
        };
        std::printf("{\"runner\":\"%s\",\"cores\":%u,\"guest_memory_mib\":%u,\"guests_per_s\":%.2f,\"baseline_bare_qemu_guests_per_s\":%.2f,\"baseline_bare_qemu_not_ready\":%d,"
                    "\"anchor_firecracker_guests_per_s\":%.1f,\"mib_per_idle_guest\":%.1f,\"rss_mib_per_idle_guest\":%.1f,"
                    "\"mib_per_idle_guest_at_burst\":%.1f,\"anchor_firecracker_mib_per_guest\":%.1f,\"max_guests\":%d,\"max_guests_asked\":%d,\"max_guests_stop\":\"%s\",\"guests_failed\":%d,"
                    "\"rollout_s\":%.3f,\"rollout_object_bytes\":%llu,\"rollout_state\":\"%s\",\"rollback_s\":%.3f,"
                    "\"fault_report_s\":%.3f,\"rollback_state\":\"%s\",\"cpu_s_per_start\":%.3f,\"qemu_exec_cpu_s\":%.3f,"
                    "\"start_ceiling_per_s\":%.1f,"
                    "\"clone_guests_per_s\":%.2f,\"clone_mib_per_idle_guest\":%.1f,\"clone_max_guests\":%d,\"clone_cpu_s_per_start\":%.3f,"
                    "\"clone_template_s\":%.2f,\"clone_template_cache_mib\":%.1f,\"clone_mib_per_idle_guest_with_template\":%.1f,"
                    "\"clone_cpu_qemu_up_s\":%.3f,\"clone_cpu_restored_s\":%.3f,\"clone_cpu_channel_open_s\":%.3f,"
                    "\"runners\":{\"fresh\":%s,\"clone\":%s},"
                    "\"clone_vs_fresh\":{\"guests_per_s\":%.2f,\"mib_per_idle_guest\":%.2f,\"max_guests\":%.2f,\"cpu_s_per_start\":%.2f}}\n",
                    runner.c_str(), cores, memory_mib, fresh.guests_per_s, bare_per_s, bare_not_ready, anchor_per_s, fresh.idle_at_max.pss_mib,
                    fresh.idle_at_max.rss_mib, fresh.idle.pss_mib, anchor_mib, fresh.max_guests_running, max_guests, fresh.max_stop.c_str(),
                    fresh.guests_failed, figures.rollout_s, static_cast<unsigned long long>(figures.object_bytes), figures.rollout_state.c_str(),
                    figures.rollback_s, figures.report_s, figures.rollback_state.c_str(), fresh.cpu_s_per_start, exec_cpu_s,
                    fresh.cpu_s_per_start > 0 ? cores / fresh.cpu_s_per_start : -1.0, clone.guests_per_s, clone.idle_at_max.pss_mib,
                    clone.max_guests_running, clone.cpu_s_per_start, clone.template_s, clone.template_cache_mib, clone_mib_with_template,
                    phase[0], phase[1], phase[2], runner_json(fresh).c_str(), runner_json(clone).c_str(),
                    ratio(clone.guests_per_s, fresh.guests_per_s), ratio(clone.idle_at_max.pss_mib, fresh.idle_at_max.pss_mib),
                    ratio(clone.max_guests_running, fresh.max_guests_running), ratio(clone.cpu_s_per_start, fresh.cpu_s_per_start));
        return 0;
    }
    std::printf("delos-bench-fleet: %s (QEMU -M microvm, %u MiB guests), %u cores\n\n", runner.c_str(), memory_mib, cores);
    std::printf("%-46s %12s %12s %10s %12s\n", "figure (through delosd)", "fresh boot", "clone", "clone/fresh", "target");
    std::printf("%-46s %12.2f %12.2f %10.2f %12s\n", "guests started per second", fresh.guests_per_s, clone.guests_per_s,
                ratio(clone.guests_per_s, fresh.guests_per_s), ">= 50");
    std::printf("%-46s %12.3f %12.3f %10.2f\n", "  CPU s per start (its QEMU, when running)", fresh.cpu_s_per_start, clone.cpu_s_per_start,
                ratio(clone.cpu_s_per_start, fresh.cpu_s_per_start));
    std::printf("%-46s %12.1f %12.1f %10s %12s\n", "  ceiling: cores / CPU per start, per s", fresh.cpu_s_per_start > 0 ? cores / fresh.cpu_s_per_start : -1.0,
                clone.cpu_s_per_start > 0 ? cores / clone.cpu_s_per_start : -1.0, "", ">= 50");
    std::printf("%-46s %12.1f %12.1f %10.2f %12s\n", "MiB per idle guest (PSS of its QEMU, max run)", fresh.idle_at_max.pss_mib,
                clone.idle_at_max.pss_mib, ratio(clone.idle_at_max.pss_mib, fresh.idle_at_max.pss_mib), "<= 16");
    std::printf("%-46s %12s %12.1f\n", "  clone + the template's page cache, upper bound", "", clone_mib_with_template);
    std::printf("%-46s %12.1f %12.1f\n", "  RSS of its QEMU, MiB", fresh.idle_at_max.rss_mib, clone.idle_at_max.rss_mib);
    std::printf("%-46s %12.1f %12.1f\n", "  PSS with only the first burst running", fresh.idle.pss_mib, clone.idle.pss_mib);
    std::printf("%-46s %12llu %12llu\n", "  MemAvailable drop at the most guests, MiB", static_cast<unsigned long long>(fresh.mem_available_drop_mib),
                static_cast<unsigned long long>(clone.mem_available_drop_mib));
    std::printf("%-46s %12d %12d %10.2f %12s\n", "max guests running at once", fresh.max_guests_running, clone.max_guests_running,
                ratio(clone.max_guests_running, fresh.max_guests_running), "100");
    std::printf("%-46s %12s %12s\n", "  stopped because", fresh.max_stop.c_str(), clone.max_stop.c_str());
    std::printf("%-46s %12d %12d %s %s\n", "  guests that did not run", fresh.guests_failed, clone.guests_failed, fresh.failed_detail.c_str(),
                clone.failed_detail.c_str());
    std::printf("%-46s %12s %12.2f\n", "clone template: first clone VM running, s", "", clone.template_s);
    std::printf("%-46s %12s %12.1f\n", "  template RAM file in the page cache, MiB", "", clone.template_cache_mib);
    std::printf("%-46s %12.2f\n", "baseline: bare QEMU processes (fresh boot) per s", bare_per_s);
    std::printf("\nwhere one clone start's CPU goes (its QEMU, cumulative; one start at a time):\n");
    std::printf("  %-52s %8.3f s\n", "qemu -version alone (exec, 51 libraries, constructors)", exec_cpu_s);
    std::printf("  %-52s %8.3f s\n", "QEMU up: QMP answers (machine built, kernel file read)", phase[0]);
    std::printf("  %-52s %8.3f s\n", "restored: device state loaded, guest running", phase[1]);
    std::printf("  %-52s %8.3f s\n", "channel session open with delosd (guest's own work)", phase[2]);
    std::printf("\n%-46s %12.3f %12s\n", ("rollout of a " + std::to_string(figures.object_bytes / 1024) + " KiB cell to 9 guests, s").c_str(),
                figures.rollout_s, figures.rollout_state.c_str());
    std::printf("%-46s %12.3f %12s %10s %12s\n", "canary's first fault -> all rolled back, s", figures.rollback_s, figures.rollback_state.c_str(), "", "<= 1");
    std::printf("%-46s %12.3f\n", "  canary swapped -> first fault report stored, s", figures.report_s);
    std::printf("\nanchor (Firecracker): %.0f guests/s on %u cores, <= %.0f MiB each. clone: %.2fx the anchor's rate, %.1fx its memory\n",
                anchor_per_s, cores, anchor_mib, ratio(clone.guests_per_s, anchor_per_s), ratio(clone.idle_at_max.pss_mib, anchor_mib));
    std::printf("to start 50 guests/s on %u cores a start may take %.3f s of CPU in all; a clone's QEMU takes %.3f s, of which\n"
                "%.3f s before it has loaded anything of the guest: see docs/fleet.md\n",
                cores, cores / 50.0, clone.cpu_s_per_start, phase[0]);
    return 0;
}
