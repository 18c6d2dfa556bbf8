/* SPDX-License-Identifier: MIT */
/*
 * The segment table of a store: slot id % max_segments for each segment file
 * present, the current segment and roll-over to a new one, live-record
 * accounting, and the deletion of drained segments.
 *
 * When may a segment go? When none of its ENQUEUE records is live, it is not
 * being written (current, flush or read-back in flight), and deleting it
 * cannot bring a settled message back: its SETTLE records may be all that
 * keeps an older segment's message from being recovered, so it may only go
 * once every segment those records refer to (min_ref and later) is gone too.
 * A PURGE or DELETE refers to every older segment. Walking the ids upwards and
 * deleting as we go applies the rule in one pass.
 */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "segment_file.h"
#include "store_int.h"

struct store_seg *store_seg_find(struct lp_store *s, uint32_t id)
{
	struct store_seg *g = &s->segs[id % s->max_segments];

	return g->present && g->id == id ? g : NULL;
}

int store_seg_add(struct lp_store *s, uint32_t id, int fd, uint64_t end, bool fresh)
{
	struct store_seg *g = &s->segs[id % s->max_segments];

	if (g->present)
		return -ENOSPC;
	*g = (struct store_seg){
		.present = true, .fresh = fresh, .fd = fd, .id = id, .min_ref = id, .end = end,
	};
	s->st.segments++;
	s->st.disk_bytes += s->seg_bytes;
	return 0;
}

int store_seg_roll(struct lp_store *s)
{
	uint32_t id = s->cur_id + 1;
	int fd;

	if (s->segs[id % s->max_segments].present)
		return -ENOSPC;
	fd = lp_seg_create(s->dirfd, id, s->seg_bytes);
	if (fd < 0)
		return fd;
	store_seg_add(s, id, fd, 0, true);
	s->cur_id = id;
	s->reclaim_due = true;
	s->st.segments_created++;
	return 0;
}

static bool seg_busy(const struct lp_store *s, const struct store_seg *g)
{
	return g->id == s->cur_id || g->reads > 0 || (s->flight.busy && s->flight.seg == g->id);
}

void store_seg_reclaim(struct lp_store *s)
{
	bool have_prev = false;
	uint32_t prev = 0;

	if (!s->reclaim_due)
		return;
	s->reclaim_due = false;
	for (uint32_t id = s->first_id; id != s->cur_id; id++) {
		struct store_seg *g = store_seg_find(s, id);
		int rc;

		if (g == NULL)
			continue;
		if (g->live == 0 && !seg_busy(s, g) && (!have_prev || prev < g->min_ref)) {
			rc = lp_seg_unlink(s->dirfd, id);
			if (rc == 0 || rc == -ENOENT) {
				close(g->fd);
				g->present = false;
				s->st.segments--;
				s->st.disk_bytes -= s->seg_bytes;
				s->st.segments_deleted++;
				continue;
			}
			char name[LP_SEG_NAME_MAX];

			lp_seg_name(name, id);
			fprintf(stderr, "lepus store %s: cannot delete %s (kept): %d\n", s->dir, name, rc);
		}
		have_prev = true;
		prev = id;
	}
	while (s->first_id != s->cur_id && store_seg_find(s, s->first_id) == NULL)
		s->first_id++;
}

int lp_store_compact_candidate(const struct lp_store *s, uint32_t *seg)
{
	bool have_prev = false;
	uint32_t prev = 0;

	/* The walk of store_seg_reclaim: the first kept segment that could be
	 * deleted once drained, and that is less than half live. */
	for (uint32_t id = s->first_id; s->err == 0 && id != s->cur_id; id++) {
		const struct store_seg *g = &s->segs[id % s->max_segments];

		if (!g->present || g->id != id)
			continue;
		bool could_go = !have_prev || prev < g->min_ref;

		if (could_go && g->live > 0 && !seg_busy(s, g) && g->live_bytes * 2 < g->end) {
			*seg = id;
			return 1;
		}
		have_prev = true;
		prev = id;
	}
	return 0;
}

int lp_store_segment_live(const struct lp_store *s, uint32_t seg, uint64_t *live)
{
	const struct store_seg *g = &s->segs[seg % s->max_segments];

	if (!g->present || g->id != seg)
		return -ENOENT;
	*live = g->live;
	return 0;
}
