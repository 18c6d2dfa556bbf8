/* SPDX-License-Identifier: MIT */
/*
 * The operations shards send each other through the ring mesh (mesh.h): a
 * fixed 32-byte element per operation, a constructor per type, and the one
 * predicate that says which carry a message reference. Each type is handled
 * in the file that owns it (the table in mesh.c, lp_op_handle): the owner
 * side (owner.c) takes ENQUEUE, SETTLE, CREDIT, RECOVER, CHAN_CLOSED and the
 * requests; the channel side takes DELIVER (deliver.c), CONFIRM (confirm.c),
 * CANCELLED and the replies (consume.c).
 *
 * Ownership: an operation carrying a message (lp_op_carries_msg) holds one
 * reference to it; whoever dequeues the operation owns that reference.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Operation types (struct lp_ring_op.type). Requests name the channel that
 * waits (chan) and are answered with the matching *_REPLY on the ring back. */
enum lp_ring_op_type {
	LP_OP_ENQUEUE = 1, /* ptr: message for queue qid (publisher -> owner) */
	LP_OP_DELIVER,     /* ptr: message for consumer aux on chan (owner -> consumer) */
	LP_OP_SETTLE,      /* ack/nack of owner tag `tag` on chan (flags) */
	LP_OP_CREDIT,      /* aux deliveries to chan were written out */
	LP_OP_RECOVER,     /* requeue chan's unacked deliveries */
	LP_OP_CHAN_CLOSED, /* chan closed: its consumers go, unacked requeued */
	LP_OP_CONSUME,     /* add consumer: handle aux, prefetch and x-priority in tag
			    * (lp_op_consume_tag), flags */
	LP_OP_CONSUME_REPLY, /* aux: owner's consumer id, or (int32_t)-errno; tag: handle */
	LP_OP_CANCEL,      /* remove owner consumer aux of queue qid */
	LP_OP_CANCEL_REPLY,
	LP_OP_GET,         /* Basic.Get from qid (flags: no-ack) */
	LP_OP_GET_REPLY,   /* ptr: message or NULL; tag: owner tag; aux: message count */
	LP_OP_PURGE,       /* purge qid */
	LP_OP_PURGE_REPLY, /* aux: messages purged */
	LP_OP_COUNTS,      /* counts of qid */
	LP_OP_COUNTS_REPLY, /* aux: messages; tag: consumers (UINT64_MAX: no such queue) */
	LP_OP_CANCELLED,   /* the owner removed consumer aux (queue deleted): notify */
	LP_OP_CONFIRM,     /* ENQUEUE with F_CONFIRM done: publish tag on chan, F_ACK or not */
	LP_OP__COUNT,
};

/* lp_ring_op.flags */
enum {
	LP_OP_F_MULTIPLE = 1u << 0,
	LP_OP_F_ACK = 1u << 1,      /* SETTLE: ack (else nack/reject) */
	LP_OP_F_REQUEUE = 1u << 2,
	LP_OP_F_NO_ACK = 1u << 3,   /* CONSUME, GET, DELIVER */
	LP_OP_F_EXCLUSIVE = 1u << 4, /* CONSUME */
	LP_OP_F_REDELIVERED = 1u << 5, /* DELIVER, GET_REPLY */
	LP_OP_F_CONFIRM = 1u << 6,  /* ENQUEUE: answer with CONFIRM (chan, tag) */
	LP_OP_F_RETRY = 1u << 7,    /* GET_REPLY: nothing in memory yet, but the queue's paged
				     * tail is being read back: ask again (page.c) */
};

/* One operation: 32 bytes, the ring's element size. */
struct lp_ring_op {
	uint8_t type;  /* enum lp_ring_op_type */
	uint8_t flags; /* LP_OP_F_* */
	uint16_t src;  /* the worker that sent it */
	uint32_t qid;  /* queue id (lp_topology_queue.qid) */
	uint32_t chan; /* channel id: worker << 24 | generation << 12 | slot */
	uint32_t aux;
	uint64_t tag;
	void *ptr;
};

_Static_assert(sizeof(struct lp_ring_op) == 32, "ring element size");

/* Does op hold a message reference (ptr)? The one place that says so. */
static inline bool lp_op_carries_msg(const struct lp_ring_op *op)
{
	return op->ptr != NULL && (op->type == LP_OP_ENQUEUE || op->type == LP_OP_DELIVER ||
				   op->type == LP_OP_GET_REPLY);
}

/* Publisher -> owner: msg (one reference) for queue qid. With confirm, the
 * owner answers CONFIRM (chan, seq) with its verdict. */
static inline struct lp_ring_op lp_op_enqueue(uint32_t qid, void *msg, bool confirm, uint32_t chan,
					     uint64_t seq)
{
	return (struct lp_ring_op){.type = LP_OP_ENQUEUE, .qid = qid, .ptr = msg,
				   .flags = confirm ? LP_OP_F_CONFIRM : 0,
				   .chan = confirm ? chan : 0, .tag = confirm ? seq : 0};
}

/* Owner -> consumer's worker: msg (one reference) for consumer handle on chan,
 * under the owner's tag. flags: LP_OP_F_REDELIVERED, LP_OP_F_NO_ACK. */
static inline struct lp_ring_op lp_op_deliver(uint32_t qid, uint32_t chan, uint32_t handle,
					     void *msg, uint64_t owner_tag, uint8_t flags)
{
	return (struct lp_ring_op){.type = LP_OP_DELIVER, .qid = qid, .chan = chan, .aux = handle,
				   .ptr = msg, .tag = owner_tag, .flags = flags};
}

/* Channel -> owner: ack or nack (flags LP_OP_F_ACK, _MULTIPLE, _REQUEUE) of
 * the owner's tag on chan. */
static inline struct lp_ring_op lp_op_settle(uint32_t chan, uint64_t owner_tag, uint8_t flags)
{
	return (struct lp_ring_op){.type = LP_OP_SETTLE, .chan = chan, .tag = owner_tag,
				   .flags = flags};
}

/* Channel -> owner: n deliveries to chan were written to its connection. */
static inline struct lp_ring_op lp_op_credit(uint32_t chan, uint32_t n)
{
	return (struct lp_ring_op){.type = LP_OP_CREDIT, .chan = chan, .aux = n};
}

/* Channel -> owner: a notice about chan alone (LP_OP_RECOVER, LP_OP_CHAN_CLOSED). */
static inline struct lp_ring_op lp_op_chan_notice(uint8_t type, uint32_t chan)
{
	return (struct lp_ring_op){.type = type, .chan = chan};
}

/* Channel -> owner: a request about queue qid that chan waits for
 * (LP_OP_CONSUME, _CANCEL, _GET, _PURGE, _COUNTS); aux, tag and flags as
 * the type says (enum lp_ring_op_type). */
static inline struct lp_ring_op lp_op_request(uint8_t type, uint32_t qid, uint32_t chan,
					     uint32_t aux, uint64_t tag, uint8_t flags)
{
	return (struct lp_ring_op){.type = type, .qid = qid, .chan = chan, .aux = aux, .tag = tag,
				   .flags = flags};
}

/* LP_OP_CONSUME's tag: the consumer's prefetch (low 16 bits) and its
 * x-priority (high 32 bits, two's complement); read back with the two below. */
static inline uint64_t lp_op_consume_tag(uint16_t prefetch, int32_t priority)
{
	return (uint64_t)(uint32_t)priority << 32 | prefetch;
}

static inline uint16_t lp_op_consume_prefetch(const struct lp_ring_op *op)
{
	return (uint16_t)op->tag;
}

static inline int32_t lp_op_consume_priority(const struct lp_ring_op *op)
{
	return (int32_t)(uint32_t)(op->tag >> 32);
}

/* Owner -> channel: the reply to request req (its *_REPLY type), to be filled in. */
static inline struct lp_ring_op lp_op_reply(const struct lp_ring_op *req, uint8_t type)
{
	return (struct lp_ring_op){.type = type, .qid = req->qid, .chan = req->chan};
}

/* Owner -> publisher's worker: the verdict on publish seq of chan. */
static inline struct lp_ring_op lp_op_confirm(uint32_t chan, uint64_t seq, bool ack)
{
	return (struct lp_ring_op){.type = LP_OP_CONFIRM, .chan = chan, .tag = seq,
				   .flags = ack ? LP_OP_F_ACK : 0};
}

/* Owner -> consumer's worker: consumer handle of queue qid was removed (queue deleted). */
static inline struct lp_ring_op lp_op_cancelled(uint32_t qid, uint32_t chan, uint32_t handle)
{
	return (struct lp_ring_op){.type = LP_OP_CANCELLED, .qid = qid, .chan = chan, .aux = handle};
}
