/* SPDX-License-Identifier: MIT */
/*
 * Bindings in the management API (rabbit_mgmt_wm_bindings,
 * rabbit_mgmt_wm_binding): GET /api/bindings[/V], GET|POST
 * /api/bindings/V/e/E/{q,e}/D (POST answers 201 with a Location header
 * naming the new binding by its properties_key), GET|DELETE
 * /api/bindings/V/e/E/{q,e}/D/PROPS, and the lists GET
 * /api/exchanges/V/X/bindings/{source,destination} and
 * /api/queues/V/Q/bindings. Lists include the default exchange's implicit
 * binding of every queue, as RabbitMQ's do. POST and DELETE are
 * Queue.Bind / Exchange.Bind and their Unbind through lp_defs_request().
 */
#include <errno.h>
#include <string.h>

#include "http_args.h"
#include "http_auth.h"
#include "http_int.h"
#include "http_json.h"
#include "password.h"
#include "sha256.h"

static const char *const sort[] = { "vhost", "source", "destination_type", "destination",
				    "routing_key", "properties_key", NULL };

/* rabbit_http_util:quote_plus/1, then "~" as "%7E" (rabbit_mgmt_format:
 * quote_binding/1). */
static void quote_key(char *dst, size_t cap, const char *key)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)key; *p && o + 4 < cap; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '_') {
			dst[o++] = (char)*p;
		} else if (*p == ' ') {
			dst[o++] = '+';
		} else {
			dst[o++] = '%';
			dst[o++] = hex[*p >> 4];
			dst[o++] = hex[*p & 15];
		}
	}
	dst[o] = '\0';
}

void lp_http_properties_key(char *dst, size_t cap, const char *routing_key,
			    const uint8_t *args, size_t args_len)
{
	if (!args_len) {
		if (!routing_key[0])
			snprintf(dst, cap, "~");
		else
			quote_key(dst, cap, routing_key);
		return;
	}
	/* RabbitMQ hashes the Erlang term of the arguments (erlang:phash2);
	 * Lepus hashes the table body: as opaque to clients, as stable. */
	struct lp_sha256 ctx;
	uint8_t digest[32];
	lp_sha256_init(&ctx);
	lp_sha256_update(&ctx, args, args_len);
	lp_sha256_final(&ctx, digest);
	char h[16];
	lp_base64_encode(h, sizeof(h), digest, 4, true);
	char q[3 * LP_DEF_NAME_MAX + 1];
	quote_key(q, sizeof(q), routing_key);
	snprintf(dst, cap, "%s~%s", q, h);
}

static json_t *binding(const char *vhost, const char *source, const char *dest, uint8_t kind,
		       const char *key, const uint8_t *args, size_t args_len)
{
	char pk[4 * LP_DEF_NAME_MAX];
	lp_http_properties_key(pk, sizeof(pk), key, args, args_len);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:s}", "source", source, "vhost", vhost,
			 "destination", dest, "destination_type",
			 kind == LP_CTL_OBJ_QUEUE ? "queue" : "exchange", "routing_key", key,
			 "arguments", lp_http_args_to_json(args, args_len), "properties_key", pk);
}

json_t *lp_http_binding_json(const struct lp_def_binding *b)
{
	return binding(b->vhost, b->source, b->destination, b->dest_kind, b->routing_key, b->args,
		       b->args_len);
}

json_t *lp_http_default_binding_json(const struct lp_def_queue *q)
{
	return binding(q->vhost, "", q->name, LP_CTL_OBJ_QUEUE, q->name, NULL, 0);
}

/* What a list keeps: vhost (NULL: visible ones), source (NULL: any),
 * destination kind (0: any) and name (NULL: any). */
struct filter {
	const char *vhost;
	const char *source;
	uint8_t kind;
	const char *dest;
};

static json_t *collect(struct lp_http_req *r, const struct filter *f)
{
	json_t *a = json_array();
	for (const struct lp_def_queue *q = lp_defs_queues(r->defs); a && q; q = q->next) {
		if (f->vhost ? strcmp(q->vhost, f->vhost) != 0
			     : !lp_http_vhost_visible(r->defs, r->user, q->vhost))
			continue;
		if ((f->source && f->source[0]) || (f->kind && f->kind != LP_CTL_OBJ_QUEUE) ||
		    (f->dest && strcmp(f->dest, q->name) != 0))
			continue;
		json_array_append_new(a, lp_http_default_binding_json(q));
	}
	for (const struct lp_def_binding *b = lp_defs_bindings(r->defs); a && b; b = b->next) {
		if (f->vhost ? strcmp(b->vhost, f->vhost) != 0
			     : !lp_http_vhost_visible(r->defs, r->user, b->vhost))
			continue;
		if ((f->source && strcmp(f->source, b->source) != 0) ||
		    (f->kind && f->kind != b->dest_kind) ||
		    (f->dest && strcmp(f->dest, b->destination) != 0))
			continue;
		json_array_append_new(a, lp_http_binding_json(b));
	}
	return a;
}

static void on_list(struct lp_http_req *r)
{
	struct filter f = { .vhost = r->t.n > 2 ? r->t.seg[2] : NULL };
	if (f.vhost && !lp_http_vhost_exists(r, f.vhost))
		return;
	lp_http_reply_list(r, collect(r, &f), sort);
}

/* /api/exchanges/V/X/bindings/{source,destination} */
static void on_exchange_list(struct lp_http_req *r)
{
	const char *x = lp_http_exchange_seg(r->t.seg[3]);
	if (!lp_defs_find_exchange(r->defs, r->t.seg[2], x)) {
		lp_http_not_found(r);
		return;
	}
	struct filter f = { .vhost = r->t.seg[2] };
	if (strcmp(r->t.seg[5], "source") == 0) {
		f.source = x;
	} else if (strcmp(r->t.seg[5], "destination") == 0) {
		f.kind = LP_CTL_OBJ_EXCHANGE;
		f.dest = x;
	} else {
		lp_http_not_found(r);
		return;
	}
	lp_http_reply_list(r, collect(r, &f), sort);
}

static void on_queue_list(struct lp_http_req *r)
{
	if (!lp_defs_find_queue(r->defs, r->t.seg[2], r->t.seg[3])) {
		lp_http_not_found(r);
		return;
	}
	struct filter f = { .vhost = r->t.seg[2], .kind = LP_CTL_OBJ_QUEUE, .dest = r->t.seg[3] };
	lp_http_reply_list(r, collect(r, &f), sort);
}

/* Segments 2..6 of /api/bindings/V/e/E/{q,e}/D: the source and destination
 * exist; else a 404 is set. */
static bool endpoints(struct lp_http_req *r, struct filter *f)
{
	f->vhost = r->t.seg[2];
	f->source = lp_http_exchange_seg(r->t.seg[4]);
	f->kind = r->t.seg[5][0] == 'q' ? LP_CTL_OBJ_QUEUE : LP_CTL_OBJ_EXCHANGE;
	f->dest = f->kind == LP_CTL_OBJ_QUEUE ? r->t.seg[6] : lp_http_exchange_seg(r->t.seg[6]);
	bool ok = lp_defs_find_vhost(r->defs, f->vhost) &&
		  lp_defs_find_exchange(r->defs, f->vhost, f->source) &&
		  (f->kind == LP_CTL_OBJ_QUEUE ? lp_defs_find_queue(r->defs, f->vhost, f->dest) != NULL
					       : lp_defs_find_exchange(r->defs, f->vhost, f->dest) != NULL);
	if (!ok)
		lp_http_not_found(r);
	return ok;
}

static void on_between(struct lp_http_req *r)
{
	struct filter f;
	if (endpoints(r, &f))
		lp_http_reply_list(r, collect(r, &f), sort);
}

static void on_create(struct lp_http_req *r)
{
	struct filter f;
	if (!endpoints(r, &f))
		return;
	json_t *body = lp_http_body_object(r);
	if (!body)
		return;
	struct lp_ctl_def_req req;
	static uint8_t args[LP_CTL_ARGS_MAX];
	lp_http_def_req_init(r, &req, f.kind, f.vhost, f.dest);
	snprintf(req.source, sizeof(req.source), "%s", f.source);
	int alen = lp_http_args_from_json(json_object_get(body, "arguments"), args, sizeof(args));
	if (lp_http_json_string(body, "routing_key", "", req.routing_key,
				sizeof(req.routing_key)) < 0) {
		lp_http_bad_request(r, "invalid routing_key");
	} else if (alen < 0) {
		lp_http_bad_request(r, "invalid arguments");
	} else {
		req.args = args;
		req.args_len = (uint16_t)alen;
		struct lp_def_reply d;
		lp_http_defs_apply(r, LP_CTL_BIND, &req, &d);
		if (!lp_http_defs_failed(r, &d)) {
			/* rabbit_web_dispatch_util:relativise/2 of this path and the
			 * binding's: "D/PROPS" */
			char pk[4 * LP_DEF_NAME_MAX], epk[12 * LP_DEF_NAME_MAX], ed[3 * LP_DEF_NAME_MAX + 1];
			lp_http_properties_key(pk, sizeof(pk), req.routing_key, args, (size_t)alen);
			lp_http_escape_segment(ed, sizeof(ed), r->t.seg[6]);
			lp_http_escape_segment(epk, sizeof(epk), pk);
			snprintf(r->location, sizeof(r->location), "%s/%s", ed, epk);
			lp_http_reply_empty(r, 201);
		}
	}
	json_decref(body);
}

/* The binding of segments 2..7, or NULL (404 set). */
static const struct lp_def_binding *find_one(struct lp_http_req *r, struct filter *f,
					      bool *is_default)
{
	*is_default = false;
	if (!endpoints(r, f))
		return NULL;
	const char *props = r->t.seg[7];
	char pk[4 * LP_DEF_NAME_MAX], dec[4 * LP_DEF_NAME_MAX];
	for (const struct lp_def_binding *b = lp_defs_bindings(r->defs); b; b = b->next) {
		if (strcmp(b->vhost, f->vhost) || strcmp(b->source, f->source) ||
		    b->dest_kind != f->kind || strcmp(b->destination, f->dest))
			continue;
		lp_http_properties_key(pk, sizeof(pk), b->routing_key, b->args, b->args_len);
		/* the key as listed, or as a client that did not escape it again sent it */
		if (strcmp(props, pk) == 0 ||
		    (lp_http_unescape(dec, sizeof(dec), pk, strlen(pk), true) >= 0 &&
		     strcmp(props, dec) == 0))
			return b;
	}
	if (!f->source[0] && f->kind == LP_CTL_OBJ_QUEUE) {
		lp_http_properties_key(pk, sizeof(pk), f->dest, NULL, 0);
		if (strcmp(props, pk) == 0 || strcmp(props, f->dest) == 0) {
			*is_default = true;
			return NULL;
		}
	}
	lp_http_not_found(r);
	return NULL;
}

static void on_get(struct lp_http_req *r)
{
	struct filter f;
	bool dflt;
	const struct lp_def_binding *b = find_one(r, &f, &dflt);
	if (dflt)
		lp_http_reply_json(r, 200, lp_http_default_binding_json(
					   lp_defs_find_queue(r->defs, f.vhost, f.dest)));
	else if (b)
		lp_http_reply_json(r, 200, lp_http_binding_json(b));
}

static void on_delete(struct lp_http_req *r)
{
	struct filter f;
	bool dflt;
	const struct lp_def_binding *b = find_one(r, &f, &dflt);
	if (!b && !dflt)
		return;
	struct lp_ctl_def_req req;
	lp_http_def_req_init(r, &req, f.kind, f.vhost, f.dest);
	snprintf(req.source, sizeof(req.source), "%s", f.source);
	if (b) {
		snprintf(req.routing_key, sizeof(req.routing_key), "%s", b->routing_key);
		req.args = b->args;
		req.args_len = b->args_len;
	} else {
		snprintf(req.routing_key, sizeof(req.routing_key), "%s", f.dest);
	}
	lp_http_defs_answer(r, LP_CTL_UNBIND, &req, 204);
}

const struct lp_http_route lp_http_binding_routes[] = {
	{ LP_HTTP_GET, "api/bindings", LP_HTTP_AUTH_MGMT, 0, on_list },
	{ LP_HTTP_GET, "api/bindings/*", LP_HTTP_AUTH_VHOST, 2, on_list },
	{ LP_HTTP_GET, "api/bindings/*/e/*/q/*", LP_HTTP_AUTH_VHOST, 2, on_between },
	{ LP_HTTP_GET, "api/bindings/*/e/*/e/*", LP_HTTP_AUTH_VHOST, 2, on_between },
	{ LP_HTTP_POST, "api/bindings/*/e/*/q/*", LP_HTTP_AUTH_VHOST, 2, on_create },
	{ LP_HTTP_POST, "api/bindings/*/e/*/e/*", LP_HTTP_AUTH_VHOST, 2, on_create },
	{ LP_HTTP_GET, "api/bindings/*/e/*/q/*/*", LP_HTTP_AUTH_VHOST, 2, on_get },
	{ LP_HTTP_GET, "api/bindings/*/e/*/e/*/*", LP_HTTP_AUTH_VHOST, 2, on_get },
	{ LP_HTTP_DELETE, "api/bindings/*/e/*/q/*/*", LP_HTTP_AUTH_VHOST, 2, on_delete },
	{ LP_HTTP_DELETE, "api/bindings/*/e/*/e/*/*", LP_HTTP_AUTH_VHOST, 2, on_delete },
	{ LP_HTTP_GET, "api/exchanges/*/*/bindings/*", LP_HTTP_AUTH_VHOST, 2, on_exchange_list },
	{ LP_HTTP_GET, "api/queues/*/*/bindings", LP_HTTP_AUTH_VHOST, 2, on_queue_list },
	{ 0 },
};
