#include "runtime/sync.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/cleanup.h"

int rk_sync_send(int fd, enum rk_sync_type type, int passfd, rk_error **err)
{
    rk_sync_msg m;
    memset(&m, 0, offsetof(rk_sync_msg, text) + 1);
    m.type = type;
    struct iovec iov = {.iov_base = &m, .iov_len = offsetof(rk_sync_msg, text) + 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (passfd >= 0) {
        memset(&u, 0, sizeof(u));
        mh.msg_control = u.buf;
        mh.msg_controllen = sizeof(u.buf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &passfd, sizeof(int));
    }
    while (sendmsg(fd, &mh, MSG_NOSIGNAL) < 0)
        if (errno != EINTR)
            return rk_error_set(err, errno, "sending to the %s", "container setup channel");
    return 0;
}

void rk_sync_send_error(int fd, const rk_error *err, int fallback_status)
{
    rk_sync_msg m;
    memset(&m, 0, sizeof(m));
    m.type = RK_SYNC_ERROR;
    m.status = err && err->status ? err->status : fallback_status;
    m.errnum = err ? err->errnum : 0;
    snprintf(m.text, sizeof(m.text), "%s", err && err->msg ? err->msg : "container setup failed");
    size_t len = offsetof(rk_sync_msg, text) + strlen(m.text) + 1;
    while (send(fd, &m, len, MSG_NOSIGNAL) < 0 && errno == EINTR) {
    }
}

int rk_sync_recv(int fd, rk_sync_msg *msg, int *passfd, rk_error **err)
{
    memset(msg, 0, sizeof(*msg));
    if (passfd)
        *passfd = -1;
    struct iovec iov = {.iov_base = msg, .iov_len = sizeof(*msg) - 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                        .msg_controllen = sizeof(u.buf)};
    ssize_t n;
    while ((n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC)) < 0)
        if (errno != EINTR)
            return rk_error_set(err, errno, "reading from the container setup channel");
    if (n == 0)
        return 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int got;
            memcpy(&got, CMSG_DATA(c), sizeof(int));
            if (passfd && *passfd < 0)
                *passfd = got;
            else
                close(got);
        }
    if ((size_t)n < offsetof(rk_sync_msg, text))
        return rk_error_set(err, EPROTO, "short message on the container setup channel");
    return 1;
}

int rk_sync_error_from_msg(const rk_sync_msg *m, rk_error **err)
{
    rk_error_set_status(err, m->status ? m->status : 125, 0, "%s", m->text);
    if (err && *err)
        (*err)->errnum = m->errnum;
    return -1;
}
