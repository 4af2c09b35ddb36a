// start_info.cpp: laying out PVH boot data in guest RAM.
#include "start_info.h"

#include <cstring>

#include "abi/pvh.h"
#include "vmm_error.h"

namespace delos::vmm {

namespace {

constexpr std::uint64_t kLegacyHoleStart = 0xa0000;  // VGA and BIOS area: not RAM on a PC
constexpr std::uint64_t kLegacyHoleEnd = 0x100000;
constexpr std::uint64_t kPageSize = 4096;

template <typename T>
void write_struct(GuestMemory& memory, std::uint64_t address, const T& value)
{
    memory.write(address, std::span(reinterpret_cast<const std::uint8_t*>(&value), sizeof value));
}

} // namespace

StartInfoPlacement write_start_info(GuestMemory& memory, const std::string& cmdline,
                                    const std::vector<BootModule>& modules, std::uint64_t kernel_end)
{
    if (cmdline.size() + 1 > kCmdlineCapacity)
        throw BadInput("command line is " + std::to_string(cmdline.size()) + " bytes; at most " +
                       std::to_string(kCmdlineCapacity - 1) + " fit");
    if (cmdline.find('\0') != std::string::npos)
        throw BadInput("command line contains a NUL byte");
    if (modules.size() > kMaxModules)
        throw BadInput("too many modules: " + std::to_string(modules.size()) + ", at most " + std::to_string(kMaxModules));
    if (memory.size() <= kLegacyHoleEnd)
        throw BadInput("guest RAM must be larger than 1 MiB");

    StartInfoPlacement placement{kStartInfoAddress, {}};

    // Modules from the top of RAM downwards, as QEMU places an initrd.
    std::uint64_t top = memory.size();
    std::uint64_t modlist_address = kStartInfoAddress + sizeof(abi::HvmStartInfo);
    for (std::size_t i = 0; i < modules.size(); ++i) {
        const auto& module = modules[i];
        std::uint64_t size = module.bytes.size();
        std::uint64_t rounded = (size + kPageSize - 1) & ~(kPageSize - 1);
        if (rounded > top || top - rounded < kernel_end)
            throw BadInput("guest RAM too small for module " + module.name + " (" + std::to_string(size) +
                           " bytes) above the kernel; use a larger --memory");
        top -= rounded;
        memory.write(top, module.bytes);
        placement.module_addresses.push_back(top);
        abi::HvmModlistEntry entry{top, size, 0, 0};
        write_struct(memory, modlist_address + i * sizeof entry, entry);
    }

    const abi::HvmMemmapEntry memmap[] = {
        {0, kLegacyHoleStart, abi::kMemoryRam, 0},
        {kLegacyHoleStart, kLegacyHoleEnd - kLegacyHoleStart, abi::kMemoryReserved, 0},
        {kLegacyHoleEnd, memory.size() - kLegacyHoleEnd, abi::kMemoryRam, 0},
    };
    write_struct(memory, kMemmapAddress, memmap);

    memory.write(kCmdlineAddress, std::span(reinterpret_cast<const std::uint8_t*>(cmdline.c_str()), cmdline.size() + 1));

    abi::HvmStartInfo info{};
    info.magic = abi::kHvmStartMagic;
    info.version = abi::kHvmStartInfoVersion;
    info.nr_modules = static_cast<std::uint32_t>(modules.size());
    info.modlist_paddr = modules.empty() ? 0 : modlist_address;
    info.cmdline_paddr = kCmdlineAddress;
    info.memmap_paddr = kMemmapAddress;
    info.memmap_entries = sizeof memmap / sizeof memmap[0];
    write_struct(memory, kStartInfoAddress, info);
    return placement;
}

} // namespace delos::vmm
