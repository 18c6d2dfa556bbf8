/* SPDX-License-Identifier: MIT */
/*
 * Test harness for TCP-lite (dataplane/net/tcp*.c): a real EAL (no
 * hugepages), a real mbuf pool and a real struct lp_net with TCP set up;
 * the port is replaced at link time (-Wl,--wrap=lp_port_tx,...), so what the
 * stack transmits lands in a capture queue that tests read segment by
 * segment (checksums verified). Time is virtual: tests move
 * th_net.now_tsc forward and run the timers with th_advance().
 *
 * The peer is the test: th_send() builds an Ethernet + IPv4 + TCP frame
 * from 198.18.0.2 to us and feeds it to lp_eth_input(). A recording
 * application (struct th_app) collects what TCP delivers.
 *
 * Teardown destroys the TCP worker and checks that every mbuf is back in
 * the pool.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>

#include "net.h"
#include "tcp.h"
#include "tcp_packet.h"

#define TH_IP4(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))
#define TH_OUR_IP TH_IP4(198, 18, 0, 1)
#define TH_PEER_IP TH_IP4(198, 18, 0, 2)
#define TH_POOL_SIZE 8191

extern struct lp_net th_net;
extern struct rte_mempool *th_pool;
extern const struct rte_ether_addr th_our_mac;
extern const struct rte_ether_addr th_peer_mac;

/* A captured TCP segment, decoded (host order). */
struct th_seg {
	uint8_t flags;
	uint32_t seq;
	uint32_t ack;
	uint16_t wnd;
	uint16_t sport;
	uint16_t dport;
	uint32_t len;
	struct lp_tcp_opts opts;
	uint8_t data[2048];
};

/* A segment the peer sends (host order). */
struct th_tx {
	uint16_t sport;  /* default 40000 when 0 */
	uint16_t dport;
	uint32_t seq;
	uint32_t ack;
	uint8_t flags;
	uint16_t wnd;    /* raw field */
	const uint8_t *opts;
	uint8_t optlen;  /* multiple of 4 */
	const void *data;
	uint32_t len;
	bool bad_cksum;
};

/* The recording application. */
#define TH_APP_BUF (4u << 20)
struct th_app {
	uint8_t *rx;            /* received bytes, in order */
	uint32_t rx_len;
	uint32_t rx_calls;
	bool eof;               /* recv(NULL) seen */
	int closed_calls;
	int closed_reason;
	int accepts;
	int connected;
	uint32_t acked;         /* sum of sent() */
	bool auto_recved;       /* call lp_tcp_recved at once */
	bool echo;              /* send back what arrives */
	bool close_on_eof;
	int accept_rc;          /* what accept returns */
	bool abort_on_recv;     /* lp_tcp_abort from inside recv */
	struct rte_mbuf *last_m; /* the last mbuf recv got (zero-copy check) */
	struct lp_tcb *tcb;
};

extern struct th_app th_app;
extern const struct lp_tcp_ops th_app_ops;

/* cmocka group setup/teardown: EAL + pool once per binary. */
int th_group_setup(void **state);
int th_group_teardown(void **state);
/* Per test: worker + TCP with th_cfg (set it before, or use defaults). */
extern struct lp_tcp_config th_cfg;
int th_setup(void **state);
int th_teardown(void **state);

/* The mbuf th_send fed last (its frame, before the stack stripped headers). */
extern struct rte_mbuf *th_last_fed;
/* Feed one segment from the peer; flushes tx into the capture. */
void th_send(const struct th_tx *s);
/* Move virtual time by ms and run TCP timers (lp_tcp_worker_poll). */
void th_advance(uint32_t ms);
/* Run lp_tcp_worker_poll without moving time (application output). */
void th_poll(void);

/* Captured segments waiting to be read. */
unsigned th_pending(void);
/* Pop the oldest captured TCP segment into *s (asserts one exists). */
void th_pop(struct th_seg *s);
/* Pop the oldest captured frame as is (Ethernet header first); caller frees. */
struct rte_mbuf *th_pop_frame(void);
/* Drop all captures (counts them). */
unsigned th_drain(void);

/* Complete a passive open on port from peer port sport, with options.
 * Returns our ISS; *tcb gets the TCB accepted by th_app. wscale < 0: none. */
uint32_t th_handshake(uint16_t port, uint16_t sport, uint32_t peer_isn, uint16_t mss,
		      int wscale, uint16_t wnd);

struct lp_tcp_worker;
/* TCP stats of the harness worker. */
const struct lp_tcp_stats *th_stats(void);
uint64_t th_drops(enum lp_drop_reason r);
