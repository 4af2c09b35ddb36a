// snapshot_clones.cpp: see snapshot_clones.h.
#include "snapshot_clones.h"

#include "qmp_client.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace delos::bench {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Starts `argv` with stderr to `log`; everything the child needs is prepared before fork (the
// benchmark has threads).
int spawn(const std::vector<std::string>& argv, const std::string& log)
{
    std::vector<char*> args;
    for (const std::string& arg : argv)
        args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    pid_t pid = ::fork();
    if (pid == 0) {
        if (log_fd >= 0)
            ::dup2(log_fd, 2);
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    if (log_fd >= 0)
        ::close(log_fd);
    return pid;
}

void stop(int pid)
{
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
}

std::vector<std::string> guest_argv(const std::string& dir, const std::string& name, std::uint32_t memory_mib,
                                    const std::string& kernel, const std::string& modules, const std::string& ram_file,
                                    bool share)
{
    std::string memory = std::to_string(memory_mib) + "M";
    return {"qemu-system-x86_64", "-accel", "tcg", "-M", "microvm,acpi=off,memory-backend=ram", "-m", memory, "-object",
            "memory-backend-file,id=ram,size=" + memory + ",mem-path=" + ram_file + ",share=" + (share ? "on" : "off"),
            "-nodefaults", "-no-user-config", "-nographic", "-no-reboot", "-kernel", kernel, "-append", "run", "-initrd",
            modules, "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-serial", "file:" + dir + "/" + name + ".log",
            "-monitor", "none", "-global", "virtio-mmio.force-legacy=false", "-chardev",
            "socket,id=c,path=" + dir + "/" + name + ".sock,server=on,wait=off", "-device", "virtio-serial-device", "-device",
            "virtserialport,chardev=c,name=org.delos.control.0", "-qmp",
            "unix:" + dir + "/" + name + ".qmp,server=on,wait=off"};
}

std::string read_file(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

} // namespace

double process_cpu_s(int pid)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    auto paren = text.rfind(')');
    if (paren == std::string::npos)
        return -1;
    std::istringstream fields(text.substr(paren + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; fields >> field; ++i) {  // field 3 is the state
        if (i == 14)
            utime = std::stoull(field);
        if (i == 15) {
            stime = std::stoull(field);
            break;
        }
    }
    return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

CloneRun start_snapshot_clones(const std::string& dir, int count, std::uint32_t memory_mib, const std::string& kernel,
                               const std::string& modules)
{
    CloneRun run;
    std::filesystem::create_directories(dir);
    const std::string ram_file = dir + "/template.ram", state_file = dir + "/template.state";
    int template_pid = -1;
    try {
        auto start = Clock::now();
        template_pid = spawn(guest_argv(dir, "template", memory_mib, kernel, modules, ram_file, true), dir + "/template.err");
        auto deadline = Clock::now() + std::chrono::seconds(120);
        while (read_file(dir + "/template.log").find("serving the channel") == std::string::npos) {
            if (Clock::now() > deadline)
                throw std::runtime_error("the template guest did not get ready in 120 s");
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        {
            controller::QmpClient qmp(dir + "/template.qmp", Clock::now() + std::chrono::seconds(60));
            qmp.command(R"({"execute":"stop"})");
            qmp.command(R"({"execute":"migrate-set-capabilities","arguments":{"capabilities":[{"capability":"x-ignore-shared","state":true}]}})");
            qmp.command(R"({"execute":"migrate","arguments":{"uri":"exec:cat > )" + state_file + R"("}})");
            for (;;) {
                std::string status = qmp.command(R"({"execute":"query-migrate"})");
                if (status.find("\"completed\"") != std::string::npos)
                    break;
                if (status.find("\"failed\"") != std::string::npos)
                    throw std::runtime_error("saving the template failed: " + status);
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            }
        }
        stop(template_pid);
        template_pid = -1;
        run.template_s = seconds_since(start);

        start = Clock::now();
        std::vector<std::thread> starters;
        std::vector<double> cpu(static_cast<std::size_t>(count), -1);
        std::vector<std::string> errors(static_cast<std::size_t>(count));
        run.pids.assign(static_cast<std::size_t>(count), -1);
        double last_running = 0;
        std::mutex last_mutex;
        std::random_device entropy;
        for (int i = 0; i < count; ++i)
            run.generations.push_back("g" + std::to_string(entropy()) + "-" + std::to_string(i));
        for (int i = 0; i < count; ++i) {
            std::string name = "clone" + std::to_string(i);
            run.control_sockets.push_back(dir + "/" + name + ".sock");
            starters.emplace_back([&, i, name] {
                try {
                    auto argv = guest_argv(dir, name, memory_mib, kernel, modules, ram_file, false);
                    // Each clone's own VM generation: the guest takes a fresh boot id when it sees it.
                    argv.insert(argv.end(), {"-fw_cfg", "name=opt/org.delos/generation,string=" + run.generations[static_cast<std::size_t>(i)],
                                             "-incoming", "defer"});
                    int pid = spawn(argv, dir + "/" + name + ".err");
                    run.pids[static_cast<std::size_t>(i)] = pid;
                    controller::QmpClient qmp(dir + "/" + name + ".qmp", Clock::now() + std::chrono::seconds(60));
                    qmp.command(R"({"execute":"migrate-set-capabilities","arguments":{"capabilities":[{"capability":"x-ignore-shared","state":true}]}})");
                    qmp.command(R"({"execute":"migrate-incoming","arguments":{"uri":"exec:cat )" + state_file + R"("}})");
                    while (qmp.command(R"({"execute":"query-status"})").find("\"inmigrate\"") != std::string::npos)
                        std::this_thread::sleep_for(std::chrono::milliseconds(1));
                    qmp.command(R"({"execute":"cont"})");
                    cpu[static_cast<std::size_t>(i)] = process_cpu_s(pid);
                    std::lock_guard lock(last_mutex);
                    last_running = std::max(last_running, seconds_since(start));
                } catch (const std::exception& error) {
                    errors[static_cast<std::size_t>(i)] = error.what();
                }
            });
        }
        for (std::thread& starter : starters)
            starter.join();
        double cpu_total = 0;
        for (int i = 0; i < count; ++i) {
            if (!errors[static_cast<std::size_t>(i)].empty())
                throw std::runtime_error("clone " + std::to_string(i) + ": " + errors[static_cast<std::size_t>(i)]);
            cpu_total += cpu[static_cast<std::size_t>(i)];
        }
        run.clones_per_s = count / last_running;
        run.cpu_s_per_clone = cpu_total / count;
        run.ok = true;
    } catch (const std::exception& error) {
        run.error = error.what();
        if (template_pid > 0)
            stop(template_pid);
    }
    return run;
}

} // namespace delos::bench
