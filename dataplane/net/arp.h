/* SPDX-License-Identifier: MIT */
/*
 * ARP for the dataplane's IPv4 address (RFC 826): answer requests for our
 * address, learn senders, resolve next hops for active opens, and announce
 * ourselves with a gratuitous ARP at start.
 *
 * The table is per worker (no sharing, no locks). Replies to a peer never need
 * it: they go back to the source MAC of the frame that arrived. It is used for
 * traffic the dataplane starts itself (active TCP opens).
 */
#pragma once

#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>

#define LP_ARP_TABLE_SIZE 256 /* power of two */

struct lp_net;

struct lp_arp_entry {
	uint32_t ip;              /* network byte order; 0 = free */
	struct rte_ether_addr mac;
	uint8_t resolved;
	uint64_t expires_tsc;
	uint64_t last_request_tsc;
};

struct lp_arp_table {
	struct lp_arp_entry entries[LP_ARP_TABLE_SIZE];
};

/*
 * Handle an ARP packet; m->data_off points at the ARP header (Ethernet header
 * already stripped with rte_pktmbuf_adj, source MAC given in eth_src).
 * Consumes m: reused for the reply, or freed and counted under a drop reason.
 */
void lp_arp_input(struct lp_net *net, struct rte_mbuf *m);

/* Record ip -> mac (both from a trusted-enough source: ARP or an IPv4 frame). */
void lp_arp_learn(struct lp_net *net, uint32_t ip, const struct rte_ether_addr *mac);

/*
 * Find the MAC for next hop ip. Returns 0 and fills *mac, or -EAGAIN after
 * sending (at most once per second per entry) an ARP request; when the table is
 * full the entry closest to expiry is recycled.
 */
int lp_arp_resolve(struct lp_net *net, uint32_t ip, struct rte_ether_addr *mac);

/* Send a gratuitous ARP announcing our address. Returns 0 or -ENOMEM. */
int lp_arp_announce(struct lp_net *net);
