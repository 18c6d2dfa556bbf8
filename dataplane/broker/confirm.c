/* SPDX-License-Identifier: MIT */
/*
 * Publisher confirms (class confirm): the Basic.Ack/Nack for a publish, at
 * once, or once every owner of a reject-publish queue it went to gave its
 * verdict (LP_OP_CONFIRM).
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

/* Confirm seq as ack or nack, unless owners' verdicts are still awaited. */
void lp_confirm_publish(struct channel *bc, uint64_t seq, bool ack)
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

/* A publish whose confirm waits for owners' verdicts. Returns its entry, or
 * NULL when the shard's pool of them is used up (the publish then waits). */
struct pending_confirm *lp_confirm_wait(struct lp_broker *b, struct channel *bc, uint64_t seq)
{
	struct pending_confirm *p = lp_fifo_push(&b->confirm_pool, &bc->confirms);

	if (p != NULL)
		*p = (struct pending_confirm){.seq = seq};
	return p;
}

/* An owner's verdict on publish op->tag: the confirm goes once all are in. */
void lp_confirm_on_verdict(struct lp_broker *b, const struct lp_ring_op *op)
{
	struct channel *bc = lp_broker_chan(b, op->chan);
	struct lp_fifo_pool *pool = &b->confirm_pool;
	struct pending_confirm *p;

	if (bc == NULL)
		return;
	for (uint32_t i = lp_fifo_first(&bc->confirms); i != LP_FIFO_NONE; i = lp_fifo_next(pool, i)) {
		p = lp_fifo_entry(pool, i);
		if (p->seq != op->tag || p->outstanding == 0)
			continue;
		p->nack |= !(op->flags & LP_OP_F_ACK);
		if (--p->outstanding == 0)
			lp_confirm_publish(bc, p->seq, !p->nack);
		break;
	}
	/* Entries whose confirm went leave from the head, in order. */
	while ((p = lp_fifo_head(pool, &bc->confirms)) != NULL && p->outstanding == 0)
		lp_fifo_pop(pool, &bc->confirms);
}
