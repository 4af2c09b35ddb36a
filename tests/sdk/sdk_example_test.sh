#!/usr/bin/env bash
# sdk_example_test.sh BUILD_DIR SOURCE_DIR: installs the cell SDK into a temporary prefix, builds
# examples/hello-service out of tree against nothing but that prefix, and runs
# delos-sdk-example-tests on the objects it made.
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
