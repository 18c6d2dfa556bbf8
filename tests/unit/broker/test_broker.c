/* SPDX-License-Identifier: MIT */
/*
 * The sharded broker (dataplane/broker/broker.c, owner.c, mesh.c, relay.c,
 * compiled into this test) with two worker shards on one ring mesh, polled
 * in turn from this thread (each ring is single-producer/single-consumer, so
 * one thread calling worker 0's then worker 1's lp_broker_poll is a valid
 * schedule). Clients are real AMQP connections (lp_amqp_conn) whose output
 * is read back with the project's frame reader and method decoder: the
 * assertions are on the frames a client receives (Basic.Deliver tags,
 * redelivered, consumer tags, Get-Ok counts, Basic.Cancel) and on the owner
 * shard's queues and the message pools (every teardown: pools full after
 * lp_broker_drop_messages on both shards and lp_mesh_destroy).
 *
 * Substituted at link time: the session layer (amqp_server.c: a session here
 * is a client of this file; resume feeds its kept-back input, as the real one
 * does), the control link (a fake that records submissions, answers -EAGAIN
 * or an error on request) and the snapshot publisher (never used: workers
 * have no publisher, the test sets each shard's snapshot).
 *
 * The cases marked "Regression" failed against earlier versions of the
 * broker (duplicate Get tag, a stuck consumer stalling its worker, relay
 * reordering); they pass since the fixes.
 */
#include <dirent.h>
#include <limits.h>
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "amqp_auth.h"
#include "amqp_conn.h"
#include "amqp_frame.h"
#include "amqp_reply.h"
#include "amqp_server.h"
#include "amqp_table.h"
#include "broker.h"
#include "broker_int.h"
#include "mesh.h"
#include "message.h"
#include "queue.h"
#include "topology.h"
#include "ctl_link.h"
#include "snapshot.h"

/* ---- link-time substitutes: session layer, control link, snapshots ---- */

struct client;

struct lp_amqp_session {
	struct lp_broker *broker;
	uint64_t id;
	struct client *cl;
};

void *lp_amqp_session_arg(const struct lp_amqp_session *s)
{
	return s->broker;
}

uint64_t lp_amqp_session_id(const struct lp_amqp_session *s)
{
	return s->id;
}

const struct lp_snapshot *lp_snapshot_current(const struct lp_snapshot_publisher *p)
{
	(void)p;
	fail_msg("workers have no snapshot publisher in this test");
	return NULL;
}

#define FAKE_MAX 64

/* The control link as the relay sees it. */
struct lp_ctl_link {
	unsigned eagain;    /* answer -EAGAIN this many times first */
	int64_t error;      /* else, when < 0: answer it */
	int64_t next_id;
	unsigned n_sub;
	struct {
		uint16_t type;
		int64_t id;
		struct lp_ctl_def_req req; /* args not kept */
	} sub[FAKE_MAX];
	unsigned n_closed, n_unused, unused_eagain;
	uint64_t closed[FAKE_MAX];
	char unused[FAKE_MAX][LP_CTL_NAME_MAX + 1];
};

int64_t lp_ctl_link_submit(struct lp_ctl_link *l, uint16_t type, struct lp_ctl_def_req *req)
{
	if (l->eagain > 0) {
		l->eagain--;
		return -EAGAIN;
	}
	if (l->error < 0)
		return l->error;
	assert_true(l->n_sub < FAKE_MAX);
	req->req_id = (uint64_t)++l->next_id;
	l->sub[l->n_sub].type = type;
	l->sub[l->n_sub].id = l->next_id;
	l->sub[l->n_sub].req = *req;
	l->sub[l->n_sub].req.args = NULL;
	l->n_sub++;
	return l->next_id;
}

int lp_ctl_link_connection_closed(struct lp_ctl_link *l, uint64_t conn_id)
{
	assert_true(l->n_closed < FAKE_MAX);
	l->closed[l->n_closed++] = conn_id;
	return 0;
}

int lp_ctl_link_queue_unused(struct lp_ctl_link *l, const char *vhost, const char *queue)
{
	(void)vhost;
	if (l->unused_eagain > 0) {
		l->unused_eagain--;
		return -EAGAIN;
	}
	assert_true(l->n_unused < FAKE_MAX);
	snprintf(l->unused[l->n_unused++], LP_CTL_NAME_MAX + 1, "%s", queue);
	return 0;
}

/* The broker's side of a session, as worker.c registers it. */
static const struct lp_amqp_conn_ops broker_conn_ops = {
	.on_channel_open = lp_broker_on_channel_open,
	.on_channel_close = lp_broker_on_channel_close,
	.on_method = lp_broker_on_method,
	.on_content_header = lp_broker_on_content_header,
	.on_content_body = lp_broker_on_content_body,
};

/* ---- clients: an AMQP connection and what it received ------------------- */

#define EV_MAX 4096
#define FRAME_MAX 131072

/* One method the client received (with its content's first 4 octets). */
struct ev {
	uint32_t method;
	uint16_t ch;
	uint64_t tag;
	bool redelivered;
	uint32_t count;  /* Get-Ok / Declare-Ok message_count */
	uint32_t count2; /* Declare-Ok consumer_count */
	uint16_t code;   /* Channel.Close / Connection.Close reply_code */
	char name[64];   /* consumer tag, or Declare-Ok queue */
	uint64_t body_len;
	uint32_t seq;    /* first 4 body octets */
	uint8_t delivery_mode; /* of the content header */
	bool multiple;   /* Basic.Ack / Basic.Nack from the broker (confirms) */
	char reply_to[64]; /* of the content header */
};

struct client {
	struct lp_amqp_session s;
	struct lp_amqp_conn *c;
	void *mem;
	uint8_t *in;            /* input not yet taken by the connection */
	size_t in_len, in_off, in_cap;
	bool feeding;
	bool stuck;             /* nobody reads its output */
	struct lp_amqp_frame_reader rd;
	uint8_t *rd_buf;
	struct ev *ev;
	unsigned n_ev;
	uint64_t body_have;
	uint64_t bytes_read;
};

static void client_feed(struct client *k)
{
	if (k->feeding)
		return;
	k->feeding = true;
	while (k->in_off < k->in_len) {
		size_t n = lp_amqp_conn_input(k->c, k->in + k->in_off, k->in_len - k->in_off);

		k->in_off += n;
		if (n == 0)
			break; /* paused, or its send buffer needs draining */
	}
	if (k->in_off == k->in_len)
		k->in_off = k->in_len = 0;
	k->feeding = false;
}

static unsigned resumes;

/* As amqp_server.c: read the input kept back while the connection paused. */
void lp_amqp_session_resume(struct lp_amqp_session *s)
{
	resumes++;
	lp_amqp_conn_resume(s->cl->c);
	client_feed(s->cl);
}

static void client_send(struct client *k, const uint8_t *p, size_t len)
{
	if (k->in_len + len > k->in_cap) {
		k->in_cap = (k->in_len + len) * 2;
		k->in = realloc(k->in, k->in_cap);
		assert_non_null(k->in);
	}
	memcpy(k->in + k->in_len, p, len);
	k->in_len += len;
	client_feed(k);
}

static void client_method(struct client *k, uint16_t ch, const struct lp_amqp_method *m)
{
	uint8_t buf[8192];
	struct lp_amqp_outbuf o;

	lp_amqp_outbuf_init(&o, buf, sizeof(buf));
	assert_true(lp_amqp_frame_write_method(&o, ch, m, FRAME_MAX) > 0);
	client_send(k, buf, o.tail);
}

static void bytes_name(char *dst, size_t cap, struct lp_amqp_bytes v)
{
	size_t n = v.len < cap - 1 ? v.len : cap - 1;

	memcpy(dst, v.ptr, n);
	dst[n] = '\0';
}

static void client_frame(struct client *k, const struct lp_amqp_frame *fr)
{
	struct lp_amqp_method m;
	struct lp_amqp_content_header h;
	struct ev *e;

	switch (fr->type) {
	case LP_AMQP_FRAME_METHOD:
		assert_int_equal(lp_amqp_method_decode(fr->payload, fr->size, &m), 0);
		assert_true(k->n_ev < EV_MAX);
		e = &k->ev[k->n_ev++];
		*e = (struct ev){.method = m.id, .ch = fr->channel};
		switch (m.id) {
		case LP_AMQP_BASIC_DELIVER:
			e->tag = m.basic_deliver.delivery_tag;
			e->redelivered = m.basic_deliver.redelivered;
			bytes_name(e->name, sizeof(e->name), m.basic_deliver.consumer_tag);
			break;
		case LP_AMQP_BASIC_GET_OK:
			e->tag = m.basic_get_ok.delivery_tag;
			e->redelivered = m.basic_get_ok.redelivered;
			e->count = m.basic_get_ok.message_count;
			break;
		case LP_AMQP_BASIC_CONSUME_OK:
			bytes_name(e->name, sizeof(e->name), m.basic_consume_ok.consumer_tag);
			break;
		case LP_AMQP_BASIC_CANCEL_OK:
			bytes_name(e->name, sizeof(e->name), m.basic_cancel_ok.consumer_tag);
			break;
		case LP_AMQP_BASIC_CANCEL:
			bytes_name(e->name, sizeof(e->name), m.basic_cancel.consumer_tag);
			break;
		case LP_AMQP_QUEUE_DECLARE_OK:
			bytes_name(e->name, sizeof(e->name), m.queue_declare_ok.queue);
			e->count = m.queue_declare_ok.message_count;
			e->count2 = m.queue_declare_ok.consumer_count;
			break;
		case LP_AMQP_QUEUE_PURGE_OK:
			e->count = m.queue_purge_ok.message_count;
			break;
		case LP_AMQP_CHANNEL_CLOSE:
			e->code = m.channel_close.reply_code;
			break;
		case LP_AMQP_BASIC_ACK:
			e->tag = m.basic_ack.delivery_tag;
			e->multiple = m.basic_ack.multiple;
			break;
		case LP_AMQP_BASIC_NACK:
			e->tag = m.basic_nack.delivery_tag;
			e->multiple = m.basic_nack.multiple;
			break;
		case LP_AMQP_CONNECTION_CLOSE:
			e->code = m.connection_close.reply_code;
			break;
		default:
			break;
		}
		break;
	case LP_AMQP_FRAME_HEADER:
		assert_true(k->n_ev > 0);
		assert_int_equal(lp_amqp_content_header_decode(fr->payload, fr->size, &h), 0);
		k->ev[k->n_ev - 1].body_len = h.body_size;
		k->ev[k->n_ev - 1].delivery_mode = h.props.delivery_mode;
		if (h.props.flags & LP_AMQP_BASIC_REPLY_TO_FLAG)
			bytes_name(k->ev[k->n_ev - 1].reply_to, sizeof(k->ev[k->n_ev - 1].reply_to),
				   h.props.reply_to);
		k->body_have = 0;
		break;
	case LP_AMQP_FRAME_BODY:
		assert_true(k->n_ev > 0);
		e = &k->ev[k->n_ev - 1];
		if (k->body_have == 0 && fr->size >= 4)
			memcpy(&e->seq, fr->payload, 4);
		k->body_have += fr->size;
		assert_true(k->body_have <= e->body_len);
		break;
	default:
		break;
	}
}

/* The client reads at most max octets of what the broker sent it. */
static void client_read(struct client *k, size_t max)
{
	const uint8_t *p;
	size_t n = lp_amqp_conn_output_peek(k->c, &p);

	if (n > max)
		n = max;
	k->bytes_read += n;
	for (size_t off = 0; off < n;) {
		struct lp_amqp_frame fr;
		size_t used;
		int rc = lp_amqp_frame_read(&k->rd, p + off, n - off, &used, &fr);

		assert_true(rc >= 0);
		off += used;
		if (rc == 1)
			client_frame(k, &fr);
	}
	lp_amqp_conn_output_consume(k->c, n);
}

static void client_clear(struct client *k)
{
	k->n_ev = 0;
}

static unsigned count_ev(const struct client *k, uint32_t method)
{
	unsigned n = 0;

	for (unsigned i = 0; i < k->n_ev; i++)
		n += k->ev[i].method == method;
	return n;
}

/* The i-th event of that method (0-based). */
static const struct ev *nth_ev(const struct client *k, uint32_t method, unsigned i)
{
	for (unsigned j = 0; j < k->n_ev; j++)
		if (k->ev[j].method == method && i-- == 0)
			return &k->ev[j];
	fail_msg("no event %u of method %#x (%u events)", i, method, k->n_ev);
	return NULL;
}

/* No channel or connection error reached the client. */
static void assert_no_close(const struct client *k)
{
	for (unsigned i = 0; i < k->n_ev; i++)
		if (k->ev[i].method == LP_AMQP_CHANNEL_CLOSE || k->ev[i].method == LP_AMQP_CONNECTION_CLOSE)
			fail_msg("client got a close with reply code %u", k->ev[i].code);
}

/* ---- fixture: two shards on one mesh, a topology, clients --------------- */

#define N_W 2
#define MAX_CLIENTS 8
#define MAX_TOPO 8
#define POOL 4096
#define SMALL 64

/* What a test's setup may make smaller than the defaults. */
struct fx_sizes {
	uint32_t queue_capacity;  /* each queue's */
	uint32_t page_after;      /* ready messages a durable queue keeps in memory */
	uint64_t segment_bytes;   /* journal segments (0: the store's default) */
};

#define FX_SIZES_DEFAULT ((struct fx_sizes){.queue_capacity = 4096, .page_after = 4096})

/* The sizes of the next fixture setup_store makes. */
static struct fx_sizes fx_next_sizes = FX_SIZES_DEFAULT;

struct fx {
	struct lp_broker *b[N_W];
	struct lp_mesh *mesh;
	struct lp_amqp_auth *auth;
	struct lp_topology_builder *tb;
	struct lp_topology *topo[MAX_TOPO];
	struct lp_snapshot snap[MAX_TOPO];
	unsigned n_topo;
	struct lp_amqp_conn_cfg cfg;
	struct client *cl[MAX_CLIENTS];
	unsigned n_cl;
	char dir[64];    /* the journals' data directory ("": none) */
	struct fx_sizes sizes; /* of its brokers, at every (re)start */
};

static void topo_apply(struct fx *f, const struct lp_ctl_msg *m)
{
	assert_int_equal(lp_topology_builder_apply(f->tb, m), 0);
}

static void topo_queue(struct fx *f, uint8_t op, const char *name, uint16_t owner)
{
	struct lp_ctl_msg m = {.type = LP_CTL_TOPO_QUEUE};

	m.topo_queue.op = op;
	m.topo_queue.owner_shard = owner;
	strcpy(m.topo_queue.vhost, "/");
	strcpy(m.topo_queue.name, name);
	topo_apply(f, &m);
}

static void topo_exchange(struct fx *f, const char *name, uint8_t type)
{
	struct lp_ctl_msg m = {.type = LP_CTL_TOPO_EXCHANGE};

	m.topo_exchange.op = LP_CTL_OP_ADD;
	m.topo_exchange.type = type;
	m.topo_exchange.flags = LP_CTL_X_DURABLE;
	strcpy(m.topo_exchange.vhost, "/");
	strcpy(m.topo_exchange.name, name);
	topo_apply(f, &m);
}

static void topo_bind(struct fx *f, const char *x, const char *q)
{
	struct lp_ctl_msg m = {.type = LP_CTL_TOPO_BINDING};

	m.topo_binding.op = LP_CTL_OP_ADD;
	m.topo_binding.dest_kind = LP_CTL_OBJ_QUEUE;
	strcpy(m.topo_binding.vhost, "/");
	strcpy(m.topo_binding.source, x);
	strcpy(m.topo_binding.destination, q);
	topo_apply(f, &m);
}

/* Compile the builder and publish it to both workers (what the main lcore
 * does with RCU; the old snapshot stays until teardown). */
static void topo_publish(struct fx *f)
{
	assert_true(f->n_topo < MAX_TOPO);
	struct lp_topology *t = lp_topology_build(f->tb, f->n_topo + 1);

	assert_non_null(t);
	f->topo[f->n_topo] = t;
	f->snap[f->n_topo] = (struct lp_snapshot){.version = f->n_topo + 1, .topo = t, .auth = f->auth};
	for (unsigned i = 0; i < N_W; i++)
		lp_broker_set_snapshot(f->b[i], &f->snap[f->n_topo]);
	f->n_topo++;
}

/*
 * vhost "/", the default exchange, fanout "fx" bound to f0..f7; queues and
 * their owner shards: q0 0, q1 1, q1b 1, g0 0, g1 1, d1 1, f<i> i % 2.
 */
static void topo_base(struct fx *f)
{
	struct lp_ctl_msg m = {.type = LP_CTL_TOPO_VHOST};
	char name[8];

	m.topo_vhost.op = LP_CTL_OP_ADD;
	strcpy(m.topo_vhost.name, "/");
	topo_apply(f, &m);
	topo_exchange(f, "", LP_CTL_XT_DIRECT);
	topo_exchange(f, "fx", LP_CTL_XT_FANOUT);
	topo_queue(f, LP_CTL_OP_ADD, "q0", 0);
	topo_queue(f, LP_CTL_OP_ADD, "q1", 1);
	topo_queue(f, LP_CTL_OP_ADD, "q1b", 1);
	topo_queue(f, LP_CTL_OP_ADD, "g0", 0);
	topo_queue(f, LP_CTL_OP_ADD, "g1", 1);
	topo_queue(f, LP_CTL_OP_ADD, "d1", 1);
	for (unsigned i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "f%u", i);
		topo_queue(f, LP_CTL_OP_ADD, name, (uint16_t)(i % 2));
		topo_bind(f, "fx", name);
	}
	topo_publish(f);
}

static struct lp_broker *shard_of(struct fx *f, unsigned w)
{
	return f->b[w];
}

static uint32_t pool_free(struct fx *f, unsigned w)
{
	return lp_msg_pool_available(shard_of(f, w)->pool);
}

static void assert_pools_full(struct fx *f)
{
	for (unsigned w = 0; w < N_W; w++)
		assert_int_equal(pool_free(f, w), lp_msg_pool_capacity(shard_of(f, w)->pool));
}

/* The owner shard's queue (NULL: not created there, or not in the snapshot). */
static struct lp_queue *owner_queue(struct fx *f, const char *name)
{
	const struct lp_topology *t = f->b[0]->snap->topo;
	const struct lp_topology_queue *tq =
		lp_topology_queue(t, lp_topology_queue_find(t, "/", name, strlen(name)));

	if (tq == NULL)
		return NULL;
	struct lp_broker *b = shard_of(f, tq->owner_shard % N_W);

	for (uint32_t i = 0; i < b->n_live; i++)
		if (b->queues[b->live[i]].qid == tq->qid)
			return b->queues[b->live[i]].q;
	return NULL;
}

static struct client *client_open_caps(struct fx *f, unsigned w, bool cancel_notify,
				       const struct lp_amqp_conn_cfg *cfg)
{
	static const uint8_t hdr[8] = {'A', 'M', 'Q', 'P', 0, 0, 9, 1};
	static const uint8_t plain[] = "\0guest\0guest";
	struct client *k = calloc(1, sizeof(*k));
	uint8_t props[256];
	struct lp_amqp_wr wr;
	size_t top, caps;
	struct lp_amqp_method m;
	size_t n = lp_amqp_conn_memsize(cfg);

	assert_non_null(k);
	assert_true(f->n_cl < MAX_CLIENTS);
	f->cl[f->n_cl++] = k;
	k->s = (struct lp_amqp_session){.broker = f->b[w], .id = 100 + f->n_cl, .cl = k};
	k->ev = calloc(EV_MAX, sizeof(*k->ev));
	k->rd_buf = malloc(FRAME_MAX + 64);
	k->mem = aligned_alloc(64, (n + 63) & ~(size_t)63);
	assert_non_null(k->ev);
	assert_non_null(k->rd_buf);
	assert_non_null(k->mem);
	lp_amqp_frame_reader_init(&k->rd, k->rd_buf, FRAME_MAX + 64);
	k->c = lp_amqp_conn_init(k->mem, n, cfg, f->auth, &broker_conn_ops, &k->s, 0);
	assert_non_null(k->c);

	lp_amqp_wr_init(&wr, props, sizeof(props));
	lp_amqp_wr_table_begin(&wr, &top);
	lp_amqp_wr_field_str(&wr, "product", "test_broker");
	lp_amqp_wr_shortstr(&wr, lp_amqp_cstr("capabilities"));
	lp_amqp_wr_u8(&wr, LP_AMQP_FIELD_TABLE);
	lp_amqp_wr_table_begin(&wr, &caps);
	lp_amqp_wr_field_bool(&wr, "consumer_cancel_notify", cancel_notify);
	lp_amqp_wr_field_bool(&wr, "connection.blocked", true);
	lp_amqp_wr_table_end(&wr, caps);
	lp_amqp_wr_table_end(&wr, top);
	assert_false(wr.overflow);

	client_send(k, hdr, sizeof(hdr));
	m = (struct lp_amqp_method){.id = LP_AMQP_CONNECTION_START_OK};
	m.connection_start_ok.client_properties =
		(struct lp_amqp_bytes){.ptr = props + 4, .len = (uint32_t)(wr.off - 4)};
	m.connection_start_ok.mechanism = lp_amqp_cstr("PLAIN");
	m.connection_start_ok.response = (struct lp_amqp_bytes){plain, sizeof(plain) - 1};
	m.connection_start_ok.locale = lp_amqp_cstr("en_US");
	client_method(k, 0, &m);
	m = (struct lp_amqp_method){.id = LP_AMQP_CONNECTION_TUNE_OK};
	m.connection_tune_ok.channel_max = 2047;
	m.connection_tune_ok.frame_max = FRAME_MAX;
	client_method(k, 0, &m);
	m = (struct lp_amqp_method){.id = LP_AMQP_CONNECTION_OPEN};
	m.connection_open.virtual_host = lp_amqp_cstr("/");
	client_method(k, 0, &m);
	m = (struct lp_amqp_method){.id = LP_AMQP_CHANNEL_OPEN};
	client_method(k, 1, &m);
	assert_int_equal(lp_amqp_conn_get_state(k->c), LP_AMQP_CONN_RUNNING);
	client_read(k, SIZE_MAX);
	assert_int_equal(count_ev(k, LP_AMQP_CONNECTION_OPEN_OK), 1);
	assert_int_equal(count_ev(k, LP_AMQP_CHANNEL_OPEN_OK), 1);
	assert_int_equal(lp_amqp_conn_cap_cancel_notify(k->c), cancel_notify);
	client_clear(k);
	return k;
}

static struct client *client_open(struct fx *f, unsigned w)
{
	return client_open_caps(f, w, true, &f->cfg);
}

/* Progress marker: changes while anything moves. */
static uint64_t progress(struct fx *f)
{
	uint64_t s = 0;

	for (unsigned w = 0; w < N_W; w++) {
		const struct lp_broker_stats *st = lp_broker_stats(f->b[w]);

		s += st->ops_sent + st->ops_received + st->delivered + st->published + st->routed_local;
	}
	for (unsigned i = 0; i < f->n_cl; i++)
		s += f->cl[i]->bytes_read + f->cl[i]->n_ev + f->cl[i]->in_len;
	return s + resumes;
}

/* Poll worker 0, then worker 1; clients read all they got (unless stuck)
 * and send what they kept back. Until nothing moves for 3 rounds. */
static void pump(struct fx *f)
{
	uint64_t last = progress(f);
	unsigned still = 0;

	for (unsigned round = 0; round < 2000 && still < 3; round++) {
		for (unsigned w = 0; w < N_W; w++)
			lp_broker_poll(f->b[w]);
		for (unsigned i = 0; i < f->n_cl; i++) {
			if (!f->cl[i]->stuck)
				client_read(f->cl[i], SIZE_MAX);
			client_feed(f->cl[i]);
		}
		uint64_t now = progress(f);

		still = now == last ? still + 1 : 0;
		last = now;
	}
	assert_int_equal(still, 3);
}

static int group_setup(void **state)
{
	char prefix[64];

	(void)state;
	snprintf(prefix, sizeof(prefix), "--file-prefix=lp-ut-broker-%d", (int)getpid());
	char *argv[] = {"test_broker", "--no-huge", "-m", "512", "--no-pci", "--no-telemetry",
			"--log-level=error", prefix, "-l", "0", NULL};

	return rte_eal_init((int)(sizeof(argv) / sizeof(argv[0])) - 1, argv) < 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
	(void)state;
	rte_eal_cleanup();
	return 0;
}


/* Both shards, on a new mesh; data_dir: their journals (NULL: none). */
static void fx_brokers(struct fx *f, const char *data_dir)
{
	struct lp_broker_config bc;

	f->mesh = lp_mesh_create(N_W, 1024);
	assert_non_null(f->mesh);
	lp_broker_config_default(&bc);
	bc.max_messages = POOL;
	bc.body_max = 16384;
	bc.max_queues = 32;
	bc.queue_capacity = f->sizes.queue_capacity;
	bc.page_after = f->sizes.page_after;
	bc.page_entries = 65536;
	bc.segment_bytes = f->sizes.segment_bytes;
	bc.max_channels = 64;
	bc.max_consumers = 64;
	bc.data_dir = data_dir;
	for (unsigned i = 0; i < N_W; i++) {
		f->b[i] = lp_broker_create(i, &bc, NULL, NULL, f->mesh);
		assert_non_null(f->b[i]);
	}
}

static struct fx *fx_create(const char *data_dir)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->auth = lp_amqp_auth_create(4, 4);
	assert_non_null(f->auth);
	assert_int_equal(lp_amqp_auth_add_defaults(f->auth), 0);
	f->tb = lp_topology_builder_create();
	assert_non_null(f->tb);
	f->sizes = fx_next_sizes;
	fx_brokers(f, data_dir);
	lp_amqp_conn_cfg_default(&f->cfg);
	f->cfg.heartbeat = 0;
	return f;
}

static int setup(void **state)
{
	struct fx *f = fx_create(NULL);

	topo_base(f);
	*state = f;
	return 0;
}

/* The brokers go, then their clients: whatever is still queued, staged, in
 * a ring or held back is released, and both message pools must be full
 * again (what is in a journal stays there). */
static void fx_stop(struct fx *f)
{
	for (unsigned i = 0; i < N_W; i++)
		lp_broker_drop_messages(f->b[i]);
	lp_mesh_destroy(f->mesh);
	for (unsigned i = 0; i < N_W; i++)
		assert_int_equal(pool_free(f, i), POOL);
	for (unsigned i = 0; i < N_W; i++)
		lp_broker_destroy(f->b[i]);
	for (unsigned i = 0; i < f->n_cl; i++) {
		lp_amqp_conn_release(f->cl[i]->c);
		free(f->cl[i]->in);
		free(f->cl[i]->ev);
		free(f->cl[i]->rd_buf);
		free(f->cl[i]->mem);
		free(f->cl[i]);
	}
	f->n_cl = 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Every test ends here (see fx_stop); a journal directory is removed. */
static int teardown(void **state)
{
	struct fx *f = *state;

	fx_stop(f);
	for (unsigned i = 0; i < f->n_topo; i++)
		lp_topology_free(f->topo[i]);
	lp_topology_builder_destroy(f->tb);
	lp_amqp_auth_destroy(f->auth);
	if (f->dir[0] != '\0')
		assert_int_equal(nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS), 0);
	free(f);
	return 0;
}

/* ---- what clients send ---------------------------------------------------- */

/* Basic.Publish with a body of body_len octets starting with seq;
 * delivery_mode 0: no properties, 2: persistent. */
static void publish_flags(struct client *k, uint16_t ch, const char *x, const char *rkey,
			  uint32_t seq, size_t body_len, uint8_t delivery_mode, bool immediate);

static void publish_mode(struct client *k, uint16_t ch, const char *x, const char *rkey,
			 uint32_t seq, size_t body_len, uint8_t delivery_mode)
{
	publish_flags(k, ch, x, rkey, seq, body_len, delivery_mode, false);
}

/* Basic.Publish (immediate as given) with its content: a body of body_len
 * octets starting with seq. */
static void publish_props(struct client *k, uint16_t ch, const char *x, const char *rkey,
			  uint32_t seq, size_t body_len, const struct lp_amqp_basic_properties *props,
			  bool immediate);

static void publish_flags(struct client *k, uint16_t ch, const char *x, const char *rkey,
			  uint32_t seq, size_t body_len, uint8_t delivery_mode, bool immediate)
{
	struct lp_amqp_basic_properties props = {0};

	if (delivery_mode != 0) {
		props.flags = LP_AMQP_BASIC_DELIVERY_MODE_FLAG;
		props.delivery_mode = delivery_mode;
	}
	publish_props(k, ch, x, rkey, seq, body_len, &props, immediate);
}

/* Basic.Publish with props. */
static void publish_props(struct client *k, uint16_t ch, const char *x, const char *rkey,
			  uint32_t seq, size_t body_len, const struct lp_amqp_basic_properties *props,
			  bool immediate)
{
	size_t cap = body_len + 2048;
	uint8_t *buf = malloc(cap), *body = malloc(body_len + 4);
	struct lp_amqp_outbuf o;
	struct lp_amqp_method m = {.id = LP_AMQP_BASIC_PUBLISH};

	assert_non_null(buf);
	assert_non_null(body);
	memset(body, 0xab, body_len);
	memcpy(body, &seq, sizeof(seq));
	m.basic_publish.exchange = lp_amqp_cstr(x);
	m.basic_publish.routing_key = lp_amqp_cstr(rkey);
	m.basic_publish.immediate = immediate;
	lp_amqp_outbuf_init(&o, buf, cap);
	assert_true(lp_amqp_frame_write_method(&o, ch, &m, FRAME_MAX) > 0);
	assert_true(lp_amqp_frame_write_content(&o, ch, props, body, body_len, FRAME_MAX) > 0);
	client_send(k, buf, o.tail);
	free(buf);
	free(body);
}

static void publish_x(struct client *k, uint16_t ch, const char *x, const char *rkey, uint32_t seq,
		      size_t body_len)
{
	publish_mode(k, ch, x, rkey, seq, body_len, 0);
}

static void publish(struct client *k, const char *queue, uint32_t seq, size_t body_len)
{
	publish_x(k, 1, "", queue, seq, body_len);
}

static void basic_qos(struct client *k, uint16_t ch, uint16_t prefetch)
{
	struct lp_amqp_method m = {.id = LP_AMQP_BASIC_QOS};

	m.basic_qos.prefetch_count = prefetch;
	client_method(k, ch, &m);
}

static void basic_consume(struct client *k, uint16_t ch, const char *queue, const char *tag,
			  bool no_ack)
{
	struct lp_amqp_method m = {.id = LP_AMQP_BASIC_CONSUME};

	m.basic_consume.queue = lp_amqp_cstr(queue);
	m.basic_consume.consumer_tag = lp_amqp_cstr(tag);
	m.basic_consume.no_ack = no_ack;
	client_method(k, ch, &m);
}

/* Basic.Consume and its Consume-Ok (the owner may be the other shard). */
static void consume_ok(struct fx *f, struct client *k, uint16_t ch, const char *queue,
		       const char *tag)
{
	unsigned before = count_ev(k, LP_AMQP_BASIC_CONSUME_OK);

	basic_consume(k, ch, queue, tag, false);
	pump(f);
	assert_int_equal(count_ev(k, LP_AMQP_BASIC_CONSUME_OK), before + 1);
	assert_string_equal(nth_ev(k, LP_AMQP_BASIC_CONSUME_OK, before)->name, tag);
}

static void basic_ack(struct client *k, uint16_t ch, uint64_t tag, bool multiple)
{
	struct lp_amqp_method m = {.id = LP_AMQP_BASIC_ACK};

	m.basic_ack.delivery_tag = tag;
	m.basic_ack.multiple = multiple;
	client_method(k, ch, &m);
}

static void basic_nack(struct client *k, uint16_t ch, uint64_t tag, bool multiple, bool requeue)
{
	struct lp_amqp_method m = {.id = LP_AMQP_BASIC_NACK};

	m.basic_nack.delivery_tag = tag;
	m.basic_nack.multiple = multiple;
	m.basic_nack.requeue = requeue;
	client_method(k, ch, &m);
}

static void basic_reject(struct client *k, uint16_t ch, uint64_t tag, bool requeue)
{
	struct lp_amqp_method m = {.id = LP_AMQP_BASIC_REJECT};

	m.basic_reject.delivery_tag = tag;
	m.basic_reject.requeue = requeue;
	client_method(k, ch, &m);
}

static void basic_get(struct client *k, uint16_t ch, const char *queue, bool no_ack)
{
	struct lp_amqp_method m = {.id = LP_AMQP_BASIC_GET};

	m.basic_get.queue = lp_amqp_cstr(queue);
	m.basic_get.no_ack = no_ack;
	client_method(k, ch, &m);
}

static void basic_cancel(struct client *k, uint16_t ch, const char *tag)
{
	struct lp_amqp_method m = {.id = LP_AMQP_BASIC_CANCEL};

	m.basic_cancel.consumer_tag = lp_amqp_cstr(tag);
	client_method(k, ch, &m);
}

static void channel_open(struct client *k, uint16_t ch)
{
	struct lp_amqp_method m = {.id = LP_AMQP_CHANNEL_OPEN};

	client_method(k, ch, &m);
}

static void channel_close(struct client *k, uint16_t ch)
{
	struct lp_amqp_method m = {.id = LP_AMQP_CHANNEL_CLOSE};

	m.channel_close.reply_code = 200;
	m.channel_close.reply_text = lp_amqp_cstr("bye");
	client_method(k, ch, &m);
}

/* The client's Basic.Deliver frames: n of them, tags first_tag.. in frame
 * order, bodies with seq[i] (NULL: any), redelivered as given. */
static void assert_deliveries(const struct client *k, unsigned n, uint64_t first_tag,
			      const uint32_t *seq, bool redelivered, const char *ctag)
{
	assert_int_equal(count_ev(k, LP_AMQP_BASIC_DELIVER), n);
	for (unsigned i = 0; i < n; i++) {
		const struct ev *e = nth_ev(k, LP_AMQP_BASIC_DELIVER, i);

		assert_int_equal(e->tag, first_tag + i);
		assert_int_equal(e->redelivered, redelivered);
		if (seq != NULL)
			assert_int_equal(e->seq, seq[i]);
		if (ctag != NULL)
			assert_string_equal(e->name, ctag);
	}
}

/* ---- cases ------------------------------------------------------------------ */

/* Publisher and consumer on worker 0, the queue on worker 1: every message
 * once, in order, tags 1..N; single, out-of-order and multiple acks reach
 * the owner, whose queue ends with nothing ready or unacked. */
static void remote_queue_delivers_in_order_and_acks_reach_owner(void **state)
{
	struct fx *f = *state;
	struct client *p = client_open(f, 0), *c = client_open(f, 0);
	enum { N = 300 };
	static uint32_t seq[N];

	consume_ok(f, c, 1, "q1", "c1");
	for (uint32_t i = 0; i < N; i++) {
		publish(p, "q1", i, SMALL);
		seq[i] = i;
	}
	pump(f);
	assert_deliveries(c, N, 1, seq, false, "c1");
	assert_int_equal(lp_broker_stats(f->b[0])->routed_remote, N);
	assert_int_equal(lp_broker_stats(f->b[1])->routed_local, N);
	assert_int_equal(lp_broker_stats(f->b[0])->delivered, N);

	struct lp_queue *q = owner_queue(f, "q1");

	assert_non_null(q);
	assert_null(owner_queue(f, "q0")); /* only what was used exists */
	assert_int_equal(lp_queue_unacked_count(q), N);
	assert_int_equal(lp_queue_message_count(q), 0);
	assert_int_equal(pool_free(f, 0), POOL - N); /* messages live in the publisher's pool */

	basic_ack(c, 1, 3, false);
	basic_ack(c, 1, 1, false);
	pump(f);
	assert_int_equal(lp_queue_unacked_count(q), N - 2);
	basic_ack(c, 1, 100, true); /* 2, 4..100 */
	pump(f);
	assert_int_equal(lp_queue_unacked_count(q), N - 100);
	for (uint64_t t = 101; t <= 150; t++)
		basic_ack(c, 1, t, false);
	basic_ack(c, 1, 200, false);
	pump(f);
	assert_int_equal(lp_queue_unacked_count(q), N - 151);
	basic_ack(c, 1, N, true);
	pump(f);
	assert_int_equal(lp_queue_unacked_count(q), 0);
	assert_int_equal(lp_queue_message_count(q), 0);
	assert_int_equal(pool_free(f, 0), POOL);
	assert_no_close(c);
	assert_no_close(p);
	/* An ack for a tag already settled is a channel error (406, spec 1.8.3.13). */
	basic_ack(c, 1, 3, false);
	pump(f);
	assert_int_equal(count_ev(c, LP_AMQP_CHANNEL_CLOSE), 1);
	assert_int_equal(nth_ev(c, LP_AMQP_CHANNEL_CLOSE, 0)->code, LP_AMQP_PRECONDITION_FAILED);
}

/* Basic.Qos on a remote queue: the owner stops at the prefetch count, acks
 * (travelling back to the owner) open it again. */
static void remote_prefetch_is_enforced_by_owner(void **state)
{
	struct fx *f = *state;
	struct client *p = client_open(f, 0), *c = client_open(f, 0);

	basic_qos(c, 1, 5);
	consume_ok(f, c, 1, "q1", "pf");
	for (uint32_t i = 0; i < 20; i++)
		publish(p, "q1", i, SMALL);
	pump(f);
	assert_deliveries(c, 5, 1, NULL, false, "pf");
	assert_int_equal(lp_queue_message_count(owner_queue(f, "q1")), 15);
	basic_ack(c, 1, 3, true);
	pump(f);
	assert_int_equal(count_ev(c, LP_AMQP_BASIC_DELIVER), 8);
	basic_ack(c, 1, 8, true);
	pump(f);
	assert_int_equal(count_ev(c, LP_AMQP_BASIC_DELIVER), 13);
	basic_ack(c, 1, 13, true);
	pump(f);
	basic_ack(c, 1, 18, true);
	pump(f);
	basic_ack(c, 1, 20, true);
	pump(f);
	uint32_t seq[20];

	for (uint32_t i = 0; i < 20; i++)
		seq[i] = i;
	assert_deliveries(c, 20, 1, seq, false, "pf");
	assert_int_equal(lp_queue_unacked_count(owner_queue(f, "q1")), 0);
	assert_no_close(c);
}

/* Fanout to 8 queues, 4 on each shard: one message in the publisher's pool
 * shared by all (refcount), freed by the last ack only. */
static void fanout_shares_one_message_across_shards(void **state)
{
	struct fx *f = *state;
	struct client *p = client_open(f, 0), *c = client_open(f, 0);
	char q[8];
	bool seen[8] = {0};

	publish_x(p, 1, "fx", "", 0, SMALL);
	pump(f);
	assert_int_equal(pool_free(f, 0), POOL - 1);
	assert_int_equal(pool_free(f, 1), POOL);
	assert_int_equal(lp_broker_stats(f->b[0])->routed_local, 4);
	assert_int_equal(lp_broker_stats(f->b[0])->routed_remote, 4);
	assert_int_equal(lp_broker_stats(f->b[1])->routed_local, 4);
	for (unsigned i = 0; i < 8; i++) {
		snprintf(q, sizeof(q), "f%u", i);
		assert_int_equal(lp_queue_message_count(owner_queue(f, q)), 1);
		consume_ok(f, c, 1, q, q);
	}
	pump(f);
	assert_deliveries(c, 8, 1, NULL, false, NULL);
	for (unsigned i = 0; i < 8; i++) {
		const struct ev *e = nth_ev(c, LP_AMQP_BASIC_DELIVER, i);

		assert_int_equal(e->seq, 0);
		assert_int_equal(e->body_len, SMALL);
		assert_true(e->name[0] == 'f' && e->name[1] >= '0' && e->name[1] < '8');
		assert_false(seen[e->name[1] - '0']);
		seen[e->name[1] - '0'] = true;
	}
	/* Seven acks, in delivery order: the message stays. */
	for (unsigned i = 0; i < 7; i++) {
		basic_ack(c, 1, nth_ev(c, LP_AMQP_BASIC_DELIVER, i)->tag, false);
		pump(f);
		assert_int_equal(pool_free(f, 0), POOL - 1);
	}
	basic_ack(c, 1, 8, false);
	pump(f);
	assert_int_equal(pool_free(f, 0), POOL);

	/* 50 more: 400 deliveries, each queue's in order, one multiple ack. */
	client_clear(c);
	for (uint32_t i = 1; i <= 50; i++)
		publish_x(p, 1, "fx", "", i, SMALL);
	pump(f);
	assert_int_equal(pool_free(f, 0), POOL - 50);
	assert_deliveries(c, 400, 9, NULL, false, NULL);
	uint32_t next[8];

	for (unsigned i = 0; i < 8; i++)
		next[i] = 1;
	for (unsigned i = 0; i < 400; i++) {
		const struct ev *e = nth_ev(c, LP_AMQP_BASIC_DELIVER, i);
		unsigned qi = (unsigned)(e->name[1] - '0');

		assert_int_equal(e->seq, next[qi]++);
	}
	basic_ack(c, 1, 408, true);
	pump(f);
	for (unsigned i = 0; i < 8; i++) {
		snprintf(q, sizeof(q), "f%u", i);
		assert_int_equal(lp_queue_unacked_count(owner_queue(f, q)), 0);
	}
	assert_pools_full(f);
	assert_no_close(c);
}

/* Nack (multiple, requeue), reject (requeue and drop), recover: requeued
 * messages come back redelivered, in their original order, with new tags. */
static void nack_reject_recover_redeliver_in_order(void **state)
{
	struct fx *f = *state;
	struct client *p = client_open(f, 0), *c = client_open(f, 0);
	struct lp_queue *q;

	consume_ok(f, c, 1, "q1", "n1");
	for (uint32_t i = 0; i < 5; i++)
		publish(p, "q1", i, SMALL);
	pump(f);
	assert_deliveries(c, 5, 1, (uint32_t[]){0, 1, 2, 3, 4}, false, "n1");
	q = owner_queue(f, "q1");

	client_clear(c);
	basic_nack(c, 1, 3, true, true); /* seq 0, 1, 2 back */
	pump(f);
	assert_deliveries(c, 3, 6, (uint32_t[]){0, 1, 2}, true, "n1");

	client_clear(c);
	basic_reject(c, 1, 4, true); /* seq 3 back */
	pump(f);
	assert_deliveries(c, 1, 9, (uint32_t[]){3}, true, "n1");

	client_clear(c);
	basic_reject(c, 1, 5, false); /* seq 4 dropped */
	pump(f);
	assert_int_equal(count_ev(c, LP_AMQP_BASIC_DELIVER), 0);
	assert_int_equal(pool_free(f, 0), POOL - 4);
	assert_int_equal(lp_queue_unacked_count(q), 4);

	/* Basic.Recover requeue=true: tags 6..9 (seq 0..3) again, in order. */
	struct lp_amqp_method m = {.id = LP_AMQP_BASIC_RECOVER};

	m.basic_recover.requeue = true;
	client_method(c, 1, &m);
	pump(f);
	assert_int_equal(count_ev(c, LP_AMQP_BASIC_RECOVER_OK), 1);
	assert_deliveries(c, 4, 10, (uint32_t[]){0, 1, 2, 3}, true, "n1");
	basic_ack(c, 1, 13, true);
	pump(f);
	assert_int_equal(lp_queue_unacked_count(q), 0);
	assert_int_equal(lp_queue_message_count(q), 0);
	assert_pools_full(f);
	assert_no_close(c);
}

/* Closing a channel with unacked deliveries from the other shard requeues
 * them in order, redelivered; a consumer on the owner's worker gets them. */
static void channel_close_requeues_remote_unacked(void **state)
{
	struct fx *f = *state;
	struct client *p = client_open(f, 0), *c0 = client_open(f, 0), *c1 = client_open(f, 1);
	struct lp_queue *q;

	consume_ok(f, c0, 1, "q1", "gone");
	for (uint32_t i = 0; i < 10; i++)
		publish(p, "q1", i, SMALL);
	pump(f);
	assert_deliveries(c0, 10, 1, NULL, false, "gone");
	basic_ack(c0, 1, 2, false); /* seq 1 done */
	pump(f);
	q = owner_queue(f, "q1");
	assert_int_equal(lp_queue_unacked_count(q), 9);

	client_clear(c0);
	channel_close(c0, 1);
	pump(f);
	assert_int_equal(count_ev(c0, LP_AMQP_CHANNEL_CLOSE_OK), 1);
	assert_int_equal(count_ev(c0, LP_AMQP_BASIC_DELIVER), 0);
	assert_int_equal(lp_queue_unacked_count(q), 0);
	assert_int_equal(lp_queue_message_count(q), 9);
	assert_int_equal(lp_queue_consumer_count(q), 0);

	consume_ok(f, c1, 1, "q1", "next");
	assert_deliveries(c1, 9, 1, (uint32_t[]){0, 2, 3, 4, 5, 6, 7, 8, 9}, true, "next");
	basic_ack(c1, 1, 9, true);
	pump(f);
	assert_int_equal(lp_queue_unacked_count(q), 0);
	assert_pools_full(f);

	/* And the other way: a worker-1 channel with unacked deliveries of a
	 * worker-0 queue closes; a worker-0 consumer gets them. */
	client_clear(c0);
	client_clear(c1);
	channel_open(c0, 2);
	channel_open(c1, 2);
	pump(f);
	consume_ok(f, c1, 2, "q0", "w1");
	for (uint32_t i = 0; i < 4; i++)
		publish(p, "q0", 100 + i, SMALL);
	pump(f);
	assert_deliveries(c1, 4, 1, (uint32_t[]){100, 101, 102, 103}, false, "w1");
	channel_close(c1, 2);
	pump(f);
	consume_ok(f, c0, 2, "q0", "w0");
	assert_deliveries(c0, 4, 1, (uint32_t[]){100, 101, 102, 103}, true, "w0");
	basic_ack(c0, 2, 4, true);
	pump(f);
	assert_pools_full(f);
	assert_no_close(c0);
	assert_no_close(c1);
}

/* Basic.Get from a queue on the other shard: Get-Ok with the messages left,
 * Get-Empty, no-ack, and acks/nacks back to the owner. */
static void basic_get_from_remote_queue(void **state)
{
	struct fx *f = *state;
	struct client *p = client_open(f, 0), *c = client_open(f, 0);
	struct lp_queue *q;

	basic_get(c, 1, "g1", false);
	pump(f);
	assert_int_equal(count_ev(c, LP_AMQP_BASIC_GET_EMPTY), 1);
	for (uint32_t i = 0; i < 3; i++)
		publish(p, "g1", i, SMALL);
	pump(f);
	client_clear(c);
	basic_get(c, 1, "g1", false);
	basic_get(c, 1, "g1", true);
	basic_get(c, 1, "g1", false);
	basic_get(c, 1, "g1", false);
	pump(f);
	assert_int_equal(count_ev(c, LP_AMQP_BASIC_GET_OK), 3);
	assert_int_equal(count_ev(c, LP_AMQP_BASIC_GET_EMPTY), 1);
	for (unsigned i = 0; i < 3; i++) {
		const struct ev *e = nth_ev(c, LP_AMQP_BASIC_GET_OK, i);

		assert_int_equal(e->tag, i + 1);
		assert_int_equal(e->count, 2 - i);
		assert_int_equal(e->seq, i);
		assert_false(e->redelivered);
		assert_int_equal(e->body_len, SMALL);
	}
	/* Get-Empty came last, after the three answers (the channel waits). */
	assert_int_equal(c->ev[c->n_ev - 1].method, LP_AMQP_BASIC_GET_EMPTY);
	q = owner_queue(f, "g1");
	assert_int_equal(lp_queue_unacked_count(q), 2); /* tag 2 was no-ack */
	assert_int_equal(pool_free(f, 0), POOL - 2);

	client_clear(c);
	basic_nack(c, 1, 3, false, true);
	basic_get(c, 1, "g1", false);
	pump(f);
	assert_int_equal(count_ev(c, LP_AMQP_BASIC_GET_OK), 1);
	assert_int_equal(nth_ev(c, LP_AMQP_BASIC_GET_OK, 0)->tag, 4);
	assert_true(nth_ev(c, LP_AMQP_BASIC_GET_OK, 0)->redelivered);
	assert_int_equal(nth_ev(c, LP_AMQP_BASIC_GET_OK, 0)->seq, 2);
	assert_int_equal(nth_ev(c, LP_AMQP_BASIC_GET_OK, 0)->count, 0);
	basic_ack(c, 1, 1, false);
	basic_ack(c, 1, 4, false);
	pump(f);
	assert_int_equal(lp_queue_unacked_count(q), 0);
	assert_pools_full(f);
	assert_no_close(c);
}

/* Basic.Cancel of a consumer on another shard's queue: Cancel-Ok, no more
 * deliveries, its unacked deliveries stay with the channel (RabbitMQ). */
static void cancel_remote_consumer(void **state)
{
	struct fx *f = *state;
	struct client *p = client_open(f, 0), *c = client_open(f, 0);
	struct lp_queue *q;

	consume_ok(f, c, 1, "q1", "k");
	for (uint32_t i = 0; i < 3; i++)
		publish(p, "q1", i, SMALL);
	pump(f);
	assert_deliveries(c, 3, 1, (uint32_t[]){0, 1, 2}, false, "k");
	q = owner_queue(f, "q1");
	assert_int_equal(lp_queue_consumer_count(q), 1);
	basic_cancel(c, 1, "k");
	pump(f);
	assert_int_equal(count_ev(c, LP_AMQP_BASIC_CANCEL_OK), 1);
	assert_string_equal(nth_ev(c, LP_AMQP_BASIC_CANCEL_OK, 0)->name, "k");
	assert_int_equal(lp_queue_consumer_count(q), 0);
	assert_int_equal(lp_queue_unacked_count(q), 3);
	publish(p, "q1", 3, SMALL);
	publish(p, "q1", 4, SMALL);
	pump(f);
	assert_int_equal(count_ev(c, LP_AMQP_BASIC_DELIVER), 3);
	assert_int_equal(lp_queue_message_count(q), 2);
	basic_ack(c, 1, 3, true);
	pump(f);
	assert_int_equal(lp_queue_unacked_count(q), 0);
	/* The tag is free again. */
	client_clear(c);
	consume_ok(f, c, 1, "q1", "k");
	assert_deliveries(c, 2, 4, (uint32_t[]){3, 4}, false, "k");
	basic_ack(c, 1, 5, true);
	pump(f);
	assert_pools_full(f);
	assert_no_close(c);
}

/* A snapshot without the queue: its owner drops it and every consumer whose
 * client announced consumer_cancel_notify gets Basic.Cancel (local and
 * remote); one that did not announce it gets nothing. */
static void queue_delete_notifies_consumers(void **state)
{
	struct fx *f = *state;
	struct client *p = client_open(f, 0);
	struct client *a = client_open(f, 0);                      /* remote, notify */
	struct client *b = client_open_caps(f, 0, false, &f->cfg); /* remote, no notify */
	struct client *c = client_open(f, 1);                      /* owner's worker, notify */

	consume_ok(f, a, 1, "d1", "ka");
	consume_ok(f, b, 1, "d1", "kb");
	consume_ok(f, c, 1, "d1", "kc");
	for (uint32_t i = 0; i < 6; i++)
		publish(p, "d1", i, SMALL);
	pump(f);
	assert_int_equal(count_ev(a, LP_AMQP_BASIC_DELIVER) + count_ev(b, LP_AMQP_BASIC_DELIVER) +
				 count_ev(c, LP_AMQP_BASIC_DELIVER),
			 6);
	assert_int_equal(lp_queue_consumer_count(owner_queue(f, "d1")), 3);

	topo_queue(f, LP_CTL_OP_DEL, "d1", 1);
	topo_publish(f);
	pump(f);
	assert_null(owner_queue(f, "d1"));
	assert_int_equal(count_ev(a, LP_AMQP_BASIC_CANCEL), 1);
	assert_string_equal(nth_ev(a, LP_AMQP_BASIC_CANCEL, 0)->name, "ka");
	assert_int_equal(count_ev(b, LP_AMQP_BASIC_CANCEL), 0);
	assert_int_equal(count_ev(c, LP_AMQP_BASIC_CANCEL), 1);
	assert_string_equal(nth_ev(c, LP_AMQP_BASIC_CANCEL, 0)->name, "kc");
	/* The queue's messages went with it, unacked ones included. */
	assert_pools_full(f);
	/* Acks of deliveries from the deleted queue are no errors. */
	basic_ack(a, 1, 0, true);
	basic_ack(b, 1, 0, true);
	basic_ack(c, 1, 0, true);
	pump(f);
	/* The consumers are gone on their own workers too: the tags are free. */
	consume_ok(f, a, 1, "q1", "ka");
	consume_ok(f, b, 1, "q1", "kb");
	consume_ok(f, c, 1, "q1", "kc");
	assert_no_close(a);
	assert_no_close(b);
	assert_no_close(c);
}

/* Back-pressure: a consumer whose send buffer is not drained loses nothing;
 * draining it (in uneven pieces, as TCP windows open) resumes the
 * deliveries. remote: the queue is on the other shard. */
static void undrained_consumer(struct fx *f, unsigned consumer_worker)
{
	enum { N = 600, BODY = 4000 };
	struct client *p = client_open(f, 0), *c = client_open(f, consumer_worker);
	static uint32_t seq[N];
	struct lp_queue *q;

	consume_ok(f, c, 1, "q1", "bp");
	c->stuck = true;
	for (uint32_t i = 0; i < N; i++) {
		publish(p, "q1", i, BODY);
		seq[i] = i;
	}
	pump(f);
	q = owner_queue(f, "q1");
	uint64_t delivered = lp_broker_stats(f->b[consumer_worker])->delivered;
	const uint8_t *out;

	assert_true(delivered > 0);
	assert_true(delivered < N);
	assert_true(lp_amqp_conn_output_peek(c->c, &out) <= f->cfg.outbuf_size);
	/* Nothing lost: what was not written is queued or in flight. */
	assert_int_equal(lp_queue_message_count(q) + lp_queue_unacked_count(q), N);
	assert_int_equal(pool_free(f, 0), POOL - N);
	for (unsigned round = 0; round < 100000 && count_ev(c, LP_AMQP_BASIC_DELIVER) < N; round++) {
		lp_broker_poll(f->b[0]);
		lp_broker_poll(f->b[1]);
		client_read(c, 3000 + (round * 7919) % 40000);
	}
	c->stuck = false;
	pump(f);
	assert_deliveries(c, N, 1, seq, false, "bp");
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(nth_ev(c, LP_AMQP_BASIC_DELIVER, i)->body_len, BODY);
	basic_ack(c, 1, N, true);
	pump(f);
	assert_int_equal(lp_queue_unacked_count(q), 0);
	assert_int_equal(lp_queue_message_count(q), 0);
	assert_pools_full(f);
	assert_no_close(c);
}

static void undrained_remote_consumer_loses_nothing(void **state)
{
	undrained_consumer(*state, 0);
}

static void undrained_local_consumer_loses_nothing(void **state)
{
	undrained_consumer(*state, 1);
}

/* Messages everywhere at teardown: in the owner's queues (ready and
 * unacked), deliveries held back for a full connection, operations in a
 * ring and staged for one: the teardown (drop, mesh destroy) frees them
 * all and checks the pools. */
static void teardown_releases_messages_in_flight(void **state)
{
	struct fx *f = *state;
	struct client *p = client_open(f, 0), *c = client_open(f, 0);
	struct lp_broker *b0 = shard_of(f, 0);

	consume_ok(f, c, 1, "q1", "t");
	c->stuck = true;
	for (uint32_t i = 0; i < 300; i++)
		publish(p, "q1", i, 4000);
	publish_x(p, 1, "fx", "", 1000, SMALL);
	pump(f);
	assert_true(b0->n_backlogged > 0); /* deliveries kept back for the stuck channel */
	for (uint32_t i = 0; i < 20; i++)
		publish(p, "q0", i, SMALL);
	for (uint32_t i = 0; i < 7; i++)
		publish(p, "q1", 500 + i, SMALL);
	lp_broker_poll(f->b[0]);
	assert_true(rte_ring_count(lp_mesh_ring(f->mesh, 0, 1, LP_MESH_DATA)) > 0); /* publishes */
	for (uint32_t i = 0; i < 5; i++)
		publish(p, "q1", 600 + i, SMALL);
	assert_true(b0->out[LP_MESH_DATA * 2 + 1].n > 0); /* staged on the data lane, not flushed */
	assert_true(pool_free(f, 0) < POOL - 300);
}

/* ---- the ring mesh on its own ------------------------------------------------ */

static void mesh_rings_round_trip_and_destroy_releases(void **state)
{
	(void)state;
	struct lp_msg_pool *pool = lp_msg_pool_create(16, 64, 64);
	struct lp_mesh *m = lp_mesh_create(3, 64), *m2;
	struct lp_ring_op op, back;

	assert_non_null(pool);
	assert_non_null(m);
	assert_int_equal(lp_mesh_workers(m), 3);
	for (unsigned s = 0; s < 3; s++) {
		assert_non_null(lp_mesh_to_main(m, s));
		assert_non_null(lp_mesh_from_main(m, s));
		assert_ptr_not_equal(lp_mesh_to_main(m, s), lp_mesh_from_main(m, s));
		for (unsigned d = 0; d < 3; d++) {
			if (s == d)
				continue;
			struct rte_ring *r = lp_mesh_ring(m, s, d, LP_MESH_CTL);

			assert_non_null(r);
			assert_non_null(lp_mesh_ring(m, s, d, LP_MESH_DATA));
			assert_ptr_not_equal(r, lp_mesh_ring(m, s, d, LP_MESH_DATA));
			assert_int_equal(rte_ring_get_capacity(r), 63);
			assert_true(rte_ring_is_prod_single(r));
			assert_true(rte_ring_is_cons_single(r));
			for (unsigned s2 = 0; s2 < 3; s2++)
				for (unsigned d2 = 0; d2 < 3; d2++)
					if (s2 != d2 && (s2 != s || d2 != d))
						assert_ptr_not_equal(r, lp_mesh_ring(m, s2, d2, LP_MESH_CTL));
		}
	}
	/* A second mesh at the same time: its rings have their own names. */
	m2 = lp_mesh_create(2, 64);
	assert_non_null(m2);
	lp_mesh_destroy(m2);

	/* One operation through ring 0 -> 2, every field intact. */
	struct lp_msg *msg = lp_msg_create(pool, "x", 1, "k", 1, NULL, 0, "body", 4, 0);

	assert_non_null(msg);
	op = (struct lp_ring_op){.type = LP_OP_DELIVER, .flags = LP_OP_F_REDELIVERED, .src = 0,
				  .qid = 77, .chan = lp_chan_id(2, 5, 9), .aux = 1234,
				  .tag = UINT64_MAX - 1, .ptr = msg};
	assert_int_equal(rte_ring_enqueue_elem(lp_mesh_ring(m, 0, 2, LP_MESH_CTL), &op, sizeof(op)), 0);
	assert_int_equal(rte_ring_count(lp_mesh_ring(m, 2, 0, LP_MESH_CTL)), 0);
	assert_int_equal(rte_ring_dequeue_elem(lp_mesh_ring(m, 0, 2, LP_MESH_CTL), &back, sizeof(back)), 0);
	assert_memory_equal(&op, &back, sizeof(op));
	assert_int_equal(lp_chan_worker(back.chan), 2);
	assert_int_equal(lp_id_slot(back.chan), 9);

	/* Left in rings at destroy: message references are released, other
	 * operations' pointers are not touched, main-lcore blocks are freed. */
	lp_msg_ref(msg, 2);
	op.type = LP_OP_ENQUEUE;
	assert_int_equal(rte_ring_enqueue_elem(lp_mesh_ring(m, 1, 0, LP_MESH_CTL), &op, sizeof(op)), 0);
	op.type = LP_OP_GET_REPLY;
	assert_int_equal(rte_ring_enqueue_elem(lp_mesh_ring(m, 2, 1, LP_MESH_CTL), &op, sizeof(op)), 0);
	op.type = LP_OP_DELIVER;
	assert_int_equal(rte_ring_enqueue_elem(lp_mesh_ring(m, 0, 1, LP_MESH_CTL), &op, sizeof(op)), 0);
	op = (struct lp_ring_op){.type = LP_OP_GET_REPLY}; /* Get-Empty: no message */
	assert_int_equal(rte_ring_enqueue_elem(lp_mesh_ring(m, 1, 2, LP_MESH_CTL), &op, sizeof(op)), 0);
	op = (struct lp_ring_op){.type = LP_OP_SETTLE, .tag = 3};
	assert_int_equal(rte_ring_enqueue_elem(lp_mesh_ring(m, 1, 2, LP_MESH_CTL), &op, sizeof(op)), 0);
	assert_int_equal(lp_msg_refcnt(msg), 3);
	assert_int_equal(lp_msg_pool_available(pool), 15);
	/* Relay messages: requests leave the reserve to notices; none is lost. */
	static struct relay_msg *got[LP_MESH_RELAY_MSGS + 1];
	unsigned n_req = 0, n_all;

	while ((got[n_req] = lp_mesh_relay_get(m, 1, false)) != NULL)
		n_req++;
	assert_int_equal(n_req, LP_MESH_RELAY_MSGS - LP_MESH_RELAY_RESERVE);
	for (n_all = n_req; (got[n_all] = lp_mesh_relay_get(m, 1, true)) != NULL;)
		n_all++;
	assert_int_equal(n_all, LP_MESH_RELAY_MSGS);
	assert_non_null(lp_mesh_relay_get(m, 0, false)); /* worker 0's own pool */
	for (unsigned i = 1; i < n_all; i++)
		lp_mesh_relay_put(got[i]);
	assert_int_equal(rte_ring_enqueue(lp_mesh_to_main(m, 1), got[0]), 0);
	assert_int_equal(rte_ring_enqueue(lp_mesh_from_main(m, 2), calloc(1, 64)), 0);
	lp_mesh_destroy(m);
	assert_int_equal(lp_msg_pool_available(pool), 16);
	lp_mesh_destroy(NULL);

	/* Out of range. */
	rte_errno = 0;
	assert_null(lp_mesh_create(0, 64));
	assert_int_equal(rte_errno, EINVAL);
	assert_null(lp_mesh_create(256, 64));
	assert_int_equal(rte_errno, EINVAL);
	lp_msg_pool_destroy(pool);
}

/* ---- the relay (main lcore) with a fake control link ---------------------- */

static struct relay_msg *relay_submit_msg(struct lp_mesh *mesh, unsigned worker, uint64_t cookie,
					  const char *queue)
{
	static const uint8_t args[] = {1, 2, 3};
	struct relay_msg *m = lp_mesh_relay_get(mesh, worker, false);

	assert_non_null(m);
	m->kind = RELAY_SUBMIT;
	m->type = LP_CTL_DECLARE;
	m->worker = (uint16_t)worker;
	m->cookie = cookie;
	m->req.object = LP_CTL_OBJ_QUEUE;
	snprintf(m->req.name, sizeof(m->req.name), "%s", queue);
	memcpy(m->args, args, sizeof(args));
	m->req.args = m->args;
	m->req.args_len = sizeof(args);
	return m;
}

static struct lp_ctl_result *from_main(struct lp_mesh *mesh, unsigned w)
{
	void *p = NULL;

	if (rte_ring_dequeue(lp_mesh_from_main(mesh, w), &p) != 0)
		return NULL;
	return p;
}

static void relay_routes_results_by_cookie_and_retries_eagain(void **state)
{
	(void)state;
	struct lp_mesh *mesh = lp_mesh_create(2, 64);
	struct lp_ctl_link link = {0};
	struct lp_broker_relay *r;
	struct lp_ctl_result res = {.reply_code = 0, .owner_shard = 1, .version = 9};
	struct lp_ctl_result *got;

	assert_non_null(mesh);
	r = lp_broker_relay_create(mesh, &link);
	assert_non_null(r);
	assert_int_equal(rte_ring_enqueue(lp_mesh_to_main(mesh, 0), relay_submit_msg(mesh, 0, 5, "a")), 0);
	assert_int_equal(rte_ring_enqueue(lp_mesh_to_main(mesh, 1), relay_submit_msg(mesh, 1, 77, "b")), 0);
	lp_broker_relay_poll(r);
	assert_int_equal(link.n_sub, 2);
	assert_string_equal(link.sub[0].req.name, "a");
	assert_string_equal(link.sub[1].req.name, "b");
	assert_int_equal(link.sub[0].type, LP_CTL_DECLARE);

	/* The answer to worker 1's request goes to worker 1, with its cookie. */
	res.req_id = (uint64_t)link.sub[1].id;
	snprintf(res.queue, sizeof(res.queue), "b");
	lp_broker_relay_result(r, &res);
	assert_null(from_main(mesh, 0));
	got = from_main(mesh, 1);
	assert_non_null(got);
	assert_int_equal(got->req_id, 77);
	assert_int_equal(got->version, 9);
	assert_string_equal(got->queue, "b");
	free(got);
	/* Answered once: the same id again goes nowhere; unknown ids neither. */
	lp_broker_relay_result(r, &res);
	res.req_id = 999;
	lp_broker_relay_result(r, &res);
	assert_null(from_main(mesh, 0));
	assert_null(from_main(mesh, 1));
	res.req_id = (uint64_t)link.sub[0].id;
	res.reply_code = 405;
	lp_broker_relay_result(r, &res);
	got = from_main(mesh, 0);
	assert_non_null(got);
	assert_int_equal(got->req_id, 5);
	assert_int_equal(got->reply_code, 405);
	free(got);

	/* The socket is full twice: the request waits in the relay, then goes. */
	link.eagain = 2;
	assert_int_equal(rte_ring_enqueue(lp_mesh_to_main(mesh, 0), relay_submit_msg(mesh, 0, 6, "c")), 0);
	lp_broker_relay_poll(r);
	assert_int_equal(link.n_sub, 2);
	assert_int_equal(link.eagain, 1);
	lp_broker_relay_poll(r);
	assert_int_equal(link.n_sub, 2);
	assert_int_equal(link.eagain, 0);
	lp_broker_relay_poll(r);
	assert_int_equal(link.n_sub, 3);
	assert_int_equal(rte_ring_enqueue(lp_mesh_to_main(mesh, 0), relay_submit_msg(mesh, 0, 7, "d")), 0);
	lp_broker_relay_poll(r);
	assert_int_equal(link.n_sub, 4);
	assert_string_equal(link.sub[2].req.name, "c");
	assert_string_equal(link.sub[3].req.name, "d");
	res = (struct lp_ctl_result){.req_id = (uint64_t)link.sub[2].id};
	lp_broker_relay_result(r, &res);
	res.req_id = (uint64_t)link.sub[3].id;
	lp_broker_relay_result(r, &res);
	got = from_main(mesh, 0);
	assert_non_null(got);
	assert_int_equal(got->req_id, 6);
	free(got);
	got = from_main(mesh, 0);
	assert_non_null(got);
	assert_int_equal(got->req_id, 7);
	free(got);

	/* lepus-control away: the worker is answered 541 at once. */
	link.error = -ENOTCONN;
	assert_int_equal(rte_ring_enqueue(lp_mesh_to_main(mesh, 1), relay_submit_msg(mesh, 1, 8, "e")), 0);
	lp_broker_relay_poll(r);
	got = from_main(mesh, 1);
	assert_non_null(got);
	assert_int_equal(got->req_id, 8);
	assert_int_equal(got->reply_code, 541);
	free(got);
	link.error = 0;

	/* Notifications: closed connections, unused auto-delete queues (retried
	 * on -EAGAIN). */
	struct relay_msg *n = lp_mesh_relay_get(mesh, 1, true);

	n->kind = RELAY_CONN_CLOSED;
	n->conn_id = 4242;
	assert_int_equal(rte_ring_enqueue(lp_mesh_to_main(mesh, 1), n), 0);
	n = lp_mesh_relay_get(mesh, 1, true);
	n->kind = RELAY_QUEUE_UNUSED;
	snprintf(n->unused.vhost, sizeof(n->unused.vhost), "/");
	snprintf(n->unused.queue, sizeof(n->unused.queue), "ad");
	assert_int_equal(rte_ring_enqueue(lp_mesh_to_main(mesh, 0), n), 0);
	link.unused_eagain = 1;
	lp_broker_relay_poll(r);
	assert_int_equal(link.n_closed, 1);
	assert_int_equal(link.closed[0], 4242);
	assert_int_equal(link.n_unused, 0);
	lp_broker_relay_poll(r);
	assert_int_equal(link.n_unused, 1);
	assert_string_equal(link.unused[0], "ad");

	/* Destroyed with a request still waiting for the socket: freed. */
	link.eagain = 5;
	assert_int_equal(rte_ring_enqueue(lp_mesh_to_main(mesh, 1), relay_submit_msg(mesh, 1, 9, "f")), 0);
	lp_broker_relay_poll(r);
	lp_broker_relay_destroy(r);
	lp_mesh_destroy(mesh);
}

/* End to end through the relay: Queue.Declare on worker 1 goes to the main
 * lcore (the fake link answers -EAGAIN once), the RESULT comes back to that
 * worker, which asks the queue's owner (worker 0) for its counts and answers
 * Declare-Ok; the channel reads nothing meanwhile. */
static void declare_through_relay_answers_with_owner_counts(void **state)
{
	struct fx *f = *state;
	struct lp_ctl_link link = {.eagain = 1};
	struct lp_broker_relay *r = lp_broker_relay_create(f->mesh, &link);
	struct client *p = client_open(f, 0), *c = client_open(f, 1);
	struct lp_amqp_method m = {.id = LP_AMQP_QUEUE_DECLARE};

	assert_non_null(r);
	for (uint32_t i = 0; i < 3; i++)
		publish(p, "q0", i, SMALL);
	pump(f);
	m.queue_declare.queue = lp_amqp_cstr("q0");
	m.queue_declare.durable = true;
	client_method(c, 1, &m);
	basic_get(c, 1, "q0", true); /* pipelined: read after Declare-Ok */
	assert_true(lp_amqp_conn_paused(c->c));
	pump(f);
	lp_broker_relay_poll(r);
	assert_int_equal(link.n_sub, 0);
	lp_broker_relay_poll(r);
	assert_int_equal(link.n_sub, 1);
	assert_int_equal(link.sub[0].type, LP_CTL_DECLARE);
	assert_string_equal(link.sub[0].req.name, "q0");
	assert_int_equal(link.sub[0].req.worker, 1);
	assert_int_equal(link.sub[0].req.object, LP_CTL_OBJ_QUEUE);
	assert_true(link.sub[0].req.flags & LP_CTL_F_DURABLE);
	assert_int_equal(link.sub[0].req.conn_id, lp_amqp_session_id(&c->s));
	assert_string_equal(link.sub[0].req.vhost, "/");
	assert_string_equal(link.sub[0].req.user, "guest");
	pump(f);
	assert_int_equal(c->n_ev, 0);
	assert_true(lp_amqp_conn_paused(c->c));

	struct lp_ctl_result res = {.req_id = (uint64_t)link.sub[0].id, .version = 1};

	snprintf(res.queue, sizeof(res.queue), "q0");
	lp_broker_relay_result(r, &res);
	pump(f);
	assert_int_equal(count_ev(c, LP_AMQP_QUEUE_DECLARE_OK), 1);
	const struct ev *ok = nth_ev(c, LP_AMQP_QUEUE_DECLARE_OK, 0);

	assert_string_equal(ok->name, "q0");
	assert_int_equal(ok->count, 3);
	assert_int_equal(ok->count2, 0);
	/* Then the Basic.Get that followed it. */
	assert_int_equal(count_ev(c, LP_AMQP_BASIC_GET_OK), 1);
	assert_int_equal(c->ev[0].method, LP_AMQP_QUEUE_DECLARE_OK);
	assert_int_equal(nth_ev(c, LP_AMQP_BASIC_GET_OK, 0)->count, 2);

	/* An error RESULT closes the channel with its code. */
	client_clear(c);
	m.queue_declare.queue = lp_amqp_cstr("zz");
	client_method(c, 1, &m);
	pump(f);
	lp_broker_relay_poll(r);
	assert_int_equal(link.n_sub, 2);
	res = (struct lp_ctl_result){.req_id = (uint64_t)link.sub[1].id, .reply_code = 406};
	snprintf(res.text, sizeof(res.text), "PRECONDITION_FAILED - inequivalent arg 'durable'");
	lp_broker_relay_result(r, &res);
	pump(f);
	assert_int_equal(count_ev(c, LP_AMQP_CHANNEL_CLOSE), 1);
	assert_int_equal(nth_ev(c, LP_AMQP_CHANNEL_CLOSE, 0)->code, 406);
	lp_broker_relay_destroy(r);
}

/*
 * Basic.Publish with immediate=true: RabbitMQ 3.x closes the connection with
 * 540 NOT_IMPLEMENTED "immediate=true" (a hard error) and routes nothing.
 */
static void publish_immediate_closes_the_connection(void **state)
{
	struct fx *f = *state;
	struct client *k = client_open(f, 0);

	publish_flags(k, 1, "", "q0", 0, SMALL, 1, true);
	pump(f);
	assert_int_equal(count_ev(k, LP_AMQP_CONNECTION_CLOSE), 1);
	assert_int_equal(nth_ev(k, LP_AMQP_CONNECTION_CLOSE, 0)->code, 540);
	assert_int_equal(lp_broker_stats(f->b[0])->published, 0);
	assert_pools_full(f);
}

/*
 * Regression (found by fuzz_worker_input; seed
 * tests/fuzz/corpus/worker_input/crash_tx_commit_unknown_tag): an unknown
 * delivery tag settled at Tx.Commit closes the channel with 406, and the
 * close releases the transaction inside the commit loop; the loop then
 * wrote through the freed transaction queue (NULL dereference) and would
 * have answered Commit-Ok on the closed channel.
 */
static void tx_commit_with_unknown_tag_closes_the_channel(void **state)
{
	struct fx *f = *state;
	struct client *k = client_open(f, 0);
	struct lp_amqp_method m = {.id = LP_AMQP_TX_SELECT};

	client_method(k, 1, &m);
	basic_ack(k, 1, 99, false);
	publish(k, "q0", 0, SMALL); /* held by the transaction, after the ack */
	m.id = LP_AMQP_TX_COMMIT;
	client_method(k, 1, &m);
	pump(f);
	assert_int_equal(count_ev(k, LP_AMQP_TX_SELECT_OK), 1);
	assert_int_equal(count_ev(k, LP_AMQP_CHANNEL_CLOSE), 1);
	assert_int_equal(nth_ev(k, LP_AMQP_CHANNEL_CLOSE, 0)->code, 406);
	assert_int_equal(count_ev(k, LP_AMQP_TX_COMMIT_OK), 0);
	/* The publish was never routed, and its message is back in the pool. */
	assert_pools_full(f);
}

/*
 * Get-Ok is written without checking the send buffer's room (broker.c
 * get_done): the connection reads a Basic.Get while 4096 octets are free
 * (amqp_conn.c OUT_RESERVE), and a larger message must still be answered
 * (spec 1.8.3.10: Get-Ok or Get-Empty), not dropped. Holds since the send
 * buffer grows for such a write (f59aa68).
 */
static void get_ok_waits_for_send_buffer_room(void **state)
{
	struct fx *f = *state;
	struct lp_amqp_conn_cfg small = f->cfg;

	small.outbuf_size = 16384;
	struct client *p = client_open(f, 0), *c = client_open_caps(f, 0, true, &small);

	publish(p, "g1", 0, 10000);
	publish(p, "g1", 1, 10000);
	pump(f);
	c->stuck = true;
	basic_get(c, 1, "g1", false);
	pump(f);
	basic_get(c, 1, "g1", true); /* read: > 4096 octets free */
	pump(f);
	c->stuck = false;
	pump(f);
	assert_int_equal(count_ev(c, LP_AMQP_BASIC_GET_OK), 2);
	assert_int_equal(nth_ev(c, LP_AMQP_BASIC_GET_OK, 1)->seq, 1);
	basic_ack(c, 1, 1, false);
	pump(f);
	assert_pools_full(f);
}

/*
 * Regression (fixed in broker.c get()/request()): a Basic.Get from a queue owned by
 * this worker computes its delivery tag (bc->next_tag + 1) before request()
 * applies the other shards' pending operations (apply_earlier_ops); a
 * Basic.Deliver from another shard applied there takes that same tag, and
 * Get-Ok repeated it. AMQP 0-9-1 1.8.3.13 (delivery-tag): unique per channel.
 */
static void local_get_after_remote_delivery_has_its_own_tag(void **state)
{
	struct fx *f = *state;
	struct client *p = client_open(f, 0), *c = client_open(f, 0);

	consume_ok(f, c, 1, "q1", "r");
	publish(p, "g0", 0, SMALL);
	pump(f);
	publish(p, "q1", 1, SMALL);
	lp_broker_poll(f->b[0]); /* ENQUEUE to worker 1 */
	lp_broker_poll(f->b[1]); /* DELIVER back in ring 1 -> 0, not read yet */
	basic_get(c, 1, "g0", false);
	pump(f);
	assert_int_equal(count_ev(c, LP_AMQP_BASIC_DELIVER), 1);
	assert_int_equal(count_ev(c, LP_AMQP_BASIC_GET_OK), 1);
	assert_int_equal(nth_ev(c, LP_AMQP_BASIC_DELIVER, 0)->tag, 1);
	assert_int_equal(nth_ev(c, LP_AMQP_BASIC_GET_OK, 0)->tag, 2); /* was 1 */
	basic_ack(c, 1, 1, false);
	basic_ack(c, 1, 2, false);
	pump(f);
	assert_no_close(c);
	assert_pools_full(f);
}

/* The owner's sample of its queues for lepus-control (queue_stats.c):
 * counts and counters as the queue has them; a read racing the worker's
 * write is -EAGAIN. */
static void queue_stats_sample_counts_and_counters(void **state)
{
	struct fx *f = *state;
	struct client *p = client_open(f, 0), *c = client_open(f, 0);
	static struct lp_ctl_queue_stat rows[64];
	const struct lp_ctl_queue_stat *q1 = NULL;

	for (uint32_t i = 0; i < 3; i++)
		publish(p, "q1", i, SMALL);
	pump(f);
	basic_get(c, 1, "q1", false);
	pump(f);
	basic_get(c, 1, "q1", false);
	pump(f);
	basic_ack(c, 1, 1, false);
	pump(f);
	lp_queue_stats_sample(f->b[1], UINT64_MAX / 2); /* the next second */
	int n = lp_broker_queue_stats_read(f->b[1], rows, 64);

	assert_true(n > 0);
	for (int i = 0; i < n; i++)
		if (strcmp(rows[i].queue, "q1") == 0)
			q1 = &rows[i];
	assert_non_null(q1);
	assert_string_equal(q1->vhost, "/");
	assert_int_equal(q1->ready, 1);
	assert_int_equal(q1->unacked, 1);
	assert_int_equal(q1->consumers, 0);
	assert_int_equal(q1->ready_bytes, SMALL);
	assert_int_equal(q1->published, 3);
	assert_int_equal(q1->got, 2);
	assert_int_equal(q1->delivered, 0);
	assert_int_equal(q1->acked, 1);
	/* Worker 0 owns none of q1: not in its sample. */
	lp_queue_stats_sample(f->b[0], UINT64_MAX / 2);
	n = lp_broker_queue_stats_read(f->b[0], rows, 64);
	for (int i = 0; i < n; i++)
		assert_string_not_equal(rows[i].queue, "q1");
	atomic_fetch_add(&f->b[1]->qstat_seq, 1); /* as while the worker writes */
	assert_int_equal(lp_broker_queue_stats_read(f->b[1], rows, 64), -EAGAIN);
	atomic_fetch_add(&f->b[1]->qstat_seq, 1);
	assert_int_equal(lp_broker_queue_stats_read(f->b[1], rows, 1), 1); /* capped */
}

/*
 * Regression (fixed in owner.c queue_delete, consume.c
 * lp_remote_tags_orphan): a local queue deleted with unacked deliveries
 * took their tags with it, so an ack of one was 406 "unknown delivery tag"
 * (pika's basic_cancel nacks the deliveries it holds; RabbitMQ's channel
 * keeps them). Tag 1 comes from the local g0, tag 2 from q1 of the other
 * shard: the orphaned tag goes before the remote one in the channel's list.
 */
static void deleted_queue_tags_stay_acknowledgeable(void **state)
{
	struct fx *f = *state;
	struct client *p = client_open(f, 0), *c = client_open(f, 0);

	publish(p, "g0", 0, SMALL);
	publish(p, "g0", 1, SMALL);
	pump(f);
	basic_get(c, 1, "g0", false);
	pump(f);
	consume_ok(f, c, 1, "q1", "r");
	publish(p, "q1", 2, SMALL);
	pump(f);
	basic_get(c, 1, "g0", false);
	pump(f);
	assert_int_equal(nth_ev(c, LP_AMQP_BASIC_GET_OK, 0)->tag, 1);
	assert_int_equal(nth_ev(c, LP_AMQP_BASIC_DELIVER, 0)->tag, 2);
	assert_int_equal(nth_ev(c, LP_AMQP_BASIC_GET_OK, 1)->tag, 3);
	topo_queue(f, LP_CTL_OP_DEL, "g0", 0);
	topo_publish(f);
	pump(f);
	assert_null(owner_queue(f, "g0"));
	basic_ack(c, 1, 3, false); /* was 406 */
	basic_ack(c, 1, 2, false); /* reaches q1's owner */
	basic_ack(c, 1, 1, false);
	pump(f);
	assert_no_close(c);
	assert_int_equal(lp_queue_unacked_count(owner_queue(f, "q1")), 0);
	assert_pools_full(f);
	basic_ack(c, 1, 1, false); /* twice: RabbitMQ's 406 */
	pump(f);
	assert_int_equal(count_ev(c, LP_AMQP_CHANNEL_CLOSE), 1);
	assert_int_equal(nth_ev(c, LP_AMQP_CHANNEL_CLOSE, 0)->code, LP_AMQP_PRECONDITION_FAILED);
}

/*
 * Regression (fixed: per-channel backlog in broker.c read_ring()): a Basic.Deliver that does not fit its
 * connection's send buffer stops the whole ring from that shard, so one
 * consumer that does not read stalls every other channel of the worker fed
 * by that shard: their deliveries, Consume-Ok, Get-Ok, Cancel-Ok.
 */
static void undrained_consumer_does_not_stall_others(void **state)
{
	struct fx *f = *state;
	struct client *p = client_open(f, 0), *slow = client_open(f, 0), *c = client_open(f, 0);

	consume_ok(f, slow, 1, "q1", "slow");
	consume_ok(f, c, 1, "q1b", "fast");
	slow->stuck = true;
	for (uint32_t i = 0; i < 200; i++)
		publish(p, "q1", i, 4000);
	pump(f);
	for (uint32_t i = 0; i < 5; i++)
		publish(p, "q1b", i, SMALL);
	pump(f);
	assert_int_equal(count_ev(c, LP_AMQP_BASIC_DELIVER), 5); /* was 0 */
	basic_get(c, 1, "g1", false);
	pump(f);
	assert_int_equal(count_ev(c, LP_AMQP_BASIC_GET_EMPTY), 1);
}

/*
 * Regression (fixed in relay.c lp_broker_relay_poll()): "Leave requests in the ring
 * while older ones wait for the socket" is not what happens: with a request
 * kept for retry after -EAGAIN, the next request read from the ring is
 * submitted at once and overtakes it when the socket takes it (a smaller
 * datagram fits where a larger one did not). Harmless between connections
 * (each connection pauses on its one request), but not what the comment says.
 */
static void relay_keeps_request_order_after_eagain(void **state)
{
	(void)state;
	struct lp_mesh *mesh = lp_mesh_create(2, 64);
	struct lp_ctl_link link = {.eagain = 2};
	struct lp_broker_relay *r = lp_broker_relay_create(mesh, &link);

	assert_int_equal(rte_ring_enqueue(lp_mesh_to_main(mesh, 0), relay_submit_msg(mesh, 0, 6, "c")), 0);
	lp_broker_relay_poll(r);
	assert_int_equal(rte_ring_enqueue(lp_mesh_to_main(mesh, 0), relay_submit_msg(mesh, 0, 7, "d")), 0);
	lp_broker_relay_poll(r); /* c: -EAGAIN again; d must wait behind it */
	lp_broker_relay_poll(r);
	bool ok = link.n_sub == 2 && strcmp(link.sub[0].req.name, "c") == 0;

	lp_broker_relay_destroy(r);
	lp_mesh_destroy(mesh);
	assert_true(ok); /* d used to go first */
}

/*
 * The memory alarm: a publisher filling the message pool past the watermark
 * (7/8 of it) is told Connection.Blocked ("low on memory") and no longer
 * read, nothing lost; once consumers free the pool below 3/4 it gets
 * Connection.Unblocked and the publishes it had sent go in.
 */
static void memory_alarm_blocks_and_unblocks_publishers(void **state)
{
	struct fx *f = *state;
	struct client *p = client_open(f, 0), *c = client_open(f, 0);
	enum { N = POOL - POOL / 16 }; /* past the watermark, within the pool */

	for (uint32_t i = 0; i < N; i++)
		publish(p, "q0", i, SMALL);
	pump(f);
	assert_int_equal(count_ev(p, LP_AMQP_CONNECTION_BLOCKED), 1);
	assert_int_equal(count_ev(p, LP_AMQP_CONNECTION_UNBLOCKED), 0);
	assert_true(lp_broker_stats(f->b[0])->alarms & LP_BROKER_ALARM_MEMORY);
	assert_int_equal(lp_broker_stats(f->b[0])->blocked_publishers, 1);
	assert_true(lp_amqp_conn_paused(p->c));
	struct lp_queue *q = owner_queue(f, "q0");
	uint32_t held = lp_queue_message_count(q);

	assert_true(held < N);
	assert_true(held >= POOL - POOL / 8);
	assert_int_equal(count_ev(c, LP_AMQP_CONNECTION_BLOCKED), 0); /* a consumer is not blocked */

	/* A consumer frees the pool: the alarm clears, the rest goes in. */
	for (unsigned i = 0; i < POOL / 4; i++)
		basic_get(c, 1, "q0", true);
	pump(f);
	assert_int_equal(count_ev(c, LP_AMQP_BASIC_GET_OK), POOL / 4);
	assert_int_equal(count_ev(p, LP_AMQP_CONNECTION_UNBLOCKED), 1);
	assert_int_equal(lp_broker_stats(f->b[0])->alarms, 0);
	assert_int_equal(lp_broker_stats(f->b[0])->blocked_publishers, 0);
	assert_int_equal(lp_queue_message_count(q), N - POOL / 4);
	assert_no_close(p);
	assert_no_close(c);
}

/* ---- the message store (persist.c): journal, confirms, recovery ----------- */

/* A fixture whose shards keep journals in a new directory. Queues: durable
 * p0 (store id 10, owner 0), p1 (11, owner 1), pd (12, owner 1; deleted in
 * one case), and t1 (owner 1, not durable: no store id). */
/* p1's owner shard in the next topo_store (a test moves it). */
static uint16_t fx_p1_owner = 1;

static void topo_store(struct fx *f, bool with_pd)
{
	struct lp_ctl_msg m = {.type = LP_CTL_TOPO_VHOST};
	static const struct {
		const char *name;
		uint16_t owner;
		uint32_t store_id;
	} qs[] = {{"p0", 0, 10}, {"p1", 1, 11}, {"pd", 1, 12}, {"t1", 1, 0}};

	lp_topology_builder_destroy(f->tb);
	f->tb = lp_topology_builder_create();
	assert_non_null(f->tb);
	m.topo_vhost.op = LP_CTL_OP_ADD;
	strcpy(m.topo_vhost.name, "/");
	topo_apply(f, &m);
	topo_exchange(f, "", LP_CTL_XT_DIRECT);
	for (unsigned i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		if (!with_pd && strcmp(qs[i].name, "pd") == 0)
			continue;
		m = (struct lp_ctl_msg){.type = LP_CTL_TOPO_QUEUE};
		m.topo_queue.op = LP_CTL_OP_ADD;
		m.topo_queue.flags = qs[i].store_id != 0 ? LP_CTL_Q_DURABLE : 0;
		m.topo_queue.owner_shard = strcmp(qs[i].name, "p1") == 0 ? fx_p1_owner : qs[i].owner;
		m.topo_queue.store_id = qs[i].store_id;
		strcpy(m.topo_queue.vhost, "/");
		strcpy(m.topo_queue.name, qs[i].name);
		topo_apply(f, &m);
	}
	topo_publish(f);
}

static int setup_store(void **state);

/* setup_store with sizes of its own. */
static int setup_store_sized(void **state, struct fx_sizes sizes)
{
	fx_next_sizes = sizes;
	int rc = setup_store(state);

	fx_next_sizes = FX_SIZES_DEFAULT;
	return rc;
}

/* Queues of 100 messages each, on the store's topology. */
static int setup_store_small_queues(void **state)
{
	return setup_store_sized(state, (struct fx_sizes){.queue_capacity = 100, .page_after = 4096});
}

static int setup_store(void **state)
{
	char dir[] = "/tmp/lp-ut-persist-XXXXXX";

	assert_non_null(mkdtemp(dir));
	struct fx *f = fx_create(dir);

	snprintf(f->dir, sizeof(f->dir), "%s", dir);
	topo_store(f, true);
	*state = f;
	return 0;
}

/* What a restart is to the journal: both shards stop (their messages in
 * memory go), start again on the same directory and recover; then the
 * topology comes again (with or without pd). */
static void fx_restart(struct fx *f, bool with_pd)
{
	fx_stop(f);
	fx_brokers(f, f->dir);
	topo_store(f, with_pd);
}

static void confirm_select(struct fx *f, struct client *k, uint16_t ch)
{
	struct lp_amqp_method m = {.id = LP_AMQP_CONFIRM_SELECT};

	client_method(k, ch, &m);
	pump(f);
	assert_int_equal(count_ev(k, LP_AMQP_CONFIRM_SELECT_OK), 1);
	client_clear(k);
}

/* The highest publish sequence number confirmed (acks only: a nack fails). */
static uint64_t confirmed_upto(const struct client *k)
{
	uint64_t upto = 0;

	assert_int_equal(count_ev(k, LP_AMQP_BASIC_NACK), 0);
	for (unsigned i = 0; i < k->n_ev; i++)
		if (k->ev[i].method == LP_AMQP_BASIC_ACK && k->ev[i].tag > upto)
			upto = k->ev[i].tag;
	return upto;
}

/* Poll until publish n is confirmed (the journal's fdatasync completes on
 * its own time), at most 10 s. */
static void pump_until_confirmed(struct fx *f, struct client *k, uint64_t n)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		pump(f);
		if (confirmed_upto(k) >= n)
			return;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 10)
			fail_msg("publish %" PRIu64 " not confirmed after 10 s (confirmed up to %" PRIu64 ")",
				 n, confirmed_upto(k));
		usleep(200);
	}
}

/*
 * Publisher confirms ready in the same poll go as one Basic.Ack
 * multiple=true with the highest seq, as RabbitMQ's: 4 acks (local and
 * remote queues) -> Ack 4 multiple; a nack (r0 refuses every publish:
 * x-max-length 0, reject-publish) ends the run and goes alone, before the
 * acks that follow it; one ack alone is multiple=false.
 */
static void confirms_of_one_poll_are_one_multiple_ack(void **state)
{
	struct fx *f = *state;
	uint8_t args[128];
	struct lp_amqp_wr wr;
	struct lp_amqp_field_value zero = {.kind = LP_AMQP_FIELD_I32, .i32 = 0};
	struct lp_ctl_msg m = {.type = LP_CTL_TOPO_QUEUE};
	size_t top;

	lp_amqp_wr_init(&wr, args, sizeof(args));
	lp_amqp_wr_table_begin(&wr, &top);
	lp_amqp_wr_field(&wr, "x-max-length", &zero);
	lp_amqp_wr_field_str(&wr, "x-overflow", "reject-publish");
	lp_amqp_wr_table_end(&wr, top);
	assert_false(wr.overflow);
	m.topo_queue.op = LP_CTL_OP_ADD;
	strcpy(m.topo_queue.vhost, "/");
	strcpy(m.topo_queue.name, "r0");
	m.topo_queue.args = args + 4;
	m.topo_queue.args_len = (uint16_t)(wr.off - 4);
	topo_apply(f, &m);
	topo_publish(f);

	struct client *k = client_open(f, 0);

	confirm_select(f, k, 1);
	publish(k, "q0", 0, SMALL);
	publish(k, "q0", 1, SMALL);
	publish(k, "q1", 2, SMALL); /* owned by the other shard */
	publish(k, "q0", 3, SMALL);
	publish(k, "r0", 4, SMALL); /* refused: seq 5 is nacked */
	publish(k, "q0", 5, SMALL);
	publish(k, "q1", 6, SMALL);
	pump(f);
	assert_no_close(k);
	assert_int_equal(k->n_ev, 3);
	assert_int_equal(k->ev[0].method, LP_AMQP_BASIC_ACK);
	assert_int_equal(k->ev[0].tag, 4);
	assert_true(k->ev[0].multiple);
	assert_int_equal(k->ev[1].method, LP_AMQP_BASIC_NACK);
	assert_int_equal(k->ev[1].tag, 5);
	assert_false(k->ev[1].multiple);
	assert_int_equal(k->ev[2].method, LP_AMQP_BASIC_ACK);
	assert_int_equal(k->ev[2].tag, 7);
	assert_true(k->ev[2].multiple);
	client_clear(k);
	publish(k, "q0", 7, SMALL);
	pump(f);
	assert_int_equal(k->n_ev, 1);
	assert_int_equal(k->ev[0].method, LP_AMQP_BASIC_ACK);
	assert_int_equal(k->ev[0].tag, 8);
	assert_false(k->ev[0].multiple);
}

/* Basic.Get (no-ack) of everything in queue: the first 4 body octets in
 * order; each must be redelivered as given and persistent. */
static unsigned drain(struct fx *f, struct client *k, const char *queue, uint32_t *seq,
		      unsigned max, bool redelivered)
{
	unsigned n = 0;

	for (;;) {
		client_clear(k);
		basic_get(k, 1, queue, true);
		pump(f);
		if (count_ev(k, LP_AMQP_BASIC_GET_EMPTY) == 1)
			return n;
		assert_int_equal(count_ev(k, LP_AMQP_BASIC_GET_OK), 1);
		const struct ev *e = nth_ev(k, LP_AMQP_BASIC_GET_OK, 0);

		assert_int_equal(e->redelivered, redelivered);
		assert_int_equal(e->delivery_mode, 2);
		assert_int_equal(e->body_len, SMALL);
		assert_true(n < max);
		seq[n++] = e->seq;
	}
}

/*
 * Persistent messages to durable queues are confirmed only once their
 * journal says they are durable (a transient publish on the same channel
 * is confirmed at once but after them: confirms keep publish order); after
 * a restart both shards give back exactly the persistent ones, in order,
 * redelivered, with their properties; transient messages and the
 * non-durable queue's are gone.
 */
static void persistent_messages_are_confirmed_when_durable_and_recovered(void **state)
{
	struct fx *f = *state;
	struct client *p = client_open(f, 0);
	enum { N = 40 };

	confirm_select(f, p, 1);
	for (uint32_t i = 0; i < N; i++) {
		publish_mode(p, 1, "", "p0", i, SMALL, 2);
		publish_mode(p, 1, "", "p1", 1000 + i, SMALL, 2);
		publish_mode(p, 1, "", "t1", 2000 + i, SMALL, 2); /* not durable: not kept */
		publish_mode(p, 1, "", "p0", 3000 + i, SMALL, 1); /* transient: not kept */
	}
	/* One round: the journals' writes are submitted, none reaped yet. */
	for (unsigned w = 0; w < N_W; w++)
		lp_broker_poll(f->b[w]);
	client_read(p, SIZE_MAX);
	assert_int_equal(confirmed_upto(p), 0);
	pump_until_confirmed(f, p, 4 * N);
	assert_int_equal(confirmed_upto(p), 4 * N);
	assert_int_equal(lp_broker_stats(f->b[0])->persisted, N);
	assert_int_equal(lp_broker_stats(f->b[1])->persisted, N);
	assert_true(lp_broker_stats(f->b[0])->flushes >= 1);
	assert_no_close(p);

	fx_restart(f, true);
	assert_int_equal(lp_broker_stats(f->b[0])->recovered, N);
	assert_int_equal(lp_broker_stats(f->b[1])->recovered, N);
	struct client *c = client_open(f, 1);
	static uint32_t got[2 * N];

	assert_int_equal(drain(f, c, "p0", got, 2 * N, true), N);
	for (uint32_t i = 0; i < N; i++)
		assert_int_equal(got[i], i);
	assert_int_equal(drain(f, c, "p1", got, 2 * N, true), N);
	for (uint32_t i = 0; i < N; i++)
		assert_int_equal(got[i], 1000 + i);
	assert_int_equal(drain(f, c, "t1", got, 2 * N, true), 0);
	assert_no_close(c);

	/* Taken with no-ack: settled, so nothing comes back the next time. */
	fx_restart(f, true);
	assert_int_equal(lp_broker_stats(f->b[0])->recovered, 0);
	assert_int_equal(lp_broker_stats(f->b[1])->recovered, 0);
}

/* Queue.Purge on k's channel 1, lepus-control's yes through the relay, then
 * the owner purges: Purge-Ok's message count. */
static uint32_t purge_via_relay(struct fx *f, struct client *k, const char *queue)
{
	struct lp_ctl_link link = {0};
	struct lp_broker_relay *r = lp_broker_relay_create(f->mesh, &link);
	struct lp_amqp_method m = {.id = LP_AMQP_QUEUE_PURGE};

	assert_non_null(r);
	client_clear(k);
	m.queue_purge.queue = lp_amqp_cstr(queue);
	client_method(k, 1, &m);
	pump(f);
	lp_broker_relay_poll(r);
	assert_int_equal(link.n_sub, 1);
	assert_int_equal(link.sub[0].type, LP_CTL_PURGE);
	struct lp_ctl_result res = {.req_id = (uint64_t)link.sub[0].id, .version = 1};

	lp_broker_relay_result(r, &res);
	pump(f);
	lp_broker_relay_destroy(r);
	assert_int_equal(count_ev(k, LP_AMQP_QUEUE_PURGE_OK), 1);
	assert_no_close(k);
	return nth_ev(k, LP_AMQP_QUEUE_PURGE_OK, 0)->count;
}

/*
 * Acked messages stay gone, unacked ones come back; a purge is one record;
 * the messages of a queue that is gone at the next start are settled
 * (recovered_orphans) and do not come back when it is declared again.
 */
static void acks_purges_and_deleted_queues_stay_settled(void **state)
{
	struct fx *f = *state;
	struct client *p = client_open(f, 0), *c = client_open(f, 1);
	enum { N = 20 };
	static uint32_t got[N];

	confirm_select(f, p, 1);
	for (uint32_t i = 0; i < N; i++) {
		publish_mode(p, 1, "", "p1", i, SMALL, 2);
		publish_mode(p, 1, "", "p0", 100 + i, SMALL, 2);
		publish_mode(p, 1, "", "pd", 200 + i, SMALL, 2);
	}
	pump_until_confirmed(f, p, 3 * N);
	/* p1: 5 got and acked, 3 got and not acked (they come back). */
	for (unsigned i = 0; i < 8; i++) {
		basic_get(c, 1, "p1", false);
		pump(f);
	}
	assert_int_equal(count_ev(c, LP_AMQP_BASIC_GET_OK), 8);
	basic_ack(c, 1, 5, true);
	pump(f);
	/* p0: purged (lepus-control says yes through the relay, then the owner
	 * purges). */
	assert_int_equal(purge_via_relay(f, c, "p0"), N);
	/* The settles and the purge are written with the next flush: give the
	 * journals a few rounds of polling (a settle is never waited for). */
	for (unsigned r = 0; r < 50; r++) {
		pump(f);
		usleep(1000);
	}

	fx_restart(f, false); /* pd is gone */
	assert_int_equal(lp_broker_stats(f->b[0])->recovered, 0);
	assert_int_equal(lp_broker_stats(f->b[1])->recovered, (N - 5) + N);
	pump(f); /* the first topology: queues take their messages, orphans are settled */
	assert_int_equal(lp_broker_stats(f->b[1])->recovered_orphans, N);
	c = client_open(f, 0);
	assert_int_equal(drain(f, c, "p1", got, N, true), N - 5);
	for (uint32_t i = 0; i < N - 5; i++)
		assert_int_equal(got[i], 5 + i);
	assert_int_equal(drain(f, c, "p0", got, N, true), 0);
	for (unsigned r = 0; r < 50; r++) {
		pump(f);
		usleep(1000);
	}

	fx_restart(f, true); /* pd again: its old messages were settled */
	assert_int_equal(lp_broker_stats(f->b[1])->recovered, 0);
	c = client_open(f, 0);
	assert_int_equal(drain(f, c, "pd", got, N, true), 0);
}

/*
 * Tx.Commit-Ok of a transaction with persistent messages for durable queues
 * waits until they are durable (RabbitMQ's does); no Basic.Ack is sent for
 * them; after a restart they are there. A commit of transient messages only
 * is answered at once.
 */
static void tx_commit_waits_for_the_journal(void **state)
{
	struct fx *f = *state;
	struct client *p = client_open(f, 0);
	struct lp_amqp_method m = {.id = LP_AMQP_TX_SELECT};
	struct timespec t0, t;

	client_method(p, 1, &m);
	pump(f);
	assert_int_equal(count_ev(p, LP_AMQP_TX_SELECT_OK), 1);
	publish_mode(p, 1, "", "t1", 7, SMALL, 2); /* not durable: no wait */
	m = (struct lp_amqp_method){.id = LP_AMQP_TX_COMMIT};
	client_method(p, 1, &m);
	for (unsigned w = 0; w < N_W; w++)
		lp_broker_poll(f->b[w]);
	client_read(p, SIZE_MAX);
	assert_int_equal(count_ev(p, LP_AMQP_TX_COMMIT_OK), 1);

	for (uint32_t i = 0; i < 10; i++) {
		publish_mode(p, 1, "", "p0", i, SMALL, 2);
		publish_mode(p, 1, "", "p1", 100 + i, SMALL, 2);
	}
	client_method(p, 1, &m);
	for (unsigned w = 0; w < N_W; w++)
		lp_broker_poll(f->b[w]);
	client_read(p, SIZE_MAX);
	assert_int_equal(count_ev(p, LP_AMQP_TX_COMMIT_OK), 1); /* not yet */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (count_ev(p, LP_AMQP_TX_COMMIT_OK) < 2) {
		pump(f);
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 10)
			fail_msg("no Tx.Commit-Ok after 10 s");
		usleep(200);
	}
	assert_int_equal(count_ev(p, LP_AMQP_BASIC_ACK), 0);
	assert_no_close(p);

	fx_restart(f, true);
	struct client *c = client_open(f, 1);
	static uint32_t got[20];

	assert_int_equal(drain(f, c, "p0", got, 20, true), 10);
	assert_int_equal(drain(f, c, "p1", got, 20, true), 10);
	for (uint32_t i = 0; i < 10; i++)
		assert_int_equal(got[i], 100 + i);
}

/* Basic.Get (no-ack) until Get-Empty: the first 4 body octets of each, in
 * order; *first_count: the first Get-Ok's message_count. */
static unsigned get_all(struct fx *f, struct client *k, const char *queue, uint32_t *seq,
			unsigned max, bool redelivered, uint32_t *first_count)
{
	unsigned n = 0;

	for (;;) {
		client_clear(k);
		basic_get(k, 1, queue, true);
		for (unsigned r = 0; r < 2000 && count_ev(k, LP_AMQP_BASIC_GET_EMPTY) +
						      count_ev(k, LP_AMQP_BASIC_GET_OK) == 0; r++) {
			pump(f);
			if (r > 0)
				usleep(100); /* a read-back in flight: the Get is asked again */
		}
		if (count_ev(k, LP_AMQP_BASIC_GET_EMPTY) == 1)
			return n;
		assert_int_equal(count_ev(k, LP_AMQP_BASIC_GET_OK), 1);
		const struct ev *e = nth_ev(k, LP_AMQP_BASIC_GET_OK, 0);

		assert_int_equal(e->redelivered, redelivered);
		assert_int_equal(e->body_len, SMALL);
		if (n == 0 && first_count != NULL)
			*first_count = e->count;
		assert_true(n < max);
		seq[n++] = e->seq;
	}
}

/* Publish n messages (mode 2 or 1 alternating when mixed) to queue in
 * batches, each confirmed before the next. */
static void publish_confirmed(struct fx *f, struct client *p, const char *queue, uint32_t first,
			      uint32_t n, bool mixed, uint64_t *published)
{
	for (uint32_t i = 0; i < n;) {
		for (uint32_t j = 0; j < 256 && i < n; j++, i++)
			publish_mode(p, 1, "", queue, first + i, SMALL, mixed && (i & 1) ? 1 : 2);
		*published += i % 256 ? i % 256 : 256;
		pump_until_confirmed(f, p, *published);
		client_clear(p);
	}
}

/* Three times the pool into queue (on worker w) with no consumer, persistent
 * and transient mixed, then all of them got back, in order; most of them
 * went through the journal (paged out and in). */
static void three_pools_through(struct fx *f, struct client *p, struct client *c,
				const char *queue, unsigned w, uint64_t *published)
{
	enum { N = 3 * POOL };
	static uint32_t got[N + 8];
	uint32_t count = 0;

	publish_confirmed(f, p, queue, 0, N, true, published);
	assert_true(lp_broker_stats(f->b[w])->paged_out > N / 2);
	assert_true(lp_broker_pool_free(f->b[w]) >= POOL / 2 - 256);
	assert_int_equal(get_all(f, c, queue, got, N, false, &count), N);
	assert_int_equal(count, N - 1); /* Get-Ok's count includes the paged ones */
	for (uint32_t i = 0; i < N; i++)
		assert_int_equal(got[i], i);
	assert_true(lp_broker_stats(f->b[w])->paged_in > N / 2);
	assert_no_close(c);
}

static int setup_store_paging(void **state)
{
	return setup_store_sized(state, (struct fx_sizes){.queue_capacity = 4096, .page_after = 16});
}

/*
 * Deep queues: a durable queue takes three times the message pool (4096
 * messages) with no consumer, persistent and transient messages mixed; past
 * page_after (16 here) they live in the journal only, the pool stays mostly
 * free, and Get-Ok's message count counts them all. They come back in order
 * (read back with io_uring as the queue drains). Then: a journal with more
 * live messages than half the pool recovers them partly on disk, in order,
 * redelivered (the transient ones journaled for paging are not recovered);
 * and a purge drops a paged tail for good.
 */
static void deep_queue_pages_to_the_journal(void **state)
{
	struct fx *f = *state;
	struct client *p = client_open(f, 0), *c = client_open(f, 1);
	enum { N = 3 * POOL };
	static uint32_t got[N + 8];
	uint64_t published = 0;
	uint32_t count = 0;

	confirm_select(f, p, 1);
	three_pools_through(f, p, c, "p0", 0, &published);
	assert_true(lp_broker_stats(f->b[0])->paged_out > N - 100); /* past page_after (16) */

	/* Persistent only, then a restart. */
	publish_confirmed(f, p, "p0", 100000, POOL, false, &published);
	publish_confirmed(f, p, "p0", 200000, 200, true, &published); /* 100 transient */
	fx_restart(f, true);
	assert_int_equal(lp_broker_stats(f->b[0])->recovered, POOL + 100);
	assert_true(lp_broker_stats(f->b[0])->recovered_on_disk > POOL / 4);
	c = client_open(f, 1);
	assert_int_equal(get_all(f, c, "p0", got, N, true, &count), POOL + 100);
	for (uint32_t i = 0; i < POOL; i++)
		assert_int_equal(got[i], 100000 + i);
	for (uint32_t i = 0; i < 100; i++)
		assert_int_equal(got[POOL + i], 200000 + 2 * i);
	assert_no_close(c);

	/* A paged tail purged: nothing comes back, now or after a restart. */
	p = client_open(f, 0);
	confirm_select(f, p, 1);
	published = 0;
	publish_confirmed(f, p, "p0", 300000, POOL, false, &published);
	assert_int_equal(purge_via_relay(f, c, "p0"), POOL);
	assert_int_equal(get_all(f, c, "p0", got, N, false, NULL), 0);
	for (unsigned i = 0; i < 50; i++) {
		pump(f);
		usleep(1000);
	}
	fx_restart(f, true);
	assert_int_equal(lp_broker_stats(f->b[0])->recovered, 0);
}

static int setup_store_small_segments(void **state)
{
	return setup_store_sized(state, (struct fx_sizes){.queue_capacity = 4096, .page_after = 4096,
							  .segment_bytes = 256 << 10});
}

/* The lowest id of the segment files in shard w's journal directory. */
static unsigned long oldest_segment(const struct fx *f, unsigned w)
{
	char path[512];
	unsigned long low = ULONG_MAX;
	struct dirent *d;

	snprintf(path, sizeof(path), "%s/shard-%u", f->dir, w);
	DIR *dir = opendir(path);

	assert_non_null(dir);
	while ((d = readdir(dir)) != NULL)
		if (d->d_name[0] != '.' && strtoul(d->d_name, NULL, 10) < low)
			low = strtoul(d->d_name, NULL, 10);
	closedir(dir);
	return low;
}

/*
 * Compaction: ten long-lived messages (p1) in the first segment of a
 * journal of 256 KiB segments, then thousands of short-lived ones (pd,
 * published and got) that fill several segments. The first segment, now
 * sparse, has its ten copied to the head of the journal; once the copies
 * are durable it is deleted (before: it stayed for as long as the ten did).
 * A restart finds the ten once each. And a stop right after the copies
 * were written, before the old records were released, leaves both copies:
 * recovery keeps one of each, in order.
 */
static void compaction_frees_sparse_segments(void **state)
{
	struct fx *f = *state;
	struct client *p = client_open(f, 1), *c = client_open(f, 1);
	static uint32_t got[8192];
	uint64_t published = 0;

	confirm_select(f, p, 1);
	publish_confirmed(f, p, "p1", 0, 10, false, &published);
	unsigned long first = oldest_segment(f, 1);

	for (unsigned round = 0; round < 6; round++) {
		publish_confirmed(f, p, "pd", 1000, 1024, false, &published);
		assert_int_equal(get_all(f, c, "pd", got, 8192, false, NULL), 1024);
	}
	for (unsigned r = 0; r < 20000 && (lp_broker_stats(f->b[1])->compacted < 10 ||
					   oldest_segment(f, 1) == first); r++) {
		lp_broker_poll(f->b[0]);
		lp_broker_poll(f->b[1]);
		if (r % 1000 == 999)
			usleep(1000);
	}
	assert_true(lp_broker_stats(f->b[1])->compacted >= 10);
	assert_true(oldest_segment(f, 1) > first); /* the ten's first segment is gone */

	/* Once each (a segment holding released copies may stay until the
	 * segments its settles refer to are gone: recovery drops the copies). */
	fx_restart(f, true);
	assert_int_equal(lp_broker_stats(f->b[1])->recovered, 10);

	/* Fill again with a no-ack consumer on pd, polling by hand, and stop
	 * at the first poll that copied the ten. */
	p = client_open(f, 1);
	c = client_open(f, 1);
	basic_consume(c, 1, "pd", "churn", true);
	for (unsigned round = 0; round < 64 && lp_broker_stats(f->b[1])->compacted == 0; round++) {
		for (uint32_t i = 0; i < 256; i++)
			publish_mode(p, 1, "", "pd", i, SMALL, 2);
		for (unsigned r = 0; r < 4000 && lp_broker_stats(f->b[1])->compacted == 0; r++) {
			lp_broker_poll(f->b[0]);
			lp_broker_poll(f->b[1]);
			client_read(c, SIZE_MAX);
			client_clear(c);
			client_feed(p);
			if (r % 1000 == 999)
				usleep(1000);
		}
	}
	assert_true(lp_broker_stats(f->b[1])->compacted >= 10);
	fx_restart(f, true); /* close flushed the copies; the old records stay */
	assert_int_equal(lp_broker_stats(f->b[1])->recovered, 10);
	assert_true(lp_broker_stats(f->b[1])->recovered_copies >= 1);
	c = client_open(f, 1);
	assert_int_equal(drain(f, c, "p1", got, 8192, true), 10);
	for (uint32_t i = 0; i < 10; i++)
		assert_int_equal(got[i], i);
}

/*
 * A non-durable queue under memory pressure: past half the message pool its
 * tail goes to the journal too (RabbitMQ pages transient messages out the
 * same way), so it takes three times the pool, all delivered in order; the
 * records are never recovered, and once consumed they leave no live record
 * behind.
 */
static void non_durable_queue_pages_out_under_memory_pressure(void **state)
{
	struct fx *f = *state;
	struct client *p = client_open(f, 1), *c = client_open(f, 1);
	uint64_t published = 0;

	confirm_select(f, p, 1);
	three_pools_through(f, p, c, "t1", 1, &published);
	assert_int_equal(lp_broker_stats(f->b[1])->persisted, 0); /* nothing kept */
	publish_confirmed(f, p, "t1", 50000, POOL, false, &published); /* persistent, still not kept */
	fx_restart(f, true);
	assert_int_equal(lp_broker_stats(f->b[1])->recovered, 0);
}

/*
 * A durable queue whose owner changed between two runs (the worker count
 * did): the shard that recovers its messages forwards them to the new owner,
 * which journals them, and settles its own records only once the owner says
 * they are durable. A second restart finds them on the new owner only, in
 * order, none lost and none twice.
 */
static void recovered_messages_move_to_a_new_owner_durably(void **state)
{
	struct fx *f = *state;
	struct client *p = client_open(f, 0);
	enum { N = 300 };
	static uint32_t got[2 * N];

	confirm_select(f, p, 1);
	for (uint32_t i = 0; i < N; i++)
		publish_mode(p, 1, "", "p1", i, SMALL, 2);
	pump_until_confirmed(f, p, N);

	fx_p1_owner = 0;
	fx_restart(f, true);
	assert_int_equal(lp_broker_stats(f->b[1])->recovered, N);
	for (unsigned r = 0; r < 200 && lp_broker_stats(f->b[1])->recovered_forwarded < N; r++) {
		pump(f);
		usleep(500);
	}
	assert_int_equal(lp_broker_stats(f->b[1])->recovered_forwarded, N);
	for (unsigned r = 0; r < 50; r++) { /* durable at 0, then settled at 1 */
		pump(f);
		usleep(1000);
	}

	fx_restart(f, true);
	fx_p1_owner = 1;
	assert_int_equal(lp_broker_stats(f->b[1])->recovered, 0);
	assert_int_equal(lp_broker_stats(f->b[0])->recovered, N);
	struct client *c = client_open(f, 1);

	assert_int_equal(drain(f, c, "p1", got, 2 * N, true), N);
	for (uint32_t i = 0; i < N; i++)
		assert_int_equal(got[i], i);
	assert_no_close(c);
}

/*
 * A commit with more publishes than their queue has room for is not cut
 * short: the rest of the transaction waits, in order, until a consumer
 * makes room, and Commit-Ok comes once every publish went in (before the
 * fix the publishes past the queue's capacity were dropped silently).
 */
static void tx_commit_waits_for_a_full_queue(void **state)
{
	struct fx *f = *state;
	struct client *p = client_open(f, 0), *c = client_open(f, 0);
	struct lp_amqp_method m = {.id = LP_AMQP_TX_SELECT};
	static uint32_t got[400];
	unsigned n = 0;

	client_method(p, 1, &m);
	for (uint32_t i = 0; i < 250; i++)
		publish_mode(p, 1, "", "p0", i, SMALL, 2);
	m = (struct lp_amqp_method){.id = LP_AMQP_TX_COMMIT};
	client_method(p, 1, &m);
	pump(f);
	assert_int_equal(count_ev(p, LP_AMQP_TX_SELECT_OK), 1);
	assert_int_equal(count_ev(p, LP_AMQP_TX_COMMIT_OK), 0); /* 100 went in, 150 wait */
	for (unsigned r = 0; r < 400 && n < 250; r++) {
		n += drain(f, c, "p0", got + n, 400 - n, false);
		pump(f);
		usleep(200);
	}
	assert_int_equal(n, 250);
	for (uint32_t i = 0; i < 250; i++)
		assert_int_equal(got[i], i);
	for (unsigned r = 0; r < 2000 && count_ev(p, LP_AMQP_TX_COMMIT_OK) == 0; r++) {
		pump(f);
		usleep(500);
	}
	assert_int_equal(count_ev(p, LP_AMQP_TX_COMMIT_OK), 1);
	assert_no_close(p);
}

/* Direct reply-to: a requester on worker 0 consumes from the pseudo-queue,
 * its request reaches a responder on each worker with the channel's reply
 * name, and each reply comes straight back to the requester's consumer
 * (through the ring from worker 1). A request from a channel without a
 * reply consumer is a 406; a reply to a channel gone is dropped. */
static void direct_reply_to_across_workers(void **state)
{
	struct fx *f = *state;
	struct client *req = client_open(f, 0), *r0 = client_open(f, 0), *r1 = client_open(f, 1);
	struct lp_amqp_basic_properties props = {.flags = LP_AMQP_BASIC_REPLY_TO_FLAG,
						 .reply_to = lp_amqp_cstr("amq.rabbitmq.reply-to")};

	basic_consume(req, 1, "amq.rabbitmq.reply-to", "rt", true);
	consume_ok(f, r0, 1, "q0", "s0");
	consume_ok(f, r1, 1, "q1", "s1");
	pump(f);
	assert_int_equal(count_ev(req, LP_AMQP_BASIC_CONSUME_OK), 1);
	publish_props(req, 1, "", "q0", 10, SMALL, &props, false);
	publish_props(req, 1, "", "q1", 11, SMALL, &props, false);
	pump(f);
	const struct ev *d0 = nth_ev(r0, LP_AMQP_BASIC_DELIVER, 0), *d1 = nth_ev(r1, LP_AMQP_BASIC_DELIVER, 0);

	assert_non_null(d0);
	assert_non_null(d1);
	assert_true(strncmp(d0->reply_to, "amq.rabbitmq.reply-to.", 22) == 0);
	assert_string_equal(d0->reply_to, d1->reply_to);
	char name[64];

	snprintf(name, sizeof(name), "%s", d0->reply_to);
	publish_x(r0, 1, "", name, 20, SMALL);
	publish_x(r1, 1, "", name, 21, SMALL);
	basic_ack(r0, 1, 1, false);
	basic_ack(r1, 1, 1, false);
	pump(f);
	assert_int_equal(count_ev(req, LP_AMQP_BASIC_DELIVER), 2);
	for (unsigned i = 0; i < 2; i++) {
		const struct ev *e = nth_ev(req, LP_AMQP_BASIC_DELIVER, i);

		assert_string_equal(e->name, "rt");
		assert_int_equal(e->tag, i + 1);
	}
	assert_int_equal(lp_broker_stats(f->b[0])->replies, 1);
	assert_int_equal(lp_broker_stats(f->b[1])->replies_remote, 1);
	assert_no_close(req);
	/* No reply consumer on channel 2: 406. */
	channel_open(req, 2);
	publish_props(req, 2, "", "q0", 12, SMALL, &props, false);
	pump(f);
	assert_int_equal(count_ev(req, LP_AMQP_CHANNEL_CLOSE), 1);
	assert_int_equal(nth_ev(req, LP_AMQP_CHANNEL_CLOSE, 0)->code, LP_AMQP_PRECONDITION_FAILED);
	/* The requester's channel closes: a late reply is dropped, nothing leaks. */
	channel_close(req, 1);
	pump(f);
	publish_x(r1, 1, "", name, 22, SMALL);
	pump(f);
	assert_int_equal(lp_broker_stats(f->b[1])->replies_remote, 2);
	assert_int_equal(count_ev(req, LP_AMQP_BASIC_DELIVER), 2);
	assert_no_close(r0);
	assert_no_close(r1);
	assert_pools_full(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(remote_queue_delivers_in_order_and_acks_reach_owner, setup,
						teardown),
		cmocka_unit_test_setup_teardown(remote_prefetch_is_enforced_by_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(fanout_shares_one_message_across_shards, setup, teardown),
		cmocka_unit_test_setup_teardown(nack_reject_recover_redeliver_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(channel_close_requeues_remote_unacked, setup, teardown),
		cmocka_unit_test_setup_teardown(basic_get_from_remote_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(cancel_remote_consumer, setup, teardown),
		cmocka_unit_test_setup_teardown(queue_delete_notifies_consumers, setup, teardown),
		cmocka_unit_test_setup_teardown(undrained_remote_consumer_loses_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(undrained_local_consumer_loses_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(teardown_releases_messages_in_flight, setup, teardown),
		cmocka_unit_test(mesh_rings_round_trip_and_destroy_releases),
		cmocka_unit_test(relay_routes_results_by_cookie_and_retries_eagain),
		cmocka_unit_test_setup_teardown(declare_through_relay_answers_with_owner_counts, setup,
						teardown),
		cmocka_unit_test_setup_teardown(get_ok_waits_for_send_buffer_room, setup, teardown),
		cmocka_unit_test_setup_teardown(tx_commit_with_unknown_tag_closes_the_channel, setup,
						teardown),
		cmocka_unit_test_setup_teardown(local_get_after_remote_delivery_has_its_own_tag, setup,
						teardown),
		cmocka_unit_test_setup_teardown(undrained_consumer_does_not_stall_others, setup, teardown),
		cmocka_unit_test_setup_teardown(deleted_queue_tags_stay_acknowledgeable, setup, teardown),
		cmocka_unit_test_setup_teardown(queue_stats_sample_counts_and_counters, setup, teardown),
		cmocka_unit_test(relay_keeps_request_order_after_eagain),
		cmocka_unit_test_setup_teardown(memory_alarm_blocks_and_unblocks_publishers, setup, teardown),
		cmocka_unit_test_setup_teardown(persistent_messages_are_confirmed_when_durable_and_recovered,
						setup_store, teardown),
		cmocka_unit_test_setup_teardown(acks_purges_and_deleted_queues_stay_settled, setup_store,
						teardown),
		cmocka_unit_test_setup_teardown(tx_commit_waits_for_the_journal, setup_store, teardown),
		cmocka_unit_test_setup_teardown(publish_immediate_closes_the_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(confirms_of_one_poll_are_one_multiple_ack, setup, teardown),
		cmocka_unit_test_setup_teardown(recovered_messages_move_to_a_new_owner_durably, setup_store,
						teardown),
		cmocka_unit_test_setup_teardown(deep_queue_pages_to_the_journal, setup_store_paging,
						teardown),
		cmocka_unit_test_setup_teardown(non_durable_queue_pages_out_under_memory_pressure,
						setup_store, teardown),
		cmocka_unit_test_setup_teardown(compaction_frees_sparse_segments, setup_store_small_segments,
						teardown),
		cmocka_unit_test_setup_teardown(direct_reply_to_across_workers, setup, teardown),
		cmocka_unit_test_setup_teardown(tx_commit_waits_for_a_full_queue, setup_store_small_queues,
						teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
