/* SPDX-License-Identifier: MIT */
/*
 * The per-worker TCB pool and flow table. lp_tcp_input looks every segment
 * up here by (remote address, remote port, local port) — the local address is
 * always the dataplane's own. The table is open addressing with linear
 * probing and backward-shift deletion, sized at start-up to twice the pool
 * (load <= 1/2), keyed with a per-worker random seed so that peers cannot
 * choose colliding tuples. TCBs come from a free list built at start-up; a
 * TCB is freed only when no stack frame holds it (busy == 0), so callbacks
 * may abort a connection while tcp_in.c is still walking it.
 */
#include <errno.h>
#include <string.h>

#include <rte_jhash.h>
#include <rte_malloc.h>

#include "tcp_tcb.h"
#include "net.h"

static inline uint64_t flow_key(uint32_t rip, uint16_t rport, uint16_t lport)
{
	return (uint64_t)rip << 32 | (uint32_t)rport << 16 | lport;
}

static inline uint32_t flow_hash(const struct lp_tcp_worker *tw, uint64_t key)
{
	return rte_jhash_2words((uint32_t)key, (uint32_t)(key >> 32), tw->secret[7]);
}

int lp_tcp_flow_init(struct lp_tcp_worker *tw)
{
	uint32_t n = tw->cfg.max_conns;
	uint32_t size = 64;
	int socket = rte_socket_id();

	while (size < 2 * n)
		size <<= 1;
	tw->tcbs = rte_zmalloc_socket("lp_tcbs", sizeof(struct lp_tcb) * n, RTE_CACHE_LINE_SIZE,
				      socket);
	tw->flows = rte_zmalloc_socket("lp_tcp_flows", sizeof(struct lp_tcp_flow_slot) * size,
				       RTE_CACHE_LINE_SIZE, socket);
	if (tw->tcbs == NULL || tw->flows == NULL) {
		lp_tcp_flow_fini(tw);
		return -ENOMEM;
	}
	tw->flow_mask = size - 1;
	tw->free_tcbs = NULL;
	for (uint32_t i = n; i-- > 0;) {
		tw->tcbs[i].next_out = tw->free_tcbs;
		tw->free_tcbs = &tw->tcbs[i];
	}
	return 0;
}

void lp_tcp_flow_fini(struct lp_tcp_worker *tw)
{
	rte_free(tw->tcbs);
	rte_free(tw->flows);
	tw->tcbs = NULL;
	tw->flows = NULL;
	tw->free_tcbs = NULL;
}

struct lp_tcb *lp_tcp_flow_lookup(struct lp_tcp_worker *tw, uint32_t rip, uint16_t rport,
				  uint16_t lport)
{
	uint64_t key = flow_key(rip, rport, lport);
	uint32_t i = flow_hash(tw, key) & tw->flow_mask;

	/* Load <= 1/2: an empty slot is always reached. */
	for (;;) {
		struct lp_tcp_flow_slot *s = &tw->flows[i];

		if (s->key == key)
			return s->tcb;
		if (s->key == 0)
			return NULL;
		i = (i + 1) & tw->flow_mask;
	}
}

static void flow_insert(struct lp_tcp_worker *tw, struct lp_tcb *t)
{
	uint64_t key = flow_key(t->remote_ip, t->remote_port, t->local_port);
	uint32_t i = flow_hash(tw, key) & tw->flow_mask;

	while (tw->flows[i].key != 0)
		i = (i + 1) & tw->flow_mask;
	tw->flows[i].key = key;
	tw->flows[i].tcb = t;
	t->flow_slot = i;
}

/* Backward-shift deletion (Knuth 6.4 algorithm R): no tombstones. */
static void flow_remove(struct lp_tcp_worker *tw, struct lp_tcb *t)
{
	uint32_t mask = tw->flow_mask;
	uint32_t hole = t->flow_slot;
	uint32_t j = hole;

	if (tw->flows[hole].tcb != t)
		return;
	for (;;) {
		j = (j + 1) & mask;
		if (tw->flows[j].key == 0)
			break;
		uint32_t home = flow_hash(tw, tw->flows[j].key) & mask;

		/* Move j into the hole unless its home lies cyclically in (hole, j]. */
		if (((j - home) & mask) >= ((j - hole) & mask)) {
			tw->flows[hole] = tw->flows[j];
			tw->flows[hole].tcb->flow_slot = hole;
			hole = j;
		}
	}
	tw->flows[hole].key = 0;
	tw->flows[hole].tcb = NULL;
}

struct lp_tcb *lp_tcp_tcb_alloc(struct lp_tcp_worker *tw, uint32_t rip, uint16_t rport,
				uint16_t lport)
{
	struct lp_tcb *t = tw->free_tcbs;

	if (t == NULL)
		return NULL;
	tw->free_tcbs = t->next_out;
	memset(t, 0, sizeof(*t));
	t->tw = tw;
	t->remote_ip = rip;
	t->remote_port = rport;
	t->local_port = lport;
	t->rcv_buf = tw->cfg.rcv_buf;
	t->rto_us = LP_TCP_INIT_RTO_US;
	t->rtx_timer.kind = LP_TCP_TIMER_RTX;
	t->dack_timer.kind = LP_TCP_TIMER_DACK;
	flow_insert(tw, t);
	if (++tw->stats.tcbs_in_use > tw->stats.tcbs_peak)
		tw->stats.tcbs_peak = tw->stats.tcbs_in_use;
	return t;
}

static void tcb_return(struct lp_tcb *t)
{
	struct lp_tcp_worker *tw = t->tw;

	t->state = LP_TCP_CLOSED;
	t->next_out = tw->free_tcbs;
	tw->free_tcbs = t;
	tw->stats.tcbs_in_use--;
}

void lp_tcp_tcb_free(struct lp_tcb *t)
{
	struct lp_tcp_worker *tw = t->tw;

	if (t->flags & TF_FREE_PENDING)
		return;
	if (t->state == LP_TCP_SYN_RCVD)
		tw->stats.syn_rcvd--;
	t->state = LP_TCP_CLOSED;
	t->flags |= TF_FREE_PENDING | TF_APP_GONE;
	flow_remove(tw, t);
	lp_tcp_timer_cancel(tw, &t->rtx_timer);
	lp_tcp_timer_cancel(tw, &t->dack_timer);
	lp_tcp_sq_free_all(t);
	lp_tcp_reass_free(t);
	/* Still on the output list: lp_tcp_flush_output returns it. */
	if (t->busy == 0 && !(t->flags & TF_OUT_PENDING))
		tcb_return(t);
}

bool lp_tcp_tcb_release(struct lp_tcb *t)
{
	if (--t->busy == 0 && (t->flags & TF_FREE_PENDING) && !(t->flags & TF_OUT_PENDING)) {
		tcb_return(t);
		return true;
	}
	return false;
}

struct lp_tcp_listener *lp_tcp_listener_find(struct lp_tcp_worker *tw, uint16_t port)
{
	for (unsigned i = 0; i < LP_TCP_MAX_LISTENERS; i++)
		if (tw->listeners[i].port == port && port != 0)
			return &tw->listeners[i];
	return NULL;
}
