/* Unit tests for src/base: errors, digests, string vectors, files. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/file.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "base/digest.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/strv.h"

static void test_error_chain(void **state)
{
    (void)state;
    rk_error *err = NULL;
    assert_int_equal(rk_error_set(&err, ECONNRESET, "fetching layer %s", "x"), -1);
    rk_error_wrap(&err, "pulling %s", "debian:12");
    assert_string_equal(err->msg,
                        "pulling debian:12: fetching layer x: Connection reset by peer");
    assert_int_equal(err->errnum, ECONNRESET);
    /* A second root cause does not replace the first. */
    rk_error_set(&err, 0, "later");
    assert_non_null(strstr(err->msg, "fetching layer x"));
    rk_error_free(err);
    /* A NULL err is allowed and ignored. */
    assert_int_equal(rk_error_set(NULL, 0, "ignored"), -1);
    rk_error *s = NULL;
    rk_error_set_status(&s, 125, 0, "bad");
    assert_int_equal(s->status, 125);
    rk_error_free(s);
}

static void test_digest(void **state)
{
    (void)state;
    char d[RK_DIGEST_LEN + 1];
    rk_sha256_buf("", 0, d);
    assert_string_equal(d, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_true(rk_digest_valid(d));
    rk_sha256 h;
    rk_sha256_init(&h);
    rk_sha256_update(&h, "ab", 2);
    rk_sha256_update(&h, "c", 1);
    rk_sha256_final(&h, d);
    assert_string_equal(d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_false(rk_digest_valid("sha256:BA7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    assert_false(rk_digest_valid("sha256:ba7816bf"));
    assert_false(rk_digest_valid("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0"));
    assert_false(rk_digest_valid("sha256:../../../../etc/passwd"));
    assert_false(rk_digest_valid(NULL));
    rk_error *err = NULL;
    assert_int_equal(rk_digest_check("sha512:abc", &err), -1);
    assert_non_null(strstr(err->msg, "unsupported digest algorithm"));
    rk_error_free(err);
    _cleanup_free_ char *s = rk_digest_short(d);
    assert_string_equal(s, "ba7816bf8f01");
}

static void test_strv(void **state)
{
    (void)state;
    _cleanup_strv_ char **v = NULL;
    assert_int_equal(rk_strv_len(v), 0);
    rk_strv_push_dup(&v, "a");
    rk_strv_push_dup(&v, "b c");
    assert_int_equal(rk_strv_len(v), 2);
    assert_true(rk_strv_contains(v, "b c"));
    assert_false(rk_strv_contains(v, "b"));
    _cleanup_free_ char *j = rk_strv_join(v, ",");
    assert_string_equal(j, "a,b c");
    unsigned long long n;
    assert_true(rk_parse_uint64("42", &n));
    assert_int_equal(n, 42);
    assert_false(rk_parse_uint64("-1", &n));
    assert_false(rk_parse_uint64("4x", &n));
    assert_false(rk_parse_uint64("99999999999999999999999", &n));
    _cleanup_free_ char *p = rk_path_join("/a/", "/b");
    assert_string_equal(p, "/a/b");
}

/* Both ways: the close_range() call, and the per-descriptor fallback that
 * kernels before 5.11 (no CLOSE_RANGE_CLOEXEC) take. */
static void test_cloexec_from(void **state)
{
    (void)state;
    for (int fast = 0; fast < 2; fast++) {
        int keep = open("/dev/null", O_RDONLY); /* no O_CLOEXEC */
        int a = open("/dev/null", O_RDONLY);
        int b = fcntl(a, F_DUPFD, 200);
        assert_true(keep >= 0 && a > keep && b >= 200);
        assert_int_equal(fcntl(a, F_GETFD) & FD_CLOEXEC, 0);
        rk_cloexec_from(a, fast);
        assert_int_equal(fcntl(keep, F_GETFD) & FD_CLOEXEC, 0); /* below lowfd */
        assert_int_equal(fcntl(a, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
        assert_int_equal(fcntl(b, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
        assert_true(fcntl(a, F_GETFD) >= 0 && fcntl(b, F_GETFD) >= 0); /* still open */
        close(keep);
        close(a);
        close(b);
    }
}

static void test_files(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/rk-test-base-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    _cleanup_close_ int dfd = open(tmpl, O_RDONLY | O_DIRECTORY);
    assert_true(dfd >= 0);
    assert_int_equal(rk_write_file_atomic(dfd, "f", "hello", 5, 0644, NULL), 0);
    assert_int_equal(rk_write_file_atomic(dfd, "f", "world!", 6, 0600, NULL), 0);
    char *buf = NULL;
    size_t len = 0;
    assert_int_equal(rk_read_file_at(dfd, "f", 0, &buf, &len, NULL), 0);
    assert_int_equal(len, 6);
    assert_string_equal(buf, "world!");
    free(buf);
    struct stat st;
    assert_int_equal(fstatat(dfd, "f", &st, 0), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    /* No temporary is left behind. */
    assert_int_equal(mkdirat(dfd, "d", 0755), 0);
    assert_int_equal(mkdirat(dfd, "d/e", 0755), 0);
    assert_int_equal(symlinkat("/etc", dfd, "d/e/link"), 0);
    assert_int_equal(rk_rm_rf_at(dfd, "d", NULL), 0);
    assert_false(rk_path_exists_at(dfd, "d"));
    /* The symlink's target survived. */
    assert_true(rk_path_exists_at(AT_FDCWD, "/etc/passwd"));
    int l1 = rk_lock_at(dfd, "lock", LOCK_EX, NULL);
    assert_true(l1 >= 0);
    int l2 = rk_lock_at(dfd, "lock", LOCK_EX | LOCK_NB, NULL);
    assert_int_equal(l2, -2);
    close(l1);
    l2 = rk_lock_at(dfd, "lock", LOCK_EX | LOCK_NB, NULL);
    assert_true(l2 >= 0);
    close(l2);
    assert_int_equal(rk_rm_rf(tmpl, NULL), 0);
    assert_false(rk_path_exists_at(AT_FDCWD, tmpl));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_chain),
        cmocka_unit_test(test_digest),
        cmocka_unit_test(test_strv),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_cloexec_from),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
