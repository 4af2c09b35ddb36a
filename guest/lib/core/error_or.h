// error_or.h: errors as values for freestanding guest code and the host code that shares it.
#pragma once

#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

#include "lib/core/string_view.h"

namespace delos {

// Broad classes of failure; the message says exactly what went wrong.
enum class ErrorCode : std::uint16_t {
    InvalidArgument = 1,
    Malformed,        // input bytes do not follow their format
    OutOfRange,       // an index, offset or size points outside what exists
    Unsupported,      // well-formed but not something we implement
    NotFound,
    AlreadyExists,
    Busy,             // refused because something still uses it
    OutOfMemory,
    Overflow,         // a value does not fit where it must go
    PermissionDenied,
    Io,
    Timeout,
    Internal,
};

const char* error_code_name(ErrorCode code);

// An owned, immutable explanation attached to an error: the names a static message cannot
// carry (symbol, section, cell). Shared by reference count, so copying an Error stays cheap and
// never fails; if memory for it cannot be had, the error simply has no detail.
class ErrorDetail {
public:
    constexpr ErrorDetail() = default;
    explicit ErrorDetail(StringView text);
    // The three parts joined, e.g. (context, ": ", inner).
    ErrorDetail(StringView first, StringView second, StringView third);
    ErrorDetail(const ErrorDetail& other) : m_block(other.m_block) { retain(); }
    ErrorDetail(ErrorDetail&& other) noexcept : m_block(other.m_block) { other.m_block = nullptr; }
    ErrorDetail& operator=(const ErrorDetail& other)
    {
        if (m_block != other.m_block) {
            release();
            m_block = other.m_block;
            retain();
        }
        return *this;
    }
    ErrorDetail& operator=(ErrorDetail&& other) noexcept
    {
        if (this != &other) {
            release();
            m_block = other.m_block;
            other.m_block = nullptr;
        }
        return *this;
    }
    constexpr ~ErrorDetail()
    {
        if (m_block)
            release();
    }

    bool empty() const { return m_block == nullptr; }
    StringView text() const
    {
        const Block* block = checked_block();
        return block ? StringView(block->text, block->size) : StringView();
    }

private:
    struct Block {
        std::uint32_t mark;
        std::uint32_t references;
        std::uint32_t size;
        char text[];
    };
    // Inline, so a cell that only passes errors along imports nothing for them but operator delete.
    // A block's first word. An ErrorDetail that was never constructed (the ErrorOr a skipped or
    // corrupted call left unwritten in its caller's stack slot) holds a stale pointer: counting
    // through it would write into whatever object now lives there (seen in the fault campaign:
    // a client's channel, found corrupted later with a spin lock held). A block without the mark
    // stops the task where it is, before anything is written.
    static constexpr std::uint32_t kBlockMark = 0xe7707de7;
    Block* checked_block() const
    {
        if (m_block && m_block->mark != kBlockMark)
            __builtin_trap();
        return m_block;
    }
    void retain()
    {
        if (Block* block = checked_block())
            __atomic_fetch_add(&block->references, 1, __ATOMIC_RELAXED);
    }
    void release()
    {
        if (Block* block = checked_block(); block && __atomic_sub_fetch(&block->references, 1, __ATOMIC_ACQ_REL) == 0) {
            block->mark = 0;
            ::operator delete(static_cast<void*>(block));
        }
        m_block = nullptr;
    }

    Block* m_block = nullptr;
};

// An error carries a static human-readable message and, where useful, the offending value
// (an index, an offset, a relocation type) and an owned detail naming what the message cannot
// (a symbol, a section, a cell), so the whole reason reaches whoever asked.
struct Error {
    ErrorCode code = ErrorCode::Internal;
    const char* message = "";
    std::uint64_t value = 0;
    bool has_value = false;
    ErrorDetail detail{};

    static constexpr Error make(ErrorCode code, const char* message) { return Error{code, message, 0, false}; }
    static constexpr Error make(ErrorCode code, const char* message, std::uint64_t value)
    {
        return Error{code, message, value, true};
    }

    // The same error with `text` as its detail (replacing any it had).
    Error with_detail(StringView text) const&
    {
        Error copy = *this;
        copy.detail = ErrorDetail(text);
        return copy;
    }
    Error with_detail(StringView text) &&
    {
        detail = ErrorDetail(text);
        return static_cast<Error&&>(*this);
    }
    // The same error explained one level up: "<context>: <detail, or message if none>".
    Error with_context(StringView context) const;

    bool has_detail() const { return !detail.empty(); }
    // The most specific explanation there is: the detail if any, else the static message.
    StringView explanation() const { return detail.empty() ? StringView(message) : detail.text(); }
};

template <typename T>
class [[nodiscard]] ErrorOr {
public:
    ErrorOr(const T& value) requires std::is_copy_constructible_v<T> : m_has_value(true) { new (&m_value) T(value); }
    ErrorOr(T&& value) : m_has_value(true) { new (&m_value) T(std::move(value)); }
    template <typename U>
        requires(std::is_constructible_v<T, U&&> && !std::is_same_v<std::remove_cvref_t<U>, T>
                 && !std::is_same_v<std::remove_cvref_t<U>, Error> && !std::is_same_v<std::remove_cvref_t<U>, ErrorOr>)
    ErrorOr(U&& value) : m_has_value(true) { new (&m_value) T(std::forward<U>(value)); }
    ErrorOr(Error error) : m_error(std::move(error)), m_has_value(false) {}

    ErrorOr(ErrorOr&& other) : m_has_value(other.m_has_value)
    {
        if (m_has_value)
            new (&m_value) T(std::move(other.m_value));
        else
            m_error = std::move(other.m_error);
    }
    ErrorOr(const ErrorOr&) = delete;
    ErrorOr& operator=(const ErrorOr&) = delete;
    ErrorOr& operator=(ErrorOr&& other)
    {
        if (this != &other) {
            this->~ErrorOr();
            new (this) ErrorOr(std::move(other));
        }
        return *this;
    }
    ~ErrorOr()
    {
        if (m_has_value)
            m_value.~T();
    }

    bool is_error() const { return !m_has_value; }
    explicit operator bool() const { return m_has_value; }
    const Error& error() const { return m_error; }
    T& value() { return m_value; }
    const T& value() const { return m_value; }
    T* operator->() { return &m_value; }
    T& operator*() { return m_value; }
    T release_value() { return std::move(m_value); }
    Error release_error() { return std::move(m_error); }

private:
    union {
        T m_value;
    };
    Error m_error{};
    bool m_has_value;
};

template <>
class [[nodiscard]] ErrorOr<void> {
public:
    ErrorOr() = default;
    ErrorOr(Error error) : m_error(std::move(error)), m_has_error(true) {}
    bool is_error() const { return m_has_error; }
    explicit operator bool() const { return !m_has_error; }
    const Error& error() const { return m_error; }
    void release_value() {}
    Error release_error() { return std::move(m_error); }

private:
    Error m_error{};
    bool m_has_error = false;
};

} // namespace delos

// TRY(expr): evaluate an ErrorOr; on error return it from the enclosing function, else yield the value.
#define TRY(expression)                                  \
    ({                                                   \
        auto&& _try_result = (expression);               \
        if (_try_result.is_error()) [[unlikely]]         \
            return _try_result.release_error();          \
        _try_result.release_value();                     \
    })
