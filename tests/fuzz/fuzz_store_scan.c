/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the journal decoder that recovery runs over every
 * segment file (dataplane/store/journal_scan.c, journal_block.c): the input is
 * a segment image of segment 1. The scanner and the record walk must never
 * read outside the input, and every block they accept must decode again the
 * same, record by record; the single-record decoder (read-back) gets the input
 * too.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "journal_block.h"
#include "journal_scan.h"

static int walk(void *arg, const struct lp_jblock_view *b, uint64_t off)
{
	struct lp_jrec_iter it;
	struct lp_jrec_view r;
	uint32_t n = 0;
	int rc;

	(void)arg;
	(void)off;
	lp_jrec_iter_init(&it, b);
	while ((rc = lp_jrec_next(&it, &r)) == 1) {
		if (r.off + r.rec_len > LP_JBLOCK_HDR_SIZE + b->len || r.len + LP_JREC_HDR_SIZE != r.rec_len)
			abort();
		n++;
	}
	/* lp_jblock_decode accepted the block: its records all parse. */
	if (rc != 0 || n != b->n_records)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lp_jrec_view r;
	struct lp_jscan sc;
	int rc;

	rc = lp_jscan_segment(data, size, 1, walk, NULL, &sc);
	if (rc == 0 && sc.end > size && sc.blocks > 0 && sc.end - size >= LP_JOURNAL_ALIGN)
		abort();
	if (lp_jrec_decode(data, size, &r) == 0 && r.rec_len > size)
		abort();
	return 0;
}
