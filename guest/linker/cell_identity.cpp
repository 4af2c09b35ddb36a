// cell_identity.cpp: reading the DELOS_CELL record out of a cell's object bytes.
#include "linker/cell_identity.h"

#include "linker/cell_info.h"

namespace delos::link {

namespace {

// The characters before the first NUL in a fixed-size field, or an error if there is no NUL.
ErrorOr<StringView> terminated_field(const char* field, std::size_t capacity, const char* what_is_wrong)
{
    for (std::size_t length = 0; length < capacity; ++length) {
        if (field[length] == 0)
            return StringView(field, length);
    }
    return Error::make(ErrorCode::Malformed, what_is_wrong, capacity);
}

bool is_valid_version(StringView version)
{
    if (version.empty())
        return false;
    for (char c : version) {
        bool allowed = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.'
            || c == '-' || c == '+';
        if (!allowed)
            return false;
    }
    return true;
}

bool is_valid_layout_list(StringView layouts)
{
    if (layouts.empty() || layouts[0] == ',' || layouts[layouts.size() - 1] == ',')
        return false;
    char previous = 0;
    for (char c : layouts) {
        bool allowed = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == '/' || c == ',';
        if (!allowed || (c == ',' && previous == ','))
            return false;
        previous = c;
    }
    return true;
}

// Reads the optional state record; leaves `identity` without one when the object has none.
ErrorOr<void> read_state_record(const RelocatableObject& object, CellIdentity& identity)
{
    std::uint32_t index = object.find_section(kCellStateSectionName);
    if (index == kNoSection)
        return {};
    const ObjectSection& section = object.section(index);
    if (section.type != elf::SHT_PROGBITS || !section.is_allocated() || (section.flags & elf::SHF_WRITE))
        return Error::make(ErrorCode::Malformed, ".delos.cell.state is not a read-only allocated SHT_PROGBITS section", section.type);
    if (section.size != sizeof(CellStateRecord))
        return Error::make(ErrorCode::Malformed, ".delos.cell.state is not exactly one CellStateRecord in size", section.size);
    for (const ObjectSection& other : object.sections()) {
        if (other.index > index && other.name == kCellStateSectionName)
            return Error::make(ErrorCode::Malformed, "object has more than one .delos.cell.state section", other.index);
    }
    std::uint32_t magic = TRY(section.contents.read<std::uint32_t>(offsetof(CellStateRecord, magic)));
    if (magic != kCellStateMagic)
        return Error::make(ErrorCode::Malformed, "cell state record has a bad magic number", magic);
    std::uint32_t abi_version = TRY(section.contents.read<std::uint32_t>(offsetof(CellStateRecord, abi_version)));
    if (abi_version != kCellStateAbiVersion)
        return Error::make(ErrorCode::Unsupported, "cell state record was built for another ABI version", abi_version);
    const auto* record = reinterpret_cast<const char*>(section.contents.data());
    StringView layouts = TRY(terminated_field(record + offsetof(CellStateRecord, layouts), kCellStateLayoutsCapacity,
                                              "cell state layouts are not NUL-terminated"));
    if (!is_valid_layout_list(layouts))
        return Error::make(ErrorCode::Malformed, "cell state layouts must be a comma-separated list of [a-z0-9._/-]+", layouts.size());
    identity.state_section = index;
    identity.state_layouts = layouts;
    return {};
}

} // namespace

StringView common_state_layout(StringView preferred, StringView offered)
{
    auto next = [](StringView& list) {
        std::size_t comma = 0;
        while (comma < list.size() && list[comma] != ',')
            ++comma;
        StringView item = list.substr(0, comma);
        list = comma < list.size() ? list.substr(comma + 1) : StringView();
        return item;
    };
    while (!preferred.empty()) {
        StringView wanted = next(preferred);
        StringView rest = offered;
        while (!rest.empty()) {
            if (next(rest) == wanted)
                return wanted;
        }
    }
    return StringView();
}

bool is_valid_cell_name(StringView name)
{
    if (name.empty() || name.size() >= kCellNameCapacity || name[0] < 'a' || name[0] > 'z')
        return false;
    for (char c : name) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

ErrorOr<CellIdentity> read_cell_identity(const RelocatableObject& object)
{
    std::uint32_t index = object.find_section(kCellInfoSectionName);
    if (index == kNoSection)
        return Error::make(ErrorCode::NotFound, "object has no .delos.cell section (a cell declares itself with DELOS_CELL)");
    const ObjectSection& section = object.section(index);
    if (section.type != elf::SHT_PROGBITS || !section.is_allocated())
        return Error::make(ErrorCode::Malformed, ".delos.cell is not an allocated SHT_PROGBITS section", section.type);
    if (section.size != sizeof(CellInfo)) {
        if (section.size > sizeof(CellInfo) && section.size % sizeof(CellInfo) == 0)
            return Error::make(ErrorCode::Malformed, "cell has more than one DELOS_CELL record", section.size / sizeof(CellInfo));
        return Error::make(ErrorCode::Malformed, ".delos.cell is not exactly one CellInfo record in size", section.size);
    }
    for (const ObjectSection& other : object.sections()) {
        if (other.index > index && other.name == kCellInfoSectionName)
            return Error::make(ErrorCode::Malformed, "object has more than one .delos.cell section", other.index);
    }

    // Views into the object bytes: the record's characters are not relocated, only its pointers.
    const auto* record = reinterpret_cast<const char*>(section.contents.data());
    std::uint32_t magic = TRY(section.contents.read<std::uint32_t>(offsetof(CellInfo, magic)));
    if (magic != kCellInfoMagic)
        return Error::make(ErrorCode::Malformed, "cell record has a bad magic number", magic);
    std::uint32_t abi_version = TRY(section.contents.read<std::uint32_t>(offsetof(CellInfo, abi_version)));
    if (abi_version != kCellAbiVersion)
        return Error::make(ErrorCode::Unsupported,
                           "cell was built against another cell ABI version (the value is the cell's; this kernel "
                           "speaks cell ABI version " DELOS_CELL_ABI_VERSION_TEXT ": rebuild the cell with its SDK)",
                           abi_version);
    CellIdentity identity;
    identity.section = index;
    identity.name = TRY(terminated_field(record + offsetof(CellInfo, name), kCellNameCapacity, "cell name is not NUL-terminated"));
    identity.version = TRY(terminated_field(record + offsetof(CellInfo, version), kCellVersionCapacity, "cell version is not NUL-terminated"));
    if (!is_valid_cell_name(identity.name))
        return Error::make(ErrorCode::Malformed, "cell name must be [a-z][a-z0-9_]*", identity.name.size());
    if (!is_valid_version(identity.version))
        return Error::make(ErrorCode::Malformed, "cell version must be non-empty [0-9A-Za-z.+-]", identity.version.size());
    TRY(read_state_record(object, identity));
    return identity;
}

} // namespace delos::link
