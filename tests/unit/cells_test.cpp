// cells_test.cpp: the real cells, loaded and run through the linker on the host: what they
// import from the kernel, the kv store and its client-held cursor, counter's counts surviving a
// restart of counter (kv holds them), and the log cell's line format and threshold.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "cells/kv/kv.h"
#include "cells/log/log.h"
#include "linker/export_rule.h"
#include "linker/relocatable_object.h"
#include "linker_test_host.h"

using namespace delos;
using namespace delos::link;
using namespace delos::host;

namespace {

// What loaded sections of `cell` refer to but the cell does not define.
std::set<std::string> imports_of(const std::string& cell)
{
    Bytes bytes = cell_bytes(cell);
    auto object = RelocatableObject::parse(view(bytes));
    EXPECT_FALSE(object.is_error());
    std::set<std::string> names;
    if (object.is_error())
        return names;
    for (const RelocationSection& relocations : object->relocation_sections()) {
        if (!object->section(relocations.target).is_allocated())
            continue;
        for (std::size_t i = 0; i < relocations.count(); ++i) {
            const ObjectSymbol& symbol = object->symbols()[relocations.at(i).symbol];
            if (symbol.place == SymbolPlace::Undefined && !symbol.name.empty())
                names.insert(str(symbol.name));
        }
    }
    return names;
}

std::set<std::string> exports_of(const std::string& cell)
{
    Bytes bytes = cell_bytes(cell);
    auto object = RelocatableObject::parse(view(bytes));
    std::set<std::string> names;
    for (const ObjectSymbol& symbol : object->symbols()) {
        if (is_exported_symbol(object.value(), symbol))
            names.insert(str(symbol.name));
    }
    return names;
}

class CellsTest : public LinkerTest {
protected:
    template <typename Function>
    Function function(const char* name)
    {
        return reinterpret_cast<Function>(symbol(name));
    }
};

// The symbols of guest/abi/cell_kernel_interface.txt: the first word of each line that is not
// blank or a comment.
std::set<std::string> read_kernel_interface()
{
    std::ifstream in(DELOS_SOURCE_DIR "/guest/abi/cell_kernel_interface.txt");
    std::set<std::string> names;
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream words(line);
        std::string name;
        if (words >> name && name[0] != '#')
            names.insert(name);
    }
    return names;
}

} // namespace

TEST(Cells, WhatTheBootCellsImportFromTheKernel)
{
    std::set<std::string> exported;
    for (const char* cell : {"log", "kv", "counter"}) {
        auto names = exports_of(cell);
        exported.insert(names.begin(), names.end());
    }
    std::set<std::string> from_kernel;
    for (const char* cell : {"log", "kv", "counter"}) {
        for (const std::string& name : imports_of(cell)) {
            if (!exported.count(name))
                from_kernel.insert(name);
        }
    }
    // The kernel's side of the cell ABI: guest/abi/cell_kernel_interface.txt (the SDK installs
    // it). Everything the boot cells import from the kernel must be in it.
    std::set<std::string> kernel_abi = read_kernel_interface();
    ASSERT_GE(kernel_abi.size(), 10u);
    HostKernel kernel;
    for (const std::string& name : from_kernel) {
        EXPECT_TRUE(kernel_abi.count(name)) << "cells import " << name << ", which is not in the kernel's cell ABI";
        EXPECT_TRUE(kernel.exports().count(name)) << name;
    }
    // The ones every cell that logs must have.
    for (const char* needed : {"_ZN5delos6serial5writeENS_10StringViewE",
                               "_ZN5delos7vformatERNS_10FormatSinkENS_10StringViewEPKNS_14FormatArgumentEm",
                               "_ZnwmSt11align_val_t", "_ZdlPvSt11align_val_t", "__gxx_personality_v0"})
        EXPECT_TRUE(from_kernel.count(needed)) << needed;
    std::string listed;
    for (const std::string& name : from_kernel)
        listed += " " + name;
    ::testing::Test::RecordProperty("kernel_imports", listed);

    EXPECT_EQ(imports_of("counter").count("_ZN5delos2kv3addENS_10StringViewEl"), 1u);
    EXPECT_EQ(imports_of("kv").count("_ZN5delos3log5writeENS0_5LevelENS_10StringViewES2_"), 1u);
    EXPECT_EQ(imports_of("log").count("_ZN5delos2kv3addENS_10StringViewEl"), 0u);
}

TEST_F(CellsTest, KvStoresSortedEntriesAndRefusesBadKeys)
{
    ASSERT_NE(load("kv"), nullptr);
    auto put = function<ErrorOr<void> (*)(StringView, StringView)>("_ZN5delos2kv3putENS_10StringViewES1_");
    auto get = function<ErrorOr<String> (*)(StringView)>("_ZN5delos2kv3getENS_10StringViewE");
    auto erase = function<bool (*)(StringView)>("_ZN5delos2kv5eraseENS_10StringViewE");
    auto size = function<std::size_t (*)()>("_ZN5delos2kv4sizeEv");
    auto add = function<ErrorOr<std::int64_t> (*)(StringView, std::int64_t)>("_ZN5delos2kv3addENS_10StringViewEl");

    EXPECT_EQ(size(), 0u);
    ASSERT_FALSE(put("b", "2").is_error());
    ASSERT_FALSE(put("a", "1").is_error());
    ASSERT_FALSE(put("c", "3").is_error());
    ASSERT_FALSE(put("b", "two").is_error());
    EXPECT_EQ(size(), 3u);
    auto b = get("b");
    ASSERT_FALSE(b.is_error());
    EXPECT_EQ(str(b->view()), "two");
    EXPECT_EQ(get("zz").error().code, ErrorCode::NotFound);
    EXPECT_TRUE(erase("a"));
    EXPECT_FALSE(erase("a"));
    EXPECT_EQ(size(), 2u);

    EXPECT_EQ(put("", "x").error().code, ErrorCode::InvalidArgument);
    std::string long_key(kv::kMaxKeySize + 1, 'k');
    EXPECT_EQ(put(StringView(long_key.data(), long_key.size()), "x").error().value, kv::kMaxKeySize + 1);
    std::string long_value(kv::kMaxValueSize + 1, 'v');
    EXPECT_EQ(put("k", StringView(long_value.data(), long_value.size())).error().code, ErrorCode::InvalidArgument);

    EXPECT_EQ(add("n", 5).value(), 5);
    EXPECT_EQ(add("n", -7).value(), -2);
    EXPECT_EQ(add("c", 1).value(), 4);  // "3" is a number, "two" is not
    ASSERT_FALSE(put("c", "two").is_error());
    EXPECT_EQ(add("c", 1).error().code, ErrorCode::InvalidArgument);
}

// A server writing for a client goes through the client's grant: a key the server got wrong (a
// corrupted format string in the fault campaign) is refused and nothing is stored or erased.
TEST_F(CellsTest, KvWritesOutsideTheCallersGrantAreRefusedAndChangeNothing)
{
    ASSERT_NE(load("kv"), nullptr);
    auto put = function<ErrorOr<void> (*)(StringView, StringView)>("_ZN5delos2kv3putENS_10StringViewES1_");
    auto get = function<ErrorOr<String> (*)(StringView)>("_ZN5delos2kv3getENS_10StringViewE");
    auto size = function<std::size_t (*)()>("_ZN5delos2kv4sizeEv");
    auto granted_put = function<ErrorOr<void> (*)(const kv::WriteGrant&, StringView, StringView)>(
        "_ZN5delos2kv3putERKNS0_10WriteGrantENS_10StringViewES4_");
    auto granted_erase = function<ErrorOr<void> (*)(const kv::WriteGrant&, StringView)>("_ZN5delos2kv5eraseERKNS0_10WriteGrantENS_10StringViewE");

    kv::WriteGrant grant{"fc/1/2"};
    ASSERT_FALSE(granted_put(grant, "fc/1/2", "7:99").is_error());
    ASSERT_FALSE(put("fc/3/0", "other client's").is_error());
    EXPECT_EQ(granted_put(grant, "fc/1/3", "x").error().code, ErrorCode::PermissionDenied);
    EXPECT_EQ(granted_put(grant, "fc/1/2x", "x").error().code, ErrorCode::PermissionDenied);
    EXPECT_EQ(granted_put(grant, "fc/3/0", "x").error().code, ErrorCode::PermissionDenied);
    EXPECT_EQ(granted_erase(grant, "fc/3/0").error().code, ErrorCode::PermissionDenied);
    EXPECT_EQ(size(), 2u);
    EXPECT_EQ(str(get("fc/3/0")->view()), "other client's");
    EXPECT_EQ(str(get("fc/1/2")->view()), "7:99");
    ASSERT_FALSE(granted_erase(grant, "fc/1/2").is_error());
    EXPECT_EQ(get("fc/1/2").error().code, ErrorCode::NotFound);
    EXPECT_FALSE(granted_erase(grant, "fc/1/2").is_error()) << "erasing an absent granted key is not an error";
}

TEST_F(CellsTest, KvIterationStateLivesInTheClientsCursor)
{
    ASSERT_NE(load("kv"), nullptr);
    auto put = function<ErrorOr<void> (*)(StringView, StringView)>("_ZN5delos2kv3putENS_10StringViewES1_");
    auto erase = function<bool (*)(StringView)>("_ZN5delos2kv5eraseENS_10StringViewE");
    auto next = function<bool (*)(kv::Cursor&, String&, String&)>("_ZN5delos2kv4nextERNS0_6CursorERNS_6StringES4_");
    for (const char* key : {"d", "b", "f"})
        ASSERT_FALSE(put(key, key).is_error());

    // Two clients walk independently; the store knows nothing about either.
    kv::Cursor first, second;
    String key, value;
    ASSERT_TRUE(next(first, key, value));
    EXPECT_EQ(str(key.view()), "b");
    ASSERT_TRUE(next(second, key, value));
    EXPECT_EQ(str(key.view()), "b");
    ASSERT_TRUE(next(first, key, value));
    EXPECT_EQ(str(key.view()), "d");

    // Changes behind a cursor never make it repeat or skip what is still there.
    ASSERT_FALSE(put("a", "a").is_error());  // before both cursors: not seen
    ASSERT_FALSE(put("e", "e").is_error());  // ahead of both: seen
    EXPECT_TRUE(erase("d"));                 // the first cursor's position itself
    std::vector<std::string> rest;
    while (next(first, key, value))
        rest.push_back(str(key.view()));
    EXPECT_EQ(rest, (std::vector<std::string>{"e", "f"}));
    rest.clear();
    while (next(second, key, value))
        rest.push_back(str(key.view()));
    EXPECT_EQ(rest, (std::vector<std::string>{"e", "f"}));
}

TEST_F(CellsTest, CountsLiveInKvSoCounterCanBeReplacedWithoutLosingThem)
{
    ASSERT_NE(load("counter"), nullptr);
    auto count = function<ErrorOr<std::int64_t> (*)(StringView)>("_ZN5delos7counter5countENS_10StringViewE");
    EXPECT_EQ(count("request").value(), 1);
    EXPECT_EQ(count("request").value(), 2);

    ASSERT_FALSE(linker_namespace.unload_cell("counter").is_error());
    HostKernel::serial_output.clear();
    ASSERT_NE(load("counter"), nullptr);  // a fresh counter: its init counts boot and start again
    EXPECT_EQ(HostKernel::serial_output,
              "[info ] counter: boot #2\n[info ] counter: start #2\n[info ] counter: 3 events in the store\n");
    auto value = function<ErrorOr<std::int64_t> (*)(StringView)>("_ZN5delos7counter5valueENS_10StringViewE");
    EXPECT_EQ(value("request").value(), 2);
    EXPECT_EQ(value("never").value(), 0);
}

TEST_F(CellsTest, LogPrefixesTheCallingCellAndHonoursItsThreshold)
{
    ASSERT_NE(load("counter"), nullptr);
    auto set_threshold = function<void (*)(log::Level)>("_ZN5delos3log13set_thresholdENS0_5LevelE");
    auto lines_written = function<std::uint64_t (*)()>("_ZN5delos3log13lines_writtenEv");
    auto write = function<void (*)(log::Level, StringView, StringView)>("_ZN5delos3log5writeENS0_5LevelENS_10StringViewES2_");
    auto report = function<std::uint64_t (*)()>("_ZN5delos7counter6reportEv");
    std::uint64_t lines = lines_written();
    EXPECT_EQ(lines, 5u);  // log's, kv's and counter's three start-up lines

    HostKernel::serial_output.clear();
    EXPECT_EQ(report(), 2u);
    EXPECT_EQ(HostKernel::serial_output, "") << "debug lines are below the default threshold";
    set_threshold(log::Level::Debug);
    EXPECT_EQ(report(), 2u);
    EXPECT_EQ(HostKernel::serial_output, "[debug] counter: boot = 1\n[debug] counter: start = 1\n");

    HostKernel::serial_output.clear();
    set_threshold(log::Level::Error);
    write(log::Level::Warning, "shell", "dropped");
    write(log::Level::Error, "shell", "disk on fire");
    EXPECT_EQ(HostKernel::serial_output, "[error] shell: disk on fire\n");
    EXPECT_EQ(lines_written(), lines + 3);
}
