/* SPDX-License-Identifier: MIT */
/*
 * The input format of fuzz_worker_input (the whole receive path of one
 * worker), shared by the target and by gen_worker_seeds, which writes the
 * seeds in corpus/worker_input/.
 *
 * An input is a sequence of records, read until the input ends: a record
 * whose fixed fields are cut short by the end is dropped, a length-prefixed
 * run longer than what is left is cut to it. Multi-octet fields are
 * little-endian. Each
 * record starts with a tag octet: kind = tag & 3, and WI_HOLD (bit 7) queues
 * the record's frames without polling the worker, so that several records
 * arrive in one rx burst (the next record without WI_HOLD, or the end of the
 * input, polls).
 *
 *   WI_RAW    u16 len, len octets: one Ethernet frame exactly as given
 *             (at most WI_RAW_MAX octets are kept).
 *   WI_SEG    u8 flow, u8 tcp_flags, u8 ctl, u16 window,
 *             [i32 seq_off]  if ctl & WI_SEQ_OFF,
 *             [i32 ack_off]  if ctl & WI_ACK_OFF,
 *             [u8 n, n octets of TCP options] if ctl & WI_OPTS (n <= 40,
 *             padded with EOL to a multiple of 4),
 *             u16 len, len octets of payload (at most WI_SEG_MAX - options).
 *             The harness builds Ethernet/IPv4/TCP around it from client
 *             flow (flow % WI_FLOWS) with valid checksums. seq is the flow's
 *             next sequence number (its ISN for SYN without ACK; with
 *             WI_SEQ_FROM_ACK the last ack the dataplane sent on the flow)
 *             plus seq_off; ack is the dataplane's next sequence number as
 *             seen in its replies plus ack_off (WI_RAW_ACK: ack_off itself).
 *   WI_FRAME  u8 flow, u8 type, u16 channel, u16 len, len octets: one AMQP
 *             frame (7-octet header with size = len, payload, frame-end
 *             0xCE) sent on the flow as PSH|ACK segments of at most
 *             WI_SEG_MAX octets, with the flow's last window.
 *   WI_TIME   u16 t: advance the virtual clock by t & 0x7fff ms (times 100
 *             when t & 0x8000), in at most WI_TIME_STEPS polls.
 *
 * Flows 0-3 connect to the AMQP port, flow 4 to the echo port, flow 5 to
 * the discard port; client ports are WI_SPORT + flow.
 */
#pragma once

#include <stdint.h>

enum wi_kind {
	WI_RAW = 0,
	WI_SEG = 1,
	WI_FRAME = 2,
	WI_TIME = 3,
};

#define WI_KIND_MASK 0x03
#define WI_HOLD 0x80

/* WI_SEG ctl bits. */
enum {
	WI_SEQ_OFF = 1u << 0,
	WI_ACK_OFF = 1u << 1,
	WI_OPTS = 1u << 2,
	WI_SEQ_FROM_ACK = 1u << 3,
	WI_BAD_CSUM = 1u << 4,   /* corrupt the TCP checksum */
	WI_RAW_ACK = 1u << 5,
	WI_NO_ADVANCE = 1u << 6, /* the flow's next sequence number stays */
};

#define WI_FLOWS 6
#define WI_AMQP_FLOWS 4
#define WI_SPORT 40000
#define WI_AMQP_PORT 5672
#define WI_ECHO_PORT 7
#define WI_DISCARD_PORT 9

#define WI_RAW_MAX 2048
#define WI_SEG_MAX 1460 /* MTU 1500 less the IPv4 and TCP headers */
#define WI_OPTS_MAX 40
#define WI_TIME_STEPS 64

/* Addresses (RFC 2544 benchmarking range): the dataplane and its one peer. */
#define WI_OUR_IP 0xc6120001u  /* 198.18.0.1 */
#define WI_PEER_IP 0xc6120002u /* 198.18.0.2 */
#define WI_OUR_MAC {0x02, 0x00, 0x00, 0x00, 0x00, 0x01}
#define WI_PEER_MAC {0x02, 0x00, 0x00, 0x00, 0x00, 0x02}
