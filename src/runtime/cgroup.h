/* Control groups on v1, v2 and hybrid hosts.
 *
 * The layout (which hierarchies are mounted where, and racker's own cgroup
 * in each) is parsed from /proc/self/mountinfo and /proc/self/cgroup; the
 * parser is pure, so unit tests run it on fake trees (a prefix is put in
 * front of every mount point).
 *
 * Placement: each container gets `racker-<id>` in every hierarchy it
 * joins. On v1 hierarchies that directory sits under racker's own cgroup
 * (a session's memory cgroup stays in charge of its containers). On v2 it
 * sits under the root: v2 forbids enabling controllers in a cgroup that
 * has processes ("no internal processes"), and only the root is exempt.
 *
 * Cost: moving a process between v1 cgroups takes the global
 * cgroup_threadgroup_rwsem for writing, which waits for an RCU grace
 * period (10-15 ms on this kind of host) unless one just passed. A v2
 * cgroup is entered at birth instead (clone3 CLONE_INTO_CGROUP), which
 * costs nothing. So where a v2 tree exists (v2 and hybrid hosts) the
 * container's own cgroup is its v2 one, and v1 hierarchies are joined only
 * for the limits they enforce (memory, pids, cpu) or when asked to (an OS
 * container's systemd wants its named hierarchy). Device access is not
 * left to the v1 devices controller: the runtime mounts everything the
 * container can write nodev (see sandbox.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

enum rk_cgroup_mode {
    RK_CGROUP_NONE,   /* nothing mounted */
    RK_CGROUP_V1,     /* v1 controllers only */
    RK_CGROUP_V2,     /* unified at /sys/fs/cgroup */
    RK_CGROUP_HYBRID, /* v1 controllers plus a v2 tree (/sys/fs/cgroup/unified) */
};

typedef struct rk_cgroup_hier {
    char *mountpoint;  /* with the prefix: "/sys/fs/cgroup/memory" */
    char *name;        /* the directory name under /sys/fs/cgroup: "memory",
                        * "cpu,cpuacct", "systemd", "unified" or "" (v2 at the top) */
    char *controllers; /* v1: "memory", "cpu,cpuacct", "name=systemd"; v2: "" */
    bool v2;
    char *own;         /* racker's cgroup in this hierarchy: "/" or "/a/b" */
} rk_cgroup_hier;

typedef struct rk_cgroup_layout {
    enum rk_cgroup_mode mode;
    rk_cgroup_hier *h;
    size_t n;
    bool fake; /* a test tree: files are created rather than expected */
} rk_cgroup_layout;

const char *rk_cgroup_mode_name(enum rk_cgroup_mode m);

/* Parse the texts of /proc/self/mountinfo and /proc/self/cgroup. Only
 * hierarchies under <prefix>/sys/fs/cgroup count. prefix may be NULL. */
int rk_cgroup_layout_parse(const char *mountinfo, const char *proc_cgroup,
                           const char *prefix, rk_cgroup_layout **ret,
                           rk_error **err);
/* The running host's layout. */
int rk_cgroup_layout_load(rk_cgroup_layout **ret, rk_error **err);
void rk_cgroup_layout_free(rk_cgroup_layout *l);

typedef struct rk_cgroup_limits {
    int64_t memory;     /* bytes, 0 = none; swap is limited to the same (none) */
    int64_t pids;       /* 0 = none */
    int64_t cpu_quota;  /* us per cpu_period, 0 = none */
    int64_t cpu_period;
    bool all_hierarchies; /* join every v1 hierarchy too, not only the limiting ones */
    bool named_systemd;   /* join the v1 name=systemd hierarchy (an OS container's
                           * systemd keeps its units there on v1 and hybrid hosts) */
} rk_cgroup_limits;

/* A container's cgroup: one directory per joined hierarchy. */
typedef struct rk_cgroup {
    char **dirs;   /* absolute directories, one per hierarchy */
    bool *v2;      /* per dir */
    size_t n;
    int v2_fd;     /* the v2 directory, for CLONE_INTO_CGROUP, or -1 */
    bool fake;
} rk_cgroup;

void rk_cgroup_free(rk_cgroup *cg);

/* Could a container join this hierarchy? Every one but the v1 cpuset,
 * whose cpus and mems would have to be copied in first. */
bool rk_cgroup_hier_joinable(const rk_cgroup_hier *h);
/* Does a container with these limits join it? The v2 tree always; v1
 * hierarchies on a v1-only host always, else for a limit they enforce or
 * with all_hierarchies. */
bool rk_cgroup_hier_needed(const rk_cgroup_layout *l, const rk_cgroup_hier *h,
                           const rk_cgroup_limits *lim);

/* Create the container's cgroups and apply the limits. A limit whose
 * controller is missing is an error (status 125), not silently ignored. */
int rk_cgroup_create(const rk_cgroup_layout *l, const char *name,
                     const rk_cgroup_limits *lim, rk_cgroup **ret,
                     rk_error **err);
/* Rebuild from the directories recorded in the container's state. */
rk_cgroup *rk_cgroup_from_dirs(char *const *dirs);
/* Move pid (0: the caller) into every hierarchy; with skip_v2, not the v2
 * one (the process was born there with CLONE_INTO_CGROUP). */
int rk_cgroup_enter(const rk_cgroup *cg, pid_t pid, bool skip_v2, rk_error **err);
/* Move the calling thread into every v1 hierarchy (and v2 unless
 * skip_v2), by writing "0" to `tasks`: migrating only the caller's own
 * thread skips the global cgroup_threadgroup_rwsem that a cgroup.procs
 * write takes for writing (and with it the RCU grace period, 7-10 ms
 * here; 0.04 ms this way). For a single-threaded process (a freshly
 * cloned child) that moves the whole process. */
int rk_cgroup_enter_self(const rk_cgroup *cg, bool skip_v2, rk_error **err);
/* The cgroup `name` below each of cg's directories (created when create
 * is true), with its v2 directory open for CLONE_INTO_CGROUP. */
int rk_cgroup_subgroup(const rk_cgroup *cg, const char *name, bool create,
                       rk_cgroup **ret, rk_error **err);
/* Does entering need any write (are there v1 directories)? */
bool rk_cgroup_has_v1(const rk_cgroup *cg);
/* Remove the directories, child cgroups first (an OS container's systemd
 * made a tree below its own). The processes must be gone. Missing ones
 * are fine. */
int rk_cgroup_destroy(const rk_cgroup *cg, rk_error **err);
/* Did the memory controller OOM-kill something in this cgroup? */
bool rk_cgroup_oom_killed(const rk_cgroup *cg);

/* Mount the container's view of the cgroup hierarchies at target (inside
 * the container, after it unshared its cgroup namespace, so every joined
 * hierarchy shows the container's own cgroup as its root): cgroup2 on a v2
 * host; on v1 and hybrid a tmpfs with one mount per hierarchy of cg (and
 * `unified` on hybrid), as systemd-nspawn does. */
int rk_cgroup_mount_in_container(const rk_cgroup_layout *l, const rk_cgroup *cg,
                                 const char *target, bool writable, rk_error **err);
