/* Unit tests for image/layers.c: the merged view of overlay-format layer
 * directories, without mounting. Needs root for whiteouts (mknod) and
 * trusted.* xattrs; fails (never skips) without it. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "image/layers.h"

static char base[64];
static char *layers[3];

static char *P(int layer, const char *rel)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof(buf[k]), "%s/%s", layers[layer], rel);
    return buf[k];
}

static void mkd(int l, const char *rel)
{
    _cleanup_free_ char *p = rk_xasprintf("%s/%s", layers[l], rel);
    assert_int_equal(rk_mkdir_p(p, 0755, NULL), 0);
}

static void file(int l, const char *rel, const char *content, mode_t mode)
{
    FILE *f = fopen(P(l, rel), "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
    assert_int_equal(chmod(P(l, rel), mode), 0);
}

static int setup(void **state)
{
    (void)state;
    if (geteuid() != 0)
        fail_msg("this test needs root (make check runs as root)");
    strcpy(base, "/tmp/rk-test-layers-XXXXXX");
    assert_non_null(mkdtemp(base));
    for (int i = 0; i < 3; i++) {
        layers[i] = rk_xasprintf("%s/l%d", base, i);
        assert_int_equal(mkdir(layers[i], 0755), 0);
    }
    /* Layer 0: a usrmerged base. */
    mkd(0, "usr/bin");
    mkd(0, "usr/lib/systemd");
    mkd(0, "etc");
    mkd(0, "opq");
    mkd(0, "gone-dir");
    assert_int_equal(symlink("usr/bin", P(0, "bin")), 0);
    assert_int_equal(symlink("usr/lib", P(0, "lib")), 0);
    file(0, "usr/bin/sh", "sh", 0755);
    file(0, "usr/lib/systemd/systemd", "systemd", 0755);
    file(0, "usr/lib/os-release", "ID=debian\n", 0644);
    assert_int_equal(symlink("../usr/lib/os-release", P(0, "etc/os-release")), 0);
    file(0, "opq/a", "a", 0644);
    file(0, "gone", "gone", 0644);
    file(0, "gone-dir/x", "x", 0644);
    file(0, "noexec", "n", 0644);
    assert_int_equal(symlink("/etc", P(0, "esc")), 0);
    assert_int_equal(symlink("../../../../../..", P(0, "up")), 0);
    assert_int_equal(symlink("/loop", P(0, "loop")), 0);
    /* Layer 1: whiteouts, an opaque dir, additions. */
    mkd(1, "opq");
    assert_int_equal(lsetxattr(P(1, "opq"), "trusted.overlay.opaque", "y", 1, 0), 0);
    file(1, "opq/b", "b", 0644);
    assert_int_equal(mknod(P(1, "gone"), S_IFCHR | 0000, makedev(0, 0)), 0);
    assert_int_equal(mknod(P(1, "gone-dir"), S_IFCHR | 0000, makedev(0, 0)), 0);
    mkd(1, "usr/bin");
    file(1, "usr/bin/new", "new", 0755);
    mkd(1, "etc");
    file(1, "etc/hostname", "box\n", 0644);
    /* Layer 2: a directory replaced by a file hides the lower children. */
    mkd(2, "usr");
    file(2, "usr/lib", "now a file", 0644);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rk_rm_rf(base, NULL);
    for (int i = 0; i < 3; i++)
        free(layers[i]);
    return 0;
}

static void test_symlinks_and_merge(void **state)
{
    (void)state;
    _cleanup_free_ char *host = NULL;
    struct stat st;
    /* Two layers only: layer 2 comes later. */
    assert_int_equal(rk_layers_lookup(layers, 2, "/bin/sh", true, &host, &st, NULL), 0);
    assert_string_equal(host, P(0, "usr/bin/sh"));
    assert_true(rk_layers_is_executable(layers, 2, "/lib/systemd/systemd"));
    assert_true(rk_layers_is_executable(layers, 2, "/bin/new"));
    assert_false(rk_layers_is_executable(layers, 2, "/noexec"));
    assert_false(rk_layers_is_executable(layers, 2, "/nothing"));
    _cleanup_free_ char *text = NULL;
    assert_int_equal(rk_layers_read_file(layers, 2, "/etc/os-release", 0, &text, NULL, NULL), 0);
    assert_string_equal(text, "ID=debian\n");
    /* Without following the last symlink. */
    free(host);
    host = NULL;
    assert_int_equal(rk_layers_lookup(layers, 2, "/etc/os-release", false, &host, &st, NULL), 0);
    assert_true(S_ISLNK(st.st_mode));
    /* ".." is resolved in the merged view. */
    _cleanup_free_ char *h2 = NULL;
    assert_int_equal(rk_layers_lookup(layers, 2, "/usr/bin/../lib/os-release", true, &h2, &st,
                                      NULL), 0);
    assert_string_equal(h2, P(0, "usr/lib/os-release"));
}

static void test_whiteouts_and_opaque(void **state)
{
    (void)state;
    rk_error *err = NULL;
    struct stat st;
    assert_int_equal(rk_layers_lookup(layers, 2, "/gone", true, NULL, &st, &err), -1);
    assert_int_equal(err->errnum, ENOENT);
    rk_error_free(err);
    err = NULL;
    assert_int_equal(rk_layers_lookup(layers, 2, "/gone-dir/x", true, NULL, &st, NULL), -1);
    assert_int_equal(rk_layers_lookup(layers, 2, "/opq/a", true, NULL, &st, NULL), -1);
    assert_int_equal(rk_layers_lookup(layers, 2, "/opq/b", true, NULL, &st, NULL), 0);
    /* Only layer 0: the whiteouts are not there yet. */
    assert_int_equal(rk_layers_lookup(layers, 1, "/gone", true, NULL, &st, NULL), 0);
    assert_int_equal(rk_layers_lookup(layers, 1, "/opq/a", true, NULL, &st, NULL), 0);
}

static void test_replaced_directory(void **state)
{
    (void)state;
    struct stat st;
    rk_error *err = NULL;
    /* With layer 2, /usr/lib is a file: systemd below it is hidden. */
    assert_false(rk_layers_is_executable(layers, 3, "/lib/systemd/systemd"));
    assert_int_equal(rk_layers_lookup(layers, 3, "/usr/lib/systemd", true, NULL, &st, &err), -1);
    assert_int_equal(err->errnum, ENOTDIR);
    rk_error_free(err);
    /* /usr still merges: bin comes from below. */
    assert_true(rk_layers_is_executable(layers, 3, "/usr/bin/sh"));
}

static void test_symlinks_stay_inside(void **state)
{
    (void)state;
    _cleanup_free_ char *host = NULL, *h2 = NULL;
    struct stat st;
    /* /esc -> /etc is the image's /etc, not the host's. */
    assert_int_equal(rk_layers_lookup(layers, 2, "/esc/hostname", true, &host, &st, NULL), 0);
    assert_string_equal(host, P(1, "etc/hostname"));
    assert_int_equal(rk_layers_lookup(layers, 2, "/esc/passwd", true, NULL, &st, NULL), -1);
    /* Climbing above the root stays at the root. */
    assert_int_equal(rk_layers_lookup(layers, 2, "/up/etc/hostname", true, &h2, &st, NULL), 0);
    assert_string_equal(h2, P(1, "etc/hostname"));
    rk_error *err = NULL;
    assert_int_equal(rk_layers_lookup(layers, 2, "/loop", true, NULL, &st, &err), -1);
    assert_int_equal(err->errnum, ELOOP);
    rk_error_free(err);
    assert_int_equal(rk_layers_lookup(layers, 2, "relative", true, NULL, &st, NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_symlinks_and_merge),
        cmocka_unit_test(test_whiteouts_and_opaque),
        cmocka_unit_test(test_replaced_directory),
        cmocka_unit_test(test_symlinks_stay_inside),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
