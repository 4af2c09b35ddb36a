// restartable_tasks.h: tasks that fault recovery spawns again after a fault (Theseus's
// restartable tasks): spawn_restartable takes a closure factory, and each instance runs a fresh
// closure from it; a cell's service task (delos_cell_service_start, called from its init) is
// one too. An instance that returns is not restarted; one that faults is, within the policy's
// limit (docs/fault-recovery.md). Stopping one (a quarantine, a reload, an unload of its cell)
// ends the restarts and asks the running instance to stop.
#pragma once

#include <cstdint>

#include "lib/core/error_or.h"
#include "lib/core/function.h"
#include "lib/core/string_view.h"
#include "task/spawn.h"
#include "task/task.h"

namespace delos::recovery {

using RestartableId = std::uint32_t;  // 0: none
using TaskBody = UniqueFunction<void()>;
using TaskFactory = UniqueFunction<TaskBody()>;

inline constexpr std::size_t kMaxRestartableTasks = 64;

ErrorOr<RestartableId> spawn_restartable(StringView name, TaskFactory factory, task::SpawnOptions options = {});
// A cell's service task: as spawn_restartable, recorded as a service of `cell`, so it is stopped
// before that cell's code is replaced, quarantined or unloaded (its new copy starts its own).
ErrorOr<RestartableId> spawn_cell_service(StringView cell, StringView name, TaskFactory factory, task::SpawnOptions options);

struct RestartableStatus {
    bool known = false;
    task::TaskId task = 0;        // the current (or last) instance
    std::uint64_t restarts = 0;   // instances spawned after faults
    bool running = false;         // the current instance has not ended
    bool gave_up = false;         // it faulted more often than the policy restarts
    bool stopping = false;
};
RestartableStatus restartable_status(RestartableId id);

// No more restarts; the running instance is asked to stop (stop_requested()) and waited for up
// to `wait_ns`. Returns whether it has ended. The record goes once its instance has ended.
bool stop_restartable(RestartableId id, std::uint64_t wait_ns);
// Stops every service task of `cell` (as stop_restartable); returns how many had not ended in time.
std::uint32_t stop_cell_services(StringView cell, std::uint64_t wait_ns);
// For the running task: its restartable record was stopped.
bool stop_requested();

// --- for the recovery service ---

// In the exception hook (no blocking): the restartable record of `task`, and whether it is
// to be spawned again after this fault (its history updated), given the policy for its cell.
// Returns 0 if the task is not restartable. `cell_of_record` gets its cell's name ("" for a
// plain restartable task).
RestartableId restartable_of(task::TaskId task);
bool decide_task_restart(RestartableId id, std::uint64_t now_ns, const char** cell_of_record);
// Spawns the next instance (the previous one has ended). Errors leave the record given up.
ErrorOr<task::TaskId> restart(RestartableId id);
// Drops a record whose instance ended and that will not restart (given up, stopped, returned).
void release_if_done(RestartableId id);

} // namespace delos::recovery

// The cell ABI (guest/abi/cell_kernel_interface.txt): a cell's init starts its service tasks;
// each loops until delos_cell_service_pause says to stop. 0 on success, -1 if refused.
extern "C" int delos_cell_service_start(const char* name, void (*entry)());
// Sleeps about `nanoseconds`; returns true once the service is asked to stop.
extern "C" bool delos_cell_service_pause(std::uint64_t nanoseconds);
