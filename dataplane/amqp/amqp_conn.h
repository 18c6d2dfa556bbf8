/* SPDX-License-Identifier: MIT */
/*
 * AMQP 0-9-1 connection state machine, transport-agnostic (spec 2.2.4 and
 * 4.2, behaving as RabbitMQ does): the TCP glue hands it received bytes in
 * chunks of any size (lp_amqp_conn_input), drains what it produced from its
 * send buffer (lp_amqp_conn_output_peek/consume), calls lp_amqp_conn_tick
 * with the time so that heartbeats are sent and missed ones detected, and
 * closes the TCP connection once lp_amqp_conn_closed() is true and the send
 * buffer is empty. It speaks the protocol header, Start/StartOk (PLAIN,
 * AMQPLAIN), Secure/SecureOk, Tune/TuneOk, Open/OpenOk, heartbeats,
 * Close/CloseOk both ways, Blocked/Unblocked and UpdateSecret; channel frames
 * go to amqp_channel.c, whose broker-bound methods go to the callbacks in
 * struct lp_amqp_conn_ops.
 *
 * Memory: one block the caller provides (lp_amqp_conn_memsize), so a worker
 * can take connections from a pool sized at start-up. The one exception is
 * the send buffer, which grows on the heap for a write that does not fit
 * (see struct lp_amqp_outbuf in amqp_frame.h) and shrinks back as soon as
 * the transport has drained it: a content larger than the buffer (up to
 * max_message_size) is written whole, its frames contiguous (so no other
 * frame comes between them, AMQP 0-9-1 4.2.6), and a method (a confirm,
 * Close-Ok) is never refused for lack of room. Flow control still uses the
 * fixed size: lp_amqp_conn_can_take admits deliveries only while they leave
 * a part of it (out_reply_room) to the answers to input, except that a
 * content too large for that is admitted alone on an empty buffer; input
 * is read while the answers have room, whatever the deliveries hold.
 * lp_amqp_conn_release frees the heap buffer.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "amqp_auth.h"
#include "amqp_channel.h"
#include "amqp_frame.h"
#include "amqp_spec.h"

#define LP_AMQP_NS_PER_SEC 1000000000ULL

/* Limits and identity. lp_amqp_conn_cfg_default gives RabbitMQ's defaults. */
struct lp_amqp_conn_cfg {
	uint16_t channel_max;	  /* Tune channel-max, default 2047 */
	uint32_t frame_max;	  /* Tune frame-max, default 131072 */
	uint16_t heartbeat;	  /* Tune heartbeat, seconds, default 60 */
	uint64_t max_message_size; /* default 128 MiB (406 above it) */
	uint32_t outbuf_size;	  /* send buffer octets, default 2 * frame_max */
	uint64_t handshake_timeout_ns; /* protocol header to Open-Ok, default 10 s */
	uint64_t close_timeout_ns;     /* Close sent to Close-Ok, default 3 s */
	const char *product;	  /* "Lepus" */
	const char *version;	  /* project version */
	const char *platform;	  /* "DPDK" */
};

enum lp_amqp_conn_state {
	LP_AMQP_CONN_HEADER,	/* awaiting the protocol header */
	LP_AMQP_CONN_START_OK,	/* Start sent */
	LP_AMQP_CONN_SECURE_OK, /* Secure sent */
	LP_AMQP_CONN_TUNE_OK,	/* Tune sent */
	LP_AMQP_CONN_OPEN,	/* Tune-Ok received, awaiting Open */
	LP_AMQP_CONN_RUNNING,	/* Open-Ok sent */
	LP_AMQP_CONN_CLOSING,	/* Close sent, awaiting Close-Ok */
	LP_AMQP_CONN_CLOSED,	/* transport: send what is left, then close */
};

struct lp_amqp_conn;

/* Callbacks into the broker. Every one is optional. 'ctx' is the pointer
 * given to lp_amqp_conn_init. The int-returning ones return 0 when handled;
 * -EINPROGRESS when the method is accepted but answered later (a declaration
 * waiting for lepus-control): the connection then reads no further frame
 * until lp_amqp_conn_resume(), so what follows sees the method's effect;
 * -ENOTSUP when the method is not implemented (the connection is closed
 * with 540 NOT_IMPLEMENTED); any other negative value after the callee raised the
 * error itself with lp_amqp_channel_error (if it did not, 541 INTERNAL_ERROR).
 * Views (method arguments, properties, body) are valid during the call only. */
struct lp_amqp_conn_ops {
	void (*on_open)(void *ctx, struct lp_amqp_conn *c);
	void (*on_channel_open)(void *ctx, struct lp_amqp_conn *c, uint16_t ch);
	void (*on_channel_close)(void *ctx, struct lp_amqp_conn *c, uint16_t ch);
	/* A method of class exchange, queue, basic, confirm or tx. For a method
	 * with content (basic.publish) the header and body follow. */
	int (*on_method)(void *ctx, struct lp_amqp_conn *c, uint16_t ch,
			 const struct lp_amqp_method *m);
	int (*on_content_header)(void *ctx, struct lp_amqp_conn *c, uint16_t ch,
				 const struct lp_amqp_content_header *h);
	/* Body in pieces as frames arrive; 'last' on the piece that completes it.
	 * Not called for an empty body (body_size 0 in the header). */
	int (*on_content_body)(void *ctx, struct lp_amqp_conn *c, uint16_t ch, const uint8_t *p,
			       size_t len, bool last);
};

/* Private: use the functions below. Here so that amqp_channel.c and tests
 * can see it (HAProxy's -t.h habit, in one header while it is small). */
struct lp_amqp_conn {
	enum lp_amqp_conn_state state;
	struct lp_amqp_conn_cfg cfg;
	const struct lp_amqp_auth *auth;
	const struct lp_amqp_conn_ops *ops;
	void *ctx;

	struct lp_amqp_frame_reader rd;
	struct lp_amqp_outbuf out;
	size_t out_content_max; /* largest write lp_amqp_conn_can_take admits */
	/* room of the fixed send buffer that deliveries leave to the answers
	 * to input (lp_amqp_conn_can_take), so that a connection whose send
	 * stream is full of its deliveries still reads the acks and publishes
	 * that make room (as RabbitMQ's reader keeps reading) */
	size_t out_reply_room;
	uint64_t out_sent;      /* octets consumed from out, since the start */
	/* out_sent once a content written alone past the flow-control limit
	 * (lp_amqp_conn_can_take's large case) has left: input is read while
	 * it drains, as with deliveries */
	uint64_t out_big_end;
	uint8_t proto_hdr[8];
	uint8_t proto_have;
	bool rx_broken; /* framing lost: discard all further input */
	bool paused;    /* a callback answered -EINPROGRESS: read nothing more */

	/* negotiated (Tune-Ok) */
	uint16_t channel_max;
	uint32_t frame_max;
	uint16_t heartbeat;

	/* client */
	bool cap_auth_failure_close;
	bool cap_blocked;
	bool cap_cancel_notify; /* consumer_cancel_notify */
	bool blocked; /* Connection.Blocked sent, Unblocked not yet */
	uint8_t mechanism;
	uint8_t user_len, vhost_len;
	char user[LP_AMQP_NAME_MAX + 1];
	char vhost[LP_AMQP_NAME_MAX + 1];

	/* time */
	uint64_t now_ns, created_ns, last_rx_ns, last_tx_ns, closing_since_ns;
	bool rx_seen, tx_seen;

	/* why it closed */
	uint16_t close_code;
	bool answer_closes;  /* closed by the client's Close: later Closes get Close-Ok too */
	uint64_t closed_ns;  /* when (answer_closes) */
	char close_text[256];

	uint16_t channels_open;
	struct lp_amqp_channel *channels; /* [0 .. cfg.channel_max] */
};

/* Fills cfg with the defaults above. */
void lp_amqp_conn_cfg_default(struct lp_amqp_conn_cfg *cfg);

/* Octets of memory one connection with this configuration needs. */
size_t lp_amqp_conn_memsize(const struct lp_amqp_conn_cfg *cfg);

/* Initializes a connection in 'mem' (memsize octets, from
 * lp_amqp_conn_memsize; 8-byte aligned). 'auth' must outlive it. Returns the
 * connection (== mem) awaiting the protocol header, or NULL with errno EINVAL
 * when mem is too small or cfg out of range (frame_max < 4096, channel_max 0).
 * When the transport is done: lp_amqp_conn_release, then the caller reclaims
 * 'mem'. */
struct lp_amqp_conn *lp_amqp_conn_init(void *mem, size_t memsize, const struct lp_amqp_conn_cfg *cfg,
				       const struct lp_amqp_auth *auth,
				       const struct lp_amqp_conn_ops *ops, void *ctx, uint64_t now_ns);

/* Frees what the connection allocated (a send buffer grown on the heap) and
 * drops its pending output. The connection is unusable afterwards; c may be
 * NULL. */
void lp_amqp_conn_release(struct lp_amqp_conn *c);

/* Consumes received octets [p, p+len), any split. Returns the octets
 * consumed: len, or fewer when the send buffer lacks room for the replies
 * (drain output and call again with the rest) or when the connection is
 * paused (call again with the rest after lp_amqp_conn_resume). Once closed, input is
 * discarded and counted as consumed. */
size_t lp_amqp_conn_input(struct lp_amqp_conn *c, const uint8_t *p, size_t len);

/* Read frames again after a callback's -EINPROGRESS (see struct
 * lp_amqp_conn_ops); the transport then feeds the input it kept back. */
static inline void lp_amqp_conn_resume(struct lp_amqp_conn *c)
{
	c->paused = false;
}

static inline bool lp_amqp_conn_paused(const struct lp_amqp_conn *c)
{
	return c->paused;
}

/* Pending output: returns its length and *p (valid until the next call into
 * the connection). lp_amqp_conn_output_consume removes n octets once sent. */
size_t lp_amqp_conn_output_peek(const struct lp_amqp_conn *c, const uint8_t **p);
void lp_amqp_conn_output_consume(struct lp_amqp_conn *c, size_t n);

/* Time passes: sends heartbeats (when nothing else was sent for half the
 * negotiated interval), closes after two intervals without input (RabbitMQ:
 * no Close, the socket is closed), enforces the handshake and close timeouts. */
void lp_amqp_conn_tick(struct lp_amqp_conn *c, uint64_t now_ns);

static inline enum lp_amqp_conn_state lp_amqp_conn_get_state(const struct lp_amqp_conn *c)
{
	return c->state;
}

/* True when the transport should send what is left and close. */
static inline bool lp_amqp_conn_closed(const struct lp_amqp_conn *c)
{
	return c->state == LP_AMQP_CONN_CLOSED;
}

/* How long a connection the client closed keeps reading after Close-Ok,
 * unless the client ends the socket first: time for the Connection.Close
 * frames its other threads sent meanwhile, each answered (RabbitMQ reads
 * what is buffered before its socket goes). */
#define LP_AMQP_CLOSE_LINGER_NS (200ull * 1000 * 1000)

/* Closed, and the transport may end the socket now (false while a
 * connection the client closed lingers; lp_amqp_conn_tick ends that). */
static inline bool lp_amqp_conn_done(const struct lp_amqp_conn *c)
{
	return c->state == LP_AMQP_CONN_CLOSED && !c->answer_closes;
}

/* Reply code and text of the close (0 and "" while open; the code is 0 for
 * closes without a Close frame, e.g. missed heartbeats; text says why). */
const char *lp_amqp_conn_close_reason(const struct lp_amqp_conn *c, uint16_t *code);

/* Closes the connection from the server side with Connection.Close (e.g.
 * 320 CONNECTION_FORCED at shutdown). Returns 0, -ENOTCONN if already closing. */
int lp_amqp_conn_close(struct lp_amqp_conn *c, uint16_t code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Connection.Blocked (reason) / Unblocked, RabbitMQ's extension, sent only to
 * clients announcing the connection.blocked capability. Returns 0, -ENOTSUP
 * (client lacks the capability), -ENOTCONN (not running), -EALREADY (already
 * in that state), -ENOSPC. */
int lp_amqp_conn_set_blocked(struct lp_amqp_conn *c, bool blocked, const char *reason);

/*
 * May a content of 'wire' octets (everything it will append: method, header
 * and body frames, at most; a caller promising several sums them) be written
 * now without running the send buffer past its flow-control limit? True
 * when it fits the room of the fixed buffer (lp_amqp_outbuf_room) and
 * leaves out_reply_room of it to the answers to input; or, for a content
 * larger than that, when nothing is pending at all and wire is at most what
 * max_message_size needs (cfg.outbuf_size + two frames + the body with its
 * frame overheads at FRAME-MIN-SIZE): the buffer then grows on the heap
 * for that one content when it must and shrinks back once it is sent. So a
 * connection holds at most one large content at a time, small deliveries
 * wait behind it until its octets have left, and deliveries never stop the
 * connection from reading its input (lp_amqp_conn_input).
 */
static inline bool lp_amqp_conn_can_take(const struct lp_amqp_conn *c, size_t wire)
{
	size_t room = lp_amqp_outbuf_room(&c->out);

	if (room >= c->out_reply_room && wire <= room - c->out_reply_room)
		return true;
	return lp_amqp_outbuf_len(&c->out) == 0 && wire <= c->out_content_max;
}

/* Sends a method on a channel (broker replies: Declare-Ok etc.), growing
 * the send buffer if it is full (see above). Returns octets appended,
 * -ENOSPC / -ENOMEM (the buffer cannot grow: past twice the largest content,
 * or malloc failed), -EINVAL, -EMSGSIZE, or -ENOTCONN when closing. */
int lp_amqp_conn_send_method(struct lp_amqp_conn *c, uint16_t ch, const struct lp_amqp_method *m);

/* Sends a method with content (basic.deliver, basic.get-ok, basic.return):
 * the method frame, the content header with 'props', and the body in frames
 * of at most the negotiated frame_max, all or nothing, contiguous in the
 * send buffer (grown on the heap when it does not fit; the body is copied,
 * so it need not outlive the call). Returns octets appended, -ENOSPC /
 * -ENOMEM (nothing appended: the buffer cannot grow that far, see
 * lp_amqp_conn_can_take), -EINVAL, -EMSGSIZE, or -ENOTCONN when not running. */
int lp_amqp_conn_send_content(struct lp_amqp_conn *c, uint16_t ch, const struct lp_amqp_method *m,
			      const struct lp_amqp_basic_properties *props, const uint8_t *body,
			      uint64_t body_len);
/* The same with the property list already encoded (as stored from a
 * publisher's content header; props_len 0: none). */
int lp_amqp_conn_send_content_raw(struct lp_amqp_conn *c, uint16_t ch, const struct lp_amqp_method *m,
				  const uint8_t *props, size_t props_len, const uint8_t *body,
				  uint64_t body_len);

/* Does the client take Basic.Cancel from the server (RabbitMQ extension)? */
static inline bool lp_amqp_conn_cap_cancel_notify(const struct lp_amqp_conn *c)
{
	return c->cap_cancel_notify;
}

/* Authenticated user and vhost (NUL-terminated; "" before Open-Ok). */
static inline const char *lp_amqp_conn_user(const struct lp_amqp_conn *c)
{
	return c->user;
}
static inline const char *lp_amqp_conn_vhost(const struct lp_amqp_conn *c)
{
	return c->vhost;
}

/* Internal, for amqp_channel.c: a connection exception (spec 1.3 hard
 * error): sends Connection.Close and stops reading. */
void lp_amqp_conn_fail(struct lp_amqp_conn *c, uint16_t code, uint32_t method_id, const char *fmt,
		       ...) __attribute__((format(printf, 4, 5)));
void lp_amqp_conn_vfail(struct lp_amqp_conn *c, uint16_t code, uint32_t method_id, const char *fmt,
			va_list ap);
