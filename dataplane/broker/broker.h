/* SPDX-License-Identifier: MIT */
/*
 * The broker shard of one worker: the AMQP methods of classes exchange,
 * queue, basic and confirm for the connections on this worker, and the
 * queues this worker owns (DESIGN.md "message path").
 *
 * Every queue has one owner shard (lepus-control's choice: the declaring
 * connection's worker). Basic.Publish routes through the current topology
 * snapshot (topology.h); a destination owned here is enqueued at once, one
 * owned elsewhere gets the message reference through the ring to its owner
 * (mesh.h), batched and flushed once per poll. The owner dispatches to
 * consumers on any worker: a delivery for a channel on another worker goes
 * through the ring back, and that worker encodes Basic.Deliver; acks, nacks,
 * cancels, Basic.Get and purges travel to the owner the same way.
 *
 * Declarations go to lepus-control and the channel waits (-EINPROGRESS
 * pauses its connection) until the RESULT arrives and the snapshot carrying
 * its version is published. With one lcore the worker calls the control link
 * itself; with several, requests and results travel through the main lcore
 * (lp_broker_relay_*), which owns the link.
 */
#pragma once

#include <stdatomic.h>
#include <stdint.h>

#include "amqp_conn.h"

struct lp_amqp_session;
struct lp_broker;
struct lp_ctl_link;
struct lp_snapshot;
struct lp_snapshot_publisher;
struct lp_ctl_result;
struct lp_ctl_queue_stat;
struct lp_mesh;

struct lp_broker_config {
	/* journal of persistent messages in <data_dir>/shard-<worker>/; NULL or
	 * "": none (persistent messages are kept in memory only) */
	const char *data_dir;
	uint32_t max_messages;  /* message pool per worker (default 65536) */
	uint32_t body_max;      /* body kept in the message slot (default 4 KiB; larger: heap) */
	uint32_t max_queues;    /* owned per worker (default 1024) */
	uint32_t queue_capacity; /* messages per queue (default 65536) */
	uint32_t queue_entries; /* messages held by all owned queues together (default 262144) */
	uint32_t max_channels;  /* open channels on the worker (default 4096, at most 4096) */
	uint32_t max_consumers; /* per worker (default 4096, at most 4096) */
	/* Sized here, never grown (no allocation on a worker after start-up);
	 * when one is used up the caller gets -ENOBUFS and back-pressure applies. */
	uint32_t stage_ops;        /* operations staged per ring (default 16384) */
	uint32_t remote_unacked;   /* deliveries from other shards not acked yet (default 262144) */
	uint32_t backlog_ops;      /* operations kept back for full connections (default 65536) */
	uint32_t pending_confirms; /* publishes awaiting owners' verdicts (default 65536) */
	uint32_t tx_entries;       /* publishes and acks in open transactions (default 65536) */
	/* Deep queues (with a data directory): a durable queue holding
	 * page_after ready messages in memory (default 4096), or any when half
	 * the message pool is in use, keeps what comes next in the journal
	 * only; page_entries such messages per worker at most (default 16 Mi,
	 * 40 octets each, in memory only once used). 0: no paging. */
	uint32_t page_after;
	uint32_t page_entries;
	uint64_t segment_bytes;    /* journal segment files (0: the store's default, 64 MiB) */
	/* The message pool's pages resident from the start (else as slots are
	 * first used: memory follows use, up to max_messages slots). */
	bool prefault;
	/* Resource alarms (RabbitMQ's): the memory alarm is raised when this
	 * fraction of the message pool (slots or heap budget for large bodies)
	 * is in use and cleared below it minus 1/8 (default 0.875). */
	double memory_high_watermark;
	/* LP_BROKER_ALARM_DISK when the data directory's free space is under the
	 * limit: set by the main lcore, read by the worker (NULL: never). */
	const _Atomic uint32_t *disk_alarm;
	/* Journal fault injection (--store-fault; lp_store_config): the flush
	 * with this number fails its fdatasync / is torn. 0: off. */
	uint64_t store_fault_sync_eio_at, store_fault_torn_write_at;
};

/* Alarm bits (lp_broker_stats.alarms). While one is raised, publishing
 * connections of the shard get Connection.Blocked (when they announced the
 * connection.blocked capability) and are not read; Unblocked when it clears. */
enum {
	LP_BROKER_ALARM_MEMORY = 1u << 0,
	LP_BROKER_ALARM_DISK = 1u << 1,
};

/* Counters of one shard (read by the main lcore: approximate). */
struct lp_broker_stats {
	uint64_t published;     /* Basic.Publish completed */
	uint64_t routed_local;  /* message references enqueued here */
	uint64_t routed_remote; /* sent to another shard's queue */
	uint64_t unroutable;
	uint64_t delivered;     /* Basic.Deliver and Get-Ok written */
	uint64_t ops_sent, ops_received;
	uint64_t dropped_queue_full;
	uint64_t ops_refused;   /* lp_broker_send: stage and ring full (never, unless a shard stalls) */
	uint64_t notices_lost;  /* connection-closed and queue-unused notices with no relay message
				 * left (never, unless the main lcore stalls) */
	/* the journal */
	uint64_t persisted;     /* ENQUEUE records appended */
	uint64_t flushes;       /* group commits submitted */
	uint64_t recovered;     /* live messages found at start-up */
	uint64_t recovered_orphans; /* of them, of queues gone: settled */
	uint64_t recovered_forwarded; /* of them, sent to the worker that owns their queue now */
	uint64_t recovered_on_disk; /* of them, left on disk to be paged in (page.c) */
	/* deep queues (page.c) */
	uint64_t paged_out;     /* messages that went to a queue's paged tail on disk only */
	uint64_t paged_in;      /* read back into memory */
	uint64_t compacted;     /* records copied out of sparse segments */
	uint64_t recovered_copies; /* second copies of a message found at recovery (dropped) */
	uint64_t settles_lost;  /* settle backlog full: may come back once after a crash */
	/* queue features */
	uint64_t expired;       /* messages removed by a TTL */
	uint64_t dead_lettered; /* dead letters routed */
	uint64_t dead_lettered_remote; /* of their copies, sent to queues of other shards */
	uint64_t dead_letters_dropped; /* no exchange, a cycle, or no room for them */
	uint64_t replies;       /* direct reply-to: replies delivered here */
	uint64_t replies_remote; /* and sent to a requester on another worker */
	uint64_t replies_dropped; /* to a requester gone */
	/* gauges */
	uint64_t alarms;        /* LP_BROKER_ALARM_* raised now */
	uint64_t blocked_publishers; /* connections paused by an alarm or a full ring */
};

void lp_broker_config_default(struct lp_broker_config *cfg);

/* The memory one message of the pool takes (slot and header), with the
 * default body_max: what a memory limit is divided by. */
uint64_t lp_broker_message_bytes(void);

/* Free slots in the shard's message pool (approximate from another thread). */
uint32_t lp_broker_pool_free(const struct lp_broker *b);

/*
 * The broker shard of worker id. snapshots: what lepus-control pushes (NULL
 * in unit tests: lp_broker_set_snapshot alone). ctl: the control link when
 * this worker is the main lcore (single lcore), else NULL. mesh: the ring mesh
 * of all workers (NULL with one worker). With cfg->data_dir the shard opens
 * its journal and recovers it (blocking: start-up). Returns the shard, or
 * NULL with rte_errno EINVAL, ENOMEM, or the journal's error (printed).
 */
struct lp_broker *lp_broker_create(unsigned id, const struct lp_broker_config *cfg,
				   struct lp_snapshot_publisher *snapshots, struct lp_ctl_link *ctl,
				   struct lp_mesh *mesh);
/* Release every message reference b holds (queues, staged and held
 * operations). With several workers, call it on all of them, then destroy
 * the mesh, then lp_broker_destroy each: a message lives in its publisher's
 * pool and may be referenced from any shard. NULL is a no-op. */
void lp_broker_drop_messages(struct lp_broker *b);
void lp_broker_destroy(struct lp_broker *b);

/* The snapshot of this poll iteration (the worker's RCU read). */
void lp_broker_set_snapshot(struct lp_broker *b, const struct lp_snapshot *snap);

/* Once per poll iteration: read the rings, dispatch, flush the rings. NULL: no-op. */
void lp_broker_poll(struct lp_broker *b);

/* lepus-control answered a declaration (single lcore: from the control
 * link's handler; otherwise the broker reads it from the main lcore). */
void lp_broker_on_result(struct lp_broker *b, const struct lp_ctl_result *r);

/* Counters (NULL without a broker). */
const struct lp_broker_stats *lp_broker_stats(const struct lp_broker *b);

/*
 * From another lcore (the main one): copy the worker's last sample of its
 * queues (at most cap records, taken once a second by the worker). Returns
 * how many, or -EAGAIN when the worker was writing it (try again later).
 */
int lp_broker_queue_stats_read(const struct lp_broker *b, struct lp_ctl_queue_stat *out,
			       uint32_t cap);

/*
 * The broker's side of an AMQP session (amqp_server.h struct
 * lp_amqp_session_ops), registered by the wiring code (worker.c). ctx is the
 * session (its arg is the struct lp_broker); return values as in struct
 * lp_amqp_conn_ops.
 */
void lp_broker_on_channel_open(void *ctx, struct lp_amqp_conn *c, uint16_t ch);
void lp_broker_on_channel_close(void *ctx, struct lp_amqp_conn *c, uint16_t ch);
int lp_broker_on_method(void *ctx, struct lp_amqp_conn *c, uint16_t ch,
			const struct lp_amqp_method *m);
int lp_broker_on_content_header(void *ctx, struct lp_amqp_conn *c, uint16_t ch,
				const struct lp_amqp_content_header *h);
int lp_broker_on_content_body(void *ctx, struct lp_amqp_conn *c, uint16_t ch, const uint8_t *p,
			      size_t len, bool last);
/* The session ended: its exclusive queues go (lepus-control is told). arg: the broker. */
void lp_broker_on_session_closed(void *arg, struct lp_amqp_session *s);

/* ---- main lcore (several workers) ------------------------------------- */

struct lp_broker_relay;

/* Relay between the workers' rings and the control link. NULL: ENOMEM. */
struct lp_broker_relay *lp_broker_relay_create(struct lp_mesh *mesh, struct lp_ctl_link *ctl);
void lp_broker_relay_destroy(struct lp_broker_relay *r);
/* Forward what the workers sent to lepus-control (call on every main poll). */
void lp_broker_relay_poll(struct lp_broker_relay *r);
/* The control link's result handler: route the answer to its worker. */
void lp_broker_relay_result(struct lp_broker_relay *r, const struct lp_ctl_result *res);
