/* SPDX-License-Identifier: MIT */
/*
 * Test harness for the packet path (eth, arp, ip4, icmp, tcp): a real EAL
 * (no hugepages), a real mbuf pool and a real struct lp_net whose port is
 * replaced at link time (-Wl,--wrap=lp_port_tx,--wrap=lp_port_rx,
 * --wrap=lp_port_fault_tick): what the stack transmits is captured by
 * port_capture.h instead of reaching a NIC. Frames are built byte for byte by the
 * helpers below and fed to lp_eth_input() as a port would deliver them.
 *
 * Every test's teardown checks that all mbufs are back in the pool.
 */
#pragma once

#include <stdint.h>

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include "port_capture.h"
#include "net.h"


/* Dataplane identity used by every test: 198.18.0.1/24, MAC 02:00:00:00:00:01. */
/* RTE_IPV4() shifts an int into its sign bit (UB); this does not. */
#define NET_IP4(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))
#define NET_OUR_IP NET_IP4(198, 18, 0, 1)
#define NET_PEER_IP NET_IP4(198, 18, 0, 2)

extern struct lp_net net_stack;
extern struct rte_mempool *net_pool;
extern const struct rte_ether_addr net_our_mac;
extern const struct rte_ether_addr net_peer_mac;


/* cmocka group setup/teardown: EAL + pool once per test binary. */
int net_group_setup(void **state);
int net_group_teardown(void **state);
/* Per-test: fresh worker, empty capture; teardown frees captures, checks leaks. */
int net_setup(void **state);
int net_teardown(void **state);


/* A new mbuf holding len bytes of data (copied). */
struct rte_mbuf *net_frame(const void *data, uint16_t len);

/*
 * Build an Ethernet + IPv4 frame around an L4 payload, with a correct header
 * checksum, from the peer to us. Returns its length in buf (buf must hold
 * 14 + 20 + l4_len bytes).
 */
uint16_t net_build_ip4(uint8_t *buf, uint8_t proto, const void *l4, uint16_t l4_len);

/* An Ethernet + IPv4 + ICMP echo request from the peer with payload_len bytes. */
uint16_t net_build_echo(uint8_t *buf, uint16_t id, uint16_t seq, uint16_t payload_len);

/* Run a frame through lp_eth_input() and flush tx into the capture. */
void net_input(const void *frame, uint16_t len);

/* Drop counter of the harness worker. */
uint64_t net_drops(enum lp_drop_reason r);

/* Sum of all drop counters of the harness worker. */
uint64_t net_drops_total(void);
