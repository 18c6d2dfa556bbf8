/* SPDX-License-Identifier: MIT */
/*
 * Durable definitions on disk: vhosts, users, permissions, durable exchanges
 * and queues, and bindings between durable objects, in an SQLite database
 * (DIR/definitions.db, journal_mode=WAL, synchronous=FULL), like RabbitMQ's
 * metadata store. Transient objects never reach it.
 *
 * ctl_sync.c wraps each request in lp_store_begin() .. lp_store_commit():
 * the definitions' sink (definitions.h) calls lp_store_change() for every
 * object added or removed, so one declaration with its cascades is one
 * transaction; a crash before COMMIT leaves the previous state. At start
 * lp_store_load() rebuilds the definitions from the database.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "definitions.h"
#include "policies.h"

struct lp_store;

/*
 * Open (creating directory and schema if needed) DIR/definitions.db.
 * Returns the store, or NULL with errno and a reason in err (cap bytes).
 */
struct lp_store *lp_store_open(const char *dir, char *err, size_t cap);

/* Close the database; an open transaction is rolled back. s may be NULL. */
void lp_store_close(struct lp_store *s);

/* Has this database been initialised (defaults created once)? */
bool lp_store_initialized(struct lp_store *s);

/* Add every stored object to d (through lp_defs_insert(); d's sink should
 * not write back to this store meanwhile). Returns 0 or -errno (-EIO on a
 * database error, -EBADMSG on a row that cannot be restored). */
int lp_store_load(struct lp_store *s, struct lp_defs *d);

/* Transactions. begin: 0 or -EIO. commit: 0, or -EIO when a change or the
 * COMMIT failed (then everything since begin is rolled back). A change
 * outside a transaction runs in its own (SQLite autocommit). */
int lp_store_begin(struct lp_store *s);
int lp_store_commit(struct lp_store *s);
void lp_store_rollback(struct lp_store *s);

/* Record that the definitions were initialised. 0 or -EIO. */
int lp_store_mark_initialized(struct lp_store *s);

/* One change from the definitions' sink (op LP_CTL_OP_ADD or LP_CTL_OP_DEL).
 * Transient exchanges and queues, and bindings that are not durable, are
 * ignored. Errors are remembered and reported by lp_store_commit(). */
void lp_store_change(struct lp_store *s, uint8_t op, enum lp_def_kind kind, const void *obj);

/* Runtime parameters (policies.h), in the same database and transactions:
 * one change from the parameters' sink (errors reported by commit), and
 * every stored parameter into params (lp_params_insert). Load returns 0,
 * -EIO, -EBADMSG (a row that cannot be restored) or -ENOMEM. */
void lp_store_param_change(struct lp_store *s, uint8_t op, const struct lp_param *p);
int lp_store_params_load(struct lp_store *s, struct lp_params *params);

/* Last SQLite error message, for logs. */
const char *lp_store_error(struct lp_store *s);
