// task_tests.cpp: in-guest tests of tasks: spawn/join at scale, preemption without starvation,
// sleep and yield, mutex exclusion, condition variables, semaphores, channels (order under
// contention, non-blocking and closing rules), and ownership: MappedPages and heap objects that
// tasks own are released when the tasks end, and the counters return to their baseline.
#include <atomic>

#include "arch/x86_64/cpu.h"
#include "arch/x86_64/tsc.h"
#include "debug/fault_probe.h"
#include "log/kernel_log.h"
#include "platform/boot_facts.h"
#include "lib/core/command_line.h"
#include "lib/core/own_ptr.h"
#include "lib/core/vector.h"
#include "memory/frame_allocator.h"
#include "memory/heap.h"
#include "memory/mapped_pages.h"
#include "memory/page_table.h"
#include "selftest/selftest.h"
#include "sync/stop_machine.h"
#include "task/channel.h"
#include "task/condition_variable.h"
#include "task/current_task.h"
#include "task/mutex.h"
#include "task/semaphore.h"
#include "task/spawn.h"
#include "task/stack_cache.h"
#include "task/task_local.h"

namespace delos::selftest {

namespace {

using namespace task;

// `tasks.spawn_count=N` on the command line overrides the 10,000 (each spawn+join costs
// milliseconds under instruction emulation; see docs/tasks-and-scheduling.md).
constexpr std::uint64_t kDefaultSpawnCount = 10000;
constexpr std::size_t kSpawnWave = 100;  // live at once: 64 MiB of RAM cannot hold 10,000 stacks

std::uint64_t spawn_count()
{
    StringView value;
    if (!CommandLine(platform::boot_info().command_line).option("tasks.spawn_count", value))
        return kDefaultSpawnCount;
    std::uint64_t count = 0;
    for (char c : value) {
        if (c < '0' || c > '9')
            return kDefaultSpawnCount;
        count = count * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return count ? count : kDefaultSpawnCount;
}

std::uint64_t now_ns() { return tsc::nanoseconds_since_boot(); }

ErrorOr<void> spawn_and_join_many()
{
    std::uint64_t total = spawn_count();
    std::uint64_t sum = 0, expected = 0, joined = 0;
    Vector<JoinHandle<std::uint64_t>> wave;
    wave.reserve(kSpawnWave);
    for (std::uint64_t started = 0; started < total;) {
        for (std::size_t i = 0; i < kSpawnWave && started < total; ++i, ++started) {
            expected += started * 3;
            wave.append(SELFTEST_TRY(spawn("many", [n = started] { return n * 3; })));
        }
        for (auto& handle : wave) {
            auto outcome = handle.join();
            SELFTEST_CHECK(outcome.returned());
            sum += outcome.value();
            ++joined;
        }
        wave.clear();
    }
    SELFTEST_CHECK(joined == total);
    SELFTEST_CHECK(sum == expected);
    kprint("selftest:      {} tasks spawned and joined\n", joined);
    return {};
}

ErrorOr<void> results_identity_and_move_only_captures()
{
    auto owned = make_own<std::uint64_t>(41);
    auto handle = SELFTEST_TRY(spawn(
        "identity", [value = std::move(owned)] {
            TaskIdentity me = current_identity();
            return StringView(me.name) == "identity" && me.cell == 0 && *value == 41 ? me.id : TaskId(0);
        },
        {Priority::High}));
    SELFTEST_CHECK(!owned);
    TaskId id = handle.id();
    SELFTEST_CHECK(id != kKernelOwner && id != current_identity().id);
    auto outcome = handle.join();
    SELFTEST_CHECK(outcome.returned() && outcome.end() == TaskEnd::Returned);
    SELFTEST_CHECK(outcome.value() == id);
    SELFTEST_CHECK(!handle.valid());
    return {};
}

// A task that never yields must not keep others off the CPU: the timer preempts it.
ErrorOr<void> spinner_does_not_starve_others(Priority spinner_priority, Priority other_priority)
{
    std::atomic<bool> released{false};
    auto before = scheduler::statistics();
    auto spinner = SELFTEST_TRY(spawn(
        "spinner", [&released] {
            std::uint64_t give_up = now_ns() + 3'000'000'000ull;
            while (!released.load(std::memory_order_acquire)) {
                if (now_ns() > give_up)
                    return false;
                cpu::pause();
            }
            return true;
        },
        {spinner_priority}));
    auto releaser = SELFTEST_TRY(spawn("releaser", [&released] { released.store(true, std::memory_order_release); }, {other_priority}));
    // Make sure the spinner runs first and holds the CPU: the releaser must be preempted in.
    bool spinner_saw_release = spinner.join().value();
    SELFTEST_CHECK(spinner_saw_release);
    SELFTEST_CHECK(releaser.join().returned());
    SELFTEST_CHECK(scheduler::statistics().preemptions > before.preemptions);
    return {};
}

ErrorOr<void> spinner_of_equal_priority_is_preempted() { return spinner_does_not_starve_others(Priority::Normal, Priority::Normal); }
ErrorOr<void> high_priority_spinner_does_not_starve_low() { return spinner_does_not_starve_others(Priority::High, Priority::Low); }

ErrorOr<void> sleep_lasts_at_least_its_duration()
{
    auto sleeper = SELFTEST_TRY(spawn("sleeper", [] {
        std::uint64_t start = now_ns();
        scheduler::sleep_for(20'000'000);
        return now_ns() - start;
    }));
    std::uint64_t slept = sleeper.join().value();
    SELFTEST_CHECK(slept >= 20'000'000);
    SELFTEST_CHECK(slept < 2'000'000'000);
    return {};
}

ErrorOr<void> yield_lets_others_run()
{
    std::atomic<int> turns{0};
    auto other = SELFTEST_TRY(spawn("other", [&turns] { turns.fetch_add(1); }));
    for (int i = 0; i < 100 && turns.load() == 0; ++i)
        scheduler::yield();
    SELFTEST_CHECK(turns.load() == 1);
    (void)other.join();
    return {};
}

// stop_machine::run_alone: a task that spins (and would be switched in by the timer) does not
// run while an operation runs alone, though it does run during the same wait outside one.
ErrorOr<void> run_alone_excludes_other_tasks()
{
    constexpr std::uint64_t kWaitNs = 50'000'000;
    std::atomic<std::uint64_t> spins{0};
    std::atomic<bool> stop{false};
    auto spinner = SELFTEST_TRY(spawn("alone-spinner", [&] {
        while (!stop.load())
            spins.fetch_add(1);
    }));
    while (spins.load() == 0)
        scheduler::yield();
    auto busy_wait = [&] {
        std::uint64_t until = tsc::nanoseconds_since_boot() + kWaitNs;
        while (tsc::nanoseconds_since_boot() < until)
            cpu::pause();
    };
    // Control: the same wait, not alone, lets the spinner run (else this test could not fail).
    std::uint64_t before_control = spins.load();
    busy_wait();
    bool control_ran = spins.load() != before_control;

    std::uint64_t at_start = 0, at_end = 0;
    bool inside = false, nested_refused = false;
    auto operation = [&] {
        inside = stop_machine::running_alone();
        at_start = spins.load();
        busy_wait();
        at_end = spins.load();
        auto noop = [] {};
        nested_refused = stop_machine::run_alone(noop).is_error();
    };
    std::uint64_t operations_before = stop_machine::statistics().operations;
    SELFTEST_TRY(stop_machine::run_alone(operation));
    bool after_outside = !stop_machine::running_alone();
    stop.store(true);
    (void)spinner.join();
    SELFTEST_CHECK(control_ran);
    SELFTEST_CHECK(inside);
    SELFTEST_CHECK(at_start == at_end);  // nobody else ran during the operation
    SELFTEST_CHECK(nested_refused);
    SELFTEST_CHECK(after_outside);
    SELFTEST_CHECK(stop_machine::statistics().operations == operations_before + 1);
    SELFTEST_CHECK(stop_machine::online_cpus() == 1);
    return {};
}

ErrorOr<void> mutex_excludes()
{
    constexpr int kTasks = 4, kRounds = 25;
    Mutex mutex;
    int counter = 0;
    std::atomic<int> inside{0};
    std::atomic<bool> overlapped{false};
    Vector<JoinHandle<void>> workers;
    for (int t = 0; t < kTasks; ++t) {
        workers.append(SELFTEST_TRY(spawn("locker", [&] {
            for (int round = 0; round < kRounds; ++round) {
                MutexGuard guard(mutex);
                if (inside.fetch_add(1) != 0)
                    overlapped.store(true);
                int seen = counter;
                scheduler::yield();  // invite another task into the critical section
                counter = seen + 1;
                inside.fetch_sub(1);
            }
        })));
    }
    for (auto& worker : workers)
        (void)worker.join();
    SELFTEST_CHECK(!overlapped.load());
    SELFTEST_CHECK(counter == kTasks * kRounds);
    SELFTEST_CHECK(!mutex.is_locked());
    SELFTEST_CHECK(mutex.try_lock());
    mutex.unlock();
    return {};
}

ErrorOr<void> condition_variable_and_semaphore_hand_over()
{
    Mutex mutex;
    ConditionVariable ready_changed;
    int stage = 0;
    Semaphore done(0);
    auto waiter = SELFTEST_TRY(spawn("waiter", [&] {
        {
            MutexGuard guard(mutex);
            ready_changed.wait_until(guard, [&] { return stage == 1; });
            stage = 2;
        }
        ready_changed.notify_all();
        done.release();
    }));
    scheduler::yield();  // the waiter blocks on the condition
    {
        MutexGuard guard(mutex);
        stage = 1;
    }
    ready_changed.notify_one();
    done.acquire();
    {
        MutexGuard guard(mutex);
        SELFTEST_CHECK(stage == 2);
    }
    SELFTEST_CHECK(!done.try_acquire());
    done.release(2);
    SELFTEST_CHECK(done.try_acquire() && done.try_acquire() && !done.try_acquire());
    (void)waiter.join();
    return {};
}

struct Message {
    std::uint32_t producer;
    std::uint32_t sequence;
};

ErrorOr<void> channel_delivers_in_order_under_contention()
{
    constexpr std::uint32_t kProducers = 4, kMessagesEach = 100;
    auto channel = SELFTEST_TRY(make_channel<Message>(4));
    Vector<JoinHandle<bool>> producers;
    for (std::uint32_t p = 0; p < kProducers; ++p) {
        producers.append(SELFTEST_TRY(spawn("producer", [p, sender = channel.sender.clone()]() mutable {
            for (std::uint32_t i = 0; i < kMessagesEach; ++i) {
                if (sender.send(Message{p, i}).is_error())
                    return false;
                if (i % 7 == 0)
                    scheduler::yield();
            }
            return true;
        })));
    }
    channel.sender.close();  // only the producers' clones remain
    auto consumer = SELFTEST_TRY(spawn("consumer", [receiver = std::move(channel.receiver)]() mutable {
        std::uint32_t next[kProducers] = {};
        std::uint32_t received = 0;
        for (;;) {
            auto message = receiver.receive();
            if (message.is_error())
                break;  // every producer finished and the channel is drained
            if (message->producer >= kProducers || message->sequence != next[message->producer])
                return ~0u;  // out of order or corrupt
            ++next[message->producer];
            ++received;
        }
        return received;
    }));
    for (auto& producer : producers)
        SELFTEST_CHECK(producer.join().value());
    SELFTEST_CHECK(consumer.join().value() == kProducers * kMessagesEach);
    return {};
}

ErrorOr<void> channel_non_blocking_and_closing_rules()
{
    auto channel = SELFTEST_TRY(make_channel<OwnPtr<int>>(2));
    auto empty = channel.receiver.try_receive();
    SELFTEST_CHECK(empty.is_error() && empty.error().code == ErrorCode::Busy);
    auto a = make_own<int>(1), b = make_own<int>(2), c = make_own<int>(3);
    SELFTEST_CHECK(!channel.sender.try_send(a).is_error());
    SELFTEST_CHECK(!channel.sender.try_send(b).is_error());
    auto full = channel.sender.try_send(c);
    SELFTEST_CHECK(full.is_error() && full.error().code == ErrorCode::Busy);
    SELFTEST_CHECK(c && *c == 3);  // a refused message stays with the sender
    SELFTEST_CHECK(*SELFTEST_TRY(channel.receiver.try_receive()) == 1);
    channel.sender.close();
    SELFTEST_CHECK(*SELFTEST_TRY(channel.receiver.receive()) == 2);  // drained after close
    auto closed = channel.receiver.receive();
    SELFTEST_CHECK(closed.is_error() && closed.error().code == ErrorCode::NotFound);

    auto second = SELFTEST_TRY(make_channel<int>(1));
    second.receiver.close();
    SELFTEST_CHECK(second.sender.send(5).is_error());
    SELFTEST_CHECK(make_channel<int>(0).is_error());
    return {};
}

// A blocked sender is woken by a receive, a blocked receiver by a send.
ErrorOr<void> channel_blocks_until_space_or_data()
{
    auto channel = SELFTEST_TRY(make_channel<int>(1));
    auto sender = SELFTEST_TRY(spawn("blocked_sender", [s = std::move(channel.sender)]() mutable {
        for (int i = 0; i < 5; ++i) {
            if (s.send(i).is_error())
                return false;
        }
        return true;
    }));
    int total = 0;
    for (int i = 0; i < 5; ++i)
        total += SELFTEST_TRY(channel.receiver.receive());
    SELFTEST_CHECK(total == 0 + 1 + 2 + 3 + 4);
    SELFTEST_CHECK(sender.join().value());
    return {};
}

TaskLocal<Vector<int>> g_task_scratch;

struct Held {
    std::int64_t frames;
    std::int64_t heap_bytes;
};

// Frames free or kept by the kernel's own allocators: the heap keeps its slabs and the page
// table keeps tables it split, so those are not leaks of the tasks.
std::uint64_t frames_not_held_by_anyone_else()
{
    return memory::frame_allocator().free_frames() + memory::heap_statistics().pages_held +
           memory::kernel_page_table().table_frames();
}

ErrorOr<void> ownership_counters_return_to_baseline()
{
    stack_cache::release_all();
    std::uint64_t free_before = frames_not_held_by_anyone_else();
    std::uint64_t heap_before = memory::heap_statistics().bytes_in_use;
    std::uint64_t mapped_before = memory::mapped_pages_frames_in_use();

    constexpr int kOwners = 8;
    Vector<JoinHandle<Held>> owners;
    for (int t = 0; t < kOwners; ++t) {
        owners.append(SELFTEST_TRY(spawn("owner", [t] {
            auto pages = memory::MappedPages::allocate(3);
            if (pages.is_error())
                return Held{-1, -1};
            pages->as<std::uint64_t>()[0] = static_cast<std::uint64_t>(t);
            auto shared = std::move(pages.value()).into_shared();
            Vector<OwnPtr<std::uint64_t>> objects;
            for (int i = 0; i < 20; ++i)
                objects.append(make_own<std::uint64_t>(static_cast<std::uint64_t>(i)));
            g_task_scratch->append(t);  // a task-local value, destroyed when the task ends
            Ownership held = ownership_of(current_identity().id);
            return Held{held.frames, held.heap_bytes};
        })));
    }
    for (auto& owner : owners) {
        auto outcome = owner.join();
        SELFTEST_CHECK(outcome.returned());
        Held held = outcome.value();
        SELFTEST_CHECK(held.frames == 3);            // the task was charged for its pages...
        SELFTEST_CHECK(held.heap_bytes >= 20 * 8);   // ...and for its objects
        SELFTEST_CHECK(outcome.ownership_at_end().frames == 0);      // and released all of it
        SELFTEST_CHECK(outcome.ownership_at_end().heap_bytes == 0);
    }
    owners = Vector<JoinHandle<Held>>();
    stack_cache::release_all();
    SELFTEST_CHECK(memory::mapped_pages_frames_in_use() == mapped_before);
    SELFTEST_CHECK(memory::heap_statistics().bytes_in_use == heap_before);
    SELFTEST_CHECK(frames_not_held_by_anyone_else() == free_before);
    return {};
}

ErrorOr<void> mapped_pages_permissions_and_sharing()
{
    auto& frames = memory::frame_allocator();
    std::size_t free_before = frames.free_frames();
    auto pages = SELFTEST_TRY(memory::MappedPages::allocate(2));
    SELFTEST_CHECK(pages.as<std::uint64_t>()[0] == 0);  // handed out zeroed
    pages.as<std::uint64_t>()[0] = 7;
    SELFTEST_TRY(pages.set_access(memory::Access::Read));
    SELFTEST_CHECK(memory::kernel_page_table().access_of(pages.start()) == memory::Access::Read);
    FaultRecord record{};
    SELFTEST_CHECK(run_expecting_fault([](void* at) { *static_cast<volatile std::uint64_t*>(at) = 1; }, pages.as<void>(), record));
    SELFTEST_CHECK(record.vector == 14);
    std::uint64_t start = pages.start();
    auto shared = SELFTEST_TRY(std::move(pages).into_shared());
    SELFTEST_CHECK(!pages.valid());
    {
        memory::SharedMappedPages copy = shared;
        SELFTEST_CHECK(shared.reference_count() == 2 && copy.as<std::uint64_t>()[0] == 7);
        SELFTEST_TRY(copy.set_access(memory::Access::ReadWrite));
    }
    SELFTEST_CHECK(shared.reference_count() == 1);
    shared.as<std::uint64_t>()[1] = 9;  // writable again through the handle
    shared.reset();
    SELFTEST_CHECK(memory::kernel_page_table().access_of(start) == memory::Access::None);  // unmapped when the last handle went
    SELFTEST_CHECK(frames.free_frames() == free_before);
    return {};
}

} // namespace

extern const TestCase kTaskTests[] = {
    {"tasks", "results_identity_and_move_only_captures", results_identity_and_move_only_captures},
    {"tasks", "spinner_of_equal_priority_is_preempted", spinner_of_equal_priority_is_preempted},
    {"tasks", "high_priority_spinner_does_not_starve_low", high_priority_spinner_does_not_starve_low},
    {"tasks", "sleep_lasts_at_least_its_duration", sleep_lasts_at_least_its_duration},
    {"tasks", "yield_lets_others_run", yield_lets_others_run},
    {"sync", "mutex_excludes", mutex_excludes},
    {"sync", "run_alone_excludes_other_tasks", run_alone_excludes_other_tasks},
    {"sync", "condition_variable_and_semaphore_hand_over", condition_variable_and_semaphore_hand_over},
    {"channels", "deliver_in_order_under_contention", channel_delivers_in_order_under_contention},
    {"channels", "non_blocking_and_closing_rules", channel_non_blocking_and_closing_rules},
    {"channels", "block_until_space_or_data", channel_blocks_until_space_or_data},
    {"ownership", "counters_return_to_baseline", ownership_counters_return_to_baseline},
    {"ownership", "mapped_pages_permissions_and_sharing", mapped_pages_permissions_and_sharing},
    {"tasks", "spawn_and_join_many", spawn_and_join_many},
};
extern const std::size_t kTaskTestCount = sizeof kTaskTests / sizeof kTaskTests[0];

} // namespace delos::selftest
