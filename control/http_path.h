/* SPDX-License-Identifier: MIT */
/*
 * Request targets of the management HTTP API (RFC 9110 4.1, RFC 3986 2.1):
 * the raw target as the client sent it ("/api/queues/%2F/q?columns=name")
 * is split here, before any decoding, into path segments that are
 * percent-decoded one by one, so that RabbitMQ's "%2F" for the default
 * vhost stays a segment of its own ("/"), and into the raw query, whose
 * parameters are decoded on lookup (application/x-www-form-urlencoded:
 * '+' is a space). http_server.c calls lp_http_target_parse() once per
 * request; the resource files read segments and parameters. No allocation.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define LP_HTTP_SEGS_MAX 12
#define LP_HTTP_TARGET_MAX 4096

struct lp_http_target {
	unsigned n;                       /* segments */
	const char *seg[LP_HTTP_SEGS_MAX]; /* decoded, NUL-terminated, into buf */
	const char *query;                /* raw, after '?', into buf ("" if none) */
	char buf[2 * LP_HTTP_TARGET_MAX + 2];
};

/*
 * Percent-decode src[0..len) into dst (cap bytes, NUL-terminated); with
 * plus_space a '+' becomes ' '. Returns the decoded length, -EINVAL for a
 * malformed escape ("%4", "%zz") or a decoded NUL byte, -ENOSPC when dst is
 * too small.
 */
ssize_t lp_http_unescape(char *dst, size_t cap, const char *src, size_t len, bool plus_space);

/*
 * Split the raw target into t. A trailing '/' makes no empty last segment
 * ("/api/vhosts/" is "/api/vhosts"); empty inner segments are kept (""). 
 * Returns 0, -EINVAL (no leading '/', bad escape, NUL), -E2BIG (more than
 * LP_HTTP_SEGS_MAX segments) or -ENAMETOOLONG (over LP_HTTP_TARGET_MAX).
 */
int lp_http_target_parse(struct lp_http_target *t, const char *raw);

/*
 * The first value of parameter `key` in the raw query (decoded, into dst of
 * cap bytes). Returns its length (0 for "key" or "key="), -ENOENT when the
 * key is absent, -EINVAL or -ENOSPC as lp_http_unescape().
 */
ssize_t lp_http_query_get(const char *query, const char *key, char *dst, size_t cap);

/* Does the query have `key` with a true value ("true", "1", "yes", or no
 * value at all)? */
bool lp_http_query_bool(const char *query, const char *key);

/*
 * Percent-encode src for one path segment (RFC 3986 unreserved characters
 * stay, everything else becomes %XX, so '/' is "%2F"). Returns the length,
 * or -ENOSPC.
 */
ssize_t lp_http_escape_segment(char *dst, size_t cap, const char *src);
