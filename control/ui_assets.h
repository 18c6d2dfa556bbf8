/* SPDX-License-Identifier: MIT */
/*
 * The web UI's static files (control/ui/), embedded into lepus-control at
 * build time by scripts/embed_files.py (ui_assets.c, generated), served by
 * http_ui.c: no files to install, nothing fetched at run time.
 */
#pragma once

#include <stddef.h>

struct lp_ui_asset {
	const char *path;         /* "index.html", "ui/ui.js" */
	const char *content_type;
	const unsigned char *data; /* NUL-terminated copy */
	size_t len;
};

/* Terminated by an entry with path NULL. */
extern const struct lp_ui_asset lp_ui_assets[];
