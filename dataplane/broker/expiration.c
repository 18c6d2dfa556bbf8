/* SPDX-License-Identifier: MIT */
/* A message's expiration property (see expiration.h). */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>

#include "expiration.h"

enum lp_expiration lp_expiration_parse(struct lp_amqp_bytes s, uint32_t *ms, char *why,
				       size_t why_cap)
{
	size_t i = 0, digits;
	bool negative = false, big = false;
	uint64_t n = 0;

	if (why_cap > 0)
		why[0] = '\0';
	if (i < s.len && (s.ptr[i] == '+' || s.ptr[i] == '-'))
		negative = s.ptr[i++] == '-';
	for (digits = i; i < s.len && s.ptr[i] >= '0' && s.ptr[i] <= '9'; i++) {
		n = n * 10 + (uint64_t)(s.ptr[i] - '0');
		if (n > UINT32_MAX) {
			big = true; /* keeps reading: only the first digits are printed */
			n = (uint64_t)UINT32_MAX + 1;
		}
	}
	if (i == digits) {
		snprintf(why, why_cap, "no_integer");
		return LP_EXPIRATION_NO_INTEGER;
	}
	if (i < s.len) {
		snprintf(why, why_cap, "{leftover_string,\"%.*s\"}", (int)(s.len - i),
			 (const char *)s.ptr + i);
		return LP_EXPIRATION_LEFTOVER;
	}
	if (negative && n != 0) {
		snprintf(why, why_cap, "{value_negative,-%.*s}", (int)(i - digits),
			 (const char *)s.ptr + digits);
		return LP_EXPIRATION_NEGATIVE;
	}
	if (big) {
		snprintf(why, why_cap, "{value_too_large,%.*s}", (int)(i - digits),
			 (const char *)s.ptr + digits);
		return LP_EXPIRATION_TOO_LARGE;
	}
	*ms = (uint32_t)n;
	return LP_EXPIRATION_OK;
}
