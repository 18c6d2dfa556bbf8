/* SPDX-License-Identifier: MIT */
/*
 * Queue, consumer and ack bookkeeping (dataplane/broker/queue.c) and the
 * message pool (message.c) against RabbitMQ's classic-queue semantics: FIFO,
 * round-robin within prefetch, ack/multiple, reject/nack requeue to the
 * original place with redelivered set, cancel and channel close, Basic.Get,
 * purge, x-max-length drop-head, capacity errors, fan-out by reference,
 * single active consumer, consumer priorities (x-priority), priority
 * queues (x-max-priority: order, requeue, prefetch, drop-head, TTL), and a
 * randomized comparison with a plain reference model (also on priority
 * queues). Every teardown checks
 * that the message pool is back to its starting count (no leak).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "message.h"
#include "queue.h"

#define POOL_CAP 256
#define N_CHAN 8
#define MAX_Q 8

struct fx {
	struct lp_msg_pool *pool;
	struct lp_queue_pool *qpool;
	uint32_t start;
	struct lp_queue *q[MAX_Q];
	uint64_t tags[N_CHAN];     /* per-channel delivery tag counters */
	uint32_t blocked;          /* channels whose tag_fn refuses (bit per channel) */
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->pool = lp_msg_pool_create(POOL_CAP, 32, 64);
	if (f->pool == NULL)
		return -1;
	f->start = lp_msg_pool_available(f->pool);
	f->qpool = lp_queue_pool_create(&(struct lp_queue_pool_config){
		.queues = MAX_Q, .consumers = 64, .entries = 4096});
	if (f->qpool == NULL)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	uint32_t avail;

	for (int i = 0; i < MAX_Q; i++)
		lp_queue_destroy(f->q[i]);
	if (lp_queue_pool_entries_free(f->qpool) != 4096) {
		print_error("queue entry leak: %u of 4096 free\n", lp_queue_pool_entries_free(f->qpool));
		return -1;
	}
	lp_queue_pool_destroy(f->qpool);
	avail = lp_msg_pool_available(f->pool);
	lp_msg_pool_destroy(f->pool);
	free(f);
	/* Leak check: every message back in the pool. */
	if (avail != POOL_CAP) {
		print_error("pool leak: %u of %u available\n", avail, POOL_CAP);
		return -1;
	}
	return 0;
}

static struct lp_queue *mkq(struct fx *f, int i, uint32_t cap, uint32_t max_len)
{
	struct lp_queue_config cfg = { .capacity = cap, .max_consumers = 4, .max_length = max_len,
				       .max_length_bytes = LP_QUEUE_NO_MAX_BYTES };

	f->q[i] = lp_queue_create(f->qpool, &cfg);
	assert_non_null(f->q[i]);
	return f->q[i];
}

static uint64_t next_tag(void *ctx, uint32_t channel, const struct lp_msg *m, bool no_ack)
{
	struct fx *f = ctx;

	(void)m;
	(void)no_ack;
	if (f->blocked & (1u << channel))
		return 0;
	return ++f->tags[channel];
}

static struct lp_msg *mkmsg(struct fx *f, unsigned id)
{
	char body[32];
	int n = snprintf(body, sizeof(body), "m%u", id);
	struct lp_msg *m = lp_msg_create(f->pool, "ex", 2, "rk", 2, "\x80\x00", 2, body, (size_t)n,
					 LP_MSG_F_PERSISTENT);

	assert_non_null(m);
	return m;
}

static void publish(struct fx *f, struct lp_queue *q, unsigned n)
{
	unsigned base = lp_queue_message_count(q);

	for (unsigned i = 0; i < n; i++) {
		struct lp_msg *m = mkmsg(f, base + i);
		assert_int_equal(lp_queue_enqueue(q, m), 0);
	}
}

static int consume(struct lp_queue *q, uint32_t channel, uint16_t prefetch, bool no_ack)
{
	struct lp_queue_consumer_spec s = { .tag = "ctag", .tag_len = 4, .channel = channel,
					    .prefetch = prefetch, .no_ack = no_ack };
	int id = lp_queue_consumer_add(q, &s);

	assert_true(id >= 0);
	return id;
}

/* Dispatch; check each delivery's (consumer, seq, redelivered) and drop the caller refs. */
struct want {
	int consumer;
	uint64_t seq;
	bool redelivered;
};

static unsigned dispatch_expect(struct fx *f, struct lp_queue *q, unsigned max,
				const struct want *w, unsigned n_want, uint64_t *tags_out)
{
	struct lp_queue_delivery d[64];
	unsigned n = lp_queue_dispatch(q, next_tag, f, d, max);

	if (n != n_want)
		print_error("dispatched %u, want %u\n", n, n_want);
	assert_int_equal(n, n_want);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(d[i].consumer, w[i].consumer);
		assert_int_equal(d[i].seq, w[i].seq);
		assert_int_equal(d[i].redelivered, w[i].redelivered);
		if (tags_out != NULL)
			tags_out[i] = d[i].delivery_tag;
		lp_msg_release(d[i].msg);
	}
	return n;
}

static void pool_create_errors(void **state)
{
	struct fx *f = *state;
	struct lp_msg_pool *p;
	struct lp_msg *m[3];
	char big[65] = { 0 };

	errno = 0;
	assert_null(lp_msg_pool_create(0, 1, 1));
	assert_int_equal(errno, EINVAL);
	p = lp_msg_pool_create(3, 4, 8);
	assert_non_null(p);
	assert_int_equal(lp_msg_pool_available(p), 3);
	for (int i = 0; i < 3; i++)
		assert_non_null(m[i] = lp_msg_create(p, NULL, 0, NULL, 0, NULL, 0, "abc", 3, 0));
	assert_null(lp_msg_create(p, NULL, 0, NULL, 0, NULL, 0, NULL, 0, 0));
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(lp_msg_pool_available(p), 0);
	assert_memory_equal(m[1]->body, "abc", 3);
	lp_msg_ref(m[1], 2);
	assert_false(lp_msg_release(m[1]));
	assert_false(lp_msg_release(m[1]));
	assert_int_equal(lp_msg_pool_available(p), 0);
	assert_true(lp_msg_release(m[1]));
	assert_int_equal(lp_msg_pool_available(p), 1);
	assert_true(lp_msg_release(m[0]));
	assert_true(lp_msg_release(m[2]));
	assert_int_equal(lp_msg_pool_available(p), 3);
	/* Too long for the pool (heap bodies off, see test_message.c): nothing taken. */
	assert_int_equal(lp_msg_pool_set_large(p, 0, 0), 0);
	assert_null(lp_msg_create(p, NULL, 0, NULL, 0, NULL, 0, big, 9, 0));
	assert_int_equal(errno, EMSGSIZE);
	assert_null(lp_msg_create(p, NULL, 0, NULL, 0, big, 5, NULL, 0, 0));
	assert_int_equal(errno, EMSGSIZE);
	assert_null(lp_msg_create(p, big, 256, NULL, 0, NULL, 0, NULL, 0, 0));
	assert_int_equal(errno, EMSGSIZE);
	assert_int_equal(lp_msg_pool_available(p), 3);
	lp_msg_pool_destroy(p);

	/* The fixture's message copies what it is given. */
	struct lp_msg *x = mkmsg(f, 42);
	assert_string_equal(x->exchange, "ex");
	assert_string_equal(x->rkey, "rk");
	assert_int_equal(x->body_len, 3);
	assert_memory_equal(x->body, "m42", 3);
	assert_int_equal(x->props_len, 2);
	assert_int_equal(x->flags, LP_MSG_F_PERSISTENT);
	assert_int_equal(lp_msg_refcnt(x), 1);
	assert_true(lp_msg_release(x));
}

/* Two threads release shared fan-out references and churn the pool at once. */
#define MT_SHARED 64
#define MT_ROUNDS 20000

struct mt_arg {
	struct lp_msg_pool *pool;
	struct lp_msg **shared;
	unsigned freed;      /* shared messages this thread's release freed */
	unsigned failed;     /* allocations that found the pool empty */
};

static void *mt_worker(void *p)
{
	struct mt_arg *a = p;

	for (unsigned i = 0; i < MT_SHARED; i++)
		a->freed += lp_msg_release(a->shared[i]);
	for (unsigned i = 0; i < MT_ROUNDS; i++) {
		struct lp_msg *m = lp_msg_create(a->pool, NULL, 0, "k", 1, NULL, 0, &i, sizeof(i), 0);
		if (m == NULL) {
			a->failed++;
			continue;
		}
		unsigned v;
		memcpy(&v, m->body, sizeof(v));
		if (v != i || !lp_msg_release(m))
			a->failed += 1000000;   /* another thread had this message */
	}
	return NULL;
}

static void pool_concurrent_release(void **state)
{
	struct fx *f = *state;
	struct lp_msg *shared[MT_SHARED];
	struct mt_arg a[2];
	pthread_t t[2];

	for (unsigned i = 0; i < MT_SHARED; i++) {
		shared[i] = mkmsg(f, i);
		lp_msg_ref(shared[i], 1);   /* two queues hold it */
	}
	for (int k = 0; k < 2; k++) {
		a[k] = (struct mt_arg){ .pool = f->pool, .shared = shared };
		assert_int_equal(pthread_create(&t[k], NULL, mt_worker, &a[k]), 0);
	}
	for (int k = 0; k < 2; k++)
		assert_int_equal(pthread_join(t[k], NULL), 0);
	/* Each shared message freed exactly once, by one of the two threads. */
	assert_int_equal(a[0].freed + a[1].freed, MT_SHARED);
	assert_int_equal(a[0].failed, 0);
	assert_int_equal(a[1].failed, 0);
	assert_int_equal(lp_msg_pool_available(f->pool), f->start);
}

static void fifo_order(void **state)
{
	struct fx *f = *state;
	struct lp_queue *q = mkq(f, 0, 64, LP_QUEUE_NO_MAX_LENGTH);
	struct lp_queue_delivery d[16];
	unsigned n;

	publish(f, q, 10);
	assert_int_equal(lp_queue_message_count(q), 10);
	assert_int_equal(lp_msg_pool_available(f->pool), f->start - 10);
	/* No consumer: nothing dispatched. */
	assert_int_equal(lp_queue_dispatch(q, next_tag, f, d, 16), 0);
	consume(q, 1, 0, false);
	assert_int_equal(lp_queue_consumer_count(q), 1);
	n = lp_queue_dispatch(q, next_tag, f, d, 16);
	assert_int_equal(n, 10);
	for (unsigned i = 0; i < n; i++) {
		char body[16];
		snprintf(body, sizeof(body), "m%u", i);
		assert_int_equal(d[i].seq, i);
		assert_int_equal(d[i].delivery_tag, i + 1);
		assert_false(d[i].redelivered);
		assert_false(d[i].no_ack);
		assert_int_equal(d[i].msg->body_len, strlen(body));
		assert_memory_equal(d[i].msg->body, body, strlen(body));
		/* The queue keeps one reference, the delivery carries another. */
		assert_int_equal(lp_msg_refcnt(d[i].msg), 2);
		lp_msg_release(d[i].msg);
	}
	assert_int_equal(lp_queue_message_count(q), 0);
	assert_int_equal(lp_queue_unacked_count(q), 10);
	assert_int_equal(lp_queue_ack(q, 1, 10, true), 10);
	assert_int_equal(lp_queue_unacked_count(q), 0);
	assert_int_equal(lp_msg_pool_available(f->pool), f->start);
}

static void no_ack_consumer(void **state)
{
	struct fx *f = *state;
	struct lp_queue *q = mkq(f, 0, 64, LP_QUEUE_NO_MAX_LENGTH);
	struct lp_queue_delivery d[16];

	publish(f, q, 5);
	consume(q, 2, 1, true);   /* prefetch does not limit no-ack consumers */
	assert_int_equal(lp_queue_dispatch(q, next_tag, f, d, 16), 5);
	assert_int_equal(lp_queue_unacked_count(q), 0);
	for (int i = 0; i < 5; i++) {
		assert_true(d[i].no_ack);
		assert_int_equal(lp_msg_refcnt(d[i].msg), 1);
		assert_true(lp_msg_release(d[i].msg));
	}
	assert_int_equal(lp_msg_pool_available(f->pool), f->start);
}

static void round_robin_prefetch_1(void **state)
{
	struct fx *f = *state;
	struct lp_queue *q = mkq(f, 0, 64, LP_QUEUE_NO_MAX_LENGTH);
	int a = consume(q, 1, 1, false), b = consume(q, 2, 1, false);
	uint64_t t[8];

	publish(f, q, 6);
	dispatch_expect(f, q, 16, (struct want[]){ { a, 0, false }, { b, 1, false } }, 2, t);
	dispatch_expect(f, q, 16, NULL, 0, NULL);   /* no credit left */
	assert_int_equal(lp_queue_ack(q, 1, t[0], false), 1);
	dispatch_expect(f, q, 16, (struct want[]){ { a, 2, false } }, 1, NULL);
	assert_int_equal(lp_queue_ack(q, 2, t[1], false), 1);
	dispatch_expect(f, q, 16, (struct want[]){ { b, 3, false } }, 1, NULL);
	/* Both acked: alternation continues from a. */
	assert_int_equal(lp_queue_ack(q, 1, 0, true), 1);
	assert_int_equal(lp_queue_ack(q, 2, 0, true), 1);
	dispatch_expect(f, q, 16, (struct want[]){ { a, 4, false }, { b, 5, false } }, 2, NULL);
	assert_int_equal(lp_queue_ack(q, 1, 0, true), 1);
	assert_int_equal(lp_queue_ack(q, 2, 0, true), 1);
	assert_int_equal(lp_queue_message_count(q), 0);
	assert_int_equal(lp_msg_pool_available(f->pool), f->start);
}

/*
 * RabbitMQ (rabbit_queue_consumers): a consumer found without credit is
 * blocked and rejoins the line at the back when credit returns, so two full
 * consumers acked B-then-A are served B then A; consumers never found
 * without credit keep their place.
 */
static void unblocked_consumers_rejoin_in_ack_order(void **state)
{
	struct fx *f = *state;
	struct lp_queue *q = mkq(f, 0, 64, LP_QUEUE_NO_MAX_LENGTH);
	int a = consume(q, 1, 1, false), b = consume(q, 2, 1, false);
	uint64_t t[2];

	publish(f, q, 4);
	dispatch_expect(f, q, 16, (struct want[]){ { a, 0, false }, { b, 1, false } }, 2, t);
	/* Both were tried without credit (messages 2, 3 waiting): blocked. */
	assert_int_equal(lp_queue_ack(q, 2, t[1], false), 1);
	assert_int_equal(lp_queue_ack(q, 1, t[0], false), 1);
	dispatch_expect(f, q, 16, (struct want[]){ { b, 2, false }, { a, 3, false } }, 2, NULL);
	/* Queue empty: nobody was tried, the line stays b, a whatever the ack order. */
	assert_int_equal(lp_queue_ack(q, 1, 0, true), 1);
	assert_int_equal(lp_queue_ack(q, 2, 0, true), 1);
	publish(f, q, 2);
	dispatch_expect(f, q, 16, (struct want[]){ { b, 4, false }, { a, 5, false } }, 2, NULL);
	/* A new consumer joins at the back. */
	assert_int_equal(lp_queue_ack(q, 2, 0, true), 1);
	assert_int_equal(lp_queue_ack(q, 1, 0, true), 1);
	int c = consume(q, 3, 1, false);
	publish(f, q, 3);
	dispatch_expect(f, q, 16,
			(struct want[]){ { b, 6, false }, { a, 7, false }, { c, 8, false } }, 3,
			NULL);
	assert_int_equal(lp_queue_ack(q, 1, 0, true), 1);
	assert_int_equal(lp_queue_ack(q, 2, 0, true), 1);
	assert_int_equal(lp_queue_ack(q, 3, 0, true), 1);
}

static void round_robin_prefetch_2(void **state)
{
	struct fx *f = *state;
	struct lp_queue *q = mkq(f, 0, 64, LP_QUEUE_NO_MAX_LENGTH);
	int a = consume(q, 1, 2, false), b = consume(q, 2, 2, false);
	uint64_t t[8];

	publish(f, q, 10);
	dispatch_expect(f, q, 16,
			(struct want[]){ { a, 0, false }, { b, 1, false }, { a, 2, false },
					 { b, 3, false } },
			4, t);
	dispatch_expect(f, q, 16, NULL, 0, NULL);
	/* a acks both (multiple): its two credits go to it alone, b is full. */
	assert_int_equal(lp_queue_ack(q, 1, t[2], true), 2);
	dispatch_expect(f, q, 16, (struct want[]){ { a, 4, false }, { a, 5, false } }, 2, NULL);
	/* b acks one: one more for b. */
	assert_int_equal(lp_queue_ack(q, 2, t[1], false), 1);
	dispatch_expect(f, q, 16, (struct want[]){ { b, 6, false } }, 1, NULL);
	assert_int_equal(lp_queue_message_count(q), 3);
	assert_int_equal(lp_queue_unacked_count(q), 4);
	/* Dispatch respects max. */
	assert_int_equal(lp_queue_ack(q, 1, 0, true), 2);
	dispatch_expect(f, q, 1, (struct want[]){ { a, 7, false } }, 1, NULL);
}

static void channel_refuses_delivery(void **state)
{
	struct fx *f = *state;
	struct lp_queue *q = mkq(f, 0, 64, LP_QUEUE_NO_MAX_LENGTH);
	int a = consume(q, 1, 0, false), b = consume(q, 2, 0, false);
	struct lp_queue_consumer_spec info;

	publish(f, q, 6);
	/* Channel 1 cannot take more: everything goes to b, in order. */
	f->blocked = 1u << 1;
	dispatch_expect(f, q, 3, (struct want[]){ { b, 0, false }, { b, 1, false }, { b, 2, false } },
			3, NULL);
	assert_int_equal(f->tags[1], 0);
	/* Both refuse: nothing leaves the queue. */
	f->blocked = (1u << 1) | (1u << 2);
	dispatch_expect(f, q, 16, NULL, 0, NULL);
	assert_int_equal(lp_queue_message_count(q), 3);
	/* Refusal lasts one dispatch call only. */
	f->blocked = 0;
	dispatch_expect(f, q, 16, (struct want[]){ { a, 3, false }, { b, 4, false }, { a, 5, false } },
			3, NULL);
	assert_int_equal(lp_queue_consumer_info(q, (uint32_t)b, &info), 0);
	assert_int_equal(info.tag_len, 4);
	assert_memory_equal(info.tag, "ctag", 4);
	assert_int_equal(info.channel, 2);
	assert_int_equal(lp_queue_consumer_info(q, 3, &info), -ENOENT);
	assert_int_equal(lp_queue_ack(q, 1, 0, true), 2);
	assert_int_equal(lp_queue_ack(q, 2, 0, true), 4);
}

static void multiple_ack(void **state)
{
	struct fx *f = *state;
	struct lp_queue *q = mkq(f, 0, 64, LP_QUEUE_NO_MAX_LENGTH);

	consume(q, 3, 0, false);
	publish(f, q, 5);
	dispatch_expect(f, q, 16,
			(struct want[]){ { 0, 0, false }, { 0, 1, false }, { 0, 2, false },
					 { 0, 3, false }, { 0, 4, false } },
			5, NULL);
	/* Tags 1..5 on channel 3. */
	assert_int_equal(lp_queue_ack(q, 3, 3, true), 3);
	assert_int_equal(lp_queue_unacked_count(q), 2);
	assert_int_equal(lp_msg_pool_available(f->pool), f->start - 2);
	assert_int_equal(lp_queue_ack(q, 3, 3, false), 0);   /* already acked */
	assert_int_equal(lp_queue_ack(q, 4, 5, false), 0);   /* other channel */
	assert_int_equal(lp_queue_ack(q, 3, 5, false), 1);
	assert_int_equal(lp_queue_ack(q, 3, 0, true), 1);    /* all outstanding */
	assert_int_equal(lp_queue_unacked_count(q), 0);
	assert_int_equal(lp_msg_pool_available(f->pool), f->start);
}

static void reject_requeue_keeps_order(void **state)
{
	struct fx *f = *state;
	struct lp_queue *q = mkq(f, 0, 64, LP_QUEUE_NO_MAX_LENGTH);

	consume(q, 1, 5, false);
	publish(f, q, 8);
	/* Messages 1..5 (seq 0..4) delivered with tags 1..5. */
	dispatch_expect(f, q, 16,
			(struct want[]){ { 0, 0, false }, { 0, 1, false }, { 0, 2, false },
					 { 0, 3, false }, { 0, 4, false } },
			5, NULL);
	/* Reject 4 then 2 with requeue. */
	assert_int_equal(lp_queue_nack(q, 1, 4, false, true), 1);
	assert_int_equal(lp_queue_nack(q, 1, 2, false, true), 1);
	assert_int_equal(lp_queue_message_count(q), 5);
	assert_int_equal(lp_queue_unacked_count(q), 3);
	/* 2 and 4 come back first, in seq order, redelivered; then 6.. new. */
	dispatch_expect(f, q, 16, (struct want[]){ { 0, 1, true }, { 0, 3, true } }, 2, NULL);
	assert_int_equal(lp_queue_ack(q, 1, 0, true), 5);
	dispatch_expect(f, q, 16,
			(struct want[]){ { 0, 5, false }, { 0, 6, false }, { 0, 7, false } }, 3,
			NULL);
	/* Nack multiple with requeue; then without requeue drops them. */
	assert_int_equal(lp_queue_nack(q, 1, 0, true, true), 3);
	dispatch_expect(f, q, 16,
			(struct want[]){ { 0, 5, true }, { 0, 6, true }, { 0, 7, true } }, 3, NULL);
	assert_int_equal(lp_queue_nack(q, 1, 12, true, false), 2);   /* tags 11, 12 */
	assert_int_equal(lp_queue_unacked_count(q), 1);
	assert_int_equal(lp_queue_message_count(q), 0);
	assert_int_equal(lp_msg_pool_available(f->pool), f->start - 1);
	assert_int_equal(lp_queue_nack(q, 1, 13, false, false), 1);
	assert_int_equal(lp_msg_pool_available(f->pool), f->start);
}

static void requeue_goes_before_newer_ready(void **state)
{
	struct fx *f = *state;
	struct lp_queue *q = mkq(f, 0, 64, LP_QUEUE_NO_MAX_LENGTH);
	struct lp_queue_delivery d;

	publish(f, q, 6);
	/* Get seq 0..3 with ack (tags 10..13), then requeue them out of order. */
	for (uint64_t i = 0; i < 4; i++) {
		assert_int_equal(lp_queue_get(q, 2, 10 + i, false, &d), 1);
		assert_int_equal(d.seq, i);
		lp_msg_release(d.msg);
	}
	publish(f, q, 2);   /* seq 6, 7 */
	assert_int_equal(lp_queue_nack(q, 2, 13, false, true), 1);
	assert_int_equal(lp_queue_nack(q, 2, 10, false, true), 1);
	assert_int_equal(lp_queue_nack(q, 2, 12, false, true), 1);
	static const struct { uint64_t seq; bool redelivered; } order[] = {
		{ 0, true }, { 2, true }, { 3, true }, { 4, false }, { 5, false },
		{ 6, false }, { 7, false },
	};
	for (unsigned i = 0; i < 7; i++) {
		assert_int_equal(lp_queue_get(q, 2, 100 + i, true, &d), 1);
		assert_int_equal(d.seq, order[i].seq);
		assert_int_equal(d.redelivered, order[i].redelivered);
		assert_true(lp_msg_release(d.msg));
	}
	assert_int_equal(lp_queue_get(q, 2, 200, true, &d), 0);
	assert_int_equal(lp_queue_ack(q, 2, 11, false), 1);
}

struct unacked_seen {
	unsigned n;
	uint32_t channel[8];
	uint64_t tag[8];
};

static void note_unacked(void *ctx, uint32_t channel, uint64_t tag)
{
	struct unacked_seen *s = ctx;

	assert_true(s->n < 8);
	s->channel[s->n] = channel;
	s->tag[s->n++] = tag;
}

/* What owner.c's queue_delete gives the channels: every unacked delivery,
 * in delivery order; acked and requeued ones are not among them. */
static void for_each_unacked_in_delivery_order(void **state)
{
	struct fx *f = *state;
	struct lp_queue *q = mkq(f, 0, 64, LP_QUEUE_NO_MAX_LENGTH);
	struct lp_queue_delivery d;
	struct unacked_seen seen = {0};
	static const uint32_t chan[5] = {2, 3, 2, 3, 2};

	publish(f, q, 5);
	for (uint64_t i = 0; i < 5; i++) {
		assert_int_equal(lp_queue_get(q, chan[i], 10 + i, false, &d), 1);
		lp_msg_release(d.msg);
	}
	assert_int_equal(lp_queue_ack(q, 3, 11, false), 1);
	assert_int_equal(lp_queue_nack(q, 2, 12, false, true), 1);
	lp_queue_for_each_unacked(q, note_unacked, &seen);
	assert_int_equal(seen.n, 3);
	assert_int_equal(seen.channel[0], 2);
	assert_int_equal(seen.tag[0], 10);
	assert_int_equal(seen.channel[1], 3);
	assert_int_equal(seen.tag[1], 13);
	assert_int_equal(seen.channel[2], 2);
	assert_int_equal(seen.tag[2], 14);
	/* The counters of the management API: a requeue is not a publish, its
	 * next delivery is a redelivery; a nack is not an ack. */
	const struct lp_queue_counters *k = lp_queue_counters(q);

	assert_int_equal(lp_queue_get(q, 2, 20, false, &d), 1);
	assert_true(d.redelivered);
	lp_msg_release(d.msg);
	assert_int_equal(lp_queue_nack(q, 2, 20, false, false), 1);
	assert_int_equal(k->published, 5);
	assert_int_equal(k->got, 6);
	assert_int_equal(k->delivered, 0);
	assert_int_equal(k->redelivered, 1);
	assert_int_equal(k->acked, 1);
}

static void cancel_requeues_in_order(void **state)
{
	struct fx *f = *state;
	struct lp_queue *q = mkq(f, 0, 64, LP_QUEUE_NO_MAX_LENGTH);
	int a = consume(q, 1, 3, false), b = consume(q, 2, 3, false);

	publish(f, q, 8);
	dispatch_expect(f, q, 16,
			(struct want[]){ { a, 0, false }, { b, 1, false }, { a, 2, false },
					 { b, 3, false }, { a, 4, false }, { b, 5, false } },
			6, NULL);
	assert_int_equal(lp_queue_consumer_remove(q, (uint32_t)a, true), 3);
	assert_int_equal(lp_queue_consumer_remove(q, (uint32_t)a, true), -ENOENT);
	assert_int_equal(lp_queue_consumer_count(q), 1);
	assert_int_equal(lp_queue_message_count(q), 5);
	dispatch_expect(f, q, 16, NULL, 0, NULL);   /* b is full */
	assert_int_equal(lp_queue_ack(q, 2, 0, true), 3);
	dispatch_expect(f, q, 16, (struct want[]){ { b, 0, true }, { b, 2, true }, { b, 4, true } },
			3, NULL);
	/* Cancel without requeue: unacked stay, still ackable on the channel. */
	assert_int_equal(lp_queue_consumer_remove(q, (uint32_t)b, false), 0);
	assert_int_equal(lp_queue_consumer_count(q), 0);
	assert_int_equal(lp_queue_unacked_count(q), 3);
	assert_int_equal(lp_queue_ack(q, 2, 4, false), 1);   /* seq 0 */
	/* A new consumer in a's old slot gets full credit: detached unacked don't count. */
	int c = consume(q, 5, 2, false);
	assert_int_equal(c, a);
	dispatch_expect(f, q, 16, (struct want[]){ { c, 6, false }, { c, 7, false } }, 2, NULL);
	/* Channel 2 closes: its two remaining unacked (seq 2, 4) go back in order. */
	assert_int_equal(lp_queue_channel_close(q, 2), 2);
	assert_int_equal(lp_queue_message_count(q), 2);
	/* Channel 5 closes: consumer removed, seq 6, 7 back behind 2, 4. */
	assert_int_equal(lp_queue_channel_close(q, 5), 2);
	assert_int_equal(lp_queue_consumer_count(q), 0);
	int e = consume(q, 6, 0, false);
	dispatch_expect(f, q, 16,
			(struct want[]){ { e, 2, true }, { e, 4, true }, { e, 6, true },
					 { e, 7, true } },
			4, NULL);
	/* Recover requeues but keeps the consumer. */
	assert_int_equal(lp_queue_recover(q, 6), 4);
	assert_int_equal(lp_queue_consumer_count(q), 1);
	assert_int_equal(lp_queue_message_count(q), 4);
}

/* ---- single active consumer and consumer priorities ------------------------ */

static struct lp_queue *mkq_sac(struct fx *f, int i)
{
	struct lp_queue_config cfg = { .capacity = 64, .max_consumers = 4,
				       .max_length = LP_QUEUE_NO_MAX_LENGTH,
				       .max_length_bytes = LP_QUEUE_NO_MAX_BYTES,
				       .single_active = true };

	f->q[i] = lp_queue_create(f->qpool, &cfg);
	assert_non_null(f->q[i]);
	return f->q[i];
}

static int consume_p(struct lp_queue *q, uint32_t channel, uint16_t prefetch, int32_t priority)
{
	struct lp_queue_consumer_spec s = { .tag = "ctag", .tag_len = 4, .channel = channel,
					    .prefetch = prefetch, .priority = priority };
	int id = lp_queue_consumer_add(q, &s);

	assert_true(id >= 0);
	return id;
}

/* x-single-active-consumer: the first consumer gets everything, the others
 * wait; Basic.Cancel hands over to the next attached, leaving the cancelled
 * one's unacked with its channel (RabbitMQ); exclusive consume is refused. */
static void sac_first_consumer_only(void **state)
{
	struct fx *f = *state;
	struct lp_queue *q = mkq_sac(f, 0);
	struct lp_queue_consumer_spec x = { .tag = "x", .tag_len = 1, .channel = 7, .exclusive = true };

	assert_int_equal(lp_queue_active_consumer(q), LP_QUEUE_NO_CONSUMER);
	int a = consume(q, 1, 2, false), b = consume(q, 2, 0, false), c = consume(q, 3, 0, false);

	assert_int_equal(lp_queue_active_consumer(q), a);
	assert_int_equal(lp_queue_consumer_add(q, &x), -EBUSY);
	publish(f, q, 6);
	/* a's prefetch is full after two: the waiting ones get nothing. */
	dispatch_expect(f, q, 16, (struct want[]){ { a, 0, false }, { a, 1, false } }, 2, NULL);
	dispatch_expect(f, q, 16, NULL, 0, NULL);
	assert_int_equal(lp_queue_message_count(q), 4);
	assert_int_equal(lp_queue_ack(q, 1, 1, false), 1);
	/* a's channel refusing (Channel.Flow, a full send stream) passes nothing
	 * to the waiting ones. */
	f->blocked = 1u << 1;
	dispatch_expect(f, q, 16, NULL, 0, NULL);
	f->blocked = 0;
	dispatch_expect(f, q, 16, (struct want[]){ { a, 2, false } }, 1, NULL);
	/* A waiting consumer leaving changes nothing. */
	assert_int_equal(lp_queue_consumer_remove(q, (uint32_t)c, false), 0);
	assert_int_equal(lp_queue_active_consumer(q), a);
	c = consume(q, 3, 0, false);
	/* Cancel a: its unacked (seq 1, 2) stay with channel 1 and hold the
	 * handover back until they are settled. */
	assert_int_equal(lp_queue_consumer_remove(q, (uint32_t)a, false), 0);
	assert_int_equal(lp_queue_active_consumer(q), LP_QUEUE_NO_CONSUMER);
	dispatch_expect(f, q, 16, NULL, 0, NULL);
	assert_int_equal(lp_queue_ack(q, 1, 2, false), 1);
	assert_int_equal(lp_queue_active_consumer(q), LP_QUEUE_NO_CONSUMER);
	dispatch_expect(f, q, 16, NULL, 0, NULL);
	/* The last one settled: b (attached before c) takes over with what is ready. */
	assert_int_equal(lp_queue_ack(q, 1, 3, false), 1);
	assert_int_equal(lp_queue_active_consumer(q), b);
	dispatch_expect(f, q, 16, (struct want[]){ { b, 3, false }, { b, 4, false }, { b, 5, false } },
			3, NULL);
	assert_int_equal(lp_queue_unacked_count(q), 3);
	publish(f, q, 1);
	dispatch_expect(f, q, 16, (struct want[]){ { b, 6, false } }, 1, NULL);
	assert_int_equal(lp_queue_consumer_remove(q, (uint32_t)b, true), 4);
	assert_int_equal(lp_queue_active_consumer(q), c);
	dispatch_expect(f, q, 16,
			(struct want[]){ { c, 3, true }, { c, 4, true }, { c, 5, true }, { c, 6, true } },
			4, NULL);
	assert_int_equal(lp_queue_channel_close(q, 3), 4);
	assert_int_equal(lp_queue_active_consumer(q), LP_QUEUE_NO_CONSUMER);
	/* With no consumer left, the next one attached is active at once. */
	int d = consume(q, 4, 0, false);
	assert_int_equal(lp_queue_active_consumer(q), d);
	dispatch_expect(f, q, 16,
			(struct want[]){ { d, 3, true }, { d, 4, true }, { d, 5, true }, { d, 6, true } },
			4, NULL);
}

/* The active consumer's channel closes with unacked messages: they are
 * requeued in order and the next consumer gets them first, redelivered,
 * then what was never delivered. */
static void sac_channel_close_hands_over_in_order(void **state)
{
	struct fx *f = *state;
	struct lp_queue *q = mkq_sac(f, 0);
	int a = consume(q, 1, 4, false);
	int b = consume(q, 2, 0, false);

	publish(f, q, 7);
	dispatch_expect(f, q, 16,
			(struct want[]){ { a, 0, false }, { a, 1, false }, { a, 2, false }, { a, 3, false } },
			4, NULL);
	assert_int_equal(lp_queue_ack(q, 1, 2, false), 1);   /* seq 1 */
	dispatch_expect(f, q, 16, (struct want[]){ { a, 4, false } }, 1, NULL);
	/* b, waiting, got nothing of the two ready ones. */
	assert_int_equal(lp_queue_message_count(q), 2);
	assert_int_equal(lp_queue_active_consumer(q), a);
	assert_int_equal(lp_queue_channel_close(q, 1), 4);
	assert_int_equal(lp_queue_active_consumer(q), b);
	dispatch_expect(f, q, 16,
			(struct want[]){ { b, 0, true }, { b, 2, true }, { b, 3, true }, { b, 4, true },
					 { b, 5, false }, { b, 6, false } },
			6, NULL);
}

/* pika's channel close: Basic.Cancel of the active consumer, then
 * Channel.Close. Its unacked come back first, in order, then what stayed
 * ready; a consumer attached meanwhile waits behind the one before it. */
static void sac_cancel_then_close_keeps_order(void **state)
{
	struct fx *f = *state;
	struct lp_queue *q = mkq_sac(f, 0);
	int a = consume(q, 1, 3, false);
	int b = consume(q, 2, 0, false);

	publish(f, q, 6);
	dispatch_expect(f, q, 16, (struct want[]){ { a, 0, false }, { a, 1, false }, { a, 2, false } },
			3, NULL);
	assert_int_equal(lp_queue_consumer_remove(q, (uint32_t)a, false), 0);
	dispatch_expect(f, q, 16, NULL, 0, NULL);
	int c = consume(q, 3, 0, false);
	assert_int_equal(lp_queue_active_consumer(q), LP_QUEUE_NO_CONSUMER);
	/* One rejected with requeue goes back; the other two still hold. */
	assert_int_equal(lp_queue_nack(q, 1, 2, false, true), 1);
	dispatch_expect(f, q, 16, NULL, 0, NULL);
	assert_int_equal(lp_queue_channel_close(q, 1), 2);
	assert_int_equal(lp_queue_active_consumer(q), b);
	dispatch_expect(f, q, 16,
			(struct want[]){ { b, 0, true }, { b, 1, true }, { b, 2, true }, { b, 3, false },
					 { b, 4, false }, { b, 5, false } },
			6, NULL);
	assert_int_equal(lp_queue_channel_close(q, 2), 6);
	assert_int_equal(lp_queue_active_consumer(q), c);
	/* Deleting the queue with a cancelled active consumer's unacked. */
	dispatch_expect(f, q, 1, (struct want[]){ { c, 0, true } }, 1, NULL);
	assert_int_equal(lp_queue_consumer_remove(q, (uint32_t)c, false), 0);
	consume(q, 4, 0, false);
	assert_int_equal(lp_queue_destroy(q), 6);
	f->q[0] = NULL;
}

/* A waiting consumer does not make x-max-length spare messages for it. */
static void sac_waiting_credit_not_counted(void **state)
{
	struct fx *f = *state;
	struct lp_queue_config cfg = { .capacity = 64, .max_consumers = 4, .max_length = 2,
				       .max_length_bytes = LP_QUEUE_NO_MAX_BYTES, .single_active = true };
	struct lp_queue *q = f->q[0] = lp_queue_create(f->qpool, &cfg);

	assert_non_null(q);
	int a = consume(q, 1, 1, false);
	consume(q, 2, 10, false);
	dispatch_expect(f, q, 16, NULL, 0, NULL);
	for (unsigned i = 0; i < 5; i++)
		lp_queue_enqueue(q, mkmsg(f, i));
	/* a's one credit spares seq 0; the limit keeps the newest two after it. */
	assert_int_equal(lp_queue_message_count(q), 3);
	dispatch_expect(f, q, 16, (struct want[]){ { a, 0, false } }, 1, NULL);
}

/* x-priority: the highest priority with credit first, round-robin among
 * equals, lower ones only while every higher one is blocked; credit given
 * back puts a consumer ahead of the lower ones again. */
static void priority_dispatch_order(void **state)
{
	struct fx *f = *state;
	struct lp_queue *q = mkq(f, 0, 64, LP_QUEUE_NO_MAX_LENGTH);
	int lo = consume_p(q, 1, 0, 0);
	int m1 = consume_p(q, 3, 1, 5);
	int hi = consume_p(q, 2, 2, 10);
	int m2 = consume_p(q, 4, 1, 5);
	struct lp_queue_consumer_spec info;

	assert_int_equal(lp_queue_consumer_info(q, (uint32_t)hi, &info), 0);
	assert_int_equal(info.priority, 10);
	publish(f, q, 8);
	dispatch_expect(f, q, 16,
			(struct want[]){ { hi, 0, false }, { hi, 1, false }, { m1, 2, false },
					 { m2, 3, false }, { lo, 4, false }, { lo, 5, false },
					 { lo, 6, false }, { lo, 7, false } },
			8, NULL);
	/* hi's credit back (ack of seq 1, tag 2 on channel 2): it goes first again. */
	assert_int_equal(lp_queue_ack(q, 2, 2, false), 1);
	publish(f, q, 3);
	dispatch_expect(f, q, 16, (struct want[]){ { hi, 8, false }, { lo, 9, false }, { lo, 10, false } },
			3, NULL);
	/* m2's credit back before m1's: m2 rejoins first, both ahead of lo. */
	assert_int_equal(lp_queue_ack(q, 4, 1, false), 1);
	assert_int_equal(lp_queue_ack(q, 3, 1, false), 1);
	publish(f, q, 3);
	dispatch_expect(f, q, 16, (struct want[]){ { m2, 11, false }, { m1, 12, false }, { lo, 13, false } },
			3, NULL);
	/* A channel that refuses (Channel.Flow, a full send stream) passes the
	 * message down to the next priority. */
	assert_int_equal(lp_queue_ack(q, 2, 0, true), 2);
	f->blocked = 1u << 2;
	publish(f, q, 1);
	dispatch_expect(f, q, 16, (struct want[]){ { lo, 14, false } }, 1, NULL);
	f->blocked = 0;
	/* A negative priority comes after the default. */
	assert_int_equal(lp_queue_consumer_remove(q, (uint32_t)lo, false), 0);
	int neg = consume_p(q, 5, 0, -3);
	publish(f, q, 3);
	dispatch_expect(f, q, 16, (struct want[]){ { hi, 15, false }, { hi, 16, false }, { neg, 17, false } },
			3, NULL);
	assert_int_equal(lp_queue_channel_close(q, 1), 8);
}

/* Single active consumer with priorities: the first attached is active
 * whatever its priority; when it goes, the waiting one of highest priority
 * takes over (RabbitMQ 3.10). */
static void sac_successor_by_priority(void **state)
{
	struct fx *f = *state;
	struct lp_queue *q = mkq_sac(f, 0);
	int a = consume_p(q, 1, 0, 0);
	int b = consume_p(q, 2, 0, 0);
	int c = consume_p(q, 3, 0, 7);
	int d = consume_p(q, 4, 0, 7);

	assert_int_equal(lp_queue_active_consumer(q), a);
	publish(f, q, 1);
	dispatch_expect(f, q, 16, (struct want[]){ { a, 0, false } }, 1, NULL);
	assert_int_equal(lp_queue_channel_close(q, 1), 1);
	assert_int_equal(lp_queue_active_consumer(q), c);
	dispatch_expect(f, q, 16, (struct want[]){ { c, 0, true } }, 1, NULL);
	assert_int_equal(lp_queue_channel_close(q, 3), 1);
	assert_int_equal(lp_queue_active_consumer(q), d);
	assert_int_equal(lp_queue_consumer_remove(q, (uint32_t)d, true), 0);
	assert_int_equal(lp_queue_active_consumer(q), b);
	dispatch_expect(f, q, 16, (struct want[]){ { b, 0, true } }, 1, NULL);
	assert_int_equal(lp_queue_channel_close(q, 2), 1);
}

static void basic_get(void **state)
{
	struct fx *f = *state;
	struct lp_queue *q = mkq(f, 0, 64, LP_QUEUE_NO_MAX_LENGTH);
	struct lp_queue_delivery d;

	assert_int_equal(lp_queue_get(q, 1, 1, true, &d), 0);   /* Get-Empty */
	publish(f, q, 3);
	assert_int_equal(lp_queue_get(q, 1, 1, true, &d), 1);
	assert_int_equal(d.seq, 0);
	assert_true(d.no_ack);
	assert_int_equal(d.consumer, LP_QUEUE_NO_CONSUMER);
	assert_int_equal(lp_queue_unacked_count(q), 0);
	assert_true(lp_msg_release(d.msg));   /* the only reference */
	assert_int_equal(lp_queue_message_count(q), 2);

	assert_int_equal(lp_queue_get(q, 1, 7, false, &d), 1);
	assert_int_equal(d.seq, 1);
	assert_int_equal(d.delivery_tag, 7);
	assert_false(lp_msg_release(d.msg));  /* the queue keeps one */
	assert_int_equal(lp_queue_unacked_count(q), 1);
	assert_int_equal(lp_queue_message_count(q), 1);
	assert_int_equal(lp_queue_nack(q, 1, 7, false, true), 1);
	assert_int_equal(lp_queue_get(q, 1, 8, false, &d), 1);
	assert_int_equal(d.seq, 1);
	assert_true(d.redelivered);
	lp_msg_release(d.msg);
	assert_int_equal(lp_queue_get(q, 1, 9, false, &d), 1);
	assert_int_equal(d.seq, 2);
	assert_false(d.redelivered);
	lp_msg_release(d.msg);
	assert_int_equal(lp_queue_get(q, 1, 10, false, &d), 0);
	assert_int_equal(lp_queue_ack(q, 1, 9, true), 2);
	assert_int_equal(lp_msg_pool_available(f->pool), f->start);
}

static void purge_keeps_unacked(void **state)
{
	struct fx *f = *state;
	struct lp_queue *q = mkq(f, 0, 64, LP_QUEUE_NO_MAX_LENGTH);

	consume(q, 1, 2, false);
	publish(f, q, 5);
	dispatch_expect(f, q, 16, (struct want[]){ { 0, 0, false }, { 0, 1, false } }, 2, NULL);
	assert_int_equal(lp_queue_purge(q), 3);
	assert_int_equal(lp_queue_message_count(q), 0);
	assert_int_equal(lp_queue_unacked_count(q), 2);
	assert_int_equal(lp_msg_pool_available(f->pool), f->start - 2);
	assert_int_equal(lp_queue_purge(q), 0);
	/* Unacked requeued after a purge come back. */
	assert_int_equal(lp_queue_nack(q, 1, 2, false, true), 1);
	assert_int_equal(lp_queue_message_count(q), 1);
	dispatch_expect(f, q, 16, (struct want[]){ { 0, 1, true } }, 1, NULL);
}

static void fanout_shares_one_message(void **state)
{
	struct fx *f = *state;
	struct lp_queue *q[8];
	struct lp_queue_delivery d[8];
	struct lp_msg *m = mkmsg(f, 1);

	lp_msg_ref(m, 7);   /* one reference per destination */
	for (int i = 0; i < 8; i++) {
		q[i] = mkq(f, i, 4, LP_QUEUE_NO_MAX_LENGTH);
		assert_int_equal(lp_queue_enqueue(q[i], m), 0);
		consume(q[i], (uint32_t)i, 1, false);
	}
	assert_int_equal(lp_msg_pool_available(f->pool), f->start - 1);
	assert_int_equal(lp_msg_refcnt(m), 8);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(lp_queue_dispatch(q[i], next_tag, f, &d[i], 1), 1);
		assert_ptr_equal(d[i].msg, m);
	}
	assert_int_equal(lp_msg_refcnt(m), 16);
	for (int i = 0; i < 8; i++)
		assert_false(lp_msg_release(d[i].msg));
	for (int i = 0; i < 7; i++) {
		assert_int_equal(lp_queue_ack(q[i], (uint32_t)i, 1, false), 1);
		assert_int_equal(lp_msg_pool_available(f->pool), f->start - 1);
	}
	assert_int_equal(lp_msg_refcnt(m), 1);
	assert_int_equal(lp_queue_ack(q[7], 7, 1, false), 1);
	assert_int_equal(lp_msg_pool_available(f->pool), f->start);
}

static void delete_releases_everything(void **state)
{
	struct fx *f = *state;
	struct lp_queue *q = mkq(f, 0, 16, LP_QUEUE_NO_MAX_LENGTH);
	struct lp_queue_delivery d;

	consume(q, 1, 2, false);
	publish(f, q, 6);
	dispatch_expect(f, q, 16, (struct want[]){ { 0, 0, false }, { 0, 1, false } }, 2, NULL);
	assert_int_equal(lp_queue_get(q, 2, 1, false, &d), 1);
	/* The caller still holds the Get's reference: the delete keeps it alive. */
	assert_int_equal(lp_queue_destroy(q), 6);
	f->q[0] = NULL;
	assert_int_equal(lp_msg_pool_available(f->pool), f->start - 1);
	assert_true(lp_msg_release(d.msg));
	assert_int_equal(lp_msg_pool_available(f->pool), f->start);
}

static void max_length_drop_head(void **state)
{
	struct fx *f = *state;
	struct lp_queue *q = mkq(f, 0, 4, 3);
	struct lp_queue_delivery d;

	publish(f, q, 3);
	assert_int_equal(lp_queue_enqueue(q, mkmsg(f, 3)), 1);
	assert_int_equal(lp_queue_enqueue(q, mkmsg(f, 4)), 1);
	assert_int_equal(lp_queue_message_count(q), 3);
	assert_int_equal(lp_queue_dropped_count(q), 2);
	assert_int_equal(lp_msg_pool_available(f->pool), f->start - 3);
	/* One unacked fills the capacity; drop-head still makes room. */
	assert_int_equal(lp_queue_get(q, 1, 1, false, &d), 1);
	assert_int_equal(d.seq, 2);
	lp_msg_release(d.msg);
	publish(f, q, 1);
	assert_int_equal(lp_queue_enqueue(q, mkmsg(f, 6)), 1);
	assert_int_equal(lp_queue_message_count(q), 3);
	assert_int_equal(lp_queue_unacked_count(q), 1);
	for (uint64_t want = 4; want <= 6; want++) {
		assert_int_equal(lp_queue_get(q, 1, 10, true, &d), 1);
		assert_int_equal(d.seq, want);
		lp_msg_release(d.msg);
	}
	/* A requeue goes back to the head; max-length does not drop on requeue. */
	assert_int_equal(lp_queue_nack(q, 1, 1, false, true), 1);
	assert_int_equal(lp_queue_get(q, 1, 11, true, &d), 1);
	assert_int_equal(d.seq, 2);
	assert_true(d.redelivered);
	lp_msg_release(d.msg);
}

static void max_length_bytes_drop_head(void **state)
{
	struct fx *f = *state;
	struct lp_queue_config cfg = { .capacity = 16, .max_consumers = 2,
				       .max_length = LP_QUEUE_NO_MAX_LENGTH, .max_length_bytes = 5 };
	struct lp_queue *q = f->q[0] = lp_queue_create(f->qpool, &cfg);
	struct lp_queue_delivery d;

	assert_non_null(q);
	publish(f, q, 2);                                    /* "m0" "m1": 4 bytes */
	assert_int_equal(lp_queue_enqueue(q, mkmsg(f, 2)), 1);   /* 6 > 5: m0 goes */
	assert_int_equal(lp_queue_message_count(q), 2);
	/* A body larger than the limit pushes out everything, itself included. */
	assert_int_equal(lp_queue_enqueue(q, mkmsg(f, 123456)), 3);
	assert_int_equal(lp_queue_message_count(q), 0);
	assert_int_equal(lp_queue_enqueue(q, mkmsg(f, 7)), 0);
	assert_int_equal(lp_queue_get(q, 1, 1, true, &d), 1);
	assert_int_equal(d.seq, 4);
	lp_msg_release(d.msg);
	assert_int_equal(lp_queue_dropped_count(q), 4);
}

static void max_length_spares_what_consumers_take(void **state)
{
	struct fx *f = *state;
	struct lp_queue *q = mkq(f, 0, 16, 2);
	int a = consume(q, 1, 3, false);
	uint64_t t[4];
	int dropped = 0;

	/*
	 * RabbitMQ delivers 0, 1, 2 at once to a's free credit, queues 3 and 4,
	 * then 5 and 6 push out 3 and 4. Here delivery waits for dispatch.
	 */
	for (unsigned i = 0; i < 7; i++)
		dropped += lp_queue_enqueue(q, mkmsg(f, i));
	assert_int_equal(dropped, 2);
	assert_int_equal(lp_queue_message_count(q), 5);
	dispatch_expect(f, q, 16, (struct want[]){ { a, 0, false }, { a, 1, false }, { a, 2, false } },
			3, t);
	assert_int_equal(lp_queue_message_count(q), 2);
	/* No credit now: the limit applies to every ready message. */
	assert_int_equal(lp_queue_enqueue(q, mkmsg(f, 7)), 1);
	assert_int_equal(lp_queue_ack(q, 1, t[0], false), 1);   /* one credit: 6 taken next */
	assert_int_equal(lp_queue_enqueue(q, mkmsg(f, 8)), 0);
	assert_int_equal(lp_queue_enqueue(q, mkmsg(f, 9)), 1);  /* drops 7, not 6 */
	dispatch_expect(f, q, 16, (struct want[]){ { a, 6, false } }, 1, NULL);
	assert_int_equal(lp_queue_ack(q, 1, 0, true), 3);
	/* A no-ack consumer takes everything: nothing dropped. */
	lp_queue_consumer_remove(q, (uint32_t)a, false);
	int b = consume(q, 2, 0, true);
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(lp_queue_enqueue(q, mkmsg(f, 10 + i)), 0);
	dispatch_expect(f, q, 16,
			(struct want[]){ { b, 8, false }, { b, 9, false }, { b, 10, false },
					 { b, 11, false }, { b, 12, false }, { b, 13, false },
					 { b, 14, false } },
			7, NULL);
	assert_int_equal(lp_queue_dropped_count(q), 4);
}

static void max_length_reject_publish(void **state)
{
	struct fx *f = *state;
	struct lp_queue_config cfg = { .capacity = 16, .max_consumers = 2, .max_length = 2,
				       .max_length_bytes = LP_QUEUE_NO_MAX_BYTES,
				       .reject_publish = true };
	struct lp_queue *q = f->q[0] = lp_queue_create(f->qpool, &cfg);
	struct lp_msg *m;
	uint64_t t[2];

	assert_non_null(q);
	int a = consume(q, 1, 2, false);
	/* Two for a's credit, two queued, the fifth refused. */
	publish(f, q, 4);
	m = mkmsg(f, 4);
	assert_int_equal(lp_queue_enqueue(q, m), -ENOBUFS);
	assert_int_equal(lp_queue_message_count(q), 4);
	assert_int_equal(lp_msg_refcnt(m), 1);   /* still the caller's */
	dispatch_expect(f, q, 16, (struct want[]){ { a, 0, false }, { a, 1, false } }, 2, t);
	assert_int_equal(lp_queue_enqueue(q, m), -ENOBUFS);
	assert_int_equal(lp_queue_ack(q, 1, t[0], false), 1);   /* one credit back */
	assert_int_equal(lp_queue_enqueue(q, m), 0);
	assert_int_equal(lp_queue_message_count(q), 3);
	assert_int_equal(lp_queue_dropped_count(q), 0);
	dispatch_expect(f, q, 16, (struct want[]){ { a, 2, false } }, 1, NULL);
}

static void capacity_and_consumer_errors(void **state)
{
	struct fx *f = *state;
	struct lp_queue *q = mkq(f, 0, 4, LP_QUEUE_NO_MAX_LENGTH);
	struct lp_queue_delivery d;
	struct lp_msg *m;
	struct lp_queue_config bad = { .capacity = 0, .max_consumers = 1 };

	errno = 0;
	assert_null(lp_queue_create(f->qpool, &bad));
	assert_int_equal(errno, EINVAL);

	publish(f, q, 3);
	assert_int_equal(lp_queue_get(q, 1, 1, false, &d), 1);   /* 2 ready + 1 unacked */
	lp_msg_release(d.msg);
	publish(f, q, 1);
	m = mkmsg(f, 99);
	assert_int_equal(lp_queue_enqueue(q, m), -ENOSPC);   /* unacked count too */
	assert_int_equal(lp_queue_message_count(q), 3);
	assert_true(lp_msg_release(m));   /* still the caller's */
	assert_int_equal(lp_queue_ack(q, 1, 1, false), 1);
	assert_int_equal(lp_queue_enqueue(q, mkmsg(f, 100)), 0);

	/* Exclusive consumers (RabbitMQ: 403 ACCESS_REFUSED). */
	struct lp_queue_consumer_spec ex = { .tag = "x", .tag_len = 1, .channel = 1,
					     .exclusive = true };
	struct lp_queue_consumer_spec plain = { .tag = "p", .tag_len = 1, .channel = 1 };
	int id = lp_queue_consumer_add(q, &ex);
	assert_true(id >= 0);
	assert_int_equal(lp_queue_consumer_add(q, &plain), -EBUSY);
	assert_int_equal(lp_queue_consumer_add(q, &ex), -EBUSY);
	assert_int_equal(lp_queue_consumer_remove(q, (uint32_t)id, false), 0);
	for (int i = 0; i < 4; i++)
		assert_true(lp_queue_consumer_add(q, &plain) >= 0);
	assert_int_equal(lp_queue_consumer_add(q, &plain), -ENOSPC);
	assert_int_equal(lp_queue_consumer_add(q, &ex), -EBUSY);
	plain.tag_len = 256;
	assert_int_equal(lp_queue_consumer_remove(q, 0, false), 0);
	assert_int_equal(lp_queue_consumer_add(q, &plain), -EINVAL);
	assert_int_equal(lp_queue_consumer_count(q), 3);
}

/* Queues share their pool's headers, consumer slots and message entries. */
static void shared_pool_limits(void **state)
{
	struct fx *f = *state;
	struct lp_queue_pool *p = lp_queue_pool_create(&(struct lp_queue_pool_config){
		.queues = 2, .consumers = 2, .entries = 3});
	struct lp_queue_config cfg = { .capacity = 100, .max_consumers = 4,
				       .max_length = LP_QUEUE_NO_MAX_LENGTH,
				       .max_length_bytes = LP_QUEUE_NO_MAX_BYTES };
	struct lp_queue_consumer_spec spec = { .tag = "c", .tag_len = 1, .channel = 1 };
	struct lp_queue_consumer_spec info;
	struct lp_queue_delivery d;
	struct lp_msg *m;

	assert_non_null(p);
	errno = 0;
	assert_null(lp_queue_pool_create(&(struct lp_queue_pool_config){.queues = 1, .consumers = 1}));
	assert_int_equal(errno, EINVAL);
	struct lp_queue *a = lp_queue_create(p, &cfg), *b = lp_queue_create(p, &cfg);
	assert_non_null(a);
	assert_non_null(b);
	errno = 0;
	assert_null(lp_queue_create(p, &cfg));
	assert_int_equal(errno, ENOSPC);

	/* Three entries between the two queues, whatever their capacities. */
	publish(f, a, 2);
	publish(f, b, 1);
	assert_int_equal(lp_queue_pool_entries_free(p), 0);
	m = mkmsg(f, 50);
	assert_false(lp_queue_can_take(a, m));
	assert_false(lp_queue_can_take(b, m));
	assert_int_equal(lp_queue_enqueue(b, m), -ENOSPC);
	/* A Basic.Get with acks keeps its entry; an ack gives it back. */
	assert_int_equal(lp_queue_get(a, 1, 1, false, &d), 1);
	lp_msg_release(d.msg);
	assert_int_equal(lp_queue_enqueue(b, m), -ENOSPC);
	assert_int_equal(lp_queue_ack(a, 1, 1, false), 1);
	assert_int_equal(lp_queue_pool_entries_free(p), 1);
	assert_true(lp_queue_can_take(b, m));
	assert_int_equal(lp_queue_enqueue(b, m), 0);

	/* Consumer ids are the pool's slots: unique across its queues. */
	int ca = lp_queue_consumer_add(a, &spec), cb = lp_queue_consumer_add(b, &spec);
	assert_true(ca >= 0 && cb >= 0 && ca != cb);
	assert_int_equal(lp_queue_consumer_add(a, &spec), -ENOSPC);
	assert_int_equal(lp_queue_consumer_info(b, (uint32_t)ca, &info), -ENOENT);
	assert_int_equal(lp_queue_consumer_remove(b, (uint32_t)ca, false), -ENOENT);
	assert_int_equal(lp_queue_consumer_next(a, LP_QUEUE_NO_CONSUMER), (uint32_t)ca);
	assert_int_equal(lp_queue_consumer_next(a, (uint32_t)ca), LP_QUEUE_NO_CONSUMER);

	/* Deleting a queue gives its header, consumer and entries back. */
	assert_int_equal(lp_queue_destroy(a), 1);
	assert_int_equal(lp_queue_pool_entries_free(p), 1);
	a = lp_queue_create(p, &cfg);
	assert_non_null(a);
	assert_true(lp_queue_consumer_add(a, &spec) >= 0);
	publish(f, a, 1);
	/* A queue over its drop-head limit needs no new entry for a publish;
	 * one under it does (a fan-out publish waits for one per such queue). */
	assert_int_equal(lp_queue_destroy(b), 2);
	struct lp_queue_config one = cfg;
	one.max_length = 1;
	struct lp_queue *c = lp_queue_create(p, &one);
	assert_non_null(c);
	m = mkmsg(f, 51);
	assert_true(lp_queue_needs_entry(c, m));
	assert_true(lp_queue_needs_entry(a, m));
	publish(f, c, 1);
	assert_false(lp_queue_needs_entry(c, m));
	assert_true(lp_queue_needs_entry(a, m));
	assert_true(lp_msg_release(m));
	/* Destroying the pool destroys the queues still in it. */
	lp_queue_pool_destroy(p);
	assert_int_equal(lp_msg_pool_available(f->pool), f->start);
}

/* ---- randomized comparison with a reference model ---- */

#define M_CAP 48
#define M_CONS 4
#define M_CHAN 4

struct m_ready {
	uint64_t seq;
	bool redelivered;
	uint32_t len;   /* body bytes */
	uint8_t prio;   /* message priority queues: clamped to the queue's max */
};

struct m_unacked {
	uint32_t len;
	uint64_t seq;
	uint64_t tag;
	uint32_t channel;
	int consumer;   /* -1: get or detached */
	uint8_t prio;
};

struct m_consumer {
	bool used, no_ack;
	uint16_t prefetch;
	uint32_t channel;
	bool blocked;
	int32_t priority;
};

/* randomized_model_priorities: consumers get x-priority -1, 0 or 1. */
static bool model_priorities;
/* randomized_model_message_priorities: the queue's x-max-priority (0: an
 * ordinary queue); messages get priorities 0 to model_max_priority + 2. */
static uint8_t model_max_priority;

struct model {
	struct m_ready ready[M_CAP + 1];
	unsigned n_ready;
	struct m_unacked un[M_CAP];   /* delivery order */
	unsigned n_un;
	struct m_consumer cons[M_CONS];
	int act[M_CONS];              /* active consumers in serving order */
	unsigned n_act;
	uint64_t next_seq;
	uint64_t tags[M_CHAN];
};

static unsigned rnd(unsigned *s, unsigned n)
{
	*s = *s * 1103515245u + 12345u;
	return ((*s >> 16) & 0x7fff) % n;
}

static unsigned m_unacked_of(const struct model *m, int c);

static void m_act_remove(struct model *m, int c)
{
	for (unsigned k = 0; k < m->n_act; k++) {
		if (m->act[k] == c) {
			memmove(&m->act[k], &m->act[k + 1], (m->n_act - k - 1) * sizeof(m->act[0]));
			m->n_act--;
			return;
		}
	}
	fail_msg("consumer %d not active", c);
}

/* Consumer c joins the active list at the back of its priority. */
static void m_act_push(struct model *m, int c)
{
	unsigned k = m->n_act;

	while (k > 0 && m->cons[m->act[k - 1]].priority < m->cons[c].priority)
		k--;
	memmove(&m->act[k + 1], &m->act[k], (m->n_act - k) * sizeof(m->act[0]));
	m->act[k] = c;
	m->n_act++;
}

static bool m_credit(const struct model *m, int c)
{
	const struct m_consumer *mc = &m->cons[c];

	return mc->no_ack || mc->prefetch == 0 || m_unacked_of(m, c) < mc->prefetch;
}

/* After a record of consumer c went away: a blocked c with credit rejoins at the back. */
static void m_credit_back(struct model *m, int c)
{
	if (c >= 0 && m->cons[c].used && m->cons[c].blocked && m_credit(m, c)) {
		m->cons[c].blocked = false;
		m_act_push(m, c);
	}
}

/* Does ready message a come before b: higher priority first, then seq. */
static bool m_before(const struct m_ready *a, const struct m_ready *b)
{
	return a->prio != b->prio ? a->prio > b->prio : a->seq < b->seq;
}

/* Insert r at its place in the ready list; returns its position. */
static unsigned m_ready_insert(struct model *m, struct m_ready r)
{
	unsigned p = 0;

	while (p < m->n_ready && m_before(&m->ready[p], &r))
		p++;
	memmove(&m->ready[p + 1], &m->ready[p], (m->n_ready - p) * sizeof(m->ready[0]));
	m->ready[p] = r;
	m->n_ready++;
	return p;
}

static void m_requeue(struct model *m, unsigned i)
{
	int c = m->un[i].consumer;

	m_ready_insert(m, (struct m_ready){ .seq = m->un[i].seq, .redelivered = true,
					    .len = m->un[i].len, .prio = m->un[i].prio });
	memmove(&m->un[i], &m->un[i + 1], (m->n_un - i - 1) * sizeof(m->un[0]));
	m->n_un--;
	m_credit_back(m, c);
}

static void m_drop_un(struct model *m, unsigned i)
{
	int c = m->un[i].consumer;

	memmove(&m->un[i], &m->un[i + 1], (m->n_un - i - 1) * sizeof(m->un[0]));
	m->n_un--;
	m_credit_back(m, c);
}

static unsigned m_unacked_of(const struct model *m, int c)
{
	unsigned n = 0;

	for (unsigned i = 0; i < m->n_un; i++)
		n += m->un[i].consumer == c;
	return n;
}

static int m_settle(struct model *m, uint32_t ch, uint64_t tag, bool multiple, bool requeue)
{
	int n = 0;

	for (unsigned i = 0; i < m->n_un;) {
		struct m_unacked *u = &m->un[i];
		bool hit = u->channel == ch && (multiple ? (tag == 0 || u->tag <= tag) : u->tag == tag);
		if (!hit) {
			i++;
			continue;
		}
		if (requeue)
			m_requeue(m, i);
		else
			m_drop_un(m, i);
		n++;
		if (!multiple)
			break;
	}
	return n;
}

/* Are the ready messages after the first `taken` over a limit? */
static bool m_over(const struct model *m, unsigned taken, uint32_t max_len, uint64_t max_bytes)
{
	uint64_t bytes = 0;

	if (m->n_ready <= taken)
		return false;
	if (max_len != LP_QUEUE_NO_MAX_LENGTH && m->n_ready - taken > max_len)
		return true;
	for (unsigned i = taken; i < m->n_ready; i++)
		bytes += m->ready[i].len;
	return max_bytes != LP_QUEUE_NO_MAX_BYTES && bytes > max_bytes;
}

static void check_counts(struct fx *f, struct lp_queue *q, const struct model *m)
{
	unsigned n_cons = 0;

	for (int c = 0; c < M_CONS; c++)
		n_cons += m->cons[c].used;
	assert_int_equal(lp_queue_message_count(q), m->n_ready);
	assert_int_equal(lp_queue_unacked_count(q), m->n_un);
	assert_int_equal(lp_queue_consumer_count(q), n_cons);
	assert_int_equal(lp_msg_pool_available(f->pool), f->start - m->n_ready - m->n_un);
}

static void model_run(struct fx *f, unsigned seed, unsigned ops, uint32_t max_len,
		      uint64_t max_bytes, bool reject)
{
	struct lp_queue_config cfg = { .capacity = M_CAP, .max_consumers = M_CONS,
				       .max_length = max_len, .max_length_bytes = max_bytes,
				       .reject_publish = reject, .max_priority = model_max_priority };
	struct lp_queue *q = lp_queue_create(f->qpool, &cfg);
	struct model *m = calloc(1, sizeof(*m));
	unsigned s = seed;

	assert_non_null(q);
	assert_non_null(m);
	f->q[0] = q;
	memset(f->tags, 0, sizeof(f->tags));
	f->blocked = 0;
	for (unsigned op = 0; op < ops; op++) {
		unsigned kind = rnd(&s, 100);
		if (kind < 30) {                                  /* publish */
			static const char pad[24] = "xxxxxxxxxxxxxxxxxxxxxxx";
			uint32_t len = rnd(&s, 24);
			struct lp_msg *msg = lp_msg_create(f->pool, NULL, 0, NULL, 0, NULL, 0, pad,
							   len, 0);
			assert_non_null(msg);
			if (model_max_priority > 0) /* else the seeds' sequences stay as they were */
				msg->priority = (uint8_t)rnd(&s, model_max_priority + 3u);
			uint8_t prio = msg->priority < model_max_priority ? msg->priority
									   : model_max_priority;
			int rc = lp_queue_enqueue(q, msg);
			bool limited = max_len != LP_QUEUE_NO_MAX_LENGTH ||
				       max_bytes != LP_QUEUE_NO_MAX_BYTES;
			/* Ready messages the consumers' credit will take: exempt. */
			unsigned taken = 0;
			for (int c = 0; c < M_CONS; c++) {
				struct m_consumer *mc = &m->cons[c];
				if (!mc->used)
					continue;
				if (mc->no_ack || mc->prefetch == 0)
					taken = 1u << 30;
				else if (m_unacked_of(m, c) < mc->prefetch)
					taken += mc->prefetch - m_unacked_of(m, c);
			}
			/* Insert (append, without priorities), then drop the first unexempt
			 * ones while over a limit. */
			unsigned at = m_ready_insert(m, (struct m_ready){ .seq = m->next_seq++,
									  .len = len, .prio = prio });
			unsigned drop = 0;
			while (limited && m_over(m, taken, max_len, max_bytes)) {
				if (reject)
					break;
				memmove(&m->ready[taken], &m->ready[taken + 1],
					(m->n_ready - taken - 1) * sizeof(m->ready[0]));
				m->n_ready--;
				drop++;
			}
			if (limited && reject && m_over(m, taken, max_len, max_bytes)) {
				assert_int_equal(rc, -ENOBUFS);
				lp_msg_release(msg);
				memmove(&m->ready[at], &m->ready[at + 1],
					(m->n_ready - at - 1) * sizeof(m->ready[0]));
				m->n_ready--;
				m->next_seq--;
			} else if (m->n_ready - 1 + drop + m->n_un >= M_CAP && drop == 0) {
				assert_int_equal(rc, -ENOSPC);
				lp_msg_release(msg);
				memmove(&m->ready[at], &m->ready[at + 1],
					(m->n_ready - at - 1) * sizeof(m->ready[0]));
				m->n_ready--;
				m->next_seq--;
			} else {
				assert_int_equal(rc, (int)drop);
			}
		} else if (kind < 36) {                           /* consume */
			uint32_t ch = rnd(&s, M_CHAN);
			uint16_t pf = (uint16_t)rnd(&s, 4);
			bool no_ack = rnd(&s, 10) == 0;
			int32_t prio = model_priorities ? (int32_t)rnd(&s, 3) - 1 : 0;
			struct lp_queue_consumer_spec sp = { .tag = "t", .tag_len = 1, .channel = ch,
							     .prefetch = pf, .no_ack = no_ack,
							     .priority = prio };
			int want = -ENOSPC;
			for (int c = 0; c < M_CONS; c++) {
				if (!m->cons[c].used) {
					want = c;
					break;
				}
			}
			assert_int_equal(lp_queue_consumer_add(q, &sp), want);
			if (want >= 0) {
				m->cons[want] = (struct m_consumer){ true, no_ack, pf, ch, false, prio };
				m_act_push(m, want);
			}
		} else if (kind < 40) {                           /* cancel */
			int c = (int)rnd(&s, M_CONS);
			bool requeue = rnd(&s, 2);
			int want = -ENOENT;
			if (m->cons[c].used) {
				want = 0;
				if (!m->cons[c].blocked)
					m_act_remove(m, c);
				m->cons[c].used = false;
				for (unsigned i = 0; i < m->n_un;) {
					if (m->un[i].consumer != c) {
						i++;
					} else if (requeue) {
						m_requeue(m, i);
						want++;
					} else {
						m->un[i++].consumer = -1;
					}
				}
				m->cons[c].used = false;
			}
			assert_int_equal(lp_queue_consumer_remove(q, (uint32_t)c, requeue), want);
		} else if (kind < 60) {                           /* dispatch */
			struct lp_queue_delivery d[8];
			unsigned max = 1 + rnd(&s, 8);
			unsigned n = lp_queue_dispatch(q, next_tag, f, d, max);
			unsigned k = 0;
			while (k < max && m->n_ready > 0) {
				/* First active consumer that can take it; creditless ones block. */
				int id = -1;
				for (unsigned j = 0; j < m->n_act;) {
					int c = m->act[j];
					if (!m_credit(m, c)) {
						m_act_remove(m, c);
						m->cons[c].blocked = true;
					} else if (f->blocked & (1u << m->cons[c].channel)) {
						j++;
					} else {
						id = c;
						break;
					}
				}
				if (id < 0)
					break;
				struct m_ready r = m->ready[0];
				memmove(&m->ready[0], &m->ready[1],
					(m->n_ready - 1) * sizeof(m->ready[0]));
				m->n_ready--;
				uint64_t tag = ++m->tags[m->cons[id].channel];
				assert_true(k < n);
				assert_int_equal(d[k].consumer, id);
				assert_int_equal(d[k].seq, r.seq);
				assert_int_equal(d[k].redelivered, r.redelivered);
				assert_int_equal(d[k].channel, m->cons[id].channel);
				assert_int_equal(d[k].delivery_tag, tag);
				if (!m->cons[id].no_ack)
					m->un[m->n_un++] = (struct m_unacked){
						r.len, r.seq, tag, m->cons[id].channel, id, r.prio };
				m_act_remove(m, id);
				m_act_push(m, id);
				k++;
			}
			assert_int_equal(n, k);
			for (unsigned i = 0; i < n; i++)
				lp_msg_release(d[i].msg);
		} else if (kind < 80) {                           /* ack / nack / reject */
			uint32_t ch;
			uint64_t tag;
			if (m->n_un > 0 && rnd(&s, 8) != 0) {
				struct m_unacked *u = &m->un[rnd(&s, m->n_un)];
				ch = u->channel;
				tag = u->tag;
			} else {
				ch = rnd(&s, M_CHAN);
				tag = rnd(&s, 20);
			}
			bool multiple = rnd(&s, 3) == 0;
			unsigned how = rnd(&s, 3);
			int want = m_settle(m, ch, tag, multiple, how == 1);
			int got = how == 0 ? lp_queue_ack(q, ch, tag, multiple)
					   : lp_queue_nack(q, ch, tag, multiple, how == 1);
			assert_int_equal(got, want);
		} else if (kind < 89) {                           /* get */
			uint32_t ch = rnd(&s, M_CHAN);
			bool no_ack = rnd(&s, 2);
			struct lp_queue_delivery d;
			int rc = lp_queue_get(q, ch, m->tags[ch] + 1, no_ack, &d);
			if (m->n_ready == 0) {
				assert_int_equal(rc, 0);
			} else {
				uint64_t tag = ++m->tags[ch];
				f->tags[ch]++;
				assert_int_equal(rc, 1);
				assert_int_equal(d.seq, m->ready[0].seq);
				assert_int_equal(d.redelivered, m->ready[0].redelivered);
				if (!no_ack)
					m->un[m->n_un++] = (struct m_unacked){
						m->ready[0].len, m->ready[0].seq, tag, ch, -1,
						m->ready[0].prio };
				memmove(&m->ready[0], &m->ready[1],
					(m->n_ready - 1) * sizeof(m->ready[0]));
				m->n_ready--;
				lp_msg_release(d.msg);
			}
		} else if (kind < 92) {                           /* Basic.Recover requeue */
			uint32_t ch = rnd(&s, M_CHAN);
			int want = m_settle(m, ch, 0, true, true);
			assert_int_equal(lp_queue_recover(q, ch), want);
		} else if (kind < 96) {                           /* channel close */
			uint32_t ch = rnd(&s, M_CHAN);
			for (int c = 0; c < M_CONS; c++) {
				if (m->cons[c].used && m->cons[c].channel == ch) {
					if (!m->cons[c].blocked)
						m_act_remove(m, c);
					m->cons[c].used = false;
					for (unsigned i = 0; i < m->n_un; i++)
						if (m->un[i].consumer == c)
							m->un[i].consumer = -1;
				}
			}
			int want = m_settle(m, ch, 0, true, true);
			assert_int_equal(lp_queue_channel_close(q, ch), want);
		} else if (kind < 99) {                           /* channel flow */
			f->blocked ^= 1u << rnd(&s, M_CHAN);
		} else {                                          /* purge */
			assert_int_equal(lp_queue_purge(q), m->n_ready);
			m->n_ready = 0;
		}
		check_counts(f, q, m);
	}
	/* Drain what is left in order: ready first, then everything requeued. */
	uint32_t left = m->n_ready + m->n_un;
	assert_int_equal(lp_queue_destroy(q), left);
	f->q[0] = NULL;
	assert_int_equal(lp_msg_pool_available(f->pool), f->start);
	free(m);
}

/* ---- TTL and dead-lettering ------------------------------------------------ */

struct dead_log {
	struct lp_msg *msgs[64];
	enum lp_queue_dead why[64];
	unsigned n;
};

static void on_dead(void *ctx, struct lp_msg *m, enum lp_queue_dead why)
{
	struct dead_log *d = ctx;

	assert_true(d->n < 64);
	d->msgs[d->n] = m;
	d->why[d->n++] = why;
}

static void dead_release(struct dead_log *d)
{
	for (unsigned i = 0; i < d->n; i++)
		lp_msg_release(d->msgs[i]);
	d->n = 0;
}

static struct lp_queue *mkq_ttl(struct fx *f, int i, bool has_ttl, uint64_t ttl_ms,
				uint32_t max_len, struct dead_log *d)
{
	struct lp_queue_config cfg = { .capacity = 64, .max_consumers = 4, .max_length = max_len,
				       .max_length_bytes = LP_QUEUE_NO_MAX_BYTES,
				       .has_message_ttl = has_ttl, .message_ttl = ttl_ms,
				       .dead = d != NULL ? on_dead : NULL, .dead_ctx = d };

	f->q[i] = lp_queue_create(f->qpool, &cfg);
	assert_non_null(f->q[i]);
	return f->q[i];
}

static void queue_ttl_expires_at_the_head(void **state)
{
	struct fx *f = *state;
	struct dead_log d = {0};
	struct lp_queue *q = mkq_ttl(f, 0, true, 10, LP_QUEUE_NO_MAX_LENGTH, &d);
	struct lp_queue_delivery out;

	lp_queue_pool_set_now(f->qpool, 1000);
	publish(f, q, 3);
	lp_queue_pool_set_now(f->qpool, 5000);
	publish(f, q, 1); /* m3, 4 ms later */
	lp_queue_pool_set_now(f->qpool, 11000); /* exactly 10 ms: not yet */
	assert_int_equal(lp_queue_expire(q), 0);
	lp_queue_pool_set_now(f->qpool, 11001);
	assert_int_equal(lp_queue_expire(q), 3);
	assert_int_equal(lp_queue_message_count(q), 1);
	assert_int_equal(lp_queue_expired_count(q), 3);
	assert_int_equal(d.n, 3);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(d.why[i], LP_QUEUE_DEAD_EXPIRED);
		assert_memory_equal(d.msgs[i]->body, "m", 1);
	}
	/* Basic.Get expires what it finds at the head first. */
	lp_queue_pool_set_now(f->qpool, 15001);
	assert_int_equal(lp_queue_get(q, 1, 1, true, &out), 0);
	assert_int_equal(d.n, 4);
	dead_release(&d);
}

static void message_ttl_smaller_wins_and_waits_behind_the_head(void **state)
{
	struct fx *f = *state;
	struct lp_queue *q = mkq_ttl(f, 0, true, 1000, LP_QUEUE_NO_MAX_LENGTH, NULL);
	struct lp_msg *a = mkmsg(f, 0), *b = mkmsg(f, 1);

	lp_queue_pool_set_now(f->qpool, 0);
	/* a: the queue's 1 s; b: its own 5 ms. b waits behind a (RabbitMQ's
	 * classic queues expire at the head only). */
	assert_int_equal(lp_queue_enqueue(q, a), 0);
	b->flags |= LP_MSG_F_TTL;
	b->ttl_ms = 5;
	assert_int_equal(lp_queue_enqueue(q, b), 0);
	assert_true(lp_queue_expires(q));
	lp_queue_pool_set_now(f->qpool, 6000);
	assert_int_equal(lp_queue_expire(q), 0);
	assert_int_equal(lp_queue_message_count(q), 2);
	/* a leaves (ack-less Get): b is at the head and expired. */
	struct lp_queue_delivery out;
	assert_int_equal(lp_queue_get(q, 1, 1, true, &out), 1);
	assert_memory_equal(out.msg->body, "m0", 2);
	lp_msg_release(out.msg);
	assert_int_equal(lp_queue_expire(q), 1);
	assert_int_equal(lp_queue_message_count(q), 0);
}

static void ttl_zero_delivers_only_at_once(void **state)
{
	struct fx *f = *state;
	struct lp_queue *q = mkq_ttl(f, 0, true, 0, LP_QUEUE_NO_MAX_LENGTH, NULL);
	struct lp_queue_consumer_spec spec = { .tag = "c", .tag_len = 1, .channel = 1 };
	struct lp_queue_delivery out[4];

	lp_queue_pool_set_now(f->qpool, 100);
	publish(f, q, 1);
	/* A consumer in the same poll iteration (same clock) gets it ... */
	assert_true(lp_queue_consumer_add(q, &spec) >= 0);
	assert_int_equal(lp_queue_dispatch(q, next_tag, f, out, 4), 1);
	lp_msg_release(out[0].msg);
	assert_int_equal(lp_queue_ack(q, 1, out[0].delivery_tag, false), 1);
	/* ... one that cannot take it now (channel refuses) never does. */
	f->blocked = 1u << 1;
	publish(f, q, 1);
	assert_int_equal(lp_queue_dispatch(q, next_tag, f, out, 4), 0);
	f->blocked = 0;
	lp_queue_pool_set_now(f->qpool, 101);
	assert_int_equal(lp_queue_dispatch(q, next_tag, f, out, 4), 0);
	assert_int_equal(lp_queue_message_count(q), 0);
	assert_int_equal(lp_queue_expired_count(q), 1);
}

static void requeued_message_keeps_its_expiry(void **state)
{
	struct fx *f = *state;
	struct lp_queue *q = mkq_ttl(f, 0, true, 10, LP_QUEUE_NO_MAX_LENGTH, NULL);
	struct lp_queue_delivery out;

	lp_queue_pool_set_now(f->qpool, 0);
	publish(f, q, 1);
	assert_int_equal(lp_queue_get(q, 1, 1, false, &out), 1);
	lp_msg_release(out.msg);
	lp_queue_pool_set_now(f->qpool, 20000); /* expired while unacked: still unacked */
	assert_int_equal(lp_queue_unacked_count(q), 1);
	assert_int_equal(lp_queue_nack(q, 1, 1, false, true), 1);
	assert_int_equal(lp_queue_message_count(q), 1);
	assert_int_equal(lp_queue_expire(q), 1);
	/* A message published later still has its full TTL. */
	publish(f, q, 1);
	assert_int_equal(lp_queue_expire(q), 0);
	/* lp_queue_enqueue_since: the TTL counts from the first arrival. */
	struct lp_msg *m = mkmsg(f, 9);
	assert_int_equal(lp_queue_enqueue_since(q, m, NULL, false, 5000), 0);
	lp_queue_purge(q);
	m = mkmsg(f, 9);
	assert_int_equal(lp_queue_enqueue_since(q, m, NULL, false, 5000), 0);
	assert_int_equal(lp_queue_expire(q), 1);
}

static void dead_letter_reasons(void **state)
{
	struct fx *f = *state;
	struct dead_log d = {0};
	struct lp_queue *q = mkq_ttl(f, 0, false, 0, 2, &d);
	struct lp_queue_delivery out;

	/* maxlen: the head dropped by x-max-length 2 */
	publish(f, q, 2);
	assert_int_equal(lp_queue_enqueue(q, mkmsg(f, 2)), 1);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.why[0], LP_QUEUE_DEAD_MAXLEN);
	assert_memory_equal(d.msgs[0]->body, "m0", 2);
	/* rejected: nack and reject without requeue; not an ack */
	assert_int_equal(lp_queue_get(q, 1, 1, false, &out), 1);
	lp_msg_release(out.msg);
	assert_int_equal(lp_queue_get(q, 1, 2, false, &out), 1);
	lp_msg_release(out.msg);
	assert_int_equal(lp_queue_ack(q, 1, 1, false), 1);
	assert_int_equal(d.n, 1);
	assert_int_equal(lp_queue_nack(q, 1, 2, false, false), 1);
	assert_int_equal(d.n, 2);
	assert_int_equal(d.why[1], LP_QUEUE_DEAD_REJECTED);
	/* Purge and delete are not dead-lettered. */
	publish(f, q, 2);
	lp_queue_purge(q);
	assert_int_equal(d.n, 2);
	dead_release(&d);
	assert_int_equal(lp_queue_dropped_count(q), 1);
}

/* ---- priority queues (x-max-priority) ---------------------------------------- */

static struct lp_queue *mkq_prio(struct fx *f, int i, uint8_t max_priority, uint32_t max_len,
				 bool has_ttl, uint64_t ttl_ms, struct dead_log *d)
{
	struct lp_queue_config cfg = { .capacity = 64, .max_consumers = 4, .max_length = max_len,
				       .max_length_bytes = LP_QUEUE_NO_MAX_BYTES,
				       .has_message_ttl = has_ttl, .message_ttl = ttl_ms,
				       .dead = d != NULL ? on_dead : NULL, .dead_ctx = d,
				       .max_priority = max_priority };

	f->q[i] = lp_queue_create(f->qpool, &cfg);
	assert_non_null(f->q[i]);
	return f->q[i];
}

/* Enqueue message id (seq id on a fresh queue) with priority prio. */
static void publish_prio(struct fx *f, struct lp_queue *q, unsigned id, uint8_t prio)
{
	struct lp_msg *m = mkmsg(f, id);

	m->priority = prio;
	assert_int_equal(lp_queue_enqueue(q, m), 0);
}

/* Basic.Get (no-ack) every ready message: their seqs must be want[]. */
static void get_expect(struct lp_queue *q, const uint64_t *want, unsigned n)
{
	struct lp_queue_delivery d;

	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(lp_queue_get(q, 1, i + 1, true, &d), 1);
		if (d.seq != want[i])
			print_error("get %u: seq %llu, want %llu\n", i, (unsigned long long)d.seq,
				    (unsigned long long)want[i]);
		assert_int_equal(d.seq, want[i]);
		lp_msg_release(d.msg);
	}
	assert_int_equal(lp_queue_get(q, 1, n + 1, true, &d), 0);
}

static void priority_queue_order(void **state)
{
	struct fx *f = *state;
	struct lp_queue *q = mkq_prio(f, 0, 5, LP_QUEUE_NO_MAX_LENGTH, false, 0, NULL);
	/* Priorities of seq 0..11: 0 is also "no priority property"; 7 and 9
	 * are above the maximum and count as 5. */
	static const uint8_t prio[] = { 0, 3, 5, 3, 0, 9, 1, 7, 5, 0, 2, 4 };
	static const uint64_t want[] = { 2, 5, 7, 8, 11, 1, 3, 10, 6, 0, 4, 9 };

	for (unsigned i = 0; i < 12; i++)
		publish_prio(f, q, i, prio[i]);
	assert_int_equal(lp_queue_message_count(q), 12);
	get_expect(q, want, 12);

	/* x-max-priority 0 is an ordinary queue: FIFO whatever the priority. */
	struct lp_queue *o = mkq_prio(f, 1, 0, LP_QUEUE_NO_MAX_LENGTH, false, 0, NULL);
	static const uint64_t fifo[] = { 0, 1, 2, 3 };
	for (unsigned i = 0; i < 4; i++)
		publish_prio(f, o, i, prio[i]);
	get_expect(o, fifo, 4);

	/* 255 levels: the extremes and one in between. */
	struct lp_queue *w = mkq_prio(f, 2, 255, LP_QUEUE_NO_MAX_LENGTH, false, 0, NULL);
	static const uint8_t wide[] = { 0, 255, 128, 255, 1, 0 };
	static const uint64_t wide_want[] = { 1, 3, 2, 4, 0, 5 };
	for (unsigned i = 0; i < 6; i++)
		publish_prio(f, w, i, wide[i]);
	get_expect(w, wide_want, 6);
}

static void priority_requeue_goes_back_to_its_place(void **state)
{
	struct fx *f = *state;
	struct lp_queue *q = mkq_prio(f, 0, 3, LP_QUEUE_NO_MAX_LENGTH, false, 0, NULL);
	struct lp_queue_delivery d;
	uint64_t tags[4];

	/* seq 0..5 with priorities 1, 2, 1, 2, 0, 2. */
	static const uint8_t prio[] = { 1, 2, 1, 2, 0, 2 };
	for (unsigned i = 0; i < 6; i++)
		publish_prio(f, q, i, prio[i]);
	/* Get four with acks: 1, 3, 5 (priority 2), 0 (priority 1). */
	static const uint64_t first[] = { 1, 3, 5, 0 };
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(lp_queue_get(q, 1, i + 1, false, &d), 1);
		assert_int_equal(d.seq, first[i]);
		tags[i] = d.delivery_tag;
		lp_msg_release(d.msg);
	}
	/* Newer ones of the same priorities arrive meanwhile: seq 6 (2), 7 (1). */
	publish_prio(f, q, 6, 2);
	publish_prio(f, q, 7, 1);
	/* Requeue 3 and 0 (Reject), then the rest (channel close): each goes
	 * back before what is newer in its own priority. */
	assert_int_equal(lp_queue_nack(q, 1, tags[1], false, true), 1);
	assert_int_equal(lp_queue_nack(q, 1, tags[3], false, true), 1);
	assert_int_equal(lp_queue_channel_close(q, 1), 2);
	static const uint64_t want[] = { 1, 3, 5, 6, 0, 2, 7, 4 };
	for (unsigned i = 0; i < 8; i++) {
		assert_int_equal(lp_queue_get(q, 2, i + 1, true, &d), 1);
		assert_int_equal(d.seq, want[i]);
		assert_int_equal(d.redelivered, want[i] == 0 || want[i] == 1 || want[i] == 3 ||
						     want[i] == 5);
		lp_msg_release(d.msg);
	}
	assert_int_equal(lp_queue_get(q, 2, 9, true, &d), 0);
}

static void priority_with_prefetch(void **state)
{
	struct fx *f = *state;
	struct lp_queue *q = mkq_prio(f, 0, 9, LP_QUEUE_NO_MAX_LENGTH, false, 0, NULL);
	uint64_t tags[2];
	int c = consume(q, 1, 2, false);

	/* Prefetch 2: the consumer gets the two highest at each dispatch. */
	for (unsigned i = 0; i < 5; i++)
		publish_prio(f, q, i, (uint8_t)i);
	dispatch_expect(f, q, 8, (struct want[]){ { c, 4, false }, { c, 3, false } }, 2, tags);
	/* A higher one arrives while the consumer is full: it goes first once
	 * an ack returns credit, before the older, lower ones. */
	publish_prio(f, q, 5, 8);
	publish_prio(f, q, 6, 0);
	assert_int_equal(lp_queue_ack(q, 1, tags[0], false), 1);
	dispatch_expect(f, q, 8, (struct want[]){ { c, 5, false } }, 1, NULL);
	/* Nack with requeue of seq 3: it is again the highest ready. */
	assert_int_equal(lp_queue_nack(q, 1, tags[1], false, true), 1);
	dispatch_expect(f, q, 8, (struct want[]){ { c, 3, true } }, 1, NULL);
	assert_int_equal(lp_queue_channel_close(q, 1), 2);
	/* Purge drops every level. */
	assert_int_equal(lp_queue_purge(q), 6);
	assert_int_equal(lp_queue_message_count(q), 0);
	publish_prio(f, q, 7, 1);
	static const uint64_t after[] = { 7 };
	get_expect(q, after, 1);
}

/*
 * x-max-length drop-head drops the next message to be delivered, the
 * oldest of the highest priority (rabbit_priority_queue:drop/2 runs the
 * sub-queues highest first), dead-lettered as maxlen.
 */
static void priority_max_length_drops_the_head(void **state)
{
	struct fx *f = *state;
	struct dead_log d = {0};
	struct lp_queue *q = mkq_prio(f, 0, 2, 3, false, 0, &d);
	struct lp_msg *m;

	publish_prio(f, q, 0, 0);
	publish_prio(f, q, 1, 2);
	publish_prio(f, q, 2, 1);
	m = mkmsg(f, 3);
	m->priority = 0;
	assert_int_equal(lp_queue_enqueue(q, m), 1); /* drops seq 1 (priority 2) */
	assert_int_equal(d.n, 1);
	assert_memory_equal(d.msgs[0]->body, "m1", 2);
	assert_int_equal(d.why[0], LP_QUEUE_DEAD_MAXLEN);
	static const uint64_t want[] = { 2, 0, 3 };
	get_expect(q, want, 3);
	dead_release(&d);
}

/*
 * TTL on a priority queue: rabbit_priority_queue:dropwhile/2 expires each
 * sub-queue's head in priority order and goes on to the next only when one
 * is empty, so an expired message waits (and counts) behind a live one of
 * a higher priority, and expires once that one is gone; within one
 * priority, at the head as in any queue.
 */
static void priority_ttl_at_each_level(void **state)
{
	struct fx *f = *state;
	struct dead_log d = {0};
	struct lp_queue *q = mkq_prio(f, 0, 4, LP_QUEUE_NO_MAX_LENGTH, false, 0, &d);
	struct lp_queue_delivery out;
	/* Priorities of seq 0..5, and their own TTLs (0: none). */
	static const uint8_t prio[] = { 4, 2, 2, 0, 3, 1 };
	struct lp_msg *m[6];

	for (unsigned i = 0; i < 6; i++) {
		m[i] = mkmsg(f, i);
		m[i]->priority = prio[i];
		m[i]->flags |= i > 0 ? LP_MSG_F_TTL : 0;
		m[i]->ttl_ms = 10;
	}
	lp_queue_pool_set_now(f->qpool, 1000);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(lp_queue_enqueue(q, m[i]), 0);
	lp_queue_pool_set_now(f->qpool, 20000);
	assert_true(lp_queue_expires(q));
	assert_int_equal(lp_queue_expire(q), 0);        /* seq 0 lives, at the head */
	assert_int_equal(lp_queue_message_count(q), 4);
	/* Basic.Get takes seq 0; then every expired level goes, in order. */
	assert_int_equal(lp_queue_get(q, 1, 1, true, &out), 1);
	assert_int_equal(out.seq, 0);
	lp_msg_release(out.msg);
	assert_int_equal(lp_queue_expire(q), 3);
	assert_int_equal(lp_queue_expired_count(q), 3);
	assert_int_equal(d.n, 3);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(d.why[i], LP_QUEUE_DEAD_EXPIRED);
	assert_memory_equal(d.msgs[0]->body, "m1", 2);
	assert_memory_equal(d.msgs[1]->body, "m2", 2);
	assert_memory_equal(d.msgs[2]->body, "m3", 2);
	dead_release(&d);
	/* An expired higher level over a live lower one: expiry goes down to it. */
	assert_int_equal(lp_queue_enqueue(q, m[4]), 0); /* priority 3, expires at 30 ms */
	lp_queue_pool_set_now(f->qpool, 25000);
	assert_int_equal(lp_queue_enqueue(q, m[5]), 0); /* priority 1, expires at 35 ms */
	lp_queue_pool_set_now(f->qpool, 30001);
	assert_int_equal(lp_queue_get(q, 1, 2, true, &out), 1);
	assert_int_equal(out.seq, 5);
	lp_msg_release(out.msg);
	assert_int_equal(d.n, 1);
	assert_memory_equal(d.msgs[0]->body, "m4", 2);
	dead_release(&d);
}

static void randomized_model(void **state)
{
	struct fx *f = *state;

	const uint32_t nl = LP_QUEUE_NO_MAX_LENGTH;
	const uint64_t nb = LP_QUEUE_NO_MAX_BYTES;

	for (unsigned seed = 1; seed <= 60; seed++)
		model_run(f, seed, 4000, nl, nb, false);
	/* x-max-length (drop-head), 0 included: every message dropped on arrival. */
	for (unsigned seed = 61; seed <= 100; seed++)
		model_run(f, seed, 4000, (seed - 61) % 20, nb, false);
	/* x-max-length-bytes, alone and with x-max-length. */
	for (unsigned seed = 101; seed <= 130; seed++)
		model_run(f, seed, 4000, seed % 2 ? nl : 8, (seed - 101) * 7, false);
	/* x-overflow reject-publish. */
	for (unsigned seed = 131; seed <= 170; seed++)
		model_run(f, seed, 4000, seed % 3 ? (seed - 131) % 15 : nl,
			  seed % 3 != 1 ? (seed - 131) * 5 : nb, true);
}

/* The same with consumer priorities: the model keeps its active list in
 * priority order, round-robin within one. */
static void randomized_model_priorities(void **state)
{
	struct fx *f = *state;

	model_priorities = true;
	for (unsigned seed = 201; seed <= 260; seed++)
		model_run(f, seed, 4000, LP_QUEUE_NO_MAX_LENGTH, LP_QUEUE_NO_MAX_BYTES, false);
	for (unsigned seed = 261; seed <= 280; seed++)
		model_run(f, seed, 4000, (seed - 261) % 10, LP_QUEUE_NO_MAX_BYTES, false);
	model_priorities = false;
}

/* The same on priority queues (x-max-priority 1, 2, 5, 10 and 255), with
 * message priorities up to two above the maximum: the model keeps its ready
 * list in (priority, seq) order; limits drop from the front of that order. */
static void randomized_model_message_priorities(void **state)
{
	static const uint8_t maxes[] = { 1, 2, 5, 10, 255 };
	struct fx *f = *state;

	for (unsigned seed = 301; seed <= 400; seed++) {
		model_max_priority = maxes[seed % 5];
		model_priorities = seed % 2;
		if (seed <= 360)
			model_run(f, seed, 4000, LP_QUEUE_NO_MAX_LENGTH, LP_QUEUE_NO_MAX_BYTES,
				  false);
		else if (seed <= 380)
			model_run(f, seed, 4000, (seed - 361) % 10, seed % 3 ? LP_QUEUE_NO_MAX_BYTES
									 : (seed - 361) * 9, false);
		else
			model_run(f, seed, 4000, (seed - 381) % 12, LP_QUEUE_NO_MAX_BYTES, true);
	}
	model_max_priority = 0;
	model_priorities = false;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(pool_create_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(pool_concurrent_release, setup, teardown),
		cmocka_unit_test_setup_teardown(fifo_order, setup, teardown),
		cmocka_unit_test_setup_teardown(for_each_unacked_in_delivery_order, setup, teardown),
		cmocka_unit_test_setup_teardown(no_ack_consumer, setup, teardown),
		cmocka_unit_test_setup_teardown(round_robin_prefetch_1, setup, teardown),
		cmocka_unit_test_setup_teardown(unblocked_consumers_rejoin_in_ack_order, setup, teardown),
		cmocka_unit_test_setup_teardown(round_robin_prefetch_2, setup, teardown),
		cmocka_unit_test_setup_teardown(channel_refuses_delivery, setup, teardown),
		cmocka_unit_test_setup_teardown(multiple_ack, setup, teardown),
		cmocka_unit_test_setup_teardown(reject_requeue_keeps_order, setup, teardown),
		cmocka_unit_test_setup_teardown(requeue_goes_before_newer_ready, setup, teardown),
		cmocka_unit_test_setup_teardown(cancel_requeues_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(sac_first_consumer_only, setup, teardown),
		cmocka_unit_test_setup_teardown(sac_channel_close_hands_over_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(sac_cancel_then_close_keeps_order, setup, teardown),
		cmocka_unit_test_setup_teardown(sac_waiting_credit_not_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(sac_successor_by_priority, setup, teardown),
		cmocka_unit_test_setup_teardown(priority_dispatch_order, setup, teardown),
		cmocka_unit_test_setup_teardown(basic_get, setup, teardown),
		cmocka_unit_test_setup_teardown(purge_keeps_unacked, setup, teardown),
		cmocka_unit_test_setup_teardown(fanout_shares_one_message, setup, teardown),
		cmocka_unit_test_setup_teardown(delete_releases_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(max_length_drop_head, setup, teardown),
		cmocka_unit_test_setup_teardown(max_length_bytes_drop_head, setup, teardown),
		cmocka_unit_test_setup_teardown(max_length_spares_what_consumers_take, setup, teardown),
		cmocka_unit_test_setup_teardown(max_length_reject_publish, setup, teardown),
		cmocka_unit_test_setup_teardown(capacity_and_consumer_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(shared_pool_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(queue_ttl_expires_at_the_head, setup, teardown),
		cmocka_unit_test_setup_teardown(message_ttl_smaller_wins_and_waits_behind_the_head, setup,
						teardown),
		cmocka_unit_test_setup_teardown(ttl_zero_delivers_only_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(requeued_message_keeps_its_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(dead_letter_reasons, setup, teardown),
		cmocka_unit_test_setup_teardown(priority_queue_order, setup, teardown),
		cmocka_unit_test_setup_teardown(priority_requeue_goes_back_to_its_place, setup, teardown),
		cmocka_unit_test_setup_teardown(priority_with_prefetch, setup, teardown),
		cmocka_unit_test_setup_teardown(priority_max_length_drops_the_head, setup, teardown),
		cmocka_unit_test_setup_teardown(priority_ttl_at_each_level, setup, teardown),
		cmocka_unit_test_setup_teardown(randomized_model, setup, teardown),
		cmocka_unit_test_setup_teardown(randomized_model_priorities, setup, teardown),
		cmocka_unit_test_setup_teardown(randomized_model_message_priorities, setup, teardown),
	};

	return cmocka_run_group_tests_name("broker-queue", tests, NULL, NULL);
}
