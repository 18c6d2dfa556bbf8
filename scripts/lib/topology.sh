# SPDX-License-Identifier: MIT
# Network namespace topology shared by scripts/run, the integration tests and the
# benchmarks (sourced, not run). A veth pair joins two namespaces:
#
#   netns $ns_dp:     $if_dp      (no kernel address; lepus-dataplane owns it
#                                  through net_af_packet and answers ARP itself)
#   netns $ns_client: $if_client  $client_cidr (e.g. 198.18.0.2/24)
#
# Only 198.18.0.0/15 addresses are used (RFC 2544). Offloads are switched off on
# the client end: the kernel would otherwise hand the dataplane TCP segments with
# partial checksums (CHECKSUM_PARTIAL) or 64 KiB GSO frames over the veth.

lp_topology_up() {
	local ns_dp=$1 ns_client=$2 if_dp=$3 if_client=$4 client_cidr=$5
	lp_topology_down "$ns_dp" "$ns_client"
	ip netns add "$ns_dp"
	ip netns add "$ns_client"
	ip link add "$if_dp" netns "$ns_dp" type veth peer name "$if_client" netns "$ns_client"
	ip -n "$ns_dp" link set lo up
	ip -n "$ns_client" link set lo up
	# The dataplane's end: up, no address, no IPv6 chatter from the kernel.
	ip netns exec "$ns_dp" sysctl -qw "net.ipv6.conf.$if_dp.disable_ipv6=1"
	ip netns exec "$ns_dp" ethtool -K "$if_dp" rx off tx off tso off gso off gro off >/dev/null 2>&1 || true
	ip -n "$ns_dp" link set "$if_dp" up
	ip netns exec "$ns_client" sysctl -qw "net.ipv6.conf.$if_client.disable_ipv6=1"
	ip netns exec "$ns_client" ethtool -K "$if_client" rx off tx off tso off gso off gro off >/dev/null 2>&1 || true
	ip -n "$ns_client" addr add "$client_cidr" dev "$if_client"
	ip -n "$ns_client" link set "$if_client" up
}

lp_topology_down() {
	local ns
	for ns in "$@"; do
		ip netns del "$ns" 2>/dev/null || true
	done
}

# Wait until file $1 exists, for at most $2 seconds, while pid $3 lives.
lp_wait_file() {
	local file=$1 timeout=$2 pid=${3:-} i
	for ((i = 0; i < timeout * 10; i++)); do
		[ -e "$file" ] && return 0
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			return 1
		fi
		sleep 0.1
	done
	return 1
}

# Stop pid $1 (one we started): SIGTERM, then SIGKILL after $2 seconds.
lp_stop_pid() {
	local pid=$1 grace=${2:-10} i
	[ -n "$pid" ] || return 0
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < grace * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}
