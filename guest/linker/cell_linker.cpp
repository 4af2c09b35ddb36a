// cell_linker.cpp: gathering, placing, relocating, protecting, initialising and committing
// the cells of one load.
#include "linker/cell_linker.h"
#include "linker/cell_linker.h"
#include "linker/cell_linker_pending.h"

#include <utility>

#include "lib/elf/elf64.h"
#include "lib/core/format.h"
#include "linker/build_id.h"
#include "linker/cell_identity.h"
#include "linker/cell_info.h"
#include "linker/cell_library.h"
#include "linker/export_rule.h"
#include "linker/loaded_cell.h"
#include "linker/namespace.h"
#include "linker/relocatable_object.h"
#include "linker/relocation.h"

namespace delos::link {

using namespace elf;

namespace {

constexpr std::uint32_t kNoGotSlot = 0xffffffffu;
constexpr std::uint64_t kGotSlotSize = 8;
constexpr std::uint32_t kDefaultPriority = 65536;  // after every explicit init_priority
constexpr std::uint64_t SHF_COMPRESSED_FLAG = 0x800;

std::uint64_t align_up(std::uint64_t value, std::uint64_t alignment) { return (value + alignment - 1) & ~(alignment - 1); }

bool is_loaded(const ObjectSection& section) { return section.index != kNoSection && section.is_loadable(); }

// Sections whose contents only the linker writes: they become read-only after relocation.
bool is_relro_name(StringView name)
{
    return name.starts_with(".data.rel.ro") || name.starts_with(".init_array") || name.starts_with(".fini_array")
        || name.starts_with(".ctors") || name.starts_with(".dtors");
}

ErrorOr<SectionKind> classify(const ObjectSection& section)
{
    if (section.flags & SHF_TLS)
        return Error::make(ErrorCode::Unsupported, "thread-local sections are not supported in cells", section.index);
    if (section.flags & SHF_COMPRESSED_FLAG)
        return Error::make(ErrorCode::Unsupported, "compressed allocated sections are not supported", section.index);
    if (section.type == SHT_PREINIT_ARRAY)
        return Error::make(ErrorCode::Unsupported, ".preinit_array is not supported in cells", section.index);
    if (section.flags & SHF_EXECINSTR) {
        if (section.flags & SHF_WRITE)
            return Error::make(ErrorCode::Unsupported, "section is both writable and executable (W^X)", section.index);
        return SectionKind::Text;
    }
    if (is_relro_name(section.name))
        return SectionKind::ReadOnly;
    if (section.flags & SHF_WRITE)
        return SectionKind::Data;
    return SectionKind::ReadOnly;
}

// ".init_array.00100" -> 100; returns false for names without a decimal suffix.
bool parse_priority(StringView suffix, std::uint32_t& priority)
{
    if (suffix.empty() || suffix.size() > 5)
        return false;
    std::uint32_t value = 0;
    for (char c : suffix) {
        if (c < '0' || c > '9')
            return false;
        value = value * 10 + static_cast<std::uint32_t>(c - '0');
    }
    if (value > 65535)
        return false;
    priority = value;
    return true;
}

// A section of constructor or destructor pointers and where it runs relative to the others.
struct EntryTable {
    bool constructors = true;
    std::uint32_t priority = kDefaultPriority;
    bool reversed = false;  // legacy .ctors/.dtors run from the last entry to the first
};

bool entry_table_for(StringView name, EntryTable& table)
{
    struct Pattern {
        const char* prefix;
        bool constructors;
        bool legacy;
    };
    constexpr Pattern patterns[] = {
        {".init_array", true, false},
        {".ctors", true, true},
        {".fini_array", false, false},
        {".dtors", false, true},
    };
    for (const Pattern& pattern : patterns) {
        StringView prefix(pattern.prefix);
        if (!name.starts_with(prefix))
            continue;
        table.constructors = pattern.constructors;
        table.reversed = pattern.legacy;
        if (name.size() == prefix.size()) {
            table.priority = kDefaultPriority;
            return true;
        }
        std::uint32_t priority = 0;
        if (name[prefix.size()] != '.' || !parse_priority(name.substr(prefix.size() + 1), priority))
            return false;
        // Legacy sections number priorities backwards (.ctors.65435 is init_priority 100).
        table.priority = pattern.legacy ? 65535 - priority : priority;
        return true;
    }
    return false;
}

std::uint64_t load_64(std::uint64_t address)
{
    std::uint64_t value;
    __builtin_memcpy(&value, reinterpret_cast<const void*>(address), sizeof value);
    return value;
}

void store_64(std::uint64_t address, std::uint64_t value)
{
    __builtin_memcpy(reinterpret_cast<void*>(address), &value, sizeof value);
}

} // namespace

struct CellLinker::Resolution {
    std::uint64_t address = 0;
    ProviderKind kind = ProviderKind::Absolute;
    LoadedSection* provider = nullptr;
    StringView name;
};

CellLinker::CellLinker(Namespace& target, const CellLibrary* library) : m_namespace(target), m_library(library) {}

CellLinker::CellLinker(Namespace& target, const CellLibrary* library, const Vector<LoadedCell*>& replacing)
    : m_namespace(target), m_library(library), m_replacing(&replacing)
{
}

bool CellLinker::is_replaced(const LoadedCell* cell) const
{
    if (!m_replacing || !cell)
        return false;
    for (const LoadedCell* replaced : *m_replacing) {
        if (replaced == cell)
            return true;
    }
    return false;
}

const SymbolDefinition* CellLinker::visible_definition(StringView name) const
{
    const SymbolDefinition* definition = m_namespace.find_symbol(name);
    if (definition && definition->section && is_replaced(definition->section->cell))
        return nullptr;
    return definition;
}

CellLinker::~CellLinker() { m_namespace.m_cells_in_progress.clear(); }

Error CellLinker::fail(Error error, String detail) { return std::move(error).with_detail(detail.view()); }

const CellLinker::PendingCell* CellLinker::pending_named(StringView name) const
{
    for (const OwnPtr<PendingCell>& pending : m_pending) {
        if (pending->identity.name == name)
            return pending.get();
    }
    return nullptr;
}

ErrorOr<LoadedCell*> CellLinker::link(ByteView object, StringView expected_name)
{
    TRY(add(object, expected_name, expected_name.empty()));
    TRY(gather_dependencies());
    for (OwnPtr<PendingCell>& pending : m_pending)
        TRY(place(*pending));
    for (OwnPtr<PendingCell>& pending : m_pending)
        TRY(relocate(*pending));
    for (OwnPtr<PendingCell>& pending : m_pending) {
        TRY(read_entries(*pending));
        TRY(protect(*pending));
    }
    TRY(initialise());
    return commit(initialisation_order());
}

ErrorOr<void> CellLinker::add(ByteView original, StringView expected_name, bool keep_copy, StringView known_build_id)
{
    // A copy is parsed in place of the original, so the views the cell keeps stay valid.
    CellObject source = keep_copy ? CellObject::copy_of(original) : CellObject::view_of(original);
    ByteView bytes = source.bytes;
    StringView label = expected_name.empty() ? StringView("(pushed object)") : expected_name;
    if (m_pending.size() >= kMaxCellsPerLoad)
        return fail(Error::make(ErrorCode::Unsupported, "one load would need more cells than allowed", kMaxCellsPerLoad),
                    format("loading {} would need more than {} cells", label, kMaxCellsPerLoad));
    auto parsed = RelocatableObject::parse(bytes);
    if (parsed.is_error())
        return fail(parsed.error(), format("cell {}: {} ({})", label, parsed.error().explanation(), parsed.error().value));
    auto identity = read_cell_identity(parsed.value());
    if (identity.is_error())
        return fail(identity.error(), format("cell {}: {} ({})", label, identity.error().explanation(), identity.error().value));
    StringView name = identity.value().name;
    if (!expected_name.empty() && name != expected_name)
        return fail(Error::make(ErrorCode::Malformed, "cell record names a different cell"),
                    format("object for cell {} declares itself as {}", expected_name, name));
    LoadedCell* loaded_namesake = m_namespace.find_cell(name);
    if ((loaded_namesake && !is_replaced(loaded_namesake)) || pending_named(name))
        return fail(Error::make(ErrorCode::AlreadyExists, "a cell with this name is already loaded"),
                    format("cell {} is already loaded", name));

    auto pending = make_own<PendingCell>(parsed.release_value());
    pending->identity = identity.value();
    pending->cell = make_own<LoadedCell>(name, pending->identity.version);
    // The build id (SHA-256 of the object) would be a third of a swap's time if hashed on every
    // swap (~0.3 ms for a 137 KiB object on the development host): reuse one already computed.
    source.build_id = BuildId::parse(known_build_id);
    if (!source.build_id.known() && m_library)
        source.build_id = m_library->build_id_of(original);
    if (!source.build_id.known())
        source.build_id = BuildId::of(bytes);
    pending->cell->m_build_id = source.build_id;
    pending->cell->m_object = std::move(source);
    if (!pending->identity.state_layouts.empty())
        pending->cell->m_state.layouts = String(pending->identity.state_layouts);
    const RelocatableObject& object = pending->object;

    // What loaded sections refer to: undefined symbols become imports; the rest must be loaded.
    Vector<bool> seen;
    seen.resize(object.symbols().size());
    for (const RelocationSection& relocations : object.relocation_sections()) {
        if (!is_loaded(object.section(relocations.target)))
            continue;
        for (std::size_t i = 0; i < relocations.count(); ++i) {
            std::uint32_t index = relocations.at(i).symbol;
            if (index == 0 || seen[index])
                continue;
            seen[index] = true;
            const ObjectSymbol& symbol = object.symbols()[index];
            switch (symbol.place) {
            case SymbolPlace::Undefined:
                if (symbol.binding == STB_LOCAL || symbol.name.empty())
                    return fail(Error::make(ErrorCode::Malformed, "relocation refers to an undefined local or unnamed symbol", index),
                                format("cell {}: symbol {} is undefined but local or unnamed", name, index));
                pending->imports.append(index);
                break;
            case SymbolPlace::Common:
                return fail(Error::make(ErrorCode::Unsupported, "common symbols are not supported (build with -fno-common)", index),
                            format("cell {}: symbol {} is a common symbol", name, symbol.name));
            case SymbolPlace::Section:
                if (!is_loaded(object.section(symbol.section)))
                    return fail(Error::make(ErrorCode::Malformed, "relocation in a loaded section refers to a section that is not loaded", symbol.section),
                                format("cell {}: symbol {} lies in section {} ({}), which is not loaded", name, symbol.name,
                                       symbol.section, object.section(symbol.section).name));
                break;
            case SymbolPlace::Absolute:
                break;
            }
        }
    }

    // Exports: refused if the kernel, a loaded cell or another cell of this load has them.
    for (std::uint32_t index = 0; index < object.symbols().size(); ++index) {
        const ObjectSymbol& symbol = object.symbols()[index];
        if (!is_exported_symbol(object, symbol))
            continue;
        if (const SymbolDefinition* existing = visible_definition(symbol.name)) {
            StringView owner = existing->section ? existing->section->cell->name() : StringView("the kernel");
            return fail(Error::make(ErrorCode::AlreadyExists, "cell exports a symbol that is already defined"),
                        format("cell {} exports {}, which {} already exports", name, symbol.name, owner));
        }
        if (const TentativeExport* existing = m_exports.find(symbol.name)) {
            if (existing->pending == m_pending.size())
                return fail(Error::make(ErrorCode::Malformed, "cell defines the same global symbol twice", index),
                            format("cell {} defines {} twice (symbols {} and {})", name, symbol.name, existing->symbol, index));
            return fail(Error::make(ErrorCode::AlreadyExists, "cell exports a symbol that is already defined"),
                        format("cell {} exports {}, which cell {} (loaded with it) also exports", name, symbol.name,
                               m_pending[existing->pending]->identity.name));
        }
        m_exports.set(String(symbol.name), TentativeExport{m_pending.size(), index});
        pending->cell->m_exports.append(String(symbol.name));
    }
    m_pending.append(std::move(pending));
    return {};
}

ErrorOr<void> CellLinker::gather_dependencies()
{
    // m_pending grows while we walk it: each cell added is searched in turn.
    for (std::size_t i = 0; i < m_pending.size(); ++i) {
        for (std::size_t j = 0; j < m_pending[i]->imports.size(); ++j) {
            const ObjectSymbol& symbol = m_pending[i]->object.symbols()[m_pending[i]->imports[j]];
            if (m_exports.contains(symbol.name) || visible_definition(symbol.name))
                continue;
            if (symbol.binding == STB_WEAK)
                continue;  // like a static link, a weak reference never pulls a cell in
            const LibraryCell* provider = m_library ? m_library->provider_of(symbol.name) : nullptr;
            if (provider && !m_namespace.find_cell(provider->name) && !pending_named(provider->name)) {
                TRY(add(provider->object, provider->name, false));
                continue;
            }
            return fail(Error::make(ErrorCode::NotFound, "undefined symbol"),
                        format("cell {} needs {}, which neither the kernel, a loaded cell nor the cell library exports",
                               m_pending[i]->identity.name, symbol.name));
        }
    }
    return {};
}

ErrorOr<void> CellLinker::place(PendingCell& pending)
{
    const RelocatableObject& object = pending.object;
    LoadedCell& cell = *pending.cell;
    StringView name = cell.name();
    std::uint64_t region_size[kSectionKindCount] = {0, 0, 0};
    std::uint64_t region_alignment[kSectionKindCount] = {kPageSize, kPageSize, kPageSize};
    Vector<std::uint64_t> offsets;
    Vector<SectionKind> kinds;
    offsets.resize(object.sections().size());
    kinds.resize(object.sections().size());

    auto reserve = [&](SectionKind kind, std::uint64_t size, std::uint64_t alignment) -> ErrorOr<std::uint64_t> {
        int k = static_cast<int>(kind);
        std::uint64_t offset = align_up(region_size[k], alignment);
        if (offset > kMaxRegionSize || size > kMaxRegionSize - offset)
            return fail(Error::make(ErrorCode::Unsupported, "cell region would exceed 64 MiB", size),
                        format("cell {}: its {} sections need more than {} bytes", name, section_kind_name(kind), kMaxRegionSize));
        region_size[k] = offset + size;
        if (alignment > region_alignment[k])
            region_alignment[k] = alignment;
        return offset;
    };

    for (const ObjectSection& section : object.sections()) {
        if (!is_loaded(section))
            continue;
        auto kind = classify(section);
        if (kind.is_error())
            return fail(kind.error(), format("cell {}: section {}: {}", name, section.name, kind.error().explanation()));
        kinds[section.index] = kind.value();
        offsets[section.index] = TRY(reserve(kind.value(), section.size, section.alignment));
    }

    // One GOT slot per symbol that any GOTPCREL-family relocation reads through.
    pending.got_slots.resize(object.symbols().size());
    for (std::uint32_t& slot : pending.got_slots)
        slot = kNoGotSlot;
    std::uint32_t got_slot_count = 0;
    for (const RelocationSection& relocations : object.relocation_sections()) {
        if (!is_loaded(object.section(relocations.target)))
            continue;
        for (std::size_t i = 0; i < relocations.count(); ++i) {
            ObjectRelocation relocation = relocations.at(i);
            if (relocation_uses_got(relocation.type) && pending.got_slots[relocation.symbol] == kNoGotSlot)
                pending.got_slots[relocation.symbol] = got_slot_count++;
        }
    }
    std::uint64_t got_offset = 0;
    if (got_slot_count > 0)
        got_offset = TRY(reserve(kGotRegion, got_slot_count * kGotSlotSize, kGotSlotSize));

    for (int k = 0; k < kSectionKindCount; ++k) {
        if (region_size[k] == 0)
            continue;
        std::uint64_t size = align_up(region_size[k], kPageSize);
        auto region = m_namespace.m_memory.allocate(size, region_alignment[k]);
        if (region.is_error())
            return fail(region.error(), format("cell {}: allocating {} bytes for its {} region: {}", name, size,
                                               section_kind_name(static_cast<SectionKind>(k)), region.error().explanation()));
        Region got = region.value();
        cell.m_regions[k] = OwnedRegion(m_namespace.m_memory, got);
        if (got.size < size || got.address == 0 || got.address % region_alignment[k] != 0)
            return fail(Error::make(ErrorCode::Internal, "section memory returned a region that does not fit the request", got.address),
                        format("cell {}: asked for {} bytes aligned to {}, got {} bytes at {:#x}", name, size,
                               region_alignment[k], got.size, got.address));
        __builtin_memset(got.bytes(), 0, got.size);  // bss, padding and the GOT start as zeros
    }
    if (got_slot_count > 0)
        cell.m_got = Region{cell.region(kGotRegion).address + got_offset, got_slot_count * kGotSlotSize};

    pending.placed.resize(object.sections().size());
    cell.m_sections.reserve(object.sections().size());
    for (const ObjectSection& section : object.sections()) {
        if (!is_loaded(section))
            continue;
        auto loaded = make_own<LoadedSection>();
        loaded->name = String(section.name);
        loaded->kind = kinds[section.index];
        loaded->address = cell.region(loaded->kind).address + offsets[section.index];
        loaded->size = section.size;
        loaded->alignment = section.alignment;
        loaded->cell = &cell;
        if (section.type != SHT_NOBITS && !section.contents.empty())
            __builtin_memcpy(reinterpret_cast<void*>(loaded->address), section.contents.data(), section.contents.size());
        pending.placed[section.index] = loaded.get();
        cell.m_sections.append(std::move(loaded));
    }
    return {};
}

ErrorOr<CellLinker::Resolution> CellLinker::resolve(PendingCell& pending, std::uint32_t symbol_index)
{
    Resolution resolution;
    if (symbol_index == 0)
        return resolution;  // no symbol: the value is the addend alone
    const ObjectSymbol& symbol = pending.object.symbols()[symbol_index];
    if (symbol.type != STT_SECTION)
        resolution.name = symbol.name;
    switch (symbol.place) {
    case SymbolPlace::Section:
        // Defined here (strong, weak or COMDAT): a cell always binds to its own definition.
        resolution.kind = ProviderKind::Section;
        resolution.provider = pending.placed[symbol.section];
        resolution.address = resolution.provider->address + symbol.value;
        return resolution;
    case SymbolPlace::Absolute:
        resolution.address = symbol.value;
        return resolution;
    case SymbolPlace::Common:
        break;  // refused in add()
    case SymbolPlace::Undefined:
        if (const TentativeExport* tentative = m_exports.find(symbol.name)) {
            PendingCell& owner = *m_pending[tentative->pending];
            const ObjectSymbol& definition = owner.object.symbols()[tentative->symbol];
            resolution.kind = ProviderKind::Section;
            resolution.provider = owner.placed[definition.section];
            resolution.address = resolution.provider->address + definition.value;
            return resolution;
        }
        if (const SymbolDefinition* definition = visible_definition(symbol.name)) {
            resolution.kind = definition->section ? ProviderKind::Section : ProviderKind::Kernel;
            resolution.provider = definition->section;
            resolution.address = definition->address;
            return resolution;
        }
        if (symbol.binding == STB_WEAK)
            return resolution;  // an unresolved weak reference is 0
        break;
    }
    return fail(Error::make(ErrorCode::NotFound, "undefined symbol"),
                format("cell {}: {} is not defined anywhere", pending.identity.name, symbol.name));
}

ErrorOr<void> CellLinker::relocate(PendingCell& pending)
{
    const RelocatableObject& object = pending.object;
    LoadedCell& cell = *pending.cell;
    for (const RelocationSection& relocations : object.relocation_sections()) {
        LoadedSection* user = pending.placed[relocations.target];
        if (!user)
            continue;  // relocations of debug information and other unloaded sections
        user->uses.reserve(user->uses.size() + relocations.count());
        for (std::size_t i = 0; i < relocations.count(); ++i) {
            ObjectRelocation relocation = relocations.at(i);
            if (relocation.type == R_X86_64_NONE)
                continue;
            auto where = [&] {
                return format("cell {}, section {} + {:#x}, {} ({})", cell.name(), user->name, relocation.offset,
                              relocation_type_name(relocation.type), relocation.type);
            };
            if (!is_supported_relocation(relocation.type))
                return fail(Error::make(ErrorCode::Unsupported, "unsupported x86-64 relocation type", relocation.type),
                            format("{}: relocation type {} is not supported", where(), relocation.type));
            Resolution target = TRY(resolve(pending, relocation.symbol));
            std::uint64_t got_slot = 0;
            if (relocation_uses_got(relocation.type)) {
                got_slot = cell.m_got.address + pending.got_slots[relocation.symbol] * kGotSlotSize;
                store_64(got_slot, target.address);
            }
            RelocationSite site;
            site.type = relocation.type;
            site.place_address = user->address + relocation.offset;
            site.place = reinterpret_cast<std::uint8_t*>(site.place_address);
            site.symbol_address = target.address;
            site.addend = relocation.addend;
            site.got_slot_address = got_slot;
            auto applied = apply_relocation(site);
            if (applied.is_error())
                return fail(applied.error(), format("{} against {} at {:#x}, addend {}: {} (value {:#x})", where(),
                                                    target.name.empty() ? StringView("a section") : target.name,
                                                    target.address, relocation.addend, applied.error().explanation(),
                                                    applied.error().value));
            Dependency dependency;
            dependency.relocation = RelocationRecord{relocation.offset, relocation.type, relocation.addend, got_slot};
            dependency.provider_kind = target.kind;
            dependency.provider = target.provider;
            dependency.symbol_address = target.address;
            dependency.symbol = String(target.name);
            user->uses.append(std::move(dependency));
        }
    }
    return {};
}

ErrorOr<void> CellLinker::read_entries(PendingCell& pending)
{
    LoadedCell& cell = *pending.cell;
    // Code pointers the kernel will call must point into this cell's own code.
    auto check_code = [&](std::uint64_t address, const char* what) -> ErrorOr<void> {
        LoadedSection* section = cell.section_at(address);
        if (!section || section->kind != SectionKind::Text)
            return fail(Error::make(ErrorCode::Malformed, "cell entry point does not point into the cell's code", address),
                        format("cell {}: its {} points at {:#x}, outside its code", cell.name(), what, address));
        return {};
    };

    LoadedSection* record = pending.placed[pending.identity.section];
    cell.m_init = load_64(record->address + offsetof(CellInfo, init));
    cell.m_fini = load_64(record->address + offsetof(CellInfo, fini));
    if (cell.m_init)
        TRY(check_code(cell.m_init, "init entry"));
    if (cell.m_fini)
        TRY(check_code(cell.m_fini, "fini entry"));
    if (pending.identity.state_section != kNoSection) {
        LoadedSection* state = pending.placed[pending.identity.state_section];
        cell.m_state.export_state = load_64(state->address + offsetof(CellStateRecord, export_state));
        cell.m_state.adopt_state = load_64(state->address + offsetof(CellStateRecord, adopt_state));
        cell.m_state.outstanding = load_64(state->address + offsetof(CellStateRecord, outstanding));
        if (cell.m_state.export_state)
            TRY(check_code(cell.m_state.export_state, "state export entry"));
        if (cell.m_state.adopt_state)
            TRY(check_code(cell.m_state.adopt_state, "state adopt entry"));
        if (cell.m_state.outstanding)
            TRY(check_code(cell.m_state.outstanding, "outstanding entry"));
        // A failed swap hands the state back, so a cell that adopts must also be able to export.
        if (cell.m_state.adopt_state && !cell.m_state.export_state)
            return fail(Error::make(ErrorCode::Malformed, "cell state record adopts state but cannot export it"),
                        format("cell {}: its DELOS_CELL_STATE has an adopt entry but no export entry", cell.name()));
    }

    struct Table {
        LoadedSection* section;
        EntryTable order;
    };
    Vector<Table> tables;
    for (const OwnPtr<LoadedSection>& section : cell.m_sections) {
        EntryTable order;
        if (!entry_table_for(section->name, order))
            continue;
        if (section->size % sizeof(std::uint64_t) != 0)
            return fail(Error::make(ErrorCode::Malformed, "constructor or destructor table size is not a multiple of 8", section->size),
                        format("cell {}: section {} is {} bytes", cell.name(), section->name, section->size));
        // Insertion sort by priority keeps equal priorities in section order.
        std::size_t position = tables.size();
        tables.append(Table{section.get(), order});
        while (position > 0 && tables[position - 1].order.priority > order.priority) {
            Table moved = tables[position - 1];
            tables[position - 1] = tables[position];
            tables[position] = moved;
            --position;
        }
    }
    Vector<std::uint64_t> destructors;
    for (const Table& table : tables) {
        std::uint64_t count = table.section->size / sizeof(std::uint64_t);
        for (std::uint64_t i = 0; i < count; ++i) {
            std::uint64_t slot = table.order.reversed ? count - 1 - i : i;
            std::uint64_t function = load_64(table.section->address + slot * sizeof(std::uint64_t));
            if (function == 0 || function == ~std::uint64_t(0))
                continue;  // legacy list terminators
            TRY(check_code(function, table.order.constructors ? "constructor" : "destructor"));
            (table.order.constructors ? cell.m_constructors : destructors).append(function);
        }
    }
    // Destructors run in the reverse of the order their constructors would.
    while (!destructors.empty())
        cell.m_destructors.append(destructors.take_last());
    return {};
}

ErrorOr<void> CellLinker::protect(PendingCell& pending)
{
    LoadedCell& cell = *pending.cell;
    for (SectionKind kind : {SectionKind::Text, SectionKind::ReadOnly}) {
        Region region = cell.region(kind);
        if (region.empty())
            continue;
        auto protected_or_error = m_namespace.m_memory.protect(region, section_kind_permissions(kind));
        if (protected_or_error.is_error())
            return fail(protected_or_error.error(), format("cell {}: making its {} region {}: {}", cell.name(), section_kind_name(kind),
                                                           permissions_name(section_kind_permissions(kind)),
                                                           protected_or_error.error().explanation()));
    }
    return {};
}

Vector<std::size_t> CellLinker::initialisation_order() const
{
    // Depth-first, dependencies before dependents; a cycle is entered at its first cell.
    Vector<std::size_t> order;
    Vector<std::uint8_t> state;  // 0 unvisited, 1 in progress, 2 done
    state.resize(m_pending.size());
    auto index_of = [&](const LoadedCell* cell) -> std::size_t {
        for (std::size_t i = 0; i < m_pending.size(); ++i) {
            if (m_pending[i]->cell.get() == cell)
                return i;
        }
        return m_pending.size();
    };
    auto visit = [&](auto& self, std::size_t index) -> void {
        if (state[index] != 0)
            return;
        state[index] = 1;
        for (const OwnPtr<LoadedSection>& section : m_pending[index]->cell->sections()) {
            for (const Dependency& dependency : section->uses) {
                if (dependency.provider_kind != ProviderKind::Section)
                    continue;
                std::size_t provider = index_of(dependency.provider->cell);
                if (provider < m_pending.size() && provider != index)
                    self(self, provider);
            }
        }
        state[index] = 2;
        order.append(index);
    };
    for (std::size_t i = m_pending.size(); i > 0; --i)
        visit(visit, i - 1);
    return order;
}

ErrorOr<void> CellLinker::initialise()
{
    Vector<std::size_t> order = initialisation_order();
    for (const OwnPtr<PendingCell>& pending : m_pending)
        m_namespace.m_cells_in_progress.append(pending->cell.get());
    for (std::size_t position = 0; position < order.size(); ++position) {
        PendingCell& pending = *m_pending[order[position]];
        LoadedCell& cell = *pending.cell;
        for (std::uint64_t constructor : cell.m_constructors)
            m_namespace.m_invoker.call(cell.name(), EntryKind::Constructor, reinterpret_cast<void (*)()>(constructor));
        pending.constructed = true;
        if (cell.m_init) {
            auto result = m_namespace.m_invoker.call_init(cell.name(), reinterpret_cast<CellInitFunction>(cell.m_init));
            if (result.is_error()) {
                // Copy the reason now: its message may live in the memory about to be released.
                Error reason = result.error();
                String detail = format("cell {}: init failed: {} ({}: {})", cell.name(), reason.explanation(),
                                       error_code_name(reason.code), reason.value);
                tear_down_initialised(order[position], order, position);
                return fail(Error::make(reason.code, "cell init entry returned an error", reason.value), std::move(detail));
            }
        }
        pending.initialised = true;
    }
    m_namespace.m_cells_in_progress.clear();
    return {};
}

void CellLinker::tear_down_initialised(std::size_t failed_pending, const Vector<std::size_t>& order, std::size_t position)
{
    // The failed cell ran its constructors but not a successful init: destructors only.
    m_namespace.run_teardown(*m_pending[failed_pending]->cell, false);
    while (position > 0) {
        --position;
        m_namespace.run_teardown(*m_pending[order[position]]->cell, true);
    }
    m_namespace.m_cells_in_progress.clear();
}

LoadedCell* CellLinker::commit(const Vector<std::size_t>& order)
{
    LoadedCell* root = m_pending[0]->cell.get();
    for (std::size_t index : order) {
        PendingCell& pending = *m_pending[index];
        for (const OwnPtr<LoadedSection>& section : pending.cell->m_sections) {
            for (std::uint32_t i = 0; i < section->uses.size(); ++i) {
                const Dependency& dependency = section->uses[i];
                if (dependency.provider_kind == ProviderKind::Section)
                    dependency.provider->used_by.append(Dependent{section.get(), i});
            }
        }
        for (const String& name : pending.cell->m_exports) {
            const TentativeExport* tentative = m_exports.find(name.view());
            const ObjectSymbol& symbol = pending.object.symbols()[tentative->symbol];
            LoadedSection* section = pending.placed[symbol.section];
            m_namespace.m_symbols.set(String(name), SymbolDefinition{section->address + symbol.value, section});
        }
    }
    for (std::size_t index : order)
        m_namespace.m_cells.append(std::move(m_pending[index]->cell));
    m_pending.clear();
    return root;
}

} // namespace delos::link
