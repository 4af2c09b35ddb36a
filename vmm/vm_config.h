// vm_config.h: what the user asked for on the command line (Firecracker's "resources").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace delos::vmm {

struct VmConfig {
    std::uint64_t memory_bytes = 64ull << 20;
    std::string cmdline;
    std::vector<std::string> module_paths;
    std::string serial_path;  // empty: stdout
    std::string control_socket_path;  // empty: no virtio-console control port
    std::string kernel_path;
    bool print_stats = false;
    bool show_help = false;
};

// Throws BadInput with a one-line reason for anything it does not understand.
VmConfig parse_arguments(int argc, char** argv);

// "64M", "512K", "1G" or a byte count; throws BadInput.
std::uint64_t parse_memory_size(const std::string& text);

const char* usage_text();

} // namespace delos::vmm
