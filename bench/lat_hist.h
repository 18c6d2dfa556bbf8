/* SPDX-License-Identifier: MIT */
/*
 * Latency histograms of amqp-load. struct lp_hist is exact at microsecond
 * resolution: one counter per microsecond up to a limit (10 s by default) plus
 * a count of the samples beyond it, and the exact minimum and maximum in
 * nanoseconds; each consumer thread owns one and the final report merges them,
 * so percentiles are exact (nearest rank) at 1 us. struct lp_hist_coarse is the
 * cheap log-linear one (8 sub-buckets per power of two, < 12.5% error) that a
 * consumer fills with relaxed atomics so the reporter can print approximate
 * per-second percentiles while the run goes on.
 */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define LP_HIST_DEFAULT_US 10000000u /* 10 s of 1 us buckets */

struct lp_hist {
	uint64_t *bucket;   /* bucket[i]: samples in [i us, i + 1 us) */
	uint32_t n_buckets; /* samples >= n_buckets us go to overflow */
	uint32_t top;       /* highest bucket index used + 1 */
	uint64_t count;     /* every sample, overflow included */
	uint64_t overflow;
	uint64_t min_ns;
	uint64_t max_ns;
	long double sum_ns;
};

/* Empty histogram of n_buckets 1 us buckets (pages are touched on use only).
 * Returns 0 or -ENOMEM / -EINVAL (n_buckets == 0). */
int lp_hist_init(struct lp_hist *h, uint32_t n_buckets);
void lp_hist_free(struct lp_hist *h);
void lp_hist_add(struct lp_hist *h, uint64_t ns);
/* Adds src's samples to dst. Returns 0, or -EINVAL if the sizes differ. */
int lp_hist_merge(struct lp_hist *dst, const struct lp_hist *src);
/*
 * Nearest-rank percentile p in [0, 100], in whole microseconds: the smallest
 * bucket value v with at least ceil(p/100 * count) samples <= v (p = 0 gives
 * the minimum). A rank that falls among the overflow samples returns
 * max_ns / 1000. Returns 0 for an empty histogram.
 */
uint64_t lp_hist_percentile_us(const struct lp_hist *h, double p);
double lp_hist_mean_us(const struct lp_hist *h);

#define LP_HIST_COARSE_SUB 8
#define LP_HIST_COARSE_N (LP_HIST_COARSE_SUB * 40)

struct lp_hist_coarse {
	_Atomic uint64_t c[LP_HIST_COARSE_N];
};

/* Single writer; readers snapshot with lp_hist_coarse_read. */
void lp_hist_coarse_add(struct lp_hist_coarse *h, uint64_t us);
/* Adds the current counts to out[LP_HIST_COARSE_N]. */
void lp_hist_coarse_read(const struct lp_hist_coarse *h, uint64_t *out);
/* Bucket index of us, and the lowest value of a bucket. */
unsigned lp_hist_coarse_index(uint64_t us);
uint64_t lp_hist_coarse_value(unsigned idx);
/* Approximate percentile (lower bound of the bucket) over counts[LP_HIST_COARSE_N];
 * returns false when the counts are all zero. */
bool lp_hist_coarse_percentile(const uint64_t *counts, double p, uint64_t *us);
