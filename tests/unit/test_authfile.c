/* Unit tests for src/image/authfile.c: key matching, file order, broken
 * files, base64. */
#include <errno.h>
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
#include "base/error.h"
#include "base/fs.h"
#include "base/strv.h"
#include "image/authfile.h"

/* base64("user:pass") and friends */
#define B_USER_PASS "dXNlcjpwYXNz"
#define B_HUB "aHViOmh1YnB3"      /* hub:hubpw */
#define B_NS "bnM6bnNwdw=="       /* ns:nspw */
#define B_REPO "cmVwbzpyZXBvcHc=" /* repo:repopw */
#define B_COLONS "dTpwOmE6c3M="   /* u:p:a:ss */
#define B_NOCOLON "bm9jb2xvbg=="  /* nocolon */
#define B_URL "dXJsOnVybHB3"      /* url:urlpw */

/* "user pass" of a lookup in one buffer, "NONE", or "ERR msg" */
static char *lookup_buf(const char *json, const char *host, const char *repo)
{
    char *u = NULL, *p = NULL;
    rk_error *err = NULL;
    int r = rk_auth_parse_buffer(json, strlen(json), "auth.json", host, repo,
                                 &u, &p, &err);
    char *out;
    if (r < 0) {
        out = rk_xasprintf("ERR %s", err->msg);
        rk_error_free(err);
    } else if (r == 1) {
        assert_null(u);
        assert_null(p);
        out = rk_xstrdup("NONE");
    } else {
        assert_int_equal(r, 0);
        out = rk_xasprintf("%s %s", u, p);
    }
    free(u);
    free(p);
    return out;
}

#define assert_lookup(json, host, repo, want)                                  \
    do {                                                                       \
        char *_g = lookup_buf((json), (host), (repo));                         \
        if (strcmp(_g, (want)))                                                \
            fail_msg("%s %s: got \"%s\", want \"%s\"", (host),                 \
                     (repo) ? (repo) : "-", _g, (want));                       \
        free(_g);                                                              \
    } while (0)

static void test_host_keys(void **state)
{
    (void)state;
    const char *j =
        "{\"auths\": {"
        "\"quay.io\": {\"auth\": \"" B_USER_PASS "\"},"
        "\"127.0.0.1:5000\": {\"auth\": \"" B_NS "\"},"
        "\"https://index.docker.io/v1/\": {\"auth\": \"" B_HUB "\"},"
        "\"http://legacy.example.com/v1/\": {\"auth\": \"" B_URL "\"},"
        "\"creds.example.com\": {\"username\": \"alice\", "
        "\"password\": \"s3cr:et\"},"
        "\"empty.example.com\": {},"
        "\"Upper.Example.COM\": {\"auth\": \"" B_REPO "\"}"
        "}, \"credsStore\": \"desktop\"}";
    assert_lookup(j, "quay.io", "podman/stable", "user pass");
    assert_lookup(j, "quay.io", NULL, "user pass");
    assert_lookup(j, "127.0.0.1:5000", "busybox", "ns nspw");
    assert_lookup(j, "127.0.0.1", "busybox", "NONE");
    assert_lookup(j, "127.0.0.1:5001", "busybox", "NONE");
    assert_lookup(j, "docker.io", "library/debian", "hub hubpw");
    assert_lookup(j, "index.docker.io", "library/debian", "hub hubpw");
    assert_lookup(j, "registry-1.docker.io", "library/debian", "hub hubpw");
    assert_lookup(j, "legacy.example.com", "x/y", "url urlpw");
    assert_lookup(j, "creds.example.com", "x", "alice s3cr:et");
    assert_lookup(j, "empty.example.com", "x", "NONE");
    assert_lookup(j, "upper.example.com", "x", "repo repopw");
    assert_lookup(j, "quay.io.evil.com", "x", "NONE");
    assert_lookup(j, "ay.io", "x", "NONE");
}

static void test_repo_keys(void **state)
{
    (void)state;
    const char *j = "{\"auths\": {"
                    "\"quay.io\": {\"auth\": \"" B_USER_PASS "\"},"
                    "\"quay.io/ns\": {\"auth\": \"" B_NS "\"},"
                    "\"quay.io/ns/repo\": {\"auth\": \"" B_REPO "\"},"
                    "\"docker.io/library\": {\"auth\": \"" B_NS "\"},"
                    "\"https://index.docker.io/v1/\": {\"auth\": \"" B_HUB "\"}"
                    "}}";
    assert_lookup(j, "quay.io", "ns/repo", "repo repopw");
    assert_lookup(j, "quay.io", "ns/repo/sub", "repo repopw");
    assert_lookup(j, "quay.io", "ns/repo2", "ns nspw");
    assert_lookup(j, "quay.io", "ns/other", "ns nspw");
    assert_lookup(j, "quay.io", "nsx/app", "user pass");
    assert_lookup(j, "quay.io", "other/app", "user pass");
    assert_lookup(j, "docker.io", "library/debian", "ns nspw");
    assert_lookup(j, "docker.io", "user/app", "hub hubpw");
}

static void test_exact_key_beats_alias(void **state)
{
    (void)state;
    /* equal specificity: the key written as the host wins over the URL
     * form and the aliases, whatever the order in the file */
    const char *j1 =
        "{\"auths\": {"
        "\"https://index.docker.io/v1/\": {\"auth\": \"" B_HUB "\"},"
        "\"docker.io\": {\"auth\": \"" B_USER_PASS "\"}}}";
    const char *j2 =
        "{\"auths\": {"
        "\"docker.io\": {\"auth\": \"" B_USER_PASS "\"},"
        "\"https://index.docker.io/v1/\": {\"auth\": \"" B_HUB "\"}}}";
    assert_lookup(j1, "docker.io", "library/x", "user pass");
    assert_lookup(j2, "docker.io", "library/x", "user pass");
    /* a credential-less exact entry does not hide a usable alias */
    const char *j3 = "{\"auths\": {"
                     "\"docker.io\": {\"auth\": \"\"},"
                     "\"registry-1.docker.io\": {\"auth\": \"" B_HUB "\"}}}";
    assert_lookup(j3, "docker.io", "library/x", "hub hubpw");
}

static void test_odd_but_valid(void **state)
{
    (void)state;
    assert_lookup("{}", "quay.io", "x", "NONE");
    assert_lookup("{\"auths\": null}", "quay.io", "x", "NONE");
    assert_lookup("{\"auths\": {}}", "quay.io", "x", "NONE");
    assert_lookup("{\"credHelpers\": {\"quay.io\": \"x\"}}", "quay.io", "x",
                  "NONE");
    assert_lookup("{\"auths\": {\"q.io\": {\"auth\": \"" B_COLONS "\"}}}",
                  "q.io", "x", "u p:a:ss");
    /* unpadded base64 is accepted */
    assert_lookup("{\"auths\": {\"q.io\": {\"auth\": \"bnM6bnNwdw\"}}}", "q.io",
                  "x", "ns nspw");
    /* "auth" wins over username/password */
    assert_lookup("{\"auths\": {\"q.io\": {\"auth\": \"" B_NS "\", "
                  "\"username\": \"a\", \"password\": \"b\"}}}",
                  "q.io", "x", "ns nspw");
    /* a broken entry for another registry with a lower score is ignored */
    assert_lookup("{\"auths\": {\"q.io/ns\": {\"auth\": \"" B_NS "\"}, "
                  "\"other.io\": 5}}",
                  "q.io", "ns/x", "ns nspw");
}

static void test_broken(void **state)
{
    (void)state;
    assert_lookup(
        "{\"auths\": {", "q.io", "x",
        "ERR auth.json: invalid JSON at line 1: string or '}' expected near "
        "end of file");
    assert_lookup("[]", "q.io", "x", "ERR auth.json: not a JSON object");
    assert_lookup("{\"auths\": []}", "q.io", "x",
                  "ERR auth.json: \"auths\" is not an object");
    assert_lookup("{\"auths\": {\"q.io\": \"x\"}}", "q.io", "x",
                  "ERR auth.json: entry \"q.io\" is not an object");
    assert_lookup("{\"auths\": {\"q.io\": {\"auth\": 5}}}", "q.io", "x",
                  "ERR auth.json: \"auth\" of \"q.io\" is not a string");
    assert_lookup("{\"auths\": {\"q.io\": {\"auth\": \"!!!!\"}}}", "q.io", "x",
                  "ERR auth.json: \"auth\" of \"q.io\" is not valid base64");
    assert_lookup("{\"auths\": {\"q.io\": {\"auth\": \"" B_NOCOLON "\"}}}",
                  "q.io", "x",
                  "ERR auth.json: \"auth\" of \"q.io\" is not base64 of "
                  "user:password");
    /* base64 of "a\0:b" */
    assert_lookup("{\"auths\": {\"q.io\": {\"auth\": \"YQA6Yg==\"}}}", "q.io",
                  "x",
                  "ERR auth.json: \"auth\" of \"q.io\" is not base64 of "
                  "user:password");
    assert_lookup("{\"auths\": {\"q.io\": {\"username\": 1, \"password\": "
                  "\"x\"}}}",
                  "q.io", "x",
                  "ERR auth.json: \"username\"/\"password\" of \"q.io\" must "
                  "be strings");
    assert_lookup("{\"auths\": {\"q.io\": {}, \"q.io\": {}}}", "q.io", "x",
                  "ERR auth.json: invalid JSON at line 1: duplicate object key "
                  "near '\"q.io\"'");
}

static void test_base64(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } ok[] = {
        {"", ""},
        {"YQ==", "a"},
        {"YQ", "a"},
        {"YWI=", "ab"},
        {"YWI", "ab"},
        {"YWJj", "abc"},
        {"YWJjZA==", "abcd"},
        {"Kz8-", NULL}, /* '-' is not standard */
        {"YQ=", NULL},
        {"YQ===", NULL},
        {"Y", NULL},
        {"YR==", NULL}, /* non-zero padding bits */
        {"Y Q==", NULL},
        {"=YQ=", NULL},
        {"YQ==YQ==", NULL},
    };
    for (size_t i = 0; i < RK_ELEMENTSOF(ok); i++) {
        size_t n = 99;
        char *d = rk_base64_decode(ok[i].in, strlen(ok[i].in), &n);
        if (!ok[i].out) {
            if (d)
                fail_msg("accepted %s", ok[i].in);
            continue;
        }
        if (!d)
            fail_msg("refused %s", ok[i].in);
        assert_int_equal(n, strlen(ok[i].out));
        assert_string_equal(d, ok[i].out);
        free(d);
    }
    size_t n;
    char *d = rk_base64_decode("//79", 4, &n);
    assert_int_equal(n, 3);
    assert_memory_equal(d, "\xff\xfe\xfd", 3);
    free(d);
}

/* ---- files ---- */

static char tmpdir[64];

static char *write_file(const char *rel, const char *text)
{
    char *p = rk_path_join(tmpdir, rel);
    _cleanup_free_ char *dir = rk_xstrdup(p);
    *strrchr(dir, '/') = 0;
    rk_error *err = NULL;
    assert_int_equal(rk_mkdir_p(dir, 0700, &err), 0);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

static int setup_tmp(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/rk-auth-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
    (void)state;
    rk_error *err = NULL;
    rk_rm_rf(tmpdir, &err);
    rk_error_free(err);
    return 0;
}

static void test_file_order(void **state)
{
    (void)state;
    _cleanup_free_ char *a = write_file(
        "a.json", "{\"auths\": {\"quay.io\": {\"auth\": \"" B_NS "\"}}}");
    _cleanup_free_ char *b = write_file(
        "b.json", "{\"auths\": {\"quay.io\": {\"auth\": \"" B_REPO "\"},"
                  "\"docker.io\": {\"auth\": \"" B_HUB "\"}}}");
    _cleanup_free_ char *broken = write_file("broken.json", "{not json");
    _cleanup_free_ char *missing = rk_path_join(tmpdir, "missing.json");
    _cleanup_free_ char *notdir = rk_path_join(a, "x.json");

    char *u = NULL, *p = NULL;
    rk_error *err = NULL;
    const char *files1[] = {missing, notdir, a, b, NULL};
    assert_int_equal(rk_auth_lookup_in(files1, "quay.io", "x/y", &u, &p, &err),
                     0);
    assert_string_equal(u, "ns");
    assert_string_equal(p, "nspw");
    free(u);
    free(p);
    /* a has nothing for docker.io: b answers */
    assert_int_equal(
        rk_auth_lookup_in(files1, "docker.io", "library/x", &u, &p, &err), 0);
    assert_string_equal(u, "hub");
    free(u);
    free(p);
    assert_int_equal(rk_auth_lookup_in(files1, "ghcr.io", "x", &u, &p, &err),
                     1);
    assert_null(u);
    assert_null(p);
    /* a broken file before the answer is an error naming it */
    const char *files2[] = {broken, b, NULL};
    assert_int_equal(rk_auth_lookup_in(files2, "quay.io", "x", &u, &p, &err),
                     -1);
    assert_non_null(strstr(err->msg, broken));
    assert_non_null(strstr(err->msg, "invalid JSON"));
    rk_error_free(err);
    err = NULL;
    /* a broken file after the answer is never read */
    const char *files3[] = {b, broken, NULL};
    assert_int_equal(rk_auth_lookup_in(files3, "quay.io", "x", &u, &p, &err),
                     0);
    assert_string_equal(u, "repo");
    free(u);
    free(p);
    /* an unreadable path (a directory) is an error, not "missing" */
    const char *files4[] = {tmpdir, NULL};
    assert_int_equal(rk_auth_lookup_in(files4, "quay.io", "x", &u, &p, &err),
                     -1);
    assert_int_equal(err->errnum, EISDIR);
    rk_error_free(err);
    err = NULL;
    const char *none[] = {NULL};
    assert_int_equal(rk_auth_lookup_in(none, "quay.io", "x", &u, &p, &err), 1);
}

static void test_default_files(void **state)
{
    (void)state;
    _cleanup_free_ char *xdg = rk_path_join(tmpdir, "run");
    _cleanup_free_ char *home = rk_path_join(tmpdir, "home");
    setenv("REGISTRY_AUTH_FILE", "/nonexistent/auth.json", 1);
    setenv("XDG_RUNTIME_DIR", xdg, 1);
    setenv("HOME", home, 1);
    char **v = rk_auth_default_files();
    assert_int_equal(rk_strv_len(v), 4);
    assert_string_equal(v[0], "/nonexistent/auth.json");
    _cleanup_free_ char *w1 = rk_xasprintf("%s/containers/auth.json", xdg);
    _cleanup_free_ char *w2 =
        rk_xasprintf("%s/.config/containers/auth.json", home);
    _cleanup_free_ char *w3 = rk_xasprintf("%s/.docker/config.json", home);
    assert_string_equal(v[1], w1);
    assert_string_equal(v[2], w2);
    assert_string_equal(v[3], w3);
    rk_strv_free(v);

    /* the Docker file is the last resort; the XDG one wins over it */
    _cleanup_free_ char *f1 = write_file(
        "home/.docker/config.json",
        "{\"auths\": {\"https://index.docker.io/v1/\": {\"auth\": \"" B_HUB
        "\"}, \"quay.io\": {\"auth\": \"" B_HUB "\"}}}");
    _cleanup_free_ char *f2 = write_file(
        "run/containers/auth.json",
        "{\"auths\": {\"quay.io\": {\"auth\": \"" B_USER_PASS "\"}}}");
    assert_string_equal(f1, w3);
    assert_string_equal(f2, w1);
    char *u = NULL, *p = NULL;
    rk_error *err = NULL;
    assert_int_equal(rk_auth_lookup("quay.io", "a/b", &u, &p, &err), 0);
    assert_string_equal(u, "user");
    free(u);
    free(p);
    assert_int_equal(rk_auth_lookup("docker.io", "library/a", &u, &p, &err), 0);
    assert_string_equal(u, "hub");
    free(u);
    free(p);
    /* REGISTRY_AUTH_FILE comes first */
    _cleanup_free_ char *f3 =
        write_file("explicit.json",
                   "{\"auths\": {\"quay.io\": {\"auth\": \"" B_REPO "\"}}}");
    setenv("REGISTRY_AUTH_FILE", f3, 1);
    assert_int_equal(rk_auth_lookup("quay.io", "a/b", &u, &p, &err), 0);
    assert_string_equal(u, "repo");
    free(u);
    free(p);

    unsetenv("REGISTRY_AUTH_FILE");
    unsetenv("XDG_RUNTIME_DIR");
    v = rk_auth_default_files();
    assert_int_equal(rk_strv_len(v), 2);
    assert_string_equal(v[0], w2);
    rk_strv_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_keys),
        cmocka_unit_test(test_repo_keys),
        cmocka_unit_test(test_exact_key_beats_alias),
        cmocka_unit_test(test_odd_but_valid),
        cmocka_unit_test(test_broken),
        cmocka_unit_test(test_base64),
        cmocka_unit_test_setup_teardown(test_file_order, setup_tmp,
                                        teardown_tmp),
        cmocka_unit_test_setup_teardown(test_default_files, setup_tmp,
                                        teardown_tmp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
