/* SPDX-License-Identifier: MIT */
/*
 * Exact delivery accounting of amqp-load. Every message body carries its
 * producer's sequence number (0, 1, 2...). struct lp_seq is a bitmap of the
 * numbers seen for one (queue, producer) pair, grown in 1 MiB chunks as the
 * numbers grow and shared by every consumer of that queue (atomic bit sets):
 * a number seen twice is a duplicate, a number below the producer's published
 * count never seen by the end is lost. The same structure counts a producer's
 * distinct publisher confirms. struct lp_seq_order belongs to one consumer
 * and one producer: a queue hands each consumer an increasing subsequence of
 * a producer's messages, so a number below one already seen is out of order.
 */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define LP_SEQ_CHUNK_SHIFT 23 /* 8 Mi numbers (1 MiB of bits) per chunk */
#define LP_SEQ_MAX_CHUNKS 1024 /* numbers below 8 Gi */
#define LP_SEQ_LIMIT ((uint64_t)LP_SEQ_MAX_CHUNKS << LP_SEQ_CHUNK_SHIFT)

struct lp_seq {
	_Atomic(_Atomic uint64_t *) chunk[LP_SEQ_MAX_CHUNKS];
	_Atomic uint64_t distinct;   /* numbers marked at least once */
	_Atomic uint64_t duplicates; /* marks of a number already marked */
};

/* A zeroed struct lp_seq is an empty tracker; lp_seq_free releases its chunks. */
void lp_seq_free(struct lp_seq *s);
/*
 * Marks seq as seen; safe from several threads at once.
 * Returns 1 the first time, 0 for a duplicate (counted), -ERANGE when
 * seq >= LP_SEQ_LIMIT, -ENOMEM when a chunk cannot be allocated.
 */
int lp_seq_mark(struct lp_seq *s, uint64_t seq);
/* True if seq has been marked. */
bool lp_seq_test(const struct lp_seq *s, uint64_t seq);
/* How many of the numbers 0 .. n-1 were never marked. */
uint64_t lp_seq_missing(const struct lp_seq *s, uint64_t n);

struct lp_seq_order {
	uint64_t next; /* one past the highest number seen */
	uint64_t late; /* arrivals below next: out of order */
};

/* Returns true when seq arrives in order (>= every number seen before). */
bool lp_seq_order_check(struct lp_seq_order *o, uint64_t seq);
