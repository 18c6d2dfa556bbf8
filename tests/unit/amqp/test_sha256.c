/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 against the FIPS 180-4 example vectors (NIST CSRC "Examples with
 * intermediate values": one block, two blocks, the empty string, one million
 * 'a'), fed whole and in uneven pieces, and the RabbitMQ password-hash
 * example from rabbitmq.com/docs/passwords (salt 908DC60A, "test12").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "amqp_auth.h"
#include "sha256.h"

static void hex(const uint8_t *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void check(const char *msg, size_t len, const char *expect)
{
	uint8_t d[32];
	char h[65];

	lp_sha256(msg, len, d);
	hex(d, 32, h);
	assert_string_equal(h, expect);
	/* Same digest when fed in pieces of 1, 3, 63, 64 and 65 octets. */
	static const size_t steps[] = { 1, 3, 63, 64, 65 };
	for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
		struct lp_sha256 ctx;
		lp_sha256_init(&ctx);
		for (size_t off = 0; off < len; off += steps[s])
			lp_sha256_update(&ctx, msg + off, len - off < steps[s] ? len - off : steps[s]);
		lp_sha256_final(&ctx, d);
		hex(d, 32, h);
		assert_string_equal(h, expect);
	}
}

static void test_fips_vectors(void **state)
{
	(void)state;
	check("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	check("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	check(two, strlen(two), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	const char *b896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
			   "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
	check(b896, strlen(b896), "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void test_million_a(void **state)
{
	(void)state;
	char *m = malloc(1000000);
	assert_non_null(m);
	memset(m, 'a', 1000000);
	check(m, 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(m);
}

static void test_rabbitmq_password_hash(void **state)
{
	(void)state;
	/* base64 "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR" decoded. */
	static const char expect[] = "908dc60aa5b924b3096b8897d65a3b5f80fa5db62a94b83122cdf4f8fead10d515d8f391";
	static const uint8_t salt[4] = { 0x90, 0x8D, 0xC6, 0x0A };
	uint8_t h[LP_AMQP_PASSWORD_HASH_LEN];
	char hx[2 * LP_AMQP_PASSWORD_HASH_LEN + 1];

	lp_amqp_password_hash(salt, "test12", 6, h);
	hex(h, sizeof(h), hx);
	assert_string_equal(hx, expect);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fips_vectors),
		cmocka_unit_test(test_million_a),
		cmocka_unit_test(test_rabbitmq_password_hash),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
