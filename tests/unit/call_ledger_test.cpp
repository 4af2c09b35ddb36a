// call_ledger_test.cpp: the bookkeeping behind call ownership (guest/lib/core/call_ledger.h): what
// a call charges, forgets and leaves behind.
#include "lib/core/call_ledger.h"

#include <cstring>

#include <gtest/gtest.h>

using delos::CallLedger;

namespace {

constexpr std::uint64_t kTask = 7;
constexpr std::uint64_t kCellCode = 0x500000;
constexpr std::uint64_t kCellSize = 0x1000;

} // namespace

TEST(CallLedger, ChargesOnlyItsTaskAndItsCellsCode)
{
    CallLedger ledger;
    EXPECT_FALSE(ledger.charges(kTask, kCellCode));  // closed: charges nothing
    ledger.open(kTask, kCellCode, kCellSize);
    EXPECT_TRUE(ledger.charges(kTask, kCellCode));
    EXPECT_TRUE(ledger.charges(kTask, kCellCode + kCellSize - 1));
    EXPECT_FALSE(ledger.charges(kTask, kCellCode + kCellSize));  // the next cell's code (kv storing a key)
    EXPECT_FALSE(ledger.charges(kTask, kCellCode - 1));
    EXPECT_FALSE(ledger.charges(kTask + 1, kCellCode));           // another task running the same code
}

TEST(CallLedger, ChargesEveryRangeItWasOpenedWith)
{
    CallLedger ledger;
    CallLedger::CodeRange ranges[] = {{kCellCode, kCellSize}, {0x900000, 0x100}};
    ledger.open(kTask, ranges, 2);
    EXPECT_TRUE(ledger.charges(kTask, kCellCode + 8));
    EXPECT_TRUE(ledger.charges(kTask, 0x9000ff));
    EXPECT_FALSE(ledger.charges(kTask, 0x900100));
    EXPECT_FALSE(ledger.charges(kTask, 0x700000));
}

TEST(CallLedger, WhatWasFreedIsNotLeftOver)
{
    CallLedger ledger;
    ledger.open(kTask, kCellCode, kCellSize);
    int a, b, c;
    ASSERT_TRUE(ledger.add_object(&a));
    ASSERT_TRUE(ledger.add_object(&b));
    ASSERT_TRUE(ledger.add_object(&c));
    EXPECT_TRUE(ledger.remove_object(&b));
    EXPECT_FALSE(ledger.remove_object(&b));  // a second free is not the ledger's to count
    CallLedger::Leftovers leftovers;
    ledger.close(leftovers);
    ASSERT_EQ(leftovers.object_count, 2u);
    EXPECT_TRUE((leftovers.objects[0] == &a && leftovers.objects[1] == &c) || (leftovers.objects[0] == &c && leftovers.objects[1] == &a));
    EXPECT_FALSE(ledger.is_open());
    EXPECT_FALSE(ledger.charges(kTask, kCellCode));
    EXPECT_EQ(ledger.object_count(), 0u);
}

TEST(CallLedger, PageRunsAreForgottenWhenReleasedAndFollowTheirSharedBlock)
{
    CallLedger ledger;
    ledger.open(kTask, kCellCode, kCellSize);
    ASSERT_TRUE(ledger.add_run(0x10000, 0x2000, kTask));
    ASSERT_TRUE(ledger.add_run(0x20000, 0x1000, kTask));
    ASSERT_TRUE(ledger.add_run(0x30000, 0x1000, kTask));
    int block;
    EXPECT_TRUE(ledger.share_run(0x20000, &block));
    EXPECT_TRUE(ledger.remove_run(0x10000));       // unmapped by its owner
    EXPECT_TRUE(ledger.remove_run(0x30000));       // handed out with the reply
    EXPECT_FALSE(ledger.holds_run(0x30000));
    CallLedger::Leftovers leftovers;
    ledger.close(leftovers);
    ASSERT_EQ(leftovers.run_count, 1u);
    EXPECT_EQ(leftovers.runs[0].start, 0x20000u);
    EXPECT_EQ(leftovers.runs[0].size, 0x1000u);
    EXPECT_EQ(leftovers.runs[0].shared_block, &block);  // released by dropping the block's reference
}

TEST(CallLedger, OnlyABlockTheCallSharedCanBeHandedOut)
{
    CallLedger ledger;
    ledger.open(kTask, kCellCode, kCellSize);
    ASSERT_TRUE(ledger.add_run(0x10000, 0x1000, kTask));
    ASSERT_TRUE(ledger.add_run(0x20000, 0x1000, kTask));
    int shared_block;
    int other_block;
    EXPECT_TRUE(ledger.share_run(0x10000, &shared_block));
    EXPECT_FALSE(ledger.hand_out_block(nullptr));
    EXPECT_FALSE(ledger.hand_out_block(&other_block));  // a block of another call, or made up
    EXPECT_FALSE(ledger.hand_out_block(reinterpret_cast<void*>(0x20000)));  // a run's address is not a block
    EXPECT_TRUE(ledger.holds_run(0x10000));
    EXPECT_TRUE(ledger.hand_out_block(&shared_block));
    EXPECT_FALSE(ledger.holds_run(0x10000));
    EXPECT_FALSE(ledger.hand_out_block(&shared_block));  // handed out once
    CallLedger::Leftovers leftovers;
    ledger.close(leftovers);
    ASSERT_EQ(leftovers.run_count, 1u);  // the run never shared stays the call's
    EXPECT_EQ(leftovers.runs[0].start, 0x20000u);
}

TEST(CallLedger, ARunIsTakenOutWithTheCallsOwnRecord)
{
    CallLedger ledger;
    ledger.open(kTask, kCellCode, kCellSize);
    ASSERT_TRUE(ledger.add_run(0x10000, 0x2000, kTask));
    ASSERT_TRUE(ledger.add_run(0x20000, 0x1000, kTask));
    int block;
    EXPECT_TRUE(ledger.share_run(0x20000, &block));
    const CallLedger::PageRun* shared = ledger.run_shared_into(&block);
    ASSERT_NE(shared, nullptr);
    EXPECT_EQ(shared->start, 0x20000u);
    EXPECT_EQ(shared->size, 0x1000u);  // what hand_out compares the block's extent with
    EXPECT_EQ(ledger.run_shared_into(nullptr), nullptr);
    EXPECT_EQ(ledger.run_at(0x30000), nullptr);
    CallLedger::PageRun recorded;
    EXPECT_FALSE(ledger.take_run(0x30000, recorded));
    ASSERT_TRUE(ledger.take_run(0x10000, recorded));
    EXPECT_EQ(recorded.size, 0x2000u);  // released by this size, whatever the object says
    EXPECT_EQ(recorded.owner, kTask);
    EXPECT_FALSE(ledger.holds_run(0x10000));
    EXPECT_EQ(ledger.run_count(), 1u);
}

TEST(CallLedger, ALedgerOverwrittenWithGarbageStaysWithinItsCapacity)
{
    // A faulty cell's wild write over the caller's ledger: counts far past the arrays.
    CallLedger ledger;
    ledger.open(kTask, kCellCode, kCellSize);
    std::memset(static_cast<void*>(&ledger), 0xff, sizeof ledger);
    static char object;
    EXPECT_FALSE(ledger.add_object(&object));
    EXPECT_FALSE(ledger.add_run(0x10000, 0x1000, kTask));
    EXPECT_FALSE(ledger.remove_object(&object));
    EXPECT_FALSE(ledger.remove_run(0x10000));
    CallLedger::Leftovers leftovers;
    ledger.close(leftovers);
    EXPECT_LE(leftovers.object_count, CallLedger::kMaxObjects);
    EXPECT_LE(leftovers.run_count, CallLedger::kMaxPageRuns);
    EXPECT_FALSE(ledger.is_open());
}

TEST(CallLedger, ChargedCodeThatMovesIsFollowed)
{
    // The cell was reloaded while the call was open: its caller's call site now leads to the new
    // copy, whose allocations the call owns too; the old copy's stay charged (it may still run there).
    constexpr std::uint64_t kNewCode = 0x900000;
    CallLedger ledger;
    CallLedger::CodeRange ranges[2] = {{kCellCode, kCellSize}, {0x200000, 0x1000}};
    ledger.open(kTask, ranges, 2);
    EXPECT_FALSE(ledger.charges(kTask, kNewCode + 0x10));
    EXPECT_FALSE(ledger.follow_moved_code(0x700000, 0x1000, {kNewCode, kCellSize}));  // not this call's code
    EXPECT_TRUE(ledger.follow_moved_code(kCellCode, kCellSize, {kNewCode, kCellSize}));
    EXPECT_TRUE(ledger.charges(kTask, kNewCode + 0x10));
    EXPECT_TRUE(ledger.charges(kTask, kCellCode + 0x10));
    EXPECT_TRUE(ledger.follow_moved_code(kCellCode, kCellSize, {kNewCode, kCellSize}));  // once is enough
    EXPECT_FALSE(ledger.follow_moved_code(kCellCode, kCellSize, {0xa00000, kCellSize}));  // no room left
    EXPECT_FALSE(ledger.charges(kTask, 0xa00010));
    CallLedger closed;
    EXPECT_FALSE(closed.follow_moved_code(kCellCode, kCellSize, {kNewCode, kCellSize}));
}

TEST(CallLedger, WhatDoesNotFitIsCountedNotLost)
{
    CallLedger ledger;
    ledger.open(kTask, kCellCode, kCellSize);
    static char objects[CallLedger::kMaxObjects + 2];
    for (std::size_t i = 0; i < CallLedger::kMaxObjects; ++i)
        ASSERT_TRUE(ledger.add_object(&objects[i]));
    EXPECT_FALSE(ledger.add_object(&objects[CallLedger::kMaxObjects]));
    for (std::size_t i = 0; i < CallLedger::kMaxPageRuns; ++i)
        ASSERT_TRUE(ledger.add_run(0x100000 + i * 0x1000, 0x1000, kTask));
    EXPECT_FALSE(ledger.add_run(0x900000, 0x1000, kTask));
    CallLedger::Leftovers leftovers;
    ledger.close(leftovers);
    EXPECT_EQ(leftovers.object_count, CallLedger::kMaxObjects);
    EXPECT_EQ(leftovers.run_count, CallLedger::kMaxPageRuns);
    EXPECT_EQ(leftovers.untracked, 2u);
}

TEST(CallLedger, ReopeningStartsEmpty)
{
    CallLedger ledger;
    ledger.open(kTask, kCellCode, kCellSize);
    int a;
    ledger.add_object(&a);
    ledger.open(kTask + 1, kCellCode, kCellSize);
    EXPECT_EQ(ledger.object_count(), 0u);
    EXPECT_TRUE(ledger.charges(kTask + 1, kCellCode));
    EXPECT_FALSE(ledger.charges(kTask, kCellCode));
}
