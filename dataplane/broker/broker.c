/* SPDX-License-Identifier: MIT */
/*
 * The broker shard of one worker (broker.h): its life cycle, the poll
 * iteration that reads the rings, dispatches and flushes, and its counters.
 * The work itself lives in one file per concept: channel.c, declare.c,
 * publish.c, confirm.c, tx.c, consume.c, deliver.c (the channel side),
 * owner.c (the queues this shard owns), persist.c (its journal) and mesh.c
 * (the rings between shards).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_errno.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "amqp_channel.h"
#include "amqp_reply.h"
#include "amqp_server.h"
#include "broker_int.h"
#include "ctl_link.h"
#include "message.h"
#include "queue.h"
#include "snapshot.h"
#include "topology.h"

void lp_broker_config_default(struct lp_broker_config *cfg)
{
	*cfg = (struct lp_broker_config){
		.max_messages = 65536, .body_max = LP_BROKER_BODY_SLOT, .max_queues = 1024,
		.queue_capacity = 65536, .queue_entries = 262144, .max_channels = 4096, .max_consumers = 4096,
		.stage_ops = 16384, .remote_unacked = 262144, .backlog_ops = 65536,
		.pending_confirms = 65536, .tx_entries = 65536, .memory_high_watermark = 0.875,
		.page_after = 4096, .page_entries = 16u << 20,
	};
}

uint64_t lp_broker_message_bytes(void)
{
	return LP_BROKER_PROPS_MAX + LP_BROKER_BODY_SLOT + sizeof(struct lp_msg);
}

uint32_t lp_broker_alarms(struct lp_broker *b)
{
	uint32_t free_slots = lp_msg_pool_available(b->pool);
	uint64_t heap = lp_msg_pool_large_bytes(b->pool);
	/* Messages held, and the queue entries and paged-tail entries that
	 * hold them (a fan-out takes one entry per queue): each past the
	 * watermark raises the alarm, all under the clear level clear it. */
	uint32_t entries = b->cfg.queue_entries - lp_queue_pool_entries_free(b->qpool);
	uint32_t paged = b->page_reads != NULL ? b->page_pool.in_use : 0;

	if (free_slots < b->low_water || heap > b->heap_high || entries > b->entries_high ||
	    paged > b->paged_high)
		b->alarms |= LP_BROKER_ALARM_MEMORY;
	else if (free_slots >= b->high_water && heap <= b->heap_low && entries <= b->entries_low &&
		 paged <= b->paged_low)
		b->alarms &= ~(uint32_t)LP_BROKER_ALARM_MEMORY;
	b->alarms = (b->alarms & ~(uint32_t)LP_BROKER_ALARM_DISK) |
		    (b->cfg.disk_alarm != NULL
			     ? atomic_load_explicit(b->cfg.disk_alarm, memory_order_relaxed) &
				       LP_BROKER_ALARM_DISK
			     : 0);
	b->stats.alarms = b->alarms;
	return b->alarms;
}

/* A raised alarm is looked at again every poll (it clears even with no
 * publisher waiting). The paused publishers read again once no alarm is
 * raised and the rings have room; those told Connection.Blocked are told
 * Unblocked. */
static void resume_publishers(struct lp_broker *b)
{
	if (b->alarms == 0 && b->n_blocked == 0)
		return;
	if (lp_broker_alarms(b) != 0 || b->n_blocked == 0 ||
	    lp_mesh_stages_full(b, LP_BROKER_STAGE_RESUME))
		return;
	uint32_t n = b->n_blocked;

	b->n_blocked = 0;
	b->stats.blocked_publishers = 0;
	for (uint32_t i = 0; i < n; i++) {
		(void)lp_amqp_conn_set_blocked(b->blocked[i].conn, false, NULL);
		lp_amqp_session_resume(b->blocked[i].session);
	}
}

unsigned lp_broker_owner(const struct lp_broker *b, uint16_t owner_shard)
{
	return owner_shard < b->n_workers ? owner_shard : owner_shard % b->n_workers;
}

void lp_broker_set_snapshot(struct lp_broker *b, const struct lp_snapshot *snap)
{
	if (b != NULL)
		b->snap = snap;
}

void lp_broker_refresh_snapshot(struct lp_broker *b)
{
	if (b->snapshots != NULL)
		b->snap = lp_snapshot_current(b->snapshots);
}

/* The queues' clock (TTLs). */
static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void lp_broker_poll(struct lp_broker *b)
{
	if (b == NULL)
		return;
	lp_persist_poll(b);
	resume_publishers(b);
	if (b->dead_n > 0)
		lp_dead_letter_run(b);
	if (b->mesh != NULL) {
		struct lp_ctl_result *r;

		while (rte_ring_dequeue(lp_mesh_from_main(b->mesh, b->id), (void **)&r) == 0) {
			lp_broker_on_result(b, r);
			free(r);
		}
		lp_backlog_run_all(b);
		for (unsigned src = 0; src < b->n_workers; src++) {
			if (src != b->id) {
				lp_mesh_read_ctl(b, src);
				lp_mesh_read_data(b, src);
			}
		}
	}
	lp_owner_check_topology(b);
	lp_owner_dispatch(b);
	if (b->n_parked > 0)
		lp_publish_retry_parked(b);
	if (b->n_get_retry > 0)
		lp_consume_retry_gets(b);
	lp_confirm_flush(b);
	if (b->mesh != NULL)
		lp_mesh_flush(b);
	lp_persist_flush(b);
	/* The queues' clock moves between iterations, so that what arrives
	 * during one (the sessions' publishes before this call, the rings'
	 * in it) and its dispatch see the same time: a TTL of 0 reaches a
	 * consumer that can take it at once. */
	lp_queue_pool_set_now(b->qpool, now_us());
	lp_queue_stats_sample(b, lp_queue_pool_now(b->qpool));
}

uint32_t lp_broker_pool_free(const struct lp_broker *b)
{
	return b != NULL && b->pool != NULL ? lp_msg_pool_available(b->pool) : 0;
}

const struct lp_broker_stats *lp_broker_stats(const struct lp_broker *b)
{
	return b != NULL ? &b->stats : NULL;
}

struct lp_broker *lp_broker_create(unsigned id, const struct lp_broker_config *cfg,
				   struct lp_snapshot_publisher *snapshots, struct lp_ctl_link *ctl,
				   struct lp_mesh *mesh)
{
	if (cfg->max_channels > LP_BROKER_MAX_SLOTS || cfg->max_consumers > LP_BROKER_MAX_SLOTS ||
	    cfg->max_queues == 0 || id > 255 || cfg->stage_ops <= LP_BROKER_STAGE_PAUSE) {
		rte_errno = EINVAL;
		return NULL;
	}
	struct lp_broker *b = calloc(1, sizeof(*b));

	if (b == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	b->id = id;
	b->snapshots = snapshots;
	if (snapshots != NULL)
		b->snap = lp_snapshot_current(snapshots);
	b->n_workers = mesh != NULL ? lp_mesh_workers(mesh) : 1;
	b->ctl = ctl;
	b->mesh = mesh;
	b->cfg = *cfg;
	b->qid_map_size = 1;
	while (b->qid_map_size < 2 * cfg->max_queues)
		b->qid_map_size <<= 1;
	b->pool = lp_msg_pool_create_lazy(cfg->max_messages, LP_BROKER_PROPS_MAX, cfg->body_max,
					  cfg->prefault);
	b->queues = calloc(cfg->max_queues, sizeof(*b->queues));
	b->qpool = lp_queue_pool_create(&(struct lp_queue_pool_config){
		.queues = cfg->max_queues, .consumers = cfg->max_consumers * b->n_workers,
		.entries = cfg->queue_entries});
	b->live = calloc(cfg->max_queues, sizeof(*b->live));
	b->qid_map = calloc(b->qid_map_size, sizeof(*b->qid_map));
	b->rchans = calloc((size_t)b->n_workers * cfg->max_channels, sizeof(*b->rchans));
	b->chans = calloc(cfg->max_channels, sizeof(*b->chans));
	b->consumers = calloc(cfg->max_consumers, sizeof(*b->consumers));
	b->blocked = calloc(cfg->max_channels, sizeof(*b->blocked));
	b->parked = calloc(cfg->max_channels, sizeof(*b->parked));
	b->get_retry = calloc(cfg->max_channels, sizeof(*b->get_retry));
	b->backlogged = calloc(cfg->max_channels, sizeof(*b->backlogged));
	b->confirm_dirty = calloc(cfg->max_channels, sizeof(*b->confirm_dirty));
	b->dead = calloc(LP_BROKER_DEAD_LETTERS, sizeof(*b->dead));
	b->dead_props = malloc(LP_BROKER_DEAD_PROPS);
	b->dead_scratch = malloc(LP_BROKER_DEAD_PROPS);
	b->out = calloc(LP_MESH_LANES * b->n_workers, sizeof(*b->out));
	b->in = calloc(LP_MESH_LANES * b->n_workers, sizeof(*b->in));
	bool stages = b->out != NULL;

	for (unsigned i = 0; stages && mesh != NULL && i < LP_MESH_LANES * b->n_workers; i++) {
		if (i % b->n_workers == id)
			continue;
		b->out[i].v = malloc((size_t)cfg->stage_ops * sizeof(*b->out[i].v));
		stages = b->out[i].v != NULL;
	}
	bool pools = lp_fifo_pool_init(&b->tag_pool, cfg->remote_unacked, sizeof(struct remote_tag)) == 0 &&
		     lp_fifo_pool_init(&b->backlog_pool, cfg->backlog_ops, sizeof(struct lp_ring_op)) == 0 &&
		     lp_fifo_pool_init(&b->confirm_pool, cfg->pending_confirms,
				       sizeof(struct pending_confirm)) == 0 &&
		     lp_fifo_pool_init(&b->tx_pool, cfg->tx_entries, sizeof(struct tx_entry)) == 0;
	/* The memory alarm: raised at the watermark, cleared 1/8 below it. */
	double wm = cfg->memory_high_watermark > 0 && cfg->memory_high_watermark <= 1
			    ? cfg->memory_high_watermark : 0.875;
	double clear = wm > 0.125 ? wm - 0.125 : wm / 2;

	b->low_water = (uint32_t)((1.0 - wm) * cfg->max_messages);
	b->high_water = (uint32_t)((1.0 - clear) * cfg->max_messages);
	b->entries_high = (uint32_t)(wm * cfg->queue_entries);
	b->entries_low = (uint32_t)(clear * cfg->queue_entries);
	b->paged_high = (uint32_t)(wm * cfg->page_entries);
	b->paged_low = (uint32_t)(clear * cfg->page_entries);
	if (b->pool != NULL) {
		b->heap_high = (uint64_t)(wm * (double)lp_msg_pool_large_budget(b->pool));
		b->heap_low = (uint64_t)(clear * (double)lp_msg_pool_large_budget(b->pool));
	}
	if (b->pool == NULL || b->queues == NULL || b->qpool == NULL || b->live == NULL || b->qid_map == NULL ||
	    b->rchans == NULL || b->chans == NULL || b->consumers == NULL || b->blocked == NULL || b->parked == NULL || b->get_retry == NULL || b->backlogged == NULL || b->confirm_dirty == NULL ||
	    b->dead == NULL || b->dead_props == NULL || b->dead_scratch == NULL ||
	    b->out == NULL || b->in == NULL || !stages || !pools ||
	    lp_queue_stats_init(b, cfg->max_queues) < 0) {
		lp_broker_destroy(b);
		rte_errno = ENOMEM;
		return NULL;
	}
	int rc = lp_persist_open(b);

	if (rc == 0)
		rc = lp_page_init(b);
	if (rc < 0) {
		lp_broker_destroy(b);
		rte_errno = -rc;
		return NULL;
	}
	return b;
}

void lp_broker_drop_messages(struct lp_broker *b)
{
	if (b == NULL)
		return;
	lp_persist_close(b); /* first: what the queues drop now stays in the journal */
	lp_owner_destroy_queues(b);
	if (b->dead != NULL)
		lp_dead_letter_drop_all(b);
	for (uint32_t i = 0; b->chans != NULL && i < b->cfg.max_channels; i++) {
		if (b->chans[i].used && b->chans[i].pub != NULL)
			lp_msg_release(b->chans[i].pub);
		b->chans[i].pub = NULL;
		lp_tx_discard(b, &b->chans[i]);
		if (b->backlogged != NULL)
			lp_backlog_drop(b, &b->chans[i]);
	}
	for (unsigned d = 0; b->out != NULL && d < LP_MESH_LANES * b->n_workers; d++) {
		for (uint32_t i = 0; i < b->out[d].n; i++)
			if (lp_op_carries_msg(&b->out[d].v[i]))
				lp_msg_release(b->out[d].v[i].ptr);
		b->out[d].n = 0;
	}
	for (unsigned s = 0; b->in != NULL && s < LP_MESH_LANES * b->n_workers; s++) {
		for (unsigned i = b->in[s].i; i < b->in[s].n; i++)
			if (lp_op_carries_msg(&b->in[s].v[i]))
				lp_msg_release(b->in[s].v[i].ptr);
		b->in[s].i = b->in[s].n = 0;
	}
}

void lp_broker_destroy(struct lp_broker *b)
{
	if (b == NULL)
		return;
	lp_broker_drop_messages(b);
	lp_fifo_pool_fini(&b->tag_pool);
	lp_fifo_pool_fini(&b->backlog_pool);
	lp_fifo_pool_fini(&b->confirm_pool);
	lp_fifo_pool_fini(&b->tx_pool);
	lp_page_fini(b);
	for (unsigned d = 0; b->out != NULL && d < LP_MESH_LANES * b->n_workers; d++)
		free(b->out[d].v);
	lp_queue_pool_destroy(b->qpool);
	free(b->queues);
	free(b->live);
	lp_queue_stats_fini(b);
	free(b->qid_map);
	free(b->rchans);
	free(b->chans);
	free(b->consumers);
	free(b->blocked);
	free(b->parked);
	free(b->get_retry);
	free(b->backlogged);
	free(b->confirm_dirty);
	free(b->dead);
	free(b->dead_props);
	free(b->dead_scratch);
	free(b->out);
	free(b->in);
	lp_msg_pool_destroy(b->pool);
	free(b);
}
