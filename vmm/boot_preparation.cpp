// boot_preparation.cpp: the input half of building a VM (files, RAM layout, host endpoints).
#include "boot_preparation.h"

#include <fcntl.h>

#include <cerrno>
#include <cstring>

#include "kernel_image.h"
#include "start_info.h"
#include "vmm_error.h"

namespace delos::vmm {

PreparedBoot prepare_boot(const VmConfig& config)
{
    std::vector<std::uint8_t> kernel_file = read_kernel_file(config.kernel_path);
    KernelImage kernel = parse_kernel_image(kernel_file);
    std::vector<BootModule> modules;
    for (const auto& path : config.module_paths)
        modules.push_back({path, read_file(path, "module")});

    std::string cmdline = config.cmdline;
    if (!config.control_socket_path.empty()) {
        // Announced the way Linux and Firecracker do: size@base:irq.
        cmdline += std::string(cmdline.empty() ? "" : " ") + "virtio_mmio.device=4K@" + hex(kControlConsoleMmioBase) +
                   ":" + std::to_string(kControlConsoleGsi);
    }
    PreparedBoot boot(GuestMemory(config.memory_bytes));
    load_kernel_image(kernel, boot.memory);
    StartInfoPlacement placement = write_start_info(boot.memory, cmdline, modules, kernel.end_address);
    boot.pvh_entry = kernel.pvh_entry;
    boot.start_info_address = static_cast<std::uint32_t>(placement.start_info_address);

    if (!config.serial_path.empty()) {
        boot.serial_file =
            FileDescriptor(::open(config.serial_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
        if (!boot.serial_file.valid())
            throw BadInput("cannot open serial output " + config.serial_path + ": " + std::strerror(errno));
    }
    if (!config.control_socket_path.empty())
        boot.control_listener.emplace(config.control_socket_path);
    return boot;
}

} // namespace delos::vmm
