# fuzz-virtio-queue: arbitrary guest memory and MMIO register traffic against the virtio-console device side.
delos_add_fuzzer(virtio-queue SOURCES
  tests/fuzz/virtio_queue_fuzzer.cpp
  vmm/guest_memory.cpp vmm/vmm_error.cpp
  vmm/virtio/queue.cpp vmm/virtio/mmio_transport.cpp vmm/virtio/console_device.cpp)
