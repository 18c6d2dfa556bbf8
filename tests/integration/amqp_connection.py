#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""AMQP connection layer of Lepus, checked with real clients from the client
namespace: pika (channels, heartbeats, clean close, wrong password, unknown
vhost) and a raw socket speaking the wire format by hand (garbage frame,
frame over frame_max, wrong protocol header). Usage: amqp_connection.py HOST
[PRODUCT] (the server's product property: Lepus, or RabbitMQ for parity runs)."""
import os
import socket
import struct
import sys
import time

import pika

HOST = sys.argv[1]
PRODUCT = sys.argv[2] if len(sys.argv) > 2 else "Lepus"
PORT = 5672
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def params(**kw):
    kw.setdefault("socket_timeout", 5)
    kw.setdefault("blocked_connection_timeout", 5)
    return pika.ConnectionParameters(host=HOST, port=PORT, **kw)


# --- pika: several channels, heartbeats over 3 intervals, clean close.
conn = pika.BlockingConnection(params(heartbeat=2))
props = conn._impl.server_properties
check(props.get("product") in (PRODUCT, PRODUCT.encode()), "server product is " + PRODUCT)
caps = props.get("capabilities", {})
for cap in ("publisher_confirms", "exchange_exchange_bindings", "basic.nack",
            "consumer_cancel_notify", "connection.blocked", "authentication_failure_close",
            "per_consumer_qos"):
    check(caps.get(cap) is True, "capability " + cap)
check(conn._impl.params.heartbeat == 2, "heartbeat negotiated to the client's 2 s")
channels = [conn.channel() for _ in range(4)]
check([c.channel_number for c in channels] == [1, 2, 3, 4], "four channels opened")
channels[1].close()
check(channels[1].is_closed and channels[0].is_open, "one channel closed, others open")
t0 = time.monotonic()
conn.sleep(7)  # 3.5 heartbeat intervals: both sides must keep it alive
check(conn.is_open, "connection alive after %.1f s of heartbeats only" % (time.monotonic() - t0))
conn.close()
check(conn.is_closed, "clean close")

# --- wrong password: 403 with authentication_failure_close.
try:
    pika.BlockingConnection(params(credentials=pika.PlainCredentials("guest", "wrong")))
    check(False, "wrong password refused")
except pika.exceptions.ProbableAuthenticationError as e:
    check("403" in str(e) and "ACCESS_REFUSED" in str(e), "wrong password: " + str(e))

# --- unknown vhost: 530 NOT_ALLOWED.
try:
    pika.BlockingConnection(params(virtual_host="no-such-vhost"))
    check(False, "unknown vhost refused")
except pika.exceptions.ConnectionClosedByBroker as e:
    check(e.reply_code == 530, "unknown vhost: %s %s" % (e.reply_code, e.reply_text))
except pika.exceptions.AMQPConnectionError as e:
    check("530" in repr(e), "unknown vhost: " + repr(e))


# --- raw wire format.
def shortstr(s):
    return struct.pack("B", len(s)) + s


def longstr(s):
    return struct.pack(">I", len(s)) + s


def frame(ftype, channel, payload):
    return struct.pack(">BHI", ftype, channel, len(payload)) + payload + b"\xce"


def method(channel, class_id, method_id, args):
    return frame(1, channel, struct.pack(">HH", class_id, method_id) + args)


def read_frame(s):
    hdr = b""
    while len(hdr) < 7:
        chunk = s.recv(7 - len(hdr))
        if not chunk:
            return None
        hdr += chunk
    ftype, channel, size = struct.unpack(">BHI", hdr)
    body = b""
    while len(body) < size + 1:
        chunk = s.recv(size + 1 - len(body))
        if not chunk:
            return None
        body += chunk
    return ftype, channel, body[:-1]


def raw_open(bufsize=None):
    """Handshake by hand up to Open-Ok; returns the socket and frame_max.
    bufsize: the socket's SO_SNDBUF and SO_RCVBUF (default: the kernel's)."""
    if bufsize is None:
        s = socket.create_connection((HOST, PORT), timeout=5)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, bufsize)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, bufsize)
        s.settimeout(5)
        s.connect((HOST, PORT))
    s.sendall(b"AMQP\x00\x00\x09\x01")
    read_frame(s)  # Start
    s.sendall(method(0, 10, 11, struct.pack(">I", 0) + shortstr(b"PLAIN") +
                     longstr(b"\x00guest\x00guest") + shortstr(b"en_US")))
    _, _, tune = read_frame(s)
    channel_max, frame_max, heartbeat = struct.unpack(">HIH", tune[4:12])
    s.sendall(method(0, 10, 31, struct.pack(">HIH", channel_max, frame_max, 0)))
    s.sendall(method(0, 10, 40, shortstr(b"/") + shortstr(b"") + b"\x00"))
    _, _, open_ok = read_frame(s)
    assert open_ok[:4] == struct.pack(">HH", 10, 41), open_ok
    return s, frame_max


def expect_connection_close(s, code, what):
    """Next frames: Connection.Close with code, then the socket closes."""
    f = read_frame(s)
    while f is not None and f[0] == 8:  # skip heartbeats
        f = read_frame(s)
    ok = f is not None and f[0] == 1 and f[2][:4] == struct.pack(">HH", 10, 50)
    got = struct.unpack(">H", f[2][4:6])[0] if ok else None
    text = f[2][7:7 + f[2][6]].decode() if ok else repr(f)
    check(ok and got == code, "%s: Connection.Close %s %s" % (what, got, text))
    s.settimeout(5)
    try:
        s.sendall(method(0, 10, 51, b""))  # Close-Ok
        rest = s.recv(100)
    except ConnectionResetError:
        # RabbitMQ closes its socket right after a frame error's Close
        # without waiting for Close-Ok, which then draws a RST: closed too.
        rest = b""
    except socket.timeout:
        rest = None  # still open
    check(rest == b"", what + ": connection closed by the broker")
    s.close()


s, frame_max = raw_open()
check(frame_max == 131072, "frame_max offered 131072 (got %d)" % frame_max)
s.sendall(b"\x09\x00\x00\x00\x00\x00\x02ab\xce")  # frame type 9 does not exist
expect_connection_close(s, 501, "garbage frame type")

s, _ = raw_open()
s.sendall(b"\x01\x00\x00\x00\x00\x00\x04\x00\x0a\x00\x0a\x00")  # bad frame-end octet
expect_connection_close(s, 501, "frame end not 0xCE")

s, frame_max = raw_open()
s.sendall(method(1, 20, 10, shortstr(b"")))  # Channel.Open
read_frame(s)
big = b"x" * (frame_max + 100)
s.sendall(frame(3, 1, big))
expect_connection_close(s, 501, "frame over frame_max")

# Connection.Update-Secret (10, 70) for a user of the internal database:
# RabbitMQ 3.10 answers Update-Secret-Ok (10, 71) whatever the new secret
# (its internal backend has nothing to refresh); the connection goes on.
s, _ = raw_open()
s.sendall(method(0, 10, 70, longstr(b"a-new-token") + shortstr(b"refresh")))
f = read_frame(s)
check(f is not None and f[0] == 1 and f[2][:4] == struct.pack(">HH", 10, 71),
      "Update-Secret answered with Update-Secret-Ok: %r" % (f,))
s.sendall(method(1, 20, 10, shortstr(b"")))  # Channel.Open still works
f = read_frame(s)
check(f is not None and f[2][:4] == struct.pack(">HH", 20, 11), "Channel.Open-Ok after it: %r" % (f,))
s.close()

# Basic.Publish with immediate=true: RabbitMQ 3.x does not implement it and
# closes the connection with 540 NOT_IMPLEMENTED ("immediate=true").
s, _ = raw_open()
s.sendall(method(1, 20, 10, shortstr(b"")))  # Channel.Open
read_frame(s)
s.sendall(method(1, 60, 40, struct.pack(">H", 0) + shortstr(b"") + shortstr(b"it.immediate") + b"\x02") +
          frame(2, 1, struct.pack(">HHQH", 60, 0, 1, 0)) + frame(3, 1, b"x"))
expect_connection_close(s, 540, "Basic.Publish immediate=true")

# What RabbitMQ 3.10 does not implement (rabbit_channel not_implemented) is
# a hard error: Connection.Close 540, not a channel close. Basic.Qos with a
# prefetch_size, Basic.Recover and Basic.Recover-Async with requeue=false.
for what, payload in (("Basic.Qos prefetch_size=1", method(1, 60, 10, struct.pack(">IHB", 1, 0, 0))),
                      ("Basic.Recover requeue=false", method(1, 60, 110, b"\x00")),
                      ("Basic.Recover-Async requeue=false", method(1, 60, 100, b"\x00"))):
    s, _ = raw_open()
    s.sendall(method(1, 20, 10, shortstr(b"")))  # Channel.Open
    read_frame(s)
    s.sendall(payload)
    expect_connection_close(s, 540, what)

# Basic.Recover-Async requeue=true is answered with nothing (the deprecated
# form of Recover): the next answer on the channel is Recover-Ok.
s, _ = raw_open()
s.sendall(method(1, 20, 10, shortstr(b"")))  # Channel.Open
read_frame(s)
s.sendall(method(1, 60, 100, b"\x01") + method(1, 60, 110, b"\x01"))
f = read_frame(s)
check(f is not None and f[0] == 1 and f[2][:4] == struct.pack(">HH", 60, 111),
      "Basic.Recover-Async requeue=true: no answer, then Recover-Ok: %r" % (f,))
s.close()

# Publisher confirms: N publishes to a queue in one write. RabbitMQ 3.10
# coalesces the confirms that are ready together into one Basic.Ack
# multiple=true (rabbit_channel coalesce_and_send): fewer than N Basic.Ack
# frames, at least one multiple, no Nack, and together they cover 1..N.
N_CONFIRMS = 200
s, _ = raw_open()
s.sendall(method(1, 20, 10, shortstr(b"")))  # Channel.Open
read_frame(s)
s.sendall(method(1, 85, 10, b"\x00"))  # Confirm.Select
f = read_frame(s)
check(f is not None and f[2][:4] == struct.pack(">HH", 85, 11), "Confirm.Select-Ok: %r" % (f,))
qname = b"it.confirms.coalesce"
s.sendall(method(1, 50, 10, struct.pack(">H", 0) + shortstr(qname) + b"\x04" + struct.pack(">I", 0)))
f = read_frame(s)
check(f is not None and f[2][:4] == struct.pack(">HH", 50, 11), "Queue.Declare-Ok: %r" % (f,))
one = (method(1, 60, 40, struct.pack(">H", 0) + shortstr(b"") + shortstr(qname) + b"\x00") +
       frame(2, 1, struct.pack(">HHQH", 60, 0, 3, 0)) + frame(3, 1, b"abc"))
s.sendall(one * N_CONFIRMS)
acks, multiples, nacks, covered = 0, 0, 0, set()
deadline = time.monotonic() + 10
while len(covered) < N_CONFIRMS and nacks == 0 and time.monotonic() < deadline:
    f = read_frame(s)
    if f is None:
        break
    if f[0] != 1:
        continue
    cm = struct.unpack(">HH", f[2][:4])
    if cm == (60, 120):
        nacks += 1
    elif cm == (60, 80):
        tag, multiple = struct.unpack(">QB", f[2][4:13])
        acks += 1
        if multiple & 1:
            multiples += 1
            covered.update(range(1, tag + 1))
        else:
            covered.add(tag)
check(nacks == 0 and covered == set(range(1, N_CONFIRMS + 1)),
      "%d confirmed publishes: acks cover 1..%d (%d nacks, max %s)" %
      (N_CONFIRMS, N_CONFIRMS, nacks, max(covered) if covered else None))
check(0 < multiples and acks < N_CONFIRMS,
      "confirms coalesced: %d Basic.Ack frames for %d publishes, %d with multiple=true" %
      (acks, N_CONFIRMS, multiples))
s.close()

# A consumer without Basic.Qos (prefetch 0) that republishes each delivery
# on the same connection and acks it, as a synchronous client does: it
# reads nothing while it writes. With 2,000 deliveries waiting for it (more
# than its small socket buffers and the broker's send buffer hold) and a
# first republish larger than the broker's receive window, the broker must
# keep reading the publishes and acks although its send stream is full of
# deliveries (RabbitMQ does), or both sides wait for each other forever.
def publish_frames(queue, body, frame_max):
    out = (method(1, 60, 40, struct.pack(">H", 0) + shortstr(b"") + shortstr(queue) + b"\x00") +
           frame(2, 1, struct.pack(">HHQH", 60, 0, len(body), 0)))
    for off in range(0, len(body), frame_max - 8):
        out += frame(3, 1, body[off:off + frame_max - 8])
    return out


def declare(s, queue, bits):
    """Queue.Declare; returns the Declare-Ok's message count."""
    s.sendall(method(1, 50, 10, struct.pack(">H", 0) + shortstr(queue) + bytes([bits]) +
                     struct.pack(">I", 0)))
    f = read_frame(s)
    if f is None or f[2][:4] != struct.pack(">HH", 50, 11):
        raise RuntimeError("Queue.Declare %s: %r" % (queue, f))
    return struct.unpack(">I", f[2][5 + f[2][4]:9 + f[2][4]])[0]


N_REPUBLISH = 2000
qa = ("it.republish.a.%d" % os.getpid()).encode()
qb = ("it.republish.b.%d" % os.getpid()).encode()
s, frame_max = raw_open(bufsize=8192)
s.settimeout(10)
s.sendall(method(1, 20, 10, shortstr(b"")))  # Channel.Open
read_frame(s)
declare(s, qa, 0)
declare(s, qb, 0)
s.sendall(publish_frames(qa, b"m" * 512, frame_max) * N_REPUBLISH)
deadline = time.monotonic() + 10
while declare(s, qa, 1) < N_REPUBLISH and time.monotonic() < deadline:
    time.sleep(0.05)
s.sendall(method(1, 60, 20, struct.pack(">H", 0) + shortstr(qa) + shortstr(b"republisher") + b"\x00" +
                 struct.pack(">I", 0)))  # Basic.Consume, no Basic.Qos before it
moved, stalled = 0, None
try:
    while moved < N_REPUBLISH:
        f = read_frame(s)
        if f is None:
            stalled = "connection closed"
            break
        if f[0] != 1 or f[2][:4] != struct.pack(">HH", 60, 60):
            continue  # Consume-Ok; the content of a delivery follows its method
        args = f[2][4:]
        tag = struct.unpack(">Q", args[1 + args[0]:9 + args[0]])[0]
        read_frame(s)  # content header
        read_frame(s)  # body (512 octets: one frame)
        body = b"r" * (300000 if moved < 3 else 512)
        s.sendall(publish_frames(qb, body, frame_max) + method(1, 60, 80, struct.pack(">QB", tag, 0)))
        moved += 1
except socket.timeout:
    stalled = "no progress for 10 s"
check(stalled is None and moved == N_REPUBLISH,
      "prefetch 0, republish from the delivery handler: %d of %d moved%s" %
      (moved, N_REPUBLISH, " (" + stalled + ")" if stalled else ""))
if stalled is None:
    s.sendall(method(1, 60, 30, shortstr(b"republisher") + b"\x00"))  # Basic.Cancel
    f = read_frame(s)
    while f is not None and f[2][:4] != struct.pack(">HH", 60, 31):
        f = read_frame(s)
    check(declare(s, qb, 1) == N_REPUBLISH, "every republished message in the second queue")
    for q in (qa, qb):
        s.sendall(method(1, 50, 40, struct.pack(">H", 0) + shortstr(q) + b"\x00"))  # Queue.Delete
        read_frame(s)
    s.close()
else:
    s.close()
    s, _ = raw_open()  # the queues are not exclusive: delete them from a new connection
    s.sendall(method(1, 20, 10, shortstr(b"")))
    read_frame(s)
    for q in (qa, qb):
        s.sendall(method(1, 50, 40, struct.pack(">H", 0) + shortstr(q) + b"\x00"))
        read_frame(s)
    s.close()

s = socket.create_connection((HOST, PORT), timeout=5)
s.sendall(b"AMQP\x00\x00\x08\x00")  # 0-8: we answer with our header and close
reply = s.recv(8)
check(reply == b"AMQP\x00\x00\x09\x01", "wrong protocol header answered with ours: %r" % reply)
try:
    rest = s.recv(8)
except ConnectionResetError:  # RabbitMQ: closed with our 0-8 bytes unread -> RST
    rest = b""
check(rest == b"", "then closed")
s.close()

print("%d failure(s)" % len(failures))
sys.exit(1 if failures else 0)
