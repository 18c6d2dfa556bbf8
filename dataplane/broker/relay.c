/* SPDX-License-Identifier: MIT */
/*
 * The main lcore's relay between the workers and lepus-control when there
 * are several lcores (broker.h): the control link belongs to the main lcore,
 * so workers put their requests (struct relay_msg, broker_int.h) on their
 * ring to the main lcore; the relay submits them, remembers which worker
 * and which of its requests each control request id stands for, and puts a
 * copy of each RESULT on that worker's ring back (the worker frees it).
 * RESULTs travel after the topology batch they refer to, and the relay is
 * called from the link's handler after that batch was published, so a
 * worker that reads the result sees the new snapshot.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_ring.h>

#include "amqp_reply.h"
#include "broker_int.h"
#include "ctl_link.h"

#define RELAY_BURST 32

struct pending {
	int64_t ctl_id;  /* 0: free */
	uint16_t worker;
	uint64_t cookie;
};

struct lp_broker_relay {
	struct lp_mesh *mesh;
	struct lp_ctl_link *ctl;
	struct pending pending[LP_CTL_LINK_MAX_PENDING];
	/* Requests the socket could not take (-EAGAIN): sent first next time. */
	struct relay_msg *retry[LP_CTL_LINK_MAX_PENDING];
	unsigned n_retry;
};

struct lp_broker_relay *lp_broker_relay_create(struct lp_mesh *mesh, struct lp_ctl_link *ctl)
{
	struct lp_broker_relay *r = calloc(1, sizeof(*r));

	if (r != NULL) {
		r->mesh = mesh;
		r->ctl = ctl;
	}
	return r;
}

void lp_broker_relay_destroy(struct lp_broker_relay *r)
{
	if (r == NULL)
		return;
	for (unsigned i = 0; i < r->n_retry; i++)
		free(r->retry[i]);
	free(r);
}

/* Hand worker its answer (reply_code 0 or an error) to request cookie. */
static void answer(struct lp_broker_relay *r, unsigned worker, uint64_t cookie,
		   const struct lp_ctl_result *res)
{
	struct lp_ctl_result *copy = malloc(sizeof(*copy));

	if (copy == NULL)
		return; /* the channel stays paused until its connection closes */
	*copy = *res;
	copy->req_id = cookie;
	if (rte_ring_enqueue(lp_mesh_from_main(r->mesh, worker), copy) != 0)
		free(copy);
}

static void fail(struct lp_broker_relay *r, const struct relay_msg *m, int err)
{
	struct lp_ctl_result res = {.reply_code = LP_AMQP_INTERNAL_ERROR};

	lp_amqp_reply_text(res.text, sizeof(res.text), LP_AMQP_INTERNAL_ERROR,
			   "lepus-control unavailable (%s)", strerror(err));
	answer(r, m->worker, m->cookie, &res);
}

/* Submit m; true when it is done with (sent, or answered with an error). */
static bool submit(struct lp_broker_relay *r, struct relay_msg *m)
{
	int64_t id = lp_ctl_link_submit(r->ctl, m->type, &m->req);

	if (id == -EAGAIN)
		return false;
	if (id < 0) {
		fail(r, m, (int)-id);
		return true;
	}
	for (unsigned i = 0; i < LP_CTL_LINK_MAX_PENDING; i++) {
		if (r->pending[i].ctl_id != 0)
			continue;
		r->pending[i] = (struct pending){.ctl_id = id, .worker = m->worker, .cookie = m->cookie};
		return true;
	}
	fail(r, m, ENOBUFS); /* cannot happen: the link refuses more first */
	return true;
}

static bool handle(struct lp_broker_relay *r, struct relay_msg *m)
{
	switch (m->kind) {
	case RELAY_SUBMIT:
		return submit(r, m);
	case RELAY_CONN_CLOSED:
		lp_ctl_link_connection_closed(r->ctl, m->conn_id);
		return true;
	default: /* RELAY_QUEUE_UNUSED */
		return lp_ctl_link_queue_unused(r->ctl, m->unused.vhost, m->unused.queue) != -EAGAIN;
	}
}

void lp_broker_relay_poll(struct lp_broker_relay *r)
{
	void *v[RELAY_BURST];
	unsigned kept = 0;
	/* Workers with a request waiting for the socket: their later requests
	 * wait behind it, in order (a worker's ring is FIFO). */
	uint64_t held[4] = {0};

	for (unsigned i = 0; i < r->n_retry; i++) {
		unsigned w = r->retry[i]->worker;

		if (!(held[w / 64] >> (w % 64) & 1) && handle(r, r->retry[i])) {
			free(r->retry[i]);
		} else {
			held[w / 64] |= 1ull << (w % 64);
			r->retry[kept++] = r->retry[i];
		}
	}
	r->n_retry = kept;
	for (unsigned w = 0; w < lp_mesh_workers(r->mesh); w++) {
		/* Leave requests in the ring while older ones wait for the socket. */
		unsigned room = LP_CTL_LINK_MAX_PENDING - r->n_retry;
		unsigned n;

		if (held[w / 64] >> (w % 64) & 1)
			continue;
		n = rte_ring_dequeue_burst(lp_mesh_to_main(r->mesh, w), v,
					   room < RELAY_BURST ? room : RELAY_BURST, NULL);
		for (unsigned i = 0; i < n; i++) {
			if (!(held[w / 64] >> (w % 64) & 1) && handle(r, v[i])) {
				free(v[i]);
			} else {
				held[w / 64] |= 1ull << (w % 64);
				r->retry[r->n_retry++] = v[i];
			}
		}
	}
}

void lp_broker_relay_result(struct lp_broker_relay *r, const struct lp_ctl_result *res)
{
	for (unsigned i = 0; i < LP_CTL_LINK_MAX_PENDING; i++) {
		struct pending *p = &r->pending[i];

		if (p->ctl_id != (int64_t)res->req_id || p->ctl_id == 0)
			continue;
		answer(r, p->worker, p->cookie, res);
		p->ctl_id = 0;
		return;
	}
}
