/* SPDX-License-Identifier: MIT */
/*
 * drivers/fault.c through drivers/port.c: the --fault parser, and drop, dup
 * and reorder applied to real bursts on a ring port in both directions
 * (rx: packets injected into the port's rx ring; tx: read back from its tx
 * ring). Each packet carries a sequence number, so loss, duplication and
 * order are checked packet by packet. Every test ends with the mbuf pool full.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "fault.h"
#include "port.h"

#define N_PKTS 10000u
#define POOL_SIZE 4095u
#define FEED 256u     /* packets injected per round */
#define BURST 32u
#define SEQ_OFF 14u   /* after the Ethernet header */
#define PKT_LEN 64u
#define TX_FULL_PKTS (64u * BURST)

static struct rte_mempool *pool;
static struct lp_port *port;
static unsigned port_seq;

/* Per run: how often each sequence number was seen, and the order. */
static uint8_t seen[N_PKTS];
static unsigned n_received, n_inversions, last_seq;

static struct rte_mbuf *make_pkt(uint32_t seq)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);

	assert_non_null(m);
	uint8_t *d = (uint8_t *)rte_pktmbuf_append(m, PKT_LEN);
	assert_non_null(d);
	memset(d, 0xab, PKT_LEN);
	memcpy(d + SEQ_OFF, &seq, sizeof(seq));
	return m;
}

static uint32_t pkt_seq(const struct rte_mbuf *m)
{
	uint32_t seq;

	assert_int_equal(rte_pktmbuf_pkt_len(m), PKT_LEN);
	memcpy(&seq, rte_pktmbuf_mtod_offset(m, const uint8_t *, SEQ_OFF), sizeof(seq));
	assert_true(seq < N_PKTS);
	return seq;
}

static void record_reset(void)
{
	memset(seen, 0, sizeof(seen));
	n_received = 0;
	n_inversions = 0;
	last_seq = 0;
}

/* Account for and free m (consumes m). */
static void record(struct rte_mbuf *m)
{
	uint32_t seq = pkt_seq(m);

	if (n_received > 0 && seq < last_seq)
		n_inversions++;
	last_seq = seq;
	seen[seq]++;
	n_received++;
	rte_pktmbuf_free(m);
}

static void open_port(const char *fault)
{
	struct lp_port_config cfg = {.n_queues = 1, .pool = pool};
	struct lp_port_info info;

	snprintf(cfg.spec, sizeof(cfg.spec), "ring:fault%u", port_seq++);
	assert_int_equal(lp_fault_parse(fault, &cfg.fault), 0);
	port = lp_port_open(&cfg, &info);
	assert_non_null(port);
}

static void close_port(void)
{
	lp_port_close(port);
	port = NULL;
	assert_int_equal(rte_mempool_in_use_count(pool), 0);
}

static int teardown(void **state)
{
	(void)state;
	if (port != NULL) {
		lp_port_close(port);
		port = NULL;
	}
	return rte_mempool_in_use_count(pool) == 0 ? 0 : -1;
}

static void drain_rx(void)
{
	struct rte_mbuf *pkts[BURST];

	for (unsigned iter = 0; iter < 100000; iter++) {
		uint16_t n = lp_port_rx(port, 0, pkts, BURST);
		for (uint16_t i = 0; i < n; i++)
			record(pkts[i]);
		if (n == 0 && rte_ring_empty(lp_port_ring_rx(port, 0)))
			return;
	}
	fail_msg("rx did not drain");
}

/* Inject N_PKTS into the port's rx ring, receive everything, wait out the hold. */
static void run_rx(void)
{
	struct rte_ring *r = lp_port_ring_rx(port, 0);

	record_reset();
	assert_non_null(r);
	for (uint32_t base = 0; base < N_PKTS; base += FEED) {
		for (uint32_t s = base; s < base + FEED && s < N_PKTS; s++)
			assert_int_equal(rte_ring_enqueue(r, make_pkt(s)), 0);
		drain_rx();
	}
	rte_delay_us_block(3 * LP_FAULT_HOLD_US / 2);
	drain_rx();
}

static void drain_tx(void)
{
	struct rte_ring *r = lp_port_ring_tx(port, 0);
	void *objs[BURST];
	unsigned n;

	while ((n = rte_ring_dequeue_burst(r, objs, BURST, NULL)) != 0)
		for (unsigned i = 0; i < n; i++)
			record(objs[i]);
}

/* Send N_PKTS with lp_port_tx, read them from the tx ring, wait out the hold. */
static void run_tx(void)
{
	struct rte_mbuf *pkts[BURST];

	record_reset();
	for (uint32_t base = 0; base < N_PKTS; base += BURST) {
		uint16_t n = 0;
		for (uint32_t s = base; s < base + BURST && s < N_PKTS; s++)
			pkts[n++] = make_pkt(s);
		/* the tx ring is drained every burst: everything is consumed */
		assert_int_equal(lp_port_tx(port, 0, pkts, n), n);
		lp_port_fault_tick(port, 0, rte_rdtsc());
		drain_tx();
	}
	rte_delay_us_block(3 * LP_FAULT_HOLD_US / 2);
	lp_port_fault_tick(port, 0, rte_rdtsc());
	drain_tx();
}

static unsigned count_seen(unsigned times)
{
	unsigned c = 0;

	for (unsigned i = 0; i < N_PKTS; i++)
		c += seen[i] == times;
	return c;
}

static void parse_valid(void **state)
{
	struct lp_fault_config c;
	(void)state;

	assert_int_equal(lp_fault_parse("drop=0.3", &c), 0);
	assert_true(c.drop == 0.3 && c.dup == 0.0 && c.reorder == 0.0 && c.seed == 0);
	assert_true(lp_fault_enabled(&c));

	assert_int_equal(lp_fault_parse("seed=42,reorder=0.125,dup=0.5,drop=1", &c), 0);
	assert_true(c.drop == 1.0 && c.dup == 0.5 && c.reorder == 0.125);
	assert_int_equal(c.seed, 42);

	assert_int_equal(lp_fault_parse("seed=0x10,drop=0", &c), 0);
	assert_int_equal(c.seed, 16);
	assert_false(lp_fault_enabled(&c));

	assert_int_equal(lp_fault_parse("seed=18446744073709551615", &c), 0);
	assert_true(c.seed == UINT64_MAX);

	assert_int_equal(lp_fault_parse("", &c), 0);
	assert_false(lp_fault_enabled(&c));
	assert_false(lp_fault_enabled(NULL));
}

static void parse_invalid(void **state)
{
	static const char *const bad[] = {
		"drop=1.5", "drop=-0.1", "drop=abc", "drop=", "drop", "=0.1",
		"foo=0.1", "drop=0.1,", ",drop=0.1", "drop=0.1,,dup=0.1",
		"drop=0.1,drop=0.2", "drop=nan", "drop=inf", "drop= 0.1", "drop=0.1x",
		"dup=2", "reorder=1.0001", "seed=-1", "seed=12x", "seed=",
		"seed=99999999999999999999999", "seed=0x", "DROP=0.1",
	};
	struct lp_fault_config c = {.drop = 0.5, .seed = 7};
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (lp_fault_parse(bad[i], &c) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
	}
	/* a failed parse leaves cfg alone */
	assert_true(c.drop == 0.5 && c.seed == 7);
	assert_int_equal(lp_fault_parse(NULL, &c), -EINVAL);
}

static void faults_off_pass_everything(void **state)
{
	struct rte_mbuf *in[BURST], *out[BURST];
	void *objs[BURST];
	(void)state;

	open_port("");
	for (uint32_t i = 0; i < BURST; i++)
		in[i] = make_pkt(i);
	assert_int_equal(rte_ring_enqueue_bulk(lp_port_ring_rx(port, 0), (void **)in, BURST, NULL),
			 BURST);
	assert_int_equal(lp_port_rx(port, 0, out, BURST), BURST);
	for (uint32_t i = 0; i < BURST; i++)
		assert_ptr_equal(out[i], in[i]); /* same mbufs, same order */

	assert_int_equal(lp_port_tx(port, 0, out, BURST), BURST);
	lp_port_fault_tick(port, 0, rte_rdtsc());
	assert_int_equal(rte_ring_dequeue_burst(lp_port_ring_tx(port, 0), objs, BURST, NULL),
			 BURST);
	for (uint32_t i = 0; i < BURST; i++) {
		assert_ptr_equal(objs[i], in[i]);
		assert_int_equal(pkt_seq(objs[i]), i);
		rte_pktmbuf_free(objs[i]);
	}
	const struct lp_fault_stats *st = lp_port_fault_stats(port, 0);
	assert_non_null(st);
	assert_true(st->dropped == 0 && st->duplicated == 0 && st->reordered == 0);
	assert_null(lp_port_fault_stats(port, 1));
	close_port();
}

/* Received packets: each at most once, in order, and received + dropped = sent. */
static void check_drop_run(const struct lp_fault_counters *dir, uint64_t *dropped)
{
	assert_int_equal(n_inversions, 0);
	assert_int_equal(count_seen(2), 0);
	assert_int_equal(n_received + dir->dropped, N_PKTS);
	assert_int_equal(count_seen(0), dir->dropped);
	*dropped = dir->dropped;
}

static void drop_rx_is_seeded(void **state)
{
	uint64_t d1, d2, d3;
	(void)state;

	open_port("drop=0.3,seed=1234");
	run_rx();
	check_drop_run(&lp_port_fault_stats(port, 0)->rx, &d1);
	assert_int_equal(lp_port_fault_stats(port, 0)->dropped, d1);
	assert_int_equal(lp_port_fault_stats(port, 0)->tx.dropped, 0);
	close_port();
	assert_in_range(d1, 2700, 3300);

	open_port("drop=0.3,seed=1234");
	run_rx();
	check_drop_run(&lp_port_fault_stats(port, 0)->rx, &d2);
	close_port();
	assert_int_equal(d1, d2);

	open_port("drop=0.3,seed=99");
	run_rx();
	check_drop_run(&lp_port_fault_stats(port, 0)->rx, &d3);
	close_port();
	assert_in_range(d3, 2700, 3300);
}

static void drop_tx_is_seeded(void **state)
{
	uint64_t d1, d2;
	(void)state;

	open_port("seed=5,drop=0.3");
	run_tx();
	check_drop_run(&lp_port_fault_stats(port, 0)->tx, &d1);
	assert_int_equal(lp_port_fault_stats(port, 0)->rx.dropped, 0);
	close_port();
	assert_in_range(d1, 2700, 3300);

	open_port("seed=5,drop=0.3");
	run_tx();
	check_drop_run(&lp_port_fault_stats(port, 0)->tx, &d2);
	close_port();
	assert_int_equal(d1, d2);
}

/* Every packet once or twice, copies right behind their original, in order. */
static void check_dup_run(const struct lp_fault_counters *dir)
{
	assert_int_equal(count_seen(0), 0);
	assert_int_equal(count_seen(2), dir->duplicated);
	assert_int_equal(n_received, N_PKTS + dir->duplicated);
	assert_int_equal(n_inversions, 0);
	/* 0.25 of 10000 = 2500, sd ~43 */
	assert_in_range(dir->duplicated, 2200, 2800);
}

static void dup_rx(void **state)
{
	(void)state;
	open_port("dup=0.25,seed=3");
	run_rx();
	check_dup_run(&lp_port_fault_stats(port, 0)->rx);
	close_port();
}

static void dup_tx(void **state)
{
	(void)state;
	open_port("dup=0.25,seed=3");
	run_tx();
	check_dup_run(&lp_port_fault_stats(port, 0)->tx);
	close_port();
}

/* Every packet exactly once, some out of order. */
static void check_reorder_run(const struct lp_fault_counters *dir)
{
	assert_int_equal(n_received, N_PKTS);
	assert_int_equal(count_seen(1), N_PKTS);
	assert_true(n_inversions > 0);
	assert_true(dir->reordered >= n_inversions);
	/* 0.1 of 10000 = 1000, a few are not held when the hold is full */
	assert_in_range(dir->reordered, 800, 1200);
	assert_int_equal(dir->dropped, 0);
}

static void reorder_rx(void **state)
{
	(void)state;
	open_port("reorder=0.1,seed=11");
	run_rx();
	check_reorder_run(&lp_port_fault_stats(port, 0)->rx);
	close_port();
}

static void reorder_tx(void **state)
{
	(void)state;
	open_port("reorder=0.1,seed=11");
	run_tx();
	check_reorder_run(&lp_port_fault_stats(port, 0)->tx);
	close_port();
}

/* A packet held back with nothing behind it comes out once its time is up. */
static void reorder_hold_times_out(void **state)
{
	struct rte_mbuf *pkts[BURST];
	(void)state;

	open_port("reorder=1,seed=1");
	struct rte_mbuf *m = make_pkt(7);
	assert_int_equal(lp_port_tx(port, 0, &m, 1), 1);
	lp_port_fault_tick(port, 0, rte_rdtsc());
	assert_int_equal(rte_ring_count(lp_port_ring_tx(port, 0)), 0);
	rte_delay_us_block(3 * LP_FAULT_HOLD_US / 2);
	lp_port_fault_tick(port, 0, rte_rdtsc());
	assert_int_equal(rte_ring_count(lp_port_ring_tx(port, 0)), 1);
	record_reset();
	drain_tx();
	assert_int_equal(seen[7], 1);

	m = make_pkt(8);
	assert_int_equal(rte_ring_enqueue(lp_port_ring_rx(port, 0), m), 0);
	assert_int_equal(lp_port_rx(port, 0, pkts, BURST), 0);
	rte_delay_us_block(3 * LP_FAULT_HOLD_US / 2);
	assert_int_equal(lp_port_rx(port, 0, pkts, BURST), 1);
	assert_int_equal(pkt_seq(pkts[0]), 8);
	rte_pktmbuf_free(pkts[0]);
	assert_int_equal(lp_port_fault_stats(port, 0)->reordered, 2);
	close_port();
}

/* All three at once, both directions: received = sent - dropped + duplicated. */
static void combined_conserves_packets(void **state)
{
	(void)state;
	open_port("drop=0.1,dup=0.1,reorder=0.2,seed=77");
	run_rx();
	const struct lp_fault_counters *rx = &lp_port_fault_stats(port, 0)->rx;
	assert_int_equal(n_received, N_PKTS - rx->dropped + rx->duplicated);
	assert_true(rx->dropped > 0 && rx->duplicated > 0 && rx->reordered > 0);
	assert_true(n_inversions > 0);

	run_tx();
	const struct lp_fault_counters *tx = &lp_port_fault_stats(port, 0)->tx;
	assert_int_equal(n_received, N_PKTS - tx->dropped + tx->duplicated);
	assert_true(tx->dropped > 0 && tx->duplicated > 0 && tx->reordered > 0);
	const struct lp_fault_stats *st = lp_port_fault_stats(port, 0);
	assert_int_equal(st->dropped, rx->dropped + tx->dropped);
	assert_int_equal(st->duplicated, rx->duplicated + tx->duplicated);
	assert_int_equal(st->reordered, rx->reordered + tx->reordered);
	close_port();
}

/*
 * A full tx ring: lp_port_tx consumes a prefix and leaves the rest to the
 * caller untouched, whatever the injector did inside the burst. Checked by
 * conservation: every packet is received, dropped or still the caller's.
 */
static void tx_full_returns_the_rest(void **state)
{
	struct lp_port_config cfg = {.n_queues = 1, .pool = pool, .tx_desc = 40};
	struct lp_port_info info;
	struct rte_mbuf *pkts[BURST];
	(void)state;

	assert_int_equal(lp_fault_parse("drop=0.2,dup=0.3,reorder=0.3,seed=8", &cfg.fault), 0);
	snprintf(cfg.spec, sizeof(cfg.spec), "ring:fault%u", port_seq++);
	port = lp_port_open(&cfg, &info);
	assert_non_null(port);

	record_reset();
	unsigned returned = 0, partial = 0;
	for (uint32_t base = 0; base < TX_FULL_PKTS; base += BURST) {
		for (uint32_t i = 0; i < BURST; i++)
			pkts[i] = make_pkt(base + i);
		uint16_t c = lp_port_tx(port, 0, pkts, BURST);
		assert_true(c <= BURST);
		if (c < BURST)
			partial++;
		for (uint32_t i = c; i < BURST; i++) {
			/* untouched: still the caller's, with its own sequence */
			assert_int_equal(pkt_seq(pkts[i]), base + i);
			rte_pktmbuf_free(pkts[i]);
			returned++;
		}
		/* drain only every other burst so the ring fills up */
		if ((base / BURST) % 2 == 1)
			drain_tx();
	}
	rte_delay_us_block(3 * LP_FAULT_HOLD_US / 2);
	for (int i = 0; i < 4; i++) {
		lp_port_fault_tick(port, 0, rte_rdtsc());
		drain_tx();
	}
	const struct lp_fault_counters *tx = &lp_port_fault_stats(port, 0)->tx;
	assert_true(partial > 0);
	assert_int_equal(n_received + tx->dropped + returned, TX_FULL_PKTS + tx->duplicated);
	for (unsigned i = 0; i < TX_FULL_PKTS; i++)
		assert_true(seen[i] <= 2);
	close_port();
}

int main(void)
{
	char *argv[] = {"test_fault", "--no-huge", "-m", "512", "--no-pci", "--no-shconf",
			"--no-telemetry", "--log-level=error", "--file-prefix=lp_test_fault",
			"-l", "0", NULL};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_valid),
		cmocka_unit_test(parse_invalid),
		cmocka_unit_test_teardown(faults_off_pass_everything, teardown),
		cmocka_unit_test_teardown(drop_rx_is_seeded, teardown),
		cmocka_unit_test_teardown(drop_tx_is_seeded, teardown),
		cmocka_unit_test_teardown(dup_rx, teardown),
		cmocka_unit_test_teardown(dup_tx, teardown),
		cmocka_unit_test_teardown(reorder_rx, teardown),
		cmocka_unit_test_teardown(reorder_tx, teardown),
		cmocka_unit_test_teardown(reorder_hold_times_out, teardown),
		cmocka_unit_test_teardown(combined_conserves_packets, teardown),
		cmocka_unit_test_teardown(tx_full_returns_the_rest, teardown),
	};

	if (rte_eal_init((int)(sizeof(argv) / sizeof(argv[0])) - 1, argv) < 0) {
		fprintf(stderr, "test_fault: rte_eal_init failed\n");
		return 1;
	}
	pool = rte_pktmbuf_pool_create("lp_test_fault", POOL_SIZE, 0, 0,
				       RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (pool == NULL) {
		fprintf(stderr, "test_fault: mbuf pool: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	char rundir[PATH_MAX];
	snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());
	rte_mempool_free(pool);
	rte_eal_cleanup();
	rmdir(rundir); /* empty with --no-shconf */
	return rc;
}
