#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Consumer features that RabbitMQ users rely on, checked with pika on what
arrives: single active consumer (queue argument x-single-active-consumer:
only the first consumer gets messages; when it is cancelled, its channel
closes or its connection goes, the next takes over with the unacked ones
requeued first) and consumer priorities (Basic.Consume argument x-priority:
the highest-priority consumers with prefetch credit are served first). The
consumers are on several connections, so with two workers some of them are
on another worker than the queue's owner shard. The cases encode RabbitMQ
3.10's behaviour (the parity suite runs them against Debian's
rabbitmq-server); Lepus must behave the same. The helpers are
amqp_broker.py's.

  consumer_features.py --host H [--case NAME]... [--list]

One line per case: "ok   NAME" or "FAIL NAME: reason". Exit 1 when a case
fails."""
import argparse
import signal
import subprocess
import sys
import time

import amqp_broker as ab
from amqp_broker import (CHILD, Conns, Consumer, Fail, confirmed_channel, eq, expect_close, name,
                         publish, pump)

SAC = {"x-single-active-consumer": True}


def bodies(prefix, n, start=0):
    return [b"%s%d" % (prefix, i) for i in range(start, start + n)]


def delivered(c):
    return [(body, m.redelivered) for m, _, body in c.got]


# ---------------------------------------------------------------- single active consumer

def case_sac_first_consumer_only(conns):
    """Three consumers on two connections: only the first gets messages; when
    it is cancelled the next one attached gets the rest, in order."""
    ch = confirmed_channel(conns)
    q = ch.queue_declare(name("sac"), arguments=SAC).method.queue
    a_ch, b_ch = conns.channel(), conns.channel()
    c_ch = b_ch.connection.channel()
    a = Consumer(a_ch, q, auto_ack=True)
    b = Consumer(b_ch, q, auto_ack=True)
    c = Consumer(c_ch, q, auto_ack=True)
    eq(ch.queue_declare(q, passive=True).method.consumer_count, 3, "consumer count")
    first = bodies(b"s", 10)
    publish(ch, "", q, first)
    pump(conns, lambda: len(a.got) >= 10)
    eq((a.bodies(), b.got, c.got), (first, [], []), "only the first consumer gets them")
    a_ch.basic_cancel(a.tag)
    rest = bodies(b"s", 10, 10)
    publish(ch, "", q, rest)
    pump(conns, lambda: len(b.got) >= 10)
    eq((len(a.got), b.bodies(), c.got), (10, rest, []), "after the cancel, the next one gets the rest")
    ch.queue_delete(q)


def case_sac_cancel_keeps_ready_order(conns):
    """Messages ready when the active consumer is cancelled go to the next one
    in order; the cancelled one's unacked stay with its channel until it
    acks them. RabbitMQ 3.10 hands the ready ones over at the queue's next
    dispatch (here: another consumer attaching), Lepus once the cancelled
    consumer's unacked are settled (so that order holds, also for pika,
    which cancels before it closes a channel); the case checks after both."""
    ch = confirmed_channel(conns)
    q = ch.queue_declare(name("sacready"), arguments=SAC).method.queue
    a_ch, b_ch = conns.channel(), conns.channel()
    a_ch.basic_qos(prefetch_count=3)
    a = Consumer(a_ch, q)
    b = Consumer(b_ch, q)
    msgs = bodies(b"r", 8)
    publish(ch, "", q, msgs)
    pump(conns, lambda: len(a.got) >= 3)
    eq((a.bodies(), b.got), (msgs[:3], []), "the active consumer within its prefetch, the other waits")
    eq(ab.wait_ready(ch, q, 5), 5, "ready behind the prefetch")
    a_ch.basic_cancel(a.tag)
    c = Consumer(conns.channel(), q)
    a_ch.basic_ack(a.got[-1][0].delivery_tag, multiple=True)
    pump(conns, lambda: len(b.got) >= 5)
    eq((delivered(b), c.got), ([(x, False) for x in msgs[3:]], []),
       "the next consumer gets the ready ones in order")
    b_ch.basic_ack(b.got[-1][0].delivery_tag, multiple=True)
    ab.sync(a_ch)
    eq(ch.queue_declare(q, passive=True).method.message_count, 0, "nothing left")
    ch.queue_delete(q)


def case_sac_channel_close_redelivers(conns):
    """The active consumer's channel closes with unacked messages: the next
    consumer gets them first, redelivered, then the ones never delivered."""
    ch = confirmed_channel(conns)
    q = ch.queue_declare(name("sacclose"), arguments=SAC).method.queue
    a_ch, b_ch = conns.channel(), conns.channel()
    a_ch.basic_qos(prefetch_count=4)
    a = Consumer(a_ch, q)
    b = Consumer(b_ch, q)
    msgs = bodies(b"c", 8)
    publish(ch, "", q, msgs)
    pump(conns, lambda: len(a.got) >= 4)
    a_ch.basic_ack(a.got[0][0].delivery_tag)
    pump(conns, lambda: len(a.got) >= 5)
    eq((a.bodies(), b.got), (msgs[:5], []), "the first consumer only")
    a_ch.close()
    pump(conns, lambda: len(b.got) >= 7)
    eq(delivered(b), [(x, True) for x in msgs[1:5]] + [(x, False) for x in msgs[5:]],
       "unacked redelivered first, in order, then the rest")
    b_ch.basic_ack(b.got[-1][0].delivery_tag, multiple=True)
    ch.queue_delete(q)


def case_sac_connection_closed_redelivers(conns):
    """The same when the active consumer's whole connection closes; a third
    consumer attached later still waits behind the second."""
    ch = confirmed_channel(conns)
    q = ch.queue_declare(name("sacconn"), arguments=SAC).method.queue
    a_conn = conns.open()
    a_ch = a_conn.channel()
    b_ch, c_ch = conns.channel(), conns.channel()
    a = Consumer(a_ch, q)
    b = Consumer(b_ch, q)
    c = Consumer(c_ch, q)
    msgs = bodies(b"n", 6)
    publish(ch, "", q, msgs)
    pump(conns, lambda: len(a.got) >= 6)
    a_ch.basic_ack(a.got[1][0].delivery_tag, multiple=True)
    ab.sync(a_ch)
    eq((a.bodies(), b.got, c.got), (msgs, [], []), "the first consumer only")
    a_conn.close()
    pump(conns, lambda: len(b.got) >= 4)
    eq((delivered(b), c.got), ([(x, True) for x in msgs[2:]], []),
       "the second consumer gets the unacked ones, redelivered, in order")
    more = bodies(b"n", 3, 6)
    publish(ch, "", q, more)
    pump(conns, lambda: len(b.got) >= 7)
    eq((b.bodies()[4:], c.got), (more, []), "and what follows")
    b_ch.basic_ack(b.got[-1][0].delivery_tag, multiple=True)
    ch.queue_delete(q)


# CHILD: amqp_broker's consumer process that is killed while it holds messages.


def case_sac_consumer_killed(conns):
    """The active consumer's process dies (only TCP goes: no Channel.Close,
    no Connection.Close): the waiting consumer gets everything redelivered."""
    ch = confirmed_channel(conns)
    q = ch.queue_declare(name("sackill"), arguments=SAC).method.queue
    msgs = bodies(b"k", 5)
    publish(ch, "", q, msgs)
    child = subprocess.Popen([sys.executable, "-c", CHILD, ab.HOST, q, str(len(msgs))],
                             stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline().strip()
        eq(line, "got " + " ".join(m.decode() for m in msgs), "child consumer")
        b_ch = conns.channel()
        b = Consumer(b_ch, q)
        pump(conns, settle=0.3)
        eq(b.got, [], "the second consumer waits while the child is active")
    finally:
        child.kill()  # SIGKILL
        child.wait(10)
    pump(conns, lambda: len(b.got) >= len(msgs), timeout=10)
    eq(delivered(b), [(x, True) for x in msgs], "all redelivered to the next consumer, in order")
    b_ch.basic_ack(b.got[-1][0].delivery_tag, multiple=True)
    ch.queue_delete(q)


def case_sac_successor_by_priority(conns):
    """The first consumer is active whatever the others' x-priority; when it
    goes, the waiting one of highest priority takes over (RabbitMQ 3.10's
    rabbit_queue_consumers:get_consumer), not the next attached."""
    ch = confirmed_channel(conns)
    q = ch.queue_declare(name("sacprio"), arguments=SAC).method.queue
    a_ch, b_ch, c_ch = conns.channel(), conns.channel(), conns.channel()
    a = Consumer(a_ch, q)
    b = Consumer(b_ch, q)
    c = Consumer(c_ch, q, arguments={"x-priority": 5})
    msgs = bodies(b"q", 3)
    publish(ch, "", q, msgs)
    pump(conns, lambda: len(a.got) >= 3)
    eq((a.bodies(), b.got, c.got), (msgs, [], []), "the first attached is active")
    a_ch.close()
    pump(conns, lambda: len(c.got) >= 3)
    eq((delivered(c), b.got), ([(x, True) for x in msgs], []), "the highest priority takes over")
    c_ch.basic_ack(c.got[-1][0].delivery_tag, multiple=True)
    ch.queue_delete(q)


def case_sac_exclusive_consume_refused(conns):
    """An exclusive Basic.Consume on a single-active-consumer queue is refused."""
    ch = conns.channel()
    q = ch.queue_declare(name("sacexcl"), arguments=SAC).method.queue
    xch = conns.channel()
    expect_close(xch, 403, xch.basic_consume, q, lambda *a: None, exclusive=True)
    ch.queue_delete(q)


def case_sac_argument_type(conns):
    """x-single-active-consumer must be a boolean (406); equivalence holds."""
    ch = conns.channel()
    expect_close(ch, 406, ch.queue_declare, name("sactype"), arguments={"x-single-active-consumer": "yes"})
    ch = conns.channel()
    q = ch.queue_declare(name("sacequiv"), arguments=SAC).method.queue
    expect_close(ch, 406, ch.queue_declare, q)
    ch = conns.channel()
    ch.queue_declare(q, arguments=SAC)
    ch.queue_delete(q)


# ---------------------------------------------------------------- consumer priorities

def case_priority_prefetch(conns):
    """x-priority 10 with prefetch 5, not acking, and a default-priority
    consumer with prefetch 100: of 20 messages the high one gets 5, the low
    one 15; credit given back goes to the high one first."""
    ch = confirmed_channel(conns)
    q = ch.queue_declare(name("prio")).method.queue
    hi_ch, lo_ch = conns.channel(), conns.channel()
    hi_ch.basic_qos(prefetch_count=5)
    lo_ch.basic_qos(prefetch_count=100)
    lo = Consumer(lo_ch, q)
    hi = Consumer(hi_ch, q, arguments={"x-priority": 10})
    msgs = bodies(b"p", 20)
    publish(ch, "", q, msgs)
    pump(conns, lambda: len(hi.got) + len(lo.got) >= 20)
    eq((hi.bodies(), lo.bodies()), (msgs[:5], msgs[5:]), "high gets its prefetch, low the rest")
    hi_ch.basic_ack(hi.got[-1][0].delivery_tag, multiple=True)
    ab.sync(hi_ch)
    more = bodies(b"p", 5, 20)
    publish(ch, "", q, more)
    pump(conns, lambda: len(hi.got) >= 10)
    eq((hi.bodies()[5:], len(lo.got)), (more, 15), "freed credit: the high one again")
    hi_ch.basic_ack(hi.got[-1][0].delivery_tag, multiple=True)
    lo_ch.basic_ack(lo.got[-1][0].delivery_tag, multiple=True)
    ch.queue_delete(q)


def case_priority_round_robin(conns):
    """Two consumers of priority 5 share the messages round-robin; the one of
    priority 0 and the one of priority -1 get nothing while they have credit."""
    ch = confirmed_channel(conns)
    q = ch.queue_declare(name("priorr")).method.queue
    chans = [conns.channel() for _ in range(4)]
    neg = Consumer(chans[0], q, auto_ack=True, arguments={"x-priority": -1})
    zero = Consumer(chans[1], q, auto_ack=True)
    h1 = Consumer(chans[2], q, auto_ack=True, arguments={"x-priority": 5})
    h2 = Consumer(chans[3], q, auto_ack=True, arguments={"x-priority": 5})
    for c in chans:
        ab.sync(c)
    msgs = bodies(b"r", 10)
    publish(ch, "", q, msgs)
    pump(conns, lambda: len(h1.got) + len(h2.got) >= 10)
    eq((sorted(h1.bodies() + h2.bodies()), neg.got, zero.got), (sorted(msgs), [], []),
       "only the priority-5 consumers")
    eq((len(h1.got), len(h2.got)), (5, 5), "round-robin between equals")
    ch.queue_delete(q)


def case_priority_lower_when_blocked(conns):
    """The priority 0 consumer gets messages only while the priority 3 one
    has no credit (prefetch 1, acking one at a time)."""
    ch = confirmed_channel(conns)
    q = ch.queue_declare(name("prioblk")).method.queue
    hi_ch, lo_ch = conns.channel(), conns.channel()
    hi_ch.basic_qos(prefetch_count=1)
    lo = Consumer(lo_ch, q, auto_ack=True)
    hi = Consumer(hi_ch, q, arguments={"x-priority": 3})
    ab.sync(hi_ch)
    publish(ch, "", q, [b"x0"])
    pump(conns, lambda: len(hi.got) >= 1)
    publish(ch, "", q, [b"x1", b"x2"])
    pump(conns, lambda: len(lo.got) >= 2)
    eq((hi.bodies(), lo.bodies()), ([b"x0"], [b"x1", b"x2"]), "low while high is full")
    hi_ch.basic_ack(hi.got[0][0].delivery_tag)
    ab.sync(hi_ch)
    publish(ch, "", q, [b"x3"])
    pump(conns, lambda: len(hi.got) >= 2)
    eq((hi.bodies(), lo.bodies()), ([b"x0", b"x3"], [b"x1", b"x2"]), "high again once acked")
    hi_ch.basic_ack(hi.got[1][0].delivery_tag)
    ch.queue_delete(q)


def case_priority_invalid_type(conns):
    """x-priority that is not an integer: 406 PRECONDITION_FAILED."""
    ch = conns.channel()
    q = ch.queue_declare(name("prioinv")).method.queue
    xch = conns.channel()
    text = expect_close(xch, 406, xch.basic_consume, q, lambda *a: None,
                        arguments={"x-priority": "high"})
    if "invalid arg 'x-priority'" not in text or "expected integer, got longstr" not in text:
        raise Fail("reply text: %r" % text)
    ch.queue_delete(q)


CASES = [
    ("sac_first_consumer_only", case_sac_first_consumer_only),
    ("sac_cancel_keeps_ready_order", case_sac_cancel_keeps_ready_order),
    ("sac_channel_close_redelivers", case_sac_channel_close_redelivers),
    ("sac_connection_closed_redelivers", case_sac_connection_closed_redelivers),
    ("sac_consumer_killed", case_sac_consumer_killed),
    ("sac_successor_by_priority", case_sac_successor_by_priority),
    ("sac_exclusive_consume_refused", case_sac_exclusive_consume_refused),
    ("sac_argument_type", case_sac_argument_type),
    ("priority_prefetch", case_priority_prefetch),
    ("priority_round_robin", case_priority_round_robin),
    ("priority_lower_when_blocked", case_priority_lower_when_blocked),
    ("priority_invalid_type", case_priority_invalid_type),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default=ab.HOST)
    ap.add_argument("--case", action="append", default=[], help="a case to run (repeatable); default all")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    ab.HOST = args.host
    names = [n for n, _ in CASES]
    if args.list:
        print("\n".join(names))
        return 0
    wanted = args.case or names
    unknown = [n for n in set(wanted) if n not in names]
    if unknown:
        print("unknown case(s): %s" % ", ".join(unknown), file=sys.stderr)
        return 2
    signal.signal(signal.SIGALRM, ab.on_alarm)
    failed = []
    for n, fn in CASES:
        if n not in wanted:
            continue
        conns = Conns()
        t0 = time.monotonic()
        signal.alarm(ab.CASE_SECONDS)
        try:
            fn(conns)
            print("ok   %s (%.2f s)" % (n, time.monotonic() - t0), flush=True)
        except Exception as e:  # every failure of a case is reported, then the next runs
            reason = str(e) if isinstance(e, Fail) else "%s: %s" % (type(e).__name__, e)
            print("FAIL %s: %s" % (n, reason), flush=True)
            failed.append(n)
        finally:
            signal.alarm(0)
            conns.close()
    print("%d failure(s)%s" % (len(failed), (": " + " ".join(failed)) if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
