// task_heap.h: an intrusive pairing heap of tasks (links in Task, no allocation), ordered by a
// comparator: the run queue orders by virtual runtime, the sleep queue by wake-up deadline.
// push is O(1), pop_min amortised O(log n), which keeps 10,000 ready tasks cheap.
#pragma once

#include <cstddef>

#include "task/task.h"

namespace delos::task {

template <typename Before>  // bool Before::operator()(const Task*, const Task*): a runs first
class TaskHeap {
public:
    bool empty() const { return m_root == nullptr; }
    std::size_t size() const { return m_size; }
    Task* peek() const { return m_root; }

    void push(Task* task)
    {
        task->m_heap_child = nullptr;
        task->m_heap_sibling = nullptr;
        m_root = meld(m_root, task);
        ++m_size;
    }

    Task* pop()
    {
        Task* top = m_root;
        if (!top)
            return nullptr;
        m_root = merge_pairs(top->m_heap_child);
        top->m_heap_child = top->m_heap_sibling = nullptr;
        --m_size;
        return top;
    }

private:
    static Task* meld(Task* a, Task* b)
    {
        if (!a)
            return b;
        if (!b)
            return a;
        if (Before()(b, a)) {
            Task* swap = a;
            a = b;
            b = swap;
        }
        b->m_heap_sibling = a->m_heap_child;
        a->m_heap_child = b;
        return a;
    }

    // Two-pass pairing, iteratively: meld neighbours left to right, then fold right to left.
    static Task* merge_pairs(Task* first)
    {
        Task* paired = nullptr;  // melded pairs, in reverse order through m_heap_sibling
        while (first) {
            Task* a = first;
            Task* b = a->m_heap_sibling;
            first = b ? b->m_heap_sibling : nullptr;
            a->m_heap_sibling = nullptr;
            if (b)
                b->m_heap_sibling = nullptr;
            Task* pair = meld(a, b);
            pair->m_heap_sibling = paired;
            paired = pair;
        }
        Task* result = nullptr;
        while (paired) {
            Task* next = paired->m_heap_sibling;
            paired->m_heap_sibling = nullptr;
            result = meld(result, paired);
            paired = next;
        }
        return result;
    }

    Task* m_root = nullptr;
    std::size_t m_size = 0;
};

} // namespace delos::task
