/* racker run: parse Docker's run options into a container spec, find (or
 * pull) the image, and hand over to the runtime. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/strv.h"
#include "cli/cli.h"
#include "image/pull.h"
#include "image/store.h"
#include "runtime/boot.h"
#include "runtime/caps.h"
#include "runtime/container.h"
#include "runtime/osimage.h"
#include "runtime/spec.h"

extern char **environ;

enum {
    OPT_RM = RK_OPT_FIRST_VERB_OPTION,
    OPT_NAME,
    OPT_ENV_FILE,
    OPT_ENTRYPOINT,
    OPT_TMPFS,
    OPT_READ_ONLY,
    OPT_HOSTNAME,
    OPT_NETWORK,
    OPT_PLATFORM,
    OPT_PULL,
    OPT_BOOT,
    OPT_CPUS,
    OPT_PIDS_LIMIT,
    OPT_CAP_ADD,
    OPT_CAP_DROP,
    OPT_PRIVILEGED,
    OPT_ROOTFS,
    OPT_INIT,
    OPT_STOP_SIGNAL,
    OPT_TLS_VERIFY,
    OPT_BOOT_TIMEOUT,
};

/* -p and -P: a container shares the host's network (or has none), so
 * there is nothing to publish; Docker says the same with --network host. */
#define PUBLISH_WARNING_HOST "published ports are discarded: the container uses the host's " \
                             "network, so a service in it is reachable on its own port"
#define PUBLISH_WARNING_NONE "published ports are discarded: with --network none the " \
                             "container has only loopback"

enum pull_policy { PULL_MISSING, PULL_ALWAYS, PULL_NEVER };

struct run_args {
    bool detach, interactive, tty, rm, read_only, privileged, init, publish;
    const char *name, *workdir, *user, *entrypoint, *hostname, *platform, *rootfs;
    bool entrypoint_set;
    enum rk_network_mode network;
    enum pull_policy pull;
    enum rk_boot_mode boot;
    int tls_verify;
    int stop_signal;
    int boot_timeout;
    int64_t memory, pids, cpu_quota, cpu_period;
    char **env;       /* -e and --env-file, in order, already "K=V" */
    char **volumes, **tmpfs, **cap_add, **cap_drop;
};

static void run_args_clear(struct run_args *a)
{
    rk_strv_free(a->env);
    rk_strv_free(a->volumes);
    rk_strv_free(a->tmpfs);
    rk_strv_free(a->cap_add);
    rk_strv_free(a->cap_drop);
}

static int run_opt(void *ctx, int opt, const char *arg, rk_error **err)
{
    struct run_args *a = ctx;
    switch (opt) {
    case 'd': a->detach = true; return 0;
    case 'i': a->interactive = true; return 0;
    case 'p':
        if (!*arg)
            return rk_error_set(err, 0, "--publish takes [IP:][HOST_PORT:]CONTAINER_PORT");
        a->publish = true;
        return 0;
    case 'P': a->publish = true; return 0;
    case 't': a->tty = true; return 0;
    case OPT_RM: a->rm = true; return 0;
    case OPT_NAME: a->name = arg; return 0;
    case 'w': a->workdir = arg; return 0;
    case 'u': a->user = arg; return 0;
    case OPT_ENTRYPOINT: a->entrypoint = arg; a->entrypoint_set = true; return 0;
    case OPT_HOSTNAME: a->hostname = arg; return 0;
    case OPT_PLATFORM: a->platform = arg; return 0;
    case OPT_READ_ONLY: a->read_only = true; return 0;
    case OPT_PRIVILEGED: a->privileged = true; return 0;
    case OPT_ROOTFS: a->rootfs = arg; return 0;
    case OPT_INIT: a->init = true; return 0;
    case 'v': rk_strv_push_dup(&a->volumes, arg); return 0;
    case OPT_TMPFS: rk_strv_push_dup(&a->tmpfs, arg); return 0;
    case OPT_CAP_ADD: rk_strv_push_dup(&a->cap_add, arg); return 0;
    case OPT_CAP_DROP: rk_strv_push_dup(&a->cap_drop, arg); return 0;
    case 'e': {
        char *kv = NULL;
        if (rk_env_entry(arg, environ, &kv, err) < 0)
            return -1;
        if (kv)
            rk_strv_push(&a->env, kv);
        return 0;
    }
    case OPT_ENV_FILE: {
        _cleanup_strv_ char **fenv = NULL;
        if (rk_env_file_read(arg, environ, &fenv, err) < 0)
            return -1;
        for (size_t i = 0; fenv && fenv[i]; i++)
            rk_strv_push_dup(&a->env, fenv[i]);
        return 0;
    }
    case OPT_NETWORK:
        if (!strcmp(arg, "host") || !strcmp(arg, "default"))
            a->network = RK_NET_HOST;
        else if (!strcmp(arg, "none"))
            a->network = RK_NET_NONE;
        else
            return rk_error_set(err, 0, "--network takes host or none, not \"%s\"", arg);
        return 0;
    case OPT_PULL:
        if (!arg || !strcmp(arg, "missing"))
            a->pull = PULL_MISSING;
        else if (!strcmp(arg, "always"))
            a->pull = PULL_ALWAYS;
        else if (!strcmp(arg, "never"))
            a->pull = PULL_NEVER;
        else
            return rk_error_set(err, 0, "--pull takes missing, always or never, not \"%s\"", arg);
        return 0;
    case OPT_BOOT:
        if (!strcmp(arg, "no"))
            a->boot = RK_BOOT_NO;
        else if (!strcmp(arg, "auto"))
            a->boot = RK_BOOT_AUTO;
        else if (!strcmp(arg, "yes"))
            a->boot = RK_BOOT_YES;
        else
            return rk_error_set(err, 0, "--boot takes no, auto or yes, not \"%s\"", arg);
        return 0;
    case 'm':
        return rk_size_parse(arg, &a->memory, err);
    case OPT_CPUS:
        return rk_cpus_parse(arg, &a->cpu_quota, &a->cpu_period, err);
    case OPT_PIDS_LIMIT: {
        char *end;
        errno = 0;
        long long v = strtoll(arg, &end, 10);
        if (errno || *end || end == arg || v == 0 || v < -1)
            return rk_error_set(err, 0, "--pids-limit takes a positive number (or -1), not \"%s\"", arg);
        a->pids = v < 0 ? 0 : v;
        return 0;
    }
    case OPT_STOP_SIGNAL:
        if ((a->stop_signal = rk_signal_parse(arg)) < 0)
            return rk_error_set(err, 0, "invalid signal \"%s\"", arg);
        return 0;
    case OPT_BOOT_TIMEOUT: {
        char *end;
        errno = 0;
        long v = strtol(arg, &end, 10);
        if (errno || *end || end == arg || v <= 0 || v > 86400)
            return rk_error_set(err, 0, "--boot-timeout takes a number of seconds, not \"%s\"", arg);
        a->boot_timeout = (int)v;
        return 0;
    }
    case OPT_TLS_VERIFY:
        if (rk_cli_parse_bool(arg, &a->tls_verify) < 0)
            return rk_error_set(err, 0, "--tls-verify takes true or false, not \"%s\"", arg);
        return 0;
    }
    return -1;
}

/* Find the image, pulling it as --pull says. */
static int find_image(struct rk_cli *cli, rk_store *store, const struct run_args *a,
                      const char *ref, rk_image **img, rk_error **err)
{
    if (a->pull != PULL_ALWAYS) {
        rk_error *e = NULL;
        if (rk_store_find_image(store, ref, img, &e) == 0)
            return 0;
        if (!e || e->errnum != ENOENT || a->pull == PULL_NEVER) {
            if (err)
                *err = e;
            else
                rk_error_free(e);
            if (err && *err && !(*err)->status)
                (*err)->status = RK_EXIT_FAILURE;
            return -1;
        }
        rk_error_free(e);
    }
    rk_pull_result pr = {0};
    rk_cli_pull_args pa = {.platform = a->platform, .tls_verify = a->tls_verify};
    if (rk_cli_pull_image(cli, store, ref, &pa, &pr, err) < 0)
        return -1;
    int r = rk_store_find_image(store, pr.image_id, img, err);
    rk_pull_result_clear(&pr);
    return r;
}

static int build_spec(const struct run_args *a, const rk_image_config *cfg,
                      char *const *user_args, bool boot, rk_spec *s, rk_error **err)
{
    rk_error *argv_err = NULL;
    if (rk_spec_build_argv(cfg ? cfg->entrypoint : NULL, cfg ? cfg->cmd : NULL,
                           a->entrypoint_set ? a->entrypoint : NULL, user_args, &s->argv,
                           &argv_err) < 0) {
        /* An OS container needs no command: it boots. */
        if (!boot) {
            if (err)
                *err = argv_err;
            else
                rk_error_free(argv_err);
            return -1;
        }
        rk_error_free(argv_err);
        s->argv = NULL;
    }
    rk_strv_free(s->env);
    s->env = rk_spec_build_env(cfg ? cfg->env : NULL, a->env);
    const char *wd = a->workdir ? a->workdir : cfg && cfg->working_dir && *cfg->working_dir
                                                   ? cfg->working_dir : "/";
    if (wd[0] != '/')
        return rk_error_set_status(err, 125, 0, "the working directory '%s' is not absolute", wd);
    free(s->cwd);
    s->cwd = rk_xstrdup(wd);
    const char *user = a->user ? a->user : cfg && cfg->user && *cfg->user ? cfg->user : NULL;
    s->user = user ? rk_xstrdup(user) : NULL;
    s->tty = a->tty;
    s->interactive = a->interactive;
    s->init = a->init;
    s->hostname = a->hostname ? rk_xstrdup(a->hostname) : NULL;
    s->network = a->network;
    s->read_only = a->read_only;
    s->privileged = a->privileged;
    s->no_new_privs = !a->privileged;
    s->seccomp = !a->privileged;
    s->memory = a->memory;
    s->pids_limit = a->pids;
    s->cpu_quota = a->cpu_quota;
    s->cpu_period = a->cpu_period;
    s->boot = a->boot;
    s->stop_signal = a->stop_signal > 0 ? a->stop_signal
                     : cfg && cfg->stop_signal && rk_signal_parse(cfg->stop_signal) > 0
                         ? rk_signal_parse(cfg->stop_signal)
                         : SIGTERM;

    /* Capabilities: never more than racker itself holds (this host, for
     * one, has no CAP_SYS_RESOURCE); asking for one it lacks is an error. */
    uint64_t caps, held;
    if ((boot ? rk_boot_caps_compute(a->cap_add, a->cap_drop, a->privileged, &caps, err)
              : rk_caps_compute(a->cap_add, a->cap_drop, a->privileged, &caps, err)) < 0 ||
        rk_caps_held(&held, err) < 0)
        return -1;
    for (size_t i = 0; a->cap_add && a->cap_add[i]; i++) {
        int c = rk_cap_from_name(a->cap_add[i]);
        if (c >= 0 && !(held & rk_cap_bit(c)))
            return rk_error_set_status(err, 125, 0,
                                       "cannot add capability CAP_%s: racker itself does not hold it",
                                       rk_cap_name(c));
    }
    s->caps = caps & held;

    for (size_t i = 0; a->volumes && a->volumes[i]; i++) {
        rk_mount_spec m;
        if (rk_volume_parse(a->volumes[i], &m, err) < 0)
            return -1;
        struct stat st;
        if (stat(m.source, &st) < 0) {
            int e = errno;
            rk_mount_spec_clear(&m);
            return rk_error_set_status(err, 125, e, "invalid volume '%s': bind source path",
                                       a->volumes[i]);
        }
        rk_spec_add_mount(s, &m);
        rk_mount_spec_clear(&m);
    }
    for (size_t i = 0; a->tmpfs && a->tmpfs[i]; i++) {
        rk_mount_spec m;
        if (rk_tmpfs_parse(a->tmpfs[i], &m, err) < 0)
            return -1;
        rk_spec_add_mount(s, &m);
        rk_mount_spec_clear(&m);
    }
    return 0;
}

static void provision_line(void *ctx, const char *line)
{
    (void)ctx;
    rk_verbose("  %s", line);
}

static void provision_started(void *ctx, const char *what, const char *tool)
{
    (void)ctx;
    rk_info("%s has no systemd: installing it with %s (once: the result is kept as an "
            "image of its own)", what, tool);
}

int rk_cmd_run(struct rk_cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"detach", no_argument, NULL, 'd'},
        {"interactive", no_argument, NULL, 'i'},
        {"tty", no_argument, NULL, 't'},
        {"rm", no_argument, NULL, OPT_RM},
        {"name", required_argument, NULL, OPT_NAME},
        {"env", required_argument, NULL, 'e'},
        {"env-file", required_argument, NULL, OPT_ENV_FILE},
        {"workdir", required_argument, NULL, 'w'},
        {"user", required_argument, NULL, 'u'},
        {"entrypoint", required_argument, NULL, OPT_ENTRYPOINT},
        {"volume", required_argument, NULL, 'v'},
        {"tmpfs", required_argument, NULL, OPT_TMPFS},
        {"read-only", no_argument, NULL, OPT_READ_ONLY},
        {"hostname", required_argument, NULL, OPT_HOSTNAME},
        {"network", required_argument, NULL, OPT_NETWORK},
        {"net", required_argument, NULL, OPT_NETWORK},
        {"platform", required_argument, NULL, OPT_PLATFORM},
        {"pull", required_argument, NULL, OPT_PULL},
        {"boot", required_argument, NULL, OPT_BOOT},
        {"memory", required_argument, NULL, 'm'},
        {"cpus", required_argument, NULL, OPT_CPUS},
        {"pids-limit", required_argument, NULL, OPT_PIDS_LIMIT},
        {"cap-add", required_argument, NULL, OPT_CAP_ADD},
        {"cap-drop", required_argument, NULL, OPT_CAP_DROP},
        {"privileged", no_argument, NULL, OPT_PRIVILEGED},
        {"rootfs", required_argument, NULL, OPT_ROOTFS},
        {"init", no_argument, NULL, OPT_INIT},
        {"stop-signal", required_argument, NULL, OPT_STOP_SIGNAL},
        {"tls-verify", optional_argument, NULL, OPT_TLS_VERIFY},
        {"boot-timeout", required_argument, NULL, OPT_BOOT_TIMEOUT},
        {"publish", required_argument, NULL, 'p'},
        {"publish-all", no_argument, NULL, 'P'},
        {NULL, 0, NULL, 0},
    };
    const struct rk_verb *verb = rk_cli_find_verb(rk_racker_verbs, "run");
    struct run_args a = {.tls_verify = -1, .boot = RK_BOOT_AUTO, .network = RK_NET_HOST};
    int i = rk_cli_parse(cli, verb, argc, argv, "ditm:e:w:u:v:p:P", longopts, true, run_opt, &a);
    if (i < 0) {
        run_args_clear(&a);
        return cli->usage_status;
    }
    int status = RK_EXIT_FAILURE;
    rk_error *err = NULL;
    _cleanup_store_ rk_store *store = NULL;
    _cleanup_image_ rk_image *img = NULL;
    _cleanup_strv_ char **layers = NULL;
    _cleanup_free_ char *image_ref = NULL;
    _cleanup_free_ char *init = NULL;
    _cleanup_strv_ char **init_argv = NULL;
    _cleanup_strv_ char **payload = NULL;
    int store_lock = -1;
    rk_spec spec;
    rk_spec_init(&spec);

    if (a.publish)
        rk_log_warn("%s", a.network == RK_NET_NONE ? PUBLISH_WARNING_NONE
                                                   : PUBLISH_WARNING_HOST);
    /* With --rootfs DIR there is no image operand: the command starts at i. */
    int cmd_at = a.rootfs ? i : i + 1;
    if (!a.rootfs && i >= argc) {
        status = rk_cli_usage_error(cli, verb, "missing image reference");
        goto out;
    }
    if (a.tty && a.interactive && !a.detach && !isatty(0)) {
        rk_error_set_status(&err, 125, 0, "the input device is not a TTY (-t with -i needs a terminal on stdin)");
        goto fail;
    }

    /* 1. The image: the store (pulled when --pull says so), or --rootfs. */
    if (rk_store_open(cli->root, &store, &err) < 0)
        goto fail;
    /* Held until the container's record names the image (see hold_fd). */
    store_lock = rk_store_lock_shared(store, &err);
    if (store_lock < 0)
        goto fail;
    const rk_image_config *cfg = NULL;
    if (a.rootfs) {
        char resolved[PATH_MAX];
        if (!realpath(a.rootfs, resolved)) {
            rk_error_set_status(&err, 125, errno, "--rootfs %s", a.rootfs);
            goto fail;
        }
        struct stat st;
        if (stat(resolved, &st) < 0 || !S_ISDIR(st.st_mode)) {
            rk_error_set_status(&err, 125, ENOTDIR, "--rootfs %s", a.rootfs);
            goto fail;
        }
        rk_strv_push_dup(&layers, resolved);
        image_ref = rk_xstrdup(resolved);
    } else {
        if (find_image(cli, store, &a, argv[i], &img, &err) < 0)
            goto fail;
        cfg = img->config;
        layers = rk_strv_dup(img->layer_dirs);
        image_ref = rk_xstrdup(argv[i]);
        if (!layers || !layers[0])
            rk_strv_push_dup(&layers, rk_store_empty_dir(store));
    }

    /* 2. Boot or not; the image may become its provisioned one. */
    rk_boot_decision_opts bd = {
        .mode = a.boot,
        .containers_dir = rk_store_containers_dir(store),
        .rundir = cli->rundir,
        .on_provision = provision_started,
        .on_line = provision_line,
    };
    if (rk_boot_decide(store, &bd, image_ref, &img, &layers, &init, &err) < 0)
        goto fail;
    if (img)
        cfg = img->config;

    /* 3. The spec: the image's config under the command line's options. */
    if (build_spec(&a, cfg, argv + cmd_at, init != NULL, &spec, &err) < 0)
        goto fail;
    if (init) {
        /* PID 1 is the init; the command, if any, the payload. An image
         * whose own command is its init (Cmd /lib/systemd/systemd), or a
         * command naming one, only boots; so does a detached container
         * started without a command (its Cmd, a shell, would just end). */
        bool user_cmd = argc > cmd_at || a.entrypoint_set;
        if (spec.argv && spec.argv[0] && rk_boot_is_init_command(spec.argv[0])) {
            init_argv = TAKE_PTR(spec.argv);
            if (!strchr(init_argv[0], '/')) {
                free(init_argv[0]);
                init_argv[0] = rk_xstrdup(init);
            }
        } else {
            rk_strv_push_dup(&init_argv, init);
            if (spec.argv && spec.argv[0] && (user_cmd || !a.detach))
                payload = rk_strv_dup(spec.argv);
        }
        rk_strv_free(spec.argv);
        spec.argv = rk_strv_dup(payload ? payload : init_argv);
        rk_boot_spec_setup(&spec, a.stop_signal > 0);
    } else {
        spec.boot = RK_BOOT_NO;
    }

    /* 4. Run. A detached supervisor leaves the caller's directory, so the
     *    runtime directory must not be relative. */
    if (cli->rundir[0] != '/') {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof(cwd))) {
            rk_error_set_status(&err, 125, errno, "getcwd");
            goto fail;
        }
        char *abs = rk_xasprintf("%s/%s", cwd, cli->rundir);
        free(cli->rundir);
        cli->rundir = abs;
    }
    rk_run_options o = {
        .spec = &spec,
        .name = a.name,
        .image_id = img ? img->id : NULL,
        .image_ref = image_ref,
        .layers = layers,
        .auto_remove = a.rm,
        .detach = a.detach,
        .containers_dir = rk_store_containers_dir(store),
        .rundir = cli->rundir,
        .hold_fd = store_lock,
    };
    rk_boot_options bo = {
        .init_argv = init_argv,
        .payload = payload,
        .timeout = a.boot_timeout > 0 ? a.boot_timeout : RK_BOOT_DEFAULT_TIMEOUT,
    };
    if (init)
        o.boot = &bo;
    rk_run_result res;
    int rr = rk_container_run(&o, &res, &err);
    store_lock = -1; /* closed by the runtime */
    if (rr < 0)
        goto fail;
    if (a.detach) {
        printf("%s\n", res.id);
        status = 0;
    } else {
        status = res.exit_code;
        if (res.oom_killed)
            fprintf(stderr, "%s: container %s was killed: out of memory (--memory %lld bytes)\n",
                    cli->prog, res.name ? res.name : res.id, (long long)spec.memory);
    }
    rk_run_result_clear(&res);
    goto out;

fail:
    status = rk_cli_fail(cli, err, RK_EXIT_FAILURE);
out:
    if (store_lock >= 0)
        close(store_lock);
    rk_spec_clear(&spec);
    run_args_clear(&a);
    return status;
}
