/* SPDX-License-Identifier: MIT */
/*
 * Writes the seeds of fuzz_worker_input (record format: worker_input.h)
 * into a directory: gen_worker_seeds tests/fuzz/corpus/worker_input. AMQP
 * methods are encoded with the project's own codec (amqp_frame.h), so the
 * seeds follow the spec the dataplane is generated from. The fuzz suite
 * checks that the files in the tree are what this program writes.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp_frame.h"
#include "amqp_table.h"
#include "amqp_types.h"
#include "worker_input.h"

#define FRAME_MAX 131072

/* TCP flags (RFC 9293 3.1). */
#define FIN 0x01
#define SYN 0x02
#define RST 0x04
#define PSH 0x08
#define ACK 0x10

struct seed {
	uint8_t buf[65536];
	size_t len;
};

static void put(struct seed *s, const void *p, size_t n)
{
	if (s->len + n > sizeof(s->buf)) {
		fprintf(stderr, "gen_worker_seeds: seed over %zu octets\n", sizeof(s->buf));
		exit(1);
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

static void put_u8(struct seed *s, uint8_t v)
{
	put(s, &v, 1);
}

static void put_u16(struct seed *s, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};

	put(s, b, 2);
}

static void put_u32(struct seed *s, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};

	put(s, b, 4);
}

/* ---- records ----------------------------------------------------------- */

static void rec_raw(struct seed *s, const uint8_t *frame, size_t len)
{
	put_u8(s, WI_RAW);
	put_u16(s, (uint16_t)len);
	put(s, frame, len);
}

static void rec_seg_full(struct seed *s, uint8_t tag_bits, uint8_t flow, uint8_t flags, uint8_t ctl,
			 uint16_t wnd, int32_t seq_off, const uint8_t *opts, uint8_t optlen,
			 const void *data, size_t len)
{
	put_u8(s, WI_SEG | tag_bits);
	put_u8(s, flow);
	put_u8(s, flags);
	put_u8(s, ctl);
	put_u16(s, wnd);
	if (ctl & WI_SEQ_OFF)
		put_u32(s, (uint32_t)seq_off);
	if (ctl & WI_OPTS) {
		put_u8(s, optlen);
		put(s, opts, optlen);
	}
	put_u16(s, (uint16_t)len);
	put(s, data, len);
}

static void rec_seg(struct seed *s, uint8_t flow, uint8_t flags, const void *data, size_t len)
{
	rec_seg_full(s, 0, flow, flags, 0, 65535, 0, NULL, 0, data, len);
}

static void rec_time(struct seed *s, uint16_t t)
{
	put_u8(s, WI_TIME);
	put_u16(s, t);
}

/* The client's SYN (MSS 1460, SACK permitted, window scale 7), then its ACK
 * of the SYN-ACK. */
static void tcp_open(struct seed *s, uint8_t flow)
{
	static const uint8_t opts[] = {2, 4, 0x05, 0xb4, 4, 2, 1, 3, 3, 7};

	rec_seg_full(s, 0, flow, SYN, WI_OPTS, 65535, 0, opts, sizeof(opts), NULL, 0);
	rec_seg(s, flow, ACK, NULL, 0);
}

/* Every AMQP frame of an encoded stream as one WI_FRAME record. */
static void rec_frames(struct seed *s, uint8_t flow, const uint8_t *p, size_t len)
{
	while (len >= 8) {
		uint32_t size = (uint32_t)p[3] << 24 | (uint32_t)p[4] << 16 | (uint32_t)p[5] << 8 | p[6];

		put_u8(s, WI_FRAME);
		put_u8(s, flow);
		put_u8(s, p[0]);
		put_u16(s, (uint16_t)(p[1] << 8 | p[2]));
		put_u16(s, (uint16_t)size);
		put(s, p + 7, size);
		p += 8 + size;
		len -= 8 + size;
	}
}

/* ---- AMQP --------------------------------------------------------------- */

struct amqp {
	struct seed *s;
	uint8_t flow;
	bool raw;     /* stream octets in WI_SEG records cut at odd places, not WI_FRAME */
	bool reorder; /* the next stream in two segments, the second one first */
	uint8_t out[16384];
	struct lp_amqp_outbuf o;
};

static void amqp_flush(struct amqp *a)
{
	const uint8_t *p;
	size_t n = lp_amqp_outbuf_peek(&a->o, &p);

	if (a->reorder) {
		/* One burst: the second half (the flow's next sequence number moves
		 * past it), then the first half, behind it. */
		size_t h = n / 2;

		rec_seg_full(a->s, WI_HOLD, a->flow, PSH | ACK, WI_SEQ_OFF, 65535, (int32_t)h, NULL, 0,
			     p + h, n - h);
		rec_seg_full(a->s, 0, a->flow, PSH | ACK, WI_SEQ_OFF, 65535, -(int32_t)n, NULL, 0, p, h);
		a->reorder = false;
	} else if (!a->raw) {
		rec_frames(a->s, a->flow, p, n);
	} else {
		/* Segments of 5, 11, 23, ... octets: frames span segments. */
		for (size_t off = 0, k = 5; off < n; off += k, k = k * 2 + 1) {
			size_t m = n - off < k ? n - off : k;

			rec_seg(a->s, a->flow, PSH | ACK, p + off, m);
		}
	}
	lp_amqp_outbuf_consume(&a->o, n);
}

static void method(struct amqp *a, uint16_t ch, const struct lp_amqp_method *m)
{
	lp_amqp_outbuf_init(&a->o, a->out, sizeof(a->out));
	if (lp_amqp_frame_write_method(&a->o, ch, m, FRAME_MAX) <= 0) {
		fprintf(stderr, "gen_worker_seeds: method %#x does not encode\n", m->id);
		exit(1);
	}
	amqp_flush(a);
}

static void content(struct amqp *a, uint16_t ch, const struct lp_amqp_basic_properties *props,
		    const char *body)
{
	lp_amqp_outbuf_init(&a->o, a->out, sizeof(a->out));
	if (lp_amqp_frame_write_content(&a->o, ch, props, (const uint8_t *)body, strlen(body),
					FRAME_MAX) <= 0) {
		fprintf(stderr, "gen_worker_seeds: content does not encode\n");
		exit(1);
	}
	amqp_flush(a);
}

static struct lp_amqp_bytes str(const char *s)
{
	return lp_amqp_cstr(s);
}

/* Protocol header, Start-Ok (PLAIN guest/guest), Tune-Ok, Open "/", and
 * Channel.Open 1. */
static void amqp_open(struct amqp *a, uint16_t heartbeat)
{
	static const uint8_t header[8] = {'A', 'M', 'Q', 'P', 0, 0, 9, 1};
	static const uint8_t plain[] = "\0guest\0guest";
	static uint8_t props[128];
	struct lp_amqp_wr wr;
	size_t top, caps;
	struct lp_amqp_method m;

	lp_amqp_wr_init(&wr, props, sizeof(props));
	lp_amqp_wr_table_begin(&wr, &top);
	lp_amqp_wr_field_str(&wr, "product", "gen_worker_seeds");
	lp_amqp_wr_shortstr(&wr, str("capabilities"));
	lp_amqp_wr_u8(&wr, LP_AMQP_FIELD_TABLE);
	lp_amqp_wr_table_begin(&wr, &caps);
	lp_amqp_wr_field_bool(&wr, "consumer_cancel_notify", true);
	lp_amqp_wr_field_bool(&wr, "publisher_confirms", true);
	lp_amqp_wr_field_bool(&wr, "connection.blocked", true);
	lp_amqp_wr_table_end(&wr, caps);
	lp_amqp_wr_table_end(&wr, top);

	rec_seg(a->s, a->flow, PSH | ACK, header, sizeof(header));
	m = (struct lp_amqp_method){.id = LP_AMQP_CONNECTION_START_OK};
	m.connection_start_ok.client_properties =
		(struct lp_amqp_bytes){.ptr = props + 4, .len = (uint32_t)(wr.off - 4)};
	m.connection_start_ok.mechanism = str("PLAIN");
	m.connection_start_ok.response = (struct lp_amqp_bytes){plain, sizeof(plain) - 1};
	m.connection_start_ok.locale = str("en_US");
	method(a, 0, &m);
	m = (struct lp_amqp_method){.id = LP_AMQP_CONNECTION_TUNE_OK};
	m.connection_tune_ok.channel_max = 64;
	m.connection_tune_ok.frame_max = FRAME_MAX;
	m.connection_tune_ok.heartbeat = heartbeat;
	method(a, 0, &m);
	m = (struct lp_amqp_method){.id = LP_AMQP_CONNECTION_OPEN};
	m.connection_open.virtual_host = str("/");
	method(a, 0, &m);
	m = (struct lp_amqp_method){.id = LP_AMQP_CHANNEL_OPEN};
	method(a, 1, &m);
}

/* Channel.Close, Connection.Close, Close-Ok is the server's; then FIN. */
static void amqp_close(struct amqp *a)
{
	struct lp_amqp_method m = {.id = LP_AMQP_CHANNEL_CLOSE};

	m.channel_close.reply_code = 200;
	m.channel_close.reply_text = str("bye");
	method(a, 1, &m);
	m = (struct lp_amqp_method){.id = LP_AMQP_CONNECTION_CLOSE};
	m.connection_close.reply_code = 200;
	m.connection_close.reply_text = str("bye");
	method(a, 0, &m);
	rec_time(a->s, 20);
	rec_seg(a->s, a->flow, FIN | ACK, NULL, 0);
	rec_time(a->s, 2000);
}

static void publish(struct amqp *a, const char *x, const char *key, bool mandatory,
		    const struct lp_amqp_basic_properties *props, const char *body)
{
	struct lp_amqp_method m = {.id = LP_AMQP_BASIC_PUBLISH};

	m.basic_publish.exchange = str(x);
	m.basic_publish.routing_key = str(key);
	m.basic_publish.mandatory = mandatory;
	method(a, 1, &m);
	content(a, 1, props, body);
}

static void queue_declare(struct amqp *a, const char *q, bool durable, bool exclusive)
{
	struct lp_amqp_method m = {.id = LP_AMQP_QUEUE_DECLARE};

	m.queue_declare.queue = str(q);
	m.queue_declare.durable = durable;
	m.queue_declare.exclusive = exclusive;
	method(a, 1, &m);
}

static void basic_consume(struct amqp *a, const char *q, bool no_ack)
{
	struct lp_amqp_method m = {.id = LP_AMQP_BASIC_CONSUME};

	m.basic_consume.queue = str(q);
	m.basic_consume.no_ack = no_ack;
	method(a, 1, &m);
}

static void basic_ack(struct amqp *a, uint64_t tag, bool multiple)
{
	struct lp_amqp_method m = {.id = LP_AMQP_BASIC_ACK};

	m.basic_ack.delivery_tag = tag;
	m.basic_ack.multiple = multiple;
	method(a, 1, &m);
}

/* The brief's session: declare, publish, consume, ack, close. */
static void seed_amqp_session(struct seed *s)
{
	struct amqp a = {.s = s, .flow = 0};
	struct lp_amqp_basic_properties props = {
		.flags = LP_AMQP_BASIC_CONTENT_TYPE_FLAG | LP_AMQP_BASIC_DELIVERY_MODE_FLAG,
		.content_type = str("text/plain"),
		.delivery_mode = 2,
	};

	tcp_open(s, 0);
	amqp_open(&a, 60);
	queue_declare(&a, "work", true, false);
	publish(&a, "", "work", false, &props, "hello");
	basic_consume(&a, "work", false);
	rec_time(s, 20); /* the delivery goes out; the client's ACK follows */
	rec_seg(s, 0, ACK, NULL, 0);
	basic_ack(&a, 1, false);
	amqp_close(&a);
}

/* The same handshake as stream octets cut across segments, two of them
 * arriving in one burst in reverse order (reassembly), and a publish to
 * every pre-declared exchange type. */
static void seed_amqp_stream(struct seed *s)
{
	struct amqp a = {.s = s, .flow = 1, .raw = true};
	struct lp_amqp_basic_properties none = {0};

	tcp_open(s, 1);
	amqp_open(&a, 0);
	publish(&a, "x.direct", "a", false, &none, "to q.a");
	publish(&a, "x.fanout", "", false, &none, "to q.a and q.b");
	a.reorder = true;
	publish(&a, "x.topic", "e.b.c", false, &none, "to q.b, q.c and x.fanout");
	amqp_close(&a);
}

/* Declarations answered by control, routing through each exchange type,
 * Get, confirms, Qos, reject/nack/recover, purge, unbind, deletes. */
static void seed_amqp_topology(struct seed *s)
{
	struct amqp a = {.s = s, .flow = 2};
	struct lp_amqp_method m;
	static uint8_t hdrs[64];
	struct lp_amqp_wr wr;
	size_t mark;

	lp_amqp_wr_init(&wr, hdrs, sizeof(hdrs));
	lp_amqp_wr_table_begin(&wr, &mark);
	lp_amqp_wr_field_str(&wr, "h", "v");
	lp_amqp_wr_table_end(&wr, mark);
	struct lp_amqp_basic_properties props = {
		.flags = LP_AMQP_BASIC_HEADERS_FLAG,
		.headers = {.ptr = hdrs + 4, .len = (uint32_t)(wr.off - 4)},
	};
	struct lp_amqp_basic_properties none = {0};

	tcp_open(s, 2);
	amqp_open(&a, 60);
	m = (struct lp_amqp_method){.id = LP_AMQP_EXCHANGE_DECLARE};
	m.exchange_declare.exchange = str("x.new");
	m.exchange_declare.type = str("topic");
	method(&a, 1, &m);
	queue_declare(&a, "", false, true); /* server-named, exclusive */
	m = (struct lp_amqp_method){.id = LP_AMQP_QUEUE_BIND};
	m.queue_bind.exchange = str("x.new");
	m.queue_bind.routing_key = str("a.#");
	method(&a, 1, &m); /* the last declared queue */
	publish(&a, "x.new", "a.b", true, &none, "bound");
	publish(&a, "x.new", "z", true, &none, "returned");
	publish(&a, "x.headers", "", false, &props, "to q.c");
	publish(&a, "x.direct", "nobody", false, &none, "to the alternate");
	m = (struct lp_amqp_method){.id = LP_AMQP_BASIC_GET};
	m.basic_get.queue = str("q.b");
	method(&a, 1, &m);
	m.basic_get.queue = str("q.c");
	m.basic_get.no_ack = true;
	method(&a, 1, &m);
	m = (struct lp_amqp_method){.id = LP_AMQP_CONFIRM_SELECT};
	method(&a, 1, &m);
	publish(&a, "", "q.a", false, &none, "confirmed");
	m = (struct lp_amqp_method){.id = LP_AMQP_BASIC_QOS};
	m.basic_qos.prefetch_count = 1;
	method(&a, 1, &m);
	basic_consume(&a, "q.a", false);
	rec_time(s, 20);
	rec_seg(s, 2, ACK, NULL, 0);
	m = (struct lp_amqp_method){.id = LP_AMQP_BASIC_REJECT};
	m.basic_reject.delivery_tag = 3;
	m.basic_reject.requeue = true;
	method(&a, 1, &m);
	m = (struct lp_amqp_method){.id = LP_AMQP_BASIC_NACK};
	m.basic_nack.delivery_tag = 4;
	m.basic_nack.requeue = false;
	method(&a, 1, &m);
	m = (struct lp_amqp_method){.id = LP_AMQP_BASIC_RECOVER};
	m.basic_recover.requeue = true;
	method(&a, 1, &m);
	m = (struct lp_amqp_method){.id = LP_AMQP_QUEUE_PURGE};
	m.queue_purge.queue = str("q.b");
	method(&a, 1, &m);
	m = (struct lp_amqp_method){.id = LP_AMQP_QUEUE_UNBIND};
	m.queue_unbind.queue = str("q.b");
	m.queue_unbind.exchange = str("x.topic");
	m.queue_unbind.routing_key = str("*.b.#");
	method(&a, 1, &m);
	m = (struct lp_amqp_method){.id = LP_AMQP_QUEUE_DELETE};
	m.queue_delete.queue = str("q.auto");
	method(&a, 1, &m);
	m = (struct lp_amqp_method){.id = LP_AMQP_EXCHANGE_DELETE};
	m.exchange_delete.exchange = str("x.new");
	method(&a, 1, &m);
	amqp_close(&a);
}

/* A second channel, consumers and their cancel (q.auto then goes: control
 * deletes it), transactions, Exchange.Bind, a passive declare, an empty Get,
 * Channel.Flow and multiple acks and nacks. */
static void seed_amqp_consumers(struct seed *s)
{
	struct amqp a = {.s = s, .flow = 0};
	struct lp_amqp_basic_properties none = {0};
	struct lp_amqp_method m;

	tcp_open(s, 0);
	amqp_open(&a, 60);
	m = (struct lp_amqp_method){.id = LP_AMQP_CHANNEL_OPEN};
	method(&a, 2, &m);
	m = (struct lp_amqp_method){.id = LP_AMQP_BASIC_CONSUME};
	m.basic_consume.queue = str("q.auto");
	m.basic_consume.consumer_tag = str("c.auto");
	method(&a, 2, &m);
	m = (struct lp_amqp_method){.id = LP_AMQP_BASIC_CANCEL};
	m.basic_cancel.consumer_tag = str("c.auto");
	method(&a, 2, &m);
	m = (struct lp_amqp_method){.id = LP_AMQP_QUEUE_DECLARE};
	m.queue_declare.queue = str("q.a");
	m.queue_declare.passive = true;
	method(&a, 2, &m);
	m = (struct lp_amqp_method){.id = LP_AMQP_EXCHANGE_BIND};
	m.exchange_bind.destination = str("x.direct");
	m.exchange_bind.source = str("x.topic");
	m.exchange_bind.routing_key = str("d.#");
	method(&a, 1, &m);
	m = (struct lp_amqp_method){.id = LP_AMQP_TX_SELECT};
	method(&a, 1, &m);
	publish(&a, "x.topic", "d.x", false, &none, "through x.direct to its alternate");
	publish(&a, "", "q.b", false, &none, "rolled back");
	m = (struct lp_amqp_method){.id = LP_AMQP_TX_ROLLBACK};
	method(&a, 1, &m);
	publish(&a, "", "q.b", false, &none, "one");
	publish(&a, "", "q.b", false, &none, "two");
	publish(&a, "", "q.b", false, &none, "three");
	m = (struct lp_amqp_method){.id = LP_AMQP_TX_COMMIT};
	method(&a, 1, &m);
	m = (struct lp_amqp_method){.id = LP_AMQP_BASIC_GET};
	m.basic_get.queue = str("q.auto");
	method(&a, 2, &m);
	m = (struct lp_amqp_method){.id = LP_AMQP_CHANNEL_FLOW};
	m.channel_flow.active = false;
	method(&a, 2, &m);
	basic_consume(&a, "q.b", false);
	rec_time(s, 20);
	rec_seg(s, 0, ACK, NULL, 0);
	basic_ack(&a, 2, true);
	m = (struct lp_amqp_method){.id = LP_AMQP_BASIC_NACK};
	m.basic_nack.delivery_tag = 0;
	m.basic_nack.multiple = true;
	m.basic_nack.requeue = true;
	method(&a, 1, &m);
	m = (struct lp_amqp_method){.id = LP_AMQP_TX_COMMIT};
	method(&a, 1, &m);
	/* A consumed queue deleted: the server cancels its consumer. */
	m = (struct lp_amqp_method){.id = LP_AMQP_BASIC_CONSUME};
	m.basic_consume.queue = str("q.c");
	m.basic_consume.consumer_tag = str("c.c");
	method(&a, 1, &m);
	m = (struct lp_amqp_method){.id = LP_AMQP_QUEUE_DELETE};
	m.queue_delete.queue = str("q.c");
	method(&a, 1, &m);
	amqp_close(&a);
}

/* More messages than the broker's pool holds (64) from one connection:
 * memory alarm (Connection.Blocked, the publisher is no longer read), until
 * a consumer on a second connection drains the queue (Unblocked). */
static void seed_amqp_flood(struct seed *s)
{
	struct amqp a = {.s = s, .flow = 1}, b = {.s = s, .flow = 2};
	struct lp_amqp_basic_properties none = {0};

	tcp_open(s, 1);
	amqp_open(&a, 60);
	for (int i = 0; i < 72; i++)
		publish(&a, "", "q.b", false, &none, "m");
	rec_time(s, 20);
	tcp_open(s, 2);
	amqp_open(&b, 60);
	basic_consume(&b, "q.b", true);
	for (int i = 0; i < 4; i++) {
		rec_time(s, 20);
		rec_seg(s, 1, ACK, NULL, 0);
		rec_seg(s, 2, ACK, NULL, 0);
	}
	amqp_close(&b);
	amqp_close(&a);
}

/* Heartbeat 1 s negotiated, then silence: heartbeats, then the close. */
static void seed_amqp_heartbeat(struct seed *s)
{
	struct amqp a = {.s = s, .flow = 0};

	tcp_open(s, 0);
	amqp_open(&a, 1);
	for (int i = 0; i < 3; i++) {
		rec_time(s, 1000);
		put_u8(s, WI_FRAME); /* the client's heartbeat: type 8, channel 0, empty */
		put_u8(s, 0);
		put_u8(s, 8);
		put_u16(s, 0);
		put_u16(s, 0);
	}
	for (int i = 0; i < 4; i++) {
		rec_time(s, 1000);
		rec_seg(s, 0, ACK, NULL, 0);
	}
}

/* The client never acknowledges: Connection.Start is retransmitted, and
 * the handshake times out (10 s). */
static void seed_tcp_retransmit(struct seed *s)
{
	static const uint8_t header[8] = {'A', 'M', 'Q', 'P', 0, 0, 9, 1};

	tcp_open(s, 3);
	rec_seg(s, 3, PSH | ACK, header, sizeof(header));
	for (int i = 0; i < 4; i++)
		rec_time(s, 0x8000 | 40); /* 4 s */
}

/* Echo (flow 4) and discard (flow 5): data, half close, close. */
static void seed_tcp_echo(struct seed *s)
{
	static const char text[] = "echo this, please";

	tcp_open(s, 4);
	rec_seg(s, 4, PSH | ACK, text, sizeof(text) - 1);
	rec_time(s, 20);
	rec_seg(s, 4, ACK, NULL, 0);
	rec_seg(s, 4, FIN | ACK, NULL, 0);
	rec_time(s, 20);
	rec_seg(s, 4, ACK, NULL, 0);
	tcp_open(s, 5);
	rec_seg(s, 5, PSH | ACK, text, sizeof(text) - 1);
	rec_seg(s, 5, RST, NULL, 0);
	rec_time(s, 1500);
}

/* More SYNs than the backlog holds, in one burst: SYN cookies. */
static void seed_syn_burst(struct seed *s)
{
	for (uint8_t f = 0; f < WI_FLOWS; f++)
		rec_seg_full(s, WI_HOLD, f, SYN, 0, 65535, 0, NULL, 0, NULL, 0);
	rec_time(s, 1);
	for (uint8_t f = 0; f < WI_FLOWS; f++)
		rec_seg(s, f, ACK, NULL, 0);
	rec_time(s, 0x8000 | 20);
}

/* ---- raw frames ---------------------------------------------------------- */

static uint16_t inet_cksum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void be32(uint8_t *p, uint32_t v)
{
	be16(p, (uint16_t)(v >> 16));
	be16(p + 2, (uint16_t)v);
}

/* RFC 826: who has 198.18.0.1? tell 198.18.0.2 (broadcast, padded to 60). */
static void seed_arp_request(struct seed *s)
{
	static const uint8_t peer[6] = WI_PEER_MAC;
	uint8_t f[60] = {0};

	memset(f, 0xff, 6);
	memcpy(f + 6, peer, 6);
	be16(f + 12, 0x0806);
	be16(f + 14, 1);      /* Ethernet */
	be16(f + 16, 0x0800); /* IPv4 */
	f[18] = 6;
	f[19] = 4;
	be16(f + 20, 1); /* request */
	memcpy(f + 22, peer, 6);
	be32(f + 28, WI_PEER_IP);
	be32(f + 38, WI_OUR_IP);
	rec_raw(s, f, sizeof(f));
}

/* RFC 792 echo request with 32 octets of data. */
static void seed_icmp_echo(struct seed *s)
{
	static const uint8_t our[6] = WI_OUR_MAC, peer[6] = WI_PEER_MAC;
	uint8_t f[14 + 20 + 8 + 32] = {0};
	uint8_t *ip = f + 14, *icmp = ip + 20;

	memcpy(f, our, 6);
	memcpy(f + 6, peer, 6);
	be16(f + 12, 0x0800);
	ip[0] = 0x45;
	be16(ip + 2, 20 + 8 + 32);
	be16(ip + 4, 0x1234);
	ip[8] = 64;
	ip[9] = 1; /* ICMP */
	be32(ip + 12, WI_PEER_IP);
	be32(ip + 16, WI_OUR_IP);
	be16(ip + 10, inet_cksum(ip, 20));
	icmp[0] = 8; /* echo request */
	be16(icmp + 4, 0x4c50);
	be16(icmp + 6, 1);
	for (int i = 0; i < 32; i++)
		icmp[8 + i] = (uint8_t)('a' + i % 26);
	be16(icmp + 2, inet_cksum(icmp, 8 + 32));
	rec_raw(s, f, sizeof(f));
}

static const struct {
	const char *name;
	void (*fill)(struct seed *s);
} seeds[] = {
	{"amqp_session", seed_amqp_session},
	{"amqp_stream", seed_amqp_stream},
	{"amqp_topology", seed_amqp_topology},
	{"amqp_consumers", seed_amqp_consumers},
	{"amqp_flood", seed_amqp_flood},
	{"amqp_heartbeat", seed_amqp_heartbeat},
	{"tcp_retransmit", seed_tcp_retransmit},
	{"tcp_echo", seed_tcp_echo},
	{"syn_burst", seed_syn_burst},
	{"arp_request", seed_arp_request},
	{"icmp_echo", seed_icmp_echo},
};

int main(int argc, char **argv)
{
	static struct seed s;
	char path[4096];

	if (argc != 2) {
		fprintf(stderr, "usage: gen_worker_seeds DIR\n");
		return 2;
	}
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		FILE *f;

		s.len = 0;
		seeds[i].fill(&s);
		snprintf(path, sizeof(path), "%s/%s", argv[1], seeds[i].name);
		f = fopen(path, "wb");
		if (f == NULL || fwrite(s.buf, 1, s.len, f) != s.len || fclose(f) != 0) {
			fprintf(stderr, "gen_worker_seeds: %s: %s\n", path, strerror(errno));
			return 1;
		}
	}
	return 0;
}
