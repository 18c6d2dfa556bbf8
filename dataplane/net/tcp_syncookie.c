/* SPDX-License-Identifier: MIT */
/*
 * Initial sequence numbers and SYN cookies.
 *
 * ISNs follow RFC 6528: a 4-microsecond clock plus a keyed hash of the
 * connection's addresses and ports. SYN cookies (RFC 4987 3.6, Bernstein's
 * layout) let a listener answer SYNs without a TCB once the SYN backlog is
 * full: our ISN is
 *     bits 31..27  a 64-second counter, modulo 32
 *     bits 26..24  an index into a table of MSS values
 *     bits 23..0   a keyed hash of the 4-tuple, the peer's ISN and the counter
 * and the final ACK of the handshake (ack - 1 = cookie) proves the peer saw
 * our SYN-ACK. Cookies are valid for the current and the previous counter
 * value (64-128 s). Window scale is not encoded, so cookie SYN-ACKs offer
 * none. The keyed hash is SipHash-2-4 with per-worker random keys.
 *
 * Called from tcp_in.c (listener input) and tcp.c (active opens).
 */
#include <rte_cycles.h>
#include <rte_random.h>

#include "tcp_tcb.h"
#include "net.h"

#define COOKIE_PERIOD_SHIFT 6 /* 64 s */

static const uint16_t cookie_mss[8] = {536, 1024, 1200, 1300, 1400, 1440, 1460, 8960};

static inline uint64_t rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

#define SIPROUND                                                        \
	do {                                                            \
		v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32); \
		v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;                    \
		v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;                    \
		v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32); \
	} while (0)

/* SipHash-2-4 of two 64-bit words under key (k0, k1). */
static uint64_t siphash_2w(uint64_t k0, uint64_t k1, uint64_t a, uint64_t b)
{
	uint64_t v0 = k0 ^ 0x736f6d6570736575ull;
	uint64_t v1 = k1 ^ 0x646f72616e646f6dull;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ull;
	uint64_t v3 = k1 ^ 0x7465646279746573ull;
	uint64_t m[3] = {a, b, (uint64_t)16 << 56};

	for (int i = 0; i < 3; i++) {
		v3 ^= m[i];
		SIPROUND;
		SIPROUND;
		v0 ^= m[i];
	}
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t key(const struct lp_tcp_worker *tw, int i)
{
	return (uint64_t)tw->secret[2 * i] << 32 | tw->secret[2 * i + 1];
}

uint32_t lp_tcp_isn(struct lp_tcp_worker *tw, uint32_t rip, uint16_t rport, uint16_t lport)
{
	uint64_t us4 = tw->net->now_tsc / (tw->tsc_hz / 250000 ? tw->tsc_hz / 250000 : 1);
	uint64_t f = siphash_2w(key(tw, 0), key(tw, 1), (uint64_t)rip << 32 | tw->net->netif->ip,
				(uint64_t)rport << 16 | lport);

	return (uint32_t)(us4 + f);
}

static uint32_t cookie_hash(const struct lp_tcp_worker *tw, uint32_t rip, uint16_t rport,
			    uint16_t lport, uint32_t peer_isn, uint32_t count)
{
	uint64_t h = siphash_2w(key(tw, 1), key(tw, 0), (uint64_t)rip << 32 | peer_isn,
				(uint64_t)count << 32 | (uint32_t)rport << 16 | lport);

	return (uint32_t)h & 0xffffff;
}

static uint32_t cookie_count(const struct lp_tcp_worker *tw)
{
	return (uint32_t)((tw->net->now_tsc / tw->tsc_hz) >> COOKIE_PERIOD_SHIFT);
}

uint32_t lp_tcp_cookie_make(struct lp_tcp_worker *tw, uint32_t rip, uint16_t rport,
			    uint16_t lport, uint32_t peer_isn, uint16_t mss)
{
	uint32_t count = cookie_count(tw);
	uint32_t idx = 0;

	for (uint32_t i = 0; i < 8; i++)
		if (cookie_mss[i] <= mss)
			idx = i;
	return (count & 0x1f) << 27 | idx << 24 | cookie_hash(tw, rip, rport, lport, peer_isn, count);
}

uint16_t lp_tcp_cookie_check(struct lp_tcp_worker *tw, uint32_t rip, uint16_t rport,
			     uint16_t lport, uint32_t peer_isn, uint32_t cookie)
{
	uint32_t now = cookie_count(tw);

	for (uint32_t age = 0; age < 2; age++) {
		uint32_t count = now - age;

		if ((count & 0x1f) != cookie >> 27)
			continue;
		if (cookie_hash(tw, rip, rport, lport, peer_isn, count) == (cookie & 0xffffff))
			return cookie_mss[(cookie >> 24) & 7];
	}
	return 0;
}
