#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# lepus-control is killed with SIGKILL while a ping runs: the dataplane keeps
# answering (no reply lost), reconnects when control comes back, and
# `lepusctl status` works again and shows the dataplane's counters.
. "$(dirname "$0")/lib.sh" "$1"

it_start_control
it_start_dataplane

wait_connected() {
	for _ in $(seq 1 50); do
		if it_lepusctl status --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
s = json.load(sys.stdin)
sys.exit(0 if s["dataplane"]["connected"] and s["dataplane"]["totals"]["rx_packets"] > 0 else 1)'; then
			return 0
		fi
		sleep 0.2
	done
	return 1
}

it_client ping -c 2 -W 2 "$IT_DP_IP" >/dev/null || it_fail "no ping before the test"
wait_connected || it_fail "dataplane never connected to lepus-control"

it_client ping -c 60 -i 0.1 -W 2 "$IT_DP_IP" >"$IT_DIR/ping.out" 2>&1 &
ping_pid=$!
sleep 1.5
kill -KILL "$IT_CONTROL_PID"
wait "$IT_CONTROL_PID" 2>/dev/null || true
it_log "killed lepus-control (pid $IT_CONTROL_PID) with SIGKILL"
IT_CONTROL_PID=
if it_lepusctl status >/dev/null 2>&1; then
	it_fail "lepusctl status answered with lepus-control dead"
fi
sleep 1.5
rm -f "$IT_SOCK"
it_start_control
it_log "restarted lepus-control (pid $IT_CONTROL_PID)"
wait_connected || it_fail "dataplane did not reconnect to the restarted lepus-control"
it_lepusctl status

wait "$ping_pid" || true
cat "$IT_DIR/ping.out" | tail -n 2
[ "$(it_ping_received <"$IT_DIR/ping.out")" = 60 ] || it_fail "ping replies were lost while control was down"
kill -0 "$IT_DP_PID" || it_fail "dataplane died"
it_log "PASS"
