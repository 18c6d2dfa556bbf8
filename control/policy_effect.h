/* SPDX-License-Identifier: MIT */
/*
 * What policies do to queues and exchanges, as RabbitMQ 3.10 applies them
 * (rabbit_policy:match/2, get/2, effective_definition/1,
 * rabbit_policies:merge_policy_value/3 and the args/policy resolution of
 * rabbit_amqqueue_process:process_args_policy/1).
 *
 * Data flow: ctl_sync.c encodes each queue's TOPO_QUEUE with the arguments
 * table lp_policy_queue_args() computes (the declared x-arguments with the
 * policy-derived keys merged in), and each exchange's alternate exchange
 * from lp_policy_exchange_alternate(), so that the dataplane applies
 * policies without knowing them; the declared arguments stay in
 * definitions.c for Declare's equivalence checks, the management API and
 * the definitions export. http_queues.c shows lp_policy_match() names and
 * lp_policy_effective_definition().
 *
 * Resolution (RabbitMQ):
 *  - the policy is the matching one (pattern matched anywhere in the name
 *    by PCRE, apply-to "queues"/"exchanges" or "all", same vhost) of the
 *    highest priority; among equal priorities the first created (RabbitMQ
 *    leaves the order of equals unspecified); the operator policy likewise;
 *  - policy and operator policy: for message-ttl, max-length,
 *    max-length-bytes, expires, delivery-limit, max-in-memory-* the lower
 *    value, for booleans the operator policy's, else the policy's;
 *  - that and the queue's own x-argument: for message-ttl, max-length,
 *    max-length-bytes and expires the lower value, for
 *    dead-letter-exchange, dead-letter-routing-key and overflow the
 *    argument wins; an exchange's alternate-exchange argument wins too.
 */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "definitions.h"
#include "policies.h"

/*
 * The policy of kind (LP_PARAM_POLICY or LP_PARAM_OPERATOR_POLICY) that
 * applies to the queue or exchange (obj: LP_CTL_OBJ_QUEUE or
 * LP_CTL_OBJ_EXCHANGE) vhost/name, or NULL when none does (p may be NULL).
 */
const struct lp_param *lp_policy_match(const struct lp_params *p, uint8_t kind, uint8_t obj,
				       const char *vhost, const char *name);

/*
 * rabbit_policy:effective_definition/1: the definition of pol merged with
 * the operator policy op's (either may be NULL). New reference (an empty
 * object when both are NULL), NULL on ENOMEM.
 */
json_t *lp_policy_effective_definition(const struct lp_param *pol, const struct lp_param *op);

/*
 * The arguments the dataplane applies to queue vhost/name declared with
 * the table body args (args_len bytes, validated): those, with x-max-length,
 * x-max-length-bytes, x-message-ttl, x-expires, x-overflow,
 * x-dead-letter-exchange and x-dead-letter-routing-key resolved against the
 * matching policy and operator policy as described above. Writes a table
 * body to out (cap bytes). Returns its length, or -ENOSPC (cap too small).
 */
int lp_policy_queue_args(const struct lp_params *p, const char *vhost, const char *name,
			 const uint8_t *args, uint16_t args_len, uint8_t *out, size_t cap);

/* The alternate exchange of x: its argument, else the matching policy's
 * alternate-exchange, else "". Points into x or into p's policy. */
const char *lp_policy_exchange_alternate(const struct lp_params *p, const struct lp_def_exchange *x);
