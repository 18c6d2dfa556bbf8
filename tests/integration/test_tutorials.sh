#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# RabbitMQ's six tutorials with pika from the client namespace against Lepus
# (declarations through lepus-control, messages through the dataplane).
. "$(dirname "$0")/lib.sh" "$1"

it_start_control
it_start_dataplane
it_client timeout 120 /usr/bin/python3 "$IT_TOP/tests/integration/tutorials.py" "$IT_DP_IP" ||
	it_fail "tutorials"
it_log "PASS"
