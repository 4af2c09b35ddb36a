// linker_failure_test.cpp: every way a load can fail is refused with a specific error and a
// detail naming the culprit, and leaves nothing behind: no section memory, no cell, no symbol.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>

#include "lib/elf/elf64.h"
#include "linker/cell_info.h"
#include "linker/namespace.h"
#include "linker_test_host.h"

using namespace delos;
using namespace delos::link;
using namespace delos::host;

namespace {

// Records entries without running them: for inputs whose code must never execute.
class NoCallInvoker final : public EntryInvoker {
public:
    ErrorOr<void> call_init(StringView, CellInitFunction) override
    {
        ++calls;
        return {};
    }
    void call(StringView, EntryKind, void (*)()) override { ++calls; }
    int calls = 0;
};

std::string failure(const Namespace& linker_namespace) { return str(linker_namespace.last_failure()); }

class LinkerFailureTest : public LinkerTest {
protected:
    // Loads `object` (with the boot library for dependencies) and expects the given refusal.
    Error refuse(const Bytes& object, ErrorCode code)
    {
        auto loaded = linker_namespace.load_object(view(object), library);
        EXPECT_TRUE(loaded.is_error()) << "the object was accepted";
        if (!loaded.is_error())
            return {};
        EXPECT_EQ(loaded.error().code, code) << loaded.error().message << ": " << failure(linker_namespace);
        EXPECT_FALSE(linker_namespace.last_failure().empty());
        // The error itself carries the explanation (last_failure() is its deprecated echo).
        EXPECT_TRUE(loaded.error().has_detail());
        EXPECT_EQ(str(loaded.error().explanation()), failure(linker_namespace));
        return loaded.error();
    }
};

} // namespace

TEST_F(LinkerFailureTest, AnUndefinedSymbolIsNamedAndNothingStaysLoaded)
{
    HostSectionMemory own_memory;
    Namespace without_serial(own_memory, invoker);
    kernel.install(without_serial, {"_ZN5delos6serial5writeENS_10StringViewE"});
    auto loaded = without_serial.load_cell("counter", *library);
    ASSERT_TRUE(loaded.is_error());
    EXPECT_EQ(loaded.error().code, ErrorCode::NotFound);
    EXPECT_STREQ(loaded.error().message, "undefined symbol");
    EXPECT_EQ(failure(without_serial),
              "cell log needs _ZN5delos6serial5writeENS_10StringViewE, which neither the kernel, a loaded cell nor the "
              "cell library exports");
    EXPECT_EQ(without_serial.cells().size(), 0u);
    EXPECT_EQ(without_serial.symbol_count(), without_serial.kernel_symbol_count());
    EXPECT_EQ(own_memory.live_regions(), 0u);
    EXPECT_TRUE(invoker.calls.empty()) << "no cell code ran";
}

TEST_F(LinkerFailureTest, AnExportTheKernelAlreadyHasIsRefused)
{
    ASSERT_FALSE(linker_namespace.add_kernel_symbol("_ZN5delos2kv4sizeEv", 0x1000).is_error());
    std::size_t symbols = linker_namespace.symbol_count();
    auto loaded = linker_namespace.load_cell("counter", *library);
    ASSERT_TRUE(loaded.is_error());
    EXPECT_EQ(loaded.error().code, ErrorCode::AlreadyExists);
    EXPECT_EQ(failure(linker_namespace), "cell kv exports _ZN5delos2kv4sizeEv, which the kernel already exports");
    EXPECT_EQ(linker_namespace.cells().size(), 0u);
    EXPECT_EQ(linker_namespace.symbol_count(), symbols);
    EXPECT_EQ(memory.live_regions(), 0u);
    EXPECT_EQ(linker_namespace.add_kernel_symbol("_ZN5delos2kv4sizeEv", 0x2000).error().code, ErrorCode::AlreadyExists);
    EXPECT_EQ(linker_namespace.add_kernel_symbol("", 0x2000).error().code, ErrorCode::InvalidArgument);
}

TEST_F(LinkerFailureTest, AnExportAnotherCellAlreadyHasIsRefused)
{
    ASSERT_NE(load("kv"), nullptr);
    std::size_t symbols = linker_namespace.symbol_count();
    std::uint64_t live = memory.live_bytes;
    // The same code under another name: "kw" exports everything kv does.
    ElfEditor twin(cell_bytes("kv"));
    std::uint8_t* record = twin.contents(twin.find_section(".delos.cell"));
    ASSERT_EQ(std::memcmp(record + offsetof(CellInfo, name), "kv", 3), 0);
    record[offsetof(CellInfo, name) + 1] = 'w';
    refuse(twin.bytes(), ErrorCode::AlreadyExists);
    std::string why = failure(linker_namespace);
    EXPECT_EQ(why.rfind("cell kw exports _ZN5delos2kv", 0), 0u) << why;
    EXPECT_NE(why.find("which kv already exports"), std::string::npos) << why;
    EXPECT_EQ(linker_namespace.cells().size(), 2u);
    EXPECT_EQ(linker_namespace.symbol_count(), symbols);
    EXPECT_EQ(memory.live_bytes, live);
}

TEST_F(LinkerFailureTest, LoadingACellTwiceOrOneThatDoesNotExistIsRefused)
{
    ASSERT_NE(load("log"), nullptr);
    auto again = linker_namespace.load_cell("log", *library);
    ASSERT_TRUE(again.is_error());
    EXPECT_EQ(again.error().code, ErrorCode::AlreadyExists);
    EXPECT_EQ(failure(linker_namespace), "cell log is already loaded");
    auto missing = linker_namespace.load_cell("nonexistent", *library);
    ASSERT_TRUE(missing.is_error());
    EXPECT_EQ(missing.error().code, ErrorCode::NotFound);
    EXPECT_EQ(linker_namespace.cells().size(), 1u);
}

TEST_F(LinkerFailureTest, ARelocationThatOverflows32BitsIsNamed)
{
    // The unwind tables reach the personality routine with R_X86_64_32: put it above 4 GiB.
    HostSectionMemory own_memory;
    Namespace far_kernel(own_memory, invoker);
    kernel.install(far_kernel, {"__gxx_personality_v0"});
    ASSERT_FALSE(far_kernel.add_kernel_symbol("__gxx_personality_v0", 0x123456789ull).is_error());
    auto loaded = far_kernel.load_cell("log", *library);
    ASSERT_TRUE(loaded.is_error());
    EXPECT_EQ(loaded.error().code, ErrorCode::Overflow);
    EXPECT_EQ(loaded.error().value, 0x123456789ull);
    std::string why = failure(far_kernel);
    EXPECT_EQ(why.rfind("cell log, section .eh_frame + 0x", 0), 0u) << why;
    EXPECT_NE(why.find("R_X86_64_32 (10) against __gxx_personality_v0 at 0x123456789"), std::string::npos) << why;
    EXPECT_EQ(far_kernel.cells().size(), 0u);
    EXPECT_EQ(own_memory.live_regions(), 0u);
}

TEST_F(LinkerFailureTest, AnUnknownRelocationTypeIsRefusedWithItsNumber)
{
    ElfEditor kv(cell_bytes("kv"));
    std::size_t text = kv.find_section(".text._ZN5delos2kv3addENS_10StringViewEl");
    elf::Elf64_Rela& relocation = kv.relocation(kv.relocations_for(text), 0);
    relocation.r_info = (relocation.r_info & 0xffffffff00000000ull) | 0xff;
    Error error = refuse(kv.bytes(), ErrorCode::Unsupported);
    EXPECT_EQ(error.value, 0xffu);
    EXPECT_NE(failure(linker_namespace).find("relocation type 255 is not supported"), std::string::npos)
        << failure(linker_namespace);
    expect_nothing_loaded();
}

TEST_F(LinkerFailureTest, TruncatedObjectsAreRefusedAtEveryLength)
{
    Bytes kv = cell_bytes("kv");
    for (std::size_t length : {std::size_t(0), std::size_t(10), sizeof(elf::Elf64_Ehdr) - 1, sizeof(elf::Elf64_Ehdr),
                               std::size_t(4096), kv.size() / 2, kv.size() - 1}) {
        SCOPED_TRACE(length);
        Bytes truncated(kv.begin(), kv.begin() + static_cast<std::ptrdiff_t>(length));
        auto loaded = linker_namespace.load_object(view(truncated), library);
        ASSERT_TRUE(loaded.is_error());
        EXPECT_TRUE(loaded.error().code == ErrorCode::Malformed || loaded.error().code == ErrorCode::OutOfRange)
            << loaded.error().message;
        expect_nothing_loaded();
    }
}

TEST_F(LinkerFailureTest, WrongClassMachineOrTypeIsRefused)
{
    ElfEditor wrong_class(cell_bytes("kv"));
    wrong_class.bytes()[elf::EI_CLASS] = 1;
    EXPECT_EQ(refuse(wrong_class.bytes(), ErrorCode::Unsupported).value, 1u);
    EXPECT_NE(failure(linker_namespace).find("ELF class is not 64-bit"), std::string::npos);

    ElfEditor wrong_machine(cell_bytes("kv"));
    wrong_machine.header().e_machine = 183;  // AArch64
    EXPECT_EQ(refuse(wrong_machine.bytes(), ErrorCode::Unsupported).value, 183u);

    ElfEditor executable(cell_bytes("kv"));
    executable.header().e_type = elf::ET_EXEC;
    EXPECT_STREQ(refuse(executable.bytes(), ErrorCode::Unsupported).message, "not a relocatable object (e_type is not ET_REL)");
    expect_nothing_loaded();
}

TEST_F(LinkerFailureTest, BadSectionAndSymbolIndexesAreRefused)
{
    ElfEditor symbol_section(cell_bytes("kv"));
    symbol_section.symbol(symbol_section.find_symbol("_ZN5delos2kv4sizeEv")).st_shndx = 0xfe00;
    EXPECT_EQ(refuse(symbol_section.bytes(), ErrorCode::OutOfRange).value, 0xfe00u);

    ElfEditor relocation_symbol(cell_bytes("kv"));
    std::size_t text = relocation_symbol.find_section(".text._ZN5delos2kv3addENS_10StringViewEl");
    elf::Elf64_Rela& relocation = relocation_symbol.relocation(relocation_symbol.relocations_for(text), 0);
    relocation.r_info = (std::uint64_t(0x7fffffff) << 32) | (relocation.r_info & 0xffffffff);
    Error bad_symbol = refuse(relocation_symbol.bytes(), ErrorCode::OutOfRange);
    EXPECT_STREQ(bad_symbol.message, "relocation's symbol index is out of range");
    EXPECT_EQ(bad_symbol.value, 0x7fffffffu);

    ElfEditor relocation_offset(cell_bytes("kv"));
    std::size_t rela = relocation_offset.relocations_for(text);
    relocation_offset.relocation(rela, 0).r_offset = relocation_offset.section(text).sh_size - 2;
    EXPECT_STREQ(refuse(relocation_offset.bytes(), ErrorCode::OutOfRange).message, "relocation offset lies outside its target section");

    ElfEditor relocation_target(cell_bytes("kv"));
    relocation_target.section(relocation_target.relocations_for(text)).sh_info = 60000;
    EXPECT_EQ(refuse(relocation_target.bytes(), ErrorCode::OutOfRange).value, 60000u);

    ElfEditor string_table(cell_bytes("kv"));
    string_table.section(string_table.find_section_of_type(elf::SHT_SYMTAB)).sh_link = 1;
    EXPECT_STREQ(refuse(string_table.bytes(), ErrorCode::Malformed).message, "symbol table's sh_link is not a string table");

    ElfEditor section_table(cell_bytes("kv"));
    section_table.header().e_shoff = section_table.bytes().size() - 10;
    refuse(section_table.bytes(), ErrorCode::OutOfRange);

    ElfEditor section_name(cell_bytes("kv"));
    section_name.section(3).sh_name = 0x7fffffff;
    EXPECT_EQ(refuse(section_name.bytes(), ErrorCode::OutOfRange).value, 3u);
    expect_nothing_loaded();
}

TEST_F(LinkerFailureTest, ARelocationIntoASectionThatIsNotLoadedIsRefused)
{
    ElfEditor kv(cell_bytes("kv"));
    std::size_t debug_section_symbol = 0;
    for (std::size_t i = 1; i < kv.symbol_count() && !debug_section_symbol; ++i) {
        const elf::Elf64_Sym& symbol = kv.symbol(i);
        if (symbol.type() == elf::STT_SECTION && symbol.st_shndx != 0 && symbol.st_shndx < kv.section_count()
            && !(kv.section(symbol.st_shndx).sh_flags & elf::SHF_ALLOC))
            debug_section_symbol = i;
    }
    ASSERT_NE(debug_section_symbol, 0u);
    std::size_t text = kv.find_section(".text._ZN5delos2kv3addENS_10StringViewEl");
    elf::Elf64_Rela& relocation = kv.relocation(kv.relocations_for(text), 0);
    relocation.r_info = (std::uint64_t(debug_section_symbol) << 32) | (relocation.r_info & 0xffffffff);
    refuse(kv.bytes(), ErrorCode::Malformed);
    EXPECT_NE(failure(linker_namespace).find("which is not loaded"), std::string::npos) << failure(linker_namespace);
    expect_nothing_loaded();
}

TEST_F(LinkerFailureTest, AnEntryPointOutsideTheCellsCodeIsRefused)
{
    ElfEditor kv(cell_bytes("kv"));
    std::size_t record = kv.find_section(".delos.cell");
    std::size_t rela = kv.relocations_for(record);
    bool moved = false;
    for (std::size_t i = 0; i < kv.section(rela).sh_size / sizeof(elf::Elf64_Rela); ++i) {
        if (kv.relocation(rela, i).r_offset == offsetof(CellInfo, init)) {
            kv.relocation(rela, i).r_addend += 0x1000000;
            moved = true;
        }
    }
    ASSERT_TRUE(moved);
    Error error = refuse(kv.bytes(), ErrorCode::Malformed);
    EXPECT_STREQ(error.message, "cell entry point does not point into the cell's code");
    EXPECT_NE(failure(linker_namespace).find("cell kv: its init entry points at 0x"), std::string::npos);
    expect_nothing_loaded();
    EXPECT_TRUE(invoker.calls.empty()) << "log's init must not have run either";
}

TEST_F(LinkerFailureTest, AMissingOrDuplicatedCellRecordIsRefused)
{
    ElfEditor unnamed(cell_bytes("kv"));
    unnamed.bytes()[unnamed.section(unnamed.header().e_shstrndx).sh_offset + unnamed.section(unnamed.find_section(".delos.cell")).sh_name + 1] = 'x';
    Error missing = refuse(unnamed.bytes(), ErrorCode::NotFound);
    EXPECT_STREQ(missing.message, "object has no .delos.cell section (a cell declares itself with DELOS_CELL)");

    ElfEditor bad_magic(cell_bytes("kv"));
    bad_magic.contents(bad_magic.find_section(".delos.cell"))[0] ^= 0xff;
    EXPECT_STREQ(refuse(bad_magic.bytes(), ErrorCode::Malformed).message, "cell record has a bad magic number");

    ElfEditor bad_name(cell_bytes("kv"));
    bad_name.contents(bad_name.find_section(".delos.cell"))[offsetof(CellInfo, name)] = 'K';
    EXPECT_STREQ(refuse(bad_name.bytes(), ErrorCode::Malformed).message, "cell name must be [a-z][a-z0-9_]*");

    ElfEditor unterminated(cell_bytes("kv"));
    std::memset(unterminated.contents(unterminated.find_section(".delos.cell")) + offsetof(CellInfo, version), '1',
                kCellVersionCapacity);
    EXPECT_STREQ(refuse(unterminated.bytes(), ErrorCode::Malformed).message, "cell version is not NUL-terminated");

    ElfEditor abi(cell_bytes("kv"));
    abi.contents(abi.find_section(".delos.cell"))[offsetof(CellInfo, abi_version)] = 99;
    Error wrong_abi = refuse(abi.bytes(), ErrorCode::Unsupported);
    EXPECT_EQ(wrong_abi.value, 99u);
    EXPECT_NE(std::string(wrong_abi.message).find("speaks cell ABI version 1"), std::string::npos) << wrong_abi.message;

    ElfEditor doubled(cell_bytes("kv"));
    doubled.section(doubled.find_section(".delos.cell")).sh_size = 2 * sizeof(CellInfo);
    Error two = refuse(doubled.bytes(), ErrorCode::Malformed);
    EXPECT_STREQ(two.message, "cell has more than one DELOS_CELL record");
    EXPECT_EQ(two.value, 2u);
    expect_nothing_loaded();
}

TEST_F(LinkerFailureTest, RunningOutOfMemoryAtAnyAllocationLeavesNothing)
{
    // Loading counter takes 9 regions (3 cells x text/rodata/data); fail each one in turn.
    for (std::uint64_t failing = 1; failing <= 9; ++failing) {
        SCOPED_TRACE(failing);
        memory.allocations = 0;
        memory.fail_allocation_number = failing;
        auto loaded = linker_namespace.load_cell("counter", *library);
        ASSERT_TRUE(loaded.is_error());
        EXPECT_EQ(loaded.error().code, ErrorCode::OutOfMemory);
        EXPECT_NE(failure(linker_namespace).find(" bytes for its "), std::string::npos) << failure(linker_namespace);
        expect_nothing_loaded();
    }
    memory.fail_allocation_number = 0;
    EXPECT_NE(load("counter"), nullptr);
}

TEST_F(LinkerFailureTest, APermissionChangeThatFailsLeavesNothing)
{
    memory.fail_protect = true;
    auto loaded = linker_namespace.load_cell("counter", *library);
    ASSERT_TRUE(loaded.is_error());
    EXPECT_EQ(loaded.error().code, ErrorCode::PermissionDenied);
    EXPECT_NE(failure(linker_namespace).find("region r-x: test: protect refused"), std::string::npos) << failure(linker_namespace);
    expect_nothing_loaded();
    EXPECT_TRUE(invoker.calls.empty());
}

TEST_F(LinkerFailureTest, AFailingInitUndoesTheWholeLoad)
{
    CellLibrary& with_failing = library_of({"log", "init_fails"});
    auto loaded = linker_namespace.load_cell("init_fails", with_failing);
    ASSERT_TRUE(loaded.is_error());
    EXPECT_EQ(loaded.error().code, ErrorCode::Unsupported);
    EXPECT_EQ(loaded.error().value, 42u);
    EXPECT_STREQ(loaded.error().message, "cell init entry returned an error");
    // The cell's own message is copied out before its memory goes away.
    EXPECT_EQ(failure(linker_namespace), "cell init_fails: init failed: init_fails always refuses to start (unsupported: 42)");
    std::vector<std::string> expected = {"log:init", "init_fails:constructor", "init_fails:init", "init_fails:destructor"};
    EXPECT_EQ(invoker.calls, expected);
    EXPECT_EQ(HostKernel::serial_output,
              "[info ] log: ready\n[info ] init_fails: constructed\n[info ] init_fails: destroyed\n");
    expect_nothing_loaded();
}

TEST_F(LinkerFailureTest, ACorruptCellArchiveIsRefused)
{
    String detail;
    Bytes truncated(archive_bytes.begin(), archive_bytes.begin() + 1000);
    auto short_archive = CellLibrary::from_archive(view(truncated), &detail);
    ASSERT_TRUE(short_archive.is_error());
    EXPECT_EQ(short_archive.error().code, ErrorCode::OutOfRange);
    EXPECT_EQ(str(detail.view()).rfind("cell archive: member data runs past the end of the archive", 0), 0u) << str(detail.view());

    auto misnamed = CellLibrary::from_archive(view(make_archive({{"store.o", cell_bytes("kv")}})), &detail);
    ASSERT_TRUE(misnamed.is_error());
    EXPECT_EQ(str(detail.view()), "archive member \"store.o\" holds cell \"kv\" (expected \"kv.o\")");

    auto not_elf = CellLibrary::from_archive(view(make_archive({{"notes.txt", Bytes{'h', 'i'}}})), &detail);
    ASSERT_TRUE(not_elf.is_error());
    EXPECT_EQ(str(detail.view()).rfind("archive member \"notes.txt\": file is shorter than an ELF-64 header", 0), 0u)
        << str(detail.view());

    Bytes kv = cell_bytes("kv");
    auto twice = CellLibrary::from_archive(view(make_archive({{"kv.o", kv}, {"kv.o", kv}})), &detail);
    ASSERT_TRUE(twice.is_error());
    EXPECT_EQ(twice.error().code, ErrorCode::AlreadyExists);

    Bytes broken_member = make_archive({{"kv.o", Bytes(kv.begin(), kv.begin() + 3000)}});
    EXPECT_TRUE(CellLibrary::from_archive(view(broken_member)).is_error());
    expect_nothing_loaded();
}

TEST_F(LinkerFailureTest, RandomlyDamagedCellsNeverLeaveAnythingBehind)
{
    // A property check in the spirit of the fuzzer, on every boot cell: flip bytes, load, and
    // require that a refused load left no memory, cell or symbol behind. Nothing runs: the
    // damage may have hit code.
    HostSectionMemory own_memory;
    NoCallInvoker no_calls;
    Namespace sandbox(own_memory, no_calls);
    kernel.install(sandbox);
    std::mt19937 random(1234);
    int refused = 0;
    for (const char* cell : {"log", "kv", "counter"}) {
        Bytes original = cell_bytes(cell);
        for (int round = 0; round < 150; ++round) {
            Bytes damaged = original;
            int flips = 1 + static_cast<int>(random() % 4);
            for (int i = 0; i < flips; ++i) {
                // Mostly the headers and tables, where the loader's decisions live.
                std::size_t where = random() % 3 ? original.size() - 1 - random() % std::min<std::size_t>(original.size(), 8192)
                                                 : random() % original.size();
                damaged[where] = static_cast<std::uint8_t>(random());
            }
            std::size_t symbols = sandbox.symbol_count();
            auto loaded = sandbox.load_object(view(damaged), library);
            if (loaded.is_error()) {
                ++refused;
                EXPECT_EQ(sandbox.symbol_count(), symbols);
            } else {
                while (!sandbox.cells().empty()) {
                    Vector<StringView> all;
                    for (const OwnPtr<LoadedCell>& loaded_cell : sandbox.cells())
                        all.append(loaded_cell->name());
                    ASSERT_FALSE(sandbox.unload_cells(all).is_error()) << str(sandbox.last_failure());
                }
            }
            ASSERT_EQ(sandbox.cells().size(), 0u);
            ASSERT_EQ(own_memory.live_regions(), 0u);
            ASSERT_EQ(sandbox.symbol_count(), sandbox.kernel_symbol_count());
        }
    }
    EXPECT_GT(refused, 0);
}

TEST_F(LinkerFailureTest, AnAllocFlagOnASectionWithoutContentsIsNotTrusted)
{
    // Found by fuzz-loader: SHF_ALLOC on an SHT_NULL section once made the loader copy from
    // contents that do not exist. Such a section is simply not loaded.
    ElfEditor kv(cell_bytes("kv"));
    std::size_t comment = kv.find_section(".comment");
    ASSERT_GT(kv.section(comment).sh_size, 0u);
    kv.section(comment).sh_type = elf::SHT_NULL;
    kv.section(comment).sh_flags |= elf::SHF_ALLOC;
    auto loaded = linker_namespace.load_object(view(kv.bytes()), library);
    ASSERT_FALSE(loaded.is_error()) << failure(linker_namespace);
    EXPECT_EQ(loaded.value()->find_section(".comment"), nullptr);
}

TEST_F(LinkerFailureTest, ACellDefiningOneNameTwiceIsRefused)
{
    // Found by fuzz-loader: the duplicate check once looked the first definition up among the
    // cells already gathered, where this cell is not yet.
    ElfEditor kv(cell_bytes("kv"));
    std::size_t size = kv.find_symbol("_ZN5delos2kv4sizeEv");
    std::size_t erase = kv.find_symbol("_ZN5delos2kv5eraseENS_10StringViewE");
    kv.symbol(erase).st_name = kv.symbol(size).st_name;
    Error error = refuse(kv.bytes(), ErrorCode::Malformed);
    EXPECT_STREQ(error.message, "cell defines the same global symbol twice");
    EXPECT_EQ(failure(linker_namespace).rfind("cell kv defines _ZN5delos2kv4sizeEv twice", 0), 0u) << failure(linker_namespace);
    expect_nothing_loaded();
}
