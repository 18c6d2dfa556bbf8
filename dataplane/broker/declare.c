/* SPDX-License-Identifier: MIT */
/*
 * Declarations: the methods of classes exchange and queue that change the
 * topology go to lepus-control (directly with one lcore, else through the
 * main lcore's relay) and the channel waits for the RESULT; the answers
 * (Declare-Ok with counts, Purge-Ok, Delete-Ok), closed connections and
 * unused auto-delete queues reported to lepus-control.
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

static int relay_send(struct lp_broker *b, struct relay_msg *m)
{
	m->worker = (uint16_t)b->id;
	if (rte_ring_enqueue(lp_mesh_to_main(b->mesh, b->id), m) != 0) {
		lp_mesh_relay_put(m);
		return -ENOBUFS;
	}
	return 0;
}

void lp_broker_queue_unused(struct lp_broker *b, const char *vhost, const char *name)
{
	if (b->ctl != NULL) {
		lp_ctl_link_queue_unused(b->ctl, vhost, name);
		return;
	}
	struct relay_msg *m = lp_mesh_relay_get(b->mesh, b->id, true);

	if (m == NULL) {
		b->stats.notices_lost++;
		return;
	}
	m->kind = RELAY_QUEUE_UNUSED;
	snprintf(m->unused.vhost, sizeof(m->unused.vhost), "%s", vhost);
	snprintf(m->unused.queue, sizeof(m->unused.queue), "%s", name);
	relay_send(b, m);
}

void lp_broker_on_session_closed(void *arg, struct lp_amqp_session *s)
{
	struct lp_broker *b = arg;
	uint64_t conn_id = lp_amqp_session_id(s);

	if (b->ctl != NULL) {
		lp_ctl_link_connection_closed(b->ctl, conn_id);
		return;
	}
	struct relay_msg *m = lp_mesh_relay_get(b->mesh, b->id, true);

	if (m == NULL) {
		b->stats.notices_lost++;
		return;
	}
	m->kind = RELAY_CONN_CLOSED;
	m->conn_id = conn_id;
	relay_send(b, m);
}

/* Send bc->req (type) to lepus-control; the channel waits for the RESULT. */
int lp_declare_submit(struct lp_broker *b, struct channel *bc, uint16_t type)
{
	struct lp_amqp_conn *c = bc->conn;
	int64_t id;

	bc->req.conn_id = lp_amqp_session_id(bc->session);
	bc->req.worker = (uint16_t)b->id;
	snprintf(bc->req.vhost, sizeof(bc->req.vhost), "%s", lp_amqp_conn_vhost(c));
	snprintf(bc->req.user, sizeof(bc->req.user), "%s", lp_amqp_conn_user(c));
	bc->req_type = type;
	if (b->ctl != NULL) {
		id = lp_ctl_link_submit(b->ctl, type, &bc->req);
	} else if (b->mesh == NULL) {
		id = -ENOTCONN;
	} else {
		/* The arguments table is copied: the method's bytes do not outlive it. */
		struct relay_msg *m = bc->req.args_len <= LP_CTL_ARGS_MAX
					      ? lp_mesh_relay_get(b->mesh, b->id, false) : NULL;

		id = bc->req.args_len > LP_CTL_ARGS_MAX ? -EMSGSIZE : -ENOBUFS;
		if (m != NULL) {
			m->kind = RELAY_SUBMIT;
			m->type = type;
			m->cookie = ++b->req_seq;
			m->req = bc->req;
			if (bc->req.args_len > 0)
				memcpy(m->args, bc->req.args, bc->req.args_len);
			m->req.args = m->args;
			id = relay_send(b, m) == 0 ? (int64_t)b->req_seq : -ENOBUFS;
		}
	}
	if (id < 0) {
		lp_amqp_channel_error(c, bc->ch, LP_AMQP_INTERNAL_ERROR, bc->method_id,
				      "lepus-control unavailable (%s)", strerror((int)-id));
		return -EIO;
	}
	bc->req_id = (uint64_t)id;
	bc->wait = WAIT_CONTROL;
	return -EINPROGRESS;
}

const struct lp_topology_queue *lp_declare_queue_lookup(const struct lp_broker *b, const char *vhost,
						    const char *name)
{
	const struct lp_topology *t = b->snap->topo;

	return lp_topology_queue(t, lp_topology_queue_find(t, vhost, name, strlen(name)));
}

/* Empty queue name: the channel's most recently declared queue (RabbitMQ). */
void lp_declare_queue_name(struct channel *bc, char *dst, struct lp_amqp_bytes v)
{
	if (v.len == 0)
		snprintf(dst, LP_BROKER_NAME_LEN, "%s", bc->last_queue);
	else
		copy_name(dst, v);
}

static void req_args(struct channel *bc, struct lp_amqp_bytes args)
{
	bc->req.args = args.ptr;
	bc->req.args_len = (uint16_t)args.len; /* checked in lp_declare_method() */
}

static struct lp_amqp_bytes method_args(const struct lp_amqp_method *m)
{
	switch (m->id) {
	case LP_AMQP_EXCHANGE_DECLARE:
		return m->exchange_declare.arguments;
	case LP_AMQP_EXCHANGE_BIND:
	case LP_AMQP_EXCHANGE_UNBIND:
		return m->exchange_bind.arguments;
	case LP_AMQP_QUEUE_DECLARE:
		return m->queue_declare.arguments;
	case LP_AMQP_QUEUE_BIND:
		return m->queue_bind.arguments;
	case LP_AMQP_QUEUE_UNBIND:
		return m->queue_unbind.arguments;
	default:
		return (struct lp_amqp_bytes){0};
	}
}

int lp_declare_method(struct lp_broker *b, struct channel *bc, const struct lp_amqp_method *m)
{
	struct lp_ctl_def_req *r = &bc->req;
	struct lp_amqp_bytes args = method_args(m);

	memset(r, 0, sizeof(*r));
	bc->method_id = m->id;
	bc->nowait = false;
	/* Arguments tables travel to lepus-control whole: refuse what cannot. */
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
		bc->nowait = a->nowait;
		return lp_declare_submit(b, bc, LP_CTL_DECLARE);
	}
	case LP_AMQP_EXCHANGE_DELETE:
		r->object = LP_CTL_OBJ_EXCHANGE;
		r->flags = m->exchange_delete.if_unused ? LP_CTL_F_IF_UNUSED : 0;
		copy_name(r->name, m->exchange_delete.exchange);
		bc->nowait = m->exchange_delete.nowait;
		return lp_declare_submit(b, bc, LP_CTL_DELETE);
	case LP_AMQP_EXCHANGE_BIND:
	case LP_AMQP_EXCHANGE_UNBIND: {
		const struct lp_amqp_exchange_bind *a = &m->exchange_bind; /* same layout */

		r->object = LP_CTL_OBJ_EXCHANGE;
		copy_name(r->name, a->destination);
		copy_name(r->source, a->source);
		copy_name(r->routing_key, a->routing_key);
		req_args(bc, a->arguments);
		bc->nowait = a->nowait;
		return lp_declare_submit(b, bc, m->id == LP_AMQP_EXCHANGE_BIND ? LP_CTL_BIND : LP_CTL_UNBIND);
	}
	case LP_AMQP_QUEUE_DECLARE: {
		const struct lp_amqp_queue_declare *a = &m->queue_declare;

		if (a->passive && lp_reply_to_is_pseudo(a->queue)) {
			bc->nowait = a->nowait;
			return lp_reply_to_declare(bc);
		}
		r->object = LP_CTL_OBJ_QUEUE;
		r->flags = (a->passive ? LP_CTL_F_PASSIVE : 0) | (a->durable ? LP_CTL_F_DURABLE : 0) |
			   (a->auto_delete ? LP_CTL_F_AUTO_DELETE : 0) |
			   (a->exclusive ? LP_CTL_F_EXCLUSIVE : 0);
		copy_name(r->name, a->queue);
		req_args(bc, a->arguments);
		bc->nowait = a->nowait;
		return lp_declare_submit(b, bc, LP_CTL_DECLARE);
	}
	case LP_AMQP_QUEUE_BIND:
		r->object = LP_CTL_OBJ_QUEUE;
		lp_declare_queue_name(bc, r->name, m->queue_bind.queue);
		copy_name(r->source, m->queue_bind.exchange);
		copy_name(r->routing_key, m->queue_bind.routing_key);
		req_args(bc, m->queue_bind.arguments);
		bc->nowait = m->queue_bind.nowait;
		return lp_declare_submit(b, bc, LP_CTL_BIND);
	case LP_AMQP_QUEUE_UNBIND:
		r->object = LP_CTL_OBJ_QUEUE;
		lp_declare_queue_name(bc, r->name, m->queue_unbind.queue);
		copy_name(r->source, m->queue_unbind.exchange);
		copy_name(r->routing_key, m->queue_unbind.routing_key);
		req_args(bc, m->queue_unbind.arguments);
		return lp_declare_submit(b, bc, LP_CTL_UNBIND);
	case LP_AMQP_QUEUE_PURGE:
		r->object = LP_CTL_OBJ_QUEUE;
		lp_declare_queue_name(bc, r->name, m->queue_purge.queue);
		bc->nowait = m->queue_purge.nowait;
		return lp_declare_submit(b, bc, LP_CTL_PURGE);
	default: { /* LP_AMQP_QUEUE_DELETE: the owner's counts first */
		const struct lp_amqp_queue_delete *a = &m->queue_delete;
		const struct lp_topology_queue *tq;

		r->object = LP_CTL_OBJ_QUEUE;
		lp_declare_queue_name(bc, r->name, a->queue);
		r->flags = (a->if_unused ? LP_CTL_F_IF_UNUSED : 0) | (a->if_empty ? LP_CTL_F_IF_EMPTY : 0);
		bc->nowait = a->nowait;
		tq = lp_declare_queue_lookup(b, lp_amqp_conn_vhost(bc->conn), r->name);
		if (tq == NULL) /* lepus-control answers (404, or Delete-Ok 0 as RabbitMQ) */
			return lp_declare_submit(b, bc, LP_CTL_DELETE);
		return lp_consume_request(b, bc, lp_broker_owner(b, tq->owner_shard),
			       lp_op_request(LP_OP_COUNTS, tq->qid, bc->id, 0, 0, 0),
			       WAIT_DELETE_COUNTS);
	}
	}
}

/* Reply text "CODE_NAME - text" from control: the channel adds the name itself. */
static const char *strip_code_name(const char *text)
{
	const char *dash = strstr(text, " - ");

	return dash != NULL ? dash + 3 : text;
}

void lp_declare_send_ok(struct channel *bc, const struct lp_amqp_method *ok)
{
	if (!bc->nowait)
		lp_amqp_conn_send_method(bc->conn, bc->ch, ok);
}

/* lepus-control accepted bc's declaration: answer, asking the owner first
 * where the answer carries counts. */
static int answer(struct lp_broker *b, struct channel *bc, const struct lp_ctl_result *r)
{
	const char *vhost = lp_amqp_conn_vhost(bc->conn);
	const struct lp_topology_queue *tq;
	struct lp_amqp_method ok = {0};

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
		tq = lp_declare_queue_lookup(b, vhost, r->queue);
		if (tq != NULL)
			return lp_consume_request(b, bc, lp_broker_owner(b, tq->owner_shard),
				       lp_op_request(LP_OP_COUNTS, tq->qid, bc->id, 0, 0, 0),
				       WAIT_DECLARE_COUNTS);
		ok.id = LP_AMQP_QUEUE_DECLARE_OK;
		ok.queue_declare_ok.queue = lp_amqp_cstr(bc->last_queue);
		break;
	case LP_AMQP_QUEUE_BIND:
		ok.id = LP_AMQP_QUEUE_BIND_OK;
		break;
	case LP_AMQP_QUEUE_UNBIND:
		ok.id = LP_AMQP_QUEUE_UNBIND_OK;
		break;
	case LP_AMQP_QUEUE_PURGE:
		tq = lp_declare_queue_lookup(b, vhost, bc->req.name);
		if (tq != NULL)
			return lp_consume_request(b, bc, lp_broker_owner(b, tq->owner_shard),
				       lp_op_request(LP_OP_PURGE, tq->qid, bc->id, 0, 0, 0),
				       WAIT_PURGE);
		ok.id = LP_AMQP_QUEUE_PURGE_OK;
		break;
	default: /* LP_AMQP_QUEUE_DELETE: the owner drops it with the next snapshot */
		ok.id = LP_AMQP_QUEUE_DELETE_OK;
		ok.queue_delete_ok.message_count = bc->delete_count;
		break;
	}
	lp_declare_send_ok(bc, &ok);
	return 0;
}

void lp_broker_on_result(struct lp_broker *b, const struct lp_ctl_result *r)
{
	if (b == NULL)
		return;
	for (uint32_t i = 0; i < b->cfg.max_channels; i++) {
		struct channel *bc = &b->chans[i];

		if (!bc->used || bc->wait != WAIT_CONTROL || bc->req_id != r->req_id)
			continue;
		bc->req_id = 0;
		bc->wait = WAIT_NONE;
		/* The batch carrying r->version was published before this RESULT
		 * was read: refresh now, as the answer below reads it. */
		lp_broker_refresh_snapshot(b);
		if (r->reply_code != 0)
			lp_amqp_channel_error(bc->conn, bc->ch, r->reply_code, bc->method_id, "%s",
					      strip_code_name(r->text));
		else if (answer(b, bc, r) == -EINPROGRESS)
			return;
		lp_amqp_session_resume(bc->session);
		return;
	}
}
