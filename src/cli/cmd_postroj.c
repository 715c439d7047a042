/* postroj pull, pkgprobe and selftest. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/strv.h"
#include "cli/cli.h"
#include "cli/postroj.h"
#include "image/pull.h"
#include "image/store.h"
#include "probe/catalogue.h"
#include "probe/pkgprobe.h"
#include "probe/report.h"
#include "runtime/osimage.h"

#define EXIT_USAGE RK_PROBE_EXIT_USAGE

enum {
    OPT_IMAGE = RK_OPT_FIRST_VERB_OPTION,
    OPT_PACKAGE,
    OPT_CHECK_UNIT,
    OPT_CHECK_NETWORK,
    OPT_NETWORK_TIMEOUT,
    OPT_EXPECT_STATUS,
    OPT_JUNIT,
    OPT_JSON,
    OPT_JOBS,
    OPT_ALL,
    OPT_BOOT_TIMEOUT,
};

/* ---- shared ---- */

struct probe_cli {
    struct rk_cli *cli;
    rk_store *store;
    rk_catalogue *catalogue;
};

static int get_image(void *ctx, const char *ref, rk_image **ret, rk_error **err)
{
    struct probe_cli *pc = ctx;
    rk_error *e = NULL;
    if (rk_store_find_image(pc->store, ref, ret, &e) == 0)
        return 0;
    if (!e || e->errnum != ENOENT) {
        if (err)
            *err = e;
        else
            rk_error_free(e);
        return -1;
    }
    rk_error_free(e);
    rk_cli_pull_args pa = {.tls_verify = -1, .quiet = pc->cli->level < RK_LOG_NORMAL};
    rk_pull_result res = {0};
    if (rk_cli_pull_image(pc->cli, pc->store, ref, &pa, &res, err) < 0)
        return -1;
    int r = rk_store_find_image(pc->store, res.image_id, ret, err);
    rk_pull_result_clear(&res);
    return r;
}

static void on_status(void *ctx, const char *image, const char *line)
{
    struct probe_cli *pc = ctx;
    if (pc->cli->level >= RK_LOG_NORMAL)
        fprintf(stderr, "%s: %s: %s\n", pc->cli->prog, image, line);
}

static void on_output(void *ctx, const char *image, const char *line)
{
    struct probe_cli *pc = ctx;
    if (pc->cli->level >= RK_LOG_VERBOSE)
        fprintf(stderr, "%s: %s:   %s\n", pc->cli->prog, image, line);
}

static int open_env(struct rk_cli *cli, struct probe_cli *pc)
{
    rk_error *err = NULL;
    pc->cli = cli;
    if (rk_store_open(cli->root, &pc->store, &err) < 0)
        return rk_cli_fail(cli, err, EXIT_USAGE);
    if (rk_catalogue_load_default(&pc->catalogue, &err) < 0)
        return rk_cli_fail(cli, err, EXIT_USAGE);
    return 0;
}

static void close_env(struct probe_cli *pc)
{
    rk_store_close(pc->store);
    rk_catalogue_free(pc->catalogue);
}

static void probe_env(struct probe_cli *pc, int boot_timeout, rk_probe_env *env)
{
    *env = (rk_probe_env){
        .store = pc->store,
        .rundir = pc->cli->rundir,
        .catalogue = pc->catalogue,
        .boot_timeout = boot_timeout,
        .get_image = get_image,
        .on_status = on_status,
        .on_output = on_output,
        .ctx = pc,
    };
}

/* The runtime's supervisor of a detached container leaves the caller's
 * directory: the runtime directory must be absolute. */
static int absolute_rundir(struct rk_cli *cli)
{
    if (cli->rundir[0] == '/')
        return 0;
    char cwd[4096];
    if (!getcwd(cwd, sizeof(cwd)))
        return -1;
    char *abs = rk_xasprintf("%s/%s", cwd, cli->rundir);
    free(cli->rundir);
    cli->rundir = abs;
    return 0;
}

static int write_reports(struct rk_cli *cli, const rk_report *r, const char *junit,
                         const char *json, bool image_prefix)
{
    rk_error *err = NULL;
    rk_report_write_summary(r, stdout, image_prefix || r->n_runs > 1);
    fflush(stdout);
    if (junit && rk_report_write_junit(r, junit, &err) < 0)
        return rk_cli_fail(cli, err, EXIT_USAGE);
    if (json && rk_report_write_json(r, json, &err) < 0)
        return rk_cli_fail(cli, err, EXIT_USAGE);
    return rk_report_exit_code(r);
}

/* ---- pull ---- */

struct pull_args {
    bool all;
};

static int pull_opt(void *ctx, int opt, const char *arg, rk_error **err)
{
    (void)arg;
    (void)err;
    if (opt != OPT_ALL)
        return -1;
    ((struct pull_args *)ctx)->all = true;
    return 0;
}

int rk_cmd_postroj_pull(struct rk_cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {{"all", no_argument, NULL, OPT_ALL},
                                             {NULL, 0, NULL, 0}};
    const struct rk_verb *verb = rk_cli_find_verb(rk_postroj_verbs, "pull");
    struct pull_args a = {0};
    int i = rk_cli_parse(cli, verb, argc, argv, "", longopts, false, pull_opt, &a);
    if (i < 0)
        return cli->usage_status;
    if (a.all == (argc - i > 0))
        return rk_cli_usage_error(cli, verb, "give image labels or references, or --all");
    if (absolute_rundir(cli) < 0)
        return rk_cli_usage_error(cli, verb, "cannot resolve --runroot");
    struct probe_cli pc = {0};
    int r = open_env(cli, &pc);
    if (r)
        return r;
    _cleanup_strv_ char **names = NULL;
    if (a.all)
        for (size_t k = 0; k < pc.catalogue->n; k++)
            rk_strv_push_dup(&names, pc.catalogue->images[k].label);
    else
        for (; i < argc; i++)
            rk_strv_push_dup(&names, argv[i]);
    int failed = 0;
    for (size_t k = 0; names[k]; k++) {
        _cleanup_free_ char *ref = rk_probe_resolve_image(pc.catalogue, names[k]);
        rk_error *err = NULL;
        rk_image *img = NULL;
        _cleanup_strv_ char **layers = NULL;
        _cleanup_free_ char *init = NULL;
        rk_boot_decision_opts bd = {
            .mode = RK_BOOT_YES,
            .containers_dir = rk_store_containers_dir(pc.store),
            .rundir = cli->rundir,
        };
        int rc = get_image(&pc, ref, &img, &err);
        if (rc == 0) {
            layers = rk_strv_dup(img->layer_dirs);
            rc = rk_boot_decide(pc.store, &bd, ref, &img, &layers, &init, &err);
        }
        /* One line per image on stdout, whatever happened: --all goes on. */
        if (rc < 0) {
            printf("%s FAIL %s\n", names[k], err ? err->msg : "failed");
            rk_error_free(err);
            failed++;
        } else {
            printf("%s PASS %s %s\n", names[k], ref, img->id);
        }
        fflush(stdout);
        rk_image_free(img);
    }
    close_env(&pc);
    /* Preparing a testbed failed: autopkgtest's "testbed failure". */
    return failed ? RK_PROBE_EXIT_TESTBED : 0;
}

/* ---- pkgprobe ---- */

struct pkgprobe_args {
    char **images, **packages, **units, **network;
    double network_timeout;
    int expect_status, jobs, boot_timeout;
    const char *junit, *json;
};

static void pkgprobe_args_clear(struct pkgprobe_args *a)
{
    rk_strv_free(a->images);
    rk_strv_free(a->packages);
    rk_strv_free(a->units);
    rk_strv_free(a->network);
}

static int pkgprobe_opt(void *ctx, int opt, const char *arg, rk_error **err)
{
    struct pkgprobe_args *a = ctx;
    unsigned long long v;
    char *end;
    switch (opt) {
    case OPT_IMAGE:
        rk_strv_push_dup(&a->images, arg);
        return 0;
    case OPT_PACKAGE:
        rk_strv_push_dup(&a->packages, arg);
        return 0;
    case OPT_CHECK_UNIT:
        rk_strv_push_dup(&a->units, arg);
        return 0;
    case OPT_CHECK_NETWORK:
        rk_strv_push_dup(&a->network, arg);
        return 0;
    case OPT_NETWORK_TIMEOUT:
        errno = 0;
        a->network_timeout = strtod(arg, &end);
        if (errno || end == arg || *end || a->network_timeout <= 0 || a->network_timeout > 3600)
            return rk_error_set(err, 0, "--network-timeout takes seconds (0 < N <= 3600), not \"%s\"",
                                arg);
        return 0;
    case OPT_EXPECT_STATUS:
        if (!rk_parse_uint64(arg, &v) || v < 100 || v > 599)
            return rk_error_set(err, 0, "--expect-status takes an HTTP status (100-599), not \"%s\"",
                                arg);
        a->expect_status = (int)v;
        return 0;
    case OPT_JOBS:
        if (!rk_parse_uint64(arg, &v) || v < 1 || v > 64)
            return rk_error_set(err, 0, "--jobs takes a number from 1 to 64, not \"%s\"", arg);
        a->jobs = (int)v;
        return 0;
    case OPT_BOOT_TIMEOUT:
        if (!rk_parse_uint64(arg, &v) || v < 1 || v > 3600)
            return rk_error_set(err, 0, "--boot-timeout takes seconds (1-3600), not \"%s\"", arg);
        a->boot_timeout = (int)v;
        return 0;
    case OPT_JUNIT:
        a->junit = arg;
        return 0;
    case OPT_JSON:
        a->json = arg;
        return 0;
    }
    return -1;
}

static int pkgprobe_run(struct rk_cli *cli, const struct pkgprobe_args *a)
{
    struct probe_cli pc = {0};
    int status = open_env(cli, &pc);
    if (status)
        return status;
    rk_probe_env env;
    probe_env(&pc, a->boot_timeout, &env);
    _cleanup_report_ rk_report *rep = rk_report_new("postroj pkgprobe");
    for (size_t k = 0; a->images[k]; k++) {
        rk_pkgprobe_spec spec = {
            .image = a->images[k],
            .packages = a->packages,
            .units = a->units,
            .network = a->network,
            .network_timeout = a->network_timeout,
            .expect_status = a->expect_status,
        };
        rk_probe_run *run = rk_report_add_run(rep, a->images[k], NULL);
        rk_error *err = NULL;
        if (rk_pkgprobe(&env, &spec, run, &err) < 0) {
            close_env(&pc);
            return rk_cli_fail(cli, err, EXIT_USAGE);
        }
    }
    status = write_reports(cli, rep, a->junit, a->json, false);
    close_env(&pc);
    return status;
}

int rk_cmd_postroj_pkgprobe(struct rk_cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"image", required_argument, NULL, OPT_IMAGE},
        {"package", required_argument, NULL, OPT_PACKAGE},
        {"check-unit", required_argument, NULL, OPT_CHECK_UNIT},
        {"check-network", required_argument, NULL, OPT_CHECK_NETWORK},
        {"network-timeout", required_argument, NULL, OPT_NETWORK_TIMEOUT},
        {"expect-status", required_argument, NULL, OPT_EXPECT_STATUS},
        {"boot-timeout", required_argument, NULL, OPT_BOOT_TIMEOUT},
        {"junit", required_argument, NULL, OPT_JUNIT},
        {"json", required_argument, NULL, OPT_JSON},
        {NULL, 0, NULL, 0},
    };
    const struct rk_verb *verb = rk_cli_find_verb(rk_postroj_verbs, "pkgprobe");
    struct pkgprobe_args a = {0};
    int i = rk_cli_parse(cli, verb, argc, argv, "", longopts, false, pkgprobe_opt, &a);
    int status;
    if (i < 0)
        status = EXIT_USAGE;
    else if (i < argc)
        status = rk_cli_usage_error(cli, verb, "unexpected argument '%s'", argv[i]);
    else if (!a.images)
        status = rk_cli_usage_error(cli, verb, "--image is required");
    else if (absolute_rundir(cli) < 0)
        status = rk_cli_usage_error(cli, verb, "cannot resolve --runroot");
    else
        status = pkgprobe_run(cli, &a);
    pkgprobe_args_clear(&a);
    return status;
}

/* ---- selftest ---- */

/* One image's self test, in a child process (jobs run in parallel and the
 * runtime's signal handling is per process). Its report comes back as
 * JSON through fd. */
static void selftest_child(struct probe_cli *pc, const struct pkgprobe_args *a, bool web,
                           const char *label, const char *lock_path, int fd)
{
    rk_probe_env env;
    probe_env(pc, a->boot_timeout, &env);
    _cleanup_report_ rk_report *rep = rk_report_new("postroj selftest");
    rk_probe_run *run = rk_report_add_run(rep, label, NULL);
    const rk_catalogue_image *ci = rk_catalogue_lookup(pc->catalogue, label);
    _cleanup_strv_ char **pkgs = NULL, **units = NULL, **net = NULL;
    rk_pkgprobe_spec spec = {.image = label, .hostnamectl = !web, .journald = !web};
    if (web) {
        if (!ci) {
            rk_probe_run_add_check(run, RK_CHECK_TESTBED, "testbed", RK_CHECK_FAIL,
                                   "not a curated image: the web server to install is unknown");
            goto done;
        }
        rk_strv_push_dup(&pkgs, ci->webserver.package);
        rk_strv_push_dup(&units, ci->webserver.unit);
        rk_strv_push(&net, rk_xasprintf("http://localhost:%u", ci->webserver.port));
        spec.repo_packages = pkgs;
        spec.units = units;
        spec.network = net;
        spec.network_timeout = a->network_timeout > 0 ? a->network_timeout : 10;
        spec.serialize_lock = lock_path;
    }
    rk_error *err = NULL;
    if (rk_pkgprobe(&env, &spec, run, &err) < 0) {
        rk_probe_run_add_checkf(run, RK_CHECK_TESTBED, "testbed", RK_CHECK_FAIL, "%s", err->msg);
        rk_error_free(err);
    }
done:;
    _cleanup_free_ char *json = rk_report_json_string(rep);
    rk_write_all(fd, json, strlen(json));
}

static int selftest_run(struct rk_cli *cli, const struct pkgprobe_args *a, bool web)
{
    struct probe_cli pc = {0};
    int status = open_env(cli, &pc);
    if (status)
        return status;
    _cleanup_strv_ char **labels = a->images ? rk_strv_dup(a->images) : NULL;
    if (!labels)
        for (size_t k = 0; k < pc.catalogue->n; k++)
            rk_strv_push_dup(&labels, pc.catalogue->images[k].label);
    size_t n = rk_strv_len(labels);
    /* Web servers of parallel jobs share the host's network: one at a time
     * may run its server and be checked (installs still overlap). */
    rk_error *merr = NULL;
    if (rk_mkdir_p(cli->rundir, 0700, &merr) < 0) {
        close_env(&pc);
        return rk_cli_fail(cli, merr, EXIT_USAGE);
    }
    _cleanup_free_ char *lock_path = rk_xasprintf("%s/postroj-selftest.lock", cli->rundir);

    struct job {
        pid_t pid;
        int fd;
        char *out;
        size_t len;
    } *jobs = rk_xcalloc(n, sizeof(*jobs));
    size_t next = 0, running = 0, done = 0;
    fflush(NULL);
    while (done < n) {
        while (running < (size_t)a->jobs && next < n) {
            int p[2];
            if (pipe2(p, O_CLOEXEC) < 0) {
                /* The job is reported as failed below (no report). */
                done++;
                next++;
                continue;
            }
            pid_t pid = fork();
            if (pid == 0) {
                close(p[0]);
                selftest_child(&pc, a, web, labels[next], lock_path, p[1]);
                _exit(0);
            }
            close(p[1]);
            jobs[next].pid = pid;
            jobs[next].fd = p[0];
            next++;
            running++;
        }
        /* Collect whichever job ends first: read its whole report. */
        int wst;
        pid_t w = wait(&wst);
        if (w < 0)
            break;
        for (size_t k = 0; k < next; k++) {
            if (jobs[k].pid != w)
                continue;
            char buf[65536];
            ssize_t r;
            while ((r = read(jobs[k].fd, buf, sizeof(buf))) > 0) {
                jobs[k].out = rk_xrealloc(jobs[k].out, jobs[k].len + (size_t)r + 1);
                memcpy(jobs[k].out + jobs[k].len, buf, (size_t)r);
                jobs[k].len += (size_t)r;
            }
            close(jobs[k].fd);
            jobs[k].pid = 0;
            running--;
            done++;
        }
    }
    /* The report lists every image, in the order asked, whatever happened
     * to its job. */
    _cleanup_report_ rk_report *rep = rk_report_new("postroj selftest");
    for (size_t k = 0; k < n; k++) {
        rk_error *err = NULL;
        if (!jobs[k].out || rk_report_merge_json(rep, jobs[k].out, jobs[k].len, &err) < 0) {
            rk_probe_run *run = rk_report_add_run(rep, labels[k], NULL);
            rk_probe_run_add_checkf(run, RK_CHECK_TESTBED, "testbed", RK_CHECK_FAIL,
                                    "the probe process ended without a report%s%s",
                                    err ? ": " : "", err ? err->msg : "");
            rk_error_free(err);
        }
        free(jobs[k].out);
    }
    free(jobs);
    status = write_reports(cli, rep, a->junit, a->json, true);
    close_env(&pc);
    return status;
}

int rk_cmd_postroj_selftest(struct rk_cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"image", required_argument, NULL, OPT_IMAGE},
        {"jobs", required_argument, NULL, OPT_JOBS},
        {"network-timeout", required_argument, NULL, OPT_NETWORK_TIMEOUT},
        {"boot-timeout", required_argument, NULL, OPT_BOOT_TIMEOUT},
        {"junit", required_argument, NULL, OPT_JUNIT},
        {"json", required_argument, NULL, OPT_JSON},
        {NULL, 0, NULL, 0},
    };
    const struct rk_verb *verb = rk_cli_find_verb(rk_postroj_verbs, "selftest");
    struct pkgprobe_args a = {.jobs = 1};
    int i = rk_cli_parse(cli, verb, argc, argv, "", longopts, false, pkgprobe_opt, &a);
    int status;
    if (i < 0)
        status = EXIT_USAGE;
    else if (argc - i != 1 || (strcmp(argv[i], "hostnamectl") && strcmp(argv[i], "pkgprobe")))
        status = rk_cli_usage_error(cli, verb, "expects one probe: hostnamectl or pkgprobe");
    else if (absolute_rundir(cli) < 0)
        status = rk_cli_usage_error(cli, verb, "cannot resolve --runroot");
    else
        status = selftest_run(cli, &a, !strcmp(argv[i], "pkgprobe"));
    pkgprobe_args_clear(&a);
    return status;
}
