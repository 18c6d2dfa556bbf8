/* SPDX-License-Identifier: MIT */
/*
 * The worker lcore's run-to-completion loop: receive a burst from this
 * worker's port queue, run every packet through eth -> arp/ip4 -> icmp/tcp ->
 * amqp, run due timers, and transmit whatever the stack queued, in one burst.
 *
 * Nothing here blocks, locks, allocates or makes a syscall.
 */
#include <errno.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_prefetch.h>

#include "port.h"
#include "worker.h"
#include "amqp/amqp_server.h"
#include "broker/broker.h"
#include "net/eth.h"
#include "net/tcp.h"
#include "snapshot.h"

/* How many times a full tx queue is retried within one flush before dropping. */
#define TX_FLUSH_RETRIES 8

void lp_worker_drop(struct lp_worker *w, struct rte_mbuf *m, enum lp_drop_reason r)
{
	w->stats.drops[r]++;
	if (m != NULL)
		rte_pktmbuf_free(m);
}

void lp_worker_tx_flush(struct lp_worker *w)
{
	uint16_t n = w->tx_count;
	uint16_t sent = 0;
	uint64_t bytes = 0;

	/* Sum lengths first: once sent, an mbuf belongs to the driver. */
	for (uint16_t i = 0; i < n; i++)
		bytes += rte_pktmbuf_pkt_len(w->tx_pending[i]);
	for (unsigned tries = 0; sent < n && tries < TX_FLUSH_RETRIES; tries++)
		sent += lp_port_tx(w->port, w->id, w->tx_pending + sent, n - sent);
	for (uint16_t i = sent; i < n; i++) {
		bytes -= rte_pktmbuf_pkt_len(w->tx_pending[i]);
		lp_worker_drop(w, w->tx_pending[i], LP_DROP_TX_FULL);
	}
	w->stats.tx_packets += sent;
	w->stats.tx_bytes += bytes;
	w->tx_count = 0;
}

void lp_worker_tx(struct lp_worker *w, struct rte_mbuf *m)
{
	if (w->tx_count == LP_TX_BURST)
		lp_worker_tx_flush(w);
	w->tx_pending[w->tx_count++] = m;
}

unsigned lp_worker_poll(struct lp_worker *w)
{
	struct rte_mbuf *pkts[LP_RX_BURST];
	uint16_t n;

	w->now_tsc = rte_rdtsc();
	if (w->snapshots != NULL)
		w->snap = lp_snapshot_current(w->snapshots);
	n = lp_port_rx(w->port, w->id, pkts, LP_RX_BURST);
	w->stats.rx_packets += n;
	for (uint16_t i = 0; i < n; i++) {
		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		w->stats.rx_bytes += rte_pktmbuf_pkt_len(pkts[i]);
		lp_eth_input(w, pkts[i]);
	}
	/* Deliveries, then AMQP output, so that TCP segments it in this iteration. */
	lp_broker_poll(w);
	lp_amqp_server_poll(w);
	if (w->tcp != NULL)
		lp_tcp_worker_poll(w);
	lp_port_fault_tick(w->port, w->id, w->now_tsc);
	if (w->tx_count > 0)
		lp_worker_tx_flush(w);
	if (w->snapshots != NULL)
		lp_snapshot_quiescent(w->snapshots, w->id);
	return n;
}

int lp_worker_init(struct lp_worker *w, unsigned id, unsigned lcore_id,
		   const struct lp_netif *netif, struct lp_port *port,
		   struct rte_mempool *pool)
{
	if (w == NULL || netif == NULL || port == NULL || pool == NULL)
		return -EINVAL;
	memset(w, 0, sizeof(*w));
	w->id = id;
	w->lcore_id = lcore_id;
	w->netif = netif;
	w->port = port;
	w->pool = pool;
	w->now_tsc = rte_rdtsc();
	w->ip_id = (uint16_t)(w->now_tsc ^ (id << 12));
	return 0;
}
