/* SPDX-License-Identifier: MIT */
/*
 * Allocation counting on worker lcores (see alloc_count.h): the link-time
 * wrappers __wrap_<allocator> forward to __real_<allocator> and, on a thread
 * that armed counting, count the call for its lcore and record where it came
 * from. Test build only (lepus-dataplane-alloccount, tests/unit/dataplane).
 *
 * Each lcore writes only its own struct lcore_allocs; the main lcore reads
 * them all in lp_alloc_count_report() once the workers have returned. A call
 * site is the chain of the first KEY_DEPTH return addresses above the
 * wrapper, so one growth helper called from two places shows as two sites.
 */
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <rte_common.h>
#include <rte_lcore.h>

#include "alloc_count.h"

#define SITES_MAX 64   /* distinct sites recorded per lcore */
#define KEY_DEPTH 3    /* return addresses that tell two sites apart */
#define TRACE_DEPTH 8  /* return addresses shown per site */
#define SKIP_MAX 4     /* frames of alloc_count.c itself, at most */

struct site {
	const char *fn;
	uint64_t count;
	int depth;
	void *trace[TRACE_DEPTH];
};

struct lcore_allocs {
	bool armed_once;
	uint64_t total;
	uint64_t unlisted; /* counted beyond the first SITES_MAX sites */
	unsigned n_sites;
	struct site sites[SITES_MAX];
} __rte_cache_aligned;

static struct lcore_allocs counts[RTE_MAX_LCORE];
/* The calling thread's counters while it is armed, else NULL. */
static __thread struct lcore_allocs *armed;
/* Set inside count_call(): backtrace() may allocate inside libc. */
static __thread bool inside;

/* backtrace() loads libgcc_s on its first call: do that before any worker runs. */
__attribute__((constructor)) static void prime_backtrace(void)
{
	void *f[2];

	(void)backtrace(f, 2);
}

int lp_alloc_count_arm(void)
{
	unsigned lcore = rte_lcore_id();

	if (lcore >= RTE_MAX_LCORE)
		return -EINVAL;
	if (lcore == rte_get_main_lcore())
		return -EPERM;
	counts[lcore].armed_once = true;
	armed = &counts[lcore];
	return 0;
}

void lp_alloc_count_disarm(void)
{
	armed = NULL;
}

uint64_t lp_alloc_count_get(unsigned lcore_id)
{
	return lcore_id < RTE_MAX_LCORE ? counts[lcore_id].total : 0;
}

static bool same_site(const struct site *s, void *const *trace, int depth)
{
	int n = depth < KEY_DEPTH ? depth : KEY_DEPTH;

	if (s->depth < n)
		return false;
	return memcmp(s->trace, trace, (size_t)n * sizeof(*trace)) == 0;
}

/*
 * Count one call of fn made from the return address site. The trace starts
 * at site: the frames of this file above it are skipped (however the
 * compiler split or inlined them).
 */
__attribute__((noinline)) static void count_call(const char *fn, void *site)
{
	struct lcore_allocs *c = armed;
	void *raw[TRACE_DEPTH + SKIP_MAX], **trace = raw;
	int depth, n, skip = 0;

	if (c == NULL || inside)
		return;
	inside = true;
	c->total++;
	n = backtrace(raw, TRACE_DEPTH + SKIP_MAX);
	while (skip < n && skip < SKIP_MAX && raw[skip] != site)
		skip++;
	if (skip < n && raw[skip] == site) {
		trace = raw + skip;
		depth = n - skip < TRACE_DEPTH ? n - skip : TRACE_DEPTH;
	} else {
		/* No unwind information: the call site alone. */
		raw[0] = site;
		depth = 1;
	}
	for (unsigned i = 0; i < c->n_sites; i++) {
		if (c->sites[i].fn == fn && same_site(&c->sites[i], trace, depth)) {
			c->sites[i].count++;
			inside = false;
			return;
		}
	}
	if (c->n_sites < SITES_MAX) {
		struct site *s = &c->sites[c->n_sites++];

		s->fn = fn;
		s->count = 1;
		s->depth = depth;
		memcpy(s->trace, trace, (size_t)depth * sizeof(*trace));
	} else {
		c->unlisted++;
	}
	inside = false;
}

static void print_frame(FILE *f, void *ret)
{
	/* A return address follows its call: name the call instruction. */
	uintptr_t pc = (uintptr_t)ret - 1;
	Dl_info info;

	if (dladdr((void *)pc, &info) == 0 || info.dli_fname == NULL) {
		fprintf(f, " ? [?+0x%" PRIxPTR "]", pc);
		return;
	}
	if (info.dli_sname != NULL)
		fprintf(f, " %s+0x%" PRIxPTR, info.dli_sname, pc - (uintptr_t)info.dli_saddr);
	else
		fprintf(f, " ?");
	fprintf(f, " [%s+0x%" PRIxPTR "]", info.dli_fname, pc - (uintptr_t)info.dli_fbase);
}

void lp_alloc_count_report(FILE *f)
{
	bool any = false;

	fprintf(f, "worker allocations after start-up:");
	for (unsigned l = 0; l < RTE_MAX_LCORE; l++) {
		if (!counts[l].armed_once)
			continue;
		fprintf(f, "%s lcore %u: %" PRIu64, any ? "," : "", l, counts[l].total);
		any = true;
	}
	fprintf(f, "%s\n", any ? "" : " none armed");
	for (unsigned l = 0; l < RTE_MAX_LCORE; l++) {
		struct lcore_allocs *c = &counts[l];
		bool shown[SITES_MAX] = {false};

		/* Most frequent first: SITES_MAX is small. */
		for (unsigned k = 0; k < c->n_sites; k++) {
			unsigned best = SITES_MAX;

			for (unsigned i = 0; i < c->n_sites; i++)
				if (!shown[i] && (best == SITES_MAX || c->sites[i].count > c->sites[best].count))
					best = i;
			shown[best] = true;
			fprintf(f, "worker allocation site: lcore %u: %" PRIu64 " x %s at", l,
				c->sites[best].count, c->sites[best].fn);
			for (int d = 0; d < c->sites[best].depth; d++) {
				if (d > 0)
					fprintf(f, " <-");
				print_frame(f, c->sites[best].trace[d]);
			}
			fprintf(f, "\n");
		}
		if (c->unlisted > 0)
			fprintf(f, "worker allocation site: lcore %u: %" PRIu64 " x (beyond the first %d sites)\n",
				l, c->unlisted, SITES_MAX);
	}
	fflush(f);
}

/* The wrapped allocators: what lp_alloc_count_link_args lists. */
void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__real_aligned_alloc(size_t align, size_t size);
int __real_posix_memalign(void **p, size_t align, size_t size);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__real_rte_malloc(const char *type, size_t size, unsigned align);
void *__real_rte_zmalloc(const char *type, size_t size, unsigned align);
void *__real_rte_calloc(const char *type, size_t n, size_t size, unsigned align);
void *__real_rte_realloc(void *p, size_t size, unsigned align);
void *__real_rte_malloc_socket(const char *type, size_t size, unsigned align, int socket);
void *__real_rte_zmalloc_socket(const char *type, size_t size, unsigned align, int socket);
void *__real_rte_calloc_socket(const char *type, size_t n, size_t size, unsigned align, int socket);
void *__real_rte_realloc_socket(void *p, size_t size, unsigned align, int socket);

void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
void *__wrap_aligned_alloc(size_t align, size_t size);
int __wrap_posix_memalign(void **p, size_t align, size_t size);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
void *__wrap_rte_malloc(const char *type, size_t size, unsigned align);
void *__wrap_rte_zmalloc(const char *type, size_t size, unsigned align);
void *__wrap_rte_calloc(const char *type, size_t n, size_t size, unsigned align);
void *__wrap_rte_realloc(void *p, size_t size, unsigned align);
void *__wrap_rte_malloc_socket(const char *type, size_t size, unsigned align, int socket);
void *__wrap_rte_zmalloc_socket(const char *type, size_t size, unsigned align, int socket);
void *__wrap_rte_calloc_socket(const char *type, size_t n, size_t size, unsigned align, int socket);
void *__wrap_rte_realloc_socket(void *p, size_t size, unsigned align, int socket);

void *__wrap_malloc(size_t size)
{
	count_call("malloc", __builtin_return_address(0));
	return __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
	count_call("calloc", __builtin_return_address(0));
	return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
	count_call("realloc", __builtin_return_address(0));
	return __real_realloc(p, size);
}

void *__wrap_aligned_alloc(size_t align, size_t size)
{
	count_call("aligned_alloc", __builtin_return_address(0));
	return __real_aligned_alloc(align, size);
}

int __wrap_posix_memalign(void **p, size_t align, size_t size)
{
	count_call("posix_memalign", __builtin_return_address(0));
	return __real_posix_memalign(p, align, size);
}

char *__wrap_strdup(const char *s)
{
	count_call("strdup", __builtin_return_address(0));
	return __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
	count_call("strndup", __builtin_return_address(0));
	return __real_strndup(s, n);
}

void *__wrap_rte_malloc(const char *type, size_t size, unsigned align)
{
	count_call("rte_malloc", __builtin_return_address(0));
	return __real_rte_malloc(type, size, align);
}

void *__wrap_rte_zmalloc(const char *type, size_t size, unsigned align)
{
	count_call("rte_zmalloc", __builtin_return_address(0));
	return __real_rte_zmalloc(type, size, align);
}

void *__wrap_rte_calloc(const char *type, size_t n, size_t size, unsigned align)
{
	count_call("rte_calloc", __builtin_return_address(0));
	return __real_rte_calloc(type, n, size, align);
}

void *__wrap_rte_realloc(void *p, size_t size, unsigned align)
{
	count_call("rte_realloc", __builtin_return_address(0));
	return __real_rte_realloc(p, size, align);
}

void *__wrap_rte_malloc_socket(const char *type, size_t size, unsigned align, int socket)
{
	count_call("rte_malloc_socket", __builtin_return_address(0));
	return __real_rte_malloc_socket(type, size, align, socket);
}

void *__wrap_rte_zmalloc_socket(const char *type, size_t size, unsigned align, int socket)
{
	count_call("rte_zmalloc_socket", __builtin_return_address(0));
	return __real_rte_zmalloc_socket(type, size, align, socket);
}

void *__wrap_rte_calloc_socket(const char *type, size_t n, size_t size, unsigned align, int socket)
{
	count_call("rte_calloc_socket", __builtin_return_address(0));
	return __real_rte_calloc_socket(type, n, size, align, socket);
}

void *__wrap_rte_realloc_socket(void *p, size_t size, unsigned align, int socket)
{
	count_call("rte_realloc_socket", __builtin_return_address(0));
	return __real_rte_realloc_socket(p, size, align, socket);
}
