/* SPDX-License-Identifier: MIT */
/*
 * The management API's "ADDR:PORT" (IPv4), as lepus-control's --http and
 * lepusctl's --http spell it (see http_addr.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "http_addr.h"
#include "http_json.h"

int lp_http_parse_addr(const char *addr, struct sockaddr_in *sin)
{
	char host[64];
	const char *colon = strrchr(addr, ':');
	unsigned long port;

	if (!colon || (size_t)(colon - addr) >= sizeof(host))
		return -EINVAL;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	if (lp_http_parse_uint(colon + 1, &port) < 0 || port > 65535)
		return -EINVAL;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		return -EINVAL;
	return 0;
}
