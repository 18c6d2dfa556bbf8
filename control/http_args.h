/* SPDX-License-Identifier: MIT */
/*
 * "arguments" of exchanges, queues and bindings in the management API: the
 * AMQP field table body the definitions keep (definitions.h, spec 4.2.5.5)
 * as a JSON object and back, with the types RabbitMQ's management plugin
 * uses (rabbit_mgmt_format:amqp_table/1 one way, rabbit_misc:to_amqp_table/1
 * the other): integers are 'l' (signed 64-bit), reals 'd', strings 'S',
 * booleans 't', arrays 'A', objects 'F', null 'V'.
 */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* A new JSON object for the (validated) table body args[0..len); {} when
 * len is 0. NULL when out of memory. Strings that are not UTF-8 have their
 * other bytes replaced by '?'. */
json_t *lp_http_args_to_json(const uint8_t *args, size_t len);

/*
 * Encode the JSON object obj (NULL or JSON null: no arguments) as a table
 * body into buf (cap bytes). Returns the length, -EINVAL when obj is not an
 * object or a key is over 255 bytes, -EMSGSIZE when it does not fit in cap.
 */
int lp_http_args_from_json(const json_t *obj, uint8_t *buf, size_t cap);
