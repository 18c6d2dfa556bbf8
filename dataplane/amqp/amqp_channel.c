/* SPDX-License-Identifier: MIT */
/*
 * Channels of a running connection: lp_amqp_conn_input -> conn_frame ->
 * lp_amqp_channel_frame -> channel-class methods here (spec 2.2.5), content
 * assembly (spec 4.2.6), and the broker's methods through the connection's
 * callbacks. Methods nobody handles close the connection with 540
 * NOT_IMPLEMENTED (a hard error, as RabbitMQ's). Reply texts follow RabbitMQ's
 * rabbit_channel and rabbit_command_assembler where it has one. See
 * amqp_channel.h.
 */
#include "amqp_channel.h"

#include <errno.h>
#include <stdio.h>

#include "amqp_conn.h"
#include "amqp_reply.h"

enum lp_amqp_channel_state lp_amqp_channel_state(const struct lp_amqp_conn *c, uint16_t ch)
{
	if (ch == 0 || ch > c->cfg.channel_max)
		return LP_AMQP_CH_CLOSED;
	return (enum lp_amqp_channel_state)c->channels[ch].state;
}

static void channel_gone(struct lp_amqp_conn *c, uint16_t ch)
{
	struct lp_amqp_channel *chan = &c->channels[ch];
	bool was_open = chan->state == LP_AMQP_CH_OPEN;

	chan->content = LP_AMQP_EXPECT_METHOD;
	chan->body_left = 0;
	if (was_open) {
		c->channels_open--;
		if (c->ops->on_channel_close)
			c->ops->on_channel_close(c->ctx, c, ch);
		chan->user = NULL;
	}
}

void lp_amqp_channel_close_all(struct lp_amqp_conn *c)
{
	for (uint32_t ch = 1; ch <= c->cfg.channel_max; ch++) {
		if (c->channels[ch].state != LP_AMQP_CH_CLOSED) {
			channel_gone(c, (uint16_t)ch);
			c->channels[ch].state = LP_AMQP_CH_CLOSED;
		}
	}
}

/* Sends Channel.Close with any code (hard codes included) and marks the
 * channel closing. */
static int channel_vclose(struct lp_amqp_conn *c, uint16_t ch, uint16_t code, uint32_t method_id,
			  const char *fmt, va_list ap)
{
	struct lp_amqp_method m = { .id = LP_AMQP_CHANNEL_CLOSE };
	char text[256];
	int rc;

	lp_amqp_reply_vtext(text, sizeof(text), code, fmt, ap);
	m.channel_close.reply_code = code;
	m.channel_close.reply_text = lp_amqp_cstr(text);
	m.channel_close.class_id = lp_amqp_method_class(method_id);
	m.channel_close.method_id = (uint16_t)method_id;
	rc = lp_amqp_conn_send_method(c, ch, &m);
	if (rc < 0)
		return rc;
	channel_gone(c, ch);
	c->channels[ch].state = LP_AMQP_CH_CLOSING;
	return 0;
}

static void channel_close(struct lp_amqp_conn *c, uint16_t ch, uint16_t code, uint32_t method_id,
			  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void channel_close(struct lp_amqp_conn *c, uint16_t ch, uint16_t code, uint32_t method_id,
			  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (channel_vclose(c, ch, code, method_id, fmt, ap) < 0)
		lp_amqp_conn_fail(c, LP_AMQP_INTERNAL_ERROR, method_id, "send buffer full");
	va_end(ap);
}

int lp_amqp_channel_error(struct lp_amqp_conn *c, uint16_t ch, uint16_t code, uint32_t method_id,
			  const char *fmt, ...)
{
	va_list ap;
	int rc = 0;

	if (lp_amqp_channel_state(c, ch) != LP_AMQP_CH_OPEN)
		return -ENOENT;
	va_start(ap, fmt);
	/* Spec 1.3: hard-error codes are connection exceptions. */
	if (lp_amqp_reply_is_hard(code))
		lp_amqp_conn_vfail(c, code, method_id, fmt, ap);
	else
		rc = channel_vclose(c, ch, code, method_id, fmt, ap);
	va_end(ap);
	return rc;
}

/* Methods only a server sends (spec 2.2 class descriptions; RabbitMQ answers
 * them from a client with 503 "unimplemented method"). */
static bool server_only(uint32_t id)
{
	switch (id) {
	case LP_AMQP_CHANNEL_OPEN_OK:
	case LP_AMQP_ACCESS_REQUEST_OK:
	case LP_AMQP_EXCHANGE_DECLARE_OK:
	case LP_AMQP_EXCHANGE_DELETE_OK:
	case LP_AMQP_EXCHANGE_BIND_OK:
	case LP_AMQP_EXCHANGE_UNBIND_OK:
	case LP_AMQP_QUEUE_DECLARE_OK:
	case LP_AMQP_QUEUE_BIND_OK:
	case LP_AMQP_QUEUE_PURGE_OK:
	case LP_AMQP_QUEUE_DELETE_OK:
	case LP_AMQP_QUEUE_UNBIND_OK:
	case LP_AMQP_BASIC_QOS_OK:
	case LP_AMQP_BASIC_CONSUME_OK:
	case LP_AMQP_BASIC_RETURN:
	case LP_AMQP_BASIC_DELIVER:
	case LP_AMQP_BASIC_GET_OK:
	case LP_AMQP_BASIC_GET_EMPTY:
	case LP_AMQP_BASIC_RECOVER_OK:
	case LP_AMQP_TX_SELECT_OK:
	case LP_AMQP_TX_COMMIT_OK:
	case LP_AMQP_TX_ROLLBACK_OK:
	case LP_AMQP_CONFIRM_SELECT_OK:
		return true;
	default:
		return false;
	}
}

/* After a callback: map its return to the channel's fate. */
static bool callback_result(struct lp_amqp_conn *c, uint16_t ch, int rc, uint32_t method_id)
{
	const char *name = lp_amqp_method_name(method_id);

	if (rc == 0)
		return true;
	if (rc == -EINPROGRESS) {
		c->paused = true; /* answered later; see struct lp_amqp_conn_ops */
		return true;
	}
	if (lp_amqp_channel_state(c, ch) != LP_AMQP_CH_OPEN || c->state != LP_AMQP_CONN_RUNNING)
		return false; /* the callee raised the error itself */
	if (rc == -ENOTSUP) {
		/* Spec 1.3: 540 is a hard error; RabbitMQ's rabbit_channel
		 * raises its not_implemented as a connection exception. */
		lp_amqp_conn_fail(c, LP_AMQP_NOT_IMPLEMENTED, method_id,
				  "%s is not implemented by this worker",
				  name ? name : "content");
	} else {
		channel_close(c, ch, LP_AMQP_INTERNAL_ERROR, method_id, "%s failed (%d)",
			      name ? name : "content", rc);
	}
	return false;
}

static void channel_open(struct lp_amqp_conn *c, uint16_t ch, const struct lp_amqp_frame *f)
{
	struct lp_amqp_channel *chan = &c->channels[ch];
	struct lp_amqp_method m, r = { .id = LP_AMQP_CHANNEL_OPEN_OK };
	int rc;

	if (f->type != LP_AMQP_FRAME_METHOD) {
		lp_amqp_conn_fail(c, LP_AMQP_CHANNEL_ERROR, 0, "expected 'channel.open' on channel %u", ch);
		return;
	}
	rc = lp_amqp_method_decode(f->payload, f->size, &m);
	if (rc == -EBADMSG && m.id == LP_AMQP_CHANNEL_OPEN) {
		lp_amqp_conn_fail(c, LP_AMQP_FRAME_ERROR, m.id, "cannot decode channel.open");
		return;
	}
	if (rc < 0 || m.id != LP_AMQP_CHANNEL_OPEN) {
		lp_amqp_conn_fail(c, LP_AMQP_CHANNEL_ERROR, rc < 0 ? 0 : m.id,
				  "expected 'channel.open' on channel %u", ch);
		return;
	}
	r.channel_open_ok.channel_id = (struct lp_amqp_bytes){ 0 };
	if (lp_amqp_conn_send_method(c, ch, &r) < 0) {
		lp_amqp_conn_fail(c, LP_AMQP_INTERNAL_ERROR, m.id, "send buffer full");
		return;
	}
	*chan = (struct lp_amqp_channel){ .state = LP_AMQP_CH_OPEN, .flow_active = true };
	c->channels_open++;
	if (c->ops->on_channel_open)
		c->ops->on_channel_open(c->ctx, c, ch);
}

/* Channel we closed: only Close and Close-Ok matter (spec 2.2.5 "channel.close"). */
static void channel_closing(struct lp_amqp_conn *c, uint16_t ch, const struct lp_amqp_frame *f)
{
	struct lp_amqp_method m, r = { .id = LP_AMQP_CHANNEL_CLOSE_OK };

	if (f->type != LP_AMQP_FRAME_METHOD || lp_amqp_method_decode(f->payload, f->size, &m) < 0)
		return;
	if (m.id == LP_AMQP_CHANNEL_CLOSE) {
		lp_amqp_conn_send_method(c, ch, &r);
		c->channels[ch].state = LP_AMQP_CH_CLOSED;
	} else if (m.id == LP_AMQP_CHANNEL_CLOSE_OK) {
		c->channels[ch].state = LP_AMQP_CH_CLOSED;
	}
}

static void content_frame(struct lp_amqp_conn *c, uint16_t ch, const struct lp_amqp_frame *f)
{
	struct lp_amqp_channel *chan = &c->channels[ch];
	struct lp_amqp_content_header h;
	int rc;

	if (chan->content == LP_AMQP_EXPECT_HEADER) {
		/* AMQP 0-9-1 4.2.6: a content method is followed by one header frame. */
		if (f->type != LP_AMQP_FRAME_HEADER) {
			lp_amqp_conn_fail(c, LP_AMQP_UNEXPECTED_FRAME, chan->content_method,
					  "expected content header for class %u, got non content header frame instead",
					  lp_amqp_method_class(chan->content_method));
			return;
		}
		rc = lp_amqp_content_header_decode(f->payload, f->size, &h);
		if (rc == -ENOTSUP || (rc == 0 && h.class_id != lp_amqp_method_class(chan->content_method))) {
			lp_amqp_conn_fail(c, LP_AMQP_UNEXPECTED_FRAME, chan->content_method,
					  "expected content header for class %u, got one for class %u instead",
					  lp_amqp_method_class(chan->content_method), h.class_id);
			return;
		}
		if (rc < 0) {
			lp_amqp_conn_fail(c, LP_AMQP_FRAME_ERROR, chan->content_method,
					  "cannot decode content header");
			return;
		}
		if (h.body_size > c->cfg.max_message_size) {
			channel_close(c, ch, LP_AMQP_PRECONDITION_FAILED, chan->content_method,
				      "message size %llu is larger than configured max size %llu",
				      (unsigned long long)h.body_size,
				      (unsigned long long)c->cfg.max_message_size);
			return;
		}
		chan->body_left = h.body_size;
		chan->content = h.body_size ? LP_AMQP_EXPECT_BODY : LP_AMQP_EXPECT_METHOD;
		rc = c->ops->on_content_header ? c->ops->on_content_header(c->ctx, c, ch, &h) : -ENOTSUP;
		callback_result(c, ch, rc, chan->content_method);
		return;
	}
	/* LP_AMQP_EXPECT_BODY */
	if (f->type != LP_AMQP_FRAME_BODY) {
		lp_amqp_conn_fail(c, LP_AMQP_UNEXPECTED_FRAME, chan->content_method,
				  "expected content body, got non content body frame instead");
		return;
	}
	if (f->size > chan->body_left) {
		lp_amqp_conn_fail(c, LP_AMQP_FRAME_ERROR, chan->content_method,
				  "content body frame of %u octets exceeds the %llu announced octets left",
				  f->size, (unsigned long long)chan->body_left);
		return;
	}
	chan->body_left -= f->size;
	if (chan->body_left == 0)
		chan->content = LP_AMQP_EXPECT_METHOD;
	rc = c->ops->on_content_body
		     ? c->ops->on_content_body(c->ctx, c, ch, f->payload, f->size, chan->body_left == 0)
		     : -ENOTSUP;
	callback_result(c, ch, rc, chan->content_method);
}

static void channel_method(struct lp_amqp_conn *c, uint16_t ch, const struct lp_amqp_method *m)
{
	struct lp_amqp_channel *chan = &c->channels[ch];
	const struct lp_amqp_method_desc *d = lp_amqp_method_desc(m->id);
	struct lp_amqp_method r;
	int rc;

	switch (m->id) {
	case LP_AMQP_CHANNEL_OPEN:
		/* RabbitMQ rabbit_channel: channel_error "second 'channel.open' seen". */
		lp_amqp_conn_fail(c, LP_AMQP_CHANNEL_ERROR, m->id, "second 'channel.open' seen");
		return;
	case LP_AMQP_CHANNEL_CLOSE:
		r.id = LP_AMQP_CHANNEL_CLOSE_OK;
		if (lp_amqp_conn_send_method(c, ch, &r) < 0) {
			lp_amqp_conn_fail(c, LP_AMQP_INTERNAL_ERROR, m->id, "send buffer full");
			return;
		}
		channel_gone(c, ch);
		chan->state = LP_AMQP_CH_CLOSED;
		return;
	case LP_AMQP_CHANNEL_FLOW:
		/* Spec 2.2.5 "channel.flow": the client asks us to stop or
		 * restart deliveries on this channel. RabbitMQ (3.x) does not
		 * implement stopping them: active=false closes the connection
		 * with 540, and clients' tests expect that. */
		if (!m->channel_flow.active) {
			lp_amqp_conn_fail(c, LP_AMQP_NOT_IMPLEMENTED, m->id, "active=false");
			return;
		}
		chan->flow_active = true;
		r.id = LP_AMQP_CHANNEL_FLOW_OK;
		r.channel_flow_ok.active = m->channel_flow.active;
		lp_amqp_conn_send_method(c, ch, &r);
		return;
	case LP_AMQP_CHANNEL_FLOW_OK:
		return; /* answer to a Flow we sent */
	case LP_AMQP_ACCESS_REQUEST:
		/* Deprecated in 0-9-1; RabbitMQ answers with ticket 1. */
		r.id = LP_AMQP_ACCESS_REQUEST_OK;
		r.access_request_ok.ticket = 1;
		lp_amqp_conn_send_method(c, ch, &r);
		return;
	default:
		break;
	}
	if (lp_amqp_method_class(m->id) == LP_AMQP_CLASS_CONNECTION) {
		lp_amqp_conn_fail(c, LP_AMQP_COMMAND_INVALID, m->id, "%s is only valid on channel 0",
				  d->name);
		return;
	}
	if (m->id == LP_AMQP_CHANNEL_CLOSE_OK || server_only(m->id)) {
		/* RabbitMQ rabbit_channel handle_method fall-through. */
		lp_amqp_conn_fail(c, LP_AMQP_COMMAND_INVALID, m->id, "unimplemented method %s", d->name);
		return;
	}
	rc = c->ops->on_method ? c->ops->on_method(c->ctx, c, ch, m) : -ENOTSUP;
	if (callback_result(c, ch, rc, m->id) && d->content) {
		chan->content = LP_AMQP_EXPECT_HEADER;
		chan->content_method = m->id;
	}
}

void lp_amqp_channel_frame(struct lp_amqp_conn *c, uint16_t ch, const struct lp_amqp_frame *f)
{
	struct lp_amqp_channel *chan = &c->channels[ch];
	struct lp_amqp_method m;
	int rc;

	switch (chan->state) {
	case LP_AMQP_CH_CLOSED:
		channel_open(c, ch, f);
		return;
	case LP_AMQP_CH_CLOSING:
		channel_closing(c, ch, f);
		return;
	default:
		break;
	}
	if (chan->content != LP_AMQP_EXPECT_METHOD) {
		content_frame(c, ch, f);
		return;
	}
	if (f->type != LP_AMQP_FRAME_METHOD) {
		/* RabbitMQ rabbit_command_assembler. */
		lp_amqp_conn_fail(c, LP_AMQP_UNEXPECTED_FRAME, 0,
				  "expected method frame, got non method frame instead");
		return;
	}
	rc = lp_amqp_method_decode(f->payload, f->size, &m);
	if (rc == -ENOTSUP) {
		lp_amqp_conn_fail(c, LP_AMQP_COMMAND_INVALID, 0, "unknown method %u/%u",
				  lp_amqp_method_class(m.id), m.id & 0xFFFF);
		return;
	}
	if (rc < 0) {
		const char *name = lp_amqp_method_name(m.id);
		lp_amqp_conn_fail(c, LP_AMQP_FRAME_ERROR, name ? m.id : 0, "cannot decode %s",
				  name ? name : "method frame");
		return;
	}
	channel_method(c, ch, &m);
}
