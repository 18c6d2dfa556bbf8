#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Durability under SIGKILL (test_store_kill.sh, issue 13). Roles:
#
#   store_kill.py HOST setup QUEUES...
#       declares a durable fanout exchange "lepus-durable-x" and the durable
#       queues QUEUES bound to it (each from a connection of its own, so that
#       with two workers they land on different shards).
#   store_kill.py HOST publish START OUT
#       publishes persistent messages "START", "START+1", ... to the exchange
#       with publisher confirms (pika: each basic_publish returns once it is
#       confirmed), appending each confirmed number to OUT (flushed) until the
#       connection dies; prints how many were confirmed.
#   store_kill.py HOST take QUEUE N OUT
#       Basic.Get with acks of up to N messages, each number appended to OUT
#       once its ack is sent (an acked message may come back after a crash:
#       at least once).
#   store_kill.py HOST check CONFIRMED ACKED QUEUES...
#       drains every queue and checks that each confirmed number not acked is
#       there (several times is allowed, reported); that the rest came in
#       publish order; prints one JSON line. Exit 0 only when nothing
#       confirmed is missing (1: lost messages, 2: the run could not be made).
#       With --keep among QUEUES nothing is acked (the messages stay).
import json
import sys
import time

import pika

EXCHANGE = "lepus-durable-x"


def connect(host, heartbeat=0):
    # The publisher uses a short heartbeat: its broker is killed under it and
    # no RST ever comes, so missed heartbeats are how pika notices.
    return pika.BlockingConnection(pika.ConnectionParameters(
        host=host, heartbeat=heartbeat, blocked_connection_timeout=30, socket_timeout=10,
        connection_attempts=3, retry_delay=0.5))


def setup(host, queues):
    conn = connect(host)
    ch = conn.channel()
    ch.exchange_declare(EXCHANGE, "fanout", durable=True)
    conn.close()
    for q in queues:
        conn = connect(host)
        ch = conn.channel()
        ch.queue_declare(q, durable=True)
        ch.queue_bind(q, EXCHANGE)
        conn.close()
    return 0


def publish(host, start, out):
    props = pika.BasicProperties(delivery_mode=2)
    n = 0
    with open(out, "a") as f:
        try:
            conn = connect(host, heartbeat=2)
            ch = conn.channel()
            ch.confirm_delivery()
            i = start
            while True:
                ch.basic_publish(EXCHANGE, "", str(i).encode(), props)
                f.write(f"{i}\n")
                f.flush()
                n += 1
                i += 1
        except (pika.exceptions.AMQPError, OSError) as e:
            print(f"publisher stopped after {n} confirmed: {type(e).__name__}", file=sys.stderr)
    print(n)
    return 0


def take(host, queue, count, out):
    conn = connect(host)
    ch = conn.channel()
    got = 0
    with open(out, "a") as f:
        while got < count:
            method, _, body = ch.basic_get(queue)
            if method is None:
                break
            ch.basic_ack(method.delivery_tag)
            f.write(body.decode() + "\n")
            f.flush()
            got += 1
    conn.close()
    print(got)
    return 0


def read_numbers(path):
    try:
        with open(path) as f:
            return [int(x) for x in f if x.strip()]
    except FileNotFoundError:
        return []


def check(host, confirmed_path, acked_path, queues):
    # --keep: read without acking (the messages go back when the connection
    # closes), so that a later check sees them again.
    keep = "--keep" in queues
    queues = [q for q in queues if q != "--keep"]
    confirmed = set(read_numbers(confirmed_path))
    acked = read_numbers(acked_path)
    conn = connect(host)
    ch = conn.channel()
    report = {"confirmed": len(confirmed), "acked_before": len(acked), "queues": {}}
    ok = True
    for q in queues:
        seen = []
        redelivered = 0
        while True:
            method, _, body = ch.basic_get(q, auto_ack=not keep)
            if method is None:
                break
            seen.append(int(body))
            redelivered += method.redelivered
        present = set(seen)
        # Every queue of the fanout got every message; a message is gone
        # only from the queue where take() acked it (the first queue).
        gone = set(acked) if q == queues[0] else set()
        missing = sorted(confirmed - present - gone)
        dups = len(seen) - len(present)
        unconfirmed = len(present - confirmed)
        # Order: the messages never taken come in publish order.
        in_order = all(a < b for a, b in zip(seen, seen[1:])) if dups == 0 else None
        ok_q = not missing and in_order is not False
        ok = ok and ok_q
        report["queues"][q] = {"held": len(seen), "missing": len(missing),
                               "missing_first": missing[:10], "duplicates": dups,
                               "unconfirmed_kept": unconfirmed, "redelivered": redelivered,
                               "in_order": in_order}
    conn.close()
    report["ok"] = ok
    print(json.dumps(report))
    return 0 if ok else 1


def main():
    host, role = sys.argv[1], sys.argv[2]
    args = sys.argv[3:]
    try:
        if role == "setup":
            return setup(host, args)
        if role == "publish":
            return publish(host, int(args[0]), args[1])
        if role == "take":
            return take(host, args[0], int(args[1]), args[2])
        if role == "check":
            return check(host, args[0], args[1], args[2:])
    except (pika.exceptions.AMQPError, OSError) as e:
        print(f"store_kill.py {role}: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    print(f"unknown role {role}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
