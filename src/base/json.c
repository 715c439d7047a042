#include "base/json.h"

#include "base/error.h"
#include "base/strv.h"

const char *rk_json_str(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

long long rk_json_int(const json_t *obj, const char *key, long long def)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : def;
}

char **rk_json_strv(const json_t *arr)
{
    if (!json_is_array(arr))
        return NULL;
    char **v = rk_xcalloc(1, sizeof(char *));
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        if (!json_is_string(e)) {
            rk_strv_free(v);
            return NULL;
        }
        rk_strv_push_dup(&v, json_string_value(e));
    }
    return v;
}

json_t *rk_json_from_strv(char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; v && v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

char *rk_json_dumps_compact(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    if (!s)
        s = rk_xstrdup("null");
    return s;
}

const char *rk_json_error_text(json_error_t *je)
{
    for (char *p = je->text; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            *p = '?';
    return je->text;
}
