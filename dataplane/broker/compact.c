/* SPDX-License-Identifier: MIT */
/*
 * Journal compaction (DESIGN.md "Message store"): a segment goes once none
 * of its messages is live, but one long-lived message keeps a whole segment
 * (64 MiB) on disk. So, a little every poll, the oldest segment that is less
 * than half live and could go once drained (lp_store_compact_candidate) has
 * its live messages copied to the head of the journal, with the same queue
 * and sequence: from memory when the message is there (a queue's ready and
 * unacked messages, lp_queue_move_refs; a paged tail's messages in memory),
 * else read back first (a paged tail's messages on disk, page.c). Each old
 * record is released only once its copy is durable (persist.c), so the
 * segment is deleted after that and a crash in between leaves two copies,
 * of which recovery keeps the later one. Disk use stays within about twice
 * the live bytes plus the segments being written.
 *
 * The walk is bounded per poll (LP_COMPACT_BUDGET entries visited); what it
 * could not move in one pass (reads in flight, messages still recovering)
 * is tried again in the next pass, and after LP_COMPACT_PASSES passes the
 * segment is left alone for a while.
 */
#include <stdint.h>

#include "broker_int.h"
#include "lp_store.h"
#include "queue.h"

#define LP_COMPACT_EVERY 1024   /* polls between looks for a candidate */
#define LP_COMPACT_BUDGET 1024  /* entries visited per poll */
#define LP_COMPACT_PASSES 8

static bool move_one(void *ctx, struct lp_queue_jref *ref, const struct lp_msg *m)
{
	struct owned_queue *oq = ctx;

	return lp_persist_move_msg(oq->broker, oq->journal_id, ref, m);
}

static void finish(struct lp_broker *b, bool gave_up)
{
	b->compacting = false;
	if (gave_up)
		b->compact_gave_up = b->compact_seg;
}

void lp_compact_step(struct lp_broker *b)
{
	uint64_t live;
	unsigned budget = LP_COMPACT_BUDGET;

	if (!b->compacting) {
		uint32_t seg;

		b->compact_polls++;
		if (b->compact_polls % (64 * LP_COMPACT_EVERY) == 0)
			b->compact_gave_up = 0; /* segment ids start at 1: try it again */
		if (b->compact_polls % LP_COMPACT_EVERY != 0 || !b->adopted ||
		    lp_store_compact_candidate(b->store, &seg) != 1 || seg == b->compact_gave_up)
			return;
		b->compacting = true;
		b->compact_seg = seg;
		b->compact_queue = b->compact_entry = b->compact_pass = 0;
	}
	if (lp_store_segment_live(b->store, b->compact_seg, &live) < 0 || live == 0) {
		finish(b, false); /* drained: the store deletes it (after the copies' releases) */
		return;
	}
	/* The queues' messages in memory: a whole queue at a time (bounded by
	 * what a queue holds in memory). */
	for (; b->compact_queue < b->n_live && budget > 0; b->compact_queue++) {
		struct owned_queue *oq = &b->queues[b->live[b->compact_queue]];
		unsigned visited = lp_queue_message_count(oq->q) + lp_queue_unacked_count(oq->q);

		if (oq->journal_id == 0)
			continue;
		if (oq->rec_next < oq->rec_end) /* still recovering: a later pass */
			continue;
		lp_queue_move_refs(oq->q, b->compact_seg, move_one, oq);
		if (b->moves_n == LP_PERSIST_MOVES)
			return; /* no room for more copies now: this queue again later */
		budget = visited < budget ? budget - visited : 0;
	}
	if (b->compact_queue < b->n_live)
		return;
	/* The paged tails: their entries by index in the pool. */
	if (b->compact_entry < lp_page_entries_used(b)) {
		if (!lp_page_compact(b, b->compact_seg, &b->compact_entry, budget) ||
		    b->compact_entry < lp_page_entries_used(b))
			return;
	}
	/* A pass is over. Its copies' old records are released once the copies
	 * are durable: wait for that, then what is left (reads in flight,
	 * recovering queues) is looked at again. */
	if (b->moves_n > 0)
		return;
	if (++b->compact_pass >= LP_COMPACT_PASSES) {
		finish(b, true);
		return;
	}
	b->compact_queue = b->compact_entry = 0;
}
