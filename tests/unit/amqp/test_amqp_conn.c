/* SPDX-License-Identifier: MIT */
/*
 * Connection state machine: the byte streams pika and amqp-tools really sent
 * (golden/NAME.bin) replayed with every kind of split, every byte of our answers
 * checked against frames built here by hand from the spec; login with PLAIN,
 * AMQPLAIN and Secure; tune negotiation; every protocol error with its reply
 * code; heartbeats sent and missed; timeouts; Close both ways; Blocked;
 * UpdateSecret; back-pressure from a full send buffer.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "amqp_conn.h"
#include "amqp_reply.h"
#include "amqp_table.h"
#include "amqp_test.h"
#include "conn_fixture.h"

#define SEC LP_AMQP_NS_PER_SEC

#define NI(m) "NOT_IMPLEMENTED - " m " is not implemented by this worker"

static void test_pika_replay_every_byte(void **state)
{
	struct fx *f = *state;
	size_t len;
	uint8_t *g = golden_load("pika_client.bin", &len);
	struct bytes e = { .n = 0 };

	/* Our answers to pika's stream, when no broker is attached: 540 is
	 * a hard error (spec 1.3, RabbitMQ's not_implemented). */
	expect_start(&e);
	expect_tune(&e);
	expect_open_ok(&e);
	expect_channel_open_ok(&e, 1);
	expect_close(&e, 0, 10, 540, NI("exchange.declare"), 40, 10);
	/* closing: everything but Connection.Close is ignored (spec 2.2.4) */
	expect_simple(&e, 0, 10, 51); /* pika's Close crosses ours: Close-Ok */

	static const size_t chunks[] = { 0, 1, 2, 3, 7, 8, 13, 64, 100, 4096 };
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		mk(f, NULL, NULL);
		feed(f, g, len, chunks[i]);
		assert_int_equal(f->out_len, e.n);
		assert_memory_equal(f->out, e.b, e.n);
		assert_true(lp_amqp_conn_closed(f->c));
		uint16_t code;
		lp_amqp_conn_close_reason(f->c, &code);
		assert_int_equal(code, 540);
		assert_string_equal(lp_amqp_conn_user(f->c), "guest");
		assert_string_equal(lp_amqp_conn_vhost(f->c), "/");
		assert_int_equal(f->c->channels_open, 0);
	}
	free(g);
}

/* A broker stand-in that accepts everything and records what it got. */
struct rec {
	int opens, ch_opens, ch_closes, methods, headers, bodies;
	uint32_t ids[32];
	uint64_t body_size;
	uint8_t body[64];
	size_t body_len;
	bool last;
};

static void r_open(void *ctx, struct lp_amqp_conn *c)
{
	(void)c;
	((struct rec *)ctx)->opens++;
}
static void r_ch_open(void *ctx, struct lp_amqp_conn *c, uint16_t ch)
{
	(void)c, (void)ch;
	((struct rec *)ctx)->ch_opens++;
}
static void r_ch_close(void *ctx, struct lp_amqp_conn *c, uint16_t ch)
{
	(void)c, (void)ch;
	((struct rec *)ctx)->ch_closes++;
}
static int r_method(void *ctx, struct lp_amqp_conn *c, uint16_t ch, const struct lp_amqp_method *m)
{
	(void)c, (void)ch;
	struct rec *r = ctx;
	r->ids[r->methods++ % 32] = m->id;
	return 0;
}
static int r_header(void *ctx, struct lp_amqp_conn *c, uint16_t ch, const struct lp_amqp_content_header *h)
{
	(void)c, (void)ch;
	struct rec *r = ctx;
	r->headers++;
	r->body_size = h->body_size;
	return 0;
}
static int r_body(void *ctx, struct lp_amqp_conn *c, uint16_t ch, const uint8_t *p, size_t len, bool last)
{
	(void)c, (void)ch;
	struct rec *r = ctx;
	r->bodies++;
	memcpy(r->body + r->body_len, p, len);
	r->body_len += len;
	r->last = last;
	return 0;
}

static const struct lp_amqp_conn_ops rec_ops = {
	.on_open = r_open,
	.on_channel_open = r_ch_open,
	.on_channel_close = r_ch_close,
	.on_method = r_method,
	.on_content_header = r_header,
	.on_content_body = r_body,
};

static void test_pika_replay_with_broker_callbacks(void **state)
{
	struct fx *f = *state;
	size_t len;
	uint8_t *g = golden_load("pika_client.bin", &len);
	struct rec r = { 0 };

	mk(f, &rec_ops, &r);
	feed(f, g, len, 5);
	assert_true(lp_amqp_conn_closed(f->c));
	assert_int_equal(r.opens, 1);
	assert_int_equal(r.ch_opens, 2);
	assert_int_equal(r.ch_closes, 2);
	assert_int_equal(r.methods, 7);
	assert_int_equal(r.ids[0], LP_AMQP_EXCHANGE_DECLARE);
	assert_int_equal(r.ids[1], LP_AMQP_QUEUE_DECLARE);
	assert_int_equal(r.ids[2], LP_AMQP_QUEUE_BIND);
	assert_int_equal(r.ids[3], LP_AMQP_BASIC_QOS);
	assert_int_equal(r.ids[4], LP_AMQP_BASIC_PUBLISH);
	assert_int_equal(r.ids[5], LP_AMQP_BASIC_GET);
	assert_int_equal(r.ids[6], LP_AMQP_CONFIRM_SELECT);
	assert_int_equal(r.headers, 1);
	assert_int_equal(r.body_size, 11);
	assert_int_equal(r.bodies, 1);
	assert_true(r.last);
	assert_memory_equal(r.body, "hello lepus", 11);
	free(g);
}

static void test_amqp_tools_replay(void **state)
{
	struct fx *f = *state;
	size_t len;
	uint8_t *g = golden_load("amqp_tools_publish.bin", &len);
	struct bytes e = { .n = 0 };

	expect_start(&e);
	expect_tune(&e);
	expect_open_ok(&e);
	expect_channel_open_ok(&e, 1);
	expect_close(&e, 0, 10, 540, NI("basic.publish"), 60, 40);
	expect_simple(&e, 0, 10, 51); /* its Channel.Close is ignored, its Connection.Close answered */
	for (size_t chunk = 0; chunk < 20; chunk++) {
		mk(f, NULL, NULL);
		feed(f, g, len, chunk);
		assert_int_equal(f->out_len, e.n);
		assert_memory_equal(f->out, e.b, e.n);
		assert_true(lp_amqp_conn_closed(f->c));
	}
	free(g);
}

static void test_amqp_tools_empty_vhost(void **state)
{
	struct fx *f = *state;
	size_t len;
	uint8_t *g = golden_load("amqp_tools_empty_vhost.bin", &len);
	struct bytes e = { .n = 0 };

	/* amqp://host:port/ means vhost "" (AMQP URI spec): 530 as RabbitMQ. */
	expect_start(&e);
	expect_tune(&e);
	expect_close(&e, 0, 10, 530, "NOT_ALLOWED - vhost  not found", 10, 40);
	mk(f, NULL, NULL);
	feed(f, g, len, 0);
	assert_int_equal(f->out_len, e.n);
	assert_memory_equal(f->out, e.b, e.n);
	assert_true(lp_amqp_conn_closed(f->c));
	free(g);
}

/* --- a handshake driven by methods, for the error cases --- */

static void test_bad_protocol_header(void **state)
{
	struct fx *f = *state;
	static const char *bad[] = { "AMQP\x00\x00\x09\x00", "AMQP\x01\x01\x00\x09", "GET / HTTP/1.1\r\n" };
	for (size_t i = 0; i < 3; i++) {
		mk(f, NULL, NULL);
		feed(f, (const uint8_t *)bad[i], 8, 1);
		assert_int_equal(f->out_len, 8);
		assert_memory_equal(f->out, "AMQP\x00\x00\x09\x01", 8);
		assert_true(lp_amqp_conn_closed(f->c));
		/* Later input is swallowed, nothing more is written. */
		feed(f, (const uint8_t *)"more", 4, 0);
		assert_int_equal(f->out_len, 8);
	}
}

static void test_login(void **state)
{
	struct fx *f = *state;
	struct bytes tune = { .n = 0 };
	expect_tune(&tune);

	/* Wrong password, client has authentication_failure_close: 403. */
	mk(f, NULL, NULL);
	feed_raw(f, "AMQP\x00\x00\x09\x01", 8);
	f->out_len = 0;
	start_ok(f, "PLAIN", "\0guest\0nope", 11, true);
	assert_last_close(f, 0, 403, "ACCESS_REFUSED - PLAIN login refused: user 'guest' - invalid credentials");
	assert_true(lp_amqp_conn_closed(f->c));

	/* Without the capability: the socket is just closed. */
	mk(f, NULL, NULL);
	feed_raw(f, "AMQP\x00\x00\x09\x01", 8);
	f->out_len = 0;
	start_ok(f, "PLAIN", "\0guest\0nope", 11, false);
	assert_int_equal(f->out_len, 0);
	assert_true(lp_amqp_conn_closed(f->c));
	uint16_t code;
	lp_amqp_conn_close_reason(f->c, &code);
	assert_int_equal(code, 403);

	/* Unknown user, malformed PLAIN response. */
	mk(f, NULL, NULL);
	feed_raw(f, "AMQP\x00\x00\x09\x01", 8);
	start_ok(f, "PLAIN", "\0bob\0guest", 10, true);
	assert_last_close(f, 0, 403, NULL);
	mk(f, NULL, NULL);
	feed_raw(f, "AMQP\x00\x00\x09\x01", 8);
	start_ok(f, "PLAIN", "guestguest", 10, true);
	assert_last_close(f, 0, 403, NULL);

	/* Unknown mechanism: 503. */
	mk(f, NULL, NULL);
	feed_raw(f, "AMQP\x00\x00\x09\x01", 8);
	start_ok(f, "EXTERNAL", "", 0, true);
	assert_last_close(f, 0, 503, "COMMAND_INVALID - unknown authentication mechanism 'EXTERNAL'");

	/* AMQPLAIN: a table of LOGIN and PASSWORD without its length. */
	uint8_t t[128];
	struct lp_amqp_wr w;
	size_t mark;
	lp_amqp_wr_init(&w, t, sizeof(t));
	lp_amqp_wr_table_begin(&w, &mark);
	lp_amqp_wr_field_str(&w, "LOGIN", "guest");
	lp_amqp_wr_field_str(&w, "PASSWORD", "guest");
	lp_amqp_wr_table_end(&w, mark);
	mk(f, NULL, NULL);
	feed_raw(f, "AMQP\x00\x00\x09\x01", 8);
	f->out_len = 0;
	start_ok(f, "AMQPLAIN", t + 4, w.off - 4, true);
	assert_int_equal(f->out_len, tune.n);
	assert_memory_equal(f->out, tune.b, tune.n);
	mk(f, NULL, NULL);
	feed_raw(f, "AMQP\x00\x00\x09\x01", 8);
	start_ok(f, "AMQPLAIN", t + 4, w.off - 5, true);
	assert_last_close(f, 0, 403, NULL);

	/* PLAIN without an initial response: empty Secure, then Secure-Ok. */
	mk(f, NULL, NULL);
	feed_raw(f, "AMQP\x00\x00\x09\x01", 8);
	f->out_len = 0;
	start_ok(f, "PLAIN", "", 0, true);
	struct bytes sec = { .n = 0 }, p = { .n = 0 };
	put16(&p, 10);
	put16(&p, 20);
	putls(&p, "");
	method_frame(&sec, 0, &p);
	assert_int_equal(f->out_len, sec.n);
	assert_memory_equal(f->out, sec.b, sec.n);
	f->out_len = 0;
	struct lp_amqp_method m = { .id = LP_AMQP_CONNECTION_SECURE_OK };
	m.connection_secure_ok.response = (struct lp_amqp_bytes){ (const uint8_t *)"\0guest\0guest", 12 };
	feed_method(f, 0, &m);
	assert_int_equal(f->out_len, tune.n);
	assert_memory_equal(f->out, tune.b, tune.n);
	assert_int_equal(lp_amqp_conn_get_state(f->c), LP_AMQP_CONN_TUNE_OK);
}

static void test_tune_and_open(void **state)
{
	struct fx *f = *state;
	struct {
		uint16_t ch;
		uint32_t fm;
		const char *text;
	} bad[] = {
		{ 2047, 1000, "NOT_ALLOWED - negotiated frame_max = 1000 is lower than the minimum allowed value (4096)" },
		{ 2047, 0, "NOT_ALLOWED - negotiated frame_max = 0 (no limit) is higher than the maximum allowed value (131072)" },
		{ 2047, 131073, "NOT_ALLOWED - negotiated frame_max = 131073 is higher than the maximum allowed value (131072)" },
		{ 0, 131072, "NOT_ALLOWED - negotiated channel_max = 0 (no limit) is higher than the maximum allowed value (2047)" },
		{ 2048, 131072, NULL },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mk(f, NULL, NULL);
		feed_raw(f, "AMQP\x00\x00\x09\x01", 8);
		start_ok(f, "PLAIN", "\0guest\0guest", 12, true);
		tune_ok(f, bad[i].ch, bad[i].fm, 60);
		assert_last_close(f, 0, 530, bad[i].text);
		assert_true(lp_amqp_conn_closed(f->c));
	}
	/* Unknown vhost: 530 and closed. */
	mk(f, NULL, NULL);
	feed_raw(f, "AMQP\x00\x00\x09\x01", 8);
	start_ok(f, "PLAIN", "\0guest\0guest", 12, true);
	tune_ok(f, 10, 4096, 0);
	open_vhost(f, "/nope");
	assert_last_close(f, 0, 530, "NOT_ALLOWED - vhost /nope not found");
	assert_true(lp_amqp_conn_closed(f->c));
	/* Vhost without permission. */
	assert_int_equal(lp_amqp_auth_add_vhost(f->db, "other"), 0);
	mk(f, NULL, NULL);
	feed_raw(f, "AMQP\x00\x00\x09\x01", 8);
	start_ok(f, "PLAIN", "\0guest\0guest", 12, true);
	tune_ok(f, 10, 4096, 0);
	open_vhost(f, "other");
	assert_last_close(f, 0, 530, "NOT_ALLOWED - access to vhost 'other' refused for user 'guest'");
	/* Methods out of order in the handshake: 504 as RabbitMQ. */
	mk(f, NULL, NULL);
	feed_raw(f, "AMQP\x00\x00\x09\x01", 8);
	open_vhost(f, "/");
	assert_last_close(f, 0, 504, "CHANNEL_ERROR - unexpected method in connection state starting");
	/* A frame on a channel before Open-Ok: 505. */
	mk(f, NULL, NULL);
	feed_raw(f, "AMQP\x00\x00\x09\x01", 8);
	struct lp_amqp_method co = { .id = LP_AMQP_CHANNEL_OPEN };
	feed_method(f, 1, &co);
	assert_last_close(f, 0, 505, NULL);
	/* Negotiated lower limits are enforced: channel_max 10. */
	mk(f, NULL, NULL);
	handshake(f, 10, 4096, 0);
	feed_method(f, 10, &co);
	assert_false(lp_amqp_conn_closed(f->c));
	feed_method(f, 11, &co);
	assert_last_close(f, 0, 530, "NOT_ALLOWED - channel 11 is above the negotiated channel_max (10)");
}

static void test_frame_errors(void **state)
{
	struct fx *f = *state;

	/* Garbage: unknown frame type. 501 and closed at once. */
	mk(f, NULL, NULL);
	handshake(f, 2047, 4096, 0);
	feed_raw(f, "garbage garbage garbage", 23);
	assert_last_close(f, 0, 501, "FRAME_ERROR - unknown frame type");
	assert_true(lp_amqp_conn_closed(f->c));

	/* Over the negotiated frame_max (4096 in all). */
	mk(f, NULL, NULL);
	handshake(f, 2047, 4096, 0);
	static const uint8_t big[] = { 1, 0, 0, 0, 0, 0x0F, 0xF9 };
	feed_raw(f, big, sizeof(big));
	assert_last_close(f, 0, 501, "FRAME_ERROR - frame size exceeds frame_max 4096");
	assert_true(lp_amqp_conn_closed(f->c));

	/* Before Tune-Ok the limit is FRAME-MIN-SIZE, as RabbitMQ. */
	mk(f, NULL, NULL);
	feed_raw(f, "AMQP\x00\x00\x09\x01", 8);
	feed_raw(f, big, sizeof(big));
	assert_last_close(f, 0, 501, NULL);

	/* Bad frame end. */
	mk(f, NULL, NULL);
	handshake(f, 2047, 4096, 0);
	static const uint8_t badend[] = { 8, 0, 0, 0, 0, 0, 0, 0xCF };
	feed_raw(f, badend, sizeof(badend));
	assert_last_close(f, 0, 501, "FRAME_ERROR - frame end octet is not 0xCE");

	/* Heartbeat on a channel: 501 (spec 4.2.7). */
	mk(f, NULL, NULL);
	handshake(f, 2047, 4096, 0);
	static const uint8_t hb1[] = { 8, 0, 1, 0, 0, 0, 0, 0xCE };
	feed_raw(f, hb1, sizeof(hb1));
	assert_last_close(f, 0, 501, NULL);

	/* Content header on channel 0: 505. */
	mk(f, NULL, NULL);
	handshake(f, 2047, 4096, 0);
	static const uint8_t hdr0[] = { 2, 0, 0, 0, 0, 0, 0, 0xCE };
	feed_raw(f, hdr0, sizeof(hdr0));
	assert_last_close(f, 0, 505, NULL);

	/* Undecodable method (truncated connection.close): 501. */
	mk(f, NULL, NULL);
	handshake(f, 2047, 4096, 0);
	static const uint8_t trunc[] = { 1, 0, 0, 0, 0, 0, 6, 0, 10, 0, 50, 0, 200, 0xCE };
	feed_raw(f, trunc, sizeof(trunc));
	assert_last_close(f, 0, 501, "FRAME_ERROR - cannot decode connection.close");
	assert_int_equal(lp_amqp_conn_get_state(f->c), LP_AMQP_CONN_CLOSING);

	/* Unknown method: 503. */
	mk(f, NULL, NULL);
	handshake(f, 2047, 4096, 0);
	static const uint8_t unk[] = { 1, 0, 0, 0, 0, 0, 4, 0, 10, 0, 99, 0xCE };
	feed_raw(f, unk, sizeof(unk));
	assert_last_close(f, 0, 503, "COMMAND_INVALID - unknown method 10/99 on channel 0");

	/* Non-connection method on channel 0: 503. */
	mk(f, NULL, NULL);
	handshake(f, 2047, 4096, 0);
	struct lp_amqp_method q = { .id = LP_AMQP_BASIC_QOS };
	feed_method(f, 0, &q);
	assert_last_close(f, 0, 503, NULL);
}

static void test_close_both_ways(void **state)
{
	struct fx *f = *state;
	struct lp_amqp_method m;

	/* Server closes: Close sent, everything but Close-Ok ignored. */
	mk(f, NULL, NULL);
	handshake(f, 2047, 131072, 0);
	assert_int_equal(lp_amqp_conn_close(f->c, LP_AMQP_CONNECTION_FORCED, "broker shutdown"), 0);
	drain(f);
	assert_last_close(f, 0, 320, "CONNECTION_FORCED - broker shutdown");
	assert_int_equal(lp_amqp_conn_close(f->c, 320, "again"), -ENOTCONN);
	size_t before = f->out_len;
	m = (struct lp_amqp_method){ .id = LP_AMQP_CHANNEL_OPEN };
	feed_method(f, 1, &m);
	m = (struct lp_amqp_method){ .id = LP_AMQP_BASIC_QOS };
	feed_method(f, 0, &m);
	feed_raw(f, "\x08\x00\x00\x00\x00\x00\x00\xCE", 8);
	assert_int_equal(f->out_len, before);
	assert_int_equal(lp_amqp_conn_get_state(f->c), LP_AMQP_CONN_CLOSING);
	m = (struct lp_amqp_method){ .id = LP_AMQP_CONNECTION_CLOSE_OK };
	feed_method(f, 0, &m);
	assert_true(lp_amqp_conn_closed(f->c));
	assert_int_equal(f->out_len, before);

	/* Server closes, client never answers: closed after the close timeout. */
	mk(f, NULL, NULL);
	handshake(f, 2047, 131072, 0);
	lp_amqp_conn_close(f->c, 320, "x");
	lp_amqp_conn_tick(f->c, 2 * SEC);
	assert_false(lp_amqp_conn_closed(f->c));
	lp_amqp_conn_tick(f->c, 3 * SEC);
	assert_true(lp_amqp_conn_closed(f->c));

	/* Client closes: Close-Ok and closed. */
	mk(f, NULL, NULL);
	handshake(f, 2047, 131072, 0);
	m = (struct lp_amqp_method){ .id = LP_AMQP_CONNECTION_CLOSE };
	m.connection_close.reply_code = 200;
	m.connection_close.reply_text = lp_amqp_cstr("bye");
	feed_method(f, 0, &m);
	struct bytes e = { .n = 0 };
	expect_simple(&e, 0, 10, 51);
	assert_int_equal(f->out_len, e.n);
	assert_memory_equal(f->out, e.b, e.n);
	assert_true(lp_amqp_conn_closed(f->c));
	/* More Closes (a client's other threads): each gets its Close-Ok, as
	 * RabbitMQ answers what it reads; other frames are ignored. The
	 * socket stays until the linger is over (or the client ends it). */
	assert_false(lp_amqp_conn_done(f->c));
	feed_method(f, 0, &m);
	m = (struct lp_amqp_method){ .id = LP_AMQP_CHANNEL_OPEN };
	feed_method(f, 1, &m);
	m = (struct lp_amqp_method){ .id = LP_AMQP_CONNECTION_CLOSE };
	feed_method(f, 0, &m);
	expect_simple(&e, 0, 10, 51);
	expect_simple(&e, 0, 10, 51);
	assert_int_equal(f->out_len, e.n);
	assert_memory_equal(f->out, e.b, e.n);
	lp_amqp_conn_tick(f->c, LP_AMQP_CLOSE_LINGER_NS / 2);
	assert_false(lp_amqp_conn_done(f->c));
	lp_amqp_conn_tick(f->c, 2 * LP_AMQP_CLOSE_LINGER_NS);
	assert_true(lp_amqp_conn_done(f->c));
	feed_method(f, 0, &m); /* past the linger: nothing more */
	assert_int_equal(f->out_len, e.n);
}

static void test_heartbeats(void **state)
{
	struct fx *f = *state;
	static const uint8_t hb[] = { 8, 0, 0, 0, 0, 0, 0, 0xCE };

	mk(f, NULL, NULL);
	handshake(f, 2047, 131072, 10);
	lp_amqp_conn_tick(f->c, 1 * SEC); /* handshake output counts as sent at 1 s */
	drain(f);
	f->out_len = 0;
	lp_amqp_conn_tick(f->c, 5 * SEC);
	drain(f);
	assert_int_equal(f->out_len, 0);
	lp_amqp_conn_tick(f->c, 6 * SEC); /* 5 s (half the interval) since we sent */
	drain(f);
	assert_int_equal(f->out_len, 8);
	assert_memory_equal(f->out, hb, 8);
	/* The client's heartbeats keep it alive across many intervals. */
	for (uint64_t t = 7; t <= 100; t++) {
		if (t % 10 == 0)
			feed_raw(f, hb, sizeof(hb));
		lp_amqp_conn_tick(f->c, t * SEC);
	}
	assert_false(lp_amqp_conn_closed(f->c));
	drain(f);
	assert_int_equal(f->out_len, 8 + 8 * 18); /* at 6 s, then every 5 s from 11 s to 96 s */
	/* Silent for two intervals (last input seen at 100 s): closed, no Close frame. */
	f->out_len = 0;
	lp_amqp_conn_tick(f->c, 119 * SEC);
	assert_false(lp_amqp_conn_closed(f->c));
	lp_amqp_conn_tick(f->c, 120 * SEC);
	assert_true(lp_amqp_conn_closed(f->c));
	uint16_t code;
	assert_string_equal(lp_amqp_conn_close_reason(f->c, &code), "missed heartbeats from client, timeout: 10s");
	drain(f);
	for (size_t i = 0; i < f->out_len; i += 8)
		assert_memory_equal(f->out + i, hb, 8);

	/* Heartbeat 0 (the client's Tune-Ok): never sent, never missed. */
	mk(f, NULL, NULL);
	handshake(f, 2047, 131072, 0);
	for (uint64_t t = 1; t <= 1000; t += 7)
		lp_amqp_conn_tick(f->c, t * SEC);
	drain(f);
	assert_int_equal(f->out_len, 0);
	assert_false(lp_amqp_conn_closed(f->c));

	/* Handshake timeout: 10 s without reaching Open-Ok. */
	mk(f, NULL, NULL);
	feed_raw(f, "AMQP\x00\x00\x09\x01", 8);
	lp_amqp_conn_tick(f->c, 9 * SEC);
	assert_false(lp_amqp_conn_closed(f->c));
	lp_amqp_conn_tick(f->c, 10 * SEC);
	assert_true(lp_amqp_conn_closed(f->c));
}

static void test_blocked_and_update_secret(void **state)
{
	struct fx *f = *state;
	struct lp_amqp_method m;
	struct bytes e = { .n = 0 }, p = { .n = 0 };

	mk(f, NULL, NULL);
	assert_int_equal(lp_amqp_conn_set_blocked(f->c, true, "x"), -ENOTCONN);
	handshake(f, 2047, 131072, 0);
	assert_int_equal(lp_amqp_conn_set_blocked(f->c, false, NULL), -EALREADY);
	assert_int_equal(lp_amqp_conn_set_blocked(f->c, true, "low on memory"), 0);
	assert_int_equal(lp_amqp_conn_set_blocked(f->c, true, "low on memory"), -EALREADY);
	assert_int_equal(lp_amqp_conn_set_blocked(f->c, false, NULL), 0);
	drain(f);
	put16(&p, 10);
	put16(&p, 60);
	putss(&p, "low on memory");
	method_frame(&e, 0, &p);
	expect_simple(&e, 0, 10, 61);
	assert_int_equal(f->out_len, e.n);
	assert_memory_equal(f->out, e.b, e.n);

	/* Update-Secret: Ok whatever the secret (internal users, as RabbitMQ). */
	f->out_len = 0;
	m = (struct lp_amqp_method){ .id = LP_AMQP_CONNECTION_UPDATE_SECRET };
	m.connection_update_secret.new_secret = lp_amqp_cstr("guest");
	m.connection_update_secret.reason = lp_amqp_cstr("refresh");
	feed_method(f, 0, &m);
	e.n = 0;
	expect_simple(&e, 0, 10, 71);
	assert_int_equal(f->out_len, e.n);
	assert_memory_equal(f->out, e.b, e.n);
	f->out_len = 0;
	m.connection_update_secret.new_secret = lp_amqp_cstr("a-new-token");
	feed_method(f, 0, &m);
	assert_int_equal(f->out_len, e.n);
	assert_memory_equal(f->out, e.b, e.n);
	assert_int_equal(f->c->state, LP_AMQP_CONN_RUNNING);
}

static void test_back_pressure(void **state)
{
	struct fx *f = *state;
	static uint8_t in[2047 * 13];
	size_t n = 0, off = 0;

	f->cfg.outbuf_size = 2 * LP_AMQP_FRAME_MIN_SIZE;
	mk(f, NULL, NULL);
	handshake(f, 2047, 131072, 0);
	/* 2047 Channel.Open frames in one chunk: 2047 * 16 octets of answers. */
	for (uint16_t ch = 1; ch <= 2047; ch++) {
		static const uint8_t tmpl[] = { 1, 0, 0, 0, 0, 0, 5, 0, 20, 0, 10, 0, 0xCE };
		memcpy(in + n, tmpl, sizeof(tmpl));
		in[n + 1] = (uint8_t)(ch >> 8);
		in[n + 2] = (uint8_t)ch;
		n += sizeof(tmpl);
	}
	size_t first = lp_amqp_conn_input(f->c, in, n);
	assert_true(first < n); /* stopped: the send buffer is full */
	const uint8_t *p;
	assert_true(lp_amqp_conn_output_peek(f->c, &p) <= f->cfg.outbuf_size);
	off = first;
	drain(f);
	for (int guard = 0; off < n && guard < 10000; guard++) {
		off += lp_amqp_conn_input(f->c, in + off, n - off);
		drain(f);
	}
	assert_int_equal(off, n);
	assert_int_equal(f->out_len, 2047 * 16);
	assert_int_equal(f->c->channels_open, 2047);
}

/*
 * Deliveries never stop the reading of input: as many as
 * lp_amqp_conn_can_take admits, or one content larger than the send buffer
 * written alone, and a Channel.Open is still read and answered without
 * draining anything (a consumer republishing from its delivery handler
 * would otherwise wait for the broker while the broker waits for it).
 */
static void test_deliveries_leave_room_for_input(void **state)
{
	struct fx *f = *state;
	static uint8_t body[20000];
	struct lp_amqp_method d = { .id = LP_AMQP_BASIC_DELIVER };
	struct lp_amqp_method co = { .id = LP_AMQP_CHANNEL_OPEN };
	static const uint8_t open2[] = { 1, 0, 2, 0, 0, 0, 5, 0, 20, 0, 10, 0, 0xCE };
	static const uint8_t open3[] = { 1, 0, 3, 0, 0, 0, 5, 0, 20, 0, 10, 0, 0xCE };
	const uint8_t *p;
	unsigned n = 0;

	f->cfg.outbuf_size = 1 << 16;
	mk(f, NULL, NULL);
	handshake(f, 2047, 131072, 0);
	feed_method(f, 1, &co);
	d.basic_deliver.consumer_tag = lp_amqp_cstr("ctag");
	while (lp_amqp_conn_can_take(f->c, 600)) {
		d.basic_deliver.delivery_tag = ++n;
		assert_true(lp_amqp_conn_send_content(f->c, 1, &d, NULL, body, 512) > 0);
	}
	assert_true(n > 10);
	size_t full = lp_amqp_conn_output_peek(f->c, &p);
	assert_int_equal(lp_amqp_conn_input(f->c, open2, sizeof(open2)), sizeof(open2));
	assert_int_equal(lp_amqp_conn_output_peek(f->c, &p), full + 16); /* Open-Ok */
	assert_int_equal(lp_amqp_channel_state(f->c, 2), LP_AMQP_CH_OPEN);
	/* One content larger than the buffer, on an empty buffer. */
	f->out_len = 0;
	drain(f);
	f->cfg.outbuf_size = 8192;
	mk(f, NULL, NULL);
	handshake(f, 2047, 131072, 0);
	feed_method(f, 1, &co);
	f->out_len = 0;
	assert_true(lp_amqp_conn_can_take(f->c, sizeof(body) + 100));
	assert_true(lp_amqp_conn_send_content(f->c, 1, &d, NULL, body, sizeof(body)) > 20000);
	assert_false(lp_amqp_conn_can_take(f->c, 600));
	full = lp_amqp_conn_output_peek(f->c, &p);
	assert_int_equal(lp_amqp_conn_input(f->c, open3, sizeof(open3)), sizeof(open3));
	assert_int_equal(lp_amqp_conn_output_peek(f->c, &p), full + 16);
	drain(f);
}

static void test_send_content(void **state)
{
	struct fx *f = *state;
	static uint8_t body[10000];
	struct lp_amqp_method m = { .id = LP_AMQP_BASIC_DELIVER };
	struct lp_amqp_basic_properties props = { .flags = LP_AMQP_BASIC_CONTENT_TYPE_FLAG,
						  .content_type = lp_amqp_cstr("text/plain") };

	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(i * 7);
	f->cfg.outbuf_size = 2 * LP_AMQP_FRAME_MIN_SIZE;
	mk(f, NULL, NULL);
	struct lp_amqp_method co = { .id = LP_AMQP_CHANNEL_OPEN };
	assert_int_equal(lp_amqp_conn_send_content(f->c, 1, &m, &props, body, 10), -ENOTCONN);
	handshake(f, 2047, 4096, 0);
	feed_method(f, 1, &co);
	f->out_len = 0;
	m.basic_deliver.consumer_tag = lp_amqp_cstr("ctag");
	m.basic_deliver.delivery_tag = 42;
	m.basic_deliver.routing_key = lp_amqp_cstr("rk");
	/* 4000 octets at frame_max 4096: one body frame. */
	int n = lp_amqp_conn_send_content(f->c, 1, &m, &props, body, 4000);
	assert_true(n > 4000);
	/* 10000 more do not fit in the 8192-octet buffer: nothing written. */
	const uint8_t *p;
	size_t before = lp_amqp_conn_output_peek(f->c, &p);
	assert_int_equal(before, (size_t)n);
	assert_false(lp_amqp_conn_can_take(f->c, 10000 + 100));
	lp_amqp_outbuf_set_grow(&f->c->out, 0);
	assert_int_equal(lp_amqp_conn_send_content(f->c, 1, &m, &props, body, 10000), -ENOSPC);
	assert_int_equal(lp_amqp_conn_output_peek(f->c, &p), before);
	drain(f);
	/* Read back: deliver, header, one body frame of 4000. */
	uint8_t tmp[8192];
	struct golden_frame fr[8];
	memcpy(tmp + 8, f->out, f->out_len);
	assert_int_equal(golden_frames(tmp, f->out_len + 8, fr, 8), 3);
	struct lp_amqp_method d;
	assert_int_equal(lp_amqp_method_decode(fr[0].payload, fr[0].size, &d), 0);
	assert_int_equal(d.id, LP_AMQP_BASIC_DELIVER);
	assert_true(d.basic_deliver.delivery_tag == 42);
	struct lp_amqp_content_header h;
	assert_int_equal(lp_amqp_content_header_decode(fr[1].payload, fr[1].size, &h), 0);
	assert_true(h.body_size == 4000);
	assert_true(lp_amqp_bytes_eq(h.props.content_type, "text/plain"));
	assert_int_equal(fr[2].type, 3);
	assert_int_equal(fr[2].size, 4000);
	assert_memory_equal(fr[2].payload, body, 4000);
	/* With room again, the big one goes out split at frame_max. */
	f->out_len = 0;
	f->cfg.outbuf_size = 1 << 16;
	mk(f, NULL, NULL);
	handshake(f, 2047, 4096, 0);
	assert_true(lp_amqp_conn_send_content(f->c, 1, &m, &props, body, 10000) > 10000);
	drain(f);
	static uint8_t big[1 << 16];
	memcpy(big + 8, f->out, f->out_len);
	assert_int_equal(golden_frames(big, f->out_len + 8, fr, 8), 5);
	assert_int_equal(fr[2].size, 4088);
	assert_int_equal(fr[3].size, 4088);
	assert_int_equal(fr[4].size, 10000 - 2 * 4088);
}

/* --- contents larger than the send buffer (amqp_conn.h) --- */

struct wire_out {
	uint8_t *p;
	size_t len, cap;
};

/* Moves up to 'piece' octets of pending output to o, as TCP would. */
static size_t drain_piece(struct fx *f, struct wire_out *o, size_t piece)
{
	const uint8_t *p;
	size_t n = lp_amqp_conn_output_peek(f->c, &p);

	if (n > piece)
		n = piece;
	assert_true(o->len + n <= o->cap);
	memcpy(o->p + o->len, p, n);
	o->len += n;
	lp_amqp_conn_output_consume(f->c, n);
	return n;
}

struct parsed {
	uint8_t type;
	uint16_t channel;
	uint32_t size;
	struct lp_amqp_method m;        /* method frames */
	struct lp_amqp_content_header h; /* header frames */
	size_t body_off;                 /* body frames: offset of the payload in 'bodies' */
};

/* Splits o into frames with the codec's reader at frame_max (a bigger frame
 * fails the test); body payloads are copied to *bodies in order. */
static size_t parse_all(const struct wire_out *o, uint32_t frame_max, struct parsed *v, size_t max,
			uint8_t *bodies, size_t bodies_cap)
{
	struct lp_amqp_frame_reader r;
	uint8_t *rbuf = malloc(frame_max);
	size_t off = 0, n = 0, bl = 0;

	assert_non_null(rbuf);
	lp_amqp_frame_reader_init(&r, rbuf, frame_max);
	while (off < o->len) {
		struct lp_amqp_frame fr;
		size_t used, chunk = o->len - off < 5003 ? o->len - off : 5003;
		int rc = lp_amqp_frame_read(&r, o->p + off, chunk, &used, &fr);

		assert_true(rc >= 0); /* -EMSGSIZE: a frame over frame_max */
		off += used;
		if (rc == 0)
			continue;
		assert_true(n < max);
		assert_true(fr.size + LP_AMQP_FRAME_OVERHEAD <= frame_max);
		v[n] = (struct parsed){ .type = fr.type, .channel = fr.channel, .size = fr.size };
		if (fr.type == LP_AMQP_FRAME_METHOD) {
			assert_int_equal(lp_amqp_method_decode(fr.payload, fr.size, &v[n].m), 0);
		} else if (fr.type == LP_AMQP_FRAME_HEADER) {
			assert_int_equal(lp_amqp_content_header_decode(fr.payload, fr.size, &v[n].h), 0);
		} else if (fr.type == LP_AMQP_FRAME_BODY) {
			assert_true(bl + fr.size <= bodies_cap);
			memcpy(bodies + bl, fr.payload, fr.size);
			v[n].body_off = bl;
			bl += fr.size;
		}
		n++;
	}
	assert_int_equal(r.have, 0); /* no partial frame left */
	free(rbuf);
	return n;
}

static void basic_ack(struct fx *f, uint16_t ch, uint64_t tag)
{
	struct lp_amqp_method a = { .id = LP_AMQP_BASIC_ACK };

	a.basic_ack.delivery_tag = tag;
	assert_true(lp_amqp_conn_send_method(f->c, ch, &a) > 0);
}

/*
 * A body of body_len octets through a connection with the default 256 KiB
 * send buffer at frame_max: admitted on an empty buffer, written whole; a
 * confirm on the same and on another channel and a small delivery written
 * right after it and more confirms written while TCP drains it in uneven
 * pieces all come out after its last body frame, in order; every frame
 * within frame_max; the body byte-identical; the heap buffer gone at the end.
 */
static void large_content(struct fx *f, uint32_t frame_max, size_t body_len, unsigned seed)
{
	struct lp_amqp_method d = { .id = LP_AMQP_BASIC_DELIVER }, co = { .id = LP_AMQP_CHANNEL_OPEN };
	struct lp_amqp_basic_properties props = {
		.flags = LP_AMQP_BASIC_CONTENT_TYPE_FLAG | LP_AMQP_BASIC_DELIVERY_MODE_FLAG |
			 LP_AMQP_BASIC_MESSAGE_ID_FLAG,
		.content_type = lp_amqp_cstr("application/octet-stream"),
		.delivery_mode = 2,
		.message_id = lp_amqp_cstr("big-1"),
	};
	uint8_t *body = malloc(body_len);
	struct wire_out o = { .cap = body_len + (4 << 20) };
	size_t max_frames = body_len / (frame_max - 8) + 4096, nf, i, confirms = 0;
	struct parsed *v = calloc(max_frames, sizeof(*v));
	uint8_t *bodies = malloc(body_len + 4096);
	const uint8_t *p;

	assert_non_null(body);
	assert_non_null(v);
	assert_non_null(bodies);
	o.p = malloc(o.cap);
	assert_non_null(o.p);
	for (i = 0; i < body_len; i++)
		body[i] = (uint8_t)((i * 2654435761u) >> 13 ^ seed);
	lp_amqp_conn_cfg_default(&f->cfg);
	f->cfg.version = "0.1.0";
	assert_int_equal(f->cfg.outbuf_size, 256 * 1024);
	mk(f, NULL, NULL);
	handshake(f, 2047, frame_max, 0);
	feed_method(f, 1, &co);
	feed_method(f, 2, &co);
	f->out_len = 0;
	assert_int_equal(lp_amqp_conn_output_peek(f->c, &p), 0);

	d.basic_deliver.consumer_tag = lp_amqp_cstr("ctag-big");
	d.basic_deliver.delivery_tag = 42;
	d.basic_deliver.exchange = lp_amqp_cstr("");
	d.basic_deliver.routing_key = lp_amqp_cstr("q.big");
	/* What a broker would promise for it (method + content). */
	size_t wire = 1024 + (size_t)lp_amqp_content_wire_size(64, body_len, frame_max);
	assert_true(wire > f->cfg.outbuf_size);
	assert_true(lp_amqp_conn_can_take(f->c, wire));
	int n = lp_amqp_conn_send_content(f->c, 1, &d, &props, body, body_len);
	assert_true(n > 0 && (size_t)n > body_len);
	assert_true(lp_amqp_outbuf_grown(&f->c->out));
	/* Pending: nothing more is admitted, not even a small delivery... */
	assert_false(lp_amqp_conn_can_take(f->c, 200));
	assert_false(lp_amqp_conn_can_take(f->c, wire));
	/* ...but whatever is written is accepted and goes after it. */
	basic_ack(f, 1, 7);
	basic_ack(f, 2, 9);
	d.basic_deliver.consumer_tag = lp_amqp_cstr("ctag-small");
	d.basic_deliver.delivery_tag = 1;
	assert_true(lp_amqp_conn_send_content(f->c, 2, &d, &props, (const uint8_t *)"hello", 5) > 0);

	/* TCP takes uneven pieces; confirms keep coming meanwhile. */
	unsigned r = seed;
	for (int guard = 0; guard < 1000000; guard++) {
		r = r * 1103515245u + 12345u;
		size_t piece = 1 + (r >> 8) % 70001;
		if (guard % 3 == 0)
			piece %= 300; /* some tiny ones */
		if (drain_piece(f, &o, piece + 1) == 0)
			break;
		if (guard % 7 == 0)
			basic_ack(f, 1, 100 + confirms++);
		if (lp_amqp_outbuf_len(&f->c->out) <= f->cfg.outbuf_size)
			assert_false(lp_amqp_outbuf_grown(&f->c->out)); /* shrunk back */
	}
	assert_int_equal(lp_amqp_conn_output_peek(f->c, &p), 0);
	assert_false(lp_amqp_outbuf_grown(&f->c->out));
	assert_true(lp_amqp_conn_can_take(f->c, 200));
	assert_true(confirms > 3);

	nf = parse_all(&o, frame_max, v, max_frames, bodies, body_len + 4096);
	/* Deliver, header, then only its body frames up to body_size. */
	assert_true(nf >= 3);
	assert_int_equal(v[0].type, LP_AMQP_FRAME_METHOD);
	assert_int_equal(v[0].channel, 1);
	assert_int_equal(v[0].m.id, LP_AMQP_BASIC_DELIVER);
	assert_true(v[0].m.basic_deliver.delivery_tag == 42);
	assert_int_equal(v[1].type, LP_AMQP_FRAME_HEADER);
	assert_int_equal(v[1].channel, 1);
	assert_true(v[1].h.body_size == body_len);
	assert_true(lp_amqp_bytes_eq(v[1].h.props.content_type, "application/octet-stream"));
	assert_true(lp_amqp_bytes_eq(v[1].h.props.message_id, "big-1"));
	assert_int_equal(v[1].h.props.delivery_mode, 2);
	size_t got = 0;
	for (i = 2; got < body_len; i++) {
		assert_true(i < nf);
		assert_int_equal(v[i].type, LP_AMQP_FRAME_BODY);
		assert_int_equal(v[i].channel, 1);
		assert_true(v[i].size > 0);
		got += v[i].size;
	}
	assert_int_equal(got, body_len);
	assert_int_equal(i - 2, (body_len + frame_max - 9) / (frame_max - 8));
	assert_memory_equal(bodies, body, body_len);
	/* Then, in the order written: the two confirms, the small delivery, the rest. */
	assert_true(nf == i + 5 + confirms);
	assert_int_equal(v[i].m.id, LP_AMQP_BASIC_ACK);
	assert_int_equal(v[i].channel, 1);
	assert_true(v[i].m.basic_ack.delivery_tag == 7);
	assert_int_equal(v[i + 1].m.id, LP_AMQP_BASIC_ACK);
	assert_int_equal(v[i + 1].channel, 2);
	assert_true(v[i + 1].m.basic_ack.delivery_tag == 9);
	assert_int_equal(v[i + 2].m.id, LP_AMQP_BASIC_DELIVER);
	assert_int_equal(v[i + 2].channel, 2);
	assert_int_equal(v[i + 3].type, LP_AMQP_FRAME_HEADER);
	assert_true(v[i + 3].h.body_size == 5);
	assert_int_equal(v[i + 4].type, LP_AMQP_FRAME_BODY);
	assert_int_equal(v[i + 4].size, 5);
	assert_memory_equal(bodies + v[i + 4].body_off, "hello", 5);
	for (size_t k = 0; k < confirms; k++) {
		assert_int_equal(v[i + 5 + k].m.id, LP_AMQP_BASIC_ACK);
		assert_true(v[i + 5 + k].m.basic_ack.delivery_tag == 100 + k);
	}
	free(o.p);
	free(body);
	free(bodies);
	free(v);
}

static void test_large_content_1mib(void **state)
{
	large_content(*state, 131072, 1 << 20, 1);
}

static void test_large_content_1mib_min_frames(void **state)
{
	large_content(*state, 4096, (1 << 20) + 1, 2);
}

static void test_large_content_20mib(void **state)
{
	large_content(*state, 131072, 20 << 20, 3);
}

/* The limits: a second large content is not admitted while one is pending
 * (but a Get-Ok/Return written anyway is taken); past the growth limit
 * nothing is written and what is pending stays intact. */
static void test_large_content_limits(void **state)
{
	struct fx *f = *state;
	struct lp_amqp_method d = { .id = LP_AMQP_BASIC_GET_OK };
	struct lp_amqp_basic_properties props = { 0 };
	size_t len = 1 << 20;
	uint8_t *body = calloc(1, len);
	const uint8_t *p;

	assert_non_null(body);
	lp_amqp_conn_cfg_default(&f->cfg);
	f->cfg.max_message_size = 2 << 20;
	mk(f, NULL, NULL);
	handshake(f, 2047, 131072, 0);
	f->out_len = 0;
	/* Over what max_message_size needs: not admitted even on an empty buffer. */
	assert_false(lp_amqp_conn_can_take(f->c, f->c->out_content_max + 1));
	assert_true(lp_amqp_conn_can_take(f->c, f->c->out_content_max));
	assert_true(lp_amqp_conn_send_content(f->c, 1, &d, &props, body, len) > 0);
	size_t one = lp_amqp_conn_output_peek(f->c, &p);
	assert_false(lp_amqp_conn_can_take(f->c, len));
	assert_true(lp_amqp_conn_send_content(f->c, 1, &d, &props, body, len) > 0);
	assert_int_equal(lp_amqp_conn_output_peek(f->c, &p), 2 * one);
	/* Growth capped: all or nothing, the pending octets untouched. */
	lp_amqp_outbuf_set_grow(&f->c->out, 2 * one + 1000);
	assert_int_equal(lp_amqp_conn_send_content(f->c, 1, &d, &props, body, len), -ENOSPC);
	assert_int_equal(lp_amqp_conn_output_peek(f->c, &p), 2 * one);
	/* Released with the heap buffer still held: freed (ASan's leak check). */
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pika_replay_every_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pika_replay_with_broker_callbacks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_amqp_tools_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_amqp_tools_empty_vhost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_protocol_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tune_and_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_frame_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_both_ways, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heartbeats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocked_and_update_secret, setup, teardown),
		cmocka_unit_test_setup_teardown(test_back_pressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deliveries_leave_room_for_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_content, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_content_1mib, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_content_1mib_min_frames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_content_20mib, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_content_limits, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
