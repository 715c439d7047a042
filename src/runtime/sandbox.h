/* The container's file system, built by its first process inside its new
 * mount namespace (so nothing here is ever visible on the host, and all of
 * it goes away with the namespace).
 *
 * Every path that comes from the image or the user (mount points, volume
 * destinations, /etc files) is resolved inside the new root with
 * openat2(RESOLVE_IN_ROOT): an absolute symlink in an image cannot point a
 * mount at the host.
 *
 * Devices: Docker lets a container mknod anything (CAP_MKNOD) and relies
 * on the v1 devices cgroup to refuse opening it; that controller does not
 * exist on v2 and joining it costs an RCU grace period (cgroup.h). Racker
 * instead mounts everything the container can write nodev (the root, /dev,
 * /dev/shm, tmpfs mounts, volumes): a node it makes, or one shipped in an
 * image, cannot be opened. /dev's own nodes are bound in from a scratch
 * directory that allows devices, and the container's devpts is its own.
 * --privileged drops all of this. */
#pragma once

#include <stdbool.h>

#include "base/error.h"
#include "runtime/cgroup.h"
#include "runtime/spec.h"

typedef struct rk_sandbox {
    const rk_spec *spec;
    char *const *lowers;     /* overlay lower dirs, bottom first */
    const char *upper, *work; /* a kept container's writable layer; NULL: on
                              * the scratch tmpfs, gone with the container */
    const char *scratch;     /* an empty host directory; a tmpfs is mounted on
                              * it (in the container's namespace only) holding
                              * the root mount point and generated files */
    const char *hostname;
    const rk_cgroup_layout *cgroups;
    const rk_cgroup *cgroup;  /* the container's, for /sys/fs/cgroup */
} rk_sandbox;

/* Steps up to and including pivot_root: private propagation, scratch
 * tmpfs, overlay root, /proc (masked), /sys, /dev, /etc/hostname,
 * /etc/hosts, /etc/resolv.conf, volumes and tmpfs mounts, hostname,
 * loopback. */
int rk_sandbox_enter_root(const rk_sandbox *sb, rk_error **err);
/* After the process joined its cgroups and unshared its cgroup namespace:
 * /sys/fs/cgroup, and the root made read-only (--read-only) and nodev. */
int rk_sandbox_finish(const rk_sandbox *sb, rk_error **err);
/* Bind the pty slave (an open fd) onto /dev/console. */
int rk_sandbox_console(int slave_fd, rk_error **err);

/* Resolve path inside rootfd; with create, make missing directories (and
 * the last component: a directory, or an empty file when !want_dir).
 * Returns an O_PATH fd. */
int rk_open_in_root(int rootfd, const char *path, bool want_dir, bool create,
                    rk_error **err);
