// vector.h: a growable array for freestanding code (heap through operator new).
#pragma once

#include <cstddef>
#include <initializer_list>
#include <new>
#include <type_traits>
#include <utility>

namespace delos {

template <typename T>
class Vector {
public:
    Vector() = default;
    Vector(std::initializer_list<T> items)
    {
        reserve(items.size());
        for (const T& item : items)
            append(item);
    }
    Vector(const Vector& other) requires std::is_copy_constructible_v<T>
    {
        reserve(other.m_size);
        for (const T& item : other)
            append(item);
    }
    Vector(Vector&& other) noexcept : m_data(other.m_data), m_size(other.m_size), m_capacity(other.m_capacity)
    {
        other.m_data = nullptr;
        other.m_size = other.m_capacity = 0;
    }
    Vector& operator=(Vector&& other) noexcept
    {
        if (this != &other) {
            destroy();
            m_data = other.m_data;
            m_size = other.m_size;
            m_capacity = other.m_capacity;
            other.m_data = nullptr;
            other.m_size = other.m_capacity = 0;
        }
        return *this;
    }
    Vector& operator=(const Vector& other) requires std::is_copy_constructible_v<T>
    {
        if (this != &other) {
            Vector copy(other);
            *this = std::move(copy);
        }
        return *this;
    }
    ~Vector() { destroy(); }

    std::size_t size() const { return m_size; }
    std::size_t capacity() const { return m_capacity; }
    bool empty() const { return m_size == 0; }
    T* data() { return m_data; }
    const T* data() const { return m_data; }
    T* begin() { return m_data; }
    T* end() { return m_data + m_size; }
    const T* begin() const { return m_data; }
    const T* end() const { return m_data + m_size; }
    T& operator[](std::size_t index) { return m_data[index]; }
    const T& operator[](std::size_t index) const { return m_data[index]; }
    T& first() { return m_data[0]; }
    T& last() { return m_data[m_size - 1]; }
    const T& last() const { return m_data[m_size - 1]; }

    void reserve(std::size_t capacity)
    {
        if (capacity <= m_capacity)
            return;
        T* fresh = static_cast<T*>(::operator new(capacity * sizeof(T), std::align_val_t(alignof(T))));
        if constexpr (std::is_trivially_copyable_v<T>) {
            if (m_size)
                __builtin_memcpy(static_cast<void*>(fresh), static_cast<const void*>(m_data), m_size * sizeof(T));
        } else {
            for (std::size_t i = 0; i < m_size; ++i) {
                new (&fresh[i]) T(std::move(m_data[i]));
                m_data[i].~T();
            }
        }
        if (m_data)
            ::operator delete(m_data, std::align_val_t(alignof(T)));
        m_data = fresh;
        m_capacity = capacity;
    }

    template <typename... Args>
    T& emplace(Args&&... args)
    {
        if (m_size == m_capacity)
            reserve(m_capacity ? m_capacity * 2 : 4);
        T* slot = new (&m_data[m_size]) T(std::forward<Args>(args)...);
        ++m_size;
        return *slot;
    }
    void append(const T& value) { emplace(value); }
    void append(T&& value) { emplace(std::move(value)); }

    // Appends copies of items[0, count); trivially copyable items are copied as one block.
    void extend(const T* items, std::size_t count)
    {
        reserve_for_growth(count);
        if constexpr (std::is_trivially_copyable_v<T>) {
            if (count > 0)
                __builtin_memcpy(m_data + m_size, items, count * sizeof(T));
            m_size += count;
        } else {
            for (std::size_t i = 0; i < count; ++i)
                new (&m_data[m_size++]) T(items[i]);
        }
    }

    // Grows by `count` uninitialised items and returns the first, for buffers the caller fills
    // at once (encoders, I/O); avoids zeroing bytes that are about to be overwritten.
    T* grow_uninitialized(std::size_t count) requires std::is_trivial_v<T>
    {
        reserve_for_growth(count);
        T* first = m_data + m_size;
        m_size += count;
        return first;
    }

    void resize(std::size_t size) requires std::is_default_constructible_v<T>
    {
        reserve(size);
        if constexpr (std::is_trivially_default_constructible_v<T> && std::is_trivially_destructible_v<T>) {
            if (size > m_size)
                __builtin_memset(static_cast<void*>(m_data + m_size), 0, (size - m_size) * sizeof(T));
            m_size = size;  // no per-element work for plain bytes
            return;
        }
        while (m_size < size)
            emplace();
        while (m_size > size)
            take_last();
    }

    T take_last()
    {
        T value(std::move(m_data[m_size - 1]));
        m_data[--m_size].~T();
        return value;
    }

    void remove(std::size_t index)
    {
        for (std::size_t i = index; i + 1 < m_size; ++i)
            m_data[i] = std::move(m_data[i + 1]);
        m_data[--m_size].~T();
    }

    template <typename Predicate>
    std::size_t remove_all_matching(Predicate&& matches)
    {
        std::size_t kept = 0;
        for (std::size_t i = 0; i < m_size; ++i) {
            if (!matches(m_data[i])) {
                if (kept != i)
                    m_data[kept] = std::move(m_data[i]);
                ++kept;
            }
        }
        std::size_t removed = m_size - kept;
        while (m_size > kept)
            m_data[--m_size].~T();
        return removed;
    }

    void clear()
    {
        while (m_size > 0)
            m_data[--m_size].~T();
    }

private:
    // Room for `extra` more items, doubling so that repeated small appends stay linear.
    void reserve_for_growth(std::size_t extra)
    {
        std::size_t needed = m_size + extra;
        if (needed <= m_capacity)
            return;
        std::size_t doubled = m_capacity * 2;
        reserve(needed > doubled ? needed : doubled);
    }

    void destroy()
    {
        clear();
        if (m_data)
            ::operator delete(m_data, std::align_val_t(alignof(T)));
        m_data = nullptr;
        m_capacity = 0;
    }

    T* m_data = nullptr;
    std::size_t m_size = 0;
    std::size_t m_capacity = 0;
};

} // namespace delos
