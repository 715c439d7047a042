/* probe/netcheck: URL parsing, tcp:// and http(s):// checks against local
 * servers (tests/fixtures/probehttpd.py), timeouts and reasons. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/strv.h"
#include "probe/netcheck.h"
#include "probehttpd.h"

/* A port on 127.0.0.1 nobody listens on: bound (so nobody else gets it)
 * but not listening, so connections are refused. */
static int dead_port(unsigned *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t l = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void run_check(const char *url, const rk_netcheck_opts *o,
                      rk_netcheck_result *r)
{
    rk_error *err = NULL;
    if (rk_netcheck_run(url, o, r, &err) < 0)
        fail_msg("%s: %s", url, err->msg);
    assert_non_null(r->reason);
    assert_null(strchr(r->reason, '\n'));
    assert_non_null(r->detail);
}

static void expect_reason(const rk_netcheck_result *r, bool up,
                          const char *want)
{
    if (r->up != up || strcmp(r->reason, want))
        fail_msg("got %s \"%s\", want %s \"%s\" (detail: %s)",
                 r->up ? "up" : "down", r->reason, up ? "up" : "down", want,
                 r->detail);
}

/* ---- parsing ---- */

static void expect_parse(const char *url, rk_netcheck_scheme scheme,
                         const char *host, unsigned port)
{
    rk_netcheck_target t;
    rk_error *err = NULL;
    if (rk_netcheck_parse(url, &t, &err) < 0)
        fail_msg("%s: %s", url, err->msg);
    assert_int_equal(t.scheme, scheme);
    assert_string_equal(t.host, host);
    assert_int_equal(t.port, port);
    rk_netcheck_target_clear(&t);
}

static void expect_parse_error(const char *url, const char *want)
{
    rk_netcheck_target t;
    rk_error *err = NULL;
    if (rk_netcheck_parse(url, &t, &err) == 0) {
        rk_netcheck_target_clear(&t);
        fail_msg("%s accepted", url);
    }
    if (!strstr(err->msg, want))
        fail_msg("%s: error \"%s\" does not say \"%s\"", url, err->msg, want);
    rk_error_free(err);
}

static void test_parse(void **state)
{
    (void)state;
    expect_parse("tcp://localhost:8000", RK_NETCHECK_TCP, "localhost", 8000);
    expect_parse("tcp://127.0.0.1:1/", RK_NETCHECK_TCP, "127.0.0.1", 1);
    expect_parse("tcp://[::1]:65535", RK_NETCHECK_TCP, "::1", 65535);
    expect_parse("http://localhost:8000", RK_NETCHECK_HTTP, "localhost", 8000);
    expect_parse("http://localhost", RK_NETCHECK_HTTP, "localhost", 80);
    expect_parse("HTTP://Example.org/a/b?c=d#e", RK_NETCHECK_HTTP,
                 "Example.org", 80);
    expect_parse("https://[2001:db8::1]/x", RK_NETCHECK_HTTPS, "2001:db8::1",
                 443);
    expect_parse("https://h.example:8443?x", RK_NETCHECK_HTTPS, "h.example",
                 8443);

    expect_parse_error("", "empty");
    expect_parse_error("localhost:8000",
                       "must start with tcp://, http:// or https://");
    expect_parse_error("ftp://localhost/", "must start with");
    expect_parse_error("tcp://localhost", "needs a port");
    expect_parse_error("tcp://localhost:80/path", "only HOST:PORT");
    expect_parse_error("tcp://localhost:0", "port \"0\" is not 1 to 65535");
    expect_parse_error("tcp://localhost:65536", "is not 1 to 65535");
    expect_parse_error("http://localhost:x/", "port \"x\"");
    expect_parse_error("http://localhost:/", "port \"\"");
    expect_parse_error("tcp://::1:80", "in brackets");
    expect_parse_error("tcp://[::1:80", "missing ']'");
    expect_parse_error("tcp://[nope]:80", "not an IPv6 address");
    expect_parse_error("tcp://[::1]x:80", "junk after");
    expect_parse_error("http://user:pw@localhost/", "credentials");
    expect_parse_error("http:///path", "is not a host name");
    expect_parse_error("http://bad host/", "spaces");
    expect_parse_error("http://b\x01/", "control characters");
    expect_parse_error("http://a$b/", "is not a host name");
}

static void test_bad_options(void **state)
{
    (void)state;
    rk_netcheck_result r;
    rk_error *err = NULL;
    rk_netcheck_opts o = {.timeout = -1};
    assert_int_equal(rk_netcheck_run("tcp://localhost:1", &o, &r, &err), -1);
    assert_non_null(strstr(err->msg, "network timeout"));
    rk_error_free(err);
    err = NULL;
    o = (rk_netcheck_opts){.expect_status = 99};
    assert_int_equal(rk_netcheck_run("http://localhost:1", &o, &r, &err), -1);
    assert_non_null(strstr(err->msg, "must be 100 to 599"));
    rk_error_free(err);
    err = NULL;
    assert_int_equal(rk_netcheck_run("gopher://x", NULL, &r, &err), -1);
    assert_non_null(strstr(err->msg, "gopher://x"));
    rk_error_free(err);
}

/* ---- tcp:// ---- */

static void test_tcp(void **state)
{
    (void)state;
    probehttpd s;
    probehttpd_start(&s, NULL, NULL);
    rk_netcheck_result r;
    _cleanup_free_ char *url = rk_xasprintf("tcp://127.0.0.1:%u", s.port);
    run_check(url, NULL, &r);
    _cleanup_free_ char *want =
        rk_xasprintf("connected to 127.0.0.1:%u", s.port);
    expect_reason(&r, true, want);
    assert_int_equal(r.attempts, 1);
    assert_null(r.status_line);
    rk_netcheck_result_clear(&r);

    /* A name: whichever of its addresses answers. */
    _cleanup_free_ char *url2 = rk_xasprintf("tcp://localhost:%u", s.port);
    run_check(url2, NULL, &r);
    assert_true(r.up);
    rk_netcheck_result_clear(&r);
    probehttpd_stop(&s);

    /* IPv6. */
    const char *const v6[] = {"--bind", "::1", NULL};
    probehttpd_start(&s, NULL, v6);
    _cleanup_free_ char *url6 = rk_xasprintf("tcp://[::1]:%u", s.port);
    run_check(url6, NULL, &r);
    _cleanup_free_ char *want6 = rk_xasprintf("connected to [::1]:%u", s.port);
    expect_reason(&r, true, want6);
    rk_netcheck_result_clear(&r);
    probehttpd_stop(&s);
}

static void test_tcp_refused(void **state)
{
    (void)state;
    unsigned port;
    int fd = dead_port(&port);
    _cleanup_free_ char *url = rk_xasprintf("tcp://127.0.0.1:%u", port);
    rk_netcheck_opts o = {.timeout = 0.5};
    rk_netcheck_result r;
    run_check(url, &o, &r);
    expect_reason(&r, false, "connection refused until timeout after 0.5 s");
    assert_true(r.elapsed >= 0.5 && r.elapsed < 2.0);
    /* Retried every 100 ms or so. */
    assert_true(r.attempts >= 3 && r.attempts <= 7);
    assert_non_null(strstr(r.detail, "connection refused"));

    /* Into a report. */
    _cleanup_report_ rk_report *rep = rk_report_new("t");
    rk_probe_run *run = rk_report_add_run(rep, "img", NULL);
    rk_check *c = rk_netcheck_add_check(run, url, &r);
    _cleanup_free_ char *name = rk_xasprintf("network:%s", url);
    assert_string_equal(c->name, name);
    assert_int_equal(c->status, RK_CHECK_FAIL);
    assert_int_equal(c->kind, RK_CHECK_TEST);
    assert_string_equal(c->reason, r.reason);
    assert_string_equal(c->detail, r.detail);
    assert_true(c->duration == r.elapsed);
    assert_int_equal(rk_report_exit_code(rep), 4);
    rk_netcheck_result_clear(&r);
    close(fd);
}

static void test_tcp_late_listener(void **state)
{
    (void)state;
    const char *const late[] = {"--listen-delay", "0.7", NULL};
    probehttpd s;
    probehttpd_start(&s, NULL, late);
    _cleanup_free_ char *url = rk_xasprintf("tcp://127.0.0.1:%u", s.port);
    rk_netcheck_result r;
    run_check(url, NULL, &r);
    assert_true(r.up);
    assert_true(r.attempts > 2);
    assert_true(r.elapsed >= 0.4 && r.elapsed < 4.0);
    rk_netcheck_result_clear(&r);
    probehttpd_stop(&s);
}

static void test_no_such_host(void **state)
{
    (void)state;
    rk_netcheck_opts o = {.timeout = 3};
    rk_netcheck_result r;
    run_check("tcp://no-such-host.invalid:80", &o, &r);
    expect_reason(&r, false, "no such host no-such-host.invalid");
    assert_true(r.elapsed < 2.5);
    rk_netcheck_result_clear(&r);
    run_check("http://no-such-host.invalid:8000/", &o, &r);
    expect_reason(&r, false, "no such host no-such-host.invalid");
    assert_true(r.elapsed < 2.5);
    rk_netcheck_result_clear(&r);
}

/* ---- http:// ---- */

static void test_http(void **state)
{
    (void)state;
    probehttpd s;
    probehttpd_start(&s, NULL, NULL);
    rk_netcheck_result r;

    _cleanup_free_ char *ok =
        rk_xasprintf("http://127.0.0.1:%u/status/200", s.port);
    run_check(ok, NULL, &r);
    expect_reason(&r, true, "HTTP/1.1 200 OK");
    assert_string_equal(r.status_line, "HTTP/1.1 200 OK");
    assert_int_equal(r.http_status, 200);
    assert_int_equal(r.attempts, 1);
    assert_non_null(strstr(r.detail, "GET http://127.0.0.1:"));
    assert_non_null(strstr(r.detail, "Content-Length: 11"));
    rk_netcheck_result_clear(&r);

    /* Any answer is up... */
    _cleanup_free_ char *err500 =
        rk_xasprintf("http://localhost:%u/status/500", s.port);
    run_check(err500, NULL, &r);
    expect_reason(&r, true, "HTTP/1.1 500 Internal Server Error");
    assert_int_equal(r.http_status, 500);
    rk_netcheck_result_clear(&r);
    /* ...unless a status is expected. */
    rk_netcheck_opts strict = {.timeout = 0.5, .expect_status = 200};
    run_check(err500, &strict, &r);
    expect_reason(&r, false,
                  "HTTP/1.1 500 Internal Server Error, expected status 200 "
                  "until timeout after "
                  "0.5 s");
    assert_true(r.attempts >= 2);
    assert_int_equal(r.http_status, 500);
    assert_non_null(strstr(r.detail, "Content-Length"));
    rk_netcheck_result_clear(&r);
    rk_netcheck_opts strict500 = {.expect_status = 500};
    run_check(err500, &strict500, &r);
    assert_true(r.up);
    rk_netcheck_result_clear(&r);

    /* Redirects are answers, not followed. */
    _cleanup_free_ char *redir =
        rk_xasprintf("http://127.0.0.1:%u/redirect/status/200", s.port);
    run_check(redir, NULL, &r);
    expect_reason(&r, true, "HTTP/1.1 302 Found");
    rk_netcheck_result_clear(&r);

    /* No proxy for loopback hosts, whatever the environment says. */
    setenv("http_proxy", "http://127.0.0.1:1", 1);
    setenv("HTTP_PROXY", "http://127.0.0.1:1", 1);
    _cleanup_free_ char *lo =
        rk_xasprintf("http://localhost:%u/status/204", s.port);
    run_check(lo, NULL, &r);
    expect_reason(&r, true, "HTTP/1.1 204 No Content");
    rk_netcheck_result_clear(&r);
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");

    /* Accepted but never answered. */
    _cleanup_free_ char *hang =
        rk_xasprintf("http://127.0.0.1:%u/hang", s.port);
    rk_netcheck_opts quick = {.timeout = 0.6};
    run_check(hang, &quick, &r);
    expect_reason(&r, false, "timed out after 0.6 s");
    assert_true(r.elapsed >= 0.6 && r.elapsed < 2.0);
    rk_netcheck_result_clear(&r);
    probehttpd_stop(&s);

    /* IPv6. */
    const char *const v6[] = {"--bind", "::1", NULL};
    probehttpd_start(&s, NULL, v6);
    _cleanup_free_ char *u6 =
        rk_xasprintf("http://[::1]:%u/status/404", s.port);
    run_check(u6, NULL, &r);
    expect_reason(&r, true, "HTTP/1.1 404 Not Found");
    rk_netcheck_result_clear(&r);
    probehttpd_stop(&s);
}

static void test_http_refused_then_up(void **state)
{
    (void)state;
    unsigned port;
    int fd = dead_port(&port);
    _cleanup_free_ char *url = rk_xasprintf("http://localhost:%u/", port);
    rk_netcheck_opts o = {.timeout = 0.5};
    rk_netcheck_result r;
    run_check(url, &o, &r);
    expect_reason(&r, false, "connection refused until timeout after 0.5 s");
    assert_true(r.elapsed >= 0.5 && r.elapsed < 2.0);
    assert_true(r.attempts >= 3);
    assert_null(r.status_line);
    rk_netcheck_result_clear(&r);
    close(fd);

    const char *const late[] = {"--listen-delay", "0.6", NULL};
    probehttpd s;
    probehttpd_start(&s, NULL, late);
    _cleanup_free_ char *u2 =
        rk_xasprintf("http://127.0.0.1:%u/status/200", s.port);
    run_check(u2, NULL, &r);
    expect_reason(&r, true, "HTTP/1.1 200 OK");
    assert_true(r.attempts > 2);
    rk_netcheck_result_clear(&r);
    probehttpd_stop(&s);
}

/* ---- https:// ---- */

static void test_https(void **state)
{
    (void)state;
    const char *const tls[] = {"--tls", NULL};
    probehttpd s;
    probehttpd_start(&s, NULL, tls);
    _cleanup_free_ char *url =
        rk_xasprintf("https://localhost:%u/status/200", s.port);
    rk_netcheck_result r;

    /* Verification is on by default: a self-signed certificate fails at
     * once, with the reason. */
    rk_netcheck_opts o = {.timeout = 3};
    run_check(url, &o, &r);
    assert_false(r.up);
    assert_true(rk_startswith(r.reason, "TLS certificate verification failed"));
    assert_true(r.elapsed < 2.5);
    rk_netcheck_result_clear(&r);

    rk_netcheck_opts ca = {.ca_file = s.cert};
    run_check(url, &ca, &r);
    expect_reason(&r, true, "HTTP/1.1 200 OK");
    rk_netcheck_result_clear(&r);

    _cleanup_free_ char *url_ip =
        rk_xasprintf("https://127.0.0.1:%u/status/503", s.port);
    rk_netcheck_opts insecure = {.tls_insecure = true};
    run_check(url_ip, &insecure, &r);
    expect_reason(&r, true, "HTTP/1.1 503 Service Unavailable");
    rk_netcheck_result_clear(&r);
    probehttpd_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_tcp),
        cmocka_unit_test(test_tcp_refused),
        cmocka_unit_test(test_tcp_late_listener),
        cmocka_unit_test(test_no_such_host),
        cmocka_unit_test(test_http),
        cmocka_unit_test(test_http_refused_then_up),
        cmocka_unit_test(test_https),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
