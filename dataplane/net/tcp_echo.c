/* SPDX-License-Identifier: MIT */
/*
 * The echo (RFC 862) and discard (RFC 863) services on TCP-lite, off by
 * default and switched on with --echo-port / --discard-port: they exercise
 * the stack before AMQP sits on it and help diagnose a deployment.
 *
 * Echo is zero-copy: each received mbuf goes straight back into the send
 * stream with lp_tcp_send(), and the receive window is released only as the
 * peer acknowledges the echoed bytes (sent -> lp_tcp_recved), so a
 * connection never holds more than its receive buffer. Discard frees what it
 * receives and releases the window at once. Both close their side when the
 * peer closes its.
 */
#include <errno.h>

#include "tcp.h"
#include "net.h"

static int svc_accept(void *listen_arg, struct lp_tcb *t)
{
	(void)listen_arg;
	lp_tcp_set_conn(t, NULL);
	return 0;
}

static void svc_closed(void *conn, struct lp_tcb *t, int reason)
{
	(void)conn;
	(void)t;
	(void)reason;
}

/* Echo: m (owned here) is handed to lp_tcp_send, which consumes it. */
static void echo_recv(void *conn, struct lp_tcb *t, struct rte_mbuf *m)
{
	(void)conn;
	if (m == NULL) {
		lp_tcp_close(t);
		return;
	}
	uint32_t len = rte_pktmbuf_pkt_len(m);

	if (lp_tcp_send(t, m) != 0)
		lp_tcp_recved(t, len);
}

static void echo_sent(void *conn, struct lp_tcb *t, uint32_t acked_bytes)
{
	(void)conn;
	lp_tcp_recved(t, acked_bytes);
}

/* Discard: m (owned here) is freed. */
static void discard_recv(void *conn, struct lp_tcb *t, struct rte_mbuf *m)
{
	(void)conn;
	if (m == NULL) {
		lp_tcp_close(t);
		return;
	}
	uint32_t len = rte_pktmbuf_pkt_len(m);

	rte_pktmbuf_free(m);
	lp_tcp_recved(t, len);
}

static const struct lp_tcp_ops echo_ops = {
	.accept = svc_accept,
	.recv = echo_recv,
	.sent = echo_sent,
	.closed = svc_closed,
};

static const struct lp_tcp_ops discard_ops = {
	.accept = svc_accept,
	.recv = discard_recv,
	.closed = svc_closed,
};

int lp_tcp_echo_start(struct lp_net *net, uint16_t echo_port, uint16_t discard_port)
{
	int rc;

	if (echo_port != 0) {
		rc = lp_tcp_listen(net, echo_port, &echo_ops, NULL);
		if (rc != 0)
			return rc;
	}
	if (discard_port != 0) {
		rc = lp_tcp_listen(net, discard_port, &discard_ops, NULL);
		if (rc != 0)
			return rc;
	}
	return 0;
}
