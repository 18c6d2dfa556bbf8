/* SPDX-License-Identifier: MIT */
/*
 * FIFOs of fixed-size entries in one pool sized at start-up (fifo_pool.h).
 * Called from the broker shard's worker; nothing here allocates after
 * lp_fifo_pool_init.
 */
#include <errno.h>
#include <stdlib.h>

#include "fifo_pool.h"

int lp_fifo_pool_init(struct lp_fifo_pool *p, uint32_t cap, size_t elem_size)
{
	*p = (struct lp_fifo_pool){.free_head = LP_FIFO_NONE};
	if (cap == 0 || cap == LP_FIFO_NONE || elem_size == 0 || elem_size > UINT32_MAX)
		return -EINVAL;
	/* Entries aligned for any member type they hold. */
	elem_size = (elem_size + 7) & ~(size_t)7;
	/* calloc'ed (zero pages the kernel maps on first touch) and handed out
	 * from `fresh` upwards before the free list is used: a large pool
	 * costs memory only for the entries that have ever been used. */
	p->mem = calloc(cap, elem_size);
	p->next = calloc(cap, sizeof(*p->next));
	if (p->mem == NULL || p->next == NULL) {
		lp_fifo_pool_fini(p);
		return -ENOMEM;
	}
	p->elem_size = (uint32_t)elem_size;
	p->cap = cap;
	return 0;
}

void lp_fifo_pool_fini(struct lp_fifo_pool *p)
{
	free(p->mem);
	free(p->next);
	*p = (struct lp_fifo_pool){.free_head = LP_FIFO_NONE};
}

void *lp_fifo_push(struct lp_fifo_pool *p, struct lp_fifo *f)
{
	uint32_t i = p->free_head;

	if (i != LP_FIFO_NONE)
		p->free_head = p->next[i];
	else if (p->fresh < p->cap)
		i = p->fresh++;
	else
		return NULL;
	p->next[i] = LP_FIFO_NONE;
	if (f->n == 0)
		f->head = i;
	else
		p->next[f->tail] = i;
	f->tail = i;
	f->n++;
	p->in_use++;
	return lp_fifo_entry(p, i);
}

void lp_fifo_pop(struct lp_fifo_pool *p, struct lp_fifo *f)
{
	uint32_t i = f->head;

	f->head = p->next[i];
	if (--f->n == 0)
		f->head = f->tail = LP_FIFO_NONE;
	p->next[i] = p->free_head;
	p->free_head = i;
	p->in_use--;
}

void lp_fifo_clear(struct lp_fifo_pool *p, struct lp_fifo *f)
{
	while (f->n > 0)
		lp_fifo_pop(p, f);
}
