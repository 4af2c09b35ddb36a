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
    std::uint64_t push_ref = 0;  // the begin's request id: "committed" without bookkeeping of its own
};

class CellPushes {
public:
    // `free_memory_bytes`: what the receiver could still give the push; a cell larger than half
    // of it is refused at once rather than half-way through the transfer.
    // `ref`: the begin's request_id, by which chunks and commit may name the push (push_id 0) and
    // a swap may require it committed, so a host sends them all without waiting for this reply.
    // Its outcome (refused, committed, failed) is remembered for the session.
    ErrorOr<std::uint32_t> begin(const channel::PushCellBegin&, std::uint64_t free_memory_bytes, std::uint64_t ref = 0);
    // Returns the bytes received so far.
    ErrorOr<std::uint64_t> append(const channel::PushCellChunk&);
    // Verifies size, digest and the cell's own name; the cell becomes staged (replacing an
    // earlier staged copy of the same name).
    ErrorOr<const StagedCell*> commit(std::uint32_t push_id, std::uint64_t push_ref = 0);
    // Succeeds only if the push begun with request_id `ref` was committed in this session;
    // otherwise says what became of it.
    ErrorOr<void> require_committed(std::uint64_t ref) const;
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
        std::uint64_t ref = 0;
        String name;
        std::uint64_t total_size;
        crypto::Sha256Digest expected;
        crypto::Sha256 hash;
        Vector<std::uint8_t> bytes;
    };
    enum class RefOutcome : std::uint8_t { Refused, Failed };
    struct RefRecord {
        std::uint64_t ref;
        RefOutcome outcome;
        Error error;  // why, when refused or failed
    };
    ErrorOr<std::uint32_t> open(const channel::PushCellBegin&, std::uint64_t free_memory_bytes, std::uint64_t ref);
    ErrorOr<const StagedCell*> finish(std::uint32_t push_id);
    OpenPush* find_open(std::uint32_t push_id);
    // The open push named by id, or (id 0) by reference; a reference that is not open says why.
    ErrorOr<OpenPush*> resolve(std::uint32_t push_id, std::uint64_t push_ref);
    const RefRecord* find_record(std::uint64_t ref) const;
    const StagedCell* staged_by_ref(std::uint64_t ref) const;
    void remember(std::uint64_t ref, RefOutcome, const Error&);
    void remove_open(std::uint32_t push_id);

    Vector<OpenPush> m_open;
    // The last kMaxRememberedPushRefs refused or failed pushes (errors only: a committed push is
    // known by its staged cell, so the ordinary path allocates nothing for references).
    Vector<RefRecord> m_records;
    Vector<StagedCell> m_staged;
    std::uint32_t m_next_id = 1;
};

} // namespace delos::control
