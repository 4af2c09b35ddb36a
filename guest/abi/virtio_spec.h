// virtio_spec.h: the numbers of the virtio 1.2 specification both sides use: the guest's drivers
// (guest/drivers/virtio) and delos-vmm's devices (vmm/virtio). One copy, so the two cannot
// drift; section numbers refer to the specification.
#pragma once

#include <cstdint>

namespace delos::virtio::spec {

// Feature bits every device shares (§6).
inline constexpr std::uint64_t kFeatureIndirectDescriptors = 1ull << 28;
inline constexpr std::uint64_t kFeatureVersion1 = 1ull << 32;

// Device status (§2.1).
inline constexpr std::uint32_t kStatusAcknowledge = 1;
inline constexpr std::uint32_t kStatusDriver = 2;
inline constexpr std::uint32_t kStatusDriverOk = 4;
inline constexpr std::uint32_t kStatusFeaturesOk = 8;
inline constexpr std::uint32_t kStatusNeedsReset = 0x40;
inline constexpr std::uint32_t kStatusFailed = 0x80;

// Interrupt status bits (§4.2.2 InterruptStatus, §4.1.4.5 ISR).
inline constexpr std::uint32_t kInterruptUsedBuffer = 1;
inline constexpr std::uint32_t kInterruptConfigChange = 2;

// Split virtqueue flags (§2.7.5, §2.7.6, §2.7.8).
inline constexpr std::uint16_t kDescriptorFlagNext = 1;
inline constexpr std::uint16_t kDescriptorFlagWrite = 2;
inline constexpr std::uint16_t kDescriptorFlagIndirect = 4;
inline constexpr std::uint16_t kAvailFlagNoInterrupt = 1;
inline constexpr std::uint16_t kUsedFlagNoNotify = 1;

// virtio-mmio registers (§4.2.2), offsets in the device's window.
namespace mmio {
inline constexpr std::uint32_t kMagicValue = 0x000;
inline constexpr std::uint32_t kVersion = 0x004;
inline constexpr std::uint32_t kDeviceId = 0x008;
inline constexpr std::uint32_t kVendorId = 0x00c;
inline constexpr std::uint32_t kDeviceFeatures = 0x010;
inline constexpr std::uint32_t kDeviceFeaturesSel = 0x014;
inline constexpr std::uint32_t kDriverFeatures = 0x020;
inline constexpr std::uint32_t kDriverFeaturesSel = 0x024;
inline constexpr std::uint32_t kQueueSel = 0x030;
inline constexpr std::uint32_t kQueueNumMax = 0x034;
inline constexpr std::uint32_t kQueueNum = 0x038;
inline constexpr std::uint32_t kQueueReady = 0x044;
inline constexpr std::uint32_t kQueueNotify = 0x050;
inline constexpr std::uint32_t kInterruptStatus = 0x060;
inline constexpr std::uint32_t kInterruptAck = 0x064;
inline constexpr std::uint32_t kStatus = 0x070;
inline constexpr std::uint32_t kQueueDescLow = 0x080;
inline constexpr std::uint32_t kQueueDescHigh = 0x084;
inline constexpr std::uint32_t kQueueDriverLow = 0x090;
inline constexpr std::uint32_t kQueueDriverHigh = 0x094;
inline constexpr std::uint32_t kQueueDeviceLow = 0x0a0;
inline constexpr std::uint32_t kQueueDeviceHigh = 0x0a4;
inline constexpr std::uint32_t kShmSel = 0x0ac;
inline constexpr std::uint32_t kShmLenLow = 0x0b0;
inline constexpr std::uint32_t kShmLenHigh = 0x0b4;
inline constexpr std::uint32_t kShmBaseLow = 0x0b8;
inline constexpr std::uint32_t kShmBaseHigh = 0x0bc;
inline constexpr std::uint32_t kConfigGeneration = 0x0fc;
inline constexpr std::uint32_t kConfig = 0x100;

inline constexpr std::uint32_t kMagic = 0x74726976;  // "virt"
inline constexpr std::uint32_t kModernVersion = 2;   // version 1 is the legacy interface
} // namespace mmio

// virtio-console (§5.3).
namespace console {
inline constexpr std::uint32_t kDeviceType = 3;
inline constexpr std::uint64_t kFeatureMultiport = 1ull << 1;
// Control messages (§5.3.6.2): struct virtio_console_control { le32 id; le16 event; le16 value; }.
inline constexpr std::uint16_t kDeviceReady = 0, kDeviceAdd = 1, kDeviceRemove = 2, kPortReady = 3, kConsolePort = 4,
                               kResize = 5, kPortOpen = 6, kPortName = 7;
inline constexpr std::uint32_t kControlHeaderBytes = 8;
// Queue numbers: port 0 receive/transmit, control receive/transmit, then port n >= 1 at 4 + 2 (n - 1).
inline constexpr std::uint16_t kPort0Receive = 0, kPort0Transmit = 1, kControlReceive = 2, kControlTransmit = 3;
constexpr std::uint16_t receive_queue_of_port(std::uint32_t port) { return port == 0 ? 0 : static_cast<std::uint16_t>(4 + 2 * (port - 1)); }
} // namespace console

} // namespace delos::virtio::spec
