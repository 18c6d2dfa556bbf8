/* SPDX-License-Identifier: MIT */
/*
 * The management API's HTTP server (see http_server.h): libmicrohttpd in
 * external-loop mode with epoll, its one epoll descriptor polled by
 * lepus-control's loop (ctl_server.c), MHD_run() after each ppoll().
 *
 * One request: uri_logged() keeps the raw target (before libmicrohttpd
 * would decode "%2F"), on_request() collects the body, then dispatch():
 * lp_http_target_parse() -> route lookup in the resource files' tables
 * (404 no route, 405 wrong method) -> Basic auth and tags (401 with
 * WWW-Authenticate) -> the route's handler -> queue_reply().
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl_log.h"
#include "http_auth.h"
#include "http_int.h"
#include "http_json.h"
#include "http_addr.h"
#include "http_server.h"

#define CONN_LIMIT 64
#define CONN_TIMEOUT_S 30

struct conn_state {
	struct lp_http_req req;
	char *raw_target;
	size_t body_cap;
	bool headers_seen;
	bool too_big;
};

static const struct lp_http_route *const route_tables[] = {
	lp_http_overview_routes,
	lp_http_vhost_routes,
	lp_http_user_routes,
	lp_http_permission_routes,
	lp_http_exchange_routes,
	lp_http_queue_routes,
	lp_http_binding_routes,
	lp_http_definition_routes,
	lp_http_policy_routes,
	lp_http_message_routes,
};

/* ---- responses -------------------------------------------------------- */

static void set_body(struct lp_http_req *r, unsigned status, char *body)
{
	free(r->resp);
	r->status = status;
	r->resp = body;
	r->resp_len = body ? strlen(body) : 0;
}

void lp_http_reply_json(struct lp_http_req *r, unsigned status, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	json_decref(j);
	if (!s) {
		set_body(r, 500, strdup("{\"error\":\"internal_error\",\"reason\":\"out of memory\"}"));
		return;
	}
	set_body(r, status, s);
}

void lp_http_reply_empty(struct lp_http_req *r, unsigned status)
{
	set_body(r, status, NULL);
}

void lp_http_reply_error(struct lp_http_req *r, unsigned status, const char *error,
			 const char *reason)
{
	lp_http_reply_json(r, status, json_pack("{s:s, s:s}", "error", error, "reason", reason));
}

void lp_http_not_found(struct lp_http_req *r)
{
	lp_http_reply_error(r, 404, "Object Not Found", "Not Found");
}

void lp_http_bad_request(struct lp_http_req *r, const char *fmt, ...)
{
	char reason[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	lp_http_reply_error(r, 400, "bad_request", reason);
}

void lp_http_reply_list(struct lp_http_req *r, json_t *items, const char *const *default_sort)
{
	char err[256] = "";
	const char *error = "bad_request";
	json_t *out = lp_http_list_shape(items, r->t.query, default_sort, err, sizeof(err), &error);
	if (!out && err[0])
		lp_http_reply_error(r, 400, error, err);
	else
		lp_http_reply_json(r, 200, out);
}

bool lp_http_defs_failed(struct lp_http_req *r, const struct lp_def_reply *d)
{
	if (d->code == 0)
		return false;
	/* the reply text without its "CODE_NAME - " prefix */
	const char *text = strstr(d->text, " - ");
	text = text ? text + 3 : d->text;
	if (d->code == 404)
		lp_http_reply_error(r, 404, "Object Not Found", text);
	else if (d->code == 403)
		lp_http_reply_error(r, 401, "not_authorised", "Access refused.");
	else
		lp_http_reply_error(r, 400, "bad_request", text);
	return true;
}

json_t *lp_http_body_object(struct lp_http_req *r)
{
	if (!r->body_len)
		return json_object();
	json_t *j = json_loadb(r->body, r->body_len, 0, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		lp_http_bad_request(r, "not_json");
		return NULL;
	}
	return j;
}

/* ---- shared helpers of the resource files ------------------------------ */

const char *lp_http_exchange_seg(const char *seg)
{
	return strcmp(seg, "amq.default") == 0 ? "" : seg;
}

json_t *lp_http_tags_json(const char *tags)
{
	json_t *a = json_array();
	const char *p = tags;
	while (a && *p) {
		size_t n = strcspn(p, ",");
		if (n)
			json_array_append_new(a, json_stringn(p, n));
		p += n + (p[n] == ',');
	}
	return a;
}

bool lp_http_vhost_exists_put(struct lp_http_req *r, const char *vhost)
{
	if (lp_defs_find_vhost(r->defs, vhost))
		return true;
	lp_http_reply_error(r, 404, "not_found", "vhost_not_found");
	return false;
}

void lp_http_not_boolean(struct lp_http_req *r, const json_t *body)
{
	static const char *const keys[] = { "durable", "auto_delete", "internal", "exclusive" };
	json_t *bad = NULL;
	for (size_t i = 0; i < 4 && !bad; i++) {
		json_t *v = json_object_get(body, keys[i]);
		bool b;
		if (v && json_object_size(body) && lp_http_json_bool(body, keys[i], false, &b) < 0)
			bad = v;
	}
	lp_http_reply_json(r, 400, json_pack("{s:s, s:[s,O]}", "error", "bad_request", "reason",
					     "not_boolean", bad ? bad : json_null()));
}

bool lp_http_vhost_exists(struct lp_http_req *r, const char *vhost)
{
	if (lp_defs_find_vhost(r->defs, vhost))
		return true;
	lp_http_not_found(r);
	return false;
}

void lp_http_def_req_init(struct lp_http_req *r, struct lp_ctl_def_req *req, uint8_t object,
			  const char *vhost, const char *name)
{
	memset(req, 0, sizeof(*req));
	req->conn_id = LP_HTTP_CONN_ID;
	req->object = object;
	snprintf(req->vhost, sizeof(req->vhost), "%s", vhost);
	snprintf(req->user, sizeof(req->user), "%s", r->user_name);
	snprintf(req->name, sizeof(req->name), "%s", name);
	struct lp_ctl_hello dp;
	if (object == LP_CTL_OBJ_QUEUE && lp_ctl_server_dataplane(r->h->srv, &dp) && dp.n_workers) {
		uint32_t hsh = 2166136261u; /* FNV-1a */
		for (const char *p = name; *p; p++)
			hsh = (hsh ^ (uint8_t)*p) * 16777619u;
		req->worker = (uint16_t)(hsh % dp.n_workers);
	}
}

void lp_http_defs_apply(struct lp_http_req *r, uint16_t type, const struct lp_ctl_def_req *req,
			struct lp_def_reply *out)
{
	lp_ctl_server_change_begin(r->h->srv);
	lp_defs_request(r->defs, type, req, out);
	lp_defs_connection_closed(r->defs, LP_HTTP_CONN_ID);
	lp_ctl_server_change_end(r->h->srv);
}

void lp_http_defs_answer(struct lp_http_req *r, uint16_t type, const struct lp_ctl_def_req *req,
			 unsigned status)
{
	struct lp_def_reply d;

	lp_http_defs_apply(r, type, req, &d);
	if (!lp_http_defs_failed(r, &d))
		lp_http_reply_empty(r, status);
}

/* ---- dispatch ---------------------------------------------------------- */

static bool route_matches(const struct lp_http_route *rt, const struct lp_http_target *t)
{
	const char *p = rt->path;
	unsigned i = 0;
	while (*p) {
		size_t n = strcspn(p, "/");
		if (i >= t->n)
			return false;
		if (!(n == 1 && p[0] == '*') &&
		    (strlen(t->seg[i]) != n || strncmp(t->seg[i], p, n) != 0))
			return false;
		i++;
		p += n + (p[n] == '/');
	}
	return i == t->n;
}

static void refuse_login(struct lp_http_req *r, const char *reason)
{
	lp_http_reply_error(r, 401, "not_authorised", reason);
}

/* No credentials: 401 with an empty body; wrong ones: RabbitMQ's spelling. */
static void refuse_credentials(struct lp_http_req *r, bool given)
{
	if (given)
		lp_http_reply_error(r, 401, "not_authorized", "Login failed");
	else
		lp_http_reply_empty(r, 401);
}

/* rabbit_mgmt_util:is_authorized*: false with a 401 set when refused. */
static bool authorize(struct lp_http_req *r, const struct lp_http_route *rt, const char *header)
{
	char user[LP_DEF_NAME_MAX + 1], pass[LP_DEF_NAME_MAX + 1];
	const struct lp_def_user *u = NULL;
	if (lp_http_basic_decode(header, user, sizeof(user), pass, sizeof(pass)) == 0)
		u = lp_http_login(r->defs, user, pass);
	explicit_bzero(pass, sizeof(pass));
	if (!u) {
		refuse_credentials(r, header != NULL);
		return false;
	}
	r->user = u;
	snprintf(r->user_name, sizeof(r->user_name), "%s", u->name);
	unsigned tags = lp_http_user_tags(u->tags);
	if (!lp_http_is_mgmt(tags)) {
		refuse_login(r, "Not management user");
		return false;
	}
	switch (rt->auth) {
	case LP_HTTP_AUTH_MONITOR:
		if (!lp_http_is_monitor(tags)) {
			refuse_login(r, "Not monitor user");
			return false;
		}
		break;
	case LP_HTTP_AUTH_ADMIN:
		if (!lp_http_is_admin(tags)) {
			refuse_login(r, "Not administrator user");
			return false;
		}
		break;
	case LP_HTTP_AUTH_POLICY:
		if (!(tags & (LP_HTTP_TAG_POLICYMAKER | LP_HTTP_TAG_ADMINISTRATOR))) {
			refuse_login(r, "Not policymaker user");
			return false;
		}
		if (!rt->vhost_seg)
			break;
		__attribute__((fallthrough)); /* and vhost access */
	case LP_HTTP_AUTH_VHOST: {
		/* a vhost that does not exist passes: the handler answers 404 */
		const char *vh = r->t.seg[rt->vhost_seg];
		if (lp_defs_find_vhost(r->defs, vh) && !lp_http_vhost_access(r->defs, u->name, vh)) {
			refuse_login(r, "User not authorised to access virtual host");
			return false;
		}
		break;
	}
	default:
		break;
	}
	return true;
}

static void dispatch(struct lp_http *h, struct lp_http_req *r, const char *raw,
		     const char *auth_header)
{
	if (lp_http_target_parse(&r->t, raw) < 0) {
		lp_http_bad_request(r, "malformed request target");
		return;
	}
	if (r->t.n == 0 || strcmp(r->t.seg[0], "api") != 0) {
		if (!lp_http_ui_serve(r))
			lp_http_not_found(r);
		return;
	}
	unsigned method = r->method == LP_HTTP_HEAD ? LP_HTTP_GET : r->method;
	const struct lp_http_route *found = NULL;
	unsigned allowed = 0;
	for (size_t k = 0; k < sizeof(route_tables) / sizeof(route_tables[0]) && !found; k++)
		for (const struct lp_http_route *rt = route_tables[k]; rt->fn && !found; rt++)
			if (route_matches(rt, &r->t)) {
				allowed |= rt->methods;
				if (rt->methods & method)
					found = rt;
			}
	if (!found) {
		if (allowed) {
			/* cowboy_rest's Allow header */
			snprintf(r->allow, sizeof(r->allow), "HEAD%s%s%s%s, OPTIONS",
				 allowed & LP_HTTP_GET ? ", GET" : "",
				 allowed & LP_HTTP_PUT ? ", PUT" : "",
				 allowed & LP_HTTP_POST ? ", POST" : "",
				 allowed & LP_HTTP_DELETE ? ", DELETE" : "");
			lp_http_reply_empty(r, 405);
		} else {
			lp_http_not_found(r);
		}
		return;
	}
	if (!authorize(r, found, auth_header))
		return;
	(void)h;
	found->fn(r);
}

/* ---- libmicrohttpd callbacks ------------------------------------------- */

static void *uri_logged(void *cls, const char *uri, struct MHD_Connection *c)
{
	(void)c;
	struct conn_state *st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	st->req.h = cls;
	st->raw_target = strdup(uri ? uri : "/");
	return st;
}

static unsigned method_bit(const char *m)
{
	static const struct {
		const char *name;
		unsigned bit;
	} methods[] = {
		{ MHD_HTTP_METHOD_GET, LP_HTTP_GET }, { MHD_HTTP_METHOD_PUT, LP_HTTP_PUT },
		{ MHD_HTTP_METHOD_POST, LP_HTTP_POST }, { MHD_HTTP_METHOD_DELETE, LP_HTTP_DELETE },
		{ MHD_HTTP_METHOD_HEAD, LP_HTTP_HEAD },
	};
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(m, methods[i].name) == 0)
			return methods[i].bit;
	return 0;
}

static enum MHD_Result queue_reply(struct MHD_Connection *c, struct lp_http_req *r)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		r->resp_len, r->resp ? r->resp : (char *)"", r->resp ? MHD_RESPMEM_MUST_FREE
								     : MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	r->resp = NULL;
	if (r->resp_len)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
					r->content_type ? r->content_type : "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "accept, accept-encoding, origin");
	/* Not to the web UI's own requests (X-Requested-With): a browser would
	 * show its login dialog over the page's. */
	if (r->status == 401 && !r->from_script)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Basic realm=\"" LP_HTTP_REALM "\"");
	if (r->location[0])
		MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, r->location);
	if (r->status == 405)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
					r->allow[0] ? r->allow : "HEAD, GET, PUT, POST, DELETE, OPTIONS");
	enum MHD_Result rc = MHD_queue_response(c, r->status, resp);
	MHD_destroy_response(resp);
	return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	(void)url;
	(void)version;
	struct lp_http *h = cls;
	struct conn_state *st = *con_cls;
	if (!st || !st->raw_target)
		return MHD_NO;
	struct lp_http_req *r = &st->req;
	if (!st->headers_seen) {
		st->headers_seen = true;
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (st->too_big || r->body_len + n > LP_HTTP_BODY_MAX) {
			st->too_big = true;
			return MHD_YES;
		}
		if (r->body_len + n + 1 > st->body_cap) {
			size_t cap = st->body_cap ? st->body_cap : 4096;
			while (cap < r->body_len + n + 1)
				cap *= 2;
			char *b = realloc(r->body, cap);
			if (!b)
				return MHD_NO;
			r->body = b;
			st->body_cap = cap;
		}
		memcpy(r->body + r->body_len, upload_data, n);
		r->body_len += n;
		r->body[r->body_len] = '\0';
		return MHD_YES;
	}
	r->defs = h->defs;
	r->method = method_bit(method);
	if (st->too_big) {
		lp_http_reply_error(r, 413, "bad_request", "request body too large");
	} else if (!r->method) {
		lp_http_reply_empty(r, 405);
	} else if (!h->defs) {
		lp_http_reply_error(r, 503, "unavailable", "definitions not loaded");
	} else {
		const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							       MHD_HTTP_HEADER_AUTHORIZATION);
		r->from_script = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							     "X-Requested-With") != NULL;
		dispatch(h, r, st->raw_target, auth);
	}
	if (!r->status)
		lp_http_reply_error(r, 500, "internal_error", "no response");
	lp_log(LP_LOG_DEBUG, "http %s %s by '%s': %u", method, st->raw_target,
	       r->user_name, r->status);
	return queue_reply(c, r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	struct conn_state *st = *con_cls;
	if (!st)
		return;
	free(st->req.resp);
	free(st->req.body);
	free(st->raw_target);
	free(st);
	*con_cls = NULL;
}

/* Paths stay as the client sent them: segments are decoded by
 * lp_http_target_parse() (RabbitMQ's "%2F" is one segment). */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char line[512];
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	lp_log(LP_LOG_WARN, "http: %s", line);
}

/* ---- the loop hook ---------------------------------------------------- */

static unsigned hook_fill(void *arg, struct pollfd *pfd, unsigned cap, int *timeout_ms)
{
	struct lp_http *h = arg;
	if (!cap)
		return 0;
	pfd[0] = (struct pollfd){ .fd = h->epoll_fd, .events = POLLIN };
	MHD_UNSIGNED_LONG_LONG t;
	if (MHD_get_timeout(h->daemon, &t) == MHD_YES && (long long)t < *timeout_ms)
		*timeout_ms = (int)t;
	return 1;
}

static void hook_run(void *arg, const struct pollfd *pfd, unsigned n)
{
	(void)pfd;
	(void)n;
	struct lp_http *h = arg;
	MHD_run(h->daemon);
}

/* ---- life cycle ------------------------------------------------------- */

struct lp_http *lp_http_create(struct lp_ctl_server *srv, const char *addr)
{
	struct sockaddr_in sin;
	int rc = lp_http_parse_addr(addr, &sin);
	if (rc < 0) {
		errno = -rc;
		return NULL;
	}
	if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) != MHD_YES) {
		errno = ENOTSUP;
		return NULL;
	}
	struct lp_http *h = calloc(1, sizeof(*h));
	if (!h) {
		errno = ENOMEM;
		return NULL;
	}
	h->srv = srv;
	h->defs = lp_ctl_server_definitions(srv);
	h->params = lp_ctl_server_params(srv);
	inet_ntop(AF_INET, &sin.sin_addr, h->listen_ip, sizeof(h->listen_ip));
	h->listen_port = ntohs(sin.sin_port);
	char host[256] = "localhost";
	gethostname(host, sizeof(host) - 1);
	host[strcspn(host, ".")] = '\0';
	snprintf(h->node, sizeof(h->node), "lepus@%s", host);

	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 64) < 0) {
		int err = errno;
		if (fd >= 0)
			close(fd);
		free(h);
		errno = err;
		return NULL;
	}
	h->daemon = MHD_start_daemon(
		MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, h,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_URI_LOG_CALLBACK, uri_logged, h,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
		MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_LIMIT,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
		MHD_OPTION_END);
	const union MHD_DaemonInfo *info =
		h->daemon ? MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
	if (!info) {
		if (h->daemon)
			MHD_stop_daemon(h->daemon);
		close(fd);
		free(h);
		errno = EIO;
		return NULL;
	}
	h->epoll_fd = info->epoll_fd;
	struct lp_ctl_poll_hook hook = { .fill = hook_fill, .run = hook_run, .arg = h };
	lp_ctl_server_set_poll_hook(srv, &hook);
	lp_log(LP_LOG_INFO, "management API on http://%s:%u/api/ (node %s)", h->listen_ip,
	       h->listen_port, h->node);
	return h;
}

void lp_http_destroy(struct lp_http *h)
{
	if (!h)
		return;
	lp_ctl_server_set_poll_hook(h->srv, NULL);
	MHD_stop_daemon(h->daemon); /* closes the listening socket too */
	free(h);
}
