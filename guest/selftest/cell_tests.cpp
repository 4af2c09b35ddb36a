// cell_tests.cpp: in-guest tests of the cell loader: the boot set is linked, the kernel calls into
// it through the namespace, loading a cell pulls in its dependencies, unloading a used cell is
// refused, and a bad object is refused without leaking memory. Prints the cell introspection.
#include "log/kernel_log.h"
#include "platform/serial.h"
#include "lib/core/format.h"
#include "lib/core/string.h"
#include "linker/kernel/cell_manager.h"
#include "memory/frame_allocator.h"
#include "memory/heap.h"
#include "selftest/selftest.h"

namespace delos::selftest {

namespace {

using loader::cell_manager;

constexpr const char* kKvPut = "_ZN5delos2kv3putENS_10StringViewES1_";
constexpr const char* kKvGet = "_ZN5delos2kv3getENS_10StringViewE";
constexpr const char* kCounterCount = "_ZN5delos7counter5countENS_10StringViewE";

template <typename Function>
Function* resolve(const char* name)
{
    auto address = cell_manager().symbol_address(name);
    return address.is_error() ? nullptr : reinterpret_cast<Function*>(address.value());
}

bool loaded(StringView name) { return cell_manager().is_loaded(name); }

bool has(const Vector<String>& names, StringView name)
{
    for (const String& candidate : names) {
        if (candidate == name)
            return true;
    }
    return false;
}

ErrorOr<void> require_boot_archive()
{
    if (!cell_manager().library())
        return Error::make(ErrorCode::NotFound, "no boot archive: boot with --module build/cells/cells.a");
    return {};
}

ErrorOr<void> boot_set_is_linked()
{
    TRY(require_boot_archive());
    SELFTEST_CHECK(loaded("log") && loaded("kv") && loaded("counter"));
    auto counter = SELFTEST_TRY(cell_manager().cell("counter"));
    SELFTEST_CHECK(has(counter.dependencies, "kv") && has(counter.dependencies, "log"));
    auto kv = SELFTEST_TRY(cell_manager().cell("kv"));
    SELFTEST_CHECK(has(kv.dependents, "counter"));
    SELFTEST_CHECK(counter.id != kv.id && counter.generation >= 1 && counter.state == loader::CellState::Live);
    StringSink sink;
    cell_manager().describe(sink);
    serial::write(sink.string());  // longer than one kprint line
    return {};
}

ErrorOr<void> kernel_calls_into_cells()
{
    TRY(require_boot_archive());
    auto* put = resolve<ErrorOr<void>(StringView, StringView)>(kKvPut);
    auto* get = resolve<ErrorOr<String>(StringView)>(kKvGet);
    auto* count = resolve<ErrorOr<std::int64_t>(StringView)>(kCounterCount);
    SELFTEST_CHECK(put && get && count);
    SELFTEST_TRY(put("selftest.key", "value from the kernel"));
    String value = SELFTEST_TRY(get("selftest.key"));
    SELFTEST_CHECK(value == StringView("value from the kernel"));
    std::int64_t first = SELFTEST_TRY(count("selftest.event"));
    std::int64_t second = SELFTEST_TRY(count("selftest.event"));
    SELFTEST_CHECK(second == first + 1);
    return {};
}

ErrorOr<void> unloading_a_used_cell_is_refused()
{
    TRY(require_boot_archive());
    auto refused = cell_manager().unload("kv");
    SELFTEST_CHECK(refused.is_error() && refused.error().code == ErrorCode::Busy);
    SELFTEST_CHECK(loaded("kv"));
    return {};
}

ErrorOr<void> loading_a_cell_pulls_in_its_dependencies()
{
    TRY(require_boot_archive());
    std::uint64_t section_bytes = cell_manager().section_bytes_in_use();
    SELFTEST_TRY(cell_manager().unload("counter"));
    SELFTEST_TRY(cell_manager().unload("kv"));
    SELFTEST_TRY(cell_manager().unload("log"));
    SELFTEST_CHECK(!loaded("counter") && !loaded("kv") && !loaded("log"));
    SELFTEST_CHECK(cell_manager().section_bytes_in_use() < section_bytes);
    SELFTEST_TRY(cell_manager().load("counter"));
    SELFTEST_CHECK(loaded("counter") && loaded("kv") && loaded("log"));
    SELFTEST_CHECK(cell_manager().section_bytes_in_use() == section_bytes);
    return {};
}

ErrorOr<void> bad_objects_are_refused_without_leaks()
{
    std::size_t frames_before = memory::frame_allocator().free_frames();
    std::uint64_t sections_before = cell_manager().section_bytes_in_use();
    std::size_t cells_before = cell_manager().cell_count();

    std::uint8_t garbage[256];
    for (std::size_t i = 0; i < sizeof garbage; ++i)
        garbage[i] = static_cast<std::uint8_t>(i * 37 + 11);
    SELFTEST_CHECK(cell_manager().load_object(ByteView(garbage, sizeof garbage)).is_error());

    if (const link::CellLibrary* library = cell_manager().library()) {
        const link::LibraryCell* kv = library->find_cell("kv");
        SELFTEST_CHECK(kv != nullptr);
        auto truncated = cell_manager().load_object(ByteView(kv->object.data(), kv->object.size() / 2));
        SELFTEST_CHECK(truncated.is_error());
        // The same object again, while kv is loaded: a duplicate cell (or export) is refused.
        auto duplicate = cell_manager().load_object(kv->object);
        SELFTEST_CHECK(duplicate.is_error());
    }
    SELFTEST_CHECK(cell_manager().cell_count() == cells_before);
    SELFTEST_CHECK(cell_manager().section_bytes_in_use() == sections_before);
    SELFTEST_CHECK(memory::frame_allocator().free_frames() == frames_before);
    return {};
}

} // namespace

extern const TestCase kCellTests[] = {
    {"cells", "boot_set_is_linked", boot_set_is_linked},
    {"cells", "kernel_calls_into_cells", kernel_calls_into_cells},
    {"cells", "unloading_a_used_cell_is_refused", unloading_a_used_cell_is_refused},
    {"cells", "loading_a_cell_pulls_in_its_dependencies", loading_a_cell_pulls_in_its_dependencies},
    {"cells", "bad_objects_are_refused_without_leaks", bad_objects_are_refused_without_leaks},
};
extern const std::size_t kCellTestCount = sizeof kCellTests / sizeof kCellTests[0];

} // namespace delos::selftest
