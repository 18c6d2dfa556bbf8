/* SPDX-License-Identifier: MIT */
/*
 * What lepus-control pushed, as the workers read it: one immutable snapshot
 * (routing topology + credentials) published by the main lcore with RCU.
 *
 * The main lcore feeds the control link's TOPO batches in (the ctl_link
 * handlers below); at each batch's end it compiles a new snapshot (the
 * topology with broker/topology.h, the users, vhosts and permissions into a
 * struct lp_amqp_auth) and swaps the published pointer. Workers load the
 * pointer once per poll iteration and report a quiescent state at its end
 * (rte_rcu_qsbr); a replaced snapshot is freed only once every worker has
 * passed one, checked without blocking so that the main lcore may also be
 * the only worker.
 *
 * Before lepus-control has ever answered, the published snapshot holds the
 * demo credentials (vhost "/", user guest/guest) and an empty topology.
 */
#pragma once

#include <stdint.h>

#include "ctl_link.h"

struct lp_topology;
struct lp_amqp_auth;

struct lp_snapshot {
	uint64_t version;
	const struct lp_topology *topo;
	const struct lp_amqp_auth *auth;
};

struct lp_snapshot_publisher;

/*
 * For n_workers readers (ids 0..n-1). Publishes the initial snapshot.
 * Returns NULL (rte_errno or errno: ENOMEM, EINVAL).
 */
struct lp_snapshot_publisher *lp_snapshot_publisher_create(unsigned n_workers);

/* Free everything; the workers must have stopped. NULL is a no-op. */
void lp_snapshot_publisher_destroy(struct lp_snapshot_publisher *p);

/* The handlers to install on the control link (arg = p). */
void lp_snapshot_link_handlers(struct lp_snapshot_publisher *p, struct lp_ctl_link_handlers *h);

/* Main lcore, between batches: free replaced snapshots no worker can hold. */
void lp_snapshot_reclaim(struct lp_snapshot_publisher *p);

/* Worker: the current snapshot (valid until this worker's next quiescent). */
const struct lp_snapshot *lp_snapshot_current(const struct lp_snapshot_publisher *p);

/* Worker worker_id: it holds no snapshot pointer from before this call. */
void lp_snapshot_quiescent(struct lp_snapshot_publisher *p, unsigned worker_id);

/* Snapshots published so far (the initial one counts), for tests and logs. */
uint64_t lp_snapshot_published(const struct lp_snapshot_publisher *p);
