/* SPDX-License-Identifier: MIT */
/*
 * Segment files of a shard's journal directory: their names (<id>.seg, ten
 * decimal digits, so that ls sorts them in log order), creation (preallocated
 * with fallocate), listing and deletion. Blocking file system calls: start-up,
 * segment roll-over and deletion only.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define LP_SEG_NAME_MAX 16

/* "<id>.seg" into name (LP_SEG_NAME_MAX octets). */
void lp_seg_name(char *name, uint32_t id);

/* Creates segment id in dirfd (O_EXCL), preallocated to bytes. Returns its fd
 * (read-write) or -errno (the file is removed again on failure). */
int lp_seg_create(int dirfd, uint32_t id, uint64_t bytes);

/* Opens existing segment id read-only. Returns its fd or -errno. */
int lp_seg_open(int dirfd, uint32_t id);

/* Removes segment id. Returns 0 or -errno. */
int lp_seg_unlink(int dirfd, uint32_t id);

/* The ids of the segment files in dirfd, ascending, into a malloc'd array
 * (*ids, free() it; NULL when *n == 0). Other names are ignored. Returns 0 or
 * -errno. */
int lp_seg_list(int dirfd, uint32_t **ids, uint32_t *n);

/* Where the file's written data ends (the end of its last data extent: the
 * preallocated, never written rest of a segment reads as zeros and need not be
 * scanned). size is the file's size; returns at most size. */
uint64_t lp_seg_data_end(int fd, uint64_t size);
