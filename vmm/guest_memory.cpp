// guest_memory.cpp: mapping guest RAM and checked setup-time copies.
#include "guest_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "vmm_error.h"

namespace delos::vmm {

GuestMemory::GuestMemory(std::uint64_t size) : m_size(size)
{
    void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED)
        throw_errno("cannot map " + std::to_string(size >> 20) + " MiB of guest memory");
    m_base = static_cast<std::uint8_t*>(base);
}

GuestMemory::GuestMemory(GuestMemory&& other) noexcept
    : m_base(std::exchange(other.m_base, nullptr)), m_size(std::exchange(other.m_size, 0))
{
}

GuestMemory::~GuestMemory()
{
    if (m_base)
        ::munmap(m_base, m_size);
}

void GuestMemory::write(std::uint64_t address, std::span<const std::uint8_t> bytes)
{
    if (!contains(address, bytes.size()))
        throw BadInput("guest RAM too small: " + std::to_string(bytes.size()) + " bytes at " + hex(address) + " do not fit in " + std::to_string(m_size >> 20) + " MiB");
    std::memcpy(m_base + address, bytes.data(), bytes.size());
}

void GuestMemory::fill(std::uint64_t address, std::uint8_t value, std::uint64_t length)
{
    if (!contains(address, length))
        throw BadInput("guest RAM too small for " + std::to_string(length) + " bytes at " + hex(address));
    std::memset(m_base + address, value, length);
}

std::uint64_t GuestMemory::resident_bytes() const
{
    long page = ::sysconf(_SC_PAGESIZE);
    std::vector<unsigned char> residency((m_size + page - 1) / page);
    if (::mincore(m_base, m_size, residency.data()) != 0)
        return 0;
    std::uint64_t pages = 0;
    for (unsigned char r : residency)
        pages += r & 1;
    return pages * static_cast<std::uint64_t>(page);
}

} // namespace delos::vmm
