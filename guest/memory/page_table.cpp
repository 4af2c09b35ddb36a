// page_table.cpp: 4-level x86-64 paging over the identity map.
#include "memory/page_table.h"

#include "arch/x86_64/cpu.h"
#include "memory/frame_allocator.h"

extern "C" char __nano_core_text_start[], __nano_core_text_end[], __nano_core_data_start[], __nano_core_data_end[];
extern "C" char __text_start[], __text_end[], __rodata_start[], __rodata_end[], __data_start[], __kernel_end[];

namespace delos::memory {

namespace {

constexpr std::uint64_t kPresent = 1ull << 0;
constexpr std::uint64_t kWritable = 1ull << 1;
constexpr std::uint64_t kUser = 1ull << 2;
constexpr std::uint64_t kWriteThrough = 1ull << 3;
constexpr std::uint64_t kCacheDisable = 1ull << 4;
constexpr std::uint64_t kLarge = 1ull << 7;
constexpr std::uint64_t kGlobal = 1ull << 8;
constexpr std::uint64_t kNoExecute = 1ull << 63;
constexpr std::uint64_t kAddressMask = 0x000ffffffffff000ull;
constexpr std::uint64_t kLargeAddressMask = 0x000fffffffe00000ull;

PageTable g_kernel_page_table;

// kvm_pvm native mode runs the kernel at hardware ring 3: every level of every mapping needs
// U/S=1 there (SMEP/SMAP stay off). The ordinary mode keeps supervisor-only pages.
bool g_user_accessible = false;
std::uint64_t user_bit() { return g_user_accessible ? kUser : 0; }

std::uint64_t flags_for(Access access)
{
    switch (access) {
    case Access::None: return 0;
    case Access::Read: return kPresent | kGlobal | kNoExecute | user_bit();
    case Access::ReadWrite: return kPresent | kGlobal | kWritable | kNoExecute | user_bit();
    case Access::ReadExecute: return kPresent | kGlobal | user_bit();
    }
    return 0;
}

std::uint64_t* table_at(std::uint64_t physical) { return reinterpret_cast<std::uint64_t*>(physical); }

unsigned index_at(std::uint64_t address, int level)  // level 3 = PML4 ... 0 = PT
{
    return static_cast<unsigned>((address >> (12 + 9 * level)) & 0x1ff);
}

} // namespace

void set_user_accessible_mappings(bool on) { g_user_accessible = on; }

const char* access_name(Access access)
{
    switch (access) {
    case Access::None: return "---";
    case Access::Read: return "r--";
    case Access::ReadWrite: return "rw-";
    case Access::ReadExecute: return "r-x";
    }
    return "???";
}

KernelLayout kernel_layout()
{
    auto at = [](const char* symbol) { return reinterpret_cast<std::uint64_t>(symbol); };
    return {at(__nano_core_text_start), at(__nano_core_text_end), at(__nano_core_data_start), at(__nano_core_data_end),
            at(__text_start), at(__text_end), at(__rodata_start), at(__rodata_end), at(__data_start), at(__kernel_end)};
}

PageTable& kernel_page_table() { return g_kernel_page_table; }

ErrorOr<std::uint64_t> PageTable::new_table()
{
    auto frame = TRY(frame_allocator().allocate(1));
    if (m_active) {
        // A frame freed after being unmapped is not present in the linear map. RAM is always
        // covered down to its last level, so making it present never needs another table.
        std::uint64_t* entry = TRY(entry_for(frame.start, false));
        if (!(*entry & kPresent)) {
            *entry = frame.start | flags_for(Access::ReadWrite);
            ++m_leaf_writes;
            cpu::invalidate_page(frame.start);
            ++m_page_invalidations;
        }
    }
    __builtin_memset(table_at(frame.start), 0, kPageSize);
    ++m_table_frames;
    return frame.start;
}

ErrorOr<std::uint64_t*> PageTable::entry_for(std::uint64_t address, bool split_large_pages)
{
    std::uint64_t table = m_root;
    for (int level = 3; level > 0; --level) {
        std::uint64_t& entry = table_at(table)[index_at(address, level)];
        if (!(entry & kPresent)) {
            entry = TRY(new_table()) | kPresent | kWritable | user_bit();
            m_structure_writes += m_active;
        } else if (entry & kLarge) {
            if (level != 1)
                return Error::make(ErrorCode::Unsupported, "1 GiB pages are not used", address);
            if (!split_large_pages)
                return &entry;
            // Split a 2 MiB page into 512 4 KiB pages with the same rights.
            std::uint64_t base = entry & kLargeAddressMask;
            std::uint64_t flags = entry & ~kLargeAddressMask & ~kLarge;
            std::uint64_t split = TRY(new_table());
            for (unsigned i = 0; i < 512; ++i)
                table_at(split)[i] = (base + i * kPageSize) | flags;
            entry = split | kPresent | kWritable | user_bit();
            if (m_active) {
                m_structure_writes += 1;
                cpu::write_cr3(m_root);  // drop the stale large-page TLB entry everywhere in it
                ++m_full_flushes;
            }
        }
        table = entry & kAddressMask;
    }
    return &table_at(table)[index_at(address, 0)];
}

ErrorOr<void> PageTable::map_large(std::uint64_t address, std::uint64_t flags)
{
    std::uint64_t table = m_root;
    for (int level = 3; level > 1; --level) {
        std::uint64_t& entry = table_at(table)[index_at(address, level)];
        if (!(entry & kPresent))
            entry = TRY(new_table()) | kPresent | kWritable | user_bit();
        table = entry & kAddressMask;
    }
    table_at(table)[index_at(address, 1)] = address | flags | kLarge;
    return {};
}

ErrorOr<std::uint64_t> PageTable::new_root()
{
    if (!g_user_accessible)
        return new_table();
    // kvm_pvm runs natively only while CR3 has bit 12 set: with the root at an even frame the
    // vCPU silently drops back to instruction emulation (~2000x slower), measured by timing a
    // loop against root frames of either parity (docs/kvm-pvm-native-mode.md). So: the odd
    // frame of an aligned pair, and the even one goes back.
    auto pair = TRY(frame_allocator().allocate(2, 2 * kPageSize));
    frame_allocator().free({pair.start, kPageSize});
    std::uint64_t root = pair.start + kPageSize;
    __builtin_memset(table_at(root), 0, kPageSize);
    ++m_table_frames;
    return root;
}

namespace {
bool region_has_a_free_frame(std::uint64_t region)
{
    for (std::uint64_t page = region; page < region + kLargePageSize; page += kPageSize) {
        if (frame_allocator().is_free(page))
            return true;
    }
    return false;
}
} // namespace

ErrorOr<void> PageTable::build_linear_map(std::uint64_t ram_end, const KernelLayout& layout)
{
    m_root = TRY(new_root());
    // The tables first, all of them: every 2 MiB region that holds a frame the allocator may hand
    // out (and the kernel's, and a partial last one) gets its 4 KiB table now and keeps it for
    // good, so no table is made, split or freed for RAM after boot and every frame a session takes
    // comes back (docs/memory.md). Regions with no free frame (holes, boot modules) stay 2 MiB.
    std::uint64_t small_end = align_up(layout.data_end, kLargePageSize);
    std::uint64_t map_end = align_up(ram_end, kPageSize);
    for (std::uint64_t region = 0; region < map_end; region += kLargePageSize) {
        if (region < small_end || region + kLargePageSize > map_end || region_has_a_free_frame(region))
            TRY(entry_for(region == 0 ? kPageSize : region, false));
        else
            TRY(map_large(region, flags_for(Access::ReadWrite)));
    }
    // Then the entries, with no allocation left to change them: what the allocator holds (the
    // tables just made included) read-write, every free frame not present, as a frame it frees
    // will be: the map's baseline and the unmap-on-free rule agree.
    for (std::uint64_t region = 0; region < map_end; region += kLargePageSize) {
        std::uint64_t page = region == 0 ? kPageSize : region;
        std::uint64_t* entry = TRY(entry_for(page, false));
        if (*entry & kLarge)
            continue;
        std::uint64_t region_end = region + kLargePageSize < map_end ? region + kLargePageSize : map_end;
        for (; page < region_end; page += kPageSize, ++entry)
            *entry = frame_allocator().is_free(page) ? 0 : page | flags_for(Access::ReadWrite);
    }

    TRY(set_access(layout.nano_core_text_start, layout.nano_core_text_end - layout.nano_core_text_start, Access::ReadExecute));
    TRY(set_access(layout.nano_core_data_start, layout.nano_core_data_end - layout.nano_core_data_start, Access::ReadWrite));
    TRY(set_access(layout.text_start, layout.text_end - layout.text_start, Access::ReadExecute));
    TRY(set_access(layout.rodata_start, layout.rodata_end - layout.rodata_start, Access::Read));
    TRY(set_access(layout.data_start, layout.data_end - layout.data_start, Access::ReadWrite));
    return {};
}

void PageTable::activate()
{
    cpu::write_cr3(m_root);
    m_active = true;
}

ErrorOr<void> PageTable::set_access(std::uint64_t start, std::uint64_t size, Access access)
{
    if (start % kPageSize != 0 || size % kPageSize != 0)
        return Error::make(ErrorCode::InvalidArgument, "range is not page-aligned", start);
    std::uint64_t flags = flags_for(access);
    std::uint64_t end = start + size;
    // Entries already right are not written, and only entries that were present can be cached in
    // a TLB (x86 caches no not-present translation): mapping a free frame invalidates nothing.
    // Each write and invalidation traps under kvm_pvm's shadow paging.
    bool flush_at_end = m_active && size / kPageSize > 32;  // one CR3 reload beats many invlpg
    bool stale = false;
    // Walk the tree once per 2 MiB region, then fill consecutive entries of its page table.
    std::uint64_t address = start;
    while (address < end) {
        std::uint64_t* entry = TRY(entry_for(address, true));
        std::uint64_t region_end = align_down(address, kLargePageSize) + kLargePageSize;
        if (region_end > end)
            region_end = end;
        for (; address < region_end; address += kPageSize, ++entry) {
            std::uint64_t value = access == Access::None ? 0 : address | flags;
            std::uint64_t old = *entry;
            if (old == value)
                continue;
            *entry = value;
            if (!m_active)
                continue;
            ++m_leaf_writes;
            if (!(old & kPresent))
                continue;
            stale = true;
            if (!flush_at_end) {
                cpu::invalidate_page(address);
                ++m_page_invalidations;
            }
        }
    }
    if (flush_at_end && stale) {
        cpu::write_cr3(m_root);
        ++m_full_flushes;
    }
    return {};
}

ErrorOr<void> PageTable::map_device(std::uint64_t start, std::uint64_t size)
{
    std::uint64_t flags = kPresent | kWritable | kNoExecute | kCacheDisable | kWriteThrough | user_bit();
    for (std::uint64_t address = align_down(start, kPageSize); address < start + size; address += kPageSize) {
        std::uint64_t* entry = TRY(entry_for(address, true));
        *entry = address | flags;
        if (m_active) {
            ++m_leaf_writes;
            cpu::invalidate_page(address);
            ++m_page_invalidations;
        }
    }
    return {};
}

PageTableStatistics PageTable::statistics() const
{
    return {m_table_frames, m_leaf_writes, m_structure_writes, m_page_invalidations, m_full_flushes};
}

Access PageTable::access_of(std::uint64_t address) const
{
    std::uint64_t table = m_root;
    for (int level = 3; level >= 0; --level) {
        std::uint64_t entry = table_at(table)[index_at(address, level)];
        if (!(entry & kPresent))
            return Access::None;
        if (level == 0 || (entry & kLarge)) {
            if (!(entry & kNoExecute))
                return Access::ReadExecute;
            return (entry & kWritable) ? Access::ReadWrite : Access::Read;
        }
        table = entry & kAddressMask;
    }
    return Access::None;
}

} // namespace delos::memory
