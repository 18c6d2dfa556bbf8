/* SPDX-License-Identifier: MIT */
/*
 * Frame reader and writer: the golden pika stream read whole, split at every
 * octet and in random chunks gives the same frames; frame-end, frame_max,
 * unknown types are rejected; the writer batches frames, splits content
 * bodies at frame_max and compacts its buffer.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "amqp_frame.h"
#include "amqp_test.h"

struct seen {
	size_t n;
	uint8_t type[64];
	uint16_t channel[64];
	uint32_t size[64];
	uint8_t first[64];
};

/* Feeds 'len' octets in chunks of 'chunk' (0: random 1..64), collects frames. */
static int feed(struct lp_amqp_frame_reader *r, const uint8_t *p, size_t len, size_t chunk,
		struct seen *s)
{
	size_t off = 0;
	while (off < len) {
		size_t n = chunk ? chunk : 1 + (size_t)(rand() % 64);
		if (n > len - off)
			n = len - off;
		size_t used = 0;
		while (used < n) {
			struct lp_amqp_frame f;
			size_t c;
			int rc = lp_amqp_frame_read(r, p + off + used, n - used, &c, &f);
			used += c;
			if (rc < 0)
				return rc;
			if (rc == 1) {
				s->type[s->n] = f.type;
				s->channel[s->n] = f.channel;
				s->size[s->n] = f.size;
				s->first[s->n] = f.size ? f.payload[0] : 0;
				s->n++;
			} else {
				assert_int_equal(used, n);
			}
		}
		off += n;
	}
	return 0;
}

static void test_golden_any_split(void **state)
{
	(void)state;
	size_t len;
	uint8_t *g = golden_load("pika_client.bin", &len);
	static uint8_t rbuf[131072];
	struct golden_frame gf[32];
	size_t ng = golden_frames(g, len, gf, 32);
	struct lp_amqp_frame_reader r;

	for (size_t chunk = 0; chunk <= len; chunk++) {
		struct seen s = { 0 };
		lp_amqp_frame_reader_init(&r, rbuf, sizeof(rbuf));
		assert_int_equal(feed(&r, g + 8, len - 8, chunk, &s), 0);
		assert_int_equal(s.n, ng);
		for (size_t i = 0; i < ng; i++) {
			assert_int_equal(s.type[i], gf[i].type);
			assert_int_equal(s.channel[i], gf[i].channel);
			assert_int_equal(s.size[i], gf[i].size);
			assert_int_equal(s.first[i], gf[i].size ? gf[i].payload[0] : 0);
		}
	}
	free(g);
}

static void test_errors(void **state)
{
	(void)state;
	static uint8_t rbuf[8192];
	struct lp_amqp_frame_reader r;
	struct lp_amqp_frame f;
	size_t c;
	/* heartbeat, fine */
	const uint8_t hb[] = { 8, 0, 0, 0, 0, 0, 0, 0xCE };
	/* bad frame end */
	const uint8_t badend[] = { 8, 0, 0, 0, 0, 0, 0, 0xCD };
	/* unknown type 4 */
	const uint8_t badtype[] = { 4, 0, 0, 0, 0, 0, 0, 0xCE };
	/* size 4089: 4097 octets in all, one over a 4096 frame_max */
	const uint8_t big[] = { 3, 0, 1, 0, 0, 0x0F, 0xF9 };

	lp_amqp_frame_reader_init(&r, rbuf, sizeof(rbuf));
	assert_int_equal(lp_amqp_frame_reader_set_max(&r, 4096), 0);
	assert_int_equal(lp_amqp_frame_reader_set_max(&r, 8193), -EINVAL);
	assert_int_equal(lp_amqp_frame_read(&r, hb, sizeof(hb), &c, &f), 1);
	assert_int_equal(f.type, 8);
	assert_int_equal(f.size, 0);
	assert_int_equal(c, 8);
	assert_int_equal(lp_amqp_frame_read(&r, badend, sizeof(badend), &c, &f), -EBADMSG);
	lp_amqp_frame_reader_init(&r, rbuf, 4096);
	assert_int_equal(lp_amqp_frame_read(&r, badtype, sizeof(badtype), &c, &f), -EPROTO);
	lp_amqp_frame_reader_init(&r, rbuf, 4096);
	/* over frame_max is caught from the header alone, also octet by octet */
	int rc = 0;
	for (size_t i = 0; i < sizeof(big) && rc == 0; i++)
		rc = lp_amqp_frame_read(&r, big + i, 1, &c, &f);
	assert_int_equal(rc, -EMSGSIZE);
	/* exactly frame_max is fine */
	static uint8_t exact[4096];
	exact[0] = 3;
	exact[5] = 0x0F;
	exact[6] = 0xF8;
	exact[4095] = 0xCE;
	lp_amqp_frame_reader_init(&r, rbuf, 4096);
	assert_int_equal(lp_amqp_frame_read(&r, exact, 100, &c, &f), 0);
	assert_int_equal(lp_amqp_frame_read(&r, exact + 100, 3996, &c, &f), 1);
	assert_int_equal(f.size, 4088);
	/* split frame with a bad end octet */
	exact[4095] = 0;
	assert_int_equal(lp_amqp_frame_read(&r, exact, 5, &c, &f), 0);
	assert_int_equal(lp_amqp_frame_read(&r, exact + 5, 4091, &c, &f), -EBADMSG);
}

static void test_writer(void **state)
{
	(void)state;
	static uint8_t obuf[65536], rbuf[65536], body[60000];
	struct lp_amqp_outbuf o;
	struct lp_amqp_frame_reader r;
	struct lp_amqp_method m = { .id = LP_AMQP_CHANNEL_OPEN_OK };
	struct lp_amqp_basic_properties props = { .flags = LP_AMQP_BASIC_DELIVERY_MODE_FLAG, .delivery_mode = 2 };
	const uint8_t *p;

	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)i;
	lp_amqp_outbuf_init(&o, obuf, sizeof(obuf));
	assert_int_equal(lp_amqp_frame_write_method(&o, 1, &m, 4096), 16);
	assert_int_equal(lp_amqp_frame_write_heartbeat(&o), 8);
	/* 10000 octets at frame_max 4096: bodies of 4088, 4088, 1824 */
	int n = lp_amqp_frame_write_content(&o, 1, &props, body, 10000, 4096);
	assert_int_equal(n, 8 + 12 + 3 + 3 * 8 + 10000);
	size_t len = lp_amqp_outbuf_peek(&o, &p);
	assert_int_equal(len, 16 + 8 + (size_t)n);
	static const uint8_t open_ok[] = { 1, 0, 1, 0, 0, 0, 8, 0, 20, 0, 11, 0, 0, 0, 0, 0xCE };
	assert_memory_equal(p, open_ok, sizeof(open_ok));
	/* Read it all back. */
	struct seen s = { 0 };
	lp_amqp_frame_reader_init(&r, rbuf, 4096);
	assert_int_equal(feed(&r, p, len, 7, &s), 0);
	assert_int_equal(s.n, 6);
	assert_int_equal(s.type[2], LP_AMQP_FRAME_HEADER);
	assert_int_equal(s.size[3], 4088);
	assert_int_equal(s.size[4], 4088);
	assert_int_equal(s.size[5], 1824);
	/* Consume most, the next write compacts rather than failing. */
	lp_amqp_outbuf_consume(&o, len - 3);
	assert_int_equal(lp_amqp_outbuf_len(&o), 3);
	assert_true(lp_amqp_frame_write_content(&o, 1, &props, body, 60000, 131072) > 0);
	assert_int_equal(lp_amqp_frame_write_content(&o, 1, &props, body, 10000, 131072), -ENOSPC);
	/* A method larger than frame_max is refused. */
	lp_amqp_outbuf_init(&o, obuf, sizeof(obuf));
	static uint8_t text[255];
	struct lp_amqp_method big = { .id = LP_AMQP_CONNECTION_CLOSE };
	big.connection_close.reply_text = (struct lp_amqp_bytes){ text, 255 };
	assert_int_equal(lp_amqp_frame_write_method(&o, 0, &big, 100), -EMSGSIZE);
	assert_int_equal(lp_amqp_outbuf_len(&o), 0);
	/* Out of room: nothing written. */
	lp_amqp_outbuf_init(&o, obuf, 10);
	assert_int_equal(lp_amqp_frame_write_method(&o, 1, &m, 4096), -ENOSPC);
	assert_int_equal(lp_amqp_frame_write_heartbeat(&o), 8);
	assert_int_equal(lp_amqp_frame_write_heartbeat(&o), -ENOSPC);
}

/* The send buffer grows on the heap for what does not fit, only when allowed,
 * keeps the order of what is pending, and goes back to its fixed array (heap
 * freed) once drained to the fixed size. */
static void test_outbuf_grow(void **state)
{
	static uint8_t fixed[256], body[10000];
	struct lp_amqp_outbuf o;
	struct lp_amqp_method m = { .id = LP_AMQP_CHANNEL_OPEN_OK };
	struct lp_amqp_basic_properties props = { 0 };
	const uint8_t *p;
	uint8_t got[20000];
	size_t n = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(i * 13 + 5);
	lp_amqp_outbuf_init(&o, fixed, sizeof(fixed));
	assert_int_equal(lp_amqp_frame_write_method(&o, 1, &m, 4096), 16);
	/* Not allowed to grow: refused, nothing changed. */
	assert_int_equal(lp_amqp_frame_write_content(&o, 1, &props, body, 1000, 4096), -ENOSPC);
	assert_int_equal(lp_amqp_outbuf_len(&o), 16);
	assert_int_equal(lp_amqp_outbuf_ensure(&o, 1000), -ENOSPC);
	/* Allowed: the content lands in a heap buffer after the method. */
	lp_amqp_outbuf_set_grow(&o, 1 << 20);
	int c = lp_amqp_frame_write_content(&o, 1, &props, body, sizeof(body), 4096);
	assert_int_equal(c, 8 + 12 + 2 + 3 * 8 + 10000);
	assert_true(lp_amqp_outbuf_grown(&o));
	assert_true(o.cap >= 16 + (size_t)c + sizeof(fixed));
	assert_int_equal(lp_amqp_outbuf_room(&o), 0); /* over the fixed size */
	/* A method after it needs no new buffer (room was left for it). */
	uint8_t *before = o.buf;
	assert_int_equal(lp_amqp_frame_write_method(&o, 2, &m, 4096), 16);
	assert_ptr_equal(o.buf, before);
	size_t total = lp_amqp_outbuf_len(&o);
	assert_int_equal(total, 16 + (size_t)c + 16);
	/* Drain in pieces: back on the fixed array once <= 256 pending. */
	while (lp_amqp_outbuf_len(&o) > 0) {
		size_t k = lp_amqp_outbuf_peek(&o, &p);
		if (k > 777)
			k = 777;
		memcpy(got + n, p, k);
		n += k;
		lp_amqp_outbuf_consume(&o, k);
		assert_true(lp_amqp_outbuf_grown(&o) == (lp_amqp_outbuf_len(&o) > sizeof(fixed)));
	}
	assert_int_equal(n, total);
	assert_ptr_equal(o.buf, fixed);
	static const uint8_t open_ok1[] = { 1, 0, 1, 0, 0, 0, 8, 0, 20, 0, 11, 0, 0, 0, 0, 0xCE };
	static const uint8_t open_ok2[] = { 1, 0, 2, 0, 0, 0, 8, 0, 20, 0, 11, 0, 0, 0, 0, 0xCE };
	assert_memory_equal(got, open_ok1, 16);
	assert_memory_equal(got + total - 16, open_ok2, 16);
	/* Body frames 4088, 4088, 1824 after the 22-octet header frame. */
	assert_memory_equal(got + 16 + 22 + 7, body, 4088);
	assert_memory_equal(got + 16 + 22 + 4096 + 7, body + 4088, 4088);
	assert_memory_equal(got + 16 + 22 + 2 * 4096 + 7, body + 2 * 4088, 1824);
	/* Past grow_max: nothing written; a heartbeat grows the buffer too. */
	lp_amqp_outbuf_set_grow(&o, 4096);
	assert_int_equal(lp_amqp_frame_write_content(&o, 1, &props, body, sizeof(body), 4096), -ENOSPC);
	assert_int_equal(lp_amqp_outbuf_len(&o), 0);
	for (int i = 0; i < 40; i++)
		assert_int_equal(lp_amqp_frame_write_heartbeat(&o), 8);
	assert_true(lp_amqp_outbuf_grown(&o));
	assert_int_equal(lp_amqp_outbuf_len(&o), 320);
	/* fini frees the heap buffer (ASan's leak check) and empties. */
	lp_amqp_outbuf_fini(&o);
	assert_ptr_equal(o.buf, fixed);
	assert_int_equal(lp_amqp_outbuf_len(&o), 0);
	assert_int_equal(lp_amqp_content_wire_size(3, 10000, 4096), 8 + 12 + 3 + 3 * 8 + 10000);
	assert_int_equal(lp_amqp_content_wire_size(0, 0, 4096), 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_any_split),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_writer),
		cmocka_unit_test(test_outbuf_grow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
