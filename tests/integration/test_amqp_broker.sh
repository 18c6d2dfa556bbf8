#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Broker semantics with pika (tests/integration/amqp_broker.py, one line per
# case) against Lepus, or against RabbitMQ with IT_TARGET=rabbitmq (lib.sh;
# the parity suite), which defines the expected behaviour.
#
#   tests/integration/test_amqp_broker.sh BUILD_DIR [--case NAME]...
#
# LEPUS_PENDING_CASES: the cases Lepus does not pass yet (features being
# implemented). Against Lepus they are reported "PENDING (not implemented in
# Lepus yet)" and not run; against RabbitMQ they run like every other case.
# Remove a name as soon as Lepus passes it; IT_PENDING overrides the list
# (IT_PENDING= runs everything).
LEPUS_PENDING_CASES=""
. "$(dirname "$0")/lib.sh" "$1"
shift

pending=
[ "$IT_TARGET" = lepus ] && pending=${IT_PENDING-$LEPUS_PENDING_CASES}
it_start_broker
it_client timeout 600 /usr/bin/python3 "$IT_TOP/tests/integration/amqp_broker.py" \
	--host "$IT_BROKER_IP" --pending "$pending" "$@" || it_fail "broker semantics"
it_log "PASS"
