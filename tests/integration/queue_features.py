#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""RabbitMQ's queue features, checked with pika on what arrives: message TTL
(x-message-ttl, the expiration property, TTL 0, an invalid expiration),
dead-lettering (x-dead-letter-exchange and -routing-key for rejected, expired
and maxlen messages, x-overflow reject-publish-dlx, the x-death and
x-first-death headers, the count of a repeated death, cycles), queue expiry
(x-expires). The cases
encode RabbitMQ 3.10's behaviour (the parity suite runs them against Debian's
rabbitmq-server); Lepus must behave the same. Timing cases use TTLs of tens
of milliseconds and bounded waits.

  queue_features.py --host H [--case NAME]... [--list]"""
import sys
import time

import pika
from pika.exceptions import ChannelClosedByBroker, NackError

from amqp_broker import (Fail, check, eq, expect_close, get_all, name, run_cases, wait_ready)


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
]

if __name__ == "__main__":
    sys.exit(run_cases(CASES, __doc__))
