#include "image/challenge.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/cleanup.h"

/* Bounds on what a registry may send: far above anything real, low enough
 * that the duplicate check stays cheap. */
#define MAX_HEADER_LEN 65536
#define MAX_CHALLENGES 32
#define MAX_PARAMS 64

static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_t68(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || (c && strchr("-._~+/", c));
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t';
}

static char *lower_dup(const char *s, size_t n)
{
    char *r = rk_xstrndup(s, n);
    for (char *p = r; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return r;
}

static void challenge_clear(rk_challenge *c)
{
    free(c->scheme);
    free(c->token68);
    for (size_t i = 0; i < c->n_params; i++) {
        free(c->params[i].name);
        free(c->params[i].value);
    }
    free(c->params);
}

void rk_challenges_free(rk_challenges *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        challenge_clear(&c->v[i]);
    free(c->v);
    free(c);
}

static int bad(rk_error **err, const char *what, size_t pos)
{
    return rk_error_set(
        err, 0, "invalid WWW-Authenticate header: %s at offset %zu", what, pos);
}

/* Does p start an auth-param (token BWS "=" BWS (token / quoted-string))
 * rather than a token68 or the next challenge's scheme? */
static bool looks_like_param(const char *p)
{
    const char *q = p;
    while (is_tchar((unsigned char)*q))
        q++;
    if (q == p)
        return false;
    while (is_ws(*q))
        q++;
    if (*q != '=')
        return false;
    q++;
    while (is_ws(*q))
        q++;
    return *q == '"' || is_tchar((unsigned char)*q);
}

static int parse_quoted(const char **pp, const char *start, char **ret,
                        rk_error **err)
{
    const char *p = *pp + 1;
    size_t n = 0;
    char *out = rk_xmalloc(strlen(p) + 1);
    for (;;) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            p++;
            break;
        }
        if (c == '\\') {
            unsigned char e = (unsigned char)p[1];
            if (!(e == '\t' || (e >= 0x20 && e != 0x7f))) {
                free(out);
                return bad(err, "bad escape in a quoted string",
                           (size_t)(p - start));
            }
            out[n++] = (char)e;
            p += 2;
            continue;
        }
        if (c == 0) {
            free(out);
            return bad(err, "unterminated quoted string", (size_t)(p - start));
        }
        if (!(c == '\t' || (c >= 0x20 && c != 0x7f))) {
            free(out);
            return bad(err, "control character in a quoted string",
                       (size_t)(p - start));
        }
        out[n++] = (char)c;
        p++;
    }
    out[n] = 0;
    *pp = p;
    *ret = out;
    return 0;
}

static int add_param(rk_challenge *c, char *name, char *value,
                     const char *start, const char *p, rk_error **err)
{
    for (size_t i = 0; i < c->n_params; i++)
        if (!strcmp(c->params[i].name, name)) {
            free(name);
            free(value);
            return bad(err, "parameter given twice", (size_t)(p - start));
        }
    if (c->n_params >= MAX_PARAMS) {
        free(name);
        free(value);
        return bad(err, "too many parameters", (size_t)(p - start));
    }
    c->params = rk_xrealloc(c->params, (c->n_params + 1) * sizeof(*c->params));
    c->params[c->n_params].name = name;
    c->params[c->n_params].value = value;
    c->n_params++;
    return 0;
}

/* auth-params of one challenge; stops after a ',' that begins the next
 * challenge, leaving *pp there. */
static int parse_params(const char **pp, const char *start, rk_challenge *c,
                        rk_error **err)
{
    const char *p = *pp;
    for (;;) {
        const char *ns = p;
        while (is_tchar((unsigned char)*p))
            p++;
        char *name = lower_dup(ns, (size_t)(p - ns));
        while (is_ws(*p))
            p++;
        p++; /* '=', checked by looks_like_param() */
        while (is_ws(*p))
            p++;
        char *value = NULL;
        if (*p == '"') {
            if (parse_quoted(&p, start, &value, err) < 0) {
                free(name);
                return -1;
            }
        } else {
            const char *vs = p;
            while (is_tchar((unsigned char)*p))
                p++;
            value = rk_xstrndup(vs, (size_t)(p - vs));
        }
        if (add_param(c, name, value, start, p, err) < 0)
            return -1;
        while (is_ws(*p))
            p++;
        if (*p == 0)
            break;
        if (*p != ',')
            return bad(err, "expected ',' after a parameter",
                       (size_t)(p - start));
        while (*p == ',' || is_ws(*p))
            p++;
        if (*p == 0 || !looks_like_param(p))
            break;
    }
    *pp = p;
    return 0;
}

int rk_challenges_parse(const char *header, rk_challenges **ret, rk_error **err)
{
    const char *start = header ? header : "";
    if (strlen(start) > MAX_HEADER_LEN)
        return rk_error_set(err, 0,
                            "invalid WWW-Authenticate header: too long");
    const char *p = start;
    rk_challenges *cs = rk_xcalloc(1, sizeof(*cs));
    _cleanup_(rk_challenges_freep) rk_challenges *guard = cs;
    for (;;) {
        while (*p == ',' || is_ws(*p))
            p++;
        if (*p == 0)
            break;
        const char *ss = p;
        while (is_tchar((unsigned char)*p))
            p++;
        if (p == ss)
            return bad(err, "expected an auth scheme", (size_t)(p - start));
        if (cs->n >= MAX_CHALLENGES)
            return bad(err, "too many challenges", (size_t)(p - start));
        cs->v = rk_xrealloc(cs->v, (cs->n + 1) * sizeof(rk_challenge));
        rk_challenge *c = &cs->v[cs->n++];
        memset(c, 0, sizeof(*c));
        c->scheme = lower_dup(ss, (size_t)(p - ss));
        if (*p == 0 || *p == ',')
            continue;
        if (!is_ws(*p))
            return bad(err, "expected a space after the auth scheme",
                       (size_t)(p - start));
        while (is_ws(*p))
            p++;
        if (*p == 0 || *p == ',')
            continue;
        if (looks_like_param(p)) {
            if (parse_params(&p, start, c, err) < 0)
                return -1;
            continue;
        }
        const char *ts = p;
        while (is_t68((unsigned char)*p))
            p++;
        if (p == ts)
            return bad(err, "expected a parameter or token68",
                       (size_t)(p - start));
        while (*p == '=')
            p++;
        c->token68 = rk_xstrndup(ts, (size_t)(p - ts));
        while (is_ws(*p))
            p++;
        if (*p != 0 && *p != ',')
            return bad(err, "expected ',' after token68", (size_t)(p - start));
    }
    if (cs->n == 0)
        return rk_error_set(err, 0,
                            "invalid WWW-Authenticate header: no challenge");
    *ret = TAKE_PTR(guard);
    return 0;
}

const rk_challenge *rk_challenges_find(const rk_challenges *c,
                                       const char *scheme)
{
    for (size_t i = 0; c && i < c->n; i++)
        if (!strcasecmp(c->v[i].scheme, scheme))
            return &c->v[i];
    return NULL;
}

const char *rk_challenge_param(const rk_challenge *c, const char *name)
{
    for (size_t i = 0; c && i < c->n_params; i++)
        if (!strcasecmp(c->params[i].name, name))
            return c->params[i].value;
    return NULL;
}

char *rk_url_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *r = rk_xmalloc(n * 3 + 1), *o = r;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
            c == '~') {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = 0;
    return r;
}

static bool realm_valid(const char *realm)
{
    const char *h;
    if (!strncasecmp(realm, "https://", 8))
        h = realm + 8;
    else if (!strncasecmp(realm, "http://", 7))
        h = realm + 7;
    else
        return false;
    if (*h == 0 || *h == '/' || *h == '?')
        return false;
    for (const unsigned char *p = (const unsigned char *)realm; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || *p == '#')
            return false;
    return true;
}

int rk_bearer_token_url(const char *realm, const char *service,
                        const char *const *scopes, char **ret, rk_error **err)
{
    if (!realm || !*realm)
        return rk_error_set(err, 0, "bearer challenge without a realm");
    if (!realm_valid(realm))
        return rk_error_set(err, 0,
                            "bearer challenge realm is not an http(s) URL");
    size_t rl = strlen(realm);
    char *url;
    const char *sep;
    if (realm[rl - 1] == '?' || realm[rl - 1] == '&')
        sep = "";
    else
        sep = strchr(realm, '?') ? "&" : "?";
    url = rk_xstrdup(realm);
    if (service && *service) {
        _cleanup_free_ char *e = rk_url_escape(service);
        char *n = rk_xasprintf("%s%sservice=%s", url, sep, e);
        free(url);
        url = n;
        sep = "&";
    }
    for (size_t i = 0; scopes && scopes[i]; i++) {
        _cleanup_free_ char *e = rk_url_escape(scopes[i]);
        char *n = rk_xasprintf("%s%sscope=%s", url, sep, e);
        free(url);
        url = n;
        sep = "&";
    }
    *ret = url;
    return 0;
}
