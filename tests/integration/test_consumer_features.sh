#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Consumer features with pika (tests/integration/consumer_features.py: single
# active consumer, consumer priorities; one line per case) against Lepus, or
# against RabbitMQ with IT_TARGET=rabbitmq (lib.sh; the parity suite), which
# defines the expected behaviour.
#
#   tests/integration/test_consumer_features.sh BUILD_DIR [--case NAME]...

. "$(dirname "$0")/lib.sh" "$1"
shift

it_start_broker
it_client timeout 600 /usr/bin/python3 "$IT_TOP/tests/integration/consumer_features.py" \
	--host "$IT_BROKER_IP" "$@" || it_fail "consumer features"
it_log "PASS"
