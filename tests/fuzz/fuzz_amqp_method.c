/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the generated AMQP method decoder (amqp_spec.c, from
 * scripts/amqp_codegen.py) and the content-header decoder: the payloads of
 * every method and header frame a client sends. The first input octet picks
 * method (even) or content header (odd). Besides memory safety it checks
 * that whatever decodes re-encodes, decodes again, and encodes to the same
 * bytes (bits and booleans are normalised by the first pass, so the second
 * pass must be a fixed point).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "amqp_frame.h"
#include "amqp_spec.h"

static uint8_t e1[1 << 17], e2[1 << 17];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	bool header = data[0] & 1;
	data++;
	size--;
	if (!header) {
		struct lp_amqp_method m, m2;
		if (lp_amqp_method_decode(data, size, &m) != 0)
			return 0;
		if (lp_amqp_method_name(m.id) == NULL)
			abort();
		int n1 = lp_amqp_method_encode(&m, e1, sizeof(e1));
		if (n1 < 4 || (size_t)n1 != size)
			abort(); /* same length: only bit values may change */
		if (lp_amqp_method_decode(e1, (size_t)n1, &m2) != 0)
			abort();
		int n2 = lp_amqp_method_encode(&m2, e2, sizeof(e2));
		if (n2 != n1 || memcmp(e1, e2, (size_t)n1) != 0)
			abort();
		return 0;
	}
	struct lp_amqp_content_header h, h2;
	if (lp_amqp_content_header_decode(data, size, &h) != 0)
		return 0;
	int n1 = lp_amqp_basic_properties_encode(&h.props, e1, sizeof(e1));
	if (n1 < 2)
		abort();
	if (lp_amqp_basic_properties_decode(e1, (size_t)n1, &h2.props) != 0)
		abort();
	int n2 = lp_amqp_basic_properties_encode(&h2.props, e2, sizeof(e2));
	if (n2 != n1 || memcmp(e1, e2, (size_t)n1) != 0)
		abort();
	return 0;
}
