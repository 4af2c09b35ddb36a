// vm_config.cpp: command-line parsing for delos-vmm.
#include "vm_config.h"

#include <cctype>
#include <string_view>

#include "abi/platform.h"
#include "vmm_error.h"

namespace delos::vmm {

const char* usage_text()
{
    return "usage: delos-vmm [--memory SIZE] [--cmdline STR] [--module FILE]... [--serial FILE] [--control-socket PATH]\n"
           "                 [--stats] KERNEL.elf\n"
           "  --memory SIZE   guest RAM, e.g. 64M (default), 512M, 1G; at most 3G\n"
           "  --cmdline STR   guest command line (e.g. \"selftest\", \"exit\")\n"
           "  --module FILE   a PVH boot module (the first is the cell archive); repeatable\n"
           "  --serial FILE   write the guest console to FILE instead of stdout\n"
           "  --control-socket PATH  listen at PATH (unix socket) for the guest's control port,\n"
           "                  the virtio-console port org.delos.control.0; one client at a time\n"
           "                  (another is refused at once with a STATUS_BUSY reply frame)\n"
           "  --stats         on exit, print VM exits by reason and memory overhead to stderr\n"
           "exit status: the guest's own exit code; 2 for bad input; 3 if the guest crashed; 1 if KVM failed;\n"
           "  130/143 when SIGINT/SIGTERM stopped it cleanly (128 + the signal)\n";
}

std::uint64_t parse_memory_size(const std::string& text)
{
    if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0])))
        throw BadInput("memory size '" + text + "' is not a number with an optional K, M or G suffix");
    std::size_t digits = 0;
    std::uint64_t value = 0;
    while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) {
        auto digit = static_cast<std::uint64_t>(text[digits] - '0');
        if (value > (~std::uint64_t(0) - digit) / 10)
            throw BadInput("memory size '" + text + "' is too large: the guest RAM window holds at most 3 GiB");
        value = value * 10 + digit;
        ++digits;
    }
    std::string_view suffix = std::string_view(text).substr(digits);
    unsigned shift = 0;
    if (suffix == "K" || suffix == "k" || suffix == "KiB")
        shift = 10;
    else if (suffix == "M" || suffix == "m" || suffix == "MiB")
        shift = 20;
    else if (suffix == "G" || suffix == "g" || suffix == "GiB")
        shift = 30;
    else if (!suffix.empty())
        throw BadInput("memory size '" + text + "' has an unknown suffix (use K, M or G)");
    if (value > (abi::kMmioWindowBase >> shift))
        throw BadInput("memory size '" + text + "' is too large: the guest RAM window holds at most 3 GiB");
    value <<= shift;
    if (value < (2ull << 20))
        throw BadInput("memory size '" + text + "' is below the 2 MiB minimum");
    if (value % 4096 != 0)
        throw BadInput("memory size '" + text + "' is not a multiple of 4 KiB");
    return value;
}

VmConfig parse_arguments(int argc, char** argv)
{
    VmConfig config;
    auto value_of = [&](int& i, const std::string& flag) -> std::string {
        if (i + 1 >= argc)
            throw BadInput(flag + " needs a value");
        return argv[++i];
    };
    for (int i = 1; i < argc; ++i) {
        std::string argument = argv[i];
        if (argument == "--memory" || argument == "-m")
            config.memory_bytes = parse_memory_size(value_of(i, argument));
        else if (argument == "--cmdline")
            config.cmdline = value_of(i, argument);
        else if (argument == "--module")
            config.module_paths.push_back(value_of(i, argument));
        else if (argument == "--serial")
            config.serial_path = value_of(i, argument);
        else if (argument == "--control-socket")
            config.control_socket_path = value_of(i, argument);
        else if (argument == "--stats")
            config.print_stats = true;
        else if (argument == "--help" || argument == "-h")
            config.show_help = true;
        else if (argument.starts_with("-"))
            throw BadInput("unknown option " + argument);
        else if (config.kernel_path.empty())
            config.kernel_path = argument;
        else
            throw BadInput("more than one kernel given: " + config.kernel_path + " and " + argument);
    }
    if (config.kernel_path.empty() && !config.show_help)
        throw BadInput("no kernel given");
    return config;
}

} // namespace delos::vmm
