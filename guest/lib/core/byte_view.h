// byte_view.h: a bounds-checked view of untrusted bytes; every read says whether it fits.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/core/error_or.h"

namespace delos {

class ByteView {
public:
    constexpr ByteView() = default;
    constexpr ByteView(const void* data, std::size_t size) : m_data(static_cast<const std::uint8_t*>(data)), m_size(size) {}

    constexpr const std::uint8_t* data() const { return m_data; }
    constexpr std::size_t size() const { return m_size; }
    constexpr bool empty() const { return m_size == 0; }

    // True when [offset, offset + length) lies inside the view, without overflowing.
    constexpr bool contains(std::uint64_t offset, std::uint64_t length) const
    {
        return offset <= m_size && length <= m_size - offset;
    }

    ErrorOr<ByteView> slice(std::uint64_t offset, std::uint64_t length) const
    {
        if (!contains(offset, length))
            return Error::make(ErrorCode::OutOfRange, "range lies outside the input", offset);
        return ByteView(m_data + offset, static_cast<std::size_t>(length));
    }

    // Copies a trivially-copyable T from an arbitrary (possibly unaligned) offset.
    template <typename T>
    ErrorOr<T> read(std::uint64_t offset) const
    {
        if (!contains(offset, sizeof(T)))
            return Error::make(ErrorCode::OutOfRange, "read lies outside the input", offset);
        T value;
        __builtin_memcpy(&value, m_data + offset, sizeof(T));
        return value;
    }

private:
    const std::uint8_t* m_data = nullptr;
    std::size_t m_size = 0;
};

} // namespace delos
