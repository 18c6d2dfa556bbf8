/* SPDX-License-Identifier: MIT */
/*
 * Topology sync, lepus-control -> dataplane (see ctl_server_int.h). Every
 * change to the definitions runs
 *   lp_sync_change_begin() -> definitions.c -> on_change(), once per object
 *   added or removed (store row + encoded TOPO/USER/PERMISSION object) ->
 *   lp_sync_change_end() (store COMMIT, then TOPO_BEGIN, the objects and
 *   TOPO_END queued to the dataplane as the next delta version).
 * A dataplane gets a full batch (every object, TOPO_BEGIN full=1) right after
 * its HELLO_ACK; lepusctl's LIST_REQ gets one of what it asked for, without
 * password hashes. Callers: ctl_peer.c (HELLO), ctl_request.c (requests).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ctl_log.h"
#include "ctl_server_int.h"
#include "policy_effect.h"
#include "store.h"

/* Encode one definition object as its TOPO/USER/PERMISSION message into
 * s->obuf. Returns the length or -errno. for_cli withholds password hashes
 * and sends what was declared; the dataplane gets queues and exchanges
 * with the policies applied (policy_effect.h). */
static ssize_t encode_object(struct lp_ctl_server *s, uint8_t op, enum lp_def_kind kind,
			     const void *obj, bool for_cli)
{
	struct lp_ctl_msg *m = &s->omsg;
	memset(m, 0, offsetof(struct lp_ctl_msg, hello));
	switch (kind) {
	case LP_DEF_VHOST: {
		const struct lp_def_vhost *v = obj;
		m->type = LP_CTL_TOPO_VHOST;
		m->topo_vhost.op = op;
		memcpy(m->topo_vhost.name, v->name, sizeof(v->name));
		break;
	}
	case LP_DEF_USER: {
		const struct lp_def_user *u = obj;
		m->type = LP_CTL_USER;
		m->user.op = op;
		bool hash = u->has_hash && !for_cli;
		m->user.hash_alg = hash ? LP_CTL_HASH_SHA256 : LP_CTL_HASH_NONE;
		m->user.hash_len = hash ? LP_CTL_PASSWORD_HASH_LEN : 0;
		memcpy(m->user.hash, u->hash, sizeof(m->user.hash));
		memcpy(m->user.name, u->name, sizeof(u->name));
		memcpy(m->user.tags, u->tags, sizeof(u->tags));
		break;
	}
	case LP_DEF_PERMISSION: {
		const struct lp_def_permission *pm = obj;
		m->type = LP_CTL_PERMISSION;
		m->permission.op = op;
		memcpy(m->permission.user, pm->user, sizeof(pm->user));
		memcpy(m->permission.vhost, pm->vhost, sizeof(pm->vhost));
		memcpy(m->permission.configure, pm->configure, sizeof(pm->configure));
		memcpy(m->permission.write, pm->write, sizeof(pm->write));
		memcpy(m->permission.read, pm->read, sizeof(pm->read));
		break;
	}
	case LP_DEF_EXCHANGE: {
		const struct lp_def_exchange *x = obj;
		struct lp_ctl_topo_exchange *t = &m->topo_exchange;
		m->type = LP_CTL_TOPO_EXCHANGE;
		t->op = op;
		t->type = x->type;
		t->flags = (uint8_t)((x->durable ? LP_CTL_X_DURABLE : 0) |
				     (x->auto_delete ? LP_CTL_X_AUTO_DELETE : 0) |
				     (x->internal ? LP_CTL_X_INTERNAL : 0));
		memcpy(t->vhost, x->vhost, sizeof(x->vhost));
		memcpy(t->name, x->name, sizeof(x->name));
		snprintf(t->alternate, sizeof(t->alternate), "%s",
			 for_cli ? x->alternate : lp_policy_exchange_alternate(s->params, x));
		t->args = x->args;
		t->args_len = x->args_len;
		break;
	}
	case LP_DEF_QUEUE: {
		const struct lp_def_queue *q = obj;
		struct lp_ctl_topo_queue *t = &m->topo_queue;
		m->type = LP_CTL_TOPO_QUEUE;
		t->op = op;
		t->flags = (uint8_t)((q->durable ? LP_CTL_Q_DURABLE : 0) |
				     (q->exclusive ? LP_CTL_Q_EXCLUSIVE : 0) |
				     (q->auto_delete ? LP_CTL_Q_AUTO_DELETE : 0));
		t->owner_shard = q->owner_shard;
		t->owner_conn = q->owner_conn;
		t->store_id = q->store_id;
		memcpy(t->vhost, q->vhost, sizeof(q->vhost));
		memcpy(t->name, q->name, sizeof(q->name));
		t->args = q->args;
		t->args_len = q->args_len;
		if (!for_cli && s->params) {
			int n = lp_policy_queue_args(s->params, q->vhost, q->name, q->args,
						     q->args_len, s->qargs, sizeof(s->qargs));
			if (n < 0)
				return n;
			t->args = s->qargs;
			t->args_len = (uint16_t)n;
		}
		break;
	}
	case LP_DEF_BINDING: {
		const struct lp_def_binding *b = obj;
		struct lp_ctl_topo_binding *t = &m->topo_binding;
		m->type = LP_CTL_TOPO_BINDING;
		t->op = op;
		t->dest_kind = b->dest_kind;
		memcpy(t->vhost, b->vhost, sizeof(b->vhost));
		memcpy(t->source, b->source, sizeof(b->source));
		memcpy(t->destination, b->destination, sizeof(b->destination));
		memcpy(t->routing_key, b->routing_key, sizeof(b->routing_key));
		t->args = b->args;
		t->args_len = b->args_len;
		break;
	}
	}
	return lp_ctl_encode(s->obuf, sizeof(s->obuf), m);
}

static const char *kind_name(enum lp_def_kind kind)
{
	static const char *const names[] = { "vhost", "user", "permission", "exchange", "queue",
					     "binding" };
	return names[kind];
}

/* Add the object to the delta batch. */
static void batch_push(struct lp_ctl_server *s, uint8_t op, enum lp_def_kind kind, const void *obj)
{
	if (s->batch_n == UINT32_MAX) /* already failed: the link is dropped at the end */
		return;
	s->batch_n++;
	if (s->dp.peer < 0)
		return;
	ssize_t n = encode_object(s, op, kind, obj, false);
	if (n < 0 || lp_outq_push(&s->batch, s->obuf, (size_t)n) < 0) {
		/* The dataplane would miss this change: resynchronise it. */
		lp_log(LP_LOG_ERR, "cannot encode a %s change (%zd); dropping the dataplane link",
		       kind_name(kind), n);
		s->batch_n = UINT32_MAX;
	}
}

/* The definitions' sink: store row, and the object for the delta batch. */
static void on_change(void *arg, uint8_t op, enum lp_def_kind kind, const void *obj)
{
	struct lp_ctl_server *s = arg;
	if (s->store)
		lp_store_change(s->store, op, kind, obj);
	if (kind == LP_DEF_VHOST && op == LP_CTL_OP_DEL && s->params)
		lp_params_delete_vhost(s->params, ((const struct lp_def_vhost *)obj)->name);
	batch_push(s, op, kind, obj);
}

static bool dirty_vhost(const struct lp_ctl_server *s, const char *vhost)
{
	if (s->n_dirty > LP_SYNC_DIRTY_MAX)
		return true;
	for (unsigned i = 0; i < s->n_dirty; i++)
		if (strcmp(s->dirty[i], vhost) == 0)
			return true;
	return false;
}

/* A policy or operator policy changed: the exchanges and queues of its
 * vhost go to the dataplane again, as updates, with what now applies
 * (RabbitMQ's rabbit_policy:update_matched_objects/3 re-reads every one of
 * the vhost). The dataplane keeps each queue and its messages. */
static void send_policy_updates(struct lp_ctl_server *s)
{
	if (!s->defs)
		return;
	for (const struct lp_def_exchange *x = lp_defs_exchanges(s->defs); x; x = x->next)
		if (dirty_vhost(s, x->vhost))
			batch_push(s, LP_CTL_OP_UPDATE, LP_DEF_EXCHANGE, x);
	for (const struct lp_def_queue *q = lp_defs_queues(s->defs); q; q = q->next)
		if (dirty_vhost(s, q->vhost))
			batch_push(s, LP_CTL_OP_UPDATE, LP_DEF_QUEUE, q);
}

void lp_sync_change_begin(struct lp_ctl_server *s)
{
	s->in_change = true;
	s->batch_n = 0;
	lp_outq_clear(&s->batch);
	if (s->store && lp_store_begin(s->store) < 0)
		lp_log(LP_LOG_ERR, "store: %s", lp_store_error(s->store));
}

/* Encode a TOPO_BEGIN / TOPO_END into s->obuf. */
static ssize_t encode_frame(struct lp_ctl_server *s, bool begin, uint64_t version, bool full,
			    uint32_t n)
{
	memset(&s->omsg, 0, offsetof(struct lp_ctl_msg, hello));
	if (begin) {
		s->omsg.type = LP_CTL_TOPO_BEGIN;
		s->omsg.topo_begin = (struct lp_ctl_topo_begin){ .version = version, .full = full };
	} else {
		s->omsg.type = LP_CTL_TOPO_END;
		s->omsg.topo_end = (struct lp_ctl_topo_end){ .version = version, .n_objects = n };
	}
	return lp_ctl_encode(s->obuf, sizeof(s->obuf), &s->omsg);
}

/* Queue the encoded messages of q to p, framed by TOPO_BEGIN/TOPO_END.
 * Returns false when p was closed. */
static bool send_batch(struct lp_ctl_server *s, struct peer *p, struct outq *q, uint64_t version,
		       bool full)
{
	ssize_t n = encode_frame(s, true, version, full, 0);
	int rc = n < 0 ? (int)n : 0;
	if (rc == 0) {
		lp_peer_stamp_seq(s->obuf, ++p->seq);
		rc = lp_peer_send_raw(p, s->obuf, (size_t)n);
	}
	for (struct outmsg *m = q->head; m && rc == 0; m = m->next) {
		lp_peer_stamp_seq(m->data, ++p->seq);
		rc = lp_peer_send_raw(p, m->data, m->len);
	}
	if (rc == 0) {
		n = encode_frame(s, false, version, full, q->n);
		rc = n < 0 ? (int)n : 0;
		if (rc == 0) {
			lp_peer_stamp_seq(s->obuf, ++p->seq);
			rc = lp_peer_send_raw(p, s->obuf, (size_t)n);
		}
	}
	if (rc < 0) {
		lp_peer_close(s, p, "cannot send topology: %s",
			   rc == -ENOBUFS ? "peer does not read" : strerror(-rc));
		return false;
	}
	return true;
}

int lp_sync_change_end(struct lp_ctl_server *s)
{
	int rc = 0;
	if (s->n_dirty)
		send_policy_updates(s);
	s->n_dirty = 0;
	s->in_change = false;
	if (s->store && lp_store_commit(s->store) < 0) {
		lp_log(LP_LOG_ERR, "store: cannot commit a change: %s", lp_store_error(s->store));
		rc = -EIO;
	}
	if (s->batch_n == 0)
		return rc;
	s->version++;
	if (s->dp.peer >= 0) {
		struct peer *p = &s->peers[s->dp.peer];
		if (s->batch_n == UINT32_MAX)
			lp_peer_close(s, p, "topology change could not be encoded");
		else
			send_batch(s, p, &s->batch, s->version, false);
	}
	lp_outq_clear(&s->batch);
	s->batch_n = 0;
	return rc;
}

void lp_sync_send_full(struct lp_ctl_server *s, struct peer *p, uint16_t what,
		       const char *vhost, bool for_cli)
{
	struct outq q;
	lp_outq_init(&q);
	int rc = 0;
#define MATCH(o) (!vhost[0] || strcmp((o)->vhost, vhost) == 0)
#define PUSH(kind, o)                                                           \
	do {                                                                    \
		ssize_t n_ = encode_object(s, LP_CTL_OP_ADD, kind, o, for_cli); \
		rc = n_ < 0 ? (int)n_ : lp_outq_push(&q, s->obuf, (size_t)n_);  \
	} while (0)
	if (what & LP_CTL_LIST_VHOSTS)
		for (const struct lp_def_vhost *v = lp_defs_vhosts(s->defs); v && !rc; v = v->next)
			if (!vhost[0] || strcmp(v->name, vhost) == 0)
				PUSH(LP_DEF_VHOST, v);
	if (what & LP_CTL_LIST_USERS)
		for (const struct lp_def_user *u = lp_defs_users(s->defs); u && !rc; u = u->next)
			PUSH(LP_DEF_USER, u);
	if (what & LP_CTL_LIST_PERMISSIONS)
		for (const struct lp_def_permission *x = lp_defs_permissions(s->defs); x && !rc;
		     x = x->next)
			if (MATCH(x))
				PUSH(LP_DEF_PERMISSION, x);
	if (what & LP_CTL_LIST_EXCHANGES)
		for (const struct lp_def_exchange *x = lp_defs_exchanges(s->defs); x && !rc; x = x->next)
			if (MATCH(x))
				PUSH(LP_DEF_EXCHANGE, x);
	if (what & LP_CTL_LIST_QUEUES)
		for (const struct lp_def_queue *x = lp_defs_queues(s->defs); x && !rc; x = x->next)
			if (MATCH(x))
				PUSH(LP_DEF_QUEUE, x);
	if (what & LP_CTL_LIST_BINDINGS)
		for (const struct lp_def_binding *x = lp_defs_bindings(s->defs); x && !rc; x = x->next)
			if (MATCH(x))
				PUSH(LP_DEF_BINDING, x);
#undef PUSH
#undef MATCH
	if (rc < 0)
		lp_peer_close(s, p, "cannot encode the definitions: %s", strerror(-rc));
	else
		send_batch(s, p, &q, s->version, true);
	lp_outq_clear(&q);
}

void lp_sync_dataplane(struct lp_ctl_server *s, struct peer *p)
{
	if (!s->defs)
		return;
	const struct lp_ctl_hello *h = &s->dp.hello;
	if (s->last_dp_pid && s->last_dp_pid != h->pid) {
		lp_sync_change_begin(s);
		unsigned n = lp_defs_drop_exclusive(s->defs);
		lp_sync_change_end(s);
		if (n)
			lp_log(LP_LOG_INFO, "new dataplane (pid %u): deleted %u exclusive queue(s) of pid %u",
			       h->pid, n, s->last_dp_pid);
	}
	s->last_dp_pid = h->pid;
	lp_defs_fit_shards(s->defs, h->n_workers);
	lp_sync_send_full(s, p, LP_CTL_LIST_ALL, "", false);
}

void lp_ctl_server_set_definitions(struct lp_ctl_server *s, struct lp_defs *defs,
				   struct lp_store *store)
{
	s->defs = defs;
	s->store = store;
	if (defs) {
		struct lp_def_sink sink = { .change = on_change, .arg = s };
		lp_defs_set_sink(defs, &sink);
	}
}

/* The parameters' sink: a store row in the change's transaction; a policy
 * marks its vhost for lp_sync_change_end()'s updates. */
static void on_param_change(void *arg, uint8_t op, const struct lp_param *p)
{
	struct lp_ctl_server *s = arg;
	if (s->store)
		lp_store_param_change(s->store, op, p);
	if (p->kind != LP_PARAM_POLICY && p->kind != LP_PARAM_OPERATOR_POLICY)
		return;
	if (dirty_vhost(s, p->vhost))
		return;
	if (s->n_dirty < LP_SYNC_DIRTY_MAX)
		snprintf(s->dirty[s->n_dirty], sizeof(s->dirty[0]), "%s", p->vhost);
	s->n_dirty++;
}

void lp_ctl_server_set_params(struct lp_ctl_server *s, struct lp_params *params)
{
	s->params = params;
	if (params) {
		struct lp_param_sink sink = { .change = on_param_change, .arg = s };
		lp_params_set_sink(params, &sink);
	}
}

struct lp_params *lp_ctl_server_params(struct lp_ctl_server *s)
{
	return s->params;
}
