/* SPDX-License-Identifier: MIT */
/*
 * TCP timers: a per-worker hashed timing wheel driven by the TSC
 * (LP_TCP_WHEEL_SLOTS slots of LP_TCP_TICK_US; a timer further out than one
 * turn sits in its slot until its absolute tick comes), and what each TCB
 * timer does when it fires: retransmission timeout with RFC 6298 backoff,
 * SYN/SYN-ACK retries, zero-window probes (persist), TIME-WAIT and
 * FIN-WAIT-2 expiry, the delayed ACK. Also the RTT estimator of RFC 6298 2.
 *
 * lp_tcp_worker_poll -> lp_tcp_wheel_run -> tcp_timer_fire -> tcp_out.c.
 * Timer nodes are embedded in the TCB: arming and cancelling are O(1) and
 * never allocate.
 */
#include <errno.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_common.h>
#include <rte_cycles.h>

#include "tcp_tcb.h"
#include "net.h"

#define ARP_RETRY_US 100000u
#define ARP_RETRIES 30

void lp_tcp_wheel_init(struct lp_tcp_wheel *wh, uint64_t tsc_hz, uint64_t now_tsc)
{
	memset(wh, 0, sizeof(*wh));
	wh->tick_cycles = tsc_hz / (1000000 / LP_TCP_TICK_US);
	if (wh->tick_cycles == 0)
		wh->tick_cycles = 1;
	wh->base_tsc = now_tsc;
}

static uint64_t wheel_tick(const struct lp_tcp_wheel *wh, uint64_t tsc)
{
	return tsc <= wh->base_tsc ? 0 : (tsc - wh->base_tsc) / wh->tick_cycles;
}

static void wheel_insert(struct lp_tcp_wheel *wh, struct lp_tcp_timer *tm)
{
	struct lp_tcp_timer **head = &wh->slot[tm->expire & (LP_TCP_WHEEL_SLOTS - 1)];

	tm->next = *head;
	if (tm->next != NULL)
		tm->next->pprev = &tm->next;
	tm->pprev = head;
	*head = tm;
}

static void timer_unlink(struct lp_tcp_timer *tm)
{
	*tm->pprev = tm->next;
	if (tm->next != NULL)
		tm->next->pprev = tm->pprev;
	tm->next = NULL;
	tm->pprev = NULL;
}

void lp_tcp_timer_cancel(struct lp_tcp_worker *tw, struct lp_tcp_timer *tm)
{
	if (tm->pprev == NULL)
		return;
	timer_unlink(tm);
	tw->wheel.armed--;
	tw->stats.timers_armed = tw->wheel.armed;
}

void lp_tcp_timer_arm(struct lp_tcp_worker *tw, struct lp_tcp_timer *tm, uint32_t us)
{
	struct lp_tcp_wheel *wh = &tw->wheel;
	uint64_t now = RTE_MAX(wheel_tick(wh, tw->net->now_tsc), wh->now);
	uint64_t ticks = (us + LP_TCP_TICK_US - 1) / LP_TCP_TICK_US;

	lp_tcp_timer_cancel(tw, tm);
	tm->expire = now + RTE_MAX(ticks, (uint64_t)1);
	wheel_insert(wh, tm);
	wh->armed++;
	tw->stats.timers_armed = wh->armed;
}

/* RFC 6298 2.2, 2.3: the first sample sets SRTT and RTTVAR; later ones smooth. */
void lp_tcp_rtt_sample(struct lp_tcb *t, uint64_t rtt_tsc)
{
	uint64_t r64 = rtt_tsc * 1000000 / t->tw->tsc_hz;
	uint32_t r = r64 > UINT32_MAX / 8 ? UINT32_MAX / 8 : (uint32_t)r64;

	if (r == 0)
		r = 1;
	if (t->srtt_us == 0) {
		t->srtt_us = r;
		t->rttvar_us = r / 2;
	} else {
		uint32_t delta = t->srtt_us > r ? t->srtt_us - r : r - t->srtt_us;

		t->rttvar_us = (3 * t->rttvar_us + delta) / 4;
		t->srtt_us = (7 * t->srtt_us + r) / 8;
	}
	/* RTO = SRTT + max(G, 4 * RTTVAR), clamped (2.4, 2.5). */
	uint64_t rto = (uint64_t)t->srtt_us + RTE_MAX((uint64_t)LP_TCP_TICK_US, 4ull * t->rttvar_us);

	t->rto_us = (uint32_t)RTE_MIN(RTE_MAX(rto, (uint64_t)LP_TCP_MIN_RTO_US),
				      (uint64_t)LP_TCP_MAX_RTO_US);
}

static uint32_t backed_off_rto(const struct lp_tcb *t)
{
	uint64_t rto = (uint64_t)t->rto_us << RTE_MIN(t->rtx_count, 16);

	return (uint32_t)RTE_MIN(rto, (uint64_t)LP_TCP_MAX_RTO_US);
}

void lp_tcp_rtx_arm(struct lp_tcb *t)
{
	t->flags2 &= ~TF2_TLP;
	lp_tcp_timer_arm(t->tw, &t->rtx_timer, backed_off_rto(t));
}

/*
 * RFC 8985 7.2: with SACK, outside recovery and with an RTT sample, the first
 * timeout of outstanding data is a probe timeout PTO = 2 * SRTT (plus the
 * peer's delayed-ACK allowance when one segment is in flight), at least 10 ms
 * here and never later than the RTO.
 */
void lp_tcp_rtx_arm_data(struct lp_tcb *t)
{
	if (!(t->flags & TF_SACK) || (t->flags & TF_IN_RECOVERY) || t->srtt_us == 0 ||
	    t->rtx_count != 0) {
		lp_tcp_rtx_arm(t);
		return;
	}
	uint32_t pto = 2 * t->srtt_us;

	if (t->snd_max - t->snd_una <= t->mss)
		pto += 40000;
	pto = RTE_MAX(pto, 10000u);
	if (pto >= backed_off_rto(t)) {
		lp_tcp_rtx_arm(t);
		return;
	}
	t->flags2 |= TF2_TLP;
	lp_tcp_timer_arm(t->tw, &t->rtx_timer, pto);
}

/* RFC 8985 7.3: send new data if the window allows, else the last segment again. */
static void tcp_tail_loss_probe(struct lp_tcb *t)
{
	uint32_t nxt = t->snd_nxt;

	t->flags2 &= ~TF2_TLP;
	t->tw->stats.tail_loss_probes++;
	lp_tcp_rtx_arm(t);
	lp_tcp_output(t);
	if (t->snd_nxt == nxt)
		lp_tcp_retransmit_last(t);
}

void lp_tcp_enter_time_wait(struct lp_tcb *t)
{
	struct lp_tcp_worker *tw = t->tw;

	t->state = LP_TCP_TIME_WAIT;
	t->flags &= ~(TF_PERSIST | TF_DELACK);
	lp_tcp_timer_cancel(tw, &t->dack_timer);
	lp_tcp_timer_arm(tw, &t->rtx_timer, tw->cfg.time_wait_ms * 1000u);
	lp_tcp_app_closed(t, LP_TCP_CLOSED_OK);
}

/* RFC 5681 3.1 (4) and RFC 6298 5.4-5.7: timeout of outstanding data. */
static void tcp_rto_expired(struct lp_tcb *t)
{
	struct lp_tcp_worker *tw = t->tw;
	uint32_t flight = t->snd_max - t->snd_una;

	if (++t->rtx_count > LP_TCP_MAX_RETRIES) {
		tw->stats.conns_timed_out++;
		lp_tcp_send_rst_tcb(t);
		lp_tcp_conn_closed(t, -ETIMEDOUT);
		return;
	}
	tw->stats.rto_expired++;
	t->ssthresh = RTE_MAX(flight / 2, 2u * t->mss);
	t->cwnd = t->mss;
	t->dupacks = 0;
	/* RFC 6582 4: after a timeout, recover is the highest sequence sent. */
	t->recover = t->snd_max;
	t->flags &= ~TF_IN_RECOVERY;
	t->rtt_tsc = 0; /* Karn: no sample from a retransmission */
	t->snd_nxt = t->snd_una;
	lp_tcp_rtx_arm(t);
	lp_tcp_output(t);
}

static void tcp_rtx_timer_fire(struct lp_tcb *t)
{
	struct lp_tcp_worker *tw = t->tw;
	struct rte_ether_addr mac;

	switch (t->state) {
	case LP_TCP_SYN_SENT:
		if (t->flags & TF_ARP_WAIT) {
			uint32_t nh = t->remote_ip;
			const struct lp_netif *nif = tw->net->netif;

			if (((nh ^ nif->ip) & nif->netmask) != 0)
				nh = nif->gateway;
			if (lp_arp_resolve(tw->net, nh, &mac) == 0) {
				t->peer_mac = mac;
				t->flags &= ~TF_ARP_WAIT;
				t->rtx_count = 0;
				lp_tcp_send_syn(t);
				lp_tcp_rtx_arm(t);
			} else if (++t->rtx_count > ARP_RETRIES) {
				lp_tcp_conn_closed(t, -EHOSTUNREACH);
			} else {
				lp_tcp_timer_arm(tw, &t->rtx_timer, ARP_RETRY_US);
			}
			return;
		}
		/* SYN retransmission, as for SYN-RECEIVED */
		__attribute__((fallthrough));
	case LP_TCP_SYN_RCVD:
		if (++t->rtx_count > LP_TCP_SYN_RETRIES) {
			tw->stats.conns_timed_out++;
			lp_tcp_conn_closed(t, -ETIMEDOUT);
			return;
		}
		tw->stats.retransmits++;
		lp_tcp_send_syn(t);
		lp_tcp_rtx_arm(t);
		return;
	case LP_TCP_TIME_WAIT:
		lp_tcp_tcb_free(t);
		return;
	case LP_TCP_CLOSED:
		return;
	default:
		break;
	}
	if (t->flags & TF_PERSIST) {
		/* RFC 9293 3.8.6.1: probe the zero window, backing off, indefinitely. */
		if (t->snd_wnd == 0 && t->sq_bytes > t->snd_nxt - t->snd_una) {
			if (t->rtx_count < 16)
				t->rtx_count++;
			lp_tcp_send_probe(t);
			lp_tcp_rtx_arm(t);
		} else {
			t->flags &= ~TF_PERSIST;
			t->rtx_count = 0;
			lp_tcp_output(t);
		}
		return;
	}
	if (t->snd_una != t->snd_max) {
		if (t->flags2 & TF2_TLP)
			tcp_tail_loss_probe(t);
		else
			tcp_rto_expired(t);
		return;
	}
	if (t->state == LP_TCP_FIN_WAIT_2) {
		/* The peer never closed: give up, as Linux's tcp_fin_timeout. */
		lp_tcp_conn_closed(t, -ETIMEDOUT);
		return;
	}
}

static void tcp_timer_fire(struct lp_tcp_worker *tw, struct lp_tcp_timer *tm)
{
	struct lp_tcb *t;

	if (tm->kind == LP_TCP_TIMER_DACK) {
		t = container_of(tm, struct lp_tcb, dack_timer);
		lp_tcp_tcb_hold(t);
		if (t->flags & TF_DELACK) {
			tw->stats.delayed_acks++;
			lp_tcp_send_ack(t);
		}
	} else {
		t = container_of(tm, struct lp_tcb, rtx_timer);
		lp_tcp_tcb_hold(t);
		tcp_rtx_timer_fire(t);
	}
	lp_tcp_tcb_release(t);
}

unsigned lp_tcp_wheel_run(struct lp_tcp_worker *tw, uint64_t now_tsc)
{
	struct lp_tcp_wheel *wh = &tw->wheel;
	uint64_t target = wheel_tick(wh, now_tsc);
	unsigned fired = 0;

	if (target <= wh->now)
		return 0;
	uint64_t from = wh->now + 1;

	if (target - wh->now > LP_TCP_WHEEL_SLOTS)
		from = target - LP_TCP_WHEEL_SLOTS + 1;
	wh->now = target;
	for (uint64_t tick = from; tick <= target; tick++) {
		struct lp_tcp_timer **slot = &wh->slot[tick & (LP_TCP_WHEEL_SLOTS - 1)];
		struct lp_tcp_timer *pending = *slot;

		if (pending == NULL)
			continue;
		/* Detach the slot: callbacks may cancel any timer of the list. */
		*slot = NULL;
		pending->pprev = &pending;
		while (pending != NULL) {
			struct lp_tcp_timer *tm = pending;

			timer_unlink(tm);
			if (tm->expire > target) {
				wheel_insert(wh, tm);
				continue;
			}
			wh->armed--;
			tw->stats.timers_armed = wh->armed;
			fired++;
			tcp_timer_fire(tw, tm);
		}
	}
	return fired;
}
