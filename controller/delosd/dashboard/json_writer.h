// json_writer.h: a small streaming JSON writer for the dashboard's API. Strings are escaped for
// JSON and for embedding in HTML (<, >, & and U+2028/9 as \u escapes); bytes that are not UTF-8
// become U+FFFD, so whatever a guest or a request put in a name comes out as inert text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace delos::dashboard {

class JsonWriter {
public:
    JsonWriter& begin_object();
    JsonWriter& end_object();
    JsonWriter& begin_array();
    JsonWriter& end_array();
    JsonWriter& key(std::string_view name);
    JsonWriter& value(std::string_view text);
    JsonWriter& value(const char* text) { return value(std::string_view(text)); }
    JsonWriter& value(const std::string& text) { return value(std::string_view(text)); }
    JsonWriter& value(std::int64_t number);
    JsonWriter& value(std::uint64_t number);
    JsonWriter& value(int number) { return value(static_cast<std::int64_t>(number)); }
    JsonWriter& value(unsigned number) { return value(static_cast<std::uint64_t>(number)); }
    JsonWriter& value(bool flag);
    JsonWriter& value(double number);
    JsonWriter& null();
    // An already-serialized JSON value (e.g. protobuf's JSON mapping of a message).
    JsonWriter& raw(std::string_view json);

    // key(name).value(v) in one call.
    template <typename T>
    JsonWriter& field(std::string_view name, const T& v)
    {
        key(name);
        return value(v);
    }

    const std::string& text() const { return m_out; }
    std::string take() { return std::move(m_out); }

private:
    void before_value();

    std::string m_out;
    std::vector<bool> m_first;  // per open container: nothing written in it yet
    bool m_after_key = false;
};

// The escaped JSON string literal (with quotes) for `text`.
std::string json_string(std::string_view text);

} // namespace delos::dashboard
