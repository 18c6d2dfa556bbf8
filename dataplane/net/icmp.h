/* SPDX-License-Identifier: MIT */
/*
 * ICMP (RFC 792): echo request -> echo reply, built in place in the received
 * mbuf. Every other type is counted and dropped.
 */
#pragma once

#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>

struct lp_net;

/*
 * Handle an ICMP message; data_off points at the ICMP header, src_ip is the
 * sender (network order), eth_src its MAC. Consumes m.
 */
void lp_icmp_input(struct lp_net *net, struct rte_mbuf *m, uint32_t src_ip,
		   const struct rte_ether_addr *eth_src);
