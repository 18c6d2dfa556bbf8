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

struct pending_confirm *lp_confirm_wait(struct channel *bc, uint64_t seq)
{
	if (bc->confirms.n == bc->confirms.cap) {
		uint32_t cap = bc->confirms.cap ? bc->confirms.cap * 2 : 16;
		struct pending_confirm *v = realloc(bc->confirms.v, cap * sizeof(*v));

		if (v == NULL)
			return NULL;
		bc->confirms.v = v;
		bc->confirms.cap = cap;
	}
	struct pending_confirm *p = &bc->confirms.v[bc->confirms.n++];

	*p = (struct pending_confirm){.seq = seq};
	return p;
}

void lp_confirm_on_verdict(struct lp_broker *b, const struct lp_ring_op *op)
{
	struct channel *bc = lp_broker_chan(b, op->chan);

	for (uint32_t i = 0; bc != NULL && i < bc->confirms.n; i++) {
		struct pending_confirm *p = &bc->confirms.v[i];

		if (p->seq != op->tag)
			continue;
		p->nack |= !(op->flags & LP_OP_F_ACK);
		if (--p->outstanding > 0)
			return;
		lp_confirm_publish(bc, p->seq, !p->nack);
		memmove(p, p + 1, (bc->confirms.n - i - 1) * sizeof(*p));
		bc->confirms.n--;
		return;
	}
}
