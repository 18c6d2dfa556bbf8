/* SPDX-License-Identifier: MIT */
/*
 * amqp-load's delivery accounting (bench/seq_track.c): lost, duplicated and
 * out-of-order deliveries are counted exactly, across chunk boundaries, from
 * several consumer threads at once, and every chunk is released.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "seq_track.h"

#define CHUNK ((uint64_t)1 << LP_SEQ_CHUNK_SHIFT)

static int setup(void **state)
{
	struct lp_seq *s = calloc(1, sizeof(*s));

	*state = s;
	return s ? 0 : -1;
}

static unsigned chunks_held(const struct lp_seq *s)
{
	unsigned n = 0;

	for (unsigned i = 0; i < LP_SEQ_MAX_CHUNKS; i++)
		n += atomic_load(&s->chunk[i]) != NULL;
	return n;
}

static int teardown(void **state)
{
	struct lp_seq *s = *state;

	lp_seq_free(s);
	assert_int_equal(chunks_held(s), 0);
	free(s);
	return 0;
}

static void test_all_in_order(void **state)
{
	struct lp_seq *s = *state;

	for (uint64_t i = 0; i < 10000; i++)
		assert_int_equal(lp_seq_mark(s, i), 1);
	assert_int_equal(lp_seq_missing(s, 10000), 0);
	assert_int_equal(atomic_load(&s->distinct), 10000);
	assert_int_equal(atomic_load(&s->duplicates), 0);
	/* Published 10003, three never arrived. */
	assert_int_equal(lp_seq_missing(s, 10003), 3);
	assert_int_equal(chunks_held(s), 1);
}

static void test_lost_and_duplicated(void **state)
{
	struct lp_seq *s = *state;
	uint64_t lost = 0, dups = 0;

	for (uint64_t i = 0; i < 1000; i++) {
		if (i % 7 == 3) {
			lost++;
			continue;
		}
		assert_int_equal(lp_seq_mark(s, i), 1);
		if (i % 100 == 0) {
			assert_int_equal(lp_seq_mark(s, i), 0); /* redelivered */
			dups++;
		}
	}
	assert_int_equal(lp_seq_missing(s, 1000), lost);
	assert_int_equal(dups, 9); /* 500 is among the lost */
	assert_int_equal(atomic_load(&s->duplicates), dups);
	assert_int_equal(atomic_load(&s->distinct), 1000 - lost);
	assert_true(lp_seq_test(s, 0));
	assert_false(lp_seq_test(s, 3));
	assert_false(lp_seq_test(s, 1000));
	/* Counting below n only: numbers 0..9 hold one loss (3). */
	assert_int_equal(lp_seq_missing(s, 10), 1);
	assert_int_equal(lp_seq_missing(s, 0), 0);
}

static void test_chunk_boundaries(void **state)
{
	struct lp_seq *s = *state;

	assert_int_equal(lp_seq_mark(s, CHUNK - 1), 1);
	assert_int_equal(lp_seq_mark(s, CHUNK), 1);
	assert_int_equal(lp_seq_mark(s, 3 * CHUNK + 5), 1);
	assert_int_equal(chunks_held(s), 3); /* chunk 2 never touched */
	assert_int_equal(lp_seq_missing(s, CHUNK + 1), CHUNK - 1);
	assert_int_equal(lp_seq_missing(s, 3 * CHUNK + 6), 3 * CHUNK + 3);
	assert_int_equal(lp_seq_mark(s, LP_SEQ_LIMIT - 1), 1);
	assert_int_equal(lp_seq_mark(s, LP_SEQ_LIMIT), -ERANGE);
	assert_false(lp_seq_test(s, LP_SEQ_LIMIT));
}

static void test_order(void **state)
{
	struct lp_seq_order o = {0};
	/* 0 1 2 5 (gap: not out of order) 4 (late) 6 3 (late) 7 7 (late) */
	const uint64_t seq[] = {0, 1, 2, 5, 4, 6, 3, 7, 7};
	const bool in_order[] = {true, true, true, true, false, true, false, true, false};

	(void)state;
	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++)
		assert_int_equal(lp_seq_order_check(&o, seq[i]), in_order[i]);
	assert_int_equal(o.late, 3);
	assert_int_equal(o.next, 8);
}

struct marker {
	struct lp_seq *s;
	uint64_t from, step, n;
};

static void *mark_some(void *arg)
{
	struct marker *m = arg;

	for (uint64_t i = m->from; i < m->n; i += m->step)
		lp_seq_mark(m->s, i);
	return NULL;
}

/* Four consumers of one queue, overlapping: every number is marked by two
 * of them, so exactly half of all marks are duplicates, none is lost. */
static void test_concurrent(void **state)
{
	struct lp_seq *s = *state;
	const uint64_t n = 2 * CHUNK + 1000;
	struct marker m[4];
	pthread_t t[4];

	for (int i = 0; i < 4; i++) {
		m[i] = (struct marker){s, (uint64_t)(i % 2), 2, n};
		assert_int_equal(pthread_create(&t[i], NULL, mark_some, &m[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(lp_seq_missing(s, n), 0);
	assert_int_equal(atomic_load(&s->distinct), n);
	assert_int_equal(atomic_load(&s->duplicates), n);
	assert_int_equal(chunks_held(s), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_all_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost_and_duplicated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chunk_boundaries, setup, teardown),
		cmocka_unit_test(test_order),
		cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
