// fault_store.cpp: see fault_store.h. Messages from the guest are kept as their protobuf bytes
// (the report column), with the fields queries filter on copied into columns.
#include "fault_store.h"

#include <filesystem>

namespace delos::controller {

namespace {

// One prepared statement, finalized on scope exit; bind() is 1-based as in SQLite.
class Statement {
public:
    Statement(sqlite3* db, const char* sql) : m_db(db)
    {
        if (sqlite3_prepare_v2(db, sql, -1, &m_statement, nullptr) != SQLITE_OK)
            throw StoreError(std::string("store: cannot prepare: ") + sqlite3_errmsg(db));
    }
    ~Statement() { sqlite3_finalize(m_statement); }
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    Statement& bind(int index, std::int64_t value)
    {
        sqlite3_bind_int64(m_statement, index, value);
        return *this;
    }
    Statement& bind(int index, const std::string& text)
    {
        sqlite3_bind_text(m_statement, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
        return *this;
    }
    Statement& bind_blob(int index, const std::string& bytes)
    {
        sqlite3_bind_blob(m_statement, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
        return *this;
    }
    // true while there is a row.
    bool step()
    {
        int result = sqlite3_step(m_statement);
        if (result == SQLITE_ROW)
            return true;
        if (result == SQLITE_DONE)
            return false;
        throw StoreError(std::string("store: ") + sqlite3_errmsg(m_db));
    }
    // Runs a statement that must not fail; SQLITE_CONSTRAINT is reported as false.
    bool run_allowing_constraint()
    {
        int result = sqlite3_step(m_statement);
        if (result == SQLITE_DONE || result == SQLITE_ROW)
            return true;
        if ((result & 0xff) == SQLITE_CONSTRAINT)
            return false;
        throw StoreError(std::string("store: ") + sqlite3_errmsg(m_db));
    }
    std::int64_t integer(int column) { return sqlite3_column_int64(m_statement, column); }
    std::string text(int column)
    {
        auto* data = reinterpret_cast<const char*>(sqlite3_column_blob(m_statement, column));
        return data ? std::string(data, static_cast<std::size_t>(sqlite3_column_bytes(m_statement, column))) : std::string();
    }

private:
    sqlite3* m_db;
    sqlite3_stmt* m_statement = nullptr;
};

v1::FaultRecord fault_from_row(Statement& row)
{
    v1::FaultRecord record;
    record.set_sequence(static_cast<std::uint64_t>(row.integer(0)));
    record.set_vm(row.text(1));
    record.set_boot_id(static_cast<std::uint64_t>(row.integer(2)));
    record.set_guest_sequence(static_cast<std::uint64_t>(row.integer(3)));
    record.set_received_unix_ms(row.integer(4));
    record.mutable_report()->ParseFromString(row.text(5));
    record.set_cell_sha256(row.text(6));
    return record;
}

v1::EventRecord event_from_row(Statement& row)
{
    v1::EventRecord event;
    event.set_sequence(static_cast<std::uint64_t>(row.integer(0)));
    event.set_vm(row.text(1));
    event.set_kind(static_cast<v1::EventKind>(row.integer(2)));
    event.set_message(row.text(3));
    event.set_detail(row.text(4));
    event.set_unix_ms(row.integer(5));
    event.set_exit_code(static_cast<std::int32_t>(row.integer(6)));
    event.set_boot_id(static_cast<std::uint64_t>(row.integer(7)));
    return event;
}

} // namespace

std::int64_t unix_ms_now()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

FaultStore::FaultStore(const std::string& directory)
{
    std::error_code error;
    std::filesystem::create_directories(directory, error);
    if (error)
        throw StoreError("cannot create the state directory " + directory + ": " + error.message());
    std::string path = directory + "/delosd.sqlite3";
    if (sqlite3_open_v2(path.c_str(), &m_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr)
        != SQLITE_OK) {
        std::string message = m_db ? sqlite3_errmsg(m_db) : "out of memory";
        sqlite3_close(m_db);
        throw StoreError("cannot open " + path + ": " + message);
    }
    sqlite3_busy_timeout(m_db, 5000);
    exec("PRAGMA journal_mode=WAL");
    // FULL: a commit is on disk (WAL fsynced) before it returns, so an acknowledged record
    // survives a power cut, not just kill -9.
    exec("PRAGMA synchronous=FULL");
    exec("PRAGMA foreign_keys=ON");
    exec(R"(CREATE TABLE IF NOT EXISTS vms(
            name TEXT PRIMARY KEY, spec BLOB NOT NULL, boot_id INTEGER NOT NULL DEFAULT 0,
            last_uptime_ns INTEGER NOT NULL DEFAULT 0, restarts INTEGER NOT NULL DEFAULT 0,
            stopped INTEGER NOT NULL DEFAULT 0, created_unix_ms INTEGER NOT NULL,
            last_exit TEXT NOT NULL DEFAULT ''))");
    exec(R"(CREATE TABLE IF NOT EXISTS boots(
            boot_id INTEGER PRIMARY KEY AUTOINCREMENT, vm TEXT NOT NULL, unix_ms INTEGER NOT NULL))");
    exec(R"(CREATE TABLE IF NOT EXISTS faults(
            sequence INTEGER PRIMARY KEY AUTOINCREMENT, vm TEXT NOT NULL, boot_id INTEGER NOT NULL,
            guest_sequence INTEGER NOT NULL, cell TEXT NOT NULL, kind INTEGER NOT NULL,
            received_unix_ms INTEGER NOT NULL, report BLOB NOT NULL, cell_sha256 TEXT NOT NULL DEFAULT '',
            UNIQUE(vm, boot_id, guest_sequence)))");
    exec("CREATE INDEX IF NOT EXISTS faults_by_vm ON faults(vm, sequence)");
    // The guest's own names for a fault: its random boot id and its fault sequence number. A
    // report the guest sends twice (another event, another connection, a delosd restart that
    // re-reads the ring) is stored once. Stores made before these columns get them added.
    if (!has_column("faults", "guest_boot"))
        exec("ALTER TABLE faults ADD COLUMN guest_boot TEXT NOT NULL DEFAULT ''");
    if (!has_column("faults", "fault_sequence"))
        exec("ALTER TABLE faults ADD COLUMN fault_sequence INTEGER NOT NULL DEFAULT 0");
    exec("CREATE UNIQUE INDEX IF NOT EXISTS faults_by_guest_fault ON faults(vm, guest_boot, fault_sequence) "
         "WHERE guest_boot != ''");
    exec(R"(CREATE TABLE IF NOT EXISTS events(
            sequence INTEGER PRIMARY KEY AUTOINCREMENT, vm TEXT NOT NULL, kind INTEGER NOT NULL,
            message TEXT NOT NULL, detail TEXT NOT NULL, unix_ms INTEGER NOT NULL,
            exit_code INTEGER NOT NULL, boot_id INTEGER NOT NULL))");
    exec(R"(CREATE TABLE IF NOT EXISTS cell_history(
            id INTEGER PRIMARY KEY AUTOINCREMENT, vm TEXT NOT NULL, cell TEXT NOT NULL,
            version TEXT NOT NULL, sha256 TEXT NOT NULL, action TEXT NOT NULL, by TEXT NOT NULL,
            unix_ms INTEGER NOT NULL, object_bytes INTEGER NOT NULL, signer TEXT NOT NULL))");
}

FaultStore::~FaultStore() { sqlite3_close(m_db); }

bool FaultStore::has_column(const char* table, const char* column)
{
    std::string sql = std::string("PRAGMA table_info(") + table + ")";
    Statement rows(m_db, sql.c_str());
    while (rows.step())
        if (rows.text(1) == column)
            return true;
    return false;
}

void FaultStore::exec(const char* sql)
{
    char* message = nullptr;
    if (sqlite3_exec(m_db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
        std::string text = message ? message : "unknown error";
        sqlite3_free(message);
        throw StoreError(std::string("store: ") + text + " in: " + sql);
    }
}

void FaultStore::notify()
{
    {
        std::lock_guard lock(m_change_mutex);
        ++m_changes;
    }
    m_changed.notify_all();
}

std::uint64_t FaultStore::change_count()
{
    std::lock_guard lock(m_change_mutex);
    return m_changes;
}

std::uint64_t FaultStore::wait_for_change(std::uint64_t seen, std::chrono::milliseconds limit)
{
    std::unique_lock lock(m_change_mutex);
    m_changed.wait_for(lock, limit, [&] { return m_changes != seen; });
    return m_changes;
}

void FaultStore::insert_vm(const StoredVm& vm)
{
    std::lock_guard lock(m_mutex);
    Statement insert(m_db, "INSERT INTO vms(name, spec, boot_id, last_uptime_ns, restarts, stopped, created_unix_ms, "
                           "last_exit) VALUES(?,?,?,?,?,?,?,?)");
    insert.bind(1, vm.spec.name())
        .bind_blob(2, vm.spec.SerializeAsString())
        .bind(3, static_cast<std::int64_t>(vm.boot_id))
        .bind(4, static_cast<std::int64_t>(vm.last_uptime_ns))
        .bind(5, static_cast<std::int64_t>(vm.restarts))
        .bind(6, vm.stopped ? 1 : 0)
        .bind(7, vm.created_unix_ms)
        .bind(8, vm.last_exit);
    if (!insert.run_allowing_constraint())
        throw StoreError("a VM named " + vm.spec.name() + " already exists");
}

void FaultStore::delete_vm(const std::string& name)
{
    std::lock_guard lock(m_mutex);
    Statement(m_db, "DELETE FROM vms WHERE name = ?").bind(1, name).step();
}

std::vector<StoredVm> FaultStore::load_vms()
{
    std::lock_guard lock(m_mutex);
    Statement rows(m_db, "SELECT spec, boot_id, last_uptime_ns, restarts, stopped, created_unix_ms, last_exit FROM vms "
                         "ORDER BY created_unix_ms, name");
    std::vector<StoredVm> vms;
    while (rows.step()) {
        StoredVm vm;
        vm.spec.ParseFromString(rows.text(0));
        vm.boot_id = static_cast<std::uint64_t>(rows.integer(1));
        vm.last_uptime_ns = static_cast<std::uint64_t>(rows.integer(2));
        vm.restarts = static_cast<std::uint32_t>(rows.integer(3));
        vm.stopped = rows.integer(4) != 0;
        vm.created_unix_ms = rows.integer(5);
        vm.last_exit = rows.text(6);
        vms.push_back(std::move(vm));
    }
    return vms;
}

std::uint64_t FaultStore::new_boot(const std::string& vm)
{
    std::lock_guard lock(m_mutex);
    exec("BEGIN IMMEDIATE");
    try {
        Statement(m_db, "INSERT INTO boots(vm, unix_ms) VALUES(?, ?)").bind(1, vm).bind(2, unix_ms_now()).step();
        auto boot_id = static_cast<std::uint64_t>(sqlite3_last_insert_rowid(m_db));
        Statement(m_db, "UPDATE vms SET boot_id = ?, last_uptime_ns = 0 WHERE name = ?")
            .bind(1, static_cast<std::int64_t>(boot_id))
            .bind(2, vm)
            .step();
        exec("COMMIT");
        return boot_id;
    } catch (...) {
        exec("ROLLBACK");
        throw;
    }
}

void FaultStore::set_last_uptime(const std::string& vm, std::uint64_t uptime_ns)
{
    std::lock_guard lock(m_mutex);
    Statement(m_db, "UPDATE vms SET last_uptime_ns = ? WHERE name = ?")
        .bind(1, static_cast<std::int64_t>(uptime_ns))
        .bind(2, vm)
        .step();
}

void FaultStore::set_run_state(const std::string& vm, bool stopped, std::uint32_t restarts, const std::string& last_exit)
{
    std::lock_guard lock(m_mutex);
    Statement(m_db, "UPDATE vms SET stopped = ?, restarts = ?, last_exit = ? WHERE name = ?")
        .bind(1, stopped ? 1 : 0)
        .bind(2, static_cast<std::int64_t>(restarts))
        .bind(3, last_exit)
        .bind(4, vm)
        .step();
}

std::optional<v1::FaultRecord> FaultStore::add_fault(const std::string& vm, std::uint64_t boot_id,
                                                     std::uint64_t guest_sequence, std::uint64_t uptime_ns,
                                                     const v1::FaultReport& report,
                                                     const std::function<v1::EventRecord(const v1::FaultRecord&)>& describe,
                                                     const std::string& cell_sha256)
{
    v1::FaultRecord record;
    {
        std::lock_guard lock(m_mutex);
        exec("BEGIN IMMEDIATE");
        try {
            std::int64_t now = unix_ms_now();
            Statement insert(m_db, "INSERT INTO faults(vm, boot_id, guest_sequence, cell, kind, received_unix_ms, report, "
                                   "cell_sha256, guest_boot, fault_sequence) VALUES(?,?,?,?,?,?,?,?,?,?)");
            insert.bind(1, vm)
                .bind(2, static_cast<std::int64_t>(boot_id))
                .bind(3, static_cast<std::int64_t>(guest_sequence))
                .bind(4, report.cell_name())
                .bind(5, static_cast<std::int64_t>(report.kind()))
                .bind(6, now)
                .bind_blob(7, report.SerializeAsString())
                .bind(8, cell_sha256)
                .bind(9, report.boot_id())
                // SQLite integers are signed: a hostile sequence past INT64_MAX is clamped, not wrapped.
                .bind(10, static_cast<std::int64_t>(report.fault_sequence() > static_cast<std::uint64_t>(INT64_MAX)
                                                        ? static_cast<std::uint64_t>(INT64_MAX)
                                                        : report.fault_sequence()));
            if (!insert.run_allowing_constraint()) {
                exec("ROLLBACK");
                return std::nullopt;  // stored before: a re-delivery
            }
            record.set_sequence(static_cast<std::uint64_t>(sqlite3_last_insert_rowid(m_db)));
            Statement(m_db, "UPDATE vms SET last_uptime_ns = MAX(last_uptime_ns, ?) WHERE name = ? AND boot_id = ?")
                .bind(1, static_cast<std::int64_t>(uptime_ns))
                .bind(2, vm)
                .bind(3, static_cast<std::int64_t>(boot_id))
                .step();
            record.set_vm(vm);
            record.set_boot_id(boot_id);
            record.set_guest_sequence(guest_sequence);
            record.set_received_unix_ms(now);
            *record.mutable_report() = report;
            record.set_cell_sha256(cell_sha256);
            if (describe) {
                v1::EventRecord event = describe(record);
                insert_event(event);
            }
            exec("COMMIT");
        } catch (...) {
            sqlite3_exec(m_db, "ROLLBACK", nullptr, nullptr, nullptr);
            throw;
        }
    }
    notify();
    return record;
}

std::vector<v1::FaultRecord> FaultStore::list_faults(const v1::FaultFilter& filter, std::uint64_t after_sequence,
                                                     std::uint32_t limit)
{
    // Sequences are SQLite integers (signed 64-bit): nothing comes after a cursor past INT64_MAX,
    // which bound as int64 would wrap negative and list everything (fuzz-controller-requests).
    if (after_sequence > static_cast<std::uint64_t>(INT64_MAX))
        return {};
    std::lock_guard lock(m_mutex);
    Statement rows(m_db, "SELECT sequence, vm, boot_id, guest_sequence, received_unix_ms, report, cell_sha256 FROM faults "
                         "WHERE sequence > ? AND (? = '' OR vm = ?) AND (? = '' OR cell = ?) AND (? = 0 OR kind = ?) "
                         "ORDER BY sequence LIMIT ?");
    rows.bind(1, static_cast<std::int64_t>(after_sequence))
        .bind(2, filter.vm())
        .bind(3, filter.vm())
        .bind(4, filter.cell())
        .bind(5, filter.cell())
        .bind(6, static_cast<std::int64_t>(filter.kind()))
        .bind(7, static_cast<std::int64_t>(filter.kind()))
        .bind(8, static_cast<std::int64_t>(limit));
    std::vector<v1::FaultRecord> records;
    while (rows.step())
        records.push_back(fault_from_row(rows));
    return records;
}

std::uint64_t FaultStore::count_faults(const std::string& vm)
{
    std::lock_guard lock(m_mutex);
    Statement rows(m_db, "SELECT COUNT(*) FROM faults WHERE ? = '' OR vm = ?");
    rows.bind(1, vm).bind(2, vm);
    rows.step();
    return static_cast<std::uint64_t>(rows.integer(0));
}

std::uint64_t FaultStore::last_fault_sequence()
{
    std::lock_guard lock(m_mutex);
    Statement rows(m_db, "SELECT COALESCE(MAX(sequence), 0) FROM faults");
    rows.step();
    return static_cast<std::uint64_t>(rows.integer(0));
}

void FaultStore::insert_event(v1::EventRecord& event)
{
    event.set_unix_ms(unix_ms_now());
    Statement insert(m_db, "INSERT INTO events(vm, kind, message, detail, unix_ms, exit_code, boot_id) "
                           "VALUES(?,?,?,?,?,?,?)");
    insert.bind(1, event.vm())
        .bind(2, static_cast<std::int64_t>(event.kind()))
        .bind(3, event.message())
        .bind(4, event.detail())
        .bind(5, event.unix_ms())
        .bind(6, event.exit_code())
        .bind(7, static_cast<std::int64_t>(event.boot_id()));
    insert.step();
    event.set_sequence(static_cast<std::uint64_t>(sqlite3_last_insert_rowid(m_db)));
}

v1::EventRecord FaultStore::add_event(v1::EventRecord event)
{
    {
        std::lock_guard lock(m_mutex);
        insert_event(event);
    }
    notify();
    return event;
}

std::vector<v1::EventRecord> FaultStore::list_events(const std::string& vm, std::uint64_t after_sequence,
                                                     std::uint32_t limit)
{
    std::lock_guard lock(m_mutex);
    Statement rows(m_db, "SELECT sequence, vm, kind, message, detail, unix_ms, exit_code, boot_id FROM events "
                         "WHERE sequence > ? AND (? = '' OR vm = ?) ORDER BY sequence LIMIT ?");
    rows.bind(1, static_cast<std::int64_t>(after_sequence)).bind(2, vm).bind(3, vm).bind(4, static_cast<std::int64_t>(limit));
    std::vector<v1::EventRecord> events;
    while (rows.step())
        events.push_back(event_from_row(rows));
    return events;
}

std::uint64_t FaultStore::last_event_sequence()
{
    std::lock_guard lock(m_mutex);
    Statement rows(m_db, "SELECT COALESCE(MAX(sequence), 0) FROM events");
    rows.step();
    return static_cast<std::uint64_t>(rows.integer(0));
}

std::uint64_t FaultStore::add_history(const std::vector<v1::CellHistoryRecord>& records,
                                      const std::vector<v1::EventRecord>& events)
{
    std::uint64_t id = 0;
    {
        std::lock_guard lock(m_mutex);
        exec("BEGIN IMMEDIATE");
        try {
            for (const v1::CellHistoryRecord& record : records) {
                Statement insert(m_db, "INSERT INTO cell_history(vm, cell, version, sha256, action, by, unix_ms, "
                                       "object_bytes, signer) VALUES(?,?,?,?,?,?,?,?,?)");
                insert.bind(1, record.vm())
                    .bind(2, record.cell())
                    .bind(3, record.version())
                    .bind(4, record.sha256())
                    .bind(5, record.action())
                    .bind(6, record.by())
                    .bind(7, unix_ms_now())
                    .bind(8, static_cast<std::int64_t>(record.object_bytes()))
                    .bind(9, record.signer());
                insert.step();
                id = static_cast<std::uint64_t>(sqlite3_last_insert_rowid(m_db));
            }
            for (v1::EventRecord event : events)
                insert_event(event);
            exec("COMMIT");
        } catch (...) {
            sqlite3_exec(m_db, "ROLLBACK", nullptr, nullptr, nullptr);
            throw;
        }
    }
    notify();
    return id;
}

std::vector<v1::CellHistoryRecord> FaultStore::list_history(const std::string& vm, const std::string& cell)
{
    std::lock_guard lock(m_mutex);
    Statement rows(m_db, "SELECT id, vm, cell, version, sha256, action, by, unix_ms, object_bytes, signer FROM cell_history "
                         "WHERE vm = ? AND (? = '' OR cell = ?) ORDER BY id");
    rows.bind(1, vm).bind(2, cell).bind(3, cell);
    std::vector<v1::CellHistoryRecord> records;
    while (rows.step()) {
        v1::CellHistoryRecord record;
        record.set_id(static_cast<std::uint64_t>(rows.integer(0)));
        record.set_vm(rows.text(1));
        record.set_cell(rows.text(2));
        record.set_version(rows.text(3));
        record.set_sha256(rows.text(4));
        record.set_action(rows.text(5));
        record.set_by(rows.text(6));
        record.set_unix_ms(rows.integer(7));
        record.set_object_bytes(static_cast<std::uint64_t>(rows.integer(8)));
        record.set_signer(rows.text(9));
        records.push_back(std::move(record));
    }
    return records;
}

} // namespace delos::controller

namespace delos::controller {

std::string FaultStore::pushed_sha256(const std::string& vm, const std::string& cell, const std::string& version)
{
    std::lock_guard lock(m_mutex);
    Statement rows(m_db, "SELECT sha256 FROM cell_history WHERE vm = ? AND cell = ? AND version = ? AND action = 'pushed' "
                         "ORDER BY id DESC LIMIT 1");
    rows.bind(1, vm).bind(2, cell).bind(3, version);
    return rows.step() ? rows.text(0) : std::string();
}

} // namespace delos::controller
