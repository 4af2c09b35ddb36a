// query_params.cpp: see query_params.h.
#include "query_params.h"

#include <algorithm>
#include <vector>

namespace delos::dashboard {

namespace {

int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

std::string decode(std::string_view part)
{
    std::string out;
    out.reserve(part.size());
    for (std::size_t i = 0; i < part.size(); ++i) {
        char c = part[i];
        if (c == '+') {
            out += ' ';
        } else if (c == '%') {
            if (i + 2 >= part.size())
                throw BadRequest("query: '%' must be followed by two hex digits");
            int high = hex_digit(part[i + 1]), low = hex_digit(part[i + 2]);
            if (high < 0 || low < 0)
                throw BadRequest("query: '%' must be followed by two hex digits");
            out += static_cast<char>(high * 16 + low);
            i += 2;
        } else {
            out += c;
        }
    }
    return out;
}

bool valid_text(std::string_view text)
{
    for (std::size_t i = 0; i < text.size();) {
        auto lead = static_cast<unsigned char>(text[i]);
        if (lead < 0x20 || lead == 0x7f)
            return false;
        std::size_t length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xe ? 3 : (lead >> 3) == 0x1e ? 4 : 0;
        if (length == 0 || i + length > text.size())
            return false;
        std::uint32_t code = length == 1 ? lead : length == 2 ? lead & 0x1f : length == 3 ? lead & 0x0f : lead & 0x07;
        for (std::size_t k = 1; k < length; ++k) {
            auto next = static_cast<unsigned char>(text[i + k]);
            if ((next & 0xc0) != 0x80)
                return false;
            code = (code << 6) | (next & 0x3f);
        }
        static constexpr std::uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
        if (code < smallest[length] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff))
            return false;
        i += length;
    }
    return true;
}

} // namespace

QueryParams QueryParams::parse(std::string_view query, const std::vector<std::string_view>& allowed)
{
    if (query.size() > kMaxQueryBytes)
        throw BadRequest("query: longer than " + std::to_string(kMaxQueryBytes) + " bytes");
    std::vector<std::string_view> parts;
    while (!query.empty()) {
        std::size_t end = query.find('&');
        if (!query.substr(0, end).empty())
            parts.push_back(query.substr(0, end));
        query = end == std::string_view::npos ? std::string_view() : query.substr(end + 1);
    }
    if (parts.size() > kMaxQueryParams)
        throw BadRequest("query: more than " + std::to_string(kMaxQueryParams) + " parameters");
    QueryParams params;
    for (std::string_view part : parts) {
        std::size_t equals = part.find('=');
        std::string name = decode(part.substr(0, equals));
        std::string value = equals == std::string_view::npos ? std::string() : decode(part.substr(equals + 1));
        if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
            std::string known;
            for (std::string_view each : allowed)
                known += (known.empty() ? "" : ", ") + std::string(each);
            throw BadRequest("query: unknown parameter " + (valid_text(name) && name.size() <= 64 ? "'" + name + "'" : std::string("(unprintable)"))
                             + (known.empty() ? std::string(" (this endpoint takes none)") : "; known: " + known));
        }
        if (value.size() > kMaxValueBytes)
            throw BadRequest("query: " + name + " is longer than " + std::to_string(kMaxValueBytes) + " bytes");
        if (!valid_text(value))
            throw BadRequest("query: " + name + " is not UTF-8 text (or holds control characters)");
        if (!params.m_values.emplace(name, value).second)
            throw BadRequest("query: " + name + " is given twice");
    }
    return params;
}

std::string QueryParams::text(const std::string& name, const std::string& fallback) const
{
    auto found = m_values.find(name);
    return found == m_values.end() || found->second.empty() ? fallback : found->second;
}

std::uint64_t QueryParams::number(const std::string& name, std::uint64_t fallback, std::uint64_t min,
                                  std::uint64_t max) const
{
    std::string value = text(name);
    if (value.empty())
        return fallback;
    if (value.size() > 20 || !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
        throw BadRequest("query: " + name + " must be a decimal number from " + std::to_string(min) + " to "
                         + std::to_string(max));
    std::uint64_t number = 0;
    for (char c : value) {
        std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
        if (number > (UINT64_MAX - digit) / 10)
            throw BadRequest("query: " + name + " is out of range (" + std::to_string(min) + " to " + std::to_string(max) + ")");
        number = number * 10 + digit;
    }
    if (number < min || number > max)
        throw BadRequest("query: " + name + " is out of range (" + std::to_string(min) + " to " + std::to_string(max) + ")");
    return number;
}

std::string QueryParams::choice(const std::string& name, std::initializer_list<std::string_view> choices,
                                const std::string& fallback) const
{
    std::string value = text(name);
    if (value.empty())
        return fallback;
    if (std::find(choices.begin(), choices.end(), value) != choices.end())
        return value;
    std::string known;
    for (std::string_view each : choices)
        known += (known.empty() ? "" : ", ") + std::string(each);
    throw BadRequest("query: " + name + " must be one of " + known);
}

} // namespace delos::dashboard
