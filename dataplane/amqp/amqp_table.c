/* SPDX-License-Identifier: MIT */
/*
 * Field tables and arrays: validation, iteration, lookup and writing (AMQP
 * 0-9-1 4.2.5.5 with RabbitMQ's field-type errata). See amqp_table.h.
 */
#include "amqp_table.h"

#include <errno.h>
#include <string.h>

static bool rd_value(struct lp_amqp_rd *r, struct lp_amqp_field_value *v, unsigned depth);

static bool valid_body(struct lp_amqp_bytes body, bool is_table, unsigned depth)
{
	struct lp_amqp_rd r;
	struct lp_amqp_field_value v;
	struct lp_amqp_bytes key;

	lp_amqp_rd_init(&r, body.ptr, body.len);
	while (lp_amqp_rd_left(&r) > 0) {
		if (is_table && !lp_amqp_rd_shortstr(&r, &key))
			return false;
		if (!rd_value(&r, &v, depth))
			return false;
	}
	return true;
}

/* Reads one value; F and A bodies are validated at depth + 1. */
static bool rd_value(struct lp_amqp_rd *r, struct lp_amqp_field_value *v, unsigned depth)
{
	size_t save = r->off;
	uint8_t kind, u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	bool ok;

	if (!lp_amqp_rd_u8(r, &kind))
		return false;
	v->kind = kind;
	switch (kind) {
	case LP_AMQP_FIELD_BOOL:
		ok = lp_amqp_rd_u8(r, &u8);
		v->b = u8 != 0;
		break;
	case LP_AMQP_FIELD_I8:
	case LP_AMQP_FIELD_U8:
		ok = lp_amqp_rd_u8(r, &v->u8);
		break;
	case LP_AMQP_FIELD_I16:
	case LP_AMQP_FIELD_U16:
		ok = lp_amqp_rd_u16(r, &u16);
		v->u16 = u16;
		break;
	case LP_AMQP_FIELD_I32:
	case LP_AMQP_FIELD_U32:
		ok = lp_amqp_rd_u32(r, &v->u32);
		break;
	case LP_AMQP_FIELD_F32:
		ok = lp_amqp_rd_u32(r, &u32);
		memcpy(&v->f32, &u32, sizeof(v->f32));
		break;
	case LP_AMQP_FIELD_I64:
	case LP_AMQP_FIELD_U64:
	case LP_AMQP_FIELD_TIMESTAMP:
		ok = lp_amqp_rd_u64(r, &v->u64);
		break;
	case LP_AMQP_FIELD_F64:
		ok = lp_amqp_rd_u64(r, &u64);
		memcpy(&v->f64, &u64, sizeof(v->f64));
		break;
	case LP_AMQP_FIELD_DECIMAL:
		ok = lp_amqp_rd_u8(r, &v->dec.scale) && lp_amqp_rd_u32(r, &v->dec.value);
		break;
	case LP_AMQP_FIELD_LONGSTR:
	case LP_AMQP_FIELD_BYTES:
		ok = lp_amqp_rd_longstr(r, &v->bytes);
		break;
	case LP_AMQP_FIELD_TABLE:
	case LP_AMQP_FIELD_ARRAY:
		ok = depth < LP_AMQP_TABLE_MAX_DEPTH && lp_amqp_rd_longstr(r, &v->bytes) &&
		     valid_body(v->bytes, kind == LP_AMQP_FIELD_TABLE, depth + 1);
		break;
	case LP_AMQP_FIELD_VOID:
		ok = true;
		break;
	default:
		/* RabbitMQ errata: any other type octet is not a field type. */
		ok = false;
		break;
	}
	if (!ok)
		r->off = save;
	return ok;
}

bool lp_amqp_rd_table(struct lp_amqp_rd *r, struct lp_amqp_bytes *body)
{
	size_t save = r->off;
	if (!lp_amqp_rd_longstr(r, body))
		return false;
	if (!valid_body(*body, true, 1)) {
		r->off = save;
		return false;
	}
	return true;
}

bool lp_amqp_table_valid(struct lp_amqp_bytes body)
{
	return valid_body(body, true, 1);
}

bool lp_amqp_array_valid(struct lp_amqp_bytes body)
{
	return valid_body(body, false, 1);
}

int lp_amqp_table_next(struct lp_amqp_table_iter *it, struct lp_amqp_bytes *key,
		       struct lp_amqp_field_value *v)
{
	if (lp_amqp_rd_left(&it->rd) == 0)
		return 0;
	size_t save = it->rd.off;
	if (!lp_amqp_rd_shortstr(&it->rd, key) || !rd_value(&it->rd, v, 1)) {
		it->rd.off = save;
		return -EBADMSG;
	}
	return 1;
}

int lp_amqp_array_next(struct lp_amqp_table_iter *it, struct lp_amqp_field_value *v)
{
	if (lp_amqp_rd_left(&it->rd) == 0)
		return 0;
	if (!rd_value(&it->rd, v, 1))
		return -EBADMSG;
	return 1;
}

bool lp_amqp_table_get(struct lp_amqp_bytes body, const char *key, struct lp_amqp_field_value *v)
{
	struct lp_amqp_table_iter it;
	struct lp_amqp_bytes k;

	lp_amqp_table_iter_init(&it, body);
	while (lp_amqp_table_next(&it, &k, v) == 1) {
		if (lp_amqp_bytes_eq(k, key))
			return true;
	}
	return false;
}

bool lp_amqp_field_int(const struct lp_amqp_field_value *v, int64_t *out)
{
	switch (v->kind) {
	case LP_AMQP_FIELD_I8: *out = v->i8; return true;
	case LP_AMQP_FIELD_U8: *out = v->u8; return true;
	case LP_AMQP_FIELD_I16: *out = v->i16; return true;
	case LP_AMQP_FIELD_U16: *out = v->u16; return true;
	case LP_AMQP_FIELD_I32: *out = v->i32; return true;
	case LP_AMQP_FIELD_U32: *out = v->u32; return true;
	case LP_AMQP_FIELD_I64: *out = v->i64; return true;
	case LP_AMQP_FIELD_U64:
		if (v->u64 > INT64_MAX)
			return false;
		*out = (int64_t)v->u64;
		return true;
	default:
		return false;
	}
}

bool lp_amqp_wr_table_begin(struct lp_amqp_wr *w, size_t *mark)
{
	*mark = w->off;
	return lp_amqp_wr_u32(w, 0);
}

bool lp_amqp_wr_table_end(struct lp_amqp_wr *w, size_t mark)
{
	if (w->overflow || w->off - mark - 4 > UINT32_MAX)
		return false;
	lp_amqp_wr_patch_u32(w, mark, (uint32_t)(w->off - mark - 4));
	return true;
}

bool lp_amqp_wr_value(struct lp_amqp_wr *w, const struct lp_amqp_field_value *v)
{
	uint32_t u32;
	uint64_t u64;

	if (!lp_amqp_wr_u8(w, v->kind))
		return false;
	switch (v->kind) {
	case LP_AMQP_FIELD_BOOL:
		return lp_amqp_wr_u8(w, v->b ? 1 : 0);
	case LP_AMQP_FIELD_I8:
	case LP_AMQP_FIELD_U8:
		return lp_amqp_wr_u8(w, v->u8);
	case LP_AMQP_FIELD_I16:
	case LP_AMQP_FIELD_U16:
		return lp_amqp_wr_u16(w, v->u16);
	case LP_AMQP_FIELD_I32:
	case LP_AMQP_FIELD_U32:
		return lp_amqp_wr_u32(w, v->u32);
	case LP_AMQP_FIELD_F32:
		memcpy(&u32, &v->f32, sizeof(u32));
		return lp_amqp_wr_u32(w, u32);
	case LP_AMQP_FIELD_I64:
	case LP_AMQP_FIELD_U64:
	case LP_AMQP_FIELD_TIMESTAMP:
		return lp_amqp_wr_u64(w, v->u64);
	case LP_AMQP_FIELD_F64:
		memcpy(&u64, &v->f64, sizeof(u64));
		return lp_amqp_wr_u64(w, u64);
	case LP_AMQP_FIELD_DECIMAL:
		return lp_amqp_wr_u8(w, v->dec.scale) && lp_amqp_wr_u32(w, v->dec.value);
	case LP_AMQP_FIELD_LONGSTR:
	case LP_AMQP_FIELD_BYTES:
	case LP_AMQP_FIELD_TABLE:
	case LP_AMQP_FIELD_ARRAY:
		return lp_amqp_wr_longstr(w, v->bytes);
	case LP_AMQP_FIELD_VOID:
		return true;
	default:
		w->overflow = true;
		return false;
	}
}

bool lp_amqp_wr_field(struct lp_amqp_wr *w, const char *key, const struct lp_amqp_field_value *v)
{
	return lp_amqp_wr_shortstr(w, lp_amqp_cstr(key)) && lp_amqp_wr_value(w, v);
}

bool lp_amqp_wr_field_bool(struct lp_amqp_wr *w, const char *key, bool b)
{
	struct lp_amqp_field_value v = { .kind = LP_AMQP_FIELD_BOOL, .b = b };
	return lp_amqp_wr_field(w, key, &v);
}

bool lp_amqp_wr_field_str(struct lp_amqp_wr *w, const char *key, const char *s)
{
	struct lp_amqp_field_value v = { .kind = LP_AMQP_FIELD_LONGSTR, .bytes = lp_amqp_cstr(s) };
	return lp_amqp_wr_field(w, key, &v);
}
