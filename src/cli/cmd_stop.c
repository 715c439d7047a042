/* racker stop, racker rm */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "cli/cli.h"
#include "image/store.h"
#include "runtime/container.h"
#include "runtime/spec.h"

struct stop_args {
    int timeout;
    int signal;
    bool force;
};

static int stop_opt(void *ctx, int opt, const char *arg, rk_error **err)
{
    struct stop_args *a = ctx;
    switch (opt) {
    case 't': {
        char *end;
        errno = 0;
        long v = strtol(arg, &end, 10);
        if (errno || *end || end == arg || v < -1 || v > 86400 * 365)
            return rk_error_set(err, 0, "--time takes a number of seconds, not \"%s\"", arg);
        a->timeout = (int)v;
        return 0;
    }
    case 's':
        if ((a->signal = rk_signal_parse(arg)) < 0)
            return rk_error_set(err, 0, "invalid signal \"%s\"", arg);
        return 0;
    case 'f':
        a->force = true;
        return 0;
    }
    return -1;
}

int rk_cmd_stop(struct rk_cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"time", required_argument, NULL, 't'},
        {"timeout", required_argument, NULL, 't'},
        {"signal", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    const struct rk_verb *verb = rk_cli_find_verb(rk_racker_verbs, "stop");
    struct stop_args a = {.timeout = 10};
    int i = rk_cli_parse(cli, verb, argc, argv, "t:s:", longopts, false, stop_opt, &a);
    if (i < 0)
        return cli->usage_status;
    if (i >= argc)
        return rk_cli_usage_error(cli, verb, "missing container");
    rk_error *err = NULL;
    _cleanup_store_ rk_store *store = NULL;
    if (rk_store_open(cli->root, &store, &err) < 0)
        return rk_cli_fail(cli, err, RK_EXIT_FAILURE);
    int status = 0;
    for (; i < argc; i++) {
        if (rk_container_stop(rk_store_containers_dir(store), cli->rundir, argv[i], a.timeout,
                              a.signal, &err) < 0) {
            status = rk_cli_fail(cli, err, RK_EXIT_FAILURE);
            err = NULL;
            continue;
        }
        printf("%s\n", argv[i]);
    }
    return status;
}

int rk_cmd_rm(struct rk_cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"force", no_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    const struct rk_verb *verb = rk_cli_find_verb(rk_racker_verbs, "rm");
    struct stop_args a = {0};
    int i = rk_cli_parse(cli, verb, argc, argv, "f", longopts, false, stop_opt, &a);
    if (i < 0)
        return cli->usage_status;
    if (i >= argc)
        return rk_cli_usage_error(cli, verb, "missing container");
    rk_error *err = NULL;
    _cleanup_store_ rk_store *store = NULL;
    if (rk_store_open(cli->root, &store, &err) < 0)
        return rk_cli_fail(cli, err, RK_EXIT_FAILURE);
    int status = 0;
    for (; i < argc; i++) {
        if (rk_container_remove(rk_store_containers_dir(store), cli->rundir, argv[i], a.force,
                                &err) < 0) {
            status = rk_cli_fail(cli, err, RK_EXIT_FAILURE);
            err = NULL;
            continue;
        }
        printf("%s\n", argv[i]);
    }
    return status;
}
