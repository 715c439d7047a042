/* Error objects that carry a chain of context.
 *
 * Every function that can fail takes `rk_error **err` as its last parameter
 * and returns a negative value on failure, after filling *err. Callers that
 * add context call rk_error_wrap(), which prefixes the message:
 *   "pulling debian:12: fetching layer sha256:ab..: connection reset"
 * The error is printed once, by the command line layer. Library code never
 * prints errors itself. `err` may be NULL when the caller does not care. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>

typedef struct rk_error {
    int errnum; /* errno of the root cause, 0 if none */
    int status; /* exit status the failure maps to, 0 if the caller decides */
    char *msg;  /* the message, context first */
} rk_error;

/* Fill *err with a message; appends strerror(errnum) when errnum != 0.
 * Returns -1 so callers can `return rk_error_set(...)`. */
int rk_error_set(rk_error **err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int rk_error_setv(rk_error **err, int errnum, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
/* Same as rk_error_set(), and records the exit status the failure maps to. */
int rk_error_set_status(rk_error **err, int status, int errnum,
                        const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Prefix the existing message with "context: ". Returns -1. */
int rk_error_wrap(rk_error **err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void rk_error_free(rk_error *err);
static inline void rk_error_freep(rk_error **err)
{
    if (*err) {
        rk_error_free(*err);
        *err = 0;
    }
}
#define _cleanup_error_ __attribute__((cleanup(rk_error_freep)))

/* Allocation helpers that abort on out-of-memory: a container tool cannot
 * do anything useful once malloc fails, and checking every small string
 * allocation would bury the real error paths. */
void *rk_xmalloc(unsigned long n);
void *rk_xcalloc(unsigned long n, unsigned long size);
void *rk_xrealloc(void *p, unsigned long n);
char *rk_xstrdup(const char *s);
char *rk_xstrndup(const char *s, unsigned long n);
char *rk_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *rk_xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
