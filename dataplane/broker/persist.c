/* SPDX-License-Identifier: MIT */
/*
 * Persistence (DESIGN.md "Message store"): the broker shard's use of its
 * journal (lp_store.h, one per worker, in <data_dir>/shard-<worker>/).
 *
 *  - A persistent message (delivery-mode 2) enqueued into a durable queue
 *    of this shard is appended as an ENQUEUE record (its journal sequence
 *    and location travel with the queue entry, struct lp_queue_jref);
 *    leaving the queue for good (ack, reject, no-ack delivery, length limit)
 *    appends a SETTLE; Queue.Purge and Queue.Delete append one PURGE/DELETE
 *    record when they can (else a SETTLE per message).
 *  - Publisher confirms wait for durability: each such enqueue of a
 *    publisher with confirms leaves a durable wait (ticket, channel, seq);
 *    once the journal's durable ticket passes it the verdict goes to the
 *    publisher's shard (LP_OP_CONFIRM; this shard's own: at once), where
 *    confirm.c batches them into Basic.Ack multiple=true.
 *  - One lp_store_flush per poll iteration (group commit of what arrived
 *    since the last one), one lp_store_poll to reap without waiting.
 *  - Recovery at start-up: every live message of the journal is loaded into
 *    the message pool, sorted by (queue, sequence); once lepus-control's
 *    first topology arrives, each durable queue of this shard takes its
 *    messages back, in order, redelivered (the journal does not record
 *    deliveries, so every recovered message counts as possibly delivered),
 *    before any new publish; messages of queues that no longer exist are
 *    settled, those of queues now owned by another worker are sent there.
 *  - Fail-stop: a write or fsync error stops the process (lp_store.h).
 *
 * Message references: a recovered message holds one reference until its
 * queue takes it (lp_queue_enqueue_ref) or it is dropped.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "amqp_spec.h"
#include "broker_int.h"
#include "expiration.h"
#include "lp_store.h"
#include "message.h"
#include "queue.h"
#include "snapshot.h"
#include "topology.h"

#define PERSIST_VERSION 1
#define EX_IOERR_CODE 74 /* sysexits.h EX_IOERR */

/* The payload of an ENQUEUE record: this header, the exchange, the routing
 * key, the content header's property list, the body. */
struct persist_hdr {
	uint8_t version;
	uint8_t flags;        /* LP_MSG_F_PERSISTENT */
	uint8_t exchange_len;
	uint8_t rkey_len;
	uint32_t props_len;
};

_Static_assert(sizeof(struct persist_hdr) == 8, "journal message header layout");

void lp_persist_fail_stop(struct lp_broker *b, const char *what, int rc)
{
	fprintf(stderr, "lepus-dataplane: worker %u: message store %s failed: %s (%s); stopping "
		"(fail-stop: a confirmed message is never reported durable when it is not)\n",
		b->id, what, strerror(rc < 0 ? -rc : rc),
		b->store != NULL ? lp_store_error_msg(b->store) : "");
	fflush(stderr);
	_exit(EX_IOERR_CODE);
}

/* ---- recovery ----------------------------------------------------------- */

struct recover_ctx {
	struct lp_broker *b;
	uint32_t cap;
	int err;
};

/* A message read back from the journal gets its own TTL and its priority
 * again (its properties were validated when it was published). */
static void restore_props(struct lp_msg *m)
{
	struct lp_amqp_basic_properties p;

	if (lp_amqp_basic_properties_decode(m->props, m->props_len, &p) != 0)
		return;
	if ((p.flags & LP_AMQP_BASIC_EXPIRATION_FLAG) &&
	    lp_expiration_parse(p.expiration, &m->ttl_ms, NULL, 0) == LP_EXPIRATION_OK)
		m->flags |= LP_MSG_F_TTL;
	if (p.flags & LP_AMQP_BASIC_PRIORITY_FLAG)
		m->priority = p.priority;
}

struct lp_msg *lp_persist_decode(struct lp_broker *b, const void *payload, uint32_t len, int *err)
{
	const uint8_t *p = payload;
	struct persist_hdr h;

	if (len < sizeof(h))
		goto bad;
	memcpy(&h, p, sizeof(h));
	if (h.version != PERSIST_VERSION ||
	    (uint64_t)sizeof(h) + h.exchange_len + h.rkey_len + h.props_len > len)
		goto bad;
	const char *x = (const char *)p + sizeof(h), *rk = x + h.exchange_len;
	const uint8_t *props = (const uint8_t *)rk + h.rkey_len, *body = props + h.props_len;
	uint32_t body_len = len - (uint32_t)(body - p);
	struct lp_msg *m = lp_msg_create(b->pool, x, h.exchange_len, rk, h.rkey_len, NULL, 0, NULL,
					 0, h.flags & LP_MSG_F_PERSISTENT);

	/* The properties first: a body in the slot starts right after them
	 * (message.h), so props_len must be set before the body is reserved. */
	if (m == NULL || lp_msg_props_reserve(m, h.props_len) < 0)
		goto no_room;
	memcpy(m->props, props, h.props_len);
	m->props_len = h.props_len;
	restore_props(m);
	if (lp_msg_body_reserve(m, body_len) < 0)
		goto no_room;
	memcpy(m->body, body, body_len);
	m->body_len = body_len;
	return m;

no_room:
	*err = m == NULL ? errno : ENOMEM;
	if (m != NULL)
		lp_msg_release(m);
	return NULL;
bad:
	*err = EBADMSG;
	return NULL;
}

/* A record whose message is persistent (else it was journaled only to page
 * it out: recovery skips it). */
static bool record_persistent(const void *payload, uint32_t len)
{
	struct persist_hdr h;

	if (len < sizeof(h))
		return true; /* lp_persist_decode says what is wrong */
	memcpy(&h, payload, sizeof(h));
	return h.flags & LP_MSG_F_PERSISTENT;
}

static int on_recovered(void *arg, uint32_t queue, uint64_t seq, const struct lp_store_loc *loc,
			const void *msg, uint32_t len)
{
	struct recover_ctx *r = arg;
	struct lp_broker *b = r->b;
	struct lp_msg *m = NULL;

	if (!record_persistent(msg, len) || (queue & LP_JOURNAL_TRANSIENT_Q))
		return LP_STORE_RECOVER_SKIP;
	if (b->n_recovered == r->cap) {
		uint32_t ncap = r->cap ? r->cap * 2 : 4096;
		struct recovered_msg *nv = realloc(b->recovered, (size_t)ncap * sizeof(*nv));

		if (nv == NULL)
			return -ENOMEM;
		b->recovered = nv;
		r->cap = ncap;
	}
	/* Past half the pool, a message that reads back into a slot stays on
	 * disk: its queue pages it in as it drains (page.c). */
	bool on_disk = b->cfg.page_entries > 0 && loc->len <= LP_PAGE_READ_MAX &&
		       lp_msg_pool_available(b->pool) < lp_msg_pool_capacity(b->pool) / 2;

	if (!on_disk && (m = lp_persist_decode(b, msg, len, &r->err)) == NULL)
		return r->err == EBADMSG ? -EBADMSG : -ENOSPC;
	b->recovered[b->n_recovered++] = (struct recovered_msg){
		.store_id = queue, .ref = {.seq = seq, .loc = *loc}, .msg = m, .on_disk = on_disk};
	b->stats.recovered_on_disk += on_disk;
	return 0;
}

static int cmp_recovered(const void *a, const void *b)
{
	const struct recovered_msg *x = a, *y = b;

	if (x->store_id != y->store_id)
		return x->store_id < y->store_id ? -1 : 1;
	if (x->ref.seq != y->ref.seq)
		return x->ref.seq < y->ref.seq ? -1 : 1;
	/* Two copies of one message (compaction copied it, and crashed before
	 * the old one was released): the later one first, it is kept. */
	if (x->ref.loc.seg != y->ref.loc.seg)
		return x->ref.loc.seg > y->ref.loc.seg ? -1 : 1;
	return (x->ref.loc.off < y->ref.loc.off) - (x->ref.loc.off > y->ref.loc.off);
}

/* Keep one copy of each (queue, seq): the first of each run (the later
 * record); the others are released. */
static void drop_copies(struct lp_broker *b)
{
	for (uint32_t i = 1; i < b->n_recovered; i++) {
		struct recovered_msg *r = &b->recovered[i], *p = &b->recovered[i - 1];

		if (r->store_id != p->store_id || r->ref.seq != p->ref.seq)
			continue;
		lp_store_release(b->store, &r->ref.loc);
		if (r->msg != NULL)
			lp_msg_release(r->msg);
		*r = (struct recovered_msg){.store_id = p->store_id, .ref = p->ref}; /* taken */
		b->stats.recovered--;
		b->stats.recovered_copies++;
	}
}

int lp_persist_open(struct lp_broker *b)
{
	struct lp_store_recovery rec = {0};
	struct recover_ctx r = {.b = b};

	if (b->cfg.data_dir == NULL || b->cfg.data_dir[0] == '\0')
		return 0;
	struct lp_store_config sc = {.data_dir = b->cfg.data_dir, .shard = b->id,
				     .segment_bytes = b->cfg.segment_bytes,
				     .fault_sync_eio_at = b->cfg.store_fault_sync_eio_at,
				     .fault_torn_write_at = b->cfg.store_fault_torn_write_at};

	b->store = lp_store_open(&sc, on_recovered, &r, &rec);
	if (b->store == NULL) {
		int e = errno;

		if (r.err != 0 && r.err != EBADMSG)
			fprintf(stderr, "lepus-dataplane: worker %u: the journal in %s holds more "
				"messages than fit in memory (%" PRIu32 " loaded, message pool of %" PRIu32
				"): raise max-messages\n", b->id, b->cfg.data_dir, b->n_recovered,
				lp_msg_pool_capacity(b->pool));
		else
			fprintf(stderr, "lepus-dataplane: worker %u: message store in %s: %s%s%s\n", b->id,
				b->cfg.data_dir, strerror(e), rec.error[0] ? ": " : "", rec.error);
		return -(r.err != 0 && r.err != EBADMSG ? r.err : e);
	}
	if (b->n_recovered > 1)
		qsort(b->recovered, b->n_recovered, sizeof(*b->recovered), cmp_recovered);
	b->stats.recovered = b->n_recovered;
	drop_copies(b);
	if (rec.segments > 0)
		printf("lepus-dataplane: worker %u: journal recovered: %" PRIu32 " segments, %" PRIu64
		       " records, %" PRIu64 " live messages (%" PRIu64 " bytes), %" PRIu32
		       " torn tails dropped\n", b->id, rec.segments, rec.records, rec.live,
		       rec.live_bytes, rec.torn_tails);
	/* Every publisher's confirms, and adopt's forwarded messages, of every
	 * worker can wait here at once. */
	size_t n_waits = ((size_t)b->cfg.pending_confirms + LP_PERSIST_ADOPT_INFLIGHT) * b->n_workers;

	b->dwait = calloc(n_waits, sizeof(*b->dwait));
	b->moves = calloc(LP_PERSIST_MOVES, sizeof(*b->moves));
	b->swait = calloc(LP_BROKER_SETTLE_BACKLOG, sizeof(*b->swait));
	if (b->dwait == NULL || b->swait == NULL || b->moves == NULL)
		return -ENOMEM;
	b->dwait_cap = (uint32_t)n_waits;
	return 0;
}

/* Drop the recovered messages [from, to) (their records too, unless the
 * queue's end was recorded: ended). */
static void drop_recovered(struct lp_broker *b, uint32_t from, uint32_t to, bool settle)
{
	for (uint32_t i = from; i < to; i++) {
		struct recovered_msg *r = &b->recovered[i];

		if (r->msg == NULL && !r->on_disk)
			continue;
		if (settle)
			lp_persist_settle(b, r->store_id, &r->ref);
		else
			lp_store_release(b->store, &r->ref.loc);
		if (r->msg != NULL)
			lp_msg_release(r->msg);
		r->msg = NULL;
		r->on_disk = false;
	}
}

/* The settles that waited for room in the journal's buffer, as far as
 * there is room now. */
static void append_waiting_settles(struct lp_broker *b)
{
	while (b->swait_n > 0) {
		struct settle_wait *w = &b->swait[b->swait_head];
		int64_t t = lp_store_settle(b->store, w->store_id, w->ref.seq, &w->ref.loc);

		if (t == -ENOBUFS)
			break;
		if (t < 0)
			lp_persist_fail_stop(b, "settle", (int)t);
		b->swait_head = (b->swait_head + 1) % LP_BROKER_SETTLE_BACKLOG;
		b->swait_n--;
	}
}

void lp_persist_close(struct lp_broker *b)
{
	/* A clean stop writes the settles still waiting for room (else their
	 * messages would come back after the restart), bounded: about 1 s. */
	for (unsigned i = 0; b->store != NULL && b->swait_n > 0 && i < 10000; i++) {
		if (lp_store_flush(b->store) < 0 || lp_store_poll(b->store, NULL, 0) < 0)
			break;
		append_waiting_settles(b);
		if (b->swait_n > 0)
			usleep(100);
	}
	if (b->store != NULL) {
		int rc = lp_store_close(b->store);

		if (rc < 0)
			fprintf(stderr, "lepus-dataplane: worker %u: message store: last flush failed\n",
				b->id);
	}
	b->store = NULL;
	for (uint32_t i = 0; i < b->n_recovered; i++)
		if (b->recovered[i].msg != NULL)
			lp_msg_release(b->recovered[i].msg);
	free(b->recovered);
	b->recovered = NULL;
	b->n_recovered = 0;
	free(b->dwait);
	free(b->swait);
	free(b->moves);
	b->moves = NULL;
	b->moves_n = 0;
	b->dwait = NULL;
	b->swait = NULL;
}

/* The first recovered message of store_id (n_recovered when none). */
static uint32_t recovered_first(const struct lp_broker *b, uint32_t store_id)
{
	uint32_t lo = 0, hi = b->n_recovered;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (b->recovered[mid].store_id < store_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void lp_persist_attach(struct lp_broker *b, struct owned_queue *oq)
{
	uint32_t i = recovered_first(b, oq->store_id), j = i;

	oq->next_jseq = 1;
	while (j < b->n_recovered && b->recovered[j].store_id == oq->store_id)
		j++;
	oq->rec_next = i;
	oq->rec_end = j;
	if (j > i)
		oq->next_jseq = b->recovered[j - 1].ref.seq + 1;
	lp_persist_feed(b, oq);
}

void lp_persist_feed(struct lp_broker *b, struct owned_queue *oq)
{
	while (oq->rec_next < oq->rec_end) {
		struct recovered_msg *r = &b->recovered[oq->rec_next];

		if (r->on_disk || (r->msg != NULL && oq->paged.n > 0)) {
			/* The rest of the queue goes to its paged tail, in order. */
			if (lp_page_push(b, oq, r->msg, &r->ref, true) < 0)
				return;
		} else if (r->msg != NULL) {
			if (!lp_queue_can_take(oq->q, r->msg))
				return;
			int rc = lp_queue_enqueue_ref(oq->q, r->msg, &r->ref, true);

			if (rc < 0) { /* reject-publish over its limit: gone as RabbitMQ would */
				lp_persist_settle(b, oq->store_id, &r->ref);
				lp_msg_release(r->msg);
			}
		}
		r->msg = NULL;
		r->on_disk = false;
		oq->rec_next++;
	}
}

/* Send recovered messages of queues another worker owns now (the worker
 * count changed) to that owner, as far as its stage and the in-flight bound
 * allow; lp_persist_poll goes on with the rest. Each is settled here only
 * when the owner says it is durable there (lp_persist_adopted): a crash in
 * between recovers it here again (at least once, never lost). */
static void adopt_forward(struct lp_broker *b)
{
	for (; b->adopt_next < b->n_recovered; b->adopt_next++) {
		struct recovered_msg *r = &b->recovered[b->adopt_next];

		/* One left on disk (the pool was half used at recovery) stays in
		 * this journal for the next start. */
		if (r->forward_to == 0 || r->msg == NULL)
			continue;
		unsigned owner = r->forward_to - 1u;
		struct ring_stage *st = &b->out[LP_MESH_DATA * b->n_workers + owner];
		/* A queue deleted meanwhile answers with an ack (the message is
		 * dropped there), and its record is settled here. */
		if (b->adopt_inflight == LP_PERSIST_ADOPT_INFLIGHT || st->n + 1 >= b->cfg.stage_ops)
			return;
		lp_broker_send(b, owner, lp_op_enqueue(r->forward_qid, r->msg, true,
						     LP_CHAN_ADOPT, b->adopt_next));
		r->msg = NULL;
		b->adopt_inflight++;
		b->stats.recovered_forwarded++;
	}
}

void lp_persist_adopted(struct lp_broker *b, uint64_t index)
{
	/* Acked or not (a reject-publish queue refused it, as RabbitMQ would),
	 * the message is the owner's business now. */
	if (b->store == NULL || index >= b->n_recovered || b->adopt_inflight == 0)
		return;
	struct recovered_msg *r = &b->recovered[index];

	lp_persist_settle(b, r->store_id, &r->ref);
	b->adopt_inflight--;
}

void lp_persist_adopt(struct lp_broker *b)
{
	const struct lp_topology *t = b->snap->topo;
	uint32_t n = lp_topology_queue_count(t);

	b->adopted = true;
	if (b->store == NULL)
		return;
	/* Queues of this shard that hold recovered messages take them now;
	 * those another worker owns get them (adopt_forward). */
	for (uint32_t k = 0; k < n; k++) {
		const struct lp_topology_queue *tq = lp_topology_queue(t, k);

		if (tq->store_id == 0)
			continue;
		uint32_t i = recovered_first(b, tq->store_id);

		if (i == b->n_recovered || b->recovered[i].store_id != tq->store_id)
			continue;
		b->recovered[i].queue_exists = true;
		unsigned owner = lp_broker_owner(b, tq->owner_shard);

		if (owner == b->id) {
			lp_owner_queue(b, tq->qid);
			continue;
		}
		for (; i < b->n_recovered && b->recovered[i].store_id == tq->store_id; i++) {
			b->recovered[i].forward_to = (uint16_t)(owner + 1);
			b->recovered[i].forward_qid = tq->qid;
		}
	}
	/* What is left of queues that are gone (deleted while this worker was
	 * down, before their DELETE record was written) is settled. */
	for (uint32_t i = 0, end; i < b->n_recovered; i = end) {
		uint32_t id = b->recovered[i].store_id;

		for (end = i; end < b->n_recovered && b->recovered[end].store_id == id; end++)
			;
		if (b->recovered[i].queue_exists)
			continue; /* its queue takes them as it drains, or its owner does */
		for (uint32_t j = i; j < end; j++)
			b->stats.recovered_orphans += b->recovered[j].msg != NULL;
		drop_recovered(b, i, end, true);
	}
	adopt_forward(b);
}

/* ---- the message path ----------------------------------------------------- */

bool lp_persist_wants(const struct lp_broker *b, const struct owned_queue *oq, const struct lp_msg *m)
{
	return b->store != NULL && oq->store_id != 0 && (m->flags & LP_MSG_F_PERSISTENT);
}

static uint64_t payload_len(const struct lp_msg *m)
{
	return sizeof(struct persist_hdr) + m->exchange_len + m->rkey_len + m->props_len + m->body_len;
}

uint64_t lp_persist_record_len(const struct lp_msg *m)
{
	return lp_store_record_len(payload_len(m));
}

bool lp_persist_fits(const struct lp_broker *b, const struct lp_msg *m, unsigned n)
{
	return n == 0 || lp_store_fits(b->store, payload_len(m), n);
}

/* Append m's ENQUEUE record as (store_id, seq). Returns the ticket, or what
 * lp_store_enqueue said (-EIO stops the process). */
static int64_t append_msg(struct lp_broker *b, uint32_t store_id, uint64_t seq, const struct lp_msg *m,
			  bool kept, struct lp_store_loc *loc)
{
	struct persist_hdr h = {.version = PERSIST_VERSION, .flags = kept ? LP_MSG_F_PERSISTENT : 0,
				.exchange_len = m->exchange_len, .rkey_len = m->rkey_len,
				.props_len = m->props_len};
	struct iovec iov[5] = {
		{&h, sizeof(h)}, {(void *)m->exchange, m->exchange_len}, {(void *)m->rkey, m->rkey_len},
		{m->props, m->props_len}, {m->body, m->body_len},
	};
	int64_t t = lp_store_enqueue(b->store, store_id, seq, iov, 5, loc);

	if (t == -EIO)
		lp_persist_fail_stop(b, "append", (int)t);
	return t;
}

int64_t lp_persist_enqueue(struct lp_broker *b, struct owned_queue *oq, const struct lp_msg *m,
			   struct lp_queue_jref *ref)
{
	/* Recovered: a persistent message of a durable queue only. */
	bool kept = (m->flags & LP_MSG_F_PERSISTENT) && oq->store_id != 0;

	ref->seq = oq->next_jseq | (kept ? 0 : LP_JSEQ_TRANSIENT);
	int64_t t = append_msg(b, oq->journal_id, ref->seq, m, kept, &ref->loc);

	if (t > 0) {
		oq->next_jseq++;
		b->stats.persisted += kept;
	}
	return t;
}

/* The copy at ticket t replaces the record at old: old is released once t
 * is durable (lp_persist_poll), so that the segment never goes before the
 * copy is safe. */
static void moved(struct lp_broker *b, struct lp_queue_jref *ref, int64_t t,
		  const struct lp_store_loc *new_loc)
{
	b->moves[(b->moves_head + b->moves_n++) % LP_PERSIST_MOVES] =
		(struct moved_record){.ticket = (uint64_t)t, .old = ref->loc};
	ref->loc = *new_loc;
	b->stats.compacted++;
}

bool lp_persist_move_msg(struct lp_broker *b, uint32_t store_id, struct lp_queue_jref *ref,
			 const struct lp_msg *m)
{
	struct lp_store_loc loc;

	if (b->moves_n == LP_PERSIST_MOVES)
		return false;
	int64_t t = append_msg(b, store_id, ref->seq, m, !(ref->seq & LP_JSEQ_TRANSIENT), &loc);

	if (t <= 0)
		return false; /* the buffer is full (or the segments are): later */
	moved(b, ref, t, &loc);
	return true;
}

bool lp_persist_move_raw(struct lp_broker *b, uint32_t store_id, struct lp_queue_jref *ref,
			 const void *payload, uint32_t len)
{
	struct iovec iov = {(void *)payload, len};
	struct lp_store_loc loc;

	if (b->moves_n == LP_PERSIST_MOVES)
		return false;
	int64_t t = lp_store_enqueue(b->store, store_id, ref->seq, &iov, 1, &loc);

	if (t == -EIO)
		lp_persist_fail_stop(b, "append", (int)t);
	if (t <= 0)
		return false;
	moved(b, ref, t, &loc);
	return true;
}

void lp_persist_settle(struct lp_broker *b, uint32_t store_id, const struct lp_queue_jref *ref)
{
	if (ref->seq & LP_JSEQ_TRANSIENT) { /* recovery skips it: nothing to record */
		lp_store_release(b->store, &ref->loc);
		return;
	}
	if (b->swait_n == 0) {
		int64_t t = lp_store_settle(b->store, store_id, ref->seq, &ref->loc);

		if (t > 0)
			return;
		if (t != -ENOBUFS)
			lp_persist_fail_stop(b, "settle", (int)t);
	}
	if (b->swait_n == LP_BROKER_SETTLE_BACKLOG) {
		/* At worst the message comes back once after a crash (at least once). */
		b->stats.settles_lost++;
		lp_store_release(b->store, &ref->loc);
		return;
	}
	b->swait[(b->swait_head + b->swait_n++) % LP_BROKER_SETTLE_BACKLOG] =
		(struct settle_wait){.store_id = store_id, .ref = *ref};
}

void lp_persist_gone(void *ctx, const struct lp_queue_jref *ref, enum lp_queue_gone why)
{
	struct owned_queue *oq = ctx;
	struct lp_broker *b = oq->broker;

	if (b->store == NULL)
		return;
	if (why != LP_QUEUE_GONE_SETTLED && oq->ended)
		lp_store_release(b->store, &ref->loc);
	else
		lp_persist_settle(b, oq->journal_id, ref);
}

void lp_persist_end(struct lp_broker *b, struct owned_queue *oq, bool deleted)
{
	int64_t t = -ENOBUFS;

	oq->ended = false;
	if (b->store == NULL)
		return;
	if (oq->store_id == 0) { /* a non-durable queue: its paged messages' records go */
		lp_page_drop(b, oq, false);
		return;
	}
	if (deleted)
		t = lp_store_queue_delete(b->store, oq->store_id);
	else if (lp_queue_unacked_count(oq->q) == 0) /* a PURGE record also ends unacked ones */
		t = lp_store_purge(b->store, oq->store_id);
	if (t == -EIO)
		lp_persist_fail_stop(b, deleted ? "queue delete" : "purge", (int)t);
	oq->ended = t > 0;
	/* Recovered messages the queue has not taken yet, and its paged tail,
	 * are ready ones too. */
	drop_recovered(b, oq->rec_next, oq->rec_end, !oq->ended);
	oq->rec_next = oq->rec_end;
	lp_page_drop(b, oq, oq->ended);
}

int lp_persist_wait_durable(struct lp_broker *b, uint64_t ticket, unsigned worker, uint32_t chan,
			    uint64_t seq)
{
	if (b->dwait_n == b->dwait_cap)
		return -ENOBUFS;
	b->dwait[(b->dwait_head + b->dwait_n++) % b->dwait_cap] = (struct durable_wait){
		.ticket = ticket, .seq = seq, .chan = chan, .worker = (uint16_t)worker};
	return 0;
}

bool lp_persist_waits_full(const struct lp_broker *b)
{
	return b->store != NULL && b->dwait_n == b->dwait_cap;
}

void lp_persist_poll(struct lp_broker *b)
{
	if (b->store == NULL)
		return;
	struct lp_store_read_done done[16];
	int rc;

	do {
		rc = lp_store_poll(b->store, done, 16);
		if (rc < 0)
			lp_persist_fail_stop(b, "write, fsync or read", rc);
		for (int i = 0; i < rc; i++)
			lp_page_on_read(b, &done[i]);
	} while (rc == 16);
	append_waiting_settles(b);
	if (b->adopted && b->adopt_next < b->n_recovered)
		adopt_forward(b);
	uint64_t durable = lp_store_durable(b->store);

	while (b->moves_n > 0 && b->moves[b->moves_head].ticket <= durable) {
		lp_store_release(b->store, &b->moves[b->moves_head].old);
		b->moves_head = (b->moves_head + 1) % LP_PERSIST_MOVES;
		b->moves_n--;
	}
	lp_compact_step(b);

	while (b->dwait_n > 0 && b->dwait[b->dwait_head].ticket <= durable) {
		struct durable_wait w = b->dwait[b->dwait_head];

		b->dwait_head = (b->dwait_head + 1) % b->dwait_cap;
		b->dwait_n--;
		lp_broker_send(b, w.worker, lp_op_confirm(w.chan, w.seq, true));
	}
}

void lp_persist_flush(struct lp_broker *b)
{
	if (b->store == NULL)
		return;
	int rc = lp_store_flush(b->store);

	if (rc < 0)
		lp_persist_fail_stop(b, "flush", rc);
	if (rc > 0)
		b->stats.flushes++;
}
