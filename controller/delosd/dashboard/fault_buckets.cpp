// fault_buckets.cpp: see fault_buckets.h.
#include "fault_buckets.h"

#include <algorithm>

namespace delos::dashboard {

namespace {

std::string kind_name(std::int32_t kind)
{
    const std::string& name = v1::FaultKind_Name(static_cast<v1::FaultKind>(kind));
    return name.empty() ? "FAULT_KIND_" + std::to_string(kind) : name;
}

std::string action_name(std::int32_t action)
{
    const std::string& name = v1::RecoveryAction_Name(static_cast<v1::RecoveryAction>(action));
    return name.empty() ? "RECOVERY_ACTION_" + std::to_string(action) : name;
}

} // namespace

BucketKey bucket_key(const v1::FaultReport& report)
{
    BucketKey key;
    key.cell = report.cell_name().empty() ? "kernel" : report.cell_name();
    key.version = report.cell_version();
    if (!report.symbol().empty()) {
        key.symbol = report.symbol();
        key.offset = report.symbol_offset();
        return key;
    }
    for (const v1::BacktraceFrame& frame : report.backtrace()) {
        if (!frame.symbol().empty()) {
            key.symbol = frame.symbol();
            key.offset = frame.offset();
            return key;
        }
    }
    key.symbol = "?";
    return key;
}

std::uint32_t FaultBucketIndex::intern_guest(const std::string& host, const std::string& vm)
{
    auto [found, added] = m_guest_ids.emplace(std::make_pair(host, vm), static_cast<std::uint32_t>(m_guests.size()));
    if (added)
        m_guests.push_back({host, vm});
    return found->second;
}

bool FaultBucketIndex::add(const std::string& host, const v1::FaultRecord& record)
{
    std::lock_guard lock(m_mutex);
    std::uint64_t& last = m_last_sequence[host];
    if (record.sequence() <= last)
        return false;
    last = record.sequence();

    BucketKey key = bucket_key(record.report());
    auto [found, added] = m_bucket_ids.emplace(key, static_cast<std::uint32_t>(m_buckets.size()));
    if (added) {
        m_buckets.emplace_back();
        m_buckets.back().key = key;
    }
    std::uint32_t bucket_id = found->second;
    auto [task, new_task] = m_task_ids.emplace(record.report().task_name(), static_cast<std::uint32_t>(m_task_names.size()));
    if (new_task)
        m_task_names.push_back(record.report().task_name());

    Entry entry{};
    entry.sequence = record.sequence();
    entry.received_unix_ms = record.received_unix_ms();
    entry.boot_id = record.boot_id();
    entry.bucket = bucket_id;
    entry.guest = intern_guest(host, record.vm());
    entry.task = task->second;
    entry.kind = record.report().kind();
    entry.action = record.report().action();
    auto position = static_cast<std::uint32_t>(m_entries.size());
    m_entries.push_back(entry);

    Bucket& bucket = m_buckets[bucket_id];
    if (bucket.count == 0 || entry.received_unix_ms < bucket.first_seen_unix_ms)
        bucket.first_seen_unix_ms = entry.received_unix_ms;
    if (bucket.count == 0 || entry.received_unix_ms >= bucket.last_seen_unix_ms) {
        bucket.last_seen_unix_ms = entry.received_unix_ms;
        bucket.last_message = record.report().message();
        bucket.last_entry = position;
    }
    ++bucket.count;
    ++bucket.kinds[entry.kind];
    ++bucket.guests[entry.guest];
    bucket.entries.push_back(position);
    ++m_changes;
    return true;
}

std::uint64_t FaultBucketIndex::last_sequence(const std::string& host) const
{
    std::lock_guard lock(m_mutex);
    auto found = m_last_sequence.find(host);
    return found == m_last_sequence.end() ? 0 : found->second;
}

BucketSummary FaultBucketIndex::summarize(std::uint32_t id) const
{
    const Bucket& bucket = m_buckets[id];
    BucketSummary summary;
    summary.id = id;
    summary.key = bucket.key;
    summary.count = bucket.count;
    summary.first_seen_unix_ms = bucket.first_seen_unix_ms;
    summary.last_seen_unix_ms = bucket.last_seen_unix_ms;
    summary.last_message = bucket.last_message;
    std::vector<std::pair<std::uint64_t, std::int32_t>> kinds;
    for (auto [kind, count] : bucket.kinds)
        kinds.emplace_back(count, kind);
    std::stable_sort(kinds.begin(), kinds.end(), [](auto& a, auto& b) { return a.first > b.first; });
    for (auto& [count, kind] : kinds)
        summary.kinds.push_back(kind_name(kind));
    for (auto [guest, count] : bucket.guests)
        summary.guests.push_back({m_guests[guest].host, m_guests[guest].vm, count});
    std::stable_sort(summary.guests.begin(), summary.guests.end(), [](auto& a, auto& b) { return a.faults > b.faults; });
    if (bucket.count != 0) {
        const Entry& last = m_entries[bucket.last_entry];
        summary.last_host = m_guests[last.guest].host;
        summary.last_sequence = last.sequence;
    }
    return summary;
}

BucketPage FaultBucketIndex::buckets(const BucketQuery& query) const
{
    std::lock_guard lock(m_mutex);
    std::vector<std::uint32_t> matching;
    BucketPage page;
    for (std::uint32_t id = 0; id < m_buckets.size(); ++id) {
        const Bucket& bucket = m_buckets[id];
        if (!query.cell.empty() && bucket.key.cell != query.cell)
            continue;
        if (!query.host.empty() || !query.vm.empty()) {
            bool hit = std::any_of(bucket.guests.begin(), bucket.guests.end(), [&](auto& each) {
                const Guest& guest = m_guests[each.first];
                return (query.host.empty() || guest.host == query.host) && (query.vm.empty() || guest.vm == query.vm);
            });
            if (!hit)
                continue;
        }
        matching.push_back(id);
        page.faults += bucket.count;
    }
    auto order = [&](std::uint32_t a, std::uint32_t b) {
        const Bucket &x = m_buckets[a], &y = m_buckets[b];
        if (query.sort == "count" && x.count != y.count)
            return x.count > y.count;
        if (query.sort == "first" && x.first_seen_unix_ms != y.first_seen_unix_ms)
            return x.first_seen_unix_ms < y.first_seen_unix_ms;
        if (x.last_seen_unix_ms != y.last_seen_unix_ms)
            return x.last_seen_unix_ms > y.last_seen_unix_ms;
        if (x.last_entry != y.last_entry)
            return x.last_entry > y.last_entry;
        return a < b;
    };
    page.total = matching.size();
    if (query.offset >= matching.size())
        return page;
    std::size_t end = std::min<std::size_t>(matching.size(), query.offset + query.limit);
    std::partial_sort(matching.begin(), matching.begin() + static_cast<std::ptrdiff_t>(end), matching.end(), order);
    for (std::size_t i = query.offset; i < end; ++i)
        page.buckets.push_back(summarize(matching[i]));
    return page;
}

std::optional<BucketSummary> FaultBucketIndex::bucket(std::uint32_t id) const
{
    std::lock_guard lock(m_mutex);
    if (id >= m_buckets.size())
        return std::nullopt;
    return summarize(id);
}

bool FaultBucketIndex::entry_matches(const Entry& entry, const FaultQuery& query) const
{
    if (query.bucket && entry.bucket != *query.bucket)
        return false;
    const Guest& guest = m_guests[entry.guest];
    return (query.host.empty() || guest.host == query.host) && (query.vm.empty() || guest.vm == query.vm);
}

FaultPage FaultBucketIndex::faults(const FaultQuery& query) const
{
    std::lock_guard lock(m_mutex);
    FaultPage page;
    // A bucket's own entry list when one is asked for, else every entry; walked newest first.
    std::vector<std::uint32_t> all;
    const std::vector<std::uint32_t>* positions = nullptr;
    if (query.bucket) {
        if (*query.bucket >= m_buckets.size())
            return page;
        positions = &m_buckets[*query.bucket].entries;
    }
    std::size_t size = positions ? positions->size() : m_entries.size();
    auto position_at = [&](std::size_t i) -> std::uint64_t { return positions ? (*positions)[i] : i; };
    for (std::size_t i = size; i-- > 0;) {
        std::uint64_t position = position_at(i);
        const Entry& entry = m_entries[position];
        if (!entry_matches(entry, query))
            continue;
        ++page.total;
        // Positions are shown 1-based so that 0 can mean "from the newest".
        if (query.before != 0 && position + 1 >= query.before)
            continue;
        if (page.faults.size() == query.limit) {
            page.next_before = page.faults.back().position;
            continue;  // keep counting the total
        }
        const Guest& guest = m_guests[entry.guest];
        FaultRow row;
        row.position = position + 1;
        row.host = guest.host;
        row.vm = guest.vm;
        row.sequence = entry.sequence;
        row.boot_id = entry.boot_id;
        row.received_unix_ms = entry.received_unix_ms;
        row.bucket = entry.bucket;
        row.kind = kind_name(entry.kind);
        row.task = m_task_names[entry.task];
        row.action = action_name(entry.action);
        page.faults.push_back(std::move(row));
    }
    return page;
}

Timeline FaultBucketIndex::timeline(std::int64_t end_unix_ms, std::int64_t window_ms, std::uint32_t slots,
                                    std::optional<std::uint32_t> bucket) const
{
    Timeline timeline;
    if (slots == 0 || window_ms <= 0)
        return timeline;
    timeline.slot_ms = std::max<std::int64_t>(1, window_ms / slots);
    timeline.start_unix_ms = end_unix_ms - timeline.slot_ms * slots;
    timeline.counts.assign(slots, 0);
    std::lock_guard lock(m_mutex);
    auto count = [&](const Entry& entry) {
        if (entry.received_unix_ms < timeline.start_unix_ms || entry.received_unix_ms >= end_unix_ms)
            return;
        auto slot = static_cast<std::size_t>((entry.received_unix_ms - timeline.start_unix_ms) / timeline.slot_ms);
        if (slot < timeline.counts.size())
            ++timeline.counts[slot];
    };
    if (bucket) {
        if (*bucket < m_buckets.size())
            for (std::uint32_t position : m_buckets[*bucket].entries)
                count(m_entries[position]);
    } else {
        for (const Entry& entry : m_entries)
            count(entry);
    }
    return timeline;
}

std::map<std::pair<std::string, std::string>, std::uint64_t> FaultBucketIndex::faults_by_cell_version() const
{
    std::lock_guard lock(m_mutex);
    std::map<std::pair<std::string, std::string>, std::uint64_t> counts;
    for (const Bucket& bucket : m_buckets)
        counts[{bucket.key.cell, bucket.key.version}] += bucket.count;
    return counts;
}

std::uint64_t FaultBucketIndex::fault_count() const
{
    std::lock_guard lock(m_mutex);
    return m_entries.size();
}

std::uint64_t FaultBucketIndex::bucket_count() const
{
    std::lock_guard lock(m_mutex);
    return m_buckets.size();
}

std::uint64_t FaultBucketIndex::changes() const
{
    std::lock_guard lock(m_mutex);
    return m_changes;
}

} // namespace delos::dashboard
