/* SPDX-License-Identifier: MIT */
/*
 * lepusctl: the command-line client of lepus-control (like rabbitmqctl).
 *
 *   lepusctl [--socket PATH] status [--json]
 *
 * Connects to lepus-control's socket as role "cli" (api/lp_ctl.h), sends
 * STATUS_REQ and collects STATUS_RESP plus the DROP_NAMES and STATS messages
 * that follow, then prints control uptime, the dataplane's identity, per-worker
 * packet and byte counters, non-zero drop counters by name, and totals; as JSON
 * with --json:
 *   {"control": {"pid", "version", "uptime_s"},
 *    "dataplane": {"connected", and when connected: "pid", "version", "ip",
 *      "mac", "driver", "n_workers", "connected_s", "stats_age_s" (null before
 *      the first stats), "workers": [{"worker", "rx_packets", "rx_bytes",
 *      "tx_packets", "tx_bytes", "drops": {NAME: count, non-zero only}}],
 *      "totals": {"rx_packets", ..., "drops": {...}}}}
 * The whole exchange has a 2 s deadline.
 * Exit status: 0 lepus-control answered (whether or not a dataplane is
 * connected), 1 lepus-control unreachable or its answer unusable, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lp_ctl.h"

#ifndef LP_VERSION
#define LP_VERSION "unknown"
#endif

#define DEADLINE_NS (2 * 1000000000ull)

struct status {
	struct lp_ctl_status_resp resp;
	struct lp_ctl_drop_names names;
	uint64_t *stats; /* resp.n_workers x (LP_CTL_STAT_DROP0 + resp.n_reasons) */
	unsigned stride;
};

struct client {
	const char *path;
	int fd;
	uint64_t deadline_ns;
	uint32_t seq;
	uint8_t buf[LP_CTL_MSG_MAX];
	struct lp_ctl_msg msg;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void fail(const struct client *c, const char *what, const char *detail)
{
	fprintf(stderr, "lepusctl: lepus-control at %s: %s%s%s\n", c->path, what,
		detail ? ": " : "", detail ? detail : "");
}

/* Send c->msg. 0 or -1 (reported). */
static int client_send(struct client *c)
{
	c->msg.seq = ++c->seq;
	ssize_t n = lp_ctl_encode(c->buf, sizeof(c->buf), &c->msg);
	if (n < 0 || send(c->fd, c->buf, (size_t)n, MSG_NOSIGNAL) != n) {
		fail(c, "cannot send request", strerror(n < 0 ? (int)-n : errno));
		return -1;
	}
	return 0;
}

/* Receive and decode one message into c->msg before the deadline. 0 or -1
 * (reported). Messages of types this build does not know are skipped. */
static int client_recv(struct client *c)
{
	for (;;) {
		uint64_t now = now_ns();
		if (now >= c->deadline_ns) {
			fail(c, "no answer within 2 s", NULL);
			return -1;
		}
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int rc = poll(&pfd, 1, (int)((c->deadline_ns - now) / 1000000 + 1));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0) {
			fail(c, "poll", strerror(errno));
			return -1;
		}
		if (rc == 0)
			continue;
		ssize_t n = recv(c->fd, c->buf, sizeof(c->buf), MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0) {
			fail(c, "receive failed", strerror(errno));
			return -1;
		}
		if (n == 0) {
			fail(c, "connection closed before the answer was complete", NULL);
			return -1;
		}
		if ((size_t)n > sizeof(c->buf)) {
			fail(c, "oversized message", NULL);
			return -1;
		}
		rc = lp_ctl_decode(c->buf, (size_t)n, &c->msg);
		if (rc == -ENOTSUP)
			continue;
		if (rc == -EPROTONOSUPPORT) {
			char d[64];
			snprintf(d, sizeof(d), "it speaks protocol %u, lepusctl speaks %d",
				 c->msg.version, LP_CTL_VERSION);
			fail(c, "protocol version mismatch", d);
			return -1;
		}
		if (rc < 0) {
			fail(c, "malformed message", lp_ctl_type_name(c->msg.type));
			return -1;
		}
		return 0;
	}
}

static int client_expect(struct client *c, uint16_t type)
{
	if (client_recv(c) < 0)
		return -1;
	if (c->msg.type == LP_CTL_HELLO_NAK) {
		fail(c, "refused us", c->msg.hello_nak.text);
		return -1;
	}
	if (c->msg.type != type) {
		char d[80];
		snprintf(d, sizeof(d), "expected %s, got %s", lp_ctl_type_name(type),
			 lp_ctl_type_name(c->msg.type));
		fail(c, "protocol error", d);
		return -1;
	}
	return 0;
}

/* The status exchange. 0 and *st filled, or -1 (reported). */
static int fetch_status(struct client *c, struct status *st)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(c->path) >= sizeof(addr.sun_path)) {
		fail(c, "socket path too long", NULL);
		return -1;
	}
	strcpy(addr.sun_path, c->path);
	c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		fail(c, "socket", strerror(errno));
		return -1;
	}
	if (connect(c->fd, (const struct sockaddr *)&addr, sizeof(addr)) < 0) {
		fail(c, "unreachable", strerror(errno));
		return -1;
	}

	memset(&c->msg, 0, sizeof(c->msg));
	c->msg.type = LP_CTL_HELLO;
	c->msg.hello.role = LP_CTL_ROLE_CLI;
	c->msg.hello.proto_version = LP_CTL_VERSION;
	c->msg.hello.pid = (uint32_t)getpid();
	lp_ctl_strlcpy_printable(c->msg.hello.version, sizeof(c->msg.hello.version), LP_VERSION);
	if (client_send(c) < 0 || client_expect(c, LP_CTL_HELLO_ACK) < 0)
		return -1;

	memset(&c->msg, 0, sizeof(c->msg));
	c->msg.type = LP_CTL_STATUS_REQ;
	if (client_send(c) < 0 || client_expect(c, LP_CTL_STATUS_RESP) < 0)
		return -1;
	st->resp = c->msg.status_resp;
	st->stride = LP_CTL_STAT_DROP0 + st->resp.n_reasons;
	if (st->resp.n_reasons) {
		if (client_expect(c, LP_CTL_DROP_NAMES) < 0)
			return -1;
		if (c->msg.drop_names.n != st->resp.n_reasons) {
			fail(c, "protocol error", "drop name count differs from the status");
			return -1;
		}
		st->names = c->msg.drop_names;
	}
	if (!st->resp.n_workers)
		return 0;
	st->stats = calloc((size_t)st->resp.n_workers * st->stride, sizeof(*st->stats));
	if (!st->stats) {
		fail(c, "out of memory", NULL);
		return -1;
	}
	unsigned got = 0;
	while (got < st->resp.n_workers) {
		if (client_expect(c, LP_CTL_STATS) < 0)
			return -1;
		const struct lp_ctl_stats *s = &c->msg.stats;
		if (s->n_workers_total != st->resp.n_workers || s->n_reasons != st->resp.n_reasons ||
		    s->first_worker != got) {
			fail(c, "protocol error", "STATS do not match the status");
			return -1;
		}
		for (unsigned r = 0; r < s->n_workers; r++)
			for (unsigned i = 0; i < st->stride; i++)
				st->stats[(size_t)(got + r) * st->stride + i] = lp_ctl_stats_get(s, r, i);
		got += s->n_workers;
	}
	return 0;
}

static uint64_t stat_of(const struct status *st, unsigned w, unsigned idx)
{
	return st->stats[(size_t)w * st->stride + idx];
}

static void format_duration(char *out, size_t cap, uint64_t ns)
{
	uint64_t s = ns / 1000000000ull;
	if (s >= 86400)
		snprintf(out, cap, "%" PRIu64 "d %02" PRIu64 ":%02" PRIu64 ":%02" PRIu64,
			 s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
	else
		snprintf(out, cap, "%02" PRIu64 ":%02" PRIu64 ":%02" PRIu64,
			 s / 3600, s / 60 % 60, s % 60);
}

static void format_ip_mac(const struct lp_ctl_hello *h, char *ip, size_t ipcap, char *mac,
			  size_t maccap)
{
	snprintf(ip, ipcap, "%u.%u.%u.%u", h->ip[0], h->ip[1], h->ip[2], h->ip[3]);
	snprintf(mac, maccap, "%02x:%02x:%02x:%02x:%02x:%02x", h->mac[0], h->mac[1],
		 h->mac[2], h->mac[3], h->mac[4], h->mac[5]);
}

static void print_text(const struct status *st)
{
	const struct lp_ctl_status_resp *r = &st->resp;
	char up[48], ip[16], mac[18];

	format_duration(up, sizeof(up), r->uptime_ns);
	printf("lepus-control: pid %u, version %s, up %s\n", r->pid, r->version, up);
	if (!r->dp_connected) {
		printf("dataplane: not connected\n");
		return;
	}
	format_duration(up, sizeof(up), r->dp_connected_ns);
	format_ip_mac(&r->dp, ip, sizeof(ip), mac, sizeof(mac));
	printf("dataplane: connected for %s, pid %u, version %s\n", up, r->dp.pid, r->dp.version);
	printf("  ip %s, mac %s, driver %s, %u worker(s)\n", ip, mac, r->dp.driver,
	       r->dp.n_workers);
	if (!r->n_workers) {
		printf("  no stats received yet\n");
		return;
	}
	printf("  stats received %.1f s ago\n", (double)r->stats_age_ns / 1e9);
	printf("  %6s %16s %16s %16s %16s\n", "worker", "rx_packets", "rx_bytes",
	       "tx_packets", "tx_bytes");
	uint64_t tot[LP_CTL_STAT_DROP0] = { 0 };
	for (unsigned w = 0; w < r->n_workers; w++) {
		printf("  %6u", w);
		for (unsigned i = 0; i < LP_CTL_STAT_DROP0; i++) {
			printf(" %16" PRIu64, stat_of(st, w, i));
			tot[i] += stat_of(st, w, i);
		}
		printf("\n");
	}
	printf("  %6s", "total");
	for (unsigned i = 0; i < LP_CTL_STAT_DROP0; i++)
		printf(" %16" PRIu64, tot[i]);
	printf("\n");

	bool any = false;
	uint64_t all = 0;
	for (unsigned d = 0; d < r->n_reasons; d++) {
		uint64_t sum = 0;
		for (unsigned w = 0; w < r->n_workers; w++)
			sum += stat_of(st, w, LP_CTL_STAT_DROP0 + d);
		if (!sum)
			continue;
		if (!any)
			printf("  drops:\n");
		any = true;
		all += sum;
		printf("    %-28s %16" PRIu64, st->names.name[d], sum);
		if (r->n_workers > 1) {
			printf("  (");
			for (unsigned w = 0; w < r->n_workers; w++)
				printf("%sw%u %" PRIu64, w ? ", " : "", w,
				       stat_of(st, w, LP_CTL_STAT_DROP0 + d));
			printf(")");
		}
		printf("\n");
	}
	if (any)
		printf("    %-28s %16" PRIu64 "\n", "total", all);
	else
		printf("  drops: none\n");
}

static json_t *json_u64(uint64_t v)
{
	return json_integer(v > (uint64_t)INT64_MAX ? (json_int_t)INT64_MAX : (json_int_t)v);
}

static int print_json(const struct status *st)
{
	const struct lp_ctl_status_resp *r = &st->resp;
	char ip[16], mac[18];
	json_t *root = json_object();
	json_object_set_new(root, "control",
			    json_pack("{s:I, s:s, s:f}", "pid", (json_int_t)r->pid,
				      "version", r->version, "uptime_s",
				      (double)r->uptime_ns / 1e9));
	json_t *dp = json_object();
	json_object_set_new(root, "dataplane", dp);
	json_object_set_new(dp, "connected", json_boolean(r->dp_connected));
	if (r->dp_connected) {
		format_ip_mac(&r->dp, ip, sizeof(ip), mac, sizeof(mac));
		json_object_set_new(dp, "pid", json_integer(r->dp.pid));
		json_object_set_new(dp, "version", json_string(r->dp.version));
		json_object_set_new(dp, "ip", json_string(ip));
		json_object_set_new(dp, "mac", json_string(mac));
		json_object_set_new(dp, "driver", json_string(r->dp.driver));
		json_object_set_new(dp, "n_workers", json_integer(r->dp.n_workers));
		json_object_set_new(dp, "connected_s", json_real((double)r->dp_connected_ns / 1e9));
		json_object_set_new(dp, "stats_age_s", r->n_workers
				    ? json_real((double)r->stats_age_ns / 1e9) : json_null());
		static const char *const keys[LP_CTL_STAT_DROP0] = {
			"rx_packets", "rx_bytes", "tx_packets", "tx_bytes"
		};
		json_t *per = json_array();
		json_t *tot = json_object();
		json_t *tot_drops = json_object();
		uint64_t tsum[LP_CTL_STAT_DROP0] = { 0 };
		for (unsigned w = 0; w < r->n_workers; w++) {
			json_t *wo = json_object();
			json_object_set_new(wo, "worker", json_integer(w));
			for (unsigned i = 0; i < LP_CTL_STAT_DROP0; i++) {
				json_object_set_new(wo, keys[i], json_u64(stat_of(st, w, i)));
				tsum[i] += stat_of(st, w, i);
			}
			json_t *drops = json_object();
			for (unsigned d = 0; d < r->n_reasons; d++) {
				uint64_t v = stat_of(st, w, LP_CTL_STAT_DROP0 + d);
				if (!v)
					continue;
				json_object_set_new(drops, st->names.name[d], json_u64(v));
				json_t *t = json_object_get(tot_drops, st->names.name[d]);
				uint64_t prev = t ? (uint64_t)json_integer_value(t) : 0;
				json_object_set_new(tot_drops, st->names.name[d], json_u64(prev + v));
			}
			json_object_set_new(wo, "drops", drops);
			json_array_append_new(per, wo);
		}
		for (unsigned i = 0; i < LP_CTL_STAT_DROP0; i++)
			json_object_set_new(tot, keys[i], json_u64(tsum[i]));
		json_object_set_new(tot, "drops", tot_drops);
		json_object_set_new(dp, "workers", per);
		json_object_set_new(dp, "totals", tot);
	}
	int rc = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	printf("\n");
	json_decref(root);
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: lepusctl [--socket PATH] status [--json]\n"
		"  --socket PATH  lepus-control socket (default " LP_CTL_DEFAULT_SOCKET ")\n"
		"  status         control and dataplane state, per-worker counters, drops\n"
		"  --json         print the status as JSON\n"
		"exit status: 0 lepus-control answered, 1 unreachable or bad answer, 2 usage\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct client c; /* 64 KiB buffer: not on the stack */
	c.path = LP_CTL_DEFAULT_SOCKET;
	c.fd = -1;
	bool json = false;
	int opt;

	/* Options may come before or after the command (getopt permutes). */
	while ((opt = getopt_long(argc, argv, "s:jh", opts, NULL)) != -1) {
		switch (opt) {
		case 's': c.path = optarg; break;
		case 'j': json = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind + 1 != argc || strcmp(argv[optind], "status") != 0) {
		usage(stderr);
		return 2;
	}

	struct status st = { 0 };
	c.deadline_ns = now_ns() + DEADLINE_NS;
	int rc = fetch_status(&c, &st);
	if (c.fd >= 0)
		close(c.fd);
	if (rc == 0) {
		if (json)
			rc = print_json(&st);
		else
			print_text(&st);
		fflush(stdout);
	}
	free(st.stats);
	return rc == 0 ? 0 : 1;
}
