/* SPDX-License-Identifier: MIT */
/*
 * Dead-lettered properties (dataplane/broker/x_death.c): the x-death entry
 * and first-death headers RabbitMQ 3.10 writes, the count of a repeated
 * (queue, reason), the expiration moved into the entry, every other
 * property and header kept, and RabbitMQ's cycle rule.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "amqp_spec.h"
#include "amqp_table.h"
#include "x_death.h"

static struct lp_amqp_bytes B(const char *s)
{
	return lp_amqp_cstr(s);
}

static struct lp_x_death event(const char *queue, const char *reason)
{
	return (struct lp_x_death){.queue = B(queue), .reason = reason, .time = 1700000000,
				   .exchange = B("ex"), .rkey = B("rk")};
}

/* Properties with content-type, a header "app" = "v" and an expiration. */
static int sample_props(uint8_t *buf, size_t cap)
{
	uint8_t hdr[64];
	struct lp_amqp_wr w;
	struct lp_amqp_basic_properties p = {0};

	lp_amqp_wr_init(&w, hdr, sizeof(hdr));
	lp_amqp_wr_field_str(&w, "app", "v");
	p.flags = LP_AMQP_BASIC_CONTENT_TYPE_FLAG | LP_AMQP_BASIC_HEADERS_FLAG |
		  LP_AMQP_BASIC_EXPIRATION_FLAG | LP_AMQP_BASIC_DELIVERY_MODE_FLAG;
	p.content_type = B("text/plain");
	p.headers = (struct lp_amqp_bytes){hdr, (uint32_t)w.off};
	p.expiration = B("5000");
	p.delivery_mode = 2;
	return lp_amqp_basic_properties_encode(&p, buf, cap);
}

static int64_t int_of(struct lp_amqp_bytes table, const char *key)
{
	struct lp_amqp_field_value v;
	int64_t n = -1;

	assert_true(lp_amqp_table_get(table, key, &v));
	assert_true(lp_amqp_field_int(&v, &n));
	return n;
}

static void assert_str(struct lp_amqp_bytes table, const char *key, const char *want)
{
	struct lp_amqp_field_value v;

	assert_true(lp_amqp_table_get(table, key, &v));
	assert_int_equal(v.kind, LP_AMQP_FIELD_LONGSTR);
	assert_true(lp_amqp_bytes_eq(v.bytes, want));
}

/* The n-th x-death entry of headers. */
static struct lp_amqp_bytes death(struct lp_amqp_bytes headers, int n, int *count)
{
	struct lp_amqp_field_value a, v = {0};
	struct lp_amqp_table_iter it;
	int i = 0;

	assert_true(lp_amqp_table_get(headers, "x-death", &a));
	assert_int_equal(a.kind, LP_AMQP_FIELD_ARRAY);
	lp_amqp_table_iter_init(&it, a.bytes);
	struct lp_amqp_bytes found = {0};
	while (lp_amqp_array_next(&it, &v) == 1) {
		assert_int_equal(v.kind, LP_AMQP_FIELD_TABLE);
		if (i == n)
			found = v.bytes;
		i++;
	}
	*count = i;
	return found;
}

static void first_death(void **state)
{
	uint8_t in[256], out[512], scratch[512];
	struct lp_x_death d = event("q1", "rejected");
	struct lp_amqp_basic_properties p;
	struct lp_amqp_field_value v;
	int len = sample_props(in, sizeof(in)), n, entries;

	(void)state;
	assert_true(len > 0);
	n = lp_x_death_props(in, (size_t)len, &d, out, sizeof(out), scratch, sizeof(scratch));
	assert_true(n > 0);
	assert_int_equal(lp_amqp_basic_properties_decode(out, (size_t)n, &p), 0);
	/* Kept: content-type, delivery-mode, the header. Removed: expiration. */
	assert_true(lp_amqp_bytes_eq(p.content_type, "text/plain"));
	assert_int_equal(p.delivery_mode, 2);
	assert_false(p.flags & LP_AMQP_BASIC_EXPIRATION_FLAG);
	assert_str(p.headers, "app", "v");
	assert_str(p.headers, "x-first-death-queue", "q1");
	assert_str(p.headers, "x-first-death-reason", "rejected");
	assert_str(p.headers, "x-first-death-exchange", "ex");
	struct lp_amqp_bytes e = death(p.headers, 0, &entries);

	assert_int_equal(entries, 1);
	assert_int_equal(int_of(e, "count"), 1);
	assert_str(e, "queue", "q1");
	assert_str(e, "reason", "rejected");
	assert_str(e, "exchange", "ex");
	assert_str(e, "original-expiration", "5000");
	assert_true(lp_amqp_table_get(e, "time", &v));
	assert_int_equal(v.kind, LP_AMQP_FIELD_TIMESTAMP);
	assert_int_equal(v.u64, 1700000000);
	assert_true(lp_amqp_table_get(e, "routing-keys", &v));
	assert_int_equal(v.kind, LP_AMQP_FIELD_ARRAY);
}

static void repeated_death_counts_and_moves_to_front(void **state)
{
	uint8_t a[512], b[512], c[512], scratch[512];
	struct lp_x_death rej = event("q1", "rejected"), exp = event("q2", "expired");
	struct lp_amqp_basic_properties p;
	int n, entries;

	(void)state;
	n = lp_x_death_props(NULL, 0, &rej, a, sizeof(a), scratch, sizeof(scratch));
	assert_true(n > 0);
	n = lp_x_death_props(a, (size_t)n, &exp, b, sizeof(b), scratch, sizeof(scratch));
	assert_true(n > 0);
	n = lp_x_death_props(b, (size_t)n, &rej, c, sizeof(c), scratch, sizeof(scratch));
	assert_true(n > 0);
	assert_int_equal(lp_amqp_basic_properties_decode(c, (size_t)n, &p), 0);
	struct lp_amqp_bytes e0 = death(p.headers, 0, &entries), e1 = death(p.headers, 1, &entries);

	assert_int_equal(entries, 2);
	assert_str(e0, "queue", "q1");
	assert_int_equal(int_of(e0, "count"), 2);
	assert_str(e1, "queue", "q2");
	assert_int_equal(int_of(e1, "count"), 1);
	/* The first death stays the first. */
	assert_str(p.headers, "x-first-death-queue", "q1");
	assert_str(p.headers, "x-first-death-reason", "rejected");
	/* No original-expiration without an expiration. */
	struct lp_amqp_field_value v;
	assert_false(lp_amqp_table_get(e0, "original-expiration", &v));
}

static void cycles(void **state)
{
	uint8_t a[512], b[512], scratch[512];
	struct lp_x_death exp_a = event("a", "expired"), rej_a = event("a", "rejected");
	struct lp_x_death exp_b = event("b", "expired");
	struct lp_amqp_basic_properties p;
	int n;

	(void)state;
	/* a expired back to a: a cycle. */
	n = lp_x_death_props(NULL, 0, &exp_a, a, sizeof(a), scratch, sizeof(scratch));
	assert_int_equal(lp_amqp_basic_properties_decode(a, (size_t)n, &p), 0);
	assert_true(lp_x_death_cycle(p.headers, B("a")));
	assert_false(lp_x_death_cycle(p.headers, B("b")));
	/* a rejected, then b expired, routed to a: a reject in the loop, no cycle. */
	n = lp_x_death_props(NULL, 0, &rej_a, a, sizeof(a), scratch, sizeof(scratch));
	n = lp_x_death_props(a, (size_t)n, &exp_b, b, sizeof(b), scratch, sizeof(scratch));
	assert_int_equal(lp_amqp_basic_properties_decode(b, (size_t)n, &p), 0);
	assert_false(lp_x_death_cycle(p.headers, B("a")));
	assert_true(lp_x_death_cycle(p.headers, B("b")));
	/* No headers: never a cycle. */
	assert_false(lp_x_death_cycle((struct lp_amqp_bytes){0}, B("a")));
}

static void too_small_and_bad_input(void **state)
{
	uint8_t in[256], out[512], scratch[512];
	struct lp_x_death d = event("q1", "maxlen");
	int len = sample_props(in, sizeof(in));

	(void)state;
	assert_int_equal(lp_x_death_props(in, (size_t)len, &d, out, 8, scratch, sizeof(scratch)),
			 -ENOSPC);
	assert_int_equal(lp_x_death_props(in, (size_t)len, &d, out, sizeof(out), scratch, 16),
			 -ENOSPC);
	assert_int_equal(lp_x_death_props(in, 1, &d, out, sizeof(out), scratch, sizeof(scratch)),
			 -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(first_death),
		cmocka_unit_test(repeated_death_counts_and_moves_to_front),
		cmocka_unit_test(cycles),
		cmocka_unit_test(too_small_and_bad_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
