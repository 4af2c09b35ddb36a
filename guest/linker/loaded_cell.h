// loaded_cell.h: what the linker keeps about a loaded cell: its memory regions, its sections,
// and the dependency graph between sections, kept in both directions. Each edge carries the
// relocation that created it, so a later swap can re-point it (see docs/cells-and-linking.md).
#pragma once

#include <cstdint>

#include "lib/core/byte_view.h"
#include "linker/build_id.h"
#include "linker/section_memory.h"
#include "lib/core/own_ptr.h"
#include "lib/core/string.h"
#include "lib/core/string_view.h"
#include "lib/core/vector.h"

namespace delos::link {

// Which region a section lives in, and so its final permissions.
enum class SectionKind : std::uint8_t {
    Text,      // r-x: code
    ReadOnly,  // r--: constants, .eh_frame, .gcc_except_table, init/fini arrays, the cell record
    Data,      // rw-: data and bss, and the GOT
};
inline constexpr int kSectionKindCount = 3;

// Where a cell's GOT lives: in its data region, writable and never executable (W^X holds), so a
// swap, reload or quarantine re-points a GOT slot with no permission change (no page-table
// write, no TLB flush; each is a trap under kvm_pvm). The price: the slots are not read-only
// after relocation (no RELRO), like every function pointer in a cell's data (docs/live-evolution.md).
inline constexpr SectionKind kGotRegion = SectionKind::Data;

const char* section_kind_name(SectionKind);
Permissions section_kind_permissions(SectionKind);

// One applied relocation, as written into the using section.
struct RelocationRecord {
    std::uint64_t offset = 0;    // from the start of the using section
    std::uint32_t type = 0;      // R_X86_64_*
    std::int64_t addend = 0;
    std::uint64_t got_slot = 0;  // the GOT slot the instruction reads through, or 0
};

// Who provides what a relocation points at.
enum class ProviderKind : std::uint8_t {
    Section,   // a section of a loaded cell (possibly the same cell)
    Kernel,    // a kernel symbol
    Absolute,  // no one: an absolute value or an unresolved weak reference (0)
};

class LoadedCell;
struct LoadedSection;

// A strong edge: "my section uses `provider` through this relocation".
struct Dependency {
    RelocationRecord relocation;
    ProviderKind provider_kind = ProviderKind::Absolute;
    LoadedSection* provider = nullptr;  // set when provider_kind == Section
    std::uint64_t symbol_address = 0;   // S when the relocation was applied
    String symbol;                      // the symbol's name; empty for section-relative references
};

// The weak back-edge: "`user`'s dependency number `dependency` points at me".
struct Dependent {
    LoadedSection* user = nullptr;
    std::uint32_t dependency = 0;
};

struct LoadedSection {
    String name;
    SectionKind kind = SectionKind::Data;
    std::uint64_t address = 0;
    std::uint64_t size = 0;
    std::uint64_t alignment = 1;
    LoadedCell* cell = nullptr;
    Vector<Dependency> uses;
    Vector<Dependent> used_by;

    bool contains(std::uint64_t where) const { return where >= address && where - address < size; }
};

// The object a cell was linked from, kept so that a swap can roll back to it: a view into a
// cell library (which outlives its cells) or an owned copy of pushed bytes.
struct CellObject {
    ByteView bytes;
    Vector<std::uint8_t> owned;  // `bytes` views into it when the object was copied
    BuildId build_id;            // of `bytes`; travels with the object (rollback, reload need no hash)

    CellObject() = default;
    CellObject(CellObject&&) noexcept = default;
    CellObject& operator=(CellObject&&) noexcept = default;
    static CellObject view_of(ByteView bytes);
    static CellObject copy_of(ByteView bytes);
};

// What a cell declared with DELOS_CELL_STATE, once relocated (addresses into its own code).
struct CellStateEntries {
    String layouts;               // comma-separated, preferred first; empty without a record
    std::uint64_t export_state = 0;
    std::uint64_t adopt_state = 0;
    std::uint64_t outstanding = 0;
    bool declared() const { return !layouts.empty(); }
};

class LoadedCell {
public:
    LoadedCell(StringView name, StringView version) : m_name(name), m_version(version) {}
    LoadedCell(const LoadedCell&) = delete;
    LoadedCell& operator=(const LoadedCell&) = delete;

    StringView name() const { return m_name; }
    StringView version() const { return m_version; }
    // The first 20 bytes of the SHA-256 of the object the cell was linked from, in hex: names
    // exactly which build of the cell a fault report's addresses belong to.
    // Kept by the cell itself: a retiring version gives its object to the previous generation.
    StringView build_id() const { return m_build_id.view(); }
    static constexpr std::size_t kBuildIdDigits = BuildId::kDigits;
    const Vector<OwnPtr<LoadedSection>>& sections() const { return m_sections; }
    LoadedSection* find_section(StringView name) const;
    // The section containing `address`, if any.
    LoadedSection* section_at(std::uint64_t address) const;
    Region region(SectionKind kind) const { return m_regions[static_cast<int>(kind)].region(); }
    bool contains(std::uint64_t address) const;
    // The GOT lives at the end of the read-only region: one 8-byte slot per symbol reached through it.
    Region got() const { return m_got; }
    // The names this cell exports into the namespace.
    const Vector<String>& exports() const { return m_exports; }

    // Distinct cells whose sections this cell's sections use (not itself), and the reverse.
    Vector<LoadedCell*> cells_used() const;
    Vector<LoadedCell*> cells_using() const;
    // Distinct kernel symbols this cell's relocations point at.
    Vector<StringView> kernel_symbols_used() const;

    std::uint64_t init_entry() const { return m_init; }
    std::uint64_t fini_entry() const { return m_fini; }
    const Vector<std::uint64_t>& constructors() const { return m_constructors; }   // in run order
    const Vector<std::uint64_t>& destructors() const { return m_destructors; }     // in run order
    const Vector<std::uint64_t>& exit_functions() const { return m_exit_functions; }  // in registration order

    // 1 for the first load of this name, +1 for each version that replaced it (swap or rollback).
    std::uint32_t generation() const { return m_generation; }
    const CellStateEntries& state_entries() const { return m_state; }
    const CellObject& object() const { return m_object; }
    // Quarantined by fault recovery: other cells' calls into it are refused (Namespace::quarantine_cell).
    bool quarantined() const { return m_quarantined; }
    // Every region the cell occupies (text, rodata, data; empty ones left out).
    Vector<Region> regions() const;

private:
    friend class CellLinker;
    friend class Namespace;
    friend class CellSwap;

    String m_name;
    String m_version;
    BuildId m_build_id;
    OwnedRegion m_regions[kSectionKindCount];
    Region m_got;
    Vector<OwnPtr<LoadedSection>> m_sections;
    Vector<String> m_exports;
    std::uint64_t m_init = 0;
    std::uint64_t m_fini = 0;
    Vector<std::uint64_t> m_constructors;
    Vector<std::uint64_t> m_destructors;
    Vector<std::uint64_t> m_exit_functions;
    std::uint32_t m_generation = 1;
    CellStateEntries m_state;
    CellObject m_object;
    bool m_quarantined = false;
};

} // namespace delos::link
