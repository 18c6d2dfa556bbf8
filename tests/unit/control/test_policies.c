/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the runtime parameters (control/policies.c) and their rows
 * in the store (store.c): a policy body normalised (apply-to "all",
 * priority 0), created then replaced (1 then 0, the sink told each time);
 * every check with RabbitMQ 3.10.8's reason text, byte for byte as its
 * management API answered it (unknown keys listed sorted as Erlang terms,
 * a bad PCRE pattern with its message and offset, each validator's
 * wording, the ha-* rules, operator policies' smaller key set, missing
 * keys); PCRE-only syntax (lookahead) accepted; Erlang term printing;
 * delete and delete of a vhost's policies; parameters surviving close and
 * reopen of the store. Every list is freed (checked by ASan) and the
 * temporary directory removed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "policies.h"
#include "store.h"

struct seen {
	unsigned adds, dels;
	char last[LP_DEF_NAME_MAX + 1];
};

static void count_change(void *arg, uint8_t op, const struct lp_param *p)
{
	struct seen *s = arg;
	if (op == LP_CTL_OP_ADD)
		s->adds++;
	else
		s->dels++;
	snprintf(s->last, sizeof(s->last), "%s", p->name);
}

static json_t *parse(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
	if (!j)
		fail_msg("bad JSON in the test: %s: %s", text, e.text);
	return j;
}

/* The reason lp_policy_check gives for body (kind), or "" when accepted. */
static const char *reason(uint8_t kind, const char *body)
{
	static char err[2048];
	json_t *b = parse(body);
	err[0] = '\0';
	json_t *v = lp_policy_check(kind, b, err, sizeof(err));
	if (v)
		assert_string_equal(err, "");
	json_decref(v);
	json_decref(b);
	return err;
}

#define VF(s) "Validation failed\n\n" s "\n"

static void test_normalised_set_replace(void **state)
{
	(void)state;
	struct lp_params *p = lp_params_create();
	struct seen seen = { 0 };
	struct lp_param_sink sink = { .change = count_change, .arg = &seen };
	lp_params_set_sink(p, &sink);
	char err[512];
	json_t *b = parse("{\"pattern\":\"^a\",\"definition\":{\"max-length\":5}}");
	assert_int_equal(lp_params_set(p, LP_PARAM_POLICY, "/", "p1", b, err, sizeof(err)), 1);
	const struct lp_param *e = lp_params_find(p, LP_PARAM_POLICY, "/", "p1");
	assert_non_null(e);
	json_t *j = lp_policy_json(e);
	char *s = json_dumps(j, JSON_COMPACT);
	assert_string_equal(s, "{\"vhost\":\"/\",\"name\":\"p1\",\"pattern\":\"^a\",\"apply-to\":\"all\","
			       "\"definition\":{\"max-length\":5},\"priority\":0}");
	free(s);
	json_decref(j);
	json_decref(b);
	b = parse("{\"pattern\":\"^b\",\"definition\":{\"expires\":9},\"priority\":3,"
		  "\"apply-to\":\"queues\"}");
	assert_int_equal(lp_params_set(p, LP_PARAM_POLICY, "/", "p1", b, err, sizeof(err)), 0);
	json_decref(b);
	e = lp_params_find(p, LP_PARAM_POLICY, "/", "p1");
	assert_int_equal(json_integer_value(json_object_get(e->value, "priority")), 3);
	assert_string_equal(json_string_value(json_object_get(e->value, "apply-to")), "queues");
	assert_int_equal(lp_params_count(p, LP_PARAM_POLICY), 1);
	assert_int_equal(seen.adds, 2);
	/* the same name as an operator policy or in another vhost is another entry */
	b = parse("{\"pattern\":\"x\",\"definition\":{\"expires\":9}}");
	assert_int_equal(lp_params_set(p, LP_PARAM_OPERATOR_POLICY, "/", "p1", b, err, sizeof(err)), 1);
	assert_int_equal(lp_params_set(p, LP_PARAM_POLICY, "v2", "p1", b, err, sizeof(err)), 1);
	json_decref(b);
	assert_int_equal(lp_params_count(p, LP_PARAM_POLICY), 2);
	/* a refused body changes nothing and tells no one */
	b = parse("{\"pattern\":\"[\",\"definition\":{\"expires\":9}}");
	assert_int_equal(lp_params_set(p, LP_PARAM_POLICY, "/", "p1", b, err, sizeof(err)), -EINVAL);
	json_decref(b);
	assert_int_equal(seen.adds, 4);
	assert_string_equal(json_string_value(json_object_get(
		lp_params_find(p, LP_PARAM_POLICY, "/", "p1")->value, "pattern")), "^b");
	lp_params_destroy(p);
}

/* Texts as RabbitMQ 3.10.8's management API gave them (before its HTML
 * escaping of policy reasons, which http_policies.c adds). */
static void test_rabbitmq_reasons(void **state)
{
	(void)state;
	const uint8_t P = LP_PARAM_POLICY, O = LP_PARAM_OPERATOR_POLICY;
	assert_string_equal(reason(P, "{\"pattern\":\"a\"}"), "[{key_missing,definition}]");
	assert_string_equal(reason(P, "{\"definition\":{\"max-length\":1}}"), "[{key_missing,pattern}]");
	assert_string_equal(reason(P, "{\"pattern\":\"[\",\"definition\":{\"max-length\":5}}"),
			    VF("pattern should be regular expression but is invalid: {\"missing "
			       "terminating ] for character class\",\n"
			       "                                                      1}"));
	assert_string_equal(reason(P, "{\"pattern\":5,\"definition\":{\"expires\":5}}"),
			    VF("pattern should be a binary but was 5"));
	assert_string_equal(reason(P, "{\"pattern\":\"a\",\"definition\":{\"foo\":5,\"bar\":\"x\"}}"),
			    VF("[{<<\"bar\">>,<<\"x\">>},{<<\"foo\">>,5}] are not recognised policy "
			       "settings"));
	assert_string_equal(reason(P, "{\"pattern\":\"a\",\"definition\":{}}"), VF("no policy provided"));
	assert_string_equal(reason(P, "{\"pattern\":\"a\",\"definition\":{\"max-length\":\"x\"}}"),
			    VF("<<\"x\">> is not a valid maximum length"));
	assert_string_equal(reason(P, "{\"pattern\":\"a\",\"definition\":{\"max-length\":-1}}"),
			    VF("-1 is not a valid maximum length"));
	assert_string_equal(reason(P, "{\"pattern\":\"a\",\"definition\":{\"max-length\":1.0}}"),
			    VF("1.0 is not a valid maximum length"));
	assert_string_equal(reason(P, "{\"pattern\":\"a\",\"definition\":{\"message-ttl\":1.5}}"),
			    VF("1.5 is not a valid message TTL"));
	assert_string_equal(reason(P, "{\"pattern\":\"a\",\"definition\":{\"expires\":0}}"),
			    VF("0 is not a valid queue expiry"));
	assert_string_equal(reason(P, "{\"pattern\":\"a\",\"definition\":{\"queue-mode\":\"bogus\"}}"),
			    VF("<<\"bogus\">> is not a valid queue-mode value"));
	assert_string_equal(reason(P, "{\"pattern\":\"a\",\"definition\":{\"overflow\":\"bogus\"}}"),
			    VF("<<\"bogus\">> is not a valid overflow value"));
	assert_string_equal(reason(P, "{\"pattern\":\"a\",\"definition\":{\"queue-version\":3}}"),
			    VF("3 is not a valid queue-version value"));
	assert_string_equal(reason(P, "{\"pattern\":\"a\",\"definition\":{\"queue-master-locator\":\"x\"}}"),
			    VF("<<\"x\">> invalid queue-master-locator value"));
	assert_string_equal(reason(P, "{\"pattern\":\"a\",\"definition\":{\"dead-letter-exchange\":5}}"),
			    VF("5 is not a valid dead letter exchange name"));
	assert_string_equal(reason(P, "{\"pattern\":\"a\",\"definition\":{\"alternate-exchange\":"
				      "{\"o\":1}}}"),
			    VF("#{<<\"o\">> => 1} is not a valid alternate exchange name"));
	assert_string_equal(reason(P, "{\"pattern\":\"a\",\"definition\":{\"ha-params\":1}}"),
			    VF("ha-mode must be specified to specify ha-params, ha-sync-mode or "
			       "ha-promote-on-shutdown"));
	assert_string_equal(reason(P, "{\"pattern\":\"a\",\"definition\":{\"ha-mode\":\"exactly\","
				      "\"ha-params\":[1]}}"),
			    VF("ha-mode=\"exactly\" takes an integer, [1] given"));
	assert_string_equal(reason(P, "{\"pattern\":\"a\",\"definition\":{\"ha-mode\":\"all\","
				      "\"ha-sync-mode\":[1]}}"),
			    VF("ha-sync-mode must be \"manual\" or \"automatic\", got [1]"));
	assert_string_equal(reason(P, "{\"pattern\":\"a\",\"definition\":{\"max-length\":1},"
				      "\"apply-to\":\"bogus\"}"),
			    VF("apply-to 'bogus' unrecognised; should be 'queues', 'exchanges' or 'all'"));
	assert_string_equal(reason(P, "{\"pattern\":\"a\",\"definition\":{\"max-length\":1},"
				      "\"priority\":\"3\"}"),
			    VF("priority should be a number, actually was <<\"3\">>"));
	/* operator policies: RabbitMQ's smaller set of keys */
	assert_string_equal(reason(O, "{\"pattern\":\"^a\",\"definition\":{\"dead-letter-exchange\":\"x\"}}"),
			    VF("[{<<\"dead-letter-exchange\">>,<<\"x\">>}] are not recognised policy "
			       "settings"));
	assert_string_equal(reason(O, "{\"pattern\":\"z\",\"definition\":{\"expires\":\"x\"}}"),
			    VF("<<\"x\">> is not a valid queue expiry"));
	/* accepted */
	assert_string_equal(reason(P, "{\"pattern\":\"^(?!amq\\\\.).*\",\"definition\":"
				      "{\"ha-mode\":\"all\",\"max-length\":5,\"overflow\":\"reject-publish\"},"
				      "\"priority\":2.5}"), "");
	assert_string_equal(reason(O, "{\"pattern\":\"^a\",\"definition\":{\"message-ttl\":5},"
				      "\"apply-to\":\"exchanges\"}"), "");
	assert_string_equal(reason(P, "{\"pattern\":\"a\",\"definition\":{\"max-age\":\"1D\"}}"), "");
}

static void test_erlang_terms(void **state)
{
	(void)state;
	static const char *const cases[][2] = {
		{ "\"s\"", "<<\"s\">>" }, { "5", "5" }, { "-1", "-1" }, { "1.5", "1.5" },
		{ "1.0", "1.0" }, { "0.1", "0.1" }, { "true", "true" }, { "null", "null" },
		{ "[1,\"a\",[]]", "[1,<<\"a\">>,[]]" },
		{ "{\"b\":1,\"a\":{\"c\":false}}", "#{<<\"a\">> => #{<<\"c\">> => false},<<\"b\">> => 1}" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[128];
		json_t *j = parse(cases[i][0]);
		size_t n = lp_erl_format(out, sizeof(out), j);
		assert_string_equal(out, cases[i][1]);
		assert_int_equal(n, strlen(cases[i][1]));
		json_decref(j);
	}
	/* truncated output stays terminated and reports the length it needed */
	char small[4];
	json_t *j = parse("\"abcdef\"");
	assert_int_equal(lp_erl_format(small, sizeof(small), j), 12);
	assert_string_equal(small, "<<\"");
	json_decref(j);
}

static void test_delete_and_vhost(void **state)
{
	(void)state;
	struct lp_params *p = lp_params_create();
	struct seen seen = { 0 };
	struct lp_param_sink sink = { .change = count_change, .arg = &seen };
	lp_params_set_sink(p, &sink);
	char err[512];
	json_t *b = parse("{\"pattern\":\"x\",\"definition\":{\"expires\":9}}");
	json_t *g = parse("{\"any\":[1,2]}");
	assert_int_equal(lp_params_set(p, LP_PARAM_POLICY, "v", "a", b, err, sizeof(err)), 1);
	assert_int_equal(lp_params_set(p, LP_PARAM_OPERATOR_POLICY, "v", "b", b, err, sizeof(err)), 1);
	assert_int_equal(lp_params_set(p, LP_PARAM_POLICY, "w", "c", b, err, sizeof(err)), 1);
	assert_int_equal(lp_params_set(p, LP_PARAM_GLOBAL, "v", "g", g, err, sizeof(err)), 1);
	/* a global parameter has no vhost */
	assert_non_null(lp_params_find(p, LP_PARAM_GLOBAL, "", "g"));
	assert_int_equal(lp_params_delete(p, LP_PARAM_POLICY, "v", "nope"), -ENOENT);
	assert_int_equal(lp_params_delete(p, LP_PARAM_POLICY, "w", "c"), 0);
	assert_int_equal(seen.dels, 1);
	assert_string_equal(seen.last, "c");
	assert_null(lp_params_find(p, LP_PARAM_POLICY, "w", "c"));
	assert_int_equal(lp_params_delete_vhost(p, "v"), 2);
	assert_int_equal(seen.dels, 3);
	assert_null(lp_params_list(p)->next);
	assert_int_equal(lp_params_list(p)->kind, LP_PARAM_GLOBAL);
	/* the list's tail is right after deleting its last entries */
	assert_int_equal(lp_params_set(p, LP_PARAM_POLICY, "w", "d", b, err, sizeof(err)), 1);
	assert_string_equal(lp_params_list(p)->next->name, "d");
	assert_int_equal(lp_param_kind_of("operator_policy"), LP_PARAM_OPERATOR_POLICY);
	assert_int_equal(lp_param_kind_of("federation-upstream"), 0);
	json_decref(b);
	json_decref(g);
	lp_params_destroy(p);
}

static void store_sink(void *arg, uint8_t op, const struct lp_param *p)
{
	lp_store_param_change(arg, op, p);
}

static void test_store_round_trip(void **state)
{
	(void)state;
	char dir[] = "/tmp/lepus-policies-test-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char err[512];
	struct lp_store *s = lp_store_open(dir, err, sizeof(err));
	assert_non_null(s);
	struct lp_params *p = lp_params_create();
	struct lp_param_sink sink = { .change = store_sink, .arg = s };
	lp_params_set_sink(p, &sink);
	json_t *b = parse("{\"pattern\":\"^q\",\"definition\":{\"max-length\":7},\"priority\":2}");
	json_t *g = parse("\"a string\"");
	assert_int_equal(lp_store_begin(s), 0);
	assert_int_equal(lp_params_set(p, LP_PARAM_POLICY, "/", "keep", b, err, sizeof(err)), 1);
	assert_int_equal(lp_params_set(p, LP_PARAM_POLICY, "/", "gone", b, err, sizeof(err)), 1);
	assert_int_equal(lp_params_set(p, LP_PARAM_OPERATOR_POLICY, "/", "op", b, err, sizeof(err)), 1);
	assert_int_equal(lp_params_set(p, LP_PARAM_GLOBAL, "", "cluster_name", g, err, sizeof(err)), 1);
	assert_int_equal(lp_params_delete(p, LP_PARAM_POLICY, "/", "gone"), 0);
	assert_int_equal(lp_store_commit(s), 0);
	/* a rolled-back change is not stored */
	assert_int_equal(lp_store_begin(s), 0);
	assert_int_equal(lp_params_set(p, LP_PARAM_POLICY, "/", "rolled", b, err, sizeof(err)), 1);
	lp_store_rollback(s);
	lp_params_destroy(p);
	lp_store_close(s);

	s = lp_store_open(dir, err, sizeof(err));
	assert_non_null(s);
	p = lp_params_create();
	assert_int_equal(lp_store_params_load(s, p), 0);
	assert_int_equal(lp_params_count(p, LP_PARAM_POLICY), 1);
	assert_int_equal(lp_params_count(p, LP_PARAM_OPERATOR_POLICY), 1);
	assert_int_equal(lp_params_count(p, LP_PARAM_GLOBAL), 1);
	const struct lp_param *e = lp_params_find(p, LP_PARAM_POLICY, "/", "keep");
	assert_non_null(e);
	json_t *want = lp_policy_check(LP_PARAM_POLICY, b, err, sizeof(err));
	assert_true(json_equal(e->value, want));
	json_decref(want);
	assert_string_equal(json_string_value(lp_params_find(p, LP_PARAM_GLOBAL, "",
							     "cluster_name")->value), "a string");
	assert_null(lp_params_find(p, LP_PARAM_POLICY, "/", "gone"));
	assert_null(lp_params_find(p, LP_PARAM_POLICY, "/", "rolled"));
	json_decref(b);
	json_decref(g);
	lp_params_destroy(p);
	lp_store_close(s);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalised_set_replace),
		cmocka_unit_test(test_rabbitmq_reasons),
		cmocka_unit_test(test_erlang_terms),
		cmocka_unit_test(test_delete_and_vhost),
		cmocka_unit_test(test_store_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
