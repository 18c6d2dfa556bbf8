/* SPDX-License-Identifier: MIT */
/*
 * The journal's codec and segment scanner (dataplane/store/journal_block.c,
 * journal_scan.c) on buffers: CRC32C's standard check value, records and
 * blocks round-trip, every damaged header or record is refused, and the
 * scanner tells a never-written tail, a torn tail and damage inside the
 * confirmed data apart.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "journal_block.h"
#include "journal_scan.h"

#define SEG 7u
#define IMG (8 * LP_JOURNAL_ALIGN)

/* Builds a block of n ENQUEUE records of queue 1 (seq first..) at p. */
static uint64_t build_block(uint8_t *p, uint64_t seq, uint32_t epoch, uint64_t first, unsigned n,
	uint32_t payload)
{
	uint32_t used = LP_JBLOCK_HDR_SIZE;
	uint8_t body[8192];

	for (unsigned i = 0; i < n; i++) {
		struct iovec iov = {body, payload};

		memset(body, (int)(first + i), payload);
		lp_jrec_encode(p + used, LP_JREC_ENQUEUE, 1, first + i, 0, &iov, 1, payload);
		used += (uint32_t)lp_jrec_size(payload);
	}
	return lp_jblock_seal(p, SEG, epoch, seq, used - LP_JBLOCK_HDR_SIZE, n);
}

static void crc_check_value(void **state)
{
	(void)state;
	/* CRC-32C (Castagnoli) of "123456789" is 0xE3069283 (RFC 3720 B.4). */
	assert_int_equal(~lp_jcrc("123456789", 9, 0xffffffffu), 0xe3069283u);
	/* Chained in two parts, the same. */
	assert_int_equal(lp_jcrc("6789", 4, lp_jcrc("12345", 5, 0xffffffffu)),
		lp_jcrc("123456789", 9, 0xffffffffu));
}

static void block_round_trip(void **state)
{
	uint8_t *p = calloc(1, IMG);
	struct lp_jblock_view b;
	struct lp_jrec_iter it;
	struct lp_jrec_view r;
	uint64_t size;
	unsigned n = 0;

	(void)state;
	size = build_block(p, 5, 2, 100, 3, 13);
	assert_int_equal(size, LP_JOURNAL_ALIGN);
	assert_int_equal(lp_jblock_decode(p, IMG, SEG, &b), 0);
	assert_int_equal(b.seq, 5);
	assert_int_equal(b.epoch, 2);
	assert_int_equal(b.n_records, 3);
	assert_int_equal(b.size, LP_JOURNAL_ALIGN);
	lp_jrec_iter_init(&it, &b);
	while (lp_jrec_next(&it, &r) == 1) {
		assert_int_equal(r.type, LP_JREC_ENQUEUE);
		assert_int_equal(r.seq, 100 + n);
		assert_int_equal(r.len, 13);
		assert_int_equal(r.payload[12], (uint8_t)(100 + n));
		assert_int_equal(r.rec_len, LP_JREC_HDR_SIZE + 13);
		/* A record alone decodes at its offset (read-back). */
		struct lp_jrec_view one;
		assert_int_equal(lp_jrec_decode(p + r.off, r.rec_len, &one), 0);
		assert_int_equal(one.seq, r.seq);
		n++;
	}
	assert_int_equal(n, 3);
	/* A record of 4 KiB makes the block span two alignment units. */
	assert_int_equal(build_block(p, 6, 2, 0, 1, 4096), 2 * LP_JOURNAL_ALIGN);
	free(p);
}

static void block_damage_refused(void **state)
{
	uint8_t *p = calloc(1, IMG);
	struct lp_jblock_view b;

	(void)state;
	assert_int_equal(lp_jblock_decode(p, IMG, SEG, &b), -ENODATA);   /* zeros */
	build_block(p, 1, 1, 0, 2, 40);
	assert_int_equal(lp_jblock_decode(p, IMG, SEG + 1, &b), -ESTALE); /* other segment */
	assert_int_equal(lp_jblock_decode(p, 100, SEG, &b), -EBADMSG);   /* cut short */
	for (size_t off = 4; off < LP_JBLOCK_HDR_SIZE + 2 * lp_jrec_size(40); off += 3) {
		p[off] ^= 0x10;
		assert_int_equal(lp_jblock_decode(p, IMG, SEG, &b), -EBADMSG);
		p[off] ^= 0x10;
	}
	assert_int_equal(lp_jblock_decode(p, IMG, SEG, &b), 0);
	/* A damaged record alone is refused too. */
	p[LP_JBLOCK_HDR_SIZE + LP_JREC_HDR_SIZE + 1] ^= 1;
	struct lp_jrec_view r;
	assert_int_equal(lp_jrec_decode(p + LP_JBLOCK_HDR_SIZE, 200, &r), -EBADMSG);
	free(p);
}

static void scan_clean_end(void **state)
{
	uint8_t *p = calloc(1, IMG);
	struct lp_jscan sc;
	uint64_t off;

	(void)state;
	off = build_block(p, 1, 1, 0, 2, 10);
	off += build_block(p + off, 2, 1, 2, 1, 4000);
	assert_int_equal(lp_jscan_segment(p, IMG, SEG, NULL, NULL, &sc), 0);
	assert_int_equal(sc.blocks, 2);
	assert_int_equal(sc.end, off);
	assert_int_equal(sc.first_seq, 1);
	assert_int_equal(sc.last_seq, 2);
	assert_int_equal(sc.tail, LP_JSCAN_CLEAN);
	free(p);
}

static void scan_torn_tail(void **state)
{
	uint8_t *p = calloc(1, IMG);
	struct lp_jscan sc;
	uint64_t off, third;

	(void)state;
	off = build_block(p, 1, 1, 0, 2, 10);
	off += build_block(p + off, 2, 1, 2, 1, 10);
	third = off;
	build_block(p + third, 3, 1, 3, 1, 6000); /* two units: the second is lost */
	memset(p + third + LP_JOURNAL_ALIGN, 0, LP_JOURNAL_ALIGN);
	assert_int_equal(lp_jscan_segment(p, IMG, SEG, NULL, NULL, &sc), 0);
	assert_int_equal(sc.blocks, 2);
	assert_int_equal(sc.end, third);
	assert_int_equal(sc.tail, LP_JSCAN_TORN);
	free(p);
}

static void scan_damage_inside(void **state)
{
	uint8_t *p = calloc(1, IMG);
	struct lp_jscan sc;
	uint64_t b2, b3;

	(void)state;
	b2 = build_block(p, 1, 1, 0, 2, 10);
	b3 = b2 + build_block(p + b2, 2, 1, 2, 1, 10);
	build_block(p + b3, 3, 1, 3, 1, 10);
	p[b2 + 60] ^= 0x80;                        /* a bit flip in block 2 */
	assert_int_equal(lp_jscan_segment(p, IMG, SEG, NULL, NULL, &sc), -EBADMSG);
	assert_int_equal(sc.bad_off, b2);
	assert_int_equal(sc.next_off, b3);
	assert_non_null(sc.why);
	p[b2 + 60] ^= 0x80;
	memset(p + b2, 0, 4);                      /* its magic gone */
	assert_int_equal(lp_jscan_segment(p, IMG, SEG, NULL, NULL, &sc), -EBADMSG);
	assert_int_equal(sc.bad_off, b2);
	free(p);
}

static void scan_sequence_gap(void **state)
{
	uint8_t *p = calloc(1, IMG);
	struct lp_jscan sc;
	uint64_t off;

	(void)state;
	off = build_block(p, 1, 1, 0, 1, 10);
	build_block(p + off, 3, 1, 1, 1, 10);
	assert_int_equal(lp_jscan_segment(p, IMG, SEG, NULL, NULL, &sc), -EBADMSG);
	assert_int_equal(sc.bad_off, off);
	off = build_block(p, 1, 2, 0, 1, 10);
	build_block(p + off, 2, 1, 1, 1, 10);     /* epoch back from 2 to 1 */
	assert_int_equal(lp_jscan_segment(p, IMG, SEG, NULL, NULL, &sc), -EBADMSG);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(crc_check_value),
		cmocka_unit_test(block_round_trip),
		cmocka_unit_test(block_damage_refused),
		cmocka_unit_test(scan_clean_end),
		cmocka_unit_test(scan_torn_tail),
		cmocka_unit_test(scan_damage_inside),
		cmocka_unit_test(scan_sequence_gap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
