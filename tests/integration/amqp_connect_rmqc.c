/* SPDX-License-Identifier: MIT */
/*
 * rabbitmq-c (librabbitmq, Debian's) against Lepus's AMQP connection layer:
 * log in, open several channels, keep the connection alive on heartbeats
 * alone for more than three intervals, close channels and connection
 * cleanly; then a wrong password must be refused with 403 ACCESS_REFUSED.
 * Usage: amqp_connect_rmqc HOST PORT. Exit 0 when every check passed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>

static int failures;

static void check(int ok, const char *what)
{
	printf("%s %s\n", ok ? "ok  " : "FAIL", what);
	if (!ok)
		failures++;
}

static amqp_connection_state_t open_conn(const char *host, int port)
{
	amqp_connection_state_t c = amqp_new_connection();
	amqp_socket_t *s = amqp_tcp_socket_new(c);
	struct timeval tv = {.tv_sec = 5};

	if (s == NULL || amqp_socket_open_noblock(s, host, port, &tv) != AMQP_STATUS_OK) {
		check(0, "TCP connect");
		exit(1);
	}
	return c;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s HOST PORT\n", argv[0]);
		return 2;
	}
	const char *host = argv[1];
	int port = atoi(argv[2]);
	amqp_connection_state_t c = open_conn(host, port);
	amqp_rpc_reply_t r = amqp_login(c, "/", 0, 131072, 1, AMQP_SASL_METHOD_PLAIN, "guest", "guest");

	check(r.reply_type == AMQP_RESPONSE_NORMAL, "login guest/guest with heartbeat 1 s");
	check(amqp_get_heartbeat(c) == 1, "heartbeat negotiated to 1 s");
	for (amqp_channel_t ch = 1; ch <= 3; ch++) {
		amqp_channel_open(c, ch);
		r = amqp_get_rpc_reply(c);
		check(r.reply_type == AMQP_RESPONSE_NORMAL, "channel open");
	}
	/* Wait 3.5 intervals; rabbitmq-c answers and sends heartbeats while it waits. */
	double end = now_s() + 3.5;
	int alive = 1;

	while (alive && now_s() < end) {
		amqp_frame_t f;
		struct timeval tv = {.tv_usec = 100000};
		int rc = amqp_simple_wait_frame_noblock(c, &f, &tv);

		if (rc != AMQP_STATUS_TIMEOUT && rc != AMQP_STATUS_OK)
			alive = 0;
	}
	check(alive, "connection alive on heartbeats for 3.5 intervals");
	r = amqp_channel_close(c, 2, AMQP_REPLY_SUCCESS);
	check(r.reply_type == AMQP_RESPONSE_NORMAL, "channel 2 closed");
	r = amqp_connection_close(c, AMQP_REPLY_SUCCESS);
	check(r.reply_type == AMQP_RESPONSE_NORMAL, "connection closed cleanly");
	amqp_destroy_connection(c);

	c = open_conn(host, port);
	r = amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "nope");
	int refused = r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
		      r.reply.id == AMQP_CONNECTION_CLOSE_METHOD &&
		      ((amqp_connection_close_t *)r.reply.decoded)->reply_code == 403;
	check(refused, "wrong password refused with 403 ACCESS_REFUSED");
	amqp_destroy_connection(c);
	printf("%d failure(s)\n", failures);
	return failures ? 1 : 0;
}
