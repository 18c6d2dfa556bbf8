/* SPDX-License-Identifier: MIT */
/*
 * What dead-lettering does to a message's properties, as RabbitMQ 3.10's
 * rabbit_dead_letter: the headers get an x-death entry for (queue, reason)
 * (count 1, or the existing entry's count + 1, moved to the front), the
 * x-first-death-queue/-reason/-exchange headers the first time, and the
 * expiration property is removed (kept as the entry's original-expiration);
 * and RabbitMQ's rule for dead-letter cycles. Plain C over the AMQP codec: no DPDK, no
 * broker state, so unit tests and fuzzers drive it directly.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "amqp_spec.h"
#include "amqp_types.h"

/* One dead-lettering event. */
struct lp_x_death {
	struct lp_amqp_bytes queue;    /* the queue the message left */
	const char *reason;            /* "rejected", "expired" or "maxlen" */
	uint64_t time;                 /* seconds since the epoch */
	struct lp_amqp_bytes exchange; /* the message's exchange */
	struct lp_amqp_bytes rkey;     /* and routing key */
};

/*
 * Rewrite the encoded property list props (len octets, as published) for
 * the dead-lettering event d into out (cap octets), using scratch
 * (scratch_cap octets) for the new headers table. Returns the octets
 * written (>= 2), -EBADMSG (props do not decode) or -ENOSPC (out or scratch
 * too small).
 */
int lp_x_death_props(const uint8_t *props, size_t len, const struct lp_x_death *d, uint8_t *out,
		     size_t cap, uint8_t *scratch, size_t scratch_cap);

/*
 * RabbitMQ's is_cycle for a message dead-lettered for a reason other than
 * rejected, with headers (its new headers table body) being routed to
 * queue: the x-death entries up to and including the first for queue all
 * have a reason other than "rejected" (a fully automatic cycle: RabbitMQ
 * drops the message for that queue).
 */
bool lp_x_death_cycle(struct lp_amqp_bytes headers, struct lp_amqp_bytes queue);
