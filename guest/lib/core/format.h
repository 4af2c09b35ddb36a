// format.h: type-safe "{}"-style formatting for freestanding code, into any sink with write(StringView).
// Supported specs: {} {:x} {:X} {:#x} {:b} {:d} with optional zero-fill and width, e.g. {:016x} {:>8} {:<8}.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "lib/core/string.h"
#include "lib/core/string_view.h"

namespace delos {

class FormatSink {
public:
    virtual void write(StringView text) = 0;

protected:
    ~FormatSink() = default;
};

struct FormatArgument {
    enum class Kind : std::uint8_t { Signed, Unsigned, Pointer, Text, Boolean, Character } kind;
    union {
        std::int64_t signed_value;
        std::uint64_t unsigned_value;
        const void* pointer;
        bool boolean;
        char character;
    };
    StringView text;

    template <typename T>
        requires(std::is_integral_v<T> && std::is_signed_v<T> && !std::is_same_v<T, char> && !std::is_same_v<T, bool>)
    FormatArgument(T value) : kind(Kind::Signed), signed_value(value) {}
    template <typename T>
        requires(std::is_integral_v<T> && std::is_unsigned_v<T> && !std::is_same_v<T, bool>)
    FormatArgument(T value) : kind(Kind::Unsigned), unsigned_value(value) {}
    template <typename T>
        requires std::is_enum_v<T>
    FormatArgument(T value) : FormatArgument(static_cast<std::underlying_type_t<T>>(value)) {}
    FormatArgument(bool value) : kind(Kind::Boolean), boolean(value) {}
    FormatArgument(char value) : kind(Kind::Character), character(value) {}
    FormatArgument(StringView value) : kind(Kind::Text), unsigned_value(0), text(value) {}
    FormatArgument(const char* value) : kind(Kind::Text), unsigned_value(0), text(value ? value : "(null)") {}
    FormatArgument(const String& value) : kind(Kind::Text), unsigned_value(0), text(value.view()) {}
    template <typename T>
    FormatArgument(T* value) : kind(Kind::Pointer), pointer(value) {}
};

void vformat(FormatSink& sink, StringView format, const FormatArgument* arguments, std::size_t count);

template <typename... Args>
void format_to(FormatSink& sink, StringView format, const Args&... args)
{
    if constexpr (sizeof...(Args) == 0) {
        vformat(sink, format, nullptr, 0);
    } else {
        const FormatArgument arguments[] = {FormatArgument(args)...};
        vformat(sink, format, arguments, sizeof...(Args));
    }
}

// Formats into a caller-provided buffer; output beyond the capacity is dropped (never overflows).
class FixedBufferSink final : public FormatSink {
public:
    FixedBufferSink(char* buffer, std::size_t capacity) : m_buffer(buffer), m_capacity(capacity) {}
    void write(StringView text) override;
    StringView view() const { return StringView(m_buffer, m_length); }
    bool truncated() const { return m_truncated; }

private:
    char* m_buffer;
    std::size_t m_capacity;
    std::size_t m_length = 0;
    bool m_truncated = false;
};

class StringSink final : public FormatSink {
public:
    void write(StringView text) override { m_string.append(text); }
    String& string() { return m_string; }

private:
    String m_string;
};

template <typename... Args>
String format(StringView format, const Args&... args)
{
    StringSink sink;
    format_to(sink, format, args...);
    return static_cast<String&&>(sink.string());
}

} // namespace delos
