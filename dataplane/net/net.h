/* SPDX-License-Identifier: MIT */
/*
 * One worker's packet stack: its interface, its rx/tx queue pair of the port,
 * the mbuf pool, the ARP table and TCP. Everything in dataplane/net/ takes a
 * struct lp_net; nothing here knows what runs above TCP (DESIGN.md "Layers").
 *
 * Nothing here is shared between workers; the main lcore only reads `stats`
 * (see drop.h).
 *
 * Packet path: lp_net_rx() -> lp_eth_input() -> arp / ip4 -> icmp / tcp, and
 * replies are queued with lp_net_tx(), sent by lp_net_tx_flush() at the end of
 * the poll iteration (lp_net_output) and whenever the pending burst is full.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>

#include "arp.h"
#include "drop.h"

#define LP_RX_BURST 32
#define LP_TX_BURST 64

struct lp_port;
struct lp_tcp_worker;

/* The dataplane's own interface: read-only once workers run. */
struct lp_netif {
	uint16_t port_id;
	struct rte_ether_addr mac;
	uint32_t ip;       /* network byte order */
	uint32_t netmask;  /* network byte order */
	uint32_t gateway;  /* network byte order, 0 when none */
	uint16_t mtu;
	bool tx_ip4_cksum_offload;
	bool tx_tcp_cksum_offload;
	bool rx_cksum_offload;
};

struct lp_net {
	unsigned id;        /* the worker: 0 .. n_workers-1, also the port queue id */
	unsigned lcore_id;
	const struct lp_netif *netif;
	struct lp_port *port;
	struct rte_mempool *pool;
	uint64_t now_tsc;   /* rte_rdtsc() at the start of this poll iteration */
	uint16_t ip_id;     /* next IPv4 identification */

	struct lp_arp_table arp;
	struct lp_tcp_worker *tcp; /* NULL until TCP is set up */

	uint16_t tx_count;
	struct rte_mbuf *tx_pending[LP_TX_BURST];

	struct lp_net_stats stats;
} __rte_cache_aligned;

/* Initialise net (zeroes state, sets identity). Returns 0 or -EINVAL. */
int lp_net_init(struct lp_net *net, unsigned id, unsigned lcore_id,
		const struct lp_netif *netif, struct lp_port *port, struct rte_mempool *pool);

/*
 * Queue m for transmission on this worker's tx queue. Consumes m: it is sent or,
 * if the tx queue stays full, freed and counted as LP_DROP_TX_FULL.
 */
void lp_net_tx(struct lp_net *net, struct rte_mbuf *m);

/* Send everything queued by lp_net_tx(). Unsent mbufs are freed and counted. */
void lp_net_tx_flush(struct lp_net *net);

/* Count m under reason r and free it. Consumes m (m may be NULL: count only). */
void lp_net_drop(struct lp_net *net, struct rte_mbuf *m, enum lp_drop_reason r);

/*
 * Start of a poll iteration: take the time, receive a burst from the port and
 * run each packet through the stack (each mbuf is consumed). Returns the
 * number of packets received.
 */
unsigned lp_net_rx(struct lp_net *net);

/*
 * End of a poll iteration: TCP segments what its connections wrote and runs
 * due timers, the port's fault injector releases held packets, and the tx
 * burst goes out. Returns the number of packets sent.
 */
unsigned lp_net_output(struct lp_net *net);
