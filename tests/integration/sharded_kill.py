#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Redelivery after a consumer dies (test_sharded_load.sh): a publisher fills a
# queue with N numbered messages (publisher confirms), consumer A (a child
# process, prefetch P, never acks) takes the first P and is SIGKILLed; consumer
# B must then receive all N exactly once, in publish order, the P that A held
# with redelivered=true and the others without. With --lepusctl and two
# workers, each connection's worker is found from the per-worker rx_packets
# that lepusctl status reports (a burst of Basic.Qos round trips on an
# otherwise quiet broker), and B is a connection on another worker than A.
# Prints one JSON line with what happened; exit status 0 only when every check
# holds (1: a check failed, 2: the run could not be made).
#
#   sharded_kill.py HOST [--lepusctl "PATH --socket SOCK"] [--messages N] [--prefetch P]
#   sharded_kill.py HOST --holder QUEUE PREFETCH     (consumer A, internal)
import argparse
import json
import os
import signal
import subprocess
import sys
import time

import pika

QUEUE = "lepus-kill-redeliver"
BURST = 300          # Basic.Qos round trips that mark a connection's worker
STATS_WAIT_S = 2.3   # lepus-control gets the dataplane's counters every 1 s
MAX_CANDIDATES = 10  # connections tried for B on another worker


def connect(host):
    return pika.BlockingConnection(pika.ConnectionParameters(
        host=host, heartbeat=0, blocked_connection_timeout=30, socket_timeout=10))


def burst(ch):
    for _ in range(BURST):
        ch.basic_qos(prefetch_count=1)


def holder(host, queue, prefetch):
    """Consumer A: one line per delivery, never acks, waits to be killed."""
    conn = connect(host)
    ch = conn.channel()
    burst(ch)
    print("burst-done", flush=True)
    if sys.stdin.readline().strip() != "consume":
        return 2
    ch.basic_qos(prefetch_count=prefetch)

    def on_msg(_ch, method, _props, body):
        print("got %d %d" % (int(body.split(b" ")[0]), int(method.redelivered)), flush=True)

    ch.basic_consume(queue, on_msg, auto_ack=False)
    deadline = time.monotonic() + 120  # bounded: the parent kills it long before
    while time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.2)
    return 0


class Workers:
    """Which worker a connection is on, from lepusctl status --json."""

    def __init__(self, lepusctl):
        self.cmd = lepusctl.split() + ["status", "--json"] if lepusctl else None
        self.n = 1
        self.last = None
        if self.cmd:
            st = self.read()
            self.n = len(st)

    def read(self):
        out = subprocess.run(self.cmd, check=True, capture_output=True, text=True,
                             timeout=10).stdout
        dp = json.loads(out)["dataplane"]
        return [w["rx_packets"] for w in sorted(dp["workers"], key=lambda w: w["worker"])]

    def settle(self):
        """Counters after everything so far (call before a burst)."""
        if self.cmd and self.n > 1:
            time.sleep(STATS_WAIT_S)
            self.last = self.read()

    def after_burst(self):
        """The worker whose rx_packets grew by a burst since settle(), or None."""
        if not self.cmd or self.n < 2:
            return 0 if self.n == 1 else None
        time.sleep(STATS_WAIT_S)
        now = self.read()
        delta = [b - a for a, b in zip(self.last, now)]
        self.last = now
        hit = [i for i, d in enumerate(delta) if d >= BURST]
        quiet = [i for i, d in enumerate(delta) if d < BURST // 4]
        if len(hit) == 1 and len(quiet) == self.n - 1:
            return hit[0]
        print("worker of a connection unclear: rx_packets deltas %s" % delta, file=sys.stderr)
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("--lepusctl", default="")
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--prefetch", type=int, default=100)
    ap.add_argument("--holder", nargs=2, metavar=("QUEUE", "PREFETCH"))
    a = ap.parse_args()
    if a.holder:
        return holder(a.host, a.holder[0], int(a.holder[1]))

    n, pf = a.messages, a.prefetch
    res = {"messages": n, "prefetch": pf}
    failures = []
    workers = Workers(a.lepusctl)
    res["workers"] = workers.n

    # The publisher declares the queue: its worker owns it.
    workers.settle()
    pub = connect(a.host)
    pch = pub.channel()
    burst(pch)
    res["owner_worker"] = workers.after_burst()
    pch.queue_declare(QUEUE, durable=False, auto_delete=False)
    pch.queue_purge(QUEUE)
    pch.confirm_delivery()
    for seq in range(n):
        pch.basic_publish("", QUEUE, b"%d kill-redeliver" % seq, mandatory=True)
    res["published"] = n

    # Consumer A in a process of its own.
    workers.settle()
    child = subprocess.Popen([sys.executable, os.path.abspath(__file__), a.host,
                              "--holder", QUEUE, str(pf)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline().strip()
        if line != "burst-done":
            print("consumer A did not start: %r" % line, file=sys.stderr)
            return 2
        res["a_worker"] = workers.after_burst()
        child.stdin.write("consume\n")
        child.stdin.flush()
        held = []
        deadline = time.monotonic() + 30
        while len(held) < pf and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            f = line.split()
            if f[0] == "got":
                held.append((int(f[1]), bool(int(f[2]))))
        # More than the prefetch would show up within this second.
        time.sleep(1.0)
    finally:
        child.send_signal(signal.SIGKILL)
        rest = child.stdout.read()
        child.wait(timeout=10)
    held += [(int(f[1]), bool(int(f[2]))) for f in
             (l.split() for l in rest.splitlines()) if f and f[0] == "got"]
    res["held_by_a"] = len(held)
    if [s for s, _ in held] != list(range(pf)):
        failures.append("A got %d messages, not seqs 0..%d in order: first %s" %
                        (len(held), pf - 1, held[:10]))
    if any(r for _, r in held):
        failures.append("A got redelivered messages")

    # Consumer B, on another worker than A when there are two.
    b = None
    bch = None
    tried = []
    for _ in range(MAX_CANDIDATES):
        workers.settle()
        c = connect(a.host)
        ch = c.channel()
        burst(ch)
        w = workers.after_burst()
        tried.append(w)
        if b is not None:
            b.close()
        b, bch, res["b_worker"] = c, ch, w
        if workers.n < 2 or (w is not None and w != res["a_worker"]):
            break
    res["b_candidates"] = tried
    if workers.n > 1 and (res["b_worker"] is None or res["b_worker"] == res["a_worker"]):
        print("no connection of B landed on another worker than A: %s" % tried,
              file=sys.stderr)

    # The broker requeues A's messages once it sees the connection go.
    deadline = time.monotonic() + 20
    ready = -1
    while time.monotonic() < deadline:
        ready = bch.queue_declare(QUEUE, passive=True).method.message_count
        if ready == n:
            break
        time.sleep(0.1)
    res["ready_after_kill"] = ready
    if ready != n:
        failures.append("the queue holds %d ready messages after the kill, not %d" % (ready, n))

    got = []
    bch.basic_qos(prefetch_count=200)

    def on_msg(ch, method, _props, body):
        got.append((int(body.split(b" ")[0]), bool(method.redelivered)))
        ch.basic_ack(method.delivery_tag)

    bch.basic_consume(QUEUE, on_msg, auto_ack=False)
    deadline = time.monotonic() + 60
    while len(got) < n and time.monotonic() < deadline:
        b.process_data_events(time_limit=0.2)
    extra_until = time.monotonic() + 1.0  # duplicates would arrive now
    while time.monotonic() < extra_until:
        b.process_data_events(time_limit=0.2)
    seqs = [s for s, _ in got]
    redelivered = [s for s, r in got if r]
    res["b_received"] = len(got)
    res["b_redelivered"] = len(redelivered)
    res["b_distinct"] = len(set(seqs))
    if sorted(set(seqs)) != list(range(n)):
        failures.append("B is missing %d of %d messages (first missing %s)" % (
            n - len(set(seqs) & set(range(n))), n,
            sorted(set(range(n)) - set(seqs))[:10]))
    if len(seqs) != len(set(seqs)):
        failures.append("B got %d duplicates" % (len(seqs) - len(set(seqs))))
    if seqs != list(range(n)):
        bad = next((i for i, s in enumerate(seqs) if s != i), None)
        failures.append("B's order differs from the publish order at position %s: %s" % (
            bad, seqs[max(0, (bad or 0) - 3):(bad or 0) + 5]))
    if redelivered != list(range(pf)):
        failures.append("redelivered=true on %d messages, not exactly A's %d (first %s)" % (
            len(redelivered), pf, redelivered[:10]))
    bch.queue_declare(QUEUE, passive=True)
    bch.queue_delete(QUEUE)
    b.close()
    pub.close()
    res["failures"] = failures
    print(json.dumps(res), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
