/* SPDX-License-Identifier: MIT */
/*
 * The shard ring mesh (see mesh.h): n * (n - 1) operation rings between
 * worker shards and 2 * n pointer rings to and from the main lcore, all
 * single-producer/single-consumer, created once before the workers start.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "mesh.h"
#include "message.h"

#define MAIN_RING_SIZE 4096

struct lp_mesh {
	unsigned n;
	struct rte_ring **ops;       /* [(lane * n + src) * n + dst] */
	struct rte_ring **to_main;   /* [w] */
	struct rte_ring **from_main; /* [w] */
};

static unsigned mesh_seq;

static struct rte_ring *ring_new(const char *kind, unsigned a, unsigned b, unsigned esize,
				 unsigned size)
{
	char name[RTE_RING_NAMESIZE];

	snprintf(name, sizeof(name), "lp%u_%s%u_%u", mesh_seq, kind, a, b);
	return rte_ring_create_elem(name, esize, size, (int)rte_socket_id(),
				    RING_F_SP_ENQ | RING_F_SC_DEQ);
}

struct lp_mesh *lp_mesh_create(unsigned n_workers, unsigned ring_size)
{
	struct lp_mesh *m;

	if (n_workers == 0 || n_workers > 255) {
		rte_errno = EINVAL;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	m->n = n_workers;
	m->ops = calloc((size_t)LP_MESH_LANES * n_workers * n_workers, sizeof(*m->ops));
	m->to_main = calloc(n_workers, sizeof(*m->to_main));
	m->from_main = calloc(n_workers, sizeof(*m->from_main));
	if (m->ops == NULL || m->to_main == NULL || m->from_main == NULL) {
		lp_mesh_destroy(m);
		rte_errno = ENOMEM;
		return NULL;
	}
	mesh_seq++;
	for (unsigned s = 0; s < n_workers; s++) {
		for (unsigned d = 0; d < n_workers; d++) {
			if (s == d)
				continue;
			for (unsigned l = 0; l < LP_MESH_LANES; l++) {
				size_t i = ((size_t)l * n_workers + s) * n_workers + d;

				m->ops[i] = ring_new(l == LP_MESH_DATA ? "dt" : "op", s, d,
						     sizeof(struct lp_shard_op), ring_size);
				if (m->ops[i] == NULL)
					goto fail;
			}
		}
		m->to_main[s] = ring_new("tm", s, 0, sizeof(void *), MAIN_RING_SIZE);
		m->from_main[s] = ring_new("fm", s, 0, sizeof(void *), MAIN_RING_SIZE);
		if (m->to_main[s] == NULL || m->from_main[s] == NULL)
			goto fail;
	}
	return m;
fail: {
	int err = rte_errno;

	lp_mesh_destroy(m);
	rte_errno = err;
	return NULL;
}
}

void lp_mesh_destroy(struct lp_mesh *m)
{
	struct lp_shard_op op;
	void *p;

	if (m == NULL)
		return;
	for (unsigned i = 0; m->ops != NULL && i < LP_MESH_LANES * m->n * m->n; i++) {
		if (m->ops[i] == NULL)
			continue;
		while (rte_ring_dequeue_elem(m->ops[i], &op, sizeof(op)) == 0)
			if (op.ptr != NULL &&
			    (op.type == LP_SHARD_ENQUEUE || op.type == LP_SHARD_DELIVER ||
			     op.type == LP_SHARD_GET_REPLY))
				lp_msg_release(op.ptr);
		rte_ring_free(m->ops[i]);
	}
	for (unsigned w = 0; w < m->n; w++) {
		if (m->to_main != NULL && m->to_main[w] != NULL) {
			while (rte_ring_dequeue(m->to_main[w], &p) == 0)
				free(p);
			rte_ring_free(m->to_main[w]);
		}
		if (m->from_main != NULL && m->from_main[w] != NULL) {
			while (rte_ring_dequeue(m->from_main[w], &p) == 0)
				free(p);
			rte_ring_free(m->from_main[w]);
		}
	}
	free(m->ops);
	free(m->to_main);
	free(m->from_main);
	free(m);
}

unsigned lp_mesh_workers(const struct lp_mesh *m)
{
	return m->n;
}

struct rte_ring *lp_mesh_ring(const struct lp_mesh *m, unsigned src, unsigned dst, unsigned lane)
{
	return m->ops[((size_t)lane * m->n + src) * m->n + dst];
}

struct rte_ring *lp_mesh_to_main(const struct lp_mesh *m, unsigned w)
{
	return m->to_main[w];
}

struct rte_ring *lp_mesh_from_main(const struct lp_mesh *m, unsigned w)
{
	return m->from_main[w];
}
