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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
