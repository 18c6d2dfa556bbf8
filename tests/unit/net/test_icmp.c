/* SPDX-License-Identifier: MIT */
/* ICMP (dataplane/net/icmp.c): echo replies, and what is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <rte_icmp.h>

#include "net_harness.h"

#define L4_OFF (sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr))

static void expect_single_drop(enum lp_drop_reason r)
{
	assert_int_equal(net_drops(r), 1);
	assert_int_equal(net_drops_total(), 1);
	assert_int_equal(port_tx_count(), 0);
}

static void echo_request_gets_identical_reply(void **state)
{
	static uint8_t f[2048];
	uint16_t len = net_build_echo(f, 0x1234, 7, 1000);
	(void)state;
	net_input(f, len);
	assert_int_equal(port_tx_count(), 1);
	struct rte_mbuf *r = port_tx_at(0);

	assert_int_equal(rte_pktmbuf_pkt_len(r), len);
	const struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(r, const struct rte_ipv4_hdr *,
								sizeof(struct rte_ether_hdr));
	const struct rte_icmp_hdr *icmp = rte_pktmbuf_mtod_offset(r, const struct rte_icmp_hdr *, L4_OFF);

	assert_int_equal(ip->dst_addr, rte_cpu_to_be_32(NET_PEER_IP));
	assert_int_equal(ip->src_addr, rte_cpu_to_be_32(NET_OUR_IP));
	assert_int_equal(rte_raw_cksum(ip, sizeof(*ip)), 0xffff);
	assert_int_equal(icmp->icmp_type, RTE_IP_ICMP_ECHO_REPLY);
	assert_int_equal(icmp->icmp_code, 0);
	assert_int_equal(rte_be_to_cpu_16(icmp->icmp_ident), 0x1234);
	assert_int_equal(rte_be_to_cpu_16(icmp->icmp_seq_nb), 7);
	assert_int_equal(rte_raw_cksum(icmp, len - L4_OFF), 0xffff);
	assert_memory_equal((const uint8_t *)(icmp + 1), f + L4_OFF + sizeof(*icmp), 1000);
}

static void truncated_icmp_is_dropped(void **state)
{
	uint8_t f[64], l4[4] = {8, 0, 0, 0};
	uint16_t len = net_build_ip4(f, IPPROTO_ICMP, l4, sizeof(l4));
	(void)state;
	net_input(f, len);
	expect_single_drop(LP_DROP_ICMP_TRUNCATED);
}

static void bad_icmp_checksum_is_dropped(void **state)
{
	uint8_t f[256];
	uint16_t len = net_build_echo(f, 1, 1, 32);
	(void)state;
	f[L4_OFF + 2] ^= 0x55;
	net_input(f, len);
	expect_single_drop(LP_DROP_ICMP_BAD_CHECKSUM);
}

static void other_icmp_types_are_dropped(void **state)
{
	uint8_t f[64];
	struct rte_icmp_hdr icmp = {.icmp_type = RTE_IP_ICMP_ECHO_REPLY};
	(void)state;
	icmp.icmp_cksum = (uint16_t)~rte_raw_cksum(&icmp, sizeof(icmp));
	net_input(f, net_build_ip4(f, IPPROTO_ICMP, &icmp, sizeof(icmp)));
	expect_single_drop(LP_DROP_ICMP_UNHANDLED_TYPE);
}

static void many_requests_many_replies(void **state)
{
	uint8_t f[256];
	(void)state;
	for (uint16_t seq = 0; seq < 40; seq++) {
		uint16_t len = net_build_echo(f, 9, seq, 56);

		net_input(f, len);
	}
	assert_int_equal(port_tx_count(), 40);
	assert_int_equal(net_stack.stats.tx_packets, 40);
	assert_int_equal(net_drops_total(), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, net_setup, net_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(echo_request_gets_identical_reply), T(truncated_icmp_is_dropped),
		T(bad_icmp_checksum_is_dropped), T(other_icmp_types_are_dropped),
		T(many_requests_many_replies),
	};
	return cmocka_run_group_tests(tests, net_group_setup, net_group_teardown);
}
