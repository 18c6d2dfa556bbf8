/* SPDX-License-Identifier: MIT */
/*
 * Queues' live state in lepus-control: each QUEUE_STATS message from the
 * dataplane (one worker's queues, sampled once a second; api/lp_ctl.h)
 * updates the definitions' queues it names (struct lp_queue_live): counts,
 * counters, and rates per second over the last two samples, as RabbitMQ's
 * management API shows them (messages_ready, message_stats.publish_details
 * .rate, ...). Records of queues lepus-control no longer has are ignored.
 */
#include "queue_stats.h"

/* Per second from old to now over dt_s; a counter that went back (the
 * dataplane restarted) counts from 0. */
static double rate(uint64_t old, uint64_t now, double dt_s)
{
	return (double)(now >= old ? now - old : now) / dt_s;
}

static void update(struct lp_queue_live *l, const struct lp_ctl_queue_stat *r, uint64_t now_ns)
{
	if (l->at_ns != 0 && now_ns > l->at_ns) {
		double dt = (double)(now_ns - l->at_ns) / 1e9;

		l->publish_rate = rate(l->published, r->published, dt);
		l->deliver_rate = rate(l->delivered, r->delivered, dt);
		l->get_rate = rate(l->got, r->got, dt);
		l->redeliver_rate = rate(l->redelivered, r->redelivered, dt);
		l->ack_rate = rate(l->acked, r->acked, dt);
	}
	l->at_ns = now_ns;
	l->ready = r->ready;
	l->unacked = r->unacked;
	l->consumers = r->consumers;
	l->ready_bytes = r->ready_bytes;
	l->published = r->published;
	l->delivered = r->delivered;
	l->got = r->got;
	l->redelivered = r->redelivered;
	l->acked = r->acked;
}

unsigned lp_queue_stats_apply(struct lp_defs *d, const struct lp_ctl_queue_stats *s, uint64_t now_ns)
{
	struct lp_ctl_queue_stat r;
	size_t off = 0;
	unsigned n = 0;

	while (lp_ctl_queue_stats_next(s, &off, &r)) {
		struct lp_queue_live *l = lp_defs_queue_live(d, r.vhost, r.queue);

		if (l != NULL) {
			update(l, &r, now_ns);
			n++;
		}
	}
	return n;
}
