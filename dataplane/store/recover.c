/* SPDX-License-Identifier: MIT */
/*
 * Recovery of a shard's journal (lp_store.h): lp_store_recover for tools and
 * tests, store_recover for lp_store_open, which also needs each segment's
 * accounting. Blocking and allocating: start-up only.
 *
 * Pass 1 maps every segment file in id order and scans it (journal_scan.c: every
 * block's CRC, ids, sequence numbers, the torn tail), checks that consecutive
 * segments continue each other's block sequence and never go back in epoch,
 * and collects the SETTLE records and each queue's last PURGE/DELETE. Each
 * record gets an ordinal, its place in the log. Pass 2 scans the same images
 * again and yields each ENQUEUE that no later SETTLE of the same (queue, seq)
 * and no later PURGE/DELETE of its queue undoes.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal_scan.h"
#include "segment_file.h"
#include "store_int.h"

struct settle_ent {
	uint32_t queue;
	uint64_t seq;
	uint64_t ord;
};

struct end_ent {
	uint32_t queue;
	uint64_t ord;
};

struct seg_image {
	const uint8_t *img;
	uint64_t len;
	struct lp_jscan scan;
};

struct recovery {
	const char *dir;
	lp_store_recover_fn fn;
	void *arg;
	struct lp_store_recovery *rec;
	struct store_recovered_seg *cur;
	struct settle_ent *settles;
	size_t n_settles, cap_settles;
	struct end_ent *ends;
	size_t n_ends, cap_ends;
	uint64_t ord;
};

static int grow(void **v, size_t *cap, size_t n, size_t elem)
{
	size_t ncap;
	void *nv;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 1024;
	nv = realloc(*v, ncap * elem);
	if (nv == NULL)
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}

static int collect(void *arg, const struct lp_jblock_view *b, uint64_t off)
{
	struct recovery *r = arg;
	struct lp_jrec_iter it;
	struct lp_jrec_view v;
	int rc;

	(void)off;
	lp_jrec_iter_init(&it, b);
	while ((rc = lp_jrec_next(&it, &v)) == 1) {
		r->ord++;
		r->rec->records++;
		if (v.type == LP_JREC_SETTLE) {
			if (grow((void **)&r->settles, &r->cap_settles, r->n_settles,
				sizeof(*r->settles)) < 0)
				return -ENOMEM;
			r->settles[r->n_settles++] = (struct settle_ent){v.queue, v.seq, r->ord};
			if (v.ref_seg < r->cur->min_ref)
				r->cur->min_ref = v.ref_seg;
		} else if (v.type == LP_JREC_QUEUE_PURGE || v.type == LP_JREC_QUEUE_DELETE) {
			if (grow((void **)&r->ends, &r->cap_ends, r->n_ends, sizeof(*r->ends)) < 0)
				return -ENOMEM;
			r->ends[r->n_ends++] = (struct end_ent){v.queue, r->ord};
			r->cur->min_ref = 0;
		}
	}
	return rc < 0 ? -EBADMSG : 0;
}

static int cmp_settle(const void *a, const void *b)
{
	const struct settle_ent *x = a, *y = b;

	if (x->queue != y->queue)
		return x->queue < y->queue ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return (x->ord > y->ord) - (x->ord < y->ord);
}

static int cmp_end(const void *a, const void *b)
{
	const struct end_ent *x = a, *y = b;

	if (x->queue != y->queue)
		return x->queue < y->queue ? -1 : 1;
	return (x->ord > y->ord) - (x->ord < y->ord);
}

/* Is there a SETTLE of (queue, seq) after ordinal ord? */
static bool settled_after(const struct recovery *r, uint32_t queue, uint64_t seq, uint64_t ord)
{
	struct settle_ent key = {queue, seq, ord + 1};
	size_t lo = 0, hi = r->n_settles;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cmp_settle(&r->settles[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < r->n_settles && r->settles[lo].queue == queue && r->settles[lo].seq == seq;
}

/* The ordinal of queue's last PURGE/DELETE, 0 when none (ends sorted, one per
 * queue). */
static uint64_t last_end(const struct recovery *r, uint32_t queue)
{
	size_t lo = 0, hi = r->n_ends;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->ends[mid].queue < queue)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < r->n_ends && r->ends[lo].queue == queue ? r->ends[lo].ord : 0;
}

static int yield(void *arg, const struct lp_jblock_view *b, uint64_t off)
{
	struct recovery *r = arg;
	struct lp_jrec_iter it;
	struct lp_jrec_view v;
	int rc;

	lp_jrec_iter_init(&it, b);
	while ((rc = lp_jrec_next(&it, &v)) == 1) {
		struct lp_store_loc loc;

		r->ord++;
		if (v.type != LP_JREC_ENQUEUE || last_end(r, v.queue) > r->ord ||
		    settled_after(r, v.queue, v.seq, r->ord))
			continue;
		loc = (struct lp_store_loc){.seg = b->seg_id, .len = v.rec_len, .off = off + v.off};
		int took = r->fn != NULL ? r->fn(r->arg, v.queue, v.seq, &loc, v.payload, v.len) : 0;

		if (took < 0)
			return took;
		if (took == LP_STORE_RECOVER_SKIP) /* not live for the caller: no account */
			continue;
		r->cur->live++;
		r->cur->live_bytes += v.rec_len;
		r->rec->live++;
		r->rec->live_bytes += v.rec_len;
	}
	return rc < 0 ? -EBADMSG : 0;
}

static int map_segment(int dirfd, uint32_t id, struct seg_image *m)
{
	struct stat st;
	void *p;
	int fd;

	fd = lp_seg_open(dirfd, id);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	m->len = lp_seg_data_end(fd, (uint64_t)st.st_size);
	m->img = NULL;
	if (m->len > 0) {
		p = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			int err = -errno;

			close(fd);
			return err;
		}
		m->img = p;
	}
	close(fd);
	return 0;
}

/* Consecutive ids must continue the block sequence; after a gap (deleted
 * segments) it must still grow; epochs never go back. */
static int check_link(struct recovery *r, const struct seg_image *prev, uint32_t prev_id,
	const struct seg_image *m, uint32_t id, bool adjacent)
{
	char pname[LP_SEG_NAME_MAX], name[LP_SEG_NAME_MAX];
	const char *why = NULL;

	if (m->scan.first_epoch < prev->scan.last_epoch)
		why = "epoch goes backwards";
	else if (adjacent && m->scan.first_seq != prev->scan.last_seq + 1)
		why = "block sequence does not continue: blocks at the end of the previous "
		      "segment are missing or damaged";
	else if (m->scan.first_seq <= prev->scan.last_seq)
		why = "block sequence goes backwards";
	if (why == NULL)
		return 0;
	lp_seg_name(pname, prev_id);
	lp_seg_name(name, id);
	store_errorf(r->rec->error, sizeof(r->rec->error),
		"%s/%s: starts with block %" PRIu64 " (epoch %u) but %s ends at offset %" PRIu64
		" with block %" PRIu64 " (epoch %u): %s", r->dir, name, m->scan.first_seq,
		m->scan.first_epoch, pname, prev->scan.end, prev->scan.last_seq,
		prev->scan.last_epoch, why);
	return -EBADMSG;
}

int store_recover(const char *dir, lp_store_recover_fn fn, void *arg,
	struct lp_store_recovery *rec, struct store_recovered_seg **segs_out, uint32_t *nsegs_out)
{
	struct recovery r = {.dir = dir, .fn = fn, .arg = arg, .rec = rec};
	struct store_recovered_seg *segs = NULL;
	struct seg_image *maps = NULL;
	uint32_t *ids = NULL, n = 0, prev = UINT32_MAX;
	int dirfd, rc;

	*segs_out = NULL;
	*nsegs_out = 0;
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return errno == ENOENT ? 0 : -errno;
	rc = lp_seg_list(dirfd, &ids, &n);
	if (rc < 0 || n == 0)
		goto out;
	maps = calloc(n, sizeof(*maps));
	segs = calloc(n, sizeof(*segs));
	if (maps == NULL || segs == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	rec->segments = n;
	rec->last_segment = ids[n - 1];
	for (uint32_t i = 0; i < n; i++) {
		char name[LP_SEG_NAME_MAX];

		segs[i] = (struct store_recovered_seg){.id = ids[i], .min_ref = ids[i]};
		lp_seg_name(name, ids[i]);
		rc = map_segment(dirfd, ids[i], &maps[i]);
		if (rc < 0) {
			store_errorf(rec->error, sizeof(rec->error), "%s/%s: %s", dir, name, strerror(-rc));
			goto out;
		}
		r.cur = &segs[i];
		rc = lp_jscan_segment(maps[i].img, maps[i].len, ids[i], collect, &r, &maps[i].scan);
		if (rc == -EBADMSG && rec->error[0] == '\0') {
			const struct lp_jscan *sc = &maps[i].scan;

			if (sc->why != NULL && sc->next_off != 0)
				store_errorf(rec->error, sizeof(rec->error),
					"%s/%s: offset %" PRIu64 ": %s (a valid block follows at offset %"
					PRIu64 ")", dir, name, sc->bad_off, sc->why, sc->next_off);
			else
				store_errorf(rec->error, sizeof(rec->error), "%s/%s: offset %" PRIu64 ": %s",
					dir, name, sc->bad_off, sc->why ? sc->why : "invalid record");
		}
		if (rc < 0)
			goto out;
		segs[i].end = maps[i].scan.end;
		rec->torn_tails += maps[i].scan.tail == LP_JSCAN_TORN;
		if (maps[i].scan.blocks == 0)
			continue;
		if (prev != UINT32_MAX) {
			rc = check_link(&r, &maps[prev], ids[prev], &maps[i], ids[i],
				ids[i] - ids[prev] == i - prev);
			if (rc < 0)
				goto out;
		}
		prev = i;
		rec->blocks += maps[i].scan.blocks;
		rec->last_epoch = maps[i].scan.last_epoch;
		rec->last_block_seq = maps[i].scan.last_seq;
	}
	if (r.n_settles > 0)
		qsort(r.settles, r.n_settles, sizeof(*r.settles), cmp_settle);
	if (r.n_ends > 0) {
		size_t k = 0;

		qsort(r.ends, r.n_ends, sizeof(*r.ends), cmp_end);
		for (size_t i = 0; i < r.n_ends; i++) {
			if (i + 1 < r.n_ends && r.ends[i + 1].queue == r.ends[i].queue)
				continue;
			r.ends[k++] = r.ends[i];
		}
		r.n_ends = k;
	}
	r.ord = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct lp_jscan again;

		r.cur = &segs[i];
		rc = lp_jscan_segment(maps[i].img, maps[i].len, ids[i], yield, &r, &again);
		if (rc < 0)
			goto out;
	}
	*segs_out = segs;
	*nsegs_out = n;
	segs = NULL;
out:
	if (rc == -EBADMSG)
		fprintf(stderr, "lepus store: journal damaged, not starting: %s\n", rec->error);
	for (uint32_t i = 0; maps != NULL && i < n; i++)
		if (maps[i].img != NULL)
			munmap((void *)maps[i].img, maps[i].len);
	free(maps);
	free(segs);
	free(ids);
	free(r.settles);
	free(r.ends);
	close(dirfd);
	return rc;
}

int lp_store_recover(const char *shard_dir, lp_store_recover_fn fn, void *arg,
	struct lp_store_recovery *rec)
{
	struct lp_store_recovery local;
	struct store_recovered_seg *segs;
	uint32_t n;
	int rc;

	if (rec == NULL)
		rec = &local;
	memset(rec, 0, sizeof(*rec));
	rc = store_recover(shard_dir, fn, arg, rec, &segs, &n);
	free(segs);
	return rc;
}
