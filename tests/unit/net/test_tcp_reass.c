/* SPDX-License-Identifier: MIT */
/*
 * TCP-lite receive path under a hostile network: the segments of a 1 MiB
 * stream are cut at random boundaries (different each round, so they overlap
 * earlier ones), shuffled, dropped, duplicated and sent partly behind the
 * window's left edge; the peer resends from the last ACK it saw until
 * everything is acknowledged. The application must get exactly the stream,
 * in order, once; the out-of-order store must end empty; with and without
 * SACK. Seeded, bounded in rounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_tcp_harness.h"

#define PORT 7000
#define PEER_ISN 0xfffff000u /* wraps around 2^32 during the stream */
#define STREAM (1u << 20)
#define MAX_ROUNDS 4000
#define BATCH 160

static uint8_t *stream;
static uint64_t rng;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

static int setup(void **state)
{
	if (th_setup(state) != 0)
		return -1;
	if (stream == NULL)
		stream = malloc(STREAM);
	return stream == NULL ? -1 : lp_tcp_listen(&th_net, PORT, &th_app_ops, NULL);
}

struct piece {
	uint32_t off;
	uint32_t len;
};

static void run(uint64_t seed, bool sack)
{
	const uint8_t opts[8] = {2, 4, 0x05, 0xb4, 1, 1, 4, 2};
	struct th_seg s;
	static struct piece pieces[BATCH * 2];

	rng = seed;
	for (uint32_t i = 0; i < STREAM; i++)
		stream[i] = (uint8_t)rnd(256);
	th_send(&(struct th_tx){.dport = PORT, .seq = PEER_ISN, .flags = LP_TCP_SYN, .wnd = 65535,
				.opts = opts, .optlen = sack ? 8 : 4});
	th_pop(&s);
	uint32_t iss = s.seq;

	th_send(&(struct th_tx){.dport = PORT, .seq = PEER_ISN + 1, .ack = iss + 1,
				.flags = LP_TCP_ACK, .wnd = 65535});
	assert_int_equal(th_app.accepts, 1);
	uint32_t acked = 0, wnd = 65535;
	unsigned rounds = 0;

	while (acked < STREAM && rounds++ < MAX_ROUNDS) {
		unsigned n = 0;
		uint32_t off = acked;
		uint32_t edge = acked + wnd < STREAM ? acked + wnd : STREAM;

		/* Random cuts from the last ACK to the right edge of the window. */
		while (off < edge && n < BATCH) {
			uint32_t len = 1 + rnd(1400);

			if (off + len > edge)
				len = edge - off;
			pieces[n++] = (struct piece){off, len};
			off += len;
		}
		/* Some start behind the left edge (old bytes + new ones). */
		for (unsigned i = 0; i < n; i++)
			if (rnd(20) == 0 && pieces[i].off >= 700) {
				pieces[i].off -= 700;
				pieces[i].len = pieces[i].len + 700 > 1400 ? 1400 : pieces[i].len + 700;
			}
		/* Duplicates, then a shuffle. */
		unsigned total = n;

		for (unsigned i = 0; i < n && total < BATCH * 2; i++)
			if (rnd(10) == 0)
				pieces[total++] = pieces[i];
		for (unsigned i = total; i > 1; i--) {
			unsigned j = rnd(i);
			struct piece p = pieces[i - 1];

			pieces[i - 1] = pieces[j];
			pieces[j] = p;
		}
		for (unsigned i = 0; i < total; i++) {
			if (rnd(8) == 0)
				continue; /* lost */
			th_send(&(struct th_tx){.dport = PORT, .seq = PEER_ISN + 1 + pieces[i].off,
						.ack = iss + 1, .flags = LP_TCP_ACK, .wnd = 65535,
						.data = stream + pieces[i].off, .len = pieces[i].len});
		}
		th_advance(20); /* delayed ACKs */
		while (th_pending() > 0) {
			th_pop(&s);
			uint32_t a = s.ack - (PEER_ISN + 1);

			/* ACKs never go back and never pass what was delivered. */
			assert_true(a >= acked && a <= STREAM);
			acked = a;
			assert_true(acked <= th_app.rx_len);
			wnd = s.wnd; /* no window scale offered */
			if (wnd == 0)
				wnd = 1400;
		}
	}
	assert_int_equal(acked, STREAM);
	assert_int_equal(th_app.rx_len, STREAM);
	assert_memory_equal(th_app.rx, stream, STREAM);
	assert_int_equal(th_stats()->ooo_bytes, 0);
	assert_true(th_stats()->ooo_segments > 100);
	assert_true(th_drops(LP_DROP_TCP_DUPLICATE) > 0);
	print_message("seed %llu sack %d: %u rounds, %llu stored out of order, %llu duplicates\n",
		      (unsigned long long)seed, sack, rounds,
		      (unsigned long long)th_stats()->ooo_segments,
		      (unsigned long long)th_drops(LP_DROP_TCP_DUPLICATE));
}

static void shuffled_stream_seed_1(void **state)
{
	(void)state;
	run(1, false);
}

static void shuffled_stream_seed_2_sack(void **state)
{
	(void)state;
	run(2, true);
}

static void shuffled_stream_seed_3_sack(void **state)
{
	(void)state;
	run(0x5eed, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(shuffled_stream_seed_1, setup, th_teardown),
		cmocka_unit_test_setup_teardown(shuffled_stream_seed_2_sack, setup, th_teardown),
		cmocka_unit_test_setup_teardown(shuffled_stream_seed_3_sack, setup, th_teardown),
	};
	int rc = cmocka_run_group_tests(tests, th_group_setup, th_group_teardown);

	free(stream);
	return rc;
}
