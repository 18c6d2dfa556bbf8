#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Smoke run of lepus-bench against lepus-dataplane over net_memif
# (bench/lepus-bench-memif): 1 producer, 1 consumer, 2 s, then once more with
# publisher confirms and multi-acks. Every message published must be
# delivered (and confirmed), none lost, duplicated or out of order.
set -euo pipefail
build=$(realpath "$1")
top=$(realpath "$(dirname "$0")/../..")
out=$(mktemp /tmp/lepus-bench-smoke.XXXXXX)
trap 'rm -f "$out"' EXIT

check() {
	/usr/bin/python3 - "$out" "$1" <<'EOF'
import json, sys
lines = [l for l in open(sys.argv[1]) if l.startswith("{")]
if len(lines) != 1:
    sys.exit("expected one JSON summary, got %d" % len(lines))
s = json.loads(lines[0])
confirms = sys.argv[2] == "confirms"
problems = []
if s.get("error"):
    problems.append("error: " + s["error"])
if s["published"] < 1000:
    problems.append("only %d published in 2 s" % s["published"])
if s["delivered"] != s["published"]:
    problems.append("published %d, delivered %d" % (s["published"], s["delivered"]))
if confirms and s["confirmed"] != s["published"]:
    problems.append("published %d, confirmed %d" % (s["published"], s["confirmed"]))
for k in ("lost", "duplicated", "out_of_order", "foreign", "nacked"):
    if s[k] != 0:
        problems.append("%s %d" % (k, s[k]))
if s["latency_us"]["samples"] != s["delivered"]:
    problems.append("latency samples %d != delivered %d" % (s["latency_us"]["samples"], s["delivered"]))
print("%s: published %d, confirmed %d, delivered %d, %.0f msgs/s, p50 %d us, p99 %d us" % (
    sys.argv[2], s["published"], s["confirmed"], s["delivered"], s["delivered_per_s"],
    s["latency_us"]["p50"], s["latency_us"]["p99"]))
if problems:
    sys.exit("FAIL: " + "; ".join(problems))
EOF
}

"$top/bench/lepus-bench-memif" --build "$build" --timeout 120 -- \
	--time 2 --drain 20 --producers 1 --consumers 1 --autoack --json --quiet >"$out"
check plain
"$top/bench/lepus-bench-memif" --build "$build" --timeout 120 -- \
	--time 2 --drain 20 --producers 1 --consumers 1 --confirm 100 --qos 200 \
	--multi-ack-every 10 --rate 20000 --json --quiet >"$out"
check confirms
echo "PASS"
