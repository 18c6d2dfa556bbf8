#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# TCP-lite under churn and attack, from the kernel of the client namespace:
# 10,000 sequential open/echo/close cycles must leave no TCB, timer or mbuf
# behind (the dataplane's exit summary); then a bounded SYN flood from a raw
# socket (200,000 SYNs from spoofed 198.18.0.10-250, addresses nobody
# answers for) must not stop a concurrent 64 MiB echo transfer: the SYN
# backlog fills, SYN cookies answer the rest, the transfer completes intact.
. "$(dirname "$0")/lib.sh" "$1"

client="$IT_TOP/tests/integration/test_tcp_client.py"
cycles=${LP_TCP_CYCLES:-10000}
syns=${LP_TCP_SYNS:-200000}

summary() { grep '^tcp worker 0:' "$IT_DIR/dataplane.log" | tail -n 1; }
field() { summary | sed -n "s/.*[ ,;]$1 \([0-9]*\).*/\1/p"; }

it_start_control
it_start_dataplane --echo-port 7 --discard-port 9

it_log "$cycles open/close cycles"
out=$(it_client /usr/bin/python3 "$client" cycles --port 7 --count "$cycles" --timeout 600) ||
	it_fail "cycles: $out"
it_log "$out"
sleep 2
it_stop_dataplane
line=$(summary)
it_log "$line"
[ "$(field passive_opens)" -ge "$cycles" ] || it_fail "expected >= $cycles passive opens"
[ "$(field tcbs_in_use)" = 0 ] || it_fail "TCBs left after the cycles"
[ "$(field timers_armed)" = 0 ] || it_fail "timers left after the cycles"
free=$(echo "$line" | sed -n 's/.*pool_free \([0-9]*\)\/\([0-9]*\);.*/\1/p')
total=$(echo "$line" | sed -n 's/.*pool_free \([0-9]*\)\/\([0-9]*\);.*/\2/p')
[ "$free" = "$total" ] || it_fail "mbufs missing from the pool: $free of $total"

it_log "SYN flood ($syns SYNs) during a 64 MiB echo transfer"
it_start_dataplane --echo-port 7
it_client /usr/bin/python3 "$client" synflood --port 7 --count "$syns" --src-net 198.18.0 \
	--timeout 120 >"$IT_DIR/flood.out" 2>&1 &
flood_pid=$!
sleep 0.5
out=$(it_client /usr/bin/python3 "$client" echo --port 7 --conns 1 --size $((64 << 20)) --timeout 300) ||
	it_fail "echo during the flood: $out"
it_log "$out"
kill -0 "$flood_pid" 2>/dev/null && flooding=yes || flooding=no
wait "$flood_pid" || it_fail "flood: $(cat "$IT_DIR/flood.out")"
it_log "$(cat "$IT_DIR/flood.out") (still flooding when the echo ended: $flooding)"
# A fresh connection still works while half-open flood TCBs remain.
out=$(it_client /usr/bin/python3 "$client" cycles --port 7 --count 20 --timeout 30) ||
	it_fail "new connections after the flood: $out"
it_stop_dataplane
line=$(summary)
it_log "$line"
[ "$(field syncookies_sent)" -gt 0 ] || it_fail "no SYN cookie was sent"
[ "$(field syn_rcvd)" -le 256 ] || it_fail "SYN backlog exceeded"
grep -E '^worker 0:' "$IT_DIR/dataplane.log" | tail -n 1
it_log "PASS"
