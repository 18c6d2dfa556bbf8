/* SPDX-License-Identifier: MIT */
/*
 * lepus-control: the control-plane process. Parses options, writes the
 * pidfile, and runs the control-protocol server (ctl_server.c) in the
 * foreground until SIGINT or SIGTERM, then removes its socket and pidfile.
 * No DPDK. The dataplane keeps running whether or not this process does.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl_log.h"
#include "ctl_server.h"
#include "lp_ctl.h"

#ifndef LP_VERSION
#define LP_VERSION "unknown"
#endif

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: lepus-control [--socket PATH] [--pidfile PATH] [--foreground] [--verbose]\n"
		"  --socket PATH   control socket (default " LP_CTL_DEFAULT_SOCKET ")\n"
		"  --pidfile PATH  write our pid there, removed on exit\n"
		"  --foreground    stay in the foreground (the default and only mode)\n"
		"  --verbose       log debug lines (connections, ignored messages)\n"
		"  --version       print the version and exit\n");
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
		{ "foreground", no_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *socket_path = LP_CTL_DEFAULT_SOCKET;
	const char *pidfile = NULL;
	bool verbose = false;
	int c;

	while ((c = getopt_long(argc, argv, "s:p:fvVh", opts, NULL)) != -1) {
		switch (c) {
		case 's': socket_path = optarg; break;
		case 'p': pidfile = optarg; break;
		case 'f': break;
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

	struct lp_ctl_server *srv = lp_ctl_server_create(socket_path);
	if (!srv) {
		lp_log(LP_LOG_ERR, "cannot listen on %s: %s%s", socket_path, strerror(errno),
		       errno == EADDRINUSE ? " (another lepus-control is running)" : "");
		return 1;
	}
	if (pidfile) {
		int rc = write_pidfile(pidfile);
		if (rc < 0) {
			lp_log(LP_LOG_ERR, "cannot write pidfile %s: %s", pidfile, strerror(-rc));
			lp_ctl_server_destroy(srv);
			return 1;
		}
	}
	lp_log(LP_LOG_INFO, "lepus-control %s started, pid %ld", LP_VERSION, (long)getpid());

	int rc = lp_ctl_server_run(srv, &stop_requested, &wait_mask);
	lp_ctl_server_destroy(srv);
	if (pidfile)
		unlink(pidfile);
	lp_log(LP_LOG_INFO, "stopped%s", rc < 0 ? " after an error" : "");
	return rc < 0 ? 1 : 0;
}
