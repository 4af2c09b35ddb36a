// restartable_tasks.cpp: the table of restartable tasks (a closure factory each, the current
// instance's task id, its restart history) and the cell service ABI on top of it.
#include "recovery_policy/restartable_tasks.h"

#include "debug/kernel_symbols.h"
#include "linker/kernel/cell_manager.h"
#include "log/kernel_log.h"
#include "recovery_policy/cell_records.h"
#include "sync/spin_lock.h"
#include "task/join_handle.h"
#include "task/task_registry.h"
#include "task/scheduler.h"

namespace delos::recovery {

namespace {

struct Record {
    RestartableId id = 0;  // 0: a free slot
    char name[task::kTaskNameLength] = {};
    char cell[kCellNameLength] = {};  // a cell service's cell; "" for a plain restartable task
    task::SpawnOptions options;
    TaskFactory factory;
    task::TaskId task = 0;            // the current instance (detached: it goes when it ends)
    bool starting = false;            // an instance is being spawned
    RestartHistory history;
    bool stopping = false;
    bool pending_restart = false;     // decided in the exception hook, done by the recovery service
};

SpinLock g_lock;
Record g_records[kMaxRestartableTasks];
RestartableId g_next_id = 1;

template <std::size_t N>
void copy_name(char (&out)[N], StringView name)
{
    std::size_t size = name.size() < N - 1 ? name.size() : N - 1;
    for (std::size_t i = 0; i < size; ++i)
        out[i] = name[i];
    out[size] = '\0';
}

// Under g_lock.
Record* find(RestartableId id)
{
    if (id == 0)
        return nullptr;
    for (Record& record : g_records) {
        if (record.id == id)
            return &record;
    }
    return nullptr;
}

// Detached instances leave the registry when they end; ids are not reused soon (generations).
bool instance_ended(Record& record)
{
    if (record.starting)
        return false;
    if (record.task == 0)
        return true;
    task::Task* task = task::registry::find(record.task);
    return !task || task->state() == task::TaskState::Dead;
}

// Under g_lock: a record whose instance ended and that will not be restarted gives its slot up;
// the factory (its captures) is handed out to be destroyed outside the lock.
bool reap(Record& record, TaskFactory& factory_out)
{
    if (record.id == 0 || record.pending_restart || !instance_ended(record))
        return false;
    factory_out = static_cast<TaskFactory&&>(record.factory);
    record = Record{};
    return true;
}

// Spawns the record's next instance; the instance names itself in the record before it runs its
// body, so a fault in the body always finds the record.
ErrorOr<task::TaskId> spawn_instance(RestartableId id)
{
    TaskBody body;
    char name[task::kTaskNameLength];
    task::SpawnOptions options;
    {
        SpinLockGuard guard(g_lock);
        Record* record = find(id);
        if (!record)
            return Error::make(ErrorCode::NotFound, "no restartable task with that id", id);
        if (record->stopping)
            return Error::make(ErrorCode::Busy, "the restartable task is stopping", id);
        __builtin_memcpy(name, record->name, sizeof name);
        options = record->options;
        record->starting = true;
    }
    // Only the spawner and the recovery service (one at a time per record) call the factory.
    Record* record;
    {
        SpinLockGuard guard(g_lock);
        record = find(id);
    }
    body = record->factory();
    auto spawned = task::spawn(StringView(name), [id, body = static_cast<TaskBody&&>(body)]() mutable {
        {
            SpinLockGuard guard(g_lock);
            if (Record* self = find(id))
                self->task = task::scheduler::current_task_id();
        }
        body();
    }, options);
    SpinLockGuard guard(g_lock);
    Record* self = find(id);
    if (self)
        self->starting = false;
    if (spawned.is_error())
        return spawned.release_error();
    task::TaskId task_id = spawned.value().id();
    spawned.value().detach();
    if (self)
        self->task = task_id;
    return task_id;
}

} // namespace

ErrorOr<RestartableId> spawn_restartable(StringView name, TaskFactory factory, task::SpawnOptions options)
{
    return spawn_cell_service(StringView(), name, static_cast<TaskFactory&&>(factory), options);
}

ErrorOr<RestartableId> spawn_cell_service(StringView cell, StringView name, TaskFactory factory, task::SpawnOptions options)
{
    if (!factory)
        return Error::make(ErrorCode::InvalidArgument, "a restartable task needs a factory");
    RestartableId id = 0;
    TaskFactory reaped[kMaxRestartableTasks];
    {
        SpinLockGuard guard(g_lock);
        for (std::size_t i = 0; i < kMaxRestartableTasks; ++i)
            (void)reap(g_records[i], reaped[i]);
        for (Record& record : g_records) {
            if (record.id != 0)
                continue;
            id = g_next_id++;
            if (g_next_id == 0)
                g_next_id = 1;
            record.id = id;
            copy_name(record.name, name);
            copy_name(record.cell, cell);
            record.options = options;
            record.factory = static_cast<TaskFactory&&>(factory);
            break;
        }
    }
    if (id == 0)
        return Error::make(ErrorCode::OutOfMemory, "no free restartable task record", kMaxRestartableTasks);
    auto started = spawn_instance(id);
    if (started.is_error()) {
        TaskFactory dropped;
        SpinLockGuard guard(g_lock);
        if (Record* record = find(id)) {
            dropped = static_cast<TaskFactory&&>(record->factory);
            *record = Record{};
        }
        return started.release_error();
    }
    return id;
}

RestartableStatus restartable_status(RestartableId id)
{
    RestartableStatus status;
    SpinLockGuard guard(g_lock);
    Record* record = find(id);
    if (!record)
        return status;
    status.known = true;
    status.task = record->task;
    status.restarts = record->history.restarts;
    status.running = !instance_ended(*record);
    status.gave_up = record->history.gave_up;
    status.stopping = record->stopping;
    return status;
}

bool stop_restartable(RestartableId id, std::uint64_t wait_ns)
{
    {
        SpinLockGuard guard(g_lock);
        Record* record = find(id);
        if (!record)
            return true;
        record->stopping = true;
    }
    for (std::uint64_t waited = 0;; waited += 1'000'000) {
        TaskFactory dropped;
        {
            SpinLockGuard guard(g_lock);
            Record* record = find(id);
            if (!record)
                return true;
            if (instance_ended(*record)) {
                record->pending_restart = false;
                (void)reap(*record, dropped);
                return true;
            }
        }
        if (waited >= wait_ns || !task::scheduler::started())
            return false;
        task::scheduler::sleep_for(1'000'000);
    }
}

std::uint32_t stop_cell_services(StringView cell, std::uint64_t wait_ns)
{
    RestartableId ids[kMaxRestartableTasks];
    std::size_t count = 0;
    {
        SpinLockGuard guard(g_lock);
        for (Record& record : g_records) {
            if (record.id != 0 && record.cell[0] != '\0' && StringView(record.cell) == cell) {
                record.stopping = true;
                ids[count++] = record.id;
            }
        }
    }
    std::uint32_t still_running = 0;
    for (std::size_t i = 0; i < count; ++i) {
        if (!stop_restartable(ids[i], wait_ns))
            ++still_running;
    }
    if (still_running > 0 && wait_ns > 0)
        kprint("recovery: {} service task(s) of cell {} did not stop in time; they run on in its old code\n", still_running, cell);
    return still_running;
}

bool stop_requested()
{
    task::TaskId self = task::scheduler::current_task_id();
    SpinLockGuard guard(g_lock);
    for (Record& record : g_records) {
        if (record.id != 0 && record.task == self)
            return record.stopping;
    }
    return false;
}

RestartableId restartable_of(task::TaskId task)
{
    SpinLockGuard guard(g_lock);
    for (Record& record : g_records) {
        if (record.id != 0 && record.task == task)
            return record.id;
    }
    return 0;
}

bool decide_task_restart(RestartableId id, std::uint64_t now_ns, const char** cell_of_record)
{
    char cell[kCellNameLength] = {};
    {
        SpinLockGuard guard(g_lock);
        Record* record = find(id);
        if (!record)
            return false;
        __builtin_memcpy(cell, record->cell, sizeof cell);
    }
    RecoveryPolicy policy = policy_for(StringView(cell));
    SpinLockGuard guard(g_lock);
    Record* record = find(id);
    if (!record)
        return false;
    if (cell_of_record)
        *cell_of_record = record->cell;
    if (record->stopping)
        return false;
    record->pending_restart = decide_restart(record->history, policy, now_ns);
    return record->pending_restart;
}

ErrorOr<task::TaskId> restart(RestartableId id)
{
    auto spawned = spawn_instance(id);
    SpinLockGuard guard(g_lock);
    if (Record* record = find(id)) {
        record->pending_restart = false;
        if (spawned.is_error())
            record->history.gave_up = true;
        else if (record->cell[0] != '\0')
            note_task_restart(StringView(record->cell));
    }
    return spawned;
}

void release_if_done(RestartableId id)
{
    TaskFactory dropped;
    SpinLockGuard guard(g_lock);
    if (Record* record = find(id))
        (void)reap(*record, dropped);
}

} // namespace delos::recovery

using namespace delos;

extern "C" int delos_cell_service_start(const char* name, void (*entry)())
{
    if (!name || !entry)
        return -1;
    kernel_symbols::Symbol symbol;
    kernel_symbols::CodeOwner owner;
    // The cell whose code the entry is (also a cell still loading, or a reloaded copy in its init).
    if (!kernel_symbols::symbolize(reinterpret_cast<std::uint64_t>(entry), symbol, owner) || owner.name.empty()
        || owner.name == "kernel") {
        kprint("recovery: a service entry at {:#x} is not in a cell; refused\n", reinterpret_cast<std::uint64_t>(entry));
        return -1;
    }
    task::SpawnOptions options;
    options.cell = loader::cell_manager().id_of(owner.name);
    auto id = recovery::spawn_cell_service(owner.name, StringView(name),
                                           [entry]() -> recovery::TaskBody { return [entry] { entry(); }; }, options);
    if (id.is_error()) {
        kprint("recovery: service {} of cell {} not started: {}\n", StringView(name), owner.name, id.error().message);
        return -1;
    }
    return 0;
}

extern "C" bool delos_cell_service_pause(std::uint64_t nanoseconds)
{
    if (nanoseconds > 0)
        task::scheduler::sleep_for(nanoseconds);
    return recovery::stop_requested();
}
