/* Provisioning: systemd (and curl, wget) installed into an OS image that
 * lacks it, with the image's own package manager, and the result stored
 * as a derived image.
 *
 * rk_provision, step by step:
 *   1. inspect the image: os-release, family, package manager, recipe;
 *   2. lock <store>/locks/provision-<base hex> and look again (another
 *      racker may have provisioned it while we waited);
 *   3. run the recipe in a kept, non-booted container of the base image
 *      (host network, the host's resolv.conf), its output read line by
 *      line by a helper thread;
 *   4. commit the container's writable layer (on the store's file system,
 *      so it is moved, not copied) as the derived image;
 *   5. remove the container, whatever happened. */
#include "runtime/provision.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/strv.h"
#include "image/layers.h"
#include "image/reference.h"
#include "runtime/caps.h"
#include "runtime/container.h"
#include "runtime/spec.h"
#include "runtime/state.h"

#define OS_RELEASE_MAX (64 * 1024)
#define TAIL_LINES 20
#define LINE_MAX_LEN 400

/* ------------------------------------------------------------------ */
/* Inspection                                                          */
/* ------------------------------------------------------------------ */

void rk_provision_plan_clear(rk_provision_plan *p)
{
    rk_os_release_clear(&p->os);
    rk_recipe_clear(&p->recipe);
    free(p->reason);
    memset(p, 0, sizeof(*p));
}

/* os-release(5): /etc/os-release wins; /usr/lib/os-release only when it
 * is missing. Returns 0 with *ret set, or NULL when neither exists; 1
 * with *ret_reason when the file is there but unreadable as one (a
 * directory, a symlink loop, too large); -1 for an I/O error. */
static int read_os_release(const rk_image *img, char **ret, size_t *ret_len, char **ret_reason,
                           rk_error **err)
{
    static const char *const paths[] = {"/etc/os-release", "/usr/lib/os-release"};
    *ret = NULL;
    for (size_t i = 0; i < RK_ELEMENTSOF(paths); i++) {
        rk_error *e = NULL;
        if (rk_layers_read_file(img->layer_dirs, img->n_layers, paths[i], OS_RELEASE_MAX, ret,
                                ret_len, &e) == 0)
            return 0;
        int en = e ? e->errnum : EIO;
        if (en == ENOENT || en == ENOTDIR) {
            rk_error_free(e);
            continue;
        }
        if (en == EINVAL || en == ELOOP || en == EISDIR || en == EFBIG || en == E2BIG) {
            *ret_reason = rk_xasprintf("the image's %s cannot be read: %s", paths[i],
                                       e ? e->msg : "?");
            rk_error_free(e);
            return 1;
        }
        if (err)
            *err = e;
        else
            rk_error_free(e);
        return -1;
    }
    return 0;
}

int rk_provision_inspect(const rk_image *img, rk_provision_plan *ret, rk_error **err)
{
    memset(ret, 0, sizeof(*ret));
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    int r = img->n_layers ? read_os_release(img, &text, &len, &ret->reason, err) : 0;
    if (r < 0)
        return rk_error_wrap(err, "reading os-release of image %s", img->id);
    if (r > 0) {
        ret->kind = RK_PROVISION_IMPOSSIBLE;
        return 0;
    }
    if (!text) {
        ret->kind = RK_PROVISION_NOT_OS;
        ret->reason = rk_xstrdup("the image has no /etc/os-release: it is no operating system image");
        return 0;
    }
    rk_error *e = NULL;
    if (rk_os_release_parse(text, len, &ret->os, &e) < 0) {
        ret->kind = RK_PROVISION_IMPOSSIBLE;
        ret->reason = rk_xasprintf("the image's os-release is broken: %s", e->msg);
        rk_error_free(e);
        return 0;
    }
    unsigned tools = 0;
    const rk_pkg_tool *cands = rk_os_family_tools(rk_os_family_detect(&ret->os));
    for (size_t i = 0; cands[i] != RK_PKG_NONE; i++)
        if (rk_layers_is_executable(img->layer_dirs, img->n_layers, rk_pkg_tool_path(cands[i])))
            tools |= RK_PKG_BIT(cands[i]);
    bool unknown = false;
    if (rk_recipe_for(&ret->os, tools, &ret->recipe, &unknown, &e) < 0) {
        ret->kind = unknown ? RK_PROVISION_UNKNOWN_OS : RK_PROVISION_IMPOSSIBLE;
        ret->reason = rk_xstrdup(e->msg);
        rk_error_free(e);
        return 0;
    }
    if (!rk_layers_is_executable(img->layer_dirs, img->n_layers, "/bin/sh")) {
        rk_recipe_clear(&ret->recipe);
        ret->kind = RK_PROVISION_IMPOSSIBLE;
        ret->reason = rk_xasprintf("%s has no /bin/sh to run its package manager with",
                                   ret->os.pretty_name);
        return 0;
    }
    ret->kind = RK_PROVISION_READY;
    return 0;
}

int rk_provision_find(rk_store *s, const rk_image *base, rk_image **ret, rk_error **err)
{
    *ret = NULL;
    rk_provision_plan plan;
    if (rk_provision_inspect(base, &plan, err) < 0)
        return -1;
    int r = 0;
    if (plan.kind == RK_PROVISION_READY)
        r = rk_store_find_derived(s, base->id, plan.recipe.key, ret, err);
    rk_provision_plan_clear(&plan);
    return r;
}

/* ------------------------------------------------------------------ */
/* The package manager's output                                        */
/* ------------------------------------------------------------------ */

/* Lines from the container's stdout and stderr (one pipe): each goes to
 * on_line, the last TAIL_LINES stay for the error message. Progress
 * output rewrites its line with \r: every \r ends a line too. */
typedef struct out_reader {
    int fd;
    void (*on_line)(void *ctx, const char *line);
    void *ctx;
    char *tail[TAIL_LINES];
    size_t n_seen;
    char line[LINE_MAX_LEN + 1];
    size_t len;
} out_reader;

static void reader_emit(out_reader *r)
{
    while (r->len && (r->line[r->len - 1] == ' ' || r->line[r->len - 1] == '\t'))
        r->len--;
    if (!r->len)
        return;
    r->line[r->len] = '\0';
    r->len = 0;
    /* Terminal control bytes would reach the user's terminal through the
     * error message: make them visible instead. */
    for (char *p = r->line; *p; p++)
        if ((unsigned char)*p < 0x20 ? *p != '\t' : *p == 0x7f)
            *p = '?';
    size_t slot = r->n_seen++ % TAIL_LINES;
    free(r->tail[slot]);
    r->tail[slot] = rk_xstrdup(r->line);
    if (r->on_line)
        r->on_line(r->ctx, r->line);
}

static void *reader_main(void *arg)
{
    out_reader *r = arg;
    char buf[8192];
    for (;;) {
        ssize_t n = read(r->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++) {
            char c = buf[i];
            if (c == '\n' || c == '\r')
                reader_emit(r);
            else if (r->len < LINE_MAX_LEN)
                r->line[r->len++] = c; /* the rest of a very long line is dropped */
        }
    }
    reader_emit(r);
    return NULL;
}

/* The last lines, each on its own line and indented. */
static char *reader_tail(const out_reader *r)
{
    size_t n = r->n_seen < TAIL_LINES ? r->n_seen : TAIL_LINES;
    if (!n)
        return rk_xstrdup("  (no output)");
    _cleanup_strv_ char **v = NULL;
    for (size_t i = r->n_seen - n; i < r->n_seen; i++)
        rk_strv_push(&v, rk_xasprintf("  %s", r->tail[i % TAIL_LINES]));
    return rk_strv_join(v, "\n");
}

static void reader_clear(out_reader *r)
{
    for (size_t i = 0; i < TAIL_LINES; i++)
        free(r->tail[i]);
}

/* ------------------------------------------------------------------ */
/* Provisioning                                                        */
/* ------------------------------------------------------------------ */

/* A path component for a registry host: "127.0.0.1:5000" -> "127.0.0.1-5000". */
static char *host_component(const char *domain)
{
    size_t n = strlen(domain);
    char *out = rk_xmalloc(n + 1), *o = out;
    for (const char *p = domain; *p; p++) {
        char c = *p;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        bool keep = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '.' && o > out && o[-1] != '.' && o[-1] != '-');
        if (keep)
            *o++ = c;
        else if (o > out && o[-1] != '-' && o[-1] != '.')
            *o++ = '-';
    }
    while (o > out && (o[-1] == '-' || o[-1] == '.'))
        o--;
    *o = '\0';
    return out;
}

char *rk_provision_derived_name(const rk_image *base)
{
    _cleanup_free_ char *hex12 = rk_xstrndup(rk_digest_hex(base->id), 12);
    _cleanup_ref_ rk_ref *ref = NULL;
    if (base->refs && base->refs[0] && rk_ref_parse(base->refs[0], &ref, NULL) == 0) {
        const char *path = ref->path;
        _cleanup_free_ char *host = NULL;
        if (!strcmp(ref->domain, "docker.io")) {
            if (rk_startswith(path, "library/"))
                path += strlen("library/");
        } else {
            host = host_component(ref->domain);
        }
        _cleanup_free_ char *name =
            rk_xasprintf(RK_PROVISION_NAME_PREFIX "%s%s%s:%s", host && *host ? host : "",
                         host && *host ? "/" : "", path, ref->tag ? ref->tag : hex12);
        _cleanup_ref_ rk_ref *check = NULL;
        if (rk_ref_parse(name, &check, NULL) == 0)
            return rk_ref_string(check);
    }
    return rk_xasprintf(RK_PROVISION_NAME_PREFIX "image:%s", hex12);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Remove a container, quietly; a missing one is fine. */
static void remove_container(const rk_provision_opts *o, const char *name_or_id)
{
    rk_error *e = NULL;
    if (rk_container_remove(o->containers_dir, o->rundir, name_or_id, true, &e) < 0) {
        rk_debug("removing provisioning container %s: %s", name_or_id, e->msg);
        rk_error_free(e);
    }
}

static int build_spec(const rk_image *base, const rk_recipe *recipe, rk_spec *spec,
                      rk_error **err)
{
    uint64_t caps, held;
    if (rk_caps_compute(NULL, NULL, false, &caps, err) < 0 || rk_caps_held(&held, err) < 0)
        return -1;
    spec->argv = NULL;
    rk_strv_push_dup(&spec->argv, "/bin/sh");
    rk_strv_push_dup(&spec->argv, "-ec");
    rk_strv_push_dup(&spec->argv, recipe->script);
    rk_strv_free(spec->env);
    spec->env = rk_spec_build_env(base->config ? base->config->env : NULL, NULL);
    /* Root, whatever user the image names: packages are installed by root. */
    free(spec->user);
    spec->user = NULL;
    /* A reaper as PID 1, so that a forwarded SIGINT (Ctrl-C on racker)
     * ends the installation: a namespace's PID 1 ignores signals it has no
     * handler for, and sh installs none. */
    spec->init = true;
    spec->network = RK_NET_HOST;
    spec->caps = caps & held;
    spec->boot = RK_BOOT_NO;
    spec->cgroupfs = RK_CGROUPFS_NONE;
    /* The host's resolver configuration, as the original Racker bound it
     * in (the runtime's generated copy would do too; read-only makes sure
     * no package's maintainer script rewrites it into the layer). */
    rk_mount_spec m = {
        .kind = RK_MOUNT_BIND,
        .source = (char *)"/etc/resolv.conf",
        .target = (char *)"/etc/resolv.conf",
        .readonly = true,
    };
    if (access("/etc/resolv.conf", R_OK) == 0)
        rk_spec_add_mount(spec, &m);
    /* Scratch files of the installation, and what maintainer scripts put
     * in /run, stay out of the derived layer (a booted container has
     * tmpfs there too). */
    static const char *const scratch[] = {"/run", "/tmp"};
    for (size_t i = 0; i < RK_ELEMENTSOF(scratch); i++) {
        rk_mount_spec t = {.kind = RK_MOUNT_TMPFS, .target = (char *)scratch[i]};
        rk_spec_add_mount(spec, &t);
    }
    return 0;
}

/* Steps 3-5, with the provisioning lock held. */
static int provision_locked(rk_store *s, const rk_image *base, const rk_provision_plan *plan,
                            const rk_provision_opts *o, rk_image **ret, rk_error **err)
{
    const rk_recipe *recipe = &plan->recipe;
    const char *tool = rk_pkg_tool_name(recipe->tool);
    _cleanup_free_ char *hex12 = rk_xstrndup(rk_digest_hex(base->id), 12);
    _cleanup_free_ char *cname = rk_xasprintf("racker-provision-%s", hex12);
    _cleanup_free_ char *ref_name = o->name ? rk_xstrdup(o->name) : rk_provision_derived_name(base);

    /* A container of ours that a killed racker left behind. */
    remove_container(o, cname);

    rk_spec spec;
    rk_spec_init(&spec);
    _cleanup_strv_ char **layers = rk_strv_dup(base->layer_dirs);
    if (!layers || !layers[0])
        rk_strv_push_dup(&layers, rk_store_empty_dir(s));
    int rc = -1;
    int pipefd[2] = {-1, -1};
    out_reader rd;
    memset(&rd, 0, sizeof(rd));
    rd.on_line = o->on_line;
    rd.ctx = o->ctx;
    bool thread_started = false;
    pthread_t th;
    rk_run_result res;
    memset(&res, 0, sizeof(res));
    bool ran = false;
    _cleanup_free_ char *upper = NULL, *created_by = NULL, *history = NULL;

    if (build_spec(base, recipe, &spec, err) < 0)
        goto out;
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        rk_error_set(err, errno, "creating a pipe");
        goto out;
    }
    rd.fd = pipefd[0];
    /* The thread blocks every signal: the runtime reads the forwarded
     * ones (SIGINT...) from a signalfd in this thread, and a signal taken
     * by the helper would kill racker instead of reaching the container. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int te = pthread_create(&th, NULL, reader_main, &rd);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (te != 0) {
        rk_error_set(err, te, "starting the output reader");
        goto out;
    }
    thread_started = true;

    /* 3. The recipe, in a kept container: its writable layer is
     *    <containers>/<id>/upper, on the store's file system. The store's
     *    shared lock keeps prune away until the record names the image. */
    int hold = rk_store_lock_shared(s, err);
    if (hold < 0)
        goto out;
    rk_run_options ro = {
        .spec = &spec,
        .name = cname,
        .image_id = base->id,
        .image_ref = base->refs && base->refs[0] ? base->refs[0] : base->id,
        .layers = layers,
        .auto_remove = false,
        .detach = false,
        .containers_dir = o->containers_dir,
        .rundir = o->rundir,
        .hold_fd = hold,
        .capture_output = true,
        .output_fd = pipefd[1],
    };
    double t0 = now_s();
    rk_verbose("provisioning %s with %s in container %s", ro.image_ref, tool, cname);
    int r = rk_container_run(&ro, &res, err);
    ran = true;
    close(pipefd[1]);
    pipefd[1] = -1;
    pthread_join(th, NULL);
    thread_started = false;
    if (r < 0) {
        rk_error_wrap(err, "starting the provisioning container");
        goto out;
    }
    rk_verbose("provisioning ran %.1f s, exit status %d", now_s() - t0, res.exit_code);
    if (res.exit_code != 0) {
        _cleanup_free_ char *tail = reader_tail(&rd);
        /* The reaper passes a signal death on as 128+N. */
        int sig = res.signal ? res.signal
                  : res.exit_code > 128 && res.exit_code < 128 + 65 ? res.exit_code - 128 : 0;
        if (sig)
            rk_error_set_status(err, 125, 0,
                                "installing systemd with %s was stopped by signal %d (%s); "
                                "its last lines:\n%s",
                                tool, sig, strsignal(sig), tail);
        else
            rk_error_set_status(err, 125, 0,
                                "installing systemd with %s failed (exit status %d); "
                                "its last lines:\n%s",
                                tool, res.exit_code, tail);
        goto out;
    }

    /* 4. The writable layer becomes the derived image's top layer. */
    upper = rk_xasprintf("%s/%s/upper", o->containers_dir, res.id);
    created_by = rk_strv_join(recipe->commands, "; ");
    history = rk_xasprintf("racker provision (%s): %s", tool, created_by);
    rk_derived_info di = {
        .base = base,
        .upper_dir = upper,
        .ref_name = ref_name,
        .recipe = recipe->key,
        .created_by = history,
    };
    double t1 = now_s();
    if (rk_store_commit_derived(s, &di, ret, err) < 0) {
        rk_error_wrap(err, "storing the provisioned image");
        goto out;
    }
    rk_verbose("stored %s in %.1f s", ref_name, now_s() - t1);
    rc = 0;

out:
    /* 5. The container goes, with what is left of its layer. */
    if (ran)
        remove_container(o, res.id[0] ? res.id : cname);
    if (pipefd[1] >= 0)
        close(pipefd[1]);
    if (thread_started)
        pthread_join(th, NULL);
    if (pipefd[0] >= 0)
        close(pipefd[0]);
    reader_clear(&rd);
    rk_run_result_clear(&res);
    rk_spec_clear(&spec);
    return rc;
}

int rk_provision(rk_store *s, const rk_image *base, const rk_provision_opts *o, rk_image **ret,
                 rk_error **err)
{
    *ret = NULL;
    _cleanup_free_ char *what = rk_xstrdup(base->refs && base->refs[0] ? base->refs[0] : base->id);

    /* 1. What would run. */
    rk_provision_plan plan;
    if (rk_provision_inspect(base, &plan, err) < 0)
        return -1;
    int rc = -1;
    int lock = -1;
    _cleanup_free_ char *lock_path =
        rk_xasprintf("%s/locks/provision-%s", rk_store_root(s), rk_digest_hex(base->id));
    if (plan.kind != RK_PROVISION_READY) {
        rk_error_set_status(err, 125, 0, "cannot install systemd: %s", plan.reason);
        goto out;
    }

    /* 2. One provisioning per base image at a time; whoever waited finds
     *    the image the other one made. */
    lock = rk_lock_at(AT_FDCWD, lock_path, LOCK_EX | LOCK_NB, err);
    if (lock == -2) {
        rk_verbose("waiting for another racker that provisions %s", what);
        lock = rk_lock_at(AT_FDCWD, lock_path, LOCK_EX, err);
    }
    if (lock < 0)
        goto wrap;
    if (rk_store_find_derived(s, base->id, plan.recipe.key, ret, err) < 0)
        goto wrap;
    if (*ret) {
        rc = 0;
        goto out;
    }

    /* 3-5. */
    if (provision_locked(s, base, &plan, o, ret, err) == 0)
        rc = 0;
wrap:
    if (rc < 0 && err && *err && !(*err)->status)
        (*err)->status = 125;
out:
    if (lock >= 0)
        close(lock);
    rk_provision_plan_clear(&plan);
    return rc;
}
