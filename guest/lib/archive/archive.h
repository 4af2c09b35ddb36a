// archive.h: a checked reader for GNU/System V `ar` archives (the boot set of cells is one).
// Understands the "/" (and "/SYM64/") symbol index, the "//" long-name table and "name/"
// terminators; refuses thin and BSD-style archives. Every header field and offset is checked.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/core/byte_view.h"
#include "lib/core/error_or.h"
#include "lib/core/string_view.h"
#include "lib/core/vector.h"

namespace delos::archive {

inline constexpr char kArchiveMagic[] = "!<arch>\n";
inline constexpr std::size_t kArchiveMagicSize = 8;
inline constexpr std::size_t kMemberHeaderSize = 60;

// One file stored in the archive. Views point into the archive bytes.
struct ArchiveMember {
    StringView name;            // without the "/" terminator
    ByteView contents;
    std::uint64_t header_offset = 0;  // where its 60-byte header starts in the archive
};

// One entry of the archive's symbol index: a symbol and the member that defines it.
struct ArchiveSymbol {
    StringView name;
    std::size_t member_index = 0;
};

class Archive {
public:
    static ErrorOr<Archive> parse(ByteView bytes);

    std::size_t member_count() const { return m_members.size(); }
    const ArchiveMember& member(std::size_t index) const { return m_members[index]; }
    const Vector<ArchiveMember>& members() const { return m_members; }
    // The first member called `name`.
    ErrorOr<const ArchiveMember*> find(StringView name) const;
    // The symbol index ("/" or "/SYM64/" member) if the archive has one, else empty.
    const Vector<ArchiveSymbol>& symbols() const { return m_symbols; }

private:
    Archive() = default;

    Vector<ArchiveMember> m_members;
    Vector<ArchiveSymbol> m_symbols;
};

} // namespace delos::archive
