/* SPDX-License-Identifier: MIT */
/*
 * lepusctl: the command-line client of lepus-control (like rabbitmqctl).
 *
 *   lepusctl [--socket PATH] status [--json]
 *   lepusctl [--socket PATH] [--json] [-p VHOST] list_vhosts | list_users |
 *            list_permissions | list_exchanges | list_queues | list_bindings
 *   lepusctl [--socket PATH] add_user NAME PASSWORD | delete_user NAME |
 *            change_password NAME PASSWORD | set_user_tags NAME [TAG...] |
 *            add_vhost NAME | delete_vhost NAME |
 *            set_permissions [-p VHOST] USER CONF WRITE READ |
 *            clear_permissions [-p VHOST] USER
 *   lepusctl [--http ADDR:PORT] [--user U --password P] set_policy ... |
 *            clear_policy | list_policies | *_operator_policy |
 *            export_definitions FILE | import_definitions FILE
 *            (lepusctl_http.c: through the management HTTP API)
 *   --formatter json is --json.
 *
 * Definitions commands print what rabbitmqctl prints ("Listing queues for
 * vhost / ...", tab-separated columns; "Adding user "bob" ..."), or JSON
 * arrays of objects with --json; they use LIST_REQ and ADMIN_REQ
 * (api/lp_ctl.h). list_queues shows definitions only (message counts live
 * in the dataplane).
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
 *      "tx_packets", "tx_bytes", "alarms": ["memory", "disk"] (raised ones),
 *      "blocked_publishers", "drops": {NAME: count, non-zero only}}],
 *      "totals": {"rx_packets", ..., "blocked_publishers", "drops": {...}},
 *      "alarms": [those raised on any worker]}}
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

#include "lepusctl_http.h"
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

/* Connect and say HELLO. 0 or -1 (reported). */
static int client_open(struct client *c)
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
	return 0;
}

/* The status exchange. 0 and *st filled, or -1 (reported). */
static int fetch_status(struct client *c, struct status *st)
{
	if (client_open(c) < 0)
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

/* The STATS columns that are counters of traffic (the gauges follow them). */
#define N_TRAFFIC (LP_CTL_STAT_TX_BYTES + 1)

static const struct {
	uint32_t bit;
	const char *name;
} alarm_names[] = {{LP_CTL_ALARM_MEMORY, "memory"}, {LP_CTL_ALARM_DISK, "disk"}};
#define N_ALARMS (sizeof(alarm_names) / sizeof(alarm_names[0]))

static json_t *json_alarms(uint64_t bits)
{
	json_t *a = json_array();

	for (unsigned i = 0; i < N_ALARMS; i++)
		if (bits & alarm_names[i].bit)
			json_array_append_new(a, json_string(alarm_names[i].name));
	return a;
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
	uint64_t tot[N_TRAFFIC] = { 0 };
	for (unsigned w = 0; w < r->n_workers; w++) {
		printf("  %6u", w);
		for (unsigned i = 0; i < N_TRAFFIC; i++) {
			printf(" %16" PRIu64, stat_of(st, w, i));
			tot[i] += stat_of(st, w, i);
		}
		printf("\n");
	}
	printf("  %6s", "total");
	for (unsigned i = 0; i < N_TRAFFIC; i++)
		printf(" %16" PRIu64, tot[i]);
	printf("\n");

	/* Alarms as RabbitMQ names them (rabbitmq-diagnostics alarms), with
	 * the workers that raised them. */
	uint64_t blocked = 0;
	bool alarm = false;
	for (unsigned a = 0; a < N_ALARMS; a++) {
		unsigned n = 0;
		for (unsigned w = 0; w < r->n_workers; w++) {
			if (!(stat_of(st, w, LP_CTL_STAT_ALARMS) & alarm_names[a].bit))
				continue;
			if (n++ == 0)
				printf("%s%s (worker %u", alarm ? ", " : "  alarms: ", alarm_names[a].name, w);
			else
				printf(", %u", w);
		}
		if (n > 0) {
			printf(")");
			alarm = true;
		}
	}
	for (unsigned w = 0; w < r->n_workers; w++)
		blocked += stat_of(st, w, LP_CTL_STAT_BLOCKED);
	if (alarm)
		printf("\n  blocked publishing connections: %" PRIu64 "\n", blocked);
	else
		printf("  alarms: none\n");

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
		static const char *const keys[N_TRAFFIC] = {
			"rx_packets", "rx_bytes", "tx_packets", "tx_bytes"
		};
		json_t *per = json_array();
		json_t *tot = json_object();
		json_t *tot_drops = json_object();
		uint64_t tsum[N_TRAFFIC] = { 0 }, any_alarm = 0, blocked = 0;
		for (unsigned w = 0; w < r->n_workers; w++) {
			json_t *wo = json_object();
			json_object_set_new(wo, "worker", json_integer(w));
			for (unsigned i = 0; i < N_TRAFFIC; i++) {
				json_object_set_new(wo, keys[i], json_u64(stat_of(st, w, i)));
				tsum[i] += stat_of(st, w, i);
			}
			json_object_set_new(wo, "alarms", json_alarms(stat_of(st, w, LP_CTL_STAT_ALARMS)));
			json_object_set_new(wo, "blocked_publishers",
					    json_u64(stat_of(st, w, LP_CTL_STAT_BLOCKED)));
			any_alarm |= stat_of(st, w, LP_CTL_STAT_ALARMS);
			blocked += stat_of(st, w, LP_CTL_STAT_BLOCKED);
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
		for (unsigned i = 0; i < N_TRAFFIC; i++)
			json_object_set_new(tot, keys[i], json_u64(tsum[i]));
		json_object_set_new(tot, "blocked_publishers", json_u64(blocked));
		json_object_set_new(dp, "alarms", json_alarms(any_alarm));
		json_object_set_new(tot, "drops", tot_drops);
		json_object_set_new(dp, "workers", per);
		json_object_set_new(dp, "totals", tot);
	}
	int rc = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	printf("\n");
	json_decref(root);
	return rc;
}

/* ---- definitions ------------------------------------------------------ */

static json_t *jname(const char *s)
{
	json_t *j = json_string(s);
	return j ? j : json_stringn(s, strlen(s)); /* not UTF-8: kept as given */
}

static const char *xtype_name(uint8_t t)
{
	static const char *const names[] = { "?", "direct", "fanout", "topic", "headers" };
	return t <= 4 ? names[t] : "?";
}

static json_t *tags_array(const char *tags)
{
	json_t *a = json_array();
	char buf[LP_CTL_NAME_MAX + 1];
	snprintf(buf, sizeof(buf), "%s", tags);
	for (char *save = NULL, *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
		json_array_append_new(a, jname(t));
	return a;
}

/* One received object as a JSON object. */
static json_t *object_json(const struct lp_ctl_msg *m)
{
	switch (m->type) {
	case LP_CTL_TOPO_VHOST:
		return json_pack("{s:o}", "name", jname(m->topo_vhost.name));
	case LP_CTL_USER:
		return json_pack("{s:o, s:o}", "user", jname(m->user.name), "tags",
				 tags_array(m->user.tags));
	case LP_CTL_PERMISSION: {
		const struct lp_ctl_permission *p = &m->permission;
		return json_pack("{s:o, s:o, s:o, s:o, s:o}", "user", jname(p->user), "vhost",
				 jname(p->vhost), "configure", jname(p->configure), "write",
				 jname(p->write), "read", jname(p->read));
	}
	case LP_CTL_TOPO_EXCHANGE: {
		const struct lp_ctl_topo_exchange *x = &m->topo_exchange;
		json_t *o = json_pack("{s:o, s:o, s:s, s:b, s:b, s:b, s:i}", "name", jname(x->name),
				      "vhost", jname(x->vhost), "type", xtype_name(x->type),
				      "durable", (x->flags & LP_CTL_X_DURABLE) != 0, "auto_delete",
				      (x->flags & LP_CTL_X_AUTO_DELETE) != 0, "internal",
				      (x->flags & LP_CTL_X_INTERNAL) != 0, "arguments_bytes",
				      (int)x->args_len);
		if (x->alternate[0])
			json_object_set_new(o, "alternate_exchange", jname(x->alternate));
		return o;
	}
	case LP_CTL_TOPO_QUEUE: {
		const struct lp_ctl_topo_queue *q = &m->topo_queue;
		return json_pack("{s:o, s:o, s:b, s:b, s:b, s:i, s:I, s:i}", "name", jname(q->name),
				 "vhost", jname(q->vhost), "durable", (q->flags & LP_CTL_Q_DURABLE) != 0,
				 "auto_delete", (q->flags & LP_CTL_Q_AUTO_DELETE) != 0, "exclusive",
				 (q->flags & LP_CTL_Q_EXCLUSIVE) != 0, "owner_shard",
				 (int)q->owner_shard, "owner_connection", (json_int_t)q->owner_conn,
				 "arguments_bytes", (int)q->args_len);
	}
	case LP_CTL_TOPO_BINDING: {
		const struct lp_ctl_topo_binding *b = &m->topo_binding;
		return json_pack("{s:o, s:s, s:o, s:s, s:o, s:o, s:i}", "source_name", jname(b->source),
				 "source_kind", "exchange", "destination_name", jname(b->destination),
				 "destination_kind",
				 b->dest_kind == LP_CTL_OBJ_QUEUE ? "queue" : "exchange",
				 "routing_key", jname(b->routing_key), "vhost", jname(b->vhost),
				 "arguments_bytes", (int)b->args_len);
	}
	default:
		return NULL;
	}
}

/* LIST_REQ: the objects of the answer's batch, as a JSON array. NULL on
 * failure (reported). */
static json_t *fetch_list(struct client *c, uint16_t what, const char *vhost)
{
	if (client_open(c) < 0)
		return NULL;
	memset(&c->msg, 0, sizeof(c->msg));
	c->msg.type = LP_CTL_LIST_REQ;
	c->msg.list_req.req_id = 1;
	c->msg.list_req.what = what;
	snprintf(c->msg.list_req.vhost, sizeof(c->msg.list_req.vhost), "%s", vhost);
	if (client_send(c) < 0 || client_expect(c, LP_CTL_TOPO_BEGIN) < 0)
		return NULL;
	json_t *arr = json_array();
	for (;;) {
		if (client_recv(c) < 0) {
			json_decref(arr);
			return NULL;
		}
		if (c->msg.type == LP_CTL_TOPO_END) {
			if (c->msg.topo_end.n_objects != json_array_size(arr)) {
				fail(c, "protocol error", "object count differs");
				json_decref(arr);
				return NULL;
			}
			return arr;
		}
		json_t *o = object_json(&c->msg);
		if (!o) {
			fail(c, "protocol error", lp_ctl_type_name(c->msg.type));
			json_decref(arr);
			return NULL;
		}
		json_array_append_new(arr, o);
	}
}

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

static const char *jbool(json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key)) ? "true" : "false";
}

static int run_list(struct client *c, const char *cmd, const char *vhost, bool json)
{
	static const struct {
		const char *cmd;
		uint16_t what;
		bool per_vhost;
		const char *title;
	} lists[] = {
		{ "list_vhosts", LP_CTL_LIST_VHOSTS, false, "vhosts" },
		{ "list_users", LP_CTL_LIST_USERS, false, "users" },
		{ "list_permissions", LP_CTL_LIST_PERMISSIONS, true, "permissions" },
		{ "list_exchanges", LP_CTL_LIST_EXCHANGES, true, "exchanges" },
		{ "list_queues", LP_CTL_LIST_QUEUES, true, "queues" },
		{ "list_bindings", LP_CTL_LIST_BINDINGS | LP_CTL_LIST_QUEUES, true, "bindings" },
	};
	size_t k = 0;
	while (strcmp(lists[k].cmd, cmd) != 0)
		k++;
	json_t *arr = fetch_list(c, lists[k].what, lists[k].per_vhost ? vhost : "");
	if (!arr)
		return 1;
	json_t *out = json_array();
	size_t i;
	json_t *o;
	if (strcmp(cmd, "list_bindings") == 0) {
		/* rabbitmqctl shows each queue's implicit binding from the default
		 * exchange (AMQP 0-9-1 spec 1.4.2.4.2 (sic: 3.1.3.1)). */
		json_array_foreach(arr, i, o)
			if (!json_object_get(o, "source_name"))
				json_array_append_new(out, json_pack("{s:s, s:s, s:O, s:s, s:O, s:O, s:i}",
					"source_name", "", "source_kind", "exchange", "destination_name",
					json_object_get(o, "name"), "destination_kind", "queue",
					"routing_key", json_object_get(o, "name"), "vhost",
					json_object_get(o, "vhost"), "arguments_bytes", 0));
		json_array_foreach(arr, i, o)
			if (json_object_get(o, "source_name"))
				json_array_append(out, o);
	} else {
		json_array_foreach(arr, i, o)
			json_array_append(out, o);
	}
	json_decref(arr);
	if (json) {
		json_array_foreach(out, i, o) {
			json_object_del(o, "arguments_bytes");
			if (strcmp(cmd, "list_bindings") == 0 || strcmp(cmd, "list_permissions") == 0)
				json_object_del(o, "vhost");
		}
		json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("\n");
		json_decref(out);
		return 0;
	}
	if (lists[k].per_vhost)
		printf("Listing %s for vhost %s ...\n", lists[k].title, vhost);
	else
		printf("Listing %s ...\n", lists[k].title);
	if (strcmp(cmd, "list_vhosts") == 0) {
		printf("name\n");
		json_array_foreach(out, i, o)
			printf("%s\n", jstr(o, "name"));
	} else if (strcmp(cmd, "list_users") == 0) {
		printf("user\ttags\n");
		json_array_foreach(out, i, o) {
			printf("%s\t[", jstr(o, "user"));
			size_t t;
			json_t *tag;
			json_array_foreach(json_object_get(o, "tags"), t, tag)
				printf("%s%s", t ? ", " : "", json_string_value(tag));
			printf("]\n");
		}
	} else if (strcmp(cmd, "list_permissions") == 0) {
		printf("user\tconfigure\twrite\tread\n");
		json_array_foreach(out, i, o)
			printf("%s\t%s\t%s\t%s\n", jstr(o, "user"), jstr(o, "configure"),
			       jstr(o, "write"), jstr(o, "read"));
	} else if (strcmp(cmd, "list_exchanges") == 0) {
		printf("name\ttype\n");
		json_array_foreach(out, i, o)
			printf("%s\t%s\n", jstr(o, "name"), jstr(o, "type"));
	} else if (strcmp(cmd, "list_queues") == 0) {
		printf("name\tdurable\tauto_delete\texclusive\towner_shard\n");
		json_array_foreach(out, i, o)
			printf("%s\t%s\t%s\t%s\t%d\n", jstr(o, "name"), jbool(o, "durable"),
			       jbool(o, "auto_delete"), jbool(o, "exclusive"),
			       (int)json_integer_value(json_object_get(o, "owner_shard")));
	} else {
		printf("source_name\tsource_kind\tdestination_name\tdestination_kind\t"
		       "routing_key\targuments\n");
		json_array_foreach(out, i, o)
			printf("%s\t%s\t%s\t%s\t%s\t[%s]\n", jstr(o, "source_name"),
			       jstr(o, "source_kind"), jstr(o, "destination_name"),
			       jstr(o, "destination_kind"), jstr(o, "routing_key"),
			       json_integer_value(json_object_get(o, "arguments_bytes")) ? "..." : "");
	}
	json_decref(out);
	return 0;
}

/* ADMIN_REQ. Exit status: 0 done, 1 refused or unreachable. */
static int run_admin(struct client *c, const struct lp_ctl_admin_req *req, const char *banner,
		     const char *done)
{
	printf("%s\n", banner);
	fflush(stdout);
	if (client_open(c) < 0)
		return 1;
	memset(&c->msg, 0, sizeof(c->msg));
	c->msg.type = LP_CTL_ADMIN_REQ;
	c->msg.admin_req = *req;
	c->msg.admin_req.req_id = 1;
	int rc = client_send(c);
	explicit_bzero(&c->msg, sizeof(c->msg));
	if (rc < 0 || client_expect(c, LP_CTL_RESULT) < 0)
		return 1;
	if (c->msg.result.reply_code) {
		fprintf(stderr, "Error:\n%s\n", c->msg.result.text);
		return 1;
	}
	if (done)
		printf("%s\n", done);
	return 0;
}

/* Copy src into a name field; false (reported) when too long. */
static bool set_field(char dst[LP_CTL_NAME_MAX + 1], const char *src, const char *what)
{
	if (strlen(src) > LP_CTL_NAME_MAX) {
		fprintf(stderr, "lepusctl: %s longer than %d bytes\n", what, LP_CTL_NAME_MAX);
		return false;
	}
	strcpy(dst, src);
	return true;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: lepusctl [--socket PATH] [--json] [-p VHOST] COMMAND [ARGS]\n"
		"  --socket PATH  lepus-control socket (default " LP_CTL_DEFAULT_SOCKET ")\n"
		"  --json         print JSON (status and list_* commands)\n"
		"  -p VHOST       vhost for list_*, set_permissions, clear_permissions (default /)\n"
		"commands:\n"
		"  status         control and dataplane state, per-worker counters, drops\n"
		"  list_vhosts | list_users | list_permissions | list_exchanges | list_queues |\n"
		"  list_bindings\n"
		"  add_user NAME PASSWORD | delete_user NAME | change_password NAME PASSWORD\n"
		"  set_user_tags NAME [TAG...] | add_vhost NAME | delete_vhost NAME\n"
		"  set_permissions USER CONF WRITE READ | clear_permissions USER\n"
		"through the management HTTP API (--http ADDR:PORT, default 127.0.0.1:15672;\n"
		"--user/--password or LEPUS_USER/LEPUS_PASSWORD, default guest/guest):\n"
		"  set_policy [--priority N] [--apply-to queues|exchanges|all] NAME PATTERN DEFINITION\n"
		"  clear_policy NAME | list_policies\n"
		"  set_operator_policy [--priority N] [--apply-to ...] NAME PATTERN DEFINITION\n"
		"  clear_operator_policy NAME | list_operator_policies\n"
		"  export_definitions FILE|- | import_definitions FILE|-\n"
		"  --formatter json  the same as --json\n"
		"exit status: 0 done, 1 unreachable, refused or bad answer, 2 usage\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "vhost", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ "formatter", required_argument, NULL, 'f' },
		{ "http", required_argument, NULL, 'H' },
		{ "user", required_argument, NULL, 'u' },
		{ "password", required_argument, NULL, 'P' },
		{ "priority", required_argument, NULL, 'n' },
		{ "apply-to", required_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	struct lp_cli_http http = {
		.addr = "127.0.0.1:15672",
		.user = getenv("LEPUS_USER") ? getenv("LEPUS_USER") : "guest",
		.password = getenv("LEPUS_PASSWORD") ? getenv("LEPUS_PASSWORD") : "guest",
	};
	static struct client c; /* 64 KiB buffer: not on the stack */
	c.path = LP_CTL_DEFAULT_SOCKET;
	c.fd = -1;
	bool json = false;
	const char *vhost = "/";
	int opt;

	/* Options may come before or after the command (getopt permutes). */
	while ((opt = getopt_long(argc, argv, "s:jp:h", opts, NULL)) != -1) {
		switch (opt) {
		case 's': c.path = optarg; break;
		case 'j': json = true; break;
		case 'p': vhost = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'f':
			if (strcmp(optarg, "json") != 0 && strcmp(optarg, "table") != 0) {
				fprintf(stderr, "lepusctl: --formatter json or table\n");
				return 2;
			}
			json = strcmp(optarg, "json") == 0;
			break;
		case 'H': http.addr = optarg; break;
		case 'u': http.user = optarg; break;
		case 'P': http.password = optarg; break;
		case 'n': http.priority = optarg; break;
		case 'a': http.apply_to = optarg; break;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[optind];
	char **args = argv + optind + 1;
	int nargs = argc - optind - 1;
	c.deadline_ns = now_ns() + DEADLINE_NS;
	if (lp_cli_http_command(cmd)) {
		http.vhost = vhost;
		http.json = json;
		int rc = lp_cli_http_run(&http, cmd, args, nargs);
		if (rc == 2)
			usage(stderr);
		return rc;
	}
	if (strncmp(cmd, "list_", 5) == 0) {
		static const char *const known[] = { "list_vhosts", "list_users", "list_permissions",
						     "list_exchanges", "list_queues", "list_bindings" };
		bool ok = nargs == 0;
		bool found = false;
		for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
			found |= strcmp(cmd, known[k]) == 0;
		if (!ok || !found || strlen(vhost) > LP_CTL_NAME_MAX) {
			usage(stderr);
			return 2;
		}
		int rc = run_list(&c, cmd, vhost, json);
		if (c.fd >= 0)
			close(c.fd);
		return rc;
	}
	if (strcmp(cmd, "status") != 0) {
		static struct lp_ctl_admin_req req;
		char banner[1200], done[256] = "";
		bool ok = true;
		int want = -1;
		if (strcmp(cmd, "add_user") == 0) {
			req.op = LP_CTL_ADMIN_ADD_USER;
			want = 2;
		} else if (strcmp(cmd, "delete_user") == 0) {
			req.op = LP_CTL_ADMIN_DELETE_USER;
			want = 1;
		} else if (strcmp(cmd, "change_password") == 0) {
			req.op = LP_CTL_ADMIN_CHANGE_PASSWORD;
			want = 2;
		} else if (strcmp(cmd, "set_user_tags") == 0) {
			req.op = LP_CTL_ADMIN_SET_USER_TAGS;
			want = nargs >= 1 ? nargs : 1;
		} else if (strcmp(cmd, "add_vhost") == 0) {
			req.op = LP_CTL_ADMIN_ADD_VHOST;
			want = 1;
		} else if (strcmp(cmd, "delete_vhost") == 0) {
			req.op = LP_CTL_ADMIN_DELETE_VHOST;
			want = 1;
		} else if (strcmp(cmd, "set_permissions") == 0) {
			req.op = LP_CTL_ADMIN_SET_PERMISSIONS;
			want = 4;
		} else if (strcmp(cmd, "clear_permissions") == 0) {
			req.op = LP_CTL_ADMIN_CLEAR_PERMISSIONS;
			want = 1;
		}
		if (want < 0 || nargs != want) {
			usage(stderr);
			return 2;
		}
		switch (req.op) {
		case LP_CTL_ADMIN_ADD_USER:
		case LP_CTL_ADMIN_CHANGE_PASSWORD:
			ok = set_field(req.name, args[0], "user name") &&
			     set_field(req.password, args[1], "password");
			snprintf(banner, sizeof(banner), req.op == LP_CTL_ADMIN_ADD_USER
				 ? "Adding user \"%s\" ..." : "Changing password for user \"%s\" ...",
				 req.name);
			if (req.op == LP_CTL_ADMIN_ADD_USER)
				snprintf(done, sizeof(done), "Done. Don't forget to grant the user "
					 "permissions to some virtual hosts! See 'lepusctl help "
					 "set_permissions' to learn more.");
			break;
		case LP_CTL_ADMIN_DELETE_USER:
			ok = set_field(req.name, args[0], "user name");
			snprintf(banner, sizeof(banner), "Deleting user \"%s\" ...", req.name);
			break;
		case LP_CTL_ADMIN_SET_USER_TAGS: {
			ok = set_field(req.name, args[0], "user name");
			size_t used = 0;
			for (int i = 1; i < nargs && ok; i++) {
				int n = snprintf(req.tags + used, sizeof(req.tags) - used, "%s%s",
						 i > 1 ? "," : "", args[i]);
				ok = n >= 0 && (size_t)n < sizeof(req.tags) - used;
				used += ok ? (size_t)n : 0;
			}
			snprintf(banner, sizeof(banner), "Setting tags for user \"%s\" to [%s] ...",
				 req.name, req.tags);
			break;
		}
		case LP_CTL_ADMIN_ADD_VHOST:
		case LP_CTL_ADMIN_DELETE_VHOST:
			ok = set_field(req.vhost, args[0], "vhost name");
			snprintf(banner, sizeof(banner), "%s vhost \"%s\" ...",
				 req.op == LP_CTL_ADMIN_ADD_VHOST ? "Adding" : "Deleting", req.vhost);
			break;
		case LP_CTL_ADMIN_SET_PERMISSIONS:
			ok = set_field(req.name, args[0], "user name") &&
			     set_field(req.vhost, vhost, "vhost name") &&
			     set_field(req.configure, args[1], "configure pattern") &&
			     set_field(req.write, args[2], "write pattern") &&
			     set_field(req.read, args[3], "read pattern");
			snprintf(banner, sizeof(banner),
				 "Setting permissions for user \"%s\" in vhost \"%s\" ...", req.name,
				 req.vhost);
			break;
		case LP_CTL_ADMIN_CLEAR_PERMISSIONS:
			ok = set_field(req.name, args[0], "user name") &&
			     set_field(req.vhost, vhost, "vhost name");
			snprintf(banner, sizeof(banner),
				 "Clearing permissions for user \"%s\" in vhost \"%s\" ...", req.name,
				 req.vhost);
			break;
		}
		if (!ok)
			return 2;
		int rc = run_admin(&c, &req, banner, done[0] ? done : NULL);
		explicit_bzero(&req, sizeof(req));
		if (c.fd >= 0)
			close(c.fd);
		return rc;
	}
	if (nargs != 0) {
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
