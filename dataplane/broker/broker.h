/* SPDX-License-Identifier: MIT */
/*
 * The broker shard of one worker: the AMQP methods of classes exchange,
 * queue, basic and confirm, applied to this worker's queues.
 *
 * Declarations go to lepus-control (ctl_link) and the channel waits
 * (-EINPROGRESS pauses its connection) until the RESULT arrives and the
 * snapshot carrying its version is published; Basic.Publish routes through
 * the current topology snapshot (topology.h) into the queues (queue.h);
 * lp_broker_poll() dispatches ready messages to consumers as Basic.Deliver.
 *
 * This build serves one worker only: the main lcore is that worker, so the
 * control link is called directly. With several workers the AMQP listener
 * keeps answering broker methods with 540 NOT_IMPLEMENTED (the shard ring
 * mesh is not built yet).
 */
#pragma once

#include <stdint.h>

#include "amqp/amqp_conn.h"

struct lp_worker;
struct lp_ctl_link;
struct lp_ctl_result;

struct lp_broker_config {
	uint32_t max_messages;  /* message pool (default 65536) */
	uint32_t body_max;      /* largest body (default 128 KiB) */
	uint32_t max_queues;    /* default 1024 */
	uint32_t queue_capacity; /* messages per queue (default 65536) */
	uint32_t max_channels;  /* open channels on the worker (default 4096) */
	uint32_t max_consumers; /* per worker (default 4096) */
};

void lp_broker_config_default(struct lp_broker_config *cfg);

/* Set up w->broker. ctl is the control link (main lcore == this worker).
 * Returns 0, -EINVAL or -ENOMEM. */
int lp_broker_create(struct lp_worker *w, const struct lp_broker_config *cfg,
		     struct lp_ctl_link *ctl);
void lp_broker_destroy(struct lp_worker *w);

/* The callbacks a connection on w uses; ctx is the AMQP session. */
const struct lp_amqp_conn_ops *lp_broker_conn_ops(void);

/* Once per poll iteration: deliver ready messages to consumers. */
void lp_broker_poll(struct lp_worker *w);

/* lepus-control answered a declaration (from the control link's handler). */
void lp_broker_on_result(struct lp_worker *w, const struct lp_ctl_result *r);
