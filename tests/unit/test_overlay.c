/* rk_overlay_mount: layer order, single layer, read-only, upper. Needs root
 * (CI runs as root); without it the test fails rather than pretending.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/overlay.h"
#include "base/strv.h"

static char base[64];

static void put(const char *rel, const char *content)
{
    _cleanup_free_ char *p = rk_xasprintf("%s/%s", base, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static char *get(const char *rel)
{
    _cleanup_free_ char *p = rk_xasprintf("%s/%s", base, rel);
    char *buf = NULL;
    if (rk_read_file_at(AT_FDCWD, p, 0, &buf, NULL, NULL) < 0)
        return NULL;
    return buf;
}

static int setup(void **state)
{
    (void)state;
    if (geteuid() != 0)
        return 0;
    strcpy(base, "/tmp/rk-test-ovl-XXXXXX");
    assert_non_null(mkdtemp(base));
    const char *dirs[] = {"l1", "l2", "l3", "empty", "m", "up", "work"};
    for (size_t i = 0; i < RK_ELEMENTSOF(dirs); i++) {
        _cleanup_free_ char *p = rk_xasprintf("%s/%s", base, dirs[i]);
        assert_int_equal(mkdir(p, 0755), 0);
    }
    put("l1/a", "1");
    put("l1/b", "1");
    put("l2/b", "2");
    put("l3/c", "3");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (geteuid() != 0)
        return 0;
    _cleanup_free_ char *m = rk_xasprintf("%s/m", base);
    umount2(m, MNT_DETACH);
    rk_rm_rf(base, NULL);
    return 0;
}

static void test_stack_order(void **state)
{
    (void)state;
    if (geteuid() != 0)
        fail_msg("this test needs root (make check runs as root)");
    _cleanup_free_ char *m = rk_xasprintf("%s/m", base);
    _cleanup_strv_ char **lowers = NULL;
    rk_strv_push(&lowers, rk_xasprintf("%s/l1", base));
    rk_strv_push(&lowers, rk_xasprintf("%s/l2", base));
    rk_strv_push(&lowers, rk_xasprintf("%s/l3", base));
    rk_error *err = NULL;
    int r = rk_overlay_mount(m, lowers, NULL, NULL, NULL, true, &err);
    if (r < 0)
        fail_msg("%s", err->msg);
    _cleanup_free_ char *a = get("m/a"), *b = get("m/b"), *c = get("m/c");
    assert_string_equal(a, "1");
    assert_string_equal(b, "2"); /* the upper layer wins */
    assert_string_equal(c, "3");
    /* read-only */
    _cleanup_free_ char *np = rk_xasprintf("%s/m/new", base);
    assert_true(open(np, O_CREAT | O_WRONLY, 0644) < 0);
    assert_int_equal(umount2(m, 0), 0);
}

static void test_single_layer_and_upper(void **state)
{
    (void)state;
    if (geteuid() != 0)
        fail_msg("this test needs root (make check runs as root)");
    _cleanup_free_ char *m = rk_xasprintf("%s/m", base);
    _cleanup_free_ char *empty = rk_xasprintf("%s/empty", base);
    _cleanup_strv_ char **lowers = NULL;
    rk_strv_push(&lowers, rk_xasprintf("%s/l3", base));
    rk_error *err = NULL;
    /* One layer and no upper needs the empty directory. */
    assert_int_equal(rk_overlay_mount(m, lowers, NULL, NULL, NULL, true, &err), -1);
    assert_non_null(err);
    rk_error_free(err);
    err = NULL;
    if (rk_overlay_mount(m, lowers, NULL, NULL, empty, true, &err) < 0)
        fail_msg("%s", err->msg);
    _cleanup_free_ char *c = get("m/c");
    assert_string_equal(c, "3");
    assert_int_equal(umount2(m, 0), 0);

    _cleanup_free_ char *up = rk_xasprintf("%s/up", base);
    _cleanup_free_ char *work = rk_xasprintf("%s/work", base);
    if (rk_overlay_mount(m, lowers, up, work, NULL, false, &err) < 0)
        fail_msg("%s", err->msg);
    put("m/written", "w");
    assert_int_equal(umount2(m, 0), 0);
    _cleanup_free_ char *w = get("up/written");
    assert_string_equal(w, "w");
    _cleanup_free_ char *lw = get("l3/written");
    assert_null(lw); /* the lower layer is untouched */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stack_order),
        cmocka_unit_test(test_single_layer_and_upper),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
