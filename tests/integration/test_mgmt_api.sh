#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The management HTTP API (issue 15), endpoint by endpoint (mgmt_api.py:
# status codes, headers, JSON field names and types, auth and tags, %2F,
# columns, sort, pagination, properties_key and Location, definitions
# export/import), objects declared over HTTP used over AMQP from the client
# namespace, then Debian's rabbitmqadmin against the same API.
# IT_TARGET=lepus: lepus-control with --http on a free loopback port, and the
# dataplane; IT_TARGET=rabbitmq: Debian's RabbitMQ with rabbitmq_management
# (enabled in the test node's own enabled_plugins file), HTTP on port 15672
# of its namespace, reached from the client namespace.
. "$(dirname "$0")/lib.sh" "$1"

case $IT_TARGET in
lepus)
	port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	export IT_CONTROL_OPTS="--http 127.0.0.1:$port"
	url=http://127.0.0.1:$port
	run=()                                  # HTTP from here (loopback)
	amqp_prefix="ip netns exec $IT_NS_CL"   # AMQP from the client namespace
	;;
rabbitmq)
	export LEPUS_RMQ_PLUGINS=rabbitmq_management
	url=http://$IT_BROKER_IP:15672
	run=(ip netns exec "$IT_NS_CL")
	amqp_prefix=""
	;;
esac
it_start_broker

host_port=${url#http://}
up=0
for _ in $(seq 1 300); do
	if "${run[@]}" timeout 2 /usr/bin/python3 -c 'import sys, requests
sys.exit(requests.get(sys.argv[1] + "/api/overview", auth=("guest", "guest"), timeout=2).status_code != 200)' "$url" 2>/dev/null; then
		up=1
		break
	fi
	sleep 0.2
done
[ $up = 1 ] || it_fail "the management API did not answer on $url"
it_log "management API up on $url"

"${run[@]}" timeout 300 /usr/bin/python3 "$IT_TOP/tests/integration/mgmt_api.py" --url "$url" \
	--amqp-host "$IT_BROKER_IP" --amqp-prefix "$amqp_prefix" --target "$IT_TARGET" \
	>"$IT_DIR/mgmt_api.out" 2>&1 || {
	grep -v '^ok' "$IT_DIR/mgmt_api.out" | tail -n 40
	it_fail "mgmt_api.py: $(tail -n 1 "$IT_DIR/mgmt_api.out")"
}
it_log "mgmt_api.py: $(grep -c '^ok' "$IT_DIR/mgmt_api.out") checks passed"

# Policies, operator policies, parameters and global parameters (RabbitMQ's
# reason texts), in the definitions too.
"${run[@]}" timeout 120 /usr/bin/python3 "$IT_TOP/tests/integration/mgmt_policies.py" --url "$url" \
	>"$IT_DIR/mgmt_policies.out" 2>&1 || {
	grep -v '^ok' "$IT_DIR/mgmt_policies.out" | tail -n 40
	it_fail "mgmt_policies.py: $(tail -n 1 "$IT_DIR/mgmt_policies.out")"
}
it_log "mgmt_policies.py: $(grep -c '^ok' "$IT_DIR/mgmt_policies.out") checks passed"

# ---- lepusctl's commands through the API (Lepus only) -----------------------
if [ "$IT_TARGET" = lepus ]; then
	lctl() { "$IT_BUILD/control/lepusctl" --socket "$IT_SOCK" --http "$host_port" "$@"; }
	lctl set_policy --priority 3 --apply-to queues lctl-p '^lctl\.' '{"max-length": 10}' >/dev/null ||
		it_fail "lepusctl set_policy"
	lctl list_policies | grep -q "lctl-p" || it_fail "lepusctl list_policies: $(lctl list_policies)"
	lctl --formatter json list_policies | /usr/bin/python3 -c '
import json, sys
p = [x for x in json.load(sys.stdin) if x["name"] == "lctl-p"][0]
assert p["priority"] == 3 and p["apply-to"] == "queues", p' || it_fail "lepusctl list_policies json"
	lctl export_definitions "$IT_DIR/lctl-defs.json" >/dev/null || it_fail "lepusctl export_definitions"
	grep -q '"lctl-p"' "$IT_DIR/lctl-defs.json" || it_fail "exported definitions lack the policy"
	lctl clear_policy lctl-p >/dev/null || it_fail "lepusctl clear_policy"
	lctl import_definitions "$IT_DIR/lctl-defs.json" >/dev/null || it_fail "lepusctl import_definitions"
	lctl list_policies | grep -q "lctl-p" || it_fail "the imported policy is missing"
	lctl clear_policy lctl-p >/dev/null
	it_log "lepusctl set/list/clear_policy, export/import_definitions through the API: ok"
fi

# ---- rabbitmqadmin (Debian's, from rabbitmq-server), unchanged -------------
admin() {
	"${run[@]}" timeout 30 /usr/bin/rabbitmqadmin -H "${host_port%:*}" -P "${host_port#*:}" \
		-u guest -p guest "$@"
}
expect_out() { # WANT CMD...: CMD succeeds and prints WANT
	local want=$1 out
	shift
	out=$(admin "$@" 2>&1) || it_fail "rabbitmqadmin $*: $out"
	case $out in
	*"$want"*) it_log "rabbitmqadmin $*: ok" ;;
	*) it_fail "rabbitmqadmin $*: expected '$want' in: $out" ;;
	esac
}
expect_out "declared" declare vhost name=adm-v
expect_out "declared" declare exchange --vhost=adm-v name=adm-x type=topic durable=true
expect_out "declared" declare queue --vhost=adm-v name=adm-q durable=true arguments='{"x-max-length": 7}'
expect_out "declared" declare binding --vhost=adm-v source=adm-x destination=adm-q routing_key='k.#'
expect_out "adm-q" list queues --vhost=adm-v name durable
expect_out "adm-x" list exchanges --vhost=adm-v name type
expect_out "k.#" list bindings --vhost=adm-v source destination routing_key
expect_out "adm-v" list vhosts name
expect_out "guest" list users name tags
expect_out "guest" list permissions user vhost
expect_out "rabbitmq_version" -f raw_json show overview
admin export "$IT_DIR/defs.json" >/dev/null || it_fail "rabbitmqadmin export"
/usr/bin/python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
assert any(q["name"] == "adm-q" and q["arguments"] == {"x-max-length": 7} for q in d["queues"]), d["queues"]
assert any(b["routing_key"] == "k.#" for b in d["bindings"]), d["bindings"]' "$IT_DIR/defs.json" ||
	it_fail "the exported definitions lack adm-q or its binding"
expect_out "deleted" delete binding --vhost=adm-v source=adm-x destination=adm-q \
	destination_type=queue properties_key='k.%23'
expect_out "deleted" delete queue --vhost=adm-v name=adm-q
expect_out "deleted" delete exchange --vhost=adm-v name=adm-x
expect_out "deleted" delete vhost name=adm-v
expect_out "Uploaded definitions" import "$IT_DIR/defs.json"
expect_out "adm-q" list queues --vhost=adm-v name
expect_out "deleted" delete vhost name=adm-v
it_log "PASS"
