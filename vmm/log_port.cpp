// log_port.cpp: validation of log records and the port's register semantics.
#include "log_port.h"

#include <cstdio>
#include <cstring>

#include "abi/platform.h"

namespace delos::vmm {

namespace {
constexpr std::uint64_t kMaxReportedRejections = 10;  // a hostile guest cannot flood stderr
}

const char* log_write_error_name(LogWriteError error)
{
    switch (error) {
    case LogWriteError::None: return "none";
    case LogWriteError::RecordOutsideRam: return "record outside guest RAM";
    case LogWriteError::ReservedBitsSet: return "reserved bits set";
    case LogWriteError::TooLong: return "longer than the log port takes";
    case LogWriteError::BytesOutsideRam: return "bytes outside guest RAM";
    }
    return "unknown";
}

LogWrite resolve_log_write(const GuestMemory& memory, std::uint64_t record_address)
{
    auto record_bytes = memory.range(record_address, sizeof(abi::LogPortRecord));
    if (record_bytes.empty())
        return {LogWriteError::RecordOutsideRam, {}};
    abi::LogPortRecord record;
    std::memcpy(&record, record_bytes.data(), sizeof record);  // one read: the guest may change it meanwhile
    if (record.reserved != 0)
        return {LogWriteError::ReservedBitsSet, {}};
    if (record.length > abi::kLogPortMaxBytes)
        return {LogWriteError::TooLong, {}};
    if (record.length == 0)
        return {LogWriteError::None, {}};
    auto bytes = memory.range(record.address, record.length);
    if (bytes.empty())
        return {LogWriteError::BytesOutsideRam, {}};
    return {LogWriteError::None, bytes};
}

void LogPort::port_write(std::uint16_t offset, std::uint32_t value, std::uint8_t size)
{
    if (offset != 0 || size != 4)
        return;  // only the documented 32-bit write does anything
    LogWrite write = resolve_log_write(m_memory, value);
    if (write.error != LogWriteError::None) {
        if (++m_rejected <= kMaxReportedRejections)
            std::fprintf(stderr, "delos-vmm: log port: write at %#x dropped: %s\n", value, log_write_error_name(write.error));
        return;
    }
    ++m_writes;
    m_console.write_text(write.bytes);
}

std::uint32_t LogPort::port_read(std::uint16_t offset, std::uint8_t size)
{
    if (offset == 0 && size == 4)
        return abi::kLogPortMagic;
    return 0xffffffff;
}

} // namespace delos::vmm
