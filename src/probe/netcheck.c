#include "config.h"

#include "probe/netcheck.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/strv.h"

#define RETRY_INTERVAL 0.1   /* seconds between attempts */
#define CONNECT_WAIT_MAX 1.0 /* seconds one TCP attempt waits for a connect */
#define MAX_ADDRS 16
#define HEADERS_MAX (16 * 1024)
#define TIMEOUT_MAX 86400.0

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until(double t)
{
    double d = t - now_mono();
    if (d <= 0)
        return;
    struct timespec ts = {.tv_sec = (time_t)d,
                          .tv_nsec = (long)((d - (double)(time_t)d) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* ---- URL parsing ---- */

static bool host_name_valid(const char *h)
{
    if (!*h || strlen(h) > 253)
        return false;
    for (const char *p = h; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '_'))
            return false;
    return true;
}

void rk_netcheck_target_clear(rk_netcheck_target *t)
{
    free(t->host);
    t->host = NULL;
}

int rk_netcheck_parse(const char *url, rk_netcheck_target *ret, rk_error **err)
{
    memset(ret, 0, sizeof(*ret));
    if (!url || !*url)
        return rk_error_set(err, 0, "empty network check URL");
    const char *rest;
    rk_netcheck_scheme scheme;
    unsigned def_port = 0;
    if (!strncasecmp(url, "tcp://", 6)) {
        scheme = RK_NETCHECK_TCP;
        rest = url + 6;
    } else if (!strncasecmp(url, "http://", 7)) {
        scheme = RK_NETCHECK_HTTP;
        rest = url + 7;
        def_port = 80;
    } else if (!strncasecmp(url, "https://", 8)) {
        scheme = RK_NETCHECK_HTTPS;
        rest = url + 8;
        def_port = 443;
    } else {
        return rk_error_set(
            err, 0,
            "network check \"%s\": the URL must start with tcp://, http:// or "
            "https://",
            url);
    }
    size_t alen = strcspn(rest, "/?#");
    _cleanup_free_ char *auth = rk_xstrndup(rest, alen);
    const char *tail = rest + alen;
    if (scheme == RK_NETCHECK_TCP && *tail && strcmp(tail, "/"))
        return rk_error_set(
            err, 0, "network check \"%s\": a tcp:// URL is only HOST:PORT",
            url);
    if (strchr(auth, '@'))
        return rk_error_set(
            err, 0,
            "network check \"%s\": credentials in the URL are not supported",
            url);
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        if (*p <= 0x20 || *p == 0x7f)
            return rk_error_set(
                err, 0,
                "network check \"%s\": spaces and control characters must be "
                "percent-encoded",
                url);
    _cleanup_free_ char *host = NULL;
    const char *port_s = NULL;
    if (auth[0] == '[') {
        char *close = strchr(auth, ']');
        if (!close)
            return rk_error_set(
                err, 0,
                "network check \"%s\": missing ']' after the IPv6 address",
                url);
        host = rk_xstrndup(auth + 1, (size_t)(close - auth - 1));
        struct in6_addr a6;
        if (inet_pton(AF_INET6, host, &a6) != 1)
            return rk_error_set(
                err, 0, "network check \"%s\": \"%s\" is not an IPv6 address",
                url, host);
        if (close[1] == ':')
            port_s = close + 2;
        else if (close[1])
            return rk_error_set(
                err, 0, "network check \"%s\": junk after the IPv6 address",
                url);
    } else {
        char *colon = strrchr(auth, ':');
        if (colon) {
            if (strchr(auth, ':') != colon)
                return rk_error_set(
                    err, 0,
                    "network check \"%s\": write IPv6 addresses in brackets, "
                    "[::1]:PORT",
                    url);
            *colon = 0;
            port_s = colon + 1;
        }
        host = rk_xstrdup(auth);
        if (!host_name_valid(host))
            return rk_error_set(
                err, 0, "network check \"%s\": \"%s\" is not a host name", url,
                host);
    }
    unsigned port = def_port;
    if (port_s) {
        unsigned long long p;
        if (!rk_parse_uint64(port_s, &p) || p < 1 || p > 65535)
            return rk_error_set(
                err, 0, "network check \"%s\": port \"%s\" is not 1 to 65535",
                url, port_s);
        port = (unsigned)p;
    } else if (scheme == RK_NETCHECK_TCP) {
        return rk_error_set(
            err, 0, "network check \"%s\": a tcp:// URL needs a port", url);
    }
    ret->scheme = scheme;
    ret->host = TAKE_PTR(host);
    ret->port = port;
    return 0;
}

/* ---- results ---- */

void rk_netcheck_result_clear(rk_netcheck_result *r)
{
    free(r->reason);
    free(r->status_line);
    free(r->detail);
    memset(r, 0, sizeof(*r));
}

static void set_reason(rk_netcheck_result *r, char *reason)
{
    free(r->reason);
    r->reason = reason;
}

rk_check *rk_netcheck_add_check(rk_probe_run *run, const char *url,
                                const rk_netcheck_result *r)
{
    _cleanup_free_ char *name = rk_xasprintf("network:%s", url);
    rk_check *c = rk_probe_run_add_check(run, RK_CHECK_TEST, name,
                                         r->up ? RK_CHECK_PASS : RK_CHECK_FAIL,
                                         r->reason);
    rk_check_set_detail(c, r->detail);
    c->duration = r->elapsed;
    return c;
}

/* "5", "0.5", "2.25" */
static char *fmt_seconds(double s)
{
    return rk_xasprintf("%g", s);
}

/* What an errno from connect() means for a service that should come up. */
static const char *connect_error_text(int e)
{
    switch (e) {
    case ECONNREFUSED:
        return "connection refused";
    case ETIMEDOUT:
        return "connection timed out";
    case EHOSTUNREACH:
        return "host unreachable";
    case ENETUNREACH:
        return "network unreachable";
    case ECONNRESET:
        return "connection reset";
    case EADDRNOTAVAIL:
        return "address not available";
    default:
        return NULL;
    }
}

static char *errno_reason(int e)
{
    const char *t = connect_error_text(e);
    return t ? rk_xstrdup(t) : rk_xasprintf("connect: %s", strerror(e));
}

static void addr_string(const struct sockaddr *sa, char *out, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        snprintf(out, len, "[%s]:%u", ip, ntohs(s6->sin6_port));
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        snprintf(out, len, "%s:%u", ip, ntohs(s4->sin_port));
    }
}

/* ---- tcp:// ---- */

/* One attempt: connect to every address at once, wait for the first to
 * succeed. Returns 1 connected (*peer filled), 0 not (yet), -1 the name
 * does not resolve (final). *last_errno gets the reason of the failure. */
static int tcp_attempt(const rk_netcheck_target *t, double deadline, char *peer,
                       size_t peer_len, int *last_errno, char **resolve_msg)
{
    char port_s[8];
    snprintf(port_s, sizeof(port_s), "%u", t->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_protocol = IPPROTO_TCP};
    struct addrinfo *res = NULL;
    int gr = getaddrinfo(t->host, port_s, &hints, &res);
    if (gr != 0) {
        free(*resolve_msg);
        if (gr == EAI_NONAME || gr == EAI_NODATA || gr == EAI_FAMILY ||
            gr == EAI_SERVICE) {
            *resolve_msg = rk_xasprintf("no such host %s", t->host);
            return -1;
        }
        *resolve_msg =
            rk_xasprintf("resolving %s: %s", t->host, gai_strerror(gr));
        *last_errno = 0;
        return 0;
    }
    free(*resolve_msg);
    *resolve_msg = NULL;
    struct pollfd pfd[MAX_ADDRS];
    struct sockaddr_storage addrs[MAX_ADDRS];
    size_t n = 0;
    int connected = 0;
    for (struct addrinfo *ai = res; ai && n < MAX_ADDRS && !connected;
         ai = ai->ai_next) {
        int fd = socket(ai->ai_family,
                        ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        ai->ai_protocol);
        if (fd < 0) {
            *last_errno = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            addr_string(ai->ai_addr, peer, peer_len);
            connected = 1;
            close(fd);
            break;
        }
        if (errno != EINPROGRESS) {
            *last_errno = errno;
            close(fd);
            continue;
        }
        memcpy(&addrs[n], ai->ai_addr, ai->ai_addrlen);
        pfd[n].fd = fd;
        pfd[n].events = POLLOUT;
        pfd[n].revents = 0;
        n++;
    }
    freeaddrinfo(res);
    double until = now_mono() + CONNECT_WAIT_MAX;
    if (until > deadline)
        until = deadline;
    size_t pending = n;
    while (!connected && pending > 0) {
        double left = until - now_mono();
        if (left <= 0) {
            *last_errno = ETIMEDOUT;
            break;
        }
        int pr = poll(pfd, n, (int)(left * 1000.0) + 1);
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            *last_errno = errno;
            break;
        }
        if (pr == 0) {
            *last_errno = ETIMEDOUT;
            break;
        }
        for (size_t i = 0; i < n && !connected; i++) {
            if (pfd[i].fd < 0 || !pfd[i].revents)
                continue;
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            if (getsockopt(pfd[i].fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
                soerr = errno;
            if (soerr == 0) {
                addr_string((struct sockaddr *)&addrs[i], peer, peer_len);
                connected = 1;
            } else {
                *last_errno = soerr;
            }
            close(pfd[i].fd);
            pfd[i].fd = -1;
            pending--;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (pfd[i].fd >= 0)
            close(pfd[i].fd);
    return connected;
}

static void tcp_check(const rk_netcheck_target *t, double timeout,
                      rk_netcheck_result *r)
{
    double start = now_mono(), deadline = start + timeout;
    int last_errno = 0;
    _cleanup_free_ char *resolve_msg = NULL;
    char peer[INET6_ADDRSTRLEN + 16] = "";
    for (;;) {
        double attempt_start = now_mono();
        r->attempts++;
        int c = tcp_attempt(t, deadline, peer, sizeof(peer), &last_errno,
                            &resolve_msg);
        if (c == 1) {
            r->up = true;
            r->elapsed = now_mono() - start;
            set_reason(r, rk_xasprintf("connected to %s", peer));
            r->detail = rk_xasprintf(
                "connected to %s after %u attempt%s in %.3f s", peer,
                r->attempts, r->attempts == 1 ? "" : "s", r->elapsed);
            return;
        }
        if (c < 0) {
            r->elapsed = now_mono() - start;
            set_reason(r, TAKE_PTR(resolve_msg));
            r->detail =
                rk_xasprintf("tcp://%s:%u: %s", t->host, t->port, r->reason);
            return;
        }
        double next = attempt_start + RETRY_INTERVAL;
        if (next >= deadline || now_mono() >= deadline)
            break;
        sleep_until(next);
    }
    sleep_until(deadline);
    r->elapsed = now_mono() - start;
    _cleanup_free_ char *why = resolve_msg  ? rk_xstrdup(resolve_msg)
                               : last_errno ? errno_reason(last_errno)
                                            : rk_xstrdup("no connection");
    _cleanup_free_ char *secs = fmt_seconds(timeout);
    set_reason(r, rk_xasprintf("%s until timeout after %s s", why, secs));
    r->detail = rk_xasprintf(
        "tcp://%s:%u: %u attempt%s in %.3f s, the last: %s", t->host, t->port,
        r->attempts, r->attempts == 1 ? "" : "s", r->elapsed, why);
}

/* ---- http:// and https:// ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct http_state {
    char *status_line;
    char *headers;
    size_t headers_len;
};

static size_t http_header_cb(char *buf, size_t size, size_t n, void *ud)
{
    struct http_state *s = ud;
    size_t len = size * n;
    size_t l = len;
    while (l > 0 && (buf[l - 1] == '\r' || buf[l - 1] == '\n'))
        l--;
    if (l >= 5 && !strncmp(buf, "HTTP/", 5)) {
        /* A new response (after a 1xx): start over. */
        free(s->status_line);
        s->status_line = rk_xstrndup(buf, l);
        free(s->headers);
        s->headers = NULL;
        s->headers_len = 0;
    }
    if (l > 0 && s->headers_len + l + 1 < HEADERS_MAX) {
        s->headers = rk_xrealloc(s->headers, s->headers_len + l + 2);
        memcpy(s->headers + s->headers_len, buf, l);
        s->headers_len += l;
        s->headers[s->headers_len++] = '\n';
        s->headers[s->headers_len] = 0;
    }
    return len;
}

/* The answer is in once the headers are; the body is not needed, so the
 * transfer stops at its first byte. */
static size_t http_write_cb(char *buf, size_t size, size_t n, void *ud)
{
    (void)buf;
    (void)size;
    (void)n;
    (void)ud;
    return 0;
}

static bool host_is_loopback(const char *host)
{
    if (!strcasecmp(host, "localhost") || rk_endswith(host, ".localhost"))
        return true;
    struct in_addr a4;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    struct in6_addr a6;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

enum http_outcome {
    HTTP_ANSWERED, /* an HTTP answer (status_line set) */
    HTTP_RETRY,    /* no answer yet: retry until the deadline */
    HTTP_FINAL, /* no answer and none will come (bad name, bad certificate) */
};

static enum http_outcome http_attempt(const char *url,
                                      const rk_netcheck_target *t,
                                      const rk_netcheck_opts *o,
                                      double deadline, struct http_state *s,
                                      long *status, char **why, bool *timed_out)
{
    *timed_out = false;
    CURL *c = curl_easy_init();
    if (!c) {
        *why = rk_xstrdup("cannot initialize libcurl");
        return HTTP_FINAL;
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    long left_ms = (long)((deadline - now_mono()) * 1000.0) + 1;
    if (left_ms < 1)
        left_ms = 1;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "postroj/" RACKER_VERSION);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, left_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, left_ms);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, http_header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    /* The service is on this host (the container shares its network): a
     * proxy from http_proxy would be asked instead and answer for it. */
    if (host_is_loopback(t->host))
        curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    if (o->tls_insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    } else {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
        if (o->ca_file) {
            /* CAINFO replaces the bundle; the hashed directory keeps the
             * system's CAs trusted as well. */
            curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
            curl_easy_setopt(c, CURLOPT_CAPATH, "/etc/ssl/certs");
        }
    }
    if (rk_log_get_level() >= RK_LOG_DEBUG)
        curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
    CURLcode cc = curl_easy_perform(c);
    *status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    long os_errno = 0;
    curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
    curl_off_t connect_us = 0;
    curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &connect_us);
    curl_easy_cleanup(c);
    rk_debug("GET %s: %s, status %ld", url, cc ? curl_easy_strerror(cc) : "ok",
             *status);

    /* The status line is the answer, whatever happens to the rest. */
    if (*status > 0 && s->status_line)
        return HTTP_ANSWERED;
    const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(cc);
    switch (cc) {
    case CURLE_COULDNT_RESOLVE_HOST:
        *why = rk_xasprintf("no such host %s", t->host);
        return HTTP_FINAL;
    case CURLE_COULDNT_CONNECT:
        *why = os_errno ? errno_reason((int)os_errno)
                        : rk_xstrdup("cannot connect");
        return HTTP_RETRY;
    case CURLE_OPERATION_TIMEDOUT:
        if (connect_us > 0) {
            /* Connected, but no answer in time. */
            *why = rk_xstrdup("timed out");
            *timed_out = true;
        } else {
            *why = rk_xstrdup("connection timed out");
        }
        return HTTP_RETRY;
    case CURLE_PEER_FAILED_VERIFICATION:
        *why = rk_xasprintf("TLS certificate verification failed: %s", detail);
        return HTTP_FINAL;
    case CURLE_SSL_CONNECT_ERROR:
        *why = rk_xasprintf("TLS handshake failed: %s", detail);
        return HTTP_RETRY;
    case CURLE_GOT_NOTHING:
        *why = rk_xstrdup("empty reply from server");
        return HTTP_RETRY;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        *why = rk_xasprintf("bad URL: %s", detail);
        return HTTP_FINAL;
    default:
        *why = rk_xstrdup(detail);
        return HTTP_RETRY;
    }
}

static void http_check(const char *url, const rk_netcheck_target *t,
                       const rk_netcheck_opts *o, double timeout,
                       rk_netcheck_result *r)
{
    pthread_once(&curl_once, curl_init_once);
    double start = now_mono(), deadline = start + timeout;
    _cleanup_free_ char *why = NULL;
    bool timed_out = false;
    for (;;) {
        double attempt_start = now_mono();
        r->attempts++;
        struct http_state s = {0};
        long status = 0;
        free(why);
        why = NULL;
        enum http_outcome out =
            http_attempt(url, t, o, deadline, &s, &status, &why, &timed_out);
        if (out == HTTP_ANSWERED) {
            free(r->status_line);
            r->status_line = TAKE_PTR(s.status_line);
            r->http_status = status;
            free(r->detail);
            r->detail =
                rk_xasprintf("GET %s\n%s", url, s.headers ? s.headers : "");
            free(s.headers);
            if (!o->expect_status || status == o->expect_status) {
                r->up = true;
                r->elapsed = now_mono() - start;
                set_reason(r, rk_xstrdup(r->status_line));
                return;
            }
            why = rk_xasprintf("%s, expected status %d", r->status_line,
                               o->expect_status);
        } else {
            free(s.status_line);
            free(s.headers);
            if (out == HTTP_FINAL) {
                r->elapsed = now_mono() - start;
                set_reason(r, TAKE_PTR(why));
                free(r->detail);
                r->detail = rk_xasprintf("GET %s: %s", url, r->reason);
                return;
            }
        }
        double next = attempt_start + RETRY_INTERVAL;
        /* A last attempt of a few milliseconds would only time out and
         * hide the real reason. */
        if (next + 0.01 >= deadline || now_mono() + 0.01 >= deadline)
            break;
        sleep_until(next);
    }
    sleep_until(deadline);
    r->elapsed = now_mono() - start;
    _cleanup_free_ char *secs = fmt_seconds(timeout);
    if (timed_out)
        set_reason(r, rk_xasprintf("timed out after %s s", secs));
    else
        set_reason(r, rk_xasprintf("%s until timeout after %s s",
                                   why ? why : "no answer", secs));
    _cleanup_free_ char *summary = rk_xasprintf(
        "GET %s: %u attempt%s in %.3f s, the last: %s", url, r->attempts,
        r->attempts == 1 ? "" : "s", r->elapsed, why ? why : "no answer");
    if (r->detail) {
        /* Keep the headers of the last answer (a wrong status). */
        char *d = rk_xasprintf("%s\n%s", summary, r->detail);
        free(r->detail);
        r->detail = d;
    } else {
        r->detail = TAKE_PTR(summary);
    }
}

int rk_netcheck_run(const char *url, const rk_netcheck_opts *opts,
                    rk_netcheck_result *ret, rk_error **err)
{
    memset(ret, 0, sizeof(*ret));
    rk_netcheck_opts o = opts ? *opts : (rk_netcheck_opts){0};
    if (!isfinite(o.timeout) || o.timeout < 0 || o.timeout > TIMEOUT_MAX)
        return rk_error_set(err, 0,
                            "network timeout %g: must be 0 to %g seconds",
                            o.timeout, TIMEOUT_MAX);
    if (o.timeout == 0)
        o.timeout = RK_NETCHECK_DEFAULT_TIMEOUT;
    if (o.expect_status && (o.expect_status < 100 || o.expect_status > 599))
        return rk_error_set(err, 0,
                            "expected HTTP status %d: must be 100 to 599",
                            o.expect_status);
    rk_netcheck_target t;
    if (rk_netcheck_parse(url, &t, err) < 0)
        return -1;
    if (t.scheme == RK_NETCHECK_TCP)
        tcp_check(&t, o.timeout, ret);
    else
        http_check(url, &t, &o, o.timeout, ret);
    rk_netcheck_target_clear(&t);
    return 0;
}
