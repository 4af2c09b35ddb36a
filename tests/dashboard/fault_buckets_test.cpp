// fault_buckets_test.cpp: the dashboard's crash-reporter grouping: which faults share a bucket,
// counts and first/last seen, guests across hosts, re-delivery, sorted and paged bucket lists
// and fault pages over a few thousand faults (every item exactly once), filters, timelines.
#include <gtest/gtest.h>

#include <set>

#include "fault_buckets.h"

namespace delos::dashboard {
namespace {

v1::FaultRecord fault(std::uint64_t sequence, const std::string& vm, const std::string& cell, const std::string& version,
                      const std::string& symbol, std::uint64_t offset, std::int64_t unix_ms,
                      v1::FaultKind kind = v1::FAULT_KIND_PAGE_FAULT)
{
    v1::FaultRecord record;
    record.set_sequence(sequence);
    record.set_vm(vm);
    record.set_boot_id(1);
    record.set_received_unix_ms(unix_ms);
    auto* report = record.mutable_report();
    report->set_cell_name(cell);
    report->set_cell_version(version);
    report->set_symbol(symbol);
    report->set_symbol_offset(offset);
    report->set_kind(kind);
    report->set_message("fault " + std::to_string(sequence));
    report->set_task_name("worker");
    return record;
}

TEST(FaultBuckets, SameCellVersionAndFrameShareABucketAcrossGuestsAndHosts)
{
    FaultBucketIndex index;
    EXPECT_TRUE(index.add("h1", fault(1, "a", "kv", "1.0.0", "kv::put", 0x2a, 1000)));
    EXPECT_TRUE(index.add("h1", fault(2, "b", "kv", "1.0.0", "kv::put", 0x2a, 2000)));
    EXPECT_TRUE(index.add("h2", fault(1, "a", "kv", "1.0.0", "kv::put", 0x2a, 1500)));  // same sequence, other host
    EXPECT_TRUE(index.add("h1", fault(3, "a", "kv", "1.0.0", "kv::put", 0x2b, 3000)));  // other offset
    EXPECT_TRUE(index.add("h1", fault(4, "a", "kv", "2.0.0", "kv::put", 0x2a, 4000)));  // other version
    EXPECT_TRUE(index.add("h1", fault(5, "a", "log", "1.0.0", "kv::put", 0x2a, 5000))); // other cell
    EXPECT_EQ(index.fault_count(), 6u);
    EXPECT_EQ(index.bucket_count(), 4u);

    auto first = index.bucket(0);
    ASSERT_TRUE(first);
    EXPECT_EQ(first->key.cell, "kv");
    EXPECT_EQ(first->key.symbol, "kv::put");
    EXPECT_EQ(first->key.offset, 0x2au);
    EXPECT_EQ(first->count, 3u);
    EXPECT_EQ(first->first_seen_unix_ms, 1000);
    EXPECT_EQ(first->last_seen_unix_ms, 2000);
    EXPECT_EQ(first->last_message, "fault 2");
    EXPECT_EQ(first->last_host, "h1");
    EXPECT_EQ(first->last_sequence, 2u);
    ASSERT_EQ(first->guests.size(), 3u);  // h1/a, h1/b, h2/a
    std::set<std::string> guests;
    for (auto& guest : first->guests)
        guests.insert(guest.host + "/" + guest.vm);
    EXPECT_EQ(guests, (std::set<std::string>{"h1/a", "h1/b", "h2/a"}));
    ASSERT_EQ(first->kinds.size(), 1u);
    EXPECT_EQ(first->kinds[0], "FAULT_KIND_PAGE_FAULT");
    EXPECT_FALSE(index.bucket(4));
}

TEST(FaultBuckets, ARedeliveredFaultCountsOnce)
{
    FaultBucketIndex index;
    EXPECT_TRUE(index.add("h1", fault(7, "a", "kv", "1", "f", 1, 10)));
    EXPECT_FALSE(index.add("h1", fault(7, "a", "kv", "1", "f", 1, 10)));
    EXPECT_FALSE(index.add("h1", fault(3, "a", "kv", "1", "f", 1, 10)));  // older than what the watch resumed from
    EXPECT_EQ(index.fault_count(), 1u);
    EXPECT_EQ(index.last_sequence("h1"), 7u);
    EXPECT_EQ(index.last_sequence("h2"), 0u);
}

TEST(FaultBuckets, TheFrameComesFromTheBacktraceWhenTheReportHasNoSymbol)
{
    v1::FaultReport report;
    report.set_cell_name("kv");
    report.set_cell_version("1.0.0");
    auto* unknown = report.add_backtrace();
    unknown->set_address(0x1000);
    auto* named = report.add_backtrace();
    named->set_symbol("kv::serve");
    named->set_offset(0x10);
    BucketKey key = bucket_key(report);
    EXPECT_EQ(key.symbol, "kv::serve");
    EXPECT_EQ(key.offset, 0x10u);

    v1::FaultReport bare;
    BucketKey none = bucket_key(bare);
    EXPECT_EQ(none.cell, "kernel");
    EXPECT_EQ(none.symbol, "?");
}

TEST(FaultBuckets, BucketPagesCoverEveryBucketOnceInOrder)
{
    FaultBucketIndex index;
    // 3000 faults in 300 buckets; bucket b gets (b % 7) + 1 extra faults, at increasing times.
    std::uint64_t sequence = 0;
    std::int64_t time = 1'000'000;
    for (int round = 0; round < 10; ++round)
        for (int bucket = 0; bucket < 300; ++bucket)
            index.add("h" + std::to_string(bucket % 3),
                      fault(++sequence, "vm" + std::to_string(bucket % 5), "cell" + std::to_string(bucket % 11), "1.0",
                            "fn" + std::to_string(bucket), 0, time += 10));
    for (int bucket = 0; bucket < 300; ++bucket)
        for (int extra = 0; extra < bucket % 7; ++extra)
            index.add("h" + std::to_string(bucket % 3), fault(++sequence, "vm0", "cell" + std::to_string(bucket % 11), "1.0",
                                                              "fn" + std::to_string(bucket), 0, time += 10));
    ASSERT_EQ(index.bucket_count(), 300u);

    for (std::string sort : {"last", "count", "first"}) {
        std::set<std::uint32_t> seen;
        std::uint64_t faults = 0;
        BucketSummary previous;
        bool have_previous = false;
        for (std::uint64_t offset = 0;; offset += 45) {
            BucketQuery query;
            query.sort = sort;
            query.offset = offset;
            query.limit = 45;
            BucketPage page = index.buckets(query);
            EXPECT_EQ(page.total, 300u);
            if (page.buckets.empty())
                break;
            for (const BucketSummary& bucket : page.buckets) {
                EXPECT_TRUE(seen.insert(bucket.id).second) << sort << ": bucket " << bucket.id << " twice";
                faults += bucket.count;
                if (have_previous) {
                    if (sort == "count")
                        EXPECT_GE(previous.count, bucket.count);
                    else if (sort == "first")
                        EXPECT_LE(previous.first_seen_unix_ms, bucket.first_seen_unix_ms);
                    else
                        EXPECT_GE(previous.last_seen_unix_ms, bucket.last_seen_unix_ms);
                }
                previous = bucket;
                have_previous = true;
            }
        }
        EXPECT_EQ(seen.size(), 300u) << sort;
        EXPECT_EQ(faults, index.fault_count()) << sort;
    }

    BucketQuery by_cell;
    by_cell.cell = "cell3";
    by_cell.limit = 200;
    BucketPage cell3 = index.buckets(by_cell);
    EXPECT_GT(cell3.total, 0u);
    for (auto& bucket : cell3.buckets)
        EXPECT_EQ(bucket.key.cell, "cell3");
    BucketQuery by_guest;
    by_guest.host = "h1";
    by_guest.vm = "vm2";
    by_guest.limit = 200;
    for (auto& bucket : index.buckets(by_guest).buckets) {
        bool hit = false;
        for (auto& guest : bucket.guests)
            hit |= guest.host == "h1" && guest.vm == "vm2";
        EXPECT_TRUE(hit) << bucket.id;
    }
    BucketQuery past_the_end;
    past_the_end.offset = 1000;
    EXPECT_TRUE(index.buckets(past_the_end).buckets.empty());
}

TEST(FaultBuckets, FaultPagesWalkNewestFirstAndStopAtTheEnd)
{
    FaultBucketIndex index;
    for (std::uint64_t sequence = 1; sequence <= 2500; ++sequence)
        index.add("h1", fault(sequence, sequence % 2 ? "odd" : "even", "kv", "1", sequence % 10 == 0 ? "rare" : "common", 0,
                              static_cast<std::int64_t>(sequence)));
    std::set<std::uint64_t> seen;
    std::uint64_t before = 0, last = UINT64_MAX;
    int pages = 0;
    for (;; ++pages) {
        FaultQuery query;
        query.before = before;
        query.limit = 100;
        FaultPage page = index.faults(query);
        EXPECT_EQ(page.total, 2500u);
        for (const FaultRow& row : page.faults) {
            EXPECT_LT(row.sequence, last);
            last = row.sequence;
            EXPECT_TRUE(seen.insert(row.sequence).second);
        }
        if (page.next_before == 0)
            break;
        before = page.next_before;
    }
    EXPECT_EQ(seen.size(), 2500u);
    EXPECT_EQ(pages + 1, 25);

    // One bucket, filtered by guest.
    auto rare = index.buckets({.sort = "count", .limit = 10}).buckets.back();
    EXPECT_EQ(rare.key.symbol, "rare");
    FaultQuery in_bucket;
    in_bucket.bucket = rare.id;
    in_bucket.vm = "even";
    in_bucket.limit = 500;
    FaultPage page = index.faults(in_bucket);
    EXPECT_EQ(page.total, 250u);
    EXPECT_EQ(page.faults.size(), 250u);
    EXPECT_EQ(page.next_before, 0u);
    for (const FaultRow& row : page.faults) {
        EXPECT_EQ(row.sequence % 10, 0u);
        EXPECT_EQ(row.vm, "even");
        EXPECT_EQ(row.bucket, rare.id);
        EXPECT_EQ(row.kind, "FAULT_KIND_PAGE_FAULT");
        EXPECT_EQ(row.task, "worker");
    }
    FaultQuery no_such_bucket;
    no_such_bucket.bucket = 999;
    EXPECT_TRUE(index.faults(no_such_bucket).faults.empty());
}

TEST(FaultBuckets, TimelineCountsFaultsInTheirSlots)
{
    FaultBucketIndex index;
    index.add("h", fault(1, "a", "kv", "1", "f", 0, 100'000));   // before the window
    index.add("h", fault(2, "a", "kv", "1", "f", 0, 940'000));   // first slot
    index.add("h", fault(3, "a", "kv", "1", "g", 0, 999'999));   // last slot
    index.add("h", fault(4, "a", "kv", "1", "g", 0, 999'000));   // last slot
    index.add("h", fault(5, "a", "kv", "1", "g", 0, 1'000'000)); // at the end: outside
    Timeline line = index.timeline(1'000'000, 60'000, 6, std::nullopt);
    EXPECT_EQ(line.start_unix_ms, 940'000);
    EXPECT_EQ(line.slot_ms, 10'000);
    EXPECT_EQ(line.counts, (std::vector<std::uint64_t>{1, 0, 0, 0, 0, 2}));
    Timeline only_f = index.timeline(1'000'000, 60'000, 6, 0u);
    EXPECT_EQ(only_f.counts, (std::vector<std::uint64_t>{1, 0, 0, 0, 0, 0}));
    EXPECT_EQ(index.faults_by_cell_version().at({"kv", "1"}), 5u);
}

} // namespace
} // namespace delos::dashboard
