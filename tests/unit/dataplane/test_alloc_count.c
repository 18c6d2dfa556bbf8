/* SPDX-License-Identifier: MIT */
/*
 * dataplane/alloc_count.c: linked with the same --wrap arguments as
 * lepus-dataplane-alloccount, so that a check which sees nothing fails here
 * first. An EAL with two lcores; lcore 1 is a worker: its allocations count
 * once it armed and not before or after, the main lcore and a non-EAL
 * thread cannot arm, and the report names the counts and tells two call
 * sites apart.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "alloc_count.h"

#define WORKER 1

/* Stores through it keep the compiler from eliding a malloc/free pair. */
static void *volatile sink;
static int arm_rc;

static int group_setup(void **state)
{
	char prefix[64];
	(void)state;
	snprintf(prefix, sizeof(prefix), "--file-prefix=lp-allocc-%d", (int)getpid());
	char *argv[] = {"test", "--no-huge", "-m", "128", "--no-pci", "--no-telemetry",
			"--log-level=error", prefix, "--lcores", "0@0,1@0", NULL};

	return rte_eal_init(10, argv) < 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
	(void)state;
	rte_eal_cleanup();
	return 0;
}

static void on_worker(lcore_function_t *fn)
{
	assert_int_equal(rte_eal_remote_launch(fn, NULL, WORKER), 0);
	assert_int_equal(rte_eal_wait_lcore(WORKER), 0);
}

static int allocate_unarmed(void *arg)
{
	(void)arg;
	sink = malloc(32);
	free(sink);
	sink = calloc(2, 16);
	free(sink);
	return 0;
}

static int allocate_armed(void *arg)
{
	(void)arg;
	arm_rc = lp_alloc_count_arm();
	sink = malloc(32); /* 1 */
	sink = realloc(sink, 64); /* 2 */
	free(sink);
	sink = strdup("lepus"); /* 3 */
	free(sink);
	sink = rte_zmalloc("t", 64, 0); /* 4 */
	rte_free(sink);
	lp_alloc_count_disarm();
	sink = malloc(32);
	free(sink);
	return 0;
}

static int allocate_at_two_sites(void *arg)
{
	(void)arg;
	lp_alloc_count_arm();
	for (int i = 0; i < 3; i++) {
		sink = malloc(8);
		free(sink);
	}
	sink = malloc(8);
	free(sink);
	lp_alloc_count_disarm();
	return 0;
}

static void *non_eal_thread(void *arg)
{
	(void)arg;
	arm_rc = lp_alloc_count_arm();
	sink = malloc(32);
	free(sink);
	return NULL;
}

/* Runs first: nothing has armed yet. */
static void unarmed_worker_counts_nothing(void **state)
{
	(void)state;
	on_worker(allocate_unarmed);
	assert_int_equal(lp_alloc_count_get(WORKER), 0);
}

static void armed_worker_counts_each_call(void **state)
{
	(void)state;
	uint64_t before = lp_alloc_count_get(WORKER);

	on_worker(allocate_armed);
	assert_int_equal(arm_rc, 0);
	assert_int_equal(lp_alloc_count_get(WORKER) - before, 4);
}

static void main_lcore_and_other_threads_cannot_arm(void **state)
{
	(void)state;
	pthread_t t;
	unsigned main_lcore = rte_get_main_lcore();

	assert_int_equal(lp_alloc_count_arm(), -EPERM);
	sink = malloc(32);
	free(sink);
	assert_int_equal(lp_alloc_count_get(main_lcore), 0);
	assert_int_equal(pthread_create(&t, NULL, non_eal_thread, NULL), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(arm_rc, -EINVAL);
	assert_int_equal(lp_alloc_count_get(main_lcore), 0);
}

static void report_gives_counts_and_sites(void **state)
{
	(void)state;
	char *text = NULL, line[64];
	size_t len = 0;
	uint64_t before = lp_alloc_count_get(WORKER);

	on_worker(allocate_at_two_sites);
	assert_int_equal(lp_alloc_count_get(WORKER) - before, 4);
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	lp_alloc_count_report(f);
	fclose(f);
	snprintf(line, sizeof(line), "worker allocations after start-up: lcore %d: %" PRIu64 "\n",
		 WORKER, before + 4);
	assert_non_null(strstr(text, line));
	assert_non_null(strstr(text, "worker allocation site: lcore 1: 3 x malloc at"));
	assert_non_null(strstr(text, "worker allocation site: lcore 1: 1 x malloc at"));
	assert_non_null(strstr(text, "test_alloc_count+0x"));
	assert_null(strstr(text, "lcore 0:"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(unarmed_worker_counts_nothing),
		cmocka_unit_test(armed_worker_counts_each_call),
		cmocka_unit_test(main_lcore_and_other_threads_cannot_arm),
		cmocka_unit_test(report_gives_counts_and_sites),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
