// eh_frame.cpp: CIE/FDE parsing with every length, offset and pointer checked, and the FDE index.
#include "lib/unwind/eh_frame.h"

#include "lib/unwind/dwarf_reader.h"

namespace delos::unwind {

namespace {

struct EntryBounds {
    std::size_t start;      // of the length field
    std::size_t body;       // first byte after the length field (the CIE id / CIE pointer)
    std::size_t end;        // first byte after the entry
    std::uint32_t id;       // 0 for a CIE, else the CIE pointer
};

ErrorOr<EntryBounds> bounds_at(ByteView section, std::size_t offset)
{
    auto length = section.read<std::uint32_t>(offset);
    if (length.is_error())
        return Error::make(ErrorCode::Malformed, ".eh_frame entry length lies outside the section", offset);
    if (length.value() == 0xffffffffu)
        return Error::make(ErrorCode::Unsupported, ".eh_frame entry with a 64-bit length", offset);
    if (length.value() < 4 || !section.contains(offset + 4, length.value()))
        return Error::make(ErrorCode::Malformed, ".eh_frame entry runs past the section", offset);
    std::uint32_t id = section.read<std::uint32_t>(offset + 4).value();
    return EntryBounds{offset, offset + 4, offset + 4 + length.value(), id};
}

} // namespace

ErrorOr<EntryKind> entry_at(ByteView section, std::size_t offset, std::size_t& next)
{
    auto length = section.read<std::uint32_t>(offset);
    if (length.is_error())
        return Error::make(ErrorCode::Malformed, ".eh_frame entry length lies outside the section", offset);
    if (length.value() == 0) {
        next = offset + 4;
        return EntryKind::Terminator;
    }
    EntryBounds bounds = TRY(bounds_at(section, offset));
    next = bounds.end;
    return bounds.id == 0 ? EntryKind::Cie : EntryKind::Fde;
}

ErrorOr<CommonInformationEntry> parse_cie(ByteView section, std::uint64_t section_address, std::size_t offset)
{
    using namespace pointer_encoding;
    EntryBounds bounds = TRY(bounds_at(section, offset));
    if (bounds.id != 0)
        return Error::make(ErrorCode::Malformed, "FDE's CIE pointer does not point at a CIE", offset);
    ByteView entry = TRY(section.slice(0, bounds.end));  // reads stop at the entry's end
    DwarfReader reader(entry, section_address, bounds.body + 4);
    CommonInformationEntry cie;
    std::uint8_t version = TRY(reader.read<std::uint8_t>());
    if (version != 1 && version != 3)
        return Error::make(ErrorCode::Unsupported, "CIE version", version);
    char augmentation[8];
    std::size_t augmentation_length = 0;
    for (;;) {
        char c = static_cast<char>(TRY(reader.read<std::uint8_t>()));
        if (c == '\0')
            break;
        if (augmentation_length == sizeof augmentation)
            return Error::make(ErrorCode::Unsupported, "CIE augmentation string too long", offset);
        augmentation[augmentation_length++] = c;
    }
    cie.code_alignment = TRY(reader.read_uleb128());
    cie.data_alignment = TRY(reader.read_sleb128());
    if (version == 1)
        cie.return_address_register = TRY(reader.read<std::uint8_t>());
    else {
        std::uint64_t ra = TRY(reader.read_uleb128());
        if (ra > 0xffff)
            return Error::make(ErrorCode::Malformed, "CIE return address register", ra);
        cie.return_address_register = static_cast<std::uint32_t>(ra);
    }
    std::size_t instructions_start = reader.offset();
    if (augmentation_length > 0) {
        if (augmentation[0] != 'z')
            return Error::make(ErrorCode::Unsupported, "CIE augmentation does not start with 'z'", offset);
        cie.has_augmentation_data = true;
        std::uint64_t data_length = TRY(reader.read_uleb128());
        if (data_length > reader.remaining())
            return Error::make(ErrorCode::Malformed, "CIE augmentation data runs past the entry", offset);
        instructions_start = reader.offset() + static_cast<std::size_t>(data_length);
        ByteView data = TRY(entry.slice(0, instructions_start));
        DwarfReader augmentation_reader(data, section_address, reader.offset());
        for (std::size_t i = 1; i < augmentation_length; ++i) {
            switch (augmentation[i]) {
            case 'R': cie.fde_pointer_encoding = TRY(augmentation_reader.read<std::uint8_t>()); break;
            case 'L': cie.lsda_encoding = TRY(augmentation_reader.read<std::uint8_t>()); break;
            case 'S': cie.signal_frame = true; break;
            case 'P': {
                std::uint8_t encoding = TRY(augmentation_reader.read<std::uint8_t>());
                cie.personality = TRY(augmentation_reader.read_encoded(encoding, &cie.personality_indirect));
                break;
            }
            default: return Error::make(ErrorCode::Unsupported, "CIE augmentation character", static_cast<std::uint8_t>(augmentation[i]));
            }
        }
    }
    if (cie.fde_pointer_encoding == kOmit || (cie.fde_pointer_encoding & kIndirect))
        return Error::make(ErrorCode::Malformed, "CIE's FDE pointer encoding", cie.fde_pointer_encoding);
    cie.initial_instructions = TRY(entry.slice(instructions_start, bounds.end - instructions_start));
    return cie;
}

namespace {

// The FDE at `offset`, whose CIE (already parsed) is `cie`.
ErrorOr<FrameDescriptionEntry> parse_fde_with(ByteView section, std::uint64_t section_address, std::size_t offset,
                                              const CommonInformationEntry& cie);

// Where the CIE of the FDE at `offset` is.
ErrorOr<std::size_t> cie_offset_of(ByteView section, std::size_t offset)
{
    EntryBounds bounds = TRY(bounds_at(section, offset));
    if (bounds.id == 0)
        return Error::make(ErrorCode::Malformed, "expected an FDE, found a CIE", offset);
    if (bounds.id > bounds.body)
        return Error::make(ErrorCode::Malformed, "FDE's CIE pointer points before the section", offset);
    return bounds.body - bounds.id;
}

} // namespace

ErrorOr<FrameDescriptionEntry> parse_fde(ByteView section, std::uint64_t section_address, std::size_t offset)
{
    std::size_t cie_offset = TRY(cie_offset_of(section, offset));
    CommonInformationEntry cie = TRY(parse_cie(section, section_address, cie_offset));
    return parse_fde_with(section, section_address, offset, cie);
}

namespace {

ErrorOr<FrameDescriptionEntry> parse_fde_with(ByteView section, std::uint64_t section_address, std::size_t offset,
                                              const CommonInformationEntry& cie)
{
    using namespace pointer_encoding;
    EntryBounds bounds = TRY(bounds_at(section, offset));
    FrameDescriptionEntry fde;
    fde.offset = offset;
    fde.cie = cie;
    ByteView entry = TRY(section.slice(0, bounds.end));
    DwarfReader reader(entry, section_address, bounds.body + 4);
    fde.pc_begin = TRY(reader.read_encoded(fde.cie.fde_pointer_encoding));
    std::uint64_t range = TRY(reader.read_encoded(fde.cie.fde_pointer_encoding & 0x0f));
    if (range > ~fde.pc_begin)
        return Error::make(ErrorCode::Malformed, "FDE's address range wraps around", offset);
    fde.pc_end = fde.pc_begin + range;
    std::size_t instructions_start = reader.offset();
    if (fde.cie.has_augmentation_data) {
        std::uint64_t data_length = TRY(reader.read_uleb128());
        if (data_length > reader.remaining())
            return Error::make(ErrorCode::Malformed, "FDE augmentation data runs past the entry", offset);
        instructions_start = reader.offset() + static_cast<std::size_t>(data_length);
        if (fde.cie.lsda_encoding != kOmit) {
            if (fde.cie.lsda_encoding & kIndirect)
                return Error::make(ErrorCode::Unsupported, "indirect LSDA pointer", offset);
            ByteView data = TRY(entry.slice(0, instructions_start));
            DwarfReader lsda_reader(data, section_address, reader.offset());
            fde.lsda = TRY(lsda_reader.read_encoded(fde.cie.lsda_encoding, nullptr, fde.pc_begin));
        }
    }
    fde.instructions = TRY(entry.slice(instructions_start, bounds.end - instructions_start));
    return fde;
}

} // namespace

namespace {

// Heap sort by pc_begin: O(n log n) whatever order a hostile section uses, no recursion.
void sort_entries(Vector<EhFrameIndex::Entry>& entries)
{
    std::size_t n = entries.size();
    auto sift_down = [&](std::size_t root, std::size_t end) {
        for (;;) {
            std::size_t child = 2 * root + 1;
            if (child >= end)
                return;
            if (child + 1 < end && entries[child].pc_begin < entries[child + 1].pc_begin)
                ++child;
            if (!(entries[root].pc_begin < entries[child].pc_begin))
                return;
            EhFrameIndex::Entry swap = entries[root];
            entries[root] = entries[child];
            entries[child] = swap;
            root = child;
        }
    };
    for (std::size_t start = n / 2; start-- > 0;)
        sift_down(start, n);
    for (std::size_t end = n; end > 1; --end) {
        EhFrameIndex::Entry swap = entries[0];
        entries[0] = entries[end - 1];
        entries[end - 1] = swap;
        sift_down(0, end - 1);
    }
}

} // namespace

ErrorOr<EhFrameIndex> EhFrameIndex::build(ByteView section, std::uint64_t section_address, std::size_t max_entries)
{
    EhFrameIndex index;
    index.m_section = section;
    index.m_section_address = section_address;
    std::size_t offset = 0;
    std::size_t cached_cie_offset = ~std::size_t(0);
    CommonInformationEntry cached_cie;
    // Every entry is at least 8 bytes long, so this loop ends.
    while (offset < section.size()) {
        std::size_t next = 0;
        EntryKind kind = TRY(entry_at(section, offset, next));
        if (kind == EntryKind::Terminator)
            break;
        if (kind == EntryKind::Fde) {
            // Linkers share a handful of CIEs among all FDEs: parse each once in a row.
            std::size_t cie_offset = TRY(cie_offset_of(section, offset));
            if (cie_offset != cached_cie_offset) {
                cached_cie = TRY(parse_cie(section, section_address, cie_offset));
                cached_cie_offset = cie_offset;
            }
            FrameDescriptionEntry fde = TRY(parse_fde_with(section, section_address, offset, cached_cie));
            if (fde.pc_end > fde.pc_begin) {
                if (index.m_entries.size() >= max_entries)
                    return Error::make(ErrorCode::OutOfRange, ".eh_frame has too many FDEs", max_entries);
                index.m_entries.append({fde.pc_begin, fde.pc_end, offset});
                if (fde.pc_end > index.m_highest_pc)
                    index.m_highest_pc = fde.pc_end;
            }
        }
        offset = next;
    }
    sort_entries(index.m_entries);
    return index;
}

ErrorOr<FrameDescriptionEntry> EhFrameIndex::find(std::uint64_t pc) const
{
    // Last entry with pc_begin <= pc.
    std::size_t low = 0, high = m_entries.size();
    while (low < high) {
        std::size_t middle = low + (high - low) / 2;
        if (m_entries[middle].pc_begin <= pc)
            low = middle + 1;
        else
            high = middle;
    }
    if (low == 0 || pc >= m_entries[low - 1].pc_end)
        return Error::make(ErrorCode::NotFound, "no FDE covers the address", pc);
    return parse_fde(m_section, m_section_address, m_entries[low - 1].offset);
}

} // namespace delos::unwind
