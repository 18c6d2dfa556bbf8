/* SPDX-License-Identifier: MIT */
/*
 * Headers exchange matching with RabbitMQ's semantics: a binding's arguments
 * table names header values and `x-match` says how they combine:
 *   all (default)  every named header is present with an equal value
 *   any            at least one is
 *   all-with-x, any-with-x   the same, but `x-` arguments count too
 * `x-match` itself never counts; other `x-` arguments count only in the
 * -with-x modes. A void argument matches on presence alone. Values are equal
 * when of the same type class (all integer widths are one class, float and
 * double another, as RabbitMQ's rabbit_misc:type_class) and equal value.
 * With nothing to compare, `all` matches every message and `any` none.
 *
 * A binding is compiled once (main lcore, building a topology snapshot; it
 * allocates and copies what it keeps), then matched by workers against a
 * message's `headers` table without allocation.
 */
#pragma once

#include <stdbool.h>

#include "amqp_table.h"

enum lp_headers_mode {
	LP_HEADERS_ALL,
	LP_HEADERS_ANY,
	LP_HEADERS_ALL_WITH_X,
	LP_HEADERS_ANY_WITH_X,
};

struct lp_headers_binding;

/*
 * Compile a binding's arguments (a validated table body). Returns the binding,
 * or NULL with errno EINVAL (x-match is not a string naming a mode: the
 * declaration fails with 406 PRECONDITION_FAILED, as in RabbitMQ) or ENOMEM.
 */
struct lp_headers_binding *lp_headers_binding_compile(struct lp_amqp_bytes args);

void lp_headers_binding_free(struct lp_headers_binding *b);

enum lp_headers_mode lp_headers_binding_mode(const struct lp_headers_binding *b);

/* Does a message with this headers table body (validated; may be empty) match? */
bool lp_headers_match(const struct lp_headers_binding *b, struct lp_amqp_bytes headers);
