#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Records the bytes a real AMQP client sends, for the golden vectors.

A minimal scripted AMQP 0-9-1 server (independent of Lepus's codec, built
with struct from the spec) answers just enough for the client to go on:
Start, Tune, Open-Ok, Channel.Open-Ok, Close-Ok, Declare-Ok, Bind-Ok, Qos-Ok,
Select-Ok, Get-Empty. Everything the client sends is written to OUT.bin.
Run it only through capture.sh, which gives it a network namespace.

usage: capture.py ADDR PORT OUT.bin
"""
import socket
import struct
import sys


def frame(ftype, ch, payload):
    return struct.pack(">BHI", ftype, ch, len(payload)) + payload + b"\xce"


def method(ch, cid, mid, args=b""):
    return frame(1, ch, struct.pack(">HH", cid, mid) + args)


def shortstr(s):
    return struct.pack(">B", len(s)) + s


def longstr(s):
    return struct.pack(">I", len(s)) + s


def table(entries):
    body = b""
    for k, v in entries:
        body += shortstr(k) + b"t" + (b"\x01" if v else b"\x00")
    return longstr(body)


def main():
    addr, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, port))
    srv.listen(1)
    srv.settimeout(20)
    conn, _ = srv.accept()
    conn.settimeout(20)
    rec = bytearray()
    buf = bytearray()

    def need(n):
        while len(buf) < n:
            d = conn.recv(65536)
            if not d:
                raise EOFError
            rec.extend(d)
            buf.extend(d)
        out = bytes(buf[:n])
        del buf[:n]
        return out

    try:
        need(8)
        caps = table([(b"publisher_confirms", True), (b"exchange_exchange_bindings", True),
                      (b"basic.nack", True), (b"consumer_cancel_notify", True),
                      (b"connection.blocked", True), (b"authentication_failure_close", True),
                      (b"per_consumer_qos", True)])
        props = longstr(shortstr(b"capabilities") + b"F" + caps)
        conn.sendall(method(0, 10, 10, b"\x00\x09" + props + longstr(b"PLAIN AMQPLAIN") +
                            longstr(b"en_US")))
        for _ in range(1000):
            ftype, ch, size = struct.unpack(">BHI", need(7))
            payload = need(size)
            assert need(1) == b"\xce"
            if ftype != 1:
                continue
            cid, mid = struct.unpack(">HH", payload[:4])
            args = payload[4:]
            reply = None
            if (cid, mid) == (10, 11):
                reply = method(0, 10, 30, struct.pack(">HIH", 2047, 131072, 60))
            elif (cid, mid) == (10, 40):
                reply = method(0, 10, 41, shortstr(b""))
            elif (cid, mid) == (10, 50):
                conn.sendall(method(0, 10, 51))
                break
            elif (cid, mid) == (20, 10):
                reply = method(ch, 20, 11, longstr(b""))
            elif (cid, mid) == (20, 40):
                reply = method(ch, 20, 41)
            elif (cid, mid) == (40, 10):
                reply = method(ch, 40, 11)
            elif (cid, mid) == (50, 10):
                n = args[2]
                reply = method(ch, 50, 11, shortstr(args[3:3 + n]) + struct.pack(">II", 0, 0))
            elif (cid, mid) == (50, 20):
                reply = method(ch, 50, 21)
            elif (cid, mid) == (60, 10):
                reply = method(ch, 60, 11)
            elif (cid, mid) == (85, 10):
                reply = method(ch, 85, 11)
            elif (cid, mid) == (60, 70):
                reply = method(ch, 60, 72, shortstr(b""))
            if reply:
                conn.sendall(reply)
        # the client closes after Close-Ok
        for _ in range(100):
            d = conn.recv(65536)
            if not d:
                break
            rec.extend(d)
    except (EOFError, socket.timeout):
        pass
    with open(out, "wb") as f:
        f.write(rec)
    print("capture: %d bytes -> %s" % (len(rec), out))


if __name__ == "__main__":
    main()
