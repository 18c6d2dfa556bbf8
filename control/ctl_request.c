/* SPDX-License-Identifier: MIT */
/*
 * Definition requests in lepus-control (see ctl_server_int.h). From the
 * dataplane: DECLARE, DELETE, BIND, UNBIND, PURGE (-> lp_defs_request(),
 * answered with a RESULT after the delta batch it caused), CONNECTION_CLOSED
 * and QUEUE_UNUSED (no answer). From lepusctl: ADMIN_REQ (users, vhosts,
 * permissions; RESULT) and LIST_REQ (a full batch). Each request that may
 * change the definitions runs inside lp_sync_change_begin() ..
 * lp_sync_change_end() (ctl_sync.c), so it is one store transaction and one
 * delta batch; a request whose change the store cannot commit is answered
 * 541 INTERNAL_ERROR, not success.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "amqp_reply.h"
#include "amqp_table.h"
#include "ctl_log.h"
#include "ctl_server_int.h"
#include "password.h"
#include "policy_effect.h"

static void send_result(struct lp_ctl_server *s, struct peer *p, uint64_t req_id,
			const struct lp_def_reply *r)
{
	memset(&s->msg, 0, sizeof(s->msg));
	s->msg.type = LP_CTL_RESULT;
	struct lp_ctl_result *res = &s->msg.result;
	res->req_id = req_id;
	res->reply_code = r->code;
	res->status = r->status;
	res->owner_shard = r->owner_shard;
	res->version = s->version;
	memcpy(res->queue, r->queue, sizeof(res->queue));
	memcpy(res->text, r->text, sizeof(res->text));
	lp_peer_send_or_close(s, p);
}

/* A request changed the definitions but the store could not commit the
 * change: answer 541 instead of success (the client must not take it for
 * durable). */
static void store_failed(struct lp_def_reply *r)
{
	r->code = LP_AMQP_INTERNAL_ERROR;
	r->status = LP_CTL_RES_DONE;
	lp_amqp_reply_text(r->text, sizeof(r->text), r->code, "cannot store the change");
}

static void on_def_req(struct lp_ctl_server *s, struct peer *p, uint64_t now)
{
	(void)now;
	uint16_t type = s->msg.type;
	struct lp_ctl_def_req req = s->msg.def_req;
	/* the arguments view points into s->buf, which sending reuses */
	if (req.args_len)
		memcpy(s->args, req.args, req.args_len);
	req.args = s->args;
	if (req.worker >= s->dp.hello.n_workers) {
		lp_peer_close(s, p, "%s from worker %u of %u", lp_ctl_type_name(type), req.worker,
			      s->dp.hello.n_workers);
		return;
	}
	struct lp_def_reply r;
	lp_sync_change_begin(s);
	lp_defs_request(s->defs, type, &req, &r);
	if (lp_sync_change_end(s) < 0 && r.code == 0)
		store_failed(&r);
	lp_log(LP_LOG_DEBUG, "%s %s '%s' in vhost '%s' by '%s' (conn %" PRIu64 "): %u %s",
	       lp_ctl_type_name(type), req.object == LP_CTL_OBJ_QUEUE ? "queue" : "exchange",
	       r.queue[0] ? r.queue : req.name, req.vhost, req.user, req.conn_id, r.code, r.text);
	if (s->dp.peer >= 0)
		send_result(s, p, req.req_id, &r);
}

/* The reply code of an admin function's result (definitions.h). */
static uint16_t admin_reply_code(int rc)
{
	switch (rc) {
	case 0: return 0;
	case -ENOENT: return LP_AMQP_NOT_FOUND;
	case -EEXIST:
	case -EINVAL: return LP_AMQP_PRECONDITION_FAILED;
	default: return LP_AMQP_INTERNAL_ERROR;
	}
}

static void on_admin_req(struct lp_ctl_server *s, struct peer *p, uint64_t now)
{
	(void)now;
	struct lp_ctl_admin_req a = s->msg.admin_req;
	struct lp_def_reply r;
	memset(&r, 0, sizeof(r));
	uint8_t hash[LP_PASSWORD_HASH_LEN];
	int rc = 0;
	lp_sync_change_begin(s);
	switch (a.op) {
	case LP_CTL_ADMIN_ADD_USER:
	case LP_CTL_ADMIN_CHANGE_PASSWORD:
		rc = lp_password_hash(a.password, strlen(a.password), NULL, hash);
		if (rc < 0) {
			snprintf(r.text, sizeof(r.text), "cannot hash the password: %s", strerror(-rc));
			break;
		}
		if (a.op == LP_CTL_ADMIN_ADD_USER)
			rc = lp_defs_add_user(s->defs, a.name, hash, a.tags, r.text, sizeof(r.text));
		else
			rc = lp_defs_change_password(s->defs, a.name, hash, r.text, sizeof(r.text));
		break;
	case LP_CTL_ADMIN_DELETE_USER:
		rc = lp_defs_delete_user(s->defs, a.name, r.text, sizeof(r.text));
		break;
	case LP_CTL_ADMIN_SET_USER_TAGS:
		rc = lp_defs_set_user_tags(s->defs, a.name, a.tags, r.text, sizeof(r.text));
		break;
	case LP_CTL_ADMIN_ADD_VHOST:
		rc = lp_defs_add_vhost(s->defs, a.vhost, r.text, sizeof(r.text));
		break;
	case LP_CTL_ADMIN_DELETE_VHOST:
		rc = lp_defs_delete_vhost(s->defs, a.vhost, r.text, sizeof(r.text));
		break;
	case LP_CTL_ADMIN_SET_PERMISSIONS:
		rc = lp_defs_set_permissions(s->defs, a.name, a.vhost, a.configure, a.write, a.read,
					     r.text, sizeof(r.text));
		break;
	case LP_CTL_ADMIN_CLEAR_PERMISSIONS:
		rc = lp_defs_clear_permissions(s->defs, a.name, a.vhost, r.text, sizeof(r.text));
		break;
	}
	int crc = lp_sync_change_end(s);
	explicit_bzero(a.password, sizeof(a.password));
	explicit_bzero(s->msg.admin_req.password, sizeof(s->msg.admin_req.password));
	explicit_bzero(hash, sizeof(hash));
	r.code = admin_reply_code(rc);
	if (rc == 0 && crc < 0) {
		rc = crc;
		store_failed(&r);
	}
	lp_log(rc ? LP_LOG_WARN : LP_LOG_INFO, "admin request %u for '%s' vhost '%s': %s", a.op,
	       a.name, a.vhost, rc ? r.text : "done");
	send_result(s, p, a.req_id, &r);
}

static void on_connection_closed(struct lp_ctl_server *s, struct peer *p, uint64_t now)
{
	(void)p;
	(void)now;
	lp_sync_change_begin(s);
	unsigned n = lp_defs_connection_closed(s->defs, s->msg.conn_closed.conn_id);
	lp_sync_change_end(s);
	lp_log(LP_LOG_DEBUG, "connection %" PRIu64 " closed: %u exclusive queue(s) deleted",
	       s->msg.conn_closed.conn_id, n);
}

/* Does the queue expire (x-expires from its arguments or a policy)? */
static bool queue_expires(struct lp_ctl_server *s, const char *vhost, const char *name)
{
	const struct lp_def_queue *q = lp_defs_find_queue(s->defs, vhost, name);
	struct lp_amqp_field_value v;
	int n;

	if (q == NULL)
		return false;
	if (s->params == NULL)
		return q->args_len > 0 &&
		       lp_amqp_table_get((struct lp_amqp_bytes){q->args, q->args_len}, "x-expires", &v);
	n = lp_policy_queue_args(s->params, vhost, name, q->args, q->args_len, s->qargs,
				 sizeof(s->qargs));
	return n > 0 && lp_amqp_table_get((struct lp_amqp_bytes){s->qargs, (uint32_t)n}, "x-expires", &v);
}

static void on_queue_unused(struct lp_ctl_server *s, struct peer *p, uint64_t now)
{
	(void)p;
	(void)now;
	lp_sync_change_begin(s);
	const struct lp_ctl_queue_unused *u = &s->msg.queue_unused;
	int rc = lp_defs_queue_unused(s->defs, u->vhost, u->queue,
				      queue_expires(s, u->vhost, u->queue));
	lp_sync_change_end(s);
	lp_log(LP_LOG_DEBUG, "queue '%s' in vhost '%s' unused: %s", u->queue, u->vhost,
	       rc == 0 ? "deleted" : strerror(-rc));
}

static void on_list_req(struct lp_ctl_server *s, struct peer *p, uint64_t now)
{
	(void)now;
	lp_sync_send_full(s, p, s->msg.list_req.what, s->msg.list_req.vhost, true);
}

const struct ctl_handler lp_request_handlers[] = {
	{ LP_CTL_DECLARE, CTL_FROM_DATAPLANE, true, on_def_req },
	{ LP_CTL_DELETE, CTL_FROM_DATAPLANE, true, on_def_req },
	{ LP_CTL_BIND, CTL_FROM_DATAPLANE, true, on_def_req },
	{ LP_CTL_UNBIND, CTL_FROM_DATAPLANE, true, on_def_req },
	{ LP_CTL_PURGE, CTL_FROM_DATAPLANE, true, on_def_req },
	{ LP_CTL_CONNECTION_CLOSED, CTL_FROM_DATAPLANE, true, on_connection_closed },
	{ LP_CTL_QUEUE_UNUSED, CTL_FROM_DATAPLANE, true, on_queue_unused },
	{ LP_CTL_LIST_REQ, CTL_FROM_CLI, true, on_list_req },
	{ LP_CTL_ADMIN_REQ, CTL_FROM_CLI, true, on_admin_req },
	{ 0 },
};
