// fc_driver.cpp: the fault-campaign driver cell. Booted with `fc.workload=NAME` on the kernel
// command line (and the campaign archive, build/cells/fault-campaign.a), it runs that workload
// once to warm up, records the baseline (free frames, heap), prints the target cell's sections,
// waits for the injector (`fc.wait_host`: until the host writes fc_host_go through the debugger),
// runs the workload again under the supervisor, checks frames and heap are back at the baseline,
// prints one verdict line and powers the VM off. Faults are injected into the target, never here.
#include <atomic>

#include "fault_workloads/workload_protocol.h"
#include "fc_driver/supervisor.h"
#include "fc_driver/workloads.h"
#include "lib/core/format.h"
#include "linker/cell_info.h"
#include "linker/kernel/cell_manager.h"
#include "log/kernel_log.h"
#include "memory/frame_allocator.h"
#include "memory/heap.h"
#include "memory/page_table.h"
#include "platform/boot_facts.h"
#include "platform/platform_ports.h"
#include "recovery/fault_containment.h"
#include "task/scheduler.h"
#include "task/spawn.h"
#include "task/stack_cache.h"
#include "task/task_registry.h"

#include "counter/counter.h"
#include "kv/kv.h"

extern "C" void fc_session_forget();
extern "C" void fc_pages_fill(const delos::fault_workload::PagesRequest& request, delos::fault_workload::PagesReply& reply);
extern "C" void fc_pipeline_stage(std::uint32_t stage, delos::fault_workload::Block& block);
extern "C" void fc_session_serve_stateless(const delos::fault_workload::SessionRequest& request,
                                           delos::fault_workload::SessionState& reply);

// Written by the injector (through the debugger) once its breakpoints are in place.
extern "C" {
[[gnu::visibility("default"), gnu::used]] volatile std::uint64_t fc_host_go = 0;
}

namespace delos::fault_workload {

namespace {

constexpr std::uint64_t kHostWaitNs = 120'000'000'000;
// Plain reloads during the warm-up (then two more beside a retiring version).
constexpr int kWarmupReloads = 2;

struct WorkloadKind {
    StringView name;
    StringView target;
};
constexpr WorkloadKind kWorkloads[] = {
    {"kv", "fc_kvserver"},
    {"pipeline", "fc_pipeline"},
    {"session", "fc_session"},
    {"session-stateful", "fc_session"},
    {"counter", "counter"},
    {"pages", "fc_pages"},
};

// The value of `key=` on the command line ("" if absent), or "1" for a bare `key`.
StringView command_line_value(StringView key)
{
    StringView line = platform::boot_info().command_line;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && line[i] == ' ')
            ++i;
        std::size_t start = i;
        while (i < line.size() && line[i] != ' ')
            ++i;
        StringView word = line.substr(start, i - start);
        if (word == key)
            return "1";
        if (word.size() > key.size() && word.substr(0, key.size()) == key && word[key.size()] == '=')
            return word.substr(key.size() + 1);
    }
    return "";
}

struct Usage {
    std::uint64_t free_frames;
    std::uint64_t page_table_frames;  // split 2 MiB pages stay split: counted apart
    std::uint64_t heap_bytes;
    std::uint64_t heap_allocations;
    std::uint64_t live_tasks;
    std::uint64_t heap_pages;  // frames the heap holds: its slabs keep pages after their objects go
};

// What is in use once everything the workload started has ended: retired cell versions
// collected, cached task stacks given back, ended tasks reaped (the scheduler reaps them
// later, so the figures are read until two readings 5 ms apart agree).
Usage read_usage()
{
    task::stack_cache::release_all();
    auto heap = memory::heap_statistics();
    return Usage{memory::frame_allocator().free_frames(), memory::kernel_page_table().table_frames(), heap.bytes_in_use,
                 heap.allocations_in_use, task::registry::live_count(), heap.pages_held};
}

bool same_usage(const Usage& a, const Usage& b)
{
    return a.free_frames == b.free_frames && a.page_table_frames == b.page_table_frames && a.heap_bytes == b.heap_bytes && a.heap_allocations == b.heap_allocations
           && a.live_tasks == b.live_tasks && a.heap_pages == b.heap_pages;
}

Usage settled_usage()
{
    auto& cells = loader::cell_manager();
    for (int attempt = 0; attempt < 50; ++attempt) {
        (void)cells.collect_retired();
        if (cells.retiring_cells().empty())
            break;
        task::scheduler::sleep_for(2'000'000);
    }
    if (auto retiring = cells.retiring_cells(); !retiring.empty())
        kprint("fc: {} retired cell version(s) still referenced ({} generation {})\n", retiring.size(), retiring[0].name, retiring[0].generation);
    Usage usage = read_usage();
    for (int attempt = 0; attempt < 100; ++attempt) {
        task::scheduler::sleep_for(5'000'000);
        Usage again = read_usage();
        if (same_usage(usage, again))
            break;
        usage = again;
    }
    return usage;
}

// A contained fault on purpose inside the target, during the warm-up: the one-time costs of a
// first fault in that cell (the report's symbolisation of it, the fault log) land before the
// baseline, and containment is shown alive. The target's entry gets a request at an unmapped
// address, as a corrupted caller would hand it.
volatile std::uint64_t g_unmapped_address = 8;

void fault_in_target(const WorkloadKind& kind)
{
    std::uint64_t bad = g_unmapped_address;
    if (kind.name == "kv") {
        KvReply reply{};
        kv::WriteGrant none{};
        fc_kvserver_serve(*reinterpret_cast<const KvRequest*>(bad), none, reply);
    } else if (kind.name == "pipeline") {
        fc_pipeline_stage(0, *reinterpret_cast<Block*>(bad));
    } else if (kind.name == "counter") {
        (void)counter::count(kv::WriteGrant{}, StringView(reinterpret_cast<const char*>(bad), 16));
    } else if (kind.name == "pages") {
        PagesReply reply{};
        fc_pages_fill(*reinterpret_cast<const PagesRequest*>(bad), reply);
    } else {
        SessionState reply{};
        fc_session_serve_stateless(*reinterpret_cast<const SessionRequest*>(bad), reply);
    }
}

// A reload while a task still refers to the old version (as a measured reload usually is: a
// worker is still in the old code), so the kernel's tables reach the size a live, a retiring
// and a new version at once need. The pin task holds an address of the old code on its stack,
// which keeps that version retiring until the pin ends.
std::atomic<bool> g_release_pin{false};

std::uint64_t target_entry(const WorkloadKind& kind)
{
    if (kind.name == "kv")
        return reinterpret_cast<std::uint64_t>(&fc_kvserver_serve);
    if (kind.name == "pipeline")
        return reinterpret_cast<std::uint64_t>(&fc_pipeline_stage);
    if (kind.name == "counter")
        return reinterpret_cast<std::uint64_t>(static_cast<ErrorOr<std::int64_t> (*)(const kv::WriteGrant&, StringView)>(&counter::count));
    if (kind.name == "pages")
        return reinterpret_cast<std::uint64_t>(&fc_pages_fill);
    return reinterpret_cast<std::uint64_t>(&fc_session_serve_stateless);
}

bool reload_while_referenced(const WorkloadKind& kind, TargetCell& target)
{
    g_release_pin.store(false, std::memory_order_release);
    std::uint64_t entry = target_entry(kind);
    auto pin = task::spawn("fc.warmup.pin", [entry] {
        volatile std::uint64_t held = entry;
        while (!g_release_pin.load(std::memory_order_acquire))
            task::scheduler::sleep_for(1'000'000);
        (void)held;
    });
    if (pin.is_error())
        return false;
    task::scheduler::sleep_for(3'000'000);
    bool reloaded = !target.reload().is_error();
    g_release_pin.store(true, std::memory_order_release);
    (void)pin.value().join();
    return reloaded;
}

bool fault_once(const WorkloadKind& kind)
{
    const WorkloadKind* chosen = &kind;
    auto faulting = task::spawn("fc.warmup.fault", [chosen] { fault_in_target(*chosen); });
    if (faulting.is_error())
        return false;
    return faulting.value().join().end() == task::TaskEnd::Faulted;
}

WorkloadOutcome run_once(const WorkloadKind& kind, TargetCell& target, RecoveryStatistics& recovery)
{
    Supervisor supervisor(target);
    WorkloadOutcome outcome;
    if (kind.name == "kv")
        outcome = run_kv_workload(supervisor, target);
    else if (kind.name == "pipeline")
        outcome = run_pipeline_workload(supervisor, target);
    else if (kind.name == "counter")
        outcome = run_counter_workload(supervisor, target);
    else if (kind.name == "pages")
        outcome = run_pages_workload(supervisor, target);
    else
        outcome = run_session_workload(supervisor, target, kind.name == "session-stateful");
    supervisor.finish();
    recovery = supervisor.statistics();
    return outcome;
}

void print_sections(StringView target)
{
    auto cell = loader::cell_manager().cell(target, true);
    if (cell.is_error()) {
        kprint("fc: target {} not loaded\n", target);
        return;
    }
    for (const auto& section : cell.value().sections)
        kprint("fc: section {} {:#x} {} {}\n", link::section_kind_name(section.kind), section.address, section.size, section.name);
}

void drive(const WorkloadKind& kind)
{
    TargetCell target(kind.target);
    RecoveryStatistics warmup_recovery;
    // Warm-up: first a fault inside the target on purpose (below), ...
    if (!fault_once(kind)) {
        kprint("fc: verdict=incomplete workload={} problem=\"warm-up: a fault on purpose was not contained\"\n", kind.name);
        platform::shutdown(platform::kExitSuccess);
    }
    // Then two reloads and one whole run, so the kv store, the heap's slabs and the cell
    // manager's records of a swapped cell reach the sizes a measured run leaves behind (a swap
    // keeps the replaced generation's object for rollback; the boot generation's is the archive's;
    // the first reload after a fault in the cell grows a kernel record by 64 bytes, once).
    for (int reload = 0; reload < kWarmupReloads; ++reload) {
        if (auto reloaded = target.reload(); reloaded.is_error()) {
            kprint("fc: verdict=incomplete workload={} problem=\"warm-up reload failed: {}\"\n", kind.name, reloaded.error().message);
            platform::shutdown(platform::kExitSuccess);
        }
    }
    for (int reload = 0; reload < 2; ++reload) {
        if (!reload_while_referenced(kind, target)) {
            kprint("fc: verdict=incomplete workload={} problem=\"warm-up: a reload beside a retiring version failed\"\n", kind.name);
            platform::shutdown(platform::kExitSuccess);
        }
    }
    WorkloadOutcome warmup = run_once(kind, target, warmup_recovery);
    if (!warmup.complete || !warmup.correct || warmup_recovery.faults) {
        kprint("fc: verdict=incomplete workload={} problem=\"warm-up run failed: {}\"\n", kind.name, warmup.problem);
        platform::shutdown(platform::kExitSuccess);
    }
    if (kind.name == "session-stateful")
        fc_session_forget();
    Usage baseline = settled_usage();
    std::uint64_t contained_before = task::fault_containment_statistics().contained;

    print_sections(kind.target);
    kprint("fc: ready workload={} target={} go={:#x}\n", kind.name, kind.target,
           reinterpret_cast<std::uint64_t>(&fc_host_go));
    if (command_line_value("fc.wait_host") == "1") {
        std::uint64_t waited = 0;
        while (fc_host_go == 0 && waited < kHostWaitNs) {
            task::scheduler::sleep_for(1'000'000);
            waited += 1'000'000;
        }
    }

    RecoveryStatistics recovery;
    WorkloadOutcome outcome = run_once(kind, target, recovery);
    Usage after = settled_usage();
    std::uint64_t contained = task::fault_containment_statistics().contained - contained_before;

    const char* verdict = !outcome.complete ? "incomplete" : (outcome.correct ? "correct" : "wrong");
    // Frames in use beyond the baseline, without the page tables that splitting a 2 MiB page for
    // a new placement of the reloaded cell's sections added (the kernel never merges them back:
    // bounded by RAM / 2 MiB tables, reported apart as page_table_frames_delta).
    std::int64_t page_table_delta =
        static_cast<std::int64_t>(after.page_table_frames) - static_cast<std::int64_t>(baseline.page_table_frames);
    // Likewise the heap's own pages: a busier moment leaves more slab pages held (empty slabs are
    // kept); objects left behind show in heap_delta and allocations_delta, exactly.
    std::int64_t heap_pages_delta = static_cast<std::int64_t>(after.heap_pages) - static_cast<std::int64_t>(baseline.heap_pages);
    std::int64_t frames_delta = static_cast<std::int64_t>(baseline.free_frames) - static_cast<std::int64_t>(after.free_frames)
                                - page_table_delta - heap_pages_delta;
    std::int64_t heap_delta = static_cast<std::int64_t>(after.heap_bytes) - static_cast<std::int64_t>(baseline.heap_bytes);
    std::int64_t allocations_delta =
        static_cast<std::int64_t>(after.heap_allocations) - static_cast<std::int64_t>(baseline.heap_allocations);
    kprint("fc: verdict={} workload={} requests={} retries={} faults={} contained={} restarts={} reloads={} "
           "reload_failures={} wrong_answers={} hung={} released={} released_bytes={} frames_delta={} page_table_frames_delta={} heap_pages_delta={} heap_delta={} allocations_delta={} tasks_delta={} problem=\"{}\"\n",
           verdict, kind.name, outcome.requests, outcome.retries, recovery.faults, contained, recovery.restarts,
           recovery.reloads, recovery.reload_failures, recovery.wrong_answers, recovery.hung, recovery.released, recovery.released_bytes, frames_delta, page_table_delta, heap_pages_delta, heap_delta,
           allocations_delta, static_cast<std::int64_t>(after.live_tasks) - static_cast<std::int64_t>(baseline.live_tasks), outcome.problem);
    platform::shutdown(platform::kExitSuccess);
}

ErrorOr<void> driver_init()
{
    StringView name = command_line_value("fc.workload");
    if (name.empty())
        return {};  // not a campaign boot: stay idle
    for (const WorkloadKind& kind : kWorkloads) {
        if (kind.name == name) {
            const WorkloadKind* chosen = &kind;
            auto main = TRY(task::spawn("fc.main", [chosen] { drive(*chosen); }));
            // A wild write from the target can reach the driver's own task (its stack, its
            // objects): it is then contained and unwound like any fault, and no verdict would
            // ever come (the guest idles: a hang at the campaign's deadline). Its watcher ends
            // the run with the verdict that says so instead.
            auto watch = TRY(task::spawn("fc.watch", [chosen, main = std::move(main)]() mutable {
                auto outcome = main.join();
                if (outcome.end() != task::TaskEnd::Faulted)
                    return;
                kprint("fc: verdict=incomplete workload={} problem=\"the driver's own task faulted (vector {:#x} at {:#x}): damage "
                       "from the target reached the driver\"\n",
                       chosen->name, outcome.fault().vector, outcome.fault().instruction_pointer);
                platform::shutdown(platform::kExitSuccess);
            }));
            watch.detach();
            return {};
        }
    }
    kprint("fc: unknown workload '{}' (known: kv, pipeline, session, session-stateful, counter, pages)\n", name);
    return {};
}

} // namespace

} // namespace delos::fault_workload

DELOS_CELL("fc_driver", "1.0.0", delos::fault_workload::driver_init, nullptr);
