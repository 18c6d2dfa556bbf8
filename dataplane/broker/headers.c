/* SPDX-License-Identifier: MIT */
/*
 * Headers exchange matching (see headers.h). A compiled binding keeps its own
 * copy of the arguments that count, so it outlives the declaring frame.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "headers.h"

struct headers_arg {
	char *key; /* NUL-terminated copy */
	struct lp_amqp_field_value value; /* bytes point into 'copy' */
	uint8_t *copy;
};

struct lp_headers_binding {
	enum lp_headers_mode mode;
	unsigned n_args;
	struct headers_arg args[];
};

enum type_class { CLASS_INT, CLASS_FLOAT, CLASS_OTHER };

static enum type_class type_class(uint8_t kind)
{
	switch (kind) {
	case LP_AMQP_FIELD_I8: case LP_AMQP_FIELD_U8: case LP_AMQP_FIELD_I16:
	case LP_AMQP_FIELD_U16: case LP_AMQP_FIELD_I32: case LP_AMQP_FIELD_U32:
	case LP_AMQP_FIELD_I64: case LP_AMQP_FIELD_U64:
		return CLASS_INT;
	case LP_AMQP_FIELD_F32: case LP_AMQP_FIELD_F64:
		return CLASS_FLOAT;
	default:
		return CLASS_OTHER;
	}
}

static __int128 int_value(const struct lp_amqp_field_value *v)
{
	switch (v->kind) {
	case LP_AMQP_FIELD_I8: return v->i8;
	case LP_AMQP_FIELD_U8: return v->u8;
	case LP_AMQP_FIELD_I16: return v->i16;
	case LP_AMQP_FIELD_U16: return v->u16;
	case LP_AMQP_FIELD_I32: return v->i32;
	case LP_AMQP_FIELD_U32: return v->u32;
	case LP_AMQP_FIELD_I64: return v->i64;
	default: return v->u64;
	}
}

static bool values_equal(const struct lp_amqp_field_value *a, const struct lp_amqp_field_value *b)
{
	enum type_class ca = type_class(a->kind);

	if (ca != type_class(b->kind))
		return false;
	if (ca == CLASS_INT)
		return int_value(a) == int_value(b);
	if (ca == CLASS_FLOAT)
		return (a->kind == LP_AMQP_FIELD_F32 ? (double)a->f32 : a->f64) ==
		       (b->kind == LP_AMQP_FIELD_F32 ? (double)b->f32 : b->f64);
	if (a->kind != b->kind)
		return false;
	switch (a->kind) {
	case LP_AMQP_FIELD_BOOL:
		return a->b == b->b;
	case LP_AMQP_FIELD_TIMESTAMP:
		return a->u64 == b->u64;
	case LP_AMQP_FIELD_DECIMAL:
		return a->dec.scale == b->dec.scale && a->dec.value == b->dec.value;
	case LP_AMQP_FIELD_VOID:
		return true;
	default: /* strings, byte arrays, nested tables and arrays: same encoding */
		return a->bytes.len == b->bytes.len &&
		       (a->bytes.len == 0 || memcmp(a->bytes.ptr, b->bytes.ptr, a->bytes.len) == 0);
	}
}

static bool has_bytes(uint8_t kind)
{
	return kind == LP_AMQP_FIELD_LONGSTR || kind == LP_AMQP_FIELD_BYTES ||
	       kind == LP_AMQP_FIELD_TABLE || kind == LP_AMQP_FIELD_ARRAY;
}

static int parse_mode(struct lp_amqp_bytes args, enum lp_headers_mode *mode)
{
	static const struct { const char *name; enum lp_headers_mode mode; } modes[] = {
		{"all", LP_HEADERS_ALL}, {"any", LP_HEADERS_ANY},
		{"all-with-x", LP_HEADERS_ALL_WITH_X}, {"any-with-x", LP_HEADERS_ANY_WITH_X},
	};
	struct lp_amqp_field_value v;

	*mode = LP_HEADERS_ALL;
	if (!lp_amqp_table_get(args, "x-match", &v))
		return 0;
	if (v.kind != LP_AMQP_FIELD_LONGSTR)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (lp_amqp_bytes_eq(v.bytes, modes[i].name)) {
			*mode = modes[i].mode;
			return 0;
		}
	}
	return -EINVAL;
}

static bool counts(struct lp_amqp_bytes key, enum lp_headers_mode mode)
{
	if (lp_amqp_bytes_eq(key, "x-match"))
		return false;
	if (key.len >= 2 && key.ptr[0] == 'x' && key.ptr[1] == '-')
		return mode == LP_HEADERS_ALL_WITH_X || mode == LP_HEADERS_ANY_WITH_X;
	return true;
}

struct lp_headers_binding *lp_headers_binding_compile(struct lp_amqp_bytes args)
{
	struct lp_amqp_table_iter it;
	struct lp_amqp_field_value v;
	struct lp_amqp_bytes key;
	enum lp_headers_mode mode;
	unsigned n = 0;
	int rc;

	if (!lp_amqp_table_valid(args) || parse_mode(args, &mode) != 0) {
		errno = EINVAL;
		return NULL;
	}
	lp_amqp_table_iter_init(&it, args);
	while ((rc = lp_amqp_table_next(&it, &key, &v)) == 1)
		n += counts(key, mode);
	struct lp_headers_binding *b = calloc(1, sizeof(*b) + n * sizeof(b->args[0]));

	if (b == NULL)
		return NULL;
	b->mode = mode;
	lp_amqp_table_iter_init(&it, args);
	while (lp_amqp_table_next(&it, &key, &v) == 1) {
		if (!counts(key, mode))
			continue;
		struct headers_arg *a = &b->args[b->n_args++];

		a->value = v;
		a->key = strndup((const char *)key.ptr, key.len);
		if (a->key == NULL)
			goto nomem;
		if (has_bytes(v.kind) && v.bytes.len > 0) {
			a->copy = malloc(v.bytes.len);
			if (a->copy == NULL)
				goto nomem;
			memcpy(a->copy, v.bytes.ptr, v.bytes.len);
			a->value.bytes.ptr = a->copy;
		}
	}
	return b;
nomem:
	lp_headers_binding_free(b);
	errno = ENOMEM;
	return NULL;
}

void lp_headers_binding_free(struct lp_headers_binding *b)
{
	if (b == NULL)
		return;
	for (unsigned i = 0; i < b->n_args; i++) {
		free(b->args[i].key);
		free(b->args[i].copy);
	}
	free(b);
}

enum lp_headers_mode lp_headers_binding_mode(const struct lp_headers_binding *b)
{
	return b->mode;
}

bool lp_headers_match(const struct lp_headers_binding *b, struct lp_amqp_bytes headers)
{
	bool want_all = b->mode == LP_HEADERS_ALL || b->mode == LP_HEADERS_ALL_WITH_X;

	for (unsigned i = 0; i < b->n_args; i++) {
		const struct headers_arg *a = &b->args[i];
		struct lp_amqp_field_value v;
		bool ok = lp_amqp_table_get(headers, a->key, &v) &&
			  (a->value.kind == LP_AMQP_FIELD_VOID || values_equal(&a->value, &v));

		if (ok && !want_all)
			return true;
		if (!ok && want_all)
			return false;
	}
	return want_all;
}
