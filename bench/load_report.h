/* SPDX-License-Identifier: MIT */
/*
 * What amqp-load and lepus-bench report, shared by both. Each program reads
 * its own producers and consumers (threads with atomics in amqp-load, TCP
 * connections on one lcore in lepus-bench) into a struct lp_load_totals; the
 * per-second progress line (struct lp_load_progress) turns two readings into
 * rates plus approximate latency percentiles of the coarse histogram. At the
 * end a program fills one struct lp_load_report (totals, timings, the exact
 * histogram, lost / duplicated / out-of-order counts, the options and the few
 * facts only one of the programs knows), and lp_load_report_print or
 * lp_load_report_json writes the summary: the text block, or the one-line
 * JSON object that bench/compare and the integration tests parse. Flow:
 * run loop -> totals -> progress line; end of run -> lp_load_report_producer,
 * _consumer, _track per (queue, producer) -> _rates -> print or JSON.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "lat_hist.h"
#include "load_opts.h"
#include "seq_track.h"

#define LP_LOAD_MISSING_MAX 8 /* lowest missing numbers a summary can list */

/* Sums over every producer and consumer at one moment. */
struct lp_load_totals {
	uint64_t published, confirmed, nacked, returned, blocked, delivered;
	uint64_t expected; /* published x the queues that route to a consumer */
};

struct lp_load_report {
	const struct lp_load_opts *o; /* the scenario's options */
	const char *program;   /* JSON "program" key first (NULL: no such key) */
	const char *host;      /* the broker, as the program addressed it */
	const char *exchange;  /* the exchange used ("" default) */
	const char *type;      /* its type ("fanout" with --fanout-queues) */
	const char *binding_key; /* config "binding_key" (NULL: not reported) */
	const char *x_match;   /* config "x_match" (NULL: not a headers exchange) */
	const char *error;     /* what went wrong (NULL or "": nothing) */
	unsigned n_prod, n_cons, n_queues;
	bool fanout;
	bool rate_note;        /* heading says ", rate-limited" when --rate is set */

	struct lp_load_totals t;
	uint64_t lost, duplicated, out_of_order, foreign;
	/* In the caller's clock (ns, TSC): the start, the last publish, the last
	 * delivery (lp_load_report_producer / _consumer keep the latest). */
	uint64_t t0, pub_end, dlv_end;
	double pub_s, dlv_s;   /* lp_load_report_rates: from t0 to pub_end / dlv_end */
	double pub_rate, dlv_rate, gbit;
	const struct lp_hist *hist; /* every delivery's latency (not NULL) */
	bool drain_timeout;    /* the drain ended before every delivery */
	bool interrupted;      /* SIGINT / SIGTERM */

	/* Ready messages left in the queues after the consumers closed. */
	bool left_known;
	uint64_t left_in_queues;
	bool backlog;             /* --backlog: held is known */
	uint64_t held;            /* the queues' message count once publishing was done */
	/* The lowest missing (producer, sequence) pairs, up to missing_max. */
	unsigned missing_max;  /* 0 .. LP_LOAD_MISSING_MAX; 0: none listed */
	unsigned missing_n;
	struct {
		unsigned producer;
		uint64_t seq;
	} missing[LP_LOAD_MISSING_MAX];
	/* Share of the run's polls that did work (lepus-bench's lcore). */
	bool has_busy;
	double busy;
};

/*
 * Accounts one (queue, producer) tracker t: its duplicates always; when the
 * queue routes that producer's messages (routed), the numbers 0 .. published-1
 * it never saw count as lost, and the lowest of them fill rep->missing up to
 * rep->missing_max. Reads t only.
 */
void lp_load_report_track(struct lp_load_report *rep, const struct lp_seq *t,
			  unsigned producer, uint64_t published, bool routed);

/* Accounts one producer: end is when its last publish went out. */
void lp_load_report_producer(struct lp_load_report *rep, uint64_t end);

/* Accounts one consumer: bodies that were not this run's (foreign), the time
 * of its last delivery, and its out-of-order counts order[n_prod]. */
void lp_load_report_consumer(struct lp_load_report *rep, uint64_t foreign, uint64_t last,
			     const struct lp_seq_order *order, unsigned n_prod);

/* Sets pub_s and dlv_s from t0, pub_end and dlv_end (hz clock units a
 * second; an end not after t0 gives 0 s), and the rates derived from them
 * and the body size (a zero duration gives a zero rate). */
void lp_load_report_rates(struct lp_load_report *rep, double hz, uint32_t size);

/* The text summary ("== name: ..." and indented lines) to f, flushed. */
void lp_load_report_print(const struct lp_load_report *rep, FILE *f);

/*
 * The summary as one compact JSON object and a newline to f, flushed.
 * Returns 0, or -ENOMEM when the object cannot be built (nothing written).
 * A failed write is not reported, like the text lines.
 */
int lp_load_report_json(const struct lp_load_report *rep, FILE *f);

/* The per-second line: rates over the last interval and approximate latency
 * percentiles of the deliveries in it. Times are in the caller's clock units
 * (ns, TSC cycles), hz of them per second. */
struct lp_load_progress {
	FILE *f;
	bool tty;   /* one line rewritten in place ("\r"), else a line each */
	bool quiet; /* --quiet: nothing printed */
	double hz;
	uint64_t t0, last;
	struct lp_load_totals last_t;
	uint64_t coarse_last[LP_HIST_COARSE_N];
};

/* Zeroed state for a run that starts at t0, printing to f (tty: isatty). */
void lp_load_progress_init(struct lp_load_progress *pg, FILE *f, bool quiet, double hz,
			   uint64_t t0);
/*
 * One line at time now for totals t and the coarse histogram's cumulative
 * counts coarse[LP_HIST_COARSE_N] (every consumer's, summed), phase "run" or
 * "drain". Remembers t, coarse and now for the next line.
 */
void lp_load_progress_tick(struct lp_load_progress *pg, uint64_t now,
			   const struct lp_load_totals *t, const uint64_t *coarse,
			   const char *phase);
/* Ends the rewritten line on a tty (a newline), after the last tick. */
void lp_load_progress_end(const struct lp_load_progress *pg);
