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
 *                         HEARTBEAT and STATS (one or more messages per sample);
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
#define LP_CTL_VERSION 1
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
	/* 0x0100..0x01ff definitions, 0x0200..0x02ff topology,
	 * 0x0300..0x03ff users and permissions: reserved. */
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
 *   (4 + n_reasons) u64: rx_packets, rx_bytes, tx_packets, tx_bytes, drops[].
 * One sample larger than a message is split over several STATS messages with
 * the same time_ns; lp_ctl_stats_workers_per_msg() says how many fit.
 */
enum {
	LP_CTL_STAT_RX_PACKETS,
	LP_CTL_STAT_RX_BYTES,
	LP_CTL_STAT_TX_PACKETS,
	LP_CTL_STAT_TX_BYTES,
	LP_CTL_STAT_DROP0, /* drop counter i is at LP_CTL_STAT_DROP0 + i */
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
 *   0                  m holds the message (STATS records point into buf);
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

/* "HELLO", "STATS", ... or "UNKNOWN"; never NULL. */
const char *lp_ctl_type_name(uint16_t type);

/* Copy src into dst (cap bytes, NUL-terminated) replacing bytes that are not
 * printable ASCII with '?', so the result always encodes. */
void lp_ctl_strlcpy_printable(char *dst, size_t cap, const char *src);
