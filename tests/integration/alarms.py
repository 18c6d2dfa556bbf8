#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Resource alarms as a pika client sees them (test_alarms.sh, issue 13).
#
#   alarms.py HOST publish QUEUE N
#       declares QUEUE, publishes N messages of 200 octets (no confirms),
#       pumping the connection until Connection.Unblocked has come after a
#       Connection.Blocked (at most 60 s), then prints one JSON line:
#       {"blocked": bool, "reason": str, "unblocked": bool, "published": n}.
#   alarms.py HOST blocked-once QUEUE
#       publishes one message and waits up to 3 s for Connection.Blocked
#       (blocked_connection_timeout then closes the connection); prints the
#       same JSON.
#   alarms.py HOST drain QUEUE N
#       consumes with acks until N messages came (at most 60 s); prints how many.
import json
import sys
import time

import pika


def connect(host, **kw):
    return pika.BlockingConnection(pika.ConnectionParameters(host=host, heartbeat=0, **kw))


def publish(host, queue, n, once=False):
    state = {"blocked": False, "reason": "", "unblocked": False, "published": 0}

    def on_blocked(_conn, frame):
        state["blocked"] = True
        state["reason"] = frame.method.reason

    def on_unblocked(_conn, _frame):
        state["unblocked"] = True

    try:
        conn = connect(host, blocked_connection_timeout=3 if once else 60)
        conn.add_on_connection_blocked_callback(on_blocked)
        conn.add_on_connection_unblocked_callback(on_unblocked)
        ch = conn.channel()
        ch.queue_declare(queue)
        body = b"x" * 200
        for _ in range(n):
            ch.basic_publish("", queue, body)
            state["published"] += 1
        deadline = time.monotonic() + (3 if once else 60)
        while time.monotonic() < deadline and not (state["unblocked"] or (once and state["blocked"])):
            conn.process_data_events(0.2)
        conn.close()
    except pika.exceptions.ConnectionBlockedTimeout:
        pass  # the blocked-once case: the broker kept us blocked
    except pika.exceptions.AMQPError as e:
        state["error"] = type(e).__name__
    print(json.dumps(state))
    return 0


def drain(host, queue, n):
    conn = connect(host)
    ch = conn.channel()
    ch.basic_qos(prefetch_count=500)
    got = 0
    deadline = time.monotonic() + 60
    for method, _, _ in ch.consume(queue, inactivity_timeout=1):
        if method is not None:
            ch.basic_ack(method.delivery_tag)
            got += 1
        if got >= n or time.monotonic() > deadline:
            break
    ch.cancel()
    conn.close()
    print(got)
    return 0


def main():
    host, role, queue = sys.argv[1], sys.argv[2], sys.argv[3]
    if role == "publish":
        return publish(host, queue, int(sys.argv[4]))
    if role == "blocked-once":
        return publish(host, queue, 1, once=True)
    if role == "drain":
        return drain(host, queue, int(sys.argv[4]))
    print(f"unknown role {role}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
