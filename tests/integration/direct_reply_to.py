#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Direct reply-to (amq.rabbitmq.reply-to), as RPC helpers use it, checked
with pika: the requester consumes from the pseudo-queue with no-ack and
publishes with reply_to set to it; the responder sees a per-channel reply
name and publishes the reply to the default exchange with it; the reply goes
straight to the requester's consumer. Refusals carry RabbitMQ 3.10's codes
and texts. The cases pass against RabbitMQ (parity suite) and Lepus.

  direct_reply_to.py --host H [--case NAME]... [--list]"""
import sys
import time

import pika
from pika.exceptions import ChannelClosedByBroker

from amqp_broker import Fail, check, eq, expect_close, name, run_cases, sync

PSEUDO = "amq.rabbitmq.reply-to"


class Responder:
    """An RPC server on a connection of its own: answers each request on
    queue with b"re:" + body, to the request's reply_to, same correlation id."""

    def __init__(self, conns, queue):
        self.ch = conns.channel()
        self.ch.queue_declare(queue, auto_delete=True)
        self.reply_tos = []
        self.ch.basic_consume(queue, self._on, auto_ack=True)

    def _on(self, ch, method, props, body):
        self.reply_tos.append(props.reply_to)
        ch.basic_publish("", props.reply_to, b"re:" + body,
                         pika.BasicProperties(correlation_id=props.correlation_id))


def pump_until(conns, cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        for c in conns.all:
            if c.is_open:
                c.process_data_events(time_limit=0.01)
    return cond()


def case_rpc_round_trip(conns):
    rpc = name("rpc", "server")
    server = Responder(conns, rpc)
    client = conns.channel()
    got = []
    client.basic_consume(PSEUDO, lambda ch, m, p, b: got.append((m, p, b)), auto_ack=True)
    for i in range(50):
        client.basic_publish("", rpc, b"q%d" % i,
                             pika.BasicProperties(reply_to=PSEUDO, correlation_id="c%d" % i))
    check(pump_until(conns, lambda: len(got) >= 50), "50 replies (got %d)" % len(got))
    eq([b for _, _, b in got], [b"re:q%d" % i for i in range(50)], "replies in order")
    eq([p.correlation_id for _, p, _ in got], ["c%d" % i for i in range(50)], "correlation ids")
    rt = server.reply_tos[0]
    check(rt.startswith(PSEUDO + ".") and len(rt) > len(PSEUDO) + 1,
          "the responder sees a reply name, not the pseudo-queue: %r" % rt)
    eq(len(set(server.reply_tos)), 1, "one reply name per channel")
    m = got[0][0]
    eq((m.exchange, m.routing_key), ("", rt), "the reply's exchange and routing key")
    # A second requester channel gets a name of its own and only its replies.
    other = conns.channel()
    got2 = []
    other.basic_consume(PSEUDO, lambda ch, m, p, b: got2.append(b), auto_ack=True)
    other.basic_publish("", rpc, b"x", pika.BasicProperties(reply_to=PSEUDO))
    check(pump_until(conns, lambda: len(got2) >= 1), "reply on the second channel")
    eq(got2, [b"re:x"], "second channel's replies")
    check(server.reply_tos[-1] != rt, "channels have different reply names")
    eq(len(got), 50, "the first channel got nothing more")


def case_reply_consumer_must_be_no_ack(conns):
    ch = conns.channel()
    text = expect_close(ch, 406, ch.basic_consume, PSEUDO, lambda *a: None, auto_ack=False)
    eq(text, "PRECONDITION_FAILED - reply consumer cannot acknowledge", "reply text")


def case_request_without_reply_consumer(conns):
    ch = conns.channel()
    q = name("rpc", "noconsumer")
    ch.queue_declare(q, auto_delete=True)
    text = expect_close(ch, 406, ch.basic_publish, "", q, b"x",
                        pika.BasicProperties(reply_to=PSEUDO))
    eq(text, "PRECONDITION_FAILED - fast reply consumer does not exist", "reply text")


def case_reply_to_gone_requester(conns):
    rpc = name("rpc", "gone")
    server = conns.channel()
    server.queue_declare(rpc, auto_delete=False)
    client = conns.channel()
    client.basic_consume(PSEUDO, lambda *a: None, auto_ack=True)
    client.basic_publish("", rpc, b"x", pika.BasicProperties(reply_to=PSEUDO))
    m = None
    deadline = time.monotonic() + 5
    while m is None and time.monotonic() < deadline:
        m, props, _ = server.basic_get(rpc, auto_ack=True)
    check(m is not None, "request arrived")
    client.close()
    # The reply to a requester that has gone is dropped; the responder's
    # channel stays open.
    server.basic_publish("", props.reply_to, b"late")
    sync(server)
    server.queue_delete(rpc)


def case_pseudo_queue_passive_declare(conns):
    ch = conns.channel()
    ok = ch.queue_declare(PSEUDO, passive=True).method
    # RabbitMQ 3.10 answers with one consumer, whatever the channel did.
    eq((ok.queue, ok.message_count, ok.consumer_count), (PSEUDO, 0, 1), "passive declare")


def case_cancel_reply_consumer(conns):
    rpc = name("rpc", "cancel")
    Responder(conns, rpc)
    client = conns.channel()
    tag = client.basic_consume(PSEUDO, lambda *a: None, auto_ack=True)
    client.basic_cancel(tag)
    text = expect_close(client, 406, client.basic_publish, "", rpc, b"x",
                        pika.BasicProperties(reply_to=PSEUDO))
    eq(text, "PRECONDITION_FAILED - fast reply consumer does not exist", "after cancel")


def case_rpc_from_many_connections(conns):
    """Requesters on 8 connections of their own, one responder: with two
    workers some requesters are on the other worker (the 2-worker run checks
    that replies crossed workers)."""
    rpc = name("rpc", "many")
    Responder(conns, rpc)
    clients = []
    for i in range(8):
        ch = conns.channel()
        got = []
        ch.basic_consume(PSEUDO, lambda c, m, p, b, got=got: got.append(b), auto_ack=True)
        clients.append((ch, got))
    for i, (ch, _) in enumerate(clients):
        for j in range(5):
            ch.basic_publish("", rpc, b"%d.%d" % (i, j), pika.BasicProperties(reply_to=PSEUDO))
    check(pump_until(conns, lambda: all(len(g) >= 5 for _, g in clients)),
          "every requester got its 5 replies: %s" % [len(g) for _, g in clients])
    for i, (_, got) in enumerate(clients):
        eq(got, [b"re:%d.%d" % (i, j) for j in range(5)], "requester %d's replies" % i)


CASES = [
    ("rpc_round_trip", case_rpc_round_trip),
    ("reply_consumer_must_be_no_ack", case_reply_consumer_must_be_no_ack),
    ("request_without_reply_consumer", case_request_without_reply_consumer),
    ("reply_to_gone_requester", case_reply_to_gone_requester),
    ("pseudo_queue_passive_declare", case_pseudo_queue_passive_declare),
    ("cancel_reply_consumer", case_cancel_reply_consumer),
    ("rpc_from_many_connections", case_rpc_from_many_connections),
]

if __name__ == "__main__":
    sys.exit(run_cases(CASES, __doc__))
