/* SPDX-License-Identifier: MIT */
/*
 * Credential and vhost table: linear arrays sized at creation, checked once
 * per login and per Connection.Open. See amqp_auth.h.
 */
#include "amqp_auth.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "sha256.h"

struct auth_user {
	uint8_t name_len;
	char name[LP_AMQP_NAME_MAX];
	uint8_t hash[LP_AMQP_PASSWORD_HASH_LEN];
};

struct auth_vhost {
	uint8_t name_len;
	char name[LP_AMQP_NAME_MAX];
};

struct auth_perm {
	unsigned user;
	unsigned vhost;
};

struct lp_amqp_auth {
	unsigned max_users, max_vhosts, max_perms;
	unsigned n_users, n_vhosts, n_perms;
	struct auth_user *users;
	struct auth_vhost *vhosts;
	struct auth_perm *perms;
};

struct lp_amqp_auth *lp_amqp_auth_create(unsigned max_users, unsigned max_vhosts)
{
	struct lp_amqp_auth *db;

	if (max_users == 0 || max_vhosts == 0 || max_users > 65536 || max_vhosts > 65536) {
		errno = EINVAL;
		return NULL;
	}
	db = calloc(1, sizeof(*db));
	if (db == NULL)
		return NULL;
	db->max_users = max_users;
	db->max_vhosts = max_vhosts;
	db->max_perms = max_users * max_vhosts;
	db->users = calloc(max_users, sizeof(*db->users));
	db->vhosts = calloc(max_vhosts, sizeof(*db->vhosts));
	db->perms = calloc(db->max_perms, sizeof(*db->perms));
	if (db->users == NULL || db->vhosts == NULL || db->perms == NULL) {
		lp_amqp_auth_destroy(db);
		errno = ENOMEM;
		return NULL;
	}
	return db;
}

void lp_amqp_auth_destroy(struct lp_amqp_auth *db)
{
	if (db == NULL)
		return;
	free(db->users);
	free(db->vhosts);
	free(db->perms);
	free(db);
}

void lp_amqp_password_hash(const uint8_t salt[LP_AMQP_SALT_LEN], const void *password,
			   size_t len, uint8_t out[LP_AMQP_PASSWORD_HASH_LEN])
{
	struct lp_sha256 s;

	lp_sha256_init(&s);
	lp_sha256_update(&s, salt, LP_AMQP_SALT_LEN);
	lp_sha256_update(&s, password, len);
	memcpy(out, salt, LP_AMQP_SALT_LEN);
	lp_sha256_final(&s, out + LP_AMQP_SALT_LEN);
}

static int find_user(const struct lp_amqp_auth *db, const void *name, size_t len)
{
	for (unsigned i = 0; i < db->n_users; i++)
		if (db->users[i].name_len == len && memcmp(db->users[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

static int find_vhost(const struct lp_amqp_auth *db, const void *name, size_t len)
{
	for (unsigned i = 0; i < db->n_vhosts; i++)
		if (db->vhosts[i].name_len == len && memcmp(db->vhosts[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

int lp_amqp_auth_add_vhost(struct lp_amqp_auth *db, const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > LP_AMQP_NAME_MAX)
		return -EINVAL;
	if (find_vhost(db, name, len) >= 0)
		return -EEXIST;
	if (db->n_vhosts == db->max_vhosts)
		return -ENOSPC;
	struct auth_vhost *v = &db->vhosts[db->n_vhosts++];
	v->name_len = (uint8_t)len;
	memcpy(v->name, name, len);
	return 0;
}

int lp_amqp_auth_add_user(struct lp_amqp_auth *db, const char *name,
			  const uint8_t hash[LP_AMQP_PASSWORD_HASH_LEN])
{
	size_t len = strlen(name);

	if (len == 0 || len > LP_AMQP_NAME_MAX)
		return -EINVAL;
	if (find_user(db, name, len) >= 0)
		return -EEXIST;
	if (db->n_users == db->max_users)
		return -ENOSPC;
	struct auth_user *u = &db->users[db->n_users++];
	u->name_len = (uint8_t)len;
	memcpy(u->name, name, len);
	memcpy(u->hash, hash, LP_AMQP_PASSWORD_HASH_LEN);
	return 0;
}

int lp_amqp_auth_add_user_password(struct lp_amqp_auth *db, const char *name,
				   const char *password, const uint8_t *salt)
{
	uint8_t s[LP_AMQP_SALT_LEN], hash[LP_AMQP_PASSWORD_HASH_LEN];

	if (salt != NULL) {
		memcpy(s, salt, sizeof(s));
	} else if (getrandom(s, sizeof(s), 0) != (ssize_t)sizeof(s)) {
		return -EIO;
	}
	lp_amqp_password_hash(s, password, strlen(password), hash);
	return lp_amqp_auth_add_user(db, name, hash);
}

int lp_amqp_auth_grant(struct lp_amqp_auth *db, const char *user, const char *vhost)
{
	int u = find_user(db, user, strlen(user));
	int v = find_vhost(db, vhost, strlen(vhost));

	if (u < 0 || v < 0)
		return -ENOENT;
	for (unsigned i = 0; i < db->n_perms; i++)
		if (db->perms[i].user == (unsigned)u && db->perms[i].vhost == (unsigned)v)
			return -EEXIST;
	if (db->n_perms == db->max_perms)
		return -ENOSPC;
	db->perms[db->n_perms++] = (struct auth_perm){ .user = (unsigned)u, .vhost = (unsigned)v };
	return 0;
}

int lp_amqp_auth_add_defaults(struct lp_amqp_auth *db)
{
	int rc = lp_amqp_auth_add_vhost(db, "/");
	if (rc == 0)
		rc = lp_amqp_auth_add_user_password(db, "guest", "guest", NULL);
	if (rc == 0)
		rc = lp_amqp_auth_grant(db, "guest", "/");
	return rc;
}

bool lp_amqp_auth_check(const struct lp_amqp_auth *db, struct lp_amqp_bytes user,
			struct lp_amqp_bytes password)
{
	uint8_t hash[LP_AMQP_PASSWORD_HASH_LEN];
	uint8_t diff = 0;
	int u = find_user(db, user.ptr, user.len);

	if (u < 0)
		return false;
	lp_amqp_password_hash(db->users[u].hash, password.ptr, password.len, hash);
	for (size_t i = 0; i < sizeof(hash); i++)
		diff |= hash[i] ^ db->users[u].hash[i];
	return diff == 0;
}

enum lp_amqp_vhost_access lp_amqp_auth_vhost(const struct lp_amqp_auth *db,
					     struct lp_amqp_bytes user, struct lp_amqp_bytes vhost)
{
	int v = find_vhost(db, vhost.ptr, vhost.len);
	int u = find_user(db, user.ptr, user.len);

	if (v < 0)
		return LP_AMQP_VHOST_NOT_FOUND;
	for (unsigned i = 0; u >= 0 && i < db->n_perms; i++)
		if (db->perms[i].user == (unsigned)u && db->perms[i].vhost == (unsigned)v)
			return LP_AMQP_VHOST_OK;
	return LP_AMQP_VHOST_REFUSED;
}
