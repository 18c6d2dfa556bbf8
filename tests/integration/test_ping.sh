#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The kernel of the client namespace pings the dataplane: ARP is answered by
# the dataplane itself and every echo request gets its reply; the counters
# lepus-control collects show the traffic.
. "$(dirname "$0")/lib.sh" "$1"

it_start_control
it_start_dataplane

out=$(it_client ping -c 5 -i 0.2 -W 2 "$IT_DP_IP") || true
echo "$out"
[ "$(echo "$out" | it_ping_received)" = 5 ] || it_fail "expected 5 replies"

# The neighbour entry came from the dataplane's own ARP reply.
it_client ip neigh show "$IT_DP_IP" | grep -q lladdr || it_fail "no ARP entry for $IT_DP_IP"

# A 1472-byte payload fills the 1500-byte MTU exactly and must come back too.
out=$(it_client ping -c 3 -i 0.2 -W 2 -s 1472 "$IT_DP_IP") || true
[ "$(echo "$out" | it_ping_received)" = 3 ] || it_fail "full-MTU pings lost: $out"

it_log "PASS"
