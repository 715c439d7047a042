/* Packing an overlayfs-format layer directory as an OCI layer blob.
 *
 * The tar is written by libarchive (pax, numeric owners, xattrs), hashed
 * for the diff_id, compressed with ISA-L's deflate (level 1: a provisioned
 * layer is written once and read by `skopeo`/`umoci` rarely, so speed wins
 * over size) and hashed again for the blob digest, in one pass.
 *
 * Overlay's format becomes OCI's: a 0:0 character device NAME becomes an
 * empty file .wh.NAME, a directory with trusted.overlay.opaque=y gets a
 * .wh..wh..opq entry. overlayfs' bookkeeping xattrs (trusted.overlay.*) are
 * not put in the tar and are removed from the directory, which becomes a
 * lower layer: origin and impure refer to the file system it was an upper
 * of. The walk never follows symlinks. */
#include "image/pack.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <isa-l/igzip_lib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/strv.h"

#define OUT_CHUNK (256u << 10)

struct packer {
    int out_fd;
    rk_sha256 tar_hash, blob_hash;
    struct isal_zstream z;
    unsigned char *level_buf;
    unsigned char *out;
    int64_t blob_size;
    rk_error *err;
    /* hardlinks: (dev, ino) -> first path in the tar */
    struct link {
        dev_t dev;
        ino_t ino;
        char *path;
    } *links;
    size_t n_links;
};

static int flush_out(struct packer *p, size_t n)
{
    if (!n)
        return 0;
    rk_sha256_update(&p->blob_hash, p->out, n);
    if (rk_write_all(p->out_fd, p->out, n) < 0)
        return rk_error_set(&p->err, errno, "writing the layer blob");
    p->blob_size += (int64_t)n;
    return 0;
}

static int deflate_some(struct packer *p, const void *data, size_t len, bool end)
{
    p->z.next_in = (uint8_t *)data;
    p->z.avail_in = (uint32_t)len;
    p->z.end_of_stream = end ? 1 : 0;
    for (;;) {
        p->z.next_out = p->out;
        p->z.avail_out = OUT_CHUNK;
        if (isal_deflate(&p->z) != COMP_OK)
            return rk_error_set(&p->err, 0, "compressing the layer");
        if (flush_out(p, OUT_CHUNK - p->z.avail_out) < 0)
            return -1;
        if (end ? p->z.internal_state.state == ZSTATE_END : p->z.avail_in == 0)
            return 0;
    }
}

static la_ssize_t tar_write_cb(struct archive *a, void *ud, const void *buf, size_t len)
{
    (void)a;
    struct packer *p = ud;
    rk_sha256_update(&p->tar_hash, buf, len);
    if (deflate_some(p, buf, len, false) < 0)
        return -1;
    return (la_ssize_t)len;
}

static bool overlay_xattr(const char *name)
{
    return rk_startswith(name, "trusted.overlay.") || rk_startswith(name, "user.overlay.");
}

/* Copy the xattrs of path into the entry; drop overlay's own (and remove
 * the bookkeeping ones from the file: it becomes a lower layer). */
static int add_xattrs(struct packer *p, struct archive_entry *e, const char *path)
{
    char list[8192];
    ssize_t n = llistxattr(path, list, sizeof(list));
    if (n < 0) {
        if (errno == ENOTSUP)
            return 0;
        return rk_error_set(&p->err, errno, "listing xattrs of %s", path);
    }
    for (char *name = list; name < list + n; name += strlen(name) + 1) {
        if (overlay_xattr(name)) {
            if (strcmp(name, "trusted.overlay.opaque") != 0)
                lremovexattr(path, name);
            continue;
        }
        char val[65536];
        ssize_t vl = lgetxattr(path, name, val, sizeof(val));
        if (vl < 0)
            return rk_error_set(&p->err, errno, "reading xattr %s of %s", name, path);
        archive_entry_xattr_add_entry(e, name, val, (size_t)vl);
    }
    return 0;
}

static int write_entry(struct packer *p, struct archive *a, struct archive_entry *e,
                       const char *what)
{
    if (archive_write_header(a, e) != ARCHIVE_OK)
        return p->err ? -1
                      : rk_error_set(&p->err, 0, "packing %s: %s", what, archive_error_string(a));
    return 0;
}

static int write_marker(struct packer *p, struct archive *a, const char *name, const struct stat *st)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0);
    archive_entry_set_size(e, 0);
    archive_entry_set_mtime(e, st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
    int r = write_entry(p, a, e, name);
    archive_entry_free(e);
    return r;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* rel: path inside the layer ("" for the root, else "a/b"). */
static int pack_dir(struct packer *p, struct archive *a, const char *root, const char *rel)
{
    _cleanup_free_ char *abs = *rel ? rk_xasprintf("%s/%s", root, rel) : rk_xstrdup(root);
    _cleanup_closedir_ DIR *d = opendir(abs);
    if (!d)
        return rk_error_set(&p->err, errno, "opening %s", abs);
    _cleanup_strv_ char **names = NULL;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            rk_strv_push_dup(&names, de->d_name);
    if (names)
        qsort(names, rk_strv_len(names), sizeof(char *), name_cmp);
    for (size_t i = 0; names && names[i]; i++) {
        _cleanup_free_ char *child_rel = *rel ? rk_xasprintf("%s/%s", rel, names[i])
                                              : rk_xstrdup(names[i]);
        _cleanup_free_ char *child = rk_xasprintf("%s/%s", root, child_rel);
        struct stat st;
        if (lstat(child, &st) < 0)
            return rk_error_set(&p->err, errno, "stat %s", child);
        if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
            _cleanup_free_ char *wh = *rel ? rk_xasprintf("%s/.wh.%s", rel, names[i])
                                           : rk_xasprintf(".wh.%s", names[i]);
            if (write_marker(p, a, wh, &st) < 0)
                return -1;
            continue;
        }
        if (S_ISSOCK(st.st_mode))
            continue; /* sockets do not go into tars */
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, child_rel);
        archive_entry_copy_stat(e, &st);
        archive_entry_set_uname(e, NULL);
        archive_entry_set_gname(e, NULL);
        if (add_xattrs(p, e, child) < 0) {
            archive_entry_free(e);
            return -1;
        }
        if (S_ISLNK(st.st_mode)) {
            char target[4096];
            ssize_t tl = readlink(child, target, sizeof(target) - 1);
            if (tl < 0) {
                archive_entry_free(e);
                return rk_error_set(&p->err, errno, "readlink %s", child);
            }
            target[tl] = 0;
            archive_entry_set_symlink(e, target);
        }
        bool content = S_ISREG(st.st_mode);
        if (content && st.st_nlink > 1) {
            const char *first = NULL;
            for (size_t k = 0; k < p->n_links; k++)
                if (p->links[k].dev == st.st_dev && p->links[k].ino == st.st_ino)
                    first = p->links[k].path;
            if (first) {
                archive_entry_set_hardlink(e, first);
                archive_entry_set_size(e, 0);
                content = false;
            } else {
                p->links = rk_xrealloc(p->links, (p->n_links + 1) * sizeof(*p->links));
                p->links[p->n_links++] =
                    (struct link){.dev = st.st_dev, .ino = st.st_ino, .path = rk_xstrdup(child_rel)};
            }
        }
        int fd = -1;
        if (content) {
            fd = open(child, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0) {
                archive_entry_free(e);
                return rk_error_set(&p->err, errno, "opening %s", child);
            }
        }
        int r = write_entry(p, a, e, child_rel);
        archive_entry_free(e);
        if (r == 0 && fd >= 0) {
            static char buf[1 << 16];
            for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                    continue;
                if (n < 0) {
                    r = rk_error_set(&p->err, errno, "reading %s", child);
                    break;
                }
                if (n == 0)
                    break;
                if (archive_write_data(a, buf, (size_t)n) != n) {
                    r = p->err ? -1
                               : rk_error_set(&p->err, 0, "packing %s: %s", child_rel,
                                              archive_error_string(a));
                    break;
                }
            }
        }
        if (fd >= 0)
            close(fd);
        if (r < 0)
            return -1;
        if (S_ISDIR(st.st_mode)) {
            char v[2];
            if (lgetxattr(child, "trusted.overlay.opaque", v, sizeof(v)) == 1 && v[0] == 'y') {
                _cleanup_free_ char *opq = rk_xasprintf("%s/.wh..wh..opq", child_rel);
                if (write_marker(p, a, opq, &st) < 0)
                    return -1;
            }
            if (pack_dir(p, a, root, child_rel) < 0)
                return -1;
        }
    }
    return 0;
}

int rk_layer_pack_direct(const char *dir, int out_fd, char blob_digest[RK_DIGEST_LEN + 1],
                         char diff_id[RK_DIGEST_LEN + 1], int64_t *blob_size, rk_error **err)
{
    struct packer p = {.out_fd = out_fd};
    if (rk_sha256_init(&p.tar_hash) < 0 || rk_sha256_init(&p.blob_hash) < 0)
        return rk_error_set(err, ENOMEM, "sha256");
    isal_deflate_init(&p.z);
    p.z.gzip_flag = IGZIP_GZIP;
    p.z.level = 1;
    p.z.level_buf_size = ISAL_DEF_LVL1_DEFAULT;
    p.level_buf = rk_xmalloc(p.z.level_buf_size);
    p.z.level_buf = p.level_buf;
    p.out = rk_xmalloc(OUT_CHUNK);
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    /* Names are bytes, not text in the current locale: without this,
     * libarchive fails on a name that is not valid in it (ca-certificates
     * ships UTF-8 names; racker runs in the C locale). */
    archive_write_set_options(a, "hdrcharset=BINARY");
    archive_write_set_bytes_per_block(a, 10240);
    int r = -1;
    if (archive_write_open2(a, &p, NULL, tar_write_cb, NULL, NULL) != ARCHIVE_OK) {
        rk_error_set(&p.err, 0, "starting the tar: %s", archive_error_string(a));
        goto out;
    }
    if (pack_dir(&p, a, dir, "") < 0)
        goto out;
    if (archive_write_close(a) != ARCHIVE_OK) {
        if (!p.err)
            rk_error_set(&p.err, 0, "finishing the tar: %s", archive_error_string(a));
        goto out;
    }
    if (deflate_some(&p, NULL, 0, true) < 0)
        goto out;
    rk_sha256_final(&p.tar_hash, diff_id);
    rk_sha256_final(&p.blob_hash, blob_digest);
    *blob_size = p.blob_size;
    r = 0;
out:
    archive_write_free(a);
    rk_sha256_free(&p.tar_hash);
    rk_sha256_free(&p.blob_hash);
    free(p.level_buf);
    free(p.out);
    for (size_t k = 0; k < p.n_links; k++)
        free(p.links[k].path);
    free(p.links);
    if (r < 0) {
        if (err && !*err)
            *err = p.err;
        else
            rk_error_free(p.err);
        return rk_error_wrap(err, "packing layer %s", dir);
    }
    return 0;
}
