// guest_stack_walk_test.cpp: delos-vmm's crash backtrace over a synthetic guest RAM image (page
// tables, frame chains, hostile pointers) and its symbol table over a synthetic ELF.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "guest_stack_walk.h"
#include "lib/elf/elf64.h"
#include "symbol_table.h"

namespace delos::vmm {
namespace {

constexpr std::uint64_t kRamBytes = 4 << 20;
constexpr std::uint64_t kPml4 = 0x1000, kPdpt = 0x2000, kPd = 0x3000, kPt = 0x4000;
constexpr std::uint64_t kPresentWritable = 0x3, kLargePage = 0x80;
constexpr std::uint64_t kGuardPage = 0x205000;   // not present
constexpr std::uint64_t kMovedPage = 0x206000;   // virtual, backed by physical kMovedFrame
constexpr std::uint64_t kMovedFrame = 0x300000;

// 4 MiB of RAM: virtual [0, 2 MiB) is one identity 2 MiB page; [2 MiB, 4 MiB) goes through a page
// table that maps 4 KiB pages identically except a guard page and one page moved elsewhere.
class GuestImage {
public:
    GuestImage() : ram(kRamBytes, 0)
    {
        put(kPml4, kPdpt | kPresentWritable);
        put(kPdpt, kPd | kPresentWritable);
        put(kPd + 0 * 8, 0x0 | kPresentWritable | kLargePage);
        put(kPd + 1 * 8, kPt | kPresentWritable);
        for (std::uint64_t page = 0; page < 512; ++page) {
            std::uint64_t virtual_address = 0x200000 + page * 0x1000;
            std::uint64_t frame = virtual_address == kMovedPage ? kMovedFrame : virtual_address;
            if (virtual_address != kGuardPage)
                put(kPt + page * 8, frame | kPresentWritable);
        }
    }
    void put(std::uint64_t physical, std::uint64_t value) { std::memcpy(ram.data() + physical, &value, 8); }
    // A frame at a virtual address (identity-mapped part only, or the moved page).
    void frame(std::uint64_t virtual_address, std::uint64_t saved_rbp, std::uint64_t return_address)
    {
        std::uint64_t physical = virtual_address;
        if ((virtual_address & ~0xfffull) == kMovedPage)
            physical = kMovedFrame + (virtual_address & 0xfff);
        put(physical, saved_rbp);
        put(physical + 8, return_address);
    }
    GuestAddressSpace space(bool paging = true) const { return GuestAddressSpace(ram, {paging, kPml4, false}); }

    std::vector<std::uint8_t> ram;
};

TEST(GuestAddressSpace, TranslatesThroughLargeAndSmallPages)
{
    GuestImage image;
    auto space = image.space();
    EXPECT_EQ(space.translate(0x1234), 0x1234u);
    EXPECT_EQ(space.translate(0x1ffff8), 0x1ffff8u);
    EXPECT_EQ(space.translate(0x204ff8), 0x204ff8u);
    EXPECT_EQ(space.translate(kMovedPage + 0x10), kMovedFrame + 0x10);
    EXPECT_EQ(space.translate(kGuardPage + 8), std::nullopt);
    EXPECT_EQ(space.translate(0x400000), std::nullopt);              // PD entry 2: not present
    EXPECT_EQ(space.translate(0x0000800000000000ull), std::nullopt);  // not canonical
    EXPECT_EQ(space.translate(0xffff800000000000ull), std::nullopt);  // canonical, PML4 entry 256 absent
    EXPECT_EQ(image.space(false).translate(0x12345678), 0x12345678u) << "paging off: identity";
}

TEST(GuestAddressSpace, EntriesPointingOutsideRamReadNothing)
{
    GuestImage image;
    image.put(kPd + 2 * 8, 0x7fe00000 | kPresentWritable | kLargePage);  // a 2 MiB page far above RAM
    image.put(kPd + 3 * 8, 0xfff000000 | kPresentWritable);             // a page table far above RAM
    image.put(kPd + 4 * 8, (kRamBytes - 0x1000) | kPresentWritable);    // a page table in the last page
    image.put(kRamBytes - 0x1000, kRamBytes | kPresentWritable);        // mapping a frame past RAM's end
    auto space = image.space();
    EXPECT_EQ(space.read_u64(0x400000), std::nullopt);
    EXPECT_EQ(space.read_u64(0x600000), std::nullopt);
    EXPECT_EQ(space.read_u64(0x800000), std::nullopt);
    EXPECT_EQ(space.read_u64(0x1003), std::nullopt) << "misaligned";
    GuestAddressSpace root_outside(image.ram, {true, 0xfffff000, false});
    EXPECT_EQ(root_outside.read_u64(0x1000), std::nullopt);
    EXPECT_EQ(image.space(false).read_u64(kRamBytes - 4), std::nullopt) << "straddles the end of RAM";
    EXPECT_EQ(image.space(false).read_u64(kRamBytes - 8), 0u);
}

TEST(FramePointerWalk, FollowsTheChainAcrossPages)
{
    GuestImage image;
    image.frame(0x201f00, 0x202010, 0x100010);
    image.frame(0x202010, kMovedPage + 0x40, 0x100020);
    image.frame(kMovedPage + 0x40, 0x207000, 0x100030);  // the moved page: translation is used
    image.frame(0x207000, 0, 0x100040);                   // outermost: caller's rbp is 0
    EXPECT_EQ(walk_frame_pointers(image.space(), 0x201f00),
              (std::vector<std::uint64_t>{0x100010, 0x100020, 0x100030, 0x100040}));
}

TEST(FramePointerWalk, StopsAtNullReturnAddressesAndUnreadableFrames)
{
    GuestImage image;
    image.frame(0x201000, 0x201100, 0x100010);
    image.frame(0x201100, 0x201200, 0);  // the task trampoline's zero words
    EXPECT_EQ(walk_frame_pointers(image.space(), 0x201000), (std::vector<std::uint64_t>{0x100010}));

    image.frame(0x202000, kGuardPage + 0x100, 0x100010);  // the next frame is in the guard page
    EXPECT_EQ(walk_frame_pointers(image.space(), 0x202000), (std::vector<std::uint64_t>{0x100010}));
    image.frame(0x203000, 0x203013, 0x100010);  // misaligned next frame
    EXPECT_EQ(walk_frame_pointers(image.space(), 0x203000), (std::vector<std::uint64_t>{0x100010}));
    image.frame(0x204000, kRamBytes + 0x1000, 0x100010);  // outside RAM (and the mapping)
    EXPECT_EQ(walk_frame_pointers(image.space(), 0x204000), (std::vector<std::uint64_t>{0x100010}));

    for (std::uint64_t start : std::vector<std::uint64_t>{0, 0x201001, kGuardPage, 0xfffffffffffffff8, 0x7ffffffffffffff8})
        EXPECT_TRUE(walk_frame_pointers(image.space(), start).empty()) << std::hex << start;
    EXPECT_TRUE(walk_frame_pointers(image.space(false), 0xfffffffffffffff0ull).empty());
}

TEST(FramePointerWalk, LoopsEndTheWalk)
{
    GuestImage image;
    image.frame(0x201000, 0x201000, 0x100010);  // points at itself
    EXPECT_EQ(walk_frame_pointers(image.space(), 0x201000).size(), 1u);
    image.frame(0x202000, 0x202100, 0x100010);  // two frames pointing at each other
    image.frame(0x202100, 0x202000, 0x100020);
    EXPECT_EQ(walk_frame_pointers(image.space(), 0x202000), (std::vector<std::uint64_t>{0x100010, 0x100020}));
}

TEST(FramePointerWalk, StopsAtTheDepthLimit)
{
    GuestImage image;
    for (std::uint64_t i = 0; i < 200; ++i)
        image.frame(0x210000 + i * 16, 0x210000 + (i + 1) * 16, 0x100000 + i);
    auto frames = walk_frame_pointers(image.space(), 0x210000);
    ASSERT_EQ(frames.size(), kMaxGuestBacktraceDepth);
    EXPECT_EQ(frames.back(), 0x100000 + kMaxGuestBacktraceDepth - 1);
    EXPECT_EQ(walk_frame_pointers(image.space(), 0x210000, 5).size(), 5u);
}

// A minimal ELF with .symtab, .strtab and .shstrtab.
std::vector<std::uint8_t> elf_with_symbols(const std::vector<elf::Elf64_Sym>& symbols, const std::string& strings)
{
    const std::string section_names = std::string("\0.symtab\0.strtab\0.shstrtab\0", 27);
    std::vector<std::uint8_t> file(sizeof(elf::Elf64_Ehdr));
    auto append = [&](const void* data, std::size_t size) {
        std::uint64_t offset = file.size();
        auto* bytes = static_cast<const std::uint8_t*>(data);
        file.insert(file.end(), bytes, bytes + size);
        while (file.size() % 8)
            file.push_back(0);
        return offset;
    };
    std::uint64_t symtab = append(symbols.data(), symbols.size() * sizeof(elf::Elf64_Sym));
    std::uint64_t strtab = append(strings.data(), strings.size());
    std::uint64_t shstrtab = append(section_names.data(), section_names.size());
    elf::Elf64_Shdr sections[4]{};
    sections[1] = {1, elf::SHT_SYMTAB, 0, 0, symtab, symbols.size() * sizeof(elf::Elf64_Sym), 2, 1, 8, sizeof(elf::Elf64_Sym)};
    sections[2] = {9, elf::SHT_STRTAB, 0, 0, strtab, strings.size(), 0, 0, 1, 0};
    sections[3] = {17, elf::SHT_STRTAB, 0, 0, shstrtab, section_names.size(), 0, 0, 1, 0};
    std::uint64_t section_table = append(sections, sizeof sections);
    elf::Elf64_Ehdr header{};
    std::memcpy(header.e_ident, "\x7f" "ELF", 4);
    header.e_ident[elf::EI_CLASS] = elf::ELFCLASS64;
    header.e_ident[elf::EI_DATA] = elf::ELFDATA2LSB;
    header.e_ident[elf::EI_VERSION] = elf::EV_CURRENT;
    header.e_type = elf::ET_EXEC;
    header.e_machine = elf::EM_X86_64;
    header.e_ehsize = sizeof header;
    header.e_shoff = section_table;
    header.e_shentsize = sizeof(elf::Elf64_Shdr);
    header.e_shnum = 4;
    header.e_shstrndx = 3;
    std::memcpy(file.data(), &header, sizeof header);
    return file;
}

elf::Elf64_Sym symbol(std::uint32_t name, std::uint8_t type, std::uint64_t address, std::uint64_t size)
{
    return {name, static_cast<std::uint8_t>((elf::STB_GLOBAL << 4) | type), 0, 1, address, size};
}

// Names at: 1 "_ZN5delos4mainEv", 18 "helper", 25 "empty", 31 "section", 39 out of range below.
const std::string kStrings = std::string("\0_ZN5delos4mainEv\0helper\0empty\0section\0", 39);

SymbolTable test_symbols()
{
    return SymbolTable::from_elf(elf_with_symbols(
        {elf::Elf64_Sym{}, symbol(1, elf::STT_FUNC, 0x100000, 0x40), symbol(18, elf::STT_FUNC, 0x100040, 0x20),
         symbol(25, elf::STT_FUNC, 0x100080, 0), symbol(31, elf::STT_SECTION, 0x100000, 0x1000),
         symbol(5000, elf::STT_FUNC, 0x100100, 0x10)},
        kStrings));
}

TEST(SymbolTable, NamesAddressesInsideSizedFunctionsDemangled)
{
    SymbolTable symbols = test_symbols();
    EXPECT_EQ(symbols.size(), 2u) << "zero-sized, section and badly named symbols are skipped";
    auto main = symbols.lookup(0x100010);
    ASSERT_TRUE(main.has_value());
    EXPECT_EQ(main->name, "delos::main()");
    EXPECT_EQ(main->offset, 0x10u);
    auto helper = symbols.lookup(0x10005f);
    ASSERT_TRUE(helper.has_value());
    EXPECT_EQ(helper->name, "helper");
    EXPECT_EQ(helper->offset, 0x1fu);
    EXPECT_FALSE(symbols.lookup(0x100060).has_value()) << "past helper's end";
    EXPECT_FALSE(symbols.lookup(0xfffff).has_value());
    EXPECT_FALSE(symbols.lookup(0x100105).has_value());
}

TEST(SymbolTable, MalformedFilesGiveAnEmptyTable)
{
    EXPECT_EQ(SymbolTable::from_elf({}).size(), 0u);
    std::vector<std::uint8_t> garbage(4096, 0x5a);
    EXPECT_EQ(SymbolTable::from_elf(garbage).size(), 0u);
    auto file = elf_with_symbols({symbol(1, elf::STT_FUNC, 0x100000, 0x40)}, kStrings);
    // Each prefix of the file: parsed or refused, never read out of bounds (ASan/UBSan builds).
    for (std::size_t length = 0; length < file.size(); length += 7)
        SymbolTable::from_elf({file.data(), length});
}

TEST(SymbolTable, ReadsTheBuiltKernel)
{
    std::ifstream in(std::string(DELOS_BUILD_DIR) + "/guest/delos.elf", std::ios::binary);
    std::vector<std::uint8_t> kernel{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    SymbolTable symbols = SymbolTable::from_elf(kernel);
    EXPECT_GT(symbols.size(), 100u);
    auto address = symbols.address_of("delos::diagnostics::crash_with_page_fault");
    ASSERT_TRUE(address.has_value());
    auto match = symbols.lookup(*address + 1);
    ASSERT_TRUE(match.has_value());
    EXPECT_EQ(match->name, "delos::diagnostics::crash_with_page_fault()");
    EXPECT_EQ(match->offset, 1u);
}

TEST(GuestBacktraceReport, NamesRipAndEachReturnAddress)
{
    GuestImage image;
    image.frame(0x201000, 0x201100, 0x100046);  // returns into helper, after a call at helper+0x5
    image.frame(0x201100, 0, 0x500000);         // outside every symbol
    std::string report = describe_guest_backtrace(image.space(), test_symbols(), 0x100010, 0x201000);
    EXPECT_EQ(report,
              "  backtrace (read from guest memory):\n"
              "    #0 0x0000000000100010 delos::main()+0x10 (kernel)\n"
              "    #1 0x0000000000100046 helper+0x6 (kernel)\n"
              "    #2 0x0000000000500000 ?\n");
}

TEST(GuestBacktraceReport, AReturnAddressJustPastAFunctionNamesThatFunction)
{
    GuestImage image;
    image.frame(0x201000, 0, 0x100040);  // a call as main()'s last instruction returns to helper's start
    std::string report = describe_guest_backtrace(image.space(), test_symbols(), 0x100010, 0x201000);
    EXPECT_NE(report.find("#1 0x0000000000100040 delos::main()+0x40 (kernel)"), std::string::npos) << report;
}

TEST(GuestBacktraceReport, SaysWhenTheDepthLimitCutItShort)
{
    GuestImage image;
    for (std::uint64_t i = 0; i < 100; ++i)
        image.frame(0x210000 + i * 16, 0x210000 + (i + 1) * 16, 0x100010);
    std::string report = describe_guest_backtrace(image.space(), test_symbols(), 0x100010, 0x210000);
    EXPECT_NE(report.find("stopped at 64 frames"), std::string::npos) << report;
}

} // namespace
} // namespace delos::vmm
