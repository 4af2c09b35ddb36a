// spawn.h: spawn(name, callable) starts a task that runs a move-only callable (which owns what
// it captured) and returns a JoinHandle for its result.
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

#include "lib/core/error_or.h"
#include "lib/core/string_view.h"
#include "task/join_handle.h"
#include "task/scheduler.h"
#include "task/stack_cache.h"
#include "task/task.h"

namespace delos::task {

struct SpawnOptions {
    Priority priority = Priority::Normal;
    std::size_t stack_pages = stack_cache::kDefaultStackPages;
    // The cell the task runs in. Left as kCellFromCode, it is the cell holding the closure's
    // code (the resolver's answer), or, for a closure in kernel code, the spawning task's cell:
    // a task started on a cell's behalf belongs to that cell. The cell loader names it outright
    // for the tasks that run a cell's entries.
    CellId cell = kCellFromCode;
    // How long the task may run without waiting before the watchdog unwinds it (watchdog.h):
    // 0 = its cell's budget (none for the kernel's own tasks), watchdog::kNoBudget = never.
    std::uint64_t watchdog_nanoseconds = 0;
};

// Gives a prepared task an id, a stack and a place in the run queue; deletes it on failure.
ErrorOr<void> start_task(Task* task, const SpawnOptions& options);

// Which cell the code at an address belongs to (kKernelCell for the kernel image); installed by
// the cell loader (linker/kernel/cell_manager.cpp). Called at every spawn, from any task: it must not
// block.
using CellResolver = CellId (*)(std::uint64_t address);
void set_cell_resolver(CellResolver resolver);
// The cell a task with this entry address, spawned now by the current task, would belong to.
CellId cell_for_new_task(std::uint64_t entry_address);

template <typename Callable>
auto spawn(StringView name, Callable&& callable, SpawnOptions options = {})
    -> ErrorOr<JoinHandle<std::invoke_result_t<std::decay_t<Callable>&>>>
{
    using Result = std::invoke_result_t<std::decay_t<Callable>&>;
    if constexpr (!std::is_void_v<Result>)
        static_assert(sizeof(Result) <= kInlineResultSize && alignof(Result) <= 16,
                      "a task's result must fit Task::m_result; return an OwnPtr for larger results");
    Task* task;
    {
        scheduler::ChargeToKernel kernel_record;  // the record is the kernel's; what the task allocates is its own
        task = new (std::nothrow) Task(name, options.priority);
        if (!task)
            return Error::make(ErrorCode::OutOfMemory, "spawn: no memory for the task record");
        task->m_entry = [callable = std::forward<Callable>(callable)](Task& self) mutable {
            if constexpr (std::is_void_v<Result>) {
                callable();
            } else {
                new (self.m_result) Result(callable());
                self.m_destroy_result = [](void* value) { std::launder(static_cast<Result*>(value))->~Result(); };
            }
        };
    }
    TRY(start_task(task, options));
    return JoinHandle<Result>(task);
}

} // namespace delos::task
