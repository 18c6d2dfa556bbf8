/* SPDX-License-Identifier: MIT */
/*
 * Permissions in the management API (rabbit_mgmt_wm_permissions,
 * rabbit_mgmt_wm_permission): GET /api/permissions, GET|PUT|DELETE
 * /api/permissions/V/U, administrators only. Changes go through
 * lp_defs_set_permissions() / lp_defs_clear_permissions().
 */
#include <errno.h>
#include <string.h>

#include "http_int.h"
#include "http_json.h"

json_t *lp_http_permission_json(const struct lp_def_permission *p)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "user", p->user, "vhost", p->vhost,
			 "configure", p->configure, "write", p->write, "read", p->read);
}

static void on_list(struct lp_http_req *r)
{
	static const char *const sort[] = { "vhost", "user", NULL };
	json_t *a = json_array();
	for (const struct lp_def_permission *p = lp_defs_permissions(r->defs); a && p; p = p->next)
		json_array_append_new(a, lp_http_permission_json(p));
	lp_http_reply_list(r, a, sort);
}

static const struct lp_def_permission *find(struct lp_http_req *r, const char *vhost,
					    const char *user)
{
	for (const struct lp_def_permission *p = lp_defs_permissions(r->defs); p; p = p->next)
		if (strcmp(p->vhost, vhost) == 0 && strcmp(p->user, user) == 0)
			return p;
	return NULL;
}

static void on_get(struct lp_http_req *r)
{
	const struct lp_def_permission *p = find(r, r->t.seg[2], r->t.seg[3]);
	if (!p)
		lp_http_not_found(r);
	else
		lp_http_reply_json(r, 200, lp_http_permission_json(p));
}

static void on_put(struct lp_http_req *r)
{
	const char *vhost = r->t.seg[2], *user = r->t.seg[3];
	if (!lp_defs_find_vhost(r->defs, vhost) || !lp_defs_find_user(r->defs, user)) {
		lp_http_bad_request(r, "vhost_or_user_not_found");
		return;
	}
	json_t *body = lp_http_body_object(r);
	if (!body)
		return;
	char re[3][LP_DEF_NAME_MAX + 1], missing[128] = "";
	static const char *const keys[] = { "configure", "write", "read" };
	for (int i = 0; i < 3; i++)
		if (lp_http_json_string(body, keys[i], NULL, re[i], sizeof(re[i])) < 0)
			snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing),
				 "%s{key_missing,%s}", missing[0] ? "," : "", keys[i]);
	json_decref(body);
	if (missing[0]) {
		lp_http_bad_request(r, "[%s]", missing);
		return;
	}
	bool existed = find(r, vhost, user) != NULL;
	char err[512] = "";
	lp_ctl_server_change_begin(r->h->srv);
	int rc = lp_defs_set_permissions(r->defs, user, vhost, re[0], re[1], re[2], err,
					 sizeof(err));
	lp_ctl_server_change_end(r->h->srv);
	if (rc < 0)
		lp_http_bad_request(r, "%s", err);
	else
		lp_http_reply_empty(r, existed ? 204 : 201);
}

static void on_delete(struct lp_http_req *r)
{
	const char *vhost = r->t.seg[2], *user = r->t.seg[3];
	if (!find(r, vhost, user)) {
		lp_http_not_found(r);
		return;
	}
	char err[512] = "";
	lp_ctl_server_change_begin(r->h->srv);
	int rc = lp_defs_clear_permissions(r->defs, user, vhost, err, sizeof(err));
	lp_ctl_server_change_end(r->h->srv);
	if (rc < 0)
		lp_http_bad_request(r, "%s", err);
	else
		lp_http_reply_empty(r, 204);
}

const struct lp_http_route lp_http_permission_routes[] = {
	{ LP_HTTP_GET, "api/permissions", LP_HTTP_AUTH_ADMIN, 0, on_list },
	{ LP_HTTP_GET, "api/permissions/*/*", LP_HTTP_AUTH_ADMIN, 0, on_get },
	{ LP_HTTP_PUT, "api/permissions/*/*", LP_HTTP_AUTH_ADMIN, 0, on_put },
	{ LP_HTTP_DELETE, "api/permissions/*/*", LP_HTTP_AUTH_ADMIN, 0, on_delete },
	{ 0 },
};
