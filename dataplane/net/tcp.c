/* SPDX-License-Identifier: MIT */
/*
 * TCP-lite application interface (tcp.h) and per-worker set-up: listeners,
 * active opens, the send stream (lp_tcp_send / lp_tcp_write), window
 * release (lp_tcp_recved), close and abort, and the once-per-poll hook
 * lp_tcp_worker_poll (application output, timers, mbuf pool watermark).
 * Applications sit above this file; tcp_in.c / tcp_out.c / tcp_timer.c below.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_random.h>

#include "ip4.h"
#include "tcp_tcb.h"
#include "net.h"

#define DEFAULT_MAX_CONNS 4096
#define DEFAULT_SYN_BACKLOG 256
#define DEFAULT_BUF (256u * 1024)
#define DEFAULT_TIME_WAIT_MS 1000
#define DEFAULT_DELACK_MS 10
#define EPHEMERAL_FIRST 49152
#define EPHEMERAL_COUNT 16384

static const char *const state_names[LP_TCP_STATE__COUNT] = {
	[LP_TCP_CLOSED] = "CLOSED",
	[LP_TCP_SYN_SENT] = "SYN_SENT",
	[LP_TCP_SYN_RCVD] = "SYN_RCVD",
	[LP_TCP_ESTABLISHED] = "ESTABLISHED",
	[LP_TCP_FIN_WAIT_1] = "FIN_WAIT_1",
	[LP_TCP_FIN_WAIT_2] = "FIN_WAIT_2",
	[LP_TCP_CLOSING] = "CLOSING",
	[LP_TCP_TIME_WAIT] = "TIME_WAIT",
	[LP_TCP_CLOSE_WAIT] = "CLOSE_WAIT",
	[LP_TCP_LAST_ACK] = "LAST_ACK",
};

int lp_tcp_worker_create(struct lp_net *net, const struct lp_tcp_config *cfg)
{
	struct lp_tcp_worker *tw;
	int rc;

	if (net == NULL || cfg == NULL)
		return -EINVAL;
	if (net->tcp != NULL)
		return -EEXIST;
	if (cfg->max_conns > (1u << 22) || (cfg->rcv_buf != 0 && cfg->rcv_buf < 4096) ||
	    cfg->rcv_buf > (64u << 20) || (cfg->snd_buf != 0 && cfg->snd_buf < 4096))
		return -EINVAL;
	tw = rte_zmalloc_socket("lp_tcp_worker", sizeof(*tw), RTE_CACHE_LINE_SIZE, rte_socket_id());
	if (tw == NULL)
		return -ENOMEM;
	tw->net = net;
	tw->cfg = *cfg;
	if (tw->cfg.max_conns == 0)
		tw->cfg.max_conns = DEFAULT_MAX_CONNS;
	if (tw->cfg.syn_backlog == 0)
		tw->cfg.syn_backlog = DEFAULT_SYN_BACKLOG;
	if (tw->cfg.rcv_buf == 0)
		tw->cfg.rcv_buf = DEFAULT_BUF;
	if (tw->cfg.snd_buf == 0)
		tw->cfg.snd_buf = DEFAULT_BUF;
	if (tw->cfg.time_wait_ms == 0)
		tw->cfg.time_wait_ms = DEFAULT_TIME_WAIT_MS;
	if (tw->cfg.delack_ms == 0)
		tw->cfg.delack_ms = DEFAULT_DELACK_MS;
	if (tw->cfg.mbuf_reserve == 0)
		tw->cfg.mbuf_reserve = net->pool->size / 8;
	tw->tsc_hz = rte_get_tsc_hz();
	for (unsigned i = 0; i < RTE_DIM(tw->secret); i++)
		tw->secret[i] = (uint32_t)rte_rand();
	tw->ephemeral_next = (uint16_t)(EPHEMERAL_FIRST + rte_rand() % EPHEMERAL_COUNT);
	lp_tcp_wheel_init(&tw->wheel, tw->tsc_hz, net->now_tsc);
	rc = lp_tcp_flow_init(tw);
	if (rc != 0) {
		rte_free(tw);
		return rc;
	}
	net->tcp = tw;
	rc = lp_tcp_echo_start(net, tw->cfg.echo_port, tw->cfg.discard_port);
	if (rc != 0) {
		lp_tcp_worker_destroy(net);
		return rc;
	}
	return 0;
}

void lp_tcp_worker_destroy(struct lp_net *net)
{
	struct lp_tcp_worker *tw = net->tcp;

	if (tw == NULL)
		return;
	lp_tcp_worker_log(net, stdout);
	for (uint32_t i = 0; i < tw->cfg.max_conns; i++) {
		struct lp_tcb *t = &tw->tcbs[i];

		if (t->tw == tw && !(t->flags & TF_FREE_PENDING) &&
		    tw->flows[t->flow_slot].tcb == t)
			lp_tcp_tcb_free(t);
	}
	lp_tcp_flow_fini(tw);
	rte_free(tw);
	net->tcp = NULL;
}

void lp_tcp_worker_log(const struct lp_net *net, FILE *f)
{
	const struct lp_tcp_stats *s = lp_tcp_worker_stats(net);

	if (s == NULL)
		return;
	fprintf(f,
		"tcp worker %u: tcbs_in_use %" PRIu64 " (peak %" PRIu64 "), syn_rcvd %" PRIu64
		", timers_armed %" PRIu64 ", ooo_bytes %" PRIu64 ", pool_free %u/%u; "
		"passive_opens %" PRIu64 ", active_opens %" PRIu64 ", segs_in %" PRIu64
		", segs_out %" PRIu64 ", bytes_in %" PRIu64 ", bytes_out %" PRIu64
		", retransmits %" PRIu64 ", fast_retransmits %" PRIu64 ", rto_expired %" PRIu64
		", ooo_segments %" PRIu64 ", rst_sent %" PRIu64 ", rst_received %" PRIu64
		", challenge_acks %" PRIu64 ", syncookies_sent %" PRIu64 ", syncookies_ok %" PRIu64
		", syncookies_bad %" PRIu64 ", zero_window_probes %" PRIu64 ", tail_loss_probes %" PRIu64 "\n",
		net->id, s->tcbs_in_use, s->tcbs_peak, s->syn_rcvd, s->timers_armed, s->ooo_bytes,
		rte_mempool_avail_count(net->pool), net->pool->size, s->passive_opens,
		s->active_opens, s->segs_in, s->segs_out, s->bytes_in, s->bytes_out,
		s->retransmits, s->fast_retransmits, s->rto_expired, s->ooo_segments, s->rst_sent,
		s->rst_received, s->challenge_acks, s->syncookies_sent, s->syncookies_ok,
		s->syncookies_bad, s->zero_window_probes, s->tail_loss_probes);
	fflush(f);
}

const struct lp_tcp_stats *lp_tcp_worker_stats(const struct lp_net *net)
{
	return net->tcp != NULL ? &net->tcp->stats : NULL;
}

unsigned lp_tcp_worker_poll(struct lp_net *net)
{
	struct lp_tcp_worker *tw = net->tcp;
	unsigned avail = rte_mempool_avail_count(net->pool);
	unsigned fired;

	tw->pool_low = avail < tw->cfg.mbuf_reserve;
	tw->pool_critical = avail < tw->cfg.mbuf_reserve / 2;
	lp_tcp_flush_output(tw);
	fired = lp_tcp_wheel_run(tw, net->now_tsc);
	lp_tcp_flush_output(tw);
	return fired;
}

int lp_tcp_listen(struct lp_net *net, uint16_t port, const struct lp_tcp_ops *ops,
		  void *listen_arg)
{
	struct lp_tcp_worker *tw = net->tcp;
	struct lp_tcp_listener *free_slot = NULL;

	if (tw == NULL)
		return -ENODEV;
	if (port == 0 || ops == NULL || ops->accept == NULL || ops->recv == NULL ||
	    ops->closed == NULL)
		return -EINVAL;
	if (lp_tcp_listener_find(tw, port) != NULL)
		return -EADDRINUSE;
	for (unsigned i = 0; i < LP_TCP_MAX_LISTENERS && free_slot == NULL; i++)
		if (tw->listeners[i].port == 0)
			free_slot = &tw->listeners[i];
	if (free_slot == NULL)
		return -ENOSPC;
	*free_slot = (struct lp_tcp_listener){.port = port, .ops = ops, .arg = listen_arg};
	return 0;
}

int lp_tcp_unlisten(struct lp_net *net, uint16_t port)
{
	struct lp_tcp_listener *l = net->tcp != NULL ? lp_tcp_listener_find(net->tcp, port) : NULL;

	if (l == NULL)
		return -ENOENT;
	memset(l, 0, sizeof(*l));
	return 0;
}

struct lp_tcb *lp_tcp_connect(struct lp_net *net, uint32_t dst_ip, uint16_t dst_port,
			      const struct lp_tcp_ops *ops, void *conn)
{
	struct lp_tcp_worker *tw = net->tcp;
	const struct lp_netif *nif = net->netif;
	struct rte_ether_addr mac;
	uint16_t lport = 0;

	if (tw == NULL) {
		rte_errno = ENODEV;
		return NULL;
	}
	if (dst_port == 0 || ops == NULL || ops->recv == NULL || ops->closed == NULL ||
	    !lp_ip4_is_valid_source(net, dst_ip)) {
		rte_errno = EINVAL;
		return NULL;
	}
	uint32_t next_hop = dst_ip;

	if (((dst_ip ^ nif->ip) & nif->netmask) != 0)
		next_hop = nif->gateway;
	if (next_hop == 0) {
		rte_errno = ENETUNREACH;
		return NULL;
	}
	for (unsigned i = 0; i < EPHEMERAL_COUNT && lport == 0; i++) {
		uint16_t p = tw->ephemeral_next;

		tw->ephemeral_next = p == EPHEMERAL_FIRST + EPHEMERAL_COUNT - 1 ? EPHEMERAL_FIRST :
										 p + 1;
		if (lp_tcp_flow_lookup(tw, dst_ip, dst_port, p) == NULL &&
		    lp_tcp_listener_find(tw, p) == NULL)
			lport = p;
	}
	if (lport == 0 || tw->free_tcbs == NULL) {
		rte_errno = ENOSPC;
		return NULL;
	}
	struct lp_tcb *t = lp_tcp_tcb_alloc(tw, dst_ip, dst_port, lport);

	t->state = LP_TCP_SYN_SENT;
	t->flags |= TF_ACCEPTED;
	t->ops = ops;
	t->conn = conn;
	t->mss = lp_tcp_our_mss(tw);
	t->rcv_wscale = 0;
	while (t->rcv_wscale < LP_TCP_WSCALE_MAX && ((uint32_t)65535 << t->rcv_wscale) < t->rcv_buf)
		t->rcv_wscale++;
	t->iss = lp_tcp_isn(tw, dst_ip, dst_port, lport);
	t->snd_una = t->snd_nxt = t->snd_max = t->iss;
	if (lp_arp_resolve(net, next_hop, &mac) == 0) {
		t->peer_mac = mac;
		t->rtt_tsc = net->now_tsc;
		t->rtt_seq = t->iss;
		lp_tcp_send_syn(t);
		lp_tcp_rtx_arm(t);
	} else {
		t->flags |= TF_ARP_WAIT;
		lp_tcp_timer_arm(tw, &t->rtx_timer, 100000);
	}
	return t;
}

void lp_tcp_set_conn(struct lp_tcb *t, void *conn)
{
	t->conn = conn;
}

void *lp_tcp_conn(const struct lp_tcb *t)
{
	return t->conn;
}

/* May the application still append to the send stream? */
static bool can_send(const struct lp_tcb *t)
{
	if (t->flags & (TF_FIN_QUEUED | TF_FREE_PENDING))
		return false;
	return t->state == LP_TCP_ESTABLISHED || t->state == LP_TCP_CLOSE_WAIT ||
	       t->state == LP_TCP_SYN_SENT;
}

static void sq_append(struct lp_tcb *t, struct rte_mbuf *m, uint32_t len)
{
	if (t->sq_tail != NULL)
		t->sq_tail->next = m;
	else
		t->sq_head = m;
	t->sq_tail = rte_pktmbuf_lastseg(m);
	t->sq_bytes += len;
}

int lp_tcp_send(struct lp_tcb *t, struct rte_mbuf *m)
{
	if (t == NULL) {
		rte_pktmbuf_free(m);
		return -EINVAL;
	}
	if (!can_send(t)) {
		rte_pktmbuf_free(m);
		return -EPIPE;
	}
	uint32_t len = 0;

	for (struct rte_mbuf *s = m; s != NULL; s = s->next)
		len += s->data_len;
	if (len == 0) {
		rte_pktmbuf_free(m);
		return 0;
	}
	sq_append(t, m, len);
	lp_tcp_schedule_output(t);
	return 0;
}

int lp_tcp_write(struct lp_tcb *t, const void *buf, uint32_t len)
{
	const uint8_t *p = buf;
	uint32_t done = 0;

	if (t == NULL)
		return -EINVAL;
	if (!can_send(t))
		return -EPIPE;
	/* Fill the room left in the last mbuf when it is a plain one of ours. */
	struct rte_mbuf *tail = t->sq_tail;

	if (tail != NULL && RTE_MBUF_DIRECT(tail) && rte_mbuf_refcnt_read(tail) == 1 &&
	    (tail != t->sq_head || t->sq_head_off == 0)) {
		uint32_t room = rte_pktmbuf_tailroom(tail);
		uint32_t n = RTE_MIN(room, len);

		if (n > 0) {
			memcpy(rte_pktmbuf_mtod_offset(tail, uint8_t *, tail->data_len), p, n);
			tail->data_len += n;
			t->sq_bytes += n;
			done += n;
		}
	}
	while (done < len) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(t->tw->net->pool);

		if (m == NULL)
			break;
		m->data_off = 0;
		uint32_t n = RTE_MIN(len - done, (uint32_t)rte_pktmbuf_tailroom(m));

		memcpy(rte_pktmbuf_mtod(m, uint8_t *), p + done, n);
		m->data_len = (uint16_t)n;
		m->pkt_len = n;
		sq_append(t, m, n);
		done += n;
	}
	if (done > 0)
		lp_tcp_schedule_output(t);
	return (int)done;
}

uint32_t lp_tcp_send_space(const struct lp_tcb *t)
{
	uint32_t buf = t->tw->cfg.snd_buf;

	return buf > t->sq_bytes ? buf - t->sq_bytes : 0;
}

uint32_t lp_tcp_send_queued(const struct lp_tcb *t)
{
	return t->sq_bytes;
}

void lp_tcp_recved(struct lp_tcb *t, uint32_t len)
{
	uint32_t old = lp_seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;

	t->rcv_unread -= RTE_MIN(len, t->rcv_unread);
	if (t->state != LP_TCP_ESTABLISHED && t->state != LP_TCP_FIN_WAIT_1 &&
	    t->state != LP_TCP_FIN_WAIT_2)
		return;
	uint32_t now = lp_tcp_rcv_window(t);

	/* RFC 9293 3.8.6.2.2: update once the window grew by an MSS and doubled. */
	if (now >= old + t->mss && now >= 2 * old) {
		t->flags |= TF_ACK_NOW;
		lp_tcp_schedule_output(t);
	}
}

int lp_tcp_close(struct lp_tcb *t)
{
	if (t->flags & (TF_FIN_QUEUED | TF_FREE_PENDING))
		return -ENOTCONN;
	switch (t->state) {
	case LP_TCP_SYN_SENT:
		t->flags |= TF_APP_GONE;
		lp_tcp_tcb_free(t);
		return 0;
	case LP_TCP_ESTABLISHED:
		t->state = LP_TCP_FIN_WAIT_1;
		break;
	case LP_TCP_CLOSE_WAIT:
		t->state = LP_TCP_LAST_ACK;
		break;
	default:
		return -ENOTCONN;
	}
	t->flags |= TF_FIN_QUEUED;
	t->fin_seq = t->snd_una + t->sq_bytes;
	lp_tcp_schedule_output(t);
	return 0;
}

void lp_tcp_abort(struct lp_tcb *t)
{
	if (t->flags & (TF_APP_GONE | TF_FREE_PENDING))
		return;
	t->flags |= TF_APP_GONE;
	if (t->state != LP_TCP_TIME_WAIT)
		lp_tcp_send_rst_tcb(t);
	lp_tcp_tcb_free(t);
}

void lp_tcp_app_closed(struct lp_tcb *t, int reason)
{
	bool notify = (t->flags & (TF_ACCEPTED | TF_APP_GONE)) == TF_ACCEPTED;

	t->flags |= TF_APP_GONE;
	if (notify)
		t->ops->closed(t->conn, t, reason);
}

void lp_tcp_conn_closed(struct lp_tcb *t, int reason)
{
	lp_tcp_tcb_hold(t);
	lp_tcp_app_closed(t, reason);
	lp_tcp_tcb_free(t);
	lp_tcp_tcb_release(t);
}

void lp_tcp_deliver(struct lp_tcb *t, struct rte_mbuf *m)
{
	if ((t->flags & (TF_ACCEPTED | TF_APP_GONE)) != TF_ACCEPTED) {
		if (m != NULL)
			rte_pktmbuf_free(m);
		return;
	}
	if (m != NULL)
		t->rcv_unread += rte_pktmbuf_pkt_len(m);
	t->ops->recv(t->conn, t, m);
}

void lp_tcp_peer(const struct lp_tcb *t, uint32_t *ip, uint16_t *port)
{
	if (ip != NULL)
		*ip = t->remote_ip;
	if (port != NULL)
		*port = t->remote_port;
}

uint16_t lp_tcp_local_port(const struct lp_tcb *t)
{
	return t->local_port;
}

const char *lp_tcp_state_name(const struct lp_tcb *t)
{
	return t->state < LP_TCP_STATE__COUNT ? state_names[t->state] : "?";
}

uint16_t lp_tcp_mss(const struct lp_tcb *t)
{
	return t->mss;
}
