#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Popular clients' own libraries, unchanged, in publish/consume/confirm/close
# loops (tests/clients/): amqp091-go (Debian's golang package, built here
# offline) and amqplib (npm, installed by scripts/setup into
# tests/clients/node). Against Lepus, or RabbitMQ with IT_TARGET=rabbitmq.
#
#   tests/integration/test_client_loops.sh BUILD_DIR

. "$(dirname "$0")/lib.sh" "$1"
shift

GO_BIN=$IT_DIR/go-loops
GOPATH=/usr/share/gocode GO111MODULE=off GOCACHE=$IT_DIR/gocache \
	go build -o "$GO_BIN" "$IT_TOP/tests/clients/go/loops.go" || it_fail "building the Go client"
[ -d "$IT_TOP/tests/clients/node/node_modules/amqplib" ] ||
	it_fail "amqplib is missing: run scripts/setup (it installs tests/clients/node)"

it_start_broker
URL="amqp://guest:guest@$IT_BROKER_IP:5672/"
it_client timeout 120 "$GO_BIN" -url "$URL" || it_fail "amqp091-go loops"
it_client timeout 120 node "$IT_TOP/tests/clients/node/loops.js" "$URL" || it_fail "amqplib loops"
it_log "PASS"
