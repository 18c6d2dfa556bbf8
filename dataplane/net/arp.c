/* SPDX-License-Identifier: MIT */
/*
 * ARP (RFC 826) for the dataplane's one IPv4 address: lp_eth_input ->
 * lp_arp_input answers requests in place and learns senders; lp_arp_resolve
 * serves traffic the dataplane starts (active opens) and sends requests;
 * lp_arp_announce sends the gratuitous ARP at start-up. The table is a small
 * open-addressing hash per worker.
 */
#include <errno.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_jhash.h>

#include "arp.h"
#include "eth.h"
#include "ip4.h"
#include "net.h"

#define ARP_ENTRY_LIFETIME_S 300
#define ARP_PROBE_LIMIT 8 /* slots probed from the hash position */

static struct lp_arp_entry *arp_slot(struct lp_arp_table *t, uint32_t ip, bool create)
{
	uint32_t h = rte_jhash_1word(ip, 0x4c505553) & (LP_ARP_TABLE_SIZE - 1);
	struct lp_arp_entry *free_slot = NULL, *oldest = NULL;

	for (unsigned i = 0; i < ARP_PROBE_LIMIT; i++) {
		struct lp_arp_entry *e = &t->entries[(h + i) & (LP_ARP_TABLE_SIZE - 1)];

		if (e->ip == ip)
			return e;
		if (e->ip == 0 && free_slot == NULL)
			free_slot = e;
		if (oldest == NULL || e->expires_tsc < oldest->expires_tsc)
			oldest = e;
	}
	if (!create)
		return NULL;
	/* No free slot among the probed ones: recycle the one closest to expiry. */
	struct lp_arp_entry *e = free_slot != NULL ? free_slot : oldest;

	memset(e, 0, sizeof(*e));
	e->ip = ip;
	return e;
}

void lp_arp_learn(struct lp_net *net, uint32_t ip, const struct rte_ether_addr *mac)
{
	struct lp_arp_entry *e = arp_slot(&net->arp, ip, true);

	e->mac = *mac;
	e->resolved = 1;
	e->expires_tsc = net->now_tsc + ARP_ENTRY_LIFETIME_S * rte_get_tsc_hz();
}

/* RFC 826 "merge flag": update the sender's entry only if we already have one. */
static bool arp_update_existing(struct lp_net *net, uint32_t ip, const struct rte_ether_addr *mac)
{
	if (arp_slot(&net->arp, ip, false) == NULL)
		return false;
	lp_arp_learn(net, ip, mac);
	return true;
}

static bool arp_format_ok(const struct rte_arp_hdr *a)
{
	return a->arp_hardware == rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) &&
	       a->arp_protocol == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) &&
	       a->arp_hlen == RTE_ETHER_ADDR_LEN && a->arp_plen == sizeof(uint32_t);
}

void lp_arp_input(struct lp_net *net, struct rte_mbuf *m)
{
	if (unlikely(rte_pktmbuf_data_len(m) < sizeof(struct rte_arp_hdr))) {
		lp_net_drop(net, m, LP_DROP_ARP_TRUNCATED);
		return;
	}
	struct rte_arp_hdr *a = rte_pktmbuf_mtod(m, struct rte_arp_hdr *);

	if (unlikely(!arp_format_ok(a))) {
		lp_net_drop(net, m, LP_DROP_ARP_BAD_FORMAT);
		return;
	}
	uint16_t op = rte_be_to_cpu_16(a->arp_opcode);
	uint32_t sip = a->arp_data.arp_sip;
	uint32_t tip = a->arp_data.arp_tip;
	struct rte_ether_addr sha = a->arp_data.arp_sha;
	bool sender_valid = lp_ip4_is_valid_source(net, sip) && rte_is_unicast_ether_addr(&sha);

	if (op != RTE_ARP_OP_REQUEST && op != RTE_ARP_OP_REPLY) {
		lp_net_drop(net, m, LP_DROP_ARP_UNKNOWN_OP);
		return;
	}
	if (tip != net->netif->ip) {
		if (sender_valid)
			arp_update_existing(net, sip, &sha);
		lp_net_drop(net, m, LP_DROP_ARP_NOT_FOR_US);
		return;
	}
	if (sender_valid)
		lp_arp_learn(net, sip, &sha);
	if (op == RTE_ARP_OP_REPLY) {
		rte_pktmbuf_free(m); /* consumed: learned above */
		return;
	}
	/* Answer the request in place (RFC 826 "swap ... put local ... opcode to reply"). */
	a->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
	a->arp_data.arp_tha = sha;
	a->arp_data.arp_tip = sip;
	a->arp_data.arp_sha = net->netif->mac;
	a->arp_data.arp_sip = net->netif->ip;
	rte_pktmbuf_trim(m, rte_pktmbuf_pkt_len(m) - sizeof(*a));
	lp_eth_output(net, m, &sha, RTE_ETHER_TYPE_ARP);
}

/* Build and send an ARP request for target_ip (gratuitous when it is our own). */
static int arp_send_request(struct lp_net *net, uint32_t target_ip)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(net->pool);

	if (m == NULL) {
		lp_net_drop(net, NULL, LP_DROP_NO_MBUF);
		return -ENOMEM;
	}
	struct rte_arp_hdr *a = (struct rte_arp_hdr *)rte_pktmbuf_append(m, sizeof(*a));
	struct rte_ether_addr bcast;

	memset(&bcast, 0xff, sizeof(bcast));
	a->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	a->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	a->arp_hlen = RTE_ETHER_ADDR_LEN;
	a->arp_plen = sizeof(uint32_t);
	a->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
	a->arp_data.arp_sha = net->netif->mac;
	a->arp_data.arp_sip = net->netif->ip;
	memset(&a->arp_data.arp_tha, 0, sizeof(a->arp_data.arp_tha));
	a->arp_data.arp_tip = target_ip;
	return lp_eth_output(net, m, &bcast, RTE_ETHER_TYPE_ARP);
}

int lp_arp_resolve(struct lp_net *net, uint32_t ip, struct rte_ether_addr *mac)
{
	struct lp_arp_entry *e = arp_slot(&net->arp, ip, true);

	if (e->resolved && e->expires_tsc > net->now_tsc) {
		*mac = e->mac;
		return 0;
	}
	if (e->last_request_tsc == 0 || net->now_tsc - e->last_request_tsc >= rte_get_tsc_hz()) {
		e->last_request_tsc = net->now_tsc;
		arp_send_request(net, ip);
	}
	return -EAGAIN;
}

int lp_arp_announce(struct lp_net *net)
{
	return arp_send_request(net, net->netif->ip);
}
