/* SPDX-License-Identifier: MIT */
/*
 * Credentials and vhosts the AMQP connection checks at login and at
 * Connection.Open, without a round trip: lepus-control pushes users (name and
 * salted password hash, exactly RabbitMQ's rabbit_password_hashing_sha256
 * format: 4-byte salt followed by SHA-256(salt ++ password)), vhosts and
 * which user may open which vhost. Fixed capacity chosen at creation; no
 * allocation afterwards. Read-only while connections use it: the control
 * path builds a new table and swaps it in (RCU) rather than editing a live one.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "amqp_types.h"

#define LP_AMQP_SALT_LEN 4
#define LP_AMQP_PASSWORD_HASH_LEN (LP_AMQP_SALT_LEN + 32)
#define LP_AMQP_NAME_MAX 255

struct lp_amqp_auth;

enum lp_amqp_vhost_access {
	LP_AMQP_VHOST_OK,
	LP_AMQP_VHOST_NOT_FOUND, /* no such vhost */
	LP_AMQP_VHOST_REFUSED,	 /* vhost exists, user has no permission on it */
};

/* Creates an empty table for up to max_users users, max_vhosts vhosts and
 * max_users * max_vhosts permissions. Returns NULL with errno (ENOMEM, EINVAL). */
struct lp_amqp_auth *lp_amqp_auth_create(unsigned max_users, unsigned max_vhosts);
void lp_amqp_auth_destroy(struct lp_amqp_auth *db);

/* rabbit_password_hashing_sha256: out = salt ++ SHA-256(salt ++ password). */
void lp_amqp_password_hash(const uint8_t salt[LP_AMQP_SALT_LEN], const void *password,
			   size_t len, uint8_t out[LP_AMQP_PASSWORD_HASH_LEN]);

/* The following return 0, -EINVAL (empty name or over 255 octets), -EEXIST,
 * -ENOSPC (table full) or, for grant, -ENOENT (unknown user or vhost). */
int lp_amqp_auth_add_vhost(struct lp_amqp_auth *db, const char *name);
/* Adds a user from the hash control pushes (salt ++ digest, 36 octets). */
int lp_amqp_auth_add_user(struct lp_amqp_auth *db, const char *name,
			  const uint8_t hash[LP_AMQP_PASSWORD_HASH_LEN]);
/* Adds a user from a clear password, hashing it with 'salt' (NULL: a random
 * salt from getrandom(2); start-up only). */
int lp_amqp_auth_add_user_password(struct lp_amqp_auth *db, const char *name,
				   const char *password, const uint8_t *salt);
int lp_amqp_auth_grant(struct lp_amqp_auth *db, const char *user, const char *vhost);

/* The demo configuration: vhost "/", user guest/guest with access to it. */
int lp_amqp_auth_add_defaults(struct lp_amqp_auth *db);

/* True when user exists and password hashes to its stored hash (constant-time
 * comparison of the digests). */
bool lp_amqp_auth_check(const struct lp_amqp_auth *db, struct lp_amqp_bytes user,
			struct lp_amqp_bytes password);

/* May 'user' open 'vhost'? */
enum lp_amqp_vhost_access lp_amqp_auth_vhost(const struct lp_amqp_auth *db,
					     struct lp_amqp_bytes user, struct lp_amqp_bytes vhost);
