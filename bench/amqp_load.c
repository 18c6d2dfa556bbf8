/* SPDX-License-Identifier: MIT */
/*
 * amqp-load: the kernel-socket AMQP 0-9-1 load generator that drives Lepus
 * and RabbitMQ through exactly the same client (rabbitmq-c). One thread and
 * one connection per producer and per consumer. Producers publish bodies that
 * start with a 24-byte header (run id, producer id, sequence number,
 * CLOCK_MONOTONIC send time in ns; host byte order: the same program reads
 * them on the same host); consumers account every delivery exactly
 * (seq_track.h: lost, duplicated, out of order) and record its latency in an
 * exact 1 us histogram (lat_hist.h). The run: declare the queues, start the
 * consumers, publish for --time seconds (or --pmessages), wait up to --drain
 * seconds for the deliveries still in flight, then report. A progress line
 * each second, a summary at the end (--json: one JSON object per scenario).
 * Everything is bounded: a watchdog ends the process if a broker stalls.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>

#include "lat_hist.h"
#include "load_opts.h"
#include "load_report.h"
#include "seq_track.h"

#define HDR_LEN 24
#define CHANNEL 1
#define FRAME_MAX 131072
#define SETUP_TIMEOUT_S 30
#define STALL_S 5 /* drain gives up after this long without a delivery */
#define MISSING_SHOWN LP_LOAD_MISSING_MAX /* missing numbers listed in the summary */

struct body_hdr {
	uint32_t run_id;
	uint32_t producer;
	uint64_t seq;
	uint64_t ts_ns;
};
_Static_assert(sizeof(struct body_hdr) == HDR_LEN, "body header is 24 bytes");

struct producer {
	struct run *run;
	pthread_t tid;
	unsigned id;
	unsigned group; /* its queue, without fanout */
	char rkey[LP_LOAD_NAME_MAX];
	_Atomic uint64_t published;
	_Atomic uint64_t confirmed; /* distinct delivery tags acked or nacked */
	_Atomic uint64_t nacked;
	_Atomic uint64_t returned;
	_Atomic uint64_t blocked; /* Connection.Blocked received */
	uint64_t end_ns;          /* when its last publish went out */
	uint64_t confirm_low;     /* every tag below it is confirmed */
	struct lp_seq confirms;   /* by tag - 1 */
	char error[256];
};

struct consumer {
	struct run *run;
	pthread_t tid;
	unsigned id;
	unsigned queue;
	_Atomic uint64_t delivered;
	uint64_t foreign; /* bodies of another run or program */
	uint64_t last_ns; /* time of its last delivery */
	struct lp_hist hist;
	struct lp_hist_coarse coarse;
	struct lp_seq_order *order; /* [n_prod] */
	char error[256];
};

struct run {
	const struct lp_load_opts *o;
	char url[512];
	struct amqp_connection_info ci;
	uint32_t run_id;
	bool fanout;
	bool headers; /* -t headers: routed by the lepus-queue header (--x-match) */
	char exchange[LP_LOAD_NAME_MAX];
	bool declared_exchange;
	unsigned n_queues, n_prod, n_cons;
	char (*qname)[LP_LOAD_NAME_MAX];
	struct producer *prod;
	struct consumer *cons;
	struct lp_seq *track; /* [queue * n_prod + producer] */
	_Atomic bool go, stop_publish, stop_consume, failed;
	_Atomic unsigned prod_ready, prod_done, cons_ready, cons_done;
	uint64_t t0_ns;
	uint64_t pub_end_ns; /* producers stop publishing at this time */
	/* Ready messages the queues still held once the consumers had closed
	 * (passive Queue.Declare before the delete): tells a broker that
	 * stalled (they are there) from one that lost them (they are not). */
	bool left_known;
	uint64_t left_in_queues;
	_Atomic uint64_t held;    /* --backlog: the queues' message count before consuming */
	char error[512];
	pthread_mutex_t error_lock;
};

static _Atomic uint64_t watchdog_deadline_ns;
static _Atomic(const char *) watchdog_phase;
static volatile sig_atomic_t interrupted;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};

	nanosleep(&ts, NULL);
}

static void watchdog_arm(const char *phase, uint64_t seconds)
{
	atomic_store(&watchdog_phase, phase);
	atomic_store(&watchdog_deadline_ns, now_ns() + seconds * 1000000000u);
}

/* Ends the process when a phase overruns its bound (a stalled broker can
 * block a thread in send() or in an RPC forever). */
static void *watchdog_main(void *arg)
{
	(void)arg;
	for (;;) {
		uint64_t d = atomic_load(&watchdog_deadline_ns);

		if (d != 0 && now_ns() > d) {
			fprintf(stderr, "\namqp-load: watchdog: %s did not finish in time; exiting\n",
				atomic_load(&watchdog_phase));
			fflush(NULL);
			_exit(1);
		}
		sleep_ns(200000000u);
	}
	return NULL;
}

static void run_fail(struct run *r, const char *who, const char *msg)
{
	pthread_mutex_lock(&r->error_lock);
	if (r->error[0] == '\0')
		snprintf(r->error, sizeof(r->error), "%s: %s", who, msg);
	pthread_mutex_unlock(&r->error_lock);
	atomic_store(&r->failed, true);
	atomic_store(&r->stop_publish, true);
	atomic_store(&r->stop_consume, true);
}

/* Text of a failed RPC reply (rabbitmq-c's reply kinds). */
static void reply_text(amqp_rpc_reply_t x, const char *ctx, char *err, size_t len)
{
	switch (x.reply_type) {
	case AMQP_RESPONSE_NORMAL:
		snprintf(err, len, "%s: ok", ctx);
		return;
	case AMQP_RESPONSE_NONE:
		snprintf(err, len, "%s: no reply", ctx);
		return;
	case AMQP_RESPONSE_LIBRARY_EXCEPTION:
		snprintf(err, len, "%s: %s", ctx, amqp_error_string2(x.library_error));
		return;
	case AMQP_RESPONSE_SERVER_EXCEPTION:
		if (x.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
			amqp_connection_close_t *m = x.reply.decoded;

			snprintf(err, len, "%s: connection closed by the broker: %u %.*s", ctx,
				 m->reply_code, (int)m->reply_text.len, (char *)m->reply_text.bytes);
		} else if (x.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
			amqp_channel_close_t *m = x.reply.decoded;

			snprintf(err, len, "%s: channel closed by the broker: %u %.*s", ctx,
				 m->reply_code, (int)m->reply_text.len, (char *)m->reply_text.bytes);
		} else {
			snprintf(err, len, "%s: unexpected method 0x%08x", ctx, x.reply.id);
		}
		return;
	}
	snprintf(err, len, "%s: unknown reply", ctx);
}

static bool reply_ok(amqp_connection_state_t c, const char *ctx, char *err, size_t len)
{
	amqp_rpc_reply_t x = amqp_get_rpc_reply(c);

	if (x.reply_type == AMQP_RESPONSE_NORMAL)
		return true;
	reply_text(x, ctx, err, len);
	return false;
}

/* Connection with channel 1 open. Returns NULL with a message in err. */
static amqp_connection_state_t broker_connect(struct run *r, char *err, size_t len)
{
	amqp_connection_state_t c = amqp_new_connection();
	struct timeval open_tv = {5, 0}, rpc_tv = {10, 0};
	amqp_socket_t *s;
	amqp_rpc_reply_t x;
	int rc;

	if (c == NULL || (s = amqp_tcp_socket_new(c)) == NULL) {
		snprintf(err, len, "out of memory");
		goto fail;
	}
	rc = amqp_socket_open_noblock(s, r->ci.host, r->ci.port, &open_tv);
	if (rc != AMQP_STATUS_OK) {
		snprintf(err, len, "connect %s:%d: %s", r->ci.host, r->ci.port,
			 amqp_error_string2(rc));
		goto fail;
	}
	x = amqp_login(c, r->ci.vhost, 0, FRAME_MAX, 0, AMQP_SASL_METHOD_PLAIN, r->ci.user,
		       r->ci.password);
	if (x.reply_type != AMQP_RESPONSE_NORMAL) {
		reply_text(x, "login", err, len);
		goto fail;
	}
	amqp_set_rpc_timeout(c, &rpc_tv);
	amqp_channel_open(c, CHANNEL);
	if (!reply_ok(c, "channel.open", err, len))
		goto fail;
	return c;
fail:
	if (c)
		amqp_destroy_connection(c);
	return NULL;
}

static void broker_close(amqp_connection_state_t c)
{
	amqp_channel_close(c, CHANNEL, AMQP_REPLY_SUCCESS);
	amqp_connection_close(c, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(c);
}

static amqp_bytes_t cstr(const char *s)
{
	return amqp_cstring_bytes(s);
}

/* A routing or binding key from its template: %q is the queue's name, %p the
 * producer's number (producer < 0: left as it is), %% a %; anything else is
 * copied. Truncated to out_len - 1 characters. */
static void key_expand(char *out, size_t out_len, const char *tmpl, const char *queue,
		       int producer)
{
	size_t n = 0;

	for (const char *t = tmpl; *t && n + 1 < out_len; t++) {
		char num[16];
		const char *ins = NULL;

		if (t[0] == '%' && t[1] == 'q')
			ins = queue;
		else if (t[0] == '%' && t[1] == 'p' && producer >= 0)
			ins = (snprintf(num, sizeof(num), "%d", producer), num);
		else if (t[0] == '%' && t[1] == '%')
			ins = "%";
		if (ins == NULL) {
			out[n++] = *t;
			continue;
		}
		for (; *ins && n + 1 < out_len; ins++)
			out[n++] = *ins;
		t++;
	}
	out[n] = '\0';
}

/* Headers exchange (-t headers): what a message of queue group `queue`
 * carries, and what queue `queue` binds with (--x-match all: both headers;
 * any: its lepus-queue, or a header no message has). entries[] gets 2 or 3;
 * the strings must outlive the table. */
static amqp_table_t headers_table(amqp_table_entry_t *entries, const char *queue,
				  const char *x_match)
{
	amqp_table_t t = {0, entries};

	if (x_match) {
		entries[t.num_entries].key = cstr("x-match");
		entries[t.num_entries].value.kind = AMQP_FIELD_KIND_UTF8;
		entries[t.num_entries++].value.value.bytes = cstr(x_match);
	}
	entries[t.num_entries].key = cstr("lepus-queue");
	entries[t.num_entries].value.kind = AMQP_FIELD_KIND_UTF8;
	entries[t.num_entries++].value.value.bytes = cstr(queue);
	entries[t.num_entries].key =
		cstr(x_match && strcmp(x_match, "any") == 0 ? "lepus-none" : "lepus-load");
	entries[t.num_entries].value.kind = AMQP_FIELD_KIND_UTF8;
	entries[t.num_entries++].value.value.bytes =
		cstr(x_match && strcmp(x_match, "any") == 0 ? "x" : "amqp-load");
	return t;
}

/* Broker-initiated closes and blocks seen by any thread's frame loop. */
static bool close_frame(const amqp_frame_t *f, char *err, size_t len)
{
	if (f->frame_type != AMQP_FRAME_METHOD)
		return false;
	if (f->payload.method.id == AMQP_CHANNEL_CLOSE_METHOD) {
		amqp_channel_close_t *m = f->payload.method.decoded;

		snprintf(err, len, "channel closed by the broker: %u %.*s", m->reply_code,
			 (int)m->reply_text.len, (char *)m->reply_text.bytes);
		return true;
	}
	if (f->payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
		amqp_connection_close_t *m = f->payload.method.decoded;

		snprintf(err, len, "connection closed by the broker: %u %.*s", m->reply_code,
			 (int)m->reply_text.len, (char *)m->reply_text.bytes);
		return true;
	}
	if (f->payload.method.id == AMQP_BASIC_CANCEL_METHOD) {
		snprintf(err, len, "consumer cancelled by the broker");
		return true;
	}
	return false;
}

/* Publisher confirms (RabbitMQ extension, confirm.select): a Basic.Ack or
 * Basic.Nack with multiple set confirms every tag up to delivery_tag. */
static void confirm_tags(struct producer *p, uint64_t tag, bool multiple, bool nack)
{
	uint64_t from = multiple ? p->confirm_low + 1 : tag, n_new = 0;

	if (tag == 0)
		return;
	for (uint64_t t = from; t <= tag; t++)
		if (lp_seq_mark(&p->confirms, t - 1) == 1)
			n_new++;
	while (lp_seq_test(&p->confirms, p->confirm_low))
		p->confirm_low++;
	atomic_store_explicit(&p->confirmed, atomic_load(&p->confirmed) + n_new,
			      memory_order_relaxed);
	if (nack)
		atomic_store_explicit(&p->nacked, atomic_load(&p->nacked) + n_new,
				      memory_order_relaxed);
}

/* Reads what the broker sent a producer, waiting up to tv (NULL: forever).
 * Returns 0 (a frame was handled or nothing came), -1 on error (p->error). */
static int producer_poll(struct producer *p, amqp_connection_state_t c, const struct timeval *tv)
{
	amqp_frame_t f;
	int rc = amqp_simple_wait_frame_noblock(c, &f, tv);

	if (rc == AMQP_STATUS_TIMEOUT)
		return 0;
	if (rc != AMQP_STATUS_OK) {
		snprintf(p->error, sizeof(p->error), "%s", amqp_error_string2(rc));
		return -1;
	}
	if (close_frame(&f, p->error, sizeof(p->error)))
		return -1;
	if (f.frame_type == AMQP_FRAME_METHOD) {
		switch (f.payload.method.id) {
		case AMQP_BASIC_ACK_METHOD: {
			amqp_basic_ack_t *m = f.payload.method.decoded;

			confirm_tags(p, m->delivery_tag, m->multiple, false);
			break;
		}
		case AMQP_BASIC_NACK_METHOD: {
			amqp_basic_nack_t *m = f.payload.method.decoded;

			confirm_tags(p, m->delivery_tag, m->multiple, true);
			break;
		}
		case AMQP_BASIC_RETURN_METHOD:
			atomic_fetch_add(&p->returned, 1);
			break;
		case AMQP_CONNECTION_BLOCKED_METHOD:
			atomic_fetch_add(&p->blocked, 1);
			break;
		default:
			break;
		}
	}
	/* Content of a returned message, and everything else: dropped. */
	if (!amqp_frames_enqueued(c))
		amqp_maybe_release_buffers(c);
	return 0;
}

static void *producer_main(void *arg)
{
	struct producer *p = arg;
	struct run *r = p->run;
	const struct lp_load_opts *o = r->o;
	struct timeval poll_now = {0, 0}, poll_wait = {0, 100000};
	amqp_basic_properties_t props = {0};
	amqp_table_entry_t hdrs[3];
	amqp_connection_state_t c;
	amqp_bytes_t body;
	char who[32], err[256];
	uint64_t seq = 0, deadline;

	snprintf(who, sizeof(who), "producer %u", p->id);
	c = broker_connect(r, err, sizeof(err));
	if (c == NULL) {
		run_fail(r, who, err);
		goto done;
	}
	if (o->confirm) {
		amqp_confirm_select(c, CHANNEL);
		if (!reply_ok(c, "confirm.select", err, sizeof(err))) {
			run_fail(r, who, err);
			goto out;
		}
	}
	body.len = o->size;
	body.bytes = calloc(1, o->size);
	if (body.bytes == NULL) {
		run_fail(r, who, "out of memory");
		goto out;
	}
	if (o->persistent) {
		props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
		props.delivery_mode = 2; /* AMQP 0-9-1 basic class: 2 = persistent */
	}
	if (r->headers) {
		props._flags |= AMQP_BASIC_HEADERS_FLAG;
		props.headers = headers_table(hdrs, r->qname[p->group], NULL);
	}
	atomic_fetch_add(&r->prod_ready, 1);
	while (!atomic_load(&r->go) && !atomic_load(&r->stop_publish))
		sleep_ns(1000000);

	for (;; seq++) {
		struct body_hdr h;
		int rc;

		uint64_t now;

		if (atomic_load_explicit(&r->stop_publish, memory_order_relaxed) ||
		    (o->pmessages && seq >= o->pmessages))
			break;
		now = now_ns();
		if (o->rate) {
			uint64_t target = r->t0_ns + (uint64_t)((double)seq * 1e9 / o->rate);

			if (target >= r->pub_end_ns)
				break;
			if (now < target) {
				sleep_ns(target - now);
				now = now_ns();
			}
		}
		if (now >= r->pub_end_ns)
			break;
		h = (struct body_hdr){r->run_id, p->id, seq, now};
		memcpy(body.bytes, &h, sizeof(h));
		rc = amqp_basic_publish(c, CHANNEL, cstr(r->exchange), cstr(p->rkey), 0, 0, &props,
					body);
		if (rc != AMQP_STATUS_OK) {
			run_fail(r, who, amqp_error_string2(rc));
			break;
		}
		atomic_store_explicit(&p->published, seq + 1, memory_order_relaxed);
		p->end_ns = now_ns();
		if (o->confirm) {
			while (seq + 1 - atomic_load(&p->confirmed) >= o->confirm &&
			       !atomic_load(&r->stop_publish)) {
				if (producer_poll(p, c, &poll_wait) < 0) {
					run_fail(r, who, p->error);
					break;
				}
			}
		} else if ((seq & 255) == 255 || amqp_data_in_buffer(c)) {
			if (producer_poll(p, c, &poll_now) < 0) {
				run_fail(r, who, p->error);
				break;
			}
		}
	}
	free(body.bytes);
	/* The confirms still outstanding, within the drain bound. */
	deadline = now_ns() + (uint64_t)o->drain_s * 1000000000u;
	while (o->confirm && !atomic_load(&r->failed) &&
	       atomic_load(&p->confirmed) < atomic_load(&p->published) && now_ns() < deadline &&
	       !interrupted)
		if (producer_poll(p, c, &poll_wait) < 0) {
			run_fail(r, who, p->error);
			break;
		}
out:
	atomic_fetch_add(&r->prod_done, 1);
	broker_close(c);
	return NULL;
done:
	atomic_fetch_add(&r->prod_ready, 1);
	atomic_fetch_add(&r->prod_done, 1);
	return NULL;
}

static void consumer_record(struct consumer *k, const uint8_t *hdr, uint64_t now)
{
	struct run *r = k->run;
	struct body_hdr h;
	uint64_t lat;

	memcpy(&h, hdr, sizeof(h));
	if (h.run_id != r->run_id || h.producer >= r->n_prod) {
		k->foreign++;
		return;
	}
	lat = now > h.ts_ns ? now - h.ts_ns : 0;
	lp_hist_add(&k->hist, lat);
	lp_hist_coarse_add(&k->coarse, lat / 1000);
	lp_seq_mark(&r->track[k->queue * r->n_prod + h.producer], h.seq);
	lp_seq_order_check(&k->order[h.producer], h.seq);
	k->last_ns = now;
	atomic_store_explicit(&k->delivered, atomic_load_explicit(&k->delivered, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/* A whole message arrived: account it, then ack it (one by one, or every
 * --multi-ack-every deliveries with multiple=true). Returns 0 or -1 (the run
 * has failed). */
static int consumer_done_msg(struct consumer *k, amqp_connection_state_t c, const uint8_t *hdr,
			     uint64_t body_len, uint64_t tag, uint64_t *unacked)
{
	const struct lp_load_opts *o = k->run->o;
	int rc;

	if (body_len >= HDR_LEN)
		consumer_record(k, hdr, now_ns());
	else
		k->foreign++;
	if (o->autoack)
		return 0;
	if (++*unacked < o->multi_ack)
		return 0;
	rc = amqp_basic_ack(c, CHANNEL, tag, o->multi_ack > 1);
	*unacked = 0;
	if (rc != AMQP_STATUS_OK) {
		char who[32];

		snprintf(who, sizeof(who), "consumer %u", k->id);
		run_fail(k->run, who, amqp_error_string2(rc));
		return -1;
	}
	return 0;
}

static void *consumer_main(void *arg)
{
	struct consumer *k = arg;
	struct run *r = k->run;
	const struct lp_load_opts *o = r->o;
	struct timeval tv = {0, 100000};
	amqp_connection_state_t c;
	uint8_t hdr[HDR_LEN];
	uint64_t body_len = 0, body_got = 0, tag = 0, unacked = 0;
	bool in_content = false;
	char who[32], err[256];

	snprintf(who, sizeof(who), "consumer %u", k->id);
	c = broker_connect(r, err, sizeof(err));
	if (c == NULL) {
		run_fail(r, who, err);
		atomic_fetch_add(&r->cons_ready, 1);
		atomic_fetch_add(&r->cons_done, 1);
		return NULL;
	}
	if (o->qos) {
		amqp_basic_qos(c, CHANNEL, 0, (uint16_t)o->qos, 0);
		if (!reply_ok(c, "basic.qos", err, sizeof(err))) {
			run_fail(r, who, err);
			goto out;
		}
	}
	if (o->backlog) { /* ready now; subscribed once the producers are done */
		atomic_fetch_add(&r->cons_ready, 1);
		while (atomic_load(&r->prod_done) < r->n_prod && !atomic_load(&r->stop_consume))
			usleep(10000);
		/* What the broker holds then: the first consumer of each queue asks
		 * (passive Queue.Declare's message count). */
		amqp_queue_declare_ok_t *ok = k->id % o->consumers != 0 ? NULL :
			amqp_queue_declare(c, CHANNEL, cstr(r->qname[k->queue]), 1, 0, 0, 0,
					   amqp_empty_table);

		if (ok != NULL && reply_ok(c, "queue.declare passive", err, sizeof(err)))
			atomic_fetch_add(&r->held, ok->message_count);
	}
	amqp_basic_consume(c, CHANNEL, cstr(r->qname[k->queue]), amqp_empty_bytes, 0, o->autoack, 0,
			   amqp_empty_table);
	if (!reply_ok(c, "basic.consume", err, sizeof(err))) {
		run_fail(r, who, err);
		goto out;
	}
	if (!o->backlog)
		atomic_fetch_add(&r->cons_ready, 1);

	while (!atomic_load_explicit(&r->stop_consume, memory_order_relaxed)) {
		amqp_frame_t f;
		int rc = amqp_simple_wait_frame_noblock(c, &f, &tv);

		if (rc == AMQP_STATUS_TIMEOUT)
			continue;
		if (rc != AMQP_STATUS_OK) {
			if (!atomic_load(&r->stop_consume))
				run_fail(r, who, amqp_error_string2(rc));
			break;
		}
		if (close_frame(&f, err, sizeof(err))) {
			run_fail(r, who, err);
			break;
		}
		switch (f.frame_type) {
		case AMQP_FRAME_METHOD:
			if (f.payload.method.id == AMQP_BASIC_DELIVER_METHOD) {
				amqp_basic_deliver_t *d = f.payload.method.decoded;

				tag = d->delivery_tag;
				in_content = true;
				body_len = body_got = 0;
			}
			break;
		case AMQP_FRAME_HEADER:
			if (!in_content)
				break;
			body_len = f.payload.properties.body_size;
			if (body_len == 0 && consumer_done_msg(k, c, hdr, 0, tag, &unacked) < 0)
				goto out;
			in_content = body_len > 0;
			break;
		case AMQP_FRAME_BODY: {
			size_t n = f.payload.body_fragment.len;

			if (!in_content)
				break;
			if (body_got < HDR_LEN)
				memcpy(hdr + body_got, f.payload.body_fragment.bytes,
				       n < HDR_LEN - body_got ? n : HDR_LEN - body_got);
			body_got += n;
			if (body_got < body_len)
				break;
			in_content = false;
			if (consumer_done_msg(k, c, hdr, body_len, tag, &unacked) < 0)
				goto out;
			break;
		}
		default:
			break;
		}
		if (!amqp_frames_enqueued(c))
			amqp_maybe_release_buffers(c);
	}
	if (unacked && !atomic_load(&r->failed))
		amqp_basic_ack(c, CHANNEL, tag, 1);
out:
	atomic_fetch_add(&r->cons_done, 1);
	broker_close(c);
	return NULL;
}

/* Queues, exchange and bindings of the run, on the main connection. */
static int topology_declare(struct run *r, amqp_connection_state_t c, char *err, size_t len)
{
	const struct lp_load_opts *o = r->o;

	if (r->exchange[0] && strncmp(r->exchange, "amq.", 4) != 0) {
		amqp_exchange_declare(c, CHANNEL, cstr(r->exchange),
				      cstr(r->fanout ? "fanout" : o->type), 0, o->persistent, 0, 0,
				      amqp_empty_table);
		if (!reply_ok(c, "exchange.declare", err, len))
			return -1;
		r->declared_exchange = true;
	}
	for (unsigned q = 0; q < r->n_queues; q++) {
		amqp_queue_declare(c, CHANNEL, cstr(r->qname[q]), 0, o->persistent, 0, 0,
				   amqp_empty_table);
		if (!reply_ok(c, "queue.declare", err, len))
			return -1;
		amqp_queue_purge(c, CHANNEL, cstr(r->qname[q]));
		if (!reply_ok(c, "queue.purge", err, len))
			return -1;
		if (r->exchange[0]) {
			char key[LP_LOAD_NAME_MAX];
			amqp_table_entry_t args[3];

			if (o->binding_key[0])
				key_expand(key, sizeof(key), o->binding_key, r->qname[q], -1);
			else if (r->fanout || o->routing_key[0])
				key_expand(key, sizeof(key), o->routing_key, r->qname[q], -1);
			else
				snprintf(key, sizeof(key), "%s", r->qname[q]);
			amqp_queue_bind(c, CHANNEL, cstr(r->qname[q]), cstr(r->exchange), cstr(key),
					r->headers ? headers_table(args, r->qname[q], o->x_match)
						   : amqp_empty_table);
			if (!reply_ok(c, "queue.bind", err, len))
				return -1;
		}
	}
	return 0;
}

/* Sum of the queues' ready messages (passive Queue.Declare). */
static void queues_left(struct run *r, amqp_connection_state_t c)
{
	char err[256];
	uint64_t n = 0;

	for (unsigned q = 0; q < r->n_queues; q++) {
		amqp_queue_declare_ok_t *ok = amqp_queue_declare(c, CHANNEL, cstr(r->qname[q]), 1, 0,
								 0, 0, amqp_empty_table);

		if (ok == NULL || !reply_ok(c, "queue.declare passive", err, sizeof(err)))
			return;
		n += ok->message_count;
	}
	r->left_in_queues = n;
	r->left_known = true;
}

static void topology_delete(struct run *r, amqp_connection_state_t c)
{
	char err[256];

	for (unsigned q = 0; q < r->n_queues; q++) {
		amqp_queue_delete(c, CHANNEL, cstr(r->qname[q]), 0, 0);
		if (!reply_ok(c, "queue.delete", err, sizeof(err)))
			return;
	}
	if (r->declared_exchange) {
		amqp_exchange_delete(c, CHANNEL, cstr(r->exchange), 0);
		reply_ok(c, "exchange.delete", err, sizeof(err));
	}
}

static bool routed(const struct run *r, unsigned q, unsigned p)
{
	return r->fanout || r->prod[p].group == q;
}

static void totals_read(struct run *r, struct lp_load_totals *t)
{
	memset(t, 0, sizeof(*t));
	for (unsigned i = 0; i < r->n_prod; i++) {
		uint64_t pub = atomic_load_explicit(&r->prod[i].published, memory_order_relaxed);
		unsigned fan = 0;

		t->published += pub;
		t->confirmed += atomic_load_explicit(&r->prod[i].confirmed, memory_order_relaxed);
		t->nacked += atomic_load_explicit(&r->prod[i].nacked, memory_order_relaxed);
		t->returned += atomic_load_explicit(&r->prod[i].returned, memory_order_relaxed);
		t->blocked += atomic_load_explicit(&r->prod[i].blocked, memory_order_relaxed);
		for (unsigned q = 0; q < r->n_queues; q++)
			fan += routed(r, q, i) && r->o->consumers > 0;
		t->expected += pub * fan;
	}
	for (unsigned i = 0; i < r->n_cons; i++)
		t->delivered += atomic_load_explicit(&r->cons[i].delivered, memory_order_relaxed);
}

/* The per-second line (load_report.h) from every consumer's coarse histogram. */
static void progress_tick(struct run *r, struct lp_load_progress *pg, const char *phase)
{
	uint64_t now = now_ns(), coarse[LP_HIST_COARSE_N] = {0};
	struct lp_load_totals t;

	totals_read(r, &t);
	for (unsigned i = 0; i < r->n_cons; i++)
		lp_hist_coarse_read(&r->cons[i].coarse, coarse);
	lp_load_progress_tick(pg, now, &t, coarse, phase);
}

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* The end-of-run report (load_report.h); hist gets every consumer's samples
 * and must outlive rep. Returns 0 or -ENOMEM. */
static int summarize(struct run *r, struct lp_load_report *rep, struct lp_hist *hist)
{
	const struct lp_load_opts *o = r->o;

	*rep = (struct lp_load_report){
		.o = o,
		.host = r->ci.host,
		.exchange = r->exchange,
		.type = r->fanout ? "fanout" : o->type,
		.binding_key = o->binding_key,
		.x_match = r->headers ? o->x_match : NULL,
		.error = r->error,
		.n_prod = r->n_prod,
		.n_cons = r->n_cons,
		.n_queues = r->n_queues,
		.fanout = r->fanout,
		.hist = hist,
		.interrupted = interrupted != 0,
		.left_known = r->left_known,
		.left_in_queues = r->left_in_queues,
		.backlog = o->backlog,
		.held = atomic_load(&r->held),
		.missing_max = MISSING_SHOWN,
		.t0 = r->t0_ns,
	};
	if (lp_hist_init(hist, LP_HIST_DEFAULT_US) < 0)
		return -ENOMEM;
	totals_read(r, &rep->t);
	for (unsigned i = 0; i < r->n_cons; i++) {
		const struct consumer *k = &r->cons[i];

		lp_hist_merge(hist, &k->hist);
		lp_load_report_consumer(rep, k->foreign, k->last_ns, k->order, r->n_prod);
	}
	for (unsigned p = 0; p < r->n_prod; p++)
		lp_load_report_producer(rep, r->prod[p].end_ns);
	for (unsigned q = 0; q < r->n_queues && o->consumers > 0; q++)
		for (unsigned p = 0; p < r->n_prod; p++)
			lp_load_report_track(rep, &r->track[q * r->n_prod + p], p,
					     atomic_load(&r->prod[p].published), routed(r, q, p));
	lp_load_report_rates(rep, 1e9, o->size);
	return 0;
}

static void run_free(struct run *r)
{
	if (r->cons)
		for (unsigned i = 0; i < r->n_cons; i++) {
			lp_hist_free(&r->cons[i].hist);
			free(r->cons[i].order);
		}
	if (r->prod)
		for (unsigned i = 0; i < r->n_prod; i++)
			lp_seq_free(&r->prod[i].confirms);
	if (r->track)
		for (unsigned i = 0; i < r->n_queues * r->n_prod; i++)
			lp_seq_free(&r->track[i]);
	free(r->cons);
	free(r->prod);
	free(r->track);
	free(r->qname);
	pthread_mutex_destroy(&r->error_lock);
}

static int run_layout(struct run *r, const struct lp_load_opts *o)
{
	unsigned groups;

	r->o = o;
	pthread_mutex_init(&r->error_lock, NULL);
	snprintf(r->url, sizeof(r->url), "%s", o->uri);
	amqp_default_connection_info(&r->ci);
	if (amqp_parse_url(r->url, &r->ci) != AMQP_STATUS_OK) {
		snprintf(r->error, sizeof(r->error), "cannot parse --uri %.400s", o->uri);
		return -EINVAL;
	}
	r->fanout = o->fanout_queues > 0;
	r->headers = !r->fanout && o->exchange[0] && strcmp(o->type, "headers") == 0;
	r->n_queues = o->fanout_queues ? o->fanout_queues : o->queues ? o->queues : 1;
	groups = r->fanout ? 1 : r->n_queues;
	r->n_prod = o->producers * groups;
	r->n_cons = o->consumers * r->n_queues;
	snprintf(r->exchange, sizeof(r->exchange), "%s",
		 o->exchange[0] || !r->fanout ? o->exchange : "lepus-bench.fanout");
	r->qname = calloc(r->n_queues, sizeof(*r->qname));
	r->prod = calloc(r->n_prod ? r->n_prod : 1, sizeof(*r->prod));
	r->cons = calloc(r->n_cons ? r->n_cons : 1, sizeof(*r->cons));
	r->track = calloc((size_t)r->n_queues * (r->n_prod ? r->n_prod : 1), sizeof(*r->track));
	if (!r->qname || !r->prod || !r->cons || !r->track)
		return -ENOMEM;
	for (unsigned q = 0; q < r->n_queues; q++) {
		if (r->n_queues == 1 && !o->queues && !o->fanout_queues)
			snprintf(r->qname[q], sizeof(r->qname[q]), "%s", o->queue);
		else
			snprintf(r->qname[q], sizeof(r->qname[q]), "q-%u", q + 1);
	}
	for (unsigned i = 0; i < r->n_prod; i++) {
		struct producer *p = &r->prod[i];

		p->run = r;
		p->id = i;
		p->group = r->fanout ? 0 : i / o->producers;
		if (o->routing_key[0])
			key_expand(p->rkey, sizeof(p->rkey), o->routing_key, r->qname[p->group],
				   (int)i);
		else
			snprintf(p->rkey, sizeof(p->rkey), "%s", r->fanout ? "" : r->qname[p->group]);
	}
	for (unsigned i = 0; i < r->n_cons; i++) {
		struct consumer *k = &r->cons[i];

		k->run = r;
		k->id = i;
		k->queue = i / o->consumers;
		k->order = calloc(r->n_prod ? r->n_prod : 1, sizeof(*k->order));
		if (k->order == NULL || lp_hist_init(&k->hist, LP_HIST_DEFAULT_US) < 0)
			return -ENOMEM;
	}
	r->run_id = (uint32_t)(now_ns() ^ ((uint64_t)getpid() << 16));
	return 0;
}

static bool wait_count(_Atomic unsigned *c, unsigned n, struct run *r, uint64_t seconds)
{
	uint64_t end = now_ns() + seconds * 1000000000u;

	while (atomic_load(c) < n) {
		if (now_ns() > end || atomic_load(&r->failed) || interrupted)
			return false;
		sleep_ns(1000000);
	}
	return true;
}

/* One scenario. Returns 0 when it ran to the end (the summary says what
 * happened), 1 when the broker could not be used. */
static int run_scenario(const struct lp_load_opts *o)
{
	struct run r = {0};
	struct lp_load_report rep;
	struct lp_hist hist;
	struct lp_load_progress pg;
	amqp_connection_state_t setup = NULL;
	uint64_t pub_deadline, drain_deadline, last_progress_ns, last_delivered = 0;
	bool drain_timeout = false;
	char err[512];
	int rc = 1;

	if (run_layout(&r, o) < 0) {
		fprintf(stderr, "amqp-load: %s\n", r.error[0] ? r.error : "out of memory");
		run_free(&r);
		return 1;
	}

	watchdog_arm("setup (connect, declare)", SETUP_TIMEOUT_S);
	setup = broker_connect(&r, err, sizeof(err));
	if (setup == NULL || topology_declare(&r, setup, err, sizeof(err)) < 0) {
		fprintf(stderr, "amqp-load: %s: %s\n", o->name, err);
		goto out;
	}
	for (unsigned i = 0; i < r.n_cons; i++)
		if (pthread_create(&r.cons[i].tid, NULL, consumer_main, &r.cons[i]) != 0) {
			run_fail(&r, "main", "cannot start a consumer thread");
			goto out;
		}
	for (unsigned i = 0; i < r.n_prod; i++)
		if (pthread_create(&r.prod[i].tid, NULL, producer_main, &r.prod[i]) != 0) {
			run_fail(&r, "main", "cannot start a producer thread");
			goto out;
		}
	if (!wait_count(&r.cons_ready, r.n_cons, &r, SETUP_TIMEOUT_S) ||
	    !wait_count(&r.prod_ready, r.n_prod, &r, SETUP_TIMEOUT_S)) {
		run_fail(&r, "main", "producers or consumers did not get ready");
		goto out;
	}

	watchdog_arm("the run", (uint64_t)o->time_s + 2 * o->drain_s + 60);
	r.t0_ns = now_ns();
	lp_load_progress_init(&pg, o->json ? stderr : stdout, o->quiet, 1e9, r.t0_ns);
	pub_deadline = r.t0_ns + (uint64_t)(o->time_s ? o->time_s : 600) * 1000000000u;
	r.pub_end_ns = pub_deadline;
	atomic_store(&r.go, true);
	for (uint64_t tick = 1; atomic_load(&r.prod_done) < r.n_prod && !interrupted; ) {
		uint64_t now = now_ns(), next = r.t0_ns + tick * 1000000000u;

		if (now >= next) {
			progress_tick(&r, &pg, "run");
			tick++;
		}
		if (now >= pub_deadline)
			atomic_store(&r.stop_publish, true);
		sleep_ns(10000000);
	}
	atomic_store(&r.stop_publish, true);
	wait_count(&r.prod_done, r.n_prod, &r, o->drain_s + 5);

	/* Drain: deliveries still in flight, until all arrived, none for
	 * STALL_S, or --drain seconds. */
	drain_deadline = now_ns() + (uint64_t)o->drain_s * 1000000000u;
	last_progress_ns = now_ns();
	for (uint64_t tick = (now_ns() - r.t0_ns) / 1000000000u + 1; !interrupted; ) {
		struct lp_load_totals t;
		uint64_t now = now_ns();

		totals_read(&r, &t);
		if (t.delivered >= t.expected || atomic_load(&r.failed) || o->consumers == 0)
			break;
		if (t.delivered != last_delivered) {
			last_delivered = t.delivered;
			last_progress_ns = now;
		}
		if (now >= drain_deadline || now - last_progress_ns > STALL_S * 1000000000ull) {
			drain_timeout = true;
			break;
		}
		if (now >= r.t0_ns + tick * 1000000000u) {
			progress_tick(&r, &pg, "drain");
			tick++;
		}
		sleep_ns(5000000);
	}
	lp_load_progress_end(&pg);
	rc = 0;
out:
	atomic_store(&r.stop_publish, true);
	atomic_store(&r.stop_consume, true);
	watchdog_arm("stopping the producers and consumers", 30);
	for (unsigned i = 0; i < r.n_prod; i++)
		if (r.prod[i].tid)
			pthread_join(r.prod[i].tid, NULL);
	for (unsigned i = 0; i < r.n_cons; i++)
		if (r.cons[i].tid)
			pthread_join(r.cons[i].tid, NULL);
	if (setup) {
		if (rc == 0)
			queues_left(&r, setup);
		topology_delete(&r, setup);
		broker_close(setup);
	}
	atomic_store(&watchdog_deadline_ns, 0);
	if (rc == 0) {
		if (summarize(&r, &rep, &hist) == 0) {
			rep.drain_timeout = drain_timeout;
			if (!o->json)
				lp_load_report_print(&rep, stdout);
			else if (lp_load_report_json(&rep, stdout) < 0)
				fprintf(stderr, "amqp-load: cannot build the JSON summary\n");
			lp_hist_free(&hist);
		}
		if (r.error[0]) {
			fprintf(stderr, "amqp-load: %s: %s\n", o->name, r.error);
			rc = 1;
		}
	} else if (r.error[0]) {
		fprintf(stderr, "amqp-load: %s: %s\n", o->name, r.error);
	}
	run_free(&r);
	return rc;
}

int main(int argc, char **argv)
{
	static struct lp_load_opts sc[LP_LOAD_MAX_SCENARIOS];
	const char *scenario, *only;
	char err[512];
	bool help;
	pthread_t wd;
	int n = 1, status = 0;

	if (lp_load_opts_scan(argc, argv, &scenario, &only, &help, err, sizeof(err)) < 0) {
		fprintf(stderr, "amqp-load: %s (see --help)\n", err);
		return 2;
	}
	if (help) {
		lp_load_usage(stdout, "amqp-load");
		return 0;
	}
	if (scenario) {
		n = lp_load_scenarios_read(scenario, only, sc, LP_LOAD_MAX_SCENARIOS, err, sizeof(err));
		if (n < 0) {
			fprintf(stderr, "amqp-load: %s\n", err);
			return 2;
		}
	} else {
		lp_load_opts_default(&sc[0]);
	}
	for (int i = 0; i < n; i++)
		if (lp_load_opts_argv(&sc[i], argc, argv, err, sizeof(err)) < 0 ||
		    lp_load_opts_check(&sc[i], err, sizeof(err)) < 0) {
			fprintf(stderr, "amqp-load: %s: %s\n", sc[i].name, err);
			return 2;
		}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_sigint);
	signal(SIGTERM, on_sigint);
	if (pthread_create(&wd, NULL, watchdog_main, NULL) != 0) {
		fprintf(stderr, "amqp-load: cannot start the watchdog\n");
		return 1;
	}
	for (int i = 0; i < n && !interrupted; i++)
		status |= run_scenario(&sc[i]);
	return status;
}
