/* SPDX-License-Identifier: MIT */
/*
 * Inside the broker shard (not for other modules): the state one worker
 * keeps, shared by its two halves.
 *
 *  - broker.c, the channel side: the AMQP methods of the connections on this
 *    worker (declarations, publish, consume, get, acks), the channels and
 *    consumers, and the encoding of deliveries into connections;
 *  - shard.c, the owner side: the queues this worker owns (keyed by their
 *    topology id, qid), dispatch to consumers on any worker, and the
 *    operations other shards send through the ring mesh (mesh.h).
 *
 * Ids that cross shards: a channel is (worker << 24 | generation << 12 |
 * slot), a consumer handle (generation << 12 | slot); generations make an
 * operation for a closed channel or a cancelled consumer recognisable.
 *
 * Delivery tags: a channel numbers its deliveries itself (AMQP: per channel,
 * from 1). A queue on this worker records a delivery to a channel of this
 * worker under the channel's own tag; a queue on another worker records it
 * under that owner's per-channel counter ("owner tag"), and the channel maps
 * its tag to (owner, owner tag) in a FIFO (struct tagmap) so that acks go
 * back to the owner. Both grow in delivery order, so a multiple ack up to
 * tag T is, per owner, a multiple ack up to the last owner tag mapped <= T.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "amqp_conn.h"
#include "broker.h"
#include "lp_ctl.h"
#include "mesh.h"

struct lp_queue;
struct lp_msg;
struct lp_msg_pool;
struct lp_amqp_session;
struct lp_snapshot;
struct lp_snapshot_publisher;
struct rte_ring;

#define LP_BROKER_NAME_LEN (LP_CTL_NAME_MAX + 1)
#define LP_BROKER_SLOT_BITS 12
#define LP_BROKER_SLOT_MASK ((1u << LP_BROKER_SLOT_BITS) - 1)
#define LP_BROKER_MAX_SLOTS (1u << LP_BROKER_SLOT_BITS)
#define LP_BROKER_HOLD 64 /* operations read from a ring at once */

static inline uint32_t lp_chan_id(unsigned worker, uint32_t gen, uint32_t slot)
{
	return (uint32_t)worker << 24 | (gen & LP_BROKER_SLOT_MASK) << LP_BROKER_SLOT_BITS | slot;
}
static inline unsigned lp_chan_worker(uint32_t id)
{
	return id >> 24;
}
static inline uint32_t lp_id_slot(uint32_t id)
{
	return id & LP_BROKER_SLOT_MASK;
}

/* A delivery from another shard that the client has not acked yet. */
struct tagent {
	uint64_t tag;       /* the channel's */
	uint64_t owner_tag; /* the owner's */
	uint16_t owner;
	bool settled;
};

struct tagmap {
	struct tagent *v; /* ring buffer */
	uint32_t head, n, cap;
};

/* What a paused channel waits for (besides lepus-control). */
enum bwait {
	WAIT_NONE,
	WAIT_CONTROL,   /* RESULT of a declaration */
	WAIT_CONSUME,
	WAIT_CANCEL,
	WAIT_GET,
	WAIT_PURGE,     /* Purge-Ok after the RESULT */
	WAIT_DECLARE_COUNTS, /* Declare-Ok counts after the RESULT */
	WAIT_DELETE_COUNTS,  /* counts before submitting Queue.Delete */
};

/* A publish whose confirm waits for owners' verdicts (reject-publish queues). */
struct pconfirm {
	uint64_t seq;
	uint32_t outstanding;
	bool nack;
};

/* Tx.Select'ed work, applied at Tx.Commit in order. */
struct txent {
	struct lp_msg *msg;  /* a publish (one reference), or NULL: a settle */
	bool mandatory;
	uint8_t flags;       /* settle: LP_SHARD_F_* */
	uint32_t method_id;  /* settle: Basic.Ack/Nack/Reject */
	uint64_t tag;
};

struct bchan {
	bool used;
	uint32_t gen;
	uint32_t id;         /* lp_chan_id */
	struct lp_amqp_session *session;
	struct lp_amqp_conn *conn;
	uint16_t ch;
	uint64_t next_tag;   /* delivery tags, per channel, from 1 */
	size_t promised;     /* send buffer octets of deliveries tagged, not yet written */
	uint16_t prefetch;   /* Basic.Qos prefetch-count for new consumers */
	uint16_t prefetch_global; /* Basic.Qos global: the channel's limit (RabbitMQ 3.x) */
	uint32_t unacked;    /* consumer deliveries in ack mode not settled yet */
	bool confirm;
	uint64_t publish_seq;
	char last_queue[LP_BROKER_NAME_LEN]; /* for the empty-name shortcut */
	struct tagmap remote; /* deliveries from other shards, unacked */
	/* Operations from other shards for this channel kept back, in order,
	 * while its connection cannot take the first (a delivery) */
	struct { struct lp_shard_op *v; uint32_t head, n, cap; } backlog;
	struct { struct pconfirm *v; uint32_t n, cap; } confirms;
	bool tx;              /* Tx.Select'ed */
	struct { struct txent *v; uint32_t n, cap; } txq;
	/* Basic.Publish being assembled, or parked: complete, waiting for room
	 * in a full queue of this shard (its connection paused) */
	struct lp_msg *pub;
	uint32_t pub_exchange;
	bool pub_mandatory;
	bool parked;
	/* a paused method */
	enum bwait wait;
	uint32_t wait_consumer; /* WAIT_CONSUME / WAIT_CANCEL: consumer slot */
	bool wait_no_ack;       /* WAIT_GET */
	/* declaration waiting for lepus-control */
	uint64_t req_id;
	uint16_t req_type;
	struct lp_ctl_def_req req;
	uint32_t method_id;
	bool nowait;
	uint32_t delete_count;  /* Queue.Delete-Ok message count */
};

struct bconsumer {
	bool used;
	bool ready;       /* Consume-Ok given (the owner has it) */
	uint32_t gen;
	struct bchan *chan;
	uint32_t qid;
	uint16_t owner;   /* the queue's shard */
	uint32_t owner_id; /* consumer id in the owner's lp_queue */
	bool no_ack;
	uint8_t tag_len;
	char tag[LP_BROKER_NAME_LEN];
};

/* A queue this shard owns. */
struct oqueue {
	bool used;
	bool had_consumer; /* auto-delete: reported unused once it had one */
	uint8_t flags;     /* LP_CTL_Q_* */
	uint32_t qid;
	uint32_t live_idx; /* position in lp_broker.live */
	struct lp_queue *q;
	char vhost[LP_BROKER_NAME_LEN];
	char name[LP_BROKER_NAME_LEN];
};

/* This owner's view of a channel on another worker. */
struct rchan {
	uint32_t id;       /* lp_chan_id; 0: none */
	uint64_t next_tag; /* owner tags */
	uint32_t inflight; /* deliveries sent, not yet written to the client */
};

/* Operations staged for one destination shard (flushed every poll). */
struct stage {
	struct lp_shard_op *v;
	uint32_t n, cap;
};

/* Operations read from one source shard, kept while a connection is full. */
struct held {
	struct lp_shard_op v[LP_BROKER_HOLD];
	unsigned i, n;
};

struct lp_broker {
	unsigned id, n_workers;  /* this shard (= its worker) and how many there are */
	/* What lepus-control pushed: the worker sets snap every poll iteration
	 * (lp_broker_set_snapshot); refreshed after a RESULT, which follows the
	 * snapshot carrying its change. */
	struct lp_snapshot_publisher *snapshots;
	const struct lp_snapshot *snap;
	struct lp_ctl_link *ctl; /* direct (single lcore), else NULL: via main */
	struct lp_mesh *mesh;
	struct lp_broker_config cfg;
	struct lp_msg_pool *pool;
	/* owner side */
	struct oqueue *queues;   /* [max_queues] */
	uint32_t *live;          /* slots in use, dense */
	uint32_t n_live;
	uint32_t *qid_map;       /* open addressing qid -> slot + 1 */
	uint32_t qid_map_size;   /* power of two, 2 * max_queues */
	uint64_t seen_version;   /* snapshot version the queues were checked against */
	struct rchan *rchans;    /* [n_workers * max_channels] */
	/* channel side */
	struct bchan *chans;     /* [max_channels] */
	struct bconsumer *consumers; /* [max_consumers] */
	uint64_t ctag_seq, req_seq;
	/* the mesh */
	struct stage *out;       /* [lane * n_workers + dst] */
	struct held *in;         /* [lane * n_workers + src] */
	bool draining;           /* apply_earlier_ops() running */
	/* Publishers paused while the message pool or a ring is low
	 * (back-pressure: their connections stop reading). */
	struct lp_amqp_session **blocked;
	uint32_t n_blocked;
	struct bchan **parked;   /* channels with a parked publish */
	uint32_t n_parked;
	struct bchan **backlogged; /* channels with a backlog */
	uint32_t n_backlogged;
	uint32_t low_water, high_water;
	/* CREDIT for the deliveries from one owner to one channel, sent once
	 * per run of them */
	uint32_t credit_chan, credit_n;
	unsigned credit_owner;
	struct lp_broker_stats stats;
};

/* What a worker sends the main lcore (several lcores): one heap block. */
struct relay_msg {
	uint16_t kind;   /* RELAY_* */
	uint16_t type;   /* LP_CTL_DECLARE ... */
	uint16_t worker;
	uint64_t cookie; /* the worker's request id, echoed in the result */
	union {
		struct lp_ctl_def_req req;
		uint64_t conn_id;
		struct lp_ctl_queue_unused unused;
	};
	uint8_t args[];
};

enum { RELAY_SUBMIT = 1, RELAY_CONN_CLOSED, RELAY_QUEUE_UNUSED };

/* ---- shard.c: the owner side ----------------------------------------- */

struct oqueue *lp_shard_queue(struct lp_broker *b, uint32_t qid);
/* Enqueue m (takes the reference) into this shard's queue qid. Returns 0,
 * -ENOBUFS (reject-publish limit), -ENOSPC (full) or -ENOENT (no queue). */
int lp_shard_enqueue(struct lp_broker *b, uint32_t qid, struct lp_msg *m);
/* Handle an operation from shard op->src (or a local one). Takes op->ptr's reference. */
void lp_shard_handle(struct lp_broker *b, const struct lp_shard_op *op);
/* Answer a request (CONSUME, CANCEL, GET, PURGE, COUNTS) into reply. */
void lp_shard_request(struct lp_broker *b, const struct lp_shard_op *op, struct lp_shard_op *reply);
/* Ack or nack (op->flags) channel op->chan's deliveries up to op->tag in
 * this shard's queues. Returns how many deliveries were settled. */
int lp_shard_settle(struct lp_broker *b, const struct lp_shard_op *op);
/* Dispatch ready messages of the live queues. */
void lp_shard_dispatch(struct lp_broker *b);
/* Drop queues the snapshot no longer has (their consumers are told). */
void lp_shard_check_topology(struct lp_broker *b);
void lp_shard_destroy_queues(struct lp_broker *b);

/* ---- broker.c: the channel side, used by shard.c ---------------------- */

/* Stage op for shard dst (never fails; the stage grows if need be). */
void lp_broker_send(struct lp_broker *b, unsigned dst, struct lp_shard_op op);
/* Owner of a topology queue on this dataplane. */
unsigned lp_broker_owner(const struct lp_broker *b, uint16_t owner_shard);
/* The local channel for id, or NULL (closed, or another generation). */
struct bchan *lp_broker_chan(struct lp_broker *b, uint32_t id);
/* Tag for a delivery of m on local channel id; 0 when its connection's
 * send buffer cannot take m besides what is already promised this burst. */
uint64_t lp_broker_local_tag(struct lp_broker *b, uint32_t id, const struct lp_msg *m, bool no_ack);
/* Upper bound of the octets a delivery of m takes in a send buffer. */
size_t lp_broker_wire_size(const struct lp_msg *m);
/* Encode a delivery for consumer handle on local channel bc (NULL: closed),
 * from owner (tag: the owner's; the channel's own when owner is this shard).
 * Takes m's reference. */
void lp_broker_deliver(struct lp_broker *b, struct bchan *bc, uint32_t handle, struct lp_msg *m,
		       uint64_t tag, bool redelivered, unsigned owner, bool no_ack);
/* The owner removed consumer handle (queue deleted): Basic.Cancel to the client. */
void lp_broker_consumer_cancelled(struct lp_broker *b, uint32_t handle);
/* An owner's verdict on a publish awaiting it (LP_SHARD_CONFIRM). */
void lp_broker_confirm(struct lp_broker *b, const struct lp_shard_op *op);
/* An operation answering a channel's paused request. */
void lp_broker_reply(struct lp_broker *b, const struct lp_shard_op *op);
/* Read the newest snapshot now (the publisher's, when there is one). */
void lp_broker_refresh_snapshot(struct lp_broker *b);
/* Tell lepus-control that auto-delete queue (vhost, name) has no consumer left. */
void lp_broker_queue_unused(struct lp_broker *b, const char *vhost, const char *name);
