#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Broker semantics with pika (tests/integration/amqp_broker.py, one line per
# case) against Lepus, or against RabbitMQ with IT_TARGET=rabbitmq (lib.sh;
# the parity suite), which defines the expected behaviour.
#
#   tests/integration/test_amqp_broker.sh BUILD_DIR [--case NAME]...

. "$(dirname "$0")/lib.sh" "$1"
shift

it_start_broker
it_client timeout 600 /usr/bin/python3 "$IT_TOP/tests/integration/amqp_broker.py" \
	--host "$IT_BROKER_IP" "$@" || it_fail "broker semantics"
it_log "PASS"
