#include "image/reference.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/cleanup.h"
#include "base/digest.h"
#include "base/strv.h"

/* Docker's limit on the repository name (here: domain "/" path, after
 * normalization). */
#define NAME_MAX_LEN 255
#define TAG_MAX_LEN 128

/* The input quoted for an error message: one line, printable, bounded. A
 * reference may come from a file or the network, so control characters are
 * escaped rather than passed to the terminal. */
static char *quote_input(const char *s)
{
    size_t n = strlen(s), cap = (n > 200 ? 200 : n) * 4 + 8;
    char *r = rk_xmalloc(cap), *p = r;
    for (size_t i = 0; i < n && i < 200; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
            p += sprintf(p, "\\x%02x", c);
        else
            *p++ = (char)c;
    }
    if (n > 200)
        p += sprintf(p, "...");
    *p = 0;
    return r;
}

__attribute__((format(printf, 3, 4))) static int
ref_error(rk_error **err, const char *input, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *what = rk_xvasprintf(fmt, ap);
    va_end(ap);
    _cleanup_free_ char *q = quote_input(input);
    return rk_error_set_status(err, 125, 0, "invalid reference \"%s\": %s", q,
                               what);
}

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* [a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)* over s[0..n) */
static bool component_valid(const char *s, size_t n)
{
    size_t i = 0;
    if (n == 0 || !is_lower_alnum(s[0]))
        return false;
    while (i < n) {
        while (i < n && is_lower_alnum(s[i]))
            i++;
        if (i == n)
            return true;
        /* a separator, then at least one alnum */
        if (s[i] == '.') {
            i++;
        } else if (s[i] == '_') {
            i++;
            if (i < n && s[i] == '_')
                i++;
        } else if (s[i] == '-') {
            while (i < n && s[i] == '-')
                i++;
        } else {
            return false;
        }
        if (i == n || !is_lower_alnum(s[i]))
            return false;
    }
    return true;
}

bool rk_ref_path_valid(const char *path)
{
    if (!path || !*path)
        return false;
    const char *p = path;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (!component_valid(p, n))
            return false;
        if (!slash)
            return true;
        p = slash + 1;
    }
}

static bool port_valid(const char *s, size_t n)
{
    if (n == 0 || n > 5)
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    return v >= 1 && v <= 65535;
}

/* host name: components of [A-Za-z0-9] with inner '-', joined by '.' */
static bool hostname_valid(const char *s, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    size_t i = 0;
    while (i < n) {
        size_t start = i;
        while (i < n && (is_alnum(s[i]) || s[i] == '-'))
            i++;
        if (i == start || s[start] == '-' || s[i - 1] == '-' || i - start > 63)
            return false;
        if (i == n)
            return true;
        if (s[i] != '.')
            return false;
        i++;
        if (i == n)
            return false; /* trailing dot */
    }
    return true;
}

/* Splits "host[:port]" / "[v6][:port]" into the host (without brackets)
 * and the port text. Returns false when the form is wrong. */
static bool split_host_port(const char *d, size_t n, const char **host,
                            size_t *host_len, const char **port,
                            size_t *port_len, bool *bracketed)
{
    *port = NULL;
    *port_len = 0;
    *bracketed = false;
    if (n > 0 && d[0] == '[') {
        const char *close = memchr(d, ']', n);
        if (!close)
            return false;
        *bracketed = true;
        *host = d + 1;
        *host_len = (size_t)(close - d - 1);
        size_t rest = n - (size_t)(close - d) - 1;
        if (rest == 0)
            return true;
        if (close[1] != ':')
            return false;
        *port = close + 2;
        *port_len = rest - 1;
        return true;
    }
    const char *colon = memchr(d, ':', n);
    *host = d;
    if (!colon) {
        *host_len = n;
        return true;
    }
    *host_len = (size_t)(colon - d);
    *port = colon + 1;
    *port_len = n - *host_len - 1;
    return true;
}

static bool ipv6_valid(const char *s, size_t n)
{
    char buf[64];
    struct in6_addr a;
    if (n == 0 || n >= sizeof(buf))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
              (s[i] >= 'A' && s[i] <= 'F') || s[i] == ':' || s[i] == '.'))
            return false;
    memcpy(buf, s, n);
    buf[n] = 0;
    return inet_pton(AF_INET6, buf, &a) == 1;
}

/* Why a domain is invalid, or NULL when it is fine. */
static const char *domain_problem(const char *d, size_t n)
{
    const char *host, *port;
    size_t hl, pl;
    bool br;
    if (!split_host_port(d, n, &host, &hl, &port, &pl, &br))
        return "invalid registry host";
    if (br ? !ipv6_valid(host, hl) : !hostname_valid(host, hl))
        return "invalid registry host";
    if (port && !port_valid(port, pl))
        return "invalid registry port";
    return NULL;
}

bool rk_ref_domain_valid(const char *domain)
{
    return domain && domain_problem(domain, strlen(domain)) == NULL;
}

bool rk_tag_valid(const char *s)
{
    if (!s || !*s)
        return false;
    size_t n = strlen(s);
    if (n > TAG_MAX_LEN)
        return false;
    if (!(is_alnum(s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(is_alnum(s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-'))
            return false;
    return true;
}

static bool has_upper(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] >= 'A' && s[i] <= 'Z')
            return true;
    return false;
}

/* The first component names a registry when it looks like a host name
 * (has a '.' or a ':' port, or is a bracketed IPv6 address) or is
 * "localhost"; otherwise it is a Docker Hub namespace. */
static bool looks_like_domain(const char *s, size_t n)
{
    return memchr(s, '.', n) || memchr(s, ':', n) ||
           (n == 9 && !memcmp(s, "localhost", 9)) || (n > 0 && s[0] == '[');
}

static int check_digest(const char *input, const char *dg, rk_error **err)
{
    const char *colon = strchr(dg, ':');
    if (!*dg)
        return ref_error(err, input, "empty digest");
    if (!colon || colon == dg)
        return ref_error(err, input,
                         "digest must have the form sha256:<64 hex digits>");
    size_t al = (size_t)(colon - dg);
    if (al != 6 || memcmp(dg, "sha256", 6) != 0) {
        _cleanup_free_ char *alg = rk_xstrndup(dg, al > 32 ? 32 : al);
        _cleanup_free_ char *q = quote_input(alg);
        return ref_error(
            err, input, "unsupported digest algorithm \"%s\" (only sha256)", q);
    }
    if (!rk_digest_valid(dg)) {
        if (strlen(dg) == RK_DIGEST_LEN && has_upper(dg, RK_DIGEST_LEN))
            return ref_error(err, input, "digest must be lowercase hex");
        return ref_error(err, input, "digest must be 64 hex digits");
    }
    return 0;
}

int rk_ref_parse(const char *s, rk_ref **ret, rk_error **err)
{
    const char *input = s ? s : "";
    const char *r = input;
    if (rk_startswith(r, "docker://"))
        r += strlen("docker://");
    if (!*r)
        return ref_error(err, input, "empty reference");

    for (const char *p = r; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return ref_error(err, input,
                             "reference contains a space or a control or "
                             "non-ASCII character");

    _cleanup_free_ char *digest = NULL, *tag = NULL, *domain = NULL,
                        *path = NULL;

    /* 1. name [":" tag] "@" digest */
    size_t name_end = strlen(r);
    const char *at = strchr(r, '@');
    if (at) {
        if (strchr(at + 1, '@'))
            return ref_error(err, input, "more than one '@'");
        if (check_digest(input, at + 1, err) < 0)
            return -1;
        digest = rk_xstrdup(at + 1);
        name_end = (size_t)(at - r);
    }

    /* 2. the tag: a ':' after the last '/' (a ':' before it is a port) */
    const char *last_slash = memrchr(r, '/', name_end);
    const char *tag_from = last_slash ? last_slash + 1 : r;
    const char *colon =
        memchr(tag_from, ':', name_end - (size_t)(tag_from - r));
    if (colon) {
        size_t tl = name_end - (size_t)(colon - r) - 1;
        _cleanup_free_ char *t = rk_xstrndup(colon + 1, tl);
        if (!*t)
            return ref_error(err, input, "empty tag");
        if (!rk_tag_valid(t)) {
            if (tl > TAG_MAX_LEN)
                return ref_error(err, input, "tag is longer than %d characters",
                                 TAG_MAX_LEN);
            _cleanup_free_ char *q = quote_input(t);
            return ref_error(err, input, "invalid tag \"%s\"", q);
        }
        tag = TAKE_PTR(t);
        name_end = (size_t)(colon - r);
    }

    if (name_end == 0)
        return ref_error(err, input, "empty repository name");
    if (name_end > NAME_MAX_LEN)
        return ref_error(err, input,
                         "repository name is longer than %d characters",
                         NAME_MAX_LEN);

    /* 3. [domain "/"] path */
    const char *slash = memchr(r, '/', name_end);
    const char *path_start = r;
    bool unqualified = true;
    if (slash && looks_like_domain(r, (size_t)(slash - r))) {
        size_t dl = (size_t)(slash - r);
        const char *why = domain_problem(r, dl);
        if (why) {
            _cleanup_free_ char *d = rk_xstrndup(r, dl);
            _cleanup_free_ char *q = quote_input(d);
            return ref_error(err, input, "%s \"%s\"", why, q);
        }
        domain = rk_xstrndup(r, dl);
        path_start = slash + 1;
        unqualified = false;
    }
    size_t path_len = name_end - (size_t)(path_start - r);
    path = rk_xstrndup(path_start, path_len);

    if (has_upper(path, path_len))
        return ref_error(err, input, "repository name must be lowercase");
    for (const char *p = path;;) {
        const char *sl = strchr(p, '/');
        size_t n = sl ? (size_t)(sl - p) : strlen(p);
        if (n == 0)
            return ref_error(err, input, "empty path component");
        if (!component_valid(p, n)) {
            _cleanup_free_ char *c = rk_xstrndup(p, n);
            _cleanup_free_ char *q = quote_input(c);
            return ref_error(err, input,
                             "invalid repository name component \"%s\"", q);
        }
        if (!sl)
            break;
        p = sl + 1;
    }

    if (!domain || !strcmp(domain, "index.docker.io")) {
        free(domain);
        domain = rk_xstrdup("docker.io");
    }

    _cleanup_free_ char *short_path = unqualified ? rk_xstrdup(path) : NULL;
    if (!strcmp(domain, "docker.io") && !strchr(path, '/')) {
        char *full = rk_xasprintf("library/%s", path);
        free(path);
        path = full;
    }
    /* The limit applies to the normalized name, so that every reference
     * we print parses again. */
    if (strlen(domain) + 1 + strlen(path) > NAME_MAX_LEN)
        return ref_error(err, input,
                         "repository name is longer than %d characters",
                         NAME_MAX_LEN);

    rk_ref *ref = rk_xcalloc(1, sizeof(*ref));
    ref->unqualified = unqualified;
    ref->short_path = TAKE_PTR(short_path);
    ref->domain = TAKE_PTR(domain);
    ref->path = TAKE_PTR(path);
    ref->digest = TAKE_PTR(digest);
    ref->tag = TAKE_PTR(tag);
    if (!ref->tag && !ref->digest)
        ref->tag = rk_xstrdup("latest");
    *ret = ref;
    return 0;
}

void rk_ref_free(rk_ref *ref)
{
    if (!ref)
        return;
    free(ref->domain);
    free(ref->path);
    free(ref->tag);
    free(ref->digest);
    free(ref->short_path);
    free(ref);
}

static char *dup_or_null(const char *s)
{
    return s ? rk_xstrdup(s) : NULL;
}

rk_ref *rk_ref_dup(const rk_ref *ref)
{
    rk_ref *r = rk_xcalloc(1, sizeof(*r));
    r->domain = dup_or_null(ref->domain);
    r->path = dup_or_null(ref->path);
    r->tag = dup_or_null(ref->tag);
    r->digest = dup_or_null(ref->digest);
    r->unqualified = ref->unqualified;
    r->short_path = dup_or_null(ref->short_path);
    return r;
}

char *rk_ref_name(const rk_ref *ref)
{
    return rk_xasprintf("%s/%s", ref->domain, ref->path);
}

static char *with_suffixes(const char *name, const rk_ref *ref)
{
    return rk_xasprintf("%s%s%s%s%s", name, ref->tag ? ":" : "",
                        ref->tag ? ref->tag : "", ref->digest ? "@" : "",
                        ref->digest ? ref->digest : "");
}

char *rk_ref_string(const rk_ref *ref)
{
    _cleanup_free_ char *name = rk_ref_name(ref);
    return with_suffixes(name, ref);
}

char *rk_ref_familiar(const rk_ref *ref)
{
    if (!strcmp(ref->domain, "docker.io")) {
        const char *p = ref->path;
        if (rk_startswith(p, "library/") && !strchr(p + 8, '/'))
            p += 8;
        /* "docker.io/a.b/x" must not be shown as "a.b/x": that names the
         * registry a.b. */
        size_t first = strcspn(p, "/");
        if (!p[first] || !looks_like_domain(p, first))
            return with_suffixes(p, ref);
    }
    return rk_ref_string(ref);
}

rk_ref *rk_ref_with_domain(const rk_ref *ref, const char *domain)
{
    rk_ref *r = rk_ref_dup(ref);
    const char *base = ref->short_path ? ref->short_path : ref->path;
    free(r->domain);
    free(r->path);
    free(r->short_path);
    r->short_path = NULL;
    r->unqualified = false;
    r->domain =
        rk_xstrdup(!strcmp(domain, "index.docker.io") ? "docker.io" : domain);
    if (!strcmp(r->domain, "docker.io") && !strchr(base, '/'))
        r->path = rk_xasprintf("library/%s", base);
    else
        r->path = rk_xstrdup(base);
    return r;
}

const char *rk_ref_api_host(const char *domain)
{
    if (!strcmp(domain, "docker.io") || !strcmp(domain, "index.docker.io"))
        return "registry-1.docker.io";
    return domain;
}

bool rk_domain_is_loopback(const char *domain)
{
    if (!domain || !*domain)
        return false;
    size_t n = strlen(domain);
    const char *host, *port;
    size_t hl, pl;
    bool br;
    /* A bare IPv6 address ("::1") has several colons and no brackets. */
    if (domain[0] != '[' && strchr(domain, ':') != strrchr(domain, ':')) {
        host = domain;
        hl = n;
        port = NULL;
        pl = 0;
        br = true;
    } else if (!split_host_port(domain, n, &host, &hl, &port, &pl, &br)) {
        return false;
    }
    if (port && !port_valid(port, pl))
        return false;
    char buf[64];
    if (hl == 0 || hl >= sizeof(buf))
        return false;
    memcpy(buf, host, hl);
    buf[hl] = 0;
    if (br) {
        struct in6_addr a6;
        return inet_pton(AF_INET6, buf, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
    }
    if (!strcasecmp(buf, "localhost"))
        return true;
    struct in_addr a4;
    if (inet_pton(AF_INET, buf, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    return false;
}
