#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# RabbitMQ's queue features with pika (tests/integration/queue_features.py,
# one line per case: TTL, dead-lettering, priority queues) against Lepus, or
# against RabbitMQ with IT_TARGET=rabbitmq (lib.sh; the parity suite), which
# defines the expected behaviour. With two workers it also checks, from the
# dataplane's exit summary, that dead letters crossed shards (and, with
# --case priority_across_connections alone, that publishes did).
#
#   tests/integration/test_queue_features.sh BUILD_DIR [--case NAME]...

. "$(dirname "$0")/lib.sh" "$1"
shift

it_start_broker
it_client timeout 600 /usr/bin/python3 "$IT_TOP/tests/integration/queue_features.py" \
	--host "$IT_BROKER_IP" "$@" || it_fail "queue features"
# With two workers, some dead letters must have gone to a queue of the other
# shard (dead_letter_across_connections declares 12 pairs from different
# connections; each connection's worker owns what it declares).
if [ "$IT_TARGET" = lepus ] && [ "${IT_WORKERS:-1}" -gt 1 ] && [ $# -eq 0 ]; then
	it_check_crossed '.*dead-lettered [0-9]* (to other shards \([0-9]*\)).*' 'dead letters'
fi
# With two workers and only priority_across_connections, some publishes must
# have gone to a priority queue owned by the other shard.
if [ "$IT_TARGET" = lepus ] && [ "${IT_WORKERS:-1}" -gt 1 ] && [ "$*" = "--case priority_across_connections" ]; then
	it_stop_dataplane
	remote=$(sed -n 's/.*sent to other shards \([0-9]*\),.*/\1/p' "$IT_DIR/dataplane.log" |
		awk '{ s += $1 } END { print s + 0 }')
	[ "$remote" -gt 0 ] || it_fail "no publish crossed shards: $(grep '^broker worker' "$IT_DIR/dataplane.log")"
	it_log "publishes to other shards: $remote"
fi
it_log "PASS"
