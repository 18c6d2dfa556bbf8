/* SPDX-License-Identifier: MIT */
/*
 * Queues' live state from the dataplane's QUEUE_STATS messages
 * (queue_stats.c).
 */
#pragma once

#include <stdint.h>

#include "definitions.h"
#include "lp_ctl.h"

/* Update the queues of d that the decoded message s names, at now_ns
 * (lepus-control's CLOCK_MONOTONIC). Returns how many were found. */
unsigned lp_queue_stats_apply(struct lp_defs *d, const struct lp_ctl_queue_stats *s, uint64_t now_ns);
