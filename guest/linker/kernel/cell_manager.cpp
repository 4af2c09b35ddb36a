// cell_manager.cpp: the cell manager: loads and unloads under a sleeping lock, entries run in
// tasks of their own, the directory of cell numbers (and the tasks' cell resolver), queries,
// kernel exports on demand, and the atexit/backtrace hooks.
#include "linker/kernel/cell_manager.h"

#include "arch/x86_64/tsc.h"
#include "log/kernel_log.h"
#include "memory/call_ownership.h"
#include "debug/kernel_symbols.h"
#include "linker/describe.h"
#include "linker/relocatable_object.h"
#include "runtime/cxx_runtime.h"
#include "sync/stop_machine.h"
#include "task/scheduler.h"
#include "task/spawn.h"
#include "task/task_registry.h"

// A quarantined cell's users land here: a #UD with unwind information (the caller's frame is
// the return address at [rsp]), so fault containment ends the calling task cleanly.
asm(R"(
    .section .text.delos_quarantined_cell_called, "ax"
    .global delos_quarantined_cell_called
    .type delos_quarantined_cell_called, @function
delos_quarantined_cell_called:
    .cfi_startproc
    ud2
    .cfi_endproc
    .size delos_quarantined_cell_called, . - delos_quarantined_cell_called
    .text
)");

namespace delos::loader {

namespace {

CellManager g_cell_manager;

int register_cell_exit_function(void (*function)(), std::uint64_t caller)
{
    // Called from a cell's constructor or init, in its entry task, while the loading task holds
    // the manager's lock and waits for that entry to end: the namespace holds still.
    auto registered = g_cell_manager.cell_namespace().register_exit_function(caller, function);
    return registered.is_error() ? -1 : 0;
}

// Backtraces through cells: the section containing the address; with one section per function
// its name is the function's (".text.<mangled name>").
bool symbolize_cell_address(std::uint64_t address, kernel_symbols::Symbol& out, kernel_symbols::CodeOwner& owner)
{
    link::LoadedCell* cell = g_cell_manager.cell_namespace().cell_at(address);
    if (!cell) {
        // A cell of the load in progress (a fault in its constructor); the loading task waits
        // for that entry, so the list holds still.
        for (link::LoadedCell* loading : g_cell_manager.cell_namespace().cells_in_progress()) {
            if (loading->section_at(address))
                cell = loading;
        }
    }
    if (!cell)
        return false;
    link::LoadedSection* section = cell->section_at(address);
    if (!section)
        return false;
    StringView name = section->name.view();
    if (name.starts_with(".text."))
        name = name.substr(6);
    out = {section->address, section->size, name, name, true};
    owner = {cell->name(), cell->version(), cell->build_id(), section->name.view()};
    return true;
}

// Nobody holds the manager's lock, or its holder waits for a cell entry task (the namespace holds
// still then; that entry may be the very task the watchdog is looking at).
bool cell_records_quiescent() { return g_cell_manager.records_quiescent(); }

task::CellId resolve_task_cell(std::uint64_t code_address) { return g_cell_manager.cell_at(code_address); }

// "init:kv", "dtor:kv", ...: what a task running a cell entry is called.
void name_entry_task(char (&name)[task::kTaskNameLength], const char* kind, StringView cell)
{
    FixedBufferSink sink(name, sizeof name - 1);
    format_to(sink, "{}:{}", kind, cell);
    name[sink.view().size()] = '\0';
}

const char* short_entry_kind(link::EntryKind kind)
{
    switch (kind) {
    case link::EntryKind::Constructor: return "ctor";
    case link::EntryKind::Fini: return "fini";
    case link::EntryKind::ExitFunction: return "atexit";
    case link::EntryKind::Destructor: return "dtor";
    }
    return "entry";
}

// Live tasks per cell, counted in one pass over the registry (its lock masks interrupts, so
// the visitor only counts into a fixed table).
struct TaskCounts {
    static constexpr std::size_t kMaxCells = 64;
    task::CellId cells[kMaxCells];
    std::uint32_t counts[kMaxCells];
    std::size_t size = 0;

    std::uint32_t of(task::CellId cell) const
    {
        for (std::size_t i = 0; i < size; ++i) {
            if (cells[i] == cell)
                return counts[i];
        }
        return 0;
    }
};

void count_tasks_by_cell(TaskCounts& table)
{
    table.size = 0;
    task::registry::for_each([&](task::Task& task) {
        task::CellId cell = task.cell();
        for (std::size_t i = 0; i < table.size; ++i) {
            if (table.cells[i] == cell) {
                ++table.counts[i];
                return;
            }
        }
        if (table.size < TaskCounts::kMaxCells) {
            table.cells[table.size] = cell;
            table.counts[table.size++] = 1;
        }
    });
}

// Holds the manager's lock for a scope (taken by CellManager::lock()).
class Locked {
public:
    explicit Locked(task::Mutex& lock) : m_lock(lock) {}
    ~Locked() { m_lock.unlock(); }
    Locked(const Locked&) = delete;
    Locked& operator=(const Locked&) = delete;

private:
    task::Mutex& m_lock;
};

} // namespace

CellManager& cell_manager() { return g_cell_manager; }

// --- entries in tasks ---

ErrorOr<void> TaskEntryInvoker::call_init(StringView cell, link::CellInitFunction init)
{
    if (!m_manager.m_direct_entries)
        m_manager.sync_frame_tables();  // a fault in init is then contained to its task
    if (!task::scheduler::started() || m_manager.m_direct_entries)
        return init();
    task::SpawnOptions options;
    options.cell = m_manager.id_for_entry(cell);
    char name[task::kTaskNameLength];
    name_entry_task(name, "init", cell);
    auto spawned = task::spawn(name, [this, init]() -> ErrorOr<void> {
        __atomic_store_n(&m_running, task::scheduler::current_task_id(), __ATOMIC_RELEASE);
        ErrorOr<void> result = init();
        __atomic_store_n(&m_running, task::kKernelOwner, __ATOMIC_RELEASE);
        return result;
    }, options);
    if (spawned.is_error())
        return spawned.release_error().with_context(format("cell {}: no task for its init entry", cell));
    auto outcome = spawned.value().join();
    if (outcome.end() == task::TaskEnd::Faulted)
        return Error::make(ErrorCode::Internal, "cell init entry faulted", outcome.fault().vector)
            .with_detail(format("cell {}: its init task ended Faulted (contained fault #{}, vector {} at rip {:#x})", cell,
                                outcome.fault().sequence, outcome.fault().vector, outcome.fault().instruction_pointer));
    if (!outcome.returned())
        return Error::make(ErrorCode::Internal, "cell init entry did not return")
            .with_detail(format("cell {}: its init task ended {}", cell, task::task_end_name(outcome.end())));
    return outcome.release_value();
}

void TaskEntryInvoker::call(StringView cell, link::EntryKind kind, void (*function)())
{
    if (kind == link::EntryKind::Constructor && !m_manager.m_direct_entries)
        m_manager.sync_frame_tables();  // relocated, not yet constructed: its faults can be contained
    if (!task::scheduler::started() || m_manager.m_direct_entries) {
        function();
        return;
    }
    task::SpawnOptions options;
    options.cell = m_manager.id_for_entry(cell);
    char name[task::kTaskNameLength];
    name_entry_task(name, short_entry_kind(kind), cell);
    auto spawned = task::spawn(name, [this, function] {
        __atomic_store_n(&m_running, task::scheduler::current_task_id(), __ATOMIC_RELEASE);
        function();
        __atomic_store_n(&m_running, task::kKernelOwner, __ATOMIC_RELEASE);
    }, options);
    if (spawned.is_error()) {
        // No task to be had (memory): the entry must still run, so it runs here, in the loading
        // task, which holds only the manager's sleeping lock.
        function();
        return;
    }
    (void)spawned.value().join();
}

// --- locking and the directory ---

ErrorOr<void> CellManager::lock()
{
    task::TaskId self = task::scheduler::current_task_id();
    if (self != task::kKernelOwner && self == m_invoker.running_entry_task())
        return Error::make(ErrorCode::Busy, "the cell manager is in the middle of loading or unloading")
            .with_detail("a cell's constructor, init, fini or destructor asked the cell manager to load or unload a cell");
    m_lock.lock();
    return {};
}

CellId CellManager::id_for_entry(StringView cell)
{
    SpinLockGuard guard(m_directory_lock);
    return m_directory.id_for_entry(cell);
}

CellId CellManager::cell_at(std::uint64_t address)
{
    SpinLockGuard guard(m_directory_lock);
    return m_directory.cell_at(address);
}

bool CellManager::copy_name_of_cell_at(std::uint64_t address, char* out, std::size_t capacity)
{
    if (capacity == 0)
        return false;
    SpinLockGuard guard(m_directory_lock);
    const cells::CellRecord* record = m_directory.find(m_directory.cell_at(address));
    if (!record || record->id == cells::kKernelCell)
        return false;
    std::size_t size = record->name.size() < capacity - 1 ? record->name.size() : capacity - 1;
    for (std::size_t i = 0; i < size; ++i)
        out[i] = record->name[i];
    out[size] = '\0';
    return true;
}

String CellManager::cell_name(CellId id)
{
    String name;
    {
        SpinLockGuard guard(m_directory_lock);
        if (const cells::CellRecord* record = m_directory.find(id))
            name = record->name;
    }
    return name;
}

CellId CellManager::id_of(StringView name)
{
    SpinLockGuard guard(m_directory_lock);
    const cells::CellRecord* record = m_directory.find(name);
    return record ? record->id : cells::kKernelCell;
}

std::uint32_t CellManager::live_generation(StringView name)
{
    SpinLockGuard guard(m_directory_lock);
    const cells::CellRecord* record = m_directory.find(name);
    return record && record->state == cells::CellState::Live ? record->generation : 0;
}

std::uint32_t CellManager::task_count(CellId id)
{
    TaskCounts counts;
    count_tasks_by_cell(counts);
    return counts.of(id);
}

LoadResult CellManager::adopt_loaded(link::LoadedCell* root, std::size_t cells_before)
{
    const auto& loaded = m_namespace->cells();
    LoadResult result;
    for (std::size_t i = cells_before; i < loaded.size(); ++i) {
        const link::LoadedCell& cell = *loaded[i];
        link::Region text = cell.region(link::SectionKind::Text);
        {
            SpinLockGuard guard(m_directory_lock);
            (void)m_directory.commit(cell.name(), cells::CodeRange{text.address, text.size});
        }
        if (&cell != root)
            result.also_loaded.append(String(cell.name()));
    }
    result.cell = summary_of(*root, false);
    result.cell.task_count = task_count(result.cell.id);  // tasks its init started and left running
    return result;
}

CellSummary CellManager::summary_of(const link::LoadedCell& cell, bool with_sections)
{
    cells::CellRecord record;  // the numbers only: no allocation under the spin lock
    bool known = false;
    {
        SpinLockGuard guard(m_directory_lock);
        if (const cells::CellRecord* found = m_directory.find(cell.name())) {
            record.id = found->id;
            record.generation = found->generation;
            record.state = found->state;
            known = true;
        }
    }
    return cells::summarize_cell(cell, known ? &record : nullptr, with_sections);
}

// --- unwind tables ---

void CellManager::sync_frame_tables()
{
    const auto& committed = m_namespace->cells();
    const auto& retiring = m_namespace->retiring_cells();  // swapped out; tasks may still run there
    const auto& in_progress = m_namespace->cells_in_progress();
    auto present = [&](const link::LoadedCell* cell) {
        for (const OwnPtr<link::LoadedCell>& loaded : committed) {
            if (loaded.get() == cell)
                return true;
        }
        for (const OwnPtr<link::LoadedCell>& old : retiring) {
            if (old.get() == cell)
                return true;
        }
        for (const link::LoadedCell* loading : in_progress) {
            if (loading == cell)
                return true;
        }
        return false;
    };
    // Gone cells first: a new cell may sit where a gone one was.
    m_frame_tables.remove_all_matching([&](const CellFrameTable& entry) {
        if (present(entry.cell))
            return false;
        if (entry.table)
            unwinding::unregister_frame_table(entry.table);
        return true;
    });
    auto add = [&](const link::LoadedCell& cell) {
        for (const CellFrameTable& entry : m_frame_tables) {
            if (entry.cell == &cell)
                return;
        }
        unwinding::FrameTableHandle table = nullptr;
        if (link::LoadedSection* eh_frame = cell.find_section(".eh_frame")) {
            link::Region text = cell.region(link::SectionKind::Text);
            link::Region read_only = cell.region(link::SectionKind::ReadOnly);
            auto registered = unwinding::register_frame_table(
                cell.name(), ByteView(reinterpret_cast<const void*>(eh_frame->address), eh_frame->size), eh_frame->address,
                {text.address, text.address + text.size, read_only.address, read_only.address + read_only.size});
            // A cell whose tables do not parse still runs; a fault in it is then not contained.
            if (registered.is_error())
                kprint("delos: cell {}: .eh_frame refused ({}): its faults cannot be contained\n", cell.name(),
                       registered.error().message);
            else
                table = registered.value();
        }
        m_frame_tables.append({&cell, table});
    };
    for (const OwnPtr<link::LoadedCell>& cell : committed)
        add(*cell);
    for (const OwnPtr<link::LoadedCell>& cell : retiring)
        add(*cell);
    for (const link::LoadedCell* cell : in_progress)
        add(*cell);
}

// --- setup ---

ErrorOr<void> CellManager::initialize(ByteView boot_archive)
{
    m_namespace = make_own<link::Namespace>(m_memory, m_invoker);
    m_namespace->set_task_inspector(m_inspector);
    m_namespace->set_clock([] { return tsc::nanoseconds_since_boot(); });
    runtime::set_atexit_handler(register_cell_exit_function);
    kernel_symbols::set_external_symbolizer(symbolize_cell_address);
    kernel_symbols::set_external_symbolizer_quiescent(cell_records_quiescent);
    task::set_cell_resolver(resolve_task_cell);
    if (boot_archive.empty())
        return {};
    auto library = link::CellLibrary::from_archive(boot_archive);
    if (library.is_error())
        return library.release_error().with_context("the boot archive");
    m_library = make_own<link::CellLibrary>(library.release_value());
    return export_kernel_symbols_for_library();
}

ErrorOr<void> CellManager::export_kernel_symbols_for(ByteView bytes)
{
    auto object = TRY(link::RelocatableObject::parse(bytes));
    for (const link::ObjectSymbol& symbol : object.symbols()) {
        if (symbol.is_defined() || !symbol.is_global_or_weak() || symbol.name.empty())
            continue;
        if (m_namespace->find_symbol(symbol.name))
            continue;
        kernel_symbols::Symbol kernel_symbol;
        if (kernel_symbols::find(symbol.name, kernel_symbol))
            TRY(m_namespace->add_kernel_symbol(symbol.name, kernel_symbol.address));
    }
    return {};
}

ErrorOr<void> CellManager::export_kernel_symbols_for_library()
{
    for (const link::LibraryCell& cell : m_library->cells())
        TRY(export_kernel_symbols_for(cell.object));
    return {};
}

// --- loading and unloading ---

ErrorOr<std::size_t> CellManager::load_boot_set()
{
    TRY(lock());
    Locked locked(m_lock);
    if (!m_library)
        return std::size_t(0);
    std::size_t before = m_namespace->cells().size();
    for (const link::LibraryCell& cell : m_library->cells()) {
        if (m_namespace->find_cell(cell.name))
            continue;
        std::size_t cells_before = m_namespace->cells().size();
        auto loaded = m_namespace->load_cell(cell.name, *m_library);
        sync_frame_tables();
        if (loaded.is_error()) {
            SpinLockGuard guard(m_directory_lock);
            m_directory.abandon_loading();
            return loaded.release_error();
        }
        (void)adopt_loaded(loaded.value(), cells_before);
    }
    return m_namespace->cells().size() - before;
}

ErrorOr<LoadResult> CellManager::load(StringView name)
{
    TRY(lock());
    Locked locked(m_lock);
    if (!m_library)
        return Error::make(ErrorCode::NotFound, "no boot archive to load cells from");
    std::size_t before = m_namespace->cells().size();
    auto loaded = m_namespace->load_cell(name, *m_library);
    sync_frame_tables();
    if (loaded.is_error()) {
        SpinLockGuard guard(m_directory_lock);
        m_directory.abandon_loading();
        return loaded.release_error();
    }
    return adopt_loaded(loaded.value(), before);
}

ErrorOr<LoadResult> CellManager::load_object(ByteView object)
{
    TRY(lock());
    Locked locked(m_lock);
    TRY(export_kernel_symbols_for(object));
    std::size_t before = m_namespace->cells().size();
    auto loaded = m_namespace->load_object(object, library());
    sync_frame_tables();
    if (loaded.is_error()) {
        SpinLockGuard guard(m_directory_lock);
        m_directory.abandon_loading();
        return loaded.release_error();
    }
    return adopt_loaded(loaded.value(), before);
}

ErrorOr<void> CellManager::unload(StringView name)
{
    if (m_hooks.before && is_loaded(name))
        m_hooks.before(name, CellChange::Unload);
    TRY(lock());
    Locked locked(m_lock);
    if (!m_namespace->find_cell(name))
        return Error::make(ErrorCode::NotFound, "no loaded cell with that name").with_detail(format("no loaded cell is called {}", name));
    CellId id = cells::kKernelCell;
    {
        SpinLockGuard guard(m_directory_lock);
        if (const cells::CellRecord* record = m_directory.find(name))
            id = record->id;
    }
    if (id != cells::kKernelCell) {
        // Its code would be freed under a running task: refused until they end.
        if (std::uint32_t tasks = task_count(id); tasks > 0)
            return Error::make(ErrorCode::Busy, "tasks still run in the cell", tasks)
                .with_detail(format("cell {} still runs {} task(s); they must end before it is unloaded", name, tasks));
    }
    {
        SpinLockGuard guard(m_directory_lock);
        (void)m_directory.begin_unload(name);
    }
    auto unloaded = m_namespace->unload_cell(name);
    sync_frame_tables();
    SpinLockGuard guard(m_directory_lock);
    if (unloaded.is_error()) {
        m_directory.cancel_unload(name);
        return unloaded;
    }
    m_directory.finish_unload(name);
    return {};
}

// --- queries ---

std::size_t CellManager::cell_count()
{
    if (lock().is_error())
        return m_namespace->cells().size();  // from an entry: the namespace holds still meanwhile
    Locked locked(m_lock);
    return m_namespace->cells().size();
}

bool CellManager::is_loaded(StringView name)
{
    if (lock().is_error())
        return m_namespace->find_cell(name) != nullptr;
    Locked locked(m_lock);
    return m_namespace->find_cell(name) != nullptr;
}

Vector<CellSummary> CellManager::cells()
{
    TaskCounts counts;
    count_tasks_by_cell(counts);
    Vector<CellSummary> result;
    bool locked_here = !lock().is_error();
    for (const OwnPtr<link::LoadedCell>& cell : m_namespace->cells()) {
        CellSummary summary = summary_of(*cell, false);
        summary.task_count = counts.of(summary.id);
        result.append(static_cast<CellSummary&&>(summary));
    }
    if (locked_here)
        unlock();
    return result;
}

ErrorOr<CellSummary> CellManager::cell(StringView name, bool with_sections)
{
    bool locked_here = !lock().is_error();
    ErrorOr<CellSummary> result = Error::make(ErrorCode::NotFound, "no loaded cell with that name").with_detail(format("no loaded cell is called {}", name));
    if (const link::LoadedCell* found = m_namespace->find_cell(name)) {
        CellSummary summary = summary_of(*found, with_sections);
        summary.task_count = task_count(summary.id);
        result = static_cast<CellSummary&&>(summary);
    }
    if (locked_here)
        unlock();
    return result;
}

ErrorOr<cells::CodeRange> CellManager::code_range(StringView name)
{
    bool locked_here = !lock().is_error();
    ErrorOr<cells::CodeRange> result = Error::make(ErrorCode::NotFound, "no loaded cell with that name").with_detail(format("no loaded cell is called {}", name));
    if (const link::LoadedCell* found = m_namespace->find_cell(name)) {
        link::Region text = found->region(link::SectionKind::Text);
        if (text.empty())
            result = Error::make(ErrorCode::NotFound, "the cell has no code").with_detail(format("cell {} has no code", name));
        else
            result = cells::CodeRange{text.address, text.size};
    }
    if (locked_here)
        unlock();
    return result;
}

ErrorOr<std::uint64_t> CellManager::symbol_address(StringView symbol)
{
    bool locked_here = !lock().is_error();
    const link::SymbolDefinition* definition = m_namespace->find_symbol(symbol);
    std::uint64_t address = definition ? definition->address : 0;
    String quarantined;
    if (definition && definition->section && definition->section->cell->quarantined())
        quarantined = String(definition->section->cell->name());
    if (locked_here)
        unlock();
    if (!quarantined.empty())
        return Error::make(ErrorCode::PermissionDenied, "the cell exporting it is quarantined")
            .with_detail(format("{} is exported by cell {}, which is quarantined after repeated faults (reload it to lift that)", symbol, quarantined));
    if (!definition)
        return Error::make(ErrorCode::NotFound, "no cell or kernel export by that name").with_detail(format("nothing exports {}", symbol));
    return address;
}

// The swap itself runs alone (stop_machine::run_alone: every other CPU parked, interrupts off
// here) with the cells' entries called on this task's stack: between handing state over and
// re-pointing, no call may reach the old version, and no CPU may run a half-rewritten
// relocation (docs/live-evolution.md, "Running alone").
template <typename Operation>
ErrorOr<link::SwapReport> CellManager::run_swap(Operation operation, CellChange change)
{
    for (int attempt = 1;; ++attempt) {
        TRY(lock());
        ErrorOr<link::SwapReport> swapped = Error::make(ErrorCode::Internal, "swap did not run");
        {
            Locked locked(m_lock);
            m_direct_entries = true;
            auto alone = [&] {
                swapped = operation();
                // The new versions' tables (the retiring ones keep theirs), code ranges and
                // recovery's bookkeeping before any other task can run their code: a task the new
                // init started, or a caller through a re-pointed relocation, may fault in it as
                // soon as the others are released, and that fault must find the new version known.
                sync_frame_tables();
                if (!swapped.is_error())
                    commit_swap(swapped.value(), change);
            };
            if (auto ran = stop_machine::run_alone(alone); ran.is_error())
                swapped = ran.release_error();
            m_direct_entries = false;
        }
        bool task_inside = swapped.is_error() && swapped.error().code == ErrorCode::Busy
            && swapped.error().explanation().starts_with("a task is still inside");
        if (!task_inside || attempt >= kSwapAttempts || !task::scheduler::started())
            return swapped;
        task::scheduler::sleep_for(1'000'000);  // let the task leave the cell
    }
}

void CellManager::commit_swap(const link::SwapReport& report, CellChange change)
{
    {
        // The new versions' code ranges and generations, for the tasks' cell resolver.
        SpinLockGuard guard(m_directory_lock);
        for (const OwnPtr<link::LoadedCell>& cell : m_namespace->cells()) {
            link::Region text = cell->region(link::SectionKind::Text);
            const cells::CellRecord* record = m_directory.find(cell->name());
            if (!record || record->code.address != text.address) {
                // Calls opened on the old copy own what the new one allocates (call_ownership.h).
                if (record)
                    (void)memory::follow_moved_cell_code(record->code.address, record->code.size, text.address, text.size);
                (void)m_directory.commit(cell->name(), cells::CodeRange{text.address, text.size});
            }
        }
    }
    if (!m_hooks.committed)
        return;
    for (const link::SwappedCell& cell : report.cells)
        m_hooks.committed(cell.name.view(), change, cell.new_generation,
                          m_namespace->has_previous_generation(cell.name.view()));
}

ErrorOr<link::SwapReport> CellManager::swap(const Vector<link::SwapPair>& pairs)
{
    if (m_hooks.before) {
        for (const link::SwapPair& pair : pairs)
            m_hooks.before(pair.old_cell, CellChange::Swap);
    }
    {
        TRY(lock());
        Locked locked(m_lock);
        for (const link::SwapPair& pair : pairs)
            TRY(export_kernel_symbols_for(pair.new_object));
    }
    return run_swap([&] { return m_namespace->swap_cells(pairs, library()); }, CellChange::Swap);
}

ErrorOr<link::SwapReport> CellManager::rollback(StringView name)
{
    if (m_hooks.before)
        m_hooks.before(name, CellChange::Rollback);
    return run_swap([&] { return m_namespace->rollback_cell(name, library()); }, CellChange::Rollback);
}

ErrorOr<link::SwapReport> CellManager::reload(StringView name)
{
    if (m_hooks.before)
        m_hooks.before(name, CellChange::Reload);
    return run_swap([&]() -> ErrorOr<link::SwapReport> {
        const link::LoadedCell* cell = m_namespace->find_cell(name);
        if (!cell)
            return Error::make(ErrorCode::NotFound, "no loaded cell with that name").with_detail(format("no loaded cell is called {}", name));
        const link::CellObject& object = cell->object();
        if (object.bytes.empty())
            return Error::make(ErrorCode::NotFound, "the cell's object was not kept").with_detail(format("cell {}: no pristine object to reload from", name));
        // A library member stays a view; a pushed object's kept copy is copied again by the swap
        // (the old copy goes with the retiring cell).
        return m_namespace->swap_cells(
            Vector<link::SwapPair>{link::SwapPair{name, object.bytes, object.owned.empty(), true, object.build_id.view()}}, library());
    }, CellChange::Reload);
}

ErrorOr<std::uint32_t> CellManager::quarantine(StringView name)
{
    if (m_hooks.before)
        m_hooks.before(name, CellChange::Quarantine);
    ErrorOr<std::uint32_t> rewritten = Error::make(ErrorCode::Internal, "quarantine did not run");
    {
        TRY(lock());
        Locked locked(m_lock);
        // Like a swap's re-point: no other task runs cell code while references are rewritten.
        auto alone = [&] {
            rewritten = m_namespace->quarantine_cell(name, reinterpret_cast<std::uint64_t>(&delos_quarantined_cell_called));
            if (!rewritten.is_error() && m_hooks.committed)
                m_hooks.committed(name, CellChange::Quarantine, 0, false);
        };
        if (auto ran = stop_machine::run_alone(alone); ran.is_error())
            return ran.release_error();
    }
    return rewritten;
}

bool CellManager::is_quarantined(StringView name)
{
    bool locked_here = !lock().is_error();
    const link::LoadedCell* cell = m_namespace->find_cell(name);
    bool quarantined = cell && cell->quarantined();
    if (locked_here)
        unlock();
    return quarantined;
}

const char* cell_change_name(CellChange change)
{
    switch (change) {
    case CellChange::Swap: return "swap";
    case CellChange::Rollback: return "rollback";
    case CellChange::Reload: return "reload";
    case CellChange::Unload: return "unload";
    case CellChange::Quarantine: return "quarantine";
    }
    return "unknown";
}

std::size_t CellManager::collect_retired()
{
    if (lock().is_error())
        return 0;
    Locked locked(m_lock);
    Vector<link::LoadedCell*> releasable;
    // The task inspector reads other tasks' stacks: none may move while it decides. The
    // destructors run after the window (in tasks of their own, which the window forbids).
    auto alone = [&] { releasable = m_namespace->releasable_retired(); };
    if (stop_machine::run_alone(alone).is_error())
        return 0;
    std::size_t collected = m_namespace->release_retired(releasable);
    sync_frame_tables();  // the collected cells' tables go with them
    return collected;
}

Vector<CellSummary> CellManager::retiring_cells()
{
    Vector<CellSummary> retiring;
    if (lock().is_error())
        return retiring;
    Locked locked(m_lock);
    for (const OwnPtr<link::LoadedCell>& cell : m_namespace->retiring_cells()) {
        CellSummary summary = cells::summarize_cell(*cell, nullptr, false);
        summary.state = cells::CellState::Unloading;
        summary.generation = cell->generation();
        retiring.append(static_cast<CellSummary&&>(summary));
    }
    return retiring;
}

void CellManager::describe(FormatSink& sink)
{
    bool locked_here = !lock().is_error();
    link::describe_cells(*m_namespace, sink);
    for (const OwnPtr<link::LoadedCell>& cell : m_namespace->cells())
        link::describe_cell(*cell, sink);
    for (const OwnPtr<link::LoadedCell>& cell : m_namespace->retiring_cells())
        format_to(sink, "retiring: {} {} (generation {})\n", cell->name(), cell->version(), cell->generation());
    if (locked_here)
        unlock();
}

} // namespace delos::loader
