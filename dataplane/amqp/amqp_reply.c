/* SPDX-License-Identifier: MIT */
/*
 * Reply-code table and reply-text formatting (AMQP 0-9-1 spec 1.3). See
 * amqp_reply.h.
 */
#include "amqp_reply.h"

#include <stdarg.h>
#include <stdio.h>

struct reply_entry {
	uint16_t code;
	bool hard;
	const char *name;
};

static const struct reply_entry replies[] = {
#define LP_AMQP_REPLY_ENTRY(code, name, hard) { code, hard, #name },
	LP_AMQP_REPLY_CODES(LP_AMQP_REPLY_ENTRY)
#undef LP_AMQP_REPLY_ENTRY
};

static const struct reply_entry *find(uint16_t code)
{
	for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++)
		if (replies[i].code == code)
			return &replies[i];
	return NULL;
}

const char *lp_amqp_reply_name(uint16_t code)
{
	const struct reply_entry *e = find(code);
	return e ? e->name : NULL;
}

bool lp_amqp_reply_is_hard(uint16_t code)
{
	const struct reply_entry *e = find(code);
	return e ? e->hard : false;
}

size_t lp_amqp_reply_vtext(char *buf, size_t cap, uint16_t code, const char *fmt, va_list ap)
{
	const char *name = lp_amqp_reply_name(code);
	int n, m;

	if (cap == 0)
		return 0;
	if (cap > 256)
		cap = 256; /* AMQP 0-9-1 4.2.5.3: reply-text is a shortstr */
	n = snprintf(buf, cap, "%s - ", name ? name : "UNKNOWN");
	if (n < 0)
		n = 0;
	if ((size_t)n >= cap)
		return cap - 1;
	m = vsnprintf(buf + n, cap - (size_t)n, fmt, ap);
	if (m < 0)
		m = 0;
	if ((size_t)n + (size_t)m >= cap)
		return cap - 1;
	return (size_t)(n + m);
}

size_t lp_amqp_reply_text(char *buf, size_t cap, uint16_t code, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = lp_amqp_reply_vtext(buf, cap, code, fmt, ap);
	va_end(ap);
	return n;
}
