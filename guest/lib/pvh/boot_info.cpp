// boot_info.cpp: checked reading of hvm_start_info, its memory map, module list and command line.
#include "lib/pvh/boot_info.h"

#include "abi/pvh.h"

namespace delos::pvh {

std::uint64_t BootInfo::ram_end() const
{
    std::uint64_t end = 0;
    for (std::size_t i = 0; i < memory_region_count; ++i) {
        if (memory[i].type == abi::kMemoryRam && memory[i].start + memory[i].size > end)
            end = memory[i].start + memory[i].size;
    }
    return end;
}

ErrorOr<void> read_boot_info(ByteView physical_memory, std::uint64_t start_info_address, BootInfo& out)
{
    auto info_or_error = physical_memory.read<abi::HvmStartInfo>(start_info_address);
    if (info_or_error.is_error())
        return Error::make(ErrorCode::OutOfRange, "start_info lies outside memory", start_info_address);
    abi::HvmStartInfo info = info_or_error.value();
    if (info.magic != abi::kHvmStartMagic)
        return Error::make(ErrorCode::Malformed, "start_info has the wrong magic", info.magic);
    if (info.version < 1 || info.memmap_paddr == 0)
        return Error::make(ErrorCode::Unsupported, "start_info carries no memory map (version 0)", info.version);
    out.start_info_address = start_info_address;
    out.rsdp_address = info.rsdp_paddr;

    if (info.memmap_entries == 0 || info.memmap_entries > kMaxMemoryRegions)
        return Error::make(ErrorCode::OutOfRange, "memory map entry count out of range", info.memmap_entries);
    out.memory_region_count = 0;
    for (std::uint32_t i = 0; i < info.memmap_entries; ++i) {
        auto entry = physical_memory.read<abi::HvmMemmapEntry>(info.memmap_paddr + std::uint64_t(i) * sizeof(abi::HvmMemmapEntry));
        if (entry.is_error())
            return Error::make(ErrorCode::OutOfRange, "memory map lies outside memory", info.memmap_paddr);
        if (entry->addr + entry->size < entry->addr)
            return Error::make(ErrorCode::Malformed, "memory map region wraps around", entry->addr);
        out.memory[out.memory_region_count++] = {entry->addr, entry->size, entry->type};
    }

    if (info.nr_modules > kMaxModules)
        return Error::make(ErrorCode::OutOfRange, "too many modules", info.nr_modules);
    out.module_count = 0;
    for (std::uint32_t i = 0; i < info.nr_modules; ++i) {
        auto entry = physical_memory.read<abi::HvmModlistEntry>(info.modlist_paddr + std::uint64_t(i) * sizeof(abi::HvmModlistEntry));
        if (entry.is_error())
            return Error::make(ErrorCode::OutOfRange, "module list lies outside memory", info.modlist_paddr);
        if (!physical_memory.contains(entry->paddr, entry->size))
            return Error::make(ErrorCode::OutOfRange, "module lies outside memory", entry->paddr);
        out.modules[out.module_count++] = {entry->paddr, entry->size};
    }

    out.command_line = StringView();
    if (info.cmdline_paddr != 0) {
        if (!physical_memory.contains(info.cmdline_paddr, 1))
            return Error::make(ErrorCode::OutOfRange, "command line lies outside memory", info.cmdline_paddr);
        const char* text = reinterpret_cast<const char*>(physical_memory.data() + info.cmdline_paddr);
        std::size_t limit = physical_memory.size() - static_cast<std::size_t>(info.cmdline_paddr);
        if (limit > kMaxCommandLine)
            limit = kMaxCommandLine;
        std::size_t length = 0;
        while (length < limit && text[length] != 0)
            ++length;
        if (length == limit)
            return Error::make(ErrorCode::Malformed, "command line is not NUL-terminated", info.cmdline_paddr);
        out.command_line = StringView(text, length);
    }
    return {};
}

} // namespace delos::pvh
