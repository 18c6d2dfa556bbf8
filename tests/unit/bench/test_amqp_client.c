/* SPDX-License-Identifier: MIT */
/*
 * lepus-bench's AMQP client (bench/lepus_bench/amqp_client.c) driven with
 * byte sequences: what a broker sends is encoded here with the project's
 * codec (plus a few octets written by hand: the protocol header, a heartbeat,
 * broken frames), fed whole, byte by byte or several frames per chunk, and
 * every octet the client writes is decoded and checked.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "amqp_client.h"
#include "amqp_frame.h"
#include "amqp_table.h"

struct events {
	int ready, replies, delivers, confirms, returns, closed, blocked;
	uint32_t last_reply;
	uint64_t last_tag, last_body_size;
	uint8_t head[LP_AMQP_CLIENT_HEAD_MAX];
	size_t head_len;
	bool last_multiple, last_nack, is_blocked;
	uint16_t close_code, return_code;
	char close_text[256];
};

static void ev_ready(void *ctx, struct lp_amqp_client *c)
{
	(void)c;
	((struct events *)ctx)->ready++;
}

static void ev_reply(void *ctx, struct lp_amqp_client *c, const struct lp_amqp_method *m)
{
	struct events *e = ctx;

	(void)c;
	e->replies++;
	e->last_reply = m->id;
}

static void ev_deliver(void *ctx, struct lp_amqp_client *c, uint64_t tag, bool redelivered,
		       const uint8_t *head, size_t head_len, uint64_t body_size)
{
	struct events *e = ctx;

	(void)c;
	(void)redelivered;
	e->delivers++;
	e->last_tag = tag;
	e->last_body_size = body_size;
	e->head_len = head_len;
	memcpy(e->head, head, head_len);
}

static void ev_confirm(void *ctx, struct lp_amqp_client *c, uint64_t tag, bool multiple, bool nack)
{
	struct events *e = ctx;

	(void)c;
	e->confirms++;
	e->last_tag = tag;
	e->last_multiple = multiple;
	e->last_nack = nack;
}

static void ev_returned(void *ctx, struct lp_amqp_client *c, uint16_t code)
{
	struct events *e = ctx;

	(void)c;
	e->returns++;
	e->return_code = code;
}

static void ev_blocked(void *ctx, struct lp_amqp_client *c, bool blocked)
{
	struct events *e = ctx;

	(void)c;
	e->blocked++;
	e->is_blocked = blocked;
}

static void ev_closed(void *ctx, struct lp_amqp_client *c, uint16_t code, const char *text)
{
	struct events *e = ctx;

	(void)c;
	e->closed++;
	e->close_code = code;
	snprintf(e->close_text, sizeof(e->close_text), "%s", text);
}

static const struct lp_amqp_client_ops ops = {
	.ready = ev_ready, .reply = ev_reply, .deliver = ev_deliver, .confirm = ev_confirm,
	.returned = ev_returned, .blocked = ev_blocked, .closed = ev_closed,
};

/* What the broker sends, encoded with the codec. */
struct wire {
	uint8_t buf[1 << 16];
	struct lp_amqp_outbuf o;
};

static void wire_init(struct wire *w)
{
	lp_amqp_outbuf_init(&w->o, w->buf, sizeof(w->buf));
}

static void wire_method(struct wire *w, uint16_t ch, const struct lp_amqp_method *m)
{
	assert_true(lp_amqp_frame_write_method(&w->o, ch, m, 131072) > 0);
}

static void wire_content(struct wire *w, const uint8_t *body, size_t len, uint32_t frame_max)
{
	struct lp_amqp_basic_properties props = {0};

	assert_true(lp_amqp_frame_write_content(&w->o, 1, &props, body, len, frame_max) > 0);
}

/* Feed all of w to c in chunks of `step` octets (0: at once). */
static int wire_feed(struct wire *w, struct lp_amqp_client *c, size_t step)
{
	const uint8_t *p;
	size_t len = lp_amqp_outbuf_peek(&w->o, &p);
	int rc = 0;

	if (step == 0)
		step = len;
	for (size_t off = 0; off < len && rc == 0; off += step)
		rc = lp_amqp_client_input(c, p + off, len - off < step ? len - off : step);
	lp_amqp_outbuf_consume(&w->o, len);
	return rc;
}

/* Reads the client's output frame by frame. */
struct reader {
	uint8_t buf[1 << 17];
	struct lp_amqp_frame_reader rd;
	const uint8_t *p;
	size_t len;
};

static void reader_take(struct reader *r, struct lp_amqp_client *c)
{
	static uint8_t copy[1 << 18];

	r->len = lp_amqp_client_output_peek(c, &r->p);
	assert_true(r->len <= sizeof(copy));
	memcpy(copy, r->p, r->len);
	r->p = copy;
	lp_amqp_client_output_consume(c, r->len);
	lp_amqp_frame_reader_init(&r->rd, r->buf, sizeof(r->buf));
}

/* Next frame of the output, 1, or 0 at its end. */
static int reader_next(struct reader *r, struct lp_amqp_frame *f)
{
	size_t used;
	int rc;

	if (r->len == 0)
		return 0;
	rc = lp_amqp_frame_read(&r->rd, r->p, r->len, &used, f);
	r->p += used;
	r->len -= used;
	assert_int_equal(rc, 1);
	return 1;
}

/* Next frame must be method id on channel ch; decoded into *m. */
static void expect_method(struct reader *r, uint16_t ch, uint32_t id, struct lp_amqp_method *m)
{
	struct lp_amqp_frame f;

	assert_int_equal(reader_next(r, &f), 1);
	assert_int_equal(f.type, LP_AMQP_FRAME_METHOD);
	assert_int_equal(f.channel, ch);
	assert_int_equal(lp_amqp_method_decode(f.payload, f.size, m), 0);
	assert_int_equal(m->id, id);
}

static void expect_end(struct reader *r)
{
	struct lp_amqp_frame f;

	assert_int_equal(reader_next(r, &f), 0);
}

/* The broker's half of the handshake (Start, Tune, Open-Ok, Channel.Open-Ok). */
static void wire_handshake(struct wire *w, uint16_t heartbeat)
{
	struct lp_amqp_method m = {.id = LP_AMQP_CONNECTION_START};
	uint8_t props[64];
	struct lp_amqp_wr wr;
	size_t top;

	lp_amqp_wr_init(&wr, props, sizeof(props));
	lp_amqp_wr_table_begin(&wr, &top);
	lp_amqp_wr_field_str(&wr, "product", "test");
	lp_amqp_wr_table_end(&wr, top);
	m.connection_start.version_major = 0;
	m.connection_start.version_minor = 9;
	m.connection_start.server_properties =
		(struct lp_amqp_bytes){.ptr = props + 4, .len = (uint32_t)(wr.off - 4)};
	m.connection_start.mechanisms = lp_amqp_cstr("AMQPLAIN PLAIN");
	m.connection_start.locales = lp_amqp_cstr("en_US");
	wire_method(w, 0, &m);
	m = (struct lp_amqp_method){.id = LP_AMQP_CONNECTION_TUNE};
	m.connection_tune.channel_max = 2047;
	m.connection_tune.frame_max = 131072;
	m.connection_tune.heartbeat = heartbeat;
	wire_method(w, 0, &m);
	m = (struct lp_amqp_method){.id = LP_AMQP_CONNECTION_OPEN_OK};
	wire_method(w, 0, &m);
	m = (struct lp_amqp_method){.id = LP_AMQP_CHANNEL_OPEN_OK};
	wire_method(w, 1, &m);
}

struct fixture {
	struct events ev;
	struct lp_amqp_client *c;
	struct wire w;
	struct reader r;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct lp_amqp_client_cfg cfg;

	assert_non_null(fx);
	lp_amqp_client_cfg_default(&cfg);
	cfg.heartbeat = 1;
	fx->c = lp_amqp_client_create(&cfg, &ops, &fx->ev, 1000);
	assert_non_null(fx->c);
	wire_init(&fx->w);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	lp_amqp_client_destroy(fx->c);
	free(fx);
	return 0;
}

/* Handshake with the broker's bytes split as given; channel 1 ready. */
static void handshake(struct fixture *fx, size_t step)
{
	const uint8_t *p;

	assert_int_equal(lp_amqp_client_output_peek(fx->c, &p), 8);
	assert_memory_equal(p, "AMQP\x00\x00\x09\x01", 8);
	lp_amqp_client_output_consume(fx->c, 8);
	wire_handshake(&fx->w, 60);
	assert_int_equal(wire_feed(&fx->w, fx->c, step), 0);
	assert_int_equal(fx->ev.ready, 1);
	assert_int_equal(fx->c->state, LP_AMQP_CLIENT_READY);
	assert_int_equal(fx->ev.closed, 0);
}

static void handshake_speaks_plain_and_opens_channel_1(void **state)
{
	struct fixture *fx = *state;
	struct lp_amqp_method m;
	struct lp_amqp_field_value v;

	handshake(fx, 0);
	reader_take(&fx->r, fx->c);
	expect_method(&fx->r, 0, LP_AMQP_CONNECTION_START_OK, &m);
	assert_true(lp_amqp_bytes_eq(m.connection_start_ok.mechanism, "PLAIN"));
	/* RFC 4616: NUL user NUL password */
	assert_int_equal(m.connection_start_ok.response.len, 12);
	assert_memory_equal(m.connection_start_ok.response.ptr, "\0guest\0guest", 12);
	assert_true(lp_amqp_table_get(m.connection_start_ok.client_properties, "capabilities", &v));
	assert_int_equal(v.kind, LP_AMQP_FIELD_TABLE);
	expect_method(&fx->r, 0, LP_AMQP_CONNECTION_TUNE_OK, &m);
	assert_int_equal(m.connection_tune_ok.frame_max, 131072);
	assert_int_equal(m.connection_tune_ok.channel_max, 2047);
	assert_int_equal(m.connection_tune_ok.heartbeat, 1);
	expect_method(&fx->r, 0, LP_AMQP_CONNECTION_OPEN, &m);
	assert_true(lp_amqp_bytes_eq(m.connection_open.virtual_host, "/"));
	expect_method(&fx->r, 1, LP_AMQP_CHANNEL_OPEN, &m);
	expect_end(&fx->r);
}

static void handshake_byte_by_byte(void **state)
{
	struct fixture *fx = *state;

	handshake(fx, 1);
	assert_int_equal(fx->c->frame_max, 131072);
}

static void rpc_one_at_a_time_and_reply_reported(void **state)
{
	struct fixture *fx = *state;
	struct lp_amqp_method q = {.id = LP_AMQP_QUEUE_DECLARE}, m;

	/* Not before the channel is open. */
	assert_int_equal(lp_amqp_client_call(fx->c, &q), -EAGAIN);
	handshake(fx, 0);
	reader_take(&fx->r, fx->c);
	q.queue_declare.queue = lp_amqp_cstr("bench-q");
	assert_int_equal(lp_amqp_client_call(fx->c, &q), 0);
	assert_int_equal(lp_amqp_client_call(fx->c, &q), -EBUSY);
	reader_take(&fx->r, fx->c);
	expect_method(&fx->r, 1, LP_AMQP_QUEUE_DECLARE, &m);
	assert_true(lp_amqp_bytes_eq(m.queue_declare.queue, "bench-q"));
	expect_end(&fx->r);

	m = (struct lp_amqp_method){.id = LP_AMQP_QUEUE_DECLARE_OK};
	m.queue_declare_ok.queue = lp_amqp_cstr("bench-q");
	wire_method(&fx->w, 1, &m);
	assert_int_equal(wire_feed(&fx->w, fx->c, 0), 0);
	assert_int_equal(fx->ev.replies, 1);
	assert_int_equal(fx->ev.last_reply, LP_AMQP_QUEUE_DECLARE_OK);
	/* The next call may go. */
	q = (struct lp_amqp_method){.id = LP_AMQP_BASIC_QOS};
	q.basic_qos.prefetch_count = 100;
	assert_int_equal(lp_amqp_client_call(fx->c, &q), 0);
}

static void unexpected_reply_closes_with_505(void **state)
{
	struct fixture *fx = *state;
	struct lp_amqp_method m = {.id = LP_AMQP_QUEUE_BIND_OK};

	handshake(fx, 0);
	reader_take(&fx->r, fx->c);
	wire_method(&fx->w, 1, &m);
	assert_int_equal(wire_feed(&fx->w, fx->c, 0), -EPROTO);
	assert_int_equal(fx->ev.closed, 1);
	assert_int_equal(fx->ev.close_code, 505);
	assert_int_equal(fx->c->state, LP_AMQP_CLIENT_CLOSED);
	reader_take(&fx->r, fx->c);
	expect_method(&fx->r, 0, LP_AMQP_CONNECTION_CLOSE, &m);
	assert_int_equal(m.connection_close.reply_code, 505);
	/* Closed: input is discarded, no second callback. */
	wire_method(&fx->w, 1, &m);
	assert_int_equal(wire_feed(&fx->w, fx->c, 0), 0);
	assert_int_equal(fx->ev.closed, 1);
}

/* Three deliveries in one chunk, the second with its body in two frames
 * (frame-max 4096), then all three again fed byte by byte. */
static void deliveries_reassembled_and_reported(void **state)
{
	struct fixture *fx = *state;
	struct lp_amqp_method d = {.id = LP_AMQP_BASIC_DELIVER};
	uint8_t small[40], big[6000];

	handshake(fx, 0);
	for (size_t i = 0; i < sizeof(small); i++)
		small[i] = (uint8_t)i;
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(0xA0 + i);
	for (size_t step = 0; step <= 1; step++) {
		fx->ev.delivers = 0;
		for (uint64_t tag = 1; tag <= 3; tag++) {
			d.basic_deliver.consumer_tag = lp_amqp_cstr("ctag");
			d.basic_deliver.delivery_tag = tag + step * 3;
			d.basic_deliver.routing_key = lp_amqp_cstr("bench-q");
			wire_method(&fx->w, 1, &d);
			if (tag == 2)
				wire_content(&fx->w, big, sizeof(big), 4096);
			else
				wire_content(&fx->w, small, sizeof(small), 131072);
		}
		assert_int_equal(wire_feed(&fx->w, fx->c, step), 0);
		assert_int_equal(fx->ev.delivers, 3);
		assert_int_equal(fx->ev.last_tag, 3 + step * 3);
		assert_int_equal(fx->ev.last_body_size, sizeof(small));
		assert_int_equal(fx->ev.head_len, LP_AMQP_CLIENT_HEAD_MAX);
		assert_memory_equal(fx->ev.head, small, LP_AMQP_CLIENT_HEAD_MAX);
	}
	/* Big body: feed alone to check its head. */
	d.basic_deliver.delivery_tag = 7;
	wire_method(&fx->w, 1, &d);
	wire_content(&fx->w, big, sizeof(big), 4096);
	assert_int_equal(wire_feed(&fx->w, fx->c, 0), 0);
	assert_int_equal(fx->ev.last_body_size, sizeof(big));
	assert_memory_equal(fx->ev.head, big, LP_AMQP_CLIENT_HEAD_MAX);
	assert_int_equal(fx->ev.closed, 0);
}

static void body_without_deliver_is_505(void **state)
{
	struct fixture *fx = *state;
	uint8_t body[30] = {0};

	handshake(fx, 0);
	wire_content(&fx->w, body, sizeof(body), 131072);
	assert_int_equal(wire_feed(&fx->w, fx->c, 0), -EPROTO);
	assert_int_equal(fx->ev.close_code, 505);
}

static void publish_template_carries_stamp(void **state)
{
	struct fixture *fx = *state;
	struct lp_amqp_basic_properties props = {.flags = LP_AMQP_BASIC_DELIVERY_MODE_FLAG,
						 .delivery_mode = 2};
	struct lp_amqp_content_header h;
	struct lp_amqp_frame f;
	struct lp_amqp_method m;
	const uint8_t stamp[24] = "0123456789abcdefghijklm";
	int64_t seq;
	int n = 0;

	handshake(fx, 0);
	reader_take(&fx->r, fx->c);
	assert_int_equal(lp_amqp_client_publish_prepare(fx->c, "ex", "key", false, &props, 64), 0);
	assert_int_equal(lp_amqp_client_publish(fx->c, stamp, sizeof(stamp)), 1);
	assert_int_equal(lp_amqp_client_publish(fx->c, stamp, sizeof(stamp)), 2);
	reader_take(&fx->r, fx->c);
	for (int i = 0; i < 2; i++) {
		expect_method(&fx->r, 1, LP_AMQP_BASIC_PUBLISH, &m);
		assert_true(lp_amqp_bytes_eq(m.basic_publish.exchange, "ex"));
		assert_true(lp_amqp_bytes_eq(m.basic_publish.routing_key, "key"));
		assert_int_equal(reader_next(&fx->r, &f), 1);
		assert_int_equal(f.type, LP_AMQP_FRAME_HEADER);
		assert_int_equal(lp_amqp_content_header_decode(f.payload, f.size, &h), 0);
		assert_int_equal(h.body_size, 64);
		assert_int_equal(h.props.delivery_mode, 2);
		assert_int_equal(reader_next(&fx->r, &f), 1);
		assert_int_equal(f.type, LP_AMQP_FRAME_BODY);
		assert_int_equal(f.size, 64);
		assert_memory_equal(f.payload, stamp, sizeof(stamp));
		assert_int_equal(f.payload[63], 0);
	}
	expect_end(&fx->r);
	/* The send buffer fills: -ENOSPC, nothing half-written. */
	while ((seq = lp_amqp_client_publish(fx->c, stamp, sizeof(stamp))) > 0)
		n++;
	assert_int_equal(seq, -ENOSPC);
	assert_int_equal((size_t)n * lp_amqp_client_publish_len(fx->c) +
				 lp_amqp_client_output_room(fx->c),
			 fx->c->cfg.outbuf_size);
}

static void confirms_reported_and_checked(void **state)
{
	struct fixture *fx = *state;
	struct lp_amqp_method m = {.id = LP_AMQP_CONFIRM_SELECT};
	struct lp_amqp_basic_properties props = {0};
	uint8_t stamp[24] = {0};

	handshake(fx, 0);
	assert_int_equal(lp_amqp_client_call(fx->c, &m), 0);
	m = (struct lp_amqp_method){.id = LP_AMQP_CONFIRM_SELECT_OK};
	wire_method(&fx->w, 1, &m);
	assert_int_equal(wire_feed(&fx->w, fx->c, 0), 0);
	assert_true(fx->c->confirming);
	assert_int_equal(lp_amqp_client_publish_prepare(fx->c, "", "q", false, &props, 24), 0);
	for (int i = 1; i <= 3; i++)
		assert_int_equal(lp_amqp_client_publish(fx->c, stamp, sizeof(stamp)), i);
	m = (struct lp_amqp_method){.id = LP_AMQP_BASIC_ACK};
	m.basic_ack.delivery_tag = 2;
	m.basic_ack.multiple = true;
	wire_method(&fx->w, 1, &m);
	assert_int_equal(wire_feed(&fx->w, fx->c, 0), 0);
	assert_int_equal(fx->ev.confirms, 1);
	assert_int_equal(fx->ev.last_tag, 2);
	assert_true(fx->ev.last_multiple);
	assert_false(fx->ev.last_nack);
	m = (struct lp_amqp_method){.id = LP_AMQP_BASIC_NACK};
	m.basic_nack.delivery_tag = 3;
	wire_method(&fx->w, 1, &m);
	assert_int_equal(wire_feed(&fx->w, fx->c, 0), 0);
	assert_int_equal(fx->ev.confirms, 2);
	assert_true(fx->ev.last_nack);
	/* A confirm of a tag never published is the broker's error. */
	m = (struct lp_amqp_method){.id = LP_AMQP_BASIC_ACK};
	m.basic_ack.delivery_tag = 4;
	wire_method(&fx->w, 1, &m);
	assert_int_equal(wire_feed(&fx->w, fx->c, 0), -EPROTO);
	assert_int_equal(fx->ev.confirms, 2);
	assert_int_equal(fx->ev.close_code, 503);
}

static void acks_encoded(void **state)
{
	struct fixture *fx = *state;
	struct lp_amqp_method m;

	assert_int_equal(lp_amqp_client_ack(fx->c, 1, false), -EAGAIN);
	handshake(fx, 0);
	reader_take(&fx->r, fx->c);
	assert_int_equal(lp_amqp_client_ack(fx->c, 5, false), 0);
	assert_int_equal(lp_amqp_client_ack(fx->c, 10, true), 0);
	reader_take(&fx->r, fx->c);
	expect_method(&fx->r, 1, LP_AMQP_BASIC_ACK, &m);
	assert_int_equal(m.basic_ack.delivery_tag, 5);
	assert_false(m.basic_ack.multiple);
	expect_method(&fx->r, 1, LP_AMQP_BASIC_ACK, &m);
	assert_int_equal(m.basic_ack.delivery_tag, 10);
	assert_true(m.basic_ack.multiple);
	expect_end(&fx->r);
}

static void broker_close_answered_with_close_ok(void **state)
{
	struct fixture *fx = *state;
	struct lp_amqp_method m = {.id = LP_AMQP_CONNECTION_CLOSE};

	handshake(fx, 0);
	reader_take(&fx->r, fx->c);
	m.connection_close.reply_code = 320;
	m.connection_close.reply_text = lp_amqp_cstr("CONNECTION_FORCED - shutdown");
	wire_method(&fx->w, 0, &m);
	assert_int_equal(wire_feed(&fx->w, fx->c, 0), 0);
	assert_int_equal(fx->ev.closed, 1);
	assert_int_equal(fx->ev.close_code, 320);
	assert_non_null(strstr(fx->ev.close_text, "CONNECTION_FORCED"));
	reader_take(&fx->r, fx->c);
	expect_method(&fx->r, 0, LP_AMQP_CONNECTION_CLOSE_OK, &m);
	expect_end(&fx->r);
}

static void channel_close_ends_connection_with_its_code(void **state)
{
	struct fixture *fx = *state;
	struct lp_amqp_method m = {.id = LP_AMQP_CHANNEL_CLOSE};

	handshake(fx, 0);
	reader_take(&fx->r, fx->c);
	m.channel_close.reply_code = 404;
	m.channel_close.reply_text = lp_amqp_cstr("NOT_FOUND - no queue 'x'");
	wire_method(&fx->w, 1, &m);
	assert_int_equal(wire_feed(&fx->w, fx->c, 0), 0);
	assert_int_equal(fx->ev.closed, 0);
	assert_int_equal(fx->c->state, LP_AMQP_CLIENT_CLOSING);
	reader_take(&fx->r, fx->c);
	expect_method(&fx->r, 1, LP_AMQP_CHANNEL_CLOSE_OK, &m);
	expect_method(&fx->r, 0, LP_AMQP_CONNECTION_CLOSE, &m);
	assert_int_equal(m.connection_close.reply_code, 200);
	expect_end(&fx->r);
	m = (struct lp_amqp_method){.id = LP_AMQP_CONNECTION_CLOSE_OK};
	wire_method(&fx->w, 0, &m);
	assert_int_equal(wire_feed(&fx->w, fx->c, 0), 0);
	assert_int_equal(fx->ev.closed, 1);
	assert_int_equal(fx->ev.close_code, 404);
	assert_non_null(strstr(fx->ev.close_text, "no queue 'x'"));
}

static void our_close_completes_on_close_ok(void **state)
{
	struct fixture *fx = *state;
	struct lp_amqp_method m = {.id = LP_AMQP_CONNECTION_CLOSE_OK};

	handshake(fx, 0);
	assert_int_equal(lp_amqp_client_close(fx->c), 0);
	assert_int_equal(lp_amqp_client_close(fx->c), -EALREADY);
	reader_take(&fx->r, fx->c);
	reader_take(&fx->r, fx->c);
	wire_method(&fx->w, 0, &m);
	assert_int_equal(wire_feed(&fx->w, fx->c, 0), 0);
	assert_int_equal(fx->ev.closed, 1);
	assert_int_equal(fx->ev.close_code, 200);
}

static void bad_frame_end_is_501(void **state)
{
	struct fixture *fx = *state;
	/* A heartbeat (spec 4.2.7) whose frame-end octet is 0x00 instead of 0xCE. */
	static const uint8_t bad[] = {8, 0, 0, 0, 0, 0, 0, 0x00};
	static const uint8_t hb[] = {8, 0, 0, 0, 0, 0, 0, 0xCE};

	handshake(fx, 0);
	assert_int_equal(lp_amqp_client_input(fx->c, hb, sizeof(hb)), 0);
	assert_int_equal(fx->ev.closed, 0);
	assert_int_equal(lp_amqp_client_input(fx->c, bad, sizeof(bad)), -EPROTO);
	assert_int_equal(fx->ev.closed, 1);
	assert_int_equal(fx->ev.close_code, 501);
}

static void frame_on_unopened_channel_is_504(void **state)
{
	struct fixture *fx = *state;
	struct lp_amqp_method m = {.id = LP_AMQP_BASIC_ACK};

	handshake(fx, 0);
	wire_method(&fx->w, 2, &m);
	assert_int_equal(wire_feed(&fx->w, fx->c, 0), -EPROTO);
	assert_int_equal(fx->ev.close_code, 504);
}

static void heartbeats_sent_and_missed_ones_detected(void **state)
{
	struct fixture *fx = *state;
	static const uint8_t hb[] = {8, 0, 0, 0, 0, 0, 0, 0xCE};
	const uint64_t s = 1000000000ull;
	struct lp_amqp_frame f;

	handshake(fx, 0);
	reader_take(&fx->r, fx->c);
	lp_amqp_client_tick(fx->c, 1000 + s / 4);
	assert_int_equal(lp_amqp_client_output_peek(fx->c, &fx->r.p), 0);
	lp_amqp_client_tick(fx->c, 1000 + s * 6 / 10);
	reader_take(&fx->r, fx->c);
	assert_int_equal(reader_next(&fx->r, &f), 1);
	assert_int_equal(f.type, LP_AMQP_FRAME_HEARTBEAT);
	/* Input at 1.5 s keeps it alive past 2 s; silence until 3.6 s ends it. */
	lp_amqp_client_tick(fx->c, 1000 + s * 15 / 10);
	assert_int_equal(lp_amqp_client_input(fx->c, hb, sizeof(hb)), 0);
	lp_amqp_client_tick(fx->c, 1000 + s * 25 / 10);
	assert_int_equal(fx->ev.closed, 0);
	lp_amqp_client_tick(fx->c, 1000 + s * 36 / 10);
	assert_int_equal(fx->ev.closed, 1);
	assert_int_equal(fx->ev.close_code, 0);
}

static void return_and_blocked_reported(void **state)
{
	struct fixture *fx = *state;
	struct lp_amqp_method m = {.id = LP_AMQP_BASIC_RETURN};
	uint8_t body[24] = {0};

	handshake(fx, 0);
	m.basic_return.reply_code = 312;
	m.basic_return.reply_text = lp_amqp_cstr("NO_ROUTE");
	m.basic_return.exchange = lp_amqp_cstr("");
	m.basic_return.routing_key = lp_amqp_cstr("nowhere");
	wire_method(&fx->w, 1, &m);
	wire_content(&fx->w, body, sizeof(body), 131072);
	m = (struct lp_amqp_method){.id = LP_AMQP_CONNECTION_BLOCKED};
	m.connection_blocked.reason = lp_amqp_cstr("low on memory");
	wire_method(&fx->w, 0, &m);
	assert_int_equal(wire_feed(&fx->w, fx->c, 0), 0);
	assert_int_equal(fx->ev.returns, 1);
	assert_int_equal(fx->ev.return_code, 312);
	assert_int_equal(fx->ev.delivers, 0);
	assert_int_equal(fx->ev.blocked, 1);
	assert_true(fx->ev.is_blocked);
}

static void server_without_plain_refused(void **state)
{
	struct fixture *fx = *state;
	struct lp_amqp_method m = {.id = LP_AMQP_CONNECTION_START};

	m.connection_start.version_minor = 9;
	m.connection_start.mechanisms = lp_amqp_cstr("AMQPLAIN EXTERNAL");
	m.connection_start.locales = lp_amqp_cstr("en_US");
	wire_method(&fx->w, 0, &m);
	assert_int_equal(wire_feed(&fx->w, fx->c, 0), -EPROTO);
	assert_int_equal(fx->ev.closed, 1);
	assert_int_equal(fx->ev.ready, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(handshake_speaks_plain_and_opens_channel_1, setup, teardown),
		cmocka_unit_test_setup_teardown(handshake_byte_by_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(rpc_one_at_a_time_and_reply_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(unexpected_reply_closes_with_505, setup, teardown),
		cmocka_unit_test_setup_teardown(deliveries_reassembled_and_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(body_without_deliver_is_505, setup, teardown),
		cmocka_unit_test_setup_teardown(publish_template_carries_stamp, setup, teardown),
		cmocka_unit_test_setup_teardown(confirms_reported_and_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(acks_encoded, setup, teardown),
		cmocka_unit_test_setup_teardown(broker_close_answered_with_close_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(channel_close_ends_connection_with_its_code, setup, teardown),
		cmocka_unit_test_setup_teardown(our_close_completes_on_close_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_frame_end_is_501, setup, teardown),
		cmocka_unit_test_setup_teardown(frame_on_unopened_channel_is_504, setup, teardown),
		cmocka_unit_test_setup_teardown(heartbeats_sent_and_missed_ones_detected, setup, teardown),
		cmocka_unit_test_setup_teardown(return_and_blocked_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(server_without_plain_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
