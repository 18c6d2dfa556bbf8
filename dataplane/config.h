/* SPDX-License-Identifier: MIT */
/*
 * lepus-dataplane configuration: defaults, a key = value file, and command-line
 * options, all going through one table of settings so that a file key and its
 * option (`port = af_packet:veth0` and `--port af_packet:veth0`) always mean the
 * same thing. Options after the EAL's own arguments (after `--`) are parsed
 * here; the file named by --config is read first, then the other options
 * override it, whatever their order on the command line.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "fault.h"
#include "port.h"

#define LP_PATH_MAX 108 /* sun_path */
#define DEFAULT_DATA_DIR "/var/lib/lepus"

struct lp_config {
	char port[LP_PORT_SPEC_MAX]; /* --port: see port.h for the spec strings */
	uint32_t ip;                 /* --ip A.B.C.D/LEN, network order */
	uint32_t netmask;            /* network order, from LEN */
	uint32_t gateway;            /* --gateway A.B.C.D, network order, 0 = none */
	uint16_t mtu;                /* --mtu, 0 = the port's */
	uint32_t n_mbufs;            /* --mbufs: packet pool size */
	uint16_t rx_desc, tx_desc;   /* --rx-desc, --tx-desc */
	struct lp_fault_config fault; /* --fault drop=P,dup=P,reorder=P,seed=N */
	uint16_t amqp_port;          /* --amqp-port, default 5672, 0 = off */
	uint32_t amqp_max_conns;     /* --amqp-max-conns, per worker, default 128 */
	uint32_t max_message_size;   /* --max-message-size BYTES, default 128 MiB (RabbitMQ's) */
	uint32_t tcp_max_conns;      /* --tcp-max-conns, TCBs per worker, default 4096 */
	uint16_t echo_port;          /* --echo-port, TCP echo service, 0 = off */
	uint16_t discard_port;       /* --discard-port, TCP discard service, 0 = off */
	char control_socket[LP_PATH_MAX]; /* --control PATH */
	char ready_file[LP_PATH_MAX]; /* --ready-file PATH: written once serving */
	char pid_file[LP_PATH_MAX];   /* --pidfile PATH */
	char data_dir[LP_PATH_MAX];   /* --data-dir PATH, "" = none */
	uint32_t max_messages;        /* --max-messages, message pool per worker; 0: from the limit */
	uint64_t memory_limit;        /* --memory-limit BYTES, or 0: ... */
	double memory_limit_fraction; /* ... this fraction of RAM (default 0.4) */
	bool prefault;                /* --prefault: message pools touched at start */
	uint64_t disk_free_limit;     /* --disk-free-limit BYTES (default 50 MB, RabbitMQ's) */
	double memory_high_watermark; /* --memory-high-watermark F of the pool (default 0.875) */
	uint64_t store_fault_sync_eio_at;   /* --store-fault fsync-eio=N (tests) */
	uint64_t store_fault_torn_write_at; /* --store-fault torn-write=N (tests) */
};

/* Fill cfg with the defaults (no port, no address: both must be given). */
void lp_config_defaults(struct lp_config *cfg);

/*
 * Parse the application arguments (argv[0] is the program name). Returns 0,
 * 1 when --help was printed (the caller exits successfully), or -EINVAL with a
 * message in err naming the bad option or file line.
 */
int lp_config_parse_args(struct lp_config *cfg, int argc, char **argv, char *err, size_t errlen);

/*
 * Read a config file of `key = value` lines (`#` starts a comment; keys are the
 * long option names). Returns 0, or -errno / -EINVAL with a message in err.
 */
int lp_config_load_file(struct lp_config *cfg, const char *path, char *err, size_t errlen);

/* Check that the required settings are present and consistent. 0 or -EINVAL. */
int lp_config_validate(const struct lp_config *cfg, char *err, size_t errlen);

/* Print the option list (for --help). */
void lp_config_usage(const char *prog);
