// vm_test_support.h: paths to the built artefacts and one-call VM runs for integration tests.
#pragma once

#include <gtest/gtest.h>

#include <iostream>
#include <string>
#include <vector>

#include "background_process.h"
#include "child_process.h"
#include "skip_unless.h"

namespace delos::test {

inline std::string build_path(const std::string& relative) { return std::string(DELOS_BUILD_DIR) + "/" + relative; }
inline std::string vmm_path() { return build_path("bin/delos-vmm"); }
inline std::string kernel_path() { return build_path("guest/delos.elf"); }

inline ChildResult run_vmm(std::vector<std::string> arguments, std::chrono::milliseconds limit = std::chrono::seconds(120))
{
    arguments.insert(arguments.begin(), vmm_path());
    return run_child(arguments, {limit, "delos: ready"});
}

// QEMU's accelerator for guests under test: KVM where /dev/kvm is usable, else TCG (this host and
// CI have no KVM). Say which in the test output (qemu_accelerator_note).
inline const char* qemu_accelerator() { return kvm_available() ? "kvm" : "tcg"; }
inline std::string qemu_accelerator_note(const std::string& machine)
{
    std::string accel = qemu_accelerator();
    return "[ accel    ] qemu-system-x86_64 -M " + machine + " -accel " + accel +
           (accel == "tcg" ? " (no usable /dev/kvm: TCG emulation)" : "");
}

// QEMU microvm with the boot cells as initrd and the control channel as virtserialport
// org.delos.control.0 on a chardev unix socket at `socket` (what deploy/ and the docs describe).
// ACPI off: QEMU then announces the virtio-mmio devices on the kernel command line.
inline std::vector<std::string> qemu_microvm_channel_command(const std::string& socket, const std::string& append = "run")
{
    return {"qemu-system-x86_64", "-accel", qemu_accelerator(), "-M", "microvm,acpi=off", "-m", "256M", "-nodefaults",
            "-no-user-config", "-nographic", "-no-reboot", "-kernel", kernel_path(), "-initrd",
            build_path("cells/cells.a"), "-append", append, "-serial", "stdio", "-monitor", "none", "-global",
            "virtio-mmio.force-legacy=false", "-device", "virtio-serial-device", "-device",
            "virtserialport,name=org.delos.control.0,chardev=control", "-chardev",
            "socket,id=control,path=" + socket + ",server=on,wait=off"};
}

} // namespace delos::test
