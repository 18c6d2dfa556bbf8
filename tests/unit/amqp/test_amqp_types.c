/* SPDX-License-Identifier: MIT */
/*
 * Primitive readers and writers: big-endian values, strings that announce
 * more than the buffer holds, writers that run out of room, and shortstr
 * over 255 octets (AMQP 0-9-1 4.2.5).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "amqp_types.h"

static void test_integers(void **state)
{
	(void)state;
	static const uint8_t in[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
				      0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f };
	struct lp_amqp_rd r;
	uint8_t a;
	uint16_t b;
	uint32_t c;
	uint64_t d;

	lp_amqp_rd_init(&r, in, sizeof(in));
	assert_true(lp_amqp_rd_u8(&r, &a));
	assert_true(lp_amqp_rd_u16(&r, &b));
	assert_true(lp_amqp_rd_u32(&r, &c));
	assert_true(lp_amqp_rd_u64(&r, &d));
	assert_int_equal(a, 0x01);
	assert_int_equal(b, 0x0203);
	assert_int_equal(c, 0x04050607);
	assert_true(d == 0x08090a0b0c0d0e0fULL);
	assert_int_equal(lp_amqp_rd_left(&r), 0);
	assert_false(lp_amqp_rd_u8(&r, &a));

	uint8_t out[15];
	struct lp_amqp_wr w;
	lp_amqp_wr_init(&w, out, sizeof(out));
	assert_true(lp_amqp_wr_u8(&w, 0x01));
	assert_true(lp_amqp_wr_u16(&w, 0x0203));
	assert_true(lp_amqp_wr_u32(&w, 0x04050607));
	assert_true(lp_amqp_wr_u64(&w, 0x08090a0b0c0d0e0fULL));
	assert_memory_equal(out, in, sizeof(in));
	assert_false(lp_amqp_wr_u8(&w, 0));
	assert_true(w.overflow);
}

static void test_truncated_reads_leave_reader(void **state)
{
	(void)state;
	/* shortstr announcing 5 octets with 4 present; longstr announcing 2^32-1. */
	static const uint8_t s[] = { 5, 'a', 'b', 'c', 'd' };
	static const uint8_t l[] = { 0xff, 0xff, 0xff, 0xff, 'x' };
	struct lp_amqp_rd r;
	struct lp_amqp_bytes v;
	uint64_t u64;

	lp_amqp_rd_init(&r, s, sizeof(s));
	assert_false(lp_amqp_rd_shortstr(&r, &v));
	assert_int_equal(r.off, 0);
	lp_amqp_rd_init(&r, l, sizeof(l));
	assert_false(lp_amqp_rd_longstr(&r, &v));
	assert_int_equal(r.off, 0);
	assert_false(lp_amqp_rd_u64(&r, &u64));
	assert_int_equal(r.off, 0);
	lp_amqp_rd_init(&r, s, sizeof(s));
	r.len = 6; /* claims 5 + 1: now the view fits */
	uint8_t s6[6] = { 5, 'a', 'b', 'c', 'd', 'e' };
	r.p = s6;
	assert_true(lp_amqp_rd_shortstr(&r, &v));
	assert_int_equal(v.len, 5);
	assert_ptr_equal(v.ptr, s6 + 1);
}

static void test_shortstr_limit_and_overflow(void **state)
{
	(void)state;
	uint8_t big[300], out[400];
	struct lp_amqp_wr w;
	struct lp_amqp_bytes v = { big, 256 };

	memset(big, 'z', sizeof(big));
	lp_amqp_wr_init(&w, out, sizeof(out));
	assert_false(lp_amqp_wr_shortstr(&w, v));
	assert_true(w.overflow);
	lp_amqp_wr_init(&w, out, sizeof(out));
	v.len = 255;
	assert_true(lp_amqp_wr_shortstr(&w, v));
	assert_int_equal(w.off, 256);
	assert_int_equal(out[0], 255);
	/* longstr needs 4 + len: one octet short fails and writes nothing. */
	lp_amqp_wr_init(&w, out, 4 + 99);
	v.len = 100;
	assert_false(lp_amqp_wr_longstr(&w, v));
	assert_int_equal(w.off, 0);
	/* after an overflow every later write fails too */
	assert_false(lp_amqp_wr_u8(&w, 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_truncated_reads_leave_reader),
		cmocka_unit_test(test_shortstr_limit_and_overflow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
