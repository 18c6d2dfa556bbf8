/* SPDX-License-Identifier: MIT */
/*
 * What the files of lepus-control's control-protocol server share (the public
 * interface is ctl_server.h). The server is split by concept:
 *   ctl_server.c   listening socket, the poll() loop, accept, receive,
 *                  timeouts and the dispatch of each message to its handler;
 *   ctl_peer.c     one connection: output queue, send, close, HELLO and
 *                  HEARTBEAT;
 *   ctl_status.c   the control plane's view of the dataplane (drop names,
 *                  stats) and the resumable STATUS response to lepusctl;
 *   ctl_sync.c     definitions -> dataplane: encoded objects, the change
 *                  batch of one request, full batches;
 *   ctl_request.c  definition and admin requests (-> definitions.c, RESULT).
 * Everything here is single-threaded: it runs inside lp_ctl_server_run().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>

#include "ctl_server.h"
#include "definitions.h"
#include "lp_ctl.h"

#ifndef LP_VERSION
#define LP_VERSION "unknown"
#endif

#define MAX_PEERS 64
#define DEAD_AFTER_NS (LP_CTL_HEARTBEAT_MISSES * LP_CTL_HEARTBEAT_INTERVAL_NS)
#define OUTQ_MAX (64u << 20) /* bytes waiting for one peer before it is dropped */

enum resp_stage { RESP_NONE, RESP_HEAD, RESP_NAMES, RESP_STATS };

/* One encoded datagram waiting to be sent. */
struct outmsg {
	struct outmsg *next;
	size_t len;
	uint8_t data[];
};

struct outq {
	struct outmsg *head;
	struct outmsg **tail;
	size_t bytes;
	unsigned n;
};

struct peer {
	int fd;          /* -1: free slot */
	unsigned id;     /* for log lines */
	uint16_t role;   /* 0 until HELLO is accepted */
	uint32_t pid;
	uint32_t seq;    /* of our messages to this peer */
	uint64_t last_rx_ns;
	/* status response in progress (cli) */
	enum resp_stage stage;
	unsigned next_worker;
	uint64_t resp_gen;
	struct outq out; /* waiting for POLLOUT */
};

/* What control knows about the connected dataplane. */
struct dp_view {
	int peer; /* slot, -1 when none */
	struct lp_ctl_hello hello;
	uint64_t connected_ns;
	bool have_names;
	struct lp_ctl_drop_names names;
	uint64_t *stats; /* hello.n_workers x (LP_CTL_STAT_DROP0 + names.n) */
	bool have_stats;
	uint64_t stats_rx_ns;
	uint64_t gen; /* bumped whenever the layout of stats changes */
};

#define LP_SYNC_DIRTY_MAX 8

struct lp_ctl_server {
	struct sockaddr_un addr;
	int listen_fd;
	dev_t sock_dev;
	ino_t sock_ino;
	uint64_t start_ns;
	unsigned next_peer_id;
	struct peer peers[MAX_PEERS];
	struct dp_view dp;
	struct lp_ctl_msg msg;
	uint8_t buf[LP_CTL_MSG_MAX];

	/* definitions (NULL until lp_ctl_server_set_definitions) */
	struct lp_defs *defs;
	struct lp_store *store;
	struct lp_params *params; /* NULL until lp_ctl_server_set_params */
	uint64_t version;      /* of the last delta batch */
	uint32_t last_dp_pid;  /* 0: no dataplane seen yet */
	bool in_change;
	struct outq batch;     /* encoded objects of the change in progress */
	uint32_t batch_n;      /* changes in it (also counted with no dataplane) */
	struct lp_ctl_msg omsg; /* the object being encoded */
	uint8_t obuf[LP_CTL_MSG_MAX];
	uint8_t qargs[LP_CTL_ARGS_MAX]; /* a queue's effective arguments (policy_effect.h) */
	/* Policies changed in this change: the vhosts whose queues and
	 * exchanges lp_sync_change_end() sends again (n_dirty > LP_SYNC_DIRTY_MAX:
	 * every vhost). */
	char dirty[LP_SYNC_DIRTY_MAX][LP_DEF_NAME_MAX + 1];
	unsigned n_dirty;
	uint8_t args[LP_CTL_ARGS_MAX]; /* a request's arguments, copied out of buf */

	bool have_hook;
	struct lp_ctl_poll_hook hook; /* another service in the loop (HTTP API) */
};

/* ---- ctl_peer.c --------------------------------------------------------- */

/* "dataplane", "cli", or "peer" (no role yet). */
const char *lp_peer_role_name(uint16_t role);

void lp_outq_init(struct outq *q);
/* Free every queued message; q is empty afterwards. */
void lp_outq_clear(struct outq *q);
/* Append a copy of data[0..len). 0 or -ENOMEM. */
int lp_outq_push(struct outq *q, const void *data, size_t len);
/* Send what p's queue holds until its socket is full. 0 or -errno. */
int lp_outq_flush(struct peer *p);

/* Write seq into an encoded datagram's header. */
void lp_peer_stamp_seq(uint8_t *dgram, uint32_t seq);
/* Send dgram (seq already stamped) to p now, or queue a copy behind what
 * waits. 0, -ENOBUFS (queue limit reached), or another -errno. */
int lp_peer_send_raw(struct peer *p, const uint8_t *dgram, size_t len);
/* Encode s->msg with p's next seq and send it to p, or queue it when p's
 * socket is full. 0, -ENOBUFS (p's queue is at its limit), or another -errno. */
int lp_peer_send(struct lp_ctl_server *s, struct peer *p);
/* lp_peer_send(), closing p on failure. Returns false when p was closed. */
bool lp_peer_send_or_close(struct lp_ctl_server *s, struct peer *p);
/* Log why, close p's socket and free its slot (and the dataplane view when p
 * is the dataplane). */
void lp_peer_close(struct lp_ctl_server *s, struct peer *p, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Answer a HELLO with HELLO_NAK(reason, text) and close p. */
void lp_peer_refuse(struct lp_ctl_server *s, struct peer *p, uint16_t reason, const char *text);

/* ---- ctl_status.c ------------------------------------------------------- */

/* Forget the dataplane (no peer, no names, no stats); bumps its gen. */
void lp_status_dp_clear(struct dp_view *dp);
/* Advance p's status response as far as its socket allows. */
void lp_status_flush(struct lp_ctl_server *s, struct peer *p, uint64_t now);

/* ---- ctl_sync.c --------------------------------------------------------- */

/* A change to the definitions starts: a store transaction and an empty batch. */
void lp_sync_change_begin(struct lp_ctl_server *s);
/* Commit the change in progress and publish it to the dataplane as the next
 * delta batch. Returns 0, or -EIO when the store could not commit it (logged;
 * the change stays in memory and is published all the same, but a restart
 * loses it). */
int lp_sync_change_end(struct lp_ctl_server *s);
/* Queue a full batch of the objects `what` asks for (LP_CTL_LIST_*), in
 * vhost (all when empty), to p; for_cli withholds password hashes. Closes p
 * when the batch cannot be encoded or sent. */
void lp_sync_send_full(struct lp_ctl_server *s, struct peer *p, uint16_t what,
		       const char *vhost, bool for_cli);
/* A dataplane was accepted: forget the exclusive queues of a previous one,
 * then send it everything. Nothing without definitions. */
void lp_sync_dataplane(struct lp_ctl_server *s, struct peer *p);

/* ---- message handlers ------------------------------------------------- */

/* Who may send a message type: bit (1 << peer role); role 0 is a peer that
 * has not said HELLO yet. */
enum ctl_from {
	CTL_FROM_NEW = 1u << 0,
	CTL_FROM_DATAPLANE = 1u << LP_CTL_ROLE_DATAPLANE,
	CTL_FROM_CLI = 1u << LP_CTL_ROLE_CLI,
};

/*
 * One message type lepus-control accepts (in the spirit of grout's
 * api_handler): each concept's file declares its own in a table below; the
 * loop (ctl_server.c) finds the entry of a decoded message's type and calls
 * fn only when the sender's role is in `from` and, for needs_defs, when
 * definitions are served (lp_ctl_server_set_definitions). Anything else
 * closes the peer: "expected HELLO, got T" before HELLO, "unexpected T from
 * a R" after. fn reads the message from s->msg and may close p.
 */
struct ctl_handler {
	uint16_t type;   /* enum lp_ctl_type */
	uint8_t from;    /* enum ctl_from bits */
	bool needs_defs;
	void (*fn)(struct lp_ctl_server *s, struct peer *p, uint64_t now);
};

/* Each table ends with an entry whose fn is NULL; a type is in one table at
 * most. */
extern const struct ctl_handler lp_peer_handlers[];    /* ctl_peer.c */
extern const struct ctl_handler lp_status_handlers[];  /* ctl_status.c */
extern const struct ctl_handler lp_request_handlers[]; /* ctl_request.c */
