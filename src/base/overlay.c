#include "base/overlay.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/strv.h"

/* overlayfs separates lowerdir entries with ':' and options with ','; a
 * path holding either cannot be passed in the classic string form. */
static bool path_ok_for_string(const char *p)
{
    return !strpbrk(p, ":,");
}

static int mount_new_api(const char *target, char *const *lowers, size_t n,
                         const char *upper, const char *work, bool readonly,
                         rk_error **err)
{
    _cleanup_close_ int fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
    if (fsfd < 0)
        return -errno;
    /* lowerdir+ takes the topmost layer first. */
    for (size_t i = n; i-- > 0;)
        if (fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir+", lowers[i], 0) < 0)
            return -errno;
    if (upper) {
        if (fsconfig(fsfd, FSCONFIG_SET_STRING, "upperdir", upper, 0) < 0 ||
            fsconfig(fsfd, FSCONFIG_SET_STRING, "workdir", work, 0) < 0)
            return rk_error_set(err, errno, "overlay upper %s", upper), -EIO;
    }
    /* No redirect/metacopy trust from layer contents: images are
     * untrusted data. */
    fsconfig(fsfd, FSCONFIG_SET_STRING, "redirect_dir", "off", 0);
    if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
        /* Before 6.5 overlayfs had no fs_context of its own: the generic
         * legacy one takes any key in fsconfig() and the filesystem only
         * refuses "lowerdir+" here, with EINVAL (Debian 12's 6.1, Ubuntu
         * 22.04's 5.15). The caller retries with the classic string. */
        if (errno == EINVAL)
            return -EINVAL;
        return rk_error_set(err, errno, "creating overlay for %s", target), -EIO;
    }
    _cleanup_close_ int mfd =
        fsmount(fsfd, FSMOUNT_CLOEXEC, readonly ? MOUNT_ATTR_RDONLY : 0);
    if (mfd < 0)
        return rk_error_set(err, errno, "fsmount overlay for %s", target), -EIO;
    if (move_mount(mfd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        return rk_error_set(err, errno, "mounting overlay on %s", target), -EIO;
    return 0;
}

int rk_overlay_mount(const char *target, char *const *lowers, const char *upper,
                     const char *work, const char *empty_dir, bool readonly,
                     rk_error **err)
{
    size_t n = rk_strv_len(lowers);
    _cleanup_strv_ char **l = NULL;
    if (!upper && n < 2) {
        if (!empty_dir)
            return rk_error_set(err, EINVAL,
                                "overlay on %s needs two lower layers", target);
        rk_strv_push_dup(&l, empty_dir);
    }
    for (size_t i = 0; i < n; i++)
        rk_strv_push_dup(&l, lowers[i]);
    n = rk_strv_len(l);
    if (n == 0)
        return rk_error_set(err, EINVAL, "overlay on %s without layers", target);

    int r = mount_new_api(target, l, n, upper, work, readonly, err);
    if (r == 0)
        return 0;
    if (r == -EIO)
        return -1; /* a real failure, already described */

    /* Older kernel: the classic option string, topmost layer first. */
    _cleanup_free_ char *opts = NULL;
    size_t cap = 64;
    for (size_t i = 0; i < n; i++) {
        if (!path_ok_for_string(l[i]))
            return rk_error_set(err, EINVAL, "layer path %s has ':' or ','", l[i]);
        cap += strlen(l[i]) + 1;
    }
    cap += (upper ? strlen(upper) : 0) + (work ? strlen(work) : 0) + 64;
    opts = rk_xmalloc(cap);
    char *p = opts;
    p += sprintf(p, "lowerdir=");
    for (size_t i = n; i-- > 0;)
        p += sprintf(p, "%s%s", l[i], i ? ":" : "");
    if (upper)
        p += sprintf(p, ",upperdir=%s,workdir=%s", upper, work);
    sprintf(p, ",redirect_dir=off");
    if (strlen(opts) >= 4096)
        return rk_error_set(err, E2BIG,
                            "too many layers for this kernel's overlay mount options (%zu)",
                            n);
    if (mount("overlay", target, "overlay", readonly ? MS_RDONLY : 0, opts) < 0)
        return rk_error_set(err, errno, "mounting overlay on %s", target);
    return 0;
}
