/* SPDX-License-Identifier: MIT */
/*
 * The management API's "ADDR:PORT" (IPv4), as lepus-control's --http and
 * lepusctl's --http spell it (see http_addr.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http_addr.h"

int lp_http_parse_addr(const char *addr, struct sockaddr_in *sin)
{
	char host[64], *end;
	const char *colon = strrchr(addr, ':');

	if (!colon || (size_t)(colon - addr) >= sizeof(host) || colon[1] == '\0')
		return -EINVAL;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	unsigned long port = strtoul(colon + 1, &end, 10);

	if (*end != '\0' || colon[1] == '-' || port > 65535)
		return -EINVAL;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		return -EINVAL;
	return 0;
}
