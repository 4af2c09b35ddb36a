// format.cpp: the formatting engine behind format_to(): parses "{...}" specs and renders arguments.
#include "lib/core/format.h"

namespace delos {

namespace {

struct Spec {
    char fill = ' ';
    bool left_align = false;
    bool alternate = false;  // '#': 0x / 0b prefix
    std::size_t width = 0;
    char type = 0;           // 0, 'x', 'X', 'b', 'd', 'c', 's', 'p'
};

Spec parse_spec(StringView spec)
{
    Spec result;
    std::size_t i = 0;
    if (i < spec.size() && (spec[i] == '<' || spec[i] == '>')) {
        result.left_align = spec[i] == '<';
        ++i;
    }
    if (i < spec.size() && spec[i] == '#') {
        result.alternate = true;
        ++i;
    }
    if (i < spec.size() && spec[i] == '0') {
        result.fill = '0';
        ++i;
    }
    while (i < spec.size() && spec[i] >= '0' && spec[i] <= '9') {
        result.width = result.width * 10 + static_cast<std::size_t>(spec[i] - '0');
        if (result.width > 64)
            result.width = 64;
        ++i;
    }
    if (i < spec.size())
        result.type = spec[i];
    return result;
}

void emit_padded(FormatSink& sink, const Spec& spec, StringView prefix, StringView body)
{
    std::size_t length = prefix.size() + body.size();
    std::size_t padding = spec.width > length ? spec.width - length : 0;
    char pad[64];
    for (std::size_t i = 0; i < padding && i < sizeof pad; ++i)
        pad[i] = spec.fill;
    StringView pad_view(pad, padding < sizeof pad ? padding : sizeof pad);
    if (spec.left_align) {
        sink.write(prefix);
        sink.write(body);
        if (spec.fill == '0')
            for (std::size_t i = 0; i < pad_view.size(); ++i) pad[i] = ' ';
        sink.write(pad_view);
    } else if (spec.fill == '0') {
        sink.write(prefix);  // zeros go between the prefix and the digits: 0x0000ff
        sink.write(pad_view);
        sink.write(body);
    } else {
        sink.write(pad_view);
        sink.write(prefix);
        sink.write(body);
    }
}

void emit_unsigned(FormatSink& sink, const Spec& spec, std::uint64_t value, bool negative)
{
    unsigned base = 10;
    const char* digits = "0123456789abcdef";
    StringView prefix = negative ? StringView("-") : StringView();
    switch (spec.type) {
    case 'x':
    case 'p':
        base = 16;
        if (spec.alternate || spec.type == 'p')
            prefix = "0x";
        break;
    case 'X':
        base = 16;
        digits = "0123456789ABCDEF";
        if (spec.alternate)
            prefix = "0x";
        break;
    case 'b':
        base = 2;
        if (spec.alternate)
            prefix = "0b";
        break;
    default:
        break;
    }
    char buffer[64];
    std::size_t position = sizeof buffer;
    do {
        buffer[--position] = digits[value % base];
        value /= base;
    } while (value != 0);
    emit_padded(sink, spec, prefix, StringView(buffer + position, sizeof buffer - position));
}

void emit_argument(FormatSink& sink, const Spec& spec, const FormatArgument& argument)
{
    using Kind = FormatArgument::Kind;
    switch (argument.kind) {
    case Kind::Signed: {
        std::int64_t value = argument.signed_value;
        if (value < 0 && spec.type != 'x' && spec.type != 'X' && spec.type != 'b')
            emit_unsigned(sink, spec, 0 - static_cast<std::uint64_t>(value), true);
        else
            emit_unsigned(sink, spec, static_cast<std::uint64_t>(value), false);
        return;
    }
    case Kind::Unsigned:
        emit_unsigned(sink, spec, argument.unsigned_value, false);
        return;
    case Kind::Pointer: {
        Spec pointer_spec = spec;
        if (pointer_spec.type == 0)
            pointer_spec.type = 'p';
        emit_unsigned(sink, pointer_spec, reinterpret_cast<std::uintptr_t>(argument.pointer), false);
        return;
    }
    case Kind::Text:
        emit_padded(sink, spec, StringView(), argument.text);
        return;
    case Kind::Boolean:
        emit_padded(sink, spec, StringView(), argument.boolean ? "true" : "false");
        return;
    case Kind::Character:
        emit_padded(sink, spec, StringView(), StringView(&argument.character, 1));
        return;
    }
}

} // namespace

void vformat(FormatSink& sink, StringView format, const FormatArgument* arguments, std::size_t count)
{
    std::size_t next_argument = 0;
    std::size_t literal_start = 0;
    std::size_t i = 0;
    while (i < format.size()) {
        char c = format[i];
        if ((c == '{' || c == '}') && i + 1 < format.size() && format[i + 1] == c) {
            sink.write(format.substr(literal_start, i + 1 - literal_start));  // "{{" -> "{"
            i += 2;
            literal_start = i;
            continue;
        }
        if (c != '{') {
            ++i;
            continue;
        }
        std::size_t close = format.find('}', i);
        if (close == StringView::npos)
            break;
        sink.write(format.substr(literal_start, i - literal_start));
        StringView inside = format.substr(i + 1, close - i - 1);
        Spec spec = inside.starts_with(":") ? parse_spec(inside.substr(1)) : Spec{};
        if (next_argument < count)
            emit_argument(sink, spec, arguments[next_argument++]);
        else
            sink.write("{?}");  // a missing argument shows up in the output instead of reading garbage
        i = close + 1;
        literal_start = i;
    }
    sink.write(format.substr(literal_start));
}

void FixedBufferSink::write(StringView text)
{
    for (char c : text) {
        if (m_length == m_capacity) {
            m_truncated = true;
            return;
        }
        m_buffer[m_length++] = c;
    }
}

} // namespace delos
