// spawn.cpp: the non-template half of spawn: id, stack, identity, first switch frame, queueing.
#include "task/spawn.h"

#include "arch/x86_64/tsc.h"
#include "task/context_switch.h"
#include "task/task_registry.h"
#include "task/watchdog.h"

namespace delos::task {

namespace {
CellResolver g_cell_resolver = nullptr;
}

void set_cell_resolver(CellResolver resolver) { __atomic_store_n(&g_cell_resolver, resolver, __ATOMIC_RELEASE); }

CellId cell_for_new_task(std::uint64_t entry_address)
{
    CellResolver resolver = __atomic_load_n(&g_cell_resolver, __ATOMIC_ACQUIRE);
    if (CellId cell = resolver ? resolver(entry_address) : kKernelCell; cell != kKernelCell)
        return cell;
    Task* spawner = scheduler::current_task();
    return spawner ? spawner->cell() : kKernelCell;
}

ErrorOr<void> start_task(Task* task, const SpawnOptions& options)
{
    scheduler::ChargeToKernel kernel_resources;
    auto id = registry::add(task);
    if (id.is_error()) {
        delete task;
        return id.release_error();
    }
    task->m_id = id.value();
    auto stack = stack_cache::take(options.stack_pages);
    if (stack.is_error()) {
        delete task;
        return stack.release_error();
    }
    task->m_stack = stack.release_value();
    task->m_saved_stack_pointer = prepare_initial_stack(task->m_stack.top(), task);
    task->m_stack_limit = stack_limit_for(task->m_stack);
    task->m_entry_address = task->m_entry.invoker_address();
    task->m_cell = options.cell != kCellFromCode ? options.cell : cell_for_new_task(task->m_entry_address);
    std::uint64_t budget = options.watchdog_nanoseconds ? options.watchdog_nanoseconds : watchdog::budget_for_cell(task->m_cell);
    if (budget != watchdog::kNoBudget) {
        std::uint64_t ticks = budget / 1000 * (tsc::ticks_per_second() / 1000) / 1000;
        task->m_watchdog_budget_ticks = ticks ? ticks : 1;
    }
    task->add_reference();  // the join handle's
    scheduler::make_ready_new(task);
    return {};
}

} // namespace delos::task
