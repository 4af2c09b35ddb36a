// boot_facts.cpp: the recorded facts of this boot.
#include "platform/boot_facts.h"

namespace delos::platform {

namespace {
pvh::BootInfo g_boot_info;
std::uint64_t g_bytes_reclaimed = 0;
std::uint64_t g_boot_ns = 0;
std::uint64_t g_boot_set_link_ns = 0;
} // namespace

const pvh::BootInfo& boot_info() { return g_boot_info; }
std::uint64_t bytes_reclaimed() { return g_bytes_reclaimed; }
std::uint64_t boot_ns() { return g_boot_ns; }
std::uint64_t boot_set_link_ns() { return g_boot_set_link_ns; }

void record_boot_info(const pvh::BootInfo& info) { g_boot_info = info; }
void record_bytes_reclaimed(std::uint64_t bytes) { g_bytes_reclaimed += bytes; }
void record_boot_ns(std::uint64_t ns) { g_boot_ns = ns; }
void record_boot_set_link_ns(std::uint64_t ns) { g_boot_set_link_ns = ns; }

} // namespace delos::platform
