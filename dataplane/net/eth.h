/* SPDX-License-Identifier: MIT */
/*
 * Ethernet: first stop of every received frame, last of every sent one.
 * lp_eth_input() checks the destination, strips the header and hands the
 * payload to ARP or IPv4.
 */
#pragma once

#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>

struct lp_net;

/* Handle one received frame. Consumes m. */
void lp_eth_input(struct lp_net *net, struct rte_mbuf *m);

/*
 * Prepend an Ethernet header (src = our MAC) and queue m for transmission.
 * Consumes m: on -ENOSPC (no headroom) it is freed and counted as NO_MBUF.
 * Returns 0 or -ENOSPC.
 */
int lp_eth_output(struct lp_net *net, struct rte_mbuf *m,
		  const struct rte_ether_addr *dst, uint16_t ether_type);
