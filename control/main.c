/* SPDX-License-Identifier: MIT */
/*
 * lepus-control: the control-plane process. Parses options, opens the
 * definitions store (--data-dir, store.c) and restores the definitions from
 * it (creating RabbitMQ's defaults, vhost "/" and guest/guest, at the very
 * first start), writes the pidfile, and runs the control-protocol server
 * (ctl_server.c) in the foreground until SIGINT or SIGTERM, then removes its
 * socket and pidfile. The management HTTP API (http_server.c) joins the
 * server's loop on --http ADDR:PORT (default 127.0.0.1:15672, RabbitMQ's
 * port, on loopback until the appliance has a management address). No DPDK. The dataplane keeps running whether or not
 * this process does.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "ctl_log.h"
#include "ctl_server.h"
#include "definitions.h"
#include "http_server.h"
#include "lp_ctl.h"
#include "store.h"

#ifndef LP_VERSION
#define LP_VERSION "unknown"
#endif

#define DEFAULT_DATA_DIR "/var/lib/lepus"
#define DEFAULT_HTTP "127.0.0.1:15672"

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: lepus-control [--socket PATH] [--data-dir DIR] [--pidfile PATH] [--foreground]\n"
		"                     [--http ADDR:PORT|off] [--verbose]\n"
		"  --socket PATH   control socket (default " LP_CTL_DEFAULT_SOCKET ")\n"
		"  --data-dir DIR  durable definitions (DIR/definitions.db, default " DEFAULT_DATA_DIR ")\n"
		"  --pidfile PATH  write our pid there, removed on exit\n"
		"  --http ADDR:PORT  management HTTP API (default " DEFAULT_HTTP "; off: none)\n"
		"  --foreground    stay in the foreground (the default and only mode)\n"
		"  --verbose       log debug lines (connections, ignored messages)\n"
		"  --version       print the version and exit\n");
}

/* RabbitMQ's global parameter internal_cluster_id, made once and kept. */
static void add_cluster_id(struct lp_ctl_server *srv, struct lp_params *params)
{
	if (lp_params_find(params, LP_PARAM_GLOBAL, "", "internal_cluster_id"))
		return;
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	uint8_t rnd[22];
	char id[64] = "rabbitmq-cluster-id-";
	size_t n = strlen(id);
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return;
	for (size_t i = 0; i < sizeof(rnd); i++)
		id[n++] = b64[rnd[i] & 63];
	id[n] = '\0';
	json_t *v = json_string(id);
	char err[128];
	lp_ctl_server_change_begin(srv);
	lp_params_set(params, LP_PARAM_GLOBAL, "", "internal_cluster_id", v, err, sizeof(err));
	lp_ctl_server_change_end(srv);
	json_decref(v);
}

/* Definitions sink writing to the store (first start, before the server
 * takes over the sink). */
static void store_sink(void *arg, uint8_t op, enum lp_def_kind kind, const void *obj)
{
	lp_store_change(arg, op, kind, obj);
}

/* Write our pid to path. 0 or -errno. */
static int write_pidfile(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	char line[32];
	int n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	ssize_t w = write(fd, line, (size_t)n);
	int err = w == n ? 0 : (w < 0 ? -errno : -EIO);
	if (close(fd) < 0 && err == 0)
		err = -errno;
	return err;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "http", required_argument, NULL, 'H' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *socket_path = LP_CTL_DEFAULT_SOCKET;
	const char *pidfile = NULL;
	const char *data_dir = DEFAULT_DATA_DIR;
	const char *http_addr = DEFAULT_HTTP;
	bool http_given = false;
	bool verbose = false;
	int c;

	while ((c = getopt_long(argc, argv, "s:p:d:fH:vVh", opts, NULL)) != -1) {
		switch (c) {
		case 's': socket_path = optarg; break;
		case 'p': pidfile = optarg; break;
		case 'd': data_dir = optarg; break;
		case 'f': break;
		case 'H': http_addr = optarg; http_given = true; break;
		case 'v': verbose = true; break;
		case 'V': printf("lepus-control %s (protocol %d)\n", LP_VERSION, LP_CTL_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	lp_log_init("lepus-control", verbose);

	/* Stop signals stay blocked except while the loop waits in ppoll(). */
	sigset_t block, wait_mask;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &wait_mask);
	sigdelset(&wait_mask, SIGINT);
	sigdelset(&wait_mask, SIGTERM);
	struct sigaction sa = { .sa_handler = on_stop_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	char err[512];
	struct lp_store *store = lp_store_open(data_dir, err, sizeof(err));
	if (!store) {
		lp_log(LP_LOG_ERR, "cannot open the definitions store: %s", err);
		return 1;
	}
	struct lp_defs *defs = lp_defs_create();
	int lrc = defs ? lp_store_load(store, defs) : -ENOMEM;
	if (lrc < 0) {
		lp_log(LP_LOG_ERR, "cannot restore the definitions from %s: %s", data_dir,
		       lrc == -ENOMEM ? "out of memory" : lp_store_error(store));
		lp_defs_destroy(defs);
		lp_store_close(store);
		return 1;
	}
	if (!lp_store_initialized(store)) {
		/* First start: RabbitMQ's defaults, persisted in one transaction. */
		struct lp_def_sink sink = {
			.change = store_sink,
			.arg = store,
		};
		lp_defs_set_sink(defs, &sink);
		int drc = lp_store_begin(store);
		if (drc == 0)
			drc = lp_defs_add_defaults(defs);
		if (drc == 0)
			drc = lp_store_mark_initialized(store);
		if (drc == 0)
			drc = lp_store_commit(store);
		else
			lp_store_rollback(store);
		lp_defs_set_sink(defs, NULL);
		if (drc < 0) {
			lp_log(LP_LOG_ERR, "cannot create the default definitions: %s",
			       lp_store_error(store));
			lp_defs_destroy(defs);
			lp_store_close(store);
			return 1;
		}
		lp_log(LP_LOG_INFO, "first start: created vhost '/' and user 'guest' in %s", data_dir);
	}
	struct lp_params *params = lp_params_create();
	lrc = params ? lp_store_params_load(store, params) : -ENOMEM;
	if (lrc < 0) {
		lp_log(LP_LOG_ERR, "cannot restore the parameters from %s: %s", data_dir,
		       lrc == -ENOMEM ? "out of memory" : lp_store_error(store));
		lp_params_destroy(params);
		lp_defs_destroy(defs);
		lp_store_close(store);
		return 1;
	}
	lp_log(LP_LOG_INFO, "definitions from %s: %u vhost(s), %u user(s), %u exchange(s), "
	       "%u queue(s), %u binding(s)", data_dir, lp_defs_count(defs, LP_DEF_VHOST),
	       lp_defs_count(defs, LP_DEF_USER), lp_defs_count(defs, LP_DEF_EXCHANGE),
	       lp_defs_count(defs, LP_DEF_QUEUE), lp_defs_count(defs, LP_DEF_BINDING));

	struct lp_ctl_server *srv = lp_ctl_server_create(socket_path);
	if (!srv) {
		lp_log(LP_LOG_ERR, "cannot listen on %s: %s%s", socket_path, strerror(errno),
		       errno == EADDRINUSE ? " (another lepus-control is running)" : "");
		lp_defs_destroy(defs);
		lp_params_destroy(params);
		lp_store_close(store);
		return 1;
	}
	lp_ctl_server_set_definitions(srv, defs, store);
	lp_ctl_server_set_params(srv, params);
	add_cluster_id(srv, params);
	struct lp_http *http = NULL;
	if (strcmp(http_addr, "off") != 0) {
		http = lp_http_create(srv, http_addr);
		/* An explicit --http must work; the default port may be taken (a
		 * RabbitMQ, another lepus-control): then run without the API. */
		if (!http) {
			lp_log(http_given ? LP_LOG_ERR : LP_LOG_WARN,
			       "cannot serve the management API on %s: %s%s", http_addr,
			       strerror(errno), http_given ? "" : " (continuing without it)");
			if (http_given) {
				lp_ctl_server_destroy(srv);
				lp_defs_destroy(defs);
				lp_params_destroy(params);
				lp_store_close(store);
				return 1;
			}
		}
	}
	if (pidfile) {
		int rc = write_pidfile(pidfile);
		if (rc < 0) {
			lp_log(LP_LOG_ERR, "cannot write pidfile %s: %s", pidfile, strerror(-rc));
			lp_http_destroy(http);
			lp_ctl_server_destroy(srv);
			lp_defs_destroy(defs);
			lp_params_destroy(params);
			lp_store_close(store);
			return 1;
		}
	}
	lp_log(LP_LOG_INFO, "lepus-control %s started, pid %ld", LP_VERSION, (long)getpid());

	int rc = lp_ctl_server_run(srv, &stop_requested, &wait_mask);
	lp_http_destroy(http);
	lp_ctl_server_destroy(srv);
	lp_defs_destroy(defs);
	lp_params_destroy(params);
	lp_store_close(store);
	if (pidfile)
		unlink(pidfile);
	lp_log(LP_LOG_INFO, "stopped%s", rc < 0 ? " after an error" : "");
	return rc < 0 ? 1 : 0;
}
