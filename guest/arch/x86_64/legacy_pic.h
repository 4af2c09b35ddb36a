// legacy_pic.h: the 8259 PIC pair. Delos uses the local APIC and IOAPIC; firmware (SeaBIOS under
// QEMU -M pc) leaves the PIC delivering the timer on vector 8, which would look like a double
// fault. We move it out of the exception range and mask every line.
#pragma once

namespace delos::legacy_pic {

// Remaps the PICs to vectors 0x20-0x2f and masks all their inputs.
void remap_and_mask();

} // namespace delos::legacy_pic
