/* SPDX-License-Identifier: MIT */
/*
 * Dead-lettered properties (see x_death.h). The new headers table is
 * written to the scratch buffer: the first-death headers (the first time),
 * the x-death array with this event's entry in front, then every other
 * header of the message as it was. An entry's keys are in RabbitMQ's order
 * (rabbit_misc:sort_field_table: sorted by name).
 */
#include <errno.h>
#include <string.h>

#include "amqp_table.h"
#include "x_death.h"

static bool key_is(struct lp_amqp_bytes key, const char *s)
{
	return lp_amqp_bytes_eq(key, s);
}

static bool str_field(struct lp_amqp_bytes table, const char *key, struct lp_amqp_bytes *out)
{
	struct lp_amqp_field_value v;

	if (!lp_amqp_table_get(table, key, &v) || v.kind != LP_AMQP_FIELD_LONGSTR)
		return false;
	*out = v.bytes;
	return true;
}

static bool bytes_same(struct lp_amqp_bytes a, struct lp_amqp_bytes b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* Is the x-death entry (a table body) for queue q and reason r? */
static bool entry_is(struct lp_amqp_bytes entry, struct lp_amqp_bytes q, const char *r)
{
	struct lp_amqp_bytes eq, er;

	return str_field(entry, "queue", &eq) && str_field(entry, "reason", &er) &&
	       bytes_same(eq, q) && lp_amqp_bytes_eq(er, r);
}

static bool wr_str(struct lp_amqp_wr *w, const char *key, struct lp_amqp_bytes s)
{
	struct lp_amqp_field_value v = {.kind = LP_AMQP_FIELD_LONGSTR, .bytes = s};

	return lp_amqp_wr_field(w, key, &v);
}

static bool wr_long(struct lp_amqp_wr *w, const char *key, int64_t n)
{
	struct lp_amqp_field_value v = {.kind = LP_AMQP_FIELD_I64, .i64 = n};

	return lp_amqp_wr_field(w, key, &v);
}

/* A new entry: count 1 and the event, keys sorted. */
static void wr_new_entry(struct lp_amqp_wr *w, const struct lp_x_death *d,
			 const struct lp_amqp_bytes *orig_expiration)
{
	struct lp_amqp_field_value v;
	size_t mark, rkeys;

	lp_amqp_wr_u8(w, LP_AMQP_FIELD_TABLE);
	lp_amqp_wr_table_begin(w, &mark);
	wr_long(w, "count", 1);
	wr_str(w, "exchange", d->exchange);
	if (orig_expiration != NULL)
		wr_str(w, "original-expiration", *orig_expiration);
	wr_str(w, "queue", d->queue);
	wr_str(w, "reason", lp_amqp_cstr(d->reason));
	lp_amqp_wr_shortstr(w, lp_amqp_cstr("routing-keys"));
	lp_amqp_wr_u8(w, LP_AMQP_FIELD_ARRAY);
	lp_amqp_wr_table_begin(w, &rkeys);
	v = (struct lp_amqp_field_value){.kind = LP_AMQP_FIELD_LONGSTR, .bytes = d->rkey};
	lp_amqp_wr_value(w, &v);
	lp_amqp_wr_table_end(w, rkeys);
	v = (struct lp_amqp_field_value){.kind = LP_AMQP_FIELD_TIMESTAMP, .u64 = d->time};
	lp_amqp_wr_field(w, "time", &v);
	lp_amqp_wr_table_end(w, mark);
}

/* An existing entry again: its fields as they were, count + 1
 * (rabbit_dead_letter:increment_xdeath_event_count). */
static void wr_counted_entry(struct lp_amqp_wr *w, struct lp_amqp_bytes entry)
{
	struct lp_amqp_table_iter it;
	struct lp_amqp_field_value v;
	struct lp_amqp_bytes key;
	bool counted = false;
	size_t mark;
	int64_t n;

	lp_amqp_wr_u8(w, LP_AMQP_FIELD_TABLE);
	lp_amqp_wr_table_begin(w, &mark);
	lp_amqp_table_iter_init(&it, entry);
	while (lp_amqp_table_next(&it, &key, &v) == 1) {
		if (key_is(key, "count") && lp_amqp_field_int(&v, &n)) {
			wr_long(w, "count", n + 1);
			counted = true;
			continue;
		}
		lp_amqp_wr_shortstr(w, key);
		lp_amqp_wr_value(w, &v);
	}
	if (!counted)
		wr_long(w, "count", 1);
	lp_amqp_wr_table_end(w, mark);
}

/* The new headers table body for d (old: the message's, may be empty). */
static void wr_headers(struct lp_amqp_wr *w, struct lp_amqp_bytes old, const struct lp_x_death *d,
		       const struct lp_amqp_bytes *orig_expiration)
{
	struct lp_amqp_field_value deaths = {.kind = 0}, v;
	struct lp_amqp_table_iter it;
	struct lp_amqp_bytes key, matched = {0};
	bool have_match = false;
	size_t mark;

	if (old.len != 0 && (!lp_amqp_table_get(old, "x-death", &deaths) ||
			     deaths.kind != LP_AMQP_FIELD_ARRAY))
		deaths.kind = 0;
	if (!lp_amqp_table_get(old, "x-first-death-reason", &v)) {
		wr_str(w, "x-first-death-exchange", d->exchange);
		wr_str(w, "x-first-death-queue", d->queue);
		wr_str(w, "x-first-death-reason", lp_amqp_cstr(d->reason));
	}
	if (deaths.kind == LP_AMQP_FIELD_ARRAY) {
		lp_amqp_table_iter_init(&it, deaths.bytes);
		while (!have_match && lp_amqp_array_next(&it, &v) == 1)
			if (v.kind == LP_AMQP_FIELD_TABLE && entry_is(v.bytes, d->queue, d->reason)) {
				matched = v.bytes;
				have_match = true;
			}
	}
	lp_amqp_wr_shortstr(w, lp_amqp_cstr("x-death"));
	lp_amqp_wr_u8(w, LP_AMQP_FIELD_ARRAY);
	lp_amqp_wr_table_begin(w, &mark);
	if (have_match)
		wr_counted_entry(w, matched);
	else
		wr_new_entry(w, d, orig_expiration);
	if (deaths.kind == LP_AMQP_FIELD_ARRAY) { /* the others, in their order */
		lp_amqp_table_iter_init(&it, deaths.bytes);
		while (lp_amqp_array_next(&it, &v) == 1)
			if (!(have_match && v.kind == LP_AMQP_FIELD_TABLE &&
			      v.bytes.ptr == matched.ptr))
				lp_amqp_wr_value(w, &v);
	}
	lp_amqp_wr_table_end(w, mark);
	lp_amqp_table_iter_init(&it, old);
	while (old.len != 0 && lp_amqp_table_next(&it, &key, &v) == 1) {
		if (key_is(key, "x-death"))
			continue;
		lp_amqp_wr_shortstr(w, key);
		lp_amqp_wr_value(w, &v);
	}
}

int lp_x_death_props(const uint8_t *props, size_t len, const struct lp_x_death *d, uint8_t *out,
		     size_t cap, uint8_t *scratch, size_t scratch_cap)
{
	struct lp_amqp_basic_properties p;
	struct lp_amqp_bytes orig_expiration, old = {0};
	bool had_expiration;
	struct lp_amqp_wr w;
	int n;

	if (len == 0) {
		memset(&p, 0, sizeof(p));
	} else if (lp_amqp_basic_properties_decode(props, len, &p) != 0) {
		return -EBADMSG;
	}
	had_expiration = p.flags & LP_AMQP_BASIC_EXPIRATION_FLAG;
	orig_expiration = p.expiration;
	if (p.flags & LP_AMQP_BASIC_HEADERS_FLAG)
		old = p.headers;
	lp_amqp_wr_init(&w, scratch, scratch_cap);
	wr_headers(&w, old, d, had_expiration ? &orig_expiration : NULL);
	if (w.overflow)
		return -ENOSPC;
	p.headers = (struct lp_amqp_bytes){scratch, (uint32_t)w.off};
	p.flags |= LP_AMQP_BASIC_HEADERS_FLAG;
	p.flags &= (uint16_t)~LP_AMQP_BASIC_EXPIRATION_FLAG;
	n = lp_amqp_basic_properties_encode(&p, out, cap);
	return n < 0 ? -ENOSPC : n;
}

bool lp_x_death_cycle(struct lp_amqp_bytes headers, struct lp_amqp_bytes queue)
{
	struct lp_amqp_field_value deaths, v;
	struct lp_amqp_table_iter it;
	bool automatic = true;

	if (!lp_amqp_table_get(headers, "x-death", &deaths) || deaths.kind != LP_AMQP_FIELD_ARRAY)
		return false;
	lp_amqp_table_iter_init(&it, deaths.bytes);
	while (lp_amqp_array_next(&it, &v) == 1) {
		struct lp_amqp_bytes q, r;

		if (v.kind != LP_AMQP_FIELD_TABLE) { /* RabbitMQ: not an entry, no cycle */
			automatic = false;
			continue;
		}
		if (str_field(v.bytes, "reason", &r) && lp_amqp_bytes_eq(r, "rejected"))
			automatic = false;
		if (str_field(v.bytes, "queue", &q) && bytes_same(q, queue))
			return automatic;
	}
	return false;
}
