/* SPDX-License-Identifier: MIT */
/*
 * The broker shard of one worker: the AMQP methods of classes exchange,
 * queue, basic and confirm for the connections on this worker, and the
 * queues this worker owns (DESIGN.md "message path").
 *
 * Every queue has one owner shard (lepus-control's choice: the declaring
 * connection's worker). Basic.Publish routes through the current topology
 * snapshot (topology.h); a destination owned here is enqueued at once, one
 * owned elsewhere gets the message reference through the ring to its owner
 * (mesh.h), batched and flushed once per poll. The owner dispatches to
 * consumers on any worker: a delivery for a channel on another worker goes
 * through the ring back, and that worker encodes Basic.Deliver; acks, nacks,
 * cancels, Basic.Get and purges travel to the owner the same way.
 *
 * Declarations go to lepus-control and the channel waits (-EINPROGRESS
 * pauses its connection) until the RESULT arrives and the snapshot carrying
 * its version is published. With one lcore the worker calls the control link
 * itself; with several, requests and results travel through the main lcore
 * (lp_broker_relay_*), which owns the link.
 */
#pragma once

#include <stdint.h>

#include "amqp/amqp_conn.h"

struct lp_worker;
struct lp_ctl_link;
struct lp_ctl_result;
struct lp_mesh;

struct lp_broker_config {
	uint32_t max_messages;  /* message pool per worker (default 65536) */
	uint32_t body_max;      /* body kept in the message slot (default 4 KiB; larger: heap) */
	uint32_t max_queues;    /* owned per worker (default 1024) */
	uint32_t queue_capacity; /* messages per queue (default 65536) */
	uint32_t max_channels;  /* open channels on the worker (default 4096, at most 4096) */
	uint32_t max_consumers; /* per worker (default 4096, at most 4096) */
};

/* Counters of one shard (read by the main lcore: approximate). */
struct lp_broker_stats {
	uint64_t published;     /* Basic.Publish completed */
	uint64_t routed_local;  /* message references enqueued here */
	uint64_t routed_remote; /* sent to another shard's queue */
	uint64_t unroutable;
	uint64_t delivered;     /* Basic.Deliver and Get-Ok written */
	uint64_t ops_sent, ops_received;
	uint64_t dropped_queue_full;
};

void lp_broker_config_default(struct lp_broker_config *cfg);

/*
 * Set up w->broker. ctl: the control link when this worker is the main lcore
 * (single lcore), else NULL. mesh: the ring mesh of all workers (may be NULL
 * with one worker). Returns 0, -EINVAL or -ENOMEM.
 */
int lp_broker_create(struct lp_worker *w, const struct lp_broker_config *cfg,
		     struct lp_ctl_link *ctl, struct lp_mesh *mesh);
/* Release every message reference w's shard holds (queues, staged and held
 * operations). With several workers, call it on all of them, then destroy
 * the mesh, then lp_broker_destroy each: a message lives in its publisher's
 * pool and may be referenced from any shard. */
void lp_broker_drop_messages(struct lp_worker *w);
void lp_broker_destroy(struct lp_worker *w);

/* The callbacks a connection on w uses; ctx is the AMQP session. */
const struct lp_amqp_conn_ops *lp_broker_conn_ops(void);

/* Once per poll iteration: read the rings, dispatch, flush the rings. */
void lp_broker_poll(struct lp_worker *w);

/* lepus-control answered a declaration (single lcore: from the control
 * link's handler; otherwise the broker reads it from the main lcore). */
void lp_broker_on_result(struct lp_worker *w, const struct lp_ctl_result *r);

/* Connection conn_id on w closed (its exclusive queues go). */
void lp_broker_connection_closed(struct lp_worker *w, uint64_t conn_id);

const struct lp_broker_stats *lp_broker_stats(const struct lp_worker *w);

/* ---- main lcore (several workers) ------------------------------------- */

struct lp_broker_relay;

/* Relay between the workers' rings and the control link. NULL: ENOMEM. */
struct lp_broker_relay *lp_broker_relay_create(struct lp_mesh *mesh, struct lp_ctl_link *ctl);
void lp_broker_relay_destroy(struct lp_broker_relay *r);
/* Forward what the workers sent to lepus-control (call on every main poll). */
void lp_broker_relay_poll(struct lp_broker_relay *r);
/* The control link's result handler: route the answer to its worker. */
void lp_broker_relay_result(struct lp_broker_relay *r, const struct lp_ctl_result *res);
