/* SPDX-License-Identifier: MIT */
/*
 * lepus-bench: an AMQP 0-9-1 load generator that is itself a DPDK program, so
 * that the client side never waits on a kernel. It owns one port (net_memif
 * as the client of the dataplane's memif server, or af_packet on a veth, or
 * any port spec of drivers/port.h), runs the dataplane's own packet stack and
 * TCP-lite on one lcore (struct lp_net, lp_tcp_connect: active opens, ARP
 * for the broker's address), and every producer and consumer is one TCP
 * connection with one AMQP client (amqp_client.h) on that lcore.
 *
 * Options are amqp-load's (bench/load_opts.h: RabbitMQ PerfTest's names, the
 * same scenario files), plus the port and address options below. Bodies start
 * with a 24-byte stamp (run id, producer id, sequence, TSC at publish), so the
 * consumers measure latency exactly (lat_hist.h, 1 us buckets) and account
 * every message (seq_track.h: lost, duplicated, out of order).
 *
 * One poll iteration: rx burst -> eth/arp/ip4/tcp -> AMQP clients (deliveries,
 * confirms) -> producers publish within rate, confirm window and TCP send
 * space -> acks -> each connection's output into its TCP stream (one copy,
 * whole segments) -> lp_tcp_worker_poll (segmentation, timers) -> tx burst.
 * A run: connect and declare (one set-up connection), connect consumers and
 * producers, publish for --time s (or --pmessages), drain, close, report.
 * Every phase is bounded in time.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "amqp_client.h"
#include "lat_hist.h"
#include "load_opts.h"
#include "load_report.h"
#include "port.h"
#include "seq_track.h"
#include "net.h"
#include "arp.h"
#include "eth.h"
#include "tcp.h"

#define STAMP_LEN 24
#define SETUP_TIMEOUT_S 30
#define CLOSE_TIMEOUT_S 5
#define STALL_S 5          /* drain gives up after this long without progress */
#define PUBLISH_BURST 128  /* messages per producer per poll iteration */
#define MBUF_CACHE 256

struct stamp {
	uint32_t run_id;
	uint32_t producer;
	uint64_t seq;
	uint64_t tsc;
};
_Static_assert(sizeof(struct stamp) == STAMP_LEN, "the stamp is 24 bytes");

/* Options of lepus-bench beyond amqp-load's. */
struct bench_opts {
	char port[LP_PORT_SPEC_MAX];
	uint32_t ip, netmask, gateway; /* network order */
	uint32_t mbufs;
	uint32_t link_wait_s;
};

enum role { ROLE_SETUP, ROLE_PRODUCER, ROLE_CONSUMER };

struct conn {
	struct run *r;
	enum role role;
	unsigned id;           /* producer or consumer index */
	struct lp_tcb *tcb;    /* NULL once TCP is over */
	struct lp_amqp_client *amqp;
	bool tcp_up, tcp_closing, amqp_closed;
	unsigned step;         /* set-up (or tear-down) method in progress */
	bool tearing_down;
	bool settled;          /* its set-up (or tear-down) steps are done */

	/* producer */
	unsigned group;
	char rkey[LP_LOAD_NAME_MAX];
	uint64_t published, confirmed, nacked, returned, blocked;
	uint64_t confirm_low;  /* every tag below it is confirmed */
	struct lp_seq confirms; /* by tag - 1 */
	uint64_t end_tsc;      /* its last publish */
	bool pub_done;

	/* consumer */
	unsigned queue;
	uint64_t delivered, foreign;
	uint64_t last_tag, acked_tag, unacked;
	uint64_t last_tsc;     /* its last delivery */
	struct lp_seq_order *order; /* [n_prod] */
};

enum phase { PH_SETUP, PH_CONNECT, PH_RUN, PH_DRAIN, PH_CLOSE };

struct run {
	const struct lp_load_opts *o;
	struct bench *b;
	uint32_t broker_ip;   /* network order */
	uint16_t broker_port;
	char user[128], password[128], vhost[128];
	struct lp_amqp_client_cfg ccfg;
	uint32_t run_id;
	bool fanout;
	char exchange[LP_LOAD_NAME_MAX];
	const char *ex_type;
	bool declare_exchange;
	unsigned n_queues, n_prod, n_cons;
	char (*qname)[LP_LOAD_NAME_MAX];
	struct conn setup;
	struct conn *prod, *cons;
	struct lp_seq *track; /* [queue * n_prod + producer] */
	struct lp_hist hist;
	struct lp_hist_coarse coarse;
	enum phase phase;
	uint64_t hz, t0_tsc, pub_end_tsc;
	bool failed;
	char error[512];
};

struct bench {
	struct bench_opts bo;
	struct lp_netif netif;
	struct lp_port_info port_info;
	struct rte_mempool *pool;
	struct lp_port *port;
	struct lp_net net;
	struct run *r;        /* the scenario running */
	uint64_t busy_tsc, loop_tsc; /* lcore busy accounting of the run phase */
	uint64_t last_tick_tsc;
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void run_fail(struct run *r, const char *who, const char *msg)
{
	if (!r->failed)
		snprintf(r->error, sizeof(r->error), "%s: %s", who, msg);
	r->failed = true;
}

static const char *conn_name(const struct conn *c, char *buf, size_t len)
{
	static const char *const kind[] = {"set-up connection", "producer", "consumer"};

	if (c->role == ROLE_SETUP)
		snprintf(buf, len, "%s", kind[c->role]);
	else
		snprintf(buf, len, "%s %u", kind[c->role], c->id);
	return buf;
}

static void conn_fail(struct conn *c, const char *msg)
{
	char who[32];

	run_fail(c->r, conn_name(c, who, sizeof(who)), msg);
}

static uint64_t tsc_ns(const struct run *r, uint64_t tsc)
{
	return (uint64_t)((double)tsc * 1e9 / (double)r->hz);
}

/* --- set-up and tear-down steps -------------------------------------------- */

/* The step-th synchronous method of c's set-up (or tear-down); false when done. */
static bool conn_step(struct conn *c, unsigned step, struct lp_amqp_method *m)
{
	struct run *r = c->r;
	const struct lp_load_opts *o = r->o;
	unsigned per_q = r->exchange[0] ? 3 : 2, s = step;

	memset(m, 0, sizeof(*m));
	switch (c->role) {
	case ROLE_PRODUCER:
		if (step == 0 && o->confirm) {
			m->id = LP_AMQP_CONFIRM_SELECT;
			return true;
		}
		return false;
	case ROLE_CONSUMER:
		if (step == 0 && o->qos) {
			m->id = LP_AMQP_BASIC_QOS;
			m->basic_qos.prefetch_count = (uint16_t)o->qos;
			return true;
		}
		if (step == (o->qos ? 1u : 0u)) {
			m->id = LP_AMQP_BASIC_CONSUME;
			m->basic_consume.queue = lp_amqp_cstr(r->qname[c->queue]);
			m->basic_consume.no_ack = o->autoack;
			return true;
		}
		return false;
	case ROLE_SETUP:
		break;
	}
	if (c->tearing_down) {
		if (s < r->n_queues) {
			m->id = LP_AMQP_QUEUE_DELETE;
			m->queue_delete.queue = lp_amqp_cstr(r->qname[s]);
			return true;
		}
		if (s == r->n_queues && r->declare_exchange) {
			m->id = LP_AMQP_EXCHANGE_DELETE;
			m->exchange_delete.exchange = lp_amqp_cstr(r->exchange);
			return true;
		}
		return false;
	}
	if (r->declare_exchange) {
		if (s == 0) {
			m->id = LP_AMQP_EXCHANGE_DECLARE;
			m->exchange_declare.exchange = lp_amqp_cstr(r->exchange);
			m->exchange_declare.type = lp_amqp_cstr(r->ex_type);
			m->exchange_declare.durable = o->persistent;
			return true;
		}
		s--;
	}
	if (s >= r->n_queues * per_q)
		return false;
	unsigned q = s / per_q;

	switch (s % per_q) {
	case 0:
		m->id = LP_AMQP_QUEUE_DECLARE;
		m->queue_declare.queue = lp_amqp_cstr(r->qname[q]);
		m->queue_declare.durable = o->persistent;
		return true;
	case 1:
		m->id = LP_AMQP_QUEUE_PURGE;
		m->queue_purge.queue = lp_amqp_cstr(r->qname[q]);
		return true;
	default:
		m->id = LP_AMQP_QUEUE_BIND;
		m->queue_bind.queue = lp_amqp_cstr(r->qname[q]);
		m->queue_bind.exchange = lp_amqp_cstr(r->exchange);
		m->queue_bind.routing_key = lp_amqp_cstr(
			r->fanout ? o->routing_key : o->routing_key[0] ? o->routing_key : r->qname[q]);
		return true;
	}
}

/* Issue c's next step, or mark it settled. */
static void conn_next_step(struct conn *c)
{
	struct lp_amqp_method m;
	int rc;

	if (!conn_step(c, c->step, &m)) {
		c->settled = true;
		return;
	}
	rc = lp_amqp_client_call(c->amqp, &m);
	if (rc < 0) {
		char msg[128];

		snprintf(msg, sizeof(msg), "cannot send %s: %s", lp_amqp_method_name(m.id),
			 strerror(-rc));
		conn_fail(c, msg);
	}
}

/* --- AMQP client callbacks --------------------------------------------------- */

static void on_ready(void *ctx, struct lp_amqp_client *a)
{
	struct conn *c = ctx;
	const struct lp_load_opts *o = c->r->o;

	if (c->role == ROLE_PRODUCER) {
		struct lp_amqp_basic_properties props = {0};
		int rc;

		if (o->persistent) {
			props.flags = LP_AMQP_BASIC_DELIVERY_MODE_FLAG;
			props.delivery_mode = 2; /* AMQP 0-9-1 basic class: 2 = persistent */
		}
		rc = lp_amqp_client_publish_prepare(a, c->r->exchange, c->rkey, false, &props,
						    o->size);
		if (rc < 0) {
			conn_fail(c, "cannot encode the message template");
			return;
		}
	}
	c->step = 0;
	conn_next_step(c);
}

static void on_reply(void *ctx, struct lp_amqp_client *a, const struct lp_amqp_method *m)
{
	struct conn *c = ctx;

	(void)a;
	(void)m;
	c->step++;
	conn_next_step(c);
}

static void on_deliver(void *ctx, struct lp_amqp_client *a, uint64_t tag, bool redelivered,
		       const uint8_t *head, size_t head_len, uint64_t body_size)
{
	struct conn *c = ctx;
	struct run *r = c->r;
	uint64_t now = rte_rdtsc();
	struct stamp s;

	(void)a;
	(void)redelivered;
	c->last_tag = tag;
	c->unacked++;
	c->last_tsc = now;
	if (head_len < STAMP_LEN || body_size < STAMP_LEN) {
		c->foreign++;
		return;
	}
	memcpy(&s, head, sizeof(s));
	if (s.run_id != r->run_id || s.producer >= r->n_prod) {
		c->foreign++;
		return;
	}
	uint64_t ns = now > s.tsc ? tsc_ns(r, now - s.tsc) : 0;

	lp_hist_add(&r->hist, ns);
	lp_hist_coarse_add(&r->coarse, ns / 1000);
	lp_seq_mark(&r->track[c->queue * r->n_prod + s.producer], s.seq);
	lp_seq_order_check(&c->order[s.producer], s.seq);
	c->delivered++;
}

/* Publisher confirms: a multiple ack or nack confirms every tag up to tag. */
static void on_confirm(void *ctx, struct lp_amqp_client *a, uint64_t tag, bool multiple,
		       bool nack)
{
	struct conn *c = ctx;
	uint64_t from = multiple ? c->confirm_low + 1 : tag, n_new = 0;

	(void)a;
	for (uint64_t t = from; t <= tag; t++)
		if (lp_seq_mark(&c->confirms, t - 1) == 1)
			n_new++;
	while (lp_seq_test(&c->confirms, c->confirm_low))
		c->confirm_low++;
	c->confirmed += n_new;
	if (nack)
		c->nacked += n_new;
}

static void on_returned(void *ctx, struct lp_amqp_client *a, uint16_t code)
{
	(void)a;
	(void)code;
	((struct conn *)ctx)->returned++;
}

static void on_blocked(void *ctx, struct lp_amqp_client *a, bool blocked)
{
	(void)a;
	if (blocked)
		((struct conn *)ctx)->blocked++;
}

static void on_amqp_closed(void *ctx, struct lp_amqp_client *a, uint16_t code, const char *text)
{
	struct conn *c = ctx;
	char msg[400];

	(void)a;
	c->amqp_closed = true;
	if (code == 200 && c->r->phase == PH_CLOSE)
		return;
	snprintf(msg, sizeof(msg), "AMQP connection ended: %u %s", code, text);
	conn_fail(c, msg);
}

static const struct lp_amqp_client_ops client_ops = {
	.ready = on_ready,
	.reply = on_reply,
	.deliver = on_deliver,
	.confirm = on_confirm,
	.returned = on_returned,
	.blocked = on_blocked,
	.closed = on_amqp_closed,
};

/* --- TCP callbacks ------------------------------------------------------------ */

static void tcp_connected(void *conn, struct lp_tcb *t)
{
	(void)t;
	((struct conn *)conn)->tcp_up = true;
}

/* In-order bytes for the client. Consumes m (NULL: the broker's FIN). */
static void tcp_recv(void *conn, struct lp_tcb *t, struct rte_mbuf *m)
{
	struct conn *c = conn;
	uint32_t len;

	if (m == NULL) {
		if (!c->amqp_closed)
			conn_fail(c, "the broker closed TCP");
		if (!c->tcp_closing) {
			c->tcp_closing = true;
			lp_tcp_close(t);
		}
		return;
	}
	len = rte_pktmbuf_pkt_len(m);
	lp_amqp_client_tick(c->amqp, tsc_ns(c->r, c->r->b->net.now_tsc));
	for (struct rte_mbuf *seg = m; seg != NULL; seg = seg->next)
		if (lp_amqp_client_input(c->amqp, rte_pktmbuf_mtod(seg, const uint8_t *),
					 rte_pktmbuf_data_len(seg)) < 0)
			break;
	rte_pktmbuf_free(m);
	lp_tcp_recved(t, len);
}

static void tcp_closed(void *conn, struct lp_tcb *t, int reason)
{
	struct conn *c = conn;
	char msg[128];

	(void)t;
	c->tcb = NULL;
	if (!c->amqp_closed) {
		snprintf(msg, sizeof(msg), "TCP connection ended: %s",
			 reason == 0 ? "closed" : strerror(-reason));
		conn_fail(c, msg);
		c->amqp_closed = true;
	}
}

static const struct lp_tcp_ops tcp_ops = {
	.connected = tcp_connected,
	.recv = tcp_recv,
	.closed = tcp_closed,
};

/* --- connections -------------------------------------------------------------- */

static int conn_open(struct run *r, struct conn *c, enum role role, unsigned id)
{
	struct lp_net *w = &r->b->net;
	char msg[128];

	c->r = r;
	c->role = role;
	c->id = id;
	c->amqp = lp_amqp_client_create(&r->ccfg, &client_ops, c, tsc_ns(r, w->now_tsc));
	if (c->amqp == NULL) {
		conn_fail(c, "cannot create the AMQP client");
		return -ENOMEM;
	}
	c->tcb = lp_tcp_connect(w, r->broker_ip, r->broker_port, &tcp_ops, c);
	if (c->tcb == NULL) {
		snprintf(msg, sizeof(msg), "lp_tcp_connect: %s", rte_strerror(rte_errno));
		conn_fail(c, msg);
		return -rte_errno;
	}
	return 0;
}

/* Consumer acks: one Basic.Ack per delivery, or one with multiple=true
 * every --multi-ack-every deliveries (final: whatever is left). */
static void conn_acks(struct conn *c, bool final)
{
	const struct lp_load_opts *o = c->r->o;

	if (o->autoack || c->unacked == 0 || c->amqp->state != LP_AMQP_CLIENT_READY)
		return;
	if (o->multi_ack > 1) {
		if ((c->unacked >= o->multi_ack || final) &&
		    lp_amqp_client_ack(c->amqp, c->last_tag, true) == 0) {
			c->acked_tag = c->last_tag;
			c->unacked = 0;
		}
		return;
	}
	/* Delivery tags of a channel are consecutive (spec 1.8.3.9: they
	 * count deliveries on the channel from 1). */
	while (c->acked_tag < c->last_tag &&
	       lp_amqp_client_ack(c->amqp, c->acked_tag + 1, false) == 0) {
		c->acked_tag++;
		c->unacked--;
	}
}

/* The client's output into the TCP send stream, within its space. */
static void conn_flush(struct conn *c)
{
	const uint8_t *p;
	size_t len;

	if (c->tcb == NULL || !c->tcp_up)
		return;
	len = lp_amqp_client_output_peek(c->amqp, &p);
	while (len > 0) {
		uint32_t room = lp_tcp_send_space(c->tcb);
		uint32_t n = len < room ? (uint32_t)len : room;
		int sent;

		if (n == 0)
			break;
		sent = lp_tcp_write(c->tcb, p, n);
		if (sent <= 0)
			break;
		lp_amqp_client_output_consume(c->amqp, (size_t)sent);
		len = lp_amqp_client_output_peek(c->amqp, &p);
	}
	if (c->amqp_closed && len == 0 && !c->tcp_closing) {
		c->tcp_closing = true;
		lp_tcp_close(c->tcb);
	}
}

/* Producer: publish what the rate, the confirm window and TCP allow. */
static unsigned conn_publish(struct conn *c, uint64_t now)
{
	struct run *r = c->r;
	const struct lp_load_opts *o = r->o;
	size_t msg = lp_amqp_client_publish_len(c->amqp);
	unsigned n = 0;

	if (c->pub_done || !c->settled || c->tcb == NULL)
		return 0;
	if (now >= r->pub_end_tsc || (o->pmessages && c->published >= o->pmessages)) {
		c->pub_done = true;
		return 0;
	}
	while (n < PUBLISH_BURST) {
		const uint8_t *p;
		struct stamp s;

		if (o->pmessages && c->published >= o->pmessages)
			break;
		if (o->rate &&
		    now < r->t0_tsc + (uint64_t)((double)c->published * (double)r->hz / o->rate))
			break;
		if (o->confirm && c->published - c->confirmed >= o->confirm)
			break;
		/* Back-pressure: no more than TCP will take now. */
		if (lp_amqp_client_output_peek(c->amqp, &p) + msg > lp_tcp_send_space(c->tcb))
			break;
		s = (struct stamp){r->run_id, c->id, c->published, rte_rdtsc()};
		if (lp_amqp_client_publish(c->amqp, &s, sizeof(s)) < 0)
			break;
		c->published++;
		c->end_tsc = s.tsc;
		n++;
	}
	return n;
}

static bool conn_gone(const struct conn *c)
{
	return c->amqp == NULL || c->tcb == NULL;
}

static void conn_free(struct conn *c)
{
	if (c->tcb != NULL) {
		lp_tcp_abort(c->tcb);
		c->tcb = NULL;
	}
	lp_amqp_client_destroy(c->amqp);
	c->amqp = NULL;
	lp_seq_free(&c->confirms);
	free(c->order);
	c->order = NULL;
}

/* --- the poll loop -------------------------------------------------------------- */

#define FOR_EACH_CONN(r, c)                                                              \
	for (unsigned _i = 0; _i < 1 + (r)->n_prod + (r)->n_cons; _i++)                \
		for (struct conn *c = _i == 0 ? &(r)->setup                                \
				     : _i <= (r)->n_prod ? &(r)->prod[_i - 1]               \
							 : &(r)->cons[_i - 1 - (r)->n_prod]; \
		     c != NULL; c = NULL)

/* One iteration; returns true when it did any work. */
static bool poll_once(struct bench *b)
{
	struct lp_net *w = &b->net;
	struct run *r = b->r;
	unsigned work;
	bool tick;

	work = lp_net_rx(w);
	tick = w->now_tsc - b->last_tick_tsc > r->hz / 1000;
	if (tick)
		b->last_tick_tsc = w->now_tsc;
	FOR_EACH_CONN(r, c) {
		if (c->amqp == NULL || c->tcb == NULL)
			continue;
		if (tick)
			lp_amqp_client_tick(c->amqp, tsc_ns(r, w->now_tsc));
		if (c->role == ROLE_PRODUCER && r->phase == PH_RUN)
			work += conn_publish(c, w->now_tsc);
		else if (c->role == ROLE_CONSUMER)
			conn_acks(c, false);
		conn_flush(c);
	}
	work += lp_net_output(w);
	return work > 0;
}

/* --- totals and reports ------------------------------------------------------------ */

static bool routed(const struct run *r, unsigned q, unsigned p)
{
	return r->fanout || r->prod[p].group == q;
}

static void totals_read(const struct run *r, struct lp_load_totals *t)
{
	memset(t, 0, sizeof(*t));
	for (unsigned i = 0; i < r->n_prod; i++) {
		const struct conn *p = &r->prod[i];
		unsigned fan = 0;

		t->published += p->published;
		t->confirmed += p->confirmed;
		t->nacked += p->nacked;
		t->returned += p->returned;
		t->blocked += p->blocked;
		for (unsigned q = 0; q < r->n_queues; q++)
			fan += routed(r, q, i) && r->o->consumers > 0;
		t->expected += p->published * fan;
	}
	for (unsigned i = 0; i < r->n_cons; i++)
		t->delivered += r->cons[i].delivered;
}

/* The per-second line (load_report.h), in TSC cycles. */
static void progress_tick(struct run *r, struct lp_load_progress *pg, const char *phase)
{
	uint64_t now = rte_rdtsc(), coarse[LP_HIST_COARSE_N] = {0};
	struct lp_load_totals t;

	totals_read(r, &t);
	lp_hist_coarse_read(&r->coarse, coarse);
	lp_load_progress_tick(pg, now, &t, coarse, phase);
}

/* The end-of-run report (load_report.h); host[INET_ADDRSTRLEN] gets the
 * broker's address and must outlive rep, like r. */
static void summarize(const struct run *r, struct lp_load_report *rep, char *host)
{
	const struct lp_load_opts *o = r->o;
	const struct bench *b = r->b;

	inet_ntop(AF_INET, &r->broker_ip, host, INET_ADDRSTRLEN);
	*rep = (struct lp_load_report){
		.o = o,
		.program = "lepus-bench",
		.host = host,
		.exchange = r->exchange,
		.type = r->ex_type,
		.error = r->error,
		.n_prod = r->n_prod,
		.n_cons = r->n_cons,
		.n_queues = r->n_queues,
		.fanout = r->fanout,
		.rate_note = true,
		.hist = &r->hist,
		.interrupted = interrupted != 0,
		.has_busy = true,
		.busy = b->loop_tsc ? (double)b->busy_tsc / (double)b->loop_tsc : 0,
		.t0 = r->t0_tsc,
	};
	totals_read(r, &rep->t);
	for (unsigned i = 0; i < r->n_cons; i++)
		lp_load_report_consumer(rep, r->cons[i].foreign, r->cons[i].last_tsc, r->cons[i].order,
					r->n_prod);
	for (unsigned p = 0; p < r->n_prod; p++)
		lp_load_report_producer(rep, r->prod[p].end_tsc);
	for (unsigned q = 0; q < r->n_queues && o->consumers > 0; q++)
		for (unsigned p = 0; p < r->n_prod; p++)
			lp_load_report_track(rep, &r->track[q * r->n_prod + p], p, r->prod[p].published,
					     routed(r, q, p));
	lp_load_report_rates(rep, (double)r->hz, o->size);
}

/* --- one scenario ------------------------------------------------------------------ */

/* amqp://user:pass@A.B.C.D[:port][/vhost]: the broker by address (no DNS here). */
static int parse_uri(struct run *r, const char *uri)
{
	char buf[512], *s, *at, *slash, *colon;

	snprintf(buf, sizeof(buf), "%s", uri + strlen("amqp://"));
	s = buf;
	snprintf(r->user, sizeof(r->user), "guest");
	snprintf(r->password, sizeof(r->password), "guest");
	snprintf(r->vhost, sizeof(r->vhost), "/");
	r->broker_port = 5672;
	slash = strchr(s, '/');
	if (slash != NULL) {
		*slash = '\0';
		if (slash[1] != '\0') {
			/* RFC 3986 percent-encoding, as RabbitMQ's URI spec uses for "/". */
			char *o = r->vhost;
			const char *p = slash + 1;

			while (*p && o < r->vhost + sizeof(r->vhost) - 1) {
				unsigned v;

				if (p[0] == '%' && sscanf(p + 1, "%2x", &v) == 1) {
					*o++ = (char)v;
					p += 3;
				} else {
					*o++ = *p++;
				}
			}
			*o = '\0';
		}
	}
	at = strrchr(s, '@');
	if (at != NULL) {
		*at = '\0';
		colon = strchr(s, ':');
		if (colon != NULL) {
			*colon = '\0';
			snprintf(r->password, sizeof(r->password), "%.127s", colon + 1);
		}
		snprintf(r->user, sizeof(r->user), "%.127s", s);
		s = at + 1;
	}
	colon = strchr(s, ':');
	if (colon != NULL) {
		char *end;
		unsigned long port = strtoul(colon + 1, &end, 10);

		if (*end != '\0' || port == 0 || port > 65535)
			return -EINVAL;
		r->broker_port = (uint16_t)port;
		*colon = '\0';
	}
	if (inet_pton(AF_INET, s, &r->broker_ip) != 1)
		return -EINVAL;
	return 0;
}

static int run_layout(struct run *r, struct bench *b, const struct lp_load_opts *o)
{
	unsigned groups;

	r->o = o;
	r->b = b;
	r->hz = rte_get_tsc_hz();
	if (parse_uri(r, o->uri) < 0) {
		snprintf(r->error, sizeof(r->error),
			 "--uri %.300s: expected amqp://user:pass@A.B.C.D[:port][/vhost] (an IPv4 address)",
			 o->uri);
		return -EINVAL;
	}
	lp_amqp_client_cfg_default(&r->ccfg);
	r->ccfg.user = r->user;
	r->ccfg.password = r->password;
	r->ccfg.vhost = r->vhost;
	r->ccfg.outbuf_size = (uint32_t)(128u << 10) + 2 * (o->size + 4096);
	r->fanout = o->fanout_queues > 0;
	r->n_queues = o->fanout_queues ? o->fanout_queues : o->queues ? o->queues : 1;
	groups = r->fanout ? 1 : r->n_queues;
	r->n_prod = o->producers * groups;
	r->n_cons = o->consumers * r->n_queues;
	snprintf(r->exchange, sizeof(r->exchange), "%s",
		 o->exchange[0] || !r->fanout ? o->exchange : "lepus-bench.fanout");
	r->ex_type = r->fanout ? "fanout" : o->type;
	r->declare_exchange = r->exchange[0] && strncmp(r->exchange, "amq.", 4) != 0;
	r->qname = calloc(r->n_queues, sizeof(*r->qname));
	r->prod = calloc(r->n_prod ? r->n_prod : 1, sizeof(*r->prod));
	r->cons = calloc(r->n_cons ? r->n_cons : 1, sizeof(*r->cons));
	r->track = calloc((size_t)r->n_queues * (r->n_prod ? r->n_prod : 1), sizeof(*r->track));
	if (!r->qname || !r->prod || !r->cons || !r->track ||
	    lp_hist_init(&r->hist, LP_HIST_DEFAULT_US) < 0)
		return -ENOMEM;
	for (unsigned q = 0; q < r->n_queues; q++) {
		if (r->n_queues == 1 && !o->queues && !o->fanout_queues)
			snprintf(r->qname[q], sizeof(r->qname[q]), "%s", o->queue);
		else
			snprintf(r->qname[q], sizeof(r->qname[q]), "q-%u", q + 1);
	}
	for (unsigned i = 0; i < r->n_prod; i++) {
		struct conn *p = &r->prod[i];

		p->group = r->fanout ? 0 : i / o->producers;
		snprintf(p->rkey, sizeof(p->rkey), "%s",
			 o->routing_key[0] ? o->routing_key : r->fanout ? "" : r->qname[p->group]);
	}
	for (unsigned i = 0; i < r->n_cons; i++) {
		struct conn *k = &r->cons[i];

		k->queue = i / o->consumers;
		k->order = calloc(r->n_prod ? r->n_prod : 1, sizeof(*k->order));
		if (k->order == NULL)
			return -ENOMEM;
	}
	r->run_id = (uint32_t)(rte_rdtsc() ^ ((uint64_t)getpid() << 16));
	return 0;
}

static void run_free(struct run *r)
{
	if (r->prod == NULL || r->cons == NULL) {
		free(r->prod);
		free(r->cons);
	} else {
		FOR_EACH_CONN(r, c)
			conn_free(c);
		free(r->prod);
		free(r->cons);
	}
	if (r->track)
		for (unsigned i = 0; i < r->n_queues * r->n_prod; i++)
			lp_seq_free(&r->track[i]);
	free(r->track);
	free(r->qname);
	lp_hist_free(&r->hist);
}

/* Poll until done(r) or the deadline (seconds from now), a failure or an
 * interrupt. Returns true when done(r) held. */
static bool poll_until(struct bench *b, bool (*done)(struct run *), uint64_t seconds)
{
	struct run *r = b->r;
	uint64_t end = rte_rdtsc() + seconds * r->hz;

	while (!done(r)) {
		if (r->failed || interrupted || rte_rdtsc() > end)
			return false;
		poll_once(b);
	}
	return true;
}

static bool setup_settled(struct run *r)
{
	return r->setup.settled;
}

static bool all_settled(struct run *r)
{
	for (unsigned i = 0; i < r->n_prod; i++)
		if (!r->prod[i].settled)
			return false;
	for (unsigned i = 0; i < r->n_cons; i++)
		if (!r->cons[i].settled)
			return false;
	return true;
}

static bool clients_gone(struct run *r)
{
	for (unsigned i = 0; i < r->n_prod; i++)
		if (!conn_gone(&r->prod[i]))
			return false;
	for (unsigned i = 0; i < r->n_cons; i++)
		if (!conn_gone(&r->cons[i]))
			return false;
	return true;
}

static bool everything_gone(struct run *r)
{
	return clients_gone(r) && conn_gone(&r->setup);
}

static void close_conn(struct conn *c)
{
	if (c->amqp != NULL && c->tcb != NULL && !c->amqp_closed &&
	    lp_amqp_client_close(c->amqp) == -EALREADY && c->amqp->state == LP_AMQP_CLIENT_CLOSED)
		c->amqp_closed = true;
}

/* Run one scenario. Returns 0 when it ran to the end (its summary says what
 * happened), 1 on failure. */
static int run_scenario(struct bench *b, const struct lp_load_opts *o)
{
	struct run r = {0};
	struct lp_load_progress pg;
	struct lp_load_report rep;
	char host[INET_ADDRSTRLEN];
	uint64_t last_progress = 0, last_delivered = 0, drain_end, tick = 1;
	bool drain_timeout = false;
	int rc = 1;

	b->r = &r;
	if (run_layout(&r, b, o) < 0) {
		fprintf(stderr, "lepus-bench: %s\n", r.error[0] ? r.error : "out of memory");
		run_free(&r);
		b->r = NULL;
		return 1;
	}

	/* Declarations on the set-up connection. */
	r.phase = PH_SETUP;
	b->net.now_tsc = rte_rdtsc();
	if (conn_open(&r, &r.setup, ROLE_SETUP, 0) < 0 ||
	    !poll_until(b, setup_settled, SETUP_TIMEOUT_S)) {
		run_fail(&r, "set-up", "connect and declare did not finish in time");
		goto out;
	}
	/* Consumers and producers connect, subscribe, select confirms. */
	r.phase = PH_CONNECT;
	for (unsigned i = 0; i < r.n_cons && !r.failed; i++)
		conn_open(&r, &r.cons[i], ROLE_CONSUMER, i);
	for (unsigned i = 0; i < r.n_prod && !r.failed; i++)
		conn_open(&r, &r.prod[i], ROLE_PRODUCER, i);
	if (r.failed || !poll_until(b, all_settled, SETUP_TIMEOUT_S)) {
		run_fail(&r, "set-up", "producers and consumers did not get ready in time");
		goto out;
	}

	/* Publish. */
	r.phase = PH_RUN;
	r.t0_tsc = rte_rdtsc();
	r.pub_end_tsc = r.t0_tsc + (uint64_t)(o->time_s ? o->time_s : 600) * r.hz;
	lp_load_progress_init(&pg, o->json ? stderr : stdout, o->quiet, (double)r.hz, r.t0_tsc);
	b->busy_tsc = b->loop_tsc = 0;
	for (;;) {
		uint64_t t = rte_rdtsc();
		bool busy = poll_once(b), done = true;
		uint64_t t2 = rte_rdtsc();

		b->loop_tsc += t2 - t;
		if (busy)
			b->busy_tsc += t2 - t;
		if (t2 >= r.t0_tsc + tick * r.hz) {
			progress_tick(&r, &pg, "run");
			tick++;
		}
		for (unsigned i = 0; i < r.n_prod && done; i++)
			done = r.prod[i].pub_done || conn_gone(&r.prod[i]);
		if (done || r.failed || interrupted)
			break;
	}

	/* Drain: deliveries and confirms still in flight. */
	r.phase = PH_DRAIN;
	drain_end = rte_rdtsc() + (uint64_t)o->drain_s * r.hz;
	last_progress = rte_rdtsc();
	while (!r.failed && !interrupted) {
		struct lp_load_totals t;
		uint64_t now;

		poll_once(b);
		now = b->net.now_tsc;
		totals_read(&r, &t);
		if ((t.delivered >= t.expected || o->consumers == 0) &&
		    (!o->confirm || t.confirmed >= t.published))
			break;
		if (t.delivered + t.confirmed != last_delivered) {
			last_delivered = t.delivered + t.confirmed;
			last_progress = now;
		}
		if (now >= drain_end || now - last_progress > STALL_S * r.hz) {
			drain_timeout = true;
			break;
		}
		if (now >= r.t0_tsc + tick * r.hz) {
			progress_tick(&r, &pg, "drain");
			tick++;
		}
	}
	lp_load_progress_end(&pg);
	rc = 0;
out:
	/* Close: the last acks, Connection.Close everywhere, queues deleted. */
	{
		bool failed = r.failed;

		r.phase = PH_CLOSE;
		FOR_EACH_CONN(&r, c)
			if (c->role == ROLE_CONSUMER && c->amqp != NULL)
				conn_acks(c, true);
		for (unsigned i = 0; i < r.n_prod; i++)
			close_conn(&r.prod[i]);
		for (unsigned i = 0; i < r.n_cons; i++)
			close_conn(&r.cons[i]);
		/* Queues go once their consumers are gone. */
		poll_until(b, clients_gone, CLOSE_TIMEOUT_S);
		if (r.setup.amqp != NULL && r.setup.tcb != NULL && !r.setup.amqp_closed &&
		    r.setup.amqp->state == LP_AMQP_CLIENT_READY && r.setup.amqp->rpc_pending == 0) {
			r.setup.tearing_down = true;
			r.setup.settled = false;
			r.setup.step = 0;
			conn_next_step(&r.setup);
			poll_until(b, setup_settled, CLOSE_TIMEOUT_S);
		}
		close_conn(&r.setup);
		poll_until(b, everything_gone, CLOSE_TIMEOUT_S);
		if (!failed && r.failed) {
			/* Trouble while closing does not change what was measured, but says so. */
			fprintf(stderr, "lepus-bench: %s: while closing: %s\n", o->name, r.error);
		}
		r.failed = failed;
	}
	if (rc == 0) {
		summarize(&r, &rep, host);
		rep.drain_timeout = drain_timeout;
		if (!o->json)
			lp_load_report_print(&rep, stdout);
		else if (lp_load_report_json(&rep, stdout) < 0)
			fprintf(stderr, "lepus-bench: cannot build the JSON summary\n");
		if (r.failed) {
			fprintf(stderr, "lepus-bench: %s: %s\n", o->name, r.error);
			rc = 1;
		}
	} else {
		fprintf(stderr, "lepus-bench: %s: %s\n", o->name, r.error);
	}
	run_free(&r);
	b->r = NULL;
	return rc;
}

/* --- start-up ---------------------------------------------------------------------- */

static void bench_usage(FILE *f)
{
	fprintf(f,
		"usage: lepus-bench [EAL options] -- --port SPEC --ip A.B.C.D/LEN [options]\n"
		"AMQP 0-9-1 load generator on DPDK: the dataplane's TCP-lite on one lcore,\n"
		"every producer and consumer a TCP connection of that lcore. Bodies carry\n"
		"(producer, sequence, TSC); consumers check order, loss and duplicates\n"
		"exactly and measure latency (exact 1 us histogram). --uri names the broker\n"
		"by IPv4 address.\n\n"
		"Port and address:\n"
		"  --port SPEC                    af_packet:IF, memif:PATH,client, tap:IF, pci:ADDR, eal:NAME\n"
		"  --ip A.B.C.D/LEN               the bench's address (198.18.0.0/15 for tests)\n"
		"  --gateway A.B.C.D              next hop for an off-link broker\n"
		"  --mbufs N                      packet buffers (default 32767)\n"
		"  --link-wait SECONDS            wait for the port's link (default 10)\n\n"
		"Load options (amqp-load's, RabbitMQ PerfTest's names):\n");
	lp_load_usage_options(f);
}

static int parse_ip(const char *v, uint32_t *ip, uint32_t *mask)
{
	char buf[64], *slash;
	unsigned long len = 32;

	snprintf(buf, sizeof(buf), "%s", v);
	slash = strchr(buf, '/');
	if (slash != NULL) {
		char *end;

		*slash = '\0';
		len = strtoul(slash + 1, &end, 10);
		if (*end != '\0' || len == 0 || len > 32)
			return -EINVAL;
	}
	if (inet_pton(AF_INET, buf, ip) != 1)
		return -EINVAL;
	if (mask != NULL)
		*mask = htonl(len == 32 ? 0xffffffffu : ~(0xffffffffu >> len));
	return 0;
}

/*
 * Takes lepus-bench's own options out of argv (they are not amqp-load's);
 * the rest stays for load_opts. Returns the new argc, or -1 with a message.
 */
static int take_bench_opts(struct bench_opts *bo, int argc, char **argv)
{
	int out = 1;

	bo->mbufs = 32767;
	bo->link_wait_s = 10;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		char key[32];
		const char *eq = strchr(a, '=');
		size_t klen = eq ? (size_t)(eq - a) : strlen(a);

		if (strncmp(a, "--", 2) != 0 || klen >= sizeof(key)) {
			argv[out++] = argv[i];
			continue;
		}
		memcpy(key, a, klen);
		key[klen] = '\0';
		if (strcmp(key, "--port") && strcmp(key, "--ip") && strcmp(key, "--gateway") &&
		    strcmp(key, "--mbufs") && strcmp(key, "--link-wait")) {
			argv[out++] = argv[i];
			continue;
		}
		v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
		if (v == NULL) {
			fprintf(stderr, "lepus-bench: %s needs a value\n", key);
			return -1;
		}
		if (strcmp(key, "--port") == 0) {
			if (strlen(v) >= sizeof(bo->port)) {
				fprintf(stderr, "lepus-bench: --port too long\n");
				return -1;
			}
			snprintf(bo->port, sizeof(bo->port), "%s", v);
		} else if (strcmp(key, "--ip") == 0) {
			if (parse_ip(v, &bo->ip, &bo->netmask) < 0) {
				fprintf(stderr, "lepus-bench: --ip %s: expected A.B.C.D/LEN\n", v);
				return -1;
			}
		} else if (strcmp(key, "--gateway") == 0) {
			if (parse_ip(v, &bo->gateway, NULL) < 0) {
				fprintf(stderr, "lepus-bench: --gateway %s: expected A.B.C.D\n", v);
				return -1;
			}
		} else {
			char *end;
			unsigned long n = strtoul(v, &end, 10);

			if (*end != '\0' || n == 0 || n > (strcmp(key, "--mbufs") ? 600 : 1u << 22)) {
				fprintf(stderr, "lepus-bench: %s %s: out of range\n", key, v);
				return -1;
			}
			if (strcmp(key, "--mbufs") == 0)
				bo->mbufs = (uint32_t)n;
			else
				bo->link_wait_s = (uint32_t)n;
		}
	}
	argv[out] = NULL;
	return out;
}

static int bench_start(struct bench *b)
{
	struct lp_port_config pc = {.n_queues = 1};
	struct lp_tcp_config tcfg = {0};
	struct rte_eth_link link;
	uint64_t end;
	int rc;

	snprintf(pc.spec, sizeof(pc.spec), "%s", b->bo.port);
	b->pool = rte_pktmbuf_pool_create("lpb_mbufs", b->bo.mbufs, MBUF_CACHE, 0,
					  RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
	if (b->pool == NULL) {
		fprintf(stderr, "lepus-bench: cannot create a pool of %u mbufs: %s\n", b->bo.mbufs,
			rte_strerror(rte_errno));
		return -ENOMEM;
	}
	pc.pool = b->pool;
	b->port = lp_port_open(&pc, &b->port_info);
	if (b->port == NULL) {
		fprintf(stderr, "lepus-bench: cannot open port '%s': %s\n", b->bo.port,
			rte_strerror(rte_errno));
		return -ENODEV;
	}
	b->netif = (struct lp_netif){
		.port_id = b->port_info.port_id,
		.mac = b->port_info.mac,
		.ip = b->bo.ip,
		.netmask = b->bo.netmask,
		.gateway = b->bo.gateway,
		.mtu = b->port_info.mtu,
		.tx_ip4_cksum_offload = b->port_info.tx_ip4_cksum_offload,
		.tx_tcp_cksum_offload = b->port_info.tx_tcp_cksum_offload,
		.rx_cksum_offload = b->port_info.rx_cksum_offload,
	};
	rc = lp_net_init(&b->net, 0, rte_lcore_id(), &b->netif, b->port, b->pool);
	if (rc == 0)
		rc = lp_tcp_worker_create(&b->net, &tcfg);
	if (rc != 0) {
		fprintf(stderr, "lepus-bench: TCP: %s\n", strerror(-rc));
		return rc;
	}
	/* memif: the link is up once the server accepted us. */
	end = rte_rdtsc() + (uint64_t)b->bo.link_wait_s * rte_get_tsc_hz();
	do {
		memset(&link, 0, sizeof(link));
		rte_eth_link_get_nowait(b->port_info.port_id, &link);
		if (link.link_status == RTE_ETH_LINK_UP)
			break;
		rte_delay_ms(10);
	} while (rte_rdtsc() < end && !interrupted);
	if (link.link_status != RTE_ETH_LINK_UP) {
		fprintf(stderr, "lepus-bench: port '%s': link not up after %u s\n", b->bo.port,
			b->bo.link_wait_s);
		return -ENETDOWN;
	}
	/* RFC 5227 2.3: announce our address. */
	lp_arp_announce(&b->net);
	lp_net_tx_flush(&b->net);
	return 0;
}

static void bench_stop(struct bench *b)
{
	if (b->net.tcp != NULL) {
		lp_tcp_worker_destroy(&b->net);
		lp_net_tx_flush(&b->net);
	}
	lp_port_close(b->port);
	rte_mempool_free(b->pool);
}

int main(int argc, char **argv)
{
	static struct lp_load_opts sc[LP_LOAD_MAX_SCENARIOS];
	static struct bench b;
	const char *scenario, *only;
	char err[512];
	bool help;
	int n = 1, status = 0, eal;

	eal = rte_eal_init(argc, argv);
	if (eal < 0) {
		fprintf(stderr, "lepus-bench: EAL init failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	argv[eal] = argv[0];
	argc -= eal;
	argv += eal;
	argc = take_bench_opts(&b.bo, argc, argv);
	if (argc < 0 || lp_load_opts_scan(argc, argv, &scenario, &only, &help, err, sizeof(err)) < 0) {
		if (argc >= 0)
			fprintf(stderr, "lepus-bench: %s (see --help)\n", err);
		rte_eal_cleanup();
		return 2;
	}
	if (help) {
		bench_usage(stdout);
		rte_eal_cleanup();
		return 0;
	}
	if (b.bo.port[0] == '\0' || b.bo.ip == 0) {
		fprintf(stderr, "lepus-bench: --port and --ip are required (see --help)\n");
		rte_eal_cleanup();
		return 2;
	}
	if (scenario) {
		n = lp_load_scenarios_read(scenario, only, sc, LP_LOAD_MAX_SCENARIOS, err, sizeof(err));
		if (n < 0) {
			fprintf(stderr, "lepus-bench: %s\n", err);
			rte_eal_cleanup();
			return 2;
		}
	} else {
		lp_load_opts_default(&sc[0]);
		snprintf(sc[0].name, sizeof(sc[0].name), "lepus-bench");
	}
	for (int i = 0; i < n; i++)
		if (lp_load_opts_argv(&sc[i], argc, argv, err, sizeof(err)) < 0 ||
		    lp_load_opts_check(&sc[i], err, sizeof(err)) < 0) {
			fprintf(stderr, "lepus-bench: %s: %s\n", sc[i].name, err);
			rte_eal_cleanup();
			return 2;
		}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	if (bench_start(&b) == 0) {
		for (int i = 0; i < n && !interrupted; i++)
			status |= run_scenario(&b, &sc[i]);
	} else {
		status = 1;
	}
	if (b.net.stats.drops[LP_DROP_TX_FULL] != 0)
		fprintf(stderr, "lepus-bench: %" PRIu64 " packets dropped on a full tx queue\n",
			b.net.stats.drops[LP_DROP_TX_FULL]);
	bench_stop(&b);
	rte_eal_cleanup();
	return status;
}
