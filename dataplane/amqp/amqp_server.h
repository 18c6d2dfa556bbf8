/* SPDX-License-Identifier: MIT */
/*
 * The AMQP listener of one worker: glues TCP-lite (net/tcp.h) to the
 * transport-agnostic connection state machine (amqp_conn.h).
 *
 * Data path: lp_tcp_input -> session_recv (the mbuf's bytes go to
 * lp_amqp_conn_input straight from the mbuf, no copy) -> the connection's
 * replies are drained into the TCP send stream (lp_tcp_write). A connection
 * that cannot take more input (its send buffer is full because the peer reads
 * slowly) keeps the rest of the mbuf and stops opening the receive window:
 * TCP flow control pushes back on the client, nothing is dropped.
 *
 * Every connection's memory comes from a block sized at start-up
 * (max_conns * lp_amqp_conn_memsize); only a send buffer that must grow for
 * a content larger than it is allocated afterwards (amqp_conn.h).
 */
#pragma once

#include <stdint.h>

#include "amqp_conn.h"

struct lp_worker;
struct lp_amqp_auth;
/* One AMQP connection over one TCP connection; the ctx of its callbacks. */
struct lp_amqp_session;

struct lp_amqp_server_config {
	uint16_t port;        /* default 5672 */
	uint32_t max_conns;   /* per worker, default 128 */
	struct lp_amqp_conn_cfg conn;
};

/* Counters of one worker's AMQP listener. */
struct lp_amqp_server_stats {
	uint64_t conns_in_use;  /* gauge */
	uint64_t conns_accepted;
	uint64_t conns_refused; /* no free connection slot */
	uint64_t conns_closed;
	uint64_t bytes_in;
	uint64_t bytes_out;
};

/* Fill cfg with the defaults (RabbitMQ's connection defaults). */
void lp_amqp_server_config_default(struct lp_amqp_server_config *cfg);

/*
 * Listen for AMQP on w (which must have TCP set up). Credentials come from
 * the worker's snapshot (w->snapshots, set before); auth (which must then
 * outlive the server) is used only when w has none, and may be NULL otherwise. Allocates the connection blocks; call before the worker polls.
 * Returns 0, -ENODEV (no TCP on w), -EINVAL, -ENOMEM or -EADDRINUSE.
 */
int lp_amqp_server_create(struct lp_worker *w, const struct lp_amqp_server_config *cfg,
			  const struct lp_amqp_auth *auth);

/* Abort every connection and free the server. Safe without a server. */
void lp_amqp_server_destroy(struct lp_worker *w);

/*
 * Once per poll iteration: drive connection timers (heartbeats, timeouts,
 * at most every millisecond) and move pending output into TCP.
 */
void lp_amqp_server_poll(struct lp_worker *w);

/* The worker a session lives on, and its dataplane-wide id (conn_id). */
struct lp_worker *lp_amqp_session_worker(const struct lp_amqp_session *s);
uint64_t lp_amqp_session_id(const struct lp_amqp_session *s);

/* The connection's paused method was answered: read its kept-back input. */
void lp_amqp_session_resume(struct lp_amqp_session *s);


/* Counters (NULL without a server). */
const struct lp_amqp_server_stats *lp_amqp_server_stats(const struct lp_worker *w);
