/* SPDX-License-Identifier: MIT */
/*
 * Exchanges in the management API (rabbit_mgmt_wm_exchanges,
 * rabbit_mgmt_wm_exchange): GET /api/exchanges[/V], GET|PUT|DELETE
 * /api/exchanges/V/X ("amq.default" names the default exchange). PUT and
 * DELETE are Exchange.Declare and Exchange.Delete requests of the
 * authenticated user through lp_defs_request(), the function AMQP
 * declarations from the dataplane use: same checks (configure permission,
 * reserved names, equivalence), same topology sync. Publish counters wait
 * for the dataplane's statistics: no message_stats yet.
 */
#include <errno.h>
#include <string.h>

#include "http_args.h"
#include "http_auth.h"
#include "http_int.h"
#include "http_json.h"

static const char *const sort[] = { "vhost", "name", NULL };

json_t *lp_http_exchange_json(struct lp_http_req *r, const struct lp_def_exchange *x)
{
	(void)r;
	return json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:o, s:s}", "name", x->name, "vhost",
			 x->vhost, "type", lp_defs_exchange_type_name(x->type), "durable",
			 x->durable, "auto_delete", x->auto_delete, "internal", x->internal,
			 "arguments", lp_http_args_to_json(x->args, x->args_len),
			 "user_who_performed_action", "rmq-internal");
}

static void on_list(struct lp_http_req *r)
{
	const char *vhost = r->t.n > 2 ? r->t.seg[2] : NULL;
	if (vhost && !lp_http_vhost_exists(r, vhost))
		return;
	json_t *a = json_array();
	for (const struct lp_def_exchange *x = lp_defs_exchanges(r->defs); a && x; x = x->next)
		if (vhost ? strcmp(x->vhost, vhost) == 0
			  : lp_http_vhost_visible(r->defs, r->user, x->vhost))
			json_array_append_new(a, lp_http_exchange_json(r, x));
	lp_http_reply_list(r, a, sort);
}

static const struct lp_def_exchange *find(struct lp_http_req *r)
{
	return lp_defs_find_exchange(r->defs, r->t.seg[2], lp_http_exchange_seg(r->t.seg[3]));
}

static void on_get(struct lp_http_req *r)
{
	const struct lp_def_exchange *x = find(r);
	if (!x) {
		lp_http_not_found(r);
		return;
	}
	json_t *j = lp_http_exchange_json(r, x);
	json_object_set_new(j, "incoming", json_array());
	json_object_set_new(j, "outgoing", json_array());
	lp_http_reply_json(r, 200, j);
}

static void on_put(struct lp_http_req *r)
{
	const char *vhost = r->t.seg[2], *name = lp_http_exchange_seg(r->t.seg[3]);
	if (!lp_http_vhost_exists_put(r, vhost))
		return;
	json_t *body = lp_http_body_object(r);
	if (!body)
		return;
	struct lp_ctl_def_req req;
	static uint8_t args[LP_CTL_ARGS_MAX];
	bool durable, auto_delete, internal;
	lp_http_def_req_init(r, &req, LP_CTL_OBJ_EXCHANGE, vhost, name);
	int alen = lp_http_args_from_json(json_object_get(body, "arguments"), args, sizeof(args));
	if (lp_http_json_string(body, "type", "direct", req.type, sizeof(req.type)) < 0) {
		lp_http_bad_request(r, "invalid type");
	} else if (lp_http_json_bool(body, "durable", false, &durable) < 0 ||
		   lp_http_json_bool(body, "auto_delete", false, &auto_delete) < 0 ||
		   lp_http_json_bool(body, "internal", false, &internal) < 0) {
		lp_http_not_boolean(r, body);
	} else if (alen < 0) {
		lp_http_bad_request(r, "invalid arguments");
	} else {
		bool existed = find(r) != NULL;
		req.flags = (uint16_t)((durable ? LP_CTL_F_DURABLE : 0) |
				       (auto_delete ? LP_CTL_F_AUTO_DELETE : 0) |
				       (internal ? LP_CTL_F_INTERNAL : 0));
		req.args = args;
		req.args_len = (uint16_t)alen;
		lp_http_defs_answer(r, LP_CTL_DECLARE, &req, existed ? 204 : 201);
	}
	json_decref(body);
}

static void on_delete(struct lp_http_req *r)
{
	const char *vhost = r->t.seg[2], *name = lp_http_exchange_seg(r->t.seg[3]);
	if (!find(r)) {
		lp_http_not_found(r);
		return;
	}
	struct lp_ctl_def_req req;
	lp_http_def_req_init(r, &req, LP_CTL_OBJ_EXCHANGE, vhost, name);
	if (lp_http_query_bool(r->t.query, "if-unused"))
		req.flags |= LP_CTL_F_IF_UNUSED;
	lp_http_defs_answer(r, LP_CTL_DELETE, &req, 204);
}

const struct lp_http_route lp_http_exchange_routes[] = {
	{ LP_HTTP_GET, "api/exchanges", LP_HTTP_AUTH_MGMT, 0, on_list },
	{ LP_HTTP_GET, "api/exchanges/*", LP_HTTP_AUTH_VHOST, 2, on_list },
	{ LP_HTTP_GET, "api/exchanges/*/*", LP_HTTP_AUTH_VHOST, 2, on_get },
	{ LP_HTTP_PUT, "api/exchanges/*/*", LP_HTTP_AUTH_VHOST, 2, on_put },
	{ LP_HTTP_DELETE, "api/exchanges/*/*", LP_HTTP_AUTH_VHOST, 2, on_delete },
	{ 0 },
};
