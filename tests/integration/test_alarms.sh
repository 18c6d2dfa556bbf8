#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Resource alarms (issue 13), as RabbitMQ has them: a publisher that fills a
# worker's message pool past --memory-high-watermark gets Connection.Blocked
# ("low on memory"), is not read any more and loses nothing; lepusctl status
# shows the alarm and the blocked connection; a consumer drains the queue,
# the alarm clears, the publisher gets Connection.Unblocked and every
# message arrives. Then the disk alarm: with --disk-free-limit above the free
# space, the first publish is answered with Connection.Blocked ("low on
# disk") and lepusctl status --json lists "disk". The management API's
# /api/health/checks/alarms answers 503 naming the resource while an alarm
# is raised, 200 otherwise. The memory part runs without a journal
# (--data-dir none): with one, queues page their tails out to disk and the
# pool does not fill.
. "$(dirname "$0")/lib.sh" "$1"
it_require_lepus

py=/usr/bin/python3
al="$IT_TOP/tests/integration/alarms.py"
n=3000 # past 7/8 of a 2048-message pool

status_alarms() {
	it_lepusctl status --json | "$py" -c '
import json, sys
d = json.load(sys.stdin)["dataplane"]
print(",".join(d.get("alarms", [])), d.get("totals", {}).get("blocked_publishers", 0))'
}

wait_alarms() { # WANT ("memory 1", "" + " 0"...): up to 20 s
	for _ in $(seq 1 100); do
		[ "$(status_alarms)" = "$1" ] && return 0
		sleep 0.2
	done
	it_fail "lepusctl status: alarms '$(status_alarms)', expected '$1'"
}

port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export IT_CONTROL_OPTS="--http 127.0.0.1:$port"
health() { # the alarms health check: "CODE resource,resource"
	"$py" - "http://127.0.0.1:$port/api/health/checks/alarms" <<'PY'
import sys, requests
r = requests.get(sys.argv[1], auth=("guest", "guest"), timeout=5)
print(r.status_code, ",".join(a["resource"] for a in r.json().get("alarms", [])))
PY
}

it_start_control
it_start_dataplane --max-messages 2048 --data-dir none # no journal: nothing is paged out, the pool fills
it_client "$py" "$al" "$IT_DP_IP" publish alarm-q "$n" >"$IT_DIR/publish.json" &
pub=$!
wait_alarms "memory 1"
it_lepusctl status | grep -q "alarms: memory (worker 0)" || it_fail "status text: $(it_lepusctl status)"
it_log "memory alarm raised, publisher blocked: $(it_lepusctl status | grep -A1 alarms | tr '\n' ' ')"
[ "$(health)" = "503 memory" ] || it_fail "health check during the memory alarm: $(health)"
got=$(it_client "$py" "$al" "$IT_DP_IP" drain alarm-q "$n")
wait "$pub" || it_fail "publisher failed"
cat "$IT_DIR/publish.json"
"$py" - "$IT_DIR/publish.json" "$n" <<'PY' || it_fail "publisher did not see Blocked then Unblocked"
import json, sys
s = json.load(open(sys.argv[1]))
ok = s["blocked"] and s["reason"] == "low on memory" and s["unblocked"] and s["published"] == int(sys.argv[2])
sys.exit(0 if ok else 1)
PY
[ "$got" = "$n" ] || it_fail "consumer got $got of $n messages"
wait_alarms " 0"
[ "$(health)" = "200 " ] || it_fail "health check after the alarm: $(health)"
it_log "memory alarm cleared; $got of $n messages consumed"

it_stop_dataplane
it_start_dataplane --disk-free-limit 1000000GB
wait_alarms "disk 0"
[ "$(health)" = "503 disk" ] || it_fail "health check during the disk alarm: $(health)"
it_client "$py" "$al" "$IT_DP_IP" blocked-once alarm-q >"$IT_DIR/disk.json"
cat "$IT_DIR/disk.json"
grep -q '"blocked": true, "reason": "low on disk"' "$IT_DIR/disk.json" ||
	it_fail "no Connection.Blocked for the disk alarm"
grep -q "disk alarm set" "$IT_DIR/dataplane.log" || it_fail "the disk alarm was not logged"
it_log "PASS: memory and disk alarms block publishers with Connection.Blocked, Unblocked after"
