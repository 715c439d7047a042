/* libFuzzer target: rk_unpack on arbitrary layer blobs (plain tar, gzip or
 * zstd, detected from the bytes). Needs root: it really extracts, into a
 * fresh directory on a tmpfs for every input, over one lower layer (with a
 * file, an opaque directory, a whiteout and symlinks, so hardlink copies,
 * whiteout lookups and the merged-view walk run too).
 *
 * Byte 0 of the input picks the options: bit 0 is_bottom, bits 1-7 the
 * size of the pieces fed (1..128 bytes times 97, or everything at once for
 * 0). The rest is the blob.
 *
 * Oracle besides the sanitizers: the layer lives at BASE/o1/o2/L; every
 * directory on the way must keep exactly its own entries, so a write that
 * escapes the layer by a relative path aborts at once. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fs.h"
#include "image/unpack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base[128];
static char layer[160];
static int lower_fd = -1;

static void die(const char *what)
{
    perror(what);
    abort();
}

static void put(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || rk_write_all(fd, s, strlen(s)) < 0)
        die(path);
    close(fd);
}

static void cleanup(void)
{
    if (base[0])
        rk_rm_rf(base, NULL);
}

static void setup_once(void)
{
    if (base[0])
        return;
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(base, sizeof(base), "%s/rk-fuzz-unpack-%d", tmp, (int)getpid());
    char p[256];
    const char *dirs[] = {"",          "/o1",        "/o1/o2",
                          "/lower",    "/lower/usr", "/lower/usr/bin",
                          "/lower/opq"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", base, dirs[i]);
        if (mkdir(p, 0755) < 0)
            die(p);
    }
    snprintf(p, sizeof(p), "%s/lower/usr/bin/x", base);
    put(p, "lower x");
    snprintf(p, sizeof(p), "%s/lower/opq/t", base);
    put(p, "t");
    snprintf(p, sizeof(p), "%s/lower/opq", base);
    if (setxattr(p, "trusted.overlay.opaque", "y", 1, 0) < 0)
        die("setxattr");
    snprintf(p, sizeof(p), "%s/lower/gone", base);
    if (mknod(p, S_IFCHR, makedev(0, 0)) < 0)
        die("mknod");
    /* symlinks the merged-view walk follows: usrmerge, and two that point
     * out of the layer (they must resolve inside it) */
    const char *links[][2] = {
        {"usr/bin", "bin"}, {"/", "evil"}, {"../../../..", "up"}};
    for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
        snprintf(p, sizeof(p), "%s/lower/%s", base, links[i][1]);
        if (symlink(links[i][0], p) < 0)
            die(p);
    }
    snprintf(p, sizeof(p), "%s/lower", base);
    lower_fd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (lower_fd < 0)
        die(p);
    snprintf(layer, sizeof(layer), "%s/o1/o2/L", base);
    atexit(cleanup);
}

/* dir must hold exactly the names in `want`. */
static void expect_only(const char *dir, const char *const *want, size_t n)
{
    DIR *d = opendir(dir);
    if (!d)
        die(dir);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        bool ok = false;
        for (size_t i = 0; i < n; i++)
            ok |= !strcmp(de->d_name, want[i]);
        if (!ok) {
            fprintf(stderr, "escaped the layer: %s/%s\n", dir, de->d_name);
            abort();
        }
    }
    closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1 << 20))
        return 0;
    setup_once();
    if (mkdir(layer, 0755) < 0)
        die(layer);
    int root = open(layer, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        die(layer);
    rk_unpack_opts o = {
        .root_fd = root,
        .lower_fds = &lower_fd,
        .n_lower = 1,
        .is_bottom = data[0] & 1,
        .chunk_size = 4096,
        .n_chunks = 2,
    };
    size_t piece = (size_t)(data[0] >> 1) * 97;
    data++;
    size--;

    rk_unpack *u = NULL;
    rk_error *err = NULL;
    char id[RK_DIGEST_LEN + 1];
    if (rk_unpack_new(&o, &u, &err) < 0)
        die("rk_unpack_new");
    int r = 0;
    size_t pos = 0;
    while (pos < size && r == 0) {
        size_t n = piece && piece < size - pos ? piece : size - pos;
        r = rk_unpack_feed(u, data + pos, n, &err);
        pos += n;
    }
    if (r == 0)
        r = rk_unpack_finish(u, id, &err);
    if (r == 0 && !rk_digest_valid(id))
        abort();
    if (r < 0 && (!err || !err->msg || !*err->msg))
        abort(); /* every failure says why */
    rk_unpack_free(u);
    rk_error_free(err);
    close(root);

    const char *in_o2[] = {"L"}, *in_o1[] = {"o2"},
               *in_base[] = {"o1", "lower"};
    char p[256];
    snprintf(p, sizeof(p), "%s/o1/o2", base);
    expect_only(p, in_o2, 1);
    snprintf(p, sizeof(p), "%s/o1", base);
    expect_only(p, in_o1, 1);
    expect_only(base, in_base, 2);
    const char *in_lower[] = {"usr", "opq", "gone", "bin", "evil", "up"};
    snprintf(p, sizeof(p), "%s/lower", base);
    expect_only(p, in_lower, 6);
    if (rk_rm_rf(layer, NULL) < 0)
        die("rm -rf layer");
    return 0;
}
