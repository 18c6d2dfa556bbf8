#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Policies and operator policies applied to queues and exchanges, checked
with pika on what the queues hold: message-ttl on a queue that already has
messages (they keep their expiry) and on a new one, max-length dropping
the head of an existing queue at once, dead-letter-exchange from a policy,
RabbitMQ 3.10's precedence (the lowest of argument, policy and operator
policy for max-length; the argument's dead-letter-exchange over the
policy's), clear_policy restoring the queue's own settings, the higher
priority of two matching policies, apply-to exchanges leaving queues
alone, alternate-exchange from a policy. Policies are set with
rabbitmqctl or lepusctl (the command in $LP_IT_CTL, run by
test_policies.sh's wrapper); the cases encode RabbitMQ 3.10.8's behaviour
(the parity suite runs them there) and Lepus must behave the same.

  LP_IT_CTL=CMD policies.py --host H [--case NAME]... [--list]"""
import os
import subprocess
import sys
import time

from amqp_broker import Fail, check, eq, get_all, name, publish, run_cases

# After a policy change the broker applies it asynchronously (RabbitMQ
# casts policy_changed to each queue process; lepus-control sends a
# topology batch to the dataplane): wait this long before publishing.
SETTLE = 0.5


def ctl(*args):
    r = subprocess.run([os.environ["LP_IT_CTL"]] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    if r.returncode != 0:
        raise Fail("ctl %s: exit %d: %s" % (" ".join(args), r.returncode, r.stdout.decode()[-400:]))


def set_policy(pol, pattern, definition, priority=0, apply_to="queues", operator=False):
    ctl("set_operator_policy" if operator else "set_policy", "--priority", str(priority),
        "--apply-to", apply_to, pol, pattern, definition)
    time.sleep(SETTLE)


def clear_policy(pol, operator=False):
    ctl("clear_operator_policy" if operator else "clear_policy", pol)
    time.sleep(SETTLE)


def prefix(tag):
    """A pattern matching the names name(tag, ...) makes, and only those."""
    return "^it\\.%s\\." % tag


def count(ch, queue):
    return ch.queue_declare(queue, passive=True).method.message_count


def wait_count(ch, queue, n, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        c = count(ch, queue)
        if c == n or time.monotonic() > deadline:
            return c
        time.sleep(0.05)


def numbered(ch, queue, first, last):
    publish(ch, "", queue, [str(i) for i in range(first, last + 1)])


class Policies:
    """Policies a case sets, cleared at its end whatever happened."""

    def __init__(self):
        self.set = []

    def __enter__(self):
        return self

    def add(self, pol, *args, **kw):
        set_policy(pol, *args, **kw)
        if (pol, kw.get("operator", False)) not in self.set:
            self.set.append((pol, kw.get("operator", False)))

    def clear(self, pol, operator=False):
        clear_policy(pol, operator)
        self.set.remove((pol, operator))

    def __exit__(self, *exc):
        for pol, op in self.set:
            try:
                ctl("clear_operator_policy" if op else "clear_policy", pol)
            except Fail:
                pass
        return False


def case_ttl_existing_then_new(conns):
    ch = conns.channel()
    q = name("pttl", "old")
    ch.queue_declare(q)
    publish(ch, "", q, ["before"])
    with Policies() as p:
        p.add(name("pttl", "p"), prefix("pttl"), '{"message-ttl": 100}')
        publish(ch, "", q, ["after"])
        eq(wait_count(ch, q, 2), 2, "both messages in the queue right after the publish")
        time.sleep(0.4)
        # The message enqueued before the policy keeps no TTL; the one after expires.
        eq(get_all(ch, q), [b"before"], "messages left after 0.4 s")
        q2 = name("pttl", "new")
        ch.queue_declare(q2)
        publish(ch, "", q2, ["m"])
        time.sleep(0.4)
        eq(get_all(ch, q2), [], "a new queue gets the policy's TTL")
        ch.queue_delete(q2)
    ch.queue_delete(q)


def case_maxlen_drop_head_existing(conns):
    ch = conns.channel()
    q = name("pmax", "q")
    ch.queue_declare(q)
    numbered(ch, q, 1, 5)
    eq(wait_count(ch, q, 5), 5, "before the policy")
    with Policies() as p:
        p.add(name("pmax", "p"), prefix("pmax"), '{"max-length": 2}')
        eq(wait_count(ch, q, 2), 2, "the head dropped when the policy came")
        eq(get_all(ch, q), [b"4", b"5"], "the newest kept")
        numbered(ch, q, 6, 9)
        eq(get_all(ch, q), [b"8", b"9"], "drop-head on later publishes")
    ch.queue_delete(q)


def case_dead_letter_exchange(conns):
    ch = conns.channel()
    dlx, dst, src = name("pdlx", "dlx"), name("pdlx", "dst"), name("pdlx", "src")
    ch.exchange_declare(dlx, "fanout", auto_delete=True)
    ch.queue_declare(dst)
    ch.queue_bind(dst, dlx)
    ch.queue_declare(src)
    publish(ch, "", src, ["early"])
    with Policies() as p:
        p.add(name("pdlx", "p"), "^it\\.pdlx\\.src\\.", '{"dead-letter-exchange": "%s"}' % dlx)
        publish(ch, "", src, ["late"])
        eq(wait_count(ch, src, 2), 2, "both in the source")
        for _ in range(2):
            m, _, _ = ch.basic_get(src, auto_ack=False)
            check(m is not None, "a message to reject")
            ch.basic_reject(m.delivery_tag, requeue=False)
        eq(wait_count(ch, dst, 2), 2, "both dead-lettered (the queue's dead-letter exchange is live)")
        m, props, body = ch.basic_get(dst, auto_ack=True)
        eq(body, b"early", "dead-lettered in order")
        death = props.headers["x-death"][0]
        eq(death["reason"].decode() if isinstance(death["reason"], bytes) else death["reason"],
           "rejected", "x-death reason")
        get_all(ch, dst)
    for x in (src, dst):
        ch.queue_delete(x)
    ch.exchange_delete(dlx)


def case_precedence_max_length(conns):
    ch = conns.channel()
    big, small = name("pprec", "big"), name("pprec", "small")
    ch.queue_declare(big, arguments={"x-max-length": 5})
    ch.queue_declare(small, arguments={"x-max-length": 1})
    with Policies() as p:
        p.add(name("pprec", "p"), prefix("pprec"), '{"max-length": 3}')
        numbered(ch, big, 1, 10)
        numbered(ch, small, 1, 10)
        eq(wait_count(ch, big, 3), 3, "policy 3 below argument 5")
        eq(wait_count(ch, small, 1), 1, "argument 1 below policy 3")
        p.add(name("pprec", "op"), prefix("pprec"), '{"max-length": 4}', operator=True)
        numbered(ch, big, 11, 20)
        eq(wait_count(ch, big, 3), 3, "operator policy 4 above policy 3")
        p.add(name("pprec", "op"), prefix("pprec"), '{"max-length": 2}', operator=True)
        eq(wait_count(ch, big, 2), 2, "operator policy 2, the lowest, drops at once")
        eq(get_all(ch, big), [b"19", b"20"], "the newest kept")
        eq(get_all(ch, small), [b"10"], "the argument still the lowest")
        p.clear(name("pprec", "p"))
        numbered(ch, big, 1, 10)
        eq(wait_count(ch, big, 2), 2, "the operator policy alone")
        get_all(ch, big)
    for x in (big, small):
        ch.queue_delete(x)


def case_precedence_dead_letter_exchange(conns):
    ch = conns.channel()
    adlx, pdlx = name("pdlp", "adlx"), name("pdlp", "pdlx")
    aq, pq, src = name("pdlp", "aq"), name("pdlp", "pq"), name("pdlp", "src")
    for x, q in ((adlx, aq), (pdlx, pq)):
        ch.exchange_declare(x, "fanout", auto_delete=True)
        ch.queue_declare(q)
        ch.queue_bind(q, x)
    ch.queue_declare(src, arguments={"x-dead-letter-exchange": adlx})
    with Policies() as p:
        p.add(name("pdlp", "p"), "^it\\.pdlp\\.src\\.", '{"dead-letter-exchange": "%s"}' % pdlx)
        publish(ch, "", src, ["m"])
        eq(wait_count(ch, src, 1), 1, "in the source")
        m, _, _ = ch.basic_get(src, auto_ack=False)
        ch.basic_reject(m.delivery_tag, requeue=False)
        eq(wait_count(ch, aq, 1), 1, "dead-lettered to the argument's exchange")
        eq(count(ch, pq), 0, "not to the policy's")
    for q in (aq, pq, src):
        ch.queue_delete(q)
    for x in (adlx, pdlx):
        ch.exchange_delete(x)


def case_clear_policy_restores(conns):
    ch = conns.channel()
    q, qa = name("pclr", "q"), name("pclr", "qa")
    ch.queue_declare(q)
    ch.queue_declare(qa, arguments={"x-max-length": 3})
    with Policies() as p:
        p.add(name("pclr", "p"), prefix("pclr"), '{"max-length": 1}')
        numbered(ch, q, 1, 3)
        numbered(ch, qa, 1, 3)
        eq(wait_count(ch, q, 1), 1, "limited by the policy")
        eq(wait_count(ch, qa, 1), 1, "the policy below the argument")
        p.clear(name("pclr", "p"))
        numbered(ch, q, 4, 6)
        numbered(ch, qa, 4, 9)
        eq(wait_count(ch, q, 4), 4, "no limit once the policy is cleared")
        eq(wait_count(ch, qa, 3), 3, "the queue's own x-max-length again")
        eq(get_all(ch, qa), [b"7", b"8", b"9"], "drop-head by the argument")
    for x in (q, qa):
        ch.queue_delete(x)


def case_priority(conns):
    ch = conns.channel()
    q = name("pprio", "q")
    ch.queue_declare(q)
    with Policies() as p:
        p.add(name("pprio", "low"), prefix("pprio"), '{"max-length": 5}', priority=1)
        p.add(name("pprio", "high"), "^it\\.pprio\\.q\\.", '{"max-length": 2}', priority=2)
        numbered(ch, q, 1, 10)
        eq(wait_count(ch, q, 2), 2, "the higher priority's max-length")
        p.add(name("pprio", "low"), prefix("pprio"), '{"max-length": 5}', priority=3)
        numbered(ch, q, 11, 20)
        eq(wait_count(ch, q, 5), 5, "the other policy once its priority is higher")
        get_all(ch, q)
    ch.queue_delete(q)


def case_apply_to_exchanges(conns):
    ch = conns.channel()
    q = name("pexq", "q")
    ch.queue_declare(q)
    with Policies() as p:
        p.add(name("pexq", "p"), prefix("pexq"), '{"max-length": 1}', apply_to="exchanges")
        numbered(ch, q, 1, 3)
        eq(wait_count(ch, q, 3), 3, "a policy for exchanges does not limit a queue")
        get_all(ch, q)
    ch.queue_delete(q)


def case_alternate_exchange(conns):
    ch = conns.channel()
    x, ae, q = name("pae", "x"), name("pae", "ae"), name("pae", "q")
    ch.exchange_declare(x, "direct", auto_delete=True)
    ch.exchange_declare(ae, "fanout", auto_delete=True)
    ch.queue_declare(q)
    ch.queue_bind(q, ae)
    publish(ch, x, "nowhere", ["lost"])
    with Policies() as p:
        p.add(name("pae", "p"), "^it\\.pae\\.x\\.", '{"alternate-exchange": "%s"}' % ae,
              apply_to="exchanges")
        publish(ch, x, "nowhere", ["kept"])
        eq(wait_count(ch, q, 1), 1, "unroutable to the policy's alternate exchange")
        eq(get_all(ch, q), [b"kept"], "only the one published with the policy")
    ch.queue_delete(q)
    ch.exchange_delete(x)
    ch.exchange_delete(ae)


CASES = [
    ("ttl_existing_then_new", case_ttl_existing_then_new),
    ("maxlen_drop_head_existing", case_maxlen_drop_head_existing),
    ("dead_letter_exchange", case_dead_letter_exchange),
    ("precedence_max_length", case_precedence_max_length),
    ("precedence_dead_letter_exchange", case_precedence_dead_letter_exchange),
    ("clear_policy_restores", case_clear_policy_restores),
    ("priority", case_priority),
    ("apply_to_exchanges", case_apply_to_exchanges),
    ("alternate_exchange", case_alternate_exchange),
]

if __name__ == "__main__":
    sys.exit(run_cases(CASES, __doc__))
