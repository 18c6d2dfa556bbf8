/* SPDX-License-Identifier: MIT */
/*
 * End to end: the real lepus-control (LP_TEST_CONTROL) with a temporary
 * --data-dir, and the dataplane's control link (dataplane/ctl_link.c) with
 * recording handlers. Checks: the full batch after connecting holds the
 * defaults; a declaration gets a delta batch (one version up, the new
 * object) before its RESULT, which names that version; refusals come back
 * with RabbitMQ's code and text and no batch; CONNECTION_CLOSED deletes an
 * exclusive queue; lepusctl (LP_TEST_CTL) lists what was declared; after a
 * restart of lepus-control the link reconnects and the full batch has the
 * durable definitions but not the transient ones. A change the store cannot
 * commit (a trigger the test adds to the database makes SQLite refuse it) is
 * answered 541 INTERNAL_ERROR, to the dataplane and to lepusctl, and is not
 * there after a restart. The teardown kills only the pid it started and
 * removes its directory.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "ctl_link.h"
#include "drop.h"
#include "lp_ctl.h"

#define MS 1000000ull

struct object {
	uint16_t type;
	uint8_t op;
	char name[LP_CTL_NAME_MAX + 1];
	uint8_t flags;
	uint16_t owner_shard;
};

static struct {
	char dir[64], sock[128], data[128], log[128];
	pid_t control;
	struct lp_net_stats ws[2];
	const struct lp_net_stats *wsp[2];
	struct lp_ctl_link *link;
	/* recorded */
	unsigned batches, full_batches;
	uint64_t last_version;
	bool last_full;
	struct object objs[512]; /* objects of the last batch */
	unsigned n_objs, n_building;
	struct object building[512];
	bool have_result;
	struct lp_ctl_result result;
	uint64_t version_at_result;
} fx;

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

static void h_begin(void *arg, uint64_t version, bool full)
{
	(void)arg;
	(void)version;
	fx.last_full = full;
	fx.n_building = 0;
}

static void h_object(void *arg, const struct lp_ctl_msg *m)
{
	(void)arg;
	if (fx.n_building >= 512)
		return;
	struct object *o = &fx.building[fx.n_building++];
	memset(o, 0, sizeof(*o));
	o->type = m->type;
	switch (m->type) {
	case LP_CTL_TOPO_VHOST: o->op = m->topo_vhost.op; strcpy(o->name, m->topo_vhost.name); break;
	case LP_CTL_USER: o->op = m->user.op; strcpy(o->name, m->user.name);
		o->flags = m->user.hash_len; break;
	case LP_CTL_PERMISSION: o->op = m->permission.op; strcpy(o->name, m->permission.user); break;
	case LP_CTL_TOPO_EXCHANGE: o->op = m->topo_exchange.op; strcpy(o->name, m->topo_exchange.name);
		o->flags = m->topo_exchange.flags; break;
	case LP_CTL_TOPO_QUEUE: o->op = m->topo_queue.op; strcpy(o->name, m->topo_queue.name);
		o->flags = m->topo_queue.flags; o->owner_shard = m->topo_queue.owner_shard; break;
	case LP_CTL_TOPO_BINDING: o->op = m->topo_binding.op;
		strcpy(o->name, m->topo_binding.destination); break;
	}
}

static void h_end(void *arg, uint64_t version)
{
	(void)arg;
	fx.batches++;
	fx.full_batches += fx.last_full;
	fx.last_version = version;
	memcpy(fx.objs, fx.building, sizeof(fx.objs));
	fx.n_objs = fx.n_building;
}

static void h_result(void *arg, const struct lp_ctl_result *r)
{
	(void)arg;
	fx.have_result = true;
	fx.result = *r;
	fx.version_at_result = fx.last_version;
}

static bool has(uint16_t type, uint8_t op, const char *name)
{
	for (unsigned i = 0; i < fx.n_objs; i++)
		if (fx.objs[i].type == type && fx.objs[i].op == op && strcmp(fx.objs[i].name, name) == 0)
			return true;
	return false;
}

static const struct object *find(uint16_t type, const char *name)
{
	for (unsigned i = 0; i < fx.n_objs; i++)
		if (fx.objs[i].type == type && strcmp(fx.objs[i].name, name) == 0)
			return &fx.objs[i];
	return NULL;
}

/* Poll until cond() or ms elapse. */
static bool poll_until(bool (*cond)(void), unsigned ms)
{
	uint64_t t0 = now_ns();
	while (now_ns() - t0 < ms * MS) {
		lp_ctl_link_poll(fx.link, now_ns());
		if (cond())
			return true;
		sleep_ms(1);
	}
	return cond();
}

static unsigned want_full;
static bool full_seen(void)
{
	return lp_ctl_link_connected(fx.link) && fx.full_batches >= want_full;
}

static bool result_seen(void)
{
	return fx.have_result;
}

static void start_control(void)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		FILE *f = freopen(fx.log, "a", stderr);
		(void)f;
		execl(getenv("LP_TEST_CONTROL"), "lepus-control", "--socket", fx.sock, "--data-dir",
		      fx.data, "--verbose", (char *)NULL);
		_exit(127);
	}
	fx.control = pid;
}

static void stop_control(void)
{
	assert_int_equal(kill(fx.control, SIGTERM), 0);
	int st = 0;
	for (int i = 0; i < 3000; i++) {
		if (waitpid(fx.control, &st, WNOHANG) == fx.control) {
			fx.control = 0;
			break;
		}
		lp_ctl_link_poll(fx.link, now_ns());
		sleep_ms(1);
	}
	assert_int_equal(fx.control, 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static int setup(void **state)
{
	(void)state;
	if (!getenv("LP_TEST_CONTROL") || !getenv("LP_TEST_CTL"))
		return -1;
	memset(&fx, 0, sizeof(fx));
	strcpy(fx.dir, "/tmp/lepus-defs-e2e-XXXXXX");
	if (!mkdtemp(fx.dir))
		return -1;
	snprintf(fx.sock, sizeof(fx.sock), "%s/control.sock", fx.dir);
	snprintf(fx.data, sizeof(fx.data), "%s/data", fx.dir);
	snprintf(fx.log, sizeof(fx.log), "%s/control.log", fx.dir);
	signal(SIGPIPE, SIG_IGN);
	fx.wsp[0] = &fx.ws[0];
	fx.wsp[1] = &fx.ws[1];
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	lp_ctl_link_destroy(fx.link);
	if (fx.control > 0) {
		kill(fx.control, SIGKILL);
		waitpid(fx.control, NULL, 0);
	}
	if (getenv("LP_TEST_VERBOSE")) {
		char cmd[200];
		snprintf(cmd, sizeof(cmd), "cat %s >&2", fx.log);
		if (system(cmd) != 0)
			fprintf(stderr, "(no log)\n");
	}
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx.dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The dataplane's link (pid, n_workers) with the recording handlers. */
static void link_create(uint32_t pid, uint16_t n_workers)
{
	struct lp_ctl_link_info info = { .pid = pid, .n_workers = n_workers, .driver = "net_test" };
	fx.link = lp_ctl_link_create(fx.sock, &info, fx.wsp, n_workers);
	assert_non_null(fx.link);
	struct lp_ctl_link_handlers h = { .topo_begin = h_begin, .topo_object = h_object,
					  .topo_end = h_end, .result = h_result };
	lp_ctl_link_set_handlers(fx.link, &h);
}

/* Submit and wait for the RESULT. */
static const struct lp_ctl_result *submit(uint16_t type, uint8_t object, const char *name,
					  const char *source, const char *xtype, uint16_t flags,
					  uint64_t conn, uint16_t worker)
{
	struct lp_ctl_def_req req;
	memset(&req, 0, sizeof(req));
	req.conn_id = conn;
	req.worker = worker;
	req.object = object;
	req.flags = flags;
	strcpy(req.vhost, "/");
	strcpy(req.user, "guest");
	strcpy(req.name, name);
	strcpy(req.source, source);
	strcpy(req.type, xtype);
	fx.have_result = false;
	int64_t id = lp_ctl_link_submit(fx.link, type, &req);
	assert_true(id > 0);
	assert_int_equal(lp_ctl_link_pending(fx.link), 1);
	assert_true(poll_until(result_seen, 2000));
	assert_int_equal(fx.result.req_id, (uint64_t)id);
	assert_int_equal(lp_ctl_link_pending(fx.link), 0);
	return &fx.result;
}

static void test_declare_topology_restart(void **state)
{
	(void)state;
	enum { X = LP_CTL_OBJ_EXCHANGE, Q = LP_CTL_OBJ_QUEUE };
	start_control();
	link_create(4242, 2);
	/* refused while down */
	struct lp_ctl_def_req req = { .object = Q };
	assert_int_equal(lp_ctl_link_submit(fx.link, LP_CTL_DECLARE, &req), -ENOTCONN);

	want_full = 1;
	assert_true(poll_until(full_seen, 5000));
	assert_true(has(LP_CTL_TOPO_VHOST, LP_CTL_OP_ADD, "/"));
	assert_true(has(LP_CTL_USER, LP_CTL_OP_ADD, "guest"));
	assert_int_equal(find(LP_CTL_USER, "guest")->flags, LP_CTL_PASSWORD_HASH_LEN);
	assert_true(has(LP_CTL_PERMISSION, LP_CTL_OP_ADD, "guest"));
	assert_true(has(LP_CTL_TOPO_EXCHANGE, LP_CTL_OP_ADD, ""));
	assert_true(has(LP_CTL_TOPO_EXCHANGE, LP_CTL_OP_ADD, "amq.match"));
	assert_int_equal(fx.n_objs, 1 + 1 + 1 + 6);

	/* declare -> delta batch with version v+1, then RESULT naming v+1 */
	uint64_t v0 = fx.last_version;
	const struct lp_ctl_result *r = submit(LP_CTL_DECLARE, Q, "dq", "", "", LP_CTL_F_DURABLE, 1, 1);
	assert_int_equal(r->reply_code, 0);
	assert_string_equal(r->queue, "dq");
	assert_int_equal(r->owner_shard, 1);
	assert_int_equal(r->version, v0 + 1);
	assert_int_equal(fx.version_at_result, v0 + 1); /* batch came first */
	assert_false(fx.last_full);
	assert_int_equal(fx.n_objs, 1);
	assert_true(has(LP_CTL_TOPO_QUEUE, LP_CTL_OP_ADD, "dq"));
	assert_int_equal(find(LP_CTL_TOPO_QUEUE, "dq")->flags, LP_CTL_Q_DURABLE);

	r = submit(LP_CTL_DECLARE, X, "dx", "", "direct", LP_CTL_F_DURABLE, 1, 0);
	assert_int_equal(r->reply_code, 0);
	r = submit(LP_CTL_BIND, Q, "dq", "dx", "", 0, 1, 0);
	assert_int_equal(r->reply_code, 0);
	assert_true(has(LP_CTL_TOPO_BINDING, LP_CTL_OP_ADD, "dq"));
	r = submit(LP_CTL_DECLARE, Q, "tq", "", "", 0, 1, 0);
	assert_int_equal(r->reply_code, 0);
	r = submit(LP_CTL_DECLARE, Q, "", "", "", LP_CTL_F_EXCLUSIVE, 9, 0);
	assert_int_equal(r->reply_code, 0);
	char gen[LP_CTL_NAME_MAX + 1];
	strcpy(gen, r->queue);
	assert_int_equal(strncmp(gen, "amq.gen-", 8), 0);
	uint64_t v1 = r->version;

	/* equivalent redeclare: no batch, current version */
	unsigned batches = fx.batches;
	r = submit(LP_CTL_DECLARE, Q, "dq", "", "", LP_CTL_F_DURABLE, 1, 0);
	assert_int_equal(r->reply_code, 0);
	assert_int_equal(r->version, v1);
	assert_int_equal(fx.batches, batches);
	/* refusal: code and text, no batch */
	r = submit(LP_CTL_DECLARE, Q, "dq", "", "", 0, 1, 0);
	assert_int_equal(r->reply_code, 406);
	assert_string_equal(r->text, "PRECONDITION_FAILED - inequivalent arg 'durable' for queue "
				     "'dq' in vhost '/': received 'false' but current is 'true'");
	r = submit(LP_CTL_DECLARE, Q, "missing", "", "", LP_CTL_F_PASSIVE, 1, 0);
	assert_int_equal(r->reply_code, 404);
	assert_string_equal(r->text, "NOT_FOUND - no queue 'missing' in vhost '/'");
	assert_int_equal(fx.batches, batches);

	/* the exclusive queue goes with its connection */
	assert_int_equal(lp_ctl_link_connection_closed(fx.link, 9), 0);
	bool seen = false;
	for (int i = 0; i < 2000 && !seen; i++) {
		lp_ctl_link_poll(fx.link, now_ns());
		seen = fx.batches > batches && has(LP_CTL_TOPO_QUEUE, LP_CTL_OP_DEL, gen);
		sleep_ms(1);
	}
	assert_true(seen);

	/* lepusctl sees the definitions */
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "%s --socket %s list_queues > %s/q.txt", getenv("LP_TEST_CTL"),
		 fx.sock, fx.dir);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "grep -qx 'dq\ttrue\tfalse\tfalse\t1' %s/q.txt && "
		 "grep -q '^tq' %s/q.txt && head -1 %s/q.txt | grep -qx 'Listing queues for vhost / ...'",
		 fx.dir, fx.dir, fx.dir);
	assert_int_equal(system(cmd), 0);

	/* restart: durable definitions come back, transient ones do not */
	stop_control();
	start_control();
	want_full = 2;
	assert_true(poll_until(full_seen, 8000));
	assert_true(fx.last_full);
	assert_true(has(LP_CTL_TOPO_QUEUE, LP_CTL_OP_ADD, "dq"));
	assert_int_equal(find(LP_CTL_TOPO_QUEUE, "dq")->owner_shard, 1);
	assert_true(has(LP_CTL_TOPO_EXCHANGE, LP_CTL_OP_ADD, "dx"));
	assert_true(has(LP_CTL_TOPO_BINDING, LP_CTL_OP_ADD, "dq"));
	assert_false(has(LP_CTL_TOPO_QUEUE, LP_CTL_OP_ADD, "tq"));
	assert_int_equal(fx.n_objs, 1 + 1 + 1 + 6 + 1 + 1 + 1);
}

/* Make every later insert into `table` of lepus-control's database fail. */
static void store_refuses(const char *table)
{
	char path[160], sql[256];
	snprintf(path, sizeof(path), "%s/definitions.db", fx.data);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 2000);
	snprintf(sql, sizeof(sql),
		 "CREATE TRIGGER test_refuse_%s BEFORE INSERT ON %s "
		 "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;", table, table);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void test_store_failure_answers_541(void **state)
{
	(void)state;
	enum { Q = LP_CTL_OBJ_QUEUE };
	start_control();
	link_create(4243, 1);
	want_full = 1;
	assert_true(poll_until(full_seen, 5000));

	const struct lp_ctl_result *r = submit(LP_CTL_DECLARE, Q, "kept", "", "", LP_CTL_F_DURABLE,
					       1, 0);
	assert_int_equal(r->reply_code, 0);
	store_refuses("queues");
	store_refuses("vhosts");

	r = submit(LP_CTL_DECLARE, Q, "lost", "", "", LP_CTL_F_DURABLE, 1, 0);
	assert_int_equal(r->reply_code, 541);
	assert_string_equal(r->text, "INTERNAL_ERROR - cannot store the change");
	/* a transient queue is not stored: nothing to fail */
	r = submit(LP_CTL_DECLARE, Q, "transient", "", "", 0, 1, 0);
	assert_int_equal(r->reply_code, 0);

	char cmd[512];
	snprintf(cmd, sizeof(cmd), "%s --socket %s add_vhost v2 2> %s/err.txt", getenv("LP_TEST_CTL"),
		 fx.sock, fx.dir);
	assert_int_not_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "grep -qx 'INTERNAL_ERROR - cannot store the change' %s/err.txt",
		 fx.dir);
	assert_int_equal(system(cmd), 0);

	/* what was refused is not there after a restart */
	stop_control();
	start_control();
	want_full = 2;
	assert_true(poll_until(full_seen, 8000));
	assert_true(has(LP_CTL_TOPO_QUEUE, LP_CTL_OP_ADD, "kept"));
	assert_false(has(LP_CTL_TOPO_QUEUE, LP_CTL_OP_ADD, "lost"));
	assert_false(has(LP_CTL_TOPO_VHOST, LP_CTL_OP_ADD, "v2"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_declare_topology_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_failure_answers_541, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
