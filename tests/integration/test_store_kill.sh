#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A confirmed persistent message is never lost (issue 13): a pika publisher
# with confirms sends persistent messages through a durable fanout exchange to
# durable queues while lepus-dataplane is killed with SIGKILL at random
# moments (STORE_KILL_CYCLES times, default 10) and restarted on the same
# --data-dir; one cycle kills lepus-control instead. Between cycles a consumer
# acks some messages (STORE_KILL_TAKE, default 50: settles in the journal). At the end every confirmed
# message that was not acked is in every queue, in publish order (duplicates
# of unconfirmed ones are allowed and reported). With IT_WORKERS=2 the queues
# are declared until they live on both shards (a fanout across shards is
# confirmed only once both journals have it).
. "$(dirname "$0")/lib.sh" "$1"
it_require_lepus

cycles=${STORE_KILL_CYCLES:-10}
py=/usr/bin/python3
sk="$IT_TOP/tests/integration/store_kill.py"
queues=(lepus-durable-a lepus-durable-b)

it_start_control
it_start_dataplane

if [ "${IT_WORKERS:-1}" -gt 1 ]; then
	# Each connection's queue lives on that connection's worker; add queues
	# until two shards own some.
	for i in $(seq 1 8); do
		it_client "$py" "$sk" "$IT_DP_IP" setup "lepus-durable-s$i" >/dev/null
		queues+=("lepus-durable-s$i")
		shards=$(it_lepusctl list_queues --json | "$py" -c '
import json, sys
print(len({q["owner_shard"] for q in json.load(sys.stdin)}))')
		[ "$shards" -ge 2 ] && break
	done
	[ "$shards" -ge 2 ] || it_fail "queues all landed on one shard"
	it_log "queues on $shards shards"
fi
it_client "$py" "$sk" "$IT_DP_IP" setup "${queues[@]}" >/dev/null || it_fail "setup failed"

confirmed=$IT_DIR/confirmed
acked=$IT_DIR/acked
: >"$confirmed"
: >"$acked"
control_cycle=$(( (cycles + 1) / 2 ))
for c in $(seq 1 "$cycles"); do
	before=$(wc -l <"$confirmed")
	# Bounded: pika notices the dead broker by its missed heartbeats (2 s).
	it_client timeout -s KILL 60 "$py" "$sk" "$IT_DP_IP" publish $((c * 1000000)) "$confirmed" \
		>/dev/null 2>>"$IT_DIR/publish.err" &
	pub=$!
	# 0.3 .. 1.5 s into the load
	sleep "$(( RANDOM % 13 + 3 ))e-1"
	if [ "$c" = "$control_cycle" ]; then
		kill -KILL "$IT_CONTROL_PID"
		wait "$IT_CONTROL_PID" 2>/dev/null || true
		IT_CONTROL_PID=
		rm -f "$IT_SOCK"
		it_log "cycle $c: lepus-control killed with SIGKILL"
		sleep 0.5
		it_start_control
		sleep 0.5
	fi
	kill -KILL "$IT_DP_PID"
	wait "$IT_DP_PID" 2>/dev/null || true
	IT_DP_PID=
	wait "$pub" || true
	it_log "cycle $c: dataplane killed with SIGKILL after $(( $(wc -l <"$confirmed") - before )) confirmed"
	it_start_dataplane
	grep "journal recovered" "$IT_DIR/dataplane.log" | tail -n "${IT_WORKERS:-1}" || true
	it_client "$py" "$sk" "$IT_DP_IP" take "${queues[0]}" "${STORE_KILL_TAKE:-50}" "$acked" >/dev/null ||
		it_fail "cycle $c: consumer failed after the restart"
done

total=$(wc -l <"$confirmed")
[ "$total" -gt 0 ] || it_fail "no message was ever confirmed"
it_client "$py" "$sk" "$IT_DP_IP" check "$confirmed" "$acked" "${queues[@]}" >"$IT_DIR/check.json" ||
	{ cat "$IT_DIR/check.json"; it_fail "confirmed messages were lost"; }
cat "$IT_DIR/check.json"
it_log "PASS: $total confirmed persistent messages over $cycles SIGKILL cycles, none lost"
