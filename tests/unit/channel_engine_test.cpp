// channel_engine_test.cpp: the one request engine (lib/control/channel_engine.h) that the guest's
// agent and the fake guest both drive, against a scripted backend: sessions and Ready, Hello's
// effect on open pushes, a zero-length frame, events before their reply, a staged load whose
// name is loaded, the backend's failure detail, and memory: after any session the engine and
// the heap are back at their baseline, over many push + load + unload cycles and 1 MiB frames.
#include <gtest/gtest.h>


#include <cstring>
#include <string>
#include <vector>

#include "abi/channel_limits.h"
#include "lib/control/channel_engine.h"
#include "lib/crypto/sha256.h"
#include "lib/proto/channel_codec.h"
#include "counted_heap.h"
#include "test_cell_object.h"


using namespace delos;
using namespace delos::channel;
using delos::control::ChannelEngine;
using delos::test::make_cell_object;

namespace {

// Cells as names: an archive of one ("log"), pushed cells loaded by name; a load logs a line.
class ScriptedBackend final : public control::ControlBackend {
public:
    StringView kernel_version() const override { return "test-kernel 1"; }
    std::uint64_t boot_ns() const override { return 1234; }
    std::uint64_t uptime_ns() const override { return 5678; }
    std::uint64_t free_memory_bytes() const override { return free_memory; }
    std::uint32_t loaded_cell_count() const override { return static_cast<std::uint32_t>(loaded.size()); }
    bool is_loaded(StringView name) const override
    {
        for (const std::string& cell : loaded)
            if (StringView(cell.data(), cell.size()) == name)
                return true;
        return false;
    }
    void describe_loaded_cells(Vector<CellInfo>& into) const override
    {
        for (const std::string& cell : loaded) {
            CellInfo info;
            info.name = String(StringView(cell.data(), cell.size()));
            info.state = CellState::Loaded;
            into.append(std::move(info));
        }
    }
    ErrorOr<LoadCellReply> load_from_archive(StringView name) override
    {
        if (!(name == StringView("log")))
            return Error::make(ErrorCode::NotFound, "no cell of that name in the archive");
        return load(name);
    }
    ErrorOr<LoadCellReply> load_staged(const control::StagedCell& cell) override
    {
        ++staged_loads;
        if (fail_loads)
            return Error::make(ErrorCode::NotFound, "a symbol the cell uses is not defined")
                .with_detail("undefined symbol missing_function");
        return load(cell.name.view());
    }
    ErrorOr<void> unload(StringView name) override
    {
        for (std::size_t i = 0; i < loaded.size(); ++i) {
            if (StringView(loaded[i].data(), loaded[i].size()) == name) {
                loaded.erase(loaded.begin() + static_cast<long>(i));
                return {};
            }
        }
        return Error::make(ErrorCode::Internal, "unload of a cell that is not loaded");
    }
    ErrorOr<CellSwapped> swap_cells(const Vector<SwapSource>& sources) override
    {
        CellSwapped swapped;
        for (const SwapSource& source : sources) {
            if (!is_loaded(source.old_cell) || !source.staged)
                return Error::make(ErrorCode::NotFound, "nothing to swap");
            SwappedCell cell;
            cell.name = String(source.old_cell);
            cell.new_version = source.staged->version;
            swapped.cells.append(std::move(cell));
        }
        ++swaps;
        return swapped;
    }
    // With defer_operations, loads and unloads wait here until the test runs them (as the guest
    // runs them in a task of their own).
    ErrorOr<void> run_cell_operation(UniqueFunction<void()> work) override
    {
        if (!defer_operations) {
            work();
            return {};
        }
        deferred.push_back(std::move(work));
        return {};
    }
    ErrorOr<CellSwapped> rollback_cell(StringView) override
    {
        return Error::make(ErrorCode::NotFound, "no previous generation to roll back to");
    }
    void fill_stats(StatsReply& stats) const override { stats.task_count = 7; }
    bool take_event(Event& event) override
    {
        if (pending_logs == 0)
            return false;
        --pending_logs;
        event = Event();
        event.kind = Event::Kind::LogLine;
        event.log_line.text = String("cell init ran");
        return true;
    }

    std::vector<std::string> loaded;
    std::uint64_t free_memory = 1ull << 30;
    bool fail_loads = false;
    int staged_loads = 0;
    int pending_logs = 0;
    int swaps = 0;
    bool defer_operations = false;
    std::vector<UniqueFunction<void()>> deferred;

private:
    ErrorOr<LoadCellReply> load(StringView name)
    {
        loaded.emplace_back(name.data(), name.size());
        ++pending_logs;
        LoadCellReply reply;
        reply.cell.name = String(name);
        reply.cell.state = CellState::Loaded;
        return reply;
    }
};

// Keeps what the engine sent, decoded (or only counts it, for the memory test).
class CapturingWriter final : public control::FrameWriter {
public:
    void write_frame(ByteView frame) override
    {
        ++frames;
        if (!keep)
            return;
        ASSERT_GE(frame.size(), kFrameHeaderBytes);
        auto message = decode_guest_message(ByteView(frame.data() + kFrameHeaderBytes, frame.size() - kFrameHeaderBytes));
        ASSERT_FALSE(message.is_error()) << message.error().message;
        messages.push_back(message.release_value());
    }
    GuestMessage take()
    {
        EXPECT_FALSE(messages.empty());
        if (messages.empty())
            return {};
        GuestMessage first = std::move(messages.front());
        messages.erase(messages.begin());
        return first;
    }

    bool keep = true;
    std::uint64_t frames = 0;
    std::vector<GuestMessage> messages;
};

std::vector<std::uint8_t> frame_of(const HostMessage& message)
{
    Vector<std::uint8_t> frame;
    EXPECT_FALSE(append_frame(frame, message).is_error());
    return std::vector<std::uint8_t>(frame.begin(), frame.end());
}

HostMessage request(std::uint64_t id, HostMessage::Request kind)
{
    HostMessage message;
    message.request_id = id;
    message.request = kind;
    if (kind == HostMessage::Request::Hello) {
        message.hello.min_version = kProtocolVersionMin;
        message.hello.max_version = kProtocolVersionMax;
    }
    return message;
}

HostMessage named(std::uint64_t id, HostMessage::Request kind, const char* name)
{
    HostMessage message = request(id, kind);
    (kind == HostMessage::Request::LoadCell ? message.load_cell.name : message.unload_cell.name) = String(name);
    return message;
}

// Feeds a frame in pieces of `piece` bytes, as virtio buffers or socket reads split it.
void feed(ChannelEngine& engine, const std::vector<std::uint8_t>& bytes, std::size_t piece = SIZE_MAX)
{
    for (std::size_t at = 0; at < bytes.size(); at += piece)
        engine.receive(ByteView(bytes.data() + at, std::min(piece, bytes.size() - at)));
}

std::string text(const String& value) { return std::string(value.data() ? value.data() : "", value.size()); }

class EngineTest : public ::testing::Test {
protected:
    ScriptedBackend backend;
    CapturingWriter writer;
    ChannelEngine engine{backend, writer};

    Reply call(const HostMessage& message, std::size_t piece = SIZE_MAX)
    {
        feed(engine, frame_of(message), piece);
        for (;;) {
            GuestMessage next = writer.take();
            if (next.kind == GuestMessage::Kind::Reply || writer.messages.empty() && next.kind == GuestMessage::Kind::None)
                return std::move(next.reply);
        }
    }

    // Pushes and commits `object`; returns the commit's reply.
    Reply push(std::uint64_t first_id, const std::string& name, const std::string& object, std::size_t piece = SIZE_MAX)
    {
        HostMessage begin = request(first_id, HostMessage::Request::PushBegin);
        begin.push_begin.name = String(StringView(name.data(), name.size()));
        begin.push_begin.total_size = object.size();
        begin.push_begin.sha256 = crypto::Sha256::digest(ByteView(object.data(), object.size()));
        begin.push_begin.has_sha256 = true;
        Reply began = call(begin, piece);
        EXPECT_TRUE(began.status.ok()) << text(began.status.reason);
        for (std::size_t offset = 0; offset < object.size(); offset += kDefaultChunkBytes) {
            HostMessage chunk = request(first_id + 1, HostMessage::Request::PushChunk);
            chunk.push_chunk.push_id = began.push_begin.push_id;
            chunk.push_chunk.offset = offset;
            chunk.push_chunk.data = ByteView(object.data() + offset, std::min<std::size_t>(kDefaultChunkBytes, object.size() - offset));
            EXPECT_TRUE(call(chunk, piece).status.ok());
        }
        HostMessage commit = request(first_id + 2, HostMessage::Request::PushCommit);
        commit.push_commit.push_id = began.push_begin.push_id;
        return call(commit, piece);
    }
};

} // namespace

TEST_F(EngineTest, ASessionOpensWithReadyAndEventsNeedASession)
{
    Event early;
    early.kind = Event::Kind::LogLine;
    EXPECT_FALSE(engine.send_event(early)) << "no session, no event";
    backend.loaded = {"log", "kv"};
    engine.open_session();
    GuestMessage ready = writer.take();
    ASSERT_EQ(ready.kind, GuestMessage::Kind::Event);
    EXPECT_EQ(ready.event.kind, Event::Kind::Ready);
    EXPECT_EQ(ready.event.sequence, 1u);
    EXPECT_EQ(text(ready.event.ready.kernel_version), "test-kernel 1");
    EXPECT_EQ(ready.event.ready.cells_loaded, 2u);
    EXPECT_EQ(ready.event.ready.boot_ns, 1234u);
    EXPECT_TRUE(engine.send_event(early));
    EXPECT_EQ(writer.take().event.sequence, 2u);
    engine.close_session();
    EXPECT_FALSE(engine.send_event(early));
    engine.open_session();
    EXPECT_EQ(writer.take().event.sequence, 3u) << "sequence counts events since boot, across sessions";
}

TEST_F(EngineTest, HelloAnswersTheLimitsAndDropsOpenPushesButNotStagedCells)
{
    engine.open_session();
    writer.take();
    std::string object = make_cell_object("probe", "1.0.0", 100);
    ASSERT_TRUE(push(1, "probe", object).status.ok());
    HostMessage begin = request(10, HostMessage::Request::PushBegin);
    begin.push_begin.name = String("other");
    begin.push_begin.total_size = 10;
    begin.push_begin.has_sha256 = true;
    Reply began = call(begin);
    ASSERT_TRUE(began.status.ok());

    Reply hello = call(request(11, HostMessage::Request::Hello));
    ASSERT_TRUE(hello.status.ok());
    EXPECT_EQ(hello.request_id, 11u);
    EXPECT_EQ(hello.hello.version, kProtocolVersionMax);
    EXPECT_EQ(hello.hello.max_frame_bytes, kMaxFrameBytes);
    EXPECT_EQ(hello.hello.max_chunk_bytes, kMaxChunkBytes);
    EXPECT_EQ(text(hello.hello.kernel_version), "test-kernel 1");

    HostMessage chunk = request(12, HostMessage::Request::PushChunk);
    chunk.push_chunk.push_id = began.push_begin.push_id;
    Reply gone = call(chunk);
    EXPECT_EQ(gone.status.code, StatusCode::NotFound);
    EXPECT_EQ(text(gone.status.reason), "no such push");
    EXPECT_EQ(engine.pushes().staged_cells().size(), 1u) << "Hello leaves staged cells alone";
}

TEST_F(EngineTest, ZeroLengthFrameCarriesNoRequestAndTheSessionGoesOn)
{
    engine.open_session();
    writer.take();
    feed(engine, {0, 0, 0, 0});
    GuestMessage refused = writer.take();
    ASSERT_EQ(refused.kind, GuestMessage::Kind::Reply);
    EXPECT_EQ(refused.reply.request_id, 0u);
    EXPECT_EQ(refused.reply.status.code, StatusCode::Malformed);
    EXPECT_EQ(text(refused.reply.status.reason), "message carries no request");
    EXPECT_TRUE(call(request(2, HostMessage::Request::Ping)).status.ok());
}

TEST_F(EngineTest, ALoadsLogLinesGoOutBeforeItsReply)
{
    engine.open_session();
    writer.take();
    feed(engine, frame_of(named(3, HostMessage::Request::LoadCell, "log")));
    GuestMessage log = writer.take();
    ASSERT_EQ(log.kind, GuestMessage::Kind::Event);
    EXPECT_EQ(text(log.event.log_line.text), "cell init ran");
    GuestMessage loaded = writer.take();
    ASSERT_EQ(loaded.kind, GuestMessage::Kind::Reply);
    EXPECT_EQ(loaded.reply.request_id, 3u);
    EXPECT_EQ(text(loaded.reply.load_cell.cell.name), "log");
}

TEST_F(EngineTest, AStagedCellWhoseNameIsLoadedIsRefusedAndStaysStaged)
{
    engine.open_session();
    writer.take();
    ASSERT_TRUE(push(1, "probe", make_cell_object("probe", "1.0.0", 100)).status.ok());
    ASSERT_TRUE(call(named(4, HostMessage::Request::LoadCell, "probe")).status.ok());
    ASSERT_TRUE(push(5, "probe", make_cell_object("probe", "1.1.0", 100)).status.ok());

    Reply refused = call(named(8, HostMessage::Request::LoadCell, "probe"));
    EXPECT_EQ(refused.status.code, StatusCode::AlreadyExists);
    EXPECT_EQ(text(refused.status.reason), "a cell of that name is loaded (swap it, or unload it first)");
    EXPECT_EQ(backend.staged_loads, 1);
    ASSERT_NE(engine.pushes().staged_cells().size(), 0u);

    // Listed twice: loaded, and staged beside it.
    Reply list = call(request(9, HostMessage::Request::ListCells));
    ASSERT_EQ(list.list_cells.cells.size(), 2u);
    EXPECT_EQ(list.list_cells.cells[0].state, CellState::Loaded);
    EXPECT_EQ(list.list_cells.cells[1].state, CellState::Staged);
    EXPECT_EQ(text(list.list_cells.cells[1].version), "1.1.0");

    // Unload names the loaded one first; then the staged copy loads.
    ASSERT_TRUE(call(named(10, HostMessage::Request::UnloadCell, "probe")).status.ok());
    ASSERT_TRUE(call(named(11, HostMessage::Request::LoadCell, "probe")).status.ok());
    EXPECT_TRUE(engine.pushes().staged_cells().empty());
    Reply missing = call(named(12, HostMessage::Request::UnloadCell, "nothing"));
    EXPECT_EQ(missing.status.code, StatusCode::NotFound);
    EXPECT_EQ(text(missing.status.reason), "no loaded or staged cell with that name");
}

TEST_F(EngineTest, ABackendRefusalCarriesItsDetailAndTheStagedCopyIsGone)
{
    engine.open_session();
    writer.take();
    ASSERT_TRUE(push(1, "probe", make_cell_object("probe", "1.0.0", 100)).status.ok());
    backend.fail_loads = true;
    Reply refused = call(named(4, HostMessage::Request::LoadCell, "probe"));
    EXPECT_EQ(refused.status.code, StatusCode::NotFound);
    EXPECT_EQ(text(refused.status.reason), "a symbol the cell uses is not defined: undefined symbol missing_function");
    EXPECT_TRUE(engine.pushes().staged_cells().empty()) << "a failed load consumed the staged copy: push again";
    // The detail belongs to that error only.
    Reply other = call(named(5, HostMessage::Request::LoadCell, "nothing"));
    EXPECT_EQ(text(other.status.reason), "no cell of that name in the archive");
}

TEST_F(EngineTest, APushLargerThanHalfTheFreeMemoryIsRefusedAtBegin)
{
    engine.open_session();
    writer.take();
    backend.free_memory = 1000;
    HostMessage begin = request(1, HostMessage::Request::PushBegin);
    begin.push_begin.name = String("probe");
    begin.push_begin.total_size = 501;
    begin.push_begin.has_sha256 = true;
    Reply refused = call(begin);
    EXPECT_EQ(refused.status.code, StatusCode::OutOfMemory);
    EXPECT_EQ(text(refused.status.reason), "not enough free memory to receive a cell this large");
}

TEST_F(EngineTest, ADisconnectDropsAPartialFrameAndOpenPushes)
{
    engine.open_session();
    writer.take();
    std::vector<std::uint8_t> ping = frame_of(request(1, HostMessage::Request::Ping));
    engine.receive(ByteView(ping.data(), ping.size() - 1));
    engine.close_session();
    EXPECT_EQ(engine.bytes_held(), 0u);
    engine.open_session();
    writer.messages.clear();
    // The new session's first frame is read from its own first byte.
    Reply pong = call(request(3, HostMessage::Request::Ping));
    EXPECT_EQ(pong.request_id, 3u);
    EXPECT_TRUE(pong.status.ok());
}

// Issue 9: after any session, the engine's memory and the heap are back at their baseline; a
// big frame's buffer is not kept, and push + load + unload cycles lose nothing.
TEST_F(EngineTest, SessionsGiveEveryByteBack)
{
    writer.keep = false;  // the writer must not grow either
    std::string object = make_cell_object("hello", "1.0.0", 300 * 1024);  // three chunks
    // A 1 MiB frame: a ping with a large unknown field (skipped), assembled from 64 KiB reads.
    HostMessage big = request(90, HostMessage::Request::Ping);
    std::vector<std::uint8_t> big_frame = frame_of(big);
    std::string padding(1 << 20, 'p');
    std::string unknown = std::string("\xfa\x07", 2);  // field 127, length-delimited
    for (std::uint64_t length = padding.size(); ; length >>= 7) {
        unknown.push_back(static_cast<char>((length & 0x7f) | (length >= 0x80 ? 0x80 : 0)));
        if (length < 0x80)
            break;
    }
    unknown += padding;
    big_frame.insert(big_frame.end(), unknown.begin(), unknown.end());
    std::uint32_t length = static_cast<std::uint32_t>(big_frame.size() - kFrameHeaderBytes);
    std::memcpy(big_frame.data(), &length, sizeof length);
    ASSERT_LE(length, kMaxFrameBytes);

    auto cycle = [&](std::uint64_t id) {
        engine.open_session();
        feed(engine, frame_of(request(id, HostMessage::Request::Hello)), 1000);
        std::uint64_t answered = writer.frames;
        feed(engine, big_frame, 64 * 1024);
        EXPECT_EQ(writer.frames, answered + 1) << "the big frame was answered";
        EXPECT_LE(engine.bytes_held(), channel::FrameDecoder::kRetainedBufferBytes);
        std::vector<std::uint8_t> small = frame_of(request(id + 1, HostMessage::Request::Ping));
        feed(engine, small, 3);
        EXPECT_LE(engine.bytes_held(), channel::FrameDecoder::kRetainedBufferBytes) << "a big frame's buffer is not kept";
        // push + load + unload, every frame split across reads.
        HostMessage begin = request(id + 2, HostMessage::Request::PushBegin);
        begin.push_begin.name = String("hello");
        begin.push_begin.total_size = object.size();
        begin.push_begin.sha256 = crypto::Sha256::digest(ByteView(object.data(), object.size()));
        begin.push_begin.has_sha256 = true;
        feed(engine, frame_of(begin), 7);
        for (std::size_t offset = 0; offset < object.size(); offset += kDefaultChunkBytes) {
            HostMessage chunk = request(id + 3, HostMessage::Request::PushChunk);
            chunk.push_chunk.push_id = static_cast<std::uint32_t>(2 * (id / 100) + 1);  // ids count from 1, two pushes a cycle
            chunk.push_chunk.offset = offset;
            chunk.push_chunk.data = ByteView(object.data() + offset, std::min<std::size_t>(kDefaultChunkBytes, object.size() - offset));
            feed(engine, frame_of(chunk), 64 * 1024);
        }
        HostMessage commit = request(id + 4, HostMessage::Request::PushCommit);
        commit.push_commit.push_id = static_cast<std::uint32_t>(2 * (id / 100) + 1);
        feed(engine, frame_of(commit));
        feed(engine, frame_of(named(id + 5, HostMessage::Request::LoadCell, "hello")));
        EXPECT_TRUE(backend.is_loaded("hello")) << "cycle " << id / 100;
        feed(engine, frame_of(named(id + 6, HostMessage::Request::UnloadCell, "hello")));
        EXPECT_FALSE(backend.is_loaded("hello"));
        // A push left open and half a frame when the host leaves.
        feed(engine, frame_of(begin));
        std::vector<std::uint8_t> half = frame_of(request(id + 7, HostMessage::Request::Ping));
        engine.receive(ByteView(half.data(), half.size() / 2));
        engine.close_session();
        EXPECT_EQ(engine.bytes_held(), 0u);
    };

    // The first sessions grow what is kept for good (the backend's vectors); after them, every
    // allocation a session makes is given back (counted by the binary's operator new).
    for (std::uint64_t i = 0; i < 3; ++i)
        cycle(i * 100);
    std::int64_t allocations = test::live_allocations(), bytes = test::live_bytes();
    for (std::uint64_t i = 3; i <= 202; ++i)
        cycle(i * 100);
    EXPECT_EQ(test::live_allocations(), allocations) << "allocations kept after 200 sessions";
    EXPECT_EQ(test::live_bytes(), bytes) << "heap bytes kept after 200 sessions";
    EXPECT_EQ(engine.frames_answered(), 203u * (1 + 1 + 1 + 1 + 3 + 1 + 1 + 1 + 1));
}

// main's agent runs loads and unloads in a task of their own: the engine answers other requests
// meanwhile, the operation sends its reply when done, and a reply whose session ended is dropped.
TEST_F(EngineTest, ALoadFinishesLaterPingsAreAnsweredMeanwhileAndAnEndedSessionsReplyIsDropped)
{
    engine.open_session();
    writer.take();
    backend.defer_operations = true;
    feed(engine, frame_of(named(3, HostMessage::Request::LoadCell, "log")), SIZE_MAX);
    EXPECT_TRUE(writer.messages.empty()) << "the load has not run yet, so nothing is answered";
    ASSERT_EQ(backend.deferred.size(), 1u);

    Reply ping = call(request(4, HostMessage::Request::Ping));
    EXPECT_EQ(ping.request_id, 4u);
    EXPECT_EQ(ping.payload, Reply::Payload::Ping);

    backend.deferred[0]();
    GuestMessage log = writer.take();
    EXPECT_EQ(log.kind, GuestMessage::Kind::Event) << "what the cell logged goes out before the reply";
    GuestMessage loaded = writer.take();
    ASSERT_EQ(loaded.kind, GuestMessage::Kind::Reply);
    EXPECT_EQ(loaded.reply.request_id, 3u);
    EXPECT_TRUE(loaded.reply.status.ok());
    EXPECT_EQ(loaded.reply.payload, Reply::Payload::LoadCell);

    feed(engine, frame_of(named(5, HostMessage::Request::UnloadCell, "log")), SIZE_MAX);
    ASSERT_EQ(backend.deferred.size(), 2u);
    engine.open_session();  // a new client before the unload finished
    EXPECT_EQ(writer.take().event.kind, Event::Kind::Ready);
    backend.deferred[1]();
    EXPECT_TRUE(backend.loaded.empty()) << "the unload ran";
    for (const GuestMessage& message : writer.messages)
        EXPECT_NE(message.kind, GuestMessage::Kind::Reply) << "a reply of the ended session reached the next one";
}

TEST_F(EngineTest, ASwapTakesTheStagedCopyAndAnnouncesItBeforeItsReply)
{
    engine.open_session();
    writer.take();
    ASSERT_TRUE(push(1, "probe", make_cell_object("probe", "1.0.0", 100)).status.ok());
    ASSERT_TRUE(call(named(4, HostMessage::Request::LoadCell, "probe")).status.ok());
    ASSERT_TRUE(push(5, "probe", make_cell_object("probe", "2.0.0", 100)).status.ok());

    HostMessage swap = request(8, HostMessage::Request::SwapCells);
    swap.swap_cells.pairs.append(SwapPair{String("probe"), String()});
    feed(engine, frame_of(swap), SIZE_MAX);
    GuestMessage event = writer.take();
    ASSERT_EQ(event.kind, GuestMessage::Kind::Event);
    EXPECT_EQ(event.event.kind, Event::Kind::CellSwapped);
    GuestMessage reply = writer.take();
    ASSERT_EQ(reply.kind, GuestMessage::Kind::Reply);
    ASSERT_TRUE(reply.reply.status.ok()) << text(reply.reply.status.reason);
    ASSERT_EQ(reply.reply.swap_cells.swapped.cells.size(), 1u);
    EXPECT_EQ(text(reply.reply.swap_cells.swapped.cells[0].new_version), "2.0.0");
    EXPECT_TRUE(engine.pushes().staged_cells().empty()) << "the swapped-in copy is the system's now";

    // Nothing staged: refused, and nothing is announced.
    feed(engine, frame_of(swap), SIZE_MAX);
    GuestMessage refused = writer.take();
    ASSERT_EQ(refused.kind, GuestMessage::Kind::Reply);
    EXPECT_EQ(refused.reply.status.code, StatusCode::NotFound);
    EXPECT_TRUE(writer.messages.empty());
    EXPECT_EQ(backend.swaps, 1);
}

namespace {

// Begin, every chunk (naming the push by the begin's request id), commit and a swap that
// requires that push: all fed before any reply is read, as a protocol-2 host sends them.
std::vector<std::uint8_t> pipelined_push_swap(std::uint64_t ref, const std::string& begin_name, const std::string& object,
                                              std::size_t chunk_bytes)
{
    HostMessage begin = request(ref, HostMessage::Request::PushBegin);
    begin.push_begin.name = String(StringView(begin_name.data(), begin_name.size()));
    begin.push_begin.total_size = object.size();
    begin.push_begin.sha256 = crypto::Sha256::digest(ByteView(object.data(), object.size()));
    begin.push_begin.has_sha256 = true;
    std::vector<std::uint8_t> bytes = frame_of(begin);
    std::uint64_t id = ref + 1;
    for (std::size_t offset = 0; offset < object.size(); offset += chunk_bytes) {
        HostMessage chunk = request(id++, HostMessage::Request::PushChunk);
        chunk.push_chunk.push_ref = ref;
        chunk.push_chunk.offset = offset;
        chunk.push_chunk.data = ByteView(object.data() + offset, std::min(chunk_bytes, object.size() - offset));
        auto frame = frame_of(chunk);
        bytes.insert(bytes.end(), frame.begin(), frame.end());
    }
    HostMessage commit = request(id++, HostMessage::Request::PushCommit);
    commit.push_commit.push_ref = ref;
    auto frame = frame_of(commit);
    bytes.insert(bytes.end(), frame.begin(), frame.end());
    HostMessage swap = request(id++, HostMessage::Request::SwapCells);
    swap.swap_cells.pairs.append(SwapPair{String("probe"), String()});
    swap.swap_cells.after_push_ref = ref;
    frame = frame_of(swap);
    bytes.insert(bytes.end(), frame.begin(), frame.end());
    return bytes;
}

std::vector<Reply> replies_of(CapturingWriter& writer)
{
    std::vector<Reply> replies;
    while (!writer.messages.empty()) {
        GuestMessage next = writer.take();
        if (next.kind == GuestMessage::Kind::Reply)
            replies.push_back(std::move(next.reply));
    }
    return replies;
}

} // namespace

TEST_F(EngineTest, APipelinedPushAndSwapNamesThePushByItsBeginsRequestId)
{
    engine.open_session();
    writer.take();
    ASSERT_TRUE(push(1, "probe", make_cell_object("probe", "1.0.0", 100)).status.ok());
    ASSERT_TRUE(call(named(4, HostMessage::Request::LoadCell, "probe")).status.ok());
    std::string v2 = make_cell_object("probe", "2.0.0", 100 * 1024);
    feed(engine, pipelined_push_swap(10, "probe", v2, 40 * 1024), 4096);
    std::vector<Reply> replies = replies_of(writer);
    ASSERT_EQ(replies.size(), 1u + 3 + 1 + 1);
    for (const Reply& reply : replies)
        EXPECT_TRUE(reply.status.ok()) << text(reply.status.reason);
    EXPECT_EQ(replies[0].request_id, 10u);
    EXPECT_EQ(replies[3].push_chunk.received_bytes, v2.size());
    EXPECT_EQ(text(replies[4].push_commit.cell.version), "2.0.0");
    ASSERT_EQ(replies[5].swap_cells.swapped.cells.size(), 1u);
    EXPECT_EQ(text(replies[5].swap_cells.swapped.cells[0].new_version), "2.0.0");
    EXPECT_EQ(backend.swaps, 1);
    EXPECT_TRUE(engine.pushes().staged_cells().empty());
    EXPECT_EQ(engine.pushes().open_push_count(), 0u);
}

TEST_F(EngineTest, ARefusedBeginRefusesItsChunksCommitAndSwapWithItsReasonAndStagesNothing)
{
    engine.open_session();
    writer.take();
    ASSERT_TRUE(push(1, "probe", make_cell_object("probe", "1.0.0", 100)).status.ok());
    ASSERT_TRUE(call(named(4, HostMessage::Request::LoadCell, "probe")).status.ok());
    // A staged copy from before must not be swapped in by a swap that follows a refused push.
    ASSERT_TRUE(push(5, "probe", make_cell_object("probe", "1.5.0", 100)).status.ok());
    std::string v2 = make_cell_object("probe", "2.0.0", 100 * 1024);
    feed(engine, pipelined_push_swap(20, "Not-A-Name", v2, 40 * 1024));
    std::vector<Reply> replies = replies_of(writer);
    ASSERT_EQ(replies.size(), 6u);
    EXPECT_EQ(replies[0].status.code, StatusCode::InvalidArgument);
    for (std::size_t i = 1; i < replies.size(); ++i) {
        EXPECT_EQ(replies[i].status.code, StatusCode::InvalidArgument) << i;
        EXPECT_NE(text(replies[i].status.reason).find("refused at begin"), std::string::npos) << text(replies[i].status.reason);
        EXPECT_NE(text(replies[i].status.reason).find("cell name must be"), std::string::npos) << text(replies[i].status.reason);
    }
    EXPECT_EQ(backend.swaps, 0);
    EXPECT_EQ(engine.pushes().open_push_count(), 0u);
    ASSERT_EQ(engine.pushes().staged_cells().size(), 1u) << "only the earlier staged copy";

    // A push whose commit fails (digest of other bytes): the swap says so and nothing swaps.
    std::vector<std::uint8_t> bytes = pipelined_push_swap(40, "probe", v2, 40 * 1024);
    bytes[bytes.size() / 2] ^= 1;  // inside a chunk's data
    feed(engine, bytes);
    replies = replies_of(writer);
    ASSERT_EQ(replies.size(), 6u);
    EXPECT_TRUE(replies[0].status.ok());
    EXPECT_EQ(replies[4].status.code, StatusCode::Malformed) << text(replies[4].status.reason);
    EXPECT_NE(text(replies[5].status.reason).find("failed to commit"), std::string::npos) << text(replies[5].status.reason);
    EXPECT_EQ(backend.swaps, 0);
    EXPECT_EQ(engine.pushes().open_push_count(), 0u);

    // The session's end forgets the references; the staged copy stays.
    engine.close_session();
    EXPECT_EQ(engine.pushes().staged_cells().size(), 1u);
}
