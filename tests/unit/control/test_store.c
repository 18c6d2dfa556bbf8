/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the definitions store (control/store.c): definitions written
 * through the sink survive close and reopen (durable ones only: transient
 * exchanges, queues and their bindings do not come back); a process that
 * dies inside a transaction (fork, change, _exit without COMMIT) leaves the
 * previous state, while one that commits first leaves the new one; the
 * database is in WAL mode. Temporary directories are removed in teardown.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "definitions.h"
#include "store.h"

static char dir[64];

static void sink_to_store(void *arg, uint8_t op, enum lp_def_kind kind, const void *obj)
{
	lp_store_change(arg, op, kind, obj);
}

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/lepus-store-test-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct lp_store *open_store(void)
{
	char err[256];
	struct lp_store *s = lp_store_open(dir, err, sizeof(err));
	if (!s)
		fail_msg("open: %s", err);
	return s;
}

static struct lp_defs *load(struct lp_store *s)
{
	struct lp_defs *d = lp_defs_create();
	assert_non_null(d);
	assert_int_equal(lp_store_load(s, d), 0);
	return d;
}

static void request(struct lp_defs *d, uint16_t type, uint8_t object, const char *name,
		    const char *source, const char *xtype, uint16_t flags, uint64_t conn)
{
	struct lp_ctl_def_req req;
	memset(&req, 0, sizeof(req));
	static const uint8_t args[] = { 12, 'x', '-', 'm', 'a', 'x', '-', 'l', 'e', 'n', 'g', 't',
					'h', 'I', 0, 0, 0, 9 };
	req.conn_id = conn;
	req.object = object;
	req.flags = flags;
	req.worker = 3;
	strcpy(req.vhost, "/");
	strcpy(req.user, "guest");
	strcpy(req.name, name);
	strcpy(req.source, source);
	strcpy(req.type, xtype);
	strcpy(req.routing_key, "k");
	if (object == LP_CTL_OBJ_QUEUE && type == LP_CTL_DECLARE) {
		req.args = args;
		req.args_len = sizeof(args);
	}
	struct lp_def_reply r;
	lp_defs_request(d, type, &req, &r);
	if (r.code)
		fail_msg("%s: %s", name, r.text);
}

static void populate(struct lp_defs *d, struct lp_store *s)
{
	struct lp_def_sink sink = { .change = sink_to_store, .arg = s };
	lp_defs_set_sink(d, &sink);
	assert_int_equal(lp_store_begin(s), 0);
	assert_int_equal(lp_defs_add_defaults(d), 0);
	assert_int_equal(lp_store_mark_initialized(s), 0);
	assert_int_equal(lp_store_commit(s), 0);
	enum { X = LP_CTL_OBJ_EXCHANGE, Q = LP_CTL_OBJ_QUEUE };
	request(d, LP_CTL_DECLARE, Q, "dq", "", "", LP_CTL_F_DURABLE, 1);
	request(d, LP_CTL_DECLARE, Q, "tq", "", "", 0, 1);
	request(d, LP_CTL_DECLARE, Q, "xq", "", "", LP_CTL_F_DURABLE | LP_CTL_F_EXCLUSIVE, 1);
	request(d, LP_CTL_DECLARE, X, "dx", "", "topic", LP_CTL_F_DURABLE | LP_CTL_F_AUTO_DELETE, 1);
	request(d, LP_CTL_DECLARE, X, "tx", "", "fanout", 0, 1);
	request(d, LP_CTL_BIND, Q, "dq", "dx", "", 0, 1);  /* durable */
	request(d, LP_CTL_BIND, Q, "tq", "dx", "", 0, 1);  /* transient queue */
	request(d, LP_CTL_BIND, Q, "dq", "tx", "", 0, 1);  /* transient exchange */
	request(d, LP_CTL_BIND, X, "dx", "amq.topic", "", 0, 1); /* durable e2e */
	char err[128];
	assert_int_equal(lp_defs_add_vhost(d, "v2", err, sizeof(err)), 0);
	uint8_t h[LP_PASSWORD_HASH_LEN];
	assert_int_equal(lp_password_hash("s3cret", 6, NULL, h), 0);
	assert_int_equal(lp_defs_add_user(d, "bob", h, "monitoring", err, sizeof(err)), 0);
	assert_int_equal(lp_defs_set_permissions(d, "bob", "v2", "^c", "^w", "^r", err, sizeof(err)), 0);
	lp_defs_set_sink(d, NULL);
}

static void test_round_trip(void **state)
{
	(void)state;
	struct lp_store *s = open_store();
	assert_false(lp_store_initialized(s));
	struct lp_defs *d = lp_defs_create();
	populate(d, s);
	lp_defs_destroy(d);
	lp_store_close(s);

	s = open_store();
	assert_true(lp_store_initialized(s));
	d = load(s);
	const struct lp_def_queue *q = lp_defs_find_queue(d, "/", "dq");
	assert_non_null(q);
	assert_true(q->durable);
	assert_int_equal(q->owner_shard, 3);
	assert_int_equal(q->args_len, 18);
	assert_null(lp_defs_find_queue(d, "/", "tq"));
	assert_null(lp_defs_find_queue(d, "/", "xq")); /* exclusive: transient */
	const struct lp_def_exchange *x = lp_defs_find_exchange(d, "/", "dx");
	assert_non_null(x);
	assert_int_equal(x->type, LP_CTL_XT_TOPIC);
	assert_true(x->auto_delete);
	assert_null(lp_defs_find_exchange(d, "/", "tx"));
	assert_non_null(lp_defs_find_exchange(d, "v2", "amq.match"));
	assert_int_equal(lp_defs_count(d, LP_DEF_EXCHANGE), 6 + 1 + 6);
	assert_int_equal(lp_defs_count(d, LP_DEF_BINDING), 2); /* dq<-dx, dx<-amq.topic */
	for (const struct lp_def_binding *b = lp_defs_bindings(d); b; b = b->next)
		assert_true(strcmp(b->destination, "dq") == 0 || strcmp(b->destination, "dx") == 0);
	const struct lp_def_user *u = lp_defs_find_user(d, "bob");
	assert_non_null(u);
	assert_string_equal(u->tags, "monitoring");
	assert_true(lp_password_check(u->hash, "s3cret", 6));
	assert_true(lp_password_check(lp_defs_find_user(d, "guest")->hash, "guest", 5));
	assert_int_equal(lp_defs_count(d, LP_DEF_PERMISSION), 2);
	assert_int_equal(lp_defs_count(d, LP_DEF_VHOST), 2);

	/* deletions persist too: delete dq (its binding goes with it) */
	struct lp_def_sink sink = { .change = sink_to_store, .arg = s };
	lp_defs_set_sink(d, &sink);
	assert_int_equal(lp_store_begin(s), 0);
	request(d, LP_CTL_DELETE, LP_CTL_OBJ_QUEUE, "dq", "", "", 0, 1);
	assert_int_equal(lp_store_commit(s), 0);
	lp_defs_destroy(d);
	lp_store_close(s);
	s = open_store();
	d = load(s);
	assert_null(lp_defs_find_queue(d, "/", "dq"));
	/* dx was auto-delete and lost its last binding as source: gone, with
	 * its own binding from amq.topic, and that cascade persisted too */
	assert_null(lp_defs_find_exchange(d, "/", "dx"));
	assert_int_equal(lp_defs_count(d, LP_DEF_BINDING), 0);
	lp_defs_destroy(d);
	lp_store_close(s);

	/* WAL + synchronous=FULL as promised */
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "test \"$(sqlite3 '%s/definitions.db' 'PRAGMA journal_mode')\" = wal",
		 dir);
	if (access("/usr/bin/sqlite3", X_OK) == 0)
		assert_int_equal(system(cmd), 0);
}

/* In a child: open, begin, declare durable queue `name`, then commit or not,
 * then _exit without closing anything (a crash). */
static void child_change(const char *name, bool commit)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char err[128];
		struct lp_store *s = lp_store_open(dir, err, sizeof(err));
		struct lp_defs *d = lp_defs_create();
		if (!s || !d || lp_store_load(s, d) < 0)
			_exit(2);
		struct lp_def_sink sink = { .change = sink_to_store, .arg = s };
		lp_defs_set_sink(d, &sink);
		if (lp_store_begin(s) < 0)
			_exit(3);
		struct lp_ctl_def_req req;
		memset(&req, 0, sizeof(req));
		req.object = LP_CTL_OBJ_QUEUE;
		req.flags = LP_CTL_F_DURABLE;
		strcpy(req.vhost, "/");
		strcpy(req.user, "guest");
		strcpy(req.name, name);
		struct lp_def_reply r;
		lp_defs_request(d, LP_CTL_DECLARE, &req, &r);
		if (r.code)
			_exit(4);
		if (commit && lp_store_commit(s) < 0)
			_exit(5);
		_exit(0);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_crash_mid_transaction(void **state)
{
	(void)state;
	struct lp_store *s = open_store();
	struct lp_defs *d = lp_defs_create();
	populate(d, s);
	lp_defs_destroy(d);
	lp_store_close(s);

	child_change("lost", false);
	child_change("kept", true);

	s = open_store();
	d = load(s);
	assert_null(lp_defs_find_queue(d, "/", "lost"));
	assert_non_null(lp_defs_find_queue(d, "/", "kept"));
	assert_non_null(lp_defs_find_queue(d, "/", "dq")); /* previous state intact */
	lp_defs_destroy(d);
	lp_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_mid_transaction, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
