// gdb_remote_protocol.cpp: GDB remote serial protocol framing and encoding.
#include "gdb_remote_protocol.h"

namespace delos::fault_campaign::gdb {

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

constexpr char kHexDigits[] = "0123456789abcdef";

} // namespace

std::uint8_t checksum(std::string_view payload)
{
    unsigned sum = 0;
    for (char c : payload)
        sum += static_cast<unsigned char>(c);
    return static_cast<std::uint8_t>(sum & 0xff);
}

std::string frame_packet(std::string_view payload)
{
    std::string escaped;
    escaped.reserve(payload.size() + 4);
    for (char c : payload) {
        if (c == '$' || c == '#' || c == '}' || c == '*') {
            escaped.push_back('}');
            escaped.push_back(static_cast<char>(c ^ 0x20));
        } else {
            escaped.push_back(c);
        }
    }
    std::uint8_t sum = checksum(escaped);
    std::string packet = "$" + escaped + "#";
    packet.push_back(kHexDigits[sum >> 4]);
    packet.push_back(kHexDigits[sum & 0xf]);
    return packet;
}

void PacketReader::feed(std::string_view bytes)
{
    std::size_t room = kMaxPacketBytes > m_buffer.size() ? kMaxPacketBytes - m_buffer.size() : 0;
    m_buffer.append(bytes.substr(0, room));
}

std::optional<PacketReader::Packet> PacketReader::next()
{
    // Skip acks and noise up to the start of a packet.
    std::size_t start = m_buffer.find('$');
    if (start == std::string::npos) {
        m_buffer.clear();
        return std::nullopt;
    }
    std::size_t hash = m_buffer.find('#', start + 1);
    if (hash == std::string::npos || hash + 3 > m_buffer.size()) {
        m_buffer.erase(0, start);
        if (m_buffer.size() >= kMaxPacketBytes) {
            m_buffer.clear();
            return Packet{"", false};  // never ended: drop it and say so
        }
        return std::nullopt;
    }
    std::string_view raw(m_buffer.data() + start + 1, hash - start - 1);
    int high = hex_digit(m_buffer[hash + 1]);
    int low = hex_digit(m_buffer[hash + 2]);
    Packet packet;
    packet.checksum_ok = high >= 0 && low >= 0 && checksum(raw) == static_cast<std::uint8_t>(high * 16 + low);
    for (std::size_t i = 0; i < raw.size(); ++i) {
        char c = raw[i];
        if (c == '}' && i + 1 < raw.size()) {
            packet.payload.push_back(static_cast<char>(raw[++i] ^ 0x20));
        } else if (c == '*' && i + 1 < raw.size() && !packet.payload.empty()) {
            // Run-length: the previous byte repeated (count - 29) more times.
            int count = static_cast<unsigned char>(raw[++i]) - 29;
            if (count < 0 || count > 126) {
                packet.checksum_ok = false;
                continue;
            }
            packet.payload.append(static_cast<std::size_t>(count), packet.payload.back());
        } else {
            packet.payload.push_back(c);
        }
    }
    m_buffer.erase(0, hash + 3);
    return packet;
}

std::string to_hex(const std::vector<std::uint8_t>& bytes)
{
    std::string text;
    text.reserve(bytes.size() * 2);
    for (std::uint8_t byte : bytes) {
        text.push_back(kHexDigits[byte >> 4]);
        text.push_back(kHexDigits[byte & 0xf]);
    }
    return text;
}

std::optional<std::vector<std::uint8_t>> from_hex(std::string_view text)
{
    if (text.size() % 2 != 0)
        return std::nullopt;
    std::vector<std::uint8_t> bytes;
    bytes.reserve(text.size() / 2);
    for (std::size_t i = 0; i < text.size(); i += 2) {
        int high = hex_digit(text[i]);
        int low = hex_digit(text[i + 1]);
        if (high < 0 || low < 0)
            return std::nullopt;
        bytes.push_back(static_cast<std::uint8_t>(high * 16 + low));
    }
    return bytes;
}

std::optional<std::uint64_t> register_from_hex(std::string_view text)
{
    auto bytes = from_hex(text);
    if (!bytes || bytes->size() != 8)
        return std::nullopt;
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < 8; ++i)
        value |= static_cast<std::uint64_t>((*bytes)[i]) << (8 * i);
    return value;
}

std::string register_to_hex(std::uint64_t value)
{
    std::vector<std::uint8_t> bytes(8);
    for (std::size_t i = 0; i < 8; ++i)
        bytes[i] = static_cast<std::uint8_t>(value >> (8 * i));
    return to_hex(bytes);
}

std::optional<std::uint64_t> register_in_block(std::string_view block, int number)
{
    if (number < 0 || number > 16)
        return std::nullopt;
    std::size_t at = static_cast<std::size_t>(number) * 16;
    if (block.size() < at + 16)
        return std::nullopt;
    return register_from_hex(block.substr(at, 16));
}

std::optional<std::string> block_with_register(std::string_view block, int number, std::uint64_t value)
{
    if (!register_in_block(block, number) || !from_hex(block))
        return std::nullopt;
    std::string updated(block);
    updated.replace(static_cast<std::size_t>(number) * 16, 16, register_to_hex(value));
    return updated;
}

std::optional<StopReply> parse_stop_reply(std::string_view payload)
{
    if (payload.size() < 3)
        return std::nullopt;
    StopReply reply;
    switch (payload[0]) {
    case 'S':
    case 'T':
        reply.kind = StopReply::Kind::Stopped;
        break;
    case 'W':
        reply.kind = StopReply::Kind::Exited;
        break;
    case 'X':
        reply.kind = StopReply::Kind::Killed;
        break;
    default:
        return std::nullopt;
    }
    int high = hex_digit(payload[1]);
    int low = hex_digit(payload[2]);
    if (high < 0 || low < 0)
        return std::nullopt;
    reply.code = static_cast<std::uint8_t>(high * 16 + low);
    return reply;
}

bool is_ok(std::string_view payload) { return payload == "OK"; }

bool is_error_reply(std::string_view payload)
{
    return payload.size() == 3 && payload[0] == 'E' && hex_digit(payload[1]) >= 0 && hex_digit(payload[2]) >= 0;
}

} // namespace delos::fault_campaign::gdb
