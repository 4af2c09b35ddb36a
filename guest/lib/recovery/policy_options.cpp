// policy_options.cpp: recovery.* options into a RecoveryPolicy.
#include "lib/recovery/policy_options.h"

namespace delos::recovery {

namespace {

// A decimal number of at most 15 digits (no sign, no overflow).
bool parse_decimal(StringView text, std::uint64_t& value)
{
    if (text.empty() || text.size() > 15)
        return false;
    value = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] < '0' || text[i] > '9')
            return false;
        value = value * 10 + static_cast<std::uint64_t>(text[i] - '0');
    }
    return true;
}

} // namespace

ErrorOr<RecoveryPolicy> policy_from_command_line(const CommandLine& command_line, RecoveryPolicy base)
{
    struct Option {
        const char* key;
        std::uint64_t scale;  // ms options are kept in ns
        std::uint64_t* wide;
        std::uint32_t* narrow;
    };
    const Option options[] = {
        {"recovery.window_ms", 1'000'000, &base.window_ns, nullptr},
        {"recovery.reload_after_faults", 1, nullptr, &base.reload_after_faults},
        {"recovery.max_reloads", 1, nullptr, &base.max_reloads},
        {"recovery.rollback_window_ms", 1'000'000, &base.rollback_window_ns, nullptr},
        {"recovery.max_restarts", 1, nullptr, &base.max_restarts},
    };
    for (const Option& option : options) {
        StringView text;
        if (!command_line.option(StringView(option.key), text))
            continue;
        std::uint64_t value = 0;
        if (!parse_decimal(text, value) || (option.narrow && value > 0xffff'ffffu))
            return Error::make(ErrorCode::InvalidArgument, "a recovery option is not a decimal number")
                .with_detail(StringView(option.key));
        if (option.wide)
            *option.wide = value * option.scale;
        else
            *option.narrow = static_cast<std::uint32_t>(value);
    }
    TRY(validate_policy(base));
    return base;
}

} // namespace delos::recovery
