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

/* A name field (lp_ctl.h: u8 length, bytes 0x01..0xff): false when longer
 * than LP_CTL_NAME_MAX or shorter than min. */
static bool wr_name(struct wr *w, const char *s, size_t min)
{
	size_t n = strnlen(s, LP_CTL_NAME_MAX + 1);
	if (n > LP_CTL_NAME_MAX || n < min)
		return false;
	wr_u8(w, (uint8_t)n);
	wr_bytes(w, s, n);
	return true;
}

static void rd_name(struct rd *r, char *dst, size_t min)
{
	dst[0] = '\0';
	size_t n = rd_u8(r);
	if (r->bad)
		return;
	if (n < min) {
		r->bad = true;
		return;
	}
	const uint8_t *p = rd_take(r, n);
	if (!p)
		return;
	if (memchr(p, 0, n)) {
		r->bad = true;
		return;
	}
	memcpy(dst, p, n);
	dst[n] = '\0';
}

/* An arguments table body: u16 length (<= LP_CTL_ARGS_MAX) and the bytes. */
static bool wr_args(struct wr *w, const uint8_t *args, uint16_t len)
{
	if (len > LP_CTL_ARGS_MAX || (len && !args))
		return false;
	wr_u16(w, len);
	wr_bytes(w, args, len);
	return true;
}

static void rd_args(struct rd *r, const uint8_t **args, uint16_t *len)
{
	*len = rd_u16(r);
	*args = NULL;
	if (r->bad)
		return;
	if (*len > LP_CTL_ARGS_MAX) {
		r->bad = true;
		return;
	}
	*args = *len ? rd_take(r, *len) : NULL;
}

static bool op_valid(uint8_t op)
{
	return op == LP_CTL_OP_ADD || op == LP_CTL_OP_DEL;
}

/* TOPO_EXCHANGE and TOPO_QUEUE may also be updates. */
static bool object_op_valid(uint8_t op)
{
	return op_valid(op) || op == LP_CTL_OP_UPDATE;
}

static bool object_valid(uint8_t o)
{
	return o == LP_CTL_OBJ_EXCHANGE || o == LP_CTL_OBJ_QUEUE;
}

static bool is_def_req(uint16_t type)
{
	return type >= LP_CTL_DECLARE && type <= LP_CTL_PURGE;
}

static bool user_hash_valid(const struct lp_ctl_user *u)
{
	return (u->hash_alg == LP_CTL_HASH_NONE && u->hash_len == 0) ||
	       (u->hash_alg == LP_CTL_HASH_SHA256 && u->hash_len == LP_CTL_PASSWORD_HASH_LEN);
}

/* Payload of a definitions, topology or user message; false when m breaks
 * a limit. */
static bool wr_def_payload(struct wr *w, const struct lp_ctl_msg *m)
{
	if (is_def_req(m->type)) {
		const struct lp_ctl_def_req *q = &m->def_req;
		if (!object_valid(q->object) || (q->flags & ~LP_CTL_F_ALL))
			return false;
		wr_u64(w, q->req_id);
		wr_u64(w, q->conn_id);
		wr_u16(w, q->worker);
		wr_u8(w, q->object);
		wr_u16(w, q->flags);
		wr_u32(w, q->message_count);
		wr_u32(w, q->consumer_count);
		return wr_name(w, q->vhost, 0) && wr_name(w, q->user, 0) &&
		       wr_name(w, q->name, 0) && wr_name(w, q->source, 0) &&
		       wr_name(w, q->type, 0) && wr_name(w, q->routing_key, 0) &&
		       wr_args(w, q->args, q->args_len);
	}
	switch (m->type) {
	case LP_CTL_RESULT: {
		const struct lp_ctl_result *r = &m->result;
		if (r->status > LP_CTL_RES_NEED_COUNTS)
			return false;
		wr_u64(w, r->req_id);
		wr_u16(w, r->reply_code);
		wr_u8(w, r->status);
		wr_u16(w, r->owner_shard);
		wr_u64(w, r->version);
		return wr_name(w, r->queue, 0) && wr_name(w, r->text, 0);
	}
	case LP_CTL_CONNECTION_CLOSED:
		wr_u64(w, m->conn_closed.conn_id);
		return true;
	case LP_CTL_QUEUE_UNUSED:
		return wr_name(w, m->queue_unused.vhost, 0) && wr_name(w, m->queue_unused.queue, 0);
	case LP_CTL_LIST_REQ:
		if (!m->list_req.what || (m->list_req.what & ~LP_CTL_LIST_ALL))
			return false;
		wr_u64(w, m->list_req.req_id);
		wr_u16(w, m->list_req.what);
		return wr_name(w, m->list_req.vhost, 0);
	case LP_CTL_TOPO_BEGIN:
		if (m->topo_begin.full > 1)
			return false;
		wr_u64(w, m->topo_begin.version);
		wr_u8(w, m->topo_begin.full);
		return true;
	case LP_CTL_TOPO_END:
		wr_u64(w, m->topo_end.version);
		wr_u32(w, m->topo_end.n_objects);
		return true;
	case LP_CTL_TOPO_VHOST:
		if (!op_valid(m->topo_vhost.op))
			return false;
		wr_u8(w, m->topo_vhost.op);
		return wr_name(w, m->topo_vhost.name, 1);
	case LP_CTL_TOPO_EXCHANGE: {
		const struct lp_ctl_topo_exchange *x = &m->topo_exchange;
		if (!object_op_valid(x->op) || x->type < LP_CTL_XT_DIRECT || x->type > LP_CTL_XT_HEADERS ||
		    (x->flags & ~LP_CTL_X_ALL))
			return false;
		wr_u8(w, x->op);
		wr_u8(w, x->type);
		wr_u8(w, x->flags);
		return wr_name(w, x->vhost, 1) && wr_name(w, x->name, 0) &&
		       wr_name(w, x->alternate, 0) && wr_args(w, x->args, x->args_len);
	}
	case LP_CTL_TOPO_QUEUE: {
		const struct lp_ctl_topo_queue *q = &m->topo_queue;
		if (!object_op_valid(q->op) || (q->flags & ~LP_CTL_Q_ALL))
			return false;
		wr_u8(w, q->op);
		wr_u8(w, q->flags);
		wr_u16(w, q->owner_shard);
		wr_u64(w, q->owner_conn);
		wr_u32(w, q->store_id);
		return wr_name(w, q->vhost, 1) && wr_name(w, q->name, 1) &&
		       wr_args(w, q->args, q->args_len);
	}
	case LP_CTL_TOPO_BINDING: {
		const struct lp_ctl_topo_binding *b = &m->topo_binding;
		if (!op_valid(b->op) || !object_valid(b->dest_kind))
			return false;
		wr_u8(w, b->op);
		wr_u8(w, b->dest_kind);
		return wr_name(w, b->vhost, 1) && wr_name(w, b->source, 1) &&
		       wr_name(w, b->destination, 1) && wr_name(w, b->routing_key, 0) &&
		       wr_args(w, b->args, b->args_len);
	}
	case LP_CTL_USER: {
		const struct lp_ctl_user *u = &m->user;
		if (!op_valid(u->op) || !user_hash_valid(u))
			return false;
		wr_u8(w, u->op);
		wr_u8(w, u->hash_alg);
		wr_u8(w, u->hash_len);
		wr_bytes(w, u->hash, u->hash_len);
		return wr_name(w, u->name, 1) && wr_name(w, u->tags, 0);
	}
	case LP_CTL_PERMISSION: {
		const struct lp_ctl_permission *p = &m->permission;
		if (!op_valid(p->op))
			return false;
		wr_u8(w, p->op);
		return wr_name(w, p->user, 1) && wr_name(w, p->vhost, 1) &&
		       wr_name(w, p->configure, 0) && wr_name(w, p->write, 0) &&
		       wr_name(w, p->read, 0);
	}
	case LP_CTL_ADMIN_REQ: {
		const struct lp_ctl_admin_req *a = &m->admin_req;
		if (a->op < 1 || a->op > LP_CTL_ADMIN_MAX)
			return false;
		wr_u64(w, a->req_id);
		wr_u8(w, a->op);
		return wr_name(w, a->name, 0) && wr_name(w, a->vhost, 0) &&
		       wr_name(w, a->password, 0) && wr_name(w, a->tags, 0) &&
		       wr_name(w, a->configure, 0) && wr_name(w, a->write, 0) &&
		       wr_name(w, a->read, 0);
	}
	default:
		return false;
	}
}

static void rd_def_payload(struct rd *r, struct lp_ctl_msg *m)
{
	if (is_def_req(m->type)) {
		struct lp_ctl_def_req *q = &m->def_req;
		q->req_id = rd_u64(r);
		q->conn_id = rd_u64(r);
		q->worker = rd_u16(r);
		q->object = rd_u8(r);
		q->flags = rd_u16(r);
		q->message_count = rd_u32(r);
		q->consumer_count = rd_u32(r);
		if (!object_valid(q->object) || (q->flags & ~LP_CTL_F_ALL))
			r->bad = true;
		rd_name(r, q->vhost, 0);
		rd_name(r, q->user, 0);
		rd_name(r, q->name, 0);
		rd_name(r, q->source, 0);
		rd_name(r, q->type, 0);
		rd_name(r, q->routing_key, 0);
		rd_args(r, &q->args, &q->args_len);
		return;
	}
	switch (m->type) {
	case LP_CTL_RESULT: {
		struct lp_ctl_result *s = &m->result;
		s->req_id = rd_u64(r);
		s->reply_code = rd_u16(r);
		s->status = rd_u8(r);
		s->owner_shard = rd_u16(r);
		s->version = rd_u64(r);
		if (s->status > LP_CTL_RES_NEED_COUNTS)
			r->bad = true;
		rd_name(r, s->queue, 0);
		rd_name(r, s->text, 0);
		break;
	}
	case LP_CTL_CONNECTION_CLOSED:
		m->conn_closed.conn_id = rd_u64(r);
		break;
	case LP_CTL_QUEUE_UNUSED:
		rd_name(r, m->queue_unused.vhost, 0);
		rd_name(r, m->queue_unused.queue, 0);
		break;
	case LP_CTL_LIST_REQ:
		m->list_req.req_id = rd_u64(r);
		m->list_req.what = rd_u16(r);
		if (!m->list_req.what || (m->list_req.what & ~LP_CTL_LIST_ALL))
			r->bad = true;
		rd_name(r, m->list_req.vhost, 0);
		break;
	case LP_CTL_TOPO_BEGIN:
		m->topo_begin.version = rd_u64(r);
		m->topo_begin.full = rd_u8(r);
		if (m->topo_begin.full > 1)
			r->bad = true;
		break;
	case LP_CTL_TOPO_END:
		m->topo_end.version = rd_u64(r);
		m->topo_end.n_objects = rd_u32(r);
		break;
	case LP_CTL_TOPO_VHOST:
		m->topo_vhost.op = rd_u8(r);
		if (!op_valid(m->topo_vhost.op))
			r->bad = true;
		rd_name(r, m->topo_vhost.name, 1);
		break;
	case LP_CTL_TOPO_EXCHANGE: {
		struct lp_ctl_topo_exchange *x = &m->topo_exchange;
		x->op = rd_u8(r);
		x->type = rd_u8(r);
		x->flags = rd_u8(r);
		if (!object_op_valid(x->op) || x->type < LP_CTL_XT_DIRECT || x->type > LP_CTL_XT_HEADERS ||
		    (x->flags & ~LP_CTL_X_ALL))
			r->bad = true;
		rd_name(r, x->vhost, 1);
		rd_name(r, x->name, 0);
		rd_name(r, x->alternate, 0);
		rd_args(r, &x->args, &x->args_len);
		break;
	}
	case LP_CTL_TOPO_QUEUE: {
		struct lp_ctl_topo_queue *q = &m->topo_queue;
		q->op = rd_u8(r);
		q->flags = rd_u8(r);
		q->owner_shard = rd_u16(r);
		q->owner_conn = rd_u64(r);
		q->store_id = rd_u32(r);
		if (!object_op_valid(q->op) || (q->flags & ~LP_CTL_Q_ALL))
			r->bad = true;
		rd_name(r, q->vhost, 1);
		rd_name(r, q->name, 1);
		rd_args(r, &q->args, &q->args_len);
		break;
	}
	case LP_CTL_TOPO_BINDING: {
		struct lp_ctl_topo_binding *b = &m->topo_binding;
		b->op = rd_u8(r);
		b->dest_kind = rd_u8(r);
		if (!op_valid(b->op) || !object_valid(b->dest_kind))
			r->bad = true;
		rd_name(r, b->vhost, 1);
		rd_name(r, b->source, 1);
		rd_name(r, b->destination, 1);
		rd_name(r, b->routing_key, 0);
		rd_args(r, &b->args, &b->args_len);
		break;
	}
	case LP_CTL_USER: {
		struct lp_ctl_user *u = &m->user;
		u->op = rd_u8(r);
		u->hash_alg = rd_u8(r);
		u->hash_len = rd_u8(r);
		if (!op_valid(u->op) || !user_hash_valid(u)) {
			r->bad = true;
			break;
		}
		rd_bytes(r, u->hash, u->hash_len);
		rd_name(r, u->name, 1);
		rd_name(r, u->tags, 0);
		break;
	}
	case LP_CTL_PERMISSION: {
		struct lp_ctl_permission *p = &m->permission;
		p->op = rd_u8(r);
		if (!op_valid(p->op))
			r->bad = true;
		rd_name(r, p->user, 1);
		rd_name(r, p->vhost, 1);
		rd_name(r, p->configure, 0);
		rd_name(r, p->write, 0);
		rd_name(r, p->read, 0);
		break;
	}
	case LP_CTL_ADMIN_REQ: {
		struct lp_ctl_admin_req *a = &m->admin_req;
		a->req_id = rd_u64(r);
		a->op = rd_u8(r);
		if (a->op < 1 || a->op > LP_CTL_ADMIN_MAX)
			r->bad = true;
		rd_name(r, a->name, 0);
		rd_name(r, a->vhost, 0);
		rd_name(r, a->password, 0);
		rd_name(r, a->tags, 0);
		rd_name(r, a->configure, 0);
		rd_name(r, a->write, 0);
		rd_name(r, a->read, 0);
		break;
	}
	default:
		r->bad = true;
		break;
	}
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

size_t lp_ctl_queue_stat_len(const struct lp_ctl_queue_stat *r)
{
	return 2 + strnlen(r->vhost, LP_CTL_NAME_MAX + 1) + strnlen(r->queue, LP_CTL_NAME_MAX + 1) +
	       3 * 4 + 6 * 8;
}

static bool wr_queue_stat(struct wr *w, const struct lp_ctl_queue_stat *r)
{
	if (!wr_name(w, r->vhost, 1) || !wr_name(w, r->queue, 0))
		return false;
	wr_u32(w, r->ready);
	wr_u32(w, r->unacked);
	wr_u32(w, r->consumers);
	wr_u64(w, r->ready_bytes);
	wr_u64(w, r->published);
	wr_u64(w, r->delivered);
	wr_u64(w, r->got);
	wr_u64(w, r->redelivered);
	wr_u64(w, r->acked);
	return true;
}

static void rd_queue_stat(struct rd *r, struct lp_ctl_queue_stat *q)
{
	rd_name(r, q->vhost, 1);
	rd_name(r, q->queue, 0);
	q->ready = rd_u32(r);
	q->unacked = rd_u32(r);
	q->consumers = rd_u32(r);
	q->ready_bytes = rd_u64(r);
	q->published = rd_u64(r);
	q->delivered = rd_u64(r);
	q->got = rd_u64(r);
	q->redelivered = rd_u64(r);
	q->acked = rd_u64(r);
}

bool lp_ctl_queue_stats_next(const struct lp_ctl_queue_stats *s, size_t *off,
			     struct lp_ctl_queue_stat *out)
{
	struct rd r = {.p = s->records, .len = s->records_len, .off = *off};

	if (s->records == NULL || *off >= s->records_len)
		return false;
	rd_queue_stat(&r, out);
	if (r.bad)
		return false; /* cannot happen: checked by lp_ctl_decode */
	*off = r.off;
	return true;
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
	case LP_CTL_QUEUE_STATS: {
		const struct lp_ctl_queue_stats *q = &m->queue_stats;
		if (q->n > 0 && q->rows == NULL)
			return false;
		wr_u64(w, q->time_ns);
		wr_u16(w, q->worker);
		wr_u16(w, q->n);
		for (unsigned i = 0; i < q->n && !w->overflow; i++)
			if (!wr_queue_stat(w, &q->rows[i]))
				return false;
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
		return wr_def_payload(w, m);
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
	case LP_CTL_DECLARE:
	case LP_CTL_DELETE:
	case LP_CTL_BIND:
	case LP_CTL_UNBIND:
	case LP_CTL_PURGE:
	case LP_CTL_RESULT:
	case LP_CTL_CONNECTION_CLOSED:
	case LP_CTL_QUEUE_UNUSED:
	case LP_CTL_QUEUE_STATS:
	case LP_CTL_LIST_REQ:
	case LP_CTL_TOPO_BEGIN:
	case LP_CTL_TOPO_END:
	case LP_CTL_TOPO_VHOST:
	case LP_CTL_TOPO_EXCHANGE:
	case LP_CTL_TOPO_QUEUE:
	case LP_CTL_TOPO_BINDING:
	case LP_CTL_USER:
	case LP_CTL_PERMISSION:
	case LP_CTL_ADMIN_REQ:
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
	case LP_CTL_QUEUE_STATS: {
		struct lp_ctl_queue_stats *q = &m->queue_stats;
		struct lp_ctl_queue_stat one;
		q->time_ns = rd_u64(r);
		q->worker = rd_u16(r);
		q->n = rd_u16(r);
		q->rows = NULL;
		q->records = r->bad ? NULL : r->p + r->off;
		size_t start = r->off;
		for (unsigned i = 0; i < q->n && !r->bad; i++)
			rd_queue_stat(r, &one);
		q->records_len = r->bad ? 0 : r->off - start;
		if (r->bad || q->worker >= LP_CTL_MAX_WORKERS)
			r->bad = true;
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
		rd_def_payload(r, m);
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
	case LP_CTL_QUEUE_STATS: return "QUEUE_STATS";
	case LP_CTL_STATUS_REQ: return "STATUS_REQ";
	case LP_CTL_STATUS_RESP: return "STATUS_RESP";
	case LP_CTL_DECLARE: return "DECLARE";
	case LP_CTL_DELETE: return "DELETE";
	case LP_CTL_BIND: return "BIND";
	case LP_CTL_UNBIND: return "UNBIND";
	case LP_CTL_PURGE: return "PURGE";
	case LP_CTL_RESULT: return "RESULT";
	case LP_CTL_CONNECTION_CLOSED: return "CONNECTION_CLOSED";
	case LP_CTL_QUEUE_UNUSED: return "QUEUE_UNUSED";
	case LP_CTL_LIST_REQ: return "LIST_REQ";
	case LP_CTL_TOPO_BEGIN: return "TOPO_BEGIN";
	case LP_CTL_TOPO_END: return "TOPO_END";
	case LP_CTL_TOPO_VHOST: return "TOPO_VHOST";
	case LP_CTL_TOPO_EXCHANGE: return "TOPO_EXCHANGE";
	case LP_CTL_TOPO_QUEUE: return "TOPO_QUEUE";
	case LP_CTL_TOPO_BINDING: return "TOPO_BINDING";
	case LP_CTL_USER: return "USER";
	case LP_CTL_PERMISSION: return "PERMISSION";
	case LP_CTL_ADMIN_REQ: return "ADMIN_REQ";
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
