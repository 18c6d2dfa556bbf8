/* SPDX-License-Identifier: MIT */
/*
 * JSON shapes of the management API that do not depend on a resource:
 * lists as RabbitMQ's rabbit_mgmt_util:reply_list/3 and
 * reply_list_or_paginate/3 return them (sort, sort_reverse, columns; page,
 * page_size, name, use_regex -> {items, page, page_count, ...}), and the
 * tolerant readers of request bodies (RabbitMQ takes "true" for true and
 * "5" for 5). Pure functions of their arguments: the unit tests call them.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define LP_HTTP_PAGE_SIZE_DEFAULT 100
#define LP_HTTP_PAGE_SIZE_MAX 500

/*
 * Shape the list `items` (an array of objects; the reference is stolen) as
 * the raw query asks: items sorted by `sort` (a dotted path, e.g.
 * "message_stats.publish") or else by default_sort (NULL-terminated keys,
 * compared in turn), reversed with sort_reverse=true; with page=N, filtered
 * by `name` (substring, or POSIX ERE with use_regex=true) and cut into
 * pages of page_size; each item reduced to the comma-separated `columns`
 * (dotted paths; absent ones are left out, never null).
 * Returns the new array or pagination object, or NULL with *error (RabbitMQ's
 * "page_out_of_range", "invalid_pagination_parameters" or "bad_request")
 * and err (cap bytes) the reason of a 400, or err "" when out of memory.
 */
json_t *lp_http_list_shape(json_t *items, const char *query, const char *const *default_sort,
			   char *err, size_t cap, const char **error);

/* The value at a dotted path of object o ("a.b.c"), or NULL. Borrowed. */
json_t *lp_http_json_path(const json_t *o, const char *path);

/*
 * obj[key] as a boolean: JSON true/false or the strings "true"/"false"
 * (rabbit_mgmt_util:parse_bool/1); def when absent or null. Returns 0 or
 * -EINVAL (any other value).
 */
int lp_http_json_bool(const json_t *obj, const char *key, bool def, bool *out);

/* obj[key] as a string into dst (cap bytes); def when absent or null (def
 * NULL: absent is -ENOENT). Numbers and booleans are taken as their text.
 * Returns the length, -EINVAL (an object or array), -ENOSPC. */
int lp_http_json_string(const json_t *obj, const char *key, const char *def, char *dst,
			size_t cap);

/* A non-negative decimal integer from s (a query value, or a JSON string).
 * Returns 0 or -EINVAL. */
int lp_http_parse_uint(const char *s, unsigned long *out);
