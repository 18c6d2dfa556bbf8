/* SPDX-License-Identifier: MIT */
/*
 * lepus-control's runtime parameters, as RabbitMQ 3.10 keeps them
 * (rabbit_runtime_parameters, rabbit_policy): policies and operator
 * policies per vhost, and global parameters. Each is a name and a JSON
 * value; a policy's value is {"pattern", "apply-to", "definition",
 * "priority"}, checked as rabbit_policy checks it (PCRE pattern, apply-to,
 * numeric priority, every definition key known and its value valid), with
 * RabbitMQ's reason texts, so the management API (http_policies.c) can
 * answer as RabbitMQ does. Operator policies accept RabbitMQ's smaller set
 * of keys.
 *
 * Data flow: the HTTP API and definitions imports call lp_params_set_*() /
 * lp_params_delete(); every change goes, in order, to the sink (ctl_sync.c:
 * a row in the store, store.c, inside the change's transaction). A deleted
 * vhost takes its policies with it (lp_params_delete_vhost()). What a
 * policy does to queues and exchanges is policy_effect.h's; ctl_sync.c
 * sends the affected ones to the dataplane again after each change.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "definitions.h"

enum lp_param_kind {
	LP_PARAM_POLICY = 1,          /* component "policy" */
	LP_PARAM_OPERATOR_POLICY = 2, /* component "operator_policy" */
	LP_PARAM_GLOBAL = 3,          /* global parameter (vhost "") */
};

struct lp_param {
	struct lp_param *next;
	uint8_t kind; /* enum lp_param_kind */
	char vhost[LP_DEF_NAME_MAX + 1];
	char name[LP_DEF_NAME_MAX + 1];
	json_t *value; /* owned; a policy: {pattern, apply-to, definition, priority} */
};

/* Receives every change, in order: op LP_CTL_OP_ADD (also for an update)
 * or LP_CTL_OP_DEL (p as it was, freed after the call). */
struct lp_param_sink {
	void (*change)(void *arg, uint8_t op, const struct lp_param *p);
	void *arg;
};

struct lp_params;

/* Empty; NULL with errno ENOMEM. */
struct lp_params *lp_params_create(void);
/* Free everything (the sink is not told). p may be NULL. */
void lp_params_destroy(struct lp_params *p);
void lp_params_set_sink(struct lp_params *p, const struct lp_param_sink *sink);

/* "policy", "operator_policy" or "" (global), and back (0 when unknown). */
const char *lp_param_component(uint8_t kind);
uint8_t lp_param_kind_of(const char *component);

/*
 * Check a policy body (a PUT /api/policies/V/N body, or a definitions
 * entry: {"pattern", "definition", optional "apply-to" and "priority"})
 * for kind LP_PARAM_POLICY or LP_PARAM_OPERATOR_POLICY. Returns the
 * normalised value (new reference: the four keys, apply-to "all" and
 * priority 0 by default), or NULL with RabbitMQ's reason in err (cap
 * bytes): "[{key_missing,pattern}]" for a missing key, else "Validation
 * failed\n\n...\n" as rabbit_policy words it, Erlang terms (~p) in it.
 */
json_t *lp_policy_check(uint8_t kind, const json_t *body, char *err, size_t cap);

/*
 * Set a parameter (value is copied; for policies, checked first with
 * lp_policy_check unless it is already normalised: pass the body). Returns
 * 1 created, 0 replaced, -EINVAL (reason in err), -ENOMEM.
 */
int lp_params_set(struct lp_params *p, uint8_t kind, const char *vhost, const char *name,
		  const json_t *value, char *err, size_t cap);

/* Delete one. 0 or -ENOENT. */
int lp_params_delete(struct lp_params *p, uint8_t kind, const char *vhost, const char *name);
/* Delete every policy and operator policy of vhost. Returns how many. */
unsigned lp_params_delete_vhost(struct lp_params *p, const char *vhost);

/* Restore a stored parameter as it is (no checks; value copied). 0,
 * -EEXIST, -ENOMEM. The sink is told. */
int lp_params_insert(struct lp_params *p, uint8_t kind, const char *vhost, const char *name,
		     const json_t *value);

/* Lookup (NULL when absent) and iteration in creation order. */
const struct lp_param *lp_params_find(const struct lp_params *p, uint8_t kind, const char *vhost,
				      const char *name);
const struct lp_param *lp_params_list(const struct lp_params *p);
unsigned lp_params_count(const struct lp_params *p, uint8_t kind);

/* A policy as the API lists it: {vhost, name, pattern, apply-to,
 * definition, priority}. New reference, NULL on ENOMEM. */
json_t *lp_policy_json(const struct lp_param *pp);

/* An Erlang term as RabbitMQ's reasons print it (~p of jsx's decoding):
 * strings <<"s">>, objects #{<<"k">> => V}, arrays [..], numbers, true,
 * false, null. Writes at most cap bytes (NUL included); returns the length
 * it needed. */
size_t lp_erl_format(char *dst, size_t cap, const json_t *v);
