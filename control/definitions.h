/* SPDX-License-Identifier: MIT */
/*
 * lepus-control's definitions: vhosts, users, permissions, exchanges, queues
 * and bindings, in memory, with every check RabbitMQ 3.10 makes on a
 * declaration (rabbit_channel, rabbit_amqqueue, rabbit_exchange,
 * rabbit_misc:assert_args_equivalence, rabbit_access_control): permissions,
 * reserved names, equivalence, exclusivity, existence, and the reply codes
 * and texts RabbitMQ sends (AMQP 0-9-1 spec 1.2 reply codes).
 *
 * Data flow: ctl_server.c decodes a request from the dataplane (or
 * lepusctl), ctl_request.c calls lp_defs_request() / the admin functions
 * here, and every change these make (including cascades: bindings of a
 * deleted queue, auto-delete exchanges losing their last binding, objects
 * of a deleted vhost) is reported, in order, to the sink: ctl_sync.c turns
 * it into a TOPO batch for the dataplane and store.c into SQL inside one
 * transaction.
 * Lists are plain linked lists searched linearly: a control plane with
 * thousands of objects, not a hot path.
 */
#pragma once

#include <regex.h>
#include <stdbool.h>
#include <stdint.h>

#include "lp_ctl.h"
#include "password.h"

#define LP_DEF_NAME_MAX LP_CTL_NAME_MAX

enum lp_def_kind {
	LP_DEF_VHOST,
	LP_DEF_USER,
	LP_DEF_PERMISSION,
	LP_DEF_EXCHANGE,
	LP_DEF_QUEUE,
	LP_DEF_BINDING,
};

struct lp_def_vhost {
	struct lp_def_vhost *next;
	char name[LP_DEF_NAME_MAX + 1];
};

struct lp_def_user {
	struct lp_def_user *next;
	char name[LP_DEF_NAME_MAX + 1];
	bool has_hash; /* false: no password, login impossible */
	uint8_t hash[LP_PASSWORD_HASH_LEN];
	char tags[LP_DEF_NAME_MAX + 1]; /* comma-separated, e.g. "administrator" */
};

struct lp_def_permission {
	struct lp_def_permission *next;
	char user[LP_DEF_NAME_MAX + 1];
	char vhost[LP_DEF_NAME_MAX + 1];
	char configure[LP_DEF_NAME_MAX + 1];
	char write[LP_DEF_NAME_MAX + 1];
	char read[LP_DEF_NAME_MAX + 1];
	regex_t re[3]; /* compiled configure, write, read (POSIX ERE) */
};

struct lp_def_exchange {
	struct lp_def_exchange *next;
	char vhost[LP_DEF_NAME_MAX + 1];
	char name[LP_DEF_NAME_MAX + 1];
	uint8_t type; /* enum lp_ctl_exchange_type */
	bool durable, auto_delete, internal;
	char alternate[LP_DEF_NAME_MAX + 1]; /* alternate-exchange argument or "" */
	uint16_t args_len;
	uint8_t *args; /* arguments table body, owned */
};

/* A queue's live state as its owner worker last sampled it (QUEUE_STATS,
 * control/queue_stats.c); not stored. */
struct lp_queue_live {
	uint64_t at_ns;   /* lepus-control's CLOCK_MONOTONIC of the last sample; 0: none yet */
	uint32_t ready, unacked, consumers;
	uint64_t ready_bytes, published, delivered, got, redelivered, acked;
	/* per second, over the last two samples */
	double publish_rate, deliver_rate, get_rate, redeliver_rate, ack_rate;
};

struct lp_def_queue {
	struct lp_def_queue *next;
	char vhost[LP_DEF_NAME_MAX + 1];
	char name[LP_DEF_NAME_MAX + 1];
	bool durable, exclusive, auto_delete;
	uint64_t owner_conn; /* exclusive: the owning connection */
	uint16_t owner_shard;
	uint32_t store_id;   /* durable: its id in the owner's message journal, else 0 */
	uint16_t args_len;
	uint8_t *args;
	struct lp_queue_live live;
};

struct lp_def_binding {
	struct lp_def_binding *next;
	char vhost[LP_DEF_NAME_MAX + 1];
	char source[LP_DEF_NAME_MAX + 1];
	uint8_t dest_kind; /* enum lp_ctl_object */
	char destination[LP_DEF_NAME_MAX + 1];
	char routing_key[LP_DEF_NAME_MAX + 1];
	bool durable; /* source and destination both durable (RabbitMQ) */
	uint16_t args_len;
	uint8_t *args;
};

/* Receives every change, in order: op is LP_CTL_OP_ADD or LP_CTL_OP_DEL, obj
 * points to the struct lp_def_<kind> (for DEL, as it was, freed right after
 * the call returns). */
struct lp_def_sink {
	void (*change)(void *arg, uint8_t op, enum lp_def_kind kind, const void *obj);
	void *arg;
};

/* Outcome of one request. code 0 = success, else the AMQP reply code with
 * `text` the whole reply text ("NOT_FOUND - no queue 'q' in vhost '/'"). */
struct lp_def_reply {
	uint16_t code;
	uint8_t status;       /* enum lp_ctl_result_status */
	uint16_t owner_shard; /* queue requests */
	char queue[LP_DEF_NAME_MAX + 1]; /* queue requests: the resolved name */
	char text[LP_DEF_NAME_MAX + 1];
};

struct lp_defs;

/* An empty model (no vhost, no user). NULL with errno ENOMEM. */
struct lp_defs *lp_defs_create(void);
/* Free everything; the sink is not told. d may be NULL. */
void lp_defs_destroy(struct lp_defs *d);
/* Where changes go (NULL: nowhere). */
void lp_defs_set_sink(struct lp_defs *d, const struct lp_def_sink *sink);

/* RabbitMQ's first-start defaults: vhost "/" (with its default exchanges),
 * user guest/guest tagged administrator, guest ".*" ".*" ".*" on "/".
 * 0 or -errno. */
int lp_defs_add_defaults(struct lp_defs *d);

/*
 * Administration (lepusctl). Each returns 0 or -errno and, on failure, fills
 * err (cap bytes) with rabbitmqctl's wording:
 *   -EINVAL  empty/over-long name, bad regex;
 *   -EEXIST  the user or vhost exists;
 *   -ENOENT  the user or vhost does not exist;
 *   -ENOMEM.
 * add_vhost also declares the vhost's default exchanges ("" and amq.*).
 * delete_vhost deletes everything in it; delete_user its permissions.
 */
int lp_defs_add_vhost(struct lp_defs *d, const char *name, char *err, size_t cap);
int lp_defs_delete_vhost(struct lp_defs *d, const char *name, char *err, size_t cap);
/* hash NULL: a user without password. */
int lp_defs_add_user(struct lp_defs *d, const char *name, const uint8_t *hash,
		     const char *tags, char *err, size_t cap);
int lp_defs_change_password(struct lp_defs *d, const char *name, const uint8_t *hash,
			    char *err, size_t cap);
int lp_defs_set_user_tags(struct lp_defs *d, const char *name, const char *tags,
			  char *err, size_t cap);
int lp_defs_delete_user(struct lp_defs *d, const char *name, char *err, size_t cap);
int lp_defs_set_permissions(struct lp_defs *d, const char *user, const char *vhost,
			    const char *configure, const char *write, const char *read,
			    char *err, size_t cap);
int lp_defs_clear_permissions(struct lp_defs *d, const char *user, const char *vhost,
			      char *err, size_t cap);

/*
 * Insert an object as it is (restoring from the store): no checks beyond
 * uniqueness; the object is copied (args too). Returns 0, -EEXIST, -ENOENT
 * (its vhost, or for a permission its user, is unknown), -EINVAL (bad
 * permission regex) or -ENOMEM. The sink is told.
 */
int lp_defs_insert(struct lp_defs *d, enum lp_def_kind kind, const void *obj);

/*
 * One AMQP definition request from the dataplane: type is LP_CTL_DECLARE,
 * LP_CTL_DELETE, LP_CTL_BIND, LP_CTL_UNBIND or LP_CTL_PURGE. Checks it as
 * RabbitMQ does, applies it when allowed, and fills *out. Never fails
 * otherwise (out of memory becomes 541 INTERNAL_ERROR).
 */
void lp_defs_request(struct lp_defs *d, uint16_t type, const struct lp_ctl_def_req *req,
		     struct lp_def_reply *out);

/* Connection conn_id closed: delete its exclusive queues. Returns how many. */
unsigned lp_defs_connection_closed(struct lp_defs *d, uint64_t conn_id);
/* An auto-delete queue lost its last consumer, or a queue that expires
 * (x-expires, from its arguments or a policy: the caller says) was unused
 * for that long (its owner shard measures it): delete it. 0, -ENOENT (no
 * such queue), -EPERM (neither: nothing done). */
int lp_defs_queue_unused(struct lp_defs *d, const char *vhost, const char *name, bool expires);
/* A new dataplane: every exclusive queue's connection is gone. Returns how
 * many were deleted. */
unsigned lp_defs_drop_exclusive(struct lp_defs *d);
/* Map every queue's owner shard into [0, n_workers) (a dataplane with fewer
 * workers than the one that declared them). Silent: not a definition change. */
/* Store ids (struct lp_def_queue) are given out once, never reused: id was
 * used (loaded from the database); later queues get higher ones. */
void lp_defs_note_store_id(struct lp_defs *d, uint32_t id);

void lp_defs_fit_shards(struct lp_defs *d, unsigned n_workers);

/* Iteration, in creation order; NULL-terminated through ->next. */
const struct lp_def_vhost *lp_defs_vhosts(const struct lp_defs *d);
const struct lp_def_user *lp_defs_users(const struct lp_defs *d);
const struct lp_def_permission *lp_defs_permissions(const struct lp_defs *d);
const struct lp_def_exchange *lp_defs_exchanges(const struct lp_defs *d);
const struct lp_def_queue *lp_defs_queues(const struct lp_defs *d);
const struct lp_def_binding *lp_defs_bindings(const struct lp_defs *d);

/* Lookups: NULL when absent. */
const struct lp_def_user *lp_defs_find_user(const struct lp_defs *d, const char *name);
const struct lp_def_vhost *lp_defs_find_vhost(const struct lp_defs *d, const char *name);
const struct lp_def_exchange *lp_defs_find_exchange(const struct lp_defs *d, const char *vhost,
						    const char *name);
/* The live state of queue (vhost, name) to update, or NULL (no such queue). */
struct lp_queue_live *lp_defs_queue_live(struct lp_defs *d, const char *vhost, const char *name);
const struct lp_def_queue *lp_defs_find_queue(const struct lp_defs *d, const char *vhost,
					      const char *name);

/* "direct", "fanout", "topic", "headers" (enum lp_ctl_exchange_type), or "?". */
const char *lp_defs_exchange_type_name(uint8_t type);

/* Object counts, for logs and leak checks. */
unsigned lp_defs_count(const struct lp_defs *d, enum lp_def_kind kind);
