/* SPDX-License-Identifier: MIT */
/*
 * IPv4 input and output (dataplane/net/ip4.c): header validation with each bad
 * case counted under its own drop reason, padding trimmed, fragments refused,
 * and the header we build on output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "net_harness.h"
#include "ip4.h"

#define ETH_LEN sizeof(struct rte_ether_hdr)

static struct rte_ipv4_hdr *ip_of(uint8_t *frame)
{
	return (struct rte_ipv4_hdr *)(frame + ETH_LEN);
}

static void recompute_cksum(uint8_t *frame)
{
	ip_of(frame)->hdr_checksum = 0;
	ip_of(frame)->hdr_checksum = rte_ipv4_cksum(ip_of(frame));
}

static void expect_single_drop(enum lp_drop_reason r)
{
	assert_int_equal(net_drops(r), 1);
	assert_int_equal(net_drops_total(), 1);
	assert_int_equal(port_tx_count(), 0);
}

static void valid_packet_passes(void **state)
{
	uint8_t f[256];
	uint16_t len = net_build_echo(f, 1, 1, 32);
	(void)state;
	net_input(f, len);
	assert_int_equal(net_drops_total(), 0);
	assert_int_equal(port_tx_count(), 1);
}

static void truncated_header_is_dropped(void **state)
{
	uint8_t f[256];
	(void)state;
	net_build_echo(f, 1, 1, 32);
	net_input(f, ETH_LEN + 12);
	expect_single_drop(LP_DROP_IP4_TRUNCATED);
}

static void total_length_beyond_packet_is_dropped(void **state)
{
	uint8_t f[256];
	uint16_t len = net_build_echo(f, 1, 1, 32);
	(void)state;
	ip_of(f)->total_length = rte_cpu_to_be_16(len - ETH_LEN + 100);
	recompute_cksum(f);
	net_input(f, len);
	expect_single_drop(LP_DROP_IP4_TRUNCATED);
}

static void wrong_version_is_dropped(void **state)
{
	uint8_t f[256];
	uint16_t len = net_build_echo(f, 1, 1, 32);
	(void)state;
	ip_of(f)->version_ihl = 0x65;
	recompute_cksum(f);
	net_input(f, len);
	expect_single_drop(LP_DROP_IP4_BAD_VERSION);
}

static void short_ihl_is_dropped(void **state)
{
	uint8_t f[256];
	uint16_t len = net_build_echo(f, 1, 1, 32);
	(void)state;
	ip_of(f)->version_ihl = 0x44;
	net_input(f, len);
	expect_single_drop(LP_DROP_IP4_BAD_HDR_LEN);
}

static void ihl_beyond_packet_is_dropped(void **state)
{
	uint8_t f[256];
	(void)state;
	net_build_echo(f, 1, 1, 0);
	ip_of(f)->version_ihl = 0x4f; /* 60-byte header in a 28-byte datagram */
	net_input(f, ETH_LEN + 28);
	expect_single_drop(LP_DROP_IP4_BAD_HDR_LEN);
}

static void total_length_below_header_is_dropped(void **state)
{
	uint8_t f[256];
	uint16_t len = net_build_echo(f, 1, 1, 32);
	(void)state;
	ip_of(f)->total_length = rte_cpu_to_be_16(16);
	recompute_cksum(f);
	net_input(f, len);
	expect_single_drop(LP_DROP_IP4_BAD_TOTAL_LEN);
}

static void bad_checksum_is_dropped(void **state)
{
	uint8_t f[256];
	uint16_t len = net_build_echo(f, 1, 1, 32);
	(void)state;
	ip_of(f)->hdr_checksum ^= 0x0101;
	net_input(f, len);
	expect_single_drop(LP_DROP_IP4_BAD_CHECKSUM);
}

static void more_fragments_is_dropped(void **state)
{
	uint8_t f[256];
	uint16_t len = net_build_echo(f, 1, 1, 32);
	(void)state;
	ip_of(f)->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG);
	recompute_cksum(f);
	net_input(f, len);
	expect_single_drop(LP_DROP_IP4_FRAGMENT);
}

static void last_fragment_is_dropped(void **state)
{
	uint8_t f[256];
	uint16_t len = net_build_echo(f, 1, 1, 32);
	(void)state;
	ip_of(f)->fragment_offset = rte_cpu_to_be_16(185); /* offset 1480, MF clear */
	recompute_cksum(f);
	net_input(f, len);
	expect_single_drop(LP_DROP_IP4_FRAGMENT);
}

static void dont_fragment_is_fine(void **state)
{
	uint8_t f[256];
	uint16_t len = net_build_echo(f, 1, 1, 32);
	(void)state;
	ip_of(f)->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	recompute_cksum(f);
	net_input(f, len);
	assert_int_equal(net_drops_total(), 0);
	assert_int_equal(port_tx_count(), 1);
}

static void other_destination_is_dropped(void **state)
{
	uint8_t f[256];
	uint16_t len = net_build_echo(f, 1, 1, 32);
	(void)state;
	ip_of(f)->dst_addr = rte_cpu_to_be_32(NET_IP4(198, 18, 0, 77));
	recompute_cksum(f);
	net_input(f, len);
	expect_single_drop(LP_DROP_IP4_NOT_FOR_US);
}

static void broadcast_source_is_dropped(void **state)
{
	uint8_t f[256];
	uint16_t len = net_build_echo(f, 1, 1, 32);
	(void)state;
	ip_of(f)->src_addr = rte_cpu_to_be_32(NET_IP4(198, 18, 0, 255));
	recompute_cksum(f);
	net_input(f, len);
	expect_single_drop(LP_DROP_IP4_BAD_SOURCE);
}

static void our_own_source_is_dropped(void **state)
{
	uint8_t f[256];
	uint16_t len = net_build_echo(f, 1, 1, 32);
	(void)state;
	ip_of(f)->src_addr = rte_cpu_to_be_32(NET_OUR_IP);
	recompute_cksum(f);
	net_input(f, len);
	expect_single_drop(LP_DROP_IP4_BAD_SOURCE);
}

static void unknown_protocol_is_dropped(void **state)
{
	uint8_t f[256], udp[16] = {0};
	uint16_t len = net_build_ip4(f, IPPROTO_UDP, udp, sizeof(udp));
	(void)state;
	net_input(f, len);
	expect_single_drop(LP_DROP_IP4_UNKNOWN_PROTO);
}

static void ethernet_padding_is_trimmed(void **state)
{
	uint8_t f[256];
	uint16_t len = net_build_echo(f, 1, 1, 0); /* 14 + 20 + 8 = 42 bytes */
	(void)state;
	memset(f + len, 0xee, 60 - len);           /* padded to the 60-byte minimum */
	net_input(f, 60);
	assert_int_equal(net_drops_total(), 0);
	assert_int_equal(port_tx_count(), 1);
	assert_int_equal(rte_pktmbuf_pkt_len(port_tx_at(0)), len);
}

static void output_builds_a_valid_header(void **state)
{
	uint8_t payload[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	struct rte_mbuf *m = rte_pktmbuf_alloc(net_pool);
	(void)state;
	memcpy(rte_pktmbuf_append(m, sizeof(payload)), payload, sizeof(payload));
	assert_int_equal(lp_ip4_output(&net_stack, m, rte_cpu_to_be_32(NET_PEER_IP), IPPROTO_UDP,
				       &net_peer_mac), 0);
	lp_net_tx_flush(&net_stack);
	assert_int_equal(port_tx_count(), 1);
	const struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(port_tx_at(0), const struct rte_ipv4_hdr *, ETH_LEN);

	assert_int_equal(ip->version_ihl, 0x45);
	assert_int_equal(rte_be_to_cpu_16(ip->total_length), 28);
	assert_int_equal(ip->next_proto_id, IPPROTO_UDP);
	assert_int_equal(ip->src_addr, rte_cpu_to_be_32(NET_OUR_IP));
	assert_int_equal(ip->dst_addr, rte_cpu_to_be_32(NET_PEER_IP));
	assert_true(ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG));
	assert_int_equal(rte_raw_cksum(ip, sizeof(*ip)), 0xffff);
}

static void output_off_link_without_gateway_fails(void **state)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(net_pool);
	(void)state;
	rte_pktmbuf_append(m, 8);
	assert_int_equal(lp_ip4_output(&net_stack, m, rte_cpu_to_be_32(NET_IP4(198, 19, 0, 1)),
				       IPPROTO_UDP, NULL), -ENETUNREACH);
	assert_int_equal(net_drops(LP_DROP_NO_ARP_ENTRY), 1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, net_setup, net_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(valid_packet_passes), T(truncated_header_is_dropped),
		T(total_length_beyond_packet_is_dropped), T(wrong_version_is_dropped),
		T(short_ihl_is_dropped), T(ihl_beyond_packet_is_dropped),
		T(total_length_below_header_is_dropped), T(bad_checksum_is_dropped),
		T(more_fragments_is_dropped), T(last_fragment_is_dropped), T(dont_fragment_is_fine),
		T(other_destination_is_dropped), T(broadcast_source_is_dropped),
		T(our_own_source_is_dropped), T(unknown_protocol_is_dropped),
		T(ethernet_padding_is_trimmed), T(output_builds_a_valid_header),
		T(output_off_link_without_gateway_fails),
	};
	return cmocka_run_group_tests(tests, net_group_setup, net_group_teardown);
}
