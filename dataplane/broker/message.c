/* SPDX-License-Identifier: MIT */
/*
 * Message pool (see message.h). All storage is allocated by
 * lp_msg_pool_create: the message headers and one data area holding each
 * message's properties and body slots (mmap'ed; populated at creation, or
 * lazily: lp_msg_pool_create_lazy). Free messages form a lock-free stack
 * (Treiber's) linked through their slot indices; the head word packs the top
 * index with a generation counter bumped by every change, so a thread that
 * was preempted between reading the head and its compare-and-swap fails the
 * swap instead of corrupting the stack (the ABA problem). Unlike a bounded
 * ring, a thread stopped half-way through a release never makes the pool
 * look empty to the others.
 *
 * Large bodies (over body_max) are the only allocation after creation:
 * lp_msg_body_reserve takes the octets from the pool's budget with a
 * compare-and-swap loop (never over it, even with releases racing on other
 * threads), then mallocs; the last release frees and gives the octets back.
 */
#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "message.h"

#define NIL UINT32_MAX

struct lp_msg_pool {
	uint32_t capacity;
	uint32_t props_max;
	uint32_t body_max;
	uint64_t large_max;
	uint64_t large_budget;
	struct lp_msg *msgs;
	uint8_t *data;                           /* mmap'ed, populated: capacity * slot */
	size_t data_len;
	_Atomic uint32_t *next;                  /* free-stack links, by slot */
	alignas(64) _Atomic uint64_t head;       /* generation << 32 | top slot */
	alignas(64) _Atomic uint32_t available;
	_Atomic uint32_t fresh;                  /* slots from here on never used */
	alignas(64) _Atomic uint64_t large_bytes; /* octets of heap bodies held */
};

static void free_push(struct lp_msg_pool *p, uint32_t index)
{
	uint64_t old = atomic_load_explicit(&p->head, memory_order_relaxed), new;

	do {
		atomic_store_explicit(&p->next[index], (uint32_t)old, memory_order_relaxed);
		new = (((old >> 32) + 1) << 32) | index;
	} while (!atomic_compare_exchange_weak_explicit(&p->head, &old, new, memory_order_release,
							 memory_order_relaxed));
	atomic_fetch_add_explicit(&p->available, 1, memory_order_relaxed);
}

/* A slot never used before, its header set up now (its pages are touched
 * for the first time by its first message). Returns false when every slot
 * has been used once. */
static bool fresh_pop(struct lp_msg_pool *p, uint32_t *index)
{
	uint32_t i = atomic_load_explicit(&p->fresh, memory_order_relaxed);
	uint64_t slot = (uint64_t)p->props_max + p->body_max;

	do {
		if (i == p->capacity)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&p->fresh, &i, i + 1, memory_order_relaxed,
							 memory_order_relaxed));
	struct lp_msg *m = &p->msgs[i];

	m->pool = p;
	m->index = i;
	m->props = p->data != NULL ? p->data + (size_t)i * slot : NULL;
	m->body = p->data != NULL ? m->props + p->props_max : NULL;
	atomic_init(&m->refcnt, 0);
	atomic_fetch_sub_explicit(&p->available, 1, memory_order_relaxed);
	*index = i;
	return true;
}

/* Pop a free slot index. Returns true, or false when the pool is empty. */
static bool free_pop(struct lp_msg_pool *p, uint32_t *index)
{
	uint64_t old = atomic_load_explicit(&p->head, memory_order_acquire), new;

	do {
		uint32_t top = (uint32_t)old;
		if (top == NIL)
			return fresh_pop(p, index);
		/* May be stale if top was taken meanwhile: the swap then fails. */
		uint32_t next = atomic_load_explicit(&p->next[top], memory_order_relaxed);
		new = (((old >> 32) + 1) << 32) | next;
	} while (!atomic_compare_exchange_weak_explicit(&p->head, &old, new, memory_order_acquire,
							 memory_order_acquire));
	*index = (uint32_t)old;
	atomic_fetch_sub_explicit(&p->available, 1, memory_order_relaxed);
	return true;
}

struct lp_msg_pool *lp_msg_pool_create_lazy(uint32_t capacity, uint32_t props_max, uint32_t body_max,
					    bool prefault)
{
	struct lp_msg_pool *p;
	uint64_t slot = (uint64_t)props_max + body_max;

	if (capacity == 0 || capacity >= NIL ||
	    (slot != 0 && (uint64_t)capacity > SIZE_MAX / slot)) {
		errno = EINVAL;
		return NULL;
	}

	p = aligned_alloc(64, (sizeof(*p) + 63) & ~(size_t)63);
	if (p == NULL)
		goto nomem;
	memset(p, 0, sizeof(*p));
	p->capacity = capacity;
	p->props_max = props_max;
	p->body_max = body_max;
	p->large_max = LP_MSG_LARGE_MAX_DEFAULT;
	p->large_budget = LP_MSG_LARGE_BUDGET_DEFAULT;
	atomic_init(&p->large_bytes, 0);
	/* Headers and links are zero pages until used (calloc of a large
	 * size maps them), and slots are handed out from `fresh` upwards
	 * before the free stack is used: memory is resident for the slots
	 * ever used. prefault: every data page touched now instead, not by
	 * the first burst that fills the pool (page faults on the worker). */
	p->msgs = calloc(capacity, sizeof(*p->msgs));
	if (slot != 0) {
		p->data_len = (size_t)capacity * slot;
		p->data = mmap(NULL, p->data_len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | (prefault ? MAP_POPULATE : 0),
			       -1, 0);
		if (p->data == MAP_FAILED)
			p->data = NULL;
	}
	p->next = calloc(capacity, sizeof(*p->next));
	if (p->msgs == NULL || (slot != 0 && p->data == NULL) || p->next == NULL) {
		lp_msg_pool_destroy(p);
		goto nomem;
	}
	atomic_init(&p->head, NIL);
	atomic_init(&p->available, capacity);
	atomic_init(&p->fresh, 0);
	return p;
nomem:
	errno = ENOMEM;
	return NULL;
}

struct lp_msg_pool *lp_msg_pool_create(uint32_t capacity, uint32_t props_max, uint32_t body_max)
{
	return lp_msg_pool_create_lazy(capacity, props_max, body_max, true);
}

void lp_msg_pool_destroy(struct lp_msg_pool *p)
{
	if (p == NULL)
		return;
	uint32_t used = atomic_load(&p->fresh);

	for (uint32_t i = 0; p->msgs != NULL && i < used; i++)
		if (p->msgs[i].body_heap != 0)
			free(p->msgs[i].body);
	for (uint32_t i = 0; p->msgs != NULL && i < used; i++)
		if (p->msgs[i].props_heap != 0)
			free(p->msgs[i].props);
	free(p->msgs);
	if (p->data != NULL)
		munmap(p->data, p->data_len);
	free(p->next);
	free(p);
}

uint32_t lp_msg_pool_capacity(const struct lp_msg_pool *p)
{
	return p->capacity;
}

uint32_t lp_msg_pool_available(const struct lp_msg_pool *p)
{
	return atomic_load_explicit(&p->available, memory_order_relaxed);
}

uint32_t lp_msg_pool_body_max(const struct lp_msg_pool *p)
{
	return p->body_max;
}

uint32_t lp_msg_pool_props_max(const struct lp_msg_pool *p)
{
	return p->props_max;
}

int lp_msg_pool_set_large(struct lp_msg_pool *p, uint64_t large_max, uint64_t budget)
{
	if (large_max > UINT32_MAX)
		return -EINVAL;
	p->large_max = large_max;
	p->large_budget = budget;
	return 0;
}

uint64_t lp_msg_pool_large_bytes(const struct lp_msg_pool *p)
{
	return atomic_load_explicit(&p->large_bytes, memory_order_relaxed);
}

uint64_t lp_msg_pool_large_budget(const struct lp_msg_pool *p)
{
	return p->large_budget;
}

uint64_t lp_msg_pool_large_max(const struct lp_msg_pool *p)
{
	return p->large_max;
}

/* An inline body follows the properties in the slot: a small message's
 * properties and body share cache lines (one miss, not two, when it is
 * delivered from a deep queue). */
static uint8_t *slot_base(const struct lp_msg *m)
{
	const struct lp_msg_pool *p = m->pool;

	return p->data != NULL ? p->data + (size_t)m->index * ((size_t)p->props_max + p->body_max)
			       : NULL;
}

static uint8_t *slot_body(const struct lp_msg *m)
{
	return m->props_heap != 0 || m->props == NULL ? slot_base(m) : m->props + m->props_len;
}

/* size octets of heap storage from the pool's budget (never over it, even
 * with releases racing on other threads). Returns the buffer, or NULL with
 * *err -ENOBUFS (budget) or -ENOMEM. */
static uint8_t *heap_take(struct lp_msg_pool *p, uint64_t size, int *err)
{
	uint64_t old = atomic_load_explicit(&p->large_bytes, memory_order_relaxed), new;
	uint8_t *buf;

	do {
		if (size > p->large_budget || old > p->large_budget - size) {
			*err = -ENOBUFS;
			return NULL;
		}
		new = old + size;
	} while (!atomic_compare_exchange_weak_explicit(&p->large_bytes, &old, new,
							 memory_order_relaxed, memory_order_relaxed));
	buf = malloc((size_t)size);
	if (buf == NULL) {
		atomic_fetch_sub_explicit(&p->large_bytes, size, memory_order_relaxed);
		*err = -ENOMEM;
	}
	return buf;
}

static void heap_give(struct lp_msg_pool *p, uint8_t *buf, uint32_t size)
{
	free(buf);
	atomic_fetch_sub_explicit(&p->large_bytes, size, memory_order_relaxed);
}

/* Give m's heap body back (free and return its octets to the budget). */
static void body_heap_free(struct lp_msg *m)
{
	if (m->body_heap == 0)
		return;
	heap_give(m->pool, m->body, m->body_heap);
	m->body_heap = 0;
	m->body = slot_body(m);
}

static void props_heap_free(struct lp_msg *m)
{
	if (m->props_heap == 0)
		return;
	heap_give(m->pool, m->props, m->props_heap);
	m->props_heap = 0;
	m->props = slot_base(m);
}

int lp_msg_props_reserve(struct lp_msg *m, uint64_t size)
{
	struct lp_msg_pool *p = m->pool;
	uint8_t *buf;
	int err = 0;

	props_heap_free(m);
	if (size <= p->props_max)
		return 0;
	if (size > p->large_max || p->large_max == 0)
		return -EMSGSIZE;
	buf = heap_take(p, size, &err);
	if (buf == NULL)
		return err;
	m->props = buf;
	m->props_heap = (uint32_t)size;
	return 0;
}

int lp_msg_body_reserve(struct lp_msg *m, uint64_t size)
{
	struct lp_msg_pool *p = m->pool;
	uint8_t *buf;
	int err = 0;

	body_heap_free(m);
	if (size <= p->body_max) {
		m->body = slot_body(m);
		return 0;
	}
	if (size > p->large_max)
		return -EMSGSIZE;
	buf = heap_take(p, size, &err);
	if (buf == NULL)
		return err;
	m->body = buf;
	m->body_heap = (uint32_t)size;
	return 0;
}

struct lp_msg *lp_msg_create(struct lp_msg_pool *p, const char *exchange, size_t exchange_len,
			     const char *rkey, size_t rkey_len, const void *props, size_t props_len,
			     const void *body, size_t body_len, uint32_t flags)
{
	struct lp_msg *m;
	uint32_t index;

	int rc;

	if (exchange_len > LP_MSG_NAME_MAX || rkey_len > LP_MSG_NAME_MAX ||
	    props_len > p->props_max || (body_len > p->body_max && body_len > p->large_max)) {
		errno = EMSGSIZE;
		return NULL;
	}
	if (!free_pop(p, &index)) {
		errno = ENOSPC;
		return NULL;
	}
	m = &p->msgs[index];
	m->props_len = (uint32_t)props_len;
	m->headers_off = m->headers_len = 0;
	if (props_len != 0)
		memcpy(m->props, props, props_len);
	rc = lp_msg_body_reserve(m, body_len);
	if (rc < 0) {
		free_push(p, index);
		errno = -rc;
		return NULL;
	}
	m->flags = flags;
	m->priority = 0;
	m->exchange_len = (uint8_t)exchange_len;
	if (exchange_len != 0)
		memcpy(m->exchange, exchange, exchange_len);
	m->exchange[exchange_len] = '\0';
	m->rkey_len = (uint8_t)rkey_len;
	if (rkey_len != 0)
		memcpy(m->rkey, rkey, rkey_len);
	m->rkey[rkey_len] = '\0';
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
	body_heap_free(m);
	props_heap_free(m);
	free_push(m->pool, m->index);
	return true;
}
