// clone_templates.cpp: see clone_templates.h.
#include "clone_templates.h"

#include "abi/channel_limits.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "cell_signature.h"
#include "daemon_log.h"
#include "qmp_client.h"
#include "runner_process.h"

namespace delos::controller {

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

// What the template guest prints when its control agent serves the channel: the moment to save
// it (no host session has opened, so the clones' first session is their first).
constexpr const char* kServingLine = "control: serving the channel on";
constexpr auto kBootTimeout = std::chrono::seconds(180);
constexpr auto kSaveTimeout = std::chrono::seconds(120);
// The layout of the argv below: a change to it must not reuse templates saved by an older one.
constexpr const char* kArgvLayout = "delos-clone-template-v1";

std::string read_text(const std::string& path, std::size_t limit = 1 << 20)
{
    std::ifstream in(path, std::ios::binary);
    std::string text;
    text.resize(limit);
    in.read(text.data(), static_cast<std::streamsize>(limit));
    text.resize(static_cast<std::size_t>(in.gcount()));
    return text;
}

std::string resolve_program(const std::string& program)
{
    if (program.find('/') != std::string::npos)
        return fs::absolute(program).string();
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path ? path : "/usr/bin:/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
        if (::access(candidate.c_str(), X_OK) == 0)
            return candidate;
    }
    return program;
}

bool process_ended(pid_t pid)
{
    siginfo_t info{};
    return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
}

void kill_and_reap(pid_t pid)
{
    ::kill(-pid, SIGKILL);
    int status;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
}

std::string short_key(const std::string& key) { return key.substr(0, 12); }

} // namespace

CloneTemplate::~CloneTemplate()
{
    if (retired.load()) {
        std::error_code ignored;
        fs::remove_all(dir, ignored);
        log_line("info", "clone template removed", {{"template", short_key(key)}});
    }
}

CloneTemplates::CloneTemplates(std::string dir, std::string qemu_path) : m_dir(std::move(dir)), m_qemu_path(std::move(qemu_path))
{
    fs::create_directories(m_dir);
    m_kvm = ::access("/dev/kvm", R_OK | W_OK) == 0;
    std::string resolved = resolve_program(m_qemu_path);
    struct stat info{};
    m_qemu_identity = resolved;
    if (::stat(resolved.c_str(), &info) == 0)
        m_qemu_identity += " " + std::to_string(info.st_size) + " " + std::to_string(info.st_mtim.tv_sec) + "."
                           + std::to_string(info.st_mtim.tv_nsec);
}

std::string CloneTemplates::file_digest(const std::string& path)
{
    struct stat info{};
    if (::stat(path.c_str(), &info) != 0)
        throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
    std::int64_t mtime_ns = static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1000000000 + info.st_mtim.tv_nsec;
    {
        std::lock_guard lock(m_digest_mutex);
        auto known = m_digests.find(path);
        if (known != m_digests.end() && known->second.device == info.st_dev && known->second.inode == info.st_ino
            && known->second.size == static_cast<std::uint64_t>(info.st_size) && known->second.mtime_ns == mtime_ns)
            return known->second.hex;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error("cannot read " + path);
    std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    std::string hex = to_hex(sha256_of(bytes));
    std::lock_guard lock(m_digest_mutex);
    m_digests[path] = {info.st_dev, info.st_ino, static_cast<std::uint64_t>(info.st_size), mtime_ns, hex};
    return hex;
}

std::string CloneTemplates::slot_of(const v1::VmSpec& spec) const
{
    std::string named = std::string(kArgvLayout) + "\nkernel " + spec.kernel() + "\nmodule "
                        + (spec.modules().empty() ? "" : spec.modules(0)) + "\nmemory " + std::to_string(spec.memory_mib())
                        + "\ncmdline " + spec.cmdline() + "\naccel " + (m_kvm ? "kvm" : "tcg") + "\nqemu " + m_qemu_path;
    return to_hex(sha256_of(named));
}

std::string CloneTemplates::key_of(const v1::VmSpec& spec)
{
    std::string inputs = std::string(kArgvLayout) + "\nkernel " + file_digest(spec.kernel()) + "\nmodule "
                         + (spec.modules().empty() ? "" : file_digest(spec.modules(0))) + "\nmemory "
                         + std::to_string(spec.memory_mib()) + "\ncmdline " + spec.cmdline() + "\naccel "
                         + (m_kvm ? "kvm" : "tcg") + "\nqemu " + m_qemu_identity;
    return to_hex(sha256_of(inputs));
}

std::vector<std::string> CloneTemplates::machine_argv(const v1::VmSpec& spec, const std::string& ram_path, bool share,
                                                      const std::string& serial_log, const std::string& control_socket,
                                                      const std::string& qmp_socket) const
{
    std::string memory = std::to_string(spec.memory_mib() ? spec.memory_mib() : 64) + "M";
    std::vector<std::string> argv = {m_qemu_path, "-accel", m_kvm ? "kvm" : "tcg", "-M", "microvm,acpi=off,memory-backend=ram",
                                     "-m", memory, "-object",
                                     "memory-backend-file,id=ram,size=" + memory + ",mem-path=" + ram_path
                                         + ",share=" + (share ? "on" : "off"),
                                     "-nodefaults", "-no-user-config", "-nographic", "-no-reboot", "-kernel", spec.kernel()};
    if (!spec.cmdline().empty())
        argv.insert(argv.end(), {"-append", spec.cmdline()});
    if (!spec.modules().empty())
        argv.insert(argv.end(), {"-initrd", spec.modules(0)});
    argv.insert(argv.end(), {"-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-serial", "file:" + serial_log, "-monitor",
                             "none", "-global", "virtio-mmio.force-legacy=false", "-chardev",
                             "socket,id=delosctl,path=" + control_socket + ",server=on,wait=off", "-device",
                             "virtio-serial-device", "-device",
                             std::string("virtserialport,chardev=delosctl,name=") + channel::kControlPortName, "-qmp",
                             "unix:" + qmp_socket + ",server=on,wait=off"});
    return argv;
}

std::vector<std::string> CloneTemplates::clone_argv(const v1::VmSpec& spec, const CloneTemplate& from,
                                                    const std::string& control_socket, const std::string& serial_log,
                                                    const std::string& qmp_socket, const std::string& generation) const
{
    auto argv = machine_argv(spec, from.ram_path(), false, serial_log, control_socket, qmp_socket);
    argv.insert(argv.end(), {"-fw_cfg", "name=opt/org.delos/generation,string=" + generation, "-incoming", "defer"});
    return argv;
}

std::shared_ptr<CloneTemplate> CloneTemplates::load_from_disk(const std::string& key)
{
    std::string dir = m_dir + "/" + key;
    std::string meta = read_text(dir + "/meta", 4096);
    if (meta.rfind("slot ", 0) != 0 || !fs::exists(dir + "/ram") || !fs::exists(dir + "/state"))
        return nullptr;
    auto found = std::make_shared<CloneTemplate>();
    found->key = key;
    found->slot = meta.substr(5, 64);
    found->dir = dir;
    return found;
}

void CloneTemplates::make_current(const std::string& slot, const std::string& key)
{
    auto previous = m_current.find(slot);
    std::string old_key = previous == m_current.end() ? std::string() : previous->second;
    m_current[slot] = key;
    // Templates of this slot saved from other inputs (an older kernel, found in this run or left
    // on disk by an earlier one) go, unless another slot still uses the same key.
    std::set<std::string> used;
    for (const auto& [other_slot, other_key] : m_current)
        used.insert(other_key);
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(m_dir, error)) {
        std::string name = entry.path().filename().string();
        if (name.size() != 64 || name == key || used.count(name))
            continue;
        std::string meta = read_text(entry.path().string() + "/meta", 4096);
        if (meta.rfind("slot " + slot, 0) != 0)
            continue;
        auto cached = m_ready.find(name);
        if (cached != m_ready.end()) {
            cached->second->retired = true;  // removed when the last clone starting from it is done
            m_ready.erase(cached);
        } else {
            std::error_code ignored;
            fs::remove_all(entry.path(), ignored);
            log_line("info", "clone template removed", {{"template", short_key(name)}, {"why", "inputs changed"}});
        }
    }
    (void)old_key;
}

std::shared_ptr<CloneTemplate> CloneTemplates::acquire(const v1::VmSpec& spec, const Progress& progress)
{
    std::string key = key_of(spec);
    std::string slot = slot_of(spec);
    std::unique_lock lock(m_mutex);
    for (;;) {
        if (auto ready = m_ready.find(key); ready != m_ready.end()) {
            make_current(slot, key);
            return ready->second;
        }
        if (auto building = m_building.find(key); building != m_building.end()) {
            std::shared_ptr<Build> build = building->second;
            progress("waiting for clone template " + short_key(key) + ", which another VM's start is building");
            m_built.wait(lock, [&] { return build->done; });
            if (!build->error.empty())
                throw std::runtime_error(build->error);
            continue;
        }
        if (auto on_disk = load_from_disk(key)) {
            m_ready[key] = on_disk;
            continue;
        }
        auto build = std::make_shared<Build>();
        m_building[key] = build;
        lock.unlock();
        std::shared_ptr<CloneTemplate> built;
        std::string error;
        try {
            built = this->build(spec, key, slot, progress);
        } catch (const std::exception& failure) {
            error = std::string("building clone template ") + short_key(key) + " failed: " + failure.what();
        }
        lock.lock();
        build->done = true;
        build->error = error;
        build->result = built;
        m_building.erase(key);
        if (built)
            m_ready[key] = built;
        m_built.notify_all();
        if (!error.empty())
            throw std::runtime_error(error);
    }
}

std::shared_ptr<CloneTemplate> CloneTemplates::build(const v1::VmSpec& spec, const std::string& key, const std::string& slot,
                                                     const Progress& progress)
{
    auto started = Clock::now();
    // Sockets live only while building, under a short name (unix socket paths are short).
    std::string work = m_dir + "/b-" + short_key(key) + "-" + std::to_string(::getpid());
    std::string final_dir = m_dir + "/" + key;
    if (work.find('\'') != std::string::npos)
        throw std::runtime_error("the state directory's path contains a quote, which QEMU's exec: migration cannot take");
    if ((work + "/qmp.sock").size() >= 108)
        throw std::runtime_error("the template's sockets under " + work + " would be too long for unix sockets; use a shorter --state-dir");
    std::error_code ignored;
    fs::remove_all(work, ignored);
    fs::create_directories(work);
    progress("building clone template " + short_key(key) + " (first use of these inputs): booting the template guest");
    log_line("info", "clone template build started", {{"template", short_key(key)}, {"kernel", spec.kernel()}});

    auto argv = machine_argv(spec, work + "/ram", true, work + "/serial.log", work + "/control.sock", work + "/qmp.sock");
    pid_t pid = spawn_in_own_group(argv, work + "/qemu.log");
    auto fail = [&](const std::string& why) {
        kill_and_reap(pid);
        std::string detail = why;
        std::string qemu = tail_of(work + "/qemu.log", 600), serial = tail_of(work + "/serial.log", 600);
        if (!qemu.empty())
            detail += "; QEMU said: " + qemu;
        if (!serial.empty())
            detail += "; the guest's serial output ends: " + serial;
        fs::remove_all(work, ignored);
        throw std::runtime_error(detail);
    };
    auto deadline = Clock::now() + kBootTimeout;
    while (read_text(work + "/serial.log").find(kServingLine) == std::string::npos) {
        if (process_ended(pid))
            fail("the template guest's QEMU ended before the guest served its channel");
        if (Clock::now() > deadline)
            fail("the template guest did not serve its channel within 180 s");
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    double boot_s = std::chrono::duration<double>(Clock::now() - started).count();
    progress("clone template " + short_key(key) + ": guest ready after " + std::to_string(boot_s).substr(0, 4) + " s, saving it");
    try {
        QmpClient qmp(work + "/qmp.sock", Clock::now() + kSaveTimeout, [&] { return !process_ended(pid); });
        // Not stopped first: migration stops the guest itself when it completes, and records it
        // as running, so each clone runs as soon as its restore is loaded (no `cont` per clone).
        // The RAM file then holds exactly the stopped guest's memory (the process ends next).
        qmp.command(R"({"execute":"migrate-set-capabilities","arguments":{"capabilities":[{"capability":"x-ignore-shared","state":true}]}})");
        qmp.command(R"({"execute":"migrate","arguments":{"uri":"exec:cat > ')" + work + R"(/state'"}})");
        for (;;) {
            std::string status = qmp.command(R"({"execute":"query-migrate"})");
            if (status.find("\"completed\"") != std::string::npos)
                break;
            if (status.find("\"failed\"") != std::string::npos || status.find("\"cancelled\"") != std::string::npos)
                throw std::runtime_error("saving the template's device state failed: " + status.substr(0, 500));
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    } catch (const std::exception& error) {
        fail(error.what());
    }
    kill_and_reap(pid);
    fs::remove(work + "/qmp.sock", ignored);
    fs::remove(work + "/control.sock", ignored);
    {
        std::ofstream meta(work + "/meta");
        meta << "slot " << slot << "\nkey " << key << "\nkernel " << spec.kernel() << " " << file_digest(spec.kernel())
             << "\nmodule " << (spec.modules().empty() ? "" : spec.modules(0)) << "\nmemory_mib " << spec.memory_mib()
             << "\ncmdline " << spec.cmdline() << "\nqemu " << m_qemu_identity << "\n";
        if (!meta)
            fail("cannot write the template's meta file");
    }
    fs::remove_all(final_dir, ignored);
    fs::rename(work, final_dir);  // the template exists once its directory has its final name
    auto built = std::make_shared<CloneTemplate>();
    built->key = key;
    built->slot = slot;
    built->dir = final_dir;
    double total_s = std::chrono::duration<double>(Clock::now() - started).count();
    progress("clone template " + short_key(key) + " built in " + std::to_string(total_s).substr(0, 4) + " s");
    log_line("info", "clone template built", {{"template", short_key(key)}, {"seconds", std::to_string(total_s)}});
    return built;
}

void CloneTemplates::retain_only_slots(const std::set<std::string>& slots)
{
    std::lock_guard lock(m_mutex);
    for (auto current = m_current.begin(); current != m_current.end();)
        current = slots.count(current->first) ? std::next(current) : m_current.erase(current);
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(m_dir, error)) {
        std::string name = entry.path().filename().string();
        bool leftover = name.rfind("b-", 0) == 0 && !m_building.count(name);
        bool in_progress = false;
        for (const auto& [key, build] : m_building)
            in_progress |= name.rfind("b-" + short_key(key), 0) == 0;
        if (in_progress)
            continue;
        if (!leftover) {
            std::string meta = read_text(entry.path().string() + "/meta", 4096);
            if (meta.rfind("slot ", 0) == 0 && slots.count(meta.substr(5, 64)))
                continue;
        }
        auto cached = m_ready.find(name);
        if (cached != m_ready.end()) {
            cached->second->retired = true;
            m_ready.erase(cached);
        } else {
            std::error_code ignored;
            fs::remove_all(entry.path(), ignored);
            log_line("info", "clone template removed", {{"template", short_key(name)}, {"why", "no clone VM uses it"}});
        }
    }
}

std::vector<std::string> CloneTemplates::keys_on_disk() const
{
    std::vector<std::string> keys;
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(m_dir, error))
        if (entry.path().filename().string().size() == 64)
            keys.push_back(entry.path().filename().string());
    return keys;
}

} // namespace delos::controller
