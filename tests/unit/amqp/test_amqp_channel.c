/* SPDX-License-Identifier: MIT */
/*
 * Channels: Open/Open-Ok, Close/Close-Ok both ways, Flow, access.request,
 * channel errors soft (Channel.Close) and hard (Connection.Close), content
 * assembly (method, header, body frames) into the broker callbacks and every
 * way a client can get it wrong, 540 for what no broker handles yet.
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
#include "conn_fixture.h"

static void open_channel(struct fx *f, uint16_t ch)
{
	struct lp_amqp_method m = { .id = LP_AMQP_CHANNEL_OPEN };
	struct bytes e = { .n = 0 };
	size_t before = f->out_len;

	feed_method(f, ch, &m);
	expect_channel_open_ok(&e, ch);
	assert_int_equal(f->out_len - before, e.n);
	assert_memory_equal(f->out + before, e.b, e.n);
	assert_int_equal(lp_amqp_channel_state(f->c, ch), LP_AMQP_CH_OPEN);
}

/* Frame builders for content. */
static void feed_header(struct fx *f, uint16_t ch, uint16_t cls, uint64_t body_size)
{
	struct bytes p = { .n = 0 }, fr = { .n = 0 };
	put16(&p, cls);
	put16(&p, 0);
	put32(&p, (uint32_t)(body_size >> 32));
	put32(&p, (uint32_t)body_size);
	put16(&p, 0x1000); /* delivery-mode */
	put8(&p, 2);
	put8(&fr, 2);
	put16(&fr, ch);
	put32(&fr, (uint32_t)p.n);
	putraw(&fr, &p);
	put8(&fr, 0xCE);
	feed_raw(f, fr.b, fr.n);
}

static void feed_body(struct fx *f, uint16_t ch, const char *s)
{
	struct bytes fr = { .n = 0 };
	put8(&fr, 3);
	put16(&fr, ch);
	put32(&fr, (uint32_t)strlen(s));
	memcpy(fr.b + fr.n, s, strlen(s));
	fr.n += strlen(s);
	put8(&fr, 0xCE);
	feed_raw(f, fr.b, fr.n);
}

static void publish(struct fx *f, uint16_t ch)
{
	struct lp_amqp_method m = { .id = LP_AMQP_BASIC_PUBLISH };
	m.basic_publish.routing_key = lp_amqp_cstr("rk");
	feed_method(f, ch, &m);
}

struct rec {
	int methods, headers, bodies, closes;
	uint64_t body_size;
	char body[256];
	size_t body_len;
	int lasts;
	int method_rc;	/* what on_method returns */
	bool raise_404; /* on_method raises NOT_FOUND itself */
};

static int r_method(void *ctx, struct lp_amqp_conn *c, uint16_t ch, const struct lp_amqp_method *m)
{
	struct rec *r = ctx;
	r->methods++;
	if (r->raise_404) {
		assert_int_equal(lp_amqp_channel_error(c, ch, LP_AMQP_NOT_FOUND, m->id, "no queue '%s' in vhost '/'",
						       "q"),
				 0);
		return -ENOENT;
	}
	if (m->id == LP_AMQP_QUEUE_DECLARE && r->method_rc == 0) {
		struct lp_amqp_method ok = { .id = LP_AMQP_QUEUE_DECLARE_OK };
		ok.queue_declare_ok.queue = m->queue_declare.queue;
		assert_true(lp_amqp_conn_send_method(c, ch, &ok) > 0);
	}
	return r->method_rc;
}
static int r_header(void *ctx, struct lp_amqp_conn *c, uint16_t ch, const struct lp_amqp_content_header *h)
{
	(void)c, (void)ch;
	struct rec *r = ctx;
	r->headers++;
	r->body_size = h->body_size;
	assert_int_equal(h->props.delivery_mode, 2);
	return 0;
}
static int r_body(void *ctx, struct lp_amqp_conn *c, uint16_t ch, const uint8_t *p, size_t len, bool last)
{
	(void)c, (void)ch;
	struct rec *r = ctx;
	r->bodies++;
	memcpy(r->body + r->body_len, p, len);
	r->body_len += len;
	r->lasts += last;
	return 0;
}
static void r_close(void *ctx, struct lp_amqp_conn *c, uint16_t ch)
{
	(void)c, (void)ch;
	((struct rec *)ctx)->closes++;
}

static const struct lp_amqp_conn_ops rec_ops = {
	.on_method = r_method,
	.on_content_header = r_header,
	.on_content_body = r_body,
	.on_channel_close = r_close,
};

static void test_open_close(void **state)
{
	struct fx *f = *state;
	struct lp_amqp_method m;
	struct bytes e = { .n = 0 };

	mk(f, NULL, NULL);
	handshake(f, 2047, 131072, 0);
	open_channel(f, 1);
	open_channel(f, 2047);
	/* Client closes 1: Close-Ok, and 1 can be opened again. */
	m = (struct lp_amqp_method){ .id = LP_AMQP_CHANNEL_CLOSE };
	m.channel_close.reply_code = 200;
	f->out_len = 0;
	feed_method(f, 1, &m);
	expect_simple(&e, 1, 20, 41);
	assert_int_equal(f->out_len, e.n);
	assert_memory_equal(f->out, e.b, e.n);
	assert_int_equal(lp_amqp_channel_state(f->c, 1), LP_AMQP_CH_CLOSED);
	open_channel(f, 1);
	/* Second open: 504 CHANNEL_ERROR, connection closed (RabbitMQ). */
	m = (struct lp_amqp_method){ .id = LP_AMQP_CHANNEL_OPEN };
	feed_method(f, 1, &m);
	assert_last_close(f, 0, 504, "CHANNEL_ERROR - second 'channel.open' seen");
	assert_int_equal(lp_amqp_conn_get_state(f->c), LP_AMQP_CONN_CLOSING);
	assert_int_equal(f->c->channels_open, 0);

	/* Anything but Open on a channel never opened: 504. */
	mk(f, NULL, NULL);
	handshake(f, 2047, 131072, 0);
	m = (struct lp_amqp_method){ .id = LP_AMQP_BASIC_QOS };
	feed_method(f, 3, &m);
	assert_last_close(f, 0, 504, "CHANNEL_ERROR - expected 'channel.open' on channel 3");
}

static void test_server_close_and_errors(void **state)
{
	struct fx *f = *state;
	struct rec r = { .raise_404 = true };
	struct lp_amqp_method m;

	mk(f, &rec_ops, &r);
	handshake(f, 2047, 131072, 0);
	open_channel(f, 1);
	open_channel(f, 2);
	/* The broker raises a soft error: Channel.Close 404 on that channel only. */
	m = (struct lp_amqp_method){ .id = LP_AMQP_QUEUE_DECLARE };
	m.queue_declare.queue = lp_amqp_cstr("q");
	feed_method(f, 1, &m);
	assert_last_close(f, 1, 404, "NOT_FOUND - no queue 'q' in vhost '/'");
	assert_int_equal(lp_amqp_channel_state(f->c, 1), LP_AMQP_CH_CLOSING);
	assert_int_equal(r.closes, 1);
	/* While closing: the rest is ignored, even content frames. */
	size_t before = f->out_len;
	publish(f, 1);
	feed_header(f, 1, 60, 5);
	feed_body(f, 1, "hello");
	assert_int_equal(f->out_len, before);
	assert_int_equal(r.methods, 1);
	/* Client's Close-Ok: closed, can reopen. */
	m = (struct lp_amqp_method){ .id = LP_AMQP_CHANNEL_CLOSE_OK };
	feed_method(f, 1, &m);
	assert_int_equal(lp_amqp_channel_state(f->c, 1), LP_AMQP_CH_CLOSED);
	open_channel(f, 1);
	/* Channel 2 never noticed. */
	assert_int_equal(lp_amqp_channel_state(f->c, 2), LP_AMQP_CH_OPEN);
	/* A hard code raised on a channel closes the connection. */
	assert_int_equal(lp_amqp_channel_error(f->c, 2, LP_AMQP_CHANNEL_ERROR, 0, "x"), 0);
	drain(f);
	assert_last_close(f, 0, 504, "CHANNEL_ERROR - x");
	assert_int_equal(lp_amqp_channel_error(f->c, 2, 404, 0, "x"), -ENOENT);
}

static void test_not_implemented_without_broker(void **state)
{
	struct fx *f = *state;
	struct lp_amqp_method m = { .id = LP_AMQP_QUEUE_DECLARE };

	mk(f, NULL, NULL);
	handshake(f, 2047, 131072, 0);
	open_channel(f, 5);
	feed_method(f, 5, &m);
	/* 540 is a hard error (spec 1.3; RabbitMQ's not_implemented closes
	 * the connection). */
	assert_last_close(f, 0, 540,
			  "NOT_IMPLEMENTED - queue.declare is not implemented by this worker");
	assert_int_equal(lp_amqp_conn_get_state(f->c), LP_AMQP_CONN_CLOSING);
	assert_int_equal(lp_amqp_channel_state(f->c, 5), LP_AMQP_CH_CLOSED);
	/* A client that closes the channel at the same time: ignored while
	 * the connection closes (spec 2.2.4). */
	m = (struct lp_amqp_method){ .id = LP_AMQP_CHANNEL_CLOSE };
	f->out_len = 0;
	feed_method(f, 5, &m);
	assert_int_equal(f->out_len, 0);
}

/* A method answered later (-EINPROGRESS): nothing after it is read until resume. */
static int paused_calls;
static int pause_first(void *ctx, struct lp_amqp_conn *c, uint16_t ch, const struct lp_amqp_method *m)
{
	(void)ctx, (void)c, (void)ch, (void)m;
	return paused_calls++ == 0 ? -EINPROGRESS : 0;
}

static void test_pause_until_resume(void **state)
{
	static const struct lp_amqp_conn_ops ops = { .on_method = pause_first };
	struct fx *f = *state;
	struct lp_amqp_method m1 = { .id = LP_AMQP_QUEUE_DECLARE }, m2 = { .id = LP_AMQP_BASIC_QOS };
	uint8_t buf[256], frame[256];
	size_t len = 0;

	mk(f, &ops, NULL);
	handshake(f, 2047, 131072, 0);
	open_channel(f, 1);
	paused_calls = 0;
	/* Two method frames in one chunk. */
	const struct lp_amqp_method *ms[2] = { &m1, &m2 };
	size_t first_len = 0;
	for (int i = 0; i < 2; i++) {
		int n = lp_amqp_method_encode(ms[i], frame, sizeof(frame));
		assert_true(n > 0);
		buf[len] = 1;
		buf[len + 1] = 0;
		buf[len + 2] = 1;
		buf[len + 3] = buf[len + 4] = buf[len + 5] = 0;
		buf[len + 6] = (uint8_t)n;
		memcpy(buf + len + 7, frame, (size_t)n);
		buf[len + 7 + n] = 0xCE;
		len += 8 + (size_t)n;
		if (i == 0)
			first_len = len;
	}
	assert_int_equal(lp_amqp_conn_input(f->c, buf, len), first_len);
	assert_true(lp_amqp_conn_paused(f->c));
	assert_int_equal(paused_calls, 1);
	assert_int_equal(lp_amqp_conn_input(f->c, buf + first_len, len - first_len), 0);
	assert_int_equal(paused_calls, 1);
	lp_amqp_conn_resume(f->c);
	assert_int_equal(lp_amqp_conn_input(f->c, buf + first_len, len - first_len), len - first_len);
	assert_int_equal(paused_calls, 2);
	assert_int_equal(lp_amqp_channel_state(f->c, 1), LP_AMQP_CH_OPEN);
}

/* Channel.Flow active=true is answered; active=false closes the connection
 * with 540 as RabbitMQ's; Access.Request gets ticket 1. */
static void test_flow_and_access(void **state)
{
	struct fx *f = *state;
	struct lp_amqp_method m = { .id = LP_AMQP_CHANNEL_FLOW };
	struct bytes e = { .n = 0 }, p = { .n = 0 };

	mk(f, NULL, NULL);
	handshake(f, 2047, 131072, 0);
	open_channel(f, 1);
	f->out_len = 0;
	m.channel_flow.active = true;
	feed_method(f, 1, &m);
	put16(&p, 20);
	put16(&p, 21);
	put8(&p, 1);
	method_frame(&e, 1, &p);
	assert_int_equal(f->out_len, e.n);
	assert_memory_equal(f->out, e.b, e.n);
	assert_true(f->c->channels[1].flow_active);

	f->out_len = 0;
	m = (struct lp_amqp_method){ .id = LP_AMQP_ACCESS_REQUEST };
	m.access_request.realm = lp_amqp_cstr("/data");
	feed_method(f, 1, &m);
	e.n = p.n = 0;
	put16(&p, 30);
	put16(&p, 11);
	put16(&p, 1);
	method_frame(&e, 1, &p);
	assert_int_equal(f->out_len, e.n);
	assert_memory_equal(f->out, e.b, e.n);

	/* RabbitMQ does not stop deliveries for a client: active=false closes
	 * the connection with 540 (rabbit_channel, a hard error). */
	f->out_len = 0;
	m = (struct lp_amqp_method){ .id = LP_AMQP_CHANNEL_FLOW };
	m.channel_flow.active = false;
	feed_method(f, 1, &m);
	assert_last_close(f, 0, 540, "NOT_IMPLEMENTED - active=false");
}

static void test_content(void **state)
{
	struct fx *f = *state;
	struct rec r = { 0 };
	struct lp_amqp_method m;

	mk(f, &rec_ops, &r);
	handshake(f, 2047, 131072, 0);
	open_channel(f, 1);
	f->out_len = 0;
	/* A body in three frames. */
	publish(f, 1);
	feed_header(f, 1, 60, 11);
	feed_body(f, 1, "hel");
	feed_body(f, 1, "lo le");
	assert_int_equal(r.lasts, 0);
	feed_body(f, 1, "pus");
	assert_int_equal(r.headers, 1);
	assert_int_equal(r.bodies, 3);
	assert_int_equal(r.lasts, 1);
	assert_int_equal(r.body_len, 11);
	assert_memory_equal(r.body, "hello lepus", 11);
	/* Empty body: no body frame, the next method is taken. */
	publish(f, 1);
	feed_header(f, 1, 60, 0);
	m = (struct lp_amqp_method){ .id = LP_AMQP_QUEUE_DECLARE };
	m.queue_declare.queue = lp_amqp_cstr("q1");
	feed_method(f, 1, &m);
	assert_int_equal(r.methods, 3);
	assert_int_equal(r.headers, 2);
	assert_int_equal(r.bodies, 3);
	/* The broker's reply went out. */
	struct golden_frame fr[4];
	uint8_t tmp[256];
	memcpy(tmp + 8, f->out, f->out_len);
	assert_int_equal(golden_frames(tmp, f->out_len + 8, fr, 4), 1);
	assert_int_equal(be16_at(fr[0].payload + 2), 11);
	assert_false(lp_amqp_conn_closed(f->c));
}

static void test_content_errors(void **state)
{
	struct fx *f = *state;
	struct rec r = { 0 };
	struct lp_amqp_method m = { .id = LP_AMQP_BASIC_QOS };

	/* A method where the header belongs: 505. */
	mk(f, &rec_ops, &r);
	handshake(f, 2047, 131072, 0);
	open_channel(f, 1);
	publish(f, 1);
	feed_method(f, 1, &m);
	assert_last_close(f, 0, 505,
			  "UNEXPECTED_FRAME - expected content header for class 60, got non content header frame instead");

	/* Header for another class: 505. */
	mk(f, &rec_ops, &r);
	handshake(f, 2047, 131072, 0);
	open_channel(f, 1);
	publish(f, 1);
	feed_header(f, 1, 50, 3);
	assert_last_close(f, 0, 505,
			  "UNEXPECTED_FRAME - expected content header for class 60, got one for class 50 instead");

	/* A method where body is expected: 505. */
	mk(f, &rec_ops, &r);
	handshake(f, 2047, 131072, 0);
	open_channel(f, 1);
	publish(f, 1);
	feed_header(f, 1, 60, 3);
	feed_method(f, 1, &m);
	assert_last_close(f, 0, 505, "UNEXPECTED_FRAME - expected content body, got non content body frame instead");

	/* More body than announced: 501. */
	mk(f, &rec_ops, &r);
	handshake(f, 2047, 131072, 0);
	open_channel(f, 1);
	publish(f, 1);
	feed_header(f, 1, 60, 3);
	feed_body(f, 1, "four");
	assert_last_close(f, 0, 501, NULL);

	/* Header or body with no method before: 505. */
	mk(f, &rec_ops, &r);
	handshake(f, 2047, 131072, 0);
	open_channel(f, 1);
	feed_body(f, 1, "x");
	assert_last_close(f, 0, 505, "UNEXPECTED_FRAME - expected method frame, got non method frame instead");

	/* Over max_message_size: 406 on the channel, the rest of it ignored. */
	f->cfg.max_message_size = 10;
	mk(f, &rec_ops, &r);
	handshake(f, 2047, 131072, 0);
	open_channel(f, 1);
	publish(f, 1);
	feed_header(f, 1, 60, 11);
	assert_last_close(f, 1, 406, "PRECONDITION_FAILED - message size 11 is larger than configured max size 10");
	size_t before = f->out_len;
	feed_body(f, 1, "hello lepus");
	assert_int_equal(f->out_len, before);
	assert_int_equal(lp_amqp_conn_get_state(f->c), LP_AMQP_CONN_RUNNING);
}

static void test_wrong_direction_methods(void **state)
{
	struct fx *f = *state;
	struct rec r = { 0 };
	struct lp_amqp_method m;

	/* Server-only methods from a client: 503 "unimplemented method". */
	static const uint32_t server_only[] = { LP_AMQP_BASIC_DELIVER, LP_AMQP_QUEUE_DECLARE_OK,
						LP_AMQP_CHANNEL_OPEN_OK, LP_AMQP_CHANNEL_CLOSE_OK };
	for (size_t i = 0; i < 4; i++) {
		mk(f, &rec_ops, &r);
		handshake(f, 2047, 131072, 0);
		open_channel(f, 1);
		m = (struct lp_amqp_method){ .id = server_only[i] };
		feed_method(f, 1, &m);
		assert_last_close(f, 0, 503, NULL);
	}
	assert_int_equal(r.methods, 0);
	/* A connection method on a channel: 503. */
	mk(f, &rec_ops, &r);
	handshake(f, 2047, 131072, 0);
	open_channel(f, 1);
	m = (struct lp_amqp_method){ .id = LP_AMQP_CONNECTION_OPEN };
	m.connection_open.virtual_host = lp_amqp_cstr("/");
	feed_method(f, 1, &m);
	assert_last_close(f, 0, 503, "COMMAND_INVALID - connection.open is only valid on channel 0");
	/* Undecodable method on a channel: 501. */
	mk(f, &rec_ops, &r);
	handshake(f, 2047, 131072, 0);
	open_channel(f, 1);
	static const uint8_t trunc[] = { 1, 0, 1, 0, 0, 0, 6, 0, 50, 0, 10, 0, 0, 0xCE };
	feed_raw(f, trunc, sizeof(trunc));
	assert_last_close(f, 0, 501, "FRAME_ERROR - cannot decode queue.declare");
	/* A broker error other than -ENOTSUP: 541 on the channel. */
	r.method_rc = -EIO;
	mk(f, &rec_ops, &r);
	handshake(f, 2047, 131072, 0);
	open_channel(f, 1);
	m = (struct lp_amqp_method){ .id = LP_AMQP_TX_SELECT };
	feed_method(f, 1, &m);
	assert_last_close(f, 1, 541, "INTERNAL_ERROR - tx.select failed (-5)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_close_and_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_implemented_without_broker, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flow_and_access, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_until_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_content, setup, teardown),
		cmocka_unit_test_setup_teardown(test_content_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_direction_methods, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
