// channel.h: typed, bounded channels between tasks. make_channel<T>(capacity) gives a Sender and
// a Receiver; both can be cloned (many producers, many consumers). send blocks while the channel
// is full, receive while it is empty; try_* never block. Messages arrive in the order they were
// sent. When every Receiver is gone, sends fail; when every Sender is gone, receives drain what
// is left and then fail.
#pragma once

#include <atomic>
#include <cstddef>
#include <new>
#include <utility>

#include "lib/core/error_or.h"
#include "sync/spin_lock.h"
#include "task/wait_queue.h"

namespace delos::task {

template <typename T>
class ChannelState {
public:
    ~ChannelState()
    {
        while (m_count > 0) {
            slot(m_head)->~T();
            m_head = (m_head + 1) % m_capacity;
            --m_count;
        }
        ::operator delete(m_ring);
    }

    SpinLock lock;
    WaitQueue not_empty;
    WaitQueue not_full;
    std::size_t senders = 1;
    std::size_t receivers = 1;
    std::atomic<std::size_t> handles{2};

    std::size_t m_capacity = 0;
    std::size_t m_head = 0;
    std::size_t m_count = 0;
    T* m_ring = nullptr;

    T* slot(std::size_t index) { return std::launder(&m_ring[index]); }
    void push(T&& value)
    {
        new (&m_ring[(m_head + m_count) % m_capacity]) T(std::move(value));
        ++m_count;
    }
    T pop()
    {
        T* at = slot(m_head);
        T value = std::move(*at);
        at->~T();
        m_head = (m_head + 1) % m_capacity;
        --m_count;
        return value;
    }
    void drop_handle()
    {
        if (handles.fetch_sub(1, std::memory_order_acq_rel) == 1)
            delete this;
    }
};

template <typename T>
class Sender {
public:
    Sender() = default;
    explicit Sender(ChannelState<T>* state) : m_state(state) {}
    Sender(Sender&& other) noexcept : m_state(other.m_state) { other.m_state = nullptr; }
    Sender& operator=(Sender&& other) noexcept
    {
        if (this != &other) {
            close();
            m_state = other.m_state;
            other.m_state = nullptr;
        }
        return *this;
    }
    Sender(const Sender&) = delete;
    Sender& operator=(const Sender&) = delete;
    ~Sender() { close(); }

    Sender clone() const
    {
        SpinLockGuard guard(m_state->lock);
        ++m_state->senders;
        m_state->handles.fetch_add(1, std::memory_order_relaxed);
        return Sender(m_state);
    }

    // Blocks while full. Fails (and drops `value`) once no Receiver is left.
    ErrorOr<void> send(T value)
    {
        ChannelState<T>& state = *m_state;
        bool restore = state.lock.lock();
        while (state.m_count == state.m_capacity && state.receivers > 0)
            state.not_full.wait(state.lock);
        if (state.receivers == 0) {
            state.lock.unlock(restore);
            return Error::make(ErrorCode::NotFound, "channel: every receiver is gone");
        }
        state.push(std::move(value));
        state.not_empty.wake_one();
        state.lock.unlock(restore);
        return {};
    }

    // Never blocks: Busy when full (and `value` is left untouched), NotFound when no Receiver is left.
    ErrorOr<void> try_send(T& value)
    {
        ChannelState<T>& state = *m_state;
        SpinLockGuard guard(state.lock);
        if (state.receivers == 0)
            return Error::make(ErrorCode::NotFound, "channel: every receiver is gone");
        if (state.m_count == state.m_capacity)
            return Error::make(ErrorCode::Busy, "channel: full", state.m_capacity);
        state.push(std::move(value));
        state.not_empty.wake_one();
        return {};
    }

    void close()
    {
        if (!m_state)
            return;
        {
            SpinLockGuard guard(m_state->lock);
            if (--m_state->senders == 0)
                m_state->not_empty.wake_all();
        }
        m_state->drop_handle();
        m_state = nullptr;
    }

private:
    ChannelState<T>* m_state = nullptr;
};

template <typename T>
class Receiver {
public:
    Receiver() = default;
    explicit Receiver(ChannelState<T>* state) : m_state(state) {}
    Receiver(Receiver&& other) noexcept : m_state(other.m_state) { other.m_state = nullptr; }
    Receiver& operator=(Receiver&& other) noexcept
    {
        if (this != &other) {
            close();
            m_state = other.m_state;
            other.m_state = nullptr;
        }
        return *this;
    }
    Receiver(const Receiver&) = delete;
    Receiver& operator=(const Receiver&) = delete;
    ~Receiver() { close(); }

    Receiver clone() const
    {
        SpinLockGuard guard(m_state->lock);
        ++m_state->receivers;
        m_state->handles.fetch_add(1, std::memory_order_relaxed);
        return Receiver(m_state);
    }

    // Blocks while empty. Fails once empty with no Sender left.
    ErrorOr<T> receive()
    {
        ChannelState<T>& state = *m_state;
        bool restore = state.lock.lock();
        while (state.m_count == 0 && state.senders > 0)
            state.not_empty.wait(state.lock);
        if (state.m_count == 0) {
            state.lock.unlock(restore);
            return Error::make(ErrorCode::NotFound, "channel: empty and every sender is gone");
        }
        T value = state.pop();
        state.not_full.wake_one();
        state.lock.unlock(restore);
        return value;
    }

    // Never blocks: Busy when empty, NotFound when empty with no Sender left.
    ErrorOr<T> try_receive()
    {
        ChannelState<T>& state = *m_state;
        SpinLockGuard guard(state.lock);
        if (state.m_count == 0) {
            if (state.senders == 0)
                return Error::make(ErrorCode::NotFound, "channel: empty and every sender is gone");
            return Error::make(ErrorCode::Busy, "channel: empty");
        }
        T value = state.pop();
        state.not_full.wake_one();
        return value;
    }

    void close()
    {
        if (!m_state)
            return;
        {
            SpinLockGuard guard(m_state->lock);
            if (--m_state->receivers == 0)
                m_state->not_full.wake_all();
        }
        m_state->drop_handle();
        m_state = nullptr;
    }

private:
    ChannelState<T>* m_state = nullptr;
};

template <typename T>
struct Channel {
    Sender<T> sender;
    Receiver<T> receiver;
};

// A channel that holds up to `capacity` messages.
template <typename T>
ErrorOr<Channel<T>> make_channel(std::size_t capacity)
{
    if (capacity == 0)
        return Error::make(ErrorCode::InvalidArgument, "channel: capacity must be at least 1");
    auto* state = new (std::nothrow) ChannelState<T>();
    if (!state)
        return Error::make(ErrorCode::OutOfMemory, "channel: no memory for its state");
    static_assert(alignof(T) <= 16, "channel messages are at most 16-byte aligned");
    state->m_ring = static_cast<T*>(::operator new(capacity * sizeof(T), std::nothrow));
    if (!state->m_ring) {
        delete state;
        return Error::make(ErrorCode::OutOfMemory, "channel: no memory for its ring", capacity);
    }
    state->m_capacity = capacity;
    return Channel<T>{Sender<T>(state), Receiver<T>(state)};
}

} // namespace delos::task
