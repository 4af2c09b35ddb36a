#!/usr/bin/env bash
# check_layers_test.sh: scripts/check-layers passes on the real guest tree, and fails (naming the
# file, line and layers) on fixture trees with an upward include or an unlisted folder.
set -euo pipefail
check="$1/scripts/check-layers"
guest="$1/guest"
fixture=$(mktemp -d)
trap 'rm -rf "$fixture"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$check" --root "$guest" || fail "the real guest tree has upward includes (see above)"

mkdir -p "$fixture/low" "$fixture/high"
printf 'low  kernel  the bottom\nhigh kernel  the top\n' > "$fixture/LAYERS"
printf '#include "low/a.h"\n' > "$fixture/high/b.cpp"
printf '#pragma once\n' > "$fixture/low/a.h"
"$check" --root "$fixture" >/dev/null || fail "a downward include was refused"

printf '#pragma once\n#include "high/b.h"\n' > "$fixture/low/a.h"
if out=$("$check" --root "$fixture"); then fail "an upward include was accepted"; fi
grep -q 'guest/low/a.h:2: low (layer 0) includes high/b.h from high (layer 1)' <<<"$out" || fail "unexpected report: $out"

printf '#pragma once\n' > "$fixture/low/a.h"
mkdir -p "$fixture/stray"
if out=$("$check" --root "$fixture"); then fail "a folder missing from LAYERS was accepted"; fi
grep -q 'guest/stray/: not in guest/LAYERS' <<<"$out" || fail "unexpected report: $out"

[ "$("$check" --root "$fixture" --list-kernel-folders)" = "low;high" ] || fail "kernel folder list"
echo "check-layers: 5 checks passed"
