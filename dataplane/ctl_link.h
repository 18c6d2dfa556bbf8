/* SPDX-License-Identifier: MIT */
/*
 * The dataplane's end of the control link to lepus-control (api/lp_ctl.h).
 *
 * Driven by the main lcore between bursts, possibly the only lcore, so every
 * call returns in microseconds: the socket is non-blocking, sends use
 * MSG_DONTWAIT | MSG_NOSIGNAL, and waiting is replaced by timestamps checked on
 * each lp_ctl_link_poll(). The link connects, says HELLO, sends DROP_NAMES once
 * accepted, then a HEARTBEAT and a STATS sample (read from the workers'
 * struct lp_worker_stats) every second. It declares lepus-control dead on EOF,
 * on a socket error, or after LP_CTL_HEARTBEAT_MISSES seconds of silence, and
 * reconnects with a backoff from 200 ms doubling to 2 s. The dataplane never
 * depends on the link being up. Plain C; no DPDK.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "drop.h"

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
				       const struct lp_worker_stats *const *worker_stats,
				       unsigned n_workers);

/*
 * Do whatever is due at now_ns (CLOCK_MONOTONIC nanoseconds, non-decreasing):
 * (re)connect, read what lepus-control sent, send heartbeat and stats. Never
 * blocks; a bounded number of syscalls per call.
 */
void lp_ctl_link_poll(struct lp_ctl_link *l, uint64_t now_ns);

/* Is the link up (HELLO acknowledged, peer alive)? */
bool lp_ctl_link_connected(const struct lp_ctl_link *l);

/* Close the connection (if any) and free l. l may be NULL. */
void lp_ctl_link_destroy(struct lp_ctl_link *l);
