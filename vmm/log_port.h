// log_port.h: the log port (abi/platform.h): one exit per console write. Guest memory and the
// record in it are hostile input: every range is checked before a byte is copied.
#pragma once

#include <cstdint>
#include <span>

#include "guest_memory.h"
#include "io_bus.h"
#include "serial_16550.h"

namespace delos::vmm {

enum class LogWriteError {
    None,
    RecordOutsideRam,   // the record itself is not entirely in guest RAM
    ReservedBitsSet,
    TooLong,            // more than abi::kLogPortMaxBytes
    BytesOutsideRam,    // [address, address + length) is not entirely in guest RAM (or wraps)
};

const char* log_write_error_name(LogWriteError);

struct LogWrite {
    LogWriteError error = LogWriteError::None;
    std::span<const std::uint8_t> bytes;  // valid only without error
};

// Reads the LogPortRecord at `record_address` and resolves the bytes it names.
LogWrite resolve_log_write(const GuestMemory& memory, std::uint64_t record_address);

class LogPort final : public PortDevice {
public:
    LogPort(const GuestMemory& memory, Serial16550& console) : m_memory(memory), m_console(console) {}

    void port_write(std::uint16_t offset, std::uint32_t value, std::uint8_t size) override;
    std::uint32_t port_read(std::uint16_t offset, std::uint8_t size) override;

    std::uint64_t writes() const { return m_writes; }
    std::uint64_t rejected() const { return m_rejected; }

private:
    const GuestMemory& m_memory;
    Serial16550& m_console;
    std::uint64_t m_writes = 0;
    std::uint64_t m_rejected = 0;
};

} // namespace delos::vmm
