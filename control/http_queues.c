/* SPDX-License-Identifier: MIT */
/*
 * Queues in the management API (rabbit_mgmt_wm_queues,
 * rabbit_mgmt_wm_queue): GET /api/queues[/V], GET|PUT|DELETE
 * /api/queues/V/Q. PUT and DELETE are Queue.Declare and Queue.Delete
 * requests of the authenticated user through lp_defs_request() (same
 * checks and topology sync as AMQP). The message and consumer counts and
 * message_stats are the owner worker's last sample (about a second old;
 * queue_stats.c), as RabbitMQ's are its last statistics emission; DELETE
 * with if-empty / if-unused is decided on that sample too. An exclusive queue declared here belongs to the request, as in
 * RabbitMQ, and is gone when it ends.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "http_args.h"
#include "http_auth.h"
#include "http_int.h"
#include "http_json.h"
#include "policy_effect.h"

static const char *const sort[] = { "vhost", "name", NULL };

/* A policy's name, or null (RabbitMQ's mgmt JSON). */
static json_t *policy_name(const struct lp_param *pp)
{
	return pp ? json_string(pp->name) : json_null();
}

static json_t *counter(json_t *o, const char *key, uint64_t n, double rate)
{
	char details[64];

	snprintf(details, sizeof(details), "%s_details", key);
	json_object_set_new(o, key, json_integer((json_int_t)n));
	json_object_set_new(o, details, json_pack("{s:f}", "rate", rate));
	return o;
}

/* RabbitMQ's message_stats of a queue: counters with their rates. */
static json_t *message_stats(const struct lp_queue_live *l)
{
	json_t *o = json_object();

	counter(o, "publish", l->published, l->publish_rate);
	counter(o, "deliver", l->delivered, l->deliver_rate);
	counter(o, "get", l->got, l->get_rate);
	counter(o, "deliver_get", l->delivered + l->got, l->deliver_rate + l->get_rate);
	counter(o, "redeliver", l->redelivered, l->redeliver_rate);
	counter(o, "ack", l->acked, l->ack_rate);
	return o;
}

json_t *lp_http_queue_json(struct lp_http_req *r, const struct lp_def_queue *q)
{
	const struct lp_params *pp = r->h->params;
	const struct lp_param *pol =
		lp_policy_match(pp, LP_PARAM_POLICY, LP_CTL_OBJ_QUEUE, q->vhost, q->name);
	const struct lp_param *op =
		lp_policy_match(pp, LP_PARAM_OPERATOR_POLICY, LP_CTL_OBJ_QUEUE, q->vhost, q->name);
	const struct lp_queue_live *l = &q->live;
	json_t *j = json_pack("{s:s, s:s, s:b, s:b, s:b, s:o, s:s, s:s, s:s,"
			      " s:I, s:I, s:I, s:I, s:I, s:o*, s:o, s:o}",
			      "name", q->name, "vhost", q->vhost, "durable", q->durable,
			      "auto_delete", q->auto_delete, "exclusive", q->exclusive,
			      "arguments", lp_http_args_to_json(q->args, q->args_len),
			      "node", r->h->node, "state", "running", "type", "classic",
			      "messages", (json_int_t)l->ready + l->unacked,
			      "messages_ready", (json_int_t)l->ready,
			      "messages_unacknowledged", (json_int_t)l->unacked,
			      "message_bytes_ready", (json_int_t)l->ready_bytes,
			      "consumers", (json_int_t)l->consumers, "effective_policy_definition",
			      lp_policy_effective_definition(pol, op), "policy", policy_name(pol),
			      "operator_policy", policy_name(op));
	if (j != NULL && (l->published | l->delivered | l->got | l->acked) != 0)
		json_object_set_new(j, "message_stats", message_stats(l));
	return j;
}

static void on_list(struct lp_http_req *r)
{
	const char *vhost = r->t.n > 2 ? r->t.seg[2] : NULL;
	if (vhost && !lp_http_vhost_exists(r, vhost))
		return;
	json_t *a = json_array();
	for (const struct lp_def_queue *q = lp_defs_queues(r->defs); a && q; q = q->next)
		if (vhost ? strcmp(q->vhost, vhost) == 0
			  : lp_http_vhost_visible(r->defs, r->user, q->vhost))
			json_array_append_new(a, lp_http_queue_json(r, q));
	lp_http_reply_list(r, a, sort);
}

static void on_get(struct lp_http_req *r)
{
	const struct lp_def_queue *q = lp_defs_find_queue(r->defs, r->t.seg[2], r->t.seg[3]);
	if (!q) {
		lp_http_not_found(r);
		return;
	}
	json_t *j = lp_http_queue_json(r, q);
	json_object_set_new(j, "consumer_details", json_array());
	json_object_set_new(j, "deliveries", json_array());
	json_object_set_new(j, "incoming", json_array());
	lp_http_reply_json(r, 200, j);
}

static void on_put(struct lp_http_req *r)
{
	const char *vhost = r->t.seg[2], *name = r->t.seg[3];
	if (!lp_http_vhost_exists_put(r, vhost))
		return;
	json_t *body = lp_http_body_object(r);
	if (!body)
		return;
	struct lp_ctl_def_req req;
	static uint8_t args[LP_CTL_ARGS_MAX];
	bool durable, auto_delete, exclusive;
	lp_http_def_req_init(r, &req, LP_CTL_OBJ_QUEUE, vhost, name);
	int alen = lp_http_args_from_json(json_object_get(body, "arguments"), args, sizeof(args));
	if (lp_http_json_bool(body, "durable", false, &durable) < 0 ||
	    lp_http_json_bool(body, "auto_delete", false, &auto_delete) < 0 ||
	    lp_http_json_bool(body, "exclusive", false, &exclusive) < 0) {
		lp_http_not_boolean(r, body);
	} else if (alen < 0) {
		lp_http_bad_request(r, "invalid arguments");
	} else if (!name[0]) {
		lp_http_bad_request(r, "queue name must not be empty");
	} else {
		bool existed = lp_defs_find_queue(r->defs, vhost, name) != NULL;
		req.flags = (uint16_t)((durable ? LP_CTL_F_DURABLE : 0) |
				       (auto_delete ? LP_CTL_F_AUTO_DELETE : 0) |
				       (exclusive ? LP_CTL_F_EXCLUSIVE : 0));
		req.args = args;
		req.args_len = (uint16_t)alen;
		lp_http_defs_answer(r, LP_CTL_DECLARE, &req, existed ? 204 : 201);
	}
	json_decref(body);
}

static void on_delete(struct lp_http_req *r)
{
	const char *vhost = r->t.seg[2], *name = r->t.seg[3];
	const struct lp_def_queue *q = lp_defs_find_queue(r->defs, vhost, name);
	if (!q) {
		lp_http_not_found(r);
		return;
	}
	struct lp_ctl_def_req req;
	lp_http_def_req_init(r, &req, LP_CTL_OBJ_QUEUE, vhost, name);
	if (lp_http_query_bool(r->t.query, "if-unused"))
		req.flags |= LP_CTL_F_IF_UNUSED;
	if (lp_http_query_bool(r->t.query, "if-empty"))
		req.flags |= LP_CTL_F_IF_EMPTY;
	/* The worker's last sample (queue_stats.c): about a second old. */
	req.flags |= LP_CTL_F_COUNTS;
	req.message_count = q->live.ready;
	req.consumer_count = q->live.consumers;
	lp_http_defs_answer(r, LP_CTL_DELETE, &req, 204);
}

const struct lp_http_route lp_http_queue_routes[] = {
	{ LP_HTTP_GET, "api/queues", LP_HTTP_AUTH_MGMT, 0, on_list },
	{ LP_HTTP_GET, "api/queues/*", LP_HTTP_AUTH_VHOST, 2, on_list },
	{ LP_HTTP_GET, "api/queues/*/*", LP_HTTP_AUTH_VHOST, 2, on_get },
	{ LP_HTTP_PUT, "api/queues/*/*", LP_HTTP_AUTH_VHOST, 2, on_put },
	{ LP_HTTP_DELETE, "api/queues/*/*", LP_HTTP_AUTH_VHOST, 2, on_delete },
	{ 0 },
};
