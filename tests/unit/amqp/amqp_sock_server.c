/* SPDX-License-Identifier: MIT */
/*
 * Test tool, not the dataplane: serves lp_amqp connections over kernel TCP
 * sockets so that real clients (pika, amqp-tools, rabbitmq-c) can be pointed
 * at the codec and state machine before TCP-lite carries them. One thread,
 * poll(2), every connection in its own malloc'd block, lp_amqp_conn_tick
 * every 50 ms. Used by test_real_clients.sh inside a network namespace.
 * Prints one line per closed connection: "closed <code> <reason>".
 *
 * usage: amqp_sock_server ADDR PORT MAX_CONNS SECONDS
 * Exits after MAX_CONNS connections have closed or SECONDS have passed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "amqp_conn.h"

#define MAXC 16

struct slot {
	int fd;
	void *mem;
	struct lp_amqp_conn *c;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * LP_AMQP_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* Writes what the connection has; returns false on a socket error. */
static bool flush(struct slot *s)
{
	const uint8_t *p;
	size_t n;

	while ((n = lp_amqp_conn_output_peek(s->c, &p)) > 0) {
		ssize_t w = send(s->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0)
			return errno == EAGAIN;
		lp_amqp_conn_output_consume(s->c, (size_t)w);
	}
	return true;
}

static void finish(struct slot *s, int *closed)
{
	uint16_t code;
	const char *why = lp_amqp_conn_close_reason(s->c, &code);
	printf("closed %u %s\n", code, why[0] ? why : "(peer went away)");
	fflush(stdout);
	close(s->fd);
	lp_amqp_conn_release(s->c);
	free(s->mem);
	s->fd = -1;
	(*closed)++;
}

int main(int argc, char **argv)
{
	struct slot slots[MAXC];
	struct lp_amqp_conn_cfg cfg;
	struct lp_amqp_auth *db;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int lfd, one = 1, closed = 0, max_conns;
	uint64_t deadline;

	if (argc != 5 || inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
		fprintf(stderr, "usage: %s ADDR PORT MAX_CONNS SECONDS\n", argv[0]);
		return 2;
	}
	sa.sin_port = htons((uint16_t)atoi(argv[2]));
	max_conns = atoi(argv[3]);
	deadline = now_ns() + (uint64_t)atoi(argv[4]) * LP_AMQP_NS_PER_SEC;
	db = lp_amqp_auth_create(4, 4);
	if (db == NULL || lp_amqp_auth_add_defaults(db) != 0)
		return 1;
	lp_amqp_conn_cfg_default(&cfg);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 8) != 0) {
		perror("listen");
		return 1;
	}
	for (int i = 0; i < MAXC; i++)
		slots[i].fd = -1;
	printf("listening\n");
	fflush(stdout);

	while (closed < max_conns && now_ns() < deadline) {
		struct pollfd pfd[MAXC + 1];
		int map[MAXC + 1], n = 0;

		pfd[n] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		map[n++] = -1;
		for (int i = 0; i < MAXC; i++) {
			if (slots[i].fd < 0)
				continue;
			const uint8_t *p;
			short ev = POLLIN;
			if (lp_amqp_conn_output_peek(slots[i].c, &p) > 0)
				ev |= POLLOUT;
			pfd[n] = (struct pollfd){ .fd = slots[i].fd, .events = ev };
			map[n++] = i;
		}
		poll(pfd, (nfds_t)n, 50);
		for (int k = 0; k < n; k++) {
			if (map[k] < 0) {
				if (!(pfd[k].revents & POLLIN))
					continue;
				int fd = accept(lfd, NULL, NULL);
				int i = 0;
				while (i < MAXC && slots[i].fd >= 0)
					i++;
				if (fd < 0 || i == MAXC) {
					if (fd >= 0)
						close(fd);
					continue;
				}
				size_t ms = lp_amqp_conn_memsize(&cfg);
				slots[i].mem = aligned_alloc(64, (ms + 63) & ~(size_t)63);
				slots[i].c = lp_amqp_conn_init(slots[i].mem, ms, &cfg, db, NULL, NULL, now_ns());
				slots[i].fd = fd;
				continue;
			}
			struct slot *s = &slots[map[k]];
			if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR)) {
				uint8_t buf[16384];
				ssize_t r = recv(s->fd, buf, sizeof(buf), MSG_DONTWAIT);
				if (r <= 0) {
					finish(s, &closed);
					continue;
				}
				size_t off = 0;
				for (int guard = 0; off < (size_t)r && guard < 1000; guard++) {
					off += lp_amqp_conn_input(s->c, buf + off, (size_t)r - off);
					if (!flush(s))
						break;
				}
			}
			if (!flush(s))
				finish(s, &closed);
		}
		uint64_t t = now_ns();
		for (int i = 0; i < MAXC; i++) {
			if (slots[i].fd < 0)
				continue;
			lp_amqp_conn_tick(slots[i].c, t);
			bool ok = flush(&slots[i]);
			const uint8_t *p;
			if (!ok || (lp_amqp_conn_closed(slots[i].c) && lp_amqp_conn_output_peek(slots[i].c, &p) == 0))
				finish(&slots[i], &closed);
		}
	}
	for (int i = 0; i < MAXC; i++)
		if (slots[i].fd >= 0)
			finish(&slots[i], &closed);
	close(lfd);
	lp_amqp_auth_destroy(db);
	return 0;
}
