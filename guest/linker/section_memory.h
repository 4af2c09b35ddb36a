// section_memory.h: the interface through which the linker gets, protects and returns the
// memory a cell's sections live in. The kernel implements it over its frame allocator and page
// tables (identity map: an address is also the pointer); host tests implement it with mmap.
#pragma once

#include <cstdint>
#include <utility>

#include "lib/core/error_or.h"

namespace delos::link {

inline constexpr std::uint64_t kPageSize = 4096;

// W^X: no region is ever writable and executable at once.
enum class Permissions : std::uint8_t { ReadWrite, ReadOnly, ReadExecute };

const char* permissions_name(Permissions);

struct Region {
    std::uint64_t address = 0;
    std::uint64_t size = 0;

    bool empty() const { return size == 0; }
    bool contains(std::uint64_t where) const { return where >= address && where - address < size; }
    std::uint8_t* bytes() const { return reinterpret_cast<std::uint8_t*>(address); }
};

class SectionMemory {
public:
    // `size` is a positive multiple of kPageSize; `alignment` a power of two >= kPageSize.
    // The region comes back mapped read-write and not executable; its contents are unspecified.
    virtual ErrorOr<Region> allocate(std::uint64_t size, std::uint64_t alignment) = 0;
    // Changes the permissions of a whole region that allocate() returned.
    virtual ErrorOr<void> protect(Region region, Permissions permissions) = 0;
    // Gives a region back, whatever its current permissions. Cannot fail.
    virtual void release(Region region) = 0;

protected:
    ~SectionMemory() = default;
};

// Owns one region: releases it when destroyed, so an abandoned load leaks nothing.
class OwnedRegion {
public:
    OwnedRegion() = default;
    OwnedRegion(SectionMemory& memory, Region region) : m_memory(&memory), m_region(region) {}
    OwnedRegion(OwnedRegion&& other) noexcept : m_memory(other.m_memory), m_region(other.m_region)
    {
        other.m_memory = nullptr;
        other.m_region = {};
    }
    OwnedRegion& operator=(OwnedRegion&& other) noexcept
    {
        if (this != &other) {
            reset();
            m_memory = other.m_memory;
            m_region = other.m_region;
            other.m_memory = nullptr;
            other.m_region = {};
        }
        return *this;
    }
    OwnedRegion(const OwnedRegion&) = delete;
    OwnedRegion& operator=(const OwnedRegion&) = delete;
    ~OwnedRegion() { reset(); }

    const Region& region() const { return m_region; }
    void reset()
    {
        if (m_memory && !m_region.empty())
            m_memory->release(m_region);
        m_memory = nullptr;
        m_region = {};
    }

private:
    SectionMemory* m_memory = nullptr;
    Region m_region;
};

} // namespace delos::link
