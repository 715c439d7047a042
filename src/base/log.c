#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static const char *log_progname = "racker";
static enum rk_log_level log_level = RK_LOG_NORMAL;

void rk_log_init(const char *progname, enum rk_log_level level)
{
    if (progname)
        log_progname = progname;
    log_level = level;
}

enum rk_log_level rk_log_get_level(void) { return log_level; }
const char *rk_log_progname(void) { return log_progname; }

__attribute__((format(printf, 2, 0))) static void emit(const char *tag, const char *fmt, va_list ap)
{
    /* One fprintf call per line so concurrent writers do not interleave. */
    char *line = NULL;
    if (vasprintf(&line, fmt, ap) < 0)
        return;
    fprintf(stderr, "%s: %s%s\n", log_progname, tag, line);
    free(line);
}

void rk_log(enum rk_log_level level, const char *fmt, ...)
{
    if (level > log_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    emit(level == RK_LOG_DEBUG ? "debug: " : "", fmt, ap);
    va_end(ap);
}

void rk_log_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit("error: ", fmt, ap);
    va_end(ap);
}

void rk_log_warn(const char *fmt, ...)
{
    if (log_level < RK_LOG_NORMAL)
        return;
    va_list ap;
    va_start(ap, fmt);
    emit("warning: ", fmt, ap);
    va_end(ap);
}
