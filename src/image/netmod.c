/* The core's entry points into the network half (racker-pull.so):
 * rk_pull() and rk_layer_pack() load it on first use.
 *
 * Where the module is looked for, in order: $RACKER_MODULE_DIR; the
 * directory of the running executable (a build tree: build/racker next to
 * build/racker-pull.so); the configured install directory. */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/strv.h"
#include "image/pack.h"
#include "image/pull.h"

void rk_pull_result_clear(rk_pull_result *r)
{
    free(r->image_id);
    free(r->ref_name);
    free(r->repo_digest);
    memset(r, 0, sizeof(*r));
}

typedef int (*pull_fn)(rk_store *, const char *, const rk_pull_opts *, rk_pull_result *,
                       rk_error **);
typedef int (*pack_fn)(const char *, int, char *, char *, int64_t *, rk_error **);

/* Defined when the network half is linked in (tests, postroj). */
extern int rk_pull_direct(rk_store *s, const char *ref, const rk_pull_opts *o,
                          rk_pull_result *ret, rk_error **err) __attribute__((weak));
extern int rk_layer_pack_direct(const char *dir, int out_fd, char blob_digest[RK_DIGEST_LEN + 1],
                                char diff_id[RK_DIGEST_LEN + 1], int64_t *blob_size,
                                rk_error **err) __attribute__((weak));

static void *module_handle(rk_error **err)
{
    static void *handle;
    if (handle)
        return handle;
    _cleanup_strv_ char **dirs = NULL;
    const char *env = getenv("RACKER_MODULE_DIR");
    if (env && *env)
        rk_strv_push_dup(&dirs, env);
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = 0;
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = 0;
            rk_strv_push_dup(&dirs, self);
        }
    }
    rk_strv_push_dup(&dirs, RACKER_MODULE_DIR);
    _cleanup_free_ char *errors = NULL;
    for (size_t i = 0; dirs[i]; i++) {
        _cleanup_free_ char *path = rk_xasprintf("%s/%s", dirs[i], RK_PULL_MODULE);
        if (access(path, R_OK) < 0)
            continue;
        void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            const char *e = dlerror();
            free(errors);
            errors = rk_xstrdup(e ? e : "dlopen failed");
            continue;
        }
        rk_debug("loaded %s", path);
        handle = h;
        return h;
    }
    rk_error_set_status(err, 125, 0, "cannot load %s (looked in $RACKER_MODULE_DIR, next to the executable and in %s)%s%s",
                        RK_PULL_MODULE, RACKER_MODULE_DIR, errors ? ": " : "",
                        errors ? errors : "");
    return NULL;
}

static void *module_symbol(const char *name, rk_error **err)
{
    void *h = module_handle(err);
    if (!h)
        return NULL;
    void *f = dlsym(h, name);
    if (!f)
        rk_error_set_status(err, 125, 0, "%s has no %s (a stale build?)", RK_PULL_MODULE, name);
    return f;
}

int rk_pull(rk_store *s, const char *ref, const rk_pull_opts *o, rk_pull_result *ret,
            rk_error **err)
{
    static pull_fn fn;
    if (!fn)
        fn = rk_pull_direct ? rk_pull_direct : (pull_fn)module_symbol("rk_pull_direct", err);
    if (!fn)
        return -1;
    return fn(s, ref, o, ret, err);
}

int rk_layer_pack(const char *dir, int out_fd, char blob_digest[RK_DIGEST_LEN + 1],
                  char diff_id[RK_DIGEST_LEN + 1], int64_t *blob_size, rk_error **err)
{
    static pack_fn fn;
    if (!fn)
        fn = rk_layer_pack_direct ? rk_layer_pack_direct
                                  : (pack_fn)module_symbol("rk_layer_pack_direct", err);
    if (!fn)
        return -1;
    return fn(dir, out_fd, blob_digest, diff_id, blob_size, err);
}
