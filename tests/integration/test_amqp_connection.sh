#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# AMQP connection layer with real clients over the dataplane's own TCP: pika,
# a rabbitmq-c program, and raw frames (tests/integration/amqp_connection.py).
. "$(dirname "$0")/lib.sh" "$1"

it_start_control
it_start_dataplane

it_client timeout 120 /usr/bin/python3 "$IT_TOP/tests/integration/amqp_connection.py" "$IT_DP_IP" ||
	it_fail "pika / raw-frame checks"
it_client timeout 60 "$IT_BUILD/tests/integration/amqp_connect_rmqc" "$IT_DP_IP" 5672 ||
	it_fail "rabbitmq-c checks"
it_log "PASS"
