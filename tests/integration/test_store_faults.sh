#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Disk faults never lose a confirmed message (issue 13). The dataplane's own
# fault injection (--store-fault) makes the 30th group commit of the journal
# fail: first its fdatasync reports EIO, then (on the same data directory)
# the block is torn, half of it on disk. Each time a pika publisher with
# confirms is sending persistent messages; the dataplane must stop with exit
# code 74 (fail-stop: nothing after a failed sync is confirmed), and after a
# restart without the fault every confirmed message is in every queue, in
# order; the torn block is dropped by recovery (reported as a torn tail).
. "$(dirname "$0")/lib.sh" "$1"
it_require_lepus

py=/usr/bin/python3
sk="$IT_TOP/tests/integration/store_kill.py"
queues=(lepus-fault-a lepus-fault-b)
confirmed=$IT_DIR/confirmed
: >"$confirmed"
: >"$IT_DIR/acked"

it_start_control
it_start_dataplane
it_client "$py" "$sk" "$IT_DP_IP" setup "${queues[@]}" >/dev/null || it_fail "setup failed"
it_stop_dataplane

n=0
for fault in fsync-eio=30 torn-write=30; do
	n=$((n + 1))
	it_start_dataplane --store-fault "$fault"
	before=$(wc -l <"$confirmed")
	it_client timeout -s KILL 60 "$py" "$sk" "$IT_DP_IP" publish $((n * 1000000)) "$confirmed" \
		>/dev/null 2>>"$IT_DIR/publish.err" &
	pub=$!
	# The fault stops the dataplane by itself; a watchdog bounds the wait.
	(sleep 60 && kill -KILL "$IT_DP_PID" 2>/dev/null) &
	dog=$!
	rc=0
	wait "$IT_DP_PID" || rc=$?
	kill "$dog" 2>/dev/null || true
	wait "$dog" 2>/dev/null || true
	IT_DP_PID=
	wait "$pub" || true
	[ "$rc" = 74 ] || it_fail "$fault: the dataplane exited with $rc, not 74 (fail-stop)"
	grep -q "message store .* failed" "$IT_DIR/dataplane.log" ||
		it_fail "$fault: no fail-stop message in the log"
	it_log "$fault: dataplane stopped with exit 74 after $(( $(wc -l <"$confirmed") - before )) confirmed: $(grep 'message store' "$IT_DIR/dataplane.log" | tail -n 1)"
	[ -n "${SF_KEEP:-}" ] && rm -rf "$SF_KEEP.$n" && cp -a "$IT_DIR/data" "$SF_KEEP.$n"
	it_start_dataplane
	grep "journal recovered" "$IT_DIR/dataplane.log" | tail -n 1
	it_client "$py" "$sk" "$IT_DP_IP" check "$confirmed" "$IT_DIR/acked" "${queues[@]}" --keep \
		>"$IT_DIR/check.json" || { cat "$IT_DIR/check.json"; it_fail "$fault: confirmed messages were lost"; }
	cat "$IT_DIR/check.json"
	it_stop_dataplane
done
grep "journal recovered" "$IT_DIR/dataplane.log" | tail -n 1 | grep -qv " 0 torn tails" ||
	it_fail "recovery after the torn write reported no torn tail"
it_log "PASS: $(wc -l <"$confirmed") confirmed persistent messages through an fsync error and a torn write, none lost"
