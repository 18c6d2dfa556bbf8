/* SPDX-License-Identifier: MIT */
/*
 * Encoder and decoder of the control protocol messages declared in lp_ctl.h.
 *
 * Both directions go through two small cursors: `wr` appends little-endian
 * fields to a caller's buffer and remembers whether it ran out of room; `rd`
 * reads fields from a received datagram and remembers whether it ran past its
 * end. Every read is bounds-checked in rd_take(), the only place that touches
 * the input bytes, so a handler never does pointer arithmetic on the wire data.
 * Used by lepus-control, lepusctl and the dataplane's control link; fuzzed by
 * tests/fuzz/fuzz_ctl_msg.c.
 */
#include <errno.h>
#include <string.h>

#include "lp_ctl.h"

struct wr {
	uint8_t *p;
	size_t cap;
	size_t off;
	bool overflow;
};

static uint8_t *wr_take(struct wr *w, size_t n)
{
	if (w->overflow || n > w->cap - w->off) {
		w->overflow = true;
		return NULL;
	}
	uint8_t *p = w->p + w->off;
	w->off += n;
	return p;
}

static void wr_u8(struct wr *w, uint8_t v)
{
	uint8_t *p = wr_take(w, 1);
	if (p)
		p[0] = v;
}

static void wr_u16(struct wr *w, uint16_t v)
{
	uint8_t *p = wr_take(w, 2);
	if (p) {
		p[0] = (uint8_t)v;
		p[1] = (uint8_t)(v >> 8);
	}
}

static void wr_u32(struct wr *w, uint32_t v)
{
	uint8_t *p = wr_take(w, 4);
	if (p)
		for (int i = 0; i < 4; i++)
			p[i] = (uint8_t)(v >> (8 * i));
}

static void wr_u64(struct wr *w, uint64_t v)
{
	uint8_t *p = wr_take(w, 8);
	if (p)
		for (int i = 0; i < 8; i++)
			p[i] = (uint8_t)(v >> (8 * i));
}

static void wr_bytes(struct wr *w, const void *src, size_t n)
{
	uint8_t *p = wr_take(w, n);
	if (p && n)
		memcpy(p, src, n);
}

static bool printable(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

/* A string field: false (message invalid) when it breaks the limits. */
static bool wr_str(struct wr *w, const char *s, size_t max, size_t min)
{
	size_t n = strnlen(s, max + 1);
	if (n > max || n < min || !printable(s, n))
		return false;
	wr_u8(w, (uint8_t)n);
	wr_bytes(w, s, n);
	return true;
}

struct rd {
	const uint8_t *p;
	size_t len;
	size_t off;
	bool bad;
};

static const uint8_t *rd_take(struct rd *r, size_t n)
{
	if (r->bad || n > r->len - r->off) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *p = r->p + r->off;
	r->off += n;
	return p;
}

static uint8_t rd_u8(struct rd *r)
{
	const uint8_t *p = rd_take(r, 1);
	return p ? p[0] : 0;
}

static uint16_t rd_u16(struct rd *r)
{
	const uint8_t *p = rd_take(r, 2);
	return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}

static uint32_t rd_u32(struct rd *r)
{
	const uint8_t *p = rd_take(r, 4);
	uint32_t v = 0;
	if (p)
		for (int i = 3; i >= 0; i--)
			v = v << 8 | p[i];
	return v;
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t rd_u64(struct rd *r)
{
	const uint8_t *p = rd_take(r, 8);
	return p ? get_le64(p) : 0;
}

static void rd_bytes(struct rd *r, void *dst, size_t n)
{
	const uint8_t *p = rd_take(r, n);
	if (p)
		memcpy(dst, p, n);
	else
		memset(dst, 0, n);
}

/* A string field into dst (max + 1 bytes, NUL-terminated). */
static void rd_str(struct rd *r, char *dst, size_t max, size_t min)
{
	dst[0] = '\0';
	size_t n = rd_u8(r);
	if (r->bad)
		return;
	if (n > max || n < min) {
		r->bad = true;
		return;
	}
	const uint8_t *p = rd_take(r, n);
	if (!p)
		return;
	if (!printable((const char *)p, n)) {
		r->bad = true;
		return;
	}
	memcpy(dst, p, n);
	dst[n] = '\0';
}

static size_t stats_record_len(unsigned n_reasons)
{
	return (LP_CTL_STAT_DROP0 + (size_t)n_reasons) * 8;
}

#define STATS_FIXED_LEN (8 + 2 * 4)

unsigned lp_ctl_stats_workers_per_msg(unsigned n_reasons)
{
	size_t room = LP_CTL_MSG_MAX - LP_CTL_HDR_LEN - STATS_FIXED_LEN;
	size_t n = room / stats_record_len(n_reasons);
	return n > LP_CTL_MAX_WORKERS ? LP_CTL_MAX_WORKERS : (unsigned)n;
}

static bool stats_valid(const struct lp_ctl_stats *s)
{
	return s->n_workers_total >= 1 && s->n_workers_total <= LP_CTL_MAX_WORKERS &&
	       s->n_workers >= 1 &&
	       (unsigned)s->first_worker + s->n_workers <= s->n_workers_total &&
	       s->n_reasons <= LP_CTL_MAX_DROP_REASONS;
}

static bool wr_hello_body(struct wr *w, const struct lp_ctl_hello *h)
{
	if (h->n_workers > LP_CTL_MAX_WORKERS)
		return false;
	wr_u16(w, h->role);
	wr_u16(w, h->proto_version);
	wr_u32(w, h->pid);
	wr_u32(w, h->features);
	wr_u16(w, h->n_workers);
	wr_bytes(w, h->ip, 4);
	wr_bytes(w, h->mac, 6);
	return wr_str(w, h->version, LP_CTL_VERSION_STR_MAX, 0) &&
	       wr_str(w, h->driver, LP_CTL_DRIVER_MAX, 0);
}

static void rd_hello_body(struct rd *r, struct lp_ctl_hello *h)
{
	h->role = rd_u16(r);
	h->proto_version = rd_u16(r);
	h->pid = rd_u32(r);
	h->features = rd_u32(r);
	h->n_workers = rd_u16(r);
	if (h->n_workers > LP_CTL_MAX_WORKERS)
		r->bad = true;
	rd_bytes(r, h->ip, 4);
	rd_bytes(r, h->mac, 6);
	rd_str(r, h->version, LP_CTL_VERSION_STR_MAX, 0);
	rd_str(r, h->driver, LP_CTL_DRIVER_MAX, 0);
}

/* Payload of m; false when m breaks a limit. */
static bool wr_payload(struct wr *w, const struct lp_ctl_msg *m)
{
	switch (m->type) {
	case LP_CTL_HELLO:
		return wr_hello_body(w, &m->hello);
	case LP_CTL_HELLO_ACK:
		wr_u16(w, m->hello_ack.proto_version);
		wr_u32(w, m->hello_ack.pid);
		wr_u32(w, m->hello_ack.features);
		return wr_str(w, m->hello_ack.version, LP_CTL_VERSION_STR_MAX, 0);
	case LP_CTL_HELLO_NAK:
		wr_u16(w, m->hello_nak.reason);
		wr_u16(w, m->hello_nak.proto_version);
		return wr_str(w, m->hello_nak.text, LP_CTL_TEXT_MAX, 0);
	case LP_CTL_HEARTBEAT:
		wr_u64(w, m->heartbeat.time_ns);
		wr_u64(w, m->heartbeat.echo_ns);
		return true;
	case LP_CTL_DROP_NAMES:
		if (m->drop_names.n > LP_CTL_MAX_DROP_REASONS)
			return false;
		wr_u16(w, m->drop_names.n);
		for (unsigned i = 0; i < m->drop_names.n; i++)
			if (!wr_str(w, m->drop_names.name[i], LP_CTL_DROP_NAME_MAX, 1))
				return false;
		return true;
	case LP_CTL_STATS: {
		const struct lp_ctl_stats *s = &m->stats;
		if (!stats_valid(s) || !s->rows)
			return false;
		wr_u64(w, s->time_ns);
		wr_u16(w, s->n_workers_total);
		wr_u16(w, s->first_worker);
		wr_u16(w, s->n_workers);
		wr_u16(w, s->n_reasons);
		size_t n = (size_t)s->n_workers * (LP_CTL_STAT_DROP0 + s->n_reasons);
		for (size_t i = 0; i < n && !w->overflow; i++)
			wr_u64(w, s->rows[i]);
		return true;
	}
	case LP_CTL_STATUS_REQ:
		wr_u32(w, m->status_req.flags);
		return true;
	case LP_CTL_STATUS_RESP: {
		const struct lp_ctl_status_resp *s = &m->status_resp;
		if (s->dp_connected > 1 || s->n_workers > LP_CTL_MAX_WORKERS ||
		    s->n_reasons > LP_CTL_MAX_DROP_REASONS)
			return false;
		wr_u64(w, s->uptime_ns);
		wr_u32(w, s->pid);
		if (!wr_str(w, s->version, LP_CTL_VERSION_STR_MAX, 0))
			return false;
		wr_u8(w, s->dp_connected);
		if (!wr_hello_body(w, &s->dp))
			return false;
		wr_u64(w, s->dp_connected_ns);
		wr_u64(w, s->stats_age_ns);
		wr_u16(w, s->n_workers);
		wr_u16(w, s->n_reasons);
		return true;
	}
	default:
		return false;
	}
}

ssize_t lp_ctl_encode(void *buf, size_t cap, const struct lp_ctl_msg *m)
{
	if (cap > LP_CTL_MSG_MAX)
		cap = LP_CTL_MSG_MAX;
	struct wr w = { .p = buf, .cap = cap };
	wr_u32(&w, LP_CTL_MAGIC);
	wr_u16(&w, LP_CTL_VERSION);
	wr_u16(&w, m->type);
	wr_u32(&w, 0); /* length, patched below */
	wr_u32(&w, m->seq);
	if (w.overflow)
		return -EMSGSIZE;
	if (!wr_payload(&w, m))
		return -EINVAL;
	if (w.overflow)
		return -EMSGSIZE;
	uint32_t len = (uint32_t)(w.off - LP_CTL_HDR_LEN);
	for (int i = 0; i < 4; i++)
		w.p[8 + i] = (uint8_t)(len >> (8 * i));
	return (ssize_t)w.off;
}

static bool known_type(uint16_t type)
{
	switch (type) {
	case LP_CTL_HELLO:
	case LP_CTL_HELLO_ACK:
	case LP_CTL_HELLO_NAK:
	case LP_CTL_HEARTBEAT:
	case LP_CTL_DROP_NAMES:
	case LP_CTL_STATS:
	case LP_CTL_STATUS_REQ:
	case LP_CTL_STATUS_RESP:
		return true;
	default:
		return false;
	}
}

static void rd_payload(struct rd *r, struct lp_ctl_msg *m)
{
	switch (m->type) {
	case LP_CTL_HELLO:
		rd_hello_body(r, &m->hello);
		break;
	case LP_CTL_HELLO_ACK:
		m->hello_ack.proto_version = rd_u16(r);
		m->hello_ack.pid = rd_u32(r);
		m->hello_ack.features = rd_u32(r);
		rd_str(r, m->hello_ack.version, LP_CTL_VERSION_STR_MAX, 0);
		break;
	case LP_CTL_HELLO_NAK:
		m->hello_nak.reason = rd_u16(r);
		m->hello_nak.proto_version = rd_u16(r);
		rd_str(r, m->hello_nak.text, LP_CTL_TEXT_MAX, 0);
		break;
	case LP_CTL_HEARTBEAT:
		m->heartbeat.time_ns = rd_u64(r);
		m->heartbeat.echo_ns = rd_u64(r);
		break;
	case LP_CTL_DROP_NAMES:
		m->drop_names.n = rd_u16(r);
		if (m->drop_names.n > LP_CTL_MAX_DROP_REASONS) {
			r->bad = true;
			break;
		}
		for (unsigned i = 0; i < m->drop_names.n && !r->bad; i++)
			rd_str(r, m->drop_names.name[i], LP_CTL_DROP_NAME_MAX, 1);
		break;
	case LP_CTL_STATS: {
		struct lp_ctl_stats *s = &m->stats;
		s->time_ns = rd_u64(r);
		s->n_workers_total = rd_u16(r);
		s->first_worker = rd_u16(r);
		s->n_workers = rd_u16(r);
		s->n_reasons = rd_u16(r);
		s->rows = NULL;
		s->records = NULL;
		if (r->bad || !stats_valid(s)) {
			r->bad = true;
			break;
		}
		/* n_workers <= 256 and record <= 132 * 8: no overflow in size_t */
		s->records = rd_take(r, (size_t)s->n_workers * stats_record_len(s->n_reasons));
		break;
	}
	case LP_CTL_STATUS_REQ:
		m->status_req.flags = rd_u32(r);
		break;
	case LP_CTL_STATUS_RESP: {
		struct lp_ctl_status_resp *s = &m->status_resp;
		s->uptime_ns = rd_u64(r);
		s->pid = rd_u32(r);
		rd_str(r, s->version, LP_CTL_VERSION_STR_MAX, 0);
		s->dp_connected = rd_u8(r);
		if (s->dp_connected > 1)
			r->bad = true;
		rd_hello_body(r, &s->dp);
		s->dp_connected_ns = rd_u64(r);
		s->stats_age_ns = rd_u64(r);
		s->n_workers = rd_u16(r);
		s->n_reasons = rd_u16(r);
		if (s->n_workers > LP_CTL_MAX_WORKERS || s->n_reasons > LP_CTL_MAX_DROP_REASONS)
			r->bad = true;
		break;
	}
	default:
		r->bad = true;
		break;
	}
}

int lp_ctl_decode(const void *buf, size_t len, struct lp_ctl_msg *m)
{
	memset(m, 0, offsetof(struct lp_ctl_msg, hello));
	if (len < LP_CTL_HDR_LEN || len > LP_CTL_MSG_MAX)
		return -EBADMSG;
	struct rd r = { .p = buf, .len = len };
	uint32_t magic = rd_u32(&r);
	m->version = rd_u16(&r);
	m->type = rd_u16(&r);
	uint32_t plen = rd_u32(&r);
	m->seq = rd_u32(&r);
	if (magic != LP_CTL_MAGIC || plen != len - LP_CTL_HDR_LEN)
		return -EBADMSG;
	if (m->version != LP_CTL_VERSION)
		return -EPROTONOSUPPORT;
	if (!known_type(m->type))
		return -ENOTSUP;
	rd_payload(&r, m);
	if (r.bad || r.off != r.len)
		return -EBADMSG;
	if (m->type == LP_CTL_HELLO && m->hello.proto_version != m->version)
		return -EBADMSG;
	return 0;
}

uint64_t lp_ctl_stats_get(const struct lp_ctl_stats *s, unsigned row, unsigned idx)
{
	if (!s->records || row >= s->n_workers || idx >= LP_CTL_STAT_DROP0 + (unsigned)s->n_reasons)
		return 0;
	return get_le64(s->records + ((size_t)row * (LP_CTL_STAT_DROP0 + s->n_reasons) + idx) * 8);
}

const char *lp_ctl_type_name(uint16_t type)
{
	switch (type) {
	case LP_CTL_HELLO: return "HELLO";
	case LP_CTL_HELLO_ACK: return "HELLO_ACK";
	case LP_CTL_HELLO_NAK: return "HELLO_NAK";
	case LP_CTL_HEARTBEAT: return "HEARTBEAT";
	case LP_CTL_DROP_NAMES: return "DROP_NAMES";
	case LP_CTL_STATS: return "STATS";
	case LP_CTL_STATUS_REQ: return "STATUS_REQ";
	case LP_CTL_STATUS_RESP: return "STATUS_RESP";
	default: return "UNKNOWN";
	}
}

void lp_ctl_strlcpy_printable(char *dst, size_t cap, const char *src)
{
	if (cap == 0)
		return;
	size_t i = 0;
	for (; src && src[i] && i + 1 < cap; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[i] = (c < 0x20 || c > 0x7e) ? '?' : (char)c;
	}
	dst[i] = '\0';
}
