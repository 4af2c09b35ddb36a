// page_table.h: the one address space: a linear (identity) map of RAM with per-page access
// rights (W^X, NX), built by the nano_core and changed page by page afterwards.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/core/error_or.h"

namespace delos::memory {

enum class Access : std::uint8_t {
    None,         // not present: guard pages, freed memory, the null page
    Read,         // R--: rodata
    ReadWrite,    // RW-: data, heap, stacks
    ReadExecute,  // R-X: code
};

const char* access_name(Access);

// Where the kernel image's parts are (from the linker script).
struct KernelLayout {
    std::uint64_t nano_core_text_start, nano_core_text_end;
    std::uint64_t nano_core_data_start, nano_core_data_end;
    std::uint64_t text_start, text_end;
    std::uint64_t rodata_start, rodata_end;
    std::uint64_t data_start, data_end;  // .data and .bss
};

KernelLayout kernel_layout();

// kvm_pvm native mode runs the kernel at hardware ring 3: then every level of every mapping,
// including those made later, needs U/S=1 (SMEP/SMAP stay off). Set before the linear map is built.
void set_user_accessible_mappings(bool on);

// What the paging code has done since boot: under kvm_pvm's shadow paging every entry write
// after activation and every invalidation traps (docs/memory.md, "Costs"), so these are the
// figures that say what a path costs there.
struct PageTableStatistics {
    std::uint64_t table_frames = 0;        // frames holding tables (the root included)
    std::uint64_t leaf_writes = 0;         // 4 KiB entries written after activation
    std::uint64_t structure_writes = 0;    // entries above the last level written after activation
    std::uint64_t page_invalidations = 0;  // invlpg
    std::uint64_t full_flushes = 0;        // CR3 reloads
};

class PageTable {
public:
    // Maps [4 KiB, ram_end) identity with the kernel's sections at their rights and all other
    // RAM read-write no-execute (2 MiB pages where alignment allows); page 0 stays unmapped.
    ErrorOr<void> build_linear_map(std::uint64_t ram_end, const KernelLayout& layout);
    // Loads CR3 with this table (with EFER.NXE and CR0.WP already on from boot).
    void activate();

    // Sets the rights of every 4 KiB page in [start, start + size), splitting 2 MiB pages as needed.
    ErrorOr<void> set_access(std::uint64_t start, std::uint64_t size, Access access);
    // Maps device registers (uncached, RW, NX) outside RAM.
    ErrorOr<void> map_device(std::uint64_t start, std::uint64_t size);
    Access access_of(std::uint64_t address) const;

    std::uint64_t root() const { return m_root; }
    std::size_t table_frames() const { return m_table_frames; }
    PageTableStatistics statistics() const;

private:
    ErrorOr<std::uint64_t*> entry_for(std::uint64_t address, bool split_large_pages);
    ErrorOr<std::uint64_t> new_table();
    ErrorOr<std::uint64_t> new_root();
    ErrorOr<void> map_large(std::uint64_t address, std::uint64_t flags);

    std::uint64_t m_root = 0;
    bool m_active = false;
    std::size_t m_table_frames = 0;
    std::uint64_t m_leaf_writes = 0;
    std::uint64_t m_structure_writes = 0;
    std::uint64_t m_page_invalidations = 0;
    std::uint64_t m_full_flushes = 0;
};

PageTable& kernel_page_table();

} // namespace delos::memory
