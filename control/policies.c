/* SPDX-License-Identifier: MIT */
/*
 * Policies, operator policies and global parameters (see policies.h): a
 * linked list of named JSON values, and RabbitMQ 3.10's checks of a policy
 * (rabbit_policy:policy_validation/0 and the policy validators registered
 * by rabbit_policies, rabbit_mirror_queue_misc, rabbit_queue_location and
 * the stream and quorum queue types). Patterns are compiled with PCRE2, the
 * library family RabbitMQ's re uses, so "^(?!amq\\.).*" works and a bad
 * pattern gets PCRE's message and offset.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "policies.h"

struct lp_params {
	struct lp_param *head, *tail;
	struct lp_param_sink sink;
};

struct lp_params *lp_params_create(void)
{
	struct lp_params *p = calloc(1, sizeof(*p));
	if (!p)
		errno = ENOMEM;
	return p;
}

static void param_free(struct lp_param *e)
{
	json_decref(e->value);
	free(e);
}

void lp_params_destroy(struct lp_params *p)
{
	if (!p)
		return;
	for (struct lp_param *e = p->head, *n; e; e = n) {
		n = e->next;
		param_free(e);
	}
	free(p);
}

void lp_params_set_sink(struct lp_params *p, const struct lp_param_sink *sink)
{
	p->sink = sink ? *sink : (struct lp_param_sink){ 0 };
}

static void tell(struct lp_params *p, uint8_t op, const struct lp_param *e)
{
	if (p->sink.change)
		p->sink.change(p->sink.arg, op, e);
}

const char *lp_param_component(uint8_t kind)
{
	switch (kind) {
	case LP_PARAM_POLICY: return "policy";
	case LP_PARAM_OPERATOR_POLICY: return "operator_policy";
	default: return "";
	}
}

uint8_t lp_param_kind_of(const char *component)
{
	if (strcmp(component, "policy") == 0)
		return LP_PARAM_POLICY;
	if (strcmp(component, "operator_policy") == 0)
		return LP_PARAM_OPERATOR_POLICY;
	return 0;
}

/* ---- Erlang terms (~p) -------------------------------------------------- */

struct out {
	char *p;
	size_t cap, len;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->len < o->cap ? o->p + o->len : NULL,
			  o->len < o->cap ? o->cap - o->len : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n;
}

/* Erlang's shortest float that reads back the same, always with a '.'. */
static void put_real(struct out *o, double d)
{
	char buf[64];
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	char *e = strchr(buf, 'e');
	if (!strchr(buf, '.')) {
		if (e) {
			char exp[32];
			snprintf(exp, sizeof(exp), "%s", e);
			snprintf(e, sizeof(buf) - (size_t)(e - buf), ".0%s", exp);
		} else {
			strcat(buf, ".0");
		}
	}
	put(o, "%s", buf);
}

static void put_term(struct out *o, const json_t *v)
{
	size_t i;
	const char *k;
	json_t *x;
	switch (json_typeof(v)) {
	case JSON_STRING:
		put(o, "<<\"%s\">>", json_string_value(v));
		break;
	case JSON_INTEGER:
		put(o, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		put_real(o, json_real_value(v));
		break;
	case JSON_TRUE: put(o, "true"); break;
	case JSON_FALSE: put(o, "false"); break;
	case JSON_NULL: put(o, "null"); break;
	case JSON_ARRAY:
		put(o, "[");
		json_array_foreach(v, i, x) {
			if (i)
				put(o, ",");
			put_term(o, x);
		}
		put(o, "]");
		break;
	case JSON_OBJECT: {
		/* maps print with their keys sorted */
		put(o, "#{");
		const char *keys[64];
		size_t n = 0;
		json_object_foreach((json_t *)v, k, x)
			if (n < 64)
				keys[n++] = k;
		for (size_t a = 1; a < n; a++)
			for (size_t b = a; b > 0 && strcmp(keys[b - 1], keys[b]) > 0; b--) {
				const char *t = keys[b];
				keys[b] = keys[b - 1];
				keys[b - 1] = t;
			}
		for (size_t a = 0; a < n; a++) {
			put(o, "%s<<\"%s\">> => ", a ? "," : "", keys[a]);
			put_term(o, json_object_get(v, keys[a]));
		}
		put(o, "}");
		break;
	}
	}
}

size_t lp_erl_format(char *dst, size_t cap, const json_t *v)
{
	struct out o = { dst, cap, 0 };
	if (cap)
		dst[0] = '\0';
	put_term(&o, v);
	return o.len;
}

/* ---- policy checks ------------------------------------------------------ */

enum rule_type { R_STRING, R_CHOICE, R_INT, R_VERSION, R_MAX_AGE, R_HA };

struct rule {
	const char *key;
	uint8_t type;
	bool operator_ok;      /* also an operator policy key */
	long long min;         /* R_INT */
	const char *const *choices;
	const char *fmt;       /* "%s is not a valid ...", %s the term */
};

static const char *const dl_strategies[] = { "at-most-once", "at-least-once", NULL };
static const char *const overflows[] = { "drop-head", "reject-publish", "reject-publish-dlx", NULL };
static const char *const leader_locators[] = { "client-local", "balanced", NULL };
static const char *const master_locators[] = { "min-masters", "client-local", "random", NULL };
static const char *const queue_modes[] = { "default", "lazy", NULL };

/* Sorted by key, as the definition is checked. */
static const struct rule rules[] = {
	{ "alternate-exchange", R_STRING, false, 0, NULL, "%s is not a valid alternate exchange name" },
	{ "dead-letter-exchange", R_STRING, false, 0, NULL, "%s is not a valid dead letter exchange name" },
	{ "dead-letter-routing-key", R_STRING, false, 0, NULL, "%s is not a valid dead letter routing key" },
	{ "dead-letter-strategy", R_CHOICE, false, 0, dl_strategies, "%s is not a valid dead letter strategy" },
	{ "delivery-limit", R_INT, true, 0, NULL, "%s is not a valid delivery limit" },
	{ "expires", R_INT, true, 1, NULL, "%s is not a valid queue expiry" },
	{ "ha-mode", R_HA, false, 0, NULL, NULL },
	{ "ha-params", R_HA, false, 0, NULL, NULL },
	{ "ha-promote-on-failure", R_HA, false, 0, NULL, NULL },
	{ "ha-promote-on-shutdown", R_HA, false, 0, NULL, NULL },
	{ "ha-sync-batch-size", R_HA, false, 0, NULL, NULL },
	{ "ha-sync-mode", R_HA, false, 0, NULL, NULL },
	{ "initial-cluster-size", R_INT, false, 1, NULL, "%s is not a valid cluster size" },
	{ "max-age", R_MAX_AGE, false, 0, NULL, "%s is not a valid max age" },
	{ "max-in-memory-bytes", R_INT, true, 0, NULL, "%s is not a valid maximum memory in bytes" },
	{ "max-in-memory-length", R_INT, true, 0, NULL, "%s is not a valid maximum memory in bytes" },
	{ "max-length", R_INT, true, 0, NULL, "%s is not a valid maximum length" },
	{ "max-length-bytes", R_INT, true, 0, NULL, "%s is not a valid maximum length in bytes" },
	{ "message-ttl", R_INT, true, 0, NULL, "%s is not a valid message TTL" },
	{ "overflow", R_CHOICE, false, 0, overflows, "%s is not a valid overflow value" },
	{ "queue-leader-locator", R_CHOICE, false, 0, leader_locators,
	  "%s is not a valid queue leader locator value" },
	{ "queue-master-locator", R_CHOICE, false, 0, master_locators,
	  "%s invalid queue-master-locator value" },
	{ "queue-mode", R_CHOICE, false, 0, queue_modes, "%s is not a valid queue-mode value" },
	{ "queue-version", R_VERSION, false, 0, NULL, "%s is not a valid queue-version value" },
	{ "stream-max-segment-size-bytes", R_INT, false, 0, NULL, "%s is not a valid segment size" },
};

static const struct rule *rule_of(const char *key, uint8_t kind)
{
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (strcmp(rules[i].key, key) == 0)
			return kind == LP_PARAM_POLICY || rules[i].operator_ok ? &rules[i] : NULL;
	return NULL;
}

/* "Validation failed\n\n" + the formatted message + "\n" into err. */
static void failed(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void failed(char *err, size_t cap, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(err, cap, "Validation failed\n\n%s\n", msg);
}

static bool in_choices(const json_t *v, const char *const *choices)
{
	if (!json_is_string(v))
		return false;
	for (; *choices; choices++)
		if (strcmp(json_string_value(v), *choices) == 0)
			return true;
	return false;
}

/* rabbit_stream_queue's max-age: digits and one unit of Y M D h m s. */
static bool is_max_age(const json_t *v)
{
	const char *s = json_string_value(v);
	if (!s || !*s)
		return false;
	size_t d = strspn(s, "0123456789");
	return d > 0 && s[d] && strchr("YMDhms", s[d]) && !s[d + 1];
}

/* rabbit_mirror_queue_misc:validate_policy/1. */
static bool check_ha(const json_t *def, char *err, size_t cap)
{
	const json_t *mode = json_object_get(def, "ha-mode");
	const json_t *params = json_object_get(def, "ha-params");
	const json_t *sync = json_object_get(def, "ha-sync-mode");
	const json_t *batch = json_object_get(def, "ha-sync-batch-size");
	const json_t *shut = json_object_get(def, "ha-promote-on-shutdown");
	const json_t *fail = json_object_get(def, "ha-promote-on-failure");
	char t[512];
	if (!mode && !params && !sync && !shut && !fail)
		return true;
	if (!mode) {
		failed(err, cap, "ha-mode must be specified to specify ha-params, ha-sync-mode or "
			    "ha-promote-on-shutdown");
		return false;
	}
	const char *m = json_string_value(mode);
	if (m && strcmp(m, "all") == 0) {
		if (params) {
			lp_erl_format(t, sizeof(t), params);
			failed(err, cap, "ha-mode=\"all\" does not take parameters, got %s", t);
			return false;
		}
	} else if (m && strcmp(m, "exactly") == 0) {
		if (!json_is_integer(params) || json_integer_value(params) <= 0) {
			lp_erl_format(t, sizeof(t), params ? params : json_null());
			failed(err, cap, "ha-mode=\"exactly\" takes an integer, %s given",
			       params ? t : "none");
			return false;
		}
	} else if (m && strcmp(m, "nodes") == 0) {
		bool ok = json_is_array(params) && json_array_size(params) > 0;
		size_t i;
		json_t *x;
		json_array_foreach(params, i, x) ok = ok && json_is_string(x);
		if (!ok) {
			lp_erl_format(t, sizeof(t), params ? params : json_null());
			failed(err, cap, "ha-mode=\"nodes\" takes a list of strings, %s given",
			       params ? t : "none");
			return false;
		}
	} else {
		lp_erl_format(t, sizeof(t), mode);
		failed(err, cap, "%s is not a valid ha-mode value", t);
		return false;
	}
	static const char *const sync_modes[] = { "manual", "automatic", NULL };
	static const char *const promote[] = { "always", "when-synced", NULL };
	if (sync && !in_choices(sync, sync_modes)) {
		lp_erl_format(t, sizeof(t), sync);
		failed(err, cap, "ha-sync-mode must be \"manual\" or \"automatic\", got %s", t);
		return false;
	}
	if (batch && (!json_is_integer(batch) || json_integer_value(batch) <= 0)) {
		lp_erl_format(t, sizeof(t), batch);
		failed(err, cap, "ha-sync-batch-size takes an integer greater than 0, %s given", t);
		return false;
	}
	const json_t *pv[2] = { shut, fail };
	const char *pn[2] = { "ha-promote-on-shutdown", "ha-promote-on-failure" };
	for (int i = 0; i < 2; i++)
		if (pv[i] && !in_choices(pv[i], promote)) {
			lp_erl_format(t, sizeof(t), pv[i]);
			failed(err, cap, "%s must be \"always\" or \"when-synced\", got %s", pn[i], t);
			return false;
		}
	return true;
}

static bool check_value(const struct rule *r, const json_t *v)
{
	switch (r->type) {
	case R_STRING: return json_is_string(v);
	case R_CHOICE: return in_choices(v, r->choices);
	case R_INT: return json_is_integer(v) && json_integer_value(v) >= r->min;
	case R_VERSION:
		return json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= 2;
	case R_MAX_AGE: return is_max_age(v);
	default: return true;
	}
}

/* rabbit_policy:validation/2 on the definition object. */
static bool check_definition(uint8_t kind, const json_t *def, char *err, size_t cap)
{
	char t[1024];
	if (!json_is_object(def)) {
		lp_erl_format(t, sizeof(t), def);
		failed(err, cap, "%s is not a valid policy definition", t);
		return false;
	}
	if (json_object_size(def) == 0) {
		failed(err, cap, "no policy provided");
		return false;
	}
	/* the keys sorted, as the proplist is */
	const char *keys[128];
	size_t n = 0;
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)def, k, v)
		if (n < 128)
			keys[n++] = k;
	for (size_t a = 1; a < n; a++)
		for (size_t b = a; b > 0 && strcmp(keys[b - 1], keys[b]) > 0; b--) {
			const char *x = keys[b];
			keys[b] = keys[b - 1];
			keys[b - 1] = x;
		}
	struct out o = { t, sizeof(t), 0 };
	for (size_t i = 0; i < n; i++)
		if (!rule_of(keys[i], kind)) {
			put(&o, "%s{<<\"%s\">>,", o.len ? "," : "[", keys[i]);
			put_term(&o, json_object_get(def, keys[i]));
			put(&o, "}");
		}
	if (o.len) {
		put(&o, "]");
		failed(err, cap, "%s are not recognised policy settings", t);
		return false;
	}
	bool ha_done = false;
	for (size_t i = 0; i < n; i++) {
		const struct rule *r = rule_of(keys[i], kind);
		v = json_object_get(def, keys[i]);
		if (r->type == R_HA) {
			if (!ha_done && !check_ha(def, err, cap))
				return false;
			ha_done = true;
		} else if (!check_value(r, v)) {
			lp_erl_format(t, sizeof(t), v);
			failed(err, cap, r->fmt, t);
			return false;
		}
	}
	return true;
}

/* rabbit_parameter_validation:regex/2 with PCRE's message and offset,
 * printed as Erlang prints {Message, Offset} (broken over two lines, the
 * offset under the message, when it would pass column 80). */
static bool check_pattern(const char *pattern, char *err, size_t cap)
{
	int code;
	PCRE2_SIZE off;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, &code, &off,
				       NULL);
	if (re) {
		pcre2_code_free(re);
		return true;
	}
	static const char prefix[] = "pattern should be regular expression but is invalid: ";
	char msg[256], flat[400];
	pcre2_get_error_message(code, (PCRE2_UCHAR *)msg, sizeof(msg));
	int len = snprintf(flat, sizeof(flat), "{\"%s\",%zu}", msg, (size_t)off);
	if (sizeof(prefix) - 1 + (size_t)len > 80)
		snprintf(flat, sizeof(flat), "{\"%s\",\n%*s%zu}", msg, (int)sizeof(prefix), "",
			 (size_t)off);
	failed(err, cap, "%s%s", prefix, flat);
	return false;
}

json_t *lp_policy_check(uint8_t kind, const json_t *body, char *err, size_t cap)
{
	const json_t *pattern = json_object_get(body, "pattern");
	const json_t *def = json_object_get(body, "definition");
	const json_t *apply = json_object_get(body, "apply-to");
	const json_t *prio = json_object_get(body, "priority");
	char t[512];
	if (!pattern || !def) {
		snprintf(err, cap, "[%s%s%s]", pattern ? "" : "{key_missing,pattern}",
			 !pattern && !def ? "," : "", def ? "" : "{key_missing,definition}");
		return NULL;
	}
	/* priority, pattern, apply-to, definition: rabbit_policy's order */
	if (prio && !json_is_number(prio)) {
		lp_erl_format(t, sizeof(t), prio);
		failed(err, cap, "priority should be a number, actually was %s", t);
		return NULL;
	}
	if (!json_is_string(pattern)) {
		lp_erl_format(t, sizeof(t), pattern);
		failed(err, cap, "pattern should be a binary but was %s", t);
		return NULL;
	}
	if (!check_pattern(json_string_value(pattern), err, cap))
		return NULL;
	const char *at = apply ? json_string_value(apply) : "all";
	if (!at || (strcmp(at, "queues") != 0 && strcmp(at, "exchanges") != 0 &&
		    strcmp(at, "all") != 0)) {
		if (!at)
			lp_erl_format(t, sizeof(t), apply);
		failed(err, cap, "apply-to '%s' unrecognised; should be 'queues', 'exchanges' or 'all'",
		       at ? at : t);
		return NULL;
	}
	if (!check_definition(kind, def, err, cap))
		return NULL;
	json_t *pr = prio ? json_incref((json_t *)prio) : json_integer(0);
	json_t *v = json_pack("{s:O, s:s, s:O, s:o}", "pattern", pattern, "apply-to", at,
			      "definition", def, "priority", pr);
	if (!v)
		snprintf(err, cap, "out of memory");
	return v;
}

/* ---- the list ----------------------------------------------------------- */

static struct lp_param *find(const struct lp_params *p, uint8_t kind, const char *vhost,
			     const char *name, struct lp_param **prev)
{
	struct lp_param *b = NULL;
	for (struct lp_param *e = p->head; e; b = e, e = e->next)
		if (e->kind == kind && strcmp(e->vhost, vhost) == 0 && strcmp(e->name, name) == 0) {
			if (prev)
				*prev = b;
			return e;
		}
	return NULL;
}

const struct lp_param *lp_params_find(const struct lp_params *p, uint8_t kind, const char *vhost,
				      const char *name)
{
	return find(p, kind, vhost, name, NULL);
}

const struct lp_param *lp_params_list(const struct lp_params *p)
{
	return p->head;
}

unsigned lp_params_count(const struct lp_params *p, uint8_t kind)
{
	unsigned n = 0;
	for (const struct lp_param *e = p->head; e; e = e->next)
		n += e->kind == kind;
	return n;
}

/* Add or replace; value is taken (a reference is kept). */
static int put_param(struct lp_params *p, uint8_t kind, const char *vhost, const char *name,
		     json_t *value)
{
	if (strlen(vhost) > LP_DEF_NAME_MAX || strlen(name) > LP_DEF_NAME_MAX) {
		json_decref(value);
		return -EINVAL;
	}
	struct lp_param *e = find(p, kind, vhost, name, NULL);
	if (e) {
		json_decref(e->value);
		e->value = value;
		tell(p, LP_CTL_OP_ADD, e);
		return 0;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		json_decref(value);
		return -ENOMEM;
	}
	e->kind = kind;
	strcpy(e->vhost, vhost);
	strcpy(e->name, name);
	e->value = value;
	if (p->tail)
		p->tail->next = e;
	else
		p->head = e;
	p->tail = e;
	tell(p, LP_CTL_OP_ADD, e);
	return 1;
}

int lp_params_set(struct lp_params *p, uint8_t kind, const char *vhost, const char *name,
		  const json_t *value, char *err, size_t cap)
{
	json_t *v;
	if (kind == LP_PARAM_POLICY || kind == LP_PARAM_OPERATOR_POLICY) {
		v = lp_policy_check(kind, value, err, cap);
		if (!v)
			return -EINVAL;
	} else if (kind == LP_PARAM_GLOBAL) {
		v = json_deep_copy(value);
		vhost = "";
		if (!v) {
			snprintf(err, cap, "out of memory");
			return -ENOMEM;
		}
	} else {
		snprintf(err, cap, "unknown parameter kind");
		return -EINVAL;
	}
	if (!name[0]) {
		json_decref(v);
		snprintf(err, cap, "a name is required");
		return -EINVAL;
	}
	int rc = put_param(p, kind, vhost, name, v);
	if (rc == -EINVAL)
		snprintf(err, cap, "name longer than %d bytes", LP_DEF_NAME_MAX);
	else if (rc == -ENOMEM)
		snprintf(err, cap, "out of memory");
	return rc;
}

int lp_params_insert(struct lp_params *p, uint8_t kind, const char *vhost, const char *name,
		     const json_t *value)
{
	if (find(p, kind, vhost, name, NULL))
		return -EEXIST;
	json_t *v = json_deep_copy(value);
	if (!v)
		return -ENOMEM;
	int rc = put_param(p, kind, vhost, name, v);
	return rc < 0 ? rc : 0;
}

static void unlink_param(struct lp_params *p, struct lp_param *e, struct lp_param *prev)
{
	if (prev)
		prev->next = e->next;
	else
		p->head = e->next;
	if (p->tail == e)
		p->tail = prev;
	tell(p, LP_CTL_OP_DEL, e);
	param_free(e);
}

int lp_params_delete(struct lp_params *p, uint8_t kind, const char *vhost, const char *name)
{
	struct lp_param *prev = NULL;
	struct lp_param *e = find(p, kind, kind == LP_PARAM_GLOBAL ? "" : vhost, name, &prev);
	if (!e)
		return -ENOENT;
	unlink_param(p, e, prev);
	return 0;
}

unsigned lp_params_delete_vhost(struct lp_params *p, const char *vhost)
{
	unsigned n = 0;
	struct lp_param *prev = NULL;
	for (struct lp_param *e = p->head, *next; e; e = next) {
		next = e->next;
		if (e->kind != LP_PARAM_GLOBAL && strcmp(e->vhost, vhost) == 0) {
			unlink_param(p, e, prev);
			n++;
		} else {
			prev = e;
		}
	}
	return n;
}

json_t *lp_policy_json(const struct lp_param *pp)
{
	const json_t *v = pp->value;
	return json_pack("{s:s, s:s, s:O, s:O, s:O, s:O}", "vhost", pp->vhost, "name", pp->name,
			 "pattern", json_object_get(v, "pattern"), "apply-to",
			 json_object_get(v, "apply-to"), "definition",
			 json_object_get(v, "definition"), "priority",
			 json_object_get(v, "priority"));
}
