# fuzz-mmio-location: virtio_mmio.device option values and PORT_NAME payloads as the guest parses them.
delos_add_fuzzer(mmio-location SOURCES
  tests/fuzz/mmio_location_fuzzer.cpp
  guest/drivers/virtio/mmio_device_location.cpp guest/lib/core/error_or.cpp)
