/* SPDX-License-Identifier: MIT */
/*
 * rabbit_password_hashing_sha256 and base64 (see password.h). SHA-256 is the
 * dataplane's implementation (dataplane/amqp/sha256.c, FIPS 180-4), so control
 * and dataplane hash identically by construction.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "password.h"
#include "sha256.h"

int lp_password_hash(const void *password, size_t len, const uint8_t *salt,
		     uint8_t hash[LP_PASSWORD_HASH_LEN])
{
	uint8_t s[LP_PASSWORD_SALT_LEN];
	if (salt) {
		memcpy(s, salt, sizeof(s));
	} else if (getrandom(s, sizeof(s), 0) != (ssize_t)sizeof(s)) {
		return -errno ? -errno : -EIO;
	}
	struct lp_sha256 ctx;
	lp_sha256_init(&ctx);
	lp_sha256_update(&ctx, s, sizeof(s));
	lp_sha256_update(&ctx, password, len);
	memcpy(hash, s, sizeof(s));
	lp_sha256_final(&ctx, hash + LP_PASSWORD_SALT_LEN);
	return 0;
}

bool lp_password_check(const uint8_t hash[LP_PASSWORD_HASH_LEN], const void *password,
		       size_t len)
{
	uint8_t h[LP_PASSWORD_HASH_LEN];
	lp_password_hash(password, len, hash, h); /* salt given: cannot fail */
	uint8_t diff = 0;
	for (size_t i = 0; i < sizeof(h); i++)
		diff |= (uint8_t)(h[i] ^ hash[i]);
	return diff == 0;
}

static const char b64_std[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int lp_base64_encode(char *dst, size_t cap, const void *src, size_t n, bool url)
{
	const uint8_t *p = src;
	const char *alpha = url ? b64_url : b64_std;
	size_t out = url ? (n * 4 + 2) / 3 : (n + 2) / 3 * 4;
	if (out + 1 > cap)
		return -ENOSPC;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		size_t left = n - i;
		if (left > 1)
			v |= (uint32_t)p[i + 1] << 8;
		if (left > 2)
			v |= p[i + 2];
		dst[o++] = alpha[v >> 18 & 63];
		dst[o++] = alpha[v >> 12 & 63];
		if (left > 1)
			dst[o++] = alpha[v >> 6 & 63];
		else if (!url)
			dst[o++] = '=';
		if (left > 2)
			dst[o++] = alpha[v & 63];
		else if (!url)
			dst[o++] = '=';
	}
	dst[o] = '\0';
	return (int)o;
}

static int b64_value(char c)
{
	const char *p = c ? strchr(b64_std, c) : NULL;
	return p ? (int)(p - b64_std) : -1;
}

int lp_base64_decode(uint8_t *dst, size_t cap, const char *src)
{
	size_t len = strlen(src);
	if (len % 4)
		return -EINVAL;
	size_t o = 0;
	for (size_t i = 0; i < len; i += 4) {
		int pad = 0;
		uint32_t v = 0;
		for (int k = 0; k < 4; k++) {
			char c = src[i + k];
			int d;
			if (c == '=' && k >= 2 && i + 4 == len) {
				pad++;
				d = 0;
			} else if (pad || (d = b64_value(c)) < 0) {
				return -EINVAL;
			}
			v = v << 6 | (uint32_t)d;
		}
		size_t bytes = 3 - (size_t)pad;
		if (o + bytes > cap)
			return -ENOSPC;
		dst[o++] = (uint8_t)(v >> 16);
		if (bytes > 1)
			dst[o++] = (uint8_t)(v >> 8);
		if (bytes > 2)
			dst[o++] = (uint8_t)v;
	}
	return (int)o;
}
