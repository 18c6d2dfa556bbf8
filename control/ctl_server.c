/* SPDX-License-Identifier: MIT */
/*
 * lepus-control's socket loop (see ctl_server.h).
 *
 * accept -> peer slot -> recv -> lp_ctl_decode -> peer_dispatch by role:
 *   no role yet: only HELLO (answered with HELLO_ACK or HELLO_NAK);
 *   dataplane:   HEARTBEAT (echoed), DROP_NAMES and STATS (kept in `dp`),
 *                DECLARE/DELETE/BIND/UNBIND/PURGE (-> lp_defs_request ->
 *                delta batch + RESULT), CONNECTION_CLOSED, QUEUE_UNUSED;
 *   cli:         STATUS_REQ, answered from `dp` by a resumable response
 *                (STATUS_RESP, DROP_NAMES, STATS chunks); LIST_REQ (a full
 *                batch of what was asked); ADMIN_REQ (RESULT).
 * Every change to the definitions goes change_begin() -> definitions ->
 * on_change() (store row + encoded TOPO object) -> change_end() (COMMIT, then
 * TOPO_BEGIN, objects, TOPO_END queued to the dataplane). A dataplane gets a
 * full batch right after its HELLO_ACK. What a peer's socket cannot take at
 * once waits in that peer's output queue (bounded by OUTQ_MAX) and goes out
 * on POLLOUT, in order.
 * Anything malformed or out of place closes that peer with a logged reason;
 * nothing a peer sends can stop the loop. Peers are bounded (MAX_PEERS) and
 * each is dropped after a period of silence.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl_log.h"
#include "ctl_server.h"
#include "definitions.h"
#include "lp_ctl.h"
#include "store.h"

#ifndef LP_VERSION
#define LP_VERSION "unknown"
#endif

#define MAX_PEERS 64
#define RX_PER_PEER 32 /* messages read from one peer per loop iteration */
#define TICK_MS 200
#define DEAD_AFTER_NS (LP_CTL_HEARTBEAT_MISSES * LP_CTL_HEARTBEAT_INTERVAL_NS)
#define CLI_IDLE_NS (10 * 1000000000ull)

#define OUTQ_MAX (64u << 20) /* bytes waiting for one peer before it is dropped */

enum resp_stage { RESP_NONE, RESP_HEAD, RESP_NAMES, RESP_STATS };

/* One encoded datagram waiting to be sent. */
struct outmsg {
	struct outmsg *next;
	size_t len;
	uint8_t data[];
};

struct outq {
	struct outmsg *head;
	struct outmsg **tail;
	size_t bytes;
	unsigned n;
};

struct peer {
	int fd;          /* -1: free slot */
	unsigned id;     /* for log lines */
	uint16_t role;   /* 0 until HELLO is accepted */
	uint32_t pid;
	uint32_t seq;    /* of our messages to this peer */
	uint64_t last_rx_ns;
	/* status response in progress (cli) */
	enum resp_stage stage;
	unsigned next_worker;
	uint64_t resp_gen;
	struct outq out; /* waiting for POLLOUT */
};

/* What control knows about the connected dataplane. */
struct dp_view {
	int peer; /* slot, -1 when none */
	struct lp_ctl_hello hello;
	uint64_t connected_ns;
	bool have_names;
	struct lp_ctl_drop_names names;
	uint64_t *stats; /* hello.n_workers x (LP_CTL_STAT_DROP0 + names.n) */
	bool have_stats;
	uint64_t stats_rx_ns;
	uint64_t gen; /* bumped whenever the layout of stats changes */
};

struct lp_ctl_server {
	struct sockaddr_un addr;
	int listen_fd;
	dev_t sock_dev;
	ino_t sock_ino;
	uint64_t start_ns;
	unsigned next_peer_id;
	struct peer peers[MAX_PEERS];
	struct dp_view dp;
	struct lp_ctl_msg msg;
	uint8_t buf[LP_CTL_MSG_MAX];

	/* definitions (NULL until lp_ctl_server_set_definitions) */
	struct lp_defs *defs;
	struct lp_store *store;
	uint64_t version;      /* of the last delta batch */
	uint32_t last_dp_pid;  /* 0: no dataplane seen yet */
	bool in_change;
	struct outq batch;     /* encoded objects of the change in progress */
	uint32_t batch_n;      /* changes in it (also counted with no dataplane) */
	struct lp_ctl_msg omsg; /* the object being encoded */
	uint8_t obuf[LP_CTL_MSG_MAX];
	uint8_t args[LP_CTL_ARGS_MAX]; /* a request's arguments, copied out of buf */
};

static void outq_init(struct outq *q);
static void dataplane_sync(struct lp_ctl_server *s, struct peer *p);

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const char *role_name(uint16_t role)
{
	switch (role) {
	case LP_CTL_ROLE_DATAPLANE: return "dataplane";
	case LP_CTL_ROLE_CLI: return "cli";
	default: return "peer";
	}
}

/* ---- socket set-up ---------------------------------------------------- */

static int mkdir_parents(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(dir, 0755) < 0 && errno != EEXIST)
				return -errno;
			*p = c;
			if (c == '\0')
				break;
		}
	}
	return 0;
}

/* Remove path if it is a socket nobody listens on. 0 or -errno. */
static int remove_stale_socket(const struct sockaddr_un *addr)
{
	struct stat st;
	if (lstat(addr->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -ENOTSOCK;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int rc = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
	int err = errno;
	close(fd);
	if (rc == 0)
		return -EADDRINUSE;
	if (err != ECONNREFUSED)
		return -err;
	if (unlink(addr->sun_path) < 0 && errno != ENOENT)
		return -errno;
	lp_log(LP_LOG_INFO, "removed stale socket %s", addr->sun_path);
	return 0;
}

struct lp_ctl_server *lp_ctl_server_create(const char *socket_path)
{
	if (strlen(socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	struct lp_ctl_server *s = calloc(1, sizeof(*s));
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	s->addr.sun_family = AF_UNIX;
	strcpy(s->addr.sun_path, socket_path);
	s->listen_fd = -1;
	s->dp.peer = -1;
	for (unsigned i = 0; i < MAX_PEERS; i++) {
		s->peers[i].fd = -1;
		outq_init(&s->peers[i].out);
	}
	outq_init(&s->batch);

	int rc = mkdir_parents(socket_path);
	if (rc == 0)
		rc = remove_stale_socket(&s->addr);
	if (rc < 0)
		goto fail;
	s->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0) {
		rc = -errno;
		goto fail;
	}
	if (bind(s->listen_fd, (const struct sockaddr *)&s->addr, sizeof(s->addr)) < 0 ||
	    listen(s->listen_fd, 16) < 0) {
		rc = -errno;
		goto fail;
	}
	struct stat st;
	if (stat(socket_path, &st) == 0) {
		s->sock_dev = st.st_dev;
		s->sock_ino = st.st_ino;
	}
	chmod(socket_path, 0660);
	s->start_ns = now_ns();
	lp_log(LP_LOG_INFO, "listening on %s (protocol version %d)", socket_path, LP_CTL_VERSION);
	return s;
fail:
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	free(s);
	errno = -rc;
	return NULL;
}

/* ---- output queues ---------------------------------------------------- */

static void outq_init(struct outq *q)
{
	q->head = NULL;
	q->tail = &q->head;
	q->bytes = 0;
	q->n = 0;
}

static void outq_clear(struct outq *q)
{
	while (q->head) {
		struct outmsg *m = q->head;
		q->head = m->next;
		free(m);
	}
	outq_init(q);
}

/* Append a copy of data[0..len). 0 or -ENOMEM. */
static int outq_push(struct outq *q, const void *data, size_t len)
{
	struct outmsg *m = malloc(sizeof(*m) + len);
	if (!m)
		return -ENOMEM;
	m->next = NULL;
	m->len = len;
	memcpy(m->data, data, len);
	*q->tail = m;
	q->tail = &m->next;
	q->bytes += len;
	q->n++;
	return 0;
}

/* Header seq is the u32 at offset 12 (lp_ctl.h). */
static void stamp_seq(uint8_t *dgram, uint32_t seq)
{
	for (int i = 0; i < 4; i++)
		dgram[12 + i] = (uint8_t)(seq >> (8 * i));
}

/* Send what p's queue holds until its socket is full. 0 or -errno. */
static int outq_flush(struct peer *p)
{
	struct outq *q = &p->out;
	while (q->head) {
		struct outmsg *m = q->head;
		ssize_t r = send(p->fd, m->data, m->len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (r != (ssize_t)m->len)
			return r < 0 ? -errno : -EIO;
		q->head = m->next;
		if (!q->head)
			q->tail = &q->head;
		q->bytes -= m->len;
		q->n--;
		free(m);
	}
	return 0;
}

/* Send dgram (seq already stamped) to p now, or queue it behind what waits.
 * 0, -ENOBUFS (queue limit reached), or another -errno. */
static int peer_send_raw(struct peer *p, const uint8_t *dgram, size_t len)
{
	if (!p->out.head) {
		ssize_t r = send(p->fd, dgram, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r == (ssize_t)len)
			return 0;
		if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			return r < 0 ? -errno : -EIO;
	}
	if (p->out.bytes + len > OUTQ_MAX)
		return -ENOBUFS;
	return outq_push(&p->out, dgram, len);
}

/* ---- the dataplane view ------------------------------------------------ */

static void dp_clear(struct dp_view *dp)
{
	free(dp->stats);
	uint64_t gen = dp->gen + 1;
	memset(dp, 0, sizeof(*dp));
	dp->peer = -1;
	dp->gen = gen;
}

static void peer_close(struct lp_ctl_server *s, struct peer *p, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void peer_close(struct lp_ctl_server *s, struct peer *p, const char *fmt, ...)
{
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);

	int slot = (int)(p - s->peers);
	if (s->dp.peer == slot) {
		lp_log(LP_LOG_WARN, "dataplane pid %u disconnected: %s", s->dp.hello.pid, why);
		dp_clear(&s->dp);
	} else {
		lp_log(p->role == LP_CTL_ROLE_CLI ? LP_LOG_DEBUG : LP_LOG_WARN,
		       "closing %s connection #%u: %s", role_name(p->role), p->id, why);
	}
	close(p->fd);
	outq_clear(&p->out);
	memset(p, 0, sizeof(*p));
	p->fd = -1;
	outq_init(&p->out);
}

/* Encode s->msg and send it to p, or queue it when p's socket is full.
 * 0, -ENOBUFS (p's queue is at its limit), or another -errno. */
static int peer_send(struct lp_ctl_server *s, struct peer *p)
{
	s->msg.seq = ++p->seq;
	ssize_t n = lp_ctl_encode(s->buf, sizeof(s->buf), &s->msg);
	if (n < 0)
		return (int)n;
	return peer_send_raw(p, s->buf, (size_t)n);
}

/* Send s->msg or close p. Returns false when p was closed. */
static bool peer_send_or_close(struct lp_ctl_server *s, struct peer *p)
{
	const char *type = lp_ctl_type_name(s->msg.type);
	int rc = peer_send(s, p);
	if (rc == 0)
		return true;
	peer_close(s, p, "cannot send %s: %s", type, rc == -ENOBUFS ? "peer does not read" : strerror(-rc));
	return false;
}

static void send_nak_and_close(struct lp_ctl_server *s, struct peer *p, uint16_t reason,
			       const char *text)
{
	memset(&s->msg, 0, sizeof(s->msg));
	s->msg.type = LP_CTL_HELLO_NAK;
	s->msg.hello_nak.reason = reason;
	s->msg.hello_nak.proto_version = LP_CTL_VERSION;
	lp_ctl_strlcpy_printable(s->msg.hello_nak.text, sizeof(s->msg.hello_nak.text), text);
	(void)peer_send(s, p); /* best effort: the peer is closed either way */
	peer_close(s, p, "hello refused: %s", text);
}

static void send_ack(struct lp_ctl_server *s, struct peer *p)
{
	memset(&s->msg, 0, sizeof(s->msg));
	s->msg.type = LP_CTL_HELLO_ACK;
	s->msg.hello_ack.proto_version = LP_CTL_VERSION;
	s->msg.hello_ack.pid = (uint32_t)getpid();
	s->msg.hello_ack.features = 0;
	lp_ctl_strlcpy_printable(s->msg.hello_ack.version, sizeof(s->msg.hello_ack.version),
				 LP_VERSION);
	peer_send_or_close(s, p);
}

static void on_hello(struct lp_ctl_server *s, struct peer *p, uint64_t now)
{
	const struct lp_ctl_hello h = s->msg.hello;
	char text[LP_CTL_TEXT_MAX + 1];

	if (p->role) {
		peer_close(s, p, "second HELLO");
		return;
	}
	if (h.role == LP_CTL_ROLE_CLI) {
		p->role = LP_CTL_ROLE_CLI;
		p->pid = h.pid;
		lp_log(LP_LOG_DEBUG, "cli #%u (pid %u) connected", p->id, h.pid);
		send_ack(s, p);
		return;
	}
	if (h.role != LP_CTL_ROLE_DATAPLANE) {
		snprintf(text, sizeof(text), "unknown role %u", h.role);
		send_nak_and_close(s, p, LP_CTL_NAK_ROLE, text);
		return;
	}
	if (h.n_workers == 0) {
		send_nak_and_close(s, p, LP_CTL_NAK_MALFORMED, "dataplane with 0 workers");
		return;
	}
	if (s->dp.peer >= 0) {
		struct peer *old = &s->peers[s->dp.peer];
		bool silent = now - old->last_rx_ns >= DEAD_AFTER_NS;
		if (old->pid != h.pid && !silent) {
			snprintf(text, sizeof(text),
				 "dataplane pid %u is connected and alive", old->pid);
			send_nak_and_close(s, p, LP_CTL_NAK_BUSY, text);
			return;
		}
		peer_close(s, old, "replaced by a new connection from pid %u", h.pid);
	}
	p->role = LP_CTL_ROLE_DATAPLANE;
	p->pid = h.pid;
	dp_clear(&s->dp);
	s->dp.peer = (int)(p - s->peers);
	s->dp.hello = h;
	s->dp.connected_ns = now;
	lp_log(LP_LOG_INFO,
	       "dataplane connected: pid %u, version %s, %u worker(s), "
	       "ip %u.%u.%u.%u, mac %02x:%02x:%02x:%02x:%02x:%02x, driver %s",
	       h.pid, h.version, h.n_workers, h.ip[0], h.ip[1], h.ip[2], h.ip[3],
	       h.mac[0], h.mac[1], h.mac[2], h.mac[3], h.mac[4], h.mac[5], h.driver);
	send_ack(s, p);
	if (p->fd >= 0)
		dataplane_sync(s, p);
}

static void on_drop_names(struct lp_ctl_server *s, struct peer *p)
{
	struct dp_view *dp = &s->dp;
	size_t stride = LP_CTL_STAT_DROP0 + (size_t)s->msg.drop_names.n;
	uint64_t *stats = calloc((size_t)dp->hello.n_workers * stride, sizeof(*stats));
	if (!stats) {
		peer_close(s, p, "out of memory for stats");
		return;
	}
	free(dp->stats);
	dp->stats = stats;
	dp->names = s->msg.drop_names;
	dp->have_names = true;
	dp->have_stats = false;
	dp->gen++;
	lp_log(LP_LOG_DEBUG, "dataplane declared %u drop reasons", dp->names.n);
}

static void on_stats(struct lp_ctl_server *s, struct peer *p, uint64_t now)
{
	struct dp_view *dp = &s->dp;
	const struct lp_ctl_stats *st = &s->msg.stats;
	if (!dp->have_names) {
		peer_close(s, p, "STATS before DROP_NAMES");
		return;
	}
	if (st->n_workers_total != dp->hello.n_workers || st->n_reasons != dp->names.n) {
		peer_close(s, p, "STATS for %u workers x %u reasons, expected %u x %u",
			   st->n_workers_total, st->n_reasons, dp->hello.n_workers, dp->names.n);
		return;
	}
	unsigned stride = LP_CTL_STAT_DROP0 + st->n_reasons;
	for (unsigned r = 0; r < st->n_workers; r++)
		for (unsigned i = 0; i < stride; i++)
			dp->stats[(size_t)(st->first_worker + r) * stride + i] =
				lp_ctl_stats_get(st, r, i);
	dp->have_stats = true;
	dp->stats_rx_ns = now;
}

/* Advance p's status response as far as its socket allows. */
static void status_flush(struct lp_ctl_server *s, struct peer *p, uint64_t now)
{
	struct dp_view *dp = &s->dp;
	while (p->stage != RESP_NONE) {
		if (p->stage != RESP_HEAD && p->resp_gen != dp->gen) {
			peer_close(s, p, "dataplane changed during a status response");
			return;
		}
		memset(&s->msg, 0, offsetof(struct lp_ctl_msg, hello));
		enum resp_stage next = p->stage;
		unsigned next_worker = p->next_worker;
		bool connected = dp->peer >= 0;
		unsigned n_workers = connected && dp->have_stats ? dp->hello.n_workers : 0;
		unsigned n_reasons = connected && dp->have_names ? dp->names.n : 0;

		switch (p->stage) {
		case RESP_HEAD: {
			s->msg.type = LP_CTL_STATUS_RESP;
			struct lp_ctl_status_resp *r = &s->msg.status_resp;
			memset(r, 0, sizeof(*r));
			r->uptime_ns = now - s->start_ns;
			r->pid = (uint32_t)getpid();
			lp_ctl_strlcpy_printable(r->version, sizeof(r->version), LP_VERSION);
			r->dp_connected = connected;
			if (connected) {
				r->dp = dp->hello;
				r->dp_connected_ns = now - dp->connected_ns;
			}
			r->stats_age_ns = n_workers ? now - dp->stats_rx_ns : UINT64_MAX;
			r->n_workers = (uint16_t)n_workers;
			r->n_reasons = (uint16_t)n_reasons;
			p->resp_gen = dp->gen;
			next = n_reasons ? RESP_NAMES : n_workers ? RESP_STATS : RESP_NONE;
			next_worker = 0;
			break;
		}
		case RESP_NAMES:
			s->msg.type = LP_CTL_DROP_NAMES;
			s->msg.drop_names = dp->names;
			next = n_workers ? RESP_STATS : RESP_NONE;
			break;
		case RESP_STATS: {
			unsigned per = lp_ctl_stats_workers_per_msg(n_reasons);
			unsigned n = n_workers - p->next_worker;
			if (n > per)
				n = per;
			s->msg.type = LP_CTL_STATS;
			s->msg.stats = (struct lp_ctl_stats){
				.time_ns = dp->stats_rx_ns,
				.n_workers_total = (uint16_t)n_workers,
				.first_worker = (uint16_t)p->next_worker,
				.n_workers = (uint16_t)n,
				.n_reasons = (uint16_t)n_reasons,
				.rows = dp->stats + (size_t)p->next_worker * (LP_CTL_STAT_DROP0 + n_reasons),
			};
			next_worker = p->next_worker + n;
			if (next_worker >= n_workers)
				next = RESP_NONE;
			break;
		}
		case RESP_NONE:
			return;
		}
		int rc = peer_send(s, p);
		if (rc == -EAGAIN)
			return; /* resumed on POLLOUT */
		if (rc < 0) {
			peer_close(s, p, "cannot send status: %s", strerror(-rc));
			return;
		}
		p->stage = next;
		p->next_worker = next_worker;
	}
}

/* ---- definitions ------------------------------------------------------ */

/* Encode one definition object as its TOPO/USER/PERMISSION message into
 * s->obuf. Returns the length or -errno. for_cli withholds password hashes. */
static ssize_t encode_object(struct lp_ctl_server *s, uint8_t op, enum lp_def_kind kind,
			     const void *obj, bool for_cli)
{
	struct lp_ctl_msg *m = &s->omsg;
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
		bool hash = u->has_hash && !for_cli;
		m->user.hash_alg = hash ? LP_CTL_HASH_SHA256 : LP_CTL_HASH_NONE;
		m->user.hash_len = hash ? LP_CTL_PASSWORD_HASH_LEN : 0;
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
	return lp_ctl_encode(s->obuf, sizeof(s->obuf), m);
}

static const char *kind_name(enum lp_def_kind kind)
{
	static const char *const names[] = { "vhost", "user", "permission", "exchange", "queue",
					     "binding" };
	return names[kind];
}

/* The definitions' sink: store row, and the object for the delta batch. */
static void on_change(void *arg, uint8_t op, enum lp_def_kind kind, const void *obj)
{
	struct lp_ctl_server *s = arg;
	if (s->store)
		lp_store_change(s->store, op, kind, obj);
	s->batch_n++;
	if (s->dp.peer < 0)
		return;
	ssize_t n = encode_object(s, op, kind, obj, false);
	if (n < 0 || outq_push(&s->batch, s->obuf, (size_t)n) < 0) {
		/* The dataplane would miss this change: resynchronise it. */
		lp_log(LP_LOG_ERR, "cannot encode a %s change (%zd); dropping the dataplane link",
		       kind_name(kind), n);
		s->batch_n = UINT32_MAX;
	}
}

static void change_begin(struct lp_ctl_server *s)
{
	s->in_change = true;
	s->batch_n = 0;
	outq_clear(&s->batch);
	if (s->store && lp_store_begin(s->store) < 0)
		lp_log(LP_LOG_ERR, "store: %s", lp_store_error(s->store));
}

/* Encode a TOPO_BEGIN / TOPO_END into s->obuf. */
static ssize_t encode_frame(struct lp_ctl_server *s, bool begin, uint64_t version, bool full,
			    uint32_t n)
{
	memset(&s->omsg, 0, offsetof(struct lp_ctl_msg, hello));
	if (begin) {
		s->omsg.type = LP_CTL_TOPO_BEGIN;
		s->omsg.topo_begin = (struct lp_ctl_topo_begin){ .version = version, .full = full };
	} else {
		s->omsg.type = LP_CTL_TOPO_END;
		s->omsg.topo_end = (struct lp_ctl_topo_end){ .version = version, .n_objects = n };
	}
	return lp_ctl_encode(s->obuf, sizeof(s->obuf), &s->omsg);
}

/* Queue the encoded messages of q to p, framed by TOPO_BEGIN/TOPO_END.
 * Returns false when p was closed. */
static bool send_batch(struct lp_ctl_server *s, struct peer *p, struct outq *q, uint64_t version,
		       bool full)
{
	ssize_t n = encode_frame(s, true, version, full, 0);
	int rc = n < 0 ? (int)n : 0;
	if (rc == 0) {
		stamp_seq(s->obuf, ++p->seq);
		rc = peer_send_raw(p, s->obuf, (size_t)n);
	}
	for (struct outmsg *m = q->head; m && rc == 0; m = m->next) {
		stamp_seq(m->data, ++p->seq);
		rc = peer_send_raw(p, m->data, m->len);
	}
	if (rc == 0) {
		n = encode_frame(s, false, version, full, q->n);
		rc = n < 0 ? (int)n : 0;
		if (rc == 0) {
			stamp_seq(s->obuf, ++p->seq);
			rc = peer_send_raw(p, s->obuf, (size_t)n);
		}
	}
	if (rc < 0) {
		peer_close(s, p, "cannot send topology: %s",
			   rc == -ENOBUFS ? "peer does not read" : strerror(-rc));
		return false;
	}
	return true;
}

/* Commit the change in progress and publish it as the next delta batch. */
static void change_end(struct lp_ctl_server *s)
{
	s->in_change = false;
	if (s->store && lp_store_commit(s->store) < 0)
		lp_log(LP_LOG_ERR, "store: cannot commit a change: %s", lp_store_error(s->store));
	if (s->batch_n == 0)
		return;
	s->version++;
	if (s->dp.peer >= 0) {
		struct peer *p = &s->peers[s->dp.peer];
		if (s->batch_n == UINT32_MAX)
			peer_close(s, p, "topology change could not be encoded");
		else
			send_batch(s, p, &s->batch, s->version, false);
	}
	outq_clear(&s->batch);
	s->batch_n = 0;
}

/* Queue a full batch of the objects `what` asks for (LP_CTL_LIST_*), in
 * vhost (all when empty), to p. */
static void send_full(struct lp_ctl_server *s, struct peer *p, uint16_t what, const char *vhost,
		      bool for_cli)
{
	struct outq q;
	outq_init(&q);
	int rc = 0;
#define MATCH(o) (!vhost[0] || strcmp((o)->vhost, vhost) == 0)
#define PUSH(kind, o)                                                              \
	do {                                                                       \
		ssize_t n_ = encode_object(s, LP_CTL_OP_ADD, kind, o, for_cli);    \
		rc = n_ < 0 ? (int)n_ : outq_push(&q, s->obuf, (size_t)n_);        \
	} while (0)
	if (what & LP_CTL_LIST_VHOSTS)
		for (const struct lp_def_vhost *v = lp_defs_vhosts(s->defs); v && !rc; v = v->next)
			if (!vhost[0] || strcmp(v->name, vhost) == 0)
				PUSH(LP_DEF_VHOST, v);
	if (what & LP_CTL_LIST_USERS)
		for (const struct lp_def_user *u = lp_defs_users(s->defs); u && !rc; u = u->next)
			PUSH(LP_DEF_USER, u);
	if (what & LP_CTL_LIST_PERMISSIONS)
		for (const struct lp_def_permission *x = lp_defs_permissions(s->defs); x && !rc;
		     x = x->next)
			if (MATCH(x))
				PUSH(LP_DEF_PERMISSION, x);
	if (what & LP_CTL_LIST_EXCHANGES)
		for (const struct lp_def_exchange *x = lp_defs_exchanges(s->defs); x && !rc; x = x->next)
			if (MATCH(x))
				PUSH(LP_DEF_EXCHANGE, x);
	if (what & LP_CTL_LIST_QUEUES)
		for (const struct lp_def_queue *x = lp_defs_queues(s->defs); x && !rc; x = x->next)
			if (MATCH(x))
				PUSH(LP_DEF_QUEUE, x);
	if (what & LP_CTL_LIST_BINDINGS)
		for (const struct lp_def_binding *x = lp_defs_bindings(s->defs); x && !rc; x = x->next)
			if (MATCH(x))
				PUSH(LP_DEF_BINDING, x);
#undef PUSH
#undef MATCH
	if (rc < 0)
		peer_close(s, p, "cannot encode the definitions: %s", strerror(-rc));
	else
		send_batch(s, p, &q, s->version, true);
	outq_clear(&q);
}

/* A dataplane was accepted: forget the exclusive queues of a previous one,
 * then send it everything. */
static void dataplane_sync(struct lp_ctl_server *s, struct peer *p)
{
	if (!s->defs)
		return;
	const struct lp_ctl_hello *h = &s->dp.hello;
	if (s->last_dp_pid && s->last_dp_pid != h->pid) {
		change_begin(s);
		unsigned n = lp_defs_drop_exclusive(s->defs);
		change_end(s);
		if (n)
			lp_log(LP_LOG_INFO, "new dataplane (pid %u): deleted %u exclusive queue(s) of pid %u",
			       h->pid, n, s->last_dp_pid);
	}
	s->last_dp_pid = h->pid;
	lp_defs_fit_shards(s->defs, h->n_workers);
	send_full(s, p, LP_CTL_LIST_ALL, "", false);
}

static void send_result(struct lp_ctl_server *s, struct peer *p, uint64_t req_id,
			const struct lp_def_reply *r)
{
	memset(&s->msg, 0, sizeof(s->msg));
	s->msg.type = LP_CTL_RESULT;
	struct lp_ctl_result *res = &s->msg.result;
	res->req_id = req_id;
	res->reply_code = r->code;
	res->status = r->status;
	res->owner_shard = r->owner_shard;
	res->version = s->version;
	memcpy(res->queue, r->queue, sizeof(res->queue));
	memcpy(res->text, r->text, sizeof(res->text));
	peer_send_or_close(s, p);
}

static void on_def_req(struct lp_ctl_server *s, struct peer *p)
{
	uint16_t type = s->msg.type;
	struct lp_ctl_def_req req = s->msg.def_req;
	/* the arguments view points into s->buf, which sending reuses */
	if (req.args_len)
		memcpy(s->args, req.args, req.args_len);
	req.args = s->args;
	if (req.worker >= s->dp.hello.n_workers) {
		peer_close(s, p, "%s from worker %u of %u", lp_ctl_type_name(type), req.worker,
			   s->dp.hello.n_workers);
		return;
	}
	struct lp_def_reply r;
	change_begin(s);
	lp_defs_request(s->defs, type, &req, &r);
	change_end(s);
	lp_log(LP_LOG_DEBUG, "%s %s '%s' in vhost '%s' by '%s' (conn %" PRIu64 "): %u %s",
	       lp_ctl_type_name(type), req.object == LP_CTL_OBJ_QUEUE ? "queue" : "exchange",
	       r.queue[0] ? r.queue : req.name, req.vhost, req.user, req.conn_id, r.code, r.text);
	if (s->dp.peer >= 0)
		send_result(s, p, req.req_id, &r);
}

static void on_admin_req(struct lp_ctl_server *s, struct peer *p)
{
	struct lp_ctl_admin_req a = s->msg.admin_req;
	struct lp_def_reply r;
	memset(&r, 0, sizeof(r));
	uint8_t hash[LP_PASSWORD_HASH_LEN];
	int rc = 0;
	change_begin(s);
	switch (a.op) {
	case LP_CTL_ADMIN_ADD_USER:
	case LP_CTL_ADMIN_CHANGE_PASSWORD:
		rc = lp_password_hash(a.password, strlen(a.password), NULL, hash);
		if (rc < 0) {
			snprintf(r.text, sizeof(r.text), "cannot hash the password: %s", strerror(-rc));
			break;
		}
		if (a.op == LP_CTL_ADMIN_ADD_USER)
			rc = lp_defs_add_user(s->defs, a.name, hash, a.tags, r.text, sizeof(r.text));
		else
			rc = lp_defs_change_password(s->defs, a.name, hash, r.text, sizeof(r.text));
		break;
	case LP_CTL_ADMIN_DELETE_USER:
		rc = lp_defs_delete_user(s->defs, a.name, r.text, sizeof(r.text));
		break;
	case LP_CTL_ADMIN_SET_USER_TAGS:
		rc = lp_defs_set_user_tags(s->defs, a.name, a.tags, r.text, sizeof(r.text));
		break;
	case LP_CTL_ADMIN_ADD_VHOST:
		rc = lp_defs_add_vhost(s->defs, a.vhost, r.text, sizeof(r.text));
		break;
	case LP_CTL_ADMIN_DELETE_VHOST:
		rc = lp_defs_delete_vhost(s->defs, a.vhost, r.text, sizeof(r.text));
		break;
	case LP_CTL_ADMIN_SET_PERMISSIONS:
		rc = lp_defs_set_permissions(s->defs, a.name, a.vhost, a.configure, a.write, a.read,
					     r.text, sizeof(r.text));
		break;
	case LP_CTL_ADMIN_CLEAR_PERMISSIONS:
		rc = lp_defs_clear_permissions(s->defs, a.name, a.vhost, r.text, sizeof(r.text));
		break;
	}
	change_end(s);
	explicit_bzero(a.password, sizeof(a.password));
	explicit_bzero(s->msg.admin_req.password, sizeof(s->msg.admin_req.password));
	explicit_bzero(hash, sizeof(hash));
	r.code = rc == 0 ? 0 : rc == -ENOENT ? 404 : rc == -EEXIST || rc == -EINVAL ? 406 : 541;
	lp_log(rc ? LP_LOG_WARN : LP_LOG_INFO, "admin request %u for '%s' vhost '%s': %s", a.op,
	       a.name, a.vhost, rc ? r.text : "done");
	send_result(s, p, a.req_id, &r);
}

static void peer_dispatch(struct lp_ctl_server *s, struct peer *p, uint64_t now)
{
	uint16_t type = s->msg.type;

	if (type == LP_CTL_HELLO) {
		on_hello(s, p, now);
		return;
	}
	if (!p->role) {
		peer_close(s, p, "expected HELLO, got %s", lp_ctl_type_name(type));
		return;
	}
	if (type == LP_CTL_HEARTBEAT) {
		uint64_t echo = s->msg.heartbeat.time_ns;
		s->msg.type = LP_CTL_HEARTBEAT;
		s->msg.heartbeat = (struct lp_ctl_heartbeat){ .time_ns = now, .echo_ns = echo };
		peer_send_or_close(s, p);
		return;
	}
	if (p->role == LP_CTL_ROLE_DATAPLANE && type == LP_CTL_DROP_NAMES) {
		on_drop_names(s, p);
		return;
	}
	if (p->role == LP_CTL_ROLE_DATAPLANE && type == LP_CTL_STATS) {
		on_stats(s, p, now);
		return;
	}
	if (p->role == LP_CTL_ROLE_DATAPLANE && s->defs) {
		switch (type) {
		case LP_CTL_DECLARE:
		case LP_CTL_DELETE:
		case LP_CTL_BIND:
		case LP_CTL_UNBIND:
		case LP_CTL_PURGE:
			on_def_req(s, p);
			return;
		case LP_CTL_CONNECTION_CLOSED: {
			change_begin(s);
			unsigned n = lp_defs_connection_closed(s->defs, s->msg.conn_closed.conn_id);
			change_end(s);
			lp_log(LP_LOG_DEBUG, "connection %" PRIu64 " closed: %u exclusive queue(s) deleted",
			       s->msg.conn_closed.conn_id, n);
			return;
		}
		case LP_CTL_QUEUE_UNUSED: {
			change_begin(s);
			int rc = lp_defs_queue_unused(s->defs, s->msg.queue_unused.vhost,
						      s->msg.queue_unused.queue);
			change_end(s);
			lp_log(LP_LOG_DEBUG, "queue '%s' in vhost '%s' unused: %s",
			       s->msg.queue_unused.queue, s->msg.queue_unused.vhost,
			       rc == 0 ? "auto-deleted" : strerror(-rc));
			return;
		}
		default:
			break;
		}
	}
	if (p->role == LP_CTL_ROLE_CLI && s->defs && type == LP_CTL_LIST_REQ) {
		send_full(s, p, s->msg.list_req.what, s->msg.list_req.vhost, true);
		return;
	}
	if (p->role == LP_CTL_ROLE_CLI && s->defs && type == LP_CTL_ADMIN_REQ) {
		on_admin_req(s, p);
		return;
	}
	if (p->role == LP_CTL_ROLE_CLI && type == LP_CTL_STATUS_REQ) {
		if (p->stage != RESP_NONE) {
			peer_close(s, p, "STATUS_REQ while a response is in progress");
			return;
		}
		p->stage = RESP_HEAD;
		p->next_worker = 0;
		status_flush(s, p, now);
		return;
	}
	peer_close(s, p, "unexpected %s from a %s", lp_ctl_type_name(type), role_name(p->role));
}

static void peer_receive(struct lp_ctl_server *s, struct peer *p, uint64_t now)
{
	for (int i = 0; i < RX_PER_PEER && p->fd >= 0; i++) {
		ssize_t n = recv(p->fd, s->buf, sizeof(s->buf), MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return;
			peer_close(s, p, "receive error: %s", strerror(errno));
			return;
		}
		if (n == 0) {
			peer_close(s, p, "connection closed by peer");
			return;
		}
		if ((size_t)n > sizeof(s->buf)) {
			peer_close(s, p, "message of %zd bytes exceeds %d", n, LP_CTL_MSG_MAX);
			return;
		}
		int rc = lp_ctl_decode(s->buf, (size_t)n, &s->msg);
		if (rc == -EPROTONOSUPPORT) {
			char text[LP_CTL_TEXT_MAX + 1];
			snprintf(text, sizeof(text),
				 "protocol version %u not supported, lepus-control speaks %d",
				 s->msg.version, LP_CTL_VERSION);
			if (s->msg.type == LP_CTL_HELLO && !p->role)
				send_nak_and_close(s, p, LP_CTL_NAK_VERSION, text);
			else
				peer_close(s, p, "%s", text);
			return;
		}
		if (rc == -ENOTSUP) {
			lp_log(LP_LOG_DEBUG, "ignoring message type 0x%04x from %s #%u",
			       s->msg.type, role_name(p->role), p->id);
			p->last_rx_ns = now;
			continue;
		}
		if (rc < 0) {
			if (!p->role && s->msg.type == LP_CTL_HELLO)
				send_nak_and_close(s, p, LP_CTL_NAK_MALFORMED, "malformed HELLO");
			else
				peer_close(s, p, "malformed %s message (%zd bytes)",
					   lp_ctl_type_name(s->msg.type), n);
			return;
		}
		p->last_rx_ns = now;
		peer_dispatch(s, p, now);
	}
}

static void accept_peers(struct lp_ctl_server *s, uint64_t now)
{
	for (int i = 0; i < 16; i++) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				lp_log(LP_LOG_WARN, "accept: %s", strerror(errno));
			return;
		}
		struct peer *p = NULL;
		for (unsigned k = 0; k < MAX_PEERS && !p; k++)
			if (s->peers[k].fd < 0)
				p = &s->peers[k];
		if (!p) {
			lp_log(LP_LOG_WARN, "refusing connection: %d peers already", MAX_PEERS);
			close(fd);
			continue;
		}
		memset(p, 0, sizeof(*p));
		outq_init(&p->out);
		p->fd = fd;
		p->id = ++s->next_peer_id;
		p->last_rx_ns = now;
		lp_log(LP_LOG_DEBUG, "connection #%u accepted", p->id);
	}
}

static void check_timeouts(struct lp_ctl_server *s, uint64_t now)
{
	for (unsigned i = 0; i < MAX_PEERS; i++) {
		struct peer *p = &s->peers[i];
		if (p->fd < 0)
			continue;
		uint64_t silent = now - p->last_rx_ns;
		if (p->role == LP_CTL_ROLE_DATAPLANE && silent >= DEAD_AFTER_NS)
			peer_close(s, p, "no heartbeat for %d s", LP_CTL_HEARTBEAT_MISSES);
		else if (!p->role && silent >= DEAD_AFTER_NS)
			peer_close(s, p, "no HELLO within %d s", LP_CTL_HEARTBEAT_MISSES);
		else if (p->role == LP_CTL_ROLE_CLI && silent >= CLI_IDLE_NS)
			peer_close(s, p, "idle");
	}
}

int lp_ctl_server_run(struct lp_ctl_server *s, const volatile sig_atomic_t *stop,
		      const sigset_t *wait_mask)
{
	struct pollfd pfd[MAX_PEERS + 1];
	int slot[MAX_PEERS + 1];

	while (!*stop) {
		nfds_t n = 0;
		pfd[n] = (struct pollfd){ .fd = s->listen_fd, .events = POLLIN };
		slot[n++] = -1;
		for (unsigned i = 0; i < MAX_PEERS; i++) {
			struct peer *p = &s->peers[i];
			if (p->fd < 0)
				continue;
			short ev = POLLIN;
			if (p->stage != RESP_NONE || p->out.head)
				ev |= POLLOUT;
			pfd[n] = (struct pollfd){ .fd = p->fd, .events = ev };
			slot[n++] = (int)i;
		}
		struct timespec tick = { .tv_sec = 0, .tv_nsec = TICK_MS * 1000000L };
		int rc = ppoll(pfd, n, &tick, wait_mask);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			lp_log(LP_LOG_ERR, "ppoll: %s", strerror(errno));
			return -errno;
		}
		uint64_t now = now_ns();
		for (nfds_t k = 1; k < n; k++) {
			struct peer *p = &s->peers[slot[k]];
			if (p->fd != pfd[k].fd)
				continue; /* closed (e.g. replaced) during this iteration */
			if (pfd[k].revents & POLLOUT) {
				int frc = outq_flush(p);
				if (frc < 0)
					peer_close(s, p, "send failed: %s", strerror(-frc));
				else if (!p->out.head)
					status_flush(s, p, now);
			}
			if (p->fd >= 0 && (pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
				peer_receive(s, p, now);
		}
		if (pfd[0].revents & (POLLERR | POLLNVAL)) {
			lp_log(LP_LOG_ERR, "listening socket failed");
			return -EIO;
		}
		if (pfd[0].revents & POLLIN)
			accept_peers(s, now);
		check_timeouts(s, now);
	}
	return 0;
}

void lp_ctl_server_destroy(struct lp_ctl_server *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < MAX_PEERS; i++)
		if (s->peers[i].fd >= 0)
			peer_close(s, &s->peers[i], "lepus-control is stopping");
	dp_clear(&s->dp);
	outq_clear(&s->batch);
	if (s->listen_fd >= 0) {
		struct stat st;
		/* Remove the socket file only if it is still the one we bound. */
		if (stat(s->addr.sun_path, &st) == 0 && st.st_dev == s->sock_dev &&
		    st.st_ino == s->sock_ino)
			unlink(s->addr.sun_path);
		close(s->listen_fd);
	}
	free(s);
}

void lp_ctl_server_set_definitions(struct lp_ctl_server *s, struct lp_defs *defs,
				   struct lp_store *store)
{
	s->defs = defs;
	s->store = store;
	if (defs) {
		struct lp_def_sink sink = { .change = on_change, .arg = s };
		lp_defs_set_sink(defs, &sink);
	}
}
