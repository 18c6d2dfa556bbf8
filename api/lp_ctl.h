/* SPDX-License-Identifier: MIT */
/*
 * The Lepus control protocol: the one wire-stable interface shared by
 * lepus-dataplane (dataplane/ctl_link.c), lepus-control (control/ctl_server.c)
 * and lepusctl (control/lepusctl.c). Nothing else is shared between the
 * processes.
 *
 * Transport: a UNIX SOCK_SEQPACKET socket served by lepus-control (default
 * LP_CTL_DEFAULT_SOCKET). Each datagram carries exactly one message: a 16-byte
 * header followed by `length` payload bytes. All integers are little-endian on
 * the wire, whatever the host; strings are a u8 length followed by that many
 * printable ASCII bytes (0x20..0x7e), no terminator. IPv4 addresses are four
 * bytes in network order (as they appear in the IP header), MACs six bytes.
 *
 * Session: every peer opens with HELLO naming its role. The dataplane and
 * lepusctl use the same socket: role LP_CTL_ROLE_DATAPLANE or LP_CTL_ROLE_CLI.
 * lepus-control answers HELLO_ACK or HELLO_NAK (and then closes).
 *   dataplane -> control: HELLO, then DROP_NAMES once, then every second
 *                         HEARTBEAT and STATS (one or more messages per sample)
 *                         and QUEUE_STATS (one or more per worker);
 *   control -> dataplane: HELLO_ACK, a HEARTBEAT echoing each one received;
 *   cli -> control:       HELLO, STATUS_REQ;
 *   control -> cli:       HELLO_ACK, STATUS_RESP followed by DROP_NAMES (when
 *                         the response announces n_reasons > 0) and STATS
 *                         messages covering the n_workers it announces.
 * A peer that hears nothing for LP_CTL_HEARTBEAT_MISSES heartbeat intervals
 * declares the other side dead and closes the connection.
 *
 * Versioning: the header layout (magic, version, type, length, seq) never
 * changes. `version` is the protocol version; a receiver rejects a message of
 * another version, and lepus-control answers a HELLO of another version with
 * HELLO_NAK(LP_CTL_NAK_VERSION) in its own version, which the peer can decode
 * because the header is frozen. Payload layouts of existing types change only
 * with a version bump. New message types may be added without a bump: a
 * receiver ignores a well-formed message of a type it does not know
 * (lp_ctl_decode() returns -ENOTSUP for it). Type ranges are reserved for what
 * comes next: 0x01xx definitions (vhosts, exchanges, queues, bindings),
 * 0x02xx topology publication, 0x03xx users and permissions. HELLO carries a
 * `features` bit set for optional capabilities (none defined yet, send 0).
 * The definition, topology and user messages below were added in those
 * ranges without a version bump (no existing layout changed).
 *
 * Definitions (see "Definitions and topology" further down for the whole
 * exchange): the dataplane sends DECLARE, DELETE, BIND, UNBIND and PURGE
 * requests; lepus-control checks them as RabbitMQ does, applies them, sends
 * the resulting topology change as one TOPO batch and then a RESULT; the
 * dataplane also reports CONNECTION_CLOSED and QUEUE_UNUSED. lepusctl sends
 * LIST_REQ (answered by a TOPO batch) and ADMIN_REQ (answered by a RESULT).
 *
 * Robustness: every decoder checks every length and count before use and
 * rejects a message whose header length differs from the datagram's size, or
 * whose payload has bytes left over; a peer sending a malformed message is
 * disconnected with a logged reason.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LP_CTL_MAGIC 0x5443504cu /* "LPCT" as little-endian bytes */
#define LP_CTL_VERSION 4 /* 4: LP_CTL_OP_UPDATE */
#define LP_CTL_DEFAULT_SOCKET "/run/lepus/control.sock"

#define LP_CTL_HDR_LEN 16
#define LP_CTL_MSG_MAX 65536 /* a whole datagram, header included */

#define LP_CTL_HEARTBEAT_INTERVAL_NS 1000000000ull
#define LP_CTL_HEARTBEAT_MISSES 3
#define LP_CTL_STATS_INTERVAL_NS 1000000000ull

/* Limits; a message exceeding one is malformed. */
#define LP_CTL_MAX_WORKERS 256
#define LP_CTL_MAX_DROP_REASONS 128
#define LP_CTL_VERSION_STR_MAX 63  /* software version strings */
#define LP_CTL_DRIVER_MAX 31       /* port driver name */
#define LP_CTL_DROP_NAME_MAX 47    /* one drop reason name */
#define LP_CTL_TEXT_MAX 200        /* HELLO_NAK text */

/* Header, LP_CTL_HDR_LEN bytes on the wire:
 *   u32 magic = LP_CTL_MAGIC, u16 version, u16 type,
 *   u32 length (payload bytes after the header), u32 seq (per sender, from 1) */
enum lp_ctl_type {
	LP_CTL_HELLO = 0x0001,
	LP_CTL_HELLO_ACK = 0x0002,
	LP_CTL_HELLO_NAK = 0x0003,
	LP_CTL_HEARTBEAT = 0x0004,
	LP_CTL_DROP_NAMES = 0x0010,
	LP_CTL_STATS = 0x0011,
	LP_CTL_STATUS_REQ = 0x0020,
	LP_CTL_STATUS_RESP = 0x0021,
	/* 0x0100..0x01ff definitions */
	LP_CTL_DECLARE = 0x0101,           /* dataplane -> control, lp_ctl_def_req */
	LP_CTL_DELETE = 0x0102,            /* dataplane -> control, lp_ctl_def_req */
	LP_CTL_BIND = 0x0103,              /* dataplane -> control, lp_ctl_def_req */
	LP_CTL_UNBIND = 0x0104,            /* dataplane -> control, lp_ctl_def_req */
	LP_CTL_PURGE = 0x0105,             /* dataplane -> control, lp_ctl_def_req */
	LP_CTL_RESULT = 0x0110,            /* control -> dataplane or cli */
	LP_CTL_CONNECTION_CLOSED = 0x0120, /* dataplane -> control */
	LP_CTL_QUEUE_UNUSED = 0x0121,      /* dataplane -> control */
	LP_CTL_QUEUE_STATS = 0x0122,       /* dataplane -> control, every second */
	LP_CTL_LIST_REQ = 0x0130,          /* cli -> control */
	/* 0x0200..0x02ff topology, control -> dataplane or cli */
	LP_CTL_TOPO_BEGIN = 0x0201,
	LP_CTL_TOPO_END = 0x0202,
	LP_CTL_TOPO_VHOST = 0x0210,
	LP_CTL_TOPO_EXCHANGE = 0x0211,
	LP_CTL_TOPO_QUEUE = 0x0212,
	LP_CTL_TOPO_BINDING = 0x0213,
	/* 0x0300..0x03ff users and permissions */
	LP_CTL_USER = 0x0301,              /* control -> dataplane or cli */
	LP_CTL_PERMISSION = 0x0302,        /* control -> dataplane or cli */
	LP_CTL_ADMIN_REQ = 0x0310,         /* cli -> control */
};

enum lp_ctl_role {
	LP_CTL_ROLE_DATAPLANE = 1,
	LP_CTL_ROLE_CLI = 2,
};

enum lp_ctl_nak_reason {
	LP_CTL_NAK_VERSION = 1,   /* protocol version not supported */
	LP_CTL_NAK_ROLE = 2,      /* unknown role */
	LP_CTL_NAK_BUSY = 3,      /* another live dataplane is connected */
	LP_CTL_NAK_MALFORMED = 4, /* HELLO was not well formed */
	LP_CTL_NAK_LIMIT = 5,     /* too many peers */
};

/*
 * HELLO payload:
 *   u16 role, u16 proto_version (= header version), u32 pid, u32 features,
 *   u16 n_workers (0 for a CLI, else 1..LP_CTL_MAX_WORKERS), u8 ip[4], u8 mac[6],
 *   str version, str driver.
 * The same body (without role/proto_version/features meaning anything) is
 * embedded in STATUS_RESP to describe the connected dataplane.
 */
struct lp_ctl_hello {
	uint16_t role;
	uint16_t proto_version;
	uint32_t pid;
	uint32_t features;
	uint16_t n_workers;
	uint8_t ip[4];
	uint8_t mac[6];
	char version[LP_CTL_VERSION_STR_MAX + 1];
	char driver[LP_CTL_DRIVER_MAX + 1];
};

/* HELLO_ACK payload: u16 proto_version, u32 pid (of lepus-control),
 * u32 features (accepted subset), str version. */
struct lp_ctl_hello_ack {
	uint16_t proto_version;
	uint32_t pid;
	uint32_t features;
	char version[LP_CTL_VERSION_STR_MAX + 1];
};

/* HELLO_NAK payload: u16 reason (enum lp_ctl_nak_reason),
 * u16 proto_version (what the sender speaks), str text. */
struct lp_ctl_hello_nak {
	uint16_t reason;
	uint16_t proto_version;
	char text[LP_CTL_TEXT_MAX + 1];
};

/* HEARTBEAT payload: u64 time_ns (sender's CLOCK_MONOTONIC),
 * u64 echo_ns (time_ns of the heartbeat this answers, 0 if none). */
struct lp_ctl_heartbeat {
	uint64_t time_ns;
	uint64_t echo_ns;
};

/* DROP_NAMES payload: u16 n (0..LP_CTL_MAX_DROP_REASONS), n x str name
 * (1..LP_CTL_DROP_NAME_MAX bytes). Index i names drop counter i in STATS. */
struct lp_ctl_drop_names {
	uint16_t n;
	char name[LP_CTL_MAX_DROP_REASONS][LP_CTL_DROP_NAME_MAX + 1];
};

/*
 * STATS payload: u64 time_ns (sender's CLOCK_MONOTONIC when sampled),
 *   u16 n_workers_total (1..LP_CTL_MAX_WORKERS), u16 first_worker,
 *   u16 n_workers (>= 1, first_worker + n_workers <= n_workers_total),
 *   u16 n_reasons (0..LP_CTL_MAX_DROP_REASONS), then n_workers records of
 *   (6 + n_reasons) u64: rx_packets, rx_bytes, tx_packets, tx_bytes, alarms,
 *   blocked_publishers, drops[].
 * One sample larger than a message is split over several STATS messages with
 * the same time_ns; lp_ctl_stats_workers_per_msg() says how many fit.
 */
enum {
	LP_CTL_STAT_RX_PACKETS,
	LP_CTL_STAT_RX_BYTES,
	LP_CTL_STAT_TX_PACKETS,
	LP_CTL_STAT_TX_BYTES,
	LP_CTL_STAT_ALARMS,     /* gauge: LP_CTL_ALARM_* raised on the worker */
	LP_CTL_STAT_BLOCKED,    /* gauge: its publishing connections paused */
	LP_CTL_STAT_DROP0, /* drop counter i is at LP_CTL_STAT_DROP0 + i */
};

/* Resource alarms (LP_CTL_STAT_ALARMS bits; the broker's LP_BROKER_ALARM_*). */
enum {
	LP_CTL_ALARM_MEMORY = 1u << 0, /* the worker's message pool past its watermark */
	LP_CTL_ALARM_DISK = 1u << 1,   /* the data directory's free space under the limit */
};

struct lp_ctl_stats {
	uint64_t time_ns;
	uint16_t n_workers_total;
	uint16_t first_worker;
	uint16_t n_workers;
	uint16_t n_reasons;
	/* Encode input: n_workers rows of (LP_CTL_STAT_DROP0 + n_reasons) counters,
	 * host order, row r describing worker first_worker + r. */
	const uint64_t *rows;
	/* Decode output: a view into the decoded buffer (valid while it is);
	 * read it with lp_ctl_stats_get(). */
	const uint8_t *records;
};

/* STATUS_REQ payload: u32 flags (0). */
struct lp_ctl_status_req {
	uint32_t flags;
};

/*
 * STATUS_RESP payload: u64 uptime_ns (of lepus-control), u32 pid (of
 *   lepus-control), str version, u8 dp_connected (0/1), the HELLO body of the
 *   dataplane (zeros when not connected), u64 dp_connected_ns (how long it has
 *   been connected), u64 stats_age_ns (how long ago the latest STATS arrived,
 *   UINT64_MAX if none), u16 n_workers, u16 n_reasons: the STATS records and
 *   drop names that follow in DROP_NAMES and STATS messages.
 */
struct lp_ctl_status_resp {
	uint64_t uptime_ns;
	uint32_t pid;
	char version[LP_CTL_VERSION_STR_MAX + 1];
	uint8_t dp_connected;
	struct lp_ctl_hello dp;
	uint64_t dp_connected_ns;
	uint64_t stats_age_ns;
	uint16_t n_workers;
	uint16_t n_reasons;
};

/*
 * ---- Definitions and topology --------------------------------------------
 *
 * Names (vhosts, users, exchanges, queues, routing keys, regexes, tags, reply
 * texts) are "name" fields: a u8 length then that many bytes, any value but
 * 0x00 (AMQP short strings are binary; a name holding NUL cannot be sent and
 * is refused by lp_ctl_encode()). Arguments tables are a u16 length (at most
 * LP_CTL_ARGS_MAX) then the body of the AMQP field table (spec 4.2.5.5: the
 * entries, without the table's own u32 length), passed as a view.
 *
 * One declaration:
 *   dataplane: DECLARE/DELETE/BIND/UNBIND/PURGE (req_id unique per link)
 *   control:   checks (permissions, names, equivalence, exclusivity, ...);
 *              on success applies the change, persists what is durable, and
 *              sends the change as one TOPO batch stamped with version v;
 *              then RESULT(req_id, reply_code 0, version v). A request that
 *              changes nothing (equivalent redeclare, passive declare, purge,
 *              deleting what does not exist) gets the current version.
 *              A refused request gets RESULT with the AMQP reply code and
 *              reply text (the whole text as sent to the client, e.g.
 *              "NOT_FOUND - no queue 'q' in vhost '/'") and no batch.
 *   dataplane: publishes snapshot >= version before answering the client.
 * Batches and RESULTs travel on one ordered socket, so a RESULT is always
 * read after the batch it refers to.
 *
 * Queue counts: lepus-control does not know message or consumer counts; the
 * queue's owner shard does. Queue.Delete with if-unused or if-empty is
 * therefore answered in up to two steps: a DELETE without LP_CTL_F_COUNTS is
 * checked (permissions, exclusivity) and, when the queue exists, answered
 * with status LP_CTL_RES_NEED_COUNTS and the owner shard, changing nothing;
 * the dataplane then has the owner shard read its counts and sends the same
 * DELETE again with LP_CTL_F_COUNTS, message_count and consumer_count, which
 * lepus-control turns into 406 "... in use" / "... not empty" or the delete.
 * A dataplane that has the counts at hand may send LP_CTL_F_COUNTS at once.
 * Queue.Declare-Ok and Purge-Ok counts and Delete-Ok's message count come
 * from the owner shard too; RESULT names it (owner_shard).
 *
 * Batches: TOPO_BEGIN(version, full), objects (TOPO_VHOST, TOPO_EXCHANGE,
 * TOPO_QUEUE, TOPO_BINDING, USER, PERMISSION, each op ADD or DEL), then
 * TOPO_END(version, n_objects). A full batch (full = 1) replaces everything
 * the receiver had: lepus-control sends one right after HELLO_ACK to a
 * dataplane (every (re)connection) and in answer to a LIST_REQ. Afterwards
 * each change is one delta batch, versions increasing by one per batch.
 * Objects of a batch are applied together, at TOPO_END, in order. Deleting an
 * exchange or queue implies deleting its bindings, which the batch also
 * lists explicitly (so does deleting a vhost for its objects).
 *
 * Connection ids (conn_id) are chosen by the dataplane, unique for as long as
 * it runs. CONNECTION_CLOSED deletes the connection's exclusive queues.
 * QUEUE_UNUSED reports that an auto-delete queue lost its last consumer;
 * lepus-control deletes it. When a dataplane with another pid connects, the
 * exclusive queues of the previous one are deleted. Transient objects live
 * only in lepus-control's memory and do not survive its restart.
 */
#define LP_CTL_NAME_MAX 255
#define LP_CTL_ARGS_MAX 16384
#define LP_CTL_PASSWORD_HASH_LEN 36 /* rabbit_password_hashing_sha256: salt[4] ++ sha256 */

enum lp_ctl_object {
	LP_CTL_OBJ_EXCHANGE = 1,
	LP_CTL_OBJ_QUEUE = 2,
};

/* lp_ctl_def_req.flags: the AMQP method's bits (spec 1.7.2, 1.8.2) and ours. */
enum {
	LP_CTL_F_PASSIVE = 1u << 0,
	LP_CTL_F_DURABLE = 1u << 1,
	LP_CTL_F_AUTO_DELETE = 1u << 2,
	LP_CTL_F_INTERNAL = 1u << 3,
	LP_CTL_F_EXCLUSIVE = 1u << 4,
	LP_CTL_F_IF_UNUSED = 1u << 5,
	LP_CTL_F_IF_EMPTY = 1u << 6,
	LP_CTL_F_COUNTS = 1u << 7, /* message_count and consumer_count are valid */
	LP_CTL_F_NOWAIT = 1u << 8, /* informational */
	LP_CTL_F_ALL = (1u << 9) - 1,
};

/*
 * DECLARE, DELETE, BIND, UNBIND, PURGE payload:
 *   u64 req_id, u64 conn_id, u16 worker (the connection's worker, the default
 *   owner shard of a new queue), u8 object (enum lp_ctl_object: what is
 *   declared/deleted/purged, or the destination kind of a binding), u16 flags,
 *   u32 message_count, u32 consumer_count (with LP_CTL_F_COUNTS, else 0),
 *   name vhost, name user (the connection's authenticated user),
 *   name name (the exchange or queue; for BIND/UNBIND the destination; empty:
 *   server-named queue, or the default exchange), name source (BIND/UNBIND:
 *   the source exchange, else empty), name type (exchange DECLARE: the
 *   exchange type, else empty), name routing_key (BIND/UNBIND, else empty),
 *   u16 args_len + args (arguments table body).
 * Queue.Bind/Unbind/Purge/Delete with an empty queue name mean the channel's
 * most recently declared queue (RabbitMQ's shortcut): the dataplane expands
 * it; lepus-control answers an empty name with 404 "no previously declared
 * queue".
 */
struct lp_ctl_def_req {
	uint64_t req_id;
	uint64_t conn_id;
	uint16_t worker;
	uint8_t object;
	uint16_t flags;
	uint32_t message_count;
	uint32_t consumer_count;
	char vhost[LP_CTL_NAME_MAX + 1];
	char user[LP_CTL_NAME_MAX + 1];
	char name[LP_CTL_NAME_MAX + 1];
	char source[LP_CTL_NAME_MAX + 1];
	char type[LP_CTL_NAME_MAX + 1];
	char routing_key[LP_CTL_NAME_MAX + 1];
	uint16_t args_len;
	const uint8_t *args; /* encode: caller's bytes; decode: view into the buffer */
};

enum lp_ctl_result_status {
	LP_CTL_RES_DONE = 0,        /* final answer */
	LP_CTL_RES_NEED_COUNTS = 1, /* ask the owner shard, resend with LP_CTL_F_COUNTS */
};

/*
 * RESULT payload: u64 req_id, u16 reply_code (0 success, else the AMQP reply
 * code, spec 1.2 / RabbitMQ's table; for ADMIN_REQ 0 or an AMQP-like code:
 * 404 missing, 406 exists/invalid; for both 541 when lepus-control could not
 * store the change), u8 status (enum lp_ctl_result_status),
 * u16 owner_shard (queue requests: the queue's owner, else 0), u64 version
 * (topology version to wait for), name queue (queue requests: the resolved,
 * possibly server-generated name), name text (reply text, empty on success).
 */
struct lp_ctl_result {
	uint64_t req_id;
	uint16_t reply_code;
	uint8_t status;
	uint16_t owner_shard;
	uint64_t version;
	char queue[LP_CTL_NAME_MAX + 1];
	char text[LP_CTL_NAME_MAX + 1];
};

/* CONNECTION_CLOSED payload: u64 conn_id. */
struct lp_ctl_conn_closed {
	uint64_t conn_id;
};

/* QUEUE_UNUSED payload: name vhost, name queue (an auto-delete queue whose
 * last consumer went away, as seen by its owner shard). */
struct lp_ctl_queue_unused {
	char vhost[LP_CTL_NAME_MAX + 1];
	char queue[LP_CTL_NAME_MAX + 1];
};

/*
 * QUEUE_STATS payload: u64 time_ns (sender's CLOCK_MONOTONIC when the
 * worker sampled), u16 worker, u16 n, then n records of: name vhost, name
 * queue, u32 ready, u32 unacked, u32 consumers, u64 ready_bytes (bodies),
 * u64 published (messages enqueued, requeues not counted), u64 delivered
 * (to consumers), u64 got (Basic.Get), u64 redelivered, u64 acked. The
 * counters run from the queue's creation on its owner worker (a restart of
 * the dataplane starts them again). A worker's queues are split over
 * several messages with the same time_ns when they do not fit one.
 */
struct lp_ctl_queue_stat {
	char vhost[LP_CTL_NAME_MAX + 1];
	char queue[LP_CTL_NAME_MAX + 1];
	uint32_t ready, unacked, consumers;
	uint64_t ready_bytes, published, delivered, got, redelivered, acked;
};

struct lp_ctl_queue_stats {
	uint64_t time_ns;
	uint16_t worker;
	uint16_t n;
	/* Encode input: n records. */
	const struct lp_ctl_queue_stat *rows;
	/* Decode output: a view into the decoded buffer (valid while it is),
	 * read with lp_ctl_queue_stats_next(). */
	const uint8_t *records;
	size_t records_len;
};

/* LIST_REQ payload: u64 req_id, u16 what (LP_CTL_LIST_* bits, at least one),
 * name vhost (filter for exchanges, queues, bindings, permissions; empty:
 * all). Answered with a full batch holding only what was asked. */
enum {
	LP_CTL_LIST_VHOSTS = 1u << 0,
	LP_CTL_LIST_USERS = 1u << 1,
	LP_CTL_LIST_PERMISSIONS = 1u << 2,
	LP_CTL_LIST_EXCHANGES = 1u << 3,
	LP_CTL_LIST_QUEUES = 1u << 4,
	LP_CTL_LIST_BINDINGS = 1u << 5,
	LP_CTL_LIST_ALL = (1u << 6) - 1,
};

struct lp_ctl_list_req {
	uint64_t req_id;
	uint16_t what;
	char vhost[LP_CTL_NAME_MAX + 1];
};

/* TOPO_BEGIN payload: u64 version, u8 full (0 delta, 1 replace everything). */
struct lp_ctl_topo_begin {
	uint64_t version;
	uint8_t full;
};

/* TOPO_END payload: u64 version (as in TOPO_BEGIN), u32 n_objects (how many
 * object messages the batch held: a receiver that counted otherwise lost
 * messages and must drop the link). */
struct lp_ctl_topo_end {
	uint64_t version;
	uint32_t n_objects;
};

enum lp_ctl_topo_op {
	LP_CTL_OP_ADD = 1,
	LP_CTL_OP_DEL = 2,
	/* TOPO_EXCHANGE and TOPO_QUEUE only: the object exists and keeps its
	 * identity (a queue its qid, messages and consumers); its other fields
	 * (alternate, arguments) replace the ones it had. lepus-control sends
	 * it when a policy change alters what the dataplane applies. */
	LP_CTL_OP_UPDATE = 3,
};

/* TOPO_VHOST payload: u8 op, name name. */
struct lp_ctl_topo_vhost {
	uint8_t op;
	char name[LP_CTL_NAME_MAX + 1];
};

enum lp_ctl_exchange_type {
	LP_CTL_XT_DIRECT = 1,
	LP_CTL_XT_FANOUT = 2,
	LP_CTL_XT_TOPIC = 3,
	LP_CTL_XT_HEADERS = 4,
};

enum {
	LP_CTL_X_DURABLE = 1u << 0,
	LP_CTL_X_AUTO_DELETE = 1u << 1,
	LP_CTL_X_INTERNAL = 1u << 2,
	LP_CTL_X_ALL = (1u << 3) - 1,
};

/* TOPO_EXCHANGE payload: u8 op, u8 type (enum lp_ctl_exchange_type), u8 flags
 * (LP_CTL_X_*), name vhost, name name ("" is the default exchange), name
 * alternate (the alternate-exchange argument, "" if none), u16 args_len +
 * args. A DEL carries the object as it was. */
struct lp_ctl_topo_exchange {
	uint8_t op;
	uint8_t type;
	uint8_t flags;
	char vhost[LP_CTL_NAME_MAX + 1];
	char name[LP_CTL_NAME_MAX + 1];
	char alternate[LP_CTL_NAME_MAX + 1];
	uint16_t args_len;
	const uint8_t *args;
};

enum {
	LP_CTL_Q_DURABLE = 1u << 0,
	LP_CTL_Q_EXCLUSIVE = 1u << 1,
	LP_CTL_Q_AUTO_DELETE = 1u << 2,
	LP_CTL_Q_ALL = (1u << 3) - 1,
};

/* TOPO_QUEUE payload: u8 op, u8 flags (LP_CTL_Q_*), u16 owner_shard,
 * u64 owner_conn (exclusive queues: the owning connection, else 0),
 * u32 store_id (durable queues: the id their messages carry in the owner's
 * journal, assigned once by lepus-control and never reused; else 0),
 * name vhost, name name, u16 args_len + args. */
struct lp_ctl_topo_queue {
	uint8_t op;
	uint8_t flags;
	uint16_t owner_shard;
	uint64_t owner_conn;
	uint32_t store_id;
	char vhost[LP_CTL_NAME_MAX + 1];
	char name[LP_CTL_NAME_MAX + 1];
	uint16_t args_len;
	const uint8_t *args;
};

/* TOPO_BINDING payload: u8 op, u8 dest_kind (enum lp_ctl_object), name vhost,
 * name source, name destination, name routing_key, u16 args_len + args.
 * A binding is identified by all of these, arguments included. */
struct lp_ctl_topo_binding {
	uint8_t op;
	uint8_t dest_kind;
	char vhost[LP_CTL_NAME_MAX + 1];
	char source[LP_CTL_NAME_MAX + 1];
	char destination[LP_CTL_NAME_MAX + 1];
	char routing_key[LP_CTL_NAME_MAX + 1];
	uint16_t args_len;
	const uint8_t *args;
};

enum lp_ctl_hash_alg {
	LP_CTL_HASH_NONE = 0,   /* no password (or withheld, as from a LIST) */
	LP_CTL_HASH_SHA256 = 1, /* rabbit_password_hashing_sha256 */
};

/* USER payload: u8 op, u8 hash_alg, u8 hash_len (0 with LP_CTL_HASH_NONE,
 * LP_CTL_PASSWORD_HASH_LEN with SHA256) + hash bytes (salt ++ digest, raw),
 * name name, name tags (comma-separated, as rabbitmqctl set_user_tags). */
struct lp_ctl_user {
	uint8_t op;
	uint8_t hash_alg;
	uint8_t hash_len;
	uint8_t hash[LP_CTL_PASSWORD_HASH_LEN];
	char name[LP_CTL_NAME_MAX + 1];
	char tags[LP_CTL_NAME_MAX + 1];
};

/* PERMISSION payload: u8 op, name user, name vhost, name configure,
 * name write, name read (regular expressions, RabbitMQ's semantics). */
struct lp_ctl_permission {
	uint8_t op;
	char user[LP_CTL_NAME_MAX + 1];
	char vhost[LP_CTL_NAME_MAX + 1];
	char configure[LP_CTL_NAME_MAX + 1];
	char write[LP_CTL_NAME_MAX + 1];
	char read[LP_CTL_NAME_MAX + 1];
};

enum lp_ctl_admin_op {
	LP_CTL_ADMIN_ADD_USER = 1,        /* name, password, tags */
	LP_CTL_ADMIN_DELETE_USER = 2,     /* name */
	LP_CTL_ADMIN_CHANGE_PASSWORD = 3, /* name, password */
	LP_CTL_ADMIN_ADD_VHOST = 4,       /* vhost */
	LP_CTL_ADMIN_DELETE_VHOST = 5,    /* vhost */
	LP_CTL_ADMIN_SET_PERMISSIONS = 6, /* name (user), vhost, configure, write, read */
	LP_CTL_ADMIN_CLEAR_PERMISSIONS = 7, /* name (user), vhost */
	LP_CTL_ADMIN_SET_USER_TAGS = 8,   /* name, tags */
	LP_CTL_ADMIN_MAX = 8,
};

/* ADMIN_REQ payload: u64 req_id, u8 op (enum lp_ctl_admin_op), name name,
 * name vhost, name password (clear text over the local socket, hashed by
 * lepus-control), name tags, name configure, name write, name read; unused
 * fields empty. Answered by RESULT (and a delta batch to the dataplane). */
struct lp_ctl_admin_req {
	uint64_t req_id;
	uint8_t op;
	char name[LP_CTL_NAME_MAX + 1];
	char vhost[LP_CTL_NAME_MAX + 1];
	char password[LP_CTL_NAME_MAX + 1];
	char tags[LP_CTL_NAME_MAX + 1];
	char configure[LP_CTL_NAME_MAX + 1];
	char write[LP_CTL_NAME_MAX + 1];
	char read[LP_CTL_NAME_MAX + 1];
};

/* One decoded (or to-be-encoded) message. */
struct lp_ctl_msg {
	uint16_t version; /* set by lp_ctl_decode(); lp_ctl_encode() writes LP_CTL_VERSION */
	uint16_t type;    /* enum lp_ctl_type */
	uint32_t seq;
	union {
		struct lp_ctl_hello hello;
		struct lp_ctl_hello_ack hello_ack;
		struct lp_ctl_hello_nak hello_nak;
		struct lp_ctl_heartbeat heartbeat;
		struct lp_ctl_drop_names drop_names;
		struct lp_ctl_stats stats;
		struct lp_ctl_status_req status_req;
		struct lp_ctl_status_resp status_resp;
		struct lp_ctl_def_req def_req; /* DECLARE, DELETE, BIND, UNBIND, PURGE */
		struct lp_ctl_result result;
		struct lp_ctl_conn_closed conn_closed;
		struct lp_ctl_queue_unused queue_unused;
		struct lp_ctl_queue_stats queue_stats;
		struct lp_ctl_list_req list_req;
		struct lp_ctl_topo_begin topo_begin;
		struct lp_ctl_topo_end topo_end;
		struct lp_ctl_topo_vhost topo_vhost;
		struct lp_ctl_topo_exchange topo_exchange;
		struct lp_ctl_topo_queue topo_queue;
		struct lp_ctl_topo_binding topo_binding;
		struct lp_ctl_user user;
		struct lp_ctl_permission permission;
		struct lp_ctl_admin_req admin_req;
	};
};

/*
 * Encode m into buf (cap bytes) as one datagram: header version
 * LP_CTL_VERSION, type m->type, seq m->seq. Strings longer than their limit
 * or with non-printable bytes, counts beyond their limits, and unknown types
 * are refused. Returns the datagram length, -EMSGSIZE when it does not fit
 * in cap (or in LP_CTL_MSG_MAX), -EINVAL when m is not valid.
 */
ssize_t lp_ctl_encode(void *buf, size_t cap, const struct lp_ctl_msg *m);

/*
 * Decode the datagram buf[0..len) into *m. Every length is checked before use.
 * Returns:
 *   0                  m holds the message (STATS records and arguments
 *                      tables point into buf);
 *   -EBADMSG           malformed: short, wrong magic, length field different
 *                      from len, payload not matching its type's layout;
 *   -EPROTONOSUPPORT   header well formed but version != LP_CTL_VERSION
 *                      (m->version, m->type and m->seq are set; payload unread);
 *   -ENOTSUP           well-formed header of a type this build does not know
 *                      (m->type and m->seq set): the receiver ignores it.
 */
int lp_ctl_decode(const void *buf, size_t len, struct lp_ctl_msg *m);

/* Counter `idx` (LP_CTL_STAT_*) of record `row` of a decoded STATS message.
 * The caller keeps row < n_workers and idx < LP_CTL_STAT_DROP0 + n_reasons. */
uint64_t lp_ctl_stats_get(const struct lp_ctl_stats *s, unsigned row, unsigned idx);

/* How many worker records with n_reasons drop counters fit in one STATS
 * message (>= 1 for every n_reasons <= LP_CTL_MAX_DROP_REASONS). */
unsigned lp_ctl_stats_workers_per_msg(unsigned n_reasons);

/* The next record of a decoded QUEUE_STATS message: *off starts at 0.
 * Returns false after the last one. */
bool lp_ctl_queue_stats_next(const struct lp_ctl_queue_stats *s, size_t *off,
			     struct lp_ctl_queue_stat *out);

/* Octets one record takes in a QUEUE_STATS message (to fill one:
 * LP_CTL_QUEUE_STATS_ROOM in all). */
size_t lp_ctl_queue_stat_len(const struct lp_ctl_queue_stat *r);
#define LP_CTL_QUEUE_STATS_ROOM (LP_CTL_MSG_MAX - LP_CTL_HDR_LEN - 12)

/* "HELLO", "STATS", ... or "UNKNOWN"; never NULL. */
const char *lp_ctl_type_name(uint16_t type);

/* Copy src into dst (cap bytes, NUL-terminated) replacing bytes that are not
 * printable ASCII with '?', so the result always encodes. */
void lp_ctl_strlcpy_printable(char *dst, size_t cap, const char *src);
