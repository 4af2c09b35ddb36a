// supervisor.cpp: restart, reload and hang handling for the fault-campaign workloads.
#include "fc_driver/supervisor.h"

#include "arch/x86_64/tsc.h"
#include "linker/kernel/cell_manager.h"
#include "log/kernel_log.h"
#include "task/scheduler.h"
#include "task/spawn.h"

namespace delos::fault_workload {

ErrorOr<void> TargetCell::reload()
{
    TRY(loader::cell_manager().reload(m_name));
    return {};
}

ErrorOr<CallLedger::CodeRange> TargetCell::code_range()
{
    {
        SpinLockGuard guard(m_cache_lock);
        if (m_cached_cell != 0 && loader::cell_manager().cell_at(m_cached_range.start) == m_cached_cell
            && loader::cell_manager().cell_at(m_cached_range.start + m_cached_range.size - 1) == m_cached_cell)
            return m_cached_range;
    }
    auto range = TRY(code_range_of(m_name));
    SpinLockGuard guard(m_cache_lock);
    m_cached_range = range;
    m_cached_cell = loader::cell_manager().cell_at(range.start);
    return range;
}

ErrorOr<CallLedger::CodeRange> code_range_of(StringView name)
{
    auto code = TRY(loader::cell_manager().code_range(name));
    return CallLedger::CodeRange{code.address, code.size};
}

void Supervisor::note_released(std::uint64_t objects, std::uint64_t bytes)
{
    __atomic_add_fetch(&m_statistics.released, objects, __ATOMIC_RELAXED);
    __atomic_add_fetch(&m_statistics.released_bytes, bytes, __ATOMIC_RELAXED);
}

void WorkerSlot::begin_item()
{
    items_begun.fetch_add(1, std::memory_order_acq_rel);
    busy_since.store(tsc::nanoseconds_since_boot() | 1, std::memory_order_release);
}

Supervisor::~Supervisor()
{
    if (m_task.valid())
        finish();
}

ErrorOr<void> Supervisor::add_worker(StringView name, WorkerBody body, void* context, WorkerCleanup cleanup)
{
    if (m_slot_count == kMaxWorkers)
        return Error::make(ErrorCode::OutOfRange, "supervisor: too many workers", m_slot_count);
    WorkerSlot& slot = m_slots[m_slot_count++];
    slot.name = name;
    slot.body = body;
    slot.cleanup = cleanup;
    slot.context = context;
    slot.slot_index = m_slot_count - 1;
    return spawn_worker(slot);
}

ErrorOr<void> Supervisor::spawn_worker(WorkerSlot& slot)
{
    slot.busy_since.store(0, std::memory_order_release);
    slot.items_begun.store(0, std::memory_order_release);
    slot.retire.store(false, std::memory_order_release);
    slot.target_generation_at_spawn = loader::cell_manager().live_generation(m_target.name());
    WorkerSlot* target = &slot;
    slot.handle = TRY(task::spawn(slot.name, [target] { target->body(target->context, *target); }));
    return {};
}

ErrorOr<void> Supervisor::start()
{
    m_task = TRY(task::spawn("fc.supervisor", [this] { supervise(); }));
    return {};
}

void Supervisor::note_wrong_answer()
{
    __atomic_add_fetch(&m_statistics.wrong_answers, 1, __ATOMIC_RELAXED);
    m_wrong_pending.store(1, std::memory_order_release);
    for (std::size_t i = 0; i < m_slot_count; ++i)
        m_slots[i].retire.store(true, std::memory_order_release);
}

void Supervisor::reload_target()
{
    if (auto reloaded = m_target.reload(); reloaded.is_error()) {
        ++m_statistics.reload_failures;
        kprint("fc: reload of {} failed: {}: {}\n", m_target.name(), reloaded.error().message, reloaded.error().explanation());
        return;
    }
    ++m_statistics.reloads;
}

bool Supervisor::note_fault_without_progress(WorkerSlot& slot)
{
    if (slot.items_begun.load(std::memory_order_acquire) > 1)
        slot.faults_without_progress = 0;  // it finished an item before this fault: a new streak
    if (++slot.faults_without_progress < kFaultsWithoutProgressBeforeReload)
        return false;
    slot.faults_without_progress = 0;
    if (loader::cell_manager().live_generation(m_target.name()) != slot.target_generation_at_spawn)
        return false;  // reloaded while this incarnation ran (the kernel's policy): that copy is fresh
    kprint("fc: worker {} faulted again before finishing an item: reloading {}\n", slot.name, m_target.name());
    return true;
}

// One pass over the workers; true once every worker has returned or was given up on.
bool Supervisor::poll(bool stopping)
{
    std::uint64_t now = tsc::nanoseconds_since_boot();
    bool reload = m_wrong_pending.exchange(0, std::memory_order_acq_rel) != 0;
    bool all_done = true;
    for (std::size_t i = 0; i < m_slot_count; ++i) {
        WorkerSlot& slot = m_slots[i];
        if (slot.done)
            continue;
        if (slot.handle.valid() && slot.handle.is_finished()) {
            auto outcome = slot.handle.join();
            if (outcome.end() == task::TaskEnd::Faulted) {
                ++m_statistics.faults;
                if (slot.cleanup)
                    slot.cleanup(slot.context, slot);
                if (note_fault_without_progress(slot))
                    reload = true;
            } else if (stopping) {
                slot.done = true;  // its input closed: the normal end
                continue;
            }
        }
        std::uint64_t busy_since = slot.busy_since.load(std::memory_order_acquire);
        if (slot.handle.valid() && busy_since != 0 && now > busy_since && now - busy_since > kHangNs) {
            ++m_statistics.hung;
            kprint("fc: worker {} stuck in one item for {} ms: given up on\n", slot.name, (now - busy_since) / 1'000'000);
            slot.handle.detach();
            reload = true;
        }
        if (!slot.handle.valid()) {
            if (stopping && busy_since != 0) {
                slot.done = true;  // given up while stopping: nothing left to serve
                continue;
            }
            if (reload) {
                reload_target();
                reload = false;
            }
            if (spawn_worker(slot).is_error()) {
                kprint("fc: could not restart worker {}\n", slot.name);
                slot.done = true;
                continue;
            }
            ++m_statistics.restarts;
        }
        all_done = false;
    }
    if (reload)
        reload_target();
    return all_done;
}

void Supervisor::supervise()
{
    for (;;) {
        bool stopping = m_stopping.load(std::memory_order_acquire);
        if (poll(stopping) && stopping)
            return;
        if (stopping) {
            std::uint64_t now = tsc::nanoseconds_since_boot();
            if (m_stopping_since_ns == 0)
                m_stopping_since_ns = now;
            if (now - m_stopping_since_ns > kHangNs) {
                for (std::size_t i = 0; i < m_slot_count; ++i) {
                    if (!m_slots[i].done && m_slots[i].handle.valid()) {
                        ++m_statistics.hung;
                        kprint("fc: worker {} did not stop: given up on\n", m_slots[i].name);
                        m_slots[i].handle.detach();
                    }
                }
                return;
            }
        }
        task::scheduler::sleep_for(1'000'000);
    }
}

void Supervisor::finish()
{
    m_stopping.store(true, std::memory_order_release);
    if (m_task.valid())
        (void)m_task.join();
}

} // namespace delos::fault_workload
