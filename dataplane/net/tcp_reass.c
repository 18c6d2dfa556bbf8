/* SPDX-License-Identifier: MIT */
/*
 * TCP receive queue: in-order delivery and the out-of-order store
 * (RFC 9293 3.10.7.4, "seventh, process the segment text"; RFC 5681 4.2 for
 * the ACKs it triggers, sent by the caller).
 *
 * tcp_in.c hands lp_tcp_reass_input() a payload mbuf already trimmed to the
 * receive window and to rcv_nxt. A segment at rcv_nxt goes straight to the
 * application (no copy), followed by whatever the store now joins up with.
 * Others are stored: the store is up to LP_TCP_OOO_BLOCKS runs of
 * contiguous bytes, each a chain of the received mbufs, kept sorted;
 * overlapping parts of a new segment are trimmed away (the bytes already held
 * win), a segment covering whole runs replaces them, adjacent runs merge.
 * When all runs are taken, a segment that would need a new run is dropped
 * (LP_DROP_TCP_OUT_OF_ORDER_FULL): the peer retransmits it.
 */
#include <string.h>

#include "tcp_tcb.h"
#include "net.h"

struct rte_mbuf *lp_tcp_mbuf_trim_front(struct rte_mbuf *m, uint32_t n)
{
	while (m != NULL && n > 0) {
		if (n < m->data_len) {
			rte_pktmbuf_adj(m, (uint16_t)n);
			return m;
		}
		struct rte_mbuf *next = m->next;
		uint32_t pkt_len = m->pkt_len - m->data_len;
		uint16_t nb_segs = m->nb_segs - 1;

		n -= m->data_len;
		m->next = NULL;
		rte_pktmbuf_free_seg(m);
		m = next;
		if (m != NULL) {
			m->pkt_len = pkt_len;
			m->nb_segs = nb_segs;
		}
	}
	/* Drop empty leading segments so that the head holds data. */
	while (m != NULL && m->data_len == 0 && m->next != NULL) {
		struct rte_mbuf *next = m->next;

		next->pkt_len = m->pkt_len;
		next->nb_segs = m->nb_segs - 1;
		m->next = NULL;
		rte_pktmbuf_free_seg(m);
		m = next;
	}
	return m;
}

void lp_tcp_mbuf_trim_back(struct rte_mbuf *m, uint32_t n)
{
	struct rte_mbuf *seg = m;
	uint32_t before = 0;
	uint16_t segs = 1;

	while (seg->next != NULL && before + seg->data_len < n) {
		before += seg->data_len;
		seg = seg->next;
		segs++;
	}
	if (n - before < seg->data_len)
		seg->data_len = (uint16_t)(n - before);
	if (seg->next != NULL) {
		rte_pktmbuf_free(seg->next);
		seg->next = NULL;
	}
	m->pkt_len = n;
	m->nb_segs = segs;
}

/* Append chain b after chain a (a's tail given). Returns false if too long. */
static bool chain_append(struct rte_mbuf *a, struct rte_mbuf *a_tail, struct rte_mbuf *b)
{
	if ((uint32_t)a->nb_segs + b->nb_segs > RTE_MBUF_MAX_NB_SEGS)
		return false;
	a_tail->next = b;
	a->nb_segs += b->nb_segs;
	a->pkt_len += b->pkt_len;
	return true;
}

static void block_remove(struct lp_tcb *t, unsigned i)
{
	memmove(&t->ooo[i], &t->ooo[i + 1], (t->n_ooo - i - 1) * sizeof(t->ooo[0]));
	t->n_ooo--;
}

static void ooo_bytes_sub(struct lp_tcb *t, uint32_t n)
{
	t->ooo_bytes -= n;
	t->tw->stats.ooo_bytes -= n;
}

void lp_tcp_reass_free(struct lp_tcb *t)
{
	for (unsigned i = 0; i < t->n_ooo; i++)
		rte_pktmbuf_free(t->ooo[i].head);
	t->tw->stats.ooo_bytes -= t->ooo_bytes;
	t->ooo_bytes = 0;
	t->n_ooo = 0;
}

/* Give [rcv_nxt, rcv_nxt+len) in m to the application. */
static void deliver(struct lp_tcb *t, struct rte_mbuf *m, uint32_t len)
{
	t->rcv_nxt += len;
	t->tw->stats.bytes_in += len;
	lp_tcp_deliver(t, m);
}

static void ooo_store(struct lp_tcb *t, uint32_t s, struct rte_mbuf *m, uint32_t len)
{
	struct lp_tcp_worker *tw = t->tw;
	uint32_t e = s + len;

	for (unsigned i = 0; i < t->n_ooo;) {
		struct lp_tcp_ooo_block *b = &t->ooo[i];

		if (lp_seq_leq(e, b->seq) || lp_seq_geq(s, b->end)) {
			i++;
			continue;
		}
		if (lp_seq_geq(s, b->seq) && lp_seq_leq(e, b->end)) {
			lp_net_drop(tw->net, m, LP_DROP_TCP_DUPLICATE);
			return;
		}
		if (lp_seq_lt(s, b->seq) && lp_seq_gt(e, b->end)) {
			/* The new segment covers this run entirely: it replaces it. */
			rte_pktmbuf_free(b->head);
			ooo_bytes_sub(t, b->end - b->seq);
			block_remove(t, i);
			continue;
		}
		if (lp_seq_lt(s, b->seq)) {
			lp_tcp_mbuf_trim_back(m, b->seq - s);
			e = b->seq;
		} else {
			m = lp_tcp_mbuf_trim_front(m, b->end - s);
			s = b->end;
		}
		i++;
	}
	int prev = -1, next = -1;
	unsigned pos = t->n_ooo;

	for (unsigned i = 0; i < t->n_ooo; i++) {
		if (t->ooo[i].end == s)
			prev = (int)i;
		if (t->ooo[i].seq == e)
			next = (int)i;
		if (pos == t->n_ooo && lp_seq_gt(t->ooo[i].seq, s))
			pos = i;
	}
	if (prev >= 0) {
		struct lp_tcp_ooo_block *p = &t->ooo[prev];

		if (!chain_append(p->head, p->tail, m)) {
			lp_net_drop(tw->net, m, LP_DROP_TCP_OUT_OF_ORDER_FULL);
			return;
		}
		p->tail = rte_pktmbuf_lastseg(m);
		p->end = e;
		if (next >= 0 && chain_append(p->head, p->tail, t->ooo[next].head)) {
			p->tail = t->ooo[next].tail;
			p->end = t->ooo[next].end;
			block_remove(t, (unsigned)next);
		}
	} else if (next >= 0) {
		struct lp_tcp_ooo_block *n = &t->ooo[next];
		struct rte_mbuf *m_tail = rte_pktmbuf_lastseg(m);

		if (!chain_append(m, m_tail, n->head)) {
			lp_net_drop(tw->net, m, LP_DROP_TCP_OUT_OF_ORDER_FULL);
			return;
		}
		n->head = m;
		n->seq = s;
	} else {
		if (t->n_ooo == LP_TCP_OOO_BLOCKS) {
			lp_net_drop(tw->net, m, LP_DROP_TCP_OUT_OF_ORDER_FULL);
			return;
		}
		memmove(&t->ooo[pos + 1], &t->ooo[pos], (t->n_ooo - pos) * sizeof(t->ooo[0]));
		t->ooo[pos] = (struct lp_tcp_ooo_block){
			.seq = s, .end = e, .head = m, .tail = rte_pktmbuf_lastseg(m),
		};
		t->n_ooo++;
	}
	t->ooo_last = s;
	t->ooo_bytes += e - s;
	tw->stats.ooo_bytes += e - s;
	tw->stats.ooo_segments++;
}

void lp_tcp_reass_input(struct lp_tcb *t, uint32_t seq, struct rte_mbuf *m, uint32_t len)
{
	if (seq != t->rcv_nxt) {
		if (t->tw->pool_low) {
			lp_net_drop(t->tw->net, m, LP_DROP_TCP_MEM_PRESSURE);
			return;
		}
		ooo_store(t, seq, m, len);
		return;
	}
	deliver(t, m, len);
	while (t->n_ooo > 0 && !(t->flags & TF_FREE_PENDING) &&
	       lp_seq_leq(t->ooo[0].seq, t->rcv_nxt)) {
		struct lp_tcp_ooo_block b = t->ooo[0];

		block_remove(t, 0);
		ooo_bytes_sub(t, b.end - b.seq);
		if (lp_seq_leq(b.end, t->rcv_nxt)) {
			rte_pktmbuf_free(b.head);
			continue;
		}
		struct rte_mbuf *h = lp_tcp_mbuf_trim_front(b.head, t->rcv_nxt - b.seq);

		deliver(t, h, b.end - t->rcv_nxt);
	}
}
