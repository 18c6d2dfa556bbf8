/* SPDX-License-Identifier: MIT */
/*
 * drivers/port.c: spec parsing and its errors, a ring port's rx/tx round trip
 * and teardown, a port the EAL already had (eal:), and, when run as root, an
 * af_packet port on a veth pair and a tap port, each in network namespaces
 * this test creates (lpdrv-a, lpdrv-b) and removes. Every test ends with the
 * mbuf pool full.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <rte_bus_vdev.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "port.h"

#define POOL_SIZE 2047u
#define TEST_ETHERTYPE 0x88B5  /* IEEE 802 local experimental */
#define NS_A "lpdrv-a"
#define NS_B "lpdrv-b"

static struct rte_mempool *pool;
static struct lp_port *port;

static struct lp_port_config config(const char *spec, uint16_t n_queues)
{
	struct lp_port_config cfg = {.n_queues = n_queues, .pool = pool};

	snprintf(cfg.spec, sizeof(cfg.spec), "%s", spec);
	return cfg;
}

static struct rte_mbuf *make_pkt(uint32_t seq)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);

	assert_non_null(m);
	uint8_t *d = (uint8_t *)rte_pktmbuf_append(m, 64);
	assert_non_null(d);
	memset(d, 0, 64);
	memcpy(d + 14, &seq, sizeof(seq));
	return m;
}

static int teardown(void **state)
{
	(void)state;
	lp_port_close(port);
	port = NULL;
	return rte_mempool_in_use_count(pool) == 0 ? 0 : -1;
}

static void bad_specs_fail_with_einval(void **state)
{
	static const char *const bad[] = {
		"", "bogus", "nope:x", "af_packet:", "af_packet:a,b=1", "af_packet:x=y",
		"af_packet:muchtoolongforaninterface", "tap:", "tap:a b", "memif:",
		"memif:/tmp/lpdrv.sock,both", "memif:/tmp/a=b", "ring:", "ring:a,b",
		"pci:zz", "pci:", "eal:", ":x", "AF_PACKET:eth0",
	};
	struct lp_port_info info;
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct lp_port_config cfg = config(bad[i], 1);
		rte_errno = 0;
		assert_null(lp_port_open(&cfg, &info));
		if (rte_errno != EINVAL)
			fail_msg("'%s': rte_errno %d, expected EINVAL", bad[i], rte_errno);
	}

	struct lp_port_config cfg = config("ring:lpbad", 0);
	assert_null(lp_port_open(&cfg, &info));
	assert_int_equal(rte_errno, EINVAL);
	cfg.n_queues = LP_PORT_MAX_QUEUES + 1;
	assert_null(lp_port_open(&cfg, &info));
	assert_int_equal(rte_errno, EINVAL);
	cfg.n_queues = 1;
	cfg.pool = NULL;
	assert_null(lp_port_open(&cfg, &info));
	assert_int_equal(rte_errno, EINVAL);
	cfg.pool = pool;
	cfg.fault.drop = 1.5;
	assert_null(lp_port_open(&cfg, &info));
	assert_int_equal(rte_errno, EINVAL);
	assert_null(lp_port_open(NULL, &info));
	assert_int_equal(rte_errno, EINVAL);

	cfg = config("eal:net_nosuchport", 1);
	assert_null(lp_port_open(&cfg, &info));
	assert_int_equal(rte_errno, ENODEV);

	/* a failed open leaves nothing behind: the same ring name opens */
	cfg = config("ring:lpbad", 1);
	port = lp_port_open(&cfg, &info);
	assert_non_null(port);
}

static void ring_round_trip(void **state)
{
	struct lp_port_config cfg = config("ring:lprt", 2);
	struct lp_port_info info;
	struct rte_mbuf *in[4], *out[8];
	void *objs[8];
	uint16_t pid;
	(void)state;

	port = lp_port_open(&cfg, &info);
	assert_non_null(port);
	assert_string_equal(info.driver, "net_ring");
	assert_int_equal(rte_eth_dev_get_port_by_name("net_ring_lprt", &pid), 0);
	assert_int_equal(info.port_id, pid);
	assert_false(info.rss); /* the ring PMD has no RSS */
	assert_false(info.rx_cksum_offload);
	assert_false(info.tx_ip4_cksum_offload || info.tx_tcp_cksum_offload);
	assert_true(info.mtu > 0);
	assert_non_null(lp_port_ring_rx(port, 1));
	assert_non_null(lp_port_ring_tx(port, 1));
	assert_null(lp_port_ring_rx(port, 2));
	assert_null(lp_port_ring_tx(port, 2));

	/* rx on queue 1: what was injected comes out, same mbufs in order */
	for (uint32_t i = 0; i < 4; i++)
		in[i] = make_pkt(i);
	assert_int_equal(rte_ring_enqueue_bulk(lp_port_ring_rx(port, 1), (void **)in, 4, NULL), 4);
	assert_int_equal(lp_port_rx(port, 0, out, 8), 0);
	assert_int_equal(lp_port_rx(port, 1, out, 8), 4);
	for (uint32_t i = 0; i < 4; i++)
		assert_ptr_equal(out[i], in[i]);

	/* tx on queue 0 ends in the tx ring of queue 0 only */
	assert_int_equal(lp_port_tx(port, 0, out, 4), 4);
	assert_int_equal(rte_ring_count(lp_port_ring_tx(port, 1)), 0);
	assert_int_equal(rte_ring_dequeue_burst(lp_port_ring_tx(port, 0), objs, 8, NULL), 4);
	for (uint32_t i = 0; i < 4; i++) {
		assert_ptr_equal(objs[i], in[i]);
		rte_pktmbuf_free(objs[i]);
	}
	assert_int_equal(lp_port_fault_stats(port, 1)->dropped, 0);

	/* packets left in the rings are freed by close */
	assert_int_equal(rte_ring_enqueue(lp_port_ring_rx(port, 0), make_pkt(9)), 0);
	lp_port_close(port);
	port = NULL;
	assert_int_equal(rte_mempool_in_use_count(pool), 0);
	/* the vdev is gone, so the name can be used again */
	assert_int_not_equal(rte_eth_dev_get_port_by_name("net_ring_lprt", &pid), 0);
	port = lp_port_open(&cfg, &info);
	assert_non_null(port);
}

static void ring_tx_full_leaves_rest_to_caller(void **state)
{
	struct lp_port_config cfg = config("ring:lpfull", 1);
	struct lp_port_info info;
	struct rte_mbuf *pkts[32];
	(void)state;

	cfg.tx_desc = 16;
	port = lp_port_open(&cfg, &info);
	assert_non_null(port);
	for (uint32_t i = 0; i < 32; i++)
		pkts[i] = make_pkt(i);
	assert_int_equal(lp_port_tx(port, 0, pkts, 32), 16);
	rte_pktmbuf_free_bulk(pkts + 16, 16);
	/* the 16 in the ring are freed by lp_port_close (checked in teardown) */
}

static void eal_port_is_found_by_name(void **state)
{
	struct lp_port_config cfg = config("eal:net_ring_lpeal", 1);
	struct lp_port_info info;
	struct rte_mbuf *m, *out[4];
	(void)state;

	/* the ring PMD makes its own rings when given no arguments */
	assert_int_equal(rte_vdev_init("net_ring_lpeal", NULL), 0);
	port = lp_port_open(&cfg, &info);
	assert_non_null(port);
	assert_string_equal(info.driver, "net_ring");
	assert_null(lp_port_ring_rx(port, 0)); /* not rings that lp_port made */
	/* that PMD's single ring is both its rx and its tx: tx loops back */
	m = make_pkt(1);
	assert_int_equal(lp_port_tx(port, 0, &m, 1), 1);
	assert_int_equal(lp_port_rx(port, 0, out, 4), 1);
	assert_ptr_equal(out[0], m);
	rte_pktmbuf_free(m);
	lp_port_close(port);
	port = NULL;
	/* close does not remove a device it did not create */
	assert_int_equal(rte_vdev_uninit("net_ring_lpeal"), 0);
}

/* A memif server listens on its socket file until closed; no peer needed. */
static void memif_server_opens_and_closes(void **state)
{
	char path[64];
	struct lp_port_info info;
	struct lp_port_config cfg;
	(void)state;

	snprintf(path, sizeof(path), "/tmp/lpdrv-memif-%d.sock", (int)getpid());
	(void)unlink(path);
	char spec[96];
	snprintf(spec, sizeof(spec), "memif:%s,server", path);
	cfg = config(spec, 1);
	port = lp_port_open(&cfg, &info);
	assert_non_null(port);
	assert_string_equal(info.driver, "net_memif");
	assert_int_equal(access(path, F_OK), 0);
	lp_port_close(port);
	port = NULL;
	(void)unlink(path);
}

/* --- root only: real interfaces in namespaces of our own -------------------- */

static int run(const char *cmd)
{
	int rc = system(cmd);

	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void netns_cleanup(void)
{
	(void)run("ip netns del " NS_A " 2>/dev/null; ip netns del " NS_B " 2>/dev/null");
}

/* Run the calling thread in namespace ns ("" = the one saved in *orig). */
static void enter_netns(const char *ns, int orig)
{
	int fd;

	if (ns[0] == '\0') {
		fd = orig;
	} else {
		char path[64];
		snprintf(path, sizeof(path), "/run/netns/%s", ns);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		assert_true(fd >= 0);
	}
	assert_int_equal(setns(fd, CLONE_NEWNET), 0);
	if (fd != orig)
		close(fd);
}

static int setup_veth(void **state)
{
	(void)state;
	if (geteuid() != 0)
		return 0;
	netns_cleanup();
	return run("ip netns add " NS_A " && ip netns add " NS_B " && "
		   "ip link add lpdrv0 netns " NS_A " type veth peer name lpdrv1 netns " NS_B
		   " && ip -n " NS_A " link set lpdrv0 up && ip -n " NS_B " link set lpdrv1 up")
		       == 0 ? 0 : -1;
}

static int teardown_veth(void **state)
{
	int rc = teardown(state);

	if (geteuid() == 0)
		netns_cleanup();
	return rc;
}

/*
 * The port sits on lpdrv0 (namespace a); a packet socket on lpdrv1
 * (namespace b) sends frames in and checks the frames the port sends.
 */
static void af_packet_on_veth(void **state)
{
	struct lp_port_config cfg = config("af_packet:lpdrv0", 1);
	struct lp_port_info info;
	struct rte_mbuf *pkts[32];
	uint8_t frame[64];
	(void)state;

	if (geteuid() != 0) {
		skip();
		return;
	}
	int orig = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	assert_true(orig >= 0);

	enter_netns(NS_A, orig);
	port = lp_port_open(&cfg, &info);
	enter_netns("", orig);
	assert_non_null(port);
	assert_string_equal(info.driver, "net_af_packet");
	assert_int_equal(info.mtu, 1500);

	enter_netns(NS_B, orig);
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(TEST_ETHERTYPE));
	unsigned ifindex = if_nametoindex("lpdrv1");
	enter_netns("", orig);
	close(orig);
	assert_true(s >= 0);
	assert_true(ifindex != 0);
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(TEST_ETHERTYPE),
				  .sll_ifindex = (int)ifindex, .sll_halen = ETH_ALEN};
	assert_int_equal(bind(s, (struct sockaddr *)&sll, sizeof(sll)), 0);
	struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
	assert_int_equal(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);

	/* in: 10 frames to the port's MAC */
	for (uint32_t i = 0; i < 10; i++) {
		struct ether_header *eh = (struct ether_header *)frame;
		memset(frame, 0, sizeof(frame));
		memcpy(eh->ether_dhost, info.mac.addr_bytes, ETH_ALEN);
		memset(eh->ether_shost, 0x02, ETH_ALEN);
		eh->ether_type = htons(TEST_ETHERTYPE);
		memcpy(frame + 14, &i, sizeof(i));
		memcpy(sll.sll_addr, info.mac.addr_bytes, ETH_ALEN);
		assert_int_equal(sendto(s, frame, sizeof(frame), 0, (struct sockaddr *)&sll,
					sizeof(sll)), (ssize_t)sizeof(frame));
	}
	unsigned got = 0, next = 0;
	uint64_t end = rte_rdtsc() + rte_get_tsc_hz();
	while (got < 10 && rte_rdtsc() < end) {
		uint16_t n = lp_port_rx(port, 0, pkts, 32);
		for (uint16_t i = 0; i < n; i++) {
			const struct rte_ether_hdr *eh =
				rte_pktmbuf_mtod(pkts[i], const struct rte_ether_hdr *);
			uint32_t seq;
			if (eh->ether_type == rte_cpu_to_be_16(TEST_ETHERTYPE)) {
				memcpy(&seq, rte_pktmbuf_mtod_offset(pkts[i], uint8_t *, 14), 4);
				assert_int_equal(seq, next);
				next++;
				got++;
			}
			rte_pktmbuf_free(pkts[i]);
		}
	}
	assert_int_equal(got, 10);

	/* out: 10 frames from the port, seen by the socket on the other end */
	for (uint32_t i = 0; i < 10; i++) {
		struct rte_mbuf *m = make_pkt(100 + i);
		struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
		memset(&eh->dst_addr, 0x02, RTE_ETHER_ADDR_LEN);
		eh->src_addr = info.mac;
		eh->ether_type = rte_cpu_to_be_16(TEST_ETHERTYPE);
		pkts[i] = m;
	}
	assert_int_equal(lp_port_tx(port, 0, pkts, 10), 10);
	got = 0;
	for (int tries = 0; tries < 50 && got < 10; tries++) {
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		ssize_t r = recvfrom(s, frame, sizeof(frame), 0, (struct sockaddr *)&from, &fl);
		if (r < 0)
			break;
		if (from.sll_pkttype == PACKET_OUTGOING || r < 18)
			continue;
		uint32_t seq;
		memcpy(&seq, frame + 14, 4);
		assert_int_equal(seq, 100 + got);
		got++;
	}
	close(s);
	assert_int_equal(got, 10);
}

static void tap_in_netns(void **state)
{
	struct lp_port_config cfg = config("tap:lpdrvtap0", 1);
	struct lp_port_info info;
	(void)state;

	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0) {
		skip();
		return;
	}
	int orig = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	assert_true(orig >= 0);
	enter_netns(NS_A, orig);
	port = lp_port_open(&cfg, &info);
	enter_netns("", orig);
	close(orig);
	assert_non_null(port);
	assert_string_equal(info.driver, "net_tap");
	assert_int_equal(run("ip -n " NS_A " link show lpdrvtap0 >/dev/null 2>&1"), 0);
	lp_port_close(port);
	port = NULL;
	assert_int_not_equal(run("ip -n " NS_A " link show lpdrvtap0 >/dev/null 2>&1"), 0);
}

int main(void)
{
	char *argv[] = {"test_port", "--no-huge", "-m", "512", "--no-pci", "--no-shconf",
			"--no-telemetry", "--log-level=error", "--file-prefix=lp_test_port",
			"-l", "0", NULL};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(bad_specs_fail_with_einval, teardown),
		cmocka_unit_test_teardown(ring_round_trip, teardown),
		cmocka_unit_test_teardown(ring_tx_full_leaves_rest_to_caller, teardown),
		cmocka_unit_test_teardown(eal_port_is_found_by_name, teardown),
		cmocka_unit_test_teardown(memif_server_opens_and_closes, teardown),
		cmocka_unit_test_setup_teardown(af_packet_on_veth, setup_veth, teardown_veth),
		cmocka_unit_test_setup_teardown(tap_in_netns, setup_veth, teardown_veth),
	};

	if (rte_eal_init((int)(sizeof(argv) / sizeof(argv[0])) - 1, argv) < 0) {
		fprintf(stderr, "test_port: rte_eal_init failed\n");
		return 1;
	}
	pool = rte_pktmbuf_pool_create("lp_test_port", POOL_SIZE, 0, 0,
				       RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (pool == NULL) {
		fprintf(stderr, "test_port: mbuf pool: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	char rundir[PATH_MAX];
	snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());
	rte_mempool_free(pool);
	rte_eal_cleanup();
	rmdir(rundir); /* empty with --no-shconf */
	if (geteuid() == 0)
		netns_cleanup();
	return rc;
}
