// legacy_pic.cpp: the ICW1-ICW4 initialisation sequence, then a full mask.
#include "arch/x86_64/legacy_pic.h"

#include "arch/x86_64/cpu.h"

namespace delos::legacy_pic {

namespace {
constexpr std::uint16_t kPrimaryCommand = 0x20, kPrimaryData = 0x21;
constexpr std::uint16_t kSecondaryCommand = 0xa0, kSecondaryData = 0xa1;
constexpr std::uint8_t kInitialise = 0x11;  // ICW1: edge, cascade, ICW4 follows
constexpr std::uint8_t kPrimaryVectorBase = 0x20, kSecondaryVectorBase = 0x28;
} // namespace

void remap_and_mask()
{
    cpu::out8(kPrimaryCommand, kInitialise);
    cpu::out8(kSecondaryCommand, kInitialise);
    cpu::out8(kPrimaryData, kPrimaryVectorBase);
    cpu::out8(kSecondaryData, kSecondaryVectorBase);
    cpu::out8(kPrimaryData, 0x04);    // ICW3: secondary on line 2
    cpu::out8(kSecondaryData, 0x02);  // ICW3: cascade identity
    cpu::out8(kPrimaryData, 0x01);    // ICW4: 8086 mode
    cpu::out8(kSecondaryData, 0x01);
    cpu::out8(kPrimaryData, 0xff);
    cpu::out8(kSecondaryData, 0xff);
}

} // namespace delos::legacy_pic
