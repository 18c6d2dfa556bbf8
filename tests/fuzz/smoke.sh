#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fuzz smoke run: every libFuzzer target built in BUILD_DIR (default
# build-fuzz, configured with CC=clang meson setup build-fuzz -Dfuzz=true) runs
# for FUZZ_SECONDS (default 20) over its seeds in tests/fuzz/corpus/<name
# without fuzz_>, growing a scratch corpus in a temporary directory (the tree
# is never written). A crash, leak or timeout fails the run and leaves its
# input in the scratch directory, printed: rename it into the seed directory
# (a named seed) once fixed.
# Usage: tests/fuzz/smoke.sh [BUILD_DIR] [TARGET...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${1:-build-fuzz}
shift || true
[ -d "$build" ] || build="$top/$build"
secs=${FUZZ_SECONDS:-20}
if [ ! -d "$build/tests/fuzz" ]; then
  echo "fuzz smoke: no $build/tests/fuzz; build it: CC=clang meson setup build-fuzz -Dfuzz=true && ninja -C build-fuzz" >&2
  exit 1
fi
scratch=$(mktemp -d /tmp/lepus-fuzz-smoke.XXXXXX)
keep=0
cleanup() { [ "$keep" = 1 ] || rm -rf "$scratch"; }
trap cleanup EXIT

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for exe in "$build"/tests/fuzz/fuzz_*; do
    [ -x "$exe" ] && [ -f "$exe" ] && targets+=("$(basename "$exe")")
  done
fi
fail=0
for t in "${targets[@]}"; do
  exe="$build/tests/fuzz/$t"
  seeds="$here/corpus/${t#fuzz_}"
  work="$scratch/$t"
  mkdir -p "$work"
  args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 -print_final_stats=1
        -artifact_prefix="$scratch/$t-" "$work")
  [ -d "$seeds" ] && args+=("$seeds")
  if timeout $((secs + 60)) "$exe" "${args[@]}" > "$scratch/$t.log" 2>&1; then
    runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$scratch/$t.log" | grep -oE '[0-9]+$' || echo '?')
    echo "fuzz smoke: $t ok, $runs runs in ${secs}s"
  else
    echo "fuzz smoke: $t FAILED; log and input kept in $scratch:" >&2
    grep -E 'ERROR|SUMMARY|artifact' "$scratch/$t.log" | head -5 >&2 || true
    fail=1
    keep=1
  fi
done
exit $fail
