#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""RabbitMQ's six tutorials (hello world, work queues, publish/subscribe,
routing, topics, RPC), written with pika as the tutorials do, with assertions
on what arrives. Usage: tutorials.py HOST. Exit 0 when all pass."""
import sys
import time
import uuid

import pika

HOST = sys.argv[1]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def connect():
    return pika.BlockingConnection(pika.ConnectionParameters(host=HOST, socket_timeout=5,
                                                             blocked_connection_timeout=5))


def drain(ch, queue, n, timeout=5.0):
    """Consume up to n messages from queue (auto-ack), waiting at most timeout."""
    got = []
    deadline = time.monotonic() + timeout
    for method, props, body in ch.consume(queue, auto_ack=True, inactivity_timeout=0.2):
        if method is not None:
            got.append(body)
        if len(got) >= n or time.monotonic() > deadline:
            break
    ch.cancel()
    return got


# 1. Hello World
conn = connect()
ch = conn.channel()
ch.queue_declare(queue="hello")
ch.basic_publish(exchange="", routing_key="hello", body=b"Hello World!")
check(drain(ch, "hello", 1) == [b"Hello World!"], "1 hello world: the message arrives")
conn.close()

# 2. Work queues: durable queue, persistent messages, fair dispatch with prefetch 1.
conn = connect()
ch = conn.channel()
ch.queue_declare(queue="task_queue", durable=True)
# Publisher confirms: each publish returns once routed, so the workers on other
# connections see every task (without them nothing orders two connections).
ch.confirm_delivery()
for i in range(10):
    ch.basic_publish(exchange="", routing_key="task_queue", body=b"task %d" % i,
                     properties=pika.BasicProperties(delivery_mode=2))
w1, w2 = connect(), connect()
c1, c2 = w1.channel(), w2.channel()
done = {1: [], 2: []}
for c in (c1, c2):
    c.basic_qos(prefetch_count=1)
persistent = True
# Alternate the two workers: each takes one task, acks it, takes the next.
for _ in range(10):
    for n, c in ((1, c1), (2, c2)):
        m, props, body = c.basic_get("task_queue")
        if m is not None:
            persistent = persistent and props.delivery_mode == 2
            done[n].append(body)
            c.basic_ack(m.delivery_tag)
check(persistent, "2 work queues: persistent flag kept")
all_done = sorted(done[1] + done[2])
check(all_done == sorted(b"task %d" % i for i in range(10)), "2 work queues: every task done exactly once")
check(len(done[1]) > 0 and len(done[2]) > 0, "2 work queues: both workers got tasks (%d/%d)" %
      (len(done[1]), len(done[2])))
# A task taken and not acked goes back when its worker dies.
ch.basic_publish(exchange="", routing_key="task_queue", body=b"crash")
m, _, _ = c1.basic_get("task_queue")
check(m is not None, "2 work queues: a worker takes the task")
w1.close()  # dies without acking
m, _, body = c2.basic_get("task_queue")
check(m is not None and body == b"crash" and m.redelivered, "2 work queues: unacked task redelivered")
c2.basic_ack(m.delivery_tag)
w2.close()
conn.close()

# 3. Publish/Subscribe: fanout to every server-named exclusive queue.
conn = connect()
ch = conn.channel()
ch.exchange_declare(exchange="logs", exchange_type="fanout")
q1 = ch.queue_declare(queue="", exclusive=True).method.queue
q2 = ch.queue_declare(queue="", exclusive=True).method.queue
check(q1.startswith("amq.gen-") and q1 != q2, "3 publish/subscribe: server-named queues " + q1)
ch.queue_bind(exchange="logs", queue=q1)
ch.queue_bind(exchange="logs", queue=q2)
for i in range(3):
    ch.basic_publish(exchange="logs", routing_key="", body=b"log %d" % i)
want = [b"log 0", b"log 1", b"log 2"]
check(drain(ch, q1, 3) == want and drain(ch, q2, 3) == want, "3 publish/subscribe: every subscriber gets all")
conn.close()

# 4. Routing: direct exchange by severity.
conn = connect()
ch = conn.channel()
ch.exchange_declare(exchange="direct_logs", exchange_type="direct")
qa = ch.queue_declare(queue="", exclusive=True).method.queue
qb = ch.queue_declare(queue="", exclusive=True).method.queue
ch.queue_bind(exchange="direct_logs", queue=qa, routing_key="error")
for sev in ("info", "warning", "error"):
    ch.queue_bind(exchange="direct_logs", queue=qb, routing_key=sev)
for sev in ("info", "warning", "error", "debug"):
    ch.basic_publish(exchange="direct_logs", routing_key=sev, body=sev.encode())
check(drain(ch, qa, 1) == [b"error"], "4 routing: 'error' queue gets only errors")
check(drain(ch, qb, 3) == [b"info", b"warning", b"error"], "4 routing: the other gets info/warning/error")
conn.close()

# 5. Topics.
conn = connect()
ch = conn.channel()
ch.exchange_declare(exchange="topic_logs", exchange_type="topic")
q1 = ch.queue_declare(queue="", exclusive=True).method.queue
q2 = ch.queue_declare(queue="", exclusive=True).method.queue
ch.queue_bind(exchange="topic_logs", queue=q1, routing_key="*.orange.*")
ch.queue_bind(exchange="topic_logs", queue=q2, routing_key="*.*.rabbit")
ch.queue_bind(exchange="topic_logs", queue=q2, routing_key="lazy.#")
keys = ["quick.orange.rabbit", "lazy.orange.elephant", "quick.orange.fox", "lazy.brown.fox",
        "lazy.pink.rabbit", "quick.brown.fox", "orange", "quick.orange.new.rabbit",
        "lazy.orange.new.rabbit"]
for k in keys:
    ch.basic_publish(exchange="topic_logs", routing_key=k, body=k.encode())
check(drain(ch, q1, 3) == [b"quick.orange.rabbit", b"lazy.orange.elephant", b"quick.orange.fox"],
      "5 topics: Q1 (*.orange.*)")
check(drain(ch, q2, 5) == [b"quick.orange.rabbit", b"lazy.orange.elephant", b"lazy.brown.fox",
                           b"lazy.pink.rabbit", b"lazy.orange.new.rabbit"],
      "5 topics: Q2 (*.*.rabbit, lazy.#), lazy.pink.rabbit once")
conn.close()

# 6. RPC: request on rpc_queue with reply_to and correlation_id.
server = connect()
sch = server.channel()
sch.queue_declare(queue="rpc_queue")
client = connect()
cch = client.channel()
cch.confirm_delivery()
callback = cch.queue_declare(queue="", exclusive=True).method.queue
corr = str(uuid.uuid4())
cch.basic_publish(exchange="", routing_key="rpc_queue", body=b"10",
                  properties=pika.BasicProperties(reply_to=callback, correlation_id=corr))


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


m, props, body = None, None, None
for _ in range(50):
    m, props, body = sch.basic_get("rpc_queue")
    if m is not None:
        break
    time.sleep(0.05)
check(m is not None and props.reply_to == callback and props.correlation_id == corr,
      "6 rpc: request arrives with reply_to and correlation_id")
sch.basic_publish(exchange="", routing_key=props.reply_to, body=str(fib(int(body))).encode(),
                  properties=pika.BasicProperties(correlation_id=props.correlation_id))
sch.basic_ack(m.delivery_tag)
reply = None
for method, rprops, rbody in cch.consume(callback, auto_ack=True, inactivity_timeout=5):
    reply = (rprops.correlation_id, rbody)
    break
check(reply == (corr, b"55"), "6 rpc: fib(10) = 55 comes back with the correlation id")
client.close()
server.close()

print("%d failure(s)" % len(failures))
sys.exit(1 if failures else 0)
