// runner_process.h: starting the processes delosd runs guests in (delos-vmm, QEMU, a command,
// and the template guests of the clone runner): each in its own process group, with the death
// signal set so it never outlives delosd, its output in a log file.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace delos::controller {

// Starts argv[0] (PATH searched). stdin is /dev/null, stdout and stderr go to `log_path`
// (truncated). `fd_as_3` >= 0 is passed to the child as its fd 3 (QEMU's `-incoming fd:3`).
// Throws std::runtime_error when it cannot.
pid_t spawn_in_own_group(const std::vector<std::string>& argv, const std::string& log_path, int fd_as_3 = -1);

// The last `bytes` of a file, from a line start: where a runner says why it ended.
std::string tail_of(const std::string& path, std::size_t bytes);

} // namespace delos::controller
