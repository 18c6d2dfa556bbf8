/* SPDX-License-Identifier: MIT */
/*
 * Users in the management API (rabbit_mgmt_wm_users, rabbit_mgmt_wm_user):
 * GET /api/users, GET|PUT|DELETE /api/users/U, GET
 * /api/users/U/permissions, administrators only. A PUT takes "password"
 * (hashed here with rabbit_password_hashing_sha256, as lepusctl's
 * add_user), or "password_hash" (base64 of salt ++ SHA-256, as exported)
 * with "hashing_algorithm", or neither (no password: no password login), and
 * "tags" as a comma-separated string or a list. Changes go through the
 * lepusctl functions of definitions.h.
 */
#include <errno.h>
#include <string.h>

#include "http_int.h"
#include "http_json.h"
#include "password.h"

#define SHA256_ALG "rabbit_password_hashing_sha256"

json_t *lp_http_user_json(const struct lp_def_user *u)
{
	char b64[LP_PASSWORD_HASH_B64_LEN + 1] = "";
	if (u->has_hash)
		lp_base64_encode(b64, sizeof(b64), u->hash, LP_PASSWORD_HASH_LEN, false);
	return json_pack("{s:s, s:s, s:s, s:o, s:{}}", "name", u->name, "password_hash", b64,
			 "hashing_algorithm", SHA256_ALG, "tags", lp_http_tags_json(u->tags),
			 "limits");
}

/* "tags": "a,b" or ["a","b"] into dst. 0 or -EINVAL. */
static int tags_of(const json_t *body, char *dst, size_t cap)
{
	json_t *t = json_object_get(body, "tags");
	dst[0] = '\0';
	if (!t || json_is_null(t))
		return 0;
	if (json_is_string(t))
		return lp_http_json_string(body, "tags", "", dst, cap) < 0 ? -EINVAL : 0;
	if (!json_is_array(t))
		return -EINVAL;
	size_t i, o = 0;
	json_t *e;
	json_array_foreach(t, i, e) {
		if (!json_is_string(e))
			return -EINVAL;
		size_t n = json_string_length(e);
		if (o + n + 2 > cap)
			return -EINVAL;
		if (o)
			dst[o++] = ',';
		memcpy(dst + o, json_string_value(e), n);
		o += n;
		dst[o] = '\0';
	}
	return 0;
}

unsigned lp_http_user_put(struct lp_http_req *r, const char *name, const json_t *body,
			  bool need_tags, char *err, size_t cap)
{
	char tags[LP_DEF_NAME_MAX + 1], pw[LP_DEF_NAME_MAX + 1], b64[128], alg[64];
	uint8_t hash[LP_PASSWORD_HASH_LEN];
	bool have_hash = false;
	if (need_tags && !json_object_get(body, "tags")) {
		snprintf(err, cap, "tags_not_present");
		return 400;
	}
	if (tags_of(body, tags, sizeof(tags)) < 0) {
		snprintf(err, cap, "invalid tags");
		return 400;
	}
	int pl = lp_http_json_string(body, "password", NULL, pw, sizeof(pw));
	if (pl >= 0) {
		if (lp_password_hash(pw, (size_t)pl, NULL, hash) < 0) {
			snprintf(err, cap, "cannot hash the password");
			return 400;
		}
		have_hash = true;
	} else if (pl != -ENOENT) {
		snprintf(err, cap, "invalid password");
		return 400;
	} else if (lp_http_json_string(body, "password_hash", NULL, b64, sizeof(b64)) >= 0) {
		if (lp_http_json_string(body, "hashing_algorithm", SHA256_ALG, alg, sizeof(alg)) < 0 ||
		    strcmp(alg, SHA256_ALG) != 0) {
			snprintf(err, cap, "unsupported hashing_algorithm (Lepus has %s)", SHA256_ALG);
			return 400;
		}
		if (b64[0]) {
			if (lp_base64_decode(hash, sizeof(hash), b64) != LP_PASSWORD_HASH_LEN) {
				snprintf(err, cap, "invalid password_hash");
				return 400;
			}
			have_hash = true;
		}
	}
	explicit_bzero(pw, sizeof(pw));
	int rc;
	unsigned status;
	if (!lp_defs_find_user(r->defs, name)) {
		rc = lp_defs_add_user(r->defs, name, have_hash ? hash : NULL, tags, err, cap);
		status = 201;
	} else {
		rc = lp_defs_change_password(r->defs, name, have_hash ? hash : NULL, err, cap);
		if (rc == 0)
			rc = lp_defs_set_user_tags(r->defs, name, tags, err, cap);
		status = 204;
	}
	explicit_bzero(hash, sizeof(hash));
	return rc < 0 ? 400 : status;
}

static void on_list(struct lp_http_req *r)
{
	static const char *const sort[] = { "name", NULL };
	json_t *a = json_array();
	for (const struct lp_def_user *u = lp_defs_users(r->defs); a && u; u = u->next)
		json_array_append_new(a, lp_http_user_json(u));
	lp_http_reply_list(r, a, sort);
}

static void on_get(struct lp_http_req *r)
{
	const struct lp_def_user *u = lp_defs_find_user(r->defs, r->t.seg[2]);
	if (!u)
		lp_http_not_found(r);
	else
		lp_http_reply_json(r, 200, lp_http_user_json(u));
}

static void on_put(struct lp_http_req *r)
{
	json_t *body = lp_http_body_object(r);
	if (!body)
		return;
	char err[512] = "";
	lp_ctl_server_change_begin(r->h->srv);
	unsigned status = lp_http_user_put(r, r->t.seg[2], body, true, err, sizeof(err));
	lp_ctl_server_change_end(r->h->srv);
	r->user = NULL; /* may have been replaced */
	json_decref(body);
	if (status == 400)
		lp_http_bad_request(r, "%s", err);
	else
		lp_http_reply_empty(r, status);
}

static void on_delete(struct lp_http_req *r)
{
	char err[512] = "";
	lp_ctl_server_change_begin(r->h->srv);
	int rc = lp_defs_delete_user(r->defs, r->t.seg[2], err, sizeof(err));
	lp_ctl_server_change_end(r->h->srv);
	r->user = NULL;
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
	const char *user = r->t.seg[2];
	if (!lp_defs_find_user(r->defs, user)) {
		lp_http_not_found(r);
		return;
	}
	json_t *a = json_array();
	for (const struct lp_def_permission *p = lp_defs_permissions(r->defs); a && p; p = p->next)
		if (strcmp(p->user, user) == 0)
			json_array_append_new(a, lp_http_permission_json(p));
	lp_http_reply_list(r, a, sort);
}

const struct lp_http_route lp_http_user_routes[] = {
	{ LP_HTTP_GET, "api/users", LP_HTTP_AUTH_ADMIN, 0, on_list },
	{ LP_HTTP_GET, "api/users/*", LP_HTTP_AUTH_ADMIN, 0, on_get },
	{ LP_HTTP_PUT, "api/users/*", LP_HTTP_AUTH_ADMIN, 0, on_put },
	{ LP_HTTP_DELETE, "api/users/*", LP_HTTP_AUTH_ADMIN, 0, on_delete },
	{ LP_HTTP_GET, "api/users/*/permissions", LP_HTTP_AUTH_ADMIN, 0, on_permissions },
	{ 0 },
};
