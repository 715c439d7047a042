/* Streaming extraction of one image layer into overlayfs format.
 *
 * A pull hands the compressed bytes of a layer blob to rk_unpack_feed() as
 * they arrive (from libcurl's write callback); the layer is unpacked while it
 * downloads. Two cores work on it: the feeding thread detects the
 * compression (gzip 1f 8b, zstd 28 b5 2f fd or a skippable frame, else plain
 * tar) and inflates (gzip with ISA-L, zstd with libzstd); an extraction
 * thread of our own hashes the plain tar stream, parses it with libarchive
 * and writes the files. A small bounded buffer sits between them.
 *
 * The layer directory holds this layer only, in the format overlayfs expects
 * of a lowerdir:
 *   - an OCI whiteout DIR/.wh.NAME becomes a character device 0:0 DIR/NAME;
 *   - an opaque marker DIR/.wh..wh..opq becomes trusted.overlay.opaque="y"
 *     on DIR;
 *   both only when layers lie below (!is_bottom): on the bottom layer there
 *   is nothing to hide, so they are dropped. Whiteouts only hide lower
 *   layers: a real entry of the same layer with the same name wins, in
 *   either order. When a whiteout and a directory of the same name meet in
 *   one layer, the directory becomes opaque, since the whiteout removed
 *   every lower child of it. A later entry replaces an earlier one of the
 *   same name (a directory over a directory keeps its children and takes
 *   the new metadata). Other .wh..wh.* names (aufs bookkeeping) are dropped.
 *   trusted.overlay.* and user.overlay.* xattrs in the tar are dropped: only
 *   the unpacker decides what overlayfs sees.
 *
 * Paths: leading '/' is stripped and "." and ".." are resolved lexically,
 * with ".." at the top staying at the top (as containerd does), so
 * "../../etc/x" lands in LAYER/etc/x. Every parent directory is then opened
 * with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)
 * below the layer root, so a symlink met on the way (absolute or relative)
 * resolves inside the layer, never on the host. A parent this layer does
 * not have yet is walked name by name as the merged view would resolve
 * it: a symlink there, in this layer or a lower one (usrmerge's bin ->
 * usr/bin), is followed inside the root, so "bin/foo" lands in usr/bin/foo
 * rather than in a new bin directory that would hide the lower /bin; the
 * missing directories are created (with the mode, owner and times of the
 * same directory in a lower layer when there is one, else 0755 root). The
 * final component is never followed: entries are created with O_EXCL /
 * mkdirat / symlinkat / mknodat / linkat relative to the parent's fd, after
 * removing what was there.
 * Metadata is set through fds (fchown, fchmod, futimens, or AT_EMPTY_PATH
 * and /proc/self/fd for O_PATH fds), never by path.
 *
 * Metadata kept: numeric uid/gid (never a name lookup), all mode bits
 * (chmod comes after chown, which clears setuid), atime and mtime with
 * nanoseconds (atime = mtime when the tar has none), xattrs from pax
 * SCHILY.xattr / LIBARCHIVE.xattr records (security.capability, ACLs as
 * system.posix_acl_* xattrs), hardlinks, device nodes, fifos, sparse files.
 * Directory times are set once everything is written. Symlink targets are
 * stored verbatim. Sockets are skipped (as tar does). Text ACL records
 * (SCHILY.acl.*) are not applied.
 *
 * Hardlinks: the target is resolved inside this layer. A target that only
 * exists in a lower layer (lower_fds) is copied (data, owner, mode, xattrs,
 * times): layers are separate directories and must stay independent, so a
 * link across them is not possible in general (another file system) and
 * would tie two immutable layers to one inode. A target that is nowhere, is
 * hidden by a whiteout or opaque directory, or is a directory, is an error.
 *
 * Limits: a name longer than PATH_MAX fails; data stored with a hardlink
 * entry is ignored; xattrs of a symlink copied from a lower layer are not
 * copied; lower layers' opaque directories are not consulted when walking
 * a parent (only for hardlink targets).
 * Memory: the ring (1 MiB by default) plus the decoder: ISA-L's state
 * (~100 KiB), or for zstd the frame's window, which the frame chooses (up
 * to libzstd's 128 MiB limit; the usual levels use 1-8 MiB).
 *
 * Needs root (or the matching capabilities) for chown, mknod, trusted.*
 * xattrs and linkat(AT_EMPTY_PATH). The layer may contain setuid files and
 * device nodes: the store must keep its directories closed to other users.
 *
 * On any error, feed/finish fail and the extraction stops; the directory is
 * then half-written and the caller must remove it. rk_unpack_free() stops a
 * running extraction and joins its thread. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/digest.h"
#include "base/error.h"

typedef struct rk_unpack rk_unpack;

typedef struct rk_unpack_opts {
    int root_fd; /* the empty layer directory (O_PATH or O_DIRECTORY) */
    const int
        *lower_fds; /* roots of the layers below, topmost first; may be NULL */
    size_t n_lower;
    bool is_bottom; /* no layers below: whiteouts need not be recorded */
    /* The buffer between the two threads: n_chunks chunks of chunk_size
     * bytes. 0 means the defaults (see unpack.c); for benchmarks. */
    size_t chunk_size;
    unsigned n_chunks;
} rk_unpack_opts;

enum rk_unpack_compression {
    RK_UNPACK_UNKNOWN = 0, /* not enough bytes seen yet */
    RK_UNPACK_NONE,
    RK_UNPACK_GZIP,
    RK_UNPACK_ZSTD,
};

typedef struct rk_unpack_stats {
    enum rk_unpack_compression compression;
    uint64_t bytes_in;  /* compressed bytes fed */
    uint64_t bytes_tar; /* uncompressed bytes (what diff_id covers) */
    uint64_t entries;   /* tar entries handled; final after rk_unpack_finish */
    /* Seconds the feeding thread waited for room in the buffer, and the
     * extraction thread for data (the latter final after finish): the side
     * that waits less is the bottleneck. */
    double wait_feed_s;
    double wait_extract_s;
} rk_unpack_stats;

/* The fds in `o` are duplicated: the caller may close its own. Starts the
 * extraction thread. */
int rk_unpack_new(const rk_unpack_opts *o, rk_unpack **ret, rk_error **err);
/* Compressed bytes, in order, in pieces of any size. May block while the
 * extraction thread catches up. After a failure every later call fails. */
int rk_unpack_feed(rk_unpack *u, const void *buf, size_t len, rk_error **err);
/* All bytes were fed: waits for the extraction to complete and writes
 * "sha256:<hex>" of the whole uncompressed stream (trailing data after the
 * tar's end included) to diff_id. Fails on a truncated stream. */
int rk_unpack_finish(rk_unpack *u, char diff_id[RK_DIGEST_LEN + 1],
                     rk_error **err);
/* Stops a running extraction (no thread is left behind) and frees. */
void rk_unpack_free(rk_unpack *u);
static inline void rk_unpack_freep(rk_unpack **u)
{
    if (*u) {
        rk_unpack_free(*u);
        *u = NULL;
    }
}
#define _cleanup_unpack_ __attribute__((cleanup(rk_unpack_freep)))

/* Only from the feeding thread, or after finish. */
void rk_unpack_get_stats(const rk_unpack *u, rk_unpack_stats *ret);
const char *rk_unpack_compression_name(enum rk_unpack_compression c);

/* new + feed everything read from fd + finish + free. */
int rk_unpack_fd(const rk_unpack_opts *o, int fd,
                 char diff_id[RK_DIGEST_LEN + 1], rk_error **err);
