/* SPDX-License-Identifier: MIT */
/*
 * The web UI on the management port (as RabbitMQ's on 15672): GET / is
 * ui/index.html, GET /ui/FILE the other embedded files (ui_assets.h). The
 * files are public, as RabbitMQ's are: the page logs in through the API
 * (Basic auth on every /api request), so nothing here needs a user.
 */
#include <stdlib.h>
#include <string.h>

#include "http_int.h"
#include "ui_assets.h"

bool lp_http_ui_serve(struct lp_http_req *r)
{
	char path[LP_HTTP_TARGET_MAX + 8];
	if (r->t.n == 0 || (r->t.n == 1 && strcmp(r->t.seg[0], "index.html") == 0))
		strcpy(path, "ui/index.html");
	else if (r->t.n == 2 && strcmp(r->t.seg[0], "ui") == 0)
		snprintf(path, sizeof(path), "ui/%s", r->t.seg[1]);
	else
		return false;
	for (const struct lp_ui_asset *a = lp_ui_assets; a->path; a++) {
		if (strcmp(a->path, path) != 0)
			continue;
		if (r->method != LP_HTTP_GET && r->method != LP_HTTP_HEAD) {
			snprintf(r->allow, sizeof(r->allow), "HEAD, GET, OPTIONS");
			lp_http_reply_empty(r, 405);
			return true;
		}
		char *body = malloc(a->len + 1);
		if (!body) {
			lp_http_reply_error(r, 500, "internal_error", "out of memory");
			return true;
		}
		memcpy(body, a->data, a->len + 1);
		free(r->resp);
		r->status = 200;
		r->resp = body;
		r->resp_len = a->len;
		r->content_type = a->content_type;
		return true;
	}
	return false;
}
