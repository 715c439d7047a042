/* The merged view of an image's layers, computed from the layer
 * directories themselves (see layers.h for the rules).
 *
 * Resolution walks the path one component at a time. For the directory
 * resolved so far it keeps `floor`, the lowest layer that may still
 * contribute entries to it: an opaque directory in layer i, or a whiteout
 * or a non-directory of the same name in layer i, hides everything below
 * it, exactly as overlayfs merges them. A symlink restarts resolution with
 * its target put in front of the rest of the path. */
#include "image/layers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/strv.h"

#define MAX_SYMLINK_HOPS 40

static bool is_whiteout(const struct stat *st)
{
    return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

static bool is_opaque(const char *path)
{
    char v[4];
    ssize_t n = lgetxattr(path, "trusted.overlay.opaque", v, sizeof(v));
    return n == 1 && v[0] == 'y';
}

/* The merged entry `dir/name` where dir is a merged directory whose
 * contributing layers are [floor, n). Returns the top layer index or -1
 * (ENOENT), with *ret_st and *ret_child_floor for a directory. */
static int merged_entry(char *const *layers, size_t n, size_t floor, const char *dir,
                        const char *name, struct stat *ret_st, size_t *ret_child_floor)
{
    int top = -1;
    size_t child_floor = floor;
    for (size_t k = n; k-- > floor;) {
        _cleanup_free_ char *p = rk_xasprintf("%s%s/%s", layers[k], dir, name);
        struct stat st;
        if (lstat(p, &st) < 0)
            continue; /* ENOENT, or ENOTDIR for a layer below a replaced parent */
        if (is_whiteout(&st)) {
            if (top < 0)
                return -1;
            child_floor = k + 1;
            break;
        }
        if (top < 0) {
            top = (int)k;
            *ret_st = st;
            if (!S_ISDIR(st.st_mode))
                break;
            if (is_opaque(p)) {
                child_floor = k;
                break;
            }
            continue;
        }
        /* Below a directory: more directories merge in, anything else
         * ends the stack. */
        if (!S_ISDIR(st.st_mode)) {
            child_floor = k + 1;
            break;
        }
        if (is_opaque(p)) {
            child_floor = k;
            break;
        }
    }
    if (top >= 0 && ret_child_floor)
        *ret_child_floor = child_floor;
    return top;
}

/* Split the next component off *rest (skipping slashes). */
static bool next_component(const char **rest, char *out, size_t outlen)
{
    const char *p = *rest;
    while (*p == '/')
        p++;
    if (!*p)
        return false;
    size_t len = strcspn(p, "/");
    if (len >= outlen)
        len = outlen - 1; /* NAME_MAX-sized buffer; longer names cannot exist */
    memcpy(out, p, len);
    out[len] = 0;
    *rest = p + strcspn(p, "/");
    return true;
}

int rk_layers_lookup(char *const *layers, size_t n, const char *path, bool follow,
                     char **ret_host_path, struct stat *ret_st, rk_error **err)
{
    if (!path || path[0] != '/')
        return rk_error_set(err, EINVAL, "not an absolute path: %s", path ? path : "");
    _cleanup_free_ char *todo = rk_xstrdup(path);
    int hops = 0;
restart:;
    /* `done` is the merged directory resolved so far ("" for the root). */
    _cleanup_free_ char *done = rk_xstrdup("");
    size_t floor = 0;
    const char *rest = todo;
    char comp[NAME_MAX + 1];
    while (next_component(&rest, comp, sizeof(comp))) {
        if (!strcmp(comp, "."))
            continue;
        if (!strcmp(comp, "..")) {
            /* `done` holds no symlinks, so ".." is lexical: start again
             * from the root with the parent in front of the rest. */
            char *slash = strrchr(done, '/');
            if (slash)
                *slash = 0;
            char *again = rk_xasprintf("%s/%s", done, rest);
            free(todo);
            todo = again;
            goto restart;
        }
        bool last = true;
        for (const char *q = rest; *q; q++)
            if (*q != '/') {
                last = false;
                break;
            }
        struct stat st;
        size_t child_floor = floor;
        int top = merged_entry(layers, n, floor, done, comp, &st, &child_floor);
        if (top < 0) {
            return rk_error_set(err, ENOENT, "%s/%s", done, comp);
        }
        _cleanup_free_ char *host = rk_xasprintf("%s%s/%s", layers[top], done, comp);
        if (S_ISLNK(st.st_mode) && (!last || follow)) {
            if (++hops > MAX_SYMLINK_HOPS) {
                rk_error_set(err, ELOOP, "%s", path);
                return -1;
            }
            char target[PATH_MAX];
            ssize_t tl = readlink(host, target, sizeof(target) - 1);
            if (tl < 0)
                return rk_error_set(err, errno, "readlink %s", host);
            target[tl] = 0;
            /* An absolute target starts at the image's root, never the
             * host's. */
            char *again = target[0] == '/' ? rk_xasprintf("%s/%s", target, rest)
                                           : rk_xasprintf("%s/%s/%s", done, target, rest);
            free(todo);
            todo = again;
            goto restart;
        }
        if (last) {
            if (ret_host_path)
                *ret_host_path = TAKE_PTR(host);
            if (ret_st)
                *ret_st = st;
            return 0;
        }
        if (!S_ISDIR(st.st_mode)) {
            rk_error_set(err, ENOTDIR, "%s/%s", done, comp);
            return -1;
        }
        char *d = rk_xasprintf("%s/%s", done, comp);
        free(done);
        done = d;
        floor = child_floor;
    }
    /* The path named the root (or only "." and ".."). */
    if (n == 0)
        return rk_error_set(err, ENOENT, "image without layers");
    if (ret_host_path)
        *ret_host_path = rk_xstrdup(layers[n - 1]);
    if (ret_st && lstat(layers[n - 1], ret_st) < 0)
        return rk_error_set(err, errno, "stat %s", layers[n - 1]);
    return 0;
}

int rk_layers_read_file(char *const *layers, size_t n, const char *path, size_t max, char **ret,
                        size_t *ret_len, rk_error **err)
{
    _cleanup_free_ char *host = NULL;
    struct stat st;
    if (rk_layers_lookup(layers, n, path, true, &host, &st, err) < 0)
        return -1;
    if (!S_ISREG(st.st_mode))
        return rk_error_set(err, EINVAL, "%s is not a regular file in the image", path);
    /* O_NOFOLLOW: the file was resolved above; a symlink swapped in
     * meanwhile must not lead out of the layer. */
    _cleanup_close_ int fd = open(host, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return rk_error_set(err, errno, "opening %s", host);
    char self[64];
    snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
    if (rk_read_file_at(AT_FDCWD, self, max, ret, ret_len, err) < 0)
        return rk_error_wrap(err, "reading %s of the image", path);
    return 0;
}

bool rk_layers_is_executable(char *const *layers, size_t n, const char *path)
{
    struct stat st;
    if (rk_layers_lookup(layers, n, path, true, NULL, &st, NULL) < 0)
        return false;
    return S_ISREG(st.st_mode) && (st.st_mode & 0111);
}
