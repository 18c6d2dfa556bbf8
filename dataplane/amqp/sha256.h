/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 (FIPS 180-4, section 6.2), for the password hashes the credential
 * table stores as RabbitMQ does (rabbit_password_hashing_sha256). Not a hot
 * path: it runs once per connection login. Plain C, no allocation.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define LP_SHA256_DIGEST_LEN 32

struct lp_sha256 {
	uint32_t h[8];
	uint64_t total; /* bytes hashed so far */
	uint8_t block[64];
	size_t used; /* bytes in block */
};

void lp_sha256_init(struct lp_sha256 *s);
void lp_sha256_update(struct lp_sha256 *s, const void *data, size_t len);
void lp_sha256_final(struct lp_sha256 *s, uint8_t digest[LP_SHA256_DIGEST_LEN]);

/* One-shot digest of [data, data+len). */
void lp_sha256(const void *data, size_t len, uint8_t digest[LP_SHA256_DIGEST_LEN]);
