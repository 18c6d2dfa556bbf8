/* SPDX-License-Identifier: MIT */
/*
 * The dataplane's control link (dataplane/ctl_link.c) against the real
 * lepus-control and lepusctl executables, whose paths meson passes in
 * LP_TEST_CONTROL and LP_TEST_CTL. The link is fed fake worker counters
 * (ordinary struct lp_net_stats filled with known numbers); the tests read
 * them back through `lepusctl status --json`, kill lepus-control with SIGKILL
 * and check the link notices, keeps returning at once and reconnects to a
 * restarted lepus-control, then check the protocol's refusals (version
 * mismatch, second dataplane, garbage, messages the sender's role may not
 * send) and a clean SIGTERM shutdown.
 * The tests run in order and share one fixture; the teardown kills only the
 * lepus-control pid it started and removes its temporary directory.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "ctl_link.h"
#include "drop.h"
#include "lp_ctl.h"

#define MS 1000000ull
#define N_WORKERS 2
#define FAKE_PID 4321

struct fixture {
	const char *control_exe;
	const char *ctl_exe;
	char dir[64];
	char sock[128];
	char pidfile[128];
	char log[128];
	pid_t control;
	struct lp_net_stats ws[N_WORKERS];
	const struct lp_net_stats *wsp[N_WORKERS];
	struct lp_ctl_link *link;
	char link_log[8192]; /* lines the link logged, '\n' separated */
	unsigned link_log_lines;
	uint64_t max_poll_ns;
	unsigned slow_polls; /* polls that took >= 1 ms */
	unsigned polls;
};

static struct fixture fx;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void link_logger(const char *line)
{
	size_t used = strlen(fx.link_log);
	snprintf(fx.link_log + used, sizeof(fx.link_log) - used, "%s\n", line);
	fx.link_log_lines++;
}

/* One timed lp_ctl_link_poll(). */
static void poll_link(void)
{
	if (!fx.link)
		return;
	uint64_t t0 = now_ns();
	lp_ctl_link_poll(fx.link, t0);
	uint64_t dt = now_ns() - t0;
	fx.polls++;
	if (dt > fx.max_poll_ns)
		fx.max_poll_ns = dt;
	if (dt >= 1 * MS)
		fx.slow_polls++;
}

static void reset_poll_timing(void)
{
	fx.max_poll_ns = 0;
	fx.slow_polls = 0;
	fx.polls = 0;
}

/* Poll every millisecond for ms milliseconds, or until the link's state is
 * `until` (when until >= 0). Returns the elapsed milliseconds. */
static unsigned poll_for(unsigned ms, int until)
{
	uint64_t t0 = now_ns();
	while (now_ns() - t0 < ms * MS) {
		poll_link();
		if (until >= 0 && lp_ctl_link_connected(fx.link) == (bool)until)
			break;
		sleep_ms(1);
	}
	return (unsigned)((now_ns() - t0) / MS);
}

/* Every poll returned at once: at most 1% of them (scheduler noise on a
 * shared machine) took 1 ms or more, none 20 ms. */
static void assert_polls_fast(void)
{
	assert_true(fx.polls > 100);
	if (fx.slow_polls * 100 > fx.polls || fx.max_poll_ns >= 20 * MS)
		fail_msg("%u of %u polls took >= 1 ms, slowest %.3f ms", fx.slow_polls,
			 fx.polls, (double)fx.max_poll_ns / 1e6);
}

static void start_control(void)
{
	unlink(fx.pidfile);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(fx.log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, STDERR_FILENO);
			dup2(fd, STDOUT_FILENO);
		}
		char data[160];
		snprintf(data, sizeof(data), "%s/data", fx.dir);
		execl(fx.control_exe, "lepus-control", "--socket", fx.sock, "--pidfile",
		      fx.pidfile, "--data-dir", data, "--verbose", (char *)NULL);
		_exit(127);
	}
	fx.control = pid;
	/* The pidfile is written once the socket listens. */
	for (int i = 0; i < 3000; i++) {
		FILE *f = fopen(fx.pidfile, "r");
		long p = 0;
		if (f) {
			if (fscanf(f, "%ld", &p) != 1)
				p = 0;
			fclose(f);
		}
		if (p == pid)
			return;
		assert_int_equal(waitpid(pid, NULL, WNOHANG), 0);
		poll_link();
		sleep_ms(1);
	}
	fail_msg("lepus-control did not start within 3 s");
}

/* Wait up to ms for our lepus-control to exit; its wait status or -1. */
static int reap_control(unsigned ms)
{
	for (unsigned i = 0; i < ms; i++) {
		int st;
		pid_t r = waitpid(fx.control, &st, WNOHANG);
		if (r == fx.control) {
			fx.control = 0;
			return st;
		}
		poll_link();
		sleep_ms(1);
	}
	return -1;
}

struct ctl_result {
	int status; /* exit status, -1 if it did not exit */
	char out[65536];
	size_t out_len;
	char err[4096];
	size_t err_len;
};

static void drain(int fd, char *buf, size_t cap, size_t *len)
{
	for (;;) {
		if (*len + 1 >= cap)
			return;
		ssize_t n = read(fd, buf + *len, cap - 1 - *len);
		if (n <= 0)
			return;
		*len += (size_t)n;
		buf[*len] = '\0';
	}
}

/* Run `lepusctl --socket S status [--json]` while polling the link. */
static void run_lepusctl(bool json, struct ctl_result *r)
{
	int out[2], err[2];
	assert_int_equal(pipe2(out, O_CLOEXEC | O_NONBLOCK), 0);
	assert_int_equal(pipe2(err, O_CLOEXEC | O_NONBLOCK), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(out[1], STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		execl(fx.ctl_exe, "lepusctl", "--socket", fx.sock, "status",
		      json ? "--json" : (char *)NULL, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	memset(r, 0, sizeof(*r));
	r->status = -1;
	for (int i = 0; i < 5000; i++) {
		drain(out[0], r->out, sizeof(r->out), &r->out_len);
		drain(err[0], r->err, sizeof(r->err), &r->err_len);
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			drain(out[0], r->out, sizeof(r->out), &r->out_len);
			drain(err[0], r->err, sizeof(r->err), &r->err_len);
			r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			break;
		}
		poll_link();
		sleep_ms(1);
	}
	if (r->status < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	close(out[0]);
	close(err[0]);
	if (r->status < 0)
		fail_msg("lepusctl did not exit within 5 s");
}

static json_t *status_json(void)
{
	static struct ctl_result r;
	run_lepusctl(true, &r);
	if (r.status != 0)
		fail_msg("lepusctl exited %d: %s", r.status, r.err);
	json_error_t e;
	json_t *j = json_loads(r.out, 0, &e);
	if (!j)
		fail_msg("lepusctl printed invalid JSON (%s): %s", e.text, r.out);
	return j;
}

static uint64_t jget(json_t *root, const char *path)
{
	json_t *v = json_object_get(root, "dataplane");
	char key[128];
	snprintf(key, sizeof(key), "%s", path);
	for (char *save = NULL, *k = strtok_r(key, ".", &save); k && v;
	     k = strtok_r(NULL, ".", &save)) {
		if (json_is_array(v))
			v = json_array_get(v, strtoul(k, NULL, 10));
		else
			v = json_object_get(v, k);
	}
	if (!json_is_integer(v))
		fail_msg("dataplane.%s is not an integer", path);
	return (uint64_t)json_integer_value(v);
}

static char drop_path[128];

static const char *drop_key(const char *prefix, enum lp_drop_reason d)
{
	snprintf(drop_path, sizeof(drop_path), "%s.%s", prefix, lp_drop_name(d));
	return drop_path;
}

/* Fake counters: distinct per worker and per generation `g`. */
static void fill_stats(uint64_t g)
{
	memset(fx.ws, 0, sizeof(fx.ws));
	for (unsigned w = 0; w < N_WORKERS; w++) {
		fx.ws[w].rx_packets = g * 1000 + w * 100 + 1;
		fx.ws[w].rx_bytes = (g * 1000 + w * 100 + 1) * 64;
		fx.ws[w].tx_packets = g * 900 + w * 10 + 2;
		fx.ws[w].tx_bytes = (g * 900 + w * 10 + 2) * 60;
	}
	fx.ws[0].drops[LP_DROP_IP4_BAD_CHECKSUM] = 7 * g;
	fx.ws[1].drops[LP_DROP_TCP_NO_LISTENER] = 5 * g;
	fx.ws[0].drops[LP_DROP_TCP_NO_LISTENER] = 3 * g;
}

/* lepusctl shows exactly the counters of generation g. */
static void assert_status_shows(uint64_t g)
{
	json_t *j = NULL;
	/* the sample with generation g may still be in flight: retry 1.5 s */
	for (int attempt = 0; attempt < 15; attempt++) {
		j = status_json();
		json_t *dp = json_object_get(j, "dataplane");
		json_t *st = json_object_get(dp, "workers");
		json_t *w0 = json_array_get(st, 0);
		json_t *rx = json_object_get(w0, "rx_packets");
		if (json_is_true(json_object_get(dp, "connected")) && rx &&
		    (uint64_t)json_integer_value(rx) == fx.ws[0].rx_packets)
			break;
		json_decref(j);
		j = NULL;
		poll_for(100, -1);
	}
	if (!j)
		fail_msg("lepusctl never showed the generation %lu counters", (unsigned long)g);

	assert_true(json_is_true(json_object_get(json_object_get(j, "dataplane"), "connected")));
	assert_int_equal(jget(j, "pid"), FAKE_PID);
	assert_int_equal(jget(j, "n_workers"), N_WORKERS);
	json_t *dp = json_object_get(j, "dataplane");
	assert_string_equal(json_string_value(json_object_get(dp, "ip")), "198.18.0.7");
	assert_string_equal(json_string_value(json_object_get(dp, "mac")), "02:00:5e:00:01:07");
	assert_string_equal(json_string_value(json_object_get(dp, "driver")), "net_test");

	uint64_t tot_rx = 0, tot_txb = 0;
	for (unsigned w = 0; w < N_WORKERS; w++) {
		char k[64];
		snprintf(k, sizeof(k), "workers.%u.worker", w);
		assert_int_equal(jget(j, k), w);
		snprintf(k, sizeof(k), "workers.%u.rx_packets", w);
		assert_int_equal(jget(j, k), fx.ws[w].rx_packets);
		snprintf(k, sizeof(k), "workers.%u.rx_bytes", w);
		assert_int_equal(jget(j, k), fx.ws[w].rx_bytes);
		snprintf(k, sizeof(k), "workers.%u.tx_packets", w);
		assert_int_equal(jget(j, k), fx.ws[w].tx_packets);
		snprintf(k, sizeof(k), "workers.%u.tx_bytes", w);
		assert_int_equal(jget(j, k), fx.ws[w].tx_bytes);
		tot_rx += fx.ws[w].rx_packets;
		tot_txb += fx.ws[w].tx_bytes;
	}
	assert_int_equal(jget(j, drop_key("workers.0.drops", LP_DROP_IP4_BAD_CHECKSUM)), 7 * g);
	assert_int_equal(jget(j, drop_key("workers.0.drops", LP_DROP_TCP_NO_LISTENER)), 3 * g);
	assert_int_equal(jget(j, drop_key("workers.1.drops", LP_DROP_TCP_NO_LISTENER)), 5 * g);
	/* only non-zero reasons are listed */
	json_t *d1 = json_object_get(json_array_get(json_object_get(dp, "workers"), 1), "drops");
	assert_int_equal(json_object_size(d1), 1);
	assert_int_equal(jget(j, "totals.rx_packets"), tot_rx);
	assert_int_equal(jget(j, "totals.tx_bytes"), tot_txb);
	assert_int_equal(jget(j, drop_key("totals.drops", LP_DROP_TCP_NO_LISTENER)), 8 * g);
	assert_int_equal(jget(j, drop_key("totals.drops", LP_DROP_IP4_BAD_CHECKSUM)), 7 * g);
	assert_int_equal(json_object_size(json_object_get(json_object_get(dp, "totals"), "drops")), 2);
	json_decref(j);
}

/* A raw protocol connection to lepus-control. */
static int raw_connect(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	strcpy(a.sun_path, fx.sock);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Receive one datagram within 2 s; its length, 0 on EOF. */
static ssize_t raw_recv(int fd, uint8_t *buf, size_t cap)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	for (int i = 0; i < 2000; i++) {
		if (poll(&p, 1, 1) == 1)
			return recv(fd, buf, cap, 0);
		poll_link();
	}
	fail_msg("no answer from lepus-control within 2 s");
	return -1;
}

static int group_setup(void **state)
{
	(void)state;
	memset(&fx, 0, sizeof(fx));
	fx.control_exe = getenv("LP_TEST_CONTROL");
	fx.ctl_exe = getenv("LP_TEST_CTL");
	if (!fx.control_exe || !fx.ctl_exe) {
		fprintf(stderr, "LP_TEST_CONTROL and LP_TEST_CTL must name the executables\n");
		return -1;
	}
	strcpy(fx.dir, "/tmp/lepus-ctl-test-XXXXXX");
	if (!mkdtemp(fx.dir))
		return -1;
	snprintf(fx.sock, sizeof(fx.sock), "%s/run/control.sock", fx.dir);
	snprintf(fx.pidfile, sizeof(fx.pidfile), "%s/control.pid", fx.dir);
	snprintf(fx.log, sizeof(fx.log), "%s/control.log", fx.dir);
	for (unsigned w = 0; w < N_WORKERS; w++)
		fx.wsp[w] = &fx.ws[w];
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	lp_ctl_link_destroy(fx.link);
	fx.link = NULL;
	if (fx.control > 0) {
		kill(fx.control, SIGKILL);
		waitpid(fx.control, NULL, 0);
		fx.control = 0;
	}
	if (getenv("LP_TEST_VERBOSE")) {
		char cmd[200];
		snprintf(cmd, sizeof(cmd), "cat %s >&2", fx.log);
		if (system(cmd) != 0)
			fprintf(stderr, "(no control log)\n");
		fprintf(stderr, "link log:\n%s", fx.link_log);
	}
	unlink(fx.sock);
	unlink(fx.pidfile);
	unlink(fx.log);
	char run[160];
	snprintf(run, sizeof(run), "%s/run", fx.dir);
	rmdir(run);
	char rm[200];
	snprintf(rm, sizeof(rm), "rm -rf '%s/data'", fx.dir);
	if (system(rm) != 0)
		return -1;
	return rmdir(fx.dir) == 0 ? 0 : -1;
}

static void test_status_without_dataplane(void **state)
{
	(void)state;
	start_control();
	json_t *j = status_json();
	json_t *dp = json_object_get(j, "dataplane");
	assert_true(json_is_false(json_object_get(dp, "connected")));
	json_t *c = json_object_get(j, "control");
	assert_int_equal(json_integer_value(json_object_get(c, "pid")), fx.control);
	assert_true(json_real_value(json_object_get(c, "uptime_s")) >= 0.0);
	json_decref(j);

	static struct ctl_result r;
	run_lepusctl(false, &r);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "dataplane: not connected"));
}

static void test_link_connects_and_reports_stats(void **state)
{
	(void)state;
	fill_stats(1);
	struct lp_ctl_link_info info = {
		.pid = FAKE_PID,
		.n_workers = N_WORKERS,
		.ip_be = htonl(0xc6120007), /* 198.18.0.7 */
		.mac = { 0x02, 0x00, 0x5e, 0x00, 0x01, 0x07 },
		.driver = "net_test",
		.log = link_logger,
	};
	fx.link = lp_ctl_link_create(fx.sock, &info, fx.wsp, N_WORKERS);
	assert_non_null(fx.link);
	assert_false(lp_ctl_link_connected(fx.link));
	unsigned ms = poll_for(3000, 1);
	assert_true(lp_ctl_link_connected(fx.link));
	assert_true(ms < 1000);
	assert_non_null(strstr(fx.link_log, "connected to lepus-control"));
	assert_status_shows(1);

	/* the next periodic sample carries new numbers */
	fill_stats(2);
	poll_for(1100, -1);
	assert_status_shows(2);

	static struct ctl_result r;
	run_lepusctl(false, &r);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "driver net_test, 2 worker(s)"));
	assert_non_null(strstr(r.out, lp_drop_name(LP_DROP_IP4_BAD_CHECKSUM)));
	assert_null(strstr(r.out, lp_drop_name(LP_DROP_ETH_TRUNCATED)));
}

static void test_control_killed_link_survives(void **state)
{
	(void)state;
	assert_true(lp_ctl_link_connected(fx.link));
	unsigned lines_before = fx.link_log_lines;
	assert_int_equal(kill(fx.control, SIGKILL), 0);
	int st = reap_control(2000);
	assert_true(st != -1 && WIFSIGNALED(st));

	reset_poll_timing();
	unsigned ms = poll_for(500, 0);
	assert_false(lp_ctl_link_connected(fx.link));
	assert_true(ms < 500);
	/* keep polling through several reconnection attempts (socket file left
	 * behind by SIGKILL: connection refused) */
	poll_for(2500, -1);
	assert_false(lp_ctl_link_connected(fx.link));
	assert_polls_fast();
	/* logged once each: the loss and the first failed attempt, not every retry */
	if (fx.link_log_lines - lines_before != 2)
		fail_msg("expected 2 log lines during the outage, got:\n%s", fx.link_log);
	assert_non_null(strstr(fx.link_log, "lost lepus-control"));
	assert_non_null(strstr(fx.link_log, "not reachable"));

	static struct ctl_result r;
	run_lepusctl(true, &r);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "unreachable"));
	assert_int_equal(r.out_len, 0);
}

static void test_control_restart_reconnects(void **state)
{
	(void)state;
	fill_stats(3);
	reset_poll_timing();
	start_control(); /* must remove the stale socket file itself */
	unsigned ms = poll_for(3000, 1);
	assert_true(lp_ctl_link_connected(fx.link));
	if (ms >= 3000)
		fail_msg("reconnected after %u ms", ms);
	assert_non_null(strstr(fx.link_log, "reconnected to lepus-control"));
	assert_status_shows(3);
	poll_for(300, -1);
	assert_polls_fast();
}

static void test_version_mismatch_gets_nak(void **state)
{
	(void)state;
	static uint8_t buf[LP_CTL_MSG_MAX];
	static struct lp_ctl_msg m;
	memset(&m, 0, sizeof(m));
	m.type = LP_CTL_HELLO;
	m.seq = 1;
	m.hello.role = LP_CTL_ROLE_DATAPLANE;
	m.hello.proto_version = LP_CTL_VERSION;
	m.hello.pid = 999;
	m.hello.n_workers = 1;
	ssize_t n = lp_ctl_encode(buf, sizeof(buf), &m);
	assert_true(n > 0);
	buf[4] = 99; /* header version (lp_ctl.h: u16 at offset 4) */
	buf[5] = 0;

	int fd = raw_connect();
	assert_int_equal(send(fd, buf, (size_t)n, 0), n);
	ssize_t r = raw_recv(fd, buf, sizeof(buf));
	assert_true(r > 0);
	assert_int_equal(lp_ctl_decode(buf, (size_t)r, &m), 0);
	assert_int_equal(m.type, LP_CTL_HELLO_NAK);
	assert_int_equal(m.hello_nak.reason, LP_CTL_NAK_VERSION);
	assert_int_equal(m.hello_nak.proto_version, LP_CTL_VERSION);
	assert_non_null(strstr(m.hello_nak.text, "99"));
	assert_int_equal(raw_recv(fd, buf, sizeof(buf)), 0); /* then closed */
	close(fd);

	/* a second, live dataplane is refused while ours is connected */
	memset(&m, 0, sizeof(m));
	m.type = LP_CTL_HELLO;
	m.hello.role = LP_CTL_ROLE_DATAPLANE;
	m.hello.proto_version = LP_CTL_VERSION;
	m.hello.pid = 999;
	m.hello.n_workers = 1;
	n = lp_ctl_encode(buf, sizeof(buf), &m);
	fd = raw_connect();
	assert_int_equal(send(fd, buf, (size_t)n, 0), n);
	r = raw_recv(fd, buf, sizeof(buf));
	assert_true(r > 0);
	assert_int_equal(lp_ctl_decode(buf, (size_t)r, &m), 0);
	assert_int_equal(m.type, LP_CTL_HELLO_NAK);
	assert_int_equal(m.hello_nak.reason, LP_CTL_NAK_BUSY);
	close(fd);
	poll_for(200, -1);
	assert_true(lp_ctl_link_connected(fx.link));
}

static void test_malformed_closes_only_that_peer(void **state)
{
	(void)state;
	static const uint8_t garbage[][24] = {
		{ 0 },
		{ 'L', 'P', 'C', 'T', 1, 0, 1, 0, 0xff, 0xff, 0xff, 0xff },
		{ 'L', 'P', 'C', 'T', 1, 0, 0x11, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8 },
	};
	uint8_t buf[256];
	for (unsigned i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		int fd = raw_connect();
		assert_int_equal(send(fd, garbage[i], sizeof(garbage[i]), 0), sizeof(garbage[i]));
		/* answered at most with a NAK, then closed */
		ssize_t r = raw_recv(fd, buf, sizeof(buf));
		if (r > 0)
			r = raw_recv(fd, buf, sizeof(buf));
		assert_int_equal(r, 0);
		close(fd);
	}
	assert_int_equal(waitpid(fx.control, NULL, WNOHANG), 0); /* still running */
	poll_for(200, -1);
	assert_true(lp_ctl_link_connected(fx.link));
	assert_status_shows(3);
}

/* Encode m and send it on fd. */
static void raw_send(int fd, struct lp_ctl_msg *m)
{
	static uint8_t buf[LP_CTL_MSG_MAX];
	ssize_t n = lp_ctl_encode(buf, sizeof(buf), m);
	assert_true(n > 0);
	assert_int_equal(send(fd, buf, (size_t)n, 0), n);
}

/* lepus-control's log holds `text` within 2 s. */
static void assert_control_logged(const char *text)
{
	static char log[1 << 16];
	for (int i = 0; i < 2000; i++) {
		FILE *f = fopen(fx.log, "r");
		size_t n = f ? fread(log, 1, sizeof(log) - 1, f) : 0;
		if (f)
			fclose(f);
		log[n] = '\0';
		if (strstr(log, text))
			return;
		poll_link();
		sleep_ms(1);
	}
	fail_msg("lepus-control did not log \"%s\"", text);
}

static void cli_hello(struct lp_ctl_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->type = LP_CTL_HELLO;
	m->hello.role = LP_CTL_ROLE_CLI;
	m->hello.proto_version = LP_CTL_VERSION;
	m->hello.pid = 777;
}

/* A cli connection that said HELLO and got HELLO_ACK. */
static int raw_cli(void)
{
	static struct lp_ctl_msg m;
	uint8_t buf[512];
	int fd = raw_connect();
	cli_hello(&m);
	raw_send(fd, &m);
	ssize_t r = raw_recv(fd, buf, sizeof(buf));
	assert_true(r > 0);
	assert_int_equal(lp_ctl_decode(buf, (size_t)r, &m), 0);
	assert_int_equal(m.type, LP_CTL_HELLO_ACK);
	return fd;
}

/* Send m on fd: lepus-control closes fd without an answer and logs why. */
static void assert_refused(int fd, struct lp_ctl_msg *m, const char *why)
{
	uint8_t buf[512];
	raw_send(fd, m);
	assert_int_equal(raw_recv(fd, buf, sizeof(buf)), 0);
	close(fd);
	assert_control_logged(why);
}

static void test_out_of_place_messages_close_the_peer(void **state)
{
	(void)state;
	static struct lp_ctl_msg m;

	/* before HELLO: nothing but HELLO */
	memset(&m, 0, sizeof(m));
	m.type = LP_CTL_STATUS_REQ;
	assert_refused(raw_connect(), &m, "expected HELLO, got STATUS_REQ");

	/* a cli may not send what only a dataplane sends */
	memset(&m, 0, sizeof(m));
	m.type = LP_CTL_DECLARE;
	m.def_req.object = LP_CTL_OBJ_QUEUE;
	strcpy(m.def_req.vhost, "/");
	strcpy(m.def_req.name, "q");
	assert_refused(raw_cli(), &m, "unexpected DECLARE from a cli");
	memset(&m, 0, sizeof(m));
	m.type = LP_CTL_QUEUE_UNUSED;
	strcpy(m.queue_unused.vhost, "/");
	strcpy(m.queue_unused.queue, "q");
	assert_refused(raw_cli(), &m, "unexpected QUEUE_UNUSED from a cli");

	/* HELLO is answered once per connection */
	cli_hello(&m);
	assert_refused(raw_cli(), &m, "second HELLO");

	assert_int_equal(waitpid(fx.control, NULL, WNOHANG), 0); /* still running */
	poll_for(200, -1);
	assert_true(lp_ctl_link_connected(fx.link));
	assert_status_shows(3);
}

static void test_clean_shutdown(void **state)
{
	(void)state;
	assert_int_equal(kill(fx.control, SIGTERM), 0);
	int st = reap_control(3000);
	assert_true(st != -1);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	struct stat sb;
	assert_int_equal(stat(fx.sock, &sb), -1);
	assert_int_equal(stat(fx.pidfile, &sb), -1);
	poll_for(500, 0);
	assert_false(lp_ctl_link_connected(fx.link));
	lp_ctl_link_destroy(fx.link);
	fx.link = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_without_dataplane),
		cmocka_unit_test(test_link_connects_and_reports_stats),
		cmocka_unit_test(test_control_killed_link_survives),
		cmocka_unit_test(test_control_restart_reconnects),
		cmocka_unit_test(test_version_mismatch_gets_nak),
		cmocka_unit_test(test_malformed_closes_only_that_peer),
		cmocka_unit_test(test_out_of_place_messages_close_the_peer),
		cmocka_unit_test(test_clean_shutdown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
