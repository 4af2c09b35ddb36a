// qemu_boot_test.cpp: the same delos.elf boots under QEMU by PVH (pc and microvm machines) and
// prints the same ready line; the debug-exit device reports (code << 1) | 1.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <regex>

#include "vm_test_support.h"

using namespace delos::test;

namespace {

// KVM where /dev/kvm is usable, else TCG (this host and CI have no KVM): the boot tests then
// still boot the guest, on the ordinary (non-kvm_pvm) path. Each run says which one it used.
ChildResult run_qemu(const std::string& machine, const std::string& cmdline, const char* accel = qemu_accelerator(),
                     const std::string& module = "")
{
    std::cout << "[ accel    ] qemu-system-x86_64 -M " << machine << " -accel " << accel
              << (std::string(accel) == "tcg" ? " (no usable /dev/kvm: TCG emulation)" : "") << std::endl;
    ::testing::Test::RecordProperty("accelerator", accel);
    std::vector<std::string> arguments{"qemu-system-x86_64", "-accel", accel, "-M", machine, "-m", "64M", "-nodefaults",
                                       "-no-user-config", "-nographic", "-no-reboot", "-kernel", kernel_path(), "-append",
                                       cmdline, "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-serial", "stdio",
                                       "-monitor", "none"};
    if (!module.empty()) {
        // QEMU's PVH boot hands -initrd to the guest as its one module: the boot archive.
        arguments.push_back("-initrd");
        arguments.push_back(module);
    }
    return run_child(arguments, {std::chrono::seconds(180), "delos: ready"});
}

class QemuBoot : public ::testing::TestWithParam<const char*> {
protected:
    void SetUp() override
    {
        DELOS_REQUIRE_QEMU();  // without KVM these run under TCG (run_qemu says so)
    }
};

} // namespace

TEST_P(QemuBoot, PrintsReadyAndExitsThroughDebugExit)
{
    auto result = run_qemu(GetParam(), "exit");
    ASSERT_FALSE(result.timed_out) << result.out << result.err;
    EXPECT_NE(result.out.find("delos: ready:"), std::string::npos) << result.out << result.err;
    EXPECT_EQ(result.exit_code, (0 << 1) | 1) << result.err;
}

TEST_P(QemuBoot, PanicExitCodeCrossesTheDebugExitDevice)
{
    auto result = run_qemu(GetParam(), "panic");
    EXPECT_NE(result.out.find("delos: PANIC"), std::string::npos) << result.out;
    EXPECT_EQ(result.exit_code, (11 << 1) | 1) << result.err;
}

// QEMU with KVM runs on kvm_pvm here too, so the guest enters native mode there as well; TCG
// is the one hypervisor on this host that exercises the ordinary path: the kvm_pvm probe
// (CPUID, then the signature MSR) must be harmless and leave the guest ordinary.
TEST(QemuTcgBoot, GuestStaysInTheOrdinaryMode)
{
    DELOS_REQUIRE_QEMU();
    auto result = run_qemu("microvm", "exit", "tcg");
    ASSERT_FALSE(result.timed_out) << result.out << result.err;
    EXPECT_NE(result.out.find("cpu: ordinary\n"), std::string::npos) << result.out << result.err;
    EXPECT_NE(result.out.find("delos: ready:"), std::string::npos) << result.out << result.err;
    EXPECT_EQ(result.exit_code, (0 << 1) | 1) << result.err;
}

// microvm has no port 0x61, so the TSC is calibrated against PIT channel 0 read back by latch:
// a calibration that ended at once reported "tsc 1 MHz" and made every guest timeout ~2000x short.
// The bounds are 100x wide on purpose: this checks the method, not the machine's speed.
TEST(QemuTcgBoot, TscIsCalibratedAgainstThePitOnMicrovm)
{
    DELOS_REQUIRE_QEMU();
    auto result = run_qemu("microvm", "exit", "tcg");
    ASSERT_FALSE(result.timed_out) << result.out << result.err;
    std::smatch match;
    ASSERT_TRUE(std::regex_search(result.out, match, std::regex("tsc ([0-9]+) MHz from pit"))) << result.out;
    long mhz = std::stol(match[1]);
    EXPECT_GE(mhz, 100) << result.out;
    EXPECT_LE(mhz, 10000) << result.out;
}

// The ordinary path keeps its IST stack for #DF: a stack overflow is reported by the guest.
TEST(QemuTcgBoot, StackOverflowIsReportedAsADoubleFault)
{
    DELOS_REQUIRE_QEMU();
    auto result = run_qemu("microvm", "crash-stack-overflow", "tcg");
    ASSERT_FALSE(result.timed_out) << result.out << result.err;
    EXPECT_NE(result.out.find("#DF double fault"), std::string::npos) << result.out << result.err;
    EXPECT_EQ(result.exit_code, (11 << 1) | 1) << result.err;
}

// Fault containment (docs/unwinding.md): tasks that fault with a null write, #UD, a divide error
// or a breakpoint (or in a cell's init while it loads) while owning heap objects, pages and a mutex are unwound with their
// destructors run, end Faulted, and the guest runs on with frames and heap at their baseline.
TEST(QemuTcgBoot, FaultingTasksAreUnwoundAndTheGuestRunsOn)
{
    DELOS_REQUIRE_QEMU();
    auto result = run_qemu("microvm", "selftest faults", "tcg", build_path("cells/cells.a"));
    ASSERT_FALSE(result.timed_out) << result.out << result.err;
    EXPECT_NE(result.out.find("selftest: 44 passed, 0 failed"), std::string::npos) << result.out;
    // Containment's edges (docs/fault-campaign.md): masked interrupts without a spin lock, a fault
    // in a cleanup (or one the watchdog finds endless), a stack with no return path, a double fault: each ends its task, not the guest.
    for (const char* edge : {"spin_lock_count_follows_the_locks_held", "masked_fault_in_a_cell_without_a_spin_lock_is_unwound",
                             "spin_on_a_lock_nobody_releases_is_a_task_fault",
                             "fault_in_a_cells_cleanup_abandons_that_frame", "endless_cleanup_in_a_cell_is_abandoned_by_the_watchdog",
                             "fault_in_a_cell_without_a_return_path_ends_the_task", "cell_call_gate_restores_from_its_save_area", "garbage_flags_in_a_task_cost_only_that_task", "a_returned_object_is_charged_to_the_callers_call", "an_int_instruction_is_a_task_fault",
                             "double_fault_in_a_cell_ends_the_task", "masked_fault_in_a_cell_while_a_load_is_midway_is_unwound",
                             "call_ownership_reads_nothing_of_its_caller_under_its_lock",
                             "call_with_the_stack_pointer_in_the_heap_ends_the_task",
                             "jump_to_no_code_off_the_stack_in_a_cell_call_ends_the_task", "mutex_count_follows_the_locks_held"})
        EXPECT_NE(result.out.find(std::string("selftest: ok   faults.") + edge), std::string::npos) << edge << "\n" << result.out;
    // Call ownership: what a call's code allocated and lost is released when the call faults or
    // returns; a fault under a noexcept frame unwinds the frames below and above it.
    EXPECT_NE(result.out.find("selftest: ok   faults.call_ownership_releases_what_a_faulted_call_left"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("selftest: ok   faults.call_ownership_releases_what_a_returned_call_left"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("selftest: ok   faults.call_ownership_refuses_a_reply_the_call_did_not_map"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("selftest: ok   faults.noexcept_frame_is_unwound_through"), std::string::npos) << result.out;
    // A pointer the heap never handed out, freed in a task: that task's fault, not a panic.
    EXPECT_NE(result.out.find("selftest: ok   faults.foreign_pointer_freed_is_a_task_fault"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("selftest: ok   faults.impossible_allocation_is_a_task_fault"), std::string::npos) << result.out;
    // A fault in a cell's init while it loads: its tables were registered before the init ran.
    EXPECT_NE(result.out.find("(init:init_faults, cell "), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("write_through_null"), std::string::npos) << result.out;
    // The fault inside the kv cell is named by cell, version and symbol, across cell and kernel.
    EXPECT_NE(result.out.find("lower_bound"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("(cell kv "), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("delos_task_entry_trampoline"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("delos: FAULT #1 in task"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("#UD invalid opcode (vector 6)"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("hold_and_fault"), std::string::npos) << result.out;  // symbolised
    EXPECT_NE(result.out.find("recovery: unwinding"), std::string::npos) << result.out;
    EXPECT_EQ(result.out.find("PANIC"), std::string::npos) << result.out;
    EXPECT_EQ(result.exit_code, (0 << 1) | 1) << result.err;
}

// docs/watchdog-and-stack-overflow.md: unbounded recursion (in the runaway cell and in the kernel)
// is stopped by the split-stack prologue check and unwound as a STACK_OVERFLOW fault; an endless
// loop in a cell is unwound by the watchdog as a WATCHDOG fault while a bystander task keeps
// counting; a watched task busy in kernel code is left alone; the guest stays up throughout.
TEST(QemuTcgBoot, StackOverflowAndWatchdogFaultsAreUnwound)
{
    DELOS_REQUIRE_QEMU();
    auto result = run_qemu("microvm", "selftest faults", "tcg", build_path("cells/cells.a"));
    ASSERT_FALSE(result.timed_out) << result.out << result.err;
    for (const char* test : {"stack_overflow_in_a_cell_is_unwound", "stack_overflow_in_the_kernel_is_unwound",
                             "watchdog_unwinds_a_task_looping_in_a_cell", "watchdog_budget_per_cell",
                             "watchdog_leaves_kernel_code_alone", "deadlock_on_two_cell_locks_unwinds_one_task",
                             "long_cell_lock_wait_within_budget_is_left_alone",
                             "lock_wait_past_budget_is_unwound_and_event_waits_are_not",
                             "deadlock_closed_by_a_kernel_wait_unwinds_the_cell_waiter", "runaway_cell_unloads"})
        EXPECT_NE(result.out.find(std::string("selftest: ok   faults.") + test), std::string::npos) << test << result.out;
    EXPECT_NE(result.out.find("STACK OVERFLOW stack limit reached (vector 257)"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("runaway_recurse+"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("(cell runaway 1.0.0)"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("WATCHDOG task over its run-time budget (vector 256)"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("runaway_spin+"), std::string::npos) << result.out;
    // docs/deadlocks.md: one cycle of two cell lock waits (one task unwound), one wait past a 100 ms budget.
    EXPECT_NE(result.out.find("DEADLOCK task unwound from a lock wait (vector 258) error 0x1"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("DEADLOCK task unwound from a lock wait (vector 258) error 0x2"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("runaway_lock_pair+"), std::string::npos) << result.out;
    std::smatch counted;
    ASSERT_TRUE(std::regex_search(result.out, counted, std::regex("the bystander counted ([0-9]+) times meanwhile")))
        << result.out;
    EXPECT_GE(std::stol(counted[1]), 2) << result.out;
    EXPECT_EQ(result.out.find("PANIC"), std::string::npos) << result.out;
    EXPECT_EQ(result.out.find("not contained"), std::string::npos) << result.out;
    EXPECT_EQ(result.exit_code, (0 << 1) | 1) << result.err;
}

// What cannot be contained stays fatal, with the full report and exit code 11: a fault in the
// boot task, a fault with a spin lock held, a fault in a destructor while unwinding, a fault in
// an interrupt handler, and a stack overflow with a spin lock held.
TEST(QemuTcgBoot, UncontainableFaultsStillPanic)
{
    DELOS_REQUIRE_QEMU();
    struct Case {
        const char* command;
        const char* reason;
    };
    for (const Case& c : {Case{"crash-page-fault", "not contained: the boot and idle tasks"},
                          Case{"crash-task-spinlocked", "not contained: interrupts were masked"},
                          Case{"crash-task-in-destructor", "not contained: a fault while unwinding"},
                          Case{"crash-task-in-interrupt", "not contained: interrupts were masked"},
                          Case{"crash-task-overflow-spinlocked", "the refused fault above is a stack overflow"}}) {
        auto result = run_qemu("microvm", c.command, "tcg");
        ASSERT_FALSE(result.timed_out) << c.command << result.out << result.err;
        EXPECT_NE(result.out.find(c.reason), std::string::npos) << c.command << result.out;
        const char* exception = std::string(c.command) == "crash-task-overflow-spinlocked"
                                    ? "EXCEPTION #UD invalid opcode (vector 6)"
                                    : "EXCEPTION #PF page fault (vector 14)";
        EXPECT_NE(result.out.find(exception), std::string::npos) << c.command << result.out;
        EXPECT_NE(result.out.find("backtrace:"), std::string::npos) << c.command << result.out;
        EXPECT_EQ(result.exit_code, (11 << 1) | 1) << c.command << result.err;
    }
}

// A run-alone operation (stop_machine::run_alone: swaps, quarantine, retired-cell scans) must not
// block, sleep or yield; if it does, the scheduler panics naming the bug instead of letting another
// task run inside the window (crash-switch-alone yields there while another task is ready).
TEST(QemuTcgBoot, TaskSwitchInsideRunAlonePanics)
{
    DELOS_REQUIRE_QEMU();
    auto result = run_qemu("microvm", "crash-switch-alone", "tcg");
    ASSERT_FALSE(result.timed_out) << result.out << result.err;
    EXPECT_NE(result.out.find("a task switch inside a run-alone window"), std::string::npos) << result.out;
    EXPECT_EQ(result.out.find("nothing stopped it"), std::string::npos) << result.out;
    EXPECT_EQ(result.exit_code, (11 << 1) | 1) << result.err;
}

INSTANTIATE_TEST_SUITE_P(Machines, QemuBoot, ::testing::Values("microvm", "pc", "q35"));

// With ACPI on, QEMU microvm puts its virtio-mmio devices only in the DSDT, which the guest does
// not read (docs/qemu-and-libvirt.md): the guest must say so rather than wait silently.
TEST(QemuTcgBoot, MicrovmWithAcpiOnSaysWhyThereIsNoControlChannel)
{
    DELOS_REQUIRE_QEMU();
    BackgroundProcess vm({"qemu-system-x86_64", "-accel", "tcg", "-M", "microvm,acpi=on", "-m", "64M", "-nodefaults",
                          "-no-user-config", "-nographic", "-no-reboot", "-kernel", kernel_path(), "-append", "run",
                          "-serial", "stdio", "-monitor", "none", "-global", "virtio-mmio.force-legacy=false",
                          "-device", "virtio-serial-device", "-device", "virtserialport,name=org.delos.control.0"});
    ASSERT_TRUE(vm.wait_for_output("delos: no control channel: no virtio-console device found", std::chrono::seconds(120)))
        << vm.output();
    EXPECT_NE(vm.out().find("acpi=off"), std::string::npos) << vm.output();
}

// The whole in-guest selftest under TCG, so it runs where there is no KVM (CI): among them the
// device registry's binding rules and a device wait that blocks its task (devices.*), and the
// cell service's (cellservice.*).
TEST(QemuTcgBoot, SelftestPasses)
{
    DELOS_REQUIRE_QEMU();
    auto result = run_child({"qemu-system-x86_64", "-accel", "tcg", "-M", "microvm", "-m", "128M", "-nodefaults",
                             "-no-user-config", "-nographic", "-no-reboot", "-kernel", kernel_path(), "-initrd",
                             build_path("cells/cells.a"), "-append", "selftest", "-device",
                             "isa-debug-exit,iobase=0xf4,iosize=4", "-serial", "stdio", "-monitor", "none"},
                            {std::chrono::seconds(300), "delos: ready"});
    ASSERT_FALSE(result.timed_out) << result.out << result.err;
    EXPECT_EQ(result.out.find("selftest: FAIL"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("selftest: ok   devices.activity_wait_blocks_the_task_until_signalled"), std::string::npos)
        << result.out;
    // The cell service's: a cell whose init sleeps 10 ms and spawns a task that outlives it loads
    // while another task keeps running; tasks carry their cell; the exception hooks form a chain.
    EXPECT_NE(result.out.find("selftest: ok   cellservice.a_blocking_init_loads_while_other_tasks_run"), std::string::npos)
        << result.out;
    EXPECT_NE(result.out.find("selftest: ok   cellservice.exception_hooks_form_a_chain"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("selftest: ok   sync.run_alone_excludes_other_tasks"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find(" passed, 0 failed"), std::string::npos) << result.out;
    EXPECT_EQ(result.exit_code, (0 << 1) | 1) << result.out << result.err;
}

// A console without the control port: ControlPort::open's deadline fires (from the scheduler's
// timer) and the guest says what it waited for and which ports it saw, then runs on.
TEST(QemuTcgBoot, ControlPortOpenTimesOutAndSaysWhatItWaitedFor)
{
    DELOS_REQUIRE_QEMU();
    BackgroundProcess vm({"qemu-system-x86_64", "-accel", "tcg", "-M", "microvm,acpi=off", "-m", "64M", "-nodefaults",
                          "-no-user-config", "-nographic", "-no-reboot", "-kernel", kernel_path(), "-append",
                          "run control.open_timeout_ms=300", "-serial", "stdio", "-monitor", "none", "-global",
                          "virtio-mmio.force-legacy=false", "-device", "virtio-serial-device", "-device",
                          "virtserialport,name=org.example.other"});
    ASSERT_TRUE(vm.wait_for_output("control: no control port:", std::chrono::seconds(120))) << vm.output();
    std::string out = vm.out();
    EXPECT_NE(out.find("control port: waited 300 ms for a console port named 'org.delos.control.0'; ports seen:"),
              std::string::npos) << out;
    EXPECT_NE(out.find("port 1 'org.example.other'"), std::string::npos) << out;  // QEMU's NUL is not part of it
    EXPECT_NE(out.find("no console announced the port in time"), std::string::npos) << out;
    EXPECT_TRUE(vm.running()) << out;
}


// Issue 9: the channel engine over the real kernel backend, 50+ sessions of push + load + unload
// of a cell with a 1 MiB frame and a half-sent frame each: the heap is back at its baseline and
// every frame not back is a page table (guest/selftest/control_tests.cpp). Under TCG, so CI runs it.
TEST(QemuTcgBoot, ChannelSessionsGiveMemoryBack)
{
    DELOS_REQUIRE_QEMU();
    auto result = run_child({"qemu-system-x86_64", "-accel", "tcg", "-M", "microvm", "-m", "128M", "-nodefaults",
                             "-no-user-config", "-nographic", "-no-reboot", "-kernel", kernel_path(), "-initrd",
                             build_path("cells/cells.a"), "-append", "selftest control.", "-device",
                             "isa-debug-exit,iobase=0xf4,iosize=4", "-serial", "stdio", "-monitor", "none"},
                            {std::chrono::seconds(240), ""});
    ASSERT_FALSE(result.timed_out) << result.out << result.err;
    EXPECT_NE(result.out.find("selftest: ok   control.sessions_give_frames_and_heap_back"), std::string::npos)
        << result.out << result.err;
    EXPECT_NE(result.out.find("selftest: 1 passed, 0 failed"), std::string::npos) << result.out;
    EXPECT_EQ(result.exit_code, (0 << 1) | 1) << result.err;
}

// One command table runs the kernel's commands and prints their help: `help` lists every one,
// an unknown command lists them too and the kernel runs on, and the README names each.
TEST(QemuTcgBoot, HelpListsEveryKernelCommandAndTheReadmeNamesThem)
{
    DELOS_REQUIRE_QEMU();
    auto help = run_qemu("microvm", "help", "tcg");
    ASSERT_FALSE(help.timed_out) << help.out << help.err;
    EXPECT_EQ(help.exit_code, (0 << 1) | 1) << help.err;
    std::regex line(R"(\n  ([a-z-]+)( [^:\n]*)?: [^\n]+)");
    std::vector<std::string> commands;
    for (auto it = std::sregex_iterator(help.out.begin(), help.out.end(), line); it != std::sregex_iterator(); ++it)
        commands.push_back((*it)[1]);
    for (const char* expected : {"run", "help", "exit", "selftest", "control-echo", "bench-tasks", "bench-link", "bench-swap",
                                 "probe-mode", "panic", "crash-page-fault", "crash-task-spinlocked"})
        EXPECT_NE(std::find(commands.begin(), commands.end(), expected), commands.end()) << expected << " missing:\n" << help.out;

    std::ifstream readme(std::string(DELOS_SOURCE_DIR) + "/README.md");
    std::string text{std::istreambuf_iterator<char>(readme), std::istreambuf_iterator<char>()};
    for (const std::string& command : commands)
        EXPECT_NE(text.find("`" + command + "`"), std::string::npos) << "README.md does not name the kernel command " << command;

    // An unknown command is named, the commands are listed, and the kernel runs on (as `run`).
    BackgroundProcess unknown({"qemu-system-x86_64", "-accel", "tcg", "-M", "microvm", "-m", "64M", "-nodefaults",
                               "-no-user-config", "-nographic", "-no-reboot", "-kernel", kernel_path(), "-append",
                               "frobnicate", "-serial", "stdio", "-monitor", "none"});
    ASSERT_TRUE(unknown.wait_for_output("delos: no control channel", std::chrono::seconds(120))) << unknown.output();
    EXPECT_NE(unknown.out().find("delos: unknown command 'frobnicate'; running"), std::string::npos) << unknown.output();
    EXPECT_NE(unknown.out().find("  crash-page-fault: "), std::string::npos) << unknown.output();
}
