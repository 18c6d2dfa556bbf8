/* SPDX-License-Identifier: MIT */
/*
 * AMQP field tables <-> JSON for the management API (see http_args.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "amqp_table.h"
#include "http_args.h"

static json_t *value_to_json(const struct lp_amqp_field_value *v, unsigned depth);

static json_t *string_to_json(struct lp_amqp_bytes b)
{
	json_t *j = json_stringn((const char *)b.ptr, b.len);
	if (j || b.len == 0)
		return j ? j : json_string("");
	char *c = malloc(b.len ? b.len : 1);
	if (!c)
		return NULL;
	for (uint32_t i = 0; i < b.len; i++)
		c[i] = b.ptr[i] >= 0x20 && b.ptr[i] < 0x7f ? (char)b.ptr[i] : '?';
	j = json_stringn(c, b.len);
	free(c);
	return j;
}

static json_t *table_to_json(struct lp_amqp_bytes body, unsigned depth)
{
	json_t *o = json_object();
	struct lp_amqp_table_iter it;
	struct lp_amqp_bytes key;
	struct lp_amqp_field_value v;
	lp_amqp_table_iter_init(&it, body);
	while (o && lp_amqp_table_next(&it, &key, &v) == 1) {
		char k[256];
		memcpy(k, key.ptr, key.len);
		k[key.len] = '\0';
		json_t *jv = value_to_json(&v, depth + 1);
		if (!jv || json_object_set_new(o, k, jv) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

static json_t *array_to_json(struct lp_amqp_bytes body, unsigned depth)
{
	json_t *a = json_array();
	struct lp_amqp_table_iter it;
	struct lp_amqp_field_value v;
	lp_amqp_table_iter_init(&it, body);
	while (a && lp_amqp_array_next(&it, &v) == 1) {
		json_t *jv = value_to_json(&v, depth + 1);
		if (!jv || json_array_append_new(a, jv) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *value_to_json(const struct lp_amqp_field_value *v, unsigned depth)
{
	int64_t i;
	if (depth > LP_AMQP_TABLE_MAX_DEPTH)
		return NULL;
	switch (v->kind) {
	case LP_AMQP_FIELD_BOOL: return json_boolean(v->b);
	case LP_AMQP_FIELD_F32: return json_real(v->f32);
	case LP_AMQP_FIELD_F64: return json_real(v->f64);
	case LP_AMQP_FIELD_DECIMAL: {
		double d = v->dec.value;
		for (uint8_t s = 0; s < v->dec.scale; s++)
			d /= 10;
		return json_real(d);
	}
	case LP_AMQP_FIELD_LONGSTR:
	case LP_AMQP_FIELD_BYTES: return string_to_json(v->bytes);
	case LP_AMQP_FIELD_TABLE: return table_to_json(v->bytes, depth);
	case LP_AMQP_FIELD_ARRAY: return array_to_json(v->bytes, depth);
	case LP_AMQP_FIELD_TIMESTAMP: return json_integer((json_int_t)v->u64);
	case LP_AMQP_FIELD_VOID: return json_null();
	case LP_AMQP_FIELD_U64:
		if (v->u64 > INT64_MAX)
			return json_real((double)v->u64);
		return json_integer((json_int_t)v->u64);
	default:
		if (lp_amqp_field_int(v, &i))
			return json_integer(i);
		return json_string("");
	}
}

json_t *lp_http_args_to_json(const uint8_t *args, size_t len)
{
	struct lp_amqp_bytes body = { .ptr = args, .len = (uint32_t)len };
	if (!len)
		return json_object();
	return table_to_json(body, 0);
}

static int write_value(struct lp_amqp_wr *w, const json_t *j, unsigned depth);

static int write_table(struct lp_amqp_wr *w, const json_t *obj, unsigned depth)
{
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)obj, key, v) {
		struct lp_amqp_bytes k = { .ptr = (const uint8_t *)key, .len = (uint32_t)strlen(key) };
		if (k.len > 255)
			return -EINVAL;
		lp_amqp_wr_shortstr(w, k);
		int rc = write_value(w, v, depth + 1);
		if (rc < 0)
			return rc;
	}
	return w->overflow ? -EMSGSIZE : 0;
}

static int write_value(struct lp_amqp_wr *w, const json_t *j, unsigned depth)
{
	struct lp_amqp_field_value v;
	size_t mark;
	int rc = 0;
	if (depth > LP_AMQP_TABLE_MAX_DEPTH)
		return -EINVAL;
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		lp_amqp_wr_u8(w, LP_AMQP_FIELD_TABLE);
		lp_amqp_wr_table_begin(w, &mark);
		rc = write_table(w, j, depth);
		lp_amqp_wr_table_end(w, mark);
		break;
	case JSON_ARRAY: {
		size_t i;
		json_t *e;
		lp_amqp_wr_u8(w, LP_AMQP_FIELD_ARRAY);
		lp_amqp_wr_table_begin(w, &mark);
		json_array_foreach((json_t *)j, i, e)
			if (rc == 0)
				rc = write_value(w, e, depth + 1);
		lp_amqp_wr_table_end(w, mark);
		break;
	}
	case JSON_STRING:
		v.kind = LP_AMQP_FIELD_LONGSTR;
		v.bytes.ptr = (const uint8_t *)json_string_value(j);
		v.bytes.len = (uint32_t)json_string_length(j);
		lp_amqp_wr_value(w, &v);
		break;
	case JSON_INTEGER:
		v.kind = LP_AMQP_FIELD_I64;
		v.i64 = json_integer_value(j);
		lp_amqp_wr_value(w, &v);
		break;
	case JSON_REAL:
		v.kind = LP_AMQP_FIELD_F64;
		v.f64 = json_real_value(j);
		lp_amqp_wr_value(w, &v);
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		v.kind = LP_AMQP_FIELD_BOOL;
		v.b = json_is_true(j);
		lp_amqp_wr_value(w, &v);
		break;
	case JSON_NULL:
		v.kind = LP_AMQP_FIELD_VOID;
		lp_amqp_wr_value(w, &v);
		break;
	}
	if (rc < 0)
		return rc;
	return w->overflow ? -EMSGSIZE : 0;
}

int lp_http_args_from_json(const json_t *obj, uint8_t *buf, size_t cap)
{
	if (!obj || json_is_null(obj))
		return 0;
	if (!json_is_object(obj))
		return -EINVAL;
	struct lp_amqp_wr w;
	lp_amqp_wr_init(&w, buf, cap);
	int rc = write_table(&w, obj, 0);
	return rc < 0 ? rc : (int)w.off;
}
