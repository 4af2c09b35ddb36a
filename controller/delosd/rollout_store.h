// rollout_store.h: the rollout records of a coordinating delosd, in its SQLite store
// (STATE/delosd.sqlite3, table `rollouts`, its own connection; WAL, synchronous=FULL). Each
// record is the whole v1::Rollout as protobuf bytes, rewritten at every change and committed
// before anyone hears of the change, so a restarted delosd resumes every rollout where it was.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "delos/v1/controller.pb.h"

namespace delos::controller {

class RolloutStore {
public:
    explicit RolloutStore(const std::string& directory);  // throws StoreError
    ~RolloutStore();
    RolloutStore(const RolloutStore&) = delete;
    RolloutStore& operator=(const RolloutStore&) = delete;

    std::uint64_t create(v1::Rollout& rollout);  // assigns and returns the id
    void save(const v1::Rollout& rollout);
    std::optional<v1::Rollout> get(std::uint64_t id);
    std::vector<v1::Rollout> list(bool active_only, std::uint32_t limit);  // newest first
    std::vector<v1::Rollout> unfinished();  // oldest first

private:
    void exec(const char* sql);
    sqlite3* m_db = nullptr;
    std::mutex m_mutex;
};

} // namespace delos::controller
