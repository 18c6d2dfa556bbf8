/* SPDX-License-Identifier: MIT */
/*
 * Port backends. lp_port_open: spec string -> backend (vdev created with
 * rte_vdev_init, PCI device probed with rte_dev_probe, ring pair wrapped with
 * rte_eth_from_rings, or a port the EAL already has) -> configure (queues,
 * RSS, checksum offloads, MTU) -> start. On the hot path lp_port_rx/lp_port_tx
 * are rte_eth_rx_burst/rte_eth_tx_burst behind one branch, or go through the
 * fault injector (fault.c) when --fault is given.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <rte_bus_vdev.h>
#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_pci.h>

#include "port.h"

#define RTE_LOGTYPE_LP_PORT RTE_LOGTYPE_USER1

#define DEFAULT_DESC 1024
#define IFACE_MAX 15            /* IFNAMSIZ - 1 */
#define RING_NAME_MAX 32        /* ring:NAME */
/* af_packet: one 2 KiB frame per packet fits a 1500 MTU frame and its
 * tpacket header; 4 KiB blocks; 4096 frames per ring per queue (8 MiB): with
 * 512, bursts from the kernel overran the rx ring and TCP saw the losses as
 * out-of-order segments (bench/tcp_bench.sh: 10,185 OOO -> 0). */
#define AF_PACKET_ARGS "blocksz=4096,framesz=2048,framecnt=4096"

enum port_kind {
	KIND_AF_PACKET,
	KIND_TAP,
	KIND_MEMIF,
	KIND_PCI,
	KIND_RING,
	KIND_EAL,
};

struct port_queue {
	struct lp_fault_queue rx;
	struct lp_fault_queue tx;
	struct lp_fault_stats stats;
} __rte_cache_aligned;

struct lp_port {
	uint16_t port_id;
	bool fault_on;
	bool have_port;             /* port_id is valid (ethdev exists) */
	bool started;
	bool vdev_created;          /* vdev_name was created by us */
	enum port_kind kind;
	uint16_t n_queues;
	bool pci_probed;            /* pci_name was probed by us, removed at close */
	char spec[LP_PORT_SPEC_MAX];
	char vdev_name[RTE_DEV_NAME_MAX_LEN];
	char pci_name[RTE_DEV_NAME_MAX_LEN];
	struct rte_ring *ring_rx[LP_PORT_MAX_QUEUES];
	struct rte_ring *ring_tx[LP_PORT_MAX_QUEUES];
	struct port_queue q[LP_PORT_MAX_QUEUES];
};

static unsigned port_seq; /* makes vdev and ring names unique in the process */

static unsigned next_seq(void)
{
	return __atomic_fetch_add(&port_seq, 1, __ATOMIC_RELAXED);
}

/* Fails the open: logs, sets rte_errno to err (positive), returns -err. */
static int port_fail(const struct lp_port *p, int err, const char *call, const char *detail)
{
	RTE_LOG(ERR, LP_PORT, "port '%s': %s failed: %s%s%s\n", p->spec, call,
		rte_strerror(err), detail[0] ? ": " : "", detail);
	rte_errno = err;
	return -err;
}

/* An interface, ring or device name that cannot break a devargs string. */
static bool name_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c == ',' || c == '=' || c == '/' || c == ':' || c >= 0x7f)
			return false;
	}
	return true;
}

static int vdev_create(struct lp_port *p, const char *name, const char *args)
{
	int rc = rte_vdev_init(name, args);

	if (rc != 0) {
		char detail[RTE_DEV_NAME_MAX_LEN + 300];
		snprintf(detail, sizeof(detail), "%s %s", name, args);
		return port_fail(p, rc < 0 ? -rc : EINVAL, "rte_vdev_init", detail);
	}
	snprintf(p->vdev_name, sizeof(p->vdev_name), "%s", name);
	p->vdev_created = true;
	rc = rte_eth_dev_get_port_by_name(name, &p->port_id);
	if (rc != 0)
		return port_fail(p, ENODEV, "rte_eth_dev_get_port_by_name", name);
	p->have_port = true;
	return 0;
}

static int open_af_packet(struct lp_port *p, const char *iface)
{
	char name[RTE_DEV_NAME_MAX_LEN], args[256];

	if (!name_ok(iface, IFACE_MAX))
		return port_fail(p, EINVAL, "parse", "bad interface name");
	snprintf(name, sizeof(name), "net_af_packet_%u", next_seq());
	snprintf(args, sizeof(args), "iface=%s,qpairs=%u," AF_PACKET_ARGS, iface, p->n_queues);
	return vdev_create(p, name, args);
}

static int open_tap(struct lp_port *p, const char *iface)
{
	char name[RTE_DEV_NAME_MAX_LEN], args[64];

	if (!name_ok(iface, IFACE_MAX))
		return port_fail(p, EINVAL, "parse", "bad interface name");
	snprintf(name, sizeof(name), "net_tap_lp%u", next_seq());
	snprintf(args, sizeof(args), "iface=%s", iface);
	return vdev_create(p, name, args);
}

static int open_memif(struct lp_port *p, const char *arg)
{
	char path[LP_PORT_SPEC_MAX], name[RTE_DEV_NAME_MAX_LEN], args[LP_PORT_SPEC_MAX + 64];
	const char *role = "server";

	snprintf(path, sizeof(path), "%s", arg);
	char *comma = strchr(path, ',');
	if (comma != NULL) {
		*comma = '\0';
		role = comma + 1;
		if (strcmp(role, "server") != 0 && strcmp(role, "client") != 0)
			return port_fail(p, EINVAL, "parse", "memif role must be server or client");
	}
	/* sockaddr_un.sun_path holds 108 bytes with the NUL */
	if (path[0] == '\0' || strlen(path) > 107 || strchr(path, '=') != NULL)
		return port_fail(p, EINVAL, "parse", "bad memif socket path");
	snprintf(name, sizeof(name), "net_memif_%u", next_seq());
	snprintf(args, sizeof(args), "socket=%s,role=%s,socket-abstract=no", path, role);
	return vdev_create(p, name, args);
}

static int open_pci(struct lp_port *p, const char *addr_str)
{
	struct rte_pci_addr addr;
	char name[RTE_DEV_NAME_MAX_LEN];

	if (rte_pci_addr_parse(addr_str, &addr) != 0)
		return port_fail(p, EINVAL, "rte_pci_addr_parse", addr_str);
	rte_pci_device_name(&addr, name, sizeof(name));

	int rc = rte_dev_probe(name);
	bool probed_by_us = rc == 0;
	if (rc != 0 && rc != -EEXIST)
		return port_fail(p, -rc, "rte_dev_probe", name);
	if (probed_by_us) {
		snprintf(p->pci_name, sizeof(p->pci_name), "%s", name);
		p->pci_probed = true;
	}
	if (rte_eth_dev_get_port_by_name(name, &p->port_id) != 0)
		return port_fail(p, ENODEV, "rte_eth_dev_get_port_by_name", name);
	p->have_port = true;
	return 0;
}

static int open_ring(struct lp_port *p, const char *rname, uint16_t rx_desc, uint16_t tx_desc)
{
	char name[RTE_RING_NAMESIZE];
	unsigned seq = next_seq();

	if (!name_ok(rname, RING_NAME_MAX))
		return port_fail(p, EINVAL, "parse", "bad ring port name");
	for (uint16_t q = 0; q < p->n_queues; q++) {
		snprintf(name, sizeof(name), "lp_port%u_rx%u", seq, q);
		p->ring_rx[q] = rte_ring_create(name, rx_desc, SOCKET_ID_ANY,
						RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
		if (p->ring_rx[q] == NULL)
			return port_fail(p, rte_errno, "rte_ring_create", name);
		snprintf(name, sizeof(name), "lp_port%u_tx%u", seq, q);
		p->ring_tx[q] = rte_ring_create(name, tx_desc, SOCKET_ID_ANY,
						RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
		if (p->ring_tx[q] == NULL)
			return port_fail(p, rte_errno, "rte_ring_create", name);
	}
	int id = rte_eth_from_rings(rname, p->ring_rx, p->n_queues, p->ring_tx, p->n_queues,
				    rte_socket_id());
	if (id < 0)
		return port_fail(p, rte_errno ? rte_errno : EINVAL, "rte_eth_from_rings", rname);
	/* rte_eth_from_rings creates vdev "net_ring_<name>" */
	snprintf(p->vdev_name, sizeof(p->vdev_name), "net_ring_%s", rname);
	p->vdev_created = true;
	p->port_id = (uint16_t)id;
	p->have_port = true;
	return 0;
}

static int open_eal(struct lp_port *p, const char *name)
{
	if (name[0] == '\0')
		return port_fail(p, EINVAL, "parse", "empty port name");
	if (rte_eth_dev_get_port_by_name(name, &p->port_id) != 0)
		return port_fail(p, ENODEV, "rte_eth_dev_get_port_by_name", name);
	p->have_port = true;
	return 0;
}

static int port_configure(struct lp_port *p, const struct lp_port_config *cfg,
			  struct lp_port_info *info)
{
	struct rte_eth_dev_info di;
	struct rte_eth_conf conf;
	char detail[64];
	int rc;

	memset(info, 0, sizeof(*info));
	memset(&conf, 0, sizeof(conf));
	rc = rte_eth_dev_info_get(p->port_id, &di);
	if (rc != 0)
		return port_fail(p, -rc, "rte_eth_dev_info_get", "");
	if (p->n_queues > di.max_rx_queues || p->n_queues > di.max_tx_queues) {
		snprintf(detail, sizeof(detail), "%u queues, port has %u rx %u tx", p->n_queues,
			 di.max_rx_queues, di.max_tx_queues);
		return port_fail(p, EINVAL, "rte_eth_dev_configure", detail);
	}

	uint64_t rss_hf = (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP) & di.flow_type_rss_offloads;
	if (p->n_queues > 1 && rss_hf != 0) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
		info->rss = true;
	}
	const uint64_t rx_ck = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
	if ((di.rx_offload_capa & rx_ck) == rx_ck) {
		conf.rxmode.offloads |= rx_ck;
		info->rx_cksum_offload = true;
	}
	if (di.tx_offload_capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) {
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
		info->tx_ip4_cksum_offload = true;
	}
	if (di.tx_offload_capa & RTE_ETH_TX_OFFLOAD_TCP_CKSUM) {
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
		info->tx_tcp_cksum_offload = true;
	}
	if (di.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) {
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
		info->tx_multi_seg = true;
	}

	rc = rte_eth_dev_configure(p->port_id, p->n_queues, p->n_queues, &conf);
	if (rc != 0)
		return port_fail(p, -rc, "rte_eth_dev_configure", "");

	uint16_t nb_rxd = cfg->rx_desc ? cfg->rx_desc : DEFAULT_DESC;
	uint16_t nb_txd = cfg->tx_desc ? cfg->tx_desc : DEFAULT_DESC;
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(p->port_id, &nb_rxd, &nb_txd);
	if (rc != 0)
		return port_fail(p, -rc, "rte_eth_dev_adjust_nb_rx_tx_desc", "");

	if (cfg->mtu != 0) {
		rc = rte_eth_dev_set_mtu(p->port_id, cfg->mtu);
		if (rc == -ENOTSUP) {
			RTE_LOG(NOTICE, LP_PORT, "port '%s': driver %s cannot set the MTU, keeping it\n",
				p->spec, di.driver_name);
		} else if (rc != 0) {
			snprintf(detail, sizeof(detail), "mtu %u", cfg->mtu);
			return port_fail(p, -rc, "rte_eth_dev_set_mtu", detail);
		}
	}

	int socket = rte_eth_dev_socket_id(p->port_id);
	if (socket < 0)
		socket = SOCKET_ID_ANY;
	struct rte_eth_rxconf rxconf = di.default_rxconf;
	struct rte_eth_txconf txconf = di.default_txconf;
	rxconf.offloads = conf.rxmode.offloads;
	txconf.offloads = conf.txmode.offloads;
	for (uint16_t q = 0; q < p->n_queues; q++) {
		snprintf(detail, sizeof(detail), "queue %u", q);
		rc = rte_eth_rx_queue_setup(p->port_id, q, nb_rxd, (unsigned)socket, &rxconf,
					    cfg->pool);
		if (rc != 0)
			return port_fail(p, -rc, "rte_eth_rx_queue_setup", detail);
		rc = rte_eth_tx_queue_setup(p->port_id, q, nb_txd, (unsigned)socket, &txconf);
		if (rc != 0)
			return port_fail(p, -rc, "rte_eth_tx_queue_setup", detail);
	}

	rc = rte_eth_dev_start(p->port_id);
	if (rc != 0)
		return port_fail(p, -rc, "rte_eth_dev_start", "");
	p->started = true;

	info->port_id = p->port_id;
	rc = rte_eth_macaddr_get(p->port_id, &info->mac);
	if (rc != 0)
		return port_fail(p, -rc, "rte_eth_macaddr_get", "");
	rc = rte_eth_dev_get_mtu(p->port_id, &info->mtu);
	if (rc != 0)
		return port_fail(p, -rc, "rte_eth_dev_get_mtu", "");
	snprintf(info->driver, sizeof(info->driver), "%s", di.driver_name);
	return 0;
}

static void ring_drain_free(struct rte_ring *r)
{
	void *objs[64];
	unsigned n;

	if (r == NULL)
		return;
	while ((n = rte_ring_dequeue_burst(r, objs, RTE_DIM(objs), NULL)) != 0)
		rte_pktmbuf_free_bulk((struct rte_mbuf **)objs, n);
	rte_ring_free(r);
}

static void port_teardown(struct lp_port *p)
{
	if (p->have_port) {
		if (p->started) {
			int rc = rte_eth_dev_stop(p->port_id);
			if (rc != 0)
				RTE_LOG(WARNING, LP_PORT, "port '%s': rte_eth_dev_stop: %s\n",
					p->spec, rte_strerror(-rc));
		}
		int rc = rte_eth_dev_close(p->port_id);
		if (rc != 0)
			RTE_LOG(WARNING, LP_PORT, "port '%s': rte_eth_dev_close: %s\n", p->spec,
				rte_strerror(-rc));
	}
	if (p->vdev_created) {
		int rc = rte_vdev_uninit(p->vdev_name);
		if (rc != 0)
			RTE_LOG(WARNING, LP_PORT, "port '%s': rte_vdev_uninit(%s): %s\n", p->spec,
				p->vdev_name, rte_strerror(-rc));
	}
	if (p->pci_probed) {
		int rc = rte_eal_hotplug_remove("pci", p->pci_name);
		if (rc != 0)
			RTE_LOG(WARNING, LP_PORT, "port '%s': rte_eal_hotplug_remove(%s): %s\n",
				p->spec, p->pci_name, rte_strerror(-rc));
	}
	for (uint16_t q = 0; q < LP_PORT_MAX_QUEUES; q++) {
		lp_fault_queue_flush(&p->q[q].rx);
		lp_fault_queue_flush(&p->q[q].tx);
		ring_drain_free(p->ring_rx[q]);
		ring_drain_free(p->ring_tx[q]);
	}
	rte_free(p);
}

struct lp_port *lp_port_open(const struct lp_port_config *cfg, struct lp_port_info *info)
{
	const struct lp_fault_config *f;

	if (cfg == NULL || info == NULL) {
		rte_errno = EINVAL;
		return NULL;
	}
	f = &cfg->fault;
	if (memchr(cfg->spec, '\0', sizeof(cfg->spec)) == NULL || cfg->n_queues == 0 ||
	    cfg->n_queues > LP_PORT_MAX_QUEUES || cfg->pool == NULL ||
	    !(f->drop >= 0.0 && f->drop <= 1.0) || !(f->dup >= 0.0 && f->dup <= 1.0) ||
	    !(f->reorder >= 0.0 && f->reorder <= 1.0)) {
		RTE_LOG(ERR, LP_PORT, "port '%.*s': bad configuration (queues 1..%u, pool, "
			"fault probabilities in [0,1])\n", LP_PORT_SPEC_MAX - 1, cfg->spec,
			LP_PORT_MAX_QUEUES);
		rte_errno = EINVAL;
		return NULL;
	}

	struct lp_port *p = rte_zmalloc("lp_port", sizeof(*p), RTE_CACHE_LINE_SIZE);
	if (p == NULL) {
		RTE_LOG(ERR, LP_PORT, "port '%s': rte_zmalloc failed\n", cfg->spec);
		rte_errno = ENOMEM;
		return NULL;
	}
	snprintf(p->spec, sizeof(p->spec), "%s", cfg->spec);
	p->n_queues = cfg->n_queues;

	const char *colon = strchr(cfg->spec, ':');
	size_t klen = colon ? (size_t)(colon - cfg->spec) : 0;
	const char *arg = colon ? colon + 1 : "";
	uint16_t rx_desc = cfg->rx_desc ? cfg->rx_desc : DEFAULT_DESC;
	uint16_t tx_desc = cfg->tx_desc ? cfg->tx_desc : DEFAULT_DESC;
	int rc;

#define KIND_IS(s) (klen == sizeof(s) - 1 && strncmp(cfg->spec, s, klen) == 0)
	if (KIND_IS("af_packet")) {
		p->kind = KIND_AF_PACKET;
		rc = open_af_packet(p, arg);
	} else if (KIND_IS("tap")) {
		p->kind = KIND_TAP;
		rc = open_tap(p, arg);
	} else if (KIND_IS("memif")) {
		p->kind = KIND_MEMIF;
		rc = open_memif(p, arg);
	} else if (KIND_IS("pci")) {
		p->kind = KIND_PCI;
		rc = open_pci(p, arg);
	} else if (KIND_IS("ring")) {
		p->kind = KIND_RING;
		rc = open_ring(p, arg, rx_desc, tx_desc);
	} else if (KIND_IS("eal")) {
		p->kind = KIND_EAL;
		rc = open_eal(p, arg);
	} else {
		rc = port_fail(p, EINVAL, "parse",
			       "expected af_packet:, tap:, memif:, pci:, ring: or eal:");
	}
#undef KIND_IS
	if (rc == 0)
		rc = port_configure(p, cfg, info);
	if (rc != 0) {
		int err = rte_errno;
		port_teardown(p);
		rte_errno = err;
		return NULL;
	}

	if (lp_fault_enabled(f)) {
		uint64_t hold = rte_get_tsc_hz() / 1000000 * LP_FAULT_HOLD_US;
		for (uint16_t q = 0; q < p->n_queues; q++) {
			lp_fault_queue_init(&p->q[q].rx, f, q, LP_FAULT_RX, &p->q[q].stats, hold);
			lp_fault_queue_init(&p->q[q].tx, f, q, LP_FAULT_TX, &p->q[q].stats, hold);
		}
		p->fault_on = true;
		RTE_LOG(NOTICE, LP_PORT, "port '%s': fault injection drop=%g dup=%g reorder=%g "
			"seed=%" PRIu64 "\n", p->spec, f->drop, f->dup, f->reorder, f->seed);
	}
	return p;
}

void lp_port_close(struct lp_port *p)
{
	if (p != NULL)
		port_teardown(p);
}

static uint16_t port_rx_faulty(struct lp_port *p, uint16_t q, struct rte_mbuf **pkts,
			       uint16_t n)
{
	struct lp_fault_queue *fq = &p->q[q].rx;
	struct rte_mbuf *in[LP_FAULT_BURST_MAX];
	uint64_t now = rte_rdtsc();

	uint16_t k = lp_fault_rx_release_due(fq, pkts, n, now);
	if (k == n)
		return k;
	uint16_t want = lp_fault_rx_want(fq, (uint16_t)(n - k));
	uint16_t nb = rte_eth_rx_burst(p->port_id, q, in, want);
	return lp_fault_rx_apply(fq, in, nb, pkts, k, n, now);
}

uint16_t lp_port_rx(struct lp_port *p, uint16_t q, struct rte_mbuf **pkts, uint16_t n)
{
	if (likely(!p->fault_on))
		return rte_eth_rx_burst(p->port_id, q, pkts, n);
	return port_rx_faulty(p, q, pkts, n);
}

static uint16_t port_tx_faulty(struct lp_port *p, uint16_t q, struct rte_mbuf **pkts,
			       uint16_t n)
{
	struct lp_fault_queue *fq = &p->q[q].tx;
	struct lp_fault_tx_plan plan;
	uint64_t now = rte_rdtsc();
	uint16_t done = 0;

	while (done < n) {
		lp_fault_tx_prepare(fq, pkts + done, (uint16_t)(n - done), &plan);
		uint16_t sent = plan.n_out ? rte_eth_tx_burst(p->port_id, q, plan.out, plan.n_out)
					   : 0;
		uint16_t c = lp_fault_tx_commit(fq, pkts + done, &plan, sent, now);
		done = (uint16_t)(done + c);
		if (c < plan.n_in)
			break;
	}
	return done;
}

uint16_t lp_port_tx(struct lp_port *p, uint16_t q, struct rte_mbuf **pkts, uint16_t n)
{
	if (likely(!p->fault_on))
		return rte_eth_tx_burst(p->port_id, q, pkts, n);
	return port_tx_faulty(p, q, pkts, n);
}

void lp_port_fault_tick(struct lp_port *p, uint16_t q, uint64_t now_tsc)
{
	if (likely(!p->fault_on))
		return;
	struct lp_fault_queue *fq = &p->q[q].tx;
	struct rte_mbuf *due[LP_FAULT_HOLD_MAX];
	uint16_t k = lp_fault_tx_take_due(fq, due, LP_FAULT_HOLD_MAX, now_tsc);
	if (k == 0)
		return;
	uint16_t sent = rte_eth_tx_burst(p->port_id, q, due, k);
	if (sent < k)
		lp_fault_tx_rehold(fq, due + sent, (uint16_t)(k - sent), now_tsc);
}

const struct lp_fault_stats *lp_port_fault_stats(const struct lp_port *p, uint16_t q)
{
	if (p == NULL || q >= p->n_queues)
		return NULL;
	return &p->q[q].stats;
}

struct rte_ring *lp_port_ring_rx(const struct lp_port *p, uint16_t q)
{
	if (p == NULL || p->kind != KIND_RING || q >= p->n_queues)
		return NULL;
	return p->ring_rx[q];
}

struct rte_ring *lp_port_ring_tx(const struct lp_port *p, uint16_t q)
{
	if (p == NULL || p->kind != KIND_RING || q >= p->n_queues)
		return NULL;
	return p->ring_tx[q];
}
