/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the whole AMQP connection state machine
 * (amqp_conn.c, amqp_channel.c): a valid handshake (protocol header,
 * Start-Ok guest/guest, Tune-Ok, Open "/") is prepended unless the first
 * input octet is odd, then the input is fed in chunks whose sizes it also
 * chooses, with output drained and time advanced between chunks. Besides
 * memory safety it checks that input is always consumed (the output is
 * drained every time) and that once closed the connection writes nothing more.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "amqp_conn.h"

static const uint8_t handshake[] = {
	'A', 'M', 'Q', 'P', 0, 0, 9, 1,
	/* connection.start-ok: {} PLAIN "\0guest\0guest" en_US */
	1, 0, 0, 0, 0, 0, 36, 0, 10, 0, 11, 0, 0, 0, 0, 5, 'P', 'L', 'A', 'I', 'N',
	0, 0, 0, 12, 0, 'g', 'u', 'e', 's', 't', 0, 'g', 'u', 'e', 's', 't', 5, 'e', 'n', '_', 'U', 'S', 0xCE,
	/* connection.tune-ok 2047 131072 10 */
	1, 0, 0, 0, 0, 0, 12, 0, 10, 0, 31, 0x07, 0xFF, 0, 2, 0, 0, 0, 10, 0xCE,
	/* connection.open "/" "" 0 */
	1, 0, 0, 0, 0, 0, 8, 0, 10, 0, 40, 1, '/', 0, 0, 0xCE,
};

static struct lp_amqp_auth *db;
static volatile uint8_t sink;
static void *mem;
static size_t memsize;
static struct lp_amqp_conn_cfg cfg;

static int on_method(void *ctx, struct lp_amqp_conn *c, uint16_t ch, const struct lp_amqp_method *m)
{
	(void)ctx, (void)c, (void)ch;
	/* Accept half the methods so that content assembly is reached too. */
	return (m->id & 1) ? -ENOTSUP : 0;
}
static int on_header(void *ctx, struct lp_amqp_conn *c, uint16_t ch, const struct lp_amqp_content_header *h)
{
	(void)ctx, (void)c, (void)ch, (void)h;
	return 0;
}
static int on_body(void *ctx, struct lp_amqp_conn *c, uint16_t ch, const uint8_t *p, size_t len, bool last)
{
	(void)ctx, (void)c, (void)ch, (void)last;
	uint8_t x = 0;
	for (size_t i = 0; i < len; i++)
		x ^= p[i];
	sink ^= x; /* touch every body octet: ASan checks the view */
	return 0;
}
static const struct lp_amqp_conn_ops ops = {
	.on_method = on_method, .on_content_header = on_header, .on_content_body = on_body,
};

static void drain(struct lp_amqp_conn *c)
{
	const uint8_t *p;
	size_t n = lp_amqp_conn_output_peek(c, &p);
	lp_amqp_conn_output_consume(c, n);
}

static void feed(struct lp_amqp_conn *c, const uint8_t *p, size_t len, size_t chunk, uint64_t *now)
{
	size_t off = 0;
	for (int guard = 0; off < len && guard < 100000; guard++) {
		size_t n = len - off < chunk ? len - off : chunk;
		size_t used = lp_amqp_conn_input(c, p + off, n);
		if (used > n)
			abort();
		off += used;
		bool closed = lp_amqp_conn_closed(c);
		drain(c);
		*now += 100000000; /* 0.1 s */
		lp_amqp_conn_tick(c, *now);
		if (closed) {
			const uint8_t *q;
			if (lp_amqp_conn_output_peek(c, &q) != 0)
				abort();
		}
	}
	if (off != len)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (db == NULL) {
		db = lp_amqp_auth_create(2, 2);
		lp_amqp_auth_add_defaults(db);
		lp_amqp_conn_cfg_default(&cfg);
		cfg.channel_max = 64;
		cfg.frame_max = 16384;
		cfg.outbuf_size = 2 * 16384;
		cfg.max_message_size = 1 << 16;
		memsize = lp_amqp_conn_memsize(&cfg);
		mem = aligned_alloc(64, (memsize + 63) & ~(size_t)63);
	}
	if (size < 1)
		return 0;
	uint64_t now = 0;
	struct lp_amqp_conn *c = lp_amqp_conn_init(mem, memsize, &cfg, db, &ops, NULL, 0);
	if (c == NULL)
		abort();
	size_t chunk = 1 + (data[0] >> 1) % 97;
	if (!(data[0] & 1))
		feed(c, handshake, sizeof(handshake), sizeof(handshake), &now);
	feed(c, data + 1, size - 1, chunk, &now);
	if (lp_amqp_conn_get_state(c) == LP_AMQP_CONN_RUNNING) {
		lp_amqp_conn_set_blocked(c, true, "fuzz");
		lp_amqp_conn_close(c, 320, "fuzz");
	}
	drain(c);
	return 0;
}
