/* The command line layer: global options, the verb table, output helpers.
 * This is the only layer that prints to the user. */
#pragma once

#include <getopt.h>
#include <stdbool.h>

#include "base/error.h"
#include "base/log.h"

/* Exit statuses of racker itself (Docker's convention). */
#define RK_EXIT_FAILURE 125 /* racker failed: bad flag, bad reference... */
#define RK_EXIT_CANNOT_EXEC 126
#define RK_EXIT_NOT_FOUND 127

struct rk_cli {
    const char *prog;   /* "racker" or "postroj" */
    char *root;         /* image store (--root, RACKER_ROOT) */
    char *rundir;       /* runtime state (--runroot, RACKER_RUNDIR) */
    enum rk_log_level level;
    int usage_status;   /* exit status for usage errors (125 racker, 20 postroj) */
};

/* Option codes for the global options every verb accepts. */
enum {
    RK_OPT_ROOT = 0x1000,
    RK_OPT_RUNROOT,
    RK_OPT_DEBUG,
    RK_OPT_VERBOSE,
    RK_OPT_VERSION,
    RK_OPT_HELP,
    RK_OPT_FIRST_VERB_OPTION, /* verbs number their own long options from here */
};

#define RK_CLI_GLOBAL_LONGOPTS                                                 \
    {"root", required_argument, NULL, RK_OPT_ROOT},                            \
        {"runroot", required_argument, NULL, RK_OPT_RUNROOT},                  \
        {"debug", no_argument, NULL, RK_OPT_DEBUG},                            \
        {"verbose", no_argument, NULL, RK_OPT_VERBOSE},                        \
        {"version", no_argument, NULL, RK_OPT_VERSION},                        \
        {"help", no_argument, NULL, RK_OPT_HELP}

struct rk_verb {
    const char *name;
    int (*fn)(struct rk_cli *cli, int argc, char **argv);
    const char *summary;
    const char *usage; /* full --help text after "Usage: PROG " */
};

/* Handle a global option met while parsing a verb's options. Returns 1 when
 * handled; exits for --help and --version; 0 for an unknown option. */
int rk_cli_handle_global(struct rk_cli *cli, const struct rk_verb *verb,
                         int opt, const char *arg);
/* Parse options for a verb: runs getopt_long over argv with the verb's own
 * options plus the globals; each verb-specific option is passed to `cb`.
 * `stop_at_operand` stops at the first non-option (for run and exec, whose
 * command belongs to the container). Returns the index of the first operand,
 * or -1 after printing a usage error. */
typedef int (*rk_opt_cb)(void *ctx, int opt, const char *arg, rk_error **err);
int rk_cli_parse(struct rk_cli *cli, const struct rk_verb *verb, int argc,
                 char **argv, const char *shortopts,
                 const struct option *verb_longopts, bool stop_at_operand,
                 rk_opt_cb cb, void *ctx);

/* Print "PROG: error: MSG" for err and return the exit status it maps to
 * (err->status, else `fallback`). Frees err. */
int rk_cli_fail(struct rk_cli *cli, rk_error *err, int fallback);
/* A usage error: one line, plus a hint to --help. Returns usage_status. */
int rk_cli_usage_error(struct rk_cli *cli, const struct rk_verb *verb,
                       const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The global options' part of every --help. */
void rk_cli_print_global_help(void);

/* The shared main(): global options, then the verb from `verbs`. */
int rk_cli_main(int argc, char **argv, const char *prog, int usage_status,
                const struct rk_verb *verbs, void (*print_help)(struct rk_cli *cli));
int rk_cli_main_racker(int argc, char **argv);
int rk_cli_main_postroj(int argc, char **argv);

/* Verbs (src/cli/cmd_*.c). */
int rk_cmd_pull(struct rk_cli *cli, int argc, char **argv);
int rk_cmd_images(struct rk_cli *cli, int argc, char **argv);
int rk_cmd_rmi(struct rk_cli *cli, int argc, char **argv);
int rk_cmd_inspect(struct rk_cli *cli, int argc, char **argv);
int rk_cmd_image(struct rk_cli *cli, int argc, char **argv);
int rk_cmd_info(struct rk_cli *cli, int argc, char **argv);
int rk_cmd_run(struct rk_cli *cli, int argc, char **argv);
int rk_cmd_ps(struct rk_cli *cli, int argc, char **argv);
int rk_cmd_exec(struct rk_cli *cli, int argc, char **argv);
int rk_cmd_stop(struct rk_cli *cli, int argc, char **argv);
int rk_cmd_rm(struct rk_cli *cli, int argc, char **argv);
int rk_cmd_logs(struct rk_cli *cli, int argc, char **argv);

const struct rk_verb *rk_cli_find_verb(const struct rk_verb *table, const char *name);
int rk_cli_init(struct rk_cli *cli, const char *prog, int usage_status);
void rk_cli_done(struct rk_cli *cli);

extern const struct rk_verb rk_racker_verbs[];
/* --format table|json */
int rk_cli_parse_format(const char *arg, const char **ret, rk_error **err);
/* "true"/"false" (and 1/0, yes/no); NULL means true (a bare --flag). */
int rk_cli_parse_bool(const char *s, int *ret);

struct json_t;
struct rk_container_record;
struct rk_run_state;
/* `inspect CONTAINER`: the record and state in Docker's layout. */
struct json_t *rk_cli_container_json(const struct rk_container_record *rec,
                                     const struct rk_run_state *state);

struct rk_store;
struct rk_pull_result;
typedef struct rk_cli_pull_args {
    bool quiet;
    const char *platform; /* --platform */
    int tls_verify;       /* --tls-verify: -1 unset, 0, 1 */
    const char *cert_dir; /* --cert-dir */
} rk_cli_pull_args;
/* Pull with progress on stderr (bars on a terminal). Used by pull and run. */
int rk_cli_pull_image(struct rk_cli *cli, struct rk_store *store, const char *ref,
                      const rk_cli_pull_args *a, struct rk_pull_result *res,
                      rk_error **err);
