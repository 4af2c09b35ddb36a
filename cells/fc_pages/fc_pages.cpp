// fc_pages.cpp: the fault campaign's page server (a target cell): each request maps fresh pages
// (memory::MappedPages), fills them with a pattern derived from the request's seed and hands
// them out as a shared handle (SharedMappedPages), keeping no reference itself. A fault while it
// maps or fills is unwound through the MappedPages owner, which unmaps and frees the frames; the
// campaign's frame count at the end shows any that were not.
#include "fault_workloads/workload_protocol.h"
#include "linker/cell_info.h"

namespace {

using namespace delos;
using namespace delos::fault_workload;

std::uint64_t word_of(std::uint64_t seed, std::uint64_t index)
{
    std::uint64_t value = seed + index * 0x9e3779b97f4a7c15ull;
    value ^= value >> 31;
    value *= 0x7fb5d329728ea185ull;
    value ^= value >> 27;
    return value;
}

} // namespace

extern "C" [[gnu::visibility("default")]] void fc_pages_fill(const PagesRequest& request, PagesReply& reply)
{
    reply.pages.reset();
    if (request.pages == 0 || request.pages > kMaxPagesPerRequest)
        return;
    auto pages = memory::MappedPages::allocate(request.pages);
    if (pages.is_error())
        return;
    auto* words = pages.value().as<std::uint64_t>();
    std::size_t count = pages.value().size() / sizeof(std::uint64_t);
    for (std::size_t i = 0; i < count; ++i)
        words[i] = word_of(request.seed, i);
    auto shared = static_cast<memory::MappedPages&&>(pages.value()).into_shared();
    if (shared.is_error())
        return;
    reply.pages = shared.release_value();
}

DELOS_CELL("fc_pages", "1.0.0", nullptr, nullptr);
