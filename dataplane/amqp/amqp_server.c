/* SPDX-License-Identifier: MIT */
/*
 * AMQP listener on TCP-lite (see amqp_server.h). One session per TCP
 * connection, from a fixed array; each session owns its lp_amqp_conn block
 * (and, through it, a send buffer grown on the heap for a large content,
 * freed by lp_amqp_conn_release when the session goes). session_flush moves
 * whatever the connection holds into TCP as the peer's window allows, so a
 * 128 MiB delivery leaves over many poll iterations without blocking.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_mbuf.h>

#include "amqp_channel.h"
#include "amqp_server.h"
#include "net.h"
#include "tcp.h"

/* Heartbeats and timeouts need no finer clock than this. */
#define TICK_INTERVAL_NS 1000000ULL

struct lp_amqp_session {
	struct lp_amqp_conn *conn; /* NULL when the slot is free */
	struct lp_tcb *tcb;
	struct lp_amqp_server *srv;
	/* Received bytes the connection could not take yet (its send buffer
	 * was full): the rest of `pending` from `pending_off`. Owned here. */
	struct rte_mbuf *pending;
	uint32_t pending_off;
	uint64_t id;       /* unique on this dataplane: lepus-control's conn_id */
	bool peer_closed;  /* FIN received */
	bool tcp_closing;  /* lp_tcp_close() called */
	uint32_t next_free;
};

struct lp_amqp_server {
	struct lp_amqp_server_config cfg;
	const struct lp_amqp_auth *auth;
	const struct lp_amqp_session_ops *ops; /* NULL: no layer above */
	void *arg;
	struct lp_net *net;
	size_t conn_size;
	uint8_t *conn_mem;
	struct lp_amqp_session *sessions;
	uint32_t free_head; /* index of the first free session, or max_conns */
	uint64_t last_tick_ns;
	uint64_t next_id;
	struct lp_amqp_server_stats stats;
};

static uint64_t now_ns(const struct lp_net *net)
{
	static uint64_t hz;

	if (hz == 0)
		hz = rte_get_tsc_hz();
	return (uint64_t)((double)net->now_tsc * (1e9 / (double)hz));
}

void lp_amqp_server_config_default(struct lp_amqp_server_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->port = 5672;
	cfg->max_conns = 128;
	lp_amqp_conn_cfg_default(&cfg->conn);
}

static void session_release(struct lp_amqp_session *s)
{
	struct lp_amqp_server *srv = s->srv;

	/* The layer above lets the channels go (unacked messages back to
	 * their queues), then the connection (its exclusive queues). */
	if (srv->ops != NULL && s->conn != NULL) {
		lp_amqp_channel_close_all(s->conn);
		if (srv->ops->closed != NULL)
			srv->ops->closed(srv->arg, s);
	}

	rte_pktmbuf_free(s->pending);
	s->pending = NULL;
	lp_amqp_conn_release(s->conn); /* a send buffer grown on the heap */
	s->conn = NULL;
	s->tcb = NULL;
	s->next_free = srv->free_head;
	srv->free_head = (uint32_t)(s - srv->sessions);
	srv->stats.conns_in_use--;
	srv->stats.conns_closed++;
}

/* Move the connection's output into the TCP send stream, within its space. */
static void session_flush(struct lp_amqp_session *s)
{
	const uint8_t *p;
	size_t len = lp_amqp_conn_output_peek(s->conn, &p);

	while (len > 0) {
		uint32_t room = lp_tcp_send_space(s->tcb);
		uint32_t n = len < room ? (uint32_t)len : room;
		int sent;

		if (n == 0)
			break;
		sent = lp_tcp_write(s->tcb, p, n);
		if (sent <= 0)
			break;
		lp_amqp_conn_output_consume(s->conn, (size_t)sent);
		s->srv->stats.bytes_out += (uint64_t)sent;
		len = lp_amqp_conn_output_peek(s->conn, &p);
	}
	/* A closed connection ends the TCP connection once its last bytes are
	 * queued (after its linger when the client closed it). */
	if (lp_amqp_conn_done(s->conn) && len == 0 && !s->tcp_closing) {
		s->tcp_closing = true;
		lp_tcp_close(s->tcb);
	}
}

/*
 * Feed pending input to the connection, segment by segment, draining its
 * output whenever it is full. Stops when input is exhausted or when neither
 * the connection nor TCP can take more (resumed from session_sent).
 */
static void session_feed(struct lp_amqp_session *s)
{
	while (s->pending != NULL) {
		struct rte_mbuf *seg = s->pending;
		uint32_t seg_len = rte_pktmbuf_data_len(seg);

		/* The snapshot an earlier iteration saw may be gone: use this one's. */
		s->conn->auth = s->srv->auth;
		while (s->pending_off < seg_len) {
			const uint8_t *p = rte_pktmbuf_mtod_offset(seg, const uint8_t *, s->pending_off);
			size_t n = lp_amqp_conn_input(s->conn, p, seg_len - s->pending_off);

			s->pending_off += (uint32_t)n;
			s->srv->stats.bytes_in += n;
			if (n == 0) {
				size_t before = lp_amqp_conn_output_peek(s->conn, &p);

				session_flush(s);
				if (lp_amqp_conn_output_peek(s->conn, &p) == before)
					return; /* TCP is full too: wait for ACKs */
			}
		}
		/* Segment done: unlink and free it, open the window by its size. */
		s->pending = seg->next;
		if (s->pending != NULL) {
			s->pending->nb_segs = (uint16_t)(seg->nb_segs - 1);
			s->pending->pkt_len = seg->pkt_len - seg_len;
		}
		seg->next = NULL;
		seg->nb_segs = 1;
		seg->pkt_len = seg_len;
		rte_pktmbuf_free(seg);
		s->pending_off = 0;
		lp_tcp_recved(s->tcb, seg_len);
	}
}

/* After the peer's FIN: close our side when no received byte is left to handle. */
static void session_close_if_drained(struct lp_amqp_session *s)
{
	if (!s->peer_closed || s->pending != NULL || s->tcp_closing)
		return;
	session_flush(s);
	if (!s->tcp_closing) {
		s->tcp_closing = true;
		lp_tcp_close(s->tcb);
	}
}

static int session_accept(void *listen_arg, struct lp_tcb *t)
{
	struct lp_amqp_server *srv = listen_arg;

	if (srv->free_head == srv->cfg.max_conns) {
		srv->stats.conns_refused++;
		return -ENOSPC;
	}
	struct lp_amqp_session *s = &srv->sessions[srv->free_head];
	void *mem = srv->conn_mem + (size_t)srv->free_head * srv->conn_size;

	s->conn = lp_amqp_conn_init(mem, srv->conn_size, &srv->cfg.conn, srv->auth,
				    srv->ops != NULL ? &srv->ops->conn : NULL, s, now_ns(srv->net));
	if (s->conn == NULL)
		return -EINVAL;
	srv->free_head = s->next_free;
	s->tcb = t;
	s->srv = srv;
	s->pending = NULL;
	s->pending_off = 0;
	s->peer_closed = false;
	s->tcp_closing = false;
	s->id = ((uint64_t)srv->net->id << 48) | ++srv->next_id;
	srv->stats.conns_in_use++;
	srv->stats.conns_accepted++;
	lp_tcp_set_conn(t, s);
	return 0;
}

/* In-order bytes from TCP. Takes ownership of m (NULL: the peer's FIN). */
static void session_recv(void *conn, struct lp_tcb *t, struct rte_mbuf *m)
{
	struct lp_amqp_session *s = conn;

	(void)t;
	if (m == NULL) {
		/* The client is done writing: once what it sent before is handled
		 * (a paused connection may still hold publishes), close our side. */
		s->peer_closed = true;
		session_close_if_drained(s);
		return;
	}
	if (s->pending == NULL) {
		s->pending = m;
	} else if (rte_pktmbuf_chain(s->pending, m) != 0) {
		/* Too many segments held: the peer ignores our window. */
		lp_tcp_recved(s->tcb, rte_pktmbuf_pkt_len(m));
		rte_pktmbuf_free(m);
		lp_amqp_conn_close(s->conn, 541, "INTERNAL_ERROR - receive backlog overflow");
	}
	session_feed(s);
	session_flush(s);
}

static void session_sent(void *conn, struct lp_tcb *t, uint32_t acked)
{
	struct lp_amqp_session *s = conn;

	(void)t;
	(void)acked;
	session_flush(s);
	if (s->pending != NULL) {
		session_feed(s);
		session_flush(s);
	}
	session_close_if_drained(s);
}

static void session_closed(void *conn, struct lp_tcb *t, int reason)
{
	(void)t;
	(void)reason;
	session_release(conn);
}

static const struct lp_tcp_ops session_ops = {
	.accept = session_accept,
	.recv = session_recv,
	.sent = session_sent,
	.closed = session_closed,
};

struct lp_amqp_server *lp_amqp_server_create(struct lp_net *net,
					     const struct lp_amqp_server_config *cfg,
					     const struct lp_amqp_auth *auth,
					     const struct lp_amqp_session_ops *ops, void *arg)
{
	struct lp_amqp_server *srv;
	int rc;

	if (net->tcp == NULL) {
		rte_errno = ENODEV;
		return NULL;
	}
	if (cfg->max_conns == 0 || auth == NULL) {
		rte_errno = EINVAL;
		return NULL;
	}
	srv = calloc(1, sizeof(*srv));
	if (srv == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	srv->cfg = *cfg;
	srv->auth = auth;
	srv->ops = ops;
	srv->arg = arg;
	srv->net = net;
	srv->conn_size = (lp_amqp_conn_memsize(&cfg->conn) + 63) & ~(size_t)63;
	srv->conn_mem = aligned_alloc(64, srv->conn_size * cfg->max_conns);
	srv->sessions = calloc(cfg->max_conns, sizeof(*srv->sessions));
	if (srv->conn_mem == NULL || srv->sessions == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < cfg->max_conns; i++)
		srv->sessions[i].next_free = i + 1;
	srv->free_head = 0;
	rc = lp_tcp_listen(net, cfg->port, &session_ops, srv);
	if (rc != 0)
		goto fail;
	return srv;
fail:
	free(srv->conn_mem);
	free(srv->sessions);
	free(srv);
	rte_errno = -rc;
	return NULL;
}

void lp_amqp_server_set_auth(struct lp_amqp_server *srv, const struct lp_amqp_auth *auth)
{
	if (srv != NULL && auth != NULL)
		srv->auth = auth;
}

void lp_amqp_server_destroy(struct lp_amqp_server *srv)
{
	if (srv == NULL)
		return;
	lp_tcp_unlisten(srv->net, srv->cfg.port);
	for (uint32_t i = 0; i < srv->cfg.max_conns; i++) {
		struct lp_amqp_session *s = &srv->sessions[i];

		if (s->conn != NULL) {
			lp_tcp_abort(s->tcb);
			session_release(s);
		}
	}
	free(srv->conn_mem);
	free(srv->sessions);
	free(srv);
}

void lp_amqp_server_poll(struct lp_amqp_server *srv)
{
	uint64_t now;

	if (srv == NULL || srv->stats.conns_in_use == 0)
		return;
	now = now_ns(srv->net);
	bool tick = now - srv->last_tick_ns >= TICK_INTERVAL_NS;

	if (tick)
		srv->last_tick_ns = now;
	for (uint32_t i = 0; i < srv->cfg.max_conns; i++) {
		struct lp_amqp_session *s = &srv->sessions[i];
		const uint8_t *p;

		if (s->conn == NULL)
			continue;
		if (tick) {
			s->conn->auth = srv->auth;
			lp_amqp_conn_tick(s->conn, now);
		}
		/* Deliveries made by the broker this iteration go out now. */
		if (tick || lp_amqp_conn_output_peek(s->conn, &p) > 0)
			session_flush(s);
	}
}

void *lp_amqp_session_arg(const struct lp_amqp_session *s)
{
	return s->srv->arg;
}

uint64_t lp_amqp_session_id(const struct lp_amqp_session *s)
{
	return s->id;
}

void lp_amqp_session_resume(struct lp_amqp_session *s)
{
	if (s->conn == NULL)
		return;
	lp_amqp_conn_resume(s->conn);
	session_feed(s);
	session_flush(s);
	session_close_if_drained(s);
}

const struct lp_amqp_server_stats *lp_amqp_server_stats(const struct lp_amqp_server *srv)
{
	return srv != NULL ? &srv->stats : NULL;
}
