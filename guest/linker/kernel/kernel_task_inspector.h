// kernel_task_inspector.h: the kernel's TaskInspector for swaps: whether any task's stack or
// saved context refers to a cell's memory, found by scanning every other task's stack from its
// saved stack pointer up (which holds its saved registers, the interrupt frame of a preempted
// task and every return address), conservatively: any word that lies in the cell counts.
#pragma once

#include "linker/task_inspector.h"

namespace delos::loader {

// Used inside stop_machine::run_alone() (the cell manager's run_swap): no other task runs on any
// CPU until it returns, so stop_others() only checks that and scans, it does not stop anyone.
class KernelTaskInspector final : public link::TaskInspector {
public:
    ErrorOr<void> stop_others(const Vector<link::Region>& must_be_unreferenced) override;
    void resume_others() override {}
    bool is_referenced(const Vector<link::Region>& regions) override;

    // Tasks found referring to a region by the last is_referenced() that said yes (for reports).
    const char* last_referrer() const { return m_last_referrer; }

private:
    const char* m_last_referrer = "";
};

} // namespace delos::loader
