// fw_cfg_fuzzer.cpp: fuzz-fw-cfg: the guest's parsers of fw_cfg bytes (directory count and
// entries, the VM generation). Whatever the bytes, what is accepted keeps the parser's promises.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "lib/fw_cfg/fw_cfg_directory.h"

using namespace delos;
using namespace delos::fw_cfg;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    auto count = parse_directory_count(ByteView(data, size));
    if (!count.is_error() && (size != 4 || count.value() > kMaxDirectoryEntries))
        std::abort();
    auto entry = parse_directory_entry(ByteView(data, size));
    if (!entry.is_error()) {
        StringView name = entry.value().name;
        if (size != kDirectoryEntryBytes || name.size() >= 56 || name.data() != reinterpret_cast<const char*>(data) + 8)
            std::abort();
        for (std::size_t i = 0; i < name.size(); ++i)
            if (name[i] == 0)
                std::abort();
    }
    auto generation = parse_generation(ByteView(data, size));
    if (!generation.is_error()) {
        StringView value = generation.value();
        if (value.empty() || value.size() > kMaxGenerationBytes || value.data() != reinterpret_cast<const char*>(data))
            std::abort();
        for (std::size_t i = 0; i < value.size(); ++i) {
            char c = value[i];
            bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
            if (!plain)
                std::abort();
        }
    }
    return 0;
}
