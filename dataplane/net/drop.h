/* SPDX-License-Identifier: MIT */
/*
 * Named drop reasons and per-worker packet counters.
 *
 * Every packet the dataplane discards is counted under exactly one reason from
 * LP_DROP_REASONS, per worker, without atomics (each worker writes only its own
 * struct lp_net_stats). The main lcore reads them to publish stats over the
 * control link; a torn read of a 64-bit counter cannot happen on x86-64 and is
 * harmless elsewhere (stats are monotonic and advisory).
 */
#pragma once

#include <stdint.h>

/* X(name, description) */
#define LP_DROP_REASONS(X)                                                    \
	X(ETH_TRUNCATED, "frame shorter than an Ethernet header")             \
	X(ETH_OVERSIZED, "frame longer than the MTU allows")                  \
	X(ETH_NOT_FOR_US, "destination MAC neither ours nor broadcast")       \
	X(ETH_UNKNOWN_TYPE, "ethertype not handled (not IPv4 or ARP)")        \
	X(ARP_TRUNCATED, "ARP packet shorter than an Ethernet/IPv4 ARP")      \
	X(ARP_BAD_FORMAT, "ARP hardware/protocol type or lengths unsupported") \
	X(ARP_NOT_FOR_US, "ARP target is not our address")                    \
	X(ARP_UNKNOWN_OP, "ARP opcode neither request nor reply")             \
	X(IP4_TRUNCATED, "shorter than its IPv4 header or total length")      \
	X(IP4_BAD_VERSION, "IP version is not 4")                             \
	X(IP4_BAD_HDR_LEN, "IHL below 5 or beyond the packet")                \
	X(IP4_BAD_CHECKSUM, "IPv4 header checksum wrong")                     \
	X(IP4_BAD_TOTAL_LEN, "total length below header length")              \
	X(IP4_FRAGMENT, "fragments are not reassembled")                      \
	X(IP4_NOT_FOR_US, "destination is not our address")                   \
	X(IP4_BAD_SOURCE, "source is broadcast, multicast, or ours")          \
	X(IP4_UNKNOWN_PROTO, "protocol not handled")                          \
	X(ICMP_TRUNCATED, "shorter than an ICMP header")                      \
	X(ICMP_BAD_CHECKSUM, "ICMP checksum wrong")                           \
	X(ICMP_UNHANDLED_TYPE, "ICMP type other than echo request")           \
	X(TCP_TRUNCATED, "shorter than its TCP header")                       \
	X(TCP_BAD_HDR_LEN, "data offset below 5 or beyond the segment")       \
	X(TCP_BAD_CHECKSUM, "TCP checksum wrong")                             \
	X(TCP_NO_LISTENER, "segment for no connection and no listener")       \
	X(TCP_BAD_SEGMENT, "segment not acceptable in connection state")     \
	X(TCP_OUT_OF_ORDER_FULL, "out-of-order store full")                  \
	X(TCP_SYN_BACKLOG_FULL, "SYN backlog full and cookies off")           \
	X(TCP_NO_TCB, "TCB pool exhausted")                                   \
	X(TCP_BAD_OPTIONS, "TCP option with an illegal length")               \
	X(TCP_BAD_FLAGS, "TCP flag combination never valid (SYN+FIN, SYN+RST)") \
	X(TCP_DUPLICATE, "segment holds only bytes already received")        \
	X(TCP_MEM_PRESSURE, "payload dropped: mbuf pool below the reserve")   \
	X(TCP_BAD_COOKIE, "ACK to a listener with no valid SYN cookie")       \
	X(TCP_CHALLENGED, "RST/SYN/ACK answered with a challenge ACK (RFC 5961)") \
	X(NO_ARP_ENTRY, "next hop unresolved, packet dropped")                \
	X(NO_MBUF, "mbuf pool empty while building a reply")                  \
	X(TX_FULL, "transmit queue full")                                     \
	X(FAULT_INJECTED, "dropped by the fault injector")

enum lp_drop_reason {
#define LP_DROP_ENUM(name, desc) LP_DROP_##name,
	LP_DROP_REASONS(LP_DROP_ENUM)
#undef LP_DROP_ENUM
	LP_DROP__COUNT
};

/* Name ("IP4_BAD_CHECKSUM") and description of a drop reason; never NULL. */
const char *lp_drop_name(enum lp_drop_reason r);
const char *lp_drop_description(enum lp_drop_reason r);

struct lp_net_stats {
	uint64_t rx_packets;
	uint64_t rx_bytes;
	uint64_t tx_packets;
	uint64_t tx_bytes;
	uint64_t drops[LP_DROP__COUNT];
};
