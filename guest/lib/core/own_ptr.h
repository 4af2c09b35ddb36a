// own_ptr.h: single ownership of a heap object (move-only; deletes in its destructor).
#pragma once

#include <utility>

namespace delos {

template <typename T>
class OwnPtr {
public:
    OwnPtr() = default;
    explicit OwnPtr(T* pointer) : m_pointer(pointer) {}
    OwnPtr(OwnPtr&& other) noexcept : m_pointer(other.leak()) {}
    template <typename U>
    OwnPtr(OwnPtr<U>&& other) noexcept : m_pointer(other.leak()) {}
    OwnPtr& operator=(OwnPtr&& other) noexcept
    {
        if (this != &other)
            reset(other.leak());
        return *this;
    }
    OwnPtr(const OwnPtr&) = delete;
    OwnPtr& operator=(const OwnPtr&) = delete;
    ~OwnPtr() { reset(); }

    T* get() const { return m_pointer; }
    T* operator->() const { return m_pointer; }
    T& operator*() const { return *m_pointer; }
    explicit operator bool() const { return m_pointer != nullptr; }
    T* leak()
    {
        T* pointer = m_pointer;
        m_pointer = nullptr;
        return pointer;
    }
    void reset(T* pointer = nullptr)
    {
        T* old = m_pointer;
        m_pointer = pointer;
        delete old;
    }

private:
    T* m_pointer = nullptr;
};

template <typename T, typename... Args>
OwnPtr<T> make_own(Args&&... args)
{
    return OwnPtr<T>(new T(std::forward<Args>(args)...));
}

} // namespace delos
