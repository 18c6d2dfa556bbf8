/* SPDX-License-Identifier: MIT */
/*
 * TCP-lite (dataplane/net/tcp*.c) driven by crafted segments: handshake and
 * options, in-order / out-of-order / duplicate / overlapping data, delayed
 * and immediate ACKs, receive window full and reopened, the peer's zero
 * window (persist probes), retransmission with backoff, fast retransmit and
 * NewReno, RST and SYN injection (RFC 5961), FIN in every closing state,
 * TIME-WAIT, SYN cookies, active open, accept refusal, abort from a callback,
 * bad checksums. Every test ends with all mbufs back in the pool.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <rte_arp.h>
#include <rte_cycles.h>
#include <rte_errno.h>

#include "test_tcp_harness.h"
#include "arp.h"

#define PORT 7000
#define PEER_ISN 1000000u

static uint8_t pattern[1 << 16];

static void fill_pattern(void)
{
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 131 + (i >> 8) * 7 + 1);
}

static int setup_listen(void **state)
{
	if (th_setup(state) != 0)
		return -1;
	fill_pattern();
	return lp_tcp_listen(&th_net, PORT, &th_app_ops, NULL);
}

/* Peer data segment: stream offset off (0 = first byte after the SYN). */
static void peer_data(uint32_t off, uint32_t len, uint32_t ack)
{
	th_send(&(struct th_tx){.dport = PORT, .seq = PEER_ISN + 1 + off, .ack = ack,
				.flags = LP_TCP_ACK, .wnd = 65535, .data = pattern + off, .len = len});
}

/* Pure ACK from the peer, its next sequence number at stream offset off. */
static void peer_ack(uint32_t off, uint32_t ack, uint16_t wnd)
{
	th_send(&(struct th_tx){.dport = PORT, .seq = PEER_ISN + 1 + off, .ack = ack,
				.flags = LP_TCP_ACK, .wnd = wnd});
}

static uint32_t establish(void)
{
	uint32_t iss = th_handshake(PORT, 40000, PEER_ISN, 1400, 0, 65535);

	assert_int_equal(th_app.accepts, 1);
	assert_non_null(th_app.tcb);
	assert_string_equal(lp_tcp_state_name(th_app.tcb), "ESTABLISHED");
	assert_int_equal(th_pending(), 0);
	/* The SYN-ACK's window is unscaled (<= 64 KiB): the first window update
	 * opens the full 256 KiB (wscale 3). */
	struct th_seg s;

	lp_tcp_recved(th_app.tcb, 0);
	th_poll();
	th_pop(&s);
	assert_int_equal(s.flags, LP_TCP_ACK);
	assert_int_equal((uint32_t)s.wnd << 3, 256 * 1024);
	return iss;
}

static void options_are_parsed_safely(void **state)
{
	struct lp_tcp_opts o;
	const uint8_t good[] = {1, 2, 4, 5, 0xb4, 1, 3, 3, 20, 4, 2, 8, 10, 0, 0, 0, 9, 0, 0, 0, 7, 99, 3, 1, 0};
	const uint8_t zero_len[] = {2, 0, 0, 0};
	const uint8_t overrun[] = {8, 10, 1, 2};
	const uint8_t bad_mss_len[] = {2, 3, 5, 1};
	const uint8_t dangling[] = {1, 1, 1, 3};
	(void)state;

	assert_int_equal(lp_tcp_parse_options(good, sizeof(good), &o), 0);
	assert_true(o.has_mss);
	assert_int_equal(o.mss, 1460);
	assert_true(o.has_wscale);
	assert_int_equal(o.wscale, 14); /* 20 clamped, RFC 7323 2.3 */
	assert_true(o.sack_permitted);
	assert_true(o.has_ts);
	assert_int_equal(o.ts_val, 9);
	assert_int_equal(lp_tcp_parse_options(zero_len, sizeof(zero_len), &o), -EINVAL);
	assert_int_equal(lp_tcp_parse_options(overrun, sizeof(overrun), &o), -EINVAL);
	assert_int_equal(lp_tcp_parse_options(bad_mss_len, sizeof(bad_mss_len), &o), -EINVAL);
	assert_int_equal(lp_tcp_parse_options(dangling, sizeof(dangling), &o), -EINVAL);
	assert_int_equal(lp_tcp_parse_options(good, 0, &o), 0);
	assert_false(o.has_mss);
}

static void handshake_negotiates_mss_and_wscale(void **state)
{
	/* MSS 1400, wscale 7, SACK-permitted, timestamps. */
	const uint8_t opts[20] = {2, 4, 0x05, 0x78, 1, 3, 3, 7, 4, 2,
				  8, 10, 0, 0, 0, 1, 0, 0, 0, 0};
	struct th_seg s;
	(void)state;

	th_send(&(struct th_tx){.dport = PORT, .seq = PEER_ISN, .flags = LP_TCP_SYN, .wnd = 1000,
				.opts = opts, .optlen = sizeof(opts)});
	assert_int_equal(th_pending(), 1);
	th_pop(&s);
	assert_int_equal(s.flags, LP_TCP_SYN | LP_TCP_ACK);
	assert_int_equal(s.ack, PEER_ISN + 1);
	assert_int_equal(s.sport, PORT);
	assert_int_equal(s.dport, 40000);
	assert_true(s.opts.has_mss);
	assert_int_equal(s.opts.mss, 1460);
	assert_true(s.opts.has_wscale);
	assert_int_equal(s.opts.wscale, 3); /* 256 KiB buffer */
	assert_true(s.opts.sack_permitted);  /* RFC 2018: accepted */
	assert_false(s.opts.has_ts);         /* declined */
	assert_int_equal(s.wnd, 65535);
	assert_int_equal(th_stats()->syn_rcvd, 1);
	assert_int_equal(th_app.accepts, 0);

	/* Third ACK: window 1000 << 7. */
	th_send(&(struct th_tx){.dport = PORT, .seq = PEER_ISN + 1, .ack = s.seq + 1,
				.flags = LP_TCP_ACK, .wnd = 1000});
	assert_int_equal(th_app.accepts, 1);
	assert_string_equal(lp_tcp_state_name(th_app.tcb), "ESTABLISHED");
	assert_int_equal(lp_tcp_mss(th_app.tcb), 1400);
	assert_int_equal(th_stats()->syn_rcvd, 0);
	assert_int_equal(th_stats()->passive_opens, 1);
	assert_int_equal(th_pending(), 0);
}

static void syn_without_wscale_gets_none(void **state)
{
	struct th_seg s;
	const uint8_t opts[4] = {2, 4, 0x05, 0xb4};
	(void)state;

	th_send(&(struct th_tx){.dport = PORT, .seq = 5, .flags = LP_TCP_SYN, .wnd = 8192,
				.opts = opts, .optlen = 4});
	th_pop(&s);
	assert_true(s.opts.has_mss);
	assert_false(s.opts.has_wscale);
}

static void malformed_options_are_dropped(void **state)
{
	const uint8_t bad[4] = {2, 0, 0, 0};
	(void)state;

	th_send(&(struct th_tx){.dport = PORT, .seq = 5, .flags = LP_TCP_SYN, .wnd = 8192,
				.opts = bad, .optlen = 4});
	assert_int_equal(th_drops(LP_DROP_TCP_BAD_OPTIONS), 1);
	assert_int_equal(th_pending(), 0);
	assert_int_equal(th_stats()->tcbs_in_use, 0);
}

static void bad_checksum_is_dropped(void **state)
{
	(void)state;
	th_send(&(struct th_tx){.dport = PORT, .seq = 5, .flags = LP_TCP_SYN, .wnd = 8192,
				.bad_cksum = true});
	assert_int_equal(th_drops(LP_DROP_TCP_BAD_CHECKSUM), 1);
	assert_int_equal(th_pending(), 0);
}

static void syn_fin_is_dropped(void **state)
{
	(void)state;
	th_send(&(struct th_tx){.dport = PORT, .seq = 5, .flags = LP_TCP_SYN | LP_TCP_FIN,
				.wnd = 8192});
	assert_int_equal(th_drops(LP_DROP_TCP_BAD_FLAGS), 1);
	assert_int_equal(th_pending(), 0);
}

static void closed_port_answers_rst(void **state)
{
	struct th_seg s;
	(void)state;

	th_send(&(struct th_tx){.dport = 9, .seq = 77, .flags = LP_TCP_SYN, .wnd = 8192});
	th_pop(&s);
	/* RFC 9293 3.10.7.1: no ACK in: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK> */
	assert_int_equal(s.flags, LP_TCP_RST | LP_TCP_ACK);
	assert_int_equal(s.seq, 0);
	assert_int_equal(s.ack, 78);
	th_send(&(struct th_tx){.dport = 9, .seq = 77, .ack = 5555, .flags = LP_TCP_ACK});
	th_pop(&s);
	/* ACK in: <SEQ=SEG.ACK><CTL=RST> */
	assert_int_equal(s.flags, LP_TCP_RST);
	assert_int_equal(s.seq, 5555);
	/* A RST is never answered. */
	th_send(&(struct th_tx){.dport = 9, .seq = 77, .flags = LP_TCP_RST});
	assert_int_equal(th_pending(), 0);
	assert_int_equal(th_drops(LP_DROP_TCP_NO_LISTENER), 3);
}

static void in_order_data_is_delivered_without_copy(void **state)
{
	struct th_seg s;
	(void)state;
	uint32_t iss = establish();

	peer_data(0, 1000, iss + 1);
	assert_int_equal(th_app.rx_len, 1000);
	/* Zero copy: the application got the very mbuf the port delivered. */
	assert_ptr_equal(th_app.last_m, th_last_fed);
	assert_int_equal(th_pending(), 0); /* delayed ACK */
	peer_data(1000, 1000, iss + 1);
	assert_int_equal(th_pending(), 0); /* 2000 < 2 * MSS (2800) */
	peer_data(2000, 1000, iss + 1);
	/* RFC 5681 4.2: at least every second full-sized segment. */
	assert_int_equal(th_pending(), 1);
	th_pop(&s);
	assert_int_equal(s.flags, LP_TCP_ACK);
	assert_int_equal(s.ack, PEER_ISN + 1 + 3000);
	assert_int_equal(s.seq, iss + 1);
	assert_int_equal(th_app.rx_len, 3000);
	assert_memory_equal(th_app.rx, pattern, 3000);
	assert_int_equal(th_stats()->bytes_in, 3000);
}

static void delayed_ack_fires_after_short_timer(void **state)
{
	struct th_seg s;
	(void)state;
	uint32_t iss = establish();

	peer_data(0, 100, iss + 1);
	th_advance(8);
	assert_int_equal(th_pending(), 0);
	th_advance(4);
	assert_int_equal(th_pending(), 1);
	th_pop(&s);
	assert_int_equal(s.ack, PEER_ISN + 1 + 100);
	assert_int_equal(th_stats()->delayed_acks, 1);
	th_advance(50);
	assert_int_equal(th_pending(), 0);
}

static void out_of_order_is_held_and_acked_at_once(void **state)
{
	struct th_seg s;
	(void)state;
	uint32_t iss = establish();

	peer_data(1000, 1000, iss + 1);
	assert_int_equal(th_app.rx_len, 0);
	th_pop(&s); /* immediate duplicate ACK */
	assert_int_equal(s.ack, PEER_ISN + 1);
	peer_data(2000, 1000, iss + 1);
	th_pop(&s);
	assert_int_equal(s.ack, PEER_ISN + 1);
	assert_int_equal(th_stats()->ooo_segments, 2);
	assert_int_equal(th_stats()->ooo_bytes, 2000);
	peer_data(0, 1000, iss + 1);
	th_pop(&s); /* the hole is filled: ACK at once */
	assert_int_equal(s.ack, PEER_ISN + 1 + 3000);
	assert_int_equal(th_app.rx_len, 3000);
	assert_memory_equal(th_app.rx, pattern, 3000);
	assert_int_equal(th_stats()->ooo_bytes, 0);
	assert_int_equal(th_pending(), 0);
}

static void duplicates_and_overlaps_are_trimmed(void **state)
{
	struct th_seg s;
	(void)state;
	uint32_t iss = establish();

	peer_data(0, 1000, iss + 1);
	peer_data(0, 1000, iss + 1); /* exact duplicate */
	assert_int_equal(th_drops(LP_DROP_TCP_DUPLICATE), 1);
	th_pop(&s);
	assert_int_equal(s.ack, PEER_ISN + 1 + 1000);
	peer_data(500, 1000, iss + 1); /* half old */
	assert_int_equal(th_app.rx_len, 1500);
	/* Out of order, overlapping each other. */
	peer_data(3000, 200, iss + 1);
	peer_data(2900, 200, iss + 1);  /* joins: [2900,3200) */
	assert_int_equal(th_stats()->ooo_bytes, 300);
	peer_data(2800, 500, iss + 1);  /* covers it: [2800,3300) */
	assert_int_equal(th_stats()->ooo_bytes, 500);
	peer_data(3400, 200, iss + 1);  /* a second run */
	peer_data(3100, 50, iss + 1);   /* inside what is held */
	assert_int_equal(th_drops(LP_DROP_TCP_DUPLICATE), 2);
	peer_data(3250, 200, iss + 1);  /* overlaps both runs: merges them */
	assert_int_equal(th_stats()->ooo_bytes, 800);
	assert_int_equal(th_app.rx_len, 1500);
	peer_data(1400, 700, iss + 1);  /* partly old: [1500,2100) delivered */
	assert_int_equal(th_app.rx_len, 2100);
	peer_data(2000, 900, iss + 1);  /* fills the hole */
	assert_int_equal(th_app.rx_len, 3600);
	assert_memory_equal(th_app.rx, pattern, 3600);
	assert_int_equal(th_stats()->ooo_bytes, 0);
	th_drain();
}

static void receive_window_fills_and_reopens(void **state)
{
	struct th_seg s;
	(void)state;
	uint32_t iss = establish();

	(void)iss;
	th_app.auto_recved = false;
	/* Fill the 256 KiB window in 1024-byte segments. */
	for (uint32_t off = 0; off < 256 * 1024; off += 1024)
		th_send(&(struct th_tx){.dport = PORT, .seq = PEER_ISN + 1 + off, .ack = iss + 1,
					.flags = LP_TCP_ACK, .wnd = 65535,
					.data = pattern + (off & 0xffff), .len = 1024});
	assert_int_equal(th_app.rx_len, 256 * 1024);
	th_advance(20); /* the last segment's delayed ACK */
	unsigned n = th_pending();

	assert_true(n > 0);
	while (th_pending() > 1)
		th_pop(&s);
	th_pop(&s);
	assert_int_equal(s.ack, PEER_ISN + 1 + 256 * 1024);
	assert_int_equal(s.wnd, 0);
	/* Beyond the window: not accepted, answered with an ACK of window 0. */
	peer_data(0, 100, iss + 1);
	th_pop(&s);
	assert_int_equal(s.wnd, 0);
	th_send(&(struct th_tx){.dport = PORT, .seq = PEER_ISN + 1 + 256 * 1024, .ack = iss + 1,
				.flags = LP_TCP_ACK, .wnd = 65535, .data = pattern, .len = 100});
	assert_int_equal(th_app.rx_len, 256 * 1024);
	th_pop(&s);
	assert_int_equal(s.wnd, 0);
	/* The application frees half: a window update goes out at the end of the poll. */
	lp_tcp_recved(th_app.tcb, 128 * 1024);
	assert_int_equal(th_pending(), 0);
	th_poll();
	th_pop(&s);
	assert_int_equal(s.flags, LP_TCP_ACK);
	assert_int_equal((uint32_t)s.wnd << 3, 128 * 1024);
	th_send(&(struct th_tx){.dport = PORT, .seq = PEER_ISN + 1 + 256 * 1024, .ack = iss + 1,
				.flags = LP_TCP_ACK, .wnd = 65535, .data = pattern, .len = 100});
	assert_int_equal(th_app.rx_len, 256 * 1024 + 100);
	th_drain();
}

static void echo_sends_back_and_window_follows_acks(void **state)
{
	struct th_seg s;
	(void)state;
	uint32_t iss = establish();

	th_app.echo = true;
	peer_data(0, 1200, iss + 1);
	assert_int_equal(th_pending(), 1);
	th_pop(&s);
	assert_int_equal(s.flags, LP_TCP_ACK | LP_TCP_PSH);
	assert_int_equal(s.seq, iss + 1);
	assert_int_equal(s.ack, PEER_ISN + 1 + 1200); /* piggybacked */
	assert_int_equal(s.len, 1200);
	assert_memory_equal(s.data, pattern, 1200);
	assert_int_equal(lp_tcp_send_queued(th_app.tcb), 1200);
	peer_ack(1200, iss + 1 + 1200, 65535);
	assert_int_equal(th_app.acked, 1200);
	assert_int_equal(lp_tcp_send_queued(th_app.tcb), 0);
	assert_int_equal(th_stats()->timers_armed, 0);
}

static void write_segments_by_mss_within_cwnd(void **state)
{
	struct th_seg s;
	(void)state;
	uint32_t iss = establish();

	/* 30 KiB: initial cwnd is 10 * 1400 = 14000 bytes (RFC 6928). */
	assert_int_equal(lp_tcp_write(th_app.tcb, pattern, 30000), 30000);
	assert_int_equal(th_pending(), 0); /* sent at the end of the poll iteration */
	th_poll();
	assert_int_equal(th_pending(), 10);
	for (unsigned i = 0; i < 10; i++) {
		th_pop(&s);
		assert_int_equal(s.seq, iss + 1 + i * 1400);
		assert_int_equal(s.len, 1400);
		assert_memory_equal(s.data, pattern + i * 1400, 1400);
	}
	/* Peer window smaller than cwnd limits next: ack all, window 3000 bytes. */
	peer_ack(0, iss + 1 + 14000, 3000);
	assert_int_equal(th_pending(), 2);
	th_pop(&s);
	assert_int_equal(s.len, 1400);
	th_pop(&s);
	assert_int_equal(s.len, 1400);
	/* 200 bytes of window left: no small segment while data is in flight (SWS). */
	assert_int_equal(th_pending(), 0);
	th_drain();
}

static void retransmission_timeout_backs_off(void **state)
{
	struct th_seg s;
	(void)state;
	uint32_t iss = establish();

	assert_int_equal(lp_tcp_write(th_app.tcb, pattern, 1000), 1000);
	th_poll();
	th_pop(&s);
	assert_int_equal(s.seq, iss + 1);
	/* RTO: the handshake RTT was ~0, so the floor of 200 ms applies. */
	th_advance(190);
	assert_int_equal(th_pending(), 0);
	th_advance(20);
	assert_int_equal(th_pending(), 1);
	th_pop(&s);
	assert_int_equal(s.seq, iss + 1);
	assert_int_equal(s.len, 1000);
	assert_memory_equal(s.data, pattern, 1000);
	assert_int_equal(th_stats()->rto_expired, 1);
	/* RFC 6298 5.5: doubled. */
	th_advance(380);
	assert_int_equal(th_pending(), 0);
	th_advance(40);
	assert_int_equal(th_pending(), 1);
	th_pop(&s);
	assert_int_equal(s.seq, iss + 1);
	peer_ack(0, iss + 1 + 1000, 65535);
	assert_int_equal(th_app.acked, 1000);
	th_advance(2000);
	assert_int_equal(th_pending(), 0);
	assert_int_equal(th_stats()->timers_armed, 0);
}

static void retransmissions_exhausted_close_with_timeout(void **state)
{
	(void)state;
	establish();
	lp_tcp_write(th_app.tcb, pattern, 10);
	th_poll();
	/* 12 retries, backing off to 60 s: well within 20 minutes. */
	for (int i = 0; i < 1200 && th_app.closed_calls == 0; i++)
		th_advance(1000);
	assert_int_equal(th_app.closed_calls, 1);
	assert_int_equal(th_app.closed_reason, -ETIMEDOUT);
	assert_int_equal(th_stats()->tcbs_in_use, 0);
	th_drain();
}

static void fast_retransmit_and_newreno(void **state)
{
	struct th_seg s;
	(void)state;
	uint32_t iss = establish();
	uint32_t una = iss + 1;

	lp_tcp_write(th_app.tcb, pattern, 7 * 1400);
	th_poll();
	assert_int_equal(th_drain(), 7);
	/* Segment 2 and 4 lost: ACK of 1, then three duplicates. */
	peer_ack(0, una + 1400, 65535);
	assert_int_equal(th_pending(), 0);
	peer_ack(0, una + 1400, 65535);
	peer_ack(0, una + 1400, 65535);
	assert_int_equal(th_pending(), 0);
	peer_ack(0, una + 1400, 65535);
	assert_int_equal(th_stats()->fast_retransmits, 1);
	th_pop(&s);
	assert_int_equal(s.seq, una + 1400);
	assert_int_equal(s.len, 1400);
	assert_memory_equal(s.data, pattern + 1400, 1400);
	th_drain(); /* cwnd inflation may send new data: none is left */
	/* Partial ACK (RFC 6582 3.2 step 3): up to the next hole, which is resent. */
	peer_ack(0, una + 3 * 1400, 65535);
	th_pop(&s);
	assert_int_equal(s.seq, una + 3 * 1400);
	assert_int_equal(s.len, 1400);
	th_drain();
	/* Full ACK: recovery ends. */
	peer_ack(0, una + 7 * 1400, 65535);
	assert_int_equal(th_app.acked, 7 * 1400);
	assert_int_equal(th_stats()->rto_expired, 0);
	th_drain();
}

static void peer_zero_window_is_probed(void **state)
{
	struct th_seg s;
	(void)state;
	uint32_t iss = establish();

	peer_ack(0, iss + 1, 0);
	lp_tcp_write(th_app.tcb, pattern, 500);
	th_poll();
	assert_int_equal(th_pending(), 0);
	th_advance(210);
	th_pop(&s);
	/* A probe: old sequence number, no data, makes the peer tell its window. */
	assert_int_equal(s.seq, iss);
	assert_int_equal(s.len, 0);
	assert_int_equal(th_stats()->zero_window_probes, 1);
	th_advance(350);
	assert_int_equal(th_pending(), 0); /* backed off to 400 ms */
	th_advance(60);
	assert_int_equal(th_pending(), 1);
	th_drain();
	/* The window opens: the data goes. */
	peer_ack(0, iss + 1, 1000);
	th_pop(&s);
	assert_int_equal(s.seq, iss + 1);
	assert_int_equal(s.len, 500);
	peer_ack(0, iss + 1 + 500, 1000);
	th_advance(5000);
	assert_int_equal(th_pending(), 0);
	assert_int_equal(th_stats()->timers_armed, 0);
}

static void rst_exact_resets_in_window_is_challenged(void **state)
{
	struct th_seg s;
	(void)state;
	uint32_t iss = establish();

	/* RFC 5961 3.2: in the window but not RCV.NXT: challenge ACK, connection stays. */
	th_send(&(struct th_tx){.dport = PORT, .seq = PEER_ISN + 1 + 500, .flags = LP_TCP_RST});
	th_pop(&s);
	assert_int_equal(s.flags, LP_TCP_ACK);
	assert_int_equal(s.ack, PEER_ISN + 1);
	assert_int_equal(th_stats()->challenge_acks, 1);
	assert_int_equal(th_app.closed_calls, 0);
	/* Outside the window: silently dropped. */
	th_send(&(struct th_tx){.dport = PORT, .seq = PEER_ISN - 100000, .flags = LP_TCP_RST});
	assert_int_equal(th_pending(), 0);
	/* SYN on an established connection: challenge ACK (RFC 5961 4.2). */
	th_send(&(struct th_tx){.dport = PORT, .seq = PEER_ISN + 77, .flags = LP_TCP_SYN});
	th_pop(&s);
	assert_int_equal(s.flags, LP_TCP_ACK);
	assert_int_equal(th_stats()->challenge_acks, 2);
	/* ACK of data never sent (RFC 5961 5.2): challenge ACK. */
	peer_ack(0, iss + 1 + 100000, 65535);
	th_pop(&s);
	assert_int_equal(th_stats()->challenge_acks, 3);
	assert_string_equal(lp_tcp_state_name(th_app.tcb), "ESTABLISHED");
	/* Exact: reset. */
	th_send(&(struct th_tx){.dport = PORT, .seq = PEER_ISN + 1, .flags = LP_TCP_RST});
	assert_int_equal(th_app.closed_calls, 1);
	assert_int_equal(th_app.closed_reason, -ECONNRESET);
	assert_int_equal(th_stats()->tcbs_in_use, 0);
	assert_int_equal(th_stats()->timers_armed, 0);
	assert_int_equal(th_pending(), 0);
}

static void passive_close_goes_through_last_ack(void **state)
{
	struct th_seg s;
	(void)state;
	uint32_t iss = establish();

	peer_data(0, 10, iss + 1);
	th_send(&(struct th_tx){.dport = PORT, .seq = PEER_ISN + 11, .ack = iss + 1,
				.flags = LP_TCP_ACK | LP_TCP_FIN, .wnd = 65535});
	assert_true(th_app.eof);
	assert_string_equal(lp_tcp_state_name(th_app.tcb), "CLOSE_WAIT");
	th_pop(&s);
	assert_int_equal(s.ack, PEER_ISN + 12);
	/* Still allowed to send in CLOSE-WAIT. */
	assert_int_equal(lp_tcp_write(th_app.tcb, "bye", 3), 3);
	assert_int_equal(lp_tcp_close(th_app.tcb), 0);
	assert_int_equal(lp_tcp_write(th_app.tcb, "x", 1), -EPIPE);
	assert_string_equal(lp_tcp_state_name(th_app.tcb), "LAST_ACK");
	th_poll();
	th_pop(&s);
	assert_int_equal(s.flags, LP_TCP_ACK | LP_TCP_FIN | LP_TCP_PSH);
	assert_int_equal(s.len, 3);
	peer_ack(11, iss + 1 + 3 + 1, 65535);
	assert_int_equal(th_app.closed_calls, 1);
	assert_int_equal(th_app.closed_reason, LP_TCP_CLOSED_OK);
	assert_int_equal(th_stats()->tcbs_in_use, 0);
	assert_int_equal(th_stats()->timers_armed, 0);
}

static void active_close_waits_in_time_wait(void **state)
{
	struct th_seg s;
	(void)state;
	uint32_t iss = establish();

	assert_int_equal(lp_tcp_close(th_app.tcb), 0);
	assert_int_equal(lp_tcp_close(th_app.tcb), -ENOTCONN);
	th_poll();
	th_pop(&s);
	assert_int_equal(s.flags, LP_TCP_ACK | LP_TCP_FIN);
	assert_int_equal(s.seq, iss + 1);
	peer_ack(0, iss + 2, 65535);
	assert_string_equal(lp_tcp_state_name(th_app.tcb), "FIN_WAIT_2");
	/* Half-closed: data still flows to us. */
	peer_data(0, 50, iss + 2);
	assert_int_equal(th_app.rx_len, 50);
	th_send(&(struct th_tx){.dport = PORT, .seq = PEER_ISN + 51, .ack = iss + 2,
				.flags = LP_TCP_ACK | LP_TCP_FIN, .wnd = 65535});
	assert_true(th_app.eof);
	assert_int_equal(th_app.closed_calls, 1);
	assert_int_equal(th_app.closed_reason, LP_TCP_CLOSED_OK);
	th_pop(&s);
	assert_int_equal(s.ack, PEER_ISN + 52);
	assert_int_equal(th_stats()->tcbs_in_use, 1); /* TIME-WAIT */
	/* A retransmitted FIN is ACKed again. */
	th_send(&(struct th_tx){.dport = PORT, .seq = PEER_ISN + 51, .ack = iss + 2,
				.flags = LP_TCP_ACK | LP_TCP_FIN, .wnd = 65535});
	th_pop(&s);
	assert_int_equal(s.ack, PEER_ISN + 52);
	th_advance(1100);
	assert_int_equal(th_stats()->tcbs_in_use, 0);
	assert_int_equal(th_stats()->timers_armed, 0);
	th_drain();
}

static void simultaneous_close_goes_through_closing(void **state)
{
	struct th_seg s;
	(void)state;
	uint32_t iss = establish();

	lp_tcp_close(th_app.tcb);
	th_poll();
	th_pop(&s);
	/* The peer's FIN crosses ours: it does not ack our FIN. */
	th_send(&(struct th_tx){.dport = PORT, .seq = PEER_ISN + 1, .ack = iss + 1,
				.flags = LP_TCP_ACK | LP_TCP_FIN, .wnd = 65535});
	assert_string_equal(lp_tcp_state_name(th_app.tcb), "CLOSING");
	th_pop(&s);
	assert_int_equal(s.ack, PEER_ISN + 2);
	peer_ack(1, iss + 2, 65535);
	assert_int_equal(th_app.closed_calls, 1);
	assert_int_equal(th_stats()->tcbs_in_use, 1);
	th_advance(1100);
	assert_int_equal(th_stats()->tcbs_in_use, 0);
}

static void fin_ack_together_in_fin_wait_1(void **state)
{
	struct th_seg s;
	(void)state;
	uint32_t iss = establish();

	lp_tcp_close(th_app.tcb);
	th_poll();
	th_pop(&s);
	th_send(&(struct th_tx){.dport = PORT, .seq = PEER_ISN + 1, .ack = iss + 2,
				.flags = LP_TCP_ACK | LP_TCP_FIN, .wnd = 65535});
	assert_int_equal(th_app.closed_calls, 1);
	assert_int_equal(th_stats()->tcbs_in_use, 1);
	th_pop(&s);
	assert_int_equal(s.ack, PEER_ISN + 2);
	th_advance(1100);
	assert_int_equal(th_stats()->tcbs_in_use, 0);
}

static void fin_out_of_order_waits_for_the_hole(void **state)
{
	(void)state;
	uint32_t iss = establish();

	th_send(&(struct th_tx){.dport = PORT, .seq = PEER_ISN + 1 + 100, .ack = iss + 1,
				.flags = LP_TCP_ACK | LP_TCP_FIN, .wnd = 65535,
				.data = pattern + 100, .len = 100});
	assert_false(th_app.eof);
	peer_data(0, 100, iss + 1);
	assert_true(th_app.eof);
	assert_int_equal(th_app.rx_len, 200);
	assert_memory_equal(th_app.rx, pattern, 200);
	assert_string_equal(lp_tcp_state_name(th_app.tcb), "CLOSE_WAIT");
	th_drain();
}

static void fin_wait_2_times_out(void **state)
{
	(void)state;
	uint32_t iss = establish();

	lp_tcp_close(th_app.tcb);
	th_poll();
	peer_ack(0, iss + 2, 65535);
	assert_string_equal(lp_tcp_state_name(th_app.tcb), "FIN_WAIT_2");
	th_advance(31000);
	assert_int_equal(th_app.closed_calls, 1);
	assert_int_equal(th_app.closed_reason, -ETIMEDOUT);
	assert_int_equal(th_stats()->tcbs_in_use, 0);
	th_drain();
}

static void syn_ack_is_retransmitted_then_given_up(void **state)
{
	(void)state;
	th_send(&(struct th_tx){.dport = PORT, .seq = 5, .flags = LP_TCP_SYN, .wnd = 8192});
	assert_int_equal(th_drain(), 1);
	/* A repeated SYN gets the SYN-ACK again. */
	th_send(&(struct th_tx){.dport = PORT, .seq = 5, .flags = LP_TCP_SYN, .wnd = 8192});
	assert_int_equal(th_drain(), 1);
	th_advance(1010);
	assert_int_equal(th_drain(), 1);
	for (int i = 0; i < 100 && th_stats()->tcbs_in_use > 0; i++)
		th_advance(1000);
	assert_int_equal(th_stats()->tcbs_in_use, 0);
	assert_int_equal(th_stats()->syn_rcvd, 0);
	assert_int_equal(th_app.accepts, 0);
	assert_int_equal(th_app.closed_calls, 0);
	th_drain();
}

static int setup_backlog_1(void **state)
{
	th_cfg.syn_backlog = 1;
	return setup_listen(state);
}

static void syn_cookie_round_trip(void **state)
{
	struct th_seg s;
	const uint8_t opts[8] = {2, 4, 0x05, 0xb4, 1, 3, 3, 7};
	(void)state;

	th_send(&(struct th_tx){.sport = 40001, .dport = PORT, .seq = 100, .flags = LP_TCP_SYN,
				.wnd = 8192, .opts = opts, .optlen = 8});
	th_pop(&s);
	assert_true(s.opts.has_wscale); /* a real TCB */
	assert_int_equal(th_stats()->tcbs_in_use, 1);
	/* Backlog full: a cookie, no TCB, no window scale. */
	th_send(&(struct th_tx){.sport = 40002, .dport = PORT, .seq = 200, .flags = LP_TCP_SYN,
				.wnd = 8192, .opts = opts, .optlen = 8});
	th_pop(&s);
	assert_int_equal(s.flags, LP_TCP_SYN | LP_TCP_ACK);
	assert_int_equal(s.ack, 201);
	assert_true(s.opts.has_mss);
	assert_int_equal(s.opts.mss, 1460);
	assert_false(s.opts.has_wscale);
	assert_int_equal(th_stats()->syncookies_sent, 1);
	assert_int_equal(th_stats()->tcbs_in_use, 1);
	uint32_t cookie = s.seq;

	/* A forged ACK does not pass. */
	th_send(&(struct th_tx){.sport = 40003, .dport = PORT, .seq = 301, .ack = cookie + 1,
				.flags = LP_TCP_ACK, .wnd = 8192});
	th_pop(&s);
	assert_int_equal(s.flags, LP_TCP_RST);
	assert_int_equal(th_drops(LP_DROP_TCP_BAD_COOKIE), 1);
	assert_int_equal(th_stats()->syncookies_bad, 1);
	/* The real one, carrying data: established at once, data delivered. */
	th_send(&(struct th_tx){.sport = 40002, .dport = PORT, .seq = 201, .ack = cookie + 1,
				.flags = LP_TCP_ACK, .wnd = 8192, .data = pattern, .len = 300});
	assert_int_equal(th_stats()->syncookies_ok, 1);
	assert_int_equal(th_app.accepts, 1);
	assert_int_equal(th_stats()->tcbs_in_use, 2);
	assert_string_equal(lp_tcp_state_name(th_app.tcb), "ESTABLISHED");
	assert_int_equal(lp_tcp_mss(th_app.tcb), 1460);
	assert_int_equal(th_app.rx_len, 300);
	assert_memory_equal(th_app.rx, pattern, 300);
	/* Data back: no window scale on either side. */
	lp_tcp_write(th_app.tcb, pattern, 10);
	th_poll();
	th_pop(&s);
	assert_int_equal(s.seq, cookie + 1);
	assert_int_equal(s.ack, 501);
	assert_true(s.wnd > 0);
	th_drain();
}

/* Handshake offering SACK-permitted (and MSS 1400, no window scale). */
static uint32_t establish_sack(void)
{
	const uint8_t opts[8] = {2, 4, 0x05, 0x78, 1, 1, 4, 2};
	struct th_seg s;

	th_send(&(struct th_tx){.dport = PORT, .seq = PEER_ISN, .flags = LP_TCP_SYN, .wnd = 65535,
				.opts = opts, .optlen = 8});
	th_pop(&s);
	assert_true(s.opts.sack_permitted);
	th_send(&(struct th_tx){.dport = PORT, .seq = PEER_ISN + 1, .ack = s.seq + 1,
				.flags = LP_TCP_ACK, .wnd = 65535});
	assert_int_equal(th_app.accepts, 1);
	return s.seq;
}

static void sack_blocks_report_the_store(void **state)
{
	struct th_seg s;
	(void)state;
	uint32_t iss = establish_sack();

	peer_data(1000, 500, iss + 1);
	th_pop(&s);
	assert_int_equal(s.ack, PEER_ISN + 1);
	assert_int_equal(s.opts.n_sack, 1);
	assert_int_equal(s.opts.sack[0][0], PEER_ISN + 1 + 1000);
	assert_int_equal(s.opts.sack[0][1], PEER_ISN + 1 + 1500);
	peer_data(3000, 500, iss + 1);
	th_pop(&s);
	/* RFC 2018 4: the block with the latest segment comes first. */
	assert_int_equal(s.opts.n_sack, 2);
	assert_int_equal(s.opts.sack[0][0], PEER_ISN + 1 + 3000);
	assert_int_equal(s.opts.sack[1][0], PEER_ISN + 1 + 1000);
	peer_data(1500, 500, iss + 1);
	th_pop(&s);
	assert_int_equal(s.opts.n_sack, 2);
	assert_int_equal(s.opts.sack[0][0], PEER_ISN + 1 + 1000);
	assert_int_equal(s.opts.sack[0][1], PEER_ISN + 1 + 2000);
	peer_data(0, 1000, iss + 1);
	th_pop(&s);
	assert_int_equal(s.ack, PEER_ISN + 1 + 2000);
	assert_int_equal(s.opts.n_sack, 1);
	peer_data(2000, 1000, iss + 1);
	th_pop(&s);
	assert_int_equal(s.ack, PEER_ISN + 1 + 3500);
	assert_int_equal(s.opts.n_sack, 0);
	assert_memory_equal(th_app.rx, pattern, 3500);
}

static void sack_on_data_segments_triggers_fast_retransmit(void **state)
{
	struct th_seg s;
	uint8_t opts[12] = {1, 1, 5, 10};
	(void)state;
	uint32_t iss = establish_sack();
	uint32_t una = iss + 1;

	lp_tcp_write(th_app.tcb, pattern, 6 * 1400);
	th_poll();
	assert_int_equal(th_drain(), 6);
	/* The first segment is lost; the peer's ACKs ride on its own data and
	 * SACK what arrived: segments 2..5 (RFC 6675: IsLost after 3 * MSS). */
	for (uint32_t k = 2; k <= 5; k++) {
		uint32_t l = rte_cpu_to_be_32(una + 1400), r = rte_cpu_to_be_32(una + k * 1400);

		memcpy(opts + 4, &l, 4);
		memcpy(opts + 8, &r, 4);
		th_send(&(struct th_tx){.dport = PORT, .seq = PEER_ISN + 1 + (k - 2) * 10, .ack = una,
					.flags = LP_TCP_ACK, .wnd = 65535, .opts = opts, .optlen = 12,
					.data = pattern, .len = 10});
	}
	assert_int_equal(th_stats()->fast_retransmits, 1);
	unsigned n = th_pending();
	bool resent = false;

	for (unsigned i = 0; i < n; i++) {
		th_pop(&s);
		if (s.seq == una && s.len > 0)
			resent = true;
	}
	assert_true(resent);
	assert_int_equal(th_stats()->rto_expired, 0);
	th_drain();
}

static void accept_refused_resets(void **state)
{
	struct th_seg s;
	(void)state;
	th_app.accept_rc = -ECONNREFUSED;
	th_send(&(struct th_tx){.dport = PORT, .seq = 5, .flags = LP_TCP_SYN, .wnd = 8192});
	th_pop(&s);
	th_send(&(struct th_tx){.dport = PORT, .seq = 6, .ack = s.seq + 1, .flags = LP_TCP_ACK,
				.wnd = 8192});
	th_pop(&s);
	assert_true(s.flags & LP_TCP_RST);
	assert_int_equal(th_stats()->accepts_refused, 1);
	assert_int_equal(th_stats()->tcbs_in_use, 0);
	assert_int_equal(th_app.closed_calls, 0);
}

static void abort_from_recv_is_deferred_safely(void **state)
{
	struct th_seg s;
	(void)state;
	uint32_t iss = establish();

	th_app.abort_on_recv = true;
	/* Out of order first, so that delivery continues from the store after the abort. */
	peer_data(100, 100, iss + 1);
	th_drain();
	peer_data(0, 100, iss + 1);
	th_pop(&s);
	assert_true(s.flags & LP_TCP_RST);
	assert_int_equal(th_app.closed_calls, 0);
	assert_int_equal(th_stats()->tcbs_in_use, 0);
	assert_int_equal(th_stats()->ooo_bytes, 0);
	assert_int_equal(th_stats()->timers_armed, 0);
	th_drain();
}

static void active_open_resolves_and_connects(void **state)
{
	struct th_seg s;
	uint8_t opts[8] = {2, 4, 0x05, 0xb4, 1, 3, 3, 2};
	(void)state;

	struct lp_tcb *t = lp_tcp_connect(&th_net, rte_cpu_to_be_32(TH_PEER_IP), 5672,
					  &th_app_ops, &th_app);

	assert_non_null(t);
	assert_string_equal(lp_tcp_state_name(t), "SYN_SENT");
	lp_net_tx_flush(&th_net);
	/* Next hop unknown: an ARP request first. */
	struct rte_mbuf *arp = th_pop_frame();
	const struct rte_ether_hdr *eth = rte_pktmbuf_mtod(arp, const struct rte_ether_hdr *);

	assert_int_equal(eth->ether_type, rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP));
	rte_pktmbuf_free(arp);
	lp_arp_learn(&th_net, rte_cpu_to_be_32(TH_PEER_IP), &th_peer_mac);
	th_advance(110);
	th_pop(&s);
	assert_int_equal(s.flags, LP_TCP_SYN);
	assert_int_equal(s.dport, 5672);
	assert_true(s.sport >= 49152);
	assert_true(s.opts.has_mss);
	assert_true(s.opts.has_wscale);
	uint32_t iss = s.seq;

	th_send(&(struct th_tx){.sport = 5672, .dport = s.sport, .seq = 9000, .ack = iss + 1,
				.flags = LP_TCP_SYN | LP_TCP_ACK, .wnd = 1000, .opts = opts,
				.optlen = 8});
	assert_int_equal(th_app.connected, 1);
	assert_string_equal(lp_tcp_state_name(t), "ESTABLISHED");
	th_pop(&s);
	assert_int_equal(s.flags, LP_TCP_ACK);
	assert_int_equal(s.ack, 9001);
	lp_tcp_write(t, "hello", 5);
	th_poll();
	th_pop(&s);
	assert_int_equal(s.len, 5);
	assert_memory_equal(s.data, "hello", 5);
	/* Peer's window is scaled by 2 from now on: 1000 << 2 = 4000 bytes. */
	lp_tcp_abort(t);
	lp_net_tx_flush(&th_net);
	th_pop(&s);
	assert_true(s.flags & LP_TCP_RST);
	assert_int_equal(th_app.closed_calls, 0);
	assert_int_equal(th_stats()->tcbs_in_use, 0);
	assert_int_equal(th_stats()->timers_armed, 0);
}

static void active_open_refused(void **state)
{
	struct th_seg s;
	(void)state;

	lp_arp_learn(&th_net, rte_cpu_to_be_32(TH_PEER_IP), &th_peer_mac);
	struct lp_tcb *t = lp_tcp_connect(&th_net, rte_cpu_to_be_32(TH_PEER_IP), 5672,
					  &th_app_ops, &th_app);

	assert_non_null(t);
	lp_net_tx_flush(&th_net);
	th_pop(&s);
	assert_int_equal(s.flags, LP_TCP_SYN);
	th_send(&(struct th_tx){.sport = 5672, .dport = s.sport, .seq = 0, .ack = s.seq + 1,
				.flags = LP_TCP_RST | LP_TCP_ACK});
	assert_int_equal(th_app.closed_calls, 1);
	assert_int_equal(th_app.closed_reason, -ECONNREFUSED);
	assert_int_equal(th_stats()->tcbs_in_use, 0);
}

static void many_open_close_cycles_leave_nothing(void **state)
{
	struct th_seg s;
	(void)state;
	unsigned start_in_use = rte_mempool_in_use_count(th_pool);

	th_app.close_on_eof = true;
	for (uint32_t i = 0; i < 3000; i++) {
		uint16_t sport = (uint16_t)(20000 + i % 20000);
		uint32_t isn = i * 100000u;
		th_app.eof = false;
		uint32_t iss = th_handshake(PORT, sport, isn, 1460, 7, 512);

		th_send(&(struct th_tx){.sport = sport, .dport = PORT, .seq = isn + 1,
					.ack = iss + 1, .flags = LP_TCP_ACK | LP_TCP_FIN,
					.data = pattern, .len = 64, .wnd = 512});
		th_pop(&s); /* our FIN, with the ACK of theirs */
		assert_true(s.flags & LP_TCP_FIN);
		assert_int_equal(s.ack, isn + 1 + 64 + 1);
		th_send(&(struct th_tx){.sport = sport, .dport = PORT, .seq = isn + 66,
					.ack = iss + 2, .flags = LP_TCP_ACK, .wnd = 512});
		th_poll(); /* the end of the poll iteration */
		th_drain();
	}
	assert_int_equal(th_app.accepts, 3000);
	assert_int_equal(th_app.closed_calls, 3000);
	assert_int_equal(th_stats()->tcbs_in_use, 0);
	assert_int_equal(th_stats()->timers_armed, 0);
	assert_int_equal(rte_mempool_in_use_count(th_pool), start_in_use);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(options_are_parsed_safely),
		cmocka_unit_test_setup_teardown(handshake_negotiates_mss_and_wscale, setup_listen, th_teardown),
		cmocka_unit_test_setup_teardown(syn_without_wscale_gets_none, setup_listen, th_teardown),
		cmocka_unit_test_setup_teardown(malformed_options_are_dropped, setup_listen, th_teardown),
		cmocka_unit_test_setup_teardown(bad_checksum_is_dropped, setup_listen, th_teardown),
		cmocka_unit_test_setup_teardown(syn_fin_is_dropped, setup_listen, th_teardown),
		cmocka_unit_test_setup_teardown(closed_port_answers_rst, setup_listen, th_teardown),
		cmocka_unit_test_setup_teardown(in_order_data_is_delivered_without_copy, setup_listen, th_teardown),
		cmocka_unit_test_setup_teardown(delayed_ack_fires_after_short_timer, setup_listen, th_teardown),
		cmocka_unit_test_setup_teardown(out_of_order_is_held_and_acked_at_once, setup_listen, th_teardown),
		cmocka_unit_test_setup_teardown(duplicates_and_overlaps_are_trimmed, setup_listen, th_teardown),
		cmocka_unit_test_setup_teardown(receive_window_fills_and_reopens, setup_listen, th_teardown),
		cmocka_unit_test_setup_teardown(echo_sends_back_and_window_follows_acks, setup_listen, th_teardown),
		cmocka_unit_test_setup_teardown(write_segments_by_mss_within_cwnd, setup_listen, th_teardown),
		cmocka_unit_test_setup_teardown(retransmission_timeout_backs_off, setup_listen, th_teardown),
		cmocka_unit_test_setup_teardown(retransmissions_exhausted_close_with_timeout, setup_listen, th_teardown),
		cmocka_unit_test_setup_teardown(fast_retransmit_and_newreno, setup_listen, th_teardown),
		cmocka_unit_test_setup_teardown(peer_zero_window_is_probed, setup_listen, th_teardown),
		cmocka_unit_test_setup_teardown(rst_exact_resets_in_window_is_challenged, setup_listen, th_teardown),
		cmocka_unit_test_setup_teardown(passive_close_goes_through_last_ack, setup_listen, th_teardown),
		cmocka_unit_test_setup_teardown(active_close_waits_in_time_wait, setup_listen, th_teardown),
		cmocka_unit_test_setup_teardown(simultaneous_close_goes_through_closing, setup_listen, th_teardown),
		cmocka_unit_test_setup_teardown(fin_ack_together_in_fin_wait_1, setup_listen, th_teardown),
		cmocka_unit_test_setup_teardown(fin_out_of_order_waits_for_the_hole, setup_listen, th_teardown),
		cmocka_unit_test_setup_teardown(fin_wait_2_times_out, setup_listen, th_teardown),
		cmocka_unit_test_setup_teardown(syn_ack_is_retransmitted_then_given_up, setup_listen, th_teardown),
		cmocka_unit_test_setup_teardown(syn_cookie_round_trip, setup_backlog_1, th_teardown),
		cmocka_unit_test_setup_teardown(sack_blocks_report_the_store, setup_listen, th_teardown),
		cmocka_unit_test_setup_teardown(sack_on_data_segments_triggers_fast_retransmit, setup_listen, th_teardown),
		cmocka_unit_test_setup_teardown(accept_refused_resets, setup_listen, th_teardown),
		cmocka_unit_test_setup_teardown(abort_from_recv_is_deferred_safely, setup_listen, th_teardown),
		cmocka_unit_test_setup_teardown(active_open_resolves_and_connects, setup_listen, th_teardown),
		cmocka_unit_test_setup_teardown(active_open_refused, setup_listen, th_teardown),
		cmocka_unit_test_setup_teardown(many_open_close_cycles_leave_nothing, setup_listen, th_teardown),
	};

	return cmocka_run_group_tests(tests, th_group_setup, th_group_teardown);
}
