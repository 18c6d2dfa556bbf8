/* SPDX-License-Identifier: MIT */
/*
 * Options of amqp-load, from the command line and from scenario files. One
 * table names every option once (long name as RabbitMQ's PerfTest spells it,
 * short letter, kind); the command line and the `key = value` lines of a
 * scenario file go through the same setter, so a file is just saved options.
 * Scenario file format (bench/scenarios/NAME.conf):
 *
 *   # comment
 *   producers = 1        keys before any section apply to every section
 *   [1p1c-64B]           a section is one scenario, run in file order
 *   size = 64
 *   autoack = true       flags take true/false/yes/no/on/off/1/0
 *
 * A file without sections is one scenario named after the file. Command-line
 * options override the file's values.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define LP_LOAD_NAME_MAX 128
#define LP_LOAD_MAX_SCENARIOS 64

struct lp_load_opts {
	char name[LP_LOAD_NAME_MAX];   /* scenario name (--name) */
	char uri[512];                 /* amqp://user:pass@host:port/vhost */
	char queue[LP_LOAD_NAME_MAX];  /* -u; with --queues/--fanout-queues: q-%d */
	char exchange[LP_LOAD_NAME_MAX]; /* -e; "" is the default exchange */
	char type[32];                 /* -t exchange type */
	char routing_key[LP_LOAD_NAME_MAX]; /* -k; default: the queue's name; %q, %p expanded */
	char binding_key[LP_LOAD_NAME_MAX]; /* --binding-key; default: -k or the queue's name */
	char x_match[16];              /* --x-match all|any: headers exchange bindings */
	uint32_t producers;            /* -x, per queue group */
	uint32_t consumers;            /* -y, per queue */
	uint32_t size;                 /* -s body bytes */
	uint32_t rate;                 /* -r msgs/s per producer, 0 = unlimited */
	uint32_t confirm;              /* -c confirm window, 0 = off */
	bool autoack;                  /* -a */
	uint32_t multi_ack;            /* -A ack every N deliveries (multiple) */
	uint32_t qos;                  /* -q prefetch count, 0 = unlimited */
	bool persistent;               /* -f persistent */
	uint32_t queues;               /* --queues N: N groups of x producers, y consumers */
	uint32_t fanout_queues;        /* --fanout-queues N: fanout exchange, N queues */
	uint32_t time_s;               /* -z publishing seconds */
	uint64_t pmessages;            /* -C messages per producer, 0 = no limit */
	uint32_t drain_s;              /* --drain: max seconds to wait for deliveries */
	bool backlog;                  /* --backlog: consume only after publishing */
	bool json;                     /* --json */
	bool quiet;                    /* --quiet: no progress lines */
};

/* The defaults: 1 producer, 1 consumer, queue "lepus-bench" on the default
 * exchange, 64 B bodies, 10 s, manual acks one by one, no confirms. */
void lp_load_opts_default(struct lp_load_opts *o);

/*
 * Sets the option whose long name is key from its text value (NULL for a
 * flag given on the command line). Returns 0, or -ENOENT (unknown key),
 * -EINVAL (bad value), with a message in err[errlen].
 */
int lp_load_opts_set(struct lp_load_opts *o, const char *key, const char *value,
		     char *err, size_t errlen);

/* Checks the combination. Returns 0 or -EINVAL with a message in err. */
int lp_load_opts_check(const struct lp_load_opts *o, char *err, size_t errlen);

/*
 * Applies argv (getopt_long over the option table) to o. argv[0] is skipped;
 * --scenario / --scenario-name / --help are recognised but not applied here.
 * Returns 0, or -EINVAL with a message in err.
 */
int lp_load_opts_argv(struct lp_load_opts *o, int argc, char **argv, char *err,
		      size_t errlen);

/* What argv says about scenario files: path (NULL: none), section filter
 * (NULL: all), help requested. Returns 0 or -EINVAL. */
int lp_load_opts_scan(int argc, char **argv, const char **scenario, const char **only,
		      bool *help, char *err, size_t errlen);

/*
 * Reads a scenario file. For each section (or the whole file without
 * sections) whose name matches `only` (NULL: every one), out[i] gets the
 * defaults, the file's common keys, the section's keys and its name.
 * Returns the number of scenarios (>= 1), or -errno with a message in err
 * (the line number of a bad line, -ENOENT when `only` matches nothing).
 */
int lp_load_scenarios_read(const char *path, const char *only, struct lp_load_opts *out,
			   int max, char *err, size_t errlen);

void lp_load_usage(FILE *f, const char *prog);
/* The option table and the scenario file note alone (lepus-bench prints its
 * own heading). */
void lp_load_usage_options(FILE *f);
