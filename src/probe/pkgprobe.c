/* The package probe (see pkgprobe.h). Everything the container does runs
 * through `racker exec`'s code path (rk_container_exec), with the output
 * captured into a memfd so a long apt-get log cannot block on a pipe. */
#include "probe/pkgprobe.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/strv.h"
#include "image/reference.h"
#include "probe/fetch.h"
#include "probe/netcheck.h"
#include "runtime/boot.h"
#include "runtime/caps.h"
#include "runtime/container.h"
#include "runtime/osimage.h"

#define PACKAGES_DIR "/var/cache/postroj"
#define DETAIL_LINES 30
#define UNIT_SETTLE_SECONDS 10

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

char *rk_probe_resolve_image(const rk_catalogue *c, const char *image)
{
    const rk_catalogue_image *ci = c ? rk_catalogue_lookup(c, image) : NULL;
    return rk_xstrdup(ci ? ci->reference : image);
}

struct probe {
    const rk_probe_env *env;
    const rk_pkgprobe_spec *spec;
    rk_probe_run *run;
    char id[RK_ID_LEN + 1];
    bool started;
};

static void status(struct probe *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void status(struct probe *p, const char *fmt, ...)
{
    if (!p->env->on_status)
        return;
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *line = rk_xvasprintf(fmt, ap);
    va_end(ap);
    p->env->on_status(p->env->ctx, p->spec->image, line);
}

/* The last n lines of text, for a report's detail. */
static char *last_lines(const char *text, size_t n)
{
    if (!text)
        return rk_xstrdup("");
    size_t len = strlen(text);
    while (len && text[len - 1] == '\n')
        len--;
    size_t start = len, seen = 0;
    while (start > 0) {
        if (text[start - 1] == '\n' && ++seen == n)
            break;
        start--;
    }
    return rk_xstrndup(text + start, len - start);
}

/* Run argv in the container; *ret_out gets stdout and stderr together. */
static int exec_capture(struct probe *p, char *const *argv, char **ret_out, int *ret_code,
                        rk_error **err)
{
    _cleanup_close_ int fd = memfd_create("postroj-exec", MFD_CLOEXEC);
    if (fd < 0)
        return rk_error_set(err, errno, "memfd_create");
    rk_exec_options eo = {
        .containers_dir = rk_store_containers_dir(p->env->store),
        .rundir = p->env->rundir,
        .container = p->id,
        .argv = argv,
        .capture_output = true,
        .output_fd = fd,
    };
    int code = -1;
    if (rk_container_exec(&eo, &code, err) < 0)
        return -1;
    *ret_code = code;
    char self[64];
    snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
    if (rk_read_file_at(AT_FDCWD, self, 16u << 20, ret_out, NULL, err) < 0)
        return -1;
    if (p->env->on_output) {
        char *save = NULL, *copy = rk_xstrdup(*ret_out);
        for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
            p->env->on_output(p->env->ctx, p->spec->image, l);
        free(copy);
    }
    return 0;
}

/* sh -c SCRIPT with $1.. = args. */
static int exec_sh(struct probe *p, const char *script, const char *arg1, const char *arg2,
                   char **ret_out, int *ret_code, rk_error **err)
{
    char *argv[] = {"/bin/sh", "-c", (char *)script, "postroj", (char *)arg1, (char *)arg2, NULL};
    if (!arg1)
        argv[4] = NULL;
    else if (!arg2)
        argv[5] = NULL;
    return exec_capture(p, argv, ret_out, ret_code, err);
}

static rk_check *testbed_fail(struct probe *p, const char *what, rk_error *e)
{
    rk_check *c = rk_probe_run_add_checkf(p->run, RK_CHECK_TESTBED, "testbed", RK_CHECK_FAIL,
                                          "%s: %s", what, e ? e->msg : "failed");
    rk_error_free(e);
    return c;
}

/* ---- steps ---- */

/* Package managers: the first the image has. Each script installs "$1"
 * (a file under PACKAGES_DIR, or a package name). */
static const char install_deb[] =
    "export DEBIAN_FRONTEND=noninteractive\n"
    /* Images are often shipped without package lists: dependencies
     * come from the distribution's repositories. */
    "ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 || apt-get update -q || exit 100\n"
    "exec apt-get install -y -q --no-install-recommends \"$1\"\n";
static const char install_rpm[] =
    "for t in dnf5 dnf microdnf yum; do\n"
    "  command -v $t >/dev/null 2>&1 && exec $t install -y \"$1\"\n"
    "done\n"
    "command -v zypper >/dev/null 2>&1 && exec zypper --non-interactive --no-gpg-checks install \"$1\"\n"
    "echo 'no package manager for .rpm files in this image' >&2; exit 1\n";
static const char install_repo[] =
    "export DEBIAN_FRONTEND=noninteractive\n"
    "if command -v apt-get >/dev/null 2>&1; then\n"
    "  ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 || apt-get update -q || exit 100\n"
    "  exec apt-get install -y -q --no-install-recommends \"$1\"\n"
    "fi\n"
    "for t in dnf5 dnf microdnf yum; do\n"
    "  command -v $t >/dev/null 2>&1 && exec $t install -y \"$1\"\n"
    "done\n"
    "command -v zypper >/dev/null 2>&1 && exec zypper --non-interactive install \"$1\"\n"
    "command -v pacman >/dev/null 2>&1 && exec pacman -S --noconfirm --needed \"$1\"\n"
    "echo 'no package manager in this image' >&2; exit 1\n";

static void check_install(struct probe *p, const char *name, const char *script, const char *arg)
{
    status(p, "installing %s", name);
    double t0 = now_mono();
    _cleanup_free_ char *out = NULL;
    int code = -1;
    rk_error *e = NULL;
    _cleanup_free_ char *check = rk_xasprintf("install:%s", name);
    if (exec_sh(p, script, arg, NULL, &out, &code, &e) < 0) {
        rk_check *c = rk_probe_run_add_checkf(p->run, RK_CHECK_TESTBED, check, RK_CHECK_FAIL,
                                              "%s", e->msg);
        c->duration = now_mono() - t0;
        rk_error_free(e);
        return;
    }
    _cleanup_free_ char *tail = last_lines(out, DETAIL_LINES);
    rk_check *c;
    if (code == 0) {
        c = rk_probe_run_add_check(p->run, RK_CHECK_INSTALL, check, RK_CHECK_PASS, NULL);
    } else {
        /* The package manager's last line is usually the reason. */
        _cleanup_free_ char *last = last_lines(out, 1);
        c = rk_probe_run_add_checkf(p->run, RK_CHECK_INSTALL, check, RK_CHECK_FAIL,
                                    "exit status %d: %s", code, last);
    }
    rk_check_set_detail(c, tail);
    c->duration = now_mono() - t0;
}

static void check_unit(struct probe *p, const char *unit)
{
    status(p, "starting %s", unit);
    double t0 = now_mono();
    _cleanup_free_ char *check = rk_xasprintf("unit:%s", unit);
    _cleanup_free_ char *out = NULL;
    int code = -1;
    rk_error *e = NULL;
    /* One exec for the common case. enable reloads the manager (tens of
     * milliseconds), so it is skipped for a unit that is enabled already
     * or cannot be (static); it fails for templates, and start is what
     * counts. The last line is is-active's answer. */
    static const char start[] =
        "case \"$(systemctl is-enabled \"$1\" 2>/dev/null)\" in\n"
        "  enabled|enabled-runtime|static|alias|indirect|generated|transient) ;;\n"
        "  *) systemctl enable \"$1\" 2>&1 || true ;;\n"
        "esac\n"
        "systemctl start \"$1\" 2>&1\n"
        "systemctl is-active \"$1\" 2>&1\n";
    if (exec_sh(p, start, unit, NULL, &out, &code, &e) < 0) {
        testbed_fail(p, unit, e);
        return;
    }
    _cleanup_free_ char *state = last_lines(out, 1);
    /* A service that is still coming up says "activating": give it a
     * little time, as a user would. */
    double deadline = now_mono() + UNIT_SETTLE_SECONDS;
    while ((!strcmp(state, "activating") || !strcmp(state, "reloading")) &&
           now_mono() < deadline) {
        usleep(100 * 1000);
        free(state);
        state = NULL;
        int c2 = -1;
        char *argv[] = {"systemctl", "is-active", (char *)unit, NULL};
        if (exec_capture(p, argv, &state, &c2, &e) < 0) {
            testbed_fail(p, unit, e);
            return;
        }
        state[strcspn(state, "\n")] = 0;
    }
    if (!strcmp(state, "active")) {
        rk_check *c = rk_probe_run_add_check(p->run, RK_CHECK_TEST, check, RK_CHECK_PASS, NULL);
        c->duration = now_mono() - t0;
        return;
    }
    /* What start said, without is-active's answer. */
    size_t olen = strlen(out);
    while (olen && out[olen - 1] == '\n')
        olen--;
    while (olen && out[olen - 1] != '\n')
        olen--;
    out[olen] = 0;
    _cleanup_free_ char *start_tail = last_lines(out, 2);
    for (char *q = start_tail; *q; q++)
        if (*q == '\n')
            *q = ' ';
    rk_check *c = rk_probe_run_add_checkf(p->run, RK_CHECK_TEST, check, RK_CHECK_FAIL,
                                          "is-active says %s%s%s", *state ? state : "nothing",
                                          *start_tail ? "; " : "", start_tail);
    /* The unit's status and its last journal lines, for the report. */
    _cleanup_free_ char *diag = NULL;
    int c3 = -1;
    static const char why[] =
        "systemctl status --no-pager --full --lines=0 \"$1\" 2>&1\n"
        "echo; echo \"-- journal of $1 --\"\n"
        "journalctl --no-pager -o short -n " "30" " -u \"$1\" 2>&1\n";
    if (exec_sh(p, why, unit, NULL, &diag, &c3, NULL) == 0)
        rk_check_set_detail(c, diag);
    c->duration = now_mono() - t0;
}

static void check_simple(struct probe *p, const char *name, char *const *argv,
                         const char *expect)
{
    status(p, "checking %s", name);
    double t0 = now_mono();
    _cleanup_free_ char *out = NULL;
    int code = -1;
    rk_error *e = NULL;
    if (exec_capture(p, argv, &out, &code, &e) < 0) {
        testbed_fail(p, name, e);
        return;
    }
    rk_check *c;
    if (code != 0)
        c = rk_probe_run_add_checkf(p->run, RK_CHECK_TEST, name, RK_CHECK_FAIL, "exit status %d",
                                    code);
    else if (expect && !strstr(out, expect))
        c = rk_probe_run_add_checkf(p->run, RK_CHECK_TEST, name, RK_CHECK_FAIL,
                                    "no \"%s\" in its output", expect);
    else
        c = rk_probe_run_add_check(p->run, RK_CHECK_TEST, name, RK_CHECK_PASS, NULL);
    rk_check_set_detail(c, out);
    c->duration = now_mono() - t0;
}

static void check_network_inside(struct probe *p, const char *url)
{
    status(p, "checking %s from inside", url);
    double t0 = now_mono();
    double timeout = p->spec->network_timeout > 0 ? p->spec->network_timeout : 5;
    _cleanup_free_ char *check = rk_xasprintf("network:%s", url);
    _cleanup_free_ char *limit = rk_xasprintf("%d", (int)(timeout + 0.999));
    /* Any HTTP answer counts unless a status is expected; retry until
     * the deadline, as from the host. */
    static const char script[] =
        "end=$(( $(date +%s) + $2 ))\n"
        "while :; do\n"
        "  code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 2 \"$1\" 2>&1) && break\n"
        "  [ $(date +%s) -ge $end ] && { echo \"$code\"; exit 1; }\n"
        "  sleep 0.2\n"
        "done\n"
        "echo \"$code\"\n";
    _cleanup_free_ char *out = NULL;
    int code = -1;
    rk_error *e = NULL;
    if (exec_sh(p, script, url, limit, &out, &code, &e) < 0) {
        testbed_fail(p, url, e);
        return;
    }
    out[strcspn(out, "\n")] = 0;
    long http = strtol(out, NULL, 10);
    rk_check *c;
    if (code != 0)
        c = rk_probe_run_add_checkf(p->run, RK_CHECK_TEST, check, RK_CHECK_FAIL,
                                    "timed out after %s s: %s", limit, out);
    else if (p->spec->expect_status && http != p->spec->expect_status)
        c = rk_probe_run_add_checkf(p->run, RK_CHECK_TEST, check, RK_CHECK_FAIL,
                                    "HTTP %ld, expected %d", http, p->spec->expect_status);
    else
        c = rk_probe_run_add_checkf(p->run, RK_CHECK_TEST, check, RK_CHECK_PASS, "HTTP %ld", http);
    c->duration = now_mono() - t0;
}

static void check_network(struct probe *p, const char *url)
{
    if (p->spec->network_inside) {
        check_network_inside(p, url);
        return;
    }
    status(p, "checking %s", url);
    rk_netcheck_opts no = {
        .timeout = p->spec->network_timeout,
        .expect_status = p->spec->expect_status,
    };
    rk_netcheck_result r = {0};
    rk_error *e = NULL;
    if (rk_netcheck_run(url, &no, &r, &e) < 0) {
        rk_probe_run_add_checkf(p->run, RK_CHECK_TEST, url, RK_CHECK_FAIL, "%s", e->msg);
        rk_error_free(e);
        return;
    }
    rk_check *c = rk_netcheck_add_check(p->run, url, &r);
    if (c)
        c->duration = r.elapsed;
    rk_netcheck_result_clear(&r);
}

/* ---- the container ---- */

static int start_container(struct probe *p, rk_image **img, char *const *pkg_dirs, rk_error **err)
{
    const rk_probe_env *env = p->env;
    _cleanup_strv_ char **layers = rk_strv_dup((*img)->layer_dirs);
    _cleanup_free_ char *init = NULL;
    rk_boot_decision_opts bd = {
        .mode = RK_BOOT_YES,
        .containers_dir = rk_store_containers_dir(env->store),
        .rundir = env->rundir,
    };
    status(p, "preparing %s", p->run->reference);
    if (rk_boot_decide(env->store, &bd, p->run->reference, img, &layers, &init, err) < 0)
        return -1;
    rk_spec spec;
    rk_spec_init(&spec);
    int rc = -1;
    /* Before the first goto: cleanup variables must not be jumped over. */
    _cleanup_free_ char *name = NULL;
    _cleanup_close_ int hold = -1;
    spec.env = rk_spec_build_env((*img)->config->env, NULL);
    free(spec.cwd);
    spec.cwd = rk_xstrdup("/");
    spec.network = RK_NET_HOST;
    spec.seccomp = true;
    spec.stop_signal = SIGTERM;
    uint64_t caps = 0, held = 0;
    if (rk_boot_caps_compute(NULL, NULL, false, &caps, err) < 0 || rk_caps_held(&held, err) < 0)
        goto out;
    spec.caps = caps & held;
    for (size_t i = 0; pkg_dirs && pkg_dirs[i]; i++) {
        _cleanup_free_ char *target = rk_xasprintf(PACKAGES_DIR "/%zu", i);
        rk_mount_spec m = {.kind = RK_MOUNT_BIND, .source = pkg_dirs[i], .target = target,
                           .readonly = true};
        rk_spec_add_mount(&spec, &m);
    }
    rk_strv_push_dup(&spec.argv, init);
    rk_boot_spec_setup(&spec, false);

    char rnd[9];
    rk_random_hex(rnd, 4);
    name = rk_xasprintf("postroj-%s", rnd);
    hold = rk_store_lock_shared(env->store, err);
    if (hold < 0)
        goto out;
    char *init_argv[] = {init, NULL};
    rk_boot_options bo = {
        .init_argv = init_argv,
        .payload = NULL,
        .timeout = env->boot_timeout > 0 ? env->boot_timeout : RK_BOOT_DEFAULT_TIMEOUT,
    };
    rk_run_options o = {
        .spec = &spec,
        .name = name,
        .image_id = (*img)->id,
        .image_ref = p->run->reference,
        .layers = layers,
        .auto_remove = true,
        .detach = true,
        .containers_dir = rk_store_containers_dir(env->store),
        .rundir = env->rundir,
        .hold_fd = TAKE_FD(hold),
        .boot = &bo,
    };
    status(p, "booting %s", p->run->reference);
    rk_run_result res;
    if (rk_container_run(&o, &res, err) < 0)
        goto out;
    memcpy(p->id, res.id, sizeof(p->id));
    p->started = true;
    rk_run_result_clear(&res);
    rc = 0;
out:
    rk_spec_clear(&spec);
    return rc;
}

int rk_pkgprobe(const rk_probe_env *env, const rk_pkgprobe_spec *spec, rk_probe_run *run,
                rk_error **err)
{
    if (!env || !env->store || !spec || !spec->image || !run)
        return rk_error_set(err, EINVAL, "pkgprobe: missing arguments");
    struct probe p = {.env = env, .spec = spec, .run = run};
    _cleanup_free_ char *ref = rk_probe_resolve_image(env->catalogue, spec->image);
    rk_probe_run_set_reference(run, ref);
    rk_error *e = NULL;

    /* 1. The packages, first: a bad URL should not cost a boot. */
    _cleanup_strv_ char **pkg_dirs = NULL, **pkg_files = NULL, **pkg_names = NULL;
    for (size_t i = 0; spec->packages && spec->packages[i]; i++) {
        const char *src = spec->packages[i];
        _cleanup_free_ char *path = NULL;
        status(&p, "fetching %s", src);
        if (rk_fetch_package(rk_store_root(env->store), src, NULL, &path, NULL, &e) < 0) {
            _cleanup_free_ char *fname = NULL;
            if (rk_fetch_file_name(src, &fname, NULL) < 0)
                fname = rk_xstrdup(src);
            _cleanup_free_ char *check = rk_xasprintf("install:%s", fname);
            rk_probe_run_add_checkf(run, RK_CHECK_INSTALL, check, RK_CHECK_FAIL, "%s", e->msg);
            rk_error_free(e);
            e = NULL;
            rk_probe_run_finish(run);
            return 0;
        }
        char *slash = strrchr(path, '/');
        _cleanup_free_ char *dir = slash ? rk_xstrndup(path, (size_t)(slash - path)) : rk_xstrdup(".");
        char abs[4096];
        if (!realpath(dir, abs)) {
            _cleanup_free_ char *check = rk_xasprintf("install:%s", src);
            rk_probe_run_add_checkf(run, RK_CHECK_INSTALL, check, RK_CHECK_FAIL, "%s: %s", dir,
                                    strerror(errno));
            rk_probe_run_finish(run);
            return 0;
        }
        rk_strv_push_dup(&pkg_dirs, abs);
        rk_strv_push(&pkg_files, rk_xasprintf(PACKAGES_DIR "/%zu/%s", i, slash ? slash + 1 : path));
        rk_strv_push_dup(&pkg_names, slash ? slash + 1 : path);
    }

    /* 2. The image and a fresh, volatile, booted container of it. */
    rk_image *img = NULL;
    if (env->get_image(env->ctx, ref, &img, &e) < 0) {
        testbed_fail(&p, "getting the image", e);
        rk_probe_run_finish(run);
        return 0;
    }
    double t0 = now_mono();
    if (start_container(&p, &img, pkg_dirs, &e) < 0) {
        rk_check *c = testbed_fail(&p, "booting", e);
        c->duration = now_mono() - t0;
        rk_image_free(img);
        rk_probe_run_finish(run);
        return 0;
    }
    rk_image_free(img);

    /* 3. The checks, in the order a user would do them. */
    for (size_t i = 0; pkg_files && pkg_files[i]; i++)
        check_install(&p, pkg_names[i], rk_endswith(pkg_files[i], ".rpm") ? install_rpm : install_deb,
                      pkg_files[i]);
    for (size_t i = 0; spec->repo_packages && spec->repo_packages[i]; i++)
        check_install(&p, spec->repo_packages[i], install_repo, spec->repo_packages[i]);
    _cleanup_close_ int serial = -1;
    if (spec->serialize_lock && (spec->units || spec->network)) {
        status(&p, "waiting for the other probes' servers");
        serial = rk_lock_at(AT_FDCWD, spec->serialize_lock, LOCK_EX, &e);
        if (serial < 0) {
            testbed_fail(&p, "locking", e);
            e = NULL;
        }
    }
    bool installed = true;
    for (size_t i = 0; i < run->n_checks; i++)
        if (run->checks[i]->kind == RK_CHECK_INSTALL && run->checks[i]->status == RK_CHECK_FAIL)
            installed = false;
    if (spec->hostnamectl) {
        char *argv[] = {"hostnamectl", NULL};
        check_simple(&p, "hostnamectl", argv, "Operating System");
    }
    if (spec->journald) {
        char *argv[] = {"systemctl", "is-active", "systemd-journald", NULL};
        check_simple(&p, "journald", argv, "active");
    }
    for (size_t i = 0; spec->units && spec->units[i]; i++) {
        if (!installed) {
            _cleanup_free_ char *n = rk_xasprintf("unit:%s", spec->units[i]);
            rk_probe_run_add_check(run, RK_CHECK_TEST, n, RK_CHECK_SKIP,
                                   "not checked: a package did not install");
            continue;
        }
        check_unit(&p, spec->units[i]);
    }
    for (size_t i = 0; spec->network && spec->network[i]; i++) {
        if (!installed) {
            _cleanup_free_ char *n = rk_xasprintf("network:%s", spec->network[i]);
            rk_probe_run_add_check(run, RK_CHECK_TEST, n, RK_CHECK_SKIP,
                                   "not checked: a package did not install");
            continue;
        }
        check_network(&p, spec->network[i]);
    }

    /* 4. Gone: the writable layer was volatile. */
    status(&p, "removing the container");
    if (rk_container_remove(rk_store_containers_dir(env->store), env->rundir, p.id, true, &e) < 0)
        testbed_fail(&p, "removing the container", e);
    rk_probe_run_finish(run);
    return 0;
}
