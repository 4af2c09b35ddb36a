// bulk.cpp: a test-only cell (NOT_BOOT) that is about one MiB of object (512 KiB of read-only data and its debug-info copy), so that
// delos-bench-channel pushes a realistic big object (a real ELF the guest verifies, not
// filler bytes). The data is generated at compile time (xorshift64), so it does not compress
// and any corruption in transit changes the SHA-256 the guest checks.
#include <cstddef>
#include <cstdint>

#include "linker/cell_info.h"
#include "log/log.h"

namespace {

// Half a MiB of data: with its debug-info copy (DW_AT_const_value) the object is about 1 MiB.
constexpr std::size_t kPayloadWords = (512u << 10) / sizeof(std::uint64_t);

struct Payload {
    std::uint64_t words[kPayloadWords];
};

constexpr Payload make_payload()
{
    Payload payload{};
    std::uint64_t state = 0x9e3779b97f4a7c15ull;
    for (std::size_t i = 0; i < kPayloadWords; ++i) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        payload.words[i] = state;
    }
    return payload;
}

[[gnu::used]] constinit const Payload g_payload = make_payload();

delos::ErrorOr<void> bulk_init()
{
    // One word per page: enough to show the data was linked where the cell expects it.
    std::uint64_t sample = 0;
    for (std::size_t i = 0; i < kPayloadWords; i += 512)
        sample ^= g_payload.words[i];
    delos::log::info("bulk: {} bytes of data, page sample {:#x}", sizeof(g_payload), sample);
    return {};
}

} // namespace

DELOS_CELL("bulk", "1.0.0", bulk_init, nullptr);
