/* SPDX-License-Identifier: MIT */
/*
 * IPv4 (RFC 791): header validation (version, IHL, total length, checksum),
 * our address only, no fragments (counted and dropped), demultiplexing to ICMP
 * and TCP; and the output side that prepends a header for replies and for
 * traffic the dataplane starts.
 */
#pragma once

#include <stdint.h>

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

struct lp_net;

/*
 * Handle an IPv4 packet; data_off points at the IPv4 header (Ethernet header
 * stripped, its source MAC in eth_src). Consumes m.
 */
void lp_ip4_input(struct lp_net *net, struct rte_mbuf *m,
		  const struct rte_ether_addr *eth_src);

/*
 * Prepend an IPv4 header (src = our address, DF set, TTL 64) in front of the
 * L4 payload at m's data_off, fill the header checksum (or request offload),
 * and send to dst_mac. Consumes m. Returns 0 or -errno (m freed and counted).
 * When dst_mac is NULL the next hop is resolved through ARP (-EAGAIN if not yet).
 */
int lp_ip4_output(struct lp_net *net, struct rte_mbuf *m, uint32_t dst_ip,
		  uint8_t proto, const struct rte_ether_addr *dst_mac);

/* Is addr (network order) a valid unicast source from outside? */
int lp_ip4_is_valid_source(const struct lp_net *net, uint32_t addr);
