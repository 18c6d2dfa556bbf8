#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Users, vhosts and permissions come from lepus-control: lepusctl adds them,
# control pushes them to the dataplane over the control link, and pika logs
# in with them over the dataplane's TCP. The dataplane checks credentials
# itself (no round trip): logins keep working while lepus-control is down.
# IT_TARGET=rabbitmq: the same through rabbitmqctl (which spells these commands
# the same way), without the lepus-control restart part.
. "$(dirname "$0")/lib.sh" "$1"

it_start_broker

# login USER PASSWORD VHOST -> prints "open" or the broker's refusal
login() {
	it_client timeout 30 /usr/bin/python3 -c '
import sys, pika
user, password, vhost = sys.argv[1:4]
try:
    c = pika.BlockingConnection(pika.ConnectionParameters("'"$IT_BROKER_IP"'", virtual_host=vhost,
        credentials=pika.PlainCredentials(user, password), socket_timeout=5))
    print("open"); c.close()
except Exception as e:
    print(e)' "$@"
}

expect() {
	local want=$1 got
	shift
	got=$(login "$@")
	case $got in
	*"$want"*) it_log "login $1@$3: $got" ;;
	*) it_fail "login $1@$3: expected '$want', got '$got'" ;;
	esac
}

wait_pushed() { sleep 0.5; } # one control-link poll carries a batch (ms)

it_ctl add_vhost v2 >/dev/null
it_ctl add_user bob s3cret >/dev/null
wait_pushed
expect "access to vhost 'v2' refused" bob s3cret v2
it_ctl set_permissions -p v2 bob '.*' '.*' '.*' >/dev/null
wait_pushed
expect open bob s3cret v2
expect "ACCESS_REFUSED" bob wrong v2
expect "access to vhost '/' refused for user 'bob'" bob s3cret /
expect open guest guest /
expect "vhost v3 not found" guest guest v3

if [ "$IT_TARGET" = lepus ]; then
	# Control down: the dataplane still authenticates from what it was pushed.
	kill -KILL "$IT_CONTROL_PID"
	wait "$IT_CONTROL_PID" 2>/dev/null || true
	IT_CONTROL_PID=
	expect open bob s3cret v2

	# Control back (durable definitions from its data dir): changes flow again.
	it_start_control
	sleep 2.5 # reconnect backoff, then a full batch
fi
it_ctl change_password bob n3w >/dev/null
wait_pushed
expect open bob n3w v2
expect "ACCESS_REFUSED" bob s3cret v2
it_ctl delete_user bob >/dev/null
wait_pushed
expect "ACCESS_REFUSED" bob n3w v2
it_log "PASS"
