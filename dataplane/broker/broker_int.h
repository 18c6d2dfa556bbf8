/* SPDX-License-Identifier: MIT */
/*
 * Inside the broker shard (not for other modules): the state one worker
 * keeps, shared by its two halves.
 *
 *  - broker.c, the channel side: the AMQP methods of the connections on this
 *    worker (declarations, publish, consume, get, acks), the channels and
 *    consumers, and the encoding of deliveries into connections;
 *  - owner.c, the owner side: the queues this worker owns (keyed by their
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
 * its tag to (owner, owner tag) in a FIFO (channel.remote, struct remote_tag) so that acks go
 * back to the owner. Both grow in delivery order, so a multiple ack up to
 * tag T is, per owner, a multiple ack up to the last owner tag mapped <= T.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <string.h>

#include "amqp_conn.h"
#include "amqp_server.h"
#include "fifo_pool.h"
#include "broker.h"
#include "lp_ctl.h"
#include "mesh.h"
#include "queue.h"

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

/* Limits of a shard (one name each; the sizes configured at start-up are
 * in struct lp_broker_config). */
#define LP_BROKER_HOLD 64             /* operations read from a ring at once */
#define LP_BROKER_ROUTE_MAX 1024      /* destination queues of one publish */
#define LP_BROKER_PROPS_MAX 4096      /* properties kept in a message slot (larger: heap) */
#define LP_BROKER_DEAD_LETTERS 4096   /* dead letters waiting to be routed, per shard */
#define LP_BROKER_DEAD_PROPS (64u << 10) /* a dead letter's rewritten properties, at most */
#define LP_BROKER_DEAD_WAIT_US 1000000 /* a dead letter no queue takes for this long is dropped */
#define LP_BROKER_BODY_SLOT 4096      /* body kept in a message slot (larger: heap) */
/* Operations staged for one ring at which this shard's publishers pause and
 * the owner stops dispatching to that shard, and at which they resume. */
#define LP_BROKER_STAGE_PAUSE 8192
#define LP_BROKER_STAGE_RESUME 1024
#define LP_BROKER_DISPATCH_BURST 64   /* deliveries taken from a queue at once */
/* Deliveries in flight to one remote channel before the owner waits for credit. */
#define LP_BROKER_INFLIGHT_MAX 256
#define LP_BROKER_QUEUE_CONSUMERS 256 /* consumers of one queue */
#define LP_BROKER_SETTLE_BACKLOG 65536 /* settles kept while the journal's buffer is full */

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
#define LP_REMOTE_TAG_NO_OWNER UINT16_MAX /* its queue was deleted: nothing to settle */

struct remote_tag {
	uint64_t tag;       /* the channel's */
	uint64_t owner_tag; /* the owner's */
	uint16_t owner;     /* a worker, or LP_REMOTE_TAG_NO_OWNER */
	bool settled;
};

/* What a paused channel waits for (besides lepus-control). */
enum channel_wait {
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
struct pending_confirm {
	uint64_t seq;
	uint32_t outstanding;
	bool nack;
};

/* Tx.Select'ed work, applied at Tx.Commit in order. */
struct tx_entry {
	struct lp_msg *msg;  /* a publish (one reference), or NULL: a settle */
	bool mandatory;
	uint8_t flags;       /* settle: LP_OP_F_* */
	uint32_t method_id;  /* settle: Basic.Ack/Nack/Reject */
	uint64_t tag;
};

struct channel {
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
	bool confirm_dirty;  /* on lp_broker.confirm_dirty */
	/* acks of this poll not sent yet, every publish up to ack_run (nothing
	 * earlier waits): one Basic.Ack at lp_confirm_flush, multiple=true
	 * when ack_run_n > 1 */
	uint64_t ack_run;
	uint32_t ack_run_n;
	uint64_t publish_seq;
	char last_queue[LP_BROKER_NAME_LEN]; /* for the empty-name shortcut */
	/* Lists whose entries come from the shard's pools (fifo_pool.h): */
	struct lp_fifo remote;   /* struct remote_tag: deliveries from other shards, unacked */
	/* struct lp_ring_op: operations from other shards for this channel kept
	 * back, in order, while its connection cannot take the first (a delivery) */
	struct lp_fifo backlog;
	struct lp_fifo confirms; /* struct pending_confirm, in publish order */
	bool tx;                 /* Tx.Select'ed */
	/* Tx.Commit applied, its Commit-Ok waiting for the journals: the
	 * committed publishes are in confirms (as with confirms, but nothing
	 * is sent for them) and the connection is paused until they are done */
	bool commit_waiting;
	/* Tx.Commit stopped at a publish that found no room: the rest of txq
	 * is routed by lp_publish_retry_parked (the channel is in parked) */
	bool commit_parked;
	struct lp_fifo txq;      /* struct tx_entry, in order */
	/* Basic.Publish being assembled, or parked: complete, waiting for room
	 * in a full queue of this shard (its connection paused) */
	struct lp_msg *pub;
	uint32_t pub_exchange;
	bool pub_mandatory;
	bool parked;
	/* a paused method */
	enum channel_wait wait;
	uint32_t wait_consumer; /* WAIT_CONSUME / WAIT_CANCEL: consumer slot */
	uint32_t reply_handle;  /* reply_to.c: its direct reply-to consumer (consumer_handle), 0: none */
	bool wait_no_ack;       /* WAIT_GET */
	bool get_retry;         /* WAIT_GET: on lp_broker.get_retry */
	uint16_t get_owner;     /* WAIT_GET: the queue's owner and qid */
	uint32_t get_qid;
	/* declaration waiting for lepus-control */
	uint64_t req_id;
	uint16_t req_type;
	struct lp_ctl_def_req req;
	uint32_t method_id;
	bool nowait;
	uint32_t delete_count;  /* Queue.Delete-Ok message count */
};

struct consumer {
	bool used;
	bool ready;       /* Consume-Ok given (the owner has it) */
	uint32_t gen;
	struct channel *chan;
	uint32_t qid;
	uint16_t owner;   /* the queue's shard */
	uint32_t owner_id; /* consumer id in the owner's lp_queue */
	bool no_ack;
	bool reply;       /* direct reply-to (reply_to.c): no queue, qid 0 */
	uint8_t tag_len;
	char tag[LP_BROKER_NAME_LEN];
};

/* A queue this shard owns. */
struct owned_queue {
	bool used;
	bool had_consumer; /* auto-delete: reported unused once it had one */
	bool ended;        /* persist.c: its PURGE/DELETE record is written (while purging) */
	uint8_t flags;     /* LP_CTL_Q_* */
	bool dead_on_reject; /* x-overflow reject-publish-dlx with a dead-letter exchange */
	bool expiry_sent;    /* x-expires: reported unused, not used since */
	uint64_t expires_us; /* x-expires; 0: none */
	uint64_t used_at;    /* x-expires: last use (queues' clock): a consumer, Basic.Get, a declare */
	uint32_t qid;
	uint32_t store_id; /* durable: its id in the journal (topology), else 0 */
	/* its records' queue id in this shard's journal: store_id, or for a
	 * non-durable queue (whose tail is paged out under memory pressure
	 * only) LP_JOURNAL_TRANSIENT_Q | qid, which recovery skips; 0: no journal */
	uint32_t journal_id;
	uint64_t next_jseq; /* journal sequence of its next persistent message */
	/* recovered messages (lp_broker.recovered) not in the queue yet: while
	 * there are some, new publishes wait so that order is kept */
	uint32_t rec_next, rec_end;
	/* page.c: its tail, after the messages of q, in the journal only
	 * (struct paged_msg in lp_broker.page_pool) */
	struct lp_fifo paged;
	struct lp_broker *broker;
	uint32_t live_idx; /* position in lp_broker.live */
	struct lp_queue *q;
	char vhost[LP_BROKER_NAME_LEN];
	char name[LP_BROKER_NAME_LEN];
};

/* This owner's view of a channel on another worker. */
struct remote_channel {
	uint32_t id;       /* lp_chan_id; 0: none */
	uint64_t next_tag; /* owner tags */
	uint32_t inflight; /* deliveries sent, not yet written to the client */
};

/* persist.c: a live message of the journal found at start-up. */
struct recovered_msg {
	uint32_t store_id;
	struct lp_queue_jref ref;
	struct lp_msg *msg;  /* one reference; NULL once its queue took it */
	bool on_disk;        /* not loaded (msg NULL): its queue pages it in */
	uint16_t forward_to; /* owner + 1 when another worker owns its queue now; 0 */
	uint32_t forward_qid; /* that queue */
	bool queue_exists;   /* first of its queue's run: the topology has the queue */
};

/* persist.c: the channel id of adopt's forwarded messages, whose owner's
 * verdict (LP_OP_CONFIRM, tag: index in lp_broker.recovered) says the
 * message is durable there, so that it can be settled here. */
#define LP_CHAN_ADOPT UINT32_MAX
/* Forwarded messages waiting for that verdict, at most. */
#define LP_PERSIST_ADOPT_INFLIGHT 1024
/* A journal sequence with this bit: a transient message journaled only to
 * page it out (recovery skips it; leaving the queue releases its record). */
#define LP_JSEQ_TRANSIENT (1ull << 63)
/* A journal queue id with this bit: a non-durable queue's (never recovered). */
#define LP_JOURNAL_TRANSIENT_Q (1u << 31)

/* page.c: read-backs in flight per shard at most, the size of each one's
 * staging buffer (the largest record that is paged out), and how far past
 * a paging queue's head reads go ahead. */
#define LP_PAGE_READS 64
#define LP_PAGE_READ_MAX 16384
#define LP_PAGE_AHEAD 256

/* persist.c: a publish confirmed once the journal is durable up to ticket. */
struct durable_wait {
	uint64_t ticket;
	uint64_t seq;
	uint32_t chan;
	uint16_t worker;
};

/* persist.c: a record compaction copied; old is released once the copy's
 * ticket is durable. */
struct moved_record {
	uint64_t ticket;
	struct lp_store_loc old;
};
#define LP_PERSIST_MOVES 65536

/* persist.c: a settle waiting for room in the journal's buffer. */
struct settle_wait {
	uint32_t store_id;
	struct lp_queue_jref ref;
};

/* Operations staged for one destination shard (flushed every poll), at most
 * lp_broker_config.stage_ops. */
struct ring_stage {
	struct lp_ring_op *v;
	uint32_t n;
};

/* Operations read from one source shard, kept while a connection is full. */
struct ring_held {
	struct lp_ring_op v[LP_BROKER_HOLD];
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
	/* the journal (persist.c); NULL without a data directory */
	struct lp_store *store;
	struct recovered_msg *recovered; /* sorted by (store_id, seq) */
	uint32_t n_recovered;
	bool adopted;            /* the first topology from lepus-control has seen them */
	bool expiring_seen;      /* owner.c: the queues with x-expires of the first topology taken */
	uint32_t adopt_next;     /* recovered messages before it are forwarded, if they go */
	uint32_t adopt_inflight; /* forwarded, not yet durable at their owner */
	/* page.c: the paged tails' entries and the read-back buffers (NULL
	 * without a journal or with paging off) */
	struct lp_fifo_pool page_pool;
	struct page_read *page_reads;
	struct durable_wait *dwait; /* ring, in ticket order */
	uint32_t dwait_cap, dwait_head, dwait_n;
	struct settle_wait *swait;  /* ring of LP_BROKER_SETTLE_BACKLOG */
	uint32_t swait_head, swait_n;
	struct moved_record *moves; /* ring of LP_PERSIST_MOVES, in ticket order */
	uint32_t moves_head, moves_n;
	/* compact.c: the segment being compacted and how far the walk is */
	bool compacting;
	uint32_t compact_seg, compact_queue, compact_entry, compact_pass, compact_gave_up;
	uint64_t compact_polls;
	/* dead_letter.c: a ring of LP_BROKER_DEAD_LETTERS, and the buffers
	 * where a dead letter's properties are rewritten */
	struct dead_letter *dead;
	uint32_t dead_head, dead_n;
	uint8_t *dead_props, *dead_scratch;
	/* channels whose confirms changed this iteration (confirm.c batches them) */
	struct channel **confirm_dirty;
	uint32_t n_confirm_dirty;
	/* owner side */
	struct owned_queue *queues;   /* [max_queues] */
	struct lp_queue_pool *qpool;  /* their headers, consumers and message entries */
	uint32_t *live;          /* slots in use, dense */
	uint32_t n_live;
	/* The owned queues' sample for lepus-control (queue_stats.c):
	 * [max_queues], qstat_n of them valid while qstat_seq is even */
	struct lp_ctl_queue_stat *qstat;
	uint32_t qstat_n;
	_Atomic uint32_t qstat_seq;
	uint64_t qstat_next_us;
	uint32_t *qid_map;       /* open addressing qid -> slot + 1 */
	uint32_t qid_map_size;   /* power of two, 2 * max_queues */
	uint64_t seen_version;   /* snapshot version the queues were checked against */
	struct remote_channel *rchans;    /* [n_workers * max_channels] */
	/* channel side */
	struct channel *chans;     /* [max_channels] */
	struct consumer *consumers; /* [max_consumers] */
	uint64_t ctag_seq, req_seq;
	/* the mesh */
	struct ring_stage *out;       /* [lane * n_workers + dst] */
	struct ring_held *in;         /* [lane * n_workers + src] */
	/* The entries of the channels' lists, sized at start-up (lp_broker_config). */
	struct lp_fifo_pool tag_pool;     /* struct remote_tag */
	struct lp_fifo_pool backlog_pool; /* struct lp_ring_op */
	struct lp_fifo_pool confirm_pool; /* struct pending_confirm */
	struct lp_fifo_pool tx_pool;      /* struct tx_entry */
	bool draining;           /* apply_earlier_ops() running */
	/* Publishers paused while an alarm is raised or a ring is full
	 * (back-pressure: their connections stop reading). */
	struct paused_publisher *blocked;
	uint32_t n_blocked;
	uint32_t alarms;         /* LP_BROKER_ALARM_* (lp_broker_alarms) */
	struct channel **get_retry; /* channels whose Basic.Get is asked again (LP_OP_F_RETRY) */
	uint32_t n_get_retry;
	struct channel **parked;   /* channels with a parked publish */
	uint32_t n_parked;
	struct channel **backlogged; /* channels with a backlog */
	uint32_t n_backlogged;
	uint32_t low_water, high_water; /* pool slots free: alarm below low, clear at high */
	uint64_t heap_high, heap_low;   /* large-body heap octets: alarm above high, clear at low */
	uint32_t entries_high, entries_low; /* queue entries in use: the same */
	uint32_t paged_high, paged_low;     /* paged-tail entries in use: the same */
	/* CREDIT for the deliveries from one owner to one channel, sent once
	 * per run of them */
	uint32_t credit_chan, credit_n;
	unsigned credit_owner;
	struct lp_broker_stats stats;
};

/* A connection that stopped reading its publishes. */
struct paused_publisher {
	struct lp_amqp_session *session;
	struct lp_amqp_conn *conn;
};

/* The alarms raised on b now (LP_BROKER_ALARM_*), with hysteresis:
 * broker.c. */
uint32_t lp_broker_alarms(struct lp_broker *b);

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

/* ---- owner.c: the owner side ----------------------------------------- */

struct owned_queue *lp_owner_queue(struct lp_broker *b, uint32_t qid);
/* This shard's queue qid if it exists already (never creates it), or NULL. */
struct owned_queue *lp_owner_find(struct lp_broker *b, uint32_t qid);
/* Enqueue m (takes the reference) into this shard's queue qid. Returns 0,
 * -ENOBUFS (reject-publish limit), -ENOSPC (full) or -ENOENT (no queue).
 * *ticket: the journal ticket that makes it durable, 0 when it needs none. */
int lp_owner_enqueue(struct lp_broker *b, uint32_t qid, struct lp_msg *m, uint64_t *ticket);
/* Can oq take m now (room in it and in the journal, recovered messages in)? */
bool lp_owner_can_take(struct lp_broker *b, const struct owned_queue *oq, const struct lp_msg *m);
/* Would lp_owner_enqueue(oq, m) append a record to this shard's journal?
 * paged: lp_page_wants(b, oq), which the caller asked already. */
bool lp_owner_journals(const struct lp_broker *b, const struct owned_queue *oq,
		       const struct lp_msg *m, bool paged);
/* Handle an operation from shard op->src (or a local one). Takes op->ptr's reference. */
void lp_op_handle(struct lp_broker *b, const struct lp_ring_op *op);
/* The handlers of the owner side's operation types (owner.c). */
void lp_owner_on_enqueue(struct lp_broker *b, const struct lp_ring_op *op);
void lp_owner_on_settle(struct lp_broker *b, const struct lp_ring_op *op);
void lp_owner_on_credit(struct lp_broker *b, const struct lp_ring_op *op);
void lp_owner_on_recover(struct lp_broker *b, const struct lp_ring_op *op);
void lp_owner_on_chan_closed(struct lp_broker *b, const struct lp_ring_op *op);
/* CONSUME, CANCEL, GET, PURGE, COUNTS: answered with their *_REPLY. */
void lp_owner_on_request(struct lp_broker *b, const struct lp_ring_op *op);
/* Answer a request (CONSUME, CANCEL, GET, PURGE, COUNTS) into reply. */
void lp_owner_request(struct lp_broker *b, const struct lp_ring_op *op, struct lp_ring_op *reply);
/* Ack or nack (op->flags) channel op->chan's deliveries up to op->tag in
 * this shard's queues. Returns how many deliveries were settled. */
int lp_owner_settle(struct lp_broker *b, const struct lp_ring_op *op);
/* Dispatch ready messages of the live queues. */
void lp_owner_dispatch(struct lp_broker *b);
/* Drop queues the snapshot no longer has (their consumers are told). */
void lp_owner_check_topology(struct lp_broker *b);
void lp_owner_destroy_queues(struct lp_broker *b);

/* ---- broker.c: the channel side, used by owner.c ---------------------- */

/* Stage op for shard dst (this shard's own: handled at once), flushed once
 * per poll. Returns 0, or -ENOBUFS when the stage and the ring are both full
 * (lp_broker_config.stage_ops; counted as ops_refused): op is dropped and its
 * message reference released. Publishers pause and owners stop dispatching
 * at LP_BROKER_STAGE_PAUSE, far below, so that only a shard that stopped
 * reading its rings gets there. */
int lp_broker_send(struct lp_broker *b, unsigned dst, struct lp_ring_op op);
/* Owner of a topology queue on this dataplane. */
unsigned lp_broker_owner(const struct lp_broker *b, uint16_t owner_shard);
/* The local channel for id, or NULL (closed, or another generation). */
struct channel *lp_broker_chan(struct lp_broker *b, uint32_t id);
/* Tag for a delivery of m on local channel id; 0 when its connection's
 * send buffer cannot take m besides what is already promised this burst. */
uint64_t lp_broker_local_tag(struct lp_broker *b, uint32_t id, const struct lp_msg *m, bool no_ack);
/* Upper bound of the octets a delivery of m takes in a send buffer. */
size_t lp_broker_wire_size(const struct lp_msg *m);
/* Encode a delivery for consumer handle on local channel bc (NULL: closed),
 * from owner (tag: the owner's; the channel's own when owner is this shard).
 * Takes m's reference. */
void lp_broker_deliver(struct lp_broker *b, struct channel *bc, uint32_t handle, struct lp_msg *m,
		       uint64_t tag, bool redelivered, unsigned owner, bool no_ack);
/* The owner removed consumer handle (queue deleted): Basic.Cancel to the client. */
void lp_broker_consumer_cancelled(struct lp_broker *b, uint32_t handle);
/* LP_OP_DELIVER (deliver.c), LP_OP_CANCELLED (consume.c). */
void lp_deliver_on_deliver(struct lp_broker *b, const struct lp_ring_op *op);
void lp_consume_on_cancelled(struct lp_broker *b, const struct lp_ring_op *op);
/* An owner's verdict on a publish awaiting it (LP_OP_CONFIRM). */
void lp_confirm_on_verdict(struct lp_broker *b, const struct lp_ring_op *op);
/* An operation answering a channel's paused request. */
void lp_consume_on_reply(struct lp_broker *b, const struct lp_ring_op *op);
/* Read the newest snapshot now (the publisher's, when there is one). */
void lp_broker_refresh_snapshot(struct lp_broker *b);
/* Tell lepus-control that auto-delete queue (vhost, name) has no consumer left. */
void lp_broker_queue_unused(struct lp_broker *b, const char *vhost, const char *name);
/* queue_stats.c */
int lp_queue_stats_init(struct lp_broker *b, uint32_t max_queues);
void lp_queue_stats_fini(struct lp_broker *b);
void lp_queue_stats_sample(struct lp_broker *b, uint64_t now_us);

/* ---- small helpers of the channel side ---- */

static inline struct lp_broker *broker_of(struct lp_amqp_session *s)
{
	return lp_amqp_session_arg(s);
}

static inline void copy_name(char *dst, struct lp_amqp_bytes v)
{
	size_t n = v.len < LP_CTL_NAME_MAX ? v.len : LP_CTL_NAME_MAX;

	memcpy(dst, v.ptr, n);
	dst[n] = '\0';
}

/* Publishes travel on the data lane, everything else on the control lane. */
static inline unsigned op_lane(const struct lp_ring_op *op)
{
	return op->type == LP_OP_ENQUEUE ? LP_MESH_DATA : LP_MESH_CTL;
}

static inline struct channel *chan_get(struct lp_amqp_conn *c, uint16_t ch)
{
	return c->channels[ch].user;
}

static inline struct consumer *consumer_of(struct lp_broker *b, uint32_t handle)
{
	uint32_t slot = lp_id_slot(handle);

	if (slot >= b->cfg.max_consumers)
		return NULL;
	struct consumer *k = &b->consumers[slot];

	return k->used && (k->gen << LP_BROKER_SLOT_BITS | slot) == handle ? k : NULL;
}

static inline uint32_t consumer_handle(const struct lp_broker *b, const struct consumer *k)
{
	return k->gen << LP_BROKER_SLOT_BITS | (uint32_t)(k - b->consumers);
}

/* ---- mesh.c: staging and reading the rings ---- */

void lp_mesh_flush(struct lp_broker *b);
bool lp_mesh_stages_full(const struct lp_broker *b, uint32_t limit);
void lp_mesh_apply_earlier(struct lp_broker *b, unsigned except);
void lp_mesh_read_data(struct lp_broker *b, unsigned src);
void lp_mesh_read_ctl(struct lp_broker *b, unsigned src);

/* ---- deliver.c ---- */

void lp_credit_flush(struct lp_broker *b);
bool lp_op_fits(const struct channel *bc, const struct lp_ring_op *op);
int lp_backlog_push(struct lp_broker *b, struct channel *bc, const struct lp_ring_op *op);
void lp_backlog_drop(struct lp_broker *b, struct channel *bc);
void lp_backlog_run_all(struct lp_broker *b);

/* ---- declare.c ---- */

int lp_declare_submit(struct lp_broker *b, struct channel *bc, uint16_t type);
const struct lp_topology_queue *lp_declare_queue_lookup(const struct lp_broker *b, const char *vhost,
						    const char *name);
void lp_declare_queue_name(struct channel *bc, char *dst, struct lp_amqp_bytes v);
int lp_declare_method(struct lp_broker *b, struct channel *bc, const struct lp_amqp_method *m);
void lp_declare_send_ok(struct channel *bc, const struct lp_amqp_method *ok);

/* ---- tx.c ---- */

void lp_tx_discard(struct lp_broker *b, struct channel *bc);
int lp_tx_push(struct lp_broker *b, struct channel *bc, struct tx_entry e);
int lp_tx_method(struct lp_broker *b, struct channel *bc, uint32_t method_id);
/* Apply txq from its head: 0 (Commit-Ok sent), -EINPROGRESS (parked, or
 * waiting for the journals) or -EINVAL (the channel was closed). */
int lp_tx_commit_run(struct lp_broker *b, struct channel *bc);
/* Every publish of the waiting commit is done: Commit-Ok, reading resumes. */
void lp_tx_commit_done(struct channel *bc);

/* ---- consume.c ---- */

void lp_remote_tags_orphan(struct lp_broker *b, struct channel *bc, uint64_t tag);
int lp_remote_tags_push(struct lp_broker *b, struct channel *bc, uint64_t tag, unsigned owner,
			uint64_t owner_tag);
int lp_consume_request(struct lp_broker *b, struct channel *bc, unsigned owner, struct lp_ring_op op,
		   enum channel_wait wait);
int lp_consume_start(struct lp_broker *b, struct channel *bc, const struct lp_amqp_basic_consume *a);
int lp_consume_cancel(struct lp_broker *b, struct channel *bc, const struct lp_amqp_basic_cancel *a);
int lp_consume_settle_now(struct lp_broker *b, struct channel *bc, uint32_t method_id, uint64_t tag,
		      uint8_t flags);
int lp_consume_settle(struct lp_broker *b, struct channel *bc, uint32_t method_id, uint64_t tag,
		  bool multiple, bool ack, bool requeue);
int lp_consume_get(struct lp_broker *b, struct channel *bc, const struct lp_amqp_basic_get *a);
/* Ask the owners again for the Basic.Gets they answered with LP_OP_F_RETRY. */
void lp_consume_retry_gets(struct lp_broker *b);

/* ---- publish.c ---- */

int lp_publish_start(struct lp_broker *b, struct channel *bc, const struct lp_amqp_basic_publish *p);
int lp_publish_route(struct lp_broker *b, struct channel *bc, struct lp_msg *m, uint32_t xi,
			 bool mandatory, uint64_t seq);
/* The same for destinations already routed (n snapshot queue indexes).
 * bc may be NULL when seq is 0 and mandatory false (a dead letter). */
int lp_publish_to(struct lp_broker *b, struct channel *bc, struct lp_msg *m, const uint32_t *dests,
		  int n, bool mandatory, uint64_t seq);

/* ---- reply_to.c: direct reply-to ---- */

/* Is name the pseudo-queue amq.rabbitmq.reply-to / a reply name under it? */
bool lp_reply_to_is_pseudo(struct lp_amqp_bytes name);
bool lp_reply_to_is_name(const char *s, size_t len);
/* Basic.Consume of the pseudo-queue with consumer slot k (tag and gen set,
 * not used yet): Consume-Ok, or a channel error. Returns 0 or < 0. */
int lp_reply_to_consume(struct lp_broker *b, struct channel *bc,
			const struct lp_amqp_basic_consume *a, struct consumer *k);
/* The properties p (encoded: raw) of bc's publish name the pseudo-queue as
 * reply_to: write them to bc->pub with the channel's reply name instead.
 * Returns 0, or < 0 after a channel error (no reply consumer: 406). */
int lp_reply_to_stamp(struct lp_broker *b, struct channel *bc,
		      const struct lp_amqp_basic_properties *p, struct lp_amqp_bytes raw);
/* Deliver m (published to "" with a reply name; the caller keeps its
 * reference) to its requester. Returns 0 (delivered, or dropped: the
 * requester is gone), -EAGAIN (no room now: the publisher waits). */
int lp_reply_to_route(struct lp_broker *b, struct channel *bc, struct lp_msg *m, uint64_t seq);
/* Passive Queue.Declare of the pseudo-queue: Declare-Ok. */
int lp_reply_to_declare(struct channel *bc);

/* ---- dead_letter.c ---- */

/* A message a queue of this shard dead-lettered, waiting to be routed. */
struct dead_letter {
	struct lp_msg *msg;   /* the queue's reference */
	uint64_t since;       /* pool clock when it died */
	uint32_t qid;
	uint8_t why;          /* enum lp_queue_dead */
};

/* lp_queue_dead_fn of the queues with a dead-letter exchange (ctx: the
 * owned_queue): queues m (takes its reference) for lp_dead_letter_run. */
void lp_dead_letter_push(void *ctx, struct lp_msg *m, enum lp_queue_dead why);
/* Route the queued dead letters (the start of each poll iteration). */
void lp_dead_letter_run(struct lp_broker *b);
/* Release the queued ones (shutdown). */
void lp_dead_letter_drop_all(struct lp_broker *b);
void lp_publish_retry_parked(struct lp_broker *b);
/* Put bc on the list of channels retried by lp_publish_retry_parked. */
void lp_publish_park(struct lp_broker *b, struct channel *bc);

/* ---- confirm.c ---- */

/* Publish seq is confirmed (ack) or refused, in order with the earlier
 * ones: an ack joins the channel's run, sent at lp_confirm_flush; a nack
 * goes at once (after the run) when nothing earlier waits. */
void lp_confirm_publish(struct lp_broker *b, struct channel *bc, uint64_t seq, bool ack);
/* Publish seq waits for verdicts (entry->outstanding of them). NULL: the
 * shard's pool of them is used up (the caller checked it was not). */
struct pending_confirm *lp_confirm_wait(struct lp_broker *b, struct channel *bc, uint64_t seq);
/* An entry of bc's confirms has all its verdicts: send at the next flush. */
void lp_confirm_ready(struct lp_broker *b, struct channel *bc);
/* Once per poll: send what the channels' confirms became, runs of acks as
 * one Basic.Ack multiple=true. */
void lp_confirm_flush(struct lp_broker *b);

/* ---- persist.c: the journal ---- */

int lp_persist_open(struct lp_broker *b);
void lp_persist_close(struct lp_broker *b);
/* Would m in oq be journaled (durable queue, persistent message, a journal)? */
bool lp_persist_wants(const struct lp_broker *b, const struct owned_queue *oq, const struct lp_msg *m);
/* Room for n records of m in the journal's buffer now? */
bool lp_persist_fits(const struct lp_broker *b, const struct lp_msg *m, unsigned n);
/* Append m's ENQUEUE for oq: ref filled; returns the ticket (> 0) or -ENOBUFS. */
int64_t lp_persist_enqueue(struct lp_broker *b, struct owned_queue *oq, const struct lp_msg *m,
			   struct lp_queue_jref *ref);
void lp_persist_settle(struct lp_broker *b, uint32_t store_id, const struct lp_queue_jref *ref);
/* lp_queue_gone_fn of journaled queues (ctx: the owned_queue). */
void lp_persist_gone(void *ctx, const struct lp_queue_jref *ref, enum lp_queue_gone why);
/* Before Queue.Purge (deleted false) or Queue.Delete of oq. */
void lp_persist_end(struct lp_broker *b, struct owned_queue *oq, bool deleted);
/* A new owned queue: its recovered messages; feed moves them in while it can take them. */
void lp_persist_attach(struct lp_broker *b, struct owned_queue *oq);
void lp_persist_feed(struct lp_broker *b, struct owned_queue *oq);
/* The first topology from lepus-control: recovered messages to their queues. */
void lp_persist_adopt(struct lp_broker *b);
/* The owner's verdict on a forwarded recovered message (LP_CHAN_ADOPT). */
void lp_persist_adopted(struct lp_broker *b, uint64_t index);
/* The confirm of (worker, chan, seq) once ticket is durable. -ENOBUFS: no room. */
int lp_persist_wait_durable(struct lp_broker *b, uint64_t ticket, unsigned worker, uint32_t chan,
			    uint64_t seq);
bool lp_persist_waits_full(const struct lp_broker *b);
/* Once per poll: reap completions, retry settles, confirm what is durable. */
void lp_persist_poll(struct lp_broker *b);
/* Once per poll, last: group commit of what this iteration appended. */
void lp_persist_flush(struct lp_broker *b);
/* Write or fsync failed: say so and exit (EX_IOERR). */
_Noreturn void lp_persist_fail_stop(struct lp_broker *b, const char *what, int rc);
/* A message of the pool from an ENQUEUE record's payload; NULL with *err
 * EBADMSG (not such a payload), ENOSPC (pool empty) or ENOMEM. */
struct lp_msg *lp_persist_decode(struct lp_broker *b, const void *payload, uint32_t len, int *err);
/* The octets m's record takes in the journal. */
uint64_t lp_persist_record_len(const struct lp_msg *m);

/* Compaction (compact.c): append a copy of the message at ref (same queue
 * and sequence) from m, or from its record's payload; ref gets the copy's
 * place and the old record is released once the copy is durable. Returns
 * false when there is no room now (nothing changed). */
bool lp_persist_move_msg(struct lp_broker *b, uint32_t store_id, struct lp_queue_jref *ref,
			 const struct lp_msg *m);
bool lp_persist_move_raw(struct lp_broker *b, uint32_t store_id, struct lp_queue_jref *ref,
			 const void *payload, uint32_t len);

/* ---- compact.c ---- */

/* A bounded step of journal compaction (every poll, from lp_persist_poll). */
void lp_compact_step(struct lp_broker *b);
/* Compaction's walk over the paged tails (page.c): moves or reads back the
 * entries [*from, ...) in segment seg, at most budget of them visited.
 * Returns false when it had to stop early (no room, no read slot). */
bool lp_page_compact(struct lp_broker *b, uint32_t seg, uint32_t *from, unsigned budget);
/* Entries of the paged tails ever used (the walk's end). */
uint32_t lp_page_entries_used(const struct lp_broker *b);

/* ---- page.c ---- */

int lp_page_init(struct lp_broker *b);  /* after lp_persist_open */
void lp_page_fini(struct lp_broker *b); /* after lp_persist_close */
/* Should what is routed to oq now go to its paged tail? */
bool lp_page_wants(const struct lp_broker *b, const struct owned_queue *oq);
/* Can m be paged out (read back later into a pool slot)? */
bool lp_page_readable(const struct lp_msg *m);
bool lp_page_has_room(const struct lp_broker *b);
/* Append to oq's paged tail: m (its reference taken), or NULL when the
 * message is only in the journal at ref. Returns 0 or -ENOSPC. */
int lp_page_push(struct lp_broker *b, struct owned_queue *oq, struct lp_msg *m,
		 const struct lp_queue_jref *ref, bool redelivered);
/* Read ahead and move the tail's head into oq's queue (every poll while
 * the tail is not empty). */
void lp_page_fill(struct lp_broker *b, struct owned_queue *oq);
/* A read-back completed (from lp_persist_poll). */
void lp_page_on_read(struct lp_broker *b, const struct lp_store_read_done *d);
/* Queue.Purge/Delete: the tail goes (records released when the queue's
 * end was recorded, else settled). */
void lp_page_drop(struct lp_broker *b, struct owned_queue *oq, bool ended);
/* Ready messages of oq: in its queue, its paged tail, still recovering. */
uint32_t lp_owner_ready_count(const struct owned_queue *oq);
