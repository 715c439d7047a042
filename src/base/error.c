#include "base/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void oom(void)
{
    static const char m[] = "racker: out of memory\n";
    if (write(2, m, sizeof(m) - 1) < 0) {
    }
    abort();
}

void *rk_xmalloc(unsigned long n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom();
    return p;
}

void *rk_xcalloc(unsigned long n, unsigned long size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom();
    return p;
}

void *rk_xrealloc(void *p, unsigned long n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        oom();
    return p;
}

char *rk_xstrdup(const char *s)
{
    char *r = strdup(s ? s : "");
    if (!r)
        oom();
    return r;
}

char *rk_xstrndup(const char *s, unsigned long n)
{
    char *r = strndup(s, n);
    if (!r)
        oom();
    return r;
}

char *rk_xvasprintf(const char *fmt, va_list ap)
{
    char *r;
    if (vasprintf(&r, fmt, ap) < 0)
        oom();
    return r;
}

char *rk_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *r = rk_xvasprintf(fmt, ap);
    va_end(ap);
    return r;
}

int rk_error_setv(rk_error **err, int errnum, const char *fmt, va_list ap)
{
    if (!err)
        return -1;
    char *m = rk_xvasprintf(fmt, ap);
    if (errnum) {
        char *full = rk_xasprintf("%s: %s", m, strerror(errnum));
        free(m);
        m = full;
    }
    if (*err) {
        /* An error is already pending: keep the first root cause, since the
         * later one is usually a consequence of it. */
        free(m);
        return -1;
    }
    rk_error *e = rk_xcalloc(1, sizeof(*e));
    e->errnum = errnum;
    e->msg = m;
    *err = e;
    return -1;
}

int rk_error_set(rk_error **err, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rk_error_setv(err, errnum, fmt, ap);
    va_end(ap);
    return -1;
}

int rk_error_set_status(rk_error **err, int status, int errnum,
                        const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rk_error_setv(err, errnum, fmt, ap);
    va_end(ap);
    if (err && *err && !(*err)->status)
        (*err)->status = status;
    return -1;
}

int rk_error_wrap(rk_error **err, const char *fmt, ...)
{
    if (!err || !*err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    char *ctx = rk_xvasprintf(fmt, ap);
    va_end(ap);
    char *m = rk_xasprintf("%s: %s", ctx, (*err)->msg);
    free(ctx);
    free((*err)->msg);
    (*err)->msg = m;
    return -1;
}

void rk_error_free(rk_error *err)
{
    if (!err)
        return;
    free(err->msg);
    free(err);
}
