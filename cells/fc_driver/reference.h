// reference.h: the fault-campaign driver's own computation of every answer a target cell gives
// (digests, session states, pipeline blocks), so the verdict never trusts the faulty cell. It is
// the same arithmetic as the targets', written again here: faults are injected only into targets.
#pragma once

#include <cstddef>
#include <cstdint>

#include "fault_workloads/workload_protocol.h"

namespace delos::fault_workload::reference {

inline std::uint64_t digest(const std::uint64_t* words, std::size_t count)
{
    std::uint64_t hash = 0xcbf29ce484222325ull;
    for (std::size_t i = 0; i < count; ++i) {
        hash = (hash ^ words[i]) * 0x100000001b3ull;
        hash ^= hash >> 29;
    }
    return hash;
}

inline SessionState next_state(SessionState state, std::uint64_t value)
{
    state.count += 1;
    state.sum += value;
    std::uint64_t hash = state.hash ^ value;
    for (int round = 0; round < 16; ++round) {
        hash ^= hash >> 33;
        hash *= 0xff51afd7ed558ccdull;
        hash ^= hash >> 29;
    }
    state.hash = hash;
    return state;
}

inline bool same_state(const SessionState& a, const SessionState& b)
{
    return a.count == b.count && a.sum == b.sum && a.hash == b.hash;
}

inline std::uint64_t mix(std::uint64_t value)
{
    value ^= value >> 31;
    value *= 0x7fb5d329728ea185ull;
    value ^= value >> 27;
    value *= 0x81dadef4bc2dd44dull;
    value ^= value >> 33;
    return value;
}

// A deterministic generator (splitmix64) for payloads and values.
struct Random {
    std::uint64_t state;
    std::uint64_t next()
    {
        std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
};

// The block the source sends for `seq`, and what it must look like after both stages.
inline Block source_block(std::uint64_t seq)
{
    Block block{};
    block.seq = seq;
    Random random{seq * 0x51ed27ull + 7};
    for (std::size_t i = 0; i < kBlockWords; ++i)
        block.words[i] = random.next();
    return block;
}

inline Block finished_block(std::uint64_t seq)
{
    Block block = source_block(seq);
    for (std::size_t i = 0; i < kBlockWords; ++i)
        block.words[i] = mix(block.words[i] + block.seq * 31 + i);
    std::uint64_t check = block.seq;
    for (std::size_t i = 0; i < kBlockWords; ++i)
        check = mix(check ^ block.words[i]);
    block.check = check;
    return block;
}

inline bool same_block(const Block& a, const Block& b)
{
    if (a.seq != b.seq || a.check != b.check)
        return false;
    for (std::size_t i = 0; i < kBlockWords; ++i) {
        if (a.words[i] != b.words[i])
            return false;
    }
    return true;
}

// Word `index` of the pages fc_pages fills for `seed`.
inline std::uint64_t pages_word(std::uint64_t seed, std::uint64_t index)
{
    std::uint64_t value = seed + index * 0x9e3779b97f4a7c15ull;
    value ^= value >> 31;
    value *= 0x7fb5d329728ea185ull;
    value ^= value >> 27;
    return value;
}

} // namespace delos::fault_workload::reference
