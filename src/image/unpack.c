/* Streaming layer extraction: inflate on the feeding thread; hash, parse
 * the tar and write on an extraction thread; a bounded buffer between.
 *
 * Where the time goes (2-core AMD EPYC with SHA-NI, tmpfs; Debian bookworm
 * with systemd from mmdebstrap, gzip -6: 69 MB gzip, 191 MB tar, 8437
 * entries), CPU seconds per thread:
 *   ISA-L inflate                              0.33
 *   sha256 of the tar (OpenSSL, SHA-NI)        0.12
 *   libarchive + syscalls + tmpfs page writes  0.25  (libarchive ~2%)
 * Hashing on the feeder made it 0.47 s against the extractor's 0.25 s, so
 * the extractor hashes (in next_chunk): 0.34 s against 0.37 s, and the wall
 * time follows the slower side. bench/bench_unpack, fed in 16 KiB pieces as
 * libcurl delivers, median of 9 interleaved runs on a machine shared with
 * other builds (so noisy; best run in brackets):
 *   rk_unpack             0.54 s (0.45)   7.2 MiB peak RSS, whole process
 *   igzip -dc | tar -x    0.82 s (0.72)
 *   tar -xzf              1.41 s (1.29)
 * zstd (-3, 60 MB): 0.46 s against 0.54 s for zstd -dc | tar -x. Four
 * layers at once: 11 MiB peak RSS (zstd: 21 MiB, the decoders' windows).
 *
 * The buffer is a ring of n_chunks chunks. The feeder inflates straight into
 * the chunk it owns and hands it on when full; the extractor hashes each
 * chunk and hands it to libarchive, which may keep pointers into it
 * (archive_read_data_block returns file data in place, without a copy)
 * until it asks for the next one. Only then is the chunk given back. After
 * the tar's end the extractor keeps hashing what follows. */
#include "image/unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <isa-l/igzip_lib.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"

/* Buffer size: median wall time (9 interleaved runs) and peak RSS of the
 * process, for the image above:
 *   64 KiB x 4   0.55 s  6.5 MiB     256 KiB x 4  0.53 s  7.3 MiB
 *   64 KiB x 16  0.56 s  7.3 MiB     256 KiB x 8  0.53 s  8.3 MiB
 *   128 KiB x 8  0.57 s  7.2 MiB     1 MiB x 4    0.52 s 10.3 MiB
 *   256 KiB x 2  0.60 s  6.7 MiB     4 MiB x 2    0.55 s 14.4 MiB
 * Two chunks leave no slack; past a few chunks size hardly matters, so
 * 1 MiB in all: a pull unpacks several layers at once. */
#define DEFAULT_CHUNK_SIZE (256 * 1024)
#define DEFAULT_N_CHUNKS 4
#define MAX_BUFFER (64u * 1024 * 1024)

#define RESOLVE_FLAGS                                                          \
    (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)
#define PCACHE_N 8
#define OVERLAY_OPAQUE "trusted.overlay.opaque"

enum gz_phase {
    GZ_MEMBER,   /* inside a gzip member */
    GZ_BETWEEN,  /* a member ended: another one, or the end */
    GZ_TRAILING, /* bytes after the last member: ignored, as gzip -d does */
};

struct pcache_ent {
    char *path; /* cleaned, relative to the root; NULL when free */
    int fd;     /* O_PATH directory fd */
    uint64_t used;
};

struct dir_time {
    char *path; /* "" is the root */
    struct timespec ts[2];
};

struct rk_unpack {
    int root_fd;
    int *lower_fds;
    size_t n_lower;
    bool is_bottom;

    /* The ring, shared; everything below `mu` is guarded by it. */
    unsigned char *mem;
    size_t chunk_size;
    unsigned n_chunks;
    size_t *lens;
    pthread_mutex_t mu;
    pthread_cond_t can_produce;
    pthread_cond_t can_consume;
    unsigned rd;    /* oldest chunk handed on and not given back */
    unsigned avail; /* chunks handed on and not given back */
    bool holding;   /* libarchive holds chunk rd */
    bool eof;       /* feeder: no more chunks will come */
    bool abort;     /* feeder: stop now */
    bool x_done;    /* extractor: finished, touches no chunk any more */
    bool x_failed;
    rk_error *xerr;
    pthread_t thread;
    bool thread_running;

    /* Feeder only. */
    unsigned char *cur; /* chunk being filled: index (rd + avail) % n_chunks */
    size_t cur_len;
    enum rk_unpack_compression comp;
    unsigned char magic[4];
    size_t n_magic;
    struct inflate_state *gz;
    enum gz_phase gz_phase;
    unsigned char gz_peek[2];
    size_t n_gz_peek;
    uint64_t trailing;
    ZSTD_DStream *zs;
    size_t zs_hint; /* last ZSTD_decompressStream result: 0 = frame done */
    rk_sha256 sha;
    bool failed;
    bool finished;
    uint64_t bytes_in;
    uint64_t bytes_tar;

    /* Extractor only. */
    struct archive *ar;
    struct pcache_ent pc[PCACHE_N];
    uint64_t pc_clock;
    struct dir_time *dirs;
    size_t n_dirs;
    size_t cap_dirs;
    uint64_t entries;
    uint64_t x_bytes; /* tar bytes handed to libarchive */
    /* Time each side spent waiting for the other: tells which one is the
     * bottleneck. */
    uint64_t wait_feed_ns; /* feeder only */
    uint64_t wait_x_ns;    /* extractor only */
};

/* ---------------------------------------------------------------------- */
/* Small helpers                                                           */

static int openat2_in(int dfd, const char *path, uint64_t flags)
{
    struct open_how how = {
        .flags = flags | O_CLOEXEC,
        .resolve = RESOLVE_FLAGS,
    };
    for (int tries = 0;; tries++) {
        long r = syscall(SYS_openat2, dfd, path, &how, sizeof(how));
        if (r >= 0)
            return (int)r;
        /* RESOLVE_IN_ROOT answers EAGAIN when a rename raced with the
         * walk; nothing renames inside a layer being unpacked, so a few
         * retries are plenty. */
        if (errno == EINTR || (errno == EAGAIN && tries < 16))
            continue;
        return -1;
    }
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void proc_path(char buf[32], int fd)
{
    snprintf(buf, 32, "/proc/self/fd/%d", fd);
}

/* "a//b/./c/../d" -> "a/b/d"; leading '/' dropped, ".." never climbs above
 * the top. "" is the root itself. */
static char *clean_path(const char *in)
{
    size_t n = strlen(in);
    char *out = rk_xmalloc(n + 1);
    size_t o = 0;
    const char *p = in;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *s = p;
        while (*p && *p != '/')
            p++;
        size_t l = (size_t)(p - s);
        if (l == 1 && s[0] == '.')
            continue;
        if (l == 2 && s[0] == '.' && s[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
            continue;
        }
        if (o)
            out[o++] = '/';
        memcpy(out + o, s, l);
        o += l;
    }
    out[o] = 0;
    return out;
}

static bool is_whiteout_stat(const struct stat *st)
{
    return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

static bool xattr_reserved(const char *name)
{
    return !strncmp(name, "trusted.overlay.", 16) ||
           !strncmp(name, "user.overlay.", 13);
}

/* utimensat on an O_PATH fd (never a symlink: see set_link_times).
 * Kernels without AT_EMPTY_PATH for utimensat go through the /proc magic
 * link, which lands on the inode itself. */
static int utimens_opath(int fd, const struct timespec ts[2])
{
    if (utimensat(fd, "", ts, AT_EMPTY_PATH) == 0)
        return 0;
    if (errno != EINVAL)
        return -1;
    char p[32];
    proc_path(p, fd);
    return utimensat(AT_FDCWD, p, ts, 0);
}

/* For a symlink the fallbacks must not go through a path that a kernel
 * could follow: only the one name in its resolved parent, with
 * AT_SYMLINK_NOFOLLOW. */
static int set_link_times(int fd, int pfd, const char *base,
                          const struct timespec ts[2])
{
    if (utimensat(fd, "", ts, AT_EMPTY_PATH) == 0)
        return 0;
    if (errno != EINVAL)
        return -1;
    return utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW);
}

static void set_error_from_thread(rk_unpack *u, rk_error *e)
{
    pthread_mutex_lock(&u->mu);
    u->x_failed = true;
    u->xerr = e;
    u->x_done = true;
    pthread_cond_broadcast(&u->can_produce);
    pthread_mutex_unlock(&u->mu);
}

/* ---------------------------------------------------------------------- */
/* Extractor: the reading side of the ring                                 */

/* The next chunk from the feeder, after giving back the one libarchive
 * held. Returns its length, 0 at the end, -1 when aborted. The extractor
 * hashes here rather than the feeder: inflating costs the feeder more than
 * parsing and writing cost us, and this evens out the two cores. */
static ssize_t next_chunk(rk_unpack *u, const void **buf)
{
    pthread_mutex_lock(&u->mu);
    if (u->holding) {
        u->holding = false;
        u->rd = (u->rd + 1) % u->n_chunks;
        u->avail--;
        pthread_cond_signal(&u->can_produce);
    }
    if (!u->avail && !u->eof && !u->abort) {
        uint64_t t0 = now_ns();
        while (!u->avail && !u->eof && !u->abort)
            pthread_cond_wait(&u->can_consume, &u->mu);
        u->wait_x_ns += now_ns() - t0;
    }
    if (u->abort) {
        pthread_mutex_unlock(&u->mu);
        return -1;
    }
    if (!u->avail) {
        pthread_mutex_unlock(&u->mu);
        *buf = NULL;
        return 0;
    }
    u->holding = true;
    *buf = u->mem + (size_t)u->rd * u->chunk_size;
    size_t n = u->lens[u->rd];
    pthread_mutex_unlock(&u->mu);
    rk_sha256_update(&u->sha, *buf, n);
    u->x_bytes += n;
    return (ssize_t)n;
}

static la_ssize_t read_cb(struct archive *a, void *data, const void **buf)
{
    ssize_t n = next_chunk(data, buf);
    if (n < 0)
        archive_set_error(a, ECANCELED, "extraction aborted");
    return n;
}

/* After the tar's end: what follows still counts for diff_id. */
static int drain(rk_unpack *u, rk_error **err)
{
    const void *buf;
    ssize_t n;
    uint64_t before = u->x_bytes;
    while ((n = next_chunk(u, &buf)) > 0) {
    }
    if (n < 0)
        return rk_error_set(err, ECANCELED, "extraction aborted");
    if (u->x_bytes > before)
        rk_debug("unpack: %llu bytes after the end of the tar",
                 (unsigned long long)(u->x_bytes - before));
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Extractor: parent directories                                           */

static void pcache_flush(rk_unpack *u, int keep_fd)
{
    for (size_t i = 0; i < PCACHE_N; i++) {
        if (!u->pc[i].path || u->pc[i].fd == keep_fd)
            continue;
        free(u->pc[i].path);
        close(u->pc[i].fd);
        u->pc[i].path = NULL;
        u->pc[i].fd = -1;
    }
}

static void add_dir_time(rk_unpack *u, const char *path,
                         const struct timespec ts[2])
{
    if (ts[0].tv_nsec == UTIME_OMIT && ts[1].tv_nsec == UTIME_OMIT)
        return;
    if (u->n_dirs == u->cap_dirs) {
        u->cap_dirs = u->cap_dirs ? 2 * u->cap_dirs : 256;
        u->dirs = rk_xrealloc(u->dirs, u->cap_dirs * sizeof(*u->dirs));
    }
    u->dirs[u->n_dirs].path = rk_xstrdup(path);
    u->dirs[u->n_dirs].ts[0] = ts[0];
    u->dirs[u->n_dirs].ts[1] = ts[1];
    u->n_dirs++;
}

/* A directory that the tar never listed but needs (a parent, or the home of
 * a whiteout). In the merged view overlayfs shows the topmost directory's
 * attributes, so copy them from the lower layer's directory `lower` when
 * there is one, as a copy-up would; otherwise 0755 root. */
static int implicit_dir_meta(rk_unpack *u, const char *path, int fd,
                             const struct stat *lower, rk_error **err)
{
    struct stat st = {.st_mode = S_IFDIR | 0755, .st_uid = 0, .st_gid = 0};
    if (lower)
        st = *lower;
    /* chown even to root: a setgid parent would hand down its group. */
    if (fchownat(fd, "", st.st_uid, st.st_gid, AT_EMPTY_PATH) < 0)
        return rk_error_set(err, errno, "chown of directory %s", path);
    char p[32];
    proc_path(p, fd);
    if (chmod(p, st.st_mode & 07777) < 0)
        return rk_error_set(err, errno, "chmod of directory %s", path);
    if (lower) {
        struct timespec ts[2] = {st.st_atim, st.st_mtim};
        add_dir_time(u, path, ts);
    }
    return 0;
}

/* The topmost lower layer's entry at `path` (a resolved path), as an O_PATH
 * fd with its stat; -1 when none has one or a whiteout hides it. */
static int lower_entry(rk_unpack *u, const char *path, struct stat *st)
{
    for (size_t i = 0; i < u->n_lower; i++) {
        int fd = openat2_in(u->lower_fds[i], path, O_PATH | O_NOFOLLOW);
        if (fd < 0)
            continue;
        if (fstat(fd, st) < 0 || is_whiteout_stat(st)) {
            close(fd);
            return -1;
        }
        return fd;
    }
    return -1;
}

/* Where following the symlink `lfd`, found at resolved path done/comp,
 * leads, with `rest` still to walk: a new path from the top. */
static char *follow_link(int lfd, const char *done, const char *rest,
                         rk_error **err)
{
    char target[PATH_MAX];
    ssize_t n = readlinkat(lfd, "", target, sizeof(target) - 1);
    if (n < 0) {
        rk_error_set(err, errno, "reading symlink");
        return NULL;
    }
    target[n] = 0;
    _cleanup_free_ char *joined =
        target[0] == '/' ? rk_xasprintf("%s/%s", target, rest)
                         : rk_xasprintf("%s/%s/%s", done, target, rest);
    return clean_path(joined);
}

/* Resolve (creating what is missing) the directory `path` inside the root.
 * Returns a new O_PATH fd.
 *
 * Fast path: openat2 with RESOLVE_IN_ROOT finds it in this layer. Else walk
 * it a component at a time as the merged view (this layer over the lower
 * ones) would, creating the missing directories in this layer. A symlink
 * met on the way, in this layer or a lower one, is followed inside the
 * root: absolute targets from the top, relative ones from the link's
 * directory (lexically, on the already resolved path, which holds no
 * symlinks), and the walk starts over on the new path. So "bin/foo" over a
 * lower layer's usrmerge link bin -> usr/bin lands in usr/bin/foo, instead
 * of a new bin directory that would hide the whole lower /bin. Every step is
 * one name opened with O_NOFOLLOW below a directory fd of this layer.
 *
 * With !create, a directory missing from this layer is not made: returns
 * -2 without an error. */
static int resolve_dir(rk_unpack *u, const char *path, bool create,
                       rk_error **err)
{
    int fd = openat2_in(u->root_fd, path, O_PATH | O_DIRECTORY);
    if (fd >= 0)
        return fd;
    if (errno != ENOENT)
        return rk_error_set(err, errno, "resolving directory %s", path);

    _cleanup_free_ char *todo = rk_xstrdup(path);
    _cleanup_free_ char *done = rk_xstrdup("");
    _cleanup_close_ int cur = fcntl(u->root_fd, F_DUPFD_CLOEXEC, 3);
    if (cur < 0)
        return rk_error_set(err, errno, "dup");
    const char *rest = todo;
    int hops = 0;
    while (*rest) {
        const char *slash = strchr(rest, '/');
        size_t len = slash ? (size_t)(slash - rest) : strlen(rest);
        _cleanup_free_ char *comp = rk_xstrndup(rest, len);
        const char *after = slash ? slash + 1 : rest + len;
        _cleanup_free_ char *cand =
            *done ? rk_xasprintf("%s/%s", done, comp) : rk_xstrdup(comp);
        struct stat st;
        _cleanup_close_ int lfd = -1; /* a symlink to follow */
        int next = openat(cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (next >= 0) {
            if (fstat(next, &st) < 0) {
                close(next);
                return rk_error_set(err, errno, "stat %s", cand);
            }
            if (S_ISLNK(st.st_mode)) {
                lfd = next;
            } else if (!S_ISDIR(st.st_mode)) {
                close(next);
                return rk_error_set(err, ENOTDIR, "resolving directory %s",
                                    cand);
            }
        } else if (errno != ENOENT) {
            return rk_error_set(err, errno, "resolving directory %s", cand);
        } else {
            int low = lower_entry(u, cand, &st);
            if (low >= 0 && S_ISLNK(st.st_mode)) {
                lfd = low;
            } else {
                bool dir = low >= 0 && S_ISDIR(st.st_mode);
                if (low >= 0)
                    close(low);
                if (!create)
                    return -2;
                if (mkdirat(cur, comp, 0700) < 0)
                    return rk_error_set(err, errno, "creating directory %s",
                                        cand);
                next = openat(cur, comp,
                              O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (next < 0)
                    return rk_error_set(err, errno, "opening directory %s",
                                        cand);
                if (implicit_dir_meta(u, cand, next, dir ? &st : NULL, err) <
                    0) {
                    close(next);
                    return -1;
                }
            }
        }
        if (lfd >= 0) {
            if (++hops > 40)
                return rk_error_set(err, ELOOP, "resolving directory %s", path);
            char *np = follow_link(lfd, done, after, err);
            if (!np)
                return rk_error_wrap(err, "resolving directory %s", cand);
            free(todo);
            todo = np;
            free(done);
            done = rk_xstrdup("");
            close(cur);
            cur = fcntl(u->root_fd, F_DUPFD_CLOEXEC, 3);
            if (cur < 0)
                return rk_error_set(err, errno, "dup");
            rest = todo;
            continue;
        }
        close(cur);
        cur = next;
        free(done);
        done = TAKE_PTR(cand);
        rest = after;
    }
    return TAKE_FD(cur);
}

/* Borrowed fd of directory `path` ("" is the root). Tar archives list a
 * directory's entries together, so a handful of cached parents saves
 * almost every resolution. */
static int parent_fd(rk_unpack *u, const char *path, rk_error **err)
{
    if (!*path)
        return u->root_fd;
    size_t victim = 0;
    for (size_t i = 0; i < PCACHE_N; i++) {
        if (u->pc[i].path && !strcmp(u->pc[i].path, path)) {
            u->pc[i].used = ++u->pc_clock;
            return u->pc[i].fd;
        }
        if (!u->pc[i].path)
            victim = i;
        else if (u->pc[victim].path && u->pc[i].used < u->pc[victim].used)
            victim = i;
    }
    int fd = resolve_dir(u, path, true, err);
    if (fd < 0)
        return -1;
    struct pcache_ent *e = &u->pc[victim];
    if (e->path) {
        free(e->path);
        close(e->fd);
    }
    e->path = rk_xstrdup(path);
    e->fd = fd;
    e->used = ++u->pc_clock;
    return fd;
}

/* Remove what this layer has at pfd/name, so a new entry can take the
 * place. Cached parents may have been below it, or have resolved through
 * it when it was a symlink: drop them all except the parent in use (a
 * directory cannot be below its own child). */
static int remove_existing(rk_unpack *u, int pfd, const char *name,
                           const char *path, rk_error **err)
{
    if (rk_rm_rf_at(pfd, name, err) < 0)
        return rk_error_wrap(err, "replacing %s", path);
    pcache_flush(u, pfd);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Extractor: metadata                                                     */

struct meta {
    uid_t uid;
    gid_t gid;
    mode_t perm;
    struct timespec ts[2];
};

static int entry_meta(struct archive_entry *e, struct meta *m, rk_error **err)
{
    la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
    /* (uid_t)-1 would mean "leave unchanged" to chown. */
    if (uid < 0 || uid >= (la_int64_t)UINT32_MAX || gid < 0 ||
        gid >= (la_int64_t)UINT32_MAX)
        return rk_error_set(err, 0, "invalid owner %lld:%lld", (long long)uid,
                            (long long)gid);
    m->uid = (uid_t)uid;
    m->gid = (gid_t)gid;
    m->perm = archive_entry_perm(e) & 07777;
    if (archive_entry_mtime_is_set(e)) {
        m->ts[1].tv_sec = archive_entry_mtime(e);
        m->ts[1].tv_nsec = archive_entry_mtime_nsec(e);
    } else {
        m->ts[1].tv_sec = 0;
        m->ts[1].tv_nsec = UTIME_OMIT;
    }
    /* ustar has no atime: use mtime, so a layer unpacks the same each
     * time. */
    if (archive_entry_atime_is_set(e)) {
        m->ts[0].tv_sec = archive_entry_atime(e);
        m->ts[0].tv_nsec = archive_entry_atime_nsec(e);
    } else {
        m->ts[0] = m->ts[1];
    }
    return 0;
}

enum fd_kind {
    FD_REAL,  /* a regular file or directory opened for real */
    FD_OPATH, /* an O_PATH fd of a device, fifo */
    FD_LINK,  /* an O_PATH fd of a symlink */
};

/* Where an fd-less xattr call reaches the inode. For a device or fifo, the
 * magic link /proc/self/fd/N itself; for a symlink, its parent's magic link
 * plus the name, with the l*xattr calls, so nothing ever follows it. */
struct target {
    int fd;
    enum fd_kind kind;
    int pfd;          /* FD_LINK only */
    const char *base; /* FD_LINK only */
    char proc[PATH_MAX];
};

static void target_init(struct target *t, int fd, enum fd_kind kind, int pfd,
                        const char *base)
{
    t->fd = fd;
    t->kind = kind;
    t->pfd = pfd;
    t->base = base;
    if (kind == FD_LINK)
        snprintf(t->proc, sizeof(t->proc), "/proc/self/fd/%d/%s", pfd, base);
    else
        proc_path(t->proc, fd);
}

static int target_setxattr(const struct target *t, const char *name,
                           const void *val, size_t size)
{
    switch (t->kind) {
    case FD_REAL:
        return fsetxattr(t->fd, name, val, size, 0);
    case FD_OPATH:
        return setxattr(t->proc, name, val, size, 0);
    default:
        return lsetxattr(t->proc, name, val, size, 0);
    }
}

static int set_xattrs(struct archive_entry *e, const struct target *t,
                      rk_error **err)
{
    if (archive_entry_xattr_reset(e) == 0)
        return 0;
    const char *name;
    const void *val;
    size_t size;
    while (archive_entry_xattr_next(e, &name, &val, &size) == ARCHIVE_OK) {
        if (!name || !*name || xattr_reserved(name))
            continue;
        if (target_setxattr(t, name, val, size) == 0)
            continue;
        /* Like tar: a file system without this namespace is not fatal;
         * user.* cannot exist on symlinks and device nodes. */
        if (errno == EOPNOTSUPP || (errno == EPERM && t->kind != FD_REAL &&
                                    !strncmp(name, "user.", 5))) {
            rk_debug("unpack: xattr %s not supported here, skipped", name);
            continue;
        }
        return rk_error_set(err, errno, "setting xattr %s", name);
    }
    return 0;
}

/* chown, then xattrs (chown drops security.capability), then chmod (chown
 * drops setuid/setgid; a posix ACL xattr rewrites the group bits), then
 * times unless deferred (directories). */
static int apply_meta(struct archive_entry *e, const struct meta *m,
                      const struct target *t, bool times, rk_error **err)
{
    int fd = t->fd;
    enum fd_kind kind = t->kind;
    int r = kind == FD_REAL ? fchown(fd, m->uid, m->gid)
                            : fchownat(fd, "", m->uid, m->gid, AT_EMPTY_PATH);
    if (r < 0)
        return rk_error_set(err, errno, "chown %u:%u", m->uid, m->gid);
    if (set_xattrs(e, t, err) < 0)
        return -1;
    if (kind == FD_REAL) {
        if (fchmod(fd, m->perm) < 0)
            return rk_error_set(err, errno, "chmod %04o", m->perm);
    } else if (kind == FD_OPATH) {
        if (chmod(t->proc, m->perm) < 0)
            return rk_error_set(err, errno, "chmod %04o", m->perm);
    }
    if (times) {
        r = kind == FD_REAL    ? futimens(fd, m->ts)
            : kind == FD_OPATH ? utimens_opath(fd, m->ts)
                               : set_link_times(fd, t->pfd, t->base, m->ts);
        if (r < 0)
            return rk_error_set(err, errno, "setting times");
    }
    return 0;
}

static int set_opaque(int fd, bool opath, const char *path, rk_error **err)
{
    int r;
    if (opath) {
        char p[32];
        proc_path(p, fd);
        r = setxattr(p, OVERLAY_OPAQUE, "y", 1, 0);
    } else {
        r = fsetxattr(fd, OVERLAY_OPAQUE, "y", 1, 0);
    }
    if (r < 0)
        return rk_error_set(err, errno, "marking %s opaque (%s)",
                            *path ? path : "/", OVERLAY_OPAQUE);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Extractor: entry types                                                  */

static int write_data(rk_unpack *u, int fd, la_int64_t size, rk_error **err)
{
    la_int64_t pos = 0;
    for (;;) {
        const void *buf;
        size_t len;
        la_int64_t off;
        int r = archive_read_data_block(u->ar, &buf, &len, &off);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN)
            return rk_error_set(err, 0, "reading file data: %s",
                                archive_error_string(u->ar));
        if (off != pos && lseek(fd, off, SEEK_SET) < 0)
            return rk_error_set(err, errno, "seeking");
        if (rk_write_all(fd, buf, len) < 0)
            return rk_error_set(err, errno, "writing");
        pos = off + (la_int64_t)len;
    }
    /* A sparse file may end in a hole. */
    if (pos < size && ftruncate(fd, size) < 0)
        return rk_error_set(err, errno, "extending to %lld bytes",
                            (long long)size);
    return 0;
}

static int create_file(rk_unpack *u, struct archive_entry *e,
                       const struct meta *m, int pfd, const char *base,
                       const char *path, rk_error **err)
{
    const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    _cleanup_close_ int fd = openat(pfd, base, flags, 0600);
    if (fd < 0 && errno == EEXIST) {
        if (remove_existing(u, pfd, base, path, err) < 0)
            return -1;
        fd = openat(pfd, base, flags, 0600);
    }
    if (fd < 0)
        return rk_error_set(err, errno, "creating file");
    if (write_data(u, fd, archive_entry_size(e), err) < 0)
        return -1;
    struct target t;
    target_init(&t, fd, FD_REAL, -1, NULL);
    return apply_meta(e, m, &t, true, err);
}

static int create_dir(rk_unpack *u, struct archive_entry *e,
                      const struct meta *m, int pfd, const char *base,
                      const char *path, rk_error **err)
{
    bool over_whiteout = false;
    if (mkdirat(pfd, base, 0700) < 0) {
        struct stat st;
        if (errno != EEXIST)
            return rk_error_set(err, errno, "creating directory");
        if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return rk_error_set(err, errno, "stat");
        if (!S_ISDIR(st.st_mode)) {
            over_whiteout = is_whiteout_stat(&st);
            if (remove_existing(u, pfd, base, path, err) < 0)
                return -1;
            if (mkdirat(pfd, base, 0700) < 0)
                return rk_error_set(err, errno, "creating directory");
        }
    }
    _cleanup_close_ int fd =
        openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return rk_error_set(err, errno, "opening directory");
    /* Whiteout and directory of one name in one layer: the lower directory
     * is gone and this one starts empty. */
    if (over_whiteout && !u->is_bottom && set_opaque(fd, false, path, err) < 0)
        return -1;
    struct target t;
    target_init(&t, fd, FD_REAL, -1, NULL);
    if (apply_meta(e, m, &t, false, err) < 0)
        return -1;
    add_dir_time(u, path, m->ts);
    return 0;
}

static int create_root(rk_unpack *u, struct archive_entry *e,
                       const struct meta *m, rk_error **err)
{
    _cleanup_close_ int fd =
        openat(u->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return rk_error_set(err, errno, "opening the layer root");
    struct target t;
    target_init(&t, fd, FD_REAL, -1, NULL);
    if (apply_meta(e, m, &t, false, err) < 0)
        return -1;
    add_dir_time(u, "", m->ts);
    return 0;
}

static int create_symlink(rk_unpack *u, struct archive_entry *e,
                          const struct meta *m, int pfd, const char *base,
                          const char *path, rk_error **err)
{
    const char *target = archive_entry_symlink(e);
    if (!target)
        target = archive_entry_symlink_utf8(e);
    if (!target || !*target)
        return rk_error_set(err, 0, "symlink without a target");
    if (symlinkat(target, pfd, base) < 0) {
        if (errno != EEXIST)
            return rk_error_set(err, errno, "creating symlink");
        if (remove_existing(u, pfd, base, path, err) < 0)
            return -1;
        if (symlinkat(target, pfd, base) < 0)
            return rk_error_set(err, errno, "creating symlink");
    }
    _cleanup_close_ int fd = openat(pfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return rk_error_set(err, errno, "opening symlink");
    struct target t;
    target_init(&t, fd, FD_LINK, pfd, base);
    return apply_meta(e, m, &t, true, err);
}

static int create_node(rk_unpack *u, struct archive_entry *e,
                       const struct meta *m, mode_t type, int pfd,
                       const char *base, const char *path, rk_error **err)
{
    dev_t dev = type == S_IFIFO ? 0
                                : makedev(archive_entry_rdevmajor(e),
                                          archive_entry_rdevminor(e));
    if (mknodat(pfd, base, type | 0600, dev) < 0) {
        if (errno != EEXIST)
            return rk_error_set(err, errno, "creating node");
        if (remove_existing(u, pfd, base, path, err) < 0)
            return -1;
        if (mknodat(pfd, base, type | 0600, dev) < 0)
            return rk_error_set(err, errno, "creating node");
    }
    _cleanup_close_ int fd = openat(pfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return rk_error_set(err, errno, "opening node");
    struct target t;
    target_init(&t, fd, FD_OPATH, -1, NULL);
    return apply_meta(e, m, &t, true, err);
}

/* ---------------------------------------------------------------------- */
/* Extractor: whiteouts                                                    */

static int handle_whiteout(rk_unpack *u, const char *dir, const char *base,
                           const char *path, rk_error **err)
{
    if (u->is_bottom) {
        rk_debug("unpack: bottom layer, whiteout %s dropped", path);
        return 0;
    }
    if (!strcmp(base, ".wh..wh..opq")) {
        int pfd = parent_fd(u, dir, err);
        if (pfd < 0)
            return -1;
        return set_opaque(pfd, true, dir, err);
    }
    if (!strncmp(base, ".wh..wh.", 8)) {
        rk_debug("unpack: aufs metadata %s dropped", path);
        return 0;
    }
    const char *name = base + 4;
    if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
        return rk_error_set(err, 0, "invalid whiteout name");
    int pfd = parent_fd(u, dir, err);
    if (pfd < 0)
        return -1;
    if (mknodat(pfd, name, S_IFCHR | 0, makedev(0, 0)) == 0)
        return 0;
    if (errno != EEXIST)
        return rk_error_set(err, errno, "creating whiteout %s", name);
    /* The layer already has this name: its own entry wins. A directory of
     * this layer must no longer show the lower one's children. */
    struct stat st;
    if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return rk_error_set(err, errno, "stat %s", name);
    if (!S_ISDIR(st.st_mode))
        return 0;
    _cleanup_close_ int fd =
        openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return rk_error_set(err, errno, "opening %s", name);
    return set_opaque(fd, false, name, err);
}

/* ---------------------------------------------------------------------- */
/* Extractor: hardlinks                                                    */

/* Does layer `lfd` hide the lower layers' `path`? A whiteout, a non
 * directory, or an opaque directory on the way does. */
static int layer_hides(int lfd, const char *path, bool *hides, rk_error **err)
{
    _cleanup_free_ char *buf = rk_xstrdup(path);
    *hides = false;
    for (char *s = strchr(buf, '/'); s; s = strchr(s + 1, '/')) {
        *s = 0;
        _cleanup_close_ int fd = openat2_in(lfd, buf, O_PATH | O_NOFOLLOW);
        if (fd < 0) {
            if (errno == ENOENT)
                return 0;
            return rk_error_set(err, errno, "resolving %s", buf);
        }
        struct stat st;
        if (fstat(fd, &st) < 0)
            return rk_error_set(err, errno, "stat %s", buf);
        if (!S_ISDIR(st.st_mode)) {
            *hides = true;
            return 0;
        }
        char p[32], v[2];
        proc_path(p, fd);
        ssize_t n = getxattr(p, OVERLAY_OPAQUE, v, sizeof(v));
        if (n == 1 && v[0] == 'y') {
            *hides = true;
            return 0;
        }
        *s = '/';
    }
    return 0;
}

/* Find what `path` names in the merged view of this layer and the lower
 * ones. Returns an O_PATH fd and the index of the layer (0 = this one, i+1
 * = lower_fds[i]), or -1 with *idx = -1 when it is nowhere. */
static int find_merged(rk_unpack *u, const char *path, int *idx, rk_error **err)
{
    *idx = -1;
    for (size_t i = 0; i <= u->n_lower; i++) {
        int lfd = i == 0 ? u->root_fd : u->lower_fds[i - 1];
        int fd = openat2_in(lfd, path, O_PATH | O_NOFOLLOW);
        if (fd >= 0) {
            struct stat st;
            if (fstat(fd, &st) < 0) {
                close(fd);
                return rk_error_set(err, errno, "stat %s", path);
            }
            if (is_whiteout_stat(&st) && (i > 0 || !u->is_bottom)) {
                close(fd);
                return -1; /* deleted */
            }
            *idx = (int)i;
            return fd;
        }
        if (errno != ENOENT && errno != ENOTDIR)
            return rk_error_set(err, errno, "resolving %s", path);
        bool hides;
        if (layer_hides(lfd, path, &hides, err) < 0)
            return -1;
        if (hides)
            return -1;
    }
    return -1;
}

static int copy_data(int src, int dst, rk_error **err)
{
    for (;;) {
        ssize_t n = copy_file_range(src, NULL, dst, NULL, 1 << 30, 0);
        if (n == 0)
            return 0;
        if (n > 0)
            continue;
        if (errno == EINTR)
            continue;
        if (errno != EXDEV && errno != EINVAL && errno != ENOSYS &&
            errno != EOPNOTSUPP)
            return rk_error_set(err, errno, "copying data");
        break;
    }
    /* copy_file_range refused (old kernel, other file system): plain
     * read/write from where it stopped. */
    char buf[64 * 1024];
    for (;;) {
        ssize_t n = read(src, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return rk_error_set(err, errno, "reading");
        if (n == 0)
            return 0;
        if (rk_write_all(dst, buf, (size_t)n) < 0)
            return rk_error_set(err, errno, "writing");
    }
}

static int copy_xattrs(int src, int dst, rk_error **err)
{
    char sp[32], dp[32];
    proc_path(sp, src);
    proc_path(dp, dst);
    ssize_t n = listxattr(sp, NULL, 0);
    if (n <= 0)
        return 0;
    _cleanup_free_ char *names = rk_xmalloc((size_t)n);
    n = listxattr(sp, names, (size_t)n);
    if (n < 0)
        return rk_error_set(err, errno, "listing xattrs");
    for (char *name = names; name < names + n; name += strlen(name) + 1) {
        if (xattr_reserved(name))
            continue;
        ssize_t vn = getxattr(sp, name, NULL, 0);
        if (vn < 0)
            return rk_error_set(err, errno, "reading xattr %s", name);
        _cleanup_free_ char *val = rk_xmalloc((size_t)vn);
        vn = getxattr(sp, name, val, (size_t)vn);
        if (vn < 0)
            return rk_error_set(err, errno, "reading xattr %s", name);
        if (setxattr(dp, name, val, (size_t)vn, 0) < 0 && errno != EOPNOTSUPP)
            return rk_error_set(err, errno, "setting xattr %s", name);
    }
    return 0;
}

/* Materialize a hardlink whose target lives in a lower layer as a copy of
 * it (see unpack.h for why). */
static int copy_from_lower(rk_unpack *u, int src, const struct stat *st,
                           int pfd, const char *base, const char *path,
                           rk_error **err)
{
    mode_t type = st->st_mode & S_IFMT;
    for (int attempt = 0;; attempt++) {
        int r = 0;
        if (type == S_IFREG) {
            char sp[32];
            proc_path(sp, src);
            _cleanup_close_ int in = open(sp, O_RDONLY | O_CLOEXEC);
            if (in < 0)
                return rk_error_set(err, errno, "opening lower file");
            _cleanup_close_ int out = openat(
                pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                0600);
            if (out >= 0 && copy_data(in, out, err) < 0)
                return -1;
            r = out >= 0 ? 0 : -1;
        } else if (type == S_IFLNK) {
            char target[PATH_MAX + 1];
            ssize_t n = readlinkat(src, "", target, sizeof(target) - 1);
            if (n < 0)
                return rk_error_set(err, errno, "reading lower symlink");
            target[n] = 0;
            r = symlinkat(target, pfd, base);
        } else if (type == S_IFCHR || type == S_IFBLK || type == S_IFIFO) {
            r = mknodat(pfd, base, type | 0600, st->st_rdev);
        } else {
            return rk_error_set(err, 0, "cannot copy a file of type %o", type);
        }
        if (r == 0)
            break;
        if (errno != EEXIST || attempt > 0)
            return rk_error_set(err, errno, "creating copy");
        if (remove_existing(u, pfd, base, path, err) < 0)
            return -1;
    }
    _cleanup_close_ int fd = openat(pfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return rk_error_set(err, errno, "opening copy");
    if (fchownat(fd, "", st->st_uid, st->st_gid, AT_EMPTY_PATH) < 0)
        return rk_error_set(err, errno, "chown of copy");
    struct timespec ts[2] = {st->st_atim, st->st_mtim};
    if (type == S_IFLNK) {
        /* xattrs of a symlink (security.* at most) are not copied: they
         * could only be read through the lower symlink by name. */
        if (set_link_times(fd, pfd, base, ts) < 0)
            return rk_error_set(err, errno, "setting times of copy");
        return 0;
    }
    if (copy_xattrs(src, fd, err) < 0)
        return -1;
    char p[32];
    proc_path(p, fd);
    if (chmod(p, st->st_mode & 07777) < 0)
        return rk_error_set(err, errno, "chmod of copy");
    if (utimens_opath(fd, ts) < 0)
        return rk_error_set(err, errno, "setting times of copy");
    return 0;
}

static int create_hardlink(rk_unpack *u, const char *link, int pfd,
                           const char *base, const char *path, rk_error **err)
{
    _cleanup_free_ char *tpath = clean_path(link);
    if (!*tpath)
        return rk_error_set(err, 0, "hardlink to the layer root");
    int idx = 0;
    _cleanup_close_ int tfd = -1;
    /* First the target as this layer's own entries were placed: its
     * directory resolved like a parent (through lower symlinks too). */
    char *tslash = strrchr(tpath, '/');
    if (tslash) {
        *tslash = 0;
        int dfd = resolve_dir(u, tpath, false, err);
        *tslash = '/';
        if (dfd == -1)
            return -1;
        if (dfd >= 0) {
            tfd = openat(dfd, tslash + 1, O_PATH | O_NOFOLLOW | O_CLOEXEC);
            close(dfd);
        }
        struct stat tst;
        if (tfd >= 0 && !u->is_bottom &&
            (fstat(tfd, &tst) < 0 || is_whiteout_stat(&tst)))
            return rk_error_set(err, ENOENT, "hardlink target %s", tpath);
    }
    if (tfd < 0)
        tfd = find_merged(u, tpath, &idx, err);
    if (tfd < 0) {
        if (err && *err)
            return -1;
        return rk_error_set(err, ENOENT, "hardlink target %s", tpath);
    }
    struct stat st;
    if (fstat(tfd, &st) < 0)
        return rk_error_set(err, errno, "stat %s", tpath);
    if (S_ISDIR(st.st_mode))
        return rk_error_set(err, 0, "hardlink to directory %s refused", tpath);
    if (idx > 0)
        return copy_from_lower(u, tfd, &st, pfd, base, path, err);

    for (int attempt = 0;; attempt++) {
        /* AT_EMPTY_PATH links exactly the inode we resolved; it needs
         * CAP_DAC_READ_SEARCH, else go through /proc (which lands on the
         * inode too, a symlink stays unfollowed). */
        int r = linkat(tfd, "", pfd, base, AT_EMPTY_PATH);
        if (r < 0 && (errno == ENOENT || errno == EPERM)) {
            char p[32];
            proc_path(p, tfd);
            r = linkat(AT_FDCWD, p, pfd, base, AT_SYMLINK_FOLLOW);
        }
        if (r == 0)
            return 0;
        if (errno != EEXIST || attempt > 0)
            return rk_error_set(err, errno, "linking to %s", tpath);
        struct stat cur;
        if (fstatat(pfd, base, &cur, AT_SYMLINK_NOFOLLOW) == 0 &&
            cur.st_dev == st.st_dev && cur.st_ino == st.st_ino)
            return 0; /* already that inode */
        if (remove_existing(u, pfd, base, path, err) < 0)
            return -1;
    }
}

/* ---------------------------------------------------------------------- */
/* Extractor: the loop                                                     */

/* libarchive keeps the raw bytes of a name it cannot convert to the
 * locale's charset (with ARCHIVE_WARN); the UTF-8 form is the fallback. */
static const char *entry_name(struct archive_entry *e)
{
    const char *n = archive_entry_pathname(e);
    return n ? n : archive_entry_pathname_utf8(e);
}

static int handle_entry(rk_unpack *u, struct archive_entry *e, rk_error **err)
{
    const char *raw = entry_name(e);
    if (!raw)
        return rk_error_set(err, 0, "entry without a name");
    _cleanup_free_ char *path = clean_path(raw);
    const char *link = archive_entry_hardlink(e);
    if (!link)
        link = archive_entry_hardlink_utf8(e);
    mode_t type = archive_entry_filetype(e);

    struct meta m;
    if (!link && entry_meta(e, &m, err) < 0)
        return -1;
    if (!*path) {
        if (link || type != AE_IFDIR)
            return rk_error_set(err, 0, "the layer root must be a directory");
        return create_root(u, e, &m, err);
    }
    char *slash = strrchr(path, '/');
    _cleanup_free_ char *dir =
        slash ? rk_xstrndup(path, (size_t)(slash - path)) : rk_xstrdup("");
    const char *base = slash ? slash + 1 : path;

    if (!strncmp(base, ".wh.", 4))
        return handle_whiteout(u, dir, base, path, err);

    int pfd = parent_fd(u, dir, err);
    if (pfd < 0)
        return -1;
    if (link)
        return create_hardlink(u, link, pfd, base, path, err);
    switch (type) {
    case AE_IFREG:
        return create_file(u, e, &m, pfd, base, path, err);
    case AE_IFDIR:
        return create_dir(u, e, &m, pfd, base, path, err);
    case AE_IFLNK:
        return create_symlink(u, e, &m, pfd, base, path, err);
    case AE_IFCHR:
        return create_node(u, e, &m, S_IFCHR, pfd, base, path, err);
    case AE_IFBLK:
        return create_node(u, e, &m, S_IFBLK, pfd, base, path, err);
    case AE_IFIFO:
        return create_node(u, e, &m, S_IFIFO, pfd, base, path, err);
    case AE_IFSOCK:
        rk_debug("unpack: socket %s skipped", path);
        return 0;
    default:
        return rk_error_set(err, 0, "unsupported entry type 0%o", type);
    }
}

static int apply_dir_times(rk_unpack *u, rk_error **err)
{
    for (size_t i = 0; i < u->n_dirs; i++) {
        struct dir_time *d = &u->dirs[i];
        _cleanup_close_ int fd =
            *d->path ? openat2_in(u->root_fd, d->path,
                                  O_PATH | O_DIRECTORY | O_NOFOLLOW)
                     : fcntl(u->root_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0) {
            /* A later entry replaced it by something else. */
            if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
                continue;
            return rk_error_set(err, errno, "opening directory %s", d->path);
        }
        if (utimens_opath(fd, d->ts) < 0)
            return rk_error_set(err, errno, "setting times of directory %s",
                                *d->path ? d->path : "/");
    }
    return 0;
}

static int extract_all(rk_unpack *u, rk_error **err)
{
    u->ar = archive_read_new();
    if (!u->ar)
        return rk_error_set(err, ENOMEM, "archive_read_new");
    /* ustar, pax and GNU tar; no compression filters: the feeder already
     * inflated, and a second layer of compression is not a tar. */
    archive_read_support_format_tar(u->ar);
    if (archive_read_open(u->ar, u, NULL, read_cb, NULL) != ARCHIVE_OK) {
        /* A zero-length stream holds no entries; libarchive only sees
         * that it is no tar it knows. */
        pthread_mutex_lock(&u->mu);
        bool empty = !u->x_bytes && u->eof && !u->abort;
        pthread_mutex_unlock(&u->mu);
        if (empty)
            return drain(u, err);
        return rk_error_set(err, 0, "reading tar: %s",
                            archive_error_string(u->ar));
    }
    for (;;) {
        struct archive_entry *e;
        int r = archive_read_next_header(u->ar, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r == ARCHIVE_WARN) {
            /* e.g. a pax name that is not valid in the C locale: the
             * bytes are kept as they are. */
            rk_debug("unpack: %s", archive_error_string(u->ar));
        } else if (r != ARCHIVE_OK) {
            return rk_error_set(err, 0, "reading tar after %llu entries: %s",
                                (unsigned long long)u->entries,
                                archive_error_string(u->ar));
        }
        if (handle_entry(u, e, err) < 0) {
            const char *name = entry_name(e);
            return rk_error_wrap(err, "extracting \"%.200s\"",
                                 name ? name : "");
        }
        u->entries++;
    }
    if (apply_dir_times(u, err) < 0)
        return -1;
    return drain(u, err);
}

static void *extract_main(void *arg)
{
    rk_unpack *u = arg;
    rk_error *e = NULL;
    int r = extract_all(u, &e);
    if (u->ar) {
        archive_read_free(u->ar);
        u->ar = NULL;
    }
    if (r < 0) {
        if (!e)
            rk_error_set(&e, 0, "extraction failed");
        set_error_from_thread(u, e);
    } else {
        pthread_mutex_lock(&u->mu);
        u->x_done = true;
        pthread_cond_broadcast(&u->can_produce);
        pthread_mutex_unlock(&u->mu);
    }
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* Feeder                                                                  */

static void stop_thread(rk_unpack *u)
{
    if (!u->thread_running)
        return;
    pthread_mutex_lock(&u->mu);
    u->abort = true;
    pthread_cond_broadcast(&u->can_consume);
    pthread_mutex_unlock(&u->mu);
    pthread_join(u->thread, NULL);
    u->thread_running = false;
}

static int take_thread_error(rk_unpack *u, rk_error **err)
{
    if (u->thread_running) {
        pthread_join(u->thread, NULL);
        u->thread_running = false;
    }
    u->failed = true;
    if (err && !*err && u->xerr) {
        *err = u->xerr;
        u->xerr = NULL;
        return -1;
    }
    return rk_error_set(err, 0, "extraction failed");
}

/* Hand the full current chunk to the extractor and wait for a free one. */
static int hand_on(rk_unpack *u, rk_error **err)
{
    pthread_mutex_lock(&u->mu);
    if (!u->x_done) {
        unsigned wr = (u->rd + u->avail) % u->n_chunks;
        u->lens[wr] = u->cur_len;
        u->avail++;
        pthread_cond_signal(&u->can_consume);
        if (u->avail == u->n_chunks && !u->x_done) {
            uint64_t t0 = now_ns();
            while (u->avail == u->n_chunks && !u->x_done)
                pthread_cond_wait(&u->can_produce, &u->mu);
            u->wait_feed_ns += now_ns() - t0;
        }
        if (!u->x_done)
            u->cur = u->mem +
                     (size_t)((u->rd + u->avail) % u->n_chunks) * u->chunk_size;
    }
    /* The extractor only stops early when it failed. */
    bool failed = u->x_failed;
    pthread_mutex_unlock(&u->mu);
    u->cur_len = 0;
    if (failed)
        return take_thread_error(u, err);
    return 0;
}

static int out_room(rk_unpack *u, unsigned char **p, size_t *room,
                    rk_error **err)
{
    if (u->cur_len == u->chunk_size && hand_on(u, err) < 0)
        return -1;
    *p = u->cur + u->cur_len;
    *room = u->chunk_size - u->cur_len;
    return 0;
}

static void produced(rk_unpack *u, size_t n)
{
    if (!n)
        return;
    u->cur_len += n;
    u->bytes_tar += n;
}

static int plain_process(rk_unpack *u, const unsigned char *p, size_t len,
                         rk_error **err)
{
    while (len) {
        unsigned char *o;
        size_t room;
        if (out_room(u, &o, &room, err) < 0)
            return -1;
        size_t n = len < room ? len : room;
        memcpy(o, p, n);
        produced(u, n);
        p += n;
        len -= n;
    }
    return 0;
}

static const char *isal_error_name(int r)
{
    switch (r) {
    case ISAL_INVALID_BLOCK:
        return "invalid deflate block";
    case ISAL_INVALID_SYMBOL:
        return "invalid deflate symbol";
    case ISAL_INVALID_LOOKBACK:
        return "invalid lookback distance";
    case ISAL_INVALID_WRAPPER:
        return "invalid gzip header";
    case ISAL_UNSUPPORTED_METHOD:
        return "unsupported compression method";
    case ISAL_INCORRECT_CHECKSUM:
        return "checksum mismatch";
    case ISAL_NEED_DICT:
        return "needs a preset dictionary";
    default:
        return "decoding error";
    }
}

/* Inflate from p into the ring until the input is used up or the member
 * ends; *used says how much input went in. */
static int gz_inflate(rk_unpack *u, const unsigned char *p, size_t len,
                      size_t *used, rk_error **err)
{
    struct inflate_state *s = u->gz;
    uint32_t n = len > (1u << 30) ? (1u << 30) : (uint32_t)len;
    s->next_in = (uint8_t *)p;
    s->avail_in = n;
    for (;;) {
        unsigned char *o;
        size_t room;
        if (out_room(u, &o, &room, err) < 0)
            return -1;
        uint32_t in_before = s->avail_in;
        s->next_out = o;
        s->avail_out = (uint32_t)room;
        int r = isal_inflate(s);
        size_t made = room - s->avail_out;
        produced(u, made);
        if (r != ISAL_DECOMP_OK)
            return rk_error_set(err, 0,
                                "corrupt gzip stream after %llu bytes of "
                                "tar: %s",
                                (unsigned long long)u->bytes_tar,
                                isal_error_name(r));
        if (s->block_state == ISAL_BLOCK_FINISH) {
            u->gz_phase = GZ_BETWEEN;
            u->n_gz_peek = 0;
            break;
        }
        if (s->avail_out > 0 && s->avail_in == 0)
            break;
        if (made == 0 && s->avail_in == in_before)
            return rk_error_set(err, 0, "gzip decoder is stuck");
    }
    *used = n - s->avail_in;
    return 0;
}

static int gz_process(rk_unpack *u, const unsigned char *p, size_t len,
                      rk_error **err)
{
    while (len > 0) {
        if (u->gz_phase == GZ_TRAILING) {
            u->trailing += len;
            return 0;
        }
        if (u->gz_phase == GZ_BETWEEN) {
            /* Concatenated members (pigz, appended streams) form one
             * stream, as gzip -d reads them; anything else after a member
             * is ignored, as gzip -d does: diff_id still verifies every
             * byte of the tar. */
            u->gz_peek[u->n_gz_peek++] = *p++;
            len--;
            if (u->gz_peek[0] != 0x1f ||
                (u->n_gz_peek == 2 && u->gz_peek[1] != 0x8b)) {
                u->gz_phase = GZ_TRAILING;
                u->trailing += u->n_gz_peek;
                continue;
            }
            if (u->n_gz_peek < 2)
                continue;
            isal_inflate_reset(u->gz);
            u->gz->crc_flag = ISAL_GZIP;
            u->gz_phase = GZ_MEMBER;
            u->n_gz_peek = 0;
            size_t used;
            unsigned char hdr[2] = {0x1f, 0x8b};
            if (gz_inflate(u, hdr, 2, &used, err) < 0)
                return -1;
            continue;
        }
        size_t used;
        if (gz_inflate(u, p, len, &used, err) < 0)
            return -1;
        p += used;
        len -= used;
    }
    return 0;
}

static int zstd_process(rk_unpack *u, const unsigned char *p, size_t len,
                        rk_error **err)
{
    ZSTD_inBuffer in = {p, len, 0};
    for (;;) {
        unsigned char *o;
        size_t room;
        if (out_room(u, &o, &room, err) < 0)
            return -1;
        ZSTD_outBuffer out = {o, room, 0};
        size_t r = ZSTD_decompressStream(u->zs, &out, &in);
        produced(u, out.pos);
        if (ZSTD_isError(r))
            return rk_error_set(err, 0, "corrupt zstd stream: %s",
                                ZSTD_getErrorName(r));
        u->zs_hint = r;
        if (in.pos == in.size && out.pos < out.size)
            return 0;
    }
}

static int process(rk_unpack *u, const unsigned char *p, size_t len,
                   rk_error **err)
{
    switch (u->comp) {
    case RK_UNPACK_GZIP:
        return gz_process(u, p, len, err);
    case RK_UNPACK_ZSTD:
        return zstd_process(u, p, len, err);
    default:
        return plain_process(u, p, len, err);
    }
}

/* Decide the compression once 4 bytes are in, or at the end. */
static int detect(rk_unpack *u, rk_error **err)
{
    const unsigned char *m = u->magic;
    size_t n = u->n_magic;
    if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b) {
        u->comp = RK_UNPACK_GZIP;
        u->gz = rk_xcalloc(1, sizeof(*u->gz));
        isal_inflate_init(u->gz);
        u->gz->crc_flag = ISAL_GZIP;
        u->gz_phase = GZ_MEMBER;
    } else if (n == 4 && ((m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f &&
                           m[3] == 0xfd) ||
                          /* a skippable frame first */
                          ((m[0] & 0xf0) == 0x50 && m[1] == 0x2a &&
                           m[2] == 0x4d && m[3] == 0x18))) {
        u->comp = RK_UNPACK_ZSTD;
        u->zs = ZSTD_createDStream();
        if (!u->zs)
            return rk_error_set(err, ENOMEM, "creating zstd decoder");
        size_t r = ZSTD_initDStream(u->zs);
        if (ZSTD_isError(r))
            return rk_error_set(err, 0, "zstd: %s", ZSTD_getErrorName(r));
        u->zs_hint = 1;
    } else {
        u->comp = RK_UNPACK_NONE;
    }
    rk_debug("unpack: compression %s", rk_unpack_compression_name(u->comp));
    return process(u, u->magic, u->n_magic, err);
}

static int fail_feed(rk_unpack *u)
{
    stop_thread(u);
    u->failed = true;
    return -1;
}

int rk_unpack_feed(rk_unpack *u, const void *buf, size_t len, rk_error **err)
{
    if (u->failed)
        return rk_error_set(err, 0, "layer extraction already failed");
    if (u->finished)
        return rk_error_set(err, EINVAL, "rk_unpack_feed after finish");
    const unsigned char *p = buf;
    u->bytes_in += len;
    if (u->comp == RK_UNPACK_UNKNOWN) {
        while (len && u->n_magic < sizeof(u->magic)) {
            u->magic[u->n_magic++] = *p++;
            len--;
        }
        if (u->n_magic < sizeof(u->magic))
            return 0;
        if (detect(u, err) < 0)
            return fail_feed(u);
    }
    if (len && process(u, p, len, err) < 0)
        return fail_feed(u);
    return 0;
}

int rk_unpack_finish(rk_unpack *u, char diff_id[RK_DIGEST_LEN + 1],
                     rk_error **err)
{
    if (u->failed)
        return rk_error_set(err, 0, "layer extraction already failed");
    if (u->finished)
        return rk_error_set(err, EINVAL, "rk_unpack_finish called twice");
    u->finished = true;
    if (u->comp == RK_UNPACK_UNKNOWN && detect(u, err) < 0)
        return fail_feed(u);
    if (u->comp == RK_UNPACK_GZIP && u->gz_phase == GZ_MEMBER) {
        rk_error_set(err, 0,
                     "truncated gzip stream: it ends inside a member after "
                     "%llu bytes",
                     (unsigned long long)u->bytes_in);
        return fail_feed(u);
    }
    if (u->comp == RK_UNPACK_ZSTD && u->zs_hint != 0) {
        rk_error_set(err, 0, "truncated zstd stream after %llu bytes",
                     (unsigned long long)u->bytes_in);
        return fail_feed(u);
    }
    if (u->trailing)
        rk_debug("unpack: %llu bytes after the last gzip member ignored",
                 (unsigned long long)u->trailing);

    pthread_mutex_lock(&u->mu);
    if (!u->x_done && u->cur_len) {
        unsigned wr = (u->rd + u->avail) % u->n_chunks;
        u->lens[wr] = u->cur_len;
        u->avail++;
    }
    u->eof = true;
    pthread_cond_signal(&u->can_consume);
    pthread_mutex_unlock(&u->mu);
    u->cur_len = 0;
    pthread_join(u->thread, NULL);
    u->thread_running = false;
    if (u->x_failed)
        return take_thread_error(u, err);
    rk_sha256_final(&u->sha, diff_id);
    rk_debug("unpack: %llu entries, %llu -> %llu bytes, %s",
             (unsigned long long)u->entries, (unsigned long long)u->bytes_in,
             (unsigned long long)u->bytes_tar, diff_id);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Life cycle                                                              */

int rk_unpack_new(const rk_unpack_opts *o, rk_unpack **ret, rk_error **err)
{
    struct stat st;
    if (fstat(o->root_fd, &st) < 0)
        return rk_error_set(err, errno, "layer root");
    if (!S_ISDIR(st.st_mode))
        return rk_error_set(err, ENOTDIR, "layer root");
    if (o->n_lower && !o->lower_fds)
        return rk_error_set(err, EINVAL, "n_lower without lower_fds");

    size_t chunk = o->chunk_size ? o->chunk_size : DEFAULT_CHUNK_SIZE;
    unsigned nch = o->n_chunks ? o->n_chunks : DEFAULT_N_CHUNKS;
    /* Two chunks at least: one the feeder fills while libarchive reads the
     * other. */
    if (nch < 2 || chunk < 4096 || chunk > UINT32_MAX ||
        (uint64_t)chunk * nch > MAX_BUFFER)
        return rk_error_set(err, EINVAL, "bad buffer size %zu x %u", chunk,
                            nch);

    rk_unpack *u = rk_xcalloc(1, sizeof(*u));
    u->root_fd = -1;
    for (size_t i = 0; i < PCACHE_N; i++)
        u->pc[i].fd = -1;
    pthread_mutex_init(&u->mu, NULL);
    pthread_cond_init(&u->can_produce, NULL);
    pthread_cond_init(&u->can_consume, NULL);
    u->is_bottom = o->is_bottom;
    u->chunk_size = chunk;
    u->n_chunks = nch;
    u->mem = rk_xmalloc(chunk * nch);
    u->lens = rk_xcalloc(nch, sizeof(*u->lens));
    u->cur = u->mem;

    u->root_fd = fcntl(o->root_fd, F_DUPFD_CLOEXEC, 3);
    if (u->root_fd < 0) {
        rk_error_set(err, errno, "dup of the layer root fd");
        goto fail;
    }
    if (o->n_lower) {
        u->lower_fds = rk_xcalloc(o->n_lower, sizeof(int));
        for (size_t i = 0; i < o->n_lower; i++)
            u->lower_fds[i] = -1;
        u->n_lower = o->n_lower;
        for (size_t i = 0; i < o->n_lower; i++) {
            u->lower_fds[i] = fcntl(o->lower_fds[i], F_DUPFD_CLOEXEC, 3);
            if (u->lower_fds[i] < 0) {
                rk_error_set(err, errno, "dup of lower layer fd %zu", i);
                goto fail;
            }
        }
    }
    if (rk_sha256_init(&u->sha) < 0) {
        rk_error_set(err, 0, "initializing sha256");
        goto fail;
    }

    /* The extraction thread takes no signals: they belong to the caller's
     * threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int r = pthread_create(&u->thread, NULL, extract_main, u);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0) {
        rk_error_set(err, r, "starting the extraction thread");
        goto fail;
    }
    pthread_setname_np(u->thread, "rk-unpack");
    u->thread_running = true;
    *ret = u;
    return 0;
fail:
    rk_unpack_free(u);
    return -1;
}

void rk_unpack_free(rk_unpack *u)
{
    if (!u)
        return;
    stop_thread(u);
    for (size_t i = 0; i < PCACHE_N; i++) {
        free(u->pc[i].path);
        if (u->pc[i].fd >= 0)
            close(u->pc[i].fd);
    }
    for (size_t i = 0; i < u->n_dirs; i++)
        free(u->dirs[i].path);
    free(u->dirs);
    if (u->root_fd >= 0)
        close(u->root_fd);
    for (size_t i = 0; i < u->n_lower; i++)
        if (u->lower_fds[i] >= 0)
            close(u->lower_fds[i]);
    free(u->lower_fds);
    free(u->gz);
    if (u->zs)
        ZSTD_freeDStream(u->zs);
    rk_sha256_free(&u->sha);
    rk_error_free(u->xerr);
    free(u->mem);
    free(u->lens);
    pthread_cond_destroy(&u->can_produce);
    pthread_cond_destroy(&u->can_consume);
    pthread_mutex_destroy(&u->mu);
    free(u);
}

void rk_unpack_get_stats(const rk_unpack *u, rk_unpack_stats *ret)
{
    ret->compression = u->comp;
    ret->bytes_in = u->bytes_in;
    ret->bytes_tar = u->bytes_tar;
    bool done = !u->thread_running;
    ret->entries = done ? u->entries : 0;
    ret->wait_feed_s = (double)u->wait_feed_ns / 1e9;
    ret->wait_extract_s = done ? (double)u->wait_x_ns / 1e9 : 0;
}

const char *rk_unpack_compression_name(enum rk_unpack_compression c)
{
    switch (c) {
    case RK_UNPACK_NONE:
        return "none";
    case RK_UNPACK_GZIP:
        return "gzip";
    case RK_UNPACK_ZSTD:
        return "zstd";
    default:
        return "unknown";
    }
}

int rk_unpack_fd(const rk_unpack_opts *o, int fd,
                 char diff_id[RK_DIGEST_LEN + 1], rk_error **err)
{
    _cleanup_unpack_ rk_unpack *u = NULL;
    if (rk_unpack_new(o, &u, err) < 0)
        return -1;
    size_t bufsize = 256 * 1024;
    _cleanup_free_ unsigned char *buf = rk_xmalloc(bufsize);
    for (;;) {
        ssize_t n = read(fd, buf, bufsize);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return rk_error_set(err, errno, "reading layer");
        if (n == 0)
            break;
        if (rk_unpack_feed(u, buf, (size_t)n, err) < 0)
            return -1;
    }
    return rk_unpack_finish(u, diff_id, err);
}
