/* SPDX-License-Identifier: MIT */
/*
 * Publisher confirms (class confirm): the Basic.Ack/Nack for a publish, in
 * this poll, or once every verdict it waits for is in (LP_OP_CONFIRM): from
 * the owner of a reject-publish queue on another shard, and from each
 * journal that must make it durable (persist.c), in publish order. The acks
 * ready in one poll go as one Basic.Ack multiple=true, as RabbitMQ's
 * (rabbit_channel coalesce_and_send); a nack ends such a run. A transaction's
 * committed publishes use the same list (tx.c): no Basic.Ack for them, the
 * Tx.Commit-Ok once the list is empty.
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

/* Basic.Ack (multiple: every publish up to seq) or Basic.Nack of seq. */
static void send_confirm(struct channel *bc, uint64_t seq, bool ack, bool multiple)
{
	struct lp_amqp_method m = {0};

	if (bc->tx)
		return; /* a committed publish (tx.c): nothing is sent for it */
	if (ack) {
		m.id = LP_AMQP_BASIC_ACK;
		m.basic_ack.delivery_tag = seq;
		m.basic_ack.multiple = multiple;
	} else {
		m.id = LP_AMQP_BASIC_NACK;
		m.basic_nack.delivery_tag = seq;
	}
	lp_amqp_conn_send_method(bc->conn, bc->ch, &m);
}

void lp_confirm_ready(struct lp_broker *b, struct channel *bc)
{
	if (!bc->confirm_dirty) {
		bc->confirm_dirty = true;
		b->confirm_dirty[b->n_confirm_dirty++] = bc;
	}
}

/* The channel's run of acks, as one Basic.Ack (everything before it was
 * confirmed already). */
static void send_run(struct channel *bc)
{
	if (bc->ack_run_n > 0)
		send_confirm(bc, bc->ack_run, true, bc->ack_run_n > 1);
	bc->ack_run_n = 0;
}

void lp_confirm_publish(struct lp_broker *b, struct channel *bc, uint64_t seq, bool ack)
{
	struct pending_confirm *p;

	if (bc->confirms.n == 0) {
		if (ack && !bc->tx) {
			bc->ack_run = seq;
			bc->ack_run_n++;
			lp_confirm_ready(b, bc);
			return;
		}
		send_run(bc);
		send_confirm(bc, seq, ack, false);
		return;
	}
	/* Earlier publishes wait: this one follows them (a later
	 * multiple=true ack must not cover one still waiting). The publish
	 * path made sure of room (lp_publish_route). */
	p = lp_fifo_push(&b->confirm_pool, &bc->confirms);
	if (p == NULL) {
		send_run(bc);
		send_confirm(bc, seq, ack, false);
		return;
	}
	*p = (struct pending_confirm){.seq = seq, .nack = !ack};
	lp_confirm_ready(b, bc);
}

struct pending_confirm *lp_confirm_wait(struct lp_broker *b, struct channel *bc, uint64_t seq)
{
	struct pending_confirm *p = lp_fifo_push(&b->confirm_pool, &bc->confirms);

	if (p != NULL)
		*p = (struct pending_confirm){.seq = seq};
	return p;
}

/* A verdict on publish op->tag (an owner's, or the journal's): the confirm
 * goes once all are in, at the next lp_confirm_flush. */
void lp_confirm_on_verdict(struct lp_broker *b, const struct lp_ring_op *op)
{
	struct channel *bc = lp_broker_chan(b, op->chan);
	struct lp_fifo_pool *pool = &b->confirm_pool;
	struct pending_confirm *p;

	if (op->chan == LP_CHAN_ADOPT) {
		lp_persist_adopted(b, op->tag);
		return;
	}
	if (bc == NULL)
		return;
	for (uint32_t i = lp_fifo_first(&bc->confirms); i != LP_FIFO_NONE; i = lp_fifo_next(pool, i)) {
		p = lp_fifo_entry(pool, i);
		if (p->seq != op->tag || p->outstanding == 0)
			continue;
		p->nack |= !(op->flags & LP_OP_F_ACK);
		if (--p->outstanding == 0)
			lp_confirm_ready(b, bc);
		break;
	}
}

/* Send the channel's run of acks and the confirms at the head of bc's list
 * whose verdicts are all in (the run comes before the list): each run of
 * acks as one Basic.Ack multiple=true (everything before the head was
 * confirmed already), a nack alone (RabbitMQ batches the same way). */
static void drain(struct lp_broker *b, struct channel *bc)
{
	struct lp_fifo_pool *pool = &b->confirm_pool;
	struct pending_confirm *p;
	uint64_t run_last = bc->ack_run;
	uint32_t run = bc->ack_run_n;

	bc->ack_run_n = 0;

	while ((p = lp_fifo_head(pool, &bc->confirms)) != NULL && p->outstanding == 0) {
		if (p->nack) {
			if (run > 0)
				send_confirm(bc, run_last, true, run > 1);
			run = 0;
			send_confirm(bc, p->seq, false, false);
		} else {
			run_last = p->seq;
			run++;
		}
		lp_fifo_pop(pool, &bc->confirms);
	}
	if (run > 0)
		send_confirm(bc, run_last, true, run > 1);
	if (bc->commit_waiting && bc->confirms.n == 0)
		lp_tx_commit_done(bc);
}

void lp_confirm_flush(struct lp_broker *b)
{
	for (uint32_t i = 0; i < b->n_confirm_dirty; i++) {
		struct channel *bc = b->confirm_dirty[i];

		bc->confirm_dirty = false;
		if (bc->used && bc->conn != NULL)
			drain(b, bc);
	}
	b->n_confirm_dirty = 0;
}
