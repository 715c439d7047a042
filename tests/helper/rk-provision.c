/* rk-provision: a TEST DRIVER for src/runtime/provision.h, not a product
 * command (users get provisioning through `racker run --boot`). The
 * end-to-end tests call it until `racker run` provisions by itself.
 *
 *   rk-provision [--root STORE] [--runroot DIR] [--name REF] IMAGE
 *       provision IMAGE (found in STORE) unless its derived image exists;
 *       prints "found ID NAME" or "made ID NAME" on stdout, and each line
 *       of the package manager as "| LINE" on stderr
 *   rk-provision [--root STORE] find IMAGE
 *       prints "found ID" or "none"
 *   rk-provision [--root STORE] inspect IMAGE
 *       prints kind=..., and family=, tool=, key= and the commands when ready
 *
 * Exit status: 0 done, 125 failure (the error on stderr). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "image/store.h"
#include "runtime/provision.h"

static void print_line(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "| %s\n", line);
}

static const char *kind_name(rk_provision_kind k)
{
    switch (k) {
    case RK_PROVISION_NOT_OS: return "not-os";
    case RK_PROVISION_UNKNOWN_OS: return "unknown-os";
    case RK_PROVISION_IMPOSSIBLE: return "impossible";
    case RK_PROVISION_READY: return "ready";
    }
    return "?";
}

static int fail(rk_error *e)
{
    fprintf(stderr, "rk-provision: error: %s\n", e ? e->msg : "unknown");
    int st = e && e->status ? e->status : 125;
    rk_error_free(e);
    return st;
}

int main(int argc, char **argv)
{
    const char *root = "/var/lib/racker", *rundir = "/run/racker", *name = NULL;
    static const struct option longopts[] = {
        {"root", required_argument, NULL, 'r'},
        {"runroot", required_argument, NULL, 'R'},
        {"name", required_argument, NULL, 'n'},
        {"debug", no_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    enum rk_log_level level = RK_LOG_VERBOSE;
    int c;
    while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
        switch (c) {
        case 'r': root = optarg; break;
        case 'R': rundir = optarg; break;
        case 'n': name = optarg; break;
        case 'd': level = RK_LOG_DEBUG; break;
        default: return 2;
        }
    }
    rk_log_init("rk-provision", level);
    const char *verb = "provision";
    if (argc - optind == 2) {
        verb = argv[optind++];
    } else if (argc - optind != 1) {
        fprintf(stderr, "usage: rk-provision [--root S] [--runroot D] [--name REF] [find|inspect] IMAGE\n");
        return 2;
    }
    const char *ref = argv[optind];

    rk_error *err = NULL;
    _cleanup_store_ rk_store *store = NULL;
    _cleanup_image_ rk_image *base = NULL, *derived = NULL;
    if (rk_store_open(root, &store, &err) < 0 || rk_store_find_image(store, ref, &base, &err) < 0)
        return fail(err);

    if (!strcmp(verb, "inspect")) {
        rk_provision_plan plan;
        if (rk_provision_inspect(base, &plan, &err) < 0)
            return fail(err);
        printf("kind=%s\n", kind_name(plan.kind));
        if (plan.kind == RK_PROVISION_READY) {
            printf("family=%s\ntool=%s\nkey=%s\n", rk_os_family_name(plan.recipe.family),
                   rk_pkg_tool_name(plan.recipe.tool), plan.recipe.key);
            for (size_t i = 0; plan.recipe.commands[i]; i++)
                printf("command=%s\n", plan.recipe.commands[i]);
        } else {
            printf("reason=%s\n", plan.reason);
        }
        rk_provision_plan_clear(&plan);
        return 0;
    }
    if (rk_provision_find(store, base, &derived, &err) < 0)
        return fail(err);
    if (!strcmp(verb, "find")) {
        if (derived)
            printf("found %s\n", derived->id);
        else
            printf("none\n");
        return 0;
    }
    if (strcmp(verb, "provision") != 0) {
        fprintf(stderr, "rk-provision: unknown verb %s\n", verb);
        return 2;
    }
    if (derived) {
        printf("found %s %s\n", derived->id, derived->refs && derived->refs[0] ? derived->refs[0] : "-");
        return 0;
    }
    rk_provision_opts o = {
        .containers_dir = rk_store_containers_dir(store),
        .rundir = rundir,
        .on_line = print_line,
        .name = name,
    };
    if (rk_provision(store, base, &o, &derived, &err) < 0) {
        rk_error_wrap(&err, "provisioning %s", ref);
        return fail(err);
    }
    printf("made %s %s\n", derived->id, derived->refs && derived->refs[0] ? derived->refs[0] : "-");
    return 0;
}
