/* SPDX-License-Identifier: MIT */
/*
 * Policies and parameters in the management API (rabbit_mgmt_wm_policies,
 * _policy, _operator_policies, _operator_policy, _parameters, _parameter,
 * _global_parameters, _global_parameter): GET /api/policies[/V],
 * GET|PUT|DELETE /api/policies/V/NAME, the same under
 * /api/operator-policies, GET /api/parameters[/COMPONENT[/V]],
 * GET|PUT|DELETE /api/parameters/COMPONENT/V/NAME, GET
 * /api/global-parameters, GET|PUT|DELETE /api/global-parameters/NAME.
 * Values are checked by policies.c (RabbitMQ's rules and reason texts) and
 * changed inside lp_ctl_server_change_begin() .. end(), so they reach the
 * store in one transaction. Lepus registers no parameter components but
 * RabbitMQ's operator_policy (listed under /api/parameters, as RabbitMQ
 * lists it); any other component is "not found", as in a RabbitMQ without
 * the federation and shovel plugins. Also the definitions' sections
 * (policies, parameters, global_parameters) for http_definitions.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "http_auth.h"
#include "http_int.h"
#include "http_json.h"

static const char *const policy_sort[] = { "vhost", "name", NULL };
static const char *const global_sort[] = { "name", NULL };

/* RabbitMQ escapes the reasons of policy errors for HTML (& < >), not
 * those of operator policies. */
static void html_escape(char *dst, size_t cap, const char *src)
{
	size_t n = 0;
	for (; *src && n + 6 < cap; src++) {
		const char *rep = *src == '<' ? "&lt;" : *src == '>' ? "&gt;" : *src == '&' ? "&amp;"
											  : NULL;
		if (rep) {
			memcpy(dst + n, rep, strlen(rep));
			n += strlen(rep);
		} else {
			dst[n++] = *src;
		}
	}
	dst[n] = '\0';
}

static void policy_error(char *dst, size_t cap, uint8_t kind, const char *err)
{
	if (kind == LP_PARAM_POLICY)
		html_escape(dst, cap, err);
	else
		snprintf(dst, cap, "%s", err);
}

json_t *lp_http_parameter_json(const struct lp_param *p)
{
	return json_pack("{s:O, s:s, s:s, s:s}", "value", p->value, "vhost", p->vhost, "component",
			 lp_param_component(p->kind), "name", p->name);
}

json_t *lp_http_global_parameter_json(const struct lp_param *p)
{
	return json_pack("{s:s, s:O}", "name", p->name, "value", p->value);
}

json_t *lp_http_params_section(struct lp_http_req *r, uint8_t kind, const char *vhost)
{
	json_t *a = json_array();
	for (const struct lp_param *p = lp_params_list(r->h->params); a && p; p = p->next) {
		if (p->kind != kind || (vhost && strcmp(p->vhost, vhost) != 0))
			continue;
		if (kind != LP_PARAM_GLOBAL && !vhost && r->user &&
		    !lp_http_vhost_visible(r->defs, r->user, p->vhost))
			continue;
		json_array_append_new(a, kind == LP_PARAM_POLICY ? lp_policy_json(p)
				      : kind == LP_PARAM_GLOBAL ? lp_http_global_parameter_json(p)
								: lp_http_parameter_json(p));
	}
	return a;
}

/* Set one parameter inside a change; the status (201 created, 204
 * replaced, 400 with the reason in err). */
static unsigned set_param(struct lp_http_req *r, uint8_t kind, const char *vhost,
			  const char *name, const json_t *value, char *err, size_t cap)
{
	char raw[1024];
	int rc = lp_params_set(r->h->params, kind, vhost, name, value, raw, sizeof(raw));
	if (rc >= 0)
		return rc == 1 ? 201 : 204;
	policy_error(err, cap, kind, raw);
	return 400;
}

/* ---- policies and operator policies ------------------------------------ */

static uint8_t policy_kind(const struct lp_http_req *r)
{
	return strcmp(r->t.seg[1], "policies") == 0 ? LP_PARAM_POLICY : LP_PARAM_OPERATOR_POLICY;
}

static void on_policy_list(struct lp_http_req *r)
{
	const char *vhost = r->t.n > 2 ? r->t.seg[2] : NULL;
	if (vhost && !lp_http_vhost_exists(r, vhost))
		return;
	uint8_t kind = policy_kind(r);
	json_t *a = json_array();
	for (const struct lp_param *p = lp_params_list(r->h->params); a && p; p = p->next)
		if (p->kind == kind && (vhost ? strcmp(p->vhost, vhost) == 0
					      : lp_http_vhost_visible(r->defs, r->user, p->vhost)))
			json_array_append_new(a, lp_policy_json(p));
	lp_http_reply_list(r, a, policy_sort);
}

static void on_policy_get(struct lp_http_req *r)
{
	const struct lp_param *p =
		lp_params_find(r->h->params, policy_kind(r), r->t.seg[2], r->t.seg[3]);
	if (!p)
		lp_http_not_found(r);
	else
		lp_http_reply_json(r, 200, lp_policy_json(p));
}

static void put_answer(struct lp_http_req *r, uint8_t kind, const char *vhost, const char *name,
		       const json_t *value)
{
	char err[2048];
	lp_ctl_server_change_begin(r->h->srv);
	unsigned st = set_param(r, kind, vhost, name, value, err, sizeof(err));
	int rc = lp_ctl_server_change_end(r->h->srv);
	if (st == 400)
		lp_http_reply_error(r, 400, "bad_request", err);
	else if (rc < 0)
		lp_http_reply_error(r, 500, "internal_error", "cannot store the parameter");
	else
		lp_http_reply_empty(r, st);
}

static void on_policy_put(struct lp_http_req *r)
{
	const char *vhost = r->t.seg[2];
	if (!lp_http_vhost_exists_put(r, vhost))
		return;
	json_t *body = lp_http_body_object(r);
	if (!body)
		return;
	put_answer(r, policy_kind(r), vhost, r->t.seg[3], body);
	json_decref(body);
}

static void delete_answer(struct lp_http_req *r, uint8_t kind, const char *vhost, const char *name)
{
	lp_ctl_server_change_begin(r->h->srv);
	int rc = lp_params_delete(r->h->params, kind, vhost, name);
	int src = lp_ctl_server_change_end(r->h->srv);
	if (rc < 0)
		lp_http_not_found(r);
	else if (src < 0)
		lp_http_reply_error(r, 500, "internal_error", "cannot store the parameter");
	else
		lp_http_reply_empty(r, 204);
}

static void on_policy_delete(struct lp_http_req *r)
{
	delete_answer(r, policy_kind(r), r->t.seg[2], r->t.seg[3]);
}

/* ---- vhost parameters (component operator_policy only) ----------------- */

static void on_param_list(struct lp_http_req *r)
{
	const char *component = r->t.n > 2 ? r->t.seg[2] : NULL;
	const char *vhost = r->t.n > 3 ? r->t.seg[3] : NULL;
	if (vhost && !lp_http_vhost_exists(r, vhost))
		return;
	uint8_t kind = component ? lp_param_kind_of(component) : LP_PARAM_OPERATOR_POLICY;
	json_t *a = kind == LP_PARAM_OPERATOR_POLICY ? lp_http_params_section(r, kind, vhost)
						     : json_array();
	lp_http_reply_list(r, a, policy_sort);
}

static void on_param_get(struct lp_http_req *r)
{
	const struct lp_param *p = NULL;
	if (lp_param_kind_of(r->t.seg[2]) == LP_PARAM_OPERATOR_POLICY)
		p = lp_params_find(r->h->params, LP_PARAM_OPERATOR_POLICY, r->t.seg[3], r->t.seg[4]);
	if (!p)
		lp_http_not_found(r);
	else
		lp_http_reply_json(r, 200, lp_http_parameter_json(p));
}

/* A parameter's PUT body and its "value" (*body NULL: answered already; a
 * NULL value: answered with RabbitMQ's key_missing, the caller frees body). */
static json_t *body_value(struct lp_http_req *r, json_t **body)
{
	*body = lp_http_body_object(r);
	if (!*body)
		return NULL;
	json_t *value = json_object_get(*body, "value");
	if (!value)
		lp_http_bad_request(r, "[{key_missing,value}]");
	return value;
}

static void on_param_put(struct lp_http_req *r)
{
	const char *component = r->t.seg[2], *vhost = r->t.seg[3];
	if (!lp_http_vhost_exists_put(r, vhost))
		return;
	json_t *body, *value = body_value(r, &body);
	if (!body)
		return;
	if (value && lp_param_kind_of(component) != LP_PARAM_OPERATOR_POLICY)
		lp_http_bad_request(r, "Validation failed\n\ncomponent %s not found\n", component);
	else if (value)
		put_answer(r, LP_PARAM_OPERATOR_POLICY, vhost, r->t.seg[4], value);
	json_decref(body);
}

static void on_param_delete(struct lp_http_req *r)
{
	if (lp_param_kind_of(r->t.seg[2]) != LP_PARAM_OPERATOR_POLICY)
		lp_http_not_found(r);
	else
		delete_answer(r, LP_PARAM_OPERATOR_POLICY, r->t.seg[3], r->t.seg[4]);
}

/* ---- global parameters --------------------------------------------------- */

static void on_global_list(struct lp_http_req *r)
{
	lp_http_reply_list(r, lp_http_params_section(r, LP_PARAM_GLOBAL, NULL), global_sort);
}

static void on_global_get(struct lp_http_req *r)
{
	const struct lp_param *p = lp_params_find(r->h->params, LP_PARAM_GLOBAL, "", r->t.seg[2]);
	if (!p)
		lp_http_not_found(r);
	else /* RabbitMQ's order for one: value, then name */
		lp_http_reply_json(r, 200, json_pack("{s:O, s:s}", "value", p->value, "name", p->name));
}

static void on_global_put(struct lp_http_req *r)
{
	json_t *body, *value = body_value(r, &body);
	if (!body)
		return;
	if (value)
		put_answer(r, LP_PARAM_GLOBAL, "", r->t.seg[2], value);
	json_decref(body);
}

static void on_global_delete(struct lp_http_req *r)
{
	delete_answer(r, LP_PARAM_GLOBAL, "", r->t.seg[2]);
}

/* ---- definitions --------------------------------------------------------- */

const char *lp_http_params_import(struct lp_http_req *r, const json_t *defs, const char *only,
				  char *err, size_t cap)
{
	size_t i;
	json_t *e;
	char vhost[LP_DEF_NAME_MAX + 1], name[LP_DEF_NAME_MAX + 1], comp[64], why[2048];
	json_array_foreach(json_object_get(defs, "policies"), i, e) {
		if (lp_http_json_string(e, "name", "", name, sizeof(name)) < 0 ||
		    lp_http_json_string(e, "vhost", only ? only : "", vhost, sizeof(vhost)) < 0 ||
		    !name[0])
			return "malformed policy";
		if (only)
			snprintf(vhost, sizeof(vhost), "%s", only);
		if (!lp_defs_find_vhost(r->defs, vhost)) {
			snprintf(err, cap, "vhost '%s' does not exist", vhost);
			return err;
		}
		if (set_param(r, LP_PARAM_POLICY, vhost, name, e, why, sizeof(why)) == 400) {
			snprintf(err, cap, "%s (%s/%s)", why, vhost, name);
			return err;
		}
	}
	json_array_foreach(json_object_get(defs, "parameters"), i, e) {
		if (lp_http_json_string(e, "name", "", name, sizeof(name)) < 0 ||
		    lp_http_json_string(e, "vhost", only ? only : "", vhost, sizeof(vhost)) < 0 ||
		    lp_http_json_string(e, "component", "", comp, sizeof(comp)) < 0 || !name[0])
			return "malformed parameter";
		if (only)
			snprintf(vhost, sizeof(vhost), "%s", only);
		if (lp_param_kind_of(comp) != LP_PARAM_OPERATOR_POLICY) {
			snprintf(err, cap, "Validation failed\n\ncomponent %s not found\n (%s/%s)", comp,
				 vhost, name);
			return err;
		}
		if (!lp_defs_find_vhost(r->defs, vhost)) {
			snprintf(err, cap, "vhost '%s' does not exist", vhost);
			return err;
		}
		if (set_param(r, LP_PARAM_OPERATOR_POLICY, vhost, name, json_object_get(e, "value"),
			      why, sizeof(why)) == 400) {
			snprintf(err, cap, "%s (%s/%s/%s)", why, vhost, comp, name);
			return err;
		}
	}
	if (only)
		return NULL;
	json_array_foreach(json_object_get(defs, "global_parameters"), i, e) {
		json_t *v = json_object_get(e, "value");
		if (lp_http_json_string(e, "name", "", name, sizeof(name)) < 0 || !name[0] || !v)
			return "malformed global parameter";
		if (set_param(r, LP_PARAM_GLOBAL, "", name, v, why, sizeof(why)) == 400) {
			snprintf(err, cap, "%s", why);
			return err;
		}
	}
	return NULL;
}

const struct lp_http_route lp_http_policy_routes[] = {
	{ LP_HTTP_GET, "api/policies", LP_HTTP_AUTH_POLICY, 0, on_policy_list },
	{ LP_HTTP_GET, "api/policies/*", LP_HTTP_AUTH_POLICY, 2, on_policy_list },
	{ LP_HTTP_GET, "api/policies/*/*", LP_HTTP_AUTH_POLICY, 2, on_policy_get },
	{ LP_HTTP_PUT, "api/policies/*/*", LP_HTTP_AUTH_POLICY, 2, on_policy_put },
	{ LP_HTTP_DELETE, "api/policies/*/*", LP_HTTP_AUTH_POLICY, 2, on_policy_delete },
	{ LP_HTTP_GET, "api/operator-policies", LP_HTTP_AUTH_ADMIN, 0, on_policy_list },
	{ LP_HTTP_GET, "api/operator-policies/*", LP_HTTP_AUTH_ADMIN, 0, on_policy_list },
	{ LP_HTTP_GET, "api/operator-policies/*/*", LP_HTTP_AUTH_ADMIN, 0, on_policy_get },
	{ LP_HTTP_PUT, "api/operator-policies/*/*", LP_HTTP_AUTH_ADMIN, 0, on_policy_put },
	{ LP_HTTP_DELETE, "api/operator-policies/*/*", LP_HTTP_AUTH_ADMIN, 0, on_policy_delete },
	{ LP_HTTP_GET, "api/parameters", LP_HTTP_AUTH_POLICY, 0, on_param_list },
	{ LP_HTTP_GET, "api/parameters/*", LP_HTTP_AUTH_POLICY, 0, on_param_list },
	{ LP_HTTP_GET, "api/parameters/*/*", LP_HTTP_AUTH_POLICY, 3, on_param_list },
	{ LP_HTTP_GET, "api/parameters/*/*/*", LP_HTTP_AUTH_POLICY, 3, on_param_get },
	{ LP_HTTP_PUT, "api/parameters/*/*/*", LP_HTTP_AUTH_POLICY, 3, on_param_put },
	{ LP_HTTP_DELETE, "api/parameters/*/*/*", LP_HTTP_AUTH_POLICY, 3, on_param_delete },
	{ LP_HTTP_GET, "api/global-parameters", LP_HTTP_AUTH_ADMIN, 0, on_global_list },
	{ LP_HTTP_GET, "api/global-parameters/*", LP_HTTP_AUTH_ADMIN, 0, on_global_get },
	{ LP_HTTP_PUT, "api/global-parameters/*", LP_HTTP_AUTH_ADMIN, 0, on_global_put },
	{ LP_HTTP_DELETE, "api/global-parameters/*", LP_HTTP_AUTH_ADMIN, 0, on_global_delete },
	{ 0 },
};
