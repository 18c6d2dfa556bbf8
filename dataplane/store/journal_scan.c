/* SPDX-License-Identifier: MIT */
/*
 * Segment image scanner (journal_scan.h): recovery's first step for each segment
 * file, and the decoder the libFuzzer target drives. Pure computation over a
 * buffer: no file, no allocation.
 */
#include <errno.h>

#include "journal_scan.h"

/* A valid block of seg_id after the data's end, with a later sequence? */
static int find_later_block(const uint8_t *img, uint64_t len, uint64_t from, uint32_t seg_id,
	const struct lp_jscan *res, uint64_t *found)
{
	struct lp_jblock_view b;

	for (uint64_t off = from; off < len && len - off >= LP_JBLOCK_HDR_SIZE;
	     off += LP_JOURNAL_ALIGN) {
		if (lp_jblock_decode(img + off, len - off, seg_id, &b) != 0)
			continue;
		if (res->blocks > 0 && (b.seq <= res->last_seq || b.epoch < res->last_epoch))
			continue;
		*found = off;
		return 1;
	}
	return 0;
}

int lp_jscan_segment(const uint8_t *img, uint64_t len, uint32_t seg_id, lp_jscan_fn fn,
	void *arg, struct lp_jscan *res)
{
	struct lp_jblock_view b;
	uint64_t off = 0;
	int rc;

	*res = (struct lp_jscan){.tail = LP_JSCAN_CLEAN};
	while (len - off >= LP_JBLOCK_HDR_SIZE) {
		rc = lp_jblock_decode(img + off, len - off, seg_id, &b);
		if (rc != 0)
			break;
		if (res->blocks > 0 && b.seq != res->last_seq + 1) {
			res->bad_off = off;
			res->why = "block sequence number is not consecutive";
			return -EBADMSG;
		}
		if (res->blocks > 0 && b.epoch < res->last_epoch) {
			res->bad_off = off;
			res->why = "block epoch goes backwards";
			return -EBADMSG;
		}
		if (res->blocks == 0) {
			res->first_seq = b.seq;
			res->first_epoch = b.epoch;
		}
		res->blocks++;
		res->last_seq = b.seq;
		res->last_epoch = b.epoch;
		if (fn != NULL && (rc = fn(arg, &b, off)) < 0)
			return rc;
		off += b.size;
		res->end = off;
		if (off >= len)
			return 0;
	}
	if (len - off >= LP_JBLOCK_HDR_SIZE) {
		rc = lp_jblock_decode(img + off, len - off, seg_id, &b);
		if (find_later_block(img, len, off + LP_JOURNAL_ALIGN, seg_id, res, &res->next_off)) {
			res->bad_off = off;
			res->why = rc == -ENODATA ? "block header lost inside the confirmed data"
			         : rc == -ESTALE  ? "block of another segment inside the confirmed data"
			                          : "corrupt block (CRC or bounds) inside the confirmed data";
			return -EBADMSG;
		}
		res->tail = rc == -EBADMSG ? LP_JSCAN_TORN : LP_JSCAN_CLEAN;
	}
	return 0;
}
