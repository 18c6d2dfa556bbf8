/* SPDX-License-Identifier: MIT */
/*
 * Group commit (lp_store.h): lp_store_flush seals the open block and submits its
 * write linked (IOSQE_IO_LINK) to an fdatasync, so the sync runs only after
 * the write succeeded; the first block of a new segment is linked to an fsync
 * of the file and of the directory instead, which make the new file's name
 * and size durable too. One flush is in flight at a time: what arrives
 * meanwhile fills the other half of the buffer and goes out as the next block,
 * so the batch grows with the disk's latency. lp_store_poll reaps completions
 * without waiting; the flush's last completion makes its tickets durable. A
 * failed or short write or sync fails the store (store_fail): what the page
 * cache held may be gone, so nothing after it can be confirmed.
 */
#include <errno.h>
#include <inttypes.h>
#include <unistd.h>

#include "segment_file.h"
#include "store_int.h"

static struct io_uring_sqe *sqe_get(struct lp_store *s)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);

	if (sqe == NULL) {
		io_uring_submit(&s->ring);
		sqe = io_uring_get_sqe(&s->ring);
	}
	return sqe;
}

/* Injected (lp_store_config.fault_torn_write_at): what a crash in the middle
 * of this block's write leaves on disk, the first half of its used octets
 * (header and records; the padding after them would tear nothing), made
 * durable; then the store fails as after any write error. */
static int torn_write(struct lp_store *s, int fd, const uint8_t *block, uint64_t size,
		      uint64_t off)
{
	ssize_t n = pwrite(fd, block, size / 2, (off_t)off);

	(void)n;
	(void)fdatasync(fd);
	store_fail(s, -EIO, "injected torn write: %" PRIu64 " of %" PRIu64 " octets at offset %" PRIu64,
		   size / 2, size, off);
	return -EIO;
}

int lp_store_flush(struct lp_store *s)
{
	struct store_half *h = &s->half[s->open];
	struct io_uring_sqe *sqe;
	struct store_seg *g;
	uint64_t size;
	int ret = 0, rc;

	if (s->err != 0)
		return -EIO;
	if (!s->flight.busy && h->used > 0) {
		g = store_seg_find(s, h->seg);
		size = lp_jblock_seal(h->mem, h->seg, s->epoch, s->next_block_seq,
			h->used - LP_JBLOCK_HDR_SIZE, h->n_records);
		if (s->st.flushes + 1 == s->fault_torn_write_at)
			return torn_write(s, g->fd, h->mem, h->used, h->off);
		if (s->st.flushes + 1 == s->fault_sync_eio_at)
			lp_store_fail_next(s, LP_STORE_OP_SYNC, EIO);
		/* The ring has room for every read slot and one flush. */
		if (io_uring_sq_space_left(&s->ring) < 3)
			io_uring_submit(&s->ring);
		sqe = sqe_get(s);
		io_uring_prep_write(sqe, g->fd, h->mem, (unsigned)size, h->off);
		sqe->flags |= IOSQE_IO_LINK;
		io_uring_sqe_set_data64(sqe, STORE_UD(LP_STORE_OP_WRITE, 0));
		sqe = sqe_get(s);
		if (g->fresh) {
			io_uring_prep_fsync(sqe, g->fd, 0);
			sqe->flags |= IOSQE_IO_LINK;
			io_uring_sqe_set_data64(sqe, STORE_UD(LP_STORE_OP_SYNC, 0));
			sqe = sqe_get(s);
			io_uring_prep_fsync(sqe, s->dirfd, 0);
			io_uring_sqe_set_data64(sqe, STORE_UD(STORE_OP_DIRSYNC, 0));
		} else {
			io_uring_prep_fsync(sqe, g->fd, IORING_FSYNC_DATASYNC);
			io_uring_sqe_set_data64(sqe, STORE_UD(LP_STORE_OP_SYNC, 0));
		}
		s->flight = (struct store_flight){
			.busy = true, .half = s->open, .pending = g->fresh ? 3 : 2, .seg = h->seg,
			.off = h->off, .size = size, .last_ticket = h->last_ticket,
		};
		g->fresh = false;
		g->end = h->off + size;
		s->next_block_seq++;
		s->open ^= 1;
		s->half[s->open].used = 0;
		s->st.flushes++;
		ret = 1;
	}
	if (io_uring_sq_ready(&s->ring) > 0) {
		rc = io_uring_submit(&s->ring);
		if (rc < 0) {
			store_fail(s, rc, "io_uring_submit");
			return -EIO;
		}
	}
	return ret;
}

static void flush_complete(struct lp_store *s, unsigned op, int res)
{
	struct store_flight *f = &s->flight;
	char name[LP_SEG_NAME_MAX];

	lp_seg_name(name, f->seg);
	if (op == LP_STORE_OP_WRITE && res < 0)
		store_fail(s, res, "write of %s at offset %" PRIu64 " (%" PRIu64 " octets) failed",
			name, f->off, f->size);
	else if (op == LP_STORE_OP_WRITE && (uint64_t)res != f->size)
		store_fail(s, -EIO, "short write of %s at offset %" PRIu64 " (%d of %" PRIu64
			" octets)", name, f->off, res, f->size);
	else if (op == LP_STORE_OP_SYNC && res < 0)
		store_fail(s, res, "fdatasync of %s after the block at offset %" PRIu64 " failed",
			name, f->off);
	else if (op == STORE_OP_DIRSYNC && res < 0)
		store_fail(s, res, "fsync of the directory after creating %s failed", name);
	if (--f->pending > 0)
		return;
	f->busy = false;
	if (s->err != 0)
		return;
	s->durable = f->last_ticket;
	s->durable_seg = f->seg;
	s->durable_end = f->off + f->size;
	s->st.blocks_durable++;
	if (f->seg != s->cur_id)
		s->reclaim_due = true;
}

void store_reap(struct lp_store *s)
{
	struct io_uring_cqe *cqe;

	while (io_uring_peek_cqe(&s->ring, &cqe) == 0) {
		uint64_t ud = io_uring_cqe_get_data64(cqe);
		unsigned op = STORE_UD_OP(ud);
		int res = cqe->res;

		io_uring_cqe_seen(&s->ring, cqe);
		if (s->fail_op != 0 &&
		    s->fail_op == (op == STORE_OP_DIRSYNC ? LP_STORE_OP_SYNC : op)) {
			res = -s->fail_err;
			s->fail_op = 0;
		}
		if (op == LP_STORE_OP_READ)
			store_read_complete(s, STORE_UD_IDX(ud), res);
		else
			flush_complete(s, op, res);
	}
}

int lp_store_poll(struct lp_store *s, struct lp_store_read_done *done, unsigned max)
{
	unsigned n = 0;

	store_reap(s);
	if (s->err != 0)
		return -EIO;
	store_seg_reclaim(s);
	while (n < max && s->done_n > 0) {
		uint32_t slot = s->done[s->done_head];

		done[n++] = s->reads[slot].done;
		s->done_head = (s->done_head + 1) % s->max_reads;
		s->done_n--;
		s->free_reads[s->n_free_reads++] = slot;
	}
	return (int)n;
}

uint64_t lp_store_durable(const struct lp_store *s)
{
	return s->durable;
}
