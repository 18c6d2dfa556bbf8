/* SPDX-License-Identifier: MIT */
/*
 * Status and stats in lepus-control (see ctl_server_int.h): the control
 * plane's view of the connected dataplane (its HELLO, kept by ctl_peer.c;
 * the drop reason names and the latest per-worker counters it reports), and
 * lepusctl's STATUS_REQ, answered from that view in stages (p->stage):
 * STATUS_RESP, then DROP_NAMES, then as many STATS chunks as the workers
 * need; what the cli's socket cannot take at once waits in its output queue
 * (ctl_peer.c). A response whose dataplane changed meanwhile (dp->gen) is
 * abandoned by closing the cli. The queues' QUEUE_STATS go to the
 * definitions' live state (queue_stats.c).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl_log.h"
#include "ctl_server_int.h"
#include "queue_stats.h"

void lp_status_dp_clear(struct dp_view *dp)
{
	free(dp->stats);
	uint64_t gen = dp->gen + 1;
	memset(dp, 0, sizeof(*dp));
	dp->peer = -1;
	dp->gen = gen;
}

static void on_drop_names(struct lp_ctl_server *s, struct peer *p, uint64_t now)
{
	(void)now;
	struct dp_view *dp = &s->dp;
	size_t stride = LP_CTL_STAT_DROP0 + (size_t)s->msg.drop_names.n;
	uint64_t *stats = calloc((size_t)dp->hello.n_workers * stride, sizeof(*stats));
	if (!stats) {
		lp_peer_close(s, p, "out of memory for stats");
		return;
	}
	free(dp->stats);
	dp->stats = stats;
	dp->names = s->msg.drop_names;
	dp->have_names = true;
	dp->have_stats = false;
	dp->gen++;
	lp_log(LP_LOG_DEBUG, "dataplane declared %u drop reasons", dp->names.n);
}

static void on_stats(struct lp_ctl_server *s, struct peer *p, uint64_t now)
{
	struct dp_view *dp = &s->dp;
	const struct lp_ctl_stats *st = &s->msg.stats;
	if (!dp->have_names) {
		lp_peer_close(s, p, "STATS before DROP_NAMES");
		return;
	}
	if (st->n_workers_total != dp->hello.n_workers || st->n_reasons != dp->names.n) {
		lp_peer_close(s, p, "STATS for %u workers x %u reasons, expected %u x %u",
			      st->n_workers_total, st->n_reasons, dp->hello.n_workers, dp->names.n);
		return;
	}
	unsigned stride = LP_CTL_STAT_DROP0 + st->n_reasons;
	for (unsigned r = 0; r < st->n_workers; r++)
		for (unsigned i = 0; i < stride; i++)
			dp->stats[(size_t)(st->first_worker + r) * stride + i] =
				lp_ctl_stats_get(st, r, i);
	dp->have_stats = true;
	dp->stats_rx_ns = now;
}

uint32_t lp_ctl_server_alarms(const struct lp_ctl_server *s)
{
	const struct dp_view *dp = &s->dp;
	uint32_t a = 0;

	if (dp->peer < 0 || !dp->have_stats)
		return 0;
	size_t stride = LP_CTL_STAT_DROP0 + (size_t)dp->names.n;

	for (unsigned w = 0; w < dp->hello.n_workers; w++)
		a |= (uint32_t)dp->stats[w * stride + LP_CTL_STAT_ALARMS];
	return a;
}

void lp_status_flush(struct lp_ctl_server *s, struct peer *p, uint64_t now)
{
	struct dp_view *dp = &s->dp;
	while (p->stage != RESP_NONE) {
		if (p->stage != RESP_HEAD && p->resp_gen != dp->gen) {
			lp_peer_close(s, p, "dataplane changed during a status response");
			return;
		}
		memset(&s->msg, 0, offsetof(struct lp_ctl_msg, hello));
		enum resp_stage next = p->stage;
		unsigned next_worker = p->next_worker;
		bool connected = dp->peer >= 0;
		unsigned n_workers = connected && dp->have_stats ? dp->hello.n_workers : 0;
		unsigned n_reasons = connected && dp->have_names ? dp->names.n : 0;

		switch (p->stage) {
		case RESP_HEAD: {
			s->msg.type = LP_CTL_STATUS_RESP;
			struct lp_ctl_status_resp *r = &s->msg.status_resp;
			memset(r, 0, sizeof(*r));
			r->uptime_ns = now - s->start_ns;
			r->pid = (uint32_t)getpid();
			lp_ctl_strlcpy_printable(r->version, sizeof(r->version), LP_VERSION);
			r->dp_connected = connected;
			if (connected) {
				r->dp = dp->hello;
				r->dp_connected_ns = now - dp->connected_ns;
			}
			r->stats_age_ns = n_workers ? now - dp->stats_rx_ns : UINT64_MAX;
			r->n_workers = (uint16_t)n_workers;
			r->n_reasons = (uint16_t)n_reasons;
			p->resp_gen = dp->gen;
			next = n_reasons ? RESP_NAMES : n_workers ? RESP_STATS : RESP_NONE;
			next_worker = 0;
			break;
		}
		case RESP_NAMES:
			s->msg.type = LP_CTL_DROP_NAMES;
			s->msg.drop_names = dp->names;
			next = n_workers ? RESP_STATS : RESP_NONE;
			break;
		case RESP_STATS: {
			unsigned per = lp_ctl_stats_workers_per_msg(n_reasons);
			unsigned n = n_workers - p->next_worker;
			if (n > per)
				n = per;
			s->msg.type = LP_CTL_STATS;
			s->msg.stats = (struct lp_ctl_stats){
				.time_ns = dp->stats_rx_ns,
				.n_workers_total = (uint16_t)n_workers,
				.first_worker = (uint16_t)p->next_worker,
				.n_workers = (uint16_t)n,
				.n_reasons = (uint16_t)n_reasons,
				.rows = dp->stats + (size_t)p->next_worker * (LP_CTL_STAT_DROP0 + n_reasons),
			};
			next_worker = p->next_worker + n;
			if (next_worker >= n_workers)
				next = RESP_NONE;
			break;
		}
		case RESP_NONE:
			return;
		}
		int rc = lp_peer_send(s, p);
		if (rc == -EAGAIN)
			return; /* resumed on POLLOUT */
		if (rc < 0) {
			lp_peer_close(s, p, "cannot send status: %s", strerror(-rc));
			return;
		}
		p->stage = next;
		p->next_worker = next_worker;
	}
}

static void on_queue_stats(struct lp_ctl_server *s, struct peer *p, uint64_t now)
{
	(void)p;
	lp_queue_stats_apply(s->defs, &s->msg.queue_stats, now);
}

static void on_status_req(struct lp_ctl_server *s, struct peer *p, uint64_t now)
{
	if (p->stage != RESP_NONE) {
		lp_peer_close(s, p, "STATUS_REQ while a response is in progress");
		return;
	}
	p->stage = RESP_HEAD;
	p->next_worker = 0;
	lp_status_flush(s, p, now);
}

const struct ctl_handler lp_status_handlers[] = {
	{ LP_CTL_DROP_NAMES, CTL_FROM_DATAPLANE, false, on_drop_names },
	{ LP_CTL_STATS, CTL_FROM_DATAPLANE, false, on_stats },
	{ LP_CTL_QUEUE_STATS, CTL_FROM_DATAPLANE, true, on_queue_stats },
	{ LP_CTL_STATUS_REQ, CTL_FROM_CLI, false, on_status_req },
	{ 0 },
};
