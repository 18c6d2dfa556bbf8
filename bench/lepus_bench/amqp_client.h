/* SPDX-License-Identifier: MIT */
/*
 * The client side of AMQP 0-9-1 for lepus-bench: one connection with one
 * channel (1), as a state machine over byte buffers, so that the bench's TCP
 * glue feeds it whatever the stack delivered (lp_amqp_client_input) and
 * drains what it produced (lp_amqp_client_output_peek/consume), and a unit
 * test drives it with byte sequences alone. Frames are read, written and
 * (de)coded with the dataplane's codec (amqp_frame.h, the generated
 * amqp_spec.h, amqp_table.h); nothing here parses the wire by hand.
 *
 * Handshake (spec 2.2.4): protocol header -> Start -> Start-Ok (PLAIN) ->
 * Tune -> Tune-Ok, Open -> Open-Ok -> Channel.Open -> Open-Ok, then
 * ops->ready. After that the caller issues synchronous methods one at a time
 * (lp_amqp_client_call: declare, bind, purge, qos, consume, confirm.select;
 * ops->reply gets the answer), publishes messages from a pre-encoded template
 * (lp_amqp_client_publish_prepare / _publish), and acks deliveries. Deliveries
 * reach ops->deliver once their whole body arrived, with the body's first
 * octets; publisher confirms reach ops->confirm; anything that ends the
 * connection (a broker Close, a Channel.Close, a protocol error, missed
 * heartbeats, our own Close completing) reaches ops->closed exactly once.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "amqp_frame.h"
#include "amqp_spec.h"

#define LP_AMQP_CLIENT_CHANNEL 1
/* Octets of a delivered body handed to ops->deliver (the bench's stamp). */
#define LP_AMQP_CLIENT_HEAD_MAX 32

struct lp_amqp_client_cfg {
	const char *user;     /* PLAIN credentials (spec 1.4.2.2.2, RFC 4616) */
	const char *password;
	const char *vhost;
	uint32_t frame_max;   /* our frame-max for Tune-Ok (>= 4096, default 131072) */
	uint16_t heartbeat;   /* seconds in Tune-Ok; 0 disables (RabbitMQ's reading) */
	uint32_t outbuf_size; /* send buffer octets (default 128 KiB) */
	const char *product;  /* client_properties "product" */
};

enum lp_amqp_client_state {
	LP_AMQP_CLIENT_START,	    /* protocol header sent, awaiting Start */
	LP_AMQP_CLIENT_TUNE,	    /* Start-Ok sent, awaiting Tune */
	LP_AMQP_CLIENT_OPEN_OK,	    /* Tune-Ok and Open sent */
	LP_AMQP_CLIENT_CHANNEL_OK,  /* Channel.Open sent */
	LP_AMQP_CLIENT_READY,	    /* channel 1 open */
	LP_AMQP_CLIENT_CLOSING,	    /* Connection.Close sent, awaiting Close-Ok */
	LP_AMQP_CLIENT_CLOSED,	    /* over: ops->closed was called */
};

struct lp_amqp_client;

/* Callbacks; every one optional. Views are valid during the call only. */
struct lp_amqp_client_ops {
	/* Channel 1 is open: methods may be called and messages published. */
	void (*ready)(void *ctx, struct lp_amqp_client *c);
	/* The answer to the method of lp_amqp_client_call (e.g. queue.declare-ok). */
	void (*reply)(void *ctx, struct lp_amqp_client *c, const struct lp_amqp_method *m);
	/* A whole delivery: tag, the first head_len (<= LP_AMQP_CLIENT_HEAD_MAX)
	 * octets of the body, and its size. */
	void (*deliver)(void *ctx, struct lp_amqp_client *c, uint64_t tag, bool redelivered,
			const uint8_t *head, size_t head_len, uint64_t body_size);
	/* Publisher confirm (RabbitMQ's confirm.select extension): Basic.Ack or
	 * Basic.Nack of delivery_tag, and of every earlier one when multiple. */
	void (*confirm)(void *ctx, struct lp_amqp_client *c, uint64_t tag, bool multiple,
			bool nack);
	/* A mandatory publish came back (Basic.Return; its content is dropped). */
	void (*returned)(void *ctx, struct lp_amqp_client *c, uint16_t reply_code);
	/* Connection.Blocked (true) / Unblocked (false), RabbitMQ's extension. */
	void (*blocked)(void *ctx, struct lp_amqp_client *c, bool blocked);
	/* The connection is over. code/text: 200 after our own Close; the
	 * broker's reply code and text after its Close or Channel.Close; the
	 * code we sent (501, 503, 505...) after a protocol error; 0 for missed
	 * heartbeats. The transport closes TCP once the output is drained. */
	void (*closed)(void *ctx, struct lp_amqp_client *c, uint16_t code, const char *text);
};

/* Private: use the functions below (here so that tests can look inside). */
struct lp_amqp_client {
	enum lp_amqp_client_state state;
	struct lp_amqp_client_cfg cfg;
	const struct lp_amqp_client_ops *ops;
	void *ctx;

	struct lp_amqp_frame_reader rd;
	struct lp_amqp_outbuf out;
	uint8_t *rd_buf;
	uint8_t *out_buf;

	/* negotiated (Tune / Tune-Ok) */
	uint16_t channel_max;
	uint32_t frame_max;
	uint16_t heartbeat;

	uint32_t rpc_pending;  /* id of the outstanding synchronous method, 0: none */
	bool confirming;       /* confirm.select-ok received */
	bool blocked;
	bool close_ok_owed;    /* Channel.Close-Ok / Close-Ok still to write */
	uint32_t close_ok_id;
	uint64_t publish_seq;  /* messages published since confirm.select (tag of the last) */
	uint64_t published;    /* messages published */

	/* content in progress: after Basic.Deliver or Basic.Return */
	enum { LP_AMQP_CLIENT_NO_CONTENT, LP_AMQP_CLIENT_HEADER, LP_AMQP_CLIENT_BODY } content;
	bool content_is_return;
	bool redelivered;
	uint64_t delivery_tag;
	uint16_t return_code;
	uint64_t body_size, body_got;
	uint8_t head[LP_AMQP_CLIENT_HEAD_MAX];

	/* publish template: method + header + body frames of one message */
	uint8_t *tmpl;
	size_t tmpl_len;
	size_t tmpl_body_off;  /* first body octet inside tmpl */

	uint64_t now_ns, last_rx_ns, last_tx_ns;

	uint16_t close_code;
	char close_text[256];
};

/* Fills cfg with guest/guest on "/", frame-max 131072, no heartbeats. */
void lp_amqp_client_cfg_default(struct lp_amqp_client_cfg *cfg);

/*
 * A new client in state START with the protocol header (spec 4.2.2) already
 * in its output. Allocates (start-up only, not the hot path). The strings of
 * cfg must outlive the client. Returns NULL with errno EINVAL (frame_max
 * under 4096 or outbuf_size under 4096) or ENOMEM.
 */
struct lp_amqp_client *lp_amqp_client_create(const struct lp_amqp_client_cfg *cfg,
					     const struct lp_amqp_client_ops *ops, void *ctx,
					     uint64_t now_ns);
void lp_amqp_client_destroy(struct lp_amqp_client *c);

/*
 * Consumes received octets [p, p + len), any split. Always takes all of them
 * (after CLOSED they are discarded). Returns 0, or -EPROTO when the broker
 * broke the protocol: the client then wrote Connection.Close with the
 * matching reply code, went CLOSED and called ops->closed.
 */
int lp_amqp_client_input(struct lp_amqp_client *c, const uint8_t *p, size_t len);

/* Heartbeats (spec 4.2.7): sends one after half an interval without output;
 * two intervals without input close the connection (ops->closed, code 0). */
void lp_amqp_client_tick(struct lp_amqp_client *c, uint64_t now_ns);

/*
 * Sends a synchronous method on channel 1 (one at a time; its reply goes to
 * ops->reply). Returns 0; -EAGAIN when not READY; -EBUSY while another is
 * outstanding; -ENOSPC when the send buffer is full; or the encoder's error.
 */
int lp_amqp_client_call(struct lp_amqp_client *c, const struct lp_amqp_method *m);

/*
 * Pre-encodes the message that lp_amqp_client_publish sends: Basic.Publish
 * (exchange, routing key, mandatory) + content header (props, body_size) +
 * body frames of zeros, split by the negotiated frame-max. Call when READY.
 * Returns 0, -EAGAIN (not READY), -ENOMEM, or the encoder's error.
 */
int lp_amqp_client_publish_prepare(struct lp_amqp_client *c, const char *exchange,
				   const char *routing_key, bool mandatory,
				   const struct lp_amqp_basic_properties *props,
				   uint64_t body_size);

/* Octets one publish puts into the send buffer (0 before prepare). */
static inline size_t lp_amqp_client_publish_len(const struct lp_amqp_client *c)
{
	return c->tmpl_len;
}

/*
 * Appends one message from the template with stamp (stamp_len <= the body
 * size and <= frame_max - 8) over the start of its body. Returns its publish
 * sequence number (>= 1: the delivery tag its confirm will carry once
 * confirm.select is on), -EAGAIN (not READY or no template), or -ENOSPC (the
 * send buffer cannot take it now).
 */
int64_t lp_amqp_client_publish(struct lp_amqp_client *c, const void *stamp, size_t stamp_len);

/* Basic.Ack (spec 1.8.3.13) on channel 1. Returns 0, -EAGAIN, -ENOSPC. */
int lp_amqp_client_ack(struct lp_amqp_client *c, uint64_t tag, bool multiple);

/* Orderly close: Connection.Close 200; ops->closed follows Close-Ok.
 * Returns 0, -EALREADY (closing or closed), -ENOSPC. Before READY the
 * handshake is abandoned the same way. */
int lp_amqp_client_close(struct lp_amqp_client *c);

/* Pending output: returns its length and *p; consume removes n octets. */
size_t lp_amqp_client_output_peek(const struct lp_amqp_client *c, const uint8_t **p);
void lp_amqp_client_output_consume(struct lp_amqp_client *c, size_t n);

/* Free octets in the send buffer. */
static inline size_t lp_amqp_client_output_room(const struct lp_amqp_client *c)
{
	return lp_amqp_outbuf_room(&c->out);
}
