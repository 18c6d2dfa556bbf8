#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Broker semantics that RabbitMQ users rely on, checked with pika on what
arrives: exchanges of every type, the default and amq.* exchanges, exchange
to exchange bindings, alternate and internal exchanges, queue declare rules
and counts, purge and conditional delete, mandatory returns, get, ack, nack,
reject, recover, prefetch, publisher confirms, redelivery when a consumer's
channel closes or its process dies, every basic property, bodies from 0 B to
16 MiB, consumer cancel notification, auto-delete, transactions and global qos.
The cases encode RabbitMQ 3.x's behaviour (the parity suite runs them against
Debian's rabbitmq-server); Lepus must behave the same.

  amqp_broker.py --host H [--case NAME]... [--list]

One line per case: "ok   NAME" or "FAIL NAME: reason". Exit 1 when a case
fails."""
import argparse
import datetime
import decimal
import os
import random
import signal
import subprocess
import sys
import time

import pika
from pika.exceptions import ChannelClosedByBroker, ConnectionClosedByBroker, NackError, UnroutableError

HOST = "127.0.0.1"
RUN = "%d" % os.getpid()  # names are unique per run
CASE_SECONDS = 60


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


def eq(got, want, what):
    if got != want:
        raise Fail("%s: got %r, expected %r" % (what, got, want))


def name(*parts):
    return ".".join(("it",) + parts + (RUN,))


def connect(**kw):
    kw.setdefault("socket_timeout", 5)
    kw.setdefault("blocked_connection_timeout", 5)
    kw.setdefault("heartbeat", 30)
    return pika.BlockingConnection(pika.ConnectionParameters(host=HOST, **kw))


class Conns:
    """Connections a case opens, closed at its end whatever happened."""

    def __init__(self):
        self.all = []

    def open(self, **kw):
        c = connect(**kw)
        self.all.append(c)
        return c

    def channel(self, **kw):
        return self.open(**kw).channel()

    def close(self):
        for c in self.all:
            try:
                if c.is_open:
                    c.close()
            except Exception:
                pass


def sync(ch):
    """A round trip on ch: raises ChannelClosedByBroker if the broker closed it."""
    ch.exchange_declare("amq.direct", passive=True)


def expect_close(ch, code, fn, *args, **kw):
    """fn(*args) must make the broker close ch with reply code; returns the text."""
    try:
        fn(*args, **kw)
        sync(ch)
    except ChannelClosedByBroker as e:
        eq(e.reply_code, code, "channel close code after %s" % fn.__name__)
        return e.reply_text
    raise Fail("%s: channel not closed (expected %d)" % (fn.__name__, code))


def publish(ch, exchange, key, bodies, **kw):
    for b in bodies:
        ch.basic_publish(exchange=exchange, routing_key=key,
                         body=b if isinstance(b, bytes) else b.encode(), **kw)


def get_all(ch, queue, limit=1000):
    """Basic.Get with auto-ack until Get-Empty: the bodies, in order."""
    out = []
    for _ in range(limit):
        m, _, body = ch.basic_get(queue, auto_ack=True)
        if m is None:
            return out
        out.append(body)
    raise Fail("get_all: more than %d messages in %s" % (limit, queue))


def confirmed_channel(conns):
    ch = conns.channel()
    ch.confirm_delivery()
    return ch


class Consumer:
    """A basic.consume whose deliveries are collected in order."""

    def __init__(self, ch, queue, auto_ack=False, **kw):
        self.ch = ch
        self.got = []  # (method, properties, body)
        self.tag = ch.basic_consume(queue, self._on, auto_ack=auto_ack, **kw)

    def _on(self, ch, method, props, body):
        self.got.append((method, props, body))

    def bodies(self):
        return [b for _, _, b in self.got]


def pump(conns, until=None, timeout=5.0, settle=0.3):
    """Process events on every open connection until until() holds (or timeout),
    then settle seconds more so that anything extra also arrives."""
    deadline = time.monotonic() + (timeout if until is not None else 0)
    while time.monotonic() < deadline:
        if until():
            break
        for c in conns.all:
            if c.is_open:
                c.process_data_events(time_limit=0.02)
    end = time.monotonic() + settle
    while time.monotonic() < end:
        for c in conns.all:
            if c.is_open:
                c.process_data_events(time_limit=0.02)


def wait_ready(ch, queue, n, timeout=5.0):
    """Poll (passive declare) until queue has n ready messages; returns the count."""
    deadline = time.monotonic() + timeout
    while True:
        count = ch.queue_declare(queue, passive=True).method.message_count
        if count >= n or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


def wait_gone(conns, queue, timeout=5.0):
    """Poll until a passive declare of queue answers 404 NOT_FOUND."""
    deadline = time.monotonic() + timeout
    ch = conns.channel()
    while True:
        try:
            ch.queue_declare(queue, passive=True)
        except ChannelClosedByBroker as e:
            eq(e.reply_code, 404, "passive declare of %s" % queue)
            return
        if time.monotonic() > deadline:
            raise Fail("queue %s still there after %.0f s" % (queue, timeout))
        time.sleep(0.05)


def declare_bound(ch, exchange, key="", arguments=None, **kw):
    q = ch.queue_declare(queue="", exclusive=True, **kw).method.queue
    ch.queue_bind(queue=q, exchange=exchange, routing_key=key, arguments=arguments)
    return q


# ---------------------------------------------------------------- exchanges

def case_direct_exchange(conns):
    ch = confirmed_channel(conns)
    x = name("direct")
    ch.exchange_declare(x, "direct", auto_delete=True)
    qa = declare_bound(ch, x, "a")
    qb = declare_bound(ch, x, "b")
    ch.queue_bind(qb, x, "both")
    ch.queue_bind(qa, x, "both")
    ch.queue_bind(qa, x, "a")  # the same binding twice: still one copy
    publish(ch, x, "a", ["1"])
    publish(ch, x, "b", ["2"])
    publish(ch, x, "both", ["3"])
    publish(ch, x, "none", ["4"])
    publish(ch, x, "A", ["5"])  # keys are case-sensitive
    eq(get_all(ch, qa), [b"1", b"3"], "queue bound to a, both")
    eq(get_all(ch, qb), [b"2", b"3"], "queue bound to b, both")
    ch.queue_unbind(qa, x, "both")
    publish(ch, x, "both", ["6"])
    eq(get_all(ch, qa), [], "after unbind")
    eq(get_all(ch, qb), [b"6"], "other binding kept")


def case_fanout_exchange(conns):
    ch = confirmed_channel(conns)
    x = name("fanout")
    ch.exchange_declare(x, "fanout", auto_delete=True)
    qs = [declare_bound(ch, x, k) for k in ("", "ignored", "x.y")]
    publish(ch, x, "anything", ["1"])
    publish(ch, x, "", ["2"])
    for q in qs:
        eq(get_all(ch, q), [b"1", b"2"], "fanout ignores keys")


def case_topic_exchange(conns):
    ch = confirmed_channel(conns)
    x = name("topic")
    ch.exchange_declare(x, "topic", auto_delete=True)
    patterns = ["*.orange.*", "*.*.rabbit", "lazy.#", "#", "a.#.z", "#.end", "*", "exact.key", "#.#"]
    qs = {p: declare_bound(ch, x, p) for p in patterns}
    keys = ["quick.orange.rabbit", "lazy", "lazy.x.y", "a.z", "a.b.c.z", "end", "x.end", "one",
            "exact.key", "exact.keys", "", "orange", "a..z"]
    for k in keys:
        publish(ch, x, k, [k])
    want = {
        "*.orange.*": ["quick.orange.rabbit"],
        "*.*.rabbit": ["quick.orange.rabbit"],
        "lazy.#": ["lazy", "lazy.x.y"],
        "#": keys,
        "a.#.z": ["a.z", "a.b.c.z", "a..z"],
        "#.end": ["end", "x.end"],
        "*": ["lazy", "end", "one", "orange"],  # "" has no word for * to match
        "exact.key": ["exact.key"],
        "#.#": keys,
    }
    for p in patterns:
        eq(get_all(ch, qs[p]), [k.encode() for k in want[p]], "topic pattern %r" % p)


def case_headers_exchange(conns):
    ch = confirmed_channel(conns)
    x = name("headers")
    ch.exchange_declare(x, "headers", auto_delete=True)
    q_all = declare_bound(ch, x, arguments={"x-match": "all", "format": "pdf", "type": "report"})
    q_any = declare_bound(ch, x, arguments={"x-match": "any", "format": "pdf", "type": "log"})
    q_default = declare_bound(ch, x, arguments={"n": 1})  # x-match defaults to all
    q_empty = declare_bound(ch, x, arguments={"x-match": "all"})  # no keys: matches all
    msgs = [
        ("both", {"format": "pdf", "type": "report"}),
        ("pdf", {"format": "pdf"}),
        ("log", {"type": "log", "extra": "x"}),
        ("none", {"format": "zip", "type": "report"}),
        ("nohdr", None),
        ("n1", {"n": 1}),
        ("nstr", {"n": "1"}),  # a string is not the integer 1
    ]
    for body, headers in msgs:
        ch.basic_publish(x, "ignored", body.encode(), pika.BasicProperties(headers=headers))
    eq(get_all(ch, q_all), [b"both"], "x-match all")
    eq(get_all(ch, q_any), [b"both", b"pdf", b"log"], "x-match any")
    eq(get_all(ch, q_default), [b"n1"], "x-match default (all), typed value")
    eq(get_all(ch, q_empty), [m[0].encode() for m in msgs], "x-match all without keys")


def case_default_exchange(conns):
    ch = confirmed_channel(conns)
    q = ch.queue_declare(name("default"), auto_delete=False).method.queue
    publish(ch, "", q, ["1", "2"])
    publish(ch, "", q + ".nope", ["lost"])  # no such queue: dropped, still confirmed
    eq(get_all(ch, q), [b"1", b"2"], "default exchange routes by queue name")
    ch.queue_delete(q)
    text = expect_close(ch, 403, ch.queue_bind, q, "", "k")
    check("default exchange" in text, "bind to the default exchange: " + text)
    ch = conns.channel()
    expect_close(ch, 404, ch.basic_publish, name("no-such-exchange"), "k", b"x")
    ch = conns.channel()
    expect_close(ch, 404, ch.exchange_declare, name("no-such-exchange"), passive=True)


def case_amq_predeclared(conns):
    ch = confirmed_channel(conns)
    for x, t in (("amq.direct", "direct"), ("amq.fanout", "fanout"), ("amq.topic", "topic"),
                 ("amq.headers", "headers"), ("amq.match", "headers")):
        ch.exchange_declare(x, passive=True)
        ch.exchange_declare(x, t, durable=True)  # equivalent redeclare is fine
    qd = declare_bound(ch, "amq.direct", "k")
    qf = declare_bound(ch, "amq.fanout", "ignored")
    qt = declare_bound(ch, "amq.topic", "a.*")
    qh = declare_bound(ch, "amq.headers", arguments={"h": "v"})
    qm = declare_bound(ch, "amq.match", arguments={"x-match": "any", "h": "v", "g": "w"})
    publish(ch, "amq.direct", "k", ["d"])
    publish(ch, "amq.fanout", "zz", ["f"])
    publish(ch, "amq.topic", "a.b", ["t"])
    publish(ch, "amq.topic", "a.b.c", ["t2"])
    ch.basic_publish("amq.headers", "", b"h", pika.BasicProperties(headers={"h": "v"}))
    ch.basic_publish("amq.match", "", b"m", pika.BasicProperties(headers={"g": "w"}))
    eq(get_all(ch, qd), [b"d"], "amq.direct")
    eq(get_all(ch, qf), [b"f"], "amq.fanout")
    eq(get_all(ch, qt), [b"t"], "amq.topic")
    eq(get_all(ch, qh), [b"h"], "amq.headers")
    eq(get_all(ch, qm), [b"m"], "amq.match")
    # The amq. prefix is reserved: 403 ACCESS_REFUSED.
    expect_close(ch, 403, ch.exchange_declare, "amq.custom" + RUN, "direct")
    ch = conns.channel()
    expect_close(ch, 403, ch.exchange_delete, "amq.direct")
    ch = conns.channel()
    ch.exchange_declare("amq.direct", passive=True)  # still there


def case_exchange_to_exchange(conns):
    ch = confirmed_channel(conns)
    src, mid, dst = name("e2e-src"), name("e2e-mid"), name("e2e-dst")
    ch.exchange_declare(src, "direct", auto_delete=True)
    ch.exchange_declare(mid, "topic", auto_delete=True)
    ch.exchange_declare(dst, "fanout", auto_delete=True)
    ch.exchange_bind(destination=mid, source=src, routing_key="k.1")
    ch.exchange_bind(destination=dst, source=mid, routing_key="k.*")
    q_mid = declare_bound(ch, mid, "#")
    q_dst = declare_bound(ch, dst)
    q_src = declare_bound(ch, src, "k.1")
    publish(ch, src, "k.1", ["1"])
    publish(ch, src, "k.2", ["2"])  # src has no k.2 binding
    publish(ch, mid, "k.3", ["3"])
    eq(get_all(ch, q_src), [b"1"], "queue on the source")
    eq(get_all(ch, q_mid), [b"1", b"3"], "queue on the middle exchange")
    eq(get_all(ch, q_dst), [b"1", b"3"], "queue two exchanges down")
    # A queue reachable twice gets one copy.
    ch.queue_bind(q_dst, src, "k.1")
    publish(ch, src, "k.1", ["4"])
    eq(get_all(ch, q_dst), [b"4"], "one copy over two paths")
    eq(get_all(ch, q_mid), [b"4"], "queue on the middle exchange")
    ch.exchange_unbind(destination=mid, source=src, routing_key="k.1")
    ch.queue_unbind(q_dst, src, "k.1")
    publish(ch, src, "k.1", ["5"])
    eq(get_all(ch, q_mid) + get_all(ch, q_dst), [], "after exchange.unbind")
    eq(get_all(ch, q_src), [b"4", b"5"], "source's own queue")


def case_alternate_exchange(conns):
    ch = confirmed_channel(conns)
    ae, x = name("ae"), name("with-ae")
    ch.exchange_declare(ae, "fanout", auto_delete=True)
    ch.exchange_declare(x, "direct", auto_delete=True, arguments={"alternate-exchange": ae})
    q = declare_bound(ch, x, "k")
    q_ae = declare_bound(ch, ae)
    publish(ch, x, "k", ["routed"])
    publish(ch, x, "other", ["unroutable"])
    # Mandatory and routed through the alternate exchange: no Basic.Return.
    ch.basic_publish(x, "other2", b"mandatory", mandatory=True)
    eq(get_all(ch, q), [b"routed"], "routed message")
    eq(get_all(ch, q_ae), [b"unroutable", b"mandatory"], "alternate exchange gets the rest")


def case_internal_exchange(conns):
    ch = confirmed_channel(conns)
    pub, internal = name("public"), name("internal")
    ch.exchange_declare(internal, "fanout", internal=True, auto_delete=True)
    ch.exchange_declare(pub, "fanout", auto_delete=True)
    ch.exchange_bind(destination=internal, source=pub)
    q = declare_bound(ch, internal)
    publish(ch, pub, "", ["via public"])
    eq(get_all(ch, q), [b"via public"], "internal exchange reached through a binding")
    ch = conns.channel()
    text = expect_close(ch, 403, ch.basic_publish, internal, "", b"direct")
    check("internal" in text, "reply text names the internal exchange: " + text)


# ---------------------------------------------------------------- queues

def case_queue_passive_missing(conns):
    ch = conns.channel()
    text = expect_close(ch, 404, ch.queue_declare, name("missing"), passive=True)
    check(text.startswith("NOT_FOUND"), "reply text: " + text)
    ch = conns.channel()
    expect_close(ch, 404, ch.basic_consume, name("missing"), lambda *a: None)
    ch = conns.channel()
    expect_close(ch, 404, ch.queue_bind, name("missing"), "amq.direct", "k")


def case_queue_equivalence(conns):
    ch = conns.channel()
    q = name("equiv")
    ch.queue_declare(q, durable=False, arguments={"x-max-length": 10})
    ch.queue_declare(q, durable=False, arguments={"x-max-length": 10})  # same: fine
    ok = ch.queue_declare(q, passive=True)  # passive ignores the rest
    eq(ok.method.queue, q, "passive declare names the queue")
    text = expect_close(ch, 406, ch.queue_declare, q, durable=True, arguments={"x-max-length": 10})
    check(text.startswith("PRECONDITION_FAILED") and "durable" in text, "durable mismatch: " + text)
    ch = conns.channel()
    expect_close(ch, 406, ch.queue_declare, q, durable=False, arguments={"x-max-length": 11})
    ch = conns.channel()
    expect_close(ch, 406, ch.queue_declare, q, durable=False, auto_delete=True,
                 arguments={"x-max-length": 10})
    ch = conns.channel()
    x = name("equiv-x")
    ch.exchange_declare(x, "direct", auto_delete=True)
    expect_close(ch, 406, ch.exchange_declare, x, "fanout", auto_delete=True)
    ch = conns.channel()
    ch.queue_delete(q)


def case_exclusive_other_connection(conns):
    owner = conns.channel()
    q = name("exclusive")
    owner.queue_declare(q, exclusive=True)
    other = conns.channel()
    text = expect_close(other, 405, other.queue_declare, q, exclusive=True)
    check(text.startswith("RESOURCE_LOCKED"), "reply text: " + text)
    other = conns.channel()
    expect_close(other, 405, other.queue_declare, q, passive=True)
    other = conns.channel()
    expect_close(other, 405, other.basic_consume, q, lambda *a: None)
    other = conns.channel()
    expect_close(other, 405, other.basic_get, q)
    other = conns.channel()
    expect_close(other, 405, other.queue_delete, q)
    owner.basic_publish("", q, b"mine")
    m, _, body = owner.basic_get(q, auto_ack=True)
    eq(body, b"mine", "the owner still uses it")
    owner.connection.close()  # an exclusive queue goes with its connection
    other = conns.channel()
    for _ in range(50):
        try:
            other.queue_declare(q, passive=True)
        except ChannelClosedByBroker as e:
            eq(e.reply_code, 404, "exclusive queue after its connection closed")
            return
        time.sleep(0.1)
    raise Fail("exclusive queue survived its connection")


def case_server_named(conns):
    ch = conns.channel()
    names = set()
    for _ in range(3):
        ok = ch.queue_declare("", exclusive=True)
        q = ok.method.queue
        check(q.startswith("amq.gen-") and len(q) > len("amq.gen-") + 8, "server-named queue %r" % q)
        eq((ok.method.message_count, ok.method.consumer_count), (0, 0), "counts of a new queue")
        names.add(q)
    eq(len(names), 3, "distinct names")
    # A client may not name a queue amq.*: 403.
    expect_close(ch, 403, ch.queue_declare, "amq.mine" + RUN)


def case_declare_ok_counts(conns):
    ch = confirmed_channel(conns)
    q = ch.queue_declare(name("counts"), auto_delete=False).method.queue
    publish(ch, "", q, ["1", "2", "3"])
    ok = ch.queue_declare(q, passive=True).method
    eq((ok.message_count, ok.consumer_count), (3, 0), "passive: ready messages, consumers")
    cch = conns.channel()
    cch.basic_qos(prefetch_count=1)
    c = Consumer(cch, q)
    pump(conns, lambda: len(c.got) >= 1)
    ok = ch.queue_declare(q, durable=False).method  # non-passive redeclare reports too
    eq((ok.message_count, ok.consumer_count), (2, 1), "one unacked, one consumer")
    c2 = Consumer(cch, q)
    pump(conns, lambda: len(c2.got) >= 1)
    ok = ch.queue_declare(q, passive=True).method
    eq((ok.message_count, ok.consumer_count), (1, 2), "two consumers, prefetch 1 each")
    ch.queue_delete(q)


def case_purge(conns):
    ch = confirmed_channel(conns)
    q = ch.queue_declare(name("purge")).method.queue
    publish(ch, "", q, ["1", "2", "3", "4", "5"])
    m, _, _ = ch.basic_get(q)  # unacked: not purged
    ok = ch.queue_purge(q)
    eq(ok.method.message_count, 4, "Purge-Ok message_count (ready only)")
    eq(ch.queue_declare(q, passive=True).method.message_count, 0, "after purge")
    ch.basic_nack(m.delivery_tag, requeue=True)
    eq(get_all(ch, q), [b"1"], "the unacked message came back")
    eq(ch.queue_purge(q).method.message_count, 0, "purge of an empty queue")
    ch.queue_delete(q)


def case_delete_conditions(conns):
    ch = confirmed_channel(conns)
    q = ch.queue_declare(name("del")).method.queue
    publish(ch, "", q, ["1", "2"])
    text = expect_close(ch, 406, ch.queue_delete, q, if_empty=True)
    check(text.startswith("PRECONDITION_FAILED"), "if-empty: " + text)
    ch = conns.channel()
    cch = conns.channel()
    cch.basic_qos(prefetch_count=1)
    c = Consumer(cch, q)
    pump(conns, lambda: c.got, settle=0)
    expect_close(ch, 406, ch.queue_delete, q, if_unused=True)
    ch = conns.channel()
    eq(ch.queue_declare(q, passive=True).method.message_count, 1, "queue kept after refusals")
    cch.close()  # the unacked one comes back
    eq(wait_ready(ch, q, 2), 2, "ready after the consumer's channel closed")
    ok = ch.queue_delete(q, if_unused=True)
    eq(ok.method.message_count, 2, "Delete-Ok message_count")
    expect_close(ch, 404, ch.queue_declare, q, passive=True)
    # Exchange delete if-unused with a binding: 406.
    ch = conns.channel()
    x = name("del-x")
    ch.exchange_declare(x, "direct")
    q2 = declare_bound(ch, x, "k")
    expect_close(ch, 406, ch.exchange_delete, x, if_unused=True)
    ch = ch.connection.channel()  # q2 is exclusive to this connection
    ch.queue_unbind(q2, x, "k")
    ch.exchange_delete(x, if_unused=True)
    expect_close(ch, 404, ch.exchange_declare, x, passive=True)


# ---------------------------------------------------------------- publish, get, acks

def case_mandatory_unroutable(conns):
    ch = confirmed_channel(conns)
    x = name("mand")
    ch.exchange_declare(x, "direct", auto_delete=True)
    q = declare_bound(ch, x, "k")
    props = pika.BasicProperties(message_id="m1", headers={"a": 1})
    try:
        ch.basic_publish(x, "nowhere", b"returned", props, mandatory=True)
        raise Fail("no Basic.Return for a mandatory unroutable publish")
    except UnroutableError as e:
        eq(len(e.messages), 1, "returned messages")
        r = e.messages[0]
        eq((r.method.reply_code, r.method.reply_text, r.method.exchange, r.method.routing_key),
           (312, "NO_ROUTE", x, "nowhere"), "Basic.Return")
        eq((r.body, r.properties.message_id, r.properties.headers), (b"returned", "m1", {"a": 1}),
           "returned content")
    ch.basic_publish(x, "k", b"routed", mandatory=True)  # routed: no return
    ch.basic_publish(x, "nowhere", b"dropped")  # not mandatory: silently dropped
    eq(get_all(ch, q), [b"routed"], "routed mandatory message")
    # Without confirms the return arrives on its own.
    pch = conns.channel()
    returns = []
    pch.add_on_return_callback(lambda c, m, p, b: returns.append((m.reply_code, m.reply_text, b)))
    pch.basic_publish("", name("no-queue"), b"r2", mandatory=True)
    pump(conns, lambda: returns, timeout=3)
    eq(returns, [(312, "NO_ROUTE", b"r2")], "Basic.Return without confirms")


def case_basic_get(conns):
    ch = confirmed_channel(conns)
    q = ch.queue_declare("", exclusive=True).method.queue
    m, _, _ = ch.basic_get(q)
    check(m is None, "Get-Empty on an empty queue")
    publish(ch, "", q, ["1", "2", "3"])
    seen = []
    for _ in range(3):
        m, props, body = ch.basic_get(q)
        seen.append((body, m.message_count, m.redelivered, m.exchange, m.routing_key))
        ch.basic_ack(m.delivery_tag)
    eq(seen, [(b"1", 2, False, "", q), (b"2", 1, False, "", q), (b"3", 0, False, "", q)],
       "Get-Ok body, message_count, redelivered, exchange, routing key")
    m, _, _ = ch.basic_get(q)
    check(m is None, "Get-Empty after the last")


def case_ack_nack_reject_requeue(conns):
    ch = confirmed_channel(conns)
    q = ch.queue_declare("", exclusive=True).method.queue
    publish(ch, "", q, ["1", "2", "3", "4", "5"])
    tags = {}
    for _ in range(5):
        m, _, body = ch.basic_get(q)
        tags[body] = m.delivery_tag
    eq(sorted(tags.values()), [1, 2, 3, 4, 5], "delivery tags 1..5")
    ch.basic_ack(tags[b"2"])
    ch.basic_reject(tags[b"4"], requeue=True)
    ch.basic_nack(tags[b"1"], requeue=True)
    ch.basic_nack(tags[b"3"], multiple=False, requeue=True)
    publish(ch, "", q, ["6"])
    got = []
    for _ in range(4):
        m, _, body = ch.basic_get(q)
        got.append((body, m.redelivered))
        if body in (b"1", b"3"):
            ch.basic_ack(m.delivery_tag)
        elif body == b"4":
            ch.basic_reject(m.delivery_tag, requeue=False)  # dropped
        else:
            ch.basic_nack(m.delivery_tag, requeue=False)  # dropped
    eq(got, [(b"1", True), (b"3", True), (b"4", True), (b"6", False)],
       "requeued in original order, before newer messages, redelivered")
    ch.basic_nack(tags[b"5"], requeue=False)
    m, _, _ = ch.basic_get(q)
    check(m is None, "nothing left after requeue=False")
    # A consumer sees the same: nack requeue redelivers with redelivered set.
    publish(ch, "", q, ["7"])
    c = Consumer(ch, q)
    pump(conns, lambda: len(c.got) >= 1)
    ch.basic_nack(c.got[0][0].delivery_tag, requeue=True)
    pump(conns, lambda: len(c.got) >= 2)
    eq([(b, m.redelivered) for m, _, b in c.got], [(b"7", False), (b"7", True)],
       "consumer redelivery after nack")
    ch.basic_ack(c.got[1][0].delivery_tag)


def case_multiple_ack(conns):
    ch = confirmed_channel(conns)
    q = ch.queue_declare(name("multi"), exclusive=False).method.queue
    publish(ch, "", q, ["1", "2", "3", "4", "5", "6"])
    cch = conns.channel()
    c = Consumer(cch, q)
    pump(conns, lambda: len(c.got) >= 6)
    eq(c.bodies(), [b"1", b"2", b"3", b"4", b"5", b"6"], "deliveries")
    tag = {b: m.delivery_tag for m, _, b in c.got}
    cch.basic_ack(tag[b"3"], multiple=True)  # 1..3
    cch.basic_nack(tag[b"5"], multiple=True, requeue=False)  # 4..5 dropped
    cch.basic_cancel(c.tag)
    pump(conns, settle=0.2)
    eq(ch.queue_declare(q, passive=True).method.message_count, 0, "6 still unacked, none ready")
    cch.close()  # 6 comes back
    wait_ready(ch, q, 1)
    pump(conns, settle=0.2)
    eq(get_all(ch, q), [b"6"], "only the unacked message is requeued on close")
    # nack multiple with requeue keeps the order.
    publish(ch, "", q, ["a", "b", "c"])
    gch = conns.channel()
    for _ in range(3):
        m, _, _ = gch.basic_get(q)
    gch.basic_nack(m.delivery_tag, multiple=True, requeue=True)
    got = []
    for _ in range(3):
        m, _, body = gch.basic_get(q, auto_ack=True)
        got.append((body, m.redelivered))
    eq(got, [(b"a", True), (b"b", True), (b"c", True)], "nack multiple requeue")
    ch.queue_delete(q)


def case_ack_after_queue_deleted(conns):
    """A deleted queue's unacked deliveries stay the channel's: their ack,
    nack or reject is accepted (nothing to settle), as RabbitMQ's channel
    keeps them; a tag acked twice is still a 406."""
    ch = confirmed_channel(conns)
    q1 = ch.queue_declare(name("gone1")).method.queue
    q2 = ch.queue_declare(name("gone2")).method.queue
    publish(ch, "", q1, ["1", "2", "3"])
    publish(ch, "", q2, ["g"])
    cch = conns.channel()
    cancelled = []
    cch.add_on_cancel_callback(lambda frame: cancelled.append(frame.method.consumer_tag))
    c = Consumer(cch, q1)
    pump(conns, lambda: len(c.got) >= 3)
    m, _, _ = cch.basic_get(q2)
    tags = [d.delivery_tag for d, _, _ in c.got] + [m.delivery_tag]
    eq(tags, [1, 2, 3, 4], "three deliveries and a Get-Ok")
    ch.queue_delete(q1)
    ch.queue_delete(q2)
    pump(conns, lambda: cancelled, settle=0.1)
    eq(cancelled, [c.tag], "the consumer is cancelled by the broker")
    cch.basic_ack(2)
    cch.basic_nack(4, requeue=True)
    cch.basic_reject(3, requeue=False)
    cch.basic_ack(1, multiple=True)
    sync(cch)
    text = expect_close(cch, 406, cch.basic_ack, 2)
    eq(text, "PRECONDITION_FAILED - unknown delivery tag 2", "a tag settled twice")


def case_cancel_after_queue_deleted(conns):
    """pika's own test of BlockingChannel.basic_cancel with a delivery and the
    broker's Basic.Cancel pending: basic_cancel nacks the delivery, whose
    queue is gone; the channel and the connection stay open."""
    conn = conns.open()
    ch = conn.channel()
    q = ch.queue_declare(name("cancelgone")).method.queue
    ch.basic_publish("", q, b"via-publish", mandatory=True)
    tag = ch.basic_consume(q, lambda *args: None)
    deadline = time.monotonic() + 5
    while not ch._pending_events and time.monotonic() < deadline:
        conn.channel().close()  # a round trip that reads the delivery
    eq(len(ch._pending_events), 1, "the delivery waits in pika")
    ch.queue_delete(q)
    while len(ch._pending_events) < 2 and time.monotonic() < deadline:
        conn.channel().close()
    eq(len(ch._pending_events), 2, "the broker's Basic.Cancel waits in pika too")
    eq(ch.basic_cancel(tag), [], "basic_cancel of an ackable consumer returns nothing")
    sync(ch)
    ch.close()
    check(conn.is_open, "the connection is still open")


def case_recover(conns):
    ch = confirmed_channel(conns)
    q = ch.queue_declare("", exclusive=True).method.queue
    publish(ch, "", q, ["1", "2", "3"])
    cch = ch.connection.channel()  # q is exclusive to this connection
    c = Consumer(cch, q)
    pump(conns, lambda: len(c.got) >= 3)
    cch.basic_ack(c.got[1][0].delivery_tag)
    cch.basic_recover(requeue=True)
    pump(conns, lambda: len(c.got) >= 5)
    eq([(b, m.redelivered) for m, _, b in c.got],
       [(b"1", False), (b"2", False), (b"3", False), (b"1", True), (b"3", True)],
       "Basic.Recover redelivers the unacked ones, in order")
    tags = [m.delivery_tag for m, _, _ in c.got]
    eq(len(set(tags)), 5, "new delivery tags")
    for m, _, _ in c.got[3:]:
        cch.basic_ack(m.delivery_tag)
    pump(conns, settle=0.2)
    eq(len(c.got), 5, "nothing more")


def case_qos_prefetch(conns):
    ch = confirmed_channel(conns)
    q1 = ch.queue_declare("", exclusive=True).method.queue
    q2 = ch.queue_declare("", exclusive=True).method.queue
    publish(ch, "", q1, ["1", "2", "3", "4", "5"])
    publish(ch, "", q2, ["a", "b", "c", "d", "e"])
    cch = ch.connection.channel()
    cch.basic_qos(prefetch_count=2)
    c1 = Consumer(cch, q1)
    c2 = Consumer(cch, q2)
    pump(conns, lambda: len(c1.got) >= 2 and len(c2.got) >= 2)
    eq((c1.bodies(), c2.bodies()), ([b"1", b"2"], [b"a", b"b"]), "prefetch 2 per consumer")
    cch.basic_ack(c1.got[0][0].delivery_tag)
    pump(conns, lambda: len(c1.got) >= 3)
    eq((c1.bodies(), len(c2.got)), ([b"1", b"2", b"3"], 2), "one ack, one more delivery")
    # Delivery tags are the channel's: a multiple ack would take c2's too.
    cch.basic_ack(c1.got[1][0].delivery_tag)
    cch.basic_ack(c1.got[2][0].delivery_tag)
    pump(conns, lambda: len(c1.got) >= 5)
    eq(c1.bodies(), [b"1", b"2", b"3", b"4", b"5"], "acks release the rest")
    # auto-ack consumers are not limited by prefetch.
    publish(ch, "", q2, ["f", "g"])
    ach = ch.connection.channel()
    ach.basic_qos(prefetch_count=1)
    a = Consumer(ach, q2, auto_ack=True)
    pump(conns, lambda: len(a.got) >= 5)
    eq(a.bodies(), [b"c", b"d", b"e", b"f", b"g"], "auto-ack consumer gets all")


def case_qos_global(conns):
    """RabbitMQ 3.x: global=True is a limit shared by the channel's consumers."""
    ch = confirmed_channel(conns)
    q1 = ch.queue_declare("", exclusive=True).method.queue
    q2 = ch.queue_declare("", exclusive=True).method.queue
    publish(ch, "", q1, ["1", "2", "3", "4", "5"])
    publish(ch, "", q2, ["a", "b", "c", "d", "e"])
    cch = ch.connection.channel()
    cch.basic_qos(prefetch_count=3, global_qos=True)
    c1 = Consumer(cch, q1)
    c2 = Consumer(cch, q2)
    pump(conns, lambda: len(c1.got) + len(c2.got) >= 3, settle=0.5)
    eq(len(c1.got) + len(c2.got), 3, "deliveries within a channel limit of 3")
    first = (c1.got + c2.got)[0][0]
    cch.basic_ack(first.delivery_tag)
    pump(conns, lambda: len(c1.got) + len(c2.got) >= 4, settle=0.5)
    eq(len(c1.got) + len(c2.got), 4, "one ack frees one channel credit")
    cch.basic_cancel(c1.tag)
    cch.basic_cancel(c2.tag)
    # Both limits at once: 2 per consumer, then 3 for the channel.
    q3 = ch.queue_declare("", exclusive=True).method.queue
    q4 = ch.queue_declare("", exclusive=True).method.queue
    publish(ch, "", q3, ["1", "2", "3", "4"])
    publish(ch, "", q4, ["a", "b", "c", "d"])
    bch = ch.connection.channel()
    bch.basic_qos(prefetch_count=2, global_qos=False)
    bch.basic_qos(prefetch_count=3, global_qos=True)
    c3 = Consumer(bch, q3)
    pump(conns, lambda: len(c3.got) >= 2, settle=0.3)
    eq(len(c3.got), 2, "per-consumer limit 2 under a channel limit 3")
    c4 = Consumer(bch, q4)
    pump(conns, lambda: len(c4.got) >= 1, settle=0.5)
    eq((len(c3.got), len(c4.got)), (2, 1), "the channel limit caps the second consumer")
    # RabbitMQ 3.x: a global=false Basic.Qos lifts the channel's limit
    # (rabbit_channel: "ensures that if default was set, it's overridden").
    q5 = ch.queue_declare("", exclusive=True).method.queue
    q6 = ch.queue_declare("", exclusive=True).method.queue
    publish(ch, "", q5, ["1", "2", "3", "4"])
    publish(ch, "", q6, ["a", "b", "c", "d"])
    dch = ch.connection.channel()
    dch.basic_qos(prefetch_count=3, global_qos=True)
    dch.basic_qos(prefetch_count=2, global_qos=False)
    c5 = Consumer(dch, q5)
    c6 = Consumer(dch, q6)
    pump(conns, lambda: len(c5.got) + len(c6.got) >= 4, settle=0.5)
    eq((len(c5.got), len(c6.got)), (2, 2), "global=false after global=true: per-consumer only")


def case_publisher_confirms(conns):
    conn = conns.open()
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    acks, nacks, selected = [], [], []

    def on_confirm(frame):
        m = frame.method
        (acks if isinstance(m, pika.spec.Basic.Ack) else nacks).append((m.delivery_tag, m.multiple))

    impl = ch._impl  # pika's BlockingChannel hides multiple acks
    impl.confirm_delivery(ack_nack_callback=on_confirm, callback=lambda f: selected.append(1))
    pump(conns, lambda: selected, timeout=3, settle=0)
    check(selected, "Confirm.Select-Ok")
    n = 500
    for i in range(n):
        impl.basic_publish("", q if i % 10 else name("no-queue"), b"%d" % i)

    def covered():
        return max([t for t, _ in acks] or [0]) >= n

    pump(conns, covered, timeout=10, settle=0.3)
    eq(nacks, [], "nacks")
    # Not in publish order: RabbitMQ confirms unroutable ones at once,
    # routed ones when their queue has them. Multiple: every tag up to it.
    done = set()
    for tag, multiple in acks:
        check(tag not in done, "tag %d confirmed twice" % tag)
        done |= set(t for t in range(1, tag + 1) if t not in done) if multiple else {tag}
    eq(done, set(range(1, n + 1)), "every publish confirmed once (unroutable ones too)")
    eq(ch.queue_declare(q, passive=True).method.message_count, n - n // 10, "routed messages")
    return "%d confirms for %d publishes, %d multiple" % (len(acks), n, sum(1 for _, m in acks if m))


def case_get_small_frame_max(conns):
    """Bodies around a small negotiated frame_max (8192), published with
    confirms and fetched with Basic.Get (the reported bug: a 5,000-octet body,
    the client waiting forever for Get-Ok): transient and persistent, to a
    queue of the getting connection or of another one, each side with frame_max
    8192 or the default. Every Get-Ok carries the whole body."""
    sizes = (5000, 8184, 8185, 20000)
    small = conns.open(frame_max=8192)
    big = conns.open()
    for durable in (False, True):
        for pub_conn, get_conn in ((small, small), (big, small), (small, big)):
            pch, gch = pub_conn.channel(), get_conn.channel()
            pch.confirm_delivery()
            q = pch.queue_declare(name("small-frame", str(durable)), durable=durable).method.queue
            try:
                bodies = [bytes(random.getrandbits(8) for _ in range(n)) for n in sizes]
                for b in bodies:
                    pch.basic_publish("", q, b, properties=pika.BasicProperties(
                        delivery_mode=2 if durable else 1))
                got = []
                for _ in bodies:
                    m, _, body = gch.basic_get(q)
                    check(m is not None, "Get-Ok for message %d" % (len(got) + 1))
                    gch.basic_ack(m.delivery_tag)
                    got.append(body)
                eq([len(b) for b in got], list(sizes), "body sizes")
                check(got == bodies, "bodies intact")
            finally:
                pch.queue_delete(q)
                gch.close()
                pch.close()


def case_prefetch0_republish(conns):
    """A consumer without Basic.Qos (prefetch 0, unlimited) that publishes each
    delivery to another queue and acks it, on the same connection, with
    20,000 messages waiting: its connection must keep reading its publishes
    and acks while deliveries fill its send stream (RabbitMQ does), so all
    20,000 arrive in the other queue. (pika reads while it writes, so this
    did not stall before the fix either; amqp_connection.py has the
    synchronous client that did.)"""
    n = 20000
    pch = conns.channel()
    qa = pch.queue_declare(name("republish", "a"), auto_delete=False).method.queue
    qb = pch.queue_declare(name("republish", "b"), auto_delete=False).method.queue
    try:
        body = b"x" * 512
        for _ in range(n):
            pch.basic_publish("", qa, body)
        eq(wait_ready(pch, qa, n, timeout=20), n, "messages waiting in A")
        conn = conns.open()
        ch = conn.channel()
        moved = [0]

        def on_message(c, method, props, b):
            c.basic_publish("", qb, b)
            c.basic_ack(method.delivery_tag)
            moved[0] += 1

        ch.basic_consume(qa, on_message)
        deadline = time.monotonic() + 30
        while moved[0] < n and time.monotonic() < deadline:
            conn.process_data_events(time_limit=0.1)
        eq(moved[0], n, "deliveries handled within 30 s")
        eq(wait_ready(pch, qb, n, timeout=10), n, "republished messages in B")
    finally:
        pch.queue_delete(qa)
        pch.queue_delete(qb)


def case_max_length_drop_head(conns):
    """x-max-length with the default overflow drops the oldest ready messages."""
    ch = confirmed_channel(conns)
    q = ch.queue_declare("", exclusive=True, arguments={"x-max-length": 2}).method.queue
    publish(ch, "", q, ["1", "2", "3", "4"])
    eq(ch.queue_declare(q, passive=True).method.message_count, 2, "ready messages at the limit")
    eq(get_all(ch, q), [b"3", b"4"], "the newest two are kept")


def case_confirm_nack_reject_publish(conns):
    ch = confirmed_channel(conns)
    q = ch.queue_declare("", exclusive=True, arguments={"x-max-length": 1,
                                                        "x-overflow": "reject-publish"}).method.queue
    ch.basic_publish("", q, b"1")
    try:
        ch.basic_publish("", q, b"2")
        raise Fail("publish over x-max-length with reject-publish was acked")
    except NackError:
        pass
    eq(get_all(ch, q), [b"1"], "queue content")
    ch.basic_publish("", q, b"3")  # room again: acked
    eq(get_all(ch, q), [b"3"], "after the queue drained")


def case_channel_close_redelivers(conns):
    ch = confirmed_channel(conns)
    q = ch.queue_declare(name("chclose")).method.queue
    bodies = [b"%d" % i for i in range(8)]
    publish(ch, "", q, bodies)
    ach = conns.channel()
    a = Consumer(ach, q)
    pump(conns, lambda: len(a.got) >= 8)
    eq(a.bodies(), bodies, "first consumer got all")
    ach.basic_ack(a.got[0][0].delivery_tag)
    bch = conns.channel()
    b = Consumer(bch, q)
    pump(conns, settle=0.3)
    eq(b.got, [], "second consumer idle while the first holds them")
    ach.close()
    pump(conns, lambda: len(b.got) >= 7)
    eq([(body, m.redelivered) for m, _, body in b.got], [(x, True) for x in bodies[1:]],
       "unacked redelivered to the other consumer, in order")
    bch.basic_ack(b.got[-1][0].delivery_tag, multiple=True)
    bch.queue_delete(q)


CHILD = r"""
import sys, time, pika
c = pika.BlockingConnection(pika.ConnectionParameters(host=sys.argv[1], socket_timeout=5))
ch = c.channel()
got = []
for m, p, b in ch.consume(sys.argv[2], auto_ack=False, inactivity_timeout=10):
    if m is None:
        break
    got.append(b)
    if len(got) == int(sys.argv[3]):
        print("got", b" ".join(got).decode(), flush=True)
        time.sleep(60)
"""


def case_consumer_killed(conns):
    ch = confirmed_channel(conns)
    q = ch.queue_declare(name("killed")).method.queue
    bodies = [b"k%d" % i for i in range(6)]
    publish(ch, "", q, bodies)
    child = subprocess.Popen([sys.executable, "-c", CHILD, HOST, q, str(len(bodies))],
                             stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline().strip()
        eq(line, "got " + " ".join(b.decode() for b in bodies), "child consumer")
        eq(ch.queue_declare(q, passive=True).method.message_count, 0, "all unacked")
    finally:
        child.kill()  # SIGKILL: no Channel.Close, no Connection.Close, only TCP
        child.wait(10)
    bch = conns.channel()
    b = Consumer(bch, q)
    pump(conns, lambda: len(b.got) >= len(bodies), timeout=10)
    eq([(body, m.redelivered) for m, _, body in b.got], [(x, True) for x in bodies],
       "all redelivered after the consumer process died, in order")
    bch.basic_ack(b.got[-1][0].delivery_tag, multiple=True)
    bch.queue_delete(q)


# ---------------------------------------------------------------- content

def case_properties(conns):
    ch = confirmed_channel(conns)
    q = ch.queue_declare("", exclusive=True).method.queue
    headers = {
        "str": "text é",
        "int": 7,
        "neg": -3,
        "big": 2**40,
        "bool": True,
        "false": False,
        "dec": decimal.Decimal("3.14"),
        "bytes": b"\x00\x01binary",
        "none": None,
        "time": datetime.datetime(2024, 5, 6, 7, 8, 9),
        "list": [1, "two", [3, {"four": 4}], b"five"],
        "nested": {"a": {"b": {"c": "deep"}}, "n": 1},
        "empty": {},
    }
    props = pika.BasicProperties(
        content_type="application/json", content_encoding="gzip", headers=headers,
        delivery_mode=2, priority=7, correlation_id="corr-1", reply_to="reply.q",
        expiration="600000", message_id="msg-1", timestamp=1700000000, type="order.created",
        user_id="guest", app_id="lepus-it", cluster_id="cluster-a")
    ch.basic_publish("", q, b"{}", props)
    ch.basic_publish("", q, b"{}", props)
    fields = ["content_type", "content_encoding", "headers", "delivery_mode", "priority",
              "correlation_id", "reply_to", "expiration", "message_id", "timestamp", "type",
              "user_id", "app_id", "cluster_id"]

    def same(got, how):
        for f in fields:
            eq(getattr(got, f), getattr(props, f), "%s: property %s" % (how, f))

    m, got, body = ch.basic_get(q, auto_ack=True)
    same(got, "Basic.Get")
    c = Consumer(ch, q, auto_ack=True)
    pump(conns, lambda: c.got)
    same(c.got[0][1], "Basic.Deliver")
    # No properties at all: none invented.
    ch.basic_publish("", q, b"bare")
    pump(conns, lambda: len(c.got) >= 2)
    bare = c.got[1][1]
    for f in fields:
        eq(getattr(bare, f), None, "bare message: property %s" % f)


def case_properties_large(conns):
    """A headers table of ~20 KiB (e.g. Celery's task headers grow large) is
    kept whole, routed on by a headers exchange, delivered and got back."""
    ch = confirmed_channel(conns)
    q = ch.queue_declare("", exclusive=True).method.queue
    x = name("big-headers")
    ch.exchange_declare(x, "headers", auto_delete=True)
    ch.queue_bind(q, x, arguments={"x-match": "any", "kind": "big"})
    headers = {"kind": "big", "argsrepr": "a" * 9000, "kwargsrepr": "k" * 9000,
               "nested": {"list": list(range(200))}}
    props = pika.BasicProperties(headers=headers, message_id="m-big")
    ch.basic_publish(x, "", b"small body", props)
    ch.basic_publish(x, "", b"small body", props)
    m, got, body = ch.basic_get(q, auto_ack=True)
    check(m is not None, "Basic.Get of a message with 20 KiB of headers: empty")
    eq(got.headers, headers, "headers of Get-Ok")
    eq(body, b"small body", "body of Get-Ok")
    c = Consumer(ch, q, auto_ack=True)
    pump(conns, lambda: len(c.got) >= 1, timeout=10)
    eq(c.got[0][1].headers, headers, "headers of Basic.Deliver")
    eq(c.got[0][1].message_id, "m-big", "message_id of Basic.Deliver")


def case_user_id_validated(conns):
    """RabbitMQ: a user_id property must name the connection's user (406)."""
    ch = confirmed_channel(conns)
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"me", pika.BasicProperties(user_id="guest"))
    m, props, _ = ch.basic_get(q, auto_ack=True)
    eq(props.user_id, "guest", "user_id of the connection's user")
    text = expect_close(ch, 406, ch.basic_publish, "", q, b"x", pika.BasicProperties(user_id="mallory"))
    check(text.startswith("PRECONDITION_FAILED") and "mallory" in text, "reply text: " + text)
    ch = ch.connection.channel()  # q is exclusive to this connection
    eq(ch.queue_declare(q, passive=True).method.message_count, 0, "the refused message was not routed")


def bodies_roundtrip(conns, sizes):
    ch = confirmed_channel(conns)
    q = ch.queue_declare("", exclusive=True).method.queue
    rnd = random.Random(5)
    bodies = [rnd.randbytes(n) for n in sizes]
    publish(ch, "", q, bodies + bodies)
    for want in bodies:
        m, _, got = ch.basic_get(q, auto_ack=True)
        check(m is not None, "Basic.Get of a %d B body: empty" % len(want))
        check(got == want, "Basic.Get of a %d B body: %d B back%s" %
              (len(want), len(got), ", different bytes" if len(got) == len(want) else ""))
    c = Consumer(ch, q, auto_ack=True)
    pump(conns, lambda: len(c.got) >= len(bodies), timeout=10)
    eq([len(b) for b in c.bodies()], [len(b) for b in bodies], "delivered body sizes")
    check(c.bodies() == bodies, "delivered bodies differ")


def case_body_sizes(conns):
    # frame_max 131072: 131064 B fill one body frame exactly, 131065 need two.
    bodies_roundtrip(conns, [0, 1, 4096, 131064, 131065])


def case_body_large(conns):
    bodies_roundtrip(conns, [131073, 1 << 20])


def case_body_16mib(conns):
    """A 16 MiB body (128 body frames at frame_max 131072, far over any send
    buffer) published with confirms, then fetched with Basic.Get and consumed
    with Basic.Consume and acked: same bytes, same properties, queue empty."""
    ch = confirmed_channel(conns)
    q = ch.queue_declare("", exclusive=True).method.queue
    body = random.Random(16).randbytes(16 << 20)
    props = pika.BasicProperties(
        content_type="application/octet-stream", headers={"part": 1, "of": "16 MiB"},
        delivery_mode=2, priority=3, correlation_id="corr-16", message_id="msg-16",
        timestamp=1700000016, type="blob", app_id="lepus-it")
    fields = ["content_type", "headers", "delivery_mode", "priority", "correlation_id",
              "message_id", "timestamp", "type", "app_id"]
    ch.basic_publish("", q, body, props)  # confirmed: a nack raises NackError
    ch.basic_publish("", q, body, props)
    eq(ch.queue_declare(q, passive=True).method.message_count, 2, "both 16 MiB messages queued")

    def same(got_props, got, how):
        check(len(got) == len(body) and got == body, "%s: %d B back%s" % (
            how, len(got), ", different bytes" if len(got) == len(body) else ""))
        for f in fields:
            eq(getattr(got_props, f), getattr(props, f), "%s: property %s" % (how, f))

    m, got_props, got = ch.basic_get(q, auto_ack=True)
    check(m is not None, "Basic.Get of the 16 MiB body: empty")
    same(got_props, got, "Basic.Get")
    c = Consumer(ch, q)
    pump(conns, lambda: c.got, timeout=30)
    eq(len(c.got), 1, "deliveries of the second 16 MiB message")
    same(c.got[0][1], c.got[0][2], "Basic.Deliver")
    ch.basic_ack(c.got[0][0].delivery_tag)
    ch.basic_cancel(c.tag)
    eq(ch.queue_declare(q, passive=True).method.message_count, 0, "queue empty after the ack")


# ---------------------------------------------------------------- consumers' lifecycle

def case_cancel_notify_on_delete(conns):
    cch = conns.channel()
    q = cch.queue_declare(name("cancel-notify")).method.queue
    cancelled = []
    cch.add_on_cancel_callback(lambda frame: cancelled.append(frame.method.consumer_tag))
    c = Consumer(cch, q)
    other = conns.channel()
    other.queue_delete(q)
    pump(conns, lambda: cancelled, timeout=5)
    eq(cancelled, [c.tag], "Basic.Cancel from the broker names the consumer")
    check(cch.is_open, "the consumer's channel stays open")
    sync(cch)


def case_auto_delete_last_consumer(conns):
    ch = conns.channel()
    q = name("autodel")
    ch.queue_declare(q, auto_delete=True)
    ch.queue_declare(q, passive=True)
    time.sleep(0.3)
    ch.queue_declare(q, passive=True)  # never consumed: stays
    c1 = Consumer(conns.channel(), q)
    c2ch = conns.channel()
    c2 = Consumer(c2ch, q)
    pump(conns, settle=0.1)
    eq(ch.queue_declare(q, passive=True).method.consumer_count, 2, "two consumers")
    c1.ch.basic_cancel(c1.tag)
    eq(ch.queue_declare(q, passive=True).method.consumer_count, 1, "one consumer left")
    c2ch.basic_cancel(c2.tag)
    wait_gone(conns, q)
    # The last consumer's channel closing counts too.
    ch = conns.channel()
    q2 = name("autodel2")
    ch.queue_declare(q2, auto_delete=True)
    c3ch = conns.channel()
    Consumer(c3ch, q2)
    pump(conns, settle=0.1)
    c3ch.close()
    wait_gone(conns, q2)


# ---------------------------------------------------------------- transactions

def case_tx_publish(conns):
    ch = conns.channel()
    q = ch.queue_declare(name("tx-pub")).method.queue
    watch = conns.channel()
    tch = conns.channel()
    tch.tx_select()
    publish(tch, "", q, ["1", "2"])
    sync(tch)
    eq(watch.queue_declare(q, passive=True).method.message_count, 0, "before commit")
    tch.tx_commit()
    eq(get_all(watch, q), [b"1", b"2"], "after commit")
    publish(tch, "", q, ["3"])
    tch.tx_rollback()
    tch.tx_commit()
    eq(get_all(watch, q), [], "rolled back publish never arrives")
    publish(tch, "", q, ["4"])
    tch.tx_commit()
    eq(get_all(watch, q), [b"4"], "the channel stays transactional")
    # Commit without Tx.Select: 406.
    plain = conns.channel()
    expect_close(plain, 406, plain.tx_commit)
    watch.queue_delete(q)


def case_tx_ack(conns):
    ch = confirmed_channel(conns)
    q = ch.queue_declare(name("tx-ack")).method.queue
    publish(ch, "", q, ["1", "2"])
    tch = conns.channel()
    tch.tx_select()
    m1, _, _ = tch.basic_get(q)
    m2, _, _ = tch.basic_get(q)
    tch.basic_ack(m1.delivery_tag)
    tch.tx_rollback()  # the ack is forgotten; the message stays unacked
    tch.basic_ack(m2.delivery_tag)
    tch.tx_commit()  # only m2's ack takes effect
    tch.close()  # m1 is still unacked: requeued
    got = []
    for _ in range(3):
        m, _, body = ch.basic_get(q, auto_ack=True)
        if m is None:
            break
        got.append((body, m.redelivered))
    eq(got, [(b"1", True)], "the rolled-back ack left 1 unacked, the committed ack took 2")
    ch.queue_delete(q)


def case_channel_flow(conns):
    """Channel.Flow active=true is answered with Flow-Ok; active=false is not
    implemented by RabbitMQ 3.x: the connection closes with 540."""
    c = conns.open()
    ch = c.channel()
    eq(ch.flow(True), True, "Flow-Ok active")
    sync(ch)
    try:
        ch.flow(False)
        sync(ch)
    except ConnectionClosedByBroker as e:
        eq(e.reply_code, 540, "connection close code after Channel.Flow active=false")
        check("active=false" in e.reply_text, "reply text %r names active=false" % e.reply_text)
        return
    raise Fail("Channel.Flow active=false: connection not closed (expected 540)")


CASES = [
    ("direct_exchange", case_direct_exchange),
    ("fanout_exchange", case_fanout_exchange),
    ("topic_exchange", case_topic_exchange),
    ("headers_exchange", case_headers_exchange),
    ("default_exchange", case_default_exchange),
    ("amq_predeclared", case_amq_predeclared),
    ("exchange_to_exchange", case_exchange_to_exchange),
    ("alternate_exchange", case_alternate_exchange),
    ("internal_exchange", case_internal_exchange),
    ("queue_passive_missing", case_queue_passive_missing),
    ("queue_equivalence", case_queue_equivalence),
    ("exclusive_other_connection", case_exclusive_other_connection),
    ("server_named", case_server_named),
    ("declare_ok_counts", case_declare_ok_counts),
    ("purge", case_purge),
    ("delete_conditions", case_delete_conditions),
    ("mandatory_unroutable", case_mandatory_unroutable),
    ("basic_get", case_basic_get),
    ("ack_nack_reject_requeue", case_ack_nack_reject_requeue),
    ("multiple_ack", case_multiple_ack),
    ("ack_after_queue_deleted", case_ack_after_queue_deleted),
    ("cancel_after_queue_deleted", case_cancel_after_queue_deleted),
    ("recover", case_recover),
    ("qos_prefetch", case_qos_prefetch),
    ("qos_global", case_qos_global),
    ("publisher_confirms", case_publisher_confirms),
    ("get_small_frame_max", case_get_small_frame_max),
    ("prefetch0_republish", case_prefetch0_republish),
    ("max_length_drop_head", case_max_length_drop_head),
    ("confirm_nack_reject_publish", case_confirm_nack_reject_publish),
    ("channel_close_redelivers", case_channel_close_redelivers),
    ("consumer_killed", case_consumer_killed),
    ("properties", case_properties),
    ("properties_large", case_properties_large),
    ("user_id_validated", case_user_id_validated),
    ("body_sizes", case_body_sizes),
    ("body_large", case_body_large),
    ("body_16mib", case_body_16mib),
    ("cancel_notify_on_delete", case_cancel_notify_on_delete),
    ("auto_delete_last_consumer", case_auto_delete_last_consumer),
    ("tx_publish", case_tx_publish),
    ("tx_ack", case_tx_ack),
    ("channel_flow", case_channel_flow),
]


def on_alarm(signum, frame):
    raise Fail("timed out after %d s" % CASE_SECONDS)


def run_cases(cases, doc):
    """The command line of a case file: --host, --case NAME (repeatable), --list;
    one line per case, exit status 1 when one fails."""
    global HOST
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--host", default=HOST)
    ap.add_argument("--case", action="append", default=[], help="a case to run (repeatable); default all")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    HOST = args.host
    names = [n for n, _ in cases]
    if args.list:
        print("\n".join(names))
        return 0
    wanted = args.case or names
    unknown = [n for n in set(wanted) if n not in names]
    if unknown:
        print("unknown case(s): %s" % ", ".join(unknown), file=sys.stderr)
        return 2
    signal.signal(signal.SIGALRM, on_alarm)
    failed = []
    for n, fn in cases:
        if n not in wanted:
            continue
        conns = Conns()
        t0 = time.monotonic()
        signal.alarm(CASE_SECONDS)
        try:
            note = fn(conns)
            print("ok   %s (%.2f s%s)" % (n, time.monotonic() - t0, "; " + note if note else ""), flush=True)
        except Exception as e:  # every failure of a case is reported, then the next runs
            reason = str(e) if isinstance(e, Fail) else "%s: %s" % (type(e).__name__, e)
            print("FAIL %s: %s" % (n, reason), flush=True)
            failed.append(n)
        finally:
            signal.alarm(0)
            conns.close()
    print("%d failure(s)%s" % (len(failed), (": " + " ".join(failed)) if failed else ""))
    return 1 if failed else 0


def main():
    return run_cases(CASES, __doc__)


if __name__ == "__main__":
    sys.exit(main())
