/* SPDX-License-Identifier: MIT */
/*
 * The routing topology: vhosts, exchanges, queues and bindings as lepus-control
 * pushes them (api/lp_ctl.h TOPO batches), compiled into an immutable snapshot
 * that workers route with, lock-free and without allocation.
 *
 * The main lcore owns a builder: it applies each batch's objects (ADD/DEL, or
 * a full batch that replaces everything) and, at the batch's end, compiles a
 * new struct lp_topology: per exchange a matcher for its type (direct: hash of
 * routing keys; fanout: a list; topic: topic.h's trie; headers: headers.h's
 * compiled bindings), exchange-to-exchange bindings and alternate exchanges
 * resolved to indexes. The snapshot is then published (RCU, by the caller)
 * and freed once no worker can still read the previous one.
 *
 * Routing follows RabbitMQ: the default exchange "" routes to the queue named
 * by the routing key; exchange-to-exchange bindings are followed (each
 * exchange once per message); a message that reaches no queue through an
 * exchange goes to that exchange's alternate-exchange, if any; every queue
 * receives a message at most once.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "amqp_types.h"
#include "lp_ctl.h"

#define LP_TOPOLOGY_NONE UINT32_MAX

struct lp_topology;
struct lp_topology_builder;

/* A queue as the snapshot knows it (index = position in the snapshot). */
struct lp_topology_queue {
	const char *vhost;
	const char *name;
	uint16_t owner_shard;
	uint8_t flags;       /* LP_CTL_Q_* */
	uint64_t owner_conn; /* exclusive queues */
	uint32_t qid;        /* stable id (> 0) while the queue exists; shards key on it */
	uint32_t store_id;   /* durable queues: their id in the owner's journal (> 0), else 0 */
	/* From the declaration's arguments (RabbitMQ's names): */
	uint32_t max_length;       /* x-max-length, or UINT32_MAX */
	uint64_t max_length_bytes; /* x-max-length-bytes, or UINT64_MAX */
	bool reject_publish;       /* x-overflow reject-publish(-dlx); else drop-head */
	bool reject_publish_dlx;   /* x-overflow reject-publish-dlx: refused ones are dead-lettered */
	bool has_message_ttl;      /* x-message-ttl given */
	uint64_t message_ttl;      /* x-message-ttl, ms */
	const char *dlx;           /* x-dead-letter-exchange, or NULL */
	const char *dlrk;          /* x-dead-letter-routing-key, or NULL (the message's own) */
	uint64_t expires;          /* x-expires, ms; 0: none */
	bool single_active;        /* x-single-active-consumer */
	uint8_t max_priority;      /* x-max-priority (0 to 255), or 0 */
};

/* A new empty builder, or NULL (ENOMEM). */
struct lp_topology_builder *lp_topology_builder_create(void);
void lp_topology_builder_destroy(struct lp_topology_builder *b);

/* Forget everything (the start of a full batch). */
void lp_topology_builder_clear(struct lp_topology_builder *b);

/*
 * Apply one TOPO_VHOST, TOPO_EXCHANGE, TOPO_QUEUE or TOPO_BINDING message
 * (others are ignored: 0). Returns 0, -ENOENT (DEL of an unknown object),
 * -EEXIST (ADD of an existing one), -EINVAL (bad field, e.g. unknown
 * exchange type or a headers binding whose x-match is invalid) or -ENOMEM.
 */
int lp_topology_builder_apply(struct lp_topology_builder *b, const struct lp_ctl_msg *m);

/* Compile the builder's current state into a new snapshot stamped with
 * version. Returns it, or NULL (ENOMEM). The builder stays usable. */
struct lp_topology *lp_topology_build(const struct lp_topology_builder *b, uint64_t version);

/* Free a snapshot (once no reader can hold it). NULL is a no-op. */
void lp_topology_free(struct lp_topology *t);

uint64_t lp_topology_version(const struct lp_topology *t);

/* Does the vhost exist? */
bool lp_topology_has_vhost(const struct lp_topology *t, const char *vhost);

/* Index of an exchange / a queue, or LP_TOPOLOGY_NONE. Names are bytes (len). */
uint32_t lp_topology_exchange_find(const struct lp_topology *t, const char *vhost,
				   const char *name, size_t len);
uint32_t lp_topology_queue_find(const struct lp_topology *t, const char *vhost,
				const char *name, size_t len);

/* Number of queues, and one of them by index (NULL out of range). */
uint32_t lp_topology_queue_count(const struct lp_topology *t);
const struct lp_topology_queue *lp_topology_queue(const struct lp_topology *t, uint32_t idx);

/* Is the exchange internal (publishing to it is refused with 403)? */
bool lp_topology_exchange_internal(const struct lp_topology *t, uint32_t exchange);

/*
 * Route a message published to exchange (an index from
 * lp_topology_exchange_find) with routing key rkey and headers (a validated
 * table body, may be empty). Writes the indexes of the destination queues,
 * each once and in ascending order, to queues (at most max). Returns how
 * many there are (may exceed max: truncated), 0 when unroutable. Never
 * allocates.
 */
int lp_topology_route(const struct lp_topology *t, uint32_t exchange, const char *rkey,
		      size_t rkey_len, struct lp_amqp_bytes headers, uint32_t *queues,
		      unsigned max);
