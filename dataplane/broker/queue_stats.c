/* SPDX-License-Identifier: MIT */
/*
 * Queue statistics for lepus-control: once a second a worker copies the
 * counts and counters of the queues it owns (ready, with its paged tail,
 * unacked, consumers, struct lp_queue_counters) into its sample, which the
 * main lcore reads (lp_broker_queue_stats_read) and sends as QUEUE_STATS
 * (main.c). The sample is guarded by a sequence count, odd while the
 * worker writes it (a seqlock, as DPDK's rte_seqlock): the worker never
 * waits, the reader retries at its next second when it raced a write. No
 * per-message traffic; the sample lives in memory taken at start-up.
 */
#include <stdatomic.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "broker_int.h"
#include "queue.h"

#define SAMPLE_EVERY_US 1000000u

int lp_queue_stats_init(struct lp_broker *b, uint32_t max_queues)
{
	b->qstat = calloc(max_queues, sizeof(*b->qstat));
	b->qstat_n = 0;
	atomic_init(&b->qstat_seq, 0);
	b->qstat_next_us = 0;
	return b->qstat != NULL ? 0 : -ENOMEM;
}

void lp_queue_stats_fini(struct lp_broker *b)
{
	free(b->qstat);
	b->qstat = NULL;
}

static void sample_one(struct lp_ctl_queue_stat *s, const struct owned_queue *oq)
{
	const struct lp_queue_counters *k = lp_queue_counters(oq->q);

	strcpy(s->vhost, oq->vhost);
	strcpy(s->queue, oq->name);
	s->ready = lp_queue_message_count(oq->q) + oq->paged.n;
	s->unacked = lp_queue_unacked_count(oq->q);
	s->consumers = lp_queue_consumer_count(oq->q);
	s->ready_bytes = lp_queue_ready_bytes(oq->q);
	s->published = k->published;
	s->delivered = k->delivered;
	s->got = k->got;
	s->redelivered = k->redelivered;
	s->acked = k->acked;
}

void lp_queue_stats_sample(struct lp_broker *b, uint64_t now_us)
{
	uint32_t seq = atomic_load_explicit(&b->qstat_seq, memory_order_relaxed);

	if (b->qstat == NULL || now_us < b->qstat_next_us)
		return;
	b->qstat_next_us = now_us + SAMPLE_EVERY_US;
	atomic_store_explicit(&b->qstat_seq, seq + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	for (uint32_t i = 0; i < b->n_live; i++)
		sample_one(&b->qstat[i], &b->queues[b->live[i]]);
	b->qstat_n = b->n_live;
	atomic_store_explicit(&b->qstat_seq, seq + 2, memory_order_release);
}

int lp_broker_queue_stats_read(const struct lp_broker *b, struct lp_ctl_queue_stat *out,
			       uint32_t cap)
{
	if (b == NULL || b->qstat == NULL)
		return 0;
	uint32_t before = atomic_load_explicit(&b->qstat_seq, memory_order_acquire);

	if (before & 1)
		return -EAGAIN;
	uint32_t n = b->qstat_n < cap ? b->qstat_n : cap;

	memcpy(out, b->qstat, (size_t)n * sizeof(*out));
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&b->qstat_seq, memory_order_relaxed) != before)
		return -EAGAIN;
	return (int)n;
}
