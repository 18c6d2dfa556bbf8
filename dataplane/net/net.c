/* SPDX-License-Identifier: MIT */
/*
 * One worker's packet stack (net.h): the rx burst that starts a poll iteration,
 * the tx burst that ends it, and the named drop counters in between.
 *
 * Nothing here blocks, locks, allocates or makes a syscall.
 */
#include <errno.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_prefetch.h>

#include "eth.h"
#include "net.h"
#include "port.h"
#include "tcp.h"

/* How many times a full tx queue is retried within one flush before dropping. */
#define TX_FLUSH_RETRIES 8

int lp_net_init(struct lp_net *net, unsigned id, unsigned lcore_id,
		const struct lp_netif *netif, struct lp_port *port, struct rte_mempool *pool)
{
	if (net == NULL || netif == NULL || port == NULL || pool == NULL)
		return -EINVAL;
	memset(net, 0, sizeof(*net));
	net->id = id;
	net->lcore_id = lcore_id;
	net->netif = netif;
	net->port = port;
	net->pool = pool;
	net->now_tsc = rte_rdtsc();
	net->ip_id = (uint16_t)(net->now_tsc ^ (id << 12));
	return 0;
}

void lp_net_drop(struct lp_net *net, struct rte_mbuf *m, enum lp_drop_reason r)
{
	net->stats.drops[r]++;
	if (m != NULL)
		rte_pktmbuf_free(m);
}

void lp_net_tx_flush(struct lp_net *net)
{
	uint16_t n = net->tx_count;
	uint16_t sent = 0;
	uint64_t bytes = 0;

	/* Sum lengths first: once sent, an mbuf belongs to the driver. */
	for (uint16_t i = 0; i < n; i++)
		bytes += rte_pktmbuf_pkt_len(net->tx_pending[i]);
	for (unsigned tries = 0; sent < n && tries < TX_FLUSH_RETRIES; tries++)
		sent += lp_port_tx(net->port, net->id, net->tx_pending + sent, n - sent);
	for (uint16_t i = sent; i < n; i++) {
		bytes -= rte_pktmbuf_pkt_len(net->tx_pending[i]);
		lp_net_drop(net, net->tx_pending[i], LP_DROP_TX_FULL);
	}
	net->stats.tx_packets += sent;
	net->stats.tx_bytes += bytes;
	net->tx_count = 0;
}

void lp_net_tx(struct lp_net *net, struct rte_mbuf *m)
{
	if (net->tx_count == LP_TX_BURST)
		lp_net_tx_flush(net);
	net->tx_pending[net->tx_count++] = m;
}

unsigned lp_net_rx(struct lp_net *net)
{
	struct rte_mbuf *pkts[LP_RX_BURST];
	uint16_t n;

	net->now_tsc = rte_rdtsc();
	n = lp_port_rx(net->port, net->id, pkts, LP_RX_BURST);
	net->stats.rx_packets += n;
	for (uint16_t i = 0; i < n; i++) {
		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		net->stats.rx_bytes += rte_pktmbuf_pkt_len(pkts[i]);
		lp_eth_input(net, pkts[i]);
	}
	return n;
}

unsigned lp_net_output(struct lp_net *net)
{
	unsigned n;

	if (net->tcp != NULL)
		lp_tcp_worker_poll(net);
	lp_port_fault_tick(net->port, net->id, net->now_tsc);
	n = net->tx_count;
	if (n > 0)
		lp_net_tx_flush(net);
	return n;
}
