/* rk_unpack: metadata, whiteouts in overlayfs format (checked through a
 * real overlay mount), same-layer replacement, hostile archives, broken
 * streams, diff_id for gzip / zstd / plain, and aborting. Tars are built in
 * memory with libarchive; gzip with ISA-L, zstd with libzstd. Needs root
 * (chown, mknod, trusted.* xattrs, mount); without it the tests fail rather
 * than pretend. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <isa-l/igzip_lib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zstd.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "base/digest.h"
#include "base/fs.h"
#include "image/unpack.h"

/* ---------------------------------------------------------------------- */
/* Building archives                                                       */

struct buf {
    unsigned char *p;
    size_t len, cap;
};

static void buf_add(struct buf *b, const void *d, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 1024;
        b->p = rk_xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

static la_ssize_t write_cb(struct archive *a, void *d, const void *p, size_t n)
{
    (void)a;
    buf_add(d, p, n);
    return (la_ssize_t)n;
}

struct ent {
    const char *name;
    mode_t type; /* AE_IF*; 0 with .hardlink */
    mode_t perm;
    int64_t uid, gid;
    const char *data; /* NUL-terminated content, or use size + fill */
    size_t size;
    const char *symlink;
    const char *hardlink;
    unsigned maj, min;
    time_t mtime;
    long mtime_ns;
    time_t atime;
    long atime_ns;
    const char *xname;
    const void *xval;
    size_t xlen;
    const char *xname2;
    const void *xval2;
    size_t xlen2;
    /* a sparse file: size bytes, with one data region */
    int64_t sparse_off, sparse_len;
};

struct tb {
    struct archive *a;
    struct buf out;
};

static void tb_begin(struct tb *t)
{
    memset(t, 0, sizeof(*t));
    t->a = archive_write_new();
    assert_non_null(t->a);
    assert_int_equal(archive_write_set_format_pax(t->a), ARCHIVE_OK);
    assert_int_equal(archive_write_add_filter_none(t->a), ARCHIVE_OK);
    assert_int_equal(archive_write_open(t->a, &t->out, NULL, write_cb, NULL),
                     ARCHIVE_OK);
}

static void tb_add(struct tb *t, const struct ent *e)
{
    struct archive_entry *ae = archive_entry_new();
    archive_entry_set_pathname(ae, e->name);
    if (e->hardlink) {
        archive_entry_set_hardlink(ae, e->hardlink);
        archive_entry_set_size(ae, 0);
    } else {
        archive_entry_set_filetype(ae, e->type);
        archive_entry_set_perm(ae, e->perm ? e->perm : 0644);
    }
    archive_entry_set_uid(ae, e->uid);
    archive_entry_set_gid(ae, e->gid);
    archive_entry_set_mtime(ae, e->mtime ? e->mtime : 1700000000, e->mtime_ns);
    if (e->atime)
        archive_entry_set_atime(ae, e->atime, e->atime_ns);
    if (e->symlink)
        archive_entry_set_symlink(ae, e->symlink);
    if (e->type == AE_IFCHR || e->type == AE_IFBLK)
        archive_entry_set_rdev(ae, makedev(e->maj, e->min));
    if (e->xname)
        archive_entry_xattr_add_entry(ae, e->xname, e->xval, e->xlen);
    if (e->xname2)
        archive_entry_xattr_add_entry(ae, e->xname2, e->xval2, e->xlen2);
    size_t size = 0;
    if (e->type == AE_IFREG && !e->hardlink)
        size = e->data ? strlen(e->data) : e->size;
    if (e->sparse_len) {
        archive_entry_set_size(ae, (la_int64_t)e->size);
        archive_entry_sparse_add_entry(ae, e->sparse_off, e->sparse_len);
    } else if (!e->hardlink) {
        archive_entry_set_size(ae, (la_int64_t)size);
    }
    assert_true(archive_write_header(t->a, ae) >= ARCHIVE_WARN);
    if (e->sparse_len) {
        /* libarchive wants the whole logical content and skips the
         * holes itself */
        char *d = rk_xcalloc(1, e->size);
        memset(d + e->sparse_off, 'S', (size_t)e->sparse_len);
        assert_int_equal(archive_write_data(t->a, d, e->size),
                         (la_ssize_t)e->size);
        free(d);
    } else if (size && e->data) {
        assert_int_equal(archive_write_data(t->a, e->data, size),
                         (la_ssize_t)size);
    } else if (size) {
        /* deterministic pseudo-random content */
        unsigned char *d = rk_xmalloc(size);
        uint32_t x = 12345;
        for (size_t i = 0; i < size; i++) {
            x = x * 1103515245 + 12345;
            d[i] = (unsigned char)(x >> 16);
        }
        assert_int_equal(archive_write_data(t->a, d, size), (la_ssize_t)size);
        free(d);
    }
    archive_entry_free(ae);
}

static struct buf tb_end(struct tb *t)
{
    assert_int_equal(archive_write_close(t->a), ARCHIVE_OK);
    archive_write_free(t->a);
    return t->out;
}

static struct buf gzip_buf(const void *in, size_t len)
{
    struct buf o = {0};
    o.cap = len + len / 10 + 4096;
    o.p = rk_xmalloc(o.cap);
    struct isal_zstream s;
    isal_deflate_init(&s);
    s.gzip_flag = IGZIP_GZIP;
    s.end_of_stream = 1;
    s.flush = NO_FLUSH;
    s.level = 0;
    s.next_in = (uint8_t *)in;
    s.avail_in = (uint32_t)len;
    s.next_out = o.p;
    s.avail_out = (uint32_t)o.cap;
    assert_int_equal(isal_deflate_stateless(&s), COMP_OK);
    o.len = s.total_out;
    return o;
}

static struct buf zstd_buf(const void *in, size_t len)
{
    struct buf o = {0};
    o.cap = ZSTD_compressBound(len);
    o.p = rk_xmalloc(o.cap);
    size_t r = ZSTD_compress(o.p, o.cap, in, len, 3);
    assert_false(ZSTD_isError(r));
    o.len = r;
    return o;
}

/* ---------------------------------------------------------------------- */
/* Fixture                                                                 */

static char base[64];  /* per test: base/L is the layer, base/lo* lowers */
static char hostd[64]; /* a host directory that must stay empty */
static int layer_fd = -1;

static int setup(void **state)
{
    (void)state;
    strcpy(base, "/tmp/rk-test-unpack-XXXXXX");
    assert_non_null(mkdtemp(base));
    strcpy(hostd, "/tmp/rk-unpack-host-XXXXXX");
    assert_non_null(mkdtemp(hostd));
    _cleanup_free_ char *l = rk_xasprintf("%s/L", base);
    assert_int_equal(mkdir(l, 0755), 0);
    layer_fd = open(l, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true(layer_fd >= 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (layer_fd >= 0)
        close(layer_fd);
    layer_fd = -1;
    /* a test that failed with its overlay still mounted */
    _cleanup_free_ char *m = rk_xasprintf("%s/m", base);
    umount2(m, MNT_DETACH);
    assert_int_equal(rk_rm_rf(base, NULL), 0);
    assert_int_equal(rk_rm_rf(hostd, NULL), 0);
    return 0;
}

static void assert_root(void)
{
    if (geteuid() != 0)
        fail_msg("test_unpack needs root (chown, mknod, trusted xattrs)");
}

static void assert_host_empty(void)
{
    DIR *d = opendir(hostd);
    assert_non_null(d);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    assert_int_equal(n, 0);
}

static int mklower(const char *name)
{
    _cleanup_free_ char *p = rk_xasprintf("%s/%s", base, name);
    assert_int_equal(mkdir(p, 0755), 0);
    int fd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true(fd >= 0);
    return fd;
}

/* Feed in pieces: step 0 = all at once, 1 = byte by byte, else pieces of
 * varying size up to step. */
static int unpack_opts(const rk_unpack_opts *o, const struct buf *b,
                       size_t step, char diff_id[RK_DIGEST_LEN + 1],
                       rk_error **err)
{
    rk_unpack *u = NULL;
    if (rk_unpack_new(o, &u, err) < 0)
        return -1;
    size_t pos = 0, k = 0;
    int r = 0;
    while (pos < b->len) {
        size_t n = b->len - pos;
        if (step == 1)
            n = 1;
        else if (step)
            n = n < 1 + (k * 7919) % step ? n : 1 + (k * 7919) % step;
        k++;
        if ((r = rk_unpack_feed(u, b->p + pos, n, err)) < 0)
            break;
        pos += n;
    }
    if (r == 0)
        r = rk_unpack_finish(u, diff_id, err);
    rk_unpack_free(u);
    return r;
}

static int unpack_buf(const struct buf *b, bool bottom, const int *lowers,
                      size_t nl, size_t step, char diff_id[RK_DIGEST_LEN + 1],
                      rk_error **err)
{
    rk_unpack_opts o = {.root_fd = layer_fd,
                        .lower_fds = lowers,
                        .n_lower = nl,
                        .is_bottom = bottom};
    return unpack_opts(&o, b, step, diff_id, err);
}

static void lst(const char *rel, struct stat *st)
{
    if (fstatat(layer_fd, rel, st, AT_SYMLINK_NOFOLLOW) < 0)
        fail_msg("lstat %s: %s", rel, strerror(errno));
}

static bool exists(const char *rel)
{
    struct stat st;
    return fstatat(layer_fd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static char *content(const char *rel)
{
    char *b = NULL;
    _cleanup_free_ char *p = rk_xasprintf("%s/L/%s", base, rel);
    if (rk_read_file_at(AT_FDCWD, p, 0, &b, NULL, NULL) < 0)
        fail_msg("reading %s", rel);
    return b;
}

static ssize_t lx(const char *rel, const char *name, void *v, size_t n)
{
    _cleanup_free_ char *p = rk_xasprintf("%s/L/%s", base, rel);
    return lgetxattr(p, name, v, n);
}

static bool is_opaque(const char *rel)
{
    char v[4];
    return lx(rel, "trusted.overlay.opaque", v, sizeof(v)) == 1 && v[0] == 'y';
}

static bool is_whiteout(const char *rel)
{
    struct stat st;
    return fstatat(layer_fd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
           S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
}

static void free_buf(struct buf *b)
{
    free(b->p);
    b->p = NULL;
}

/* ---------------------------------------------------------------------- */
/* Metadata                                                                */

/* security.capability v2: cap_net_bind_service (10) permitted+effective */
static const unsigned char cap_v2[20] = {
    0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};

static struct buf metadata_tar(void)
{
    struct tb t;
    tb_begin(&t);
    tb_add(&t, &(struct ent){.name = "./",
                             .type = AE_IFDIR,
                             .perm = 0751,
                             .mtime = 1111111111,
                             .mtime_ns = 1});
    tb_add(&t, &(struct ent){.name = "d/",
                             .type = AE_IFDIR,
                             .perm = 0755,
                             .uid = 10,
                             .gid = 20,
                             .mtime = 1000000000,
                             .mtime_ns = 123456789,
                             .atime = 1000000001,
                             .atime_ns = 5});
    tb_add(&t, &(struct ent){.name = "d/suid",
                             .type = AE_IFREG,
                             .perm = 04755,
                             .uid = 1000,
                             .gid = 1000,
                             .data = "suid!",
                             .mtime = 1234567890,
                             .mtime_ns = 987654321,
                             .atime = 1234567891,
                             .atime_ns = 42});
    tb_add(&t, &(struct ent){.name = "d/sgid",
                             .type = AE_IFREG,
                             .perm = 02711,
                             .uid = 1234,
                             .gid = 5678,
                             .data = "sgid"});
    tb_add(&t,
           &(struct ent){.name = "d/sticky/", .type = AE_IFDIR, .perm = 01777});
    tb_add(&t, &(struct ent){.name = "d/setgid-dir/",
                             .type = AE_IFDIR,
                             .perm = 02775,
                             .gid = 50});
    tb_add(&t, &(struct ent){.name = "d/cap",
                             .type = AE_IFREG,
                             .perm = 0755,
                             .data = "\x7f"
                                     "ELF",
                             .xname = "security.capability",
                             .xval = cap_v2,
                             .xlen = sizeof(cap_v2),
                             .uid = 0});
    tb_add(&t, &(struct ent){.name = "d/user",
                             .type = AE_IFREG,
                             .perm = 0600,
                             .data = "u",
                             .xname = "user.test",
                             .xval = "hello",
                             .xlen = 5,
                             .xname2 = "trusted.overlay.opaque",
                             .xval2 = "y",
                             .xlen2 = 1});
    tb_add(&t, &(struct ent){.name = "d/link",
                             .type = AE_IFLNK,
                             .symlink = "../some/where",
                             .uid = 7,
                             .gid = 8,
                             .mtime = 12345,
                             .mtime_ns = 678});
    tb_add(&t, &(struct ent){.name = "d/hard", .hardlink = "d/suid"});
    tb_add(&t, &(struct ent){.name = "d/null",
                             .type = AE_IFCHR,
                             .perm = 0666,
                             .maj = 1,
                             .min = 3,
                             .uid = 0});
    tb_add(&t, &(struct ent){.name = "d/sda",
                             .type = AE_IFBLK,
                             .perm = 0660,
                             .maj = 8,
                             .min = 0,
                             .gid = 6});
    tb_add(&t, &(struct ent){.name = "d/fifo",
                             .type = AE_IFIFO,
                             .perm = 0640,
                             .uid = 3,
                             .mtime = 2222,
                             .mtime_ns = 3});
    tb_add(&t, &(struct ent){.name = "d/sub/",
                             .type = AE_IFDIR,
                             .perm = 0700,
                             .mtime = 2000,
                             .mtime_ns = 77});
    tb_add(&t, &(struct ent){
                   .name = "d/sub/f", .type = AE_IFREG, .data = "in sub"});
    tb_add(&t, &(struct ent){.name = "d/big",
                             .type = AE_IFREG,
                             .size = 3 * 1024 * 1024 + 17});
    tb_add(&t, &(struct ent){.name = "d/sparse",
                             .type = AE_IFREG,
                             .size = 1 << 20,
                             .sparse_off = 512 * 1024,
                             .sparse_len = 4096});
    tb_add(&t, &(struct ent){.name = "d/caf\xc3\xa9-\xe2\x82\xac",
                             .type = AE_IFREG,
                             .data = "utf8"});
    char longname[300], longtarget[300];
    snprintf(longname, sizeof(longname), "d/%0200d", 7);
    snprintf(longtarget, sizeof(longtarget), "/%0250d", 9);
    tb_add(&t,
           &(struct ent){.name = longname, .type = AE_IFREG, .data = "long"});
    tb_add(&t, &(struct ent){.name = "d/longlink",
                             .type = AE_IFLNK,
                             .symlink = longtarget});
    tb_add(&t, &(struct ent){.name = "d/abslink",
                             .type = AE_IFLNK,
                             .symlink = "/etc/passwd"});
    /* an xattr on a symlink lands on the link, not on what it points to */
    tb_add(&t, &(struct ent){.name = "d/xl",
                             .type = AE_IFLNK,
                             .symlink = "suid",
                             .xname = "trusted.sym",
                             .xval = "1",
                             .xlen = 1});
    return tb_end(&t);
}

static void check_metadata(void)
{
    struct stat st;
    lst(".", &st);
    assert_int_equal(st.st_mode & 07777, 0751);
    assert_int_equal(st.st_mtim.tv_sec, 1111111111);
    assert_int_equal(st.st_mtim.tv_nsec, 1);

    lst("d", &st);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0755);
    assert_int_equal(st.st_uid, 10);
    assert_int_equal(st.st_gid, 20);
    /* set after its children were written */
    assert_int_equal(st.st_mtim.tv_sec, 1000000000);
    assert_int_equal(st.st_mtim.tv_nsec, 123456789);
    assert_int_equal(st.st_atim.tv_sec, 1000000001);
    assert_int_equal(st.st_atim.tv_nsec, 5);

    lst("d/suid", &st);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 04755);
    assert_int_equal(st.st_uid, 1000);
    assert_int_equal(st.st_gid, 1000);
    assert_int_equal(st.st_mtim.tv_sec, 1234567890);
    assert_int_equal(st.st_mtim.tv_nsec, 987654321);
    assert_int_equal(st.st_atim.tv_sec, 1234567891);
    assert_int_equal(st.st_atim.tv_nsec, 42);
    assert_int_equal(st.st_nlink, 2);
    struct stat hst;
    lst("d/hard", &hst);
    assert_int_equal(hst.st_ino, st.st_ino);
    char *c = content("d/hard");
    assert_string_equal(c, "suid!");
    free(c);

    lst("d/sgid", &st);
    assert_int_equal(st.st_mode & 07777, 02711);
    assert_int_equal(st.st_uid, 1234);
    assert_int_equal(st.st_gid, 5678);
    /* ustar-only fields: atime falls back to mtime */
    assert_int_equal(st.st_atim.tv_sec, st.st_mtim.tv_sec);

    lst("d/sticky", &st);
    assert_int_equal(st.st_mode & 07777, 01777);
    lst("d/setgid-dir", &st);
    assert_int_equal(st.st_mode & 07777, 02775);
    assert_int_equal(st.st_gid, 50);

    unsigned char v[64];
    assert_int_equal(lx("d/cap", "security.capability", v, sizeof(v)),
                     sizeof(cap_v2));
    assert_memory_equal(v, cap_v2, sizeof(cap_v2));
    assert_int_equal(lx("d/user", "user.test", v, sizeof(v)), 5);
    assert_memory_equal(v, "hello", 5);
    /* the tar does not get to tell overlayfs anything */
    assert_false(is_opaque("d/user"));

    lst("d/link", &st);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(st.st_uid, 7);
    assert_int_equal(st.st_gid, 8);
    assert_int_equal(st.st_mtim.tv_sec, 12345);
    assert_int_equal(st.st_mtim.tv_nsec, 678);
    char tgt[512];
    ssize_t n = readlinkat(layer_fd, "d/link", tgt, sizeof(tgt));
    assert_int_equal(n, strlen("../some/where"));
    assert_memory_equal(tgt, "../some/where", (size_t)n);
    n = readlinkat(layer_fd, "d/abslink", tgt, sizeof(tgt));
    assert_int_equal(n, strlen("/etc/passwd"));
    assert_int_equal(lx("d/xl", "trusted.sym", v, sizeof(v)), 1);
    assert_int_equal(lx("d/suid", "trusted.sym", v, sizeof(v)), -1);
    n = readlinkat(layer_fd, "d/longlink", tgt, sizeof(tgt));
    assert_int_equal(n, 251);

    lst("d/null", &st);
    assert_true(S_ISCHR(st.st_mode));
    assert_int_equal(major(st.st_rdev), 1);
    assert_int_equal(minor(st.st_rdev), 3);
    assert_int_equal(st.st_mode & 07777, 0666);
    lst("d/sda", &st);
    assert_true(S_ISBLK(st.st_mode));
    assert_int_equal(st.st_rdev, makedev(8, 0));
    assert_int_equal(st.st_gid, 6);
    assert_int_equal(st.st_mode & 07777, 0660);
    lst("d/fifo", &st);
    assert_true(S_ISFIFO(st.st_mode));
    assert_int_equal(st.st_uid, 3);
    assert_int_equal(st.st_mode & 07777, 0640);
    assert_int_equal(st.st_mtim.tv_sec, 2222);
    assert_int_equal(st.st_mtim.tv_nsec, 3);

    lst("d/sub", &st);
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(st.st_mtim.tv_sec, 2000);
    assert_int_equal(st.st_mtim.tv_nsec, 77);
    c = content("d/sub/f");
    assert_string_equal(c, "in sub");
    free(c);

    lst("d/big", &st);
    assert_int_equal(st.st_size, 3 * 1024 * 1024 + 17);
    {
        _cleanup_free_ char *p = rk_xasprintf("%s/L/d/big", base);
        char *b = NULL;
        size_t len = 0;
        assert_int_equal(rk_read_file_at(AT_FDCWD, p, 0, &b, &len, NULL), 0);
        uint32_t x = 12345;
        size_t bad = 0;
        for (size_t i = 0; i < len; i++) {
            x = x * 1103515245 + 12345;
            bad += (unsigned char)b[i] != (unsigned char)(x >> 16);
        }
        assert_int_equal(bad, 0);
        free(b);
    }
    lst("d/sparse", &st);
    assert_int_equal(st.st_size, 1 << 20);
    {
        _cleanup_free_ char *p = rk_xasprintf("%s/L/d/sparse", base);
        char *b = NULL;
        size_t len = 0;
        assert_int_equal(rk_read_file_at(AT_FDCWD, p, 0, &b, &len, NULL), 0);
        assert_int_equal(len, 1 << 20);
        assert_int_equal(b[0], 0);
        assert_int_equal(b[512 * 1024], 'S');
        assert_int_equal(b[512 * 1024 + 4095], 'S');
        assert_int_equal(b[512 * 1024 + 4096], 0);
        free(b);
    }
    c = content("d/caf\xc3\xa9-\xe2\x82\xac");
    assert_string_equal(c, "utf8");
    free(c);
    char longname[300];
    snprintf(longname, sizeof(longname), "d/%0200d", 7);
    assert_true(exists(longname));
}

static void test_metadata_gzip(void **state)
{
    (void)state;
    assert_root();
    struct buf tar = metadata_tar();
    struct buf gz = gzip_buf(tar.p, tar.len);
    char id[RK_DIGEST_LEN + 1], want[RK_DIGEST_LEN + 1];
    rk_sha256_buf(tar.p, tar.len, want);
    rk_error *err = NULL;
    int r = unpack_buf(&gz, true, NULL, 0, 16384, id, &err);
    if (r < 0)
        fail_msg("%s", err->msg);
    assert_string_equal(id, want);
    check_metadata();
    free_buf(&tar);
    free_buf(&gz);
}

/* The smallest buffer (2 chunks of 4 KiB): every hand-over path. */
static void test_metadata_small_ring(void **state)
{
    (void)state;
    assert_root();
    struct buf tar = metadata_tar();
    struct buf zs = zstd_buf(tar.p, tar.len);
    char id[RK_DIGEST_LEN + 1], want[RK_DIGEST_LEN + 1];
    rk_sha256_buf(tar.p, tar.len, want);
    rk_error *err = NULL;
    rk_unpack_opts o = {.root_fd = layer_fd,
                        .is_bottom = true,
                        .chunk_size = 4096,
                        .n_chunks = 2};
    if (unpack_opts(&o, &zs, 3000, id, &err) < 0)
        fail_msg("%s", err->msg);
    assert_string_equal(id, want);
    check_metadata();
    free_buf(&tar);
    free_buf(&zs);
}

/* ---------------------------------------------------------------------- */
/* diff_id and streams                                                     */

static struct buf small_tar(size_t trailing)
{
    struct tb t;
    tb_begin(&t);
    tb_add(&t, &(struct ent){.name = "etc/", .type = AE_IFDIR, .perm = 0755});
    tb_add(&t, &(struct ent){.name = "etc/hostname",
                             .type = AE_IFREG,
                             .data = "layer\n"});
    tb_add(&t, &(struct ent){
                   .name = "usr/lib/big", .type = AE_IFREG, .size = 300000});
    tb_add(&t, &(struct ent){
                   .name = "usr/lib/link", .type = AE_IFLNK, .symlink = "big"});
    struct buf b = tb_end(&t);
    /* Data after the end-of-archive blocks: part of the stream diff_id
     * covers. */
    for (size_t i = 0; i < trailing; i++) {
        unsigned char c = (unsigned char)(i * 31 + 7);
        buf_add(&b, &c, 1);
    }
    return b;
}

static void check_small(void)
{
    char *c = content("etc/hostname");
    assert_string_equal(c, "layer\n");
    free(c);
    struct stat st;
    lst("usr/lib/big", &st);
    assert_int_equal(st.st_size, 300000);
    lst("usr/lib", &st);
    assert_int_equal(st.st_mode & 07777, 0755);
}

static void diff_id_case(int comp, size_t step)
{
    struct buf tar = small_tar(3000);
    struct buf in = comp == 1   ? gzip_buf(tar.p, tar.len)
                    : comp == 2 ? zstd_buf(tar.p, tar.len)
                                : (struct buf){0};
    if (comp == 0)
        buf_add(&in, tar.p, tar.len);
    char id[RK_DIGEST_LEN + 1], want[RK_DIGEST_LEN + 1];
    rk_sha256_buf(tar.p, tar.len, want);
    rk_error *err = NULL;
    if (unpack_buf(&in, false, NULL, 0, step, id, &err) < 0)
        fail_msg("comp %d step %zu: %s", comp, step, err->msg);
    assert_string_equal(id, want);
    assert_true(rk_digest_valid(id));
    check_small();
    free_buf(&tar);
    free_buf(&in);
}

static void test_diff_id_gzip(void **state)
{
    (void)state;
    assert_root();
    diff_id_case(1, 0);
}

static void test_diff_id_zstd(void **state)
{
    (void)state;
    assert_root();
    diff_id_case(2, 0);
}

static void test_diff_id_none(void **state)
{
    (void)state;
    assert_root();
    diff_id_case(0, 0);
}

/* Byte by byte: magic detection and gzip headers split across calls. */
static void test_feed_bytewise(void **state)
{
    (void)state;
    assert_root();
    for (int comp = 0; comp < 3; comp++) {
        diff_id_case(comp, 1);
        assert_int_equal(rk_rm_rf_at(layer_fd, "etc", NULL), 0);
        assert_int_equal(rk_rm_rf_at(layer_fd, "usr", NULL), 0);
        diff_id_case(comp, 777);
        assert_int_equal(rk_rm_rf_at(layer_fd, "etc", NULL), 0);
        assert_int_equal(rk_rm_rf_at(layer_fd, "usr", NULL), 0);
    }
}

/* pigz-style concatenated members, then trailing garbage (ignored, as by
 * gzip -d). */
static void test_gzip_members(void **state)
{
    (void)state;
    assert_root();
    struct buf tar = small_tar(0);
    size_t cut = tar.len / 3 + 5;
    struct buf a = gzip_buf(tar.p, cut);
    struct buf b = gzip_buf(tar.p + cut, tar.len - cut);
    struct buf in = {0};
    buf_add(&in, a.p, a.len);
    buf_add(&in, b.p, b.len);
    buf_add(&in, "\0\0\0\0garbage", 11);
    char id[RK_DIGEST_LEN + 1], want[RK_DIGEST_LEN + 1];
    rk_sha256_buf(tar.p, tar.len, want);
    for (size_t step = 0; step < 3; step++) {
        rk_error *err = NULL;
        if (unpack_buf(&in, true, NULL, 0, step, id, &err) < 0)
            fail_msg("step %zu: %s", step, err->msg);
        assert_string_equal(id, want);
        check_small();
        assert_int_equal(rk_rm_rf_at(layer_fd, "etc", NULL), 0);
        assert_int_equal(rk_rm_rf_at(layer_fd, "usr", NULL), 0);
    }
    free_buf(&tar);
    free_buf(&a);
    free_buf(&b);
    free_buf(&in);
}

/* The OCI empty layer: 1024 zero bytes, Docker's well-known diff_id. */
static void test_empty_layer(void **state)
{
    (void)state;
    assert_root();
    unsigned char z[1024] = {0};
    struct buf gz = gzip_buf(z, sizeof(z));
    char id[RK_DIGEST_LEN + 1];
    rk_error *err = NULL;
    if (unpack_buf(&gz, true, NULL, 0, 0, id, &err) < 0)
        fail_msg("%s", err->msg);
    assert_string_equal(
        id, "sha256:"
            "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef");
    free_buf(&gz);
    /* zero bytes: no entries, sha256 of nothing */
    struct buf none = {0};
    if (unpack_buf(&none, true, NULL, 0, 0, id, &err) < 0)
        fail_msg("%s", err->msg);
    assert_string_equal(
        id, "sha256:"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void expect_failure(const struct buf *in, const char *want1,
                           const char *want2)
{
    char id[RK_DIGEST_LEN + 1];
    rk_error *err = NULL;
    int r = unpack_buf(in, true, NULL, 0, 4096, id, &err);
    assert_int_equal(r, -1);
    assert_non_null(err);
    assert_non_null(err->msg);
    if (!strstr(err->msg, want1) && !(want2 && strstr(err->msg, want2)))
        fail_msg("unexpected error: %s", err->msg);
    rk_error_free(err);
}

static void test_truncated(void **state)
{
    (void)state;
    assert_root();
    struct buf tar = small_tar(0);
    struct buf gz = gzip_buf(tar.p, tar.len);
    struct buf zs = zstd_buf(tar.p, tar.len);
    struct buf cut = {0};
    buf_add(&cut, gz.p, gz.len * 6 / 10);
    expect_failure(&cut, "truncated gzip", NULL);
    cut.len = 0;
    /* without the 8 byte trailer: all data there, no checksum */
    buf_add(&cut, gz.p, gz.len - 8);
    expect_failure(&cut, "truncated gzip", NULL);
    cut.len = 0;
    buf_add(&cut, gz.p, 2);
    expect_failure(&cut, "truncated gzip", NULL);
    cut.len = 0;
    buf_add(&cut, zs.p, zs.len / 2);
    expect_failure(&cut, "truncated zstd", NULL);
    cut.len = 0;
    /* a plain tar cut inside a file */
    buf_add(&cut, tar.p, 512 * 5 + 100);
    expect_failure(&cut, "tar", NULL);
    free_buf(&cut);
    free_buf(&tar);
    free_buf(&gz);
    free_buf(&zs);
}

static void test_corrupt(void **state)
{
    (void)state;
    assert_root();
    struct buf tar = small_tar(0);
    struct buf gz = gzip_buf(tar.p, tar.len);
    struct buf bad = {0};

    /* compression method byte */
    buf_add(&bad, gz.p, gz.len);
    bad.p[2] = 7;
    expect_failure(&bad, "corrupt gzip", NULL);
    /* CRC32 in the trailer */
    memcpy(bad.p, gz.p, gz.len);
    bad.p[gz.len - 6] ^= 0x55;
    expect_failure(&bad, "checksum", NULL);
    /* garbage in the middle of the deflate data: the decoder or the CRC
     * catches it, or tar if the garbage inflates to a broken header */
    memcpy(bad.p, gz.p, gz.len);
    for (size_t i = 0; i < 64; i++)
        bad.p[gz.len / 2 + i] ^= (unsigned char)(0xa5 + i);
    expect_failure(&bad, "gzip", "tar");
    /* zstd garbage after the magic */
    bad.len = 0;
    buf_add(&bad, "\x28\xb5\x2f\xfd\xff\xff\xff\xff\xff\xff\xff\xff", 12);
    expect_failure(&bad, "zstd", NULL);

    /* a tar header with a wrong checksum (the second entry) */
    bad.len = 0;
    buf_add(&bad, tar.p, tar.len);
    size_t hdr = 0;
    /* find "etc/hostname"'s ustar header; flip its checksum field */
    for (size_t off = 0; off + 512 <= bad.len; off += 512)
        if (!memcmp(bad.p + off + 257, "ustar", 5) &&
            !strcmp((char *)bad.p + off, "etc/hostname")) {
            hdr = off;
            break;
        }
    assert_true(hdr > 0);
    bad.p[hdr + 148] ^= 0x11;
    expect_failure(&bad, "tar", NULL);
    /* not a tar at all */
    bad.len = 0;
    buf_add(&bad, "hello, world, this is not a tar archive\n", 40);
    expect_failure(&bad, "tar", NULL);
    /* gzip of something that is not a tar */
    struct buf gzjunk = gzip_buf("not a tar at all, not at all", 28);
    expect_failure(&gzjunk, "tar", NULL);
    free_buf(&gzjunk);
    free_buf(&bad);
    free_buf(&tar);
    free_buf(&gz);
}

static int count_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* Free in the middle of a layer: the thread stops, nothing leaks (ASan),
 * and a failed unpack keeps failing. */
static void test_abort(void **state)
{
    (void)state;
    assert_root();
    struct tb t;
    tb_begin(&t);
    for (int i = 0; i < 40; i++) {
        char n[32];
        snprintf(n, sizeof(n), "f%02d", i);
        tb_add(&t, &(struct ent){.name = n, .type = AE_IFREG, .size = 100000});
    }
    struct buf tar = tb_end(&t);
    struct buf gz = gzip_buf(tar.p, tar.len);
    int before = count_threads();
    for (int variant = 0; variant < 3; variant++) {
        rk_unpack *u = NULL;
        rk_error *err = NULL;
        rk_unpack_opts o = {.root_fd = layer_fd,
                            .is_bottom = true,
                            .chunk_size = 8192,
                            .n_chunks = 2};
        assert_int_equal(rk_unpack_new(&o, &u, &err), 0);
        assert_int_equal(count_threads(), before + 1);
        size_t n = variant == 0 ? 0 : variant == 1 ? 3 : gz.len / 2;
        assert_int_equal(rk_unpack_feed(u, gz.p, n, &err), 0);
        rk_unpack_free(u);
        assert_int_equal(count_threads(), before);
    }
    /* After an error every call fails. */
    rk_unpack *u = NULL;
    rk_error *err = NULL;
    rk_unpack_opts o = {.root_fd = layer_fd, .is_bottom = true};
    assert_int_equal(rk_unpack_new(&o, &u, &err), 0);
    unsigned char junk[64];
    memcpy(junk, gz.p, 10);
    memset(junk + 10, 0xff, sizeof(junk) - 10);
    int r = rk_unpack_feed(u, junk, sizeof(junk), &err);
    if (r == 0)
        r = rk_unpack_finish(u, (char[RK_DIGEST_LEN + 1]){0}, &err);
    assert_int_equal(r, -1);
    assert_non_null(err);
    rk_error_free(err);
    err = NULL;
    assert_int_equal(rk_unpack_feed(u, gz.p, 10, &err), -1);
    assert_non_null(strstr(err->msg, "already failed"));
    rk_error_free(err);
    rk_unpack_free(u);
    assert_int_equal(count_threads(), before);
    free_buf(&tar);
    free_buf(&gz);
}

/* rk_unpack_fd on a file. */
static void test_unpack_fd(void **state)
{
    (void)state;
    assert_root();
    struct buf tar = small_tar(10);
    struct buf zs = zstd_buf(tar.p, tar.len);
    _cleanup_free_ char *p = rk_xasprintf("%s/layer.zst", base);
    assert_int_equal(
        rk_write_file_atomic(AT_FDCWD, p, zs.p, zs.len, 0644, NULL), 0);
    _cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    char id[RK_DIGEST_LEN + 1], want[RK_DIGEST_LEN + 1];
    rk_sha256_buf(tar.p, tar.len, want);
    rk_error *err = NULL;
    rk_unpack_opts o = {.root_fd = layer_fd, .is_bottom = true};
    if (rk_unpack_fd(&o, fd, id, &err) < 0)
        fail_msg("%s", err->msg);
    assert_string_equal(id, want);
    check_small();
    free_buf(&tar);
    free_buf(&zs);
}

/* ---------------------------------------------------------------------- */
/* Whiteouts                                                               */

static void put_at(int dfd, const char *rel, const char *data)
{
    int fd = openat(dfd, rel, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(rk_write_all(fd, data, strlen(data)), 0);
    close(fd);
}

static struct buf whiteout_tar(void)
{
    struct tb t;
    tb_begin(&t);
    tb_add(&t, &(struct ent){.name = "a/.wh.b", .type = AE_IFREG});
    tb_add(&t, &(struct ent){.name = "d/.wh..wh..opq", .type = AE_IFREG});
    tb_add(&t, &(struct ent){.name = "d/new", .type = AE_IFREG, .data = "new"});
    tb_add(&t, &(struct ent){.name = "e/", .type = AE_IFDIR, .perm = 0700});
    tb_add(&t, &(struct ent){.name = "e/.wh..wh..opq", .type = AE_IFREG});
    tb_add(&t, &(struct ent){.name = "f/.wh.g", .type = AE_IFREG});
    /* whiteout and real entry of one name: the real one wins */
    tb_add(&t, &(struct ent){.name = ".wh.h", .type = AE_IFREG});
    tb_add(&t, &(struct ent){.name = "h", .type = AE_IFREG, .data = "h!"});
    tb_add(&t, &(struct ent){.name = "i", .type = AE_IFREG, .data = "i!"});
    tb_add(&t, &(struct ent){.name = ".wh.i", .type = AE_IFREG});
    tb_add(&t, &(struct ent){.name = "j/", .type = AE_IFDIR, .perm = 0755});
    tb_add(&t, &(struct ent){.name = "j/mine", .type = AE_IFREG, .data = "j"});
    tb_add(&t, &(struct ent){.name = ".wh.j", .type = AE_IFREG});
    tb_add(&t, &(struct ent){.name = ".wh.k", .type = AE_IFREG});
    tb_add(&t, &(struct ent){.name = "k/", .type = AE_IFDIR, .perm = 0755});
    tb_add(&t, &(struct ent){.name = "k/mine", .type = AE_IFREG, .data = "k"});
    tb_add(&t, &(struct ent){.name = ".wh..wh.plnk", .type = AE_IFDIR});
    return tb_end(&t);
}

static int make_whiteout_lower(void)
{
    int lo = mklower("lo");
    const char *dirs[] = {"a", "d", "e", "j", "k"};
    for (size_t i = 0; i < RK_ELEMENTSOF(dirs); i++)
        assert_int_equal(mkdirat(lo, dirs[i], 0755), 0);
    /* the directory a gets copied attributes when the layer needs it */
    _cleanup_free_ char *pa = rk_xasprintf("%s/lo/a", base);
    assert_int_equal(chmod(pa, 0750), 0);
    assert_int_equal(chown(pa, 5, 6), 0);
    _cleanup_free_ char *plo = rk_xasprintf("%s/lo", base);
    _cleanup_close_ int lfd = open(plo, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    put_at(lfd, "a/b", "lower b");
    put_at(lfd, "a/c", "lower c");
    put_at(lfd, "d/x", "lower x");
    put_at(lfd, "e/y", "lower y");
    put_at(lfd, "h", "lower h");
    put_at(lfd, "j/old", "old");
    put_at(lfd, "k/old", "old");
    put_at(lfd, "top", "lower top");
    struct timespec ts[2] = {{500, 1}, {600, 2}};
    assert_int_equal(utimensat(AT_FDCWD, pa, ts, 0), 0);
    return lo;
}

static void test_whiteouts(void **state)
{
    (void)state;
    assert_root();
    int lo = make_whiteout_lower();
    struct buf tar = whiteout_tar();
    char id[RK_DIGEST_LEN + 1];
    rk_error *err = NULL;
    if (unpack_buf(&tar, false, &lo, 1, 0, id, &err) < 0)
        fail_msg("%s", err->msg);
    close(lo);

    assert_true(is_whiteout("a/b"));
    assert_false(exists("a/.wh.b"));
    struct stat st;
    lst("a", &st);
    assert_int_equal(st.st_mode & 07777, 0750);
    assert_int_equal(st.st_uid, 5);
    assert_int_equal(st.st_gid, 6);
    assert_int_equal(st.st_mtim.tv_sec, 600);
    assert_false(exists("a/c"));
    assert_true(is_opaque("d"));
    assert_false(exists("d/.wh..wh..opq"));
    assert_true(exists("d/new"));
    assert_true(is_opaque("e"));
    lst("e", &st);
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_true(is_whiteout("f/g"));
    lst("f", &st);
    assert_int_equal(st.st_mode & 07777, 0755);
    lst("h", &st);
    assert_true(S_ISREG(st.st_mode));
    lst("i", &st);
    assert_true(S_ISREG(st.st_mode));
    assert_true(is_opaque("j"));
    assert_true(is_opaque("k"));
    assert_false(is_opaque("a"));
    assert_false(exists(".wh..wh.plnk"));
    assert_false(exists(".wh.h"));

    /* What overlayfs makes of it. */
    _cleanup_free_ char *m = rk_xasprintf("%s/m", base);
    assert_int_equal(mkdir(m, 0755), 0);
    _cleanup_free_ char *opts = rk_xasprintf("lowerdir=%s/L:%s/lo", base, base);
    if (mount("overlay", m, "overlay", MS_RDONLY, opts) < 0)
        fail_msg("mount overlay: %s", strerror(errno));
    const char *gone[] = {"a/b", "d/x", "e/y", "j/old", "k/old", "f/g"};
    const char *there[] = {"a/c", "d/new", "h", "i", "j/mine", "k/mine", "top"};
    int bad = 0;
    for (size_t i = 0; i < RK_ELEMENTSOF(gone); i++) {
        _cleanup_free_ char *p = rk_xasprintf("%s/%s", m, gone[i]);
        struct stat s2;
        if (lstat(p, &s2) == 0) {
            print_error("still visible: %s\n", gone[i]);
            bad++;
        }
    }
    for (size_t i = 0; i < RK_ELEMENTSOF(there); i++) {
        _cleanup_free_ char *p = rk_xasprintf("%s/%s", m, there[i]);
        struct stat s2;
        if (lstat(p, &s2) < 0) {
            print_error("missing: %s\n", there[i]);
            bad++;
        }
    }
    _cleanup_free_ char *hp = rk_xasprintf("%s/h", m);
    char *hc = NULL;
    assert_int_equal(rk_read_file_at(AT_FDCWD, hp, 0, &hc, NULL, NULL), 0);
    assert_string_equal(hc, "h!");
    free(hc);
    assert_int_equal(umount2(m, MNT_DETACH), 0);
    assert_int_equal(bad, 0);
    free_buf(&tar);
}

/* On the bottom layer whiteouts hide nothing and are dropped. */
static void test_whiteouts_bottom(void **state)
{
    (void)state;
    assert_root();
    struct buf tar = whiteout_tar();
    char id[RK_DIGEST_LEN + 1];
    rk_error *err = NULL;
    if (unpack_buf(&tar, true, NULL, 0, 0, id, &err) < 0)
        fail_msg("%s", err->msg);
    assert_false(exists("a"));
    assert_false(exists("a/.wh.b"));
    assert_false(exists("f"));
    assert_false(is_opaque("d"));
    assert_true(exists("d/new"));
    assert_false(is_opaque("e"));
    assert_false(is_opaque("j"));
    assert_false(is_opaque("k"));
    struct stat st;
    lst("h", &st);
    assert_true(S_ISREG(st.st_mode));
    lst("i", &st);
    assert_true(S_ISREG(st.st_mode));
    free_buf(&tar);
}

/* ---------------------------------------------------------------------- */
/* Replacement within one layer                                            */

static void test_replace(void **state)
{
    (void)state;
    assert_root();
    _cleanup_free_ char *hf = rk_xasprintf("%s/r6", hostd);
    struct tb t;
    tb_begin(&t);
    tb_add(&t, &(struct ent){.name = "r1", .type = AE_IFREG, .data = "one"});
    tb_add(&t,
           &(struct ent){
               .name = "r1", .type = AE_IFREG, .data = "two", .perm = 0600});
    tb_add(&t, &(struct ent){.name = "r2/", .type = AE_IFDIR});
    tb_add(&t, &(struct ent){.name = "r2/c/", .type = AE_IFDIR});
    tb_add(&t, &(struct ent){.name = "r2/c/f", .type = AE_IFREG, .data = "f"});
    tb_add(&t, &(struct ent){.name = "r2", .type = AE_IFREG, .data = "file"});
    tb_add(&t, &(struct ent){.name = "r3/", .type = AE_IFDIR, .perm = 0700});
    tb_add(&t, &(struct ent){.name = "r3/c", .type = AE_IFREG, .data = "c"});
    tb_add(&t, &(struct ent){.name = "r3/",
                             .type = AE_IFDIR,
                             .perm = 0755,
                             .uid = 9,
                             .mtime = 4242});
    tb_add(&t, &(struct ent){.name = "r4", .type = AE_IFLNK, .symlink = "x"});
    tb_add(&t, &(struct ent){.name = "r4", .type = AE_IFREG, .data = "r4"});
    tb_add(&t, &(struct ent){.name = "r5", .type = AE_IFREG, .data = "r5"});
    tb_add(&t, &(struct ent){.name = "r5/", .type = AE_IFDIR});
    tb_add(&t, &(struct ent){.name = "r5/in", .type = AE_IFREG, .data = "in"});
    /* a symlink pointing at the host, replaced by a file: the file lands in
     * the layer, the host is never written */
    tb_add(&t, &(struct ent){.name = "r6", .type = AE_IFLNK, .symlink = hf});
    tb_add(&t, &(struct ent){.name = "r6", .type = AE_IFREG, .data = "r6"});
    tb_add(&t, &(struct ent){.name = "r7", .type = AE_IFREG, .data = "old7"});
    tb_add(&t, &(struct ent){.name = "r7", .hardlink = "r1"});
    tb_add(&t, &(struct ent){.name = "r8", .type = AE_IFDIR});
    tb_add(&t, &(struct ent){.name = "r8", .type = AE_IFLNK, .symlink = "r1"});
    struct buf tar = tb_end(&t);
    char id[RK_DIGEST_LEN + 1];
    rk_error *err = NULL;
    if (unpack_buf(&tar, true, NULL, 0, 0, id, &err) < 0)
        fail_msg("%s", err->msg);
    char *c = content("r1");
    assert_string_equal(c, "two");
    free(c);
    struct stat st;
    lst("r1", &st);
    assert_int_equal(st.st_mode & 07777, 0600);
    lst("r2", &st);
    assert_true(S_ISREG(st.st_mode));
    lst("r3", &st);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0755);
    assert_int_equal(st.st_uid, 9);
    assert_int_equal(st.st_mtim.tv_sec, 4242);
    assert_true(exists("r3/c"));
    lst("r4", &st);
    assert_true(S_ISREG(st.st_mode));
    lst("r5", &st);
    assert_true(S_ISDIR(st.st_mode));
    assert_true(exists("r5/in"));
    lst("r6", &st);
    assert_true(S_ISREG(st.st_mode));
    struct stat s1, s7;
    lst("r1", &s1);
    lst("r7", &s7);
    assert_int_equal(s1.st_ino, s7.st_ino);
    lst("r8", &st);
    assert_true(S_ISLNK(st.st_mode));
    assert_host_empty();
    free_buf(&tar);
}

/* Names are cleaned lexically: "." and empty components go, ".." takes
 * the previous component away (never above the top). */
static void test_names(void **state)
{
    (void)state;
    assert_root();
    struct tb t;
    tb_begin(&t);
    tb_add(&t, &(struct ent){
                   .name = "./n1/./n2//n3", .type = AE_IFREG, .data = "1"});
    tb_add(&t,
           &(struct ent){.name = "m1/m2/../m3", .type = AE_IFREG, .data = "2"});
    tb_add(&t, &(struct ent){.name = "k1/k2/k3/../../k4/", .type = AE_IFDIR});
    tb_add(&t, &(struct ent){
                   .name = "j1/../../../j2", .type = AE_IFREG, .data = "3"});
    tb_add(&t,
           &(struct ent){.name = "//abs//x", .type = AE_IFREG, .data = "4"});
    tb_add(&t, &(struct ent){.name = "hl", .hardlink = "m1/zz/../m3"});
    struct buf b = tb_end(&t);
    char id[RK_DIGEST_LEN + 1];
    rk_error *err = NULL;
    if (unpack_buf(&b, true, NULL, 0, 0, id, &err) < 0)
        fail_msg("%s", err->msg);
    assert_true(exists("n1/n2/n3"));
    assert_true(exists("m1/m3"));
    assert_false(exists("m1/m2"));
    struct stat st;
    lst("k1/k4", &st);
    assert_true(S_ISDIR(st.st_mode));
    assert_false(exists("k1/k2"));
    assert_true(exists("j2"));
    assert_true(exists("abs/x"));
    struct stat a, h;
    lst("m1/m3", &a);
    lst("hl", &h);
    assert_int_equal(a.st_ino, h.st_ino);
    free_buf(&b);
}

/* ---------------------------------------------------------------------- */
/* Hostile archives                                                        */

/* Unpack one hostile tar into a fresh layer; the host dir must stay
 * empty whatever happens. Returns 0 or -1 (error text in *msg). */
static int hostile(struct buf *tar, char **msg)
{
    /* a fresh, empty layer */
    _cleanup_free_ char *l = rk_xasprintf("%s/L", base);
    assert_int_equal(rk_rm_rf(l, NULL), 0);
    assert_int_equal(mkdir(l, 0755), 0);
    close(layer_fd);
    layer_fd = open(l, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true(layer_fd >= 0);
    char id[RK_DIGEST_LEN + 1];
    rk_error *err = NULL;
    int r = unpack_buf(tar, false, NULL, 0, 0, id, &err);
    *msg = NULL;
    if (r < 0) {
        assert_non_null(err);
        *msg = rk_xstrdup(err->msg);
        rk_error_free(err);
    }
    assert_host_empty();
    free_buf(tar);
    return r;
}

static void test_hostile_paths(void **state)
{
    (void)state;
    assert_root();
    const char *hrel = hostd + 1; /* "tmp/rk-unpack-host-XXXXXX" */
    char *msg;
    struct tb t;
    struct buf b;

    /* ../ at the top stays at the top */
    tb_begin(&t);
    _cleanup_free_ char *dots = rk_xasprintf("../../../../%s/evil", hostd);
    tb_add(&t, &(struct ent){.name = dots, .type = AE_IFREG, .data = "e"});
    tb_add(&t, &(struct ent){.name = "../../../../tmp/evil2",
                             .type = AE_IFREG,
                             .data = "e"});
    b = tb_end(&t);
    assert_int_equal(hostile(&b, &msg), 0);
    _cleanup_free_ char *in = rk_xasprintf("%s/evil", hrel);
    assert_true(exists(in));
    assert_true(exists("tmp/evil2"));
    assert_int_equal(access("/tmp/evil2", F_OK), -1);

    /* absolute names */
    tb_begin(&t);
    tb_add(&t, &(struct ent){
                   .name = "/etc/evil-abs", .type = AE_IFREG, .data = "e"});
    _cleanup_free_ char *abs = rk_xasprintf("%s/abs", hostd);
    tb_add(&t, &(struct ent){.name = abs, .type = AE_IFREG, .data = "e"});
    b = tb_end(&t);
    assert_int_equal(hostile(&b, &msg), 0);
    assert_true(exists("etc/evil-abs"));
    assert_int_equal(access("/etc/evil-abs", F_OK), -1);

    /* an absolute symlink to the host dir, then a file through it: the
     * symlink resolves inside the layer, where the missing directories are
     * created */
    tb_begin(&t);
    tb_add(&t,
           &(struct ent){.name = "escape", .type = AE_IFLNK, .symlink = hostd});
    tb_add(&t,
           &(struct ent){.name = "escape/file", .type = AE_IFREG, .data = "e"});
    b = tb_end(&t);
    assert_int_equal(hostile(&b, &msg), 0);
    {
        _cleanup_free_ char *f = rk_xasprintf("%s/file", hrel);
        assert_true(exists(f));
        struct stat st;
        lst("escape", &st);
        assert_true(S_ISLNK(st.st_mode));
    }

    /* the same, with the target directory present in the layer: the file
     * lands there */
    tb_begin(&t);
    _cleanup_free_ char *tdir = rk_xasprintf("%s/", hrel);
    tb_add(&t, &(struct ent){.name = tdir, .type = AE_IFDIR});
    tb_add(&t,
           &(struct ent){.name = "escape", .type = AE_IFLNK, .symlink = hostd});
    tb_add(&t,
           &(struct ent){.name = "escape/file", .type = AE_IFREG, .data = "e"});
    tb_add(&t, &(struct ent){
                   .name = "escape/sub/deeper", .type = AE_IFREG, .data = "e"});
    b = tb_end(&t);
    assert_int_equal(hostile(&b, &msg), 0);
    _cleanup_free_ char *conf = rk_xasprintf("%s/file", hrel);
    assert_true(exists(conf));
    _cleanup_free_ char *conf2 = rk_xasprintf("%s/sub/deeper", hrel);
    assert_true(exists(conf2));

    /* a relative symlink climbing out */
    tb_begin(&t);
    tb_add(&t, &(struct ent){.name = "up",
                             .type = AE_IFLNK,
                             .symlink = "../../../../.."});
    _cleanup_free_ char *upx = rk_xasprintf("up/%s/x", hrel);
    tb_add(&t, &(struct ent){.name = upx, .type = AE_IFREG, .data = "e"});
    tb_add(&t, &(struct ent){.name = "a/b/up2",
                             .type = AE_IFLNK,
                             .symlink = "../../../../../../"});
    _cleanup_free_ char *upy = rk_xasprintf("a/b/up2/%s/y", hrel);
    tb_add(&t, &(struct ent){.name = upy, .type = AE_IFREG, .data = "e"});
    /* the literal case: up/tmp/x is LAYER/tmp/x, the host's /tmp/x (if
     * any) is not touched */
    tb_add(&t, &(struct ent){
                   .name = "up/tmp/x", .type = AE_IFREG, .data = "layer"});
    b = tb_end(&t);
    struct stat tx0, tx1;
    int had_tx = lstat("/tmp/x", &tx0);
    assert_int_equal(hostile(&b, &msg), 0);
    assert_int_equal(lstat("/tmp/x", &tx1), had_tx);
    if (had_tx == 0) {
        assert_int_equal(tx0.st_ino, tx1.st_ino);
        assert_int_equal(tx0.st_size, tx1.st_size);
        assert_int_equal(tx0.st_mtim.tv_nsec, tx1.st_mtim.tv_nsec);
    }
    char *lc = content("tmp/x");
    assert_string_equal(lc, "layer");
    free(lc);
    _cleanup_free_ char *inx = rk_xasprintf("%s/x", hrel);
    assert_true(exists(inx));
    _cleanup_free_ char *iny = rk_xasprintf("%s/y", hrel);
    assert_true(exists(iny));

    /* a chain of symlinks ending on the host */
    tb_begin(&t);
    tb_add(&t, &(struct ent){.name = tdir, .type = AE_IFDIR});
    tb_add(&t, &(struct ent){.name = "c1", .type = AE_IFLNK, .symlink = "c2"});
    tb_add(&t,
           &(struct ent){.name = "c2", .type = AE_IFLNK, .symlink = "./c3"});
    tb_add(&t, &(struct ent){.name = "c3", .type = AE_IFLNK, .symlink = hostd});
    tb_add(&t,
           &(struct ent){.name = "c1/chained", .type = AE_IFREG, .data = "e"});
    _cleanup_free_ char *rel4 = rk_xasprintf("../../../../../..%s", hostd);
    tb_add(&t, &(struct ent){.name = "c4", .type = AE_IFLNK, .symlink = rel4});
    tb_add(&t, &(struct ent){.name = "c5", .type = AE_IFLNK, .symlink = "c4"});
    tb_add(&t,
           &(struct ent){.name = "c5/chained2", .type = AE_IFREG, .data = "e"});
    b = tb_end(&t);
    assert_int_equal(hostile(&b, &msg), 0);
    _cleanup_free_ char *ch = rk_xasprintf("%s/chained", hrel);
    assert_true(exists(ch));
    _cleanup_free_ char *ch2 = rk_xasprintf("%s/chained2", hrel);
    assert_true(exists(ch2));

    /* a symlink loop */
    tb_begin(&t);
    tb_add(&t, &(struct ent){
                   .name = "loop1", .type = AE_IFLNK, .symlink = "loop2"});
    tb_add(&t, &(struct ent){
                   .name = "loop2", .type = AE_IFLNK, .symlink = "loop1"});
    tb_add(&t, &(struct ent){.name = "loop1/x", .type = AE_IFREG, .data = "e"});
    b = tb_end(&t);
    assert_int_equal(hostile(&b, &msg), -1);
    assert_non_null(strstr(msg, "loop1"));
    free(msg);
}

static void test_hostile_hardlinks(void **state)
{
    (void)state;
    assert_root();
    struct stat pw0, pw1;
    assert_int_equal(stat("/etc/passwd", &pw0), 0);
    char *msg;
    struct tb t;
    struct buf b;
    const char *targets[] = {"/etc/passwd", "../../etc/passwd",
                             "../../../../../../../etc/passwd", "etcl/passwd"};
    for (size_t i = 0; i < RK_ELEMENTSOF(targets); i++) {
        tb_begin(&t);
        tb_add(&t, &(struct ent){
                       .name = "etcl", .type = AE_IFLNK, .symlink = "/etc"});
        tb_add(&t, &(struct ent){.name = "h", .hardlink = targets[i]});
        b = tb_end(&t);
        assert_int_equal(hostile(&b, &msg), -1);
        if (!strstr(msg, "hardlink target") || !strstr(msg, "passwd"))
            fail_msg("unexpected error: %s", msg);
        free(msg);
        assert_false(exists("h"));
    }
    assert_int_equal(stat("/etc/passwd", &pw1), 0);
    assert_int_equal(pw0.st_nlink, pw1.st_nlink);

    /* a hardlink to a host file reached through a symlinked directory the
     * layer has: resolves inside the layer */
    tb_begin(&t);
    _cleanup_free_ char *hf = rk_xasprintf("%s/f", hostd + 1);
    tb_add(&t, &(struct ent){.name = hf, .type = AE_IFREG, .data = "layer"});
    tb_add(&t, &(struct ent){.name = "hl", .type = AE_IFLNK, .symlink = hostd});
    tb_add(&t, &(struct ent){.name = "h2", .hardlink = "hl/f"});
    /* a hardlink to a symlink links the symlink itself */
    tb_add(&t, &(struct ent){.name = "h3", .hardlink = "hl"});
    b = tb_end(&t);
    assert_int_equal(hostile(&b, &msg), 0);
    char *c = content("h2");
    assert_string_equal(c, "layer");
    free(c);
    struct stat st;
    lst("h3", &st);
    assert_true(S_ISLNK(st.st_mode));

    /* hardlinks to directories */
    tb_begin(&t);
    tb_add(&t, &(struct ent){.name = "dir/", .type = AE_IFDIR});
    tb_add(&t, &(struct ent){.name = "hd", .hardlink = "dir"});
    b = tb_end(&t);
    assert_int_equal(hostile(&b, &msg), -1);
    assert_non_null(strstr(msg, "directory"));
    free(msg);
    tb_begin(&t);
    tb_add(&t, &(struct ent){.name = "hroot", .hardlink = "./"});
    b = tb_end(&t);
    assert_int_equal(hostile(&b, &msg), -1);
    free(msg);
}

/* Parents are resolved as in the merged view: a lower layer's symlink
 * (usrmerge's bin -> usr/bin) is followed, not shadowed by a new directory;
 * a lower symlink pointing at the host stays inside the layer. */
static void test_lower_symlinks(void **state)
{
    (void)state;
    assert_root();
    int lo = mklower("lo");
    _cleanup_free_ char *pl = rk_xasprintf("%s/lo", base);
    _cleanup_close_ int d = open(pl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_int_equal(mkdirat(d, "usr", 0755), 0);
    assert_int_equal(mkdirat(d, "usr/bin", 0751), 0);
    assert_int_equal(mkdirat(d, "usr/lib64", 0755), 0);
    put_at(d, "usr/bin/old", "old");
    assert_int_equal(symlinkat("usr/bin", d, "bin"), 0);
    assert_int_equal(symlinkat("/usr/lib64", d, "lib64"), 0);
    assert_int_equal(symlinkat(hostd, d, "evil"), 0);
    assert_int_equal(symlinkat("../../../../../..", d, "evil2"), 0);
    assert_int_equal(mkdirat(d, "sub", 0755), 0);
    assert_int_equal(symlinkat("../usr/./bin", d, "sub/rel"), 0);

    struct tb t;
    tb_begin(&t);
    tb_add(&t,
           &(struct ent){.name = "bin/foo", .type = AE_IFREG, .data = "foo"});
    tb_add(&t, &(struct ent){.name = "bin/.wh.old", .type = AE_IFREG});
    tb_add(&t, &(struct ent){.name = "bin/foo2", .hardlink = "bin/foo"});
    tb_add(&t, &(struct ent){
                   .name = "lib64/ld.so", .type = AE_IFREG, .data = "ld"});
    tb_add(&t, &(struct ent){
                   .name = "sub/rel/viarel", .type = AE_IFREG, .data = "r"});
    tb_add(&t, &(struct ent){.name = "evil/x", .type = AE_IFREG, .data = "e"});
    _cleanup_free_ char *e2 = rk_xasprintf("evil2/%s/y", hostd + 1);
    tb_add(&t, &(struct ent){.name = e2, .type = AE_IFREG, .data = "e"});
    struct buf b = tb_end(&t);
    char id[RK_DIGEST_LEN + 1];
    rk_error *err = NULL;
    if (unpack_buf(&b, false, &lo, 1, 0, id, &err) < 0)
        fail_msg("%s", err->msg);
    free_buf(&b);
    close(lo);
    assert_false(exists("bin"));
    assert_false(exists("lib64"));
    assert_false(exists("evil"));
    assert_true(exists("usr/bin/foo"));
    assert_true(is_whiteout("usr/bin/old"));
    struct stat s1, s2;
    lst("usr/bin/foo", &s1);
    lst("usr/bin/foo2", &s2);
    assert_int_equal(s1.st_ino, s2.st_ino);
    assert_true(exists("usr/lib64/ld.so"));
    assert_true(exists("usr/bin/viarel"));
    struct stat st;
    lst("usr/bin", &st);
    assert_int_equal(st.st_mode & 07777, 0751); /* copied from below */
    _cleanup_free_ char *x = rk_xasprintf("%s/x", hostd + 1);
    assert_true(exists(x));
    _cleanup_free_ char *y = rk_xasprintf("%s/y", hostd + 1);
    assert_true(exists(y));
    assert_host_empty();

    /* and through overlayfs: /bin is still the link, foo is in it */
    _cleanup_free_ char *m = rk_xasprintf("%s/m", base);
    assert_int_equal(mkdir(m, 0755), 0);
    _cleanup_free_ char *opts = rk_xasprintf("lowerdir=%s/L:%s/lo", base, base);
    if (mount("overlay", m, "overlay", MS_RDONLY, opts) < 0)
        fail_msg("mount overlay: %s", strerror(errno));
    _cleanup_free_ char *mb = rk_xasprintf("%s/bin", m);
    _cleanup_free_ char *mf = rk_xasprintf("%s/bin/foo", m);
    _cleanup_free_ char *mo = rk_xasprintf("%s/bin/old", m);
    struct stat sb, sf, so;
    int rb = lstat(mb, &sb), rf = stat(mf, &sf), ro = stat(mo, &so);
    assert_int_equal(umount2(m, MNT_DETACH), 0);
    assert_int_equal(rb, 0);
    assert_true(S_ISLNK(sb.st_mode));
    assert_int_equal(rf, 0);
    assert_int_equal(ro, -1);
}

/* A hardlink into a lower layer becomes a copy; whiteouts and opaque
 * directories in between hide the target. */
static void test_lower_hardlink(void **state)
{
    (void)state;
    assert_root();
    int lo1 = mklower("lo1"), lo2 = mklower("lo2");
    _cleanup_free_ char *p2 = rk_xasprintf("%s/lo2", base);
    _cleanup_close_ int d2 = open(p2, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_int_equal(mkdirat(d2, "usr", 0755), 0);
    assert_int_equal(mkdirat(d2, "usr/bin", 0755), 0);
    assert_int_equal(mkdirat(d2, "opq", 0755), 0);
    put_at(d2, "usr/bin/x", "lower x");
    put_at(d2, "opq/t", "hidden");
    put_at(d2, "gone", "deleted above");
    _cleanup_free_ char *px = rk_xasprintf("%s/usr/bin/x", p2);
    assert_int_equal(chown(px, 3, 4), 0);
    assert_int_equal(chmod(px, 04751), 0);
    assert_int_equal(setxattr(px, "user.k", "v", 1, 0), 0);
    struct timespec ts[2] = {{777, 7}, {888, 8}};
    assert_int_equal(utimensat(AT_FDCWD, px, ts, 0), 0);
    assert_int_equal(symlinkat("x", d2, "usr/bin/lx"), 0);
    /* lo1 is above lo2: an opaque opq and a whiteout for gone */
    _cleanup_free_ char *p1 = rk_xasprintf("%s/lo1", base);
    _cleanup_close_ int d1 = open(p1, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_int_equal(mkdirat(d1, "opq", 0755), 0);
    _cleanup_free_ char *po = rk_xasprintf("%s/opq", p1);
    assert_int_equal(setxattr(po, "trusted.overlay.opaque", "y", 1, 0), 0);
    assert_int_equal(mknodat(d1, "gone", S_IFCHR, makedev(0, 0)), 0);
    int lowers[2] = {lo1, lo2};

    struct tb t;
    tb_begin(&t);
    tb_add(&t, &(struct ent){.name = "usr/bin/y", .hardlink = "usr/bin/x"});
    tb_add(&t, &(struct ent){.name = "usr/bin/ly", .hardlink = "usr/bin/lx"});
    struct buf b = tb_end(&t);
    char id[RK_DIGEST_LEN + 1];
    rk_error *err = NULL;
    if (unpack_buf(&b, false, lowers, 2, 0, id, &err) < 0)
        fail_msg("%s", err->msg);
    free_buf(&b);
    char *c = content("usr/bin/y");
    assert_string_equal(c, "lower x");
    free(c);
    struct stat st;
    lst("usr/bin/y", &st);
    assert_int_equal(st.st_uid, 3);
    assert_int_equal(st.st_gid, 4);
    assert_int_equal(st.st_mode & 07777, 04751);
    assert_int_equal(st.st_mtim.tv_sec, 888);
    assert_int_equal(st.st_mtim.tv_nsec, 8);
    char v[8];
    assert_int_equal(lx("usr/bin/y", "user.k", v, sizeof(v)), 1);
    lst("usr/bin/ly", &st);
    assert_true(S_ISLNK(st.st_mode));

    const char *hidden[] = {"gone", "opq/t", "usr/bin/none"};
    for (size_t i = 0; i < RK_ELEMENTSOF(hidden); i++) {
        tb_begin(&t);
        tb_add(&t, &(struct ent){.name = "h", .hardlink = hidden[i]});
        b = tb_end(&t);
        err = NULL;
        assert_int_equal(unpack_buf(&b, false, lowers, 2, 0, id, &err), -1);
        assert_non_null(strstr(err->msg, "hardlink target"));
        rk_error_free(err);
        free_buf(&b);
    }
    /* this layer's own whiteout hides the lower target */
    tb_begin(&t);
    tb_add(&t, &(struct ent){.name = "usr/bin/.wh.x", .type = AE_IFREG});
    tb_add(&t, &(struct ent){.name = "usr/bin/z", .hardlink = "usr/bin/x"});
    b = tb_end(&t);
    err = NULL;
    assert_int_equal(unpack_buf(&b, false, lowers, 2, 0, id, &err), -1);
    assert_non_null(strstr(err->msg, "hardlink target"));
    rk_error_free(err);
    free_buf(&b);
    close(lo1);
    close(lo2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_metadata_gzip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metadata_small_ring, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_diff_id_gzip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_diff_id_zstd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_diff_id_none, setup, teardown),
        cmocka_unit_test_setup_teardown(test_feed_bytewise, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gzip_members, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_layer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unpack_fd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_whiteouts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_whiteouts_bottom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_hardlinks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lower_hardlink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lower_symlinks, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
