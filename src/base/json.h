/* Small conveniences over jansson. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

static inline void rk_json_decrefp(json_t **j)
{
    if (*j) {
        json_decref(*j);
        *j = NULL;
    }
}
#define _cleanup_json_ __attribute__((cleanup(rk_json_decrefp)))

/* obj[key] as a string, or NULL when missing or not a string. */
const char *rk_json_str(const json_t *obj, const char *key);
/* obj[key] as an integer, or `def` when missing or not an integer. */
long long rk_json_int(const json_t *obj, const char *key, long long def);
/* A JSON array of strings as a NULL-terminated vector (NULL if not one). */
char **rk_json_strv(const json_t *arr);
json_t *rk_json_from_strv(char *const *v);
/* jansson's error text made printable and one line (it may quote the
 * input). Changes je in place. */
const char *rk_json_error_text(json_error_t *je);
/* Serialize with sorted keys, compact, no trailing newline. */
char *rk_json_dumps_compact(const json_t *j);
