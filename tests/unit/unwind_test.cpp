// unwind_test.cpp: the .eh_frame parser, CFI interpreter and LSDA reader (guest/lib/unwind)
// against what this build's compiler produced with the guest's flags: the kernel image
// (build/guest/delos.elf, every FDE and LSDA in it, including the selftest functions built to
// fault while owning objects) and every cell object, plus hand-made hostile inputs.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "lib/elf/elf64.h"
#include "lib/elf/elf_file.h"
#include "lib/unwind/cfi.h"
#include "lib/unwind/eh_frame.h"
#include "lib/unwind/lsda.h"

using namespace delos;
using namespace delos::unwind;

namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes read_file(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct Section {
    std::uint64_t address = 0;
    ByteView bytes;
};

// The kernel image, its unwind sections and its function symbols.
struct Kernel {
    Bytes file;
    Section eh_frame, except_table, text;
    std::map<std::string, std::uint64_t> symbols;

    bool load()
    {
        file = read_file(std::string(DELOS_BUILD_DIR) + "/guest/delos.elf");
        if (file.empty())
            return false;
        auto elf = elf::ElfFile::parse(ByteView(file.data(), file.size()));
        if (elf.is_error())
            return false;
        for (std::size_t i = 0; i < elf.value().section_count(); ++i) {
            auto header = elf.value().section(i).value();
            std::string name(elf.value().section_name(header).value().data(), elf.value().section_name(header).value().size());
            ByteView contents = elf.value().section_contents(header).value();
            if (name == ".eh_frame")
                eh_frame = {header.sh_addr, contents};
            else if (name == ".gcc_except_table")
                except_table = {header.sh_addr, contents};
            else if (name == ".text")
                text = {header.sh_addr, contents};
            else if (header.sh_type == elf::SHT_SYMTAB) {
                for (std::size_t offset = 0; offset + sizeof(elf::Elf64_Sym) <= contents.size(); offset += sizeof(elf::Elf64_Sym)) {
                    auto symbol = contents.read<elf::Elf64_Sym>(offset).value();
                    auto symbol_name = elf.value().string_at(header.sh_link, symbol.st_name);
                    if (!symbol_name.is_error() && symbol.st_value)
                        symbols[std::string(symbol_name.value().data(), symbol_name.value().size())] = symbol.st_value;
                }
            }
        }
        return !eh_frame.bytes.empty();
    }

    // Bytes of the image at a run-time address inside .text.
    const std::uint8_t* code_at(std::uint64_t address) const
    {
        if (address < text.address || address >= text.address + text.bytes.size())
            return nullptr;
        return text.bytes.data() + (address - text.address);
    }

    ByteView lsda_at(std::uint64_t address) const
    {
        if (address < except_table.address || address >= except_table.address + except_table.bytes.size())
            return {};
        std::uint64_t offset = address - except_table.address;
        return ByteView(except_table.bytes.data() + offset, except_table.bytes.size() - offset);
    }

    std::uint64_t symbol_containing(const std::string& fragment) const
    {
        for (const auto& [name, address] : symbols)
            if (name.find(fragment) != std::string::npos && name.find(".cold") == std::string::npos)
                return address;
        return 0;
    }
};

class KernelUnwindTables : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (!kernel.load())
            FAIL() << "build/guest/delos.elf is missing: build the `guest` target first";
        auto built = EhFrameIndex::build(kernel.eh_frame.bytes, kernel.eh_frame.address);
        ASSERT_FALSE(built.is_error()) << built.error().message;
        index = std::make_unique<EhFrameIndex>(built.release_value());
    }

    Kernel kernel;
    std::unique_ptr<EhFrameIndex> index;
};

// Memory for CFI steps: 8-byte words at chosen addresses.
struct FakeMemory {
    std::map<std::uint64_t, std::uint64_t> words;
    static bool read(void* context, std::uint64_t address, std::uint64_t& value)
    {
        auto& memory = *static_cast<FakeMemory*>(context);
        auto found = memory.words.find(address);
        if (found == memory.words.end())
            return false;
        value = found->second;
        return true;
    }
    MemoryAccess access() { return {read, this}; }
};

} // namespace

TEST_F(KernelUnwindTables, EveryFdeIsFoundAtItsFirstAndLastByte)
{
    EXPECT_GT(index->size(), 800u);  // the kernel has hundreds of functions with CFI
    for (const auto& entry : index->entries()) {
        for (std::uint64_t pc : {entry.pc_begin, entry.pc_end - 1}) {
            auto fde = index->find(pc);
            ASSERT_FALSE(fde.is_error()) << std::hex << pc;
            EXPECT_EQ(fde.value().offset, entry.offset);
        }
    }
    auto outside = index->find(index->highest_pc() + 16);
    ASSERT_TRUE(outside.is_error());
    EXPECT_EQ(outside.error().code, ErrorCode::NotFound);
}

// The split-stack check every guest function starts with (-fsplit-stack, docs/
// watchdog-and-stack-overflow.md): `[lea -N(%rsp),%r11;] cmp %fs:0x70,%rsp|%r11; jb`. Its length,
// or 0 if the code does not start with one.
std::size_t split_stack_check_length(const std::uint8_t* code, std::size_t available)
{
    static const std::uint8_t kCompareRsp[] = {0x64, 0x48, 0x3b, 0x24, 0x25, 0x70, 0x00, 0x00, 0x00};
    static const std::uint8_t kCompareR11[] = {0x64, 0x4c, 0x3b, 0x1c, 0x25, 0x70, 0x00, 0x00, 0x00};
    static const std::uint8_t kLeaR11Disp8[] = {0x4c, 0x8d, 0x5c, 0x24};
    static const std::uint8_t kLeaR11Disp32[] = {0x4c, 0x8d, 0x9c, 0x24};
    std::size_t at = 0;
    if (available >= 9 && std::memcmp(code, kCompareRsp, 9) == 0) {
        at = 9;
    } else {
        std::size_t lea = available >= 5 && std::memcmp(code, kLeaR11Disp8, 4) == 0    ? 5
                          : available >= 8 && std::memcmp(code, kLeaR11Disp32, 4) == 0 ? 8
                                                                                        : 0;
        if (lea == 0 || available < lea + 9 || std::memcmp(code + lea, kCompareR11, 9) != 0)
            return 0;
        at = lea + 9;
    }
    if (available >= at + 2 && code[at] == 0x72)
        return at + 2;  // jb rel8
    if (available >= at + 6 && code[at] == 0x0f && code[at + 1] == 0x82)
        return at + 6;  // jb rel32
    return 0;
}

// Every function whose code starts with push %rbp; mov %rsp,%rbp (after its split-stack check)
// has the textbook CFI, and one step through it from a made-up stack finds the caller.
TEST_F(KernelUnwindTables, PrologueRulesMatchTheCodeAndStepFindsTheCaller)
{
    static const std::uint8_t kPrologue[] = {0x55, 0x48, 0x89, 0xe5};
    std::size_t checked = 0, with_split_stack_check = 0;
    for (const auto& entry : index->entries()) {
        const std::uint8_t* code = kernel.code_at(entry.pc_begin);
        if (!code || entry.pc_end - entry.pc_begin < 8)
            continue;
        std::size_t skip = split_stack_check_length(code, entry.pc_end - entry.pc_begin - 4);
        if (std::memcmp(code + skip, kPrologue, 4) != 0)
            continue;
        with_split_stack_check += skip != 0;
        auto fde = index->find(entry.pc_begin).release_value();
        auto at_entry = compute_row(fde, entry.pc_begin).release_value();
        EXPECT_EQ(at_entry.cfa.register_number, kRsp);
        EXPECT_EQ(at_entry.cfa.offset, 8);
        EXPECT_EQ(at_entry.registers[kReturnAddress].kind, RuleKind::Offset);
        EXPECT_EQ(at_entry.registers[kReturnAddress].offset, -8);
        if (skip) {  // the check changes nothing: still the entry's rules right before the push
            auto before_push = compute_row(fde, entry.pc_begin + skip).release_value();
            EXPECT_EQ(before_push.cfa.register_number, kRsp);
            EXPECT_EQ(before_push.cfa.offset, 8);
        }
        auto after_push = compute_row(fde, entry.pc_begin + skip + 1).release_value();
        EXPECT_EQ(after_push.cfa.offset, 16);
        EXPECT_EQ(after_push.registers[kRbp].kind, RuleKind::Offset);
        EXPECT_EQ(after_push.registers[kRbp].offset, -16);
        auto body = compute_row(fde, entry.pc_begin + skip + 4).release_value();
        ASSERT_EQ(body.cfa.register_number, kRbp) << std::hex << entry.pc_begin;
        EXPECT_EQ(body.cfa.offset, 16);

        RegisterSet registers;
        registers.set(kReturnAddress, entry.pc_begin + skip + 4);
        registers.set(kRbp, 0x7000);
        registers.set(kRsp, 0x6f00);
        registers.set(kRbx, 0x1234);
        FakeMemory memory;
        memory.words[0x7000] = 0x7100;      // the caller's rbp
        memory.words[0x7008] = 0x401234;    // the return address
        auto stepped = step(body, fde.cie.return_address_register, registers, memory.access());
        ASSERT_FALSE(stepped.is_error()) << stepped.error().message;
        EXPECT_FALSE(stepped.value().end_of_stack);
        EXPECT_EQ(stepped.value().caller.ip(), 0x401234u);
        EXPECT_EQ(stepped.value().caller.sp(), 0x7010u);
        EXPECT_EQ(stepped.value().caller.values[kRbp], 0x7100u);
        ++checked;
    }
    EXPECT_GT(checked, 300u);
    EXPECT_GT(with_split_stack_check, checked / 2) << "the kernel is built with -fsplit-stack";
}

// The CFI holds at every instruction boundary... and at every byte: rows are computed for each
// address of every FDE without error.
TEST_F(KernelUnwindTables, RowsComputeAtEveryAddress)
{
    std::size_t rows = 0;
    for (const auto& entry : index->entries()) {
        auto fde = index->find(entry.pc_begin).release_value();
        for (std::uint64_t pc = entry.pc_begin; pc < entry.pc_end; ++pc) {
            auto row = compute_row(fde, pc);
            ASSERT_FALSE(row.is_error()) << std::hex << pc << ": " << row.error().message;
            ++rows;
        }
    }
    EXPECT_GT(rows, 100000u);
}

// The task trampoline's CFI ends the walk: its return address is undefined.
TEST_F(KernelUnwindTables, TaskTrampolineIsTheOutermostFrame)
{
    std::uint64_t trampoline = kernel.symbols.at("delos_task_entry_trampoline");
    auto fde = index->find(trampoline + 4).release_value();
    auto row = compute_row(fde, trampoline + 4).release_value();
    EXPECT_EQ(row.registers[kReturnAddress].kind, RuleKind::Undefined);
    RegisterSet registers;
    registers.set(kReturnAddress, trampoline + 4);
    registers.set(kRsp, 0x8000);
    FakeMemory memory;
    auto stepped = step(row, fde.cie.return_address_register, registers, memory.access());
    ASSERT_FALSE(stepped.is_error());
    EXPECT_TRUE(stepped.value().end_of_stack);
}

// Every LSDA in the kernel reads, its call sites lie inside its function, sorted, and every
// landing pad is inside the function too; the personality is __gxx_personality_v0.
TEST_F(KernelUnwindTables, EveryLsdaReadsAndStaysInsideItsFunction)
{
    std::uint64_t personality = kernel.symbols.at("__gxx_personality_v0");
    std::size_t lsdas = 0, call_sites = 0, landing_pads = 0;
    for (const auto& entry : index->entries()) {
        auto fde = index->find(entry.pc_begin).release_value();
        if (!fde.lsda)
            continue;
        EXPECT_EQ(fde.cie.personality, personality);
        ByteView lsda = kernel.lsda_at(fde.lsda);
        ASSERT_FALSE(lsda.empty()) << std::hex << fde.lsda;
        ++lsdas;
        std::uint64_t previous_end = fde.pc_begin;
        auto walked = for_each_call_site(lsda, fde.lsda, fde.pc_begin, [&](const CallSiteEntry& site) {
            ++call_sites;
            EXPECT_GE(site.start, previous_end);
            EXPECT_LE(site.end, fde.pc_end);
            previous_end = site.end;
            if (site.landing_pad) {
                ++landing_pads;
                EXPECT_TRUE(fde.contains(site.landing_pad)) << std::hex << site.landing_pad;
            }
            // Looking an address of the entry up finds the entry.
            if (site.start == site.end)
                return;
            auto found = find_call_site(lsda, fde.lsda, fde.pc_begin, site.start);
            EXPECT_FALSE(found.is_error());
            if (!found.is_error())
                EXPECT_EQ(found.value().kind, site.landing_pad ? CallSiteKind::LandingPad : CallSiteKind::NoLandingPad);
        });
        ASSERT_FALSE(walked.is_error()) << walked.error().message;
    }
    EXPECT_GT(lsdas, 100u);
    EXPECT_GT(call_sites, lsdas);
    EXPECT_GT(landing_pads, 100u);
}

// The selftest's faulting function (guest/selftest/fault_tests.cpp): the trapping store of its
// null write and its divide are covered by a landing pad (-fnon-call-exceptions), so the
// destructors of the faulting frame itself run.
TEST_F(KernelUnwindTables, TrappingInstructionsInTheFaultTestAreCoveredByLandingPads)
{
    std::uint64_t function = kernel.symbol_containing("hold_and_fault");
    ASSERT_NE(function, 0u);
    auto fde = index->find(function).release_value();
    ASSERT_NE(fde.lsda, 0u);
    ByteView lsda = kernel.lsda_at(fde.lsda);
    // The trapping instructions, found by the disassembler on instruction boundaries (a byte scan
    // also matched bytes inside other instructions, e.g. a call's displacement, as layout moved).
    char command[512];
    std::snprintf(command, sizeof command,
                  "objdump -d --no-show-raw-insn --start-address=0x%llx --stop-address=0x%llx '%s/guest/delos.elf'",
                  static_cast<unsigned long long>(fde.pc_begin), static_cast<unsigned long long>(fde.pc_end), DELOS_BUILD_DIR);
    FILE* disassembly = ::popen(command, "r");
    ASSERT_NE(disassembly, nullptr) << "objdump (binutils, installed with the compiler) is needed";
    std::vector<std::uint64_t> trapping_pcs;
    char line[512];
    while (std::fgets(line, sizeof line, disassembly)) {
        std::string text(line);
        bool null_store = text.find("movq   $0x1,(%rax)") != std::string::npos;
        bool divide = text.find("\tidiv ") != std::string::npos;
        if (null_store || divide)
            trapping_pcs.push_back(std::strtoull(text.c_str(), nullptr, 16));
    }
    ASSERT_EQ(::pclose(disassembly), 0) << command;
    std::size_t trapping = 0;
    for (std::uint64_t pc : trapping_pcs) {
        auto site = find_call_site(lsda, fde.lsda, fde.pc_begin, pc);
        ASSERT_FALSE(site.is_error());
        EXPECT_EQ(site.value().kind, CallSiteKind::LandingPad) << std::hex << pc;
        EXPECT_TRUE(site.value().has_cleanup);
        ++trapping;
    }
    EXPECT_GE(trapping, 2u);
}

// Cells are ET_REL objects: their .eh_frame and LSDAs are not relocated yet, but their structure
// is: every cell's FDEs parse and their rows compute at every byte, every LSDA reads.
TEST(CellUnwindTables, EveryCellObjectsTablesParse)
{
    std::size_t cells = 0, fdes = 0, lsdas = 0;
    for (const char* name : {"hello", "counter", "kv", "log", "bulk", "ctor_order", "cycle_ping", "cycle_pong"}) {
        Bytes object = read_file(std::string(DELOS_BUILD_DIR) + "/cells/" + name + ".o");
        ASSERT_FALSE(object.empty()) << name << ": build the `cells` target first";
        auto elf = elf::ElfFile::parse(ByteView(object.data(), object.size())).release_value();
        ++cells;
        for (std::size_t i = 0; i < elf.section_count(); ++i) {
            auto header = elf.section(i).value();
            StringView section_name = elf.section_name(header).value();
            ByteView contents = elf.section_contents(header).value();
            if (section_name == ".eh_frame") {
                auto built = EhFrameIndex::build(contents, 0);
                ASSERT_FALSE(built.is_error()) << name << ": " << built.error().message;
                for (const auto& entry : built.value().entries()) {
                    auto fde = built.value().find(entry.pc_begin).release_value();
                    for (std::uint64_t pc = entry.pc_begin; pc < entry.pc_end; ++pc)
                        ASSERT_FALSE(compute_row(fde, pc).is_error()) << name;
                    ++fdes;
                }
            } else if (section_name.starts_with(".gcc_except_table")) {
                auto walked = for_each_call_site(contents, 0, 0, [](const CallSiteEntry& site) {
                    EXPECT_LE(site.start, site.end);
                });
                ASSERT_FALSE(walked.is_error()) << name << ": " << walked.error().message;
                ++lsdas;
            }
        }
    }
    EXPECT_EQ(cells, 8u);
    EXPECT_GT(fdes, 20u);
    EXPECT_GT(lsdas, 3u);
}

// Hand-made hostile tables fail with an error, never hang or read out of bounds.
namespace {

Bytes cie_and_fde(const Bytes& cie_instructions, const Bytes& fde_instructions)
{
    Bytes out;
    auto put32 = [&](std::uint32_t v) { for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i))); };
    Bytes cie = {1, 'z', 'R', 0, 1, 0x78, 16, 1, 0x1b};  // version, "zR", caf 1, daf -8, ra 16, aug len 1, pcrel sdata4
    cie.insert(cie.end(), cie_instructions.begin(), cie_instructions.end());
    put32(static_cast<std::uint32_t>(cie.size() + 4));
    put32(0);
    out.insert(out.end(), cie.begin(), cie.end());
    std::size_t fde_start = out.size();
    Bytes fde_body;
    put32(static_cast<std::uint32_t>(4 + 4 + 4 + 1 + fde_instructions.size()));
    put32(static_cast<std::uint32_t>(fde_start + 4));  // back to the CIE at 0
    put32(0x100);                                       // pc_begin = here + 0x100
    put32(0x40);                                        // range
    out.push_back(0);                                   // no augmentation data
    out.insert(out.end(), fde_instructions.begin(), fde_instructions.end());
    return out;
}

} // namespace

TEST(HostileUnwindTables, MalformedInputsAreErrors)
{
    Bytes base_cie = {0x0c, 7, 8, 0x90, 1};  // def_cfa rsp+8; offset ra cfa-8
    auto good = cie_and_fde(base_cie, {});
    auto built = EhFrameIndex::build(ByteView(good.data(), good.size()), 0x1000);
    ASSERT_FALSE(built.is_error()) << built.error().message;
    ASSERT_EQ(built.value().size(), 1u);
    std::uint64_t pc = built.value().entries()[0].pc_begin;
    auto fde = built.value().find(pc).release_value();
    EXPECT_FALSE(compute_row(fde, pc).is_error());

    // Truncated anywhere: an error, never a crash.
    for (std::size_t length = 0; length < good.size(); ++length) {
        auto truncated = EhFrameIndex::build(ByteView(good.data(), length), 0x1000);
        if (!truncated.is_error()) {
            for (const auto& entry : truncated.value().entries())
                (void)truncated.value().find(entry.pc_begin);
        }
    }

    // remember_state deeper than the limit.
    Bytes deep(kRememberStateDepth + 1, 0x0a);
    auto deep_table = cie_and_fde(base_cie, deep);
    auto deep_index = EhFrameIndex::build(ByteView(deep_table.data(), deep_table.size()), 0).release_value();
    auto deep_fde = deep_index.find(deep_index.entries()[0].pc_begin).release_value();
    EXPECT_TRUE(compute_row(deep_fde, deep_fde.pc_begin).is_error());

    // restore_state with nothing remembered; an unknown opcode; CFA on the return address column.
    for (Bytes instructions : {Bytes{0x0b}, Bytes{0x3f}, Bytes{0x0d, 16}}) {
        auto table = cie_and_fde(base_cie, instructions);
        auto bad_index = EhFrameIndex::build(ByteView(table.data(), table.size()), 0).release_value();
        auto bad_fde = bad_index.find(bad_index.entries()[0].pc_begin).release_value();
        EXPECT_TRUE(compute_row(bad_fde, bad_fde.pc_begin).is_error());
    }

    // A CIE pointer pointing at itself (an FDE where the CIE should be).
    Bytes self = good;
    self[good.size() - 13 + 4] = 0;  // the FDE's CIE pointer now points at the FDE itself
    (void)EhFrameIndex::build(ByteView(self.data(), self.size()), 0);
}

TEST(HostileUnwindTables, ExpressionsAreBounded)
{
    RegisterSet registers;
    registers.set(kRsp, 0x1000);
    FakeMemory memory;
    // skip -3: an endless loop, stopped by the step limit.
    Bytes loop = {0x2f, 0xfd, 0xff};
    EXPECT_TRUE(evaluate_expression(ByteView(loop.data(), loop.size()), registers, memory.access(), false, 0).is_error());
    // dup forever: the stack limit.
    Bytes dups(kExpressionStackDepth + 2, 0x12);
    EXPECT_TRUE(evaluate_expression(ByteView(dups.data(), dups.size()), registers, memory.access(), true, 1).is_error());
    // breg7 +16; deref of unreadable memory; division by zero.
    Bytes breg = {0x77, 0x10};
    EXPECT_EQ(evaluate_expression(ByteView(breg.data(), breg.size()), registers, memory.access(), false, 0).value(), 0x1010u);
    Bytes deref = {0x77, 0x10, 0x06};
    EXPECT_TRUE(evaluate_expression(ByteView(deref.data(), deref.size()), registers, memory.access(), false, 0).is_error());
    memory.words[0x1010] = 77;
    EXPECT_EQ(evaluate_expression(ByteView(deref.data(), deref.size()), registers, memory.access(), false, 0).value(), 77u);
    Bytes divide = {0x31, 0x30, 0x1b};
    EXPECT_TRUE(evaluate_expression(ByteView(divide.data(), divide.size()), registers, memory.access(), false, 0).is_error());
}

TEST(HostileUnwindTables, LsdaActionCyclesAndOverrunsAreErrors)
{
    // lpstart omit, ttype omit, call sites uleb128, table length 4: [0, 0x10) -> pad 8, action 1.
    // Action table at offset 8: filter 1, next -2 (points back at itself: a cycle).
    Bytes cycle = {0xff, 0xff, 0x01, 4, 0, 0x10, 8, 1, 0x01, 0x7e};
    auto site = find_call_site(ByteView(cycle.data(), cycle.size()), 0, 0x1000, 0x1004);
    EXPECT_TRUE(site.is_error());
    // The same with next = 0: a handler only, with a landing pad.
    Bytes handler = {0xff, 0xff, 0x01, 4, 0, 0x10, 8, 1, 0x01, 0x00};
    auto found = find_call_site(ByteView(handler.data(), handler.size()), 0, 0x1000, 0x1004);
    ASSERT_FALSE(found.is_error());
    EXPECT_EQ(found.value().kind, CallSiteKind::LandingPad);
    EXPECT_EQ(found.value().landing_pad, 0x1008u);
    EXPECT_TRUE(found.value().has_handler);
    EXPECT_FALSE(found.value().has_cleanup);
    // Outside every entry: not covered (terminate).
    auto outside = find_call_site(ByteView(handler.data(), handler.size()), 0, 0x1000, 0x1010);
    ASSERT_FALSE(outside.is_error());
    EXPECT_EQ(outside.value().kind, CallSiteKind::NotCovered);
    // An action displacement of INT64_MAX (fuzz-unwind found it overflowing): an error.
    Bytes huge = {0xff, 0xff, 0x01, 4, 0, 0x10, 8, 1, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00};
    EXPECT_TRUE(find_call_site(ByteView(huge.data(), huge.size()), 0, 0x1000, 0x1004).is_error());
    // A table length past the data.
    Bytes overrun = {0xff, 0xff, 0x01, 100, 0, 0x10, 8, 0};
    EXPECT_TRUE(find_call_site(ByteView(overrun.data(), overrun.size()), 0, 0x1000, 0x1004).is_error());
}
