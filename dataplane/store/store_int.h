/* SPDX-License-Identifier: MIT */
/*
 * The inside of struct lp_store, shared by the files of dataplane/store/:
 * store.c (life cycle, fail-stop), append.c (records into the write buffer),
 * commit.c (group commit: flush and completions), read.c (read-back),
 * segtab.c (the segment table: roll-over, accounting, deletion), recover.c.
 */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <liburing.h>

#include "journal_block.h"
#include "lp_store.h"

/* io_uring user_data: operation in the low byte, an index above it. */
#define STORE_UD(op, idx) ((uint64_t)(op) | ((uint64_t)(idx) << 8))
#define STORE_UD_OP(ud)   ((unsigned)((ud) & 0xff))
#define STORE_UD_IDX(ud)  ((uint32_t)((ud) >> 8))
#define STORE_OP_DIRSYNC  4u   /* beside enum lp_store_op: fsync of the directory */

/* One segment file; slot id % max_segments of the table. */
struct store_seg {
	bool present;
	bool fresh;          /* created by this store, not yet made durable once:
	                        its first flush also fsyncs the file and directory */
	int fd;
	uint32_t id;
	uint32_t min_ref;    /* oldest segment its SETTLE/PURGE/DELETE records refer to */
	uint32_t reads;      /* read-backs queued or in flight */
	uint64_t end;        /* octets used by blocks (sealed ones, in flight too) */
	uint64_t live;       /* ENQUEUE records not settled or released */
	uint64_t live_bytes;
};

/* Half of the write buffer: the open block that appends fill, or the block of
 * the flush in flight. One block per half, one flush in flight at a time. */
struct store_half {
	uint8_t *mem;        /* buffer_bytes / 2, 4 KiB aligned */
	uint32_t used;       /* octets incl. the block header; 0: no open block */
	uint32_t n_records;
	uint32_t seg;        /* where the block goes */
	uint64_t off;
	uint64_t last_ticket;
};

struct store_flight {
	bool busy;
	unsigned half;
	unsigned pending;    /* completions still to come */
	uint32_t seg;
	uint64_t off, size;
	uint64_t last_ticket;
	struct timespec t0;
};

/* A read-back slot: busy from lp_store_read until lp_store_poll hands its
 * completion out. */
struct store_read {
	uint32_t seg;
	uint32_t len;
	uint8_t *dst;
	struct lp_store_read_done done;
};

struct lp_store {
	struct io_uring ring;
	bool ring_ready;
	int dirfd;
	char dir[PATH_MAX];

	uint64_t seg_bytes;
	uint32_t half_bytes;
	uint32_t max_segments;
	struct store_seg *segs;
	uint32_t first_id;       /* no segment below it is present */
	uint32_t cur_id;         /* the segment being written */
	bool reclaim_due;

	uint32_t epoch;
	uint64_t next_block_seq;
	struct store_half half[2];
	unsigned open;           /* the half appends go to */
	struct store_flight flight;
	uint64_t next_ticket;    /* the last ticket handed out */
	uint64_t durable;

	uint32_t durable_seg;    /* the durable data ends in this segment ... */
	uint64_t durable_end;    /* ... at this offset */

	struct store_read *reads;
	uint32_t max_reads;
	uint32_t *free_reads;    /* stack of free slots */
	uint32_t n_free_reads;
	uint32_t *done;          /* ring of completed slots, oldest first */
	uint32_t done_head, done_n;

	int err;
	char errmsg[320];
	unsigned fail_op;
	int fail_err;
	uint64_t fault_sync_eio_at, fault_torn_write_at; /* lp_store_config */

	struct lp_store_stats st;
};

/* Enters the failed state (first error wins): logs and records the message. */
void store_fail(struct lp_store *s, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* snprintf into an error buffer (a message may be cut to its size). */
void store_errorf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* commit.c: handles every completion that has arrived, without waiting. */
void store_reap(struct lp_store *s);

/* read.c: a read-back's completion. */
void store_read_complete(struct lp_store *s, uint32_t slot, int res);

/* segtab.c */
struct store_seg *store_seg_find(struct lp_store *s, uint32_t id);
int store_seg_add(struct lp_store *s, uint32_t id, int fd, uint64_t end, bool fresh);
int store_seg_roll(struct lp_store *s);
void store_seg_reclaim(struct lp_store *s);

/* recover.c: what open needs of each recovered segment. */
struct store_recovered_seg {
	uint32_t id;
	uint32_t min_ref;
	uint64_t end;
	uint64_t live, live_bytes;
};

int store_recover(const char *dir, lp_store_recover_fn fn, void *arg,
	struct lp_store_recovery *rec, struct store_recovered_seg **segs, uint32_t *nsegs);
