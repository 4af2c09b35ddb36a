// injection_point.cpp: choosing, printing and parsing injection points.
#include "injection_point.h"

#include <cstdio>

namespace delos::fault_campaign {

namespace {

struct Random {
    std::uint64_t state;
    std::uint64_t next()
    {
        std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    std::uint64_t below(std::uint64_t bound) { return bound == 0 ? 0 : next() % bound; }
};

std::string hex(std::uint64_t value)
{
    char text[32];
    std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(value));
    return text;
}

std::vector<std::string_view> split(std::string_view text, char separator)
{
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    for (;;) {
        std::size_t end = text.find(separator, start);
        parts.push_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
        if (end == std::string_view::npos)
            return parts;
        start = end + 1;
    }
}

std::optional<std::uint64_t> number(std::string_view text)
{
    int base = 10;
    if (text.starts_with("0x")) {
        base = 16;
        text.remove_prefix(2);
    }
    if (text.empty() || text.size() > 20)
        return std::nullopt;
    std::uint64_t value = 0;
    for (char c : text) {
        int digit = (c >= '0' && c <= '9') ? c - '0' : (base == 16 && c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
        if (digit < 0)
            return std::nullopt;
        if (value > (UINT64_MAX - static_cast<std::uint64_t>(digit)) / static_cast<std::uint64_t>(base))
            return std::nullopt;
        value = value * static_cast<std::uint64_t>(base) + static_cast<std::uint64_t>(digit);
    }
    return value;
}

bool valid_section_name(std::string_view name)
{
    if (name.empty() || name.size() > 512)
        return false;
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '$';
        if (!ok)
            return false;
    }
    return true;
}

// "SECTION+0xOFF" (section may be empty for the stack).
bool parse_location(std::string_view text, std::string& section, std::uint64_t& offset)
{
    std::size_t plus = text.rfind('+');
    if (plus == std::string_view::npos)
        return false;
    auto value = number(text.substr(plus + 1));
    if (!value)
        return false;
    section = std::string(text.substr(0, plus));
    offset = *value;
    return true;
}

} // namespace

const char* fault_type_name(FaultType type)
{
    switch (type) {
    case FaultType::Word: return "word";
    case FaultType::Bit: return "bit";
    case FaultType::Skip: return "skip";
    }
    return "?";
}

std::optional<FaultType> fault_type_from_name(std::string_view name)
{
    if (name == "word")
        return FaultType::Word;
    if (name == "bit")
        return FaultType::Bit;
    if (name == "skip")
        return FaultType::Skip;
    return std::nullopt;
}

const char* region_name(Region region)
{
    switch (region) {
    case Region::None: return "-";
    case Region::Text: return "text";
    case Region::Data: return "data";
    case Region::Stack: return "stack";
    }
    return "?";
}

std::string format_point(const InjectionPoint& point)
{
    std::string text = point.workload + "," + fault_type_name(point.type) + "," + point.trigger.section + "+"
                       + hex(point.trigger.offset) + "/" + std::to_string(point.trigger.length) + "#"
                       + std::to_string(point.trigger_hit) + "," + region_name(point.region) + ",";
    if (point.region == Region::None)
        text += "-,0";
    else
        text += point.section + "+" + hex(point.offset) + "," + (point.type == FaultType::Bit ? std::to_string(point.value) : hex(point.value));
    return text;
}

std::optional<InjectionPoint> parse_point(std::string_view text, std::string& error)
{
    auto fields = split(text, ',');
    if (fields.size() != 6) {
        error = "an injection point has 6 comma-separated fields: workload,type,trigger,region,location,value";
        return std::nullopt;
    }
    InjectionPoint point;
    point.workload = std::string(fields[0]);
    if (point.workload.empty() || point.workload.size() > 32) {
        error = "bad workload name";
        return std::nullopt;
    }
    auto type = fault_type_from_name(fields[1]);
    if (!type) {
        error = "fault type must be word, bit or skip";
        return std::nullopt;
    }
    point.type = *type;
    // trigger: SECTION+0xOFF/LEN#HIT
    std::string_view trigger = fields[2];
    std::size_t slash = trigger.rfind('/');
    std::size_t hash = trigger.rfind('#');
    if (slash == std::string_view::npos || hash == std::string_view::npos || hash < slash) {
        error = "trigger must be SECTION+0xOFFSET/LENGTH#HIT";
        return std::nullopt;
    }
    auto length = number(trigger.substr(slash + 1, hash - slash - 1));
    auto hit = number(trigger.substr(hash + 1));
    if (!length || *length == 0 || *length > 15 || !hit || *hit == 0 || *hit > 1'000'000
        || !parse_location(trigger.substr(0, slash), point.trigger.section, point.trigger.offset)
        || !valid_section_name(point.trigger.section)) {
        error = "trigger must be SECTION+0xOFFSET/LENGTH#HIT (length 1..15, hit >= 1)";
        return std::nullopt;
    }
    point.trigger.length = static_cast<std::uint32_t>(*length);
    point.trigger_hit = static_cast<std::uint32_t>(*hit);
    std::string_view region = fields[3];
    auto value = number(fields[5]);
    if (!value) {
        error = "bad value";
        return std::nullopt;
    }
    point.value = *value;
    if (region == "-") {
        if (point.type != FaultType::Skip) {
            error = "word and bit faults need a region (text, data or stack)";
            return std::nullopt;
        }
        return point;
    }
    if (point.type == FaultType::Skip) {
        error = "a skip has no region (use -)";
        return std::nullopt;
    }
    if (region == "text")
        point.region = Region::Text;
    else if (region == "data")
        point.region = Region::Data;
    else if (region == "stack")
        point.region = Region::Stack;
    else {
        error = "region must be text, data, stack or -";
        return std::nullopt;
    }
    if (!parse_location(fields[4], point.section, point.offset)
        || (point.region == Region::Stack ? !point.section.empty() || point.offset + 8 > kStackWindowBytes
                                          : !valid_section_name(point.section))) {
        error = "location must be SECTION+0xOFFSET (stack: +0xOFFSET below 256)";
        return std::nullopt;
    }
    if (point.type == FaultType::Bit && point.value > 63) {
        error = "a bit flip's value is the bit, 0..63";
        return std::nullopt;
    }
    return point;
}

bool is_injectable_data(const GuestSection& section)
{
    if (section.kind != "data" && section.kind != "rodata")
        return false;
    if (section.size < 8)
        return false;
    return !(section.name == ".eh_frame" || section.name.starts_with(".gcc_except_table") || section.name == ".delos.cell"
             || section.name == ".delos.cell.state");
}

std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t index)
{
    Random random{seed ^ (index * 0xd1b54a32d192ed03ull)};
    random.next();
    return random.next();
}

std::optional<InjectionPoint> choose_point(std::uint64_t seed, const std::string& workload, FaultType type,
                                           const std::vector<CoveredInstruction>& covered,
                                           const std::vector<GuestSection>& sections)
{
    if (covered.empty())
        return std::nullopt;
    Random random{seed};
    InjectionPoint point;
    point.workload = workload;
    point.type = type;
    const CoveredInstruction& trigger = covered[random.below(covered.size())];
    point.trigger = trigger.instruction;
    point.trigger_hit = 1 + static_cast<std::uint32_t>(random.below(trigger.hits ? trigger.hits : 1));
    if (type == FaultType::Skip)
        return point;

    std::vector<const GuestSection*> text, data;
    std::uint64_t text_bytes = 0, data_bytes = 0;
    for (const GuestSection& section : sections) {
        if (section.kind == "text" && section.size >= 8) {
            text.push_back(&section);
            text_bytes += section.size / 8;
        } else if (is_injectable_data(section)) {
            data.push_back(&section);
            data_bytes += section.size / 8;
        }
    }
    std::vector<Region> regions{Region::Stack};
    if (text_bytes)
        regions.push_back(Region::Text);
    if (data_bytes)
        regions.push_back(Region::Data);
    point.region = regions[random.below(regions.size())];
    if (point.region == Region::Stack) {
        point.offset = 8 * random.below(kStackWindowBytes / 8);
    } else {
        // A word chosen uniformly over the region's words, so bigger sections get more faults.
        const auto& pool = point.region == Region::Text ? text : data;
        std::uint64_t word = random.below(point.region == Region::Text ? text_bytes : data_bytes);
        for (const GuestSection* section : pool) {
            if (word < section->size / 8) {
                point.section = section->name;
                point.offset = word * 8;
                break;
            }
            word -= section->size / 8;
        }
    }
    point.value = type == FaultType::Bit ? random.below(64) : random.next();
    return point;
}

} // namespace delos::fault_campaign
