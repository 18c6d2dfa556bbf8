/* SPDX-License-Identifier: MIT */
/*
 * Latency histograms of amqp-load (see lat_hist.h): the exact 1 us histogram
 * every consumer fills with each delivery's latency and the final report
 * merges, and the coarse atomic one behind the per-second progress line.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lat_hist.h"

/* Nearest rank ceil(p/100 * n), at least 1, computed in integers from p in
 * thousandths of a percent so that 99.9% of 1000 is exactly 999. */
static uint64_t nearest_rank(double p, uint64_t n)
{
	unsigned __int128 pk = (unsigned __int128)llround(p * 1000.0);
	unsigned __int128 r = (pk * n + 99999) / 100000;

	return r == 0 ? 1 : (uint64_t)r;
}

int lp_hist_init(struct lp_hist *h, uint32_t n_buckets)
{
	memset(h, 0, sizeof(*h));
	if (n_buckets == 0)
		return -EINVAL;
	/* calloc of a large block maps zero pages lazily: only the
	 * microseconds that occur cost memory. */
	h->bucket = calloc(n_buckets, sizeof(h->bucket[0]));
	if (h->bucket == NULL)
		return -ENOMEM;
	h->n_buckets = n_buckets;
	h->min_ns = UINT64_MAX;
	return 0;
}

void lp_hist_free(struct lp_hist *h)
{
	free(h->bucket);
	h->bucket = NULL;
}

void lp_hist_add(struct lp_hist *h, uint64_t ns)
{
	uint64_t us = ns / 1000;

	h->count++;
	h->sum_ns += (long double)ns;
	if (ns < h->min_ns)
		h->min_ns = ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
	if (us >= h->n_buckets) {
		h->overflow++;
		return;
	}
	h->bucket[us]++;
	if (us >= h->top)
		h->top = (uint32_t)us + 1;
}

int lp_hist_merge(struct lp_hist *dst, const struct lp_hist *src)
{
	if (dst->n_buckets != src->n_buckets)
		return -EINVAL;
	for (uint32_t i = 0; i < src->top; i++)
		dst->bucket[i] += src->bucket[i];
	if (src->top > dst->top)
		dst->top = src->top;
	dst->count += src->count;
	dst->overflow += src->overflow;
	dst->sum_ns += src->sum_ns;
	if (src->count > 0 && src->min_ns < dst->min_ns)
		dst->min_ns = src->min_ns;
	if (src->max_ns > dst->max_ns)
		dst->max_ns = src->max_ns;
	return 0;
}

uint64_t lp_hist_percentile_us(const struct lp_hist *h, double p)
{
	uint64_t rank, seen = 0;

	if (h->count == 0)
		return 0;
	if (p <= 0)
		return h->min_ns / 1000;
	if (p >= 100)
		return h->max_ns / 1000;
	rank = nearest_rank(p, h->count);
	for (uint32_t i = 0; i < h->top; i++) {
		seen += h->bucket[i];
		if (seen >= rank)
			return i;
	}
	return h->max_ns / 1000;
}

double lp_hist_mean_us(const struct lp_hist *h)
{
	return h->count ? (double)(h->sum_ns / (long double)h->count / 1000.0L) : 0.0;
}

/* Values below 2 * SUB have their own bucket; above, a power of two is
 * split into SUB equal buckets. */
unsigned lp_hist_coarse_index(uint64_t us)
{
	unsigned e, idx;

	if (us < 2 * LP_HIST_COARSE_SUB)
		return (unsigned)us;
	e = 63 - (unsigned)__builtin_clzll(us); /* 2^e <= us < 2^(e+1), e >= 4 */
	idx = (e - 2) * LP_HIST_COARSE_SUB + (unsigned)((us >> (e - 3)) & (LP_HIST_COARSE_SUB - 1));
	return idx < LP_HIST_COARSE_N ? idx : LP_HIST_COARSE_N - 1;
}

uint64_t lp_hist_coarse_value(unsigned idx)
{
	unsigned e, sub;

	if (idx < 2 * LP_HIST_COARSE_SUB)
		return idx;
	e = idx / LP_HIST_COARSE_SUB + 2;
	sub = idx % LP_HIST_COARSE_SUB;
	return ((uint64_t)1 << e) + ((uint64_t)sub << (e - 3));
}

void lp_hist_coarse_add(struct lp_hist_coarse *h, uint64_t us)
{
	_Atomic uint64_t *c = &h->c[lp_hist_coarse_index(us)];

	/* One writer: a relaxed load and store is enough and cheaper than an
	 * atomic read-modify-write. */
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

void lp_hist_coarse_read(const struct lp_hist_coarse *h, uint64_t *out)
{
	for (unsigned i = 0; i < LP_HIST_COARSE_N; i++)
		out[i] += atomic_load_explicit(&h->c[i], memory_order_relaxed);
}

bool lp_hist_coarse_percentile(const uint64_t *counts, double p, uint64_t *us)
{
	uint64_t total = 0, rank, seen = 0;

	for (unsigned i = 0; i < LP_HIST_COARSE_N; i++)
		total += counts[i];
	if (total == 0)
		return false;
	rank = nearest_rank(p, total);
	for (unsigned i = 0; i < LP_HIST_COARSE_N; i++) {
		seen += counts[i];
		if (seen >= rank) {
			*us = lp_hist_coarse_value(i);
			return true;
		}
	}
	*us = lp_hist_coarse_value(LP_HIST_COARSE_N - 1);
	return true;
}
