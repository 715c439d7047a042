#include "base/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"

void rk_random_hex(char *out, size_t nbytes)
{
    unsigned char b[64];
    static const char hex[] = "0123456789abcdef";
    if (nbytes > sizeof(b))
        nbytes = sizeof(b);
    size_t got = 0;
    while (got < nbytes) {
        ssize_t n = getrandom(b + got, nbytes - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            /* getrandom cannot really fail on a booted kernel; fall back to
             * something unique enough for temporary names. */
            for (size_t i = got; i < nbytes; i++)
                b[i] = (unsigned char)(rand() ^ getpid() ^ (int)i);
            break;
        }
        got += (size_t)n;
    }
    for (size_t i = 0; i < nbytes; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[2 * nbytes] = 0;
}

int rk_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int rk_fsync_dir_at(int dirfd, const char *path)
{
    _cleanup_close_ int fd =
        openat(dirfd, path ? path : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    return fsync(fd);
}

int rk_write_file_atomic(int dirfd, const char *name, const void *data,
                         size_t len, mode_t mode, rk_error **err)
{
    char rnd[17];
    rk_random_hex(rnd, 8);
    /* The temporary lives next to the target so rename() stays atomic. */
    const char *slash = strrchr(name, '/');
    _cleanup_free_ char *tmp =
        slash ? rk_xasprintf("%.*s/.tmp-%s-%s", (int)(slash - name), name, rnd,
                             slash + 1)
              : rk_xasprintf(".tmp-%s-%s", rnd, name);
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return rk_error_set(err, errno, "creating %s", tmp);
    if (rk_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
        int e = errno;
        close(fd);
        unlinkat(dirfd, tmp, 0);
        return rk_error_set(err, e, "writing %s", name);
    }
    if (fchmod(fd, mode) < 0) {
        int e = errno;
        close(fd);
        unlinkat(dirfd, tmp, 0);
        return rk_error_set(err, e, "chmod %s", name);
    }
    close(fd);
    if (renameat(dirfd, tmp, dirfd, name) < 0) {
        int e = errno;
        unlinkat(dirfd, tmp, 0);
        return rk_error_set(err, e, "renaming %s into place", name);
    }
    _cleanup_free_ char *dir =
        slash ? rk_xstrndup(name, (size_t)(slash - name)) : rk_xstrdup(".");
    if (rk_fsync_dir_at(dirfd, dir) < 0)
        return rk_error_set(err, errno, "syncing directory of %s", name);
    return 0;
}

int rk_read_file_at(int dirfd, const char *path, size_t max_len, char **ret,
                    size_t *ret_len, rk_error **err)
{
    if (!max_len)
        max_len = 64u << 20;
    _cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rk_error_set(err, errno, "opening %s", path);
    size_t cap = 4096, len = 0;
    _cleanup_free_ char *buf = rk_xmalloc(cap);
    for (;;) {
        if (len + 1 >= cap) {
            if (cap > max_len)
                return rk_error_set(err, EFBIG, "reading %s", path);
            cap *= 2;
            buf = rk_xrealloc(buf, cap);
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return rk_error_set(err, errno, "reading %s", path);
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max_len)
            return rk_error_set(err, EFBIG, "reading %s", path);
    }
    buf[len] = 0;
    if (ret_len)
        *ret_len = len;
    *ret = TAKE_PTR(buf);
    return 0;
}

int rk_mkdir_p(const char *path, mode_t mode, rk_error **err)
{
    _cleanup_free_ char *p = rk_xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        if (mkdir(p, mode) < 0 && errno != EEXIST)
            return rk_error_set(err, errno, "creating directory %s", p);
        *s = '/';
    }
    if (mkdir(p, mode) < 0 && errno != EEXIST)
        return rk_error_set(err, errno, "creating directory %s", p);
    return 0;
}

static int rm_rf_children(int dfd, dev_t dev, const char *what, rk_error **err)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return rk_error_set(err, errno, "opening %s", what);
    }
    _cleanup_closedir_ DIR *dir = d;
    int r = 0;
    struct dirent *de;
    while ((errno = 0, de = readdir(dir))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        struct stat st;
        if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT)
                continue;
            return rk_error_set(err, errno, "stat %s/%s", what, de->d_name);
        }
        if (S_ISDIR(st.st_mode)) {
            if (st.st_dev != dev)
                return rk_error_set(err, EBUSY,
                                    "refusing to remove %s/%s: a mount point",
                                    what, de->d_name);
            int cfd = openat(dirfd(dir), de->d_name,
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (cfd < 0)
                return rk_error_set(err, errno, "opening %s/%s", what,
                                    de->d_name);
            /* A chattr'd or in-use directory makes unlink fail below; the
             * error names it. */
            if (rm_rf_children(cfd, dev, what, err) < 0)
                return -1;
            if (unlinkat(dirfd(dir), de->d_name, AT_REMOVEDIR) < 0 &&
                errno != ENOENT)
                return rk_error_set(err, errno, "removing %s/%s", what,
                                    de->d_name);
        } else if (unlinkat(dirfd(dir), de->d_name, 0) < 0 && errno != ENOENT) {
            return rk_error_set(err, errno, "removing %s/%s", what, de->d_name);
        }
    }
    if (errno)
        return rk_error_set(err, errno, "reading directory %s", what);
    return r;
}

int rk_rm_rf_at(int dirfd, const char *name, rk_error **err)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            return 0;
        return rk_error_set(err, errno, "stat %s", name);
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
            return rk_error_set(err, errno, "removing %s", name);
        return 0;
    }
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return rk_error_set(err, errno, "opening %s", name);
    if (rm_rf_children(fd, st.st_dev, name, err) < 0)
        return -1;
    if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return rk_error_set(err, errno, "removing %s", name);
    return 0;
}

int rk_rm_rf(const char *path, rk_error **err)
{
    return rk_rm_rf_at(AT_FDCWD, path, err);
}

bool rk_path_exists_at(int dirfd, const char *path)
{
    struct stat st;
    return fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

char *rk_path_join(const char *a, const char *b)
{
    size_t la = strlen(a);
    while (la > 1 && a[la - 1] == '/')
        la--;
    while (*b == '/')
        b++;
    if (!*b)
        return rk_xstrndup(a, la);
    return rk_xasprintf("%.*s/%s", (int)la, a, b);
}

int rk_lock_at(int dirfd, const char *name, int op, rk_error **err)
{
    int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return rk_error_set(err, errno, "opening lock %s", name);
    while (flock(fd, op) < 0) {
        if (errno == EINTR)
            continue;
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK && (op & LOCK_NB))
            return -2;
        return rk_error_set(err, e, "locking %s", name);
    }
    return fd;
}

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

void rk_cloexec_from(int lowfd, bool fast)
{
    if (fast && syscall(SYS_close_range, (unsigned)lowfd, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return;
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        int self = dirfd(d);
        struct dirent *de;
        while ((de = readdir(d))) {
            char *end;
            long fd = strtol(de->d_name, &end, 10);
            if (*end || end == de->d_name || fd < lowfd || fd == self)
                continue;
            fcntl((int)fd, F_SETFD, fcntl((int)fd, F_GETFD) | FD_CLOEXEC);
        }
        closedir(d);
        return;
    }
    struct rlimit rl;
    long max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                   ? (long)rl.rlim_cur
                   : 65536;
    for (long fd = lowfd; fd < max; fd++) {
        int fl = fcntl((int)fd, F_GETFD);
        if (fl >= 0)
            fcntl((int)fd, F_SETFD, fl | FD_CLOEXEC);
    }
}
