/* SPDX-License-Identifier: MIT */
/*
 * Generated method codec: every method of the spec round-trips encode ->
 * decode -> encode with random arguments; every truncation and a trailing
 * octet are rejected; shortstr over 255 and small buffers are refused; the
 * golden frames recorded from pika and amqp-tools decode to the values those
 * clients were asked to send and re-encode to the very same bytes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "amqp_frame.h"
#include "amqp_reply.h"
#include "amqp_spec.h"
#include "amqp_table.h"
#include "amqp_test.h"

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint8_t pool[4096];
static uint8_t table_buf[256];
static size_t table_len;

static void fill(struct lp_amqp_method *m, const struct lp_amqp_method_desc *d)
{
	memset(m, 0, sizeof(*m));
	m->id = d->id;
	for (unsigned i = 0; i < d->nfields; i++) {
		void *p = (uint8_t *)m + d->fields[i].offset;
		struct lp_amqp_bytes b;
		switch (d->fields[i].type) {
		case LP_AMQP_TYPE_BIT:
			*(bool *)p = rnd() & 1;
			break;
		case LP_AMQP_TYPE_OCTET:
			*(uint8_t *)p = (uint8_t)rnd();
			break;
		case LP_AMQP_TYPE_SHORT:
			*(uint16_t *)p = (uint16_t)rnd();
			break;
		case LP_AMQP_TYPE_LONG:
			*(uint32_t *)p = (uint32_t)rnd();
			break;
		case LP_AMQP_TYPE_LONGLONG:
		case LP_AMQP_TYPE_TIMESTAMP:
			*(uint64_t *)p = rnd();
			break;
		case LP_AMQP_TYPE_SHORTSTR:
			b.len = (uint32_t)(rnd() % 256);
			b.ptr = pool + rnd() % (sizeof(pool) - 256);
			*(struct lp_amqp_bytes *)p = b;
			break;
		case LP_AMQP_TYPE_LONGSTR:
			b.len = (uint32_t)(rnd() % 1024);
			b.ptr = pool + rnd() % (sizeof(pool) - 1024);
			*(struct lp_amqp_bytes *)p = b;
			break;
		case LP_AMQP_TYPE_TABLE:
			b.len = (uint32_t)(rnd() & 1 ? table_len - 4 : 0);
			b.ptr = table_buf + 4;
			*(struct lp_amqp_bytes *)p = b;
			break;
		}
	}
}

static void assert_same(const struct lp_amqp_method *a, const struct lp_amqp_method *b,
			const struct lp_amqp_method_desc *d)
{
	assert_int_equal(a->id, b->id);
	for (unsigned i = 0; i < d->nfields; i++) {
		const void *pa = (const uint8_t *)a + d->fields[i].offset;
		const void *pb = (const uint8_t *)b + d->fields[i].offset;
		switch (d->fields[i].type) {
		case LP_AMQP_TYPE_BIT:
			assert_int_equal(*(const bool *)pa, *(const bool *)pb);
			break;
		case LP_AMQP_TYPE_OCTET:
			assert_int_equal(*(const uint8_t *)pa, *(const uint8_t *)pb);
			break;
		case LP_AMQP_TYPE_SHORT:
			assert_int_equal(*(const uint16_t *)pa, *(const uint16_t *)pb);
			break;
		case LP_AMQP_TYPE_LONG:
			assert_int_equal(*(const uint32_t *)pa, *(const uint32_t *)pb);
			break;
		case LP_AMQP_TYPE_LONGLONG:
		case LP_AMQP_TYPE_TIMESTAMP:
			assert_true(*(const uint64_t *)pa == *(const uint64_t *)pb);
			break;
		default: {
			const struct lp_amqp_bytes *ba = pa, *bb = pb;
			assert_int_equal(ba->len, bb->len);
			if (ba->len)
				assert_memory_equal(ba->ptr, bb->ptr, ba->len);
		}
		}
	}
}

static int setup(void **state)
{
	(void)state;
	struct lp_amqp_wr w;
	size_t mark;
	for (size_t i = 0; i < sizeof(pool); i++)
		pool[i] = (uint8_t)rnd();
	lp_amqp_wr_init(&w, table_buf, sizeof(table_buf));
	lp_amqp_wr_table_begin(&w, &mark);
	lp_amqp_wr_field_str(&w, "x-queue-type", "classic");
	lp_amqp_wr_field_bool(&w, "x-single-active-consumer", true);
	lp_amqp_wr_table_end(&w, mark);
	table_len = w.off;
	return 0;
}

static void test_every_method_round_trips(void **state)
{
	(void)state;
	static uint8_t buf[8192], again[8192];
	struct lp_amqp_method m, d;

	assert_int_equal(LP_AMQP_METHOD_COUNT, 66);
	for (int round = 0; round < 50; round++) {
		for (size_t i = 0; i < LP_AMQP_METHOD_COUNT; i++) {
			const struct lp_amqp_method_desc *desc = lp_amqp_method_desc(lp_amqp_method_ids[i]);
			assert_non_null(desc);
			fill(&m, desc);
			int n = lp_amqp_method_encode(&m, buf, sizeof(buf));
			assert_true(n >= 4);
			assert_int_equal(lp_amqp_method_decode(buf, (size_t)n, &d), 0);
			assert_same(&m, &d, desc);
			assert_int_equal(lp_amqp_method_encode(&d, again, sizeof(again)), n);
			assert_memory_equal(buf, again, (size_t)n);

			/* Every truncation is rejected. */
			for (int cut = 0; cut < n; cut++)
				assert_int_equal(lp_amqp_method_decode(buf, (size_t)cut, &d), -EBADMSG);
			/* A trailing octet is rejected. */
			buf[n] = 0;
			assert_int_equal(lp_amqp_method_decode(buf, (size_t)n + 1, &d), -EBADMSG);
			/* Every buffer too small is refused. */
			for (int cap = 0; cap < n; cap += 1 + cap / 8)
				assert_int_equal(lp_amqp_method_encode(&m, buf, (size_t)cap), -ENOSPC);
		}
	}
}

static void test_oversized_and_unknown(void **state)
{
	(void)state;
	uint8_t buf[1024];
	struct lp_amqp_method m = { .id = LP_AMQP_QUEUE_DECLARE };

	m.queue_declare.queue = (struct lp_amqp_bytes){ pool, 256 };
	assert_int_equal(lp_amqp_method_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.queue_declare.queue.len = 255;
	assert_true(lp_amqp_method_encode(&m, buf, sizeof(buf)) > 0);

	static const uint8_t unknown[] = { 0, 10, 0, 99 };
	struct lp_amqp_method d;
	assert_int_equal(lp_amqp_method_decode(unknown, sizeof(unknown), &d), -ENOTSUP);
	assert_int_equal(d.id, 0x000A0063);
	m.id = 0x00FF0001;
	assert_int_equal(lp_amqp_method_encode(&m, buf, sizeof(buf)), -ENOTSUP);
	/* A table argument whose body holds an unknown type octet. */
	static const uint8_t bad_table[] = { 0, 20, 0, 10, 0, 0, 0, 0 }; /* channel.open, out-of-band "" */
	assert_int_equal(lp_amqp_method_decode(bad_table, 4, &d), -EBADMSG);
	assert_int_equal(lp_amqp_method_decode(bad_table, 5, &d), 0);
	static const uint8_t qd[] = { 0, 50, 0, 10, 0, 0, 1, 'q', 0, 0, 0, 0, 3, 1, 'k', 'Z' };
	assert_int_equal(lp_amqp_method_decode(qd, sizeof(qd), &d), -EBADMSG);
}

static void test_names_and_reply_codes(void **state)
{
	(void)state;
	assert_string_equal(lp_amqp_method_name(LP_AMQP_BASIC_PUBLISH), "basic.publish");
	assert_string_equal(lp_amqp_method_name(LP_AMQP_EXCHANGE_UNBIND_OK), "exchange.unbind-ok");
	assert_int_equal(LP_AMQP_EXCHANGE_UNBIND_OK & 0xFFFF, 51);
	assert_null(lp_amqp_method_name(0x000A00FF));
	assert_string_equal(lp_amqp_class_name(LP_AMQP_CLASS_CONFIRM), "confirm");
	assert_true(lp_amqp_method_desc(LP_AMQP_BASIC_PUBLISH)->content);
	assert_false(lp_amqp_method_desc(LP_AMQP_BASIC_ACK)->content);
	assert_true(lp_amqp_method_desc(LP_AMQP_QUEUE_DECLARE)->synchronous);

	assert_string_equal(lp_amqp_reply_name(501), "FRAME_ERROR");
	assert_string_equal(lp_amqp_reply_name(530), "NOT_ALLOWED");
	assert_string_equal(lp_amqp_reply_name(403), "ACCESS_REFUSED");
	assert_null(lp_amqp_reply_name(999));
	assert_true(lp_amqp_reply_is_hard(LP_AMQP_FRAME_ERROR));
	assert_true(lp_amqp_reply_is_hard(LP_AMQP_INVALID_PATH));
	assert_false(lp_amqp_reply_is_hard(LP_AMQP_NOT_FOUND));
	assert_false(lp_amqp_reply_is_hard(LP_AMQP_REPLY_SUCCESS));
	char t[300];
	size_t n = lp_amqp_reply_text(t, sizeof(t), LP_AMQP_NOT_FOUND, "no queue '%s' in vhost '%s'", "q", "/");
	assert_string_equal(t, "NOT_FOUND - no queue 'q' in vhost '/'");
	assert_int_equal(n, strlen(t));
	char big[400];
	memset(big, 'a', sizeof(big) - 1);
	big[399] = '\0';
	n = lp_amqp_reply_text(t, sizeof(t), LP_AMQP_NOT_FOUND, "%s", big);
	assert_int_equal(n, 255); /* a reply text is a shortstr */
	assert_int_equal(strlen(t), 255);
}

/* Decode a golden frame, check it re-encodes to the same bytes. */
static void redo(const struct golden_frame *f, struct lp_amqp_method *m)
{
	uint8_t buf[1024];
	assert_int_equal(lp_amqp_method_decode(f->payload, f->size, m), 0);
	assert_int_equal(lp_amqp_method_encode(m, buf, sizeof(buf)), (int)f->size);
	assert_memory_equal(buf, f->payload, f->size);
}

static void test_golden_pika(void **state)
{
	(void)state;
	size_t len;
	uint8_t *g = golden_load("pika_client.bin", &len);
	struct golden_frame f[32];
	size_t n = golden_frames(g, len, f, 32), methods = 0;
	struct lp_amqp_method m;
	struct lp_amqp_field_value v;

	assert_memory_equal(g, "AMQP\x00\x00\x09\x01", 8);
	assert_int_equal(n, 17);
	for (size_t i = 0; i < n; i++) {
		if (f[i].type != LP_AMQP_FRAME_METHOD)
			continue;
		methods++;
		redo(&f[i], &m);
		switch (m.id) {
		case LP_AMQP_CONNECTION_START_OK:
			assert_true(lp_amqp_bytes_eq(m.connection_start_ok.mechanism, "PLAIN"));
			assert_int_equal(m.connection_start_ok.response.len, 12);
			assert_memory_equal(m.connection_start_ok.response.ptr, "\0guest\0guest", 12);
			assert_true(lp_amqp_bytes_eq(m.connection_start_ok.locale, "en_US"));
			assert_true(lp_amqp_table_get(m.connection_start_ok.client_properties, "product", &v));
			assert_true(lp_amqp_bytes_eq(v.bytes, "Pika Python Client Library"));
			assert_true(lp_amqp_table_get(m.connection_start_ok.client_properties, "capabilities", &v));
			assert_int_equal(v.kind, 'F');
			struct lp_amqp_field_value c;
			assert_true(lp_amqp_table_get(v.bytes, "authentication_failure_close", &c) && c.b);
			assert_true(lp_amqp_table_get(v.bytes, "connection.blocked", &c) && c.b);
			break;
		case LP_AMQP_CONNECTION_TUNE_OK:
			assert_int_equal(m.connection_tune_ok.channel_max, 2047);
			assert_int_equal(m.connection_tune_ok.frame_max, 131072);
			assert_int_equal(m.connection_tune_ok.heartbeat, 60);
			break;
		case LP_AMQP_CONNECTION_OPEN:
			assert_true(lp_amqp_bytes_eq(m.connection_open.virtual_host, "/"));
			break;
		case LP_AMQP_EXCHANGE_DECLARE:
			assert_true(lp_amqp_bytes_eq(m.exchange_declare.exchange, "lepus.x"));
			assert_true(lp_amqp_bytes_eq(m.exchange_declare.type, "topic"));
			assert_true(m.exchange_declare.durable);
			assert_false(m.exchange_declare.passive);
			assert_true(lp_amqp_table_get(m.exchange_declare.arguments, "alternate-exchange", &v));
			assert_true(lp_amqp_bytes_eq(v.bytes, "ae"));
			break;
		case LP_AMQP_QUEUE_DECLARE:
			assert_true(lp_amqp_bytes_eq(m.queue_declare.queue, "lepus.q"));
			assert_true(m.queue_declare.durable);
			assert_true(lp_amqp_table_get(m.queue_declare.arguments, "x-max-length", &v));
			assert_int_equal(v.kind, 'I');
			assert_int_equal(v.i32, 1000);
			break;
		case LP_AMQP_QUEUE_BIND:
			assert_true(lp_amqp_bytes_eq(m.queue_bind.routing_key, "a.*"));
			break;
		case LP_AMQP_BASIC_QOS:
			assert_int_equal(m.basic_qos.prefetch_count, 10);
			break;
		case LP_AMQP_BASIC_PUBLISH:
			assert_true(lp_amqp_bytes_eq(m.basic_publish.exchange, "lepus.x"));
			assert_true(lp_amqp_bytes_eq(m.basic_publish.routing_key, "a.b"));
			break;
		case LP_AMQP_BASIC_GET:
			assert_true(lp_amqp_bytes_eq(m.basic_get.queue, "lepus.q"));
			assert_true(m.basic_get.no_ack);
			break;
		case LP_AMQP_CONFIRM_SELECT:
			assert_false(m.confirm_select.nowait);
			break;
		case LP_AMQP_CHANNEL_OPEN:
		case LP_AMQP_CHANNEL_CLOSE:
		case LP_AMQP_CONNECTION_CLOSE:
			break;
		default:
			fail_msg("unexpected method %s", lp_amqp_method_name(m.id));
		}
	}
	assert_int_equal(methods, 15);

	/* The content header: properties decode and re-encode identically. */
	struct lp_amqp_content_header h;
	uint8_t buf[512];
	assert_int_equal(f[9].type, LP_AMQP_FRAME_HEADER);
	assert_int_equal(lp_amqp_content_header_decode(f[9].payload, f[9].size, &h), 0);
	assert_int_equal(h.body_size, 11);
	assert_true(lp_amqp_bytes_eq(h.props.content_type, "text/plain"));
	assert_int_equal(h.props.delivery_mode, 2);
	assert_int_equal(h.props.priority, 5);
	assert_true(lp_amqp_bytes_eq(h.props.correlation_id, "c1"));
	assert_true(lp_amqp_bytes_eq(h.props.reply_to, "r"));
	assert_true(lp_amqp_bytes_eq(h.props.message_id, "m1"));
	assert_true(h.props.timestamp == 1700000000);
	assert_true(lp_amqp_bytes_eq(h.props.type, "t"));
	assert_true(lp_amqp_bytes_eq(h.props.app_id, "app"));
	assert_false(h.props.flags & LP_AMQP_BASIC_USER_ID_FLAG);
	int pn = lp_amqp_basic_properties_encode(&h.props, buf, sizeof(buf));
	assert_int_equal(pn, (int)f[9].size - 12);
	assert_memory_equal(buf, f[9].payload + 12, (size_t)pn);
	assert_int_equal(f[10].type, LP_AMQP_FRAME_BODY);
	assert_memory_equal(f[10].payload, "hello lepus", 11);
	free(g);
}

static void test_golden_amqp_tools(void **state)
{
	(void)state;
	size_t len;
	uint8_t *g = golden_load("amqp_tools_publish.bin", &len);
	struct golden_frame f[16];
	size_t n = golden_frames(g, len, f, 16);
	struct lp_amqp_method m;
	struct lp_amqp_field_value v;
	struct lp_amqp_content_header h;

	assert_int_equal(n, 9);
	redo(&f[0], &m);
	assert_int_equal(m.id, LP_AMQP_CONNECTION_START_OK);
	assert_true(lp_amqp_table_get(m.connection_start_ok.client_properties, "product", &v));
	assert_true(lp_amqp_bytes_eq(v.bytes, "rabbitmq-c"));
	assert_memory_equal(m.connection_start_ok.response.ptr, "\0guest\0guest", 12);
	redo(&f[1], &m);
	assert_int_equal(m.id, LP_AMQP_CONNECTION_TUNE_OK);
	redo(&f[2], &m);
	assert_int_equal(m.id, LP_AMQP_CONNECTION_OPEN);
	redo(&f[4], &m);
	assert_int_equal(m.id, LP_AMQP_BASIC_PUBLISH);
	assert_true(lp_amqp_bytes_eq(m.basic_publish.routing_key, "lepus.q"));
	assert_int_equal(lp_amqp_content_header_decode(f[5].payload, f[5].size, &h), 0);
	assert_int_equal(h.body_size, 21);
	assert_memory_equal(f[6].payload, "hello from amqp-tools", 21);
	redo(&f[7], &m);
	assert_int_equal(m.id, LP_AMQP_CHANNEL_CLOSE);
	assert_int_equal(m.channel_close.reply_code, 200);
	redo(&f[8], &m);
	assert_int_equal(m.id, LP_AMQP_CONNECTION_CLOSE);
	free(g);
}

static void test_properties_flags(void **state)
{
	(void)state;
	struct lp_amqp_basic_properties p;
	/* bit 1 names no property: rejected (spec 4.2.6.1) */
	static const uint8_t bad[] = { 0x00, 0x02 };
	assert_int_equal(lp_amqp_basic_properties_decode(bad, sizeof(bad), &p), -EBADMSG);
	/* continuation word that is empty: accepted */
	static const uint8_t cont[] = { 0x10, 0x01, 0x00, 0x00, 0x02 };
	assert_int_equal(lp_amqp_basic_properties_decode(cont, sizeof(cont), &p), 0);
	assert_int_equal(p.delivery_mode, 2);
	/* delivery-mode flagged but absent */
	static const uint8_t trunc[] = { 0x10, 0x00 };
	assert_int_equal(lp_amqp_basic_properties_decode(trunc, sizeof(trunc), &p), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_method_round_trips),
		cmocka_unit_test(test_oversized_and_unknown),
		cmocka_unit_test(test_names_and_reply_codes),
		cmocka_unit_test(test_golden_pika),
		cmocka_unit_test(test_golden_amqp_tools),
		cmocka_unit_test(test_properties_flags),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
