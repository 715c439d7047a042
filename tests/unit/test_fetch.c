/* probe/fetch: the package cache, against tests/fixtures/probehttpd.py
 * (Range, cut connections, lying sizes, chunked bodies, redirects). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/digest.h"
#include "base/strv.h"
#include "probe/fetch.h"
#include "probehttpd.h"

#define PKG_SIZE (300 * 1024)

static char base[64], store[128], files[128];
static unsigned char *content; /* PKG_SIZE bytes, also files/pkg.deb */
static probehttpd srv;

static void write_bytes(const char *path, const void *data, size_t len)
{
    rk_error *err = NULL;
    if (rk_write_file_atomic(AT_FDCWD, path, data, len, 0644, &err) < 0)
        fail_msg("%s", err->msg);
}

static int setup(void **state)
{
    (void)state;
    strcpy(base, "/tmp/rk-test-fetch-XXXXXX");
    if (!mkdtemp(base))
        return -1;
    snprintf(files, sizeof(files), "%s/files", base);
    mkdir(files, 0755);
    content = rk_xmalloc(PKG_SIZE);
    FILE *f = fopen("/dev/urandom", "r");
    if (!f || fread(content, 1, PKG_SIZE, f) != PKG_SIZE)
        return -1;
    fclose(f);
    for (int i = 0; i < 10; i++) {
        _cleanup_free_ char *p = rk_xasprintf("%s/pkg%d.deb", files, i);
        write_bytes(p, content, PKG_SIZE);
    }
    _cleanup_free_ char *e = rk_xasprintf("%s/empty.deb", files);
    write_bytes(e, "", 0);
    probehttpd_start(&srv, files, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    probehttpd_stop(&srv);
    rk_rm_rf(base, NULL);
    free(content);
    return 0;
}

/* A fresh store per test. */
static int test_setup(void **state)
{
    (void)state;
    static int n;
    snprintf(store, sizeof(store), "%s/store%d", base, n++);
    mkdir(store, 0755);
    return 0;
}

static char *url_for(const char *path)
{
    return rk_xasprintf("http://127.0.0.1:%u%s", srv.port, path);
}

static void assert_file_content(const char *path, const void *want, size_t len)
{
    _cleanup_free_ char *got = NULL;
    size_t got_len = 0;
    rk_error *err = NULL;
    if (rk_read_file_at(AT_FDCWD, path, 0, &got, &got_len, &err) < 0)
        fail_msg("%s", err->msg);
    assert_int_equal(got_len, len);
    assert_memory_equal(got, want, len);
}

static char *fetch_ok(const char *url, const rk_fetch_opts *o,
                      rk_fetch_info *info)
{
    char *path = NULL;
    rk_error *err = NULL;
    if (rk_fetch_package(store, url, o, &path, info, &err) < 0)
        fail_msg("fetching %s: %s", url, err->msg);
    return path;
}

static void fetch_fails(const char *url, const rk_fetch_opts *o,
                        const char *want)
{
    char *path = NULL;
    rk_error *err = NULL;
    if (rk_fetch_package(store, url, o, &path, NULL, &err) == 0)
        fail_msg("fetching %s succeeded (%s), expected \"%s\"", url, path,
                 want);
    if (!strstr(err->msg, want) || !strstr(err->msg, url))
        fail_msg("error \"%s\" does not name %s and \"%s\"", err->msg, url,
                 want);
    assert_null(strchr(err->msg, '\n'));
    rk_error_free(err);
}

static char *partial_path(const char *url, const char *name)
{
    _cleanup_free_ char *dir = rk_fetch_cache_dir(store, url);
    return rk_xasprintf("%s/%s.partial", dir, name);
}

static void make_partial(const char *url, const char *name, size_t len)
{
    _cleanup_free_ char *dir = rk_fetch_cache_dir(store, url);
    assert_int_equal(rk_mkdir_p(dir, 0755, NULL), 0);
    _cleanup_free_ char *p = partial_path(url, name);
    write_bytes(p, content, len);
}

static bool exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

/* ---- names and paths ---- */

static void expect_name(const char *url, const char *want)
{
    char *got = NULL;
    rk_error *err = NULL;
    if (rk_fetch_file_name(url, &got, &err) < 0)
        fail_msg("%s: %s", url, err->msg);
    assert_string_equal(got, want);
    free(got);
}

static void expect_name_error(const char *url, const char *want)
{
    char *got = NULL;
    rk_error *err = NULL;
    if (rk_fetch_file_name(url, &got, &err) == 0)
        fail_msg("%s: accepted as \"%s\"", url, got);
    if (!strstr(err->msg, want))
        fail_msg("%s: \"%s\" does not say \"%s\"", url, err->msg, want);
    rk_error_free(err);
}

static void test_names(void **state)
{
    (void)state;
    expect_name("http://deb.example/debian/pool/main/w/webfs/"
                "webfs_1.21%2bds1-10_amd64.deb",
                "webfs_1.21+ds1-10_amd64.deb");
    expect_name("https://h/a/b/pkg-1.0.rpm?token=x/y#frag", "pkg-1.0.rpm");
    expect_name("http://h:8080/x%20y.deb", "x y.deb");
    expect_name("http://h/only.deb", "only.deb");
    expect_name_error("http://h/dir/", "names no file");
    expect_name_error("http://h", "names no file");
    expect_name_error("http://h/?x=a.deb", "names no file");
    expect_name_error("http://h/a%2Fb.deb", "'/'");
    expect_name_error("http://h/a%00b.deb", "NUL");
    expect_name_error("http://h/a%zzb.deb", "percent-escape");
    expect_name_error("http://h/a%2", "percent-escape");
    expect_name_error("http://h/.lock", "starts with '.'");
    expect_name_error("http://h/%2e%2e", "starts with '.'");
    expect_name_error("http://h/a%0a.deb", "control character");
    _cleanup_free_ char *longurl = rk_xmalloc(400);
    strcpy(longurl, "http://h/");
    memset(longurl + 9, 'a', 300);
    longurl[309] = 0;
    expect_name_error(longurl, "longer than");

    assert_true(rk_fetch_is_url("http://x/y"));
    assert_true(rk_fetch_is_url("HTTPS://x/y"));
    assert_false(rk_fetch_is_url("/tmp/x.deb"));
    assert_false(rk_fetch_is_url("ftp://x/y"));
    assert_false(rk_fetch_is_url(NULL));

    const char *url = "http://deb.example/a.deb";
    char d[RK_DIGEST_LEN + 1];
    rk_sha256_buf(url, strlen(url), d);
    _cleanup_free_ char *dir = rk_fetch_cache_dir("/var/lib/racker", url);
    _cleanup_free_ char *want =
        rk_xasprintf("/var/lib/racker/cache/packages/%s", d + 7);
    assert_string_equal(dir, want);
}

static void test_local_paths(void **state)
{
    (void)state;
    _cleanup_free_ char *local = rk_xasprintf("%s/pkg0.deb", files);
    rk_fetch_info info;
    _cleanup_free_ char *p = fetch_ok(local, NULL, &info);
    assert_string_equal(p, local);
    assert_false(info.downloaded);
    assert_int_equal(info.size, PKG_SIZE);
    _cleanup_free_ char *missing = rk_xasprintf("%s/missing.deb", files);
    fetch_fails(missing, NULL, "No such file");
    fetch_fails(files, NULL, "is not a regular file");
    fetch_fails("ftp://127.0.0.1/x.deb", NULL, "only http:// and https://");
    fetch_fails("file:///etc/passwd", NULL, "only http:// and https://");
    char *path = NULL;
    rk_error *err = NULL;
    assert_int_equal(rk_fetch_package(store, "", NULL, &path, NULL, &err), -1);
    rk_error_free(err);
}

/* ---- downloads ---- */

static void test_download_and_cache(void **state)
{
    (void)state;
    _cleanup_free_ char *url = url_for("/files/pkg0.deb");
    rk_fetch_info info;
    _cleanup_free_ char *p = fetch_ok(url, NULL, &info);
    _cleanup_free_ char *dir = rk_fetch_cache_dir(store, url);
    _cleanup_free_ char *want = rk_xasprintf("%s/pkg0.deb", dir);
    assert_string_equal(p, want);
    assert_true(info.downloaded);
    assert_false(info.resumed);
    assert_int_equal(info.size, PKG_SIZE);
    assert_file_content(p, content, PKG_SIZE);
    _cleanup_free_ char *part = partial_path(url, "pkg0.deb");
    assert_false(exists(part));
    assert_int_equal(probehttpd_count(&srv, "\"/files/pkg0.deb\""), 1);

    /* The second time: from the cache, no request. */
    rk_fetch_info info2;
    _cleanup_free_ char *p2 = fetch_ok(url, NULL, &info2);
    assert_string_equal(p2, p);
    assert_false(info2.downloaded);
    assert_int_equal(info2.size, PKG_SIZE);
    assert_int_equal(probehttpd_count(&srv, "\"/files/pkg0.deb\""), 1);

    /* An empty file is a file too. */
    _cleanup_free_ char *eu = url_for("/files/empty.deb");
    _cleanup_free_ char *ep = fetch_ok(eu, NULL, &info);
    assert_file_content(ep, "", 0);
    assert_int_equal(info.size, 0);

    /* Redirects are followed; the name comes from the URL asked for. */
    _cleanup_free_ char *ru = url_for("/redirect/files/pkg1.deb");
    _cleanup_free_ char *rp = fetch_ok(ru, NULL, &info);
    assert_true(rk_endswith(rp, "/pkg1.deb"));
    assert_file_content(rp, content, PKG_SIZE);
}

static void test_resume_partial(void **state)
{
    (void)state;
    _cleanup_free_ char *url = url_for("/files/pkg2.deb");
    make_partial(url, "pkg2.deb", 1000);
    rk_fetch_info info;
    _cleanup_free_ char *p = fetch_ok(url, NULL, &info);
    assert_true(info.resumed);
    assert_file_content(p, content, PKG_SIZE);
    assert_int_equal(probehttpd_count(&srv, "\"range\": \"bytes=1000-\""), 1);

    /* A partial that is already whole: 416, then it is moved into place. */
    _cleanup_free_ char *url3 = url_for("/files/pkg3.deb");
    make_partial(url3, "pkg3.deb", PKG_SIZE);
    _cleanup_free_ char *p3 = fetch_ok(url3, NULL, &info);
    assert_file_content(p3, content, PKG_SIZE);
    _cleanup_free_ char *want_range =
        rk_xasprintf("\"range\": \"bytes=%d-\"", PKG_SIZE);
    assert_int_equal(probehttpd_count(&srv, want_range), 1);

    /* A server that ignores Range: start over. */
    _cleanup_free_ char *nr = url_for("/norange/files/pkg4.deb");
    make_partial(nr, "pkg4.deb", 5000);
    _cleanup_free_ char *pn = fetch_ok(nr, NULL, &info);
    assert_false(info.resumed);
    assert_file_content(pn, content, PKG_SIZE);
}

static void test_cut_connection(void **state)
{
    (void)state;
    /* Cut once after 100000 bytes: the same call resumes and finishes. */
    _cleanup_free_ char *url = url_for("/cut/100000/1/files/pkg5.deb");
    rk_fetch_info info;
    _cleanup_free_ char *p = fetch_ok(url, NULL, &info);
    assert_true(info.resumed);
    assert_file_content(p, content, PKG_SIZE);
    assert_int_equal(probehttpd_count(&srv, "/cut/100000/1/files/pkg5.deb"), 2);
    assert_int_equal(probehttpd_count(&srv, "\"range\": \"bytes=100000-\""), 1);

    /* With one attempt the partial stays for the next call, which resumes. */
    _cleanup_free_ char *url2 = url_for("/cut/7000/1/files/pkg6.deb");
    rk_fetch_opts one = {.attempts = 1};
    fetch_fails(url2, &one, "kept for resuming");
    _cleanup_free_ char *part = partial_path(url2, "pkg6.deb");
    struct stat st;
    assert_int_equal(stat(part, &st), 0);
    assert_int_equal(st.st_size, 7000);
    _cleanup_free_ char *p2 = fetch_ok(url2, &one, &info);
    assert_true(info.resumed);
    assert_file_content(p2, content, PKG_SIZE);
    assert_false(exists(part));

    /* Always cut: give up after the attempts. */
    _cleanup_free_ char *url3 = url_for("/cut/1000/99/files/pkg7.deb");
    rk_fetch_opts two = {.attempts = 2};
    fetch_fails(url3, &two, "kept for resuming");
    assert_int_equal(probehttpd_count(&srv, "/cut/1000/99/files/pkg7.deb"), 2);
    _cleanup_free_ char *part3 = partial_path(url3, "pkg7.deb");
    assert_int_equal(stat(part3, &st), 0);
    assert_int_equal(st.st_size, 2000);
}

/* The file changes on the server between two attempts (same size, other
 * bytes): If-Range with the first response's ETag makes the server send
 * all of the new file, instead of the end of it spliced onto the old
 * beginning, which the size check could not catch. */
static void test_changed_file_is_not_spliced(void **state)
{
    (void)state;
    _cleanup_free_ char *f = rk_xasprintf("%s/changing.deb", files);
    write_bytes(f, content, PKG_SIZE);
    _cleanup_free_ char *f2 = rk_xasprintf("%s/steady.deb", files);
    write_bytes(f2, content, PKG_SIZE);
    _cleanup_free_ char *url = url_for("/cut/7000/1/files/changing.deb");
    rk_fetch_opts one = {.attempts = 1};
    fetch_fails(url, &one, "kept for resuming");
    _cleanup_free_ char *dir = rk_fetch_cache_dir(store, url);
    _cleanup_free_ char *validator = rk_xasprintf("%s/changing.deb.partial.validator", dir);
    assert_true(exists(validator));

    _cleanup_free_ unsigned char *other = rk_xmalloc(PKG_SIZE);
    for (size_t i = 0; i < PKG_SIZE; i++)
        other[i] = (unsigned char)(content[i] ^ 0x5a);
    write_bytes(f, other, PKG_SIZE);
    struct timespec later[2] = {{.tv_sec = 2000000000}, {.tv_sec = 2000000000}};
    assert_int_equal(utimensat(AT_FDCWD, f, later, 0), 0);

    rk_fetch_info info;
    _cleanup_free_ char *p = fetch_ok(url, &one, &info);
    assert_false(info.resumed); /* the server answered 200: started over */
    assert_file_content(p, other, PKG_SIZE);
    assert_int_equal(probehttpd_count(&srv, "\"/cut/7000/1/files/changing.deb\", \"range\": "
                                           "\"bytes=7000-\", \"if_range\": \"\\\""),
                     1);
    assert_false(exists(validator)); /* gone with the finished download */

    /* unchanged: If-Range matches and the download resumes */
    _cleanup_free_ char *url2 = url_for("/cut/9000/1/files/steady.deb");
    fetch_fails(url2, &one, "kept for resuming");
    _cleanup_free_ char *p2 = fetch_ok(url2, &one, &info);
    assert_true(info.resumed);
    assert_file_content(p2, content, PKG_SIZE);
}

static void test_bad_servers(void **state)
{
    (void)state;
    /* Content-Range total larger than what comes: a mismatch, removed. */
    _cleanup_free_ char *bt = url_for("/badtotal/files/pkg0.deb");
    _cleanup_free_ char *msg = rk_xasprintf(
        "got %d bytes, the server announced %d", PKG_SIZE, PKG_SIZE + 10);
    fetch_fails(bt, NULL, msg);
    _cleanup_free_ char *btp = partial_path(bt, "pkg0.deb");
    assert_false(exists(btp));
    _cleanup_free_ char *btdir = rk_fetch_cache_dir(store, bt);
    _cleanup_free_ char *btfinal = rk_xasprintf("%s/pkg0.deb", btdir);
    assert_false(exists(btfinal));

    /* Resumed at the wrong offset. */
    _cleanup_free_ char *bs = url_for("/badstart/files/pkg0.deb");
    make_partial(bs, "pkg0.deb", 1000);
    fetch_fails(bs, NULL, "resumed at byte 0, not 1000");
    _cleanup_free_ char *bsp = partial_path(bs, "pkg0.deb");
    assert_false(exists(bsp));

    /* No size to verify. */
    _cleanup_free_ char *nc = url_for("/noclen/files/pkg0.deb");
    fetch_fails(nc, NULL, "no Content-Length");
    _cleanup_free_ char *ncp = partial_path(nc, "pkg0.deb");
    assert_false(exists(ncp));

    /* Chunked encoding ends cleanly: accepted. */
    _cleanup_free_ char *ch = url_for("/chunked/files/pkg0.deb");
    rk_fetch_info info;
    _cleanup_free_ char *cp = fetch_ok(ch, NULL, &info);
    assert_file_content(cp, content, PKG_SIZE);
}

static void test_http_errors(void **state)
{
    (void)state;
    _cleanup_free_ char *nf = url_for("/files/missing.deb");
    fetch_fails(nf, NULL, "HTTP/1.1 404 Not Found");
    /* 5xx is retried, then reported. */
    rk_fetch_opts two = {.attempts = 2};
    _cleanup_free_ char *s5 = url_for("/status/503");
    char *path = NULL;
    rk_error *err = NULL;
    /* "/status/503" names the file "503". */
    assert_int_equal(rk_fetch_package(store, s5, &two, &path, NULL, &err), -1);
    assert_non_null(strstr(err->msg, "HTTP/1.1 503 Service Unavailable"));
    rk_error_free(err);
    assert_int_equal(probehttpd_count(&srv, "\"/status/503\""), 2);
    /* Nobody listening. */
    fetch_fails("http://127.0.0.1:1/x.deb", &two, "http://127.0.0.1:1/x.deb");
}

static void test_concurrent(void **state)
{
    (void)state;
    _cleanup_free_ char *url = url_for("/files/pkg8.deb");
    pid_t kids[4];
    for (int i = 0; i < 4; i++) {
        kids[i] = fork();
        assert_true(kids[i] >= 0);
        if (kids[i] == 0) {
            char *path = NULL;
            rk_error *err = NULL;
            int r = rk_fetch_package(store, url, NULL, &path, NULL, &err);
            _exit(r == 0 ? 0 : 1);
        }
    }
    for (int i = 0; i < 4; i++) {
        int st;
        assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    _cleanup_free_ char *dir = rk_fetch_cache_dir(store, url);
    _cleanup_free_ char *p = rk_xasprintf("%s/pkg8.deb", dir);
    assert_file_content(p, content, PKG_SIZE);
    /* One download; the others waited on the lock and found the file. */
    assert_int_equal(probehttpd_count(&srv, "\"/files/pkg8.deb\""), 1);
}

static void test_https(void **state)
{
    (void)state;
    const char *const tls[] = {"--tls", NULL};
    probehttpd s;
    probehttpd_start(&s, files, tls);
    _cleanup_free_ char *url =
        rk_xasprintf("https://localhost:%u/files/pkg9.deb", s.port);
    rk_fetch_opts one = {.attempts = 1};
    fetch_fails(url, &one, "certificate");
    rk_fetch_opts ca = {.ca_file = s.cert};
    rk_fetch_info info;
    _cleanup_free_ char *p = fetch_ok(url, &ca, &info);
    assert_file_content(p, content, PKG_SIZE);
    probehttpd_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_names, test_setup),
        cmocka_unit_test_setup(test_local_paths, test_setup),
        cmocka_unit_test_setup(test_download_and_cache, test_setup),
        cmocka_unit_test_setup(test_resume_partial, test_setup),
        cmocka_unit_test_setup(test_cut_connection, test_setup),
        cmocka_unit_test_setup(test_changed_file_is_not_spliced, test_setup),
        cmocka_unit_test_setup(test_bad_servers, test_setup),
        cmocka_unit_test_setup(test_http_errors, test_setup),
        cmocka_unit_test_setup(test_concurrent, test_setup),
        cmocka_unit_test_setup(test_https, test_setup),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
