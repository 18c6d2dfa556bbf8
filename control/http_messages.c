/* SPDX-License-Identifier: MIT */
/*
 * Messages through the management API (rabbit_mgmt_wm_exchange_publish,
 * rabbit_mgmt_wm_queue_get, rabbit_mgmt_wm_queue_purge): POST
 * /api/exchanges/V/X/publish, POST /api/queues/V/Q/get, DELETE
 * /api/queues/V/Q/contents. lepus-control checks what it can, as RabbitMQ
 * does (the vhost and the object exist: 404; the body's keys: 400; purge:
 * the user's read permission, through lp_defs_request()), but the
 * messages live in the dataplane and the control protocol has no request
 * to publish, get or purge from lepus-control yet: past the checks these
 * answer 501 {"error":"not_implemented"} with the reason, which the web
 * UI's forms show.
 */
#include <string.h>

#include "http_int.h"

static void needs_dataplane(struct lp_http_req *r, const char *what)
{
	char reason[256];
	snprintf(reason, sizeof(reason), "%s through the management API needs the dataplane's "
		 "support, which Lepus does not have yet", what);
	lp_http_reply_error(r, 501, "not_implemented", reason);
}

/* 400 "[{key_missing,K}]" for the first of keys missing from body. */
static bool has_keys(struct lp_http_req *r, const json_t *body, const char *const *keys)
{
	for (; *keys; keys++)
		if (!json_object_get(body, *keys)) {
			lp_http_bad_request(r, "[{key_missing,%s}]", *keys);
			return false;
		}
	return true;
}

/* What RabbitMQ checks of the body (a JSON object with these keys), then
 * the 501 of an operation only the dataplane can do. */
static void body_then_501(struct lp_http_req *r, const char *const *keys, const char *what)
{
	json_t *body = lp_http_body_object(r);
	if (!body)
		return;
	if (has_keys(r, body, keys))
		needs_dataplane(r, what);
	json_decref(body);
}

static void on_publish(struct lp_http_req *r)
{
	static const char *const keys[] = { "routing_key", "properties", "payload",
					     "payload_encoding", NULL };
	const char *vhost = r->t.seg[2];
	if (!lp_http_vhost_exists(r, vhost))
		return;
	if (!lp_defs_find_exchange(r->defs, vhost, lp_http_exchange_seg(r->t.seg[3]))) {
		lp_http_not_found(r);
		return;
	}
	body_then_501(r, keys, "publishing");
}

/* The vhost and the queue of .../queues/V/Q/...: false when one is missing
 * (answered: RabbitMQ's 404). */
static bool queue_exists(struct lp_http_req *r, const char *vhost)
{
	if (!lp_http_vhost_exists(r, vhost))
		return false;
	if (!lp_defs_find_queue(r->defs, vhost, r->t.seg[3])) {
		lp_http_not_found(r);
		return false;
	}
	return true;
}

static void on_get(struct lp_http_req *r)
{
	static const char *const keys[] = { "count", "ackmode", "encoding", NULL };
	const char *vhost = r->t.seg[2];
	if (!queue_exists(r, vhost))
		return;
	body_then_501(r, keys, "getting messages");
}

static void on_purge(struct lp_http_req *r)
{
	const char *vhost = r->t.seg[2];
	if (!queue_exists(r, vhost))
		return;
	struct lp_ctl_def_req req;
	struct lp_def_reply d;
	lp_http_def_req_init(r, &req, LP_CTL_OBJ_QUEUE, vhost, r->t.seg[3]);
	lp_http_defs_apply(r, LP_CTL_PURGE, &req, &d);
	if (!lp_http_defs_failed(r, &d))
		needs_dataplane(r, "purging a queue");
}

const struct lp_http_route lp_http_message_routes[] = {
	{ LP_HTTP_POST, "api/exchanges/*/*/publish", LP_HTTP_AUTH_VHOST, 2, on_publish },
	{ LP_HTTP_POST, "api/queues/*/*/get", LP_HTTP_AUTH_VHOST, 2, on_get },
	{ LP_HTTP_DELETE, "api/queues/*/*/contents", LP_HTTP_AUTH_VHOST, 2, on_purge },
	{ 0 },
};
