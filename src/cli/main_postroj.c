/* postroj's verb table, top-level option parsing and list-images.
 *
 * Exit statuses follow autopkgtest (see probe/report.h): 20 is bad usage or
 * any other error outside the probes themselves. */
#include "config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/strv.h"
#include "cli/cli.h"
#include "probe/catalogue.h"
#include "probe/report.h"

#define POSTROJ_EXIT_USAGE RK_PROBE_EXIT_USAGE

static int cmd_list_images(struct rk_cli *cli, int argc, char **argv);

static const struct rk_verb postroj_verbs[] = {
    {"list-images", cmd_list_images, "list the curated images",
     "list-images [--format table|json|labels]\n"
     "\nList the curated images of postroj's catalogue.\n"
     "\nOptions:\n"
     "  --format F    table (default): LABEL, ALIASES (the other labels that "
     "select\n"
     "                the image, such as its version label debian-12) and "
     "REFERENCE\n"
     "                (what is pulled, through registries.conf like any "
     "reference);\n"
     "                json: an array of objects with \"label\", \"aliases\" "
     "(an array),\n"
     "                \"name\", \"release\", \"version\", \"family\" (debian, "
     "fedora, rhel,\n"
     "                suse or arch), \"package_manager\" (apt, dnf, yum, "
     "microdnf,\n"
     "                zypper or pacman) and \"reference\";\n"
     "                labels: a JSON array of the labels, as the original "
     "postroj\n"
     "                printed\n"
     "\nThe catalogue is read from $POSTROJ_CATALOGUE, else " RACKER_DATA_DIR
     "/postroj-images.json,\nelse the source tree's data/postroj-images.json.\n"
     "\nExit status: 0, or 20 on bad usage or an unreadable catalogue.\n"},
    {NULL, NULL, NULL, NULL},
};

static void print_main_help(struct rk_cli *cli)
{
    printf("Usage: %s [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS...]\n\n"
           "Test binary packages in fresh containers of many distributions.\n\n"
           "Commands:\n",
           cli->prog);
    for (const struct rk_verb *v = postroj_verbs; v->name; v++)
        printf("  %-12s %s\n", v->name, v->summary);
    rk_cli_print_global_help();
    printf(
        "\nExit status (autopkgtest's): 0 all checks passed, 2 some were "
        "skipped,\n"
        "4 some failed, 8 nothing ran, 12 a package could not be installed,\n"
        "16 the container failed, 20 bad usage or another error.\n"
        "Run '%s COMMAND --help' for a command's options.\n",
        cli->prog);
}

/* ---- list-images ---- */

enum { OPT_FORMAT = RK_OPT_FIRST_VERB_OPTION };

struct list_args {
    const char *format;
};

static int list_opt(void *ctx, int opt, const char *arg, rk_error **err)
{
    struct list_args *a = ctx;
    if (opt != OPT_FORMAT)
        return -1;
    if (strcmp(arg, "table") && strcmp(arg, "json") && strcmp(arg, "labels"))
        return rk_error_set(
            err, 0, "--format takes table, json or labels, not \"%s\"", arg);
    a->format = arg;
    return 0;
}

static json_t *image_json(const rk_catalogue_image *img)
{
    return json_pack("{s:s,s:o,s:s,s:s,s:s,s:s,s:s,s:s}", "label", img->label,
                     "aliases", rk_json_from_strv(img->aliases), "name",
                     img->name, "release", img->release, "version",
                     img->version, "family", img->family, "package_manager",
                     img->package_manager, "reference", img->reference);
}

static int cmd_list_images(struct rk_cli *cli, int argc, char **argv)
{
    const struct rk_verb *verb = rk_cli_find_verb(postroj_verbs, "list-images");
    static const struct option longopts[] = {
        {"format", required_argument, NULL, OPT_FORMAT},
        {NULL, 0, NULL, 0},
    };
    struct list_args a = {.format = "table"};
    int i =
        rk_cli_parse(cli, verb, argc, argv, "", longopts, false, list_opt, &a);
    if (i < 0)
        return cli->usage_status;
    if (i < argc)
        return rk_cli_usage_error(cli, verb, "takes no arguments (got '%s')",
                                  argv[i]);

    rk_error *err = NULL;
    _cleanup_catalogue_ rk_catalogue *cat = NULL;
    if (rk_catalogue_load_default(&cat, &err) < 0)
        return rk_cli_fail(cli, err, POSTROJ_EXIT_USAGE);
    rk_debug("catalogue: %s, %zu images", cat->path, cat->n);

    if (!strcmp(a.format, "json") || !strcmp(a.format, "labels")) {
        bool labels = !strcmp(a.format, "labels");
        _cleanup_json_ json_t *arr = json_array();
        for (size_t k = 0; k < cat->n; k++)
            json_array_append_new(arr, labels
                                           ? json_string(cat->images[k].label)
                                           : image_json(&cat->images[k]));
        _cleanup_free_ char *s =
            json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", s);
        return 0;
    }

    size_t wl = strlen("LABEL"), wa = strlen("ALIASES");
    for (size_t k = 0; k < cat->n; k++) {
        _cleanup_free_ char *al = rk_strv_join(cat->images[k].aliases, ",");
        if (strlen(cat->images[k].label) > wl)
            wl = strlen(cat->images[k].label);
        if (strlen(al) > wa)
            wa = strlen(al);
    }
    printf("%-*s  %-*s  %s\n", (int)wl, "LABEL", (int)wa, "ALIASES",
           "REFERENCE");
    for (size_t k = 0; k < cat->n; k++) {
        const rk_catalogue_image *img = &cat->images[k];
        _cleanup_free_ char *al = rk_strv_join(img->aliases, ",");
        printf("%-*s  %-*s  %s\n", (int)wl, img->label, (int)wa, *al ? al : "-",
               img->reference);
    }
    return 0;
}

/* ---- main ---- */

int rk_cli_main_postroj(int argc, char **argv)
{
    struct rk_cli cli;
    rk_cli_init(&cli, "postroj", POSTROJ_EXIT_USAGE);
    static const struct option globals[] = {RK_CLI_GLOBAL_LONGOPTS,
                                            {NULL, 0, NULL, 0}};
    optind = 0;
    opterr = 0;
    int opt;
    /* Global options before the verb; the verb parses the rest. */
    while ((opt = getopt_long(argc, argv, "+:h", globals, NULL)) != -1) {
        if (opt == 'h' || opt == RK_OPT_HELP) {
            print_main_help(&cli);
            rk_cli_done(&cli);
            return 0;
        }
        if (opt == '?' || opt == ':') {
            int st = rk_cli_usage_error(&cli, NULL, "%s '%s'",
                                        opt == '?' ? "unknown option"
                                                   : "missing value for",
                                        argv[optind - 1]);
            rk_cli_done(&cli);
            return st;
        }
        rk_cli_handle_global(&cli, NULL, opt, optarg);
    }
    if (optind >= argc) {
        print_main_help(&cli);
        rk_cli_done(&cli);
        return POSTROJ_EXIT_USAGE;
    }
    const char *name = argv[optind];
    if (!strcmp(name, "help")) {
        print_main_help(&cli);
        rk_cli_done(&cli);
        return 0;
    }
    if (!strcmp(name, "version")) {
        printf("%s version %s\n", cli.prog, RACKER_VERSION);
        rk_cli_done(&cli);
        return 0;
    }
    const struct rk_verb *verb = rk_cli_find_verb(postroj_verbs, name);
    if (!verb) {
        int st = rk_cli_usage_error(&cli, NULL, "unknown command '%s'", name);
        rk_cli_done(&cli);
        return st;
    }
    int r = verb->fn(&cli, argc - optind, argv + optind);
    rk_cli_done(&cli);
    fflush(stdout);
    if (ferror(stdout)) {
        fprintf(stderr, "%s: error: writing to stdout failed\n", cli.prog);
        if (r == 0)
            r = POSTROJ_EXIT_USAGE;
    }
    return r;
}
