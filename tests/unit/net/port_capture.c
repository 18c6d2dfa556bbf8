/* SPDX-License-Identifier: MIT */
/* The capturing link-time port; see port_capture.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "port.h"
#include "port_capture.h"

static struct rte_mbuf *ring[PORT_TX_MAX];
static unsigned head, count;

/* Consumes every mbuf: it joins the capture. */
uint16_t __wrap_lp_port_tx(struct lp_port *p, uint16_t q, struct rte_mbuf **pkts, uint16_t n);
uint16_t __wrap_lp_port_tx(struct lp_port *p, uint16_t q, struct rte_mbuf **pkts, uint16_t n)
{
	(void)p;
	(void)q;
	for (uint16_t i = 0; i < n; i++) {
		assert_true(count < PORT_TX_MAX);
		ring[(head + count++) % PORT_TX_MAX] = pkts[i];
	}
	return n;
}

uint16_t __wrap_lp_port_rx(struct lp_port *p, uint16_t q, struct rte_mbuf **pkts, uint16_t n);
uint16_t __wrap_lp_port_rx(struct lp_port *p, uint16_t q, struct rte_mbuf **pkts, uint16_t n)
{
	(void)p;
	(void)q;
	(void)pkts;
	(void)n;
	return 0;
}

void __wrap_lp_port_fault_tick(struct lp_port *p, uint16_t q, uint64_t now_tsc);
void __wrap_lp_port_fault_tick(struct lp_port *p, uint16_t q, uint64_t now_tsc)
{
	(void)p;
	(void)q;
	(void)now_tsc;
}

unsigned port_tx_count(void)
{
	return count;
}

struct rte_mbuf *port_tx_at(unsigned i)
{
	assert_true(i < count);
	return ring[(head + i) % PORT_TX_MAX];
}

struct rte_mbuf *port_tx_pop(void)
{
	assert_true(count > 0);
	struct rte_mbuf *m = ring[head];

	head = (head + 1) % PORT_TX_MAX;
	count--;
	return m;
}

void port_tx_clear(void)
{
	while (count > 0)
		rte_pktmbuf_free(port_tx_pop());
	head = 0;
}
