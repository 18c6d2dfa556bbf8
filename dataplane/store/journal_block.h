/* SPDX-License-Identifier: MIT */
/*
 * Encoder and decoder of journal blocks and records (journal_fmt.h). The
 * writer (append.c, commit.c) builds a block in its write buffer with
 * lp_jrec_encode() and closes it with lp_jblock_seal(); recovery (journal_scan.c) and
 * read-back (read.c) decode with the bounds-checked readers below, which never
 * read outside [p, p + avail) and return views into the caller's buffer.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "journal_fmt.h"

#define LP_JBLOCK_HDR_SIZE ((uint32_t)sizeof(struct lp_jblock_hdr))
#define LP_JREC_HDR_SIZE   ((uint32_t)sizeof(struct lp_jrec_hdr))

/* CRC32C of n octets, continuing from crc (start with 0xFFFFFFFF). */
uint32_t lp_jcrc(const void *p, size_t n, uint32_t crc);

static inline uint64_t lp_jalign(uint64_t n, uint64_t a)
{
	return (n + a - 1) & ~(a - 1);
}

/* Octets a record with payload_len octets of payload takes in a block. */
static inline uint64_t lp_jrec_size(uint64_t payload_len)
{
	return lp_jalign(LP_JREC_HDR_SIZE + payload_len, LP_JREC_ALIGN);
}

/* Writes a record of payload_len octets gathered from iov[0..iovcnt) at dst
 * (lp_jrec_size(payload_len) octets, padding zeroed) and its CRC. */
void lp_jrec_encode(uint8_t *dst, enum lp_jrec_type type, uint32_t queue, uint64_t seq,
	uint32_t ref_seg, const struct iovec *iov, unsigned iovcnt, uint32_t payload_len);

/* Writes the header of the block at blk whose len octets of records follow it,
 * zeroes the padding up to the next LP_JOURNAL_ALIGN boundary and computes the
 * CRC. Returns the block's size on disk (header, records, padding). */
uint64_t lp_jblock_seal(uint8_t *blk, uint32_t seg_id, uint32_t epoch, uint64_t seq,
	uint32_t len, uint32_t n_records);

/* A decoded block: its header's fields and a view of its records. */
struct lp_jblock_view {
	uint32_t seg_id, epoch, len, n_records;
	uint64_t seq;
	uint64_t size;          /* on disk, padding included */
	const uint8_t *records; /* len octets */
};

/* A decoded record. off is from the start of its block. */
struct lp_jrec_view {
	enum lp_jrec_type type;
	uint32_t queue;
	uint64_t seq;
	uint32_t ref_seg;
	const uint8_t *payload;
	uint32_t len;           /* payload octets */
	uint32_t off;           /* of the record header within the block */
	uint32_t rec_len;       /* header + payload, without padding */
};

/* Decodes the block at p (avail octets readable) expected in segment seg_id,
 * checking its magic, version, bounds, CRC and every record in it.
 * Returns 0 (v filled), -ENODATA when there is no block here (no magic: the
 * never-written part of a segment), -ESTALE for a well-formed block of another
 * segment (a recycled or misplaced file), -EBADMSG when a block header is
 * there but the block is invalid (torn write or corruption). */
int lp_jblock_decode(const uint8_t *p, size_t avail, uint32_t seg_id, struct lp_jblock_view *v);

/* Walks the records of a decoded block in order. */
struct lp_jrec_iter {
	const uint8_t *records;
	uint32_t len, off, left;
};

void lp_jrec_iter_init(struct lp_jrec_iter *it, const struct lp_jblock_view *b);

/* The next record: returns 1 (r filled), 0 after the last one, -EBADMSG when
 * the records do not parse (never for a block lp_jblock_decode accepted). */
int lp_jrec_next(struct lp_jrec_iter *it, struct lp_jrec_view *r);

/* Decodes the one record at p (avail octets; read-back). Returns 0 (r filled,
 * r->off = 0) or -EBADMSG (bounds, unknown type or CRC). */
int lp_jrec_decode(const uint8_t *p, size_t avail, struct lp_jrec_view *r);
