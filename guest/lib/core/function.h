// function.h: UniqueFunction<R(Args...)>, a move-only callable (like Rust's FnOnce/FnMut boxes) for
// freestanding code: it owns what the callable captures and destroys it with itself. Small
// callables live inline (no heap allocation), larger ones on the heap through operator new.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

namespace delos {

template <typename Signature>
class UniqueFunction;

template <typename R, typename... Args>
class UniqueFunction<R(Args...)> {
public:
    // Callables up to this size (and 16-byte alignment) that move without throwing are stored inline.
    static constexpr std::size_t kInlineSize = 48;

    UniqueFunction() = default;
    UniqueFunction(std::nullptr_t) {}

    template <typename F>
        requires(!std::is_same_v<std::remove_cvref_t<F>, UniqueFunction> && std::is_invocable_r_v<R, std::decay_t<F>&, Args...>)
    UniqueFunction(F&& callable)
    {
        using Callable = std::decay_t<F>;
        if constexpr (stored_inline<Callable>()) {
            new (m_storage) Callable(std::forward<F>(callable));
            m_operations = &kInlineOperations<Callable>;
        } else {
            *reinterpret_cast<Callable**>(m_storage) = new Callable(std::forward<F>(callable));
            m_operations = &kHeapOperations<Callable>;
        }
    }

    UniqueFunction(UniqueFunction&& other) noexcept { take(other); }
    UniqueFunction& operator=(UniqueFunction&& other) noexcept
    {
        if (this != &other) {
            reset();
            take(other);
        }
        return *this;
    }
    UniqueFunction(const UniqueFunction&) = delete;
    UniqueFunction& operator=(const UniqueFunction&) = delete;
    ~UniqueFunction() { reset(); }

    explicit operator bool() const { return m_operations != nullptr; }
    bool is_inline() const { return m_operations && m_operations->inline_storage; }
    // Address of the code that calls the stored callable (instantiated beside it, so it tells
    // which code unit the callable comes from); 0 when empty.
    std::uintptr_t invoker_address() const { return m_operations ? reinterpret_cast<std::uintptr_t>(m_operations->invoke) : 0; }

    // Calls the callable; calling an empty UniqueFunction is a bug (it traps).
    R operator()(Args... args)
    {
        if (!m_operations)
            __builtin_trap();
        return m_operations->invoke(m_storage, std::forward<Args>(args)...);
    }

    // Destroys the callable and everything it captured now, leaving this empty.
    void reset()
    {
        if (m_operations) {
            m_operations->destroy(m_storage);
            m_operations = nullptr;
        }
    }

private:
    struct Operations {
        R (*invoke)(void* storage, Args&&... args);
        void (*move_to)(void* from, void* to);  // move-constructs into `to` and destroys `from`
        void (*destroy)(void* storage);
        bool inline_storage;
    };

    template <typename Callable>
    static constexpr bool stored_inline()
    {
        return sizeof(Callable) <= kInlineSize && alignof(Callable) <= 16 && std::is_nothrow_move_constructible_v<Callable>;
    }

    template <typename Callable>
    static constexpr Operations kInlineOperations = {
        [](void* storage, Args&&... args) -> R { return (*static_cast<Callable*>(storage))(std::forward<Args>(args)...); },
        [](void* from, void* to) {
            new (to) Callable(std::move(*static_cast<Callable*>(from)));
            static_cast<Callable*>(from)->~Callable();
        },
        [](void* storage) { static_cast<Callable*>(storage)->~Callable(); },
        true,
    };

    template <typename Callable>
    static constexpr Operations kHeapOperations = {
        [](void* storage, Args&&... args) -> R { return (**static_cast<Callable**>(storage))(std::forward<Args>(args)...); },
        [](void* from, void* to) { *static_cast<Callable**>(to) = *static_cast<Callable**>(from); },
        [](void* storage) { delete *static_cast<Callable**>(storage); },
        false,
    };

    void take(UniqueFunction& other)
    {
        if (other.m_operations) {
            other.m_operations->move_to(other.m_storage, m_storage);
            m_operations = other.m_operations;
            other.m_operations = nullptr;
        }
    }

    alignas(16) unsigned char m_storage[kInlineSize];
    const Operations* m_operations = nullptr;
};

} // namespace delos
