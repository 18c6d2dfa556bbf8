/* SPDX-License-Identifier: MIT */
/*
 * Fixture shared by test_amqp_conn.c and test_amqp_channel.c: a connection
 * in malloc'd memory over the demo credentials, feeding and draining
 * helpers, a method-driven handshake, and expected frames built octet by
 * octet from the spec (independently of the codec under test).
 */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "amqp_conn.h"
#include "amqp_table.h"
#include "amqp_test.h"

struct fx {
	struct lp_amqp_auth *db;
	struct lp_amqp_conn_cfg cfg;
	void *mem;
	struct lp_amqp_conn *c;
	uint8_t out[1 << 20];
	size_t out_len;
};

static inline int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->db = lp_amqp_auth_create(4, 4);
	assert_int_equal(lp_amqp_auth_add_defaults(f->db), 0);
	lp_amqp_conn_cfg_default(&f->cfg);
	f->cfg.version = "0.1.0";
	*state = f;
	return 0;
}

static inline int teardown(void **state)
{
	struct fx *f = *state;
	lp_amqp_conn_release(f->c);
	free(f->mem);
	lp_amqp_auth_destroy(f->db);
	free(f);
	return 0;
}

static inline struct lp_amqp_conn *mk(struct fx *f, const struct lp_amqp_conn_ops *ops, void *ctx)
{
	size_t n = lp_amqp_conn_memsize(&f->cfg);
	lp_amqp_conn_release(f->c);
	free(f->mem);
	f->mem = aligned_alloc(64, (n + 63) & ~(size_t)63);
	assert_non_null(f->mem);
	f->c = lp_amqp_conn_init(f->mem, n, &f->cfg, f->db, ops, ctx, 0);
	assert_non_null(f->c);
	f->out_len = 0;
	return f->c;
}

/* Moves all pending output to f->out. */
static inline void drain(struct fx *f)
{
	const uint8_t *p;
	size_t n = lp_amqp_conn_output_peek(f->c, &p);
	assert_true(f->out_len + n <= sizeof(f->out));
	memcpy(f->out + f->out_len, p, n);
	f->out_len += n;
	lp_amqp_conn_output_consume(f->c, n);
}

/* Feeds bytes in chunks of 'chunk' (0: random 1..100), draining as needed. */
static inline void feed(struct fx *f, const uint8_t *p, size_t len, size_t chunk)
{
	size_t off = 0;
	for (int guard = 0; off < len && guard < 1000000; guard++) {
		size_t n = chunk ? chunk : 1 + (size_t)(rand() % 100);
		if (n > len - off)
			n = len - off;
		off += lp_amqp_conn_input(f->c, p + off, n);
		drain(f);
	}
	assert_int_equal(off, len);
}

static inline void feed_method(struct fx *f, uint16_t ch, const struct lp_amqp_method *m)
{
	uint8_t buf[8192];
	struct lp_amqp_outbuf o;
	lp_amqp_outbuf_init(&o, buf, sizeof(buf));
	assert_true(lp_amqp_frame_write_method(&o, ch, m, 131072) > 0);
	feed(f, buf, o.tail, 0);
}

static inline void feed_raw(struct fx *f, const void *p, size_t n)
{
	feed(f, p, n, 0);
}

/* --- expected frames, built by hand from the spec (not by the codec) --- */

struct bytes {
	uint8_t b[4096];
	size_t n;
};

static inline void put8(struct bytes *x, uint8_t v)
{
	x->b[x->n++] = v;
}
static inline void put16(struct bytes *x, uint16_t v)
{
	put8(x, (uint8_t)(v >> 8));
	put8(x, (uint8_t)v);
}
static inline void put32(struct bytes *x, uint32_t v)
{
	put16(x, (uint16_t)(v >> 16));
	put16(x, (uint16_t)v);
}
static inline void putss(struct bytes *x, const char *s)
{
	put8(x, (uint8_t)strlen(s));
	memcpy(x->b + x->n, s, strlen(s));
	x->n += strlen(s);
}
static inline void putls(struct bytes *x, const char *s)
{
	put32(x, (uint32_t)strlen(s));
	memcpy(x->b + x->n, s, strlen(s));
	x->n += strlen(s);
}
static inline void putraw(struct bytes *x, const struct bytes *y)
{
	memcpy(x->b + x->n, y->b, y->n);
	x->n += y->n;
}
/* frame around a method payload */
static inline void method_frame(struct bytes *out, uint16_t ch, const struct bytes *payload)
{
	put8(out, 1);
	put16(out, ch);
	put32(out, (uint32_t)payload->n);
	putraw(out, payload);
	put8(out, 0xCE);
}

static inline void expect_start(struct bytes *out)
{
	struct bytes caps = { .n = 0 }, props = { .n = 0 }, p = { .n = 0 };
	static const char *names[] = { "publisher_confirms", "exchange_exchange_bindings", "basic.nack",
				       "consumer_cancel_notify", "connection.blocked",
				       "authentication_failure_close", "per_consumer_qos" };
	for (size_t i = 0; i < 7; i++) {
		putss(&caps, names[i]);
		put8(&caps, 't');
		put8(&caps, 1);
	}
	putss(&props, "capabilities");
	put8(&props, 'F');
	put32(&props, (uint32_t)caps.n);
	putraw(&props, &caps);
	putss(&props, "product");
	put8(&props, 'S');
	putls(&props, "Lepus");
	putss(&props, "version");
	put8(&props, 'S');
	putls(&props, "0.1.0");
	putss(&props, "platform");
	put8(&props, 'S');
	putls(&props, "DPDK");
	putss(&props, "information");
	put8(&props, 'S');
	putls(&props, "Lepus: a kernel-bypass AMQP 0-9-1 broker");
	put16(&p, 10);
	put16(&p, 10);
	put8(&p, 0);
	put8(&p, 9);
	put32(&p, (uint32_t)props.n);
	putraw(&p, &props);
	putls(&p, "PLAIN AMQPLAIN");
	putls(&p, "en_US");
	method_frame(out, 0, &p);
}

static inline void expect_simple(struct bytes *out, uint16_t ch, uint16_t cls, uint16_t mth)
{
	struct bytes p = { .n = 0 };
	put16(&p, cls);
	put16(&p, mth);
	method_frame(out, ch, &p);
}

static inline void expect_close(struct bytes *out, uint16_t ch, uint16_t cls, uint16_t code, const char *text,
			 uint16_t ccls, uint16_t cmth)
{
	struct bytes p = { .n = 0 };
	put16(&p, cls);
	put16(&p, cls == 10 ? 50 : 40);
	put16(&p, code);
	putss(&p, text);
	put16(&p, ccls);
	put16(&p, cmth);
	method_frame(out, ch, &p);
}

static inline void expect_tune(struct bytes *out)
{
	struct bytes p = { .n = 0 };
	put16(&p, 10);
	put16(&p, 30);
	put16(&p, 2047);
	put32(&p, 131072);
	put16(&p, 60);
	method_frame(out, 0, &p);
}

static inline void expect_open_ok(struct bytes *out)
{
	struct bytes p = { .n = 0 };
	put16(&p, 10);
	put16(&p, 41);
	putss(&p, "");
	method_frame(out, 0, &p);
}

static inline void expect_channel_open_ok(struct bytes *out, uint16_t ch)
{
	struct bytes p = { .n = 0 };
	put16(&p, 20);
	put16(&p, 11);
	putls(&p, "");
	method_frame(out, ch, &p);
}

static inline struct lp_amqp_bytes client_props(uint8_t *buf, size_t cap, bool afc, bool blocked)
{
	struct lp_amqp_wr w;
	size_t top, caps;
	lp_amqp_wr_init(&w, buf, cap);
	lp_amqp_wr_table_begin(&w, &top);
	lp_amqp_wr_field_str(&w, "product", "test");
	lp_amqp_wr_shortstr(&w, lp_amqp_cstr("capabilities"));
	lp_amqp_wr_u8(&w, 'F');
	lp_amqp_wr_table_begin(&w, &caps);
	lp_amqp_wr_field_bool(&w, "authentication_failure_close", afc);
	lp_amqp_wr_field_bool(&w, "connection.blocked", blocked);
	lp_amqp_wr_table_end(&w, caps);
	lp_amqp_wr_table_end(&w, top);
	return (struct lp_amqp_bytes){ buf + 4, (uint32_t)(w.off - 4) };
}

static inline void start_ok(struct fx *f, const char *mech, const void *resp, size_t resp_len, bool afc)
{
	uint8_t props[256];
	struct lp_amqp_method m = { .id = LP_AMQP_CONNECTION_START_OK };
	m.connection_start_ok.client_properties = client_props(props, sizeof(props), afc, true);
	m.connection_start_ok.mechanism = lp_amqp_cstr(mech);
	m.connection_start_ok.response = (struct lp_amqp_bytes){ resp, (uint32_t)resp_len };
	m.connection_start_ok.locale = lp_amqp_cstr("en_US");
	feed_method(f, 0, &m);
}

static inline void tune_ok(struct fx *f, uint16_t channel_max, uint32_t frame_max, uint16_t hb)
{
	struct lp_amqp_method m = { .id = LP_AMQP_CONNECTION_TUNE_OK };
	m.connection_tune_ok.channel_max = channel_max;
	m.connection_tune_ok.frame_max = frame_max;
	m.connection_tune_ok.heartbeat = hb;
	feed_method(f, 0, &m);
}

static inline void open_vhost(struct fx *f, const char *vhost)
{
	struct lp_amqp_method m = { .id = LP_AMQP_CONNECTION_OPEN };
	m.connection_open.virtual_host = lp_amqp_cstr(vhost);
	feed_method(f, 0, &m);
}

/* Protocol header, Start-Ok guest/guest, Tune-Ok, Open "/": running. */
static inline void handshake(struct fx *f, uint16_t channel_max, uint32_t frame_max, uint16_t hb)
{
	feed_raw(f, "AMQP\x00\x00\x09\x01", 8);
	start_ok(f, "PLAIN", "\0guest\0guest", 12, true);
	tune_ok(f, channel_max, frame_max, hb);
	open_vhost(f, "/");
	assert_int_equal(lp_amqp_conn_get_state(f->c), LP_AMQP_CONN_RUNNING);
	f->out_len = 0;
}

/* The last frame written must be Connection.Close (or Channel.Close on ch)
 * with this code and text. */
static inline void assert_last_close(struct fx *f, uint16_t ch, uint16_t code, const char *text)
{
	struct golden_frame fr[256];
	uint8_t tmp[1 << 16];
	assert_true(f->out_len > 0 && f->out_len + 8 < sizeof(tmp));
	memcpy(tmp + 8, f->out, f->out_len);
	size_t n = golden_frames(tmp, f->out_len + 8, fr, 256);
	assert_true(n > 0);
	struct lp_amqp_method m;
	assert_int_equal(fr[n - 1].channel, ch);
	assert_int_equal(lp_amqp_method_decode(fr[n - 1].payload, fr[n - 1].size, &m), 0);
	if (ch == 0) {
		assert_int_equal(m.id, LP_AMQP_CONNECTION_CLOSE);
		assert_int_equal(m.connection_close.reply_code, code);
		if (text) {
			char s[256] = { 0 };
			memcpy(s, m.connection_close.reply_text.ptr, m.connection_close.reply_text.len);
			assert_string_equal(s, text);
		}
	} else {
		assert_int_equal(m.id, LP_AMQP_CHANNEL_CLOSE);
		assert_int_equal(m.channel_close.reply_code, code);
		if (text) {
			char s[256] = { 0 };
			memcpy(s, m.channel_close.reply_text.ptr, m.channel_close.reply_text.len);
			assert_string_equal(s, text);
		}
	}
}

