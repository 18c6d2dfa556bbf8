/* SPDX-License-Identifier: MIT */
/*
 * Password hashes as RabbitMQ keeps them (rabbit_password_hashing_sha256, its
 * default since 3.6): a random 4-byte salt followed by SHA-256(salt ++ UTF-8
 * password), 36 bytes, shown and stored base64-encoded (RFC 4648 section 4).
 * lepus-control hashes the passwords lepusctl sends, keeps the raw 36 bytes in
 * its definitions, stores them base64 in SQLite, and pushes the raw bytes to
 * the dataplane, which verifies logins with the same function
 * (dataplane/amqp/amqp_auth.c). Base64 in both alphabets lives here too: the
 * standard one for hashes, the URL-safe one for server-generated queue names.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LP_PASSWORD_SALT_LEN 4
#define LP_PASSWORD_HASH_LEN 36
#define LP_PASSWORD_HASH_B64_LEN 48 /* base64 of 36 bytes, without NUL */

/* hash = salt ++ SHA-256(salt ++ password[0..len)). salt NULL: 4 bytes from
 * getrandom(2). Returns 0, or -errno when no random salt could be read. */
int lp_password_hash(const void *password, size_t len, const uint8_t *salt,
		     uint8_t hash[LP_PASSWORD_HASH_LEN]);

/* Does password hash to `hash` (its salt reused)? Constant-time comparison. */
bool lp_password_check(const uint8_t hash[LP_PASSWORD_HASH_LEN], const void *password,
		       size_t len);

/* Base64 of src[0..n) into dst (cap bytes, NUL-terminated), standard alphabet
 * with '=' padding, or URL-safe alphabet without padding when url is true.
 * Returns the length written (without NUL), or -ENOSPC when cap is too small. */
int lp_base64_encode(char *dst, size_t cap, const void *src, size_t n, bool url);

/* Decode standard padded base64 src (NUL-terminated) into dst (cap bytes).
 * Returns the number of bytes, or -EINVAL (bad character, bad padding or
 * length) or -ENOSPC. */
int lp_base64_decode(uint8_t *dst, size_t cap, const char *src);
