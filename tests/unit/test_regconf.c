/* Unit tests for src/image/regconf.c: the TOML subset, registries.conf v2
 * semantics, the loading order with drop-in files. */
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
#include "base/error.h"
#include "base/fs.h"
#include "base/strv.h"
#include "image/regconf.h"

static rk_regconf *parse_ok(const char *text)
{
    rk_error *err = NULL;
    rk_regconf *c = rk_regconf_new();
    if (rk_regconf_parse_string(c, text, "test.conf", &err) < 0)
        fail_msg("parse failed: %s\n--\n%s", err->msg, text);
    return c;
}

/* Resolve and render "host/path[!]" per endpoint, '!' meaning insecure and
 * '~' meaning mirror, joined by " ". */
static char *resolve_str(const rk_regconf *c, const char *name)
{
    rk_error *err = NULL;
    rk_endpoints *e = NULL;
    if (rk_regconf_resolve(c, name, &e, &err) < 0) {
        char *r = rk_xasprintf("ERR %s", err->msg);
        rk_error_free(err);
        return r;
    }
    char **v = rk_xcalloc(1, sizeof(char *));
    for (size_t i = 0; i < e->n; i++)
        rk_strv_push(&v, rk_xasprintf("%s%s/%s%s", e->v[i].mirror ? "~" : "",
                                      e->v[i].host, e->v[i].path,
                                      e->v[i].insecure ? "!" : ""));
    char *r = rk_strv_join(v, " ");
    rk_strv_free(v);
    rk_endpoints_free(e);
    return r;
}

#define assert_resolves(c, name, want)                                         \
    do {                                                                       \
        char *_got = resolve_str((c), (name));                                 \
        if (strcmp(_got, (want)))                                              \
            fail_msg("%s: got \"%s\", want \"%s\"", (name), _got, (want));     \
        free(_got);                                                            \
    } while (0)

static void test_manpage_example(void **state)
{
    (void)state;
    rk_regconf *c =
        parse_ok("unqualified-search-registries = [\"example.com\"]\n"
                 "\n"
                 "[[registry]]\n"
                 "prefix = \"example.com/foo\"\n"
                 "insecure = false\n"
                 "blocked = false\n"
                 "location = \"internal-registry-for-example.com/bar\"\n"
                 "\n"
                 "[[registry.mirror]]\n"
                 "location = \"example-mirror-0.local/mirror-for-foo\"\n"
                 "\n"
                 "[[registry.mirror]]\n"
                 "location = \"example-mirror-1.local/mirrors/foo\"\n"
                 "insecure = true\n");
    char *const *s = rk_regconf_search_registries(c);
    assert_non_null(s);
    assert_int_equal(rk_strv_len(s), 1);
    assert_string_equal(s[0], "example.com");
    assert_string_equal(rk_regconf_search_origin(c), "test.conf");
    assert_int_equal(rk_regconf_n_registries(c), 1);
    assert_resolves(c, "example.com/foo/image",
                    "~example-mirror-0.local/mirror-for-foo/image "
                    "~example-mirror-1.local/mirrors/foo/image! "
                    "internal-registry-for-example.com/bar/image");
    /* component boundary: foobar is not under foo */
    assert_resolves(c, "example.com/foobar/image", "example.com/foobar/image");
    /* the prefix itself names a repository */
    assert_resolves(c, "example.com/foo",
                    "~example-mirror-0.local/mirror-for-foo "
                    "~example-mirror-1.local/mirrors/foo! "
                    "internal-registry-for-example.com/bar");
    rk_regconf_free(c);
    /* a location without a path cannot hold a whole repository name */
    c = parse_ok("[[registry]]\nprefix = 'example.com/foo'\n"
                 "location = 'plain.local'\n");
    assert_resolves(c, "example.com/foo",
                    "ERR registries.conf (test.conf): location "
                    "\"plain.local\" gives no valid repository for "
                    "example.com/foo");
    assert_resolves(c, "example.com/foo/bar", "plain.local/bar");
    /* no match at all: the name itself, secure */
    assert_resolves(c, "docker.io/library/debian", "docker.io/library/debian");
    rk_regconf_free(c);
}

static void test_longest_prefix(void **state)
{
    (void)state;
    rk_regconf *c = parse_ok(
        "[[registry]]\n"
        "prefix = \"docker.io\"\n"
        "location = \"hub-mirror.local:5000\"\n"
        "[[registry]]\n"
        "prefix = \"docker.io/library\"\n"
        "location = \"lib.local/dockerhub/library\"\n"
        "insecure = true\n"
        "[[registry]]\n"
        "prefix = \"docker.io/library/debian\"\n"
        "location = \"debian.local/official/debian\"\n"
        "[[registry]]\n"
        "location = \"quay.io\"\n" /* prefix defaults to the location */
        "insecure = true\n"
        "[[registry]]\n"
        "prefix = \"docker.io/library/alpine/\"\n" /* trailing slash trimmed */
        "location = \"alp.local/a/\"\n");
    assert_resolves(c, "docker.io/library/debian",
                    "debian.local/official/debian");
    assert_resolves(c, "docker.io/library/debian2",
                    "lib.local/dockerhub/library/debian2!");
    assert_resolves(c, "docker.io/library/debian/sub",
                    "debian.local/official/debian/sub");
    assert_resolves(c, "docker.io/library/alpine", "alp.local/a");
    assert_resolves(c, "docker.io/user/app", "hub-mirror.local:5000/user/app");
    assert_resolves(c, "docker.iox/user/app", "docker.iox/user/app");
    assert_resolves(c, "quay.io/podman/stable", "quay.io/podman/stable!");
    assert_resolves(c, "quay.io:443/podman/stable",
                    "quay.io:443/podman/stable");
    assert_resolves(c, "quay.iox/a", "quay.iox/a");
    rk_regconf_free(c);
}

static void test_wildcard(void **state)
{
    (void)state;
    rk_regconf *c = parse_ok("[[registry]]\n"
                             "prefix = \"*.example.com\"\n"
                             "insecure = true\n"
                             "[[registry.mirror]]\n"
                             "location = \"cache.local/example\"\n"
                             "[[registry]]\n"
                             "prefix = \"*.corp.example.com\"\n"
                             "location = \"proxy.local/corp\"\n"
                             "[[registry]]\n"
                             "prefix = \"*.blocked.test\"\n"
                             "blocked = true\n");
    assert_resolves(c, "a.example.com/x/y",
                    "~cache.local/example/x/y a.example.com/x/y!");
    assert_resolves(c, "b.a.example.com/x",
                    "~cache.local/example/x b.a.example.com/x!");
    assert_resolves(c, "a.example.com:5000/x",
                    "~cache.local/example/x a.example.com:5000/x!");
    assert_resolves(c, "example.com/x", "example.com/x");
    assert_resolves(c, "aexample.com/x", "aexample.com/x");
    assert_resolves(c, "a.example.com.evil/x", "a.example.com.evil/x");
    /* the longer wildcard wins, and its location replaces the host */
    assert_resolves(c, "git.corp.example.com/team/app",
                    "proxy.local/corp/team/app");
    char *r = resolve_str(c, "x.blocked.test/a");
    assert_string_equal(r, "ERR registry *.blocked.test is blocked in "
                           "registries.conf (test.conf)");
    free(r);
    rk_regconf_free(c);
}

static void test_blocked(void **state)
{
    (void)state;
    rk_regconf *c = parse_ok("[[registry]]\n"
                             "location = \"docker.io\"\n"
                             "blocked = true\n"
                             "[[registry]]\n"
                             "prefix = \"docker.io/library/debian\"\n"
                             "location = \"docker.io/library/debian\"\n");
    rk_error *err = NULL;
    rk_endpoints *e = NULL;
    assert_int_equal(rk_regconf_resolve(c, "docker.io/user/x", &e, &err), -1);
    assert_null(e);
    assert_string_equal(err->msg,
                        "registry docker.io is blocked in registries.conf "
                        "(test.conf)");
    assert_int_equal(err->status, 125);
    rk_error_free(err);
    /* a more specific, unblocked entry wins */
    assert_resolves(c, "docker.io/library/debian", "docker.io/library/debian");
    rk_regconf_free(c);
}

static void test_no_config_and_bad_names(void **state)
{
    (void)state;
    assert_resolves(NULL, "127.0.0.1:5000/busybox", "127.0.0.1:5000/busybox");
    rk_regconf *c = rk_regconf_new();
    assert_resolves(c, "[::1]:5000/a/b", "[::1]:5000/a/b");
    assert_null(rk_regconf_search_registries(c));
    assert_null(rk_regconf_search_origin(c));
    static const char *const bad[] = {
        "debian",          "",          "docker.io/", "/x", "docker.io/Debian",
        "docker.io/a:tag", "bad_host/x"};
    for (size_t i = 0; i < RK_ELEMENTSOF(bad); i++) {
        rk_error *err = NULL;
        rk_endpoints *e = NULL;
        assert_int_equal(rk_regconf_resolve(c, bad[i], &e, &err), -1);
        assert_non_null(strstr(err->msg, "invalid repository name"));
        assert_int_equal(err->status, 125);
        rk_error_free(err);
    }
    rk_regconf_free(c);
}

static void test_toml_features(void **state)
{
    (void)state;
    rk_regconf *c = parse_ok(
        "\xef\xbb\xbf# a comment at the top\r\n"
        "short-name-mode = \"enforcing\"   # unknown keys are ignored\r\n"
        "credential-helpers = [ 'containers-auth.json', ]\n"
        "some-int = -1_000\n"
        "some-hex = 0xdead_beef\n"
        "some-float = 6.02e+23\n"
        "some-inf = -inf\n"
        "some-date = 1979-05-27 07:32:00Z\n"
        "some-time = 07:32:00\n"
        "some-table = { a = 1, b.c = \"x\", d = [1, [2, 3]] }\n"
        "dotted.key.here = true\n"
        "\"quoted key\" = '''\n"
        "multi\n"
        "line '' literal'''\n"
        "ml = \"\"\"\n"
        "a \\\n"
        "    b \"\" c\"\"\"\"\n"
        "unqualified-search-registries = [\n"
        "  # comment inside an array\n"
        "  \"registry.fedoraproject.org\",\n"
        "  'quay.io/',\n"
        "  \"docker\\u002eio\",   \n"
        "  \"127.0.0.1:5000\", # trailing comma next\n"
        "]\n"
        "\n"
        "[aliases]\n"
        "\"fedora\" = \"registry.fedoraproject.org/fedora\"\n"
        "\n"
        "[[registry]]\n"
        "prefix = 'docker.io'\n"
        "  location = \"mirror.local\"\t# indented keys are fine\n"
        "mirror-by-digest-only = false\n"
        "pull-from-mirror = \"all\"\n"
        "[[registry.mirror]]\n"
        "location = \"m1.local/hub\"\n"
        "pull-from-mirror = \"digest-only\"\n"
        "[[registry]]\n"
        "registry.location = \"ignored\"\n" /* a dotted key in a registry */
        "location = \"[::1]:5000\"\n"
        "insecure = true\n");
    char *const *s = rk_regconf_search_registries(c);
    assert_int_equal(rk_strv_len(s), 4);
    assert_string_equal(s[0], "registry.fedoraproject.org");
    assert_string_equal(s[1], "quay.io");
    assert_string_equal(s[2], "docker.io");
    assert_string_equal(s[3], "127.0.0.1:5000");
    assert_int_equal(rk_regconf_n_registries(c), 2);
    assert_resolves(c, "docker.io/library/debian",
                    "~m1.local/hub/library/debian mirror.local/library/debian");
    assert_resolves(c, "[::1]:5000/x", "[::1]:5000/x!");
    rk_regconf_free(c);

    /* inline tables in an array work as [[registry]] */
    c = parse_ok("registry = [ { location = \"a.local\", insecure = true,"
                 " mirror = [ { location = \"b.local\" } ] } ]\n");
    assert_resolves(c, "a.local/x", "~b.local/x a.local/x!");
    rk_regconf_free(c);

    /* an empty list is "set to nothing", and an empty file sets nothing */
    c = parse_ok("unqualified-search-registries = []");
    assert_non_null(rk_regconf_search_registries(c));
    assert_null(rk_regconf_search_registries(c)[0]);
    rk_regconf_free(c);
    c = parse_ok("");
    assert_null(rk_regconf_search_registries(c));
    assert_int_equal(rk_regconf_n_registries(c), 0);
    rk_regconf_free(c);
    c = parse_ok("\n\n   \n# only comments\n\t\n");
    rk_regconf_free(c);
}

static void test_duplicate_prefix_in_one_file(void **state)
{
    (void)state;
    rk_regconf *c = parse_ok("[[registry]]\n"
                             "prefix = \"docker.io\"\n"
                             "location = \"first.local\"\n"
                             "[[registry]]\n"
                             "prefix = \"docker.io\"\n"
                             "location = \"second.local\"\n");
    assert_int_equal(rk_regconf_n_registries(c), 1);
    assert_resolves(c, "docker.io/a/b", "first.local/a/b");
    rk_regconf_free(c);
}

struct bad_doc {
    const char *text;
    const char *msg; /* exact message */
};

static const struct bad_doc bad_docs[] = {
    {"a = \n", "test.conf:1: expected a value"},
    {"a = 1\nb\n", "test.conf:2: expected '=' after a key"},
    {"a = \"unterminated\n", "test.conf:1: unterminated string"},
    {"a = 'unterminated\n", "test.conf:1: unterminated string"},
    {"a = \"\"\"never closed\n\n",
     "test.conf:3: unterminated multi-line string"},
    {"a = \"bad \\q escape\"\n",
     "test.conf:1: invalid escape sequence in a string"},
    {"a = \"\\uD800\"\n",
     "test.conf:1: invalid unicode code point in a string"},
    {"a = \"\\u12\"\n", "test.conf:1: invalid \\u escape in a string"},
    {"a = \"tab\tok but \x01 not\"\n",
     "test.conf:1: control character in a string"},
    {"a = bareword\n",
     "test.conf:1: invalid value \"bareword\" (strings need quotes)"},
    {"a = 01\n", "test.conf:1: invalid value \"01\" (strings need quotes)"},
    {"a = 1__0\n", "test.conf:1: invalid value \"1__0\" (strings need quotes)"},
    {"a = True\n", "test.conf:1: invalid value \"True\" (strings need quotes)"},
    {"a = 1 2\n", "test.conf:1: expected the end of the line"},
    {"a = 1\na = 2\n", "test.conf:2: duplicate key \"a\""},
    {"[t]\nx = 1\n[t]\n", "test.conf:3: table [t] is defined twice"},
    {"a = 1\n[a]\n", "test.conf:2: table [a] is defined twice"},
    {"a = 1\n[[a]]\n",
     "test.conf:2: cannot define [[a]]: \"a\" is already defined"},
    {"[[a]]\n[a]\n", "test.conf:2: table [a] is defined twice"},
    {"a = [1, 2\n", "test.conf:2: unterminated array"},
    {"a = [1 2]\n", "test.conf:1: expected ',' or ']' in an array"},
    {"a = [,]\n", "test.conf:1: expected a value"},
    {"a = { b = 1, }\n", "test.conf:1: expected a key"},
    {"a = { b = 1\n}\n", "test.conf:1: expected ',' or '}' in an inline table"},
    {"a = {b = 1}\na.c = 2\n", "test.conf:2: key \"a\" is already defined"},
    {"[table\n", "test.conf:1: expected ']' after a table name"},
    {"[[table]\n", "test.conf:1: expected ']]' after a table name"},
    {"[]\n", "test.conf:1: expected a key"},
    {"[a] b = 1\n", "test.conf:1: expected the end of the line"},
    {"= 1\n", "test.conf:1: expected a key"},
    {"a = 1\rb = 2\n", "test.conf:1: expected the end of the line"},
    {"# bad \x7f comment\n", "test.conf:1: control character in a comment"},
    {"a = \"\xff\"\n", "test.conf: not valid UTF-8"},
    {"a = \"\xc0\xaf\"\n", "test.conf: not valid UTF-8"},
    {"a = "
     "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
     "]\n",
     "test.conf:1: values nested too deeply"},
    {"a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.aa.bb.cc.dd.ee.ff.gg "
     "= 1\n",
     "test.conf:1: too many dotted key parts"},
    {"a = \"\"\"x\"\"\"\"\"\"\n",
     "test.conf:1: too many quotes at the end of a string"},
    {"a = '''x'''\n'''\n", "test.conf:2: a multi-line string cannot be a key"},
    /* registries.conf semantics */
    {"[registries.search]\nregistries = ['docker.io']\n",
     "test.conf:1: version 1 format ([registries.search], "
     "[registries.insecure], "
     "[registries.block]) is not supported; use version 2 "
     "(unqualified-search-registries and [[registry]] tables)"},
    {"unqualified-search-registries = \"docker.io\"\n",
     "test.conf:1: \"unqualified-search-registries\" must be an array of "
     "strings"},
    {"unqualified-search-registries = [\"docker.io\",\n 5]\n",
     "test.conf:2: \"unqualified-search-registries\" must be an array of "
     "strings"},
    {"unqualified-search-registries = [\"docker.io/library\"]\n",
     "test.conf:1: invalid unqualified-search-registries entry "
     "\"docker.io/library\" (expected host[:port])"},
    {"unqualified-search-registries = [\"\"]\n",
     "test.conf:1: invalid unqualified-search-registries entry \"\" (expected "
     "host[:port])"},
    {"[registry]\nlocation = \"x.io\"\n",
     "test.conf:1: \"registry\" must be an array of tables ([[registry]])"},
    {"[[registry]]\ninsecure = true\n",
     "test.conf:1: [[registry]] needs a prefix or a location"},
    {"[[registry]]\nlocation = \"x.io\"\ninsecure = \"yes\"\n",
     "test.conf:3: \"insecure\" must be true or false, not a string"},
    {"[[registry]]\nlocation = \"x.io\"\nblocked = 1\n",
     "test.conf:3: \"blocked\" must be true or false, not an integer"},
    {"[[registry]]\nlocation = true\n",
     "test.conf:2: \"location\" must be a string, not a boolean"},
    {"[[registry]]\nlocation = \"https://x.io\"\n",
     "test.conf:2: invalid location \"https://x.io\": URI schemes are not "
     "supported"},
    {"[[registry]]\nprefix = \"x.io/a:tag\"\nlocation = \"y.io/b\"\n",
     "test.conf:2: invalid prefix \"x.io/a:tag\": a tag or digest is not "
     "supported here"},
    {"[[registry]]\nprefix = \"x.io/A\"\n",
     "test.conf:2: invalid prefix \"x.io/A\": invalid repository path"},
    {"[[registry]]\nlocation = \"*.x.io\"\n",
     "test.conf:2: invalid location \"*.x.io\": a wildcard is only allowed in "
     "a prefix"},
    {"[[registry]]\nprefix = \"*.x.io/ns\"\n",
     "test.conf:2: invalid prefix \"*.x.io/ns\": a wildcard prefix must be "
     "*.DOMAIN without port or path"},
    {"[[registry]]\nprefix = \"bad host\"\n",
     "test.conf:2: invalid prefix \"bad host\": invalid registry host"},
    {"[[registry]]\nlocation = \"x.io\"\n[[registry.mirror]]\ninsecure = "
     "true\n",
     "test.conf:3: a [[registry.mirror]] needs a location"},
    {"[[registry]]\nlocation = \"x.io\"\nmirror = \"m.io\"\n",
     "test.conf:3: \"mirror\" must be an array of tables "
     "([[registry.mirror]])"},
    {"[[registry]]\nlocation = \"x.io\"\n[[registry.mirror]]\nlocation = "
     "\"http://m.io\"\n",
     "test.conf:4: invalid mirror location \"http://m.io\": URI schemes are "
     "not "
     "supported"},
};

static void test_bad_docs(void **state)
{
    (void)state;
    for (size_t i = 0; i < RK_ELEMENTSOF(bad_docs); i++) {
        rk_regconf *c = rk_regconf_new();
        rk_error *err = NULL;
        if (rk_regconf_parse_string(c, bad_docs[i].text, "test.conf", &err) ==
            0)
            fail_msg("accepted:\n%s", bad_docs[i].text);
        if (strcmp(err->msg, bad_docs[i].msg))
            fail_msg("doc %zu:\n%s\ngot:  %s\nwant: %s", i, bad_docs[i].text,
                     err->msg, bad_docs[i].msg);
        assert_null(strchr(err->msg, '\n'));
        rk_error_free(err);
        rk_regconf_free(c);
    }
}

static void test_error_leaves_config_unchanged(void **state)
{
    (void)state;
    rk_regconf *c = parse_ok("unqualified-search-registries = ['a.io']\n"
                             "[[registry]]\nlocation = \"a.io\"\n");
    rk_error *err = NULL;
    assert_int_equal(rk_regconf_parse_string(
                         c,
                         "unqualified-search-registries = ['b.io']\n"
                         "[[registry]]\nlocation = \"a.io\"\ninsecure = true\n"
                         "oops\n",
                         "second.conf", &err),
                     -1);
    assert_string_equal(err->msg, "second.conf:5: expected '=' after a key");
    rk_error_free(err);
    assert_string_equal(rk_regconf_search_registries(c)[0], "a.io");
    assert_resolves(c, "a.io/x", "a.io/x");
    rk_regconf_free(c);
}

static void test_parse_buffer_nul(void **state)
{
    (void)state;
    rk_regconf *c = rk_regconf_new();
    rk_error *err = NULL;
    static const char doc[] = "a = 1\n\0b = 2\n";
    assert_int_equal(
        rk_regconf_parse_buffer(c, doc, sizeof(doc) - 1, "buf", &err), -1);
    assert_string_equal(err->msg, "buf: contains a NUL byte");
    rk_error_free(err);
    rk_regconf_free(c);
}

/* ---- files ---- */

static char tmpdir[64];

static void write_file(const char *rel, const char *text)
{
    _cleanup_free_ char *p = rk_path_join(tmpdir, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup_tmp(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/rk-regconf-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    return 0;
}

static int teardown_tmp(void **state)
{
    (void)state;
    rk_error *err = NULL;
    rk_rm_rf(tmpdir, &err);
    rk_error_free(err);
    unsetenv("CONTAINERS_REGISTRIES_CONF");
    return 0;
}

static void test_dropins(void **state)
{
    (void)state;
    _cleanup_free_ char *d = rk_path_join(tmpdir, "registries.conf.d");
    assert_int_equal(mkdir(d, 0755), 0);
    write_file(
        "registries.conf",
        "unqualified-search-registries = ['main.io', 'docker.io']\n"
        "[[registry]]\nprefix = 'docker.io'\nlocation = 'main-mirror.io'\n"
        "[[registry]]\nlocation = 'keep.io'\ninsecure = true\n");
    /* lexical order: 10 before 20; 20 overrides 10's docker.io */
    write_file("registries.conf.d/20-last.conf",
               "[[registry]]\nprefix = 'docker.io'\nlocation = 'dropin20.io'\n"
               "[[registry.mirror]]\nlocation = 'm20.io'\n");
    write_file("registries.conf.d/10-first.conf",
               "unqualified-search-registries = ['dropin.io']\n"
               "[[registry]]\nprefix = 'docker.io'\nlocation = 'dropin10.io'\n"
               "[[registry]]\nlocation = 'new.io'\n");
    write_file("registries.conf.d/README", "this is not toml\n");
    write_file("registries.conf.d/30-disabled.conf.bak", "garbage = \n");
    _cleanup_free_ char *sub = rk_path_join(d, "sub.conf");
    assert_int_equal(mkdir(sub, 0755), 0); /* a directory named *.conf */

    _cleanup_free_ char *main_file = rk_path_join(tmpdir, "registries.conf");
    rk_regconf *c = NULL;
    rk_error *err = NULL;
    if (rk_regconf_load_paths(main_file, false, d, &c, &err) < 0)
        fail_msg("%s", err->msg);
    char *const *s = rk_regconf_search_registries(c);
    assert_int_equal(rk_strv_len(s), 1);
    assert_string_equal(s[0], "dropin.io");
    _cleanup_free_ char *f10 = rk_path_join(d, "10-first.conf");
    assert_string_equal(rk_regconf_search_origin(c), f10);
    assert_int_equal(rk_regconf_n_registries(c), 3);
    assert_resolves(c, "docker.io/library/debian",
                    "~m20.io/library/debian dropin20.io/library/debian");
    assert_resolves(c, "keep.io/a", "keep.io/a!");
    assert_resolves(c, "new.io/a", "new.io/a");
    rk_regconf_free(c);

    /* a broken drop-in fails the load, naming the file and line */
    write_file("registries.conf.d/40-broken.conf", "\n\n[[registry]\n");
    assert_int_equal(rk_regconf_load_paths(main_file, false, d, &c, &err), -1);
    _cleanup_free_ char *want = rk_xasprintf(
        "%s/40-broken.conf:3: expected ']]' after a table name", d);
    assert_string_equal(err->msg, want);
    rk_error_free(err);
    err = NULL;

    /* the environment variable: only that file, drop-ins ignored */
    setenv("CONTAINERS_REGISTRIES_CONF", main_file, 1);
    assert_int_equal(rk_regconf_load(&c, &err), 0);
    s = rk_regconf_search_registries(c);
    assert_int_equal(rk_strv_len(s), 2);
    assert_string_equal(s[0], "main.io");
    assert_resolves(c, "docker.io/x/y", "main-mirror.io/x/y");
    rk_regconf_free(c);

    /* ... and it must exist */
    _cleanup_free_ char *missing = rk_path_join(tmpdir, "missing.conf");
    setenv("CONTAINERS_REGISTRIES_CONF", missing, 1);
    assert_int_equal(rk_regconf_load(&c, &err), -1);
    assert_non_null(strstr(err->msg, "missing.conf"));
    assert_int_equal(err->errnum, ENOENT);
    rk_error_free(err);
    err = NULL;
    unsetenv("CONTAINERS_REGISTRIES_CONF");

    /* a missing optional main file and a missing directory are fine */
    _cleanup_free_ char *nodir = rk_path_join(tmpdir, "nodir");
    assert_int_equal(rk_regconf_load_paths(missing, false, nodir, &c, &err), 0);
    assert_int_equal(rk_regconf_n_registries(c), 0);
    rk_regconf_free(c);
    assert_int_equal(rk_regconf_load_paths(missing, true, NULL, &c, &err), -1);
    rk_error_free(err);
    err = NULL;

    /* load_file merges into an existing config */
    c = parse_ok("[[registry]]\nlocation = 'keep.io'\n");
    assert_int_equal(rk_regconf_load_file(c, main_file, &err), 0);
    assert_resolves(c, "keep.io/a", "keep.io/a!");
    rk_regconf_free(c);
}

/* The user's file replaces the system file and the system drop-ins; the
 * user's drop-ins are read after either. */
static void test_user_files(void **state)
{
    (void)state;
    _cleanup_free_ char *sys_dir = rk_path_join(tmpdir, "sys.d");
    assert_int_equal(mkdir(sys_dir, 0755), 0);
    _cleanup_free_ char *sys_file = rk_path_join(tmpdir, "sys.conf");
    write_file("sys.conf", "unqualified-search-registries = ['sys.io']\n"
                           "[[registry]]\nlocation = 'sysonly.io'\n"
                           "insecure = true\n");
    write_file("sys.d/10.conf",
               "[[registry]]\nprefix = 'docker.io'\nlocation = 'sysdrop.io'\n");
    _cleanup_free_ char *home = rk_path_join(tmpdir, "home");
    _cleanup_free_ char *cfg = rk_path_join(tmpdir, "home/.config");
    _cleanup_free_ char *cc = rk_path_join(tmpdir, "home/.config/containers");
    _cleanup_free_ char *ud =
        rk_path_join(tmpdir, "home/.config/containers/registries.conf.d");
    assert_int_equal(mkdir(home, 0755), 0);
    assert_int_equal(mkdir(cfg, 0755), 0);
    assert_int_equal(mkdir(cc, 0755), 0);

    /* no user files: the system ones, as before */
    rk_regconf *c = NULL;
    rk_error *err = NULL;
    if (rk_regconf_load_for(home, sys_file, sys_dir, &c, &err) < 0)
        fail_msg("%s", err->msg);
    assert_string_equal(rk_regconf_search_registries(c)[0], "sys.io");
    assert_resolves(c, "docker.io/library/debian", "sysdrop.io/library/debian");
    assert_resolves(c, "sysonly.io/a", "sysonly.io/a!");
    rk_regconf_free(c);

    /* user drop-ins come after the system ones */
    assert_int_equal(mkdir(ud, 0755), 0);
    write_file("home/.config/containers/registries.conf.d/50.conf",
               "[[registry]]\nprefix = 'docker.io'\nlocation = 'userdrop.io'\n");
    assert_int_equal(rk_regconf_load_for(home, sys_file, sys_dir, &c, &err), 0);
    assert_resolves(c, "docker.io/library/debian", "userdrop.io/library/debian");
    assert_resolves(c, "sysonly.io/a", "sysonly.io/a!");
    rk_regconf_free(c);

    /* the user's own file: no system file, no system drop-ins */
    write_file("home/.config/containers/registries.conf",
               "unqualified-search-registries = ['user.io']\n");
    assert_int_equal(rk_regconf_load_for(home, sys_file, sys_dir, &c, &err), 0);
    assert_string_equal(rk_regconf_search_registries(c)[0], "user.io");
    assert_resolves(c, "docker.io/library/debian", "userdrop.io/library/debian");
    assert_resolves(c, "sysonly.io/a", "sysonly.io/a");
    rk_regconf_free(c);

    /* a broken user file is an error, naming it */
    write_file("home/.config/containers/registries.conf", "[[registry]\n");
    assert_int_equal(rk_regconf_load_for(home, sys_file, sys_dir, &c, &err), -1);
    assert_non_null(strstr(err->msg, "home/.config/containers/registries.conf:1"));
    rk_error_free(err);
    err = NULL;

    /* no HOME: only the system files */
    assert_int_equal(rk_regconf_load_for(NULL, sys_file, sys_dir, &c, &err), 0);
    assert_resolves(c, "docker.io/library/debian", "sysdrop.io/library/debian");
    rk_regconf_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_manpage_example),
        cmocka_unit_test(test_longest_prefix),
        cmocka_unit_test(test_wildcard),
        cmocka_unit_test(test_blocked),
        cmocka_unit_test(test_no_config_and_bad_names),
        cmocka_unit_test(test_toml_features),
        cmocka_unit_test(test_duplicate_prefix_in_one_file),
        cmocka_unit_test(test_bad_docs),
        cmocka_unit_test(test_error_leaves_config_unchanged),
        cmocka_unit_test(test_parse_buffer_nul),
        cmocka_unit_test_setup_teardown(test_dropins, setup_tmp, teardown_tmp),
        cmocka_unit_test_setup_teardown(test_user_files, setup_tmp, teardown_tmp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
