// fw_cfg_directory.h: strict parsing of what QEMU's fw_cfg device gives the guest (its file
// directory entries and the VM generation value a clone is started with); the port I/O is in
// guest/platform/vm_generation.cpp. All bytes come from the host: nothing is trusted.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/core/byte_view.h"
#include "lib/core/error_or.h"
#include "lib/core/string_view.h"

namespace delos::fw_cfg {

inline constexpr std::uint16_t kSignatureSelector = 0x0000;  // reads "QEMU"
inline constexpr std::uint16_t kFileDirectorySelector = 0x0019;
inline constexpr std::size_t kDirectoryEntryBytes = 64;      // size BE32, select BE16, reserved BE16, name[56]
inline constexpr std::size_t kMaxDirectoryEntries = 1024;     // more is refused, not searched
inline constexpr char kGenerationFileName[] = "opt/org.delos/generation";
inline constexpr std::size_t kMaxGenerationBytes = 64;

struct DirectoryEntry {
    std::uint32_t size = 0;
    std::uint16_t selector = 0;
    StringView name;  // inside the entry's bytes, up to its first NUL
};

// The directory's entry count (the first 4 bytes, big endian), refused above kMaxDirectoryEntries.
ErrorOr<std::uint32_t> parse_directory_count(ByteView first_four_bytes);

// One 64-byte entry. A name must be NUL-terminated inside its 56 bytes.
ErrorOr<DirectoryEntry> parse_directory_entry(ByteView entry);

// A generation value: 1..kMaxGenerationBytes of [A-Za-z0-9._-] (QEMU's -fw_cfg string= adds no
// NUL; one trailing NUL is allowed). Returns the value's text inside `bytes`.
ErrorOr<StringView> parse_generation(ByteView bytes);

} // namespace delos::fw_cfg
