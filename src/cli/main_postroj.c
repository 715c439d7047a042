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
#include "cli/postroj.h"
#include "probe/catalogue.h"
#include "probe/report.h"

#define POSTROJ_EXIT_USAGE RK_PROBE_EXIT_USAGE

static int cmd_list_images(struct rk_cli *cli, int argc, char **argv);

const struct rk_verb rk_postroj_verbs[] = {
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
    {"pull", rk_cmd_postroj_pull, "pull and provision curated images",
     "pull LABEL|REF... | --all\n"
     "\nPull each image (a label of the catalogue, or any reference, resolved\n"
     "through registries.conf like racker's) and provision it with systemd\n"
     "when it has none, so that probes boot at once. One line per image on\n"
     "stdout: LABEL PASS REFERENCE IMAGE-ID, or LABEL FAIL REASON.\n"
     "\nOptions:\n"
     "  --all     every image of the catalogue; goes on past failures\n"
     "\nExit status: 0, 16 when an image could not be pulled or provisioned,\n"
     "20 on bad usage.\n"},
    {"pkgprobe", rk_cmd_postroj_pkgprobe, "install packages in a fresh container and check them",
     "pkgprobe --image=LABEL|REF [--package=URL|PATH]... [--check-unit=UNIT]...\n"
     "         [--check-network=URL]... [--network-timeout=SECONDS] [--expect-status=CODE]\n"
     "         [--junit=FILE] [--json=FILE] [--boot-timeout=SECONDS]\n"
     "\nBoot a fresh, volatile OS container of the image (pulled and provisioned\n"
     "when needed), install the packages (.deb with apt-get, .rpm with dnf, yum,\n"
     "microdnf or zypper; dependencies from the distribution's repositories;\n"
     "URLs are downloaded once into the store's cache), enable and start each\n"
     "unit and check that it is active, then check each URL from the host (the\n"
     "container shares its network): tcp://HOST:PORT waits for a connection,\n"
     "http:// and https:// for any HTTP answer (or exactly --expect-status).\n"
     "--image may be given several times.\n"
     "\nOne line per check on stdout, as autopkgtest writes them:\n"
     "  install:webfs_1.21_amd64.deb PASS\n"
     "  unit:webfs PASS\n"
     "  network:http://localhost:8000 PASS HTTP/1.1 200 OK\n"
     "--junit writes JUnit XML, --json a JSON report (with each failure's\n"
     "details: a unit's status and journal, the package manager's output).\n"
     "\nOptions:\n"
     "  --network-timeout=S   seconds each network check may take (default 5)\n"
     "  --boot-timeout=S      seconds until systemd must be up (default 30)\n"
     "\nExit status: 0 all passed, 2 some skipped, 4 some failed, 8 nothing ran,\n"
     "12 a package could not be installed, 16 the container failed, 20 bad usage.\n"},
    {"selftest", rk_cmd_postroj_selftest, "run the built-in probes over the catalogue",
     "selftest hostnamectl|pkgprobe [--image=LABEL]... [--jobs=N] [--junit=FILE] [--json=FILE]\n"
     "\nhostnamectl: boot each image and check hostnamectl and journald.\n"
     "pkgprobe: boot each image, install its distribution's web server\n"
     "(apache2, httpd...) from its repositories, check its unit and that it\n"
     "answers on its port.\n"
     "Every image of the catalogue, or those named with --image; N at a time\n"
     "(--jobs, default 1), each in its own container. One image failing does\n"
     "not stop the others; the report lists every image (lines LABEL/CHECK).\n"
     "\nExit status: as for pkgprobe, over all images.\n"},
    {NULL, NULL, NULL, NULL},
};

static void print_main_help(struct rk_cli *cli)
{
    printf("Usage: %s [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS...]\n\n"
           "Test binary packages in fresh containers of many distributions.\n\n"
           "Commands:\n",
           cli->prog);
    for (const struct rk_verb *v = rk_postroj_verbs; v->name; v++)
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
    const struct rk_verb *verb = rk_cli_find_verb(rk_postroj_verbs, "list-images");
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
    return rk_cli_main(argc, argv, "postroj", POSTROJ_EXIT_USAGE, rk_postroj_verbs, print_main_help);
}
