// join_handle.h: JoinHandle<T>, the spawner's claim on a task: join() waits for the task to end
// and yields a TaskOutcome<T>: how it ended, its result if it returned, and what it still held.
// Dropping the handle without joining detaches the task.
#pragma once

#include <new>
#include <type_traits>
#include <utility>

#include "task/task.h"

namespace delos::task {

// Blocks until `task` has ended (join_handle.cpp).
void wait_for_end(Task& task);

template <typename T>
class TaskOutcome {
public:
    TaskOutcome(TaskEnd end, OwnershipAtEnd ownership) : m_end(end), m_ownership(ownership) {}
    TaskOutcome(T&& value, OwnershipAtEnd ownership) : m_end(TaskEnd::Returned), m_ownership(ownership), m_has_value(true)
    {
        new (&m_value) T(std::move(value));
    }
    TaskOutcome(TaskOutcome&& other)
        : m_end(other.m_end), m_ownership(other.m_ownership), m_fault(other.m_fault), m_has_value(other.m_has_value)
    {
        if (m_has_value)
            new (&m_value) T(std::move(other.m_value));
    }
    TaskOutcome(const TaskOutcome&) = delete;
    TaskOutcome& operator=(const TaskOutcome&) = delete;
    ~TaskOutcome()
    {
        if (m_has_value)
            m_value.~T();
    }

    TaskEnd end() const { return m_end; }
    bool returned() const { return m_has_value; }
    T& value() { return m_value; }
    T release_value() { return std::move(m_value); }
    // What the task still held when it ended (zeros: it released everything it owned).
    const OwnershipAtEnd& ownership_at_end() const { return m_ownership; }
    // The CPU exception it was unwound from, when end() is Faulted.
    const TaskFault& fault() const { return m_fault; }
    void set_fault(const TaskFault& fault) { m_fault = fault; }

private:
    TaskEnd m_end;
    OwnershipAtEnd m_ownership;
    TaskFault m_fault;
    bool m_has_value = false;
    union {
        T m_value;
    };
};

template <>
class TaskOutcome<void> {
public:
    TaskOutcome(TaskEnd end, OwnershipAtEnd ownership) : m_end(end), m_ownership(ownership) {}
    TaskEnd end() const { return m_end; }
    bool returned() const { return m_end == TaskEnd::Returned; }
    const OwnershipAtEnd& ownership_at_end() const { return m_ownership; }
    const TaskFault& fault() const { return m_fault; }
    void set_fault(const TaskFault& fault) { m_fault = fault; }

private:
    TaskEnd m_end;
    OwnershipAtEnd m_ownership;
    TaskFault m_fault;
};

template <typename T>
class JoinHandle {
public:
    JoinHandle() = default;
    explicit JoinHandle(Task* task) : m_task(task) {}  // adopts one reference
    JoinHandle(JoinHandle&& other) noexcept : m_task(other.m_task) { other.m_task = nullptr; }
    JoinHandle& operator=(JoinHandle&& other) noexcept
    {
        if (this != &other) {
            detach();
            m_task = other.m_task;
            other.m_task = nullptr;
        }
        return *this;
    }
    JoinHandle(const JoinHandle&) = delete;
    JoinHandle& operator=(const JoinHandle&) = delete;
    ~JoinHandle() { detach(); }

    bool valid() const { return m_task != nullptr; }
    TaskId id() const { return m_task->id(); }
    const Task& task() const { return *m_task; }
    bool is_finished() const;

    // Waits for the task to end; the handle is empty afterwards.
    TaskOutcome<T> join()
    {
        Task* task = m_task;
        m_task = nullptr;
        wait_for_end(*task);
        OwnershipAtEnd ownership = task->m_ownership_at_end;
        if constexpr (std::is_void_v<T>) {
            TaskOutcome<void> outcome(task->m_end, ownership);
            outcome.set_fault(task->m_fault);
            task->drop_reference();
            return outcome;
        } else {
            if (!task->m_destroy_result) {
                TaskOutcome<T> outcome(task->m_end, ownership);
                outcome.set_fault(task->m_fault);
                task->drop_reference();
                return outcome;
            }
            T* stored = std::launder(reinterpret_cast<T*>(task->m_result));
            TaskOutcome<T> outcome(std::move(*stored), ownership);
            stored->~T();
            task->m_destroy_result = nullptr;
            task->drop_reference();
            return outcome;
        }
    }

    // Lets the task run on unobserved; its record goes when it ends.
    void detach()
    {
        if (m_task) {
            m_task->drop_reference();
            m_task = nullptr;
        }
    }

private:
    Task* m_task = nullptr;
};

bool task_has_finished(Task& task);

template <typename T>
bool JoinHandle<T>::is_finished() const
{
    return m_task && task_has_finished(*m_task);
}

} // namespace delos::task
