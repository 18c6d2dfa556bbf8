/* SPDX-License-Identifier: MIT */
/*
 * The shard journal (dataplane/store/) through its API on a real directory
 * under /tmp: appends get increasing tickets that become durable only after
 * flush and poll (group commit through io_uring), a full buffer refuses with
 * -ENOBUFS, recovery after a clean close, after a torn tail and after damage
 * inside the confirmed data, settled segments deleted without resurrecting
 * settled messages, read-back, and fail-stop on an injected write or fsync
 * error. Each teardown checks that no file descriptor is left open and
 * removes the directory (LeakSanitizer checks the heap at exit).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "journal_block.h"
#include "lp_store.h"

#define MAX_GOT 4096

struct got {
	uint32_t queue;
	uint64_t seq;
	struct lp_store_loc loc;
	uint32_t len;
	uint8_t first;
};

struct fx {
	char data_dir[64];
	char shard_dir[96];
	int fds_at_start;
	struct lp_store_config cfg;
	struct got got[MAX_GOT];
	unsigned n_got;
};

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	strcpy(f->data_dir, "/tmp/lp-store-test-XXXXXX");
	assert_non_null(mkdtemp(f->data_dir));
	snprintf(f->shard_dir, sizeof(f->shard_dir), "%s/shard-0", f->data_dir);
	f->cfg = (struct lp_store_config){
		.data_dir = f->data_dir, .shard = 0, .segment_bytes = 1u << 20,
		.buffer_bytes = 256u << 10, .max_segments = 64, .max_reads = 8,
	};
	f->fds_at_start = count_fds();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	assert_int_equal(count_fds(), f->fds_at_start);
	nftw(f->data_dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static int on_recover(void *arg, uint32_t queue, uint64_t seq, const struct lp_store_loc *loc,
	const void *msg, uint32_t len)
{
	struct fx *f = arg;

	assert_true(f->n_got < MAX_GOT);
	f->got[f->n_got++] = (struct got){
		.queue = queue, .seq = seq, .loc = *loc, .len = len,
		.first = len > 0 ? *(const uint8_t *)msg : 0,
	};
	return 0;
}

static struct lp_store *open_store(struct fx *f)
{
	struct lp_store_recovery rec;
	struct lp_store *s;

	f->n_got = 0;
	s = lp_store_open(&f->cfg, on_recover, f, &rec);
	if (s == NULL)
		print_error("lp_store_open: %s\n", rec.error);
	assert_non_null(s);
	return s;
}

/* A message whose octets are all (seq & 0xff), len octets. */
static int64_t enqueue(struct lp_store *s, uint32_t queue, uint64_t seq, uint32_t len,
	struct lp_store_loc *loc)
{
	static uint8_t buf[16384];
	struct iovec iov[2] = {{buf, len / 2}, {buf + len / 2, len - len / 2}};

	memset(buf, (int)(seq & 0xff), len);
	return lp_store_enqueue(s, queue, seq, iov, 2, loc);
}

/* Flushes and polls until ticket is durable (bounded: 10 s). */
static void wait_durable(struct lp_store *s, uint64_t ticket)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (lp_store_durable(s) < ticket) {
		assert_true(lp_store_flush(s) >= 0);
		assert_true(lp_store_poll(s, NULL, 0) >= 0);
		clock_gettime(CLOCK_MONOTONIC, &t);
		assert_true(t.tv_sec - t0.tv_sec < 10);
		usleep(50);
	}
}

static unsigned count_segment_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	unsigned n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		n += strstr(de->d_name, ".seg") != NULL;
	closedir(d);
	return n;
}

static void seg_path(const struct fx *f, uint32_t seg, char *path, size_t n)
{
	snprintf(path, n, "%s/%010u.seg", f->shard_dir, seg);
}

static void patch_file(const struct fx *f, uint32_t seg, uint64_t off, uint8_t xor_mask)
{
	char path[160];
	uint8_t b;
	int fd;

	seg_path(f, seg, path, sizeof(path));
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
	b ^= xor_mask;
	assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
	close(fd);
}

static void durable_after_flush_and_poll(void **state)
{
	struct fx *f = *state;
	struct lp_store *s = open_store(f);
	struct lp_store_loc loc;
	struct lp_store_stats st;
	int64_t t, last = 0;

	assert_int_equal(f->n_got, 0);
	for (unsigned i = 1; i <= 100; i++) {
		t = enqueue(s, 1, i, 64, &loc);
		assert_int_equal(t, last + 1);     /* tickets: +1 per append */
		last = t;
	}
	assert_int_equal(lp_store_durable(s), 0);
	assert_int_equal(lp_store_poll(s, NULL, 0), 0);
	assert_int_equal(lp_store_durable(s), 0); /* nothing durable before a flush */
	assert_int_equal(lp_store_flush(s), 1);
	/* While that flush is in flight, the next records wait for the next one. */
	t = enqueue(s, 1, 101, 64, &loc);
	if (lp_store_durable(s) < 100)
		assert_int_equal(lp_store_flush(s), 0);
	wait_durable(s, 100);
	assert_true(lp_store_durable(s) >= 100);
	wait_durable(s, (uint64_t)t);
	assert_int_equal(lp_store_durable(s), 101);
	assert_int_equal(lp_store_flush(s), 0);  /* nothing left */
	lp_store_stats(s, &st);
	assert_int_equal(st.appends, 101);
	assert_int_equal(st.flushes, 2);
	assert_int_equal(st.blocks_durable, 2);
	assert_int_equal(st.live_records, 101);
	assert_int_equal(st.segments, 1);
	assert_int_equal(st.disk_bytes, f->cfg.segment_bytes);
	assert_int_equal(st.epoch, 1);
	assert_int_equal(lp_store_error(s), 0);
	assert_int_equal(lp_store_close(s), 0);
}

static void full_buffer_enobufs(void **state)
{
	struct fx *f = *state;
	struct lp_store *s;
	struct lp_store_loc loc;
	struct lp_store_stats st;
	uint8_t big[16384];
	struct iovec iov = {big, sizeof(big)};
	int64_t t;
	unsigned n = 0;

	f->cfg.buffer_bytes = 16384;  /* two halves of 8 KiB */
	s = open_store(f);
	memset(big, 1, sizeof(big));
	assert_int_equal(lp_store_enqueue(s, 1, 0, &iov, 1, &loc), -EMSGSIZE);
	while ((t = enqueue(s, 1, n, 1000, &loc)) > 0)
		n++;
	assert_int_equal(t, -ENOBUFS);
	assert_int_equal(n, (8192 - LP_JBLOCK_HDR_SIZE) / lp_jrec_size(1000));
	assert_int_equal(lp_store_flush(s), 1);
	/* The other half takes the next ones while the first is in flight. */
	for (unsigned i = 0; i < n; i++)
		assert_true(enqueue(s, 1, n + i, 1000, &loc) > 0);
	assert_int_equal(enqueue(s, 1, 2 * n, 1000, &loc), -ENOBUFS);
	wait_durable(s, 2 * n);
	assert_true(enqueue(s, 1, 2 * n, 1000, &loc) > 0); /* room again */
	lp_store_stats(s, &st);
	assert_int_equal(st.enobufs, 2);
	assert_int_equal(lp_store_close(s), 0);  /* flushes the last one */
	s = open_store(f);
	assert_int_equal(f->n_got, 2 * n + 1);
	assert_int_equal(lp_store_close(s), 0);
}

static void recover_after_clean_close(void **state)
{
	struct fx *f = *state;
	struct lp_store_loc loc[40];
	struct lp_store_recovery rec;
	struct lp_store_stats st;
	struct lp_store *s = open_store(f);
	int64_t t = 0;

	/* Queue 1: 0..19, 5 and 7 settled. Queue 2: 0..9, purged, then 10..19.
	 * Queue 3: 0..4, deleted. Settle 3 of queue 2 before its purge: gone anyway. */
	for (unsigned i = 0; i < 20; i++)
		t = enqueue(s, 1, i, 100 + i, &loc[i]);
	for (unsigned i = 0; i < 10; i++)
		t = enqueue(s, 2, i, 50, &loc[20 + i]);
	wait_durable(s, (uint64_t)t);
	t = lp_store_settle(s, 1, 5, &loc[5]);
	t = lp_store_settle(s, 1, 7, &loc[7]);
	t = lp_store_settle(s, 2, 3, &loc[23]);
	t = lp_store_purge(s, 2);
	for (unsigned i = 0; i < 10; i++)
		if (i != 3)
			lp_store_release(s, &loc[20 + i]);
	for (unsigned i = 10; i < 20; i++)
		t = enqueue(s, 2, i, 50, &loc[20 + i - 10]);
	for (unsigned i = 0; i < 5; i++)
		t = enqueue(s, 3, i, 10, &loc[30 + i]);
	t = lp_store_queue_delete(s, 3);
	assert_true(t > 0);
	assert_int_equal(lp_store_close(s), 0);

	/* The read-only scan and the reopening see the same. */
	f->n_got = 0;
	assert_int_equal(lp_store_recover(f->shard_dir, on_recover, f, &rec), 0);
	assert_int_equal(rec.live, 28);
	assert_int_equal(rec.torn_tails, 0);
	assert_int_equal(rec.last_epoch, 1);
	assert_int_equal(f->n_got, 28);
	s = open_store(f);
	assert_int_equal(f->n_got, 28);
	unsigned k = 0;
	for (unsigned i = 0; i < 20; i++) {
		if (i == 5 || i == 7)
			continue;
		assert_int_equal(f->got[k].queue, 1);
		assert_int_equal(f->got[k].seq, i);
		assert_int_equal(f->got[k].len, 100 + i);
		assert_int_equal(f->got[k].first, i);
		k++;
	}
	for (unsigned i = 10; i < 20; i++, k++) {
		assert_int_equal(f->got[k].queue, 2);
		assert_int_equal(f->got[k].seq, i);
	}
	lp_store_stats(s, &st);
	assert_int_equal(st.epoch, 2);
	assert_int_equal(st.live_records, 28);
	assert_int_equal(lp_store_close(s), 0);
}

/* Three flushes of 10 records; loc of each flush's first record. */
static void three_flushes(struct fx *f, struct lp_store_loc first[3])
{
	struct lp_store *s = open_store(f);
	struct lp_store_loc loc;
	int64_t t = 0;

	for (unsigned b = 0; b < 3; b++) {
		for (unsigned i = 0; i < 10; i++) {
			t = enqueue(s, 1, b * 10 + i, 200, &loc);
			if (i == 0)
				first[b] = loc;
		}
		wait_durable(s, (uint64_t)t);
	}
	assert_int_equal(lp_store_close(s), 0);
}

static void recover_torn_tail(void **state)
{
	struct fx *f = *state;
	struct lp_store_loc first[3];
	struct lp_store_recovery rec;
	struct lp_store *s;
	char path[160];

	three_flushes(f, first);
	/* The last block's second half never reached the disk (torn at a
	 * sector): recovery keeps the first two flushes. */
	uint64_t last_block = first[2].off - LP_JBLOCK_HDR_SIZE;
	patch_file(f, first[2].seg, last_block + 1024, 0xff);
	f->n_got = 0;
	assert_int_equal(lp_store_recover(f->shard_dir, on_recover, f, &rec), 0);
	assert_int_equal(rec.torn_tails, 1);
	assert_int_equal(f->n_got, 20);
	assert_int_equal(f->got[19].seq, 19);
	/* The new epoch goes on in a new segment; the torn block stays out. */
	s = open_store(f);
	assert_int_equal(f->n_got, 20);
	struct lp_store_loc loc;
	int64_t t = enqueue(s, 1, 100, 10, &loc);
	assert_true(loc.seg > first[2].seg);
	wait_durable(s, (uint64_t)t);
	assert_int_equal(lp_store_close(s), 0);
	s = open_store(f);
	assert_int_equal(f->n_got, 21);
	assert_int_equal(f->got[20].seq, 100);
	assert_int_equal(lp_store_close(s), 0);

	/* Losing a confirmed block at the end of a segment (the second one, cut
	 * off) is an error: the next segment's blocks do not continue. */
	seg_path(f, first[1].seg, path, sizeof(path));
	assert_int_equal(truncate(path, (off_t)(first[1].off - LP_JBLOCK_HDR_SIZE)), 0);
	assert_int_equal(lp_store_recover(f->shard_dir, NULL, NULL, &rec), -EBADMSG);
	assert_non_null(strstr(rec.error, "does not continue"));
}

static void recover_truncated_tail(void **state)
{
	struct fx *f = *state;
	struct lp_store_loc first[3];
	struct lp_store_recovery rec;
	char path[160];

	/* The file ends in the middle of the last block (a torn append). */
	three_flushes(f, first);
	seg_path(f, first[2].seg, path, sizeof(path));
	assert_int_equal(truncate(path, (off_t)(first[2].off + 1000)), 0);
	f->n_got = 0;
	assert_int_equal(lp_store_recover(f->shard_dir, on_recover, f, &rec), 0);
	assert_int_equal(rec.torn_tails, 1);
	assert_int_equal(f->n_got, 20);
}

static void recover_damage_is_an_error(void **state)
{
	struct fx *f = *state;
	struct lp_store_loc first[3];
	struct lp_store_recovery rec;
	char name[32], where[64];

	three_flushes(f, first);
	uint64_t mid_block = first[1].off - LP_JBLOCK_HDR_SIZE;
	patch_file(f, first[1].seg, first[1].off + 40, 0x04);   /* a bit flip in a payload */
	assert_int_equal(lp_store_recover(f->shard_dir, NULL, NULL, &rec), -EBADMSG);
	snprintf(name, sizeof(name), "%010u.seg", first[1].seg);
	snprintf(where, sizeof(where), "offset %llu", (unsigned long long)mid_block);
	assert_non_null(strstr(rec.error, name));
	assert_non_null(strstr(rec.error, where));
	assert_null(lp_store_open(&f->cfg, NULL, NULL, &rec));
	assert_int_equal(errno, EBADMSG);
	assert_non_null(strstr(rec.error, where));
}

static void settled_segments_deleted(void **state)
{
	struct fx *f = *state;
	struct lp_store_loc loc[200], keep;
	struct lp_store_stats st;
	struct lp_store *s;
	int64_t t = 0;

	f->cfg.segment_bytes = 32768;   /* 8 blocks of 4 KiB */
	f->cfg.max_segments = 256;
	s = open_store(f);
	/* One 3 KiB message per block: a segment every 8 flushes. */
	t = enqueue(s, 9, 0, 3000, &keep);  /* stays: its segment stays */
	wait_durable(s, (uint64_t)t);
	for (unsigned i = 0; i < 200; i++) {
		t = enqueue(s, 1, i, 3000, &loc[i]);
		wait_durable(s, (uint64_t)t);
	}
	lp_store_stats(s, &st);
	assert_true(st.segments >= 25);
	assert_int_equal(count_segment_files(f->shard_dir), st.segments);
	uint32_t before = st.segments;
	/* Settle every message but keep: the settles refer back only to their
	 * own or the previous segment, so everything after the first segment goes
	 * (except the current one). */
	for (unsigned i = 0; i < 200; i++) {
		t = lp_store_settle(s, 1, i, &loc[i]);
		if (t == -ENOBUFS) {
			wait_durable(s, lp_store_durable(s) + 1);
			t = lp_store_settle(s, 1, i, &loc[i]);
		}
		assert_true(t > 0);
	}
	wait_durable(s, (uint64_t)t);
	assert_int_equal(lp_store_poll(s, NULL, 0), 0);
	lp_store_stats(s, &st);
	assert_true(st.segments_deleted > 0);
	assert_true(st.segments < before);
	assert_int_equal(st.live_records, 1);
	assert_int_equal(count_segment_files(f->shard_dir), st.segments);
	assert_int_equal(lp_store_close(s), 0);
	/* After a restart none of the settled messages comes back. */
	s = open_store(f);
	assert_int_equal(f->n_got, 1);
	assert_int_equal(f->got[0].queue, 9);
	keep = f->got[0].loc;
	/* Settle the last one: the old segments all go. */
	t = lp_store_settle(s, 9, 0, &keep);
	wait_durable(s, (uint64_t)t);
	assert_int_equal(lp_store_poll(s, NULL, 0), 0);
	lp_store_stats(s, &st);
	assert_int_equal(st.live_records, 0);
	assert_int_equal(st.segments, 1);
	assert_int_equal(count_segment_files(f->shard_dir), 1);
	assert_int_equal(lp_store_close(s), 0);
	s = open_store(f);
	assert_int_equal(f->n_got, 0);
	assert_int_equal(lp_store_close(s), 0);
}

static void settle_keeps_older_segment_alive(void **state)
{
	struct fx *f = *state;
	struct lp_store_loc a, b, c;
	struct lp_store_stats st;
	struct lp_store *s;
	int64_t t;

	/* a and b in segment 1; c in segment 2, which also settles b. Segment 2
	 * must stay while segment 1 (with a) stays, or b would come back. */
	f->cfg.segment_bytes = 8192;    /* two blocks */
	s = open_store(f);
	t = enqueue(s, 1, 0, 100, &a);
	t = enqueue(s, 1, 1, 100, &b);
	wait_durable(s, (uint64_t)t);
	t = enqueue(s, 1, 2, 5000, &c);  /* two units: does not fit, new segment */
	assert_int_not_equal(c.seg, a.seg);
	t = lp_store_settle(s, 1, 1, &b);
	wait_durable(s, (uint64_t)t);
	t = lp_store_settle(s, 1, 2, &c); /* segment of c drained, but it settles b */
	wait_durable(s, (uint64_t)t);
	/* Force a roll-over so that c's segment is not the current one. */
	t = enqueue(s, 2, 0, 5000, &b);
	wait_durable(s, (uint64_t)t);
	lp_store_poll(s, NULL, 0);
	lp_store_stats(s, &st);
	assert_int_equal(st.live_records, 2);
	assert_int_equal(lp_store_close(s), 0);
	s = open_store(f);
	assert_int_equal(f->n_got, 2);
	assert_int_equal(f->got[0].seq, 0);
	assert_int_equal(f->got[1].queue, 2);
	assert_int_equal(lp_store_close(s), 0);
}

static void read_back(void **state)
{
	struct fx *f = *state;
	struct lp_store_read_done done[4];
	struct lp_store_loc loc[3];
	struct lp_store *s = open_store(f);
	static uint8_t dst[3][8192];
	int64_t t = 0;
	int n, got = 0;

	for (unsigned i = 0; i < 3; i++)
		t = enqueue(s, 4, 10 + i, 1000 * (i + 1), &loc[i]);
	assert_int_equal(lp_store_read(s, &loc[0], dst[0], sizeof(dst[0]), 1), -EAGAIN);
	wait_durable(s, (uint64_t)t);
	assert_int_equal(lp_store_read(s, &loc[0], dst[0], 10, 1), -EINVAL);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(lp_store_read(s, &loc[i], dst[i], sizeof(dst[i]), 100 + i), 0);
	for (int spins = 0; got < 3 && spins < 100000; spins++) {
		assert_true(lp_store_flush(s) >= 0);  /* submits the reads */
		n = lp_store_poll(s, done, 4);
		assert_true(n >= 0);
		for (int k = 0; k < n; k++, got++) {
			unsigned i = (unsigned)(done[k].cookie - 100);

			assert_true(i < 3);
			assert_int_equal(done[k].res, 0);
			assert_int_equal(done[k].queue, 4);
			assert_int_equal(done[k].seq, 10 + i);
			assert_int_equal(done[k].len, 1000 * (i + 1));
			assert_ptr_equal(done[k].msg, dst[i] + LP_JREC_HDR_SIZE);
			assert_int_equal(((const uint8_t *)done[k].msg)[done[k].len - 1], 10 + i);
		}
		usleep(20);
	}
	assert_int_equal(got, 3);
	struct lp_store_loc nowhere = loc[0];
	nowhere.seg = 999;
	assert_int_equal(lp_store_read(s, &nowhere, dst[0], sizeof(dst[0]), 1), -ENOENT);
	/* A record damaged on disk comes back as -EBADMSG. */
	patch_file(f, loc[1].seg, loc[1].off + 100, 1);
	assert_int_equal(lp_store_read(s, &loc[1], dst[1], sizeof(dst[1]), 7), 0);
	got = 0;
	for (int spins = 0; got < 1 && spins < 100000; spins++) {
		lp_store_flush(s);
		n = lp_store_poll(s, done, 4);
		if (n == 1) {
			assert_int_equal(done[0].cookie, 7);
			assert_int_equal(done[0].res, -EBADMSG);
			got = 1;
		}
		usleep(20);
	}
	assert_int_equal(got, 1);
	assert_int_equal(lp_store_close(s), 0);
}

static void fail_stop(struct fx *f, enum lp_store_op op, const char *word)
{
	struct lp_store_loc loc;
	struct lp_store *s = open_store(f);
	int64_t t;
	int rc = 0;

	t = enqueue(s, 1, 0, 64, &loc);
	wait_durable(s, (uint64_t)t);
	lp_store_fail_next(s, op, EIO);
	enqueue(s, 1, 1, 64, &loc);
	assert_int_equal(lp_store_flush(s), 1);
	for (int spins = 0; rc == 0 && spins < 100000; spins++) {
		rc = lp_store_poll(s, NULL, 0);
		usleep(20);
	}
	assert_int_equal(rc, -EIO);
	assert_int_equal(lp_store_durable(s), (uint64_t)t);   /* never confirmed */
	assert_int_equal(lp_store_error(s), -EIO);
	assert_non_null(strstr(lp_store_error_msg(s), word));
	/* Every later call refuses. */
	assert_int_equal(enqueue(s, 1, 2, 64, &loc), -EIO);
	assert_int_equal(lp_store_settle(s, 1, 0, &loc), -EIO);
	assert_int_equal(lp_store_flush(s), -EIO);
	assert_int_equal(lp_store_poll(s, NULL, 0), -EIO);
	assert_int_equal(lp_store_read(s, &loc, NULL, 0, 0), -EIO);
	assert_int_equal(lp_store_close(s), -EIO);
}

static void fsync_error_fails_stop(void **state)
{
	fail_stop(*state, LP_STORE_OP_SYNC, "fdatasync");
}

static void write_error_fails_stop(void **state)
{
	fail_stop(*state, LP_STORE_OP_WRITE, "write of");
}

/*
 * The injected faults (lp_store_config.fault_*, the dataplane's
 * --store-fault): the torn write leaves half of its block on disk and fails
 * the store; recovery drops that block as a torn tail and returns exactly the
 * confirmed records. The fsync fault fails the numbered flush only.
 */
static void injected_torn_write_and_fsync_error(void **state)
{
	struct fx *f = *state;
	struct lp_store_loc loc;
	struct lp_store_recovery rec;
	struct lp_store *s;
	int64_t t;
	int rc = 0;

	f->cfg.fault_torn_write_at = 2;
	s = open_store(f);
	t = enqueue(s, 1, 0, 300, &loc);
	wait_durable(s, (uint64_t)t); /* flush 1 */
	enqueue(s, 1, 1, 300, &loc);
	enqueue(s, 1, 2, 300, &loc);
	assert_int_equal(lp_store_flush(s), -EIO); /* flush 2: torn */
	assert_non_null(strstr(lp_store_error_msg(s), "torn write"));
	assert_int_equal(lp_store_durable(s), (uint64_t)t);
	assert_int_equal(lp_store_close(s), -EIO);

	f->cfg.fault_torn_write_at = 0;
	f->n_got = 0;
	s = lp_store_open(&f->cfg, on_recover, f, &rec);
	assert_non_null(s);
	assert_int_equal(rec.torn_tails, 1);
	assert_int_equal(f->n_got, 1); /* the confirmed one alone */
	assert_int_equal(f->got[0].seq, 0);
	assert_int_equal(lp_store_close(s), 0);

	f->cfg.fault_sync_eio_at = 2;
	s = open_store(f);
	t = enqueue(s, 2, 0, 64, &loc);
	wait_durable(s, (uint64_t)t); /* flush 1 */
	enqueue(s, 2, 1, 64, &loc);
	assert_int_equal(lp_store_flush(s), 1);
	for (int spins = 0; rc == 0 && spins < 100000; spins++) {
		rc = lp_store_poll(s, NULL, 0);
		usleep(20);
	}
	assert_int_equal(rc, -EIO);
	assert_non_null(strstr(lp_store_error_msg(s), "fdatasync"));
	assert_int_equal(lp_store_durable(s), (uint64_t)t);
	assert_int_equal(lp_store_close(s), -EIO);
	f->cfg.fault_sync_eio_at = 0;
}

/* The disk free alarm's measure: some octets free in the test directory,
 * an error for a directory that is not there. */
static void disk_free_is_measured(void **state)
{
	struct fx *f = *state;
	uint64_t n = 0;

	assert_int_equal(lp_store_disk_free(f->data_dir, &n), 0);
	assert_true(n > 0);
	assert_int_equal(lp_store_disk_free("/nonexistent/lepus", &n), -ENOENT);
}

static void config_refused(void **state)
{
	struct fx *f = *state;
	struct lp_store_config c = f->cfg;

	c.segment_bytes = 5000;
	assert_null(lp_store_open(&c, NULL, NULL, NULL));
	assert_int_equal(errno, EINVAL);
	c = f->cfg;
	c.buffer_bytes = 4096;
	assert_null(lp_store_open(&c, NULL, NULL, NULL));
	assert_int_equal(errno, EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(durable_after_flush_and_poll, setup, teardown),
		cmocka_unit_test_setup_teardown(full_buffer_enobufs, setup, teardown),
		cmocka_unit_test_setup_teardown(recover_after_clean_close, setup, teardown),
		cmocka_unit_test_setup_teardown(recover_torn_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(recover_truncated_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(recover_damage_is_an_error, setup, teardown),
		cmocka_unit_test_setup_teardown(settled_segments_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(settle_keeps_older_segment_alive, setup, teardown),
		cmocka_unit_test_setup_teardown(read_back, setup, teardown),
		cmocka_unit_test_setup_teardown(fsync_error_fails_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(injected_torn_write_and_fsync_error, setup, teardown),
		cmocka_unit_test_setup_teardown(disk_free_is_measured, setup, teardown),
		cmocka_unit_test_setup_teardown(write_error_fails_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(config_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
