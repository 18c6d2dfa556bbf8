/* SPDX-License-Identifier: MIT */
/*
 * Channels of the connections on this worker: open and close (unacked
 * deliveries go back to their owners), Basic.Qos, and the dispatch of the
 * methods of classes exchange, queue, basic, confirm and tx to the file of
 * their concept.
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

struct channel *lp_broker_chan(struct lp_broker *b, uint32_t id)
{
	uint32_t slot = lp_id_slot(id);

	if (lp_chan_worker(id) != b->id || slot >= b->cfg.max_channels)
		return NULL;
	struct channel *bc = &b->chans[slot];

	return bc->used && bc->id == id ? bc : NULL;
}

void lp_broker_on_channel_open(void *ctx, struct lp_amqp_conn *c, uint16_t ch)
{
	struct lp_broker *b = broker_of(ctx);

	for (uint32_t i = 0; i < b->cfg.max_channels; i++) {
		struct channel *bc = &b->chans[i];

		if (bc->used)
			continue;
		uint32_t gen = (bc->gen + 1) & LP_BROKER_SLOT_MASK;
		bool dirty = bc->confirm_dirty; /* still on the shard's list until its flush */

		memset(bc, 0, sizeof(*bc));
		bc->confirm_dirty = dirty;
		lp_fifo_init(&bc->remote);
		lp_fifo_init(&bc->backlog);
		lp_fifo_init(&bc->confirms);
		lp_fifo_init(&bc->txq);
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

void lp_broker_on_channel_close(void *ctx, struct lp_amqp_conn *c, uint16_t ch)
{
	struct lp_broker *b = broker_of(ctx);
	struct channel *bc = chan_get(c, ch);

	if (bc == NULL)
		return;
	/* Every shard drops the channel's consumers and requeues its unacked
	 * deliveries in order, redelivered (this one at once). */
	for (unsigned w = 0; w < b->n_workers; w++)
		lp_broker_send(b, w, lp_op_chan_notice(LP_OP_CHAN_CLOSED, bc->id));
	for (uint32_t i = 0; i < b->cfg.max_consumers; i++)
		if (b->consumers[i].used && b->consumers[i].chan == bc)
			b->consumers[i].used = false;
	if (bc->pub != NULL)
		lp_msg_release(bc->pub);
	/* A paused publisher that goes away must not be resumed later. */
	for (uint32_t i = 0; i < b->n_blocked; i++)
		if (b->blocked[i].session == bc->session)
			b->blocked[i--] = b->blocked[--b->n_blocked];
	b->stats.blocked_publishers = b->n_blocked;
	for (uint32_t i = 0; i < b->n_parked; i++)
		if (b->parked[i] == bc)
			b->parked[i--] = b->parked[--b->n_parked];
	bc->parked = false;
	bc->commit_parked = false;
	for (uint32_t i = 0; i < b->n_get_retry; i++)
		if (b->get_retry[i] == bc)
			b->get_retry[i--] = b->get_retry[--b->n_get_retry];
	bc->get_retry = false;
	lp_backlog_drop(b, bc);
	lp_fifo_clear(&b->tag_pool, &bc->remote);
	lp_tx_discard(b, bc);
	lp_fifo_clear(&b->confirm_pool, &bc->confirms);
	bc->used = false;
	c->channels[ch].user = NULL;
}

int lp_broker_on_method(void *ctx, struct lp_amqp_conn *c, uint16_t ch, const struct lp_amqp_method *m)
{
	struct lp_broker *b = broker_of(ctx);
	struct channel *bc = chan_get(c, ch);
	struct lp_amqp_method ok = {0};

	if (bc == NULL || b->snap == NULL)
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
		return lp_declare_method(b, bc, m);
	case LP_AMQP_BASIC_PUBLISH:
		return lp_publish_start(b, bc, &m->basic_publish);
	case LP_AMQP_BASIC_QOS:
		/* Refused as RabbitMQ 3.10 refuses it (rabbit_channel answers a
		 * prefetch size limit with 540, a connection error; clients rely
		 * on that): deliberate parity, checked against RabbitMQ by
		 * amqp_connection.py. */
		if (m->basic_qos.prefetch_size != 0) {
			lp_amqp_channel_error(c, ch, LP_AMQP_NOT_IMPLEMENTED, m->id, "prefetch_size!=0 (%u)",
					      m->basic_qos.prefetch_size);
			return -EINVAL;
		}
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
		return lp_consume_start(b, bc, &m->basic_consume);
	case LP_AMQP_BASIC_CANCEL:
		return lp_consume_cancel(b, bc, &m->basic_cancel);
	case LP_AMQP_BASIC_GET:
		return lp_consume_get(b, bc, &m->basic_get);
	case LP_AMQP_BASIC_ACK:
		return lp_consume_settle(b, bc, m->id, m->basic_ack.delivery_tag, m->basic_ack.multiple, true, false);
	case LP_AMQP_BASIC_NACK:
		return lp_consume_settle(b, bc, m->id, m->basic_nack.delivery_tag, m->basic_nack.multiple, false,
			      m->basic_nack.requeue);
	case LP_AMQP_BASIC_REJECT:
		return lp_consume_settle(b, bc, m->id, m->basic_reject.delivery_tag, false, false,
			      m->basic_reject.requeue);
	case LP_AMQP_BASIC_RECOVER:
	case LP_AMQP_BASIC_RECOVER_ASYNC:
		/* requeue=false is refused with 540 as RabbitMQ 3.10's
		 * rabbit_channel refuses it (deliberate parity, checked against
		 * RabbitMQ by amqp_connection.py); Recover-Async requeues as
		 * Recover does, with no answer. */
		if (!(m->id == LP_AMQP_BASIC_RECOVER ? m->basic_recover.requeue
						     : m->basic_recover_async.requeue)) {
			lp_amqp_channel_error(c, ch, LP_AMQP_NOT_IMPLEMENTED, m->id, "requeue=false");
			return -EINVAL;
		}
		for (unsigned w = 0; w < b->n_workers; w++)
			lp_broker_send(b, w, lp_op_chan_notice(LP_OP_RECOVER, bc->id));
		lp_fifo_clear(&b->tag_pool, &bc->remote);
		bc->unacked = 0;
		if (m->id == LP_AMQP_BASIC_RECOVER) {
			ok.id = LP_AMQP_BASIC_RECOVER_OK;
			lp_amqp_conn_send_method(c, ch, &ok);
		}
		return 0;
	case LP_AMQP_TX_SELECT:
	case LP_AMQP_TX_COMMIT:
	case LP_AMQP_TX_ROLLBACK:
		return lp_tx_method(b, bc, m->id);
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
