// control_backend.h: what the channel engine needs from the system it serves, and where its
// frames go. The guest implements it over the cell manager and the kernel's statistics
// (guest/control/kernel_control_backend.h); the host's fake guest over a model of cells
// (tests/support/fake_guest.h). Everything protocol-shaped stays in the engine.
#pragma once

#include <cstdint>

#include "lib/byte_view.h"
#include "lib/error_or.h"
#include "lib/proto/channel_messages.h"
#include "lib/string_view.h"
#include "lib/vector.h"

namespace delos::control {

struct StagedCell;

class ControlBackend {
public:
    virtual ~ControlBackend() = default;

    virtual StringView kernel_version() const = 0;
    virtual std::uint64_t boot_ns() const = 0;
    virtual std::uint64_t uptime_ns() const = 0;
    // Memory a push could still get; a push larger than half of it is refused at begin.
    virtual std::uint64_t free_memory_bytes() const = 0;

    virtual std::uint32_t loaded_cell_count() const = 0;
    virtual bool is_loaded(StringView name) const = 0;
    virtual void describe_loaded_cells(Vector<channel::CellInfo>& into) const = 0;
    // Loads a cell of the boot archive (with what it depends on), or links a staged object.
    // The engine has already refused a staged load whose name is loaded.
    virtual ErrorOr<channel::LoadCellReply> load_from_archive(StringView name) = 0;
    virtual ErrorOr<channel::LoadCellReply> load_staged(const StagedCell& cell) = 0;
    virtual ErrorOr<void> unload(StringView name) = 0;
    // The names (symbol, section, cell) behind the last error load_* or unload returned, or empty;
    // the engine appends them to the reply's reason.
    virtual StringView failure_detail() const { return {}; }

    // Memory, tasks, uptime; the engine adds nothing.
    virtual void fill_stats(channel::StatsReply& stats) const = 0;

    // Events the system produced (log lines), taken one at a time; the engine sends them
    // before each reply, so what a request made a cell log arrives before its answer.
    virtual bool take_event(channel::Event&) { return false; }
};

// Where whole frames go (the port, a socket, a test's buffer). Failures are the transport's
// business: a peer that left learns nothing more of its session.
class FrameWriter {
public:
    virtual ~FrameWriter() = default;
    virtual void write_frame(ByteView frame) = 0;
};

} // namespace delos::control
