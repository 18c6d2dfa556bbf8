/* SPDX-License-Identifier: MIT */
/* dataplane/config.c: options, config files, precedence and validation. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static char err[256];

static int parse(struct lp_config *cfg, int argc, char **argv)
{
	lp_config_defaults(cfg);
	return lp_config_parse_args(cfg, argc, argv, err, sizeof(err));
}

static uint32_t ip(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

static void options_are_applied(void **state)
{
	struct lp_config cfg;
	char *argv[] = {"dp", "--port", "af_packet:lepus0", "--ip", "198.18.0.1/24",
			"--gateway", "198.18.0.254", "--mbufs", "4095",
			"--fault", "drop=0.25,dup=0.5,reorder=0.1,seed=9", "--control", "/tmp/c.sock"};
	(void)state;
	assert_int_equal(parse(&cfg, 13, argv), 0);
	assert_string_equal(cfg.port, "af_packet:lepus0");
	assert_int_equal(cfg.ip, ip("198.18.0.1"));
	assert_int_equal(cfg.netmask, ip("255.255.255.0"));
	assert_int_equal(cfg.gateway, ip("198.18.0.254"));
	assert_int_equal(cfg.n_mbufs, 4095);
	assert_true(cfg.fault.drop == 0.25 && cfg.fault.dup == 0.5 && cfg.fault.reorder == 0.1);
	assert_int_equal(cfg.fault.seed, 9);
	assert_string_equal(cfg.control_socket, "/tmp/c.sock");
	assert_int_equal(lp_config_validate(&cfg, err, sizeof(err)), 0);
}

/* The store's and the alarms' options: defaults (RabbitMQ's 50 MB disk free
 * limit), RabbitMQ's size suffixes, the fault injection forms. */
static void store_and_alarm_options(void **state)
{
	struct lp_config cfg;
	char *none[] = {"dp"};
	char *argv[] = {"dp", "--data-dir", "none", "--disk-free-limit", "2GiB",
			"--memory-high-watermark", "0.5", "--store-fault", "torn-write=7",
			"--store-fault", "fsync-eio=3", "--max-messages", "4096"};
	char *mb[] = {"dp", "--disk-free-limit", "50MB"};
	(void)state;
	assert_int_equal(parse(&cfg, 1, none), 0);
	assert_string_equal(cfg.data_dir, "/var/lib/lepus");
	assert_int_equal(cfg.disk_free_limit, 50000000);
	assert_true(cfg.memory_high_watermark == 0.875);
	assert_int_equal(cfg.store_fault_sync_eio_at, 0);
	assert_int_equal(cfg.store_fault_torn_write_at, 0);
	assert_int_equal(parse(&cfg, 13, argv), 0);
	assert_string_equal(cfg.data_dir, "");
	assert_int_equal(cfg.disk_free_limit, 2ull << 30);
	assert_true(cfg.memory_high_watermark == 0.5);
	assert_int_equal(cfg.store_fault_torn_write_at, 7);
	assert_int_equal(cfg.store_fault_sync_eio_at, 3);
	assert_int_equal(cfg.max_messages, 4096);
	assert_int_equal(parse(&cfg, 3, mb), 0);
	assert_int_equal(cfg.disk_free_limit, 50000000);
}

/* The memory limit: 0.4 of RAM by default (RabbitMQ's
 * vm_memory_high_watermark), a fraction or bytes with RabbitMQ's suffixes;
 * the pool is sized from it unless --max-messages says; --prefault. */
static void memory_limit_options(void **state)
{
	struct lp_config cfg;
	char *none[] = {"dp"};
	char *frac[] = {"dp", "--memory-limit", "0.25", "--prefault", "true"};
	char *abs[] = {"dp", "--memory-limit", "2GiB"};
	(void)state;
	assert_int_equal(parse(&cfg, 1, none), 0);
	assert_true(cfg.memory_limit_fraction == 0.4);
	assert_int_equal(cfg.memory_limit, 0);
	assert_int_equal(cfg.max_messages, 0);
	assert_false(cfg.prefault);
	assert_int_equal(parse(&cfg, 5, frac), 0);
	assert_true(cfg.memory_limit_fraction == 0.25);
	assert_true(cfg.prefault);
	assert_int_equal(parse(&cfg, 3, abs), 0);
	assert_int_equal(cfg.memory_limit, 2ull << 30);
	assert_true(cfg.memory_limit_fraction == 0);
}

static void defaults_need_port_and_address(void **state)
{
	struct lp_config cfg;
	char *argv[] = {"dp"};
	(void)state;
	assert_int_equal(parse(&cfg, 1, argv), 0);
	assert_string_equal(cfg.control_socket, "/run/lepus/control.sock");
	assert_int_equal(lp_config_validate(&cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--port"));
}

static void bad_values_are_refused_with_the_option_named(void **state)
{
	struct lp_config cfg;
	char *bad[][3] = {
		{"dp", "--ip", "198.18.0.1"},        /* no prefix length */
		{"dp", "--ip", "198.18.0.300/24"},
		{"dp", "--ip", "198.18.0.1/33"},
		{"dp", "--mbufs", "12x"},
		{"dp", "--mbufs", "-5"},
		{"dp", "--mtu", "100"},
		{"dp", "--fault", "drop=1.5"},
		{"dp", "--fault", "loss=0.1"},
		{"dp", "--gateway", "nowhere"},
		{"dp", "--disk-free-limit", "50XB"},
		{"dp", "--disk-free-limit", "-1"},
		{"dp", "--memory-high-watermark", "1.5"},
		{"dp", "--memory-high-watermark", "0"},
		{"dp", "--memory-limit", "1.5"},
		{"dp", "--memory-limit", "1MB"},   /* under 64 MiB */
		{"dp", "--memory-limit", "0.0"},
		{"dp", "--prefault", "yes"},
		{"dp", "--store-fault", "fsync-eio=0"},
		{"dp", "--store-fault", "bitflip=3"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(&cfg, 3, bad[i]), -EINVAL);
		assert_non_null(strstr(err, bad[i][1] + 2));
	}
}

static void unknown_option_is_refused(void **state)
{
	struct lp_config cfg;
	char *argv[] = {"dp", "--frobnicate", "1"};
	(void)state;
	assert_int_equal(parse(&cfg, 3, argv), -EINVAL);
	assert_non_null(strstr(err, "frobnicate"));
}

static void gateway_must_be_on_link(void **state)
{
	struct lp_config cfg;
	char *argv[] = {"dp", "--port", "ring:x", "--ip", "198.18.0.1/24", "--gateway", "198.19.0.1"};
	(void)state;
	assert_int_equal(parse(&cfg, 7, argv), 0);
	assert_int_equal(lp_config_validate(&cfg, err, sizeof(err)), -EINVAL);
}

static char *write_file(const char *text)
{
	static char path[] = "/tmp/lepus-config-XXXXXX";
	int fd;

	strcpy(path, "/tmp/lepus-config-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void file_is_read_and_options_override_it(void **state)
{
	struct lp_config cfg;
	char *path = write_file("# demo\n  port = af_packet:veth9  \nip=198.18.1.1/16 # ours\n\nmbufs = 2047\n");
	char *argv[] = {"dp", "--mbufs", "8191", "--config", path};
	(void)state;
	assert_int_equal(parse(&cfg, 5, argv), 0);
	unlink(path);
	assert_string_equal(cfg.port, "af_packet:veth9");
	assert_int_equal(cfg.ip, ip("198.18.1.1"));
	assert_int_equal(cfg.netmask, ip("255.255.0.0"));
	assert_int_equal(cfg.n_mbufs, 8191); /* the option wins though it came first */
}

static void file_errors_name_the_line(void **state)
{
	struct lp_config cfg;
	char *path = write_file("port = ring:a\nthis line has no equals sign\n");
	char *argv[] = {"dp", "--config", path};
	(void)state;
	assert_int_equal(parse(&cfg, 3, argv), -EINVAL);
	unlink(path);
	assert_non_null(strstr(err, ":2:"));
}

static void missing_file_is_an_error(void **state)
{
	struct lp_config cfg;
	char *argv[] = {"dp", "--config", "/nonexistent/lepus.conf"};
	(void)state;
	assert_int_equal(parse(&cfg, 3, argv), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(options_are_applied),
		cmocka_unit_test(defaults_need_port_and_address),
		cmocka_unit_test(store_and_alarm_options),
		cmocka_unit_test(memory_limit_options),
		cmocka_unit_test(bad_values_are_refused_with_the_option_named),
		cmocka_unit_test(unknown_option_is_refused),
		cmocka_unit_test(gateway_must_be_on_link),
		cmocka_unit_test(file_is_read_and_options_override_it),
		cmocka_unit_test(file_errors_name_the_line),
		cmocka_unit_test(missing_file_is_an_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
