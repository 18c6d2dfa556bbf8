/* SPDX-License-Identifier: MIT */
/* "ADDR:PORT" of the management API (IPv4 dotted quad, port 0..65535). */
#pragma once

#include <netinet/in.h>

/* Fill *sin from addr. Returns 0, or -EINVAL when addr is not ADDR:PORT. */
int lp_http_parse_addr(const char *addr, struct sockaddr_in *sin);
