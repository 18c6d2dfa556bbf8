/* SPDX-License-Identifier: MIT */
/*
 * A message's own TTL: the basic property "expiration", a decimal string of
 * milliseconds, read as RabbitMQ 3.10 does (rabbit_basic:parse_expiration
 * with string:to_integer, then rabbit_misc:check_expiry). A publish whose
 * expiration does not parse is refused by the channel with 406
 * PRECONDITION_FAILED "invalid expiration '<s>': <why>". Plain C.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "amqp_types.h"

enum lp_expiration {
	LP_EXPIRATION_OK,
	LP_EXPIRATION_NO_INTEGER, /* does not start with a number */
	LP_EXPIRATION_LEFTOVER,   /* a number, then something else */
	LP_EXPIRATION_NEGATIVE,
	LP_EXPIRATION_TOO_LARGE,  /* over 2^32 - 1 ms (RabbitMQ's ?MAX_EXPIRY_TIMER) */
};

/*
 * Parse s: *ms on LP_EXPIRATION_OK. Otherwise why (why_cap octets, always
 * NUL-terminated when why_cap > 0) gets RabbitMQ's reason term as it prints
 * it, e.g. "no_integer", "{value_negative,-1}", "{leftover_string,\"s\"}".
 */
enum lp_expiration lp_expiration_parse(struct lp_amqp_bytes s, uint32_t *ms, char *why,
				       size_t why_cap);
