#include "config.h"

#include "cli/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/strv.h"

void rk_cli_print_global_help(void)
{
    printf("\nGlobal options:\n"
           "  --root DIR      image store (default %s, or $RACKER_ROOT)\n"
           "  --runroot DIR   runtime state (default %s, or $RACKER_RUNDIR)\n"
           "  --verbose       more progress detail on stderr\n"
           "  --debug         debug output on stderr\n"
           "  --version       print the version and exit\n"
           "  --help          print this help and exit\n",
           RACKER_DEFAULT_ROOT, RACKER_DEFAULT_RUNDIR);
}

static void print_verb_help(struct rk_cli *cli, const struct rk_verb *verb)
{
    printf("Usage: %s %s\n", cli->prog, verb->usage);
    rk_cli_print_global_help();
}

int rk_cli_handle_global(struct rk_cli *cli, const struct rk_verb *verb,
                         int opt, const char *arg)
{
    switch (opt) {
    case RK_OPT_ROOT:
        free(cli->root);
        cli->root = rk_xstrdup(arg);
        return 1;
    case RK_OPT_RUNROOT:
        free(cli->rundir);
        cli->rundir = rk_xstrdup(arg);
        return 1;
    case RK_OPT_DEBUG:
        cli->level = RK_LOG_DEBUG;
        rk_log_init(cli->prog, cli->level);
        return 1;
    case RK_OPT_VERBOSE:
        if (cli->level < RK_LOG_VERBOSE)
            cli->level = RK_LOG_VERBOSE;
        rk_log_init(cli->prog, cli->level);
        return 1;
    case RK_OPT_VERSION:
        printf("%s version %s\n", cli->prog, RACKER_VERSION);
        exit(0);
    case RK_OPT_HELP:
        if (verb)
            print_verb_help(cli, verb);
        exit(0);
    default:
        return 0;
    }
}

int rk_cli_usage_error(struct rk_cli *cli, const struct rk_verb *verb,
                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *m = rk_xvasprintf(fmt, ap);
    va_end(ap);
    if (verb)
        fprintf(stderr, "%s: %s: %s (see '%s %s --help')\n", cli->prog,
                verb->name, m, cli->prog, verb->name);
    else
        fprintf(stderr, "%s: %s (see '%s --help')\n", cli->prog,
                m, cli->prog);
    return cli->usage_status;
}

int rk_cli_fail(struct rk_cli *cli, rk_error *err, int fallback)
{
    int status = fallback;
    if (err) {
        fprintf(stderr, "%s: error: %s\n", cli->prog, err->msg);
        if (err->status)
            status = err->status;
        rk_error_free(err);
    }
    return status;
}

int rk_cli_parse(struct rk_cli *cli, const struct rk_verb *verb, int argc,
                 char **argv, const char *shortopts,
                 const struct option *verb_longopts, bool stop_at_operand,
                 rk_opt_cb cb, void *ctx)
{
    static const struct option globals[] = {RK_CLI_GLOBAL_LONGOPTS};
    size_t nverb = 0;
    while (verb_longopts && verb_longopts[nverb].name)
        nverb++;
    size_t nglob = RK_ELEMENTSOF(globals);
    _cleanup_free_ struct option *all =
        rk_xcalloc(nverb + nglob + 1, sizeof(struct option));
    memcpy(all, verb_longopts, nverb * sizeof(struct option));
    memcpy(all + nverb, globals, nglob * sizeof(struct option));
    /* A leading '+' stops at the first operand; ':' reports a missing
     * argument separately from an unknown option. */
    _cleanup_free_ char *so = rk_xasprintf("%s:%s", stop_at_operand ? "+" : "",
                                           shortopts ? shortopts : "");
    optind = 0; /* full reset of getopt's state (glibc) */
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, so, all, NULL)) != -1) {
        if (opt == '?') {
            if (optopt && optopt < 0x100)
                return rk_cli_usage_error(cli, verb, "unknown option '-%c'", optopt),
                       -1;
            return rk_cli_usage_error(cli, verb, "unknown option '%s'",
                                      argv[optind - 1]),
                   -1;
        }
        if (opt == ':') {
            if (optopt && optopt < 0x100)
                return rk_cli_usage_error(cli, verb, "option '-%c' needs a value",
                                          optopt),
                       -1;
            return rk_cli_usage_error(cli, verb, "option '%s' needs a value",
                                      argv[optind - 1]),
                   -1;
        }
        if (rk_cli_handle_global(cli, verb, opt, optarg))
            continue;
        rk_error *err = NULL;
        if (!cb || cb(ctx, opt, optarg, &err) < 0) {
            int st = cli->usage_status;
            if (err) {
                fprintf(stderr, "%s: %s: %s (see '%s %s --help')\n", cli->prog,
                        verb->name, err->msg, cli->prog, verb->name);
                rk_error_free(err);
            } else {
                rk_cli_usage_error(cli, verb, "unexpected option");
            }
            (void)st;
            return -1;
        }
    }
    return optind;
}

int rk_cli_main(int argc, char **argv, const char *prog, int usage_status,
                const struct rk_verb *verbs, void (*print_help)(struct rk_cli *cli))
{
    struct rk_cli cli;
    rk_cli_init(&cli, prog, usage_status);
    static const struct option globals[] = {RK_CLI_GLOBAL_LONGOPTS, {NULL, 0, NULL, 0}};
    optind = 0;
    opterr = 0;
    int opt, r;
    /* Global options before the verb; the verb parses the rest. */
    while ((opt = getopt_long(argc, argv, "+:h", globals, NULL)) != -1) {
        if (opt == 'h' || opt == RK_OPT_HELP) {
            print_help(&cli);
            r = 0;
            goto done;
        }
        if (opt == '?' || opt == ':') {
            r = rk_cli_usage_error(&cli, NULL, "%s '%s'",
                                   opt == '?' ? "unknown option" : "missing value for",
                                   argv[optind - 1]);
            goto done;
        }
        rk_cli_handle_global(&cli, NULL, opt, optarg);
    }
    if (optind >= argc) {
        print_help(&cli);
        r = usage_status;
        goto done;
    }
    const char *name = argv[optind];
    if (!strcmp(name, "help")) {
        print_help(&cli);
        r = 0;
        goto done;
    }
    if (!strcmp(name, "version")) {
        printf("%s version %s\n", cli.prog, RACKER_VERSION);
        r = 0;
        goto done;
    }
    const struct rk_verb *verb = rk_cli_find_verb(verbs, name);
    if (!verb) {
        r = rk_cli_usage_error(&cli, NULL, "unknown command '%s'", name);
        goto done;
    }
    /* The verb sees argv starting at its own name, as getopt expects. */
    r = verb->fn(&cli, argc - optind, argv + optind);
done:
    rk_cli_done(&cli);
    fflush(stdout);
    if (ferror(stdout)) {
        fprintf(stderr, "%s: error: writing to stdout failed\n", prog);
        if (r == 0)
            r = usage_status;
    }
    return r;
}

int rk_cli_parse_format(const char *arg, const char **ret, rk_error **err)
{
    if (strcmp(arg, "json") && strcmp(arg, "table"))
        return rk_error_set(err, 0, "--format takes table or json, not \"%s\"", arg);
    *ret = arg;
    return 0;
}
