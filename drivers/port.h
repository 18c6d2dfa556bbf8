/* SPDX-License-Identifier: MIT */
/*
 * Port backends: one function opens whatever the configuration names (a PCI NIC
 * bound to vfio-pci, af_packet on a kernel interface such as a veth, a tap, a
 * memif socket, a ring pair for tests) with one rx/tx queue pair per worker and
 * RSS where the port supports it; rx/tx go through lp_port_rx()/lp_port_tx(),
 * which apply the fault injector (fault.h) when it is configured.
 *
 * Port spec strings (the dataplane's --port option):
 *   af_packet:IFACE            e.g. af_packet:lepus0
 *   tap:IFACE                  a new tap interface named IFACE
 *   memif:SOCKET[,server|client]  memif over a UNIX socket path (default server)
 *   pci:DOMAIN:BUS:DEV.FN      a NIC already bound to vfio-pci, e.g. pci:0000:01:00.0
 *   ring:NAME                  an in-process ring port (tests)
 *   eal:NAME                   a port the EAL already probed (--vdev/-a), by name
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "fault.h"

#define LP_PORT_SPEC_MAX 256
#define LP_PORT_MAX_QUEUES 16

struct lp_port_config {
	char spec[LP_PORT_SPEC_MAX];
	uint16_t n_queues;      /* one rx/tx pair per worker */
	uint16_t rx_desc;       /* 0 = default (1024) */
	uint16_t tx_desc;       /* 0 = default (1024) */
	uint16_t mtu;           /* 0 = leave as is */
	struct rte_mempool *pool;
	struct lp_fault_config fault; /* all-zero probabilities = no injection */
};

/* What the port turned out to be, for the stack. */
struct lp_port_info {
	uint16_t port_id;
	struct rte_ether_addr mac;
	uint16_t mtu;
	bool rss;
	bool tx_ip4_cksum_offload;
	bool tx_tcp_cksum_offload;
	bool rx_cksum_offload;
	char driver[32];
};

struct lp_port;

/*
 * Probe (if needed), configure and start the port named by cfg->spec.
 * Returns the port, or NULL with rte_errno set (EINVAL bad spec, ENODEV not
 * found, or the errno of the failing ethdev call); a message is logged.
 */
struct lp_port *lp_port_open(const struct lp_port_config *cfg, struct lp_port_info *info);

/* Stop and close the port, remove a vdev it created. NULL is a no-op. */
void lp_port_close(struct lp_port *p);

/*
 * Receive up to n packets on queue q into pkts. Returns the count; the caller
 * owns every mbuf returned. Faults (drop/dup/reorder) are applied here.
 */
uint16_t lp_port_rx(struct lp_port *p, uint16_t q, struct rte_mbuf **pkts, uint16_t n);

/*
 * Transmit up to n packets on queue q. Returns how many were consumed (sent, or
 * dropped by the fault injector); the caller still owns pkts[ret..n-1].
 */
uint16_t lp_port_tx(struct lp_port *p, uint16_t q, struct rte_mbuf **pkts, uint16_t n);

/* Counters of the fault injector for queue q (zero when faults are off). */
const struct lp_fault_stats *lp_port_fault_stats(const struct lp_port *p, uint16_t q);
