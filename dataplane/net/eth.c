/* SPDX-License-Identifier: MIT */
/*
 * Ethernet input and output. Input: lp_net_rx -> lp_eth_input -> ARP or
 * IPv4 (the header is stripped with rte_pktmbuf_adj; the source MAC is passed
 * on so replies go straight back to it). Output: every sender (ARP, IPv4)
 * ends in lp_eth_output -> lp_net_tx.
 */
#include <errno.h>

#include <rte_byteorder.h>

#include "eth.h"
#include "arp.h"
#include "ip4.h"
#include "net.h"

void lp_eth_input(struct lp_net *net, struct rte_mbuf *m)
{
	if (unlikely(rte_pktmbuf_data_len(m) < sizeof(struct rte_ether_hdr))) {
		lp_net_drop(net, m, LP_DROP_ETH_TRUNCATED);
		return;
	}
	/* A VLAN tag is not expected here; anything beyond MTU + header is bogus. */
	if (unlikely(rte_pktmbuf_pkt_len(m) > (uint32_t)net->netif->mtu + RTE_ETHER_HDR_LEN)) {
		lp_net_drop(net, m, LP_DROP_ETH_OVERSIZED);
		return;
	}
	const struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);

	if (!rte_is_same_ether_addr(&eth->dst_addr, &net->netif->mac) &&
	    !rte_is_broadcast_ether_addr(&eth->dst_addr)) {
		lp_net_drop(net, m, LP_DROP_ETH_NOT_FOR_US);
		return;
	}
	/* The header stays readable in the headroom after adj: m owns it. */
	struct rte_ether_addr src = eth->src_addr;
	uint16_t type = eth->ether_type;

	rte_pktmbuf_adj(m, sizeof(struct rte_ether_hdr));
	m->l2_len = sizeof(struct rte_ether_hdr);

	if (type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4))
		lp_ip4_input(net, m, &src);
	else if (type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP))
		lp_arp_input(net, m);
	else
		lp_net_drop(net, m, LP_DROP_ETH_UNKNOWN_TYPE);
}

int lp_eth_output(struct lp_net *net, struct rte_mbuf *m,
		  const struct rte_ether_addr *dst, uint16_t ether_type)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)rte_pktmbuf_prepend(m, sizeof(*eth));

	if (unlikely(eth == NULL)) {
		lp_net_drop(net, m, LP_DROP_NO_MBUF);
		return -ENOSPC;
	}
	eth->dst_addr = *dst;
	eth->src_addr = net->netif->mac;
	eth->ether_type = rte_cpu_to_be_16(ether_type);
	m->l2_len = sizeof(*eth);
	lp_net_tx(net, m);
	return 0;
}
