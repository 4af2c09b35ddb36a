// vmm_error.cpp: errno to HostFailure.
#include "vmm_error.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace delos::vmm {

std::string hex(std::uint64_t value)
{
    char text[24];
    std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(value));
    return text;
}

void throw_errno(const std::string& what)
{
    throw HostFailure(what + ": " + std::strerror(errno));
}

} // namespace delos::vmm
