/* rk_pull() for the core: loads the network half on demand.
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

/* Defined when the network half is linked in. */
extern int rk_pull_direct(rk_store *s, const char *ref, const rk_pull_opts *o,
                          rk_pull_result *ret, rk_error **err) __attribute__((weak));

static pull_fn load_module(rk_error **err)
{
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
        pull_fn f = (pull_fn)dlsym(h, "rk_pull_direct");
        if (f) {
            rk_debug("loaded %s", path);
            return f;
        }
        dlclose(h);
    }
    rk_error_set_status(err, 125, 0, "cannot load %s (looked in $RACKER_MODULE_DIR, next to the executable and in %s)%s%s",
                        RK_PULL_MODULE, RACKER_MODULE_DIR, errors ? ": " : "",
                        errors ? errors : "");
    return NULL;
}

int rk_pull(rk_store *s, const char *ref, const rk_pull_opts *o, rk_pull_result *ret,
            rk_error **err)
{
    static pull_fn fn;
    if (!fn)
        fn = rk_pull_direct ? rk_pull_direct : load_module(err);
    if (!fn)
        return -1;
    return fn(s, ref, o, ret, err);
}
