/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for dead-lettered properties (dataplane/broker/x_death.c)
 * and the expiration property (expiration.c). The input's first octet picks
 * the reason, the rest is a message's encoded property list. Besides memory
 * safety it checks what RabbitMQ's rules promise: the rewrite of a list
 * that decodes decodes again, has no expiration, and has an x-death entry
 * for the event; doing it again for the same (queue, reason) adds no entry;
 * a fully automatic death routed to its own queue is a cycle, a rejection
 * never is.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "amqp_spec.h"
#include "amqp_table.h"
#include "expiration.h"
#include "x_death.h"

static uint8_t out1[1 << 17], out2[1 << 17], scratch[1 << 17];

static unsigned entries(struct lp_amqp_bytes headers)
{
	struct lp_amqp_field_value v, e;
	struct lp_amqp_table_iter it;
	unsigned n = 0;

	if (!lp_amqp_table_get(headers, "x-death", &v) || v.kind != LP_AMQP_FIELD_ARRAY)
		abort();
	lp_amqp_table_iter_init(&it, v.bytes);
	while (lp_amqp_array_next(&it, &e) == 1)
		n++;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const reasons[] = {"rejected", "expired", "maxlen"};
	struct lp_amqp_basic_properties p;
	uint32_t ms;
	char why[64];

	if (size < 1)
		return 0;
	const char *reason = reasons[data[0] % 3];
	struct lp_x_death d = {.queue = lp_amqp_cstr("q"), .reason = reason, .time = 1,
			       .exchange = lp_amqp_cstr("x"), .rkey = lp_amqp_cstr("k")};
	const uint8_t *props = data + 1;
	size_t len = size - 1;

	(void)lp_expiration_parse((struct lp_amqp_bytes){props, (uint32_t)len}, &ms, why, sizeof(why));
	bool valid = len == 0 || lp_amqp_basic_properties_decode(props, len, &p) == 0;
	int n = lp_x_death_props(props, len, &d, out1, sizeof(out1), scratch, sizeof(scratch));

	if (!valid) {
		if (n != -EBADMSG)
			abort();
		return 0;
	}
	if (n < 0)
		return 0; /* too big for the buffers */
	if (lp_amqp_basic_properties_decode(out1, (size_t)n, &p) != 0 ||
	    (p.flags & LP_AMQP_BASIC_EXPIRATION_FLAG) || !(p.flags & LP_AMQP_BASIC_HEADERS_FLAG))
		abort();
	unsigned first = entries(p.headers);
	bool cycle = lp_x_death_cycle(p.headers, d.queue);

	if (first == 0 || (strcmp(reason, "rejected") == 0 && cycle))
		abort();
	int n2 = lp_x_death_props(out1, (size_t)n, &d, out2, sizeof(out2), scratch, sizeof(scratch));

	if (n2 < 0)
		return 0;
	if (lp_amqp_basic_properties_decode(out2, (size_t)n2, &p) != 0 || entries(p.headers) != first)
		abort();
	return 0;
}
