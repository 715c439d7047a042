/* The parent/child channel used while a container process is set up.
 *
 * One SOCK_SEQPACKET socketpair, close-on-exec on both ends. Messages are
 * small fixed structs; a pty master travels as SCM_RIGHTS. Errors raised
 * in the child travel back as RK_SYNC_ERROR (exit status, errno, message)
 * and are printed by the parent. The child's end closes when it execs, so
 * the parent reading EOF means "the command is running". */
#pragma once

#include <stdint.h>

#include "base/error.h"

enum rk_sync_type {
    RK_SYNC_GO = 1,   /* parent -> child: cgroups are set, carry on */
    RK_SYNC_PTY,      /* child -> parent: the pty master (fd attached) */
    RK_SYNC_ERROR,    /* child -> parent: setup failed, child exits */
    RK_SYNC_PIDFD,    /* exec's intermediate child -> parent: a pidfd of the
                       * process it started in the container (fd attached) */
};

typedef struct rk_sync_msg {
    uint32_t type;
    int32_t status; /* exit status the failure maps to (125, 126, 127) */
    int32_t errnum;
    char text[2000];
} rk_sync_msg;

int rk_sync_send(int fd, enum rk_sync_type type, int passfd, rk_error **err);
/* Report err to the parent (best effort; the child exits next). */
void rk_sync_send_error(int fd, const rk_error *err, int fallback_status);
/* 1 a message (*passfd >= 0 when one came with it), 0 EOF, -1 error. */
int rk_sync_recv(int fd, rk_sync_msg *msg, int *passfd, rk_error **err);
/* Turn a received RK_SYNC_ERROR into an rk_error. */
int rk_sync_error_from_msg(const rk_sync_msg *m, rk_error **err);
