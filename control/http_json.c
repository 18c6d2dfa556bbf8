/* SPDX-License-Identifier: MIT */
/*
 * List shaping and tolerant body readers of the management API (see
 * http_json.h).
 */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_json.h"
#include "http_path.h"

json_t *lp_http_json_path(const json_t *o, const char *path)
{
	char key[256];
	const char *p = path;
	json_t *cur = (json_t *)o;
	while (cur && *p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		if (n >= sizeof(key) || !json_is_object(cur))
			return NULL;
		memcpy(key, p, n);
		key[n] = '\0';
		cur = json_object_get(cur, key);
		p += n + (dot ? 1 : 0);
	}
	return cur;
}

/* Erlang's term order, which RabbitMQ's sort follows: numbers < atoms
 * (booleans) < binaries (strings), absent first. */
static int rank(const json_t *v)
{
	if (!v || json_is_null(v))
		return 0;
	if (json_is_number(v))
		return 1;
	if (json_is_boolean(v))
		return 2;
	if (json_is_string(v))
		return 3;
	return 4;
}

static int value_cmp(const json_t *a, const json_t *b)
{
	int ra = rank(a), rb = rank(b);
	if (ra != rb)
		return ra < rb ? -1 : 1;
	switch (ra) {
	case 1: {
		double x = json_number_value(a), y = json_number_value(b);
		return x < y ? -1 : x > y;
	}
	case 2:
		return (int)json_is_true(a) - (int)json_is_true(b);
	case 3: {
		size_t la = json_string_length(a), lb = json_string_length(b);
		int c = memcmp(json_string_value(a), json_string_value(b), la < lb ? la : lb);
		return c ? c : (la < lb ? -1 : la > lb);
	}
	default:
		return 0;
	}
}

struct sort_spec {
	const char *keys[8];
	unsigned n;
	bool reverse;
};

static struct sort_spec *qsort_spec; /* qsort has no argument; single-threaded */

static int item_cmp(const void *pa, const void *pb)
{
	const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
	for (unsigned i = 0; i < qsort_spec->n; i++) {
		int c = value_cmp(lp_http_json_path(a, qsort_spec->keys[i]),
				  lp_http_json_path(b, qsort_spec->keys[i]));
		if (c)
			return qsort_spec->reverse ? -c : c;
	}
	return 0;
}

/* Copy the value at dotted path `path` of src into dst, creating the
 * intermediate objects. 0 or -ENOMEM; absent paths are skipped. */
static int copy_column(json_t *dst, const json_t *src, const char *path)
{
	json_t *v = lp_http_json_path(src, path);
	if (!v)
		return 0;
	char key[256];
	const char *p = path;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		if (n >= sizeof(key))
			return 0;
		memcpy(key, p, n);
		key[n] = '\0';
		if (!dot)
			return json_object_set(dst, key, v) < 0 ? -ENOMEM : 0;
		json_t *next = json_object_get(dst, key);
		if (!json_is_object(next)) {
			next = json_object();
			if (!next || json_object_set_new(dst, key, next) < 0)
				return -ENOMEM;
		}
		dst = next;
		p = dot + 1;
	}
}

static json_t *select_columns(json_t *items, const char *columns)
{
	json_t *out = json_array();
	size_t i;
	json_t *it;
	json_array_foreach(items, i, it) {
		json_t *o = json_object();
		if (!o || json_array_append_new(out, o) < 0)
			goto fail;
		const char *p = columns;
		while (*p) {
			const char *comma = strchr(p, ',');
			size_t n = comma ? (size_t)(comma - p) : strlen(p);
			char col[512];
			if (n && n < sizeof(col)) {
				memcpy(col, p, n);
				col[n] = '\0';
				if (copy_column(o, it, col) < 0)
					goto fail;
			}
			p += n + (comma ? 1 : 0);
		}
	}
	json_decref(items);
	return out;
fail:
	json_decref(out);
	json_decref(items);
	return NULL;
}

static json_t *fail_with(json_t *items, char *err, size_t cap, const char *reason)
{
	json_decref(items);
	snprintf(err, cap, "%s", reason);
	return NULL;
}

/* rabbit_mgmt_util:range/1 and range_filter/3 */
static json_t *bad_page(json_t *items, char *err, size_t cap, const char **error,
			const char *page, const char *size)
{
	*error = "invalid_pagination_parameters";
	json_decref(items);
	snprintf(err, cap, "Invalid pagination parameters: page number %s, page size %s", page, size);
	return NULL;
}

json_t *lp_http_list_shape(json_t *items, const char *query, const char *const *default_sort,
			   char *err, size_t cap, const char **error)
{
	char v[512];
	*error = "bad_request";
	if (!items)
		return fail_with(NULL, err, cap, "");

	/* sort: rabbit_mgmt_util:sort_list/4 */
	struct sort_spec spec = { .n = 0 };
	char sort_key[512];
	if (lp_http_query_get(query, "sort", sort_key, sizeof(sort_key)) > 0) {
		spec.keys[spec.n++] = sort_key;
	} else {
		for (unsigned i = 0; default_sort && default_sort[i] && spec.n < 8; i++)
			spec.keys[spec.n++] = default_sort[i];
	}
	spec.reverse = lp_http_query_bool(query, "sort_reverse");
	size_t n = json_array_size(items);
	if (spec.n && n > 1) {
		json_t **tmp = malloc(n * sizeof(*tmp));
		if (!tmp)
			return fail_with(items, err, cap, "");
		for (size_t i = 0; i < n; i++)
			tmp[i] = json_incref(json_array_get(items, i));
		qsort_spec = &spec;
		qsort(tmp, n, sizeof(*tmp), item_cmp);
		qsort_spec = NULL;
		json_array_clear(items);
		for (size_t i = 0; i < n; i++)
			json_array_append_new(items, tmp[i]);
		free(tmp);
	}

	/* pagination: rabbit_mgmt_util:reply_list_or_paginate/3 */
	json_t *page_obj = NULL;
	if (lp_http_query_get(query, "page", v, sizeof(v)) >= 0) {
		unsigned long page, size = LP_HTTP_PAGE_SIZE_DEFAULT;
		char ps[64] = "100";
		bool page_ok = lp_http_parse_uint(v, &page) == 0 && page >= 1;
		if (lp_http_query_get(query, "page_size", ps, sizeof(ps)) < 0)
			snprintf(ps, sizeof(ps), "%d", LP_HTTP_PAGE_SIZE_DEFAULT);
		else if (lp_http_parse_uint(ps, &size) < 0)
			size = 0;
		if (!page_ok || size < 1 || size > LP_HTTP_PAGE_SIZE_MAX)
			return bad_page(items, err, cap, error, v, ps);
		size_t total = json_array_size(items);
		char name[512];
		if (lp_http_query_get(query, "name", name, sizeof(name)) > 0) {
			bool use_re = lp_http_query_bool(query, "use_regex");
			regex_t re;
			if (use_re && regcomp(&re, name, REG_EXTENDED | REG_NOSUB) != 0)
				return fail_with(items, err, cap, "Invalid regular expression");
			json_t *kept = json_array();
			size_t i;
			json_t *it;
			json_array_foreach(items, i, it) {
				const char *nm = json_string_value(json_object_get(it, "name"));
				bool match = nm && (use_re ? regexec(&re, nm, 0, NULL, 0) == 0
							   : strstr(nm, name) != NULL);
				if (match && kept)
					json_array_append(kept, it);
			}
			if (use_re)
				regfree(&re);
			json_decref(items);
			items = kept;
			if (!items)
				return fail_with(NULL, err, cap, "");
		}
		size_t filtered = json_array_size(items);
		size_t page_count = (filtered + size - 1) / size;
		if (page > 1 && page > page_count) {
			*error = "page_out_of_range";
			json_decref(items);
			snprintf(err, cap, "Page out of range, page: %lu page size: %lu, len: %zu", page,
				 size, filtered);
			return NULL;
		}
		json_t *cut = json_array();
		for (size_t i = (page - 1) * size; cut && i < filtered && i < page * size; i++)
			json_array_append(cut, json_array_get(items, i));
		json_decref(items);
		items = cut;
		page_obj = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}",
				     "filtered_count", (json_int_t)filtered,
				     "item_count", (json_int_t)json_array_size(items),
				     "page", (json_int_t)page,
				     "page_count", (json_int_t)page_count,
				     "page_size", (json_int_t)size,
				     "total_count", (json_int_t)total);
		if (!items || !page_obj) {
			json_decref(page_obj);
			return fail_with(items, err, cap, "");
		}
	}

	char columns[1024];
	if (lp_http_query_get(query, "columns", columns, sizeof(columns)) > 0) {
		items = select_columns(items, columns);
		if (!items) {
			json_decref(page_obj);
			return fail_with(NULL, err, cap, "");
		}
	}
	if (!page_obj)
		return items;
	json_object_set_new(page_obj, "items", items);
	return page_obj;
}

int lp_http_json_bool(const json_t *obj, const char *key, bool def, bool *out)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v)) {
		*out = def;
		return 0;
	}
	if (json_is_boolean(v)) {
		*out = json_is_true(v);
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
			*out = s[0] == 't';
			return 0;
		}
	}
	return -EINVAL;
}

int lp_http_json_string(const json_t *obj, const char *key, const char *def, char *dst,
			size_t cap)
{
	json_t *v = json_object_get(obj, key);
	int n;
	if (!v || json_is_null(v)) {
		if (!def)
			return -ENOENT;
		n = snprintf(dst, cap, "%s", def);
	} else if (json_is_string(v)) {
		if (memchr(json_string_value(v), 0, json_string_length(v)))
			return -EINVAL;
		n = snprintf(dst, cap, "%s", json_string_value(v));
	} else if (json_is_integer(v)) {
		n = snprintf(dst, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	} else if (json_is_real(v)) {
		n = snprintf(dst, cap, "%g", json_real_value(v));
	} else if (json_is_boolean(v)) {
		n = snprintf(dst, cap, "%s", json_is_true(v) ? "true" : "false");
	} else {
		return -EINVAL;
	}
	return (size_t)n >= cap ? -ENOSPC : n;
}

int lp_http_parse_uint(const char *s, unsigned long *out)
{
	if (!s || !*s)
		return -EINVAL;
	unsigned long v = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9' || v > (~0ul - 9) / 10)
			return -EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	*out = v;
	return 0;
}
