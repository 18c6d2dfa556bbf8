/* SPDX-License-Identifier: MIT */
/*
 * Transactions (class tx): a Tx.Select'ed channel's publishes and
 * acknowledgements are kept in order and applied at Tx.Commit; Tx.Rollback
 * forgets them.
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

/* A transaction's publishes are released, its acknowledgements forgotten. */
void lp_tx_discard(struct lp_broker *b, struct channel *bc)
{
	struct tx_entry *e;

	while ((e = lp_fifo_head(&b->tx_pool, &bc->txq)) != NULL) {
		if (e->msg != NULL)
			lp_msg_release(e->msg);
		lp_fifo_pop(&b->tx_pool, &bc->txq);
	}
}

/* Keep e for Tx.Commit. Returns 0, or -ENOBUFS (the shard's pool of entries
 * is used up: the channel is closed with 506 RESOURCE_ERROR, e not kept). */
int lp_tx_push(struct lp_broker *b, struct channel *bc, struct tx_entry e)
{
	struct tx_entry *slot = lp_fifo_push(&b->tx_pool, &bc->txq);

	if (slot == NULL) {
		lp_amqp_channel_error(bc->conn, bc->ch, LP_AMQP_RESOURCE_ERROR, e.method_id,
				      "too many uncommitted publishes and acknowledgements "
				      "on this worker (%u)", b->tx_pool.cap);
		return -ENOBUFS;
	}
	*slot = e;
	return 0;
}

/* Tx.Select, Tx.Commit, Tx.Rollback (AMQP 0-9-1 class tx, as RabbitMQ: the
 * channel's publishes and acknowledgements take effect at commit, in order;
 * rollback forgets them; the channel stays transactional). */
int lp_tx_method(struct lp_broker *b, struct channel *bc, uint32_t method_id)
{
	struct lp_amqp_method ok = {0};

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
		lp_tx_discard(b, bc);
		ok.id = LP_AMQP_TX_ROLLBACK_OK;
		lp_amqp_conn_send_method(bc->conn, bc->ch, &ok);
		return 0;
	}
	return lp_tx_commit_run(b, bc);
}

int lp_tx_commit_run(struct lp_broker *b, struct channel *bc)
{
	struct lp_amqp_method ok = {.id = LP_AMQP_TX_COMMIT_OK};
	const char *vhost = lp_amqp_conn_vhost(bc->conn);
	struct tx_entry *e;

	while ((e = lp_fifo_head(&b->tx_pool, &bc->txq)) != NULL) {
		if (e->msg == NULL) {
			struct tx_entry settle = *e;

			lp_fifo_pop(&b->tx_pool, &bc->txq);
			/* An unknown tag closes the channel with 406, which releases
			 * the rest of the transaction: no Commit-Ok then. */
			if (lp_consume_settle_now(b, bc, settle.method_id, settle.tag, settle.flags) != 0)
				return -EINVAL;
			continue;
		}
		uint32_t xi = lp_topology_exchange_find(b->snap->topo, vhost, e->msg->exchange,
							e->msg->exchange_len);

		/* Each committed publish is tracked as a confirm would be (a tx
		 * channel has none): Commit-Ok waits until the persistent ones
		 * are durable, as RabbitMQ's does. A full queue, journal or
		 * stage parks the rest of the commit, in order, as a publish is
		 * parked (lp_publish_retry_parked calls here again). */
		if (xi != LP_TOPOLOGY_NONE && /* the exchange may be gone since the publish */
		    lp_publish_route(b, bc, e->msg, xi, e->mandatory, bc->publish_seq + 1) == -EAGAIN) {
			bc->commit_parked = true;
			lp_publish_park(b, bc);
			return -EINPROGRESS;
		}
		if (xi != LP_TOPOLOGY_NONE)
			bc->publish_seq++;
		lp_msg_release(e->msg);
		lp_fifo_pop(&b->tx_pool, &bc->txq);
	}
	bc->commit_parked = false;
	if (bc->confirms.n > 0) {
		bc->commit_waiting = true; /* lp_tx_commit_done, from confirm.c */
		return -EINPROGRESS;
	}
	lp_amqp_conn_send_method(bc->conn, bc->ch, &ok);
	return 0;
}

void lp_tx_commit_done(struct channel *bc)
{
	struct lp_amqp_method ok = {.id = LP_AMQP_TX_COMMIT_OK};

	bc->commit_waiting = false;
	lp_amqp_conn_send_method(bc->conn, bc->ch, &ok);
	lp_amqp_session_resume(bc->session);
}
