// eh_frame.h: parsing .eh_frame (CIEs and FDEs, as GCC and the GNU linkers emit them) from
// untrusted bytes, and an address-sorted index of its FDEs for lookup by instruction pointer.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/core/byte_view.h"
#include "lib/core/error_or.h"
#include "lib/core/vector.h"

namespace delos::unwind {

struct CommonInformationEntry {
    std::uint64_t code_alignment = 1;
    std::int64_t data_alignment = 1;
    std::uint32_t return_address_register = 16;
    std::uint8_t fde_pointer_encoding = 0;      // DW_EH_PE_absptr unless 'R' says otherwise
    std::uint8_t lsda_encoding = 0xff;          // omitted unless 'L'
    bool signal_frame = false;                  // 'S'
    bool has_augmentation_data = false;         // 'z': FDEs carry an augmentation data block
    std::uint64_t personality = 0;              // 'P'; 0 = none
    bool personality_indirect = false;          // `personality` is the address of a slot holding it
    ByteView initial_instructions;
};

struct FrameDescriptionEntry {
    CommonInformationEntry cie;
    std::uint64_t pc_begin = 0;
    std::uint64_t pc_end = 0;                   // exclusive
    std::uint64_t lsda = 0;                     // 0 = none
    ByteView instructions;
    std::size_t offset = 0;                     // of the FDE in its section

    bool contains(std::uint64_t pc) const { return pc >= pc_begin && pc < pc_end; }
};

// Entry kinds met while walking a section.
enum class EntryKind : std::uint8_t { Cie, Fde, Terminator };

// Parses the CIE at `offset` of `section`, which the running system sees at `section_address`.
ErrorOr<CommonInformationEntry> parse_cie(ByteView section, std::uint64_t section_address, std::size_t offset);
// Parses the FDE at `offset` (and the CIE it points to).
ErrorOr<FrameDescriptionEntry> parse_fde(ByteView section, std::uint64_t section_address, std::size_t offset);

// The length and kind of the entry at `offset`; `next` is where the following entry starts.
ErrorOr<EntryKind> entry_at(ByteView section, std::size_t offset, std::size_t& next);

// A parsed, indexed .eh_frame. The bytes are not copied: they must outlive the index.
class EhFrameIndex {
public:
    // Every FDE must parse; empty ones (pc range 0, as left by discarded sections) are skipped.
    // At most `max_entries` FDEs (a hostile section cannot make the index arbitrarily large).
    static ErrorOr<EhFrameIndex> build(ByteView section, std::uint64_t section_address, std::size_t max_entries = 1u << 20);

    // The FDE covering `pc`; NotFound if none does.
    ErrorOr<FrameDescriptionEntry> find(std::uint64_t pc) const;

    std::size_t size() const { return m_entries.size(); }
    // The range every indexed FDE lies in (both 0 when empty).
    std::uint64_t lowest_pc() const { return m_entries.empty() ? 0 : m_entries[0].pc_begin; }
    std::uint64_t highest_pc() const { return m_highest_pc; }
    ByteView section() const { return m_section; }
    std::uint64_t section_address() const { return m_section_address; }

    struct Entry {
        std::uint64_t pc_begin;
        std::uint64_t pc_end;
        std::size_t offset;
    };
    const Vector<Entry>& entries() const { return m_entries; }

private:
    ByteView m_section;
    std::uint64_t m_section_address = 0;
    std::uint64_t m_highest_pc = 0;
    Vector<Entry> m_entries;
};

} // namespace delos::unwind
