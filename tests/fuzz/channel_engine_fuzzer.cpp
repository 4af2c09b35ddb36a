// channel_engine_fuzzer.cpp: the channel engine (sessions, dispatch, pushes) over arbitrary bytes
// fed in pseudo-random pieces, with a backend that loads any staged cell. Every frame the engine
// writes must decode as a GuestMessage; a session's end must leave only staged cells held.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "lib/control/channel_engine.h"
#include "lib/proto/channel_codec.h"

using namespace delos;
using namespace delos::channel;

namespace {

[[noreturn]] void fail(const char* what)
{
    __builtin_fprintf(stderr, "fuzz-channel-engine: %s\n", what);
    std::abort();
}

class Backend final : public control::ControlBackend {
public:
    StringView kernel_version() const override { return "fuzz"; }
    std::uint64_t boot_ns() const override { return 1; }
    std::uint64_t uptime_ns() const override { return 2; }
    std::uint64_t free_memory_bytes() const override { return 64ull << 20; }
    std::uint32_t loaded_cell_count() const override { return static_cast<std::uint32_t>(m_loaded.size()); }
    bool is_loaded(StringView name) const override
    {
        for (const String& cell : m_loaded)
            if (cell.view() == name)
                return true;
        return false;
    }
    void describe_loaded_cells(Vector<CellInfo>& into) const override
    {
        for (const String& cell : m_loaded) {
            CellInfo info;
            info.name = cell;
            info.state = CellState::Loaded;
            into.append(static_cast<CellInfo&&>(info));
        }
    }
    ErrorOr<LoadCellReply> load_from_archive(StringView) override
    {
        return Error::make(ErrorCode::NotFound, "no archive");
    }
    ErrorOr<LoadCellReply> load_staged(const control::StagedCell& cell) override
    {
        m_loaded.append(cell.name);
        LoadCellReply reply;
        reply.cell = control::describe_staged(cell);
        reply.cell.state = CellState::Loaded;
        return reply;
    }
    ErrorOr<void> unload(StringView name) override
    {
        m_loaded.remove_all_matching([&](const String& cell) { return cell.view() == name; });
        return {};
    }
    // Swaps succeed when the cell is loaded and a staged object is named; rollbacks never have history.
    ErrorOr<CellSwapped> swap_cells(const Vector<SwapSource>& sources) override
    {
        CellSwapped swapped;
        for (const SwapSource& source : sources) {
            if (!is_loaded(source.old_cell) || !source.staged)
                return Error::make(ErrorCode::NotFound, "nothing to swap");
            SwappedCell cell;
            cell.name = String(source.old_cell);
            cell.new_version = source.staged->version;
            swapped.cells.append(static_cast<SwappedCell&&>(cell));
        }
        return swapped;
    }
    ErrorOr<CellSwapped> rollback_cell(StringView) override
    {
        return Error::make(ErrorCode::NotFound, "no previous generation to roll back to");
    }
    void fill_stats(StatsReply&) const override {}

private:
    Vector<String> m_loaded;
};

class CheckingWriter final : public control::FrameWriter {
public:
    void write_frame(ByteView frame) override
    {
        if (frame.size() < kFrameHeaderBytes)
            fail("a frame shorter than its header");
        std::uint32_t length;
        __builtin_memcpy(&length, frame.data(), sizeof length);
        if (length != frame.size() - kFrameHeaderBytes || length > kMaxFrameBytes)
            fail("a frame whose length field is wrong");
        if (decode_guest_message(ByteView(frame.data() + kFrameHeaderBytes, length)).is_error())
            fail("a frame the host cannot decode");
    }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    Backend backend;
    CheckingWriter writer;
    control::ChannelEngine engine(backend, writer);
    engine.open_session();
    // The first byte seeds the piece sizes; a zero piece byte ends the session and opens another.
    std::uint32_t seed = size ? data[0] : 1;
    std::size_t at = size ? 1 : 0;
    while (at < size) {
        seed = seed * 1103515245u + 12345u;
        std::size_t piece = 1 + (seed >> 16) % 97;
        if (piece > size - at)
            piece = size - at;
        engine.receive(ByteView(data + at, piece));
        at += piece;
        if ((seed >> 8) % 61 == 0) {
            engine.close_session();
            if (engine.bytes_held() != engine.pushes().bytes_held() || engine.pushes().open_push_count() != 0)
                fail("a closed session still holds memory");
            engine.open_session();
        }
    }
    engine.close_session();
    if (engine.pushes().open_push_count() != 0)
        fail("open pushes outlived their session");
    return 0;
}
