/* Terminals and the I/O relay between racker and a container process.
 *
 * Without -t the container gets racker's own stdio file descriptors (a
 * pipe, a file, /dev/null): nothing to relay, EOF is exact and stdout and
 * stderr stay separate. A terminal is never handed to a container without
 * -t (it could TIOCSTI keystrokes into the caller's shell): such a stream
 * goes through a pipe that racker relays. With -t the container gets a
 * pty of its own devpts instance, racker relays the master and puts the
 * caller's terminal in raw mode for as long as it runs. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include <signal.h>
#include <termios.h>

#include "base/error.h"

/* Open a new pty in the devpts mounted at devpts_dir ("/dev/pts"): the
 * master (close-on-exec) and its peer, the slave (opened with
 * TIOCGPTPEER, so no path is looked up). */
int rk_pty_open(const char *devpts_dir, int *ret_master, int *ret_slave,
                rk_error **err);

typedef struct rk_term_saved {
    int fd; /* -1 when nothing to restore */
    struct termios tio;
} rk_term_saved;

/* Raw mode on fd (a terminal), saving the old settings. */
int rk_term_make_raw(int fd, rk_term_saved *saved, rk_error **err);
void rk_term_restore(rk_term_saved *saved);
/* Copy the window size of from (a terminal) to the pty master to. */
void rk_term_copy_winsize(int from, int to);

/* One relayed stream: bytes read from `from` are written to `to`. */
typedef struct rk_relay_stream {
    int from, to;
    bool input;        /* towards the container: `to` is ours, made non-blocking;
                        * at EOF a pipe is closed, a pty master gets VEOF */
    bool to_is_pty;
    bool done;
    size_t len, off;   /* pending bytes in buf */
    char buf[8192];
} rk_relay_stream;

typedef struct rk_relay {
    rk_relay_stream s[3];
    size_t n;
    int signal_fd;   /* signalfd for the forwarded signals and WINCH */
    int pidfd;       /* the process being waited for */
    int winsize_src; /* the caller's terminal for SIGWINCH, or -1 */
    int winsize_dst; /* the pty master, or -1 */
    void (*forward)(void *ctx, int sig); /* INT TERM HUP QUIT USR1 USR2 */
    void *ctx;
} rk_relay;

/* Pump the streams until the process behind pidfd exits (then drain what
 * is left without blocking). *ret_code is its exit code, or 128+N when
 * signal N killed it (then *ret_signal = N, else 0). The process is reaped. */
int rk_relay_run(rk_relay *r, int *ret_code, int *ret_signal, rk_error **err);

/* Block the forwarded signals and WINCH and return a signalfd for them
 * (close-on-exec); *old receives the previous mask for the child. */
int rk_signals_block(sigset_t *old, rk_error **err);

/* The signals racker forwards to the container. */
extern const int rk_forwarded_signals[];
extern const unsigned rk_n_forwarded_signals;
