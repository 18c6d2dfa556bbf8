/* SPDX-License-Identifier: MIT */
/*
 * The channel side of a broker shard (see broker.h, broker_int.h): channel
 * state, declarations through lepus-control, publish -> route -> enqueue
 * here or on the owner's ring, consumers, Basic.Get, acknowledgements,
 * Qos, confirms, the encoding of deliveries, and the rings of the mesh
 * (staged operations flushed once per poll; operations read, kept back
 * while the connection they are for cannot take more).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "amqp/amqp_channel.h"
#include "amqp/amqp_reply.h"
#include "amqp/amqp_server.h"
#include "broker_int.h"
#include "ctl_link.h"
#include "message.h"
#include "queue.h"
#include "snapshot.h"
#include "topology.h"
#include "worker.h"

#define ROUTE_MAX 1024
/* A message's slot: properties up to 4 KiB and a body up to 4 KiB (larger
 * bodies get heap storage, message.h); 512 MiB per worker at 65536. */
#define PROPS_MAX 4096
#define BODY_SLOT 4096
#define NAME_LEN LP_BROKER_NAME_LEN
/* A shard with this many operations waiting for its ring pauses publishers. */
#define STAGE_PAUSE 8192
#define STAGE_RESUME 1024


void lp_broker_config_default(struct lp_broker_config *cfg)
{
	*cfg = (struct lp_broker_config){
		.max_messages = 65536, .body_max = BODY_SLOT, .max_queues = 1024,
		.queue_capacity = 65536, .max_channels = 4096, .max_consumers = 4096,
	};
}

static struct lp_broker *broker_of(struct lp_amqp_session *s)
{
	return lp_amqp_session_worker(s)->broker;
}

static const struct lp_snapshot *snap(const struct lp_broker *b)
{
	return b->w->snap;
}

static void copy_name(char *dst, struct lp_amqp_bytes v)
{
	size_t n = v.len < LP_CTL_NAME_MAX ? v.len : LP_CTL_NAME_MAX;

	memcpy(dst, v.ptr, n);
	dst[n] = '\0';
}

unsigned lp_broker_owner(const struct lp_broker *b, uint16_t owner_shard)
{
	return owner_shard < b->n_workers ? owner_shard : owner_shard % b->n_workers;
}

/* ---- the mesh ---------------------------------------------------------- */

/* Publishes travel on the data lane, everything else on the control lane. */
static unsigned op_lane(const struct lp_shard_op *op)
{
	return op->type == LP_SHARD_ENQUEUE ? LP_MESH_DATA : LP_MESH_CTL;
}

void lp_broker_send(struct lp_broker *b, unsigned dst, struct lp_shard_op op)
{
	unsigned lane = op_lane(&op);
	struct stage *s = &b->out[lane * b->n_workers + dst];

	op.src = (uint16_t)b->id;
	if (dst == b->id) {
		lp_shard_handle(b, &op);
		return;
	}
	if (s->n == s->cap) {
		uint32_t cap = s->cap ? s->cap * 2 : 1024;
		struct lp_shard_op *v = realloc(s->v, cap * sizeof(*v));

		if (v == NULL) {
			/* Out of memory: write to the ring directly, waiting for room
			 * (the owner never waits on us while its ring to us is full). */
			while (rte_ring_enqueue_elem(lp_mesh_ring(b->mesh, b->id, dst, lane), &op,
						     sizeof(op)) != 0)
				;
			b->stats.ops_sent++;
			return;
		}
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = op;
}

static void flush_stages(struct lp_broker *b)
{
	for (unsigned i = 0; i < LP_MESH_LANES * b->n_workers; i++) {
		struct stage *s = &b->out[i];
		unsigned d = i % b->n_workers;

		if (d == b->id || s->n == 0)
			continue;
		unsigned k = rte_ring_enqueue_burst_elem(lp_mesh_ring(b->mesh, b->id, d,
								      i / b->n_workers),
							 s->v, sizeof(s->v[0]), s->n, NULL);

		b->stats.ops_sent += k;
		if (k < s->n)
			memmove(s->v, s->v + k, (s->n - k) * sizeof(s->v[0]));
		s->n -= k;
	}
}

static bool stages_full(const struct lp_broker *b, uint32_t limit)
{
	for (unsigned i = 0; i < LP_MESH_LANES * b->n_workers; i++)
		if (b->out[i].n >= limit)
			return true;
	return false;
}

static void credit_flush(struct lp_broker *b)
{
	if (b->credit_n == 0)
		return;
	lp_broker_send(b, b->credit_owner, (struct lp_shard_op){.type = LP_SHARD_CREDIT,
								 .chan = b->credit_chan, .aux = b->credit_n});
	b->credit_n = 0;
}

/* Basic.Deliver frame with three shortstrs (< 800 octets) and the content
 * header's fixed part fit in 1024; body frames carry at least
 * FRAME-MIN-SIZE - 8 octets each (spec 4.2.3). */
size_t lp_broker_wire_size(const struct lp_msg *m)
{
	return 1024 + m->props_len + m->body_len + 8 * (m->body_len / 4088 + 1);
}

static void read_ring(struct lp_broker *b, unsigned src);
static void read_data_ring(struct lp_broker *b, unsigned src);

/*
 * Before a Basic.Get or Basic.Consume is served, everything other shards
 * sent so far is applied: a channel closed on another worker before this
 * request was made (its Close-Ok reached the client first) has its unacked
 * messages back in the queue, as RabbitMQ requeues them before Close-Ok.
 */
static void apply_earlier_ops(struct lp_broker *b, unsigned except)
{
	if (b->mesh == NULL || b->draining)
		return;
	b->draining = true;
	for (unsigned src = 0; src < b->n_workers; src++) {
		if (src == b->id)
			continue;
		read_data_ring(b, src); /* publishes made before the request */
		if (src != except)
			read_ring(b, src);
	}
	b->draining = false;
}

static bool op_has_msg(const struct lp_shard_op *op)
{
	return op->ptr != NULL && (op->type == LP_SHARD_ENQUEUE || op->type == LP_SHARD_DELIVER ||
				   op->type == LP_SHARD_GET_REPLY);
}

/* The local channel an operation from another shard is for, or NULL. */
static struct bchan *op_channel(struct lp_broker *b, const struct lp_shard_op *op)
{
	switch (op->type) {
	case LP_SHARD_DELIVER:
	case LP_SHARD_CONSUME_REPLY:
	case LP_SHARD_CANCEL_REPLY:
	case LP_SHARD_GET_REPLY:
	case LP_SHARD_PURGE_REPLY:
	case LP_SHARD_COUNTS_REPLY:
	case LP_SHARD_CANCELLED:
	case LP_SHARD_CONFIRM:
		return lp_broker_chan(b, op->chan);
	default:
		return NULL;
	}
}

static bool op_fits(const struct bchan *bc, const struct lp_shard_op *op)
{
	return op->type != LP_SHARD_DELIVER ||
	       lp_amqp_conn_can_take(bc->conn, lp_broker_wire_size(op->ptr));
}

static void backlog_push(struct lp_broker *b, struct bchan *bc, const struct lp_shard_op *op)
{
	typeof(bc->backlog) *q = &bc->backlog;

	if (q->n == q->cap) {
		uint32_t cap = q->cap ? q->cap * 2 : 64;
		struct lp_shard_op *v = malloc(cap * sizeof(*v));

		if (v == NULL) { /* cannot keep it: as if the channel had closed */
			if (op_has_msg(op))
				lp_msg_release(op->ptr);
			return;
		}
		for (uint32_t i = 0; i < q->n; i++)
			v[i] = q->v[(q->head + i) % q->cap];
		free(q->v);
		q->v = v;
		q->cap = cap;
		q->head = 0;
	}
	if (q->n == 0)
		b->backlogged[b->n_backlogged++] = bc;
	q->v[(q->head + q->n++) % q->cap] = *op;
}

/* Apply what bc's backlog can take now; true when it is empty. */
static bool backlog_run(struct lp_broker *b, struct bchan *bc)
{
	typeof(bc->backlog) *q = &bc->backlog;

	while (q->n > 0 && bc->used) {
		struct lp_shard_op op = q->v[q->head];

		if (!op_fits(bc, &op))
			break;
		q->head = (q->head + 1) % q->cap;
		q->n--;
		lp_shard_handle(b, &op);
	}
	credit_flush(b);
	return q->n == 0;
}

/* Drop bc's backlog (channel closed: the owners requeue what it held). */
static void backlog_drop(struct lp_broker *b, struct bchan *bc)
{
	typeof(bc->backlog) *q = &bc->backlog;

	for (uint32_t i = 0; i < q->n; i++)
		if (op_has_msg(&q->v[(q->head + i) % q->cap]))
			lp_msg_release(q->v[(q->head + i) % q->cap].ptr);
	if (q->n > 0)
		for (uint32_t i = 0; i < b->n_backlogged; i++)
			if (b->backlogged[i] == bc)
				b->backlogged[i--] = b->backlogged[--b->n_backlogged];
	q->n = q->head = 0;
}

static void run_backlogs(struct lp_broker *b)
{
	for (uint32_t i = 0; i < b->n_backlogged;) {
		if (backlog_run(b, b->backlogged[i]))
			b->backlogged[i] = b->backlogged[--b->n_backlogged];
		else
			i++;
	}
}

/* Operations of src's lane still held, or the next burst from its ring;
 * false when there are none. */
static bool held_refill(struct lp_broker *b, struct held *h, unsigned src, unsigned lane)
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
static void read_data_ring(struct lp_broker *b, unsigned src)
{
	struct held *h = &b->in[LP_MESH_DATA * b->n_workers + src];

	for (int round = 0; round < 4 && held_refill(b, h, src, LP_MESH_DATA); round++) {
		for (; h->i < h->n; h->i++) {
			const struct lp_shard_op *op = &h->v[h->i];
			struct oqueue *oq = lp_shard_queue(b, op->qid);

			if (oq != NULL && !lp_queue_can_take(oq->q, op->ptr))
				return;
			lp_shard_handle(b, op);
		}
	}
}

/* Read the control lane from shard src. An operation for a channel whose
 * connection cannot take a delivery now waits in that channel's backlog (in
 * order), so one slow consumer never stalls the others. */
static void read_ring(struct lp_broker *b, unsigned src)
{
	struct held *h = &b->in[LP_MESH_CTL * b->n_workers + src];

	for (int round = 0; round < 4 && held_refill(b, h, src, LP_MESH_CTL); round++) {
		for (; h->i < h->n; h->i++) {
			const struct lp_shard_op *op = &h->v[h->i];

			struct bchan *bc = op_channel(b, op);

			if (bc != NULL && (bc->backlog.n > 0 || !op_fits(bc, op))) {
				credit_flush(b);
				backlog_push(b, bc, op);
				continue;
			}
			if (op->type == LP_SHARD_GET || op->type == LP_SHARD_CONSUME ||
			    op->type == LP_SHARD_COUNTS || op->type == LP_SHARD_PURGE) {
				apply_earlier_ops(b, src);
			}
			lp_shard_handle(b, op);
		}
	}
	credit_flush(b);
}

/* ---- control ----------------------------------------------------------- */

static int relay_send(struct lp_broker *b, struct relay_msg *m)
{
	m->worker = (uint16_t)b->id;
	if (rte_ring_enqueue(lp_mesh_to_main(b->mesh, b->id), m) != 0) {
		free(m);
		return -ENOBUFS;
	}
	return 0;
}

void lp_broker_queue_unused(struct lp_broker *b, const char *vhost, const char *name)
{
	if (b->ctl != NULL) {
		lp_ctl_link_queue_unused(b->ctl, vhost, name);
		return;
	}
	struct relay_msg *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return;
	m->kind = RELAY_QUEUE_UNUSED;
	snprintf(m->unused.vhost, sizeof(m->unused.vhost), "%s", vhost);
	snprintf(m->unused.queue, sizeof(m->unused.queue), "%s", name);
	relay_send(b, m);
}

void lp_broker_connection_closed(struct lp_worker *w, uint64_t conn_id)
{
	struct lp_broker *b = w->broker;

	if (b == NULL)
		return;
	if (b->ctl != NULL) {
		lp_ctl_link_connection_closed(b->ctl, conn_id);
		return;
	}
	struct relay_msg *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return;
	m->kind = RELAY_CONN_CLOSED;
	m->conn_id = conn_id;
	relay_send(b, m);
}

/* Send bc->req (type) to lepus-control; the channel waits for the RESULT. */
static int submit(struct lp_broker *b, struct bchan *bc, uint16_t type)
{
	struct lp_amqp_conn *c = bc->conn;
	int64_t id;

	bc->req.conn_id = lp_amqp_session_id(bc->session);
	bc->req.worker = (uint16_t)b->id;
	snprintf(bc->req.vhost, sizeof(bc->req.vhost), "%s", lp_amqp_conn_vhost(c));
	snprintf(bc->req.user, sizeof(bc->req.user), "%s", lp_amqp_conn_user(c));
	bc->req_type = type;
	if (b->ctl != NULL) {
		id = lp_ctl_link_submit(b->ctl, type, &bc->req);
	} else if (b->mesh == NULL) {
		id = -ENOTCONN;
	} else {
		/* The arguments table is copied: the method's bytes do not outlive it. */
		struct relay_msg *m = malloc(sizeof(*m) + bc->req.args_len);

		id = -ENOMEM;
		if (m != NULL) {
			m->kind = RELAY_SUBMIT;
			m->type = type;
			m->cookie = ++b->req_seq;
			m->req = bc->req;
			if (bc->req.args_len > 0)
				memcpy(m->args, bc->req.args, bc->req.args_len);
			m->req.args = m->args;
			id = relay_send(b, m) == 0 ? (int64_t)b->req_seq : -ENOBUFS;
		}
	}
	if (id < 0) {
		lp_amqp_channel_error(c, bc->ch, LP_AMQP_INTERNAL_ERROR, bc->method_id,
				      "lepus-control unavailable (%s)", strerror((int)-id));
		return -EIO;
	}
	bc->req_id = (uint64_t)id;
	bc->wait = WAIT_CONTROL;
	return -EINPROGRESS;
}

/* A transaction's publishes are released, its acknowledgements forgotten. */
static void tx_discard(struct bchan *bc)
{
	for (uint32_t i = 0; i < bc->txq.n; i++)
		if (bc->txq.v[i].msg != NULL)
			lp_msg_release(bc->txq.v[i].msg);
	bc->txq.n = 0;
}

/* ---- channels ---------------------------------------------------------- */

struct bchan *lp_broker_chan(struct lp_broker *b, uint32_t id)
{
	uint32_t slot = lp_id_slot(id);

	if (lp_chan_worker(id) != b->id || slot >= b->cfg.max_channels)
		return NULL;
	struct bchan *bc = &b->chans[slot];

	return bc->used && bc->id == id ? bc : NULL;
}

static struct bchan *chan_get(struct lp_amqp_conn *c, uint16_t ch)
{
	return c->channels[ch].user;
}

static struct bconsumer *consumer_of(struct lp_broker *b, uint32_t handle)
{
	uint32_t slot = lp_id_slot(handle);

	if (slot >= b->cfg.max_consumers)
		return NULL;
	struct bconsumer *k = &b->consumers[slot];

	return k->used && (k->gen << LP_BROKER_SLOT_BITS | slot) == handle ? k : NULL;
}

static uint32_t consumer_handle(const struct lp_broker *b, const struct bconsumer *k)
{
	return k->gen << LP_BROKER_SLOT_BITS | (uint32_t)(k - b->consumers);
}

static void on_channel_open(void *ctx, struct lp_amqp_conn *c, uint16_t ch)
{
	struct lp_broker *b = broker_of(ctx);

	for (uint32_t i = 0; i < b->cfg.max_channels; i++) {
		struct bchan *bc = &b->chans[i];

		if (bc->used)
			continue;
		uint32_t gen = (bc->gen + 1) & LP_BROKER_SLOT_MASK;
		struct tagmap keep = bc->remote;

		memset(bc, 0, sizeof(*bc));
		bc->remote = (struct tagmap){.v = keep.v, .cap = keep.cap};
		bc->gen = gen ? gen : 1;
		bc->used = true;
		bc->id = lp_chan_id(b->id, bc->gen, i);
		bc->session = ctx;
		bc->conn = c;
		bc->ch = ch;
		c->channels[ch].user = bc;
		return;
	}
	/* No slot: the channel stays without state; its methods get 540. */
	c->channels[ch].user = NULL;
}

static void on_channel_close(void *ctx, struct lp_amqp_conn *c, uint16_t ch)
{
	struct lp_broker *b = broker_of(ctx);
	struct bchan *bc = chan_get(c, ch);

	if (bc == NULL)
		return;
	/* Every shard drops the channel's consumers and requeues its unacked
	 * deliveries in order, redelivered (this one at once). */
	for (unsigned w = 0; w < b->n_workers; w++)
		lp_broker_send(b, w, (struct lp_shard_op){.type = LP_SHARD_CHAN_CLOSED, .chan = bc->id});
	for (uint32_t i = 0; i < b->cfg.max_consumers; i++)
		if (b->consumers[i].used && b->consumers[i].chan == bc)
			b->consumers[i].used = false;
	if (bc->pub != NULL)
		lp_msg_release(bc->pub);
	/* A paused publisher that goes away must not be resumed later. */
	for (uint32_t i = 0; i < b->n_blocked; i++)
		if (b->blocked[i] == bc->session)
			b->blocked[i--] = b->blocked[--b->n_blocked];
	for (uint32_t i = 0; i < b->n_parked; i++)
		if (b->parked[i] == bc)
			b->parked[i--] = b->parked[--b->n_parked];
	bc->parked = false;
	backlog_drop(b, bc);
	free(bc->backlog.v);
	bc->backlog.v = NULL;
	bc->backlog.cap = 0;
	bc->remote.n = bc->remote.head = 0;
	tx_discard(bc);
	free(bc->txq.v);
	free(bc->confirms.v);
	bc->txq.v = NULL;
	bc->txq.cap = 0;
	bc->confirms.v = NULL;
	bc->confirms.n = bc->confirms.cap = 0;
	bc->used = false;
	c->channels[ch].user = NULL;
}

/* ---- delivery tags from other shards ------------------------------------ */

static int tagmap_push(struct tagmap *m, uint64_t tag, unsigned owner, uint64_t owner_tag)
{
	if (m->n == m->cap) {
		uint32_t cap = m->cap ? m->cap * 2 : 256;
		struct tagent *v = malloc(cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		for (uint32_t i = 0; i < m->n; i++)
			v[i] = m->v[(m->head + i) % m->cap];
		free(m->v);
		m->v = v;
		m->cap = cap;
		m->head = 0;
	}
	m->v[(m->head + m->n) % m->cap] =
		(struct tagent){.tag = tag, .owner_tag = owner_tag, .owner = (uint16_t)owner};
	m->n++;
	return 0;
}

static struct tagent *tagmap_at(struct tagmap *m, uint32_t i)
{
	return &m->v[(m->head + i) % m->cap];
}

static void tagmap_trim(struct tagmap *m)
{
	while (m->n > 0 && tagmap_at(m, 0)->settled) {
		m->head = (m->head + 1) % m->cap;
		m->n--;
	}
}

/* Settle the channel's remote deliveries named by (tag, multiple); the
 * owners get one operation each. Returns how many were settled. */
static int settle_remote(struct lp_broker *b, struct bchan *bc, uint64_t tag, uint8_t flags)
{
	struct tagmap *m = &bc->remote;
	uint64_t upto[256] = {0};
	int n = 0;

	if (m->n == 0)
		return 0;
	if (!(flags & LP_SHARD_F_MULTIPLE)) {
		uint32_t lo = 0, hi = m->n;

		while (lo < hi) { /* tags grow along the FIFO */
			uint32_t mid = (lo + hi) / 2;

			if (tagmap_at(m, mid)->tag < tag)
				lo = mid + 1;
			else
				hi = mid;
		}
		struct tagent *e = lo < m->n ? tagmap_at(m, lo) : NULL;

		if (e == NULL || e->tag != tag || e->settled)
			return 0;
		e->settled = true;
		lp_broker_send(b, e->owner, (struct lp_shard_op){.type = LP_SHARD_SETTLE, .chan = bc->id,
								 .tag = e->owner_tag, .flags = flags});
		tagmap_trim(m);
		return 1;
	}
	while (m->n > 0 && (tag == 0 || tagmap_at(m, 0)->tag <= tag)) {
		struct tagent *e = tagmap_at(m, 0);

		if (!e->settled) {
			upto[e->owner] = e->owner_tag;
			n++;
		}
		m->head = (m->head + 1) % m->cap;
		m->n--;
	}
	for (unsigned w = 0; w < b->n_workers; w++)
		if (upto[w] != 0)
			lp_broker_send(b, w, (struct lp_shard_op){.type = LP_SHARD_SETTLE, .chan = bc->id,
								 .tag = upto[w], .flags = flags});
	tagmap_trim(m);
	return n;
}

/* ---- requests to a queue's owner --------------------------------------- */

static void continue_request(struct lp_broker *b, struct bchan *bc, const struct lp_shard_op *r);

/* Ask the owner of qid; a local owner answers at once. Returns 0 (done),
 * -EINPROGRESS (the channel waits for the reply) or what the reply gave. */
static int request(struct lp_broker *b, struct bchan *bc, unsigned owner, struct lp_shard_op op,
		   enum bwait wait)
{
	op.chan = bc->id;
	op.src = (uint16_t)b->id;
	bc->wait = wait;
	if (owner != b->id) {
		lp_broker_send(b, owner, op);
		return -EINPROGRESS;
	}
	struct lp_shard_op reply;

	if (op.type != LP_SHARD_CANCEL) /* sees what was published and closed before */
		apply_earlier_ops(b, b->id);
	/* The deliveries just applied took tags: the Get's is the next one. */
	if (op.type == LP_SHARD_GET)
		op.tag = bc->next_tag + 1;
	lp_shard_request(b, &op, &reply);
	reply.src = (uint16_t)b->id;
	continue_request(b, bc, &reply);
	return bc->wait != WAIT_NONE ? -EINPROGRESS : 0;
}

static const struct lp_topology_queue *queue_lookup(const struct lp_broker *b, const char *vhost,
						    const char *name)
{
	const struct lp_topology *t = snap(b)->topo;

	return lp_topology_queue(t, lp_topology_queue_find(t, vhost, name, strlen(name)));
}

/* ---- declarations ----------------------------------------------------- */

/* Empty queue name: the channel's most recently declared queue (RabbitMQ). */
static void queue_name(struct bchan *bc, char *dst, struct lp_amqp_bytes v)
{
	if (v.len == 0)
		snprintf(dst, NAME_LEN, "%s", bc->last_queue);
	else
		copy_name(dst, v);
}

static void req_args(struct bchan *bc, struct lp_amqp_bytes args)
{
	bc->req.args = args.ptr;
	bc->req.args_len = (uint16_t)args.len; /* checked in declaration() */
}

static struct lp_amqp_bytes method_args(const struct lp_amqp_method *m)
{
	switch (m->id) {
	case LP_AMQP_EXCHANGE_DECLARE:
		return m->exchange_declare.arguments;
	case LP_AMQP_EXCHANGE_BIND:
	case LP_AMQP_EXCHANGE_UNBIND:
		return m->exchange_bind.arguments;
	case LP_AMQP_QUEUE_DECLARE:
		return m->queue_declare.arguments;
	case LP_AMQP_QUEUE_BIND:
		return m->queue_bind.arguments;
	case LP_AMQP_QUEUE_UNBIND:
		return m->queue_unbind.arguments;
	default:
		return (struct lp_amqp_bytes){0};
	}
}

static int declaration(struct lp_broker *b, struct bchan *bc, const struct lp_amqp_method *m)
{
	struct lp_ctl_def_req *r = &bc->req;
	struct lp_amqp_bytes args = method_args(m);

	memset(r, 0, sizeof(*r));
	bc->method_id = m->id;
	bc->nowait = false;
	/* Arguments tables travel to lepus-control whole: refuse what cannot. */
	if (args.len > LP_CTL_ARGS_MAX) {
		lp_amqp_channel_error(bc->conn, bc->ch, LP_AMQP_PRECONDITION_FAILED, m->id,
				      "arguments table of %u octets is over Lepus's limit of %u",
				      args.len, LP_CTL_ARGS_MAX);
		return -EINVAL;
	}
	switch (m->id) {
	case LP_AMQP_EXCHANGE_DECLARE: {
		const struct lp_amqp_exchange_declare *a = &m->exchange_declare;

		r->object = LP_CTL_OBJ_EXCHANGE;
		r->flags = (a->passive ? LP_CTL_F_PASSIVE : 0) | (a->durable ? LP_CTL_F_DURABLE : 0) |
			   (a->auto_delete ? LP_CTL_F_AUTO_DELETE : 0) |
			   (a->internal ? LP_CTL_F_INTERNAL : 0);
		copy_name(r->name, a->exchange);
		copy_name(r->type, a->type);
		req_args(bc, a->arguments);
		bc->nowait = a->nowait;
		return submit(b, bc, LP_CTL_DECLARE);
	}
	case LP_AMQP_EXCHANGE_DELETE:
		r->object = LP_CTL_OBJ_EXCHANGE;
		r->flags = m->exchange_delete.if_unused ? LP_CTL_F_IF_UNUSED : 0;
		copy_name(r->name, m->exchange_delete.exchange);
		bc->nowait = m->exchange_delete.nowait;
		return submit(b, bc, LP_CTL_DELETE);
	case LP_AMQP_EXCHANGE_BIND:
	case LP_AMQP_EXCHANGE_UNBIND: {
		const struct lp_amqp_exchange_bind *a = &m->exchange_bind; /* same layout */

		r->object = LP_CTL_OBJ_EXCHANGE;
		copy_name(r->name, a->destination);
		copy_name(r->source, a->source);
		copy_name(r->routing_key, a->routing_key);
		req_args(bc, a->arguments);
		bc->nowait = a->nowait;
		return submit(b, bc, m->id == LP_AMQP_EXCHANGE_BIND ? LP_CTL_BIND : LP_CTL_UNBIND);
	}
	case LP_AMQP_QUEUE_DECLARE: {
		const struct lp_amqp_queue_declare *a = &m->queue_declare;

		r->object = LP_CTL_OBJ_QUEUE;
		r->flags = (a->passive ? LP_CTL_F_PASSIVE : 0) | (a->durable ? LP_CTL_F_DURABLE : 0) |
			   (a->auto_delete ? LP_CTL_F_AUTO_DELETE : 0) |
			   (a->exclusive ? LP_CTL_F_EXCLUSIVE : 0);
		copy_name(r->name, a->queue);
		req_args(bc, a->arguments);
		bc->nowait = a->nowait;
		return submit(b, bc, LP_CTL_DECLARE);
	}
	case LP_AMQP_QUEUE_BIND:
		r->object = LP_CTL_OBJ_QUEUE;
		queue_name(bc, r->name, m->queue_bind.queue);
		copy_name(r->source, m->queue_bind.exchange);
		copy_name(r->routing_key, m->queue_bind.routing_key);
		req_args(bc, m->queue_bind.arguments);
		bc->nowait = m->queue_bind.nowait;
		return submit(b, bc, LP_CTL_BIND);
	case LP_AMQP_QUEUE_UNBIND:
		r->object = LP_CTL_OBJ_QUEUE;
		queue_name(bc, r->name, m->queue_unbind.queue);
		copy_name(r->source, m->queue_unbind.exchange);
		copy_name(r->routing_key, m->queue_unbind.routing_key);
		req_args(bc, m->queue_unbind.arguments);
		return submit(b, bc, LP_CTL_UNBIND);
	case LP_AMQP_QUEUE_PURGE:
		r->object = LP_CTL_OBJ_QUEUE;
		queue_name(bc, r->name, m->queue_purge.queue);
		bc->nowait = m->queue_purge.nowait;
		return submit(b, bc, LP_CTL_PURGE);
	default: { /* LP_AMQP_QUEUE_DELETE: the owner's counts first */
		const struct lp_amqp_queue_delete *a = &m->queue_delete;
		const struct lp_topology_queue *tq;

		r->object = LP_CTL_OBJ_QUEUE;
		queue_name(bc, r->name, a->queue);
		r->flags = (a->if_unused ? LP_CTL_F_IF_UNUSED : 0) | (a->if_empty ? LP_CTL_F_IF_EMPTY : 0);
		bc->nowait = a->nowait;
		tq = queue_lookup(b, lp_amqp_conn_vhost(bc->conn), r->name);
		if (tq == NULL) /* lepus-control answers (404, or Delete-Ok 0 as RabbitMQ) */
			return submit(b, bc, LP_CTL_DELETE);
		return request(b, bc, lp_broker_owner(b, tq->owner_shard),
			       (struct lp_shard_op){.type = LP_SHARD_COUNTS, .qid = tq->qid},
			       WAIT_DELETE_COUNTS);
	}
	}
}

/* Reply text "CODE_NAME - text" from control: the channel adds the name itself. */
static const char *strip_code_name(const char *text)
{
	const char *dash = strstr(text, " - ");

	return dash != NULL ? dash + 3 : text;
}

static void send_ok(struct bchan *bc, const struct lp_amqp_method *ok)
{
	if (!bc->nowait)
		lp_amqp_conn_send_method(bc->conn, bc->ch, ok);
}

/* lepus-control accepted bc's declaration: answer, asking the owner first
 * where the answer carries counts. */
static int answer(struct lp_broker *b, struct bchan *bc, const struct lp_ctl_result *r)
{
	const char *vhost = lp_amqp_conn_vhost(bc->conn);
	const struct lp_topology_queue *tq;
	struct lp_amqp_method ok = {0};

	switch (bc->method_id) {
	case LP_AMQP_EXCHANGE_DECLARE:
		ok.id = LP_AMQP_EXCHANGE_DECLARE_OK;
		break;
	case LP_AMQP_EXCHANGE_DELETE:
		ok.id = LP_AMQP_EXCHANGE_DELETE_OK;
		break;
	case LP_AMQP_EXCHANGE_BIND:
		ok.id = LP_AMQP_EXCHANGE_BIND_OK;
		break;
	case LP_AMQP_EXCHANGE_UNBIND:
		ok.id = LP_AMQP_EXCHANGE_UNBIND_OK;
		break;
	case LP_AMQP_QUEUE_DECLARE:
		snprintf(bc->last_queue, sizeof(bc->last_queue), "%s", r->queue);
		tq = queue_lookup(b, vhost, r->queue);
		if (tq != NULL)
			return request(b, bc, lp_broker_owner(b, tq->owner_shard),
				       (struct lp_shard_op){.type = LP_SHARD_COUNTS, .qid = tq->qid},
				       WAIT_DECLARE_COUNTS);
		ok.id = LP_AMQP_QUEUE_DECLARE_OK;
		ok.queue_declare_ok.queue = lp_amqp_cstr(bc->last_queue);
		break;
	case LP_AMQP_QUEUE_BIND:
		ok.id = LP_AMQP_QUEUE_BIND_OK;
		break;
	case LP_AMQP_QUEUE_UNBIND:
		ok.id = LP_AMQP_QUEUE_UNBIND_OK;
		break;
	case LP_AMQP_QUEUE_PURGE:
		tq = queue_lookup(b, vhost, bc->req.name);
		if (tq != NULL)
			return request(b, bc, lp_broker_owner(b, tq->owner_shard),
				       (struct lp_shard_op){.type = LP_SHARD_PURGE, .qid = tq->qid},
				       WAIT_PURGE);
		ok.id = LP_AMQP_QUEUE_PURGE_OK;
		break;
	default: /* LP_AMQP_QUEUE_DELETE: the owner drops it with the next snapshot */
		ok.id = LP_AMQP_QUEUE_DELETE_OK;
		ok.queue_delete_ok.message_count = bc->delete_count;
		break;
	}
	send_ok(bc, &ok);
	return 0;
}

void lp_broker_on_result(struct lp_worker *w, const struct lp_ctl_result *r)
{
	struct lp_broker *b = w->broker;

	if (b == NULL)
		return;
	for (uint32_t i = 0; i < b->cfg.max_channels; i++) {
		struct bchan *bc = &b->chans[i];

		if (!bc->used || bc->wait != WAIT_CONTROL || bc->req_id != r->req_id)
			continue;
		bc->req_id = 0;
		bc->wait = WAIT_NONE;
		/* The batch carrying r->version was published before this RESULT
		 * was read: refresh now, as the answer below reads it. */
		if (w->snapshots != NULL)
			w->snap = lp_snapshot_current(w->snapshots);
		if (r->reply_code != 0)
			lp_amqp_channel_error(bc->conn, bc->ch, r->reply_code, bc->method_id, "%s",
					      strip_code_name(r->text));
		else if (answer(b, bc, r) == -EINPROGRESS)
			return;
		lp_amqp_session_resume(bc->session);
		return;
	}
}

/* ---- publishing ------------------------------------------------------- */

static int start_publish(struct lp_broker *b, struct bchan *bc, const struct lp_amqp_basic_publish *p)
{
	const char *vhost = lp_amqp_conn_vhost(bc->conn);
	char x[NAME_LEN];

	copy_name(x, p->exchange);
	uint32_t xi = lp_topology_exchange_find(snap(b)->topo, vhost, x, strlen(x));

	if (xi == LP_TOPOLOGY_NONE) {
		lp_amqp_channel_error(bc->conn, bc->ch, LP_AMQP_NOT_FOUND, LP_AMQP_BASIC_PUBLISH,
				      "no exchange '%s' in vhost '%s'", x, vhost);
		return -ENOENT;
	}
	if (x[0] != '\0' && lp_topology_exchange_internal(snap(b)->topo, xi)) {
		lp_amqp_channel_error(bc->conn, bc->ch, LP_AMQP_ACCESS_REFUSED, LP_AMQP_BASIC_PUBLISH,
				      "cannot publish to internal exchange '%s' in vhost '%s'", x, vhost);
		return -EACCES;
	}
	bc->pub_exchange = xi;
	bc->pub_mandatory = p->mandatory;
	bc->pub = lp_msg_create(b->pool, (const char *)p->exchange.ptr, p->exchange.len,
				(const char *)p->routing_key.ptr, p->routing_key.len, NULL, 0, NULL, 0,
				p->mandatory ? LP_MSG_F_MANDATORY : 0);
	if (bc->pub == NULL) {
		lp_amqp_channel_error(bc->conn, bc->ch, LP_AMQP_INTERNAL_ERROR, LP_AMQP_BASIC_PUBLISH,
				      "message store full");
		return -ENOSPC;
	}
	/* Back-pressure, never loss: while the pool is low or a ring backs up,
	 * this publisher's connection stops reading (lp_broker_poll resumes it). */
	if (lp_msg_pool_available(b->pool) < b->low_water || stages_full(b, STAGE_PAUSE)) {
		for (uint32_t i = 0; i < b->n_blocked; i++)
			if (b->blocked[i] == bc->session)
				return -EINPROGRESS;
		if (b->n_blocked < b->cfg.max_channels) {
			b->blocked[b->n_blocked++] = bc->session;
			return -EINPROGRESS;
		}
	}
	return 0;
}

/* Confirm seq as ack or nack, unless owners' verdicts are still awaited. */
static void confirm_publish(struct bchan *bc, uint64_t seq, bool ack)
{
	struct lp_amqp_method m = {0};

	if (ack) {
		m.id = LP_AMQP_BASIC_ACK;
		m.basic_ack.delivery_tag = seq;
	} else {
		m.id = LP_AMQP_BASIC_NACK;
		m.basic_nack.delivery_tag = seq;
	}
	lp_amqp_conn_send_method(bc->conn, bc->ch, &m);
}

static struct pconfirm *pconfirm_add(struct bchan *bc, uint64_t seq)
{
	if (bc->confirms.n == bc->confirms.cap) {
		uint32_t cap = bc->confirms.cap ? bc->confirms.cap * 2 : 16;
		struct pconfirm *v = realloc(bc->confirms.v, cap * sizeof(*v));

		if (v == NULL)
			return NULL;
		bc->confirms.v = v;
		bc->confirms.cap = cap;
	}
	struct pconfirm *p = &bc->confirms.v[bc->confirms.n++];

	*p = (struct pconfirm){.seq = seq};
	return p;
}

void lp_broker_confirm(struct lp_broker *b, const struct lp_shard_op *op)
{
	struct bchan *bc = lp_broker_chan(b, op->chan);

	for (uint32_t i = 0; bc != NULL && i < bc->confirms.n; i++) {
		struct pconfirm *p = &bc->confirms.v[i];

		if (p->seq != op->tag)
			continue;
		p->nack |= !(op->flags & LP_SHARD_F_ACK);
		if (--p->outstanding > 0)
			return;
		confirm_publish(bc, p->seq, !p->nack);
		memmove(p, p + 1, (bc->confirms.n - i - 1) * sizeof(*p));
		bc->confirms.n--;
		return;
	}
}

/*
 * Route m (published to exchange xi; the caller keeps its reference) into
 * its queues: here at once, elsewhere through the owner's ring. seq > 0: the
 * publisher uses confirms; the confirm goes now unless a queue on another
 * shard may refuse it (x-overflow reject-publish), then when it has said.
 */
static int route_publish(struct lp_broker *b, struct bchan *bc, struct lp_msg *m, uint32_t xi,
			 bool mandatory, uint64_t seq)
{
	uint32_t dests[ROUTE_MAX];
	struct lp_amqp_bytes headers = {m->props + m->headers_off, m->headers_len};
	const struct lp_topology *t = snap(b)->topo;
	struct pconfirm *wait = NULL;
	bool rejected = false;
	int n;

	n = lp_topology_route(t, xi, m->rkey, m->rkey_len, headers, dests, ROUTE_MAX);
	if (n > ROUTE_MAX)
		n = ROUTE_MAX;
	/* A full queue here: nothing is routed yet, the publisher waits. */
	for (int i = 0; i < n; i++) {
		const struct lp_topology_queue *tq = lp_topology_queue(t, dests[i]);
		struct oqueue *oq;

		if (lp_broker_owner(b, tq->owner_shard) == b->id &&
		    (oq = lp_shard_queue(b, tq->qid)) != NULL && !lp_queue_can_take(oq->q, m))
			return -EAGAIN;
	}
	for (int i = 0; i < n; i++) {
		const struct lp_topology_queue *tq = lp_topology_queue(t, dests[i]);
		unsigned owner = lp_broker_owner(b, tq->owner_shard);
		struct lp_shard_op op = {.type = LP_SHARD_ENQUEUE, .qid = tq->qid, .ptr = m};

		lp_msg_ref(m, 1);
		if (owner == b->id) {
			int rc = lp_shard_enqueue(b, tq->qid, m);

			/* Refused (reject-publish) or full: the publisher learns it. */
			rejected |= rc == -ENOBUFS || rc == -ENOSPC;
			continue;
		}
		b->stats.routed_remote++;
		if (seq != 0 && tq->reject_publish) {
			if (wait == NULL)
				wait = pconfirm_add(bc, seq);
			if (wait != NULL) {
				wait->outstanding++;
				op.flags = LP_SHARD_F_CONFIRM;
				op.chan = bc->id;
				op.tag = seq;
			}
		}
		lp_broker_send(b, owner, op);
	}
	if (n == 0) {
		b->stats.unroutable++;
		if (mandatory) {
			struct lp_amqp_method ret = {.id = LP_AMQP_BASIC_RETURN};

			ret.basic_return.reply_code = LP_AMQP_NO_ROUTE;
			ret.basic_return.reply_text = lp_amqp_cstr("NO_ROUTE");
			ret.basic_return.exchange =
				(struct lp_amqp_bytes){(const uint8_t *)m->exchange, m->exchange_len};
			ret.basic_return.routing_key =
				(struct lp_amqp_bytes){(const uint8_t *)m->rkey, m->rkey_len};
			lp_amqp_conn_send_content_raw(bc->conn, bc->ch, &ret, m->props, m->props_len,
						      m->body, m->body_len);
		}
	}
	if (seq == 0)
		return 0;
	if (wait != NULL)
		wait->nack |= rejected;
	else
		confirm_publish(bc, seq, !rejected);
	return 0;
}

static int tx_push(struct bchan *bc, struct txent e)
{
	if (bc->txq.n == bc->txq.cap) {
		uint32_t cap = bc->txq.cap ? bc->txq.cap * 2 : 64;
		struct txent *v = realloc(bc->txq.v, cap * sizeof(*v));

		if (v == NULL) {
			lp_amqp_channel_error(bc->conn, bc->ch, LP_AMQP_RESOURCE_ERROR, e.method_id,
					      "no memory for the transaction");
			return -ENOMEM;
		}
		bc->txq.v = v;
		bc->txq.cap = cap;
	}
	bc->txq.v[bc->txq.n++] = e;
	return 0;
}

/* Route the channel's complete publish; park it while a queue of this
 * shard is full. Returns 0 or -EINPROGRESS (parked: the connection waits). */
static int finish_publish(struct lp_broker *b, struct bchan *bc)
{
	struct lp_msg *m = bc->pub;

	if (bc->tx) { /* routed at Tx.Commit (the reference goes with it) */
		bc->pub = NULL;
		b->stats.published++;
		if (tx_push(bc, (struct txent){.msg = m, .mandatory = bc->pub_mandatory,
					       .method_id = LP_AMQP_BASIC_PUBLISH}) != 0)
			lp_msg_release(m);
		return 0;
	}
	if (route_publish(b, bc, m, bc->pub_exchange, bc->pub_mandatory,
			  bc->confirm ? bc->publish_seq + 1 : 0) == -EAGAIN) {
		if (!bc->parked) {
			bc->parked = true;
			b->parked[b->n_parked++] = bc;
		}
		return -EINPROGRESS;
	}
	if (bc->confirm)
		bc->publish_seq++;
	bc->pub = NULL;
	b->stats.published++;
	lp_msg_release(m);
	return 0;
}

/* Retry parked publishes; a channel whose publish went resumes reading. */
static void retry_parked(struct lp_broker *b)
{
	for (uint32_t i = 0; i < b->n_parked;) {
		struct bchan *bc = b->parked[i];

		if (finish_publish(b, bc) == -EINPROGRESS) {
			i++;
			continue;
		}
		bc->parked = false;
		b->parked[i] = b->parked[--b->n_parked];
		lp_amqp_session_resume(bc->session);
	}
}

/* RabbitMQ validates user-id: it must name the connection's user, else the
 * channel closes with 406 and the message is not routed. */
static bool user_id_valid(struct bchan *bc, const struct lp_amqp_basic_properties *p)
{
	const char *user = lp_amqp_conn_user(bc->conn);

	if (!(p->flags & LP_AMQP_BASIC_USER_ID_FLAG) || lp_amqp_bytes_eq(p->user_id, user))
		return true;
	lp_amqp_channel_error(bc->conn, bc->ch, LP_AMQP_PRECONDITION_FAILED, LP_AMQP_BASIC_PUBLISH,
			      "user_id property set to '%.*s' but authenticated user was '%s'",
			      (int)p->user_id.len, (const char *)p->user_id.ptr, user);
	lp_msg_release(bc->pub);
	bc->pub = NULL;
	return false;
}

static int on_content_header(void *ctx, struct lp_amqp_conn *c, uint16_t ch,
			     const struct lp_amqp_content_header *h)
{
	struct lp_broker *b = broker_of(ctx);
	struct bchan *bc = chan_get(c, ch);
	int n;

	if (bc == NULL || bc->pub == NULL)
		return -ENOTSUP;
	if (!user_id_valid(bc, &h->props))
		return -EACCES;
	/* The property list is kept as the publisher encoded it (validated by
	 * the channel's decode): deliveries copy it, never re-encode it; the
	 * headers table is located once, for routing. */
	n = lp_msg_props_reserve(bc->pub, h->props_raw.len); /* over 4 KiB: heap */
	if (n < 0) {
		lp_amqp_channel_error(c, ch, LP_AMQP_CONTENT_TOO_LARGE, LP_AMQP_BASIC_PUBLISH,
				      "message properties of %u octets do not fit in the memory for "
				      "large messages now", h->props_raw.len);
		lp_msg_release(bc->pub);
		bc->pub = NULL;
		return n;
	}
	memcpy(bc->pub->props, h->props_raw.ptr, h->props_raw.len);
	bc->pub->props_len = h->props_raw.len;
	if (h->props.flags & LP_AMQP_BASIC_HEADERS_FLAG) {
		bc->pub->headers_off = (uint32_t)(h->props.headers.ptr - h->props_raw.ptr);
		bc->pub->headers_len = h->props.headers.len;
	}
	/* Over the pool's slot, the body gets a heap buffer from the pool's
	 * large-message budget (message.h); the configured max_message_size
	 * was checked by the channel (amqp_channel.c, 406 as RabbitMQ). */
	n = lp_msg_body_reserve(bc->pub, h->body_size);
	if (n < 0) {
		if (n == -EMSGSIZE)
			lp_amqp_channel_error(c, ch, LP_AMQP_PRECONDITION_FAILED, LP_AMQP_BASIC_PUBLISH,
					      "message size %" PRIu64 " is larger than max size %" PRIu64,
					      h->body_size, lp_msg_pool_large_max(b->pool));
		else /* AMQP 0-9-1 1.3 content-too-large: the client may retry later */
			lp_amqp_channel_error(c, ch, LP_AMQP_CONTENT_TOO_LARGE, LP_AMQP_BASIC_PUBLISH,
					      "message size %" PRIu64 " does not fit in the memory for large "
					      "messages now (%" PRIu64 " of %" PRIu64 " bytes in use)",
					      h->body_size, lp_msg_pool_large_bytes(b->pool),
					      lp_msg_pool_large_budget(b->pool));
		lp_msg_release(bc->pub);
		bc->pub = NULL;
		return n;
	}
	if (h->body_size == 0)
		return finish_publish(b, bc);
	return 0;
}

static int on_content_body(void *ctx, struct lp_amqp_conn *c, uint16_t ch, const uint8_t *p,
			   size_t len, bool last)
{
	struct lp_broker *b = broker_of(ctx);
	struct bchan *bc = chan_get(c, ch);

	if (bc == NULL || bc->pub == NULL)
		return -ENOTSUP;
	/* Room for the header's body_size was reserved; the channel checks
	 * the pieces add up to it (spec 4.2.6.2). */
	memcpy(bc->pub->body + bc->pub->body_len, p, len);
	bc->pub->body_len += (uint32_t)len;
	if (last)
		return finish_publish(b, bc);
	return 0;
}

/* ---- consuming -------------------------------------------------------- */

static struct bconsumer *consumer_find(struct lp_broker *b, struct bchan *bc, struct lp_amqp_bytes tag)
{
	for (uint32_t i = 0; i < b->cfg.max_consumers; i++) {
		struct bconsumer *k = &b->consumers[i];

		if (k->used && k->chan == bc && k->tag_len == tag.len && memcmp(k->tag, tag.ptr, tag.len) == 0)
			return k;
	}
	return NULL;
}

/* The queue a Basic.Consume or Basic.Get names, or NULL after a channel error. */
static const struct lp_topology_queue *method_queue(struct lp_broker *b, struct bchan *bc,
						    struct lp_amqp_bytes name, uint32_t method_id)
{
	struct lp_amqp_conn *c = bc->conn;
	char qname[NAME_LEN];

	queue_name(bc, qname, name);
	const struct lp_topology_queue *tq = queue_lookup(b, lp_amqp_conn_vhost(c), qname);

	if (tq == NULL) {
		lp_amqp_channel_error(c, bc->ch, LP_AMQP_NOT_FOUND, method_id,
				      "no queue '%s' in vhost '%s'", qname, lp_amqp_conn_vhost(c));
		return NULL;
	}
	if ((tq->flags & LP_CTL_Q_EXCLUSIVE) && tq->owner_conn != lp_amqp_session_id(bc->session)) {
		lp_amqp_channel_error(c, bc->ch, LP_AMQP_RESOURCE_LOCKED, method_id,
				      "cannot obtain exclusive access to locked queue '%s' in vhost '%s'. "
				      "It could be originally declared on another connection or the "
				      "exclusive property value does not match that of the original "
				      "declaration.", qname, lp_amqp_conn_vhost(c));
		return NULL;
	}
	return tq;
}

/* A consumer's prefetch. The channel-wide limit (global) is counted where
 * the channel is; a queue on another shard cannot see that count, so there
 * the consumer's own limit is capped at the channel's instead. */
static uint16_t consumer_prefetch(const struct lp_broker *b, const struct bchan *bc,
				  const struct bconsumer *k)
{
	if (k->owner == b->id || bc->prefetch_global == 0)
		return bc->prefetch;
	return bc->prefetch == 0 || bc->prefetch > bc->prefetch_global ? bc->prefetch_global
									 : bc->prefetch;
}

static int consume(struct lp_broker *b, struct bchan *bc, const struct lp_amqp_basic_consume *a)
{
	struct lp_amqp_conn *c = bc->conn;
	struct bconsumer *k = NULL;
	const struct lp_topology_queue *tq = method_queue(b, bc, a->queue, LP_AMQP_BASIC_CONSUME);

	if (tq == NULL)
		return -ENOENT;
	if (a->consumer_tag.len > 0 && consumer_find(b, bc, a->consumer_tag) != NULL) {
		lp_amqp_conn_fail(c, LP_AMQP_NOT_ALLOWED, LP_AMQP_BASIC_CONSUME,
				  "attempt to reuse consumer tag '%.*s'", (int)a->consumer_tag.len,
				  (const char *)a->consumer_tag.ptr);
		return -EEXIST;
	}
	for (uint32_t i = 0; i < b->cfg.max_consumers && k == NULL; i++)
		if (!b->consumers[i].used)
			k = &b->consumers[i];
	if (k == NULL) {
		lp_amqp_channel_error(c, bc->ch, LP_AMQP_RESOURCE_ERROR, LP_AMQP_BASIC_CONSUME,
				      "too many consumers on this worker");
		return -ENOSPC;
	}
	if (a->consumer_tag.len > 0)
		copy_name(k->tag, a->consumer_tag);
	else
		snprintf(k->tag, sizeof(k->tag), "amq.ctag-lepus-%u-%" PRIu64, b->id, ++b->ctag_seq);
	k->tag_len = (uint8_t)strlen(k->tag);
	k->gen = ((k->gen + 1) & (0xfffffu)) ? (k->gen + 1) & 0xfffffu : 1;
	k->used = true;
	k->ready = false;
	k->chan = bc;
	k->qid = tq->qid;
	k->owner = (uint16_t)lp_broker_owner(b, tq->owner_shard);
	k->no_ack = a->no_ack;
	bc->wait_consumer = (uint32_t)(k - b->consumers);
	bc->nowait = a->nowait;
	return request(b, bc, k->owner,
		       (struct lp_shard_op){.type = LP_SHARD_CONSUME, .qid = tq->qid,
					    .aux = consumer_handle(b, k), .tag = consumer_prefetch(b, bc, k),
					    .flags = (uint8_t)((a->no_ack ? LP_SHARD_F_NO_ACK : 0) |
							       (a->exclusive ? LP_SHARD_F_EXCLUSIVE : 0))},
		       WAIT_CONSUME);
}

static void consume_done(struct bchan *bc, struct bconsumer *k, int id, const char *qname)
{
	struct lp_amqp_conn *c = bc->conn;

	if (id < 0) {
		k->used = false;
		if (id == -EBUSY)
			lp_amqp_channel_error(c, bc->ch, LP_AMQP_ACCESS_REFUSED, LP_AMQP_BASIC_CONSUME,
					      "queue '%s' in vhost '%s' in exclusive use", qname,
					      lp_amqp_conn_vhost(c));
		else if (id == -ENOENT)
			lp_amqp_channel_error(c, bc->ch, LP_AMQP_NOT_FOUND, LP_AMQP_BASIC_CONSUME,
					      "no queue '%s' in vhost '%s'", qname, lp_amqp_conn_vhost(c));
		else
			lp_amqp_channel_error(c, bc->ch, LP_AMQP_RESOURCE_ERROR, LP_AMQP_BASIC_CONSUME,
					      "cannot add a consumer (%d)", id);
		return;
	}
	k->owner_id = (uint32_t)id;
	k->ready = true;
	if (!bc->nowait) {
		struct lp_amqp_method ok = {.id = LP_AMQP_BASIC_CONSUME_OK};

		ok.basic_consume_ok.consumer_tag = (struct lp_amqp_bytes){(const uint8_t *)k->tag, k->tag_len};
		lp_amqp_conn_send_method(c, bc->ch, &ok);
	}
}

static void send_cancel_ok(struct bchan *bc, const struct bconsumer *k)
{
	struct lp_amqp_method ok = {.id = LP_AMQP_BASIC_CANCEL_OK};

	ok.basic_cancel_ok.consumer_tag = (struct lp_amqp_bytes){(const uint8_t *)k->tag, k->tag_len};
	if (!bc->nowait)
		lp_amqp_conn_send_method(bc->conn, bc->ch, &ok);
}

static int cancel(struct lp_broker *b, struct bchan *bc, const struct lp_amqp_basic_cancel *a)
{
	struct bconsumer *k = consumer_find(b, bc, a->consumer_tag);

	bc->nowait = a->nowait;
	/* RabbitMQ: unknown tags are fine; unacked deliveries stay with the channel. */
	if (k == NULL || !k->ready) {
		struct lp_amqp_method ok = {.id = LP_AMQP_BASIC_CANCEL_OK};

		ok.basic_cancel_ok.consumer_tag = a->consumer_tag;
		if (!a->nowait)
			lp_amqp_conn_send_method(bc->conn, bc->ch, &ok);
		return 0;
	}
	bc->wait_consumer = (uint32_t)(k - b->consumers);
	return request(b, bc, k->owner,
		       (struct lp_shard_op){.type = LP_SHARD_CANCEL, .qid = k->qid, .aux = k->owner_id},
		       WAIT_CANCEL);
}

void lp_broker_consumer_cancelled(struct lp_broker *b, uint32_t handle)
{
	struct bconsumer *k = consumer_of(b, handle);

	if (k == NULL)
		return;
	k->used = false;
	if (!k->ready || !lp_amqp_conn_cap_cancel_notify(k->chan->conn))
		return;
	/* RabbitMQ's consumer_cancel_notify: the server cancels, nowait. */
	struct lp_amqp_method m = {.id = LP_AMQP_BASIC_CANCEL};

	m.basic_cancel.consumer_tag = (struct lp_amqp_bytes){(const uint8_t *)k->tag, k->tag_len};
	m.basic_cancel.nowait = true;
	lp_amqp_conn_send_method(k->chan->conn, k->chan->ch, &m);
}

/* Ack/Nack/Reject now: the channel's deliveries may come from any shard. */
static int settle_now(struct lp_broker *b, struct bchan *bc, uint32_t method_id, uint64_t tag,
		      uint8_t flags)
{
	bool multiple = flags & LP_SHARD_F_MULTIPLE;
	int n = lp_shard_settle(b, &(struct lp_shard_op){.type = LP_SHARD_SETTLE, .chan = bc->id,
							  .tag = tag, .flags = flags});

	n += settle_remote(b, bc, tag, flags);
	bc->unacked = bc->unacked > (uint32_t)n ? bc->unacked - (uint32_t)n : 0;
	if (n == 0 && !(multiple && tag == 0)) {
		lp_amqp_channel_error(bc->conn, bc->ch, LP_AMQP_PRECONDITION_FAILED, method_id,
				      "unknown delivery tag %" PRIu64, tag);
		return -ENOENT;
	}
	return 0;
}

/* Ack/Nack/Reject; in a transaction, at Tx.Commit. */
static int settle(struct lp_broker *b, struct bchan *bc, uint32_t method_id, uint64_t tag,
		  bool multiple, bool ack, bool requeue)
{
	uint8_t flags = (uint8_t)((multiple ? LP_SHARD_F_MULTIPLE : 0) | (ack ? LP_SHARD_F_ACK : 0) |
				  (requeue ? LP_SHARD_F_REQUEUE : 0));

	if (bc->tx)
		return tx_push(bc, (struct txent){.flags = flags, .method_id = method_id, .tag = tag});
	return settle_now(b, bc, method_id, tag, flags);
}

/* Tx.Select, Tx.Commit, Tx.Rollback (AMQP 0-9-1 class tx, as RabbitMQ: the
 * channel's publishes and acknowledgements take effect at commit, in order;
 * rollback forgets them; the channel stays transactional). */
static int tx_method(struct lp_broker *b, struct bchan *bc, uint32_t method_id)
{
	struct lp_amqp_method ok = {0};
	const char *vhost = lp_amqp_conn_vhost(bc->conn);

	if (method_id == LP_AMQP_TX_SELECT) {
		if (bc->confirm) {
			lp_amqp_channel_error(bc->conn, bc->ch, LP_AMQP_PRECONDITION_FAILED, method_id,
					      "cannot switch from confirm to tx mode");
			return -EINVAL;
		}
		bc->tx = true;
		ok.id = LP_AMQP_TX_SELECT_OK;
		lp_amqp_conn_send_method(bc->conn, bc->ch, &ok);
		return 0;
	}
	if (!bc->tx) {
		lp_amqp_channel_error(bc->conn, bc->ch, LP_AMQP_PRECONDITION_FAILED, method_id,
				      "channel is not transactional");
		return -EINVAL;
	}
	if (method_id == LP_AMQP_TX_ROLLBACK) {
		tx_discard(bc);
		ok.id = LP_AMQP_TX_ROLLBACK_OK;
		lp_amqp_conn_send_method(bc->conn, bc->ch, &ok);
		return 0;
	}
	for (uint32_t i = 0; i < bc->txq.n; i++) {
		struct txent *e = &bc->txq.v[i];

		if (e->msg == NULL) {
			if (settle_now(b, bc, e->method_id, e->tag, e->flags) == 0)
				continue;
			/* 406 closed the channel, and the close released its state,
			 * this transaction included (on_channel_close). Should the
			 * Channel.Close not have been sent, the channel is still
			 * open: drop the rest of the transaction. No Commit-Ok. */
			if (bc->used)
				tx_discard(bc);
			return -ENOENT;
		}
		uint32_t xi = lp_topology_exchange_find(snap(b)->topo, vhost, e->msg->exchange,
							e->msg->exchange_len);

		if (xi != LP_TOPOLOGY_NONE) /* the exchange may be gone since the publish */
			route_publish(b, bc, e->msg, xi, e->mandatory, 0);
		lp_msg_release(e->msg);
		e->msg = NULL;
	}
	tx_discard(bc);
	ok.id = LP_AMQP_TX_COMMIT_OK;
	lp_amqp_conn_send_method(bc->conn, bc->ch, &ok);
	return 0;
}

static int get(struct lp_broker *b, struct bchan *bc, const struct lp_amqp_basic_get *a)
{
	const struct lp_topology_queue *tq = method_queue(b, bc, a->queue, LP_AMQP_BASIC_GET);

	if (tq == NULL)
		return -ENOENT;
	bc->wait_no_ack = a->no_ack;
	return request(b, bc, lp_broker_owner(b, tq->owner_shard),
		       (struct lp_shard_op){.type = LP_SHARD_GET, .qid = tq->qid,
					    .flags = a->no_ack ? LP_SHARD_F_NO_ACK : 0},
		       WAIT_GET);
}

static void get_done(struct lp_broker *b, struct bchan *bc, const struct lp_shard_op *r)
{
	struct lp_amqp_conn *c = bc->conn;
	struct lp_msg *m = r->ptr;

	if (m == NULL) {
		struct lp_amqp_method e = {.id = LP_AMQP_BASIC_GET_EMPTY};

		lp_amqp_conn_send_method(c, bc->ch, &e);
		return;
	}
	if (r->src == b->id) {
		bc->next_tag = r->tag;
	} else {
		bc->next_tag++;
		if (!bc->wait_no_ack)
			tagmap_push(&bc->remote, bc->next_tag, r->src, r->tag);
	}
	struct lp_amqp_method ok = {.id = LP_AMQP_BASIC_GET_OK};

	ok.basic_get_ok.delivery_tag = bc->next_tag;
	ok.basic_get_ok.redelivered = r->flags & LP_SHARD_F_REDELIVERED;
	ok.basic_get_ok.exchange = (struct lp_amqp_bytes){(const uint8_t *)m->exchange, m->exchange_len};
	ok.basic_get_ok.routing_key = (struct lp_amqp_bytes){(const uint8_t *)m->rkey, m->rkey_len};
	ok.basic_get_ok.message_count = r->aux;
	lp_amqp_conn_send_content_raw(c, bc->ch, &ok, m->props, m->props_len, m->body, m->body_len);
	b->stats.delivered++;
	lp_msg_release(m);
}

/* The owner answered bc's request r: finish the method. */
static void continue_request(struct lp_broker *b, struct bchan *bc, const struct lp_shard_op *r)
{
	enum bwait wait = bc->wait;
	struct lp_amqp_method ok = {0};
	struct bconsumer *k = &b->consumers[bc->wait_consumer];

	bc->wait = WAIT_NONE;
	switch (wait) {
	case WAIT_CONSUME:
		consume_done(bc, k, (int32_t)r->aux, bc->last_queue);
		break;
	case WAIT_CANCEL:
		send_cancel_ok(bc, k);
		k->used = false;
		break;
	case WAIT_GET:
		get_done(b, bc, r);
		break;
	case WAIT_PURGE:
		ok.id = LP_AMQP_QUEUE_PURGE_OK;
		ok.queue_purge_ok.message_count = r->aux;
		send_ok(bc, &ok);
		break;
	case WAIT_DECLARE_COUNTS:
		ok.id = LP_AMQP_QUEUE_DECLARE_OK;
		ok.queue_declare_ok.queue = lp_amqp_cstr(bc->last_queue);
		ok.queue_declare_ok.message_count = r->aux;
		ok.queue_declare_ok.consumer_count = r->tag == UINT64_MAX ? 0 : (uint32_t)r->tag;
		send_ok(bc, &ok);
		break;
	case WAIT_DELETE_COUNTS:
		bc->req.flags |= LP_CTL_F_COUNTS;
		bc->req.message_count = r->aux;
		bc->req.consumer_count = r->tag == UINT64_MAX ? 0 : (uint32_t)r->tag;
		bc->delete_count = r->aux;
		submit(b, bc, LP_CTL_DELETE); /* waits again, or failed with a channel error */
		break;
	default:
		break;
	}
}

void lp_broker_reply(struct lp_broker *b, const struct lp_shard_op *op)
{
	struct bchan *bc = lp_broker_chan(b, op->chan);

	if (bc == NULL || bc->wait == WAIT_NONE || bc->wait == WAIT_CONTROL) {
		/* The channel closed meanwhile: nothing to answer. */
		if (op->type == LP_SHARD_GET_REPLY && op->ptr != NULL)
			lp_msg_release(op->ptr);
		return;
	}
	continue_request(b, bc, op);
	if (bc->wait == WAIT_NONE)
		lp_amqp_session_resume(bc->session);
}

static int on_method(void *ctx, struct lp_amqp_conn *c, uint16_t ch, const struct lp_amqp_method *m)
{
	struct lp_broker *b = broker_of(ctx);
	struct bchan *bc = chan_get(c, ch);
	struct lp_amqp_method ok = {0};

	if (bc == NULL || b->w->snap == NULL)
		return -ENOTSUP;
	switch (m->id) {
	case LP_AMQP_EXCHANGE_DECLARE:
	case LP_AMQP_EXCHANGE_DELETE:
	case LP_AMQP_EXCHANGE_BIND:
	case LP_AMQP_EXCHANGE_UNBIND:
	case LP_AMQP_QUEUE_DECLARE:
	case LP_AMQP_QUEUE_BIND:
	case LP_AMQP_QUEUE_UNBIND:
	case LP_AMQP_QUEUE_PURGE:
	case LP_AMQP_QUEUE_DELETE:
		return declaration(b, bc, m);
	case LP_AMQP_BASIC_PUBLISH:
		return start_publish(b, bc, &m->basic_publish);
	case LP_AMQP_BASIC_QOS:
		/* RabbitMQ 3.x: global is the channel's limit; a per-consumer
		 * Basic.Qos afterwards lifts it (rabbit_channel). */
		if (m->basic_qos.global) {
			bc->prefetch_global = m->basic_qos.prefetch_count;
		} else {
			bc->prefetch = m->basic_qos.prefetch_count;
			bc->prefetch_global = 0;
		}
		ok.id = LP_AMQP_BASIC_QOS_OK;
		lp_amqp_conn_send_method(c, ch, &ok);
		return 0;
	case LP_AMQP_BASIC_CONSUME:
		return consume(b, bc, &m->basic_consume);
	case LP_AMQP_BASIC_CANCEL:
		return cancel(b, bc, &m->basic_cancel);
	case LP_AMQP_BASIC_GET:
		return get(b, bc, &m->basic_get);
	case LP_AMQP_BASIC_ACK:
		return settle(b, bc, m->id, m->basic_ack.delivery_tag, m->basic_ack.multiple, true, false);
	case LP_AMQP_BASIC_NACK:
		return settle(b, bc, m->id, m->basic_nack.delivery_tag, m->basic_nack.multiple, false,
			      m->basic_nack.requeue);
	case LP_AMQP_BASIC_REJECT:
		return settle(b, bc, m->id, m->basic_reject.delivery_tag, false, false,
			      m->basic_reject.requeue);
	case LP_AMQP_BASIC_RECOVER:
		for (unsigned w = 0; w < b->n_workers; w++)
			lp_broker_send(b, w, (struct lp_shard_op){.type = LP_SHARD_RECOVER, .chan = bc->id});
		bc->remote.n = bc->remote.head = 0;
		bc->unacked = 0;
		ok.id = LP_AMQP_BASIC_RECOVER_OK;
		lp_amqp_conn_send_method(c, ch, &ok);
		return 0;
	case LP_AMQP_TX_SELECT:
	case LP_AMQP_TX_COMMIT:
	case LP_AMQP_TX_ROLLBACK:
		return tx_method(b, bc, m->id);
	case LP_AMQP_CONFIRM_SELECT:
		if (bc->tx) {
			lp_amqp_channel_error(c, ch, LP_AMQP_PRECONDITION_FAILED, m->id,
					      "cannot switch from tx to confirm mode");
			return -EINVAL;
		}
		bc->confirm = true;
		if (!m->confirm_select.nowait) {
			ok.id = LP_AMQP_CONFIRM_SELECT_OK;
			lp_amqp_conn_send_method(c, ch, &ok);
		}
		return 0;
	default:
		return -ENOTSUP; /* 540 NOT_IMPLEMENTED */
	}
}

static const struct lp_amqp_conn_ops broker_ops = {
	.on_channel_open = on_channel_open,
	.on_channel_close = on_channel_close,
	.on_method = on_method,
	.on_content_header = on_content_header,
	.on_content_body = on_content_body,
};

const struct lp_amqp_conn_ops *lp_broker_conn_ops(void)
{
	return &broker_ops;
}

/* ---- deliveries ------------------------------------------------------- */

uint64_t lp_broker_local_tag(struct lp_broker *b, uint32_t id, const struct lp_msg *m, bool no_ack)
{
	struct bchan *bc = lp_broker_chan(b, id);
	size_t need = lp_broker_wire_size(m);

	/* A burst is tagged before it is written: count what it promised, so
	 * that lp_broker_deliver never finds the buffer full (it would lose the
	 * delivery). */
	if (bc == NULL || !lp_amqp_conn_can_take(bc->conn, bc->promised + need))
		return 0;
	if (!no_ack && bc->prefetch_global != 0 && bc->unacked >= bc->prefetch_global)
		return 0;
	if (!no_ack)
		bc->unacked++; /* counted at tagging: a burst stays within the limit */
	bc->promised += need;
	return ++bc->next_tag;
}

void lp_broker_deliver(struct lp_broker *b, struct bchan *bc, uint32_t handle, struct lp_msg *m,
		       uint64_t tag, bool redelivered, unsigned owner, bool no_ack)
{
	struct bconsumer *k = bc != NULL ? consumer_of(b, handle) : NULL;

	if (owner == b->id && bc != NULL) { /* tagged by lp_broker_local_tag */
		size_t need = lp_broker_wire_size(m);

		bc->promised = bc->promised > need ? bc->promised - need : 0;
	}
	if (owner != b->id && bc != NULL) {
		if (b->credit_n > 0 && (b->credit_chan != bc->id || b->credit_owner != owner))
			credit_flush(b);
		b->credit_chan = bc->id;
		b->credit_owner = owner;
		b->credit_n++;
	}
	if (k == NULL || k->chan != bc) {
		/* Channel closed: the owner requeued it (ack mode) or it went with
		 * the channel (no-ack), as in RabbitMQ. A consumer gone while the
		 * channel lives: give it back to the owner. */
		if (bc != NULL && owner != b->id && !no_ack)
			lp_broker_send(b, owner, (struct lp_shard_op){.type = LP_SHARD_SETTLE, .chan = bc->id,
								     .tag = tag, .flags = LP_SHARD_F_REQUEUE});
		lp_msg_release(m);
		return;
	}
	if (owner != b->id) {
		uint64_t owner_tag = tag;

		if (!no_ack)
			bc->unacked++;

		tag = ++bc->next_tag;
		if (!no_ack && tagmap_push(&bc->remote, tag, owner, owner_tag) != 0) {
			/* No memory to remember it: give it back rather than lose it. */
			lp_broker_send(b, owner, (struct lp_shard_op){.type = LP_SHARD_SETTLE, .chan = bc->id,
								     .tag = owner_tag,
								     .flags = LP_SHARD_F_REQUEUE});
			bc->next_tag--;
			bc->unacked--;
			lp_msg_release(m);
			return;
		}
	}
	struct lp_amqp_method d = {.id = LP_AMQP_BASIC_DELIVER};

	d.basic_deliver.consumer_tag = (struct lp_amqp_bytes){(const uint8_t *)k->tag, k->tag_len};
	d.basic_deliver.delivery_tag = tag;
	d.basic_deliver.redelivered = redelivered;
	d.basic_deliver.exchange = (struct lp_amqp_bytes){(const uint8_t *)m->exchange, m->exchange_len};
	d.basic_deliver.routing_key = (struct lp_amqp_bytes){(const uint8_t *)m->rkey, m->rkey_len};
	lp_amqp_conn_send_content_raw(bc->conn, bc->ch, &d, m->props, m->props_len, m->body,
				      m->body_len);
	b->stats.delivered++;
	lp_msg_release(m);
}

void lp_broker_poll(struct lp_worker *w)
{
	struct lp_broker *b = w->broker;

	if (b == NULL)
		return;
	if (b->n_blocked > 0 && lp_msg_pool_available(b->pool) >= b->high_water &&
	    !stages_full(b, STAGE_RESUME)) {
		uint32_t n = b->n_blocked;

		b->n_blocked = 0;
		for (uint32_t i = 0; i < n; i++)
			lp_amqp_session_resume(b->blocked[i]);
	}
	if (b->mesh != NULL) {
		struct lp_ctl_result *r;

		while (rte_ring_dequeue(lp_mesh_from_main(b->mesh, b->id), (void **)&r) == 0) {
			lp_broker_on_result(w, r);
			free(r);
		}
		run_backlogs(b);
		for (unsigned src = 0; src < b->n_workers; src++) {
			if (src != b->id) {
				read_ring(b, src);
				read_data_ring(b, src);
			}
		}
	}
	lp_shard_check_topology(b);
	lp_shard_dispatch(b);
	if (b->n_parked > 0)
		retry_parked(b);
	if (b->mesh != NULL)
		flush_stages(b);
}

const struct lp_broker_stats *lp_broker_stats(const struct lp_worker *w)
{
	return w->broker != NULL ? &w->broker->stats : NULL;
}

/* ---- life cycle ------------------------------------------------------- */

int lp_broker_create(struct lp_worker *w, const struct lp_broker_config *cfg,
		     struct lp_ctl_link *ctl, struct lp_mesh *mesh)
{
	if (cfg->max_channels > LP_BROKER_MAX_SLOTS || cfg->max_consumers > LP_BROKER_MAX_SLOTS ||
	    cfg->max_queues == 0 || w->id > 255)
		return -EINVAL;
	struct lp_broker *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return -ENOMEM;
	b->w = w;
	b->id = w->id;
	b->n_workers = mesh != NULL ? lp_mesh_workers(mesh) : 1;
	b->ctl = ctl;
	b->mesh = mesh;
	b->cfg = *cfg;
	b->qid_map_size = 1;
	while (b->qid_map_size < 2 * cfg->max_queues)
		b->qid_map_size <<= 1;
	b->pool = lp_msg_pool_create(cfg->max_messages, PROPS_MAX, cfg->body_max);
	b->queues = calloc(cfg->max_queues, sizeof(*b->queues));
	b->live = calloc(cfg->max_queues, sizeof(*b->live));
	b->qid_map = calloc(b->qid_map_size, sizeof(*b->qid_map));
	b->rchans = calloc((size_t)b->n_workers * cfg->max_channels, sizeof(*b->rchans));
	b->chans = calloc(cfg->max_channels, sizeof(*b->chans));
	b->consumers = calloc(cfg->max_consumers, sizeof(*b->consumers));
	b->blocked = calloc(cfg->max_channels, sizeof(*b->blocked));
	b->parked = calloc(cfg->max_channels, sizeof(*b->parked));
	b->backlogged = calloc(cfg->max_channels, sizeof(*b->backlogged));
	b->out = calloc(LP_MESH_LANES * b->n_workers, sizeof(*b->out));
	b->in = calloc(LP_MESH_LANES * b->n_workers, sizeof(*b->in));
	b->low_water = cfg->max_messages / 8;
	b->high_water = cfg->max_messages / 4;
	w->broker = b;
	if (b->pool == NULL || b->queues == NULL || b->live == NULL || b->qid_map == NULL ||
	    b->rchans == NULL || b->chans == NULL || b->consumers == NULL || b->blocked == NULL || b->parked == NULL || b->backlogged == NULL ||
	    b->out == NULL || b->in == NULL) {
		lp_broker_destroy(w);
		return -ENOMEM;
	}
	return 0;
}


void lp_broker_drop_messages(struct lp_worker *w)
{
	struct lp_broker *b = w->broker;

	if (b == NULL)
		return;
	lp_shard_destroy_queues(b);
	for (uint32_t i = 0; b->chans != NULL && i < b->cfg.max_channels; i++) {
		if (b->chans[i].used && b->chans[i].pub != NULL)
			lp_msg_release(b->chans[i].pub);
		b->chans[i].pub = NULL;
		tx_discard(&b->chans[i]);
		if (b->backlogged != NULL)
			backlog_drop(b, &b->chans[i]);
	}
	for (unsigned d = 0; b->out != NULL && d < LP_MESH_LANES * b->n_workers; d++) {
		for (uint32_t i = 0; i < b->out[d].n; i++)
			if (op_has_msg(&b->out[d].v[i]))
				lp_msg_release(b->out[d].v[i].ptr);
		b->out[d].n = 0;
	}
	for (unsigned s = 0; b->in != NULL && s < LP_MESH_LANES * b->n_workers; s++) {
		for (unsigned i = b->in[s].i; i < b->in[s].n; i++)
			if (op_has_msg(&b->in[s].v[i]))
				lp_msg_release(b->in[s].v[i].ptr);
		b->in[s].i = b->in[s].n = 0;
	}
}

void lp_broker_destroy(struct lp_worker *w)
{
	struct lp_broker *b = w->broker;

	if (b == NULL)
		return;
	lp_broker_drop_messages(w);
	for (uint32_t i = 0; b->chans != NULL && i < b->cfg.max_channels; i++) {
		free(b->chans[i].remote.v);
		free(b->chans[i].txq.v);
		free(b->chans[i].confirms.v);
		free(b->chans[i].backlog.v);
	}
	for (unsigned d = 0; b->out != NULL && d < LP_MESH_LANES * b->n_workers; d++)
		free(b->out[d].v);
	free(b->queues);
	free(b->live);
	free(b->qid_map);
	free(b->rchans);
	free(b->chans);
	free(b->consumers);
	free(b->blocked);
	free(b->parked);
	free(b->backlogged);
	free(b->out);
	free(b->in);
	lp_msg_pool_destroy(b->pool);
	free(b);
	w->broker = NULL;
}
