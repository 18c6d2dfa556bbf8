/* SPDX-License-Identifier: MIT */
/*
 * Publishing: Basic.Publish with its content header and body becomes a
 * message, routed through the topology snapshot to its queues: enqueued here
 * when this shard owns them, staged for the owner's ring otherwise; a
 * publish to a full queue here parks (its connection stops reading);
 * mandatory returns.
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
#include "expiration.h"
#include "broker_int.h"
#include "ctl_link.h"
#include "message.h"
#include "queue.h"
#include "snapshot.h"
#include "topology.h"

int lp_publish_start(struct lp_broker *b, struct channel *bc, const struct lp_amqp_basic_publish *p)
{
	const char *vhost = lp_amqp_conn_vhost(bc->conn);
	char x[LP_BROKER_NAME_LEN];

	if (p->immediate) { /* RabbitMQ 3.x: a connection error, before anything else */
		lp_amqp_conn_fail(bc->conn, LP_AMQP_NOT_IMPLEMENTED, LP_AMQP_BASIC_PUBLISH,
				  "immediate=true");
		return -ENOTSUP;
	}
	copy_name(x, p->exchange);
	uint32_t xi = lp_topology_exchange_find(b->snap->topo, vhost, x, strlen(x));

	if (xi == LP_TOPOLOGY_NONE) {
		lp_amqp_channel_error(bc->conn, bc->ch, LP_AMQP_NOT_FOUND, LP_AMQP_BASIC_PUBLISH,
				      "no exchange '%s' in vhost '%s'", x, vhost);
		return -ENOENT;
	}
	if (x[0] != '\0' && lp_topology_exchange_internal(b->snap->topo, xi)) {
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
	/* Back-pressure, never loss: while an alarm is raised or a ring backs
	 * up, this publisher's connection stops reading (lp_broker_poll resumes
	 * it); an alarm also tells the client (Connection.Blocked, RabbitMQ's
	 * reasons). */
	uint32_t alarms = lp_broker_alarms(b);

	if (alarms != 0 || lp_mesh_stages_full(b, LP_BROKER_STAGE_PAUSE)) {
		if (alarms != 0)
			(void)lp_amqp_conn_set_blocked(bc->conn, true,
						       alarms & LP_BROKER_ALARM_MEMORY ? "low on memory"
										: "low on disk");
		for (uint32_t i = 0; i < b->n_blocked; i++)
			if (b->blocked[i].session == bc->session)
				return -EINPROGRESS;
		if (b->n_blocked < b->cfg.max_channels) {
			b->blocked[b->n_blocked++] =
				(struct paused_publisher){.session = bc->session, .conn = bc->conn};
			b->stats.blocked_publishers = b->n_blocked;
			return -EINPROGRESS;
		}
	}
	return 0;
}

/* Does a confirm of m for queue tq wait for its owner on another shard:
 * a reject-publish verdict, or its journal making m durable? */
static bool remote_verdict(const struct lp_topology_queue *tq, const struct lp_msg *m)
{
	return tq->reject_publish || (tq->store_id != 0 && (m->flags & LP_MSG_F_PERSISTENT));
}

/*
 * Route m (published to exchange xi; the caller keeps its reference) into
 * its queues: here at once, elsewhere through the owner's ring. seq > 0: the
 * publisher uses confirms; the confirm goes now unless it waits for
 * verdicts: a reject-publish queue on another shard, or a journal (here or
 * on the owner's shard) that must make m durable first. Returns 0, or
 * -EAGAIN when nothing was routed because something is full (a queue here,
 * the queue entries, the journal's buffer, the stage, the confirm pools):
 * the publisher waits.
 */
int lp_publish_route(struct lp_broker *b, struct channel *bc, struct lp_msg *m, uint32_t xi,
			 bool mandatory, uint64_t seq)
{
	uint32_t dests[LP_BROKER_ROUTE_MAX];
	struct lp_amqp_bytes headers = {m->props + m->headers_off, m->headers_len};
	int n;

	if (m->exchange_len == 0 && lp_reply_to_is_name(m->rkey, m->rkey_len))
		return lp_reply_to_route(b, bc, m, seq); /* direct reply-to: no queue */
	n = lp_topology_route(b->snap->topo, xi, m->rkey, m->rkey_len, headers, dests,
			      LP_BROKER_ROUTE_MAX);
	return lp_publish_to(b, bc, m, dests, n < LP_BROKER_ROUTE_MAX ? n : LP_BROKER_ROUTE_MAX,
			     mandatory, seq);
}

int lp_publish_to(struct lp_broker *b, struct channel *bc, struct lp_msg *m, const uint32_t *dests,
		  int n, bool mandatory, uint64_t seq)
{
	const struct lp_topology *t = b->snap->topo;
	struct pending_confirm *wait = NULL;
	bool rejected = false, waits = false;
	uint64_t durable_at = 0; /* journal ticket of this shard that makes m durable */

	/* A full queue here, too few queue entries left for all the local
	 * queues, or no room in the journal: nothing is routed yet. */
	uint32_t entries = 0, journaled = 0;

	for (int i = 0; i < n; i++) {
		const struct lp_topology_queue *tq = lp_topology_queue(t, dests[i]);
		struct owned_queue *oq;

		unsigned owner = lp_broker_owner(b, tq->owner_shard);

		if (owner == b->id) {
			if ((oq = lp_owner_queue(b, tq->qid)) == NULL)
				continue;
			if (!lp_owner_can_take(b, oq, m))
				return -EAGAIN;
			bool paged = lp_page_wants(b, oq), persistent = lp_persist_wants(b, oq, m);

			if (!paged)
				entries += lp_queue_needs_entry(oq->q, m);
			if (entries > lp_queue_pool_entries_free(b->qpool))
				return -EAGAIN;
			journaled += lp_owner_journals(b, oq, m, paged);
			waits |= persistent;
			continue;
		}
		waits |= remote_verdict(tq, m);
		if (b->out[LP_MESH_DATA * b->n_workers + owner].n >= b->cfg.stage_ops)
			return -EAGAIN;
	}
	if (journaled > 1 && !lp_persist_fits(b, m, journaled))
		return -EAGAIN;
	/* Room for the confirm's entry (one that waits, or one that follows
	 * earlier waiting ones) and for the journal's durable waits. */
	if (seq != 0 && (waits || bc->confirms.n > 0) &&
	    (lp_fifo_pool_full(&b->confirm_pool) || (journaled > 0 && lp_persist_waits_full(b))))
		return -EAGAIN;
	if (seq != 0 && waits)
		wait = lp_confirm_wait(b, bc, seq);
	for (int i = 0; i < n; i++) {
		const struct lp_topology_queue *tq = lp_topology_queue(t, dests[i]);
		unsigned owner = lp_broker_owner(b, tq->owner_shard);
		bool confirm = false;

		lp_msg_ref(m, 1);
		if (owner == b->id) {
			uint64_t ticket = 0;
			int rc = lp_owner_enqueue(b, tq->qid, m, &ticket);

			/* Refused (reject-publish) or full: the publisher learns it. */
			rejected |= rc == -ENOBUFS || rc == -ENOSPC;
			if (ticket > durable_at)
				durable_at = ticket;
			continue;
		}
		b->stats.routed_remote++;
		if (wait != NULL && remote_verdict(tq, m)) {
			wait->outstanding++;
			confirm = true;
		}
		lp_broker_send(b, owner, lp_op_enqueue(tq->qid, m, confirm, bc != NULL ? bc->id : 0, seq));
	}
	if (n == 0) {
		b->stats.unroutable++;
		if (mandatory && bc != NULL) {
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
	/* One wait for this shard's journal: tickets grow, the last covers all
	 * (room checked above). */
	if (wait != NULL && durable_at != 0 &&
	    lp_persist_wait_durable(b, durable_at, b->id, bc->id, seq) == 0)
		wait->outstanding++;
	if (wait != NULL) {
		wait->nack |= rejected;
		if (wait->outstanding == 0) /* nothing to wait for after all */
			lp_confirm_ready(b, bc);
	} else {
		lp_confirm_publish(b, bc, seq, !rejected);
	}
	return 0;
}

/* Route the channel's complete publish; park it while a queue of this
 * shard is full. Returns 0 or -EINPROGRESS (parked: the connection waits). */
static int finish_publish(struct lp_broker *b, struct channel *bc)
{
	struct lp_msg *m = bc->pub;

	if (bc->tx) { /* routed at Tx.Commit (the reference goes with it) */
		bc->pub = NULL;
		b->stats.published++;
		if (lp_tx_push(b, bc, (struct tx_entry){.msg = m, .mandatory = bc->pub_mandatory,
					       .method_id = LP_AMQP_BASIC_PUBLISH}) != 0)
			lp_msg_release(m);
		return 0;
	}
	if (lp_publish_route(b, bc, m, bc->pub_exchange, bc->pub_mandatory,
			  bc->confirm ? bc->publish_seq + 1 : 0) == -EAGAIN) {
		lp_publish_park(b, bc);
		return -EINPROGRESS;
	}
	if (bc->confirm)
		bc->publish_seq++;
	bc->pub = NULL;
	b->stats.published++;
	lp_msg_release(m);
	return 0;
}

void lp_publish_park(struct lp_broker *b, struct channel *bc)
{
	if (!bc->parked) {
		bc->parked = true;
		b->parked[b->n_parked++] = bc;
	}
}

/* Retry parked publishes and commits; a channel whose publish went resumes
 * reading (a commit that now waits for the journals resumes it later, with
 * its Commit-Ok: lp_tx_commit_done). */
void lp_publish_retry_parked(struct lp_broker *b)
{
	for (uint32_t i = 0; i < b->n_parked;) {
		struct channel *bc = b->parked[i];
		bool still;

		if (bc->commit_parked) {
			int rc = lp_tx_commit_run(b, bc);

			if (rc == -EINVAL) { /* the channel is being closed with 406 */
				bc->commit_parked = false;
				if (i < b->n_parked && b->parked[i] == bc) {
					bc->parked = false;
					b->parked[i] = b->parked[--b->n_parked];
				}
				continue;
			}
			still = bc->commit_parked;
		} else {
			still = finish_publish(b, bc) == -EINPROGRESS;
		}
		if (still) {
			i++;
			continue;
		}
		bc->parked = false;
		b->parked[i] = b->parked[--b->n_parked];
		if (!bc->commit_waiting)
			lp_amqp_session_resume(bc->session);
	}
}

/* RabbitMQ validates user-id: it must name the connection's user, else the
 * channel closes with 406 and the message is not routed. */
static bool user_id_valid(struct channel *bc, const struct lp_amqp_basic_properties *p)
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

/* The expiration property (a message's own TTL): m->ttl_ms, or a channel
 * error 406 as RabbitMQ's (the message is not routed). */
static bool expiration_valid(struct channel *bc, const struct lp_amqp_basic_properties *p)
{
	char why[LP_BROKER_NAME_LEN];

	if (!(p->flags & LP_AMQP_BASIC_EXPIRATION_FLAG))
		return true;
	if (lp_expiration_parse(p->expiration, &bc->pub->ttl_ms, why, sizeof(why)) ==
	    LP_EXPIRATION_OK) {
		bc->pub->flags |= LP_MSG_F_TTL;
		return true;
	}
	lp_amqp_channel_error(bc->conn, bc->ch, LP_AMQP_PRECONDITION_FAILED, LP_AMQP_BASIC_PUBLISH,
			      "invalid expiration '%.*s': %s", (int)p->expiration.len,
			      (const char *)p->expiration.ptr, why);
	lp_msg_release(bc->pub);
	bc->pub = NULL;
	return false;
}

int lp_broker_on_content_header(void *ctx, struct lp_amqp_conn *c, uint16_t ch,
			     const struct lp_amqp_content_header *h)
{
	struct lp_broker *b = broker_of(ctx);
	struct channel *bc = chan_get(c, ch);
	int n;

	if (bc == NULL || bc->pub == NULL)
		return -ENOTSUP;
	if (!user_id_valid(bc, &h->props))
		return -EACCES;
	if (!expiration_valid(bc, &h->props))
		return -EINVAL;
	/* The property list is kept as the publisher encoded it (validated by
	 * the channel's decode): deliveries copy it, never re-encode it; the
	 * headers table is located once, for routing. The one exception is a
	 * request to direct reply-to, whose reply_to gets the channel's name. */
	if ((h->props.flags & LP_AMQP_BASIC_DELIVERY_MODE_FLAG) && h->props.delivery_mode == 2)
		bc->pub->flags |= LP_MSG_F_PERSISTENT;
	if (h->props.flags & LP_AMQP_BASIC_PRIORITY_FLAG)
		bc->pub->priority = h->props.priority; /* priority queues (queue.h) */
	if ((h->props.flags & LP_AMQP_BASIC_REPLY_TO_FLAG) && lp_reply_to_is_pseudo(h->props.reply_to)) {
		n = lp_reply_to_stamp(b, bc, &h->props, h->props_raw);
		if (n < 0) {
			lp_msg_release(bc->pub);
			bc->pub = NULL;
			return n;
		}
		goto props_done;
	}
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
props_done:
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

int lp_broker_on_content_body(void *ctx, struct lp_amqp_conn *c, uint16_t ch, const uint8_t *p,
			   size_t len, bool last)
{
	struct lp_broker *b = broker_of(ctx);
	struct channel *bc = chan_get(c, ch);

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
