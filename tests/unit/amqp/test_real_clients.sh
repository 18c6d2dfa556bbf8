#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Real clients against the AMQP codec and state machine (lp_amqp), carried by
# kernel TCP through amqp_sock_server in a network namespace this script
# creates and removes (198.18.0.1, RFC 2544). pika opens a connection and
# three channels, heartbeats (1 s) for more than 3 intervals and closes
# cleanly; wrong password gets 403 ACCESS_REFUSED; an unknown vhost 530;
# queue.declare closes the connection with 540 (no broker in that harness); a garbage frame and a
# frame over frame_max get 501; a silent client is dropped after two missed
# heartbeats; amqp-tools' amqp-publish connects and is told 540.
# Usage: test_real_clients.sh SERVER_BINARY   (root; skips with 77 otherwise)
set -euo pipefail
server=$1
[ "$(id -u)" -eq 0 ] || { echo "needs root for a network namespace: skipped"; exit 77; }
command -v amqp-publish >/dev/null || { echo "amqp-tools missing: skipped"; exit 77; }
/usr/bin/python3 -c 'import pika' 2>/dev/null || { echo "python3-pika missing: skipped"; exit 77; }
ns=lp-amqp-rc-$$
addr=198.18.0.1
log=$(mktemp)
srv=
cleanup() {
  [ -n "$srv" ] && kill "$srv" 2>/dev/null || true
  [ -n "$srv" ] && wait "$srv" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -f "$log"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" addr add "$addr/32" dev lo

ip netns exec "$ns" "$server" "$addr" 5672 8 60 > "$log" &
srv=$!
for _ in $(seq 50); do grep -q listening "$log" && break; sleep 0.1; done

ip netns exec "$ns" timeout 50 /usr/bin/python3 - "$addr" <<'PY'
import socket, struct, sys, time
import pika
addr = sys.argv[1]
def params(user="guest", pw="guest", vhost="/", hb=1):
    return pika.ConnectionParameters(host=addr, port=5672, virtual_host=vhost, heartbeat=hb,
        credentials=pika.PlainCredentials(user, pw), connection_attempts=1, socket_timeout=5)

# 1. open, three channels, heartbeat > 3 intervals, clean close
c = pika.BlockingConnection(params())
props = c._impl.server_properties
assert props["product"] in ("Lepus", b"Lepus"), props
caps = props["capabilities"]
for k in ("publisher_confirms", "exchange_exchange_bindings", "basic.nack", "consumer_cancel_notify",
          "connection.blocked", "authentication_failure_close", "per_consumer_qos"):
    assert caps[k] is True, k
chs = [c.channel() for _ in range(3)]
t0 = time.monotonic()
while time.monotonic() - t0 < 3.5:
    c.process_data_events(time_limit=0.2)
assert c.is_open
for ch in chs:
    ch.close()
c.close()
print("ok: pika open, 3 channels, 3.5 s of 1 s heartbeats, clean close")

# 2. wrong password: 403 via Connection.Close (authentication_failure_close)
try:
    pika.BlockingConnection(params(pw="wrong"))
    raise SystemExit("wrong password accepted")
except pika.exceptions.ProbableAuthenticationError as e:
    assert "403" in str(e) and "ACCESS_REFUSED" in str(e), e
    print("ok: wrong password ->", e)

# 3. unknown vhost: 530
try:
    pika.BlockingConnection(params(vhost="nope"))
    raise SystemExit("unknown vhost accepted")
except (pika.exceptions.ProbableAccessDeniedError, pika.exceptions.ConnectionClosedByBroker) as e:
    assert "530" in str(e), e
    print("ok: unknown vhost ->", e)

# 4. queue.declare: 540, a hard error: the connection closes
c = pika.BlockingConnection(params())
ch = c.channel()
try:
    ch.queue_declare("q")
    raise SystemExit("queue.declare answered")
except pika.exceptions.ConnectionClosedByBroker as e:
    assert e.reply_code == 540, e
    print("ok: queue.declare ->", e)
assert c.is_closed

def raw_handshake(hb=0):
    s = socket.create_connection((addr, 5672), timeout=5)
    s.sendall(b"AMQP\x00\x00\x09\x01")
    def frame():
        h = b""
        while len(h) < 7:
            d = s.recv(7 - len(h))
            if not d:
                return None
            h += d
        t, ch, n = struct.unpack(">BHI", h)
        p = b""
        while len(p) < n + 1:
            p += s.recv(n + 1 - len(p))
        return t, ch, p[:-1]
    assert frame()[2][:4] == b"\x00\x0a\x00\x0a"  # start
    so = b"\x00\x0a\x00\x0b" + b"\x00\x00\x00\x00" + b"\x05PLAIN" + b"\x00\x00\x00\x0c\x00guest\x00guest" + b"\x05en_US"
    s.sendall(struct.pack(">BHI", 1, 0, len(so)) + so + b"\xce")
    assert frame()[2][:4] == b"\x00\x0a\x00\x1e"  # tune
    to = struct.pack(">HHHIH", 10, 31, 2047, 4096, hb)
    s.sendall(struct.pack(">BHI", 1, 0, len(to)) + to + b"\xce")
    op = b"\x00\x0a\x00\x28\x01/\x00\x00"
    s.sendall(struct.pack(">BHI", 1, 0, len(op)) + op + b"\xce")
    assert frame()[2][:4] == b"\x00\x0a\x00\x29"  # open-ok
    return s, frame

def expect_close(s, frame, code):
    f = frame()
    assert f and f[2][:4] == b"\x00\x0a\x00\x32", f
    got = struct.unpack(">H", f[2][4:6])[0]
    assert got == code, (got, f)
    text = f[2][7:7 + f[2][6]].decode()
    s.settimeout(3)
    assert s.recv(100) == b""  # and the server closes
    return text

# 5. garbage frame: 501, closed
s, frame = raw_handshake()
s.sendall(b"garbage garbage")
print("ok: garbage ->", expect_close(s, frame, 501))
# 6. frame over the negotiated frame_max (4096): 501, closed
s, frame = raw_handshake()
s.sendall(struct.pack(">BHI", 3, 1, 5000))
print("ok: oversized frame ->", expect_close(s, frame, 501))
# 7. a client that stops sending with heartbeat 1 s: dropped after 2 intervals
s, frame = raw_handshake(hb=1)
t0 = time.monotonic()
s.settimeout(6)
while True:
    d = s.recv(100)
    if not d:
        break
    assert set(d) <= set(b"\x08\x00\xce"), d  # only heartbeats from us
dt = time.monotonic() - t0
assert 1.9 <= dt <= 3.5, dt
print("ok: silent client dropped after %.1f s (heartbeat 1 s)" % dt)
PY

out=$(ip netns exec "$ns" timeout 10 amqp-publish --url="amqp://guest:guest@$addr:5672" -r q -b hello 2>&1 || true)
echo "$out" | grep -q "NOT_IMPLEMENTED" || { echo "amqp-publish: unexpected: $out"; exit 1; }
echo "ok: amqp-publish -> $(echo "$out" | tr '\n' ' ')"

wait "$srv"; srv=
echo "--- server:"
cat "$log"
grep -q "missed heartbeats from client, timeout: 1s" "$log"
[ "$(grep -c "^closed" "$log")" -eq 8 ]
