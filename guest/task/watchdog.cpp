// watchdog.cpp: per-cell watchdog budgets and the handler the timer tick calls.
#include "task/watchdog.h"

#include "sync/spin_lock.h"

namespace delos::task::watchdog {

namespace {

struct CellBudget {
    CellId cell;
    std::uint64_t nanoseconds;
};

constexpr std::size_t kCellBudgets = 32;
SpinLock g_lock;
CellBudget g_cell_budgets[kCellBudgets] = {};
std::size_t g_cell_budget_count = 0;
std::uint64_t g_default_budget = kDefaultCellBudgetNanoseconds;
Handler g_handler = nullptr;
Statistics g_statistics{};

} // namespace

ErrorOr<void> set_cell_budget(CellId cell, std::uint64_t nanoseconds)
{
    SpinLockGuard guard(g_lock);
    for (std::size_t i = 0; i < g_cell_budget_count; ++i) {
        if (g_cell_budgets[i].cell != cell)
            continue;
        if (nanoseconds == 0)
            g_cell_budgets[i] = g_cell_budgets[--g_cell_budget_count];
        else
            g_cell_budgets[i].nanoseconds = nanoseconds;
        return {};
    }
    if (nanoseconds == 0)
        return {};
    if (g_cell_budget_count == kCellBudgets)
        return Error::make(ErrorCode::OutOfMemory, "watchdog: no room for another cell's budget");
    g_cell_budgets[g_cell_budget_count++] = {cell, nanoseconds};
    return {};
}

void set_default_budget(std::uint64_t nanoseconds)
{
    SpinLockGuard guard(g_lock);
    g_default_budget = nanoseconds ? nanoseconds : kDefaultCellBudgetNanoseconds;
}

std::uint64_t budget_for_cell(CellId cell)
{
    SpinLockGuard guard(g_lock);
    for (std::size_t i = 0; i < g_cell_budget_count; ++i)
        if (g_cell_budgets[i].cell == cell)
            return g_cell_budgets[i].nanoseconds;
    return cell == kKernelCell ? kNoBudget : g_default_budget;
}

void set_handler(Handler handler) { __atomic_store_n(&g_handler, handler, __ATOMIC_RELEASE); }
Handler handler() { return __atomic_load_n(&g_handler, __ATOMIC_ACQUIRE); }

Statistics statistics()
{
    SpinLockGuard guard(g_lock);
    return g_statistics;
}

void count_expiry(bool unwound)
{
    SpinLockGuard guard(g_lock);
    ++g_statistics.expired;
    if (unwound)
        ++g_statistics.unwound;
}

} // namespace delos::task::watchdog
