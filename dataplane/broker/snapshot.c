/* SPDX-License-Identifier: MIT */
/*
 * Snapshot publication with RCU (see snapshot.h). Main lcore only, except
 * lp_snapshot_current() and lp_snapshot_quiescent(), which workers call.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include "amqp_auth.h"
#include "topology.h"
#include "snapshot.h"

#define RETIRED_MAX 256

struct user {
	char *name;
	uint8_t hash[LP_CTL_PASSWORD_HASH_LEN];
	bool has_hash;
};

struct grant {
	char *user, *vhost;
};

struct retired {
	struct lp_snapshot *snap;
	uint64_t token;
};

struct lp_snapshot_publisher {
	_Atomic(struct lp_snapshot *) current;
	struct rte_rcu_qsbr *qsbr;
	struct lp_topology_builder *builder;
	/* Credentials as pushed, rebuilt into an lp_amqp_auth per batch. */
	char **vhosts;
	uint32_t n_vhosts, cap_vhosts;
	struct user *users;
	uint32_t n_users, cap_users;
	struct grant *grants;
	uint32_t n_grants, cap_grants;
	struct retired retired[RETIRED_MAX];
	unsigned n_retired;
	uint64_t published;
	bool pending;          /* a batch ended while the retired list was full */
	uint64_t pending_version;
};

static void snapshot_free(struct lp_snapshot *s)
{
	if (s == NULL)
		return;
	lp_topology_free((struct lp_topology *)s->topo);
	lp_amqp_auth_destroy((struct lp_amqp_auth *)s->auth);
	free(s);
}

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

static void credentials_clear(struct lp_snapshot_publisher *p)
{
	for (uint32_t i = 0; i < p->n_vhosts; i++)
		free(p->vhosts[i]);
	for (uint32_t i = 0; i < p->n_users; i++)
		free(p->users[i].name);
	for (uint32_t i = 0; i < p->n_grants; i++) {
		free(p->grants[i].user);
		free(p->grants[i].vhost);
	}
	p->n_vhosts = p->n_users = p->n_grants = 0;
}

static void apply_vhost(struct lp_snapshot_publisher *p, const struct lp_ctl_topo_vhost *m)
{
	for (uint32_t i = 0; i < p->n_vhosts; i++) {
		if (strcmp(p->vhosts[i], m->name) == 0) {
			if (m->op == LP_CTL_OP_DEL) {
				free(p->vhosts[i]);
				p->vhosts[i] = p->vhosts[--p->n_vhosts];
			}
			return;
		}
	}
	if (m->op == LP_CTL_OP_ADD &&
	    grow((void **)&p->vhosts, &p->cap_vhosts, p->n_vhosts, sizeof(*p->vhosts)) == 0 &&
	    (p->vhosts[p->n_vhosts] = strdup(m->name)) != NULL)
		p->n_vhosts++;
}

static void apply_user(struct lp_snapshot_publisher *p, const struct lp_ctl_user *m)
{
	for (uint32_t i = 0; i < p->n_users; i++) {
		if (strcmp(p->users[i].name, m->name) == 0) {
			free(p->users[i].name);
			p->users[i] = p->users[--p->n_users];
			break;
		}
	}
	if (m->op != LP_CTL_OP_ADD ||
	    grow((void **)&p->users, &p->cap_users, p->n_users, sizeof(*p->users)) != 0)
		return;
	struct user *u = &p->users[p->n_users];

	u->name = strdup(m->name);
	u->has_hash = m->hash_alg == LP_CTL_HASH_SHA256 && m->hash_len == LP_CTL_PASSWORD_HASH_LEN;
	if (u->has_hash)
		memcpy(u->hash, m->hash, sizeof(u->hash));
	if (u->name != NULL)
		p->n_users++;
}

static void apply_permission(struct lp_snapshot_publisher *p, const struct lp_ctl_permission *m)
{
	for (uint32_t i = 0; i < p->n_grants; i++) {
		if (strcmp(p->grants[i].user, m->user) == 0 && strcmp(p->grants[i].vhost, m->vhost) == 0) {
			free(p->grants[i].user);
			free(p->grants[i].vhost);
			p->grants[i] = p->grants[--p->n_grants];
			break;
		}
	}
	if (m->op != LP_CTL_OP_ADD ||
	    grow((void **)&p->grants, &p->cap_grants, p->n_grants, sizeof(*p->grants)) != 0)
		return;
	struct grant *g = &p->grants[p->n_grants];

	g->user = strdup(m->user);
	g->vhost = strdup(m->vhost);
	if (g->user == NULL || g->vhost == NULL) {
		free(g->user);
		free(g->vhost);
		return;
	}
	p->n_grants++;
}

/* Credentials as pushed; users without a password hash cannot log in. */
static struct lp_amqp_auth *auth_build(const struct lp_snapshot_publisher *p)
{
	struct lp_amqp_auth *a = lp_amqp_auth_create(p->n_users + 1, p->n_vhosts + 1);

	if (a == NULL)
		return NULL;
	for (uint32_t i = 0; i < p->n_vhosts; i++)
		lp_amqp_auth_add_vhost(a, p->vhosts[i]);
	for (uint32_t i = 0; i < p->n_users; i++)
		if (p->users[i].has_hash)
			lp_amqp_auth_add_user(a, p->users[i].name, p->users[i].hash);
	for (uint32_t i = 0; i < p->n_grants; i++)
		lp_amqp_auth_grant(a, p->grants[i].user, p->grants[i].vhost);
	return a;
}

static int publish(struct lp_snapshot_publisher *p, struct lp_snapshot *s)
{
	struct lp_snapshot *old;

	if (p->n_retired == RETIRED_MAX) {
		snapshot_free(s);
		return -ENOSPC;
	}
	old = atomic_exchange_explicit(&p->current, s, memory_order_acq_rel);
	p->published++;
	if (old != NULL) {
		p->retired[p->n_retired].snap = old;
		p->retired[p->n_retired].token = rte_rcu_qsbr_start(p->qsbr);
		p->n_retired++;
	}
	return 0;
}

static int build_and_publish(struct lp_snapshot_publisher *p, uint64_t version)
{
	struct lp_snapshot *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return -ENOMEM;
	s->version = version;
	s->topo = lp_topology_build(p->builder, version);
	s->auth = auth_build(p);
	if (s->topo == NULL || s->auth == NULL) {
		snapshot_free(s);
		return -ENOMEM;
	}
	return publish(p, s);
}

static void on_topo_begin(void *arg, uint64_t version, bool full)
{
	struct lp_snapshot_publisher *p = arg;

	(void)version;
	if (full) {
		lp_topology_builder_clear(p->builder);
		credentials_clear(p);
	}
}

static void on_topo_object(void *arg, const struct lp_ctl_msg *m)
{
	struct lp_snapshot_publisher *p = arg;

	switch (m->type) {
	case LP_CTL_TOPO_VHOST:
		apply_vhost(p, &m->topo_vhost);
		lp_topology_builder_apply(p->builder, m);
		break;
	case LP_CTL_USER:
		apply_user(p, &m->user);
		break;
	case LP_CTL_PERMISSION:
		apply_permission(p, &m->permission);
		break;
	default:
		/* An object control sent twice or out of order changes nothing. */
		lp_topology_builder_apply(p->builder, m);
		break;
	}
}

static void on_topo_end(void *arg, uint64_t version)
{
	struct lp_snapshot_publisher *p = arg;

	if (build_and_publish(p, version) != 0) {
		/* Out of memory or too many snapshots in their grace period:
		 * publish at the next reclaim. */
		p->pending = true;
		p->pending_version = version;
	}
}

void lp_snapshot_link_handlers(struct lp_snapshot_publisher *p, struct lp_ctl_link_handlers *h)
{
	h->arg = p;
	h->topo_begin = on_topo_begin;
	h->topo_object = on_topo_object;
	h->topo_end = on_topo_end;
}

void lp_snapshot_reclaim(struct lp_snapshot_publisher *p)
{
	unsigned kept = 0;

	for (unsigned i = 0; i < p->n_retired; i++) {
		if (rte_rcu_qsbr_check(p->qsbr, p->retired[i].token, false) == 1)
			snapshot_free(p->retired[i].snap);
		else
			p->retired[kept++] = p->retired[i];
	}
	p->n_retired = kept;
	if (p->pending && build_and_publish(p, p->pending_version) == 0)
		p->pending = false;
}

const struct lp_snapshot *lp_snapshot_current(const struct lp_snapshot_publisher *p)
{
	return atomic_load_explicit(&((struct lp_snapshot_publisher *)p)->current,
				    memory_order_acquire);
}

void lp_snapshot_quiescent(struct lp_snapshot_publisher *p, unsigned worker_id)
{
	rte_rcu_qsbr_quiescent(p->qsbr, worker_id);
}

uint64_t lp_snapshot_published(const struct lp_snapshot_publisher *p)
{
	return p->published;
}

struct lp_snapshot_publisher *lp_snapshot_publisher_create(unsigned n_workers)
{
	struct lp_snapshot_publisher *p = calloc(1, sizeof(*p));
	size_t sz = rte_rcu_qsbr_get_memsize(n_workers);

	if (p == NULL)
		return NULL;
	p->qsbr = rte_zmalloc("lp_snapshot_qsbr", sz, RTE_CACHE_LINE_SIZE);
	p->builder = lp_topology_builder_create();
	if (p->qsbr == NULL || p->builder == NULL || rte_rcu_qsbr_init(p->qsbr, n_workers) != 0)
		goto fail;
	for (unsigned i = 0; i < n_workers; i++) {
		rte_rcu_qsbr_thread_register(p->qsbr, i);
		rte_rcu_qsbr_thread_online(p->qsbr, i);
	}
	/* The demo credentials until lepus-control speaks. */
	struct lp_ctl_topo_vhost root = {.op = LP_CTL_OP_ADD, .name = "/"};

	apply_vhost(p, &root);
	struct lp_snapshot *s = calloc(1, sizeof(*s));
	struct lp_amqp_auth *a = lp_amqp_auth_create(4, 4);

	if (s == NULL || a == NULL || lp_amqp_auth_add_defaults(a) != 0) {
		free(s);
		lp_amqp_auth_destroy(a);
		goto fail;
	}
	s->auth = a;
	s->topo = lp_topology_build(p->builder, 0);
	if (s->topo == NULL) {
		snapshot_free(s);
		goto fail;
	}
	publish(p, s);
	return p;
fail:
	lp_snapshot_publisher_destroy(p);
	errno = ENOMEM;
	return NULL;
}

void lp_snapshot_publisher_destroy(struct lp_snapshot_publisher *p)
{
	if (p == NULL)
		return;
	for (unsigned i = 0; i < p->n_retired; i++)
		snapshot_free(p->retired[i].snap);
	snapshot_free(atomic_load(&p->current));
	lp_topology_builder_destroy(p->builder);
	credentials_clear(p);
	free(p->vhosts);
	free(p->users);
	free(p->grants);
	rte_free(p->qsbr);
	free(p);
}
