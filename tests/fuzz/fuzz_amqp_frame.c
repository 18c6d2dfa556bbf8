/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the AMQP frame reader (dataplane/amqp/amqp_frame.c),
 * the first code that touches bytes from a client's TCP stream. The first
 * two input octets choose the chunk size and frame_max; the rest is the
 * stream. Besides memory safety it checks that the reader returns the same
 * frames whatever the chunking (whole stream vs. the chosen split), that no
 * frame exceeds frame_max, and that every frame ends in 0xCE.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "amqp_frame.h"

#define CAP 8192
#define MAXF 512

static uint8_t buf_a[CAP], buf_b[CAP];

struct sum {
	size_t n;
	int err;
	uint8_t type[MAXF];
	uint16_t ch[MAXF];
	uint32_t size[MAXF];
	uint32_t hash[MAXF];
};

static uint32_t fnv(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static void run(const uint8_t *p, size_t len, size_t chunk, uint32_t fmax, uint8_t *buf, struct sum *s)
{
	struct lp_amqp_frame_reader r;
	size_t off = 0;

	lp_amqp_frame_reader_init(&r, buf, CAP);
	lp_amqp_frame_reader_set_max(&r, fmax);
	s->n = 0;
	s->err = 0;
	while (off < len && s->n < MAXF) {
		size_t n = len - off < chunk ? len - off : chunk, used = 0;
		while (used < n && s->n < MAXF) {
			struct lp_amqp_frame f;
			size_t c;
			int rc = lp_amqp_frame_read(&r, p + off + used, n - used, &c, &f);
			if (c > n - used)
				abort();
			used += c;
			if (rc < 0) {
				s->err = rc;
				return;
			}
			if (rc == 0) {
				if (used != n)
					abort();
				break;
			}
			if (f.size + 8 > fmax || f.payload[f.size] != 0xCE)
				abort();
			s->type[s->n] = f.type;
			s->ch[s->n] = f.channel;
			s->size[s->n] = f.size;
			s->hash[s->n] = fnv(f.payload, f.size);
			s->n++;
		}
		off += n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sum a, b;

	if (size < 2)
		return 0;
	size_t chunk = 1 + data[0] % 64;
	uint32_t fmax = 8 + (uint32_t)data[1] * 32;
	data += 2;
	size -= 2;
	run(data, size, size ? size : 1, fmax, buf_a, &a);
	run(data, size, chunk, fmax, buf_b, &b);
	if (a.n < MAXF && b.n < MAXF) {
		if (a.n != b.n || a.err != b.err)
			abort();
		for (size_t i = 0; i < a.n; i++)
			if (a.type[i] != b.type[i] || a.ch[i] != b.ch[i] || a.size[i] != b.size[i] ||
			    a.hash[i] != b.hash[i])
				abort();
	}
	return 0;
}
