#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# amqp-load against Debian's RabbitMQ (scripts/rabbitmq, in its own network
# namespaces): 3 s, 1 producer with publisher confirms, 1 consumer with manual
# acks (bench/scenarios/smoke.conf). Every published message must be
# confirmed and delivered exactly once, in order, with a latency sample each.
# Then a run against a port nobody listens on must fail with exit status 1.
#
#   tests/integration/test_bench_rabbitmq.sh BUILD_DIR     (suite 'bench', root)
set -euo pipefail
build=$(realpath "$1")
top=$(realpath "$(dirname "$0")/../..")
load=$build/bench/amqp-load
export LEPUS_RMQ_DIR
LEPUS_RMQ_DIR=$(mktemp -d /tmp/lepus-rmq-test.XXXXXX)

log() { printf '[test_bench_rabbitmq] %s\n' "$*"; }
fail() { log "FAIL: $*"; exit 1; }
cleanup() {
	local rc=$?
	"$top/scripts/rabbitmq" stop >/dev/null 2>&1 || true
	if [ "$rc" -ne 0 ]; then
		tail -n 40 "$LEPUS_RMQ_DIR"/log/*.log 2>/dev/null || true
	fi
	rm -rf "$LEPUS_RMQ_DIR"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -x "$load" ] || fail "$load not built"
"$top/scripts/rabbitmq" start || fail "RabbitMQ did not start"

out=$(ip netns exec lepus-rmq-client timeout 120 "$load" --uri amqp://guest:guest@198.18.1.1 \
	--scenario "$top/bench/scenarios/smoke.conf" --json --quiet) || fail "amqp-load failed: $out"
log "summary: $out"
/usr/bin/python3 - "$out" <<'PY' || fail "the summary does not add up"
import json, sys
s = json.loads(sys.argv[1])
lat = s["latency_us"]
checks = [
    ("no error", "error" not in s),
    ("published > 1000", s["published"] > 1000),
    ("published == confirmed", s["published"] == s["confirmed"]),
    ("published == delivered", s["published"] == s["delivered"]),
    ("delivered == expected", s["delivered"] == s["expected"]),
    ("nothing nacked or returned", s["nacked"] == 0 and s["returned"] == 0),
    ("lost == 0", s["lost"] == 0),
    ("duplicated == 0", s["duplicated"] == 0),
    ("out_of_order == 0", s["out_of_order"] == 0),
    ("foreign == 0", s["foreign"] == 0),
    ("one latency sample per delivery", lat["samples"] == s["delivered"]),
    ("min <= p50 <= p99 <= p99.9 <= max",
     lat["min"] <= lat["p50"] <= lat["p99"] <= lat["p99_9"] <= lat["max"]),
    ("published for about 3 s", 2.5 < s["publish_seconds"] < 4.0),
    ("drain completed", not s["drain_timeout"]),
]
bad = [name for name, ok in checks if not ok]
for name in bad:
    print("check failed:", name)
sys.exit(1 if bad else 0)
PY

set +e
err=$(ip netns exec lepus-rmq-client timeout 60 "$load" --uri amqp://guest:guest@198.18.1.1:5673 -z 1 --quiet 2>&1)
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "amqp-load against a closed port exited $rc, expected 1: $err"
echo "$err" | grep -q 'connect 198.18.1.1:5673' || fail "no connect error reported: $err"
log "PASS"
