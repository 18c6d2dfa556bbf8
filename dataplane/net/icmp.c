/* SPDX-License-Identifier: MIT */
/*
 * ICMP (RFC 792): lp_ip4_input -> lp_icmp_input. Echo requests are turned into
 * echo replies in the same mbuf and sent back to the sender's MAC through
 * lp_ip4_output; everything else is counted and dropped.
 */
#include <rte_icmp.h>
#include <rte_ip.h>

#include "icmp.h"
#include "ip4.h"
#include "net.h"

/* Internet checksum of the whole ICMP message (possibly chained), RFC 1071. */
static uint16_t icmp_cksum(const struct rte_mbuf *m)
{
	uint16_t sum = 0;

	if (rte_raw_cksum_mbuf(m, 0, rte_pktmbuf_pkt_len(m), &sum) != 0)
		return 0;
	return sum;
}

void lp_icmp_input(struct lp_net *net, struct rte_mbuf *m, uint32_t src_ip,
		   const struct rte_ether_addr *eth_src)
{
	if (unlikely(rte_pktmbuf_data_len(m) < sizeof(struct rte_icmp_hdr))) {
		lp_net_drop(net, m, LP_DROP_ICMP_TRUNCATED);
		return;
	}
	struct rte_icmp_hdr *icmp = rte_pktmbuf_mtod(m, struct rte_icmp_hdr *);

	/* RFC 792: the checksum covers the ICMP message from its type field. */
	if (unlikely(icmp_cksum(m) != 0xffff)) {
		lp_net_drop(net, m, LP_DROP_ICMP_BAD_CHECKSUM);
		return;
	}
	if (icmp->icmp_type != RTE_IP_ICMP_ECHO_REQUEST || icmp->icmp_code != 0) {
		lp_net_drop(net, m, LP_DROP_ICMP_UNHANDLED_TYPE);
		return;
	}
	/* RFC 792 echo: same identifier, sequence and data; type 0. */
	icmp->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
	icmp->icmp_cksum = 0;
	icmp->icmp_cksum = (uint16_t)~icmp_cksum(m);
	lp_ip4_output(net, m, src_ip, IPPROTO_ICMP, eth_src);
}
