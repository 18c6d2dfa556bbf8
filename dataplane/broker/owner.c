/* SPDX-License-Identifier: MIT */
/*
 * The owner side of a broker shard (see broker_int.h): the queues this
 * worker owns, found by their topology id (qid) through a small open
 * addressing table, dispatch to consumers on any worker, and the operations
 * other shards (or this worker's own channels) send to an owner.
 *
 * A queue is created here the first time something needs it (a publish, a
 * consume, a Basic.Get) and the snapshot lists it with this shard as owner;
 * it is destroyed when a snapshot no longer has it (Queue.Delete, an
 * exclusive queue's connection closed, an auto-delete queue unused, a vhost
 * deleted), after its consumers are told (Basic.Cancel, RabbitMQ's
 * consumer_cancel_notify).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "broker_int.h"
#include "message.h"
#include "queue.h"
#include "snapshot.h"
#include "topology.h"

/* ---- qid -> queue ---------------------------------------------------- */

static uint32_t qid_hash(const struct lp_broker *b, uint32_t qid)
{
	return (qid * 2654435761u) & (b->qid_map_size - 1);
}

static void qid_map_put(struct lp_broker *b, uint32_t qid, uint32_t slot)
{
	uint32_t h = qid_hash(b, qid);

	while (b->qid_map[h] != 0)
		h = (h + 1) & (b->qid_map_size - 1);
	b->qid_map[h] = slot + 1;
}

/* Linear probing deletion by backward shift (Knuth 6.4 algorithm R). */
static void qid_map_del(struct lp_broker *b, uint32_t qid)
{
	uint32_t mask = b->qid_map_size - 1, h = qid_hash(b, qid);

	while (b->qid_map[h] != 0 && b->queues[b->qid_map[h] - 1].qid != qid)
		h = (h + 1) & mask;
	if (b->qid_map[h] == 0)
		return;
	b->qid_map[h] = 0;
	for (uint32_t j = (h + 1) & mask; b->qid_map[j] != 0; j = (j + 1) & mask) {
		uint32_t slot = b->qid_map[j] - 1;

		b->qid_map[j] = 0;
		qid_map_put(b, b->queues[slot].qid, slot);
	}
}

static struct owned_queue *qid_find(struct lp_broker *b, uint32_t qid)
{
	for (uint32_t h = qid_hash(b, qid); b->qid_map[h] != 0; h = (h + 1) & (b->qid_map_size - 1))
		if (b->queues[b->qid_map[h] - 1].qid == qid)
			return &b->queues[b->qid_map[h] - 1];
	return NULL;
}

/* The snapshot's entry for qid if this shard owns it. */
static const struct lp_topology_queue *topo_queue(struct lp_broker *b, uint32_t qid)
{
	const struct lp_topology *t = b->snap->topo;
	uint32_t n = lp_topology_queue_count(t);

	for (uint32_t i = 0; i < n; i++) {
		const struct lp_topology_queue *tq = lp_topology_queue(t, i);

		if (tq->qid == qid)
			return lp_broker_owner(b, tq->owner_shard) == b->id ? tq : NULL;
	}
	return NULL;
}

struct owned_queue *lp_owner_find(struct lp_broker *b, uint32_t qid)
{
	return qid_find(b, qid);
}

struct owned_queue *lp_owner_queue(struct lp_broker *b, uint32_t qid)
{
	struct owned_queue *oq = qid_find(b, qid);
	const struct lp_topology_queue *tq;

	if (oq != NULL)
		return oq;
	if (b->snap == NULL)
		return NULL;
	tq = topo_queue(b, qid);
	if (tq == NULL && b->snapshots != NULL) {
		/* Published after this iteration loaded its snapshot (the sender
		 * saw it): a newer load is safe until our quiescent state. */
		lp_broker_refresh_snapshot(b);
		tq = topo_queue(b, qid);
	}
	if (tq == NULL || b->n_live == b->cfg.max_queues)
		return NULL;
	for (uint32_t i = 0; i < b->cfg.max_queues; i++) {
		oq = &b->queues[i];
		if (oq->used)
			continue;
		struct lp_queue_config qc = {
			.capacity = b->cfg.queue_capacity, .max_consumers = LP_BROKER_QUEUE_CONSUMERS,
			.max_length = tq->max_length, .max_length_bytes = tq->max_length_bytes,
			.reject_publish = tq->reject_publish, .single_active = tq->single_active,
			.has_message_ttl = tq->has_message_ttl, .message_ttl = tq->message_ttl,
			.max_priority = tq->max_priority,
		};
		bool journaled = b->store != NULL && tq->store_id != 0; /* only durable queues have one */

		if (b->store != NULL) { /* a non-durable queue's paged messages are journaled too */
			qc.gone = lp_persist_gone;
			qc.gone_ctx = oq;
		}
		if (tq->dlx != NULL) {
			qc.dead = lp_dead_letter_push;
			qc.dead_ctx = oq;
		}
		oq->q = lp_queue_create(b->qpool, &qc);
		if (oq->q == NULL)
			return NULL;
		oq->used = true;
		oq->had_consumer = false;
		oq->ended = false;
		oq->qid = qid;
		oq->broker = b;
		oq->store_id = journaled ? tq->store_id : 0;
		oq->journal_id = b->store == NULL ? 0 : journaled ? tq->store_id
						  : LP_JOURNAL_TRANSIENT_Q | (qid & ~LP_JOURNAL_TRANSIENT_Q);
		oq->rec_next = oq->rec_end = 0;
		lp_fifo_init(&oq->paged);
		oq->flags = tq->flags;
		oq->dead_on_reject = tq->dlx != NULL && tq->reject_publish_dlx;
		oq->expires_us = tq->expires * 1000;
		oq->used_at = lp_queue_pool_now(b->qpool);
		oq->expiry_sent = false;
		snprintf(oq->vhost, sizeof(oq->vhost), "%s", tq->vhost);
		snprintf(oq->name, sizeof(oq->name), "%s", tq->name);
		oq->live_idx = b->n_live;
		b->live[b->n_live++] = i;
		qid_map_put(b, qid, i);
		if (journaled)
			lp_persist_attach(b, oq);
		return oq;
	}
	return NULL;
}

/* An unacked delivery of a queue being deleted: a channel of this shard
 * keeps its tag acknowledgeable (a channel of another shard has its own
 * entry, whose settle this shard then ignores). */
static void unacked_orphan(void *ctx, uint32_t channel, uint64_t tag)
{
	struct lp_broker *b = ctx;
	struct channel *bc = lp_broker_chan(b, channel); /* NULL: another shard's */

	if (bc != NULL)
		lp_remote_tags_orphan(b, bc, tag);
}

/* Tell every consumer of oq that it is gone, then free the queue. */
static void queue_delete(struct lp_broker *b, struct owned_queue *oq)
{
	struct lp_queue_consumer_spec spec;

	lp_queue_for_each_unacked(oq->q, unacked_orphan, b);
	for (uint32_t id = lp_queue_consumer_next(oq->q, LP_QUEUE_NO_CONSUMER);
	     id != LP_QUEUE_NO_CONSUMER; id = lp_queue_consumer_next(oq->q, id)) {
		if (lp_queue_consumer_info(oq->q, id, &spec) != 0)
			continue;
		unsigned w = lp_chan_worker(spec.channel);
		uint32_t handle = (uint32_t)(uintptr_t)spec.handle;

		if (w == b->id)
			lp_broker_consumer_cancelled(b, handle);
		else
			lp_broker_send(b, w, lp_op_cancelled(oq->qid, spec.channel, handle));
	}
	lp_persist_end(b, oq, true);
	lp_queue_destroy(oq->q);
	qid_map_del(b, oq->qid);
	uint32_t last = b->live[--b->n_live];

	b->live[oq->live_idx] = last;
	b->queues[last].live_idx = oq->live_idx;
	oq->used = false;
	oq->q = NULL;
}

/* The settings a policy may change, from the snapshot's entry (lepus-control
 * sends the queue's arguments with its policies applied). */
static void queue_settings(struct owned_queue *oq, const struct lp_topology_queue *tq)
{
	if (oq->expires_us != tq->expires * 1000) { /* a new lease (RabbitMQ restarts the timer) */
		oq->expires_us = tq->expires * 1000;
		oq->used_at = lp_queue_pool_now(oq->broker->qpool);
		oq->expiry_sent = false;
	}
	lp_queue_set_dead(oq->q, tq->dlx != NULL ? lp_dead_letter_push : NULL, oq);
	oq->dead_on_reject = tq->dlx != NULL && tq->reject_publish_dlx;
	lp_queue_set_message_ttl(oq->q, tq->has_message_ttl, tq->message_ttl);
	lp_queue_set_limits(oq->q, tq->max_length, tq->max_length_bytes, tq->reject_publish);
}

void lp_owner_check_topology(struct lp_broker *b)
{
	const struct lp_topology *t = b->snap != NULL ? b->snap->topo : NULL;

	if (t == NULL || lp_topology_version(t) == b->seen_version)
		return;
	b->seen_version = lp_topology_version(t);
	if (!b->adopted && b->snap->version != 0)
		lp_persist_adopt(b);
	if (!b->expiring_seen && b->snap->version != 0) {
		/* Queues with x-expires start their lease now even if nothing
		 * uses them (RabbitMQ: at boot): this shard takes its own. */
		b->expiring_seen = true;
		for (uint32_t i = 0; i < lp_topology_queue_count(t); i++) {
			const struct lp_topology_queue *tq = lp_topology_queue(t, i);

			if (tq->expires != 0 && lp_broker_owner(b, tq->owner_shard) == b->id)
				(void)lp_owner_queue(b, tq->qid);
		}
	}
	for (uint32_t i = 0; i < b->n_live;) {
		struct owned_queue *oq = &b->queues[b->live[i]];
		uint32_t idx = lp_topology_queue_find(t, oq->vhost, oq->name, strlen(oq->name));
		const struct lp_topology_queue *tq = lp_topology_queue(t, idx);

		if (tq != NULL && tq->qid == oq->qid && lp_broker_owner(b, tq->owner_shard) == b->id) {
			queue_settings(oq, tq);
			i++;
			continue;
		}
		queue_delete(b, oq); /* live[i] now holds another queue */
	}
}

void lp_owner_destroy_queues(struct lp_broker *b)
{
	for (uint32_t i = 0; b->queues != NULL && i < b->cfg.max_queues; i++) {
		if (b->queues[i].used) {
			lp_page_drop(b, &b->queues[i], true);
			lp_queue_destroy(b->queues[i].q);
		}
		b->queues[i].used = false;
		b->queues[i].q = NULL;
	}
	b->n_live = 0;
	if (b->qid_map != NULL)
		memset(b->qid_map, 0, b->qid_map_size * sizeof(*b->qid_map));
}

bool lp_owner_can_take(struct lp_broker *b, const struct owned_queue *oq, const struct lp_msg *m)
{
	if (oq->rec_next != oq->rec_end)
		return false;
	bool paged = lp_page_wants(b, oq);

	if (paged ? !lp_page_has_room(b) : !lp_queue_can_take(oq->q, m))
		return false;
	return !lp_owner_journals(b, oq, m, paged) || lp_persist_fits(b, m, 1);
}

bool lp_owner_journals(const struct lp_broker *b, const struct owned_queue *oq,
		       const struct lp_msg *m, bool paged)
{
	/* enqueue_paged journals a transient message too when it can be read back */
	return lp_persist_wants(b, oq, m) || (paged && lp_page_readable(m));
}

/* To oq's paged tail: journaled (a transient message too, when it can be
 * read back), then out of memory (page.c). */
static int enqueue_paged(struct lp_broker *b, struct owned_queue *oq, struct lp_msg *m,
			 uint64_t *ticket)
{
	struct lp_queue_jref ref = {0};
	bool out = lp_page_readable(m);

	if (lp_owner_journals(b, oq, m, true)) {
		int64_t t = lp_persist_enqueue(b, oq, m, &ref);

		if (t <= 0) /* no room in the journal (the callers asked): as a full queue */
			return -ENOSPC;
		if (m->flags & LP_MSG_F_PERSISTENT)
			*ticket = (uint64_t)t;
	}
	if (lp_page_push(b, oq, out ? NULL : m, &ref, false) < 0) {
		if (ref.loc.len != 0)
			lp_persist_settle(b, oq->journal_id, &ref);
		*ticket = 0;
		return -ENOSPC;
	}
	if (out) /* the journal's buffer has a copy */
		lp_msg_release(m);
	return 0;
}

int lp_owner_enqueue(struct lp_broker *b, uint32_t qid, struct lp_msg *m, uint64_t *ticket)
{
	struct owned_queue *oq = lp_owner_queue(b, qid);
	struct lp_queue_jref ref = {0};
	int rc = -ENOENT;

	*ticket = 0;
	if (oq != NULL && lp_page_wants(b, oq)) {
		rc = enqueue_paged(b, oq, m, ticket);
		if (rc == 0) {
			b->stats.routed_local++;
			return 0;
		}
	} else if (oq != NULL && lp_persist_wants(b, oq, m)) {
		int64_t t = lp_persist_enqueue(b, oq, m, &ref);

		/* No room in the journal (the callers asked lp_owner_can_take):
		 * refused as a full queue is. */
		rc = t > 0 ? lp_queue_enqueue_ref(oq->q, m, &ref, false) : -ENOSPC;
		if (t > 0 && rc < 0)
			lp_persist_settle(b, oq->store_id, &ref);
		else if (t > 0)
			*ticket = (uint64_t)t;
	} else if (oq != NULL) {
		rc = lp_queue_enqueue(oq->q, m);
	}
	if (rc == -ENOBUFS && oq->dead_on_reject) { /* x-overflow reject-publish-dlx */
		lp_dead_letter_push(oq, m, LP_QUEUE_DEAD_MAXLEN);
		return rc;
	}
	/* No queue: deleted while the message travelled. */
	if (rc < 0) {
		if (rc == -ENOSPC)
			b->stats.dropped_queue_full++;
		lp_msg_release(m);
		return rc;
	}
	b->stats.routed_local++;
	return 0;
}

/* ---- dispatch ------------------------------------------------------- */

static struct remote_channel *remote_channel_of(struct lp_broker *b, uint32_t chan)
{
	struct remote_channel *rc = &b->rchans[lp_chan_worker(chan) * b->cfg.max_channels + lp_id_slot(chan)];

	if (rc->id != chan)
		*rc = (struct remote_channel){.id = chan};
	return rc;
}

/* Delivery tag for channel chan (lp_queue_tag_fn); 0 refuses it for now. */
static uint64_t owner_tag(void *ctx, uint32_t chan, const struct lp_msg *m, bool no_ack)
{
	struct lp_broker *b = ctx;
	unsigned w = lp_chan_worker(chan);

	if (w == b->id)
		return lp_broker_local_tag(b, chan, m, no_ack);
	if (w >= b->n_workers || lp_id_slot(chan) >= b->cfg.max_channels)
		return 0;
	struct remote_channel *rc = remote_channel_of(b, chan);

	if (rc->inflight >= LP_BROKER_INFLIGHT_MAX || b->out[w].n >= LP_BROKER_STAGE_PAUSE)
		return 0;
	rc->inflight++;
	return ++rc->next_tag;
}

/* A use of oq that renews its x-expires lease. */
static void used(struct lp_broker *b, struct owned_queue *oq)
{
	oq->used_at = lp_queue_pool_now(b->qpool);
	oq->expiry_sent = false;
}

/*
 * x-expires (RabbitMQ): a queue with no consumer, not declared again and
 * not asked for a Basic.Get for that long is deleted. Its owner tells
 * lepus-control, which deletes it (the next snapshot drops it here).
 */
static void check_expiry(struct lp_broker *b, struct owned_queue *oq)
{
	uint64_t now = lp_queue_pool_now(b->qpool);

	if (lp_queue_consumer_count(oq->q) > 0) {
		oq->used_at = now;
		return;
	}
	if (oq->expiry_sent || now - oq->used_at <= oq->expires_us)
		return;
	oq->expiry_sent = true;
	lp_broker_queue_unused(b, oq->vhost, oq->name);
}

void lp_owner_dispatch(struct lp_broker *b)
{
	struct lp_queue_delivery d[LP_BROKER_DISPATCH_BURST];

	for (uint32_t i = 0; i < b->n_live; i++) {
		struct owned_queue *oq = &b->queues[b->live[i]];

		if (oq->rec_next < oq->rec_end)
			lp_persist_feed(b, oq);
		if (oq->paged.n > 0)
			lp_page_fill(b, oq);
		if (lp_queue_expires(oq->q))
			b->stats.expired += lp_queue_expire(oq->q);
		if (oq->expires_us != 0)
			check_expiry(b, oq);
		if (lp_queue_consumer_count(oq->q) == 0 || lp_queue_message_count(oq->q) == 0)
			continue;
		unsigned n = lp_queue_dispatch(oq->q, owner_tag, b, d, LP_BROKER_DISPATCH_BURST);

		for (unsigned j = 0; j < n; j++) {
			unsigned w = lp_chan_worker(d[j].channel);
			uint32_t handle = (uint32_t)(uintptr_t)d[j].handle;

			if (w == b->id) {
				lp_broker_deliver(b, lp_broker_chan(b, d[j].channel), handle, d[j].msg,
						  d[j].delivery_tag, d[j].redelivered, b->id, d[j].no_ack);
				continue;
			}
			lp_broker_send(b, w, lp_op_deliver(
				oq->qid, d[j].channel, handle, d[j].msg, d[j].delivery_tag,
				(uint8_t)((d[j].no_ack ? LP_OP_F_NO_ACK : 0) |
					  (d[j].redelivered ? LP_OP_F_REDELIVERED : 0))));
		}
	}
}

/* ---- operations ------------------------------------------------------ */

/* Auto-delete (RabbitMQ): a queue that had a consumer and has none left. */
static void check_unused(struct lp_broker *b, struct owned_queue *oq)
{
	if ((oq->flags & LP_CTL_Q_AUTO_DELETE) && oq->had_consumer &&
	    lp_queue_consumer_count(oq->q) == 0) {
		oq->had_consumer = false;
		lp_broker_queue_unused(b, oq->vhost, oq->name);
	}
}

int lp_owner_settle(struct lp_broker *b, const struct lp_ring_op *op)
{
	bool multiple = op->flags & LP_OP_F_MULTIPLE;
	int n = 0;

	for (uint32_t i = 0; i < b->n_live; i++) {
		struct lp_queue *q = b->queues[b->live[i]].q;

		if (op->flags & LP_OP_F_ACK)
			n += lp_queue_ack(q, op->chan, op->tag, multiple);
		else
			n += lp_queue_nack(q, op->chan, op->tag, multiple, op->flags & LP_OP_F_REQUEUE);
	}
	return n;
}

static void channel_closed(struct lp_broker *b, uint32_t chan)
{
	for (uint32_t i = 0; i < b->n_live; i++) {
		struct owned_queue *oq = &b->queues[b->live[i]];

		lp_queue_channel_close(oq->q, chan);
		check_unused(b, oq);
	}
	if (lp_chan_worker(chan) != b->id && lp_chan_worker(chan) < b->n_workers)
		*remote_channel_of(b, chan) = (struct remote_channel){0};
}

static void consume(struct lp_broker *b, const struct lp_ring_op *op, struct lp_ring_op *reply)
{
	struct owned_queue *oq = lp_owner_queue(b, op->qid);
	struct lp_queue_consumer_spec spec = {
		.tag = "", .tag_len = 0, .channel = op->chan, .prefetch = lp_op_consume_prefetch(op),
		.no_ack = op->flags & LP_OP_F_NO_ACK, .exclusive = op->flags & LP_OP_F_EXCLUSIVE,
		.handle = (void *)(uintptr_t)op->aux, .priority = lp_op_consume_priority(op),
	};
	int id = oq != NULL ? lp_queue_consumer_add(oq->q, &spec) : -ENOENT;

	if (id >= 0)
		oq->had_consumer = true;
	reply->type = LP_OP_CONSUME_REPLY;
	reply->aux = (uint32_t)id;
	reply->tag = op->aux;
}

static void cancel(struct lp_broker *b, const struct lp_ring_op *op, struct lp_ring_op *reply)
{
	struct owned_queue *oq = qid_find(b, op->qid);

	if (oq != NULL) {
		lp_queue_consumer_remove(oq->q, op->aux, false);
		check_unused(b, oq);
	}
	reply->type = LP_OP_CANCEL_REPLY;
}

static void get(struct lp_broker *b, const struct lp_ring_op *op, struct lp_ring_op *reply)
{
	struct owned_queue *oq = lp_owner_queue(b, op->qid);
	bool no_ack = op->flags & LP_OP_F_NO_ACK;
	struct lp_queue_delivery d;
	uint64_t tag;

	reply->type = LP_OP_GET_REPLY;
	if (oq != NULL)
		used(b, oq);
	if (oq != NULL && oq->paged.n > 0)
		lp_page_fill(b, oq);
	if (oq != NULL && lp_queue_message_count(oq->q) == 0 && oq->paged.n > 0)
		reply->flags = LP_OP_F_RETRY; /* RabbitMQ would answer with the message */
	if (oq == NULL || lp_queue_message_count(oq->q) == 0)
		return;
	if (lp_chan_worker(op->chan) == b->id)
		tag = op->tag; /* the channel's own next tag */
	else
		tag = ++remote_channel_of(b, op->chan)->next_tag;
	if (lp_queue_get(oq->q, op->chan, tag, no_ack, &d) != 1)
		return;
	reply->ptr = d.msg;
	reply->tag = tag;
	reply->aux = lp_owner_ready_count(oq);
	reply->flags = d.redelivered ? LP_OP_F_REDELIVERED : 0;
}

void lp_owner_request(struct lp_broker *b, const struct lp_ring_op *op, struct lp_ring_op *reply)
{
	struct owned_queue *oq;

	*reply = lp_op_reply(op, 0); /* its type set below */
	reply->src = (uint16_t)b->id;
	switch (op->type) {
	case LP_OP_CONSUME:
		consume(b, op, reply);
		break;
	case LP_OP_CANCEL:
		cancel(b, op, reply);
		break;
	case LP_OP_GET:
		get(b, op, reply);
		break;
	case LP_OP_PURGE:
		oq = lp_owner_queue(b, op->qid);
		reply->type = LP_OP_PURGE_REPLY;
		reply->aux = 0;
		if (oq != NULL) {
			uint32_t pending = oq->rec_end - oq->rec_next + oq->paged.n;

			lp_persist_end(b, oq, false);
			reply->aux = lp_queue_purge(oq->q) + pending;
			oq->ended = false;
		}
		break;
	default: /* LP_OP_COUNTS */
		oq = lp_owner_queue(b, op->qid);
		if (oq != NULL) /* a declare: renews the x-expires lease */
			used(b, oq);
		reply->type = LP_OP_COUNTS_REPLY;
		reply->aux = oq != NULL ? lp_owner_ready_count(oq) : 0;
		reply->tag = oq != NULL ? lp_queue_consumer_count(oq->q) : UINT64_MAX;
		break;
	}
}

/* ---- operations this side owns (the handler table in mesh.c) ---------- */

void lp_owner_on_enqueue(struct lp_broker *b, const struct lp_ring_op *op)
{
	uint64_t ticket;
	int rc = lp_owner_enqueue(b, op->qid, op->ptr, &ticket);

	/* The verdict for a publisher with confirms: a reject-publish queue's
	 * at once, a journaled message's once it is durable. */
	if (!(op->flags & LP_OP_F_CONFIRM))
		return;
	if (ticket != 0 && lp_persist_wait_durable(b, ticket, op->src, op->chan, op->tag) == 0)
		return;
	lp_broker_send(b, op->src, lp_op_confirm(op->chan, op->tag, rc != -ENOBUFS && rc != -ENOSPC));
}

void lp_owner_on_settle(struct lp_broker *b, const struct lp_ring_op *op)
{
	lp_owner_settle(b, op);
}

void lp_owner_on_credit(struct lp_broker *b, const struct lp_ring_op *op)
{
	struct remote_channel *rc = &b->rchans[lp_chan_worker(op->chan) * b->cfg.max_channels +
					       lp_id_slot(op->chan)];

	if (rc->id == op->chan) /* a closed channel's late credit changes nothing */
		rc->inflight = rc->inflight > op->aux ? rc->inflight - op->aux : 0;
}

void lp_owner_on_recover(struct lp_broker *b, const struct lp_ring_op *op)
{
	for (uint32_t i = 0; i < b->n_live; i++)
		lp_queue_recover(b->queues[b->live[i]].q, op->chan);
}

void lp_owner_on_chan_closed(struct lp_broker *b, const struct lp_ring_op *op)
{
	channel_closed(b, op->chan);
}

void lp_owner_on_request(struct lp_broker *b, const struct lp_ring_op *op)
{
	struct lp_ring_op reply;

	lp_owner_request(b, op, &reply);
	lp_broker_send(b, op->src, reply);
}
