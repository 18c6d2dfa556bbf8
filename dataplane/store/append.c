/* SPDX-License-Identifier: MIT */
/*
 * Appends (lp_store.h): each record is encoded straight into the open block, the
 * half of the write buffer that the next lp_store_flush seals and writes. A
 * block lives in one segment: the first record of a block that would not fit
 * in the rest of the current segment opens a new one; a later record that
 * would not fit waits (-ENOBUFS) for the block to be flushed.
 */
#include <errno.h>

#include "store_int.h"

static int64_t append(struct lp_store *s, enum lp_jrec_type type, uint32_t queue, uint64_t seq,
	uint32_t ref_seg, const struct iovec *iov, unsigned iovcnt, struct lp_store_loc *loc)
{
	struct store_half *h = &s->half[s->open];
	uint64_t plen = 0, rsz, alone;
	uint32_t at;
	int rc;

	if (s->err != 0)
		return -EIO;
	for (unsigned i = 0; i < iovcnt; i++)
		plen += iov[i].iov_len;
	if (plen > UINT32_MAX)
		return -EMSGSIZE;
	rsz = lp_jrec_size(plen);
	alone = lp_jalign(LP_JBLOCK_HDR_SIZE + rsz, LP_JOURNAL_ALIGN);
	if (alone > s->half_bytes || alone > s->seg_bytes)
		return -EMSGSIZE;
	if (h->used == 0) {
		struct store_seg *cur = store_seg_find(s, s->cur_id);

		if (alone > s->seg_bytes - cur->end) {
			rc = store_seg_roll(s);
			if (rc < 0)
				return rc;
			cur = store_seg_find(s, s->cur_id);
		}
		*h = (struct store_half){
			.mem = h->mem, .used = LP_JBLOCK_HDR_SIZE, .seg = s->cur_id, .off = cur->end,
		};
	} else if (h->used + rsz > s->half_bytes ||
	           lp_jalign(h->used + rsz, LP_JOURNAL_ALIGN) > s->seg_bytes - h->off) {
		s->st.enobufs++;
		return -ENOBUFS;
	}
	at = h->used;
	lp_jrec_encode(h->mem + at, type, queue, seq, ref_seg, iov, iovcnt, (uint32_t)plen);
	h->used += (uint32_t)rsz;
	h->n_records++;
	h->last_ticket = ++s->next_ticket;
	s->st.appends++;
	if (loc != NULL)
		*loc = (struct lp_store_loc){
			.seg = h->seg, .len = LP_JREC_HDR_SIZE + (uint32_t)plen, .off = h->off + at,
		};
	return (int64_t)h->last_ticket;
}

int64_t lp_store_enqueue(struct lp_store *s, uint32_t queue, uint64_t seq,
	const struct iovec *iov, unsigned iovcnt, struct lp_store_loc *loc)
{
	struct lp_store_loc l;
	struct store_seg *g;
	int64_t t;

	t = append(s, LP_JREC_ENQUEUE, queue, seq, 0, iov, iovcnt, &l);
	if (t < 0)
		return t;
	g = store_seg_find(s, l.seg);
	g->live++;
	g->live_bytes += l.len;
	s->st.live_records++;
	s->st.live_bytes += l.len;
	if (loc != NULL)
		*loc = l;
	return t;
}

/* The segment the open block goes to refers back to segment ref. */
static void refer(struct lp_store *s, uint32_t ref)
{
	struct store_seg *g = store_seg_find(s, s->half[s->open].seg);

	if (ref < g->min_ref)
		g->min_ref = ref;
}

int64_t lp_store_settle(struct lp_store *s, uint32_t queue, uint64_t seq,
	const struct lp_store_loc *enq)
{
	int64_t t = append(s, LP_JREC_SETTLE, queue, seq, enq->seg, NULL, 0, NULL);

	if (t < 0)
		return t;
	refer(s, enq->seg);
	lp_store_release(s, enq);
	return t;
}

int64_t lp_store_purge(struct lp_store *s, uint32_t queue)
{
	int64_t t = append(s, LP_JREC_QUEUE_PURGE, queue, 0, 0, NULL, 0, NULL);

	if (t >= 0)
		refer(s, 0);
	return t;
}

int64_t lp_store_queue_delete(struct lp_store *s, uint32_t queue)
{
	int64_t t = append(s, LP_JREC_QUEUE_DELETE, queue, 0, 0, NULL, 0, NULL);

	if (t >= 0)
		refer(s, 0);
	return t;
}

void lp_store_release(struct lp_store *s, const struct lp_store_loc *enq)
{
	struct store_seg *g = store_seg_find(s, enq->seg);

	if (g == NULL || g->live == 0)
		return;
	g->live--;
	g->live_bytes -= enq->len <= g->live_bytes ? enq->len : g->live_bytes;
	s->st.live_records--;
	s->st.live_bytes -= enq->len <= s->st.live_bytes ? enq->len : s->st.live_bytes;
	if (g->live == 0)
		s->reclaim_due = true;
}

uint64_t lp_store_record_len(uint64_t payload)
{
	return LP_JREC_HDR_SIZE + payload;
}

bool lp_store_fits(const struct lp_store *s, uint64_t payload, unsigned n)
{
	const struct store_half *h = &s->half[s->open];
	uint64_t rsz = lp_jrec_size(payload) * n;

	if (s->err != 0)
		return false;
	if (h->used == 0) /* a new block: -EMSGSIZE is for the append to say */
		return true;
	return h->used + rsz <= s->half_bytes &&
	       lp_jalign(h->used + rsz, LP_JOURNAL_ALIGN) <= s->seg_bytes - h->off;
}
