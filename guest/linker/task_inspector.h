// task_inspector.h: what a swap needs from the kernel's scheduler: a moment when no other task
// runs, and whether any task's stack or saved context still refers to a cell's memory (the rule
// that keeps a replaced cell `retiring` until calls in flight have left it). Host tests, which
// run one thread, use SingleTaskInspector or a scripted one.
#pragma once

#include "lib/core/error_or.h"
#include "linker/section_memory.h"
#include "lib/core/vector.h"

namespace delos::link {

class TaskInspector {
public:
    // Called before a swap changes anything visible. Returns once no other task can run until
    // resume_others(), and no task's stack or saved context refers to `must_be_unreferenced`
    // (the memory of cells whose state is about to be handed over). An error (Busy while a task
    // is inside such a cell) refuses the swap with nothing changed; the caller may retry.
    virtual ErrorOr<void> stop_others(const Vector<Region>& must_be_unreferenced) = 0;
    virtual void resume_others() = 0;
    // Whether any task's stack (from its stack pointer up) or saved registers hold an address
    // inside one of `regions`: a call in flight, a return address, a pointer being used.
    virtual bool is_referenced(const Vector<Region>& regions) = 0;

protected:
    ~TaskInspector() = default;
};

// Only one task exists (or the caller already excludes all others): nothing else can refer.
class SingleTaskInspector final : public TaskInspector {
public:
    ErrorOr<void> stop_others(const Vector<Region>&) override { return {}; }
    void resume_others() override {}
    bool is_referenced(const Vector<Region>&) override { return false; }
};

// True when `address` lies in one of `regions`.
inline bool regions_contain(const Vector<Region>& regions, std::uint64_t address)
{
    for (const Region& region : regions) {
        if (region.contains(address))
            return true;
    }
    return false;
}

} // namespace delos::link
