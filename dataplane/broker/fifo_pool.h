/* SPDX-License-Identifier: MIT */
/*
 * FIFOs of fixed-size entries that share one pool sized at start-up, so that
 * a shard keeps per-channel lists (deliveries kept back, remote delivery
 * tags, confirms awaiting owners, transaction entries) without allocating on
 * the worker: a full pool is -ENOBUFS to the caller, who applies
 * back-pressure. One worker uses a pool (no atomics).
 *
 * An entry is addressed by its index in the pool; struct lp_fifo is three
 * words, so a channel embeds one per list. Entries of a FIFO are linked
 * oldest to newest; walking them (lp_fifo_first, lp_fifo_next) is in order.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LP_FIFO_NONE UINT32_MAX

struct lp_fifo_pool {
	uint8_t *mem;       /* cap entries of elem_size octets */
	uint32_t *next;     /* per entry: the next one in its FIFO, or the free list */
	uint32_t elem_size;
	uint32_t cap;
	uint32_t free_head; /* entries given back */
	uint32_t fresh;     /* entries from here on were never used */
	uint32_t in_use;
};

struct lp_fifo {
	uint32_t head, tail; /* LP_FIFO_NONE when empty */
	uint32_t n;
};

/* Room for cap entries of elem_size octets. Returns 0 or -ENOMEM / -EINVAL. */
int lp_fifo_pool_init(struct lp_fifo_pool *p, uint32_t cap, size_t elem_size);
void lp_fifo_pool_fini(struct lp_fifo_pool *p);

static inline void lp_fifo_init(struct lp_fifo *f)
{
	*f = (struct lp_fifo){.head = LP_FIFO_NONE, .tail = LP_FIFO_NONE, .n = 0};
}

static inline void *lp_fifo_entry(const struct lp_fifo_pool *p, uint32_t i)
{
	return p->mem + (size_t)i * p->elem_size;
}

/* Append an entry to f: returns it (uninitialised), or NULL when the pool is
 * exhausted (the caller's -ENOBUFS). */
void *lp_fifo_push(struct lp_fifo_pool *p, struct lp_fifo *f);

/* The oldest entry of f, or NULL when f is empty. */
static inline void *lp_fifo_head(const struct lp_fifo_pool *p, const struct lp_fifo *f)
{
	return f->n > 0 ? lp_fifo_entry(p, f->head) : NULL;
}

/* Remove the oldest entry of f (f not empty); its memory goes back to p. */
void lp_fifo_pop(struct lp_fifo_pool *p, struct lp_fifo *f);

/* Return every entry of f to p. */
void lp_fifo_clear(struct lp_fifo_pool *p, struct lp_fifo *f);

/* Walk f oldest first: i = lp_fifo_first(f); i != LP_FIFO_NONE; i = lp_fifo_next(p, i). */
static inline uint32_t lp_fifo_first(const struct lp_fifo *f)
{
	return f->n > 0 ? f->head : LP_FIFO_NONE;
}

static inline uint32_t lp_fifo_next(const struct lp_fifo_pool *p, uint32_t i)
{
	return p->next[i];
}

static inline bool lp_fifo_pool_full(const struct lp_fifo_pool *p)
{
	return p->free_head == LP_FIFO_NONE && p->fresh == p->cap;
}
