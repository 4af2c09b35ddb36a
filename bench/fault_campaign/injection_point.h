// injection_point.h: one fault of the campaign, described so it can be replayed alone: the
// workload, the fault type, the trigger (an instruction of the target cell, by section and
// offset, and which execution of it), and what is done there. Addresses are section-relative,
// so a point holds across boots whatever address the cell is linked at.
//
//   kv,skip,.text.fc_kvserver_serve+0x1a/4#3,-,-,0
//   kv,word,.text.fc_kvserver_serve+0x1a/4#1,data,.rodata._ZTVN5delos10StringSinkE+0x8,0x1234abcd
//   kv,bit,.text.fc_kvserver_serve+0x1a/4#2,stack,+0x18,17
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "guest_report.h"

namespace delos::fault_campaign {

enum class FaultType { Word, Bit, Skip };
enum class Region { None, Text, Data, Stack };

const char* fault_type_name(FaultType type);
std::optional<FaultType> fault_type_from_name(std::string_view name);
const char* region_name(Region region);

struct InjectionPoint {
    std::string workload;
    FaultType type = FaultType::Skip;
    Instruction trigger;           // stop before this instruction ...
    std::uint32_t trigger_hit = 1; // ... the n-th time it runs (1-based)
    Region region = Region::None;  // word and bit: where the 8-byte word is
    std::string section;           // text/data: the section; stack: empty (offset from %rsp)
    std::uint64_t offset = 0;
    std::uint64_t value = 0;       // word: the value written; bit: the bit flipped (0..63)
};

std::string format_point(const InjectionPoint& point);
std::optional<InjectionPoint> parse_point(std::string_view text, std::string& error);

// An instruction of the target that ran in the coverage run, and how often (capped).
struct CoveredInstruction {
    Instruction instruction;
    std::uint32_t hits = 0;
};

inline constexpr std::uint64_t kStackWindowBytes = 256;  // stack words are taken from [rsp, rsp+256)

// Regions a word may be taken from: text sections, data (writable data and constants, without
// the unwind tables and the cell record that the kernel reads).
bool is_injectable_data(const GuestSection& section);

// The point for one run, a pure function of `seed` (and the coverage and layout it chooses from).
std::optional<InjectionPoint> choose_point(std::uint64_t seed, const std::string& workload, FaultType type,
                                           const std::vector<CoveredInstruction>& covered,
                                           const std::vector<GuestSection>& sections);

std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t index);

} // namespace delos::fault_campaign
