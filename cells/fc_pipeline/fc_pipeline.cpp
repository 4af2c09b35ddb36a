// fc_pipeline.cpp: the fault campaign's pipeline stages (a target cell). Stage 0 mixes each word
// of a block with its position and sequence number; stage 1 seals the block with a checksum.
// The stages keep nothing between blocks: a block lost to a fault is simply sent again.
#include "fault_workloads/workload_protocol.h"
#include "linker/cell_info.h"

namespace {

using namespace delos::fault_workload;

std::uint64_t mix(std::uint64_t value)
{
    value ^= value >> 31;
    value *= 0x7fb5d329728ea185ull;
    value ^= value >> 27;
    value *= 0x81dadef4bc2dd44dull;
    value ^= value >> 33;
    return value;
}

void transform(Block& block)
{
    for (std::size_t i = 0; i < kBlockWords; ++i)
        block.words[i] = mix(block.words[i] + block.seq * 31 + i);
}

void seal(Block& block)
{
    std::uint64_t check = block.seq;
    for (std::size_t i = 0; i < kBlockWords; ++i)
        check = mix(check ^ block.words[i]);
    block.check = check;
}

} // namespace

extern "C" [[gnu::visibility("default")]] void fc_pipeline_stage(std::uint32_t stage, Block& block)
{
    if (stage == 0)
        transform(block);
    else
        seal(block);
}

DELOS_CELL("fc_pipeline", "1.0.0", nullptr, nullptr);
