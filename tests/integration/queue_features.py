#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""RabbitMQ's queue features, checked with pika on what arrives: message TTL
(x-message-ttl, the expiration property, TTL 0, an invalid expiration),
dead-lettering (x-dead-letter-exchange and -routing-key for rejected, expired
and maxlen messages, x-overflow reject-publish-dlx, the x-death and
x-first-death headers, the count of a repeated death, cycles), queue expiry
(x-expires), priority queues (x-max-priority: order, requeue, prefetch,
drop-head, TTL, its argument's checks, across connections). The cases
encode RabbitMQ 3.10's behaviour (the parity suite runs them against Debian's
rabbitmq-server); Lepus must behave the same. Timing cases use TTLs of tens
of milliseconds and bounded waits.

  queue_features.py --host H [--case NAME]... [--list]"""
import sys
import time

import pika
from pika.exceptions import ChannelClosedByBroker, NackError

from amqp_broker import (Consumer, Fail, check, eq, expect_close, get_all, name, pump, run_cases,
                         wait_ready)


def s(v):
    return v.decode() if isinstance(v, bytes) else v


def wait_count(ch, queue, n, timeout=5.0):
    """Poll (passive declare) until queue has exactly n ready messages."""
    deadline = time.monotonic() + timeout
    while True:
        count = ch.queue_declare(queue, passive=True).method.message_count
        if count == n or time.monotonic() > deadline:
            return count
        time.sleep(0.02)


def get_one(ch, queue, timeout=5.0):
    """Basic.Get (auto-ack) until a message arrives: (properties, body)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m, props, body = ch.basic_get(queue, auto_ack=True)
        if m is not None:
            return props, body
        time.sleep(0.02)
    raise Fail("no message in %s after %.0f s" % (queue, timeout))


def deaths(props):
    """The x-death entries, strings decoded."""
    out = []
    for d in (props.headers or {}).get("x-death", []):
        out.append({k: ([s(x) for x in v] if isinstance(v, list) else s(v)) for k, v in d.items()})
    return out


def dl_pair(ch, tag, src_args=None, dlrk=None):
    """A dead-letter exchange (fanout) with one queue bound, and a source queue
    dead-lettering to it. Returns (src, dst, dlx)."""
    dlx = name(tag, "dlx")
    dst = name(tag, "dst")
    src = name(tag, "src")
    ch.exchange_declare(dlx, "fanout", auto_delete=True)
    ch.queue_declare(dst)
    ch.queue_bind(dst, dlx)
    args = {"x-dead-letter-exchange": dlx}
    if dlrk is not None:
        args["x-dead-letter-routing-key"] = dlrk
    args.update(src_args or {})
    ch.queue_declare(src, arguments=args)
    return src, dst, dlx


def cleanup(ch, *queues):
    for q in queues:
        ch.queue_delete(q)


# ---------------------------------------------------------------- TTL

def case_queue_ttl(conns):
    ch = conns.channel()
    q = name("ttl", "queue")
    ch.queue_declare(q, arguments={"x-message-ttl": 150})
    for i in range(3):
        ch.basic_publish("", q, b"m%d" % i)
    eq(wait_ready(ch, q, 3), 3, "ready before the TTL")
    eq(wait_count(ch, q, 0), 0, "ready after the TTL (expired messages leave the count)")
    eq(get_all(ch, q), [], "Basic.Get after the TTL")
    ch.basic_publish("", q, b"late")
    eq(get_all(ch, q), [b"late"], "a message published later has its own TTL")
    cleanup(ch, q)


def case_message_expiration(conns):
    ch = conns.channel()
    q = name("ttl", "msg")
    ch.queue_declare(q)
    ch.basic_publish("", q, b"short", pika.BasicProperties(expiration="50"))
    ch.basic_publish("", q, b"keep")
    time.sleep(0.3)
    # The expired head is removed; the rest stays.
    eq(get_all(ch, q), [b"keep"], "after a per-message expiration")
    # A long TTL at the head keeps a short one behind it (classic queues
    # expire at the head only): both are counted until the head goes.
    ch.basic_publish("", q, b"long", pika.BasicProperties(expiration="60000"))
    ch.basic_publish("", q, b"short2", pika.BasicProperties(expiration="20"))
    time.sleep(0.3)
    eq(ch.queue_declare(q, passive=True).method.message_count, 2, "count with a long head")
    eq(get_all(ch, q), [b"long"], "the short one expired behind the head")
    # The queue's TTL and the message's: the smaller wins.
    q2 = name("ttl", "both")
    ch.queue_declare(q2, arguments={"x-message-ttl": 60000})
    ch.basic_publish("", q2, b"x", pika.BasicProperties(expiration="30"))
    eq(wait_count(ch, q2, 0), 0, "message TTL below the queue's")
    cleanup(ch, q, q2)


def case_expiration_zero(conns):
    ch = conns.channel()
    q = name("ttl", "zero")
    ch.queue_declare(q)
    # No consumer: expires at once.
    ch.basic_publish("", q, b"gone", pika.BasicProperties(expiration="0"))
    time.sleep(0.2)
    eq(get_all(ch, q), [], "expiration 0 with no consumer")
    # A consumer ready: delivered.
    got = []
    ch.basic_consume(q, lambda c, m, p, b: got.append(b), auto_ack=True)
    pub = conns.channel()
    pub.basic_publish("", q, b"now", pika.BasicProperties(expiration="0"))
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        ch.connection.process_data_events(time_limit=0.05)
    eq(got, [b"now"], "expiration 0 with a consumer waiting")
    pub.queue_delete(q)


def case_expiration_invalid(conns):
    ch = conns.channel()
    q = name("ttl", "bad")
    ch.queue_declare(q, auto_delete=True)
    for exp, why in (("foo", "no_integer"), ("-1", "{value_negative,-1}"),
                     ("10abc", '{leftover_string,"abc"}')):
        ch = conns.channel()
        text = expect_close(ch, 406, ch.basic_publish, "", q, b"x",
                            pika.BasicProperties(expiration=exp))
        eq(text, "PRECONDITION_FAILED - invalid expiration '%s': %s" % (exp, why),
           "reply text for expiration %r" % exp)
    ch = conns.channel()
    eq(ch.queue_declare(q, passive=True).method.message_count, 0, "refused publishes not routed")
    ch.queue_delete(q)


# ---------------------------------------------------------------- dead-lettering

def case_dead_letter_rejected(conns):
    ch = conns.channel()
    src, dst, dlx = dl_pair(ch, "dlrej")
    props = pika.BasicProperties(content_type="text/plain", headers={"app": "v"},
                                 message_id="id1", delivery_mode=2, expiration="60000")
    ch.basic_publish("", src, b"body", props)
    m, _, _ = ch.basic_get(src)
    check(m is not None, "message in the source queue")
    ch.basic_reject(m.delivery_tag, requeue=False)
    p, body = get_one(ch, dst)
    eq(body, b"body", "dead-lettered body")
    eq((p.content_type, p.message_id, p.delivery_mode), ("text/plain", "id1", 2),
       "properties kept")
    eq(p.expiration, None, "expiration removed")
    h = p.headers
    eq(s(h.get("app")), "v", "other headers kept")
    eq((s(h.get("x-first-death-queue")), s(h.get("x-first-death-reason")),
        s(h.get("x-first-death-exchange"))), (src, "rejected", ""), "x-first-death headers")
    d = deaths(p)
    eq(len(d), 1, "x-death entries")
    eq((d[0]["count"], d[0]["reason"], d[0]["queue"], d[0]["exchange"], d[0]["routing-keys"]),
       (1, "rejected", src, "", [src]), "x-death entry")
    eq(d[0].get("original-expiration"), "60000", "original-expiration")
    check("time" in d[0], "x-death has a time")
    # Nack without requeue too; an ack is not dead-lettered.
    ch.basic_publish("", src, b"n")
    ch.basic_publish("", src, b"a")
    m1, _, _ = ch.basic_get(src)
    m2, _, _ = ch.basic_get(src)
    ch.basic_nack(m1.delivery_tag, requeue=False)
    ch.basic_ack(m2.delivery_tag)
    p, body = get_one(ch, dst)
    eq(body, b"n", "nacked message dead-lettered")
    time.sleep(0.2)
    eq(get_all(ch, dst), [], "acked message not dead-lettered")
    cleanup(ch, src, dst)


def case_dead_letter_expired_routing_key(conns):
    ch = conns.channel()
    dst = name("dlexp", "dst")
    src = name("dlexp", "src")
    ch.queue_declare(dst)
    # The default exchange, with a dead-letter routing key naming dst.
    ch.queue_declare(src, arguments={"x-message-ttl": 30, "x-dead-letter-exchange": "",
                                     "x-dead-letter-routing-key": dst})
    for i in range(3):
        ch.basic_publish("", src, b"e%d" % i)
    got = []
    deadline = time.monotonic() + 5
    while len(got) < 3 and time.monotonic() < deadline:
        m, p, body = ch.basic_get(dst, auto_ack=True)
        if m is None:
            time.sleep(0.02)
            continue
        got.append((body, m.routing_key, deaths(p)))
    eq([b for b, _, _ in got], [b"e0", b"e1", b"e2"], "expired messages dead-lettered in order")
    eq(got[0][1], dst, "routed with the dead-letter routing key")
    d = got[0][2]
    eq((d[0]["reason"], d[0]["queue"], d[0]["routing-keys"], d[0]["count"]),
       ("expired", src, [src], 1), "x-death of an expired message")
    cleanup(ch, src, dst)


def case_dead_letter_maxlen(conns):
    ch = conns.channel()
    src, dst, dlx = dl_pair(ch, "dlmax", {"x-max-length": 1})
    ch.basic_publish("", src, b"first")
    ch.basic_publish("", src, b"second")
    p, body = get_one(ch, dst)
    eq(body, b"first", "the dropped head is dead-lettered")
    eq(deaths(p)[0]["reason"], "maxlen", "x-death reason")
    eq(get_all(ch, src), [b"second"], "what the source kept")
    cleanup(ch, src, dst)


def case_dead_letter_reject_publish_dlx(conns):
    ch = conns.channel()
    src, dst, dlx = dl_pair(ch, "dlrpd", {"x-max-length": 1, "x-overflow": "reject-publish-dlx"})
    ch.confirm_delivery()
    ch.basic_publish("", src, b"kept")
    try:
        ch.basic_publish("", src, b"refused")
        raise Fail("publish over the limit was confirmed (expected Basic.Nack)")
    except NackError:
        pass
    p, body = get_one(ch, dst)
    eq(body, b"refused", "the refused publish is dead-lettered")
    eq(deaths(p)[0]["reason"], "maxlen", "x-death reason")
    eq(get_all(ch, src), [b"kept"], "what the source kept")
    cleanup(ch, src, dst)


def case_dead_letter_count_and_retry_loop(conns):
    """A retry loop: rejected in work, waits in a delay queue (TTL), comes back
    to work through the default exchange; the count of (work, rejected) grows."""
    ch = conns.channel()
    work = name("dlloop", "work")
    delay = name("dlloop", "delay")
    ch.queue_declare(work, arguments={"x-dead-letter-exchange": "",
                                      "x-dead-letter-routing-key": delay})
    ch.queue_declare(delay, arguments={"x-message-ttl": 20, "x-dead-letter-exchange": "",
                                       "x-dead-letter-routing-key": work})
    ch.basic_publish("", work, b"job")
    for attempt in range(1, 4):
        deadline = time.monotonic() + 5
        m = None
        while m is None and time.monotonic() < deadline:
            m, p, body = ch.basic_get(work)
            if m is None:
                time.sleep(0.02)
        check(m is not None, "attempt %d: the job came back" % attempt)
        d = {(e["queue"], e["reason"]): e["count"] for e in deaths(p)}
        want = {} if attempt == 1 else {(work, "rejected"): attempt - 1,
                                        (delay, "expired"): attempt - 1}
        eq(d, want, "x-death counts at attempt %d" % attempt)
        if attempt > 1:
            eq(deaths(p)[0]["queue"], delay, "latest death first")
            eq((s(p.headers["x-first-death-queue"]), s(p.headers["x-first-death-reason"])),
               (work, "rejected"), "first death kept")
        ch.basic_reject(m.delivery_tag, requeue=False)
    cleanup(ch, work, delay)


def case_dead_letter_cycle_dropped(conns):
    """A queue that dead-letters expired messages to itself: RabbitMQ detects
    the cycle (no rejection in it) and drops the message."""
    ch = conns.channel()
    q = name("dlcycle", "q")
    ch.queue_declare(q, arguments={"x-message-ttl": 20, "x-dead-letter-exchange": "",
                                   "x-dead-letter-routing-key": q})
    ch.basic_publish("", q, b"loop")
    time.sleep(0.5)
    eq(wait_count(ch, q, 0, timeout=2), 0, "count after the cycle")
    eq(get_all(ch, q), [], "the message is gone")
    cleanup(ch, q)


def case_dead_letter_missing_exchange(conns):
    ch = conns.channel()
    q = name("dlmissing", "q")
    ch.queue_declare(q, arguments={"x-dead-letter-exchange": name("dlmissing", "none")})
    ch.basic_publish("", q, b"x")
    m, _, _ = ch.basic_get(q)
    ch.basic_reject(m.delivery_tag, requeue=False)
    eq(wait_count(ch, q, 0), 0, "dropped: the dead-letter exchange does not exist")
    cleanup(ch, q)


def case_dead_letter_purge_not_dead_lettered(conns):
    ch = conns.channel()
    src, dst, dlx = dl_pair(ch, "dlpurge")
    ch.basic_publish("", src, b"x")
    eq(wait_ready(ch, src, 1), 1, "published")
    ch.queue_purge(src)
    time.sleep(0.2)
    eq(get_all(ch, dst), [], "purged messages are not dead-lettered")
    cleanup(ch, src, dst)


def case_dead_letter_across_connections(conns):
    """Pairs of queues declared by different connections: with two workers
    the source and the destination of some pairs are owned by different
    shards (each queue by its declaring connection's worker; the 2-worker
    run checks that dead letters crossed shards)."""
    pairs = []
    for i in range(12):
        a = conns.channel()
        b = conns.channel()
        dlx = name("dlx%d" % i, "x")
        dst = name("dlx%d" % i, "dst")
        src = name("dlx%d" % i, "src")
        b.exchange_declare(dlx, "fanout", auto_delete=True)
        b.queue_declare(dst)
        b.queue_bind(dst, dlx)
        a.queue_declare(src, arguments={"x-dead-letter-exchange": dlx, "x-message-ttl": 10})
        pairs.append((a, b, src, dst))
    for i, (a, b, src, dst) in enumerate(pairs):
        a.basic_publish("", src, b"p%d" % i)
    for i, (a, b, src, dst) in enumerate(pairs):
        p, body = get_one(b, dst)
        eq(body, b"p%d" % i, "pair %d: dead-lettered body" % i)
        eq(deaths(p)[0]["queue"], src, "pair %d: x-death queue" % i)
    for a, b, src, dst in pairs:
        cleanup(a, src)
        cleanup(b, dst)


# ---------------------------------------------------------------- queue expiry

def exists(conns, queue):
    """A passive declare on a channel of its own (it may close it with 404)."""
    ch = conns.channel()
    try:
        ch.queue_declare(queue, passive=True)
        return True
    except ChannelClosedByBroker as e:
        eq(e.reply_code, 404, "passive declare of %s" % queue)
        return False


def case_queue_expires(conns):
    ch = conns.channel()
    q = name("expires", "unused")
    ch.queue_declare(q, arguments={"x-expires": 200})
    ch.basic_publish("", q, b"messages do not keep it")
    time.sleep(1.0)
    check(not exists(conns, q), "an unused queue with x-expires 200 is deleted")
    # x-expires 0 is refused (RabbitMQ: {value_zero,0}).
    ch = conns.channel()
    text = expect_close(ch, 406, ch.queue_declare, name("expires", "zero"),
                        arguments={"x-expires": 0})
    check("{value_zero,0}" in text, "reply text %r" % text)


def case_queue_expires_consumer_and_get_renew(conns):
    ch = conns.channel()
    q = name("expires", "used")
    ch.queue_declare(q, arguments={"x-expires": 300})
    tag = ch.basic_consume(q, lambda *a: None)
    time.sleep(0.8)
    check(exists(conns, q), "a queue with a consumer does not expire")
    ch.basic_cancel(tag)
    # Basic.Get renews the lease.
    for _ in range(6):
        time.sleep(0.15)
        ch.basic_get(q, auto_ack=True)
    check(exists(conns, q), "Basic.Get every 150 ms keeps a 300 ms lease")
    time.sleep(1.0)
    check(not exists(conns, q), "deleted once unused for longer than x-expires")


def case_ttl_argument_equivalence(conns):
    ch = conns.channel()
    q = name("ttl", "equiv")
    ch.queue_declare(q, arguments={"x-message-ttl": 1000, "x-dead-letter-exchange": "a"})
    for args in ({"x-message-ttl": 2000, "x-dead-letter-exchange": "a"},
                 {"x-message-ttl": 1000, "x-dead-letter-exchange": "b"}):
        ch2 = conns.channel()
        expect_close(ch2, 406, ch2.queue_declare, q, arguments=args)
    ch = conns.channel()
    ch.queue_delete(q)


def case_queue_type(conns):
    """x-queue-type classic is a classic queue, and a redeclare with another
    type is 406 inequivalent arg as in RabbitMQ. quorum and stream: RabbitMQ
    3.10 makes them; Lepus refuses them with a 406 that says they are not
    supported (the one deliberate difference: never taken for classic)."""
    ch = conns.channel()
    q = name("qtype", "classic")
    ch.queue_declare(q, durable=True, arguments={"x-queue-type": "classic"})
    ch.queue_declare(q, durable=True, arguments={"x-queue-type": "classic"})
    ch2 = conns.channel()
    text = expect_close(ch2, 406, ch2.queue_declare, q, durable=True,
                        arguments={"x-queue-type": "quorum"})
    check("inequivalent arg 'x-queue-type'" in text, "inequivalent type: %r" % text)
    ch = conns.channel()
    ch.queue_delete(q)
    lepus = ch.connection._impl.server_properties.get("product") in (b"Lepus", "Lepus")
    for qtype in ("quorum", "stream"):
        q = name("qtype", qtype)
        ch = conns.channel()
        if not lepus:
            ch.queue_declare(q, durable=True, arguments={"x-queue-type": qtype})
            ch.queue_delete(q)
            continue
        text = expect_close(ch, 406, ch.queue_declare, q, durable=True,
                            arguments={"x-queue-type": qtype})
        check("%s queues are not supported" % qtype in text, "refusal text: %r" % text)


# ---------------------------------------------------------------- priorities

def prio_publish(ch, q, items):
    """Publish (body, priority) pairs; priority None: no priority property."""
    for body, prio in items:
        props = pika.BasicProperties(priority=prio) if prio is not None else None
        ch.basic_publish("", q, body, props)


# (body, priority) published in this order to an x-max-priority 5 queue:
# none counts as 0, 7 and 9 as 5.
PRIO_MIXED = [(b"n0", None), (b"p3a", 3), (b"p5a", 5), (b"p0a", 0), (b"p9", 9),
              (b"p1", 1), (b"p3b", 3), (b"n1", None), (b"p7", 7), (b"p5b", 5),
              (b"p2", 2), (b"p4", 4), (b"p0b", 0)]
PRIO_MIXED_ORDER = [b"p5a", b"p9", b"p7", b"p5b", b"p4", b"p3a", b"p3b", b"p2", b"p1",
                    b"n0", b"p0a", b"n1", b"p0b"]


def case_priority_order(conns):
    ch = conns.channel()
    q = name("prio", "order")
    ch.queue_declare(q, arguments={"x-max-priority": 5})
    prio_publish(ch, q, PRIO_MIXED)
    eq(wait_ready(ch, q, len(PRIO_MIXED)), len(PRIO_MIXED), "ready")
    eq(get_all(ch, q), PRIO_MIXED_ORDER, "Basic.Get order (highest first, FIFO within)")
    # The priority property arrives as published (not clamped).
    ch.basic_publish("", q, b"x", pika.BasicProperties(priority=9))
    m, props, body = ch.basic_get(q, auto_ack=True)
    eq((body, props.priority), (b"x", 9), "the priority property is kept")
    # Without x-max-priority (or with 0) priorities are ignored: FIFO.
    for args in ({}, {"x-max-priority": 0}):
        q2 = name("prio", "plain")
        ch.queue_declare(q2, arguments=args)
        prio_publish(ch, q2, PRIO_MIXED)
        eq(wait_ready(ch, q2, len(PRIO_MIXED)), len(PRIO_MIXED), "ready (%s)" % args)
        eq(get_all(ch, q2), [b for b, _ in PRIO_MIXED], "FIFO with %s" % args)
        ch.queue_delete(q2)
    cleanup(ch, q)


def case_priority_requeue(conns):
    ch = conns.channel()
    q = name("prio", "requeue")
    ch.queue_declare(q, arguments={"x-max-priority": 3})
    prio_publish(ch, q, [(b"a1", 1), (b"b2", 2), (b"c1", 1), (b"d2", 2), (b"e0", 0),
                         (b"f2", 2)])
    eq(wait_ready(ch, q, 6), 6, "ready")
    got = []
    for _ in range(4):
        m, _, body = ch.basic_get(q, auto_ack=False)
        got.append((m.delivery_tag, body))
    eq([b for _, b in got], [b"b2", b"d2", b"f2", b"a1"], "first four (ack mode)")
    # Newer ones of the same priorities arrive meanwhile.
    prio_publish(ch, q, [(b"g2", 2), (b"h1", 1)])
    eq(wait_ready(ch, q, 4), 4, "ready after two more")
    ch.basic_reject(got[1][0], requeue=True)            # d2
    ch.basic_nack(got[3][0], multiple=False, requeue=True)  # a1
    ch.close()                                           # b2, f2 back too
    ch = conns.channel()
    eq(wait_ready(ch, q, 8), 8, "all requeued")
    out = []
    while True:
        m, _, body = ch.basic_get(q, auto_ack=True)
        if m is None:
            break
        out.append((body, m.redelivered))
    eq(out, [(b"b2", True), (b"d2", True), (b"f2", True), (b"g2", False), (b"a1", True),
             (b"c1", False), (b"h1", False), (b"e0", False)],
       "requeued messages back at their place within their priority")
    cleanup(ch, q)


def case_priority_with_prefetch_consumer(conns):
    ch = conns.channel()
    q = name("prio", "prefetch")
    ch.queue_declare(q, arguments={"x-max-priority": 10})
    prio_publish(ch, q, [(b"a0", 0), (b"a1", 0), (b"b5", 5), (b"a2", 0)])
    eq(wait_ready(ch, q, 4), 4, "ready")
    cch = conns.channel()
    cch.basic_qos(prefetch_count=1)
    c = Consumer(cch, q)
    pump(conns, lambda: len(c.got) >= 1)
    eq(c.bodies(), [b"b5"], "prefetch 1: the highest first")
    # A higher one arrives while the consumer is full: it is next.
    prio_publish(ch, q, [(b"c9", 9), (b"a3", 0)])
    eq(wait_ready(ch, q, 5), 5, "ready while the consumer is full")
    cch.basic_ack(c.got[0][0].delivery_tag)
    pump(conns, lambda: len(c.got) >= 2)
    eq(c.bodies(), [b"b5", b"c9"], "after an ack: the newer, higher one")
    # A nack with requeue puts it back at the head: redelivered at once.
    cch.basic_nack(c.got[1][0].delivery_tag, requeue=True)
    pump(conns, lambda: len(c.got) >= 3)
    eq((c.got[2][2], c.got[2][0].redelivered), (b"c9", True), "requeued, then redelivered")
    for _ in range(4):
        n = len(c.got)
        cch.basic_ack(c.got[-1][0].delivery_tag)
        pump(conns, lambda: len(c.got) > n, settle=0.05)
    eq(c.bodies()[3:], [b"a0", b"a1", b"a2", b"a3"], "then FIFO at priority 0")
    cch.basic_ack(c.got[-1][0].delivery_tag)
    cch.close()
    eq(wait_count(ch, q, 0), 0, "drained")
    cleanup(ch, q)


def case_priority_max_length(conns):
    """x-max-length drop-head on a priority queue drops the next message to
    be delivered, the oldest of the highest priority (rabbit_priority_queue
    drops from the sub-queues highest first), dead-lettered as maxlen."""
    ch = conns.channel()
    src, dst, dlx = dl_pair(ch, "prioml", {"x-max-priority": 2, "x-max-length": 3})
    prio_publish(ch, src, [(b"a0", 0), (b"b2", 2), (b"c1", 1), (b"d0", 0)])
    p, body = get_one(ch, dst)
    eq((body, p.priority), (b"b2", 2), "dropped (dead-lettered, priority kept)")
    eq(deaths(p)[0]["reason"], "maxlen", "x-death reason")
    eq(get_all(ch, src), [b"c1", b"a0", b"d0"], "left in the queue")
    cleanup(ch, src, dst)


def case_priority_ttl(conns):
    """TTL on a priority queue expires from the head of the highest priority
    present down: an expired message waits (and counts) behind a live one of
    a higher priority (rabbit_priority_queue:dropwhile/2 goes to the next
    priority only when one is empty)."""
    ch = conns.channel()
    q = name("prio", "ttl")
    ch.queue_declare(q, arguments={"x-max-priority": 4})
    ch.basic_publish("", q, b"live4", pika.BasicProperties(priority=4))
    ch.basic_publish("", q, b"short2", pika.BasicProperties(priority=2, expiration="30"))
    ch.basic_publish("", q, b"short0", pika.BasicProperties(expiration="30"))
    time.sleep(0.3)
    eq(ch.queue_declare(q, passive=True).method.message_count, 3,
       "expired ones behind a live higher one still count")
    eq(get_all(ch, q), [b"live4"], "then they expire")
    # With nothing live above, each priority's head expires on its own.
    ch.basic_publish("", q, b"short3", pika.BasicProperties(priority=3, expiration="30"))
    ch.basic_publish("", q, b"keep1", pika.BasicProperties(priority=1))
    ch.basic_publish("", q, b"short1", pika.BasicProperties(priority=1, expiration="30"))
    time.sleep(0.3)
    eq(get_all(ch, q), [b"keep1"], "expired at the head of priority 3; the rest stays")
    # The queue's TTL applies to every priority.
    q2 = name("prio", "qttl")
    ch.queue_declare(q2, arguments={"x-max-priority": 4, "x-message-ttl": 40})
    prio_publish(ch, q2, [(b"x", 0), (b"y", 4), (b"z", 2)])
    eq(wait_count(ch, q2, 0), 0, "x-message-ttl at every priority")
    cleanup(ch, q, q2)


def case_priority_dead_letter_keeps_priority(conns):
    ch = conns.channel()
    src, dst, dlx = dl_pair(ch, "priodl", {"x-max-priority": 5})
    ch.queue_declare(name("priodl", "dst2"), arguments={"x-max-priority": 5})
    ch.queue_bind(name("priodl", "dst2"), dlx)
    prio_publish(ch, src, [(b"lo", 1), (b"hi", 4), (b"mid", 2)])
    eq(wait_ready(ch, src, 3), 3, "ready")
    tags = []
    for _ in range(3):
        m, _, body = ch.basic_get(src, auto_ack=False)
        tags.append(m.delivery_tag)
    ch.basic_nack(tags[2], multiple=True, requeue=False)
    eq(wait_ready(ch, dst, 3), 3, "dead-lettered")
    # dst has no x-max-priority: in dead-letter order; dst2 orders them again.
    eq(get_all(ch, dst), [b"hi", b"mid", b"lo"], "dead-letter order")
    out = []
    while True:
        m, p, body = ch.basic_get(name("priodl", "dst2"), auto_ack=True)
        if m is None:
            break
        out.append((body, p.priority))
    eq(out, [(b"hi", 4), (b"mid", 2), (b"lo", 1)], "priorities kept by dead-lettering")
    cleanup(ch, src, dst, name("priodl", "dst2"))


def case_priority_arguments(conns):
    """x-max-priority: a non-negative integer up to 255 (rabbit_amqqueue's
    check_max_priority_arg), part of the queue's equivalence."""
    for v, why in ((256, "{max_value_exceeded,256}"), (-1, "{value_negative,-1}")):
        ch = conns.channel()
        q = name("prio", "bad")
        text = expect_close(ch, 406, ch.queue_declare, q, arguments={"x-max-priority": v})
        eq(text, "PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue '%s' in vhost "
           "'/': %s" % (q, why), "406 text for %d" % v)
    ch = conns.channel()
    ch2 = conns.channel()
    expect_close(ch2, 406, ch2.queue_declare, name("prio", "bad"),
                 arguments={"x-max-priority": "5"})
    q = name("prio", "equiv")
    ch.queue_declare(q, arguments={"x-max-priority": 255})
    ch.queue_declare(q, arguments={"x-max-priority": 255})
    for args in ({"x-max-priority": 10}, {}):
        ch2 = conns.channel()
        expect_close(ch2, 406, ch2.queue_declare, q, arguments=args)
    prio_publish(ch, q, [(b"a", 0), (b"b", 255), (b"c", 200), (b"d", 255)])
    eq(wait_ready(ch, q, 4), 4, "ready")
    eq(get_all(ch, q), [b"b", b"d", b"c", b"a"], "255 levels")
    cleanup(ch, q)


def case_priority_across_connections(conns):
    """Priority queues declared by one connection, published to from a
    second and consumed from a third: with two workers the three are spread
    over the shards (each queue is owned by its declaring connection's
    worker)."""
    sets = []
    for i in range(6):
        d, p, c = conns.channel(), conns.channel(), conns.channel()
        q = name("prio%d" % i, "x")
        d.queue_declare(q, arguments={"x-max-priority": 9})
        sets.append((d, p, c, q))
    for d, p, c, q in sets:
        prio_publish(p, q, PRIO_MIXED)
    for d, p, c, q in sets:
        eq(wait_ready(d, q, len(PRIO_MIXED)), len(PRIO_MIXED), "%s: ready" % q)
    for d, p, c, q in sets:
        c.basic_qos(prefetch_count=1)
        cons = Consumer(c, q)
        for _ in range(len(PRIO_MIXED)):
            n = len(cons.got)
            deadline = time.monotonic() + 5
            while len(cons.got) == n and time.monotonic() < deadline:
                c.connection.process_data_events(time_limit=0.02)
            check(len(cons.got) == n + 1, "%s: one delivery after %d (prefetch 1)" % (q, n))
            c.basic_ack(cons.got[-1][0].delivery_tag)
        # x-max-priority 9: 9 is not clamped here, 7 is below it.
        want = [b"p9", b"p7", b"p5a", b"p5b", b"p4", b"p3a", b"p3b", b"p2", b"p1", b"n0",
                b"p0a", b"n1", b"p0b"]
        eq(cons.bodies(), want, "%s: delivery order" % q)
        c.basic_cancel(cons.tag)
    for d, p, c, q in sets:
        cleanup(d, q)


CASES = [
    ("queue_ttl", case_queue_ttl),
    ("message_expiration", case_message_expiration),
    ("expiration_zero", case_expiration_zero),
    ("expiration_invalid", case_expiration_invalid),
    ("dead_letter_rejected", case_dead_letter_rejected),
    ("dead_letter_expired_routing_key", case_dead_letter_expired_routing_key),
    ("dead_letter_maxlen", case_dead_letter_maxlen),
    ("dead_letter_reject_publish_dlx", case_dead_letter_reject_publish_dlx),
    ("dead_letter_count_and_retry_loop", case_dead_letter_count_and_retry_loop),
    ("dead_letter_cycle_dropped", case_dead_letter_cycle_dropped),
    ("dead_letter_missing_exchange", case_dead_letter_missing_exchange),
    ("dead_letter_purge_not_dead_lettered", case_dead_letter_purge_not_dead_lettered),
    ("dead_letter_across_connections", case_dead_letter_across_connections),
    ("queue_expires", case_queue_expires),
    ("queue_expires_consumer_and_get_renew", case_queue_expires_consumer_and_get_renew),
    ("ttl_argument_equivalence", case_ttl_argument_equivalence),
    ("queue_type", case_queue_type),
    ("priority_order", case_priority_order),
    ("priority_requeue", case_priority_requeue),
    ("priority_with_prefetch_consumer", case_priority_with_prefetch_consumer),
    ("priority_max_length", case_priority_max_length),
    ("priority_ttl", case_priority_ttl),
    ("priority_dead_letter_keeps_priority", case_priority_dead_letter_keeps_priority),
    ("priority_arguments", case_priority_arguments),
    ("priority_across_connections", case_priority_across_connections),
]

if __name__ == "__main__":
    sys.exit(run_cases(CASES, __doc__))
