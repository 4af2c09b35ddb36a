// vmm_boot_setup_test.cpp: delos-vmm's PVH pieces: kernel ELF parsing (segments, PVH note),
// start_info layout read back by the guest's own reader, and argument parsing.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "abi/platform.h"
#include "abi/pvh.h"
#include "guest_memory.h"
#include "kernel_image.h"
#include "lib/elf/elf_file.h"
#include "lib/pvh/boot_info.h"
#include "start_info.h"
#include "vm_config.h"
#include "vmm_error.h"

using namespace delos;
using namespace delos::vmm;

namespace {

std::vector<std::uint8_t> built_kernel() { return read_file(std::string(DELOS_BUILD_DIR) + "/guest/delos.elf", "kernel"); }

} // namespace

TEST(KernelImage, ParsesTheBuiltKernel)
{
    auto bytes = built_kernel();
    KernelImage image = parse_kernel_image(bytes);
    EXPECT_EQ(image.lowest_address, delos::abi::kKernelPhysicalBase);
    EXPECT_GE(image.segments.size(), 3u);
    EXPECT_GE(image.pvh_entry, delos::abi::kKernelPhysicalBase);
    EXPECT_LT(image.pvh_entry, image.end_address);
    for (const auto& segment : image.segments)
        EXPECT_EQ(segment.physical_address % 4096, 0u);
}

TEST(KernelImage, LoadsSegmentsAndZeroesBss)
{
    auto bytes = built_kernel();
    KernelImage image = parse_kernel_image(bytes);
    GuestMemory memory(16 << 20);
    memory.fill(0, 0xcc, memory.size());
    load_kernel_image(image, memory);
    for (const auto& segment : image.segments) {
        auto loaded = memory.range(segment.physical_address, segment.memory_size);
        ASSERT_EQ(loaded.size(), segment.memory_size);
        EXPECT_TRUE(std::equal(segment.file_bytes.begin(), segment.file_bytes.end(), loaded.begin()));
        EXPECT_TRUE(std::all_of(loaded.begin() + segment.file_bytes.size(), loaded.end(), [](auto b) { return b == 0; }));
    }
}

TEST(KernelImage, ReadsOnlyWhatTheProgramHeadersNameAndLoadsTheSame)
{
    std::string path = std::string(DELOS_BUILD_DIR) + "/guest/delos.elf";
    auto whole = built_kernel();
    auto part = read_kernel_file(path);
    EXPECT_LT(part.size(), whole.size()) << "a debug build's sections should not be read";
    KernelImage from_whole = parse_kernel_image(whole);
    KernelImage from_part = parse_kernel_image(part);
    EXPECT_EQ(from_part.pvh_entry, from_whole.pvh_entry);
    ASSERT_EQ(from_part.segments.size(), from_whole.segments.size());
    for (std::size_t i = 0; i < from_part.segments.size(); ++i) {
        EXPECT_EQ(from_part.segments[i].physical_address, from_whole.segments[i].physical_address);
        EXPECT_EQ(from_part.segments[i].memory_size, from_whole.segments[i].memory_size);
        EXPECT_TRUE(std::ranges::equal(from_part.segments[i].file_bytes, from_whole.segments[i].file_bytes)) << i;
    }
}

TEST(KernelImage, ReadingAFileThatIsNotAKernelStillReportsWhy)
{
    std::string path = ::testing::TempDir() + "/not-a-kernel-" + std::to_string(::getpid());
    {
        std::ofstream out(path, std::ios::binary);
        out << "just text, no ELF header";
    }
    auto bytes = read_kernel_file(path);
    EXPECT_EQ(bytes.size(), 24u) << "read whole, for the parser to refuse";
    EXPECT_THROW(parse_kernel_image(bytes), BadInput);
    EXPECT_THROW(read_kernel_file(path, 16), BadInput) << "larger than the limit: refused unread";
    std::remove(path.c_str());
    EXPECT_THROW(read_kernel_file(path), BadInput);
}

TEST(KernelImage, RefusesWhatCannotBoot)
{
    std::vector<std::uint8_t> garbage(100, 0x42);
    EXPECT_THROW(parse_kernel_image(garbage), BadInput);

    auto bytes = built_kernel();
    const std::uint8_t pattern[] = {4, 0, 0, 0, 8, 0, 0, 0, 18, 0, 0, 0, 'X', 'e', 'n', 0};
    auto at = std::search(bytes.begin(), bytes.end(), std::begin(pattern), std::end(pattern));
    ASSERT_NE(at, bytes.end());
    auto no_note = bytes;
    no_note[at - bytes.begin() + 8] = 19;
    try {
        parse_kernel_image(no_note);
        FAIL() << "a kernel without a PVH note was accepted";
    } catch (const BadInput& error) {
        EXPECT_NE(std::string(error.what()).find("no PVH entry note"), std::string::npos);
    }

    auto bad_descriptor = bytes;
    bad_descriptor[at - bytes.begin() + 4] = 3;  // descriptor size 3
    EXPECT_THROW(parse_kernel_image(bad_descriptor), BadInput);

    // Two PT_LOAD segments sharing addresses (the second moved onto the first).
    auto overlapping = bytes;
    elf::Elf64_Ehdr header;
    std::memcpy(&header, overlapping.data(), sizeof header);
    std::vector<std::size_t> loads;
    for (std::size_t i = 0; i < header.e_phnum; ++i) {
        elf::Elf64_Phdr program_header;
        std::size_t at_header = header.e_phoff + i * sizeof program_header;
        std::memcpy(&program_header, overlapping.data() + at_header, sizeof program_header);
        if (program_header.p_type == elf::PT_LOAD)
            loads.push_back(at_header);
    }
    ASSERT_GE(loads.size(), 3u);
    // The third segment starts one page into the second's end: a partial overlap.
    elf::Elf64_Phdr second, third;
    std::memcpy(&second, overlapping.data() + loads[1], sizeof second);
    std::memcpy(&third, overlapping.data() + loads[2], sizeof third);
    third.p_paddr = second.p_paddr + second.p_memsz - 1;
    std::memcpy(overlapping.data() + loads[2], &third, sizeof third);
    try {
        parse_kernel_image(overlapping);
        FAIL() << "a kernel with overlapping segments was accepted";
    } catch (const BadInput& error) {
        EXPECT_NE(std::string(error.what()).find("overlap"), std::string::npos) << error.what();
    }
    third.p_paddr = second.p_paddr + second.p_memsz;  // touching is fine
    std::memcpy(overlapping.data() + loads[2], &third, sizeof third);
    EXPECT_NO_THROW(parse_kernel_image(overlapping));

    GuestMemory tiny(1 << 20);  // 1 MiB: the kernel starts at 1 MiB
    EXPECT_THROW(load_kernel_image(parse_kernel_image(bytes), tiny), BadInput);
}

TEST(StartInfo, GuestReaderSeesWhatTheVmmWrote)
{
    GuestMemory memory(32 << 20);
    std::vector<BootModule> modules = {{"cells.a", std::vector<std::uint8_t>(10000, 0xab)},
                                       {"extra", std::vector<std::uint8_t>(5, 0x01)}};
    auto placement = write_start_info(memory, "selftest virtio_mmio.device=4K@0xd0000000:5", modules, 0x200000);

    pvh::BootInfo info;
    auto result = pvh::read_boot_info(ByteView(memory.host_base(), memory.size()), placement.start_info_address, info);
    ASSERT_FALSE(result.is_error()) << result.error().message;
    EXPECT_TRUE(info.command_line == StringView("selftest virtio_mmio.device=4K@0xd0000000:5"));
    EXPECT_EQ(info.ram_end(), memory.size());
    ASSERT_EQ(info.module_count, 2u);
    EXPECT_EQ(info.modules[0].size, 10000u);
    EXPECT_EQ(info.modules[0].address % 4096, 0u);
    EXPECT_EQ(memory.range(info.modules[0].address, 1)[0], 0xab);
    EXPECT_EQ(info.modules[1].size, 5u);
    EXPECT_LT(info.modules[1].address, info.modules[0].address);  // placed top-down
    EXPECT_GE(info.modules[1].address, 0x200000u);
    // The legacy hole is reserved, RAM on both sides.
    bool hole_reserved = false;
    for (std::size_t i = 0; i < info.memory_region_count; ++i)
        hole_reserved |= info.memory[i].start == 0xa0000 && info.memory[i].type == delos::abi::kMemoryReserved;
    EXPECT_TRUE(hole_reserved);
}

TEST(StartInfo, RefusesWhatDoesNotFit)
{
    GuestMemory memory(4 << 20);
    std::vector<BootModule> big = {{"huge", std::vector<std::uint8_t>(3 << 20, 0)}};
    EXPECT_THROW(write_start_info(memory, "", big, 0x200000), BadInput);
    EXPECT_THROW(write_start_info(memory, std::string(kCmdlineCapacity, 'x'), {}, 0x200000), BadInput);
    EXPECT_THROW(write_start_info(memory, std::string("a\0b", 3), {}, 0x200000), BadInput);
}

TEST(StartInfo, GuestReaderRefusesCorruptStartInfo)
{
    GuestMemory memory(8 << 20);
    auto placement = write_start_info(memory, "exit", {}, 0x200000);
    auto* info = reinterpret_cast<delos::abi::HvmStartInfo*>(memory.host_base() + placement.start_info_address);
    pvh::BootInfo out;
    ByteView ram(memory.host_base(), memory.size());

    info->memmap_entries = 1000;
    EXPECT_TRUE(pvh::read_boot_info(ram, placement.start_info_address, out).is_error());
    info->memmap_entries = 3;

    info->cmdline_paddr = memory.size() - 2;  // runs off the end without a NUL
    memory.fill(memory.size() - 2, 'x', 2);
    EXPECT_TRUE(pvh::read_boot_info(ram, placement.start_info_address, out).is_error());

    info->magic = 0;
    EXPECT_EQ(pvh::read_boot_info(ram, placement.start_info_address, out).error().code, ErrorCode::Malformed);
    EXPECT_TRUE(pvh::read_boot_info(ram, memory.size() - 8, out).is_error());
}

TEST(VmConfig, ParsesSizesAndArguments)
{
    EXPECT_EQ(parse_memory_size("64M"), 64ull << 20);
    EXPECT_EQ(parse_memory_size("1G"), 1ull << 30);
    EXPECT_EQ(parse_memory_size("8192K"), 8ull << 20);
    EXPECT_THROW(parse_memory_size("4G"), BadInput);
    EXPECT_THROW(parse_memory_size("1M"), BadInput);
    EXPECT_THROW(parse_memory_size("12Q"), BadInput);
    EXPECT_THROW(parse_memory_size("99999999999999999999999"), BadInput);
    // 2^64 wraps to 0 if the digit is added unchecked: it must be "too large", not "below 2 MiB".
    for (const char* text : {"18446744073709551616", "18446744073709551615", "18446744073709551619"}) {
        try {
            parse_memory_size(text);
            ADD_FAILURE() << text << " accepted";
        } catch (const BadInput& error) {
            EXPECT_NE(std::string(error.what()).find("too large"), std::string::npos) << text << ": " << error.what();
        }
    }

    const char* argv[] = {"delos-vmm", "--memory", "128M", "--cmdline", "selftest", "--module", "a", "--module", "b", "k.elf"};
    VmConfig config = parse_arguments(10, const_cast<char**>(argv));
    EXPECT_EQ(config.memory_bytes, 128ull << 20);
    EXPECT_EQ(config.cmdline, "selftest");
    EXPECT_EQ(config.module_paths, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(config.kernel_path, "k.elf");

    const char* no_kernel[] = {"delos-vmm", "--cmdline", "x"};
    EXPECT_THROW(parse_arguments(3, const_cast<char**>(no_kernel)), BadInput);
    const char* dangling[] = {"delos-vmm", "k.elf", "--memory"};
    EXPECT_THROW(parse_arguments(3, const_cast<char**>(dangling)), BadInput);
}
