/* SPDX-License-Identifier: MIT */
/*
 * Topology builder and snapshot (see topology.h). The builder is a plain
 * list of what lepus-control pushed (main lcore only; linear searches are
 * fine at declaration rates). A snapshot is compiled from it in one go and
 * never changes: name lookups through open-addressing hash tables, one
 * matcher per exchange. Destinations are 32-bit: a queue index, or an
 * exchange index with DEST_EXCHANGE set.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "amqp_table.h"
#include "dest_set.h"
#include "headers.h"
#include "topic.h"
#include "topology.h"

#define DEST_EXCHANGE 0x80000000u
#define ROUTE_MAX_EXCHANGES 64   /* exchanges visited per message (e2e, AE) */
#define ROUTE_TOPIC_SCRATCH 1024 /* topic matches per exchange per message */

/* ---- builder ---------------------------------------------------------- */

struct b_exchange {
	char *vhost, *name, *alternate;
	uint8_t type, flags;
};

struct b_queue {
	char *vhost, *name;
	uint8_t flags;
	uint16_t owner_shard;
	uint64_t owner_conn;
	uint32_t qid;
	uint32_t store_id;
	uint32_t max_length;
	uint64_t max_length_bytes;
	bool reject_publish, reject_publish_dlx;
	bool has_message_ttl;
	uint64_t message_ttl;
	char *dlx, *dlrk;          /* NULL: none */
	uint64_t expires;          /* x-expires ms, 0: none */
	bool single_active;
	uint8_t max_priority;
};

struct b_binding {
	char *vhost, *source, *destination, *routing_key;
	uint8_t dest_kind;
	uint8_t *args;
	uint16_t args_len;
};

#define ARRAY_BODY(T) { T *v; uint32_t n, cap; }
#define ARRAY(T) struct ARRAY_BODY(T)

struct b_queues ARRAY_BODY(struct b_queue);

struct lp_topology_builder {
	ARRAY(char *) vhosts;
	ARRAY(struct b_exchange) exchanges;
	struct b_queues queues;
	ARRAY(struct b_binding) bindings;
	/* Queue ids: a queue keeps its id for as long as it exists, also across
	 * a full batch (lepus-control restarted), so shards keep its messages. */
	struct b_queues retired; /* the queues before the last clear */
	uint32_t next_qid;
};

/* Make room for one more element; 0 or -ENOMEM. */
static int grow(void **v, uint32_t *cap, uint32_t n, size_t size)
{
	if (n < *cap)
		return 0;
	uint32_t c = *cap ? *cap * 2 : 8;
	void *p = realloc(*v, c * size);

	if (p == NULL)
		return -ENOMEM;
	*v = p;
	*cap = c;
	return 0;
}

#define PUSH(arr) grow((void **)&(arr).v, &(arr).cap, (arr).n, sizeof((arr).v[0]))

static void b_exchange_free(struct b_exchange *x)
{
	free(x->vhost);
	free(x->name);
	free(x->alternate);
}

static void b_queue_free(struct b_queue *q)
{
	free(q->vhost);
	free(q->name);
	free(q->dlx);
	free(q->dlrk);
}

static void b_binding_free(struct b_binding *b)
{
	free(b->vhost);
	free(b->source);
	free(b->destination);
	free(b->routing_key);
	free(b->args);
}

struct lp_topology_builder *lp_topology_builder_create(void)
{
	return calloc(1, sizeof(struct lp_topology_builder));
}

void lp_topology_builder_clear(struct lp_topology_builder *b)
{
	for (uint32_t i = 0; i < b->vhosts.n; i++)
		free(b->vhosts.v[i]);
	for (uint32_t i = 0; i < b->exchanges.n; i++)
		b_exchange_free(&b->exchanges.v[i]);
	for (uint32_t i = 0; i < b->retired.n; i++)
		b_queue_free(&b->retired.v[i]);
	b->retired.n = 0;
	/* Swap: the queues become the retired ones, whose ids re-adds reuse. */
	struct b_queues q = b->queues;

	b->queues = b->retired;
	b->retired = q;
	for (uint32_t i = 0; i < b->bindings.n; i++)
		b_binding_free(&b->bindings.v[i]);
	b->vhosts.n = b->exchanges.n = b->queues.n = b->bindings.n = 0;
}

void lp_topology_builder_destroy(struct lp_topology_builder *b)
{
	if (b == NULL)
		return;
	lp_topology_builder_clear(b);
	free(b->vhosts.v);
	free(b->exchanges.v);
	for (uint32_t i = 0; i < b->retired.n; i++)
		b_queue_free(&b->retired.v[i]);
	free(b->queues.v);
	free(b->retired.v);
	free(b->bindings.v);
	free(b);
}

static long find_exchange(const struct lp_topology_builder *b, const char *vhost, const char *name)
{
	for (uint32_t i = 0; i < b->exchanges.n; i++)
		if (strcmp(b->exchanges.v[i].vhost, vhost) == 0 && strcmp(b->exchanges.v[i].name, name) == 0)
			return i;
	return -1;
}

static long find_queue(const struct lp_topology_builder *b, const char *vhost, const char *name)
{
	for (uint32_t i = 0; i < b->queues.n; i++)
		if (strcmp(b->queues.v[i].vhost, vhost) == 0 && strcmp(b->queues.v[i].name, name) == 0)
			return i;
	return -1;
}

static long find_binding(const struct lp_topology_builder *b, const struct lp_ctl_topo_binding *m)
{
	for (uint32_t i = 0; i < b->bindings.n; i++) {
		const struct b_binding *x = &b->bindings.v[i];

		if (x->dest_kind == m->dest_kind && x->args_len == m->args_len &&
		    strcmp(x->vhost, m->vhost) == 0 && strcmp(x->source, m->source) == 0 &&
		    strcmp(x->destination, m->destination) == 0 &&
		    strcmp(x->routing_key, m->routing_key) == 0 &&
		    (m->args_len == 0 || memcmp(x->args, m->args, m->args_len) == 0))
			return i;
	}
	return -1;
}

static int apply_vhost(struct lp_topology_builder *b, const struct lp_ctl_topo_vhost *m)
{
	for (uint32_t i = 0; i < b->vhosts.n; i++) {
		if (strcmp(b->vhosts.v[i], m->name) != 0)
			continue;
		if (m->op == LP_CTL_OP_ADD)
			return -EEXIST;
		free(b->vhosts.v[i]);
		b->vhosts.v[i] = b->vhosts.v[--b->vhosts.n];
		return 0;
	}
	if (m->op != LP_CTL_OP_ADD)
		return -ENOENT;
	if (PUSH(b->vhosts) != 0 || (b->vhosts.v[b->vhosts.n] = strdup(m->name)) == NULL)
		return -ENOMEM;
	b->vhosts.n++;
	return 0;
}

static int apply_exchange(struct lp_topology_builder *b, const struct lp_ctl_topo_exchange *m)
{
	long i = find_exchange(b, m->vhost, m->name);

	if (m->op == LP_CTL_OP_DEL) {
		if (i < 0)
			return -ENOENT;
		b_exchange_free(&b->exchanges.v[i]);
		b->exchanges.v[i] = b->exchanges.v[--b->exchanges.n];
		return 0;
	}
	if (m->op == LP_CTL_OP_UPDATE) { /* a policy's alternate-exchange */
		if (i < 0)
			return -ENOENT;
		char *alt = strdup(m->alternate);

		if (alt == NULL)
			return -ENOMEM;
		free(b->exchanges.v[i].alternate);
		b->exchanges.v[i].alternate = alt;
		return 0;
	}
	if (i >= 0)
		return -EEXIST;
	if (m->type < LP_CTL_XT_DIRECT || m->type > LP_CTL_XT_HEADERS)
		return -EINVAL;
	if (PUSH(b->exchanges) != 0)
		return -ENOMEM;
	struct b_exchange *x = &b->exchanges.v[b->exchanges.n];

	*x = (struct b_exchange){.vhost = strdup(m->vhost), .name = strdup(m->name),
				 .alternate = strdup(m->alternate), .type = m->type, .flags = m->flags};
	if (x->vhost == NULL || x->name == NULL || x->alternate == NULL) {
		b_exchange_free(x);
		return -ENOMEM;
	}
	b->exchanges.n++;
	return 0;
}

/* A string argument's copy, or NULL (absent, not a string: lepus-control
 * validated it; *nomem set when out of memory). */
static char *str_arg(struct lp_amqp_bytes args, const char *key, bool *nomem)
{
	struct lp_amqp_field_value v;
	char *s;

	if (!lp_amqp_table_get(args, key, &v) || v.kind != LP_AMQP_FIELD_LONGSTR)
		return NULL;
	s = strndup((const char *)v.bytes.ptr, v.bytes.len);
	*nomem |= s == NULL;
	return s;
}

/* What the dataplane does with a queue's arguments (lepus-control validated
 * them: non-negative integers, a known x-overflow, strings, a boolean
 * x-single-active-consumer): length limits, message TTL, dead-lettering,
 * queue expiry and the consumer mode. Returns 0 or -ENOMEM. */
static int queue_args(struct b_queue *q, struct lp_amqp_bytes args)
{
	struct lp_amqp_field_value v;
	bool nomem = false;
	int64_t n;

	q->max_length = UINT32_MAX;
	q->max_length_bytes = UINT64_MAX;
	q->reject_publish = false;
	q->single_active = false;
	q->max_priority = 0;
	if (args.len == 0 || !lp_amqp_table_valid(args))
		return 0;
	if (lp_amqp_table_get(args, "x-message-ttl", &v) && lp_amqp_field_int(&v, &n) && n >= 0) {
		q->has_message_ttl = true;
		q->message_ttl = (uint64_t)n;
	}
	if (lp_amqp_table_get(args, "x-expires", &v) && lp_amqp_field_int(&v, &n) && n > 0)
		q->expires = (uint64_t)n;
	q->dlx = str_arg(args, "x-dead-letter-exchange", &nomem);
	if (q->dlx != NULL)
		q->dlrk = str_arg(args, "x-dead-letter-routing-key", &nomem);
	if (lp_amqp_table_get(args, "x-max-length", &v) && lp_amqp_field_int(&v, &n) && n >= 0)
		q->max_length = n < UINT32_MAX ? (uint32_t)n : UINT32_MAX - 1;
	if (lp_amqp_table_get(args, "x-max-length-bytes", &v) && lp_amqp_field_int(&v, &n) && n >= 0)
		q->max_length_bytes = (uint64_t)n;
	if (lp_amqp_table_get(args, "x-overflow", &v) && v.kind == LP_AMQP_FIELD_LONGSTR) {
		q->reject_publish_dlx = lp_amqp_bytes_eq(v.bytes, "reject-publish-dlx");
		q->reject_publish = q->reject_publish_dlx || lp_amqp_bytes_eq(v.bytes, "reject-publish");
	}
	if (lp_amqp_table_get(args, "x-single-active-consumer", &v) && v.kind == LP_AMQP_FIELD_BOOL)
		q->single_active = v.b;
	/* lepus-control refused a value outside 0..255 (rabbit_amqqueue's
	 * check_max_priority_arg); rabbit_priority_queue caps it at 255. */
	if (lp_amqp_table_get(args, "x-max-priority", &v) && lp_amqp_field_int(&v, &n) && n > 0)
		q->max_priority = n < 255 ? (uint8_t)n : 255;
	return nomem ? -ENOMEM : 0;
}

/* Replace q's settings from its arguments, keeping its identity (qid,
 * names, owner). Returns 0 or -ENOMEM (q unchanged). */
static int update_queue(struct b_queue *q, const struct lp_ctl_topo_queue *m)
{
	struct b_queue n = {0};

	if (queue_args(&n, (struct lp_amqp_bytes){m->args, m->args_len}) != 0) {
		b_queue_free(&n);
		return -ENOMEM;
	}
	free(q->dlx);
	free(q->dlrk);
	q->max_length = n.max_length;
	q->max_length_bytes = n.max_length_bytes;
	q->reject_publish = n.reject_publish;
	q->reject_publish_dlx = n.reject_publish_dlx;
	q->has_message_ttl = n.has_message_ttl;
	q->message_ttl = n.message_ttl;
	q->dlx = n.dlx;
	q->dlrk = n.dlrk;
	q->single_active = n.single_active;
	return 0;
}

static int apply_queue(struct lp_topology_builder *b, const struct lp_ctl_topo_queue *m)
{
	long i = find_queue(b, m->vhost, m->name);

	if (m->op == LP_CTL_OP_DEL) {
		if (i < 0)
			return -ENOENT;
		b_queue_free(&b->queues.v[i]);
		b->queues.v[i] = b->queues.v[--b->queues.n];
		return 0;
	}
	if (m->op == LP_CTL_OP_UPDATE) /* new arguments (a policy), same qid */
		return i < 0 ? -ENOENT : update_queue(&b->queues.v[i], m);
	if (i >= 0)
		return -EEXIST;
	if (PUSH(b->queues) != 0)
		return -ENOMEM;
	struct b_queue *q = &b->queues.v[b->queues.n];

	*q = (struct b_queue){.vhost = strdup(m->vhost), .name = strdup(m->name), .flags = m->flags,
			      .owner_shard = m->owner_shard, .owner_conn = m->owner_conn,
			      .store_id = m->store_id};
	if (q->vhost == NULL || q->name == NULL) {
		b_queue_free(q);
		return -ENOMEM;
	}
	if (queue_args(q, (struct lp_amqp_bytes){m->args, m->args_len}) != 0) {
		b_queue_free(q);
		return -ENOMEM;
	}
	q->qid = ++b->next_qid ? b->next_qid : ++b->next_qid; /* never 0 */
	for (uint32_t r = 0; r < b->retired.n; r++) {
		struct b_queue *old = &b->retired.v[r];

		if (strcmp(old->vhost, q->vhost) == 0 && strcmp(old->name, q->name) == 0) {
			q->qid = old->qid;
			b_queue_free(old);
			*old = b->retired.v[--b->retired.n];
			break;
		}
	}
	b->queues.n++;
	return 0;
}

static int apply_binding(struct lp_topology_builder *b, const struct lp_ctl_topo_binding *m)
{
	long i = find_binding(b, m);

	if (m->op == LP_CTL_OP_DEL) {
		if (i < 0)
			return -ENOENT;
		b_binding_free(&b->bindings.v[i]);
		b->bindings.v[i] = b->bindings.v[--b->bindings.n];
		return 0;
	}
	if (i >= 0)
		return -EEXIST;
	if (m->dest_kind != LP_CTL_OBJ_EXCHANGE && m->dest_kind != LP_CTL_OBJ_QUEUE)
		return -EINVAL;
	if (PUSH(b->bindings) != 0)
		return -ENOMEM;
	struct b_binding *x = &b->bindings.v[b->bindings.n];

	*x = (struct b_binding){.vhost = strdup(m->vhost), .source = strdup(m->source),
				.destination = strdup(m->destination),
				.routing_key = strdup(m->routing_key), .dest_kind = m->dest_kind,
				.args_len = m->args_len};
	if (m->args_len > 0) {
		x->args = malloc(m->args_len);
		if (x->args != NULL)
			memcpy(x->args, m->args, m->args_len);
	}
	if (x->vhost == NULL || x->source == NULL || x->destination == NULL ||
	    x->routing_key == NULL || (m->args_len > 0 && x->args == NULL)) {
		b_binding_free(x);
		return -ENOMEM;
	}
	b->bindings.n++;
	return 0;
}

int lp_topology_builder_apply(struct lp_topology_builder *b, const struct lp_ctl_msg *m)
{
	switch (m->type) {
	case LP_CTL_TOPO_VHOST:
		return apply_vhost(b, &m->topo_vhost);
	case LP_CTL_TOPO_EXCHANGE:
		return apply_exchange(b, &m->topo_exchange);
	case LP_CTL_TOPO_QUEUE:
		return apply_queue(b, &m->topo_queue);
	case LP_CTL_TOPO_BINDING:
		return apply_binding(b, &m->topo_binding);
	default:
		return 0;
	}
}

/* ---- snapshot --------------------------------------------------------- */

struct direct_entry {
	char *key; /* owned by the snapshot */
	uint8_t len;
	uint32_t dest;
};

struct headers_entry {
	struct lp_headers_binding *binding;
	uint32_t dest;
};

struct s_exchange {
	char *vhost, *name;
	uint8_t type, flags;
	bool is_default;
	uint32_t alternate;
	struct direct_entry *direct; /* sorted by (len, key) */
	uint32_t n_direct;
	uint32_t *fanout;
	uint32_t n_fanout;
	struct lp_topic_trie *topic;
	struct headers_entry *headers;
	uint32_t n_headers;
};

struct name_index {
	uint32_t *slots; /* element index or LP_TOPOLOGY_NONE */
	uint32_t mask;
};

struct lp_topology {
	uint64_t version;
	char **vhosts;
	uint32_t n_vhosts;
	struct s_exchange *exchanges;
	uint32_t n_exchanges;
	struct lp_topology_queue *queues;
	uint32_t n_queues;
	struct name_index exchange_index, queue_index;
};

static uint32_t name_hash(const char *vhost, const char *name, size_t len)
{
	uint32_t h = 2166136261u;

	for (const char *p = vhost; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	h = (h ^ 0xffu) * 16777619u;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)name[i]) * 16777619u;
	return h;
}

static int index_init(struct name_index *ix, uint32_t n)
{
	uint32_t cap = 16;

	while (cap < 2 * n + 1)
		cap *= 2;
	ix->slots = malloc(cap * sizeof(*ix->slots));
	if (ix->slots == NULL)
		return -ENOMEM;
	memset(ix->slots, 0xff, cap * sizeof(*ix->slots));
	ix->mask = cap - 1;
	return 0;
}

static void index_add(struct name_index *ix, const char *vhost, const char *name, uint32_t idx)
{
	uint32_t h = name_hash(vhost, name, strlen(name)) & ix->mask;

	while (ix->slots[h] != LP_TOPOLOGY_NONE)
		h = (h + 1) & ix->mask;
	ix->slots[h] = idx;
}

static int direct_cmp(const void *a, const void *b)
{
	const struct direct_entry *x = a, *y = b;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	int c = memcmp(x->key, y->key, x->len);

	if (c != 0)
		return c;
	return x->dest < y->dest ? -1 : x->dest > y->dest;
}

void lp_topology_free(struct lp_topology *t)
{
	if (t == NULL)
		return;
	for (uint32_t i = 0; i < t->n_vhosts; i++)
		free(t->vhosts[i]);
	free(t->vhosts);
	for (uint32_t i = 0; i < t->n_exchanges; i++) {
		struct s_exchange *x = &t->exchanges[i];

		free(x->vhost);
		free(x->name);
		for (uint32_t j = 0; j < x->n_direct; j++)
			free(x->direct[j].key);
		free(x->direct);
		free(x->fanout);
		lp_topic_trie_destroy(x->topic);
		for (uint32_t j = 0; j < x->n_headers; j++)
			lp_headers_binding_free(x->headers[j].binding);
		free(x->headers);
	}
	free(t->exchanges);
	for (uint32_t i = 0; i < t->n_queues; i++) {
		free((char *)t->queues[i].vhost);
		free((char *)t->queues[i].name);
		free((char *)t->queues[i].dlx);
		free((char *)t->queues[i].dlrk);
	}
	free(t->queues);
	free(t->exchange_index.slots);
	free(t->queue_index.slots);
	free(t);
}

/* Add binding b (source exchange x) to the compiled exchange. 0 or -errno. */
static int compile_binding(struct s_exchange *x, const struct b_binding *b,
			   uint32_t dest)
{
	switch (x->type) {
	case LP_CTL_XT_DIRECT:
		x->direct[x->n_direct] = (struct direct_entry){
			.key = strdup(b->routing_key), .len = (uint8_t)strlen(b->routing_key), .dest = dest};
		if (x->direct[x->n_direct].key == NULL)
			return -ENOMEM;
		x->n_direct++;
		return 0;
	case LP_CTL_XT_FANOUT:
		x->fanout[x->n_fanout++] = dest;
		return 0;
	case LP_CTL_XT_TOPIC:
		if (x->topic == NULL && (x->topic = lp_topic_trie_create()) == NULL)
			return -ENOMEM;
		return lp_topic_trie_add(x->topic, b->routing_key, strlen(b->routing_key), dest);
	default: {
		struct lp_amqp_bytes args = {.ptr = b->args, .len = b->args_len};
		struct lp_headers_binding *hb = lp_headers_binding_compile(args);

		if (hb == NULL)
			return -errno;
		x->headers[x->n_headers++] = (struct headers_entry){.binding = hb, .dest = dest};
		return 0;
	}
	}
}

struct lp_topology *lp_topology_build(const struct lp_topology_builder *b, uint64_t version)
{
	struct lp_topology *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->version = version;
	t->vhosts = calloc(b->vhosts.n + 1, sizeof(*t->vhosts));
	t->exchanges = calloc(b->exchanges.n + 1, sizeof(*t->exchanges));
	t->queues = calloc(b->queues.n + 1, sizeof(*t->queues));
	if (t->vhosts == NULL || t->exchanges == NULL || t->queues == NULL ||
	    index_init(&t->exchange_index, b->exchanges.n) != 0 ||
	    index_init(&t->queue_index, b->queues.n) != 0)
		goto fail;
	for (uint32_t i = 0; i < b->vhosts.n; i++, t->n_vhosts++)
		if ((t->vhosts[i] = strdup(b->vhosts.v[i])) == NULL)
			goto fail;
	for (uint32_t i = 0; i < b->queues.n; i++, t->n_queues++) {
		const struct b_queue *q = &b->queues.v[i];

		t->queues[i] = (struct lp_topology_queue){.vhost = strdup(q->vhost), .name = strdup(q->name),
							  .owner_shard = q->owner_shard, .flags = q->flags,
							  .owner_conn = q->owner_conn, .qid = q->qid,
							  .store_id = q->store_id,
							  .max_length = q->max_length,
							  .max_length_bytes = q->max_length_bytes,
							  .reject_publish = q->reject_publish,
							  .reject_publish_dlx = q->reject_publish_dlx,
							  .has_message_ttl = q->has_message_ttl,
							  .message_ttl = q->message_ttl,
							  .dlx = q->dlx != NULL ? strdup(q->dlx) : NULL,
							  .dlrk = q->dlrk != NULL ? strdup(q->dlrk) : NULL,
							  .single_active = q->single_active,
							  .expires = q->expires,
							  .max_priority = q->max_priority};
		if (t->queues[i].vhost == NULL || t->queues[i].name == NULL ||
		    (q->dlx != NULL && t->queues[i].dlx == NULL) ||
		    (q->dlrk != NULL && t->queues[i].dlrk == NULL)) {
			t->n_queues++;
			goto fail;
		}
		index_add(&t->queue_index, q->vhost, q->name, i);
	}
	for (uint32_t i = 0; i < b->exchanges.n; i++, t->n_exchanges++) {
		const struct b_exchange *bx = &b->exchanges.v[i];
		struct s_exchange *x = &t->exchanges[i];

		x->vhost = strdup(bx->vhost);
		x->name = strdup(bx->name);
		if (x->vhost == NULL || x->name == NULL) {
			t->n_exchanges++;
			goto fail;
		}
		x->type = bx->type;
		x->flags = bx->flags;
		x->is_default = bx->name[0] == '\0';
		index_add(&t->exchange_index, bx->vhost, bx->name, i);
	}
	for (uint32_t i = 0; i < t->n_exchanges; i++) {
		const struct b_exchange *bx = &b->exchanges.v[i];
		struct s_exchange *x = &t->exchanges[i];
		uint32_t n = 0;

		x->alternate = bx->alternate[0] ? lp_topology_exchange_find(t, bx->vhost, bx->alternate,
									       strlen(bx->alternate))
					       : LP_TOPOLOGY_NONE;
		for (uint32_t j = 0; j < b->bindings.n; j++)
			n += strcmp(b->bindings.v[j].vhost, x->vhost) == 0 &&
			     strcmp(b->bindings.v[j].source, x->name) == 0;
		if (x->type == LP_CTL_XT_DIRECT)
			x->direct = calloc(n + 1, sizeof(*x->direct));
		else if (x->type == LP_CTL_XT_FANOUT)
			x->fanout = calloc(n + 1, sizeof(*x->fanout));
		else if (x->type == LP_CTL_XT_HEADERS)
			x->headers = calloc(n + 1, sizeof(*x->headers));
		if ((x->type == LP_CTL_XT_DIRECT && x->direct == NULL) ||
		    (x->type == LP_CTL_XT_FANOUT && x->fanout == NULL) ||
		    (x->type == LP_CTL_XT_HEADERS && x->headers == NULL))
			goto fail;
		for (uint32_t j = 0; j < b->bindings.n; j++) {
			const struct b_binding *bb = &b->bindings.v[j];
			uint32_t dest;

			if (strcmp(bb->vhost, x->vhost) != 0 || strcmp(bb->source, x->name) != 0)
				continue;
			if (bb->dest_kind == LP_CTL_OBJ_QUEUE)
				dest = lp_topology_queue_find(t, bb->vhost, bb->destination,
							      strlen(bb->destination));
			else
				dest = lp_topology_exchange_find(t, bb->vhost, bb->destination,
								 strlen(bb->destination));
			if (dest == LP_TOPOLOGY_NONE)
				continue; /* a binding to what is gone: nothing to route to */
			if (bb->dest_kind == LP_CTL_OBJ_EXCHANGE)
				dest |= DEST_EXCHANGE;
			if (compile_binding(x, bb, dest) != 0)
				goto fail;
		}
		if (x->n_direct > 1)
			qsort(x->direct, x->n_direct, sizeof(*x->direct), direct_cmp);
	}
	return t;
fail:
	lp_topology_free(t);
	return NULL;
}

uint64_t lp_topology_version(const struct lp_topology *t)
{
	return t->version;
}

bool lp_topology_has_vhost(const struct lp_topology *t, const char *vhost)
{
	for (uint32_t i = 0; i < t->n_vhosts; i++)
		if (strcmp(t->vhosts[i], vhost) == 0)
			return true;
	return false;
}

static bool name_eq(const char *stored, const char *name, size_t len)
{
	return strncmp(stored, name, len) == 0 && stored[len] == '\0';
}

uint32_t lp_topology_exchange_find(const struct lp_topology *t, const char *vhost,
				   const char *name, size_t len)
{
	const struct name_index *ix = &t->exchange_index;

	for (uint32_t h = name_hash(vhost, name, len) & ix->mask; ix->slots[h] != LP_TOPOLOGY_NONE;
	     h = (h + 1) & ix->mask) {
		const struct s_exchange *x = &t->exchanges[ix->slots[h]];

		if (strcmp(x->vhost, vhost) == 0 && name_eq(x->name, name, len))
			return ix->slots[h];
	}
	return LP_TOPOLOGY_NONE;
}

uint32_t lp_topology_queue_find(const struct lp_topology *t, const char *vhost,
				const char *name, size_t len)
{
	const struct name_index *ix = &t->queue_index;

	for (uint32_t h = name_hash(vhost, name, len) & ix->mask; ix->slots[h] != LP_TOPOLOGY_NONE;
	     h = (h + 1) & ix->mask) {
		const struct lp_topology_queue *q = &t->queues[ix->slots[h]];

		if (strcmp(q->vhost, vhost) == 0 && name_eq(q->name, name, len))
			return ix->slots[h];
	}
	return LP_TOPOLOGY_NONE;
}

uint32_t lp_topology_queue_count(const struct lp_topology *t)
{
	return t->n_queues;
}

const struct lp_topology_queue *lp_topology_queue(const struct lp_topology *t, uint32_t idx)
{
	return idx < t->n_queues ? &t->queues[idx] : NULL;
}

bool lp_topology_exchange_internal(const struct lp_topology *t, uint32_t exchange)
{
	return exchange < t->n_exchanges && (t->exchanges[exchange].flags & LP_CTL_X_INTERNAL);
}

struct route_ctx {
	const struct lp_topology *t;
	const char *rkey;
	size_t rkey_len;
	struct lp_amqp_bytes headers;
	struct lp_dest_set out;
	uint32_t visited[ROUTE_MAX_EXCHANGES];
	unsigned n_visited;
};

static void route_exchange(struct route_ctx *c, uint32_t xi);

/* A matched destination: a queue joins the output, an exchange routes on. */
static void route_dest(struct route_ctx *c, uint32_t dest)
{
	if (dest & DEST_EXCHANGE)
		route_exchange(c, dest & ~DEST_EXCHANGE);
	else
		lp_dest_set_add(&c->out, dest);
}

static void route_exchange(struct route_ctx *c, uint32_t xi)
{
	const struct s_exchange *x = &c->t->exchanges[xi];
	unsigned matched = 0;

	/* Each exchange once per message: e2e cycles end here (RabbitMQ too). */
	for (unsigned i = 0; i < c->n_visited; i++)
		if (c->visited[i] == xi)
			return;
	if (c->n_visited == ROUTE_MAX_EXCHANGES)
		return;
	c->visited[c->n_visited++] = xi;

	if (x->is_default) {
		uint32_t q = lp_topology_queue_find(c->t, x->vhost, c->rkey, c->rkey_len);

		if (q != LP_TOPOLOGY_NONE) {
			matched++;
			lp_dest_set_add(&c->out, q);
		}
	} else if (x->type == LP_CTL_XT_DIRECT) {
		/* Binary search for the first entry with this key. */
		uint32_t lo = 0, hi = x->n_direct;

		while (lo < hi) {
			uint32_t mid = (lo + hi) / 2;
			const struct direct_entry *e = &x->direct[mid];
			int cmp = e->len != c->rkey_len ? (e->len < c->rkey_len ? -1 : 1)
							: memcmp(e->key, c->rkey, c->rkey_len);

			if (cmp < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < x->n_direct && x->direct[lo].len == c->rkey_len &&
		       memcmp(x->direct[lo].key, c->rkey, c->rkey_len) == 0; lo++) {
			matched++;
			route_dest(c, x->direct[lo].dest);
		}
	} else if (x->type == LP_CTL_XT_FANOUT) {
		for (uint32_t i = 0; i < x->n_fanout; i++)
			route_dest(c, x->fanout[i]);
		matched = x->n_fanout;
	} else if (x->type == LP_CTL_XT_TOPIC) {
		uint32_t scratch[ROUTE_TOPIC_SCRATCH];
		int n = x->topic ? lp_topic_trie_match(x->topic, c->rkey, c->rkey_len, scratch,
							ROUTE_TOPIC_SCRATCH) : 0;

		if (n > ROUTE_TOPIC_SCRATCH) {
			c->out.overflow += (unsigned)n - ROUTE_TOPIC_SCRATCH;
			n = ROUTE_TOPIC_SCRATCH;
		}
		for (int i = 0; i < n; i++)
			route_dest(c, scratch[i]);
		matched = n > 0 ? (unsigned)n : 0;
	} else {
		for (uint32_t i = 0; i < x->n_headers; i++) {
			if (lp_headers_match(x->headers[i].binding, c->headers)) {
				matched++;
				route_dest(c, x->headers[i].dest);
			}
		}
	}
	/* RabbitMQ: an exchange that routes to nothing hands over to its AE. */
	if (matched == 0 && x->alternate != LP_TOPOLOGY_NONE)
		route_exchange(c, x->alternate);
}

int lp_topology_route(const struct lp_topology *t, uint32_t exchange, const char *rkey,
		      size_t rkey_len, struct lp_amqp_bytes headers, uint32_t *queues,
		      unsigned max)
{
	struct route_ctx c = {.t = t, .rkey = rkey, .rkey_len = rkey_len, .headers = headers};

	lp_dest_set_init(&c.out, queues, max);

	if (exchange >= t->n_exchanges || rkey_len > LP_TOPIC_KEY_MAX)
		return 0;
	route_exchange(&c, exchange);
	return lp_dest_set_count(&c.out);
}
