// string.h: an owning, growable byte string for freestanding code.
#pragma once

#include <cstddef>

#include "lib/core/string_view.h"
#include "lib/core/vector.h"

namespace delos {

class String {
public:
    String() = default;
    String(StringView view) { append(view); }
    String(const char* c_string) : String(StringView(c_string)) {}

    StringView view() const { return StringView(m_bytes.data(), m_bytes.size()); }
    operator StringView() const { return view(); }
    const char* data() const { return m_bytes.data(); }
    std::size_t size() const { return m_bytes.size(); }
    bool empty() const { return m_bytes.empty(); }
    char operator[](std::size_t index) const { return m_bytes[index]; }
    bool operator==(StringView other) const { return view() == other; }

    // A NUL-terminated copy is kept after the last byte, so C APIs can read it.
    const char* c_str()
    {
        m_bytes.reserve(m_bytes.size() + 1);
        m_bytes.data()[m_bytes.size()] = 0;
        return m_bytes.data() ? m_bytes.data() : "";
    }

    void append(char c) { m_bytes.append(c); }
    void append(StringView view)
    {
        std::size_t needed = m_bytes.size() + view.size();
        if (needed > m_bytes.capacity())
            m_bytes.reserve(needed > m_bytes.capacity() * 2 ? needed : m_bytes.capacity() * 2);  // amortised O(1)
        std::size_t at = m_bytes.size();
        m_bytes.resize(needed);
        if (!view.empty())
            __builtin_memcpy(m_bytes.data() + at, view.data(), view.size());
    }
    void clear() { m_bytes.clear(); }

private:
    Vector<char> m_bytes;
};

} // namespace delos
