#!/usr/bin/env bash
# sdk_example_test.sh BUILD_DIR SOURCE_DIR: installs the cell SDK into a temporary prefix, builds
# examples/hello-service out of tree against nothing but that prefix, runs
# delos-sdk-example-tests on the objects it made (the guest's linker, on the host), then boots a
# guest under QEMU (KVM if usable, else TCG), pushes the service and its client over the control
# channel, swaps in the service's version 2 while the client is loaded, and checks the answers.
set -euo pipefail
build="$1"; source="$2"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --component sdk --prefix "$work/sdk" >/dev/null
# A fresh configure that can see only the SDK: no cache, no path into this tree.
cmake -S "$source/examples/hello-service" -B "$work/example" -G Ninja -DCMAKE_PREFIX_PATH="$work/sdk" >/dev/null
cmake --build "$work/example"
if grep -rq "$source/guest\|$source/cells" "$work/example/build.ninja"; then
  echo "FAIL: the example's build reaches into the source tree"; exit 1
fi
DELOS_SDK_EXAMPLE_BUILD="$work/example" "$build/bin/delos-sdk-example-tests"

if ! command -v qemu-system-x86_64 >/dev/null; then
  echo "SKIPPED (in-guest part): qemu-system-x86_64 is not installed"; exit 77
fi
accel=tcg
[ -r /dev/kvm ] && [ -w /dev/kvm ] && accel=kvm
socket="$work/control.sock"
qemu-system-x86_64 -accel "$accel" -M microvm,acpi=off -m 256M -nodefaults -no-user-config -nographic -no-reboot \
  -kernel "$build/guest/delos.elf" -initrd "$build/cells/cells.a" -append run -serial stdio -monitor none \
  -global virtio-mmio.force-legacy=false -device virtio-serial-device \
  -device virtserialport,name=org.delos.control.0,chardev=control \
  -chardev "socket,id=control,path=$socket,server=on,wait=off" >"$work/guest.log" 2>&1 &
qemu=$!
trap 'kill $qemu 2>/dev/null; wait $qemu 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 600); do grep -q "control: serving the channel" "$work/guest.log" && break; sleep 0.5; done
grep -q "control: serving the channel" "$work/guest.log" || { echo "FAIL: the guest never served its channel"; cat "$work/guest.log"; exit 1; }
chan() { "$build/bin/delos-chan" --socket "$socket" --timeout 120 "$@"; }
chan push "$work/example/hello_service.o" --load --no-progress
chan push "$work/example/hello_client.o" --load --no-progress
chan push "$work/example/v2/hello_service.o" --swap --no-progress | tee "$work/swap.out"
grep -q "swapped hello_service 1.0.0 (generation 1) -> 2.0.0 (generation 2)" "$work/swap.out" || { echo "FAIL: no swap"; exit 1; }
chan unload hello_client
chan push "$work/example/hello_client.o" --load --no-progress
sleep 1  # the console line of the client's init
for line in "hello_client: the service says: hello, delos" "hello_client: the service says: hello, delos (from version 2)"; do
  grep -qF "$line" "$work/guest.log" || { echo "FAIL: the guest never said: $line"; cat "$work/guest.log"; exit 1; }
done
echo "sdk example: built out of tree, linked on the host, and served, swapped and called in a guest ($accel)"
