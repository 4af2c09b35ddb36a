// fault_buckets.h: faults grouped into buckets the way crash reporters group crashes: one bucket
// per (cell, version, symbol + offset of the faulting frame), across every host of the fleet,
// with its count, first and last seen, the kinds seen and the guests it hit. The index keeps
// only a compact row per fault (the full report stays in each host's store), answers sorted,
// filtered, paged bucket lists, newest-first fault pages and timelines, and counts changes so
// the page can update live. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "delos/v1/controller.pb.h"

namespace delos::dashboard {

struct BucketKey {
    std::string cell;     // "kernel" when the faulting code is the kernel core's
    std::string version;
    std::string symbol;   // "?" when neither the report nor its backtrace names one
    std::uint64_t offset = 0;
    auto operator<=>(const BucketKey&) const = default;
};

// How a fault report is bucketed: the faulting instruction's symbol, else the innermost
// backtrace frame that has one.
BucketKey bucket_key(const v1::FaultReport& report);

struct GuestCount {
    std::string host;
    std::string vm;
    std::uint64_t faults = 0;
};

struct BucketSummary {
    std::uint32_t id = 0;  // stable while the dashboard runs (first come, first numbered)
    BucketKey key;
    std::uint64_t count = 0;
    std::int64_t first_seen_unix_ms = 0;
    std::int64_t last_seen_unix_ms = 0;
    std::vector<std::string> kinds;      // FaultKind names, most frequent first
    std::vector<GuestCount> guests;      // most faults first
    std::string last_message;
    std::string last_host;               // where the newest fault is (for the report link)
    std::uint64_t last_sequence = 0;
};

struct BucketQuery {
    std::string host, vm, cell;          // empty: any
    std::string sort = "last";           // last (newest fault first), count, first (oldest first seen first)
    std::uint64_t offset = 0;
    std::uint32_t limit = 50;
};

struct BucketPage {
    std::uint64_t total = 0;             // buckets that match, over all pages
    std::uint64_t faults = 0;            // faults in them
    std::vector<BucketSummary> buckets;
};

struct FaultRow {
    std::uint64_t position = 0;          // the index's arrival order, the paging cursor
    std::string host;
    std::string vm;
    std::uint64_t sequence = 0;          // the host's store sequence (for the full report)
    std::uint64_t boot_id = 0;
    std::int64_t received_unix_ms = 0;
    std::uint32_t bucket = 0;
    std::string kind;
    std::string task;
    std::string action;
};

struct FaultQuery {
    std::optional<std::uint32_t> bucket;
    std::string host, vm;
    std::uint64_t before = 0;            // positions below this (0: from the newest)
    std::uint32_t limit = 50;
};

struct FaultPage {
    std::vector<FaultRow> faults;        // newest first
    std::uint64_t next_before = 0;       // 0 on the last page
    std::uint64_t total = 0;             // matching faults over all pages
};

struct Timeline {
    std::int64_t start_unix_ms = 0;
    std::int64_t slot_ms = 0;
    std::vector<std::uint64_t> counts;
};

class FaultBucketIndex {
public:
    // Adds a stored fault of `host`; false if that host's sequence was already added.
    bool add(const std::string& host, const v1::FaultRecord& record);
    // The highest sequence added for `host` (where its fault watch resumes).
    std::uint64_t last_sequence(const std::string& host) const;

    BucketPage buckets(const BucketQuery& query) const;
    std::optional<BucketSummary> bucket(std::uint32_t id) const;
    FaultPage faults(const FaultQuery& query) const;
    Timeline timeline(std::int64_t end_unix_ms, std::int64_t window_ms, std::uint32_t slots,
                      std::optional<std::uint32_t> bucket) const;
    // Faults per (cell, version), for the cells panel.
    std::map<std::pair<std::string, std::string>, std::uint64_t> faults_by_cell_version() const;
    std::uint64_t fault_count() const;
    std::uint64_t bucket_count() const;
    std::uint64_t changes() const;  // +1 per fault added

private:
    struct Entry {
        std::uint64_t sequence;
        std::int64_t received_unix_ms;
        std::uint64_t boot_id;
        std::uint32_t bucket;
        std::uint32_t guest;   // index into m_guests
        std::uint32_t task;    // index into m_task_names
        std::int32_t kind;
        std::int32_t action;
    };
    struct Bucket {
        BucketKey key;
        std::uint64_t count = 0;
        std::int64_t first_seen_unix_ms = 0;
        std::int64_t last_seen_unix_ms = 0;
        std::map<std::int32_t, std::uint64_t> kinds;
        std::map<std::uint32_t, std::uint64_t> guests;  // guest index -> faults
        std::vector<std::uint32_t> entries;              // positions, ascending
        std::string last_message;
        std::uint32_t last_entry = 0;
    };
    struct Guest {
        std::string host, vm;
    };

    BucketSummary summarize(std::uint32_t id) const;
    bool entry_matches(const Entry& entry, const FaultQuery& query) const;
    std::uint32_t intern_guest(const std::string& host, const std::string& vm);

    mutable std::mutex m_mutex;
    std::vector<Bucket> m_buckets;
    std::map<BucketKey, std::uint32_t> m_bucket_ids;
    std::vector<Entry> m_entries;
    std::vector<Guest> m_guests;
    std::map<std::pair<std::string, std::string>, std::uint32_t> m_guest_ids;
    std::map<std::string, std::uint64_t> m_last_sequence;  // by host
    std::vector<std::string> m_task_names;                 // interned: few distinct names
    std::map<std::string, std::uint32_t> m_task_ids;
    std::uint64_t m_changes = 0;
};

} // namespace delos::dashboard
