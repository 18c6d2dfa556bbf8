/* SPDX-License-Identifier: MIT */
/*
 * Bounds-checked readers and writers for the AMQP 0-9-1 primitive types
 * (spec 4.2.5: octet, short, long, longlong, shortstr, longstr; network byte
 * order). Every length read from the wire is checked here, in one place; the
 * method codec (generated amqp_spec.c), field tables (amqp_table.c) and the
 * frame layer build on these. Readers return views into the caller's buffer:
 * nothing is copied and nothing is allocated, so a view lives as long as the
 * buffer it points into.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A view of bytes owned by someone else (shortstr, longstr, table body). */
struct lp_amqp_bytes {
	const uint8_t *ptr;
	uint32_t len;
};

/* Reader over [p, p + len). 'off' only grows; a failed read leaves it unchanged. */
struct lp_amqp_rd {
	const uint8_t *p;
	size_t len;
	size_t off;
};

/* Writer into [p, p + cap). A write that does not fit writes nothing and sets
 * 'overflow'; later writes then fail too, so callers may check once at the end. */
struct lp_amqp_wr {
	uint8_t *p;
	size_t cap;
	size_t off;
	bool overflow;
};

static inline void lp_amqp_rd_init(struct lp_amqp_rd *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
}

static inline size_t lp_amqp_rd_left(const struct lp_amqp_rd *r)
{
	return r->len - r->off;
}

static inline void lp_amqp_wr_init(struct lp_amqp_wr *w, void *p, size_t cap)
{
	w->p = p;
	w->cap = cap;
	w->off = 0;
	w->overflow = false;
}

/* Readers: true and the value (or view) on success; false, reader unchanged,
 * when the buffer is too short (or, for shortstr/longstr, the announced length
 * runs past its end). */
bool lp_amqp_rd_u8(struct lp_amqp_rd *r, uint8_t *v);
bool lp_amqp_rd_u16(struct lp_amqp_rd *r, uint16_t *v);
bool lp_amqp_rd_u32(struct lp_amqp_rd *r, uint32_t *v);
bool lp_amqp_rd_u64(struct lp_amqp_rd *r, uint64_t *v);
bool lp_amqp_rd_bytes(struct lp_amqp_rd *r, size_t n, struct lp_amqp_bytes *v);
bool lp_amqp_rd_shortstr(struct lp_amqp_rd *r, struct lp_amqp_bytes *v);
bool lp_amqp_rd_longstr(struct lp_amqp_rd *r, struct lp_amqp_bytes *v);

/* Writers: true on success; false (and w->overflow set) when it does not fit,
 * or for shortstr when v->len > 255 (spec 4.2.5.3: short strings are limited
 * to 255 octets). */
bool lp_amqp_wr_u8(struct lp_amqp_wr *w, uint8_t v);
bool lp_amqp_wr_u16(struct lp_amqp_wr *w, uint16_t v);
bool lp_amqp_wr_u32(struct lp_amqp_wr *w, uint32_t v);
bool lp_amqp_wr_u64(struct lp_amqp_wr *w, uint64_t v);
bool lp_amqp_wr_raw(struct lp_amqp_wr *w, const void *p, size_t n);
bool lp_amqp_wr_shortstr(struct lp_amqp_wr *w, struct lp_amqp_bytes v);
bool lp_amqp_wr_longstr(struct lp_amqp_wr *w, struct lp_amqp_bytes v);

/* Store a big-endian u32 at an offset already written (length back-patching). */
void lp_amqp_wr_patch_u32(struct lp_amqp_wr *w, size_t at, uint32_t v);

/* View of a NUL-terminated C string (for building methods in code). */
static inline struct lp_amqp_bytes lp_amqp_cstr(const char *s)
{
	size_t n = 0;
	while (s[n] != '\0')
		n++;
	return (struct lp_amqp_bytes){ .ptr = (const uint8_t *)s, .len = (uint32_t)n };
}

/* Byte-wise equality of a view and a C string. */
bool lp_amqp_bytes_eq(struct lp_amqp_bytes b, const char *s);
