/* SPDX-License-Identifier: MIT */
/*
 * lp_store: the journal of one worker shard (DESIGN.md "Message store"). The
 * worker appends records (enqueue, settle, queue purge/delete) into a
 * preallocated write buffer, calls lp_store_flush() once per poll iteration
 * to group-commit what arrived since the last flush (an io_uring write linked
 * to an fdatasync, never waiting), and lp_store_poll() to reap completions
 * without waiting: the durable ticket advances, so the broker confirms every
 * publish up to it with one Basic.Ack multiple=true. Deep queues read records
 * back with lp_store_read(), delivered by lp_store_poll().
 *
 * Call flow on the worker:
 *   lp_store_open (start-up: recovery, allocation)
 *   loop: lp_store_enqueue/settle/purge/queue_delete ... lp_store_flush ...
 *         lp_store_poll -> lp_store_durable
 *   lp_store_close
 *
 * Nothing is allocated after lp_store_open. Appends and lp_store_poll make no
 * system call; lp_store_flush makes one io_uring_enter when it has work. Rare
 * exceptions, synchronous: opening a new segment when the current one is full
 * (open + fallocate) and deleting a settled one (unlink).
 *
 * Fail-stop: when a write or fsync fails the store enters its failed state
 * for good. A message naming the file, offset and error goes to stderr and to
 * lp_store_error_msg(), and every later call returns -EIO (LavinMQ and
 * TigerBeetle stop too: after a failed fsync the page cache may have dropped
 * the data, and a retry could report success for lost writes).
 *
 * One store is used by one thread (no locking).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct lp_store;

struct lp_store_config {
	const char *data_dir;     /* journal in <data_dir>/shard-<shard>/, made if missing */
	uint32_t shard;
	uint64_t segment_bytes;   /* per segment file; 0: 64 MiB. Multiple of 4 KiB */
	uint32_t buffer_bytes;    /* write buffer, two halves; 0: 8 MiB. Multiple of 8 KiB */
	uint32_t max_segments;    /* segment files at most; 0: 1024 */
	uint32_t max_reads;       /* read-backs in flight at most; 0: 64 */
	/* Fault injection (the dataplane's --store-fault, for the durability
	 * tests); 0: off. The flush with this number (from 1) ... */
	uint64_t fault_sync_eio_at;   /* ... has its fdatasync report EIO */
	uint64_t fault_torn_write_at; /* ... writes half its block, synced, then
				       * fails the store (a crash mid-write) */
};

/* Where a record is: its segment, the offset of its header in the file and
 * its length on disk (header and payload). Returned by the appends and by
 * recovery; given back to settle, release and read. */
struct lp_store_loc {
	uint32_t seg;
	uint32_t len;
	uint64_t off;
};

/* What recovery found (lp_store_recover, lp_store_open). */
struct lp_store_recovery {
	uint32_t segments;        /* segment files scanned */
	uint64_t blocks;
	uint64_t records;         /* of every type */
	uint64_t live;            /* enqueued, not settled, purged or deleted: given to fn */
	uint64_t live_bytes;      /* their records' octets */
	uint32_t torn_tails;      /* segments that ended in a torn (unconfirmed) write */
	uint32_t last_epoch;      /* of the newest block, 0 when none */
	uint64_t last_block_seq;
	uint32_t last_segment;    /* highest segment id, 0 when none */
	char error[320];          /* on failure: why, naming file and offset */
};

/* Called by recovery for each live message, in journal order (so each queue's
 * messages come in the order they were enqueued). msg is valid only during
 * the call. Returns 0 to go on, LP_STORE_RECOVER_SKIP when the message is not
 * live after all (e.g. a transient message that was written only to page it
 * out of memory: it keeps no segment alive and is not counted in rec->live),
 * or a negative errno that stops recovery. */
#define LP_STORE_RECOVER_SKIP 1
typedef int (*lp_store_recover_fn)(void *arg, uint32_t queue, uint64_t seq,
	const struct lp_store_loc *loc, const void *msg, uint32_t len);

/* Scans the journal in shard_dir (read only; blocking, for start-up and
 * tools): every segment in id order, every block's and record's CRC, segment
 * ids, epochs and block sequence numbers. A torn write at the end of a
 * segment (the unconfirmed flush in flight at a crash) is left out; damage
 * before it (a confirmed record) is an error. fn (may be NULL) gets every
 * live message. Returns 0; -EBADMSG (damaged journal: rec->error says which
 * file and offset, also printed to stderr); fn's negative value; or another
 * -errno from the file system. rec may be NULL. A missing directory is an
 * empty journal. */
int lp_store_recover(const char *shard_dir, lp_store_recover_fn fn, void *arg,
	struct lp_store_recovery *rec);

/* Opens the shard's journal: recovers it as lp_store_recover() does (fn gets
 * the live messages), accounts for them, starts a new epoch in a new segment,
 * and allocates everything the store will use. Returns the store, or NULL
 * with errno set (EINVAL config; EBADMSG damaged journal, why in rec->error;
 * ENOMEM; an errno of the file system or io_uring_queue_init). rec may be
 * NULL. */
struct lp_store *lp_store_open(const struct lp_store_config *cfg, lp_store_recover_fn fn,
	void *arg, struct lp_store_recovery *rec);

/* Flushes what is buffered, waits for every I/O in flight and frees the store
 * (blocking: shutdown only). Returns 0, or -EIO when the store had failed or
 * the last flush failed (nothing buffered is then durable). */
int lp_store_close(struct lp_store *s);

/*
 * Appends. Each copies its record into the write buffer (the caller keeps its
 * memory) and returns its ticket: a number that grows by one per append, > 0.
 * A record is durable once lp_store_durable() >= its ticket. Errors:
 *   -ENOBUFS  the write buffer is full (or the record does not fit in what
 *             is left of the segment with the records before it): flush,
 *             poll, try again later: back-pressure, nothing was appended
 *   -EMSGSIZE the record can never fit (buffer half or segment too small)
 *   -ENOSPC   max_segments segment files are in use
 *   -EIO      the store has failed
 * An append that opens a new segment can also return the -errno of open or
 * fallocate (the store then fails).
 */

/* A message of queue (its seq-th) with the octets of iov[0..iovcnt) (e.g.
 * properties and body) as payload. loc (not NULL) receives its location, to
 * settle, release or read it later. */
int64_t lp_store_enqueue(struct lp_store *s, uint32_t queue, uint64_t seq,
	const struct iovec *iov, unsigned iovcnt, struct lp_store_loc *loc);

/* The message (queue, seq) at enq is settled (acked, or dropped): after a
 * restart it is not recovered. Also releases enq (lp_store_release). */
int64_t lp_store_settle(struct lp_store *s, uint32_t queue, uint64_t seq,
	const struct lp_store_loc *enq);

/* Every message of queue enqueued before is gone (Queue.Purge), or the queue
 * itself (Queue.Delete). The caller releases each of those messages'
 * locations with lp_store_release so that their segments can go. */
int64_t lp_store_purge(struct lp_store *s, uint32_t queue);
int64_t lp_store_queue_delete(struct lp_store *s, uint32_t queue);

/* The octets a record with payload octets takes at its location (its
 * loc.len): what lp_store_read needs room for. */
uint64_t lp_store_record_len(uint64_t payload);

/* Would n appends of payload octets each go into the open block now (no
 * -ENOBUFS)? A caller that must not be refused (a publish about to be
 * routed) asks first and waits while it is false. */
bool lp_store_fits(const struct lp_store *s, uint64_t payload, unsigned n);

/* Accounting only (no record): the message at enq no longer keeps its segment
 * alive (its queue was purged or deleted). A segment none of whose messages is
 * live, and that is not being written, is deleted by a later lp_store_poll. */
void lp_store_release(struct lp_store *s, const struct lp_store_loc *enq);

/* Group commit: when no flush is in flight and records are buffered, seals
 * them as one block and submits its write linked to an fdatasync (the first
 * flush into a new segment adds an fsync of the directory); submits queued
 * read-backs too. Never waits. Returns 1 (a flush went out), 0 (nothing to
 * do, or the previous flush is still in flight: the records wait for the
 * next call), -EIO (failed). */
int lp_store_flush(struct lp_store *s);

/* A completed read-back (lp_store_read). */
struct lp_store_read_done {
	uint64_t cookie;
	int res;            /* 0; -EBADMSG (record damaged or not at loc); -errno of the read */
	uint32_t queue;
	uint64_t seq;
	const void *msg;    /* the message octets, inside the caller's dst */
	uint32_t len;
};

/* Reaps completions without waiting: advances the durable ticket, deletes
 * settled segments, and returns up to max completed read-backs in done[].
 * Returns their count (>= 0), or -EIO (failed; done[] untouched). */
int lp_store_poll(struct lp_store *s, struct lp_store_read_done *done, unsigned max);

/* The highest ticket that is durable (0 before the first flush completes). */
uint64_t lp_store_durable(const struct lp_store *s);

/* Queues an io_uring read of the ENQUEUE record at loc into dst (len >=
 * loc->len octets, the caller's until its completion comes out of
 * lp_store_poll with cookie); submitted by the next lp_store_flush. Returns 0,
 * -EAGAIN (the record is not durable yet: it is still in the caller's memory),
 * -ENOENT (no such segment), -EINVAL (len too small, loc out of the segment),
 * -EBUSY (max_reads in flight), -EIO (failed). */
int lp_store_read(struct lp_store *s, const struct lp_store_loc *loc, void *dst, uint32_t len,
	uint64_t cookie);

/* Compaction (done by the caller, who knows where each live message is
 * referenced): the oldest segment that is less than half live and would be
 * deleted once its live records are gone (the deletion rule of segtab.c).
 * The caller appends a copy of each of them (same queue and sequence: recovery
 * keeps the later copy of a (queue, seq)), and once the copy is durable
 * releases the old one; the segment then goes. Returns 1 (*seg set) or 0. */
int lp_store_compact_candidate(const struct lp_store *s, uint32_t *seg);

/* Live ENQUEUE records in segment seg: 0, or -ENOENT (no such segment). */
int lp_store_segment_live(const struct lp_store *s, uint32_t seg, uint64_t *live);

struct lp_store_stats {
	uint32_t segments;        /* segment files */
	uint64_t disk_bytes;      /* their allocated size */
	uint64_t written_bytes;   /* of them used by blocks */
	uint64_t live_records;    /* enqueued and not settled or released */
	uint64_t live_bytes;      /* their records' octets */
	uint64_t appends, flushes, blocks_durable, enobufs;
	uint64_t segments_created, segments_deleted;
	uint64_t reads, read_errors;
	uint32_t epoch;
};

void lp_store_stats(const struct lp_store *s, struct lp_store_stats *st);

/* 0, or the negative errno that failed the store; the message says what. */
int lp_store_error(const struct lp_store *s);
const char *lp_store_error_msg(const struct lp_store *s);

/* The octets still free for an unprivileged writer on dir's file system
 * (statvfs f_bavail * f_frsize): the disk free alarm's measure. Returns 0,
 * or -errno. Not on a worker's poll path (a system call). */
int lp_store_disk_free(const char *dir, uint64_t *free_bytes);

/* Fault injection for tests: the next completion of op (write, fsync of a
 * flush, or read-back) reports -err instead of its result. */
enum lp_store_op {
	LP_STORE_OP_WRITE = 1,
	LP_STORE_OP_SYNC = 2,
	LP_STORE_OP_READ = 3,
};
void lp_store_fail_next(struct lp_store *s, enum lp_store_op op, int err);
