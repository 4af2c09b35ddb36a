#!/usr/bin/env bash
# deb_packages_test.sh BUILD_DIR SOURCE_DIR: cpack makes the Debian packages, `apt-get install
# ./*.deb` installs them on this system, the installed programs run from their installed paths,
# the installed SDK builds examples/hello-service, and `apt-get remove` takes every file away.
# It changes the system's packages, so it runs only where that is allowed: in CI (CI=true) or
# with DELOS_TEST_PACKAGES=1, as root. Elsewhere it says so and is reported as skipped (77).
set -euo pipefail
build="$1"; source="$2"
if [ "${CI:-}" != "true" ] && [ "${DELOS_TEST_PACKAGES:-}" != "1" ]; then
  echo "SKIPPED: installs system packages; runs in CI (CI=true) or with DELOS_TEST_PACKAGES=1"; exit 77
fi
if [ "$(id -u)" -ne 0 ]; then echo "SKIPPED: installing packages needs root"; exit 77; fi

work=$(mktemp -d)
packages=()
cleanup() {
  [ ${#packages[@]} -eq 0 ] || apt-get remove -y -qq "${packages[@]}" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

(cd "$build" && cpack -G DEB -B "$work/debs" >/dev/null) || fail "cpack"
ls "$work/debs"/*.deb
for deb in "$work/debs"/*.deb; do packages+=("$(dpkg-deb -f "$deb" Package)"); done
for wanted in delos-vmm delos-cell-sdk delos-guest; do
  [[ " ${packages[*]} " == *" $wanted "* ]] || fail "no $wanted package (made: ${packages[*]})"
done
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq "$work/debs"/*.deb >/dev/null || fail "apt-get install of ${packages[*]}"

/usr/bin/delos-vmm --help | grep -q "usage" || fail "delos-vmm --help from /usr/bin"
[ -s /usr/share/delos/delos.elf ] || fail "no /usr/share/delos/delos.elf"
[ -s /usr/share/delos/cells/cells.a ] || fail "no /usr/share/delos/cells/cells.a"
if /usr/bin/delos-cell-check 2>"$work/usage"; then fail "delos-cell-check without arguments succeeded"; fi
grep -q usage "$work/usage" || fail "delos-cell-check prints no usage"
if [[ " ${packages[*]} " == *" delos-controller "* ]]; then
  /usr/bin/delosd --version || fail "delosd --version"
  /usr/bin/delosctl --version || fail "delosctl --version"
fi
# The SDK as installed by its package builds the example (find_package finds it under /usr).
cmake -S "$source/examples/hello-service" -B "$work/example" -G Ninja >/dev/null || fail "configuring the example against /usr"
cmake --build "$work/example" >/dev/null || fail "building the example against /usr"
[ -s "$work/example/hello_service.o" ] || fail "the example made no hello_service.o"

apt-get remove -y -qq "${packages[@]}" >/dev/null || fail "apt-get remove"
for deb in "$work/debs"/*.deb; do
  while read -r path; do
    [ -f "$path" ] && fail "$path is still there after removing $(dpkg-deb -f "$deb" Package)"
  done < <(dpkg-deb -c "$deb" | awk '{print $6}' | sed 's#^\./#/#' | grep -v '/$')
done
packages=()
echo "packages: installed, ran and removed cleanly"
