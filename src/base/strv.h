/* NULL-terminated string vectors. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef char **rk_strv;

size_t rk_strv_len(char *const *v);
/* Appends s (ownership taken) to *v. */
void rk_strv_push(char ***v, char *s);
void rk_strv_push_dup(char ***v, const char *s);
char **rk_strv_dup(char *const *v);
void rk_strv_free(char **v);
bool rk_strv_contains(char *const *v, const char *s);
/* Joins with sep; an empty vector gives "". */
char *rk_strv_join(char *const *v, const char *sep);
static inline void rk_strv_freep(char ***v)
{
    rk_strv_free(*v);
    *v = NULL;
}
#define _cleanup_strv_ __attribute__((cleanup(rk_strv_freep)))

/* Small string utilities. */
bool rk_startswith(const char *s, const char *prefix);
bool rk_endswith(const char *s, const char *suffix);
bool rk_streq_ptr(const char *a, const char *b);
/* s made printable for an error message: at most 100 bytes; control and
 * non-ASCII bytes, quotes and backslashes as \xNN; "..." when cut. */
char *rk_quote(const char *s);
/* The value of a hex digit, or -1. */
int rk_hexval(char c);
/* Parse a non-negative decimal integer; false on junk or overflow. */
bool rk_parse_uint64(const char *s, unsigned long long *ret);
