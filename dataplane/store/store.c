/* SPDX-License-Identifier: MIT */
/*
 * Life cycle of a shard's store (lp_store.h): lp_store_open recovers the journal
 * (recover.c), rebuilds the segment table (segtab.c), allocates the write
 * buffer, the read-back slots and the io_uring, and opens a new segment for
 * the new epoch; lp_store_close drains it. Also the fail-stop state, the
 * statistics and the fault-injection hook for tests.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "segment_file.h"
#include "store_int.h"

#define DEFAULT_SEGMENT_BYTES (64ull << 20)
#define DEFAULT_BUFFER_BYTES  (8u << 20)
#define DEFAULT_MAX_SEGMENTS  1024u
#define DEFAULT_MAX_READS     64u

void store_fail(struct lp_store *s, int err, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (s->err != 0)
		return;
	s->err = err < 0 ? err : -EIO;
	va_start(ap, fmt);
	n = vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(s->errmsg))
		snprintf(s->errmsg + n, sizeof(s->errmsg) - (size_t)n, ": %s", strerror(-s->err));
	fprintf(stderr, "lepus store %s: %s; the store stops (fail-stop)\n", s->dir, s->errmsg);
}

void store_errorf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

static int config_check(const struct lp_store_config *in, struct lp_store_config *c)
{
	*c = *in;
	if (c->segment_bytes == 0)
		c->segment_bytes = DEFAULT_SEGMENT_BYTES;
	if (c->buffer_bytes == 0)
		c->buffer_bytes = DEFAULT_BUFFER_BYTES;
	if (c->max_segments == 0)
		c->max_segments = DEFAULT_MAX_SEGMENTS;
	if (c->max_reads == 0)
		c->max_reads = DEFAULT_MAX_READS;
	if (c->data_dir == NULL || c->segment_bytes % LP_JOURNAL_ALIGN != 0 ||
	    c->segment_bytes < 2 * LP_JOURNAL_ALIGN ||
	    c->buffer_bytes % (2 * LP_JOURNAL_ALIGN) != 0 || c->max_segments < 2 ||
	    c->max_reads > (1u << 20))
		return -EINVAL;
	return 0;
}

static int mkdir_ok(const char *path)
{
	return mkdir(path, 0750) == 0 || errno == EEXIST ? 0 : -errno;
}

static unsigned ring_entries(uint32_t max_reads)
{
	unsigned n = 8;

	while (n < max_reads + 8)
		n *= 2;
	return n;
}

static int alloc_buffers(struct lp_store *s)
{
	s->segs = calloc(s->max_segments, sizeof(*s->segs));
	s->reads = calloc(s->max_reads, sizeof(*s->reads));
	s->free_reads = calloc(s->max_reads, sizeof(*s->free_reads));
	s->done = calloc(s->max_reads, sizeof(*s->done));
	if (s->segs == NULL || s->reads == NULL || s->free_reads == NULL || s->done == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->max_reads; i++)
		s->free_reads[i] = s->max_reads - 1 - i;
	s->n_free_reads = s->max_reads;
	for (unsigned i = 0; i < 2; i++) {
		void *p;

		if (posix_memalign(&p, LP_JOURNAL_ALIGN, s->half_bytes) != 0)
			return -ENOMEM;
		memset(p, 0, s->half_bytes);
		s->half[i].mem = p;
	}
	return 0;
}

/* The recovered segments into the table; ids may not span more slots than it
 * has. */
static int adopt_segments(struct lp_store *s, const struct store_recovered_seg *rs, uint32_t n,
	struct lp_store_recovery *rec)
{
	for (uint32_t i = 0; i < n; i++) {
		struct store_seg *g;
		int fd, rc;

		if (rs[i].id - rs[0].id >= s->max_segments - 1) {
			store_errorf(rec->error, sizeof(rec->error),
				"%s: segments %u to %u span more than max_segments (%u)", s->dir,
				rs[0].id, rs[n - 1].id, s->max_segments);
			return -EINVAL;
		}
		fd = lp_seg_open(s->dirfd, rs[i].id);
		if (fd < 0)
			return fd;
		rc = store_seg_add(s, rs[i].id, fd, rs[i].end, false);
		if (rc < 0) {
			close(fd);
			return rc;
		}
		g = store_seg_find(s, rs[i].id);
		g->min_ref = rs[i].min_ref;
		g->live = rs[i].live;
		g->live_bytes = rs[i].live_bytes;
		s->st.live_records += rs[i].live;
		s->st.live_bytes += rs[i].live_bytes;
	}
	return 0;
}

struct lp_store *lp_store_open(const struct lp_store_config *cfg, lp_store_recover_fn fn,
	void *arg, struct lp_store_recovery *rec)
{
	struct lp_store_recovery rec_local;
	struct store_recovered_seg *rs = NULL;
	struct lp_store_config c;
	struct lp_store *s;
	uint32_t nrs = 0;
	int rc;

	if (rec == NULL)
		rec = &rec_local;
	memset(rec, 0, sizeof(*rec));
	rc = config_check(cfg, &c);
	if (rc < 0) {
		store_errorf(rec->error, sizeof(rec->error), "invalid store configuration");
		errno = -rc;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	s->dirfd = -1;
	s->seg_bytes = c.segment_bytes;
	s->half_bytes = c.buffer_bytes / 2;
	s->max_segments = c.max_segments;
	s->max_reads = c.max_reads;
	s->fault_sync_eio_at = c.fault_sync_eio_at;
	s->fault_torn_write_at = c.fault_torn_write_at;
	if ((size_t)snprintf(s->dir, sizeof(s->dir), "%s/shard-%u", c.data_dir, c.shard) >=
	    sizeof(s->dir)) {
		rc = -ENAMETOOLONG;
		goto fail;
	}
	if ((rc = mkdir_ok(c.data_dir)) < 0 || (rc = mkdir_ok(s->dir)) < 0)
		goto fail;
	s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		rc = -errno;
		goto fail;
	}
	if ((rc = alloc_buffers(s)) < 0)
		goto fail;
	rc = store_recover(s->dir, fn, arg, rec, &rs, &nrs);
	if (rc < 0)
		goto fail;
	if ((rc = adopt_segments(s, rs, nrs, rec)) < 0)
		goto fail;
	s->epoch = rec->last_epoch + 1;
	s->next_block_seq = rec->last_block_seq + 1;
	s->cur_id = rec->last_segment;
	s->first_id = nrs > 0 ? rs[0].id : rec->last_segment + 1;
	s->durable_seg = rec->last_segment;
	s->durable_end = UINT64_MAX;
	s->st.epoch = s->epoch;
	rc = io_uring_queue_init(ring_entries(s->max_reads), &s->ring, 0);
	if (rc < 0)
		goto fail;
	s->ring_ready = true;
	if ((rc = store_seg_roll(s)) < 0)
		goto fail;
	store_seg_reclaim(s);
	free(rs);
	return s;
fail:
	free(rs);
	if (rec->error[0] == '\0')
		store_errorf(rec->error, sizeof(rec->error), "%s: %s", s->dir, strerror(-rc));
	lp_store_close(s);
	errno = -rc;
	return NULL;
}

static bool io_pending(const struct lp_store *s)
{
	return s->flight.busy || s->n_free_reads + s->done_n < s->max_reads;
}

/* Blocks until one completion arrives, then handles what has arrived. */
static void wait_one(struct lp_store *s)
{
	struct io_uring_cqe *cqe;

	if (io_uring_wait_cqe(&s->ring, &cqe) == 0)
		store_reap(s);
}

int lp_store_close(struct lp_store *s)
{
	int rc;

	if (s == NULL)
		return 0;
	if (s->ring_ready) {
		while (s->err == 0 && (s->flight.busy || s->half[s->open].used > 0)) {
			if (lp_store_flush(s) < 0)
				break;
			if (s->flight.busy)
				wait_one(s);
		}
		io_uring_submit(&s->ring);
		/* Reads whose completion was not handed out are not in flight. */
		while (io_pending(s))
			wait_one(s);
		io_uring_queue_exit(&s->ring);
	}
	rc = s->err != 0 ? -EIO : 0;
	if (s->segs != NULL)
		for (uint32_t i = 0; i < s->max_segments; i++)
			if (s->segs[i].present)
				close(s->segs[i].fd);
	if (s->dirfd >= 0)
		close(s->dirfd);
	free(s->half[0].mem);
	free(s->half[1].mem);
	free(s->segs);
	free(s->reads);
	free(s->free_reads);
	free(s->done);
	free(s);
	return rc;
}

void lp_store_stats(const struct lp_store *s, struct lp_store_stats *st)
{
	*st = s->st;
	st->written_bytes = 0;
	for (uint32_t i = 0; i < s->max_segments; i++)
		if (s->segs[i].present)
			st->written_bytes += s->segs[i].end;
}

int lp_store_error(const struct lp_store *s)
{
	return s->err;
}

const char *lp_store_error_msg(const struct lp_store *s)
{
	return s->err != 0 ? s->errmsg : "";
}

void lp_store_fail_next(struct lp_store *s, enum lp_store_op op, int err)
{
	s->fail_op = op;
	s->fail_err = err;
}
