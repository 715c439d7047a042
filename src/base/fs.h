/* File system helpers used by the store, the unpacker and the runtime. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/error.h"

/* Write `len` bytes to dirfd/name atomically: a temporary name in the same
 * directory, fsync, rename over name, fsync of the directory. A crash leaves
 * either the old file or the new one, never a torn file. */
int rk_write_file_atomic(int dirfd, const char *name, const void *data,
                         size_t len, mode_t mode, rk_error **err);
/* Read a whole file (at most max_len bytes; 0 means 64 MiB) into a NUL
 * terminated buffer. */
int rk_read_file_at(int dirfd, const char *path, size_t max_len, char **ret,
                    size_t *ret_len, rk_error **err);
/* Write all of buf to fd, retrying on EINTR and short writes. */
int rk_write_all(int fd, const void *buf, size_t len);
/* mkdir -p; existing directories are fine. */
int rk_mkdir_p(const char *path, mode_t mode, rk_error **err);
/* Remove dirfd/name and everything below it. Never follows symlinks and
 * never crosses into another file system (a mount point inside is an
 * error, so a stray bind mount can never make us delete host data). A
 * missing name is not an error. */
int rk_rm_rf_at(int dirfd, const char *name, rk_error **err);
int rk_rm_rf(const char *path, rk_error **err);
int rk_fsync_dir_at(int dirfd, const char *path);
bool rk_path_exists_at(int dirfd, const char *path);
/* a + "/" + b, with no doubled slash. */
char *rk_path_join(const char *a, const char *b);

/* flock(2) on dirfd/name (created if needed). `op` is LOCK_SH or LOCK_EX,
 * optionally | LOCK_NB. Returns the fd holding the lock; -1 with
 * *err set on failure; with LOCK_NB and the lock held elsewhere, returns -2
 * without setting *err. */
int rk_lock_at(int dirfd, const char *name, int op, rk_error **err);

/* A random lowercase hex string of 2*nbytes digits. */
void rk_random_hex(char *out, size_t nbytes);

/* Mark every descriptor >= lowfd close-on-exec: close_range() with
 * CLOSE_RANGE_CLOEXEC (Linux 5.11), else one fcntl() per open descriptor
 * from /proc/self/fd, else up to RLIMIT_NOFILE. `fast` false skips the
 * syscall (tests). */
void rk_cloexec_from(int lowfd, bool fast);
