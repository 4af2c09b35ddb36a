// vmm_error.h: the two ways delos-vmm fails: the user's input is bad (exit 2) or the host is (exit 1).
#pragma once

#include <stdexcept>
#include <cstdint>
#include <string>

namespace delos::vmm {

// A missing or malformed kernel, module or argument: one line on stderr, exit code 2.
class BadInput : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// KVM or the host refused something we needed: one line on stderr, exit code 1.
class HostFailure : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// "0x1f00": addresses in messages are hexadecimal.
std::string hex(std::uint64_t value);

// Throws HostFailure with "what: strerror(errno)".
[[noreturn]] void throw_errno(const std::string& what);

} // namespace delos::vmm
