/* SPDX-License-Identifier: MIT */
/*
 * A queue on its owner shard: the FIFO of ready messages, the consumers
 * attached to it and the deliveries they have not acknowledged yet. The
 * shard drives it: routing enqueues message references, the shard calls
 * lp_queue_dispatch() once per poll iteration and encodes what it returns as
 * Basic.Deliver on the consumers' channels, and Basic.Ack/Nack/Reject,
 * Basic.Get, Queue.Purge, Basic.Cancel and channel close come back here.
 * Plain C, no DPDK, no AMQP I/O: channels and consumers are opaque to it.
 *
 * RabbitMQ semantics (classic queues, 3.x) kept here:
 *  - every enqueued message gets the next per-queue sequence number; the
 *    ready list is always in sequence order, so a requeued message (Nack or
 *    Reject with requeue, a consumer's or channel's unacked given back) goes
 *    back to its original place, before anything published after it, and is
 *    redelivered with redelivered=true (AMQP 0-9-1 basic.deliver
 *    "redelivered"; RabbitMQ keeps the original order since 2.7);
 *  - round-robin dispatch in rabbit_queue_consumers' order: the consumer
 *    served goes to the back of the line, one found without prefetch credit
 *    is blocked and rejoins at the back when an ack or nack returns credit,
 *    a new consumer joins at the back (Basic.Qos prefetch-count with
 *    global=false is per consumer; 0 means no limit; no-ack consumers are
 *    never limited);
 *  - Basic.Cancel leaves the consumer's unacked messages unacked: the channel
 *    may still ack them, and they are requeued when the channel closes
 *    (lp_queue_channel_close); a caller that wants them back at once asks
 *    for requeue when removing the consumer;
 *  - consumer priorities (Basic.Consume argument x-priority, default 0):
 *    dispatch serves the highest-priority consumers that can take a message
 *    first, round-robin among equal priorities; lower ones get messages only
 *    while every higher one is blocked (rabbit_queue_consumers keeps its
 *    consumers in a priority queue);
 *  - single active consumer (queue argument x-single-active-consumer): only
 *    one consumer gets messages, the first one attached; the others wait.
 *    When the active one goes (Basic.Cancel, its channel closed) the waiting
 *    one of highest priority, the earliest attached among equals, takes
 *    over (RabbitMQ 3.10's rabbit_queue_consumers:get_consumer), with what
 *    the channel close requeued first, in order. A cancelled active
 *    consumer's unacked deliveries hold the handover back until they are
 *    all settled or requeued, so that the queue's order holds: RabbitMQ
 *    3.10 hands over only at the queue's next dispatch, which for a client
 *    that cancels and then closes its channel (pika does) is when the close
 *    requeues them;
 *  - Queue.Purge removes ready messages only; unacked ones stay;
 *  - x-max-length and x-max-length-bytes (body bytes) count ready messages;
 *    the default overflow, drop-head, drops the oldest ready ones to make
 *    room, reject-publish refuses the new one; messages that
 *    consumers' free credit will take at the next dispatch do not count
 *    (RabbitMQ delivers those at once, before any limit applies);
 *  - message TTL (x-message-ttl, and a message's own expiration, the
 *    smaller wins) counts from the enqueue; as in RabbitMQ's classic
 *    queues, an expired message is removed when it reaches the head of the
 *    ready list (at dispatch, Basic.Get, or lp_queue_expire), so one with a
 *    short TTL behind one with a long TTL waits for it; a TTL of 0 delivers
 *    only to a consumer that takes it in the same poll iteration. Requeued
 *    messages keep their expiry;
 *  - dead-lettering (lp_queue_dead_fn) of rejected, expired and drop-head
 *    messages; purged and deleted ones are not dead-lettered (RabbitMQ);
 *  - priority queues (queue argument x-max-priority, 1 to 255; RabbitMQ's
 *    rabbit_priority_queue, one sub-queue per priority): the ready list
 *    is in (priority, highest first; seq) order, so dispatch and Basic.Get
 *    take the oldest message of the highest priority present, and a
 *    requeued message goes back to its place within its priority. A
 *    message's priority is its priority property (lp_msg.priority), 0
 *    without one, the queue's maximum above it. Everything that works at
 *    the head works at that head, as in RabbitMQ, whose priority queue
 *    runs the backing queue of each priority in turn: drop-head drops the
 *    next message to be delivered (highest priority first), and TTL expiry
 *    goes on to a lower priority only once every higher one is empty, so
 *    an expired message behind a live one of higher priority waits (it
 *    still counts as ready) until that one is gone. With x-max-priority 0
 *    the queue is an ordinary one (RabbitMQ: a single priority).
 *
 * Bounded, and nothing allocated after start-up: a shard's queues take
 * their headers, consumer slots and message entries (one per message held,
 * ready or unacked) from one struct lp_queue_pool made at start-up; each
 * queue may also have a capacity of its own. Running out is an error
 * returned (-ENOSPC), never an assert.
 *
 * Message references: a queue holds one reference per message it keeps
 * (ready or unacked). lp_queue_enqueue takes the caller's reference; every
 * lp_queue_delivery handed out carries a reference of its own for the
 * caller, who releases it once the delivery is encoded (or dropped).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lp_store.h"
#include "message.h"

#define LP_QUEUE_TAG_MAX 255          /* consumer tags are AMQP shortstrs */
#define LP_QUEUE_NO_MAX_LENGTH UINT32_MAX
#define LP_QUEUE_NO_MAX_BYTES UINT64_MAX
#define LP_QUEUE_NO_CONSUMER UINT32_MAX
#define LP_QUEUE_MAX_PRIORITY 255     /* x-max-priority (RabbitMQ's ?MAX_SUPPORTED_PRIORITY) */

struct lp_queue;
struct lp_queue_pool;

struct lp_queue_pool_config {
	uint32_t queues;          /* queue headers, >= 1 */
	uint32_t consumers;       /* consumer slots shared by the queues, >= 1 */
	uint32_t entries;         /* messages held by all the queues together, >= 1 */
};

/* Where a message of a durable queue is in its owner's journal (opaque to
 * the queue): its journal sequence and record. loc.len 0: not journaled. */
struct lp_queue_jref {
	uint64_t seq;
	struct lp_store_loc loc;
};

/* Why a journaled message left its queue for good. */
enum lp_queue_gone {
	LP_QUEUE_GONE_SETTLED, /* acked, rejected without requeue, no-ack delivery, length limit */
	LP_QUEUE_GONE_PURGED,  /* Queue.Purge */
	LP_QUEUE_GONE_DELETED, /* lp_queue_destroy */
};

/* Called for each journaled message that leaves the queue for good, while
 * the queue is being changed (it must not call back into the queue). */
typedef void (*lp_queue_gone_fn)(void *ctx, const struct lp_queue_jref *ref,
				 enum lp_queue_gone why);

/* Why a message is dead-lettered (RabbitMQ's x-death "reason"). */
enum lp_queue_dead {
	LP_QUEUE_DEAD_REJECTED, /* Basic.Reject or Basic.Nack with requeue=false */
	LP_QUEUE_DEAD_EXPIRED,  /* its TTL passed */
	LP_QUEUE_DEAD_MAXLEN,   /* dropped from the head by x-max-length(-bytes) */
};

/* Called instead of releasing a message that leaves the queue for one of
 * the reasons above, when the queue has a dead function (it has a
 * dead-letter exchange): m's reference is the function's. Called while the
 * queue is being changed: it must not call back into any queue of the
 * pool (the caller queues the message and routes it later). */
typedef void (*lp_queue_dead_fn)(void *ctx, struct lp_msg *m, enum lp_queue_dead why);

struct lp_queue_config {
	uint32_t capacity;        /* ready + unacked messages of this queue, >= 1 */
	uint32_t max_consumers;   /* >= 1 */
	uint32_t max_length;      /* x-max-length, or LP_QUEUE_NO_MAX_LENGTH */
	uint64_t max_length_bytes; /* x-max-length-bytes (bodies), or LP_QUEUE_NO_MAX_BYTES */
	bool reject_publish;      /* x-overflow reject-publish(-dlx); else drop-head */
	lp_queue_gone_fn gone;    /* NULL: nothing is journaled */
	void *gone_ctx;
	bool has_message_ttl;     /* x-message-ttl given (0 is a TTL) */
	uint64_t message_ttl;     /* x-message-ttl in ms */
	lp_queue_dead_fn dead;    /* NULL: no dead-lettering (the message is released) */
	void *dead_ctx;
	bool single_active;       /* x-single-active-consumer */
	uint8_t max_priority;     /* x-max-priority; 0: not a priority queue */
};

struct lp_queue_consumer_spec {
	const char *tag;          /* not NUL-terminated */
	size_t tag_len;           /* <= LP_QUEUE_TAG_MAX */
	uint32_t channel;         /* caller's channel id: acks name it */
	uint16_t prefetch;        /* Basic.Qos prefetch-count; 0 = unlimited */
	bool no_ack;
	bool exclusive;
	void *handle;             /* opaque, returned with each delivery */
	int32_t priority;         /* Basic.Consume x-priority; 0 by default */
};

/* One message handed to a consumer or to Basic.Get. */
struct lp_queue_delivery {
	struct lp_msg *msg;       /* one reference, owned by the caller */
	uint64_t seq;             /* per-queue sequence number */
	uint64_t delivery_tag;    /* from the caller's channel */
	uint32_t consumer;        /* consumer id, or LP_QUEUE_NO_CONSUMER for Basic.Get */
	uint32_t channel;
	void *handle;             /* the consumer's handle (NULL for Basic.Get) */
	bool redelivered;
	bool no_ack;              /* nothing is kept unacked for this delivery */
};

/*
 * Delivery tag for the next delivery on channel, of message m (so that the
 * channel can check it has room for it) to a consumer with no_ack (which a
 * channel-wide prefetch limit does not count): the caller's channel counts
 * its own tags (AMQP 0-9-1 basic.deliver: delivery tags are per channel and
 * start at 1). Called once per delivery lp_queue_dispatch is about to make,
 * in delivery order. Returning 0 refuses it: the channel cannot take more now
 * (Basic.Qos global prefetch, a full send stream, Channel.Flow); that
 * consumer is then skipped for the rest of this lp_queue_dispatch call and
 * the message stays at the head for the next consumer.
 */
typedef uint64_t (*lp_queue_tag_fn)(void *ctx, uint32_t channel, const struct lp_msg *m,
				  bool no_ack);

/*
 * The storage of a shard's queues, or NULL with errno EINVAL (a count is 0)
 * or ENOMEM. This and lp_queue_pool_destroy are the only calls that
 * allocate; destroying the pool destroys the queues still in it.
 */
struct lp_queue_pool *lp_queue_pool_create(const struct lp_queue_pool_config *cfg);
void lp_queue_pool_destroy(struct lp_queue_pool *p);
/* The pool's clock in microseconds (any monotonic origin), for TTLs: the
 * shard sets it once per poll iteration; it starts at 0. */
void lp_queue_pool_set_now(struct lp_queue_pool *p, uint64_t now_us);
uint64_t lp_queue_pool_now(const struct lp_queue_pool *p);
/* Message entries not in use by any queue of p. */
uint32_t lp_queue_pool_entries_free(const struct lp_queue_pool *p);

/*
 * A new empty queue in p, or NULL with errno EINVAL (capacity or
 * max_consumers 0) or ENOSPC (every header of p in use).
 */
struct lp_queue *lp_queue_create(struct lp_queue_pool *p, const struct lp_queue_config *cfg);

/*
 * Queue.Delete: release every message the queue holds (ready and unacked)
 * and give its header, consumers and entries back to its pool. Returns how
 * many messages were released. NULL is a no-op (0).
 */
uint32_t lp_queue_destroy(struct lp_queue *q);

/*
 * Append m (takes the caller's reference on success; on error the caller
 * still owns it). With max_length or max_length_bytes set, the ready
 * messages beyond those the consumers' free credit will take are limited:
 * drop-head drops the oldest of them (references released; possibly m
 * itself, when it alone is over the limit); reject-publish refuses m instead
 * (the publisher gets Basic.Nack when it uses confirms, as in RabbitMQ).
 * Returns the number of messages dropped (>= 0), -ENOBUFS (reject-publish:
 * m would go over a limit; nothing changed) or -ENOSPC (the queue's
 * capacity or the pool's entries used up, and no drop-head makes room;
 * nothing changed).
 */
int lp_queue_enqueue(struct lp_queue *q, struct lp_msg *m);

/*
 * The same for a message in the journal (ref, copied; NULL: not journaled),
 * redelivered when recovery brings it back. Whenever it later leaves the
 * queue for good (including right here, dropped by a length limit), the
 * queue's gone function gets ref. A refused message (-ENOBUFS, -ENOSPC) is
 * the caller's, ref too.
 */
int lp_queue_enqueue_ref(struct lp_queue *q, struct lp_msg *m, const struct lp_queue_jref *ref,
			 bool redelivered);

/* The same for a message that reached the queue at since_us (the pool's
 * clock) and waited elsewhere meanwhile (a paged tail): its TTL counts
 * from then. lp_queue_enqueue_ref is this with the pool's now. */
int lp_queue_enqueue_since(struct lp_queue *q, struct lp_msg *m, const struct lp_queue_jref *ref,
			   bool redelivered, uint64_t since_us);

/* Remove the expired messages at the head of the ready list (dead-lettered
 * or released). Returns how many. */
uint32_t lp_queue_expire(struct lp_queue *q);
/* Could q have messages that expire (a queue TTL, or one with its own)? */
bool lp_queue_expires(const struct lp_queue *q);

/*
 * Would lp_queue_enqueue(q, m) do something other than -ENOSPC (capacity
 * reached)? A shard holds messages back while it is false (back-pressure).
 */
bool lp_queue_can_take(const struct lp_queue *q, const struct lp_msg *m);

/* Below its capacity, with pool entries left (whatever its limits would do)? */
bool lp_queue_has_room(const struct lp_queue *q);

/*
 * Would lp_queue_enqueue(q, m) hold one more of the pool's entries (false
 * when a limit drops the head or m, or rejects m)? A publish routed to
 * several queues of one pool waits until that many entries are free.
 */
bool lp_queue_needs_entry(const struct lp_queue *q, const struct lp_msg *m);

/*
 * Basic.Consume: attach a consumer. Returns its id (>= 0; ids are reused
 * after removal), -EINVAL (tag too long), -EBUSY (an exclusive consumer is
 * attached, or an exclusive one is asked for while others are, or on a
 * single-active-consumer queue: RabbitMQ answers 403 ACCESS_REFUSED) or
 * -ENOSPC (max_consumers reached, or no consumer slot left in the pool).
 * Ids are slots of the pool: unique among the pool's queues. On a
 * single-active-consumer queue the consumer is active when it is the only
 * one, else it waits (lp_queue_active_consumer).
 */
int lp_queue_consumer_add(struct lp_queue *q, const struct lp_queue_consumer_spec *spec);

/*
 * Basic.Cancel: detach consumer id. With requeue false its unacked messages
 * stay unacked for its channel (RabbitMQ); with requeue true they go back to
 * the ready list in order, redelivered. When id was a single-active-consumer
 * queue's active consumer, the next one takes over once nothing id was given
 * is unacked (see the top of this file). Returns how many were requeued (>= 0), or -ENOENT (no such consumer).
 */
int lp_queue_consumer_remove(struct lp_queue *q, uint32_t id, bool requeue);

/*
 * Consumer id's settings (tag points into the queue, valid until the
 * consumer is removed), e.g. to send Basic.Cancel to every consumer when the
 * queue is deleted (RabbitMQ's consumer_cancel_notify). Returns 0 or -ENOENT.
 */
int lp_queue_consumer_info(const struct lp_queue *q, uint32_t id,
			   struct lp_queue_consumer_spec *out);

/*
 * Walk q's consumers: the first with id LP_QUEUE_NO_CONSUMER, then the one
 * after id; LP_QUEUE_NO_CONSUMER at the end. Removing the consumer just
 * returned is safe when the caller takes the next id first.
 */
uint32_t lp_queue_consumer_next(const struct lp_queue *q, uint32_t id);

/*
 * The consumer that gets q's messages on a single-active-consumer queue;
 * LP_QUEUE_NO_CONSUMER when q has no consumer, is not such a queue, or
 * while a cancelled active consumer's unacked deliveries hold the handover.
 */
uint32_t lp_queue_active_consumer(const struct lp_queue *q);

/*
 * Hand out up to max deliveries, round-robin among the consumers of the
 * highest priority with credit (only to the active one on a
 * single-active-consumer queue), in the order described at the top of this file,
 * calling tag_fn for each delivery's tag. Ack-mode deliveries are recorded
 * unacked. Returns how many were written to out (>= 0); each out[i].msg
 * carries a reference owned by the caller.
 */
unsigned lp_queue_dispatch(struct lp_queue *q, lp_queue_tag_fn tag_fn, void *ctx,
			   struct lp_queue_delivery *out, unsigned max);

/*
 * Basic.Get on channel: take the oldest ready message. With no_ack it leaves
 * the queue; otherwise it is recorded unacked under (channel, delivery_tag).
 * Returns 1 (out filled, out->msg a reference owned by the caller), 0 (no
 * message: Get-Empty).
 */
int lp_queue_get(struct lp_queue *q, uint32_t channel, uint64_t delivery_tag, bool no_ack,
		 struct lp_queue_delivery *out);

/*
 * The tags a channel gives (tag_fn, lp_queue_get) must grow in the order the
 * deliveries are made, as a channel's counter does; acks rely on it.
 *
 * Basic.Ack on channel: acknowledge delivery_tag, or with multiple every
 * unacked delivery of this channel up to and including it. Acked messages'
 * references are released and consumer credit returns. Returns how many
 * were acknowledged (0: none of this channel's unacked here; whether that
 * is an error - 406 PRECONDITION_FAILED "unknown delivery tag" - is for the
 * channel to decide, as it may have deliveries from several queues).
 */
int lp_queue_ack(struct lp_queue *q, uint32_t channel, uint64_t delivery_tag, bool multiple);

/*
 * Basic.Nack (and Basic.Reject: multiple false) on channel. With requeue the
 * messages go back to the ready list in their original order and are
 * redelivered with redelivered=true; without, they are dead-lettered (the
 * queue's dead function) or dropped (references released). Returns how
 * many (>= 0).
 */
int lp_queue_nack(struct lp_queue *q, uint32_t channel, uint64_t delivery_tag, bool multiple,
		  bool requeue);

/*
 * Channel (or its connection) closed: remove its consumers and requeue
 * every unacked delivery of that channel, in order, redelivered. Returns how
 * many messages were requeued.
 */
int lp_queue_channel_close(struct lp_queue *q, uint32_t channel);

/*
 * Basic.Recover requeue=true for channel: requeue every unacked delivery of
 * that channel, keeping its consumers. Returns how many.
 */
int lp_queue_recover(struct lp_queue *q, uint32_t channel);

/* Queue.Purge: drop every ready message (unacked stay). Returns how many. */
uint32_t lp_queue_purge(struct lp_queue *q);

uint32_t lp_queue_message_count(const struct lp_queue *q);   /* ready, as Declare-Ok */
bool lp_queue_limited(const struct lp_queue *q); /* has x-max-length or x-max-length-bytes */

/* Journal compaction: fn may give a message of the queue a new place in the
 * journal (it updates *ref; m is the message); false stops the walk (no
 * room now). */
typedef bool (*lp_queue_move_fn)(void *ctx, struct lp_queue_jref *ref, const struct lp_msg *m);
/* Call fn for each message (ready or unacked) whose record is in segment
 * seg. Returns how many fn moved. */
unsigned lp_queue_move_refs(struct lp_queue *q, uint32_t seg, lp_queue_move_fn fn, void *ctx);
uint32_t lp_queue_unacked_count(const struct lp_queue *q);
/* Call fn for each unacked delivery, in delivery order (so a channel's tags
 * come in increasing order). */
typedef void (*lp_queue_unacked_fn)(void *ctx, uint32_t channel, uint64_t tag);
void lp_queue_for_each_unacked(const struct lp_queue *q, lp_queue_unacked_fn fn, void *ctx);
uint32_t lp_queue_consumer_count(const struct lp_queue *q);
uint64_t lp_queue_dropped_count(const struct lp_queue *q);   /* by max-length */
uint64_t lp_queue_expired_count(const struct lp_queue *q);   /* by TTL */

/* Message counters since the queue was created (the management API's
 * message_stats; lp_broker's queue statistics). */
struct lp_queue_counters {
	uint64_t published;   /* enqueued, requeues and recovered messages not counted */
	uint64_t delivered;   /* to consumers */
	uint64_t got;         /* by Basic.Get */
	uint64_t redelivered; /* of delivered and got: with redelivered set */
	uint64_t acked;
};
const struct lp_queue_counters *lp_queue_counters(const struct lp_queue *q);
uint64_t lp_queue_ready_bytes(const struct lp_queue *q); /* bodies of the ready messages */

/*
 * A policy changed the queue's settings (RabbitMQ 3.10's
 * rabbit_amqqueue_process:process_args_policy/1 on policy_changed):
 *
 * lp_queue_set_limits: new x-max-length, x-max-length-bytes and overflow.
 * With drop-head the ready messages now over a limit (beyond what the
 * consumers' credit takes, as lp_queue_enqueue counts) are dropped from
 * the head at once, dead-lettered as maxlen when the queue has a dead
 * function (RabbitMQ's init_max_length -> maybe_drop_head); reject-publish
 * only refuses later publishes. Returns how many were dropped.
 *
 * lp_queue_set_message_ttl: the TTL of messages enqueued from now on;
 * those already held keep the expiry they got (RabbitMQ computes a
 * message's expiry when it is enqueued).
 *
 * lp_queue_set_dead: the dead function (NULL: none) for what leaves from
 * now on.
 */
uint32_t lp_queue_set_limits(struct lp_queue *q, uint32_t max_length, uint64_t max_length_bytes,
			     bool reject_publish);
void lp_queue_set_message_ttl(struct lp_queue *q, bool has_message_ttl, uint64_t message_ttl);
void lp_queue_set_dead(struct lp_queue *q, lp_queue_dead_fn dead, void *dead_ctx);
