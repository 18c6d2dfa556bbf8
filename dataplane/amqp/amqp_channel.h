/* SPDX-License-Identifier: MIT */
/*
 * AMQP 0-9-1 channels of one connection (spec 2.2.5, class "channel"):
 * Open/OpenOk, Close/CloseOk in both directions, Flow, and the assembly of
 * content (method, content header, body frames; spec 4.2.6) handed to the
 * broker through the connection's callbacks. Called by amqp_conn.c for every
 * frame on a channel other than 0; the connection owns the channel table.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "amqp_frame.h"

struct lp_amqp_conn;

enum lp_amqp_channel_state {
	LP_AMQP_CH_CLOSED = 0, /* never opened, or closed */
	LP_AMQP_CH_OPEN,
	LP_AMQP_CH_CLOSING, /* we sent Channel.Close, awaiting Close-Ok */
};

/* What the next frame on an open channel must be (spec 4.2.6). */
enum lp_amqp_content_state {
	LP_AMQP_EXPECT_METHOD = 0,
	LP_AMQP_EXPECT_HEADER,
	LP_AMQP_EXPECT_BODY,
};

struct lp_amqp_channel {
	uint8_t state;	     /* enum lp_amqp_channel_state */
	uint8_t content;     /* enum lp_amqp_content_state */
	bool flow_active;    /* client's Channel.Flow: deliveries allowed */
	uint32_t content_method; /* method the expected content belongs to */
	uint64_t body_left;  /* octets of body still expected */
	void *user;	     /* the broker's per-channel state */
};

/* Handles one frame for channel 'ch' (1..channel_max) of a running
 * connection. Errors close the channel or the connection as the spec says. */
void lp_amqp_channel_frame(struct lp_amqp_conn *c, uint16_t ch, const struct lp_amqp_frame *f);

/* Closes channel 'ch' from the server side: sends Channel.Close with 'code'
 * and "NAME - text", the channel then ignores everything but Close/Close-Ok
 * (spec 2.2.5 "channel.close"). A hard-error code (spec 1.3) closes the whole
 * connection instead, as RabbitMQ does. 'method_id' is the method that caused
 * it (0 if none). Returns 0, -ENOENT if the channel is not open, -ENOSPC if
 * the send buffer is full (nothing changed). */
int lp_amqp_channel_error(struct lp_amqp_conn *c, uint16_t ch, uint16_t code, uint32_t method_id,
			  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Channel state, or LP_AMQP_CH_CLOSED for a number out of range. */
enum lp_amqp_channel_state lp_amqp_channel_state(const struct lp_amqp_conn *c, uint16_t ch);

/* Closes every channel without sending anything (the connection is going
 * away); calls on_channel_close for each open one. */
void lp_amqp_channel_close_all(struct lp_amqp_conn *c);
