/* racker logs: the output of a detached container, the console of an OS
 * container. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "cli/cli.h"
#include "image/store.h"
#include "runtime/container.h"
#include "runtime/state.h"

static int copy_file(const char *path, int out, rk_error **err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : rk_error_set(err, errno, "opening %s", path);
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return rk_error_set(err, errno, "reading %s", path);
        }
        if (rk_write_all(out, buf, (size_t)n) < 0)
            return rk_error_set(err, errno, "writing the log");
    }
    return 0;
}

int rk_cmd_logs(struct rk_cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {{NULL, 0, NULL, 0}};
    const struct rk_verb *verb = rk_cli_find_verb(rk_racker_verbs, "logs");
    int i = rk_cli_parse(cli, verb, argc, argv, "", longopts, false, NULL, NULL);
    if (i < 0)
        return cli->usage_status;
    if (argc - i != 1)
        return rk_cli_usage_error(cli, verb, "expects one container");
    rk_error *err = NULL;
    _cleanup_store_ rk_store *store = NULL;
    if (rk_store_open(cli->root, &store, &err) < 0)
        return rk_cli_fail(cli, err, RK_EXIT_FAILURE);
    rk_container_record rec;
    if (rk_container_find(rk_store_containers_dir(store), argv[i], &rec, &err) < 0)
        return rk_cli_fail(cli, err, RK_EXIT_FAILURE);
    _cleanup_free_ char *out = rk_path_join(rec.dir, "stdout.log");
    _cleanup_free_ char *errp = rk_path_join(rec.dir, "stderr.log");
    fflush(stdout);
    int r = 0;
    /* An OS container's log is its console (systemd's boot and shutdown
     * messages, getty); a --rm one keeps it in its runtime directory. A
     * payload's own output follows. */
    if (rec.spec.boot == RK_BOOT_YES) {
        _cleanup_free_ char *console = rk_path_join(rec.dir, "console.log");
        if (access(console, F_OK) < 0) {
            free(console);
            _cleanup_free_ char *rd = rk_path_join(cli->rundir, rec.id);
            console = rk_path_join(rd, "console.log");
        }
        r = copy_file(console, 1, &err);
    }
    if (r == 0)
        r = copy_file(out, 1, &err);
    if (r == 0)
        r = copy_file(errp, 2, &err);
    rk_container_record_clear(&rec);
    return r < 0 ? rk_cli_fail(cli, err, RK_EXIT_FAILURE) : 0;
}
