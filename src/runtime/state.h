/* Container records and runtime state.
 *
 * Two places, two lifetimes:
 *   <store>/containers/<id>/      persistent (survives reboots):
 *     container.json              id, name, image_id, image_ref, created,
 *                                 command, the spec ("config"), layers
 *     upper/, work/               the writable layer of a kept container
 *     stdout.log, stderr.log      output of detached containers
 *   <rundir>/<id>/                runtime (tmpfs, gone at reboot):
 *     lock                        flock-ed exclusively by the supervisor for
 *                                 as long as it lives
 *     state.json                  status, pids, cgroups, exit code
 *
 * A "running" state whose lock nobody holds is a container whose
 * supervisor died: the kernel killed the container with it (parent-death
 * signal), so it is reported as exited. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/error.h"
#include "runtime/spec.h"

#define RK_ID_LEN 64

typedef struct rk_container_record {
    char *id;
    char *name;
    char *image_id;  /* "sha256:..." or NULL for --rootfs */
    char *image_ref; /* as the user wrote it, or the rootfs path */
    char *created;   /* RFC 3339 */
    bool auto_remove;
    bool detached;
    char **layers;   /* overlay lower dirs, bottom first */
    char *dir;       /* <store>/containers/<id> (not stored) */
    rk_spec spec;
} rk_container_record;

void rk_container_record_clear(rk_container_record *r);

enum rk_container_status {
    RK_STATUS_CREATED,
    RK_STATUS_RUNNING,
    RK_STATUS_EXITED,
};

typedef struct rk_run_state {
    enum rk_container_status status;
    pid_t pid;                      /* the container's PID 1, host view */
    unsigned long long pid_start;   /* its start time (/proc/PID/stat), against pid reuse */
    pid_t supervisor;
    int exit_code;                  /* -1 unknown */
    bool oom_killed;
    bool supervisor_died;           /* computed: state said running, lock was free */
    char *started, *finished;       /* RFC 3339 or NULL */
    char **cgroups;                 /* the container's cgroup directories */
} rk_run_state;

void rk_run_state_clear(rk_run_state *s);
const char *rk_container_status_name(enum rk_container_status s);

/* "2024-05-01T12:00:00.123456789Z" */
char *rk_now_rfc3339(void);
/* A new 64-hex-digit ID. */
void rk_container_new_id(char out[RK_ID_LEN + 1]);
/* Docker's rule: [a-zA-Z0-9][a-zA-Z0-9_.-]* */
bool rk_container_name_valid(const char *name);

/* Create <containers_dir>/<id>/ and its container.json. Under a lock on
 * <containers_dir>/../locks/containers.lock the name is checked against
 * every other container (or one is made up when r->name is NULL).
 * `durable` fsyncs (kept containers); --rm ones skip it. Error status 125
 * for a name in use. */
int rk_container_record_create(const char *containers_dir, rk_container_record *r,
                               bool durable, rk_error **err);
int rk_container_record_load(const char *containers_dir, const char *id,
                             rk_container_record *ret, rk_error **err);
/* By full name, full ID or unique ID prefix. ENOENT: "no such container". */
int rk_container_find(const char *containers_dir, const char *name_or_id,
                      rk_container_record *ret, rk_error **err);
/* Every record, sorted by creation time (newest first). */
int rk_container_list(const char *containers_dir, rk_container_record **ret,
                      size_t *n, rk_error **err);
void rk_container_list_free(rk_container_record *v, size_t n);
/* Remove <containers_dir>/<id> entirely. */
int rk_container_record_remove(const char *containers_dir, const char *id,
                               rk_error **err);

/* <rundir>/<id>/, created, and its lock taken (LOCK_EX). Returns the lock
 * fd (close-on-exec). */
int rk_run_state_lock_new(const char *rundir, const char *id, rk_error **err);
int rk_run_state_write(const char *rundir, const char *id, const rk_run_state *s,
                       rk_error **err);
/* Read the state and fill supervisor_died. A container without state
 * (after a reboot) reads as exited with exit code -1. */
int rk_run_state_read(const char *rundir, const char *id, rk_run_state *ret,
                      rk_error **err);
/* Is the supervisor still holding the lock? */
bool rk_run_state_supervised(const char *rundir, const char *id);
/* Wait (blocking) until the supervisor has released the lock. */
int rk_run_state_wait_released(const char *rundir, const char *id, rk_error **err);
int rk_run_state_remove(const char *rundir, const char *id, rk_error **err);

/* Start time of a process (field 22 of /proc/PID/stat), 0 if gone. */
unsigned long long rk_proc_start_time(pid_t pid);
