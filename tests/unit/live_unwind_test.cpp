// live_unwind_test.cpp: the CFI interpreter and LSDA reader (guest/lib/unwind) on real frames:
// this test binary's own unwind tables and its live stack. (Apart from unwind_test.cpp: <link.h>
// and the guest's elf64.h name the same ELF constants.)
#include <gtest/gtest.h>
#include <link.h>

#include <cstdint>
#include <cstring>

#include "lib/unwind/cfi.h"
#include "lib/unwind/eh_frame.h"
#include "lib/unwind/lsda.h"

using namespace delos;
using namespace delos::unwind;

// The interpreter on real frames: this test binary's own .eh_frame (found through
// PT_GNU_EH_FRAME, as the host compiler emitted it for a PIE: pc-relative FDEs, an indirect
// personality) and its live stack. Registers captured inside level_one are stepped outwards;
// each step must land on the return address each level recorded, with the stack pointer
// moving up.

namespace {

struct HostEhFrame {
    std::uint64_t address = 0;
    std::uint64_t limit = 0;  // end of the loaded segment holding it
};

int find_host_eh_frame(dl_phdr_info* info, std::size_t, void* data)
{
    auto* out = static_cast<HostEhFrame*>(data);
    if (out->address)
        return 1;
    const ElfW(Phdr)* hdr = nullptr;
    for (int i = 0; i < info->dlpi_phnum; ++i)
        if (info->dlpi_phdr[i].p_type == PT_GNU_EH_FRAME)
            hdr = &info->dlpi_phdr[i];
    if (!hdr)
        return 0;
    auto* bytes = reinterpret_cast<const std::uint8_t*>(info->dlpi_addr + hdr->p_vaddr);
    // .eh_frame_hdr: version, eh_frame_ptr encoding, fde count encoding, table encoding, eh_frame_ptr.
    if (bytes[0] != 1 || bytes[1] != 0x1b)
        return 0;
    std::int32_t relative;
    std::memcpy(&relative, bytes + 4, 4);
    std::uint64_t eh_frame = reinterpret_cast<std::uint64_t>(bytes + 4) + static_cast<std::int64_t>(relative);
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const auto& segment = info->dlpi_phdr[i];
        std::uint64_t start = info->dlpi_addr + segment.p_vaddr;
        if (segment.p_type == PT_LOAD && eh_frame >= start && eh_frame < start + segment.p_memsz) {
            out->address = eh_frame;
            out->limit = start + segment.p_memsz;
            return 1;
        }
    }
    return 0;
}

struct Walk {
    const EhFrameIndex* index = nullptr;
    std::uint64_t return_addresses[3] = {};
    std::uint64_t stepped_ips[3] = {};
    std::uint64_t stepped_sps[3] = {};
    std::uint64_t start_sp = 0;
    const char* error = nullptr;
    int steps = 0;
    CallSiteKind level_two_site = CallSiteKind::NotCovered;
    bool level_two_cleanup = false;
    bool personality_indirect = false;
};
Walk g_walk;
volatile int g_sink = 0;

struct HostCleanup {
    ~HostCleanup() { g_sink = g_sink + 1; }
};

bool read_host_stack(void* context, std::uint64_t address, std::uint64_t& value)
{
    auto* bounds = static_cast<std::uint64_t*>(context);
    if (address < bounds[0] || address + 8 > bounds[1] || address % 8)
        return false;
    std::memcpy(&value, reinterpret_cast<const void*>(address), 8);
    return true;
}

// Steps outwards from `registers` (level_one's, captured while its callers are all live).
[[gnu::noinline]] void walk_from(RegisterSet registers)
{
    Walk& walk = g_walk;
    walk.start_sp = registers.sp();
    std::uint64_t bounds[2] = {registers.sp(), registers.sp() + (1u << 20)};
    MemoryAccess memory{read_host_stack, bounds};
    for (int level = 0; level < 3; ++level) {
        std::uint64_t ip = level == 0 ? registers.ip() : registers.ip() - 1;
        auto fde = walk.index->find(ip);
        if (fde.is_error()) {
            walk.error = fde.error().message;
            return;
        }
        auto row = compute_row(fde.value(), ip);
        if (row.is_error()) {
            walk.error = row.error().message;
            return;
        }
        auto stepped = step(row.value(), fde.value().cie.return_address_register, registers, memory);
        if (stepped.is_error() || stepped.value().end_of_stack) {
            walk.error = stepped.is_error() ? stepped.error().message : "end of stack";
            return;
        }
        registers = stepped.value().caller;
        walk.stepped_ips[level] = registers.ip();
        walk.stepped_sps[level] = registers.sp();
        walk.steps = level + 1;
        if (level == 0) {
            // level_two's call to level_one is covered by a cleanup landing pad (HostCleanup).
            auto caller_fde = walk.index->find(registers.ip() - 1);
            if (caller_fde.is_error() || !caller_fde.value().lsda)
                continue;
            walk.personality_indirect = caller_fde.value().cie.personality_indirect;
            ByteView lsda(reinterpret_cast<const void*>(caller_fde.value().lsda), 256);
            auto site = find_call_site(lsda, caller_fde.value().lsda, caller_fde.value().pc_begin, registers.ip() - 1);
            if (!site.is_error()) {
                walk.level_two_site = site.value().kind;
                walk.level_two_cleanup = site.value().has_cleanup;
            }
        }
    }
}

[[gnu::noinline]] void level_one()
{
    g_walk.return_addresses[0] = reinterpret_cast<std::uint64_t>(__builtin_return_address(0));
    std::uint64_t rip, rsp, rbp, rbx, r12, r13, r14, r15;
    asm volatile("leaq 0(%%rip), %0\n\tmovq %%rsp, %1\n\tmovq %%rbp, %2\n\tmovq %%rbx, %3\n\t"
                 "movq %%r12, %4\n\tmovq %%r13, %5\n\tmovq %%r14, %6\n\tmovq %%r15, %7"
                 : "=&r"(rip), "=m"(rsp), "=m"(rbp), "=m"(rbx), "=m"(r12), "=m"(r13), "=m"(r14), "=m"(r15));
    RegisterSet registers;
    registers.set(kReturnAddress, rip);
    registers.set(kRsp, rsp);
    registers.set(kRbp, rbp);
    registers.set(kRbx, rbx);
    registers.set(kR12, r12);
    registers.set(kR13, r13);
    registers.set(kR14, r14);
    registers.set(kR15, r15);
    walk_from(registers);
    g_sink = g_sink + 1;
}

[[gnu::noinline]] void level_two()
{
    g_walk.return_addresses[1] = reinterpret_cast<std::uint64_t>(__builtin_return_address(0));
    HostCleanup cleanup;
    level_one();
    g_sink = g_sink + 2;
}

[[gnu::noinline]] void level_three()
{
    g_walk.return_addresses[2] = reinterpret_cast<std::uint64_t>(__builtin_return_address(0));
    level_two();
    g_sink = g_sink + 3;
}

} // namespace

TEST(LiveUnwind, StepsThroughThisProcessesOwnFrames)
{
    HostEhFrame host;
    dl_iterate_phdr(find_host_eh_frame, &host);
    ASSERT_NE(host.address, 0u) << "no PT_GNU_EH_FRAME in the test binary";
    ByteView section(reinterpret_cast<const void*>(host.address), host.limit - host.address);
    auto index = EhFrameIndex::build(section, host.address);
    ASSERT_FALSE(index.is_error()) << index.error().message;
    g_walk = Walk{};
    g_walk.index = &index.value();

    level_three();
    ASSERT_EQ(g_walk.error, nullptr) << g_walk.error;
    ASSERT_EQ(g_walk.steps, 3);
    std::uint64_t previous_sp = g_walk.start_sp;
    for (int level = 0; level < 3; ++level) {
        EXPECT_EQ(g_walk.stepped_ips[level], g_walk.return_addresses[level]) << "level " << level;
        EXPECT_GT(g_walk.stepped_sps[level], previous_sp) << "level " << level;
        previous_sp = g_walk.stepped_sps[level];
    }
    EXPECT_EQ(g_walk.level_two_site, CallSiteKind::LandingPad);
    EXPECT_TRUE(g_walk.level_two_cleanup);
    EXPECT_TRUE(g_walk.personality_indirect);  // PIE: through DW.ref.__gxx_personality_v0
}
