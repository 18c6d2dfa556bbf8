/* SPDX-License-Identifier: MIT */
/*
 * The shard ring mesh (see mesh.h): n * (n - 1) operation rings between
 * worker shards and 2 * n pointer rings to and from the main lcore, all
 * single-producer/single-consumer, created once before the workers start.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "broker_int.h"
#include "mesh.h"
#include "message.h"
#include "queue.h"

#define MAIN_RING_SIZE 4096

struct lp_mesh {
	unsigned n;
	struct rte_ring **ops;       /* [(lane * n + src) * n + dst] */
	struct rte_ring **to_main;   /* [w] */
	struct rte_ring **from_main; /* [w] */
	struct rte_mempool **relay;  /* [w]: worker w's relay_msgs */
};

static unsigned mesh_seq;

static struct rte_ring *ring_new(const char *kind, unsigned a, unsigned b, unsigned esize,
				 unsigned size)
{
	char name[RTE_RING_NAMESIZE];

	snprintf(name, sizeof(name), "lp%u_%s%u_%u", mesh_seq, kind, a, b);
	return rte_ring_create_elem(name, esize, size, (int)rte_socket_id(),
				    RING_F_SP_ENQ | RING_F_SC_DEQ);
}

struct lp_mesh *lp_mesh_create(unsigned n_workers, unsigned ring_size)
{
	struct lp_mesh *m;

	if (n_workers == 0 || n_workers > 255) {
		rte_errno = EINVAL;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	m->n = n_workers;
	m->ops = calloc((size_t)LP_MESH_LANES * n_workers * n_workers, sizeof(*m->ops));
	m->to_main = calloc(n_workers, sizeof(*m->to_main));
	m->from_main = calloc(n_workers, sizeof(*m->from_main));
	m->relay = calloc(n_workers, sizeof(*m->relay));
	if (m->ops == NULL || m->to_main == NULL || m->from_main == NULL || m->relay == NULL) {
		lp_mesh_destroy(m);
		rte_errno = ENOMEM;
		return NULL;
	}
	mesh_seq++;
	for (unsigned s = 0; s < n_workers; s++) {
		for (unsigned d = 0; d < n_workers; d++) {
			if (s == d)
				continue;
			for (unsigned l = 0; l < LP_MESH_LANES; l++) {
				size_t i = ((size_t)l * n_workers + s) * n_workers + d;

				m->ops[i] = ring_new(l == LP_MESH_DATA ? "dt" : "op", s, d,
						     sizeof(struct lp_ring_op), ring_size);
				if (m->ops[i] == NULL)
					goto fail;
			}
		}
		m->to_main[s] = ring_new("tm", s, 0, sizeof(void *), MAIN_RING_SIZE);
		m->from_main[s] = ring_new("fm", s, 0, sizeof(void *), MAIN_RING_SIZE);
		if (m->to_main[s] == NULL || m->from_main[s] == NULL)
			goto fail;
		char name[RTE_MEMPOOL_NAMESIZE];

		snprintf(name, sizeof(name), "lp%u_relay%u", mesh_seq, s);
		m->relay[s] = rte_mempool_create(name, LP_MESH_RELAY_MSGS,
						 sizeof(struct relay_msg) + LP_CTL_ARGS_MAX, 0, 0, NULL,
						 NULL, NULL, NULL, (int)rte_socket_id(), 0);
		if (m->relay[s] == NULL)
			goto fail;
	}
	return m;
fail: {
	int err = rte_errno;

	lp_mesh_destroy(m);
	rte_errno = err;
	return NULL;
}
}

void lp_mesh_destroy(struct lp_mesh *m)
{
	struct lp_ring_op op;
	void *p;

	if (m == NULL)
		return;
	for (unsigned i = 0; m->ops != NULL && i < LP_MESH_LANES * m->n * m->n; i++) {
		if (m->ops[i] == NULL)
			continue;
		while (rte_ring_dequeue_elem(m->ops[i], &op, sizeof(op)) == 0)
			if (op.ptr != NULL &&
			    (op.type == LP_OP_ENQUEUE || op.type == LP_OP_DELIVER ||
			     op.type == LP_OP_GET_REPLY))
				lp_msg_release(op.ptr);
		rte_ring_free(m->ops[i]);
	}
	for (unsigned w = 0; w < m->n; w++) {
		if (m->to_main != NULL && m->to_main[w] != NULL) {
			while (rte_ring_dequeue(m->to_main[w], &p) == 0)
				lp_mesh_relay_put(p);
			rte_ring_free(m->to_main[w]);
		}
		if (m->from_main != NULL && m->from_main[w] != NULL) {
			while (rte_ring_dequeue(m->from_main[w], &p) == 0)
				free(p);
			rte_ring_free(m->from_main[w]);
		}
	}
	for (unsigned w = 0; m->relay != NULL && w < m->n; w++)
		rte_mempool_free(m->relay[w]);
	free(m->ops);
	free(m->to_main);
	free(m->from_main);
	free(m->relay);
	free(m);
}

struct relay_msg *lp_mesh_relay_get(const struct lp_mesh *m, unsigned w, bool notice)
{
	void *obj;

	if (!notice && rte_mempool_avail_count(m->relay[w]) <= LP_MESH_RELAY_RESERVE)
		return NULL;
	if (rte_mempool_get(m->relay[w], &obj) != 0)
		return NULL;
	memset(obj, 0, sizeof(struct relay_msg));
	return obj;
}

void lp_mesh_relay_put(struct relay_msg *msg)
{
	if (msg != NULL)
		rte_mempool_put(rte_mempool_from_obj(msg), msg);
}

unsigned lp_mesh_workers(const struct lp_mesh *m)
{
	return m->n;
}

struct rte_ring *lp_mesh_ring(const struct lp_mesh *m, unsigned src, unsigned dst, unsigned lane)
{
	return m->ops[((size_t)lane * m->n + src) * m->n + dst];
}

struct rte_ring *lp_mesh_to_main(const struct lp_mesh *m, unsigned w)
{
	return m->to_main[w];
}

struct rte_ring *lp_mesh_from_main(const struct lp_mesh *m, unsigned w)
{
	return m->from_main[w];
}

/* ---- the channel side: staging for and reading from the rings ---- */

typedef void lp_op_handler(struct lp_broker *b, const struct lp_ring_op *op);

/* Every operation type, handled in the file that owns it (ring_op.h). */
static lp_op_handler *const op_handlers[LP_OP__COUNT] = {
	[LP_OP_ENQUEUE] = lp_owner_on_enqueue,
	[LP_OP_SETTLE] = lp_owner_on_settle,
	[LP_OP_CREDIT] = lp_owner_on_credit,
	[LP_OP_RECOVER] = lp_owner_on_recover,
	[LP_OP_CHAN_CLOSED] = lp_owner_on_chan_closed,
	[LP_OP_CONSUME] = lp_owner_on_request,
	[LP_OP_CANCEL] = lp_owner_on_request,
	[LP_OP_GET] = lp_owner_on_request,
	[LP_OP_PURGE] = lp_owner_on_request,
	[LP_OP_COUNTS] = lp_owner_on_request,
	[LP_OP_DELIVER] = lp_deliver_on_deliver,
	[LP_OP_CONFIRM] = lp_confirm_on_verdict,
	[LP_OP_CANCELLED] = lp_consume_on_cancelled,
	[LP_OP_CONSUME_REPLY] = lp_consume_on_reply,
	[LP_OP_CANCEL_REPLY] = lp_consume_on_reply,
	[LP_OP_GET_REPLY] = lp_consume_on_reply,
	[LP_OP_PURGE_REPLY] = lp_consume_on_reply,
	[LP_OP_COUNTS_REPLY] = lp_consume_on_reply,
};

void lp_op_handle(struct lp_broker *b, const struct lp_ring_op *op)
{
	/* Only shards write the rings: a type outside the table is a bug here,
	 * never input; it is dropped (its message reference released). */
	if (op->type >= LP_OP__COUNT || op_handlers[op->type] == NULL) {
		if (lp_op_carries_msg(op))
			lp_msg_release(op->ptr);
		return;
	}
	op_handlers[op->type](b, op);
}

/* Move what s holds into its ring (src -> dst, lane); what does not fit stays, in order. */
static void stage_flush(struct lp_broker *b, struct ring_stage *s, unsigned dst, unsigned lane)
{
	unsigned k = rte_ring_enqueue_burst_elem(lp_mesh_ring(b->mesh, b->id, dst, lane), s->v,
						 sizeof(s->v[0]), s->n, NULL);

	b->stats.ops_sent += k;
	if (k < s->n)
		memmove(s->v, s->v + k, (s->n - k) * sizeof(s->v[0]));
	s->n -= k;
}

int lp_broker_send(struct lp_broker *b, unsigned dst, struct lp_ring_op op)
{
	unsigned lane = op_lane(&op);
	struct ring_stage *s = &b->out[lane * b->n_workers + dst];

	op.src = (uint16_t)b->id;
	if (dst == b->id) {
		lp_op_handle(b, &op);
		return 0;
	}
	if (s->n == b->cfg.stage_ops)
		stage_flush(b, s, dst, lane);
	if (s->n == b->cfg.stage_ops) {
		/* Stage and ring full: the owner is far behind. Publishers and
		 * dispatch stop long before this (LP_BROKER_STAGE_PAUSE). */
		b->stats.ops_refused++;
		if (lp_op_carries_msg(&op))
			lp_msg_release(op.ptr);
		return -ENOBUFS;
	}
	s->v[s->n++] = op;
	return 0;
}

void lp_mesh_flush(struct lp_broker *b)
{
	for (unsigned i = 0; i < LP_MESH_LANES * b->n_workers; i++) {
		unsigned d = i % b->n_workers;

		if (d != b->id && b->out[i].n > 0)
			stage_flush(b, &b->out[i], d, i / b->n_workers);
	}
}

bool lp_mesh_stages_full(const struct lp_broker *b, uint32_t limit)
{
	for (unsigned i = 0; i < LP_MESH_LANES * b->n_workers; i++)
		if (b->out[i].n >= limit)
			return true;
	return false;
}

/*
 * Before a Basic.Get or Basic.Consume is served, everything other shards
 * sent so far is applied: a channel closed on another worker before this
 * request was made (its Close-Ok reached the client first) has its unacked
 * messages back in the queue, as RabbitMQ requeues them before Close-Ok.
 */
void lp_mesh_apply_earlier(struct lp_broker *b, unsigned except)
{
	if (b->mesh == NULL || b->draining)
		return;
	b->draining = true;
	for (unsigned src = 0; src < b->n_workers; src++) {
		if (src == b->id)
			continue;
		lp_mesh_read_data(b, src); /* publishes made before the request */
		if (src != except)
			lp_mesh_read_ctl(b, src);
	}
	b->draining = false;
}

/* The local channel an operation from another shard is for, or NULL. */
static struct channel *op_channel(struct lp_broker *b, const struct lp_ring_op *op)
{
	switch (op->type) {
	case LP_OP_DELIVER:
	case LP_OP_CONSUME_REPLY:
	case LP_OP_CANCEL_REPLY:
	case LP_OP_GET_REPLY:
	case LP_OP_PURGE_REPLY:
	case LP_OP_COUNTS_REPLY:
	case LP_OP_CANCELLED:
	case LP_OP_CONFIRM:
		return lp_broker_chan(b, op->chan);
	default:
		return NULL;
	}
}

/* Operations of src's lane still held, or the next burst from its ring;
 * false when there are none. */
static bool held_refill(struct lp_broker *b, struct ring_held *h, unsigned src, unsigned lane)
{
	if (h->i < h->n)
		return true;
	h->i = 0;
	h->n = rte_ring_dequeue_burst_elem(lp_mesh_ring(b->mesh, src, b->id, lane), h->v,
					   sizeof(h->v[0]), LP_BROKER_HOLD, NULL);
	b->stats.ops_received += h->n;
	return h->n > 0;
}

/* Read the publishes shard src sent; stop (keeping the rest, in order) at
 * one for a queue that is full: the data lane then backs up and src pauses
 * its publishers. Acks travel on the control lane and still drain the queue. */
void lp_mesh_read_data(struct lp_broker *b, unsigned src)
{
	struct ring_held *h = &b->in[LP_MESH_DATA * b->n_workers + src];

	for (int round = 0; round < 4 && held_refill(b, h, src, LP_MESH_DATA); round++) {
		for (; h->i < h->n; h->i++) {
			const struct lp_ring_op *op = &h->v[h->i];
			struct owned_queue *oq = lp_owner_queue(b, op->qid);

			if (oq != NULL && !lp_owner_can_take(b, oq, op->ptr))
				return;
			lp_op_handle(b, op);
		}
	}
}

/* Read the control lane from shard src. An operation for a channel whose
 * connection cannot take a delivery now waits in that channel's backlog (in
 * order), so one slow consumer never stalls the others. */
void lp_mesh_read_ctl(struct lp_broker *b, unsigned src)
{
	struct ring_held *h = &b->in[LP_MESH_CTL * b->n_workers + src];

	for (int round = 0; round < 4 && held_refill(b, h, src, LP_MESH_CTL); round++) {
		for (; h->i < h->n; h->i++) {
			const struct lp_ring_op *op = &h->v[h->i];

			struct channel *bc = op_channel(b, op);

			if (bc != NULL && (bc->backlog.n > 0 || !lp_op_fits(bc, op))) {
				lp_credit_flush(b);
				if (lp_backlog_push(b, bc, op) != 0)
					goto backed_up; /* kept in h, in order: the ring backs up */
				continue;
			}
			if (op->type == LP_OP_GET || op->type == LP_OP_CONSUME ||
			    op->type == LP_OP_COUNTS || op->type == LP_OP_PURGE) {
				lp_mesh_apply_earlier(b, src);
			}
			lp_op_handle(b, op);
		}
	}
backed_up:
	lp_credit_flush(b);
}
