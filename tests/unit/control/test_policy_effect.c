/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of what policies do to queues and exchanges
 * (control/policy_effect.c), as RabbitMQ 3.10 resolves them: matching by
 * pattern (unanchored PCRE), apply-to, vhost and priority (the first
 * created among equals); the policy / operator policy merge (lower of
 * max-length and the other numeric keys); the resolution against a
 * queue's own x-arguments (lower for max-length, max-length-bytes,
 * message-ttl, expires; the argument wins for dead-letter-exchange,
 * dead-letter-routing-key and overflow); arguments the policies do not
 * name kept as declared; the effective definition the management API
 * shows; an exchange's alternate-exchange (its argument wins). Each list
 * is freed (ASan checks).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "amqp_table.h"
#include "lp_ctl.h"
#include "policy_effect.h"

static void set(struct lp_params *p, uint8_t kind, const char *vhost, const char *name,
		const char *body)
{
	char err[1024];
	json_error_t e;
	json_t *b = json_loads(body, 0, &e);
	assert_non_null(b);
	int rc = lp_params_set(p, kind, vhost, name, b, err, sizeof(err));
	json_decref(b);
	if (rc < 0)
		fail_msg("lp_params_set %s: %s", name, err);
}

static struct lp_params *params(void)
{
	struct lp_params *p = lp_params_create();
	assert_non_null(p);
	return p;
}

/* The effective arguments of queue vhost/name declared with args. */
static uint8_t out[LP_CTL_ARGS_MAX];
static struct lp_amqp_bytes effective(const struct lp_params *p, const char *vhost,
				      const char *name, const uint8_t *args, size_t len)
{
	int n = lp_policy_queue_args(p, vhost, name, args, (uint16_t)len, out, sizeof(out));
	assert_true(n >= 0);
	struct lp_amqp_bytes body = { .ptr = out, .len = (uint32_t)n };
	assert_true(n == 0 || lp_amqp_table_valid(body));
	return body;
}

static int64_t int_arg(struct lp_amqp_bytes body, const char *key)
{
	struct lp_amqp_field_value v;
	int64_t i;
	if (!lp_amqp_table_get(body, key, &v) || !lp_amqp_field_int(&v, &i))
		return -1;
	return i;
}

static const char *str_arg(struct lp_amqp_bytes body, const char *key)
{
	static char s[256];
	struct lp_amqp_field_value v;
	if (!lp_amqp_table_get(body, key, &v) || v.kind != LP_AMQP_FIELD_LONGSTR)
		return NULL;
	snprintf(s, sizeof(s), "%.*s", (int)v.bytes.len, (const char *)v.bytes.ptr);
	return s;
}

static unsigned n_entries(struct lp_amqp_bytes body)
{
	struct lp_amqp_table_iter it;
	struct lp_amqp_bytes k;
	struct lp_amqp_field_value v;
	unsigned n = 0;
	lp_amqp_table_iter_init(&it, body);
	while (lp_amqp_table_next(&it, &k, &v) == 1)
		n++;
	return n;
}

/* Declared arguments: a table body with an integer and a string entry. */
static size_t declared(uint8_t *buf, size_t cap, const char *ikey, int32_t i, const char *skey,
		       const char *s)
{
	struct lp_amqp_wr w;
	lp_amqp_wr_init(&w, buf, cap);
	if (ikey) {
		struct lp_amqp_field_value v = { .kind = LP_AMQP_FIELD_I32, .i32 = i };
		lp_amqp_wr_field(&w, ikey, &v);
	}
	if (skey)
		lp_amqp_wr_field_str(&w, skey, s);
	assert_false(w.overflow);
	return w.off;
}

static void test_match(void **state)
{
	(void)state;
	struct lp_params *p = params();
	assert_null(lp_policy_match(p, LP_PARAM_POLICY, LP_CTL_OBJ_QUEUE, "/", "q"));
	set(p, LP_PARAM_POLICY, "/", "low", "{\"pattern\": \"^q\", \"definition\": {\"max-length\": 1}}");
	set(p, LP_PARAM_POLICY, "/", "high",
	    "{\"pattern\": \"q\", \"priority\": 5, \"definition\": {\"max-length\": 2}}");
	set(p, LP_PARAM_POLICY, "/", "xs",
	    "{\"pattern\": \".*\", \"priority\": 9, \"apply-to\": \"exchanges\", \"definition\": {\"alternate-exchange\": \"ae\"}}");
	set(p, LP_PARAM_POLICY, "v2", "other",
	    "{\"pattern\": \".*\", \"priority\": 99, \"definition\": {\"max-length\": 3}}");
	/* the highest priority of the matching ones; the pattern is unanchored */
	assert_string_equal(lp_policy_match(p, LP_PARAM_POLICY, LP_CTL_OBJ_QUEUE, "/", "aq")->name, "high");
	assert_string_equal(lp_policy_match(p, LP_PARAM_POLICY, LP_CTL_OBJ_QUEUE, "/", "q1")->name, "high");
	/* apply-to exchanges is not for queues, and the other way round */
	assert_string_equal(lp_policy_match(p, LP_PARAM_POLICY, LP_CTL_OBJ_EXCHANGE, "/", "q")->name, "xs");
	assert_null(lp_policy_match(p, LP_PARAM_POLICY, LP_CTL_OBJ_QUEUE, "/", "zzz"));
	/* another vhost's policy does not apply; operator policies are apart */
	assert_string_equal(lp_policy_match(p, LP_PARAM_POLICY, LP_CTL_OBJ_QUEUE, "v2", "zzz")->name, "other");
	assert_null(lp_policy_match(p, LP_PARAM_OPERATOR_POLICY, LP_CTL_OBJ_QUEUE, "/", "q"));
	/* equal priorities: the first created */
	set(p, LP_PARAM_POLICY, "/", "high2",
	    "{\"pattern\": \"q\", \"priority\": 5, \"definition\": {\"max-length\": 4}}");
	assert_string_equal(lp_policy_match(p, LP_PARAM_POLICY, LP_CTL_OBJ_QUEUE, "/", "q")->name, "high");
	assert_int_equal(lp_params_delete(p, LP_PARAM_POLICY, "/", "high"), 0);
	assert_string_equal(lp_policy_match(p, LP_PARAM_POLICY, LP_CTL_OBJ_QUEUE, "/", "q")->name, "high2");
	lp_params_destroy(p);
}

static void test_queue_args_policy_only(void **state)
{
	(void)state;
	struct lp_params *p = params();
	/* no policy: the declared arguments as they are */
	uint8_t a[256];
	size_t n = declared(a, sizeof(a), "x-max-priority", 3, "x-queue-mode", "lazy");
	struct lp_amqp_bytes e = effective(p, "/", "q", a, n);
	assert_int_equal(e.len, n);
	assert_memory_equal(e.ptr, a, n);
	assert_int_equal(effective(p, "/", "q", NULL, 0).len, 0);

	set(p, LP_PARAM_POLICY, "/", "p",
	    "{\"pattern\": \"^q$\", \"definition\": {\"message-ttl\": 500, \"max-length\": 7,"
	    " \"max-length-bytes\": 9000, \"overflow\": \"reject-publish\","
	    " \"dead-letter-exchange\": \"dlx\", \"dead-letter-routing-key\": \"dead\","
	    " \"expires\": 60000, \"queue-mode\": \"lazy\"}}");
	e = effective(p, "/", "q", a, n);
	assert_int_equal(int_arg(e, "x-max-priority"), 3);
	assert_string_equal(str_arg(e, "x-queue-mode"), "lazy");
	assert_int_equal(int_arg(e, "x-message-ttl"), 500);
	assert_int_equal(int_arg(e, "x-max-length"), 7);
	assert_int_equal(int_arg(e, "x-max-length-bytes"), 9000);
	assert_int_equal(int_arg(e, "x-expires"), 60000);
	assert_string_equal(str_arg(e, "x-overflow"), "reject-publish");
	assert_string_equal(str_arg(e, "x-dead-letter-exchange"), "dlx");
	assert_string_equal(str_arg(e, "x-dead-letter-routing-key"), "dead");
	assert_int_equal(n_entries(e), 9);
	/* another queue is not matched */
	assert_int_equal(effective(p, "/", "q2", NULL, 0).len, 0);
	lp_params_destroy(p);
}

static void test_queue_args_precedence(void **state)
{
	(void)state;
	struct lp_params *p = params();
	uint8_t a[256];
	set(p, LP_PARAM_POLICY, "/", "p",
	    "{\"pattern\": \".\", \"definition\": {\"max-length\": 10, \"message-ttl\": 1000,"
	    " \"dead-letter-exchange\": \"pol-dlx\", \"overflow\": \"drop-head\"}}");
	/* max-length: the lower of argument and policy, either way */
	size_t n = declared(a, sizeof(a), "x-max-length", 5, NULL, NULL);
	assert_int_equal(int_arg(effective(p, "/", "q", a, n), "x-max-length"), 5);
	n = declared(a, sizeof(a), "x-max-length", 50, NULL, NULL);
	struct lp_amqp_bytes e = effective(p, "/", "q", a, n);
	assert_int_equal(int_arg(e, "x-max-length"), 10);
	assert_int_equal(n_entries(e), 4); /* replaced, not added twice */
	n = declared(a, sizeof(a), "x-message-ttl", 200, NULL, NULL);
	assert_int_equal(int_arg(effective(p, "/", "q", a, n), "x-message-ttl"), 200);
	/* dead-letter-exchange and overflow: the argument wins */
	n = declared(a, sizeof(a), NULL, 0, "x-dead-letter-exchange", "arg-dlx");
	e = effective(p, "/", "q", a, n);
	assert_string_equal(str_arg(e, "x-dead-letter-exchange"), "arg-dlx");
	assert_int_equal(int_arg(e, "x-max-length"), 10);
	n = declared(a, sizeof(a), NULL, 0, "x-overflow", "reject-publish");
	assert_string_equal(str_arg(effective(p, "/", "q", a, n), "x-overflow"), "reject-publish");

	/* the operator policy: the lowest of the three for max-length */
	set(p, LP_PARAM_OPERATOR_POLICY, "/", "op",
	    "{\"pattern\": \".\", \"definition\": {\"max-length\": 3, \"message-ttl\": 5000}}");
	n = declared(a, sizeof(a), "x-max-length", 5, NULL, NULL);
	e = effective(p, "/", "q", a, n);
	assert_int_equal(int_arg(e, "x-max-length"), 3);
	assert_int_equal(int_arg(e, "x-message-ttl"), 1000); /* policy 1000 < operator 5000 */
	assert_string_equal(str_arg(e, "x-dead-letter-exchange"), "pol-dlx");
	n = declared(a, sizeof(a), "x-max-length", 2, NULL, NULL);
	assert_int_equal(int_arg(effective(p, "/", "q", a, n), "x-max-length"), 2);
	/* the operator policy alone */
	assert_int_equal(lp_params_delete(p, LP_PARAM_POLICY, "/", "p"), 0);
	e = effective(p, "/", "q", NULL, 0);
	assert_int_equal(int_arg(e, "x-max-length"), 3);
	assert_int_equal(int_arg(e, "x-message-ttl"), 5000);
	assert_null(str_arg(e, "x-dead-letter-exchange"));
	lp_params_destroy(p);
}

static void test_effective_definition(void **state)
{
	(void)state;
	struct lp_params *p = params();
	json_t *d = lp_policy_effective_definition(NULL, NULL);
	assert_int_equal(json_object_size(d), 0);
	json_decref(d);
	set(p, LP_PARAM_POLICY, "/", "p",
	    "{\"pattern\": \".\", \"definition\": {\"max-length\": 10, \"dead-letter-exchange\": \"x\"}}");
	set(p, LP_PARAM_OPERATOR_POLICY, "/", "op",
	    "{\"pattern\": \".\", \"definition\": {\"max-length\": 4, \"expires\": 9000}}");
	const struct lp_param *pol = lp_policy_match(p, LP_PARAM_POLICY, LP_CTL_OBJ_QUEUE, "/", "q");
	const struct lp_param *op = lp_policy_match(p, LP_PARAM_OPERATOR_POLICY, LP_CTL_OBJ_QUEUE, "/", "q");
	d = lp_policy_effective_definition(pol, op);
	assert_int_equal(json_object_size(d), 3);
	assert_int_equal(json_integer_value(json_object_get(d, "max-length")), 4);
	assert_int_equal(json_integer_value(json_object_get(d, "expires")), 9000);
	assert_string_equal(json_string_value(json_object_get(d, "dead-letter-exchange")), "x");
	json_decref(d);
	lp_params_destroy(p);
}

static void test_exchange_alternate(void **state)
{
	(void)state;
	struct lp_params *p = params();
	struct lp_def_exchange x = { .vhost = "/", .name = "ex" };
	assert_string_equal(lp_policy_exchange_alternate(p, &x), "");
	set(p, LP_PARAM_POLICY, "/", "ae",
	    "{\"pattern\": \"^ex$\", \"apply-to\": \"exchanges\", \"definition\": {\"alternate-exchange\": \"pol-ae\"}}");
	assert_string_equal(lp_policy_exchange_alternate(p, &x), "pol-ae");
	snprintf(x.alternate, sizeof(x.alternate), "arg-ae");
	assert_string_equal(lp_policy_exchange_alternate(p, &x), "arg-ae");
	/* apply-to exchanges leaves queues alone */
	assert_int_equal(effective(p, "/", "ex", NULL, 0).len, 0);
	lp_params_destroy(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_queue_args_policy_only),
		cmocka_unit_test(test_queue_args_precedence),
		cmocka_unit_test(test_effective_definition),
		cmocka_unit_test(test_exchange_alternate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
