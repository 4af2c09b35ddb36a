// device_tests.cpp: in-guest tests of the device registry (binding by type, whichever comes
// first; duplicate addresses; failed binds) against fake transports and interrupt lines, and of
// DeviceActivity: a task waiting for a device blocks on its wait queue so others run.
#include <atomic>

#include "drivers/device_activity.h"
#include "drivers/device_registry.h"
#include "selftest/selftest.h"
#include "task/scheduler.h"
#include "task/spawn.h"

namespace delos::selftest {

namespace {

// Types no real driver uses, so nothing but these tests' drivers binds them.
constexpr std::uint32_t kTestType = 0x7f01, kOtherType = 0x7f02, kFailingType = 0x7f03;

class FakeTransport final : public virtio::Transport {
public:
    explicit FakeTransport(std::uint32_t type = kOtherType) : m_type(type) {}
    std::uint32_t device_id() const override { return m_type; }
    ErrorOr<std::uint64_t> negotiate_features(std::uint64_t required, std::uint64_t) override { return required; }
    std::uint16_t queue_max_size(std::uint16_t) override { return 0; }
    ErrorOr<void> enable_queue(const virtio::Virtqueue&) override { return {}; }
    ErrorOr<void> set_driver_ok() override { return {}; }
    void set_failed() override {}
    void notify(std::uint16_t) override {}
    std::uint32_t take_interrupt_causes() override { return 0; }
    bool needs_reset() override { return false; }
    std::uint32_t read_config32(std::uint32_t) override { return 0; }

private:
    std::uint32_t m_type;
};

class FakeInterruptLine final : public devices::InterruptLine {
public:
    ErrorOr<void> connect(Handler handler, void* context) override
    {
        m_handler = handler;
        m_context = context;
        ++connects;
        return {};
    }
    void disconnect() override
    {
        m_handler = nullptr;
        ++disconnects;
    }
    void raise() const
    {
        if (m_handler)
            m_handler(m_context);
    }
    int connects = 0;
    int disconnects = 0;

private:
    Handler m_handler = nullptr;
    void* m_context = nullptr;
};

int g_binds = 0;
int g_interrupts = 0;

ErrorOr<void> bind_counting(devices::VirtioDevice& device)
{
    ++g_binds;
    return device.interrupt->connect([](void*) { ++g_interrupts; }, nullptr);
}

ErrorOr<void> bind_failing(devices::VirtioDevice& device)
{
    TRY(device.interrupt->connect([](void*) {}, nullptr));
    device.interrupt->disconnect();  // what a driver whose start failed does
    return Error::make(ErrorCode::Io, "test driver: this device never starts");
}

devices::DeviceAddress mmio_at(std::uint64_t base) { return {devices::Bus::VirtioMmio, base, 5}; }

ErrorOr<void> driver_binds_devices_found_before_and_after_it()
{
    g_binds = g_interrupts = 0;
    devices::DeviceRegistry registry;
    FakeTransport early(kTestType), late(kTestType), other(kOtherType);
    FakeInterruptLine early_line, late_line, other_line;
    SELFTEST_TRY(registry.add_virtio_device(early, early_line, mmio_at(0x1000)));
    SELFTEST_CHECK(registry.virtio_device_count() == 1);
    SELFTEST_CHECK(!registry.virtio_device(0).bound);  // no driver yet
    SELFTEST_TRY(registry.register_virtio_driver({"test-driver", kTestType, bind_counting}));
    SELFTEST_CHECK(registry.virtio_device(0).bound && g_binds == 1 && early_line.connects == 1);
    SELFTEST_TRY(registry.add_virtio_device(late, late_line, {devices::Bus::Pci, 0x18, 1}));
    SELFTEST_CHECK(registry.virtio_device(1).bound && g_binds == 2 && late_line.connects == 1);
    SELFTEST_TRY(registry.add_virtio_device(other, other_line, mmio_at(0x2000)));
    SELFTEST_CHECK(!registry.virtio_device(2).bound && g_binds == 2 && other_line.connects == 0);
    SELFTEST_CHECK(registry.virtio_device(2).type == kOtherType);
    // The bus's line reaches the handler the driver connected.
    late_line.raise();
    other_line.raise();
    SELFTEST_CHECK(g_interrupts == 1);
    // One driver per type.
    auto second = registry.register_virtio_driver({"second", kTestType, bind_counting});
    SELFTEST_CHECK(second.is_error() && second.error().code == ErrorCode::AlreadyExists);
    return {};
}

ErrorOr<void> same_address_twice_is_refused()
{
    g_binds = 0;
    devices::DeviceRegistry registry;
    SELFTEST_TRY(registry.register_virtio_driver({"test-driver", kTestType, bind_counting}));
    FakeTransport first(kTestType), again(kTestType), on_pci(kTestType);
    FakeInterruptLine first_line, again_line, pci_line;
    SELFTEST_TRY(registry.add_virtio_device(first, first_line, mmio_at(0xfeb00e00)));
    auto duplicate = registry.add_virtio_device(again, again_line, mmio_at(0xfeb00e00));
    SELFTEST_CHECK(duplicate.is_error() && duplicate.error().code == ErrorCode::AlreadyExists);
    SELFTEST_CHECK(again_line.connects == 0 && g_binds == 1);  // never reset under the first driver
    SELFTEST_TRY(registry.add_virtio_device(on_pci, pci_line, {devices::Bus::Pci, 0xfeb00e00, 0}));  // another bus
    SELFTEST_CHECK(registry.virtio_device_count() == 2 && g_binds == 2);
    return {};
}

ErrorOr<void> failed_bind_leaves_the_device_unbound()
{
    devices::DeviceRegistry registry;
    SELFTEST_TRY(registry.register_virtio_driver({"failing-driver", kFailingType, bind_failing}));
    FakeTransport device(kFailingType);
    FakeInterruptLine line;
    SELFTEST_TRY(registry.add_virtio_device(device, line, mmio_at(0x3000)));  // the bind's failure is printed, not returned
    SELFTEST_CHECK(!registry.virtio_device(0).bound);
    SELFTEST_CHECK(line.connects == 1 && line.disconnects == 1);
    return {};
}

ErrorOr<void> table_limits_are_errors()
{
    devices::DeviceRegistry registry;
    FakeTransport transports[devices::kMaxVirtioDevices + 1];
    FakeInterruptLine lines[devices::kMaxVirtioDevices + 1];
    for (std::size_t i = 0; i < devices::kMaxVirtioDevices; ++i)
        SELFTEST_TRY(registry.add_virtio_device(transports[i], lines[i], mmio_at(0x10000 + i * 0x200)));
    auto full = registry.add_virtio_device(transports[devices::kMaxVirtioDevices], lines[devices::kMaxVirtioDevices],
                                           mmio_at(0x90000));
    SELFTEST_CHECK(full.is_error() && full.error().code == ErrorCode::OutOfRange);
    return {};
}

ErrorOr<void> describe_names_the_bus_and_address()
{
    char text[64];
    SELFTEST_CHECK(devices::describe(mmio_at(0xfeb00e00), text, sizeof text) == "virtio-mmio@0xfeb00e00 gsi 5");
    SELFTEST_CHECK(devices::describe({devices::Bus::Pci, (0x00 << 8) | (3 << 3) | 0, 1}, text, sizeof text) ==
                   "pci 0000:00:03.0");
    char tiny[8];
    SELFTEST_CHECK(devices::describe(mmio_at(0xfeb00e00), tiny, sizeof tiny).size() == sizeof tiny - 1);
    return {};
}

// The waiter must be Blocked (off the CPU) while it waits, not halted inside its own task: the
// console driver used `sti; hlt` there, which kept the agent "running" through other tasks' time.
ErrorOr<void> activity_wait_blocks_the_task_until_signalled()
{
    devices::DeviceActivity activity;
    // Pending activity is consumed at once, without blocking.
    activity.signal();
    activity.wait();
    SELFTEST_CHECK(!activity.take());

    std::atomic<task::Task*> waiter_task{nullptr};
    std::atomic<bool> woke{false};
    auto waiter = SELFTEST_TRY(task::spawn("activity-waiter", [&] {
        waiter_task.store(task::scheduler::current_task(), std::memory_order_release);
        activity.wait();
        woke.store(true, std::memory_order_release);
    }));
    // Bounded, not timed: give the waiter up to 1000 turns to reach its wait.
    bool blocked = false;
    for (int turn = 0; turn < 1000 && !blocked; ++turn) {
        task::scheduler::sleep_for(1'000'000);
        task::Task* task = waiter_task.load(std::memory_order_acquire);
        blocked = task && task->state() == task::TaskState::Blocked;
    }
    SELFTEST_CHECK(blocked);
    SELFTEST_CHECK(!woke.load(std::memory_order_acquire));
    activity.signal();  // as the device's interrupt handler does
    SELFTEST_CHECK(waiter.join().returned());
    SELFTEST_CHECK(woke.load(std::memory_order_acquire));
    SELFTEST_CHECK(!activity.pending());  // the waiter consumed it
    return {};
}

} // namespace

extern const TestCase kDeviceTests[] = {
    {"devices", "driver_binds_devices_found_before_and_after_it", driver_binds_devices_found_before_and_after_it},
    {"devices", "same_address_twice_is_refused", same_address_twice_is_refused},
    {"devices", "failed_bind_leaves_the_device_unbound", failed_bind_leaves_the_device_unbound},
    {"devices", "table_limits_are_errors", table_limits_are_errors},
    {"devices", "describe_names_the_bus_and_address", describe_names_the_bus_and_address},
    {"devices", "activity_wait_blocks_the_task_until_signalled", activity_wait_blocks_the_task_until_signalled},
};
extern const std::size_t kDeviceTestCount = sizeof kDeviceTests / sizeof kDeviceTests[0];

} // namespace delos::selftest
