/* SPDX-License-Identifier: MIT */
/*
 * Deep queues (DESIGN.md "Message store"): a durable queue's tail lives in
 * its shard's journal, not in memory, so that a queue is bounded by disk and
 * not by the message pool.
 *
 *  - Paging out: once a durable queue holds page_after ready messages in
 *    memory, or the shard's message pool is half used, every message routed
 *    to it goes to its paged tail (struct owned_queue.paged) instead of its
 *    lp_queue, in order. The message is journaled (a transient one too,
 *    marked so that recovery skips it and settling only releases it:
 *    LP_JSEQ_TRANSIENT) and its pool slot is given back at once: the store
 *    copied it into its write buffer. What remains in memory is one struct
 *    paged_msg (its journal sequence and location). A message that could
 *    not be read back into a pool slot without the heap (properties or
 *    body over the slot) stays in memory, in its place in the tail.
 *  - Reading back: while the queue has fewer than page_after / 2 ready
 *    messages, the oldest paged ones are read with io_uring (lp_store_read:
 *    never a blocking read or page fault on the worker) into staging
 *    buffers, at most LP_PAGE_READS at once for the shard; completions come
 *    out of lp_store_poll (lp_page_on_read) in any order, and the tail's
 *    head moves into the lp_queue only in order.
 *  - Recovery: a journal with more live messages than half the pool leaves
 *    the rest on disk (recovered_msg.on_disk); lp_persist_feed gives them to
 *    the paged tail, redelivered.
 *  - Queue.Purge and Queue.Delete drop the tail (lp_page_drop): records
 *    settled or released, messages in memory released, reads in flight
 *    forgotten.
 *
 * Message references: a paged_msg in memory holds one reference (the
 * queue's, before it has the message); lp_page_push takes the caller's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker_int.h"
#include "lp_store.h"
#include "message.h"
#include "queue.h"

enum paged_state {
	PAGED_FREE,      /* not in a tail (an entry of the pool never used is zero) */
	PAGED_ON_DISK,
	PAGED_READING,   /* read into page_read slot `slot` */
	PAGED_IN_MEMORY, /* msg holds the message */
};

struct paged_msg {
	struct lp_queue_jref ref; /* loc.len 0: not journaled (kept in memory) */
	struct lp_msg *msg;
	uint64_t since;           /* the queues' clock when it reached the queue (TTL) */
	uint32_t store_id;        /* its queue's (compaction's copies)*/
	uint16_t slot;
	uint8_t state;            /* enum paged_state */
	bool redelivered;
};

/* A staging buffer for one read-back. */
struct page_read {
	uint8_t *buf;             /* LP_PAGE_READ_MAX octets */
	uint32_t entry;           /* the paged_msg in b->page_pool */
	bool busy;                /* in flight, or landed and not yet taken */
	bool landed;
	bool dropped;             /* its queue dropped the message meanwhile */
	bool compact;             /* read to be copied (compaction), not paged in */
	uint32_t off, len;        /* the payload within buf, once landed */
};

int lp_page_init(struct lp_broker *b)
{
	if (b->store == NULL || b->cfg.page_entries == 0)
		return 0;
	if (lp_fifo_pool_init(&b->page_pool, b->cfg.page_entries, sizeof(struct paged_msg)) < 0)
		return -ENOMEM;
	b->page_reads = calloc(LP_PAGE_READS, sizeof(*b->page_reads));
	if (b->page_reads == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < LP_PAGE_READS; i++)
		if ((b->page_reads[i].buf = malloc(LP_PAGE_READ_MAX)) == NULL)
			return -ENOMEM;
	return 0;
}

void lp_page_fini(struct lp_broker *b)
{
	/* The store is closed (its reads waited for) and the queues dropped. */
	if (b->page_reads != NULL)
		for (unsigned i = 0; i < LP_PAGE_READS; i++)
			free(b->page_reads[i].buf);
	free(b->page_reads);
	b->page_reads = NULL;
	lp_fifo_pool_fini(&b->page_pool);
}

uint32_t lp_owner_ready_count(const struct owned_queue *oq)
{
	return lp_queue_message_count(oq->q) + oq->paged.n + (oq->rec_end - oq->rec_next);
}

bool lp_page_wants(const struct lp_broker *b, const struct owned_queue *oq)
{
	if (b->page_reads == NULL || oq->journal_id == 0 || lp_queue_limited(oq->q))
		return false;
	if (oq->paged.n > 0)
		return true; /* order: nothing overtakes the paged tail */
	if (lp_msg_pool_available(b->pool) < lp_msg_pool_capacity(b->pool) / 2)
		return true; /* memory pressure: any queue */
	if (oq->store_id != 0)
		return lp_queue_message_count(oq->q) >= b->cfg.page_after;
	/* A non-durable queue at its capacity in memory: with consumers its
	 * publishers wait for them (flow control, as RabbitMQ's credit flow
	 * matches rates), with none it pages rather than stall. */
	return lp_queue_consumer_count(oq->q) == 0 && !lp_queue_has_room(oq->q);
}

bool lp_page_readable(const struct lp_msg *m)
{
	return m->body_heap == 0 && m->props_heap == 0 &&
	       lp_persist_record_len(m) <= LP_PAGE_READ_MAX;
}

bool lp_page_has_room(const struct lp_broker *b)
{
	return !lp_fifo_pool_full(&b->page_pool);
}

int lp_page_push(struct lp_broker *b, struct owned_queue *oq, struct lp_msg *m,
		 const struct lp_queue_jref *ref, bool redelivered)
{
	struct paged_msg *e = lp_fifo_push(&b->page_pool, &oq->paged);

	if (e == NULL)
		return -ENOSPC;
	*e = (struct paged_msg){.ref = *ref, .msg = m, .redelivered = redelivered,
				.since = lp_queue_pool_now(b->qpool), .store_id = oq->journal_id,
				.state = m != NULL ? PAGED_IN_MEMORY : PAGED_ON_DISK};
	if (m == NULL)
		b->stats.paged_out++;
	return 0;
}

/* Materialise a landed read into a pool message. Returns true when e now
 * holds it (false: the pool is empty for now, try later). */
static bool take_landed(struct lp_broker *b, struct paged_msg *e)
{
	struct page_read *r = &b->page_reads[e->slot];
	int err = 0;

	r->compact = false; /* the copy is not needed: it goes into memory */
	struct lp_msg *m = lp_persist_decode(b, r->buf + r->off, r->len, &err);

	if (m == NULL && err != ENOSPC)
		lp_persist_fail_stop(b, "read-back (decode)", -EBADMSG);
	if (m == NULL)
		return false;
	e->msg = m;
	e->state = PAGED_IN_MEMORY;
	r->busy = r->landed = false;
	b->stats.paged_in++;
	return true;
}

/* A free staging slot, or -1. */
static int free_slot(struct lp_broker *b)
{
	for (unsigned i = 0; i < LP_PAGE_READS; i++)
		if (!b->page_reads[i].busy)
			return (int)i;
	return -1;
}

void lp_page_fill(struct lp_broker *b, struct owned_queue *oq)
{
	struct paged_msg *e;
	unsigned reading = 0, seen = 0;

	/* The head moves into the queue in order, while it is short of
	 * page_after and has room. */
	while ((e = lp_fifo_head(&b->page_pool, &oq->paged)) != NULL &&
	       lp_queue_message_count(oq->q) < b->cfg.page_after) {
		if (e->state == PAGED_READING && b->page_reads[e->slot].landed)
			take_landed(b, e);
		if (e->state != PAGED_IN_MEMORY || !lp_queue_can_take(oq->q, e->msg) ||
		    lp_queue_pool_entries_free(b->qpool) == 0)
			break;
		struct lp_queue_jref ref = e->ref;
		struct lp_msg *m = e->msg;
		int rc = lp_queue_enqueue_since(oq->q, m, ref.loc.len != 0 ? &ref : NULL,
						e->redelivered, e->since);

		e->state = PAGED_FREE;
		lp_fifo_pop(&b->page_pool, &oq->paged);
		if (rc < 0) { /* not expected (no limits on a paging queue): settled */
			if (ref.loc.len != 0)
				lp_persist_settle(b, oq->journal_id, &ref);
			lp_msg_release(m);
		}
	}
	if (lp_queue_message_count(oq->q) >= b->cfg.page_after / 2)
		return;
	/* Read ahead: the oldest on-disk messages of the tail. */
	for (uint32_t i = lp_fifo_first(&oq->paged); i != LP_FIFO_NONE && seen < LP_PAGE_AHEAD;
	     i = lp_fifo_next(&b->page_pool, i), seen++) {
		e = lp_fifo_entry(&b->page_pool, i);
		if (e->state == PAGED_READING && b->page_reads[e->slot].landed)
			take_landed(b, e);
		if (e->state == PAGED_READING && ++reading >= LP_PAGE_READS / 2)
			return;
		if (e->state != PAGED_ON_DISK)
			continue;
		int s = free_slot(b);

		if (s < 0)
			return;
		struct page_read *r = &b->page_reads[s];
		int rc = lp_store_read(b->store, &e->ref.loc, r->buf, LP_PAGE_READ_MAX, (uint64_t)s);

		if (rc == -EAGAIN || rc == -EBUSY) /* not durable yet, or reads full: later */
			return;
		if (rc < 0)
			lp_persist_fail_stop(b, "read-back", rc);
		*r = (struct page_read){.buf = r->buf, .entry = i, .busy = true};
		e->state = PAGED_READING;
		e->slot = (uint16_t)s;
		reading++;
	}
}

/* A compaction read landed: the payload is appended again and the entry
 * is on disk at its new place. Returns false when the journal has no room
 * now (it stays landed: lp_page_compact or lp_page_fill takes it later). */
static bool copy_landed(struct lp_broker *b, struct page_read *r)
{
	struct paged_msg *e = lp_fifo_entry(&b->page_pool, r->entry);

	if (!lp_persist_move_raw(b, e->store_id, &e->ref, r->buf + r->off, r->len))
		return false;
	e->state = PAGED_ON_DISK;
	r->busy = r->landed = r->compact = false;
	return true;
}

void lp_page_on_read(struct lp_broker *b, const struct lp_store_read_done *d)
{
	if (b->page_reads == NULL || d->cookie >= LP_PAGE_READS)
		return;
	struct page_read *r = &b->page_reads[d->cookie];

	if (d->res < 0)
		lp_persist_fail_stop(b, "read-back", d->res);
	if (r->dropped) { /* its queue was purged or deleted meanwhile */
		r->busy = r->landed = r->dropped = r->compact = false;
		return;
	}
	r->landed = true;
	r->off = (uint32_t)((const uint8_t *)d->msg - r->buf);
	r->len = d->len;
	if (r->compact)
		copy_landed(b, r);
}

uint32_t lp_page_entries_used(const struct lp_broker *b)
{
	return b->page_reads != NULL ? b->page_pool.fresh : 0;
}

bool lp_page_compact(struct lp_broker *b, uint32_t seg, uint32_t *from, unsigned budget)
{
	/* Landed copies the journal had no room for first. */
	for (unsigned i = 0; i < LP_PAGE_READS; i++) {
		struct page_read *r = &b->page_reads[i];

		if (r->compact && r->landed && !copy_landed(b, r))
			return false;
	}
	for (; *from < b->page_pool.fresh && budget > 0; (*from)++, budget--) {
		struct paged_msg *e = lp_fifo_entry(&b->page_pool, *from);

		if (e->state == PAGED_FREE || e->ref.loc.len == 0 || e->ref.loc.seg != seg)
			continue;
		if (e->state == PAGED_IN_MEMORY) {
			if (!lp_persist_move_msg(b, e->store_id, &e->ref, e->msg))
				return false;
			continue;
		}
		if (e->state != PAGED_ON_DISK)
			continue; /* being read: the next pass */
		int s = free_slot(b);

		if (s < 0)
			return false;
		struct page_read *r = &b->page_reads[s];
		int rc = lp_store_read(b->store, &e->ref.loc, r->buf, LP_PAGE_READ_MAX, (uint64_t)s);

		if (rc == -EBUSY || rc == -EAGAIN)
			return false;
		if (rc < 0)
			lp_persist_fail_stop(b, "read-back", rc);
		*r = (struct page_read){.buf = r->buf, .entry = *from, .busy = true, .compact = true};
		e->state = PAGED_READING;
		e->slot = (uint16_t)s;
	}
	return true;
}

void lp_page_drop(struct lp_broker *b, struct owned_queue *oq, bool ended)
{
	struct paged_msg *e;

	while ((e = lp_fifo_head(&b->page_pool, &oq->paged)) != NULL) {
		if (e->state == PAGED_READING) {
			struct page_read *r = &b->page_reads[e->slot];

			r->dropped = true;
			if (r->landed) /* nothing in flight: free now */
				r->busy = r->landed = r->dropped = r->compact = false;
		}
		if (e->msg != NULL)
			lp_msg_release(e->msg);
		if (e->ref.loc.len != 0 && b->store != NULL) {
			if (ended)
				lp_store_release(b->store, &e->ref.loc);
			else
				lp_persist_settle(b, oq->journal_id, &e->ref);
		}
		e->state = PAGED_FREE;
		lp_fifo_pop(&b->page_pool, &oq->paged);
	}
}
