/* SPDX-License-Identifier: MIT */
/*
 * SQLite persistence of the durable definitions (see store.h). Names are
 * stored as BLOBs (AMQP names are bytes, not necessarily UTF-8), argument
 * tables as the AMQP table body, password hashes base64 as RabbitMQ exports
 * them, with the hashing algorithm's name.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "store.h"

struct lp_store {
	sqlite3 *db;
	bool in_txn;
	bool failed;
	char error[256];
};

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
	"CREATE TABLE IF NOT EXISTS vhosts(name BLOB PRIMARY KEY);"
	"CREATE TABLE IF NOT EXISTS users(name BLOB PRIMARY KEY, password_hash TEXT,"
	" hashing_algorithm TEXT, tags BLOB);"
	"CREATE TABLE IF NOT EXISTS permissions(user BLOB, vhost BLOB, configure BLOB,"
	" write BLOB, read BLOB, PRIMARY KEY(user, vhost));"
	"CREATE TABLE IF NOT EXISTS exchanges(vhost BLOB, name BLOB, type INTEGER,"
	" auto_delete INTEGER, internal INTEGER, alternate BLOB, arguments BLOB,"
	" PRIMARY KEY(vhost, name));"
	"CREATE TABLE IF NOT EXISTS queues(vhost BLOB, name BLOB, auto_delete INTEGER,"
	" owner_shard INTEGER, arguments BLOB, store_id INTEGER DEFAULT 0, PRIMARY KEY(vhost, name));"
	"CREATE TABLE IF NOT EXISTS bindings(vhost BLOB, source BLOB, dest_kind INTEGER,"
	" destination BLOB, routing_key BLOB, arguments BLOB,"
	" PRIMARY KEY(vhost, source, dest_kind, destination, routing_key, arguments));";

/* Runtime parameters (policies.h): one row per policy, operator policy or
 * global parameter, the value as JSON text. */
static const char schema_params[] =
	"CREATE TABLE IF NOT EXISTS parameters(kind INTEGER, vhost BLOB, name BLOB, value TEXT,"
	" PRIMARY KEY(kind, vhost, name));";

static void set_error(struct lp_store *s, const char *what)
{
	snprintf(s->error, sizeof(s->error), "%s: %s", what, s->db ? sqlite3_errmsg(s->db) : "?");
}

const char *lp_store_error(struct lp_store *s)
{
	return s->error;
}

static int exec(struct lp_store *s, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	snprintf(s->error, sizeof(s->error), "%.60s...: %.180s", sql, msg ? msg : "?");
	sqlite3_free(msg);
	return -EIO;
}

static int mkdir_p(const char *dir)
{
	char path[4096];
	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	for (char *p = path + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(path, 0750) < 0 && errno != EEXIST)
				return -errno;
			*p = c;
			if (!c)
				break;
		}
	}
	return 0;
}

/* A database from before the message store has no queues.store_id: every
 * durable queue gets one (its rowid, unique), and last_store_id follows. */
static int migrate_store_ids(struct lp_store *s)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(s->db, "SELECT store_id FROM queues LIMIT 0", -1, &st, NULL) ==
	    SQLITE_OK) {
		sqlite3_finalize(st);
		return 0;
	}
	return exec(s, "ALTER TABLE queues ADD COLUMN store_id INTEGER DEFAULT 0;"
		       "UPDATE queues SET store_id = rowid WHERE store_id IS NULL OR store_id = 0;"
		       "INSERT OR REPLACE INTO meta(key, value)"
		       " SELECT 'last_store_id', MAX(store_id) FROM queues;");
}

struct lp_store *lp_store_open(const char *dir, char *err, size_t cap)
{
	int rc = mkdir_p(dir);
	if (rc < 0) {
		snprintf(err, cap, "cannot create %s: %s", dir, strerror(-rc));
		errno = -rc;
		return NULL;
	}
	struct lp_store *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, cap, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	char path[4200];
	snprintf(path, sizeof(path), "%s/definitions.db", dir);
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		snprintf(err, cap, "cannot open %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "?");
		goto fail;
	}
	sqlite3_busy_timeout(s->db, 2000);
	/* WAL: a commit is one append to the log; synchronous=FULL: fsync at
	 * every commit, so a committed change survives power loss. */
	if (exec(s, "PRAGMA journal_mode=WAL;") < 0 || exec(s, "PRAGMA synchronous=FULL;") < 0 ||
	    exec(s, schema) < 0 || exec(s, schema_params) < 0 || migrate_store_ids(s) < 0) {
		snprintf(err, cap, "%s", s->error);
		goto fail;
	}
	return s;
fail:
	sqlite3_close(s->db);
	free(s);
	errno = EIO;
	return NULL;
}

void lp_store_close(struct lp_store *s)
{
	if (!s)
		return;
	if (s->in_txn)
		exec(s, "ROLLBACK;");
	sqlite3_close(s->db);
	free(s);
}

bool lp_store_initialized(struct lp_store *s)
{
	sqlite3_stmt *st;
	bool yes = false;
	if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key='initialized'", -1, &st,
			       NULL) == SQLITE_OK) {
		yes = sqlite3_step(st) == SQLITE_ROW;
		sqlite3_finalize(st);
	}
	return yes;
}

int lp_store_mark_initialized(struct lp_store *s)
{
	return exec(s, "INSERT OR REPLACE INTO meta(key, value) VALUES('initialized', '1');");
}

int lp_store_begin(struct lp_store *s)
{
	if (s->in_txn)
		return 0;
	s->failed = false;
	if (exec(s, "BEGIN IMMEDIATE;") < 0)
		return -EIO;
	s->in_txn = true;
	return 0;
}

void lp_store_rollback(struct lp_store *s)
{
	if (s->in_txn)
		exec(s, "ROLLBACK;");
	s->in_txn = false;
	s->failed = false;
}

int lp_store_commit(struct lp_store *s)
{
	if (!s->in_txn)
		return s->failed ? -EIO : 0;
	if (s->failed) {
		lp_store_rollback(s);
		return -EIO;
	}
	s->in_txn = false;
	if (exec(s, "COMMIT;") < 0) {
		exec(s, "ROLLBACK;");
		return -EIO;
	}
	return 0;
}

/* Bind a name as a BLOB (never NULL: "" is a zero-length blob). */
static void bind_name(sqlite3_stmt *st, int i, const char *v)
{
	sqlite3_bind_blob(st, i, v, (int)strlen(v), SQLITE_STATIC);
}

static void bind_args(sqlite3_stmt *st, int i, const uint8_t *args, uint16_t len)
{
	sqlite3_bind_blob(st, i, len ? (const void *)args : "", len, SQLITE_STATIC);
}

/* Prepare sql and bind the remaining arguments by a tiny format:
 * 'n' name (const char *), 'i' int, 'a' args (const uint8_t *, int len). */
static void run(struct lp_store *s, const char *sql, const char *fmt, ...)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
		set_error(s, "prepare");
		s->failed = true;
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	int i = 1;
	for (const char *f = fmt; *f; f++, i++) {
		if (*f == 'n') {
			bind_name(st, i, va_arg(ap, const char *));
		} else if (*f == 'i') {
			sqlite3_bind_int(st, i, va_arg(ap, int));
		} else if (*f == 'u') {
			sqlite3_bind_int64(st, i, va_arg(ap, uint32_t));
		} else if (*f == 'a') {
			const uint8_t *a = va_arg(ap, const uint8_t *);
			bind_args(st, i, a, (uint16_t)va_arg(ap, int));
		} else if (*f == 's') {
			sqlite3_bind_text(st, i, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
		}
	}
	va_end(ap);
	if (sqlite3_step(st) != SQLITE_DONE) {
		set_error(s, "step");
		s->failed = true;
	}
	sqlite3_finalize(st);
}

void lp_store_change(struct lp_store *s, uint8_t op, enum lp_def_kind kind, const void *obj)
{
	bool add = op == LP_CTL_OP_ADD;
	switch (kind) {
	case LP_DEF_VHOST: {
		const struct lp_def_vhost *v = obj;
		run(s, add ? "INSERT OR REPLACE INTO vhosts(name) VALUES(?)"
			   : "DELETE FROM vhosts WHERE name=?", "n", v->name);
		break;
	}
	case LP_DEF_USER: {
		const struct lp_def_user *u = obj;
		if (!add) {
			run(s, "DELETE FROM users WHERE name=?", "n", u->name);
			break;
		}
		char b64[LP_PASSWORD_HASH_B64_LEN + 1] = "";
		if (u->has_hash)
			lp_base64_encode(b64, sizeof(b64), u->hash, LP_PASSWORD_HASH_LEN, false);
		run(s, "INSERT OR REPLACE INTO users(name, password_hash, hashing_algorithm, tags)"
		       " VALUES(?, ?, 'rabbit_password_hashing_sha256', ?)", "nsn", u->name, b64,
		    u->tags);
		break;
	}
	case LP_DEF_PERMISSION: {
		const struct lp_def_permission *p = obj;
		if (add)
			run(s, "INSERT OR REPLACE INTO permissions(user, vhost, configure, write, read)"
			       " VALUES(?, ?, ?, ?, ?)", "nnnnn", p->user, p->vhost, p->configure,
			    p->write, p->read);
		else
			run(s, "DELETE FROM permissions WHERE user=? AND vhost=?", "nn", p->user,
			    p->vhost);
		break;
	}
	case LP_DEF_EXCHANGE: {
		const struct lp_def_exchange *x = obj;
		if (!x->durable)
			break;
		if (add)
			run(s, "INSERT OR REPLACE INTO exchanges(vhost, name, type, auto_delete,"
			       " internal, alternate, arguments) VALUES(?, ?, ?, ?, ?, ?, ?)",
			    "nniiina", x->vhost, x->name, (int)x->type, (int)x->auto_delete,
			    (int)x->internal, x->alternate, x->args, (int)x->args_len);
		else
			run(s, "DELETE FROM exchanges WHERE vhost=? AND name=?", "nn", x->vhost, x->name);
		break;
	}
	case LP_DEF_QUEUE: {
		const struct lp_def_queue *q = obj;
		if (!q->durable)
			break;
		if (add)
		{
			run(s, "INSERT OR REPLACE INTO queues(vhost, name, auto_delete, owner_shard,"
			       " arguments, store_id) VALUES(?, ?, ?, ?, ?, ?)", "nniiau", q->vhost,
			    q->name, (int)q->auto_delete, (int)q->owner_shard, q->args,
			    (int)q->args_len, q->store_id);
			/* never reused, even once every queue that had one is gone */
			run(s, "INSERT INTO meta(key, value) VALUES('last_store_id', ?) ON CONFLICT(key)"
			       " DO UPDATE SET value=MAX(CAST(value AS INTEGER), excluded.value)", "u",
			    q->store_id);
		} else
			run(s, "DELETE FROM queues WHERE vhost=? AND name=?", "nn", q->vhost, q->name);
		break;
	}
	case LP_DEF_BINDING: {
		const struct lp_def_binding *b = obj;
		if (!b->durable)
			break;
		run(s, add ? "INSERT OR REPLACE INTO bindings(vhost, source, dest_kind, destination,"
			     " routing_key, arguments) VALUES(?, ?, ?, ?, ?, ?)"
			   : "DELETE FROM bindings WHERE vhost=? AND source=? AND dest_kind=? AND"
			     " destination=? AND routing_key=? AND arguments=?",
		    "nninna", b->vhost, b->source, (int)b->dest_kind, b->destination,
		    b->routing_key, b->args, (int)b->args_len);
		break;
	}
	}
}

/* Column c of the current row as a name; false when NULL-containing or too long. */
static bool col_name(sqlite3_stmt *st, int c, char dst[LP_DEF_NAME_MAX + 1])
{
	const void *p = sqlite3_column_blob(st, c);
	int n = sqlite3_column_bytes(st, c);
	if (n < 0 || n > LP_DEF_NAME_MAX || (n && (!p || memchr(p, 0, (size_t)n))))
		return false;
	if (n)
		memcpy(dst, p, (size_t)n);
	dst[n] = '\0';
	return true;
}

/* Column c as an arguments table (points into the row: copy before the
 * next step). */
static bool col_args(sqlite3_stmt *st, int c, uint8_t **args, uint16_t *len)
{
	const void *p = sqlite3_column_blob(st, c);
	int n = sqlite3_column_bytes(st, c);
	if (n < 0 || n > LP_CTL_ARGS_MAX)
		return false;
	*args = (uint8_t *)p;
	*len = (uint16_t)n;
	return true;
}

int lp_store_load(struct lp_store *s, struct lp_defs *d)
{
	static const char *const queries[] = {
		"SELECT name FROM vhosts ORDER BY rowid",
		"SELECT name, password_hash, tags FROM users ORDER BY rowid",
		"SELECT user, vhost, configure, write, read FROM permissions ORDER BY rowid",
		"SELECT vhost, name, type, auto_delete, internal, alternate, arguments FROM exchanges"
		" ORDER BY rowid",
		"SELECT vhost, name, auto_delete, owner_shard, arguments, store_id FROM queues"
		" ORDER BY rowid",
		"SELECT vhost, source, dest_kind, destination, routing_key, arguments FROM bindings"
		" ORDER BY rowid",
	};
	static const enum lp_def_kind kinds[] = { LP_DEF_VHOST, LP_DEF_USER, LP_DEF_PERMISSION,
						  LP_DEF_EXCHANGE, LP_DEF_QUEUE, LP_DEF_BINDING };
	sqlite3_stmt *st_last;
	int rc = 0;
	for (size_t k = 0; k < 6 && rc == 0; k++) {
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(s->db, queries[k], -1, &st, NULL) != SQLITE_OK) {
			set_error(s, "load");
			return -EIO;
		}
		int step = SQLITE_DONE;
		while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
			bool ok = true;
			union {
				struct lp_def_vhost v;
				struct lp_def_user u;
				struct lp_def_permission p;
				struct lp_def_exchange x;
				struct lp_def_queue q;
				struct lp_def_binding b;
			} o;
			memset(&o, 0, sizeof(o));
			switch (kinds[k]) {
			case LP_DEF_VHOST:
				ok = col_name(st, 0, o.v.name);
				break;
			case LP_DEF_USER: {
				ok = col_name(st, 0, o.u.name) && col_name(st, 2, o.u.tags);
				const char *b64 = (const char *)sqlite3_column_text(st, 1);
				if (ok && b64 && b64[0]) {
					ok = lp_base64_decode(o.u.hash, sizeof(o.u.hash), b64) ==
					     LP_PASSWORD_HASH_LEN;
					o.u.has_hash = true;
				}
				break;
			}
			case LP_DEF_PERMISSION:
				ok = col_name(st, 0, o.p.user) && col_name(st, 1, o.p.vhost) &&
				     col_name(st, 2, o.p.configure) && col_name(st, 3, o.p.write) &&
				     col_name(st, 4, o.p.read);
				break;
			case LP_DEF_EXCHANGE:
				ok = col_name(st, 0, o.x.vhost) && col_name(st, 1, o.x.name) &&
				     col_name(st, 5, o.x.alternate) &&
				     col_args(st, 6, &o.x.args, &o.x.args_len);
				o.x.type = (uint8_t)sqlite3_column_int(st, 2);
				o.x.auto_delete = sqlite3_column_int(st, 3);
				o.x.internal = sqlite3_column_int(st, 4);
				o.x.durable = true;
				ok = ok && o.x.type >= LP_CTL_XT_DIRECT && o.x.type <= LP_CTL_XT_HEADERS;
				break;
			case LP_DEF_QUEUE:
				ok = col_name(st, 0, o.q.vhost) && col_name(st, 1, o.q.name) &&
				     col_args(st, 4, &o.q.args, &o.q.args_len);
				o.q.auto_delete = sqlite3_column_int(st, 2);
				o.q.owner_shard = (uint16_t)sqlite3_column_int(st, 3);
				o.q.store_id = (uint32_t)sqlite3_column_int64(st, 5);
				o.q.durable = true;
				break;
			case LP_DEF_BINDING:
				ok = col_name(st, 0, o.b.vhost) && col_name(st, 1, o.b.source) &&
				     col_name(st, 3, o.b.destination) && col_name(st, 4, o.b.routing_key) &&
				     col_args(st, 5, &o.b.args, &o.b.args_len);
				o.b.dest_kind = (uint8_t)sqlite3_column_int(st, 2);
				ok = ok && (o.b.dest_kind == LP_CTL_OBJ_EXCHANGE ||
					    o.b.dest_kind == LP_CTL_OBJ_QUEUE);
				break;
			}
			if (!ok) {
				snprintf(s->error, sizeof(s->error), "bad row in %s", queries[k]);
				rc = -EBADMSG;
				break;
			}
			int r = lp_defs_insert(d, kinds[k], &o);
			if (r < 0 && r != -EEXIST) {
				snprintf(s->error, sizeof(s->error), "cannot restore a row of %s: %s",
					 queries[k], strerror(-r));
				rc = r == -ENOMEM ? r : -EBADMSG;
			}
		}
		if (rc == 0 && step != SQLITE_DONE) {
			set_error(s, "load");
			rc = -EIO;
		}
		sqlite3_finalize(st);
	}
	if (rc == 0 && sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key='last_store_id'",
					  -1, &st_last, NULL) == SQLITE_OK) {
		if (sqlite3_step(st_last) == SQLITE_ROW)
			lp_defs_note_store_id(d, (uint32_t)sqlite3_column_int64(st_last, 0));
		sqlite3_finalize(st_last);
	}
	return rc;
}

void lp_store_param_change(struct lp_store *s, uint8_t op, const struct lp_param *p)
{
	if (op != LP_CTL_OP_ADD) {
		run(s, "DELETE FROM parameters WHERE kind=? AND vhost=? AND name=?", "inn",
		    (int)p->kind, p->vhost, p->name);
		return;
	}
	char *text = json_dumps(p->value, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!text) {
		snprintf(s->error, sizeof(s->error), "cannot encode parameter '%.200s'", p->name);
		s->failed = true;
		return;
	}
	run(s, "INSERT OR REPLACE INTO parameters(kind, vhost, name, value) VALUES(?, ?, ?, ?)",
	    "inns", (int)p->kind, p->vhost, p->name, text);
	free(text);
}

int lp_store_params_load(struct lp_store *s, struct lp_params *params)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, "SELECT kind, vhost, name, value FROM parameters ORDER BY rowid",
			       -1, &st, NULL) != SQLITE_OK) {
		set_error(s, "load parameters");
		return -EIO;
	}
	int rc = 0, step;
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		char vhost[LP_DEF_NAME_MAX + 1], name[LP_DEF_NAME_MAX + 1];
		int kind = sqlite3_column_int(st, 0);
		const char *text = (const char *)sqlite3_column_text(st, 3);
		json_t *v = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
		if (!col_name(st, 1, vhost) || !col_name(st, 2, name) || !v ||
		    kind < LP_PARAM_POLICY || kind > LP_PARAM_GLOBAL) {
			snprintf(s->error, sizeof(s->error), "bad row in parameters");
			rc = -EBADMSG;
		} else {
			int r = lp_params_insert(params, (uint8_t)kind, vhost, name, v);
			rc = r == -ENOMEM ? r : 0;
		}
		json_decref(v);
	}
	if (rc == 0 && step != SQLITE_DONE) {
		set_error(s, "load parameters");
		rc = -EIO;
	}
	sqlite3_finalize(st);
	return rc;
}
