/* SPDX-License-Identifier: MIT */
/*
 * The shard ring mesh (DESIGN.md "shard <-> shard"): two single-producer/
 * single-consumer rte_rings ("lanes") for every ordered pair of worker
 * shards: the data lane carries publishes for the owner's queues (ENQUEUE),
 * which the owner stops reading while the queue is full (back-pressure);
 * the control lane carries everything else and is always read, so that
 * acknowledgements still return credit to a full queue's consumers. They carry
 * fixed-size operations (struct lp_ring_op: a message reference to enqueue,
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

#include "ring_op.h"

struct rte_ring;

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
