/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the control protocol codec (api/lp_ctl_msg.c): every message
 * type survives encode -> decode unchanged, the wire layout is little-endian
 * as lp_ctl.h states, and truncated, oversized, wrong-magic, wrong-version,
 * inconsistent and out-of-limit messages are rejected with the documented
 * error codes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lp_ctl.h"

static uint8_t buf[LP_CTL_MSG_MAX + 64];
static struct lp_ctl_msg in, out;

static size_t encode_ok(const struct lp_ctl_msg *m)
{
	ssize_t n = lp_ctl_encode(buf, sizeof(buf), m);
	assert_true(n >= LP_CTL_HDR_LEN);
	return (size_t)n;
}

static void roundtrip(struct lp_ctl_msg *m, struct lp_ctl_msg *d)
{
	size_t n = encode_ok(m);
	memset(d, 0, sizeof(*d));
	assert_int_equal(lp_ctl_decode(buf, n, d), 0);
	assert_int_equal(d->type, m->type);
	assert_int_equal(d->seq, m->seq);
	assert_int_equal(d->version, LP_CTL_VERSION);
}

static void fill_hello(struct lp_ctl_hello *h)
{
	h->role = LP_CTL_ROLE_DATAPLANE;
	h->proto_version = LP_CTL_VERSION;
	h->pid = 0x01020304;
	h->features = 0x80000001;
	h->n_workers = 3;
	memcpy(h->ip, (uint8_t[]){ 198, 18, 0, 1 }, 4);
	memcpy(h->mac, (uint8_t[]){ 0x02, 0, 0, 0, 0xab, 0xcd }, 6);
	strcpy(h->version, "0.1.0-test");
	strcpy(h->driver, "net_af_packet");
}

static void test_header_layout(void **state)
{
	(void)state;
	memset(&in, 0, sizeof(in));
	in.type = LP_CTL_HEARTBEAT;
	in.seq = 0x11223344;
	in.heartbeat.time_ns = 0x0102030405060708ull;
	size_t n = encode_ok(&in);
	assert_int_equal(n, LP_CTL_HDR_LEN + 16);
	static const uint8_t hdr[] = { 'L', 'P', 'C', 'T', LP_CTL_VERSION, 0, 0x04, 0x00,
				       16, 0, 0, 0, 0x44, 0x33, 0x22, 0x11 };
	assert_memory_equal(buf, hdr, sizeof(hdr));
	static const uint8_t t[] = { 8, 7, 6, 5, 4, 3, 2, 1 };
	assert_memory_equal(buf + LP_CTL_HDR_LEN, t, 8);
}

static void test_hello_roundtrip(void **state)
{
	(void)state;
	memset(&in, 0, sizeof(in));
	in.type = LP_CTL_HELLO;
	in.seq = 1;
	fill_hello(&in.hello);
	roundtrip(&in, &out);
	assert_memory_equal(&out.hello, &in.hello, sizeof(in.hello));
}

static void test_hello_ack_nak_heartbeat_roundtrip(void **state)
{
	(void)state;
	memset(&in, 0, sizeof(in));
	in.type = LP_CTL_HELLO_ACK;
	in.seq = 2;
	in.hello_ack = (struct lp_ctl_hello_ack){ .proto_version = 1, .pid = 77, .features = 5 };
	strcpy(in.hello_ack.version, "9.9");
	roundtrip(&in, &out);
	assert_memory_equal(&out.hello_ack, &in.hello_ack, sizeof(in.hello_ack));

	memset(&in, 0, sizeof(in));
	in.type = LP_CTL_HELLO_NAK;
	in.seq = 3;
	in.hello_nak.reason = LP_CTL_NAK_VERSION;
	in.hello_nak.proto_version = LP_CTL_VERSION;
	memset(in.hello_nak.text, 'x', LP_CTL_TEXT_MAX); /* longest allowed */
	roundtrip(&in, &out);
	assert_memory_equal(&out.hello_nak, &in.hello_nak, sizeof(in.hello_nak));

	memset(&in, 0, sizeof(in));
	in.type = LP_CTL_HEARTBEAT;
	in.seq = UINT32_MAX;
	in.heartbeat = (struct lp_ctl_heartbeat){ .time_ns = UINT64_MAX, .echo_ns = 12345 };
	roundtrip(&in, &out);
	assert_true(out.heartbeat.time_ns == UINT64_MAX);
	assert_true(out.heartbeat.echo_ns == 12345);

	memset(&in, 0, sizeof(in));
	in.type = LP_CTL_STATUS_REQ;
	in.status_req.flags = 0;
	roundtrip(&in, &out);
	assert_int_equal(out.status_req.flags, 0);
}

static void test_drop_names_roundtrip(void **state)
{
	(void)state;
	memset(&in, 0, sizeof(in));
	in.type = LP_CTL_DROP_NAMES;
	in.drop_names.n = LP_CTL_MAX_DROP_REASONS;
	for (unsigned i = 0; i < in.drop_names.n; i++)
		snprintf(in.drop_names.name[i], sizeof(in.drop_names.name[i]), "REASON_%u", i);
	memset(in.drop_names.name[7], 'Z', LP_CTL_DROP_NAME_MAX); /* longest allowed */
	in.drop_names.name[7][LP_CTL_DROP_NAME_MAX] = '\0';
	roundtrip(&in, &out);
	assert_int_equal(out.drop_names.n, LP_CTL_MAX_DROP_REASONS);
	for (unsigned i = 0; i < in.drop_names.n; i++)
		assert_string_equal(out.drop_names.name[i], in.drop_names.name[i]);

	in.drop_names.n = 0;
	roundtrip(&in, &out);
	assert_int_equal(out.drop_names.n, 0);
}

static void test_stats_roundtrip(void **state)
{
	(void)state;
	const unsigned nr = 32, nw = 5, stride = LP_CTL_STAT_DROP0 + nr;
	uint64_t *rows = calloc((size_t)nw * stride, sizeof(*rows));
	assert_non_null(rows);
	for (unsigned i = 0; i < nw * stride; i++)
		rows[i] = (uint64_t)i * 0x0101010101ull + (i == 3 ? UINT64_MAX - 3 : 0);
	memset(&in, 0, sizeof(in));
	in.type = LP_CTL_STATS;
	in.stats = (struct lp_ctl_stats){ .time_ns = 42, .n_workers_total = 9,
					  .first_worker = 4, .n_workers = nw,
					  .n_reasons = nr, .rows = rows };
	roundtrip(&in, &out);
	assert_true(out.stats.time_ns == 42);
	assert_int_equal(out.stats.n_workers_total, 9);
	assert_int_equal(out.stats.first_worker, 4);
	assert_int_equal(out.stats.n_workers, nw);
	assert_int_equal(out.stats.n_reasons, nr);
	for (unsigned w = 0; w < nw; w++)
		for (unsigned i = 0; i < stride; i++)
			assert_true(lp_ctl_stats_get(&out.stats, w, i) == rows[w * stride + i]);
	/* out of range reads are 0, not out of bounds */
	assert_true(lp_ctl_stats_get(&out.stats, nw, 0) == 0);
	assert_true(lp_ctl_stats_get(&out.stats, 0, stride) == 0);
	free(rows);
}

static void test_stats_largest_message_fits(void **state)
{
	(void)state;
	for (unsigned nr = 0; nr <= LP_CTL_MAX_DROP_REASONS; nr += 16) {
		unsigned per = lp_ctl_stats_workers_per_msg(nr);
		assert_true(per >= 1 && per <= LP_CTL_MAX_WORKERS);
		unsigned stride = LP_CTL_STAT_DROP0 + nr;
		uint64_t *rows = calloc((size_t)per * stride, sizeof(*rows));
		assert_non_null(rows);
		memset(&in, 0, sizeof(in));
		in.type = LP_CTL_STATS;
		in.stats = (struct lp_ctl_stats){ .n_workers_total = LP_CTL_MAX_WORKERS,
						  .n_workers = per, .n_reasons = nr,
						  .rows = rows };
		ssize_t n = lp_ctl_encode(buf, sizeof(buf), &in);
		assert_true(n > 0 && n <= LP_CTL_MSG_MAX);
		if (per < LP_CTL_MAX_WORKERS) { /* one more record does not fit */
			free(rows);
			rows = calloc((size_t)(per + 1) * stride, sizeof(*rows));
			in.stats.rows = rows;
			in.stats.n_workers = per + 1;
			assert_int_equal(lp_ctl_encode(buf, sizeof(buf), &in), -EMSGSIZE);
		}
		free(rows);
	}
}

static void test_status_resp_roundtrip(void **state)
{
	(void)state;
	memset(&in, 0, sizeof(in));
	in.type = LP_CTL_STATUS_RESP;
	in.seq = 9;
	struct lp_ctl_status_resp *r = &in.status_resp;
	r->uptime_ns = 123456789012ull;
	r->pid = 4242;
	strcpy(r->version, "0.1.0");
	r->dp_connected = 1;
	fill_hello(&r->dp);
	r->dp_connected_ns = 5;
	r->stats_age_ns = UINT64_MAX;
	r->n_workers = 3;
	r->n_reasons = 32;
	roundtrip(&in, &out);
	assert_memory_equal(&out.status_resp, r, sizeof(*r));

	memset(r, 0, sizeof(*r)); /* not connected: all zeros encodes too */
	roundtrip(&in, &out);
	assert_int_equal(out.status_resp.dp_connected, 0);
}

static size_t sample_hello(void)
{
	memset(&in, 0, sizeof(in));
	in.type = LP_CTL_HELLO;
	fill_hello(&in.hello);
	return encode_ok(&in);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void test_reject_truncated(void **state)
{
	(void)state;
	size_t n = sample_hello();
	for (size_t len = 0; len < n; len++)
		assert_int_equal(lp_ctl_decode(buf, len, &out), -EBADMSG);
	/* truncated payload with a consistent length field */
	for (size_t len = LP_CTL_HDR_LEN; len < n; len++) {
		put_le32(buf + 8, (uint32_t)(len - LP_CTL_HDR_LEN));
		assert_int_equal(lp_ctl_decode(buf, len, &out), -EBADMSG);
	}
}

static void test_reject_oversized_and_trailing(void **state)
{
	(void)state;
	size_t n = sample_hello();
	/* datagram longer than the length field */
	assert_int_equal(lp_ctl_decode(buf, n + 1, &out), -EBADMSG);
	/* trailing payload byte announced in the length field */
	buf[n] = 0;
	put_le32(buf + 8, (uint32_t)(n + 1 - LP_CTL_HDR_LEN));
	assert_int_equal(lp_ctl_decode(buf, n + 1, &out), -EBADMSG);
	/* datagram above the protocol maximum */
	memset(buf, 0, sizeof(buf));
	n = sample_hello();
	put_le32(buf + 8, LP_CTL_MSG_MAX + 1 - LP_CTL_HDR_LEN);
	assert_int_equal(lp_ctl_decode(buf, LP_CTL_MSG_MAX + 1, &out), -EBADMSG);
	put_le32(buf + 8, UINT32_MAX);
	assert_int_equal(lp_ctl_decode(buf, n, &out), -EBADMSG);
	/* encoder refuses a buffer too small */
	sample_hello();
	assert_int_equal(lp_ctl_encode(buf, 20, &in), -EMSGSIZE);
	assert_int_equal(lp_ctl_encode(buf, 8, &in), -EMSGSIZE);
}

static void test_reject_magic_version_type(void **state)
{
	(void)state;
	size_t n = sample_hello();
	buf[0] ^= 1;
	assert_int_equal(lp_ctl_decode(buf, n, &out), -EBADMSG);
	buf[0] ^= 1;
	assert_int_equal(lp_ctl_decode(buf, n, &out), 0);

	buf[4] = LP_CTL_VERSION + 1;
	assert_int_equal(lp_ctl_decode(buf, n, &out), -EPROTONOSUPPORT);
	assert_int_equal(out.version, LP_CTL_VERSION + 1);
	assert_int_equal(out.type, LP_CTL_HELLO);
	buf[4] = LP_CTL_VERSION;

	/* HELLO whose payload version disagrees with the header */
	in.hello.proto_version = LP_CTL_VERSION + 1;
	n = encode_ok(&in);
	assert_int_equal(lp_ctl_decode(buf, n, &out), -EBADMSG);

	/* unknown type: well formed, ignored by receivers */
	n = sample_hello();
	buf[6] = 0x00;
	buf[7] = 0x01; /* 0x0100: reserved for definitions */
	assert_int_equal(lp_ctl_decode(buf, n, &out), -ENOTSUP);
	assert_int_equal(out.type, 0x0100);

	memset(&in, 0, sizeof(in));
	in.type = 0x0100;
	assert_int_equal(lp_ctl_encode(buf, sizeof(buf), &in), -EINVAL);
}

static void test_reject_bad_strings(void **state)
{
	(void)state;
	size_t n = sample_hello();
	/* version string starts after the fixed part: 2+2+4+4+2+4+6 = 24 */
	size_t off = LP_CTL_HDR_LEN + 24;
	assert_int_equal(buf[off], strlen("0.1.0-test"));
	buf[off + 1] = '\n';
	assert_int_equal(lp_ctl_decode(buf, n, &out), -EBADMSG);
	buf[off + 1] = 0;
	assert_int_equal(lp_ctl_decode(buf, n, &out), -EBADMSG);
	buf[off + 1] = '0';
	buf[off] = 200; /* beyond the payload */
	assert_int_equal(lp_ctl_decode(buf, n, &out), -EBADMSG);
	buf[off] = LP_CTL_VERSION_STR_MAX + 1;
	assert_int_equal(lp_ctl_decode(buf, n, &out), -EBADMSG);

	/* encoder refuses non-printable and over-long strings */
	sample_hello();
	in.hello.driver[0] = '\t';
	assert_int_equal(lp_ctl_encode(buf, sizeof(buf), &in), -EINVAL);
	memset(&in, 0, sizeof(in));
	in.type = LP_CTL_DROP_NAMES;
	in.drop_names.n = 1; /* empty name */
	assert_int_equal(lp_ctl_encode(buf, sizeof(buf), &in), -EINVAL);
	in.drop_names.n = LP_CTL_MAX_DROP_REASONS + 1;
	assert_int_equal(lp_ctl_encode(buf, sizeof(buf), &in), -EINVAL);
}

static void test_reject_bad_counts(void **state)
{
	(void)state;
	uint64_t rows[2 * (LP_CTL_STAT_DROP0 + 2)] = { 0 };
	memset(&in, 0, sizeof(in));
	in.type = LP_CTL_STATS;
	in.stats = (struct lp_ctl_stats){ .n_workers_total = 2, .first_worker = 0,
					  .n_workers = 2, .n_reasons = 2, .rows = rows };
	size_t n = encode_ok(&in);
	size_t f = LP_CTL_HDR_LEN + 8; /* n_workers_total, first, n, n_reasons */
	assert_int_equal(lp_ctl_decode(buf, n, &out), 0);
	buf[f + 2] = 1; /* first_worker 1 + 2 workers > total 2 */
	assert_int_equal(lp_ctl_decode(buf, n, &out), -EBADMSG);
	buf[f + 2] = 0;
	buf[f + 4] = 0; /* zero workers */
	assert_int_equal(lp_ctl_decode(buf, n, &out), -EBADMSG);
	buf[f + 4] = 2;
	buf[f + 6] = 3; /* more reasons than bytes */
	assert_int_equal(lp_ctl_decode(buf, n, &out), -EBADMSG);
	buf[f + 6] = 2;
	buf[f + 0] = 0;
	buf[f + 1] = 2; /* 512 workers total > LP_CTL_MAX_WORKERS */
	assert_int_equal(lp_ctl_decode(buf, n, &out), -EBADMSG);

	in.stats.first_worker = 1;
	assert_int_equal(lp_ctl_encode(buf, sizeof(buf), &in), -EINVAL);

	memset(&in, 0, sizeof(in));
	in.type = LP_CTL_DROP_NAMES;
	n = encode_ok(&in);
	buf[LP_CTL_HDR_LEN] = LP_CTL_MAX_DROP_REASONS + 1;
	assert_int_equal(lp_ctl_decode(buf, n, &out), -EBADMSG);

	memset(&in, 0, sizeof(in));
	in.type = LP_CTL_HELLO;
	fill_hello(&in.hello);
	in.hello.n_workers = LP_CTL_MAX_WORKERS + 1;
	assert_int_equal(lp_ctl_encode(buf, sizeof(buf), &in), -EINVAL);
}

static void test_definition_messages_roundtrip(void **state)
{
	(void)state;
	static const uint8_t args[] = { 3, 'k', 'e', 'y', 'S', 0, 0, 0, 1, 'v' };

	memset(&in, 0, sizeof(in));
	in.type = LP_CTL_DECLARE;
	in.seq = 5;
	struct lp_ctl_def_req *q = &in.def_req;
	q->req_id = 0x0102030405060708ull;
	q->conn_id = 77;
	q->worker = 1;
	q->object = LP_CTL_OBJ_QUEUE;
	q->flags = LP_CTL_F_DURABLE | LP_CTL_F_COUNTS;
	q->message_count = 3;
	q->consumer_count = 4;
	strcpy(q->vhost, "/");
	strcpy(q->user, "guest");
	strcpy(q->name, "caf\xc3\xa9"); /* names are bytes, UTF-8 included */
	strcpy(q->routing_key, "a.b");
	q->args = args;
	q->args_len = sizeof(args);
	roundtrip(&in, &out);
	assert_int_equal(out.def_req.req_id, q->req_id);
	assert_int_equal(out.def_req.conn_id, 77);
	assert_int_equal(out.def_req.flags, q->flags);
	assert_int_equal(out.def_req.consumer_count, 4);
	assert_string_equal(out.def_req.name, q->name);
	assert_string_equal(out.def_req.routing_key, "a.b");
	assert_int_equal(out.def_req.args_len, sizeof(args));
	assert_memory_equal(out.def_req.args, args, sizeof(args));
	assert_true(out.def_req.args >= buf && out.def_req.args < buf + sizeof(buf)); /* a view */

	memset(&in, 0, sizeof(in));
	in.type = LP_CTL_RESULT;
	in.result.req_id = 9;
	in.result.reply_code = 404;
	in.result.owner_shard = 2;
	in.result.version = 1234;
	in.result.status = LP_CTL_RES_NEED_COUNTS;
	strcpy(in.result.queue, "amq.gen-abc");
	strcpy(in.result.text, "NOT_FOUND - no queue 'q' in vhost '/'");
	roundtrip(&in, &out);
	assert_memory_equal(&out.result, &in.result, sizeof(in.result));

	memset(&in, 0, sizeof(in));
	in.type = LP_CTL_TOPO_QUEUE;
	in.topo_queue.op = LP_CTL_OP_DEL;
	in.topo_queue.flags = LP_CTL_Q_EXCLUSIVE | LP_CTL_Q_AUTO_DELETE;
	in.topo_queue.owner_shard = 7;
	in.topo_queue.owner_conn = 1ull << 40;
	strcpy(in.topo_queue.vhost, "v");
	strcpy(in.topo_queue.name, "q");
	roundtrip(&in, &out);
	assert_int_equal(out.topo_queue.owner_conn, 1ull << 40);
	assert_int_equal(out.topo_queue.flags, in.topo_queue.flags);
	assert_null(out.topo_queue.args);

	memset(&in, 0, sizeof(in));
	in.type = LP_CTL_TOPO_EXCHANGE;
	in.topo_exchange.op = LP_CTL_OP_ADD;
	in.topo_exchange.type = LP_CTL_XT_HEADERS;
	in.topo_exchange.flags = LP_CTL_X_DURABLE | LP_CTL_X_INTERNAL;
	strcpy(in.topo_exchange.vhost, "/");
	strcpy(in.topo_exchange.alternate, "ae");
	in.topo_exchange.args = args;
	in.topo_exchange.args_len = sizeof(args);
	roundtrip(&in, &out);
	assert_string_equal(out.topo_exchange.name, "");
	assert_string_equal(out.topo_exchange.alternate, "ae");
	assert_int_equal(out.topo_exchange.type, LP_CTL_XT_HEADERS);

	memset(&in, 0, sizeof(in));
	in.type = LP_CTL_TOPO_BINDING;
	in.topo_binding.op = LP_CTL_OP_ADD;
	in.topo_binding.dest_kind = LP_CTL_OBJ_EXCHANGE;
	strcpy(in.topo_binding.vhost, "/");
	strcpy(in.topo_binding.source, "s");
	strcpy(in.topo_binding.destination, "d");
	roundtrip(&in, &out);
	assert_string_equal(out.topo_binding.destination, "d");
	assert_string_equal(out.topo_binding.routing_key, "");

	memset(&in, 0, sizeof(in));
	in.type = LP_CTL_USER;
	in.user.op = LP_CTL_OP_ADD;
	in.user.hash_alg = LP_CTL_HASH_SHA256;
	in.user.hash_len = LP_CTL_PASSWORD_HASH_LEN;
	memset(in.user.hash, 0xab, sizeof(in.user.hash));
	strcpy(in.user.name, "guest");
	strcpy(in.user.tags, "administrator");
	roundtrip(&in, &out);
	assert_memory_equal(&out.user, &in.user, sizeof(in.user));

	memset(&in, 0, sizeof(in));
	in.type = LP_CTL_PERMISSION;
	in.permission.op = LP_CTL_OP_ADD;
	strcpy(in.permission.user, "u");
	strcpy(in.permission.vhost, "/");
	strcpy(in.permission.configure, "^$");
	strcpy(in.permission.write, ".*");
	roundtrip(&in, &out);
	assert_memory_equal(&out.permission, &in.permission, sizeof(in.permission));

	memset(&in, 0, sizeof(in));
	in.type = LP_CTL_ADMIN_REQ;
	in.admin_req.req_id = 3;
	in.admin_req.op = LP_CTL_ADMIN_SET_PERMISSIONS;
	strcpy(in.admin_req.name, "u");
	strcpy(in.admin_req.read, ".*");
	roundtrip(&in, &out);
	assert_memory_equal(&out.admin_req, &in.admin_req, sizeof(in.admin_req));

	memset(&in, 0, sizeof(in));
	in.type = LP_CTL_TOPO_BEGIN;
	in.topo_begin.version = 42;
	in.topo_begin.full = 1;
	roundtrip(&in, &out);
	assert_int_equal(out.topo_begin.version, 42);
	in.type = LP_CTL_TOPO_END;
	in.topo_end.version = 42;
	in.topo_end.n_objects = 9;
	roundtrip(&in, &out);
	assert_int_equal(out.topo_end.n_objects, 9);
	memset(&in, 0, sizeof(in));
	in.type = LP_CTL_CONNECTION_CLOSED;
	in.conn_closed.conn_id = 99;
	roundtrip(&in, &out);
	assert_int_equal(out.conn_closed.conn_id, 99);
	memset(&in, 0, sizeof(in));
	in.type = LP_CTL_LIST_REQ;
	in.list_req.what = LP_CTL_LIST_QUEUES;
	roundtrip(&in, &out);
	assert_int_equal(out.list_req.what, LP_CTL_LIST_QUEUES);
	memset(&in, 0, sizeof(in));
	in.type = LP_CTL_QUEUE_UNUSED;
	strcpy(in.queue_unused.vhost, "/");
	strcpy(in.queue_unused.queue, "q");
	roundtrip(&in, &out);
	assert_string_equal(out.queue_unused.queue, "q");
}

/* QUEUE_STATS: records survive, a full message holds what
 * lp_ctl_queue_stat_len says, and bad records are refused both ways. */
static void test_queue_stats(void **state)
{
	(void)state;
	static struct lp_ctl_queue_stat rows[2000], r;
	size_t off = 0, room = LP_CTL_QUEUE_STATS_ROOM;
	unsigned k = 0;

	for (unsigned i = 0; i < 2; i++) {
		rows[i] = (struct lp_ctl_queue_stat){.ready = 3 + i, .unacked = 1, .consumers = 2,
						     .ready_bytes = 1ull << 40, .published = 7,
						     .delivered = 5, .got = 1, .redelivered = 2,
						     .acked = 4};
		strcpy(rows[i].vhost, "/");
		snprintf(rows[i].queue, sizeof(rows[i].queue), "q%u", i);
	}
	rows[1].queue[0] = '\0'; /* an empty queue name is a name */
	memset(&in, 0, sizeof(in));
	in.type = LP_CTL_QUEUE_STATS;
	in.queue_stats = (struct lp_ctl_queue_stats){.time_ns = 9, .worker = 1, .n = 2, .rows = rows};
	roundtrip(&in, &out);
	assert_int_equal(out.queue_stats.time_ns, 9);
	assert_int_equal(out.queue_stats.worker, 1);
	assert_int_equal(out.queue_stats.n, 2);
	assert_true(lp_ctl_queue_stats_next(&out.queue_stats, &off, &r));
	assert_string_equal(r.queue, "q0");
	assert_int_equal(r.ready, 3);
	assert_int_equal(r.ready_bytes, 1ull << 40);
	assert_int_equal(r.acked, 4);
	assert_true(lp_ctl_queue_stats_next(&out.queue_stats, &off, &r));
	assert_string_equal(r.queue, "");
	assert_int_equal(r.ready, 4);
	assert_int_equal(r.redelivered, 2);
	assert_false(lp_ctl_queue_stats_next(&out.queue_stats, &off, &r));
	/* A message filled to LP_CTL_QUEUE_STATS_ROOM with long names encodes. */
	for (unsigned i = 0; i < 2000; i++) {
		rows[i] = rows[0];
		memset(rows[i].queue, 'x', 200);
		rows[i].queue[200] = '\0';
	}
	while (k < 2000 && lp_ctl_queue_stat_len(&rows[k]) <= room)
		room -= lp_ctl_queue_stat_len(&rows[k++]);
	in.queue_stats.n = (uint16_t)k;
	size_t n = encode_ok(&in);
	assert_true(n <= LP_CTL_MSG_MAX);
	in.queue_stats.n = (uint16_t)(k + 1);
	assert_int_equal(lp_ctl_encode(buf, sizeof(buf), &in), -EMSGSIZE);
	/* refused: an empty vhost, rows missing, a record cut short */
	in.queue_stats.n = 1;
	rows[0].vhost[0] = '\0';
	assert_int_equal(lp_ctl_encode(buf, sizeof(buf), &in), -EINVAL);
	strcpy(rows[0].vhost, "/");
	in.queue_stats.rows = NULL;
	assert_int_equal(lp_ctl_encode(buf, sizeof(buf), &in), -EINVAL);
	in.queue_stats.rows = rows;
	n = encode_ok(&in);
	assert_int_equal(lp_ctl_decode(buf, n, &out), 0);
	buf[8] = (uint8_t)(n - LP_CTL_HDR_LEN - 1); /* length field one short */
	buf[9] = (uint8_t)((n - LP_CTL_HDR_LEN - 1) >> 8);
	assert_int_equal(lp_ctl_decode(buf, n - 1, &out), -EBADMSG);
}

static void test_definition_messages_rejected(void **state)
{
	(void)state;
	static uint8_t big[LP_CTL_ARGS_MAX + 1];
	memset(&in, 0, sizeof(in));
	in.type = LP_CTL_DECLARE;
	in.def_req.object = LP_CTL_OBJ_QUEUE;
	size_t n = encode_ok(&in);
	/* object 3, unknown flag bits, args over the limit: refused both ways */
	in.def_req.object = 3;
	assert_int_equal(lp_ctl_encode(buf, sizeof(buf), &in), -EINVAL);
	in.def_req.object = LP_CTL_OBJ_QUEUE;
	in.def_req.flags = 1u << 12;
	assert_int_equal(lp_ctl_encode(buf, sizeof(buf), &in), -EINVAL);
	in.def_req.flags = 0;
	in.def_req.args = big;
	in.def_req.args_len = LP_CTL_ARGS_MAX + 1;
	assert_int_equal(lp_ctl_encode(buf, sizeof(buf), &in), -EINVAL);
	in.def_req.args_len = 0;
	n = encode_ok(&in);
	/* payload: u64 u64 u16 | object at offset 18 */
	buf[LP_CTL_HDR_LEN + 18] = 0;
	assert_int_equal(lp_ctl_decode(buf, n, &out), -EBADMSG);
	buf[LP_CTL_HDR_LEN + 18] = LP_CTL_OBJ_QUEUE;
	assert_int_equal(lp_ctl_decode(buf, n, &out), 0);
	/* a name holding NUL: vhost is the first name, at offset 31 (len) */
	n = encode_ok(&(struct lp_ctl_msg){ .type = LP_CTL_QUEUE_UNUSED,
					    .queue_unused = { .vhost = "ab", .queue = "q" } });
	buf[LP_CTL_HDR_LEN + 1] = 0;
	assert_int_equal(lp_ctl_decode(buf, n, &out), -EBADMSG);
	/* truncated name */
	buf[LP_CTL_HDR_LEN + 1] = 'a';
	assert_int_equal(lp_ctl_decode(buf, n - 1, &out), -EBADMSG);
	/* user: hash_len must match hash_alg */
	memset(&in, 0, sizeof(in));
	in.type = LP_CTL_USER;
	in.user.op = LP_CTL_OP_ADD;
	strcpy(in.user.name, "u");
	in.user.hash_alg = LP_CTL_HASH_SHA256;
	assert_int_equal(lp_ctl_encode(buf, sizeof(buf), &in), -EINVAL);
	/* topology op 3 */
	memset(&in, 0, sizeof(in));
	in.type = LP_CTL_TOPO_VHOST;
	in.topo_vhost.op = 3;
	strcpy(in.topo_vhost.name, "/");
	assert_int_equal(lp_ctl_encode(buf, sizeof(buf), &in), -EINVAL);
	in.topo_vhost.op = LP_CTL_OP_ADD;
	n = encode_ok(&in);
	buf[LP_CTL_HDR_LEN] = 3;
	assert_int_equal(lp_ctl_decode(buf, n, &out), -EBADMSG);
	/* empty vhost name in a topology object */
	in.topo_vhost.name[0] = '\0';
	assert_int_equal(lp_ctl_encode(buf, sizeof(buf), &in), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_layout),
		cmocka_unit_test(test_hello_roundtrip),
		cmocka_unit_test(test_hello_ack_nak_heartbeat_roundtrip),
		cmocka_unit_test(test_drop_names_roundtrip),
		cmocka_unit_test(test_stats_roundtrip),
		cmocka_unit_test(test_stats_largest_message_fits),
		cmocka_unit_test(test_status_resp_roundtrip),
		cmocka_unit_test(test_reject_truncated),
		cmocka_unit_test(test_reject_oversized_and_trailing),
		cmocka_unit_test(test_reject_magic_version_type),
		cmocka_unit_test(test_reject_bad_strings),
		cmocka_unit_test(test_reject_bad_counts),
		cmocka_unit_test(test_definition_messages_roundtrip),
		cmocka_unit_test(test_definition_messages_rejected),
		cmocka_unit_test(test_queue_stats),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
