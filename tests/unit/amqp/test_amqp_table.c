/* SPDX-License-Identifier: MIT */
/*
 * Field tables and arrays: every field type RabbitMQ clients send (RabbitMQ
 * errata type octets) written and read back, nested tables and arrays, every
 * truncation rejected, unknown types rejected, nesting limit, and pika's
 * message headers from the golden capture.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "amqp_frame.h"
#include "amqp_table.h"
#include "amqp_test.h"

/* Builds a table with one entry of every kind; returns its length (with the
 * 4-octet length prefix) in buf. */
static size_t build_all(uint8_t *buf, size_t cap)
{
	struct lp_amqp_wr w;
	size_t top, nested, arr;
	struct lp_amqp_field_value v;

	lp_amqp_wr_init(&w, buf, cap);
	lp_amqp_wr_table_begin(&w, &top);
	lp_amqp_wr_field_bool(&w, "t", true);
	v = (struct lp_amqp_field_value){ .kind = 'b', .i8 = -5 };
	lp_amqp_wr_field(&w, "b", &v);
	v = (struct lp_amqp_field_value){ .kind = 'B', .u8 = 250 };
	lp_amqp_wr_field(&w, "B", &v);
	v = (struct lp_amqp_field_value){ .kind = 's', .i16 = -30000 };
	lp_amqp_wr_field(&w, "s", &v);
	v = (struct lp_amqp_field_value){ .kind = 'u', .u16 = 60000 };
	lp_amqp_wr_field(&w, "u", &v);
	v = (struct lp_amqp_field_value){ .kind = 'I', .i32 = -2000000000 };
	lp_amqp_wr_field(&w, "I", &v);
	v = (struct lp_amqp_field_value){ .kind = 'i', .u32 = 4000000000u };
	lp_amqp_wr_field(&w, "i", &v);
	v = (struct lp_amqp_field_value){ .kind = 'l', .i64 = -(1LL << 60) };
	lp_amqp_wr_field(&w, "l", &v);
	v = (struct lp_amqp_field_value){ .kind = 'L', .u64 = 1ULL << 63 };
	lp_amqp_wr_field(&w, "L", &v);
	v = (struct lp_amqp_field_value){ .kind = 'f', .f32 = 1.5f };
	lp_amqp_wr_field(&w, "f", &v);
	v = (struct lp_amqp_field_value){ .kind = 'd', .f64 = -2.25 };
	lp_amqp_wr_field(&w, "d", &v);
	v = (struct lp_amqp_field_value){ .kind = 'D', .dec = { 2, 12345 } };
	lp_amqp_wr_field(&w, "D", &v);
	lp_amqp_wr_field_str(&w, "S", "long string");
	v = (struct lp_amqp_field_value){ .kind = 'x', .bytes = { (const uint8_t *)"\0\1\2", 3 } };
	lp_amqp_wr_field(&w, "x", &v);
	v = (struct lp_amqp_field_value){ .kind = 'T', .u64 = 1700000000 };
	lp_amqp_wr_field(&w, "T", &v);
	v = (struct lp_amqp_field_value){ .kind = 'V' };
	lp_amqp_wr_field(&w, "V", &v);
	/* nested table written in place */
	lp_amqp_wr_shortstr(&w, lp_amqp_cstr("F"));
	lp_amqp_wr_u8(&w, 'F');
	lp_amqp_wr_table_begin(&w, &nested);
	lp_amqp_wr_field_str(&w, "inner", "v");
	lp_amqp_wr_table_end(&w, nested);
	/* array of an int and a string */
	lp_amqp_wr_shortstr(&w, lp_amqp_cstr("A"));
	lp_amqp_wr_u8(&w, 'A');
	lp_amqp_wr_table_begin(&w, &arr);
	v = (struct lp_amqp_field_value){ .kind = 'I', .i32 = 7 };
	lp_amqp_wr_value(&w, &v);
	v = (struct lp_amqp_field_value){ .kind = 'S', .bytes = lp_amqp_cstr("seven") };
	lp_amqp_wr_value(&w, &v);
	lp_amqp_wr_table_end(&w, arr);
	assert_true(lp_amqp_wr_table_end(&w, top));
	assert_false(w.overflow);
	return w.off;
}

static void test_every_type_round_trips(void **state)
{
	(void)state;
	uint8_t buf[512];
	size_t n = build_all(buf, sizeof(buf));
	struct lp_amqp_rd r;
	struct lp_amqp_bytes body, key;
	struct lp_amqp_field_value v;
	struct lp_amqp_table_iter it;

	lp_amqp_rd_init(&r, buf, n);
	assert_true(lp_amqp_rd_table(&r, &body));
	assert_int_equal(r.off, n);
	assert_true(lp_amqp_table_get(body, "t", &v) && v.kind == 't' && v.b);
	assert_true(lp_amqp_table_get(body, "b", &v) && v.kind == 'b' && v.i8 == -5);
	assert_true(lp_amqp_table_get(body, "B", &v) && v.u8 == 250);
	assert_true(lp_amqp_table_get(body, "s", &v) && v.i16 == -30000);
	assert_true(lp_amqp_table_get(body, "u", &v) && v.u16 == 60000);
	assert_true(lp_amqp_table_get(body, "I", &v) && v.i32 == -2000000000);
	assert_true(lp_amqp_table_get(body, "i", &v) && v.u32 == 4000000000u);
	assert_true(lp_amqp_table_get(body, "l", &v) && v.i64 == -(1LL << 60));
	assert_true(lp_amqp_table_get(body, "L", &v) && v.u64 == 1ULL << 63);
	assert_true(lp_amqp_table_get(body, "f", &v) && v.f32 == 1.5f);
	assert_true(lp_amqp_table_get(body, "d", &v) && v.f64 == -2.25);
	assert_true(lp_amqp_table_get(body, "D", &v) && v.dec.scale == 2 && v.dec.value == 12345);
	assert_true(lp_amqp_table_get(body, "S", &v) && lp_amqp_bytes_eq(v.bytes, "long string"));
	assert_true(lp_amqp_table_get(body, "x", &v) && v.kind == 'x' && v.bytes.len == 3);
	assert_true(lp_amqp_table_get(body, "T", &v) && v.kind == 'T' && v.u64 == 1700000000);
	assert_true(lp_amqp_table_get(body, "V", &v) && v.kind == 'V');
	assert_true(lp_amqp_table_get(body, "F", &v) && v.kind == 'F');
	struct lp_amqp_field_value inner;
	assert_true(lp_amqp_table_get(v.bytes, "inner", &inner) && lp_amqp_bytes_eq(inner.bytes, "v"));
	assert_true(lp_amqp_table_get(body, "A", &v) && v.kind == 'A');
	lp_amqp_table_iter_init(&it, v.bytes);
	assert_int_equal(lp_amqp_array_next(&it, &inner), 1);
	assert_int_equal(inner.i32, 7);
	assert_int_equal(lp_amqp_array_next(&it, &inner), 1);
	assert_true(lp_amqp_bytes_eq(inner.bytes, "seven"));
	assert_int_equal(lp_amqp_array_next(&it, &inner), 0);
	assert_false(lp_amqp_table_get(body, "missing", &v));

	/* Iteration sees all 18 entries, in order. */
	int count = 0;
	lp_amqp_table_iter_init(&it, body);
	while (lp_amqp_table_next(&it, &key, &v) == 1)
		count++;
	assert_int_equal(count, 18);

	/* Re-writing every decoded value gives the same bytes. */
	uint8_t again[512];
	struct lp_amqp_wr w;
	size_t mark;
	lp_amqp_wr_init(&w, again, sizeof(again));
	lp_amqp_wr_table_begin(&w, &mark);
	lp_amqp_table_iter_init(&it, body);
	while (lp_amqp_table_next(&it, &key, &v) == 1) {
		lp_amqp_wr_shortstr(&w, key);
		lp_amqp_wr_value(&w, &v);
	}
	lp_amqp_wr_table_end(&w, mark);
	assert_int_equal(w.off, n);
	assert_memory_equal(again, buf, n);
}

static void test_truncations_and_bad_types_rejected(void **state)
{
	(void)state;
	uint8_t buf[512], copy[512];
	size_t n = build_all(buf, sizeof(buf));
	struct lp_amqp_rd r;
	struct lp_amqp_bytes body;

	/* The outer length kept, the data cut short: never valid. */
	for (size_t cut = 0; cut < n; cut++) {
		lp_amqp_rd_init(&r, buf, cut);
		assert_false(lp_amqp_rd_table(&r, &body));
		assert_int_equal(r.off, 0);
	}
	/* The outer length shrunk to cut an entry in half: body invalid. */
	for (size_t len = 1; len < n - 4; len++) {
		memcpy(copy, buf, n);
		struct lp_amqp_bytes b = { copy + 4, (uint32_t)len };
		struct lp_amqp_table_iter it;
		struct lp_amqp_bytes k;
		struct lp_amqp_field_value v;
		bool valid = lp_amqp_table_valid(b);
		/* if valid, it must end on an entry boundary: iteration consumes it exactly */
		if (valid) {
			lp_amqp_table_iter_init(&it, b);
			int rc;
			while ((rc = lp_amqp_table_next(&it, &k, &v)) == 1)
				;
			assert_int_equal(rc, 0);
		}
	}
	/* Unknown field type octets. */
	for (int t = 0; t < 256; t++) {
		uint8_t one[] = { 0, 0, 0, 3, 1, 'k', (uint8_t)t };
		bool known = strchr("tbBsuIilLfdDSxATFV", t) != NULL && t != 0;
		lp_amqp_rd_init(&r, one, sizeof(one));
		if (t == 'V')
			assert_true(lp_amqp_rd_table(&r, &body));
		else if (!known)
			assert_false(lp_amqp_rd_table(&r, &body));
	}
}

static void test_nesting_limit(void **state)
{
	(void)state;
	/* k -> F -> k -> F ... built inside out, depth levels of tables. */
	uint8_t a[4096], b[4096];
	size_t len = 0;
	for (int depth = 1; depth <= LP_AMQP_TABLE_MAX_DEPTH + 1; depth++) {
		struct lp_amqp_rd r;
		struct lp_amqp_bytes body;
		/* wrap a (len octets of table body) into entry "k" F <len> body */
		b[0] = 1;
		b[1] = 'k';
		b[2] = 'F';
		b[3] = (uint8_t)(len >> 24);
		b[4] = (uint8_t)(len >> 16);
		b[5] = (uint8_t)(len >> 8);
		b[6] = (uint8_t)len;
		memcpy(b + 7, a, len);
		len += 7;
		memcpy(a, b, len);
		/* the table whose body is a: depth + 1 levels in all */
		uint8_t t[4096];
		t[0] = (uint8_t)(len >> 24);
		t[1] = (uint8_t)(len >> 16);
		t[2] = (uint8_t)(len >> 8);
		t[3] = (uint8_t)len;
		memcpy(t + 4, a, len);
		lp_amqp_rd_init(&r, t, len + 4);
		if (depth + 1 <= LP_AMQP_TABLE_MAX_DEPTH)
			assert_true(lp_amqp_rd_table(&r, &body));
		else
			assert_false(lp_amqp_rd_table(&r, &body));
	}
}

static void test_pika_headers(void **state)
{
	(void)state;
	size_t len;
	uint8_t *g = golden_load("pika_client.bin", &len);
	struct golden_frame f[32];
	size_t n = golden_frames(g, len, f, 32);
	struct lp_amqp_content_header h;
	struct lp_amqp_field_value v, e;
	struct lp_amqp_table_iter it;
	bool found = false;

	for (size_t i = 0; i < n; i++) {
		if (f[i].type != LP_AMQP_FRAME_HEADER)
			continue;
		found = true;
		assert_int_equal(lp_amqp_content_header_decode(f[i].payload, f[i].size, &h), 0);
		assert_true(h.props.flags & LP_AMQP_BASIC_HEADERS_FLAG);
		struct lp_amqp_bytes hd = h.props.headers;
		assert_true(lp_amqp_table_get(hd, "i", &v) && v.kind == 'I' && v.i32 == 1);
		assert_true(lp_amqp_table_get(hd, "s", &v) && v.kind == 'S' && lp_amqp_bytes_eq(v.bytes, "x"));
		assert_true(lp_amqp_table_get(hd, "b", &v) && v.kind == 't' && v.b);
		assert_true(lp_amqp_table_get(hd, "d", &v) && v.kind == 'D' && v.dec.scale == 1 &&
			    v.dec.value == 15);
		assert_true(lp_amqp_table_get(hd, "big", &v) && v.kind == 'l' && v.i64 == (1LL << 40));
		assert_true(lp_amqp_table_get(hd, "x", &v) && v.kind == 'x' && v.bytes.len == 2 &&
			    v.bytes.ptr[1] == 0xff);
		assert_true(lp_amqp_table_get(hd, "ts", &v) && v.kind == 'T' && v.u64 == 1704153600);
		assert_true(lp_amqp_table_get(hd, "n", &v) && v.kind == 'V');
		assert_true(lp_amqp_table_get(hd, "l", &v) && v.kind == 'A');
		lp_amqp_table_iter_init(&it, v.bytes);
		assert_int_equal(lp_amqp_array_next(&it, &e), 1);
		assert_int_equal(e.i32, 1);
		assert_int_equal(lp_amqp_array_next(&it, &e), 1);
		assert_true(lp_amqp_bytes_eq(e.bytes, "two"));
		assert_true(lp_amqp_table_get(hd, "t", &v) && v.kind == 'F');
		assert_true(lp_amqp_table_get(v.bytes, "k", &e) && lp_amqp_bytes_eq(e.bytes, "v"));
	}
	assert_true(found);
	free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_type_round_trips),
		cmocka_unit_test(test_truncations_and_bad_types_rejected),
		cmocka_unit_test(test_nesting_limit),
		cmocka_unit_test(test_pika_headers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
