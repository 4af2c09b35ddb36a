// cell_pushes.h: cell binaries arriving over the control channel: open pushes (chunks appended in
// order, hashed as they come), then staged cells (digest verified, identity read) waiting for a
// load. Open pushes belong to one session: its end drops them and nothing else. Shared by the
// guest's control agent and the host's fake guest through control::ChannelEngine.
#pragma once

#include <cstdint>

#include "lib/crypto/sha256.h"
#include "lib/core/error_or.h"
#include "lib/proto/channel_messages.h"
#include "lib/core/string.h"
#include "lib/core/vector.h"

namespace delos::control {

struct StagedCell {
    String name;
    String version;
    Vector<std::uint8_t> bytes;
    crypto::Sha256Digest sha256;
    // What the object holds, read at commit (section count and sizes by kind, as CellInfo has them).
    std::uint32_t section_count = 0;
    std::uint64_t text_bytes = 0, rodata_bytes = 0, data_bytes = 0, bss_bytes = 0;
};

class CellPushes {
public:
    // `free_memory_bytes`: what the receiver could still give the push; a cell larger than half
    // of it is refused at once rather than half-way through the transfer.
    ErrorOr<std::uint32_t> begin(const channel::PushCellBegin&, std::uint64_t free_memory_bytes);
    // Returns the bytes received so far.
    ErrorOr<std::uint64_t> append(const channel::PushCellChunk&);
    // Verifies size, digest and the cell's own name; the cell becomes staged (replacing an
    // earlier staged copy of the same name).
    ErrorOr<const StagedCell*> commit(std::uint32_t push_id);
    ErrorOr<void> abort(std::uint32_t push_id);
    // Drops every open push and gives their memory back (the session ended, or Hello).
    void drop_open_pushes();

    StagedCell* staged(StringView name);
    // Takes a staged cell out (to load it).
    ErrorOr<StagedCell> take_staged(StringView name);
    const Vector<StagedCell>& staged_cells() const { return m_staged; }
    std::size_t open_push_count() const { return m_open.size(); }
    // Heap bytes held for pushes: open buffers (their capacity) and staged objects.
    std::uint64_t bytes_held() const;

private:
    struct OpenPush {
        std::uint32_t id;
        String name;
        std::uint64_t total_size;
        crypto::Sha256Digest expected;
        crypto::Sha256 hash;
        Vector<std::uint8_t> bytes;
    };
    OpenPush* find_open(std::uint32_t push_id);
    void remove_open(std::uint32_t push_id);

    Vector<OpenPush> m_open;
    Vector<StagedCell> m_staged;
    std::uint32_t m_next_id = 1;
};

} // namespace delos::control
