/* SPDX-License-Identifier: MIT */
/* The TCP-lite test harness; see test_tcp_harness.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_mempool.h>
#include <rte_tcp.h>

#include "test_tcp_harness.h"
#include "port_capture.h"
#include "eth.h"

struct lp_net th_net;
struct rte_mempool *th_pool;
const struct rte_ether_addr th_our_mac = {{0x02, 0, 0, 0, 0, 0x01}};
const struct rte_ether_addr th_peer_mac = {{0x02, 0, 0, 0, 0, 0x02}};
struct lp_tcp_config th_cfg;
struct th_app th_app;
struct rte_mbuf *th_last_fed;

static struct lp_netif th_netif;

int th_group_setup(void **state)
{
	char prefix[64];
	(void)state;
	snprintf(prefix, sizeof(prefix), "--file-prefix=lp-tcp-%d", (int)getpid());
	char *argv[] = {"test", "--no-huge", "-m", "512", "--no-pci",
			"--no-telemetry", "--log-level=error", prefix, "-l", "0", NULL};

	if (rte_eal_init((int)(sizeof(argv) / sizeof(argv[0])) - 1, argv) < 0)
		return -1;
	th_pool = rte_pktmbuf_pool_create("tcp_test", TH_POOL_SIZE, 0, 0,
					  RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	th_app.rx = malloc(TH_APP_BUF);
	return th_pool == NULL || th_app.rx == NULL ? -1 : 0;
}

int th_group_teardown(void **state)
{
	(void)state;
	free(th_app.rx);
	rte_mempool_free(th_pool);
	rte_eal_cleanup();
	return 0;
}

/* --- the recording application --- */

static int app_accept(void *arg, struct lp_tcb *t)
{
	(void)arg;
	th_app.accepts++;
	th_app.tcb = t;
	lp_tcp_set_conn(t, &th_app);
	return th_app.accept_rc;
}

static void app_connected(void *conn, struct lp_tcb *t)
{
	assert_ptr_equal(conn, &th_app);
	th_app.connected++;
	th_app.tcb = t;
}

static void app_recv(void *conn, struct lp_tcb *t, struct rte_mbuf *m)
{
	assert_ptr_equal(conn, &th_app);
	th_app.rx_calls++;
	if (m == NULL) {
		assert_false(th_app.eof);
		th_app.eof = true;
		if (th_app.close_on_eof)
			lp_tcp_close(t);
		return;
	}
	uint32_t len = rte_pktmbuf_pkt_len(m);

	th_app.last_m = m;
	if (th_app.abort_on_recv) {
		rte_pktmbuf_free(m);
		lp_tcp_abort(t);
		return;
	}
	assert_true(th_app.rx_len + len <= TH_APP_BUF);
	/* rte_pktmbuf_read copies only when the data is not contiguous. */
	const void *p = rte_pktmbuf_read(m, 0, len, th_app.rx + th_app.rx_len);

	assert_non_null(p);
	if (p != th_app.rx + th_app.rx_len)
		memcpy(th_app.rx + th_app.rx_len, p, len);
	th_app.rx_len += len;
	if (th_app.echo)
		assert_int_equal(lp_tcp_send(t, m), 0);
	else
		rte_pktmbuf_free(m);
	if (th_app.auto_recved && !th_app.echo)
		lp_tcp_recved(t, len);
}

static void app_sent(void *conn, struct lp_tcb *t, uint32_t acked)
{
	assert_ptr_equal(conn, &th_app);
	th_app.acked += acked;
	if (th_app.echo && th_app.auto_recved)
		lp_tcp_recved(t, acked);
}

static void app_closed(void *conn, struct lp_tcb *t, int reason)
{
	assert_ptr_equal(conn, &th_app);
	(void)t;
	th_app.closed_calls++;
	th_app.closed_reason = reason;
	th_app.tcb = NULL;
}

const struct lp_tcp_ops th_app_ops = {
	.accept = app_accept,
	.connected = app_connected,
	.recv = app_recv,
	.sent = app_sent,
	.closed = app_closed,
};

int th_setup(void **state)
{
	(void)state;
	th_netif = (struct lp_netif){
		.mac = th_our_mac,
		.ip = rte_cpu_to_be_32(TH_OUR_IP),
		.netmask = rte_cpu_to_be_32(0xffffff00),
		.mtu = 1500,
	};
	port_tx_clear();
	uint8_t *rx = th_app.rx;

	memset(&th_app, 0, sizeof(th_app));
	th_app.rx = rx;
	th_app.auto_recved = true;
	if (lp_net_init(&th_net, 0, 0, &th_netif, (struct lp_port *)&th_netif, th_pool) != 0)
		return -1;
	th_net.now_tsc = rte_get_tsc_hz() * 1000; /* virtual time starts at 1000 s */
	if (lp_tcp_worker_create(&th_net, &th_cfg) != 0)
		return -1;
	return 0;
}

int th_teardown(void **state)
{
	(void)state;
	lp_net_tx_flush(&th_net);
	th_drain();
	lp_tcp_worker_destroy(&th_net);
	lp_net_tx_flush(&th_net);
	th_drain();
	/* Every mbuf the stack touched is back: nothing leaked, nothing double-freed. */
	assert_int_equal(rte_mempool_in_use_count(th_pool), 0);
	memset(&th_cfg, 0, sizeof(th_cfg));
	return 0;
}

void th_send(const struct th_tx *s)
{
	static uint8_t f[4096];
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)f;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)(ip + 1);
	uint32_t hlen = 20 + s->optlen;
	uint32_t l4 = hlen + s->len;

	assert_true(sizeof(*eth) + sizeof(*ip) + l4 <= sizeof(f));
	eth->dst_addr = th_our_mac;
	eth->src_addr = th_peer_mac;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	memset(ip, 0, sizeof(*ip));
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(sizeof(*ip) + l4));
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_TCP;
	ip->src_addr = rte_cpu_to_be_32(TH_PEER_IP);
	ip->dst_addr = rte_cpu_to_be_32(TH_OUR_IP);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	memset(th, 0, sizeof(*th));
	th->src_port = rte_cpu_to_be_16(s->sport ? s->sport : 40000);
	th->dst_port = rte_cpu_to_be_16(s->dport);
	th->sent_seq = rte_cpu_to_be_32(s->seq);
	th->recv_ack = rte_cpu_to_be_32(s->ack);
	th->data_off = (uint8_t)((hlen / 4) << 4);
	th->tcp_flags = s->flags;
	th->rx_win = rte_cpu_to_be_16(s->wnd);
	if (s->optlen)
		memcpy(th + 1, s->opts, s->optlen);
	if (s->len)
		memcpy((uint8_t *)th + hlen, s->data, s->len);
	th->cksum = rte_ipv4_udptcp_cksum(ip, th);
	if (s->bad_cksum)
		th->cksum ^= 0x5a5a;

	struct rte_mbuf *m = rte_pktmbuf_alloc(th_pool);

	assert_non_null(m);
	uint32_t total = (uint32_t)(sizeof(*eth) + sizeof(*ip) + l4);

	void *dst = rte_pktmbuf_append(m, (uint16_t)total);

	assert_non_null(dst);
	memcpy(dst, f, total);
	th_last_fed = m;
	lp_eth_input(&th_net, m);
	lp_net_tx_flush(&th_net);
}

void th_poll(void)
{
	lp_tcp_worker_poll(&th_net);
	lp_net_tx_flush(&th_net);
}

void th_advance(uint32_t ms)
{
	uint64_t step = rte_get_tsc_hz() / 1000;

	/* One millisecond at a time, as the poll loop would see it. */
	for (uint32_t i = 0; i < ms; i++) {
		th_net.now_tsc += step;
		th_poll();
	}
}

unsigned th_pending(void)
{
	return port_tx_count();
}

struct rte_mbuf *th_pop_frame(void)
{
	return port_tx_pop();
}

void th_pop(struct th_seg *s)
{
	struct rte_mbuf *m = th_pop_frame();
	uint8_t buf[4096];
	uint32_t len = rte_pktmbuf_pkt_len(m);

	assert_true(len <= sizeof(buf));
	const uint8_t *p = rte_pktmbuf_read(m, 0, len, buf);

	assert_non_null(p);
	const struct rte_ether_hdr *eth = (const struct rte_ether_hdr *)p;
	const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)(eth + 1);
	const struct rte_tcp_hdr *th = (const struct rte_tcp_hdr *)(ip + 1);

	assert_int_equal(eth->ether_type, rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4));
	assert_true(rte_is_same_ether_addr(&eth->dst_addr, &th_peer_mac));
	assert_int_equal(ip->next_proto_id, IPPROTO_TCP);
	assert_int_equal(ip->dst_addr, rte_cpu_to_be_32(TH_PEER_IP));
	assert_int_equal(ip->src_addr, rte_cpu_to_be_32(TH_OUR_IP));
	assert_int_equal(rte_raw_cksum(ip, sizeof(*ip)), 0xffff);
	assert_int_equal(rte_be_to_cpu_16(ip->total_length), len - sizeof(*eth));
	/* Software checksum (the harness port offers no offload): must verify. */
	assert_int_equal(rte_ipv4_udptcp_cksum_verify(ip, th), 0);
	uint32_t hlen = (uint32_t)(th->data_off >> 4) * 4;

	memset(s, 0, offsetof(struct th_seg, data));
	s->flags = th->tcp_flags;
	s->seq = rte_be_to_cpu_32(th->sent_seq);
	s->ack = rte_be_to_cpu_32(th->recv_ack);
	s->wnd = rte_be_to_cpu_16(th->rx_win);
	s->sport = rte_be_to_cpu_16(th->src_port);
	s->dport = rte_be_to_cpu_16(th->dst_port);
	s->len = len - sizeof(*eth) - sizeof(*ip) - hlen;
	assert_int_equal(lp_tcp_parse_options((const uint8_t *)(th + 1), hlen - 20, &s->opts), 0);
	assert_true(s->len <= sizeof(s->data));
	memcpy(s->data, (const uint8_t *)th + hlen, s->len);
	rte_pktmbuf_free(m);
}

unsigned th_drain(void)
{
	unsigned n = 0;

	while (port_tx_count() > 0) {
		rte_pktmbuf_free(th_pop_frame());
		n++;
	}
	return n;
}

uint32_t th_handshake(uint16_t port, uint16_t sport, uint32_t peer_isn, uint16_t mss,
		      int wscale, uint16_t wnd)
{
	uint8_t opts[8] = {LP_TCP_OPT_MSS, 4, (uint8_t)(mss >> 8), (uint8_t)mss,
			   LP_TCP_OPT_NOP, LP_TCP_OPT_WSCALE, 3, (uint8_t)wscale};
	struct th_seg s;

	th_send(&(struct th_tx){.sport = sport, .dport = port, .seq = peer_isn,
				.flags = LP_TCP_SYN, .wnd = wnd, .opts = opts,
				.optlen = wscale >= 0 ? 8 : 4});
	th_pop(&s);
	assert_int_equal(s.flags, LP_TCP_SYN | LP_TCP_ACK);
	assert_int_equal(s.ack, peer_isn + 1);
	uint32_t iss = s.seq;

	th_send(&(struct th_tx){.sport = sport, .dport = port, .seq = peer_isn + 1, .ack = iss + 1,
				.flags = LP_TCP_ACK, .wnd = wnd});
	return iss;
}

const struct lp_tcp_stats *th_stats(void)
{
	return lp_tcp_worker_stats(&th_net);
}

uint64_t th_drops(enum lp_drop_reason r)
{
	return th_net.stats.drops[r];
}
