/* SPDX-License-Identifier: MIT */
/*
 * The disk free alarm's measurement (RabbitMQ's disk_free_limit): the octets
 * an unprivileged writer may still use on the file system of the data
 * directory. The main lcore calls it about once a second (a statvfs(2), no
 * I/O on the journal); the workers only read the alarm bit it leads to.
 */
#include <errno.h>
#include <sys/statvfs.h>

#include "lp_store.h"

int lp_store_disk_free(const char *dir, uint64_t *free_bytes)
{
	struct statvfs st;

	if (statvfs(dir, &st) != 0)
		return -errno;
	*free_bytes = (uint64_t)st.f_bavail * (uint64_t)st.f_frsize;
	return 0;
}
