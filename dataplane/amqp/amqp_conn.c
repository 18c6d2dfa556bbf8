/* SPDX-License-Identifier: MIT */
/*
 * AMQP 0-9-1 connection state machine. Call chain: lp_amqp_conn_input ->
 * protocol header (spec 4.2.2) -> lp_amqp_frame_read -> conn_frame -> channel 0
 * methods here (spec 2.2.4 connection class; RabbitMQ's rabbit_reader is the
 * behaviour followed, including its reply texts), other channels ->
 * lp_amqp_channel_frame. Replies are appended to the send buffer; the
 * transport drains it. See amqp_conn.h.
 */
#include "amqp_conn.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "amqp_reply.h"
#include "amqp_table.h"

#ifndef LP_VERSION
#define LP_VERSION "0.0.0"
#endif

/* Every frame we answer with fits in this (control methods, under
 * FRAME-MIN-SIZE); input is only read while the send buffer has it free
 * (input_room). */
#define OUT_RESERVE LP_AMQP_FRAME_MIN_SIZE

/* RabbitMQ rabbit_reader ?CHANNEL_MIN. */
#define CHANNEL_MIN 1

enum { MECH_NONE, MECH_PLAIN, MECH_AMQPLAIN };

static const uint8_t protocol_header[8] = { 'A', 'M', 'Q', 'P', 0, 0, 9, 1 };

void lp_amqp_conn_cfg_default(struct lp_amqp_conn_cfg *cfg)
{
	*cfg = (struct lp_amqp_conn_cfg){
		.channel_max = 2047,
		.frame_max = 131072,
		.heartbeat = 60,
		.max_message_size = 128ULL << 20,
		.outbuf_size = 2 * 131072,
		.handshake_timeout_ns = 10 * LP_AMQP_NS_PER_SEC,
		.close_timeout_ns = 3 * LP_AMQP_NS_PER_SEC,
		.product = "Lepus",
		.version = LP_VERSION,
		.platform = "DPDK",
	};
}

static size_t align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

size_t lp_amqp_conn_memsize(const struct lp_amqp_conn_cfg *cfg)
{
	return align8(sizeof(struct lp_amqp_conn)) +
	       align8(((size_t)cfg->channel_max + 1) * sizeof(struct lp_amqp_channel)) +
	       align8(cfg->frame_max) + align8(cfg->outbuf_size);
}

/* The send buffer's fixed size plus the largest content: two frames
 * (method, header) of frame_max and the body in frames of FRAME-MIN-SIZE,
 * the smallest frame_max a client may negotiate (spec 4.2.3). */
static size_t content_max(const struct lp_amqp_conn_cfg *cfg)
{
	uint64_t body = cfg->max_message_size < ((uint64_t)1 << 40) ? cfg->max_message_size
								     : (uint64_t)1 << 40;
	uint64_t n = (uint64_t)cfg->outbuf_size + 2 * (uint64_t)cfg->frame_max +
		     lp_amqp_content_wire_size(0, body, LP_AMQP_FRAME_MIN_SIZE);

	return n < SIZE_MAX ? (size_t)n : SIZE_MAX;
}

struct lp_amqp_conn *lp_amqp_conn_init(void *mem, size_t memsize, const struct lp_amqp_conn_cfg *cfg,
				       const struct lp_amqp_auth *auth,
				       const struct lp_amqp_conn_ops *ops, void *ctx, uint64_t now_ns)
{
	static const struct lp_amqp_conn_ops no_ops;
	struct lp_amqp_conn *c = mem;
	uint8_t *p;

	if (mem == NULL || cfg == NULL || auth == NULL || cfg->frame_max < LP_AMQP_FRAME_MIN_SIZE ||
	    cfg->channel_max == 0 || cfg->outbuf_size < 2 * OUT_RESERVE ||
	    memsize < lp_amqp_conn_memsize(cfg) || ((uintptr_t)mem & 7) != 0) {
		errno = EINVAL;
		return NULL;
	}
	memset(c, 0, sizeof(*c));
	c->cfg = *cfg;
	c->auth = auth;
	c->ops = ops ? ops : &no_ops;
	c->ctx = ctx;
	p = (uint8_t *)mem + align8(sizeof(*c));
	c->channels = (struct lp_amqp_channel *)p;
	memset(c->channels, 0, ((size_t)cfg->channel_max + 1) * sizeof(struct lp_amqp_channel));
	p += align8(((size_t)cfg->channel_max + 1) * sizeof(struct lp_amqp_channel));
	lp_amqp_frame_reader_init(&c->rd, p, cfg->frame_max);
	/* RabbitMQ reads the handshake with frame_max = FRAME-MIN-SIZE until Tune-Ok. */
	lp_amqp_frame_reader_set_max(&c->rd, LP_AMQP_FRAME_MIN_SIZE);
	p += align8(cfg->frame_max);
	lp_amqp_outbuf_init(&c->out, p, cfg->outbuf_size);
	c->out_content_max = content_max(cfg);
	c->out_reply_room = cfg->outbuf_size / 4 > OUT_RESERVE ? cfg->outbuf_size / 4 : OUT_RESERVE;
	c->out_sent = c->out_big_end = 0;
	/* Twice what flow control admits: room for a Get-Ok or Return (not
	 * admitted by lp_amqp_conn_can_take) besides a large delivery. */
	lp_amqp_outbuf_set_grow(&c->out, c->out_content_max <= SIZE_MAX / 2 ? 2 * c->out_content_max
									     : SIZE_MAX);
	c->state = LP_AMQP_CONN_HEADER;
	c->frame_max = LP_AMQP_FRAME_MIN_SIZE;
	c->channel_max = cfg->channel_max;
	c->now_ns = c->created_ns = c->last_rx_ns = c->last_tx_ns = now_ns;
	return c;
}

void lp_amqp_conn_release(struct lp_amqp_conn *c)
{
	if (c != NULL)
		lp_amqp_outbuf_fini(&c->out);
}

size_t lp_amqp_conn_output_peek(const struct lp_amqp_conn *c, const uint8_t **p)
{
	return lp_amqp_outbuf_peek(&c->out, p);
}

void lp_amqp_conn_output_consume(struct lp_amqp_conn *c, size_t n)
{
	c->out_sent += n;
	lp_amqp_outbuf_consume(&c->out, n);
}

const char *lp_amqp_conn_close_reason(const struct lp_amqp_conn *c, uint16_t *code)
{
	if (code != NULL)
		*code = c->close_code;
	return c->close_text;
}

static int send_method(struct lp_amqp_conn *c, uint16_t ch, const struct lp_amqp_method *m)
{
	int rc = lp_amqp_frame_write_method(&c->out, ch, m, c->frame_max);
	if (rc > 0)
		c->tx_seen = true;
	return rc;
}

int lp_amqp_conn_send_method(struct lp_amqp_conn *c, uint16_t ch, const struct lp_amqp_method *m)
{
	if (c->state != LP_AMQP_CONN_RUNNING)
		return -ENOTCONN;
	return send_method(c, ch, m);
}

/* Method frame then content; props encoded, or raw (props NULL). */
static int send_content(struct lp_amqp_conn *c, uint16_t ch, const struct lp_amqp_method *m,
			const struct lp_amqp_basic_properties *props, const uint8_t *raw,
			size_t raw_len, const uint8_t *body, uint64_t body_len)
{
	size_t before = lp_amqp_outbuf_len(&c->out);
	int rm, rc;

	if (c->state != LP_AMQP_CONN_RUNNING)
		return -ENOTCONN;
	rm = lp_amqp_frame_write_method(&c->out, ch, m, c->frame_max);
	if (rm < 0)
		return rm;
	if (props != NULL)
		rc = lp_amqp_frame_write_content(&c->out, ch, props, body, body_len, c->frame_max);
	else
		rc = lp_amqp_frame_write_content_raw(&c->out, ch, raw, raw_len, body, body_len,
						     c->frame_max);
	if (rc < 0) {
		/* The method frame is the last rm octets, compacted, moved to a
		 * grown buffer or not. */
		c->out.tail -= (size_t)rm;
		return rc;
	}
	c->tx_seen = true;
	/* Admitted alone (lp_amqp_conn_can_take): not what input waits for. */
	if (before == 0 && (size_t)rm + (size_t)rc + c->out_reply_room > c->out.fixed_cap)
		c->out_big_end = c->out_sent + (size_t)rm + (size_t)rc;
	return rm + rc;
}

int lp_amqp_conn_send_content(struct lp_amqp_conn *c, uint16_t ch, const struct lp_amqp_method *m,
			      const struct lp_amqp_basic_properties *props, const uint8_t *body,
			      uint64_t body_len)
{
	static const struct lp_amqp_basic_properties none;

	return send_content(c, ch, m, props != NULL ? props : &none, NULL, 0, body, body_len);
}

int lp_amqp_conn_send_content_raw(struct lp_amqp_conn *c, uint16_t ch, const struct lp_amqp_method *m,
				  const uint8_t *props, size_t props_len, const uint8_t *body,
				  uint64_t body_len)
{
	return send_content(c, ch, m, NULL, props, props_len, body, body_len);
}

/* Marks closed without a Close frame (RabbitMQ closes the socket). */
static void conn_drop(struct lp_amqp_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void conn_drop(struct lp_amqp_conn *c, const char *fmt, ...)
{
	va_list ap;

	if (c->state == LP_AMQP_CONN_CLOSED)
		return;
	va_start(ap, fmt);
	vsnprintf(c->close_text, sizeof(c->close_text), fmt, ap);
	va_end(ap);
	c->close_code = 0;
	if (c->state == LP_AMQP_CONN_RUNNING)
		lp_amqp_channel_close_all(c);
	c->state = LP_AMQP_CONN_CLOSED;
}

void lp_amqp_conn_vfail(struct lp_amqp_conn *c, uint16_t code, uint32_t method_id, const char *fmt,
			va_list ap)
{
	struct lp_amqp_method m = { .id = LP_AMQP_CONNECTION_CLOSE };
	bool running = c->state == LP_AMQP_CONN_RUNNING;

	if (c->state == LP_AMQP_CONN_CLOSING || c->state == LP_AMQP_CONN_CLOSED)
		return;
	lp_amqp_reply_vtext(c->close_text, sizeof(c->close_text), code, fmt, ap);
	c->close_code = code;
	m.connection_close.reply_code = code;
	m.connection_close.reply_text = lp_amqp_cstr(c->close_text);
	m.connection_close.class_id = lp_amqp_method_class(method_id);
	m.connection_close.method_id = (uint16_t)method_id;
	send_method(c, 0, &m);
	if (running)
		lp_amqp_channel_close_all(c);
	/* RabbitMQ: during the handshake, or when the byte stream can no longer
	 * be framed, the socket is closed right after the Close frame; on a
	 * running connection it waits for Close-Ok (spec 2.2.4). */
	if (running && !c->rx_broken) {
		c->state = LP_AMQP_CONN_CLOSING;
		c->closing_since_ns = c->now_ns;
	} else {
		c->state = LP_AMQP_CONN_CLOSED;
	}
}

void lp_amqp_conn_fail(struct lp_amqp_conn *c, uint16_t code, uint32_t method_id, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lp_amqp_conn_vfail(c, code, method_id, fmt, ap);
	va_end(ap);
}

int lp_amqp_conn_close(struct lp_amqp_conn *c, uint16_t code, const char *fmt, ...)
{
	va_list ap;

	if (c->state == LP_AMQP_CONN_CLOSING || c->state == LP_AMQP_CONN_CLOSED)
		return -ENOTCONN;
	va_start(ap, fmt);
	lp_amqp_conn_vfail(c, code, 0, fmt, ap);
	va_end(ap);
	return 0;
}

int lp_amqp_conn_set_blocked(struct lp_amqp_conn *c, bool blocked, const char *reason)
{
	struct lp_amqp_method m;
	int rc;

	if (c->state != LP_AMQP_CONN_RUNNING)
		return -ENOTCONN;
	if (!c->cap_blocked)
		return -ENOTSUP;
	if (c->blocked == blocked)
		return -EALREADY;
	if (blocked) {
		m.id = LP_AMQP_CONNECTION_BLOCKED;
		m.connection_blocked.reason = lp_amqp_cstr(reason ? reason : "");
	} else {
		m.id = LP_AMQP_CONNECTION_UNBLOCKED;
	}
	rc = send_method(c, 0, &m);
	if (rc < 0)
		return rc;
	c->blocked = blocked;
	return 0;
}

/* --- handshake ----------------------------------------------------------- */

static void send_start(struct lp_amqp_conn *c)
{
	uint8_t props[1024];
	struct lp_amqp_wr w;
	size_t top, caps;
	struct lp_amqp_method m = { .id = LP_AMQP_CONNECTION_START };

	/* Server properties as RabbitMQ announces them (capabilities first). */
	lp_amqp_wr_init(&w, props, sizeof(props));
	lp_amqp_wr_table_begin(&w, &top);
	lp_amqp_wr_shortstr(&w, lp_amqp_cstr("capabilities"));
	lp_amqp_wr_u8(&w, LP_AMQP_FIELD_TABLE);
	lp_amqp_wr_table_begin(&w, &caps);
	lp_amqp_wr_field_bool(&w, "publisher_confirms", true);
	lp_amqp_wr_field_bool(&w, "exchange_exchange_bindings", true);
	lp_amqp_wr_field_bool(&w, "basic.nack", true);
	lp_amqp_wr_field_bool(&w, "consumer_cancel_notify", true);
	lp_amqp_wr_field_bool(&w, "connection.blocked", true);
	lp_amqp_wr_field_bool(&w, "authentication_failure_close", true);
	lp_amqp_wr_field_bool(&w, "per_consumer_qos", true);
	lp_amqp_wr_table_end(&w, caps);
	lp_amqp_wr_field_str(&w, "product", c->cfg.product);
	lp_amqp_wr_field_str(&w, "version", c->cfg.version);
	lp_amqp_wr_field_str(&w, "platform", c->cfg.platform);
	lp_amqp_wr_field_str(&w, "information", "Lepus: a kernel-bypass AMQP 0-9-1 broker");
	lp_amqp_wr_table_end(&w, top);
	if (w.overflow) {
		conn_drop(c, "server properties do not fit");
		return;
	}
	m.connection_start.version_major = LP_AMQP_VERSION_MAJOR;
	m.connection_start.version_minor = LP_AMQP_VERSION_MINOR;
	m.connection_start.server_properties =
		(struct lp_amqp_bytes){ .ptr = props + 4, .len = (uint32_t)(w.off - 4) };
	m.connection_start.mechanisms = lp_amqp_cstr("PLAIN AMQPLAIN");
	m.connection_start.locales = lp_amqp_cstr("en_US");
	send_method(c, 0, &m);
	c->state = LP_AMQP_CONN_START_OK;
}

static void send_tune(struct lp_amqp_conn *c)
{
	struct lp_amqp_method m = { .id = LP_AMQP_CONNECTION_TUNE };

	m.connection_tune.channel_max = c->cfg.channel_max;
	m.connection_tune.frame_max = c->cfg.frame_max;
	m.connection_tune.heartbeat = c->cfg.heartbeat;
	send_method(c, 0, &m);
	c->state = LP_AMQP_CONN_TUNE_OK;
}

static void copy_name(char *dst, uint8_t *dst_len, struct lp_amqp_bytes b)
{
	size_t n = b.len > LP_AMQP_NAME_MAX ? LP_AMQP_NAME_MAX : b.len;
	memcpy(dst, b.ptr, n);
	dst[n] = '\0';
	*dst_len = (uint8_t)n;
}

/* Prints a view for a reply text: at most 64 octets, non-printables as '?'. */
static const char *printable(char *buf, size_t cap, struct lp_amqp_bytes b)
{
	size_t n = b.len < cap - 1 ? b.len : cap - 1;
	if (n > 64)
		n = 64;
	for (size_t i = 0; i < n; i++)
		buf[i] = (b.ptr[i] >= 0x20 && b.ptr[i] < 0x7f) ? (char)b.ptr[i] : '?';
	buf[n] = '\0';
	return buf;
}

/* Login failure (RabbitMQ rabbit_reader auth_fail): 403 with Connection.Close
 * only if the client announced authentication_failure_close, else the socket
 * is just closed. */
static void auth_fail(struct lp_amqp_conn *c, uint32_t method_id, const char *mech, struct lp_amqp_bytes user,
		      const char *why)
{
	char ubuf[72];

	if (c->cap_auth_failure_close) {
		lp_amqp_conn_fail(c, LP_AMQP_ACCESS_REFUSED, method_id,
				  "%s login refused: user '%s' - %s", mech,
				  printable(ubuf, sizeof(ubuf), user), why);
	} else {
		conn_drop(c, "%s login refused: user '%s' - %s", mech,
			  printable(ubuf, sizeof(ubuf), user), why);
		c->close_code = LP_AMQP_ACCESS_REFUSED;
	}
}

static void login(struct lp_amqp_conn *c, uint32_t method_id, struct lp_amqp_bytes user,
		  struct lp_amqp_bytes pass)
{
	const char *mech = c->mechanism == MECH_PLAIN ? "PLAIN" : "AMQPLAIN";

	if (!lp_amqp_auth_check(c->auth, user, pass)) {
		auth_fail(c, method_id, mech, user, "invalid credentials");
		return;
	}
	copy_name(c->user, &c->user_len, user);
	send_tune(c);
}

/* SASL PLAIN (RFC 4616 section 2): [authzid] NUL authcid NUL passwd. */
static void login_plain(struct lp_amqp_conn *c, uint32_t method_id, struct lp_amqp_bytes resp)
{
	const uint8_t *nul1 = memchr(resp.ptr, 0, resp.len), *nul2 = NULL;
	struct lp_amqp_bytes user = { 0 }, pass;

	if (nul1 != NULL)
		nul2 = memchr(nul1 + 1, 0, resp.len - (size_t)(nul1 + 1 - resp.ptr));
	if (nul2 == NULL || memchr(nul2 + 1, 0, resp.len - (size_t)(nul2 + 1 - resp.ptr)) != NULL) {
		auth_fail(c, method_id, "PLAIN", user, "response is not [authzid] NUL user NUL password");
		return;
	}
	user = (struct lp_amqp_bytes){ .ptr = nul1 + 1, .len = (uint32_t)(nul2 - nul1 - 1) };
	pass = (struct lp_amqp_bytes){ .ptr = nul2 + 1,
				       .len = (uint32_t)(resp.len - (size_t)(nul2 + 1 - resp.ptr)) };
	login(c, method_id, user, pass);
}

/* AMQPLAIN (RabbitMQ rabbit_auth_mechanism_amqplain): a field table body
 * with longstr LOGIN and PASSWORD. */
static void login_amqplain(struct lp_amqp_conn *c, uint32_t method_id, struct lp_amqp_bytes resp)
{
	struct lp_amqp_field_value u, p;
	struct lp_amqp_bytes none = { 0 };

	if (!lp_amqp_table_valid(resp) || !lp_amqp_table_get(resp, "LOGIN", &u) ||
	    !lp_amqp_table_get(resp, "PASSWORD", &p) || u.kind != LP_AMQP_FIELD_LONGSTR ||
	    p.kind != LP_AMQP_FIELD_LONGSTR) {
		auth_fail(c, method_id, "AMQPLAIN", none, "response is not a table of LOGIN and PASSWORD");
		return;
	}
	login(c, method_id, u.bytes, p.bytes);
}

static bool cap_true(struct lp_amqp_bytes caps, const char *name)
{
	struct lp_amqp_field_value v;
	return lp_amqp_table_get(caps, name, &v) && v.kind == LP_AMQP_FIELD_BOOL && v.b;
}

static void on_start_ok(struct lp_amqp_conn *c, const struct lp_amqp_connection_start_ok *a)
{
	struct lp_amqp_field_value caps;
	char buf[72];

	if (lp_amqp_table_get(a->client_properties, "capabilities", &caps) &&
	    caps.kind == LP_AMQP_FIELD_TABLE) {
		c->cap_auth_failure_close = cap_true(caps.bytes, "authentication_failure_close");
		c->cap_blocked = cap_true(caps.bytes, "connection.blocked");
		c->cap_cancel_notify = cap_true(caps.bytes, "consumer_cancel_notify");
	}
	if (lp_amqp_bytes_eq(a->mechanism, "PLAIN")) {
		c->mechanism = MECH_PLAIN;
	} else if (lp_amqp_bytes_eq(a->mechanism, "AMQPLAIN")) {
		c->mechanism = MECH_AMQPLAIN;
	} else {
		lp_amqp_conn_fail(c, LP_AMQP_COMMAND_INVALID, LP_AMQP_CONNECTION_START_OK,
				  "unknown authentication mechanism '%s'",
				  printable(buf, sizeof(buf), a->mechanism));
		return;
	}
	/* RFC 4616 section 2 / RFC 4422 5: no initial response -> empty challenge. */
	if (c->mechanism == MECH_PLAIN && a->response.len == 0) {
		struct lp_amqp_method m = { .id = LP_AMQP_CONNECTION_SECURE };
		m.connection_secure.challenge = (struct lp_amqp_bytes){ 0 };
		send_method(c, 0, &m);
		c->state = LP_AMQP_CONN_SECURE_OK;
		return;
	}
	if (c->mechanism == MECH_PLAIN)
		login_plain(c, LP_AMQP_CONNECTION_START_OK, a->response);
	else
		login_amqplain(c, LP_AMQP_CONNECTION_START_OK, a->response);
}

/* RabbitMQ rabbit_reader validate_negotiated_integer_value/fail_negotiation. */
static bool negotiate(struct lp_amqp_conn *c, const char *field, uint32_t min, uint32_t server,
		      uint32_t client)
{
	const char *detail = client == 0 ? " (no limit)" : "";

	if (client != 0 && client < min) {
		lp_amqp_conn_fail(c, LP_AMQP_NOT_ALLOWED, LP_AMQP_CONNECTION_TUNE,
				  "negotiated %s = %u%s is lower than the minimum allowed value (%u)",
				  field, client, detail, min);
		return false;
	}
	if (server != 0 && (client == 0 || client > server)) {
		lp_amqp_conn_fail(c, LP_AMQP_NOT_ALLOWED, LP_AMQP_CONNECTION_TUNE,
				  "negotiated %s = %u%s is higher than the maximum allowed value (%u)",
				  field, client, detail, server);
		return false;
	}
	return true;
}

static void on_tune_ok(struct lp_amqp_conn *c, const struct lp_amqp_connection_tune_ok *a)
{
	if (!negotiate(c, "frame_max", LP_AMQP_FRAME_MIN_SIZE, c->cfg.frame_max, a->frame_max) ||
	    !negotiate(c, "channel_max", CHANNEL_MIN, c->cfg.channel_max, a->channel_max))
		return;
	c->frame_max = a->frame_max;
	c->channel_max = a->channel_max;
	lp_amqp_frame_reader_set_max(&c->rd, a->frame_max);
	/* RabbitMQ takes the client's heartbeat as is; 0 disables heartbeats. */
	c->heartbeat = a->heartbeat;
	c->last_rx_ns = c->last_tx_ns = c->now_ns;
	c->state = LP_AMQP_CONN_OPEN;
}

static void on_open(struct lp_amqp_conn *c, const struct lp_amqp_connection_open *a)
{
	struct lp_amqp_bytes user = { .ptr = (const uint8_t *)c->user, .len = c->user_len };
	struct lp_amqp_method m = { .id = LP_AMQP_CONNECTION_OPEN_OK };
	char vbuf[72];

	switch (lp_amqp_auth_vhost(c->auth, user, a->virtual_host)) {
	case LP_AMQP_VHOST_OK:
		break;
	case LP_AMQP_VHOST_NOT_FOUND:
		lp_amqp_conn_fail(c, LP_AMQP_NOT_ALLOWED, LP_AMQP_CONNECTION_OPEN,
				  "vhost %s not found", printable(vbuf, sizeof(vbuf), a->virtual_host));
		return;
	case LP_AMQP_VHOST_REFUSED:
		lp_amqp_conn_fail(c, LP_AMQP_NOT_ALLOWED, LP_AMQP_CONNECTION_OPEN,
				  "access to vhost '%s' refused for user '%s'",
				  printable(vbuf, sizeof(vbuf), a->virtual_host), c->user);
		return;
	}
	copy_name(c->vhost, &c->vhost_len, a->virtual_host);
	m.connection_open_ok.known_hosts = (struct lp_amqp_bytes){ 0 };
	send_method(c, 0, &m);
	c->state = LP_AMQP_CONN_RUNNING;
	if (c->ops->on_open)
		c->ops->on_open(c->ctx, c);
}

static void on_update_secret(struct lp_amqp_conn *c, const struct lp_amqp_connection_update_secret *a)
{
	struct lp_amqp_method m = { .id = LP_AMQP_CONNECTION_UPDATE_SECRET_OK };

	/* RabbitMQ (rabbit_access_control:update_state): a backend whose state
	 * cannot expire, as the internal users database, has nothing to
	 * refresh, and the update is accepted whatever the new secret (token
	 * backends such as OAuth 2 would check it; Lepus has none). */
	(void)a;
	send_method(c, 0, &m);
}

static const char *state_name(enum lp_amqp_conn_state s)
{
	switch (s) {
	case LP_AMQP_CONN_HEADER:
		return "handshake";
	case LP_AMQP_CONN_START_OK:
	case LP_AMQP_CONN_SECURE_OK:
		return "starting";
	case LP_AMQP_CONN_TUNE_OK:
		return "tuning";
	case LP_AMQP_CONN_OPEN:
		return "opening";
	case LP_AMQP_CONN_RUNNING:
		return "running";
	case LP_AMQP_CONN_CLOSING:
		return "closing";
	case LP_AMQP_CONN_CLOSED:
		return "closed";
	}
	return "?";
}

/* A decoded method on channel 0 (spec 2.2.4, the connection class). */
static void conn_method(struct lp_amqp_conn *c, const struct lp_amqp_method *m)
{
	struct lp_amqp_method r;

	if (c->state == LP_AMQP_CONN_CLOSING) {
		/* Spec 2.2.4 "connection.close": after sending Close, discard
		 * everything but Close and Close-Ok. */
		if (m->id == LP_AMQP_CONNECTION_CLOSE) {
			r.id = LP_AMQP_CONNECTION_CLOSE_OK;
			send_method(c, 0, &r);
			c->state = LP_AMQP_CONN_CLOSED;
		} else if (m->id == LP_AMQP_CONNECTION_CLOSE_OK) {
			c->state = LP_AMQP_CONN_CLOSED;
		}
		return;
	}
	if (m->id == LP_AMQP_CONNECTION_CLOSE) {
		char buf[72];
		if (c->state == LP_AMQP_CONN_RUNNING)
			lp_amqp_channel_close_all(c);
		r.id = LP_AMQP_CONNECTION_CLOSE_OK;
		send_method(c, 0, &r);
		c->state = LP_AMQP_CONN_CLOSED;
		c->answer_closes = true;
		c->closed_ns = c->now_ns;
		c->close_code = m->connection_close.reply_code;
		snprintf(c->close_text, sizeof(c->close_text), "closed by client: %u %s",
			 m->connection_close.reply_code,
			 printable(buf, sizeof(buf), m->connection_close.reply_text));
		return;
	}
	switch (c->state) {
	case LP_AMQP_CONN_START_OK:
		if (m->id == LP_AMQP_CONNECTION_START_OK) {
			on_start_ok(c, &m->connection_start_ok);
			return;
		}
		break;
	case LP_AMQP_CONN_SECURE_OK:
		if (m->id == LP_AMQP_CONNECTION_SECURE_OK) {
			login_plain(c, LP_AMQP_CONNECTION_SECURE_OK, m->connection_secure_ok.response);
			return;
		}
		break;
	case LP_AMQP_CONN_TUNE_OK:
		if (m->id == LP_AMQP_CONNECTION_TUNE_OK) {
			on_tune_ok(c, &m->connection_tune_ok);
			return;
		}
		break;
	case LP_AMQP_CONN_OPEN:
		if (m->id == LP_AMQP_CONNECTION_OPEN) {
			on_open(c, &m->connection_open);
			return;
		}
		break;
	case LP_AMQP_CONN_RUNNING:
		if (m->id == LP_AMQP_CONNECTION_UPDATE_SECRET) {
			on_update_secret(c, &m->connection_update_secret);
			return;
		}
		if (m->id == LP_AMQP_CONNECTION_CLOSE_OK)
			return; /* late Close-Ok: nothing to do */
		break;
	default:
		break;
	}
	/* RabbitMQ rabbit_reader handle_method0 fall-through. */
	lp_amqp_conn_fail(c, LP_AMQP_CHANNEL_ERROR, m->id, "unexpected method in connection state %s",
			  state_name(c->state));
}

static void conn_frame(struct lp_amqp_conn *c, const struct lp_amqp_frame *f)
{
	struct lp_amqp_method m;
	int rc;

	if (c->state == LP_AMQP_CONN_CLOSED) {
		/* Closed by the client (answer_closes): a client whose threads
		 * each sent Connection.Close waits for a Close-Ok for each, and
		 * RabbitMQ answers every one it reads before the socket ends. */
		if (f->channel == 0 && f->type == LP_AMQP_FRAME_METHOD &&
		    lp_amqp_method_decode(f->payload, f->size, &m) == 0 &&
		    m.id == LP_AMQP_CONNECTION_CLOSE) {
			struct lp_amqp_method r = {.id = LP_AMQP_CONNECTION_CLOSE_OK};

			send_method(c, 0, &r);
		}
		return;
	}
	if (f->type == LP_AMQP_FRAME_HEARTBEAT) {
		/* AMQP 0-9-1 4.2.7: heartbeat frames are on channel 0, empty. */
		if ((f->channel != 0 || f->size != 0) && c->state != LP_AMQP_CONN_CLOSING)
			lp_amqp_conn_fail(c, LP_AMQP_FRAME_ERROR, 0,
					  "heartbeat frame on channel %u with %u octets of payload",
					  f->channel, f->size);
		return;
	}
	if (f->channel != 0) {
		if (c->state == LP_AMQP_CONN_CLOSING)
			return;
		if (c->state != LP_AMQP_CONN_RUNNING) {
			lp_amqp_conn_fail(c, LP_AMQP_UNEXPECTED_FRAME, 0,
					  "frame of type %u on channel %u before the connection is open",
					  f->type, f->channel);
			return;
		}
		if (f->channel > c->channel_max) {
			lp_amqp_conn_fail(c, LP_AMQP_NOT_ALLOWED, 0,
					  "channel %u is above the negotiated channel_max (%u)", f->channel,
					  c->channel_max);
			return;
		}
		lp_amqp_channel_frame(c, f->channel, f);
		return;
	}
	if (f->type != LP_AMQP_FRAME_METHOD) {
		if (c->state != LP_AMQP_CONN_CLOSING)
			lp_amqp_conn_fail(c, LP_AMQP_UNEXPECTED_FRAME, 0,
					  "frame of type %u on channel 0: only method and heartbeat frames belong there",
					  f->type);
		return;
	}
	rc = lp_amqp_method_decode(f->payload, f->size, &m);
	if (c->state == LP_AMQP_CONN_CLOSING && rc < 0)
		return;
	if (rc == -ENOTSUP) {
		lp_amqp_conn_fail(c, LP_AMQP_COMMAND_INVALID, 0, "unknown method %u/%u on channel 0",
				  lp_amqp_method_class(m.id), m.id & 0xFFFF);
		return;
	}
	if (rc < 0) {
		const char *name = lp_amqp_method_name(m.id);
		lp_amqp_conn_fail(c, LP_AMQP_FRAME_ERROR, name ? m.id : 0, "cannot decode %s",
				  name ? name : "method frame");
		return;
	}
	if (lp_amqp_method_class(m.id) != LP_AMQP_CLASS_CONNECTION) {
		if (c->state != LP_AMQP_CONN_CLOSING)
			lp_amqp_conn_fail(c, LP_AMQP_COMMAND_INVALID, m.id,
					  "%s is not a connection method: not allowed on channel 0",
					  lp_amqp_method_name(m.id));
		return;
	}
	conn_method(c, &m);
}

static size_t read_protocol_header(struct lp_amqp_conn *c, const uint8_t *p, size_t len)
{
	size_t n = sizeof(c->proto_hdr) - c->proto_have;

	if (n > len)
		n = len;
	memcpy(c->proto_hdr + c->proto_have, p, n);
	c->proto_have += (uint8_t)n;
	if (c->proto_have < sizeof(c->proto_hdr))
		return n;
	/* AMQP 0-9-1 4.2.2: on a header it does not accept, the server writes
	 * a valid protocol header and closes the socket. */
	if (memcmp(c->proto_hdr, protocol_header, sizeof(protocol_header)) != 0) {
		lp_amqp_frame_write_raw(&c->out, protocol_header, sizeof(protocol_header));
		c->tx_seen = true;
		conn_drop(c, "bad protocol header");
		return n;
	}
	send_start(c);
	return n;
}

/* Free octets of the fixed send buffer for the answers to input: a content
 * written alone past the flow-control limit is not counted while it drains
 * (deliveries leave out_reply_room free otherwise), so only the answers
 * themselves stop the reading of input, never the connection's deliveries. */
static size_t input_room(const struct lp_amqp_conn *c)
{
	size_t len = lp_amqp_outbuf_len(&c->out);
	uint64_t big = c->out_big_end > c->out_sent ? c->out_big_end - c->out_sent : 0;

	len = big < len ? len - (size_t)big : 0;
	return len < c->out.fixed_cap ? c->out.fixed_cap - len : 0;
}

size_t lp_amqp_conn_input(struct lp_amqp_conn *c, const uint8_t *p, size_t len)
{
	struct lp_amqp_frame f;
	size_t used = 0, n;
	int rc;

	if (len > 0)
		c->rx_seen = true;
	while (used < len) {
		if ((c->state == LP_AMQP_CONN_CLOSED && !c->answer_closes) || c->rx_broken)
			return len;
		if (c->paused)
			break;
		if (input_room(c) < OUT_RESERVE)
			break;
		if (c->state == LP_AMQP_CONN_HEADER) {
			used += read_protocol_header(c, p + used, len - used);
			continue;
		}
		rc = lp_amqp_frame_read(&c->rd, p + used, len - used, &n, &f);
		used += n;
		if (rc == 0)
			break;
		if (rc < 0) {
			c->rx_broken = true;
			if (c->state == LP_AMQP_CONN_CLOSING) {
				c->state = LP_AMQP_CONN_CLOSED;
			} else if (rc == -EMSGSIZE) {
				lp_amqp_conn_fail(c, LP_AMQP_FRAME_ERROR, 0,
						  "frame size exceeds frame_max %u", c->frame_max);
			} else if (rc == -EPROTO) {
				lp_amqp_conn_fail(c, LP_AMQP_FRAME_ERROR, 0, "unknown frame type");
			} else {
				lp_amqp_conn_fail(c, LP_AMQP_FRAME_ERROR, 0,
						  "frame end octet is not 0xCE");
			}
			c->state = LP_AMQP_CONN_CLOSED;
			return len;
		}
		conn_frame(c, &f);
	}
	return used;
}

void lp_amqp_conn_tick(struct lp_amqp_conn *c, uint64_t now_ns)
{
	uint64_t hb_ns;

	if (now_ns > c->now_ns)
		c->now_ns = now_ns;
	now_ns = c->now_ns;
	if (c->rx_seen) {
		c->last_rx_ns = now_ns;
		c->rx_seen = false;
	}
	if (c->tx_seen) {
		c->last_tx_ns = now_ns;
		c->tx_seen = false;
	}
	switch (c->state) {
	case LP_AMQP_CONN_CLOSED:
		if (c->answer_closes && now_ns - c->closed_ns >= LP_AMQP_CLOSE_LINGER_NS)
			c->answer_closes = false; /* the transport ends the socket now */
		return;
	case LP_AMQP_CONN_CLOSING:
		if (now_ns - c->closing_since_ns >= c->cfg.close_timeout_ns)
			conn_drop(c, "%s; no Close-Ok within the close timeout", c->close_text);
		return;
	case LP_AMQP_CONN_HEADER:
	case LP_AMQP_CONN_START_OK:
	case LP_AMQP_CONN_SECURE_OK:
	case LP_AMQP_CONN_TUNE_OK:
		if (now_ns - c->created_ns >= c->cfg.handshake_timeout_ns)
			conn_drop(c, "handshake timeout");
		return;
	case LP_AMQP_CONN_OPEN:
		if (now_ns - c->created_ns >= c->cfg.handshake_timeout_ns) {
			conn_drop(c, "handshake timeout");
			return;
		}
		break;
	case LP_AMQP_CONN_RUNNING:
		break;
	}
	if (c->heartbeat == 0)
		return;
	hb_ns = (uint64_t)c->heartbeat * LP_AMQP_NS_PER_SEC;
	/* AMQP 0-9-1 4.2.7 and RabbitMQ rabbit_heartbeat: a peer silent for two
	 * intervals is dead; we send a heartbeat after half an interval without
	 * sending anything else. */
	if (now_ns - c->last_rx_ns >= 2 * hb_ns) {
		conn_drop(c, "missed heartbeats from client, timeout: %us", c->heartbeat);
		return;
	}
	if (now_ns - c->last_tx_ns >= hb_ns / 2 && lp_amqp_frame_write_heartbeat(&c->out) > 0)
		c->last_tx_ns = now_ns;
}
