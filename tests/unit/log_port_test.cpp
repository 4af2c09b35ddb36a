// log_port_test.cpp: delos-vmm's log port takes a guest record (address, length) that is
// hostile input: every way it can point outside guest RAM is dropped, nothing is copied, and a
// good record reaches the console in order with the UART's bytes.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "abi/platform.h"
#include "guest_memory.h"
#include "log_port.h"
#include "serial_16550.h"

using namespace delos;
using namespace delos::vmm;

namespace {

constexpr std::uint64_t kRamSize = 1 << 20;
constexpr std::uint64_t kRecordAt = 0x1000;

void put_record(GuestMemory& memory, std::uint64_t at, std::uint64_t address, std::uint32_t length, std::uint32_t reserved = 0)
{
    delos::abi::LogPortRecord record{address, length, reserved};
    std::memcpy(memory.host_base() + at, &record, sizeof record);
}

void put_text(GuestMemory& memory, std::uint64_t at, const std::string& text)
{
    std::memcpy(memory.host_base() + at, text.data(), text.size());
}

// Reads everything written to the pipe's write end so far.
std::string drain(int fd)
{
    std::string out;
    char buffer[4096];
    ssize_t n;
    while ((n = ::read(fd, buffer, sizeof buffer)) > 0)
        out.append(buffer, static_cast<std::size_t>(n));
    return out;
}

} // namespace

TEST(LogPort, ResolvesAGoodRecord)
{
    GuestMemory memory(kRamSize);
    put_text(memory, 0x2000, "hello\n");
    put_record(memory, kRecordAt, 0x2000, 6);
    LogWrite write = resolve_log_write(memory, kRecordAt);
    ASSERT_EQ(write.error, LogWriteError::None);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(write.bytes.data()), write.bytes.size()), "hello\n");
}

TEST(LogPort, TextEndingExactlyAtTheEndOfRamIsAccepted)
{
    GuestMemory memory(kRamSize);
    put_record(memory, kRecordAt, kRamSize - 4, 4);
    EXPECT_EQ(resolve_log_write(memory, kRecordAt).error, LogWriteError::None);
}

TEST(LogPort, RecordOutsideRamIsDropped)
{
    GuestMemory memory(kRamSize);
    EXPECT_EQ(resolve_log_write(memory, kRamSize).error, LogWriteError::RecordOutsideRam);
    EXPECT_EQ(resolve_log_write(memory, kRamSize - 8).error, LogWriteError::RecordOutsideRam);  // straddles the end
    EXPECT_EQ(resolve_log_write(memory, 0xffffffff).error, LogWriteError::RecordOutsideRam);
}

TEST(LogPort, BytesOutsideRamAreDropped)
{
    GuestMemory memory(kRamSize);
    put_record(memory, kRecordAt, kRamSize - 4, 5);  // one byte past the end
    EXPECT_EQ(resolve_log_write(memory, kRecordAt).error, LogWriteError::BytesOutsideRam);
    put_record(memory, kRecordAt, kRamSize + 0x1000, 16);
    EXPECT_EQ(resolve_log_write(memory, kRecordAt).error, LogWriteError::BytesOutsideRam);
    put_record(memory, kRecordAt, ~0ull - 2, 16);  // address + length wraps around
    EXPECT_EQ(resolve_log_write(memory, kRecordAt).error, LogWriteError::BytesOutsideRam);
}

TEST(LogPort, OverlongAndReservedBitsAreDropped)
{
    GuestMemory memory(kRamSize);
    put_record(memory, kRecordAt, 0x2000, delos::abi::kLogPortMaxBytes + 1);
    EXPECT_EQ(resolve_log_write(memory, kRecordAt).error, LogWriteError::TooLong);
    put_record(memory, kRecordAt, 0x2000, 0xffffffff);
    EXPECT_EQ(resolve_log_write(memory, kRecordAt).error, LogWriteError::TooLong);
    put_record(memory, kRecordAt, 0x2000, delos::abi::kLogPortMaxBytes);
    EXPECT_EQ(resolve_log_write(memory, kRecordAt).error, LogWriteError::None);
    put_record(memory, kRecordAt, 0x2000, 4, 1);
    EXPECT_EQ(resolve_log_write(memory, kRecordAt).error, LogWriteError::ReservedBitsSet);
}

TEST(LogPort, PortWritesReachTheConsoleInOrderWithTheUart)
{
    int pipe_fds[2];
    ASSERT_EQ(::pipe2(pipe_fds, O_NONBLOCK), 0);
    GuestMemory memory(kRamSize);
    {
        Serial16550 serial(pipe_fds[1]);
        LogPort port(memory, serial);
        EXPECT_EQ(port.port_read(0, 4), delos::abi::kLogPortMagic);
        EXPECT_EQ(port.port_read(0, 1), 0xffffffffu);  // only the 32-bit read identifies the port
        for (char c : std::string("uart "))
            serial.port_write(0, static_cast<std::uint8_t>(c), 1);
        put_text(memory, 0x2000, "line\n");
        put_record(memory, kRecordAt, 0x2000, 5);
        port.port_write(0, kRecordAt, 4);
        port.port_write(0, kRecordAt, 2);        // wrong width: ignored
        port.port_write(0, kRamSize + 16, 4);    // hostile: dropped, counted
        EXPECT_EQ(port.writes(), 1u);
        EXPECT_EQ(port.rejected(), 1u);
    }
    ::close(pipe_fds[1]);
    EXPECT_EQ(drain(pipe_fds[0]), "uart line\n");
    ::close(pipe_fds[0]);
}
