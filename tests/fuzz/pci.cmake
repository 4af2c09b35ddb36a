# fuzz-pci: PCI configuration space (enumeration, capabilities, BARs, virtio-pci layout, INTx
# routing), the virtio-pci transport's bring-up against device memory, and ACPI RSDP/XSDT/MCFG.
delos_add_fuzzer(pci SOURCES
  tests/fuzz/pci_fuzzer.cpp
  guest/lib/pci/bars.cpp
  guest/lib/pci/capabilities.cpp
  guest/lib/pci/enumeration.cpp
  guest/lib/pci/intx_routing.cpp
  guest/lib/pci/virtio_layout.cpp
  guest/lib/acpi/tables.cpp
  guest/lib/acpi/mcfg.cpp
  guest/drivers/virtio/pci_transport.cpp
  guest/lib/core/error_or.cpp)
