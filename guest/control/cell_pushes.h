// cell_pushes.h: cell binaries arriving over the control channel: open pushes (chunks appended in
// order, hashed as they come), then staged cells (digest verified, identity read) waiting for a
// load. Belongs to one connection: a disconnect drops the open pushes and nothing else.
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
};

class CellPushes {
public:
    ErrorOr<std::uint32_t> begin(const channel::PushCellBegin&);
    // Returns the bytes received so far.
    ErrorOr<std::uint64_t> append(const channel::PushCellChunk&);
    // Verifies size, digest and the cell's own name; the cell becomes staged (replacing an
    // earlier staged copy of the same name).
    ErrorOr<const StagedCell*> commit(std::uint32_t push_id);
    ErrorOr<void> abort(std::uint32_t push_id);
    void drop_open_pushes() { m_open.clear(); }

    StagedCell* staged(StringView name);
    // Takes a staged cell out (to load it).
    ErrorOr<StagedCell> take_staged(StringView name);
    const Vector<StagedCell>& staged_cells() const { return m_staged; }
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

    Vector<OpenPush> m_open;
    Vector<StagedCell> m_staged;
    std::uint32_t m_next_id = 1;
};

} // namespace delos::control
