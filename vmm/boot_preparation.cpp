// boot_preparation.cpp: the input half of building a VM (files, RAM layout, host endpoints).
#include "boot_preparation.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "kernel_image.h"
#include "start_info.h"
#include "stop_request.h"
#include "vmm_error.h"

namespace delos::vmm {

PreparedBoot prepare_boot(const VmConfig& config)
{
    // Sizes are checked from stat before anything is read: a file that cannot fit is never read.
    std::vector<std::uint8_t> kernel_file = read_kernel_file(config.kernel_path, config.memory_bytes);
    KernelImage kernel = parse_kernel_image(kernel_file);
    throw_if_stop_requested();
    PreparedBoot boot(GuestMemory(config.memory_bytes));
    boot.kernel_file = FileDescriptor(::open(config.kernel_path.c_str(), O_RDONLY | O_CLOEXEC));
    load_kernel_image(kernel, boot.memory);

    if (config.module_paths.size() > kMaxModules)
        throw BadInput("too many modules: " + std::to_string(config.module_paths.size()) + ", at most " +
                       std::to_string(kMaxModules));
    std::uint64_t modules_bytes = 0;  // page-rounded, as write_start_info places them
    for (const auto& path : config.module_paths) {
        std::uint64_t size = regular_file_size(path, "module");
        if (size == 0)
            throw BadInput("module " + path + " is empty");
        modules_bytes += (std::min(size, config.memory_bytes) + 4095) & ~std::uint64_t(4095);
    }
    std::uint64_t room = config.memory_bytes - std::min(config.memory_bytes, kernel.end_address);
    if (modules_bytes > room)
        throw BadInput("guest RAM too small for the modules: they take " + std::to_string((modules_bytes + 1023) >> 10) +
                       " KiB, " + std::to_string(room >> 10) + " KiB are free above the kernel; use a larger --memory");
    std::vector<BootModule> modules;
    for (const auto& path : config.module_paths) {
        modules.push_back({path, read_file(path, "module", room)});  // (the file may have grown since)
        if (modules.back().bytes.empty())
            throw BadInput("module " + path + " is empty");
        throw_if_stop_requested();
    }

    std::string cmdline = config.cmdline;
    if (!config.control_socket_path.empty()) {
        // Announced the way Linux and Firecracker do: size@base:irq.
        cmdline += std::string(cmdline.empty() ? "" : " ") + "virtio_mmio.device=4K@" + hex(kControlConsoleMmioBase) +
                   ":" + std::to_string(kControlConsoleGsi);
    }
    StartInfoPlacement placement = write_start_info(boot.memory, cmdline, modules, kernel.end_address);
    boot.pvh_entry = kernel.pvh_entry;
    boot.start_info_address = static_cast<std::uint32_t>(placement.start_info_address);

    throw_if_stop_requested();
    // The socket before the serial file: opening a FIFO blocks until a reader comes, and a stop
    // request that ends the wait (EINTR) must find the socket to remove.
    if (!config.control_socket_path.empty())
        boot.control_listener.emplace(config.control_socket_path);
    if (!config.serial_path.empty()) {
        for (;;) {
            boot.serial_file =
                FileDescriptor(::open(config.serial_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
            if (boot.serial_file.valid() || errno != EINTR)
                break;
            throw_if_stop_requested();
        }
        if (!boot.serial_file.valid())
            throw BadInput("cannot open serial output " + config.serial_path + ": " + std::strerror(errno));
    }
    throw_if_stop_requested();
    return boot;
}

} // namespace delos::vmm
