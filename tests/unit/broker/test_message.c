/* SPDX-License-Identifier: MIT */
/*
 * Message pool bodies over the slot size (dataplane/broker/message.c): a
 * body larger than body_max gets a heap buffer of exactly its size, counted
 * against the pool's large-body budget and freed with the last reference;
 * the budget and the per-message maximum refuse what they cannot take
 * (-ENOBUFS, -EMSGSIZE) without taking anything. Every teardown checks that
 * the pool is full again and that no heap body octet is still counted.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "message.h"

#define POOL_CAP 16
#define BODY_MAX 64

struct fx {
	struct lp_msg_pool *pool;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->pool = lp_msg_pool_create(POOL_CAP, 16, BODY_MAX);
	if (f->pool == NULL)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	uint32_t avail = lp_msg_pool_available(f->pool);
	uint64_t large = lp_msg_pool_large_bytes(f->pool);

	lp_msg_pool_destroy(f->pool);
	free(f);
	/* Nothing leaked: every slot back, every heap octet given back. */
	if (avail != POOL_CAP || large != 0)
		return -1;
	return 0;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31 + seed + (i >> 8));
}

static void defaults(void **state)
{
	struct fx *f = *state;

	assert_int_equal(lp_msg_pool_large_max(f->pool), LP_MSG_LARGE_MAX_DEFAULT);
	assert_int_equal(lp_msg_pool_large_budget(f->pool), LP_MSG_LARGE_BUDGET_DEFAULT);
	assert_int_equal(lp_msg_pool_large_bytes(f->pool), 0);
	assert_int_equal(lp_msg_pool_set_large(f->pool, (uint64_t)UINT32_MAX + 1, 1), -EINVAL);
	assert_int_equal(lp_msg_pool_large_max(f->pool), LP_MSG_LARGE_MAX_DEFAULT);
}

/* Within body_max the slot serves: no heap, no budget. */
static void small_body_in_slot(void **state)
{
	struct fx *f = *state;
	uint8_t body[BODY_MAX];
	struct lp_msg *m;

	fill(body, sizeof(body), 1);
	m = lp_msg_create(f->pool, "x", 1, "k", 1, NULL, 0, body, sizeof(body), 0);
	assert_non_null(m);
	assert_int_equal(m->body_heap, 0);
	assert_int_equal(lp_msg_pool_large_bytes(f->pool), 0);
	assert_memory_equal(m->body, body, sizeof(body));
	assert_true(lp_msg_release(m));
}

/* lp_msg_create with a body over body_max copies it into a heap buffer. */
static void large_body_create(void **state)
{
	struct fx *f = *state;
	size_t n = 1 << 20;
	uint8_t *body = malloc(n);
	struct lp_msg *m;

	assert_non_null(body);
	fill(body, n, 7);
	m = lp_msg_create(f->pool, "x", 1, "k", 1, "\x80\x00", 2, body, n, 0);
	assert_non_null(m);
	assert_int_equal(m->body_len, n);
	assert_int_equal(m->body_heap, n);
	assert_int_equal(lp_msg_pool_large_bytes(f->pool), n);
	assert_int_equal(lp_msg_pool_available(f->pool), POOL_CAP - 1);
	assert_memory_equal(m->body, body, n);
	assert_memory_equal(m->props, "\x80\x00", 2);
	/* Fan-out: freed by the last reference only. */
	lp_msg_ref(m, 2);
	assert_false(lp_msg_release(m));
	assert_false(lp_msg_release(m));
	assert_int_equal(lp_msg_pool_large_bytes(f->pool), n);
	assert_true(lp_msg_release(m));
	assert_int_equal(lp_msg_pool_large_bytes(f->pool), 0);
	assert_int_equal(lp_msg_pool_available(f->pool), POOL_CAP);
	free(body);
}

/* The broker's way: an empty message, the header reserves, frames append. */
static void reserve_then_append(void **state)
{
	struct fx *f = *state;
	size_t n = 300001;
	uint8_t *body = malloc(n);
	struct lp_msg *m = lp_msg_create(f->pool, "", 0, "q", 1, NULL, 0, NULL, 0, 0);

	assert_non_null(body);
	assert_non_null(m);
	fill(body, n, 3);
	assert_int_equal(lp_msg_body_reserve(m, n), 0);
	assert_int_equal(m->body_len, 0);
	for (size_t off = 0; off < n;) {
		size_t k = n - off < 4088 ? n - off : 4088;
		memcpy(m->body + m->body_len, body + off, k);
		m->body_len += (uint32_t)k;
		off += k;
	}
	assert_int_equal(m->body_len, n);
	assert_memory_equal(m->body, body, n);
	/* A second reserve replaces the buffer: the budget counts the new size only. */
	assert_int_equal(lp_msg_body_reserve(m, 100000), 0);
	assert_int_equal(lp_msg_pool_large_bytes(f->pool), 100000);
	/* Back to a slot-sized body: the heap buffer goes, the slot serves. */
	assert_int_equal(lp_msg_body_reserve(m, BODY_MAX), 0);
	assert_int_equal(lp_msg_pool_large_bytes(f->pool), 0);
	assert_int_equal(m->body_heap, 0);
	memset(m->body, 0xAB, BODY_MAX); /* the slot is writable (ASan checks) */
	assert_int_equal(lp_msg_body_reserve(m, 100000), 0);
	/* Released while half written (a publish aborted): still freed. */
	assert_true(lp_msg_release(m));
	assert_int_equal(lp_msg_pool_large_bytes(f->pool), 0);
	free(body);
}

static void budget_and_max(void **state)
{
	struct fx *f = *state;
	struct lp_msg *m[4];

	assert_int_equal(lp_msg_pool_set_large(f->pool, 1000, 2500), 0);
	for (int i = 0; i < 4; i++)
		assert_non_null(m[i] = lp_msg_create(f->pool, NULL, 0, NULL, 0, NULL, 0, NULL, 0, 0));
	assert_int_equal(lp_msg_body_reserve(m[0], 1001), -EMSGSIZE);
	assert_int_equal(lp_msg_pool_large_bytes(f->pool), 0);
	assert_int_equal(lp_msg_body_reserve(m[0], 1000), 0);
	assert_int_equal(lp_msg_body_reserve(m[1], 1000), 0);
	/* 2000 of 2500 held: 1000 more is over, 500 fits exactly. */
	assert_int_equal(lp_msg_body_reserve(m[2], 1000), -ENOBUFS);
	assert_int_equal(m[2]->body_heap, 0);
	assert_int_equal(lp_msg_pool_large_bytes(f->pool), 2000);
	assert_int_equal(lp_msg_body_reserve(m[2], 500), 0);
	assert_int_equal(lp_msg_pool_large_bytes(f->pool), 2500);
	assert_int_equal(lp_msg_body_reserve(m[3], BODY_MAX + 1), -ENOBUFS);
	/* Within body_max needs no budget. */
	assert_int_equal(lp_msg_body_reserve(m[3], BODY_MAX), 0);
	/* lp_msg_create says why in errno, and takes no slot. */
	errno = 0;
	{
		uint8_t big[1001] = { 0 };
		uint32_t avail = lp_msg_pool_available(f->pool);

		assert_null(lp_msg_create(f->pool, NULL, 0, NULL, 0, NULL, 0, big, 900, 0));
		assert_int_equal(errno, ENOBUFS);
		assert_null(lp_msg_create(f->pool, NULL, 0, NULL, 0, NULL, 0, big, 1001, 0));
		assert_int_equal(errno, EMSGSIZE);
		assert_int_equal(lp_msg_pool_available(f->pool), avail);
	}
	/* A release gives its octets back: the refused size fits now. */
	assert_true(lp_msg_release(m[0]));
	assert_int_equal(lp_msg_pool_large_bytes(f->pool), 1500);
	assert_int_equal(lp_msg_body_reserve(m[3], 1000), 0);
	assert_int_equal(lp_msg_pool_large_bytes(f->pool), 2500);
	for (int i = 1; i < 4; i++)
		assert_true(lp_msg_release(m[i]));
	/* Heap bodies off: over body_max is too long. */
	assert_int_equal(lp_msg_pool_set_large(f->pool, 0, 0), 0);
	{
		uint8_t big[BODY_MAX + 1] = { 0 };

		assert_null(lp_msg_create(f->pool, NULL, 0, NULL, 0, NULL, 0, big, sizeof(big), 0));
		assert_int_equal(errno, EMSGSIZE);
	}
}

/* The pool frees heap bodies of messages still referenced at destroy (ASan
 * and the leak checker see the difference). */
static void destroy_frees_heap_bodies(void **state)
{
	struct lp_msg_pool *p = lp_msg_pool_create(2, 0, 8);
	struct lp_msg *m;

	(void)state;
	assert_non_null(p);
	m = lp_msg_create(p, NULL, 0, NULL, 0, NULL, 0, NULL, 0, 0);
	assert_non_null(m);
	assert_int_equal(lp_msg_body_reserve(m, 4096), 0);
	assert_int_equal(lp_msg_pool_large_bytes(p), 4096);
	lp_msg_pool_destroy(p);
}

/* Two threads create and release large messages, and release shared ones:
 * the budget is never exceeded and ends at zero. */
#define MT_ROUNDS 4000
#define MT_SIZE 3000
#define MT_BUDGET (4 * MT_SIZE)

struct mt_arg {
	struct lp_msg_pool *pool;
	struct lp_msg **shared;
	unsigned n_shared;
	unsigned refused, bad;
};

static void *mt_worker(void *p)
{
	struct mt_arg *a = p;
	uint8_t body[MT_SIZE];

	for (unsigned i = 0; i < a->n_shared; i++)
		lp_msg_release(a->shared[i]);
	for (unsigned i = 0; i < MT_ROUNDS; i++) {
		memset(body, (int)(i & 0xFF), sizeof(body));
		struct lp_msg *m = lp_msg_create(a->pool, NULL, 0, NULL, 0, NULL, 0, body, sizeof(body), 0);

		if (lp_msg_pool_large_bytes(a->pool) > MT_BUDGET)
			a->bad++;
		if (m == NULL) {
			if (errno != ENOBUFS && errno != ENOSPC)
				a->bad++;
			a->refused++;
			continue;
		}
		if (m->body[0] != (uint8_t)i || m->body[MT_SIZE - 1] != (uint8_t)i)
			a->bad++;
		if (!lp_msg_release(m))
			a->bad++;
	}
	return NULL;
}

static void concurrent_budget(void **state)
{
	struct fx *f = *state;
	struct lp_msg *shared[3];
	uint8_t body[MT_SIZE] = { 0 };
	struct mt_arg a[2];
	pthread_t t[2];

	assert_int_equal(lp_msg_pool_set_large(f->pool, MT_SIZE, MT_BUDGET), 0);
	for (int i = 0; i < 3; i++) {
		shared[i] = lp_msg_create(f->pool, NULL, 0, NULL, 0, NULL, 0, body, sizeof(body), 0);
		assert_non_null(shared[i]);
		lp_msg_ref(shared[i], 1); /* both threads hold it */
	}
	assert_int_equal(lp_msg_pool_large_bytes(f->pool), 3 * MT_SIZE);
	for (int k = 0; k < 2; k++) {
		a[k] = (struct mt_arg){ .pool = f->pool, .shared = shared, .n_shared = 3 };
		assert_int_equal(pthread_create(&t[k], NULL, mt_worker, &a[k]), 0);
	}
	for (int k = 0; k < 2; k++)
		assert_int_equal(pthread_join(t[k], NULL), 0);
	assert_int_equal(a[0].bad, 0);
	assert_int_equal(a[1].bad, 0);
	/* Most rounds got a body (the budget has room for at least one). */
	assert_true(a[0].refused + a[1].refused < MT_ROUNDS);
	assert_int_equal(lp_msg_pool_large_bytes(f->pool), 0);
	assert_int_equal(lp_msg_pool_available(f->pool), POOL_CAP);
}

/* Properties over props_max (a big headers table) get heap storage from the
 * same budget; the body then starts the slot; everything goes back at release. */
static void large_props(void **state)
{
	struct fx *f = *state;
	struct lp_msg *m = lp_msg_create(f->pool, "x", 1, "k", 1, NULL, 0, NULL, 0, 0);
	uint8_t props[100], body[BODY_MAX];
	uint8_t *slot;

	assert_non_null(m);
	slot = m->props;
	fill(props, sizeof(props), 3);
	fill(body, sizeof(body), 4);
	/* Within props_max: the slot, the body right after the properties. */
	assert_int_equal(lp_msg_props_reserve(m, 16), 0);
	m->props_len = 16;
	assert_ptr_equal(m->props, slot);
	assert_int_equal(lp_msg_body_reserve(m, 8), 0);
	assert_ptr_equal(m->body, slot + 16);
	/* Over it: heap, counted; an inline body takes the slot. */
	assert_int_equal(lp_msg_props_reserve(m, sizeof(props)), 0);
	assert_ptr_not_equal(m->props, slot);
	assert_int_equal(lp_msg_pool_large_bytes(f->pool), sizeof(props));
	memcpy(m->props, props, sizeof(props));
	m->props_len = sizeof(props);
	assert_int_equal(lp_msg_body_reserve(m, sizeof(body)), 0);
	assert_ptr_equal(m->body, slot);
	memcpy(m->body, body, sizeof(body));
	m->body_len = sizeof(body);
	assert_memory_equal(m->props, props, sizeof(props));
	assert_memory_equal(m->body, body, sizeof(body));
	/* A body over body_max too: both on the heap. */
	assert_int_equal(lp_msg_body_reserve(m, BODY_MAX + 1), 0);
	assert_int_equal(lp_msg_pool_large_bytes(f->pool), sizeof(props) + BODY_MAX + 1);
	assert_memory_equal(m->props, props, sizeof(props));
	/* Budget: properties are refused like bodies. */
	assert_int_equal(lp_msg_pool_set_large(f->pool, LP_MSG_LARGE_MAX_DEFAULT, 150), 0);
	struct lp_msg *m2 = lp_msg_create(f->pool, "", 0, "", 0, NULL, 0, NULL, 0, 0);

	assert_non_null(m2);
	assert_int_equal(lp_msg_props_reserve(m2, 100), -ENOBUFS);
	assert_ptr_not_equal(m2->props, NULL);
	assert_true(lp_msg_release(m2));
	assert_true(lp_msg_release(m));
	assert_int_equal(lp_msg_pool_large_bytes(f->pool), 0);
	/* The slot serves the next message again. */
	m = lp_msg_create(f->pool, "", 0, "", 0, props, 16, body, 8, 0);
	assert_non_null(m);
	assert_memory_equal(m->props, props, 16);
	assert_ptr_equal(m->body, m->props + 16);
	assert_true(lp_msg_release(m));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(small_body_in_slot, setup, teardown),
		cmocka_unit_test_setup_teardown(large_body_create, setup, teardown),
		cmocka_unit_test_setup_teardown(reserve_then_append, setup, teardown),
		cmocka_unit_test_setup_teardown(budget_and_max, setup, teardown),
		cmocka_unit_test(destroy_frees_heap_bodies),
		cmocka_unit_test_setup_teardown(large_props, setup, teardown),
		cmocka_unit_test_setup_teardown(concurrent_budget, setup, teardown),
	};

	return cmocka_run_group_tests_name("broker-message", tests, NULL, NULL);
}
