// query_params.h: the dashboard API's query strings, parsed as hostile input: bounded length and
// count, strict percent-decoding, names from a fixed set per endpoint, values that must be UTF-8
// without control characters, integers in a stated range. Anything else is a BadRequest whose
// message says what was wrong (the API answers 400 with it).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace delos::dashboard {

class BadRequest : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

inline constexpr std::size_t kMaxQueryBytes = 2048;
inline constexpr std::size_t kMaxQueryParams = 16;
inline constexpr std::size_t kMaxValueBytes = 256;

class QueryParams {
public:
    // Parses "a=1&b=x%20y" (no leading '?'); '+' is a space. Throws BadRequest.
    static QueryParams parse(std::string_view query, const std::vector<std::string_view>& allowed);

    bool has(const std::string& name) const { return m_values.count(name) != 0; }
    // The value, or `fallback` when absent. Empty values count as absent.
    std::string text(const std::string& name, const std::string& fallback = {}) const;
    // An unsigned decimal in [min, max] (no sign, no spaces, no leading '+'), or `fallback`.
    std::uint64_t number(const std::string& name, std::uint64_t fallback, std::uint64_t min, std::uint64_t max) const;
    // One of `choices`, or `fallback`.
    std::string choice(const std::string& name, std::initializer_list<std::string_view> choices,
                       const std::string& fallback) const;

private:
    std::map<std::string, std::string> m_values;
};

} // namespace delos::dashboard
