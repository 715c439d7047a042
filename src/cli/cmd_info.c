/* racker info: where the store is and what the host can do. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "config.h"

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "cli/cli.h"
#include "image/store.h"
#include "runtime/cgroup.h"

enum { OPT_FORMAT = RK_OPT_FIRST_VERB_OPTION };

static int info_opt(void *ctx, int opt, const char *arg, rk_error **err)
{
    if (opt != OPT_FORMAT)
        return -1;
    return rk_cli_parse_format(arg, (const char **)ctx, err);
}

int rk_cmd_info(struct rk_cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {{"format", required_argument, NULL, OPT_FORMAT},
                                             {NULL, 0, NULL, 0}};
    const struct rk_verb *verb = rk_cli_find_verb(rk_racker_verbs, "info");
    const char *format = "table";
    int i = rk_cli_parse(cli, verb, argc, argv, "", longopts, false, info_opt, &format);
    if (i < 0)
        return cli->usage_status;
    if (i < argc)
        return rk_cli_usage_error(cli, verb, "takes no arguments");
    rk_error *err = NULL;
    _cleanup_store_ rk_store *store = NULL;
    if (rk_store_open(cli->root, &store, &err) < 0)
        return rk_cli_fail(cli, err, RK_EXIT_FAILURE);
    rk_image **imgs = NULL;
    size_t n = 0;
    if (rk_store_list_images(store, &imgs, &n, &err) < 0)
        return rk_cli_fail(cli, err, RK_EXIT_FAILURE);
    rk_image_list_free(imgs, n);
    struct utsname u;
    uname(&u);
    rk_cgroup_layout *cg = NULL;
    enum rk_cgroup_mode mode = RK_CGROUP_NONE;
    if (rk_cgroup_layout_load(&cg, NULL) == 0)
        mode = cg->mode;
    rk_cgroup_layout_free(cg);
    /* overlayfs is in /proc/filesystems once the module is loaded; a
     * missing entry may still autoload on the first mount. */
    _cleanup_free_ char *fs = NULL, *init = NULL;
    rk_read_file_at(AT_FDCWD, "/proc/filesystems", 0, &fs, NULL, NULL);
    bool overlay = fs && strstr(fs, "\toverlay\n");
    if (rk_read_file_at(AT_FDCWD, "/proc/1/comm", 0, &init, NULL, NULL) == 0)
        init[strcspn(init, "\n")] = 0;
    if (!strcmp(format, "json")) {
        _cleanup_json_ json_t *j = json_pack(
            "{s:s,s:s,s:s,s:I,s:{s:s,s:s,s:s},s:s,s:s,s:b}", "version", RACKER_VERSION,
            "store", rk_store_root(store), "runroot", cli->rundir, "images", (json_int_t)n,
            "kernel", "release", u.release, "machine", u.machine, "sysname", u.sysname,
            "cgroup", rk_cgroup_mode_name(mode), "init", init ? init : "?", "overlayfs",
            overlay);
        _cleanup_free_ char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", s);
        return 0;
    }
    printf("Version:        %s\n", RACKER_VERSION);
    printf("Store:          %s\n", rk_store_root(store));
    printf("Run root:       %s\n", cli->rundir);
    printf("Images:         %zu\n", n);
    printf("Kernel:         %s %s %s\n", u.sysname, u.release, u.machine);
    printf("Cgroups:        %s%s\n", rk_cgroup_mode_name(mode),
           mode == RK_CGROUP_HYBRID ? " (v1 controllers, v2 tree at /sys/fs/cgroup/unified)" : "");
    printf("Host PID 1:     %s\n", init ? init : "?");
    printf("Overlayfs:      %s\n", overlay ? "yes" : "no");
    return 0;
}
