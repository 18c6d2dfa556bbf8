/* SPDX-License-Identifier: MIT */
/*
 * Dead-lettering (RabbitMQ 3.10's rabbit_dead_letter, at-most-once): a
 * queue with x-dead-letter-exchange hands the messages it rejects, expires
 * or drops from its head for a length limit (and, with x-overflow
 * reject-publish-dlx, the publishes it refuses) to lp_dead_letter_push,
 * which only queues them: a queue's callback must not touch queues. At the
 * start of the next poll iteration each becomes a new message of this
 * shard's pool with the x-death headers (x_death.c), published to the
 * dead-letter exchange with the dead-letter routing key (or its own) as a
 * publish without confirms would be: to queues here and, through the
 * rings, on other shards. As in RabbitMQ, a message whose exchange does
 * not exist is dropped, and so is its copy for a queue that would close a
 * cycle with no rejection in it. A dead letter that cannot be routed yet
 * (a full queue here, a full ring, an empty pool) waits in the ring for
 * up to LP_BROKER_DEAD_WAIT_US, then is dropped and counted.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "amqp_spec.h"
#include "broker_int.h"
#include "message.h"
#include "queue.h"
#include "snapshot.h"
#include "topology.h"
#include "x_death.h"

static const char *const reasons[] = {
	[LP_QUEUE_DEAD_REJECTED] = "rejected",
	[LP_QUEUE_DEAD_EXPIRED] = "expired",
	[LP_QUEUE_DEAD_MAXLEN] = "maxlen",
};

void lp_dead_letter_push(void *ctx, struct lp_msg *m, enum lp_queue_dead why)
{
	struct owned_queue *oq = ctx;
	struct lp_broker *b = oq->broker;

	if (b->dead == NULL || b->dead_n == LP_BROKER_DEAD_LETTERS) {
		b->stats.dead_letters_dropped++;
		lp_msg_release(m);
		return;
	}
	b->dead[(b->dead_head + b->dead_n++) % LP_BROKER_DEAD_LETTERS] = (struct dead_letter){
		.msg = m, .since = lp_queue_pool_now(b->qpool), .qid = oq->qid, .why = (uint8_t)why};
}

/* The dead-lettered copy of dl's message for queue oq whose topology entry
 * is tq, or NULL (the rewrite does not fit: dropped; *retry: the pool is
 * empty now). */
static struct lp_msg *make_dead_letter(struct lp_broker *b, const struct dead_letter *dl,
				       const struct owned_queue *oq,
				       const struct lp_topology_queue *tq, bool *retry)
{
	const struct lp_msg *m = dl->msg;
	struct lp_x_death d = {
		.queue = lp_amqp_cstr(oq->name), .reason = reasons[dl->why],
		.time = (uint64_t)time(NULL),
		.exchange = {(const uint8_t *)m->exchange, m->exchange_len},
		.rkey = {(const uint8_t *)m->rkey, m->rkey_len},
	};
	const char *rkey = tq->dlrk != NULL ? tq->dlrk : m->rkey;
	int n = lp_x_death_props(m->props, m->props_len, &d, b->dead_props, LP_BROKER_DEAD_PROPS,
				 b->dead_scratch, LP_BROKER_DEAD_PROPS);
	struct lp_amqp_basic_properties p;
	struct lp_msg *dm;

	*retry = false;
	if (n < 0 || lp_amqp_basic_properties_decode(b->dead_props, (size_t)n, &p) != 0)
		return NULL;
	dm = lp_msg_create(b->pool, tq->dlx, strlen(tq->dlx), rkey, strlen(rkey), NULL, 0, NULL, 0,
			   m->flags & LP_MSG_F_PERSISTENT);
	if (dm == NULL) {
		*retry = errno == ENOSPC || errno == ENOBUFS;
		return NULL;
	}
	/* The properties first: an inline body starts right after them. */
	if (lp_msg_props_reserve(dm, (uint64_t)n) < 0)
		goto no_room;
	memcpy(dm->props, b->dead_props, (size_t)n);
	dm->props_len = (uint32_t)n;
	dm->headers_off = (uint32_t)(p.headers.ptr - b->dead_props);
	dm->headers_len = p.headers.len;
	dm->priority = m->priority; /* the rewrite keeps the priority property */
	if (lp_msg_body_reserve(dm, m->body_len) < 0)
		goto no_room;
	memcpy(dm->body, m->body, m->body_len);
	dm->body_len = m->body_len;
	return dm;

no_room:
	*retry = true;
	lp_msg_release(dm);
	return NULL;
}

/*
 * Route dl. Returns false when it must wait (nothing changed), true when
 * it is done with (routed or dropped; its message released).
 */
static bool route_one(struct lp_broker *b, const struct dead_letter *dl)
{
	const struct lp_topology *t = b->snap->topo;
	struct owned_queue *oq = lp_owner_find(b, dl->qid);
	const struct lp_topology_queue *tq = NULL;
	uint32_t dests[LP_BROKER_ROUTE_MAX], xi = LP_TOPOLOGY_NONE;
	struct lp_msg *dm = NULL;
	bool retry = false;
	int n = 0;

	if (oq != NULL)
		tq = lp_topology_queue(t, lp_topology_queue_find(t, oq->vhost, oq->name,
								  strlen(oq->name)));
	if (tq != NULL && tq->dlx != NULL)
		xi = lp_topology_exchange_find(t, oq->vhost, tq->dlx, strlen(tq->dlx));
	if (xi != LP_TOPOLOGY_NONE)
		dm = make_dead_letter(b, dl, oq, tq, &retry);
	if (dm == NULL) {
		if (retry && lp_queue_pool_now(b->qpool) - dl->since < LP_BROKER_DEAD_WAIT_US)
			return false;
		b->stats.dead_letters_dropped++;
		lp_msg_release(dl->msg);
		return true;
	}
	struct lp_amqp_bytes headers = {dm->props + dm->headers_off, dm->headers_len};

	n = lp_topology_route(t, xi, dm->rkey, dm->rkey_len, headers, dests, LP_BROKER_ROUTE_MAX);
	if (n > LP_BROKER_ROUTE_MAX)
		n = LP_BROKER_ROUTE_MAX;
	if (dl->why != LP_QUEUE_DEAD_REJECTED) { /* rabbit_dead_letter:detect_cycles */
		int kept = 0;

		for (int i = 0; i < n; i++)
			if (!lp_x_death_cycle(headers, lp_amqp_cstr(lp_topology_queue(t, dests[i])->name)))
				dests[kept++] = dests[i];
		if (kept < n)
			b->stats.dead_letters_dropped++;
		n = kept;
	}
	uint64_t remote = b->stats.routed_remote;

	if (n > 0 && lp_publish_to(b, NULL, dm, dests, n, false, 0) == -EAGAIN) {
		lp_msg_release(dm);
		if (lp_queue_pool_now(b->qpool) - dl->since < LP_BROKER_DEAD_WAIT_US)
			return false;
		b->stats.dead_letters_dropped++;
		lp_msg_release(dl->msg);
		return true;
	}
	b->stats.dead_lettered += n > 0;
	b->stats.dead_lettered_remote += b->stats.routed_remote - remote;
	lp_msg_release(dm);
	lp_msg_release(dl->msg);
	return true;
}

void lp_dead_letter_run(struct lp_broker *b)
{
	while (b->dead_n > 0 && b->snap != NULL) {
		if (!route_one(b, &b->dead[b->dead_head]))
			return;
		b->dead_head = (b->dead_head + 1) % LP_BROKER_DEAD_LETTERS;
		b->dead_n--;
	}
}

void lp_dead_letter_drop_all(struct lp_broker *b)
{
	while (b->dead_n > 0) {
		lp_msg_release(b->dead[b->dead_head].msg);
		b->dead_head = (b->dead_head + 1) % LP_BROKER_DEAD_LETTERS;
		b->dead_n--;
	}
}
