/* SPDX-License-Identifier: MIT */
/*
 * The shard ring mesh (DESIGN.md "shard <-> shard"): two single-producer/
 * single-consumer rte_rings ("lanes") for every ordered pair of worker
 * shards: the data lane carries publishes for the owner's queues (ENQUEUE),
 * which the owner stops reading while the queue is full (back-pressure);
 * the control lane carries everything else and is always read, so that
 * acknowledgements still return credit to a full queue's consumers. They carry
 * fixed-size operations (struct lp_shard_op: a message reference to enqueue,
 * a delivery for a consumer, an acknowledgement back to the owner, a request
 * and its reply), plus one pointer ring each way between every worker and
 * the main lcore for what goes to lepus-control (declarations, closed
 * connections, unused auto-delete queues) and its answers.
 *
 * The rings are created by the main lcore before the workers run and freed
 * after they stop. Ring (src, dst) is written only by worker src and read
 * only by worker dst; each worker batches what it writes (broker.c stages
 * operations and flushes them once per poll iteration).
 *
 * Ownership: an operation carrying a message (ptr) carries one reference to
 * it; whoever dequeues the operation owns that reference.
 */
#pragma once

#include <stdint.h>

struct rte_ring;

/* Operation types (struct lp_shard_op.type). Requests name the channel that
 * waits (chan) and are answered with the matching *_REPLY on the ring back. */
enum lp_shard_op_type {
	LP_SHARD_ENQUEUE = 1, /* ptr: message for queue qid (publisher -> owner) */
	LP_SHARD_DELIVER,     /* ptr: message for consumer aux on chan (owner -> consumer) */
	LP_SHARD_SETTLE,      /* ack/nack of owner tag `tag` on chan (flags) */
	LP_SHARD_CREDIT,      /* aux deliveries to chan were written out */
	LP_SHARD_RECOVER,     /* requeue chan's unacked deliveries */
	LP_SHARD_CHAN_CLOSED, /* chan closed: its consumers go, unacked requeued */
	LP_SHARD_CONSUME,     /* add consumer: handle aux, prefetch tag, flags */
	LP_SHARD_CONSUME_REPLY, /* aux: owner's consumer id, or (int32_t)-errno; tag: handle */
	LP_SHARD_CANCEL,      /* remove owner consumer aux of queue qid */
	LP_SHARD_CANCEL_REPLY,
	LP_SHARD_GET,         /* Basic.Get from qid (flags: no-ack) */
	LP_SHARD_GET_REPLY,   /* ptr: message or NULL; tag: owner tag; aux: message count */
	LP_SHARD_PURGE,       /* purge qid */
	LP_SHARD_PURGE_REPLY, /* aux: messages purged */
	LP_SHARD_COUNTS,      /* counts of qid */
	LP_SHARD_COUNTS_REPLY, /* aux: messages; tag: consumers (UINT64_MAX: no such queue) */
	LP_SHARD_CANCELLED,   /* the owner removed consumer aux (queue deleted): notify */
	LP_SHARD_CONFIRM,     /* ENQUEUE with F_CONFIRM done: publish tag on chan, F_ACK or not */
};

/* lp_shard_op.flags */
enum {
	LP_SHARD_F_MULTIPLE = 1u << 0,
	LP_SHARD_F_ACK = 1u << 1,      /* SETTLE: ack (else nack/reject) */
	LP_SHARD_F_REQUEUE = 1u << 2,
	LP_SHARD_F_NO_ACK = 1u << 3,   /* CONSUME, GET, DELIVER */
	LP_SHARD_F_EXCLUSIVE = 1u << 4, /* CONSUME */
	LP_SHARD_F_REDELIVERED = 1u << 5, /* DELIVER, GET_REPLY */
	LP_SHARD_F_CONFIRM = 1u << 6,  /* ENQUEUE: answer with CONFIRM (chan, tag) */
};

/* One operation: 32 bytes, the ring's element size. */
struct lp_shard_op {
	uint8_t type;  /* enum lp_shard_op_type */
	uint8_t flags; /* LP_SHARD_F_* */
	uint16_t src;  /* the worker that sent it */
	uint32_t qid;  /* queue id (lp_topology_queue.qid) */
	uint32_t chan; /* channel id: worker << 24 | generation << 12 | slot */
	uint32_t aux;
	uint64_t tag;
	void *ptr;
};

_Static_assert(sizeof(struct lp_shard_op) == 32, "ring element size");

struct lp_mesh;

/*
 * Rings for n_workers shards (1 .. 255), ring_size operations each (a power
 * of two). Returns the mesh, or NULL
 * with rte_errno set.
 */
struct lp_mesh *lp_mesh_create(unsigned n_workers, unsigned ring_size);

/* Free every ring (workers stopped). Operations left in rings are dropped:
 * message references in them are released. NULL is a no-op. */
void lp_mesh_destroy(struct lp_mesh *m);

unsigned lp_mesh_workers(const struct lp_mesh *m);

enum lp_mesh_lane {
	LP_MESH_CTL = 0,
	LP_MESH_DATA = 1,
	LP_MESH_LANES = 2,
};

/* Ring of lane written by worker src, read by worker dst (src != dst). */
struct rte_ring *lp_mesh_ring(const struct lp_mesh *m, unsigned src, unsigned dst, unsigned lane);

/* Pointer rings between worker w and the main lcore (see broker.h for what
 * travels on them). */
struct rte_ring *lp_mesh_to_main(const struct lp_mesh *m, unsigned w);
struct rte_ring *lp_mesh_from_main(const struct lp_mesh *m, unsigned w);
