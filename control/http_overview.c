/* SPDX-License-Identifier: MIT */
/*
 * The node-wide resources of the management API: /api/overview,
 * /api/whoami, /api/nodes[/NAME], /api/extensions, /api/aliveness-test/V
 * and /api/health/checks/{alarms,local-alarms,virtual-hosts}. Lepus is one
 * node (lepus@HOST): lepus-control and its dataplane. Message rates and
 * live counts wait for the dataplane's statistics (issue 15), so
 * message_stats is empty and the queue totals are 0.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "http_auth.h"
#include "http_int.h"

#ifndef LP_VERSION
#define LP_VERSION "unknown"
#endif

static json_t *exchange_types(void)
{
	static const char *const types[][2] = {
		{ "direct", "AMQP direct exchange, as per the AMQP specification" },
		{ "fanout", "AMQP fanout exchange, as per the AMQP specification" },
		{ "headers", "AMQP headers exchange, as per the AMQP specification" },
		{ "topic", "AMQP topic exchange, as per the AMQP specification" },
	};
	json_t *a = json_array();
	for (size_t i = 0; a && i < 4; i++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:b}", "name", types[i][0],
						   "description", types[i][1], "enabled", 1));
	return a;
}

static json_t *listeners(struct lp_http *h)
{
	json_t *a = json_array();
	struct lp_ctl_hello dp;
	if (lp_ctl_server_dataplane(h->srv, &dp)) {
		char ip[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, dp.ip, ip, sizeof(ip));
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:i, s:{}}", "node", h->node,
						   "protocol", "amqp", "ip_address", ip, "port",
						   5672, "socket_opts"));
	}
	json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:i, s:{}}", "node", h->node,
					   "protocol", "http", "ip_address", h->listen_ip,
					   "port", (int)h->listen_port, "socket_opts"));
	return a;
}

static json_t *contexts(struct lp_http *h)
{
	char port[16];
	snprintf(port, sizeof(port), "%u", h->listen_port);
	return json_pack("[{s:[], s:s, s:s, s:s, s:s, s:s}]", "ssl_opts", "node", h->node,
			 "description", "Lepus Management", "path", "/", "ip", h->listen_ip,
			 "port", port);
}

static void on_overview(struct lp_http_req *r)
{
	struct lp_http *h = r->h;
	json_int_t nx = 0, nq = 0;
	for (const struct lp_def_exchange *x = lp_defs_exchanges(r->defs); x; x = x->next)
		nx += lp_http_vhost_visible(r->defs, r->user, x->vhost);
	for (const struct lp_def_queue *q = lp_defs_queues(r->defs); q; q = q->next)
		nq += lp_http_vhost_visible(r->defs, r->user, q->vhost);
	json_t *o = json_pack(
		"{s:s, s:s, s:{s:[iiii], s:[ii], s:[i]}, s:o, s:s, s:s, s:s, s:s, s:s, s:s,"
		" s:b, s:b, s:{}, s:{}, s:{s:i, s:i, s:i},"
		" s:{s:i, s:i, s:i, s:I, s:I}, s:i, s:s, s:o, s:o}",
		"management_version", LP_HTTP_RABBITMQ_VERSION,
		"rates_mode", "basic",
		"sample_retention_policies", "global", 600, 3600, 28800, 86400,
		"basic", 600, 3600, "detailed", 600,
		"exchange_types", exchange_types(),
		"product_version", LP_VERSION,
		"product_name", "Lepus",
		"rabbitmq_version", LP_HTTP_RABBITMQ_VERSION,
		"cluster_name", h->node,
		"erlang_version", "n/a",
		"erlang_full_version", "n/a (Lepus is written in C)",
		"disable_stats", 0,
		"enable_queue_totals", 0,
		"message_stats",
		"churn_rates",
		"queue_totals", "messages", 0, "messages_ready", 0, "messages_unacknowledged", 0,
		"object_totals", "channels", 0, "connections", 0, "consumers", 0,
		"exchanges", nx, "queues", nq,
		"statistics_db_event_queue", 0,
		"node", h->node,
		"listeners", listeners(h),
		"contexts", contexts(h));
	lp_http_reply_json(r, 200, o);
}

static void on_whoami(struct lp_http_req *r)
{
	lp_http_reply_json(r, 200, json_pack("{s:s, s:o}", "name", r->user->name, "tags",
					     lp_http_tags_json(r->user->tags)));
}

static json_int_t count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	json_int_t n = 0;
	if (!d)
		return 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n > 3 ? n - 3 : 0; /* ".", ".." and the DIR's own */
}

static json_t *node_json(struct lp_http *h)
{
	long page = sysconf(_SC_PAGESIZE), pages = sysconf(_SC_PHYS_PAGES);
	unsigned long size = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%lu %lu", &size, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	struct statvfs vfs;
	json_int_t disk_free = statvfs("/", &vfs) == 0 ? (json_int_t)vfs.f_bavail * (json_int_t)vfs.f_frsize : 0;
	struct rlimit rl;
	json_int_t fd_total = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (json_int_t)rl.rlim_cur : 0;
	char pid[16];
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	/* RabbitMQ's defaults: vm_memory_high_watermark 0.4, disk_free_limit 50 MB */
	return json_pack(
		"{s:s, s:s, s:b, s:s, s:I, s:i, s:I, s:I, s:b, s:I, s:I, s:b, s:I, s:I,"
		" s:[], s:o, s:[s,s], s:[], s:[], s:[], s:[], s:[s], s:b, s:i, s:s}",
		"name", h->node, "type", "disc", "running", 1, "os_pid", pid,
		"uptime", (json_int_t)(lp_ctl_server_uptime_ns(h->srv) / 1000000),
		"processors", (int)sysconf(_SC_NPROCESSORS_ONLN),
		"mem_used", (json_int_t)rss * page,
		"mem_limit", (json_int_t)((double)pages * (double)page * 0.4),
		"mem_alarm", (lp_ctl_server_alarms(h->srv) & LP_CTL_ALARM_MEMORY) != 0,
		"disk_free_limit", (json_int_t)50000000, "disk_free", disk_free,
		"disk_free_alarm", (lp_ctl_server_alarms(h->srv) & LP_CTL_ALARM_DISK) != 0,
		"fd_used", count_fds(), "fd_total", fd_total,
		"partitions", "exchange_types", exchange_types(),
		"auth_mechanisms", "PLAIN", "AMQPLAIN",
		"applications", "contexts", "log_files", "config_files",
		"enabled_plugins", "rabbitmq_management",
		"being_drained", 0, "net_ticktime", 60, "rates_mode", "basic");
}

static void on_nodes(struct lp_http_req *r)
{
	static const char *const sort[] = { "name", NULL };
	lp_http_reply_list(r, json_pack("[o]", node_json(r->h)), sort);
}

static void on_node(struct lp_http_req *r)
{
	if (strcmp(r->t.seg[2], r->h->node) != 0) {
		lp_http_not_found(r);
		return;
	}
	lp_http_reply_json(r, 200, node_json(r->h));
}

static void on_extensions(struct lp_http_req *r)
{
	lp_http_reply_json(r, 200, json_array());
}

/* rabbit_mgmt_wm_aliveness_test: declare the queue "aliveness-test", publish
 * to it and get the message back. Lepus declares it through the definitions
 * (so the dataplane has it); the publish and get need the dataplane's
 * message path from lepus-control, which does not exist yet: without a
 * dataplane the test fails. */
static void on_aliveness(struct lp_http_req *r)
{
	const char *vhost = r->t.seg[2];
	if (!lp_http_vhost_exists(r, vhost))
		return;
	if (!lp_ctl_server_dataplane(r->h->srv, NULL)) {
		lp_http_reply_json(r, 503, json_pack("{s:s, s:s}", "status", "failed", "reason",
						     "no dataplane is connected"));
		return;
	}
	struct lp_ctl_def_req req;
	memset(&req, 0, sizeof(req));
	req.conn_id = LP_HTTP_CONN_ID;
	req.object = LP_CTL_OBJ_QUEUE;
	snprintf(req.vhost, sizeof(req.vhost), "%s", vhost);
	snprintf(req.user, sizeof(req.user), "%s", r->user_name);
	snprintf(req.name, sizeof(req.name), "aliveness-test");
	struct lp_def_reply d;
	lp_ctl_server_change_begin(r->h->srv);
	lp_defs_request(r->defs, LP_CTL_DECLARE, &req, &d);
	lp_ctl_server_change_end(r->h->srv);
	if (d.code) {
		lp_http_reply_json(r, 503, json_pack("{s:s, s:s}", "status", "failed", "reason",
						     d.text));
		return;
	}
	lp_http_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

static void on_health_ok(struct lp_http_req *r)
{
	lp_http_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

/* RabbitMQ's alarms health check: 200 ok, or 503 naming each resource in
 * alarm (the dataplane's memory and disk alarms, lepusctl status's). */
static void on_health_alarms(struct lp_http_req *r)
{
	uint32_t a = lp_ctl_server_alarms(r->h->srv);

	if (a == 0) {
		on_health_ok(r);
		return;
	}
	json_t *list = json_array();

	if (a & LP_CTL_ALARM_MEMORY)
		json_array_append_new(list, json_pack("{s:s, s:s}", "node", r->h->node, "resource", "memory"));
	if (a & LP_CTL_ALARM_DISK)
		json_array_append_new(list, json_pack("{s:s, s:s}", "node", r->h->node, "resource", "disk"));
	/* One node: the same alarms, each check with RabbitMQ's reason. */
	bool local = strstr(r->t.seg[3], "local") != NULL;

	lp_http_reply_json(r, 503, json_pack("{s:s, s:s, s:o}", "status", "failed", "reason",
					     local ? "There are alarms in effect on the node"
						   : "There are alarms in effect in the cluster",
					     "alarms", list));
}

const struct lp_http_route lp_http_overview_routes[] = {
	{ LP_HTTP_GET, "api/overview", LP_HTTP_AUTH_MGMT, 0, on_overview },
	{ LP_HTTP_GET, "api/whoami", LP_HTTP_AUTH_MGMT, 0, on_whoami },
	{ LP_HTTP_GET, "api/nodes", LP_HTTP_AUTH_MONITOR, 0, on_nodes },
	{ LP_HTTP_GET, "api/nodes/*", LP_HTTP_AUTH_MONITOR, 0, on_node },
	{ LP_HTTP_GET, "api/extensions", LP_HTTP_AUTH_MGMT, 0, on_extensions },
	{ LP_HTTP_GET, "api/aliveness-test/*", LP_HTTP_AUTH_VHOST, 2, on_aliveness },
	{ LP_HTTP_GET, "api/health/checks/alarms", LP_HTTP_AUTH_MGMT, 0, on_health_alarms },
	{ LP_HTTP_GET, "api/health/checks/local-alarms", LP_HTTP_AUTH_MGMT, 0, on_health_alarms },
	{ LP_HTTP_GET, "api/health/checks/virtual-hosts", LP_HTTP_AUTH_MGMT, 0, on_health_ok },
	{ 0 },
};
