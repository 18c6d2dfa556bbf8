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

#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "lp_ctl.h"

struct lp_ctl_server;
struct lp_defs;
struct lp_params;
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

/*
 * Another service of lepus-control sharing the loop (the HTTP API): before
 * each ppoll() `fill` adds at most `cap` descriptors to pfd and returns how
 * many (it may lower *timeout_ms); after it, `run` gets those entries back
 * with their revents (also on a timeout). Both run on the loop's thread, so
 * the service may use the definitions freely. At most one hook.
 */
#define LP_CTL_HOOK_FDS_MAX 4
struct lp_ctl_poll_hook {
	unsigned (*fill)(void *arg, struct pollfd *pfd, unsigned cap, int *timeout_ms);
	void (*run)(void *arg, const struct pollfd *pfd, unsigned n);
	void *arg;
};
void lp_ctl_server_set_poll_hook(struct lp_ctl_server *s, const struct lp_ctl_poll_hook *hook);

/*
 * Serve runtime parameters (policies.h) too: their changes are persisted
 * in the store given to lp_ctl_server_set_definitions (call that first),
 * in the transaction of the change in progress, and a deleted vhost's
 * policies are deleted with it. Installs the server as params' sink.
 */
void lp_ctl_server_set_params(struct lp_ctl_server *s, struct lp_params *params);
/* The parameters being served (NULL before lp_ctl_server_set_params). */
struct lp_params *lp_ctl_server_params(struct lp_ctl_server *s);

/* The definitions being served (NULL before lp_ctl_server_set_definitions). */
struct lp_defs *lp_ctl_server_definitions(struct lp_ctl_server *s);

/*
 * A change to the definitions made by another service of lepus-control:
 * call begin, then the definitions functions (definitions.h), then end,
 * which commits the store transaction and publishes the change to the
 * dataplane as one delta batch, exactly as for a dataplane's declaration.
 * end returns 0, or -EIO when the store could not commit (logged; the
 * change stays in memory and is published, but a restart loses it).
 */
void lp_ctl_server_change_begin(struct lp_ctl_server *s);
int lp_ctl_server_change_end(struct lp_ctl_server *s);

/* The connected dataplane's HELLO into *hello (when not NULL). Returns
 * whether a dataplane is connected. */
bool lp_ctl_server_dataplane(const struct lp_ctl_server *s, struct lp_ctl_hello *hello);

/* The resource alarms the dataplane's workers last reported (LP_CTL_ALARM_*
 * bits, OR of all workers; 0 without a dataplane or its first stats). */
uint32_t lp_ctl_server_alarms(const struct lp_ctl_server *s);

/* Nanoseconds since lp_ctl_server_create(). */
uint64_t lp_ctl_server_uptime_ns(const struct lp_ctl_server *s);

/* Close every connection, remove the socket file if it is still ours, free s.
 * s may be NULL. */
void lp_ctl_server_destroy(struct lp_ctl_server *s);
