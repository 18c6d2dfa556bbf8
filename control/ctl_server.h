/* SPDX-License-Identifier: MIT */
/*
 * lepus-control's control-protocol server (api/lp_ctl.h): a listening UNIX
 * SOCK_SEQPACKET socket, one poll() loop serving one dataplane and any number
 * of lepusctl clients (bounded), and the control plane's view of the connected
 * dataplane (its HELLO, drop reason names, latest stats). Later services of
 * lepus-control (definitions store, HTTP API) add their own files and hook
 * their descriptors into this loop.
 */
#pragma once

#include <signal.h>

struct lp_ctl_server;
struct lp_defs;
struct lp_store;

/*
 * Listen on socket_path, creating its directory if needed. An existing socket
 * file is removed only when nobody accepts connections on it. Returns the
 * server, or NULL with errno: EADDRINUSE (another lepus-control is
 * listening), ENOTSOCK (the path exists and is not a socket), ENAMETOOLONG,
 * ENOMEM, or the errno of the failed socket call.
 */
struct lp_ctl_server *lp_ctl_server_create(const char *socket_path);

/*
 * Serve until *stop becomes non-zero. The loop waits in ppoll() with
 * wait_mask, so a caller that blocks its stop signals and passes a mask that
 * unblocks them never misses one. Returns 0 when stopped, -errno on a fatal
 * error of the listening socket or of ppoll().
 */
int lp_ctl_server_run(struct lp_ctl_server *s, const volatile sig_atomic_t *stop,
		      const sigset_t *wait_mask);

/*
 * Serve definitions: requests from the dataplane and lepusctl go to defs,
 * every change is persisted in store (may be NULL: nothing persisted) and
 * published to the dataplane. Installs the server as defs' sink. Both must
 * outlive s. Without this call, definition messages are refused.
 */
void lp_ctl_server_set_definitions(struct lp_ctl_server *s, struct lp_defs *defs,
				   struct lp_store *store);

/* Close every connection, remove the socket file if it is still ours, free s.
 * s may be NULL. */
void lp_ctl_server_destroy(struct lp_ctl_server *s);
