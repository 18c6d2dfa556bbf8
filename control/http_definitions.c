/* SPDX-License-Identifier: MIT */
/*
 * Definitions in the management API (rabbit_mgmt_wm_definitions): GET
 * /api/definitions exports, in RabbitMQ's JSON format, the users (with
 * password_hash and hashing_algorithm), vhosts, permissions, and the
 * durable and transient exchanges, queues and bindings users declared (not
 * the default exchanges, the exclusive queues or the default exchange's
 * implicit bindings); POST imports such a file, merging as RabbitMQ does
 * (rabbit_definitions): vhosts, exchanges, queues and bindings that exist
 * are kept as they are, users and permissions are overwritten, and the
 * importing user gets permissions on each vhost the import creates. GET|POST
 * /api/definitions/V do the same for the objects of one vhost (no users,
 * vhosts or permissions; objects without "vhost"). Administrators only.
 * Imported objects enter through lp_defs_insert() and the lepusctl
 * functions, inside one change, so the store and the dataplane get them.
 * Policies, operator policies (RabbitMQ's "parameters" of component
 * operator_policy) and global parameters come from http_policies.c. Lepus
 * has no topic permissions yet: they export as [] and are ignored on import.
 */
#include <errno.h>
#include <string.h>

#include "amqp_table.h"
#include "http_args.h"
#include "http_int.h"
#include "http_json.h"

#ifndef LP_VERSION
#define LP_VERSION "unknown"
#endif

static bool user_declared(const char *exchange)
{
	return exchange[0] && strncmp(exchange, "amq.", 4) != 0;
}

static void on_export(struct lp_http_req *r)
{
	const char *only = r->t.n > 2 ? r->t.seg[2] : NULL;
	if (only && !lp_http_vhost_exists(r, only))
		return;
	json_t *users = json_array(), *vhosts = json_array(), *perms = json_array();
	json_t *xs = json_array(), *qs = json_array(), *bs = json_array();
	if (!only) {
		for (const struct lp_def_user *u = lp_defs_users(r->defs); u; u = u->next)
			json_array_append_new(users, lp_http_user_json(u));
		for (const struct lp_def_vhost *v = lp_defs_vhosts(r->defs); v; v = v->next)
			json_array_append_new(vhosts, json_pack("{s:s}", "name", v->name));
		for (const struct lp_def_permission *p = lp_defs_permissions(r->defs); p; p = p->next)
			json_array_append_new(perms, lp_http_permission_json(p));
	}
	for (const struct lp_def_exchange *x = lp_defs_exchanges(r->defs); x; x = x->next) {
		if (!user_declared(x->name) || (only && strcmp(x->vhost, only) != 0))
			continue;
		json_t *j = json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:o}", "name", x->name, "vhost",
				      x->vhost, "type", lp_defs_exchange_type_name(x->type),
				      "durable", x->durable, "auto_delete", x->auto_delete,
				      "internal", x->internal, "arguments",
				      lp_http_args_to_json(x->args, x->args_len));
		if (only)
			json_object_del(j, "vhost");
		json_array_append_new(xs, j);
	}
	for (const struct lp_def_queue *q = lp_defs_queues(r->defs); q; q = q->next) {
		if (q->exclusive || (only && strcmp(q->vhost, only) != 0))
			continue;
		json_t *j = json_pack("{s:s, s:s, s:b, s:b, s:o}", "name", q->name, "vhost", q->vhost,
				      "durable", q->durable, "auto_delete", q->auto_delete,
				      "arguments", lp_http_args_to_json(q->args, q->args_len));
		if (only)
			json_object_del(j, "vhost");
		json_array_append_new(qs, j);
	}
	for (const struct lp_def_binding *b = lp_defs_bindings(r->defs); b; b = b->next) {
		if (only && strcmp(b->vhost, only) != 0)
			continue;
		const struct lp_def_queue *q = b->dest_kind == LP_CTL_OBJ_QUEUE
			? lp_defs_find_queue(r->defs, b->vhost, b->destination) : NULL;
		if (q && q->exclusive)
			continue;
		json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "source", b->source, "vhost",
				      b->vhost, "destination", b->destination, "destination_type",
				      b->dest_kind == LP_CTL_OBJ_QUEUE ? "queue" : "exchange",
				      "routing_key", b->routing_key, "arguments",
				      lp_http_args_to_json(b->args, b->args_len));
		if (only)
			json_object_del(j, "vhost");
		json_array_append_new(bs, j);
	}
	json_t *o;
	if (only)
		o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o}",
			      "rabbit_version", LP_HTTP_RABBITMQ_VERSION,
			      "rabbitmq_version", LP_HTTP_RABBITMQ_VERSION,
			      "product_name", "Lepus", "product_version", LP_VERSION,
			      "parameters", lp_http_params_section(r, LP_PARAM_OPERATOR_POLICY, only),
			      "policies", lp_http_params_section(r, LP_PARAM_POLICY, only),
			      "queues", qs, "exchanges", xs, "bindings", bs);
	else
		o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:[], s:o, s:o, s:o,"
			      " s:o, s:o, s:o}",
			      "rabbit_version", LP_HTTP_RABBITMQ_VERSION,
			      "rabbitmq_version", LP_HTTP_RABBITMQ_VERSION,
			      "product_name", "Lepus", "product_version", LP_VERSION,
			      "users", users, "vhosts", vhosts, "permissions", perms,
			      "topic_permissions",
			      "parameters", lp_http_params_section(r, LP_PARAM_OPERATOR_POLICY, NULL),
			      "global_parameters", lp_http_params_section(r, LP_PARAM_GLOBAL, NULL),
			      "policies", lp_http_params_section(r, LP_PARAM_POLICY, NULL),
			      "queues", qs, "exchanges", xs, "bindings", bs);
	if (only) {
		json_decref(users);
		json_decref(vhosts);
		json_decref(perms);
	}
	lp_http_reply_json(r, 200, o);
}

/* Copy obj[key] (a string) into dst; "" when absent. false when not a
 * string or too long. */
static bool name_of(const json_t *obj, const char *key, char dst[LP_DEF_NAME_MAX + 1])
{
	return lp_http_json_string(obj, key, "", dst, LP_DEF_NAME_MAX + 1) >= 0;
}

static bool vhost_of(const json_t *obj, const char *only, char dst[LP_DEF_NAME_MAX + 1])
{
	if (only) {
		snprintf(dst, LP_DEF_NAME_MAX + 1, "%s", only);
		return true;
	}
	return name_of(obj, "vhost", dst) && dst[0];
}

static const char *exchange_type(const char *s, uint8_t *type)
{
	static const char *const names[] = { "direct", "fanout", "topic", "headers" };
	for (uint8_t i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0) {
			*type = i + 1;
			return NULL;
		}
	return "unknown exchange type";
}

/* Import one section; returns NULL or the reason of a 400 (in err). */
static const char *import(struct lp_http_req *r, const json_t *defs, const char *only,
			  char *err, size_t cap)
{
	static uint8_t args[LP_CTL_ARGS_MAX];
	size_t i;
	json_t *e;
	if (!only) {
		json_array_foreach(json_object_get(defs, "vhosts"), i, e) {
			char name[LP_DEF_NAME_MAX + 1];
			if (!name_of(e, "name", name) || !name[0])
				return "vhost without a name";
			/* as PUT /api/vhosts/V: the importing user gets ".*" on a new vhost */
			if (!lp_defs_find_vhost(r->defs, name) &&
			    (lp_defs_add_vhost(r->defs, name, err, cap) < 0 ||
			     lp_defs_set_permissions(r->defs, r->user_name, name, ".*", ".*", ".*", err,
						     cap) < 0))
				return err;
		}
		json_array_foreach(json_object_get(defs, "users"), i, e) {
			char name[LP_DEF_NAME_MAX + 1];
			if (!name_of(e, "name", name) || !name[0])
				return "user without a name";
			if (lp_http_user_put(r, name, e, false, err, cap) == 400)
				return err;
		}
		r->user = NULL;
		json_array_foreach(json_object_get(defs, "permissions"), i, e) {
			char u[LP_DEF_NAME_MAX + 1], v[LP_DEF_NAME_MAX + 1], c[LP_DEF_NAME_MAX + 1],
				w[LP_DEF_NAME_MAX + 1], rd[LP_DEF_NAME_MAX + 1];
			if (!name_of(e, "user", u) || !name_of(e, "vhost", v) ||
			    !name_of(e, "configure", c) || !name_of(e, "write", w) ||
			    !name_of(e, "read", rd))
				return "malformed permission";
			if (lp_defs_set_permissions(r->defs, u, v, c, w, rd, err, cap) < 0)
				return err;
		}
	}
	const char *why = lp_http_params_import(r, defs, only, err, cap);
	if (why)
		return why;
	json_array_foreach(json_object_get(defs, "exchanges"), i, e) {
		struct lp_def_exchange x;
		char type[32];
		memset(&x, 0, sizeof(x));
		if (!name_of(e, "name", x.name) || !vhost_of(e, only, x.vhost) ||
		    lp_http_json_string(e, "type", "", type, sizeof(type)) < 0)
			return "malformed exchange";
		why = exchange_type(type, &x.type);
		if (why)
			return why;
		int alen = lp_http_args_from_json(json_object_get(e, "arguments"), args, sizeof(args));
		if (alen < 0 || lp_http_json_bool(e, "durable", true, &x.durable) < 0 ||
		    lp_http_json_bool(e, "auto_delete", false, &x.auto_delete) < 0 ||
		    lp_http_json_bool(e, "internal", false, &x.internal) < 0)
			return "malformed exchange";
		x.args = args;
		x.args_len = (uint16_t)alen;
		struct lp_amqp_field_value ae;
		struct lp_amqp_bytes body = { .ptr = args, .len = (uint32_t)alen };
		if (alen && lp_amqp_table_get(body, "alternate-exchange", &ae) &&
		    ae.kind == LP_AMQP_FIELD_LONGSTR && ae.bytes.len <= LP_DEF_NAME_MAX)
			memcpy(x.alternate, ae.bytes.ptr, ae.bytes.len);
		int rc = lp_defs_insert(r->defs, LP_DEF_EXCHANGE, &x);
		if (rc == -ENOENT) {
			snprintf(err, cap, "vhost '%s' does not exist", x.vhost);
			return err;
		}
		if (rc < 0 && rc != -EEXIST)
			return "cannot import an exchange";
	}
	json_array_foreach(json_object_get(defs, "queues"), i, e) {
		struct lp_def_queue q;
		memset(&q, 0, sizeof(q));
		int alen = lp_http_args_from_json(json_object_get(e, "arguments"), args, sizeof(args));
		if (!name_of(e, "name", q.name) || !q.name[0] || !vhost_of(e, only, q.vhost) ||
		    alen < 0 || lp_http_json_bool(e, "durable", true, &q.durable) < 0 ||
		    lp_http_json_bool(e, "auto_delete", false, &q.auto_delete) < 0)
			return "malformed queue";
		q.args = args;
		q.args_len = (uint16_t)alen;
		struct lp_ctl_def_req req;
		lp_http_def_req_init(r, &req, LP_CTL_OBJ_QUEUE, q.vhost, q.name);
		q.owner_shard = req.worker;
		int rc = lp_defs_insert(r->defs, LP_DEF_QUEUE, &q);
		if (rc == -ENOENT) {
			snprintf(err, cap, "vhost '%s' does not exist", q.vhost);
			return err;
		}
		if (rc < 0 && rc != -EEXIST)
			return "cannot import a queue";
	}
	json_array_foreach(json_object_get(defs, "bindings"), i, e) {
		struct lp_def_binding b;
		char kind[16];
		memset(&b, 0, sizeof(b));
		int alen = lp_http_args_from_json(json_object_get(e, "arguments"), args, sizeof(args));
		if (!name_of(e, "source", b.source) || !vhost_of(e, only, b.vhost) ||
		    !name_of(e, "destination", b.destination) || !name_of(e, "routing_key", b.routing_key) ||
		    lp_http_json_string(e, "destination_type", "queue", kind, sizeof(kind)) < 0 ||
		    alen < 0)
			return "malformed binding";
		b.dest_kind = strcmp(kind, "exchange") == 0 ? LP_CTL_OBJ_EXCHANGE : LP_CTL_OBJ_QUEUE;
		const struct lp_def_exchange *src = lp_defs_find_exchange(r->defs, b.vhost, b.source);
		bool dest_ok = b.dest_kind == LP_CTL_OBJ_QUEUE
			? lp_defs_find_queue(r->defs, b.vhost, b.destination) != NULL
			: lp_defs_find_exchange(r->defs, b.vhost, b.destination) != NULL;
		if (!b.source[0])
			continue; /* the default exchange's bindings are implicit */
		if (!src || !dest_ok) {
			snprintf(err, cap, "binding '%.100s' -> '%.100s' in vhost '%.100s': no such "
				 "source or destination", b.source, b.destination, b.vhost);
			return err;
		}
		const struct lp_def_queue *dq = b.dest_kind == LP_CTL_OBJ_QUEUE
			? lp_defs_find_queue(r->defs, b.vhost, b.destination) : NULL;
		const struct lp_def_exchange *dx = b.dest_kind == LP_CTL_OBJ_EXCHANGE
			? lp_defs_find_exchange(r->defs, b.vhost, b.destination) : NULL;
		b.durable = src->durable && (dq ? dq->durable : dx->durable);
		b.args = args;
		b.args_len = (uint16_t)alen;
		int rc = lp_defs_insert(r->defs, LP_DEF_BINDING, &b);
		if (rc < 0 && rc != -EEXIST)
			return "cannot import a binding";
	}
	return NULL;
}

static void on_import(struct lp_http_req *r)
{
	const char *only = r->t.n > 2 ? r->t.seg[2] : NULL;
	if (only && !lp_http_vhost_exists(r, only))
		return;
	json_t *defs = r->body_len ? json_loadb(r->body, r->body_len, 0, NULL) : json_object();
	if (!json_is_object(defs)) {
		json_decref(defs);
		lp_http_bad_request(r, "failed_to_parse_json");
		return;
	}
	char err[512] = "";
	lp_ctl_server_change_begin(r->h->srv);
	const char *why = import(r, defs, only, err, sizeof(err));
	int rc = lp_ctl_server_change_end(r->h->srv);
	json_decref(defs);
	if (why)
		lp_http_bad_request(r, "%s", why);
	else if (rc < 0)
		lp_http_reply_error(r, 500, "internal_error", "cannot store the definitions");
	else
		lp_http_reply_empty(r, 204);
}

const struct lp_http_route lp_http_definition_routes[] = {
	{ LP_HTTP_GET, "api/definitions", LP_HTTP_AUTH_ADMIN, 0, on_export },
	{ LP_HTTP_POST, "api/definitions", LP_HTTP_AUTH_ADMIN, 0, on_import },
	{ LP_HTTP_GET, "api/definitions/*", LP_HTTP_AUTH_ADMIN, 0, on_export },
	{ LP_HTTP_POST, "api/definitions/*", LP_HTTP_AUTH_ADMIN, 0, on_import },
	{ 0 },
};
