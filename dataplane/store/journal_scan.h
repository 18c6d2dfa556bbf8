/* SPDX-License-Identifier: MIT */
/*
 * The scanner of one segment image (an mmap of a segment file, or the fuzz
 * target's input): blocks in order from offset 0, each checked by
 * lp_jblock_decode(), until the first place that holds no valid block. What
 * follows that place decides what it is:
 *   - nothing valid of this segment after it: the end of the segment's data.
 *     Either never written (zeros, a block of another segment) or the torn
 *     write in flight at a crash, which was never confirmed (at most one
 *     flush is in flight, and it is the last block of its segment);
 *   - a valid block of this segment with a later sequence number after it: a
 *     block that was confirmed (a later flush was issued only after it was
 *     durable) has been damaged. A hard error.
 * Within a segment block sequence numbers are consecutive and epochs never
 * decrease; across segments recover.c checks the same.
 */
#pragma once

#include <stdint.h>

#include "journal_block.h"

enum lp_jscan_tail {
	LP_JSCAN_CLEAN, /* no block header after the data (zeros, other segment, EOF) */
	LP_JSCAN_TORN,  /* an invalid block after the data, nothing valid after it */
};

struct lp_jscan {
	uint64_t end;           /* offset after the last valid block */
	uint32_t blocks;        /* valid blocks */
	uint64_t first_seq, last_seq;
	uint32_t first_epoch, last_epoch;
	enum lp_jscan_tail tail;
	uint64_t bad_off;       /* on error: offset of the offending block */
	uint64_t next_off;      /* on -EBADMSG: the valid block found after it */
	const char *why;        /* on error: what is wrong, for the message */
};

/* Called for each valid block in order, off its offset in the segment;
 * returns 0 to go on or a negative value that stops the scan. */
typedef int (*lp_jscan_fn)(void *arg, const struct lp_jblock_view *b, uint64_t off);

/* Scans img[0, len) as segment seg_id. Returns 0 (res filled; fn saw every
 * valid block), -EBADMSG (damage in the confirmed data: res->bad_off,
 * res->why), or fn's negative return. fn may be NULL. */
int lp_jscan_segment(const uint8_t *img, uint64_t len, uint32_t seg_id, lp_jscan_fn fn,
	void *arg, struct lp_jscan *res);
