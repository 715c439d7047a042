#include "config.h"

#include "probe/fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/digest.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/strv.h"

#define NAME_MAX_LEN 200 /* leaves room for ".partial" within NAME_MAX */
#define DEFAULT_ATTEMPTS 3
#define DEFAULT_LOW_SPEED_TIME 30L
#define LOCK_NAME ".lock"
#define PARTIAL_SUFFIX ".partial"
/* Beside a partial: the validator (a strong ETag, else Last-Modified) of
 * the response it came from, sent back as If-Range when resuming so that
 * a file that changed on the server is started over, not spliced. */
#define VALIDATOR_SUFFIX ".validator"
#define VALIDATOR_MAX 512

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

bool rk_fetch_is_url(const char *s)
{
    return s &&
           (!strncasecmp(s, "http://", 7) || !strncasecmp(s, "https://", 8));
}

/* "ftp://...", "file:///...": a scheme we do not fetch. */
static bool has_other_scheme(const char *s)
{
    const char *p = strstr(s, "://");
    if (!p || p == s)
        return false;
    for (const char *q = s; q < p; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
              (*q >= '0' && *q <= '9') || *q == '+' || *q == '-' || *q == '.'))
            return false;
    return true;
}


int rk_fetch_file_name(const char *url, char **ret, rk_error **err)
{
    const char *p = strstr(url, "://");
    if (!p)
        return rk_error_set(err, 0, "\"%s\" is not a URL", url);
    p += 3;
    const char *path = p + strcspn(p, "/?#");
    size_t plen = strcspn(path, "?#");
    const char *end = path + plen;
    const char *last = end;
    while (last > path && last[-1] != '/')
        last--;
    if (last == end)
        return rk_error_set(
            err, 0, "URL %s names no file (its path ends with '/')", url);
    _cleanup_free_ char *name = rk_xmalloc((size_t)(end - last) + 1);
    size_t n = 0;
    for (const char *q = last; q < end; q++) {
        if (*q == '%') {
            int hi = q + 1 < end ? rk_hexval(q[1]) : -1;
            int lo = q + 2 < end ? rk_hexval(q[2]) : -1;
            if (hi < 0 || lo < 0)
                return rk_error_set(
                    err, 0, "URL %s: bad percent-escape in its file name", url);
            name[n++] = (char)(hi * 16 + lo);
            q += 2;
        } else {
            name[n++] = *q;
        }
    }
    name[n] = 0;
    if (strlen(name) != n)
        return rk_error_set(err, 0, "URL %s: its file name holds a NUL byte",
                            url);
    if (n > NAME_MAX_LEN)
        return rk_error_set(err, 0,
                            "URL %s: its file name is longer than %d bytes",
                            url, NAME_MAX_LEN);
    if (name[0] == '.')
        return rk_error_set(
            err, 0, "URL %s: its file name \"%s\" starts with '.'", url, name);
    for (const unsigned char *c = (const unsigned char *)name; *c; c++)
        if (*c == '/' || *c < 0x20 || *c == 0x7f)
            return rk_error_set(
                err, 0,
                "URL %s: its file name holds '/' or a control character", url);
    *ret = TAKE_PTR(name);
    return 0;
}

char *rk_fetch_cache_dir(const char *store_root, const char *url)
{
    char d[RK_DIGEST_LEN + 1];
    rk_sha256_buf(url, strlen(url), d);
    return rk_xasprintf("%s/cache/packages/%s", store_root, rk_digest_hex(d));
}

/* ---- one download attempt ---- */

struct dl {
    int fd;
    uint64_t have;    /* bytes of the partial when this response began */
    uint64_t written; /* bytes written from this response */
    /* The current response's headers (reset at each status line, as
     * redirects bring several). */
    long status;
    char *status_line;
    bool has_clen, has_crange, crange_total_known, chunked;
    uint64_t clen, crange_start, crange_total;
    char *etag, *last_modified;
    /* Decided when the body begins. */
    bool started, total_known, restarted, resumed;
    uint64_t total;
    char *fail; /* the body cannot be right: stop, remove the partial */
    int dirfd;
    const char *validator_name;
};

static void dl_reset_headers(struct dl *d)
{
    free(d->status_line);
    d->status_line = NULL;
    d->status = 0;
    d->has_clen = d->has_crange = d->crange_total_known = d->chunked = false;
    d->clen = d->crange_start = d->crange_total = 0;
    free(d->etag);
    free(d->last_modified);
    d->etag = d->last_modified = NULL;
}

static void dl_clear(struct dl *d)
{
    dl_reset_headers(d);
    free(d->fail);
    d->fail = NULL;
}

/* What identifies this version of the file, or NULL: a weak ETag does not
 * promise identical bytes, so If-Range must not use it (RFC 9110 13.1.5). */
static const char *dl_validator(const struct dl *d)
{
    if (d->etag && strncmp(d->etag, "W/", 2) != 0)
        return d->etag;
    return d->last_modified;
}

static void save_validator(struct dl *d)
{
    const char *v = dl_validator(d);
    if (!v || strlen(v) > VALIDATOR_MAX || strpbrk(v, "\r\n")) {
        unlinkat(d->dirfd, d->validator_name, 0);
        return;
    }
    rk_error *e = NULL;
    if (rk_write_file_atomic(d->dirfd, d->validator_name, v, strlen(v), 0644, &e) < 0) {
        rk_debug("%s", e->msg);
        rk_error_free(e);
        unlinkat(d->dirfd, d->validator_name, 0);
    }
}

static bool parse_u64(const char *s, const char *end, uint64_t *ret)
{
    if (s >= end)
        return false;
    uint64_t v = 0;
    for (const char *p = s; p < end; p++) {
        if (*p < '0' || *p > '9')
            return false;
        if (v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *ret = v;
    return true;
}

/* Content-Range: "bytes A-B/T", or with an asterisk for an unknown total
 * ("bytes A-B/ASTERISK") or, on 416, for the range ("bytes ASTERISK/T"). */
static void parse_content_range(struct dl *d, const char *v, const char *end)
{
    if (end - v < 6 || strncasecmp(v, "bytes ", 6))
        return;
    v += 6;
    const char *slash = memchr(v, '/', (size_t)(end - v));
    if (!slash)
        return;
    if (slash - v == 1 && *v == '*') {
        d->has_crange = false;
    } else {
        const char *dash = memchr(v, '-', (size_t)(slash - v));
        uint64_t a, b;
        if (!dash || !parse_u64(v, dash, &a) ||
            !parse_u64(dash + 1, slash, &b) || b < a)
            return;
        d->has_crange = true;
        d->crange_start = a;
    }
    if (end - slash == 2 && slash[1] == '*')
        return;
    if (parse_u64(slash + 1, end, &d->crange_total))
        d->crange_total_known = true;
}

static size_t dl_header_cb(char *buf, size_t size, size_t n, void *ud)
{
    struct dl *d = ud;
    size_t len = size * n;
    const char *end = buf + len;
    while (end > buf && (end[-1] == '\r' || end[-1] == '\n'))
        end--;
    size_t l = (size_t)(end - buf);
    if (l >= 5 && !strncmp(buf, "HTTP/", 5)) {
        dl_reset_headers(d);
        d->status_line = rk_xstrndup(buf, l);
        const char *sp = memchr(buf, ' ', l);
        if (sp && end - sp >= 4)
            d->status = strtol(sp + 1, NULL, 10);
        return len;
    }
    const char *colon = memchr(buf, ':', l);
    if (!colon)
        return len;
    size_t klen = (size_t)(colon - buf);
    const char *v = colon + 1;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    const char *vend = end;
    while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
        vend--;
    if (klen == 14 && !strncasecmp(buf, "Content-Length", 14)) {
        d->has_clen = parse_u64(v, vend, &d->clen);
    } else if (klen == 13 && !strncasecmp(buf, "Content-Range", 13)) {
        parse_content_range(d, v, vend);
    } else if (klen == 4 && !strncasecmp(buf, "ETag", 4)) {
        free(d->etag);
        d->etag = rk_xstrndup(v, (size_t)(vend - v));
    } else if (klen == 13 && !strncasecmp(buf, "Last-Modified", 13)) {
        free(d->last_modified);
        d->last_modified = rk_xstrndup(v, (size_t)(vend - v));
    } else if (klen == 17 && !strncasecmp(buf, "Transfer-Encoding", 17)) {
        for (const char *p = v; p + 7 <= vend; p++)
            if (!strncasecmp(p, "chunked", 7))
                d->chunked = true;
    }
    return len;
}

/* The final response's body begins: decide where it goes and how long it
 * must be. Returns false after setting d->fail. */
static bool dl_begin_body(struct dl *d)
{
    d->started = true;
    if (d->status == 200) {
        if (d->have > 0) {
            /* The server ignored Range: start over. */
            if (ftruncate(d->fd, 0) < 0 || lseek(d->fd, 0, SEEK_SET) < 0) {
                d->fail = rk_xasprintf("truncating the partial download: %s",
                                       strerror(errno));
                return false;
            }
            d->have = 0;
            d->restarted = true;
        }
        d->total_known = d->has_clen;
        d->total = d->clen;
        save_validator(d);
        return true;
    }
    if (d->status == 206) {
        if (!d->has_crange) {
            d->fail =
                rk_xstrdup("the server answered 206 without a Content-Range");
            return false;
        }
        if (d->crange_start != d->have) {
            d->fail = rk_xasprintf("the server resumed at byte %" PRIu64
                                   ", not %" PRIu64,
                                   d->crange_start, d->have);
            return false;
        }
        d->total_known = d->crange_total_known;
        d->total = d->crange_total;
        d->resumed = d->have > 0;
        return true;
    }
    return true;
}

static size_t dl_write_cb(char *buf, size_t size, size_t n, void *ud)
{
    struct dl *d = ud;
    size_t len = size * n;
    if (!d->started && !dl_begin_body(d))
        return 0;
    if (d->status != 200 && d->status != 206)
        return len; /* an error page: not the package */
    if (d->total_known && d->have + d->written + len > d->total) {
        d->fail = rk_xasprintf("the server sent more than the %" PRIu64
                               " bytes it announced",
                               d->total);
        return 0;
    }
    if (rk_write_all(d->fd, buf, len) < 0) {
        d->fail = rk_xasprintf("writing the download: %s", strerror(errno));
        return 0;
    }
    d->written += len;
    return len;
}

static bool curl_code_transient(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        return true;
    default:
        return false;
    }
}

static void drop_partial(int dirfd, const char *partial, const char *validator)
{
    unlinkat(dirfd, partial, 0);
    unlinkat(dirfd, validator, 0);
}

enum attempt_result {
    ATTEMPT_DONE,  /* the partial is complete and verified */
    ATTEMPT_RETRY, /* try again (resuming what is there) */
    ATTEMPT_FAIL,  /* *err is set */
};

static enum attempt_result dl_attempt(const char *url, int dirfd,
                                      const char *partial,
                                      const rk_fetch_opts *o, bool last,
                                      rk_fetch_info *info, char **retry_why,
                                      rk_error **err)
{
    _cleanup_close_ int fd =
        openat(dirfd, partial, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return rk_error_set(err, errno, "downloading %s: opening %s", url,
                            partial),
               ATTEMPT_FAIL;
    struct stat st;
    if (fstat(fd, &st) < 0 || lseek(fd, 0, SEEK_END) < 0)
        return rk_error_set(err, errno, "downloading %s: %s", url, partial),
               ATTEMPT_FAIL;
    _cleanup_free_ char *vname = rk_xasprintf("%s" VALIDATOR_SUFFIX, partial);
    struct dl d __attribute__((cleanup(dl_clear))) = {
        .fd = fd, .have = (uint64_t)st.st_size, .dirfd = dirfd, .validator_name = vname};

    CURL *c = curl_easy_init();
    if (!c)
        return rk_error_set(err, 0, "downloading %s: cannot initialize libcurl",
                            url),
               ATTEMPT_FAIL;
    char errbuf[CURL_ERROR_SIZE] = "";
    char range[32];
    struct curl_slist *hl = NULL;
    if (d.have > 0) {
        snprintf(range, sizeof(range), "%" PRIu64 "-", d.have);
        curl_easy_setopt(c, CURLOPT_RANGE, range);
        _cleanup_free_ char *v = NULL;
        if (rk_read_file_at(dirfd, vname, VALIDATOR_MAX, &v, NULL, NULL) == 0 && *v &&
            !strpbrk(v, "\r\n")) {
            _cleanup_free_ char *h = rk_xasprintf("If-Range: %s", v);
            hl = curl_slist_append(hl, h);
            curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
        }
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "postroj/" RACKER_VERSION);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
                     o->low_speed_time > 0 ? o->low_speed_time
                                           : DEFAULT_LOW_SPEED_TIME);
    /* No Accept-Encoding: the sizes checked are those of the file. */
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, NULL);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, dl_header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &d);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, dl_write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &d);
    if (o->tls_insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (o->ca_file) {
        /* CAINFO replaces the bundle; the hashed directory keeps the
         * system's CAs trusted as well. */
        curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
        curl_easy_setopt(c, CURLOPT_CAPATH, "/etc/ssl/certs");
    }
    if (rk_log_get_level() >= RK_LOG_DEBUG)
        curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
    rk_debug("GET %s%s%s", url, d.have ? " Range: bytes=" : "",
             d.have ? range : "");
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    curl_slist_free_all(hl);
    d.status = status ? status : d.status;
    _cleanup_free_ char *status_line = TAKE_PTR(d.status_line);
    _cleanup_free_ char *fail = TAKE_PTR(d.fail);
    rk_debug("GET %s: %s, %s, %" PRIu64 " bytes", url,
             cc ? curl_easy_strerror(cc) : "ok",
             status_line ? status_line : "no answer", d.written);
    if (d.resumed)
        info->resumed = true;

    if (fail) {
        drop_partial(dirfd, partial, vname);
        return rk_error_set(err, 0,
                            "downloading %s: %s (partial download removed)",
                            url, fail),
               ATTEMPT_FAIL;
    }
    if (status == 416) {
        /* Nothing after byte N: the partial may be whole already. */
        if (d.crange_total_known && d.crange_total == d.have) {
            d.total_known = true;
            d.total = d.have;
            goto verify;
        }
        drop_partial(dirfd, partial, vname);
        if (last)
            return rk_error_set(
                       err, 0,
                       "downloading %s: the server refused to resume at byte "
                       "%" PRIu64 " (%s)",
                       url, d.have, status_line ? status_line : "416"),
                   ATTEMPT_FAIL;
        *retry_why =
            rk_xasprintf("resuming at byte %" PRIu64 " refused", d.have);
        return ATTEMPT_RETRY;
    }
    if (cc != CURLE_OK) {
        const char *why = errbuf[0] ? errbuf : curl_easy_strerror(cc);
        uint64_t kept = d.have + d.written;
        if (!curl_code_transient(cc) || last)
            return rk_error_set(
                       err, 0, "downloading %s: %s%s", url, why,
                       kept ? " (the partial download is kept for resuming)"
                            : ""),
                   ATTEMPT_FAIL;
        *retry_why = rk_xstrdup(why);
        return ATTEMPT_RETRY;
    }
    if (status != 200 && status != 206) {
        if ((status >= 500 || status == 429 || status == 408) && !last) {
            *retry_why = rk_xstrdup(status_line ? status_line : "server error");
            return ATTEMPT_RETRY;
        }
        return rk_error_set(err, 0, "downloading %s: %s", url,
                            status_line ? status_line : "no HTTP answer"),
               ATTEMPT_FAIL;
    }
    if (!d.started && !dl_begin_body(&d)) {
        _cleanup_free_ char *f = TAKE_PTR(d.fail);
        drop_partial(dirfd, partial, vname);
        return rk_error_set(err, 0,
                            "downloading %s: %s (partial download removed)",
                            url, f),
               ATTEMPT_FAIL;
    }
    if (!d.total_known && !d.chunked) {
        drop_partial(dirfd, partial, vname);
        return rk_error_set(err, 0,
                            "downloading %s: the server sent no "
                            "Content-Length, so the size "
                            "cannot be verified (partial download removed)",
                            url),
               ATTEMPT_FAIL;
    }
verify:;
    uint64_t size = d.have + d.written;
    if (d.total_known && size != d.total) {
        drop_partial(dirfd, partial, vname);
        return rk_error_set(err, 0,
                            "downloading %s: got %" PRIu64
                            " bytes, the server announced %" PRIu64
                            " (partial download removed)",
                            url, size, d.total),
               ATTEMPT_FAIL;
    }
    if (fsync(fd) < 0)
        return rk_error_set(err, errno, "downloading %s: fsync of %s", url,
                            partial),
               ATTEMPT_FAIL;
    info->size = size;
    return ATTEMPT_DONE;
}

static int fetch_url(const char *store_root, const char *url,
                     const rk_fetch_opts *o, char **ret_path,
                     rk_fetch_info *info, rk_error **err)
{
    pthread_once(&curl_once, curl_init_once);
    _cleanup_free_ char *name = NULL;
    if (rk_fetch_file_name(url, &name, err) < 0)
        return -1;
    _cleanup_free_ char *dir = rk_fetch_cache_dir(store_root, url);
    if (rk_mkdir_p(dir, 0755, err) < 0)
        return rk_error_wrap(err, "downloading %s: creating the cache", url);
    _cleanup_close_ int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return rk_error_set(err, errno, "downloading %s: opening %s", url, dir);
    /* One download per URL at a time; whoever comes second finds the file. */
    _cleanup_close_ int lockfd = rk_lock_at(dirfd, LOCK_NAME, LOCK_EX, err);
    if (lockfd < 0)
        return rk_error_wrap(err, "downloading %s", url);
    _cleanup_free_ char *path = rk_path_join(dir, name);
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (!S_ISREG(st.st_mode))
            return rk_error_set(
                err, 0, "downloading %s: %s in the cache is not a regular file",
                url, path);
        rk_debug("%s: cached as %s", url, path);
        info->size = (uint64_t)st.st_size;
        *ret_path = TAKE_PTR(path);
        return 0;
    }
    _cleanup_free_ char *partial = rk_xasprintf("%s" PARTIAL_SUFFIX, name);
    unsigned attempts = o->attempts ? o->attempts : DEFAULT_ATTEMPTS;
    info->downloaded = true;
    for (unsigned i = 1;; i++) {
        _cleanup_free_ char *why = NULL;
        enum attempt_result ar =
            dl_attempt(url, dirfd, partial, o, i >= attempts, info, &why, err);
        if (ar == ATTEMPT_FAIL)
            return -1;
        if (ar == ATTEMPT_DONE)
            break;
        rk_verbose("downloading %s: %s; trying again (%u of %u)", url, why,
                   i + 1, attempts);
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 100000000L * i};
        nanosleep(&ts, NULL);
    }
    if (renameat(dirfd, partial, dirfd, name) < 0)
        return rk_error_set(err, errno, "downloading %s: renaming %s", url,
                            partial);
    _cleanup_free_ char *vname = rk_xasprintf("%s" VALIDATOR_SUFFIX, partial);
    unlinkat(dirfd, vname, 0);
    rk_fsync_dir_at(dirfd, NULL);
    *ret_path = TAKE_PTR(path);
    return 0;
}

int rk_fetch_package(const char *store_root, const char *src,
                     const rk_fetch_opts *opts, char **ret_path,
                     rk_fetch_info *info, rk_error **err)
{
    rk_fetch_opts o = opts ? *opts : (rk_fetch_opts){0};
    rk_fetch_info dummy;
    if (!info)
        info = &dummy;
    memset(info, 0, sizeof(*info));
    if (!src || !*src)
        return rk_error_set(err, 0, "empty package name");
    if (rk_fetch_is_url(src)) {
        if (!store_root || !*store_root)
            return rk_error_set(err, 0,
                                "downloading %s: no store to cache it in", src);
        return fetch_url(store_root, src, &o, ret_path, info, err);
    }
    if (has_other_scheme(src))
        return rk_error_set(
            err, 0,
            "package %s: only http:// and https:// URLs can be downloaded",
            src);
    struct stat st;
    if (stat(src, &st) < 0)
        return rk_error_set(err, errno, "package %s", src);
    if (!S_ISREG(st.st_mode))
        return rk_error_set(err, 0, "package %s is not a regular file", src);
    info->size = (uint64_t)st.st_size;
    *ret_path = rk_xstrdup(src);
    return 0;
}
