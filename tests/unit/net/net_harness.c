/* SPDX-License-Identifier: MIT */
/* The packet-path test harness; see net_harness.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <rte_eal.h>
#include <rte_icmp.h>
#include <rte_mempool.h>

#include "net_harness.h"
#include "eth.h"

struct lp_net net_stack;
struct rte_mempool *net_pool;
const struct rte_ether_addr net_our_mac = {{0x02, 0, 0, 0, 0, 0x01}};
const struct rte_ether_addr net_peer_mac = {{0x02, 0, 0, 0, 0, 0x02}};

static struct lp_netif net_netif;

int net_group_setup(void **state)
{
	char prefix[64];
	(void)state;
	snprintf(prefix, sizeof(prefix), "--file-prefix=lp-net-%d", (int)getpid());
	char *argv[] = {"test", "--no-huge", "-m", "256", "--no-pci",
			"--no-telemetry", "--log-level=error", prefix, "-l", "0", NULL};

	if (rte_eal_init((int)(sizeof(argv) / sizeof(argv[0])) - 1, argv) < 0)
		return -1;
	net_pool = rte_pktmbuf_pool_create("net_test", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	return net_pool == NULL ? -1 : 0;
}

int net_group_teardown(void **state)
{
	(void)state;
	rte_mempool_free(net_pool);
	rte_eal_cleanup();
	return 0;
}

int net_setup(void **state)
{
	(void)state;
	net_netif = (struct lp_netif){
		.mac = net_our_mac,
		.ip = rte_cpu_to_be_32(NET_OUR_IP),
		.netmask = rte_cpu_to_be_32(0xffffff00),
		.mtu = 1500,
	};
	port_tx_clear();
	/* The port pointer is never dereferenced: lp_port_* are wrapped. */
	return lp_net_init(&net_stack, 0, 0, &net_netif, (struct lp_port *)&net_netif, net_pool);
}

int net_teardown(void **state)
{
	(void)state;
	port_tx_clear();
	/* Every mbuf the stack touched is back: nothing leaked, nothing double-freed. */
	assert_int_equal(rte_mempool_in_use_count(net_pool), 0);
	return 0;
}

struct rte_mbuf *net_frame(const void *data, uint16_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(net_pool);

	assert_non_null(m);
	void *dst = rte_pktmbuf_append(m, len);

	assert_non_null(dst);
	memcpy(dst, data, len);
	return m;
}

uint16_t net_build_ip4(uint8_t *buf, uint8_t proto, const void *l4, uint16_t l4_len)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)buf;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);

	eth->dst_addr = net_our_mac;
	eth->src_addr = net_peer_mac;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	memset(ip, 0, sizeof(*ip));
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16(sizeof(*ip) + l4_len);
	ip->packet_id = rte_cpu_to_be_16(1);
	ip->time_to_live = 64;
	ip->next_proto_id = proto;
	ip->src_addr = rte_cpu_to_be_32(NET_PEER_IP);
	ip->dst_addr = rte_cpu_to_be_32(NET_OUR_IP);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	memcpy(ip + 1, l4, l4_len);
	return (uint16_t)(sizeof(*eth) + sizeof(*ip) + l4_len);
}

uint16_t net_build_echo(uint8_t *buf, uint16_t id, uint16_t seq, uint16_t payload_len)
{
	uint8_t l4[2048];
	struct rte_icmp_hdr *icmp = (struct rte_icmp_hdr *)l4;

	assert_true(sizeof(*icmp) + payload_len <= sizeof(l4));
	memset(icmp, 0, sizeof(*icmp));
	icmp->icmp_type = RTE_IP_ICMP_ECHO_REQUEST;
	icmp->icmp_ident = rte_cpu_to_be_16(id);
	icmp->icmp_seq_nb = rte_cpu_to_be_16(seq);
	for (uint16_t i = 0; i < payload_len; i++)
		l4[sizeof(*icmp) + i] = (uint8_t)(i * 7 + 3);
	icmp->icmp_cksum = (uint16_t)~rte_raw_cksum(l4, sizeof(*icmp) + payload_len);
	return net_build_ip4(buf, IPPROTO_ICMP, l4, (uint16_t)(sizeof(*icmp) + payload_len));
}

void net_input(const void *frame, uint16_t len)
{
	lp_eth_input(&net_stack, net_frame(frame, len));
	lp_net_tx_flush(&net_stack);
}

uint64_t net_drops(enum lp_drop_reason r)
{
	return net_stack.stats.drops[r];
}

uint64_t net_drops_total(void)
{
	uint64_t sum = 0;

	for (unsigned r = 0; r < LP_DROP__COUNT; r++)
		sum += net_stack.stats.drops[r];
	return sum;
}
