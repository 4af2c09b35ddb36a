// gdb_remote_protocol.h: the GDB remote serial protocol, the subset the fault injector speaks to
// QEMU's gdbstub (and that a delos-vmm debug socket would speak): packet framing and checksums,
// hex encoding, little-endian register values, and stop replies. Pure functions, no I/O: every
// byte from the stub is treated as hostile and a malformed reply is an error, never a crash.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace delos::fault_campaign::gdb {

// "$<payload>#<two hex digits of the sum of the payload bytes mod 256>"; '$', '#', '}' and '*'
// in the payload are escaped ('}' then the byte xor 0x20).
std::string frame_packet(std::string_view payload);
std::uint8_t checksum(std::string_view payload);

// Takes complete packets off the front of a byte stream. Acks ('+'/'-') and the stub's
// interrupt echo are skipped; a packet whose checksum is wrong is reported as such.
class PacketReader {
public:
    struct Packet {
        std::string payload;  // unescaped; run-length encoding ('*') expanded
        bool checksum_ok = true;
    };
    void feed(std::string_view bytes);
    // The next complete packet, if the buffer holds one.
    std::optional<Packet> next();
    // Bytes buffered without a complete packet yet (bounded: a stub that never ends a packet
    // cannot grow it past kMaxPacketBytes; the excess is dropped and next() fails it).
    std::size_t buffered() const { return m_buffer.size(); }
    static constexpr std::size_t kMaxPacketBytes = 1 << 20;

private:
    std::string m_buffer;
};

std::string to_hex(const std::vector<std::uint8_t>& bytes);
// Even-length hex only; nullopt otherwise.
std::optional<std::vector<std::uint8_t>> from_hex(std::string_view text);
// A register as the stub sends it: target byte order (little-endian on x86-64), 8 bytes.
std::optional<std::uint64_t> register_from_hex(std::string_view text);
std::string register_to_hex(std::uint64_t value);

// The 8-byte register `number` inside a 'g' reply (x86-64: rax..r15, rip are 0..16), and the
// block with it replaced (for 'G'); nullopt if the block is too short or not hex.
std::optional<std::uint64_t> register_in_block(std::string_view block, int number);
std::optional<std::string> block_with_register(std::string_view block, int number, std::uint64_t value);

// A stop reply: 'S'/'T' (stopped with a signal), 'W' (exited) or 'X' (killed), else an error.
struct StopReply {
    enum class Kind { Stopped, Exited, Killed } kind = Kind::Stopped;
    std::uint8_t code = 0;  // the signal or exit status
};
std::optional<StopReply> parse_stop_reply(std::string_view payload);

// An "E NN" error reply, or "OK".
bool is_ok(std::string_view payload);
bool is_error_reply(std::string_view payload);

} // namespace delos::fault_campaign::gdb
