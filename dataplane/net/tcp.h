/* SPDX-License-Identifier: MIT */
/*
 * TCP-lite: the application interface of the dataplane's TCP (RFC 9293) and
 * its per-worker set-up. Everything here runs on one worker lcore and touches
 * only that worker's state: a TCB, its listener and its callbacks belong to the
 * worker whose lp_tcp_worker_poll()/lp_tcp_input() drives them, and must never
 * be used from another lcore. Nothing here allocates after lp_tcp_worker_create().
 *
 * The model is lwIP's raw API: the application registers callbacks; received
 * in-order bytes are handed over as mbufs (no copy), sent bytes are appended to
 * the connection's send stream, and the receive window opens only as the
 * application reports, with lp_tcp_recved(), the bytes it has finished with.
 *
 * Callbacks are invoked from lp_tcp_input() (packet arrival) and from
 * lp_tcp_worker_poll() (timers). Inside a callback the application may call any
 * function of this header on the same TCB, including lp_tcp_abort(); the stack
 * defers freeing the TCB until the callback returns.
 *
 * Data path: lp_ip4_input -> lp_tcp_input (tcp_in.c) -> ops->recv;
 * lp_tcp_send/lp_tcp_write -> tcp_out.c -> lp_ip4_output.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

struct lp_net;
struct lp_tcb;

/* Per-worker settings, fixed at lp_tcp_worker_create(). 0 picks the default. */
struct lp_tcp_config {
	uint32_t max_conns;     /* TCBs per worker (default 4096); --tcp-max-conns */
	uint32_t syn_backlog;   /* half-open TCBs per worker before SYN cookies (default 256) */
	uint32_t rcv_buf;       /* receive window per connection, bytes (default 256 KiB) */
	uint32_t snd_buf;       /* what lp_tcp_send_space() measures against (default 256 KiB) */
	uint32_t time_wait_ms;  /* TIME-WAIT length (default 1000: short, see tcp_timer.c) */
	uint32_t delack_ms;     /* delayed-ACK timer (default 10) */
	uint32_t mbuf_reserve;  /* pool floor: below it new payload is dropped (default pool/8) */
	uint16_t echo_port;     /* RFC 862 echo service, 0 = off; --echo-port */
	uint16_t discard_port;  /* RFC 863 discard service, 0 = off; --discard-port */
	bool no_syncookies;     /* true: drop SYNs when the backlog is full */
};

/* Why a connection ended, as passed to ops->closed (0 or -errno). */
#define LP_TCP_CLOSED_OK 0 /* both FINs exchanged and acknowledged */
/* -ECONNRESET: RST received; -ETIMEDOUT: retransmissions exhausted;
 * -ECONNREFUSED: active open answered by RST; -EHOSTUNREACH: next hop never
 * resolved; -ECONNABORTED: the stack gave up on the connection (shutdown). */

/*
 * Callbacks of a listener (passive opens) or of one active open. Unused
 * members may be NULL except recv and closed. `conn` is the application's
 * pointer set with lp_tcp_set_conn() (or given to lp_tcp_connect()).
 */
struct lp_tcp_ops {
	/*
	 * Passive open completed (three-way handshake done, state ESTABLISHED).
	 * Return 0 to accept (call lp_tcp_set_conn() here to attach a context),
	 * or a negative errno to refuse: the stack answers with RST and frees t
	 * without calling closed(). Not used for active opens.
	 */
	int (*accept)(void *listen_arg, struct lp_tcb *t);
	/* Active open completed (ESTABLISHED). Optional. */
	void (*connected)(void *conn, struct lp_tcb *t);
	/*
	 * In-order payload, m->data_off at the first new byte, pkt_len bytes
	 * (m may be a chain). The callee owns m. m == NULL means the peer sent
	 * FIN: no more data will come. The bytes count against the receive window
	 * until the application calls lp_tcp_recved() for them.
	 */
	void (*recv)(void *conn, struct lp_tcb *t, struct rte_mbuf *m);
	/* acked_bytes of the send stream were acknowledged and freed. Optional. */
	void (*sent)(void *conn, struct lp_tcb *t, uint32_t acked_bytes);
	/*
	 * The connection is over (reason: LP_TCP_CLOSED_OK or -errno, see above).
	 * Called exactly once for every accepted or connected TCB unless the
	 * application called lp_tcp_abort(). t must not be used after it returns.
	 */
	void (*closed)(void *conn, struct lp_tcb *t, int reason);
};

/* Counters of one worker's TCP, for stats and leak checks. */
struct lp_tcp_stats {
	uint64_t tcbs_in_use;      /* gauge: TCBs allocated (any state) */
	uint64_t tcbs_peak;
	uint64_t syn_rcvd;         /* gauge: half-open TCBs */
	uint64_t timers_armed;     /* gauge */
	uint64_t ooo_bytes;        /* gauge: bytes held in out-of-order stores */
	uint64_t passive_opens;
	uint64_t active_opens;
	uint64_t accepts_refused;
	uint64_t segs_in;
	uint64_t segs_out;
	uint64_t bytes_in;         /* payload delivered in order */
	uint64_t bytes_out;        /* payload sent (first transmissions) */
	uint64_t retransmits;      /* segments sent again (any cause) */
	uint64_t fast_retransmits;
	uint64_t rto_expired;
	uint64_t zero_window_probes;
	uint64_t tail_loss_probes;   /* RFC 8985 7 */
	uint64_t ooo_segments;     /* segments stored out of order */
	uint64_t dup_acks_sent;
	uint64_t delayed_acks;
	uint64_t rst_sent;
	uint64_t rst_received;
	uint64_t challenge_acks;   /* RFC 5961 */
	uint64_t syncookies_sent;
	uint64_t syncookies_ok;
	uint64_t syncookies_bad;
	uint64_t conns_reset;      /* closed with -ECONNRESET */
	uint64_t conns_timed_out;
	uint64_t time_wait_reused;
};

/*
 * Set up TCP on the stack net (sets net->tcp): TCB pool, flow table, timer wheel,
 * and the echo/discard services when cfg enables them. Allocates with
 * rte_zmalloc on the worker's socket; call before the worker polls.
 * Returns 0, -EINVAL (bad cfg), -ENOMEM, or -EEXIST (already set up).
 */
int lp_tcp_worker_create(struct lp_net *net, const struct lp_tcp_config *cfg);

/*
 * Tear down the stack's TCP: every TCB is freed (no callbacks), every mbuf it held is
 * freed, net->tcp becomes NULL. Safe on a worker without TCP.
 */
void lp_tcp_worker_destroy(struct lp_net *net);

/*
 * Once per poll iteration, after the rx burst: send what the application
 * queued during the iteration and run the due timers. Returns the number of
 * timers fired.
 */
unsigned lp_tcp_worker_poll(struct lp_net *net);

/*
 * TCP input, from lp_ip4_input: m->data_off at the TCP header (the IPv4
 * header `ip` was stripped and is still readable before it), eth_src is the
 * frame's source MAC. Consumes m (delivered, stored, or freed and counted).
 */
void lp_tcp_input(struct lp_net *net, struct rte_mbuf *m, const struct rte_ipv4_hdr *ip,
		  const struct rte_ether_addr *eth_src);

/*
 * One line of the stack's TCP gauges and counters (TCBs in use, timers armed, pool
 * free, ...) on f, for logs and leak checks. Not for the hot path.
 */
void lp_tcp_worker_log(const struct lp_net *net, FILE *f);

/* The worker's TCP counters (NULL when TCP is not set up). */
const struct lp_tcp_stats *lp_tcp_worker_stats(const struct lp_net *net);

/*
 * Listen on local port (host order) with ops; listen_arg is passed to
 * ops->accept. Returns 0, -EINVAL (port 0, ops without recv/closed/accept),
 * -EADDRINUSE, -ENOSPC (too many listeners), -ENODEV (no TCP on net).
 */
int lp_tcp_listen(struct lp_net *net, uint16_t port, const struct lp_tcp_ops *ops,
		  void *listen_arg);

/* Stop listening on port; established connections stay. 0 or -ENOENT. */
int lp_tcp_unlisten(struct lp_net *net, uint16_t port);

/*
 * Active open to dst_ip (network order):dst_port (host order) from an
 * ephemeral local port; the next hop is resolved with ARP (the SYN leaves
 * once it is). Returns the TCB (state SYN_SENT), or NULL with rte_errno:
 * ENODEV (no TCP on net), EINVAL (bad arguments), ENOSPC (TCB pool or
 * ephemeral ports exhausted), ENETUNREACH (off-link without a gateway).
 * ops->connected or ops->closed reports the outcome.
 */
struct lp_tcb *lp_tcp_connect(struct lp_net *net, uint32_t dst_ip, uint16_t dst_port,
			      const struct lp_tcp_ops *ops, void *conn);

/* Attach the application's context, passed to later callbacks. */
void lp_tcp_set_conn(struct lp_tcb *t, void *conn);
void *lp_tcp_conn(const struct lp_tcb *t);

/*
 * Append m's bytes (pkt_len over the chain) to the send stream. Consumes m in
 * every case. The stack links the segments of m into its queue through
 * m->next, so an mbuf shared with another connection must be passed as a
 * clone (rte_pktmbuf_clone). Segmentation and transmission happen at the end
 * of the poll iteration (or as ACKs arrive).
 * Returns 0, -EPIPE (the send side is closed or the connection is not
 * synchronized; m freed), or -EINVAL (NULL t). Does not check send space:
 * the caller keeps within lp_tcp_send_space() for back-pressure.
 */
int lp_tcp_send(struct lp_tcb *t, struct rte_mbuf *m);

/*
 * Copy len bytes from buf into the send stream (mbufs from the worker's pool,
 * filled to capacity). Returns the number of bytes queued (may be less than
 * len when the pool runs low), or -EPIPE / -EINVAL as lp_tcp_send.
 */
int lp_tcp_write(struct lp_tcb *t, const void *buf, uint32_t len);

/* Bytes the application may still queue before the send buffer is full. */
uint32_t lp_tcp_send_space(const struct lp_tcb *t);

/* Bytes queued and not yet acknowledged by the peer. */
uint32_t lp_tcp_send_queued(const struct lp_tcb *t);

/*
 * The application has finished with len bytes delivered by recv (it may
 * have freed their mbufs long before): the receive window opens by len and a
 * window update is sent when it grew enough to matter (RFC 9293 3.8.6.2.2).
 */
void lp_tcp_recved(struct lp_tcb *t, uint32_t len);

/*
 * Orderly close of the send direction: FIN after every queued byte. recv
 * keeps delivering until the peer's FIN; closed() follows once both
 * directions are done (or on reset/timeout). Returns 0 or -ENOTCONN when
 * already closing.
 */
int lp_tcp_close(struct lp_tcb *t);

/*
 * Abort: send RST (when synchronized), drop both queues, free t. No callback
 * follows; t is invalid once this returns (or once the current callback
 * returns, when called from one).
 */
void lp_tcp_abort(struct lp_tcb *t);

/* Peer address (network order) and ports (host order). */
void lp_tcp_peer(const struct lp_tcb *t, uint32_t *ip, uint16_t *port);
uint16_t lp_tcp_local_port(const struct lp_tcb *t);

/* "ESTABLISHED", "SYN_RCVD", ...: for logs and tests. */
const char *lp_tcp_state_name(const struct lp_tcb *t);

/* Current sender MSS of t (payload bytes per segment). */
uint16_t lp_tcp_mss(const struct lp_tcb *t);
