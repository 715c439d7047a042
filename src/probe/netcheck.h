/* Network checks of pkgprobe (--check-network=URL), run from the host
 * against a container that shares the host's network.
 *
 *   tcp://HOST:PORT         up once a TCP connection succeeds
 *   http://HOST[:PORT]/...  up once a GET gets any HTTP answer (its status
 *   https://...             line is recorded); with expect_status, the
 *                           status must be that one
 * HOST is a name, an IPv4 address or a bracketed IPv6 address; every
 * address a name resolves to (IPv4 and IPv6) is tried at once. A check is
 * retried every 100 ms until it succeeds or the timeout passes, since the
 * service under test may still be starting. A name that does not resolve
 * fails at once ("no such host").
 *
 * Reasons are one line: "HTTP/1.1 200 OK", "connected to [::1]:8000",
 * "connection refused until timeout after 5 s", "timed out after 5 s" (the
 * server accepted the connection but never answered), "HTTP/1.0 500
 * Internal Server Error, expected status 200 until timeout after 5 s".
 *
 * HTTP: no redirects are followed (a redirect is an answer); a proxy from
 * the environment is never used for loopback hosts (localhost, 127.0.0.0/8,
 * ::1); the body is not read. HTTPS verifies the server's certificate and
 * name against the system's CAs (plus ca_file) by default. A service under
 * test often has a self-signed certificate: tls_insecure turns
 * verification off (pkgprobe can expose it as an option); a check that
 * fails verification says so in its reason. */
#pragma once

#include <stdbool.h>

#include "base/error.h"
#include "probe/report.h"

#define RK_NETCHECK_DEFAULT_TIMEOUT 5.0

typedef enum rk_netcheck_scheme {
    RK_NETCHECK_TCP,
    RK_NETCHECK_HTTP,
    RK_NETCHECK_HTTPS,
} rk_netcheck_scheme;

typedef struct rk_netcheck_target {
    rk_netcheck_scheme scheme;
    char *host;    /* without brackets: "localhost", "::1" */
    unsigned port; /* given, or 80 / 443 */
} rk_netcheck_target;

/* Validate a check URL (for option parsing too): unsupported schemes,
 * credentials, a missing or bad port, a bad host fail with a message
 * naming the URL. */
int rk_netcheck_parse(const char *url, rk_netcheck_target *ret, rk_error **err);
void rk_netcheck_target_clear(rk_netcheck_target *t);

typedef struct rk_netcheck_opts {
    double timeout;      /* seconds; 0 means RK_NETCHECK_DEFAULT_TIMEOUT */
    int expect_status;   /* 0: any HTTP answer is up; else 100..599 (ignored
                          * for tcp://) */
    bool tls_insecure;   /* https: skip certificate and host name checks */
    const char *ca_file; /* https: extra trusted CAs (PEM), or NULL */
} rk_netcheck_opts;

typedef struct rk_netcheck_result {
    bool up;
    char *reason;      /* one line (see above) */
    char *status_line; /* the HTTP status line received last, or NULL */
    long http_status;  /* its code, 0 when none */
    char *detail;      /* attempts, addresses, response headers */
    unsigned attempts;
    double elapsed; /* seconds */
} rk_netcheck_result;

/* Run one check. Returns 0 with *ret filled, up or not; -1 only when the
 * URL or the options are invalid. */
int rk_netcheck_run(const char *url, const rk_netcheck_opts *opts,
                    rk_netcheck_result *ret, rk_error **err);
void rk_netcheck_result_clear(rk_netcheck_result *r);

/* Record a result as check "network:URL" (RK_CHECK_TEST) in run. */
rk_check *rk_netcheck_add_check(rk_probe_run *run, const char *url,
                                const rk_netcheck_result *r);
