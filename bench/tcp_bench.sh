#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# TCP benchmark: the same client (the client namespace's kernel TCP driven by
# tests/integration/test_tcp_client.py) against TCP-lite's echo and discard
# services, then against a Linux kernel TCP server (the same script's `serve`
# mode) on the same veth path, in one run; prints both figures and the ratio.
#
#   bench/tcp_bench.sh BUILD_DIR [--quick]
#
# Measures: echo and discard throughput on 1 and 16 connections, and
# connections per second (sequential connect/echo/close). The dataplane runs
# with -l 0 and --no-huge as in the tests; both servers see the same veth.
# The client is Python: at high rates it is the bottleneck on both sides, so
# the ratio is a lower bound for the dataplane.
. "$(dirname "$0")/../tests/integration/lib.sh" "$1"

quick=${2:-}
client="$IT_TOP/tests/integration/test_tcp_client.py"
if [ "$quick" = --quick ]; then
	e1=$((32 << 20)) e16=$((2 << 20)) d1=$((64 << 20)) d16=$((4 << 20)) cyc=2000
else
	e1=$((256 << 20)) e16=$((16 << 20)) d1=$((512 << 20)) d16=$((32 << 20)) cyc=10000
fi

mbps() { sed -n 's/.*"MBps": \([0-9.]*\).*/\1/p'; }
rate() { sed -n 's/.*"per_second": \([0-9.]*\).*/\1/p'; }

# run_set LABEL HOST: prints "name value" lines into $IT_DIR/LABEL.txt
run_set() {
	local label=$1 out
	: >"$IT_DIR/$label.txt"
	out=$(it_client /usr/bin/python3 "$client" echo --port 7 --conns 1 --size $e1 --timeout 600) ||
		it_fail "$label echo x1: $out"
	echo "echo_1conn_MBps $(echo "$out" | mbps)" >>"$IT_DIR/$label.txt"
	out=$(it_client /usr/bin/python3 "$client" echo --port 7 --conns 16 --size $e16 --timeout 600) ||
		it_fail "$label echo x16: $out"
	echo "echo_16conn_MBps $(echo "$out" | mbps)" >>"$IT_DIR/$label.txt"
	out=$(it_client /usr/bin/python3 "$client" discard --port 9 --conns 1 --size $d1 --timeout 600) ||
		it_fail "$label discard x1: $out"
	echo "discard_1conn_MBps $(echo "$out" | mbps)" >>"$IT_DIR/$label.txt"
	out=$(it_client /usr/bin/python3 "$client" discard --port 9 --conns 16 --size $d16 --timeout 600) ||
		it_fail "$label discard x16: $out"
	echo "discard_16conn_MBps $(echo "$out" | mbps)" >>"$IT_DIR/$label.txt"
	out=$(it_client /usr/bin/python3 "$client" cycles --port 7 --count $cyc --timeout 600) ||
		it_fail "$label cycles: $out"
	echo "conns_per_second $(echo "$out" | rate)" >>"$IT_DIR/$label.txt"
}

it_start_control
it_log "Lepus TCP-lite (af_packet on the veth, echo :7, discard :9)"
it_start_dataplane --echo-port 7 --discard-port 9
run_set lepus
it_stop_dataplane

it_log "Linux kernel TCP server on the same veth (198.18.0.1 in the dataplane namespace)"
ip -n "$IT_NS_DP" addr add "$IT_DP_IP/24" dev "$IT_IF_DP"
ip netns exec "$IT_NS_DP" /usr/bin/python3 "$client" serve --port 7 --mode echo --timeout 1800 &
srv_echo=$!
ip netns exec "$IT_NS_DP" /usr/bin/python3 "$client" serve --port 9 --mode discard --timeout 1800 &
srv_discard=$!
trap 'kill $srv_echo $srv_discard 2>/dev/null || true; it_cleanup' EXIT
sleep 1
run_set kernel
kill "$srv_echo" "$srv_discard" 2>/dev/null || true

printf '\n%-22s %12s %12s %8s\n' metric lepus kernel ratio
while read -r name lv; do
	kv=$(sed -n "s/^$name //p" "$IT_DIR/kernel.txt")
	ratio=$(/usr/bin/python3 -c "print(f'{$lv / $kv:.2f}' if $kv else 'n/a')")
	printf '%-22s %12s %12s %8s\n' "$name" "$lv" "$kv" "$ratio"
done <"$IT_DIR/lepus.txt"
grep '^tcp worker 0:' "$IT_DIR/dataplane.log" | tail -n 1
