/* racker logs: the output of a detached container, the console of an OS
 * container; with -f, followed while its supervisor lives. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/strv.h"
#include "cli/cli.h"
#include "image/store.h"
#include "runtime/container.h"
#include "runtime/state.h"

#define FOLLOW_POLL_MS 100

struct logs_args {
    bool follow;
    long long tail; /* lines from the end of each stream; -1: all */
};

static int logs_opt(void *ctx, int opt, const char *arg, rk_error **err)
{
    struct logs_args *a = ctx;
    switch (opt) {
    case 'f': a->follow = true; return 0;
    case 'n': {
        unsigned long long v;
        if (strcmp(arg, "all") == 0) {
            a->tail = -1;
            return 0;
        }
        if (!rk_parse_uint64(arg, &v) || v > (1ull << 40))
            return rk_error_set(err, 0, "--tail takes a number of lines or \"all\", not \"%s\"", arg);
        a->tail = (long long)v;
        return 0;
    }
    }
    return -1;
}

/* One stream: a log file and where we are in it. The file may not exist
 * yet (a container still starting); it is looked for again. */
struct stream {
    char *path;
    int out;   /* 1 or 2 */
    int fd;
    bool tail_done;
};

/* Where the last n lines of fd start (a final newline ends the last line,
 * it does not start another). */
static int tail_offset(int fd, long long n, off_t *ret, rk_error **err)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return rk_error_set(err, errno, "stat of a log");
    off_t end = st.st_size, pos = end;
    if (n == 0) {
        *ret = end;
        return 0;
    }
    char buf[65536];
    long long seen = 0;
    bool last = true;
    while (pos > 0) {
        size_t len = pos > (off_t)sizeof(buf) ? sizeof(buf) : (size_t)pos;
        pos -= (off_t)len;
        ssize_t r = pread(fd, buf, len, pos);
        if (r < 0) {
            if (errno == EINTR) {
                pos += (off_t)len;
                continue;
            }
            return rk_error_set(err, errno, "reading a log");
        }
        for (ssize_t i = r - 1; i >= 0; i--) {
            if (buf[i] != '\n')
                continue;
            if (last && pos + i == end - 1) {
                last = false;
                continue;
            }
            if (++seen == n) {
                *ret = pos + i + 1;
                return 0;
            }
        }
        last = false;
    }
    *ret = 0; /* fewer lines than n: all of it */
    return 0;
}

/* Copy what is new in the stream. Returns bytes copied, or -1. */
static ssize_t pump(struct stream *s, long long tail, rk_error **err)
{
    if (s->fd < 0) {
        s->fd = open(s->path, O_RDONLY | O_CLOEXEC);
        if (s->fd < 0)
            return errno == ENOENT ? 0 : rk_error_set(err, errno, "opening %s", s->path);
    }
    if (!s->tail_done) {
        s->tail_done = true;
        off_t off;
        if (tail >= 0) {
            if (tail_offset(s->fd, tail, &off, err) < 0)
                return -1;
            if (lseek(s->fd, off, SEEK_SET) < 0)
                return rk_error_set(err, errno, "seeking in %s", s->path);
        }
    }
    char buf[65536];
    ssize_t total = 0, n;
    while ((n = read(s->fd, buf, sizeof(buf))) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return rk_error_set(err, errno, "reading %s", s->path);
        }
        if (rk_write_all(s->out, buf, (size_t)n) < 0)
            return rk_error_set(err, errno, "writing the log");
        total += n;
    }
    return total;
}

int rk_cmd_logs(struct rk_cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"follow", no_argument, NULL, 'f'},
        {"tail", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    const struct rk_verb *verb = rk_cli_find_verb(rk_racker_verbs, "logs");
    struct logs_args a = {.tail = -1};
    int i = rk_cli_parse(cli, verb, argc, argv, "fn:", longopts, false, logs_opt, &a);
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

    /* An OS container's log is its console (systemd's boot and shutdown
     * messages, getty); a --rm one keeps it in its runtime directory. A
     * payload's own output follows. */
    struct stream s[3];
    size_t ns = 0;
    if (rec.spec.boot == RK_BOOT_YES) {
        char *console = rk_path_join(rec.dir, "console.log");
        if (access(console, F_OK) < 0) {
            free(console);
            _cleanup_free_ char *rd = rk_path_join(cli->rundir, rec.id);
            console = rk_path_join(rd, "console.log");
        }
        s[ns++] = (struct stream){.path = console, .out = 1, .fd = -1};
    }
    s[ns++] = (struct stream){.path = rk_path_join(rec.dir, "stdout.log"), .out = 1, .fd = -1};
    s[ns++] = (struct stream){.path = rk_path_join(rec.dir, "stderr.log"), .out = 2, .fd = -1};
    fflush(stdout);
    /* Docker's -f ends when the container does; ours when its supervisor
     * has gone (it records the exit), after a last read. */
    int r = 0;
    for (;;) {
        bool live = a.follow && rk_run_state_supervised(cli->rundir, rec.id);
        ssize_t got = 0;
        for (size_t k = 0; k < ns && r == 0; k++) {
            ssize_t n = pump(&s[k], a.tail, &err);
            if (n < 0)
                r = -1;
            else
                got += n;
        }
        if (r < 0 || !live)
            break;
        if (got == 0)
            poll(NULL, 0, FOLLOW_POLL_MS);
    }
    for (size_t k = 0; k < ns; k++) {
        if (s[k].fd >= 0)
            close(s[k].fd);
        free(s[k].path);
    }
    rk_container_record_clear(&rec);
    return r < 0 ? rk_cli_fail(cli, err, RK_EXIT_FAILURE) : 0;
}
