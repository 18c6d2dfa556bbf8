/* SPDX-License-Identifier: MIT */
/* ARP (dataplane/net/arp.c): answers, learning, resolution, announcements. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <rte_arp.h>

#include "net_harness.h"
#include "arp.h"

struct arp_frame {
	struct rte_ether_hdr eth;
	struct rte_arp_hdr arp;
};

_Static_assert(sizeof(struct arp_frame) == 42, "no padding between the headers");

static struct arp_frame request_for(uint32_t target_ip_host)
{
	struct arp_frame f;

	memset(&f, 0, sizeof(f));
	memset(&f.eth.dst_addr, 0xff, sizeof(f.eth.dst_addr));
	f.eth.src_addr = net_peer_mac;
	f.eth.ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	f.arp.arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	f.arp.arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	f.arp.arp_hlen = 6;
	f.arp.arp_plen = 4;
	f.arp.arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
	f.arp.arp_data.arp_sha = net_peer_mac;
	f.arp.arp_data.arp_sip = rte_cpu_to_be_32(NET_PEER_IP);
	f.arp.arp_data.arp_tip = rte_cpu_to_be_32(target_ip_host);
	return f;
}

static void expect_single_drop(enum lp_drop_reason r)
{
	assert_int_equal(net_drops(r), 1);
	assert_int_equal(net_drops_total(), 1);
	assert_int_equal(port_tx_count(), 0);
}

static void request_for_us_is_answered(void **state)
{
	struct arp_frame f = request_for(NET_OUR_IP);
	uint8_t padded[60] = {0};
	(void)state;
	memcpy(padded, &f, sizeof(f));
	net_input(padded, sizeof(padded)); /* padded to the Ethernet minimum */
	assert_int_equal(port_tx_count(), 1);
	assert_int_equal(rte_pktmbuf_pkt_len(port_tx_at(0)), sizeof(struct arp_frame));
	const struct arp_frame *r = rte_pktmbuf_mtod(port_tx_at(0), const struct arp_frame *);

	assert_true(rte_is_same_ether_addr(&r->eth.dst_addr, &net_peer_mac));
	assert_true(rte_is_same_ether_addr(&r->eth.src_addr, &net_our_mac));
	assert_int_equal(r->arp.arp_opcode, rte_cpu_to_be_16(RTE_ARP_OP_REPLY));
	assert_true(rte_is_same_ether_addr(&r->arp.arp_data.arp_sha, &net_our_mac));
	assert_int_equal(r->arp.arp_data.arp_sip, rte_cpu_to_be_32(NET_OUR_IP));
	assert_true(rte_is_same_ether_addr(&r->arp.arp_data.arp_tha, &net_peer_mac));
	assert_int_equal(r->arp.arp_data.arp_tip, rte_cpu_to_be_32(NET_PEER_IP));
}

static void request_teaches_us_the_sender(void **state)
{
	struct arp_frame f = request_for(NET_OUR_IP);
	struct rte_ether_addr mac;
	(void)state;
	net_input(&f, sizeof(f));
	port_tx_clear();
	assert_int_equal(lp_arp_resolve(&net_stack, rte_cpu_to_be_32(NET_PEER_IP), &mac), 0);
	assert_true(rte_is_same_ether_addr(&mac, &net_peer_mac));
	assert_int_equal(port_tx_count(), 0);
}

static void request_for_someone_else_is_dropped(void **state)
{
	struct arp_frame f = request_for(NET_IP4(198, 18, 0, 9));
	(void)state;
	net_input(&f, sizeof(f));
	expect_single_drop(LP_DROP_ARP_NOT_FOR_US);
}

static void truncated_arp_is_dropped(void **state)
{
	struct arp_frame f = request_for(NET_OUR_IP);
	(void)state;
	net_input(&f, sizeof(struct rte_ether_hdr) + 20);
	expect_single_drop(LP_DROP_ARP_TRUNCATED);
}

static void non_ethernet_arp_is_dropped(void **state)
{
	struct arp_frame f = request_for(NET_OUR_IP);
	(void)state;
	f.arp.arp_hlen = 8;
	net_input(&f, sizeof(f));
	expect_single_drop(LP_DROP_ARP_BAD_FORMAT);
}

static void unknown_opcode_is_dropped(void **state)
{
	struct arp_frame f = request_for(NET_OUR_IP);
	(void)state;
	f.arp.arp_opcode = rte_cpu_to_be_16(8); /* InARP request */
	net_input(&f, sizeof(f));
	expect_single_drop(LP_DROP_ARP_UNKNOWN_OP);
}

static void resolve_asks_then_learns_from_reply(void **state)
{
	struct rte_ether_addr mac;
	uint32_t peer = rte_cpu_to_be_32(NET_PEER_IP);
	(void)state;
	assert_int_equal(lp_arp_resolve(&net_stack, peer, &mac), -EAGAIN);
	lp_net_tx_flush(&net_stack);
	assert_int_equal(port_tx_count(), 1);
	const struct arp_frame *q = rte_pktmbuf_mtod(port_tx_at(0), const struct arp_frame *);

	assert_true(rte_is_broadcast_ether_addr(&q->eth.dst_addr));
	assert_int_equal(q->arp.arp_opcode, rte_cpu_to_be_16(RTE_ARP_OP_REQUEST));
	assert_int_equal(q->arp.arp_data.arp_tip, peer);
	/* A second attempt within a second sends nothing more. */
	assert_int_equal(lp_arp_resolve(&net_stack, peer, &mac), -EAGAIN);
	lp_net_tx_flush(&net_stack);
	assert_int_equal(port_tx_count(), 1);

	struct arp_frame reply = request_for(NET_OUR_IP);

	reply.eth.dst_addr = net_our_mac;
	reply.arp.arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
	reply.arp.arp_data.arp_tha = net_our_mac;
	net_input(&reply, sizeof(reply));
	assert_int_equal(port_tx_count(), 1); /* replies are not answered */
	assert_int_equal(lp_arp_resolve(&net_stack, peer, &mac), 0);
	assert_true(rte_is_same_ether_addr(&mac, &net_peer_mac));
}

static void announce_is_gratuitous(void **state)
{
	(void)state;
	assert_int_equal(lp_arp_announce(&net_stack), 0);
	lp_net_tx_flush(&net_stack);
	assert_int_equal(port_tx_count(), 1);
	const struct arp_frame *a = rte_pktmbuf_mtod(port_tx_at(0), const struct arp_frame *);

	assert_true(rte_is_broadcast_ether_addr(&a->eth.dst_addr));
	assert_int_equal(a->arp.arp_data.arp_sip, rte_cpu_to_be_32(NET_OUR_IP));
	assert_int_equal(a->arp.arp_data.arp_tip, rte_cpu_to_be_32(NET_OUR_IP));
}

static void table_survives_many_hosts(void **state)
{
	struct rte_ether_addr mac = net_peer_mac, out;
	(void)state;
	/* More hosts than slots: old entries are recycled, the newest always resolves. */
	for (uint32_t i = 1; i <= 3 * LP_ARP_TABLE_SIZE; i++) {
		uint32_t ip = rte_cpu_to_be_32(NET_IP4(198, 18, 0, 0) + i);

		mac.addr_bytes[4] = (uint8_t)(i >> 8);
		mac.addr_bytes[5] = (uint8_t)i;
		lp_arp_learn(&net_stack, ip, &mac);
		assert_int_equal(lp_arp_resolve(&net_stack, ip, &out), 0);
		assert_true(rte_is_same_ether_addr(&out, &mac));
	}
}

#define T(f) cmocka_unit_test_setup_teardown(f, net_setup, net_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(request_for_us_is_answered), T(request_teaches_us_the_sender),
		T(request_for_someone_else_is_dropped), T(truncated_arp_is_dropped),
		T(non_ethernet_arp_is_dropped), T(unknown_opcode_is_dropped),
		T(resolve_asks_then_learns_from_reply), T(announce_is_gratuitous),
		T(table_survives_many_hosts),
	};
	return cmocka_run_group_tests(tests, net_group_setup, net_group_teardown);
}
