// guest_memory.h: the guest's RAM, mapped into the VMM; every access by guest address is checked.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace delos::vmm {

class GuestMemory {
public:
    // Maps `size` bytes of anonymous memory, lazily backed: untouched guest pages cost nothing.
    explicit GuestMemory(std::uint64_t size);
    GuestMemory(GuestMemory&&) noexcept;
    GuestMemory& operator=(GuestMemory&&) = delete;
    GuestMemory(const GuestMemory&) = delete;
    ~GuestMemory();

    std::uint64_t size() const { return m_size; }
    std::uint8_t* host_base() const { return m_base; }

    // True when [address, address + length) is inside guest RAM (no wrap-around).
    bool contains(std::uint64_t address, std::uint64_t length) const
    {
        return address <= m_size && length <= m_size - address;
    }

    // Host view of a guest range, or an empty span when the range is not entirely RAM.
    // Devices use this on addresses the guest gave them; an empty span means "hostile".
    std::span<std::uint8_t> range(std::uint64_t address, std::uint64_t length) const
    {
        if (!contains(address, length))
            return {};
        return {m_base + address, static_cast<std::size_t>(length)};
    }

    // Copies into guest RAM at setup time; throws BadInput when it does not fit.
    void write(std::uint64_t address, std::span<const std::uint8_t> bytes);
    void fill(std::uint64_t address, std::uint8_t value, std::uint64_t length);

    // Bytes of guest RAM currently resident in the host (pages the guest has touched).
    std::uint64_t resident_bytes() const;

private:
    std::uint8_t* m_base = nullptr;
    std::uint64_t m_size = 0;
};

} // namespace delos::vmm
