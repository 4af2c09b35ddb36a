// kernel_task_inspector.cpp: conservative scans of other tasks' stacks for addresses in a cell.
#include "linker/kernel/kernel_task_inspector.h"

#include "sync/stop_machine.h"
#include "task/scheduler.h"
#include "task/task_registry.h"

namespace delos::loader {

ErrorOr<void> KernelTaskInspector::stop_others(const Vector<link::Region>& must_be_unreferenced)
{
    // The stop itself is the caller's: the swap must run inside stop_machine::run_alone().
    if (!stop_machine::running_alone())
        return Error::make(ErrorCode::Internal, "a swap's transfer must run alone (stop_machine::run_alone), and this one does not");
    if (!must_be_unreferenced.empty() && is_referenced(must_be_unreferenced))
        return Error::make(ErrorCode::Busy, "a task's stack or saved registers refer to the cell");
    return {};
}

bool KernelTaskInspector::is_referenced(const Vector<link::Region>& regions)
{
    if (regions.empty() || !task::scheduler::started())
        return false;
    task::Task* current = task::scheduler::current_task();
    bool referenced = false;
    task::registry::for_each([&](task::Task& task) {
        if (referenced || &task == current || task.state() == task::TaskState::Dead)
            return;
        if (task.state() == task::TaskState::Running) {
            // On another CPU, frozen by stop_machine::run_alone at a point its saved stack pointer
            // does not show (none today: one CPU). Counted as inside until the scan starts from
            // stop_machine::parked_stack_pointer() of its CPU: conservative, never too early.
            referenced = true;
            m_last_referrer = task.name();
            return;
        }
        // A task being unwound from a fault: the faulting frame's registers (its rip above all)
        // are kept in the task, not on its stack, until the unwind has left that frame; the
        // unwind looks that code's tables up (fault campaign: a retired copy collected under an
        // unwind that started in it left the unwinder without tables: a panic).
        if (task.m_unwinding) {
            for (std::uint64_t value : task.m_fault_registers) {
                if (link::regions_contain(regions, value)) {
                    referenced = true;
                    m_last_referrer = task.name();
                    return;
                }
            }
        }
        // The boot task runs on the boot stack and only calls into cells while it runs.
        if (!task.m_stack.valid())
            return;
        std::uint64_t top = task.m_stack.top();
        std::uint64_t from = task.m_saved_stack_pointer & ~std::uint64_t(7);
        if (from < task.m_stack.bottom() || from >= top)
            return;  // not switched out through a saved stack pointer we can trust
        for (std::uint64_t word = from; word < top; word += 8) {
            if (link::regions_contain(regions, *reinterpret_cast<const std::uint64_t*>(word))) {
                referenced = true;
                m_last_referrer = task.name();
                return;
            }
        }
    });
    return referenced;
}

} // namespace delos::loader
