/* SPDX-License-Identifier: MIT */
/*
 * Virtual hosts in the management API (rabbit_mgmt_wm_vhosts,
 * rabbit_mgmt_wm_vhost): GET /api/vhosts (the vhosts the user may see),
 * GET|PUT|DELETE /api/vhosts/V, GET /api/vhosts/V/permissions. PUT and
 * DELETE go through lp_defs_add_vhost() / lp_defs_delete_vhost(), the
 * functions lepusctl uses, so the dataplane and the store see them; as in
 * RabbitMQ, the user who creates a vhost gets permissions ".*" on it. Lepus
 * keeps no description, tags or tracing flag for a vhost: PUT accepts and
 * ignores them.
 */
#include <errno.h>
#include <string.h>

#include "http_auth.h"
#include "http_int.h"

static json_t *vhost_json(struct lp_http_req *r, const struct lp_def_vhost *v)
{
	const char *desc = strcmp(v->name, "/") == 0 ? "Default virtual host" : "";
	return json_pack("{s:s, s:s, s:[], s:{s:s, s:[]}, s:b, s:{s:s}, s:s,"
			 " s:i, s:i, s:i}",
			 "name", v->name, "description", desc, "tags",
			 "metadata", "description", desc, "tags",
			 "tracing", 0, "cluster_state", r->h->node, "running",
			 "default_queue_type", "classic",
			 "messages", 0, "messages_ready", 0, "messages_unacknowledged", 0);
}

static void on_list(struct lp_http_req *r)
{
	static const char *const sort[] = { "name", NULL };
	json_t *a = json_array();
	for (const struct lp_def_vhost *v = lp_defs_vhosts(r->defs); a && v; v = v->next)
		if (lp_http_vhost_visible(r->defs, r->user, v->name))
			json_array_append_new(a, vhost_json(r, v));
	lp_http_reply_list(r, a, sort);
}

static void on_get(struct lp_http_req *r)
{
	const struct lp_def_vhost *v = lp_defs_find_vhost(r->defs, r->t.seg[2]);
	if (!v) {
		lp_http_not_found(r);
		return;
	}
	lp_http_reply_json(r, 200, vhost_json(r, v));
}

static void on_put(struct lp_http_req *r)
{
	const char *name = r->t.seg[2];
	json_t *body = lp_http_body_object(r);
	if (!body)
		return;
	json_decref(body);
	if (lp_defs_find_vhost(r->defs, name)) {
		lp_http_reply_empty(r, 204);
		return;
	}
	char err[512] = "";
	lp_ctl_server_change_begin(r->h->srv);
	int rc = lp_defs_add_vhost(r->defs, name, err, sizeof(err));
	/* rabbit_mgmt_wm_vhost: the user who creates a vhost gets full
	 * permissions on it */
	if (rc == 0)
		rc = lp_defs_set_permissions(r->defs, r->user_name, name, ".*", ".*", ".*", err,
					     sizeof(err));
	lp_ctl_server_change_end(r->h->srv);
	if (rc < 0)
		lp_http_bad_request(r, "%s", err);
	else
		lp_http_reply_empty(r, 201);
}

static void on_delete(struct lp_http_req *r)
{
	char err[512] = "";
	lp_ctl_server_change_begin(r->h->srv);
	int rc = lp_defs_delete_vhost(r->defs, r->t.seg[2], err, sizeof(err));
	lp_ctl_server_change_end(r->h->srv);
	if (rc == -ENOENT)
		lp_http_not_found(r);
	else if (rc < 0)
		lp_http_bad_request(r, "%s", err);
	else
		lp_http_reply_empty(r, 204);
}

static void on_permissions(struct lp_http_req *r)
{
	static const char *const sort[] = { "vhost", "user", NULL };
	const char *vhost = r->t.seg[2];
	if (!lp_http_vhost_exists(r, vhost))
		return;
	json_t *a = json_array();
	for (const struct lp_def_permission *p = lp_defs_permissions(r->defs); a && p; p = p->next)
		if (strcmp(p->vhost, vhost) == 0)
			json_array_append_new(a, lp_http_permission_json(p));
	lp_http_reply_list(r, a, sort);
}

const struct lp_http_route lp_http_vhost_routes[] = {
	{ LP_HTTP_GET, "api/vhosts", LP_HTTP_AUTH_MGMT, 0, on_list },
	{ LP_HTTP_GET, "api/vhosts/*", LP_HTTP_AUTH_VHOST, 2, on_get },
	{ LP_HTTP_PUT, "api/vhosts/*", LP_HTTP_AUTH_ADMIN, 0, on_put },
	{ LP_HTTP_DELETE, "api/vhosts/*", LP_HTTP_AUTH_ADMIN, 0, on_delete },
	{ LP_HTTP_GET, "api/vhosts/*/permissions", LP_HTTP_AUTH_ADMIN, 0, on_permissions },
	{ 0 },
};
