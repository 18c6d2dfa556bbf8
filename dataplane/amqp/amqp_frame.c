/* SPDX-License-Identifier: MIT */
/*
 * Frame reader and writer (AMQP 0-9-1 4.2.3 general frame format, 4.2.6
 * content framing, 4.2.7 heartbeat frames), and the send buffer that grows on
 * the heap for a write larger than its fixed array. See amqp_frame.h.
 */
#include "amqp_frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void lp_amqp_frame_reader_init(struct lp_amqp_frame_reader *r, uint8_t *buf, uint32_t buf_cap)
{
	r->buf = buf;
	r->buf_cap = buf_cap;
	r->frame_max = buf_cap;
	r->have = 0;
	r->need = 0;
}

int lp_amqp_frame_reader_set_max(struct lp_amqp_frame_reader *r, uint32_t frame_max)
{
	if (frame_max > r->buf_cap || frame_max < LP_AMQP_FRAME_OVERHEAD)
		return -EINVAL;
	r->frame_max = frame_max;
	return 0;
}

static uint32_t be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Checks a 7-octet frame header; returns the whole frame length or -errno. */
static int64_t check_header(const struct lp_amqp_frame_reader *r, const uint8_t *h)
{
	uint32_t size = be32(h + 3);

	switch (h[0]) {
	case LP_AMQP_FRAME_METHOD:
	case LP_AMQP_FRAME_HEADER:
	case LP_AMQP_FRAME_BODY:
	case LP_AMQP_FRAME_HEARTBEAT:
		break;
	default:
		return -EPROTO;
	}
	/* AMQP 0-9-1 4.2.3 / Tune frame-max: the whole frame, header and
	 * frame-end included, must not exceed the negotiated maximum. */
	if ((uint64_t)size + LP_AMQP_FRAME_OVERHEAD > r->frame_max)
		return -EMSGSIZE;
	return (int64_t)size + LP_AMQP_FRAME_OVERHEAD;
}

static int finish(const uint8_t *frame, uint32_t total, struct lp_amqp_frame *f)
{
	/* AMQP 0-9-1 4.2.3: frame-end must be 0xCE. */
	if (frame[total - 1] != LP_AMQP_FRAME_END)
		return -EBADMSG;
	f->type = frame[0];
	f->channel = (uint16_t)((frame[1] << 8) | frame[2]);
	f->size = total - LP_AMQP_FRAME_OVERHEAD;
	f->payload = frame + LP_AMQP_FRAME_HEADER_LEN;
	return 1;
}

int lp_amqp_frame_read(struct lp_amqp_frame_reader *r, const uint8_t *data, size_t len,
		       size_t *consumed, struct lp_amqp_frame *f)
{
	size_t n;
	int64_t total;

	*consumed = 0;
	/* Fast path: nothing buffered and the whole frame is in this chunk. */
	if (r->have == 0 && len >= LP_AMQP_FRAME_HEADER_LEN) {
		total = check_header(r, data);
		if (total < 0)
			return (int)total;
		if ((uint64_t)total <= len) {
			*consumed = (size_t)total;
			return finish(data, (uint32_t)total, f);
		}
	}
	/* Slow path: gather the header, then the rest, in the reassembly buffer. */
	if (r->have < LP_AMQP_FRAME_HEADER_LEN) {
		n = LP_AMQP_FRAME_HEADER_LEN - r->have;
		if (n > len)
			n = len;
		memcpy(r->buf + r->have, data, n);
		r->have += (uint32_t)n;
		*consumed += n;
		data += n;
		len -= n;
		if (r->have < LP_AMQP_FRAME_HEADER_LEN)
			return 0;
		total = check_header(r, r->buf);
		if (total < 0)
			return (int)total;
		r->need = (uint32_t)total;
	}
	n = r->need - r->have;
	if (n > len)
		n = len;
	memcpy(r->buf + r->have, data, n);
	r->have += (uint32_t)n;
	*consumed += n;
	if (r->have < r->need)
		return 0;
	total = r->need;
	r->have = 0;
	r->need = 0;
	return finish(r->buf, (uint32_t)total, f);
}

void lp_amqp_outbuf_init(struct lp_amqp_outbuf *o, uint8_t *buf, size_t cap)
{
	o->buf = o->fixed = buf;
	o->cap = o->fixed_cap = cap;
	o->head = 0;
	o->tail = 0;
	o->grow_max = 0;
}

void lp_amqp_outbuf_set_grow(struct lp_amqp_outbuf *o, size_t grow_max)
{
	o->grow_max = grow_max;
}

void lp_amqp_outbuf_fini(struct lp_amqp_outbuf *o)
{
	if (lp_amqp_outbuf_grown(o))
		free(o->buf);
	o->buf = o->fixed;
	o->cap = o->fixed_cap;
	o->head = o->tail = 0;
}

static void compact(struct lp_amqp_outbuf *o)
{
	if (o->head == 0)
		return;
	memmove(o->buf, o->buf + o->head, o->tail - o->head);
	o->tail -= o->head;
	o->head = 0;
}

int lp_amqp_outbuf_ensure(struct lp_amqp_outbuf *o, size_t n)
{
	size_t len = lp_amqp_outbuf_len(o), want;
	uint8_t *nb;

	if (o->cap - o->tail >= n)
		return 0;
	if (o->cap - len >= n) {
		compact(o);
		return 0;
	}
	if (n > o->grow_max || len > o->grow_max - n)
		return -ENOSPC;
	/* Room for the write and then the fixed capacity again, so that what
	 * follows it (methods, small deliveries) needs no second copy. */
	want = len + n;
	want = o->grow_max - want >= o->fixed_cap ? want + o->fixed_cap : o->grow_max;
	nb = malloc(want);
	if (nb == NULL)
		return -ENOMEM;
	memcpy(nb, o->buf + o->head, len);
	if (lp_amqp_outbuf_grown(o))
		free(o->buf);
	o->buf = nb;
	o->cap = want;
	o->head = 0;
	o->tail = len;
	return 0;
}

uint8_t *lp_amqp_outbuf_reserve(struct lp_amqp_outbuf *o, size_t n)
{
	return lp_amqp_outbuf_ensure(o, n) == 0 ? o->buf + o->tail : NULL;
}

void lp_amqp_outbuf_commit(struct lp_amqp_outbuf *o, size_t n)
{
	o->tail += n;
}

size_t lp_amqp_outbuf_peek(const struct lp_amqp_outbuf *o, const uint8_t **p)
{
	*p = o->buf + o->head;
	return o->tail - o->head;
}

void lp_amqp_outbuf_consume(struct lp_amqp_outbuf *o, size_t n)
{
	size_t len;

	if (n > o->tail - o->head)
		n = o->tail - o->head;
	o->head += n;
	if (o->head == o->tail)
		o->head = o->tail = 0;
	len = o->tail - o->head;
	/* Drained to what the fixed array holds: back there, heap freed. */
	if (lp_amqp_outbuf_grown(o) && len <= o->fixed_cap) {
		memcpy(o->fixed, o->buf + o->head, len);
		free(o->buf);
		o->buf = o->fixed;
		o->cap = o->fixed_cap;
		o->head = 0;
		o->tail = len;
	}
}

static void put_header(uint8_t *p, uint8_t type, uint16_t channel, uint32_t size)
{
	p[0] = type;
	p[1] = (uint8_t)(channel >> 8);
	p[2] = (uint8_t)channel;
	p[3] = (uint8_t)(size >> 24);
	p[4] = (uint8_t)(size >> 16);
	p[5] = (uint8_t)(size >> 8);
	p[6] = (uint8_t)size;
}

/* Contiguous space at the tail; compacts first when 'compact_first' is set. */
static uint8_t *tail_space(struct lp_amqp_outbuf *o, size_t *avail, bool compact_first)
{
	if (compact_first)
		compact(o);
	*avail = o->cap - o->tail;
	return o->buf + o->tail;
}

static int write_method(struct lp_amqp_outbuf *o, uint16_t channel, const struct lp_amqp_method *m,
			uint32_t frame_max, bool compact)
{
	size_t room;
	uint8_t *p = tail_space(o, &room, compact);
	int n;

	if (room < LP_AMQP_FRAME_OVERHEAD + 4)
		return -ENOSPC;
	n = lp_amqp_method_encode(m, p + LP_AMQP_FRAME_HEADER_LEN, room - LP_AMQP_FRAME_OVERHEAD);
	if (n < 0)
		return n;
	if ((uint64_t)n + LP_AMQP_FRAME_OVERHEAD > frame_max)
		return -EMSGSIZE;
	put_header(p, LP_AMQP_FRAME_METHOD, channel, (uint32_t)n);
	p[LP_AMQP_FRAME_HEADER_LEN + n] = LP_AMQP_FRAME_END;
	lp_amqp_outbuf_commit(o, (size_t)n + LP_AMQP_FRAME_OVERHEAD);
	return n + LP_AMQP_FRAME_OVERHEAD;
}

int lp_amqp_frame_write_method(struct lp_amqp_outbuf *o, uint16_t channel,
			       const struct lp_amqp_method *m, uint32_t frame_max)
{
	int rc = write_method(o, channel, m, frame_max, false);
	if (rc == -ENOSPC && o->head > 0)
		rc = write_method(o, channel, m, frame_max, true);
	if (rc == -ENOSPC && o->grow_max != 0) {
		/* A method frame is at most frame_max octets, or -EMSGSIZE. */
		int e = lp_amqp_outbuf_ensure(o, frame_max);
		if (e < 0)
			return e;
		rc = write_method(o, channel, m, frame_max, false);
		if (rc == -ENOSPC)
			rc = -EMSGSIZE;
	}
	return rc;
}

int lp_amqp_frame_write_heartbeat(struct lp_amqp_outbuf *o)
{
	/* AMQP 0-9-1 4.2.7: type 8, channel 0, empty payload. */
	uint8_t *p = lp_amqp_outbuf_reserve(o, LP_AMQP_FRAME_OVERHEAD);

	if (p == NULL)
		return -ENOSPC;
	put_header(p, LP_AMQP_FRAME_HEARTBEAT, 0, 0);
	p[LP_AMQP_FRAME_HEADER_LEN] = LP_AMQP_FRAME_END;
	lp_amqp_outbuf_commit(o, LP_AMQP_FRAME_OVERHEAD);
	return LP_AMQP_FRAME_OVERHEAD;
}

/* The content header's property list: encoded from props, or copied from
 * raw (already encoded, e.g. as a publisher sent it) when props is NULL. */
struct props_src {
	const struct lp_amqp_basic_properties *props;
	const uint8_t *raw;
	size_t raw_len;
};

static int write_content(struct lp_amqp_outbuf *o, uint16_t channel, const struct props_src *ps,
			 const uint8_t *body, uint64_t body_len, uint32_t frame_max, bool compact)
{
	size_t room, off, chunk;
	uint64_t nframes, total;
	uint8_t *p = tail_space(o, &room, compact);
	struct lp_amqp_wr w;
	int n;

	if (frame_max <= LP_AMQP_FRAME_OVERHEAD || room < LP_AMQP_FRAME_OVERHEAD + 14)
		return -ENOSPC;
	chunk = frame_max - LP_AMQP_FRAME_OVERHEAD;
	nframes = (body_len + chunk - 1) / chunk;
	if (ps->props != NULL) {
		n = lp_amqp_basic_properties_encode(ps->props, p + LP_AMQP_FRAME_HEADER_LEN + 12,
						    room - LP_AMQP_FRAME_OVERHEAD - 12);
		if (n < 0)
			return n;
	} else {
		if (ps->raw_len > room - LP_AMQP_FRAME_OVERHEAD - 12)
			return ps->raw_len + 12 + LP_AMQP_FRAME_OVERHEAD > frame_max ? -EMSGSIZE : -ENOSPC;
		memcpy(p + LP_AMQP_FRAME_HEADER_LEN + 12, ps->raw, ps->raw_len);
		n = (int)ps->raw_len;
	}
	if ((uint64_t)n + 12 + LP_AMQP_FRAME_OVERHEAD > frame_max)
		return -EMSGSIZE;
	total = (uint64_t)n + 12 + LP_AMQP_FRAME_OVERHEAD + body_len + nframes * LP_AMQP_FRAME_OVERHEAD;
	if (total > room || total > INT32_MAX)
		return -ENOSPC;
	/* AMQP 0-9-1 4.2.6.1: class-id, weight (0), body size, then properties. */
	lp_amqp_wr_init(&w, p + LP_AMQP_FRAME_HEADER_LEN, 12);
	lp_amqp_wr_u16(&w, LP_AMQP_CLASS_BASIC);
	lp_amqp_wr_u16(&w, 0);
	lp_amqp_wr_u64(&w, body_len);
	put_header(p, LP_AMQP_FRAME_HEADER, channel, (uint32_t)n + 12);
	off = LP_AMQP_FRAME_HEADER_LEN + 12 + (size_t)n;
	p[off++] = LP_AMQP_FRAME_END;
	/* AMQP 0-9-1 4.2.6.2: body frames of at most frame_max - 8 octets. */
	for (uint64_t done = 0; done < body_len;) {
		size_t k = body_len - done < chunk ? (size_t)(body_len - done) : chunk;
		put_header(p + off, LP_AMQP_FRAME_BODY, channel, (uint32_t)k);
		memcpy(p + off + LP_AMQP_FRAME_HEADER_LEN, body + done, k);
		off += LP_AMQP_FRAME_HEADER_LEN + k;
		p[off++] = LP_AMQP_FRAME_END;
		done += k;
	}
	lp_amqp_outbuf_commit(o, off);
	return (int)off;
}

static int write_content_any(struct lp_amqp_outbuf *o, uint16_t channel,
			     const struct props_src *props, const uint8_t *body, uint64_t body_len,
			     uint32_t frame_max)
{
	int rc = write_content(o, channel, props, body, body_len, frame_max, false);
	if (rc == -ENOSPC && o->head > 0)
		rc = write_content(o, channel, props, body, body_len, frame_max, true);
	if (rc == -ENOSPC && o->grow_max != 0 && frame_max > LP_AMQP_FRAME_OVERHEAD) {
		/* The header frame is at most frame_max octets, or -EMSGSIZE. */
		uint64_t chunk = frame_max - LP_AMQP_FRAME_OVERHEAD;
		uint64_t need = frame_max + body_len + (body_len + chunk - 1) / chunk * LP_AMQP_FRAME_OVERHEAD;
		int e;

		if (body_len > INT32_MAX || need > SIZE_MAX)
			return -ENOSPC;
		e = lp_amqp_outbuf_ensure(o, (size_t)need);
		if (e < 0)
			return e;
		rc = write_content(o, channel, props, body, body_len, frame_max, false);
	}
	return rc;
}

int lp_amqp_frame_write_content(struct lp_amqp_outbuf *o, uint16_t channel,
				const struct lp_amqp_basic_properties *props, const uint8_t *body,
				uint64_t body_len, uint32_t frame_max)
{
	struct props_src ps = {.props = props};

	return write_content_any(o, channel, &ps, body, body_len, frame_max);
}

int lp_amqp_frame_write_content_raw(struct lp_amqp_outbuf *o, uint16_t channel,
				    const uint8_t *props, size_t props_len, const uint8_t *body,
				    uint64_t body_len, uint32_t frame_max)
{
	/* An empty list still has its 16-bit flags word (spec 4.2.6.1). */
	static const uint8_t no_flags[2];
	struct props_src ps = {.raw = props_len ? props : no_flags, .raw_len = props_len ? props_len : 2};

	return write_content_any(o, channel, &ps, body, body_len, frame_max);
}

uint64_t lp_amqp_content_wire_size(size_t props_len, uint64_t body_len, uint32_t frame_max)
{
	uint64_t chunk = frame_max > LP_AMQP_FRAME_OVERHEAD ? frame_max - LP_AMQP_FRAME_OVERHEAD : 1;

	return LP_AMQP_FRAME_OVERHEAD + 12 + (uint64_t)props_len + body_len +
	       (body_len + chunk - 1) / chunk * LP_AMQP_FRAME_OVERHEAD;
}

int lp_amqp_frame_write_raw(struct lp_amqp_outbuf *o, const void *data, size_t n)
{
	uint8_t *p = lp_amqp_outbuf_reserve(o, n);

	if (p == NULL)
		return -ENOSPC;
	memcpy(p, data, n);
	lp_amqp_outbuf_commit(o, n);
	return (int)n;
}

int lp_amqp_content_header_decode(const uint8_t *p, size_t len, struct lp_amqp_content_header *h)
{
	struct lp_amqp_rd r;

	lp_amqp_rd_init(&r, p, len);
	if (!lp_amqp_rd_u16(&r, &h->class_id) || !lp_amqp_rd_u16(&r, &h->weight) ||
	    !lp_amqp_rd_u64(&r, &h->body_size))
		return -EBADMSG;
	if (h->class_id != LP_AMQP_CLASS_BASIC)
		return -ENOTSUP;
	/* AMQP 0-9-1 4.2.6.1: weight is unused and must be zero. */
	if (h->weight != 0)
		return -EBADMSG;
	h->props_raw = (struct lp_amqp_bytes){p + r.off, (uint32_t)(len - r.off)};
	return lp_amqp_basic_properties_decode(p + r.off, len - r.off, &h->props);
}
