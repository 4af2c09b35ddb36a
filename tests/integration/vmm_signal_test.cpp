// vmm_signal_test.cpp: SIGINT/SIGTERM stop delos-vmm cleanly (socket path removed, stats printed,
// console flushed) with the documented status 128 + signal, whether the guest runs or not yet.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "background_process.h"
#include "vm_test_support.h"

using namespace delos::test;

namespace {

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

bool wait_until(const std::function<bool()>& condition, std::chrono::seconds limit)
{
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!condition()) {
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

std::string temp_path(const std::string& name)
{
    return ::testing::TempDir() + "/delos-signal-" + std::to_string(::getpid()) + "-" + name;
}

// Setup blocks opening a FIFO as its serial file (nobody reads it yet): the control socket is
// bound, no KVM is needed, and a stop request there must end the run cleanly. If the signal
// lands before the open blocks, the test's reader lets the open finish: the outcome is the same.
void expect_clean_stop_during_setup(int signal, int expected_status, const char* name)
{
    std::string fifo = temp_path(std::string("serial-") + name);
    std::string socket = temp_path(std::string("control-") + name + ".sock");
    ::unlink(fifo.c_str());
    ::unlink(socket.c_str());
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    BackgroundProcess vmm({vmm_path(), "--serial", fifo, "--control-socket", socket, "--stats", kernel_path()});
    ASSERT_TRUE(wait_until([&] { return exists(socket) || !vmm.running(); }, std::chrono::seconds(60))) << vmm.output();
    ASSERT_TRUE(vmm.running()) << vmm.output();
    ASSERT_EQ(::kill(vmm.pid(), signal), 0);
    int status = vmm.wait_for_exit(std::chrono::seconds(2));
    if (status == -1) {
        int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);  // unblocks the writer's open
        status = vmm.wait_for_exit(std::chrono::seconds(60));
        ::close(reader);
    }
    EXPECT_EQ(status, expected_status) << vmm.output();
    EXPECT_EQ(vmm.err(), std::string("delos-vmm: stopped by ") + name + " before the guest started\n");
    EXPECT_FALSE(exists(socket)) << "the control socket path was left behind";
    ::unlink(fifo.c_str());
}

TEST(VmmSignals, SigtermDuringSetupStopsCleanlyWith143) { expect_clean_stop_during_setup(SIGTERM, 143, "SIGTERM"); }

TEST(VmmSignals, SigintDuringSetupStopsCleanlyWith130) { expect_clean_stop_during_setup(SIGINT, 130, "SIGINT"); }

// A running guest (idle in `run`, halted in the kernel's HLT most of the time).
TEST(VmmSignals, SigtermStopsARunningGuestCleanly)
{
    DELOS_REQUIRE_KVM();
    std::string socket = temp_path("running.sock");
    ::unlink(socket.c_str());
    BackgroundProcess vmm({vmm_path(), "--control-socket", socket, "--stats", kernel_path()});
    ASSERT_TRUE(vmm.wait_for_output("delos: ready", std::chrono::seconds(60))) << vmm.output();
    ASSERT_TRUE(exists(socket));
    ASSERT_EQ(::kill(vmm.pid(), SIGTERM), 0);
    EXPECT_EQ(vmm.wait_for_exit(std::chrono::seconds(60)), 143) << vmm.output();
    EXPECT_NE(vmm.err().find("delos-vmm: stopped by SIGTERM: guest stopped\n"), std::string::npos) << vmm.output();
    EXPECT_NE(vmm.err().find("delos-vmm: exits "), std::string::npos) << "--stats: " << vmm.output();
    EXPECT_NE(vmm.err().find("overhead_kib="), std::string::npos) << vmm.output();
    EXPECT_FALSE(exists(socket)) << "the control socket path was left behind";
}

} // namespace
