// intx_routing.cpp: the PIIX and ICH9 INTx-to-GSI rules QEMU implements (hw/isa/lpc_ich9.c, piix).
#include "lib/pci/intx_routing.h"

namespace delos::pci {

Chipset identify_chipset(std::uint16_t vendor_id, std::uint16_t device_id)
{
    if (vendor_id != 0x8086)
        return Chipset::Unknown;
    if (device_id == 0x1237)
        return Chipset::Piix;
    if (device_id == 0x29c0)
        return Chipset::Ich9;
    return Chipset::Unknown;
}

const char* chipset_name(Chipset chipset)
{
    switch (chipset) {
    case Chipset::Piix: return "i440FX/PIIX";
    case Chipset::Ich9: return "Q35/ICH9";
    case Chipset::Unknown: break;
    }
    return "unknown";
}

ErrorOr<IntxRoute> route_intx(Chipset chipset, RootInterrupt interrupt, std::uint8_t interrupt_line)
{
    if (interrupt.pin < 1 || interrupt.pin > 4)
        return Error::make(ErrorCode::NotFound, "pci: the function has no INTx pin");
    if (interrupt.root_device >= kDevicesPerBus)
        return Error::make(ErrorCode::OutOfRange, "pci: root device number out of range", interrupt.root_device);
    IntxRoute route;
    unsigned intx = interrupt.pin - 1u;
    switch (chipset) {
    case Chipset::Ich9: {
        // PIRQ A..H drive GSI 16..23 in APIC mode. Slots 0..24: (slot + INTx) % 4 → PIRQ E..H;
        // slots 25..31 follow the D25IR..D31IR registers at their reset value (INTA..D → PIRQ A..D),
        // except slot 30 (DMI-to-PCI bridge): PIRQ E..H.
        unsigned slot = interrupt.root_device;
        unsigned pirq = slot <= 24 ? (slot + intx) % 4 + 4 : (slot == 30 ? intx + 4 : intx);
        route.gsi = 16 + pirq;
        return route;
    }
    case Chipset::Piix:
    case Chipset::Unknown:
        // ISA IRQs 1..15 except the cascade (2); 0 and 0xff mean "not routed by the firmware".
        if (interrupt_line == 0 || interrupt_line == 2 || interrupt_line > 15)
            return Error::make(ErrorCode::NotFound, "pci: the firmware routed no IRQ to the function (Interrupt Line)",
                               interrupt_line);
        route.gsi = interrupt_line;
        return route;
    }
    return Error::make(ErrorCode::Unsupported, "pci: unknown chipset");
}

} // namespace delos::pci
