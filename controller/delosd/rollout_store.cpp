// rollout_store.cpp: see rollout_store.h.
#include "rollout_store.h"

#include "fault_store.h"
#include "rollout_plan.h"

namespace delos::controller {

namespace {

struct Finalizer {
    sqlite3_stmt* statement = nullptr;
    ~Finalizer() { sqlite3_finalize(statement); }
};

} // namespace

RolloutStore::RolloutStore(const std::string& directory)
{
    std::string path = directory + "/delosd.sqlite3";
    if (sqlite3_open_v2(path.c_str(), &m_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr)
        != SQLITE_OK) {
        std::string error = m_db ? sqlite3_errmsg(m_db) : "out of memory";
        sqlite3_close(m_db);
        throw StoreError("rollout store: cannot open " + path + ": " + error);
    }
    sqlite3_busy_timeout(m_db, 10000);  // the fault store writes the same file on its own connection
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=FULL");
    exec("CREATE TABLE IF NOT EXISTS rollouts (id INTEGER PRIMARY KEY AUTOINCREMENT, created_unix_ms INTEGER NOT NULL, "
         "final INTEGER NOT NULL, record BLOB NOT NULL)");
}

RolloutStore::~RolloutStore() { sqlite3_close(m_db); }

void RolloutStore::exec(const char* sql)
{
    char* error = nullptr;
    if (sqlite3_exec(m_db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
        std::string message = error ? error : "unknown error";
        sqlite3_free(error);
        throw StoreError(std::string("rollout store: ") + message);
    }
}

std::uint64_t RolloutStore::create(v1::Rollout& rollout)
{
    std::lock_guard lock(m_mutex);
    Finalizer insert;
    if (sqlite3_prepare_v2(m_db, "INSERT INTO rollouts (created_unix_ms, final, record) VALUES (?, 0, x'')", -1,
                           &insert.statement, nullptr) != SQLITE_OK)
        throw StoreError(std::string("rollout store: ") + sqlite3_errmsg(m_db));
    sqlite3_bind_int64(insert.statement, 1, rollout.created_unix_ms());
    if (sqlite3_step(insert.statement) != SQLITE_DONE)
        throw StoreError(std::string("rollout store: ") + sqlite3_errmsg(m_db));
    rollout.set_id(static_cast<std::uint64_t>(sqlite3_last_insert_rowid(m_db)));
    return rollout.id();
}

void RolloutStore::save(const v1::Rollout& rollout)
{
    std::string bytes;
    rollout.SerializeToString(&bytes);
    std::lock_guard lock(m_mutex);
    Finalizer update;
    if (sqlite3_prepare_v2(m_db, "UPDATE rollouts SET final = ?, record = ? WHERE id = ?", -1, &update.statement, nullptr)
        != SQLITE_OK)
        throw StoreError(std::string("rollout store: ") + sqlite3_errmsg(m_db));
    sqlite3_bind_int64(update.statement, 1, rollout_final(rollout.state()) ? 1 : 0);
    sqlite3_bind_blob(update.statement, 2, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(update.statement, 3, static_cast<std::int64_t>(rollout.id()));
    if (sqlite3_step(update.statement) != SQLITE_DONE)
        throw StoreError(std::string("rollout store: ") + sqlite3_errmsg(m_db));
}

namespace {

std::vector<v1::Rollout> query(sqlite3* db, const char* sql, std::int64_t parameter)
{
    Finalizer select;
    if (sqlite3_prepare_v2(db, sql, -1, &select.statement, nullptr) != SQLITE_OK)
        throw StoreError(std::string("rollout store: ") + sqlite3_errmsg(db));
    sqlite3_bind_int64(select.statement, 1, parameter);
    std::vector<v1::Rollout> rollouts;
    for (;;) {
        int result = sqlite3_step(select.statement);
        if (result == SQLITE_DONE)
            break;
        if (result != SQLITE_ROW)
            throw StoreError(std::string("rollout store: ") + sqlite3_errmsg(db));
        v1::Rollout rollout;
        const void* data = sqlite3_column_blob(select.statement, 1);
        int size = sqlite3_column_bytes(select.statement, 1);
        if (size > 0 && !rollout.ParseFromArray(data, size))
            throw StoreError("rollout store: record " + std::to_string(sqlite3_column_int64(select.statement, 0))
                             + " does not parse");
        rollout.set_id(static_cast<std::uint64_t>(sqlite3_column_int64(select.statement, 0)));
        rollouts.push_back(std::move(rollout));
    }
    return rollouts;
}

} // namespace

std::optional<v1::Rollout> RolloutStore::get(std::uint64_t id)
{
    std::lock_guard lock(m_mutex);
    auto found = query(m_db, "SELECT id, record FROM rollouts WHERE id = ?", static_cast<std::int64_t>(id));
    if (found.empty())
        return std::nullopt;
    return found.front();
}

std::vector<v1::Rollout> RolloutStore::list(bool active_only, std::uint32_t limit)
{
    std::lock_guard lock(m_mutex);
    return query(m_db,
                 active_only ? "SELECT id, record FROM rollouts WHERE final = 0 ORDER BY id DESC LIMIT ?"
                             : "SELECT id, record FROM rollouts ORDER BY id DESC LIMIT ?",
                 limit);
}

std::vector<v1::Rollout> RolloutStore::unfinished()
{
    std::lock_guard lock(m_mutex);
    return query(m_db, "SELECT id, record FROM rollouts WHERE final = 0 AND ? = 0 ORDER BY id", 0);
}

} // namespace delos::controller
