/* SPDX-License-Identifier: MIT */
/*
 * Options of amqp-load (see load_opts.h): the option table, its setter shared
 * by the command line and scenario files, the scenario file reader, usage.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "load_opts.h"

enum kind { K_STR, K_U32, K_U64, K_BOOL, K_FLAG, K_META };

struct opt {
	const char *name;
	int letter; /* 0: long only */
	enum kind kind;
	size_t off;  /* into struct lp_load_opts */
	size_t size; /* of a K_STR buffer */
	uint64_t max;
	const char *arg;
	const char *help;
};

#define STR(f) K_STR, offsetof(struct lp_load_opts, f), sizeof(((struct lp_load_opts *)0)->f), 0
#define U32(f, m) K_U32, offsetof(struct lp_load_opts, f), 0, m
#define U64(f, m) K_U64, offsetof(struct lp_load_opts, f), 0, m
#define BOOL(f) K_BOOL, offsetof(struct lp_load_opts, f), 0, 0

static const struct opt opts[] = {
	{"uri", 'h', STR(uri), "URI", "amqp://user:pass@host:port/vhost (default amqp://guest:guest@localhost:5672)"},
	{"producers", 'x', U32(producers, 256), "N", "producers (per queue group with --queues), default 1"},
	{"consumers", 'y', U32(consumers, 256), "N", "consumers per queue, default 1"},
	{"queue", 'u', STR(queue), "NAME", "queue name (default lepus-bench)"},
	{"exchange", 'e', STR(exchange), "NAME", "exchange (default: the default exchange \"\")"},
	{"type", 't', STR(type), "TYPE", "exchange type when -e is given (default direct)"},
	{"routing-key", 'k', STR(routing_key), "KEY", "routing key (default: the queue name); %q: the producer's queue, %p: its number, %%: %"},
	{"binding-key", 0, STR(binding_key), "KEY", "binding key of each queue, %q: its name (default: -k, else the queue name), e.g. -t topic -k 'load.%q.p%p' --binding-key '*.%q.#'"},
	{"x-match", 0, STR(x_match), "all|any", "-t headers: messages carry lepus-queue=<queue> and lepus-load=amqp-load; queues bind with x-match on lepus-queue=<name> and, all: lepus-load=amqp-load, any: lepus-none=x (default all)"},
	{"size", 's', U32(size, 16u << 20), "BYTES", "message body size, >= 24 (default 64)"},
	{"rate", 'r', U32(rate, 100000000), "N", "msgs/s per producer, 0 = unlimited (default)"},
	{"confirm", 'c', U32(confirm, 1000000), "N", "publisher confirms, at most N unconfirmed (0 = off)"},
	{"autoack", 'a', BOOL(autoack), NULL, "consumers use no-ack (default: manual acks)"},
	{"multi-ack-every", 'A', U32(multi_ack, 1000000), "N", "ack every N deliveries with multiple=true"},
	{"qos", 'q', U32(qos, 65535), "N", "consumer prefetch count (0 = unlimited)"},
	{"flag", 'f', K_FLAG, 0, 0, 0, "persistent", "message flag: persistent (delivery mode 2, durable queues)"},
	{"persistent", 0, BOOL(persistent), NULL, "same as -f persistent"},
	{"queues", 0, U32(queues, 1024), "N", "N queues q-1..q-N, each with its own producers and consumers"},
	{"fanout-queues", 0, U32(fanout_queues, 1024), "N", "fanout exchange to N queues q-1..q-N"},
	{"time", 'z', U32(time_s, 600), "SECONDS", "publishing time, 1..600 (default 10)"},
	{"pmessages", 'C', U64(pmessages, UINT64_C(1) << 32), "N", "messages per producer (stops earlier)"},
	{"backlog", 0, BOOL(backlog), NULL, "consumers subscribe only once every producer is done: the queue holds the whole run first (a backlog), then drains"},
	{"drain", 0, U32(drain_s, 600), "SECONDS", "max wait for outstanding deliveries after publishing (default 30)"},
	{"json", 0, BOOL(json), NULL, "print the summary as one JSON object (progress to stderr)"},
	{"quiet", 0, BOOL(quiet), NULL, "no progress lines"},
	{"name", 0, STR(name), "NAME", "scenario name shown in the summary"},
	{"scenario", 0, K_META, 0, 0, 0, "FILE", "run the scenario(s) in FILE (other options override it)"},
	{"scenario-name", 0, K_META, 0, 0, 0, "NAME", "only the section NAME of the scenario file"},
	{"help", 0, K_META, 0, 0, 0, NULL, "this help"},
};
#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

void lp_load_opts_default(struct lp_load_opts *o)
{
	memset(o, 0, sizeof(*o));
	strcpy(o->name, "amqp-load");
	strcpy(o->uri, "amqp://guest:guest@localhost:5672");
	strcpy(o->queue, "lepus-bench");
	strcpy(o->type, "direct");
	strcpy(o->x_match, "all");
	o->producers = 1;
	o->consumers = 1;
	o->size = 64;
	o->time_s = 10;
	o->drain_s = 30;
}

static const struct opt *find(const char *key)
{
	for (size_t i = 0; i < N_OPTS; i++)
		if (strcmp(opts[i].name, key) == 0)
			return &opts[i];
	return NULL;
}

static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = {"1", "true", "yes", "on"};
	static const char *const no[] = {"0", "false", "no", "off"};

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return *out = true, 0;
		if (strcasecmp(v, no[i]) == 0)
			return *out = false, 0;
	}
	return -EINVAL;
}

int lp_load_opts_set(struct lp_load_opts *o, const char *key, const char *value,
		     char *err, size_t errlen)
{
	const struct opt *d = find(key);
	char *p = (char *)o, *end;
	unsigned long long n;
	bool b = true;

	if (d == NULL || d->kind == K_META) {
		snprintf(err, errlen, "unknown option '%s'", key);
		return -ENOENT;
	}
	switch (d->kind) {
	case K_STR:
		if (value == NULL || strlen(value) >= d->size) {
			snprintf(err, errlen, "--%s: value missing or longer than %zu", key, d->size - 1);
			return -EINVAL;
		}
		strcpy(p + d->off, value);
		return 0;
	case K_U32:
	case K_U64:
		errno = 0;
		n = value ? strtoull(value, &end, 10) : 0;
		if (value == NULL || *value == '\0' || *value == '-' || *end != '\0' || errno ||
		    n > d->max) {
			snprintf(err, errlen, "--%s: expected an integer 0..%" PRIu64, key, d->max);
			return -EINVAL;
		}
		if (d->kind == K_U32)
			*(uint32_t *)(p + d->off) = (uint32_t)n;
		else
			*(uint64_t *)(p + d->off) = n;
		return 0;
	case K_BOOL:
		if (value != NULL && parse_bool(value, &b) < 0) {
			snprintf(err, errlen, "--%s: expected true or false", key);
			return -EINVAL;
		}
		*(bool *)(p + d->off) = b;
		return 0;
	case K_FLAG:
		if (value != NULL && strcasecmp(value, "persistent") == 0) {
			o->persistent = true;
			return 0;
		}
		snprintf(err, errlen, "--flag: only 'persistent' is supported");
		return -EINVAL;
	case K_META:
		break;
	}
	return -EINVAL;
}

int lp_load_opts_check(const struct lp_load_opts *o, char *err, size_t errlen)
{
	if (o->size < 24) {
		snprintf(err, errlen, "--size must be at least 24 (the body carries a 24-byte header)");
		return -EINVAL;
	}
	if (o->producers == 0 && o->consumers == 0) {
		snprintf(err, errlen, "no producers and no consumers");
		return -EINVAL;
	}
	if (o->time_s == 0 && o->pmessages == 0) {
		snprintf(err, errlen, "--time 0 needs --pmessages");
		return -EINVAL;
	}
	if (o->queues && o->fanout_queues) {
		snprintf(err, errlen, "--queues and --fanout-queues exclude each other");
		return -EINVAL;
	}
	if (o->qos && o->multi_ack > o->qos && !o->autoack) {
		snprintf(err, errlen, "--multi-ack-every %u > --qos %u would never ack", o->multi_ack,
			 o->qos);
		return -EINVAL;
	}
	if (strcmp(o->x_match, "all") != 0 && strcmp(o->x_match, "any") != 0) {
		snprintf(err, errlen, "--x-match must be all or any");
		return -EINVAL;
	}
	if (strstr(o->binding_key, "%p") ||
	    (strstr(o->routing_key, "%p") && !o->binding_key[0] && !o->fanout_queues)) {
		snprintf(err, errlen, "%%p (the producer) only in -k, and then with --binding-key");
		return -EINVAL;
	}
	if (strncmp(o->uri, "amqp://", 7) != 0) {
		snprintf(err, errlen, "--uri must start with amqp://");
		return -EINVAL;
	}
	return 0;
}

static void build_getopt(struct option *lo, char *shorts)
{
	size_t k = 0;

	for (size_t i = 0; i < N_OPTS; i++) {
		bool arg = opts[i].kind != K_BOOL && strcmp(opts[i].name, "help") != 0;

		lo[i] = (struct option){opts[i].name, arg ? required_argument : no_argument, NULL,
					opts[i].letter ? opts[i].letter : 256 + (int)i};
		if (opts[i].letter) {
			shorts[k++] = (char)opts[i].letter;
			if (arg)
				shorts[k++] = ':';
		}
	}
	lo[N_OPTS] = (struct option){0};
	shorts[k] = '\0';
}

static const struct opt *by_getopt(int c)
{
	if (c >= 256 && c < 256 + (int)N_OPTS)
		return &opts[c - 256];
	for (size_t i = 0; i < N_OPTS; i++)
		if (opts[i].letter == c)
			return &opts[i];
	return NULL;
}

/* Walks argv; apply == NULL only scans. */
static int walk_argv(struct lp_load_opts *apply, int argc, char **argv, const char **scenario,
		     const char **only, bool *help, char *err, size_t errlen)
{
	struct option lo[N_OPTS + 1];
	char shorts[2 * N_OPTS + 2];
	int c, rc;

	build_getopt(lo, shorts + 1);
	shorts[0] = ':'; /* report a missing argument as ':' */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
		const struct opt *d = by_getopt(c);

		if (c == '?' || c == ':' || d == NULL) {
			snprintf(err, errlen, "%s: %s", argv[optind - 1],
				 c == ':' ? "needs an argument" : "unknown option");
			return -EINVAL;
		}
		if (d->kind == K_META) {
			if (strcmp(d->name, "scenario") == 0 && scenario)
				*scenario = optarg;
			else if (strcmp(d->name, "scenario-name") == 0 && only)
				*only = optarg;
			else if (strcmp(d->name, "help") == 0 && help)
				*help = true;
			continue;
		}
		if (apply && (rc = lp_load_opts_set(apply, d->name, optarg, err, errlen)) < 0)
			return rc;
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

int lp_load_opts_argv(struct lp_load_opts *o, int argc, char **argv, char *err, size_t errlen)
{
	return walk_argv(o, argc, argv, NULL, NULL, NULL, err, errlen);
}

int lp_load_opts_scan(int argc, char **argv, const char **scenario, const char **only,
		      bool *help, char *err, size_t errlen)
{
	struct lp_load_opts scratch;

	*scenario = NULL;
	*only = NULL;
	*help = false;
	lp_load_opts_default(&scratch);
	return walk_argv(&scratch, argc, argv, scenario, only, help, err, errlen);
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* One pass over the file: section < 0 applies the common keys (those before
 * the first section) to o; otherwise the keys of the section-th section. */
static int apply_file(FILE *f, int section, struct lp_load_opts *o, char *name, int *n_sections,
		      char *err, size_t errlen)
{
	char line[1024];
	int lineno = 0, cur = -1, rc;

	rewind(f);
	*n_sections = 0;
	while (fgets(line, sizeof(line), f)) {
		char *s, *eq, *hash;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(err, errlen, "line %d: longer than %zu characters", lineno,
				 sizeof(line) - 2);
			return -EINVAL;
		}
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		s = trim(line);
		if (*s == '\0')
			continue;
		if (*s == '[') {
			char *close = strchr(s, ']');

			if (close == NULL || close[1] != '\0' || close == s + 1 ||
			    (size_t)(close - s - 1) >= LP_LOAD_NAME_MAX) {
				snprintf(err, errlen, "line %d: bad section header", lineno);
				return -EINVAL;
			}
			*close = '\0';
			cur = (*n_sections)++;
			if (cur == section && name)
				strcpy(name, trim(s + 1));
			continue;
		}
		eq = strchr(s, '=');
		if (eq == NULL) {
			snprintf(err, errlen, "line %d: expected key = value", lineno);
			return -EINVAL;
		}
		*eq = '\0';
		if (cur != section)
			continue;
		rc = lp_load_opts_set(o, trim(s), trim(eq + 1), err + 0, errlen);
		if (rc < 0) {
			char msg[256];

			snprintf(msg, sizeof(msg), "%s", err);
			snprintf(err, errlen, "line %d: %s", lineno, msg);
			return rc;
		}
	}
	return 0;
}

int lp_load_scenarios_read(const char *path, const char *only, struct lp_load_opts *out,
			   int max, char *err, size_t errlen)
{
	struct lp_load_opts common;
	char name[LP_LOAD_NAME_MAX];
	int n_sections, n = 0, rc;
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	lp_load_opts_default(&common);
	{
		/* A file without sections is one scenario named after the file. */
		const char *base = strrchr(path, '/');
		char *dot;

		snprintf(common.name, sizeof(common.name), "%s", base ? base + 1 : path);
		dot = strrchr(common.name, '.');
		if (dot && dot != common.name)
			*dot = '\0';
	}
	rc = apply_file(f, -1, &common, NULL, &n_sections, err, errlen);
	if (rc < 0)
		goto out;
	if (n_sections == 0) {
		if (only && strcmp(only, common.name) != 0) {
			snprintf(err, errlen, "%s: no scenario named '%s'", path, only);
			rc = -ENOENT;
			goto out;
		}
		out[0] = common;
		rc = 1;
		goto out;
	}
	for (int s = 0; s < n_sections; s++) {
		struct lp_load_opts o = common;

		rc = apply_file(f, s, &o, name, &n_sections, err, errlen);
		if (rc < 0)
			goto out;
		if (only && strcmp(only, name) != 0)
			continue;
		if (n == max) {
			snprintf(err, errlen, "%s: more than %d scenarios", path, max);
			rc = -E2BIG;
			goto out;
		}
		snprintf(o.name, sizeof(o.name), "%s", name);
		out[n++] = o;
	}
	if (n == 0) {
		snprintf(err, errlen, "%s: no scenario named '%s'", path, only ? only : "");
		rc = -ENOENT;
		goto out;
	}
	rc = n;
out:
	fclose(f);
	return rc;
}

void lp_load_usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s [options]\n"
		"AMQP 0-9-1 load generator (rabbitmq-c, kernel sockets): producers publish\n"
		"bodies carrying (producer, sequence, CLOCK_MONOTONIC ns); consumers check\n"
		"order, loss and duplicates exactly and measure latency (exact 1 us histogram).\n\n",
		prog);
	lp_load_usage_options(f);
}

void lp_load_usage_options(FILE *f)
{
	for (size_t i = 0; i < N_OPTS; i++) {
		char left[64];
		int k = 0;

		if (opts[i].letter)
			k = snprintf(left, sizeof(left), "-%c, ", opts[i].letter);
		else
			k = snprintf(left, sizeof(left), "    ");
		snprintf(left + k, sizeof(left) - (size_t)k, "--%s%s%s", opts[i].name,
			 opts[i].arg ? " " : "", opts[i].arg ? opts[i].arg : "");
		fprintf(f, "  %-30s %s\n", left, opts[i].help);
	}
	fprintf(f, "\nScenario files: `key = value` lines with the long option names, one\n"
		   "scenario per file or one per [section]; see bench/scenarios/.\n");
}
