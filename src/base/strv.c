#include "base/strv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

size_t rk_strv_len(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

void rk_strv_push(char ***v, char *s)
{
    size_t n = rk_strv_len(*v);
    *v = rk_xrealloc(*v, (n + 2) * sizeof(char *));
    (*v)[n] = s;
    (*v)[n + 1] = NULL;
}

void rk_strv_push_dup(char ***v, const char *s) { rk_strv_push(v, rk_xstrdup(s)); }

char **rk_strv_dup(char *const *v)
{
    size_t n = rk_strv_len(v);
    char **r = rk_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        r[i] = rk_xstrdup(v[i]);
    return r;
}

void rk_strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

bool rk_strv_contains(char *const *v, const char *s)
{
    for (size_t i = 0; v && v[i]; i++)
        if (!strcmp(v[i], s))
            return true;
    return false;
}

char *rk_strv_join(char *const *v, const char *sep)
{
    size_t n = rk_strv_len(v), total = 1, sl = strlen(sep);
    for (size_t i = 0; i < n; i++)
        total += strlen(v[i]) + sl;
    char *r = rk_xmalloc(total), *p = r;
    for (size_t i = 0; i < n; i++) {
        if (i) {
            memcpy(p, sep, sl);
            p += sl;
        }
        size_t l = strlen(v[i]);
        memcpy(p, v[i], l);
        p += l;
    }
    *p = 0;
    return r;
}

bool rk_startswith(const char *s, const char *prefix)
{
    return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

bool rk_endswith(const char *s, const char *suffix)
{
    if (!s)
        return false;
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

bool rk_streq_ptr(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

bool rk_parse_uint64(const char *s, unsigned long long *ret)
{
    if (!s || !*s)
        return false;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *ret = v;
    return true;
}

char *rk_quote(const char *s)
{
    size_t n = strlen(s);
    char *r = rk_xmalloc((n > 100 ? 100 : n) * 4 + 8), *p = r;
    for (size_t i = 0; i < n && i < 100; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
            p += sprintf(p, "\\x%02x", c);
        else
            *p++ = (char)c;
    }
    if (n > 100)
        p += sprintf(p, "...");
    *p = 0;
    return r;
}

int rk_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}
