#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# No allocation on a worker after start-up (issue 12, DESIGN.md's invariants):
# lepus-dataplane-alloccount (dataplane/alloc_count.h: the allocators wrapped
# at link time, counted per worker lcore from the start of its loop) with two
# workers takes 1,000,000 published messages in two amqp-load runs from the
# client namespace, one dataplane session for both - direct (4 queues,
# 8 producers x 62,500, 8 consumers) and fanout to 2 queues (4 producers x
# 125,000: 1,000,000 deliveries) - with publisher confirms and manual acks.
# Each run must deliver every message exactly once and in order; then the
# dataplane stops (SIGTERM) and its exit report must show 0 allocations on
# every worker lcore, every worker having done broker work
# (alloc_report.py). Otherwise the test prints every allocation site with its
# count, symbolized.
#
#   tests/integration/test_worker_alloc.sh BUILD_DIR          (root)
#   IT_ALLOC_PER_PRODUCER=N scales the direct run (default 62,500; fanout 2N)
#   IT_ALLOC_KEEP_LOG=FILE keeps the dataplane log (for alloc_report.py FILE 2)
set -euo pipefail
IT_DATAPLANE=$(realpath "$1")/dataplane/lepus-dataplane-alloccount
IT_LCORES=${IT_LCORES:---lcores 0@0,1@0,2@1}
IT_WORKERS=${IT_WORKERS:-2}
. "$(dirname "$0")/lib.sh" "$1"
it_require_lepus

here=$(dirname "$(realpath "$0")")
[ -x "$IT_DATAPLANE" ] || it_fail "$IT_DATAPLANE not built"
[ -x "$IT_BUILD/bench/amqp-load" ] || it_fail "$IT_BUILD/bench/amqp-load not built"
per=${IT_ALLOC_PER_PRODUCER:-62500}
common="-z 0 -c 500 -q 1000 -A 100 --drain 60 --json --quiet"
failed=()

# name|amqp-load options|deliveries per publish
runs=(
	"direct|-e lepus.alloc.direct -t direct --queues 4 -x 2 -y 2 -C $per|1"
	"fanout|--fanout-queues 2 -e lepus.alloc.fanout -x 4 -y 1 -C $((per * 2))|2"
)

it_start_broker
for spec in "${runs[@]}"; do
	IFS='|' read -r name opts fan <<<"$spec"
	it_log "$name: amqp-load $opts"
	set +e
	# shellcheck disable=SC2086 # the options are words
	out=$(it_amqp_load "$name" $opts $common)
	rc=$?
	set -e
	[ "$rc" -eq 0 ] || it_log "$name: amqp-load exited $rc: $(tail -n 5 "$IT_DIR/amqp-load-$name.err")"
	if res=$(/usr/bin/python3 - "$out" "$fan" <<'PY'
import json, sys
out, fan = sys.argv[1], int(sys.argv[2])
s = json.loads(out.splitlines()[-1]) if out.strip() else {}
g = lambda k: s.get(k, -1)
cfg = s.get("config", {})
checks = [
    ("amqp-load ran without error", "error" not in s and bool(s)),
    ("published == producers x per-producer",
     g("published") == cfg.get("producers", 0) * cfg.get("pmessages", 0) > 0),
    ("confirmed == published, none nacked or returned",
     g("confirmed") == g("published") and g("nacked") == 0 and g("returned") == 0),
    ("expected == published x %d" % fan, g("expected") == g("published") * fan),
    ("delivered == expected", g("delivered") == g("expected")),
    ("none lost, duplicated, out of order or foreign",
     g("lost") == 0 and g("duplicated") == 0 and g("out_of_order") == 0 and g("foreign") == 0),
    ("drain completed", s.get("drain_timeout") is False),
]
print("published %d, confirmed %d, delivered %d of %d, lost %d, duplicated %d, out-of-order %d, "
      "%.1f s" % (g("published"), g("confirmed"), g("delivered"), g("expected"), g("lost"),
                  g("duplicated"), g("out_of_order"), s.get("deliver_seconds", 0)))
bad = [c for c, ok in checks if not ok]
for b in bad:
    print("CHECK FAILED: " + b)
sys.exit(1 if bad else 0)
PY
	); then
		it_log "  $name: $res"
	else
		it_log "  $name: $res"
		failed+=("$name")
	fi
done

it_stop_dataplane
log=$IT_DIR/dataplane-alloc.txt
# Not *.log: the report below, not the raw log, is what a failure shows.
mv "$IT_DIR/dataplane.log" "$log"
[ -z "${IT_ALLOC_KEEP_LOG:-}" ] || cp "$log" "$IT_ALLOC_KEEP_LOG"
grep '^broker worker' "$log" | while read -r line; do it_log "  $line"; done
if report=$(/usr/bin/python3 "$here/alloc_report.py" "$log" "$IT_WORKERS"); then
	printf '%s\n' "$report"
else
	printf '%s\n' "$report"
	failed+=(allocations)
fi

if [ "${#failed[@]}" -gt 0 ]; then
	it_fail "failed: ${failed[*]}"
fi
it_log "PASS"
