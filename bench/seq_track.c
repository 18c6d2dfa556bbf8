/* SPDX-License-Identifier: MIT */
/*
 * Exact delivery accounting of amqp-load (see seq_track.h): consumers mark
 * each delivery's (producer, sequence) in the bitmap of its queue; the final
 * report counts what is missing below each producer's published count.
 */
#include <errno.h>
#include <stdlib.h>

#include "seq_track.h"

#define CHUNK_WORDS ((1u << LP_SEQ_CHUNK_SHIFT) / 64)

void lp_seq_free(struct lp_seq *s)
{
	for (unsigned i = 0; i < LP_SEQ_MAX_CHUNKS; i++) {
		free((void *)atomic_load(&s->chunk[i]));
		atomic_store(&s->chunk[i], NULL);
	}
}

static _Atomic uint64_t *chunk_get(struct lp_seq *s, unsigned idx)
{
	_Atomic uint64_t *c = atomic_load_explicit(&s->chunk[idx], memory_order_acquire);
	_Atomic uint64_t *expected = NULL;

	if (c != NULL)
		return c;
	c = calloc(CHUNK_WORDS, sizeof(*c));
	if (c == NULL)
		return NULL;
	if (atomic_compare_exchange_strong_explicit(&s->chunk[idx], &expected, c,
						    memory_order_acq_rel, memory_order_acquire))
		return c;
	free((void *)c); /* another consumer installed it first */
	return expected;
}

int lp_seq_mark(struct lp_seq *s, uint64_t seq)
{
	_Atomic uint64_t *c;
	uint64_t bit, old;

	if (seq >= LP_SEQ_LIMIT)
		return -ERANGE;
	c = chunk_get(s, (unsigned)(seq >> LP_SEQ_CHUNK_SHIFT));
	if (c == NULL)
		return -ENOMEM;
	seq &= ((uint64_t)1 << LP_SEQ_CHUNK_SHIFT) - 1;
	bit = (uint64_t)1 << (seq & 63);
	old = atomic_fetch_or_explicit(&c[seq >> 6], bit, memory_order_relaxed);
	if (old & bit) {
		atomic_fetch_add_explicit(&s->duplicates, 1, memory_order_relaxed);
		return 0;
	}
	atomic_fetch_add_explicit(&s->distinct, 1, memory_order_relaxed);
	return 1;
}

bool lp_seq_test(const struct lp_seq *s, uint64_t seq)
{
	_Atomic uint64_t *c;

	if (seq >= LP_SEQ_LIMIT)
		return false;
	c = atomic_load_explicit(&s->chunk[seq >> LP_SEQ_CHUNK_SHIFT], memory_order_acquire);
	if (c == NULL)
		return false;
	seq &= ((uint64_t)1 << LP_SEQ_CHUNK_SHIFT) - 1;
	return (atomic_load_explicit(&c[seq >> 6], memory_order_relaxed) >> (seq & 63)) & 1;
}

uint64_t lp_seq_missing(const struct lp_seq *s, uint64_t n)
{
	uint64_t seen = 0;

	if (n > LP_SEQ_LIMIT)
		n = LP_SEQ_LIMIT;
	for (uint64_t base = 0; base < n; base += (uint64_t)1 << LP_SEQ_CHUNK_SHIFT) {
		_Atomic uint64_t *c = atomic_load_explicit(&s->chunk[base >> LP_SEQ_CHUNK_SHIFT],
							   memory_order_acquire);
		uint64_t in_chunk = n - base;

		if (c == NULL)
			continue;
		if (in_chunk > ((uint64_t)1 << LP_SEQ_CHUNK_SHIFT))
			in_chunk = (uint64_t)1 << LP_SEQ_CHUNK_SHIFT;
		for (uint64_t w = 0; w < in_chunk / 64; w++)
			seen += (uint64_t)__builtin_popcountll(
				atomic_load_explicit(&c[w], memory_order_relaxed));
		if (in_chunk % 64) {
			uint64_t mask = ((uint64_t)1 << (in_chunk % 64)) - 1;

			seen += (uint64_t)__builtin_popcountll(
				atomic_load_explicit(&c[in_chunk / 64], memory_order_relaxed) & mask);
		}
	}
	return n - seen;
}

bool lp_seq_order_check(struct lp_seq_order *o, uint64_t seq)
{
	if (seq < o->next) {
		o->late++;
		return false;
	}
	o->next = seq + 1;
	return true;
}
