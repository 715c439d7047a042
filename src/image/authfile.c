#include "image/authfile.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/strv.h"

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

char *rk_base64_decode(const char *s, size_t len, size_t *ret_len)
{
    /* Padding, when present, must complete the last quantum. */
    size_t n = len;
    if (n % 4 == 0 && n >= 2 && s[n - 1] == '=') {
        n--;
        if (s[n - 1] == '=')
            n--;
    }
    if (n % 4 == 1)
        return NULL;
    char *out = rk_xmalloc(n / 4 * 3 + 3 + 1);
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    /* The unused low bits of the last character must be zero, so that
     * each byte string has one encoding. */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
        free(out);
        return NULL;
    }
    out[o] = 0;
    if (ret_len)
        *ret_len = o;
    return out;
}



static bool is_docker_hub(const char *h, size_t n)
{
    static const char *const names[] = {"docker.io", "index.docker.io",
                                        "registry-1.docker.io"};
    for (size_t i = 0; i < RK_ELEMENTSOF(names); i++)
        if (strlen(names[i]) == n && !strncasecmp(h, names[i], n))
            return true;
    return false;
}

/* "https://index.docker.io/v1/" -> "docker.io", "Quay.io/ns/" -> "quay.io/ns".
 * A key with a URL scheme names a registry, so its path is dropped (Docker
 * writes "https://index.docker.io/v1/"). The host is lowercased. */
static char *normalize_key(const char *key)
{
    const char *k = key;
    bool url = false;
    if (!strncasecmp(k, "https://", 8)) {
        k += 8;
        url = true;
    } else if (!strncasecmp(k, "http://", 7)) {
        k += 7;
        url = true;
    }
    size_t n = url ? strcspn(k, "/") : strlen(k);
    while (n > 0 && k[n - 1] == '/')
        n--;
    size_t hn = strcspn(k, "/");
    if (hn > n)
        hn = n;
    char *r;
    if (is_docker_hub(k, hn))
        r = rk_xasprintf("docker.io%.*s", (int)(n - hn), k + hn);
    else
        r = rk_xstrndup(k, n);
    for (size_t i = 0; r[i] && r[i] != '/'; i++)
        if (r[i] >= 'A' && r[i] <= 'Z')
            r[i] = (char)(r[i] - 'A' + 'a');
    return r;
}

/* Fill user/pass from one entry. 0: got them, 1: the entry holds no
 * credentials, -1: broken. */
static int entry_credentials(const json_t *entry, const char *origin,
                             const char *key, char **ret_user, char **ret_pass,
                             rk_error **err)
{
    _cleanup_free_ char *qk = rk_quote(key);
    if (!json_is_object(entry))
        return rk_error_set(err, 0, "%s: entry \"%s\" is not an object", origin,
                            qk);
    json_t *auth = json_object_get(entry, "auth");
    if (auth && !json_is_string(auth) && !json_is_null(auth))
        return rk_error_set(err, 0, "%s: \"auth\" of \"%s\" is not a string",
                            origin, qk);
    const char *a = auth ? json_string_value(auth) : NULL;
    if (a && *a) {
        size_t n = 0;
        _cleanup_free_ char *dec = rk_base64_decode(a, strlen(a), &n);
        if (!dec)
            return rk_error_set(err, 0,
                                "%s: \"auth\" of \"%s\" is not valid base64",
                                origin, qk);
        char *colon = strchr(dec, ':');
        if (strlen(dec) != n || !colon)
            return rk_error_set(err, 0,
                                "%s: \"auth\" of \"%s\" is not base64 of "
                                "user:password",
                                origin, qk);
        *ret_user = rk_xstrndup(dec, (size_t)(colon - dec));
        *ret_pass = rk_xstrdup(colon + 1);
        return 0;
    }
    json_t *u = json_object_get(entry, "username");
    json_t *p = json_object_get(entry, "password");
    if ((u && !json_is_string(u)) || (p && !json_is_string(p)))
        return rk_error_set(err, 0,
                            "%s: \"username\"/\"password\" of \"%s\" must be "
                            "strings",
                            origin, qk);
    if (u && p && *json_string_value(u)) {
        *ret_user = rk_xstrdup(json_string_value(u));
        *ret_pass = rk_xstrdup(json_string_value(p));
        return 0;
    }
    return 1;
}

int rk_auth_parse_buffer(const char *data, size_t len, const char *origin,
                         const char *host, const char *repo_path,
                         char **ret_user, char **ret_pass, rk_error **err)
{
    *ret_user = *ret_pass = NULL;
    json_error_t je;
    _cleanup_json_ json_t *root =
        json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return rk_error_set(err, 0, "%s: invalid JSON at line %d: %s", origin,
                            je.line, rk_json_error_text(&je));
    if (!json_is_object(root))
        return rk_error_set(err, 0, "%s: not a JSON object", origin);
    json_t *auths = json_object_get(root, "auths");
    if (!auths || json_is_null(auths))
        return 1;
    if (!json_is_object(auths))
        return rk_error_set(err, 0, "%s: \"auths\" is not an object", origin);

    _cleanup_free_ char *h = normalize_key(host);
    _cleanup_free_ char *want = repo_path && *repo_path
                                    ? rk_xasprintf("%s/%s", h, repo_path)
                                    : rk_xstrdup(h);
    size_t hl = strlen(h), wl = strlen(want);

    /* Score every key; the longest match wins, and between equal matches a
     * key written exactly ("quay.io") wins over an alias or URL form. */
    const char *best = NULL;
    json_t *best_entry = NULL;
    size_t best_score = 0;
    const char *key;
    json_t *entry;
    json_object_foreach(auths, key, entry)
    {
        _cleanup_free_ char *nk = normalize_key(key);
        size_t nl = strlen(nk);
        if (nl < hl || nl > wl || strncmp(want, nk, nl) != 0 ||
            (want[nl] != 0 && want[nl] != '/'))
            continue;
        size_t score = nl * 2 + (strcmp(nk, key) == 0);
        if (score <= best_score)
            continue;
        /* Only entries that hold credentials compete. */
        _cleanup_free_ char *u = NULL, *p = NULL;
        int r = entry_credentials(entry, origin, key, &u, &p, err);
        if (r < 0)
            return -1;
        if (r > 0)
            continue;
        best = key;
        best_entry = entry;
        best_score = score;
    }
    if (!best)
        return 1;
    rk_debug("credentials for %s from %s (entry %s)", want, origin, best);
    return entry_credentials(best_entry, origin, best, ret_user, ret_pass, err);
}

int rk_auth_lookup_in(const char *const *files, const char *host,
                      const char *repo_path, char **ret_user, char **ret_pass,
                      rk_error **err)
{
    *ret_user = *ret_pass = NULL;
    for (size_t i = 0; files && files[i]; i++) {
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        rk_error *e = NULL;
        if (rk_read_file_at(AT_FDCWD, files[i], 16u << 20, &data, &len, &e) <
            0) {
            int en = e->errnum;
            if (en == ENOENT || en == ENOTDIR) {
                rk_error_free(e);
                continue;
            }
            if (err && !*err)
                *err = e;
            else
                rk_error_free(e);
            return -1;
        }
        int r = rk_auth_parse_buffer(data, len, files[i], host, repo_path,
                                     ret_user, ret_pass, err);
        if (r <= 0)
            return r;
    }
    return 1;
}

char **rk_auth_default_files(void)
{
    char **v = rk_xcalloc(1, sizeof(char *));
    const char *e = getenv("REGISTRY_AUTH_FILE");
    if (e && *e)
        rk_strv_push_dup(&v, e);
    e = getenv("XDG_RUNTIME_DIR");
    if (e && *e)
        rk_strv_push(&v, rk_xasprintf("%s/containers/auth.json", e));
    const char *home = getenv("HOME");
    if (!home || !*home) {
        struct passwd *pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : NULL;
    }
    if (home && *home) {
        rk_strv_push(&v, rk_xasprintf("%s/.config/containers/auth.json", home));
        rk_strv_push(&v, rk_xasprintf("%s/.docker/config.json", home));
    }
    return v;
}

int rk_auth_lookup(const char *host, const char *repo_path, char **ret_user,
                   char **ret_pass, rk_error **err)
{
    _cleanup_strv_ char **files = rk_auth_default_files();
    return rk_auth_lookup_in((const char *const *)files, host, repo_path,
                             ret_user, ret_pass, err);
}
