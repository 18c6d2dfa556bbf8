/* SPDX-License-Identifier: MIT */
/*
 * AMQP 0-9-1 framing (spec 4.2.3): the incremental frame reader that turns
 * the in-order TCP receive stream, delivered in chunks of any size, into whole
 * frames; and the frame writer that appends frames to a connection's send
 * buffer, so that everything one poll iteration produces leaves in as few
 * segments as possible. Data flow: tcp -> lp_amqp_frame_read -> amqp_conn ->
 * lp_amqp_frame_write_* -> send buffer -> tcp. Byte buffers only: the TCP glue
 * copies or maps mbuf data into chunks (mbuf ownership stays with the caller).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "amqp_spec.h"
#include "amqp_types.h"

#define LP_AMQP_FRAME_HEADER_LEN 7
#define LP_AMQP_FRAME_OVERHEAD 8 /* header + frame-end octet */

/* One frame. 'payload' views either the caller's chunk or the reader's
 * reassembly buffer; valid until the next lp_amqp_frame_read call or until the
 * chunk is released, whichever comes first. */
struct lp_amqp_frame {
	uint8_t type; /* LP_AMQP_FRAME_METHOD, _HEADER, _BODY, _HEARTBEAT */
	uint16_t channel;
	uint32_t size;
	const uint8_t *payload;
};

/* Reader state. 'buf' (caller-owned, frame_max_cap octets) holds a frame that
 * spans chunks; a frame wholly inside one chunk is returned without a copy. */
struct lp_amqp_frame_reader {
	uint8_t *buf;
	uint32_t buf_cap;
	uint32_t frame_max; /* whole frame, overhead included (spec 4.2.3) */
	uint32_t have;	    /* octets of the current frame in buf */
	uint32_t need;	    /* total octets of the current frame, 0 until the header is in */
};

/* Initializes a reader with a reassembly buffer of buf_cap octets; frame_max
 * starts at buf_cap and can only be lowered. */
void lp_amqp_frame_reader_init(struct lp_amqp_frame_reader *r, uint8_t *buf, uint32_t buf_cap);

/* Sets the frame size limit (whole frame, spec 4.2.3 and Tune frame-max).
 * Returns 0, or -EINVAL if it exceeds the buffer or is under 8 octets. */
int lp_amqp_frame_reader_set_max(struct lp_amqp_frame_reader *r, uint32_t frame_max);

/* Reads at most one frame from [data, data+len). *consumed is set to the
 * octets taken (always, also on error). Returns:
 *   1        a frame is in *f;
 *   0        all of the chunk was taken, no frame complete yet;
 *   -EMSGSIZE the frame header announces more than frame_max (spec 4.2.3);
 *   -EPROTO  unknown frame type (spec 4.2.3: types 1, 2, 3, 8);
 *   -EBADMSG frame-end octet is not 0xCE (spec 4.2.3).
 * After an error the stream is unusable: the connection must be closed. */
int lp_amqp_frame_read(struct lp_amqp_frame_reader *r, const uint8_t *data, size_t len,
		       size_t *consumed, struct lp_amqp_frame *f);

/*
 * Send buffer: a caller-owned byte array (the "fixed" buffer, sized at
 * start-up); data in [head, tail) of buf. Optionally (lp_amqp_outbuf_set_grow)
 * it grows on the heap when a write does not fit: the pending octets move to
 * a malloc'd buffer with room for the write plus the fixed capacity again,
 * and move back into the fixed array, the heap buffer freed, as soon as the
 * transport has drained them to at most the fixed capacity. A write is
 * therefore never split or lost for lack of room (up to grow_max), while
 * lp_amqp_outbuf_room keeps measuring against the fixed capacity, so that
 * flow control (what the connection reads, what the broker delivers) is
 * unchanged. This is how a content larger than the buffer (a 128 MiB
 * message) goes out: whole, in order, its frames contiguous.
 */
struct lp_amqp_outbuf {
	uint8_t *buf;	  /* fixed, or a heap buffer while grown */
	size_t cap;	  /* of buf */
	size_t head;
	size_t tail;
	uint8_t *fixed;	  /* the caller's array */
	size_t fixed_cap;
	size_t grow_max;  /* largest heap capacity; 0: never grows */
};

/* A fixed buffer of cap octets that never grows. */
void lp_amqp_outbuf_init(struct lp_amqp_outbuf *o, uint8_t *buf, size_t cap);
/* Let o grow on the heap up to grow_max octets of capacity (0: never). */
void lp_amqp_outbuf_set_grow(struct lp_amqp_outbuf *o, size_t grow_max);
/* Frees a heap buffer and empties o (back on its fixed array). */
void lp_amqp_outbuf_fini(struct lp_amqp_outbuf *o);
static inline size_t lp_amqp_outbuf_len(const struct lp_amqp_outbuf *o)
{
	return o->tail - o->head;
}
/* Free octets of the fixed capacity (0 while more than that is pending):
 * what flow control may still promise. */
static inline size_t lp_amqp_outbuf_room(const struct lp_amqp_outbuf *o)
{
	size_t len = lp_amqp_outbuf_len(o);
	return len < o->fixed_cap ? o->fixed_cap - len : 0;
}
/* True while the data lives in a heap buffer. */
static inline bool lp_amqp_outbuf_grown(const struct lp_amqp_outbuf *o)
{
	return o->buf != o->fixed;
}
/* Makes n contiguous octets free at the tail, compacting, or growing when
 * allowed. Returns 0; -ENOSPC (no growth, or the capacity would pass
 * grow_max); -ENOMEM (malloc failed). Nothing pending is lost either way. */
int lp_amqp_outbuf_ensure(struct lp_amqp_outbuf *o, size_t n);
/* Makes n contiguous octets available at the tail (lp_amqp_outbuf_ensure);
 * returns a pointer to them, or NULL when the buffer cannot hold n more.
 * Commit with lp_amqp_outbuf_commit. */
uint8_t *lp_amqp_outbuf_reserve(struct lp_amqp_outbuf *o, size_t n);
void lp_amqp_outbuf_commit(struct lp_amqp_outbuf *o, size_t n);
/* Pending data: returns its length and *p (valid until the next call on o);
 * consume removes n octets (and may move the rest back to the fixed array). */
size_t lp_amqp_outbuf_peek(const struct lp_amqp_outbuf *o, const uint8_t **p);
void lp_amqp_outbuf_consume(struct lp_amqp_outbuf *o, size_t n);

/* Octets a content (header frame with props_len octets of properties, body
 * frames of at most frame_max) takes on the wire, without its method frame. */
uint64_t lp_amqp_content_wire_size(size_t props_len, uint64_t body_len, uint32_t frame_max);

/* Frame writers: each appends whole frames or nothing, growing the buffer
 * when it may. Return octets appended, -ENOSPC when the buffer lacks room
 * (-ENOMEM when growing it failed), -EINVAL for an argument that cannot be
 * encoded (shortstr over 255), -EMSGSIZE when a method or content header
 * does not fit in frame_max. */
int lp_amqp_frame_write_method(struct lp_amqp_outbuf *o, uint16_t channel,
			       const struct lp_amqp_method *m, uint32_t frame_max);
int lp_amqp_frame_write_heartbeat(struct lp_amqp_outbuf *o);
/* Content header (spec 4.2.6) with basic properties, then the body split into
 * body frames of at most frame_max - 8 octets (spec 4.2.6.2). */
int lp_amqp_frame_write_content(struct lp_amqp_outbuf *o, uint16_t channel,
				const struct lp_amqp_basic_properties *props, const uint8_t *body,
				uint64_t body_len, uint32_t frame_max);
/* The same with the property list already encoded (props_len octets: flags
 * and values as in a content header, spec 4.2.6.1; 0 means none). */
int lp_amqp_frame_write_content_raw(struct lp_amqp_outbuf *o, uint16_t channel,
				    const uint8_t *props, size_t props_len, const uint8_t *body,
				    uint64_t body_len, uint32_t frame_max);
/* Writes raw octets (the protocol header). Returns n or -ENOSPC. */
int lp_amqp_frame_write_raw(struct lp_amqp_outbuf *o, const void *p, size_t n);

/* A decoded content header frame payload (spec 4.2.6.1). */
struct lp_amqp_content_header {
	uint16_t class_id;
	uint16_t weight;
	uint64_t body_size;
	struct lp_amqp_basic_properties props; /* valid when class_id is basic */
	struct lp_amqp_bytes props_raw; /* the encoded property list (flags and values) */
};

/* Decodes a content header payload. Returns 0; -EBADMSG when malformed or
 * truncated; -ENOTSUP when class_id is not a class with content (only basic,
 * spec 4.2.6: weight must be zero too, else -EBADMSG). */
int lp_amqp_content_header_decode(const uint8_t *p, size_t len, struct lp_amqp_content_header *h);
