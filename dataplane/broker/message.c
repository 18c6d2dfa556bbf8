/* SPDX-License-Identifier: MIT */
/*
 * Message pool (see message.h). All storage is allocated by
 * lp_msg_pool_create: the message headers, one data area holding each
 * message's properties and body slots, and the free list. The free list is a
 * bounded MPMC ring of slot indices (Dmitry Vyukov's bounded queue: each cell
 * carries a sequence number, so there is no ABA problem and no lock), sized to
 * a power of two at least the capacity so that a release never finds it full.
 */
#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"

struct free_cell {
	_Atomic uint64_t seq;
	uint32_t index;
};

struct lp_msg_pool {
	uint32_t capacity;
	uint32_t props_max;
	uint32_t body_max;
	uint64_t ring_mask;
	struct lp_msg *msgs;
	uint8_t *data;
	struct free_cell *ring;
	alignas(64) _Atomic uint64_t enq_pos;   /* releases (producers) */
	alignas(64) _Atomic uint64_t deq_pos;   /* allocations (consumers) */
};

/* Push a free slot index; the ring has room for every slot, so this succeeds. */
static void free_push(struct lp_msg_pool *p, uint32_t index)
{
	uint64_t pos = atomic_load_explicit(&p->enq_pos, memory_order_relaxed);
	struct free_cell *c;

	for (;;) {
		c = &p->ring[pos & p->ring_mask];
		uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		int64_t diff = (int64_t)(seq - pos);
		if (diff == 0) {
			if (atomic_compare_exchange_weak_explicit(&p->enq_pos, &pos, pos + 1,
								  memory_order_relaxed,
								  memory_order_relaxed))
				break;
		} else {
			/* diff < 0 (full) cannot happen: at most capacity indices exist. */
			pos = atomic_load_explicit(&p->enq_pos, memory_order_relaxed);
		}
	}
	c->index = index;
	atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
}

/* Pop a free slot index. Returns true, or false when the pool is empty. */
static bool free_pop(struct lp_msg_pool *p, uint32_t *index)
{
	uint64_t pos = atomic_load_explicit(&p->deq_pos, memory_order_relaxed);
	struct free_cell *c;

	for (;;) {
		c = &p->ring[pos & p->ring_mask];
		uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		int64_t diff = (int64_t)(seq - (pos + 1));
		if (diff == 0) {
			if (atomic_compare_exchange_weak_explicit(&p->deq_pos, &pos, pos + 1,
								  memory_order_relaxed,
								  memory_order_relaxed))
				break;
		} else if (diff < 0) {
			return false;
		} else {
			pos = atomic_load_explicit(&p->deq_pos, memory_order_relaxed);
		}
	}
	*index = c->index;
	atomic_store_explicit(&c->seq, pos + p->ring_mask + 1, memory_order_release);
	return true;
}

struct lp_msg_pool *lp_msg_pool_create(uint32_t capacity, uint32_t props_max, uint32_t body_max)
{
	struct lp_msg_pool *p;
	uint64_t ring_size = 1, slot = (uint64_t)props_max + body_max;

	if (capacity == 0 || capacity > (1u << 31) ||
	    (slot != 0 && (uint64_t)capacity > SIZE_MAX / slot)) {
		errno = EINVAL;
		return NULL;
	}
	while (ring_size < capacity)
		ring_size <<= 1;

	p = aligned_alloc(64, (sizeof(*p) + 63) & ~(size_t)63);
	if (p == NULL)
		goto nomem;
	memset(p, 0, sizeof(*p));
	p->capacity = capacity;
	p->props_max = props_max;
	p->body_max = body_max;
	p->ring_mask = ring_size - 1;
	p->msgs = calloc(capacity, sizeof(*p->msgs));
	p->data = slot != 0 ? malloc((size_t)capacity * slot) : NULL;
	p->ring = calloc(ring_size, sizeof(*p->ring));
	if (p->msgs == NULL || (slot != 0 && p->data == NULL) || p->ring == NULL) {
		lp_msg_pool_destroy(p);
		goto nomem;
	}
	for (uint64_t i = 0; i < ring_size; i++)
		atomic_init(&p->ring[i].seq, i);
	atomic_init(&p->enq_pos, 0);
	atomic_init(&p->deq_pos, 0);
	for (uint32_t i = 0; i < capacity; i++) {
		struct lp_msg *m = &p->msgs[i];
		m->pool = p;
		m->index = i;
		m->props = p->data != NULL ? p->data + (size_t)i * slot : NULL;
		m->body = p->data != NULL ? m->props + props_max : NULL;
		atomic_init(&m->refcnt, 0);
		free_push(p, i);
	}
	return p;
nomem:
	errno = ENOMEM;
	return NULL;
}

void lp_msg_pool_destroy(struct lp_msg_pool *p)
{
	if (p == NULL)
		return;
	free(p->msgs);
	free(p->data);
	free(p->ring);
	free(p);
}

uint32_t lp_msg_pool_capacity(const struct lp_msg_pool *p)
{
	return p->capacity;
}

uint32_t lp_msg_pool_available(const struct lp_msg_pool *p)
{
	uint64_t enq = atomic_load_explicit(&p->enq_pos, memory_order_acquire);
	uint64_t deq = atomic_load_explicit(&p->deq_pos, memory_order_acquire);

	return enq > deq ? (uint32_t)(enq - deq) : 0;
}

uint32_t lp_msg_pool_body_max(const struct lp_msg_pool *p)
{
	return p->body_max;
}

uint32_t lp_msg_pool_props_max(const struct lp_msg_pool *p)
{
	return p->props_max;
}

struct lp_msg *lp_msg_create(struct lp_msg_pool *p, const char *exchange, size_t exchange_len,
			     const char *rkey, size_t rkey_len, const void *props, size_t props_len,
			     const void *body, size_t body_len, uint32_t flags)
{
	struct lp_msg *m;
	uint32_t index;

	if (exchange_len > LP_MSG_NAME_MAX || rkey_len > LP_MSG_NAME_MAX ||
	    props_len > p->props_max || body_len > p->body_max) {
		errno = EMSGSIZE;
		return NULL;
	}
	if (!free_pop(p, &index)) {
		errno = ENOSPC;
		return NULL;
	}
	m = &p->msgs[index];
	m->flags = flags;
	m->exchange_len = (uint8_t)exchange_len;
	if (exchange_len != 0)
		memcpy(m->exchange, exchange, exchange_len);
	m->exchange[exchange_len] = '\0';
	m->rkey_len = (uint8_t)rkey_len;
	if (rkey_len != 0)
		memcpy(m->rkey, rkey, rkey_len);
	m->rkey[rkey_len] = '\0';
	m->props_len = (uint32_t)props_len;
	if (props_len != 0)
		memcpy(m->props, props, props_len);
	m->body_len = (uint32_t)body_len;
	if (body_len != 0)
		memcpy(m->body, body, body_len);
	atomic_store_explicit(&m->refcnt, 1, memory_order_release);
	return m;
}

void lp_msg_ref(struct lp_msg *m, uint32_t n)
{
	atomic_fetch_add_explicit(&m->refcnt, n, memory_order_relaxed);
}

bool lp_msg_release(struct lp_msg *m)
{
	if (atomic_fetch_sub_explicit(&m->refcnt, 1, memory_order_acq_rel) != 1)
		return false;
	free_push(m->pool, m->index);
	return true;
}
