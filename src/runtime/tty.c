#include "runtime/tty.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"

const int rk_forwarded_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
const unsigned rk_n_forwarded_signals = RK_ELEMENTSOF(rk_forwarded_signals);

int rk_pty_open(const char *devpts_dir, int *ret_master, int *ret_slave,
                rk_error **err)
{
    _cleanup_free_ char *ptmx = rk_path_join(devpts_dir, "ptmx");
    _cleanup_close_ int m = open(ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0)
        return rk_error_set(err, errno, "opening %s", ptmx);
    int unlock = 0;
    if (ioctl(m, TIOCSPTLCK, &unlock) < 0)
        return rk_error_set(err, errno, "unlocking the pty of %s", ptmx);
    int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0)
        return rk_error_set(err, errno, "opening the pty slave of %s", ptmx);
    *ret_master = TAKE_FD(m);
    *ret_slave = s;
    return 0;
}

int rk_term_make_raw(int fd, rk_term_saved *saved, rk_error **err)
{
    saved->fd = -1;
    if (tcgetattr(fd, &saved->tio) < 0)
        return rk_error_set(err, errno, "reading the terminal settings");
    struct termios raw = saved->tio;
    cfmakeraw(&raw);
    /* Keep output processing as the container's pty does it; only input
     * becomes raw, so ^C reaches the container instead of killing us. */
    raw.c_oflag = saved->tio.c_oflag;
    if (tcsetattr(fd, TCSADRAIN, &raw) < 0)
        return rk_error_set(err, errno, "setting the terminal to raw mode");
    saved->fd = fd;
    return 0;
}

void rk_term_restore(rk_term_saved *saved)
{
    if (saved->fd < 0)
        return;
    while (tcsetattr(saved->fd, TCSADRAIN, &saved->tio) < 0 && errno == EINTR) {
    }
    saved->fd = -1;
}

void rk_term_copy_winsize(int from, int to)
{
    struct winsize ws;
    if (from < 0 || to < 0)
        return;
    if (ioctl(from, TIOCGWINSZ, &ws) == 0 && (ws.ws_row || ws.ws_col))
        ioctl(to, TIOCSWINSZ, &ws);
}

int rk_signals_block(sigset_t *old, rk_error **err)
{
    sigset_t set;
    sigemptyset(&set);
    for (unsigned i = 0; i < rk_n_forwarded_signals; i++)
        sigaddset(&set, rk_forwarded_signals[i]);
    sigaddset(&set, SIGWINCH);
    if (sigprocmask(SIG_BLOCK, &set, old) < 0)
        return rk_error_set(err, errno, "blocking signals");
    int fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        sigprocmask(SIG_SETMASK, old, NULL);
        return rk_error_set(err, e, "creating a signalfd");
    }
    return fd;
}

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && !(fl & O_NONBLOCK))
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* The input side reached EOF: tell the container. */
static void input_eof(rk_relay_stream *s)
{
    s->done = true;
    if (s->to_is_pty) {
        /* A pty has no half-close: send the EOF character, which a
         * reader in canonical mode sees as end of file. */
        struct termios t;
        char eof = 4;
        if (tcgetattr(s->to, &t) == 0 && t.c_cc[VEOF])
            eof = (char)t.c_cc[VEOF];
        if (write(s->to, &eof, 1) < 0) {
        }
    } else {
        close(s->to);
        s->to = -1;
    }
}

/* Move bytes for one stream; a broken `to` (EPIPE on our stdout) ends
 * the stream. */
static void pump(rk_relay_stream *s, bool drain)
{
    for (;;) {
        if (s->len == 0) {
            ssize_t n = read(s->from, s->buf, sizeof(s->buf));
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno == EAGAIN)
                return;
            if (n <= 0) { /* EOF, or EIO from a pty master whose slave is gone */
                if (s->input)
                    input_eof(s);
                else
                    s->done = true;
                return;
            }
            s->len = (size_t)n;
            s->off = 0;
        }
        while (s->off < s->len) {
            ssize_t w = write(s->to, s->buf + s->off, s->len - s->off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0 && errno == EAGAIN)
                return; /* input side: wait for POLLOUT */
            if (w < 0) {
                s->done = true; /* the reader went away */
                s->len = s->off = 0;
                return;
            }
            s->off += (size_t)w;
        }
        s->len = s->off = 0;
        if (!drain)
            return; /* one buffer per wakeup: `from` may be blocking */
    }
}

int rk_relay_run(rk_relay *r, int *ret_code, int *ret_signal, rk_error **err)
{
    /* Only our own ends become non-blocking: racker's stdin and stdout
     * are shared with the caller (a shell would inherit the flag). */
    for (size_t i = 0; i < r->n; i++) {
        if (r->s[i].input)
            set_nonblock(r->s[i].to);
        else
            set_nonblock(r->s[i].from);
    }
    for (;;) {
        struct pollfd p[8];
        size_t np = 0, map[8];
        p[np] = (struct pollfd){.fd = r->pidfd, .events = POLLIN};
        map[np++] = 100;
        if (r->signal_fd >= 0) {
            p[np] = (struct pollfd){.fd = r->signal_fd, .events = POLLIN};
            map[np++] = 101;
        }
        for (size_t i = 0; i < r->n; i++) {
            rk_relay_stream *s = &r->s[i];
            if (s->done)
                continue;
            if (s->len > s->off)
                p[np] = (struct pollfd){.fd = s->to, .events = POLLOUT};
            else
                p[np] = (struct pollfd){.fd = s->from, .events = POLLIN};
            map[np++] = i;
        }
        int n = poll(p, np, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return rk_error_set(err, errno, "waiting for the container (poll)");
        }
        for (size_t k = 0; k < np; k++) {
            if (!p[k].revents)
                continue;
            if (map[k] == 101) {
                struct signalfd_siginfo si;
                while (read(r->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                    if ((int)si.ssi_signo == SIGWINCH)
                        rk_term_copy_winsize(r->winsize_src, r->winsize_dst);
                    else if (r->forward)
                        r->forward(r->ctx, (int)si.ssi_signo);
                }
            } else if (map[k] < 100) {
                rk_relay_stream *s = &r->s[map[k]];
                if (s->input && (p[k].revents & (POLLERR | POLLNVAL)) && s->len > s->off) {
                    s->done = true; /* the container closed its stdin */
                    continue;
                }
                pump(s, false);
            }
        }
        if (p[0].revents) {
            siginfo_t si;
            memset(&si, 0, sizeof(si));
            while (waitid(P_PIDFD, (id_t)r->pidfd, &si, WEXITED) < 0)
                if (errno != EINTR)
                    return rk_error_set(err, errno, "waiting for the container's process");
            if (si.si_code == CLD_EXITED) {
                *ret_code = si.si_status;
                *ret_signal = 0;
            } else {
                *ret_code = 128 + si.si_status;
                *ret_signal = si.si_status;
            }
            /* What the container wrote before it ended is still in the
             * pipes or the pty: hand it on, without waiting for more. */
            for (size_t i = 0; i < r->n; i++) {
                rk_relay_stream *s = &r->s[i];
                if (s->input || s->done)
                    continue;
                set_nonblock(s->from);
                pump(s, true);
            }
            return 0;
        }
    }
}
