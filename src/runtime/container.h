/* Container lifecycle: run, exec, stop, remove. The orchestration lives
 * here; the pieces (sandbox, process, cgroup, tty, state) in their own
 * modules. Nothing here prints: errors come back as rk_error with the exit
 * status they map to (125 racker, 126 cannot execute, 127 not found). */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "base/error.h"
#include "runtime/boot.h"
#include "runtime/spec.h"
#include "runtime/state.h"

typedef struct rk_run_options {
    rk_spec *spec;
    const char *name;        /* NULL: made up */
    const char *image_id;    /* NULL for --rootfs */
    const char *image_ref;
    char *const *layers;     /* overlay lower dirs, bottom first */
    bool auto_remove;        /* --rm */
    bool detach;             /* -d */
    const char *containers_dir; /* <store>/containers */
    const char *rundir;      /* --runroot */
    int hold_fd;             /* closed once container.json exists (the store's
                              * shared lock, so prune cannot take the image's
                              * layers between lookup and record), or -1 */
    /* Foreground, without -t: the command's stdout and stderr both go to
     * output_fd (a pipe the caller reads, as provisioning does), stdin is
     * /dev/null, whatever racker's own stdio is. */
    bool capture_output;
    int output_fd;
    /* An OS container (spec->boot is RK_BOOT_YES, see rk_boot_spec_setup):
     * systemd boots as PID 1 and the payload, if any, runs in the booted
     * system once it is ready; NULL for an application container. */
    const rk_boot_options *boot;
} rk_run_options;

typedef struct rk_run_result {
    char id[RK_ID_LEN + 1];
    char *name;
    int exit_code;   /* the command's status, or 128+N for signal N */
    int signal;      /* N, or 0 */
    bool oom_killed; /* the memory controller killed something */
} rk_run_result;

void rk_run_result_clear(rk_run_result *r);

/* Create and start a container. In the foreground, returns once the
 * command has exited, with its status in res. Detached, returns once the
 * command runs (res->exit_code is 0); a supervisor process stays behind,
 * holding the container's lock, logging its output, and cleaning up at
 * exit.
 *
 * OS containers (o->boot): "runs" means booted (READY=1). The result is
 * the payload's status; then a --rm container is killed at once (its
 * writable layer is volatile), a kept one halted (SIGRTMIN+3, then
 * SIGKILL after RK_BOOT_HALT_GRACE seconds). Without a payload the
 * console is relayed until the system halts (status 0 for a halt,
 * poweroff or reboot). The console goes to console.log in the
 * container's directory (kept) or its runtime directory (--rm). */
int rk_container_run(const rk_run_options *o, rk_run_result *res, rk_error **err);

typedef struct rk_exec_options {
    const char *containers_dir, *rundir;
    const char *container;   /* name or ID */
    char *const *argv;
    char *const *env;        /* -e overrides, "K=V" */
    const char *user;        /* NULL: the container's */
    const char *cwd;         /* NULL: the container's */
    bool tty, interactive;
    /* Without tty: the command's stdout and stderr both go to output_fd
     * (a pipe or file the caller reads), stdin is /dev/null. */
    bool capture_output;
    int output_fd;
    /* Detached (exec -d): stdio on /dev/null, no tty; returns once the
     * command has been executed (*ret_code 0), leaving it running. */
    bool detach;
} rk_exec_options;

/* Run a command in a running container: its namespaces, its cgroup, its
 * capabilities, seccomp filter and no_new_privs. *ret_code as for run.
 * In an OS container: the cgroup RK_BOOT_EXEC_CGROUP below its own, and
 * the environment systemd gives services under the container's. */
int rk_container_exec(const rk_exec_options *o, int *ret_code, rk_error **err);

/* The stop signal, then SIGKILL after timeout seconds (negative: wait
 * forever); returns when the supervisor has recorded the exit. A stopped
 * container is not an error. */
int rk_container_stop(const char *containers_dir, const char *rundir,
                      const char *container, int timeout, int signal_override,
                      rk_error **err);

/* Remove a container: its record, writable layer, logs and runtime state.
 * A running one needs force (then it is killed first). */
int rk_container_remove(const char *containers_dir, const char *rundir,
                        const char *container, bool force, rk_error **err);

/* A container's record plus its current state, for ps. */
typedef struct rk_container_info {
    rk_container_record rec;
    rk_run_state state;
} rk_container_info;

int rk_container_list_all(const char *containers_dir, const char *rundir,
                          rk_container_info **ret, size_t *n, rk_error **err);
void rk_container_info_free(rk_container_info *v, size_t n);
