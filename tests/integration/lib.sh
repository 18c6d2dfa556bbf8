# SPDX-License-Identifier: MIT
# Shared by the integration tests (sourced): starts the real lepus-control and
# lepus-dataplane in a private pair of network namespaces named after this
# test's pid (so tests never collide with each other or with scripts/run), and
# removes everything on exit. Only 198.18.0.0/15 addresses are used.
#
#   . tests/integration/lib.sh BUILD_DIR
#   it_start_control
#   it_start_dataplane [dataplane options...]
#   it_start_broker           the AMQP broker of IT_TARGET (below)
#   it_client CMD...          run CMD in the client namespace
#   it_amqp_load NAME OPTS... bench/amqp-load from the client namespace
#   it_ctl ARGS...            lepusctl / rabbitmqctl (the commands they share)
#   it_fail "message"         print and exit 1
#
# IT_DATAPLANE: the dataplane executable (default BUILD_DIR/dataplane/lepus-dataplane).
# IT_TARGET=lepus (default) or rabbitmq. With rabbitmq, it_start_broker starts
# Debian's rabbitmq-server through scripts/rabbitmq in namespaces of its own
# (rqt<pid>b / rqt<pid>c, node directory in this test's temporary directory,
# never the defaults that bench/compare uses) and the clients run from its
# client namespace at the same addresses; only the pids scripts/rabbitmq
# started are stopped. The AMQP tests call it_start_broker and work against
# both; the Lepus-only ones (dataplane, control plane) call it_require_lepus.
set -euo pipefail
IT_BUILD=$(realpath "$1")
IT_TOP=$(realpath "$(dirname "${BASH_SOURCE[0]}")/../..")
. "$IT_TOP/scripts/lib/topology.sh"

IT_TARGET=${IT_TARGET:-lepus}
IT_DATAPLANE=${IT_DATAPLANE:-$IT_BUILD/dataplane/lepus-dataplane}
IT_ID=$$
IT_DP_IP=198.18.0.1
IT_CLIENT_IP=198.18.0.2
IT_BROKER_IP=$IT_DP_IP
IT_DIR=$(mktemp -d /tmp/lepus-it.XXXXXX)
IT_SOCK=$IT_DIR/control.sock
IT_CONTROL_PID=
IT_DP_PID=
IT_RMQ_STARTED=0
IT_FAILED=0
case $IT_TARGET in
lepus)
	IT_NS_DP=lpt${IT_ID}d
	IT_NS_CL=lpt${IT_ID}c
	IT_IF_DP=lp${IT_ID}d
	IT_IF_CL=lp${IT_ID}c
	;;
rabbitmq)
	IT_NS_DP=rqt${IT_ID}b
	IT_NS_CL=rqt${IT_ID}c
	IT_IF_DP=rq${IT_ID}b
	IT_IF_CL=rq${IT_ID}c
	export LEPUS_RMQ_DIR=$IT_DIR/rabbitmq LEPUS_RMQ_NS=$IT_NS_DP LEPUS_RMQ_NS_CLIENT=$IT_NS_CL \
		LEPUS_RMQ_IF=$IT_IF_DP LEPUS_RMQ_IF_CLIENT=$IT_IF_CL LEPUS_RMQ_IP=$IT_BROKER_IP \
		LEPUS_RMQ_CLIENT_CIDR=$IT_CLIENT_IP/24
	;;
*)
	echo "IT_TARGET must be lepus or rabbitmq, not '$IT_TARGET'" >&2
	rm -rf "$IT_DIR"
	exit 2
	;;
esac

it_log() { printf '[%s/%s] %s\n' "$(basename "$0")" "$IT_TARGET" "$*"; }

it_fail() {
	it_log "FAIL: $*"
	IT_FAILED=1
	exit 1
}

it_cleanup() {
	local rc=$?
	# A second TERM (meson's timeout, timeout(1)) must not cut the cleanup short
	# and leave the namespaces or a broker behind.
	trap '' INT TERM
	lp_stop_pid "$IT_DP_PID" 15
	lp_stop_pid "$IT_CONTROL_PID" 5
	if [ "$IT_RMQ_STARTED" -ne 0 ]; then
		# Stops only the pids it recorded in $LEPUS_RMQ_DIR, removes our namespaces.
		"$IT_TOP/scripts/rabbitmq" stop >/dev/null 2>&1 || true
	fi
	if [ "$rc" -ne 0 ] || [ "$IT_FAILED" -ne 0 ]; then
		for f in "$IT_DIR"/*.log "$IT_DIR"/rabbitmq/log/*.log; do
			[ -f "$f" ] && { echo "---- $f"; tail -n 60 "$f"; }
		done
	fi
	lp_topology_down "$IT_NS_DP" "$IT_NS_CL"
	rm -rf "$IT_DIR"
	exit "$rc"
}
trap it_cleanup EXIT
trap 'exit 130' INT TERM

# scripts/rabbitmq makes its own topology (the same one, with a kernel address
# on the broker's end).
[ "$IT_TARGET" = rabbitmq ] ||
	lp_topology_up "$IT_NS_DP" "$IT_NS_CL" "$IT_IF_DP" "$IT_IF_CL" "$IT_CLIENT_IP/24"

# A test of Lepus's own processes (dataplane, control plane): refuse another target.
it_require_lepus() {
	[ "$IT_TARGET" = lepus ] || it_fail "Lepus-only test (IT_TARGET=$IT_TARGET)"
}

# The AMQP broker under test, ready for clients at $IT_BROKER_IP:5672.
it_start_broker() {
	case $IT_TARGET in
	lepus)
		it_start_control
		it_start_dataplane "$@"
		;;
	rabbitmq)
		IT_RMQ_STARTED=1
		"$IT_TOP/scripts/rabbitmq" start >>"$IT_DIR/rabbitmq-start.log" 2>&1 ||
			it_fail "rabbitmq-server did not start: $(tail -n 20 "$IT_DIR/rabbitmq-start.log")"
		;;
	esac
}

# lepusctl or rabbitmqctl: add_vhost, add_user, set_permissions, change_password,
# delete_user... are spelled the same by both.
it_ctl() {
	case $IT_TARGET in
	lepus) it_lepusctl "$@" ;;
	rabbitmq) "$IT_TOP/scripts/rabbitmq" ctl "$@" ;;
	esac
}

it_start_control() {
	it_require_lepus
	# IT_CONTROL_OPTS: more options (e.g. --http ADDR:PORT); by default the
	# management API is off, so that tests never compete for a port.
	# shellcheck disable=SC2086
	"$IT_BUILD/control/lepus-control" --socket "$IT_SOCK" --data-dir "$IT_DIR/data" \
		${IT_CONTROL_OPTS:---http off} >>"$IT_DIR/control.log" 2>&1 &
	IT_CONTROL_PID=$!
	lp_wait_file "$IT_SOCK" 10 "$IT_CONTROL_PID" || it_fail "lepus-control did not start"
}

it_start_dataplane() {
	it_require_lepus
	rm -f "$IT_DIR/dataplane.ready"
	# Without MALLOC_PERTURB_ (meson test sets a random one): glibc would
	# fill the broker's multi-GiB message pool at start-up byte by byte and
	# the dataplane would not be ready within 60 s (as in bench/lepus-bench-memif).
	ip netns exec "$IT_NS_DP" env -u MALLOC_PERTURB_ "$IT_DATAPLANE" ${IT_LCORES:--l 0} --no-huge -m 512 \
		--no-pci --no-telemetry --log-level=lib.*:notice \
		--file-prefix "lepus-it-$IT_ID" -- \
		--port "af_packet:$IT_IF_DP" --ip "$IT_DP_IP/24" --control "$IT_SOCK" --data-dir "$IT_DIR/data" \
		--ready-file "$IT_DIR/dataplane.ready" "$@" >>"$IT_DIR/dataplane.log" 2>&1 &
	IT_DP_PID=$!
	lp_wait_file "$IT_DIR/dataplane.ready" 60 "$IT_DP_PID" || it_fail "lepus-dataplane did not start"
	# IT_WORKERS: how many workers the EAL lcores (IT_LCORES) must have given.
	grep -q "${IT_WORKERS:-1} worker(s)" "$IT_DIR/dataplane.log" ||
		it_fail "expected ${IT_WORKERS:-1} worker(s): $(grep 'worker(s)' "$IT_DIR/dataplane.log")"
}

# Stop the dataplane cleanly (SIGTERM); its exit summary is then in its log.
it_stop_dataplane() {
	lp_stop_pid "$IT_DP_PID" 15
	wait "$IT_DP_PID" 2>/dev/null || true
	IT_DP_PID=
}

# Lepus with two workers, the whole file run: stop the dataplane and check
# that its exit summary counted some of WHAT crossed workers: PATTERN is a
# sed expression whose \1 is a per-worker count (summed over workers).
it_check_crossed() {
	local pattern=$1 what=$2 n
	it_stop_dataplane
	n=$(sed -n "s/$pattern/\1/p" "$IT_DIR/dataplane.log" | awk '{ s += $1 } END { print s + 0 }')
	[ "$n" -gt 0 ] || it_fail "no $what crossed workers: $(grep '^queues worker' "$IT_DIR/dataplane.log")"
	it_log "$what to other workers: $n"
}

it_client() {
	ip netns exec "$IT_NS_CL" "$@"
}

# amqp-load (bench/) against the broker as guest, scenario NAME, with OPTS;
# its stdout is this function's, its stderr goes to $IT_DIR/amqp-load-NAME.err;
# returns its exit status (124: killed after IT_LOAD_TIMEOUT seconds, default 300).
it_amqp_load() {
	local name=$1
	shift
	it_client timeout "${IT_LOAD_TIMEOUT:-300}" "$IT_BUILD/bench/amqp-load" \
		--uri "amqp://guest:guest@$IT_BROKER_IP" --name "$name" "$@" \
		2>"$IT_DIR/amqp-load-$name.err"
}

it_lepusctl() {
	"$IT_BUILD/control/lepusctl" --socket "$IT_SOCK" "$@"
}

# Number of replies in the output of ping.
it_ping_received() {
	sed -n 's/.* \([0-9]\+\) received.*/\1/p'
}
