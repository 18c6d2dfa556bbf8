/* SPDX-License-Identifier: MIT */
/*
 * What the files of the management HTTP API share (the public interface is
 * http_server.h; the files are listed there). A request is parsed and
 * authenticated by http_server.c, then handed to the handler of the route
 * its method and path match; the handler reads the definitions, changes
 * them through definitions.h inside lp_ctl_server_change_begin() .. end()
 * (so the store and the dataplane see every change, as for an AMQP
 * declaration), and sets the response with the lp_http_reply_*() functions.
 * Everything runs on lepus-control's loop thread.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl_server.h"
#include "definitions.h"
#include "http_path.h"
#include "policies.h"

/* RabbitMQ version whose API Lepus speaks (the Debian 12 reference). */
#define LP_HTTP_RABBITMQ_VERSION "3.10.8"
#define LP_HTTP_REALM "RabbitMQ Management"
#define LP_HTTP_BODY_MAX (32u << 20)
/* The pseudo connection of HTTP declarations: an exclusive queue declared
 * through the API belongs to it and is deleted when the request ends, as
 * RabbitMQ's management plugin's direct connection closes. */
#define LP_HTTP_CONN_ID UINT64_MAX

enum lp_http_method {
	LP_HTTP_GET = 1u << 0,
	LP_HTTP_PUT = 1u << 1,
	LP_HTTP_POST = 1u << 2,
	LP_HTTP_DELETE = 1u << 3,
	LP_HTTP_HEAD = 1u << 4,
};

/* Who may call a route (rabbit_mgmt_util:is_authorized*). */
enum lp_http_auth {
	LP_HTTP_AUTH_MGMT,    /* any of management, policymaker, monitoring, administrator */
	LP_HTTP_AUTH_MONITOR, /* monitoring or administrator */
	LP_HTTP_AUTH_ADMIN,   /* administrator */
	LP_HTTP_AUTH_VHOST,   /* management, and access to the vhost of segment vhost_seg */
	LP_HTTP_AUTH_POLICY,  /* policymaker or administrator; with vhost_seg, vhost access */
};

struct lp_http_req;

struct lp_http_route {
	uint8_t methods;    /* enum lp_http_method bits */
	const char *path;   /* "api/queues/V/Q" spelled with a star per variable segment */
	uint8_t auth;       /* enum lp_http_auth */
	uint8_t vhost_seg;  /* LP_HTTP_AUTH_VHOST: index of the vhost segment */
	void (*fn)(struct lp_http_req *r);
};

struct lp_http {
	struct lp_ctl_server *srv;
	struct lp_defs *defs;
	struct lp_params *params;
	struct MHD_Daemon *daemon;
	int epoll_fd;
	char node[LP_DEF_NAME_MAX + 1];   /* "lepus@HOST" */
	char listen_ip[64];
	unsigned listen_port;
};

struct lp_http_req {
	struct lp_http *h;
	struct lp_defs *defs;
	unsigned method;            /* enum lp_http_method */
	struct lp_http_target t;    /* decoded segments, raw query */
	char *body;                 /* NUL-terminated, owned by the server */
	size_t body_len;
	const struct lp_def_user *user; /* authenticated; valid until a change */
	char user_name[LP_DEF_NAME_MAX + 1];
	bool from_script;           /* X-Requested-With: no WWW-Authenticate on a 401 */
	/* response */
	unsigned status;
	char *resp;                 /* malloc'd body, or NULL */
	size_t resp_len;
	const char *content_type;   /* NULL: application/json */
	char location[LP_HTTP_TARGET_MAX + 1];
	char allow[64];             /* 405: the path's methods */
};

/* ---- http_server.c: responses ------------------------------------------ */

/* 200 with j (consumed: the reference is stolen) as the body; j NULL is a
 * 500 (out of memory). Lists go through lp_http_reply_list() instead. */
void lp_http_reply_json(struct lp_http_req *r, unsigned status, json_t *j);
/* An empty response (201, 204). */
void lp_http_reply_empty(struct lp_http_req *r, unsigned status);
/* 200 with the list `items` (stolen) shaped by the query (http_json.h:
 * sort, columns, pagination), or a 400 for a bad page or regex. */
void lp_http_reply_list(struct lp_http_req *r, json_t *items, const char *const *default_sort);
/* RabbitMQ's error body {"error": error, "reason": reason}. */
void lp_http_reply_error(struct lp_http_req *r, unsigned status, const char *error,
			 const char *reason);
/* 404 {"error":"Object Not Found","reason":"Not Found"}. */
void lp_http_not_found(struct lp_http_req *r);
/* 400 {"error":"bad_request","reason":reason}. */
void lp_http_bad_request(struct lp_http_req *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * The reply of a definitions request (lp_defs_request) in RabbitMQ's
 * mapping of AMQP channel errors (rabbit_mgmt_util:with_channel): 404
 * NOT_FOUND -> 404 "Object Not Found", 403 ACCESS_REFUSED -> 401
 * "not_authorised", any other code -> 400 "bad_request"; reason is the
 * reply text. Returns true when d is a success (nothing sent).
 */
bool lp_http_defs_failed(struct lp_http_req *r, const struct lp_def_reply *d);

/* A definitions request of the API's pseudo connection by the
 * authenticated user, for object (LP_CTL_OBJ_*) `name` in vhost. A new
 * queue's owner shard is spread by name over the dataplane's workers. */
void lp_http_def_req_init(struct lp_http_req *r, struct lp_ctl_def_req *req, uint8_t object,
			  const char *vhost, const char *name);
/* lp_defs_request() as one change (store transaction, dataplane batch),
 * then the end of the pseudo connection (its exclusive queues go). */
void lp_http_defs_apply(struct lp_http_req *r, uint16_t type, const struct lp_ctl_def_req *req,
			struct lp_def_reply *out);
/* lp_http_defs_apply, then an empty reply with status on success or the
 * error of lp_http_defs_failed. */
void lp_http_defs_answer(struct lp_http_req *r, uint16_t type, const struct lp_ctl_def_req *req,
			 unsigned status);

/* The body as a JSON object ({} when empty); NULL after a 400 was set. New
 * reference. */
json_t *lp_http_body_object(struct lp_http_req *r);

/* The web UI (http_ui.c): answer a request for / or /ui/FILE from the
 * embedded files. false when the path is not one of them (nothing set). */
bool lp_http_ui_serve(struct lp_http_req *r);

/* ---- route tables (one per resource file; each ends with fn NULL) -------- */

extern const struct lp_http_route lp_http_overview_routes[];
extern const struct lp_http_route lp_http_vhost_routes[];
extern const struct lp_http_route lp_http_user_routes[];
extern const struct lp_http_route lp_http_permission_routes[];
extern const struct lp_http_route lp_http_exchange_routes[];
extern const struct lp_http_route lp_http_queue_routes[];
extern const struct lp_http_route lp_http_binding_routes[];
extern const struct lp_http_route lp_http_definition_routes[];
extern const struct lp_http_route lp_http_policy_routes[];
extern const struct lp_http_route lp_http_message_routes[];

/* ---- shared by the resource files ------------------------------------- */

/* The exchange name of a path segment: "amq.default" is the default
 * exchange "" (rabbit_mgmt_util:id/2). */
const char *lp_http_exchange_seg(const char *seg);

/* A JSON array of the user's tags ("a,b" -> ["a","b"]). */
json_t *lp_http_tags_json(const char *tags);

/* The vhost exists; else a 404 is set and false returned. */
bool lp_http_vhost_exists(struct lp_http_req *r, const char *vhost);
/* The same for a PUT into the vhost: 404 {"error":"not_found","reason":
 * "vhost_not_found"}. */
bool lp_http_vhost_exists_put(struct lp_http_req *r, const char *vhost);
/* 400 {"error":"bad_request","reason":["not_boolean", value]}. */
void lp_http_not_boolean(struct lp_http_req *r, const json_t *body);

/* JSON of one object, as RabbitMQ lists it (http_exchanges.c,
 * http_queues.c, http_bindings.c). */
json_t *lp_http_exchange_json(struct lp_http_req *r, const struct lp_def_exchange *x);
json_t *lp_http_queue_json(struct lp_http_req *r, const struct lp_def_queue *q);
json_t *lp_http_binding_json(const struct lp_def_binding *b);
json_t *lp_http_permission_json(const struct lp_def_permission *p);
/* {name, password_hash, hashing_algorithm, tags, limits} (http_users.c). */
json_t *lp_http_user_json(const struct lp_def_user *u);
/* Hash, tags and existence of a user from a PUT body or a definitions
 * file entry, applied with the lepusctl functions (inside a change).
 * Returns 201 (created), 204 (updated) or 400 with reason in err. */
unsigned lp_http_user_put(struct lp_http_req *r, const char *name, const json_t *body,
			  bool need_tags, char *err, size_t cap);
/* The default exchange's implicit binding to queue q (listed by RabbitMQ). */
json_t *lp_http_default_binding_json(const struct lp_def_queue *q);
/* RabbitMQ's properties_key of a binding: the routing key URL-quoted ("~"
 * when empty and without arguments), then "~" and a hash of the arguments
 * when it has any. dst has cap bytes. */
void lp_http_properties_key(char *dst, size_t cap, const char *routing_key,
			    const uint8_t *args, size_t args_len);

/* Runtime parameters (http_policies.c). {value, vhost, component, name}
 * of an operator policy as /api/parameters lists it; {name, value} of a
 * global parameter. */
json_t *lp_http_parameter_json(const struct lp_param *p);
json_t *lp_http_global_parameter_json(const struct lp_param *p);
/* The definitions section of one kind (policies, parameters or
 * global_parameters), of one vhost or (vhost NULL) of those the user sees.
 * New reference. */
json_t *lp_http_params_section(struct lp_http_req *r, uint8_t kind, const char *vhost);
/* Import the policies, parameters and (only NULL) global_parameters of a
 * definitions file, inside the caller's change. NULL, or the reason of a
 * 400 (RabbitMQ's, with " (VHOST/NAME)" after it for a policy, " (VHOST/
 * COMPONENT/NAME)" for a parameter; in err or static). */
const char *lp_http_params_import(struct lp_http_req *r, const json_t *defs, const char *only,
				  char *err, size_t cap);
