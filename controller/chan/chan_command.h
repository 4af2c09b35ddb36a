// chan_command.h: delos-chan's commands (hello, ping, list, push, load, unload, stats, watch),
// as a function tests can call in-process with their own output streams.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace delos::chan {

inline constexpr int kExitOk = 0;
inline constexpr int kExitGuestError = 1;   // the guest answered with an error status
inline constexpr int kExitConnection = 2;   // could not connect, lost the connection, timed out, bad frame
inline constexpr int kExitUsage = 64;       // bad command line (EX_USAGE)

// `arguments` excludes the program name. `interactive` (stderr is a terminal) turns on push
// progress for big files.
int run_chan(const std::vector<std::string>& arguments, std::ostream& out, std::ostream& err, bool interactive = false);

std::string chan_usage();

} // namespace delos::chan
