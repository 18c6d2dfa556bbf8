/* SPDX-License-Identifier: MIT */
/*
 * IPv4 input and output (RFC 791, host requirements of RFC 1122 3.2.1).
 * Input: lp_eth_input -> lp_ip4_input validates the header, trims Ethernet
 * padding, strips the header and hands the payload to ICMP or TCP. Output:
 * ICMP/TCP -> lp_ip4_output -> lp_eth_output.
 */
#include <errno.h>

#include <rte_byteorder.h>
#include <rte_ip.h>

#include "arp.h"
#include "eth.h"
#include "icmp.h"
#include "ip4.h"
#include "tcp.h"
#include "net.h"

#define IP4_DEFAULT_TTL 64

int lp_ip4_is_valid_source(const struct lp_net *net, uint32_t addr)
{
	uint32_t h = rte_be_to_cpu_32(addr);

	if (h == 0 || h == UINT32_MAX || addr == net->netif->ip)
		return 0;
	if ((h >> 28) == 0xe || (h >> 24) == 127) /* multicast, loopback */
		return 0;
	/* The directed broadcast of our subnet. */
	if (net->netif->netmask != 0 && (addr | net->netif->netmask) == UINT32_MAX)
		return 0;
	return 1;
}

/* Returns the drop reason for a bad header, or LP_DROP__COUNT when it is fine. */
static enum lp_drop_reason ip4_check_header(const struct lp_net *net, const struct rte_mbuf *m,
					    const struct rte_ipv4_hdr *ip)
{
	uint32_t avail = rte_pktmbuf_data_len(m);

	if (avail < sizeof(*ip))
		return LP_DROP_IP4_TRUNCATED;
	/* RFC 791 3.1: version must be 4, IHL at least 5 words. */
	if ((ip->version_ihl >> 4) != 4)
		return LP_DROP_IP4_BAD_VERSION;
	uint32_t hlen = rte_ipv4_hdr_len(ip);

	if (hlen < sizeof(*ip) || hlen > avail)
		return LP_DROP_IP4_BAD_HDR_LEN;
	uint32_t total = rte_be_to_cpu_16(ip->total_length);

	if (total < hlen)
		return LP_DROP_IP4_BAD_TOTAL_LEN;
	if (total > rte_pktmbuf_pkt_len(m))
		return LP_DROP_IP4_TRUNCATED;
	if (m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_BAD)
		return LP_DROP_IP4_BAD_CHECKSUM;
	if (!(m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_GOOD) && rte_raw_cksum(ip, hlen) != 0xffff)
		return LP_DROP_IP4_BAD_CHECKSUM;
	/* No reassembly: any fragment (MF set or offset non-zero) is dropped. */
	if ((ip->fragment_offset &
	     rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) != 0)
		return LP_DROP_IP4_FRAGMENT;
	if (ip->dst_addr != net->netif->ip)
		return LP_DROP_IP4_NOT_FOR_US;
	if (!lp_ip4_is_valid_source(net, ip->src_addr))
		return LP_DROP_IP4_BAD_SOURCE;
	/* RFC 1122 3.2.1.7: a host must not discard a datagram for its TTL. */
	return LP_DROP__COUNT;
}

void lp_ip4_input(struct lp_net *net, struct rte_mbuf *m, const struct rte_ether_addr *eth_src)
{
	const struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod(m, const struct rte_ipv4_hdr *);
	enum lp_drop_reason bad = ip4_check_header(net, m, ip);

	if (unlikely(bad != LP_DROP__COUNT)) {
		lp_net_drop(net, m, bad);
		return;
	}
	uint16_t hlen = rte_ipv4_hdr_len(ip);
	uint32_t total = rte_be_to_cpu_16(ip->total_length);

	/* Ethernet pads short frames: keep exactly the datagram. */
	if (rte_pktmbuf_pkt_len(m) > total)
		rte_pktmbuf_trim(m, rte_pktmbuf_pkt_len(m) - total);
	/* The header stays valid in m's headroom after adj, for L4 checksums. */
	rte_pktmbuf_adj(m, hlen);
	m->l3_len = hlen;

	switch (ip->next_proto_id) {
	case IPPROTO_ICMP:
		lp_icmp_input(net, m, ip->src_addr, eth_src);
		break;
	case IPPROTO_TCP:
		lp_tcp_input(net, m, ip, eth_src);
		break;
	default:
		lp_net_drop(net, m, LP_DROP_IP4_UNKNOWN_PROTO);
		break;
	}
}

int lp_ip4_output(struct lp_net *net, struct rte_mbuf *m, uint32_t dst_ip,
		  uint8_t proto, const struct rte_ether_addr *dst_mac)
{
	const struct lp_netif *nif = net->netif;
	struct rte_ether_addr resolved;

	if (dst_mac == NULL) {
		uint32_t next_hop = dst_ip;

		if (((dst_ip ^ nif->ip) & nif->netmask) != 0)
			next_hop = nif->gateway;
		if (next_hop == 0 || lp_arp_resolve(net, next_hop, &resolved) != 0) {
			lp_net_drop(net, m, LP_DROP_NO_ARP_ENTRY);
			return next_hop == 0 ? -ENETUNREACH : -EAGAIN;
		}
		dst_mac = &resolved;
	}
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)rte_pktmbuf_prepend(m, sizeof(*ip));

	if (unlikely(ip == NULL)) {
		lp_net_drop(net, m, LP_DROP_NO_MBUF);
		return -ENOSPC;
	}
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->type_of_service = 0;
	ip->total_length = rte_cpu_to_be_16(rte_pktmbuf_pkt_len(m));
	ip->packet_id = rte_cpu_to_be_16(net->ip_id++);
	ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = IP4_DEFAULT_TTL;
	ip->next_proto_id = proto;
	ip->src_addr = nif->ip;
	ip->dst_addr = dst_ip;
	ip->hdr_checksum = 0;
	m->l3_len = sizeof(*ip);
	if (nif->tx_ip4_cksum_offload)
		m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
	else
		ip->hdr_checksum = rte_ipv4_cksum(ip);
	return lp_eth_output(net, m, dst_mac, RTE_ETHER_TYPE_IPV4);
}
