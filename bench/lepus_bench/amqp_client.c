/* SPDX-License-Identifier: MIT */
/*
 * AMQP 0-9-1 client connection of lepus-bench (see amqp_client.h): input
 * -> lp_amqp_frame_read -> frame handlers (channel 0: connection class and
 * heartbeats; channel 1: replies, deliveries, confirms, closes) -> callbacks;
 * methods out through lp_amqp_frame_write_* into the send buffer, publishes by
 * copying a template the codec encoded once.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp_client.h"
#include "amqp_reply.h"
#include "amqp_table.h"

#define PROTOCOL_HEADER "AMQP\x00\x00\x09\x01" /* spec 4.2.2 */
#define DEFAULT_FRAME_MAX 131072
#define DEFAULT_OUTBUF (128u << 10)

static const struct lp_amqp_client_ops no_ops;

void lp_amqp_client_cfg_default(struct lp_amqp_client_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->user = "guest";
	cfg->password = "guest";
	cfg->vhost = "/";
	cfg->frame_max = DEFAULT_FRAME_MAX;
	cfg->heartbeat = 0;
	cfg->outbuf_size = DEFAULT_OUTBUF;
	cfg->product = "lepus-bench";
}

/* The end of the connection: state CLOSED, the callback once. */
static void finish(struct lp_amqp_client *c, uint16_t code, const char *text)
{
	if (c->state == LP_AMQP_CLIENT_CLOSED)
		return;
	c->state = LP_AMQP_CLIENT_CLOSED;
	if (c->close_code == 0 && c->close_text[0] == '\0') {
		c->close_code = code;
		snprintf(c->close_text, sizeof(c->close_text), "%s", text);
	}
	if (c->ops != NULL && c->ops->closed != NULL)
		c->ops->closed(c->ctx, c, c->close_code, c->close_text);
}

static int send_method(struct lp_amqp_client *c, uint16_t ch, const struct lp_amqp_method *m)
{
	int rc = lp_amqp_frame_write_method(&c->out, ch, m, c->frame_max);

	if (rc > 0)
		c->last_tx_ns = c->now_ns;
	return rc < 0 ? rc : 0;
}

/* We found the broker at fault: Connection.Close with code (spec 1.4.2.9),
 * then CLOSED at once (the bench does not wait for Close-Ok from a broker
 * that broke the protocol). Returns -EPROTO. */
static int protocol_error(struct lp_amqp_client *c, uint16_t code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int protocol_error(struct lp_amqp_client *c, uint16_t code, const char *fmt, ...)
{
	struct lp_amqp_method m = {.id = LP_AMQP_CONNECTION_CLOSE};
	char text[256];
	va_list ap;

	va_start(ap, fmt);
	lp_amqp_reply_vtext(text, sizeof(text), code, fmt, ap);
	va_end(ap);
	if (c->state != LP_AMQP_CLIENT_CLOSED) {
		m.connection_close.reply_code = code;
		m.connection_close.reply_text = lp_amqp_cstr(text);
		send_method(c, 0, &m);
	}
	finish(c, code, text);
	return -EPROTO;
}

struct lp_amqp_client *lp_amqp_client_create(const struct lp_amqp_client_cfg *cfg,
					     const struct lp_amqp_client_ops *ops, void *ctx,
					     uint64_t now_ns)
{
	struct lp_amqp_client *c;

	if (cfg->frame_max < LP_AMQP_FRAME_MIN_SIZE || cfg->outbuf_size < LP_AMQP_FRAME_MIN_SIZE) {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->cfg = *cfg;
	c->ops = ops != NULL ? ops : &no_ops;
	c->ctx = ctx;
	c->rd_buf = malloc(cfg->frame_max);
	c->out_buf = malloc(cfg->outbuf_size);
	if (c->rd_buf == NULL || c->out_buf == NULL) {
		lp_amqp_client_destroy(c);
		errno = ENOMEM;
		return NULL;
	}
	lp_amqp_frame_reader_init(&c->rd, c->rd_buf, cfg->frame_max);
	lp_amqp_outbuf_init(&c->out, c->out_buf, cfg->outbuf_size);
	/* Until Tune, frames are limited to the spec's minimum (4.2.3). */
	lp_amqp_frame_reader_set_max(&c->rd, LP_AMQP_FRAME_MIN_SIZE);
	c->frame_max = LP_AMQP_FRAME_MIN_SIZE;
	c->now_ns = c->last_rx_ns = c->last_tx_ns = now_ns;
	c->state = LP_AMQP_CLIENT_START;
	lp_amqp_frame_write_raw(&c->out, PROTOCOL_HEADER, 8);
	return c;
}

void lp_amqp_client_destroy(struct lp_amqp_client *c)
{
	if (c == NULL)
		return;
	free(c->rd_buf);
	free(c->out_buf);
	free(c->tmpl);
	free(c);
}

/* --- handshake ----------------------------------------------------------- */

/* Does the space-separated list hold word? (spec 1.4.2.1: mechanisms) */
static bool list_has(struct lp_amqp_bytes list, const char *word)
{
	size_t wl = strlen(word), i = 0;

	while (i < list.len) {
		size_t j = i;

		while (j < list.len && list.ptr[j] != ' ')
			j++;
		if (j - i == wl && memcmp(list.ptr + i, word, wl) == 0)
			return true;
		i = j + 1;
	}
	return false;
}

static int on_start(struct lp_amqp_client *c, const struct lp_amqp_connection_start *s)
{
	struct lp_amqp_method m = {.id = LP_AMQP_CONNECTION_START_OK};
	uint8_t props[512], resp[512];
	size_t top, caps, ul = strlen(c->cfg.user), pl = strlen(c->cfg.password);
	struct lp_amqp_wr w;

	if (s->version_major != LP_AMQP_VERSION_MAJOR || s->version_minor != LP_AMQP_VERSION_MINOR)
		return protocol_error(c, LP_AMQP_COMMAND_INVALID, "server speaks AMQP %u-%u",
				      s->version_major, s->version_minor);
	if (!list_has(s->mechanisms, "PLAIN"))
		return protocol_error(c, LP_AMQP_COMMAND_INVALID, "server does not offer PLAIN");
	/* Capabilities as RabbitMQ's clients announce them. */
	lp_amqp_wr_init(&w, props, sizeof(props));
	lp_amqp_wr_table_begin(&w, &top);
	lp_amqp_wr_field_str(&w, "product", c->cfg.product);
	lp_amqp_wr_field_str(&w, "platform", "DPDK");
	lp_amqp_wr_shortstr(&w, lp_amqp_cstr("capabilities"));
	lp_amqp_wr_u8(&w, LP_AMQP_FIELD_TABLE);
	lp_amqp_wr_table_begin(&w, &caps);
	lp_amqp_wr_field_bool(&w, "publisher_confirms", true);
	lp_amqp_wr_field_bool(&w, "basic.nack", true);
	lp_amqp_wr_field_bool(&w, "consumer_cancel_notify", true);
	lp_amqp_wr_field_bool(&w, "connection.blocked", true);
	lp_amqp_wr_field_bool(&w, "authentication_failure_close", true);
	lp_amqp_wr_table_end(&w, caps);
	lp_amqp_wr_table_end(&w, top);
	/* RFC 4616 PLAIN: authzid (empty) NUL authcid NUL passwd. */
	if (w.overflow || ul + pl + 2 > sizeof(resp))
		return protocol_error(c, LP_AMQP_INTERNAL_ERROR, "credentials too long");
	resp[0] = '\0';
	memcpy(resp + 1, c->cfg.user, ul);
	resp[1 + ul] = '\0';
	memcpy(resp + 2 + ul, c->cfg.password, pl);
	m.connection_start_ok.client_properties =
		(struct lp_amqp_bytes){.ptr = props + 4, .len = (uint32_t)(w.off - 4)};
	m.connection_start_ok.mechanism = lp_amqp_cstr("PLAIN");
	m.connection_start_ok.response = (struct lp_amqp_bytes){.ptr = resp, .len = (uint32_t)(ul + pl + 2)};
	m.connection_start_ok.locale = lp_amqp_cstr("en_US");
	if (send_method(c, 0, &m) < 0)
		return protocol_error(c, LP_AMQP_INTERNAL_ERROR, "cannot send Start-Ok");
	c->state = LP_AMQP_CLIENT_TUNE;
	return 0;
}

static int on_tune(struct lp_amqp_client *c, const struct lp_amqp_connection_tune *t)
{
	struct lp_amqp_method m = {.id = LP_AMQP_CONNECTION_TUNE_OK};
	uint32_t fm = c->cfg.frame_max;

	/* Spec 1.4.2.6: 0 means no limit; the client may lower, never raise. */
	if (t->frame_max != 0 && t->frame_max < fm)
		fm = t->frame_max;
	if (fm < LP_AMQP_FRAME_MIN_SIZE)
		return protocol_error(c, LP_AMQP_COMMAND_INVALID, "frame-max %u under %u",
				      t->frame_max, LP_AMQP_FRAME_MIN_SIZE);
	c->channel_max = t->channel_max;
	c->frame_max = fm;
	/* RabbitMQ takes the client's heartbeat as is; 0 disables them. */
	c->heartbeat = c->cfg.heartbeat;
	lp_amqp_frame_reader_set_max(&c->rd, fm);
	m.connection_tune_ok.channel_max = t->channel_max;
	m.connection_tune_ok.frame_max = fm;
	m.connection_tune_ok.heartbeat = c->heartbeat;
	if (send_method(c, 0, &m) < 0)
		return protocol_error(c, LP_AMQP_INTERNAL_ERROR, "cannot send Tune-Ok");
	m = (struct lp_amqp_method){.id = LP_AMQP_CONNECTION_OPEN};
	m.connection_open.virtual_host = lp_amqp_cstr(c->cfg.vhost);
	if (send_method(c, 0, &m) < 0)
		return protocol_error(c, LP_AMQP_INTERNAL_ERROR, "cannot send Open");
	c->state = LP_AMQP_CLIENT_OPEN_OK;
	return 0;
}

/* --- frames -------------------------------------------------------------- */

/* We end an otherwise healthy connection for a reason of the broker's
 * (Channel.Close, consumer cancelled): record it, Connection.Close 200, and
 * ops->closed follows the broker's Close-Ok with this code and text. */
static void close_for(struct lp_amqp_client *c, uint16_t code, const char *text)
{
	struct lp_amqp_method cl = {.id = LP_AMQP_CONNECTION_CLOSE};

	if (c->close_code == 0 && c->close_text[0] == '\0') {
		c->close_code = code;
		snprintf(c->close_text, sizeof(c->close_text), "%s", text);
	}
	if (c->state == LP_AMQP_CLIENT_CLOSING)
		return;
	cl.connection_close.reply_code = LP_AMQP_REPLY_SUCCESS;
	cl.connection_close.reply_text = lp_amqp_cstr("closing after a channel error");
	send_method(c, 0, &cl);
	c->state = LP_AMQP_CLIENT_CLOSING;
}

/* The broker closes the connection: answer Close-Ok and end (spec 1.4.2.9). */
static int on_connection_close(struct lp_amqp_client *c, const struct lp_amqp_connection_close *cl)
{
	struct lp_amqp_method m = {.id = LP_AMQP_CONNECTION_CLOSE_OK};
	char text[256];

	snprintf(text, sizeof(text), "connection closed by the broker: %.*s",
		 (int)cl->reply_text.len, (const char *)cl->reply_text.ptr);
	if (send_method(c, 0, &m) < 0) {
		c->close_ok_owed = true;
		c->close_ok_id = LP_AMQP_CONNECTION_CLOSE_OK;
	}
	finish(c, cl->reply_code, text);
	return 0;
}

static int on_channel0(struct lp_amqp_client *c, const struct lp_amqp_method *m)
{
	switch (m->id) {
	case LP_AMQP_CONNECTION_START:
		if (c->state != LP_AMQP_CLIENT_START)
			break;
		return on_start(c, &m->connection_start);
	case LP_AMQP_CONNECTION_TUNE:
		if (c->state != LP_AMQP_CLIENT_TUNE)
			break;
		return on_tune(c, &m->connection_tune);
	case LP_AMQP_CONNECTION_OPEN_OK: {
		struct lp_amqp_method o = {.id = LP_AMQP_CHANNEL_OPEN};

		if (c->state != LP_AMQP_CLIENT_OPEN_OK)
			break;
		if (send_method(c, LP_AMQP_CLIENT_CHANNEL, &o) < 0)
			return protocol_error(c, LP_AMQP_INTERNAL_ERROR, "cannot send Channel.Open");
		c->state = LP_AMQP_CLIENT_CHANNEL_OK;
		return 0;
	}
	case LP_AMQP_CONNECTION_CLOSE:
		return on_connection_close(c, &m->connection_close);
	case LP_AMQP_CONNECTION_CLOSE_OK:
		if (c->state != LP_AMQP_CLIENT_CLOSING)
			break;
		finish(c, LP_AMQP_REPLY_SUCCESS, "closed");
		return 0;
	case LP_AMQP_CONNECTION_BLOCKED:
	case LP_AMQP_CONNECTION_UNBLOCKED:
		c->blocked = m->id == LP_AMQP_CONNECTION_BLOCKED;
		if (c->ops->blocked != NULL)
			c->ops->blocked(c->ctx, c, c->blocked);
		return 0;
	default:
		break;
	}
	/* Spec 1.4.2 / 4.2.4: a method the state does not expect. */
	return protocol_error(c, LP_AMQP_UNEXPECTED_FRAME, "%s on channel 0 in state %d",
			      lp_amqp_method_name(m->id) ? lp_amqp_method_name(m->id) : "unknown method",
			      (int)c->state);
}

static bool is_reply_to(uint32_t pending, uint32_t id)
{
	if (pending == 0)
		return false;
	if (pending == LP_AMQP_EXCHANGE_UNBIND)
		return id == LP_AMQP_EXCHANGE_UNBIND_OK;
	/* Every other synchronous request's -ok is the next method id of its class. */
	return id == pending + 1;
}

static int on_channel1(struct lp_amqp_client *c, const struct lp_amqp_method *m)
{
	if (c->state == LP_AMQP_CLIENT_CHANNEL_OK && m->id == LP_AMQP_CHANNEL_OPEN_OK) {
		c->state = LP_AMQP_CLIENT_READY;
		if (c->ops->ready != NULL)
			c->ops->ready(c->ctx, c);
		return 0;
	}
	if (c->state != LP_AMQP_CLIENT_READY && c->state != LP_AMQP_CLIENT_CLOSING)
		return protocol_error(c, LP_AMQP_CHANNEL_ERROR, "frame on channel 1 before it is open");
	if (c->content != LP_AMQP_CLIENT_NO_CONTENT)
		/* Spec 4.2.6: content frames follow their method without interleaving. */
		return protocol_error(c, LP_AMQP_UNEXPECTED_FRAME,
				      "method while a content was in progress");
	switch (m->id) {
	case LP_AMQP_BASIC_DELIVER:
		c->content = LP_AMQP_CLIENT_HEADER;
		c->content_is_return = false;
		c->delivery_tag = m->basic_deliver.delivery_tag;
		c->redelivered = m->basic_deliver.redelivered;
		return 0;
	case LP_AMQP_BASIC_RETURN:
		c->content = LP_AMQP_CLIENT_HEADER;
		c->content_is_return = true;
		c->return_code = m->basic_return.reply_code;
		return 0;
	case LP_AMQP_BASIC_ACK:
	case LP_AMQP_BASIC_NACK: {
		bool nack = m->id == LP_AMQP_BASIC_NACK;
		uint64_t tag = nack ? m->basic_nack.delivery_tag : m->basic_ack.delivery_tag;
		bool multiple = nack ? m->basic_nack.multiple : m->basic_ack.multiple;

		/* RabbitMQ's confirms: only after confirm.select, never beyond what
		 * was published. */
		if (!c->confirming || tag > c->publish_seq)
			return protocol_error(c, LP_AMQP_COMMAND_INVALID,
					      "confirm of tag %llu, %llu published",
					      (unsigned long long)tag,
					      (unsigned long long)c->publish_seq);
		if (c->ops->confirm != NULL)
			c->ops->confirm(c->ctx, c, tag, multiple, nack);
		return 0;
	}
	case LP_AMQP_CHANNEL_CLOSE: {
		struct lp_amqp_method ok = {.id = LP_AMQP_CHANNEL_CLOSE_OK};
		char text[256];

		/* Spec 1.5.2.5: answer Close-Ok; the bench has one channel, so the
		 * connection ends too. */
		snprintf(text, sizeof(text), "channel closed by the broker: %.*s",
			 (int)m->channel_close.reply_text.len,
			 (const char *)m->channel_close.reply_text.ptr);
		send_method(c, LP_AMQP_CLIENT_CHANNEL, &ok);
		close_for(c, m->channel_close.reply_code, text);
		return 0;
	}
	case LP_AMQP_CHANNEL_FLOW: {
		struct lp_amqp_method ok = {.id = LP_AMQP_CHANNEL_FLOW_OK};

		ok.channel_flow_ok.active = m->channel_flow.active;
		send_method(c, LP_AMQP_CLIENT_CHANNEL, &ok);
		return 0;
	}
	case LP_AMQP_BASIC_CANCEL:
		/* RabbitMQ's consumer_cancel_notify: the queue went away. */
		close_for(c, LP_AMQP_NOT_FOUND, "consumer cancelled by the broker");
		return 0;
	default:
		break;
	}
	if (c->state == LP_AMQP_CLIENT_CLOSING)
		return 0; /* replies overtaken by our Close: spec 1.4.2.9 lets them go */
	if (is_reply_to(c->rpc_pending, m->id)) {
		c->rpc_pending = 0;
		if (m->id == LP_AMQP_CONFIRM_SELECT_OK)
			c->confirming = true;
		if (c->ops->reply != NULL)
			c->ops->reply(c->ctx, c, m);
		return 0;
	}
	return protocol_error(c, LP_AMQP_UNEXPECTED_FRAME, "unexpected %s",
			      lp_amqp_method_name(m->id) ? lp_amqp_method_name(m->id) : "method");
}

static void content_done(struct lp_amqp_client *c)
{
	size_t head = c->body_size < LP_AMQP_CLIENT_HEAD_MAX ? (size_t)c->body_size
							     : LP_AMQP_CLIENT_HEAD_MAX;

	c->content = LP_AMQP_CLIENT_NO_CONTENT;
	if (c->content_is_return) {
		if (c->ops->returned != NULL)
			c->ops->returned(c->ctx, c, c->return_code);
	} else if (c->ops->deliver != NULL) {
		c->ops->deliver(c->ctx, c, c->delivery_tag, c->redelivered, c->head, head,
				c->body_size);
	}
}

static int on_frame(struct lp_amqp_client *c, const struct lp_amqp_frame *f)
{
	struct lp_amqp_method m;
	int rc;

	if (f->type == LP_AMQP_FRAME_HEARTBEAT) {
		/* Spec 4.2.7: channel 0, no payload. */
		if (f->channel != 0 || f->size != 0)
			return protocol_error(c, LP_AMQP_FRAME_ERROR, "bad heartbeat frame");
		return 0;
	}
	if (f->channel > LP_AMQP_CLIENT_CHANNEL)
		return protocol_error(c, LP_AMQP_CHANNEL_ERROR, "frame on channel %u, never opened",
				      f->channel);
	if (f->type == LP_AMQP_FRAME_METHOD) {
		rc = lp_amqp_method_decode(f->payload, f->size, &m);
		if (rc < 0)
			return protocol_error(c, rc == -ENOTSUP ? LP_AMQP_COMMAND_INVALID
								: LP_AMQP_FRAME_ERROR,
					      "undecodable method frame (%d)", rc);
		return f->channel == 0 ? on_channel0(c, &m) : on_channel1(c, &m);
	}
	/* Content frames (spec 4.2.6) belong to channel 1 after Deliver/Return. */
	if (f->channel == 0)
		return protocol_error(c, LP_AMQP_COMMAND_INVALID, "content frame on channel 0");
	if (f->type == LP_AMQP_FRAME_HEADER) {
		struct lp_amqp_content_header h;

		if (c->content != LP_AMQP_CLIENT_HEADER)
			return protocol_error(c, LP_AMQP_UNEXPECTED_FRAME, "unexpected content header");
		if (lp_amqp_content_header_decode(f->payload, f->size, &h) < 0)
			return protocol_error(c, LP_AMQP_FRAME_ERROR, "bad content header");
		c->body_size = h.body_size;
		c->body_got = 0;
		c->content = LP_AMQP_CLIENT_BODY;
		if (h.body_size == 0)
			content_done(c);
		return 0;
	}
	/* LP_AMQP_FRAME_BODY: the reader admits no other type. */
	if (c->content != LP_AMQP_CLIENT_BODY || c->body_got + f->size > c->body_size)
		return protocol_error(c, LP_AMQP_UNEXPECTED_FRAME, "unexpected body frame");
	if (c->body_got < LP_AMQP_CLIENT_HEAD_MAX) {
		size_t n = LP_AMQP_CLIENT_HEAD_MAX - (size_t)c->body_got;

		memcpy(c->head + c->body_got, f->payload, n < f->size ? n : f->size);
	}
	c->body_got += f->size;
	if (c->body_got == c->body_size)
		content_done(c);
	return 0;
}

int lp_amqp_client_input(struct lp_amqp_client *c, const uint8_t *p, size_t len)
{
	if (len > 0)
		c->last_rx_ns = c->now_ns;
	while (len > 0 && c->state != LP_AMQP_CLIENT_CLOSED) {
		struct lp_amqp_frame f;
		size_t used;
		int rc = lp_amqp_frame_read(&c->rd, p, len, &used, &f);

		p += used;
		len -= used;
		if (rc < 0)
			return protocol_error(c, LP_AMQP_FRAME_ERROR, "bad frame (%d)", rc);
		if (rc == 0)
			break;
		if (on_frame(c, &f) < 0)
			return -EPROTO;
	}
	return 0;
}

void lp_amqp_client_tick(struct lp_amqp_client *c, uint64_t now_ns)
{
	uint64_t hb;

	c->now_ns = now_ns;
	if (c->close_ok_owed) {
		struct lp_amqp_method m = {.id = c->close_ok_id};

		if (lp_amqp_frame_write_method(&c->out, 0, &m, c->frame_max) > 0)
			c->close_ok_owed = false;
	}
	if (c->heartbeat == 0 || c->state == LP_AMQP_CLIENT_CLOSED)
		return;
	hb = (uint64_t)c->heartbeat * 1000000000ull;
	/* Spec 4.2.7, as RabbitMQ reads it: two silent intervals mean the peer is gone. */
	if (now_ns - c->last_rx_ns > 2 * hb) {
		finish(c, 0, "missed heartbeats from the broker");
		return;
	}
	if (now_ns - c->last_tx_ns >= hb / 2 && lp_amqp_frame_write_heartbeat(&c->out) > 0)
		c->last_tx_ns = now_ns;
}

int lp_amqp_client_call(struct lp_amqp_client *c, const struct lp_amqp_method *m)
{
	int rc;

	if (c->state != LP_AMQP_CLIENT_READY)
		return -EAGAIN;
	if (c->rpc_pending != 0)
		return -EBUSY;
	rc = send_method(c, LP_AMQP_CLIENT_CHANNEL, m);
	if (rc < 0)
		return rc;
	c->rpc_pending = m->id;
	return 0;
}

int lp_amqp_client_publish_prepare(struct lp_amqp_client *c, const char *exchange,
				   const char *routing_key, bool mandatory,
				   const struct lp_amqp_basic_properties *props,
				   uint64_t body_size)
{
	struct lp_amqp_method m = {.id = LP_AMQP_BASIC_PUBLISH};
	struct lp_amqp_outbuf o;
	size_t chunk = c->frame_max - LP_AMQP_FRAME_OVERHEAD;
	size_t cap = 4096 + body_size + (body_size / chunk + 1) * LP_AMQP_FRAME_OVERHEAD;
	uint8_t *zero, *buf;
	int n1, n2;

	if (c->state != LP_AMQP_CLIENT_READY)
		return -EAGAIN;
	buf = malloc(cap);
	zero = calloc(1, body_size ? body_size : 1);
	if (buf == NULL || zero == NULL) {
		free(buf);
		free(zero);
		return -ENOMEM;
	}
	lp_amqp_outbuf_init(&o, buf, cap);
	m.basic_publish.exchange = lp_amqp_cstr(exchange);
	m.basic_publish.routing_key = lp_amqp_cstr(routing_key);
	m.basic_publish.mandatory = mandatory;
	n1 = lp_amqp_frame_write_method(&o, LP_AMQP_CLIENT_CHANNEL, &m, c->frame_max);
	n2 = n1 < 0 ? n1 : lp_amqp_frame_write_content(&o, LP_AMQP_CLIENT_CHANNEL, props, zero,
							 body_size, c->frame_max);
	free(zero);
	if (n2 < 0) {
		free(buf);
		return n2;
	}
	free(c->tmpl);
	c->tmpl = buf;
	c->tmpl_len = lp_amqp_outbuf_len(&o);
	/* The first body frame's payload follows the method frame, the header
	 * frame and its own 7-octet frame header. */
	c->tmpl_body_off = c->tmpl_len - body_size -
			   (body_size + chunk - 1) / chunk * LP_AMQP_FRAME_OVERHEAD +
			   LP_AMQP_FRAME_HEADER_LEN;
	return 0;
}

int64_t lp_amqp_client_publish(struct lp_amqp_client *c, const void *stamp, size_t stamp_len)
{
	uint8_t *p;

	if (c->state != LP_AMQP_CLIENT_READY || c->tmpl == NULL)
		return -EAGAIN;
	p = lp_amqp_outbuf_reserve(&c->out, c->tmpl_len);
	if (p == NULL)
		return -ENOSPC;
	memcpy(p, c->tmpl, c->tmpl_len);
	if (stamp_len > 0)
		memcpy(p + c->tmpl_body_off, stamp, stamp_len);
	lp_amqp_outbuf_commit(&c->out, c->tmpl_len);
	c->last_tx_ns = c->now_ns;
	c->published++;
	if (c->confirming)
		c->publish_seq++;
	return (int64_t)(c->confirming ? c->publish_seq : c->published);
}

int lp_amqp_client_ack(struct lp_amqp_client *c, uint64_t tag, bool multiple)
{
	struct lp_amqp_method m = {.id = LP_AMQP_BASIC_ACK};

	if (c->state != LP_AMQP_CLIENT_READY)
		return -EAGAIN;
	m.basic_ack.delivery_tag = tag;
	m.basic_ack.multiple = multiple;
	return send_method(c, LP_AMQP_CLIENT_CHANNEL, &m);
}

int lp_amqp_client_close(struct lp_amqp_client *c)
{
	struct lp_amqp_method m = {.id = LP_AMQP_CONNECTION_CLOSE};
	int rc;

	if (c->state == LP_AMQP_CLIENT_CLOSING || c->state == LP_AMQP_CLIENT_CLOSED)
		return -EALREADY;
	if (c->state == LP_AMQP_CLIENT_START || c->state == LP_AMQP_CLIENT_TUNE) {
		/* Spec 4.2.2 / 1.4.2: before Tune there is no connection to close. */
		finish(c, LP_AMQP_REPLY_SUCCESS, "closed during the handshake");
		return 0;
	}
	m.connection_close.reply_code = LP_AMQP_REPLY_SUCCESS;
	m.connection_close.reply_text = lp_amqp_cstr("bench done");
	rc = send_method(c, 0, &m);
	if (rc < 0)
		return rc;
	c->state = LP_AMQP_CLIENT_CLOSING;
	return 0;
}

size_t lp_amqp_client_output_peek(const struct lp_amqp_client *c, const uint8_t **p)
{
	return lp_amqp_outbuf_peek(&c->out, p);
}

void lp_amqp_client_output_consume(struct lp_amqp_client *c, size_t n)
{
	lp_amqp_outbuf_consume(&c->out, n);
}
