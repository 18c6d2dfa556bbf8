/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of lepus-control's definitions (control/definitions.c): a table
 * of declarations run in order against one model, each with the reply code
 * and the exact reply text RabbitMQ 3.10.8 sends (read from its beam files'
 * format strings: rabbit_channel, rabbit_amqqueue, rabbit_exchange,
 * rabbit_misc, rabbit_access_control); server-named queues; exclusive and
 * auto-delete lifecycles with their cascades, checked through the sink's
 * change log; password hashing against RabbitMQ's documented example.
 * Leaks: the model is destroyed after each test (ASan/LSan in the
 * sanitize build), and object counts are checked to return to the defaults.
 */
#include <errno.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "definitions.h"
#include "password.h"
#include "queue_stats.h"

/* ---- an AMQP field table body builder (spec 4.2.5.5) ------------------- */

struct tbl {
	uint8_t b[512];
	uint16_t n;
};

static void key(struct tbl *t, const char *k)
{
	t->b[t->n++] = (uint8_t)strlen(k);
	memcpy(t->b + t->n, k, strlen(k));
	t->n += (uint16_t)strlen(k);
}

static void put_int(struct tbl *t, const char *k, int32_t v) /* 'I' signedint */
{
	key(t, k);
	t->b[t->n++] = 'I';
	for (int i = 3; i >= 0; i--)
		t->b[t->n++] = (uint8_t)((uint32_t)v >> (8 * i));
}

static void put_long(struct tbl *t, const char *k, int64_t v) /* 'l' long */
{
	key(t, k);
	t->b[t->n++] = 'l';
	for (int i = 7; i >= 0; i--)
		t->b[t->n++] = (uint8_t)((uint64_t)v >> (8 * i));
}

static void put_str(struct tbl *t, const char *k, const char *v) /* 'S' longstr */
{
	key(t, k);
	t->b[t->n++] = 'S';
	uint32_t len = (uint32_t)strlen(v);
	for (int i = 3; i >= 0; i--)
		t->b[t->n++] = (uint8_t)(len >> (8 * i));
	memcpy(t->b + t->n, v, len);
	t->n += (uint16_t)len;
}

/* ---- the change log (sink) --------------------------------------------- */

struct change {
	uint8_t op;
	enum lp_def_kind kind;
	char name[LP_DEF_NAME_MAX + 1];
};

static struct change changes[256];
static unsigned n_changes;

static void on_change(void *arg, uint8_t op, enum lp_def_kind kind, const void *obj)
{
	(void)arg;
	if (n_changes >= 256)
		return;
	struct change *c = &changes[n_changes++];
	c->op = op;
	c->kind = kind;
	const char *name = "";
	switch (kind) {
	case LP_DEF_VHOST: name = ((const struct lp_def_vhost *)obj)->name; break;
	case LP_DEF_USER: name = ((const struct lp_def_user *)obj)->name; break;
	case LP_DEF_PERMISSION: name = ((const struct lp_def_permission *)obj)->user; break;
	case LP_DEF_EXCHANGE: name = ((const struct lp_def_exchange *)obj)->name; break;
	case LP_DEF_QUEUE: name = ((const struct lp_def_queue *)obj)->name; break;
	case LP_DEF_BINDING: name = ((const struct lp_def_binding *)obj)->destination; break;
	}
	snprintf(c->name, sizeof(c->name), "%s", name);
}

static bool changed(uint8_t op, enum lp_def_kind kind, const char *name)
{
	for (unsigned i = 0; i < n_changes; i++)
		if (changes[i].op == op && changes[i].kind == kind && strcmp(changes[i].name, name) == 0)
			return true;
	return false;
}

/* ---- requests ---------------------------------------------------------- */

enum { X = LP_CTL_OBJ_EXCHANGE, Q = LP_CTL_OBJ_QUEUE };
enum { DECL = LP_CTL_DECLARE, DEL = LP_CTL_DELETE, BIND = LP_CTL_BIND, UNBIND = LP_CTL_UNBIND,
       PURGE = LP_CTL_PURGE };

struct step {
	const char *what;
	uint16_t type;
	uint8_t object;
	uint64_t conn;
	const char *user; /* NULL: guest */
	const char *vhost; /* NULL: "/" */
	const char *name;
	const char *source;
	const char *xtype;
	uint16_t flags;
	int args; /* index into make_args() */
	uint32_t messages, consumers;
	uint16_t code;
	const char *text;
	uint8_t status;
};

enum {
	A_NONE, A_TTL1000, A_TTL2000, A_MAXLEN10, A_CLASSIC, A_DLX, A_AE1, A_AE2, A_MAXLEN_NEG,
	A_DLX_INT, A_TTL1000_LONG, A_PRIO300, A_EXPIRES0, A_QUORUM, A_EXPIRES500,
};

static struct tbl make_args(int which)
{
	struct tbl t = { .n = 0 };
	switch (which) {
	case A_TTL1000: put_int(&t, "x-message-ttl", 1000); break;
	case A_TTL2000: put_int(&t, "x-message-ttl", 2000); break;
	case A_MAXLEN10: put_int(&t, "x-max-length", 10); break;
	case A_CLASSIC: put_str(&t, "x-queue-type", "classic"); break;
	case A_DLX: put_str(&t, "x-dead-letter-exchange", "dlx"); break;
	case A_AE1: put_str(&t, "alternate-exchange", "ae1"); break;
	case A_AE2: put_str(&t, "alternate-exchange", "ae2"); break;
	case A_MAXLEN_NEG: put_int(&t, "x-max-length", -1); break;
	case A_DLX_INT: put_int(&t, "x-dead-letter-exchange", 5); break;
	case A_TTL1000_LONG: put_long(&t, "x-message-ttl", 1000); break;
	case A_PRIO300: put_int(&t, "x-max-priority", 300); break;
	case A_EXPIRES0: put_int(&t, "x-expires", 0); break;
	case A_QUORUM: put_str(&t, "x-queue-type", "quorum"); break;
	case A_EXPIRES500: put_int(&t, "x-expires", 500); break;
	default: break;
	}
	return t;
}

static void run_step(struct lp_defs *d, const struct step *s, struct lp_def_reply *r)
{
	struct lp_ctl_def_req req;
	memset(&req, 0, sizeof(req));
	struct tbl t = make_args(s->args);
	req.conn_id = s->conn ? s->conn : 1;
	req.worker = 1;
	req.object = s->object;
	req.flags = s->flags;
	req.message_count = s->messages;
	req.consumer_count = s->consumers;
	snprintf(req.vhost, sizeof(req.vhost), "%s", s->vhost ? s->vhost : "/");
	snprintf(req.user, sizeof(req.user), "%s", s->user ? s->user : "guest");
	snprintf(req.name, sizeof(req.name), "%s", s->name ? s->name : "");
	snprintf(req.source, sizeof(req.source), "%s", s->source ? s->source : "");
	snprintf(req.type, sizeof(req.type), "%s", s->xtype ? s->xtype : "");
	snprintf(req.routing_key, sizeof(req.routing_key), "%s", "rk");
	req.args = t.b;
	req.args_len = t.n;
	lp_defs_request(d, s->type, &req, r);
}

#define P LP_CTL_F_PASSIVE
#define D LP_CTL_F_DURABLE
#define AD LP_CTL_F_AUTO_DELETE
#define IN LP_CTL_F_INTERNAL
#define EX LP_CTL_F_EXCLUSIVE
#define IU LP_CTL_F_IF_UNUSED
#define IE LP_CTL_F_IF_EMPTY
#define CN LP_CTL_F_COUNTS

static const struct step rules[] = {
	/* set-up */
	{ "durable queue", DECL, Q, .name = "dq", .flags = D },
	{ "plain queue", DECL, Q, .name = "pq" },
	{ "queue with ttl", DECL, Q, .name = "ttlq", .args = A_TTL1000 },
	{ "exclusive queue of conn 1", DECL, Q, .name = "excl", .flags = EX },
	{ "direct exchange", DECL, X, .name = "dx", .xtype = "direct" },
	{ "exchange with AE", DECL, X, .name = "aex", .xtype = "fanout", .args = A_AE1 },
	{ "bind pq to dx", BIND, Q, .name = "pq", .source = "dx" },
	{ "bob's own queue", DECL, Q, .user = "bob", .name = "bob.q" },
	/* equivalent redeclarations succeed */
	{ "same dq again", DECL, Q, .name = "dq", .flags = D },
	{ "same dx again", DECL, X, .name = "dx", .xtype = "direct" },
	{ "amq.direct redeclared as is", DECL, X, .name = "amq.direct", .xtype = "direct", .flags = D },
	{ "ttl as long equals signedint", DECL, Q, .name = "ttlq", .args = A_TTL1000_LONG },
	{ "exclusive redeclared by owner", DECL, Q, .name = "excl", .flags = EX },
	{ "passive dq", DECL, Q, .name = "dq", .flags = P },
	{ "passive default exchange... refused", DECL, X, .name = "", .flags = P, .code = 403,
	  .text = "ACCESS_REFUSED - operation not permitted on the default exchange" },
	/* 404 */
	{ "passive missing queue", DECL, Q, .name = "q", .flags = P, .code = 404,
	  .text = "NOT_FOUND - no queue 'q' in vhost '/'" },
	{ "passive missing exchange", DECL, X, .name = "nx", .flags = P, .code = 404,
	  .text = "NOT_FOUND - no exchange 'nx' in vhost '/'" },
	{ "bind to missing exchange", BIND, Q, .name = "pq", .source = "nox", .code = 404,
	  .text = "NOT_FOUND - no exchange 'nox' in vhost '/'" },
	{ "bind missing queue", BIND, Q, .name = "noq", .source = "dx", .code = 404,
	  .text = "NOT_FOUND - no queue 'noq' in vhost '/'" },
	{ "exchange-bind missing destination", BIND, X, .name = "nodx", .source = "dx", .code = 404,
	  .text = "NOT_FOUND - no exchange 'nodx' in vhost '/'" },
	{ "purge missing queue", PURGE, Q, .name = "noq", .code = 404,
	  .text = "NOT_FOUND - no queue 'noq' in vhost '/'" },
	{ "bind with empty queue name", BIND, Q, .name = "", .source = "dx", .code = 404,
	  .text = "NOT_FOUND - no previously declared queue" },
	/* 406 equivalence */
	{ "durable mismatch", DECL, Q, .name = "dq", .code = 406,
	  .text = "PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'dq' in vhost '/': "
		  "received 'false' but current is 'true'" },
	{ "auto_delete mismatch (queue)", DECL, Q, .name = "pq", .flags = AD, .code = 406,
	  .text = "PRECONDITION_FAILED - inequivalent arg 'auto_delete' for queue 'pq' in vhost "
		  "'/': received 'true' but current is 'false'" },
	{ "exchange type mismatch", DECL, X, .name = "dx", .xtype = "fanout", .code = 406,
	  .text = "PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'dx' in vhost '/': "
		  "received 'fanout' but current is 'direct'" },
	{ "exchange durable mismatch", DECL, X, .name = "dx", .xtype = "direct", .flags = D,
	  .code = 406,
	  .text = "PRECONDITION_FAILED - inequivalent arg 'durable' for exchange 'dx' in vhost "
		  "'/': received 'true' but current is 'false'" },
	{ "exchange auto_delete mismatch", DECL, X, .name = "dx", .xtype = "direct", .flags = AD,
	  .code = 406,
	  .text = "PRECONDITION_FAILED - inequivalent arg 'auto_delete' for exchange 'dx' in vhost "
		  "'/': received 'true' but current is 'false'" },
	{ "exchange internal mismatch", DECL, X, .name = "dx", .xtype = "direct", .flags = IN,
	  .code = 406,
	  .text = "PRECONDITION_FAILED - inequivalent arg 'internal' for exchange 'dx' in vhost "
		  "'/': received 'true' but current is 'false'" },
	{ "x-message-ttl differs", DECL, Q, .name = "ttlq", .args = A_TTL2000, .code = 406,
	  .text = "PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue 'ttlq' in "
		  "vhost '/': received '2000' but current is '1000'" },
	{ "x-message-ttl missing", DECL, Q, .name = "ttlq", .code = 406,
	  .text = "PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue 'ttlq' in "
		  "vhost '/': received none but current is the value '1000' of type 'signedint'" },
	{ "x-max-length added", DECL, Q, .name = "pq", .args = A_MAXLEN10, .code = 406,
	  .text = "PRECONDITION_FAILED - inequivalent arg 'x-max-length' for queue 'pq' in vhost "
		  "'/': received the value '10' of type 'signedint' but current is none" },
	{ "x-queue-type added", DECL, Q, .name = "pq", .args = A_CLASSIC, .code = 406,
	  .text = "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'pq' in vhost "
		  "'/': received the value 'classic' of type 'longstr' but current is none" },
	{ "x-dead-letter-exchange added", DECL, Q, .name = "pq", .args = A_DLX, .code = 406,
	  .text = "PRECONDITION_FAILED - inequivalent arg 'x-dead-letter-exchange' for queue 'pq' "
		  "in vhost '/': received the value 'dlx' of type 'longstr' but current is none" },
	{ "alternate-exchange differs", DECL, X, .name = "aex", .xtype = "fanout", .args = A_AE2,
	  .code = 406,
	  .text = "PRECONDITION_FAILED - inequivalent arg 'alternate-exchange' for exchange 'aex' "
		  "in vhost '/': received 'ae2' but current is 'ae1'" },
	/* 406 argument validation of new queues */
	{ "negative x-max-length", DECL, Q, .name = "neg", .args = A_MAXLEN_NEG, .code = 406,
	  .text = "PRECONDITION_FAILED - invalid arg 'x-max-length' for queue 'neg' in vhost '/': "
		  "{value_negative,-1}" },
	{ "x-max-priority too large", DECL, Q, .name = "prio", .args = A_PRIO300, .code = 406,
	  .text = "PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue 'prio' in vhost "
		  "'/': {max_value_exceeded,300}" },
	{ "x-expires zero", DECL, Q, .name = "exp", .args = A_EXPIRES0, .code = 406,
	  .text = "PRECONDITION_FAILED - invalid arg 'x-expires' for queue 'exp' in vhost '/': "
		  "{value_zero,0}" },
	{ "dead-letter exchange not a string", DECL, Q, .name = "dlq", .args = A_DLX_INT,
	  .code = 406,
	  .text = "PRECONDITION_FAILED - invalid type 'signedint' for arg 'x-dead-letter-exchange' "
		  "in queue 'dlq' in vhost '/'" },
	/* 405 */
	{ "exclusive queue of another connection", DECL, Q, .conn = 2, .name = "excl", .flags = EX,
	  .code = 405,
	  .text = "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue 'excl' in vhost "
		  "'/'. It could be originally declared on another connection or the exclusive "
		  "property value does not match that of the original declaration." },
	{ "exclusive flag differs (owner)", DECL, Q, .name = "excl", .code = 405,
	  .text = "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue 'excl' in vhost "
		  "'/'. It could be originally declared on another connection or the exclusive "
		  "property value does not match that of the original declaration." },
	{ "exclusive asked of a shared queue", DECL, Q, .name = "pq", .flags = EX, .code = 405,
	  .text = "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue 'pq' in vhost "
		  "'/'. It could be originally declared on another connection or the exclusive "
		  "property value does not match that of the original declaration." },
	{ "passive exclusive of another connection", DECL, Q, .conn = 2, .name = "excl", .flags = P,
	  .code = 405,
	  .text = "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue 'excl' in vhost "
		  "'/'. It could be originally declared on another connection or the exclusive "
		  "property value does not match that of the original declaration." },
	{ "bind another connection's exclusive queue", BIND, Q, .conn = 2, .name = "excl",
	  .source = "dx", .code = 405,
	  .text = "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue 'excl' in vhost "
		  "'/'. It could be originally declared on another connection or the exclusive "
		  "property value does not match that of the original declaration." },
	/* 403 */
	{ "amq. exchange name", DECL, X, .name = "amq.x", .xtype = "direct", .code = 403,
	  .text = "ACCESS_REFUSED - exchange name 'amq.x' contains reserved prefix 'amq.*'" },
	{ "amq. queue name", DECL, Q, .name = "amq.q", .code = 403,
	  .text = "ACCESS_REFUSED - queue name 'amq.q' contains reserved prefix 'amq.*'" },
	{ "declare the default exchange", DECL, X, .name = "", .xtype = "direct", .code = 403,
	  .text = "ACCESS_REFUSED - operation not permitted on the default exchange" },
	{ "delete the default exchange", DEL, X, .name = "", .code = 403,
	  .text = "ACCESS_REFUSED - operation not permitted on the default exchange" },
	{ "bind to the default exchange", BIND, Q, .name = "pq", .source = "", .code = 403,
	  .text = "ACCESS_REFUSED - operation not permitted on the default exchange" },
	{ "delete amq.direct", DEL, X, .name = "amq.direct", .code = 403,
	  .text = "ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '/' not "
		  "allowed" },
	{ "configure refused", DECL, Q, .user = "bob", .name = "q1", .code = 403,
	  .text = "ACCESS_REFUSED - access to queue 'q1' in vhost '/' refused for user 'bob'" },
	{ "write refused on bind", BIND, Q, .user = "bob", .name = "bob.q", .source = "amq.direct",
	  .code = 403,
	  .text = "ACCESS_REFUSED - access to queue 'bob.q' in vhost '/' refused for user 'bob'" },
	{ "user without permissions on vhost", DECL, X, .user = "eve", .name = "e", .xtype = "topic",
	  .code = 403,
	  .text = "ACCESS_REFUSED - access to exchange 'e' in vhost '/' refused for user 'eve'" },
	/* 503, 530 */
	{ "unknown exchange type", DECL, X, .name = "ux", .xtype = "x-foo", .code = 503,
	  .text = "COMMAND_INVALID - unknown exchange type 'x-foo'" },
	{ "unknown vhost", DECL, Q, .vhost = "nv", .name = "q", .code = 530,
	  .text = "NOT_ALLOWED - vhost nv not found" },
	{ "quorum queue (Lepus: classic only)", DECL, Q, .name = "qq", .args = A_QUORUM, .code = 406,
	  .text = "PRECONDITION_FAILED - invalid arg 'x-queue-type' for queue 'qq' in vhost '/': "
		  "quorum queues are not supported by Lepus yet (only classic)" },
	/* deletes */
	{ "exchange delete if-unused, bound", DEL, X, .name = "dx", .flags = IU, .code = 406,
	  .text = "PRECONDITION_FAILED - exchange 'dx' in vhost '/' in use" },
	{ "queue delete if-unused asks for counts", DEL, Q, .name = "pq", .flags = IU,
	  .status = LP_CTL_RES_NEED_COUNTS },
	{ "queue delete if-unused with a consumer", DEL, Q, .name = "pq", .flags = IU | CN,
	  .consumers = 1, .code = 406,
	  .text = "PRECONDITION_FAILED - queue 'pq' in vhost '/' in use" },
	{ "queue delete if-empty with messages", DEL, Q, .name = "pq", .flags = IE | CN,
	  .messages = 3, .code = 406,
	  .text = "PRECONDITION_FAILED - queue 'pq' in vhost '/' not empty" },
	{ "delete another connection's exclusive queue", DEL, Q, .conn = 2, .name = "excl",
	  .code = 405,
	  .text = "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue 'excl' in vhost "
		  "'/'. It could be originally declared on another connection or the exclusive "
		  "property value does not match that of the original declaration." },
	{ "delete a missing queue succeeds", DEL, Q, .name = "noq" },
	{ "delete a missing exchange succeeds", DEL, X, .name = "nox" },
	{ "unbind what is not bound succeeds", UNBIND, Q, .name = "dq", .source = "dx" },
	{ "queue delete if-unused, counts zero", DEL, Q, .name = "pq", .flags = IU | IE | CN },
	{ "then dx is unused", DEL, X, .name = "dx", .flags = IU },
};

static struct lp_defs *fresh(void)
{
	struct lp_defs *d = lp_defs_create();
	assert_non_null(d);
	assert_int_equal(lp_defs_add_defaults(d), 0);
	uint8_t h[LP_PASSWORD_HASH_LEN];
	assert_int_equal(lp_password_hash("pw", 2, NULL, h), 0);
	assert_int_equal(lp_defs_add_user(d, "bob", h, "", NULL, 0), 0);
	assert_int_equal(lp_defs_set_permissions(d, "bob", "/", "^bob\\.", "^amq\\.", ".*", NULL, 0), 0);
	assert_int_equal(lp_defs_add_user(d, "eve", h, "", NULL, 0), 0);
	n_changes = 0;
	struct lp_def_sink sink = { .change = on_change };
	lp_defs_set_sink(d, &sink);
	return d;
}

static void test_rules_table(void **state)
{
	(void)state;
	struct lp_defs *d = fresh();
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		const struct step *s = &rules[i];
		struct lp_def_reply r;
		run_step(d, s, &r);
		if (r.code != s->code || strcmp(r.text, s->text ? s->text : "") != 0 ||
		    r.status != s->status)
			fail_msg("step %zu (%s): got %u '%s' status %u\n  expected %u '%s' status %u", i,
				 s->what, r.code, r.text, r.status, s->code, s->text ? s->text : "",
				 s->status);
	}
	/* the last two steps deleted pq (with its binding) and dx */
	assert_null(lp_defs_find_queue(d, "/", "pq"));
	assert_null(lp_defs_find_exchange(d, "/", "dx"));
	assert_true(changed(LP_CTL_OP_DEL, LP_DEF_BINDING, "pq"));
	lp_defs_destroy(d);
}

static void test_server_named_queue(void **state)
{
	(void)state;
	struct lp_defs *d = fresh();
	regex_t re;
	assert_int_equal(regcomp(&re, "^amq\\.gen-[A-Za-z0-9_-]{22}$", REG_EXTENDED | REG_NOSUB), 0);
	char first[LP_DEF_NAME_MAX + 1] = "";
	for (int i = 0; i < 2; i++) {
		struct step s = { "server-named", DECL, Q, .name = "", .flags = EX };
		struct lp_def_reply r;
		run_step(d, &s, &r);
		assert_int_equal(r.code, 0);
		assert_int_equal(strlen(r.queue), 30);
		if (regexec(&re, r.queue, 0, NULL, 0) != 0)
			fail_msg("bad server-generated name '%s'", r.queue);
		assert_non_null(lp_defs_find_queue(d, "/", r.queue));
		assert_int_equal(r.owner_shard, 1);
		if (i == 0)
			strcpy(first, r.queue);
		else
			assert_string_not_equal(first, r.queue);
	}
	/* a client may not redeclare it non-passively (amq. prefix), but may passively */
	struct step again = { "redeclare", DECL, Q, .name = first };
	struct lp_def_reply r;
	run_step(d, &again, &r);
	assert_int_equal(r.code, 403);
	again.flags = P;
	run_step(d, &again, &r);
	assert_int_equal(r.code, 0);
	regfree(&re);
	lp_defs_destroy(d);
}

static void test_exclusive_lifecycle(void **state)
{
	(void)state;
	struct lp_defs *d = fresh();
	unsigned queues0 = lp_defs_count(d, LP_DEF_QUEUE), bindings0 = lp_defs_count(d, LP_DEF_BINDING);
	struct lp_def_reply r;
	struct step s1 = { "exclusive durable", DECL, Q, .conn = 7, .name = "e1", .flags = EX | D };
	run_step(d, &s1, &r);
	assert_int_equal(r.code, 0);
	/* rabbit_channel: exclusive queues are never durable */
	assert_false(lp_defs_find_queue(d, "/", "e1")->durable);
	struct step s2 = { "exclusive 2", DECL, Q, .conn = 7, .name = "e2", .flags = EX };
	struct step s3 = { "other conn", DECL, Q, .conn = 8, .name = "e3", .flags = EX };
	struct step b1 = { "bind", BIND, Q, .conn = 7, .name = "e1", .source = "amq.direct" };
	run_step(d, &s2, &r);
	run_step(d, &s3, &r);
	run_step(d, &b1, &r);
	assert_int_equal(r.code, 0);
	assert_int_equal(lp_defs_count(d, LP_DEF_BINDING), bindings0 + 1);
	n_changes = 0;
	assert_int_equal(lp_defs_connection_closed(d, 7), 2);
	assert_null(lp_defs_find_queue(d, "/", "e1"));
	assert_null(lp_defs_find_queue(d, "/", "e2"));
	assert_non_null(lp_defs_find_queue(d, "/", "e3"));
	assert_true(changed(LP_CTL_OP_DEL, LP_DEF_BINDING, "e1"));
	assert_true(changed(LP_CTL_OP_DEL, LP_DEF_QUEUE, "e2"));
	assert_int_equal(lp_defs_count(d, LP_DEF_BINDING), bindings0);
	assert_int_equal(lp_defs_connection_closed(d, 7), 0);
	/* a new dataplane: every exclusive queue goes */
	assert_int_equal(lp_defs_drop_exclusive(d), 1);
	assert_int_equal(lp_defs_count(d, LP_DEF_QUEUE), queues0);
	lp_defs_destroy(d);
}

static void test_auto_delete_lifecycle(void **state)
{
	(void)state;
	struct lp_defs *d = fresh();
	unsigned exchanges0 = lp_defs_count(d, LP_DEF_EXCHANGE);
	struct lp_def_reply r;
	const struct step steps[] = {
		{ "ad queue", DECL, Q, .name = "adq", .flags = AD },
		{ "plain queue", DECL, Q, .name = "q" },
		{ "expiring queue", DECL, Q, .name = "expq", .args = A_EXPIRES500 },
		{ "ad exchange", DECL, X, .name = "adx", .xtype = "topic", .flags = AD },
		{ "ad exchange 2", DECL, X, .name = "adx2", .xtype = "fanout", .flags = AD },
		{ "bind q", BIND, Q, .name = "q", .source = "adx" },
		{ "bind adq", BIND, Q, .name = "adq", .source = "adx" },
		{ "e2e bind adx2 -> adx", BIND, X, .name = "adx", .source = "adx2" },
	};
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		run_step(d, &steps[i], &r);
		if (r.code)
			fail_msg("%s: %s", steps[i].what, r.text);
	}
	/* an auto-delete exchange with no binding yet stays */
	assert_int_equal(lp_defs_queue_unused(d, "/", "q", false), -EPERM);
	assert_int_equal(lp_defs_queue_unused(d, "/", "nope", false), -ENOENT);
	assert_int_equal(lp_defs_queue_unused(d, "/", "adq", false), 0);
	assert_null(lp_defs_find_queue(d, "/", "adq"));
	/* x-expires: its owner shard reports it unused once the lease is over */
	assert_int_equal(lp_defs_queue_unused(d, "/", "expq", true), 0);
	assert_null(lp_defs_find_queue(d, "/", "expq"));
	assert_non_null(lp_defs_find_exchange(d, "/", "adx")); /* still bound to q */
	/* unbinding the last binding deletes adx, whose deletion removes the
	 * binding from adx2, which deletes adx2 in turn */
	struct step u = { "unbind q", UNBIND, Q, .name = "q", .source = "adx" };
	run_step(d, &u, &r);
	assert_int_equal(r.code, 0);
	assert_null(lp_defs_find_exchange(d, "/", "adx"));
	assert_null(lp_defs_find_exchange(d, "/", "adx2"));
	assert_int_equal(lp_defs_count(d, LP_DEF_EXCHANGE), exchanges0);
	assert_int_equal(lp_defs_count(d, LP_DEF_BINDING), 0);
	/* deleting a queue removes its bindings and auto-deletes their source */
	const struct step more[] = {
		{ "ad exchange", DECL, X, .name = "adx3", .xtype = "direct", .flags = AD },
		{ "bind q", BIND, Q, .name = "q", .source = "adx3" },
		{ "delete q", DEL, Q, .name = "q" },
	};
	for (size_t i = 0; i < 3; i++) {
		run_step(d, &more[i], &r);
		assert_int_equal(r.code, 0);
	}
	assert_null(lp_defs_find_exchange(d, "/", "adx3"));
	assert_int_equal(lp_defs_count(d, LP_DEF_BINDING), 0);
	lp_defs_destroy(d);
}

static void test_vhost_and_user_admin(void **state)
{
	(void)state;
	struct lp_defs *d = fresh();
	char err[256];
	assert_int_equal(lp_defs_add_vhost(d, "v", err, sizeof(err)), 0);
	assert_int_equal(lp_defs_add_vhost(d, "v", err, sizeof(err)), -EEXIST);
	assert_string_equal(err, "vhost_already_exists: v");
	/* default exchanges of a new vhost: "", amq.direct/fanout/headers/match/topic, durable */
	const char *names[] = { "", "amq.direct", "amq.fanout", "amq.headers", "amq.match", "amq.topic" };
	for (int i = 0; i < 6; i++) {
		const struct lp_def_exchange *x = lp_defs_find_exchange(d, "v", names[i]);
		assert_non_null(x);
		assert_true(x->durable);
	}
	assert_int_equal(lp_defs_find_exchange(d, "v", "amq.match")->type, LP_CTL_XT_HEADERS);
	assert_int_equal(lp_defs_set_permissions(d, "bob", "v", ".*", ".*", ".*", err, sizeof(err)), 0);
	assert_int_equal(lp_defs_set_permissions(d, "bob", "v", "(", ".*", ".*", err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(lp_defs_set_permissions(d, "nobody", "v", "", "", "", err, sizeof(err)),
			 -ENOENT);
	struct step s = { "queue in v", DECL, Q, .user = "bob", .vhost = "v", .name = "q", .flags = D };
	struct lp_def_reply r;
	run_step(d, &s, &r);
	assert_int_equal(r.code, 0);
	assert_int_equal(lp_defs_delete_vhost(d, "v", err, sizeof(err)), 0);
	assert_null(lp_defs_find_queue(d, "/", "q"));
	assert_null(lp_defs_find_exchange(d, "v", "amq.direct"));
	assert_true(changed(LP_CTL_OP_DEL, LP_DEF_QUEUE, "q"));
	assert_true(changed(LP_CTL_OP_DEL, LP_DEF_PERMISSION, "bob"));
	assert_int_equal(lp_defs_delete_vhost(d, "v", err, sizeof(err)), -ENOENT);
	assert_int_equal(lp_defs_delete_user(d, "bob", err, sizeof(err)), 0);
	assert_null(lp_defs_find_user(d, "bob"));
	assert_int_equal(lp_defs_count(d, LP_DEF_PERMISSION), 1); /* guest's */
	uint8_t h[LP_PASSWORD_HASH_LEN];
	assert_int_equal(lp_password_hash("new", 3, NULL, h), 0);
	assert_int_equal(lp_defs_change_password(d, "guest", h, err, sizeof(err)), 0);
	assert_true(lp_password_check(lp_defs_find_user(d, "guest")->hash, "new", 3));
	assert_false(lp_password_check(lp_defs_find_user(d, "guest")->hash, "guest", 5));
	lp_defs_destroy(d);
}

/* The dataplane's QUEUE_STATS reach the queues they name (queue_stats.c):
 * counts, counters, and rates per second between two samples; an unknown
 * queue is skipped, a counter that went back counts from 0. */
static void test_queue_stats_apply(void **state)
{
	(void)state;
	struct lp_defs *d = fresh();
	struct lp_def_reply r;
	static struct lp_ctl_queue_stat rows[2];
	static uint8_t buf[LP_CTL_MSG_MAX];
	struct lp_ctl_msg m = {.type = LP_CTL_QUEUE_STATS}, dec;

	run_step(d, &rules[1], &r); /* pq */
	assert_int_equal(r.code, 0);
	strcpy(rows[0].vhost, "/");
	strcpy(rows[0].queue, "pq");
	rows[0].ready = 3;
	rows[0].unacked = 1;
	rows[0].consumers = 2;
	rows[0].published = 10;
	rows[0].acked = 4;
	strcpy(rows[1].vhost, "/");
	strcpy(rows[1].queue, "no-such-queue");
	m.queue_stats = (struct lp_ctl_queue_stats){.time_ns = 1, .worker = 0, .n = 2, .rows = rows};
	ssize_t n = lp_ctl_encode(buf, sizeof(buf), &m);
	assert_true(n > 0);
	assert_int_equal(lp_ctl_decode(buf, (size_t)n, &dec), 0);
	assert_int_equal(lp_queue_stats_apply(d, &dec.queue_stats, 1000000000ull), 1);
	const struct lp_queue_live *l = &lp_defs_find_queue(d, "/", "pq")->live;
	assert_int_equal(l->ready, 3);
	assert_int_equal(l->unacked, 1);
	assert_int_equal(l->consumers, 2);
	assert_int_equal(l->published, 10);
	assert_true(l->publish_rate == 0); /* one sample: no rate yet */
	rows[0].published = 20;
	rows[0].acked = 2; /* went back: the dataplane restarted */
	n = lp_ctl_encode(buf, sizeof(buf), &m);
	assert_int_equal(lp_ctl_decode(buf, (size_t)n, &dec), 0);
	assert_int_equal(lp_queue_stats_apply(d, &dec.queue_stats, 3000000000ull), 1);
	assert_true(l->publish_rate > 4.99 && l->publish_rate < 5.01);
	assert_true(l->ack_rate > 0.99 && l->ack_rate < 1.01);
	assert_int_equal(l->published, 20);
	lp_defs_destroy(d);
}

static void test_password_hash_vector(void **state)
{
	(void)state;
	/* RabbitMQ's documentation ("Computing Password Hash"): password test12,
	 * salt 908D C60A, hash kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR */
	static const char *b64 = "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR";
	uint8_t stored[LP_PASSWORD_HASH_LEN];
	assert_int_equal(lp_base64_decode(stored, sizeof(stored), b64), LP_PASSWORD_HASH_LEN);
	static const uint8_t salt[4] = { 0x90, 0x8d, 0xc6, 0x0a };
	assert_memory_equal(stored, salt, 4);
	uint8_t h[LP_PASSWORD_HASH_LEN];
	assert_int_equal(lp_password_hash("test12", 6, salt, h), 0);
	assert_memory_equal(h, stored, sizeof(h));
	char out[LP_PASSWORD_HASH_B64_LEN + 1];
	assert_int_equal(lp_base64_encode(out, sizeof(out), h, sizeof(h), false), 48);
	assert_string_equal(out, b64);
	assert_true(lp_password_check(stored, "test12", 6));
	assert_false(lp_password_check(stored, "test13", 6));
	/* base64 edge cases */
	uint8_t b[8];
	assert_int_equal(lp_base64_decode(b, sizeof(b), "YQ=="), 1);
	assert_int_equal(b[0], 'a');
	assert_int_equal(lp_base64_decode(b, sizeof(b), "YQ="), -EINVAL);
	assert_int_equal(lp_base64_decode(b, sizeof(b), "Y=Q="), -EINVAL);
	assert_int_equal(lp_base64_encode(out, sizeof(out), "\xfb\xff", 2, true), 3);
	assert_string_equal(out, "-_8");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rules_table),
		cmocka_unit_test(test_server_named_queue),
		cmocka_unit_test(test_exclusive_lifecycle),
		cmocka_unit_test(test_auto_delete_lifecycle),
		cmocka_unit_test(test_vhost_and_user_admin),
		cmocka_unit_test(test_password_hash_vector),
		cmocka_unit_test(test_queue_stats_apply),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
