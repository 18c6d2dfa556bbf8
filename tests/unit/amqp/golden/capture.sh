#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Re-records the golden client byte streams in this directory: runs
# capture.py (a scripted server) and a real client (python3-pika, amqp-tools)
# in a network namespace it creates and removes, on 198.18.0.1 (RFC 2544).
# Needs root. Usage: tests/unit/amqp/golden/capture.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ns=lp-amqp-cap-$$
addr=198.18.0.1
port=5672
cleanup() { ip netns del "$ns" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" addr add "$addr/32" dev lo

run() { # name, client command...
  local name=$1; shift
  ip netns exec "$ns" timeout 30 /usr/bin/python3 "$here/capture.py" "$addr" "$port" "$here/$name.bin" &
  local srv=$!
  sleep 0.5
  ip netns exec "$ns" timeout 20 "$@"
  wait "$srv"
}

run pika_client /usr/bin/python3 - <<'PY'
import datetime, decimal, pika
p = pika.ConnectionParameters(host="198.18.0.1", port=5672, heartbeat=60,
    credentials=pika.PlainCredentials("guest", "guest"), virtual_host="/")
c = pika.BlockingConnection(p)
ch = c.channel()
ch.exchange_declare(exchange="lepus.x", exchange_type="topic", durable=True,
    arguments={"alternate-exchange": "ae"})
ch.queue_declare(queue="lepus.q", durable=True,
    arguments={"x-max-length": 1000, "x-message-ttl": 60000})
ch.queue_bind(queue="lepus.q", exchange="lepus.x", routing_key="a.*")
ch.basic_qos(prefetch_count=10)
ch.basic_publish(exchange="lepus.x", routing_key="a.b", body=b"hello lepus",
    properties=pika.BasicProperties(content_type="text/plain", delivery_mode=2,
        priority=5, correlation_id="c1", reply_to="r", message_id="m1",
        timestamp=1700000000, type="t", app_id="app",
        headers={"i": 1, "s": "x", "b": True, "d": decimal.Decimal("1.5"),
                 "big": 2**40, "x": b"\x00\xff", "ts": datetime.datetime(2024, 1, 2), "n": None,
                 "l": [1, "two"], "t": {"k": "v"}}))
ch.basic_get(queue="lepus.q", auto_ack=True)
ch2 = c.channel()
ch2.confirm_delivery()
ch2.close()
c.close()
PY
# No path in the URL: vhost "/". With a trailing "/" the vhost is "" (AMQP URI spec).
run amqp_tools_publish amqp-publish --url=amqp://guest:guest@198.18.0.1:5672 \
  -r lepus.q -b "hello from amqp-tools"
run amqp_tools_empty_vhost amqp-publish --url=amqp://guest:guest@198.18.0.1:5672/ \
  -r lepus.q -b "hello from amqp-tools"
ls -l "$here"/*.bin
