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
void lp_tx_discard(struct channel *bc)
{
	for (uint32_t i = 0; i < bc->txq.n; i++)
		if (bc->txq.v[i].msg != NULL)
			lp_msg_release(bc->txq.v[i].msg);
	bc->txq.n = 0;
}

int lp_tx_push(struct channel *bc, struct tx_entry e)
{
	if (bc->txq.n == bc->txq.cap) {
		uint32_t cap = bc->txq.cap ? bc->txq.cap * 2 : 64;
		struct tx_entry *v = realloc(bc->txq.v, cap * sizeof(*v));

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

/* Tx.Select, Tx.Commit, Tx.Rollback (AMQP 0-9-1 class tx, as RabbitMQ: the
 * channel's publishes and acknowledgements take effect at commit, in order;
 * rollback forgets them; the channel stays transactional). */
int lp_tx_method(struct lp_broker *b, struct channel *bc, uint32_t method_id)
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
		lp_tx_discard(bc);
		ok.id = LP_AMQP_TX_ROLLBACK_OK;
		lp_amqp_conn_send_method(bc->conn, bc->ch, &ok);
		return 0;
	}
	for (uint32_t i = 0; i < bc->txq.n; i++) {
		struct tx_entry *e = &bc->txq.v[i];

		if (e->msg == NULL) {
			if (lp_consume_settle_now(b, bc, e->method_id, e->tag, e->flags) == 0)
				continue;
			bc->txq.n = i + 1; /* the channel is closing: drop the rest */
			break;
		}
		uint32_t xi = lp_topology_exchange_find(b->snap->topo, vhost, e->msg->exchange,
							e->msg->exchange_len);

		if (xi != LP_TOPOLOGY_NONE) /* the exchange may be gone since the publish */
			lp_publish_route(b, bc, e->msg, xi, e->mandatory, 0);
		lp_msg_release(e->msg);
		e->msg = NULL;
	}
	lp_tx_discard(bc);
	ok.id = LP_AMQP_TX_COMMIT_OK;
	lp_amqp_conn_send_method(bc->conn, bc->ch, &ok);
	return 0;
}
