/* SPDX-License-Identifier: MIT */
/*
 * Consuming: Basic.Consume, Basic.Cancel, Basic.Get, Basic.Ack/Nack/Reject
 * and Basic.Recover, as requests to the queue's owner shard and their
 * replies, and the map from this channel's delivery tags to the owners'
 * tags for deliveries from other shards (broker_int.h).
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
#include "amqp_table.h"
#include "broker_int.h"
#include "ctl_link.h"
#include "message.h"
#include "queue.h"
#include "snapshot.h"
#include "topology.h"

static void continue_request(struct lp_broker *b, struct channel *bc, const struct lp_ring_op *r);

/* Remember a delivery from another shard under the channel's tag. Returns 0,
 * or -ENOBUFS when the shard's pool of such entries is used up. */
int lp_remote_tags_push(struct lp_broker *b, struct channel *bc, uint64_t tag, unsigned owner,
			uint64_t owner_tag)
{
	struct remote_tag *e = lp_fifo_push(&b->tag_pool, &bc->remote);

	if (e == NULL)
		return -ENOBUFS;
	*e = (struct remote_tag){.tag = tag, .owner_tag = owner_tag, .owner = (uint16_t)owner};
	return 0;
}

/* A queue of this shard was deleted with tag unacked on bc (a local
 * channel): RabbitMQ's channel still takes an ack, nack or reject of it,
 * with nothing left to settle. It joins bc->remote with no owner, in tag
 * order (an earlier queue's orphans or other shards' deliveries may have
 * later tags: the list is rebuilt around it, entry for entry). With the
 * shard's pool of such entries used up it is not kept: its ack is then a
 * 406 "unknown delivery tag". */
void lp_remote_tags_orphan(struct lp_broker *b, struct channel *bc, uint64_t tag)
{
	struct lp_fifo_pool *p = &b->tag_pool;
	struct remote_tag *t = bc->remote.n > 0 ? lp_fifo_entry(p, bc->remote.tail) : NULL;
	struct remote_tag orphan = {.tag = tag, .owner = LP_REMOTE_TAG_NO_OWNER};
	struct lp_fifo sorted;
	bool placed = false;

	if (t == NULL || t->tag < tag) {
		if ((t = lp_fifo_push(p, &bc->remote)) != NULL)
			*t = orphan;
		return;
	}
	lp_fifo_init(&sorted);
	while (bc->remote.n > 0) {
		struct remote_tag e = *(struct remote_tag *)lp_fifo_head(p, &bc->remote);

		lp_fifo_pop(p, &bc->remote);
		if (!placed && tag < e.tag) {
			if ((t = lp_fifo_push(p, &sorted)) != NULL)
				*t = orphan;
			placed = true;
		}
		t = lp_fifo_push(p, &sorted); /* the entry just popped: never fails */
		*t = e;
	}
	bc->remote = sorted;
}

static void remote_tags_trim(struct lp_broker *b, struct channel *bc)
{
	struct remote_tag *e;

	while ((e = lp_fifo_head(&b->tag_pool, &bc->remote)) != NULL && e->settled)
		lp_fifo_pop(&b->tag_pool, &bc->remote);
}

/* Settle the channel's remote deliveries named by (tag, multiple); the
 * owners get one operation each. Returns how many were settled. */
static int settle_remote(struct lp_broker *b, struct channel *bc, uint64_t tag, uint8_t flags)
{
	struct lp_fifo_pool *p = &b->tag_pool;
	uint64_t upto[256] = {0};
	struct remote_tag *e;
	int n = 0;

	if (!(flags & LP_OP_F_MULTIPLE)) {
		/* Tags grow along the FIFO: an ack usually names one near its head. */
		for (uint32_t i = lp_fifo_first(&bc->remote); i != LP_FIFO_NONE; i = lp_fifo_next(p, i)) {
			e = lp_fifo_entry(p, i);
			if (e->tag < tag)
				continue;
			if (e->tag != tag || e->settled)
				return 0;
			e->settled = true;
			if (e->owner != LP_REMOTE_TAG_NO_OWNER)
				lp_broker_send(b, e->owner, lp_op_settle(bc->id, e->owner_tag, flags));
			remote_tags_trim(b, bc);
			return 1;
		}
		return 0;
	}
	while ((e = lp_fifo_head(p, &bc->remote)) != NULL && (tag == 0 || e->tag <= tag)) {
		if (!e->settled) {
			if (e->owner != LP_REMOTE_TAG_NO_OWNER)
				upto[e->owner] = e->owner_tag;
			n++;
		}
		lp_fifo_pop(p, &bc->remote);
	}
	for (unsigned w = 0; w < b->n_workers; w++)
		if (upto[w] != 0)
			lp_broker_send(b, w, lp_op_settle(bc->id, upto[w], flags));
	remote_tags_trim(b, bc);
	return n;
}

/* Ask the owner of qid; a local owner answers at once. Returns 0 (done),
 * -EINPROGRESS (the channel waits for the reply) or what the reply gave. */
int lp_consume_request(struct lp_broker *b, struct channel *bc, unsigned owner, struct lp_ring_op op,
		   enum channel_wait wait)
{
	op.chan = bc->id;
	op.src = (uint16_t)b->id;
	bc->wait = wait;
	if (owner != b->id) {
		lp_broker_send(b, owner, op);
		return -EINPROGRESS;
	}
	struct lp_ring_op reply;

	if (op.type != LP_OP_CANCEL) /* sees what was published and closed before */
		lp_mesh_apply_earlier(b, b->id);
	/* The deliveries just applied took tags: the Get's is the next one. */
	if (op.type == LP_OP_GET)
		op.tag = bc->next_tag + 1;
	lp_owner_request(b, &op, &reply);
	reply.src = (uint16_t)b->id;
	continue_request(b, bc, &reply);
	return bc->wait != WAIT_NONE ? -EINPROGRESS : 0;
}

static struct consumer *consumer_find(struct lp_broker *b, struct channel *bc, struct lp_amqp_bytes tag)
{
	for (uint32_t i = 0; i < b->cfg.max_consumers; i++) {
		struct consumer *k = &b->consumers[i];

		if (k->used && k->chan == bc && k->tag_len == tag.len && memcmp(k->tag, tag.ptr, tag.len) == 0)
			return k;
	}
	return NULL;
}

/* The queue a Basic.Consume or Basic.Get names, or NULL after a channel error. */
static const struct lp_topology_queue *method_queue(struct lp_broker *b, struct channel *bc,
						    struct lp_amqp_bytes name, uint32_t method_id)
{
	struct lp_amqp_conn *c = bc->conn;
	char qname[LP_BROKER_NAME_LEN];

	lp_declare_queue_name(bc, qname, name);
	const struct lp_topology_queue *tq = lp_declare_queue_lookup(b, lp_amqp_conn_vhost(c), qname);

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
static uint16_t consumer_prefetch(const struct lp_broker *b, const struct channel *bc,
				  const struct consumer *k)
{
	if (k->owner == b->id || bc->prefetch_global == 0)
		return bc->prefetch;
	return bc->prefetch == 0 || bc->prefetch > bc->prefetch_global ? bc->prefetch_global
									 : bc->prefetch;
}

/* RabbitMQ's names of the field types (rabbit_binary_parser), for its error texts. */
static const char *field_type_name(uint8_t kind)
{
	switch (kind) {
	case LP_AMQP_FIELD_BOOL: return "bool";
	case LP_AMQP_FIELD_I8: return "byte";
	case LP_AMQP_FIELD_U8: return "unsignedbyte";
	case LP_AMQP_FIELD_I16: return "short";
	case LP_AMQP_FIELD_U16: return "unsignedshort";
	case LP_AMQP_FIELD_I32: return "signedint";
	case LP_AMQP_FIELD_U32: return "unsignedint";
	case LP_AMQP_FIELD_I64: case LP_AMQP_FIELD_U64: return "long";
	case LP_AMQP_FIELD_F32: return "float";
	case LP_AMQP_FIELD_F64: return "double";
	case LP_AMQP_FIELD_DECIMAL: return "decimal";
	case LP_AMQP_FIELD_LONGSTR: return "longstr";
	case LP_AMQP_FIELD_BYTES: return "binary";
	case LP_AMQP_FIELD_ARRAY: return "array";
	case LP_AMQP_FIELD_TIMESTAMP: return "timestamp";
	case LP_AMQP_FIELD_TABLE: return "table";
	case LP_AMQP_FIELD_VOID: return "void";
	default: return "unknown";
	}
}

/*
 * Basic.Consume's x-priority (RabbitMQ's rabbit_amqqueue:consume_args: an
 * integer of any width, 0 when absent; held as int32, larger values
 * clamped). Returns true with *prio, or false after closing the channel with
 * 406 PRECONDITION_FAILED and RabbitMQ 3.10's text.
 */
static bool consume_priority(struct channel *bc, const struct lp_amqp_basic_consume *a,
			     const char *qname, int32_t *prio)
{
	struct lp_amqp_field_value v;
	int64_t n;

	*prio = 0;
	if (a->arguments.len == 0 || !lp_amqp_table_get(a->arguments, "x-priority", &v))
		return true;
	if (!lp_amqp_field_int(&v, &n)) {
		lp_amqp_channel_error(bc->conn, bc->ch, LP_AMQP_PRECONDITION_FAILED, LP_AMQP_BASIC_CONSUME,
				      "invalid arg 'x-priority' for queue '%s' in vhost '%s': "
				      "\"expected integer, got %s\"", qname, lp_amqp_conn_vhost(bc->conn),
				      field_type_name(v.kind));
		return false;
	}
	*prio = n > INT32_MAX ? INT32_MAX : n < INT32_MIN ? INT32_MIN : (int32_t)n;
	return true;
}

int lp_consume_start(struct lp_broker *b, struct channel *bc, const struct lp_amqp_basic_consume *a)
{
	struct lp_amqp_conn *c = bc->conn;
	struct consumer *k = NULL;
	bool reply = lp_reply_to_is_pseudo(a->queue);
	const struct lp_topology_queue *tq =
		reply ? NULL : method_queue(b, bc, a->queue, LP_AMQP_BASIC_CONSUME);
	int32_t prio = 0;

	if (tq == NULL && !reply)
		return -ENOENT;
	if (a->consumer_tag.len > 0 && consumer_find(b, bc, a->consumer_tag) != NULL) {
		lp_amqp_conn_fail(c, LP_AMQP_NOT_ALLOWED, LP_AMQP_BASIC_CONSUME,
				  "attempt to reuse consumer tag '%.*s'", (int)a->consumer_tag.len,
				  (const char *)a->consumer_tag.ptr);
		return -EEXIST;
	}
	if (!reply && !consume_priority(bc, a, tq->name, &prio))
		return -EINVAL;
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
	if (reply)
		return lp_reply_to_consume(b, bc, a, k);
	k->reply = false;
	k->used = true;
	k->ready = false;
	k->chan = bc;
	k->qid = tq->qid;
	k->owner = (uint16_t)lp_broker_owner(b, tq->owner_shard);
	k->no_ack = a->no_ack;
	bc->wait_consumer = (uint32_t)(k - b->consumers);
	bc->nowait = a->nowait;
	return lp_consume_request(b, bc, k->owner,
		       lp_op_request(LP_OP_CONSUME, tq->qid, bc->id, consumer_handle(b, k),
				     lp_op_consume_tag(consumer_prefetch(b, bc, k), prio),
				     (uint8_t)((a->no_ack ? LP_OP_F_NO_ACK : 0) |
					       (a->exclusive ? LP_OP_F_EXCLUSIVE : 0))),
		       WAIT_CONSUME);
}

static void consume_done(struct channel *bc, struct consumer *k, int id, const char *qname)
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

static void send_cancel_ok(struct channel *bc, const struct consumer *k)
{
	struct lp_amqp_method ok = {.id = LP_AMQP_BASIC_CANCEL_OK};

	ok.basic_cancel_ok.consumer_tag = (struct lp_amqp_bytes){(const uint8_t *)k->tag, k->tag_len};
	if (!bc->nowait)
		lp_amqp_conn_send_method(bc->conn, bc->ch, &ok);
}

int lp_consume_cancel(struct lp_broker *b, struct channel *bc, const struct lp_amqp_basic_cancel *a)
{
	struct consumer *k = consumer_find(b, bc, a->consumer_tag);

	bc->nowait = a->nowait;
	/* RabbitMQ: unknown tags are fine; unacked deliveries stay with the channel. */
	if (k == NULL || !k->ready || k->reply) {
		struct lp_amqp_method ok = {.id = LP_AMQP_BASIC_CANCEL_OK};

		if (k != NULL && k->reply)
			k->used = false; /* no queue behind it */

		ok.basic_cancel_ok.consumer_tag = a->consumer_tag;
		if (!a->nowait)
			lp_amqp_conn_send_method(bc->conn, bc->ch, &ok);
		return 0;
	}
	bc->wait_consumer = (uint32_t)(k - b->consumers);
	return lp_consume_request(b, bc, k->owner,
		       lp_op_request(LP_OP_CANCEL, k->qid, bc->id, k->owner_id, 0, 0),
		       WAIT_CANCEL);
}

void lp_broker_consumer_cancelled(struct lp_broker *b, uint32_t handle)
{
	struct consumer *k = consumer_of(b, handle);

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
int lp_consume_settle_now(struct lp_broker *b, struct channel *bc, uint32_t method_id, uint64_t tag,
		      uint8_t flags)
{
	bool multiple = flags & LP_OP_F_MULTIPLE;
	struct lp_ring_op op = lp_op_settle(bc->id, tag, flags);
	int n = lp_owner_settle(b, &op);

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
int lp_consume_settle(struct lp_broker *b, struct channel *bc, uint32_t method_id, uint64_t tag,
		  bool multiple, bool ack, bool requeue)
{
	uint8_t flags = (uint8_t)((multiple ? LP_OP_F_MULTIPLE : 0) | (ack ? LP_OP_F_ACK : 0) |
				  (requeue ? LP_OP_F_REQUEUE : 0));

	if (bc->tx)
		return lp_tx_push(b, bc, (struct tx_entry){.flags = flags, .method_id = method_id, .tag = tag});
	return lp_consume_settle_now(b, bc, method_id, tag, flags);
}

static int get_request(struct lp_broker *b, struct channel *bc)
{
	return lp_consume_request(b, bc, bc->get_owner,
		       lp_op_request(LP_OP_GET, bc->get_qid, bc->id, 0, 0,
				     bc->wait_no_ack ? LP_OP_F_NO_ACK : 0),
		       WAIT_GET);
}

int lp_consume_get(struct lp_broker *b, struct channel *bc, const struct lp_amqp_basic_get *a)
{
	const struct lp_topology_queue *tq = method_queue(b, bc, a->queue, LP_AMQP_BASIC_GET);

	if (tq == NULL)
		return -ENOENT;
	bc->wait_no_ack = a->no_ack;
	bc->get_qid = tq->qid;
	bc->get_owner = (uint16_t)lp_broker_owner(b, tq->owner_shard);
	return get_request(b, bc);
}

void lp_consume_retry_gets(struct lp_broker *b)
{
	uint32_t n = b->n_get_retry, kept = 0;

	/* In place: a channel asked to retry again goes back at `kept`, which
	 * is never past the one being retried. */
	for (uint32_t i = 0; i < n; i++) {
		struct channel *bc = b->get_retry[i];

		bc->get_retry = false;
		b->n_get_retry = kept;
		if (get_request(b, bc) == 0)
			lp_amqp_session_resume(bc->session);
		kept = b->n_get_retry;
	}
	b->n_get_retry = kept;
}

static void get_done(struct lp_broker *b, struct channel *bc, const struct lp_ring_op *r)
{
	struct lp_amqp_conn *c = bc->conn;
	struct lp_msg *m = r->ptr;

	if (m == NULL && (r->flags & LP_OP_F_RETRY)) {
		/* Asked again at the next poll, the connection still paused. */
		bc->wait = WAIT_GET;
		if (!bc->get_retry) {
			bc->get_retry = true;
			b->get_retry[b->n_get_retry++] = bc;
		}
		return;
	}
	if (m == NULL) {
		struct lp_amqp_method e = {.id = LP_AMQP_BASIC_GET_EMPTY};

		lp_amqp_conn_send_method(c, bc->ch, &e);
		return;
	}
	if (r->src == b->id) {
		bc->next_tag = r->tag;
	} else if (!bc->wait_no_ack &&
		   lp_remote_tags_push(b, bc, bc->next_tag + 1, r->src, r->tag) != 0) {
		/* Its ack could not be routed back: the owner keeps it (requeued),
		 * the client sees an empty queue and may ask again. */
		struct lp_amqp_method e = {.id = LP_AMQP_BASIC_GET_EMPTY};

		lp_broker_send(b, r->src, lp_op_settle(bc->id, r->tag, LP_OP_F_REQUEUE));
		lp_msg_release(m);
		lp_amqp_conn_send_method(c, bc->ch, &e);
		return;
	} else {
		bc->next_tag++;
	}
	struct lp_amqp_method ok = {.id = LP_AMQP_BASIC_GET_OK};

	ok.basic_get_ok.delivery_tag = bc->next_tag;
	ok.basic_get_ok.redelivered = r->flags & LP_OP_F_REDELIVERED;
	ok.basic_get_ok.exchange = (struct lp_amqp_bytes){(const uint8_t *)m->exchange, m->exchange_len};
	ok.basic_get_ok.routing_key = (struct lp_amqp_bytes){(const uint8_t *)m->rkey, m->rkey_len};
	ok.basic_get_ok.message_count = r->aux;
	lp_amqp_conn_send_content_raw(c, bc->ch, &ok, m->props, m->props_len, m->body, m->body_len);
	b->stats.delivered++;
	lp_msg_release(m);
}

/* The owner answered bc's request r: finish the method. */
static void continue_request(struct lp_broker *b, struct channel *bc, const struct lp_ring_op *r)
{
	enum channel_wait wait = bc->wait;
	struct lp_amqp_method ok = {0};
	struct consumer *k = &b->consumers[bc->wait_consumer];

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
		lp_declare_send_ok(bc, &ok);
		break;
	case WAIT_DECLARE_COUNTS:
		ok.id = LP_AMQP_QUEUE_DECLARE_OK;
		ok.queue_declare_ok.queue = lp_amqp_cstr(bc->last_queue);
		ok.queue_declare_ok.message_count = r->aux;
		ok.queue_declare_ok.consumer_count = r->tag == UINT64_MAX ? 0 : (uint32_t)r->tag;
		lp_declare_send_ok(bc, &ok);
		break;
	case WAIT_DELETE_COUNTS:
		bc->req.flags |= LP_CTL_F_COUNTS;
		bc->req.message_count = r->aux;
		bc->req.consumer_count = r->tag == UINT64_MAX ? 0 : (uint32_t)r->tag;
		bc->delete_count = r->aux;
		lp_declare_submit(b, bc, LP_CTL_DELETE); /* waits again, or failed with a channel error */
		break;
	default:
		break;
	}
}

void lp_consume_on_reply(struct lp_broker *b, const struct lp_ring_op *op)
{
	struct channel *bc = lp_broker_chan(b, op->chan);

	if (bc == NULL || bc->wait == WAIT_NONE || bc->wait == WAIT_CONTROL) {
		/* The channel closed meanwhile: nothing to answer. */
		if (op->type == LP_OP_GET_REPLY && op->ptr != NULL)
			lp_msg_release(op->ptr);
		return;
	}
	continue_request(b, bc, op);
	if (bc->wait == WAIT_NONE)
		lp_amqp_session_resume(bc->session);
}

/* LP_OP_CANCELLED from an owner shard (the handler table in mesh.c). */
void lp_consume_on_cancelled(struct lp_broker *b, const struct lp_ring_op *op)
{
	lp_broker_consumer_cancelled(b, op->aux);
}
