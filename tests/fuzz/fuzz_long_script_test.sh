#!/usr/bin/env bash
# fuzz_long_script_test.sh: scripts/fuzz-long against stand-in fuzzers (one fine, one that "finds
# a crash"): it passes the time on, runs both, sums them up and fails naming the artifact.
set -euo pipefail
source_dir="$1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin"
cat >"$work/bin/fuzz-fine" <<'FUZZER'
#!/usr/bin/env bash
echo "args: $*"
echo "#2 INITED cov: 12 ft: 13 corp: 1/1b exec/s: 0 rss: 30Mb"
echo "stat::number_of_executed_units: 4242"
echo "stat::new_units_added: 7"
FUZZER
cat >"$work/bin/fuzz-crashy" <<'FUZZER'
#!/usr/bin/env bash
for arg in "$@"; do case "$arg" in -artifact_prefix=*) prefix="${arg#-artifact_prefix=}" ;; esac; done
echo "==1==ERROR: AddressSanitizer: heap-buffer-overflow"
echo "artifact_prefix='$prefix'; Test unit written to ${prefix}crash-abc"
exit 1
FUZZER
chmod +x "$work/bin/fuzz-fine" "$work/bin/fuzz-crashy"

status=0
output=$("$source_dir/scripts/fuzz-long" --build "$work" --seconds 7 2>&1) || status=$?
echo "$output"
fail() { echo "FAIL: $1"; exit 1; }
[ "$status" = 1 ] || fail "exit status $status, expected 1"
grep -q -- "-max_total_time=7 " "$work/fuzz-long/fine.log" || fail "the time did not reach the fuzzer"
echo "$output" | grep -Eq '^fine +ok +4242 +12 +7' || fail "no summary line for the fine fuzzer"
echo "$output" | grep -Eq "^crashy +FAILED .*crash-abc" || fail "the crash and its artifact are not reported"

status=0
"$source_dir/scripts/fuzz-long" --build "$work" --seconds 1 fine >/dev/null 2>&1 || status=$?
[ "$status" = 0 ] || fail "a clean run exits $status"
status=0
"$source_dir/scripts/fuzz-long" --build "$work" --seconds 1 missing >/dev/null 2>&1 || status=$?
[ "$status" = 2 ] || fail "an unknown fuzzer exits $status, expected 2"
echo "PASS"
