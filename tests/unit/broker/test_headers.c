/* SPDX-License-Identifier: MIT */
/*
 * Headers exchange matching (dataplane/broker/headers.c) against RabbitMQ's
 * documented semantics: x-match all/any and the -with-x variants, presence
 * by void, type classes, and the bindings RabbitMQ refuses.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "headers.h"

struct table {
	uint8_t buf[512];
	struct lp_amqp_wr w;
	size_t mark;
};

static void t_begin(struct table *t)
{
	lp_amqp_wr_init(&t->w, t->buf, sizeof(t->buf));
	assert_true(lp_amqp_wr_table_begin(&t->w, &t->mark));
}

static void t_put(struct table *t, const char *key, struct lp_amqp_field_value v)
{
	assert_true(lp_amqp_wr_field(&t->w, key, &v));
}

static struct lp_amqp_bytes t_end(struct table *t)
{
	assert_true(lp_amqp_wr_table_end(&t->w, t->mark));
	return (struct lp_amqp_bytes){.ptr = t->buf + 4, .len = (uint32_t)(t->w.off - 4)};
}

#define I32(x) ((struct lp_amqp_field_value){.kind = LP_AMQP_FIELD_I32, .i32 = (x)})
#define I8(x) ((struct lp_amqp_field_value){.kind = LP_AMQP_FIELD_I8, .i8 = (x)})
#define U64(x) ((struct lp_amqp_field_value){.kind = LP_AMQP_FIELD_U64, .u64 = (x)})
#define F64(x) ((struct lp_amqp_field_value){.kind = LP_AMQP_FIELD_F64, .f64 = (x)})
#define F32(x) ((struct lp_amqp_field_value){.kind = LP_AMQP_FIELD_F32, .f32 = (x)})
#define STR(s) ((struct lp_amqp_field_value){.kind = LP_AMQP_FIELD_LONGSTR, .bytes = lp_amqp_cstr(s)})
#define BYTES(s) ((struct lp_amqp_field_value){.kind = LP_AMQP_FIELD_BYTES, .bytes = lp_amqp_cstr(s)})
#define VOID ((struct lp_amqp_field_value){.kind = LP_AMQP_FIELD_VOID})
#define BOOL(x) ((struct lp_amqp_field_value){.kind = LP_AMQP_FIELD_BOOL, .b = (x)})

static struct lp_headers_binding *compile(struct table *t)
{
	struct lp_headers_binding *b = lp_headers_binding_compile(t_end(t));

	assert_non_null(b);
	return b;
}

static void all_needs_every_header(void **state)
{
	struct table bt, m1, m2, m3;
	(void)state;
	t_begin(&bt);
	t_put(&bt, "format", STR("pdf"));
	t_put(&bt, "type", STR("report"));
	struct lp_headers_binding *b = compile(&bt);

	/* The binding's own buffer is gone: the compiled binding kept copies. */
	memset(bt.buf, 0, sizeof(bt.buf));
	assert_int_equal(lp_headers_binding_mode(b), LP_HEADERS_ALL);
	t_begin(&m1);
	t_put(&m1, "type", STR("report"));
	t_put(&m1, "format", STR("pdf"));
	t_put(&m1, "extra", I32(3));
	assert_true(lp_headers_match(b, t_end(&m1)));
	t_begin(&m2);
	t_put(&m2, "format", STR("pdf"));
	assert_false(lp_headers_match(b, t_end(&m2)));
	t_begin(&m3);
	t_put(&m3, "format", STR("pdf"));
	t_put(&m3, "type", STR("log"));
	assert_false(lp_headers_match(b, t_end(&m3)));
	assert_false(lp_headers_match(b, (struct lp_amqp_bytes){0}));
	lp_headers_binding_free(b);
}

static void any_needs_one(void **state)
{
	struct table bt, m1, m2;
	(void)state;
	t_begin(&bt);
	t_put(&bt, "x-match", STR("any"));
	t_put(&bt, "format", STR("pdf"));
	t_put(&bt, "type", STR("report"));
	struct lp_headers_binding *b = compile(&bt);

	t_begin(&m1);
	t_put(&m1, "type", STR("report"));
	assert_true(lp_headers_match(b, t_end(&m1)));
	t_begin(&m2);
	t_put(&m2, "type", STR("log"));
	t_put(&m2, "format", STR("zip"));
	assert_false(lp_headers_match(b, t_end(&m2)));
	lp_headers_binding_free(b);
}

static void nothing_to_compare(void **state)
{
	struct table a, n, m;
	(void)state;
	t_begin(&a);
	struct lp_headers_binding *all = compile(&a); /* no arguments: all */
	t_begin(&n);
	t_put(&n, "x-match", STR("any"));
	struct lp_headers_binding *any = compile(&n);

	t_begin(&m);
	t_put(&m, "k", I32(1));
	struct lp_amqp_bytes msg = t_end(&m);

	assert_true(lp_headers_match(all, msg));
	assert_true(lp_headers_match(all, (struct lp_amqp_bytes){0}));
	assert_false(lp_headers_match(any, msg));
	lp_headers_binding_free(all);
	lp_headers_binding_free(any);
}

static void x_arguments_count_only_with_x(void **state)
{
	struct table plain, withx, m1, m2;
	(void)state;
	t_begin(&plain);
	t_put(&plain, "x-match", STR("all"));
	t_put(&plain, "x-tenant", STR("blue"));
	t_put(&plain, "k", I32(1));
	struct lp_headers_binding *b1 = compile(&plain);

	t_begin(&withx);
	t_put(&withx, "x-match", STR("all-with-x"));
	t_put(&withx, "x-tenant", STR("blue"));
	t_put(&withx, "k", I32(1));
	struct lp_headers_binding *b2 = compile(&withx);

	t_begin(&m1);
	t_put(&m1, "k", I32(1));
	struct lp_amqp_bytes only_k = t_end(&m1);

	t_begin(&m2);
	t_put(&m2, "k", I32(1));
	t_put(&m2, "x-tenant", STR("blue"));
	struct lp_amqp_bytes k_and_x = t_end(&m2);

	assert_true(lp_headers_match(b1, only_k));
	assert_false(lp_headers_match(b2, only_k));
	assert_true(lp_headers_match(b2, k_and_x));
	lp_headers_binding_free(b1);
	lp_headers_binding_free(b2);
}

static void any_with_x(void **state)
{
	struct table bt, m;
	(void)state;
	t_begin(&bt);
	t_put(&bt, "x-match", STR("any-with-x"));
	t_put(&bt, "x-tenant", STR("blue"));
	struct lp_headers_binding *b = compile(&bt);

	assert_int_equal(lp_headers_binding_mode(b), LP_HEADERS_ANY_WITH_X);
	t_begin(&m);
	t_put(&m, "x-tenant", STR("blue"));
	assert_true(lp_headers_match(b, t_end(&m)));
	lp_headers_binding_free(b);
}

static void void_matches_presence(void **state)
{
	struct table bt, m1, m2;
	(void)state;
	t_begin(&bt);
	t_put(&bt, "trace", VOID);
	struct lp_headers_binding *b = compile(&bt);

	t_begin(&m1);
	t_put(&m1, "trace", STR("anything"));
	assert_true(lp_headers_match(b, t_end(&m1)));
	t_begin(&m2);
	t_put(&m2, "other", VOID);
	assert_false(lp_headers_match(b, t_end(&m2)));
	lp_headers_binding_free(b);
}

static void type_classes(void **state)
{
	struct table bt, m;
	(void)state;
	t_begin(&bt);
	t_put(&bt, "n", I32(7));
	struct lp_headers_binding *b = compile(&bt);

	/* Any integer width with the same value matches (one type class). */
	t_begin(&m);
	t_put(&m, "n", I8(7));
	assert_true(lp_headers_match(b, t_end(&m)));
	t_begin(&m);
	t_put(&m, "n", U64(7));
	assert_true(lp_headers_match(b, t_end(&m)));
	t_begin(&m);
	t_put(&m, "n", STR("7"));
	assert_false(lp_headers_match(b, t_end(&m)));
	t_begin(&m);
	t_put(&m, "n", F64(7.0));
	assert_false(lp_headers_match(b, t_end(&m)));
	t_begin(&m);
	t_put(&m, "n", I32(-7));
	assert_false(lp_headers_match(b, t_end(&m)));
	lp_headers_binding_free(b);

	t_begin(&bt);
	t_put(&bt, "f", F64(1.5));
	t_put(&bt, "s", STR("abc"));
	t_put(&bt, "ok", BOOL(true));
	b = compile(&bt);
	t_begin(&m);
	t_put(&m, "f", F32(1.5f));
	t_put(&m, "s", STR("abc"));
	t_put(&m, "ok", BOOL(true));
	assert_true(lp_headers_match(b, t_end(&m)));
	t_begin(&m);
	t_put(&m, "f", F64(1.5));
	t_put(&m, "s", BYTES("abc")); /* byte array is not a string */
	t_put(&m, "ok", BOOL(true));
	assert_false(lp_headers_match(b, t_end(&m)));
	lp_headers_binding_free(b);
}

static void bad_x_match_is_refused(void **state)
{
	struct table t1, t2;
	(void)state;
	t_begin(&t1);
	t_put(&t1, "x-match", STR("some"));
	errno = 0;
	assert_null(lp_headers_binding_compile(t_end(&t1)));
	assert_int_equal(errno, EINVAL);
	t_begin(&t2);
	t_put(&t2, "x-match", I32(1));
	assert_null(lp_headers_binding_compile(t_end(&t2)));
	uint8_t garbage[] = {3, 'a', 'b', 'c', 'Z'};
	assert_null(lp_headers_binding_compile((struct lp_amqp_bytes){garbage, sizeof(garbage)}));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(all_needs_every_header),
		cmocka_unit_test(any_needs_one),
		cmocka_unit_test(nothing_to_compare),
		cmocka_unit_test(x_arguments_count_only_with_x),
		cmocka_unit_test(any_with_x),
		cmocka_unit_test(void_matches_presence),
		cmocka_unit_test(type_classes),
		cmocka_unit_test(bad_x_match_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
