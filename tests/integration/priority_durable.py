#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A durable priority queue across a dataplane restart (test_priority_durable.sh):
the journal keeps each message's properties, so recovered messages keep
their priority. Roles:

  priority_durable.py HOST publish
      declares the durable queue (x-max-priority 5), publishes persistent
      messages of mixed priorities with confirms, takes the first two with
      Basic.Get in ack mode and leaves them unacked (the dataplane is then
      killed under the open connection).
  priority_durable.py HOST check
      after the restart: Basic.Get (auto-ack) everything; the order must be
      the priority order, with the priority properties as published and the
      two delivered ones redelivered (Lepus marks every message recovery
      brings back redelivered: the others are not checked). Exit 0 on
      success."""
import sys
import time

import pika

QUEUE = "lepus-prio-durable"
# (body, priority): none counts as 0, 7 and 9 as 5.
ITEMS = [(b"n0", None), (b"p3a", 3), (b"p5a", 5), (b"p0a", 0), (b"p9", 9), (b"p1", 1),
         (b"p3b", 3), (b"n1", None), (b"p7", 7), (b"p5b", 5), (b"p2", 2), (b"p4", 4)]
ORDER = [b"p5a", b"p9", b"p7", b"p5b", b"p4", b"p3a", b"p3b", b"p2", b"p1", b"n0", b"p0a", b"n1"]


def connect(host):
    return pika.BlockingConnection(pika.ConnectionParameters(
        host=host, heartbeat=0, socket_timeout=10, connection_attempts=5, retry_delay=0.5))


def publish(host):
    conn = connect(host)
    ch = conn.channel()
    ch.queue_declare(QUEUE, durable=True, arguments={"x-max-priority": 5})
    ch.confirm_delivery()
    for body, prio in ITEMS:
        ch.basic_publish("", QUEUE, body, pika.BasicProperties(delivery_mode=2, priority=prio))
    got = []
    for _ in range(2):
        m, _, body = ch.basic_get(QUEUE, auto_ack=False)
        got.append(body)
    if got != ORDER[:2]:
        print("before the restart: got %r, want %r" % (got, ORDER[:2]), flush=True)
        return 1
    print("published %d, 2 unacked" % len(ITEMS), flush=True)
    # Stay connected (unacked) until the dataplane is killed under us.
    time.sleep(30)
    return 0


def check(host):
    conn = connect(host)
    ch = conn.channel()
    deadline = time.monotonic() + 10
    while ch.queue_declare(QUEUE, passive=True).method.message_count < len(ITEMS):
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    out = []
    while True:
        m, props, body = ch.basic_get(QUEUE, auto_ack=True)
        if m is None:
            break
        out.append((body, m.redelivered or body not in ORDER[:2], props.priority))
    want = [(b, True, dict(ITEMS)[b]) for b in ORDER]
    if out != want:
        print("after the restart: got %r\nwant %r" % (out, want))
        return 1
    ch.queue_delete(QUEUE)
    print("recovered %d in priority order" % len(out))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[2] not in ("publish", "check"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit((publish if sys.argv[2] == "publish" else check)(sys.argv[1]))
