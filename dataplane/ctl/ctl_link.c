/* SPDX-License-Identifier: MIT */
/*
 * Control link state machine (see ctl_link.h):
 *
 *   IDLE --connect ok, HELLO sent--> HELLO_SENT --HELLO_ACK--> UP
 *     ^                                  |                     |
 *     +---- NAK, EOF, error, silence ----+---------------------+
 *
 * In IDLE the next attempt is due at next_attempt_ns; failures double the
 * backoff (200 ms .. 2 s), an accepted HELLO resets it. Each state change is
 * logged once: a run of failed attempts logs one line, not one per retry.
 *
 * In UP, TOPO_BEGIN .. TOPO_END batches are passed to the handlers object by
 * object and their count checked; RESULTs go to the `result` handler and
 * clear their id from `pending`. Requests and notifications are encoded in
 * their own buffer (tx), so a handler may submit while the link dispatches.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl_link.h"
#include "lp_ctl.h"

#ifndef LP_VERSION
#define LP_VERSION "unknown"
#endif

#define BACKOFF_MIN_NS 200000000ull
#define BACKOFF_MAX_NS 2000000000ull
#define DEAD_AFTER_NS (LP_CTL_HEARTBEAT_MISSES * LP_CTL_HEARTBEAT_INTERVAL_NS)
#define RX_PER_POLL 64

enum link_state { LINK_IDLE, LINK_HELLO_SENT, LINK_UP };

struct lp_ctl_link {
	struct sockaddr_un addr;
	struct lp_ctl_link_info info;
	const struct lp_net_stats **ws;
	unsigned n_workers;

	enum link_state state;
	int fd;
	uint32_t seq;
	uint64_t next_attempt_ns;
	uint64_t backoff_ns;
	uint64_t hello_sent_ns;
	uint64_t last_rx_ns;
	uint64_t next_heartbeat_ns;
	uint64_t next_stats_ns;
	bool ever_up;        /* "reconnected" rather than "connected" */
	char last_failure[256]; /* logged once; cleared when the link is up */

	uint64_t *rows; /* n_workers x (LP_CTL_STAT_DROP0 + LP_DROP__COUNT) */
	struct lp_ctl_msg msg;
	uint8_t buf[LP_CTL_MSG_MAX];

	struct lp_ctl_link_handlers h;
	bool in_batch;
	uint64_t batch_version;
	uint32_t batch_objects;
	uint64_t next_req_id;
	uint64_t *pending; /* ids awaiting RESULT, LP_CTL_LINK_MAX_PENDING */
	unsigned n_pending;
	uint64_t *backlog; /* closed connections not yet reported */
	unsigned n_backlog;
	struct lp_ctl_msg txmsg;
	uint8_t txbuf[LP_CTL_MSG_MAX];
};

_Static_assert(LP_DROP__COUNT <= LP_CTL_MAX_DROP_REASONS,
	       "drop reasons must fit one DROP_NAMES message");

static void link_log(const struct lp_ctl_link *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void link_log(const struct lp_ctl_link *l, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (l->info.log)
		l->info.log(line);
	else
		fprintf(stderr, "lepus-dataplane: control link: %s\n", line);
}

struct lp_ctl_link *lp_ctl_link_create(const char *socket_path,
				       const struct lp_ctl_link_info *info,
				       const struct lp_net_stats *const *worker_stats,
				       unsigned n_workers)
{
	if (!socket_path || !info || !worker_stats || n_workers == 0 ||
	    n_workers > LP_CTL_MAX_WORKERS) {
		errno = EINVAL;
		return NULL;
	}
	struct lp_ctl_link *l = calloc(1, sizeof(*l));
	if (!l) {
		errno = ENOMEM;
		return NULL;
	}
	l->addr.sun_family = AF_UNIX;
	if (strlen(socket_path) >= sizeof(l->addr.sun_path)) {
		free(l);
		errno = EINVAL;
		return NULL;
	}
	strcpy(l->addr.sun_path, socket_path);
	l->info = *info;
	l->info.driver[sizeof(l->info.driver) - 1] = '\0';
	l->ws = calloc(n_workers, sizeof(*l->ws));
	l->rows = calloc((size_t)n_workers * (LP_CTL_STAT_DROP0 + LP_DROP__COUNT),
			 sizeof(*l->rows));
	l->pending = calloc(LP_CTL_LINK_MAX_PENDING, sizeof(*l->pending));
	l->backlog = calloc(LP_CTL_LINK_MAX_BACKLOG, sizeof(*l->backlog));
	if (!l->ws || !l->rows || !l->pending || !l->backlog) {
		free(l->ws);
		free(l->rows);
		free(l->pending);
		free(l->backlog);
		free(l);
		errno = ENOMEM;
		return NULL;
	}
	for (unsigned i = 0; i < n_workers; i++)
		l->ws[i] = worker_stats[i];
	l->n_workers = n_workers;
	l->fd = -1;
	l->state = LINK_IDLE;
	l->backoff_ns = BACKOFF_MIN_NS;
	return l;
}

void lp_ctl_link_destroy(struct lp_ctl_link *l)
{
	if (!l)
		return;
	if (l->fd >= 0)
		close(l->fd);
	free(l->ws);
	free(l->rows);
	free(l->pending);
	free(l->backlog);
	free(l);
}

bool lp_ctl_link_connected(const struct lp_ctl_link *l)
{
	return l->state == LINK_UP;
}

/* Log a failed attempt unless it failed the same way last time. */
static void log_failure(struct lp_ctl_link *l, const char *line)
{
	if (strcmp(line, l->last_failure) == 0)
		return;
	snprintf(l->last_failure, sizeof(l->last_failure), "%s", line);
	link_log(l, "%s", line);
}

/* Answer every waiting request with 541: lepus-control will not. */
static void fail_pending(struct lp_ctl_link *l)
{
	while (l->n_pending) {
		struct lp_ctl_result r;
		memset(&r, 0, sizeof(r));
		r.req_id = l->pending[--l->n_pending];
		r.reply_code = 541;
		snprintf(r.text, sizeof(r.text), "INTERNAL_ERROR - lepus-control unavailable");
		if (l->h.result)
			l->h.result(l->h.arg, &r);
	}
}

/* Close the connection; the next attempt is due after the current backoff. */
static void link_close(struct lp_ctl_link *l, uint64_t now_ns)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	l->state = LINK_IDLE;
	l->in_batch = false;
	fail_pending(l);
	l->next_attempt_ns = now_ns + l->backoff_ns;
	l->backoff_ns *= 2;
	if (l->backoff_ns > BACKOFF_MAX_NS)
		l->backoff_ns = BACKOFF_MAX_NS;
}

/* The peer went away or misbehaved: log once, close, retry later. */
static void link_lost(struct lp_ctl_link *l, uint64_t now_ns, const char *why)
{
	char line[sizeof(l->last_failure)];
	if (l->state == LINK_UP) {
		snprintf(line, sizeof(line), "lost lepus-control (%s); reconnecting", why);
		link_log(l, "%s", line);
		snprintf(l->last_failure, sizeof(l->last_failure), "%s", line);
	} else {
		snprintf(line, sizeof(line), "lepus-control at %s: %s; retrying",
			 l->addr.sun_path, why);
		log_failure(l, line);
	}
	link_close(l, now_ns);
}

/* Encode l->msg and send it. Returns 0, -EAGAIN (socket full: message not
 * sent), or another -errno (connection unusable). */
static int link_send(struct lp_ctl_link *l)
{
	l->msg.seq = ++l->seq;
	ssize_t n = lp_ctl_encode(l->buf, sizeof(l->buf), &l->msg);
	if (n < 0)
		return (int)n;
	ssize_t s = send(l->fd, l->buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (s == n)
		return 0;
	if (s < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -EAGAIN;
	return s < 0 ? -errno : -EIO;
}

/* Encode l->txmsg and send it: 0, -EAGAIN, -EINVAL/-EMSGSIZE (not
 * encodable), or another -errno (connection unusable). */
static int link_send_tx(struct lp_ctl_link *l)
{
	l->txmsg.seq = l->seq + 1;
	ssize_t n = lp_ctl_encode(l->txbuf, sizeof(l->txbuf), &l->txmsg);
	if (n < 0)
		return (int)n;
	ssize_t s = send(l->fd, l->txbuf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (s == n) {
		l->seq++;
		return 0;
	}
	if (s < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -EAGAIN;
	return s < 0 ? -errno : -EIO;
}

static int send_hello(struct lp_ctl_link *l)
{
	memset(&l->msg, 0, sizeof(l->msg));
	l->msg.type = LP_CTL_HELLO;
	struct lp_ctl_hello *h = &l->msg.hello;
	h->role = LP_CTL_ROLE_DATAPLANE;
	h->proto_version = LP_CTL_VERSION;
	h->pid = l->info.pid;
	h->n_workers = (uint16_t)l->n_workers;
	memcpy(h->ip, &l->info.ip_be, 4);
	memcpy(h->mac, l->info.mac, 6);
	lp_ctl_strlcpy_printable(h->version, sizeof(h->version), LP_VERSION);
	lp_ctl_strlcpy_printable(h->driver, sizeof(h->driver), l->info.driver);
	return link_send(l);
}

static int send_drop_names(struct lp_ctl_link *l)
{
	memset(&l->msg, 0, sizeof(l->msg));
	l->msg.type = LP_CTL_DROP_NAMES;
	l->msg.drop_names.n = LP_DROP__COUNT;
	for (unsigned i = 0; i < LP_DROP__COUNT; i++)
		lp_ctl_strlcpy_printable(l->msg.drop_names.name[i],
					 sizeof(l->msg.drop_names.name[i]),
					 lp_drop_name((enum lp_drop_reason)i));
	return link_send(l);
}

static int send_heartbeat(struct lp_ctl_link *l, uint64_t now_ns, uint64_t echo_ns)
{
	l->msg.type = LP_CTL_HEARTBEAT;
	l->msg.heartbeat.time_ns = now_ns;
	l->msg.heartbeat.echo_ns = echo_ns;
	return link_send(l);
}

/* Sample every worker's counters and send them in as many STATS messages as
 * needed. A full socket skips the rest of this sample (the next one follows in
 * a second); only a hard error is returned. */
static int send_stats(struct lp_ctl_link *l, uint64_t now_ns)
{
	const unsigned stride = LP_CTL_STAT_DROP0 + LP_DROP__COUNT;
	for (unsigned w = 0; w < l->n_workers; w++) {
		const struct lp_net_stats *s = l->ws[w];
		uint64_t *row = l->rows + (size_t)w * stride;
		row[LP_CTL_STAT_RX_PACKETS] = s->rx_packets;
		row[LP_CTL_STAT_RX_BYTES] = s->rx_bytes;
		row[LP_CTL_STAT_TX_PACKETS] = s->tx_packets;
		row[LP_CTL_STAT_TX_BYTES] = s->tx_bytes;
		for (unsigned d = 0; d < LP_DROP__COUNT; d++)
			row[LP_CTL_STAT_DROP0 + d] = s->drops[d];
	}
	const unsigned per_msg = lp_ctl_stats_workers_per_msg(LP_DROP__COUNT);
	for (unsigned first = 0; first < l->n_workers; first += per_msg) {
		unsigned n = l->n_workers - first < per_msg ? l->n_workers - first : per_msg;
		l->msg.type = LP_CTL_STATS;
		l->msg.stats = (struct lp_ctl_stats){
			.time_ns = now_ns,
			.n_workers_total = (uint16_t)l->n_workers,
			.first_worker = (uint16_t)first,
			.n_workers = (uint16_t)n,
			.n_reasons = LP_DROP__COUNT,
			.rows = l->rows + (size_t)first * stride,
		};
		int rc = link_send(l);
		if (rc == -EAGAIN)
			return 0;
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void link_connect(struct lp_ctl_link *l, uint64_t now_ns)
{
	l->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0) {
		char line[128];
		snprintf(line, sizeof(line), "cannot create socket: %s; retrying", strerror(errno));
		log_failure(l, line);
		link_close(l, now_ns);
		return;
	}
	/* AF_UNIX connect completes or fails at once; it never returns
	 * EINPROGRESS (a full listen backlog is EAGAIN: retry later). */
	if (connect(l->fd, (const struct sockaddr *)&l->addr, sizeof(l->addr)) < 0) {
		char line[sizeof(l->last_failure)];
		snprintf(line, sizeof(line),
			 "lepus-control not reachable at %s (%s); retrying in the background",
			 l->addr.sun_path, strerror(errno));
		log_failure(l, line);
		link_close(l, now_ns);
		return;
	}
	int rc = send_hello(l);
	if (rc < 0) {
		link_lost(l, now_ns, strerror(-rc));
		return;
	}
	l->state = LINK_HELLO_SENT;
	l->hello_sent_ns = now_ns;
	l->last_rx_ns = now_ns;
}

static void on_hello_ack(struct lp_ctl_link *l, uint64_t now_ns)
{
	const struct lp_ctl_hello_ack a = l->msg.hello_ack;
	int rc = send_drop_names(l);
	if (rc == 0)
		rc = send_stats(l, now_ns);
	if (rc < 0) {
		link_lost(l, now_ns, strerror(-rc));
		return;
	}
	l->state = LINK_UP;
	l->backoff_ns = BACKOFF_MIN_NS;
	l->last_failure[0] = '\0';
	l->next_heartbeat_ns = now_ns + LP_CTL_HEARTBEAT_INTERVAL_NS;
	l->next_stats_ns = now_ns + LP_CTL_STATS_INTERVAL_NS;
	link_log(l, "%s to lepus-control at %s (pid %u, version %s)",
		 l->ever_up ? "reconnected" : "connected", l->addr.sun_path,
		 a.pid, a.version);
	l->ever_up = true;
	/* connections that closed while lepus-control was away */
	while (l->n_backlog && l->state == LINK_UP) {
		memset(&l->txmsg, 0, offsetof(struct lp_ctl_msg, hello));
		l->txmsg.type = LP_CTL_CONNECTION_CLOSED;
		l->txmsg.conn_closed.conn_id = l->backlog[l->n_backlog - 1];
		rc = link_send_tx(l);
		if (rc == -EAGAIN)
			break; /* the rest goes with the next HELLO_ACK or call */
		if (rc < 0) {
			link_lost(l, now_ns, strerror(-rc));
			return;
		}
		l->n_backlog--;
	}
}

static void on_result(struct lp_ctl_link *l)
{
	const struct lp_ctl_result *r = &l->msg.result;
	for (unsigned i = 0; i < l->n_pending; i++)
		if (l->pending[i] == r->req_id) {
			l->pending[i] = l->pending[--l->n_pending];
			break;
		}
	if (l->h.result)
		l->h.result(l->h.arg, r);
}

/* A topology message; false when it breaks the batch framing. */
static bool on_topology(struct lp_ctl_link *l)
{
	const struct lp_ctl_msg *m = &l->msg;
	switch (m->type) {
	case LP_CTL_TOPO_BEGIN:
		if (l->in_batch)
			return false;
		l->in_batch = true;
		l->batch_version = m->topo_begin.version;
		l->batch_objects = 0;
		if (l->h.topo_begin)
			l->h.topo_begin(l->h.arg, m->topo_begin.version, m->topo_begin.full);
		return true;
	case LP_CTL_TOPO_END:
		if (!l->in_batch || m->topo_end.version != l->batch_version ||
		    m->topo_end.n_objects != l->batch_objects)
			return false;
		l->in_batch = false;
		if (l->h.topo_end)
			l->h.topo_end(l->h.arg, m->topo_end.version);
		return true;
	default:
		if (!l->in_batch)
			return false;
		l->batch_objects++;
		if (l->h.topo_object)
			l->h.topo_object(l->h.arg, m);
		return true;
	}
}

/* Handle l->msg, decoded from lepus-control. */
static void link_dispatch(struct lp_ctl_link *l, uint64_t now_ns)
{
	char why[LP_CTL_TEXT_MAX + 64];

	switch (l->msg.type) {
	case LP_CTL_HELLO_ACK:
		if (l->state != LINK_HELLO_SENT) {
			link_lost(l, now_ns, "unexpected HELLO_ACK");
			return;
		}
		on_hello_ack(l, now_ns);
		return;
	case LP_CTL_HELLO_NAK:
		snprintf(why, sizeof(why), "hello refused, reason %u: %s",
			 l->msg.hello_nak.reason, l->msg.hello_nak.text);
		l->backoff_ns = BACKOFF_MAX_NS;
		link_lost(l, now_ns, why);
		return;
	case LP_CTL_HEARTBEAT:
		return; /* last_rx_ns already advanced */
	case LP_CTL_RESULT:
		if (l->state == LINK_UP) {
			on_result(l);
			return;
		}
		break;
	case LP_CTL_TOPO_BEGIN:
	case LP_CTL_TOPO_END:
	case LP_CTL_TOPO_VHOST:
	case LP_CTL_TOPO_EXCHANGE:
	case LP_CTL_TOPO_QUEUE:
	case LP_CTL_TOPO_BINDING:
	case LP_CTL_USER:
	case LP_CTL_PERMISSION:
		if (l->state != LINK_UP)
			break;
		if (on_topology(l))
			return;
		snprintf(why, sizeof(why), "%s out of its batch", lp_ctl_type_name(l->msg.type));
		link_lost(l, now_ns, why);
		return;
	default:
		break;
	}
	{
		snprintf(why, sizeof(why), "unexpected %s message",
			 lp_ctl_type_name(l->msg.type));
		link_lost(l, now_ns, why);
	}
}

static void link_receive(struct lp_ctl_link *l, uint64_t now_ns)
{
	for (int i = 0; i < RX_PER_POLL && l->fd >= 0; i++) {
		ssize_t n = recv(l->fd, l->buf, sizeof(l->buf), MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return;
			link_lost(l, now_ns, strerror(errno));
			return;
		}
		if (n == 0) {
			link_lost(l, now_ns, "connection closed");
			return;
		}
		if ((size_t)n > sizeof(l->buf)) {
			link_lost(l, now_ns, "oversized message");
			return;
		}
		int rc = lp_ctl_decode(l->buf, (size_t)n, &l->msg);
		if (rc == -ENOTSUP) {
			l->last_rx_ns = now_ns;
			continue; /* a newer message type: ignore it (lp_ctl.h) */
		}
		if (rc < 0) {
			char why[96];
			snprintf(why, sizeof(why), "malformed message: %s", strerror(-rc));
			link_lost(l, now_ns, why);
			return;
		}
		l->last_rx_ns = now_ns;
		link_dispatch(l, now_ns);
	}
}

void lp_ctl_link_poll(struct lp_ctl_link *l, uint64_t now_ns)
{
	if (l->state == LINK_IDLE) {
		if (now_ns < l->next_attempt_ns)
			return;
		link_connect(l, now_ns);
		if (l->state == LINK_IDLE)
			return;
	}

	link_receive(l, now_ns);
	if (l->state == LINK_IDLE)
		return;

	if (now_ns - l->last_rx_ns >= DEAD_AFTER_NS) {
		link_lost(l, now_ns, l->state == LINK_UP ? "no heartbeat for 3 s"
							 : "no answer to hello for 3 s");
		return;
	}
	if (l->state != LINK_UP)
		return;

	int rc = 0;
	if (now_ns >= l->next_heartbeat_ns) {
		l->next_heartbeat_ns = now_ns + LP_CTL_HEARTBEAT_INTERVAL_NS;
		rc = send_heartbeat(l, now_ns, 0);
	}
	if (rc != -EAGAIN && rc < 0) {
		link_lost(l, now_ns, strerror(-rc));
		return;
	}
	if (now_ns >= l->next_stats_ns) {
		l->next_stats_ns = now_ns + LP_CTL_STATS_INTERVAL_NS;
		rc = send_stats(l, now_ns);
		if (rc < 0)
			link_lost(l, now_ns, strerror(-rc));
	}
}

void lp_ctl_link_set_gauges(struct lp_ctl_link *l, unsigned worker, uint32_t alarms,
			    uint64_t blocked_publishers)
{
	if (l == NULL || worker >= l->n_workers)
		return;
	uint64_t *row = l->rows + (size_t)worker * (LP_CTL_STAT_DROP0 + LP_DROP__COUNT);

	row[LP_CTL_STAT_ALARMS] = alarms;
	row[LP_CTL_STAT_BLOCKED] = blocked_publishers;
}

void lp_ctl_link_set_handlers(struct lp_ctl_link *l, const struct lp_ctl_link_handlers *h)
{
	if (h)
		l->h = *h;
	else
		memset(&l->h, 0, sizeof(l->h));
}

unsigned lp_ctl_link_pending(const struct lp_ctl_link *l)
{
	return l->n_pending;
}

int64_t lp_ctl_link_submit(struct lp_ctl_link *l, uint16_t type, struct lp_ctl_def_req *req)
{
	if (type < LP_CTL_DECLARE || type > LP_CTL_PURGE)
		return -EINVAL;
	if (l->state != LINK_UP)
		return -ENOTCONN;
	if (l->n_pending >= LP_CTL_LINK_MAX_PENDING)
		return -ENOBUFS;
	req->req_id = l->next_req_id + 1;
	memset(&l->txmsg, 0, offsetof(struct lp_ctl_msg, hello));
	l->txmsg.type = type;
	l->txmsg.def_req = *req;
	int rc = link_send_tx(l);
	if (rc == -EAGAIN || rc == -EINVAL || rc == -EMSGSIZE)
		return rc == -EMSGSIZE ? -EINVAL : rc;
	if (rc < 0) {
		link_lost(l, l->last_rx_ns, strerror(-rc));
		return rc;
	}
	l->next_req_id++;
	l->pending[l->n_pending++] = req->req_id;
	return (int64_t)req->req_id;
}

int lp_ctl_link_connection_closed(struct lp_ctl_link *l, uint64_t conn_id)
{
	if (l->state == LINK_UP && !l->n_backlog) {
		memset(&l->txmsg, 0, offsetof(struct lp_ctl_msg, hello));
		l->txmsg.type = LP_CTL_CONNECTION_CLOSED;
		l->txmsg.conn_closed.conn_id = conn_id;
		int rc = link_send_tx(l);
		if (rc == 0)
			return 0;
		if (rc != -EAGAIN)
			link_lost(l, l->last_rx_ns, strerror(-rc));
	}
	if (l->n_backlog >= LP_CTL_LINK_MAX_BACKLOG)
		return -ENOBUFS;
	l->backlog[l->n_backlog++] = conn_id;
	return 0;
}

int lp_ctl_link_queue_stats(struct lp_ctl_link *l, unsigned worker, uint64_t time_ns,
			    const struct lp_ctl_queue_stat *rows, uint32_t n)
{
	uint32_t i = 0;

	if (l == NULL || l->state != LINK_UP)
		return -ENOTCONN;
	do {
		uint32_t k = 0;
		size_t room = LP_CTL_QUEUE_STATS_ROOM;

		while (i + k < n && k < UINT16_MAX && lp_ctl_queue_stat_len(&rows[i + k]) <= room)
			room -= lp_ctl_queue_stat_len(&rows[i + k++]);
		memset(&l->txmsg, 0, offsetof(struct lp_ctl_msg, hello));
		l->txmsg.type = LP_CTL_QUEUE_STATS;
		l->txmsg.queue_stats = (struct lp_ctl_queue_stats){
			.time_ns = time_ns, .worker = (uint16_t)worker, .n = (uint16_t)k, .rows = rows + i};
		int rc = link_send_tx(l);

		if (rc == -EAGAIN)
			return rc; /* the rest of this sample is skipped; the next comes in a second */
		if (rc == -EINVAL || rc == -EMSGSIZE)
			return -EINVAL; /* a record that does not encode: not the link's fault */
		if (rc < 0) {
			link_lost(l, l->last_rx_ns, strerror(-rc));
			return rc;
		}
		i += k;
	} while (i < n);
	return 0;
}

int lp_ctl_link_queue_unused(struct lp_ctl_link *l, const char *vhost, const char *queue)
{
	if (l->state != LINK_UP)
		return -ENOTCONN;
	memset(&l->txmsg, 0, offsetof(struct lp_ctl_msg, hello));
	l->txmsg.type = LP_CTL_QUEUE_UNUSED;
	if (strlen(vhost) > LP_CTL_NAME_MAX || strlen(queue) > LP_CTL_NAME_MAX)
		return -EINVAL;
	strcpy(l->txmsg.queue_unused.vhost, vhost);
	strcpy(l->txmsg.queue_unused.queue, queue);
	int rc = link_send_tx(l);
	if (rc < 0 && rc != -EAGAIN && rc != -EINVAL && rc != -EMSGSIZE)
		link_lost(l, l->last_rx_ns, strerror(-rc));
	return rc == -EMSGSIZE ? -EINVAL : rc;
}
