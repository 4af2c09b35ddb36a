// command_table.h: the kernel's commands (the command line's first word) in one table that both
// runs them and prints their help, so no command exists without its description.
#pragma once

#include <cstddef>

#include "lib/core/command_line.h"
#include "lib/core/string_view.h"

namespace delos::kernel {

struct KernelCommand {
    StringView name;
    StringView arguments;  // shown in the help, e.g. "[FILTER]"; empty when it takes none
    StringView summary;
    // Runs after boot. A command that returns leaves the kernel up (idle, serving what it
    // started); one that is done shuts the machine down itself with its exit code.
    void (*run)(const CommandLine&);
};

struct KernelCommands {
    const KernelCommand* entries;
    std::size_t count;
    const KernelCommand* begin() const { return entries; }
    const KernelCommand* end() const { return entries + count; }
};

KernelCommands kernel_commands();
// The command called `name` ("" is `run`), or null.
const KernelCommand* find_kernel_command(StringView name);
// One line per command: name, arguments, summary.
void print_kernel_commands();

} // namespace delos::kernel
