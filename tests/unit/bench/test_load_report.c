/* SPDX-License-Identifier: MIT */
/*
 * The reports of amqp-load and lepus-bench (bench/load_report.c) on a known
 * run: the text summary line by line, the JSON summary's keys in order and
 * their values (bench/compare and the integration tests read them), the
 * per-second progress line on a pipe and on a tty, and the accounting of
 * the sequence trackers into lost, duplicated and first-missing numbers.
 * Output goes to open_memstream buffers.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "lat_hist.h"
#include "load_opts.h"
#include "load_report.h"
#include "seq_track.h"

#define T0 7000000000ull /* the run's start, in ns */

struct fixture {
	struct lp_load_opts o;
	struct lp_hist hist;
	struct lp_load_report rep;
	char *buf;
	size_t len;
	FILE *f;
};

/* 1..100 us, each 999 ns below the next microsecond: min 1, p50 50, p99 99,
 * p99.9 and max 100, mean 51.499 us. */
static int setup(void **state)
{
	struct fixture *x = calloc(1, sizeof(*x));
	const struct lp_seq_order late = {.next = 10, .late = 5};

	if (x == NULL || lp_hist_init(&x->hist, LP_HIST_DEFAULT_US) != 0)
		return -1;
	for (uint64_t i = 0; i < 100; i++)
		lp_hist_add(&x->hist, ((i * 37) % 100 + 1) * 1000 + 999);
	lp_load_opts_default(&x->o);
	snprintf(x->o.name, sizeof(x->o.name), "1p1c");
	x->o.size = 125000;
	x->o.confirm = 16;
	x->o.qos = 100;
	x->o.multi_ack = 10;
	x->rep = (struct lp_load_report){
		.o = &x->o,
		.host = "198.18.0.1",
		.exchange = "",
		.type = "direct",
		.n_prod = 1,
		.n_cons = 1,
		.n_queues = 1,
		.hist = &x->hist,
		.t = {.published = 1000, .confirmed = 990, .nacked = 2, .returned = 1, .blocked = 3,
		      .delivered = 1000, .expected = 1000},
		.t0 = T0,
	};
	/* Published for 2 s, delivered for 2.5 s: 4 foreign bodies, 5 late. */
	lp_load_report_producer(&x->rep, T0 + 2000000000ull);
	lp_load_report_consumer(&x->rep, 4, T0 + 2500000000ull, &late, 1);
	lp_load_report_rates(&x->rep, 1e9, x->o.size);
	x->f = open_memstream(&x->buf, &x->len);
	if (x->f == NULL)
		return -1;
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *x = *state;

	if (x->f != NULL)
		fclose(x->f);
	free(x->buf);
	lp_hist_free(&x->hist);
	assert_null(x->hist.bucket);
	free(x);
	return 0;
}

/* What was written so far, NUL-terminated. */
static const char *output(struct fixture *x)
{
	assert_int_equal(fflush(x->f), 0);
	return x->buf;
}

/* The keys of object o in order, comma-separated. */
static void keys_of(const json_t *o, char *out, size_t len)
{
	const char *k;
	json_t *v;
	size_t n = 0;

	out[0] = '\0';
	json_object_foreach((json_t *)o, k, v) {
		int w = snprintf(out + n, len - n, "%s%s", n ? "," : "", k);

		assert_true(w > 0 && (size_t)w < len - n);
		n += (size_t)w;
	}
}

static json_t *parse_one_line(struct fixture *x)
{
	const char *s = output(x);
	json_error_t e;
	json_t *root;

	/* One line: the object and a newline, nothing else. */
	assert_non_null(strchr(s, '\n'));
	assert_int_equal(strchr(s, '\n') - s + 1, (long)strlen(s));
	root = json_loads(s, 0, &e);
	assert_non_null(root);
	return root;
}

/* Writes rep's JSON and checks its one line, the keys of the object and of
 * its "config" in order; returns the parsed object (the caller frees it). */
static json_t *json_with_keys(struct fixture *x, const char *root_keys, const char *cfg_keys)
{
	char keys[1024];
	json_t *root;

	assert_int_equal(lp_load_report_json(&x->rep, x->f), 0);
	root = parse_one_line(x);
	keys_of(root, keys, sizeof(keys));
	assert_string_equal(keys, root_keys);
	keys_of(json_object_get(root, "config"), keys, sizeof(keys));
	assert_string_equal(keys, cfg_keys);
	return root;
}

/* One expected member of a JSON object: kind 'i' integer, 'r' real,
 * 's' string, 'b' boolean. */
struct member {
	const char *key;
	char kind;
	json_int_t i;
	double r;
	const char *s;
};

#define M_INT(k, v) {.key = (k), .kind = 'i', .i = (v)}
#define M_REAL(k, v) {.key = (k), .kind = 'r', .r = (v)}
#define M_STR(k, v) {.key = (k), .kind = 's', .s = (v)}
#define M_BOOL(k, v) {.key = (k), .kind = 'b', .i = (v)}

static void assert_members(const json_t *o, const struct member *m, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		json_t *j = json_object_get(o, m[k].key);

		if (j == NULL)
			fail_msg("no key %s", m[k].key);
		switch (m[k].kind) {
		case 'i':
			assert_true(json_is_integer(j));
			assert_int_equal(json_integer_value(j), m[k].i);
			break;
		case 'r':
			assert_true(json_is_real(j));
			assert_float_equal(json_real_value(j), m[k].r, 1e-9);
			break;
		case 's':
			assert_string_equal(json_string_value(j), m[k].s);
			break;
		default:
			assert_true(json_is_boolean(j));
			assert_int_equal(json_is_true(j), m[k].i);
		}
	}
}

static void test_rates(void **state)
{
	struct fixture *x = *state;
	const struct lp_seq_order order[2] = {{.late = 1}, {.late = 2}};

	assert_float_equal(x->rep.pub_s, 2.0, 1e-12);
	assert_float_equal(x->rep.dlv_s, 2.5, 1e-12);
	assert_float_equal(x->rep.pub_rate, 500, 1e-9);
	assert_float_equal(x->rep.dlv_rate, 400, 1e-9);
	assert_float_equal(x->rep.gbit, 0.4, 1e-12); /* 400/s x 125000 B x 8 */

	/* Earlier ends do not move the latest; a second consumer adds up. */
	lp_load_report_producer(&x->rep, T0 + 1);
	lp_load_report_consumer(&x->rep, 1, T0 + 2, order, 2);
	assert_int_equal(x->rep.pub_end, T0 + 2000000000ull);
	assert_int_equal(x->rep.dlv_end, T0 + 2500000000ull);
	assert_int_equal(x->rep.foreign, 5);
	assert_int_equal(x->rep.out_of_order, 8);

	/* The same run on a 2 GHz TSC clock: half the seconds. */
	lp_load_report_rates(&x->rep, 2e9, x->o.size);
	assert_float_equal(x->rep.pub_s, 1.0, 1e-12);
	assert_float_equal(x->rep.dlv_rate, 800, 1e-9);

	/* Nothing after the start: 0 s and zero rates, not a wrapped difference. */
	x->rep.pub_end = T0;
	x->rep.dlv_end = T0 - 1;
	lp_load_report_rates(&x->rep, 1e9, x->o.size);
	assert_float_equal(x->rep.pub_s, 0, 0);
	assert_float_equal(x->rep.dlv_s, 0, 0);
	assert_float_equal(x->rep.pub_rate, 0, 0);
	assert_float_equal(x->rep.dlv_rate, 0, 0);
	assert_float_equal(x->rep.gbit, 0, 0);
}

/* amqp-load's summary: no rate note, no busy line. */
static void test_print_clean_run(void **state)
{
	struct fixture *x = *state;

	x->o.rate = 1000; /* no ", rate-limited" without rate_note */
	lp_load_report_print(&x->rep, x->f);
	assert_string_equal(output(x),
		"== 1p1c: 1 producer(s), 1 consumer(s), 1 queue(s), 125000 B, confirm 16, manual ack, qos 100\n"
		"   published  1000 in 2.00 s (500 msgs/s)\n"
		"   confirmed  990 (nacked 2, returned 1)\n"
		"   delivered  1000 of 1000 expected in 2.50 s (400 msgs/s, 0.400 Gbit/s payload)\n"
		"   latency    min 1 us, p50 50 us, p99 99 us, p99.9 100 us, max 100 us, mean 51.5 us (100 samples, 0 over 10 s)\n"
		"   lost 0, duplicated 0, out-of-order 5, foreign 4, blocked 3\n");
}

/* Losses: what the queues kept and the first missing numbers; lepus-bench's
 * rate note, fanout, error and busy line. */
static void test_print_losses(void **state)
{
	struct fixture *x = *state;

	x->o.rate = 1000;
	x->o.autoack = true;
	x->o.persistent = true;
	x->rep.rate_note = true;
	x->rep.fanout = true;
	x->rep.n_queues = 2;
	x->rep.error = "consumer 0: AMQP connection ended: 320 CONNECTION_FORCED";
	x->rep.lost = 7;
	x->rep.duplicated = 1;
	x->rep.drain_timeout = true;
	x->rep.left_known = true;
	x->rep.left_in_queues = 3;
	x->rep.missing_n = 2;
	x->rep.missing[0].producer = 0;
	x->rep.missing[0].seq = 17;
	x->rep.missing[1].producer = 2;
	x->rep.missing[1].seq = 4;
	x->rep.has_busy = true;
	x->rep.busy = 0.874;
	lp_load_report_print(&x->rep, x->f);
	assert_string_equal(output(x),
		"== 1p1c: 1 producer(s), 1 consumer(s), 2 queue(s) (fanout), 125000 B, confirm 16, auto-ack, qos 100, persistent, rate-limited\n"
		"   ERROR      consumer 0: AMQP connection ended: 320 CONNECTION_FORCED\n"
		"   published  1000 in 2.00 s (500 msgs/s)\n"
		"   confirmed  990 (nacked 2, returned 1)\n"
		"   delivered  1000 of 1000 expected in 2.50 s (400 msgs/s, 0.400 Gbit/s payload) [drain ended before every delivery]\n"
		"   latency    min 1 us, p50 50 us, p99 99 us, p99.9 100 us, max 100 us, mean 51.5 us (100 samples, 0 over 10 s)\n"
		"   lost 7, duplicated 1, out-of-order 5, foreign 4, blocked 3\n"
		"   left in the queue(s) after the consumers closed: 3 (the rest of the lost are gone from the broker)\n"
		"   first missing (producer:seq): 0:17 2:4\n"
		"   bench lcore busy 87% of the run (polls that moved a packet or a message)\n");
}

/* No samples: no latency line. Everything kept by the broker. */
static void test_print_no_latency(void **state)
{
	struct fixture *x = *state;
	struct lp_hist empty;

	assert_int_equal(lp_hist_init(&empty, LP_HIST_DEFAULT_US), 0);
	x->rep.hist = &empty;
	x->rep.lost = 3;
	x->rep.left_known = true;
	x->rep.left_in_queues = 3;
	lp_load_report_print(&x->rep, x->f);
	assert_null(strstr(output(x), "latency"));
	assert_non_null(strstr(output(x),
		"   lost 3, duplicated 0, out-of-order 5, foreign 4, blocked 3\n"
		"   left in the queue(s) after the consumers closed: 3 (the broker kept them)\n"));
	assert_null(strstr(output(x), "first missing"));
	lp_hist_free(&empty);
}

/* amqp-load's JSON: every key, in order, and the values. */
static void test_json_amqp_load(void **state)
{
	static const struct member root_members[] = {
		M_STR("scenario", "1p1c"), M_STR("host", "198.18.0.1"),
		M_INT("published", 1000), M_INT("confirmed", 990), M_INT("nacked", 2),
		M_INT("returned", 1), M_INT("delivered", 1000), M_INT("expected", 1000),
		M_INT("blocked", 3), M_REAL("publish_seconds", 2.0), M_REAL("deliver_seconds", 2.5),
		M_REAL("published_per_s", 500), M_REAL("delivered_per_s", 400),
		M_REAL("gbit_per_s", 0.4), M_INT("lost", 11), M_INT("duplicated", 12),
		M_INT("out_of_order", 5), M_INT("foreign", 4), M_BOOL("drain_timeout", false),
		M_BOOL("interrupted", true), M_STR("error", "main: oops"), M_INT("left_in_queues", 9),
	};
	static const struct member cfg_members[] = {
		M_STR("queue", "lepus-bench"), M_STR("exchange", ""), M_STR("type", "direct"),
		M_STR("routing_key", ""), M_INT("producers", 1), M_INT("consumers", 1),
		M_INT("queues", 1), M_INT("size", 125000), M_INT("rate", 0), M_INT("confirm", 16),
		M_BOOL("autoack", false), M_INT("multi_ack_every", 10), M_INT("qos", 100),
		M_BOOL("persistent", false), M_INT("time", 10), M_INT("pmessages", 0),
		M_INT("drain", 30), M_INT("fanout_queues", 0), M_STR("binding_key", "bk"),
		M_STR("x_match", "any"),
	};
	static const struct member lat_members[] = {
		M_INT("samples", 100), M_INT("min", 1), M_INT("p50", 50), M_INT("p99", 99),
		M_INT("p99_9", 100), M_INT("max", 100), M_REAL("mean", 51.499), M_INT("overflow", 0),
		M_INT("limit_us", LP_HIST_DEFAULT_US),
	};
	struct fixture *x = *state;
	char keys[1024];
	json_t *root, *cfg, *lat;

	x->rep.binding_key = "bk";
	x->rep.x_match = "any";
	x->rep.error = "main: oops";
	x->rep.left_known = true;
	x->rep.left_in_queues = 9;
	x->rep.lost = 11;
	x->rep.duplicated = 12;
	x->rep.interrupted = true;
	root = json_with_keys(x,
		"scenario,host,config,published,confirmed,nacked,returned,delivered,expected,"
		"blocked,publish_seconds,deliver_seconds,published_per_s,delivered_per_s,"
		"gbit_per_s,latency_us,lost,duplicated,out_of_order,foreign,drain_timeout,"
		"interrupted,error,left_in_queues",
		"queue,exchange,type,routing_key,producers,consumers,queues,size,rate,confirm,"
		"autoack,multi_ack_every,qos,persistent,time,pmessages,drain,fanout_queues,"
		"binding_key,x_match");
	cfg = json_object_get(root, "config");
	lat = json_object_get(root, "latency_us");
	keys_of(lat, keys, sizeof(keys));
	assert_string_equal(keys, "samples,min,p50,p99,p99_9,max,mean,overflow,limit_us");

	assert_members(root, root_members, sizeof(root_members) / sizeof(root_members[0]));
	assert_members(cfg, cfg_members, sizeof(cfg_members) / sizeof(cfg_members[0]));
	assert_members(lat, lat_members, sizeof(lat_members) / sizeof(lat_members[0]));
	json_decref(root);
}

/* lepus-bench's JSON: "program" first, "bench_busy" after "interrupted",
 * no binding_key / x_match / left_in_queues / error when not given. */
static void test_json_lepus_bench(void **state)
{
	static const struct member members[] = {
		M_STR("program", "lepus-bench"), M_REAL("bench_busy", 0.25),
		M_BOOL("drain_timeout", true), M_BOOL("interrupted", false),
	};
	struct fixture *x = *state;
	json_t *root;

	x->rep.program = "lepus-bench";
	x->rep.has_busy = true;
	x->rep.busy = 0.25;
	x->rep.error = "";
	x->rep.drain_timeout = true;
	root = json_with_keys(x,
		"program,scenario,host,config,published,confirmed,nacked,returned,delivered,"
		"expected,blocked,publish_seconds,deliver_seconds,published_per_s,"
		"delivered_per_s,gbit_per_s,latency_us,lost,duplicated,out_of_order,foreign,"
		"drain_timeout,interrupted,bench_busy",
		"queue,exchange,type,routing_key,producers,consumers,queues,size,rate,confirm,"
		"autoack,multi_ack_every,qos,persistent,time,pmessages,drain,fanout_queues");
	assert_members(root, members, sizeof(members) / sizeof(members[0]));
	json_decref(root);
}

/* Producer 0's 10 messages on a queue that routes them: 3 and 7 never seen,
 * 5 seen twice. */
static void test_track(void **state)
{
	struct fixture *x = *state;
	struct lp_seq t = {0};

	for (uint64_t s = 0; s < 10; s++)
		if (s != 3 && s != 7)
			assert_int_equal(lp_seq_mark(&t, s), 1);
	assert_int_equal(lp_seq_mark(&t, 5), 0);

	x->rep.missing_max = 1;
	lp_load_report_track(&x->rep, &t, 2, 10, true);
	assert_int_equal(x->rep.lost, 2);
	assert_int_equal(x->rep.duplicated, 1);
	assert_int_equal(x->rep.missing_n, 1);
	assert_int_equal(x->rep.missing[0].producer, 2);
	assert_int_equal(x->rep.missing[0].seq, 3);

	/* Not routed: its duplicates count, nothing is lost. */
	lp_load_report_track(&x->rep, &t, 2, 10, false);
	assert_int_equal(x->rep.lost, 2);
	assert_int_equal(x->rep.duplicated, 2);

	/* Room for more: the next pass lists 3 and 7 after the first 3. */
	x->rep.missing_max = LP_LOAD_MISSING_MAX;
	lp_load_report_track(&x->rep, &t, 4, 10, true);
	assert_int_equal(x->rep.lost, 4);
	assert_int_equal(x->rep.missing_n, 3);
	assert_int_equal(x->rep.missing[1].producer, 4);
	assert_int_equal(x->rep.missing[1].seq, 3);
	assert_int_equal(x->rep.missing[2].seq, 7);

	/* Only the published ones count: 0 .. 2 were all seen. */
	lp_load_report_track(&x->rep, &t, 5, 3, true);
	assert_int_equal(x->rep.lost, 4);
	assert_int_equal(x->rep.missing_n, 3);

	/* missing_max 0 (lepus-bench): counted, never listed. */
	x->rep.missing_max = 0;
	x->rep.missing_n = 0;
	lp_load_report_track(&x->rep, &t, 6, 10, true);
	assert_int_equal(x->rep.lost, 6);
	assert_int_equal(x->rep.missing_n, 0);
	lp_seq_free(&t);
}

/* 100 deliveries at 100 us in the coarse histogram: [96, 104). */
static void coarse_100us(uint64_t *counts)
{
	static struct lp_hist_coarse c;

	for (int i = 0; i < 100; i++)
		lp_hist_coarse_add(&c, 100);
	memset(counts, 0, LP_HIST_COARSE_N * sizeof(*counts));
	lp_hist_coarse_read(&c, counts);
}

static void test_progress_pipe(void **state)
{
	struct fixture *x = *state;
	static uint64_t coarse[LP_HIST_COARSE_N];
	struct lp_load_progress pg;
	struct lp_load_totals t = {.published = 500, .confirmed = 400, .delivered = 300,
				   .expected = 500};
	const uint64_t t0 = 5000000000ull;

	coarse_100us(coarse);
	lp_load_progress_init(&pg, x->f, false, 1e9, t0);
	assert_false(pg.tty); /* a memory stream */
	lp_load_progress_tick(&pg, t0 + 1000000000ull, &t, coarse, "run");
	/* No new samples: no latency; rates over the 2 s since the last line. */
	t = (struct lp_load_totals){.published = 1500, .confirmed = 1200, .delivered = 1100,
				    .expected = 1500};
	lp_load_progress_tick(&pg, t0 + 3000000000ull, &t, coarse, "drain");
	/* No time passed: no line, but the reading is kept. */
	t.delivered = 1600;
	lp_load_progress_tick(&pg, t0 + 3000000000ull, &t, coarse, "drain");
	/* More delivered than expected: backlog 0. */
	t.published = 1600;
	lp_load_progress_tick(&pg, t0 + 3500000000ull, &t, coarse, "drain");
	lp_load_progress_end(&pg);
	assert_string_equal(output(x),
		"   1.0s run  | pub       500/s | conf       400/s | dlv       300/s | lat~ p50 96 us p99 96 us | backlog 200\n"
		"   3.0s drain| pub       500/s | conf       400/s | dlv       400/s | backlog 400\n"
		"   3.5s drain| pub       200/s | conf         0/s | dlv         0/s | backlog 0\n");
}

/* On a tty the line is rewritten in place and ended once; --quiet prints
 * nothing but still keeps each reading. */
static void test_progress_tty_and_quiet(void **state)
{
	struct fixture *x = *state;
	static uint64_t coarse[LP_HIST_COARSE_N];
	struct lp_load_progress pg, quiet;
	struct lp_load_totals t = {.published = 10, .delivered = 10, .expected = 10};

	lp_load_progress_init(&pg, x->f, false, 2e9, 0); /* a 2 GHz TSC */
	lp_load_progress_init(&quiet, x->f, true, 2e9, 0);
	pg.tty = quiet.tty = true;
	lp_load_progress_tick(&pg, 2000000000ull, &t, coarse, "run");
	lp_load_progress_tick(&quiet, 2000000000ull, &t, coarse, "run");
	t.published = t.delivered = t.expected = 30;
	lp_load_progress_tick(&pg, 6000000000ull, &t, coarse, "run");
	lp_load_progress_tick(&quiet, 6000000000ull, &t, coarse, "run");
	lp_load_progress_end(&pg);
	lp_load_progress_end(&quiet);
	assert_string_equal(output(x),
		"\r   1.0s run  | pub        10/s | conf         0/s | dlv        10/s | backlog 0   "
		"\r   3.0s run  | pub        10/s | conf         0/s | dlv        10/s | backlog 0   "
		"\n");
	assert_int_equal(quiet.last, 6000000000ull);
	assert_int_equal(quiet.last_t.published, 30);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_print_clean_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_print_losses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_print_no_latency, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_amqp_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_lepus_bench, setup, teardown),
		cmocka_unit_test_setup_teardown(test_track, setup, teardown),
		cmocka_unit_test_setup_teardown(test_progress_pipe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_progress_tty_and_quiet, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
