#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The sharded broker under load (issue 5): 1,000,000 messages published in
# four amqp-load runs from the client namespace - direct (4 queues, 8
# producers, 8 consumers), fanout to 8 queues (4 producers, 8 consumers:
# 800,000 deliveries), topic with wildcard bindings (load.q-N.pP to '*.q-N.#')
# and headers (x-match all on two headers) - every one with publisher confirms
# and manual acks. Each run must deliver every message exactly once, each
# producer's messages in order, and the dataplane's exit summary (the
# dataplane restarts between runs, so each has its own) must count the same
# publishes, enqueues and deliveries as the client, nothing unroutable or
# dropped. With two workers (IT_WORKERS=2) the runs must have crossed workers:
# publishes sent to another shard and deliveries made on both workers. Then
# sharded_kill.py: a consumer holding 100 unacked messages is SIGKILLed and
# another consumer (on the other worker when there are two) gets all of them
# again, redelivered, in order, with the rest of the queue. Every run is
# checked before the test fails, so one failure does not hide another.
#
#   tests/integration/test_sharded_load.sh BUILD_DIR          (root)
#   IT_LCORES='--lcores 0@0,1@1,2@1' IT_WORKERS=2 tests/integration/test_sharded_load.sh BUILD_DIR
#   IT_SHARDED_PER_PRODUCER=N scales the runs down (default: 1,000,000 in all)
set -euo pipefail
. "$(dirname "$0")/lib.sh" "$1"

load=$IT_BUILD/bench/amqp-load
here=$(dirname "$(realpath "$0")")
[ -x "$load" ] || it_fail "$load not built"
workers=${IT_WORKERS:-1}
# Messages per producer: 8 x 37,500 three times and 4 x 25,000 once = 1,000,000.
per=${IT_SHARDED_PER_PRODUCER:-37500}
fan_per=$((per * 2 / 3))
common="-z 0 -c 500 -q 1000 -A 100 --drain 60 --json --quiet"
failed=()

# name|amqp-load options
runs=(
	"direct|-e lepus.sharded.direct -t direct --queues 4 -x 2 -y 2 -C $per"
	"fanout|--fanout-queues 8 -e lepus.sharded.fanout -x 4 -y 1 -C $fan_per"
	"topic|-e lepus.sharded.topic -t topic --queues 4 -x 2 -y 2 -C $per -k load.%q.p%p --binding-key *.%q.#"
	"headers|-e lepus.sharded.headers -t headers --queues 4 -x 2 -y 2 -C $per --x-match all"
)

# The dataplane's exit summary as JSON: one object per "broker worker" line.
summary_json() {
	/usr/bin/python3 - "$1" <<'PY'
import json, re, sys
pat = re.compile(r"broker worker (\d+): published (\d+), enqueued here (\d+), sent to other "
                 r"shards (\d+), unroutable (\d+), delivered (\d+), ring ops sent (\d+) "
                 r"received (\d+), dropped \(queue full\) (\d+)")
keys = ["published", "enqueued", "remote", "unroutable", "delivered", "ops_sent",
        "ops_received", "dropped"]
out = []
for line in open(sys.argv[1]):
    m = pat.search(line)
    if m:
        out.append(dict(worker=int(m.group(1)), **{k: int(v) for k, v in zip(keys, m.groups()[1:])}))
print(json.dumps(out))
PY
}

# Stops the dataplane (lepus-control stays) and sets dp to its exit summary
# as JSON; with "restart", starts a new one: each run gets its own summary.
dataplane_session_end() {
	local log
	dp='[]'
	[ "$IT_TARGET" = lepus ] || return 0
	it_stop_dataplane
	log=$IT_DIR/dataplane-$1.txt
	mv "$IT_DIR/dataplane.log" "$log"
	dp=$(summary_json "$log")
	[ "${2:-}" != restart ] || it_start_dataplane
}

it_start_broker
all_runs=()
for spec in "${runs[@]}"; do
	name=${spec%%|*}
	opts=${spec#*|}
	it_log "$name: amqp-load $opts"
	t0=$(date +%s.%N)
	set +e
	# shellcheck disable=SC2086 # the options are words
	out=$(it_amqp_load "$name" $opts $common)
	rc=$?
	set -e
	t1=$(date +%s.%N)
	dataplane_session_end "$name" restart
	[ "$rc" -eq 0 ] || it_log "$name: amqp-load exited $rc: $(tail -n 5 "$IT_DIR/amqp-load-$name.err")"
	[ -n "$out" ] || out='{}'
	res=$(/usr/bin/python3 - "$name" "$out" "$dp" "$workers" "$IT_TARGET" "$t0" "$t1" <<'PY'
import json, sys
name, out, dp, workers, target = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
wall = float(sys.argv[7]) - float(sys.argv[6])
s = json.loads(out.splitlines()[-1]) if out.strip() else {}
w = json.loads(dp)
g = lambda k: s.get(k, -1)
cfg = s.get("config", {})
n_prod = cfg.get("producers", 0)
per = cfg.get("pmessages", 0)
fan = 8 if name == "fanout" else 1
checks = [
    ("amqp-load ran without error", "error" not in s and bool(s)),
    ("published == producers x per-producer", g("published") == n_prod * per > 0),
    ("confirmed == published, none nacked or returned",
     g("confirmed") == g("published") and g("nacked") == 0 and g("returned") == 0),
    ("expected == published x %d" % fan, g("expected") == g("published") * fan),
    ("delivered == expected", g("delivered") == g("expected")),
    ("lost == 0", g("lost") == 0),
    ("duplicated == 0", g("duplicated") == 0),
    ("out_of_order == 0", g("out_of_order") == 0),
    ("foreign == 0", g("foreign") == 0),
    ("drain completed", s.get("drain_timeout") is False),
]
tot = {k: sum(x[k] for x in w) for k in (w[0] if w else {})}
if target == "lepus":
    checks += [
        ("dataplane summary has %d worker(s)" % workers, len(w) == workers),
        ("dataplane published == client published", tot.get("published") == g("published")),
        ("dataplane enqueued == client expected", tot.get("enqueued") == g("expected")),
        ("dataplane delivered == client delivered", tot.get("delivered") == g("delivered")),
        ("dataplane unroutable == 0", tot.get("unroutable") == 0),
        ("dataplane dropped (queue full) == 0", tot.get("dropped") == 0),
    ]
    if workers == 1:
        checks.append(("nothing sent to other shards", tot.get("remote") == 0))
per_worker = " | ".join("w%d pub %d enq %d remote %d dlv %d ring %d/%d drop %d" % (
    x["worker"], x["published"], x["enqueued"], x["remote"], x["delivered"], x["ops_sent"],
    x["ops_received"], x["dropped"]) for x in w)
crossed = len(w) > 1 and tot.get("remote", 0) > 0 and all(x["delivered"] > 0 for x in w)
bad = [c for c, ok in checks if not ok]
line = ("%s: published %d, confirmed %d, delivered %d of %d, lost %d, duplicated %d, "
        "out-of-order %d, %.1f s (%.0f delivered msgs/s by amqp-load, %.1f s wall)" % (
            name, g("published"), g("confirmed"), g("delivered"), g("expected"), g("lost"),
            g("duplicated"), g("out_of_order"), s.get("deliver_seconds", 0),
            s.get("delivered_per_s", 0), wall))
if s.get("lost", 0) > 0:
    line += "; left in queues %s" % s.get("left_in_queues")
print(json.dumps({"line": line, "workers": per_worker, "crossed": crossed, "bad": bad,
                  "tot": tot, "w": w}))
PY
)
	all_runs+=("$res")
	/usr/bin/python3 -c '
import json, sys
r = json.loads(sys.argv[1])
print("  " + r["line"])
if r["workers"]:
    print("  dataplane: " + r["workers"] + ("  [crossed workers]" if r["crossed"] else ""))
for b in r["bad"]:
    print("  CHECK FAILED: " + b)' "$res"
	if /usr/bin/python3 -c 'import json,sys; sys.exit(1 if json.loads(sys.argv[1])["bad"] else 0)' "$res"; then
		:
	else
		failed+=("$name")
		grep -h 'first missing\|ERROR' "$IT_DIR/amqp-load-$name.err" 2>/dev/null | head -3 || true
	fi
done

# Crossing: over the four runs (each run's connections land on workers by the
# af_packet flow hash, so one run alone may by chance keep to one worker).
if [ "$IT_TARGET" = lepus ] && [ "$workers" -gt 1 ]; then
	if cross=$(/usr/bin/python3 - "$workers" "${all_runs[@]}" <<'PY'
import json, sys
workers = int(sys.argv[1])
runs = [json.loads(a) for a in sys.argv[2:]]
remote = sum(r["tot"].get("remote", 0) for r in runs)
dlv = [sum(x["delivered"] for r in runs for x in r["w"] if x["worker"] == i) for i in range(workers)]
pub = [sum(x["published"] for r in runs for x in r["w"] if x["worker"] == i) for i in range(workers)]
crossed = sum(1 for r in runs if r["crossed"])
print("all runs: sent to other shards %d; published per worker %s; delivered per worker %s; "
      "%d of %d runs crossed workers" % (remote, pub, dlv, crossed, len(runs)))
sys.exit(0 if remote > 0 and all(d > 0 for d in dlv) else 1)
PY
	); then
		it_log "$cross"
	else
		it_log "$cross"
		it_log "CHECK FAILED: the runs did not cross workers"
		failed+=(crossing)
	fi
fi

# A consumer killed with 100 unacked messages.
it_log "kill: sharded_kill.py (1000 messages, consumer A prefetch 100 never acks, SIGKILL)"
ctl=()
[ "$IT_TARGET" = lepus ] && ctl=(--lepusctl "$IT_BUILD/control/lepusctl --socket $IT_SOCK")
set +e
kout=$(it_client timeout 180 /usr/bin/python3 "$here/sharded_kill.py" "$IT_BROKER_IP" "${ctl[@]}" \
	--messages 1000 --prefetch 100 2>"$IT_DIR/kill.err")
krc=$?
set -e
dataplane_session_end kill
it_log "  $kout"
[ -s "$IT_DIR/kill.err" ] && it_log "  $(tail -n 5 "$IT_DIR/kill.err")"
if kcheck=$(/usr/bin/python3 - "$kout" "$dp" "$workers" "$IT_TARGET" "$krc" <<'PY'
import json, sys
k = json.loads(sys.argv[1].splitlines()[-1]) if sys.argv[1].strip() else {}
w, workers, target, rc = json.loads(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
bad = ["sharded_kill.py: " + f for f in k.get("failures", [])]
if rc != 0 and not bad:
    bad.append("sharded_kill.py exited %d" % rc)
if target == "lepus":
    tot = {key: sum(x[key] for x in w) for key in (w[0] if w else {})}
    # 1000 published; A got 100, B got 1000.
    if tot.get("published") != 1000:
        bad.append("dataplane published %s, not 1000" % tot.get("published"))
    if tot.get("delivered") != 1100:
        bad.append("dataplane delivered %s, not 1100 (100 to A, 1000 to B)" % tot.get("delivered"))
    if workers > 1 and (k.get("a_worker") is None or k.get("a_worker") == k.get("b_worker")):
        bad.append("B was not on another worker than A (A %s, B %s)" % (k.get("a_worker"),
                                                                       k.get("b_worker")))
    print("dataplane: " + " | ".join("w%d pub %d dlv %d ring %d/%d" % (
        x["worker"], x["published"], x["delivered"], x["ops_sent"], x["ops_received"]) for x in w))
for b in bad:
    print("CHECK FAILED: " + b)
sys.exit(1 if bad else 0)
PY
); then
	it_log "  $kcheck"
else
	it_log "  $kcheck"
	failed+=(kill)
fi

if [ "${#failed[@]}" -gt 0 ]; then
	it_fail "failed: ${failed[*]}"
fi
it_log "PASS"
