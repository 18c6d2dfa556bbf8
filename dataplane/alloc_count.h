/* SPDX-License-Identifier: MIT */
/*
 * Allocation counting on worker lcores: the check of DESIGN.md's invariant
 * "worker lcores never call malloc after start-up" (issue 12).
 *
 * Only in the test build `lepus-dataplane-alloccount` (and its unit test),
 * which compiles main.c with -DLP_ALLOC_COUNT, links alloc_count.c and wraps
 * the allocators at link time (lp_alloc_count_link_args in
 * dataplane/meson.build: -Wl,--wrap=malloc,... and the rte_malloc family).
 * Every call that our own objects make to a wrapped allocator goes through
 * alloc_count.c, which forwards it to the real one and, when the calling
 * thread is a worker lcore that has armed counting, counts it for that lcore
 * and records its call site. Allocations made inside libc or DPDK's shared
 * libraries on our behalf (a qsort, an rte_ring_create) are not seen: the
 * wrap only redirects references from the objects being linked.
 *
 * Data flow: worker_loop() in main.c calls lp_alloc_count_arm() once, before
 * its first poll (start-up is over); the main lcore calls
 * lp_alloc_count_report() after every worker has returned. In the normal
 * build both are empty inline functions.
 */
#pragma once

#include <stdint.h>
#include <stdio.h>

#ifdef LP_ALLOC_COUNT

/*
 * Start counting the allocations of the calling thread. Returns 0 when the
 * caller is a worker lcore (an EAL lcore other than the main one), -EPERM for
 * the main lcore and -EINVAL for a thread that is no EAL lcore; nothing is
 * counted for those.
 */
int lp_alloc_count_arm(void);

/* Stop counting for the calling thread (counts are kept). */
void lp_alloc_count_disarm(void);

/* Allocations counted on lcore_id since it first armed (0 if it never did). */
uint64_t lp_alloc_count_get(unsigned lcore_id);

/*
 * Print, for every lcore that armed, its count on one line:
 *   worker allocations after start-up: lcore 1: 0, lcore 2: 3
 * ("worker allocations after start-up: none armed" if no lcore armed), then
 * one line per recorded call site, most frequent first:
 *   worker allocation site: lcore 2: 3 x realloc at lp_broker_send+0x4c
 *     [/path/lepus-dataplane-alloccount+0x1234] <- ... [module+offset] ...
 * Each frame is a return address minus one (inside the call instruction), as
 * an offset into its module for addr2line -e module offset. Call only when no
 * armed lcore is running.
 */
void lp_alloc_count_report(FILE *f);

#else

static inline int lp_alloc_count_arm(void)
{
	return 0;
}

static inline void lp_alloc_count_disarm(void)
{
}

static inline uint64_t lp_alloc_count_get(unsigned lcore_id)
{
	(void)lcore_id;
	return 0;
}

static inline void lp_alloc_count_report(FILE *f)
{
	(void)f;
}

#endif
