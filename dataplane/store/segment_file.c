/* SPDX-License-Identifier: MIT */
/*
 * Segment files (segment_file.h): names, creation, listing, deletion of the files
 * of one shard's journal directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "segment_file.h"

void lp_seg_name(char *name, uint32_t id)
{
	snprintf(name, LP_SEG_NAME_MAX, "%010u.seg", id);
}

int lp_seg_create(int dirfd, uint32_t id, uint64_t bytes)
{
	char name[LP_SEG_NAME_MAX];
	int fd, err;

	lp_seg_name(name, id);
	fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	err = posix_fallocate(fd, 0, (off_t)bytes);
	if (err != 0) {
		close(fd);
		unlinkat(dirfd, name, 0);
		return -err;
	}
	return fd;
}

int lp_seg_open(int dirfd, uint32_t id)
{
	char name[LP_SEG_NAME_MAX];
	int fd;

	lp_seg_name(name, id);
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int lp_seg_unlink(int dirfd, uint32_t id)
{
	char name[LP_SEG_NAME_MAX];

	lp_seg_name(name, id);
	return unlinkat(dirfd, name, 0) < 0 ? -errno : 0;
}

/* "<10 digits>.seg" exactly: its id, or -1. */
static int64_t parse_name(const char *name)
{
	uint64_t id = 0;

	if (strlen(name) != 14 || strcmp(name + 10, ".seg") != 0)
		return -1;
	for (int i = 0; i < 10; i++) {
		if (name[i] < '0' || name[i] > '9')
			return -1;
		id = id * 10 + (uint64_t)(name[i] - '0');
	}
	return id <= UINT32_MAX ? (int64_t)id : -1;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

int lp_seg_list(int dirfd, uint32_t **ids, uint32_t *n)
{
	uint32_t *v = NULL, cap = 0, len = 0;
	struct dirent *de;
	DIR *d;
	int fd;

	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (d == NULL) {
		int err = errno;

		close(fd);
		return -err;
	}
	while ((de = readdir(d)) != NULL) {
		int64_t id = parse_name(de->d_name);

		if (id < 0)
			continue;
		if (len == cap) {
			uint32_t ncap = cap ? cap * 2 : 64;
			uint32_t *nv = realloc(v, ncap * sizeof(*v));

			if (nv == NULL) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = nv;
			cap = ncap;
		}
		v[len++] = (uint32_t)id;
	}
	closedir(d);
	if (len > 0)
		qsort(v, len, sizeof(*v), cmp_u32);
	*ids = v;
	*n = len;
	return 0;
}

uint64_t lp_seg_data_end(int fd, uint64_t size)
{
	uint64_t end = 0;
	off_t off = 0;

	for (;;) {
		off_t d = lseek(fd, off, SEEK_DATA);
		off_t h;

		if (d < 0)
			break;
		h = lseek(fd, d, SEEK_HOLE);
		if (h < 0)
			return size;
		end = (uint64_t)h;
		off = h;
	}
	if (off == 0 && end == 0 && errno != ENXIO)
		return size; /* SEEK_DATA unsupported: scan everything */
	return end < size ? end : size;
}
