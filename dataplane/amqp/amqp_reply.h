/* SPDX-License-Identifier: MIT */
/*
 * AMQP 0-9-1 reply codes (spec 1.3 "Constants"): the one table of codes, names
 * and hard/soft class, expanded from the generated LP_AMQP_REPLY_CODES list.
 * Every Connection.Close and Channel.Close Lepus sends takes its code from here
 * and formats its reply text as RabbitMQ does: "NAME - explanation".
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "amqp_spec.h"

enum lp_amqp_reply {
#define LP_AMQP_REPLY_ENUM(code, name, hard) LP_AMQP_##name = code,
	LP_AMQP_REPLY_CODES(LP_AMQP_REPLY_ENUM)
#undef LP_AMQP_REPLY_ENUM
};

/* "NOT_FOUND" etc., or NULL for a code the spec does not define. */
const char *lp_amqp_reply_name(uint16_t code);

/* True for hard errors (connection exceptions, spec 1.3): the connection is
 * closed, not only the channel. False for soft errors and unknown codes. */
bool lp_amqp_reply_is_hard(uint16_t code);

/* Writes "NAME - explanation" (truncated to fit a shortstr, 255 octets, and to
 * cap - 1) NUL-terminated into buf. Returns the length written (< cap), or 0
 * when cap is 0. */
size_t lp_amqp_reply_text(char *buf, size_t cap, uint16_t code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
size_t lp_amqp_reply_vtext(char *buf, size_t cap, uint16_t code, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));
