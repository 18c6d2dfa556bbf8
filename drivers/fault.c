/* SPDX-License-Identifier: MIT */
/*
 * The fault injector: parses --fault, and applies drop/dup/reorder to bursts
 * for port.c, which calls it right after rte_eth_rx_burst() (rx: release due
 * -> want -> apply) and around rte_eth_tx_burst() (tx: prepare -> burst ->
 * commit; held tx packets leave through lp_port_fault_tick -> take_due).
 * Each queue and direction has its own xorshift64* PRNG seeded through
 * splitmix64, its own hold queue and counters; nothing here allocates memory
 * (copies come from the packet's mempool), locks or makes a syscall.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"

#define P_ONE (UINT64_C(1) << 53)  /* probabilities are scaled to 53 bits */

#define DRAW_DROP 1u
#define DRAW_DUP 2u
#define DRAW_REORDER 4u

/* Fate of a caller's tx packet in a plan. */
enum {
	FATE_SEND,   /* goes out in its place */
	FATE_DROP,   /* freed at commit if consumed */
	FATE_HOLD,   /* held at commit if consumed (no later packet in this burst) */
	FATE_LATE,   /* goes out right after the next FATE_SEND packet */
};

/* plan->origin[] of entries that are not a caller's packet. */
#define ORIGIN_DUP (-1)
#define ORIGIN_HELD (-2)

static int parse_prob(const char *v, double *out)
{
	char *end;

	if (*v == '\0' || isspace((unsigned char)*v) || *v == '+' || *v == '-')
		return -EINVAL;
	errno = 0;
	double d = strtod(v, &end);
	if (errno != 0 || *end != '\0' || !isfinite(d) || d < 0.0 || d > 1.0)
		return -EINVAL;
	*out = d;
	return 0;
}

static int parse_u64(const char *v, uint64_t *out)
{
	char *end;

	if (*v < '0' || *v > '9')
		return -EINVAL;
	errno = 0;
	int base = (v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) ? 16 : 10;
	unsigned long long u = strtoull(v, &end, base);
	if (errno != 0 || *end != '\0')
		return -EINVAL;
	*out = u;
	return 0;
}

int lp_fault_parse(const char *s, struct lp_fault_config *cfg)
{
	struct lp_fault_config c = {0};
	unsigned seen = 0;
	char buf[256];

	if (s == NULL || cfg == NULL || strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	if (buf[0] == '\0') {
		*cfg = c;
		return 0;
	}

	/* strtok_r would skip empty fields; ",," and a trailing ',' are errors. */
	char *save = NULL;
	size_t len = strlen(buf);
	if (buf[0] == ',' || buf[len - 1] == ',' || strstr(buf, ",,") != NULL)
		return -EINVAL;

	for (char *tok = strtok_r(buf, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		if (eq == NULL)
			return -EINVAL;
		*eq = '\0';
		const char *key = tok, *val = eq + 1;
		unsigned bit;
		int rc;

		if (strcmp(key, "drop") == 0) {
			bit = 1;
			rc = parse_prob(val, &c.drop);
		} else if (strcmp(key, "dup") == 0) {
			bit = 2;
			rc = parse_prob(val, &c.dup);
		} else if (strcmp(key, "reorder") == 0) {
			bit = 4;
			rc = parse_prob(val, &c.reorder);
		} else if (strcmp(key, "seed") == 0) {
			bit = 8;
			rc = parse_u64(val, &c.seed);
		} else {
			return -EINVAL;
		}
		if (rc != 0 || (seen & bit) != 0)
			return -EINVAL;
		seen |= bit;
	}
	*cfg = c;
	return 0;
}

int lp_fault_enabled(const struct lp_fault_config *cfg)
{
	return cfg != NULL && (cfg->drop > 0.0 || cfg->dup > 0.0 || cfg->reorder > 0.0);
}

static uint64_t splitmix64(uint64_t x)
{
	x += UINT64_C(0x9E3779B97F4A7C15);
	x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
	return x ^ (x >> 31);
}

static inline uint64_t rng_next(struct lp_fault_queue *fq)
{
	uint64_t x = fq->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	fq->rng = x;
	return x * UINT64_C(0x2545F4914F6CDD1D);
}

static uint64_t prob_threshold(double p)
{
	if (!(p > 0.0))
		return 0;
	if (p >= 1.0)
		return P_ONE;
	return (uint64_t)(p * (double)P_ONE);
}

/* Three draws per packet, always, so decisions depend only on its position. */
static inline unsigned fault_draw(struct lp_fault_queue *fq)
{
	unsigned d = 0;

	if ((rng_next(fq) >> 11) < fq->thr_drop)
		d |= DRAW_DROP;
	if ((rng_next(fq) >> 11) < fq->thr_reorder)
		d |= DRAW_REORDER;
	if ((rng_next(fq) >> 11) < fq->thr_dup)
		d |= DRAW_DUP;
	return d;
}

static inline struct lp_fault_counters *dir_counters(struct lp_fault_queue *fq)
{
	return fq->dir == LP_FAULT_RX ? &fq->stats->rx : &fq->stats->tx;
}

static inline void count_dropped(struct lp_fault_queue *fq)
{
	fq->stats->dropped++;
	dir_counters(fq)->dropped++;
}

static inline void count_duplicated(struct lp_fault_queue *fq)
{
	fq->stats->duplicated++;
	dir_counters(fq)->duplicated++;
}

static inline void count_reordered(struct lp_fault_queue *fq)
{
	fq->stats->reordered++;
	dir_counters(fq)->reordered++;
}

/* Append m to the hold queue. Returns true (fq owns m) or false (full). */
static inline bool hold_push(struct lp_fault_queue *fq, struct rte_mbuf *m, uint64_t due)
{
	if (fq->n_held >= LP_FAULT_HOLD_MAX)
		return false;
	fq->held[fq->n_held] = m;
	fq->held_due[fq->n_held] = due;
	fq->n_held++;
	return true;
}

/* Hold m; if the hold is full free it and count a drop. Consumes m. */
static inline void hold_or_drop(struct lp_fault_queue *fq, struct rte_mbuf *m, uint64_t due)
{
	if (!hold_push(fq, m, due)) {
		rte_pktmbuf_free(m);
		count_dropped(fq);
	}
}

/* A full copy of m from m's own pool, or NULL when the pool is empty. */
static inline struct rte_mbuf *dup_of(const struct rte_mbuf *m)
{
	return rte_pktmbuf_copy(m, m->pool, 0, UINT32_MAX);
}

void lp_fault_queue_init(struct lp_fault_queue *fq, const struct lp_fault_config *cfg,
			 uint16_t queue, enum lp_fault_dir dir, struct lp_fault_stats *stats,
			 uint64_t hold_cycles)
{
	memset(fq, 0, sizeof(*fq));
	fq->rng = splitmix64(cfg->seed ^ ((uint64_t)queue << 8 | (uint64_t)dir));
	if (fq->rng == 0)
		fq->rng = UINT64_C(0x9E3779B97F4A7C15);
	fq->thr_drop = prob_threshold(cfg->drop);
	fq->thr_dup = prob_threshold(cfg->dup);
	fq->thr_reorder = prob_threshold(cfg->reorder);
	fq->hold_cycles = hold_cycles;
	fq->dir = dir;
	fq->stats = stats;
}

void lp_fault_queue_flush(struct lp_fault_queue *fq)
{
	for (uint16_t i = 0; i < fq->n_held; i++)
		rte_pktmbuf_free(fq->held[i]);
	fq->n_held = 0;
}

/* Move held packets with due <= now to pkts (at most n), keep the others in order. */
static uint16_t take_due(struct lp_fault_queue *fq, struct rte_mbuf **pkts, uint16_t n,
			 uint64_t now)
{
	uint16_t k = 0, keep = 0;

	for (uint16_t i = 0; i < fq->n_held; i++) {
		if (k < n && fq->held_due[i] <= now) {
			pkts[k++] = fq->held[i];
		} else {
			fq->held[keep] = fq->held[i];
			fq->held_due[keep] = fq->held_due[i];
			keep++;
		}
	}
	fq->n_held = keep;
	return k;
}

uint16_t lp_fault_rx_release_due(struct lp_fault_queue *fq, struct rte_mbuf **pkts,
				 uint16_t n, uint64_t now)
{
	if (fq->n_held == 0)
		return 0;
	return take_due(fq, pkts, n, now);
}

uint16_t lp_fault_rx_want(const struct lp_fault_queue *fq, uint16_t room)
{
	uint16_t w = room;

	if (w == 0)
		return 0;
	if (fq->thr_dup != 0)
		w = (uint16_t)((w + 1) / 2);
	if (fq->n_held != 0)
		w = w > fq->n_held ? (uint16_t)(w - fq->n_held) : 1;
	return RTE_MIN(w, (uint16_t)LP_FAULT_BURST_MAX);
}

/*
 * Invariant: k + (inputs not yet written, held back in this burst included)
 * <= n, because the caller asked the driver for at most n - k packets. Copies
 * and packets held from earlier bursts are written only into room beyond that.
 */
uint16_t lp_fault_rx_apply(struct lp_fault_queue *fq, struct rte_mbuf *const *in,
			   uint16_t nb_in, struct rte_mbuf **pkts, uint16_t k, uint16_t n,
			   uint64_t now)
{
	struct rte_mbuf *pending[LP_FAULT_HOLD_MAX];
	uint16_t np = 0;

	for (uint16_t i = 0; i < nb_in; i++) {
		struct rte_mbuf *m = in[i];
		unsigned d = fault_draw(fq);

		if (d & DRAW_DROP) {
			rte_pktmbuf_free(m);
			count_dropped(fq);
			continue;
		}
		if ((d & DRAW_REORDER) && np + fq->n_held < LP_FAULT_HOLD_MAX) {
			pending[np++] = m;
			count_reordered(fq);
			continue;
		}
		pkts[k++] = m;
		uint16_t reserve = (uint16_t)(nb_in - i - 1 + np);

		if ((d & DRAW_DUP) && k + reserve < n) {
			struct rte_mbuf *c = dup_of(m);
			if (c != NULL) {
				pkts[k++] = c;
				count_duplicated(fq);
			}
		}
		/* Held from earlier bursts: released behind this packet, oldest first. */
		uint16_t r = 0;
		while (r < fq->n_held && k + reserve < n)
			pkts[k++] = fq->held[r++];
		if (r != 0) {
			memmove(fq->held, fq->held + r, (fq->n_held - r) * sizeof(fq->held[0]));
			memmove(fq->held_due, fq->held_due + r,
				(fq->n_held - r) * sizeof(fq->held_due[0]));
			fq->n_held = (uint16_t)(fq->n_held - r);
		}
		for (uint16_t j = 0; j < np; j++)
			pkts[k++] = pending[j];
		np = 0;
	}
	/* No later packet in this burst: hold them (room was checked above). */
	for (uint16_t j = 0; j < np; j++)
		hold_or_drop(fq, pending[j], now + fq->hold_cycles);
	return k;
}

void lp_fault_tx_prepare(struct lp_fault_queue *fq, struct rte_mbuf *const *pkts,
			 uint16_t n, struct lp_fault_tx_plan *plan)
{
	uint16_t pending[LP_FAULT_HOLD_MAX];
	uint16_t np = 0, k = 0;

	plan->n_in = RTE_MIN(n, (uint16_t)LP_FAULT_BURST_MAX);
	for (uint16_t i = 0; i < plan->n_in; i++) {
		unsigned d = fault_draw(fq);

		if (d & DRAW_DROP) {
			plan->fate[i] = FATE_DROP;
			continue;
		}
		if ((d & DRAW_REORDER) && np + fq->n_held < LP_FAULT_HOLD_MAX) {
			plan->fate[i] = FATE_HOLD;
			pending[np++] = i;
			continue;
		}
		plan->fate[i] = FATE_SEND;
		plan->out[k] = pkts[i];
		plan->origin[k++] = (int16_t)i;
		if (d & DRAW_DUP) {
			struct rte_mbuf *c = dup_of(pkts[i]);
			if (c != NULL) {
				plan->out[k] = c;
				plan->origin[k++] = ORIGIN_DUP;
			}
		}
		for (uint16_t j = 0; j < fq->n_held; j++) {
			plan->out[k] = fq->held[j];
			plan->origin[k++] = ORIGIN_HELD;
		}
		fq->n_held = 0;
		for (uint16_t j = 0; j < np; j++) {
			plan->fate[pending[j]] = FATE_LATE;
			plan->out[k] = pkts[pending[j]];
			plan->origin[k++] = (int16_t)pending[j];
		}
		np = 0;
	}
	plan->n_out = k;
}

uint16_t lp_fault_tx_commit(struct lp_fault_queue *fq, struct rte_mbuf *const *pkts,
			    struct lp_fault_tx_plan *plan, uint16_t sent, uint64_t now)
{
	uint16_t consumed = plan->n_in;

	/* FATE_SEND packets are in out[] in caller order: the first one the
	 * driver refused bounds what was consumed. */
	for (uint16_t e = sent; e < plan->n_out; e++) {
		int16_t o = plan->origin[e];
		if (o >= 0 && plan->fate[o] == FATE_SEND) {
			consumed = (uint16_t)o;
			break;
		}
	}
	for (uint16_t e = 0; e < sent; e++) {
		int16_t o = plan->origin[e];
		if (o == ORIGIN_DUP)
			count_duplicated(fq);
		else if (o >= 0 && plan->fate[o] == FATE_LATE)
			count_reordered(fq);
	}
	for (uint16_t e = sent; e < plan->n_out; e++) {
		int16_t o = plan->origin[e];

		if (o == ORIGIN_DUP) {
			rte_pktmbuf_free(plan->out[e]);
		} else if (o == ORIGIN_HELD) {
			hold_or_drop(fq, plan->out[e], now);
		} else if (o < consumed) {
			/* A late packet whose place is within what was consumed. */
			if (hold_push(fq, plan->out[e], now)) {
				count_reordered(fq);
			} else {
				rte_pktmbuf_free(plan->out[e]);
				count_dropped(fq);
			}
		}
		/* else: the caller's, returned untouched */
	}
	for (uint16_t i = 0; i < consumed; i++) {
		if (plan->fate[i] == FATE_DROP) {
			rte_pktmbuf_free(pkts[i]);
			count_dropped(fq);
		} else if (plan->fate[i] == FATE_HOLD) {
			if (hold_push(fq, pkts[i], now + fq->hold_cycles)) {
				count_reordered(fq);
			} else {
				rte_pktmbuf_free(pkts[i]);
				count_dropped(fq);
			}
		}
	}
	return consumed;
}

uint16_t lp_fault_tx_take_due(struct lp_fault_queue *fq, struct rte_mbuf **pkts,
			      uint16_t n, uint64_t now)
{
	if (fq->n_held == 0)
		return 0;
	return take_due(fq, pkts, n, now);
}

void lp_fault_tx_rehold(struct lp_fault_queue *fq, struct rte_mbuf *const *pkts,
			uint16_t n, uint64_t now)
{
	for (uint16_t i = 0; i < n; i++)
		hold_or_drop(fq, pkts[i], now);
}
