/* SPDX-License-Identifier: MIT */
/*
 * Queues in the management API (rabbit_mgmt_wm_queues,
 * rabbit_mgmt_wm_queue): GET /api/queues[/V], GET|PUT|DELETE
 * /api/queues/V/Q. PUT and DELETE are Queue.Declare and Queue.Delete
 * requests of the authenticated user through lp_defs_request() (same
 * checks and topology sync as AMQP). The message and consumer counts are 0
 * until the dataplane sends queue statistics (issue 15); for the same
 * reason DELETE with if-empty / if-unused takes the queue for empty and
 * unused. An exclusive queue declared here belongs to the request, as in
 * RabbitMQ, and is gone when it ends.
 */
#include <errno.h>
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

json_t *lp_http_queue_json(struct lp_http_req *r, const struct lp_def_queue *q)
{
	const struct lp_params *pp = r->h->params;
	const struct lp_param *pol =
		lp_policy_match(pp, LP_PARAM_POLICY, LP_CTL_OBJ_QUEUE, q->vhost, q->name);
	const struct lp_param *op =
		lp_policy_match(pp, LP_PARAM_OPERATOR_POLICY, LP_CTL_OBJ_QUEUE, q->vhost, q->name);
	return json_pack("{s:s, s:s, s:b, s:b, s:b, s:o, s:s, s:s, s:s,"
			 " s:i, s:i, s:i, s:i, s:o*, s:o, s:o}",
			 "name", q->name, "vhost", q->vhost, "durable", q->durable,
			 "auto_delete", q->auto_delete, "exclusive", q->exclusive,
			 "arguments", lp_http_args_to_json(q->args, q->args_len),
			 "node", r->h->node, "state", "running", "type", "classic",
			 "messages", 0, "messages_ready", 0, "messages_unacknowledged", 0,
			 "consumers", 0, "effective_policy_definition",
			 lp_policy_effective_definition(pol, op), "policy", policy_name(pol),
			 "operator_policy", policy_name(op));
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
	if (!lp_defs_find_queue(r->defs, vhost, name)) {
		lp_http_not_found(r);
		return;
	}
	struct lp_ctl_def_req req;
	lp_http_def_req_init(r, &req, LP_CTL_OBJ_QUEUE, vhost, name);
	if (lp_http_query_bool(r->t.query, "if-unused"))
		req.flags |= LP_CTL_F_IF_UNUSED;
	if (lp_http_query_bool(r->t.query, "if-empty"))
		req.flags |= LP_CTL_F_IF_EMPTY;
	req.flags |= LP_CTL_F_COUNTS; /* 0 and 0 until the dataplane reports counts */
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
