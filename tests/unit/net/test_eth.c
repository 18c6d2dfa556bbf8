/* SPDX-License-Identifier: MIT */
/* Ethernet input (dataplane/net/eth.c): what is accepted, what is dropped and why. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "net_harness.h"

static void expect_single_drop(enum lp_drop_reason r)
{
	assert_int_equal(net_drops(r), 1);
	assert_int_equal(net_drops_total(), 1);
	assert_int_equal(port_tx_count(), 0);
}

static void truncated_frame_is_dropped(void **state)
{
	uint8_t frame[10] = {0};
	(void)state;
	net_input(frame, sizeof(frame));
	expect_single_drop(LP_DROP_ETH_TRUNCATED);
}

static void empty_frame_is_dropped(void **state)
{
	uint8_t frame[1] = {0};
	(void)state;
	net_input(frame, 0);
	expect_single_drop(LP_DROP_ETH_TRUNCATED);
}

static void frame_for_another_mac_is_dropped(void **state)
{
	uint8_t frame[128];
	uint16_t len = net_build_echo(frame, 1, 1, 8);
	(void)state;
	frame[5] = 0x99; /* destination 02:00:00:00:00:99 */
	net_input(frame, len);
	expect_single_drop(LP_DROP_ETH_NOT_FOR_US);
}

static void unknown_ethertype_is_dropped(void **state)
{
	uint8_t frame[128];
	uint16_t len = net_build_echo(frame, 1, 1, 8);
	(void)state;
	frame[12] = 0x86; /* IPv6 */
	frame[13] = 0xdd;
	net_input(frame, len);
	expect_single_drop(LP_DROP_ETH_UNKNOWN_TYPE);
}

static void oversized_frame_is_dropped(void **state)
{
	static uint8_t frame[2048];
	uint16_t len = net_build_echo(frame, 1, 1, 1600); /* beyond MTU 1500 */
	(void)state;
	net_input(frame, len);
	expect_single_drop(LP_DROP_ETH_OVERSIZED);
}

static void full_mtu_frame_is_accepted(void **state)
{
	static uint8_t frame[2048];
	uint16_t len = net_build_echo(frame, 1, 1, 1500 - 20 - 8);
	(void)state;
	net_input(frame, len);
	assert_int_equal(net_drops_total(), 0);
	assert_int_equal(port_tx_count(), 1);
	assert_int_equal(rte_pktmbuf_pkt_len(port_tx_at(0)), len);
}

static void reply_goes_back_to_sender_mac(void **state)
{
	uint8_t frame[128];
	uint16_t len = net_build_echo(frame, 1, 1, 8);
	(void)state;
	net_input(frame, len);
	assert_int_equal(port_tx_count(), 1);
	const struct rte_ether_hdr *eth = rte_pktmbuf_mtod(port_tx_at(0), const struct rte_ether_hdr *);

	assert_true(rte_is_same_ether_addr(&eth->dst_addr, &net_peer_mac));
	assert_true(rte_is_same_ether_addr(&eth->src_addr, &net_our_mac));
	assert_int_equal(eth->ether_type, rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(truncated_frame_is_dropped, net_setup, net_teardown),
		cmocka_unit_test_setup_teardown(empty_frame_is_dropped, net_setup, net_teardown),
		cmocka_unit_test_setup_teardown(frame_for_another_mac_is_dropped, net_setup, net_teardown),
		cmocka_unit_test_setup_teardown(unknown_ethertype_is_dropped, net_setup, net_teardown),
		cmocka_unit_test_setup_teardown(oversized_frame_is_dropped, net_setup, net_teardown),
		cmocka_unit_test_setup_teardown(full_mtu_frame_is_accepted, net_setup, net_teardown),
		cmocka_unit_test_setup_teardown(reply_goes_back_to_sender_mac, net_setup, net_teardown),
	};
	return cmocka_run_group_tests(tests, net_group_setup, net_group_teardown);
}
