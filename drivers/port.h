/* SPDX-License-Identifier: MIT */
/*
 * Port backends: one function opens whatever the configuration names (a PCI NIC
 * bound to vfio-pci, af_packet on a kernel interface such as a veth, a tap, a
 * memif socket, a ring pair for tests) with one rx/tx queue pair per worker and
 * RSS where the port supports it; rx/tx go through lp_port_rx()/lp_port_tx(),
 * which apply the fault injector (fault.h) when it is configured. The worker
 * calls lp_port_rx() at the top of each poll iteration, lp_port_tx() to flush
 * and lp_port_fault_tick() once per iteration.
 *
 * Port spec strings (the dataplane's --port option):
 *   af_packet:IFACE            e.g. af_packet:lepus0
 *   tap:IFACE                  a new tap interface named IFACE
 *   memif:SOCKET[,server|client]  memif over a UNIX socket path (default server)
 *   pci:DOMAIN:BUS:DEV.FN      a NIC already bound to vfio-pci, e.g. pci:0000:01:00.0
 *   ring:NAME                  an in-process ring port (tests)
 *   eal:NAME                   a port the EAL already probed (--vdev/-a), by name
 *
 * lp_port_open()/lp_port_close() run on the main lcore before/after workers;
 * queue q of a port is used by one lcore only.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

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
	bool rss;                   /* RSS over n_queues > 1 is on */
	bool tx_ip4_cksum_offload;  /* RTE_ETH_TX_OFFLOAD_IPV4_CKSUM enabled */
	bool tx_tcp_cksum_offload;  /* RTE_ETH_TX_OFFLOAD_TCP_CKSUM enabled */
	bool rx_cksum_offload;      /* rx IPv4 and TCP checksum offload enabled */
	bool tx_multi_seg;          /* chained mbufs may be sent */
	char driver[32];
};

struct lp_port;

/*
 * Probe (if needed), configure and start the port named by cfg->spec.
 * Returns the port, or NULL with rte_errno set (EINVAL bad spec or config,
 * ENODEV not found, or the errno of the failing ethdev call); a message naming
 * the spec and the failing call is logged. info is filled on success.
 */
struct lp_port *lp_port_open(const struct lp_port_config *cfg, struct lp_port_info *info);

/*
 * Stop and close the port, remove a vdev (or PCI device) it created, free the
 * rings of a ring port (and any mbuf still in them) and the packets the fault
 * injector holds. NULL is a no-op.
 */
void lp_port_close(struct lp_port *p);

/*
 * Receive up to n packets on queue q into pkts. Returns the count; the caller
 * owns every mbuf returned. Faults (drop/dup/reorder) are applied here, and rx
 * packets held back by the injector are released here, so call it every poll
 * iteration.
 */
uint16_t lp_port_rx(struct lp_port *p, uint16_t q, struct rte_mbuf **pkts, uint16_t n);

/*
 * Transmit up to n packets on queue q. Returns how many were consumed (sent,
 * or dropped/held by the fault injector); the caller still owns pkts[ret..n-1].
 */
uint16_t lp_port_tx(struct lp_port *p, uint16_t q, struct rte_mbuf **pkts, uint16_t n);

/*
 * Send the tx packets of queue q that the fault injector held back and whose
 * time is up. Call once per poll iteration with the iteration's rte_rdtsc();
 * a single branch when faults are off.
 */
void lp_port_fault_tick(struct lp_port *p, uint16_t q, uint64_t now_tsc);

/*
 * Counters of the fault injector for queue q (zero when faults are off), valid
 * until lp_port_close(). NULL when q is not a queue of p.
 */
const struct lp_fault_stats *lp_port_fault_stats(const struct lp_port *p, uint16_t q);

/*
 * Ring ports only (tests): the ring the port receives from on queue q
 * (enqueue mbufs there to inject them; the port owns what it holds) and the
 * ring it transmits to (dequeue to read what was sent; you then own those
 * mbufs). NULL for other ports or q out of range.
 */
struct rte_ring *lp_port_ring_rx(const struct lp_port *p, uint16_t q);
struct rte_ring *lp_port_ring_tx(const struct lp_port *p, uint16_t q);
