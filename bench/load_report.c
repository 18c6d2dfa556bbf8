/* SPDX-License-Identifier: MIT */
/*
 * The progress line and the end-of-run summary of amqp-load and lepus-bench
 * (load_report.h): the accounting of the sequence trackers into lost,
 * duplicated and first-missing numbers, the rates, the text block and the
 * JSON object (key order as the programs have always written it: bench/compare
 * and the integration tests read these keys).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "load_report.h"

void lp_load_report_track(struct lp_load_report *rep, const struct lp_seq *t,
			  unsigned producer, uint64_t published, bool routed)
{
	uint64_t missing;

	rep->duplicated += atomic_load(&t->duplicates);
	if (!routed)
		return;
	missing = lp_seq_missing(t, published);
	rep->lost += missing;
	for (uint64_t seq = 0; missing > 0 && seq < published && rep->missing_n < rep->missing_max &&
	     rep->missing_n < LP_LOAD_MISSING_MAX; seq++)
		if (!lp_seq_test(t, seq)) {
			rep->missing[rep->missing_n].producer = producer;
			rep->missing[rep->missing_n++].seq = seq;
		}
}

void lp_load_report_producer(struct lp_load_report *rep, uint64_t end)
{
	if (end > rep->pub_end)
		rep->pub_end = end;
}

void lp_load_report_consumer(struct lp_load_report *rep, uint64_t foreign, uint64_t last,
			     const struct lp_seq_order *order, unsigned n_prod)
{
	rep->foreign += foreign;
	if (last > rep->dlv_end)
		rep->dlv_end = last;
	for (unsigned p = 0; p < n_prod; p++)
		rep->out_of_order += order[p].late;
}

void lp_load_report_rates(struct lp_load_report *rep, double hz, uint32_t size)
{
	rep->pub_s = rep->pub_end > rep->t0 ? (double)(rep->pub_end - rep->t0) / hz : 0;
	rep->dlv_s = rep->dlv_end > rep->t0 ? (double)(rep->dlv_end - rep->t0) / hz : 0;
	rep->pub_rate = rep->pub_s > 0 ? (double)rep->t.published / rep->pub_s : 0;
	rep->dlv_rate = rep->dlv_s > 0 ? (double)rep->t.delivered / rep->dlv_s : 0;
	rep->gbit = rep->dlv_rate * size * 8 / 1e9;
}

void lp_load_report_print(const struct lp_load_report *rep, FILE *f)
{
	const struct lp_load_opts *o = rep->o;
	const struct lp_hist *h = rep->hist;

	fprintf(f, "== %s: %u producer(s), %u consumer(s), %u queue(s)%s, %u B, confirm %u, %s, qos %u%s%s\n",
		o->name, rep->n_prod, rep->n_cons, rep->n_queues, rep->fanout ? " (fanout)" : "",
		o->size, o->confirm, o->autoack ? "auto-ack" : "manual ack", o->qos,
		o->persistent ? ", persistent" : "",
		rep->rate_note && o->rate ? ", rate-limited" : "");
	if (rep->error && rep->error[0])
		fprintf(f, "   ERROR      %s\n", rep->error);
	fprintf(f, "   published  %" PRIu64 " in %.2f s (%.0f msgs/s)\n", rep->t.published,
		rep->pub_s, rep->pub_rate);
	fprintf(f, "   confirmed  %" PRIu64 " (nacked %" PRIu64 ", returned %" PRIu64 ")\n",
		rep->t.confirmed, rep->t.nacked, rep->t.returned);
	fprintf(f, "   delivered  %" PRIu64 " of %" PRIu64 " expected in %.2f s (%.0f msgs/s, %.3f Gbit/s payload)%s\n",
		rep->t.delivered, rep->t.expected, rep->dlv_s, rep->dlv_rate, rep->gbit,
		rep->drain_timeout ? " [drain ended before every delivery]" : "");
	if (h->count)
		fprintf(f, "   latency    min %" PRIu64 " us, p50 %" PRIu64 " us, p99 %" PRIu64
			" us, p99.9 %" PRIu64 " us, max %" PRIu64 " us, mean %.1f us (%" PRIu64
			" samples, %" PRIu64 " over %u s)\n",
			h->min_ns / 1000, lp_hist_percentile_us(h, 50), lp_hist_percentile_us(h, 99),
			lp_hist_percentile_us(h, 99.9), h->max_ns / 1000, lp_hist_mean_us(h), h->count,
			h->overflow, LP_HIST_DEFAULT_US / 1000000);
	fprintf(f, "   lost %" PRIu64 ", duplicated %" PRIu64 ", out-of-order %" PRIu64
		", foreign %" PRIu64 ", blocked %" PRIu64 "\n",
		rep->lost, rep->duplicated, rep->out_of_order, rep->foreign, rep->t.blocked);
	if (rep->backlog)
		fprintf(f, "   held   %" PRIu64 " messages in the queues once publishing was done "
			"(passive Queue.Declare)\n", rep->held);
	if (rep->lost > 0 || rep->drain_timeout) {
		if (rep->left_known)
			fprintf(f, "   left in the queue(s) after the consumers closed: %" PRIu64 "%s\n",
				rep->left_in_queues,
				rep->left_in_queues < rep->lost
					? " (the rest of the lost are gone from the broker)"
					: " (the broker kept them)");
		if (rep->missing_n > 0) {
			fprintf(f, "   first missing (producer:seq):");
			for (unsigned i = 0; i < rep->missing_n; i++)
				fprintf(f, " %u:%" PRIu64, rep->missing[i].producer, rep->missing[i].seq);
			fprintf(f, "\n");
		}
	}
	if (rep->has_busy)
		fprintf(f, "   bench lcore busy %.0f%% of the run (polls that moved a packet or a message)\n",
			rep->busy * 100);
	fflush(f);
}

int lp_load_report_json(const struct lp_load_report *rep, FILE *f)
{
	const struct lp_load_opts *o = rep->o;
	const struct lp_hist *h = rep->hist;
	json_t *lat = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:I,s:I}",
				"samples", (json_int_t)h->count,
				"min", (json_int_t)(h->count ? h->min_ns / 1000 : 0),
				"p50", (json_int_t)lp_hist_percentile_us(h, 50),
				"p99", (json_int_t)lp_hist_percentile_us(h, 99),
				"p99_9", (json_int_t)lp_hist_percentile_us(h, 99.9),
				"max", (json_int_t)(h->max_ns / 1000),
				"mean", lp_hist_mean_us(h),
				"overflow", (json_int_t)h->overflow,
				"limit_us", (json_int_t)LP_HIST_DEFAULT_US);
	json_t *cfg = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:b,s:I,s:I,s:b,s:I,s:I,s:I,s:I,s:s*,s:s*}",
				"queue", o->queue, "exchange", rep->exchange, "type", rep->type,
				"routing_key", o->routing_key,
				"producers", (json_int_t)rep->n_prod, "consumers", (json_int_t)rep->n_cons,
				"queues", (json_int_t)rep->n_queues, "size", (json_int_t)o->size,
				"rate", (json_int_t)o->rate, "confirm", (json_int_t)o->confirm,
				"autoack", o->autoack, "multi_ack_every", (json_int_t)o->multi_ack,
				"qos", (json_int_t)o->qos, "persistent", o->persistent,
				"time", (json_int_t)o->time_s, "pmessages", (json_int_t)o->pmessages,
				"drain", (json_int_t)o->drain_s, "fanout_queues",
				(json_int_t)o->fanout_queues, "binding_key", rep->binding_key,
				"x_match", rep->x_match);
	json_t *root = json_pack(
		"{s:s*,s:s,s:s,s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:f,s:f,s:f,s:f,s:o,s:I,s:I,s:I,s:I,s:b,s:b}",
		"program", rep->program, "scenario", o->name, "host", rep->host, "config", cfg,
		"published", (json_int_t)rep->t.published, "confirmed", (json_int_t)rep->t.confirmed,
		"nacked", (json_int_t)rep->t.nacked, "returned", (json_int_t)rep->t.returned,
		"delivered", (json_int_t)rep->t.delivered, "expected", (json_int_t)rep->t.expected,
		"blocked", (json_int_t)rep->t.blocked,
		"publish_seconds", rep->pub_s, "deliver_seconds", rep->dlv_s,
		"published_per_s", rep->pub_rate, "delivered_per_s", rep->dlv_rate,
		"gbit_per_s", rep->gbit, "latency_us", lat,
		"lost", (json_int_t)rep->lost, "duplicated", (json_int_t)rep->duplicated,
		"out_of_order", (json_int_t)rep->out_of_order, "foreign", (json_int_t)rep->foreign,
		"drain_timeout", rep->drain_timeout, "interrupted", rep->interrupted);

	if (root == NULL)
		return -ENOMEM;
	if ((rep->has_busy && json_object_set_new(root, "bench_busy", json_real(rep->busy)) < 0) ||
	    (rep->error && rep->error[0] &&
	     json_object_set_new(root, "error", json_string(rep->error)) < 0) ||
	    (rep->backlog &&
	     json_object_set_new(root, "held", json_integer((json_int_t)rep->held)) < 0) ||
	    (rep->left_known &&
	     json_object_set_new(root, "left_in_queues",
				 json_integer((json_int_t)rep->left_in_queues)) < 0)) {
		json_decref(root);
		return -ENOMEM;
	}
	json_dumpf(root, f, JSON_COMPACT);
	fputc('\n', f);
	fflush(f);
	json_decref(root);
	return 0;
}

void lp_load_progress_init(struct lp_load_progress *pg, FILE *f, bool quiet, double hz,
			   uint64_t t0)
{
	memset(pg, 0, sizeof(*pg));
	pg->f = f;
	pg->tty = isatty(fileno(f));
	pg->quiet = quiet;
	pg->hz = hz;
	pg->t0 = t0;
	pg->last = t0;
}

void lp_load_progress_tick(struct lp_load_progress *pg, uint64_t now,
			   const struct lp_load_totals *t, const uint64_t *coarse,
			   const char *phase)
{
	uint64_t interval[LP_HIST_COARSE_N], p50 = 0, p99 = 0;
	double dt = (double)(now - pg->last) / pg->hz;
	char lat[64] = "";

	for (unsigned i = 0; i < LP_HIST_COARSE_N; i++) {
		interval[i] = coarse[i] - pg->coarse_last[i];
		pg->coarse_last[i] = coarse[i];
	}
	if (lp_hist_coarse_percentile(interval, 50, &p50) &&
	    lp_hist_coarse_percentile(interval, 99, &p99))
		snprintf(lat, sizeof(lat), " | lat~ p50 %" PRIu64 " us p99 %" PRIu64 " us", p50,
			 p99);
	if (!pg->quiet && dt > 0)
		fprintf(pg->f,
			"%s%6.1fs %-5s| pub %9.0f/s | conf %9.0f/s | dlv %9.0f/s%s | backlog %" PRIu64
			"%s",
			pg->tty ? "\r" : "", (double)(now - pg->t0) / pg->hz, phase,
			(double)(t->published - pg->last_t.published) / dt,
			(double)(t->confirmed - pg->last_t.confirmed) / dt,
			(double)(t->delivered - pg->last_t.delivered) / dt, lat,
			t->expected > t->delivered ? t->expected - t->delivered : 0,
			pg->tty ? "   " : "\n");
	fflush(pg->f);
	pg->last_t = *t;
	pg->last = now;
}

void lp_load_progress_end(const struct lp_load_progress *pg)
{
	if (pg->tty && !pg->quiet)
		fputc('\n', pg->f);
}
