/* SPDX-License-Identifier: MIT */
/*
 * One connection of lepus-control's control socket (see ctl_server_int.h):
 * its output queue, sending (at once, or queued behind what waits and sent
 * on POLLOUT by the loop in ctl_server.c, bounded by OUTQ_MAX), closing, and
 * the session messages every peer speaks: HELLO (answered with HELLO_ACK or
 * HELLO_NAK; an accepted dataplane becomes the dataplane view of
 * ctl_status.c and gets its full batch from ctl_sync.c) and HEARTBEAT
 * (echoed).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl_log.h"
#include "ctl_server_int.h"

const char *lp_peer_role_name(uint16_t role)
{
	switch (role) {
	case LP_CTL_ROLE_DATAPLANE: return "dataplane";
	case LP_CTL_ROLE_CLI: return "cli";
	default: return "peer";
	}
}

void lp_outq_init(struct outq *q)
{
	q->head = NULL;
	q->tail = &q->head;
	q->bytes = 0;
	q->n = 0;
}

void lp_outq_clear(struct outq *q)
{
	while (q->head) {
		struct outmsg *m = q->head;
		q->head = m->next;
		free(m);
	}
	lp_outq_init(q);
}

/* Append a copy of data[0..len). 0 or -ENOMEM. */
int lp_outq_push(struct outq *q, const void *data, size_t len)
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
void lp_peer_stamp_seq(uint8_t *dgram, uint32_t seq)
{
	for (int i = 0; i < 4; i++)
		dgram[12 + i] = (uint8_t)(seq >> (8 * i));
}

/* Send what p's queue holds until its socket is full. 0 or -errno. */
int lp_outq_flush(struct peer *p)
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
int lp_peer_send_raw(struct peer *p, const uint8_t *dgram, size_t len)
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
	return lp_outq_push(&p->out, dgram, len);
}

void lp_peer_close(struct lp_ctl_server *s, struct peer *p, const char *fmt, ...)
{
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);

	int slot = (int)(p - s->peers);
	if (s->dp.peer == slot) {
		lp_log(LP_LOG_WARN, "dataplane pid %u disconnected: %s", s->dp.hello.pid, why);
		lp_status_dp_clear(&s->dp);
	} else {
		lp_log(p->role == LP_CTL_ROLE_CLI ? LP_LOG_DEBUG : LP_LOG_WARN,
		       "closing %s connection #%u: %s", lp_peer_role_name(p->role), p->id, why);
	}
	close(p->fd);
	lp_outq_clear(&p->out);
	memset(p, 0, sizeof(*p));
	p->fd = -1;
	lp_outq_init(&p->out);
}

/* Encode s->msg and send it to p, or queue it when p's socket is full.
 * 0, -ENOBUFS (p's queue is at its limit), or another -errno. */
int lp_peer_send(struct lp_ctl_server *s, struct peer *p)
{
	s->msg.seq = ++p->seq;
	ssize_t n = lp_ctl_encode(s->buf, sizeof(s->buf), &s->msg);
	if (n < 0)
		return (int)n;
	return lp_peer_send_raw(p, s->buf, (size_t)n);
}

/* Send s->msg or close p. Returns false when p was closed. */
bool lp_peer_send_or_close(struct lp_ctl_server *s, struct peer *p)
{
	const char *type = lp_ctl_type_name(s->msg.type);
	int rc = lp_peer_send(s, p);
	if (rc == 0)
		return true;
	lp_peer_close(s, p, "cannot send %s: %s", type,
		      rc == -ENOBUFS ? "peer does not read" : strerror(-rc));
	return false;
}

void lp_peer_refuse(struct lp_ctl_server *s, struct peer *p, uint16_t reason, const char *text)
{
	memset(&s->msg, 0, sizeof(s->msg));
	s->msg.type = LP_CTL_HELLO_NAK;
	s->msg.hello_nak.reason = reason;
	s->msg.hello_nak.proto_version = LP_CTL_VERSION;
	lp_ctl_strlcpy_printable(s->msg.hello_nak.text, sizeof(s->msg.hello_nak.text), text);
	(void)lp_peer_send(s, p); /* best effort: the peer is closed either way */
	lp_peer_close(s, p, "hello refused: %s", text);
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
	lp_peer_send_or_close(s, p);
}

static void on_hello(struct lp_ctl_server *s, struct peer *p, uint64_t now)
{
	const struct lp_ctl_hello h = s->msg.hello;
	char text[LP_CTL_TEXT_MAX + 1];

	if (p->role) {
		lp_peer_close(s, p, "second HELLO");
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
		lp_peer_refuse(s, p, LP_CTL_NAK_ROLE, text);
		return;
	}
	if (h.n_workers == 0) {
		lp_peer_refuse(s, p, LP_CTL_NAK_MALFORMED, "dataplane with 0 workers");
		return;
	}
	if (s->dp.peer >= 0) {
		struct peer *old = &s->peers[s->dp.peer];
		bool silent = now - old->last_rx_ns >= DEAD_AFTER_NS;
		if (old->pid != h.pid && !silent) {
			snprintf(text, sizeof(text),
				 "dataplane pid %u is connected and alive", old->pid);
			lp_peer_refuse(s, p, LP_CTL_NAK_BUSY, text);
			return;
		}
		lp_peer_close(s, old, "replaced by a new connection from pid %u", h.pid);
	}
	p->role = LP_CTL_ROLE_DATAPLANE;
	p->pid = h.pid;
	lp_status_dp_clear(&s->dp);
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
		lp_sync_dataplane(s, p);
}

static void on_heartbeat(struct lp_ctl_server *s, struct peer *p, uint64_t now)
{
	uint64_t echo = s->msg.heartbeat.time_ns;
	s->msg.type = LP_CTL_HEARTBEAT;
	s->msg.heartbeat = (struct lp_ctl_heartbeat){ .time_ns = now, .echo_ns = echo };
	lp_peer_send_or_close(s, p);
}

const struct ctl_handler lp_peer_handlers[] = {
	{ LP_CTL_HELLO, CTL_FROM_NEW | CTL_FROM_DATAPLANE | CTL_FROM_CLI, false, on_hello },
	{ LP_CTL_HEARTBEAT, CTL_FROM_DATAPLANE | CTL_FROM_CLI, false, on_heartbeat },
	{ 0 },
};
