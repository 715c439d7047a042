/* bench_unpack: unpack a layer blob (.tar.gz, .tar.zst or .tar) into a
 * tmpfs directory with rk_unpack, side by side with `igzip -dc | tar -x`
 * and `tar -xzf` (for zstd: `zstd -dc | tar -x`, `tar --zstd -xf`; plain:
 * `cat | tar -x`, `tar -xf`), and print wall time, peak RSS and ratios.
 *
 *   bench_unpack [-n RUNS] [-j PARALLEL] [-s FEED] [-c CHUNK_KIB] [-k CHUNKS]
 *                [-d DIR] [-P] FILE
 *   bench_unpack -o OUTDIR FILE     unpack once into OUTDIR and keep it
 *
 * Each run is a fresh child process (so peak RSS is that run's own),
 * unpacking into a fresh directory under DIR (default /dev/shm, a tmpfs:
 * a disk mounted with discard makes deletions slow the writes that
 * follow). The commands alternate their order from run to run. FEED is
 * the size of the pieces handed to rk_unpack_feed (default 16 KiB, what
 * libcurl's write callback delivers). -j unpacks the file PARALLEL times
 * at once, in threads of one process, as a pull of several layers does.
 * -P skips the peers. -o is for comparing a tree with tar's. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "image/unpack.h"

static const char *file;
static size_t feed_size = 16 * 1024;
static size_t chunk_size;
static unsigned n_chunks;
static int parallel = 1;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct job {
    char dir[256];
    char diff_id[RK_DIGEST_LEN + 1];
    rk_unpack_stats stats;
    int rc;
    char *msg;
};

static void *unpack_job(void *arg)
{
    struct job *j = arg;
    rk_error *err = NULL;
    j->rc = -1;
    _cleanup_close_ int in = open(file, O_RDONLY | O_CLOEXEC);
    _cleanup_close_ int root = open(j->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (in < 0 || root < 0) {
        j->msg = rk_xasprintf("open: %s", strerror(errno));
        return NULL;
    }
    rk_unpack_opts o = {.root_fd = root,
                        .is_bottom = true,
                        .chunk_size = chunk_size,
                        .n_chunks = n_chunks};
    rk_unpack *u = NULL;
    _cleanup_free_ char *buf = rk_xmalloc(feed_size);
    if (rk_unpack_new(&o, &u, &err) < 0)
        goto out;
    for (;;) {
        ssize_t n = read(in, buf, feed_size);
        if (n < 0) {
            rk_error_set(&err, errno, "read");
            goto out;
        }
        if (n == 0)
            break;
        if (rk_unpack_feed(u, buf, (size_t)n, &err) < 0)
            goto out;
    }
    if (rk_unpack_finish(u, j->diff_id, &err) < 0)
        goto out;
    rk_unpack_get_stats(u, &j->stats);
    j->rc = 0;
out:
    rk_unpack_free(u);
    if (err) {
        j->msg = rk_xstrdup(err->msg);
        rk_error_free(err);
    }
    return NULL;
}

/* In the child: unpack into dirs[0..parallel). */
static int run_racker(char **dirs)
{
    struct job *jobs = rk_xcalloc((size_t)parallel, sizeof(*jobs));
    pthread_t *th = rk_xcalloc((size_t)parallel, sizeof(*th));
    for (int i = 0; i < parallel; i++) {
        snprintf(jobs[i].dir, sizeof(jobs[i].dir), "%s", dirs[i]);
        if (pthread_create(&th[i], NULL, unpack_job, &jobs[i]) != 0)
            return 1;
    }
    int bad = 0;
    for (int i = 0; i < parallel; i++) {
        pthread_join(th[i], NULL);
        if (jobs[i].rc < 0) {
            fprintf(stderr, "bench_unpack: %s\n", jobs[i].msg);
            bad = 1;
        } else if (i == 0) {
            const rk_unpack_stats *s = &jobs[i].stats;
            fprintf(stderr,
                    "  %s %s, %llu entries, %llu -> %llu bytes, waited: "
                    "feeder %.3f s, extractor %.3f s\n",
                    rk_unpack_compression_name(s->compression), jobs[i].diff_id,
                    (unsigned long long)s->entries,
                    (unsigned long long)s->bytes_in,
                    (unsigned long long)s->bytes_tar, s->wait_feed_s,
                    s->wait_extract_s);
        }
        free(jobs[i].msg);
    }
    free(jobs);
    free(th);
    return bad;
}

enum cmd { CMD_RACKER, CMD_PIPE, CMD_TAR, CMD_N };
/* The peers for each kind of blob: a two-process pipeline with the fastest
 * stand-alone decompressor, and tar decompressing by itself. */
static const char *cmd_name[CMD_N] = {"rk_unpack", "igzip -dc | tar -x",
                                      "tar -xzf"};
static const char *cmd_sh[CMD_N] = {NULL, "igzip -dc \"$1\" | tar -x",
                                    "tar -xzf \"$1\""};

static void pick_peers(void)
{
    unsigned char m[4] = {0};
    _cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, m, sizeof(m)) < 0)
        return;
    if (m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd) {
        cmd_name[CMD_PIPE] = "zstd -dc | tar -x";
        cmd_sh[CMD_PIPE] = "zstd -q -dc \"$1\" | tar -x";
        cmd_name[CMD_TAR] = "tar --zstd -xf";
        cmd_sh[CMD_TAR] = "tar --zstd -xf \"$1\"";
    } else if (!(m[0] == 0x1f && m[1] == 0x8b)) {
        cmd_name[CMD_PIPE] = "cat | tar -x";
        cmd_sh[CMD_PIPE] = "cat \"$1\" | tar -x";
        cmd_name[CMD_TAR] = "tar -xf";
        cmd_sh[CMD_TAR] = "tar -xf \"$1\"";
    }
}

static int run_cmd(enum cmd c, char **dirs, double *secs, long *rss_kib)
{
    double t0 = now();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (c == CMD_RACKER)
            _exit(run_racker(dirs));
        /* Peers: PARALLEL pipelines at once through one shell. */
        _cleanup_free_ char *script = rk_xstrdup("");
        for (int i = 0; i < parallel; i++) {
            char *s =
                rk_xasprintf("%s%s -C \"${%d}\" & ", script, cmd_sh[c], i + 2);
            free(script);
            script = s;
        }
        char *s = rk_xasprintf("%swait", script);
        char **argv = rk_xcalloc((size_t)parallel + 6, sizeof(char *));
        argv[0] = "sh";
        argv[1] = "-c";
        argv[2] = s;
        argv[3] = "sh";
        argv[4] = (char *)file;
        for (int i = 0; i < parallel; i++)
            argv[5 + i] = dirs[i];
        execvp("sh", argv);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0)
        return -1;
    *secs = now() - t0;
    *rss_kib = ru.ru_maxrss;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -1;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int runs = 5;
    bool peers = true;
    const char *where = "/dev/shm";
    const char *keep = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "n:j:s:c:k:d:Po:")) != -1) {
        switch (opt) {
        case 'o':
            keep = optarg;
            break;
        case 'n':
            runs = atoi(optarg);
            break;
        case 'j':
            parallel = atoi(optarg);
            break;
        case 's':
            feed_size = (size_t)atol(optarg);
            break;
        case 'c':
            chunk_size = (size_t)atol(optarg) * 1024;
            break;
        case 'k':
            n_chunks = (unsigned)atoi(optarg);
            break;
        case 'd':
            where = optarg;
            break;
        case 'P':
            peers = false;
            break;
        default:
            fprintf(stderr, "usage: bench_unpack [-n RUNS] [-j PARALLEL] "
                            "[-s FEED] [-c CHUNK_KIB] [-k CHUNKS] [-d DIR] "
                            "[-P] FILE\n");
            return 2;
        }
    }
    if (optind != argc - 1 || runs < 1 || parallel < 1 || feed_size < 1) {
        fprintf(stderr, "bench_unpack: one FILE expected\n");
        return 2;
    }
    file = argv[optind];
    struct stat st;
    if (stat(file, &st) < 0) {
        fprintf(stderr, "bench_unpack: %s: %s\n", file, strerror(errno));
        return 1;
    }
    if (keep) {
        if (mkdir(keep, 0755) < 0 && errno != EEXIST) {
            fprintf(stderr, "bench_unpack: %s: %s\n", keep, strerror(errno));
            return 1;
        }
        double t0 = now();
        char *one[1] = {(char *)keep};
        int r = run_racker(one);
        fprintf(stderr, "  %.3f s\n", now() - t0);
        return r;
    }
    pick_peers();
    bool have_igzip = system("command -v igzip >/dev/null 2>&1") == 0;
    _cleanup_free_ char *top = rk_xasprintf("%s/rk-bench-XXXXXX", where);
    if (!mkdtemp(top)) {
        fprintf(stderr, "bench_unpack: mkdtemp %s: %s\n", top, strerror(errno));
        return 1;
    }
    char **dirs = rk_xcalloc((size_t)parallel, sizeof(char *));
    for (int i = 0; i < parallel; i++)
        dirs[i] = rk_xasprintf("%s/%d", top, i);

    /* Warm the page cache so every command reads the blob from memory. */
    {
        _cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC);
        char b[1 << 16];
        while (fd >= 0 && read(fd, b, sizeof(b)) > 0) {
        }
    }
    fprintf(stderr, "%s: %lld bytes, %d run(s), %d in parallel, feed %zu\n",
            file, (long long)st.st_size, runs, parallel, feed_size);

    double *t[CMD_N];
    long rss[CMD_N] = {0};
    int nt[CMD_N] = {0};
    for (int c = 0; c < CMD_N; c++)
        t[c] = rk_xcalloc((size_t)runs, sizeof(double));
    int rc = 0;
    for (int r = 0; r < runs && !rc; r++) {
        for (int k = 0; k < CMD_N; k++) {
            enum cmd c = (enum cmd)((k + r) % CMD_N);
            if (c != CMD_RACKER && !peers)
                continue;
            if (c == CMD_PIPE && !have_igzip && strstr(cmd_sh[c], "igzip"))
                continue;
            for (int i = 0; i < parallel; i++) {
                rk_rm_rf(dirs[i], NULL);
                if (mkdir(dirs[i], 0755) < 0) {
                    rc = 1;
                    break;
                }
            }
            double secs;
            long kib;
            if (run_cmd(c, dirs, &secs, &kib) < 0) {
                fprintf(stderr, "bench_unpack: %s failed\n", cmd_name[c]);
                rc = 1;
                break;
            }
            fprintf(stderr, "  run %d %-20s %.3f s  %ld KiB\n", r + 1,
                    cmd_name[c], secs, kib);
            t[c][nt[c]++] = secs;
            if (kib > rss[c])
                rss[c] = kib;
        }
    }
    for (int i = 0; i < parallel; i++) {
        rk_rm_rf(dirs[i], NULL);
        free(dirs[i]);
    }
    free(dirs);
    rk_rm_rf(top, NULL);
    if (rc)
        return rc;

    double med[CMD_N] = {0};
    for (int c = 0; c < CMD_N; c++) {
        if (!nt[c])
            continue;
        qsort(t[c], (size_t)nt[c], sizeof(double), cmp_double);
        med[c] = t[c][nt[c] / 2];
    }
    printf("%-20s %10s %10s %12s %8s\n", "command", "median s", "best s",
           "peak RSS KiB", "ratio");
    for (int c = 0; c < CMD_N; c++) {
        if (!nt[c])
            continue;
        printf("%-20s %10.3f %10.3f %12ld %8.2f\n", cmd_name[c], med[c],
               t[c][0], rss[c], med[c] / med[CMD_RACKER]);
        free(t[c]);
    }
    return 0;
}
