/* SPDX-License-Identifier: MIT */
/*
 * A worker lcore's state and its run-to-completion loop.
 *
 * Each worker owns one rx/tx queue pair of the port and everything reached from
 * it (ARP table, TCBs, connections, shard). Nothing here is shared between
 * workers; the main lcore only reads `stats` (see drop.h).
 *
 * Packet path: lp_worker_poll() -> lp_port_rx() -> lp_eth_input() -> ... and
 * replies are queued with lp_worker_tx(), sent by lp_worker_tx_flush() at the end
 * of the poll iteration (and whenever the pending burst is full).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>

#include "drop.h"
#include "net/arp.h"

#define LP_RX_BURST 32
#define LP_TX_BURST 64

struct lp_port;
struct lp_tcp_worker;
struct lp_amqp_server;
struct lp_broker;
struct lp_snapshot_publisher;
struct lp_snapshot;

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

struct lp_worker {
	unsigned id;        /* 0 .. n_workers-1, also the port queue id */
	unsigned lcore_id;
	const struct lp_netif *netif;
	struct lp_port *port;
	struct rte_mempool *pool;
	uint64_t now_tsc;   /* rte_rdtsc() at the start of this poll iteration */
	uint16_t ip_id;     /* next IPv4 identification */

	struct lp_arp_table arp;
	struct lp_tcp_worker *tcp; /* NULL until TCP is set up */
	struct lp_amqp_server *amqp; /* NULL until the AMQP listener is set up */
	struct lp_broker *broker;    /* NULL: broker methods answer 540 */
	/* What lepus-control pushed (NULL in unit tests): loaded at the start of
	 * each poll iteration, released (RCU quiescent state) at its end. */
	struct lp_snapshot_publisher *snapshots;
	const struct lp_snapshot *snap;

	uint16_t tx_count;
	struct rte_mbuf *tx_pending[LP_TX_BURST];

	struct lp_worker_stats stats;
} __rte_cache_aligned;

/*
 * Queue m for transmission on this worker's tx queue. Consumes m: it is sent or,
 * if the tx queue stays full, freed and counted as LP_DROP_TX_FULL.
 */
void lp_worker_tx(struct lp_worker *w, struct rte_mbuf *m);

/* Send everything queued by lp_worker_tx(). Unsent mbufs are freed and counted. */
void lp_worker_tx_flush(struct lp_worker *w);

/* Count m under reason r and free it. Consumes m (m may be NULL: count only). */
void lp_worker_drop(struct lp_worker *w, struct rte_mbuf *m, enum lp_drop_reason r);

/*
 * One poll iteration: receive a burst, run each packet through the stack, run
 * due timers, flush tx. Returns the number of packets received.
 */
unsigned lp_worker_poll(struct lp_worker *w);

/* Initialise w (zeroes state, sets identity). Returns 0 or -errno. */
int lp_worker_init(struct lp_worker *w, unsigned id, unsigned lcore_id,
		   const struct lp_netif *netif, struct lp_port *port,
		   struct rte_mempool *pool);
