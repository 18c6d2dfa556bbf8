/* SPDX-License-Identifier: MIT */
/*
 * TCP wire format (RFC 9293 3.1): header flags, the options TCP-lite reads
 * and writes (MSS RFC 9293 3.7.1, window scale RFC 7323 2, SACK-permitted
 * RFC 2018, timestamps RFC 7323 3), sequence-number arithmetic (RFC 9293
 * 3.4, modulo 2^32), and the one bounds-checked option reader that every
 * received segment goes through (tcp_in.c).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <rte_tcp.h>

#define LP_TCP_FIN RTE_TCP_FIN_FLAG
#define LP_TCP_SYN RTE_TCP_SYN_FLAG
#define LP_TCP_RST RTE_TCP_RST_FLAG
#define LP_TCP_PSH RTE_TCP_PSH_FLAG
#define LP_TCP_ACK RTE_TCP_ACK_FLAG
#define LP_TCP_URG RTE_TCP_URG_FLAG

#define LP_TCP_HDR_LEN 20u
#define LP_TCP_MAX_HDR_LEN 60u

#define LP_TCP_OPT_EOL 0
#define LP_TCP_OPT_NOP 1
#define LP_TCP_OPT_MSS 2       /* len 4 */
#define LP_TCP_OPT_WSCALE 3    /* len 3 */
#define LP_TCP_OPT_SACK_PERM 4 /* len 2 */
#define LP_TCP_OPT_SACK 5      /* len 2 + 8n */
#define LP_TCP_OPT_TS 8        /* len 10 */

#define LP_TCP_WSCALE_MAX 14 /* RFC 7323 2.3 */
#define LP_TCP_DEFAULT_MSS 536 /* RFC 9293 3.7.1: when the peer sends none */

/* What the options of a segment said; has_* tell which were present. */
struct lp_tcp_opts {
	bool has_mss;
	bool has_wscale;
	bool sack_permitted;
	bool has_ts;
	uint16_t mss;
	uint8_t wscale; /* already clamped to LP_TCP_WSCALE_MAX */
	uint32_t ts_val;
	uint32_t ts_ecr;
	uint8_t n_sack;            /* SACK blocks (RFC 2018 3), at most 4 */
	uint32_t sack[4][2];       /* [left, right) edges, host order */
};

/*
 * Parse the option bytes p[0..len-1] (the header after its fixed 20 bytes).
 * Unknown options are skipped by their length; options valid only on SYN
 * are reported whatever the flags (the caller decides). Returns 0, or -EINVAL
 * when an option length is below 2 or runs past len, or when a known option
 * has the wrong length (RFC 9293 3.1: "MUST be prepared to handle an illegal
 * option length"). *o is zeroed first.
 */
int lp_tcp_parse_options(const uint8_t *p, unsigned len, struct lp_tcp_opts *o);

/* RFC 9293 3.4 sequence comparisons, modulo 2^32. */
static inline bool lp_seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static inline bool lp_seq_leq(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) <= 0;
}

static inline bool lp_seq_gt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}

static inline bool lp_seq_geq(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) >= 0;
}

static inline uint32_t lp_seq_max(uint32_t a, uint32_t b)
{
	return lp_seq_gt(a, b) ? a : b;
}

static inline uint32_t lp_seq_min(uint32_t a, uint32_t b)
{
	return lp_seq_lt(a, b) ? a : b;
}

/* a <= x < b, modulo 2^32 */
static inline bool lp_seq_in(uint32_t x, uint32_t a, uint32_t b)
{
	return x - a < b - a;
}
