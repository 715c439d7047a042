/* OCI distribution client over libcurl.
 *
 * One rk_registry per repository. Every request goes through one
 * transfer state machine (struct xfer), driven by a curl multi handle, so
 * manifests, configs and parallel layer downloads share the same rules:
 *  - 401 re-challenges: parse WWW-Authenticate, fetch a token for the
 *    scope, retry once;
 *  - connection errors, 5xx and 429 are retried with exponential backoff,
 *    honouring Retry-After; a transfer that made progress starts its count
 *    again, so a registry that drops every connection midway still
 *    finishes (with Range: bytes=N-);
 *  - redirects are followed by hand: Authorization goes only to the
 *    registry's own host, never to a CDN on another host.
 * Ping and token requests are simple blocking requests with the same
 * retry policy. */
#include "image/registry.h"

#include <curl/curl.h>
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/strv.h"
#include "image/authfile.h"
#include "image/challenge.h"
#include "image/manifest.h"
#include "image/reference.h"

#define MAX_SMALL_DOC (8u << 20) /* manifests and configs are far smaller */
#define MAX_ERROR_BODY (64u << 10)
#define MAX_REDIRECTS 5
#define MAX_RETRY_AFTER_S 60

enum auth_kind { AUTH_UNKNOWN, AUTH_NONE, AUTH_BASIC, AUTH_BEARER };

struct rk_registry {
    char *host;     /* as named */
    char *api_host; /* where it is served */
    char *path;
    char *base_url; /* scheme://api_host, once decided */
    bool tls_verify;
    bool try_plain_http; /* may fall back to http:// */
    bool plain_only;     /* loopback: http:// only */
    char *user, *password;
    bool creds_loaded;
    enum auth_kind auth;
    char *realm, *service;
    char *token, *token_scope;
    time_t token_expiry;
    CURLSH *share;
    CURLM *multi;
    char *extra_ca; /* PEM of the host's certs.d CA files, or NULL */
    size_t extra_ca_len;
    char *client_cert, *client_key; /* certs.d NAME.cert and NAME.key, or NULL */
    unsigned requests;
    int max_attempts;
    int backoff_ms;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

const char *rk_registry_base_url(const rk_registry *r) { return r->base_url; }
unsigned rk_registry_request_count(const rk_registry *r) { return r->requests; }

void rk_fetched_clear(rk_fetched *f)
{
    free(f->data);
    free(f->content_type);
    memset(f, 0, sizeof(*f));
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* ---- growable buffer ---- */

struct buf {
    char *data;
    size_t len, cap, max;
    bool overflow;
};

static void buf_append(struct buf *b, const void *p, size_t n)
{
    if (b->len + n > b->max) {
        b->overflow = true;
        n = b->len < b->max ? b->max - b->len : 0;
    }
    if (!n)
        return;
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->data = rk_xrealloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}

static void buf_free(struct buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

/* ---- registry error documents ---- */

/* {"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]} ->
 * "manifest unknown (MANIFEST_UNKNOWN)"; NULL when the body is not one. */
static char *registry_error_message(const char *body, size_t len)
{
    if (!body || !len)
        return NULL;
    _cleanup_json_ json_t *j = json_loadb(body, len, 0, NULL);
    json_t *errs = json_object_get(j, "errors");
    if (!json_is_array(errs) || !json_array_size(errs))
        return NULL;
    _cleanup_strv_ char **parts = NULL;
    size_t i;
    json_t *e;
    json_array_foreach(errs, i, e)
    {
        const char *code = rk_json_str(e, "code");
        const char *msg = rk_json_str(e, "message");
        if (msg && code)
            rk_strv_push(&parts, rk_xasprintf("%s (%s)", msg, code));
        else if (msg || code)
            rk_strv_push_dup(&parts, msg ? msg : code);
        if (i >= 2)
            break;
    }
    return parts ? rk_strv_join(parts, "; ") : NULL;
}

/* ---- setup ---- */

/* containers-certs.d(5): CA files NAME.crt, and a client certificate
 * NAME.cert with its key NAME.key (the first pair by name is used). The
 * first directory that has any of them wins. */
static int load_cert_dir(rk_registry *r, const char *cert_dir, rk_error **err)
{
    /* An explicit --cert-dir holds the files itself (as for podman and
     * skopeo); the defaults have one directory per host. */
    char *dirs[3] = {NULL, NULL, NULL};
    if (cert_dir) {
        dirs[0] = rk_xstrdup(cert_dir);
    } else {
        dirs[0] = rk_xasprintf("/etc/containers/certs.d/%s", r->host);
        dirs[1] = rk_xasprintf("/etc/docker/certs.d/%s", r->host);
    }
    struct buf pem = {.max = 4u << 20};
    int rc = 0;
    for (size_t i = 0; i < 2 && dirs[i] && rc == 0; i++) {
        const char *d = dirs[i];
        _cleanup_closedir_ DIR *dir = opendir(d);
        if (!dir)
            continue;
        struct dirent *de;
        _cleanup_strv_ char **names = NULL;
        while ((de = readdir(dir)))
            if (rk_endswith(de->d_name, ".crt") || rk_endswith(de->d_name, ".cert"))
                rk_strv_push_dup(&names, de->d_name);
        qsort(names, rk_strv_len(names), sizeof(char *),
              (int (*)(const void *, const void *))strcmp);
        for (size_t k = 0; names && names[k]; k++) {
            _cleanup_free_ char *p = rk_xasprintf("%s/%s", d, names[k]);
            if (rk_endswith(names[k], ".cert")) {
                if (r->client_cert)
                    continue;
                _cleanup_free_ char *key =
                    rk_xasprintf("%.*s.key", (int)(strlen(p) - 5), p);
                if (access(key, R_OK) < 0) {
                    rc = rk_error_set_status(err, 125, errno,
                                             "client certificate %s has no key %s "
                                             "(CA certificates end in .crt)",
                                             p, key);
                    break;
                }
                rk_debug("client certificate %s, key %s", p, key);
                r->client_cert = TAKE_PTR(p);
                r->client_key = TAKE_PTR(key);
                continue;
            }
            _cleanup_free_ char *text = NULL;
            size_t len = 0;
            if (rk_read_file_at(AT_FDCWD, p, 1u << 20, &text, &len, NULL) < 0) {
                rk_log_warn("cannot read CA certificate %s", p);
                continue;
            }
            rk_debug("adding CA certificates from %s", p);
            buf_append(&pem, text, len);
            buf_append(&pem, "\n", 1);
        }
        if (pem.len || r->client_cert)
            break; /* the first directory that has the host wins */
    }
    free(dirs[0]);
    free(dirs[1]);
    r->extra_ca = pem.data;
    r->extra_ca_len = pem.len;
    return rc;
}

int rk_registry_new(const rk_registry_opts *o, rk_registry **ret, rk_error **err)
{
    pthread_once(&curl_once, curl_init_once);
    if (!o->host || !*o->host || !o->path || !*o->path)
        return rk_error_set(err, EINVAL, "registry host and repository are required");
    rk_registry *r = rk_xcalloc(1, sizeof(*r));
    r->host = rk_xstrdup(o->host);
    r->api_host = rk_xstrdup(rk_ref_api_host(o->host));
    r->path = rk_xstrdup(o->path);
    r->plain_only = rk_domain_is_loopback(o->host);
    r->tls_verify = !(o->insecure || o->tls_verify == 0);
    r->try_plain_http = o->insecure || o->tls_verify == 0;
    if (o->tls_verify == 1 && !r->plain_only) {
        r->tls_verify = true;
        r->try_plain_http = false;
    }
    if (o->user) {
        r->user = rk_xstrdup(o->user);
        r->password = rk_xstrdup(o->password ? o->password : "");
        r->creds_loaded = true;
    }
    if (load_cert_dir(r, o->cert_dir, err) < 0) {
        rk_registry_free(r);
        return -1;
    }
    r->max_attempts = o->max_attempts > 0 ? o->max_attempts : 5;
    r->backoff_ms = o->backoff_ms > 0 ? o->backoff_ms : 250;
    r->share = curl_share_init();
    curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    r->multi = curl_multi_init();
    curl_multi_setopt(r->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 8L);
    *ret = r;
    return 0;
}

void rk_registry_free(rk_registry *r)
{
    if (!r)
        return;
    if (r->multi)
        curl_multi_cleanup(r->multi);
    if (r->share)
        curl_share_cleanup(r->share);
    free(r->host);
    free(r->api_host);
    free(r->path);
    free(r->base_url);
    if (r->password)
        explicit_bzero(r->password, strlen(r->password));
    free(r->user);
    free(r->password);
    free(r->realm);
    free(r->service);
    if (r->token)
        explicit_bzero(r->token, strlen(r->token));
    free(r->token);
    free(r->token_scope);
    free(r->extra_ca);
    free(r->client_cert);
    free(r->client_key);
    free(r);
}

static void load_creds(rk_registry *r)
{
    if (r->creds_loaded)
        return;
    r->creds_loaded = true;
    char *u = NULL, *p = NULL;
    rk_error *e = NULL;
    int k = rk_auth_lookup(r->host, r->path, &u, &p, &e);
    if (k < 0) {
        /* A broken auth file should not stop anonymous pulls; say why the
         * credentials were ignored. */
        rk_log_warn("ignoring credentials: %s", e ? e->msg : "unreadable auth file");
        rk_error_free(e);
        return;
    }
    if (k == 0) {
        r->user = u;
        r->password = p;
        rk_debug("using credentials for %s (user %s)", r->host, u);
    }
}

static char *basic_header(const rk_registry *r)
{
    _cleanup_free_ char *up = rk_xasprintf("%s:%s", r->user, r->password);
    size_t n = strlen(up);
    _cleanup_free_ unsigned char *out = rk_xmalloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock(out, (const unsigned char *)up, (int)n);
    explicit_bzero(up, n);
    return rk_xasprintf("Authorization: Basic %s", out);
}

/* ---- one curl easy handle, configured the same way everywhere ---- */

struct hdrs {
    long status;
    char *content_type, *docker_digest, *www_auth, *retry_after, *content_range;
};

static void hdrs_reset(struct hdrs *h)
{
    free(h->content_type);
    free(h->docker_digest);
    free(h->www_auth);
    free(h->retry_after);
    free(h->content_range);
    memset(h, 0, sizeof(*h));
}

static void hdr_store(char **slot, const char *v, size_t n)
{
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
        n--;
    while (n && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    free(*slot);
    *slot = rk_xstrndup(v, n);
}

static size_t header_cb(char *line, size_t size, size_t nmemb, void *ud)
{
    struct hdrs *h = ud;
    size_t n = size * nmemb;
    if (n >= 5 && !strncmp(line, "HTTP/", 5)) {
        /* A new response (after a 100 Continue, say): forget the old one. */
        hdrs_reset(h);
        const char *sp = memchr(line, ' ', n);
        if (sp)
            h->status = strtol(sp + 1, NULL, 10);
        return n;
    }
    const char *colon = memchr(line, ':', n);
    if (!colon)
        return n;
    size_t kl = (size_t)(colon - line);
    const char *v = colon + 1;
    size_t vl = n - kl - 1;
#define IS(name) (kl == sizeof(name) - 1 && !strncasecmp(line, name, kl))
    if (IS("Content-Type"))
        hdr_store(&h->content_type, v, vl);
    else if (IS("Docker-Content-Digest"))
        hdr_store(&h->docker_digest, v, vl);
    else if (IS("WWW-Authenticate"))
        hdr_store(&h->www_auth, v, vl);
    else if (IS("Retry-After"))
        hdr_store(&h->retry_after, v, vl);
    else if (IS("Content-Range"))
        hdr_store(&h->content_range, v, vl);
#undef IS
    return n;
}

static void easy_common(rk_registry *r, CURL *c)
{
    curl_easy_setopt(c, CURLOPT_SHARE, r->share);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "racker/" "0.1");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    /* A stalled connection (no byte for 30 s) is a failed attempt that the
     * retry logic resumes. */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, NULL);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, r->tls_verify ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, r->tls_verify ? 2L : 0L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    if (r->extra_ca) {
        /* The blob replaces the CA file, so name the system store as a
         * directory too: both are trusted. */
        struct curl_blob blob = {.data = r->extra_ca, .len = r->extra_ca_len,
                                 .flags = CURL_BLOB_NOCOPY};
        curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
        curl_easy_setopt(c, CURLOPT_CAPATH, "/etc/ssl/certs");
    }
    if (r->client_cert) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, r->client_cert);
        curl_easy_setopt(c, CURLOPT_SSLKEY, r->client_key);
    }
    if (rk_log_get_level() >= RK_LOG_DEBUG && getenv("RACKER_CURL_VERBOSE"))
        curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
}

/* curl's own words for a failure: its error buffer says which TLS alert
 * or certificate problem it was, curl_easy_strerror() only the class. */
static const char *curl_why(CURLcode cc, const char *errbuf)
{
    return errbuf && errbuf[0] ? errbuf : curl_easy_strerror(cc);
}

/* The peer refused us with a TLS alert (a client certificate required or
 * rejected, no common protocol): trying again will not change its mind. */
static bool tls_refused(const char *errbuf)
{
    return errbuf && strstr(errbuf, " alert ") != NULL;
}

static bool curl_code_retryable(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        return true;
    default:
        return false;
    }
}

static bool status_retryable(long s) { return s == 429 || s == 408 || (s >= 500 && s <= 599); }

/* Backoff for attempt n (1-based), or the server's Retry-After. */
static long backoff_ms(const rk_registry *r, int attempt, const char *retry_after)
{
    if (retry_after) {
        unsigned long long s;
        if (rk_parse_uint64(retry_after, &s))
            return (long)(s > MAX_RETRY_AFTER_S ? MAX_RETRY_AFTER_S : s) * 1000;
        /* An HTTP date: fall back to our own schedule. */
    }
    long ms = r->backoff_ms;
    for (int i = 1; i < attempt && ms < 8000; i++)
        ms *= 2;
    return ms;
}

/* ---- simple blocking requests (ping, token) ---- */

static size_t mem_write_cb(char *p, size_t size, size_t nmemb, void *ud)
{
    buf_append(ud, p, size * nmemb);
    return size * nmemb;
}

struct simple_resp {
    struct hdrs h;
    struct buf body;
};

static void simple_resp_free(struct simple_resp *s)
{
    hdrs_reset(&s->h);
    buf_free(&s->body);
}

/* GET url with an optional extra header, retrying transient failures.
 * Returns 0 with the response (any status), or -1 with a connection-level
 * error; *ret_code gets the last curl code. */
static int simple_get(rk_registry *r, const char *url, const char *header,
                      bool follow, struct simple_resp *out, CURLcode *ret_code,
                      rk_error **err)
{
    for (int attempt = 1;; attempt++) {
        simple_resp_free(out);
        out->body.max = MAX_SMALL_DOC;
        CURL *c = curl_easy_init();
        easy_common(r, c);
        char errbuf[CURL_ERROR_SIZE] = "";
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        struct curl_slist *hl = NULL;
        if (header)
            hl = curl_slist_append(hl, header);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &out->h);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, mem_write_cb);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &out->body);
        if (follow) {
            /* Token servers may redirect; curl itself drops Authorization
             * when the host changes (CURLOPT_UNRESTRICTED_AUTH is off). */
            curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
            curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long)MAX_REDIRECTS);
        }
        r->requests++;
        CURLcode cc = curl_easy_perform(c);
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        out->h.status = status;
        curl_easy_cleanup(c);
        curl_slist_free_all(hl);
        if (ret_code)
            *ret_code = cc;
        const char *why = curl_why(cc, errbuf);
        rk_debug("GET %s -> %s %ld", url, cc ? why : "", status);
        bool again = cc ? curl_code_retryable(cc) && !tls_refused(errbuf) : status_retryable(status);
        /* Nobody listening, or no such host: one more try covers a
         * registry that is just starting; more only delays the error. */
        int limit = (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST)
                        ? 2
                        : r->max_attempts;
        if (!again || attempt >= limit) {
            if (cc)
                return rk_error_set(err, 0, "GET %s: %s", url, why);
            return 0;
        }
        /* A TLS handshake against a plain HTTP port will not improve by
         * retrying: let the caller fall back. */
        if (cc == CURLE_SSL_CONNECT_ERROR && r->try_plain_http)
            return rk_error_set(err, 0, "GET %s: %s", url, why);
        sleep_ms(backoff_ms(r, attempt, out->h.retry_after));
    }
}

static int parse_auth_challenge(rk_registry *r, const char *www_auth, rk_error **err)
{
    if (!www_auth)
        return rk_error_set(err, 0, "%s answered 401 without a WWW-Authenticate challenge",
                            r->host);
    _cleanup_challenges_ rk_challenges *ch = NULL;
    if (rk_challenges_parse(www_auth, &ch, err) < 0)
        return rk_error_wrap(err, "%s", r->host);
    const rk_challenge *b = rk_challenges_find(ch, "bearer");
    if (b) {
        const char *realm = rk_challenge_param(b, "realm");
        if (!realm || !*realm)
            return rk_error_set(err, 0, "%s: Bearer challenge without realm", r->host);
        const char *service = rk_challenge_param(b, "service");
        free(r->realm);
        free(r->service);
        r->realm = rk_xstrdup(realm);
        r->service = service ? rk_xstrdup(service) : NULL;
        r->auth = AUTH_BEARER;
        return 0;
    }
    if (rk_challenges_find(ch, "basic")) {
        r->auth = AUTH_BASIC;
        return 0;
    }
    return rk_error_set(err, 0, "%s asks for unsupported authentication \"%s\"", r->host,
                        ch->n ? ch->v[0].scheme : "?");
}

/* GET /v2/: decides http or https and learns how to authenticate. */
static int registry_ping(rk_registry *r, rk_error **err)
{
    if (r->base_url)
        return 0;
    const char *schemes[2];
    size_t ns = 0;
    if (r->plain_only) {
        schemes[ns++] = "http";
    } else {
        schemes[ns++] = "https";
        if (r->try_plain_http)
            schemes[ns++] = "http";
    }
    rk_error *last = NULL;
    for (size_t i = 0; i < ns; i++) {
        _cleanup_free_ char *base = rk_xasprintf("%s://%s", schemes[i], r->api_host);
        _cleanup_free_ char *url = rk_xasprintf("%s/v2/", base);
        struct simple_resp resp = {0};
        CURLcode cc = CURLE_OK;
        rk_error *e = NULL;
        if (simple_get(r, url, NULL, false, &resp, &cc, &e) < 0) {
            simple_resp_free(&resp);
            rk_error_free(last);
            last = e;
            continue;
        }
        long st = resp.h.status;
        if (st == 200 || st == 401) {
            r->base_url = TAKE_PTR(base);
            int rc = 0;
            if (st == 200)
                r->auth = AUTH_NONE;
            else
                rc = parse_auth_challenge(r, resp.h.www_auth, err);
            simple_resp_free(&resp);
            rk_error_free(last);
            return rc;
        }
        rk_error_free(last);
        last = NULL;
        _cleanup_free_ char *m = registry_error_message(resp.body.data, resp.body.len);
        rk_error_set(&last, 0, "%s does not look like a registry: GET /v2/ answered %ld%s%s",
                     r->host, st, m ? ": " : "", m ? m : "");
        simple_resp_free(&resp);
    }
    if (err && !*err)
        *err = last;
    else
        rk_error_free(last);
    return -1;
}

static int fetch_token(rk_registry *r, const char *scope, rk_error **err)
{
    load_creds(r);
    const char *scopes[] = {scope, NULL};
    _cleanup_free_ char *url = NULL;
    if (rk_bearer_token_url(r->realm, r->service, scopes, &url, err) < 0)
        return rk_error_wrap(err, "%s", r->host);
    _cleanup_free_ char *auth = r->user ? basic_header(r) : NULL;
    struct simple_resp resp = {0};
    if (simple_get(r, url, auth, true, &resp, NULL, err) < 0) {
        simple_resp_free(&resp);
        return rk_error_wrap(err, "getting a token for %s", r->host);
    }
    if (auth)
        explicit_bzero(auth, strlen(auth));
    long st = resp.h.status;
    if (st == 401 || st == 403) {
        simple_resp_free(&resp);
        if (r->user)
            return rk_error_set(err, 0,
                                "authentication to %s failed for user %s (bad username or password?)",
                                r->host, r->user);
        return rk_error_set(err, 0, "%s requires credentials (add them to an auth file, e.g. %s)",
                            r->host, "~/.docker/config.json");
    }
    if (st != 200) {
        _cleanup_free_ char *m = registry_error_message(resp.body.data, resp.body.len);
        rk_error_set(err, 0, "token server for %s answered %ld%s%s", r->host, st,
                     m ? ": " : "", m ? m : "");
        simple_resp_free(&resp);
        return -1;
    }
    _cleanup_json_ json_t *j = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, NULL);
    simple_resp_free(&resp);
    const char *tok = rk_json_str(j, "token");
    if (!tok || !*tok)
        tok = rk_json_str(j, "access_token");
    if (!tok || !*tok)
        return rk_error_set(err, 0, "token server for %s sent no token", r->host);
    long long exp = rk_json_int(j, "expires_in", 60);
    if (exp <= 0)
        exp = 60; /* the distribution spec's default */
    free(r->token);
    free(r->token_scope);
    r->token = rk_xstrdup(tok);
    r->token_scope = rk_xstrdup(scope);
    /* Refresh a little early so a request never carries a dying token. */
    r->token_expiry = time(NULL) + (time_t)(exp > 10 ? exp - 5 : exp / 2);
    return 0;
}

/* The Authorization header line for a request to the registry's own host,
 * or NULL when none is needed. */
static int auth_header(rk_registry *r, char **ret, rk_error **err)
{
    *ret = NULL;
    if (registry_ping(r, err) < 0)
        return -1;
    switch (r->auth) {
    case AUTH_BASIC:
        load_creds(r);
        if (!r->user)
            return rk_error_set(err, 0, "%s requires credentials (add them to an auth file, e.g. %s)",
                                r->host, "~/.docker/config.json");
        *ret = basic_header(r);
        return 0;
    case AUTH_BEARER: {
        _cleanup_free_ char *scope = rk_xasprintf("repository:%s:pull", r->path);
        if (!r->token || strcmp(r->token_scope, scope) || time(NULL) >= r->token_expiry)
            if (fetch_token(r, scope, err) < 0)
                return -1;
        *ret = rk_xasprintf("Authorization: Bearer %s", r->token);
        return 0;
    }
    default:
        return 0;
    }
}

/* ---- the transfer state machine ---- */

enum xfer_state { X_PENDING, X_ACTIVE, X_WAITING, X_DONE, X_FAILED };

struct xfer {
    rk_registry *r;
    enum xfer_state state;
    const char *what;    /* for messages: "manifest debian:12", "blob sha256:..." */
    char *url;           /* current URL */
    bool other_host;     /* redirected off the registry: no Authorization */
    bool head;
    const char *accept;
    CURL *easy;
    struct curl_slist *hl;
    struct hdrs h;
    /* sink: a job or memory */
    rk_blob_job *job;
    struct buf mem;
    struct buf errbody;
    int64_t received;    /* for jobs: offset + delivered */
    int64_t skip;        /* bytes to discard (server ignored our Range) */
    bool range_sent;
    bool body_started;   /* the current response's first body byte came */
    int attempts;        /* consecutive failed attempts without progress */
    int64_t attempt_start;
    char errbuf[CURL_ERROR_SIZE];
    int redirects;
    bool reauthed;
    double next_at;
    rk_error *cb_err;    /* error raised by the consumer */
    rk_error *final_err;
    size_t url_index;    /* foreign layers: which of job->urls */
};

static size_t xfer_write_cb(char *p, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb;
    long st = x->h.status;
    if (st != 200 && st != 206) {
        buf_append(&x->errbody, p, n);
        return n;
    }
    if (!x->body_started) {
        x->body_started = true;
        if (x->job && x->range_sent && st == 200) {
            /* The server ignored Range and sends the whole blob again:
             * throw away what we already have. */
            x->skip = x->received;
        } else if (x->job && x->range_sent) {
            char want[48];
            snprintf(want, sizeof(want), "bytes %lld-", (long long)x->received);
            if (!x->h.content_range || !rk_startswith(x->h.content_range, want)) {
                rk_error_set(&x->cb_err, 0, "%s: resumed download answered with range \"%s\"",
                             x->what, x->h.content_range ? x->h.content_range : "");
                return 0;
            }
        }
    }
    if (!x->job) {
        buf_append(&x->mem, p, n);
        if (x->mem.overflow) {
            rk_error_set(&x->cb_err, 0, "%s is larger than %u bytes", x->what, MAX_SMALL_DOC);
            return 0;
        }
        return n;
    }
    const char *data = p;
    size_t len = n;
    if (x->skip > 0) {
        size_t d = (size_t)x->skip < len ? (size_t)x->skip : len;
        data += d;
        len -= d;
        x->skip -= (int64_t)d;
    }
    if (!len)
        return n;
    if (x->job->size >= 0 && x->received + (int64_t)len > x->job->size) {
        rk_error_set(&x->cb_err, 0, "blob %s is larger than its descriptor says (%lld bytes)",
                     x->job->digest, (long long)x->job->size);
        return 0;
    }
    if (x->job->on_data(x->job->ctx, data, len, &x->cb_err) < 0)
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    x->received += (int64_t)len;
    if (x->job->on_progress)
        x->job->on_progress(x->job->ctx, x->received, x->job->size);
    return n;
}

static int xfer_start(struct xfer *x, rk_error **err)
{
    rk_registry *r = x->r;
    hdrs_reset(&x->h);
    buf_free(&x->errbody);
    x->errbody.max = MAX_ERROR_BODY;
    if (!x->job) {
        buf_free(&x->mem);
        x->mem.max = MAX_SMALL_DOC;
    }
    x->easy = curl_easy_init();
    easy_common(r, x->easy);
    x->errbuf[0] = 0;
    curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf);
    x->hl = NULL;
    if (!x->other_host) {
        _cleanup_free_ char *auth = NULL;
        if (auth_header(r, &auth, err) < 0)
            return -1;
        if (auth)
            x->hl = curl_slist_append(x->hl, auth);
    }
    if (x->accept) {
        _cleanup_free_ char *a = rk_xasprintf("Accept: %s", x->accept);
        x->hl = curl_slist_append(x->hl, a);
    }
    x->range_sent = false;
    x->body_started = false;
    x->skip = 0;
    if (x->job && x->received > 0) {
        char range[48];
        snprintf(range, sizeof(range), "%lld-", (long long)x->received);
        curl_easy_setopt(x->easy, CURLOPT_RANGE, range);
        x->range_sent = true;
    }
    curl_easy_setopt(x->easy, CURLOPT_URL, x->url);
    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hl);
    curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, &x->h);
    curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, xfer_write_cb);
    curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    if (x->head)
        curl_easy_setopt(x->easy, CURLOPT_NOBODY, 1L);
    x->attempt_start = x->received;
    r->requests++;
    curl_multi_add_handle(r->multi, x->easy);
    x->state = X_ACTIVE;
    rk_debug("%s %s%s", x->head ? "HEAD" : "GET", x->url, x->range_sent ? " (resuming)" : "");
    return 0;
}

static void xfer_release(struct xfer *x)
{
    if (x->easy) {
        curl_multi_remove_handle(x->r->multi, x->easy);
        curl_easy_cleanup(x->easy);
        x->easy = NULL;
    }
    curl_slist_free_all(x->hl);
    x->hl = NULL;
}

static void xfer_free(struct xfer *x)
{
    xfer_release(x);
    hdrs_reset(&x->h);
    buf_free(&x->mem);
    buf_free(&x->errbody);
    free(x->url);
    rk_error_free(x->cb_err);
    rk_error_free(x->final_err);
}

static void xfer_fail(struct xfer *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void xfer_fail(struct xfer *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rk_error_setv(&x->final_err, 0, fmt, ap);
    va_end(ap);
    x->state = X_FAILED;
}

static void xfer_retry_later(struct xfer *x, const char *why)
{
    rk_registry *r = x->r;
    if (x->received > x->attempt_start)
        x->attempts = 0; /* it made progress: count again from scratch */
    x->attempts++;
    if (x->attempts >= r->max_attempts) {
        xfer_fail(x, "%s: %s (gave up after %d attempts)", x->what, why, x->attempts);
        return;
    }
    long ms = backoff_ms(r, x->attempts, x->h.retry_after);
    rk_verbose("%s: %s; retrying in %ld ms", x->what, why, ms);
    x->next_at = now_s() + (double)ms / 1000.0;
    x->state = X_WAITING;
}

static bool same_origin(const char *a, const char *b)
{
    /* scheme://host[:port] prefixes equal? */
    const char *pa = strstr(a, "://"), *pb = strstr(b, "://");
    if (!pa || !pb)
        return false;
    size_t la = strcspn(pa + 3, "/?#") + (size_t)(pa + 3 - a);
    size_t lb = strcspn(pb + 3, "/?#") + (size_t)(pb + 3 - b);
    return la == lb && !strncasecmp(a, b, la);
}

/* The last byte is in: let the consumer verify and commit at once, so a
 * finished layer is published while the others still download. */
static void xfer_complete(struct xfer *x)
{
    x->state = X_DONE;
    if (x->job && x->job->on_done) {
        rk_error *e = NULL;
        if (x->job->on_done(x->job->ctx, &e) < 0) {
            x->final_err = e;
            x->state = X_FAILED;
        }
    }
}

/* A transfer finished (curl says so): decide what happens next. */
static void xfer_finished(struct xfer *x, CURLcode cc)
{
    rk_registry *r = x->r;
    long st = x->h.status;
    if (!st)
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &st);
    char *redirect = NULL;
    if (st >= 300 && st < 400)
        curl_easy_getinfo(x->easy, CURLINFO_REDIRECT_URL, &redirect);
    _cleanup_free_ char *redir = redirect ? rk_xstrdup(redirect) : NULL;
    xfer_release(x);

    if (x->cb_err) {
        /* The consumer refused the data (bad stream, disk full): final. */
        x->final_err = TAKE_PTR(x->cb_err);
        x->state = X_FAILED;
        return;
    }
    if (cc != CURLE_OK) {
        if (tls_refused(x->errbuf))
            xfer_fail(x, "%s: %s", x->what, x->errbuf);
        else
            xfer_retry_later(x, curl_why(cc, x->errbuf));
        return;
    }
    if (st >= 300 && st < 400) {
        if (!redir) {
            xfer_fail(x, "%s: redirect %ld without a Location", x->what, st);
            return;
        }
        if (++x->redirects > MAX_REDIRECTS) {
            xfer_fail(x, "%s: too many redirects", x->what);
            return;
        }
        /* Authorization is for the registry only: a blob CDN on another
         * host gets the presigned URL and nothing else. */
        if (!same_origin(redir, r->base_url))
            x->other_host = true;
        free(x->url);
        x->url = TAKE_PTR(redir);
        x->state = X_PENDING;
        return;
    }
    if (st == 401 && !x->other_host) {
        if (x->reauthed) {
            _cleanup_free_ char *m = registry_error_message(x->errbody.data, x->errbody.len);
            /* Docker Hub answers a repository that does not exist this
             * way too, so say both. */
            xfer_fail(x, "%s: access denied by %s (the repository does not exist or needs credentials)%s%s",
                      x->what, r->host, m ? ": " : "", m ? m : "");
            return;
        }
        x->reauthed = true;
        rk_error *e = NULL;
        if (x->h.www_auth && parse_auth_challenge(r, x->h.www_auth, &e) < 0) {
            x->final_err = e;
            x->state = X_FAILED;
            return;
        }
        /* Force a new token: the old one expired or lacked the scope. */
        free(r->token);
        r->token = NULL;
        x->state = X_PENDING;
        return;
    }
    if (status_retryable(st)) {
        char why[64];
        snprintf(why, sizeof(why), "registry answered %ld", st);
        xfer_retry_later(x, why);
        return;
    }
    if (st == 404 && x->job && x->job->urls && x->job->urls[x->url_index]) {
        /* A foreign layer: the registry does not have it, its URLs do. */
        free(x->url);
        x->url = rk_xstrdup(x->job->urls[x->url_index++]);
        x->other_host = true;
        x->state = X_PENDING;
        return;
    }
    if (st == 404 || (st == 401 && x->other_host) || st == 403) {
        _cleanup_free_ char *m = registry_error_message(x->errbody.data, x->errbody.len);
        xfer_fail(x, "%s: not found%s%s", x->what, m ? ": " : "", m ? m : "");
        if (st != 404 || x->other_host) {
            rk_error_free(x->final_err);
            x->final_err = NULL;
            xfer_fail(x, "%s: %s answered %ld%s%s", x->what,
                      x->other_host ? "the blob server" : r->host, st, m ? ": " : "",
                      m ? m : "");
        }
        return;
    }
    if (st != 200 && st != 206) {
        _cleanup_free_ char *m = registry_error_message(x->errbody.data, x->errbody.len);
        xfer_fail(x, "%s: registry answered %ld%s%s", x->what, st, m ? ": " : "", m ? m : "");
        return;
    }
    if (x->job && x->job->size >= 0 && x->received < x->job->size) {
        /* The body ended early without a curl error (a proxy closing a
         * Content-Length-less response): resume. */
        xfer_retry_later(x, "connection closed before the end of the blob");
        return;
    }
    xfer_complete(x);
}

static int run_xfers(rk_registry *r, struct xfer *xs, size_t n, unsigned max_parallel,
                     bool fail_fast, rk_error **err)
{
    if (!max_parallel)
        max_parallel = 1;
    for (;;) {
        unsigned active = 0;
        size_t left = 0;
        double now = now_s(), next_wake = 0;
        for (size_t i = 0; i < n; i++) {
            struct xfer *x = &xs[i];
            if (x->state == X_FAILED && fail_fast) {
                /* Abort the others: one failed layer fails the pull. */
                for (size_t k = 0; k < n; k++)
                    if (xs[k].state == X_ACTIVE || xs[k].state == X_WAITING ||
                        xs[k].state == X_PENDING) {
                        xfer_release(&xs[k]);
                        xs[k].state = X_DONE;
                    }
                if (err && !*err)
                    *err = TAKE_PTR(x->final_err);
                return -1;
            }
            if (x->state == X_ACTIVE)
                active++;
            if (x->state != X_DONE && x->state != X_FAILED)
                left++;
        }
        if (!left)
            break;
        for (size_t i = 0; i < n && active < max_parallel; i++) {
            struct xfer *x = &xs[i];
            if (x->state == X_WAITING && x->next_at <= now)
                x->state = X_PENDING;
            if (x->state == X_WAITING && (!next_wake || x->next_at < next_wake))
                next_wake = x->next_at;
            if (x->state != X_PENDING)
                continue;
            rk_error *e = NULL;
            if (xfer_start(x, &e) < 0) {
                x->final_err = e;
                x->state = X_FAILED;
                continue;
            }
            active++;
        }
        int running = 0;
        CURLMcode mc = curl_multi_perform(r->multi, &running);
        if (mc != CURLM_OK)
            return rk_error_set(err, 0, "curl: %s", curl_multi_strerror(mc));
        CURLMsg *msg;
        int q;
        while ((msg = curl_multi_info_read(r->multi, &q))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            struct xfer *x = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            if (x)
                xfer_finished(x, msg->data.result);
        }
        bool any_active = false;
        for (size_t i = 0; i < n; i++)
            any_active |= xs[i].state == X_ACTIVE;
        int timeout = 1000;
        if (next_wake) {
            double d = (next_wake - now_s()) * 1000.0;
            timeout = d < 0 ? 0 : (d > 1000 ? 1000 : (int)d + 1);
        }
        if (any_active)
            curl_multi_poll(r->multi, NULL, 0, timeout, NULL);
        else if (next_wake)
            sleep_ms(timeout);
    }
    for (size_t i = 0; i < n; i++)
        if (xs[i].state == X_FAILED) {
            if (err && !*err)
                *err = TAKE_PTR(xs[i].final_err);
            return -1;
        }
    return 0;
}

/* ---- public requests ---- */

static char *repo_url(rk_registry *r, const char *kind, const char *ref)
{
    return rk_xasprintf("%s/v2/%s/%s/%s", r->base_url, r->path, kind, ref);
}

static int manifest_request(rk_registry *r, const char *ref, bool head, struct xfer *x,
                            rk_error **err)
{
    memset(x, 0, sizeof(*x));
    if (registry_ping(r, err) < 0)
        return -1;
    _cleanup_free_ char *what = rk_xasprintf("manifest %s/%s%s%s", r->host, r->path,
                                             rk_startswith(ref, "sha256:") ? "@" : ":", ref);
    x->r = r;
    x->what = what;
    x->url = repo_url(r, "manifests", ref);
    x->head = head;
    x->accept = RK_MANIFEST_ACCEPT;
    int rc = run_xfers(r, x, 1, 1, true, err);
    x->what = NULL;
    if (rc < 0 && err && *err && strstr((*err)->msg, ": not found"))
        (*err)->errnum = ENOENT;
    return rc;
}

int rk_registry_get_manifest(rk_registry *r, const char *ref, rk_fetched *out, rk_error **err)
{
    struct xfer x;
    memset(out, 0, sizeof(*out));
    if (manifest_request(r, ref, false, &x, err) < 0) {
        xfer_free(&x);
        return -1;
    }
    out->len = x.mem.len;
    out->data = x.mem.data ? TAKE_PTR(x.mem.data) : rk_xstrdup("");
    out->content_type = x.h.content_type ? rk_xstrdup(x.h.content_type) : NULL;
    rk_sha256_buf(out->data, out->len, out->digest);
    xfer_free(&x);
    if (rk_startswith(ref, "sha256:") && strcmp(ref, out->digest)) {
        rk_error_set(err, 0, "manifest %s/%s@%s: content hashes to %s", r->host, r->path, ref,
                     out->digest);
        rk_fetched_clear(out);
        return -1;
    }
    return 0;
}

int rk_registry_head_manifest(rk_registry *r, const char *ref, char **ret_digest,
                              rk_error **err)
{
    struct xfer x;
    *ret_digest = NULL;
    if (manifest_request(r, ref, true, &x, err) < 0) {
        xfer_free(&x);
        return -1;
    }
    if (x.h.docker_digest && rk_digest_valid(x.h.docker_digest))
        *ret_digest = rk_xstrdup(x.h.docker_digest);
    xfer_free(&x);
    return 0;
}

int rk_registry_get_blob(rk_registry *r, const char *digest, int64_t size, rk_fetched *out,
                         rk_error **err)
{
    memset(out, 0, sizeof(*out));
    if (rk_digest_check(digest, err) < 0)
        return -1;
    if (size > (int64_t)MAX_SMALL_DOC)
        return rk_error_set(err, 0, "blob %s is too large to read into memory", digest);
    if (registry_ping(r, err) < 0)
        return -1;
    _cleanup_free_ char *what = rk_xasprintf("blob %s", digest);
    struct xfer x;
    memset(&x, 0, sizeof(x));
    x.r = r;
    x.what = what;
    x.url = repo_url(r, "blobs", digest);
    if (run_xfers(r, &x, 1, 1, true, err) < 0) {
        xfer_free(&x);
        return -1;
    }
    out->len = x.mem.len;
    out->data = x.mem.data ? TAKE_PTR(x.mem.data) : rk_xstrdup("");
    xfer_free(&x);
    rk_sha256_buf(out->data, out->len, out->digest);
    if (size >= 0 && (int64_t)out->len != size) {
        rk_error_set(err, 0, "blob %s: got %zu bytes, expected %lld", digest, out->len,
                     (long long)size);
        rk_fetched_clear(out);
        return -1;
    }
    if (strcmp(out->digest, digest)) {
        rk_error_set(err, 0, "blob %s: content hashes to %s", digest, out->digest);
        rk_fetched_clear(out);
        return -1;
    }
    return 0;
}

int rk_registry_fetch_blobs(rk_registry *r, rk_blob_job *jobs, size_t n, unsigned max_parallel,
                            rk_error **err)
{
    if (!n)
        return 0;
    if (registry_ping(r, err) < 0)
        return -1;
    struct xfer *xs = rk_xcalloc(n, sizeof(*xs));
    char **whats = rk_xcalloc(n, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        whats[i] = rk_xasprintf("blob %s", jobs[i].digest);
        xs[i].r = r;
        xs[i].what = whats[i];
        xs[i].job = &jobs[i];
        xs[i].received = jobs[i].offset;
        xs[i].url = repo_url(r, "blobs", jobs[i].digest);
        if (jobs[i].offset >= jobs[i].size && jobs[i].size >= 0)
            xs[i].state = X_DONE; /* the partial file already has it all */
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        if (xs[i].state == X_DONE && jobs[i].on_done && jobs[i].on_done(jobs[i].ctx, err) < 0)
            rc = -1;
    if (rc == 0)
        rc = run_xfers(r, xs, n, max_parallel, true, err);
    for (size_t i = 0; i < n; i++)
        jobs[i].received = xs[i].received;
    for (size_t i = 0; i < n; i++) {
        xs[i].what = NULL;
        xfer_free(&xs[i]);
        free(whats[i]);
    }
    free(whats);
    free(xs);
    return rc;
}
