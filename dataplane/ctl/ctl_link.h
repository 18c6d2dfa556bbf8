/* SPDX-License-Identifier: MIT */
/*
 * The dataplane's end of the control link to lepus-control (api/lp_ctl.h).
 *
 * Driven by the main lcore between bursts, possibly the only lcore, so every
 * call returns in microseconds: the socket is non-blocking, sends use
 * MSG_DONTWAIT | MSG_NOSIGNAL, and waiting is replaced by timestamps checked on
 * each lp_ctl_link_poll(). The link connects, says HELLO, sends DROP_NAMES once
 * accepted, then a HEARTBEAT and a STATS sample (read from the workers'
 * struct lp_net_stats) every second. It declares lepus-control dead on EOF,
 * on a socket error, or after LP_CTL_HEARTBEAT_MISSES seconds of silence, and
 * reconnects with a backoff from 200 ms doubling to 2 s. The dataplane never
 * depends on the link being up. Plain C; no DPDK.
 *
 * Definitions: the main lcore submits the workers' declarations with
 * lp_ctl_link_submit() and gets lepus-control's answer through the `result`
 * handler; the topology (exchanges, queues, bindings, vhosts, users,
 * permissions) arrives through the topo_* handlers as batches (api/lp_ctl.h
 * "Definitions and topology"): a full one after every (re)connection, then
 * one delta per change. The handlers run inside lp_ctl_link_poll(), on its
 * caller's thread; they may call lp_ctl_link_submit() and the notification
 * functions.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "drop.h"
#include "lp_ctl.h"

/* Requests that may await their RESULT at once. */
#define LP_CTL_LINK_MAX_PENDING 1024
/* CONNECTION_CLOSED notifications kept while the link is down. */
#define LP_CTL_LINK_MAX_BACKLOG 4096

struct lp_ctl_link_info {
	uint32_t pid;
	uint16_t n_workers;
	uint32_t ip_be; /* network byte order */
	uint8_t mac[6];
	char driver[32];
	/* Optional: where state changes are logged (one line, no newline);
	 * NULL logs to stderr. */
	void (*log)(const char *line);
};

struct lp_ctl_link;

/*
 * Create a link to lepus-control at socket_path. worker_stats[i] is worker i's
 * counters (i < n_workers, 1..LP_CTL_MAX_WORKERS); they are read, never
 * written, and must outlive the link. No connection is attempted before the
 * first lp_ctl_link_poll(). Returns the link, or NULL with errno set (EINVAL
 * bad arguments or path too long, ENOMEM).
 */
struct lp_ctl_link *lp_ctl_link_create(const char *socket_path,
				       const struct lp_ctl_link_info *info,
				       const struct lp_net_stats *const *worker_stats,
				       unsigned n_workers);

/*
 * Do whatever is due at now_ns (CLOCK_MONOTONIC nanoseconds, non-decreasing):
 * (re)connect, read what lepus-control sent, send heartbeat and stats. Never
 * blocks; a bounded number of syscalls per call.
 */
void lp_ctl_link_poll(struct lp_ctl_link *l, uint64_t now_ns);

/*
 * What the dataplane does with lepus-control's messages. Every pointer the
 * handlers get (strings, arguments tables) is valid only during the call.
 */
struct lp_ctl_link_handlers {
	void *arg;
	/* A batch begins. full: forget every definition held so far (a full
	 * batch also restarts the version sequence). */
	void (*topo_begin)(void *arg, uint64_t version, bool full);
	/* One object of the batch, to apply at topo_end: m->type is
	 * LP_CTL_TOPO_VHOST, LP_CTL_TOPO_EXCHANGE, LP_CTL_TOPO_QUEUE,
	 * LP_CTL_TOPO_BINDING, LP_CTL_USER or LP_CTL_PERMISSION and the union
	 * member of that name holds it (op LP_CTL_OP_ADD or LP_CTL_OP_DEL). */
	void (*topo_object)(void *arg, const struct lp_ctl_msg *m);
	/* The batch is complete (its object count was checked): publish
	 * `version`. A batch cut short by a lost link never ends; the first
	 * batch after the reconnection is full. */
	void (*topo_end)(void *arg, uint64_t version);
	/* The answer to a submitted request (r->req_id). When the link goes
	 * down, every request still waiting gets reply_code 541 and the text
	 * "INTERNAL_ERROR - lepus-control unavailable". */
	void (*result)(void *arg, const struct lp_ctl_result *r);
};

/* The worker's gauges for the next STATS (LP_CTL_STAT_ALARMS, _BLOCKED):
 * set by the thread that polls the link. */
void lp_ctl_link_set_gauges(struct lp_ctl_link *l, unsigned worker, uint32_t alarms,
			    uint64_t blocked_publishers);

/* Install the handlers (copied); NULL members are skipped. */
void lp_ctl_link_set_handlers(struct lp_ctl_link *l, const struct lp_ctl_link_handlers *h);

/*
 * Send a definition request: type LP_CTL_DECLARE, LP_CTL_DELETE, LP_CTL_BIND,
 * LP_CTL_UNBIND or LP_CTL_PURGE. The link sets req->req_id. Never blocks.
 * Returns the request id (> 0; the `result` handler will see it), or
 *   -ENOTCONN  link not up (no request is queued: answer the client or retry);
 *   -EAGAIN    socket full, nothing sent: retry on a later poll;
 *   -ENOBUFS   LP_CTL_LINK_MAX_PENDING requests already wait;
 *   -EINVAL    bad type or a field over its limit (lp_ctl_encode);
 *   -errno     the connection failed (it is being re-established).
 */
int64_t lp_ctl_link_submit(struct lp_ctl_link *l, uint16_t type, struct lp_ctl_def_req *req);

/*
 * Connection conn_id closed (lepus-control deletes its exclusive queues).
 * While the link is down the id is kept (up to LP_CTL_LINK_MAX_BACKLOG) and
 * sent after the next HELLO_ACK. Returns 0, or -ENOBUFS (backlog full: lost).
 */
int lp_ctl_link_connection_closed(struct lp_ctl_link *l, uint64_t conn_id);

/*
 * Worker's sample of its queues (n records, sampled at time_ns), in as many
 * QUEUE_STATS messages as it takes. Returns 0, -ENOTCONN, -EAGAIN (the
 * socket is full: the rest of the sample is not sent), -EINVAL (a record
 * that does not encode, e.g. an empty vhost: the link stays up) or -errno.
 */
int lp_ctl_link_queue_stats(struct lp_ctl_link *l, unsigned worker, uint64_t time_ns,
			    const struct lp_ctl_queue_stat *rows, uint32_t n);

/*
 * The auto-delete queue (vhost, queue) lost its last consumer. Returns 0,
 * -ENOTCONN (not sent: report it again when the link is up), -EAGAIN,
 * -EINVAL, or -errno.
 */
int lp_ctl_link_queue_unused(struct lp_ctl_link *l, const char *vhost, const char *queue);

/* Requests waiting for their RESULT. */
unsigned lp_ctl_link_pending(const struct lp_ctl_link *l);

/* Is the link up (HELLO acknowledged, peer alive)? */
bool lp_ctl_link_connected(const struct lp_ctl_link *l);

/* Close the connection (if any) and free l. l may be NULL. */
void lp_ctl_link_destroy(struct lp_ctl_link *l);
