/* Diagnostics on stderr. stdout is reserved for data.
 *
 * The level is the only process-wide setting, set once by the command line
 * (--quiet, --verbose, --debug). Library code may emit debug and verbose
 * lines; user-facing errors are printed by the command line layer only. */
#pragma once

#include <stdbool.h>

enum rk_log_level {
    RK_LOG_QUIET = 0,
    RK_LOG_NORMAL = 1,
    RK_LOG_VERBOSE = 2,
    RK_LOG_DEBUG = 3,
};

void rk_log_init(const char *progname, enum rk_log_level level);
enum rk_log_level rk_log_get_level(void);
const char *rk_log_progname(void);

void rk_log(enum rk_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "PROG: error: MSG" regardless of level. */
void rk_log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void rk_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define rk_debug(...) rk_log(RK_LOG_DEBUG, __VA_ARGS__)
#define rk_verbose(...) rk_log(RK_LOG_VERBOSE, __VA_ARGS__)
#define rk_info(...) rk_log(RK_LOG_NORMAL, __VA_ARGS__)
