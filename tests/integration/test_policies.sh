#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Policies and operator policies applied to queues and exchanges
# (tests/integration/policies.py, one line per case) against Lepus, or
# against RabbitMQ with IT_TARGET=rabbitmq (lib.sh; the parity suite),
# which defines the expected behaviour. The cases set policies with the
# command in $LP_IT_CTL, a wrapper written here: rabbitmqctl through
# scripts/rabbitmq, or lepusctl through lepus-control's management API
# (on a free loopback port of this namespace, which the wrapper enters
# from the client namespace the cases run in).
#
#   tests/integration/test_policies.sh BUILD_DIR [--case NAME]...

. "$(dirname "$0")/lib.sh" "$1"
shift

ctl=$IT_DIR/ctl
case $IT_TARGET in
lepus)
	port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	export IT_CONTROL_OPTS="--http 127.0.0.1:$port"
	cat >"$ctl" <<EOS
#!/bin/sh
exec nsenter --net=/proc/$$/ns/net -- "$IT_BUILD/control/lepusctl" --socket "$IT_SOCK" \\
	--http 127.0.0.1:$port "\$@"
EOS
	;;
rabbitmq)
	cat >"$ctl" <<EOS
#!/bin/sh
exec "$IT_TOP/scripts/rabbitmq" ctl "\$@"
EOS
	;;
esac
chmod +x "$ctl"

it_start_broker
if [ "$IT_TARGET" = lepus ]; then
	up=0
	for _ in $(seq 1 100); do
		"$ctl" list_policies >/dev/null 2>&1 && { up=1; break; }
		sleep 0.1
	done
	[ $up = 1 ] || it_fail "the management API did not answer on port $port"
fi
it_client timeout 900 env LP_IT_CTL="$ctl" /usr/bin/python3 "$IT_TOP/tests/integration/policies.py" \
	--host "$IT_BROKER_IP" "$@" || it_fail "policies"
it_log "PASS"
