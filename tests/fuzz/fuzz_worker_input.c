/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the whole receive path of one worker: Ethernet
 * frames go into a ring port's rx ring, and one worker runs them through
 * eth -> arp/ip4/icmp -> tcp (a live TCB table, echo and discard services)
 * -> the AMQP listener -> the broker shard, with a topology snapshot
 * published the way the main lcore does it and declarations answered by a
 * fake lepus-control: control's own definitions model (control/definitions.c)
 * behind a link that encodes and decodes every message with the real wire
 * codec (api/lp_ctl_msg.c), so Queue.Declare, Bind, Delete, Purge complete
 * with the reply codes lepus-control would send.
 *
 * The input is a sequence of records (worker_input.h): raw frames, TCP
 * segments on client flows whose headers, checksums and seq/ack the harness
 * fills in from the dataplane's replies (read back from the port's tx ring),
 * AMQP frames on a flow, and advances of a virtual clock (retransmission,
 * delayed ACK, TIME-WAIT, heartbeats, handshake timeouts). Everything is set
 * up afresh for each input and torn down after it, and the target aborts
 * (a finding) when:
 *   - an mbuf is not back in the pool (leak or double free), or a message
 *     is not back in the broker's message pool, after the teardown;
 *   - the dataplane transmits a frame over the MTU, or an IPv4 packet whose
 *     length or header checksum is wrong, or a TCP segment with a wrong
 *     checksum (the ring port offers no checksum offload);
 *   - a message the dataplane sends to control does not decode, or a
 *     definitions change cannot be encoded for the dataplane.
 * Randomness is made deterministic per input (rte_srand, getrandom wrapped
 * at link time) and so is time, so that every finding replays.
 *
 * Every call into the dataplane's set-up, poll loop and teardown is in the
 * section "the dataplane" below; the rest of the file only injects frames
 * into the rx ring and reads the tx ring.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_random.h>
#include <rte_ring.h>
#include <rte_tcp.h>

#include "amqp_server.h"
#include "amqp_table.h"
#include "broker.h"
#include "broker_int.h"
#include "ctl_link.h"
#include "definitions.h"
#include "eth.h"
#include "lp_ctl.h"
#include "message.h"
#include "net.h"
#include "port.h"
#include "snapshot.h"
#include "tcp.h"
#include "tcp_packet.h"
#include "worker.h"
#include "worker_input.h"

#define POOL_SIZE 4096
#define MTU 1500
/* Virtual time: starts at 1000 s, each poll 50 us after the one before. */
#define START_S 1000
#define POLL_US 50
/* Polls that one record may cause to drain the rx ring. */
#define MAX_DRAIN_POLLS 64

static __attribute__((format(printf, 1, 2), noreturn)) void finding(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "fuzz_worker_input: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	abort();
}

/* FUZZ_WORKER_TRACE set: what the dataplane sent and control answered, on
 * stderr (for checking what a seed or a finding does). */
static bool trace;

/* ---- deterministic randomness ---------------------------------------- */

static uint64_t rand_state;

/* Linked with -Wl,--wrap=getrandom: salts and server-named queues replay. */
ssize_t __wrap_getrandom(void *buf, size_t len, unsigned int flags);
ssize_t __wrap_getrandom(void *buf, size_t len, unsigned int flags)
{
	uint8_t *p = buf;

	(void)flags;
	for (size_t i = 0; i < len; i++) {
		rand_state = rand_state * 6364136223846793005ULL + 1442695040888963407ULL;
		p[i] = (uint8_t)(rand_state >> 56);
	}
	return (ssize_t)len;
}

/* ---- the fake lepus-control ------------------------------------------- */

#define CTL_FIFO 256

/*
 * What the broker calls (ctl_link.h) is implemented here: every request
 * and notification is encoded as the real link encodes it and queued; the
 * next control_poll() decodes it, applies it to the definitions model as
 * ctl_request.c does, feeds the resulting changes to the snapshot publisher
 * as one delta batch, and answers requests with a RESULT.
 */
struct lp_ctl_link {
	struct lp_defs *defs;
	struct lp_ctl_link_handlers h; /* the snapshot publisher's */
	uint64_t version;
	uint64_t next_req;
	bool in_batch;
	struct {
		uint8_t *p;
		size_t len;
	} fifo[CTL_FIFO];
	unsigned head, n;
};

static struct lp_ctl_link fake_ctl;
static struct lp_worker w;

static int ctl_send(struct lp_ctl_link *l, const struct lp_ctl_msg *m)
{
	static uint8_t buf[LP_CTL_MSG_MAX];
	ssize_t n;
	uint8_t *p;

	if (l->n == CTL_FIFO)
		return -ENOBUFS;
	n = lp_ctl_encode(buf, sizeof(buf), m);
	if (n < 0)
		return (int)n;
	p = malloc((size_t)n);
	if (p == NULL)
		return -ENOMEM;
	memcpy(p, buf, (size_t)n);
	l->fifo[(l->head + l->n) % CTL_FIFO].p = p;
	l->fifo[(l->head + l->n) % CTL_FIFO].len = (size_t)n;
	l->n++;
	return 0;
}

int64_t lp_ctl_link_submit(struct lp_ctl_link *l, uint16_t type, struct lp_ctl_def_req *req)
{
	static struct lp_ctl_msg m;
	int rc;

	if (type < LP_CTL_DECLARE || type > LP_CTL_PURGE)
		return -EINVAL;
	req->req_id = ++l->next_req;
	memset(&m, 0, offsetof(struct lp_ctl_msg, hello));
	m.type = type;
	m.def_req = *req;
	rc = ctl_send(l, &m);
	return rc < 0 ? rc : (int64_t)req->req_id;
}

int lp_ctl_link_connection_closed(struct lp_ctl_link *l, uint64_t conn_id)
{
	static struct lp_ctl_msg m;

	memset(&m, 0, offsetof(struct lp_ctl_msg, hello));
	m.type = LP_CTL_CONNECTION_CLOSED;
	m.conn_closed.conn_id = conn_id;
	return ctl_send(l, &m);
}

int lp_ctl_link_queue_unused(struct lp_ctl_link *l, const char *vhost, const char *queue)
{
	static struct lp_ctl_msg m;

	memset(&m, 0, offsetof(struct lp_ctl_msg, hello));
	m.type = LP_CTL_QUEUE_UNUSED;
	snprintf(m.queue_unused.vhost, sizeof(m.queue_unused.vhost), "%s", vhost);
	snprintf(m.queue_unused.queue, sizeof(m.queue_unused.queue), "%s", queue);
	return ctl_send(l, &m);
}

/* A definitions change as the TOPO/USER/PERMISSION object ctl_sync.c sends. */
static void ctl_object(struct lp_ctl_msg *m, uint8_t op, enum lp_def_kind kind, const void *obj)
{
	memset(m, 0, offsetof(struct lp_ctl_msg, hello));
	switch (kind) {
	case LP_DEF_VHOST: {
		const struct lp_def_vhost *v = obj;

		m->type = LP_CTL_TOPO_VHOST;
		m->topo_vhost.op = op;
		memcpy(m->topo_vhost.name, v->name, sizeof(v->name));
		break;
	}
	case LP_DEF_USER: {
		const struct lp_def_user *u = obj;

		m->type = LP_CTL_USER;
		m->user.op = op;
		m->user.hash_alg = u->has_hash ? LP_CTL_HASH_SHA256 : LP_CTL_HASH_NONE;
		m->user.hash_len = u->has_hash ? LP_CTL_PASSWORD_HASH_LEN : 0;
		memcpy(m->user.hash, u->hash, sizeof(m->user.hash));
		memcpy(m->user.name, u->name, sizeof(u->name));
		memcpy(m->user.tags, u->tags, sizeof(u->tags));
		break;
	}
	case LP_DEF_PERMISSION: {
		const struct lp_def_permission *pm = obj;

		m->type = LP_CTL_PERMISSION;
		m->permission.op = op;
		memcpy(m->permission.user, pm->user, sizeof(pm->user));
		memcpy(m->permission.vhost, pm->vhost, sizeof(pm->vhost));
		memcpy(m->permission.configure, pm->configure, sizeof(pm->configure));
		memcpy(m->permission.write, pm->write, sizeof(pm->write));
		memcpy(m->permission.read, pm->read, sizeof(pm->read));
		break;
	}
	case LP_DEF_EXCHANGE: {
		const struct lp_def_exchange *x = obj;
		struct lp_ctl_topo_exchange *t = &m->topo_exchange;

		m->type = LP_CTL_TOPO_EXCHANGE;
		t->op = op;
		t->type = x->type;
		t->flags = (uint8_t)((x->durable ? LP_CTL_X_DURABLE : 0) |
				     (x->auto_delete ? LP_CTL_X_AUTO_DELETE : 0) |
				     (x->internal ? LP_CTL_X_INTERNAL : 0));
		memcpy(t->vhost, x->vhost, sizeof(x->vhost));
		memcpy(t->name, x->name, sizeof(x->name));
		memcpy(t->alternate, x->alternate, sizeof(x->alternate));
		t->args = x->args;
		t->args_len = x->args_len;
		break;
	}
	case LP_DEF_QUEUE: {
		const struct lp_def_queue *q = obj;
		struct lp_ctl_topo_queue *t = &m->topo_queue;

		m->type = LP_CTL_TOPO_QUEUE;
		t->op = op;
		t->flags = (uint8_t)((q->durable ? LP_CTL_Q_DURABLE : 0) |
				     (q->exclusive ? LP_CTL_Q_EXCLUSIVE : 0) |
				     (q->auto_delete ? LP_CTL_Q_AUTO_DELETE : 0));
		t->owner_shard = q->owner_shard;
		t->owner_conn = q->owner_conn;
		t->store_id = q->store_id;
		memcpy(t->vhost, q->vhost, sizeof(q->vhost));
		memcpy(t->name, q->name, sizeof(q->name));
		t->args = q->args;
		t->args_len = q->args_len;
		break;
	}
	case LP_DEF_BINDING: {
		const struct lp_def_binding *b = obj;
		struct lp_ctl_topo_binding *t = &m->topo_binding;

		m->type = LP_CTL_TOPO_BINDING;
		t->op = op;
		t->dest_kind = b->dest_kind;
		memcpy(t->vhost, b->vhost, sizeof(b->vhost));
		memcpy(t->source, b->source, sizeof(b->source));
		memcpy(t->destination, b->destination, sizeof(b->destination));
		memcpy(t->routing_key, b->routing_key, sizeof(b->routing_key));
		t->args = b->args;
		t->args_len = b->args_len;
		break;
	}
	}
}

/* The definitions' sink: each change goes over the wire codec to the publisher. */
static void ctl_on_change(void *arg, uint8_t op, enum lp_def_kind kind, const void *obj)
{
	static uint8_t buf[LP_CTL_MSG_MAX];
	static struct lp_ctl_msg m, d;
	struct lp_ctl_link *l = arg;
	ssize_t n;

	ctl_object(&m, op, kind, obj);
	n = lp_ctl_encode(buf, sizeof(buf), &m);
	if (n < 0)
		finding("a definitions change (kind %d) does not encode: %zd", (int)kind, n);
	if (lp_ctl_decode(buf, (size_t)n, &d) != 0)
		finding("an encoded definitions change (kind %d) does not decode", (int)kind);
	if (!l->in_batch) {
		l->in_batch = true;
		l->h.topo_begin(l->h.arg, l->version + 1, false);
	}
	l->h.topo_object(l->h.arg, &d);
}

static void ctl_batch_end(struct lp_ctl_link *l)
{
	if (!l->in_batch)
		return;
	l->in_batch = false;
	l->version++;
	l->h.topo_end(l->h.arg, l->version);
}

/* One message from the dataplane, as ctl_request.c handles it. */
static void ctl_handle(struct lp_ctl_link *l, const uint8_t *p, size_t len)
{
	static struct lp_ctl_msg m, res, dec;
	static uint8_t buf[LP_CTL_MSG_MAX];
	struct lp_def_reply r;
	ssize_t n;

	if (lp_ctl_decode(p, len, &m) != 0)
		finding("a message from the dataplane (%zu octets) does not decode", len);
	switch (m.type) {
	case LP_CTL_CONNECTION_CLOSED:
		lp_defs_connection_closed(l->defs, m.conn_closed.conn_id);
		ctl_batch_end(l);
		return;
	case LP_CTL_QUEUE_UNUSED:
		lp_defs_queue_unused(l->defs, m.queue_unused.vhost, m.queue_unused.queue, true);
		ctl_batch_end(l);
		return;
	default:
		break;
	}
	lp_defs_request(l->defs, m.type, &m.def_req, &r);
	ctl_batch_end(l);
	if (trace)
		fprintf(stderr, "control: %s '%s' source '%s' -> %u %s (version %" PRIu64 ")\n",
			lp_ctl_type_name(m.type), m.def_req.name, m.def_req.source, r.code, r.text,
			l->version);
	memset(&res, 0, offsetof(struct lp_ctl_msg, hello));
	res.type = LP_CTL_RESULT;
	res.result = (struct lp_ctl_result){
		.req_id = m.def_req.req_id,
		.reply_code = r.code,
		.status = r.status,
		.owner_shard = r.owner_shard,
		.version = l->version,
	};
	memcpy(res.result.queue, r.queue, sizeof(res.result.queue));
	memcpy(res.result.text, r.text, sizeof(res.result.text));
	n = lp_ctl_encode(buf, sizeof(buf), &res);
	if (n < 0 || lp_ctl_decode(buf, (size_t)n, &dec) != 0)
		finding("RESULT for request %" PRIu64 " does not encode (%zd)", m.def_req.req_id, n);
	lp_broker_on_result(w.broker, &dec.result);
}

/* The main lcore's control work: what the dataplane sent until now. */
static void control_poll(struct lp_ctl_link *l)
{
	for (unsigned todo = l->n; todo > 0 && l->n > 0; todo--) {
		uint8_t *p = l->fifo[l->head].p;
		size_t len = l->fifo[l->head].len;

		l->head = (l->head + 1) % CTL_FIFO;
		l->n--;
		ctl_handle(l, p, len);
		free(p);
	}
}

/* Table body (no length) of up to two string fields, or one integer field. */
static uint16_t ctl_table(uint8_t *buf, size_t cap, const char *k1, const char *v1, const char *k2,
			  const char *v2, const char *ki, int32_t vi)
{
	struct lp_amqp_wr wr;
	size_t mark;

	lp_amqp_wr_init(&wr, buf, cap);
	lp_amqp_wr_table_begin(&wr, &mark);
	if (k1 != NULL)
		lp_amqp_wr_field_str(&wr, k1, v1);
	if (k2 != NULL)
		lp_amqp_wr_field_str(&wr, k2, v2);
	if (ki != NULL) {
		struct lp_amqp_field_value v = {.kind = LP_AMQP_FIELD_I32, .i32 = vi};

		lp_amqp_wr_field(&wr, ki, &v);
	}
	lp_amqp_wr_table_end(&wr, mark);
	if (wr.overflow)
		finding("pre-declared arguments overflow");
	memmove(buf, buf + 4, wr.off - 4);
	return (uint16_t)(wr.off - 4);
}

static void ctl_define(struct lp_ctl_link *l, uint16_t type, uint8_t object, const char *name,
		       const char *source, const char *xtype, const char *key, uint16_t flags,
		       const uint8_t *args, uint16_t args_len)
{
	static struct lp_ctl_def_req req;
	struct lp_def_reply r;

	memset(&req, 0, sizeof(req));
	req.object = object;
	req.flags = flags;
	req.args = args;
	req.args_len = args_len;
	snprintf(req.vhost, sizeof(req.vhost), "/");
	snprintf(req.user, sizeof(req.user), "guest");
	snprintf(req.name, sizeof(req.name), "%s", name);
	snprintf(req.source, sizeof(req.source), "%s", source);
	snprintf(req.type, sizeof(req.type), "%s", xtype);
	snprintf(req.routing_key, sizeof(req.routing_key), "%s", key);
	lp_defs_request(l->defs, type, &req, &r);
	if (r.code != 0)
		finding("pre-declaring '%s': %u %s", name, r.code, r.text);
}

/*
 * RabbitMQ's defaults (vhost "/" with amq.*, guest/guest) and the fixed
 * topology below, sent as the first full batch (version 1).
 */
static void ctl_setup(struct lp_ctl_link *l, struct lp_snapshot_publisher *pub)
{
	const struct lp_def_sink sink = {.change = ctl_on_change, .arg = l};
	uint8_t args[256];
	uint16_t n;

	memset(l, 0, sizeof(*l));
	lp_snapshot_link_handlers(pub, &l->h);
	l->defs = lp_defs_create();
	if (l->defs == NULL)
		finding("lp_defs_create: out of memory");
	lp_defs_set_sink(l->defs, &sink);
	l->in_batch = true;
	l->h.topo_begin(l->h.arg, 1, true);
	if (lp_defs_add_defaults(l->defs) != 0)
		finding("lp_defs_add_defaults failed");

	const uint16_t X = LP_CTL_OBJ_EXCHANGE, Q = LP_CTL_OBJ_QUEUE, D = LP_CTL_F_DURABLE;

	ctl_define(l, LP_CTL_DECLARE, X, "x.fanout", "", "fanout", "", D, NULL, 0);
	n = ctl_table(args, sizeof(args), "alternate-exchange", "x.fanout", NULL, NULL, NULL, 0);
	ctl_define(l, LP_CTL_DECLARE, X, "x.direct", "", "direct", "", D, args, n);
	ctl_define(l, LP_CTL_DECLARE, X, "x.topic", "", "topic", "", 0, NULL, 0);
	ctl_define(l, LP_CTL_DECLARE, X, "x.headers", "", "headers", "", 0, NULL, 0);
	ctl_define(l, LP_CTL_DECLARE, X, "x.internal", "", "topic", "", LP_CTL_F_INTERNAL, NULL, 0);
	ctl_define(l, LP_CTL_DECLARE, Q, "q.a", "", "", "", D, NULL, 0);
	ctl_define(l, LP_CTL_DECLARE, Q, "q.b", "", "", "", 0, NULL, 0);
	n = ctl_table(args, sizeof(args), NULL, NULL, NULL, NULL, "x-max-length", 4);
	ctl_define(l, LP_CTL_DECLARE, Q, "q.c", "", "", "", 0, args, n);
	ctl_define(l, LP_CTL_DECLARE, Q, "q.auto", "", "", "", LP_CTL_F_AUTO_DELETE, NULL, 0);
	ctl_define(l, LP_CTL_BIND, Q, "q.a", "x.direct", "", "a", 0, NULL, 0);
	ctl_define(l, LP_CTL_BIND, Q, "q.a", "x.fanout", "", "", 0, NULL, 0);
	ctl_define(l, LP_CTL_BIND, Q, "q.b", "x.fanout", "", "", 0, NULL, 0);
	ctl_define(l, LP_CTL_BIND, Q, "q.b", "x.topic", "", "*.b.#", 0, NULL, 0);
	ctl_define(l, LP_CTL_BIND, Q, "q.c", "x.topic", "", "#", 0, NULL, 0);
	n = ctl_table(args, sizeof(args), "x-match", "any", "h", "v", NULL, 0);
	ctl_define(l, LP_CTL_BIND, Q, "q.c", "x.headers", "", "", 0, args, n);
	ctl_define(l, LP_CTL_BIND, X, "x.fanout", "x.topic", "", "e.#", 0, NULL, 0);
	ctl_define(l, LP_CTL_BIND, Q, "q.auto", "x.internal", "", "#", 0, NULL, 0);
	ctl_batch_end(l);
}

static void ctl_teardown(struct lp_ctl_link *l)
{
	while (l->n > 0) {
		free(l->fifo[l->head].p);
		l->head = (l->head + 1) % CTL_FIFO;
		l->n--;
	}
	lp_defs_destroy(l->defs);
	l->defs = NULL;
}

/* ---- the dataplane ------------------------------------------------------
 * Every call into its set-up, poll loop and teardown; adapt here when its
 * structure changes. */

static struct rte_mempool *pool;
static struct lp_port *port;
static struct lp_netif netif;
static struct lp_snapshot_publisher *pub;
static uint64_t vclock, tsc_per_ms;

static void read_tx(void);

/* Once per process: the EAL, the mbuf pool and a ring port. */
static void dp_init(void)
{
	char prefix[64];
	struct lp_port_info info;
	struct lp_port_config pc = {.n_queues = 1, .rx_desc = 1024, .tx_desc = 4096};

	snprintf(prefix, sizeof(prefix), "--file-prefix=fuzzwp%d", (int)getpid());
	char *argv[] = {"fuzz_worker_input", "--no-huge", "-m", "256", "--no-pci", "--no-shconf",
			"--no-telemetry", "--log-level=error", prefix, "-l", "0", NULL};

	if (rte_eal_init((int)(sizeof(argv) / sizeof(argv[0])) - 1, argv) < 0) {
		fprintf(stderr, "fuzz_worker_input: rte_eal_init failed\n");
		exit(1);
	}
	pool = rte_pktmbuf_pool_create("fuzzwp", POOL_SIZE, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       SOCKET_ID_ANY);
	snprintf(pc.spec, sizeof(pc.spec), "ring:fuzzwp");
	pc.pool = pool;
	port = pool != NULL ? lp_port_open(&pc, &info) : NULL;
	if (port == NULL) {
		fprintf(stderr, "fuzz_worker_input: no mbuf pool or ring port\n");
		exit(1);
	}
	netif = (struct lp_netif){
		.port_id = info.port_id,
		.mac = {WI_OUR_MAC},
		.ip = rte_cpu_to_be_32(WI_OUR_IP),
		.netmask = rte_cpu_to_be_32(0xffffff00),
		.mtu = MTU,
	};
	tsc_per_ms = rte_get_tsc_hz() / 1000;
}

/*
 * Per input: the snapshot publisher fed by the fake control, a worker with
 * TCP (echo and discard on), its broker shard on the fake control link (one
 * lcore: the worker calls the link itself) and the AMQP listener served by
 * it (lp_worker_listen_amqp registers the broker's session ops), in main.c's
 * order. Limits are small so that they are reached.
 */
static void dp_setup(void)
{
	struct lp_tcp_config tcfg = {
		.max_conns = 8,
		.syn_backlog = 4,
		.rcv_buf = 65536,
		.snd_buf = 65536,
		.echo_port = WI_ECHO_PORT,
		.discard_port = WI_DISCARD_PORT,
	};
	struct lp_amqp_server_config acfg;
	struct lp_broker_config bcfg;
	int rc;

	rte_srand(1);
	pub = lp_snapshot_publisher_create(1);
	if (pub == NULL)
		finding("lp_snapshot_publisher_create failed");
	ctl_setup(&fake_ctl, pub);
	if (lp_worker_init(&w, 0, rte_lcore_id(), &netif, port, pool, pub) != 0)
		finding("lp_worker_init failed");
	w.net.now_tsc = vclock;
	w.net.ip_id = 1;
	rc = lp_tcp_worker_create(&w.net, &tcfg);
	if (rc != 0)
		finding("lp_tcp_worker_create: %d", rc);
	lp_broker_config_default(&bcfg);
	bcfg.max_messages = 64;
	bcfg.body_max = 256;
	bcfg.max_queues = 16;
	bcfg.queue_capacity = 64;
	bcfg.max_channels = 32;
	bcfg.max_consumers = 32;
	bcfg.remote_unacked = 64;
	bcfg.backlog_ops = 64;
	bcfg.pending_confirms = 32;
	bcfg.tx_entries = 32;
	w.broker = lp_broker_create(0, &bcfg, pub, &fake_ctl, NULL);
	if (w.broker == NULL)
		finding("lp_broker_create: %s", rte_strerror(rte_errno));
	lp_amqp_server_config_default(&acfg);
	acfg.port = WI_AMQP_PORT;
	acfg.max_conns = WI_AMQP_FLOWS - 1; /* the last AMQP flow is refused */
	acfg.conn.channel_max = 64;
	rc = lp_worker_listen_amqp(&w, &acfg, NULL);
	if (rc != 0)
		finding("lp_worker_listen_amqp: %d", rc);
}

/*
 * One lp_worker_poll() iteration on the virtual clock (lp_net_rx reads the
 * TSC, so its steps are taken here one by one: snapshot, rx burst up the
 * stack, broker, AMQP output, TCP output and timers, quiescent state), then
 * the main lcore's control work, as single_lcore_loop() interleaves them;
 * until the rx ring is empty.
 */
static void dp_poll(void)
{
	struct rte_ring *rx = lp_port_ring_rx(port, 0);
	struct rte_mbuf *pkts[LP_RX_BURST];

	for (unsigned i = 0; i < MAX_DRAIN_POLLS; i++) {
		vclock += tsc_per_ms * POLL_US / 1000;
		w.snap = lp_snapshot_current(w.snapshots);
		lp_amqp_server_set_auth(w.amqp, w.snap->auth);
		lp_broker_set_snapshot(w.broker, w.snap);
		w.net.now_tsc = vclock;
		uint16_t n = lp_port_rx(w.net.port, (uint16_t)w.net.id, pkts, LP_RX_BURST);

		w.net.stats.rx_packets += n;
		for (uint16_t k = 0; k < n; k++)
			lp_eth_input(&w.net, pkts[k]);
		lp_broker_poll(w.broker);
		lp_amqp_server_poll(w.amqp);
		lp_net_output(&w.net);
		lp_snapshot_quiescent(w.snapshots, w.net.id);
		read_tx();
		control_poll(&fake_ctl);
		lp_snapshot_reclaim(pub);
		if (rte_ring_count(rx) == 0)
			break;
	}
}

/* main.c's teardown order, then the leak checks. */
static void dp_teardown(void)
{
	struct rte_ring *rx = lp_port_ring_rx(port, 0);
	void *m;

	lp_amqp_server_destroy(w.amqp);
	w.amqp = NULL;
	lp_broker_drop_messages(w.broker);
	if (lp_msg_pool_available(w.broker->pool) != lp_msg_pool_capacity(w.broker->pool))
		finding("%u broker messages not back in the pool after teardown",
			lp_msg_pool_capacity(w.broker->pool) - lp_msg_pool_available(w.broker->pool));
	lp_broker_destroy(w.broker);
	w.broker = NULL;
	lp_tcp_worker_destroy(&w.net);
	lp_net_tx_flush(&w.net);
	read_tx();
	while (rte_ring_dequeue(rx, &m) == 0)
		rte_pktmbuf_free(m);
	ctl_teardown(&fake_ctl);
	lp_snapshot_publisher_destroy(pub);
	pub = NULL;
	if (rte_mempool_in_use_count(pool) != 0)
		finding("%u mbufs not back in the pool after teardown (leak or double free)",
			rte_mempool_in_use_count(pool));
}

/* ---- client flows ------------------------------------------------------ */

struct flow {
	uint16_t sport, dport;
	uint32_t isn;     /* of the flow's next connection */
	uint32_t snd_nxt; /* the client's next sequence number */
	uint32_t srv_nxt; /* the dataplane's next one, from its segments */
	uint32_t srv_ack; /* the last ack the dataplane sent */
	uint16_t wnd;     /* the window the input chose last */
};

static struct flow flows[WI_FLOWS];
static uint16_t peer_ip_id;

static void flows_init(void)
{
	for (unsigned i = 0; i < WI_FLOWS; i++) {
		flows[i] = (struct flow){
			.sport = (uint16_t)(WI_SPORT + i),
			.dport = i < WI_AMQP_FLOWS ? WI_AMQP_PORT
				 : i == WI_AMQP_FLOWS ? WI_ECHO_PORT : WI_DISCARD_PORT,
			.isn = 0x10000000u * (i + 1),
			.wnd = 65535,
		};
		flows[i].snd_nxt = flows[i].isn;
	}
	peer_ip_id = 1;
}

/* The next connection on f starts far beyond this one (TIME-WAIT reuse). */
static void flow_next_isn(struct flow *f)
{
	f->isn += 0x01000000u;
}

static void rx_inject(struct rte_mbuf *m)
{
	if (rte_ring_enqueue(lp_port_ring_rx(port, 0), m) != 0)
		rte_pktmbuf_free(m); /* the NIC's rx ring overran */
}

/* One TCP segment from the peer on f, checksums filled in. */
static void tcp_inject(const struct flow *f, uint8_t flags, uint16_t wnd, uint32_t seq, uint32_t ack,
		       const uint8_t *opts, unsigned optlen, const uint8_t *data, unsigned len,
		       bool bad_csum)
{
	static const struct rte_ether_addr our = {WI_OUR_MAC}, peer = {WI_PEER_MAC};
	unsigned hlen = LP_TCP_HDR_LEN + optlen;
	unsigned total = (unsigned)sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr) + hlen + len;
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	uint8_t *p;

	if (m == NULL)
		return; /* the dataplane holds every mbuf: the NIC drops */
	p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)total);
	if (p == NULL) {
		rte_pktmbuf_free(m);
		return;
	}
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)p;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)(ip + 1);

	eth->dst_addr = our;
	eth->src_addr = peer;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	memset(ip, 0, sizeof(*ip));
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(sizeof(*ip) + hlen + len));
	ip->packet_id = rte_cpu_to_be_16(peer_ip_id++);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_TCP;
	ip->src_addr = rte_cpu_to_be_32(WI_PEER_IP);
	ip->dst_addr = rte_cpu_to_be_32(WI_OUR_IP);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	memset(th, 0, sizeof(*th));
	th->src_port = rte_cpu_to_be_16(f->sport);
	th->dst_port = rte_cpu_to_be_16(f->dport);
	th->sent_seq = rte_cpu_to_be_32(seq);
	th->recv_ack = rte_cpu_to_be_32(ack);
	th->data_off = (uint8_t)((hlen / 4) << 4);
	th->tcp_flags = flags;
	th->rx_win = rte_cpu_to_be_16(wnd);
	if (optlen > 0)
		memcpy(th + 1, opts, optlen);
	if (len > 0)
		memcpy((uint8_t *)th + hlen, data, len);
	th->cksum = rte_ipv4_udptcp_cksum(ip, th);
	if (bad_csum)
		th->cksum ^= 0x5a5a;
	rx_inject(m);
}

/* A segment chosen by the input: seq and ack from the flow's state. */
static void flow_send(struct flow *f, uint8_t flags, uint8_t ctl, uint16_t wnd, int32_t seq_off,
		      int32_t ack_off, const uint8_t *opts, unsigned optlen, const uint8_t *data,
		      unsigned len)
{
	bool syn_only = (flags & LP_TCP_SYN) && !(flags & LP_TCP_ACK);
	uint32_t seq, ack;

	if (syn_only)
		seq = f->isn;
	else if (ctl & WI_SEQ_FROM_ACK)
		seq = f->srv_ack;
	else
		seq = f->snd_nxt;
	seq += (uint32_t)seq_off;
	ack = (ctl & WI_RAW_ACK) ? (uint32_t)ack_off : f->srv_nxt + (uint32_t)ack_off;
	tcp_inject(f, flags, wnd, seq, ack, opts, optlen, data, len, (ctl & WI_BAD_CSUM) != 0);
	if (!(ctl & WI_NO_ADVANCE)) {
		uint32_t end = seq + len + !!(flags & LP_TCP_SYN) + !!(flags & LP_TCP_FIN);

		if (syn_only || lp_seq_gt(end, f->snd_nxt))
			f->snd_nxt = end;
	}
	if (flags & (LP_TCP_FIN | LP_TCP_RST))
		flow_next_isn(f);
	f->wnd = wnd;
}

/* Check one frame the dataplane sent and learn the flow's sequence numbers. */
static void tx_frame(const struct rte_mbuf *m)
{
	static uint8_t buf[RTE_ETHER_HDR_LEN + MTU];
	uint32_t len = rte_pktmbuf_pkt_len(m);
	const uint8_t *p;

	if (len > sizeof(buf))
		finding("a %u-octet frame sent, over the MTU %u", len, MTU);
	p = rte_pktmbuf_read(m, 0, len, buf);
	if (p == NULL)
		finding("a %u-octet frame whose segments hold less", len);
	if (len < sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr))
		return;
	const struct rte_ether_hdr *eth = (const struct rte_ether_hdr *)p;
	const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)(eth + 1);

	if (trace && ip->next_proto_id != IPPROTO_TCP)
		fprintf(stderr, "tx ethertype %#06x, %u octets, IPv4 protocol %u\n",
			rte_be_to_cpu_16(eth->ether_type), len, ip->next_proto_id);
	if (eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4))
		return;
	unsigned ihl = (unsigned)(ip->version_ihl & 0x0f) * 4;

	if ((ip->version_ihl >> 4) != 4 || ihl < sizeof(*ip) || ihl > len - sizeof(*eth))
		finding("an IPv4 packet sent with version/IHL %#x", ip->version_ihl);
	if (rte_be_to_cpu_16(ip->total_length) != len - sizeof(*eth))
		finding("an IPv4 packet sent with total length %u in a %u-octet frame",
			rte_be_to_cpu_16(ip->total_length), len);
	if (rte_raw_cksum(ip, ihl) != 0xffff)
		finding("an IPv4 packet sent with a bad header checksum");
	if (ip->next_proto_id != IPPROTO_TCP)
		return;
	if (ihl != sizeof(*ip) || len - sizeof(*eth) - ihl < sizeof(struct rte_tcp_hdr))
		finding("a TCP segment sent with IHL %u and %u octets", ihl, len);
	const struct rte_tcp_hdr *th = (const struct rte_tcp_hdr *)(ip + 1);
	unsigned hlen = (unsigned)(th->data_off >> 4) * 4;

	if (hlen < LP_TCP_HDR_LEN || hlen > len - sizeof(*eth) - ihl)
		finding("a TCP segment sent with data offset %u", hlen);
	if (rte_ipv4_udptcp_cksum_verify(ip, th) != 0)
		finding("a TCP segment sent with a bad checksum");
	if (ip->dst_addr != rte_cpu_to_be_32(WI_PEER_IP))
		return;
	uint16_t cport = rte_be_to_cpu_16(th->dst_port);

	if (cport < WI_SPORT || cport >= WI_SPORT + WI_FLOWS)
		return;
	struct flow *f = &flows[cport - WI_SPORT];

	if (rte_be_to_cpu_16(th->src_port) != f->dport)
		return;
	uint8_t flags = th->tcp_flags;
	uint32_t seq = rte_be_to_cpu_32(th->sent_seq);
	uint32_t plen = len - (uint32_t)sizeof(*eth) - ihl - hlen;

	if (flags & LP_TCP_RST) {
		if (trace)
			fprintf(stderr, "tx flow %u: RST seq %u\n", cport - WI_SPORT, seq);
		flow_next_isn(f);
		return;
	}
	if (trace) {
		const uint8_t *pl = (const uint8_t *)th + hlen;

		fprintf(stderr, "tx flow %u: flags %#04x seq %u ack %u wnd %u len %u", cport - WI_SPORT,
			flags, seq, rte_be_to_cpu_32(th->recv_ack), rte_be_to_cpu_16(th->rx_win), plen);
		/* An AMQP method frame at the segment's start: class and method. */
		if (plen >= 11 && pl[0] == 1)
			fprintf(stderr, " amqp ch %u method %u.%u", pl[1] << 8 | pl[2], pl[7] << 8 | pl[8],
				pl[9] << 8 | pl[10]);
		fprintf(stderr, "\n");
	}
	uint32_t end = seq + plen + !!(flags & LP_TCP_SYN) + !!(flags & LP_TCP_FIN);

	if ((flags & LP_TCP_SYN) || lp_seq_gt(end, f->srv_nxt))
		f->srv_nxt = end;
	if (flags & LP_TCP_ACK)
		f->srv_ack = rte_be_to_cpu_32(th->recv_ack);
}

static void read_tx(void)
{
	struct rte_ring *tx = lp_port_ring_tx(port, 0);
	void *objs[64];
	unsigned n;

	while ((n = rte_ring_dequeue_burst(tx, objs, RTE_DIM(objs), NULL)) > 0) {
		for (unsigned i = 0; i < n; i++) {
			tx_frame(objs[i]);
			rte_pktmbuf_free(objs[i]);
		}
	}
}

/* ---- records ----------------------------------------------------------- */

struct rd {
	const uint8_t *p;
	size_t n;
};

static bool rd_bytes(struct rd *r, size_t n, const uint8_t **out)
{
	if (r->n < n)
		return false;
	*out = r->p;
	r->p += n;
	r->n -= n;
	return true;
}

static bool rd_u8(struct rd *r, uint8_t *v)
{
	const uint8_t *p;

	if (!rd_bytes(r, 1, &p))
		return false;
	*v = p[0];
	return true;
}

static bool rd_u16(struct rd *r, uint16_t *v)
{
	const uint8_t *p;

	if (!rd_bytes(r, 2, &p))
		return false;
	*v = (uint16_t)(p[0] | p[1] << 8);
	return true;
}

static bool rd_u32(struct rd *r, uint32_t *v)
{
	const uint8_t *p;

	if (!rd_bytes(r, 4, &p))
		return false;
	*v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	return true;
}

/* A length-prefixed run, cut to what the input holds and to max. */
static bool rd_data(struct rd *r, size_t max, const uint8_t **p, unsigned *len)
{
	uint16_t n;

	if (!rd_u16(r, &n))
		return false;
	size_t k = n < r->n ? n : r->n;

	rd_bytes(r, k, p);
	*len = (unsigned)(k < max ? k : max);
	return true;
}

static bool record_raw(struct rd *r)
{
	const uint8_t *p;
	unsigned len;

	if (!rd_data(r, WI_RAW_MAX, &p, &len))
		return false;
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);

	if (m == NULL)
		return true;
	uint8_t *d = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)len);

	if (d == NULL) {
		rte_pktmbuf_free(m);
		return true;
	}
	memcpy(d, p, len);
	rx_inject(m);
	return true;
}

static bool record_seg(struct rd *r)
{
	uint8_t fi, flags, ctl, optlen = 0;
	uint16_t wnd;
	uint32_t seq_off = 0, ack_off = 0;
	uint8_t opts[WI_OPTS_MAX] = {0};
	const uint8_t *p, *data;
	unsigned len;

	if (!rd_u8(r, &fi) || !rd_u8(r, &flags) || !rd_u8(r, &ctl) || !rd_u16(r, &wnd))
		return false;
	if ((ctl & WI_SEQ_OFF) && !rd_u32(r, &seq_off))
		return false;
	if ((ctl & WI_ACK_OFF) && !rd_u32(r, &ack_off))
		return false;
	if (ctl & WI_OPTS) {
		if (!rd_u8(r, &optlen))
			return false;
		if (optlen > WI_OPTS_MAX)
			optlen = WI_OPTS_MAX;
		if (!rd_bytes(r, optlen, &p))
			return false;
		memcpy(opts, p, optlen);
		optlen = (uint8_t)((optlen + 3) & ~3u); /* EOL padding: opts was zeroed */
	}
	if (!rd_data(r, WI_SEG_MAX - optlen, &data, &len))
		return false;
	flow_send(&flows[fi % WI_FLOWS], flags, ctl, wnd, (int32_t)seq_off, (int32_t)ack_off, opts,
		  optlen, data, len);
	return true;
}

static bool record_frame(struct rd *r)
{
	static uint8_t buf[7 + 65535 + 1];
	uint8_t fi, type;
	uint16_t ch;
	const uint8_t *p;
	unsigned len;

	if (!rd_u8(r, &fi) || !rd_u8(r, &type) || !rd_u16(r, &ch) ||
	    !rd_data(r, sizeof(buf) - 8, &p, &len))
		return false;
	/* AMQP 0-9-1 2.3.5: type, channel, size, payload, frame-end 0xCE. */
	buf[0] = type;
	buf[1] = (uint8_t)(ch >> 8);
	buf[2] = (uint8_t)ch;
	buf[3] = (uint8_t)(len >> 24);
	buf[4] = (uint8_t)(len >> 16);
	buf[5] = (uint8_t)(len >> 8);
	buf[6] = (uint8_t)len;
	memcpy(buf + 7, p, len);
	buf[7 + len] = 0xCE;

	struct flow *f = &flows[fi % WI_FLOWS];
	unsigned total = 7 + len + 1;

	for (unsigned off = 0; off < total; off += WI_SEG_MAX) {
		unsigned n = total - off < WI_SEG_MAX ? total - off : WI_SEG_MAX;

		flow_send(f, LP_TCP_PSH | LP_TCP_ACK, 0, f->wnd, 0, 0, NULL, 0, buf + off, n);
	}
	return true;
}

static bool record_time(struct rd *r)
{
	uint16_t t;

	if (!rd_u16(r, &t))
		return false;
	uint64_t ms = (uint64_t)(t & 0x7fff) * ((t & 0x8000) ? 100 : 1);
	uint64_t total = ms * tsc_per_ms;
	unsigned steps = ms < WI_TIME_STEPS ? (unsigned)(ms > 0 ? ms : 1) : WI_TIME_STEPS;

	for (unsigned i = 0; i < steps; i++) {
		vclock += total / steps;
		dp_poll();
	}
	return true;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	dp_init();
	trace = getenv("FUZZ_WORKER_TRACE") != NULL;
	/* lp_tcp_worker_destroy logs a line per input. */
	if (getenv("FUZZ_WORKER_VERBOSE") == NULL && freopen("/dev/null", "w", stdout) == NULL)
		exit(1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rd r = {data, size};
	bool held = false;
	uint8_t tag;

	rand_state = 0x9e3779b97f4a7c15ULL;
	vclock = (uint64_t)START_S * 1000 * tsc_per_ms;
	flows_init();
	dp_setup();
	while (rd_u8(&r, &tag)) {
		bool ok = false;

		switch (tag & WI_KIND_MASK) {
		case WI_RAW:
			ok = record_raw(&r);
			break;
		case WI_SEG:
			ok = record_seg(&r);
			break;
		case WI_FRAME:
			ok = record_frame(&r);
			break;
		case WI_TIME:
			ok = record_time(&r);
			break;
		}
		if (!ok)
			break;
		held = (tag & WI_HOLD) && (tag & WI_KIND_MASK) != WI_TIME;
		if (!held && (tag & WI_KIND_MASK) != WI_TIME)
			dp_poll();
	}
	if (held)
		dp_poll();
	dp_teardown();
	return 0;
}
