// string_view.h: a non-owning view of characters, usable in freestanding code.
#pragma once

#include <cstddef>

namespace delos {

class StringView {
public:
    constexpr StringView() = default;
    constexpr StringView(const char* data, std::size_t size) : m_data(data), m_size(size) {}
    constexpr StringView(const char* c_string) : m_data(c_string), m_size(c_string ? __builtin_strlen(c_string) : 0) {}

    constexpr const char* data() const { return m_data; }
    constexpr std::size_t size() const { return m_size; }
    constexpr bool empty() const { return m_size == 0; }
    constexpr char operator[](std::size_t index) const { return m_data[index]; }
    constexpr const char* begin() const { return m_data; }
    constexpr const char* end() const { return m_data + m_size; }

    constexpr bool operator==(StringView other) const
    {
        if (m_size != other.m_size)
            return false;
        for (std::size_t i = 0; i < m_size; ++i) {
            if (m_data[i] != other.m_data[i])
                return false;
        }
        return true;
    }

    constexpr bool operator!=(StringView other) const { return !(*this == other); }

    constexpr bool starts_with(StringView prefix) const
    {
        return prefix.m_size <= m_size && StringView(m_data, prefix.m_size) == prefix;
    }
    constexpr bool ends_with(StringView suffix) const
    {
        return suffix.m_size <= m_size && StringView(m_data + m_size - suffix.m_size, suffix.m_size) == suffix;
    }

    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

    constexpr std::size_t find(char c, std::size_t from = 0) const
    {
        for (std::size_t i = from; i < m_size; ++i) {
            if (m_data[i] == c)
                return i;
        }
        return npos;
    }

    constexpr StringView substr(std::size_t start, std::size_t length = npos) const
    {
        if (start > m_size)
            return {};
        std::size_t available = m_size - start;
        return StringView(m_data + start, length < available ? length : available);
    }

    // Lexicographic order, for sorted tables and binary search.
    constexpr int compare(StringView other) const
    {
        std::size_t common = m_size < other.m_size ? m_size : other.m_size;
        for (std::size_t i = 0; i < common; ++i) {
            if (m_data[i] != other.m_data[i])
                return static_cast<unsigned char>(m_data[i]) < static_cast<unsigned char>(other.m_data[i]) ? -1 : 1;
        }
        return m_size == other.m_size ? 0 : (m_size < other.m_size ? -1 : 1);
    }

private:
    const char* m_data = nullptr;
    std::size_t m_size = 0;
};

} // namespace delos
