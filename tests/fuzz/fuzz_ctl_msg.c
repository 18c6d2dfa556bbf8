/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the control protocol decoder (api/lp_ctl_msg.c), the
 * code that parses whatever a peer writes to lepus-control's socket.
 * Besides memory safety (ASan, UBSan) it checks one property: the encoding is
 * canonical, so every datagram lp_ctl_decode() accepts re-encodes to exactly
 * the same bytes. Crashes found become named seeds in tests/fuzz/corpus/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lp_ctl.h"

static struct lp_ctl_msg msg;
static uint8_t out[LP_CTL_MSG_MAX];
static uint64_t rows[LP_CTL_MSG_MAX / 8];
/* a QUEUE_STATS record takes at least 62 octets */
static struct lp_ctl_queue_stat qrows[LP_CTL_MSG_MAX / 62 + 1];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (lp_ctl_decode(data, size, &msg) != 0)
		return 0;
	if (msg.type == LP_CTL_STATS) {
		struct lp_ctl_stats *s = &msg.stats;
		unsigned stride = LP_CTL_STAT_DROP0 + s->n_reasons;
		for (unsigned w = 0; w < s->n_workers; w++)
			for (unsigned i = 0; i < stride; i++)
				rows[(size_t)w * stride + i] = lp_ctl_stats_get(s, w, i);
		s->rows = rows;
	}
	if (msg.type == LP_CTL_QUEUE_STATS) {
		size_t off = 0;
		unsigned k = 0;

		while (k < msg.queue_stats.n && lp_ctl_queue_stats_next(&msg.queue_stats, &off, &qrows[k]))
			k++;
		if (k != msg.queue_stats.n)
			abort(); /* decoded records the iterator cannot read back */
		msg.queue_stats.rows = qrows;
	}
	ssize_t n = lp_ctl_encode(out, sizeof(out), &msg);
	if (n < 0 || (size_t)n != size || memcmp(out, data, size) != 0)
		abort(); /* accepted but not canonical: decoder and encoder disagree */
	return 0;
}
