/* SPDX-License-Identifier: MIT */
/*
 * stderr logging for lepus-control (see ctl_log.h): "<prog>: <level>: text".
 */
#include <stdarg.h>
#include <stdio.h>

#include "ctl_log.h"

static const char *log_prog = "lepus-control";
static bool log_verbose;

void lp_log_init(const char *prog, bool verbose)
{
	log_prog = prog;
	log_verbose = verbose;
}

void lp_log(enum lp_log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	if (level == LP_LOG_DEBUG && !log_verbose)
		return;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s: %s\n", log_prog, names[level], line);
	fflush(stderr);
}
