/* Unit tests for src/image/challenge.c: WWW-Authenticate parsing and the
 * Bearer token URL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/strv.h"
#include "image/challenge.h"

/* Render challenges as `scheme[ token68][ name="value"]...` joined by
 * " | ", or "ERR msg". */
static char *render(const char *header)
{
    rk_challenges *cs = NULL;
    rk_error *err = NULL;
    if (rk_challenges_parse(header, &cs, &err) < 0) {
        char *r = rk_xasprintf("ERR %s", err->msg);
        rk_error_free(err);
        return r;
    }
    char **parts = rk_xcalloc(1, sizeof(char *));
    for (size_t i = 0; i < cs->n; i++) {
        const rk_challenge *c = &cs->v[i];
        char *s = rk_xstrdup(c->scheme);
        if (c->token68) {
            char *n = rk_xasprintf("%s %s", s, c->token68);
            free(s);
            s = n;
        }
        for (size_t k = 0; k < c->n_params; k++) {
            char *n = rk_xasprintf("%s %s=\"%s\"", s, c->params[k].name,
                                   c->params[k].value);
            free(s);
            s = n;
        }
        rk_strv_push(&parts, s);
    }
    char *r = rk_strv_join(parts, " | ");
    rk_strv_free(parts);
    rk_challenges_free(cs);
    return r;
}

struct ccase {
    const char *in, *want;
};

static const struct ccase cases[] = {
    /* Docker Hub */
    {"Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker."
     "io\",scope=\"repository:library/debian:pull\"",
     "bearer realm=\"https://auth.docker.io/token\" "
     "service=\"registry.docker.io\" scope=\"repository:library/debian:pull\""},
    /* the distribution registry with htpasswd */
    {"Basic realm=\"Registry Realm\"", "basic realm=\"Registry Realm\""},
    /* case, spacing, tokens, BWS around '=' */
    {"  BEARER   Realm = \"a\" ,  Service=reg.io  ,scope=x ",
     "bearer realm=\"a\" service=\"reg.io\" scope=\"x\""},
    /* quoted commas, escapes, empty value */
    {"Bearer realm=\"https://h/t?a=1,b=2\",error=\"insufficient_scope\","
     "x=\"say \\\"hi\\\", \\\\ ok\",e=\"\"",
     "bearer realm=\"https://h/t?a=1,b=2\" error=\"insufficient_scope\" "
     "x=\"say \"hi\", \\ ok\" e=\"\""},
    /* several challenges in one header */
    {"Basic realm=\"b\", Bearer realm=\"t\",service=\"s\"",
     "basic realm=\"b\" | bearer realm=\"t\" service=\"s\""},
    {"Newauth realm=\"apps\", type=1, title=\"Login to \\\"apps\\\"\", "
     "Basic realm=\"simple\"",
     "newauth realm=\"apps\" type=\"1\" title=\"Login to \"apps\"\" | "
     "basic realm=\"simple\""},
    /* schemes without parameters, empty list elements */
    {"Negotiate", "negotiate"},
    {"Negotiate, Basic realm=x", "negotiate | basic realm=\"x\""},
    {",, Basic realm=x ,, , Digest realm=y,,",
     "basic realm=\"x\" | digest realm=\"y\""},
    {"Basic realm=x, Negotiate", "basic realm=\"x\" | negotiate"},
    /* token68 */
    {"Negotiate "
     "YIIB/gYGKwYBBQUCoIIB8jCCAe6gMDAuBgkqhkiC9xIBAgIGCSqGSIb3EgECAgYKKwY==",
     "negotiate "
     "YIIB/gYGKwYBBQUCoIIB8jCCAe6gMDAuBgkqhkiC9xIBAgIGCSqGSIb3EgECAgYKKwY=="},
    {"Basic dXNlcjpwYXNz=, Bearer realm=r",
     "basic dXNlcjpwYXNz= | bearer realm=\"r\""},
    {"Custom abc", "custom abc"},
    /* a token68 challenge has no parameters: "def=1" would be a scheme */
    {"Custom abc, def=1", "ERR invalid WWW-Authenticate header: expected a "
                          "space after the auth scheme at offset 15"},
    /* tab as whitespace, obs-text in a quoted string is kept */
    {"Bearer\trealm=\"caf\xc3\xa9\"", "bearer realm=\"caf\xc3\xa9\""},
    /* errors */
    {"", "ERR invalid WWW-Authenticate header: no challenge"},
    {" , ,", "ERR invalid WWW-Authenticate header: no challenge"},
    {"=x", "ERR invalid WWW-Authenticate header: expected an auth scheme at "
           "offset 0"},
    {"Bearer realm=\"unterminated", "ERR invalid WWW-Authenticate header: "
                                    "unterminated quoted string at offset 26"},
    {"Bearer realm=\"a\" service=\"b\"",
     "ERR invalid WWW-Authenticate header: expected ',' after a parameter at "
     "offset 17"},
    {"Bearer realm=\"a\"junk", "ERR invalid WWW-Authenticate header: expected "
                               "',' after a parameter at offset 16"},
    {"Bearer realm=\"a\", realm=\"b\"",
     "ERR invalid WWW-Authenticate header: parameter given twice at offset 27"},
    {"Bearer realm=\"a\", REALM=b",
     "ERR invalid WWW-Authenticate header: parameter given twice at offset 25"},
    {"Bearer realm=\"a\x01\"", "ERR invalid WWW-Authenticate header: control "
                               "character in a quoted string at offset 15"},
    {"Bearer realm=\"a\\\x01\"", "ERR invalid WWW-Authenticate header: bad "
                                 "escape in a quoted string at offset 15"},
    {"Bearer realm=\"a\\", "ERR invalid WWW-Authenticate header: bad escape in "
                           "a quoted string at offset 15"},
    {"Bearer@ realm=x", "ERR invalid WWW-Authenticate header: expected a space "
                        "after the auth scheme at offset 6"},
    {"Bearer =x", "ERR invalid WWW-Authenticate header: expected a parameter "
                  "or token68 at offset 7"},
    {"Basic abc def", "ERR invalid WWW-Authenticate header: expected ',' after "
                      "token68 at offset 10"},
    {"Basic abc==x", "ERR invalid WWW-Authenticate header: expected ',' after "
                     "token68 at offset 11"},
    {"Bearer realm=a/b", "ERR invalid WWW-Authenticate header: expected ',' "
                         "after a parameter at offset 14"},
};

static void test_parse_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < RK_ELEMENTSOF(cases); i++) {
        char *got = render(cases[i].in);
        if (strcmp(got, cases[i].want))
            fail_msg("case %zu: %s\n got:  %s\n want: %s", i, cases[i].in, got,
                     cases[i].want);
        free(got);
    }
}

static void test_limits(void **state)
{
    (void)state;
    /* many parameters */
    char *h = rk_xstrdup("Bearer a0=x");
    for (int i = 1; i < 70; i++) {
        char *n = rk_xasprintf("%s, a%d=x", h, i);
        free(h);
        h = n;
    }
    char *got = render(h);
    assert_true(rk_startswith(got, "ERR invalid WWW-Authenticate header: too "
                                   "many parameters at offset "));
    free(got);
    free(h);
    /* many challenges */
    h = rk_xstrdup("A");
    for (int i = 1; i < 40; i++) {
        char *n = rk_xasprintf("%s, A", h);
        free(h);
        h = n;
    }
    got = render(h);
    assert_non_null(strstr(got, "too many challenges"));
    free(got);
    free(h);
    /* a header that is too long */
    h = rk_xmalloc(70000);
    memset(h, 'a', 69999);
    h[69999] = 0;
    got = render(h);
    assert_string_equal(got, "ERR invalid WWW-Authenticate header: too long");
    free(got);
    free(h);
    /* NULL is an empty header */
    got = render(NULL);
    assert_string_equal(got,
                        "ERR invalid WWW-Authenticate header: no challenge");
    free(got);
}

static void test_find_and_param(void **state)
{
    (void)state;
    rk_challenges *cs = NULL;
    rk_error *err = NULL;
    assert_int_equal(rk_challenges_parse("Basic realm=\"b\", Bearer "
                                         "Realm=\"https://t/\",Service=\"Reg\"",
                                         &cs, &err),
                     0);
    assert_int_equal(cs->n, 2);
    const rk_challenge *b = rk_challenges_find(cs, "BEARER");
    assert_non_null(b);
    assert_string_equal(b->scheme, "bearer");
    assert_string_equal(rk_challenge_param(b, "realm"), "https://t/");
    assert_string_equal(rk_challenge_param(b, "SERVICE"), "Reg");
    assert_null(rk_challenge_param(b, "scope"));
    assert_null(rk_challenges_find(cs, "digest"));
    assert_string_equal(
        rk_challenge_param(rk_challenges_find(cs, "basic"), "realm"), "b");
    assert_null(rk_challenge_param(NULL, "realm"));
    assert_null(rk_challenges_find(NULL, "basic"));
    rk_challenges_free(cs);
}

static void test_escape(void **state)
{
    (void)state;
    char *e = rk_url_escape("repository:library/debian:pull,push");
    assert_string_equal(e, "repository%3Alibrary%2Fdebian%3Apull%2Cpush");
    free(e);
    e = rk_url_escape("a b&c=d?e#f%g~h-i_j.k\xc3\xa9");
    assert_string_equal(e, "a%20b%26c%3Dd%3Fe%23f%25g~h-i_j.k%C3%A9");
    free(e);
    e = rk_url_escape("");
    assert_string_equal(e, "");
    free(e);
}

static void test_token_url(void **state)
{
    (void)state;
    char *u = NULL;
    rk_error *err = NULL;
    const char *sc[] = {"repository:library/debian:pull", NULL};
    assert_int_equal(rk_bearer_token_url("https://auth.docker.io/token",
                                         "registry.docker.io", sc, &u, &err),
                     0);
    assert_string_equal(u, "https://auth.docker.io/token?service=registry."
                           "docker.io&scope=repository%3Alibrary%2Fdebian%"
                           "3Apull");
    free(u);
    /* a realm with a query already */
    assert_int_equal(rk_bearer_token_url("http://127.0.0.1:5001/auth?x=1",
                                         "my registry", sc, &u, &err),
                     0);
    assert_string_equal(u, "http://127.0.0.1:5001/auth?x=1&service=my%"
                           "20registry&scope=repository%3Alibrary%2Fdebian%"
                           "3Apull");
    free(u);
    /* a realm ending with '?', no service, two scopes */
    const char *sc2[] = {"repository:a:pull", "repository:b:pull,push", NULL};
    assert_int_equal(rk_bearer_token_url("https://h/t?", NULL, sc2, &u, &err),
                     0);
    assert_string_equal(u, "https://h/t?scope=repository%3Aa%3Apull&scope="
                           "repository%3Ab%3Apull%2Cpush");
    free(u);
    /* nothing to add */
    assert_int_equal(rk_bearer_token_url("HTTPS://h/t", "", NULL, &u, &err), 0);
    assert_string_equal(u, "HTTPS://h/t");
    free(u);

    static const char *const bad[] = {
        "",
        "ftp://h/t",
        "https://",
        "https:///t",
        "https://h/t#frag",
        "https://h/a b",
        "https://h/\x01",
        "/relative",
        "https://h/\xc3\xa9",
    };
    for (size_t i = 0; i < RK_ELEMENTSOF(bad); i++) {
        u = NULL;
        assert_int_equal(rk_bearer_token_url(bad[i], "s", sc, &u, &err), -1);
        assert_null(u);
        assert_non_null(err);
        rk_error_free(err);
        err = NULL;
    }
    assert_int_equal(rk_bearer_token_url(NULL, "s", sc, &u, &err), -1);
    assert_string_equal(err->msg, "bearer challenge without a realm");
    rk_error_free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_table),    cmocka_unit_test(test_limits),
        cmocka_unit_test(test_find_and_param), cmocka_unit_test(test_escape),
        cmocka_unit_test(test_token_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
