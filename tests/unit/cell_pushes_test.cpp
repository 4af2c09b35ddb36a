// cell_pushes_test.cpp: the push bookkeeping the guest and the fake guest share (lib/control/
// cell_pushes.h): every refusal at begin, chunk and commit with its exact text, staging (and
// replacing a staged copy), abort, dropping open pushes, and memory given back.
#include <gtest/gtest.h>

#include <string>

#include "abi/channel_limits.h"
#include "lib/control/cell_pushes.h"
#include "lib/crypto/sha256.h"
#include "test_cell_object.h"

using namespace delos;
using namespace delos::channel;
using delos::control::CellPushes;
using delos::test::make_cell_object;

namespace {

constexpr std::uint64_t kPlentyOfMemory = 1ull << 30;

ByteView view(const std::string& bytes) { return ByteView(bytes.data(), bytes.size()); }

PushCellBegin begin_of(const std::string& name, const std::string& object)
{
    PushCellBegin begin;
    begin.name = String(StringView(name.data(), name.size()));
    begin.total_size = object.size();
    begin.sha256 = crypto::Sha256::digest(view(object));
    begin.has_sha256 = true;
    return begin;
}

PushCellChunk chunk_of(std::uint32_t push_id, std::uint64_t offset, ByteView data)
{
    PushCellChunk chunk;
    chunk.push_id = push_id;
    chunk.offset = offset;
    chunk.data = data;
    return chunk;
}

template <typename Result>
void expect_refused(Result&& result, ErrorCode code, const char* reason)
{
    ASSERT_TRUE(result.is_error()) << reason;
    EXPECT_EQ(result.error().code, code) << result.error().message;
    EXPECT_STREQ(result.error().message, reason);
}

// Pushes `object` whole under `name` and commits it.
std::uint32_t push_whole(CellPushes& pushes, const std::string& name, const std::string& object)
{
    std::uint32_t id = pushes.begin(begin_of(name, object), kPlentyOfMemory).value();
    EXPECT_EQ(pushes.append(chunk_of(id, 0, view(object))).value(), object.size());
    return id;
}

} // namespace

TEST(CellPushes, BeginRefusesBadNamesSizesAndTooManyPushes)
{
    CellPushes pushes;
    std::string object = make_cell_object("probe", "1.0.0", 100);
    expect_refused(pushes.begin(begin_of("Bad-Name", object), kPlentyOfMemory), ErrorCode::InvalidArgument,
                   "cell name must be [a-z][a-z0-9_]*, at most 31 bytes");
    PushCellBegin empty = begin_of("probe", object);
    empty.total_size = 0;
    expect_refused(pushes.begin(empty, kPlentyOfMemory), ErrorCode::OutOfRange,
                   "cell size must be between 1 byte and the channel's limit");
    PushCellBegin huge = begin_of("probe", object);
    huge.total_size = kMaxCellBytes + 1;
    expect_refused(pushes.begin(huge, kPlentyOfMemory), ErrorCode::OutOfRange,
                   "cell size must be between 1 byte and the channel's limit");
    // More than half of what the receiver has free: refused before any byte is sent.
    expect_refused(pushes.begin(begin_of("probe", object), 2 * object.size() - 1), ErrorCode::OutOfMemory,
                   "not enough free memory to receive a cell this large");
    EXPECT_FALSE(pushes.begin(begin_of("probe", object), 2 * object.size()).is_error());

    for (std::uint32_t i = 1; i < kMaxOpenPushes; ++i)
        EXPECT_FALSE(pushes.begin(begin_of("probe", object), kPlentyOfMemory).is_error());
    expect_refused(pushes.begin(begin_of("probe", object), kPlentyOfMemory), ErrorCode::Busy, "too many pushes open at once");
    EXPECT_EQ(pushes.open_push_count(), kMaxOpenPushes);
}

TEST(CellPushes, ChunksMustComeInOrderAndWithinTheAnnouncedSize)
{
    CellPushes pushes;
    std::string object = make_cell_object("probe", "1.0.0", 1000);
    std::uint32_t id = pushes.begin(begin_of("probe", object), kPlentyOfMemory).value();
    expect_refused(pushes.append(chunk_of(id + 1, 0, view(object))), ErrorCode::NotFound, "no such push");
    EXPECT_EQ(pushes.append(chunk_of(id, 0, ByteView(object.data(), 100))).value(), 100u);
    auto misplaced = pushes.append(chunk_of(id, 50, ByteView(object.data(), 10)));
    expect_refused(std::move(misplaced), ErrorCode::OutOfRange, "chunk offset is not where the push left off");
    std::string too_long = object + "x";
    expect_refused(pushes.append(chunk_of(id, 100, ByteView(too_long.data() + 100, too_long.size() - 100))),
                   ErrorCode::OutOfRange, "chunk runs past the announced size");
    // A refused chunk does not end the push: it resumes where the last good one left off.
    EXPECT_EQ(pushes.append(chunk_of(id, 100, ByteView(object.data() + 100, object.size() - 100))).value(), object.size());
    const control::StagedCell* staged = pushes.commit(id).value();
    EXPECT_EQ(staged->name.view(), StringView("probe"));
}

TEST(CellPushes, CommitChecksSizeDigestObjectAndName)
{
    CellPushes pushes;
    std::string object = make_cell_object("probe", "2.0.1", 3000);

    std::uint32_t short_id = pushes.begin(begin_of("probe", object), kPlentyOfMemory).value();
    ASSERT_FALSE(pushes.append(chunk_of(short_id, 0, ByteView(object.data(), 10))).is_error());
    expect_refused(pushes.commit(short_id), ErrorCode::InvalidArgument, "push ended short of the announced size");
    // A commit ends the push whatever its outcome.
    expect_refused(pushes.commit(short_id), ErrorCode::NotFound, "no such push");

    PushCellBegin wrong_digest = begin_of("probe", object);
    wrong_digest.sha256 = crypto::Sha256::digest(view(std::string("something else")));
    std::uint32_t id = pushes.begin(wrong_digest, kPlentyOfMemory).value();
    ASSERT_FALSE(pushes.append(chunk_of(id, 0, view(object))).is_error());
    expect_refused(pushes.commit(id), ErrorCode::Malformed, "sha256 digest does not match the pushed bytes");

    std::string not_elf(100, 'x');  // long enough for a header, without the magic
    expect_refused(pushes.commit(push_whole(pushes, "probe", not_elf)), ErrorCode::Malformed, "not an ELF file (bad magic)");
    expect_refused(pushes.commit(push_whole(pushes, "other", object)), ErrorCode::InvalidArgument,
                   "push name differs from the cell's DELOS_CELL name");
    EXPECT_TRUE(pushes.staged_cells().empty());
    EXPECT_EQ(pushes.open_push_count(), 0u);

    const control::StagedCell* staged = pushes.commit(push_whole(pushes, "probe", object)).value();
    EXPECT_EQ(staged->version.view(), StringView("2.0.1"));
    EXPECT_EQ(staged->bytes.size(), object.size());
    EXPECT_TRUE(staged->sha256 == crypto::Sha256::digest(view(object)));
    EXPECT_EQ(staged->rodata_bytes, 3000u + sizeof(link::CellInfo));  // .rodata and the DELOS_CELL record
    EXPECT_EQ(staged->text_bytes, 0u);
    EXPECT_EQ(staged->section_count, 3u);  // .delos.cell, .rodata, .shstrtab
}

TEST(CellPushes, ANewPushOfAStagedNameReplacesTheStagedCopy)
{
    CellPushes pushes;
    ASSERT_FALSE(pushes.commit(push_whole(pushes, "probe", make_cell_object("probe", "1.0.0", 10))).is_error());
    ASSERT_FALSE(pushes.commit(push_whole(pushes, "probe", make_cell_object("probe", "1.1.0", 10))).is_error());
    ASSERT_EQ(pushes.staged_cells().size(), 1u);
    EXPECT_EQ(pushes.staged("probe")->version.view(), StringView("1.1.0"));
    auto taken = pushes.take_staged("probe");
    ASSERT_FALSE(taken.is_error());
    EXPECT_EQ(taken->version.view(), StringView("1.1.0"));
    expect_refused(pushes.take_staged("probe"), ErrorCode::NotFound, "no staged cell with that name");
}

TEST(CellPushes, AbortAndDropGiveTheMemoryBack)
{
    CellPushes pushes;
    std::string object = make_cell_object("probe", "1.0.0", 50000);
    std::uint32_t aborted = pushes.begin(begin_of("probe", object), kPlentyOfMemory).value();
    std::uint32_t dropped = pushes.begin(begin_of("probe", object), kPlentyOfMemory).value();
    EXPECT_GE(pushes.bytes_held(), 2 * object.size()) << "each open push reserves its announced size";
    ASSERT_FALSE(pushes.abort(aborted).is_error());
    expect_refused(pushes.abort(aborted), ErrorCode::NotFound, "no such push");
    expect_refused(pushes.append(chunk_of(aborted, 0, view(object))), ErrorCode::NotFound, "no such push");
    pushes.drop_open_pushes();
    expect_refused(pushes.commit(dropped), ErrorCode::NotFound, "no such push");
    EXPECT_EQ(pushes.bytes_held(), 0u);

    ASSERT_FALSE(pushes.commit(push_whole(pushes, "probe", object)).is_error());
    EXPECT_EQ(pushes.bytes_held(), object.size()) << "a staged cell holds exactly its object";
    ASSERT_FALSE(pushes.take_staged("probe").is_error());
    EXPECT_EQ(pushes.bytes_held(), 0u);
}
