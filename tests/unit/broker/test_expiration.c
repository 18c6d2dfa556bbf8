/* SPDX-License-Identifier: MIT */
/*
 * The expiration property (dataplane/broker/expiration.c) against what
 * RabbitMQ 3.10 accepts and the reason it prints for what it refuses
 * (rabbit_basic:parse_expiration, rabbit_misc:check_expiry).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "expiration.h"

static enum lp_expiration parse(const char *s, uint32_t *ms, char *why, size_t cap)
{
	return lp_expiration_parse((struct lp_amqp_bytes){(const uint8_t *)s, (uint32_t)strlen(s)},
				   ms, why, cap);
}

static void accepted(void **state)
{
	uint32_t ms = 7;
	char why[64];

	(void)state;
	assert_int_equal(parse("0", &ms, why, sizeof(why)), LP_EXPIRATION_OK);
	assert_int_equal(ms, 0);
	assert_int_equal(parse("60000", &ms, why, sizeof(why)), LP_EXPIRATION_OK);
	assert_int_equal(ms, 60000);
	assert_int_equal(parse("+5", &ms, why, sizeof(why)), LP_EXPIRATION_OK);
	assert_int_equal(ms, 5);
	assert_int_equal(parse("4294967295", &ms, why, sizeof(why)), LP_EXPIRATION_OK);
	assert_int_equal(ms, UINT32_MAX);
	assert_int_equal(parse("-0", &ms, why, sizeof(why)), LP_EXPIRATION_OK);
	assert_int_equal(ms, 0);
}

static void refused_with_rabbitmq_reasons(void **state)
{
	uint32_t ms = 7;
	char why[64];

	(void)state;
	assert_int_equal(parse("", &ms, why, sizeof(why)), LP_EXPIRATION_NO_INTEGER);
	assert_string_equal(why, "no_integer");
	assert_int_equal(parse("foo", &ms, why, sizeof(why)), LP_EXPIRATION_NO_INTEGER);
	assert_string_equal(why, "no_integer");
	assert_int_equal(parse(" 5", &ms, why, sizeof(why)), LP_EXPIRATION_NO_INTEGER);
	assert_int_equal(parse("10abc", &ms, why, sizeof(why)), LP_EXPIRATION_LEFTOVER);
	assert_string_equal(why, "{leftover_string,\"abc\"}");
	assert_int_equal(parse("-1", &ms, why, sizeof(why)), LP_EXPIRATION_NEGATIVE);
	assert_string_equal(why, "{value_negative,-1}");
	assert_int_equal(parse("4294967296", &ms, why, sizeof(why)), LP_EXPIRATION_TOO_LARGE);
	assert_string_equal(why, "{value_too_large,4294967296}");
	assert_int_equal(parse("99999999999999999999999", &ms, why, sizeof(why)),
			 LP_EXPIRATION_TOO_LARGE);
	assert_int_equal(ms, 7); /* untouched on refusal */
	/* A short buffer is still terminated; none at all is allowed. */
	assert_int_equal(parse("foo", &ms, why, 3), LP_EXPIRATION_NO_INTEGER);
	assert_string_equal(why, "no");
	assert_int_equal(parse("foo", &ms, NULL, 0), LP_EXPIRATION_NO_INTEGER);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(accepted),
		cmocka_unit_test(refused_with_rabbitmq_reasons),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
