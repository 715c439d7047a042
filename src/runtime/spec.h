/* The container spec: everything the runtime needs to create a container
 * and start its process, independent of where it came from (the command
 * line, an image config, container.json for exec).
 *
 * Also the pure parsers for the run options (volumes, tmpfs, env files,
 * sizes, CPU counts) and the merge of an image config with the user's
 * overrides. No I/O except rk_env_file_read(). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define RK_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

enum rk_mount_kind {
    RK_MOUNT_BIND,
    RK_MOUNT_TMPFS,
};

typedef struct rk_mount_spec {
    enum rk_mount_kind kind;
    char *source;  /* bind: absolute host path */
    char *target;  /* absolute path in the container */
    bool readonly;
    char *options; /* tmpfs: mount data ("size=64m,mode=1777"), or NULL */
} rk_mount_spec;

enum rk_network_mode {
    RK_NET_HOST, /* the host's network namespace (the default) */
    RK_NET_NONE, /* a new network namespace with only lo, up */
};

enum rk_boot_mode {
    RK_BOOT_NO,
    RK_BOOT_AUTO,
    RK_BOOT_YES,
};

/* How /sys/fs/cgroup looks inside the container. */
enum rk_cgroupfs_mode {
    RK_CGROUPFS_NONE, /* not mounted */
    RK_CGROUPFS_RO,   /* the container's own subtree, read-only (Docker) */
    RK_CGROUPFS_RW,   /* writable: what systemd as PID 1 needs */
};

typedef struct rk_spec {
    /* The process. */
    char **argv;       /* never empty once built */
    char **env;        /* "K=V"; HOME is added at start from passwd */
    char *cwd;         /* absolute; "/" by default */
    char *user;        /* "user[:group]" as given, resolved at start */
    bool tty;          /* -t: a pty from the container's devpts */
    bool interactive;  /* -i: stdin forwarded */
    bool init;         /* --init: a tiny reaper is PID 1, the command PID 2 */

    /* The sandbox. */
    char *hostname;
    enum rk_network_mode network;
    bool read_only;    /* --read-only root */
    bool privileged;
    uint64_t caps;     /* capabilities of the process */
    bool no_new_privs; /* true unless privileged */
    bool seccomp;      /* the default filter; false with privileged */
    rk_mount_spec *mounts; /* -v, --tmpfs, and hooks (boot), in order */
    size_t n_mounts;
    enum rk_cgroupfs_mode cgroupfs;

    /* Limits; 0 = none. */
    int64_t memory;     /* bytes */
    int64_t pids_limit;
    int64_t cpu_quota;  /* microseconds per period */
    int64_t cpu_period;

    /* Lifecycle. */
    enum rk_boot_mode boot;
    int stop_signal;    /* SIGTERM unless the image says otherwise */

    /* Hooks for OS containers (the boot issue), besides boot, cgroupfs
     * (RW for systemd), mounts (tmpfs on /run, /run/lock, /tmp; a bind of
     * /run/host/os-release) and env (container=racker, container_uuid,
     * NOTIFY_SOCKET):
     *   notify_socket  a host unix socket bound at /run/host/notify
     *   console        reserved: a pty on /dev/console without -t (today
     *                  /dev/console is the pty whenever -t is given) */
    char *notify_socket; /* host path, or NULL */
    bool console;
} rk_spec;

void rk_spec_init(rk_spec *s);
void rk_spec_clear(rk_spec *s);
void rk_spec_add_mount(rk_spec *s, const rk_mount_spec *m); /* copies */
void rk_mount_spec_clear(rk_mount_spec *m);

/* container.json's "config" object and back (what exec needs later). */
json_t *rk_spec_to_json(const rk_spec *s);
int rk_spec_from_json(const json_t *j, rk_spec *ret, rk_error **err);

/* -v SRC:DST[:OPTS]: SRC must be an absolute host path (relative ones are
 * resolved against cwd by the caller before), DST absolute; OPTS a comma
 * list of ro, rw (others refused). Error status 125. The source's
 * existence is checked by the runtime, not here. */
int rk_volume_parse(const char *s, rk_mount_spec *ret, rk_error **err);
/* --tmpfs DST[:OPTS] */
int rk_tmpfs_parse(const char *s, rk_mount_spec *ret, rk_error **err);

/* "-e K=V" gives "K=V"; "-e K" takes K from the host environment (env,
 * usually environ) and gives NULL when K is unset there, as Docker drops
 * it. Error for an empty name or one with '='-less junk like "=x". */
int rk_env_entry(const char *s, char *const *host_env, char **ret, rk_error **err);
/* Set or replace "K=V" in *env (by key). Takes ownership of kv. */
void rk_env_set(char ***env, char *kv);
/* The value of key in env, or NULL. */
const char *rk_env_get(char *const *env, const char *key);
/* An --env-file's text: one K=V or K per line; blank lines and lines
 * starting with '#' are skipped; leading whitespace is dropped, the
 * value is kept verbatim (no quotes are removed, as in Docker). */
int rk_env_file_parse(const char *text, const char *path, char *const *host_env,
                      char ***env, rk_error **err);
int rk_env_file_read(const char *path, char *const *host_env, char ***env,
                     rk_error **err);

/* "512", "64k", "100m", "1g" (also with a "b"; case-insensitive) in bytes. */
int rk_size_parse(const char *s, int64_t *ret, rk_error **err);
/* --cpus "1.5" into quota/period (period 100 ms, as Docker). */
int rk_cpus_parse(const char *s, int64_t *quota, int64_t *period, rk_error **err);
/* "SIGTERM", "TERM", "15", "RTMIN+3". -1 when invalid. */
int rk_signal_parse(const char *s);

/* argv from the image and the command line (Docker's rules): user
 * arguments replace Cmd; --entrypoint replaces Entrypoint and clears Cmd;
 * an empty --entrypoint ("") clears Entrypoint. entrypoint_override NULL
 * means not given. Error status 125 when nothing is left to run. */
int rk_spec_build_argv(char *const *img_entrypoint, char *const *img_cmd,
                       const char *entrypoint_override, char *const *user_args,
                       char ***ret, rk_error **err);
/* env: the image's, PATH added when missing, then overrides in order. */
char **rk_spec_build_env(char *const *img_env, char *const *overrides);
