/* SPDX-License-Identifier: MIT */
/*
 * Deliveries to the consumers of this worker: the local delivery tag and the
 * room it reserves in the connection, the encoding of Basic.Deliver, the
 * CREDIT returned to an owner for what was written, and the per-channel
 * backlog of deliveries from other shards while a connection is full.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "amqp_channel.h"
#include "amqp_reply.h"
#include "amqp_server.h"
#include "broker_int.h"
#include "ctl_link.h"
#include "message.h"
#include "queue.h"
#include "snapshot.h"
#include "topology.h"

void lp_credit_flush(struct lp_broker *b)
{
	if (b->credit_n == 0)
		return;
	lp_broker_send(b, b->credit_owner, lp_op_credit(b->credit_chan, b->credit_n));
	b->credit_n = 0;
}

/* Basic.Deliver frame with three shortstrs (< 800 octets) and the content
 * header's fixed part fit in 1024; body frames carry at least
 * FRAME-MIN-SIZE - 8 octets each (spec 4.2.3). */
size_t lp_broker_wire_size(const struct lp_msg *m)
{
	return 1024 + m->props_len + m->body_len + 8 * (m->body_len / 4088 + 1);
}

bool lp_op_fits(const struct channel *bc, const struct lp_ring_op *op)
{
	return op->type != LP_OP_DELIVER ||
	       lp_amqp_conn_can_take(bc->conn, lp_broker_wire_size(op->ptr));
}

/* Keep op (and its message reference) for bc until its connection has room.
 * Returns 0, or -ENOBUFS when the shard's backlog pool is used up (the caller
 * keeps op: it stays in the ring's held burst, and the ring backs up). */
int lp_backlog_push(struct lp_broker *b, struct channel *bc, const struct lp_ring_op *op)
{
	struct lp_ring_op *slot = lp_fifo_push(&b->backlog_pool, &bc->backlog);

	if (slot == NULL)
		return -ENOBUFS;
	if (bc->backlog.n == 1)
		b->backlogged[b->n_backlogged++] = bc;
	*slot = *op;
	return 0;
}

/* Apply what bc's backlog can take now; true when it is empty. */
static bool backlog_run(struct lp_broker *b, struct channel *bc)
{
	struct lp_ring_op *head;

	while (bc->used && (head = lp_fifo_head(&b->backlog_pool, &bc->backlog)) != NULL) {
		struct lp_ring_op op = *head;

		if (!lp_op_fits(bc, &op))
			break;
		lp_fifo_pop(&b->backlog_pool, &bc->backlog);
		lp_op_handle(b, &op);
	}
	lp_credit_flush(b);
	return bc->backlog.n == 0;
}

/* Drop bc's backlog (channel closed: the owners requeue what it held). */
void lp_backlog_drop(struct lp_broker *b, struct channel *bc)
{
	struct lp_ring_op *op;

	if (bc->backlog.n > 0)
		for (uint32_t i = 0; i < b->n_backlogged; i++)
			if (b->backlogged[i] == bc)
				b->backlogged[i--] = b->backlogged[--b->n_backlogged];
	while ((op = lp_fifo_head(&b->backlog_pool, &bc->backlog)) != NULL) {
		if (lp_op_carries_msg(op))
			lp_msg_release(op->ptr);
		lp_fifo_pop(&b->backlog_pool, &bc->backlog);
	}
}

void lp_backlog_run_all(struct lp_broker *b)
{
	for (uint32_t i = 0; i < b->n_backlogged;) {
		if (backlog_run(b, b->backlogged[i]))
			b->backlogged[i] = b->backlogged[--b->n_backlogged];
		else
			i++;
	}
}

uint64_t lp_broker_local_tag(struct lp_broker *b, uint32_t id, const struct lp_msg *m, bool no_ack)
{
	struct channel *bc = lp_broker_chan(b, id);
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

void lp_broker_deliver(struct lp_broker *b, struct channel *bc, uint32_t handle, struct lp_msg *m,
		       uint64_t tag, bool redelivered, unsigned owner, bool no_ack)
{
	struct consumer *k = bc != NULL ? consumer_of(b, handle) : NULL;

	if (owner == b->id && bc != NULL) { /* tagged by lp_broker_local_tag */
		size_t need = lp_broker_wire_size(m);

		bc->promised = bc->promised > need ? bc->promised - need : 0;
	}
	if (owner != b->id && bc != NULL) {
		if (b->credit_n > 0 && (b->credit_chan != bc->id || b->credit_owner != owner))
			lp_credit_flush(b);
		b->credit_chan = bc->id;
		b->credit_owner = owner;
		b->credit_n++;
	}
	if (k == NULL || k->chan != bc) {
		/* Channel closed: the owner requeued it (ack mode) or it went with
		 * the channel (no-ack), as in RabbitMQ. A consumer gone while the
		 * channel lives: give it back to the owner. */
		if (bc != NULL && owner != b->id && !no_ack)
			lp_broker_send(b, owner, lp_op_settle(bc->id, tag, LP_OP_F_REQUEUE));
		lp_msg_release(m);
		return;
	}
	if (owner != b->id) {
		uint64_t owner_tag = tag;

		if (!no_ack)
			bc->unacked++;

		tag = ++bc->next_tag;
		if (!no_ack && lp_remote_tags_push(b, bc, tag, owner, owner_tag) != 0) {
			/* No memory to remember it: give it back rather than lose it. */
			lp_broker_send(b, owner, lp_op_settle(bc->id, owner_tag, LP_OP_F_REQUEUE));
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

/* LP_OP_DELIVER from an owner shard (the handler table in mesh.c). */
void lp_deliver_on_deliver(struct lp_broker *b, const struct lp_ring_op *op)
{
	lp_broker_deliver(b, lp_broker_chan(b, op->chan), op->aux, op->ptr, op->tag,
			  op->flags & LP_OP_F_REDELIVERED, op->src, op->flags & LP_OP_F_NO_ACK);
}
