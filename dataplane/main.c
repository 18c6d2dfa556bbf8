/* SPDX-License-Identifier: MIT */
/*
 * lepus-dataplane: the DPDK primary process.
 *
 * Start-up: EAL, configuration, packet pool, the port (one rx/tx queue pair per
 * worker), one struct lp_worker per worker lcore, the link to lepus-control,
 * a gratuitous ARP. Then every worker lcore runs lp_worker_poll() forever and
 * the main lcore services the control link. With a single lcore (`-l 0`) the
 * main lcore is the only worker and services the link between bursts, never
 * blocking. SIGINT/SIGTERM stop every loop; the process then closes the port
 * and frees everything before it exits.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/sysinfo.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include "alloc_count.h"
#include "amqp_server.h"
#include "arp.h"
#include "broker.h"
#include "config.h"
#include "ctl_link.h"
#include "lp_store.h"
#include "mesh.h"
#include "port.h"
#include "snapshot.h"
#include "tcp.h"
#include "worker.h"

#define MBUF_CACHE 256
/* How often the control link is serviced, from the main lcore. */
#define CTL_POLL_INTERVAL_US 2000
/* Operations per shard ring (32 bytes each). */
#define SHARD_RING_SIZE 65536
/* The main lcore's sleep between control polls when workers run elsewhere. */
#define MAIN_POLL_SLEEP_US 200

static atomic_bool stopping;

struct dataplane {
	struct lp_config cfg;
	struct lp_netif netif;
	struct lp_port_info port_info;
	struct rte_mempool *pool;
	struct lp_port *port;
	unsigned n_workers;
	struct lp_worker *workers;
	const struct lp_net_stats **stats;
	struct lp_ctl_link *ctl;
	struct lp_snapshot_publisher *snapshots;
	struct lp_mesh *mesh;            /* shard rings (workers on their own lcores) */
	struct lp_broker_relay *relay;   /* their requests to lepus-control */
	/* Resource alarms: the disk alarm is measured here (the data directory's
	 * free space, once a second) and read by every worker; the memory alarm
	 * is each worker's own (its message pool), logged here when it moves. */
	_Atomic uint32_t disk_alarm;     /* LP_BROKER_ALARM_DISK or 0 */
	uint64_t next_disk_check_ns;
	uint32_t *alarms_seen;           /* per worker, the last alarms logged */
	/* Queue statistics to lepus-control, once a second: a worker's sample
	 * is copied here (max_queues records), then sent */
	struct lp_ctl_queue_stat *qstats;
	uint32_t qstats_cap;
	uint64_t next_qstats_ns;
};

static void control_poll(struct dataplane *dp, uint64_t tsc);
static struct dataplane *the_dataplane; /* for the control link's result handler */

static void on_ctl_result(void *arg, const struct lp_ctl_result *r)
{
	(void)arg;
	if (the_dataplane->relay != NULL)
		lp_broker_relay_result(the_dataplane->relay, r);
	else
		lp_broker_on_result(the_dataplane->workers[0].broker, r);
}

static void on_signal(int sig)
{
	(void)sig;
	atomic_store_explicit(&stopping, true, memory_order_relaxed);
}

static uint64_t tsc_to_ns(uint64_t tsc)
{
	return (uint64_t)((double)tsc * 1e9 / (double)rte_get_tsc_hz());
}

static int worker_loop(void *arg)
{
	struct lp_worker *w = arg;

	lp_alloc_count_arm();
	while (!atomic_load_explicit(&stopping, memory_order_relaxed))
		lp_worker_poll(w);
	return 0;
}

/* The main lcore as the only worker: poll, and service the link every 2 ms. */
static void single_lcore_loop(struct dataplane *dp)
{
	uint64_t interval = rte_get_tsc_hz() / 1000000 * CTL_POLL_INTERVAL_US;
	uint64_t next = 0;

	while (!atomic_load_explicit(&stopping, memory_order_relaxed)) {
		lp_worker_poll(&dp->workers[0]);
		uint64_t now = dp->workers[0].net.now_tsc;

		if (now >= next) {
			control_poll(dp, now);
			next = now + interval;
		}
	}
}

static void main_lcore_loop(struct dataplane *dp)
{
	while (!atomic_load_explicit(&stopping, memory_order_relaxed)) {
		control_poll(dp, rte_rdtsc());
		usleep(MAIN_POLL_SLEEP_US);
	}
}

static int write_small_file(const char *path, const char *text)
{
	char tmp[LP_PATH_MAX + 8];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (f == NULL)
		return -errno;
	fputs(text, f);
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		return -errno;
	return 0;
}

static int setup_workers(struct dataplane *dp)
{
	unsigned lcore, i = 0;

	/* Credentials and topology as lepus-control pushes them (snapshot.h). */
	dp->snapshots = lp_snapshot_publisher_create(dp->n_workers);
	dp->workers = rte_zmalloc("lp_workers", sizeof(*dp->workers) * dp->n_workers,
				  RTE_CACHE_LINE_SIZE);
	dp->stats = calloc(dp->n_workers, sizeof(*dp->stats));
	dp->alarms_seen = calloc(dp->n_workers, sizeof(*dp->alarms_seen));
	if (dp->snapshots == NULL || dp->workers == NULL || dp->stats == NULL || dp->alarms_seen == NULL)
		return -ENOMEM;
	if (rte_lcore_count() == 1) {
		lp_worker_init(&dp->workers[0], 0, rte_get_main_lcore(), &dp->netif, dp->port,
			       dp->pool, dp->snapshots);
	} else {
		RTE_LCORE_FOREACH_WORKER(lcore) {
			lp_worker_init(&dp->workers[i], i, lcore, &dp->netif, dp->port, dp->pool,
				       dp->snapshots);
			i++;
		}
	}
	for (i = 0; i < dp->n_workers; i++)
		dp->stats[i] = &dp->workers[i].net.stats;
	return 0;
}

static int setup_port(struct dataplane *dp)
{
	struct lp_port_config pc = {
		.n_queues = (uint16_t)dp->n_workers,
		.rx_desc = dp->cfg.rx_desc,
		.tx_desc = dp->cfg.tx_desc,
		.mtu = dp->cfg.mtu,
		.fault = dp->cfg.fault,
	};

	memcpy(pc.spec, dp->cfg.port, sizeof(pc.spec));
	dp->pool = rte_pktmbuf_pool_create("lp_mbufs", dp->cfg.n_mbufs, MBUF_CACHE, 0,
					   RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
	if (dp->pool == NULL) {
		fprintf(stderr, "lepus-dataplane: cannot create a pool of %u mbufs: %s\n",
			dp->cfg.n_mbufs, rte_strerror(rte_errno));
		return -ENOMEM;
	}
	pc.pool = dp->pool;
	dp->port = lp_port_open(&pc, &dp->port_info);
	if (dp->port == NULL) {
		fprintf(stderr, "lepus-dataplane: cannot open port '%s': %s\n", dp->cfg.port,
			rte_strerror(rte_errno));
		return -rte_errno;
	}
	dp->netif = (struct lp_netif){
		.port_id = dp->port_info.port_id,
		.mac = dp->port_info.mac,
		.ip = dp->cfg.ip,
		.netmask = dp->cfg.netmask,
		.gateway = dp->cfg.gateway,
		.mtu = dp->port_info.mtu,
		.tx_ip4_cksum_offload = dp->port_info.tx_ip4_cksum_offload,
		.tx_tcp_cksum_offload = dp->port_info.tx_tcp_cksum_offload,
		.rx_cksum_offload = dp->port_info.rx_cksum_offload,
	};
	return 0;
}

/* TCP on every worker. */
static int setup_tcp(struct dataplane *dp)
{
	struct lp_tcp_config tcfg = {
		.max_conns = dp->cfg.tcp_max_conns,
		.echo_port = dp->cfg.echo_port,
		.discard_port = dp->cfg.discard_port,
	};

	for (unsigned i = 0; i < dp->n_workers; i++) {
		int rc = lp_tcp_worker_create(&dp->workers[i].net, &tcfg);

		if (rc != 0) {
			fprintf(stderr, "lepus-dataplane: TCP on worker %u: %s\n", i, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

/* The AMQP listener of every worker, its sessions served by the worker's broker. */
static int setup_amqp(struct dataplane *dp)
{
	struct lp_amqp_server_config acfg;

	lp_amqp_server_config_default(&acfg);
	acfg.port = dp->cfg.amqp_port;
	acfg.max_conns = dp->cfg.amqp_max_conns;
	acfg.conn.max_message_size = dp->cfg.max_message_size;
	if (acfg.port == 0)
		return 0;
	for (unsigned i = 0; i < dp->n_workers; i++) {
		int rc = lp_worker_listen_amqp(&dp->workers[i], &acfg, NULL);

		if (rc != 0) {
			fprintf(stderr, "lepus-dataplane: AMQP listener on worker %u: %s\n", i,
				strerror(-rc));
			return rc;
		}
	}
	return 0;
}

/* One worker's shard, made on its own lcore (rte_eal_remote_launch). */
struct broker_start {
	struct dataplane *dp;
	const struct lp_broker_config *cfg;
	unsigned id;
	bool launched;
	int err; /* rte_errno when it failed */
};

static int start_broker(void *arg)
{
	struct broker_start *s = arg;

	s->dp->workers[s->id].broker =
		lp_broker_create(s->id, s->cfg, s->dp->snapshots, NULL, s->dp->mesh);
	s->err = s->dp->workers[s->id].broker == NULL ? rte_errno : 0;
	return 0;
}


/* The message pool of each worker from --memory-limit: the limit's share of
 * a worker over the octets a message slot takes (properties, body, header),
 * within what --max-messages accepts. */
static uint32_t pool_from_memory_limit(struct lp_config *cfg, unsigned n_workers)
{
	uint64_t limit = cfg->memory_limit;
	struct sysinfo si;

	if (limit == 0 && sysinfo(&si) == 0)
		limit = (uint64_t)(cfg->memory_limit_fraction * (double)si.totalram * si.mem_unit);
	if (limit == 0)
		limit = 1ull << 30;
	cfg->memory_limit = limit;
	uint64_t n = limit / (n_workers ? n_workers : 1) / lp_broker_message_bytes();

	return n < 1024 ? 1024 : n > (1u << 26) ? 1u << 26 : (uint32_t)n;
}

static int setup_control_link(struct dataplane *dp)
{
	struct lp_ctl_link_info info = {
		.pid = (uint32_t)getpid(),
		.n_workers = (uint16_t)dp->n_workers,
		.ip_be = dp->cfg.ip,
	};

	memcpy(info.mac, dp->netif.mac.addr_bytes, sizeof(info.mac));
	snprintf(info.driver, sizeof(info.driver), "%s", dp->port_info.driver);
	dp->ctl = lp_ctl_link_create(dp->cfg.control_socket, &info, dp->stats, dp->n_workers);
	if (dp->ctl == NULL) {
		fprintf(stderr, "lepus-dataplane: control link: %s\n", strerror(errno));
		return -errno;
	}
	struct lp_ctl_link_handlers h = {0};

	lp_snapshot_link_handlers(dp->snapshots, &h);
	h.result = on_ctl_result;
	lp_ctl_link_set_handlers(dp->ctl, &h);
	if (dp->cfg.amqp_port == 0)
		return 0;
	/* One lcore: it is the worker and calls the link directly. Otherwise the
	 * workers reach each other through the ring mesh and lepus-control
	 * through the main lcore's relay. */
	bool single = dp->n_workers == 1 && rte_lcore_count() == 1;
	struct lp_broker_config bcfg;

	lp_broker_config_default(&bcfg);
	bcfg.data_dir = dp->cfg.data_dir;
	if (dp->cfg.max_messages == 0)
		dp->cfg.max_messages = pool_from_memory_limit(&dp->cfg, dp->n_workers);
	bcfg.max_messages = dp->cfg.max_messages;
	/* queue_capacity (65536) stays: past it in memory, a queue's publishers
	 * wait for its consumers (flow control) or, with none, its tail goes to
	 * the journal (page.c); the memory alarm blocks publishers first. */
	bcfg.queue_entries = dp->cfg.max_messages + dp->cfg.max_messages / 8;
	bcfg.prefault = dp->cfg.prefault;
	bcfg.memory_high_watermark = dp->cfg.memory_high_watermark;
	bcfg.disk_alarm = &dp->disk_alarm;
	bcfg.store_fault_sync_eio_at = dp->cfg.store_fault_sync_eio_at;
	bcfg.store_fault_torn_write_at = dp->cfg.store_fault_torn_write_at;
	dp->qstats_cap = bcfg.max_queues;
	dp->qstats = calloc(dp->qstats_cap, sizeof(*dp->qstats));
	if (dp->qstats == NULL)
		return -ENOMEM;
	if (!single) {
		dp->mesh = lp_mesh_create(dp->n_workers, SHARD_RING_SIZE);
		dp->relay = dp->mesh != NULL ? lp_broker_relay_create(dp->mesh, dp->ctl) : NULL;
		if (dp->relay == NULL) {
			fprintf(stderr, "lepus-dataplane: shard rings: %s\n", rte_strerror(rte_errno));
			return -ENOMEM;
		}
	}
	if (single) {
		dp->workers[0].broker = lp_broker_create(0, &bcfg, dp->snapshots, dp->ctl, NULL);
		if (dp->workers[0].broker == NULL) {
			fprintf(stderr, "lepus-dataplane: broker: %s\n", rte_strerror(rte_errno));
			return -rte_errno;
		}
		return 0;
	}
	/* Each worker lcore makes its own shard (its memory first touched
	 * there) and recovers its own journal: all of them at once. */
	struct broker_start *starts = calloc(dp->n_workers, sizeof(*starts));

	if (starts == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < dp->n_workers; i++) {
		starts[i] = (struct broker_start){.dp = dp, .cfg = &bcfg, .id = i};
		starts[i].launched =
			rte_eal_remote_launch(start_broker, &starts[i], dp->workers[i].net.lcore_id) == 0;
		if (!starts[i].launched)
			start_broker(&starts[i]); /* here, then */
	}
	int err = 0;

	for (unsigned i = 0; i < dp->n_workers; i++) {
		if (starts[i].launched)
			rte_eal_wait_lcore(dp->workers[i].net.lcore_id);
		if (dp->workers[i].broker == NULL) {
			fprintf(stderr, "lepus-dataplane: broker on worker %u: %s\n", i,
				rte_strerror(starts[i].err));
			err = -starts[i].err;
		}
	}
	free(starts);
	return err;
}

/* The disk alarm (RabbitMQ's disk_free_limit), checked once a second. */
static void check_disk(struct dataplane *dp, uint64_t now_ns)
{
	uint64_t free_bytes;

	if (dp->cfg.data_dir[0] == '\0' || now_ns < dp->next_disk_check_ns)
		return;
	dp->next_disk_check_ns = now_ns + 1000000000ull;
	if (lp_store_disk_free(dp->cfg.data_dir, &free_bytes) != 0)
		return; /* the journal reports its own errors */
	uint32_t want = free_bytes < dp->cfg.disk_free_limit ? LP_BROKER_ALARM_DISK : 0;

	if (want != atomic_load_explicit(&dp->disk_alarm, memory_order_relaxed)) {
		fprintf(stderr, "lepus-dataplane: disk alarm %s: %" PRIu64 " bytes free in %s, limit %" PRIu64
			"%s\n", want ? "set" : "cleared", free_bytes, dp->cfg.data_dir,
			dp->cfg.disk_free_limit, want ? "; publishers are blocked" : "");
		atomic_store_explicit(&dp->disk_alarm, want, memory_order_relaxed);
	}
}

/* Each worker's alarms to the control link's stats, and their changes to the log. */
static void report_alarms(struct dataplane *dp)
{
	for (unsigned i = 0; i < dp->n_workers; i++) {
		const struct lp_broker_stats *bs = lp_broker_stats(dp->workers[i].broker);

		if (bs == NULL)
			continue;
		/* The disk alarm is every worker's at once, publishing or not. */
		uint32_t a = (uint32_t)bs->alarms |
			     atomic_load_explicit(&dp->disk_alarm, memory_order_relaxed);

		lp_ctl_link_set_gauges(dp->ctl, i, a, bs->blocked_publishers);
		if (dp->alarms_seen != NULL && ((a ^ dp->alarms_seen[i]) & LP_BROKER_ALARM_MEMORY))
			fprintf(stderr, "lepus-dataplane: worker %u: memory alarm %s (message pool %u of %u free)\n",
				i, a & LP_BROKER_ALARM_MEMORY ? "set; its publishers are blocked" : "cleared",
				lp_broker_pool_free(dp->workers[i].broker),
				dp->cfg.max_messages);
		if (dp->alarms_seen != NULL)
			dp->alarms_seen[i] = a;
	}
}

/* Each worker's last sample of its queues to lepus-control, once a second. */
static void report_queues(struct dataplane *dp, uint64_t now_ns)
{
	if (now_ns < dp->next_qstats_ns)
		return;
	dp->next_qstats_ns = now_ns + LP_CTL_STATS_INTERVAL_NS;
	for (unsigned i = 0; i < dp->n_workers; i++) {
		int n = lp_broker_queue_stats_read(dp->workers[i].broker, dp->qstats, dp->qstats_cap);

		int rc = n >= 0 ? lp_ctl_link_queue_stats(dp->ctl, i, now_ns, dp->qstats, (uint32_t)n) : 0;

		if (rc == -ENOTCONN || rc == -EAGAIN)
			return; /* link down or full: the next second */
	}
}

/* The main lcore's control work: alarms, queue statistics, the link, then
 * freeing old snapshots. */
static void control_poll(struct dataplane *dp, uint64_t tsc)
{
	uint64_t now_ns = tsc_to_ns(tsc);

	check_disk(dp, now_ns);
	report_alarms(dp);
	report_queues(dp, now_ns);
	lp_ctl_link_poll(dp->ctl, now_ns);
	if (dp->relay != NULL)
		lp_broker_relay_poll(dp->relay);
	lp_snapshot_reclaim(dp->snapshots);
}

static void print_summary(const struct dataplane *dp)
{
	for (unsigned i = 0; i < dp->n_workers; i++) {
		const struct lp_net_stats *s = &dp->workers[i].net.stats;

		printf("worker %u: rx %" PRIu64 " pkts, tx %" PRIu64 " pkts", i, s->rx_packets,
		       s->tx_packets);
		for (unsigned r = 0; r < LP_DROP__COUNT; r++)
			if (s->drops[r] != 0)
				printf(", %s %" PRIu64, lp_drop_name(r), s->drops[r]);
		printf("\n");
		const struct lp_broker_stats *bs = lp_broker_stats(dp->workers[i].broker);

		if (bs != NULL)
			printf("broker worker %u: published %" PRIu64 ", enqueued here %" PRIu64
			       ", sent to other shards %" PRIu64 ", unroutable %" PRIu64
			       ", delivered %" PRIu64 ", ring ops sent %" PRIu64 " received %" PRIu64
			       ", dropped (queue full) %" PRIu64 ", ring ops refused %" PRIu64
			       ", notices lost %" PRIu64 "\n", i, bs->published, bs->routed_local,
			       bs->routed_remote, bs->unroutable, bs->delivered, bs->ops_sent,
			       bs->ops_received, bs->dropped_queue_full, bs->ops_refused, bs->notices_lost);
		if (bs != NULL)
			printf("queues worker %u: expired %" PRIu64 ", dead-lettered %" PRIu64
			       " (to other shards %" PRIu64 "), dead letters dropped %" PRIu64
			       ", direct replies %" PRIu64 " (to other workers %" PRIu64
			       ", dropped %" PRIu64 ")\n", i, bs->expired, bs->dead_lettered,
			       bs->dead_lettered_remote, bs->dead_letters_dropped, bs->replies,
			       bs->replies_remote, bs->replies_dropped);
		if (bs != NULL && dp->cfg.data_dir[0] != '\0')
			printf("journal worker %u: persisted %" PRIu64 ", group commits %" PRIu64
			       " (%.1f messages each), recovered %" PRIu64 " (orphans settled %" PRIu64
			       ", forwarded %" PRIu64 ", left on disk %" PRIu64 "), settles lost %" PRIu64
			       ", paged out %" PRIu64 ", paged in %" PRIu64 "\n", i, bs->persisted,
			       bs->flushes, bs->flushes ? (double)bs->persisted / (double)bs->flushes : 0.0,
			       bs->recovered, bs->recovered_orphans, bs->recovered_forwarded,
			       bs->recovered_on_disk, bs->settles_lost, bs->paged_out, bs->paged_in);
		const struct lp_fault_stats *f = lp_port_fault_stats(dp->port, (uint16_t)i);

		if (f != NULL && lp_fault_enabled(&dp->cfg.fault))
			printf("worker %u: fault injector dropped %" PRIu64 ", duplicated %" PRIu64
			       ", reordered %" PRIu64 "\n", i, f->dropped, f->duplicated, f->reordered);
	}
}

static void teardown(struct dataplane *dp)
{
	if (dp->workers != NULL) {
		print_summary(dp);
		/* Messages live in their publisher's pool and may be referenced
		 * from any shard: every reference goes before any pool. */
		for (unsigned i = 0; i < dp->n_workers; i++) {
			lp_amqp_server_destroy(dp->workers[i].amqp);
			lp_broker_drop_messages(dp->workers[i].broker);
		}
		lp_mesh_destroy(dp->mesh);
		for (unsigned i = 0; i < dp->n_workers; i++) {
			lp_broker_destroy(dp->workers[i].broker);
			lp_tcp_worker_destroy(&dp->workers[i].net);
			lp_net_tx_flush(&dp->workers[i].net);
		}
	}
	/* After the connections: closing them reports to the link. */
	if (dp->ctl != NULL)
		lp_ctl_link_destroy(dp->ctl);
	lp_broker_relay_destroy(dp->relay);
	lp_snapshot_publisher_destroy(dp->snapshots);
	lp_port_close(dp->port);
	rte_free(dp->workers);
	free(dp->stats);
	free(dp->qstats);
	free(dp->alarms_seen);
	rte_mempool_free(dp->pool);
	if (dp->cfg.ready_file[0] != '\0')
		unlink(dp->cfg.ready_file);
	if (dp->cfg.pid_file[0] != '\0')
		unlink(dp->cfg.pid_file);
}

int main(int argc, char **argv)
{
	static struct dataplane dp;

	the_dataplane = &dp;
	char err[256], text[64];
	int n, rc;

	n = rte_eal_init(argc, argv);
	if (n < 0) {
		fprintf(stderr, "lepus-dataplane: EAL init failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	argv[n] = argv[0];
	lp_config_defaults(&dp.cfg);
	rc = lp_config_parse_args(&dp.cfg, argc - n, argv + n, err, sizeof(err));
	if (rc == 0)
		rc = lp_config_validate(&dp.cfg, err, sizeof(err));
	if (rc != 0) {
		if (rc < 0)
			fprintf(stderr, "lepus-dataplane: %s (see --help)\n", err);
		rte_eal_cleanup();
		return rc < 0 ? 2 : 0;
	}
	if (!rte_eal_has_hugepages())
		printf("lepus-dataplane: running WITHOUT hugepages (--no-huge): fine for the demo "
		       "and tests, slower for benchmarks; see scripts/hugepages\n");

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);

	/* Every lcore but the main one is a worker; alone, the main lcore is one. */
	dp.n_workers = rte_lcore_count() > 1 ? rte_lcore_count() - 1 : 1;
	rc = setup_port(&dp);
	if (rc == 0)
		rc = setup_workers(&dp);
	if (rc == 0)
		rc = setup_tcp(&dp);
	if (rc == 0)
		rc = setup_control_link(&dp);
	if (rc == 0)
		rc = setup_amqp(&dp);
	if (rc != 0) {
		teardown(&dp);
		rte_eal_cleanup();
		return 1;
	}

	/* RFC 5227 2.3: announce our address; queue 0 is ours until workers start. */
	lp_arp_announce(&dp.workers[0].net);
	lp_net_tx_flush(&dp.workers[0].net);

	if (dp.cfg.memory_limit != 0)
		printf("lepus-dataplane: message pool: %u messages per worker (memory limit %" PRIu64
		       " MiB for %u worker(s); resident as it is used%s)\n", dp.cfg.max_messages,
		       dp.cfg.memory_limit >> 20, dp.n_workers, dp.cfg.prefault ? ", prefaulted" : "");
	else
		printf("lepus-dataplane: message pool: %u messages per worker (--max-messages%s)\n",
		       dp.cfg.max_messages, dp.cfg.prefault ? ", prefaulted" : "");
	printf("lepus-dataplane: serving %s on %s (%s, mac " RTE_ETHER_ADDR_PRT_FMT
	       "), %u worker(s)\n",
	       inet_ntop(AF_INET, &dp.cfg.ip, text, sizeof(text)), dp.cfg.port, dp.port_info.driver,
	       RTE_ETHER_ADDR_BYTES(&dp.netif.mac), dp.n_workers);
	fflush(stdout);
	if (dp.cfg.pid_file[0] != '\0') {
		snprintf(text, sizeof(text), "%d\n", (int)getpid());
		write_small_file(dp.cfg.pid_file, text);
	}
	if (dp.cfg.ready_file[0] != '\0')
		write_small_file(dp.cfg.ready_file, "ready\n");

	if (dp.n_workers == 1 && rte_lcore_count() == 1) {
		single_lcore_loop(&dp);
	} else {
		for (unsigned i = 0; i < dp.n_workers; i++)
			rte_eal_remote_launch(worker_loop, &dp.workers[i], dp.workers[i].net.lcore_id);
		main_lcore_loop(&dp);
		rte_eal_mp_wait_lcore();
	}
	printf("lepus-dataplane: stopping\n");
	lp_alloc_count_report(stdout);
	teardown(&dp);
	rte_eal_cleanup();
	return 0;
}
