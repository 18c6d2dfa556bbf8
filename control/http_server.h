/* SPDX-License-Identifier: MIT */
/*
 * lepus-control's management HTTP API (RabbitMQ's, see
 * https://rabbitmq.com/management.html "HTTP API"): libmicrohttpd in its
 * external-loop mode with its epoll descriptor in lepus-control's own
 * ppoll() loop (lp_ctl_server_set_poll_hook), so that every request runs on
 * the loop's thread, next to the control protocol, and uses the definitions
 * without locks. The files: http_server.c (daemon, request life cycle,
 * routing, responses), http_path.c (targets, percent-decoding, query),
 * http_auth.c (Basic auth, user tags, vhost access), http_json.c (lists:
 * columns, sort, pagination; body values), http_args.c (arguments tables),
 * and one file per resource family (http_overview.c, http_vhosts.c,
 * http_users.c, http_permissions.c, http_exchanges.c, http_queues.c,
 * http_bindings.c, http_definitions.c, http_policies.c, http_messages.c),
 * and the web UI at / (http_ui.c, files embedded from control/ui/).
 */
#pragma once

struct lp_ctl_server;
struct lp_http;

/*
 * Listen on addr ("IPV4:PORT", e.g. "127.0.0.1:15672") and join srv's loop.
 * Returns the server, or NULL with errno: EINVAL (addr malformed),
 * EADDRINUSE, ENOTSUP (libmicrohttpd without epoll), ENOMEM, or the errno of
 * the failed call. srv must outlive it.
 */
struct lp_http *lp_http_create(struct lp_ctl_server *srv, const char *addr);

/* Leave the loop, close every connection, free h. h may be NULL. */
void lp_http_destroy(struct lp_http *h);
