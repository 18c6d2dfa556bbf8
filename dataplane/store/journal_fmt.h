/* SPDX-License-Identifier: MIT */
/*
 * The on-disk format of a shard's journal (dataplane/store/): the only place
 * that knows its layout. A journal is a directory <data_dir>/shard-<N>/ of
 * segment files named <id>.seg (10 decimal digits), each preallocated to the
 * configured size. A segment holds blocks back to back from offset 0; the rest
 * of the file is zero (never written) or the torn remains of the last write
 * before a crash.
 *
 * Block: one per group commit (one lp_store_flush), starting on a 4 KiB
 * boundary and padded with zeros to the next one, so that a later write never
 * touches a page of a block that was already confirmed (a confirmed block is
 * never rewritten, not even with identical bytes). Its header carries the
 * segment id (a block found in the wrong file is detected), the epoch (one per
 * start of the store), a sequence number that is consecutive over the whole
 * shard's log, and a CRC32C over the header and every record byte.
 *
 * Record: a header and its payload, padded to 8 octets, inside a block. Each
 * record has its own CRC32C too (header from `len` on, then the payload), so a
 * record read back alone for a deep queue is verified without its block.
 *
 * Integers are little-endian (the host order: the build refuses big-endian).
 * CRC32C is ISA-L's crc32_iscsi() seeded with 0xFFFFFFFF, stored without the
 * final inversion (lp_jcrc(); the standard check value is its complement).
 */
#pragma once

#include <stdint.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the journal format is little-endian; a big-endian host needs byte swaps"
#endif

#define LP_JOURNAL_ALIGN   4096u        /* block start and size granularity */
#define LP_JBLOCK_MAGIC    0x424a504cu  /* "LPJB" as bytes on disk */
#define LP_JOURNAL_VERSION 1u
#define LP_JREC_ALIGN      8u

struct lp_jblock_hdr {
	uint32_t magic;     /* LP_JBLOCK_MAGIC */
	uint16_t version;   /* LP_JOURNAL_VERSION */
	uint16_t hdr_size;  /* sizeof(struct lp_jblock_hdr) */
	uint32_t crc;       /* CRC32C of hdr (crc = 0) and the len record octets */
	uint32_t seg_id;    /* the segment file this block belongs to */
	uint32_t epoch;     /* the start of the store that wrote it */
	uint32_t len;       /* octets of records after the header */
	uint64_t seq;       /* block sequence: consecutive over the shard's log */
	uint32_t n_records; /* records in len */
	uint32_t reserved;  /* 0 */
};

enum lp_jrec_type {
	LP_JREC_ENQUEUE = 1,      /* queue, seq, payload = the message octets */
	LP_JREC_SETTLE = 2,       /* queue, seq; ref_seg = segment of its ENQUEUE */
	LP_JREC_QUEUE_PURGE = 3,  /* queue: every earlier ENQUEUE of it is gone */
	LP_JREC_QUEUE_DELETE = 4, /* queue: as purge; the queue itself is gone */
};

struct lp_jrec_hdr {
	uint32_t crc;       /* CRC32C of the header from len on, then the payload */
	uint32_t len;       /* payload octets */
	uint8_t type;       /* enum lp_jrec_type */
	uint8_t reserved[3];
	uint32_t queue;     /* the queue's id within the shard */
	uint64_t seq;       /* the message's sequence in its queue */
	uint32_t ref_seg;   /* SETTLE: segment id of the settled ENQUEUE, else 0 */
	uint32_t reserved2;
};

_Static_assert(sizeof(struct lp_jblock_hdr) == 40, "block header layout");
_Static_assert(sizeof(struct lp_jrec_hdr) == 32, "record header layout");
