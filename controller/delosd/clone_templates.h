// clone_templates.h: the templates of delosd's clone runner (docs/fleet.md, "The clone runner").
// A template is a Delos guest booted once under QEMU with its RAM in a file (memory-backend-file,
// share=on), paused when it serves its channel (before any host session opened on it) and its
// device state saved (migration with x-ignore-shared: the RAM stays in its file). A clone maps the
// RAM file privately (share=off: the template's pages are shared page cache until the clone writes
// them), loads the device state (-incoming) and gets its own VM generation (fw_cfg), so it takes a
// fresh boot id when delosd opens its channel.
//
// There is one template per set of inputs: the kernel's and the boot archive's contents
// (SHA-256), memory size, command line, accelerator and the QEMU binary (path, size, mtime: its
// saved state only loads into the same QEMU). Its *key* is the hash of all of these; its *slot* is
// the hash of what the user names (paths, memory, command line, accelerator, QEMU path). A
// template is built on first use, by one caller while the others wait; when a slot's inputs
// change (a rebuilt kernel) the next start builds a new template and the old one is removed once
// no clone is starting from it. Running clones keep their private mappings of a removed RAM file
// (the inode lives until they end).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "delos/v1/controller.pb.h"

namespace delos::controller {

struct CloneTemplate {
    std::string key;   // hex SHA-256 of the inputs
    std::string slot;  // hex SHA-256 of what the spec names
    std::string dir;   // STATE/templates/KEY
    std::string ram_path() const { return dir + "/ram"; }
    std::string state_path() const { return dir + "/state"; }
    std::atomic<bool> retired{false};  // remove `dir` when the last user lets go
    ~CloneTemplate();
};

class CloneTemplates {
public:
    using Progress = std::function<void(const std::string& message)>;

    // `dir`: where templates live (STATE/templates); `qemu_path` as given to delosd.
    CloneTemplates(std::string dir, std::string qemu_path);

    // The template for `spec` (runner clone), built first when there is none. Blocks while it is
    // built (by this caller or another); `progress` is told what happens (first use, waiting for
    // another build, built in N s). Throws std::runtime_error saying what failed (an unreadable
    // kernel, a template guest that did not get ready, QEMU refusing to save).
    std::shared_ptr<CloneTemplate> acquire(const v1::VmSpec& spec, const Progress& progress);

    // Removes every template (on disk and cached) whose slot is not in `slots`, and leftovers of
    // builds that did not finish. delosd calls it at start and when a clone VM is deleted.
    void retain_only_slots(const std::set<std::string>& slots);

    std::string slot_of(const v1::VmSpec& spec) const;
    // Templates on disk (their keys), for tests and the benchmark.
    std::vector<std::string> keys_on_disk() const;

    // QEMU's argv for a clone of `from`: restored with -incoming defer (delosd then sends
    // migrate-incoming fd:3 on `qmp_socket`), generation `generation` in fw_cfg.
    std::vector<std::string> clone_argv(const v1::VmSpec& spec, const CloneTemplate& from, const std::string& control_socket,
                                        const std::string& serial_log, const std::string& qmp_socket,
                                        const std::string& generation) const;

private:
    struct Build {
        bool done = false;
        std::string error;
        std::shared_ptr<CloneTemplate> result;
    };

    std::string file_digest(const std::string& path);  // hex SHA-256, cached by (inode, size, mtime)
    std::string key_of(const v1::VmSpec& spec);
    std::shared_ptr<CloneTemplate> build(const v1::VmSpec& spec, const std::string& key, const std::string& slot,
                                         const Progress& progress);
    std::shared_ptr<CloneTemplate> load_from_disk(const std::string& key);
    void make_current(const std::string& slot, const std::string& key);  // under m_mutex
    std::vector<std::string> machine_argv(const v1::VmSpec& spec, const std::string& ram_path, bool share,
                                          const std::string& serial_log, const std::string& control_socket,
                                          const std::string& qmp_socket) const;

    std::string m_dir;
    std::string m_qemu_path;
    std::string m_qemu_identity;  // resolved path, size, mtime
    bool m_kvm = false;

    std::mutex m_mutex;
    std::condition_variable m_built;
    std::map<std::string, std::shared_ptr<CloneTemplate>> m_ready;  // by key
    std::map<std::string, std::shared_ptr<Build>> m_building;       // by key
    std::map<std::string, std::string> m_current;                   // slot -> key
    struct Digest {
        std::uint64_t device = 0, inode = 0, size = 0;
        std::int64_t mtime_ns = 0;
        std::string hex;
    };
    std::mutex m_digest_mutex;
    std::map<std::string, Digest> m_digests;  // by path
};

} // namespace delos::controller
