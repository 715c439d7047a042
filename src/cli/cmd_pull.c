/* racker pull */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/strv.h"
#include "cli/cli.h"
#include "cli/progress.h"
#include "image/pull.h"
#include "image/store.h"

enum { OPT_PLATFORM = RK_OPT_FIRST_VERB_OPTION, OPT_TLS_VERIFY, OPT_CERT_DIR };


int rk_cli_parse_bool(const char *s, int *ret)
{
    if (!s || !strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "yes"))
        *ret = 1;
    else if (!strcmp(s, "false") || !strcmp(s, "0") || !strcmp(s, "no"))
        *ret = 0;
    else
        return -1;
    return 0;
}

static int pull_opt(void *ctx, int opt, const char *arg, rk_error **err)
{
    rk_cli_pull_args *a = ctx;
    switch (opt) {
    case 'q':
        a->quiet = true;
        return 0;
    case OPT_PLATFORM:
        a->platform = arg;
        return 0;
    case OPT_CERT_DIR:
        a->cert_dir = arg;
        return 0;
    case OPT_TLS_VERIFY:
        if (rk_cli_parse_bool(arg, &a->tls_verify) < 0)
            return rk_error_set(err, 0, "--tls-verify takes true or false, not \"%s\"", arg);
        return 0;
    }
    return -1;
}

int rk_cli_pull_image(struct rk_cli *cli, rk_store *store, const char *ref,
                      const rk_cli_pull_args *a, rk_pull_result *res, rk_error **err)
{
    rk_progress *prog = rk_progress_new(cli->prog, a->quiet || cli->level == RK_LOG_QUIET);
    rk_pull_opts o = {
        .platform = a->platform,
        .tls_verify = a->tls_verify,
        .cert_dir = a->cert_dir,
        .on_event = rk_progress_pull_event,
        .ctx = prog,
    };
    int r = rk_pull(store, ref, &o, res, err);
    rk_progress_free(prog);
    return r;
}

int rk_cmd_pull(struct rk_cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"quiet", no_argument, NULL, 'q'},
        {"platform", required_argument, NULL, OPT_PLATFORM},
        {"tls-verify", optional_argument, NULL, OPT_TLS_VERIFY},
        {"cert-dir", required_argument, NULL, OPT_CERT_DIR},
        {NULL, 0, NULL, 0},
    };
    const struct rk_verb *verb = rk_cli_find_verb(rk_racker_verbs, "pull");
    rk_cli_pull_args a = {.tls_verify = -1};
    int i = rk_cli_parse(cli, verb, argc, argv, "q", longopts, false, pull_opt, &a);
    if (i < 0)
        return cli->usage_status;
    if (argc - i != 1)
        return rk_cli_usage_error(cli, verb, argc - i ? "expects exactly one image reference"
                                                      : "missing image reference");
    rk_error *err = NULL;
    _cleanup_store_ rk_store *store = NULL;
    if (rk_store_open(cli->root, &store, &err) < 0)
        return rk_cli_fail(cli, err, RK_EXIT_FAILURE);
    rk_pull_result res = {0};
    if (rk_cli_pull_image(cli, store, argv[i], &a, &res, &err) < 0)
        return rk_cli_fail(cli, err, RK_EXIT_FAILURE);
    /* Like docker pull: the full reference is the data on stdout. */
    if (!a.quiet)
        printf("%s\n", res.ref_name);
    rk_pull_result_clear(&res);
    return 0;
}
