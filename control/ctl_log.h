/* SPDX-License-Identifier: MIT */
/*
 * Logging for lepus-control: one line per event on stderr, prefixed with the
 * program name and the level. Debug lines appear only with --verbose. The
 * service manager or the script that started lepus-control keeps the stream.
 */
#pragma once

#include <stdbool.h>

enum lp_log_level { LP_LOG_ERR, LP_LOG_WARN, LP_LOG_INFO, LP_LOG_DEBUG };

/* Set the prefix (program name) and whether LP_LOG_DEBUG lines are printed. */
void lp_log_init(const char *prog, bool verbose);

void lp_log(enum lp_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
