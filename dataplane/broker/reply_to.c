/* SPDX-License-Identifier: MIT */
/*
 * Direct reply-to (RabbitMQ's amq.rabbitmq.reply-to): a requester's channel
 * consumes from the pseudo-queue in no-ack mode (a consumer of this worker
 * with no queue behind it) and publishes requests whose reply_to property
 * names the pseudo-queue; the property is rewritten to the channel's reply
 * name, "amq.rabbitmq.reply-to.<channel id>.<consumer handle>" in hex. A
 * reply published to the default exchange with a reply name as its routing
 * key skips the topology: it is delivered to that consumer, here or,
 * through the rings, on the requester's worker (an LP_OP_DELIVER with no
 * queue). Stale names (the channel or its consumer gone: the ids carry
 * generations) drop the reply, as RabbitMQ does. A reply waits (its
 * publisher is parked) while the requester's connection or the ring to its
 * worker is full: back-pressure, never loss.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp_channel.h"
#include "amqp_reply.h"
#include "amqp_server.h"
#include "broker_int.h"
#include "message.h"

#define PSEUDO "amq.rabbitmq.reply-to"
#define PSEUDO_LEN (sizeof(PSEUDO) - 1)

bool lp_reply_to_is_pseudo(struct lp_amqp_bytes name)
{
	return lp_amqp_bytes_eq(name, PSEUDO);
}

bool lp_reply_to_is_name(const char *s, size_t len)
{
	return len > PSEUDO_LEN + 1 && memcmp(s, PSEUDO ".", PSEUDO_LEN + 1) == 0;
}

/* bc's reply consumer (the handle's generation tells a cancelled one). */
static struct consumer *reply_consumer(struct lp_broker *b, const struct channel *bc)
{
	struct consumer *k = bc->reply_handle != 0 ? consumer_of(b, bc->reply_handle) : NULL;

	return k != NULL && k->reply && k->chan == bc ? k : NULL;
}

int lp_reply_to_consume(struct lp_broker *b, struct channel *bc, const struct lp_amqp_basic_consume *a,
			struct consumer *k)
{
	if (!a->no_ack) {
		lp_amqp_channel_error(bc->conn, bc->ch, LP_AMQP_PRECONDITION_FAILED,
				      LP_AMQP_BASIC_CONSUME, "reply consumer cannot acknowledge");
		return -EINVAL;
	}
	if (reply_consumer(b, bc) != NULL) {
		lp_amqp_channel_error(bc->conn, bc->ch, LP_AMQP_PRECONDITION_FAILED,
				      LP_AMQP_BASIC_CONSUME, "reply consumer already set");
		return -EEXIST;
	}
	k->used = true;
	k->ready = true;
	k->reply = true;
	k->chan = bc;
	k->qid = 0;
	k->owner = (uint16_t)b->id;
	k->no_ack = true;
	bc->reply_handle = consumer_handle(b, k);
	if (!a->nowait) {
		struct lp_amqp_method ok = {.id = LP_AMQP_BASIC_CONSUME_OK};

		ok.basic_consume_ok.consumer_tag = (struct lp_amqp_bytes){(const uint8_t *)k->tag, k->tag_len};
		lp_amqp_conn_send_method(bc->conn, bc->ch, &ok);
	}
	return 0;
}

int lp_reply_to_stamp(struct lp_broker *b, struct channel *bc, const struct lp_amqp_basic_properties *p,
		      struct lp_amqp_bytes raw)
{
	struct lp_msg *m = bc->pub;
	struct consumer *k = reply_consumer(b, bc);
	struct lp_amqp_basic_properties np = *p, dec;
	char name[PSEUDO_LEN + 32];
	int n;

	if (k == NULL) {
		lp_amqp_channel_error(bc->conn, bc->ch, LP_AMQP_PRECONDITION_FAILED,
				      LP_AMQP_BASIC_PUBLISH, "fast reply consumer does not exist");
		return -ENOENT;
	}
	snprintf(name, sizeof(name), PSEUDO ".%" PRIx32 ".%" PRIx32, bc->id, consumer_handle(b, k));
	np.reply_to = lp_amqp_cstr(name);
	n = lp_msg_props_reserve(m, (uint64_t)raw.len + sizeof(name));
	if (n == 0)
		n = lp_amqp_basic_properties_encode(&np, m->props, raw.len + sizeof(name));
	if (n < 0 || lp_amqp_basic_properties_decode(m->props, (size_t)n, &dec) != 0) {
		lp_amqp_channel_error(bc->conn, bc->ch, LP_AMQP_CONTENT_TOO_LARGE,
				      LP_AMQP_BASIC_PUBLISH,
				      "message properties do not fit in the memory for large messages now");
		return -ENOBUFS;
	}
	m->props_len = (uint32_t)n;
	m->headers_off = (dec.flags & LP_AMQP_BASIC_HEADERS_FLAG) ? (uint32_t)(dec.headers.ptr - m->props) : 0;
	m->headers_len = (dec.flags & LP_AMQP_BASIC_HEADERS_FLAG) ? dec.headers.len : 0;
	return 0;
}

int lp_reply_to_route(struct lp_broker *b, struct channel *bc, struct lp_msg *m, uint64_t seq)
{
	char *end;
	const char *s = m->rkey + PSEUDO_LEN + 1;
	unsigned long chan = strtoul(s, &end, 16), handle = 0;
	bool ok = *end == '.';

	if (ok) {
		handle = strtoul(end + 1, &end, 16);
		ok = *end == '\0' && chan <= UINT32_MAX && handle <= UINT32_MAX;
	}
	unsigned w = ok ? lp_chan_worker((uint32_t)chan) : 0;

	if (ok && w == b->id) {
		struct channel *to = lp_broker_chan(b, (uint32_t)chan);
		struct consumer *k = consumer_of(b, (uint32_t)handle);

		if (to != NULL && k != NULL && k->reply && k->chan == to) {
			uint64_t tag = lp_broker_local_tag(b, to->id, m, true);

			if (tag == 0)
				return -EAGAIN; /* the requester's connection is full */
			lp_msg_ref(m, 1);
			lp_broker_deliver(b, to, (uint32_t)handle, m, tag, false, b->id, true);
			b->stats.replies++;
		} else {
			b->stats.replies_dropped++;
		}
	} else if (ok && w < b->n_workers) {
		if (b->out[LP_MESH_CTL * b->n_workers + w].n >= b->cfg.stage_ops)
			return -EAGAIN;
		lp_msg_ref(m, 1);
		lp_broker_send(b, w, lp_op_deliver(0, (uint32_t)chan, (uint32_t)handle, m, 0,
						   LP_OP_F_NO_ACK));
		b->stats.replies_remote++;
	} else {
		b->stats.replies_dropped++;
	}
	/* A reply to a requester gone (or a name that is not one of ours): dropped. */
	if (seq != 0)
		lp_confirm_publish(b, bc, seq, true);
	return 0;
}

int lp_reply_to_declare(struct channel *bc)
{
	struct lp_amqp_method ok = {.id = LP_AMQP_QUEUE_DECLARE_OK};

	/* RabbitMQ 3.10 answers a passive declare of the pseudo-queue with one consumer. */
	ok.queue_declare_ok.queue = lp_amqp_cstr(PSEUDO);
	ok.queue_declare_ok.message_count = 0;
	ok.queue_declare_ok.consumer_count = 1;
	lp_declare_send_ok(bc, &ok);
	return 0;
}
