/* SPDX-License-Identifier: MIT */
/*
 * Topology builder and snapshot routing (dataplane/broker/topology.c) with
 * RabbitMQ's semantics: default exchange, direct/fanout/topic/headers,
 * exchange-to-exchange bindings (cycles end), alternate exchanges, each queue
 * once per message. Objects are fed as the TOPO messages lepus-control sends.
 * LeakSanitizer (scripts/test's build) checks every snapshot is freed whole.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "amqp_table.h"
#include "topology.h"

static struct lp_topology_builder *b;

static int setup(void **state)
{
	(void)state;
	b = lp_topology_builder_create();
	return b == NULL;
}

static int teardown(void **state)
{
	(void)state;
	lp_topology_builder_destroy(b);
	return 0;
}

static int vhost(uint8_t op, const char *name)
{
	struct lp_ctl_msg m = {.type = LP_CTL_TOPO_VHOST};

	m.topo_vhost.op = op;
	strcpy(m.topo_vhost.name, name);
	return lp_topology_builder_apply(b, &m);
}

static int exchange(uint8_t op, const char *name, uint8_t type, uint8_t flags, const char *ae)
{
	struct lp_ctl_msg m = {.type = LP_CTL_TOPO_EXCHANGE};

	m.topo_exchange.op = op;
	m.topo_exchange.type = type;
	m.topo_exchange.flags = flags;
	strcpy(m.topo_exchange.vhost, "/");
	strcpy(m.topo_exchange.name, name);
	strcpy(m.topo_exchange.alternate, ae);
	return lp_topology_builder_apply(b, &m);
}

static int queue(uint8_t op, const char *name, uint16_t shard)
{
	struct lp_ctl_msg m = {.type = LP_CTL_TOPO_QUEUE};

	m.topo_queue.op = op;
	m.topo_queue.owner_shard = shard;
	strcpy(m.topo_queue.vhost, "/");
	strcpy(m.topo_queue.name, name);
	return lp_topology_builder_apply(b, &m);
}

static int bind_args(uint8_t op, const char *src, uint8_t kind, const char *dst, const char *key,
		     const uint8_t *args, uint16_t args_len)
{
	struct lp_ctl_msg m = {.type = LP_CTL_TOPO_BINDING};

	m.topo_binding.op = op;
	m.topo_binding.dest_kind = kind;
	strcpy(m.topo_binding.vhost, "/");
	strcpy(m.topo_binding.source, src);
	strcpy(m.topo_binding.destination, dst);
	strcpy(m.topo_binding.routing_key, key);
	m.topo_binding.args = args;
	m.topo_binding.args_len = args_len;
	return lp_topology_builder_apply(b, &m);
}

static int bind_q(const char *src, const char *q, const char *key)
{
	return bind_args(LP_CTL_OP_ADD, src, LP_CTL_OBJ_QUEUE, q, key, NULL, 0);
}

static int bind_x(const char *src, const char *x, const char *key)
{
	return bind_args(LP_CTL_OP_ADD, src, LP_CTL_OBJ_EXCHANGE, x, key, NULL, 0);
}

/* Route and return the routed queue names joined with ',' (sorted by index). */
static const char *route(const struct lp_topology *t, const char *x, const char *key,
			 struct lp_amqp_bytes headers)
{
	static char out[512];
	uint32_t q[32];
	uint32_t xi = lp_topology_exchange_find(t, "/", x, strlen(x));

	assert_int_not_equal(xi, LP_TOPOLOGY_NONE);
	int n = lp_topology_route(t, xi, key, strlen(key), headers, q, 32);

	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (i)
			strcat(out, ",");
		strcat(out, lp_topology_queue(t, q[i])->name);
	}
	return out;
}

#define NOHDR ((struct lp_amqp_bytes){0})

static void base(void)
{
	assert_int_equal(vhost(LP_CTL_OP_ADD, "/"), 0);
	assert_int_equal(exchange(LP_CTL_OP_ADD, "", LP_CTL_XT_DIRECT, LP_CTL_X_DURABLE, ""), 0);
	for (char name[] = "q0"; name[1] < '9'; name[1]++)
		assert_int_equal(queue(LP_CTL_OP_ADD, name, 0), 0);
}

static void default_exchange_routes_by_queue_name(void **state)
{
	(void)state;
	base();
	struct lp_topology *t = lp_topology_build(b, 7);

	assert_int_equal(lp_topology_version(t), 7);
	assert_true(lp_topology_has_vhost(t, "/"));
	assert_false(lp_topology_has_vhost(t, "other"));
	assert_string_equal(route(t, "", "q3", NOHDR), "q3");
	assert_string_equal(route(t, "", "nope", NOHDR), "");
	assert_int_equal(lp_topology_exchange_find(t, "other", "", 0), LP_TOPOLOGY_NONE);
	/* Names are (bytes, length): a routing key need not be NUL-terminated. */
	assert_int_equal(lp_topology_queue_find(t, "/", "q3x", 2), lp_topology_queue_find(t, "/", "q3", 2));
	assert_int_equal(lp_topology_queue_find(t, "/", "q3x", 3), LP_TOPOLOGY_NONE);
	lp_topology_free(t);
}

static void direct_fanout_and_dedup(void **state)
{
	(void)state;
	base();
	assert_int_equal(exchange(LP_CTL_OP_ADD, "d", LP_CTL_XT_DIRECT, 0, ""), 0);
	assert_int_equal(bind_q("d", "q1", "info"), 0);
	assert_int_equal(bind_q("d", "q2", "info"), 0);
	assert_int_equal(bind_q("d", "q2", "warn"), 0);
	assert_int_equal(bind_q("d", "q3", "error"), 0);
	assert_int_equal(bind_q("d", "q3", "error"), -EEXIST);
	assert_int_equal(exchange(LP_CTL_OP_ADD, "f", LP_CTL_XT_FANOUT, 0, ""), 0);
	for (char name[] = "q1"; name[1] < '9'; name[1]++)
		assert_int_equal(bind_q("f", name, "ignored"), 0);
	struct lp_topology *t = lp_topology_build(b, 1);

	assert_string_equal(route(t, "d", "info", NOHDR), "q1,q2");
	assert_string_equal(route(t, "d", "warn", NOHDR), "q2");
	assert_string_equal(route(t, "d", "inf", NOHDR), "");
	assert_string_equal(route(t, "f", "anything", NOHDR), "q1,q2,q3,q4,q5,q6,q7,q8");
	lp_topology_free(t);
}

static void topic_and_headers(void **state)
{
	uint8_t args[64], hdr[64];
	struct lp_amqp_wr w;
	size_t mark;
	(void)state;
	base();
	assert_int_equal(exchange(LP_CTL_OP_ADD, "t", LP_CTL_XT_TOPIC, 0, ""), 0);
	assert_int_equal(bind_q("t", "q1", "*.orange.*"), 0);
	assert_int_equal(bind_q("t", "q2", "*.*.rabbit"), 0);
	assert_int_equal(bind_q("t", "q2", "lazy.#"), 0);
	assert_int_equal(exchange(LP_CTL_OP_ADD, "h", LP_CTL_XT_HEADERS, 0, ""), 0);
	lp_amqp_wr_init(&w, args, sizeof(args));
	lp_amqp_wr_table_begin(&w, &mark);
	lp_amqp_wr_field_str(&w, "x-match", "any");
	lp_amqp_wr_field_str(&w, "format", "pdf");
	lp_amqp_wr_table_end(&w, mark);
	assert_int_equal(bind_args(LP_CTL_OP_ADD, "h", LP_CTL_OBJ_QUEUE, "q4", "", args + 4,
				   (uint16_t)(w.off - 4)), 0);
	struct lp_topology *t = lp_topology_build(b, 1);

	assert_string_equal(route(t, "t", "quick.orange.rabbit", NOHDR), "q1,q2");
	assert_string_equal(route(t, "t", "lazy.brown.fox", NOHDR), "q2");
	assert_string_equal(route(t, "t", "quick.brown.fox", NOHDR), "");
	lp_amqp_wr_init(&w, hdr, sizeof(hdr));
	lp_amqp_wr_table_begin(&w, &mark);
	lp_amqp_wr_field_str(&w, "format", "pdf");
	lp_amqp_wr_table_end(&w, mark);
	assert_string_equal(route(t, "h", "", (struct lp_amqp_bytes){hdr + 4, (uint32_t)(w.off - 4)}),
			    "q4");
	assert_string_equal(route(t, "h", "", NOHDR), "");
	lp_topology_free(t);
}

static void exchange_to_exchange_and_cycles(void **state)
{
	(void)state;
	base();
	assert_int_equal(exchange(LP_CTL_OP_ADD, "up", LP_CTL_XT_FANOUT, 0, ""), 0);
	assert_int_equal(exchange(LP_CTL_OP_ADD, "down", LP_CTL_XT_DIRECT, 0, ""), 0);
	assert_int_equal(bind_x("up", "down", ""), 0);
	assert_int_equal(bind_x("down", "up", "loop"), 0); /* a cycle */
	assert_int_equal(bind_q("down", "q1", "k"), 0);
	assert_int_equal(bind_q("down", "q2", "loop"), 0);
	assert_int_equal(bind_q("up", "q2", ""), 0);
	struct lp_topology *t = lp_topology_build(b, 1);

	assert_string_equal(route(t, "up", "k", NOHDR), "q1,q2");
	assert_string_equal(route(t, "down", "loop", NOHDR), "q2"); /* once, despite two paths */
	lp_topology_free(t);
}

static void alternate_exchange(void **state)
{
	(void)state;
	base();
	assert_int_equal(exchange(LP_CTL_OP_ADD, "ae", LP_CTL_XT_FANOUT, 0, ""), 0);
	assert_int_equal(exchange(LP_CTL_OP_ADD, "main", LP_CTL_XT_DIRECT, 0, "ae"), 0);
	assert_int_equal(bind_q("ae", "q8", ""), 0);
	assert_int_equal(bind_q("main", "q1", "known"), 0);
	struct lp_topology *t = lp_topology_build(b, 1);

	assert_string_equal(route(t, "main", "known", NOHDR), "q1");
	assert_string_equal(route(t, "main", "unknown", NOHDR), "q8");
	lp_topology_free(t);
}

static void deletions_and_internal(void **state)
{
	(void)state;
	base();
	assert_int_equal(exchange(LP_CTL_OP_ADD, "i", LP_CTL_XT_FANOUT, LP_CTL_X_INTERNAL, ""), 0);
	assert_int_equal(bind_q("i", "q1", ""), 0);
	assert_int_equal(bind_q("i", "q2", ""), 0);
	assert_int_equal(queue(LP_CTL_OP_ADD, "q1", 1), -EEXIST);
	assert_int_equal(queue(LP_CTL_OP_DEL, "q2", 0), 0);
	assert_int_equal(queue(LP_CTL_OP_DEL, "q2", 0), -ENOENT);
	assert_int_equal(bind_args(LP_CTL_OP_DEL, "i", LP_CTL_OBJ_QUEUE, "q9", "", NULL, 0), -ENOENT);
	assert_int_equal(exchange(LP_CTL_OP_ADD, "bad", 9, 0, ""), -EINVAL);
	struct lp_topology *t = lp_topology_build(b, 2);
	uint32_t xi = lp_topology_exchange_find(t, "/", "i", 1);

	assert_true(lp_topology_exchange_internal(t, xi));
	/* The binding to q2 outlived q2 in this batch: it routes nowhere. */
	assert_string_equal(route(t, "i", "", NOHDR), "q1");
	assert_int_equal(lp_topology_queue(t, lp_topology_queue_find(t, "/", "q1", 2))->owner_shard, 0);
	lp_topology_free(t);

	lp_topology_builder_clear(b); /* a full batch starts from nothing */
	t = lp_topology_build(b, 3);
	assert_int_equal(lp_topology_queue_count(t), 0);
	assert_false(lp_topology_has_vhost(t, "/"));
	lp_topology_free(t);
}

static void many_queues_index(void **state)
{
	char name[32];
	(void)state;
	assert_int_equal(vhost(LP_CTL_OP_ADD, "/"), 0);
	assert_int_equal(exchange(LP_CTL_OP_ADD, "", LP_CTL_XT_DIRECT, 0, ""), 0);
	for (int i = 0; i < 2000; i++) {
		snprintf(name, sizeof(name), "queue-%d", i);
		assert_int_equal(queue(LP_CTL_OP_ADD, name, (uint16_t)(i % 2)), 0);
	}
	struct lp_topology *t = lp_topology_build(b, 1);

	for (int i = 0; i < 2000; i += 7) {
		snprintf(name, sizeof(name), "queue-%d", i);
		assert_string_equal(route(t, "", name, NOHDR), name);
	}
	lp_topology_free(t);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(default_exchange_routes_by_queue_name), T(direct_fanout_and_dedup),
		T(topic_and_headers), T(exchange_to_exchange_and_cycles), T(alternate_exchange),
		T(deletions_and_internal), T(many_queues_index),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
