/* Starting the container's command: identity, capabilities, seccomp, and
 * execve. Shared by `run` (after the sandbox is built) and `exec` (after
 * joining a running container's namespaces). Runs in the child; never
 * returns on success. */
#pragma once

#include <signal.h>
#include <stdbool.h>

#include "base/error.h"
#include "runtime/spec.h"

typedef struct rk_process_opts {
    int stdin_fd, stdout_fd, stderr_fd; /* become 0, 1, 2 (without a pty) */
    int pty_slave;                      /* >= 0: the controlling terminal and 0, 1, 2 */
    bool create_cwd;                    /* run: a missing working directory is made */
    bool pid1;                          /* the process is the namespace's init */
    const sigset_t *sigmask;            /* restored before exec */
    int sync_fd;                        /* closed in --init's reaper */
    const struct rk_seccomp_prog *seccomp; /* prepared filter, or NULL: compile */
    bool outlive_parent;                /* exec -d: no parent death signal */
} rk_process_opts;

/* Exit status for an execve() errno (127 for ENOENT, 126 otherwise). */
int rk_exec_status(int errnum);
/* Search PATH (from env) for argv0 and execve it. Returns -1 with the
 * Docker-style message and status 126/127. */
int rk_exec_in_path(char *const *argv, char *const *env, rk_error **err);

int rk_process_start(const rk_spec *spec, const rk_process_opts *o, rk_error **err);
