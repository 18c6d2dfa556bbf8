/* SPDX-License-Identifier: MIT */
/*
 * Credential table: users with salted SHA-256 hashes (RabbitMQ's format),
 * vhosts, permissions, limits, and the guest/guest demo defaults.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "amqp_auth.h"

static struct lp_amqp_bytes B(const char *s)
{
	return lp_amqp_cstr(s);
}

static void test_users_and_vhosts(void **state)
{
	(void)state;
	struct lp_amqp_auth *db = lp_amqp_auth_create(2, 2);
	static const uint8_t salt[4] = { 1, 2, 3, 4 };
	uint8_t h[LP_AMQP_PASSWORD_HASH_LEN];

	assert_non_null(db);
	assert_int_equal(lp_amqp_auth_add_defaults(db), 0);
	assert_true(lp_amqp_auth_check(db, B("guest"), B("guest")));
	assert_false(lp_amqp_auth_check(db, B("guest"), B("guesT")));
	assert_false(lp_amqp_auth_check(db, B("guest"), B("")));
	assert_false(lp_amqp_auth_check(db, B("nobody"), B("guest")));
	assert_int_equal(lp_amqp_auth_vhost(db, B("guest"), B("/")), LP_AMQP_VHOST_OK);
	assert_int_equal(lp_amqp_auth_vhost(db, B("guest"), B("/x")), LP_AMQP_VHOST_NOT_FOUND);

	/* A user pushed as control does: salt ++ sha256(salt ++ password). */
	lp_amqp_password_hash(salt, "s3cret", 6, h);
	assert_memory_equal(h, salt, 4);
	assert_int_equal(lp_amqp_auth_add_user(db, "app", h), 0);
	assert_int_equal(lp_amqp_auth_add_user(db, "app", h), -EEXIST);
	assert_int_equal(lp_amqp_auth_add_user(db, "third", h), -ENOSPC);
	assert_true(lp_amqp_auth_check(db, B("app"), B("s3cret")));
	assert_false(lp_amqp_auth_check(db, B("app"), B("s3cre")));
	assert_int_equal(lp_amqp_auth_add_vhost(db, "prod"), 0);
	assert_int_equal(lp_amqp_auth_add_vhost(db, "more"), -ENOSPC);
	assert_int_equal(lp_amqp_auth_add_vhost(db, ""), -EINVAL);
	/* vhost exists but app has no permission: refused, not "not found". */
	assert_int_equal(lp_amqp_auth_vhost(db, B("app"), B("prod")), LP_AMQP_VHOST_REFUSED);
	assert_int_equal(lp_amqp_auth_vhost(db, B("guest"), B("prod")), LP_AMQP_VHOST_REFUSED);
	assert_int_equal(lp_amqp_auth_grant(db, "app", "prod"), 0);
	assert_int_equal(lp_amqp_auth_grant(db, "app", "prod"), -EEXIST);
	assert_int_equal(lp_amqp_auth_grant(db, "app", "nope"), -ENOENT);
	assert_int_equal(lp_amqp_auth_vhost(db, B("app"), B("prod")), LP_AMQP_VHOST_OK);
	lp_amqp_auth_destroy(db);
}

static void test_random_salt_differs(void **state)
{
	(void)state;
	struct lp_amqp_auth *db = lp_amqp_auth_create(4, 1);
	assert_non_null(db);
	assert_int_equal(lp_amqp_auth_add_user_password(db, "a", "same", NULL), 0);
	assert_int_equal(lp_amqp_auth_add_user_password(db, "b", "same", NULL), 0);
	assert_true(lp_amqp_auth_check(db, B("a"), B("same")));
	assert_true(lp_amqp_auth_check(db, B("b"), B("same")));
	char longname[300];
	memset(longname, 'n', sizeof(longname) - 1);
	longname[299] = '\0';
	assert_int_equal(lp_amqp_auth_add_user_password(db, longname, "x", NULL), -EINVAL);
	lp_amqp_auth_destroy(db);
	assert_null(lp_amqp_auth_create(0, 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_users_and_vhosts),
		cmocka_unit_test(test_random_salt_differs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
