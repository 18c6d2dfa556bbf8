/* SPDX-License-Identifier: MIT */
/*
 * TCP output: everything TCP-lite puts on the wire goes through here.
 * lp_tcp_output() segments the send stream by MSS within min(cwnd, peer
 * window) (RFC 5681 2, RFC 9293 3.8.6), avoids the sender's silly window
 * (RFC 9293 3.8.6.2.1), appends the FIN once the data is out, keeps a
 * retransmission timer running while anything is unacknowledged (RFC 6298
 * 5.1), and falls back to the persist timer when the peer's window is zero.
 * Segments copy their payload out of the send queue into a fresh mbuf (the
 * queue keeps the original for retransmission); headers carry a software
 * checksum or ask for offload when the port offers it.
 *
 * Callers: tcp_in.c (ACKs, replies, data released by ACKs), tcp_timer.c
 * (retransmissions, probes, delayed ACKs), tcp.c (application sends at the end
 * of the poll iteration through lp_tcp_flush_output). All end in
 * lp_ip4_output -> lp_eth_output -> lp_net_tx.
 */
#include <errno.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_common.h>
#include <rte_ip.h>

#include "ip4.h"
#include "tcp_tcb.h"
#include "net.h"

#define OUTPUT_BUDGET 256 /* segments per lp_tcp_output call */
#define TCP_OPT_SPACE 40  /* largest option block we write */

/* A segment to build (ports host order, addresses network order). */
struct seg {
	uint32_t dst_ip;
	uint16_t sport;
	uint16_t dport;
	uint32_t seq;
	uint32_t ack;
	uint8_t flags;
	uint16_t wnd;      /* the raw window field */
	const uint8_t *opts;
	uint8_t optlen;    /* multiple of 4 */
	uint32_t data_len;
};

uint16_t lp_tcp_our_mss(const struct lp_tcp_worker *tw)
{
	const struct lp_net *net = tw->net;
	uint32_t by_mtu = net->netif->mtu > 40 ? net->netif->mtu - 40u : 536u;
	uint32_t room = rte_pktmbuf_data_room_size(net->pool);
	uint32_t by_buf = room > RTE_PKTMBUF_HEADROOM + LP_TCP_HDR_LEN + TCP_OPT_SPACE ?
				  room - RTE_PKTMBUF_HEADROOM - LP_TCP_HDR_LEN - TCP_OPT_SPACE : 536u;

	return (uint16_t)RTE_MIN(RTE_MIN(by_mtu, by_buf), 65535u);
}

/* Allocate an mbuf and write the TCP header of s; *data gets the payload area. */
static struct rte_mbuf *seg_alloc(struct lp_tcp_worker *tw, const struct seg *s, uint8_t **data)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(tw->net->pool);
	uint32_t hlen = LP_TCP_HDR_LEN + s->optlen;

	if (unlikely(m == NULL)) {
		lp_net_drop(tw->net, NULL, LP_DROP_NO_MBUF);
		return NULL;
	}
	struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)rte_pktmbuf_append(m, hlen + s->data_len);

	if (unlikely(th == NULL)) {
		rte_pktmbuf_free(m);
		lp_net_drop(tw->net, NULL, LP_DROP_NO_MBUF);
		return NULL;
	}
	th->src_port = rte_cpu_to_be_16(s->sport);
	th->dst_port = rte_cpu_to_be_16(s->dport);
	th->sent_seq = rte_cpu_to_be_32(s->seq);
	th->recv_ack = (s->flags & LP_TCP_ACK) ? rte_cpu_to_be_32(s->ack) : 0;
	th->data_off = (uint8_t)((hlen / 4) << 4);
	th->tcp_flags = s->flags;
	th->rx_win = rte_cpu_to_be_16(s->wnd);
	th->cksum = 0;
	th->tcp_urp = 0;
	if (s->optlen)
		memcpy(th + 1, s->opts, s->optlen);
	m->l4_len = hlen;
	*data = (uint8_t *)th + hlen;
	return m;
}

/* Checksum (or its offload) and hand to IPv4. Consumes m. */
static void seg_send(struct lp_tcp_worker *tw, struct rte_mbuf *m, uint32_t dst_ip,
		     const struct rte_ether_addr *mac)
{
	const struct lp_netif *nif = tw->net->netif;
	struct rte_tcp_hdr *th = rte_pktmbuf_mtod(m, struct rte_tcp_hdr *);
	struct rte_ipv4_hdr ph = {
		.version_ihl = RTE_IPV4_VHL_DEF,
		.total_length = rte_cpu_to_be_16((uint16_t)(sizeof(ph) + rte_pktmbuf_pkt_len(m))),
		.next_proto_id = IPPROTO_TCP,
		.src_addr = nif->ip,
		.dst_addr = dst_ip,
	};

	th->cksum = 0;
	if (nif->tx_tcp_cksum_offload) {
		m->l3_len = sizeof(ph);
		m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_CKSUM;
		th->cksum = rte_ipv4_phdr_cksum(&ph, m->ol_flags);
	} else {
		th->cksum = rte_ipv4_udptcp_cksum(&ph, th);
	}
	tw->stats.segs_out++;
	lp_ip4_output(tw->net, m, dst_ip, IPPROTO_TCP, mac);
}

uint32_t lp_tcp_rcv_window(struct lp_tcb *t)
{
	uint32_t held = t->rcv_unread + t->ooo_bytes;
	uint32_t space = t->rcv_buf > held ? t->rcv_buf - held : 0;
	uint32_t cur = lp_seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
	uint32_t max = (uint32_t)65535 << t->rcv_wscale;

	/* RFC 9293 3.8.6.2.2: open the window only by min(RCV.BUFF/2, MSS) or more. */
	if (space > cur && space - cur < RTE_MIN(t->rcv_buf / 2, (uint32_t)t->mss))
		space = cur;
	/* Back-pressure: while the mbuf pool is low the window does not grow. */
	if (t->tw->pool_low && space > cur)
		space = cur;
	/* RFC 9293 3.8.6.2.2 / 1122 4.2.2.16: never shrink the right edge. */
	if (space < cur)
		space = cur;
	return RTE_MIN(space, max);
}

/* Window field for a non-SYN segment; advances rcv_adv. */
static uint16_t tcp_wnd_field(struct lp_tcb *t)
{
	uint32_t wnd = lp_tcp_rcv_window(t);
	uint32_t field = (wnd + (1u << t->rcv_wscale) - 1) >> t->rcv_wscale;

	if (field > 65535)
		field = 65535;
	uint32_t edge = t->rcv_nxt + (field << t->rcv_wscale);

	if (lp_seq_gt(edge, t->rcv_adv))
		t->rcv_adv = edge;
	return (uint16_t)field;
}

/* After any segment that carries ACK = rcv_nxt: the owed ACK is paid. */
static void tcp_ack_sent(struct lp_tcb *t)
{
	t->rcv_acked = t->rcv_nxt;
	t->flags &= ~(TF_ACK_NOW | TF_DELACK);
	lp_tcp_timer_cancel(t->tw, &t->dack_timer);
}

/* Copy len bytes of the send stream starting at seq into dst. */
static void sq_copy(struct lp_tcb *t, uint32_t seq, uint8_t *dst, uint32_t len)
{
	struct rte_mbuf *m;
	uint32_t mseq;

	if (t->sq_cur != NULL && lp_seq_leq(t->sq_cur_seq, seq) &&
	    lp_seq_geq(t->sq_cur_seq, t->snd_una - t->sq_head_off)) {
		m = t->sq_cur;
		mseq = t->sq_cur_seq;
	} else {
		m = t->sq_head;
		mseq = t->snd_una - t->sq_head_off;
	}
	while (m != NULL && lp_seq_geq(seq, mseq + m->data_len)) {
		mseq += m->data_len;
		m = m->next;
	}
	t->sq_cur = m;
	t->sq_cur_seq = mseq;
	while (len > 0 && m != NULL) {
		uint32_t off = seq - mseq;
		uint32_t n = RTE_MIN(len, (uint32_t)m->data_len - off);

		memcpy(dst, rte_pktmbuf_mtod_offset(m, const uint8_t *, off), n);
		dst += n;
		seq += n;
		len -= n;
		if (seq == mseq + m->data_len) {
			mseq += m->data_len;
			m = m->next;
			if (m != NULL) {
				t->sq_cur = m;
				t->sq_cur_seq = mseq;
			}
		}
	}
}

uint32_t lp_tcp_sq_ack(struct lp_tcb *t, uint32_t bytes)
{
	uint32_t freed = 0;

	while (t->sq_head != NULL) {
		struct rte_mbuf *m = t->sq_head;
		uint32_t avail = m->data_len - t->sq_head_off;

		if (bytes < avail) {
			t->sq_head_off += bytes;
			freed += bytes;
			break;
		}
		bytes -= avail;
		freed += avail;
		t->sq_head = m->next;
		t->sq_head_off = 0;
		if (m == t->sq_cur)
			t->sq_cur = NULL;
		m->next = NULL;
		rte_pktmbuf_free_seg(m);
		if (bytes == 0 && (t->sq_head == NULL || t->sq_head->data_len != 0))
			break;
	}
	if (t->sq_head == NULL) {
		t->sq_tail = NULL;
		t->sq_cur = NULL;
	}
	t->sq_bytes -= freed;
	return freed;
}

void lp_tcp_sq_free_all(struct lp_tcb *t)
{
	struct rte_mbuf *m = t->sq_head;

	while (m != NULL) {
		struct rte_mbuf *next = m->next;

		m->next = NULL;
		rte_pktmbuf_free_seg(m);
		m = next;
	}
	t->sq_head = t->sq_tail = t->sq_cur = NULL;
	t->sq_head_off = 0;
	t->sq_bytes = 0;
}

#define SACK_MAX_BLOCKS 4 /* 2 + 2 + 4 * 8 = 36 bytes: fits without timestamps */

/* Option bytes the SACK blocks of t take now (0 when none). */
static uint8_t sack_optlen(const struct lp_tcb *t)
{
	if (!(t->flags & TF_SACK) || t->n_ooo == 0)
		return 0;
	return (uint8_t)(4 + 8 * RTE_MIN(t->n_ooo, (uint8_t)SACK_MAX_BLOCKS));
}

/*
 * SACK option (RFC 2018 3, 4): NOP NOP kind len, then the runs of the
 * out-of-order store, the one holding the latest segment first. Returns the
 * bytes written to o (0 when there is nothing to report).
 */
static uint8_t sack_options(const struct lp_tcb *t, uint8_t *o)
{
	uint8_t len = sack_optlen(t);
	unsigned first = 0, n = 0;

	if (len == 0)
		return 0;
	for (unsigned i = 0; i < t->n_ooo; i++)
		if (lp_seq_in(t->ooo_last, t->ooo[i].seq, t->ooo[i].end))
			first = i;
	o[0] = LP_TCP_OPT_NOP;
	o[1] = LP_TCP_OPT_NOP;
	o[2] = LP_TCP_OPT_SACK;
	o[3] = (uint8_t)(len - 2);
	for (unsigned k = 0; k < t->n_ooo && n < SACK_MAX_BLOCKS; k++) {
		unsigned i = k == 0 ? first : (k <= first ? k - 1 : k);
		uint32_t edges[2] = {rte_cpu_to_be_32(t->ooo[i].seq), rte_cpu_to_be_32(t->ooo[i].end)};

		memcpy(o + 4 + 8 * n, edges, 8);
		n++;
	}
	return len;
}

static void tcb_seg_init(struct lp_tcb *t, struct seg *s, uint32_t seq, uint8_t flags,
			 uint8_t *opt_buf)
{
	*s = (struct seg){
		.dst_ip = t->remote_ip,
		.sport = t->local_port,
		.dport = t->remote_port,
		.seq = seq,
		.ack = t->rcv_nxt,
		.flags = flags,
	};
	if (opt_buf != NULL) {
		s->optlen = sack_options(t, opt_buf);
		s->opts = opt_buf;
	}
}

/* Send one segment of t: [seq, seq+len) of the stream, plus FIN when asked. */
static int tcp_send_data(struct lp_tcb *t, uint32_t seq, uint32_t len, bool fin, bool psh)
{
	struct lp_tcp_worker *tw = t->tw;
	uint8_t opts[TCP_OPT_SPACE];
	struct seg s;
	uint8_t *data;

	tcb_seg_init(t, &s, seq, LP_TCP_ACK | (fin ? LP_TCP_FIN : 0) | (psh ? LP_TCP_PSH : 0), opts);
	s.wnd = tcp_wnd_field(t);
	s.data_len = len;
	struct rte_mbuf *m = seg_alloc(tw, &s, &data);

	if (m == NULL)
		return -ENOMEM;
	if (len > 0)
		sq_copy(t, seq, data, len);
	tcp_ack_sent(t);
	seg_send(tw, m, t->remote_ip, &t->peer_mac);
	return 0;
}

void lp_tcp_output(struct lp_tcb *t)
{
	struct lp_tcp_worker *tw = t->tw;
	bool sent = false;

	switch (t->state) {
	case LP_TCP_ESTABLISHED:
	case LP_TCP_CLOSE_WAIT:
	case LP_TCP_FIN_WAIT_1:
	case LP_TCP_CLOSING:
	case LP_TCP_LAST_ACK:
		break;
	case LP_TCP_FIN_WAIT_2:
	case LP_TCP_TIME_WAIT:
		if (t->flags & TF_ACK_NOW)
			lp_tcp_send_ack(t);
		return;
	default:
		return;
	}
	uint32_t wnd = RTE_MIN(t->snd_wnd, t->cwnd);
	/* Options take room from the payload (RFC 9293 3.7.1: MSS excludes them). */
	uint32_t seg_mss = t->mss - sack_optlen(t);

	for (unsigned n = 0; n < OUTPUT_BUDGET; n++) {
		uint32_t data_end = t->snd_una + t->sq_bytes;
		uint32_t unsent = lp_seq_lt(t->snd_nxt, data_end) ? data_end - t->snd_nxt : 0;
		uint32_t in_flight = t->snd_nxt - t->snd_una;
		uint32_t usable = wnd > in_flight ? wnd - in_flight : 0;
		uint32_t len = RTE_MIN(RTE_MIN(unsent, usable), seg_mss);
		bool fin = (t->flags & TF_FIN_QUEUED) && t->snd_nxt + len == t->fin_seq;

		if (len == 0 && !fin)
			break;
		/* RFC 9293 3.8.6.2.1: no small segment while data waits and some is in flight. */
		if (len < seg_mss && len < unsent && in_flight > 0 && len < t->max_snd_wnd / 2)
			break;
		if (tcp_send_data(t, t->snd_nxt, len, fin, len > 0 && len == unsent) != 0)
			break;
		if (lp_seq_lt(t->snd_nxt, t->snd_max)) {
			tw->stats.retransmits++;
		} else {
			tw->stats.bytes_out += len;
			/* Karn: time only a first transmission, one at a time. */
			if (t->rtt_tsc == 0 && len > 0) {
				t->rtt_tsc = tw->net->now_tsc;
				t->rtt_seq = t->snd_nxt;
			}
		}
		t->snd_nxt += len + (fin ? 1 : 0);
		if (fin)
			t->flags |= TF_FIN_SENT;
		if (lp_seq_gt(t->snd_nxt, t->snd_max))
			t->snd_max = t->snd_nxt;
		if (t->flags & TF_PERSIST) {
			t->flags &= ~TF_PERSIST;
			lp_tcp_timer_cancel(tw, &t->rtx_timer);
			t->rtx_count = 0;
		}
		/* RFC 6298 5.1: the timer runs while data is outstanding. */
		if (!lp_tcp_timer_armed(&t->rtx_timer))
			lp_tcp_rtx_arm_data(t);
		sent = true;
		if (fin)
			break;
	}
	if (!sent && t->snd_wnd == 0 && t->snd_una == t->snd_max &&
	    t->sq_bytes > 0 && !lp_tcp_timer_armed(&t->rtx_timer)) {
		/* RFC 9293 3.8.6.1: zero window, nothing in flight: persist. */
		t->flags |= TF_PERSIST;
		t->rtx_count = 0;
		lp_tcp_rtx_arm(t);
	}
	if (!sent && (t->flags & TF_ACK_NOW))
		lp_tcp_send_ack(t);
}

void lp_tcp_retransmit_una(struct lp_tcb *t)
{
	uint32_t data_end = t->snd_una + t->sq_bytes;
	uint32_t avail = lp_seq_lt(t->snd_una, data_end) ? data_end - t->snd_una : 0;
	uint32_t len = RTE_MIN(avail, (uint32_t)t->mss - sack_optlen(t));
	bool fin = (t->flags & TF_FIN_SENT) && t->snd_una + len == t->fin_seq;

	if (len == 0 && !fin)
		return;
	t->rtt_tsc = 0; /* Karn */
	t->tw->stats.retransmits++;
	tcp_send_data(t, t->snd_una, len, fin, false);
}

void lp_tcp_retransmit_last(struct lp_tcb *t)
{
	uint32_t data_end = lp_seq_lt(t->snd_una + t->sq_bytes, t->snd_max) ?
				    t->snd_una + t->sq_bytes : t->snd_max;
	uint32_t seg = (uint32_t)t->mss - sack_optlen(t);
	uint32_t len = RTE_MIN(data_end - t->snd_una, seg);
	bool fin = (t->flags & TF_FIN_SENT) && t->snd_max == t->fin_seq + 1;

	if (len == 0 && !fin)
		return;
	t->rtt_tsc = 0; /* Karn */
	t->tw->stats.retransmits++;
	tcp_send_data(t, data_end - len, len, fin, false);
}

void lp_tcp_send_ack(struct lp_tcb *t)
{
	uint8_t opts[TCP_OPT_SPACE];
	struct seg s;
	uint8_t *data;

	tcb_seg_init(t, &s, t->snd_nxt, LP_TCP_ACK, opts);
	s.wnd = tcp_wnd_field(t);
	struct rte_mbuf *m = seg_alloc(t->tw, &s, &data);

	if (m == NULL)
		return;
	tcp_ack_sent(t);
	seg_send(t->tw, m, t->remote_ip, &t->peer_mac);
}

void lp_tcp_send_probe(struct lp_tcb *t)
{
	struct seg s;
	uint8_t *data;

	/* As Linux: an old sequence number makes the peer answer with its window. */
	tcb_seg_init(t, &s, t->snd_una - 1, LP_TCP_ACK, NULL);
	s.wnd = tcp_wnd_field(t);
	struct rte_mbuf *m = seg_alloc(t->tw, &s, &data);

	if (m == NULL)
		return;
	t->tw->stats.zero_window_probes++;
	tcp_ack_sent(t);
	seg_send(t->tw, m, t->remote_ip, &t->peer_mac);
}

/* MSS (RFC 9293 3.7.1), window scale when wscale >= 0 (RFC 7323 2.2),
 * SACK-permitted when asked (RFC 2018 2). Returns the length (<= 12). */
static uint8_t syn_options(uint8_t *o, uint16_t mss, int wscale, bool sack)
{
	uint8_t n = 4;

	o[0] = LP_TCP_OPT_MSS;
	o[1] = 4;
	o[2] = (uint8_t)(mss >> 8);
	o[3] = (uint8_t)mss;
	if (wscale >= 0) {
		o[n++] = LP_TCP_OPT_NOP;
		o[n++] = LP_TCP_OPT_WSCALE;
		o[n++] = 3;
		o[n++] = (uint8_t)wscale;
	}
	if (sack) {
		o[n++] = LP_TCP_OPT_NOP;
		o[n++] = LP_TCP_OPT_NOP;
		o[n++] = LP_TCP_OPT_SACK_PERM;
		o[n++] = 2;
	}
	return n;
}

void lp_tcp_send_syn(struct lp_tcb *t)
{
	struct lp_tcp_worker *tw = t->tw;
	uint8_t opts[12];
	struct seg s;
	uint8_t *data;
	bool synack = t->state == LP_TCP_SYN_RCVD;

	tcb_seg_init(t, &s, t->iss, LP_TCP_SYN | (synack ? LP_TCP_ACK : 0), NULL);
	/* RFC 7323 2.2: the window of a SYN is never scaled. */
	s.wnd = (uint16_t)RTE_MIN(t->rcv_buf, 65535u);
	/* RFC 7323 2.2: answer with window scale only if the SYN offered it. */
	s.optlen = syn_options(opts, lp_tcp_our_mss(tw),
			       (!synack || (t->flags & TF_WSCALE)) ? t->rcv_wscale : -1,
			       !synack || (t->flags & TF_SACK));
	s.opts = opts;
	struct rte_mbuf *m = seg_alloc(tw, &s, &data);

	if (m == NULL)
		return;
	t->rcv_adv = t->rcv_nxt + s.wnd;
	if (lp_seq_lt(t->snd_nxt, t->iss + 1))
		t->snd_nxt = t->iss + 1;
	if (lp_seq_lt(t->snd_max, t->iss + 1))
		t->snd_max = t->iss + 1;
	if (synack)
		tcp_ack_sent(t);
	seg_send(tw, m, t->remote_ip, &t->peer_mac);
}

void lp_tcp_send_rst_tcb(struct lp_tcb *t)
{
	struct seg s;
	uint8_t *data;

	if (t->state == LP_TCP_SYN_SENT || t->state == LP_TCP_CLOSED)
		return;
	tcb_seg_init(t, &s, t->snd_nxt, LP_TCP_RST | LP_TCP_ACK, NULL);
	struct rte_mbuf *m = seg_alloc(t->tw, &s, &data);

	if (m == NULL)
		return;
	t->tw->stats.rst_sent++;
	seg_send(t->tw, m, t->remote_ip, &t->peer_mac);
}

void lp_tcp_send_rst_reply(struct lp_tcp_worker *tw, uint32_t dst_ip, uint16_t dst_port,
			   uint16_t src_port, const struct rte_ether_addr *dst_mac,
			   uint32_t seq, uint32_t ack, bool with_ack)
{
	struct seg s = {
		.dst_ip = dst_ip,
		.sport = src_port,
		.dport = dst_port,
		.seq = seq,
		.ack = ack,
		.flags = LP_TCP_RST | (with_ack ? LP_TCP_ACK : 0),
	};
	uint8_t *data;
	struct rte_mbuf *m = seg_alloc(tw, &s, &data);

	if (m == NULL)
		return;
	tw->stats.rst_sent++;
	seg_send(tw, m, dst_ip, dst_mac);
}

void lp_tcp_send_synack_stateless(struct lp_tcp_worker *tw, uint32_t dst_ip, uint16_t dst_port,
				  uint16_t src_port, const struct rte_ether_addr *dst_mac,
				  uint32_t seq, uint32_t ack, uint16_t mss)
{
	uint8_t opts[12];
	struct seg s = {
		.dst_ip = dst_ip,
		.sport = src_port,
		.dport = dst_port,
		.seq = seq,
		.ack = ack,
		.flags = LP_TCP_SYN | LP_TCP_ACK,
		.wnd = (uint16_t)RTE_MIN(tw->cfg.rcv_buf, 65535u),
		.opts = opts,
	};
	uint8_t *data;

	/* No window scale, no SACK: a cookie cannot remember them. */
	s.optlen = syn_options(opts, mss, -1, false);
	struct rte_mbuf *m = seg_alloc(tw, &s, &data);

	if (m == NULL)
		return;
	tw->stats.syncookies_sent++;
	seg_send(tw, m, dst_ip, dst_mac);
}

void lp_tcp_schedule_output(struct lp_tcb *t)
{
	if (t->flags & (TF_OUT_PENDING | TF_FREE_PENDING))
		return;
	t->flags |= TF_OUT_PENDING;
	t->next_out = t->tw->out_list;
	t->tw->out_list = t;
}

void lp_tcp_flush_output(struct lp_tcp_worker *tw)
{
	struct lp_tcb *t;

	while ((t = tw->out_list) != NULL) {
		tw->out_list = t->next_out;
		t->next_out = NULL;
		t->flags &= ~TF_OUT_PENDING;
		lp_tcp_tcb_hold(t);
		if (!(t->flags & TF_FREE_PENDING))
			lp_tcp_output(t);
		lp_tcp_tcb_release(t);
	}
}
