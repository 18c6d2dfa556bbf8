/* SPDX-License-Identifier: MIT */
/*
 * Broker messages: what a Basic.Publish (method + content header + body
 * frames) becomes once the AMQP codec has assembled it, before routing puts
 * it into queues. A message is refcounted so that fan-out shares one copy:
 * routing takes one reference per destination queue, each queue drops its
 * reference when the message is acked, dropped, purged or the queue deleted,
 * and the last release returns the message to its pool. Shards on other cores
 * release references too, so the count is atomic and the pool's free list is
 * a lock-free stack.
 *
 * Every message and its storage come from a pool created at start-up with a
 * fixed capacity and fixed maximum property and body sizes. A body larger
 * than the pool's slot (body_max) is the one exception: lp_msg_body_reserve
 * gives it a heap buffer of exactly its size, counted against a pool-wide
 * byte budget (an atomic counter, as releases happen on any thread) and
 * freed with the message's last reference. m->body points at the body
 * whatever its storage, so routing and queues never see the difference.
 * Plain C: no DPDK, so tests and tools can use it.
 */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LP_MSG_NAME_MAX 255   /* exchange and routing key are AMQP shortstrs */

/* Flags carried from Basic.Publish; opaque to the pool and the queue. */
#define LP_MSG_F_MANDATORY  (1u << 0)
#define LP_MSG_F_IMMEDIATE  (1u << 1)
#define LP_MSG_F_PERSISTENT (1u << 2)  /* delivery-mode 2 */
#define LP_MSG_F_TTL        (1u << 3)  /* the expiration property: ttl_ms is set */

/* Defaults of lp_msg_pool_set_large: the largest body a pool takes (RabbitMQ's
 * ceiling for max_message_size, 512 MiB; the configured limit, 128 MiB by
 * default, is enforced by the AMQP channel before the broker sees a header)
 * and the bytes all heap bodies of one pool may hold together. */
#define LP_MSG_LARGE_MAX_DEFAULT (512ULL << 20)
#define LP_MSG_LARGE_BUDGET_DEFAULT (1ULL << 30)

struct lp_msg_pool;

struct lp_msg {
	_Atomic uint32_t refcnt;
	uint32_t flags;            /* LP_MSG_F_* */
	uint32_t props_len;        /* encoded content-header property list */
	uint32_t body_len;
	uint8_t *props;            /* pool storage, props_max bytes */
	uint8_t *body;             /* in the slot right after the properties (body_max
				    * bytes), or a heap buffer */
	struct lp_msg_pool *pool;
	uint32_t index;            /* slot in the pool */
	uint32_t body_heap;        /* octets of the heap body; 0: body is the slot */
	uint32_t props_heap;       /* octets of heap properties; 0: in the slot */
	uint32_t headers_off;      /* the headers table's body within props (routing) */
	uint32_t headers_len;      /* 0: none */
	uint32_t ttl_ms;           /* the expiration property, with LP_MSG_F_TTL */
	uint8_t priority;          /* the priority property; 0 without one */
	uint8_t exchange_len;
	uint8_t rkey_len;
	char exchange[LP_MSG_NAME_MAX + 1];   /* NUL-terminated copies */
	char rkey[LP_MSG_NAME_MAX + 1];
};

/*
 * A pool of capacity messages, each with room for props_max bytes of
 * properties and body_max bytes of body (all allocated now, once).
 * Returns the pool, or NULL with errno EINVAL (capacity 0 or 2^32 - 1, or
 * sizes that overflow) or ENOMEM.
 */
struct lp_msg_pool *lp_msg_pool_create(uint32_t capacity, uint32_t props_max, uint32_t body_max);

/*
 * The same, with memory resident only for the slots ever used (prefault
 * false): the pool can be sized from a memory budget much larger than what
 * a run needs, at the price of a page fault the first time each slot is
 * used. prefault true is lp_msg_pool_create.
 */
struct lp_msg_pool *lp_msg_pool_create_lazy(uint32_t capacity, uint32_t props_max, uint32_t body_max,
					    bool prefault);

/*
 * Free the pool and its storage (heap bodies included). Messages still referenced become invalid:
 * callers check lp_msg_pool_available() == lp_msg_pool_capacity() first.
 * NULL is a no-op.
 */
void lp_msg_pool_destroy(struct lp_msg_pool *p);

uint32_t lp_msg_pool_capacity(const struct lp_msg_pool *p);

/* Messages free in the pool (exact when no other thread is allocating or releasing). */
uint32_t lp_msg_pool_available(const struct lp_msg_pool *p);

uint32_t lp_msg_pool_body_max(const struct lp_msg_pool *p);
uint32_t lp_msg_pool_props_max(const struct lp_msg_pool *p);

/*
 * Bodies above body_max: at most large_max octets each (at most UINT32_MAX),
 * at most budget octets together. Call before the pool is in use; the
 * defaults are LP_MSG_LARGE_MAX_DEFAULT and LP_MSG_LARGE_BUDGET_DEFAULT.
 * large_max 0 turns heap bodies off. Returns 0, or -EINVAL (large_max over
 * UINT32_MAX).
 */
int lp_msg_pool_set_large(struct lp_msg_pool *p, uint64_t large_max, uint64_t budget);

/* Octets of heap bodies held now (exact when no other thread allocates or
 * releases); 0 once every large message has been freed. */
uint64_t lp_msg_pool_large_bytes(const struct lp_msg_pool *p);
uint64_t lp_msg_pool_large_budget(const struct lp_msg_pool *p);
uint64_t lp_msg_pool_large_max(const struct lp_msg_pool *p);

/*
 * Take a message from the pool with one reference (the caller's), copying
 * the exchange and routing key (not NUL-terminated, at most LP_MSG_NAME_MAX
 * bytes each), the properties and the body; any pointer may be NULL when its
 * length is 0. A body over body_max gets heap storage (lp_msg_body_reserve).
 * Returns the message, or NULL with errno EMSGSIZE (a name, the properties
 * or the body is too long for the pool), ENOSPC (pool empty), ENOBUFS (the
 * large-body budget is spent) or ENOMEM. Allocates only for a large body.
 */
struct lp_msg *lp_msg_create(struct lp_msg_pool *p, const char *exchange, size_t exchange_len,
			     const char *rkey, size_t rkey_len, const void *props, size_t props_len,
			     const void *body, size_t body_len, uint32_t flags);

/*
 * Make room for a body of size octets before it is written (the content
 * header announced it), after the properties are in place (an inline body
 * follows them): within body_max the pool slot serves, above it a
 * heap buffer of exactly size octets, counted against the pool's budget.
 * Afterwards m->body has room for size octets; m->body_len is unchanged
 * (0 for a new message). Call from the one thread that owns m while it is
 * being built; a second call replaces an earlier heap buffer (its bytes are
 * lost). Returns 0; -EMSGSIZE (size over the pool's large_max, or over
 * body_max with heap bodies off), -ENOBUFS (the budget cannot take size
 * more octets now: nothing reserved), -ENOMEM (malloc failed).
 */
int lp_msg_body_reserve(struct lp_msg *m, uint64_t size);

/*
 * The same for properties over props_max (a big headers table): a heap
 * buffer of size octets from the same budget; an inline body then starts at
 * the slot. Call before lp_msg_body_reserve. Returns as lp_msg_body_reserve.
 */
int lp_msg_props_reserve(struct lp_msg *m, uint64_t size);

/* Add n references (fan-out: one per extra destination). Any thread. */
void lp_msg_ref(struct lp_msg *m, uint32_t n);

/*
 * Drop one reference; the last one frees a heap body (returning its octets
 * to the budget) and returns m to its pool. Any thread.
 * Returns true when this call freed the message (m is then invalid).
 */
bool lp_msg_release(struct lp_msg *m);

static inline uint32_t lp_msg_refcnt(const struct lp_msg *m)
{
	return atomic_load_explicit(&m->refcnt, memory_order_relaxed);
}
