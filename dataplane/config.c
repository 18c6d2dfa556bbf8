/* SPDX-License-Identifier: MIT */
/*
 * Configuration parsing for lepus-dataplane (see config.h). One table,
 * `settings`, lists every setting with its setter; both the config file reader
 * and the command-line parser go through it.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define DEFAULT_MBUFS 16383
#define DEFAULT_CONTROL_SOCKET "/run/lepus/control.sock"

struct setting {
	const char *name;
	const char *arg;  /* shown in --help */
	const char *help;
	int (*set)(struct lp_config *cfg, const char *value);
};

static int set_string(char *dst, size_t size, const char *value)
{
	if (strlen(value) >= size)
		return -ENAMETOOLONG;
	strcpy(dst, value);
	return 0;
}

static int parse_u32(const char *value, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(value, &end, 0);
	if (errno != 0 || end == value || *end != '\0' || value[0] == '-' || v < min || v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int set_port(struct lp_config *cfg, const char *v)
{
	return set_string(cfg->port, sizeof(cfg->port), v);
}

static int set_ip(struct lp_config *cfg, const char *v)
{
	char addr[INET_ADDRSTRLEN];
	const char *slash = strchr(v, '/');
	uint32_t len = 24;
	struct in_addr in;

	if (slash == NULL || (size_t)(slash - v) >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, v, slash - v);
	addr[slash - v] = '\0';
	if (inet_pton(AF_INET, addr, &in) != 1 || parse_u32(slash + 1, 1, 32, &len) != 0)
		return -EINVAL;
	cfg->ip = in.s_addr;
	cfg->netmask = htonl(len == 32 ? UINT32_MAX : ~(UINT32_MAX >> len));
	return 0;
}

static int set_gateway(struct lp_config *cfg, const char *v)
{
	struct in_addr in;

	if (inet_pton(AF_INET, v, &in) != 1)
		return -EINVAL;
	cfg->gateway = in.s_addr;
	return 0;
}

static int set_mtu(struct lp_config *cfg, const char *v)
{
	uint32_t x;
	int rc = parse_u32(v, 576, 9000, &x);

	if (rc == 0)
		cfg->mtu = (uint16_t)x;
	return rc;
}

static int set_mbufs(struct lp_config *cfg, const char *v)
{
	return parse_u32(v, 1023, 1u << 24, &cfg->n_mbufs);
}

static int set_desc(uint16_t *dst, const char *v)
{
	uint32_t x;
	int rc = parse_u32(v, 64, 32768, &x);

	if (rc == 0)
		*dst = (uint16_t)x;
	return rc;
}

static int set_rx_desc(struct lp_config *cfg, const char *v)
{
	return set_desc(&cfg->rx_desc, v);
}

static int set_tx_desc(struct lp_config *cfg, const char *v)
{
	return set_desc(&cfg->tx_desc, v);
}

static int set_fault(struct lp_config *cfg, const char *v)
{
	return lp_fault_parse(v, &cfg->fault);
}

static int set_port_number(uint16_t *dst, const char *v)
{
	uint32_t x;
	int rc = parse_u32(v, 0, 65535, &x);

	if (rc == 0)
		*dst = (uint16_t)x;
	return rc;
}

static int set_amqp_port(struct lp_config *cfg, const char *v)
{
	return set_port_number(&cfg->amqp_port, v);
}

static int set_echo_port(struct lp_config *cfg, const char *v)
{
	return set_port_number(&cfg->echo_port, v);
}

static int set_discard_port(struct lp_config *cfg, const char *v)
{
	return set_port_number(&cfg->discard_port, v);
}

static int set_amqp_max_conns(struct lp_config *cfg, const char *v)
{
	return parse_u32(v, 1, 1u << 20, &cfg->amqp_max_conns);
}

/* RabbitMQ max_message_size: at most 512 MiB. */
static int set_max_message_size(struct lp_config *cfg, const char *v)
{
	return parse_u32(v, 1, 512u << 20, &cfg->max_message_size);
}

static int set_tcp_max_conns(struct lp_config *cfg, const char *v)
{
	return parse_u32(v, 16, 1u << 22, &cfg->tcp_max_conns);
}

static int set_control(struct lp_config *cfg, const char *v)
{
	return set_string(cfg->control_socket, sizeof(cfg->control_socket), v);
}

static int set_ready_file(struct lp_config *cfg, const char *v)
{
	return set_string(cfg->ready_file, sizeof(cfg->ready_file), v);
}

static int set_pid_file(struct lp_config *cfg, const char *v)
{
	return set_string(cfg->pid_file, sizeof(cfg->pid_file), v);
}

/* "none": no journal (persistent messages live in memory only). */
static int set_data_dir(struct lp_config *cfg, const char *v)
{
	return set_string(cfg->data_dir, sizeof(cfg->data_dir), strcmp(v, "none") == 0 ? "" : v);
}

static int set_max_messages(struct lp_config *cfg, const char *v)
{
	return parse_u32(v, 1024, 1u << 26, &cfg->max_messages);
}

/* BYTES with an optional kB/MB/GB (10^3...) or KiB/MiB/GiB (2^10...)
 * suffix, as RabbitMQ's disk_free_limit and vm_memory_high_watermark.absolute. */
static int parse_bytes(const char *v, uint64_t *out)
{
	static const struct {
		const char *suffix;
		uint64_t mult;
	} units[] = {{"", 1},          {"kB", 1000},      {"MB", 1000000}, {"GB", 1000000000},
		     {"KiB", 1u << 10}, {"MiB", 1u << 20}, {"GiB", 1u << 30}};
	char *end;
	unsigned long long n;

	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno != 0 || end == v || v[0] == '-')
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].suffix) == 0) {
			if (n > UINT64_MAX / units[i].mult)
				return -EINVAL;
			*out = n * units[i].mult;
			return 0;
		}
	}
	return -EINVAL;
}

static int set_disk_free_limit(struct lp_config *cfg, const char *v)
{
	return parse_bytes(v, &cfg->disk_free_limit);
}

/* A fraction of the machine's memory (0.4, RabbitMQ's default
 * vm_memory_high_watermark) or BYTES (its .absolute form, at least 64 MiB). */
static int set_memory_limit(struct lp_config *cfg, const char *v)
{
	char *end;
	double f;

	if (strchr(v, '.') != NULL) {
		errno = 0;
		f = strtod(v, &end);
		if (errno != 0 || end == v || *end != '\0' || !(f > 0.0 && f <= 1.0))
			return -EINVAL;
		cfg->memory_limit_fraction = f;
		cfg->memory_limit = 0;
		return 0;
	}
	uint64_t n;

	if (parse_bytes(v, &n) < 0 || n < (64u << 20))
		return -EINVAL;
	cfg->memory_limit = n;
	cfg->memory_limit_fraction = 0;
	return 0;
}

static int set_prefault(struct lp_config *cfg, const char *v)
{
	if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
		return -EINVAL;
	cfg->prefault = strcmp(v, "true") == 0;
	return 0;
}

static int set_memory_high_watermark(struct lp_config *cfg, const char *v)
{
	char *end;
	double f;

	errno = 0;
	f = strtod(v, &end);
	if (errno != 0 || end == v || *end != '\0' || !(f >= 0.01 && f <= 1.0))
		return -EINVAL;
	cfg->memory_high_watermark = f;
	return 0;
}

/* Journal fault injection for the durability tests: fsync-eio=N or
 * torn-write=N, N the flush (group commit) of each worker, from 1. */
static int set_store_fault(struct lp_config *cfg, const char *v)
{
	uint32_t n;

	if (strncmp(v, "fsync-eio=", 10) == 0 && parse_u32(v + 10, 1, UINT32_MAX, &n) == 0)
		cfg->store_fault_sync_eio_at = n;
	else if (strncmp(v, "torn-write=", 11) == 0 && parse_u32(v + 11, 1, UINT32_MAX, &n) == 0)
		cfg->store_fault_torn_write_at = n;
	else
		return -EINVAL;
	return 0;
}

static const struct setting settings[] = {
	{"port", "SPEC", "port to own: af_packet:IF, tap:IF, memif:PATH[,server|client], pci:ADDR, ring:NAME, eal:NAME", set_port},
	{"ip", "A.B.C.D/LEN", "the dataplane's IPv4 address and prefix length", set_ip},
	{"gateway", "A.B.C.D", "default gateway (for active opens off-link)", set_gateway},
	{"mtu", "N", "port MTU (default: the port's)", set_mtu},
	{"mbufs", "N", "packet buffers in the pool (default 16383)", set_mbufs},
	{"rx-desc", "N", "rx descriptors per queue (default 1024)", set_rx_desc},
	{"tx-desc", "N", "tx descriptors per queue (default 1024)", set_tx_desc},
	{"fault", "drop=P,dup=P,reorder=P,seed=N", "inject faults in both directions", set_fault},
	{"amqp-port", "N", "AMQP listener port (default 5672, 0 = none)", set_amqp_port},
	{"amqp-max-conns", "N", "AMQP connections per worker (default 128)", set_amqp_max_conns},
	{"max-message-size", "BYTES", "largest message body accepted, 406 above it (default 134217728, at most 536870912)", set_max_message_size},
	{"tcp-max-conns", "N", "TCP connections per worker, all services (default 4096)", set_tcp_max_conns},
	{"echo-port", "N", "TCP echo service (RFC 862) on port N (default off)", set_echo_port},
	{"discard-port", "N", "TCP discard service (RFC 863) on port N (default off)", set_discard_port},
	{"control", "PATH", "lepus-control socket (default " DEFAULT_CONTROL_SOCKET ")", set_control},
	{"ready-file", "PATH", "file written once the dataplane serves traffic", set_ready_file},
	{"pidfile", "PATH", "file holding the dataplane's pid", set_pid_file},
	{"data-dir", "PATH", "journal of persistent messages, <PATH>/shard-<worker>/ (default " DEFAULT_DATA_DIR "; none = keep them in memory only)", set_data_dir},
	{"memory-limit", "F|BYTES", "memory for messages held in memory, all workers together: a fraction of RAM (default 0.4, RabbitMQ's vm_memory_high_watermark) or BYTES[kB|MB|GB|KiB|MiB|GiB]; sizes each worker's message pool (resident only as it is used)", set_memory_limit},
	{"max-messages", "N", "messages held in memory per worker (default: from --memory-limit)", set_max_messages},
	{"prefault", "true|false", "true: touch every page of the message pools at start (no page faults on the workers later; resident memory is then the whole pool; default false)", set_prefault},
	{"memory-high-watermark", "F", "memory alarm when this fraction of a worker's message pool is in use (default 0.875): Connection.Blocked to its publishers", set_memory_high_watermark},
	{"disk-free-limit", "BYTES[kB|MB|GB|KiB|MiB|GiB]", "disk alarm when the data directory's file system has less free (default 50MB): Connection.Blocked to publishers", set_disk_free_limit},
	{"store-fault", "fsync-eio=N|torn-write=N", "tests: the N-th journal flush of each worker fails its fdatasync, or is torn (half written); the dataplane then stops (exit 74)", set_store_fault},
};

#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

static const struct setting *setting_find(const char *name)
{
	for (size_t i = 0; i < N_SETTINGS; i++)
		if (strcmp(settings[i].name, name) == 0)
			return &settings[i];
	return NULL;
}

void lp_config_defaults(struct lp_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->n_mbufs = DEFAULT_MBUFS;
	cfg->amqp_port = 5672;
	cfg->amqp_max_conns = 128;
	strcpy(cfg->data_dir, DEFAULT_DATA_DIR);
	cfg->max_messages = 0; /* from the memory limit */
	cfg->memory_limit_fraction = 0.4;
	cfg->disk_free_limit = 50000000;
	cfg->memory_high_watermark = 0.875;
	cfg->max_message_size = 128u << 20;
	cfg->tcp_max_conns = 4096;
	strcpy(cfg->control_socket, DEFAULT_CONTROL_SOCKET);
}

static int apply(struct lp_config *cfg, const char *name, const char *value,
		 const char *where, char *err, size_t errlen)
{
	const struct setting *s = setting_find(name);
	int rc;

	if (s == NULL) {
		snprintf(err, errlen, "%sunknown setting '%s'", where, name);
		return -EINVAL;
	}
	rc = s->set(cfg, value);
	if (rc != 0) {
		snprintf(err, errlen, "%sbad value for %s: '%s' (expected %s)", where, name, value, s->arg);
		return -EINVAL;
	}
	return 0;
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

int lp_config_load_file(struct lp_config *cfg, const char *path, char *err, size_t errlen)
{
	char line[512], where[LP_PATH_MAX + 32];
	unsigned lineno = 0;
	FILE *f = fopen(path, "r");
	int rc = 0;

	if (f == NULL) {
		rc = -errno;
		snprintf(err, errlen, "cannot open config file %s: %s", path, strerror(errno));
		return rc;
	}
	while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		snprintf(where, sizeof(where), "%s:%u: ", path, lineno);
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(err, errlen, "%sline too long", where);
			rc = -EINVAL;
			break;
		}
		char *hash = strchr(line, '#');

		if (hash != NULL)
			*hash = '\0';
		char *key = trim(line);

		if (*key == '\0')
			continue;
		char *eq = strchr(key, '=');

		if (eq == NULL) {
			snprintf(err, errlen, "%sexpected 'key = value'", where);
			rc = -EINVAL;
			break;
		}
		*eq = '\0';
		rc = apply(cfg, trim(key), trim(eq + 1), where, err, errlen);
	}
	fclose(f);
	return rc;
}

void lp_config_usage(const char *prog)
{
	printf("usage: %s [EAL options] -- [options]\n\noptions:\n", prog);
	printf("  --config PATH  read settings from PATH (key = value; keys as below)\n");
	for (size_t i = 0; i < N_SETTINGS; i++)
		printf("  --%s %s\n      %s\n", settings[i].name, settings[i].arg, settings[i].help);
	printf("  --help         this text\n");
}

int lp_config_parse_args(struct lp_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
	struct option longopts[N_SETTINGS + 3];
	const char *config_file = NULL;
	int opt, idx, rc;

	for (size_t i = 0; i < N_SETTINGS; i++)
		longopts[i] = (struct option){settings[i].name, required_argument, NULL, 0};
	longopts[N_SETTINGS] = (struct option){"config", required_argument, NULL, 'c'};
	longopts[N_SETTINGS + 1] = (struct option){"help", no_argument, NULL, 'h'};
	longopts[N_SETTINGS + 2] = (struct option){NULL, 0, NULL, 0};

	/* First pass: only --config and --help, so the file is the base layer. */
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", longopts, &idx)) != -1) {
		if (opt == 'h') {
			lp_config_usage(argv[0]);
			return 1;
		}
		if (opt == 'c')
			config_file = optarg;
		if (opt == '?') {
			snprintf(err, errlen, "unknown or incomplete option '%s'", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	if (config_file != NULL) {
		rc = lp_config_load_file(cfg, config_file, err, errlen);
		if (rc != 0)
			return rc;
	}
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", longopts, &idx)) != -1) {
		if (opt != 0)
			continue;
		rc = apply(cfg, longopts[idx].name, optarg, "", err, errlen);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int lp_config_validate(const struct lp_config *cfg, char *err, size_t errlen)
{
	if (cfg->port[0] == '\0') {
		snprintf(err, errlen, "no port: give --port SPEC (e.g. --port af_packet:lepus0)");
		return -EINVAL;
	}
	if (cfg->ip == 0) {
		snprintf(err, errlen, "no address: give --ip A.B.C.D/LEN (e.g. --ip 198.18.0.1/24)");
		return -EINVAL;
	}
	if (cfg->gateway != 0 && ((cfg->gateway ^ cfg->ip) & cfg->netmask) != 0) {
		snprintf(err, errlen, "gateway is not inside the --ip subnet");
		return -EINVAL;
	}
	return 0;
}
