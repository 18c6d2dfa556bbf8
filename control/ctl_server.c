/* SPDX-License-Identifier: MIT */
/*
 * lepus-control's socket loop (see ctl_server.h; the files of the server are
 * listed in ctl_server_int.h).
 *
 * ppoll -> accept -> peer slot -> recv -> lp_ctl_decode -> peer_dispatch ->
 * the message type's handler from the tables of ctl_peer.c, ctl_status.c and
 * ctl_request.c (struct ctl_handler), if the peer's role may send it:
 *   no role yet: only HELLO (answered with HELLO_ACK or HELLO_NAK);
 *   dataplane:   HEARTBEAT, DROP_NAMES, STATS, DECLARE/DELETE/BIND/UNBIND/
 *                PURGE, CONNECTION_CLOSED, QUEUE_UNUSED;
 *   cli:         HEARTBEAT, STATUS_REQ, LIST_REQ, ADMIN_REQ.
 * On POLLOUT a peer's output queue is flushed (ctl_peer.c) and a status
 * response in progress resumed (ctl_status.c).
 * Anything malformed or out of place closes that peer with a logged reason;
 * nothing a peer sends can stop the loop. Peers are bounded (MAX_PEERS) and
 * each is dropped after a period of silence. A poll hook (the HTTP API,
 * http_server.c) adds its descriptors to the same ppoll() and runs after
 * the peers, on this thread.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl_log.h"
#include "ctl_server_int.h"

#define RX_PER_PEER 32 /* messages read from one peer per loop iteration */
#define TICK_MS 200
#define CLI_IDLE_NS (10 * 1000000000ull)

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

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
		lp_outq_init(&s->peers[i].out);
	}
	lp_outq_init(&s->batch);

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

static const struct ctl_handler *const handler_tables[] = {
	lp_peer_handlers,
	lp_status_handlers,
	lp_request_handlers,
};

/* The handler of message type `type`, or NULL. */
static const struct ctl_handler *handler_find(uint16_t type)
{
	for (size_t i = 0; i < sizeof(handler_tables) / sizeof(handler_tables[0]); i++)
		for (const struct ctl_handler *h = handler_tables[i]; h->fn; h++)
			if (h->type == type)
				return h;
	return NULL;
}

/* Hand s->msg to its handler when p may send it, else close p. */
static void peer_dispatch(struct lp_ctl_server *s, struct peer *p, uint64_t now)
{
	uint16_t type = s->msg.type;
	const struct ctl_handler *h = handler_find(type);

	if (h && (h->from & (1u << p->role)) && (!h->needs_defs || s->defs)) {
		h->fn(s, p, now);
		return;
	}
	if (!p->role)
		lp_peer_close(s, p, "expected HELLO, got %s", lp_ctl_type_name(type));
	else
		lp_peer_close(s, p, "unexpected %s from a %s", lp_ctl_type_name(type),
			      lp_peer_role_name(p->role));
}

static void peer_receive(struct lp_ctl_server *s, struct peer *p, uint64_t now)
{
	for (int i = 0; i < RX_PER_PEER && p->fd >= 0; i++) {
		ssize_t n = recv(p->fd, s->buf, sizeof(s->buf), MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return;
			lp_peer_close(s, p, "receive error: %s", strerror(errno));
			return;
		}
		if (n == 0) {
			lp_peer_close(s, p, "connection closed by peer");
			return;
		}
		if ((size_t)n > sizeof(s->buf)) {
			lp_peer_close(s, p, "message of %zd bytes exceeds %d", n, LP_CTL_MSG_MAX);
			return;
		}
		int rc = lp_ctl_decode(s->buf, (size_t)n, &s->msg);
		if (rc == -EPROTONOSUPPORT) {
			char text[LP_CTL_TEXT_MAX + 1];
			snprintf(text, sizeof(text),
				 "protocol version %u not supported, lepus-control speaks %d",
				 s->msg.version, LP_CTL_VERSION);
			if (s->msg.type == LP_CTL_HELLO && !p->role)
				lp_peer_refuse(s, p, LP_CTL_NAK_VERSION, text);
			else
				lp_peer_close(s, p, "%s", text);
			return;
		}
		if (rc == -ENOTSUP) {
			lp_log(LP_LOG_DEBUG, "ignoring message type 0x%04x from %s #%u",
			       s->msg.type, lp_peer_role_name(p->role), p->id);
			p->last_rx_ns = now;
			continue;
		}
		if (rc < 0) {
			if (!p->role && s->msg.type == LP_CTL_HELLO)
				lp_peer_refuse(s, p, LP_CTL_NAK_MALFORMED, "malformed HELLO");
			else
				lp_peer_close(s, p, "malformed %s message (%zd bytes)",
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
		lp_outq_init(&p->out);
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
			lp_peer_close(s, p, "no heartbeat for %d s", LP_CTL_HEARTBEAT_MISSES);
		else if (!p->role && silent >= DEAD_AFTER_NS)
			lp_peer_close(s, p, "no HELLO within %d s", LP_CTL_HEARTBEAT_MISSES);
		else if (p->role == LP_CTL_ROLE_CLI && silent >= CLI_IDLE_NS)
			lp_peer_close(s, p, "idle");
	}
}

int lp_ctl_server_run(struct lp_ctl_server *s, const volatile sig_atomic_t *stop,
		      const sigset_t *wait_mask)
{
	struct pollfd pfd[MAX_PEERS + 1 + LP_CTL_HOOK_FDS_MAX];
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
		nfds_t n_own = n;
		int timeout_ms = TICK_MS;
		if (s->have_hook)
			n += s->hook.fill(s->hook.arg, pfd + n_own, LP_CTL_HOOK_FDS_MAX, &timeout_ms);
		if (timeout_ms < 0 || timeout_ms > TICK_MS)
			timeout_ms = TICK_MS;
		struct timespec tick = { .tv_sec = 0, .tv_nsec = timeout_ms * 1000000L };
		int rc = ppoll(pfd, n, &tick, wait_mask);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			lp_log(LP_LOG_ERR, "ppoll: %s", strerror(errno));
			return -errno;
		}
		uint64_t now = now_ns();
		for (nfds_t k = 1; k < n_own; k++) {
			struct peer *p = &s->peers[slot[k]];
			if (p->fd != pfd[k].fd)
				continue; /* closed (e.g. replaced) during this iteration */
			if (pfd[k].revents & POLLOUT) {
				int frc = lp_outq_flush(p);
				if (frc < 0)
					lp_peer_close(s, p, "send failed: %s", strerror(-frc));
				else if (!p->out.head)
					lp_status_flush(s, p, now);
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
		if (s->have_hook)
			s->hook.run(s->hook.arg, pfd + n_own, (unsigned)(n - n_own));
	}
	return 0;
}

void lp_ctl_server_set_poll_hook(struct lp_ctl_server *s, const struct lp_ctl_poll_hook *hook)
{
	s->have_hook = hook != NULL;
	if (hook)
		s->hook = *hook;
}

struct lp_defs *lp_ctl_server_definitions(struct lp_ctl_server *s)
{
	return s->defs;
}

void lp_ctl_server_change_begin(struct lp_ctl_server *s)
{
	lp_sync_change_begin(s);
}

int lp_ctl_server_change_end(struct lp_ctl_server *s)
{
	return lp_sync_change_end(s);
}

bool lp_ctl_server_dataplane(const struct lp_ctl_server *s, struct lp_ctl_hello *hello)
{
	if (s->dp.peer < 0)
		return false;
	if (hello)
		*hello = s->dp.hello;
	return true;
}

uint64_t lp_ctl_server_uptime_ns(const struct lp_ctl_server *s)
{
	return now_ns() - s->start_ns;
}

void lp_ctl_server_destroy(struct lp_ctl_server *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < MAX_PEERS; i++)
		if (s->peers[i].fd >= 0)
			lp_peer_close(s, &s->peers[i], "lepus-control is stopping");
	lp_status_dp_clear(&s->dp);
	lp_outq_clear(&s->batch);
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
