// enumeration.cpp: the breadth-first bus walk and the INTx swizzle up to the root bus.
#include "lib/pci/enumeration.h"

namespace delos::pci {

namespace {

Function read_function(ConfigSpace& config, Address address, std::uint16_t vendor)
{
    Function f;
    f.address = address;
    f.vendor_id = vendor;
    f.device_id = config.read16(address, reg::kDeviceId);
    std::uint32_t class_register = config.read32(address, reg::kRevision);
    f.revision = static_cast<std::uint8_t>(class_register);
    f.prog_if = static_cast<std::uint8_t>(class_register >> 8);
    f.subclass = static_cast<std::uint8_t>(class_register >> 16);
    f.class_code = static_cast<std::uint8_t>(class_register >> 24);
    f.header_type = config.read8(address, reg::kHeaderType) & kHeaderTypeMask;
    f.interrupt_line = config.read8(address, reg::kInterruptLine);
    f.interrupt_pin = config.read8(address, reg::kInterruptPin);
    if (f.interrupt_pin > 4)
        f.interrupt_pin = 0;  // reserved values: treat as no pin
    if (f.is_bridge())
        f.secondary_bus = config.read8(address, reg::kSecondaryBus);
    return f;
}

} // namespace

EnumerationResult enumerate(ConfigSpace& config, Function* out, std::size_t capacity, EnumerationLimits limits)
{
    EnumerationResult result;
    if (limits.last_bus < limits.first_bus)
        return result;
    // Buses to scan, each with the index of the bridge leading to it. Each bus enters once.
    struct Pending {
        std::uint8_t bus;
        std::size_t parent;
    };
    Pending queue[256];
    std::size_t queue_head = 0, queue_tail = 0;
    bool queued[256] = {};
    queue[queue_tail++] = {limits.first_bus, kNoParent};
    queued[limits.first_bus] = true;

    while (queue_head < queue_tail) {
        Pending pending = queue[queue_head++];
        for (std::uint8_t device = 0; device < kDevicesPerBus; ++device) {
            std::uint8_t functions = 1;
            for (std::uint8_t function = 0; function < functions; ++function) {
                Address address{pending.bus, device, function};
                std::uint16_t vendor = config.read16(address, reg::kVendorId);
                if (vendor == kNoVendor || vendor == 0)
                    continue;  // 0: some broken bridges answer absent functions with zeros
                if (function == 0 && (config.read8(address, reg::kHeaderType) & kHeaderMultifunction))
                    functions = kFunctionsPerDevice;
                Function found = read_function(config, address, vendor);
                found.parent = pending.parent;
                std::size_t index = result.count;
                if (result.count < capacity)
                    out[result.count++] = found;
                else
                    ++result.dropped;
                if (!found.is_bridge())
                    continue;
                std::uint8_t secondary = found.secondary_bus;
                if (index >= capacity || secondary <= pending.bus || secondary < limits.first_bus ||
                    secondary > limits.last_bus || queued[secondary]) {
                    ++result.bad_bridges;
                    continue;
                }
                queued[secondary] = true;
                queue[queue_tail++] = {secondary, index};
            }
        }
    }
    return result;
}

RootInterrupt root_interrupt(const Function* functions, std::size_t count, std::size_t index)
{
    if (index >= count || functions[index].interrupt_pin == 0)
        return {};
    std::uint8_t pin = functions[index].interrupt_pin;  // 1..4
    std::size_t current = index;
    // Parents always precede children in the output, so the walk moves strictly down the
    // indices and ends; the step bound only guards against a corrupted array.
    for (std::size_t steps = 0; functions[current].parent != kNoParent && steps < count; ++steps) {
        pin = static_cast<std::uint8_t>((pin - 1 + functions[current].address.device) % 4 + 1);
        std::size_t parent = functions[current].parent;
        if (parent >= current)
            return {};
        current = parent;
    }
    return {pin, functions[current].address.device};
}

} // namespace delos::pci
