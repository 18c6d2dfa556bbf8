/* SPDX-License-Identifier: MIT */
/*
 * Queue bookkeeping (see queue.h). A shard's queues share one pool made at
 * start-up (struct lp_queue_pool): queue headers, consumer slots and message
 * entries, each from a free list, so creating a queue, adding a consumer or
 * enqueueing a message never allocates. An entry stands for one message in
 * one queue, first on the queue's ready list, then (delivered with acks) on
 * its unacked list; the same entry moves between the two.
 *
 * The ready list is doubly linked and kept sorted by seq: enqueue appends
 * (the newest seq), dispatch and Basic.Get pop the front, and a requeue walks
 * from the front to its place (requeued messages are old, so the walk is
 * usually short). A priority queue (x-max-priority) keeps it sorted by
 * (priority, highest first; seq) instead, one run of entries per priority
 * present: its level table (struct levels, one per queue header, allocated
 * with the pool and touched only by priority queues) has the last entry of
 * each run and a bitmap of the runs present, so an enqueue links after its
 * run's tail, or after the tail of the nearest higher run present, in
 * O(1); a requeue walks its own run from the front. The head of the list is
 * always the next message to deliver, so dispatch, Basic.Get, expiry and
 * the length limits read it as they do for any queue. Unacked entries are linked in delivery order; acks and
 * requeues walk that list from its head and stop at the first entry of the
 * channel with a larger tag (a channel's tags grow in delivery order), so
 * in-order acks are cheap. Consumers (their id is their slot in the pool)
 * are linked on their queue's list of all its consumers (newest first) and,
 * as in RabbitMQ's rabbit_queue_consumers, on an active list kept in
 * x-priority order, highest first: dispatch serves the first one that can
 * take a message and moves it to the back of its priority; one found
 * without prefetch credit leaves the list (blocked) and rejoins at the back
 * of its priority when an ack or nack returns credit; a new consumer joins
 * there too. On a single-active-consumer queue only the active consumer is
 * ever on the active list; the others wait off it until it goes and
 * nothing it was given is unacked any more (its entries are marked HELD).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "queue.h"

#define NIL UINT32_MAX
#define NO_TTL UINT64_MAX
/* entry.consumer of a delivery to a single active consumer that was
 * cancelled: the handover to the next one waits until none is left. */
#define HELD (UINT32_MAX - 1)
#define LEVELS (LP_QUEUE_MAX_PRIORITY + 1)

/* One message in one queue: ready, or delivered and not yet acknowledged. */
struct entry {
	struct lp_msg *msg;
	struct lp_queue_jref jref;  /* in the journal (jref.loc.len > 0), or not */
	uint64_t seq;
	uint64_t expires;         /* pool clock (us) after which it is dead; UINT64_MAX: never */
	uint64_t tag;             /* unacked: the delivery tag */
	uint32_t channel;         /* unacked: the channel it went to */
	uint32_t consumer;        /* unacked: NIL for Basic.Get or a cancelled consumer */
	uint32_t prev, next;      /* its list; next also links the free list */
	bool redelivered;
	uint8_t prio;             /* priority queue: its priority, clamped to the queue's max */
};

/* A priority queue's runs on its ready list: the last entry of each
 * priority present (tail[p] is meaningful only while bit p is set). */
struct levels {
	uint64_t present[LEVELS / 64];
	uint32_t tail[LEVELS];
};

struct list {
	uint32_t head, tail, count;
};

struct consumer {
	struct lp_queue *queue;   /* NULL: free slot */
	uint64_t refused_in;      /* dispatch round whose tag_fn said no */
	uint32_t prev, next;      /* place in the active list */
	uint32_t q_prev, q_next;  /* place in the queue's list of consumers */
	bool blocked;             /* out of credit when tried: off the active list */
	bool no_ack;
	bool exclusive;
	uint16_t prefetch;
	uint32_t channel;
	uint32_t unacked;
	void *handle;
	uint8_t tag_len;
	char tag[LP_QUEUE_TAG_MAX + 1];
	int32_t priority;         /* x-priority */
	bool waiting;             /* single active consumer: not the active one, off the active list */
};

struct lp_queue {
	struct lp_queue_pool *pool;
	bool used;
	uint32_t next_free;              /* free list of headers */
	uint32_t capacity;
	uint32_t max_consumers;
	uint32_t max_length;
	uint64_t max_length_bytes;
	bool reject_publish;
	lp_queue_gone_fn gone;
	void *gone_ctx;
	uint64_t message_ttl;            /* ms, or NO_TTL */
	lp_queue_dead_fn dead;
	void *dead_ctx;
	uint32_t own_ttl;                /* held messages that have a TTL of their own */
	struct list ready;
	uint64_t r_bytes;                /* body bytes of the ready messages */
	struct list un;
	uint32_t cons_head, n_cons;      /* every consumer of this queue */
	uint32_t act_head, act_tail;     /* active consumers, next to try first */
	bool has_exclusive;
	uint64_t next_seq;
	uint64_t dropped;
	uint64_t expired;
	struct lp_queue_counters counters;
	uint64_t round;                  /* lp_queue_dispatch calls, from 1 */
	bool single_active;              /* x-single-active-consumer */
	uint32_t active;                 /* single_active: the active consumer, or NIL */
	uint32_t held;                   /* single_active: unacked entries marked HELD */
	struct levels *lv;               /* x-max-priority: its runs; NULL: not a priority queue */
	uint8_t max_priority;            /* x-max-priority */
};

struct lp_queue_pool {
	struct lp_queue *queues;
	struct consumer *cons;
	struct entry *entries;
	struct levels *levels;    /* one per queue header (calloc'ed: resident once used) */
	uint64_t *cons_free;      /* bit per consumer slot, set when free: the lowest is reused */
	uint32_t n_queues, n_cons, n_entries;
	uint32_t free_queue, free_entry;
	uint32_t fresh_entry;     /* entries from here on never used (calloc'ed: not resident yet) */
	uint32_t entries_used;
	uint64_t now;             /* lp_queue_pool_set_now, microseconds */
};

/* ---- the pool ---------------------------------------------------------- */

struct lp_queue_pool *lp_queue_pool_create(const struct lp_queue_pool_config *cfg)
{
	struct lp_queue_pool *p;

	if (cfg == NULL || cfg->queues == 0 || cfg->consumers == 0 || cfg->entries == 0 ||
	    cfg->queues == NIL || cfg->consumers >= HELD || cfg->entries == NIL) {
		errno = EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		goto nomem;
	p->queues = calloc(cfg->queues, sizeof(*p->queues));
	p->cons = calloc(cfg->consumers, sizeof(*p->cons));
	p->entries = calloc(cfg->entries, sizeof(*p->entries));
	p->levels = calloc(cfg->queues, sizeof(*p->levels));
	p->cons_free = calloc((cfg->consumers + 63) / 64, sizeof(*p->cons_free));
	if (p->queues == NULL || p->cons == NULL || p->entries == NULL || p->levels == NULL ||
	    p->cons_free == NULL) {
		lp_queue_pool_destroy(p);
		goto nomem;
	}
	p->n_queues = cfg->queues;
	p->n_cons = cfg->consumers;
	p->n_entries = cfg->entries;
	for (uint32_t i = 0; i < cfg->queues; i++)
		p->queues[i].next_free = i + 1 < cfg->queues ? i + 1 : NIL;
	for (uint32_t i = 0; i < cfg->consumers; i++)
		p->cons_free[i / 64] |= 1ull << (i % 64);
	p->free_entry = NIL; /* entries come from fresh_entry until some are freed */
	return p;
nomem:
	errno = ENOMEM;
	return NULL;
}

void lp_queue_pool_destroy(struct lp_queue_pool *p)
{
	if (p == NULL)
		return;
	for (uint32_t i = 0; p->queues != NULL && i < p->n_queues; i++)
		if (p->queues[i].used)
			lp_queue_destroy(&p->queues[i]);
	free(p->queues);
	free(p->cons);
	free(p->entries);
	free(p->levels);
	free(p->cons_free);
	free(p);
}

uint32_t lp_queue_pool_entries_free(const struct lp_queue_pool *p)
{
	return p->n_entries - p->entries_used;
}

void lp_queue_pool_set_now(struct lp_queue_pool *p, uint64_t now_us)
{
	p->now = now_us;
}

uint64_t lp_queue_pool_now(const struct lp_queue_pool *p)
{
	return p->now;
}

/* ---- entries and their lists -------------------------------------------- */

static struct entry *ent(const struct lp_queue *q, uint32_t i)
{
	return &q->pool->entries[i];
}

static bool entries_left(const struct lp_queue *q)
{
	return q->ready.count + q->un.count < q->capacity && q->pool->entries_used < q->pool->n_entries;
}

/* A free entry (the caller checked entries_left), on no list yet. */
static uint32_t ent_alloc(struct lp_queue *q)
{
	struct lp_queue_pool *p = q->pool;
	uint32_t i = p->free_entry;

	if (i != NIL)
		p->free_entry = p->entries[i].next;
	else
		i = p->fresh_entry++;
	p->entries_used++;
	return i;
}

static void ent_free(struct lp_queue *q, uint32_t i)
{
	struct lp_queue_pool *p = q->pool;

	if (p->entries[i].msg->flags & LP_MSG_F_TTL)
		q->own_ttl--;
	p->entries[i].msg = NULL;
	p->entries[i].next = p->free_entry;
	p->free_entry = i;
	p->entries_used--;
}

static void list_init(struct list *l)
{
	*l = (struct list){.head = NIL, .tail = NIL, .count = 0};
}

/* Link entry i into l before entry `before` (NIL: at the tail). */
static void list_insert(struct lp_queue *q, struct list *l, uint32_t i, uint32_t before)
{
	struct entry *e = ent(q, i);

	e->next = before;
	e->prev = before != NIL ? ent(q, before)->prev : l->tail;
	if (e->prev != NIL)
		ent(q, e->prev)->next = i;
	else
		l->head = i;
	if (before != NIL)
		ent(q, before)->prev = i;
	else
		l->tail = i;
	l->count++;
}

static void list_unlink(struct lp_queue *q, struct list *l, uint32_t i)
{
	struct entry *e = ent(q, i);

	if (e->prev != NIL)
		ent(q, e->prev)->next = e->next;
	else
		l->head = e->next;
	if (e->next != NIL)
		ent(q, e->next)->prev = e->prev;
	else
		l->tail = e->prev;
	l->count--;
}

/* ---- the ready list ------------------------------------------------------ */

static bool lv_has(const struct levels *lv, unsigned p)
{
	return lv->present[p / 64] >> (p % 64) & 1;
}

/* The first entry of priority p's run and after: the entry after the tail
 * of the nearest higher run present, or the head of the list. */
static uint32_t lv_start(const struct lp_queue *q, unsigned p)
{
	const struct levels *lv = q->lv;

	for (unsigned w = (p + 1) / 64; w < LEVELS / 64; w++) {
		uint64_t bits = lv->present[w];

		if (w == (p + 1) / 64)
			bits &= ~0ull << ((p + 1) % 64);
		if (bits != 0)
			return ent(q, lv->tail[w * 64 + (unsigned)__builtin_ctzll(bits)])->next;
	}
	return q->ready.head;
}

/* Link entry i into its priority's run of the ready list: before the
 * first entry of that run with a larger seq (walking from its front), or
 * at its end (tail true: the newest, as enqueue knows). */
static void lv_insert(struct lp_queue *q, uint32_t i, bool tail)
{
	struct levels *lv = q->lv;
	unsigned p = ent(q, i)->prio;
	uint32_t at;

	if (tail && lv_has(lv, p)) {
		at = ent(q, lv->tail[p])->next;
	} else {
		at = lv_start(q, p);
		while (at != NIL && ent(q, at)->prio == p && ent(q, at)->seq < ent(q, i)->seq)
			at = ent(q, at)->next;
	}
	list_insert(q, &q->ready, i, at);
	if (at == NIL || ent(q, at)->prio != p) {
		lv->tail[p] = i;
		lv->present[p / 64] |= 1ull << (p % 64);
	}
}

static void r_push_back(struct lp_queue *q, uint32_t i)
{
	if (q->lv != NULL)
		lv_insert(q, i, true);
	else
		list_insert(q, &q->ready, i, NIL);
	q->r_bytes += ent(q, i)->msg->body_len;
}

/* Take entry i off the ready list (it stays allocated). */
static void r_unlink(struct lp_queue *q, uint32_t i)
{
	struct entry *e = ent(q, i);

	if (q->lv != NULL && q->lv->tail[e->prio] == i) {
		/* The end of its run: the one before it ends it now, if any. */
		if (e->prev != NIL && ent(q, e->prev)->prio == e->prio)
			q->lv->tail[e->prio] = e->prev;
		else
			q->lv->present[e->prio / 64] &= ~(1ull << (e->prio % 64));
	}
	list_unlink(q, &q->ready, i);
	q->r_bytes -= e->msg->body_len;
}

/* Put entry i back at its place by seq (within its priority), walking
 * from the front. */
static void r_insert(struct lp_queue *q, uint32_t i)
{
	uint32_t at = q->ready.head;

	if (q->lv != NULL) {
		lv_insert(q, i, false);
	} else {
		while (at != NIL && ent(q, at)->seq < ent(q, i)->seq)
			at = ent(q, at)->next;
		list_insert(q, &q->ready, i, at);
	}
	q->r_bytes += ent(q, i)->msg->body_len;
}

/* The ready entry at position pos (< ready.count). */
static uint32_t r_nth(const struct lp_queue *q, uint32_t pos)
{
	uint32_t i = q->ready.head;

	while (pos-- > 0)
		i = ent(q, i)->next;
	return i;
}

/* A journaled message leaves the queue for good (why): the owner settles
 * or releases its record. */
static void gone(struct lp_queue *q, const struct lp_queue_jref *ref, enum lp_queue_gone why)
{
	if (ref->loc.len != 0 && q->gone != NULL)
		q->gone(q->gone_ctx, ref, why);
}

/* Free entry i, whose message leaves for good (why): its reference released. */
static void ent_drop(struct lp_queue *q, uint32_t i, enum lp_queue_gone why)
{
	struct lp_msg *m = ent(q, i)->msg;

	gone(q, &ent(q, i)->jref, why);
	ent_free(q, i);
	lp_msg_release(m);
}

/* Drop ready entry i. */
static void r_drop(struct lp_queue *q, uint32_t i, enum lp_queue_gone why)
{
	r_unlink(q, i);
	ent_drop(q, i, why);
}

/* Entry i (on no list) leaves for good for reason why: dead-lettered when
 * the queue has a dead function, else released. */
static void ent_dead(struct lp_queue *q, uint32_t i, enum lp_queue_dead why)
{
	struct lp_msg *m = ent(q, i)->msg;

	if (q->dead == NULL) {
		ent_drop(q, i, LP_QUEUE_GONE_SETTLED);
		return;
	}
	gone(q, &ent(q, i)->jref, LP_QUEUE_GONE_SETTLED);
	ent_free(q, i);
	q->dead(q->dead_ctx, m, why); /* the queue's reference goes with it */
}

static bool expired(const struct lp_queue *q, uint32_t i)
{
	return q->pool->now > ent(q, i)->expires;
}

/* When a message enqueued at since expires (the smaller TTL wins). */
static uint64_t expiry(const struct lp_queue *q, const struct lp_msg *m, uint64_t since)
{
	uint64_t ttl = q->message_ttl;

	if ((m->flags & LP_MSG_F_TTL) && m->ttl_ms < ttl)
		ttl = m->ttl_ms;
	if (ttl == NO_TTL || ttl > (UINT64_MAX - since) / 1000)
		return UINT64_MAX;
	return since + ttl * 1000;
}

/* ---- consumers ------------------------------------------------------------ */

/* The lowest free consumer slot of p, taken; NIL when none is left. */
static uint32_t cons_take(struct lp_queue_pool *p)
{
	for (uint32_t w = 0; w < (p->n_cons + 63) / 64; w++) {
		if (p->cons_free[w] == 0)
			continue;
		uint32_t id = w * 64 + (uint32_t)__builtin_ctzll(p->cons_free[w]);
		p->cons_free[w] &= p->cons_free[w] - 1;
		return id;
	}
	return NIL;
}

static struct consumer *cons(const struct lp_queue *q, uint32_t id)
{
	return &q->pool->cons[id];
}

/* Link consumer id into the active list at the back of its priority: after
 * every consumer of the same or a higher one (from the tail: with equal
 * priorities, the common case, that is the tail itself). */
static void act_append(struct lp_queue *q, uint32_t id)
{
	struct consumer *c = cons(q, id);
	uint32_t after = q->act_tail;

	while (after != NIL && cons(q, after)->priority < c->priority)
		after = cons(q, after)->prev;
	c->prev = after;
	c->next = after != NIL ? cons(q, after)->next : q->act_head;
	if (c->prev != NIL)
		cons(q, c->prev)->next = id;
	else
		q->act_head = id;
	if (c->next != NIL)
		cons(q, c->next)->prev = id;
	else
		q->act_tail = id;
}

static void act_unlink(struct lp_queue *q, uint32_t id)
{
	struct consumer *c = cons(q, id);

	if (c->prev != NIL)
		cons(q, c->prev)->next = c->next;
	else
		q->act_head = c->next;
	if (c->next != NIL)
		cons(q, c->next)->prev = c->prev;
	else
		q->act_tail = c->prev;
	c->prev = c->next = NIL;
}

/*
 * The single active consumer went and nothing it was given is unacked any
 * more: the waiting one of highest priority takes over, the earliest
 * attached among equals (the list of all consumers is newest first: the
 * last one found wins).
 */
static void activate_next(struct lp_queue *q)
{
	uint32_t best = NIL;

	for (uint32_t id = q->cons_head; id != NIL; id = cons(q, id)->q_next)
		if (best == NIL || cons(q, id)->priority >= cons(q, best)->priority)
			best = id;
	q->active = best;
	if (best == NIL)
		return;
	cons(q, best)->waiting = false;
	act_append(q, best); /* a waiting consumer never had a delivery: it has credit */
}

static bool has_credit(const struct consumer *c)
{
	return c->no_ack || c->prefetch == 0 || c->unacked < c->prefetch;
}

/* ---- unacked entries ------------------------------------------------------ */

/* Ready entry i was delivered on (channel, tag) to consumer (NIL: Get). */
static void un_record(struct lp_queue *q, uint32_t i, uint32_t channel, uint64_t tag,
		      uint32_t consumer)
{
	struct entry *e = ent(q, i);

	e->channel = channel;
	e->tag = tag;
	e->consumer = consumer;
	list_insert(q, &q->un, i, NIL);
	if (consumer != NIL)
		cons(q, consumer)->unacked++;
}

/* Unlink unacked entry i and return its consumer's credit (i stays allocated). */
static void un_unlink(struct lp_queue *q, uint32_t i)
{
	struct entry *e = ent(q, i);

	list_unlink(q, &q->un, i);
	if (e->consumer == HELD) {
		if (--q->held == 0 && q->active == NIL)
			activate_next(q);
	} else if (e->consumer != NIL) {
		struct consumer *c = cons(q, e->consumer);
		c->unacked--;
		/* Credit is back: rejoin the active list at the back of its priority. */
		if (c->queue == q && c->blocked && has_credit(c)) {
			c->blocked = false;
			act_append(q, e->consumer);
		}
	}
}

/* Give unacked entry i's message back to the ready list, redelivered. */
static void un_requeue(struct lp_queue *q, uint32_t i)
{
	un_unlink(q, i);
	ent(q, i)->redelivered = true;
	r_insert(q, i);
}

/* ---- queues ------------------------------------------------------------------ */

struct lp_queue *lp_queue_create(struct lp_queue_pool *p, const struct lp_queue_config *cfg)
{
	struct lp_queue *q;

	if (p == NULL || cfg == NULL || cfg->capacity == 0 || cfg->max_consumers == 0 ||
	    cfg->max_consumers == NIL || cfg->capacity == NIL) {
		errno = EINVAL;
		return NULL;
	}
	if (p->free_queue == NIL) {
		errno = ENOSPC;
		return NULL;
	}
	q = &p->queues[p->free_queue];
	p->free_queue = q->next_free;
	*q = (struct lp_queue){
		.pool = p, .used = true, .next_free = NIL, .capacity = cfg->capacity,
		.max_consumers = cfg->max_consumers, .max_length = cfg->max_length,
		.max_length_bytes = cfg->max_length_bytes, .reject_publish = cfg->reject_publish,
		.gone = cfg->gone, .gone_ctx = cfg->gone_ctx, .cons_head = NIL, .act_head = NIL, .act_tail = NIL,
		.message_ttl = cfg->has_message_ttl ? cfg->message_ttl : NO_TTL,
		.dead = cfg->dead, .dead_ctx = cfg->dead_ctx,
		.single_active = cfg->single_active, .active = NIL,
		.max_priority = cfg->max_priority,
	};
	if (cfg->max_priority > 0) {
		q->lv = &p->levels[q - p->queues];
		memset(q->lv->present, 0, sizeof(q->lv->present));
	}
	list_init(&q->ready);
	list_init(&q->un);
	return q;
}

uint32_t lp_queue_destroy(struct lp_queue *q)
{
	struct lp_queue_pool *p;
	uint32_t n;

	if (q == NULL)
		return 0;
	n = q->ready.count;
	while (q->ready.head != NIL)
		r_drop(q, q->ready.head, LP_QUEUE_GONE_DELETED);
	while (q->cons_head != NIL)
		lp_queue_consumer_remove(q, q->cons_head, false);
	while (q->un.head != NIL) {
		uint32_t i = q->un.head;
		un_unlink(q, i);
		ent_drop(q, i, LP_QUEUE_GONE_DELETED);
		n++;
	}
	p = q->pool;
	q->used = false;
	q->next_free = p->free_queue;
	p->free_queue = (uint32_t)(q - p->queues);
	return n;
}

/*
 * How many ready messages the consumers' free prefetch credit will take at
 * the next dispatch (UINT32_MAX: no limit, a no-ack or prefetch-0 consumer).
 */
static uint32_t spoken_for(const struct lp_queue *q)
{
	uint64_t credit = 0;

	for (uint32_t id = q->cons_head; id != NIL; id = cons(q, id)->q_next) {
		const struct consumer *c = cons(q, id);
		if (c->waiting)
			continue;
		if (c->no_ack || c->prefetch == 0)
			return UINT32_MAX;
		if (c->unacked < c->prefetch)
			credit += c->prefetch - c->unacked;
	}
	return credit > UINT32_MAX ? UINT32_MAX : (uint32_t)credit;
}

/*
 * Would the ready messages no consumer credit will take (those after the
 * first `taken`), plus extra_count messages of extra_bytes, exceed
 * x-max-length or x-max-length-bytes? (RabbitMQ docs, "Queue Length Limit":
 * only ready messages count, bytes are body bytes.)
 */
static bool over_limit(const struct lp_queue *q, uint32_t taken, uint32_t extra_count,
		       uint64_t extra_bytes)
{
	uint32_t skip = taken < q->ready.count ? taken : q->ready.count;
	uint64_t count = (uint64_t)q->ready.count - skip + extra_count;
	uint64_t bytes;

	if (taken >= (uint64_t)q->ready.count + extra_count)
		return false;
	if (q->max_length != LP_QUEUE_NO_MAX_LENGTH && count > q->max_length)
		return true;
	if (q->max_length_bytes == LP_QUEUE_NO_MAX_BYTES)
		return false;
	bytes = q->r_bytes + extra_bytes;
	for (uint32_t i = q->ready.head, k = 0; k < skip; k++, i = ent(q, i)->next)
		bytes -= ent(q, i)->msg->body_len;
	return bytes > q->max_length_bytes;
}

static bool limited(const struct lp_queue *q)
{
	return q->max_length != LP_QUEUE_NO_MAX_LENGTH ||
	       q->max_length_bytes != LP_QUEUE_NO_MAX_BYTES;
}

/* Ready entry i goes for a length limit (drop-head): dead-lettered as maxlen. */
static void drop_over_limit(struct lp_queue *q, uint32_t i)
{
	r_unlink(q, i);
	ent_dead(q, i, LP_QUEUE_DEAD_MAXLEN);
}

/*
 * x-max-length and x-max-length-bytes. RabbitMQ hands a message straight
 * to a consumer with credit when one is waiting, so only the messages no
 * consumer can take count against the limits. Here deliveries are batched
 * by lp_queue_dispatch, so the first spoken_for() ready messages stand for
 * those RabbitMQ would already have delivered; drop-head drops the oldest
 * message after them, reject-publish refuses the new one (RabbitMQ's
 * will_overflow: ready length + 1 > max-length, or ready bytes + its body
 * size > max-length-bytes).
 */
int lp_queue_enqueue(struct lp_queue *q, struct lp_msg *m)
{
	return lp_queue_enqueue_ref(q, m, NULL, false);
}

int lp_queue_enqueue_ref(struct lp_queue *q, struct lp_msg *m, const struct lp_queue_jref *ref,
			 bool redelivered)
{
	return lp_queue_enqueue_since(q, m, ref, redelivered, q->pool->now);
}

int lp_queue_enqueue_since(struct lp_queue *q, struct lp_msg *m, const struct lp_queue_jref *ref,
			   bool redelivered, uint64_t since_us)
{
	static const struct lp_queue_jref none;
	bool lim = limited(q);
	uint32_t taken = lim ? spoken_for(q) : 0;
	bool over = lim && over_limit(q, taken, 1, m->body_len);
	int dropped = 0;
	uint32_t i;

	if (over && q->reject_publish)
		return -ENOBUFS;
	if (!entries_left(q)) {
		/* Full: only a drop-head that this message causes makes room. */
		if (!over)
			return -ENOSPC;
		if (taken >= q->ready.count) {
			/* The new message is itself the oldest one over the limit. */
			q->counters.published += !redelivered;
			q->next_seq++;
			gone(q, ref != NULL ? ref : &none, LP_QUEUE_GONE_SETTLED);
			q->dropped++;
			if (q->dead != NULL)
				q->dead(q->dead_ctx, m, LP_QUEUE_DEAD_MAXLEN);
			else
				lp_msg_release(m);
			return 1;
		}
		drop_over_limit(q, r_nth(q, taken));
		dropped++;
	}
	i = ent_alloc(q);
	*ent(q, i) = (struct entry){.msg = m, .jref = ref != NULL ? *ref : none,
				    .seq = q->next_seq++, .expires = expiry(q, m, since_us),
				    .consumer = NIL, .redelivered = redelivered,
				    .prio = m->priority < q->max_priority ? m->priority : q->max_priority};
	if (m->flags & LP_MSG_F_TTL)
		q->own_ttl++;
	r_push_back(q, i);
	while (lim && q->ready.count > taken && over_limit(q, taken, 0, 0)) {
		drop_over_limit(q, r_nth(q, taken));
		dropped++;
	}
	q->dropped += (uint64_t)dropped;
	q->counters.published += !redelivered;
	return dropped;
}

bool lp_queue_has_room(const struct lp_queue *q)
{
	return entries_left(q);
}

bool lp_queue_can_take(const struct lp_queue *q, const struct lp_msg *m)
{
	if (entries_left(q))
		return true;
	/* Full: lp_queue_enqueue refuses m unless a limit drops or rejects it. */
	return limited(q) && over_limit(q, spoken_for(q), 1, m->body_len);
}

bool lp_queue_needs_entry(const struct lp_queue *q, const struct lp_msg *m)
{
	return !limited(q) || !over_limit(q, spoken_for(q), 1, m->body_len);
}

int lp_queue_consumer_add(struct lp_queue *q, const struct lp_queue_consumer_spec *spec)
{
	struct lp_queue_pool *p = q->pool;
	struct consumer *c;
	uint32_t id;

	if (spec->tag_len > LP_QUEUE_TAG_MAX)
		return -EINVAL;
	if (q->has_exclusive || (spec->exclusive && (q->n_cons > 0 || q->single_active)))
		return -EBUSY;
	if (q->n_cons >= q->max_consumers || (id = cons_take(p)) == NIL)
		return -ENOSPC;
	c = &p->cons[id];
	*c = (struct consumer){
		.queue = q, .no_ack = spec->no_ack, .exclusive = spec->exclusive,
		.prefetch = spec->prefetch, .channel = spec->channel, .handle = spec->handle,
		.tag_len = (uint8_t)spec->tag_len, .q_prev = NIL, .q_next = q->cons_head,
		.priority = spec->priority,
		.waiting = q->single_active && (q->active != NIL || q->held > 0),
	};
	if (spec->tag_len != 0)
		memcpy(c->tag, spec->tag, spec->tag_len);
	if (q->cons_head != NIL)
		cons(q, q->cons_head)->q_prev = id;
	q->cons_head = id;
	if (q->single_active && !c->waiting)
		q->active = id;
	if (!c->waiting)
		act_append(q, id);
	q->n_cons++;
	if (spec->exclusive)
		q->has_exclusive = true;
	return (int)id;
}

static bool is_consumer(const struct lp_queue *q, uint32_t id)
{
	return id < q->pool->n_cons && q->pool->cons[id].queue == q;
}

int lp_queue_consumer_remove(struct lp_queue *q, uint32_t id, bool requeue)
{
	struct lp_queue_pool *p = q->pool;
	struct consumer *c;
	bool active = q->active == id;
	int n = 0;

	if (!is_consumer(q, id))
		return -ENOENT;
	c = cons(q, id);
	if (!c->blocked && !c->waiting)
		act_unlink(q, id);
	c->queue = NULL; /* no longer rejoins the active list */
	for (uint32_t i = q->un.head, next; i != NIL; i = next) {
		next = ent(q, i)->next;
		if (ent(q, i)->consumer != id)
			continue;
		if (requeue) {
			un_requeue(q, i);
			n++;
		} else {
			/* The single active consumer's unacked hold the handover back. */
			ent(q, i)->consumer = active ? HELD : NIL;
			q->held += active;
			c->unacked--;
		}
	}
	if (c->exclusive)
		q->has_exclusive = false;
	if (c->q_prev != NIL)
		cons(q, c->q_prev)->q_next = c->q_next;
	else
		q->cons_head = c->q_next;
	if (c->q_next != NIL)
		cons(q, c->q_next)->q_prev = c->q_prev;
	*c = (struct consumer){0};
	p->cons_free[id / 64] |= 1ull << (id % 64);
	q->n_cons--;
	if (active) {
		q->active = NIL;
		if (q->held == 0)
			activate_next(q);
	}
	return n;
}

int lp_queue_consumer_info(const struct lp_queue *q, uint32_t id,
			   struct lp_queue_consumer_spec *out)
{
	const struct consumer *c;

	if (!is_consumer(q, id))
		return -ENOENT;
	c = cons(q, id);
	out->tag = c->tag;
	out->tag_len = c->tag_len;
	out->channel = c->channel;
	out->prefetch = c->prefetch;
	out->no_ack = c->no_ack;
	out->exclusive = c->exclusive;
	out->handle = c->handle;
	out->priority = c->priority;
	return 0;
}

uint32_t lp_queue_consumer_next(const struct lp_queue *q, uint32_t id)
{
	if (id == LP_QUEUE_NO_CONSUMER)
		return q->cons_head;
	return is_consumer(q, id) ? cons(q, id)->q_next : LP_QUEUE_NO_CONSUMER;
}

uint32_t lp_queue_active_consumer(const struct lp_queue *q)
{
	return q->active == NIL ? LP_QUEUE_NO_CONSUMER : q->active;
}

/* Hand ready entry i (just off the ready list) out as d; keep it unacked unless no_ack. */
static void hand_out(struct lp_queue *q, uint32_t i, struct lp_queue_delivery *d,
		     uint32_t channel, uint64_t tag, uint32_t consumer, void *handle, bool no_ack)
{
	struct entry *e = ent(q, i);

	d->msg = e->msg;
	d->seq = e->seq;
	d->delivery_tag = tag;
	d->consumer = consumer == NIL ? LP_QUEUE_NO_CONSUMER : consumer;
	d->channel = channel;
	d->handle = handle;
	d->redelivered = e->redelivered;
	d->no_ack = no_ack;
	if (consumer == NIL)
		q->counters.got++;
	else
		q->counters.delivered++;
	q->counters.redelivered += e->redelivered;
	if (no_ack) {
		gone(q, &e->jref, LP_QUEUE_GONE_SETTLED);
		ent_free(q, i); /* the queue's reference goes with d */
		return;
	}
	un_record(q, i, channel, tag, consumer);
	lp_msg_ref(e->msg, 1);
}

unsigned lp_queue_dispatch(struct lp_queue *q, lp_queue_tag_fn tag_fn, void *ctx,
			   struct lp_queue_delivery *out, unsigned max)
{
	uint32_t id = q->act_head;
	unsigned n = 0;

	q->round++;
	while (n < max && q->ready.count > 0 && id != NIL) {
		struct consumer *c = cons(q, id);
		if (expired(q, q->ready.head)) {
			lp_queue_expire(q);
			continue;
		}
		uint32_t next = c->next;
		if (!has_credit(c)) {
			/* RabbitMQ blocks a consumer found without credit. */
			act_unlink(q, id);
			c->blocked = true;
			id = next;
			continue;
		}
		if (c->refused_in == q->round) {
			id = next;
			continue;
		}
		uint32_t head = q->ready.head;
		uint64_t tag = tag_fn(ctx, c->channel, ent(q, head)->msg, c->no_ack);
		if (tag == 0) {
			c->refused_in = q->round;
			id = next;
			continue;
		}
		r_unlink(q, head);
		hand_out(q, head, &out[n++], c->channel, tag, id, c->handle, c->no_ack);
		/* Served: to the back of the line. */
		act_unlink(q, id);
		act_append(q, id);
		id = q->act_head;
	}
	return n;
}

int lp_queue_get(struct lp_queue *q, uint32_t channel, uint64_t delivery_tag, bool no_ack,
		 struct lp_queue_delivery *out)
{
	uint32_t head;

	lp_queue_expire(q);
	head = q->ready.head;
	if (head == NIL)
		return 0;
	r_unlink(q, head);
	hand_out(q, head, out, channel, delivery_tag, NIL, NULL, no_ack);
	return 1;
}

/*
 * The entries of channel that an ack/nack of (tag, multiple) covers:
 * multiple with tag 0 means all of them (AMQP 0-9-1 basic.ack: "multiple
 * ... delivery tag zero ... all outstanding messages").
 */
static bool covered(const struct entry *e, uint32_t channel, uint64_t tag, bool multiple)
{
	if (e->channel != channel)
		return false;
	if (!multiple)
		return e->tag == tag;
	return tag == 0 || e->tag <= tag;
}

/* Ack (dead false) or nack the covered entries: requeue, or dead-letter as rejected. */
static int settle(struct lp_queue *q, uint32_t channel, uint64_t tag, bool multiple, bool requeue,
		  bool dead)
{
	int n = 0;

	for (uint32_t i = q->un.head, next; i != NIL; i = next) {
		struct entry *e = ent(q, i);
		next = e->next;
		/* A channel's tags grow in delivery order: nothing further matches. */
		if (e->channel == channel && tag != 0 && e->tag > tag)
			break;
		if (!covered(e, channel, tag, multiple))
			continue;
		if (requeue) {
			un_requeue(q, i);
		} else {
			un_unlink(q, i);
			if (dead) {
				ent_dead(q, i, LP_QUEUE_DEAD_REJECTED);
			} else {
				ent_drop(q, i, LP_QUEUE_GONE_SETTLED);
				q->counters.acked++;
			}
		}
		n++;
		if (!multiple)
			break;
	}
	return n;
}

int lp_queue_ack(struct lp_queue *q, uint32_t channel, uint64_t delivery_tag, bool multiple)
{
	return settle(q, channel, delivery_tag, multiple, false, false);
}

int lp_queue_nack(struct lp_queue *q, uint32_t channel, uint64_t delivery_tag, bool multiple,
		  bool requeue)
{
	return settle(q, channel, delivery_tag, multiple, requeue, true);
}

int lp_queue_recover(struct lp_queue *q, uint32_t channel)
{
	return settle(q, channel, 0, true, true, false);
}

int lp_queue_channel_close(struct lp_queue *q, uint32_t channel)
{
	for (uint32_t id = q->cons_head, next; id != NIL; id = next) {
		next = cons(q, id)->q_next;
		if (cons(q, id)->channel == channel)
			lp_queue_consumer_remove(q, id, false);
	}
	return lp_queue_recover(q, channel);
}

uint32_t lp_queue_purge(struct lp_queue *q)
{
	uint32_t n = q->ready.count;

	while (q->ready.head != NIL)
		r_drop(q, q->ready.head, LP_QUEUE_GONE_PURGED);
	return n;
}

unsigned lp_queue_move_refs(struct lp_queue *q, uint32_t seg, lp_queue_move_fn fn, void *ctx)
{
	const struct list *lists[2] = {&q->ready, &q->un};
	unsigned moved = 0;

	for (unsigned l = 0; l < 2; l++)
		for (uint32_t i = lists[l]->head; i != NIL; i = ent(q, i)->next) {
			struct entry *e = ent(q, i);

			if (e->jref.loc.len == 0 || e->jref.loc.seg != seg)
				continue;
			if (!fn(ctx, &e->jref, e->msg))
				return moved;
			moved++;
		}
	return moved;
}

bool lp_queue_limited(const struct lp_queue *q)
{
	return q->max_length != LP_QUEUE_NO_MAX_LENGTH || q->max_length_bytes != LP_QUEUE_NO_MAX_BYTES;
}

uint32_t lp_queue_message_count(const struct lp_queue *q)
{
	return q->ready.count;
}

void lp_queue_for_each_unacked(const struct lp_queue *q, lp_queue_unacked_fn fn, void *ctx)
{
	for (uint32_t i = q->un.head; i != NIL; i = ent(q, i)->next)
		fn(ctx, ent(q, i)->channel, ent(q, i)->tag);
}

uint32_t lp_queue_unacked_count(const struct lp_queue *q)
{
	return q->un.count;
}

uint32_t lp_queue_consumer_count(const struct lp_queue *q)
{
	return q->n_cons;
}

uint64_t lp_queue_dropped_count(const struct lp_queue *q)
{
	return q->dropped;
}

const struct lp_queue_counters *lp_queue_counters(const struct lp_queue *q)
{
	return &q->counters;
}

uint64_t lp_queue_ready_bytes(const struct lp_queue *q)
{
	return q->r_bytes;
}

uint64_t lp_queue_expired_count(const struct lp_queue *q)
{
	return q->expired;
}

uint32_t lp_queue_expire(struct lp_queue *q)
{
	uint32_t n = 0;

	while (q->ready.head != NIL && expired(q, q->ready.head)) {
		uint32_t i = q->ready.head;

		r_unlink(q, i);
		ent_dead(q, i, LP_QUEUE_DEAD_EXPIRED);
		n++;
	}
	q->expired += n;
	return n;
}

bool lp_queue_expires(const struct lp_queue *q)
{
	return q->message_ttl != NO_TTL || q->own_ttl > 0;
}

/* ---- settings changed by a policy ------------------------------------------ */

uint32_t lp_queue_set_limits(struct lp_queue *q, uint32_t max_length, uint64_t max_length_bytes,
			     bool reject_publish)
{
	uint32_t dropped = 0;

	q->max_length = max_length;
	q->max_length_bytes = max_length_bytes;
	q->reject_publish = reject_publish;
	if (reject_publish || !limited(q))
		return 0;
	uint32_t taken = spoken_for(q);

	while (q->ready.count > taken && over_limit(q, taken, 0, 0)) {
		drop_over_limit(q, r_nth(q, taken));
		dropped++;
	}
	q->dropped += dropped;
	return dropped;
}

void lp_queue_set_message_ttl(struct lp_queue *q, bool has_message_ttl, uint64_t message_ttl)
{
	q->message_ttl = has_message_ttl ? message_ttl : NO_TTL;
}

void lp_queue_set_dead(struct lp_queue *q, lp_queue_dead_fn dead, void *dead_ctx)
{
	q->dead = dead;
	q->dead_ctx = dead_ctx;
}
