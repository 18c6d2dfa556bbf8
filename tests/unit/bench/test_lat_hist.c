/* SPDX-License-Identifier: MIT */
/*
 * amqp-load's latency histograms (bench/lat_hist.c): nearest-rank percentiles
 * exact at 1 us on known data, the overflow beyond the limit, merging, and the
 * coarse per-second histogram's bucket bounds.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "lat_hist.h"

static int setup(void **state)
{
	struct lp_hist *h = malloc(sizeof(*h));

	if (h == NULL || lp_hist_init(h, LP_HIST_DEFAULT_US) != 0)
		return -1;
	*state = h;
	return 0;
}

static int teardown(void **state)
{
	struct lp_hist *h = *state;

	lp_hist_free(h);
	assert_null(h->bucket);
	free(h);
	return 0;
}

/* 1..100 us, shuffled: every percentile is a known sample. */
static void test_percentiles_1_to_100(void **state)
{
	struct lp_hist *h = *state;

	for (uint64_t i = 0; i < 100; i++)
		lp_hist_add(h, ((i * 37) % 100 + 1) * 1000 + 999); /* 999 ns below the next us */
	assert_int_equal(h->count, 100);
	assert_int_equal(lp_hist_percentile_us(h, 0), 1);
	assert_int_equal(lp_hist_percentile_us(h, 1), 1);
	assert_int_equal(lp_hist_percentile_us(h, 50), 50);
	assert_int_equal(lp_hist_percentile_us(h, 50.5), 51);
	assert_int_equal(lp_hist_percentile_us(h, 99), 99);
	assert_int_equal(lp_hist_percentile_us(h, 99.9), 100);
	assert_int_equal(lp_hist_percentile_us(h, 100), 100);
	assert_int_equal(h->min_ns, 1999);
	assert_int_equal(h->max_ns, 100999);
	assert_float_equal(lp_hist_mean_us(h), 51.499, 1e-9);
}

/* 99.9% of 1000 samples is rank 999 exactly (no floating-point round up). */
static void test_p999_rank_exact(void **state)
{
	struct lp_hist *h = *state;

	for (uint64_t i = 1; i <= 1000; i++)
		lp_hist_add(h, i * 1000);
	assert_int_equal(lp_hist_percentile_us(h, 99.9), 999);
	assert_int_equal(lp_hist_percentile_us(h, 99), 990);
	assert_int_equal(lp_hist_percentile_us(h, 50), 500);
}

/* A skewed distribution: 990 at 10 us, 9 at 2 ms, 1 at 5 s. */
static void test_skewed(void **state)
{
	struct lp_hist *h = *state;

	for (int i = 0; i < 990; i++)
		lp_hist_add(h, 10000);
	for (int i = 0; i < 9; i++)
		lp_hist_add(h, 2000000);
	lp_hist_add(h, 5000000000ull);
	assert_int_equal(lp_hist_percentile_us(h, 50), 10);
	assert_int_equal(lp_hist_percentile_us(h, 99), 10);
	assert_int_equal(lp_hist_percentile_us(h, 99.1), 2000);
	assert_int_equal(lp_hist_percentile_us(h, 99.9), 2000);
	assert_int_equal(lp_hist_percentile_us(h, 99.95), 5000000);
	assert_int_equal(h->overflow, 0);
}

/* Beyond 10 s: counted in overflow; a rank there reports the maximum. */
static void test_overflow(void **state)
{
	struct lp_hist *h = *state;

	lp_hist_add(h, 5000);
	lp_hist_add(h, 12000000000ull);
	lp_hist_add(h, 15000000000ull);
	assert_int_equal(h->count, 3);
	assert_int_equal(h->overflow, 2);
	assert_int_equal(lp_hist_percentile_us(h, 33), 5);
	assert_int_equal(lp_hist_percentile_us(h, 50), 15000000);
	assert_int_equal(lp_hist_percentile_us(h, 100), 15000000);
}

static void test_empty(void **state)
{
	struct lp_hist *h = *state;

	assert_int_equal(lp_hist_percentile_us(h, 50), 0);
	assert_float_equal(lp_hist_mean_us(h), 0, 0);
}

static void test_merge(void **state)
{
	struct lp_hist *h = *state, b, small;

	assert_int_equal(lp_hist_init(&b, LP_HIST_DEFAULT_US), 0);
	for (uint64_t i = 1; i <= 50; i++)
		lp_hist_add(h, i * 1000);
	for (uint64_t i = 51; i <= 100; i++)
		lp_hist_add(&b, i * 1000);
	lp_hist_add(&b, 20000000000ull);
	assert_int_equal(lp_hist_merge(h, &b), 0);
	assert_int_equal(h->count, 101);
	assert_int_equal(h->overflow, 1);
	assert_int_equal(h->min_ns, 1000);
	assert_int_equal(h->max_ns, 20000000000ull);
	assert_int_equal(lp_hist_percentile_us(h, 50), 51);
	assert_int_equal(lp_hist_percentile_us(h, 99), 100);
	lp_hist_free(&b);

	assert_int_equal(lp_hist_init(&small, 10), 0);
	assert_int_equal(lp_hist_merge(h, &small), -EINVAL);
	lp_hist_free(&small);
	assert_int_equal(lp_hist_init(&small, 0), -EINVAL);
}

static void test_coarse(void **state)
{
	static struct lp_hist_coarse c;
	uint64_t counts[LP_HIST_COARSE_N] = {0}, us;

	(void)state;
	/* Exact below 16 us; above, each bucket starts at its lower bound and
	 * is less than 12.5% wide. */
	for (uint64_t v = 0; v < 16; v++)
		assert_int_equal(lp_hist_coarse_value(lp_hist_coarse_index(v)), v);
	for (uint64_t v = 16; v < 5000000; v = v * 9 / 8 + 1) {
		uint64_t lo = lp_hist_coarse_value(lp_hist_coarse_index(v));

		assert_true(lo <= v);
		assert_true((v - lo) * 8 <= lo);
	}
	assert_false(lp_hist_coarse_percentile(counts, 50, &us));
	for (int i = 0; i < 99; i++)
		lp_hist_coarse_add(&c, 100);
	lp_hist_coarse_add(&c, 10000);
	lp_hist_coarse_read(&c, counts);
	assert_true(lp_hist_coarse_percentile(counts, 50, &us));
	assert_int_equal(us, 96); /* [96, 104) holds 100 */
	assert_true(lp_hist_coarse_percentile(counts, 100, &us));
	assert_int_equal(us, 9216); /* [9216, 10240) holds 10000 */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_percentiles_1_to_100, setup, teardown),
		cmocka_unit_test_setup_teardown(test_p999_rank_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_skewed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_merge, setup, teardown),
		cmocka_unit_test(test_coarse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
