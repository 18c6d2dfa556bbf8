#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Client side of the TCP-lite integration tests and benchmark, run by the
Linux kernel's TCP in the client namespace against lepus-dataplane's echo and
discard services (or, for the benchmark's comparison, a kernel server).

  echo     --host H --port P --conns C --size N [--seed S]
           C concurrent connections each send N random bytes and read them
           back; every connection's SHA-256 of what was sent must equal that of
           what came back. Prints one JSON line (bytes, seconds, MB/s).
  discard  --host H --port P --conns C --size N
           C connections each send N bytes and close; prints JSON (throughput).
  cycles   --host H --port P --count N
           N sequential connections: connect, send 32 bytes, read them back,
           close. Prints JSON (cycles, seconds, per second).
  synflood --host H --port P --count N --src-net A.B.C
           N SYNs from a raw socket, spoofed sources A.B.C.10-250 (addresses
           nobody answers for), random ports. Prints JSON.
  serve    --port P [--mode echo|discard]
           a kernel TCP echo/discard server (benchmark comparison).

Every loop is bounded by count and by --timeout seconds (exit 1 on timeout).
"""
import argparse
import hashlib
import json
import os
import random
import selectors
import socket
import struct
import sys
import threading
import time

CHUNK = 65536


def fail(msg):
    print(json.dumps({"ok": False, "error": msg}))
    sys.exit(1)


class EchoConn:
    def __init__(self, sock, size, rng):
        self.sock = sock
        self.size = size
        self.sent = 0
        self.recvd = 0
        self.rng = rng
        self.pending = b""
        self.h_out = hashlib.sha256()
        self.h_in = hashlib.sha256()
        self.done_sending = False

    def next_chunk(self):
        n = min(CHUNK, self.size - self.sent - len(self.pending))
        if n > 0:
            data = self.rng.randbytes(n)
            self.h_out.update(data)
            self.pending += data


def run_echo(args):
    sel = selectors.DefaultSelector()
    conns = []
    deadline = time.monotonic() + args.timeout
    for i in range(args.conns):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(10)
        try:
            s.connect((args.host, args.port))
        except OSError as e:
            fail(f"connect {i}: {e}")
        s.setblocking(False)
        c = EchoConn(s, args.size, random.Random(args.seed * 1000003 + i))
        conns.append(c)
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
    start = time.monotonic()
    open_conns = len(conns)
    while open_conns > 0:
        if time.monotonic() > deadline:
            fail(f"timeout: {open_conns} connections unfinished, "
                 f"received {sum(c.recvd for c in conns)} of {args.size * args.conns}")
        for key, ev in sel.select(timeout=1.0):
            c = key.data
            if ev & selectors.EVENT_WRITE and not c.done_sending:
                if not c.pending:
                    c.next_chunk()
                if c.pending:
                    try:
                        n = c.sock.send(c.pending)
                    except BlockingIOError:
                        n = 0
                    except OSError as e:
                        fail(f"send: {e}")
                    c.pending = c.pending[n:]
                    c.sent += n
                if c.sent == c.size:
                    c.done_sending = True
                    c.sock.shutdown(socket.SHUT_WR)
                    sel.modify(c.sock, selectors.EVENT_READ, c)
            if ev & selectors.EVENT_READ:
                try:
                    data = c.sock.recv(CHUNK * 4)
                except BlockingIOError:
                    continue
                except OSError as e:
                    fail(f"recv: {e}")
                if not data:
                    if c.recvd != c.size:
                        fail(f"EOF after {c.recvd} of {c.size} bytes")
                    sel.unregister(c.sock)
                    c.sock.close()
                    open_conns -= 1
                    continue
                c.h_in.update(data)
                c.recvd += len(data)
                if c.recvd > c.size:
                    fail("received more than sent")
    elapsed = time.monotonic() - start
    bad = [i for i, c in enumerate(conns) if c.h_in.digest() != c.h_out.digest()]
    total = args.size * args.conns
    out = {"ok": not bad, "conns": args.conns, "bytes_each": args.size, "seconds": round(elapsed, 3),
           "MBps": round(total / elapsed / 1e6, 2), "sha256_0": conns[0].h_out.hexdigest(),
           "mismatched": bad[:10]}
    print(json.dumps(out))
    sys.exit(0 if not bad else 1)


def run_discard(args):
    deadline = time.monotonic() + args.timeout
    buf = os.urandom(CHUNK)
    errors = []

    def one(i):
        try:
            s = socket.create_connection((args.host, args.port), timeout=10)
            s.settimeout(max(1.0, deadline - time.monotonic()))
            left = args.size
            while left > 0:
                n = s.send(buf[:min(left, CHUNK)])
                left -= n
            s.shutdown(socket.SHUT_WR)
            while s.recv(CHUNK):
                pass
            s.close()
        except OSError as e:
            errors.append(f"{i}: {e}")

    start = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(args.conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic()))
    elapsed = time.monotonic() - start
    if errors or any(t.is_alive() for t in threads):
        fail(f"discard errors: {errors[:5]}")
    total = args.size * args.conns
    print(json.dumps({"ok": True, "conns": args.conns, "bytes_each": args.size,
                      "seconds": round(elapsed, 3), "MBps": round(total / elapsed / 1e6, 2)}))


def run_cycles(args):
    deadline = time.monotonic() + args.timeout
    start = time.monotonic()
    for i in range(args.count):
        if time.monotonic() > deadline:
            fail(f"timeout after {i} cycles")
        msg = struct.pack("!I", i) * 8
        try:
            s = socket.create_connection((args.host, args.port), timeout=5)
            s.sendall(msg)
            got = b""
            while len(got) < len(msg):
                d = s.recv(64)
                if not d:
                    break
                got += d
            s.close()
        except OSError as e:
            fail(f"cycle {i}: {e}")
        if got != msg:
            fail(f"cycle {i}: echo mismatch")
    elapsed = time.monotonic() - start
    print(json.dumps({"ok": True, "cycles": args.count, "seconds": round(elapsed, 3),
                      "per_second": round(args.count / elapsed, 1)}))


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def run_synflood(args):
    dst = socket.inet_aton(args.host)
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    rng = random.Random(args.seed)
    deadline = time.monotonic() + args.timeout
    start = time.monotonic()
    sent = 0
    for i in range(args.count):
        if time.monotonic() > deadline:
            break
        src = socket.inet_aton(f"{args.src_net}.{10 + rng.randrange(240)}")
        sport = 1024 + rng.randrange(60000)
        seq = rng.getrandbits(32)
        opts = struct.pack("!BBH", 2, 4, 1460)
        tcp = struct.pack("!HHIIBBHHH", sport, args.port, seq, 0, (6 << 4), 0x02, 64240, 0, 0) + opts
        ph = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
        c = csum(ph + tcp)
        tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), i & 0xffff, 0, 64, 6, 0, src, dst)
        try:
            s.sendto(ip + tcp, (args.host, 0))
            sent += 1
        except OSError:
            time.sleep(0.001)
    elapsed = time.monotonic() - start
    print(json.dumps({"ok": True, "syns": sent, "seconds": round(elapsed, 3),
                      "per_second": round(sent / max(elapsed, 1e-6))}))


def run_serve(args):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", args.port))
    ls.listen(1024)

    def handle(c):
        with c:
            while True:
                d = c.recv(CHUNK * 4)
                if not d:
                    break
                if args.mode == "echo":
                    c.sendall(d)

    deadline = time.monotonic() + args.timeout
    ls.settimeout(1.0)
    while time.monotonic() < deadline:
        try:
            c, _ = ls.accept()
        except socket.timeout:
            continue
        threading.Thread(target=handle, args=(c,), daemon=True).start()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["echo", "discard", "cycles", "synflood", "serve"])
    p.add_argument("--host", default="198.18.0.1")
    p.add_argument("--port", type=int, default=7)
    p.add_argument("--conns", type=int, default=1)
    p.add_argument("--size", type=int, default=1 << 20)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--src-net", default="198.18.0")
    p.add_argument("--mode", dest="serve_mode", default="echo")
    p.add_argument("--timeout", type=float, default=300)
    args = p.parse_args()
    args.mode_name = args.mode
    if args.mode == "serve":
        args.mode = args.serve_mode
        run_serve(args)
        return
    {"echo": run_echo, "discard": run_discard, "cycles": run_cycles,
     "synflood": run_synflood}[args.mode](args)


if __name__ == "__main__":
    main()
