/* SPDX-License-Identifier: MIT */
/*
 * The broker shard (see broker.h): channel state, declarations through
 * lepus-control, publish -> route -> enqueue, dispatch -> Basic.Deliver,
 * acknowledgements, Basic.Get, Qos, confirms. Everything it keeps comes from
 * fixed arrays and pools sized at start-up.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp/amqp_channel.h"
#include "amqp/amqp_reply.h"
#include "amqp/amqp_server.h"
#include "broker.h"
#include "ctl_link.h"
#include "message.h"
#include "queue.h"
#include "snapshot.h"
#include "topology.h"
#include "worker.h"

#define DISPATCH_BURST 64
#define ROUTE_MAX 1024
#define PROPS_MAX 4096
#define NAME_LEN (LP_CTL_NAME_MAX + 1)

struct bqueue {
	bool used;
	char vhost[NAME_LEN];
	char name[NAME_LEN];
	struct lp_queue *q;
};

struct bchan;

struct bconsumer {
	bool used;
	struct bchan *chan;
	struct bqueue *bq;
	uint32_t id; /* in bq->q */
	uint8_t tag_len;
	char tag[NAME_LEN];
};

struct bchan {
	bool used;
	uint32_t id; /* channel id given to the queues: slot + 1 */
	struct lp_amqp_session *session;
	struct lp_amqp_conn *conn;
	uint16_t ch;
	uint64_t next_tag;   /* delivery tags, per channel, from 1 */
	uint16_t prefetch;   /* Basic.Qos prefetch-count for new consumers */
	bool confirm;
	uint64_t publish_seq;
	char last_queue[NAME_LEN]; /* for the empty-name shortcut */
	/* Basic.Publish being assembled */
	struct lp_msg *pub;
	uint32_t pub_exchange;
	bool pub_mandatory;
	/* declaration waiting for lepus-control */
	int64_t req_id;
	uint16_t req_type;
	struct lp_ctl_def_req req;
	uint32_t method_id;
	bool nowait;
};

struct lp_broker {
	struct lp_worker *w;
	struct lp_ctl_link *ctl;
	struct lp_broker_config cfg;
	struct lp_msg_pool *pool;
	struct bqueue *queues;
	struct bchan *chans;
	struct bconsumer *consumers;
	uint64_t ctag_seq;
	/* Publishers paused while the message pool is low (back-pressure:
	 * their connections stop reading, TCP closes the window). */
	struct lp_amqp_session **blocked;
	uint32_t n_blocked;
	uint32_t low_water, high_water;
};

void lp_broker_config_default(struct lp_broker_config *cfg)
{
	*cfg = (struct lp_broker_config){
		.max_messages = 65536, .body_max = 128 * 1024, .max_queues = 1024,
		.queue_capacity = 65536, .max_channels = 4096, .max_consumers = 4096,
	};
}

static struct lp_broker *broker_of(struct lp_amqp_session *s)
{
	return lp_amqp_session_worker(s)->broker;
}

static const struct lp_snapshot *snap(const struct lp_broker *b)
{
	return b->w->snap;
}

static void copy_name(char *dst, struct lp_amqp_bytes v)
{
	size_t n = v.len < LP_CTL_NAME_MAX ? v.len : LP_CTL_NAME_MAX;

	memcpy(dst, v.ptr, n);
	dst[n] = '\0';
}

/* ---- queues ----------------------------------------------------------- */

static struct bqueue *bqueue_find(struct lp_broker *b, const char *vhost, const char *name)
{
	for (uint32_t i = 0; i < b->cfg.max_queues; i++)
		if (b->queues[i].used && strcmp(b->queues[i].name, name) == 0 &&
		    strcmp(b->queues[i].vhost, vhost) == 0)
			return &b->queues[i];
	return NULL;
}

/* The local queue for (vhost, name) if the topology has it; created on first use. */
static struct bqueue *bqueue_get(struct lp_broker *b, const char *vhost, const char *name)
{
	struct bqueue *bq = bqueue_find(b, vhost, name);

	if (bq != NULL)
		return bq;
	if (lp_topology_queue_find(snap(b)->topo, vhost, name, strlen(name)) == LP_TOPOLOGY_NONE)
		return NULL;
	for (uint32_t i = 0; i < b->cfg.max_queues; i++) {
		bq = &b->queues[i];
		if (bq->used)
			continue;
		struct lp_queue_config qc = {
			.capacity = b->cfg.queue_capacity, .max_consumers = 256,
			.max_length = LP_QUEUE_NO_MAX_LENGTH, .max_length_bytes = LP_QUEUE_NO_MAX_BYTES,
		};

		bq->q = lp_queue_create(&qc);
		if (bq->q == NULL)
			return NULL;
		bq->used = true;
		snprintf(bq->vhost, sizeof(bq->vhost), "%s", vhost);
		snprintf(bq->name, sizeof(bq->name), "%s", name);
		return bq;
	}
	return NULL;
}

static void consumers_drop_queue(struct lp_broker *b, struct bqueue *bq)
{
	for (uint32_t i = 0; i < b->cfg.max_consumers; i++)
		if (b->consumers[i].used && b->consumers[i].bq == bq)
			b->consumers[i].used = false;
}

static uint32_t bqueue_delete(struct lp_broker *b, struct bqueue *bq)
{
	consumers_drop_queue(b, bq);
	uint32_t n = lp_queue_message_count(bq->q);

	lp_queue_destroy(bq->q);
	bq->used = false;
	return n;
}

/* ---- channels --------------------------------------------------------- */

static struct bchan *chan_get(struct lp_amqp_conn *c, uint16_t ch)
{
	return c->channels[ch].user;
}

static void on_channel_open(void *ctx, struct lp_amqp_conn *c, uint16_t ch)
{
	struct lp_broker *b = broker_of(ctx);

	for (uint32_t i = 0; i < b->cfg.max_channels; i++) {
		struct bchan *bc = &b->chans[i];

		if (bc->used)
			continue;
		memset(bc, 0, sizeof(*bc));
		bc->used = true;
		bc->id = i + 1;
		bc->session = ctx;
		bc->conn = c;
		bc->ch = ch;
		c->channels[ch].user = bc;
		return;
	}
	/* No slot: the channel stays without state; its methods get 541. */
	c->channels[ch].user = NULL;
}

static void on_channel_close(void *ctx, struct lp_amqp_conn *c, uint16_t ch)
{
	struct lp_broker *b = broker_of(ctx);
	struct bchan *bc = chan_get(c, ch);

	if (bc == NULL)
		return;
	/* Consumers go, unacked deliveries return in order, redelivered. */
	for (uint32_t i = 0; i < b->cfg.max_queues; i++)
		if (b->queues[i].used)
			lp_queue_channel_close(b->queues[i].q, bc->id);
	for (uint32_t i = 0; i < b->cfg.max_consumers; i++)
		if (b->consumers[i].used && b->consumers[i].chan == bc)
			b->consumers[i].used = false;
	if (bc->pub != NULL)
		lp_msg_release(bc->pub);
	/* A paused publisher that goes away must not be resumed later. */
	for (uint32_t i = 0; i < b->n_blocked; i++)
		if (b->blocked[i] == bc->session)
			b->blocked[i--] = b->blocked[--b->n_blocked];
	bc->used = false;
	c->channels[ch].user = NULL;
}

/* ---- declarations ----------------------------------------------------- */

static int submit(struct lp_broker *b, struct bchan *bc, uint16_t type, uint32_t method_id, bool nowait)
{
	struct lp_amqp_conn *c = bc->conn;

	bc->req.conn_id = lp_amqp_session_id(bc->session);
	bc->req.worker = (uint16_t)b->w->id;
	snprintf(bc->req.vhost, sizeof(bc->req.vhost), "%s", lp_amqp_conn_vhost(c));
	snprintf(bc->req.user, sizeof(bc->req.user), "%s", lp_amqp_conn_user(c));
	bc->req_type = type;
	bc->method_id = method_id;
	bc->nowait = nowait;
	int64_t id = b->ctl != NULL ? lp_ctl_link_submit(b->ctl, type, &bc->req) : -ENOTCONN;

	if (id < 0) {
		lp_amqp_channel_error(c, bc->ch, LP_AMQP_INTERNAL_ERROR, method_id,
				      "lepus-control unavailable (%s)", strerror((int)-id));
		return -EIO;
	}
	bc->req_id = id;
	return -EINPROGRESS;
}

/* The request is encoded at once by submit(): the method's view may be used. */
static void req_args(struct bchan *bc, struct lp_amqp_bytes args)
{
	bc->req.args = args.ptr;
	bc->req.args_len = (uint16_t)args.len; /* checked in declaration() */
}

/* Empty queue name: the channel's most recently declared queue (RabbitMQ). */
static void queue_name(struct bchan *bc, char *dst, struct lp_amqp_bytes v)
{
	if (v.len == 0)
		snprintf(dst, NAME_LEN, "%s", bc->last_queue);
	else
		copy_name(dst, v);
}

static int declaration(struct lp_broker *b, struct bchan *bc, const struct lp_amqp_method *m)
{
	struct lp_ctl_def_req *r = &bc->req;
	struct lp_amqp_bytes args = {0};

	memset(r, 0, sizeof(*r));
	/* Arguments tables travel to lepus-control whole: refuse what cannot. */

	switch (m->id) {
	case LP_AMQP_EXCHANGE_DECLARE:
		args = m->exchange_declare.arguments;
		break;
	case LP_AMQP_EXCHANGE_BIND:
	case LP_AMQP_EXCHANGE_UNBIND:
		args = m->exchange_bind.arguments;
		break;
	case LP_AMQP_QUEUE_DECLARE:
		args = m->queue_declare.arguments;
		break;
	case LP_AMQP_QUEUE_BIND:
		args = m->queue_bind.arguments;
		break;
	case LP_AMQP_QUEUE_UNBIND:
		args = m->queue_unbind.arguments;
		break;
	default:
		break;
	}
	if (args.len > LP_CTL_ARGS_MAX) {
		lp_amqp_channel_error(bc->conn, bc->ch, LP_AMQP_PRECONDITION_FAILED, m->id,
				      "arguments table of %u octets is over Lepus's limit of %u",
				      args.len, LP_CTL_ARGS_MAX);
		return -EINVAL;
	}
	switch (m->id) {
	case LP_AMQP_EXCHANGE_DECLARE: {
		const struct lp_amqp_exchange_declare *a = &m->exchange_declare;

		r->object = LP_CTL_OBJ_EXCHANGE;
		r->flags = (a->passive ? LP_CTL_F_PASSIVE : 0) | (a->durable ? LP_CTL_F_DURABLE : 0) |
			   (a->auto_delete ? LP_CTL_F_AUTO_DELETE : 0) |
			   (a->internal ? LP_CTL_F_INTERNAL : 0);
		copy_name(r->name, a->exchange);
		copy_name(r->type, a->type);
		req_args(bc, a->arguments);
		return submit(b, bc, LP_CTL_DECLARE, m->id, a->nowait);
	}
	case LP_AMQP_EXCHANGE_DELETE:
		r->object = LP_CTL_OBJ_EXCHANGE;
		r->flags = m->exchange_delete.if_unused ? LP_CTL_F_IF_UNUSED : 0;
		copy_name(r->name, m->exchange_delete.exchange);
		return submit(b, bc, LP_CTL_DELETE, m->id, m->exchange_delete.nowait);
	case LP_AMQP_EXCHANGE_BIND:
	case LP_AMQP_EXCHANGE_UNBIND: {
		const struct lp_amqp_exchange_bind *a = &m->exchange_bind; /* same layout */

		r->object = LP_CTL_OBJ_EXCHANGE;
		copy_name(r->name, a->destination);
		copy_name(r->source, a->source);
		copy_name(r->routing_key, a->routing_key);
		req_args(bc, a->arguments);
		return submit(b, bc, m->id == LP_AMQP_EXCHANGE_BIND ? LP_CTL_BIND : LP_CTL_UNBIND,
			      m->id, a->nowait);
	}
	case LP_AMQP_QUEUE_DECLARE: {
		const struct lp_amqp_queue_declare *a = &m->queue_declare;

		r->object = LP_CTL_OBJ_QUEUE;
		r->flags = (a->passive ? LP_CTL_F_PASSIVE : 0) | (a->durable ? LP_CTL_F_DURABLE : 0) |
			   (a->auto_delete ? LP_CTL_F_AUTO_DELETE : 0) |
			   (a->exclusive ? LP_CTL_F_EXCLUSIVE : 0);
		copy_name(r->name, a->queue);
		req_args(bc, a->arguments);
		return submit(b, bc, LP_CTL_DECLARE, m->id, a->nowait);
	}
	case LP_AMQP_QUEUE_BIND:
		r->object = LP_CTL_OBJ_QUEUE;
		queue_name(bc, r->name, m->queue_bind.queue);
		copy_name(r->source, m->queue_bind.exchange);
		copy_name(r->routing_key, m->queue_bind.routing_key);
		req_args(bc, m->queue_bind.arguments);
		return submit(b, bc, LP_CTL_BIND, m->id, m->queue_bind.nowait);
	case LP_AMQP_QUEUE_UNBIND:
		r->object = LP_CTL_OBJ_QUEUE;
		queue_name(bc, r->name, m->queue_unbind.queue);
		copy_name(r->source, m->queue_unbind.exchange);
		copy_name(r->routing_key, m->queue_unbind.routing_key);
		req_args(bc, m->queue_unbind.arguments);
		return submit(b, bc, LP_CTL_UNBIND, m->id, false);
	case LP_AMQP_QUEUE_PURGE:
		r->object = LP_CTL_OBJ_QUEUE;
		queue_name(bc, r->name, m->queue_purge.queue);
		return submit(b, bc, LP_CTL_PURGE, m->id, m->queue_purge.nowait);
	default: { /* LP_AMQP_QUEUE_DELETE */
		const struct lp_amqp_queue_delete *a = &m->queue_delete;
		char name[NAME_LEN];

		r->object = LP_CTL_OBJ_QUEUE;
		queue_name(bc, name, a->queue);
		memcpy(r->name, name, sizeof(name));
		r->flags = (a->if_unused ? LP_CTL_F_IF_UNUSED : 0) | (a->if_empty ? LP_CTL_F_IF_EMPTY : 0);
		struct bqueue *bq = bqueue_find(b, lp_amqp_conn_vhost(bc->conn), name);

		/* This shard owns every queue: give lepus-control the counts at once. */
		r->flags |= LP_CTL_F_COUNTS;
		r->message_count = bq ? lp_queue_message_count(bq->q) : 0;
		r->consumer_count = bq ? lp_queue_consumer_count(bq->q) : 0;
		return submit(b, bc, LP_CTL_DELETE, m->id, a->nowait);
	}
	}
}

/* Reply text "CODE_NAME - text" from control: the channel adds the name itself. */
static const char *strip_code_name(const char *text)
{
	const char *dash = strstr(text, " - ");

	return dash != NULL ? dash + 3 : text;
}

static void answer(struct lp_broker *b, struct bchan *bc, const struct lp_ctl_result *r)
{
	struct lp_amqp_conn *c = bc->conn;
	const char *vhost = lp_amqp_conn_vhost(c);
	struct lp_amqp_method ok = {0};
	struct bqueue *bq;

	switch (bc->method_id) {
	case LP_AMQP_EXCHANGE_DECLARE:
		ok.id = LP_AMQP_EXCHANGE_DECLARE_OK;
		break;
	case LP_AMQP_EXCHANGE_DELETE:
		ok.id = LP_AMQP_EXCHANGE_DELETE_OK;
		break;
	case LP_AMQP_EXCHANGE_BIND:
		ok.id = LP_AMQP_EXCHANGE_BIND_OK;
		break;
	case LP_AMQP_EXCHANGE_UNBIND:
		ok.id = LP_AMQP_EXCHANGE_UNBIND_OK;
		break;
	case LP_AMQP_QUEUE_DECLARE:
		snprintf(bc->last_queue, sizeof(bc->last_queue), "%s", r->queue);
		bq = bqueue_get(b, vhost, r->queue);
		ok.id = LP_AMQP_QUEUE_DECLARE_OK;
		ok.queue_declare_ok.queue = lp_amqp_cstr(bc->last_queue);
		ok.queue_declare_ok.message_count = bq ? lp_queue_message_count(bq->q) : 0;
		ok.queue_declare_ok.consumer_count = bq ? lp_queue_consumer_count(bq->q) : 0;
		break;
	case LP_AMQP_QUEUE_BIND:
		ok.id = LP_AMQP_QUEUE_BIND_OK;
		break;
	case LP_AMQP_QUEUE_UNBIND:
		ok.id = LP_AMQP_QUEUE_UNBIND_OK;
		break;
	case LP_AMQP_QUEUE_PURGE:
		bq = bqueue_get(b, vhost, bc->req.name);
		ok.id = LP_AMQP_QUEUE_PURGE_OK;
		ok.queue_purge_ok.message_count = bq ? lp_queue_purge(bq->q) : 0;
		break;
	default: /* LP_AMQP_QUEUE_DELETE */
		bq = bqueue_find(b, vhost, bc->req.name);
		ok.id = LP_AMQP_QUEUE_DELETE_OK;
		ok.queue_delete_ok.message_count = bq ? bqueue_delete(b, bq) : 0;
		break;
	}
	if (!bc->nowait)
		lp_amqp_conn_send_method(c, bc->ch, &ok);
}

void lp_broker_on_result(struct lp_worker *w, const struct lp_ctl_result *r)
{
	struct lp_broker *b = w->broker;

	if (b == NULL)
		return;
	for (uint32_t i = 0; i < b->cfg.max_channels; i++) {
		struct bchan *bc = &b->chans[i];

		if (!bc->used || bc->req_id != (int64_t)r->req_id)
			continue;
		bc->req_id = 0;
		/* The batch carrying r->version came before this RESULT on the same
		 * socket and was published then: this worker's next load sees it.
		 * Refresh now, as the answer below reads it. */
		w->snap = lp_snapshot_current(w->snapshots);
		if (r->reply_code != 0)
			lp_amqp_channel_error(bc->conn, bc->ch, r->reply_code, bc->method_id, "%s",
					      strip_code_name(r->text));
		else
			answer(b, bc, r);
		lp_amqp_session_resume(bc->session);
		return;
	}
}

/* ---- publishing ------------------------------------------------------- */

static int start_publish(struct lp_broker *b, struct bchan *bc, const struct lp_amqp_basic_publish *p)
{
	const char *vhost = lp_amqp_conn_vhost(bc->conn);
	char x[NAME_LEN];

	copy_name(x, p->exchange);
	uint32_t xi = lp_topology_exchange_find(snap(b)->topo, vhost, x, strlen(x));

	if (xi == LP_TOPOLOGY_NONE) {
		lp_amqp_channel_error(bc->conn, bc->ch, LP_AMQP_NOT_FOUND, LP_AMQP_BASIC_PUBLISH,
				      "no exchange '%s' in vhost '%s'", x, vhost);
		return -ENOENT;
	}
	if (x[0] != '\0' && lp_topology_exchange_internal(snap(b)->topo, xi)) {
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
	/* Back-pressure, never loss: below the low-water mark this publisher's
	 * connection stops reading until the pool is back above high water. */
	if (lp_msg_pool_available(b->pool) < b->low_water) {
		for (uint32_t i = 0; i < b->n_blocked; i++)
			if (b->blocked[i] == bc->session)
				return -EINPROGRESS;
		if (b->n_blocked < b->cfg.max_channels) {
			b->blocked[b->n_blocked++] = bc->session;
			return -EINPROGRESS;
		}
	}
	return 0;
}

static void send_confirm(struct bchan *bc, bool ack)
{
	struct lp_amqp_method m = {0};

	if (!bc->confirm)
		return;
	if (ack) {
		m.id = LP_AMQP_BASIC_ACK;
		m.basic_ack.delivery_tag = bc->publish_seq;
	} else {
		m.id = LP_AMQP_BASIC_NACK;
		m.basic_nack.delivery_tag = bc->publish_seq;
	}
	lp_amqp_conn_send_method(bc->conn, bc->ch, &m);
}

/* Decoded properties of m (views into m->props). */
static void msg_props(const struct lp_msg *m, struct lp_amqp_basic_properties *p)
{
	memset(p, 0, sizeof(*p));
	if (m->props_len > 0)
		lp_amqp_basic_properties_decode(m->props, m->props_len, p);
}

static void finish_publish(struct lp_broker *b, struct bchan *bc)
{
	struct lp_msg *m = bc->pub;
	uint32_t dests[ROUTE_MAX];
	struct lp_amqp_bytes headers = {0};
	struct lp_amqp_basic_properties props;
	const char *vhost = lp_amqp_conn_vhost(bc->conn);
	const struct lp_topology *t = snap(b)->topo;
	int n, queued = 0;

	bc->pub = NULL;
	bc->publish_seq++;
	msg_props(m, &props);
	if (props.flags & (1u << 13)) /* headers present (spec 4.2.6.1 property flags) */
		headers = props.headers;
	n = lp_topology_route(t, bc->pub_exchange, m->rkey, m->rkey_len, headers, dests, ROUTE_MAX);
	if (n > ROUTE_MAX)
		n = ROUTE_MAX;
	for (int i = 0; i < n; i++) {
		const struct lp_topology_queue *tq = lp_topology_queue(t, dests[i]);
		struct bqueue *bq = tq ? bqueue_get(b, vhost, tq->name) : NULL;

		if (bq == NULL)
			continue;
		lp_msg_ref(m, 1);
		if (lp_queue_enqueue(bq->q, m) < 0)
			lp_msg_release(m);
		else
			queued++;
	}
	if (queued == 0 && bc->pub_mandatory) {
		struct lp_amqp_method ret = {.id = LP_AMQP_BASIC_RETURN};

		ret.basic_return.reply_code = LP_AMQP_NO_ROUTE;
		ret.basic_return.reply_text = lp_amqp_cstr("NO_ROUTE");
		ret.basic_return.exchange = (struct lp_amqp_bytes){(const uint8_t *)m->exchange, m->exchange_len};
		ret.basic_return.routing_key = (struct lp_amqp_bytes){(const uint8_t *)m->rkey, m->rkey_len};
		lp_amqp_conn_send_content(bc->conn, bc->ch, &ret, &props, m->body, m->body_len);
	}
	send_confirm(bc, true);
	lp_msg_release(m);
}

static int on_content_header(void *ctx, struct lp_amqp_conn *c, uint16_t ch,
			     const struct lp_amqp_content_header *h)
{
	struct lp_broker *b = broker_of(ctx);
	struct bchan *bc = chan_get(c, ch);
	int n;

	if (bc == NULL || bc->pub == NULL)
		return -ENOTSUP;
	if (h->body_size > lp_msg_pool_body_max(b->pool)) {
		lp_amqp_channel_error(c, ch, LP_AMQP_PRECONDITION_FAILED, LP_AMQP_BASIC_PUBLISH,
				      "message size %" PRIu64 " is larger than configured max size %u",
				      h->body_size, lp_msg_pool_body_max(b->pool));
		lp_msg_release(bc->pub);
		bc->pub = NULL;
		return -EMSGSIZE;
	}
	n = lp_amqp_basic_properties_encode(&h->props, bc->pub->props, lp_msg_pool_props_max(b->pool));
	bc->pub->props_len = n > 0 ? (uint32_t)n : 0;
	if (h->body_size == 0)
		finish_publish(b, bc);
	return 0;
}

static int on_content_body(void *ctx, struct lp_amqp_conn *c, uint16_t ch, const uint8_t *p,
			   size_t len, bool last)
{
	struct lp_broker *b = broker_of(ctx);
	struct bchan *bc = chan_get(c, ch);

	if (bc == NULL || bc->pub == NULL)
		return -ENOTSUP;
	/* The header's body_size was checked against body_max; the channel
	 * checks the pieces add up to it (spec 4.2.6.2). */
	memcpy(bc->pub->body + bc->pub->body_len, p, len);
	bc->pub->body_len += (uint32_t)len;
	if (last)
		finish_publish(b, bc);
	return 0;
}

/* ---- consuming -------------------------------------------------------- */

static struct bconsumer *consumer_find(struct lp_broker *b, struct bchan *bc, struct lp_amqp_bytes tag)
{
	for (uint32_t i = 0; i < b->cfg.max_consumers; i++) {
		struct bconsumer *k = &b->consumers[i];

		if (k->used && k->chan == bc && k->tag_len == tag.len && memcmp(k->tag, tag.ptr, tag.len) == 0)
			return k;
	}
	return NULL;
}

static int consume(struct lp_broker *b, struct bchan *bc, const struct lp_amqp_basic_consume *a)
{
	struct lp_amqp_conn *c = bc->conn;
	char qname[NAME_LEN];
	struct bconsumer *k = NULL;

	queue_name(bc, qname, a->queue);
	struct bqueue *bq = bqueue_get(b, lp_amqp_conn_vhost(c), qname);

	if (bq == NULL) {
		lp_amqp_channel_error(c, bc->ch, LP_AMQP_NOT_FOUND, LP_AMQP_BASIC_CONSUME,
				      "no queue '%s' in vhost '%s'", qname, lp_amqp_conn_vhost(c));
		return -ENOENT;
	}
	if (a->consumer_tag.len > 0 && consumer_find(b, bc, a->consumer_tag) != NULL) {
		lp_amqp_conn_fail(c, LP_AMQP_NOT_ALLOWED, LP_AMQP_BASIC_CONSUME,
				  "attempt to reuse consumer tag '%.*s'", (int)a->consumer_tag.len,
				  (const char *)a->consumer_tag.ptr);
		return -EEXIST;
	}
	for (uint32_t i = 0; i < b->cfg.max_consumers && k == NULL; i++)
		if (!b->consumers[i].used)
			k = &b->consumers[i];
	if (k == NULL) {
		lp_amqp_channel_error(c, bc->ch, LP_AMQP_RESOURCE_ERROR, LP_AMQP_BASIC_CONSUME,
				      "too many consumers on this worker");
		return -ENOSPC;
	}
	if (a->consumer_tag.len > 0) {
		copy_name(k->tag, a->consumer_tag);
	} else {
		snprintf(k->tag, sizeof(k->tag), "amq.ctag-lepus-%" PRIu64, ++b->ctag_seq);
	}
	k->tag_len = (uint8_t)strlen(k->tag);
	struct lp_queue_consumer_spec spec = {
		.tag = k->tag, .tag_len = k->tag_len, .channel = bc->id, .prefetch = bc->prefetch,
		.no_ack = a->no_ack, .exclusive = a->exclusive, .handle = k,
	};
	int id = lp_queue_consumer_add(bq->q, &spec);

	if (id < 0) {
		if (id == -EBUSY)
			lp_amqp_channel_error(c, bc->ch, LP_AMQP_ACCESS_REFUSED, LP_AMQP_BASIC_CONSUME,
					      "queue '%s' in vhost '%s' in exclusive use", qname,
					      lp_amqp_conn_vhost(c));
		else
			lp_amqp_channel_error(c, bc->ch, LP_AMQP_RESOURCE_ERROR, LP_AMQP_BASIC_CONSUME,
					      "cannot add a consumer (%d)", id);
		return -EIO;
	}
	k->used = true;
	k->chan = bc;
	k->bq = bq;
	k->id = (uint32_t)id;
	if (!a->nowait) {
		struct lp_amqp_method ok = {.id = LP_AMQP_BASIC_CONSUME_OK};

		ok.basic_consume_ok.consumer_tag = (struct lp_amqp_bytes){(const uint8_t *)k->tag, k->tag_len};
		lp_amqp_conn_send_method(c, bc->ch, &ok);
	}
	return 0;
}

static int cancel(struct lp_broker *b, struct bchan *bc, const struct lp_amqp_basic_cancel *a)
{
	struct bconsumer *k = consumer_find(b, bc, a->consumer_tag);

	/* RabbitMQ: unacked deliveries stay with the channel; unknown tags are fine. */
	if (k != NULL) {
		lp_queue_consumer_remove(k->bq->q, k->id, false);
		k->used = false;
	}
	if (!a->nowait) {
		struct lp_amqp_method ok = {.id = LP_AMQP_BASIC_CANCEL_OK};

		ok.basic_cancel_ok.consumer_tag = a->consumer_tag;
		lp_amqp_conn_send_method(bc->conn, bc->ch, &ok);
	}
	return 0;
}

/* Ack/Nack/Reject: the channel's deliveries may come from any queue. */
static int settle(struct lp_broker *b, struct bchan *bc, uint32_t method_id, uint64_t tag,
		  bool multiple, bool ack, bool requeue)
{
	int n = 0;

	for (uint32_t i = 0; i < b->cfg.max_queues; i++) {
		if (!b->queues[i].used)
			continue;
		n += ack ? lp_queue_ack(b->queues[i].q, bc->id, tag, multiple)
			 : lp_queue_nack(b->queues[i].q, bc->id, tag, multiple, requeue);
	}
	if (n == 0 && !(multiple && tag == 0)) {
		lp_amqp_channel_error(bc->conn, bc->ch, LP_AMQP_PRECONDITION_FAILED, method_id,
				      "unknown delivery tag %" PRIu64, tag);
		return -ENOENT;
	}
	return 0;
}

static int get(struct lp_broker *b, struct bchan *bc, const struct lp_amqp_basic_get *a)
{
	struct lp_amqp_conn *c = bc->conn;
	char qname[NAME_LEN];
	struct lp_queue_delivery d;

	queue_name(bc, qname, a->queue);
	struct bqueue *bq = bqueue_get(b, lp_amqp_conn_vhost(c), qname);

	if (bq == NULL) {
		lp_amqp_channel_error(c, bc->ch, LP_AMQP_NOT_FOUND, LP_AMQP_BASIC_GET,
				      "no queue '%s' in vhost '%s'", qname, lp_amqp_conn_vhost(c));
		return -ENOENT;
	}
	if (lp_queue_get(bq->q, bc->id, bc->next_tag + 1, a->no_ack, &d) != 1) {
		struct lp_amqp_method e = {.id = LP_AMQP_BASIC_GET_EMPTY};

		lp_amqp_conn_send_method(c, bc->ch, &e);
		return 0;
	}
	bc->next_tag++;
	struct lp_amqp_method ok = {.id = LP_AMQP_BASIC_GET_OK};
	struct lp_amqp_basic_properties props;

	ok.basic_get_ok.delivery_tag = bc->next_tag;
	ok.basic_get_ok.redelivered = d.redelivered;
	ok.basic_get_ok.exchange = (struct lp_amqp_bytes){(const uint8_t *)d.msg->exchange, d.msg->exchange_len};
	ok.basic_get_ok.routing_key = (struct lp_amqp_bytes){(const uint8_t *)d.msg->rkey, d.msg->rkey_len};
	ok.basic_get_ok.message_count = lp_queue_message_count(bq->q);
	msg_props(d.msg, &props);
	lp_amqp_conn_send_content(c, bc->ch, &ok, &props, d.msg->body, d.msg->body_len);
	lp_msg_release(d.msg);
	return 0;
}

static int on_method(void *ctx, struct lp_amqp_conn *c, uint16_t ch, const struct lp_amqp_method *m)
{
	struct lp_broker *b = broker_of(ctx);
	struct bchan *bc = chan_get(c, ch);
	struct lp_amqp_method ok = {0};

	if (bc == NULL || b->w->snap == NULL)
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
		return declaration(b, bc, m);
	case LP_AMQP_BASIC_PUBLISH:
		return start_publish(b, bc, &m->basic_publish);
	case LP_AMQP_BASIC_QOS:
		bc->prefetch = m->basic_qos.prefetch_count;
		ok.id = LP_AMQP_BASIC_QOS_OK;
		lp_amqp_conn_send_method(c, ch, &ok);
		return 0;
	case LP_AMQP_BASIC_CONSUME:
		return consume(b, bc, &m->basic_consume);
	case LP_AMQP_BASIC_CANCEL:
		return cancel(b, bc, &m->basic_cancel);
	case LP_AMQP_BASIC_GET:
		return get(b, bc, &m->basic_get);
	case LP_AMQP_BASIC_ACK:
		return settle(b, bc, m->id, m->basic_ack.delivery_tag, m->basic_ack.multiple, true, false);
	case LP_AMQP_BASIC_NACK:
		return settle(b, bc, m->id, m->basic_nack.delivery_tag, m->basic_nack.multiple, false,
			      m->basic_nack.requeue);
	case LP_AMQP_BASIC_REJECT:
		return settle(b, bc, m->id, m->basic_reject.delivery_tag, false, false,
			      m->basic_reject.requeue);
	case LP_AMQP_BASIC_RECOVER:
		for (uint32_t i = 0; i < b->cfg.max_queues; i++)
			if (b->queues[i].used)
				lp_queue_recover(b->queues[i].q, bc->id);
		ok.id = LP_AMQP_BASIC_RECOVER_OK;
		lp_amqp_conn_send_method(c, ch, &ok);
		return 0;
	case LP_AMQP_CONFIRM_SELECT:
		bc->confirm = true;
		if (!m->confirm_select.nowait) {
			ok.id = LP_AMQP_CONFIRM_SELECT_OK;
			lp_amqp_conn_send_method(c, ch, &ok);
		}
		return 0;
	default:
		return -ENOTSUP; /* tx.*: 540 NOT_IMPLEMENTED */
	}
}

static const struct lp_amqp_conn_ops broker_ops = {
	.on_channel_open = on_channel_open,
	.on_channel_close = on_channel_close,
	.on_method = on_method,
	.on_content_header = on_content_header,
	.on_content_body = on_content_body,
};

const struct lp_amqp_conn_ops *lp_broker_conn_ops(void)
{
	return &broker_ops;
}

/* ---- dispatch --------------------------------------------------------- */

/* Tag for the next delivery on channel id; 0 refuses (send buffer too full). */
static uint64_t next_tag(void *ctx, uint32_t channel)
{
	struct lp_broker *b = ctx;
	struct bchan *bc = &b->chans[channel - 1];

	if (!bc->used || lp_amqp_outbuf_room(&bc->conn->out) < lp_msg_pool_body_max(b->pool) / 2 + 4096)
		return 0;
	return ++bc->next_tag;
}

void lp_broker_poll(struct lp_worker *w)
{
	struct lp_broker *b = w->broker;
	struct lp_queue_delivery d[DISPATCH_BURST];

	if (b == NULL)
		return;
	if (b->n_blocked > 0 && lp_msg_pool_available(b->pool) >= b->high_water) {
		uint32_t n = b->n_blocked;

		b->n_blocked = 0;
		for (uint32_t i = 0; i < n; i++)
			lp_amqp_session_resume(b->blocked[i]);
	}
	for (uint32_t i = 0; i < b->cfg.max_queues; i++) {
		struct bqueue *bq = &b->queues[i];

		if (!bq->used || lp_queue_consumer_count(bq->q) == 0 || lp_queue_message_count(bq->q) == 0)
			continue;
		unsigned n = lp_queue_dispatch(bq->q, next_tag, b, d, DISPATCH_BURST);

		for (unsigned j = 0; j < n; j++) {
			struct bconsumer *k = d[j].handle;
			struct bchan *bc = &b->chans[d[j].channel - 1];
			struct lp_amqp_method m = {.id = LP_AMQP_BASIC_DELIVER};
			struct lp_amqp_basic_properties props;

			m.basic_deliver.consumer_tag = (struct lp_amqp_bytes){(const uint8_t *)k->tag, k->tag_len};
			m.basic_deliver.delivery_tag = d[j].delivery_tag;
			m.basic_deliver.redelivered = d[j].redelivered;
			m.basic_deliver.exchange = (struct lp_amqp_bytes){(const uint8_t *)d[j].msg->exchange,
									  d[j].msg->exchange_len};
			m.basic_deliver.routing_key = (struct lp_amqp_bytes){(const uint8_t *)d[j].msg->rkey,
									     d[j].msg->rkey_len};
			msg_props(d[j].msg, &props);
			lp_amqp_conn_send_content(bc->conn, bc->ch, &m, &props, d[j].msg->body,
						  d[j].msg->body_len);
			lp_msg_release(d[j].msg);
		}
	}
}

/* ---- life cycle ------------------------------------------------------- */

int lp_broker_create(struct lp_worker *w, const struct lp_broker_config *cfg, struct lp_ctl_link *ctl)
{
	struct lp_broker *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return -ENOMEM;
	b->w = w;
	b->ctl = ctl;
	b->cfg = *cfg;
	b->pool = lp_msg_pool_create(cfg->max_messages, PROPS_MAX, cfg->body_max);
	b->queues = calloc(cfg->max_queues, sizeof(*b->queues));
	b->chans = calloc(cfg->max_channels, sizeof(*b->chans));
	b->consumers = calloc(cfg->max_consumers, sizeof(*b->consumers));
	b->blocked = calloc(cfg->max_channels, sizeof(*b->blocked));
	b->low_water = cfg->max_messages / 8;
	b->high_water = cfg->max_messages / 4;
	if (b->pool == NULL || b->queues == NULL || b->chans == NULL || b->consumers == NULL ||
	    b->blocked == NULL) {
		w->broker = b;
		lp_broker_destroy(w);
		return -ENOMEM;
	}
	w->broker = b;
	return 0;
}

void lp_broker_destroy(struct lp_worker *w)
{
	struct lp_broker *b = w->broker;

	if (b == NULL)
		return;
	for (uint32_t i = 0; b->queues != NULL && i < b->cfg.max_queues; i++)
		if (b->queues[i].used)
			lp_queue_destroy(b->queues[i].q);
	for (uint32_t i = 0; b->chans != NULL && i < b->cfg.max_channels; i++)
		if (b->chans[i].used && b->chans[i].pub != NULL)
			lp_msg_release(b->chans[i].pub);
	lp_msg_pool_destroy(b->pool);
	free(b->queues);
	free(b->chans);
	free(b->consumers);
	free(b->blocked);
	free(b);
	w->broker = NULL;
}
