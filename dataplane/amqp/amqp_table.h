/* SPDX-License-Identifier: MIT */
/*
 * AMQP 0-9-1 field tables and field arrays (spec 4.2.5.5, with RabbitMQ's
 * errata for the field type octets: www.rabbitmq.com/amqp-0-9-1-errata.html
 * "Field types"). Used by method arguments (client/server properties,
 * declare/bind/consume arguments), the basic content header's "headers", and
 * the AMQPLAIN SASL response. A table stays on the wire as a view of its body
 * (the bytes after its 4-byte length): decoding validates the whole body once,
 * recursively, and later iteration walks the view without copying.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "amqp_types.h"

/* Field type octets as RabbitMQ and its clients send them. */
enum lp_amqp_field_kind {
	LP_AMQP_FIELD_BOOL = 't',
	LP_AMQP_FIELD_I8 = 'b',
	LP_AMQP_FIELD_U8 = 'B',
	LP_AMQP_FIELD_I16 = 's',
	LP_AMQP_FIELD_U16 = 'u',
	LP_AMQP_FIELD_I32 = 'I',
	LP_AMQP_FIELD_U32 = 'i',
	LP_AMQP_FIELD_I64 = 'l',
	LP_AMQP_FIELD_U64 = 'L', /* rabbitmq-c's AMQP_FIELD_KIND_U64 */
	LP_AMQP_FIELD_F32 = 'f',
	LP_AMQP_FIELD_F64 = 'd',
	LP_AMQP_FIELD_DECIMAL = 'D',
	LP_AMQP_FIELD_LONGSTR = 'S',
	LP_AMQP_FIELD_BYTES = 'x',
	LP_AMQP_FIELD_ARRAY = 'A',
	LP_AMQP_FIELD_TIMESTAMP = 'T',
	LP_AMQP_FIELD_TABLE = 'F',
	LP_AMQP_FIELD_VOID = 'V',
};

/* Nesting limit for tables and arrays inside tables and arrays. */
#define LP_AMQP_TABLE_MAX_DEPTH 32

struct lp_amqp_decimal {
	uint8_t scale;
	uint32_t value;
};

/* One decoded value. For S and x, 'bytes' views the string; for F and A,
 * 'bytes' views the (already validated) body after the 4-byte length. */
struct lp_amqp_field_value {
	uint8_t kind; /* enum lp_amqp_field_kind */
	union {
		bool b;
		int8_t i8;
		uint8_t u8;
		int16_t i16;
		uint16_t u16;
		int32_t i32;
		uint32_t u32;
		int64_t i64;
		uint64_t u64; /* also T (timestamp, seconds since the epoch) */
		float f32;
		double f64;
		struct lp_amqp_decimal dec;
		struct lp_amqp_bytes bytes;
	};
};

/* Iterator over a table body or an array body. */
struct lp_amqp_table_iter {
	struct lp_amqp_rd rd;
};

/* Reads a table (u32 length + body) and validates every entry, recursively.
 * Returns true with *body viewing the entries; false (reader unchanged) when
 * truncated, when a field type octet is unknown, or when nesting exceeds
 * LP_AMQP_TABLE_MAX_DEPTH. */
bool lp_amqp_rd_table(struct lp_amqp_rd *r, struct lp_amqp_bytes *body);

/* Validates a table body / an array body (without the length). Returns true if valid. */
bool lp_amqp_table_valid(struct lp_amqp_bytes body);
bool lp_amqp_array_valid(struct lp_amqp_bytes body);

static inline void lp_amqp_table_iter_init(struct lp_amqp_table_iter *it, struct lp_amqp_bytes body)
{
	lp_amqp_rd_init(&it->rd, body.ptr, body.len);
}

/* Next entry of a table. Returns 1 with *key and *v set; 0 at the end;
 * -EBADMSG when the body is malformed (never after lp_amqp_table_valid). */
int lp_amqp_table_next(struct lp_amqp_table_iter *it, struct lp_amqp_bytes *key,
		       struct lp_amqp_field_value *v);

/* Next element of an array: same returns as lp_amqp_table_next. */
int lp_amqp_array_next(struct lp_amqp_table_iter *it, struct lp_amqp_field_value *v);

/* Looks up 'key' in a validated table body. Returns true and *v if present. */
bool lp_amqp_table_get(struct lp_amqp_bytes body, const char *key, struct lp_amqp_field_value *v);

/* The value of an integer field of any width ('b' 'B' 's' 'u' 'I' 'i' 'l'
 * 'L'; an 'L' above INT64_MAX is refused). Returns true and *out if it is one. */
bool lp_amqp_field_int(const struct lp_amqp_field_value *v, int64_t *out);

/* Writers. A table or array is written as: begin (reserves the length, returns
 * its position in *mark), entries, end (patches the length). Returns true on
 * success; false and w->overflow when out of room (or a key is over 255). */
bool lp_amqp_wr_table_begin(struct lp_amqp_wr *w, size_t *mark);
bool lp_amqp_wr_table_end(struct lp_amqp_wr *w, size_t mark);
/* Writes one value (type octet + payload). For F and A, v->bytes is the
 * already-encoded body, written with its length. */
bool lp_amqp_wr_value(struct lp_amqp_wr *w, const struct lp_amqp_field_value *v);
/* Writes one table entry: key (shortstr) then value. */
bool lp_amqp_wr_field(struct lp_amqp_wr *w, const char *key, const struct lp_amqp_field_value *v);
/* Convenience for common entries. */
bool lp_amqp_wr_field_bool(struct lp_amqp_wr *w, const char *key, bool b);
bool lp_amqp_wr_field_str(struct lp_amqp_wr *w, const char *key, const char *s);
