/* SPDX-License-Identifier: MIT */
/*
 * The link-time port of the packet-path tests: linked with
 * -Wl,--wrap=lp_port_tx,--wrap=lp_port_rx,--wrap=lp_port_fault_tick, it keeps
 * what the stack transmits in a FIFO (oldest first) instead of a NIC, and
 * receives nothing. Shared by net_harness.c and test_tcp_harness.c.
 */
#pragma once

#include <rte_mbuf.h>

#define PORT_TX_MAX 8192

/* Frames captured and not yet popped. */
unsigned port_tx_count(void);

/* The i-th oldest captured frame (i < port_tx_count()); still owned here. */
struct rte_mbuf *port_tx_at(unsigned i);

/* Remove the oldest frame and hand it to the caller (who must free it). */
struct rte_mbuf *port_tx_pop(void);

/* Free every captured frame. */
void port_tx_clear(void);
