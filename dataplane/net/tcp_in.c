/* SPDX-License-Identifier: MIT */
/*
 * TCP input (RFC 9293 3.10.7, "SEGMENT ARRIVES"), the call chain being
 *   lp_ip4_input -> lp_tcp_input (header, checksum, options, flow lookup)
 *     -> tcp_rcv_closed / tcp_rcv_listen   (no TCB: RST, SYN, SYN cookie ACK)
 *     -> tcp_rcv_syn_sent                  (active open, 3.10.7.3)
 *     -> tcp_rcv_state                     (every other state, 3.10.7.4):
 *          sequence check -> RST -> SYN -> ACK (tcp_ack: RTT, congestion
 *          control, NewReno) -> text (tcp_reass.c) -> FIN
 *   and ends with lp_tcp_output() for the TCB (ACKs, data the ACK released).
 * RFC 5961 blind-injection checks answer in-window RSTs, SYNs and
 * out-of-range ACKs with rate-limited challenge ACKs.
 */
#include <errno.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_common.h>
#include <rte_ip.h>

#include "tcp_tcb.h"
#include "net.h"

/* A received segment, decoded once (ports host order, address network order). */
struct seginfo {
	uint32_t rip;
	uint16_t rport;
	uint16_t lport;
	uint32_t seq;
	uint32_t ack;
	uint32_t len;     /* payload bytes */
	uint16_t wnd;     /* raw window field */
	uint8_t flags;
	struct lp_tcp_opts opts;
	const struct rte_ether_addr *mac;
};

int lp_tcp_parse_options(const uint8_t *p, unsigned len, struct lp_tcp_opts *o)
{
	unsigned i = 0;

	memset(o, 0, sizeof(*o));
	while (i < len) {
		uint8_t kind = p[i];

		if (kind == LP_TCP_OPT_EOL)
			break;
		if (kind == LP_TCP_OPT_NOP) {
			i++;
			continue;
		}
		/* RFC 9293 3.1: every other option has a length byte, counting kind and length. */
		if (i + 1 >= len)
			return -EINVAL;
		uint8_t olen = p[i + 1];

		if (olen < 2 || i + olen > len)
			return -EINVAL;
		const uint8_t *v = p + i + 2;

		switch (kind) {
		case LP_TCP_OPT_MSS:
			if (olen != 4)
				return -EINVAL;
			o->has_mss = true;
			o->mss = (uint16_t)(v[0] << 8 | v[1]);
			break;
		case LP_TCP_OPT_WSCALE:
			if (olen != 3)
				return -EINVAL;
			o->has_wscale = true;
			/* RFC 7323 2.3: a shift above 14 is used as 14. */
			o->wscale = v[0] > LP_TCP_WSCALE_MAX ? LP_TCP_WSCALE_MAX : v[0];
			break;
		case LP_TCP_OPT_SACK_PERM:
			if (olen != 2)
				return -EINVAL;
			o->sack_permitted = true;
			break;
		case LP_TCP_OPT_TS:
			if (olen != 10)
				return -EINVAL;
			o->has_ts = true;
			o->ts_val = (uint32_t)v[0] << 24 | v[1] << 16 | v[2] << 8 | v[3];
			o->ts_ecr = (uint32_t)v[4] << 24 | v[5] << 16 | v[6] << 8 | v[7];
			break;
		case LP_TCP_OPT_SACK:
			/* RFC 2018 3: 2 + 8n bytes, n >= 1 (at most 4 fit in 40 bytes). */
			if (olen < 10 || (olen - 2) % 8 != 0)
				return -EINVAL;
			o->n_sack = (uint8_t)((olen - 2) / 8);
			for (unsigned b = 0; b < o->n_sack; b++)
				for (unsigned e = 0; e < 2; e++) {
					const uint8_t *x = v + 8 * b + 4 * e;

					o->sack[b][e] = (uint32_t)x[0] << 24 | x[1] << 16 |
							x[2] << 8 | x[3];
				}
			break;
		default:
			break; /* unknown kinds: skipped by length */
		}
		i += olen;
	}
	return 0;
}

static uint8_t rcv_wscale_for(uint32_t rcv_buf)
{
	uint8_t s = 0;

	while (s < LP_TCP_WSCALE_MAX && ((uint32_t)65535 << s) < rcv_buf)
		s++;
	return s;
}

/* MSS to use towards the peer: its option (RFC 9293 3.7.1, default 536), ours at most. */
static uint16_t peer_mss(const struct lp_tcp_worker *tw, const struct lp_tcp_opts *o)
{
	uint16_t mss = o->has_mss ? o->mss : LP_TCP_DEFAULT_MSS;
	uint16_t ours = lp_tcp_our_mss(tw);

	if (mss < 88) /* as Linux's TCP_MIN_MSS: refuse absurdly small segments */
		mss = 88;
	return mss < ours ? mss : ours;
}

/* Apply the options of the peer's SYN to t (and choose our window scale). */
static void syn_options_apply(struct lp_tcb *t, const struct lp_tcp_opts *o)
{
	t->mss = peer_mss(t->tw, o);
	/* RFC 7323 2.2: scaling only when both SYNs carry the option. */
	if (o->has_wscale) {
		t->flags |= TF_WSCALE;
		t->snd_wscale = o->wscale;
		t->rcv_wscale = rcv_wscale_for(t->rcv_buf);
	} else {
		t->flags &= ~TF_WSCALE;
		t->snd_wscale = 0;
		t->rcv_wscale = 0;
	}
	/* RFC 2018 2: SACK when the SYN permits it; timestamps are declined (not echoed). */
	if (o->sack_permitted)
		t->flags |= TF_SACK;
	else
		t->flags &= ~TF_SACK;
}

/* RFC 5681 3.1 / RFC 6928: initial congestion state once synchronized. */
static void cc_init(struct lp_tcb *t)
{
	t->cwnd = RTE_MIN(LP_TCP_INIT_CWND_SEGS * (uint32_t)t->mss,
			  RTE_MAX(2u * t->mss, 14600u));
	t->ssthresh = UINT32_MAX / 2;
	t->recover = t->snd_una - 1; /* RFC 6582 3.2: recover starts at the ISN */
	t->sack_high = t->snd_una;
	t->dupacks = 0;
}

/* RFC 5961 7: challenge ACKs are rate limited per worker. */
bool lp_tcp_challenge_ack_allowed(struct lp_tcp_worker *tw)
{
	uint64_t second = tw->net->now_tsc / tw->tsc_hz;

	if (second != tw->chack_second) {
		tw->chack_second = second;
		tw->chack_count = 0;
	}
	return tw->chack_count++ < LP_TCP_CHALLENGE_ACK_LIMIT;
}

static void tcp_challenge_ack(struct lp_tcb *t, struct rte_mbuf *m)
{
	struct lp_tcp_worker *tw = t->tw;

	if (lp_tcp_challenge_ack_allowed(tw)) {
		tw->stats.challenge_acks++;
		lp_tcp_send_ack(t);
	}
	lp_net_drop(tw->net, m, LP_DROP_TCP_CHALLENGED);
}

/*
 * The handshake is complete: ESTABLISHED, congestion state, and the
 * application's accept (passive) or connected (active) callback. Returns false
 * when t is gone (refused or aborted from the callback).
 */
static bool tcp_established(struct lp_tcb *t)
{
	struct lp_tcp_worker *tw = t->tw;

	if (t->state == LP_TCP_SYN_RCVD)
		tw->stats.syn_rcvd--;
	t->state = LP_TCP_ESTABLISHED;
	t->rtx_count = 0;
	cc_init(t);
	lp_tcp_timer_cancel(tw, &t->rtx_timer);
	if (t->flags & TF_ACCEPTED) {
		tw->stats.active_opens++;
		if (t->ops->connected != NULL)
			t->ops->connected(t->conn, t);
		return !(t->flags & TF_FREE_PENDING);
	}
	tw->stats.passive_opens++;
	t->flags |= TF_ACCEPTED;
	if (t->ops->accept(t->listen_arg, t) < 0) {
		tw->stats.accepts_refused++;
		t->flags &= ~TF_ACCEPTED;
		lp_tcp_send_rst_tcb(t);
		lp_tcp_tcb_free(t);
		return false;
	}
	return !(t->flags & TF_FREE_PENDING);
}

/* Our FIN has been acknowledged? */
static bool fin_acked(const struct lp_tcb *t)
{
	return (t->flags & TF_FIN_SENT) && lp_seq_gt(t->snd_una, t->fin_seq);
}

/* The peer's FIN, in order (RFC 9293 3.10.7.4 "eighth, check the FIN bit"). */
static void tcp_fin_in(struct lp_tcb *t)
{
	t->flags |= TF_ACK_NOW;
	if (t->flags & TF_FIN_RCVD) {
		if (t->state == LP_TCP_TIME_WAIT)
			lp_tcp_timer_arm(t->tw, &t->rtx_timer, t->tw->cfg.time_wait_ms * 1000u);
		return;
	}
	t->rcv_nxt++;
	t->flags |= TF_FIN_RCVD;
	switch (t->state) {
	case LP_TCP_ESTABLISHED:
		t->state = LP_TCP_CLOSE_WAIT;
		lp_tcp_deliver(t, NULL);
		break;
	case LP_TCP_FIN_WAIT_1:
		lp_tcp_deliver(t, NULL);
		if (t->flags & TF_FREE_PENDING)
			break;
		if (fin_acked(t))
			lp_tcp_enter_time_wait(t);
		else
			t->state = LP_TCP_CLOSING;
		break;
	case LP_TCP_FIN_WAIT_2:
		lp_tcp_deliver(t, NULL);
		if (!(t->flags & TF_FREE_PENDING))
			lp_tcp_enter_time_wait(t);
		break;
	default:
		break;
	}
}

/*
 * RFC 9293 3.10.7.4 "fifth, check the ACK field" for synchronized states,
 * with RFC 5681 / RFC 6582 congestion control. Returns false when t is gone.
 */
static bool tcp_ack(struct lp_tcb *t, const struct seginfo *si)
{
	struct lp_tcp_worker *tw = t->tw;
	uint32_t ack = si->ack;
	bool wnd_changed = false;

	if (lp_seq_lt(ack, t->snd_una))
		return true; /* old duplicate ACK: ignore */
	/* RFC 6675 2: an ACK bringing new SACK information counts as a duplicate,
	 * even when it carries data (the peer's dupACKs ride on its data). */
	bool new_sack = false;

	if (t->flags & TF_SACK) {
		if (lp_seq_lt(t->sack_high, ack))
			t->sack_high = ack;
		for (unsigned i = 0; i < si->opts.n_sack; i++) {
			uint32_t r = si->opts.sack[i][1];

			if (lp_seq_gt(r, t->sack_high) && lp_seq_leq(r, t->snd_max) &&
			    lp_seq_lt(si->opts.sack[i][0], r)) {
				t->sack_high = r;
				new_sack = true;
			}
		}
	}
	/* Window update (SND.WL1/WL2 rule). */
	if (lp_seq_lt(t->snd_wl1, si->seq) ||
	    (t->snd_wl1 == si->seq && lp_seq_leq(t->snd_wl2, ack))) {
		uint32_t wnd = (uint32_t)si->wnd << t->snd_wscale;

		wnd_changed = wnd != t->snd_wnd;
		t->snd_wnd = wnd;
		t->snd_wl1 = si->seq;
		t->snd_wl2 = ack;
		if (wnd > t->max_snd_wnd)
			t->max_snd_wnd = wnd;
	}
	if (ack == t->snd_una) {
		/* RFC 5681 2 "DUPLICATE ACKNOWLEDGMENT": no data, no SYN/FIN, same window. */
		if (((si->len == 0 && !(si->flags & (LP_TCP_SYN | LP_TCP_FIN)) && !wnd_changed) ||
		     new_sack) && t->snd_una != t->snd_max) {
			t->dupacks++;
			if (t->flags & TF_IN_RECOVERY) {
				t->cwnd += t->mss; /* RFC 6582 3.2 step 4 */
			} else if ((t->dupacks >= 3 ||
				    ((t->flags & TF_SACK) && /* RFC 6675 4: IsLost */
				     lp_seq_gt(t->sack_high, t->snd_una + 3u * t->mss))) &&
				   lp_seq_gt(ack, t->recover)) {
				/* RFC 6582 3.2 step 2: fast retransmit, enter recovery. */
				uint32_t flight = t->snd_max - t->snd_una;

				t->ssthresh = RTE_MAX(flight / 2, 2u * t->mss);
				t->recover = t->snd_max;
				t->cwnd = t->ssthresh + 3u * t->mss;
				t->flags |= TF_IN_RECOVERY;
				tw->stats.fast_retransmits++;
				lp_tcp_retransmit_una(t);
				lp_tcp_rtx_arm(t);
			}
		} else if (t->snd_una == t->snd_max) {
			t->dupacks = 0;
		}
		return true;
	}
	/* New data acknowledged. */
	uint32_t acked = ack - t->snd_una;
	uint32_t data_acked = acked;

	if ((t->flags & TF_FIN_SENT) && lp_seq_gt(ack, t->fin_seq))
		data_acked--;
	if (t->rtt_tsc != 0 && lp_seq_gt(ack, t->rtt_seq)) {
		lp_tcp_rtt_sample(t, tw->net->now_tsc - t->rtt_tsc);
		t->rtt_tsc = 0;
	}
	t->rtx_count = 0;
	t->snd_una = ack;
	if (lp_seq_lt(t->snd_nxt, t->snd_una))
		t->snd_nxt = t->snd_una;
	uint32_t freed = lp_tcp_sq_ack(t, data_acked);

	if (t->flags & TF_IN_RECOVERY) {
		if (lp_seq_geq(ack, t->recover)) {
			/* RFC 6582 3.2 step 3, full ACK: deflate (option 1). */
			uint32_t flight = t->snd_max - t->snd_una;

			t->cwnd = RTE_MIN(t->ssthresh, RTE_MAX(flight, (uint32_t)t->mss) + t->mss);
			t->flags &= ~TF_IN_RECOVERY;
			t->dupacks = 0;
		} else {
			/* Step 3, partial ACK: retransmit the next hole, partial deflation. */
			lp_tcp_retransmit_una(t);
			t->cwnd = (t->cwnd > data_acked ? t->cwnd - data_acked : 0) + t->mss;
			lp_tcp_rtx_arm(t);
		}
	} else {
		t->dupacks = 0;
		if (t->cwnd < t->ssthresh)
			t->cwnd += RTE_MIN(data_acked, 2u * t->mss); /* RFC 5681 3.1 (2), L = 2 */
		else
			t->cwnd += RTE_MAX(1u, (uint32_t)t->mss * t->mss / t->cwnd); /* (3) */
		if (t->cwnd > (1u << 30))
			t->cwnd = 1u << 30;
	}
	/* RFC 6298 5.2, 5.3 */
	if (t->snd_una == t->snd_max) {
		if (!(t->flags & TF_PERSIST))
			lp_tcp_timer_cancel(tw, &t->rtx_timer);
	} else if (!(t->flags & TF_IN_RECOVERY)) {
		lp_tcp_rtx_arm_data(t);
	}
	if (freed > 0 && (t->flags & (TF_ACCEPTED | TF_APP_GONE)) == TF_ACCEPTED &&
	    t->ops->sent != NULL) {
		t->ops->sent(t->conn, t, freed);
		if (t->flags & TF_FREE_PENDING)
			return false;
	}
	return true;
}

/* RFC 9293 3.10.7.3: SYN-SENT. Consumes m. */
static void tcp_rcv_syn_sent(struct lp_tcb *t, struct rte_mbuf *m, const struct seginfo *si)
{
	struct lp_tcp_worker *tw = t->tw;

	if (si->flags & LP_TCP_ACK) {
		if (lp_seq_leq(si->ack, t->iss) || lp_seq_gt(si->ack, t->snd_max)) {
			if (!(si->flags & LP_TCP_RST))
				lp_tcp_send_rst_reply(tw, si->rip, si->rport, si->lport, si->mac,
						      si->ack, 0, false);
			lp_net_drop(tw->net, m, LP_DROP_TCP_BAD_SEGMENT);
			return;
		}
	}
	if (si->flags & LP_TCP_RST) {
		if (si->flags & LP_TCP_ACK) {
			tw->stats.rst_received++;
			rte_pktmbuf_free(m);
			lp_tcp_conn_closed(t, -ECONNREFUSED);
			return;
		}
		lp_net_drop(tw->net, m, LP_DROP_TCP_BAD_SEGMENT);
		return;
	}
	if (!(si->flags & LP_TCP_SYN) || (t->flags & TF_ARP_WAIT)) {
		lp_net_drop(tw->net, m, LP_DROP_TCP_BAD_SEGMENT);
		return;
	}
	t->irs = si->seq;
	t->rcv_nxt = si->seq + 1;
	t->rcv_acked = t->irs;
	t->peer_mac = *si->mac;
	syn_options_apply(t, &si->opts);
	/* RFC 7323 2.2: the window of a SYN is not scaled. */
	t->snd_wnd = si->wnd;
	t->max_snd_wnd = si->wnd;
	t->snd_wl1 = si->seq;
	t->snd_wl2 = si->ack;
	rte_pktmbuf_free(m); /* data on a SYN-ACK is not kept: the peer resends it */
	if (si->flags & LP_TCP_ACK) {
		if (t->rtx_count == 0 && t->rtt_tsc != 0)
			lp_tcp_rtt_sample(t, tw->net->now_tsc - t->rtt_tsc);
		t->rtt_tsc = 0;
		t->snd_una = si->ack;
		t->rcv_adv = t->rcv_nxt;
		t->flags |= TF_ACK_NOW;
		if (!tcp_established(t))
			return;
		lp_tcp_output(t);
		return;
	}
	/* Simultaneous open: SYN-RECEIVED, answer SYN-ACK (3.10.7.3 "fifth"). */
	t->state = LP_TCP_SYN_RCVD;
	tw->stats.syn_rcvd++;
	lp_tcp_send_syn(t);
	lp_tcp_rtx_arm(t);
}

/* Segment for no TCB and no listener: RFC 9293 3.10.7.1. Consumes m. */
static void tcp_rcv_closed(struct lp_tcp_worker *tw, struct rte_mbuf *m, const struct seginfo *si)
{
	if (!(si->flags & LP_TCP_RST)) {
		if (si->flags & LP_TCP_ACK)
			lp_tcp_send_rst_reply(tw, si->rip, si->rport, si->lport, si->mac, si->ack, 0,
					      false);
		else
			lp_tcp_send_rst_reply(tw, si->rip, si->rport, si->lport, si->mac, 0,
					      si->seq + si->len + ((si->flags & LP_TCP_SYN) ? 1 : 0) +
						      ((si->flags & LP_TCP_FIN) ? 1 : 0),
					      true);
	}
	lp_net_drop(tw->net, m, LP_DROP_TCP_NO_LISTENER);
}

static void tcp_rcv_state(struct lp_tcb *t, struct rte_mbuf *m, struct seginfo *si);

/* The final ACK of a handshake we answered with a SYN cookie. Consumes m. */
static void tcp_rcv_cookie_ack(struct lp_tcp_worker *tw, const struct lp_tcp_listener *l,
			       struct rte_mbuf *m, struct seginfo *si)
{
	uint16_t mss = lp_tcp_cookie_check(tw, si->rip, si->rport, si->lport, si->seq - 1,
					   si->ack - 1);

	if (mss == 0) {
		tw->stats.syncookies_bad++;
		lp_tcp_send_rst_reply(tw, si->rip, si->rport, si->lport, si->mac, si->ack, 0, false);
		lp_net_drop(tw->net, m, LP_DROP_TCP_BAD_COOKIE);
		return;
	}
	struct lp_tcb *t = lp_tcp_tcb_alloc(tw, si->rip, si->rport, si->lport);

	if (t == NULL) {
		/* No RST: the peer retransmits and may find a TCB then. */
		lp_net_drop(tw->net, m, LP_DROP_TCP_NO_TCB);
		return;
	}
	tw->stats.syncookies_ok++;
	t->ops = l->ops;
	t->listen_arg = l->arg;
	t->peer_mac = *si->mac;
	t->flags |= TF_COOKIE;
	t->mss = mss < lp_tcp_our_mss(tw) ? mss : lp_tcp_our_mss(tw);
	t->iss = si->ack - 1;
	t->snd_una = t->snd_nxt = t->snd_max = si->ack;
	t->irs = si->seq - 1;
	t->rcv_nxt = si->seq;
	t->rcv_acked = si->seq;
	t->rcv_adv = si->seq + RTE_MIN(t->rcv_buf, 65535u);
	t->snd_wnd = si->wnd;
	t->max_snd_wnd = si->wnd;
	t->snd_wl1 = si->seq;
	t->snd_wl2 = si->ack;
	t->state = LP_TCP_SYN_RCVD;
	tw->stats.syn_rcvd++;
	lp_tcp_tcb_hold(t);
	if (tcp_established(t))
		tcp_rcv_state(t, m, si); /* the ACK may carry data or FIN */
	else
		rte_pktmbuf_free(m);
	lp_tcp_tcb_release(t);
}

/* RFC 9293 3.10.7.2: LISTEN. Consumes m. */
static void tcp_rcv_listen(struct lp_tcp_worker *tw, const struct lp_tcp_listener *l,
			   struct rte_mbuf *m, struct seginfo *si)
{
	if (si->flags & LP_TCP_RST) {
		lp_net_drop(tw->net, m, LP_DROP_TCP_BAD_SEGMENT);
		return;
	}
	if (si->flags & LP_TCP_ACK) {
		if (!(si->flags & LP_TCP_SYN)) {
			tcp_rcv_cookie_ack(tw, l, m, si);
			return;
		}
		lp_tcp_send_rst_reply(tw, si->rip, si->rport, si->lport, si->mac, si->ack, 0, false);
		lp_net_drop(tw->net, m, LP_DROP_TCP_BAD_SEGMENT);
		return;
	}
	if (!(si->flags & LP_TCP_SYN)) {
		lp_net_drop(tw->net, m, LP_DROP_TCP_BAD_SEGMENT);
		return;
	}
	if (tw->stats.syn_rcvd >= tw->cfg.syn_backlog || tw->free_tcbs == NULL) {
		if (tw->cfg.no_syncookies) {
			lp_net_drop(tw->net, m, tw->free_tcbs == NULL ? LP_DROP_TCP_NO_TCB :
									 LP_DROP_TCP_SYN_BACKLOG_FULL);
			return;
		}
		uint16_t mss = peer_mss(tw, &si->opts);
		uint32_t cookie = lp_tcp_cookie_make(tw, si->rip, si->rport, si->lport, si->seq, mss);

		lp_tcp_send_synack_stateless(tw, si->rip, si->rport, si->lport, si->mac, cookie,
					     si->seq + 1, mss);
		rte_pktmbuf_free(m);
		return;
	}
	struct lp_tcb *t = lp_tcp_tcb_alloc(tw, si->rip, si->rport, si->lport);

	t->state = LP_TCP_SYN_RCVD;
	tw->stats.syn_rcvd++;
	t->ops = l->ops;
	t->listen_arg = l->arg;
	t->peer_mac = *si->mac;
	t->irs = si->seq;
	t->rcv_nxt = si->seq + 1;
	t->rcv_acked = si->seq;
	t->iss = lp_tcp_isn(tw, si->rip, si->rport, si->lport);
	t->snd_una = t->snd_nxt = t->snd_max = t->iss;
	syn_options_apply(t, &si->opts);
	t->snd_wnd = si->wnd;
	t->max_snd_wnd = si->wnd;
	t->snd_wl1 = si->seq;
	t->snd_wl2 = 0;
	t->rtt_tsc = tw->net->now_tsc;
	t->rtt_seq = t->iss;
	rte_pktmbuf_free(m); /* data on a SYN is not kept (no TFO): the peer resends it */
	lp_tcp_send_syn(t);
	lp_tcp_rtx_arm(t);
}

/* Is the segment acceptable (RFC 9293 3.10.7.4 "first, check sequence number")? */
static bool seq_acceptable(const struct lp_tcb *t, uint32_t seq, uint32_t seg_len, uint32_t rcv_wnd)
{
	if (seg_len == 0) {
		if (rcv_wnd == 0)
			return seq == t->rcv_nxt;
		return lp_seq_in(seq, t->rcv_nxt, t->rcv_nxt + rcv_wnd);
	}
	if (rcv_wnd == 0)
		return false;
	return lp_seq_in(seq, t->rcv_nxt, t->rcv_nxt + rcv_wnd) ||
	       lp_seq_in(seq + seg_len - 1, t->rcv_nxt, t->rcv_nxt + rcv_wnd);
}

/* RFC 9293 3.10.7.4: every state from SYN-RECEIVED on. Consumes m. */
static void tcp_rcv_state(struct lp_tcb *t, struct rte_mbuf *m, struct seginfo *si)
{
	struct lp_tcp_worker *tw = t->tw;
	uint32_t seq = si->seq;
	uint32_t len = si->len;
	bool fin = si->flags & LP_TCP_FIN;

	if (t->state == LP_TCP_SYN_SENT) {
		tcp_rcv_syn_sent(t, m, si);
		return;
	}
	if (si->flags & LP_TCP_SYN) {
		/* Our SYN-ACK was lost: the peer repeats its SYN. */
		if (t->state == LP_TCP_SYN_RCVD && seq == t->irs && !(si->flags & LP_TCP_ACK)) {
			lp_tcp_send_syn(t);
			rte_pktmbuf_free(m);
			return;
		}
		/* RFC 5961 4.2: any other SYN in a synchronized state is challenged. */
		if (!(si->flags & LP_TCP_RST)) {
			tcp_challenge_ack(t, m);
			return;
		}
	}
	uint32_t rcv_wnd = lp_seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
	uint32_t seg_len = len + (fin ? 1 : 0);

	if (!seq_acceptable(t, seq, seg_len, rcv_wnd)) {
		bool old = lp_seq_leq(seq + seg_len, t->rcv_nxt);

		if (si->flags & LP_TCP_RST) {
			lp_net_drop(tw->net, m, LP_DROP_TCP_BAD_SEGMENT);
			return;
		}
		t->flags |= TF_ACK_NOW;
		tw->stats.dup_acks_sent++;
		/* A zero window still takes ACKs (RFC 9293 3.10.7.4: "special allowance"). */
		if (rcv_wnd == 0 && seq == t->rcv_nxt && (si->flags & LP_TCP_ACK)) {
			lp_net_drop(tw->net, m, LP_DROP_TCP_BAD_SEGMENT);
			m = NULL;
			len = 0;
			fin = false;
		} else {
			lp_net_drop(tw->net, m, old ? LP_DROP_TCP_DUPLICATE : LP_DROP_TCP_BAD_SEGMENT);
			lp_tcp_output(t);
			return;
		}
	}
	/* Trim what was already received and what lies beyond the window. */
	if (len > 0 && lp_seq_lt(seq, t->rcv_nxt)) {
		uint32_t dup = t->rcv_nxt - seq;

		if (dup >= len) {
			rte_pktmbuf_free(m);
			m = NULL;
			len = 0;
		} else {
			m = lp_tcp_mbuf_trim_front(m, dup);
			len -= dup;
		}
		seq = t->rcv_nxt;
		t->flags |= TF_ACK_NOW;
	}
	if (len > 0 && lp_seq_gt(seq + len, t->rcv_nxt + rcv_wnd)) {
		uint32_t keep = t->rcv_nxt + rcv_wnd - seq;

		if (keep == 0) {
			rte_pktmbuf_free(m);
			m = NULL;
			len = 0;
		} else {
			lp_tcp_mbuf_trim_back(m, keep);
			len = keep;
		}
		fin = false;
		t->flags |= TF_ACK_NOW;
	}
	/* Second: RST (RFC 5961 3.2): exact match resets, in-window is challenged. */
	if (si->flags & LP_TCP_RST) {
		if (seq != t->rcv_nxt) {
			tcp_challenge_ack(t, m);
			return;
		}
		if (m != NULL)
			rte_pktmbuf_free(m);
		tw->stats.rst_received++;
		if (t->state == LP_TCP_SYN_RCVD || t->state == LP_TCP_TIME_WAIT) {
			lp_tcp_tcb_free(t);
		} else {
			tw->stats.conns_reset++;
			lp_tcp_conn_closed(t, -ECONNRESET);
		}
		return;
	}
	/* Fifth: the ACK field. */
	if (!(si->flags & LP_TCP_ACK)) {
		if (m != NULL)
			lp_net_drop(tw->net, m, LP_DROP_TCP_BAD_SEGMENT);
		return;
	}
	if (t->state == LP_TCP_SYN_RCVD) {
		if (!lp_seq_in(si->ack, t->snd_una + 1, t->snd_max + 1)) {
			lp_tcp_send_rst_reply(tw, si->rip, si->rport, si->lport, si->mac, si->ack, 0,
					      false);
			if (m != NULL)
				lp_net_drop(tw->net, m, LP_DROP_TCP_BAD_SEGMENT);
			return;
		}
		if (t->rtt_tsc != 0 && t->rtx_count == 0)
			lp_tcp_rtt_sample(t, tw->net->now_tsc - t->rtt_tsc);
		t->rtt_tsc = 0;
		t->snd_una = si->ack;
		t->snd_wnd = (uint32_t)si->wnd << t->snd_wscale;
		t->max_snd_wnd = t->snd_wnd;
		t->snd_wl1 = si->seq;
		t->snd_wl2 = si->ack;
		if (!tcp_established(t)) {
			if (m != NULL)
				rte_pktmbuf_free(m);
			return;
		}
	}
	/* RFC 5961 5.2 and RFC 9293: an ACK of nothing sent, or far too old, is answered. */
	if (lp_seq_gt(si->ack, t->snd_max) ||
	    lp_seq_lt(si->ack, t->snd_una - RTE_MAX(t->max_snd_wnd, 65535u))) {
		tcp_challenge_ack(t, m);
		return;
	}
	if (!tcp_ack(t, si)) {
		if (m != NULL)
			rte_pktmbuf_free(m);
		return;
	}
	switch (t->state) {
	case LP_TCP_FIN_WAIT_1:
		if (fin_acked(t)) {
			t->state = LP_TCP_FIN_WAIT_2;
			lp_tcp_timer_arm(tw, &t->rtx_timer, LP_TCP_FIN_WAIT_2_MS * 1000u);
		}
		break;
	case LP_TCP_CLOSING:
		if (fin_acked(t))
			lp_tcp_enter_time_wait(t);
		break;
	case LP_TCP_LAST_ACK:
		if (fin_acked(t)) {
			if (m != NULL)
				rte_pktmbuf_free(m);
			lp_tcp_conn_closed(t, LP_TCP_CLOSED_OK);
			return;
		}
		break;
	default:
		break;
	}
	if (t->flags & TF_FREE_PENDING) {
		if (m != NULL)
			rte_pktmbuf_free(m);
		return;
	}
	/* Seventh: the segment text. */
	if (len > 0) {
		if (t->state != LP_TCP_ESTABLISHED && t->state != LP_TCP_FIN_WAIT_1 &&
		    t->state != LP_TCP_FIN_WAIT_2) {
			/* After the peer's FIN no text is valid. */
			lp_net_drop(tw->net, m, LP_DROP_TCP_BAD_SEGMENT);
			m = NULL;
			len = 0;
			fin = false;
		} else if (tw->pool_critical) {
			lp_net_drop(tw->net, m, LP_DROP_TCP_MEM_PRESSURE);
			m = NULL;
			len = 0;
			fin = false;
			t->flags |= TF_ACK_NOW;
		} else {
			bool in_order = seq == t->rcv_nxt;
			bool had_ooo = t->n_ooo > 0;

			if (t->state == LP_TCP_FIN_WAIT_2)
				lp_tcp_timer_arm(tw, &t->rtx_timer, LP_TCP_FIN_WAIT_2_MS * 1000u);
			lp_tcp_reass_input(t, seq, m, len);
			m = NULL;
			if (t->flags & TF_FREE_PENDING)
				return;
			/* RFC 5681 4.2: ACK at once out of order or when filling a hole;
			 * otherwise at least every second full segment, else delayed. */
			if (!in_order || had_ooo || t->rcv_nxt - t->rcv_acked >= 2u * t->mss) {
				t->flags |= TF_ACK_NOW;
			} else if (!(t->flags & TF_DELACK)) {
				t->flags |= TF_DELACK;
				lp_tcp_timer_arm(tw, &t->dack_timer, tw->cfg.delack_ms * 1000u);
			}
		}
	}
	if (m != NULL)
		rte_pktmbuf_free(m);
	/* Eighth: FIN, in order now or remembered for later. */
	if (fin) {
		uint32_t fin_at = seq + len;

		if (fin_at == t->rcv_nxt || (t->flags & TF_FIN_RCVD)) {
			tcp_fin_in(t);
		} else if (lp_seq_gt(fin_at, t->rcv_nxt)) {
			t->flags |= TF_FIN_OOO | TF_ACK_NOW;
			t->fin_rcv_seq = fin_at;
		}
	}
	if ((t->flags & TF_FIN_OOO) && t->rcv_nxt == t->fin_rcv_seq &&
	    !(t->flags & TF_FREE_PENDING)) {
		t->flags &= ~TF_FIN_OOO;
		tcp_fin_in(t);
	}
	if (!(t->flags & TF_FREE_PENDING))
		lp_tcp_output(t);
}

/* Checksum: offload verdict if the port gave one, else RFC 9293 3.1 in software. */
static bool tcp_cksum_ok(const struct lp_net *net, const struct rte_mbuf *m,
			 const struct rte_ipv4_hdr *ip)
{
	uint64_t l4 = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;

	if (net->netif->rx_cksum_offload) {
		if (l4 == RTE_MBUF_F_RX_L4_CKSUM_GOOD)
			return true;
		if (l4 == RTE_MBUF_F_RX_L4_CKSUM_BAD)
			return false;
	}
	return rte_ipv4_udptcp_cksum_mbuf_verify(m, ip, 0) == 0;
}

void lp_tcp_input(struct lp_net *net, struct rte_mbuf *m, const struct rte_ipv4_hdr *ip,
		  const struct rte_ether_addr *eth_src)
{
	struct lp_tcp_worker *tw = net->tcp;

	if (unlikely(tw == NULL)) {
		lp_net_drop(net, m, LP_DROP_TCP_NO_LISTENER);
		return;
	}
	tw->stats.segs_in++;
	if (unlikely(rte_pktmbuf_data_len(m) < LP_TCP_HDR_LEN)) {
		lp_net_drop(net, m, LP_DROP_TCP_TRUNCATED);
		return;
	}
	const struct rte_tcp_hdr *th = rte_pktmbuf_mtod(m, const struct rte_tcp_hdr *);
	uint32_t hlen = (uint32_t)(th->data_off >> 4) * 4;

	/* RFC 9293 3.1: data offset counts 32-bit words, at least 5. */
	if (unlikely(hlen < LP_TCP_HDR_LEN || hlen > rte_pktmbuf_data_len(m))) {
		lp_net_drop(net, m, LP_DROP_TCP_BAD_HDR_LEN);
		return;
	}
	if (unlikely(!tcp_cksum_ok(net, m, ip))) {
		lp_net_drop(net, m, LP_DROP_TCP_BAD_CHECKSUM);
		return;
	}
	struct seginfo si = {
		.rip = ip->src_addr,
		.rport = rte_be_to_cpu_16(th->src_port),
		.lport = rte_be_to_cpu_16(th->dst_port),
		.seq = rte_be_to_cpu_32(th->sent_seq),
		.ack = rte_be_to_cpu_32(th->recv_ack),
		.len = rte_pktmbuf_pkt_len(m) - hlen,
		.wnd = rte_be_to_cpu_16(th->rx_win),
		.flags = th->tcp_flags,
		.mac = eth_src,
	};

	if (unlikely(lp_tcp_parse_options((const uint8_t *)(th + 1), hlen - LP_TCP_HDR_LEN,
					  &si.opts) != 0)) {
		lp_net_drop(net, m, LP_DROP_TCP_BAD_OPTIONS);
		return;
	}
	if (unlikely((si.flags & LP_TCP_SYN) && (si.flags & (LP_TCP_FIN | LP_TCP_RST)))) {
		lp_net_drop(net, m, LP_DROP_TCP_BAD_FLAGS);
		return;
	}
	if (unlikely(si.rport == 0 || si.lport == 0)) {
		lp_net_drop(net, m, LP_DROP_TCP_BAD_SEGMENT);
		return;
	}
	/* From here on m holds only the payload. */
	rte_pktmbuf_adj(m, (uint16_t)hlen);

	struct lp_tcb *t = lp_tcp_flow_lookup(tw, si.rip, si.rport, si.lport);

	if (t != NULL && t->state == LP_TCP_TIME_WAIT && (si.flags & LP_TCP_SYN) &&
	    !(si.flags & LP_TCP_ACK) && lp_seq_gt(si.seq, t->rcv_nxt)) {
		/* RFC 9293 3.10.7.4 note / RFC 6191: a new SYN may reuse TIME-WAIT. */
		tw->stats.time_wait_reused++;
		lp_tcp_tcb_free(t);
		t = NULL;
	}
	if (t == NULL) {
		const struct lp_tcp_listener *l = lp_tcp_listener_find(tw, si.lport);

		if (l == NULL)
			tcp_rcv_closed(tw, m, &si);
		else
			tcp_rcv_listen(tw, l, m, &si);
		return;
	}
	lp_tcp_tcb_hold(t);
	tcp_rcv_state(t, m, &si);
	lp_tcp_tcb_release(t);
}
