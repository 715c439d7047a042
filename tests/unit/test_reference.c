/* Unit tests for src/image/reference.c: parsing, normalization, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "image/reference.h"

#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct good_case {
    const char *in;
    const char *string; /* rk_ref_string() */
    const char *domain;
    const char *path;
    const char *tag;    /* NULL: none */
    const char *digest; /* NULL: none */
    bool unqualified;
    const char *familiar; /* rk_ref_familiar() */
};

static const struct good_case good[] = {
    {"debian", "docker.io/library/debian:latest", "docker.io", "library/debian",
     "latest", NULL, true, "debian:latest"},
    {"debian:12", "docker.io/library/debian:12", "docker.io", "library/debian",
     "12", NULL, true, "debian:12"},
    {"docker://debian:bookworm", "docker.io/library/debian:bookworm",
     "docker.io", "library/debian", "bookworm", NULL, true, "debian:bookworm"},
    {"library/debian", "docker.io/library/debian:latest", "docker.io",
     "library/debian", "latest", NULL, true, "debian:latest"},
    {"docker.io/debian", "docker.io/library/debian:latest", "docker.io",
     "library/debian", "latest", NULL, false, "debian:latest"},
    {"index.docker.io/library/debian:12", "docker.io/library/debian:12",
     "docker.io", "library/debian", "12", NULL, false, "debian:12"},
    {"index.docker.io/debian", "docker.io/library/debian:latest", "docker.io",
     "library/debian", "latest", NULL, false, "debian:latest"},
    {"user/app", "docker.io/user/app:latest", "docker.io", "user/app", "latest",
     NULL, true, "user/app:latest"},
    {"docker.io/library/a/b", "docker.io/library/a/b:latest", "docker.io",
     "library/a/b", "latest", NULL, false, "library/a/b:latest"},
    {"quay.io/podman/stable:v4.9", "quay.io/podman/stable:v4.9", "quay.io",
     "podman/stable", "v4.9", NULL, false, "quay.io/podman/stable:v4.9"},
    {"quay.io/x", "quay.io/x:latest", "quay.io", "x", "latest", NULL, false,
     "quay.io/x:latest"},
    {"127.0.0.1:5000/busybox:1", "127.0.0.1:5000/busybox:1", "127.0.0.1:5000",
     "busybox", "1", NULL, false, "127.0.0.1:5000/busybox:1"},
    {"[::1]:5000/x", "[::1]:5000/x:latest", "[::1]:5000", "x", "latest", NULL,
     false, "[::1]:5000/x:latest"},
    {"[::1]/x", "[::1]/x:latest", "[::1]", "x", "latest", NULL, false,
     "[::1]/x:latest"},
    {"[2001:db8::5]:443/ns/img", "[2001:db8::5]:443/ns/img:latest",
     "[2001:db8::5]:443", "ns/img", "latest", NULL, false,
     "[2001:db8::5]:443/ns/img:latest"},
    {"localhost/x", "localhost/x:latest", "localhost", "x", "latest", NULL,
     false, "localhost/x:latest"},
    {"localhost:5000/x/y:t", "localhost:5000/x/y:t", "localhost:5000", "x/y",
     "t", NULL, false, "localhost:5000/x/y:t"},
    {"Registry.Example.COM/app", "Registry.Example.COM/app:latest",
     "Registry.Example.COM", "app", "latest", NULL, false,
     "Registry.Example.COM/app:latest"},
    {"my-registry.example.com:443/a/b/c",
     "my-registry.example.com:443/a/b/c:latest", "my-registry.example.com:443",
     "a/b/c", "latest", NULL, false,
     "my-registry.example.com:443/a/b/c:latest"},
    /* a one-component name on another registry gets no library/ */
    {"localhost", "docker.io/library/localhost:latest", "docker.io",
     "library/localhost", "latest", NULL, true, "localhost:latest"},
    /* without a '/', "localhost:5000" is name:tag, as in Docker */
    {"localhost:5000", "docker.io/library/localhost:5000", "docker.io",
     "library/localhost", "5000", NULL, true, "localhost:5000"},
    {"debian@sha256:" D64, "docker.io/library/debian@sha256:" D64, "docker.io",
     "library/debian", NULL, "sha256:" D64, true, "debian@sha256:" D64},
    {"debian:12@sha256:" D64, "docker.io/library/debian:12@sha256:" D64,
     "docker.io", "library/debian", "12", "sha256:" D64, true,
     "debian:12@sha256:" D64},
    {"127.0.0.1:5000/a@sha256:" D64, "127.0.0.1:5000/a@sha256:" D64,
     "127.0.0.1:5000", "a", NULL, "sha256:" D64, false,
     "127.0.0.1:5000/a@sha256:" D64},
    /* separators in path components */
    {"g/a.b_c__d-e---f", "docker.io/g/a.b_c__d-e---f:latest", "docker.io",
     "g/a.b_c__d-e---f", "latest", NULL, true, "g/a.b_c__d-e---f:latest"},
    {"x/y:_under", "docker.io/x/y:_under", "docker.io", "x/y", "_under", NULL,
     true, "x/y:_under"},
    {"x:A.b-C_9", "docker.io/library/x:A.b-C_9", "docker.io", "library/x",
     "A.b-C_9", NULL, true, "x:A.b-C_9"},
    /* the short form keeps docker.io when the rest would look like a host */
    {"docker.io/a.b/x", "docker.io/a.b/x:latest", "docker.io", "a.b/x",
     "latest", NULL, false, "docker.io/a.b/x:latest"},
    {"docker.io/localhost/x", "docker.io/localhost/x:latest", "docker.io",
     "localhost/x", "latest", NULL, false, "docker.io/localhost/x:latest"},
    {"docker.io/a.b", "docker.io/library/a.b:latest", "docker.io",
     "library/a.b", "latest", NULL, false, "a.b:latest"},
    {"0/1", "docker.io/0/1:latest", "docker.io", "0/1", "latest", NULL, true,
     "0/1:latest"},
};

struct bad_case {
    const char *in;
    const char *msg; /* the whole message */
};

static const struct bad_case bad[] = {
    {"Debian",
     "invalid reference \"Debian\": repository name must be lowercase"},
    {"debian:", "invalid reference \"debian:\": empty tag"},
    {"a@sha256:12",
     "invalid reference \"a@sha256:12\": digest must be 64 hex digits"},
    {"", "invalid reference \"\": empty reference"},
    {"docker://", "invalid reference \"docker://\": empty reference"},
    {"a@", "invalid reference \"a@\": empty digest"},
    {"a@sha512:" D64 D64,
     "invalid reference \"a@sha512:" D64 D64
     "\": unsupported digest algorithm \"sha512\" (only sha256)"},
    {"a@" D64, "invalid reference \"a@" D64
               "\": digest must have the form sha256:<64 hex digits>"},
    {"a@sha256:" D64 "0",
     "invalid reference \"a@sha256:" D64 "0\": digest must be 64 hex digits"},
    {"a@sha256:"
     "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
     "invalid reference "
     "\"a@sha256:"
     "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"
     "\": digest must be lowercase hex"},
    {"a@b@sha256:" D64,
     "invalid reference \"a@b@sha256:" D64 "\": more than one '@'"},
    {"debian:-x", "invalid reference \"debian:-x\": invalid tag \"-x\""},
    {"debian:.x", "invalid reference \"debian:.x\": invalid tag \".x\""},
    {"debian:a+b", "invalid reference \"debian:a+b\": invalid tag \"a+b\""},
    {"debian:1:2", "invalid reference \"debian:1:2\": invalid tag \"1:2\""},
    {":tag", "invalid reference \":tag\": empty repository name"},
    {"/debian", "invalid reference \"/debian\": empty path component"},
    {"debian/", "invalid reference \"debian/\": empty path component"},
    {"a//b", "invalid reference \"a//b\": empty path component"},
    {"quay.io/", "invalid reference \"quay.io/\": empty path component"},
    {"-a",
     "invalid reference \"-a\": invalid repository name component \"-a\""},
    {"a-",
     "invalid reference \"a-\": invalid repository name component \"a-\""},
    {"a..b",
     "invalid reference \"a..b\": invalid repository name component \"a..b\""},
    {"a___b", "invalid reference \"a___b\": invalid repository name component "
              "\"a___b\""},
    {"a._b",
     "invalid reference \"a._b\": invalid repository name component \"a._b\""},
    {"user/App",
     "invalid reference \"user/App\": repository name must be lowercase"},
    {"quay.io/Podman/x", "invalid reference \"quay.io/Podman/x\": repository "
                         "name must be lowercase"},
    {"deb ian",
     "invalid reference \"deb ian\": reference contains a space or a "
     "control or non-ASCII character"},
    {"deb\nian",
     "invalid reference \"deb\\x0aian\": reference contains a space "
     "or a control or non-ASCII character"},
    {"d\xc3\xa9",
     "invalid reference \"d\\xc3\\xa9\": reference contains a space or "
     "a control or non-ASCII character"},
    {"a$b",
     "invalid reference \"a$b\": invalid repository name component \"a$b\""},
    {"-bad.com/x",
     "invalid reference \"-bad.com/x\": invalid registry host \"-bad.com\""},
    {"bad..com/x",
     "invalid reference \"bad..com/x\": invalid registry host \"bad..com\""},
    {"bad_host.com/x", "invalid reference \"bad_host.com/x\": invalid registry "
                       "host \"bad_host.com\""},
    {"host.com:/x",
     "invalid reference \"host.com:/x\": invalid registry port \"host.com:\""},
    {"host.com:0/x", "invalid reference \"host.com:0/x\": invalid registry "
                     "port \"host.com:0\""},
    {"host.com:65536/x", "invalid reference \"host.com:65536/x\": invalid "
                         "registry port \"host.com:65536\""},
    {"host.com:50a/x", "invalid reference \"host.com:50a/x\": invalid registry "
                       "port \"host.com:50a\""},
    {"host.com:1:2/x", "invalid reference \"host.com:1:2/x\": invalid registry "
                       "port \"host.com:1:2\""},
    {"[::1/x", "invalid reference \"[::1/x\": invalid registry host \"[::1\""},
    {"[zz::1]:5000/x", "invalid reference \"[zz::1]:5000/x\": invalid registry "
                       "host \"[zz::1]:5000\""},
    {"[::1]5000/x",
     "invalid reference \"[::1]5000/x\": invalid registry host \"[::1]5000\""},
    /* a first component with a '.' is a registry host */
    {"a.b_c/x",
     "invalid reference \"a.b_c/x\": invalid registry host \"a.b_c\""},
    {"[]/x", "invalid reference \"[]/x\": invalid registry host \"[]\""},
};

static void test_good(void **state)
{
    (void)state;
    for (size_t i = 0; i < RK_ELEMENTSOF(good); i++) {
        const struct good_case *c = &good[i];
        rk_error *err = NULL;
        rk_ref *r = NULL;
        if (rk_ref_parse(c->in, &r, &err) < 0)
            fail_msg("%s: %s", c->in, err->msg);
        _cleanup_free_ char *s = rk_ref_string(r);
        _cleanup_free_ char *f = rk_ref_familiar(r);
        _cleanup_free_ char *n = rk_ref_name(r);
        assert_string_equal(s, c->string);
        assert_string_equal(r->domain, c->domain);
        assert_string_equal(r->path, c->path);
        if (c->tag)
            assert_string_equal(r->tag, c->tag);
        else
            assert_null(r->tag);
        if (c->digest)
            assert_string_equal(r->digest, c->digest);
        else
            assert_null(r->digest);
        assert_int_equal(r->unqualified, c->unqualified);
        assert_string_equal(f, c->familiar);
        _cleanup_free_ char *want_name =
            rk_xasprintf("%s/%s", c->domain, c->path);
        assert_string_equal(n, want_name);
        /* round trip: the normalized string parses to the same thing */
        rk_ref *r2 = NULL;
        assert_int_equal(rk_ref_parse(s, &r2, &err), 0);
        _cleanup_free_ char *s2 = rk_ref_string(r2);
        assert_string_equal(s2, s);
        assert_false(r2->unqualified);
        rk_ref_free(r2);
        /* so does the familiar form */
        assert_int_equal(rk_ref_parse(f, &r2, &err), 0);
        _cleanup_free_ char *s3 = rk_ref_string(r2);
        assert_string_equal(s3, s);
        rk_ref_free(r2);
        rk_ref_free(r);
    }
}

static void test_bad(void **state)
{
    (void)state;
    for (size_t i = 0; i < RK_ELEMENTSOF(bad); i++) {
        rk_error *err = NULL;
        rk_ref *r = NULL;
        int ret = rk_ref_parse(bad[i].in, &r, &err);
        if (ret == 0)
            fail_msg("accepted %s", bad[i].in);
        assert_int_equal(ret, -1);
        assert_null(r);
        assert_non_null(err);
        assert_string_equal(err->msg, bad[i].msg);
        assert_int_equal(err->status, 125);
        assert_null(strchr(err->msg, '\n'));
        rk_error_free(err);
    }
}

static void test_lengths(void **state)
{
    (void)state;
    rk_error *err = NULL;
    rk_ref *r = NULL;
    /* name length, counted on the normalized name: 255 accepted, 256
     * refused */
    char name[300];
    strcpy(name, "quay.io/");
    memset(name + 8, 'a', 247);
    name[255] = 0;
    assert_int_equal(rk_ref_parse(name, &r, &err), 0);
    rk_ref_free(r);
    name[255] = 'a';
    name[256] = 0;
    assert_int_equal(rk_ref_parse(name, &r, &err), -1);
    assert_non_null(strstr(err->msg, "repository name is longer than 255"));
    assert_int_equal(err->status, 125);
    rk_error_free(err);
    err = NULL;
    /* "docker.io/library/" counts: 237 characters are the most a short
     * one-component name can have */
    memset(name, 'b', 237);
    name[237] = 0;
    assert_int_equal(rk_ref_parse(name, &r, &err), 0);
    _cleanup_free_ char *s237 = rk_ref_string(r);
    rk_ref_free(r);
    assert_int_equal(rk_ref_parse(s237, &r, &err), 0);
    rk_ref_free(r);
    name[237] = 'b';
    name[238] = 0;
    assert_int_equal(rk_ref_parse(name, &r, &err), -1);
    assert_non_null(strstr(err->msg, "repository name is longer than 255"));
    rk_error_free(err);
    err = NULL;

    /* tag length: 128 accepted, 129 refused */
    char ref[300] = "x:";
    memset(ref + 2, 't', 128);
    ref[130] = 0;
    assert_int_equal(rk_ref_parse(ref, &r, &err), 0);
    assert_int_equal(strlen(r->tag), 128);
    rk_ref_free(r);
    ref[130] = 't';
    ref[131] = 0;
    assert_int_equal(rk_ref_parse(ref, &r, &err), -1);
    assert_non_null(strstr(err->msg, "tag is longer than 128"));
    rk_error_free(err);
    err = NULL;

    /* a long bad input is shortened in the message */
    char longbad[1000];
    memset(longbad, 'A', sizeof(longbad) - 1);
    longbad[sizeof(longbad) - 1] = 0;
    assert_int_equal(rk_ref_parse(longbad, &r, &err), -1);
    assert_true(strlen(err->msg) < 400);
    assert_non_null(strstr(err->msg, "...\""));
    rk_error_free(err);

    /* NULL err is fine */
    assert_int_equal(rk_ref_parse("Bad", &r, NULL), -1);
}

static void test_short_path_and_with_domain(void **state)
{
    (void)state;
    rk_error *err = NULL;
    rk_ref *r = NULL;
    assert_int_equal(rk_ref_parse("debian:12", &r, &err), 0);
    assert_string_equal(r->short_path, "debian");
    rk_ref *q = rk_ref_with_domain(r, "quay.io");
    _cleanup_free_ char *qs = rk_ref_string(q);
    assert_string_equal(qs, "quay.io/debian:12");
    assert_false(q->unqualified);
    assert_null(q->short_path);
    rk_ref *d = rk_ref_with_domain(r, "docker.io");
    _cleanup_free_ char *ds = rk_ref_string(d);
    assert_string_equal(ds, "docker.io/library/debian:12");
    rk_ref *ix = rk_ref_with_domain(r, "index.docker.io");
    assert_string_equal(ix->domain, "docker.io");
    rk_ref_free(ix);
    rk_ref *dup = rk_ref_dup(r);
    assert_string_equal(dup->short_path, "debian");
    assert_true(dup->unqualified);
    assert_string_equal(dup->tag, "12");
    rk_ref_free(dup);
    rk_ref_free(q);
    rk_ref_free(d);
    rk_ref_free(r);

    assert_int_equal(rk_ref_parse("user/app@sha256:" D64, &r, &err), 0);
    assert_string_equal(r->short_path, "user/app");
    q = rk_ref_with_domain(r, "127.0.0.1:5000");
    _cleanup_free_ char *q2 = rk_ref_string(q);
    assert_string_equal(q2, "127.0.0.1:5000/user/app@sha256:" D64);
    rk_ref_free(q);
    rk_ref_free(r);

    assert_int_equal(rk_ref_parse("quay.io/a/b", &r, &err), 0);
    assert_null(r->short_path);
    assert_false(r->unqualified);
    rk_ref_free(r);
}

static void test_api_host(void **state)
{
    (void)state;
    assert_string_equal(rk_ref_api_host("docker.io"), "registry-1.docker.io");
    assert_string_equal(rk_ref_api_host("index.docker.io"),
                        "registry-1.docker.io");
    assert_string_equal(rk_ref_api_host("quay.io"), "quay.io");
    assert_string_equal(rk_ref_api_host("127.0.0.1:5000"), "127.0.0.1:5000");
}

static void test_loopback(void **state)
{
    (void)state;
    static const char *const yes[] = {
        "localhost",
        "localhost:5000",
        "LOCALHOST",
        "127.0.0.1",
        "127.0.0.1:5000",
        "127.1.2.3",
        "127.255.255.255:1",
        "[::1]",
        "[::1]:5000",
        "::1",
        "[0:0:0:0:0:0:0:1]:443",
    };
    static const char *const no[] = {
        "",
        "docker.io",
        "128.0.0.1",
        "10.0.0.1:5000",
        "127.0.0.256",
        "127.0.0",
        "localhost.example.com",
        "[::2]:5000",
        "::2",
        "[::1",
        "127.0.0.1:",
        "127.0.0.1:99999",
        "localhost:abc",
        "1.127.0.0",
        "[::ffff:10.0.0.1]",
    };
    for (size_t i = 0; i < RK_ELEMENTSOF(yes); i++)
        if (!rk_domain_is_loopback(yes[i]))
            fail_msg("%s should be loopback", yes[i]);
    for (size_t i = 0; i < RK_ELEMENTSOF(no); i++)
        if (rk_domain_is_loopback(no[i]))
            fail_msg("%s should not be loopback", no[i]);
    assert_false(rk_domain_is_loopback(NULL));
}

static void test_validators(void **state)
{
    (void)state;
    assert_true(rk_tag_valid("latest"));
    assert_true(rk_tag_valid("_"));
    assert_true(rk_tag_valid("1.2.3-rc_1"));
    assert_false(rk_tag_valid(""));
    assert_false(rk_tag_valid(NULL));
    assert_false(rk_tag_valid(".a"));
    assert_false(rk_tag_valid("-a"));
    assert_false(rk_tag_valid("a/b"));
    assert_true(rk_ref_domain_valid("docker.io"));
    assert_true(rk_ref_domain_valid("localhost:5000"));
    assert_true(rk_ref_domain_valid("[::1]:5000"));
    assert_false(rk_ref_domain_valid("docker.io/x"));
    assert_false(rk_ref_domain_valid("a:b:c"));
    assert_false(rk_ref_domain_valid(""));
    assert_true(rk_ref_path_valid("library/debian"));
    assert_false(rk_ref_path_valid("library//debian"));
    assert_false(rk_ref_path_valid("Library/debian"));
    assert_false(rk_ref_path_valid(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_short_path_and_with_domain),
        cmocka_unit_test(test_api_host),
        cmocka_unit_test(test_loopback),
        cmocka_unit_test(test_validators),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
