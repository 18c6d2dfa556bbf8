/* SPDX-License-Identifier: MIT */
/*
 * Bounds-checked primitive readers and writers (AMQP 0-9-1 spec 4.2.5). All
 * integers are big-endian on the wire (spec 4.2.2). See amqp_types.h.
 */
#include "amqp_types.h"

#include <string.h>

bool lp_amqp_rd_u8(struct lp_amqp_rd *r, uint8_t *v)
{
	if (lp_amqp_rd_left(r) < 1)
		return false;
	*v = r->p[r->off];
	r->off += 1;
	return true;
}

bool lp_amqp_rd_u16(struct lp_amqp_rd *r, uint16_t *v)
{
	if (lp_amqp_rd_left(r) < 2)
		return false;
	const uint8_t *p = r->p + r->off;
	*v = (uint16_t)((p[0] << 8) | p[1]);
	r->off += 2;
	return true;
}

bool lp_amqp_rd_u32(struct lp_amqp_rd *r, uint32_t *v)
{
	if (lp_amqp_rd_left(r) < 4)
		return false;
	const uint8_t *p = r->p + r->off;
	*v = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
	r->off += 4;
	return true;
}

bool lp_amqp_rd_u64(struct lp_amqp_rd *r, uint64_t *v)
{
	if (lp_amqp_rd_left(r) < 8)
		return false;
	const uint8_t *p = r->p + r->off;
	uint64_t x = 0;
	for (int i = 0; i < 8; i++)
		x = (x << 8) | p[i];
	*v = x;
	r->off += 8;
	return true;
}

bool lp_amqp_rd_bytes(struct lp_amqp_rd *r, size_t n, struct lp_amqp_bytes *v)
{
	if (lp_amqp_rd_left(r) < n || n > UINT32_MAX)
		return false;
	v->ptr = r->p + r->off;
	v->len = (uint32_t)n;
	r->off += n;
	return true;
}

bool lp_amqp_rd_shortstr(struct lp_amqp_rd *r, struct lp_amqp_bytes *v)
{
	size_t save = r->off;
	uint8_t n;
	if (!lp_amqp_rd_u8(r, &n))
		return false;
	if (!lp_amqp_rd_bytes(r, n, v)) {
		r->off = save;
		return false;
	}
	return true;
}

bool lp_amqp_rd_longstr(struct lp_amqp_rd *r, struct lp_amqp_bytes *v)
{
	size_t save = r->off;
	uint32_t n;
	if (!lp_amqp_rd_u32(r, &n))
		return false;
	if (!lp_amqp_rd_bytes(r, n, v)) {
		r->off = save;
		return false;
	}
	return true;
}

static bool wr_room(struct lp_amqp_wr *w, size_t n)
{
	if (w->overflow || w->cap - w->off < n) {
		w->overflow = true;
		return false;
	}
	return true;
}

bool lp_amqp_wr_u8(struct lp_amqp_wr *w, uint8_t v)
{
	if (!wr_room(w, 1))
		return false;
	w->p[w->off++] = v;
	return true;
}

bool lp_amqp_wr_u16(struct lp_amqp_wr *w, uint16_t v)
{
	if (!wr_room(w, 2))
		return false;
	w->p[w->off++] = (uint8_t)(v >> 8);
	w->p[w->off++] = (uint8_t)v;
	return true;
}

bool lp_amqp_wr_u32(struct lp_amqp_wr *w, uint32_t v)
{
	if (!wr_room(w, 4))
		return false;
	for (int s = 24; s >= 0; s -= 8)
		w->p[w->off++] = (uint8_t)(v >> s);
	return true;
}

bool lp_amqp_wr_u64(struct lp_amqp_wr *w, uint64_t v)
{
	if (!wr_room(w, 8))
		return false;
	for (int s = 56; s >= 0; s -= 8)
		w->p[w->off++] = (uint8_t)(v >> s);
	return true;
}

bool lp_amqp_wr_raw(struct lp_amqp_wr *w, const void *p, size_t n)
{
	if (!wr_room(w, n))
		return false;
	if (n > 0)
		memcpy(w->p + w->off, p, n);
	w->off += n;
	return true;
}

bool lp_amqp_wr_shortstr(struct lp_amqp_wr *w, struct lp_amqp_bytes v)
{
	/* AMQP 0-9-1 4.2.5.3: a short string holds at most 255 octets. */
	if (v.len > 255 || !wr_room(w, 1 + (size_t)v.len)) {
		w->overflow = true;
		return false;
	}
	lp_amqp_wr_u8(w, (uint8_t)v.len);
	return lp_amqp_wr_raw(w, v.ptr, v.len);
}

bool lp_amqp_wr_longstr(struct lp_amqp_wr *w, struct lp_amqp_bytes v)
{
	if (!wr_room(w, 4 + (size_t)v.len))
		return false;
	lp_amqp_wr_u32(w, v.len);
	return lp_amqp_wr_raw(w, v.ptr, v.len);
}

void lp_amqp_wr_patch_u32(struct lp_amqp_wr *w, size_t at, uint32_t v)
{
	if (at + 4 > w->off)
		return;
	w->p[at] = (uint8_t)(v >> 24);
	w->p[at + 1] = (uint8_t)(v >> 16);
	w->p[at + 2] = (uint8_t)(v >> 8);
	w->p[at + 3] = (uint8_t)v;
}

bool lp_amqp_bytes_eq(struct lp_amqp_bytes b, const char *s)
{
	size_t n = strlen(s);
	return b.len == n && (n == 0 || memcmp(b.ptr, s, n) == 0);
}
