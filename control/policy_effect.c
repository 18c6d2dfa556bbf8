/* SPDX-License-Identifier: MIT */
/*
 * Policies applied to queues and exchanges (see policy_effect.h): matching
 * by pattern, apply-to, vhost and priority, the policy / operator policy
 * merge, and the resolution against a queue's own arguments into the
 * arguments table the dataplane is sent.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <string.h>

#include "amqp_table.h"
#include "lp_ctl.h"
#include "policy_effect.h"

/* rabbit_policy:matches/2 (re:run on the name, no anchoring of its own). */
static bool pattern_matches(const char *pattern, const char *name)
{
	int code;
	PCRE2_SIZE off;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, &code, &off,
				       NULL);
	if (!re)
		return false;
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
	int rc = md ? pcre2_match(re, (PCRE2_SPTR)name, strlen(name), 0, 0, md, NULL) : -1;
	pcre2_match_data_free(md);
	pcre2_code_free(re);
	return rc >= 0;
}

static bool applies_to(const json_t *v, uint8_t obj)
{
	const char *at = json_string_value(json_object_get(v, "apply-to"));
	if (!at || strcmp(at, "all") == 0)
		return true;
	return strcmp(at, obj == LP_CTL_OBJ_QUEUE ? "queues" : "exchanges") == 0;
}

static double priority_of(const json_t *v)
{
	const json_t *pr = json_object_get(v, "priority");
	return json_is_number(pr) ? json_number_value(pr) : 0;
}

const struct lp_param *lp_policy_match(const struct lp_params *p, uint8_t kind, uint8_t obj,
				       const char *vhost, const char *name)
{
	const struct lp_param *best = NULL;
	double best_pr = 0;
	for (const struct lp_param *e = p ? lp_params_list(p) : NULL; e; e = e->next) {
		if (e->kind != kind || strcmp(e->vhost, vhost) != 0 || !applies_to(e->value, obj))
			continue;
		double pr = priority_of(e->value);
		if (best && pr <= best_pr)
			continue;
		const char *pattern = json_string_value(json_object_get(e->value, "pattern"));
		if (pattern && pattern_matches(pattern, name)) {
			best = e;
			best_pr = pr;
		}
	}
	return best;
}

/* rabbit_policies:merge_policy_value/3: the keys whose lower value wins. */
static bool merge_min(const char *key)
{
	static const char *const keys[] = { "message-ttl", "max-length", "max-length-bytes",
					    "max-in-memory-length", "max-in-memory-bytes", "expires",
					    "delivery-limit" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(key, keys[i]) == 0)
			return true;
	return false;
}

static const json_t *definition(const struct lp_param *pp)
{
	return pp ? json_object_get(pp->value, "definition") : NULL;
}

/* rabbit_policy:get0/3: key's value from the policy and operator policy
 * definitions merged (borrowed), or NULL. */
static const json_t *merged(const json_t *def, const json_t *op, const char *key)
{
	const json_t *a = def ? json_object_get(def, key) : NULL;
	const json_t *b = op ? json_object_get(op, key) : NULL;
	if (!a || !b)
		return a ? a : b;
	if (merge_min(key) && json_is_integer(a) && json_is_integer(b))
		return json_integer_value(a) <= json_integer_value(b) ? a : b;
	if (json_is_boolean(a) && json_is_boolean(b))
		return b;
	return a;
}

json_t *lp_policy_effective_definition(const struct lp_param *pol, const struct lp_param *op)
{
	const json_t *def = definition(pol), *odef = definition(op);
	json_t *out = json_object();
	const char *key;
	const json_t *v;
	for (int pass = 0; out && pass < 2; pass++) {
		json_object_foreach((json_t *)(pass ? odef : def), key, v)
			if (json_object_set(out, key, (json_t *)merged(def, odef, key)) < 0) {
				json_decref(out);
				return NULL;
			}
	}
	return out;
}

enum resolve { ARG_MIN, ARG_WINS };

/* rabbit_amqqueue_process:process_args_policy/1's table (the keys the
 * dataplane or lepus-control use). */
static const struct {
	const char *key; /* the policy's; the argument is "x-" key */
	enum resolve how;
} queue_keys[] = {
	{ "expires", ARG_MIN },
	{ "dead-letter-exchange", ARG_WINS },
	{ "dead-letter-routing-key", ARG_WINS },
	{ "message-ttl", ARG_MIN },
	{ "max-length", ARG_MIN },
	{ "max-length-bytes", ARG_MIN },
	{ "overflow", ARG_WINS },
};
#define N_QUEUE_KEYS (sizeof(queue_keys) / sizeof(queue_keys[0]))

/* Does the policy value v replace (or add) the argument of queue_keys[k]
 * (declared: arg, or has_arg false)? */
static bool policy_applies(unsigned k, const json_t *v, bool has_arg,
			   const struct lp_amqp_field_value *arg)
{
	if (!v)
		return false;
	if (!has_arg)
		return json_is_integer(v) || json_is_string(v);
	if (queue_keys[k].how == ARG_WINS)
		return false;
	int64_t a;
	return json_is_integer(v) && (!lp_amqp_field_int(arg, &a) || json_integer_value(v) < a);
}

int lp_policy_queue_args(const struct lp_params *p, const char *vhost, const char *name,
			 const uint8_t *args, uint16_t args_len, uint8_t *out, size_t cap)
{
	const json_t *def = definition(lp_policy_match(p, LP_PARAM_POLICY, LP_CTL_OBJ_QUEUE, vhost, name));
	const json_t *odef =
		definition(lp_policy_match(p, LP_PARAM_OPERATOR_POLICY, LP_CTL_OBJ_QUEUE, vhost, name));
	struct lp_amqp_bytes body = { .ptr = args, .len = args_len };
	const json_t *pv[N_QUEUE_KEYS];
	bool replace[N_QUEUE_KEYS];
	char xkey[64];

	for (unsigned k = 0; k < N_QUEUE_KEYS; k++) {
		struct lp_amqp_field_value a;
		snprintf(xkey, sizeof(xkey), "x-%s", queue_keys[k].key);
		bool has = args_len > 0 && lp_amqp_table_get(body, xkey, &a);
		pv[k] = merged(def, odef, queue_keys[k].key);
		replace[k] = policy_applies(k, pv[k], has, &a);
	}

	struct lp_amqp_wr w;
	lp_amqp_wr_init(&w, out, cap);
	struct lp_amqp_table_iter it;
	struct lp_amqp_bytes key;
	struct lp_amqp_field_value v;
	lp_amqp_table_iter_init(&it, body);
	while (args_len > 0 && lp_amqp_table_next(&it, &key, &v) == 1) {
		bool skip = false;
		for (unsigned k = 0; k < N_QUEUE_KEYS && !skip; k++)
			skip = replace[k] && key.len == strlen(queue_keys[k].key) + 2 &&
			       memcmp(key.ptr, "x-", 2) == 0 &&
			       memcmp(key.ptr + 2, queue_keys[k].key, key.len - 2) == 0;
		if (skip)
			continue;
		lp_amqp_wr_shortstr(&w, key);
		lp_amqp_wr_value(&w, &v);
	}
	for (unsigned k = 0; k < N_QUEUE_KEYS; k++) {
		if (!replace[k])
			continue;
		snprintf(xkey, sizeof(xkey), "x-%s", queue_keys[k].key);
		if (json_is_string(pv[k])) {
			lp_amqp_wr_field_str(&w, xkey, json_string_value(pv[k]));
		} else {
			struct lp_amqp_field_value iv = { .kind = LP_AMQP_FIELD_I64,
							  .i64 = json_integer_value(pv[k]) };
			lp_amqp_wr_field(&w, xkey, &iv);
		}
	}
	return w.overflow ? -ENOSPC : (int)w.off;
}

const char *lp_policy_exchange_alternate(const struct lp_params *p, const struct lp_def_exchange *x)
{
	if (x->alternate[0])
		return x->alternate;
	const json_t *def = definition(
		lp_policy_match(p, LP_PARAM_POLICY, LP_CTL_OBJ_EXCHANGE, x->vhost, x->name));
	const char *ae = def ? json_string_value(json_object_get(def, "alternate-exchange")) : NULL;
	return ae ? ae : "";
}
