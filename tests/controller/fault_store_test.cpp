// fault_store_test.cpp: the SQLite store on its own: a re-delivered fault (same VM, boot and
// guest sequence) is stored once, the same sequence in another boot is a new fault, filters and
// ordering, boot ids are never reused (not even for a VM deleted and created again), and
// everything is there after the store is closed and opened again.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "controller_harness.h"
#include "fault_store.h"
#include "scripted_guest.h"

namespace delos::test {
namespace {

using controller::FaultStore;
using controller::StoredVm;

StoredVm vm_named(const std::string& name)
{
    StoredVm vm;
    vm.spec.set_name(name);
    vm.spec.set_runner(v1::RUNNER_ATTACH);
    vm.created_unix_ms = 1;
    return vm;
}

TEST(FaultStore, RedeliveryIsStoredOnceAndBootsAreDistinct)
{
    TempDir dir;
    FaultStore store(dir.path());
    store.insert_vm(vm_named("a"));
    std::uint64_t boot1 = store.new_boot("a");
    auto report = make_fault("kv", v1::FAULT_KIND_PANIC, "x");
    auto first = store.add_fault("a", boot1, 5, 100, report);
    ASSERT_TRUE(first.has_value());
    EXPECT_FALSE(store.add_fault("a", boot1, 5, 100, report).has_value());
    std::uint64_t boot2 = store.new_boot("a");
    EXPECT_NE(boot1, boot2);
    auto second = store.add_fault("a", boot2, 5, 100, report);
    ASSERT_TRUE(second.has_value());
    EXPECT_GT(second->sequence(), first->sequence());
    EXPECT_EQ(store.count_faults("a"), 2u);

    store.delete_vm("a");
    store.insert_vm(vm_named("a"));
    EXPECT_GT(store.new_boot("a"), boot2) << "a recreated VM must not reuse boot ids (its faults would collide)";
    EXPECT_THROW(store.insert_vm(vm_named("a")), controller::StoreError);
}

// The guest names each fault itself: (its random boot id, its fault sequence). The same fault
// arriving in another event (another event sequence, another connection, even another delosd
// boot of the VM) is stored once; the same fault sequence under another guest boot id is another
// fault; reports without a guest boot id (older guests) fall back to the event key alone.
TEST(FaultStore, TheGuestsBootIdAndFaultSequenceDeduplicate)
{
    TempDir dir;
    FaultStore store(dir.path());
    store.insert_vm(vm_named("a"));
    std::uint64_t boot = store.new_boot("a");
    auto report = make_fault("kv", v1::FAULT_KIND_STACK_OVERFLOW, "x");
    report.set_boot_id("0123456789abcdef0123456789abcdef");
    report.set_fault_sequence(3);
    ASSERT_TRUE(store.add_fault("a", boot, 10, 100, report).has_value());
    EXPECT_FALSE(store.add_fault("a", boot, 11, 100, report).has_value()) << "another event, the same fault";
    EXPECT_FALSE(store.add_fault("a", store.new_boot("a"), 1, 100, report).has_value()) << "re-sent after a reconnect";
    report.set_fault_sequence(4);
    EXPECT_TRUE(store.add_fault("a", boot, 12, 100, report).has_value());
    report.set_boot_id("ffffffffffffffffffffffffffffffff");
    report.set_fault_sequence(3);
    EXPECT_TRUE(store.add_fault("a", boot, 13, 100, report).has_value()) << "another guest boot";
    report.set_fault_sequence(~0ull);  // hostile: past INT64_MAX
    EXPECT_TRUE(store.add_fault("a", boot, 14, 100, report).has_value());
    auto legacy = make_fault("kv", v1::FAULT_KIND_PANIC, "y");
    EXPECT_TRUE(store.add_fault("a", boot, 15, 100, legacy).has_value());
    EXPECT_TRUE(store.add_fault("a", boot, 16, 100, legacy).has_value());
    EXPECT_EQ(store.count_faults("a"), 6u);
    auto listed = store.list_faults(v1::FaultFilter(), 0, 100);
    ASSERT_EQ(listed.size(), 6u);
    EXPECT_EQ(listed[0].report().boot_id(), "0123456789abcdef0123456789abcdef");
    EXPECT_EQ(listed[0].report().fault_sequence(), 3u);
}

// A store written before the guest's boot id and fault sequence were columns opens, gets them,
// keeps its faults, and de-duplicates new reports by them.
TEST(FaultStore, AnOlderStoreGetsTheGuestKeyColumns)
{
    TempDir dir;
    {
        sqlite3* db = nullptr;
        ASSERT_EQ(sqlite3_open((dir.path() + "/delosd.sqlite3").c_str(), &db), SQLITE_OK);
        const char* old_schema =
            "CREATE TABLE faults(sequence INTEGER PRIMARY KEY AUTOINCREMENT, vm TEXT NOT NULL, boot_id INTEGER NOT NULL,"
            " guest_sequence INTEGER NOT NULL, cell TEXT NOT NULL, kind INTEGER NOT NULL,"
            " received_unix_ms INTEGER NOT NULL, report BLOB NOT NULL, cell_sha256 TEXT NOT NULL DEFAULT '',"
            " UNIQUE(vm, boot_id, guest_sequence));"
            "INSERT INTO faults(vm, boot_id, guest_sequence, cell, kind, received_unix_ms, report)"
            " VALUES('a', 1, 1, 'kv', 5, 1, x'');";
        ASSERT_EQ(sqlite3_exec(db, old_schema, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
        sqlite3_close(db);
    }
    FaultStore store(dir.path());
    EXPECT_EQ(store.count_faults("a"), 1u);
    store.insert_vm(vm_named("a"));
    std::uint64_t boot = store.new_boot("a");
    auto report = make_fault("kv", v1::FAULT_KIND_WATCHDOG, "x");
    report.set_boot_id("0123456789abcdef0123456789abcdef");
    report.set_fault_sequence(1);
    EXPECT_TRUE(store.add_fault("a", boot, 2, 100, report).has_value());
    EXPECT_FALSE(store.add_fault("a", boot, 3, 100, report).has_value());
    EXPECT_EQ(store.count_faults("a"), 2u);
}

TEST(FaultStore, FiltersPagesAndSurvivesReopen)
{
    TempDir dir;
    {
        FaultStore store(dir.path());
        store.insert_vm(vm_named("a"));
        store.insert_vm(vm_named("b"));
        std::uint64_t boot_a = store.new_boot("a"), boot_b = store.new_boot("b");
        for (std::uint64_t i = 1; i <= 10; ++i) {
            store.add_fault("a", boot_a, i, i, make_fault(i % 2 ? "kv" : "log", v1::FAULT_KIND_PAGE_FAULT, "a"));
            store.add_fault("b", boot_b, i, i, make_fault("kv", v1::FAULT_KIND_PANIC, "b"));
        }
        v1::EventRecord event;
        event.set_vm("a");
        event.set_kind(v1::EVENT_VM_EXITED);
        event.set_detail("report");
        store.add_event(event);
    }
    FaultStore store(dir.path());
    v1::FaultFilter filter;
    EXPECT_EQ(store.list_faults(filter, 0, 1000).size(), 20u);
    filter.set_vm("a");
    filter.set_cell("kv");
    auto kv_of_a = store.list_faults(filter, 0, 1000);
    ASSERT_EQ(kv_of_a.size(), 5u);
    for (std::size_t i = 1; i < kv_of_a.size(); ++i)
        EXPECT_GT(kv_of_a[i].sequence(), kv_of_a[i - 1].sequence());
    EXPECT_EQ(kv_of_a[0].report().message(), "a");
    v1::FaultFilter panics;
    panics.set_kind(v1::FAULT_KIND_PANIC);
    EXPECT_EQ(store.list_faults(panics, 0, 1000).size(), 10u);
    auto page = store.list_faults(v1::FaultFilter(), 0, 7);
    ASSERT_EQ(page.size(), 7u);
    EXPECT_EQ(store.list_faults(v1::FaultFilter(), page.back().sequence(), 1000).size(), 13u);
    auto events = store.list_events("a", 0, 10);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].detail(), "report");
    EXPECT_EQ(store.load_vms().size(), 2u);
}

} // namespace
} // namespace delos::test
