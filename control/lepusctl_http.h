/* SPDX-License-Identifier: MIT */
/*
 * lepusctl's commands that go through lepus-control's management HTTP API
 * (the API's checks and JSON, so nothing is implemented twice): policies,
 * operator policies, definitions export and import. rabbitmqctl's syntax:
 *
 *   set_policy [-p VHOST] [--priority N] [--apply-to queues|exchanges|all]
 *              NAME PATTERN DEFINITION_JSON
 *   clear_policy [-p VHOST] NAME       list_policies [-p VHOST]
 *   set_operator_policy ... / clear_operator_policy ... / list_operator_policies
 *   export_definitions FILE|-          import_definitions FILE|-
 *
 * The API is reached at --http ADDR:PORT (default 127.0.0.1:15672) with
 * Basic credentials --user/--password (or LEPUS_USER / LEPUS_PASSWORD;
 * default guest/guest, lepus-control's first-start administrator).
 */
#pragma once

#include <stdbool.h>

struct lp_cli_http {
	const char *addr;     /* "IPV4:PORT" */
	const char *user;
	const char *password;
	const char *vhost;
	const char *priority; /* NULL: 0 */
	const char *apply_to; /* NULL: all */
	bool json;            /* list_*: a JSON array */
};

/* Is cmd one of the commands above? */
bool lp_cli_http_command(const char *cmd);

/* Run it. Returns the exit status: 0 done, 1 refused or unreachable (the
 * API's reason on stderr), 2 usage. */
int lp_cli_http_run(const struct lp_cli_http *o, const char *cmd, char **args, int nargs);
