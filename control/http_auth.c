/* SPDX-License-Identifier: MIT */
/*
 * Basic auth, tags and vhost access for the management API (see
 * http_auth.h).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "http_auth.h"
#include "password.h"

unsigned lp_http_user_tags(const char *tags)
{
	static const struct {
		const char *name;
		unsigned bits;
	} known[] = {
		{ "management", LP_HTTP_TAG_MANAGEMENT },
		{ "policymaker", LP_HTTP_TAG_POLICYMAKER | LP_HTTP_TAG_MANAGEMENT },
		{ "monitoring", LP_HTTP_TAG_MONITORING | LP_HTTP_TAG_MANAGEMENT },
		{ "administrator", LP_HTTP_TAG_ADMINISTRATOR | LP_HTTP_TAG_MONITORING |
				   LP_HTTP_TAG_POLICYMAKER | LP_HTTP_TAG_MANAGEMENT },
	};
	unsigned bits = 0;
	const char *p = tags;
	while (p && *p) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t n = strcspn(p, ", ");
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (n == strlen(known[i].name) && strncmp(p, known[i].name, n) == 0)
				bits |= known[i].bits;
		p += n;
	}
	return bits;
}

int lp_http_basic_decode(const char *header, char *user, size_t ucap, char *pass, size_t pcap)
{
	/* RFC 7617 2: credentials = "Basic" 1*SP token68, scheme case-insensitive */
	if (!header || strncasecmp(header, "Basic ", 6) != 0)
		return -EINVAL;
	const char *b64 = header + 6;
	while (*b64 == ' ')
		b64++;
	char enc[1024];
	size_t len = strcspn(b64, " \t");
	if (len >= sizeof(enc))
		return -ENOSPC;
	memcpy(enc, b64, len);
	enc[len] = '\0';
	uint8_t dec[768];
	int n = lp_base64_decode(dec, sizeof(dec) - 1, enc);
	if (n < 0)
		return n;
	if (memchr(dec, 0, (size_t)n))
		return -EINVAL;
	dec[n] = '\0';
	char *colon = strchr((char *)dec, ':');
	if (!colon)
		return -EINVAL;
	size_t ul = (size_t)(colon - (char *)dec), pl = (size_t)n - ul - 1;
	if (ul >= ucap || pl >= pcap)
		return -ENOSPC;
	memcpy(user, dec, ul);
	user[ul] = '\0';
	memcpy(pass, colon + 1, pl);
	pass[pl] = '\0';
	explicit_bzero(dec, sizeof(dec));
	explicit_bzero(enc, sizeof(enc));
	return 0;
}

const struct lp_def_user *lp_http_login(const struct lp_defs *d, const char *user,
					const char *password)
{
	const struct lp_def_user *u = lp_defs_find_user(d, user);
	if (!u || !u->has_hash)
		return NULL;
	return lp_password_check(u->hash, password, strlen(password)) ? u : NULL;
}

bool lp_http_vhost_access(const struct lp_defs *d, const char *user, const char *vhost)
{
	for (const struct lp_def_permission *p = lp_defs_permissions(d); p; p = p->next)
		if (strcmp(p->user, user) == 0 && strcmp(p->vhost, vhost) == 0)
			return true;
	return false;
}

bool lp_http_vhost_visible(const struct lp_defs *d, const struct lp_def_user *u,
			   const char *vhost)
{
	return lp_http_is_monitor(lp_http_user_tags(u->tags)) ||
	       lp_http_vhost_access(d, u->name, vhost);
}
