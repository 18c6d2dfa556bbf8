/* SPDX-License-Identifier: MIT */
/*
 * Who may call the management API, as RabbitMQ decides it
 * (rabbit_mgmt_util:is_authorized*, rabbit_web_dispatch's Basic auth):
 * HTTP Basic credentials (RFC 7617) checked against the users of the
 * definitions with the same password function as AMQP PLAIN logins
 * (lp_password_check, password.h), then the user's tags: administrator
 * implies monitoring, policymaker and management; monitoring and
 * policymaker imply management. Vhost-scoped resources also need a
 * permission entry of the user on that vhost (rabbit_access_control:
 * check_vhost_access), administrators included; monitoring and
 * administrator users see every vhost in lists.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "definitions.h"

enum lp_http_tag {
	LP_HTTP_TAG_MANAGEMENT = 1u << 0,
	LP_HTTP_TAG_POLICYMAKER = 1u << 1,
	LP_HTTP_TAG_MONITORING = 1u << 2,
	LP_HTTP_TAG_ADMINISTRATOR = 1u << 3,
};

/* The tag bits of a comma-separated tag list, implied tags included;
 * unknown tags are ignored. */
unsigned lp_http_user_tags(const char *tags);

/*
 * Decode an Authorization header value "Basic base64(user:password)" into
 * user and password (NUL-terminated, ucap and pcap bytes). Returns 0, or
 * -EINVAL (another scheme, bad base64, no ':', a NUL byte) or -ENOSPC.
 */
int lp_http_basic_decode(const char *header, char *user, size_t ucap, char *pass, size_t pcap);

/* The user whose password this is, or NULL (unknown user, no password, wrong
 * password). */
const struct lp_def_user *lp_http_login(const struct lp_defs *d, const char *user,
					const char *password);

/* May a user with these tag bits see anything at all (management or more),
 * monitor (monitoring), administer (administrator)? */
static inline bool lp_http_is_mgmt(unsigned tags) { return tags != 0; }
static inline bool lp_http_is_monitor(unsigned tags) { return tags & LP_HTTP_TAG_MONITORING; }
static inline bool lp_http_is_admin(unsigned tags) { return tags & LP_HTTP_TAG_ADMINISTRATOR; }

/* Has user a permission entry on vhost? */
bool lp_http_vhost_access(const struct lp_defs *d, const char *user, const char *vhost);

/* Does vhost appear in user's lists (monitoring sees all, else access)? */
bool lp_http_vhost_visible(const struct lp_defs *d, const struct lp_def_user *u,
			   const char *vhost);
