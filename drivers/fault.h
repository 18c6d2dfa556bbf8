/* SPDX-License-Identifier: MIT */
/*
 * Fault injection on a port's packet path, in both directions: drop,
 * duplicate and reorder packets with given probabilities, from a seeded PRNG
 * so that a failing run can be repeated. The kernel here has no netem; every
 * loss test goes through this.
 *
 * Switched on with the dataplane option --fault drop=P,dup=P,reorder=P,seed=N
 * (P in [0,1]). State is per queue and per direction (struct lp_fault_queue):
 * no sharing between workers. port.c calls the functions below around
 * rte_eth_rx_burst()/rte_eth_tx_burst(); nothing else needs to.
 *
 * Semantics, per packet and in this order, each decision from its own draw of
 * the PRNG (three draws per packet whatever happens, so that the same seed and
 * the same packet sequence give the same decisions whatever the burst sizes):
 *   drop     the packet is freed and counted;
 *   reorder  the packet is held back and released right after the next packet
 *            that passes in the same direction, or LP_FAULT_HOLD_US later at
 *            the latest (at most LP_FAULT_HOLD_MAX held per queue and
 *            direction; when the hold is full the packet passes normally);
 *   dup      a full copy (rte_pktmbuf_copy from the packet's own pool) follows
 *            the packet; skipped when the pool is empty or, on rx, the
 *            caller's array has no room left.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_mbuf.h>

#define LP_FAULT_HOLD_MAX 8     /* held packets per queue and direction */
#define LP_FAULT_HOLD_US 2000   /* longest time a packet is held back */
#define LP_FAULT_BURST_MAX 64   /* packets handled per tx chunk / rx burst */

struct lp_fault_config {
	double drop;     /* probability a packet is dropped */
	double dup;      /* probability a packet is sent/received twice */
	double reorder;  /* probability a packet is held back and released later */
	uint64_t seed;
};

struct lp_fault_counters {
	uint64_t dropped;
	uint64_t duplicated;
	uint64_t reordered;
};

/*
 * Counters of one port queue. The first three are the sum of both directions;
 * rx and tx split them. Written only by the lcore that owns the queue.
 */
struct lp_fault_stats {
	uint64_t dropped;
	uint64_t duplicated;
	uint64_t reordered;
	struct lp_fault_counters rx;
	struct lp_fault_counters tx;
};

enum lp_fault_dir {
	LP_FAULT_RX = 0,
	LP_FAULT_TX = 1,
};

/* One direction of one queue. Owned by one lcore; private to fault.c/port.c. */
struct lp_fault_queue {
	uint64_t rng;                    /* xorshift64* state, never 0 */
	uint64_t thr_drop;               /* P scaled to 2^53; draw < thr = event */
	uint64_t thr_dup;
	uint64_t thr_reorder;
	uint64_t hold_cycles;            /* LP_FAULT_HOLD_US in TSC cycles */
	enum lp_fault_dir dir;
	uint16_t n_held;
	struct rte_mbuf *held[LP_FAULT_HOLD_MAX];
	uint64_t held_due[LP_FAULT_HOLD_MAX]; /* TSC when it must be released */
	struct lp_fault_stats *stats;    /* the queue's counters (both directions) */
} __rte_cache_aligned;

/*
 * A tx burst as the injector rearranged it: built by lp_fault_tx_prepare(),
 * handed to rte_eth_tx_burst(), settled by lp_fault_tx_commit(). Lives on the
 * caller's stack.
 */
struct lp_fault_tx_plan {
	uint16_t n_in;                   /* caller packets considered */
	uint16_t n_out;                  /* entries in out[] */
	uint8_t fate[LP_FAULT_BURST_MAX];   /* per caller packet, see fault.c */
	int16_t origin[2 * LP_FAULT_BURST_MAX + LP_FAULT_HOLD_MAX];
	struct rte_mbuf *out[2 * LP_FAULT_BURST_MAX + LP_FAULT_HOLD_MAX];
};

/*
 * Parse "drop=P,dup=P,reorder=P,seed=N" (any subset, any order; keys not given
 * are 0; N is decimal, or hex with 0x). Returns 0, or -EINVAL for an unknown or repeated key, a malformed
 * number or P outside [0,1]; cfg is written only on success.
 */
int lp_fault_parse(const char *s, struct lp_fault_config *cfg);

/* True (non-zero) when any probability is non-zero. cfg may be NULL (false). */
int lp_fault_enabled(const struct lp_fault_config *cfg);

/*
 * Set up fq for queue `queue`, direction dir: the PRNG is seeded from
 * cfg->seed ^ (queue << 8 | dir), counters go to *stats (not reset here).
 * hold_cycles is the hold-back limit in TSC cycles. Returns nothing; cannot fail.
 */
void lp_fault_queue_init(struct lp_fault_queue *fq, const struct lp_fault_config *cfg,
			 uint16_t queue, enum lp_fault_dir dir, struct lp_fault_stats *stats,
			 uint64_t hold_cycles);

/* Free every held packet (teardown). Consumes them; n_held becomes 0. */
void lp_fault_queue_flush(struct lp_fault_queue *fq);

/*
 * Rx, step 1: move held packets whose time is up (due <= now) into pkts, at
 * most n, oldest first. Returns how many; the caller owns them.
 */
uint16_t lp_fault_rx_release_due(struct lp_fault_queue *fq, struct rte_mbuf **pkts,
				 uint16_t n, uint64_t now);

/*
 * Rx, step 2: how many packets to ask the driver for when `room` entries are
 * free in the caller's array, so that what the injector adds (held packets
 * released, copies) fits. Returns 0..LP_FAULT_BURST_MAX.
 */
uint16_t lp_fault_rx_want(const struct lp_fault_queue *fq, uint16_t room);

/*
 * Rx, step 3: apply faults to the nb_in packets the driver returned in `in`.
 * Consumes all of in[] (each one is dropped, held, or written to pkts).
 * Writes to pkts[k..n-1] and returns the new count (k <= ret <= n); the caller
 * owns pkts[0..ret-1].
 */
uint16_t lp_fault_rx_apply(struct lp_fault_queue *fq, struct rte_mbuf *const *in,
			   uint16_t nb_in, struct rte_mbuf **pkts, uint16_t k, uint16_t n,
			   uint64_t now);

/*
 * Tx, step 1: decide the fate of pkts[0..min(n, LP_FAULT_BURST_MAX)-1] and
 * build plan->out (what to give rte_eth_tx_burst, in that order). Takes no
 * ownership yet: nothing is freed or held until lp_fault_tx_commit(). Packets
 * held from earlier calls move into plan->out (the plan owns them now).
 */
void lp_fault_tx_prepare(struct lp_fault_queue *fq, struct rte_mbuf *const *pkts,
			 uint16_t n, struct lp_fault_tx_plan *plan);

/*
 * Tx, step 2: the driver took plan->out[0..sent-1]. Frees the copies it did
 * not take, holds again the held packets it did not take, frees the dropped
 * packets and holds the reordered ones among those consumed. Returns how many
 * of pkts were consumed (sent, dropped or held); the caller still owns
 * pkts[ret..n-1], untouched.
 */
uint16_t lp_fault_tx_commit(struct lp_fault_queue *fq, struct rte_mbuf *const *pkts,
			    struct lp_fault_tx_plan *plan, uint16_t sent, uint64_t now);

/*
 * Tx, timer: move held packets whose time is up (due <= now) into pkts (at
 * most n, oldest first) for the caller to send. Returns how many; the caller
 * owns them and must hand back the unsent ones with lp_fault_tx_rehold().
 */
uint16_t lp_fault_tx_take_due(struct lp_fault_queue *fq, struct rte_mbuf **pkts,
			      uint16_t n, uint64_t now);

/*
 * Hold pkts[0..n-1] again, due at once (the driver refused them). Consumes
 * them: those that do not fit are freed and counted as dropped.
 */
void lp_fault_tx_rehold(struct lp_fault_queue *fq, struct rte_mbuf *const *pkts,
			uint16_t n, uint64_t now);
