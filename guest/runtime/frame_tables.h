// frame_tables.h: the registered .eh_frame sections (the kernel's, each loaded cell's) and the
// lookup of an instruction's FDE across them, with the bounds its LSDA must stay inside.
#pragma once

#include <cstdint>

#include "lib/core/byte_view.h"
#include "lib/core/error_or.h"
#include "lib/core/string_view.h"
#include "lib/unwind/eh_frame.h"

namespace delos::unwinding {

// Where a table's code and its read-only data (LSDAs) live: FDEs outside `code` are refused,
// LSDAs outside `data` make the lookup fail.
struct FrameTableBounds {
    std::uint64_t code_start = 0, code_end = 0;
    std::uint64_t data_start = 0, data_end = 0;
};

struct FrameTable;
using FrameTableHandle = FrameTable*;

// Indexes `eh_frame` (seen at `address`; the bytes must stay until unregistered). Refused if it
// does not parse or if an FDE covers code outside `bounds.code_*`.
ErrorOr<FrameTableHandle> register_frame_table(StringView owner, ByteView eh_frame, std::uint64_t address,
                                               const FrameTableBounds& bounds);
void unregister_frame_table(FrameTableHandle);

struct FoundFrame {
    unwind::FrameDescriptionEntry fde;
    ByteView lsda;                // from the FDE's LSDA to the end of its table's data bounds; empty if none
    std::uint64_t lsda_address = 0;
};

// The FDE covering `pc` in any registered table.
ErrorOr<FoundFrame> find_frame(std::uint64_t pc);

// Whether `pc` lies in the code bounds of a registered table other than the kernel's: a cell's
// code (loaded, loading or retiring). The registry changes only under its own spin lock, so this
// answer holds while a load or swap is midway (when the cell manager's records may not).
bool is_registered_cell_code(std::uint64_t pc);

// Registers the kernel image's own .eh_frame (kernel.ld's __eh_frame_start/__eh_frame_end).
ErrorOr<void> register_kernel_frame_table();

std::size_t registered_table_count();

} // namespace delos::unwinding
