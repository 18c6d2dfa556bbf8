/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for AMQP field tables and arrays (amqp_table.c): client
 * properties, declare/bind/consume arguments, message headers. The input is
 * a table body (or, when the first octet is odd, an array body). Besides
 * memory safety it checks that validation and iteration agree (a valid body
 * iterates to its end without error, nested bodies are valid too), and that
 * rewriting what was read is a fixed point after one normalising pass.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "amqp_table.h"

static uint8_t w1[1 << 17], w2[1 << 17];

/* Walks a valid body recursively; returns the number of values. */
static size_t walk(struct lp_amqp_bytes body, bool table, unsigned depth)
{
	struct lp_amqp_table_iter it;
	struct lp_amqp_bytes k;
	struct lp_amqp_field_value v;
	size_t n = 0;
	int rc;

	if (depth > LP_AMQP_TABLE_MAX_DEPTH)
		abort();
	lp_amqp_table_iter_init(&it, body);
	while ((rc = table ? lp_amqp_table_next(&it, &k, &v) : lp_amqp_array_next(&it, &v)) == 1) {
		n++;
		if (v.kind == LP_AMQP_FIELD_TABLE || v.kind == LP_AMQP_FIELD_ARRAY) {
			bool t = v.kind == LP_AMQP_FIELD_TABLE;
			if (!(t ? lp_amqp_table_valid(v.bytes) : lp_amqp_array_valid(v.bytes)))
				abort();
			n += walk(v.bytes, t, depth + 1);
		}
	}
	if (rc != 0)
		abort();
	return n;
}

/* Re-writes a valid body; returns octets written. */
static size_t rewrite(struct lp_amqp_bytes body, bool table, uint8_t *out, size_t cap)
{
	struct lp_amqp_table_iter it;
	struct lp_amqp_bytes k;
	struct lp_amqp_field_value v;
	struct lp_amqp_wr w;

	lp_amqp_wr_init(&w, out, cap);
	lp_amqp_table_iter_init(&it, body);
	while ((table ? lp_amqp_table_next(&it, &k, &v) : lp_amqp_array_next(&it, &v)) == 1) {
		if (table)
			lp_amqp_wr_shortstr(&w, k);
		lp_amqp_wr_value(&w, &v);
	}
	if (w.overflow)
		abort();
	return w.off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > sizeof(w1))
		return 0;
	bool table = !(data[0] & 1);
	struct lp_amqp_bytes body = { data + 1, (uint32_t)(size - 1) };

	if (!(table ? lp_amqp_table_valid(body) : lp_amqp_array_valid(body)))
		return 0;
	walk(body, table, 1);
	size_t n1 = rewrite(body, table, w1, sizeof(w1));
	if (n1 != body.len)
		abort();
	struct lp_amqp_bytes b1 = { w1, (uint32_t)n1 };
	if (!(table ? lp_amqp_table_valid(b1) : lp_amqp_array_valid(b1)))
		abort();
	size_t n2 = rewrite(b1, table, w2, sizeof(w2));
	if (n2 != n1 || memcmp(w1, w2, n1) != 0)
		abort();
	return 0;
}
