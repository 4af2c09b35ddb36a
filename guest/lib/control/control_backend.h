// control_backend.h: what the channel engine needs from the system it serves, and where its
// frames go. The guest implements it over the cell manager and the kernel's statistics
// (guest/control/kernel_control_backend.h); the host's fake guest over a model of cells
// (tests/support/fake_guest.h). Everything protocol-shaped stays in the engine.
#pragma once

#include <cstdint>

#include "lib/core/byte_view.h"
#include "lib/core/error_or.h"
#include "lib/core/function.h"
#include "lib/proto/channel_messages.h"
#include "lib/core/string_view.h"
#include "lib/core/vector.h"

namespace delos::control {

struct StagedCell;

class ControlBackend {
public:
    virtual ~ControlBackend() = default;

    virtual StringView kernel_version() const = 0;
    virtual std::uint64_t boot_ns() const = 0;
    // The boot id Ready carries (fault reports carry the same); "" where there is none.
    virtual StringView boot_id() const { return {}; }
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
    // Errors carry their own detail (Error::with_detail: symbol, section, cell names); the
    // engine's reply says the error's message and that detail.

    // Runs a checked load or unload. A system whose cells' entries may block (sleep, wait)
    // runs it in a task of its own, so the engine keeps answering meanwhile, and the work sends
    // its reply when done; the default runs it at once. An error: the work could not start.
    virtual ErrorOr<void> run_cell_operation(UniqueFunction<void()> work)
    {
        work();
        return {};
    }

    // Live evolution: replaces loaded cells by new objects, all or nothing. Each source names the
    // loaded cell and the new object: a staged push (the engine keeps it staged until the swap
    // succeeds) or, when `staged` is null, the system's own archive version of `object_name`.
    struct SwapSource {
        StringView old_cell;
        StringView object_name;
        const StagedCell* staged = nullptr;
    };
    virtual ErrorOr<channel::CellSwapped> swap_cells(const Vector<SwapSource>& sources) = 0;
    // Puts back the generation the last swap of `name` replaced.
    virtual ErrorOr<channel::CellSwapped> rollback_cell(StringView name) = 0;

    // Fault recovery's policy for `cell` (empty: the default); returns the policy now held.
    // Systems without fault recovery refuse it.
    virtual ErrorOr<channel::RecoveryPolicyInfo> set_recovery_policy(StringView cell, const channel::RecoveryPolicyInfo& policy)
    {
        (void)cell;
        (void)policy;
        return Error::make(ErrorCode::Unsupported, "this system has no fault recovery policy");
    }

    // Memory, tasks, uptime; the engine adds nothing.
    virtual void fill_stats(channel::StatsReply& stats) const = 0;

    // The system's ring of recent contained faults, oldest first, with its boot id
    // (docs/watchdog-and-stack-overflow.md). A system without one says so.
    virtual ErrorOr<channel::ListRecentFaultsReply> list_recent_faults()
    {
        return Error::make(ErrorCode::Unsupported, "this system keeps no fault ring");
    }

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
    // Sends may come from more than one task (a cell operation's reply): the engine holds this
    // around each send and around session changes. The default is for single-threaded users.
    virtual void lock_sends() {}
    virtual void unlock_sends() {}
};

} // namespace delos::control
