#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Direct reply-to with pika (tests/integration/direct_reply_to.py, one line
# per case) against Lepus, or against RabbitMQ with IT_TARGET=rabbitmq
# (lib.sh; the parity suite), which defines the expected behaviour. With two
# workers it also checks, from the dataplane's exit summary, that replies
# crossed workers.
#
#   tests/integration/test_direct_reply_to.sh BUILD_DIR [--case NAME]...

. "$(dirname "$0")/lib.sh" "$1"
shift

it_start_broker
it_client timeout 600 /usr/bin/python3 "$IT_TOP/tests/integration/direct_reply_to.py" \
	--host "$IT_BROKER_IP" "$@" || it_fail "direct reply-to"
# With two workers, some replies must have gone to a requester on the other
# worker (rpc_from_many_connections: 8 requester connections).
if [ "$IT_TARGET" = lepus ] && [ "${IT_WORKERS:-1}" -gt 1 ] && [ $# -eq 0 ]; then
	it_check_crossed '.*direct replies [0-9]* (to other workers \([0-9]*\),.*' 'direct replies'
fi
it_log "PASS"
