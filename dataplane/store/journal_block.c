/* SPDX-License-Identifier: MIT */
/*
 * Journal block and record codec (journal_block.h, format in journal_fmt.h): the
 * writer's encoder and the bounds-checked decoder that recovery, read-back
 * and the fuzz target (tests/fuzz/fuzz_store_scan.c) share. Headers are copied
 * out with memcpy, so input of any alignment is read safely.
 */
#include <errno.h>
#include <string.h>

#include <isa-l/crc.h>

#include "journal_block.h"

uint32_t lp_jcrc(const void *p, size_t n, uint32_t crc)
{
	const unsigned char *b = p;

	/* crc32_iscsi takes an int length: feed it in chunks. */
	while (n > 0) {
		size_t k = n > (1u << 30) ? (1u << 30) : n;

		crc = crc32_iscsi((unsigned char *)b, (int)k, crc);
		b += k;
		n -= k;
	}
	return crc;
}

static uint32_t rec_crc(const struct lp_jrec_hdr *h, const void *payload, uint32_t len)
{
	uint32_t crc = lp_jcrc(&h->len, LP_JREC_HDR_SIZE - offsetof(struct lp_jrec_hdr, len),
		0xffffffffu);

	return lp_jcrc(payload, len, crc);
}

void lp_jrec_encode(uint8_t *dst, enum lp_jrec_type type, uint32_t queue, uint64_t seq,
	uint32_t ref_seg, const struct iovec *iov, unsigned iovcnt, uint32_t payload_len)
{
	struct lp_jrec_hdr h = {
		.len = payload_len, .type = (uint8_t)type, .queue = queue, .seq = seq,
		.ref_seg = ref_seg,
	};
	uint8_t *payload = dst + LP_JREC_HDR_SIZE;
	uint32_t at = 0;

	for (unsigned i = 0; i < iovcnt; i++) {
		memcpy(payload + at, iov[i].iov_base, iov[i].iov_len);
		at += (uint32_t)iov[i].iov_len;
	}
	memset(payload + at, 0, lp_jrec_size(payload_len) - LP_JREC_HDR_SIZE - at);
	h.crc = rec_crc(&h, payload, payload_len);
	memcpy(dst, &h, sizeof(h));
}

uint64_t lp_jblock_seal(uint8_t *blk, uint32_t seg_id, uint32_t epoch, uint64_t seq,
	uint32_t len, uint32_t n_records)
{
	struct lp_jblock_hdr h = {
		.magic = LP_JBLOCK_MAGIC, .version = LP_JOURNAL_VERSION,
		.hdr_size = LP_JBLOCK_HDR_SIZE, .seg_id = seg_id, .epoch = epoch, .len = len,
		.seq = seq, .n_records = n_records,
	};
	uint64_t used = LP_JBLOCK_HDR_SIZE + (uint64_t)len;
	uint64_t size = lp_jalign(used, LP_JOURNAL_ALIGN);
	uint32_t crc;

	memset(blk + used, 0, size - used);
	crc = lp_jcrc(&h, sizeof(h), 0xffffffffu);
	h.crc = lp_jcrc(blk + LP_JBLOCK_HDR_SIZE, len, crc);
	memcpy(blk, &h, sizeof(h));
	return size;
}

/* One record at p within avail octets; shared by the iterator and read-back. */
static int rec_parse(const uint8_t *p, size_t avail, struct lp_jrec_view *r)
{
	struct lp_jrec_hdr h;

	if (avail < LP_JREC_HDR_SIZE)
		return -EBADMSG;
	memcpy(&h, p, sizeof(h));
	if (h.len > avail - LP_JREC_HDR_SIZE)
		return -EBADMSG;
	if (h.type < LP_JREC_ENQUEUE || h.type > LP_JREC_QUEUE_DELETE)
		return -EBADMSG;
	if (h.type != LP_JREC_ENQUEUE && h.len != 0)
		return -EBADMSG;
	if (rec_crc(&h, p + LP_JREC_HDR_SIZE, h.len) != h.crc)
		return -EBADMSG;
	*r = (struct lp_jrec_view){
		.type = (enum lp_jrec_type)h.type, .queue = h.queue, .seq = h.seq,
		.ref_seg = h.ref_seg, .payload = p + LP_JREC_HDR_SIZE, .len = h.len,
		.rec_len = LP_JREC_HDR_SIZE + h.len,
	};
	return 0;
}

void lp_jrec_iter_init(struct lp_jrec_iter *it, const struct lp_jblock_view *b)
{
	*it = (struct lp_jrec_iter){.records = b->records, .len = b->len, .left = b->n_records};
}

int lp_jrec_next(struct lp_jrec_iter *it, struct lp_jrec_view *r)
{
	uint32_t off = it->off;
	int rc;

	if (it->left == 0)
		return it->off == it->len ? 0 : -EBADMSG;
	rc = rec_parse(it->records + off, it->len - off, r);
	if (rc < 0)
		return rc;
	/* The writer pads every record, the last one too. */
	if (lp_jrec_size(r->len) > it->len - off)
		return -EBADMSG;
	it->off = off + (uint32_t)lp_jrec_size(r->len);
	r->off = LP_JBLOCK_HDR_SIZE + off;
	it->left--;
	return 1;
}

int lp_jblock_decode(const uint8_t *p, size_t avail, uint32_t seg_id, struct lp_jblock_view *v)
{
	struct lp_jblock_hdr h;
	struct lp_jblock_view b;
	struct lp_jrec_iter it;
	struct lp_jrec_view r;
	uint32_t crc, want;
	int rc;

	if (avail < sizeof(h))
		return -ENODATA;
	memcpy(&h, p, sizeof(h));
	if (h.magic != LP_JBLOCK_MAGIC)
		return -ENODATA;
	if (h.version != LP_JOURNAL_VERSION || h.hdr_size != LP_JBLOCK_HDR_SIZE ||
	    h.reserved != 0 || h.len > avail - sizeof(h))
		return -EBADMSG;
	want = h.crc;
	h.crc = 0;
	crc = lp_jcrc(&h, sizeof(h), 0xffffffffu);
	crc = lp_jcrc(p + sizeof(h), h.len, crc);
	if (crc != want)
		return -EBADMSG;
	if (h.seg_id != seg_id)
		return -ESTALE;
	b = (struct lp_jblock_view){
		.seg_id = h.seg_id, .epoch = h.epoch, .len = h.len, .n_records = h.n_records,
		.seq = h.seq, .size = lp_jalign(sizeof(h) + (uint64_t)h.len, LP_JOURNAL_ALIGN),
		.records = p + sizeof(h),
	};
	lp_jrec_iter_init(&it, &b);
	while ((rc = lp_jrec_next(&it, &r)) == 1)
		;
	if (rc < 0)
		return -EBADMSG;
	*v = b;
	return 0;
}

int lp_jrec_decode(const uint8_t *p, size_t avail, struct lp_jrec_view *r)
{
	int rc = rec_parse(p, avail, r);

	if (rc == 0)
		r->off = 0;
	return rc;
}
