#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# AMQP connection layer with real clients over the dataplane's own TCP: pika,
# a rabbitmq-c program, amqp-tools, and raw frames (tests/integration/amqp_connection.py).
# IT_TARGET=rabbitmq runs the same against RabbitMQ (lib.sh).
. "$(dirname "$0")/lib.sh" "$1"

it_start_broker
product=Lepus
[ "$IT_TARGET" = rabbitmq ] && product=RabbitMQ

it_client timeout 120 /usr/bin/python3 "$IT_TOP/tests/integration/amqp_connection.py" "$IT_BROKER_IP" "$product" ||
	it_fail "pika / raw-frame checks"
it_client timeout 60 "$IT_BUILD/tests/integration/amqp_connect_rmqc" "$IT_BROKER_IP" 5672 ||
	it_fail "rabbitmq-c checks"
# amqp-tools (Debian's, on rabbitmq-c): declare, a consumer that heartbeats
# every second through 3.5 s of silence, two publishes, clean exits.
url="amqp://guest:guest@$IT_BROKER_IP"
it_client amqp-declare-queue --url "$url" -q tools-q >/dev/null || it_fail "amqp-declare-queue"
it_client timeout 30 amqp-consume --url "$url" --heartbeat=1 -q tools-q -c 2 cat >"$IT_DIR/consumed" 2>&1 &
consumer=$!
sleep 3.5
it_client amqp-publish --url "$url" -r tools-q -b one || it_fail "amqp-publish one"
it_client amqp-publish --url "$url" -r tools-q -b two || it_fail "amqp-publish two"
wait "$consumer" || it_fail "amqp-consume did not exit cleanly: $(cat "$IT_DIR/consumed")"
[ "$(cat "$IT_DIR/consumed")" = onetwo ] || it_fail "amqp-consume got '$(cat "$IT_DIR/consumed")'"
it_client amqp-delete-queue --url "$url" -q tools-q >/dev/null || it_fail "amqp-delete-queue"
it_log "amqp-tools: declare, consume with heartbeat 1 s over 3.5 s, publish x2, delete: ok"
it_log "PASS"
