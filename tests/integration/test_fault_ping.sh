#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Ping through the fault injector: with drop=0.3 in both directions a request
# and its reply both survive with probability 0.7 * 0.7 = 0.49, so about half of
# 200 pings must fail, and the injector's counters must say why. Without
# faults (test_ping.sh) nothing is lost, so the loss seen here is the injector's.
. "$(dirname "$0")/lib.sh" "$1"

it_start_control
it_start_dataplane --fault drop=0.3,seed=42

out=$(timeout 60 ip netns exec "$IT_NS_CL" ping -c 200 -i 0.02 -W 1 "$IT_DP_IP") || true
echo "$out" | tail -n 3
got=$(echo "$out" | it_ping_received)
[ -n "$got" ] || it_fail "no ping summary"
# Expected 98 replies; the bounds are more than 4 standard deviations (7.1) wide.
if [ "$got" -lt 68 ] || [ "$got" -gt 128 ]; then
	it_fail "$got of 200 replies, expected about 98 with drop=0.3 each way"
fi
it_log "$got of 200 pings answered through drop=0.3 each way"

# The injector's own counters account for the loss: about 30% of what crossed it.
it_stop_dataplane
summary=$(grep 'fault injector dropped' "$IT_DIR/dataplane.log") || it_fail "no fault summary"
it_log "$summary"
dropped=$(echo "$summary" | sed -n 's/.*dropped \([0-9]*\),.*/\1/p')
[ "${dropped:-0}" -ge 60 ] && [ "$dropped" -le 150 ] || it_fail "injector dropped $dropped, expected about 100"
it_log "PASS"
