/* SPDX-License-Identifier: MIT */
/*
 * A bounded set of 32-bit destinations in a caller's array, kept sorted and
 * free of duplicates: what every matcher and the router produce, so that a
 * queue reached through several bindings gets a message once.
 */
#pragma once

#include <stdint.h>
#include <string.h>

struct lp_dest_set {
	uint32_t *v;       /* caller's array of max entries */
	unsigned max;
	unsigned n;        /* entries in v */
	unsigned overflow; /* distinct-or-not entries that did not fit */
};

static inline void lp_dest_set_init(struct lp_dest_set *s, uint32_t *v, unsigned max)
{
	s->v = v;
	s->max = max;
	s->n = 0;
	s->overflow = 0;
}

/* Insert d unless present (binary search, then shift). */
static inline void lp_dest_set_add(struct lp_dest_set *s, uint32_t d)
{
	unsigned lo = 0, hi = s->n;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (s->v[mid] == d)
			return;
		if (s->v[mid] < d)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (s->n == s->max) {
		s->overflow++;
		return;
	}
	memmove(&s->v[lo + 1], &s->v[lo], (s->n - lo) * sizeof(s->v[0]));
	s->v[lo] = d;
	s->n++;
}

/* How many destinations there were (more than max when some did not fit). */
static inline int lp_dest_set_count(const struct lp_dest_set *s)
{
	return (int)(s->n + s->overflow);
}
