/* SPDX-License-Identifier: MIT */
/*
 * The management API's pure helpers: request targets and percent-decoding
 * (http_path.c), list shaping and tolerant body readers (http_json.c),
 * arguments tables <-> JSON (http_args.c), Basic credentials and tags
 * (http_auth.c). Each test frees what it built (LeakSanitizer checks).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "amqp_table.h"
#include "http_args.h"
#include "http_auth.h"
#include "http_json.h"
#include "http_path.h"
#include "password.h"

static void test_unescape(void **state)
{
	(void)state;
	char b[32];
	assert_int_equal(lp_http_unescape(b, sizeof(b), "%2F", 3, false), 1);
	assert_string_equal(b, "/");
	assert_int_equal(lp_http_unescape(b, sizeof(b), "a+b%20c", 7, true), 5);
	assert_string_equal(b, "a b c");
	assert_int_equal(lp_http_unescape(b, sizeof(b), "a+b", 3, false), 3);
	assert_string_equal(b, "a+b");
	assert_int_equal(lp_http_unescape(b, sizeof(b), "%4", 2, false), -EINVAL);
	assert_int_equal(lp_http_unescape(b, sizeof(b), "%zz", 3, false), -EINVAL);
	assert_int_equal(lp_http_unescape(b, sizeof(b), "%00", 3, false), -EINVAL);
	assert_int_equal(lp_http_unescape(b, 3, "abc", 3, false), -ENOSPC);
}

static void test_target(void **state)
{
	(void)state;
	static struct lp_http_target t;
	assert_int_equal(lp_http_target_parse(&t, "/api/queues/%2F/a%2Fb?columns=name"), 0);
	assert_int_equal(t.n, 4);
	assert_string_equal(t.seg[0], "api");
	assert_string_equal(t.seg[2], "/");  /* %2F: one segment, the default vhost */
	assert_string_equal(t.seg[3], "a/b");
	assert_string_equal(t.query, "columns=name");

	assert_int_equal(lp_http_target_parse(&t, "/api/vhosts/"), 0);
	assert_int_equal(t.n, 2);
	assert_string_equal(t.query, "");
	assert_int_equal(lp_http_target_parse(&t, "/api/exchanges/%2F//x"), 0);
	assert_int_equal(t.n, 5);
	assert_string_equal(t.seg[3], "");
	assert_int_equal(lp_http_target_parse(&t, "/"), 0);
	assert_int_equal(t.n, 0);

	assert_int_equal(lp_http_target_parse(&t, "api"), -EINVAL);
	assert_int_equal(lp_http_target_parse(&t, "/a/%G0"), -EINVAL);
	assert_int_equal(lp_http_target_parse(&t, "/a/b/c/d/e/f/g/h/i/j/k/l/m"), -E2BIG);
	static char long_target[LP_HTTP_TARGET_MAX + 2];
	memset(long_target, 'a', sizeof(long_target) - 1);
	long_target[0] = '/';
	assert_int_equal(lp_http_target_parse(&t, long_target), -ENAMETOOLONG);
}

static void test_query(void **state)
{
	(void)state;
	char v[64];
	const char *q = "page=2&name=a+b%26c&sort_reverse&x=";
	assert_int_equal(lp_http_query_get(q, "page", v, sizeof(v)), 1);
	assert_string_equal(v, "2");
	assert_int_equal(lp_http_query_get(q, "name", v, sizeof(v)), 5);
	assert_string_equal(v, "a b&c");
	assert_int_equal(lp_http_query_get(q, "x", v, sizeof(v)), 0);
	assert_int_equal(lp_http_query_get(q, "nope", v, sizeof(v)), -ENOENT);
	assert_int_equal(lp_http_query_get(q, "pag", v, sizeof(v)), -ENOENT);
	assert_true(lp_http_query_bool(q, "sort_reverse"));
	assert_false(lp_http_query_bool(q, "nope"));
	assert_true(lp_http_query_bool("if-empty=true", "if-empty"));
	assert_false(lp_http_query_bool("if-empty=false", "if-empty"));
	assert_int_equal(lp_http_escape_segment(v, sizeof(v), "a/b c~"), 10);
	assert_string_equal(v, "a%2Fb%20c~");
}

static json_t *items(void)
{
	return json_pack("[{s:s,s:s,s:i}, {s:s,s:s,s:i}, {s:s,s:s,s:i}]",
			 "vhost", "/", "name", "b", "n", 2,
			 "vhost", "/", "name", "a", "n", 10,
			 "vhost", "v", "name", "0", "n", 1);
}

static const char *names(const json_t *a, char *buf, size_t cap)
{
	size_t i, o = 0;
	json_t *e;
	buf[0] = '\0';
	json_array_foreach(a, i, e)
		o += (size_t)snprintf(buf + o, cap - o, "%s,",
				      json_string_value(json_object_get(e, "name")));
	return buf;
}

static void test_list_shape(void **state)
{
	(void)state;
	static const char *const dflt[] = { "vhost", "name", NULL };
	char err[128], buf[64];
	const char *error;
	json_t *l = lp_http_list_shape(items(), "", dflt, err, sizeof(err), &error);
	assert_string_equal(names(l, buf, sizeof(buf)), "a,b,0,");
	json_decref(l);
	l = lp_http_list_shape(items(), "sort=n&sort_reverse=true", dflt, err, sizeof(err), &error);
	assert_string_equal(names(l, buf, sizeof(buf)), "a,b,0,"); /* numbers compare as numbers */
	json_decref(l);
	l = lp_http_list_shape(items(), "columns=name,nope.deep", dflt, err, sizeof(err), &error);
	assert_int_equal(json_object_size(json_array_get(l, 0)), 1); /* absent columns left out */
	json_decref(l);

	l = lp_http_list_shape(items(), "page=2&page_size=2", dflt, err, sizeof(err), &error);
	assert_non_null(l);
	assert_int_equal(json_integer_value(json_object_get(l, "page_count")), 2);
	assert_int_equal(json_integer_value(json_object_get(l, "item_count")), 1);
	assert_int_equal(json_integer_value(json_object_get(l, "total_count")), 3);
	assert_string_equal(names(json_object_get(l, "items"), buf, sizeof(buf)), "0,");
	json_decref(l);
	l = lp_http_list_shape(items(), "page=1&name=a|b&use_regex=true", dflt, err, sizeof(err),
			       &error);
	assert_int_equal(json_integer_value(json_object_get(l, "filtered_count")), 2);
	json_decref(l);

	assert_null(lp_http_list_shape(items(), "page=3&page_size=2", dflt, err, sizeof(err), &error));
	assert_string_equal(error, "page_out_of_range");
	assert_string_equal(err, "Page out of range, page: 3 page size: 2, len: 3");
	assert_null(lp_http_list_shape(items(), "page=1&page_size=501", dflt, err, sizeof(err), &error));
	assert_string_equal(error, "invalid_pagination_parameters");
	assert_null(lp_http_list_shape(items(), "page=x", dflt, err, sizeof(err), &error));
	assert_string_equal(error, "invalid_pagination_parameters");
}

static void test_body_values(void **state)
{
	(void)state;
	json_t *o = json_pack("{s:s, s:b, s:s, s:i, s:[]}", "a", "true", "b", 0, "c", "yes", "n", 5,
			      "arr");
	bool v;
	char s[16];
	assert_int_equal(lp_http_json_bool(o, "a", false, &v), 0);
	assert_true(v);
	assert_int_equal(lp_http_json_bool(o, "b", true, &v), 0);
	assert_false(v);
	assert_int_equal(lp_http_json_bool(o, "c", false, &v), -EINVAL);
	assert_int_equal(lp_http_json_bool(o, "missing", true, &v), 0);
	assert_true(v);
	assert_int_equal(lp_http_json_string(o, "n", NULL, s, sizeof(s)), 1);
	assert_string_equal(s, "5");
	assert_int_equal(lp_http_json_string(o, "missing", NULL, s, sizeof(s)), -ENOENT);
	assert_int_equal(lp_http_json_string(o, "arr", "", s, sizeof(s)), -EINVAL);
	json_decref(o);
	unsigned long u;
	assert_int_equal(lp_http_parse_uint("42", &u), 0);
	assert_int_equal(u, 42);
	assert_int_equal(lp_http_parse_uint("-1", &u), -EINVAL);
	assert_int_equal(lp_http_parse_uint("", &u), -EINVAL);
}

static void test_args(void **state)
{
	(void)state;
	json_t *in = json_pack("{s:i, s:s, s:b, s:f, s:[i,s], s:{s:i}}", "x-max-length", 10,
			       "x-dead-letter-exchange", "dlx", "flag", 1, "ratio", 0.5, "list", 1,
			       "two", "nested", "k", -3);
	uint8_t buf[512];
	int n = lp_http_args_from_json(in, buf, sizeof(buf));
	assert_true(n > 0);
	struct lp_amqp_bytes body = { .ptr = buf, .len = (uint32_t)n };
	assert_true(lp_amqp_table_valid(body));
	struct lp_amqp_field_value v;
	assert_true(lp_amqp_table_get(body, "x-max-length", &v));
	assert_int_equal(v.kind, 'l'); /* RabbitMQ's to_amqp_table: integers are long */
	json_t *out = lp_http_args_to_json(buf, (size_t)n);
	assert_true(json_equal(in, out));
	json_decref(out);
	assert_int_equal(lp_http_args_from_json(in, buf, 8), -EMSGSIZE);
	json_decref(in);
	json_t *arr = json_array();
	assert_int_equal(lp_http_args_from_json(arr, buf, sizeof(buf)), -EINVAL);
	json_decref(arr);
	assert_int_equal(lp_http_args_from_json(NULL, buf, sizeof(buf)), 0);
	out = lp_http_args_to_json(NULL, 0);
	assert_int_equal(json_object_size(out), 0);
	json_decref(out);
}

static void test_auth(void **state)
{
	(void)state;
	char u[32], p[32];
	/* RFC 7617 2: "Basic " base64("guest:guest") */
	assert_int_equal(lp_http_basic_decode("Basic Z3Vlc3Q6Z3Vlc3Q=", u, sizeof(u), p, sizeof(p)), 0);
	assert_string_equal(u, "guest");
	assert_string_equal(p, "guest");
	/* a password may hold ':' */
	assert_int_equal(lp_http_basic_decode("basic YTpiOmM=", u, sizeof(u), p, sizeof(p)), 0);
	assert_string_equal(p, "b:c");
	assert_int_equal(lp_http_basic_decode("Bearer abc", u, sizeof(u), p, sizeof(p)), -EINVAL);
	assert_int_equal(lp_http_basic_decode("Basic !!!!", u, sizeof(u), p, sizeof(p)), -EINVAL);
	assert_int_equal(lp_http_basic_decode("Basic Z3Vlc3Q=", u, sizeof(u), p, sizeof(p)), -EINVAL);
	assert_int_equal(lp_http_basic_decode(NULL, u, sizeof(u), p, sizeof(p)), -EINVAL);

	assert_int_equal(lp_http_user_tags(""), 0);
	assert_int_equal(lp_http_user_tags("impersonator"), 0);
	assert_true(lp_http_is_admin(lp_http_user_tags("management,administrator")));
	assert_true(lp_http_is_monitor(lp_http_user_tags("administrator")));
	assert_true(lp_http_is_monitor(lp_http_user_tags("monitoring")));
	assert_false(lp_http_is_monitor(lp_http_user_tags("management, policymaker")));
	assert_true(lp_http_is_mgmt(lp_http_user_tags("policymaker")));

	struct lp_defs *d = lp_defs_create();
	assert_int_equal(lp_defs_add_defaults(d), 0);
	assert_non_null(lp_http_login(d, "guest", "guest"));
	assert_null(lp_http_login(d, "guest", "Guest"));
	assert_null(lp_http_login(d, "nobody", "guest"));
	assert_int_equal(lp_defs_add_user(d, "nopw", NULL, "administrator", NULL, 0), 0);
	assert_null(lp_http_login(d, "nopw", ""));
	assert_true(lp_http_vhost_access(d, "guest", "/"));
	assert_false(lp_http_vhost_access(d, "nopw", "/"));
	assert_true(lp_http_vhost_visible(d, lp_defs_find_user(d, "nopw"), "/")); /* admin sees all */
	lp_defs_destroy(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unescape),
		cmocka_unit_test(test_target),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_list_shape),
		cmocka_unit_test(test_body_values),
		cmocka_unit_test(test_args),
		cmocka_unit_test(test_auth),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
