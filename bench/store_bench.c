/* SPDX-License-Identifier: MIT */
/*
 * store-bench: the shard journal's group commit (dataplane/store/) on this
 * machine's disk, without the broker. A loop like a worker's poll loop
 * appends a burst of records (as if a burst of publishes arrived), calls
 * lp_store_flush and lp_store_poll, and never waits. Reports records/s,
 * flushes/s, records per flush and the commit latency of a flush (its write
 * and fdatasync, submit to durable) at p50/p99; and, for reference, the
 * latency of a plain pwrite(4 KiB) + fdatasync loop on the same file system.
 * Data goes to a fresh directory under /tmp (or -d DIR), removed at the end.
 *
 * Then the journal is recovered as a restarting worker would (every block
 * and record checked, the live records handed over): its time and s/GiB,
 * with the page cache warm or, with -C (root), dropped first.
 *
 *   store-bench [-n records] [-s size] [-b burst] [-r rate] [-d dir] [-C]
 *   (default: 2000000 records of 64 B, then 50000 of 4 KiB; burst 256;
 *   -r paces arrivals at rate records/s, default as fast as the store takes)
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lp_store.h"

#define MAX_SAMPLES (1u << 20)

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static uint64_t pct(uint64_t *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_u64);
	return v[(size_t)(p * (double)(n - 1))];
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static uint64_t samples[MAX_SAMPLES];

static bool cold; /* -C: drop the page cache before recovery */

static int count_live(void *arg, uint32_t queue, uint64_t seq, const struct lp_store_loc *loc,
		      const void *msg, uint32_t len)
{
	uint64_t *sum = arg;

	(void)queue;
	(void)seq;
	(void)loc;
	sum[0]++;
	sum[1] += len + ((const uint8_t *)msg)[len - 1]; /* touch the payload */
	return 0;
}

/* Reopen the journal just written, as a restarting worker does: every
 * record read and checked, the live ones handed over. */
static int recover(const char *data_dir)
{
	struct lp_store_config cfg = {.data_dir = data_dir, .shard = 0};
	struct lp_store_recovery rec;
	uint64_t sum[2] = {0, 0};

	if (cold) {
		FILE *f = fopen("/proc/sys/vm/drop_caches", "w");

		sync();
		if (f == NULL || fputs("1\n", f) < 0)
			fprintf(stderr, "store-bench: cannot drop the page cache (not root?)\n");
		if (f != NULL)
			fclose(f);
	}
	uint64_t t0 = now_ns();
	struct lp_store *s = lp_store_open(&cfg, count_live, sum, &rec);
	uint64_t t1 = now_ns();

	if (s == NULL) {
		fprintf(stderr, "store-bench: recovery: %s: %s\n", strerror(errno), rec.error);
		return 1;
	}
	double secs = (double)(t1 - t0) / 1e9, gib = (double)rec.live_bytes / (1u << 30);

	printf("    recovery (%s cache): %u segments, %llu live records, %.1f MiB in %.3f s: "
	       "%.0f MB/s, %.2f s per GiB\n", cold ? "cold" : "warm", rec.segments,
	       (unsigned long long)rec.live, (double)rec.live_bytes / (1u << 20), secs,
	       (double)rec.live_bytes / secs / 1e6, gib > 0 ? secs / gib : 0.0);
	return lp_store_close(s) < 0;
}

static int run(const char *data_dir, uint64_t n, uint32_t size, unsigned burst, uint64_t rate)
{
	struct lp_store_config cfg = {.data_dir = data_dir, .shard = 0};
	struct lp_store_stats st;
	struct lp_store_loc loc;
	struct lp_store *s;
	uint64_t appended = 0, last = 0, flight_ticket = 0, t_flush = 0, t0, t1;
	size_t ns = 0;
	uint8_t *msg = malloc(size);
	struct iovec iov = {msg, size};

	memset(msg, 'x', size);
	s = lp_store_open(&cfg, NULL, NULL, NULL);
	if (s == NULL) {
		fprintf(stderr, "store-bench: lp_store_open: %s\n", strerror(errno));
		free(msg);
		return 1;
	}
	t0 = now_ns();
	while (lp_store_durable(s) < n) {
		uint64_t allowed = n;

		if (rate != 0) {
			allowed = (uint64_t)((double)(now_ns() - t0) * 1e-9 * (double)rate) + 1;
			if (allowed > n)
				allowed = n;
		}
		for (unsigned i = 0; i < burst && appended < allowed; i++) {
			int64_t t = lp_store_enqueue(s, 1, appended, &iov, 1, &loc);

			if (t == -ENOBUFS)
				break;
			if (t < 0) {
				fprintf(stderr, "store-bench: append: %s\n", strerror((int)-t));
				goto fail;
			}
			last = (uint64_t)t;
			appended++;
		}
		int rc = lp_store_flush(s);

		if (rc < 0)
			goto fail;
		if (rc == 1) {
			flight_ticket = last;
			t_flush = now_ns();
		}
		if (lp_store_poll(s, NULL, 0) < 0)
			goto fail;
		if (flight_ticket != 0 && lp_store_durable(s) >= flight_ticket) {
			if (ns < MAX_SAMPLES)
				samples[ns++] = now_ns() - t_flush;
			flight_ticket = 0;
		}
	}
	t1 = now_ns();
	lp_store_stats(s, &st);
	double secs = (double)(t1 - t0) / 1e9;
	char rate_str[24] = "max";

	if (rate != 0)
		snprintf(rate_str, sizeof(rate_str), "%llu", (unsigned long long)rate);

	printf("%6u B x %-7llu rate %-7s %9.0f records/s %8.0f flushes/s %7.1f records/flush  "
	       "%6.1f MB/s  commit (write+fdatasync) p50 %4llu us p99 %5llu us  appends refused (ENOBUFS) %llu\n",
		size, (unsigned long long)n, rate_str, (double)n / secs, (double)st.flushes / secs,
		(double)n / (double)st.flushes, (double)n * size / secs / 1e6,
		(unsigned long long)(pct(samples, ns, 0.5) / 1000),
		(unsigned long long)(pct(samples, ns, 0.99) / 1000),
		(unsigned long long)st.enobufs);
	free(msg);
	if (lp_store_close(s) < 0)
		return 1;
	return recover(data_dir);
fail:
	fprintf(stderr, "store-bench: %s\n", lp_store_error_msg(s));
	lp_store_close(s);
	free(msg);
	return 1;
}

/* pwrite 4 KiB at successive offsets + fdatasync, 500 times. */
static void raw_fdatasync(const char *dir)
{
	char path[512];
	static uint8_t page[4096] __attribute__((aligned(4096)));
	size_t ns = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/raw", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || posix_fallocate(fd, 0, 500 * 4096) != 0 || fsync(fd) < 0) {
		perror("store-bench: raw file");
		return;
	}
	for (unsigned i = 0; i < 500; i++) {
		uint64_t t = now_ns();

		if (pwrite(fd, page, sizeof(page), (off_t)i * 4096) != (ssize_t)sizeof(page) ||
		    fdatasync(fd) < 0) {
			perror("store-bench: raw write");
			break;
		}
		samples[ns++] = now_ns() - t;
	}
	close(fd);
	unlink(path);
	printf("raw pwrite 4 KiB + fdatasync (preallocated file), %zu times: p50 %llu us p99 %llu us\n",
		ns, (unsigned long long)(pct(samples, ns, 0.5) / 1000),
		(unsigned long long)(pct(samples, ns, 0.99) / 1000));
}

int main(int argc, char **argv)
{
	char dir[256] = "";
	const char *base = NULL;
	uint64_t n = 0;
	uint32_t size = 0;
	unsigned burst = 256;
	uint64_t rate = 0;
	int opt, rc = 0;

	while ((opt = getopt(argc, argv, "n:s:b:r:d:C")) != -1) {
		switch (opt) {
		case 'n': n = strtoull(optarg, NULL, 0); break;
		case 's': size = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'b': burst = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'r': rate = strtoull(optarg, NULL, 0); break;
		case 'd': base = optarg; break;
		case 'C': cold = true; break;
		default:
			fprintf(stderr, "usage: store-bench [-n records] [-s size] [-b burst] [-r rate] [-d dir] [-C]\n");
			return 2;
		}
	}
	snprintf(dir, sizeof(dir), "%s/lp-store-bench-XXXXXX", base ? base : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("store-bench: mkdtemp");
		return 1;
	}
	printf("store-bench in %s (segments 64 MiB, write buffer 2 x 4 MiB, burst %u)\n", dir, burst);
	raw_fdatasync(dir);
	if (size != 0) {
		rc |= run(dir, n ? n : 100000, size, burst, rate);
	} else {
		rc |= run(dir, n ? n : 2000000, 64, burst, rate);
		nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
		mkdir(dir, 0700);
		rc |= run(dir, n ? n / 10 : 50000, 4096, burst, rate);
	}
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	return rc;
}
