// controller_harness.h: what the controller tests share: a real delosd process in a fresh
// directory (killed with -9 and restarted on the same state when a test asks), delosctl runs
// as a user would type them, and a gRPC stub for requests delosctl would never send.
#pragma once

#include <chrono>
#include <memory>
#include <thread>
#include <string>
#include <vector>

#include "background_process.h"
#include "child_process.h"
#include "delos/v1/controller.grpc.pb.h"
#include <gtest/gtest.h>

namespace delos::test {

std::string build_dir();
// Where the guest (guest/delos.elf, cells/) comes from: the build, or $DELOS_GUEST_BUILD_DIR
// (to try delosd against another branch's guest without merging).
std::string guest_build_dir();
std::string bin(const std::string& program);  // build/bin/PROGRAM
std::string cell_object(const std::string& cell);  // build/cells/CELL.o
std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& bytes);

// A fresh directory under /tmp, removed at the end (short: unix socket paths are limited).
class TempDir {
public:
    TempDir();
    ~TempDir();
    const std::string& path() const { return m_path; }
    std::string operator/(const std::string& name) const { return m_path + "/" + name; }

private:
    std::string m_path;
};

class Delosd {
public:
    // Starts delosd on DIR/d.sock with its state in DIR/state; `extra` are more options
    // (default: --allow-unsigned --allow-command-runner). Waits for its ready line.
    explicit Delosd(const std::string& dir, std::vector<std::string> extra = {"--allow-unsigned", "--allow-command-runner"});
    ~Delosd();
    bool start();  // false if it did not get ready (then log() says why)
    void kill9();
    std::string server() const { return "unix:" + m_dir + "/d.sock"; }
    std::string log() const;
    int metrics_port() const;  // from the "metrics listening" line, 0 if none
    int tcp_port() const;      // from the "listening ... port=" line, 0 if none
    bool running() { return m_process && m_process->running(); }
    std::unique_ptr<v1::Controller::Stub> stub() const;

private:
    std::string m_dir;
    std::vector<std::string> m_extra;
    std::unique_ptr<BackgroundProcess> m_process;
    std::string m_old_logs;
};

// delosctl --server SERVER ARGS...
ChildResult delosctl(const std::string& server, const std::vector<std::string>& args,
                     std::chrono::milliseconds limit = std::chrono::seconds(60));

// Polls `condition` every 20 ms until it holds or `limit` passes.
template <typename Condition>
bool eventually(Condition condition, std::chrono::milliseconds limit = std::chrono::seconds(10))
{
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        if (condition())
            return true;
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

// A VM's state word as `delosctl vm get -o json` reports it (e.g. "VM_STATE_RUNNING").
std::string vm_state(const std::string& server, const std::string& vm);
v1::Vm get_vm(const Delosd& delosd, const std::string& vm);

// `delosctl vm create NAME --runner attach --socket SOCKET`, then waits until the VM runs (a
// ScriptedGuest or a guest started by the test listens on SOCKET). On failure the result names
// the step and carries delosctl's error or delosd's log.
::testing::AssertionResult attach_running_vm(const Delosd& delosd, const std::string& name, const std::string& socket);

} // namespace delos::test
