/* SPDX-License-Identifier: MIT */
/*
 * TCP-lite internals shared by tcp*.c (not for applications: they use tcp.h).
 * The types: the transmission control block (RFC 9293 3.3.1 variables plus
 * queues and timers), a listener, the timer wheel and the per-worker TCP
 * state that owns them all (TCB pool, flow table, listeners, wheel). Then the
 * functions each tcp_*.c file offers the others:
 *
 *   tcp_in.c      lp_tcp_input -> tcp_rcv_listen / tcp_rcv_syn_sent / tcp_rcv_state
 *   tcp_out.c     segment building, tcp_output, retransmission, RST/ACK replies
 *   tcp_reass.c   out-of-order store and in-order delivery
 *   tcp_timer.c   the per-worker wheel and what each timer does when it fires
 *   tcp_flow.c    TCB pool and flow table
 *   tcp_syncookie.c  SYN cookies and ISNs
 *   tcp.c         the application API and worker set-up
 *   tcp_echo.c    echo and discard services
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>

#include "tcp.h"
#include "tcp_packet.h"

struct lp_net;
struct lp_tcp_worker;

enum lp_tcp_state {
	LP_TCP_CLOSED = 0,
	LP_TCP_SYN_SENT,
	LP_TCP_SYN_RCVD,
	LP_TCP_ESTABLISHED,
	LP_TCP_FIN_WAIT_1,
	LP_TCP_FIN_WAIT_2,
	LP_TCP_CLOSING,
	LP_TCP_TIME_WAIT,
	LP_TCP_CLOSE_WAIT,
	LP_TCP_LAST_ACK,
	LP_TCP_STATE__COUNT
};

/* A timer node, embedded in its owner (no allocation). */
struct lp_tcp_timer {
	struct lp_tcp_timer *next;
	struct lp_tcp_timer **pprev; /* NULL when not armed */
	uint64_t expire;             /* wheel tick */
	uint8_t kind;                /* LP_TCP_TIMER_* */
};

#define LP_TCP_TIMER_RTX 0
#define LP_TCP_TIMER_DACK 1

#define LP_TCP_WHEEL_SLOTS 1024 /* power of two; ticks of LP_TCP_TICK_US */
#define LP_TCP_TICK_US 1000

struct lp_tcp_wheel {
	uint64_t tick_cycles; /* TSC cycles per tick */
	uint64_t base_tsc;
	uint64_t now;         /* last tick processed */
	uint64_t armed;
	struct lp_tcp_timer *slot[LP_TCP_WHEEL_SLOTS];
};

/* A run of contiguous out-of-order bytes [seq, end): a chain of mbufs. */
struct lp_tcp_ooo_block {
	uint32_t seq;
	uint32_t end;
	struct rte_mbuf *head;
	struct rte_mbuf *tail;
};

#define LP_TCP_OOO_BLOCKS 8 /* holes tracked per connection */

/* TCB flags */
#define TF_ACK_NOW 0x0001      /* send an ACK at the next tcp_output */
#define TF_DELACK 0x0002       /* an ACK is owed (delayed-ACK timer armed) */
#define TF_FIN_QUEUED 0x0004   /* the application closed: FIN after the data */
#define TF_FIN_SENT 0x0008
#define TF_FIN_RCVD 0x0010     /* the peer's FIN was taken in order */
#define TF_OUT_PENDING 0x0020  /* on the worker's output list */
#define TF_FREE_PENDING 0x0040 /* free when no longer busy */
#define TF_APP_GONE 0x0080     /* no more callbacks (aborted or closed() called) */
#define TF_IN_RECOVERY 0x0100  /* NewReno fast recovery (RFC 6582) */
#define TF_PERSIST 0x0200      /* rtx timer is the persist timer */
#define TF_WSCALE 0x0400       /* window scaling in use both ways */
#define TF_ACCEPTED 0x0800     /* the application knows this TCB */
#define TF_ARP_WAIT 0x1000     /* active open waiting for the next hop's MAC */
#define TF_FIN_OOO 0x2000      /* a FIN arrived out of order at fin_rcv_seq */
#define TF_COOKIE 0x4000       /* created from a SYN cookie */
#define TF_SACK 0x8000         /* SACK permitted both ways (RFC 2018) */
/* t->flags2 */
#define TF2_TLP 0x0001         /* rtx timer is a tail loss probe (RFC 8985 7) */

struct lp_tcp_listener {
	uint16_t port;          /* host order, 0 = free slot */
	const struct lp_tcp_ops *ops;
	void *arg;
};

#define LP_TCP_MAX_LISTENERS 16

struct lp_tcb {
	/* identity (the flow key) */
	uint32_t remote_ip;     /* network order */
	uint16_t remote_port;   /* host order */
	uint16_t local_port;    /* host order */
	uint8_t state;
	uint8_t snd_wscale;     /* shift applied to the peer's window field */
	uint8_t rcv_wscale;     /* shift the peer applies to ours */
	uint8_t rtx_count;      /* consecutive timeouts of the current rtx timer */
	uint16_t flags;
	uint16_t flags2;
	uint16_t mss;           /* sender MSS: payload bytes per segment */
	uint32_t busy;          /* nesting of stack frames using this TCB */
	struct rte_ether_addr peer_mac;
	struct lp_tcp_worker *tw;
	const struct lp_tcp_ops *ops;
	void *conn;
	void *listen_arg;

	/* send sequence space (RFC 9293 3.3.1) */
	uint32_t iss;
	uint32_t snd_una;
	uint32_t snd_nxt;
	uint32_t snd_max;       /* highest sequence sent + 1 */
	uint32_t snd_wnd;       /* peer window, bytes (scaled) */
	uint32_t max_snd_wnd;
	uint32_t snd_wl1;
	uint32_t snd_wl2;
	uint32_t fin_seq;       /* sequence number of our FIN, valid with TF_FIN_QUEUED */

	/* congestion control (RFC 5681, NewReno RFC 6582) */
	uint32_t cwnd;
	uint32_t ssthresh;
	uint32_t recover;
	uint32_t dupacks;
	uint32_t sack_high;     /* highest sequence the peer SACKed + 1 */

	/* RTT and RTO (RFC 6298), in microseconds */
	uint32_t srtt_us;
	uint32_t rttvar_us;
	uint32_t rto_us;
	uint32_t rtt_seq;       /* segment being timed (Karn: first transmission only) */
	uint64_t rtt_tsc;       /* 0 = nothing timed */

	/* send queue: mbuf segments linked by next, from snd_una on */
	struct rte_mbuf *sq_head;
	struct rte_mbuf *sq_tail;
	uint32_t sq_head_off;   /* bytes of sq_head already acknowledged */
	uint32_t sq_bytes;      /* bytes queued from snd_una (unacked + unsent) */
	struct rte_mbuf *sq_cur; /* cursor for seeking: an mbuf of the queue ... */
	uint32_t sq_cur_seq;    /* ... and the sequence number of its first byte */

	/* receive sequence space */
	uint32_t irs;
	uint32_t rcv_nxt;
	uint32_t rcv_adv;       /* right edge of the window last advertised */
	uint32_t rcv_buf;
	uint32_t rcv_unread;    /* delivered in order, not yet lp_tcp_recved */
	uint32_t rcv_acked;     /* rcv_nxt at the last ACK sent */
	uint32_t fin_rcv_seq;   /* with TF_FIN_OOO */
	uint8_t n_ooo;
	uint32_t ooo_last;      /* seq of the latest segment stored (first SACK block) */
	uint32_t ooo_bytes;
	struct lp_tcp_ooo_block ooo[LP_TCP_OOO_BLOCKS];

	struct lp_tcp_timer rtx_timer;  /* RTO, persist, SYN, TIME-WAIT, FIN-WAIT-2 */
	struct lp_tcp_timer dack_timer; /* delayed ACK */

	struct lp_tcb *next_out;        /* worker output list / free list */
	uint32_t flow_slot;             /* index in the flow table, for removal */
} __rte_cache_aligned;

struct lp_tcp_flow_slot {
	uint64_t key;  /* 0 = empty */
	struct lp_tcb *tcb;
};

struct lp_tcp_worker {
	struct lp_net *net;
	struct lp_tcp_config cfg;
	uint64_t tsc_hz;

	struct lp_tcb *tcbs;      /* pool of cfg.max_conns */
	struct lp_tcb *free_tcbs;
	struct lp_tcp_flow_slot *flows;
	uint32_t flow_mask;

	struct lp_tcp_listener listeners[LP_TCP_MAX_LISTENERS];

	struct lp_tcp_wheel wheel;
	struct lp_tcb *out_list;  /* TCBs with application data to send */

	uint32_t secret[8];       /* ISN (RFC 6528) and SYN cookie keys */
	uint16_t ephemeral_next;
	uint64_t chack_second;    /* RFC 5961 7: challenge ACK rate limit */
	uint32_t chack_count;
	bool pool_low;            /* mbuf pool under cfg.mbuf_reserve: windows stop growing */
	bool pool_critical;       /* under half of it: new payload is dropped */

	struct lp_tcp_stats stats;
};

#define LP_TCP_CHALLENGE_ACK_LIMIT 1000 /* per second per worker, RFC 5961 7 */
#define LP_TCP_INIT_RTO_US 1000000u     /* RFC 6298 2.1 */
#define LP_TCP_MIN_RTO_US 200000u       /* below RFC 6298 2.4's 1 s, as Linux: LAN appliance */
#define LP_TCP_MAX_RTO_US 60000000u     /* RFC 6298 2.5 */
#define LP_TCP_MAX_RETRIES 12           /* data timeouts before giving up */
#define LP_TCP_SYN_RETRIES 5
#define LP_TCP_FIN_WAIT_2_MS 30000
#define LP_TCP_INIT_CWND_SEGS 10        /* RFC 6928 */
#define LP_TCP_RCV_WSCALE 7             /* what we offer; 2^7 * 65535 = 8 MiB */

/* tcp_flow.c */
int lp_tcp_flow_init(struct lp_tcp_worker *tw);
void lp_tcp_flow_fini(struct lp_tcp_worker *tw);
struct lp_tcb *lp_tcp_flow_lookup(struct lp_tcp_worker *tw, uint32_t rip, uint16_t rport,
				  uint16_t lport);
/* Allocate a TCB, fill its key and insert it. NULL when the pool is empty. */
struct lp_tcb *lp_tcp_tcb_alloc(struct lp_tcp_worker *tw, uint32_t rip, uint16_t rport,
				uint16_t lport);
/* Remove from the flow table, cancel timers, free queues, return to the pool
 * (deferred while busy). No callback. */
void lp_tcp_tcb_free(struct lp_tcb *t);
static inline void lp_tcp_tcb_hold(struct lp_tcb *t)
{
	t->busy++;
}
/* Drop a hold; frees the TCB when it was freed meanwhile. Returns true when freed. */
bool lp_tcp_tcb_release(struct lp_tcb *t);
struct lp_tcp_listener *lp_tcp_listener_find(struct lp_tcp_worker *tw, uint16_t port);

/* tcp_timer.c */
void lp_tcp_wheel_init(struct lp_tcp_wheel *wh, uint64_t tsc_hz, uint64_t now_tsc);
void lp_tcp_timer_arm(struct lp_tcp_worker *tw, struct lp_tcp_timer *tm, uint32_t us);
void lp_tcp_timer_cancel(struct lp_tcp_worker *tw, struct lp_tcp_timer *tm);
static inline bool lp_tcp_timer_armed(const struct lp_tcp_timer *tm)
{
	return tm->pprev != NULL;
}
unsigned lp_tcp_wheel_run(struct lp_tcp_worker *tw, uint64_t now_tsc);
void lp_tcp_rtt_sample(struct lp_tcb *t, uint64_t rtt_tsc);
/* Enter TIME-WAIT (cancels the other timers). */
void lp_tcp_enter_time_wait(struct lp_tcb *t);
/* Arm the rtx timer with the current (backed-off) RTO. */
void lp_tcp_rtx_arm(struct lp_tcb *t);
/* Arm it for outstanding data: a tail loss probe first when SACK allows. */
void lp_tcp_rtx_arm_data(struct lp_tcb *t);

/* tcp_out.c */
void lp_tcp_output(struct lp_tcb *t);
void lp_tcp_send_ack(struct lp_tcb *t);
void lp_tcp_send_syn(struct lp_tcb *t);        /* SYN or SYN-ACK by state */
void lp_tcp_send_rst_tcb(struct lp_tcb *t);    /* RST for an established TCB */
void lp_tcp_retransmit_una(struct lp_tcb *t);  /* one segment from snd_una */
void lp_tcp_retransmit_last(struct lp_tcb *t); /* the highest segment sent */
void lp_tcp_send_probe(struct lp_tcb *t);      /* zero-window probe */
void lp_tcp_schedule_output(struct lp_tcb *t); /* at the end of the poll iteration */
void lp_tcp_flush_output(struct lp_tcp_worker *tw);
void lp_tcp_sq_free_all(struct lp_tcb *t);
/* Free acked bytes from the send queue; returns the bytes freed. */
uint32_t lp_tcp_sq_ack(struct lp_tcb *t, uint32_t bytes);
/* RST (or RST+ACK) for a segment that found no connection, RFC 9293 3.10.7.1. */
void lp_tcp_send_rst_reply(struct lp_tcp_worker *tw, uint32_t dst_ip, uint16_t dst_port,
			   uint16_t src_port, const struct rte_ether_addr *dst_mac,
			   uint32_t seq, uint32_t ack, bool with_ack);
/* SYN-ACK without a TCB (SYN cookie). */
void lp_tcp_send_synack_stateless(struct lp_tcp_worker *tw, uint32_t dst_ip, uint16_t dst_port,
				  uint16_t src_port, const struct rte_ether_addr *dst_mac,
				  uint32_t seq, uint32_t ack, uint16_t mss);
/* The receive window to advertise now, unscaled bytes (never shrinks the edge). */
uint32_t lp_tcp_rcv_window(struct lp_tcb *t);
uint16_t lp_tcp_our_mss(const struct lp_tcp_worker *tw);

/* tcp_reass.c */
/*
 * Take a data segment [seq, seq+len) already trimmed to the window and
 * starting at or after rcv_nxt. Consumes m (delivered, stored, or freed).
 */
void lp_tcp_reass_input(struct lp_tcb *t, uint32_t seq, struct rte_mbuf *m, uint32_t len);
void lp_tcp_reass_free(struct lp_tcb *t);
/* Remove n bytes from the front of chain m (updates pkt_len/nb_segs). May
 * free leading segments; returns the new head (NULL when nothing is left). */
struct rte_mbuf *lp_tcp_mbuf_trim_front(struct rte_mbuf *m, uint32_t n);
/* Keep only the first n bytes of chain m. n must be > 0. */
void lp_tcp_mbuf_trim_back(struct rte_mbuf *m, uint32_t n);

/* tcp_syncookie.c */
uint32_t lp_tcp_isn(struct lp_tcp_worker *tw, uint32_t rip, uint16_t rport, uint16_t lport);
uint32_t lp_tcp_cookie_make(struct lp_tcp_worker *tw, uint32_t rip, uint16_t rport,
			    uint16_t lport, uint32_t peer_isn, uint16_t mss);
/* Check cookie (our ISN) against the flow; returns the MSS it encodes, or 0. */
uint16_t lp_tcp_cookie_check(struct lp_tcp_worker *tw, uint32_t rip, uint16_t rport,
			     uint16_t lport, uint32_t peer_isn, uint32_t cookie);

/* tcp.c */
/* Report the end of t to the application (once) and free it. */
void lp_tcp_conn_closed(struct lp_tcb *t, int reason);
/* Report the end of t to the application (once); the TCB stays (TIME-WAIT). */
void lp_tcp_app_closed(struct lp_tcb *t, int reason);
/* Deliver to the application; tolerates TF_APP_GONE (frees m). */
void lp_tcp_deliver(struct lp_tcb *t, struct rte_mbuf *m);
bool lp_tcp_challenge_ack_allowed(struct lp_tcp_worker *tw);

/* tcp_echo.c */
int lp_tcp_echo_start(struct lp_net *net, uint16_t echo_port, uint16_t discard_port);
