// wide_body.h: the body shared by every version of the wide cell; a version defines WIDE_SEED,
// WIDE_TAG and WIDE_VERSION before including it.
#include <cstddef>
#include <cstdint>

#include "linker/cell_info.h"
#include "wide/wide.h"

namespace delos::wide {

namespace {

constexpr std::size_t kTableWords = (60u << 10) / sizeof(std::uint64_t);

struct Table {
    std::uint64_t words[kTableWords];
};

constexpr Table make_table()
{
    Table table{};
    std::uint64_t state = WIDE_SEED;
    for (std::size_t i = 0; i < kTableWords; ++i) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        table.words[i] = state;
    }
    return table;
}

constexpr Table g_table = make_table();

} // namespace

std::uint64_t mix(std::uint64_t value) { return value ^ g_table.words[value % kTableWords]; }

std::uint64_t version_tag() { return WIDE_TAG; }

} // namespace delos::wide

DELOS_CELL("wide", WIDE_VERSION, nullptr, nullptr);
