/* SPDX-License-Identifier: MIT */
/*
 * The AMQP session layer of one worker: glues TCP-lite (net/tcp.h) to the
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

struct lp_net;
struct lp_amqp_auth;
struct lp_amqp_server;
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

/*
 * What the layer above (the broker) does with the sessions of a server; the
 * wiring code (worker.c) fills it in. Every callback's arg is the one given
 * to lp_amqp_server_create, reachable from a session with lp_amqp_session_arg.
 */
struct lp_amqp_session_ops {
	/* The connection's callbacks; their ctx is the struct lp_amqp_session. */
	struct lp_amqp_conn_ops conn;
	/* The session ends (the connection closed or was aborted); its channels
	 * were closed first (on_channel_close for each). */
	void (*closed)(void *arg, struct lp_amqp_session *s);
};

/* Fill cfg with the defaults (RabbitMQ's connection defaults). */
void lp_amqp_server_config_default(struct lp_amqp_server_config *cfg);

/*
 * Listen for AMQP on net (which must have TCP set up). auth: the credentials
 * (lp_amqp_server_set_auth replaces them, e.g. every poll iteration from the
 * current snapshot; they must outlive their use). ops: the layer above, NULL
 * when there is none (every broker method then answers 540); arg is passed to
 * it. Allocates the connection blocks; call before the worker polls.
 * Returns the server, or NULL with rte_errno ENODEV (no TCP on net), EINVAL,
 * ENOMEM or EADDRINUSE.
 */
struct lp_amqp_server *lp_amqp_server_create(struct lp_net *net,
					     const struct lp_amqp_server_config *cfg,
					     const struct lp_amqp_auth *auth,
					     const struct lp_amqp_session_ops *ops, void *arg);

/* The credentials new input is checked against from now on. NULL srv: no-op. */
void lp_amqp_server_set_auth(struct lp_amqp_server *srv, const struct lp_amqp_auth *auth);

/* Abort every connection (the layer above is told of each) and free the
 * server. NULL is a no-op. */
void lp_amqp_server_destroy(struct lp_amqp_server *srv);

/*
 * Once per poll iteration: drive connection timers (heartbeats, timeouts,
 * at most every millisecond) and move pending output into TCP.
 */
void lp_amqp_server_poll(struct lp_amqp_server *srv);

/* The arg of the session's server (lp_amqp_server_create), and the session's
 * dataplane-wide id (conn_id: worker << 48 | sequence). */
void *lp_amqp_session_arg(const struct lp_amqp_session *s);
uint64_t lp_amqp_session_id(const struct lp_amqp_session *s);

/* The connection's paused method was answered: read its kept-back input. */
void lp_amqp_session_resume(struct lp_amqp_session *s);


/* Counters (NULL without a server). */
const struct lp_amqp_server_stats *lp_amqp_server_stats(const struct lp_amqp_server *srv);
