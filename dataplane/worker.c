/* SPDX-License-Identifier: MIT */
/*
 * The worker lcore's run-to-completion loop and the wiring of its layers: the
 * AMQP session layer is given the broker's callbacks here (VPP's session
 * layer takes an application's callback table the same way), so that neither
 * amqp/ nor net/ knows what runs above it.
 *
 * Nothing here blocks, locks, allocates or makes a syscall after start-up.
 */
#include <errno.h>
#include <string.h>

#include <rte_errno.h>

#include "amqp_server.h"
#include "broker.h"
#include "snapshot.h"
#include "worker.h"

int lp_worker_init(struct lp_worker *w, unsigned id, unsigned lcore_id,
		   const struct lp_netif *netif, struct lp_port *port,
		   struct rte_mempool *pool, struct lp_snapshot_publisher *snapshots)
{
	int rc;

	if (w == NULL)
		return -EINVAL;
	memset(w, 0, sizeof(*w));
	rc = lp_net_init(&w->net, id, lcore_id, netif, port, pool);
	if (rc != 0)
		return rc;
	w->snapshots = snapshots;
	if (snapshots != NULL)
		w->snap = lp_snapshot_current(snapshots);
	return 0;
}

/* The broker's side of every AMQP session (amqp_server.h). */
static const struct lp_amqp_session_ops broker_session_ops = {
	.conn = {
		.on_channel_open = lp_broker_on_channel_open,
		.on_channel_close = lp_broker_on_channel_close,
		.on_method = lp_broker_on_method,
		.on_content_header = lp_broker_on_content_header,
		.on_content_body = lp_broker_on_content_body,
	},
	.closed = lp_broker_on_session_closed,
};

int lp_worker_listen_amqp(struct lp_worker *w, const struct lp_amqp_server_config *cfg,
			  const struct lp_amqp_auth *auth)
{
	const struct lp_amqp_auth *a = w->snap != NULL ? w->snap->auth : auth;

	w->amqp = lp_amqp_server_create(&w->net, cfg, a,
					w->broker != NULL ? &broker_session_ops : NULL, w->broker);
	return w->amqp != NULL ? 0 : -rte_errno;
}

unsigned lp_worker_poll(struct lp_worker *w)
{
	unsigned n;

	if (w->snapshots != NULL) {
		w->snap = lp_snapshot_current(w->snapshots);
		lp_amqp_server_set_auth(w->amqp, w->snap->auth);
		lp_broker_set_snapshot(w->broker, w->snap);
	}
	n = lp_net_rx(&w->net);
	/* Deliveries, then AMQP output, so that TCP segments it in this iteration. */
	lp_broker_poll(w->broker);
	lp_amqp_server_poll(w->amqp);
	lp_net_output(&w->net);
	if (w->snapshots != NULL)
		lp_snapshot_quiescent(w->snapshots, w->net.id);
	return n;
}
