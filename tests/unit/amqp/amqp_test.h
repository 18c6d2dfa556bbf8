/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the AMQP unit tests: golden-vector loading (files
 * recorded from real clients by golden/capture.sh) and a plain frame splitter
 * that does not use the code under test.
 */
#pragma once

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef LP_GOLDEN_DIR
#error "LP_GOLDEN_DIR must name tests/unit/amqp/golden"
#endif

/* Reads golden/<name> into a malloc'd buffer; *len its size. Aborts if absent. */
static inline uint8_t *golden_load(const char *name, size_t *len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", LP_GOLDEN_DIR, name);
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "cannot open %s\n", path);
		abort();
	}
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *p = malloc((size_t)n + 1);
	if (p == NULL || fread(p, 1, (size_t)n, f) != (size_t)n)
		abort();
	fclose(f);
	*len = (size_t)n;
	return p;
}

struct golden_frame {
	uint8_t type;
	uint16_t channel;
	uint32_t size;
	const uint8_t *payload;
	size_t offset; /* of the frame in the stream */
};

/* Splits a recorded stream (after the 8-octet protocol header) into frames.
 * Returns the count (<= max). */
static inline size_t golden_frames(const uint8_t *p, size_t len, struct golden_frame *out, size_t max)
{
	size_t off = 8, n = 0;
	while (off + 8 <= len && n < max) {
		uint32_t size = ((uint32_t)p[off + 3] << 24) | ((uint32_t)p[off + 4] << 16) |
				((uint32_t)p[off + 5] << 8) | p[off + 6];
		if (off + 8 + size > len)
			break;
		out[n] = (struct golden_frame){ p[off], (uint16_t)((p[off + 1] << 8) | p[off + 2]), size,
						p + off + 7, off };
		n++;
		off += 8 + size;
	}
	return n;
}

static inline uint16_t be16_at(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}
