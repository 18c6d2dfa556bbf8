#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A durable priority queue (x-max-priority) survives SIGKILL of the
# dataplane: tests/integration/priority_durable.py publishes persistent
# messages of mixed priorities with confirms and leaves two of them unacked;
# the dataplane is killed and restarted on the same --data-dir; the
# recovered messages come back in priority order (their priority is read
# back from their journaled properties), the two delivered ones redelivered.
# Lepus-only (the parity suite does not restart RabbitMQ).
. "$(dirname "$0")/lib.sh" "$1"
it_require_lepus

py=/usr/bin/python3
pd="$IT_TOP/tests/integration/priority_durable.py"

it_start_control
it_start_dataplane
it_client timeout 60 "$py" "$pd" "$IT_DP_IP" publish >"$IT_DIR/publish.out" 2>&1 &
pub=$!
for _ in $(seq 1 100); do
	grep -q "published" "$IT_DIR/publish.out" && break
	kill -0 "$pub" 2>/dev/null || break
	sleep 0.1
done
grep -q "published" "$IT_DIR/publish.out" || it_fail "publish: $(cat "$IT_DIR/publish.out")"
kill -KILL "$IT_DP_PID"
wait "$IT_DP_PID" 2>/dev/null || true
IT_DP_PID=
kill "$pub" 2>/dev/null || true
wait "$pub" 2>/dev/null || true
it_log "dataplane killed with SIGKILL"
it_start_dataplane
grep "journal recovered" "$IT_DIR/dataplane.log" | tail -n "${IT_WORKERS:-1}" || true
it_client timeout 60 "$py" "$pd" "$IT_DP_IP" check || it_fail "after the restart"
it_log "PASS"
