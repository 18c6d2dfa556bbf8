/* SPDX-License-Identifier: MIT */
/*
 * dataplane/snapshot.c: batches from the control link become published
 * snapshots; a replaced snapshot lives until every worker has passed a
 * quiescent state, then reclaim frees it (LeakSanitizer in scripts/test's
 * build proves nothing else is left); credentials come from USER/PERMISSION.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <rte_eal.h>

#include "amqp_auth.h"
#include "topology.h"
#include "snapshot.h"

static struct lp_snapshot_publisher *pub;
static struct lp_ctl_link_handlers h;

static int group_setup(void **state)
{
	char prefix[64];
	(void)state;
	snprintf(prefix, sizeof(prefix), "--file-prefix=lp-snap-%d", (int)getpid());
	char *argv[] = {"test", "--no-huge", "-m", "128", "--no-pci", "--no-telemetry",
			"--log-level=error", prefix, "-l", "0", NULL};

	return rte_eal_init(10, argv) < 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
	(void)state;
	rte_eal_cleanup();
	return 0;
}

static int setup(void **state)
{
	(void)state;
	pub = lp_snapshot_publisher_create(2);
	if (pub == NULL)
		return -1;
	memset(&h, 0, sizeof(h));
	lp_snapshot_link_handlers(pub, &h);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	lp_snapshot_publisher_destroy(pub);
	return 0;
}

static void object(const struct lp_ctl_msg *m)
{
	h.topo_object(h.arg, m);
}

static void add_vhost(const char *name)
{
	struct lp_ctl_msg m = {.type = LP_CTL_TOPO_VHOST};

	m.topo_vhost.op = LP_CTL_OP_ADD;
	strcpy(m.topo_vhost.name, name);
	object(&m);
}

static void add_queue(const char *name)
{
	struct lp_ctl_msg m = {.type = LP_CTL_TOPO_QUEUE};

	m.topo_queue.op = LP_CTL_OP_ADD;
	strcpy(m.topo_queue.vhost, "/");
	strcpy(m.topo_queue.name, name);
	object(&m);
}

static struct lp_amqp_bytes b(const char *s)
{
	return lp_amqp_cstr(s);
}

static void initial_snapshot_has_demo_credentials(void **state)
{
	(void)state;
	const struct lp_snapshot *s = lp_snapshot_current(pub);

	assert_non_null(s);
	assert_int_equal(s->version, 0);
	assert_true(lp_amqp_auth_check(s->auth, b("guest"), b("guest")));
	assert_int_equal(lp_amqp_auth_vhost(s->auth, b("guest"), b("/")), LP_AMQP_VHOST_OK);
	assert_int_equal(lp_topology_queue_count(s->topo), 0);
}

static void batch_publishes_and_grace_period_holds_the_old_one(void **state)
{
	(void)state;
	const struct lp_snapshot *first = lp_snapshot_current(pub);

	h.topo_begin(h.arg, 1, true);
	add_vhost("/");
	add_queue("q1");
	h.topo_end(h.arg, 1);
	const struct lp_snapshot *second = lp_snapshot_current(pub);

	assert_ptr_not_equal(first, second);
	assert_int_equal(second->version, 1);
	assert_int_not_equal(lp_topology_queue_find(second->topo, "/", "q1", 2), LP_TOPOLOGY_NONE);
	/* The full batch carried no users: nobody can log in any more. */
	assert_false(lp_amqp_auth_check(second->auth, b("guest"), b("guest")));

	/* Worker 0 moved on, worker 1 may still read `first`: it must live. */
	lp_snapshot_quiescent(pub, 0);
	lp_snapshot_reclaim(pub);
	assert_true(lp_amqp_auth_check(first->auth, b("guest"), b("guest"))); /* ASan: not freed */
	lp_snapshot_quiescent(pub, 1);
	lp_snapshot_reclaim(pub); /* now freed; teardown frees the rest */

	h.topo_begin(h.arg, 2, false); /* a delta keeps what was there */
	add_queue("q2");
	h.topo_end(h.arg, 2);
	const struct lp_snapshot *third = lp_snapshot_current(pub);

	assert_int_equal(lp_topology_queue_count(third->topo), 2);
	assert_int_equal(lp_snapshot_published(pub), 3);
}

static void users_and_permissions(void **state)
{
	struct lp_ctl_msg u = {.type = LP_CTL_USER}, p = {.type = LP_CTL_PERMISSION};
	const uint8_t salt[4] = {1, 2, 3, 4};
	(void)state;
	h.topo_begin(h.arg, 1, true);
	add_vhost("/");
	add_vhost("v2");
	u.user.op = LP_CTL_OP_ADD;
	u.user.hash_alg = LP_CTL_HASH_SHA256;
	u.user.hash_len = LP_CTL_PASSWORD_HASH_LEN;
	lp_amqp_password_hash(salt, "pw", 2, u.user.hash);
	strcpy(u.user.name, "bob");
	object(&u);
	p.permission.op = LP_CTL_OP_ADD;
	strcpy(p.permission.user, "bob");
	strcpy(p.permission.vhost, "v2");
	object(&p);
	h.topo_end(h.arg, 1);
	const struct lp_snapshot *s = lp_snapshot_current(pub);

	assert_true(lp_amqp_auth_check(s->auth, b("bob"), b("pw")));
	assert_false(lp_amqp_auth_check(s->auth, b("bob"), b("px")));
	assert_int_equal(lp_amqp_auth_vhost(s->auth, b("bob"), b("v2")), LP_AMQP_VHOST_OK);
	assert_int_equal(lp_amqp_auth_vhost(s->auth, b("bob"), b("/")), LP_AMQP_VHOST_REFUSED);
	assert_int_equal(lp_amqp_auth_vhost(s->auth, b("bob"), b("v9")), LP_AMQP_VHOST_NOT_FOUND);

	h.topo_begin(h.arg, 2, false);
	u.user.op = LP_CTL_OP_DEL;
	object(&u);
	h.topo_end(h.arg, 2);
	assert_false(lp_amqp_auth_check(lp_snapshot_current(pub)->auth, b("bob"), b("pw")));
	lp_snapshot_quiescent(pub, 0);
	lp_snapshot_quiescent(pub, 1);
	lp_snapshot_reclaim(pub);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(initial_snapshot_has_demo_credentials),
		T(batch_publishes_and_grace_period_holds_the_old_one),
		T(users_and_permissions),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
