#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# RabbitMQ's six tutorials with pika from the client namespace against Lepus
# (declarations through lepus-control, messages through the dataplane), or
# against RabbitMQ with IT_TARGET=rabbitmq (lib.sh).
. "$(dirname "$0")/lib.sh" "$1"

it_start_broker
it_client timeout 120 /usr/bin/python3 "$IT_TOP/tests/integration/tutorials.py" "$IT_BROKER_IP" ||
	it_fail "tutorials"
it_log "PASS"
