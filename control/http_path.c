/* SPDX-License-Identifier: MIT */
/*
 * Request target splitting and percent-decoding for the management API (see
 * http_path.h).
 */
#include <errno.h>
#include <string.h>

#include "http_path.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

ssize_t lp_http_unescape(char *dst, size_t cap, const char *src, size_t len, bool plus_space)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		char c = src[i];
		if (c == '%') {
			/* RFC 3986 2.1: pct-encoded = "%" HEXDIG HEXDIG */
			if (i + 2 >= len)
				return -EINVAL;
			int hi = hexval(src[i + 1]);
			int lo = hexval(src[i + 2]);
			if (hi < 0 || lo < 0)
				return -EINVAL;
			c = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+' && plus_space) {
			c = ' ';
		}
		if (c == '\0')
			return -EINVAL;
		if (o + 1 >= cap)
			return -ENOSPC;
		dst[o++] = c;
	}
	if (o >= cap)
		return -ENOSPC;
	dst[o] = '\0';
	return (ssize_t)o;
}

int lp_http_target_parse(struct lp_http_target *t, const char *raw)
{
	size_t len = strlen(raw);
	if (len > LP_HTTP_TARGET_MAX)
		return -ENAMETOOLONG;
	if (raw[0] != '/')
		return -EINVAL;
	const char *q = memchr(raw, '?', len);
	size_t plen = q ? (size_t)(q - raw) : len;
	char *out = t->buf;
	char *end = t->buf + sizeof(t->buf);
	t->n = 0;
	size_t i = 1;
	while (i < plen) {
		const char *s = raw + i;
		const char *slash = memchr(s, '/', plen - i);
		size_t n = slash ? (size_t)(slash - s) : plen - i;
		if (t->n == LP_HTTP_SEGS_MAX)
			return -E2BIG;
		ssize_t d = lp_http_unescape(out, (size_t)(end - out), s, n, false);
		if (d < 0)
			return (int)d;
		t->seg[t->n++] = out;
		out += d + 1;
		i += n + 1;
		/* "/a/" ends at the '/': no empty last segment */
	}
	size_t qlen = q ? len - plen - 1 : 0;
	if ((size_t)(end - out) < qlen + 1)
		return -ENAMETOOLONG;
	memcpy(out, q ? q + 1 : "", qlen);
	out[qlen] = '\0';
	t->query = out;
	return 0;
}

ssize_t lp_http_query_get(const char *query, const char *key, char *dst, size_t cap)
{
	size_t klen = strlen(key);
	const char *p = query;
	while (*p) {
		const char *amp = strchr(p, '&');
		size_t n = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', n);
		size_t kn = eq ? (size_t)(eq - p) : n;
		char k[128];
		ssize_t kd = kn < sizeof(k) ? lp_http_unescape(k, sizeof(k), p, kn, true) : -ENOSPC;
		if (kd >= 0 && (size_t)kd == klen && memcmp(k, key, klen) == 0) {
			if (!eq) {
				if (cap < 1)
					return -ENOSPC;
				dst[0] = '\0';
				return 0;
			}
			return lp_http_unescape(dst, cap, eq + 1, n - kn - 1, true);
		}
		if (!amp)
			break;
		p = amp + 1;
	}
	return -ENOENT;
}

bool lp_http_query_bool(const char *query, const char *key)
{
	char v[16];
	ssize_t n = lp_http_query_get(query, key, v, sizeof(v));
	if (n == 0)
		return true;
	return n > 0 && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "yes") == 0);
}

ssize_t lp_http_escape_segment(char *dst, size_t cap, const char *src)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)src; *p; p++) {
		/* RFC 3986 2.3: unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~" */
		bool keep = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' ||
			    *p == '~';
		size_t need = keep ? 1 : 3;
		if (o + need >= cap)
			return -ENOSPC;
		if (keep) {
			dst[o++] = (char)*p;
		} else {
			dst[o++] = '%';
			dst[o++] = hex[*p >> 4];
			dst[o++] = hex[*p & 15];
		}
	}
	if (o >= cap)
		return -ENOSPC;
	dst[o] = '\0';
	return (ssize_t)o;
}
