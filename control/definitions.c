/* SPDX-License-Identifier: MIT */
/*
 * The definitions model and RabbitMQ's declaration rules (see definitions.h).
 *
 * lp_defs_request() -> exchange_declare / queue_declare / ..._delete /
 * binding_change / queue_purge: each first runs RabbitMQ's checks in
 * RabbitMQ's order (rabbit_channel:handle_method/3 for the method), failing
 * with reply() which formats "<CODE_NAME> - <text>" like
 * rabbit_binary_generator does, then mutates the lists through add_*() and
 * del_*(), which tell the sink about every object added or removed, cascades
 * included (remove_bindings_of() -> maybe_auto_delete()).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "amqp_reply.h"
#include "amqp_table.h"
#include "definitions.h"

#define N_KINDS 6

/* Every lp_def_* struct starts with its `next` pointer. */
struct node {
	struct node *next;
};

struct lp_defs {
	struct node *head[N_KINDS];
	struct node **tail[N_KINDS];
	unsigned count[N_KINDS];
	struct lp_def_sink sink;
	uint32_t last_store_id;  /* the highest durable queue store id given out */
};

enum perm_kind { PERM_CONFIGURE, PERM_WRITE, PERM_READ };

/* ---- lists ------------------------------------------------------------- */

static void emit(struct lp_defs *d, uint8_t op, enum lp_def_kind kind, const void *obj)
{
	if (d->sink.change)
		d->sink.change(d->sink.arg, op, kind, obj);
}

static void list_append(struct lp_defs *d, enum lp_def_kind kind, void *obj)
{
	struct node *n = obj;
	n->next = NULL;
	*d->tail[kind] = n;
	d->tail[kind] = &n->next;
	d->count[kind]++;
	emit(d, LP_CTL_OP_ADD, kind, obj);
}

static void obj_free(enum lp_def_kind kind, void *obj)
{
	switch (kind) {
	case LP_DEF_PERMISSION: {
		struct lp_def_permission *p = obj;
		for (int i = 0; i < 3; i++)
			regfree(&p->re[i]);
		break;
	}
	case LP_DEF_EXCHANGE:
		free(((struct lp_def_exchange *)obj)->args);
		break;
	case LP_DEF_QUEUE:
		free(((struct lp_def_queue *)obj)->args);
		break;
	case LP_DEF_BINDING:
		free(((struct lp_def_binding *)obj)->args);
		break;
	default:
		break;
	}
	free(obj);
}

/* Unlink obj, tell the sink, free it. */
static void list_remove(struct lp_defs *d, enum lp_def_kind kind, void *obj)
{
	struct node **pp = &d->head[kind];
	while (*pp && *pp != obj)
		pp = &(*pp)->next;
	if (!*pp)
		return;
	*pp = (*pp)->next;
	if (d->tail[kind] == &((struct node *)obj)->next)
		d->tail[kind] = pp;
	d->count[kind]--;
	emit(d, LP_CTL_OP_DEL, kind, obj);
	obj_free(kind, obj);
}

struct lp_defs *lp_defs_create(void)
{
	struct lp_defs *d = calloc(1, sizeof(*d));
	if (!d) {
		errno = ENOMEM;
		return NULL;
	}
	for (int k = 0; k < N_KINDS; k++)
		d->tail[k] = &d->head[k];
	return d;
}

void lp_defs_destroy(struct lp_defs *d)
{
	if (!d)
		return;
	for (int k = 0; k < N_KINDS; k++) {
		struct node *n = d->head[k];
		while (n) {
			struct node *next = n->next;
			obj_free((enum lp_def_kind)k, n);
			n = next;
		}
	}
	free(d);
}

void lp_defs_set_sink(struct lp_defs *d, const struct lp_def_sink *sink)
{
	if (sink)
		d->sink = *sink;
	else
		memset(&d->sink, 0, sizeof(d->sink));
}

const struct lp_def_vhost *lp_defs_vhosts(const struct lp_defs *d)
{
	return (const void *)d->head[LP_DEF_VHOST];
}
const struct lp_def_user *lp_defs_users(const struct lp_defs *d)
{
	return (const void *)d->head[LP_DEF_USER];
}
const struct lp_def_permission *lp_defs_permissions(const struct lp_defs *d)
{
	return (const void *)d->head[LP_DEF_PERMISSION];
}
const struct lp_def_exchange *lp_defs_exchanges(const struct lp_defs *d)
{
	return (const void *)d->head[LP_DEF_EXCHANGE];
}
const struct lp_def_queue *lp_defs_queues(const struct lp_defs *d)
{
	return (const void *)d->head[LP_DEF_QUEUE];
}
const struct lp_def_binding *lp_defs_bindings(const struct lp_defs *d)
{
	return (const void *)d->head[LP_DEF_BINDING];
}

unsigned lp_defs_count(const struct lp_defs *d, enum lp_def_kind kind)
{
	return d->count[kind];
}

const struct lp_def_vhost *lp_defs_find_vhost(const struct lp_defs *d, const char *name)
{
	for (const struct lp_def_vhost *v = lp_defs_vhosts(d); v; v = v->next)
		if (strcmp(v->name, name) == 0)
			return v;
	return NULL;
}

const struct lp_def_user *lp_defs_find_user(const struct lp_defs *d, const char *name)
{
	for (const struct lp_def_user *u = lp_defs_users(d); u; u = u->next)
		if (strcmp(u->name, name) == 0)
			return u;
	return NULL;
}

static struct lp_def_permission *find_perm(const struct lp_defs *d, const char *user,
					   const char *vhost)
{
	for (struct node *n = d->head[LP_DEF_PERMISSION]; n; n = n->next) {
		struct lp_def_permission *p = (void *)n;
		if (strcmp(p->user, user) == 0 && strcmp(p->vhost, vhost) == 0)
			return p;
	}
	return NULL;
}

const struct lp_def_exchange *lp_defs_find_exchange(const struct lp_defs *d, const char *vhost,
						    const char *name)
{
	for (const struct lp_def_exchange *x = lp_defs_exchanges(d); x; x = x->next)
		if (strcmp(x->name, name) == 0 && strcmp(x->vhost, vhost) == 0)
			return x;
	return NULL;
}

const struct lp_def_queue *lp_defs_find_queue(const struct lp_defs *d, const char *vhost,
					      const char *name)
{
	for (const struct lp_def_queue *q = lp_defs_queues(d); q; q = q->next)
		if (strcmp(q->name, name) == 0 && strcmp(q->vhost, vhost) == 0)
			return q;
	return NULL;
}

const char *lp_defs_exchange_type_name(uint8_t type)
{
	switch (type) {
	case LP_CTL_XT_DIRECT: return "direct";
	case LP_CTL_XT_FANOUT: return "fanout";
	case LP_CTL_XT_TOPIC: return "topic";
	case LP_CTL_XT_HEADERS: return "headers";
	default: return "?";
	}
}

/* ---- copies ------------------------------------------------------------ */

static bool name_ok(const char *s, bool allow_empty)
{
	size_t n = strnlen(s, LP_DEF_NAME_MAX + 1);
	return n <= LP_DEF_NAME_MAX && (allow_empty || n > 0);
}

static void copy_name(char dst[LP_DEF_NAME_MAX + 1], const char *src)
{
	snprintf(dst, LP_DEF_NAME_MAX + 1, "%s", src);
}

static int dup_args(uint8_t **dst, const uint8_t *src, uint16_t len)
{
	*dst = NULL;
	if (!len)
		return 0;
	*dst = malloc(len);
	if (!*dst)
		return -ENOMEM;
	memcpy(*dst, src, len);
	return 0;
}

static bool args_equal(const uint8_t *a, uint16_t alen, const uint8_t *b, uint16_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* ---- replies (AMQP 0-9-1 spec 1.3, amqp_reply.h; RabbitMQ's "NAME - text") */

static bool reply(struct lp_def_reply *out, uint16_t code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Fill a failure; returns false so that checks read `return reply(...)`.
 * The text is cut at 255 bytes (a short string, spec 4.2.5.3). */
static bool reply(struct lp_def_reply *out, uint16_t code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	lp_amqp_reply_vtext(out->text, sizeof(out->text), code, fmt, ap);
	va_end(ap);
	out->code = code;
	out->status = LP_CTL_RES_DONE;
	return false;
}

/* rabbit_misc:rs/1: "queue 'q' in vhost '/'" (cut to fit replies). */
struct rs {
	char s[600];
};

static struct rs rs(const char *kind, const char *vhost, const char *name)
{
	struct rs r;
	snprintf(r.s, sizeof(r.s), "%s '%s' in vhost '%s'", kind, name, vhost);
	return r;
}

static const char *obj_kind(uint8_t object)
{
	return object == LP_CTL_OBJ_QUEUE ? "queue" : "exchange";
}

/* rabbit_channel:strip_cr_lf/1 */
static void strip_cr_lf(char dst[LP_DEF_NAME_MAX + 1], const char *src)
{
	size_t o = 0;
	for (size_t i = 0; src[i] && o < LP_DEF_NAME_MAX; i++)
		if (src[i] != '\r' && src[i] != '\n')
			dst[o++] = src[i];
	dst[o] = '\0';
}

/* ---- permissions (rabbit_auth_backend_internal:check_resource_access) --- */

static int compile_perm(struct lp_def_permission *p)
{
	const char *src[3] = { p->configure, p->write, p->read };
	for (int i = 0; i < 3; i++) {
		/* RabbitMQ: an empty regex matches nothing, like "^$". */
		const char *re = src[i][0] ? src[i] : "^$";
		if (regcomp(&p->re[i], re, REG_EXTENDED | REG_NOSUB) != 0) {
			for (int k = 0; k < i; k++)
				regfree(&p->re[k]);
			return -EINVAL;
		}
	}
	return 0;
}

static bool permitted(const struct lp_defs *d, const char *user, const char *vhost,
		      enum perm_kind which, const char *name)
{
	const struct lp_def_permission *p = find_perm(d, user, vhost);
	if (!p)
		return false;
	/* The default exchange is checked as "amq.default". */
	return regexec(&p->re[which], name[0] ? name : "amq.default", 0, NULL, 0) == 0;
}

/* rabbit_access_control:check_resource_access/4 (3.10 wording). */
static bool check_perm(const struct lp_defs *d, const struct lp_ctl_def_req *req,
		       enum perm_kind which, const char *kind, const char *name,
		       struct lp_def_reply *out)
{
	if (permitted(d, req->user, req->vhost, which, name))
		return true;
	return reply(out, LP_AMQP_ACCESS_REFUSED, "access to %s refused for user '%s'",
		     rs(kind, req->vhost, name).s, req->user);
}

/* ---- arguments tables (rabbit_misc:assert_args_equivalence) ------------- */

enum erl_kind { EK_INT, EK_FLOAT, EK_BIN, EK_BOOL, EK_OTHER };

struct argval {
	bool present;
	uint8_t kind;       /* field type octet */
	enum erl_kind ek;   /* the Erlang term it becomes */
	int64_t i;
	double f;
	struct lp_amqp_bytes raw; /* S, x: the bytes; others: unused */
	struct lp_amqp_field_value v;
};

/* RabbitMQ's names for the field types (rabbit_binary_parser). */
static const char *type_name(uint8_t kind)
{
	switch (kind) {
	case 't': return "bool";
	case 'b': return "byte";
	case 'B': return "unsignedbyte";
	case 's': return "short";
	case 'u': return "unsignedshort";
	case 'I': return "signedint";
	case 'i': return "unsignedint";
	case 'l': case 'L': return "long";
	case 'f': return "float";
	case 'd': return "double";
	case 'D': return "decimal";
	case 'S': return "longstr";
	case 'x': return "binary";
	case 'A': return "array";
	case 'T': return "timestamp";
	case 'F': return "table";
	case 'V': return "void";
	default: return "unknown";
	}
}

/* rabbit_misc:type_class/1 */
static const char *type_class(uint8_t kind)
{
	switch (kind) {
	case 'b': case 'B': case 's': case 'u': case 'I': case 'i': case 'l': case 'L': case 'D':
		return "int";
	case 'f': case 'd':
		return "float";
	default:
		return type_name(kind);
	}
}

static bool is_int_kind(uint8_t kind)
{
	/* rabbit_amqqueue ?INTEGER_ARG_TYPES */
	switch (kind) {
	case 'b': case 'B': case 's': case 'u': case 'I': case 'i': case 'l':
		return true;
	default:
		return false;
	}
}

static struct argval arg_get(const uint8_t *args, uint16_t len, const char *key)
{
	struct argval a = { 0 };
	struct lp_amqp_bytes body = { .ptr = args, .len = len };
	if (!len || !lp_amqp_table_get(body, key, &a.v))
		return a;
	a.present = true;
	a.kind = a.v.kind;
	a.ek = EK_OTHER;
	switch (a.kind) {
	case 'b': a.i = a.v.i8; a.ek = EK_INT; break;
	case 'B': a.i = a.v.u8; a.ek = EK_INT; break;
	case 's': a.i = a.v.i16; a.ek = EK_INT; break;
	case 'u': a.i = a.v.u16; a.ek = EK_INT; break;
	case 'I': a.i = a.v.i32; a.ek = EK_INT; break;
	case 'i': a.i = a.v.u32; a.ek = EK_INT; break;
	case 'l': a.i = a.v.i64; a.ek = EK_INT; break;
	case 'L': case 'T': a.i = (int64_t)a.v.u64; a.ek = EK_INT; break;
	case 'f': a.f = a.v.f32; a.ek = EK_FLOAT; break;
	case 'd': a.f = a.v.f64; a.ek = EK_FLOAT; break;
	case 't': a.i = a.v.b; a.ek = EK_BOOL; break;
	case 'S': case 'x': a.raw = a.v.bytes; a.ek = EK_BIN; break;
	default: break;
	}
	return a;
}

/* Erlang's =:= on the two terms. */
static bool arg_exact(const struct argval *a, const struct argval *b)
{
	if (a->ek != b->ek)
		return false;
	switch (a->ek) {
	case EK_INT: case EK_BOOL: return a->i == b->i;
	case EK_FLOAT: return a->f == b->f;
	case EK_BIN: return a->raw.len == b->raw.len &&
			    (a->raw.len == 0 || memcmp(a->raw.ptr, b->raw.ptr, a->raw.len) == 0);
	default:
		return a->kind == b->kind && a->v.bytes.len == b->v.bytes.len &&
		       memcmp(&a->v, &b->v, sizeof(a->v)) == 0;
	}
}

/* The term as ~p prints it (~s for binaries). */
static void arg_term(char *dst, size_t cap, const struct argval *a)
{
	switch (a->ek) {
	case EK_INT:
		snprintf(dst, cap, "%" PRId64, a->i);
		break;
	case EK_BOOL:
		snprintf(dst, cap, "%s", a->i ? "true" : "false");
		break;
	case EK_FLOAT: {
		snprintf(dst, cap, "%.17g", a->f);
		if (!strpbrk(dst, ".en"))
			snprintf(dst + strlen(dst), cap - strlen(dst), ".0");
		break;
	}
	case EK_BIN:
		snprintf(dst, cap, "%.*s", (int)a->raw.len, (const char *)a->raw.ptr);
		break;
	default:
		snprintf(dst, cap, "%s", a->kind == 'V' ? "undefined" : "[...]");
		break;
	}
}

/* rabbit_misc:val/1 of a table lookup result: none, or "the value 'V' of
 * type 'T'". */
static void arg_val_typed(char *dst, size_t cap, const struct argval *a)
{
	if (!a->present) {
		snprintf(dst, cap, "none");
		return;
	}
	char t[256];
	arg_term(t, sizeof(t), a);
	snprintf(dst, cap, "the value '%.255s' of type '%.20s'", t, type_name(a->kind));
}

/* rabbit_misc:val/1 of a bare value: 'V'. */
static void arg_val_plain(char *dst, size_t cap, const struct argval *a)
{
	char t[256];
	arg_term(t, sizeof(t), a);
	snprintf(dst, cap, "'%.255s'", t);
}

/* rabbit_misc:assert_args_equivalence1/4 for one key. */
static bool arg_equivalent(const uint8_t *orig, uint16_t olen, const uint8_t *req, uint16_t rlen,
			   const char *key, const char *rsname, struct lp_def_reply *out)
{
	struct argval o = arg_get(orig, olen, key), n = arg_get(req, rlen, key);
	char rv[512], cv[512];
	if (!o.present && !n.present)
		return true;
	if (o.present && n.present) {
		bool same_class = strcmp(type_class(o.kind), type_class(n.kind)) == 0;
		bool eq = arg_exact(&o, &n) ||
			  (same_class && o.ek == EK_INT && n.ek == EK_INT && o.i == n.i);
		if ((o.kind == n.kind && arg_exact(&o, &n)) || (same_class && eq) || arg_exact(&o, &n))
			return true;
		arg_val_plain(rv, sizeof(rv), &n);
		arg_val_plain(cv, sizeof(cv), &o);
	} else {
		arg_val_typed(rv, sizeof(rv), &n);
		arg_val_typed(cv, sizeof(cv), &o);
	}
	return reply(out, LP_AMQP_PRECONDITION_FAILED,
		     "inequivalent arg '%s' for %s: received %s but current is %s",
		     key, rsname, rv, cv);
}

/* rabbit_misc:assert_field_equivalence/4 for booleans and atoms. */
static bool field_equivalent(const char *cur, const char *req, const char *field,
			     const char *rsname, struct lp_def_reply *out)
{
	if (strcmp(cur, req) == 0)
		return true;
	return reply(out, LP_AMQP_PRECONDITION_FAILED,
		     "inequivalent arg '%s' for %s: received '%s' but current is '%s'",
		     field, rsname, req, cur);
}

static const char *tf(bool b)
{
	return b ? "true" : "false";
}

static bool args_table_ok(const struct lp_ctl_def_req *req, struct lp_def_reply *out)
{
	struct lp_amqp_bytes body = { .ptr = req->args, .len = req->args_len };
	if (req->args_len == 0 || lp_amqp_table_valid(body))
		return true;
	return reply(out, LP_AMQP_INTERNAL_ERROR, "malformed arguments table");
}

/* ---- adding and removing, with cascades -------------------------------- */

static struct lp_def_exchange *find_x(struct lp_defs *d, const char *vhost, const char *name)
{
	return (struct lp_def_exchange *)lp_defs_find_exchange(d, vhost, name);
}

static struct lp_def_queue *find_q(struct lp_defs *d, const char *vhost, const char *name)
{
	return (struct lp_def_queue *)lp_defs_find_queue(d, vhost, name);
}

struct lp_queue_live *lp_defs_queue_live(struct lp_defs *d, const char *vhost, const char *name)
{
	struct lp_def_queue *q = find_q(d, vhost, name);

	return q != NULL ? &q->live : NULL;
}

static bool has_source_bindings(const struct lp_defs *d, const char *vhost, const char *x)
{
	for (const struct lp_def_binding *b = lp_defs_bindings(d); b; b = b->next)
		if (strcmp(b->source, x) == 0 && strcmp(b->vhost, vhost) == 0)
			return true;
	return false;
}

static void delete_exchange(struct lp_defs *d, struct lp_def_exchange *x);

/* rabbit_exchange:maybe_auto_delete/2: an auto-delete exchange goes with its
 * last binding as source. */
static void maybe_auto_delete(struct lp_defs *d, const char *vhost, const char *name)
{
	struct lp_def_exchange *x = find_x(d, vhost, name);
	if (x && x->auto_delete && !has_source_bindings(d, vhost, name))
		delete_exchange(d, x);
}

/* Remove every binding from or to (kind, name); then auto-delete the
 * sources that lost their last binding. */
static void remove_bindings_of(struct lp_defs *d, const char *vhost, uint8_t kind, const char *name)
{
	/* Sources of removed bindings, checked for auto-delete afterwards. On
	 * allocation failure the check is skipped for the sources not kept. */
	char (*sources)[LP_DEF_NAME_MAX + 1] = NULL;
	size_t n_sources = 0, cap = 0;
	struct node **pp = &d->head[LP_DEF_BINDING];
	while (*pp) {
		struct lp_def_binding *b = (void *)*pp;
		bool to = strcmp(b->vhost, vhost) == 0 && b->dest_kind == kind &&
			  strcmp(b->destination, name) == 0;
		bool from = strcmp(b->vhost, vhost) == 0 && kind == LP_CTL_OBJ_EXCHANGE &&
			    strcmp(b->source, name) == 0;
		if (!to && !from) {
			pp = &(*pp)->next;
			continue;
		}
		if (to && !from) {
			if (n_sources == cap) {
				size_t ncap = cap ? cap * 2 : 8;
				void *p = realloc(sources, ncap * sizeof(*sources));
				if (p) {
					sources = p;
					cap = ncap;
				}
			}
			if (n_sources < cap)
				copy_name(sources[n_sources++], b->source);
		}
		list_remove(d, LP_DEF_BINDING, b); /* *pp now is the next one */
	}
	for (size_t i = 0; i < n_sources; i++)
		maybe_auto_delete(d, vhost, sources[i]);
	free(sources);
}

static void delete_exchange(struct lp_defs *d, struct lp_def_exchange *x)
{
	char vhost[LP_DEF_NAME_MAX + 1], name[LP_DEF_NAME_MAX + 1];
	copy_name(vhost, x->vhost);
	copy_name(name, x->name);
	remove_bindings_of(d, vhost, LP_CTL_OBJ_EXCHANGE, name);
	x = find_x(d, vhost, name); /* still there: a cascade cannot reach it twice */
	if (x)
		list_remove(d, LP_DEF_EXCHANGE, x);
}

static void delete_queue(struct lp_defs *d, struct lp_def_queue *q)
{
	char vhost[LP_DEF_NAME_MAX + 1], name[LP_DEF_NAME_MAX + 1];
	copy_name(vhost, q->vhost);
	copy_name(name, q->name);
	list_remove(d, LP_DEF_QUEUE, q);
	remove_bindings_of(d, vhost, LP_CTL_OBJ_QUEUE, name);
}

static int add_exchange(struct lp_defs *d, const char *vhost, const char *name, uint8_t type,
			bool durable, bool auto_delete, bool internal, const char *alternate,
			const uint8_t *args, uint16_t args_len)
{
	struct lp_def_exchange *x = calloc(1, sizeof(*x));
	if (!x || dup_args(&x->args, args, args_len) < 0) {
		free(x);
		return -ENOMEM;
	}
	copy_name(x->vhost, vhost);
	copy_name(x->name, name);
	copy_name(x->alternate, alternate ? alternate : "");
	x->type = type;
	x->durable = durable;
	x->auto_delete = auto_delete;
	x->internal = internal;
	x->args_len = args_len;
	list_append(d, LP_DEF_EXCHANGE, x);
	return 0;
}

/* Binding durability: both ends durable (rabbit_binding:binding_type/2). */
static bool binding_durable(struct lp_defs *d, const char *vhost, const char *source,
			    uint8_t dest_kind, const char *dest)
{
	const struct lp_def_exchange *s = find_x(d, vhost, source);
	bool dd;
	if (dest_kind == LP_CTL_OBJ_QUEUE) {
		const struct lp_def_queue *q = find_q(d, vhost, dest);
		dd = q && q->durable;
	} else {
		const struct lp_def_exchange *x = find_x(d, vhost, dest);
		dd = x && x->durable;
	}
	return s && s->durable && dd;
}

static struct lp_def_binding *find_binding(struct lp_defs *d, const char *vhost,
					   const char *source, uint8_t dest_kind,
					   const char *dest, const char *key,
					   const uint8_t *args, uint16_t args_len)
{
	for (struct node *n = d->head[LP_DEF_BINDING]; n; n = n->next) {
		struct lp_def_binding *b = (void *)n;
		if (b->dest_kind == dest_kind && strcmp(b->vhost, vhost) == 0 &&
		    strcmp(b->source, source) == 0 && strcmp(b->destination, dest) == 0 &&
		    strcmp(b->routing_key, key) == 0 &&
		    args_equal(b->args, b->args_len, args, args_len))
			return b;
	}
	return NULL;
}

static int add_binding(struct lp_defs *d, const char *vhost, const char *source,
		       uint8_t dest_kind, const char *dest, const char *key,
		       const uint8_t *args, uint16_t args_len)
{
	struct lp_def_binding *b = calloc(1, sizeof(*b));
	if (!b || dup_args(&b->args, args, args_len) < 0) {
		free(b);
		return -ENOMEM;
	}
	copy_name(b->vhost, vhost);
	copy_name(b->source, source);
	copy_name(b->destination, dest);
	copy_name(b->routing_key, key);
	b->dest_kind = dest_kind;
	b->args_len = args_len;
	b->durable = binding_durable(d, vhost, source, dest_kind, dest);
	list_append(d, LP_DEF_BINDING, b);
	return 0;
}

/* ---- vhosts, users, permissions ---------------------------------------- */

static int add_default_exchanges(struct lp_defs *d, const char *vhost)
{
	static const struct {
		const char *name;
		uint8_t type;
	} defaults[] = {
		{ "", LP_CTL_XT_DIRECT },
		{ "amq.direct", LP_CTL_XT_DIRECT },
		{ "amq.fanout", LP_CTL_XT_FANOUT },
		{ "amq.headers", LP_CTL_XT_HEADERS },
		{ "amq.match", LP_CTL_XT_HEADERS },
		{ "amq.topic", LP_CTL_XT_TOPIC },
	};
	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
		if (find_x(d, vhost, defaults[i].name))
			continue;
		int rc = add_exchange(d, vhost, defaults[i].name, defaults[i].type, true, false,
				      false, NULL, NULL, 0);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int errf(char *err, size_t cap, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int errf(char *err, size_t cap, int rc, const char *fmt, ...)
{
	if (err && cap) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, cap, fmt, ap);
		va_end(ap);
	}
	return rc;
}

int lp_defs_add_vhost(struct lp_defs *d, const char *name, char *err, size_t cap)
{
	if (!name_ok(name, false))
		return errf(err, cap, -EINVAL, "invalid vhost name");
	if (lp_defs_find_vhost(d, name))
		return errf(err, cap, -EEXIST, "vhost_already_exists: %s", name);
	struct lp_def_vhost *v = calloc(1, sizeof(*v));
	if (!v)
		return errf(err, cap, -ENOMEM, "out of memory");
	copy_name(v->name, name);
	list_append(d, LP_DEF_VHOST, v);
	int rc = add_default_exchanges(d, name);
	return rc < 0 ? errf(err, cap, rc, "out of memory") : 0;
}

int lp_defs_delete_vhost(struct lp_defs *d, const char *name, char *err, size_t cap)
{
	struct lp_def_vhost *v = (struct lp_def_vhost *)lp_defs_find_vhost(d, name);
	if (!v)
		return errf(err, cap, -ENOENT, "no_such_vhost: %s", name);
	struct node *n;
	while ((n = d->head[LP_DEF_BINDING])) {
		for (; n && strcmp(((struct lp_def_binding *)n)->vhost, name) != 0; n = n->next)
			;
		if (!n)
			break;
		list_remove(d, LP_DEF_BINDING, n);
	}
	static const enum lp_def_kind kinds[] = { LP_DEF_QUEUE, LP_DEF_EXCHANGE, LP_DEF_PERMISSION };
	for (size_t k = 0; k < 3; k++) {
		for (;;) {
			for (n = d->head[kinds[k]]; n; n = n->next) {
				const char *vh = kinds[k] == LP_DEF_QUEUE ? ((struct lp_def_queue *)n)->vhost
					: kinds[k] == LP_DEF_EXCHANGE ? ((struct lp_def_exchange *)n)->vhost
					: ((struct lp_def_permission *)n)->vhost;
				if (strcmp(vh, name) == 0)
					break;
			}
			if (!n)
				break;
			list_remove(d, kinds[k], n);
		}
	}
	list_remove(d, LP_DEF_VHOST, v);
	return 0;
}

int lp_defs_add_user(struct lp_defs *d, const char *name, const uint8_t *hash,
		     const char *tags, char *err, size_t cap)
{
	if (!name_ok(name, false) || !name_ok(tags ? tags : "", true))
		return errf(err, cap, -EINVAL, "invalid user name or tags");
	if (lp_defs_find_user(d, name))
		return errf(err, cap, -EEXIST, "user_already_exists: %s", name);
	struct lp_def_user *u = calloc(1, sizeof(*u));
	if (!u)
		return errf(err, cap, -ENOMEM, "out of memory");
	copy_name(u->name, name);
	copy_name(u->tags, tags ? tags : "");
	if (hash) {
		u->has_hash = true;
		memcpy(u->hash, hash, LP_PASSWORD_HASH_LEN);
	}
	list_append(d, LP_DEF_USER, u);
	return 0;
}

/* Users and permissions change by replacement: DEL of the old, ADD of the
 * new, so that a receiver needs no "modify" operation. */
static int replace_user(struct lp_defs *d, const char *name, const uint8_t *hash, bool set_hash,
			const char *tags, char *err, size_t cap, const char *what)
{
	const struct lp_def_user *old = lp_defs_find_user(d, name);
	if (!old)
		return errf(err, cap, -ENOENT, "no_such_user: %s", name);
	if (tags && !name_ok(tags, true))
		return errf(err, cap, -EINVAL, "invalid %s", what);
	struct lp_def_user *u = calloc(1, sizeof(*u));
	if (!u)
		return errf(err, cap, -ENOMEM, "out of memory");
	*u = *old;
	if (set_hash) {
		u->has_hash = hash != NULL;
		if (hash)
			memcpy(u->hash, hash, LP_PASSWORD_HASH_LEN);
	}
	if (tags)
		copy_name(u->tags, tags);
	list_remove(d, LP_DEF_USER, (void *)old);
	list_append(d, LP_DEF_USER, u);
	return 0;
}

int lp_defs_change_password(struct lp_defs *d, const char *name, const uint8_t *hash,
			    char *err, size_t cap)
{
	return replace_user(d, name, hash, true, NULL, err, cap, "password");
}

int lp_defs_set_user_tags(struct lp_defs *d, const char *name, const char *tags,
			  char *err, size_t cap)
{
	return replace_user(d, name, NULL, false, tags ? tags : "", err, cap, "tags");
}

int lp_defs_delete_user(struct lp_defs *d, const char *name, char *err, size_t cap)
{
	struct lp_def_user *u = (struct lp_def_user *)lp_defs_find_user(d, name);
	if (!u)
		return errf(err, cap, -ENOENT, "no_such_user: %s", name);
	for (;;) {
		struct node *n = d->head[LP_DEF_PERMISSION];
		while (n && strcmp(((struct lp_def_permission *)n)->user, name) != 0)
			n = n->next;
		if (!n)
			break;
		list_remove(d, LP_DEF_PERMISSION, n);
	}
	list_remove(d, LP_DEF_USER, u);
	return 0;
}

static int insert_permission(struct lp_defs *d, const struct lp_def_permission *src)
{
	struct lp_def_permission *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	copy_name(p->user, src->user);
	copy_name(p->vhost, src->vhost);
	copy_name(p->configure, src->configure);
	copy_name(p->write, src->write);
	copy_name(p->read, src->read);
	if (compile_perm(p) < 0) {
		free(p);
		return -EINVAL;
	}
	struct lp_def_permission *old = find_perm(d, p->user, p->vhost);
	if (old)
		list_remove(d, LP_DEF_PERMISSION, old);
	list_append(d, LP_DEF_PERMISSION, p);
	return 0;
}

int lp_defs_set_permissions(struct lp_defs *d, const char *user, const char *vhost,
			    const char *configure, const char *write, const char *read,
			    char *err, size_t cap)
{
	if (!lp_defs_find_user(d, user))
		return errf(err, cap, -ENOENT, "no_such_user: %s", user);
	if (!lp_defs_find_vhost(d, vhost))
		return errf(err, cap, -ENOENT, "no_such_vhost: %s", vhost);
	if (!name_ok(configure, true) || !name_ok(write, true) || !name_ok(read, true))
		return errf(err, cap, -EINVAL, "invalid permission pattern");
	struct lp_def_permission p;
	memset(&p, 0, sizeof(p));
	copy_name(p.user, user);
	copy_name(p.vhost, vhost);
	copy_name(p.configure, configure);
	copy_name(p.write, write);
	copy_name(p.read, read);
	int rc = insert_permission(d, &p);
	if (rc == -EINVAL)
		return errf(err, cap, rc, "invalid_regexp: one of '%s', '%s', '%s'", configure,
			    write, read);
	return rc < 0 ? errf(err, cap, rc, "out of memory") : 0;
}

int lp_defs_clear_permissions(struct lp_defs *d, const char *user, const char *vhost,
			      char *err, size_t cap)
{
	if (!lp_defs_find_user(d, user))
		return errf(err, cap, -ENOENT, "no_such_user: %s", user);
	if (!lp_defs_find_vhost(d, vhost))
		return errf(err, cap, -ENOENT, "no_such_vhost: %s", vhost);
	struct lp_def_permission *p = find_perm(d, user, vhost);
	if (p)
		list_remove(d, LP_DEF_PERMISSION, p);
	return 0;
}

int lp_defs_add_defaults(struct lp_defs *d)
{
	uint8_t hash[LP_PASSWORD_HASH_LEN];
	int rc = lp_password_hash("guest", 5, NULL, hash);
	if (rc < 0)
		return rc;
	if (!lp_defs_find_vhost(d, "/") && (rc = lp_defs_add_vhost(d, "/", NULL, 0)) < 0)
		return rc;
	if (!lp_defs_find_user(d, "guest") &&
	    (rc = lp_defs_add_user(d, "guest", hash, "administrator", NULL, 0)) < 0)
		return rc;
	return lp_defs_set_permissions(d, "guest", "/", ".*", ".*", ".*", NULL, 0);
}

int lp_defs_insert(struct lp_defs *d, enum lp_def_kind kind, const void *obj)
{
	switch (kind) {
	case LP_DEF_VHOST: {
		const struct lp_def_vhost *v = obj;
		if (lp_defs_find_vhost(d, v->name))
			return -EEXIST;
		struct lp_def_vhost *c = calloc(1, sizeof(*c));
		if (!c)
			return -ENOMEM;
		copy_name(c->name, v->name);
		list_append(d, kind, c);
		return 0;
	}
	case LP_DEF_USER: {
		const struct lp_def_user *u = obj;
		if (lp_defs_find_user(d, u->name))
			return -EEXIST;
		return lp_defs_add_user(d, u->name, u->has_hash ? u->hash : NULL, u->tags, NULL, 0);
	}
	case LP_DEF_PERMISSION: {
		const struct lp_def_permission *p = obj;
		if (!lp_defs_find_user(d, p->user) || !lp_defs_find_vhost(d, p->vhost))
			return -ENOENT;
		if (find_perm(d, p->user, p->vhost))
			return -EEXIST;
		return insert_permission(d, p);
	}
	case LP_DEF_EXCHANGE: {
		const struct lp_def_exchange *x = obj;
		if (!lp_defs_find_vhost(d, x->vhost))
			return -ENOENT;
		if (find_x(d, x->vhost, x->name))
			return -EEXIST;
		return add_exchange(d, x->vhost, x->name, x->type, x->durable, x->auto_delete,
				    x->internal, x->alternate, x->args, x->args_len);
	}
	case LP_DEF_QUEUE: {
		const struct lp_def_queue *q = obj;
		if (!lp_defs_find_vhost(d, q->vhost))
			return -ENOENT;
		if (find_q(d, q->vhost, q->name))
			return -EEXIST;
		struct lp_def_queue *c = calloc(1, sizeof(*c));
		if (!c || dup_args(&c->args, q->args, q->args_len) < 0) {
			free(c);
			return -ENOMEM;
		}
		uint8_t *args = c->args;
		*c = *q;
		c->args = args;
		c->store_id = q->durable ? q->store_id : 0;
		if (c->store_id == 0 && c->durable)
			c->store_id = ++d->last_store_id;
		lp_defs_note_store_id(d, c->store_id);
		list_append(d, kind, c);
		return 0;
	}
	case LP_DEF_BINDING: {
		const struct lp_def_binding *b = obj;
		if (!lp_defs_find_vhost(d, b->vhost))
			return -ENOENT;
		if (find_binding(d, b->vhost, b->source, b->dest_kind, b->destination,
				 b->routing_key, b->args, b->args_len))
			return -EEXIST;
		return add_binding(d, b->vhost, b->source, b->dest_kind, b->destination,
				   b->routing_key, b->args, b->args_len);
	}
	}
	return -EINVAL;
}

/* ---- AMQP requests ----------------------------------------------------- */

static bool parse_exchange_type(const char *s, uint8_t *type)
{
	static const char *const names[] = { "direct", "fanout", "topic", "headers" };
	for (uint8_t i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0) {
			*type = i + 1;
			return true;
		}
	return false;
}

/* rabbit_channel:check_name/2 */
static bool check_name(const char *kind, const char *name, struct lp_def_reply *out)
{
	if (strncmp(name, "amq.", 4) != 0)
		return true;
	return reply(out, LP_AMQP_ACCESS_REFUSED,
		     "%s name '%s' contains reserved prefix 'amq.*'", kind, name);
}

/* rabbit_channel:check_not_default_exchange/1 */
static bool check_not_default(const char *name, struct lp_def_reply *out)
{
	if (name[0])
		return true;
	return reply(out, LP_AMQP_ACCESS_REFUSED,
		     "operation not permitted on the default exchange");
}

/* rabbit_amqqueue:check_exclusive_access/3 ("lax": only another
 * connection's exclusive queue is refused; "strict": the exclusive flag of
 * the request must match too). */
static bool check_exclusive(const struct lp_def_queue *q, uint64_t conn, bool strict,
			    bool req_exclusive, struct lp_def_reply *out)
{
	bool ok;
	if (strict)
		ok = q->exclusive ? (req_exclusive && q->owner_conn == conn) : !req_exclusive;
	else
		ok = !q->exclusive || q->owner_conn == conn;
	if (ok)
		return true;
	return reply(out, LP_AMQP_RESOURCE_LOCKED,
		     "cannot obtain exclusive access to locked %s. It could be originally "
		     "declared on another connection or the exclusive property value does not "
		     "match that of the original declaration.",
		     rs("queue", q->vhost, q->name).s);
}

/* rabbit_misc:r_arg/4 followed by the channel's check: the argument, when
 * present, must be a longstr naming an exchange. */
static bool check_exchange_arg(const struct lp_defs *d, const struct lp_ctl_def_req *req,
			       const char *key, const char *in_rs, bool with_in,
			       const char *self_kind, const char *self, char alt[LP_DEF_NAME_MAX + 1],
			       struct lp_def_reply *out)
{
	alt[0] = '\0';
	struct argval a = arg_get(req->args, req->args_len, key);
	if (!a.present)
		return true;
	if (a.kind != 'S') {
		if (with_in)
			return reply(out, LP_AMQP_PRECONDITION_FAILED,
				     "invalid type '%s' for arg '%s' in %s",
				     type_name(a.kind), key, in_rs);
		return reply(out, LP_AMQP_PRECONDITION_FAILED,
			     "invalid type '%s' for arg '%s'", type_name(a.kind), key);
	}
	size_t n = a.raw.len > LP_DEF_NAME_MAX ? LP_DEF_NAME_MAX : a.raw.len;
	memcpy(alt, a.raw.ptr, n);
	alt[n] = '\0';
	if (memchr(alt, 0, n))
		return reply(out, LP_AMQP_PRECONDITION_FAILED,
			     "invalid arg '%s' for %s", key, in_rs);
	/* read on the declared object, write on the named exchange */
	if (!check_perm(d, req, PERM_READ, self_kind, self, out))
		return false;
	return check_perm(d, req, PERM_WRITE, "exchange", alt, out);
}

static void exchange_declare(struct lp_defs *d, const struct lp_ctl_def_req *req,
			     struct lp_def_reply *out)
{
	char name[LP_DEF_NAME_MAX + 1];
	strip_cr_lf(name, req->name);
	struct rs r = rs("exchange", req->vhost, name);

	if (req->flags & LP_CTL_F_PASSIVE) {
		if (!check_not_default(name, out))
			return;
		if (!find_x(d, req->vhost, name))
			reply(out, LP_AMQP_NOT_FOUND, "no %s", r.s);
		return;
	}
	uint8_t type;
	if (!parse_exchange_type(req->type, &type)) {
		reply(out, LP_AMQP_COMMAND_INVALID, "unknown exchange type '%s'", req->type);
		return;
	}
	if (!check_not_default(name, out) || !check_perm(d, req, PERM_CONFIGURE, "exchange", name, out) ||
	    !args_table_ok(req, out))
		return;
	bool durable = req->flags & LP_CTL_F_DURABLE;
	bool auto_delete = req->flags & LP_CTL_F_AUTO_DELETE;
	bool internal = req->flags & LP_CTL_F_INTERNAL;
	struct lp_def_exchange *x = find_x(d, req->vhost, name);
	if (!x) {
		char alt[LP_DEF_NAME_MAX + 1];
		if (!check_name("exchange", name, out) ||
		    !check_exchange_arg(d, req, "alternate-exchange", r.s, true, "exchange", name,
					alt, out))
			return;
		if (add_exchange(d, req->vhost, name, type, durable, auto_delete, internal, alt,
				 req->args, req->args_len) < 0)
			reply(out, LP_AMQP_INTERNAL_ERROR, "out of memory");
		return;
	}
	/* rabbit_exchange:assert_equivalence/6 */
	if (field_equivalent(lp_defs_exchange_type_name(x->type), lp_defs_exchange_type_name(type),
			     "type", r.s, out) &&
	    field_equivalent(tf(x->durable), tf(durable), "durable", r.s, out) &&
	    field_equivalent(tf(x->auto_delete), tf(auto_delete), "auto_delete", r.s, out) &&
	    field_equivalent(tf(x->internal), tf(internal), "internal", r.s, out))
		arg_equivalent(x->args, x->args_len, req->args, req->args_len, "alternate-exchange",
			       r.s, out);
}

static void exchange_delete(struct lp_defs *d, const struct lp_ctl_def_req *req,
			    struct lp_def_reply *out)
{
	char name[LP_DEF_NAME_MAX + 1];
	strip_cr_lf(name, req->name);
	struct rs r = rs("exchange", req->vhost, name);
	if (!check_not_default(name, out))
		return;
	if (strncmp(name, "amq.", 4) == 0) {
		reply(out, LP_AMQP_ACCESS_REFUSED, "deletion of system %s not allowed", r.s);
		return;
	}
	if (!check_perm(d, req, PERM_CONFIGURE, "exchange", name, out))
		return;
	struct lp_def_exchange *x = find_x(d, req->vhost, name);
	if (!x)
		return; /* RabbitMQ: deleting a missing exchange succeeds */
	if ((req->flags & LP_CTL_F_IF_UNUSED) && has_source_bindings(d, req->vhost, name)) {
		reply(out, LP_AMQP_PRECONDITION_FAILED, "%s in use", r.s);
		return;
	}
	delete_exchange(d, x);
}

/* rabbit_amqqueue:declare_args/0 validators (new queues only). */
static bool check_queue_args(const struct lp_ctl_def_req *req, const char *qrs,
			     struct lp_def_reply *out)
{
	static const char *const non_neg[] = { "x-max-length", "x-max-length-bytes",
					       "x-max-in-memory-length", "x-max-in-memory-bytes",
					       "x-max-priority", "x-message-ttl", "x-expires" };
	for (size_t i = 0; i < sizeof(non_neg) / sizeof(non_neg[0]); i++) {
		const char *key = non_neg[i];
		struct argval a = arg_get(req->args, req->args_len, key);
		if (!a.present)
			continue;
		if (!is_int_kind(a.kind))
			return reply(out, LP_AMQP_PRECONDITION_FAILED,
				     "invalid arg '%s' for %s: {unacceptable_type,%s}",
				     key, qrs, type_name(a.kind));
		if (strcmp(key, "x-expires") == 0 && a.i == 0)
			return reply(out, LP_AMQP_PRECONDITION_FAILED,
				     "invalid arg '%s' for %s: {value_zero,0}", key, qrs);
		if (a.i < 0)
			return reply(out, LP_AMQP_PRECONDITION_FAILED,
				     "invalid arg '%s' for %s: {value_negative,%" PRId64 "}",
				     key, qrs, a.i);
		if (strcmp(key, "x-max-priority") == 0 && a.i > 255)
			return reply(out, LP_AMQP_PRECONDITION_FAILED,
				     "invalid arg '%s' for %s: {max_value_exceeded,%" PRId64 "}",
				     key, qrs, a.i);
	}
	struct argval a = arg_get(req->args, req->args_len, "x-dead-letter-routing-key");
	if (a.present && a.kind != 'S')
		return reply(out, LP_AMQP_PRECONDITION_FAILED,
			     "invalid arg '%s' for %s: {unacceptable_type,%s}",
			     "x-dead-letter-routing-key", qrs, type_name(a.kind));
	if (a.present && !arg_get(req->args, req->args_len, "x-dead-letter-exchange").present)
		return reply(out, LP_AMQP_PRECONDITION_FAILED, "invalid arg '%s' for %s: %s",
			     "x-dead-letter-routing-key", qrs, "routing_key_but_no_dlx_defined");
	a = arg_get(req->args, req->args_len, "x-single-active-consumer");
	if (a.present && a.kind != 't')
		return reply(out, LP_AMQP_PRECONDITION_FAILED,
			     "invalid arg '%s' for %s: {unacceptable_type,%s}",
			     "x-single-active-consumer", qrs, type_name(a.kind));
	static const struct {
		const char *key;
		const char *values[4];
	} enums[] = {
		{ "x-overflow", { "drop-head", "reject-publish", "reject-publish-dlx", NULL } },
		{ "x-queue-mode", { "default", "lazy", NULL } },
		/* Lepus has classic queues only. */
		{ "x-queue-type", { "classic", NULL } },
	};
	/* RabbitMQ's other queue types: said plainly, not taken for classic. */
	a = arg_get(req->args, req->args_len, "x-queue-type");
	if (a.present && a.kind == 'S' &&
	    ((a.raw.len == 6 && memcmp(a.raw.ptr, "quorum", 6) == 0) ||
	     (a.raw.len == 6 && memcmp(a.raw.ptr, "stream", 6) == 0)))
		return reply(out, LP_AMQP_PRECONDITION_FAILED,
			     "invalid arg 'x-queue-type' for %s: %.*s queues are not supported by "
			     "Lepus yet (only classic)", qrs, (int)a.raw.len, (const char *)a.raw.ptr);
	for (size_t i = 0; i < sizeof(enums) / sizeof(enums[0]); i++) {
		a = arg_get(req->args, req->args_len, enums[i].key);
		if (!a.present)
			continue;
		if (a.kind != 'S')
			return reply(out, LP_AMQP_PRECONDITION_FAILED,
				     "invalid arg '%s' for %s: {unacceptable_type,%s}",
				     enums[i].key, qrs, type_name(a.kind));
		bool ok = false;
		for (int k = 0; enums[i].values[k] && !ok; k++)
			ok = a.raw.len == strlen(enums[i].values[k]) &&
			     memcmp(a.raw.ptr, enums[i].values[k], a.raw.len) == 0;
		if (!ok)
			return reply(out, LP_AMQP_PRECONDITION_FAILED,
				     "invalid arg '%s' for %s: {invalid_value,<<\"%.*s\">>}",
				     enums[i].key, qrs, (int)a.raw.len, (const char *)a.raw.ptr);
	}
	return true;
}

/* rabbit_guid:binary(rabbit_guid:gen_secure(), "amq.gen"): "amq.gen-" and the
 * URL-safe base64 of 16 random bytes, unpadded (22 characters). */
static int gen_queue_name(char name[LP_DEF_NAME_MAX + 1])
{
	uint8_t guid[16];
	if (getrandom(guid, sizeof(guid), 0) != (ssize_t)sizeof(guid))
		return -EIO;
	memcpy(name, "amq.gen-", 8);
	return lp_base64_encode(name + 8, LP_DEF_NAME_MAX + 1 - 8, guid, sizeof(guid), true) == 22
		       ? 0 : -EIO;
}

/* The classic queue type's equivalence keys (rabbit_classic_queue
 * capabilities, queue_arguments). */
static const char *const queue_equiv_keys[] = {
	"x-expires", "x-message-ttl", "x-dead-letter-exchange", "x-dead-letter-routing-key",
	"x-max-length", "x-max-length-bytes", "x-max-priority", "x-overflow", "x-queue-mode",
	"x-queue-version", "x-single-active-consumer", "x-queue-type", "x-queue-master-locator",
};

static void queue_result(const struct lp_def_queue *q, struct lp_def_reply *out)
{
	copy_name(out->queue, q->name);
	out->owner_shard = q->owner_shard;
}

static void queue_declare(struct lp_defs *d, const struct lp_ctl_def_req *req,
			  struct lp_def_reply *out)
{
	char name[LP_DEF_NAME_MAX + 1];
	strip_cr_lf(name, req->name);

	if (req->flags & LP_CTL_F_PASSIVE) {
		struct lp_def_queue *q = find_q(d, req->vhost, name);
		if (!q) {
			reply(out, LP_AMQP_NOT_FOUND, "no %s", rs("queue", req->vhost, name).s);
			return;
		}
		if (check_exclusive(q, req->conn_id, false, false, out))
			queue_result(q, out);
		return;
	}
	bool exclusive = req->flags & LP_CTL_F_EXCLUSIVE;
	/* rabbit_channel: Durable = DurableDeclare andalso not ExclusiveDeclare */
	bool durable = (req->flags & LP_CTL_F_DURABLE) && !exclusive;
	bool auto_delete = req->flags & LP_CTL_F_AUTO_DELETE;
	if (!name[0]) {
		if (gen_queue_name(name) < 0) {
			reply(out, LP_AMQP_INTERNAL_ERROR, "cannot generate a queue name");
			return;
		}
	} else if (!check_name("queue", name, out)) {
		return;
	}
	struct rs r = rs("queue", req->vhost, name);
	if (!check_perm(d, req, PERM_CONFIGURE, "queue", name, out) || !args_table_ok(req, out))
		return;
	struct lp_def_queue *q = find_q(d, req->vhost, name);
	if (q) {
		/* rabbit_amqqueue:assert_equivalence/5 */
		if (!check_exclusive(q, req->conn_id, true, exclusive, out) ||
		    !field_equivalent(tf(q->durable), tf(durable), "durable", r.s, out) ||
		    !field_equivalent(tf(q->auto_delete), tf(auto_delete), "auto_delete", r.s, out))
			return;
		for (size_t i = 0; i < sizeof(queue_equiv_keys) / sizeof(queue_equiv_keys[0]); i++)
			if (!arg_equivalent(q->args, q->args_len, req->args, req->args_len,
					    queue_equiv_keys[i], r.s, out))
				return;
		queue_result(q, out);
		return;
	}
	char dlx[LP_DEF_NAME_MAX + 1];
	if (!check_exchange_arg(d, req, "x-dead-letter-exchange", r.s, true, "queue", name, dlx, out) ||
	    !check_queue_args(req, r.s, out))
		return;
	struct lp_def_queue *c = calloc(1, sizeof(*c));
	if (!c || dup_args(&c->args, req->args, req->args_len) < 0) {
		free(c);
		reply(out, LP_AMQP_INTERNAL_ERROR, "out of memory");
		return;
	}
	copy_name(c->vhost, req->vhost);
	copy_name(c->name, name);
	c->durable = durable;
	c->exclusive = exclusive;
	c->auto_delete = auto_delete;
	c->owner_conn = exclusive ? req->conn_id : 0;
	c->owner_shard = req->worker;
	c->store_id = durable ? ++d->last_store_id : 0;
	c->args_len = req->args_len;
	list_append(d, LP_DEF_QUEUE, c);
	queue_result(c, out);
}

static bool empty_queue_name(const char *name, struct lp_def_reply *out)
{
	if (name[0])
		return false;
	/* rabbit_channel:expand_queue_name_shortcut/2, when the channel has
	 * declared nothing (the dataplane expands the shortcut otherwise) */
	reply(out, LP_AMQP_NOT_FOUND, "no previously declared queue");
	return true;
}

static void queue_delete(struct lp_defs *d, const struct lp_ctl_def_req *req,
			 struct lp_def_reply *out)
{
	char name[LP_DEF_NAME_MAX + 1];
	strip_cr_lf(name, req->name);
	if (empty_queue_name(name, out) || !check_perm(d, req, PERM_CONFIGURE, "queue", name, out))
		return;
	copy_name(out->queue, name);
	struct lp_def_queue *q = find_q(d, req->vhost, name);
	if (!q)
		return; /* RabbitMQ: Delete-Ok with message count 0 */
	if (!check_exclusive(q, req->conn_id, false, false, out))
		return;
	queue_result(q, out);
	if (req->flags & (LP_CTL_F_IF_UNUSED | LP_CTL_F_IF_EMPTY)) {
		if (!(req->flags & LP_CTL_F_COUNTS)) {
			out->status = LP_CTL_RES_NEED_COUNTS;
			return;
		}
		struct rs r = rs("queue", req->vhost, name);
		if ((req->flags & LP_CTL_F_IF_UNUSED) && req->consumer_count) {
			reply(out, LP_AMQP_PRECONDITION_FAILED, "%s in use", r.s);
			return;
		}
		if ((req->flags & LP_CTL_F_IF_EMPTY) && req->message_count) {
			reply(out, LP_AMQP_PRECONDITION_FAILED, "%s not empty", r.s);
			return;
		}
	}
	delete_queue(d, q);
}

static void queue_purge(struct lp_defs *d, const struct lp_ctl_def_req *req,
			struct lp_def_reply *out)
{
	char name[LP_DEF_NAME_MAX + 1];
	strip_cr_lf(name, req->name);
	if (empty_queue_name(name, out) || !check_perm(d, req, PERM_READ, "queue", name, out))
		return;
	struct lp_def_queue *q = find_q(d, req->vhost, name);
	if (!q) {
		reply(out, LP_AMQP_NOT_FOUND, "no %s", rs("queue", req->vhost, name).s);
		return;
	}
	if (check_exclusive(q, req->conn_id, false, false, out))
		queue_result(q, out);
}

/* rabbit_channel:binding_action/10 */
static void binding_change(struct lp_defs *d, bool bind, const struct lp_ctl_def_req *req,
			   struct lp_def_reply *out)
{
	char source[LP_DEF_NAME_MAX + 1], dest[LP_DEF_NAME_MAX + 1];
	strip_cr_lf(source, req->source);
	strip_cr_lf(dest, req->name);
	const char *dkind = obj_kind(req->object);
	if (req->object == LP_CTL_OBJ_QUEUE && empty_queue_name(dest, out))
		return;
	if (!check_perm(d, req, PERM_WRITE, dkind, dest, out))
		return;
	if ((req->object == LP_CTL_OBJ_EXCHANGE && !check_not_default(dest, out)) ||
	    !check_not_default(source, out))
		return;
	if (!check_perm(d, req, PERM_READ, "exchange", source, out) || !args_table_ok(req, out))
		return;
	if (!find_x(d, req->vhost, source)) {
		reply(out, LP_AMQP_NOT_FOUND, "no %s", rs("exchange", req->vhost, source).s);
		return;
	}
	if (req->object == LP_CTL_OBJ_QUEUE) {
		struct lp_def_queue *q = find_q(d, req->vhost, dest);
		if (!q) {
			reply(out, LP_AMQP_NOT_FOUND, "no %s", rs("queue", req->vhost, dest).s);
			return;
		}
		if (!check_exclusive(q, req->conn_id, false, false, out))
			return;
		queue_result(q, out);
	} else if (!find_x(d, req->vhost, dest)) {
		reply(out, LP_AMQP_NOT_FOUND, "no %s", rs("exchange", req->vhost, dest).s);
		return;
	}
	struct lp_def_binding *b = find_binding(d, req->vhost, source, req->object, dest,
						req->routing_key, req->args, req->args_len);
	if (bind) {
		if (!b && add_binding(d, req->vhost, source, req->object, dest, req->routing_key,
				      req->args, req->args_len) < 0)
			reply(out, LP_AMQP_INTERNAL_ERROR, "out of memory");
		return;
	}
	if (b) { /* RabbitMQ: unbinding what is not bound succeeds */
		list_remove(d, LP_DEF_BINDING, b);
		maybe_auto_delete(d, req->vhost, source);
	}
}

void lp_defs_request(struct lp_defs *d, uint16_t type, const struct lp_ctl_def_req *req,
		     struct lp_def_reply *out)
{
	memset(out, 0, sizeof(*out));
	if (!lp_defs_find_vhost(d, req->vhost)) {
		/* rabbit_reader: the vhost went away under the connection */
		reply(out, LP_AMQP_NOT_ALLOWED, "vhost %s not found", req->vhost);
		return;
	}
	bool queue = req->object == LP_CTL_OBJ_QUEUE;
	switch (type) {
	case LP_CTL_DECLARE:
		if (queue)
			queue_declare(d, req, out);
		else
			exchange_declare(d, req, out);
		return;
	case LP_CTL_DELETE:
		if (queue)
			queue_delete(d, req, out);
		else
			exchange_delete(d, req, out);
		return;
	case LP_CTL_BIND:
	case LP_CTL_UNBIND:
		binding_change(d, type == LP_CTL_BIND, req, out);
		return;
	case LP_CTL_PURGE:
		if (queue)
			queue_purge(d, req, out);
		else
			reply(out, LP_AMQP_COMMAND_INVALID, "exchanges cannot be purged");
		return;
	default:
		reply(out, LP_AMQP_INTERNAL_ERROR, "unknown request type 0x%04x", type);
		return;
	}
}

unsigned lp_defs_connection_closed(struct lp_defs *d, uint64_t conn_id)
{
	unsigned n = 0;
	for (;;) {
		struct lp_def_queue *q = (void *)d->head[LP_DEF_QUEUE];
		while (q && !(q->exclusive && q->owner_conn == conn_id))
			q = q->next;
		if (!q)
			return n;
		delete_queue(d, q);
		n++;
	}
}

unsigned lp_defs_drop_exclusive(struct lp_defs *d)
{
	unsigned n = 0;
	for (;;) {
		struct lp_def_queue *q = (void *)d->head[LP_DEF_QUEUE];
		while (q && !q->exclusive)
			q = q->next;
		if (!q)
			return n;
		delete_queue(d, q);
		n++;
	}
}

int lp_defs_queue_unused(struct lp_defs *d, const char *vhost, const char *name, bool expires)
{
	struct lp_def_queue *q = find_q(d, vhost, name);
	if (!q)
		return -ENOENT;
	/* auto-delete after its last consumer, or x-expires after its lease */
	if (!q->auto_delete && !expires)
		return -EPERM;
	delete_queue(d, q);
	return 0;
}

void lp_defs_note_store_id(struct lp_defs *d, uint32_t id)
{
	if (id > d->last_store_id)
		d->last_store_id = id;
}

void lp_defs_fit_shards(struct lp_defs *d, unsigned n_workers)
{
	if (!n_workers)
		return;
	for (struct node *n = d->head[LP_DEF_QUEUE]; n; n = n->next) {
		struct lp_def_queue *q = (void *)n;
		q->owner_shard = (uint16_t)(q->owner_shard % n_workers);
	}
}
