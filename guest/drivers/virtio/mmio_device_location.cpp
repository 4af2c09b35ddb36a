// mmio_device_location.cpp: strict parsing of virtio_mmio.device option values.
#include "drivers/virtio/mmio_device_location.h"

namespace delos::virtio {

namespace {

constexpr std::uint64_t kMinimumWindow = 0x200;  // the registers and some config space

ErrorOr<std::uint64_t> parse_number(StringView text)
{
    if (text.empty())
        return Error::make(ErrorCode::Malformed, "virtio_mmio.device: a number is missing");
    std::uint64_t base = 10;
    std::size_t i = 0;
    if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
        base = 16;
        i = 2;
    }
    std::uint64_t value = 0;
    for (; i < text.size(); ++i) {
        char c = text[i];
        std::uint64_t digit;
        if (c >= '0' && c <= '9')
            digit = static_cast<std::uint64_t>(c - '0');
        else if (base == 16 && c >= 'a' && c <= 'f')
            digit = static_cast<std::uint64_t>(c - 'a' + 10);
        else if (base == 16 && c >= 'A' && c <= 'F')
            digit = static_cast<std::uint64_t>(c - 'A' + 10);
        else
            return Error::make(ErrorCode::Malformed, "virtio_mmio.device: not a digit", static_cast<std::uint8_t>(c));
        if (value > (~0ull - digit) / base)
            return Error::make(ErrorCode::Overflow, "virtio_mmio.device: number too large");
        value = value * base + digit;
    }
    return value;
}

} // namespace

ErrorOr<MmioDeviceLocation> parse_mmio_device_location(StringView text)
{
    std::size_t at = text.find('@');
    if (at == StringView::npos)
        return Error::make(ErrorCode::Malformed, "virtio_mmio.device: expected <size>@<address>:<irq>, no '@'");
    std::size_t colon = text.find(':', at + 1);
    if (colon == StringView::npos)
        return Error::make(ErrorCode::Malformed, "virtio_mmio.device: expected <size>@<address>:<irq>, no ':'");

    StringView size_text = text.substr(0, at);
    std::uint64_t multiplier = 1;
    if (!size_text.empty() && (size_text[size_text.size() - 1] == 'K' || size_text[size_text.size() - 1] == 'k'))
        multiplier = 1024;
    else if (!size_text.empty() && (size_text[size_text.size() - 1] == 'M' || size_text[size_text.size() - 1] == 'm'))
        multiplier = 1024 * 1024;
    if (multiplier != 1)
        size_text = size_text.substr(0, size_text.size() - 1);

    MmioDeviceLocation location{};
    std::uint64_t size = TRY(parse_number(size_text));
    if (size > (~0ull) / multiplier)
        return Error::make(ErrorCode::Overflow, "virtio_mmio.device: size too large");
    location.size = size * multiplier;
    location.base = TRY(parse_number(text.substr(at + 1, colon - at - 1)));
    std::uint64_t irq = TRY(parse_number(text.substr(colon + 1)));

    if (location.size < kMinimumWindow)
        return Error::make(ErrorCode::OutOfRange, "virtio_mmio.device: window smaller than the register file",
                           location.size);
    // QEMU microvm packs its windows 0x200 apart inside one page (512@0xfeb00e00): sub-page
    // windows are fine, but the 32-bit registers need 4-byte alignment.
    if (location.base % 4 != 0)
        return Error::make(ErrorCode::Malformed, "virtio_mmio.device: address is not 4-byte aligned", location.base);
    if (location.base + location.size < location.base || location.base + location.size > (1ull << 46))
        return Error::make(ErrorCode::OutOfRange, "virtio_mmio.device: window outside the address space",
                           location.base);
    if (irq >= 24)
        return Error::make(ErrorCode::OutOfRange, "virtio_mmio.device: irq is not an IOAPIC pin (0..23)", irq);
    location.irq = static_cast<std::uint32_t>(irq);
    return location;
}

} // namespace delos::virtio
