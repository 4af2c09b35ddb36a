// fault_store.h: delosd's durable state in SQLite (WAL, synchronous=FULL): VMs and their boot
// ids, fault reports keyed by (VM, boot id, guest sequence) so a re-delivered report is stored
// once, the event log, and each VM's cell version history. Every write is committed before the
// call returns, so what a client was told survives kill -9. Thread-safe; watchers wait on
// wait_for_change() instead of polling the file.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "delos/v1/controller.pb.h"

namespace delos::controller {

class StoreError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct StoredVm {
    v1::VmSpec spec;
    std::uint64_t boot_id = 0;
    std::uint64_t last_uptime_ns = 0;
    std::uint32_t restarts = 0;
    bool stopped = false;  // the desired state: stopped by request
    std::int64_t created_unix_ms = 0;
    std::string last_exit;
};

std::int64_t unix_ms_now();

class FaultStore {
public:
    // Opens (creating) `directory`/delosd.sqlite3. Throws StoreError.
    explicit FaultStore(const std::string& directory);
    ~FaultStore();
    FaultStore(const FaultStore&) = delete;
    FaultStore& operator=(const FaultStore&) = delete;

    // VMs.
    void insert_vm(const StoredVm& vm);  // throws StoreError if the name exists
    void delete_vm(const std::string& name);
    std::vector<StoredVm> load_vms();
    std::uint64_t new_boot(const std::string& vm);  // a fresh, never reused boot id
    void set_last_uptime(const std::string& vm, std::uint64_t uptime_ns);
    void set_run_state(const std::string& vm, bool stopped, std::uint32_t restarts, const std::string& last_exit);

    // Faults: nullopt if (vm, boot_id, guest_sequence) is already stored. `describe` makes the
    // fault's event, stored in the same transaction (one commit, one fsync).
    std::optional<v1::FaultRecord> add_fault(const std::string& vm, std::uint64_t boot_id, std::uint64_t guest_sequence,
                                             std::uint64_t uptime_ns, const v1::FaultReport& report,
                                             const std::function<v1::EventRecord(const v1::FaultRecord&)>& describe = {},
                                             const std::string& cell_sha256 = {});
    std::vector<v1::FaultRecord> list_faults(const v1::FaultFilter& filter, std::uint64_t after_sequence,
                                             std::uint32_t limit);
    std::uint64_t count_faults(const std::string& vm);
    std::uint64_t last_fault_sequence();

    // Events.
    v1::EventRecord add_event(v1::EventRecord event);  // fills sequence and time
    std::vector<v1::EventRecord> list_events(const std::string& vm, std::uint64_t after_sequence, std::uint32_t limit);
    std::uint64_t last_event_sequence();

    // Cell history: records and their events in one transaction; returns the last record's id.
    std::uint64_t add_history(const std::vector<v1::CellHistoryRecord>& records, const std::vector<v1::EventRecord>& events);
    std::vector<v1::CellHistoryRecord> list_history(const std::string& vm, const std::string& cell);
    // The SHA-256 (hex) last pushed to `vm` as cell@version, or "".
    std::string pushed_sha256(const std::string& vm, const std::string& cell, const std::string& version);

    // Blocks until a fault or event is added after `seen` (a value from change_count()), or until
    // `limit` passes. Returns the new change count.
    std::uint64_t wait_for_change(std::uint64_t seen, std::chrono::milliseconds limit);
    std::uint64_t change_count();

private:
    void exec(const char* sql);
    bool has_column(const char* table, const char* column);
    void insert_event(v1::EventRecord& event);  // with m_mutex held
    void notify();

    sqlite3* m_db = nullptr;
    std::mutex m_mutex;  // one statement at a time on the connection
    std::mutex m_change_mutex;
    std::condition_variable m_changed;
    std::uint64_t m_changes = 0;
};

} // namespace delos::controller
