/* runtime/sandbox: paths from an image are resolved inside its root. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "runtime/sandbox.h"

static char base[64], root[128], outside[128];

static int setup(void **state)
{
    (void)state;
    strcpy(base, "/tmp/rk-test-sb-XXXXXX");
    assert_non_null(mkdtemp(base));
    snprintf(root, sizeof(root), "%s/root", base);
    snprintf(outside, sizeof(outside), "%s/outside", base);
    assert_int_equal(mkdir(root, 0755), 0);
    assert_int_equal(mkdir(outside, 0755), 0);
    _cleanup_free_ char *etc = rk_path_join(root, "etc");
    assert_int_equal(mkdir(etc, 0755), 0);
    /* Links an evil image could ship. */
    _cleanup_free_ char *abs = rk_path_join(root, "abs");
    assert_int_equal(symlink(outside, abs), 0);
    _cleanup_free_ char *up = rk_path_join(root, "etc/up");
    assert_int_equal(symlink("../../../../../../../../..", up), 0);
    _cleanup_free_ char *resolv = rk_path_join(root, "etc/resolv.conf");
    assert_int_equal(symlink("/run/systemd/resolve/stub-resolv.conf", resolv), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rk_rm_rf(base, NULL);
    return 0;
}

static int entries(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    if (d)
        closedir(d);
    return n;
}

static void test_creates_inside(void **state)
{
    (void)state;
    _cleanup_close_ int rfd = open(root, O_PATH | O_DIRECTORY);
    assert_true(rfd >= 0);
    int fd = rk_open_in_root(rfd, "/a/b/c", true, true, NULL);
    assert_true(fd >= 0);
    close(fd);
    _cleanup_free_ char *p = rk_path_join(root, "a/b/c");
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    fd = rk_open_in_root(rfd, "/a/file", false, true, NULL);
    assert_true(fd >= 0);
    close(fd);
    _cleanup_free_ char *f = rk_path_join(root, "a/file");
    assert_int_equal(stat(f, &st), 0);
    assert_true(S_ISREG(st.st_mode));
}

static void test_symlinks_stay_inside(void **state)
{
    (void)state;
    _cleanup_close_ int rfd = open(root, O_PATH | O_DIRECTORY);
    /* An absolute link to a host directory: resolved as <root>/<target>. */
    int fd = rk_open_in_root(rfd, "/abs/x", true, true, NULL);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(entries(outside), 0);
    _cleanup_free_ char *inside = rk_xasprintf("%s%s/x", root, outside);
    struct stat st;
    assert_int_equal(stat(inside, &st), 0);
    /* A relative link climbing out stops at the root. */
    fd = rk_open_in_root(rfd, "/etc/up/escaped", true, true, NULL);
    assert_true(fd >= 0);
    close(fd);
    _cleanup_free_ char *esc = rk_path_join(root, "escaped");
    assert_int_equal(stat(esc, &st), 0);
    _cleanup_free_ char *host_esc = rk_path_join(base, "escaped");
    assert_int_equal(stat(host_esc, &st), -1);
    assert_int_equal(stat("/escaped", &st), -1);
}

static void test_missing_without_create(void **state)
{
    (void)state;
    _cleanup_close_ int rfd = open(root, O_PATH | O_DIRECTORY);
    rk_error *err = NULL;
    assert_int_equal(rk_open_in_root(rfd, "/no/such", true, false, &err), -1);
    assert_non_null(strstr(err->msg, "/no/such"));
    rk_error_free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_creates_inside),
        cmocka_unit_test(test_symlinks_stay_inside),
        cmocka_unit_test(test_missing_without_create),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
