/* SPDX-License-Identifier: MIT */
/*
 * Queue bookkeeping (see queue.h). The ready list is a ring of (message,
 * seq, redelivered) kept sorted by seq: enqueue appends (the newest seq),
 * dispatch and Basic.Get pop the front, and a requeue inserts by binary
 * search, shifting the shorter side (requeued messages are old, so that is
 * usually the front and short). Unacked deliveries are records from a fixed
 * array, linked in delivery order; acks and requeues walk that list from
 * its head and stop at the first record of the channel with a larger tag
 * (a channel's tags grow in delivery order), so in-order acks are cheap.
 * Consumers live in a fixed array of slots (their id is the slot index) and,
 * as in RabbitMQ's rabbit_queue_consumers, on an active list: dispatch serves
 * the first one that can take a message and moves it to the back; one found
 * without prefetch credit leaves the list (blocked) and rejoins at the back
 * when an ack or nack returns credit; a new consumer joins at the back.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "queue.h"

#define NIL UINT32_MAX

struct ready_entry {
	struct lp_msg *msg;
	uint64_t seq;
	bool redelivered;
};

struct unacked {
	struct lp_msg *msg;
	uint64_t seq;
	uint64_t tag;
	uint32_t channel;
	uint32_t consumer;        /* NIL: Basic.Get, or its consumer was cancelled */
	uint32_t prev, next;      /* delivery order; next also links the free list */
};

struct consumer {
	uint64_t refused_in;      /* dispatch round whose tag_fn said no */
	uint32_t prev, next;      /* place in the active list */
	bool used;
	bool blocked;             /* out of credit when tried: off the active list */
	bool no_ack;
	bool exclusive;
	uint16_t prefetch;
	uint32_t channel;
	uint32_t unacked;
	void *handle;
	uint8_t tag_len;
	char tag[LP_QUEUE_TAG_MAX + 1];
};

struct lp_queue {
	uint32_t capacity;
	uint32_t max_consumers;
	uint32_t max_length;
	uint64_t max_length_bytes;
	bool reject_publish;
	struct ready_entry *ready;       /* ring of capacity entries */
	uint32_t r_head, r_count;
	uint64_t r_bytes;                /* body bytes of the ready messages */
	struct unacked *un;              /* capacity records */
	uint32_t un_free, un_head, un_tail, un_count;
	struct consumer *cons;           /* max_consumers slots */
	uint32_t n_cons;
	uint32_t act_head, act_tail;     /* active consumers, next to try first */
	bool has_exclusive;
	uint64_t next_seq;
	uint64_t dropped;
	uint64_t round;                  /* lp_queue_dispatch calls, from 1 */
};

static struct ready_entry *r_at(const struct lp_queue *q, uint32_t i)
{
	return &q->ready[(q->r_head + i) % q->capacity];
}

static void r_push_back(struct lp_queue *q, struct ready_entry e)
{
	*r_at(q, q->r_count) = e;
	q->r_count++;
	q->r_bytes += e.msg->body_len;
}

static struct ready_entry r_pop_front(struct lp_queue *q)
{
	struct ready_entry e = q->ready[q->r_head];

	q->r_head = (q->r_head + 1) % q->capacity;
	q->r_count--;
	q->r_bytes -= e.msg->body_len;
	return e;
}

/* Insert e at its place by seq; the caller has checked there is room. */
static void r_insert(struct lp_queue *q, struct ready_entry e)
{
	uint32_t lo = 0, hi = q->r_count;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (r_at(q, mid)->seq < e.seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo <= q->r_count / 2) {
		q->r_head = (q->r_head + q->capacity - 1) % q->capacity;
		for (uint32_t i = 0; i < lo; i++)
			*r_at(q, i) = *r_at(q, i + 1);
	} else {
		for (uint32_t i = q->r_count; i > lo; i--)
			*r_at(q, i) = *r_at(q, i - 1);
	}
	*r_at(q, lo) = e;
	q->r_count++;
	q->r_bytes += e.msg->body_len;
}

static void act_append(struct lp_queue *q, uint32_t id)
{
	struct consumer *c = &q->cons[id];

	c->prev = q->act_tail;
	c->next = NIL;
	if (q->act_tail != NIL)
		q->cons[q->act_tail].next = id;
	else
		q->act_head = id;
	q->act_tail = id;
}

static void act_unlink(struct lp_queue *q, uint32_t id)
{
	struct consumer *c = &q->cons[id];

	if (c->prev != NIL)
		q->cons[c->prev].next = c->next;
	else
		q->act_head = c->next;
	if (c->next != NIL)
		q->cons[c->next].prev = c->prev;
	else
		q->act_tail = c->prev;
	c->prev = c->next = NIL;
}

static bool has_credit(const struct consumer *c)
{
	return c->no_ack || c->prefetch == 0 || c->unacked < c->prefetch;
}

static uint32_t un_alloc(struct lp_queue *q)
{
	uint32_t i = q->un_free;

	q->un_free = q->un[i].next;
	q->un[i].prev = q->un_tail;
	q->un[i].next = NIL;
	if (q->un_tail != NIL)
		q->un[q->un_tail].next = i;
	else
		q->un_head = i;
	q->un_tail = i;
	q->un_count++;
	return i;
}

/* Unlink record i, return its consumer's credit and free it. */
static void un_free(struct lp_queue *q, uint32_t i)
{
	struct unacked *u = &q->un[i];

	if (u->prev != NIL)
		q->un[u->prev].next = u->next;
	else
		q->un_head = u->next;
	if (u->next != NIL)
		q->un[u->next].prev = u->prev;
	else
		q->un_tail = u->prev;
	if (u->consumer != NIL) {
		struct consumer *c = &q->cons[u->consumer];
		c->unacked--;
		/* Credit is back: rejoin the active list at its tail. */
		if (c->used && c->blocked && has_credit(c)) {
			c->blocked = false;
			act_append(q, u->consumer);
		}
	}
	u->msg = NULL;
	u->next = q->un_free;
	q->un_free = i;
	q->un_count--;
}

/* Give record i's message back to the ready list, redelivered, and free i. */
static void un_requeue(struct lp_queue *q, uint32_t i)
{
	struct ready_entry e = { .msg = q->un[i].msg, .seq = q->un[i].seq, .redelivered = true };

	un_free(q, i);
	r_insert(q, e);
}

struct lp_queue *lp_queue_create(const struct lp_queue_config *cfg)
{
	struct lp_queue *q;

	if (cfg == NULL || cfg->capacity == 0 || cfg->max_consumers == 0 ||
	    cfg->max_consumers == NIL || cfg->capacity == NIL) {
		errno = EINVAL;
		return NULL;
	}
	q = calloc(1, sizeof(*q));
	if (q == NULL)
		goto nomem;
	q->capacity = cfg->capacity;
	q->max_consumers = cfg->max_consumers;
	q->max_length = cfg->max_length;
	q->max_length_bytes = cfg->max_length_bytes;
	q->reject_publish = cfg->reject_publish;
	q->ready = calloc(cfg->capacity, sizeof(*q->ready));
	q->un = calloc(cfg->capacity, sizeof(*q->un));
	q->cons = calloc(cfg->max_consumers, sizeof(*q->cons));
	if (q->ready == NULL || q->un == NULL || q->cons == NULL) {
		free(q->ready);
		free(q->un);
		free(q->cons);
		free(q);
		goto nomem;
	}
	for (uint32_t i = 0; i < cfg->capacity; i++)
		q->un[i].next = i + 1 < cfg->capacity ? i + 1 : NIL;
	q->un_free = 0;
	q->un_head = q->un_tail = NIL;
	q->act_head = q->act_tail = NIL;
	return q;
nomem:
	errno = ENOMEM;
	return NULL;
}

uint32_t lp_queue_destroy(struct lp_queue *q)
{
	uint32_t n;

	if (q == NULL)
		return 0;
	n = lp_queue_purge(q);
	while (q->un_head != NIL) {
		uint32_t i = q->un_head;
		lp_msg_release(q->un[i].msg);
		un_free(q, i);
		n++;
	}
	free(q->ready);
	free(q->un);
	free(q->cons);
	free(q);
	return n;
}

/* Remove the ready entry at position pos, shifting the shorter side. */
static struct ready_entry r_remove_at(struct lp_queue *q, uint32_t pos)
{
	struct ready_entry e = *r_at(q, pos);

	if (pos < q->r_count / 2) {
		for (uint32_t i = pos; i > 0; i--)
			*r_at(q, i) = *r_at(q, i - 1);
		q->r_head = (q->r_head + 1) % q->capacity;
	} else {
		for (uint32_t i = pos; i + 1 < q->r_count; i++)
			*r_at(q, i) = *r_at(q, i + 1);
	}
	q->r_count--;
	q->r_bytes -= e.msg->body_len;
	return e;
}

/*
 * How many ready messages the consumers' free prefetch credit will take at
 * the next dispatch (UINT32_MAX: no limit, a no-ack or prefetch-0 consumer).
 */
static uint32_t spoken_for(const struct lp_queue *q)
{
	uint64_t credit = 0;

	if (q->n_cons == 0)
		return 0;
	for (uint32_t id = 0; id < q->max_consumers; id++) {
		const struct consumer *c = &q->cons[id];
		if (!c->used)
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
	uint32_t skip = taken < q->r_count ? taken : q->r_count;
	uint64_t count = (uint64_t)q->r_count - skip + extra_count;
	uint64_t bytes;

	if (taken >= (uint64_t)q->r_count + extra_count)
		return false;
	if (q->max_length != LP_QUEUE_NO_MAX_LENGTH && count > q->max_length)
		return true;
	if (q->max_length_bytes == LP_QUEUE_NO_MAX_BYTES)
		return false;
	bytes = q->r_bytes + extra_bytes;
	for (uint32_t i = 0; i < skip; i++)
		bytes -= r_at(q, i)->msg->body_len;
	return bytes > q->max_length_bytes;
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
	bool limited = q->max_length != LP_QUEUE_NO_MAX_LENGTH ||
		       q->max_length_bytes != LP_QUEUE_NO_MAX_BYTES;
	uint32_t taken = limited ? spoken_for(q) : 0;
	bool over = limited && over_limit(q, taken, 1, m->body_len);
	int dropped = 0;

	if (over && q->reject_publish)
		return -ENOBUFS;
	if (q->r_count + q->un_count >= q->capacity) {
		/* Full: only a drop-head that this message causes makes room. */
		if (!over)
			return -ENOSPC;
		if (taken >= q->r_count) {
			/* The new message is itself the oldest one over the limit. */
			q->next_seq++;
			lp_msg_release(m);
			q->dropped++;
			return 1;
		}
		lp_msg_release(r_remove_at(q, taken).msg);
		dropped++;
	}
	r_push_back(q, (struct ready_entry){ .msg = m, .seq = q->next_seq++ });
	while (limited && q->r_count > taken && over_limit(q, taken, 0, 0)) {
		lp_msg_release(r_remove_at(q, taken).msg);
		dropped++;
	}
	q->dropped += (uint64_t)dropped;
	return dropped;
}

bool lp_queue_can_take(const struct lp_queue *q, const struct lp_msg *m)
{
	bool limited = q->max_length != LP_QUEUE_NO_MAX_LENGTH ||
		       q->max_length_bytes != LP_QUEUE_NO_MAX_BYTES;

	if (q->r_count + q->un_count < q->capacity)
		return true;
	/* Full: lp_queue_enqueue refuses m unless a limit drops or rejects it. */
	return limited && over_limit(q, spoken_for(q), 1, m->body_len);
}

int lp_queue_consumer_add(struct lp_queue *q, const struct lp_queue_consumer_spec *spec)
{
	struct consumer *c = NULL;
	uint32_t id;

	if (spec->tag_len > LP_QUEUE_TAG_MAX)
		return -EINVAL;
	if (q->has_exclusive || (spec->exclusive && q->n_cons > 0))
		return -EBUSY;
	for (id = 0; id < q->max_consumers; id++) {
		if (!q->cons[id].used) {
			c = &q->cons[id];
			break;
		}
	}
	if (c == NULL)
		return -ENOSPC;
	c->used = true;
	c->no_ack = spec->no_ack;
	c->exclusive = spec->exclusive;
	c->prefetch = spec->prefetch;
	c->channel = spec->channel;
	c->unacked = 0;
	c->handle = spec->handle;
	c->tag_len = (uint8_t)spec->tag_len;
	if (spec->tag_len != 0)
		memcpy(c->tag, spec->tag, spec->tag_len);
	c->tag[spec->tag_len] = '\0';
	c->blocked = false;
	c->refused_in = 0;
	act_append(q, id);
	q->n_cons++;
	if (spec->exclusive)
		q->has_exclusive = true;
	return (int)id;
}

int lp_queue_consumer_remove(struct lp_queue *q, uint32_t id, bool requeue)
{
	int n = 0;

	if (id >= q->max_consumers || !q->cons[id].used)
		return -ENOENT;
	if (!q->cons[id].blocked)
		act_unlink(q, id);
	q->cons[id].used = false;
	for (uint32_t i = q->un_head, next; i != NIL; i = next) {
		next = q->un[i].next;
		if (q->un[i].consumer != id)
			continue;
		if (requeue) {
			un_requeue(q, i);
			n++;
		} else {
			q->un[i].consumer = NIL;
		}
	}
	if (q->cons[id].exclusive)
		q->has_exclusive = false;
	memset(&q->cons[id], 0, sizeof(q->cons[id]));
	q->n_cons--;
	return n;
}

int lp_queue_consumer_info(const struct lp_queue *q, uint32_t id,
			   struct lp_queue_consumer_spec *out)
{
	const struct consumer *c;

	if (id >= q->max_consumers || !q->cons[id].used)
		return -ENOENT;
	c = &q->cons[id];
	out->tag = c->tag;
	out->tag_len = c->tag_len;
	out->channel = c->channel;
	out->prefetch = c->prefetch;
	out->no_ack = c->no_ack;
	out->exclusive = c->exclusive;
	out->handle = c->handle;
	return 0;
}


unsigned lp_queue_dispatch(struct lp_queue *q, lp_queue_tag_fn tag_fn, void *ctx,
			   struct lp_queue_delivery *out, unsigned max)
{
	uint32_t id = q->act_head;
	unsigned n = 0;

	q->round++;
	while (n < max && q->r_count > 0 && id != NIL) {
		struct consumer *c = &q->cons[id];
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
		uint64_t tag = tag_fn(ctx, c->channel, q->ready[q->r_head].msg, c->no_ack);
		if (tag == 0) {
			c->refused_in = q->round;
			id = next;
			continue;
		}
		struct ready_entry e = r_pop_front(q);
		struct lp_queue_delivery *d = &out[n++];
		d->msg = e.msg;
		d->seq = e.seq;
		d->delivery_tag = tag;
		d->consumer = id;
		d->channel = c->channel;
		d->handle = c->handle;
		d->redelivered = e.redelivered;
		d->no_ack = c->no_ack;
		if (!c->no_ack) {
			/* Ready and unacked share the capacity: a record is free. */
			uint32_t u = un_alloc(q);
			q->un[u].msg = e.msg;
			q->un[u].seq = e.seq;
			q->un[u].tag = tag;
			q->un[u].channel = c->channel;
			q->un[u].consumer = id;
			c->unacked++;
			lp_msg_ref(e.msg, 1);
		}
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
	struct ready_entry e;

	if (q->r_count == 0)
		return 0;
	e = r_pop_front(q);
	out->msg = e.msg;
	out->seq = e.seq;
	out->delivery_tag = delivery_tag;
	out->consumer = LP_QUEUE_NO_CONSUMER;
	out->channel = channel;
	out->handle = NULL;
	out->redelivered = e.redelivered;
	out->no_ack = no_ack;
	if (!no_ack) {
		uint32_t u = un_alloc(q);
		q->un[u].msg = e.msg;
		q->un[u].seq = e.seq;
		q->un[u].tag = delivery_tag;
		q->un[u].channel = channel;
		q->un[u].consumer = NIL;
		lp_msg_ref(e.msg, 1);
	}
	return 1;
}

/*
 * The records of channel that an ack/nack of (tag, multiple) covers:
 * multiple with tag 0 means all of them (AMQP 0-9-1 basic.ack: "multiple
 * ... delivery tag zero ... all outstanding messages").
 */
static bool covered(const struct unacked *u, uint32_t channel, uint64_t tag, bool multiple)
{
	if (u->channel != channel)
		return false;
	if (!multiple)
		return u->tag == tag;
	return tag == 0 || u->tag <= tag;
}

static int settle(struct lp_queue *q, uint32_t channel, uint64_t tag, bool multiple, bool requeue)
{
	int n = 0;

	for (uint32_t i = q->un_head, next; i != NIL; i = next) {
		next = q->un[i].next;
		/* A channel's tags grow in delivery order: nothing further matches. */
		if (q->un[i].channel == channel && tag != 0 && q->un[i].tag > tag)
			break;
		if (!covered(&q->un[i], channel, tag, multiple))
			continue;
		if (requeue) {
			un_requeue(q, i);
		} else {
			lp_msg_release(q->un[i].msg);
			un_free(q, i);
		}
		n++;
		if (!multiple)
			break;
	}
	return n;
}

int lp_queue_ack(struct lp_queue *q, uint32_t channel, uint64_t delivery_tag, bool multiple)
{
	return settle(q, channel, delivery_tag, multiple, false);
}

int lp_queue_nack(struct lp_queue *q, uint32_t channel, uint64_t delivery_tag, bool multiple,
		  bool requeue)
{
	return settle(q, channel, delivery_tag, multiple, requeue);
}

int lp_queue_recover(struct lp_queue *q, uint32_t channel)
{
	return settle(q, channel, 0, true, true);
}

int lp_queue_channel_close(struct lp_queue *q, uint32_t channel)
{
	for (uint32_t id = 0; id < q->max_consumers; id++)
		if (q->cons[id].used && q->cons[id].channel == channel)
			lp_queue_consumer_remove(q, id, false);
	return lp_queue_recover(q, channel);
}

uint32_t lp_queue_purge(struct lp_queue *q)
{
	uint32_t n = q->r_count;

	while (q->r_count > 0)
		lp_msg_release(r_pop_front(q).msg);
	return n;
}

uint32_t lp_queue_message_count(const struct lp_queue *q)
{
	return q->r_count;
}

uint32_t lp_queue_unacked_count(const struct lp_queue *q)
{
	return q->un_count;
}

uint32_t lp_queue_consumer_count(const struct lp_queue *q)
{
	return q->n_cons;
}

uint64_t lp_queue_dropped_count(const struct lp_queue *q)
{
	return q->dropped;
}
