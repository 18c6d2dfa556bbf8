/* SPDX-License-Identifier: MIT */
/*
 * Read-back of ENQUEUE records for deep queues (lp_store.h): lp_store_read queues
 * an io_uring read of a durable record into the caller's buffer (submitted by
 * the next lp_store_flush), lp_store_poll hands out its completion once the
 * record's CRC, type and length were checked. Never a blocking read or a page
 * fault on the worker: the slots are preallocated, at most max_reads.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "segment_file.h"
#include "store_int.h"

int lp_store_read(struct lp_store *s, const struct lp_store_loc *loc, void *dst, uint32_t len,
	uint64_t cookie)
{
	struct io_uring_sqe *sqe;
	struct store_read *r;
	struct store_seg *g;
	uint32_t slot;

	if (s->err != 0)
		return -EIO;
	if (len < loc->len || loc->len < LP_JREC_HDR_SIZE)
		return -EINVAL;
	g = store_seg_find(s, loc->seg);
	if (g == NULL)
		return -ENOENT;
	if (loc->seg > s->durable_seg ||
	    (loc->seg == s->durable_seg && loc->off + loc->len > s->durable_end))
		return -EAGAIN;
	if (loc->off + loc->len > g->end)
		return -EINVAL;
	if (s->n_free_reads == 0)
		return -EBUSY;
	sqe = io_uring_get_sqe(&s->ring);
	if (sqe == NULL)
		return -EBUSY;
	slot = s->free_reads[--s->n_free_reads];
	r = &s->reads[slot];
	*r = (struct store_read){
		.seg = loc->seg, .len = loc->len, .dst = dst, .done = {.cookie = cookie},
	};
	io_uring_prep_read(sqe, g->fd, dst, loc->len, loc->off);
	io_uring_sqe_set_data64(sqe, STORE_UD(LP_STORE_OP_READ, slot));
	g->reads++;
	s->st.reads++;
	return 0;
}

void store_read_complete(struct lp_store *s, uint32_t slot, int res)
{
	struct store_read *r = &s->reads[slot];
	struct store_seg *g = store_seg_find(s, r->seg);
	struct lp_jrec_view v;

	if (g != NULL && --g->reads == 0 && g->live == 0)
		s->reclaim_due = true;
	if (res >= 0 && (uint32_t)res != r->len)
		res = -EIO;
	if (res >= 0) {
		if (lp_jrec_decode(r->dst, r->len, &v) < 0 || v.type != LP_JREC_ENQUEUE ||
		    v.rec_len != r->len)
			res = -EBADMSG;
	}
	if (res < 0) {
		char name[LP_SEG_NAME_MAX];

		lp_seg_name(name, r->seg);
		fprintf(stderr, "lepus store %s: read-back from %s (%u octets): %s\n", s->dir, name,
			r->len, res == -EBADMSG ? "record damaged or not at this location" : "I/O error");
		s->st.read_errors++;
		r->done.res = res;
	} else {
		r->done.res = 0;
		r->done.queue = v.queue;
		r->done.seq = v.seq;
		r->done.msg = v.payload;
		r->done.len = v.len;
	}
	s->done[(s->done_head + s->done_n) % s->max_reads] = slot;
	s->done_n++;
}
