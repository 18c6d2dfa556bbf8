/* SPDX-License-Identifier: MIT */
/*
 * Fault injection on a port's packet path, in both directions: drop,
 * duplicate and reorder packets with given probabilities, from a seeded PRNG
 * so that a failing run can be repeated. The kernel here has no netem; every
 * loss test goes through this.
 *
 * Switched on with the dataplane option --fault drop=P,dup=P,reorder=P,seed=N
 * (P in [0,1]). State is per queue and per direction: no sharing between workers.
 */
#pragma once

#include <stdint.h>

#include <rte_mbuf.h>

struct lp_fault_config {
	double drop;     /* probability a packet is dropped */
	double dup;      /* probability a packet is sent/received twice */
	double reorder;  /* probability a packet is held back and released later */
	uint64_t seed;
};

struct lp_fault_stats {
	uint64_t dropped;
	uint64_t duplicated;
	uint64_t reordered;
};

/*
 * Parse "drop=P,dup=P,reorder=P,seed=N" (any subset, any order).
 * Returns 0, or -EINVAL for an unknown key, a malformed number or P outside [0,1].
 */
int lp_fault_parse(const char *s, struct lp_fault_config *cfg);

/* True when any probability is non-zero. */
int lp_fault_enabled(const struct lp_fault_config *cfg);
