// relocation.cpp: the value computation and overflow checks for each supported x86-64 type.
#include "linker/relocation.h"

#include "lib/elf/elf64.h"

namespace delos::link {

using namespace elf;

bool is_supported_relocation(std::uint32_t type)
{
    switch (type) {
    case R_X86_64_NONE:
    case R_X86_64_64:
    case R_X86_64_PC32:
    case R_X86_64_PLT32:
    case R_X86_64_32:
    case R_X86_64_32S:
    case R_X86_64_PC64:
    case R_X86_64_GOTPCREL:
    case R_X86_64_GOTPCRELX:
    case R_X86_64_REX_GOTPCRELX:
        return true;
    default:
        return false;
    }
}

bool relocation_uses_got(std::uint32_t type)
{
    return type == R_X86_64_GOTPCREL || type == R_X86_64_GOTPCRELX || type == R_X86_64_REX_GOTPCRELX;
}

const char* relocation_type_name(std::uint32_t type)
{
    switch (type) {
    case R_X86_64_NONE: return "R_X86_64_NONE";
    case R_X86_64_64: return "R_X86_64_64";
    case R_X86_64_PC32: return "R_X86_64_PC32";
    case R_X86_64_GOT32: return "R_X86_64_GOT32";
    case R_X86_64_PLT32: return "R_X86_64_PLT32";
    case R_X86_64_GOTPCREL: return "R_X86_64_GOTPCREL";
    case R_X86_64_32: return "R_X86_64_32";
    case R_X86_64_32S: return "R_X86_64_32S";
    case R_X86_64_PC64: return "R_X86_64_PC64";
    case R_X86_64_GOTPCRELX: return "R_X86_64_GOTPCRELX";
    case R_X86_64_REX_GOTPCRELX: return "R_X86_64_REX_GOTPCRELX";
    default: return "unknown";
    }
}

namespace {

// Modular arithmetic on purpose: x86-64 addresses wrap, and the range checks below decide
// whether the wrapped result is what the field can hold.
std::uint64_t plus(std::uint64_t base, std::int64_t addend) { return base + static_cast<std::uint64_t>(addend); }

bool fits_signed_32(std::uint64_t value)
{
    auto as_signed = static_cast<std::int64_t>(value);
    return as_signed >= -(std::int64_t(1) << 31) && as_signed < (std::int64_t(1) << 31);
}

void store_32(std::uint8_t* place, std::uint64_t value)
{
    auto field = static_cast<std::uint32_t>(value);
    __builtin_memcpy(place, &field, sizeof field);
}

void store_64(std::uint8_t* place, std::uint64_t value) { __builtin_memcpy(place, &value, sizeof value); }

} // namespace

ErrorOr<void> apply_relocation(const RelocationSite& site)
{
    std::uint64_t s_plus_a = plus(site.symbol_address, site.addend);
    switch (site.type) {
    case R_X86_64_NONE:
        return {};
    case R_X86_64_64:
        store_64(site.place, s_plus_a);
        return {};
    case R_X86_64_PC64:
        store_64(site.place, s_plus_a - site.place_address);
        return {};
    case R_X86_64_PC32:
    case R_X86_64_PLT32: {  // no PLT: every cell lives in the low 2 GiB, so calls go direct
        std::uint64_t value = s_plus_a - site.place_address;
        if (!fits_signed_32(value))
            return Error::make(ErrorCode::Overflow, "PC-relative relocation does not fit in a signed 32-bit field", value);
        store_32(site.place, value);
        return {};
    }
    case R_X86_64_32:
        if (s_plus_a > 0xffffffffull)
            return Error::make(ErrorCode::Overflow, "R_X86_64_32 value does not fit in an unsigned 32-bit field", s_plus_a);
        store_32(site.place, s_plus_a);
        return {};
    case R_X86_64_32S:
        if (!fits_signed_32(s_plus_a))
            return Error::make(ErrorCode::Overflow, "R_X86_64_32S value does not fit in a signed 32-bit field", s_plus_a);
        store_32(site.place, s_plus_a);
        return {};
    case R_X86_64_GOTPCREL:
    case R_X86_64_GOTPCRELX:
    case R_X86_64_REX_GOTPCRELX: {
        if (site.got_slot_address == 0)
            return Error::make(ErrorCode::Internal, "GOT relocation applied without a GOT slot", site.type);
        std::uint64_t value = plus(site.got_slot_address, site.addend) - site.place_address;
        if (!fits_signed_32(value))
            return Error::make(ErrorCode::Overflow, "GOT-relative relocation does not fit in a signed 32-bit field", value);
        store_32(site.place, value);
        return {};
    }
    default:
        return Error::make(ErrorCode::Unsupported, "unsupported x86-64 relocation type", site.type);
    }
}

} // namespace delos::link
