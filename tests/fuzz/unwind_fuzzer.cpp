// unwind_fuzzer.cpp: fuzz-unwind: arbitrary bytes as the unwind tables a hostile cell could carry.
// The first byte picks the target: an .eh_frame section (index it, look up every FDE, compute
// rows at addresses across each, step a made-up frame whose stack is the input itself), an LSDA
// (walk its call sites, look up addresses, follow action chains), or a DWARF expression. Every
// input must end in a value or an error: no crash, no read outside the input, no hang.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "lib/unwind/cfi.h"
#include "lib/unwind/eh_frame.h"
#include "lib/unwind/lsda.h"

using namespace delos;
using namespace delos::unwind;

namespace {

struct InputMemory {
    const std::uint8_t* data;
    std::size_t size;
    std::uint64_t base;

    static bool read(void* context, std::uint64_t address, std::uint64_t& value)
    {
        auto* memory = static_cast<InputMemory*>(context);
        if (address < memory->base || address - memory->base > memory->size || memory->size - (address - memory->base) < 8)
            return false;
        std::memcpy(&value, memory->data + (address - memory->base), 8);
        return true;
    }
};

RegisterSet frame_registers(std::uint64_t ip, std::uint64_t stack)
{
    RegisterSet registers;
    for (std::uint32_t r = 0; r < kRegisterCount; ++r)
        registers.set(r, stack + 8 * r);
    registers.set(kReturnAddress, ip);
    registers.set(kRsp, stack);
    registers.set(kRbp, stack + 64);
    return registers;
}

void fuzz_eh_frame(ByteView bytes, InputMemory& memory)
{
    constexpr std::uint64_t kSectionAddress = 0x400000;
    auto index = EhFrameIndex::build(bytes, kSectionAddress, 4096);
    if (index.is_error())
        return;
    MemoryAccess access{InputMemory::read, &memory};
    std::size_t rows = 0;
    for (const auto& entry : index.value().entries()) {
        auto fde = index.value().find(entry.pc_begin);
        if (fde.is_error())
            continue;
        std::uint64_t length = entry.pc_end - entry.pc_begin;
        // A handful of addresses per FDE: its start, end and a few in between.
        for (std::uint64_t k = 0; k < 5 && rows < 2000; ++k, ++rows) {
            std::uint64_t pc = entry.pc_begin + (k == 4 ? length - 1 : (length / 4) * k);
            auto row = compute_row(fde.value(), pc);
            if (row.is_error())
                continue;
            (void)step(row.value(), fde.value().cie.return_address_register, frame_registers(pc, memory.base + 16), access);
        }
    }
    (void)index.value().find(0);
    (void)index.value().find(~std::uint64_t(0));
}

void fuzz_lsda(ByteView bytes)
{
    constexpr std::uint64_t kFunction = 0x1000;
    std::size_t sites = 0;
    (void)for_each_call_site(bytes, 0x800000, kFunction, [&](const CallSiteEntry& site) {
        if (sites++ < 64) {
            (void)find_call_site(bytes, 0x800000, kFunction, site.start);
            (void)find_call_site(bytes, 0x800000, kFunction, site.end - 1);
        }
    });
    for (std::uint64_t ip = kFunction; ip < kFunction + 64; ip += 7)
        (void)find_call_site(bytes, 0x800000, kFunction, ip);
}

void fuzz_expression(ByteView bytes, InputMemory& memory)
{
    MemoryAccess access{InputMemory::read, &memory};
    (void)evaluate_expression(bytes, frame_registers(0x1000, memory.base), access, true, memory.base + 8);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 1)
        return 0;
    ByteView bytes(data + 1, size - 1);
    InputMemory memory{data + 1, size - 1, 0x7000000};
    switch (data[0] % 3) {
    case 0: fuzz_eh_frame(bytes, memory); break;
    case 1: fuzz_lsda(bytes); break;
    case 2: fuzz_expression(bytes, memory); break;
    }
    return 0;
}
