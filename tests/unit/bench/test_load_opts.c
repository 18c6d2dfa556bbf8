/* SPDX-License-Identifier: MIT */
/*
 * amqp-load's options (bench/load_opts.c): scenario files with and without
 * sections, common keys, command-line overrides, and the errors a user sees
 * for a bad file or a bad combination.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "load_opts.h"

static char path[64];

static void write_file(const char *text)
{
	FILE *f;

	strcpy(path, "/tmp/lp-test-scenario-XXXXXX");
	close(mkstemp(path));
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int teardown(void **state)
{
	(void)state;
	assert_int_equal(unlink(path), 0);
	return 0;
}

static void test_sections(void **state)
{
	static struct lp_load_opts o[4];
	char err[256];

	(void)state;
	write_file("# common\ntime = 3\nsize = 100\n\n[a]\nautoack = yes\n"
		   "[b]  \n  size = 1024  # one KiB\nconfirm=50\nflag = persistent\n"
		   "[c]\nfanout-queues = 8\nrate = 1000\n");
	assert_int_equal(lp_load_scenarios_read(path, NULL, o, 4, err, sizeof(err)), 3);
	assert_string_equal(o[0].name, "a");
	assert_true(o[0].autoack);
	assert_int_equal(o[0].size, 100);
	assert_int_equal(o[0].time_s, 3);
	assert_string_equal(o[1].name, "b");
	assert_false(o[1].autoack);
	assert_int_equal(o[1].size, 1024);
	assert_int_equal(o[1].confirm, 50);
	assert_true(o[1].persistent);
	assert_int_equal(o[2].fanout_queues, 8);
	assert_int_equal(o[2].rate, 1000);
	assert_int_equal(o[2].size, 100);
	assert_int_equal(o[2].producers, 1); /* default kept */

	assert_int_equal(lp_load_scenarios_read(path, "b", o, 4, err, sizeof(err)), 1);
	assert_string_equal(o[0].name, "b");
	assert_int_equal(lp_load_scenarios_read(path, "zz", o, 4, err, sizeof(err)), -ENOENT);
	assert_int_equal(lp_load_scenarios_read(path, NULL, o, 2, err, sizeof(err)), -E2BIG);
}

static void test_no_sections_and_override(void **state)
{
	static struct lp_load_opts o[1];
	char err[256], *argv[] = {"amqp-load", "-s", "2048", "--queues", "4", "-a", NULL};

	(void)state;
	write_file("producers = 2\nsize = 64\n");
	assert_int_equal(lp_load_scenarios_read(path, NULL, o, 1, err, sizeof(err)), 1);
	assert_int_equal(strncmp(o[0].name, "lp-test-scenario-", 17), 0);
	assert_int_equal(o[0].producers, 2);
	assert_int_equal(lp_load_opts_argv(&o[0], 6, argv, err, sizeof(err)), 0);
	assert_int_equal(o[0].size, 2048);
	assert_int_equal(o[0].queues, 4);
	assert_true(o[0].autoack);
	assert_int_equal(o[0].producers, 2);
	assert_int_equal(lp_load_opts_check(&o[0], err, sizeof(err)), 0);
}

static void test_bad_lines(void **state)
{
	static struct lp_load_opts o[1];
	char err[256];

	(void)state;
	write_file("size = 64\n[x]\nsize = -3\n");
	assert_int_equal(lp_load_scenarios_read(path, NULL, o, 1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "line 3"));
	assert_int_equal(unlink(path), 0);
	write_file("[x]\nbogus = 1\n");
	assert_int_equal(lp_load_scenarios_read(path, NULL, o, 1, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "line 2"));
	assert_int_equal(unlink(path), 0);
	write_file("[x\n");
	assert_int_equal(lp_load_scenarios_read(path, NULL, o, 1, err, sizeof(err)), -EINVAL);
	assert_int_equal(unlink(path), 0);
	write_file("autoack = maybe\n");
	assert_int_equal(lp_load_scenarios_read(path, NULL, o, 1, err, sizeof(err)), -EINVAL);
	assert_int_equal(unlink(path), 0);
	write_file("time = 601\n");
	assert_int_equal(lp_load_scenarios_read(path, NULL, o, 1, err, sizeof(err)), -EINVAL);
}

static void test_checks(void **state)
{
	struct lp_load_opts o;
	char err[256], *a1[] = {"amqp-load", "-s", "10", NULL}, *a2[] = {"amqp-load", "-q", "10", "-A", "20", NULL},
		       *a3[] = {"amqp-load", "--queues", "2", "--fanout-queues", "2", NULL},
		       *a4[] = {"amqp-load", "-x", NULL}, *a5[] = {"amqp-load", "--nope", NULL},
		       *a6[] = {"amqp-load", "--uri", "http://x", NULL};

	(void)state;
	lp_load_opts_default(&o);
	assert_int_equal(lp_load_opts_check(&o, err, sizeof(err)), 0);
	assert_int_equal(lp_load_opts_argv(&o, 3, a1, err, sizeof(err)), 0);
	assert_int_equal(lp_load_opts_check(&o, err, sizeof(err)), -EINVAL);
	lp_load_opts_default(&o);
	assert_int_equal(lp_load_opts_argv(&o, 5, a2, err, sizeof(err)), 0);
	assert_int_equal(lp_load_opts_check(&o, err, sizeof(err)), -EINVAL);
	lp_load_opts_default(&o);
	assert_int_equal(lp_load_opts_argv(&o, 5, a3, err, sizeof(err)), 0);
	assert_int_equal(lp_load_opts_check(&o, err, sizeof(err)), -EINVAL);
	assert_int_equal(lp_load_opts_argv(&o, 2, a4, err, sizeof(err)), -EINVAL);
	assert_int_equal(lp_load_opts_argv(&o, 2, a5, err, sizeof(err)), -EINVAL);
	lp_load_opts_default(&o);
	assert_int_equal(lp_load_opts_argv(&o, 3, a6, err, sizeof(err)), 0);
	assert_int_equal(lp_load_opts_check(&o, err, sizeof(err)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_sections, teardown),
		cmocka_unit_test_teardown(test_no_sections_and_override, teardown),
		cmocka_unit_test_teardown(test_bad_lines, teardown),
		cmocka_unit_test(test_checks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
