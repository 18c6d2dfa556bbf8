/* SPDX-License-Identifier: MIT */
/*
 * A worker lcore: its packet stack (net/net.h), the AMQP listener on it
 * (amqp/amqp_server.h) and its broker shard (broker/broker.h), wired together
 * here and in main.c, the only places that know every layer.
 *
 * One poll iteration (lp_worker_poll): take the current snapshot of what
 * lepus-control pushed (RCU reader), receive a burst and run it up the stack
 * to the broker, let the broker read its rings and dispatch, move AMQP output
 * into TCP, send, and report the RCU quiescent state.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "net.h"

struct lp_amqp_server;
struct lp_amqp_server_config;
struct lp_amqp_auth;
struct lp_broker;
struct lp_snapshot_publisher;
struct lp_snapshot;

struct lp_worker {
	struct lp_net net;
	struct lp_amqp_server *amqp; /* NULL until the AMQP listener is set up */
	struct lp_broker *broker;    /* NULL: broker methods answer 540 */
	/* What lepus-control pushed (NULL in unit tests): loaded at the start of
	 * each poll iteration, released (RCU quiescent state) at its end. */
	struct lp_snapshot_publisher *snapshots;
	const struct lp_snapshot *snap;
} __rte_cache_aligned;

/* Initialise w (zeroes state, sets identity). Returns 0 or -EINVAL. */
int lp_worker_init(struct lp_worker *w, unsigned id, unsigned lcore_id,
		   const struct lp_netif *netif, struct lp_port *port,
		   struct rte_mempool *pool, struct lp_snapshot_publisher *snapshots);

/*
 * Listen for AMQP on w (TCP set up), its connections served by w->broker
 * (which may be NULL: broker methods then answer 540). auth is used only when
 * w has no snapshot publisher. Returns lp_amqp_server_create's codes.
 */
int lp_worker_listen_amqp(struct lp_worker *w, const struct lp_amqp_server_config *cfg,
			  const struct lp_amqp_auth *auth);

/* One poll iteration. Returns the number of packets received. */
unsigned lp_worker_poll(struct lp_worker *w);
