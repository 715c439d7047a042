/* racker exec */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/strv.h"
#include "cli/cli.h"
#include "image/store.h"
#include "runtime/container.h"
#include "runtime/spec.h"

extern char **environ;

struct exec_args {
    bool interactive, tty, detach;
    const char *user, *workdir;
    char **env;
};

static int exec_opt(void *ctx, int opt, const char *arg, rk_error **err)
{
    struct exec_args *a = ctx;
    switch (opt) {
    case 'i': a->interactive = true; return 0;
    case 'd': a->detach = true; return 0;
    case 't': a->tty = true; return 0;
    case 'u': a->user = arg; return 0;
    case 'w':
        if (arg[0] != '/')
            return rk_error_set(err, 0, "the working directory '%s' is not absolute", arg);
        a->workdir = arg;
        return 0;
    case 'e': {
        char *kv = NULL;
        if (rk_env_entry(arg, environ, &kv, err) < 0)
            return -1;
        if (kv)
            rk_strv_push(&a->env, kv);
        return 0;
    }
    }
    return -1;
}

int rk_cmd_exec(struct rk_cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"interactive", no_argument, NULL, 'i'},
        {"detach", no_argument, NULL, 'd'},
        {"tty", no_argument, NULL, 't'},
        {"user", required_argument, NULL, 'u'},
        {"workdir", required_argument, NULL, 'w'},
        {"env", required_argument, NULL, 'e'},
        {NULL, 0, NULL, 0},
    };
    const struct rk_verb *verb = rk_cli_find_verb(rk_racker_verbs, "exec");
    struct exec_args a = {0};
    int i = rk_cli_parse(cli, verb, argc, argv, "idtu:w:e:", longopts, true, exec_opt, &a);
    if (i < 0) {
        rk_strv_free(a.env);
        return cli->usage_status;
    }
    int status;
    rk_error *err = NULL;
    _cleanup_store_ rk_store *store = NULL;
    if (argc - i < 2) {
        status = rk_cli_usage_error(cli, verb, argc - i ? "missing command" : "missing container");
        goto out;
    }
    if (a.detach && a.tty) {
        status = rk_cli_usage_error(cli, verb, "-d cannot be combined with -t (nothing would hold the terminal)");
        goto out;
    }
    if (a.tty && a.interactive && !isatty(0)) {
        rk_error_set_status(&err, 125, 0, "the input device is not a TTY (-t with -i needs a terminal on stdin)");
        status = rk_cli_fail(cli, err, RK_EXIT_FAILURE);
        goto out;
    }
    if (rk_store_open(cli->root, &store, &err) < 0) {
        status = rk_cli_fail(cli, err, RK_EXIT_FAILURE);
        goto out;
    }
    rk_exec_options o = {
        .containers_dir = rk_store_containers_dir(store),
        .rundir = cli->rundir,
        .container = argv[i],
        .argv = argv + i + 1,
        .env = a.env,
        .user = a.user,
        .cwd = a.workdir,
        .tty = a.tty,
        .interactive = a.interactive && !a.detach,
        .detach = a.detach,
    };
    int code = 0;
    if (rk_container_exec(&o, &code, &err) < 0)
        status = rk_cli_fail(cli, err, RK_EXIT_FAILURE);
    else
        status = code;
out:
    rk_strv_free(a.env);
    return status;
}
