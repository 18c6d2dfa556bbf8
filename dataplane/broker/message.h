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
 * fixed capacity and fixed maximum property and body sizes; nothing is
 * allocated afterwards. Plain C: no DPDK, so tests and tools can use it.
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

struct lp_msg_pool;

struct lp_msg {
	_Atomic uint32_t refcnt;
	uint32_t flags;            /* LP_MSG_F_* */
	uint32_t props_len;        /* encoded content-header property list */
	uint32_t body_len;
	uint8_t *props;            /* pool storage, props_max bytes */
	uint8_t *body;             /* pool storage, body_max bytes */
	struct lp_msg_pool *pool;
	uint32_t index;            /* slot in the pool */
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
 * Free the pool and its storage. Messages still referenced become invalid:
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
 * Take a message from the pool with one reference (the caller's), copying
 * the exchange and routing key (not NUL-terminated, at most LP_MSG_NAME_MAX
 * bytes each), the properties and the body; any pointer may be NULL when its
 * length is 0. Returns the message, or NULL with errno EMSGSIZE (a name,
 * the properties or the body is too long for the pool) or ENOSPC (pool empty).
 * Never allocates.
 */
struct lp_msg *lp_msg_create(struct lp_msg_pool *p, const char *exchange, size_t exchange_len,
			     const char *rkey, size_t rkey_len, const void *props, size_t props_len,
			     const void *body, size_t body_len, uint32_t flags);

/* Add n references (fan-out: one per extra destination). Any thread. */
void lp_msg_ref(struct lp_msg *m, uint32_t n);

/*
 * Drop one reference; the last one returns m to its pool. Any thread.
 * Returns true when this call freed the message (m is then invalid).
 */
bool lp_msg_release(struct lp_msg *m);

static inline uint32_t lp_msg_refcnt(const struct lp_msg *m)
{
	return atomic_load_explicit(&m->refcnt, memory_order_relaxed);
}
