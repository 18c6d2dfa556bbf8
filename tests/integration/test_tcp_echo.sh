#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The Linux kernel of the client namespace against TCP-lite's echo service
# (--echo-port 7): random bytes come back identical (SHA-256 per connection)
# on one connection with no faults (LP_TCP_ECHO_MB, default 256 MiB), again
# with 2% drop + 1% duplication + 2% reordering in both directions, and on
# 1000 concurrent connections of 64 KiB each. The dataplane's exit summary
# must then show no TCB, timer or out-of-order byte left and every mbuf back
# in the pool.
. "$(dirname "$0")/lib.sh" "$1"

mb=${LP_TCP_ECHO_MB:-256}
client="$IT_TOP/tests/integration/test_tcp_client.py"

# The summary line TCP-lite prints when the dataplane stops.
check_no_leak() {
	local line
	line=$(grep '^tcp worker 0:' "$IT_DIR/dataplane.log" | tail -n 1)
	[ -n "$line" ] || it_fail "no TCP summary in the dataplane log"
	it_log "$line"
	echo "$line" | grep -q 'tcbs_in_use 0 ' || it_fail "TCBs left: $line"
	echo "$line" | grep -q 'timers_armed 0,' || it_fail "timers left: $line"
	echo "$line" | grep -q 'ooo_bytes 0,' || it_fail "out-of-order bytes left: $line"
	local free total
	free=$(echo "$line" | sed -n 's/.*pool_free \([0-9]*\)\/\([0-9]*\);.*/\1/p')
	total=$(echo "$line" | sed -n 's/.*pool_free \([0-9]*\)\/\([0-9]*\);.*/\2/p')
	# The pool cache of the lcore may hold a few, but none may be lost for good.
	[ "$free" -ge $((total - 512)) ] || it_fail "mbufs missing from the pool: $free of $total"
}

it_start_control

it_log "echo: 1 connection, $mb MiB, no faults"
it_start_dataplane --echo-port 7 --discard-port 9
out=$(it_client /usr/bin/python3 "$client" echo --port 7 --conns 1 --size $((mb << 20)) --timeout 600) ||
	it_fail "echo without faults: $out"
it_log "$out"
it_log "echo: 1000 connections x 64 KiB"
out=$(it_client /usr/bin/python3 "$client" echo --port 7 --conns 1000 --size 65536 --timeout 300) ||
	it_fail "1000 connections: $out"
it_log "$out"
sleep 2
it_stop_dataplane
check_no_leak

it_log "echo: 1 connection, $mb MiB, --fault drop=0.02,dup=0.01,reorder=0.02,seed=1"
it_start_dataplane --echo-port 7 --fault drop=0.02,dup=0.01,reorder=0.02,seed=1
out=$(it_client /usr/bin/python3 "$client" echo --port 7 --conns 1 --size $((mb << 20)) --timeout 900) ||
	it_fail "echo with faults: $out"
it_log "$out"
sleep 2
it_stop_dataplane
grep -E '^(worker|tcp worker|fault)' "$IT_DIR/dataplane.log" | tail -n 4
check_no_leak

it_log "PASS"
