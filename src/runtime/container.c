/* Container lifecycle: run, exec, stop, rm.
 *
 * run: the command line process is the supervisor (with -d it forks one,
 * in a new session, that reports back once the command runs). The
 * supervisor holds the container's lock for its whole life, relays a pty
 * or terminal streams, forwards signals and cleans up; it clones the
 * container's first process into new namespaces, and that child builds
 * the root file system and becomes the command.
 *
 * The sync protocol, on one SOCK_SEQPACKET pair (see sync.h):
 *
 *   supervisor                              child (PID 1 of the namespaces)
 *   ----------                              -------------------------------
 *   clone3 into the v2 cgroup  ---------->  C1  parent-death signal, v1 cgroups
 *   record (--rm)                           C2  build the root, pivot_root
 *                              <-- PTY ---  C3  (-t, or the console of an OS
 *                                               container) pty master, by SCM_RIGHTS
 *                              --- GO --->  C4  wait: in all our cgroups now
 *                                           C5  cgroup namespace, /sys/fs/cgroup
 *                                           C6  user, caps, seccomp, execve
 *            error? <------------ ERROR --  (any failure: status + message)
 *            running <----------- EOF ----  (close-on-exec: execve succeeded)
 *
 * The child never prints: a failure travels back as ERROR and the
 * supervisor returns it. exec uses the same channel, with one more hop
 * (exec_child).
 *
 * An OS container's child execs systemd. The supervisor then waits for
 * READY=1 on the notify socket (copying the console meanwhile), and
 * starts the payload through exec's path: the payload is a sibling of
 * PID 1 in every namespace, a child of the supervisor. */
#include "runtime/container.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/strv.h"
#include "runtime/cgroup.h"
#include "runtime/process.h"
#include "runtime/sandbox.h"
#include "runtime/seccomp.h"
#include "runtime/sync.h"
#include "runtime/tty.h"

void rk_run_result_clear(rk_run_result *r)
{
    free(r->name);
    memset(r, 0, sizeof(*r));
}

/* clone3 like fork (no new stack), with a pidfd; into cgroup_fd (a v2
 * directory) when >= 0. */
static pid_t clone3_pidfd(unsigned long long flags, int cgroup_fd, int *pidfd)
{
    struct clone_args args;
    memset(&args, 0, sizeof(args));
    args.flags = flags | CLONE_PIDFD;
    args.pidfd = (unsigned long long)(uintptr_t)pidfd;
    /* With CLONE_PARENT the kernel wants 0 here and uses the caller's own
     * exit signal (SIGCHLD, for our intermediate child). */
    args.exit_signal = flags & CLONE_PARENT ? 0 : SIGCHLD;
    if (cgroup_fd >= 0) {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = (unsigned long long)cgroup_fd;
    }
    return (pid_t)syscall(SYS_clone3, &args, sizeof(args));
}

/* --debug: how long each step of a run took. */
static void step_time(const char *what)
{
    if (rk_log_get_level() < RK_LOG_DEBUG)
        return;
    static struct timespec t0;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    if (!t0.tv_sec)
        t0 = t;
    rk_debug("%8.3f ms  %s", (double)(t.tv_sec - t0.tv_sec) * 1e3 + (double)(t.tv_nsec - t0.tv_nsec) / 1e6,
             what);
}

static int pidfd_signal(int pidfd, int sig)
{
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

static int pidfd_open_checked(pid_t pid, unsigned long long start, rk_error **err)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0)
        return rk_error_set(err, errno, "opening process %d", (int)pid);
    /* The pid could have been reused since it was recorded. */
    if (start && rk_proc_start_time(pid) != start) {
        close(fd);
        return rk_error_set(err, ESRCH, "process %d is no longer the container's", (int)pid);
    }
    return fd;
}

static void closep_pair(int p[2])
{
    for (int i = 0; i < 2; i++)
        if (p[i] >= 0) {
            close(p[i]);
            p[i] = -1;
        }
}

/* ------------------------------------------------------------------ */
/* run                                                                 */
/* ------------------------------------------------------------------ */

/* Everything the supervisor holds for one container. */
typedef struct run_ctx {
    const rk_run_options *o;
    rk_spec *spec;
    rk_container_record rec;
    bool record_written;
    char id[RK_ID_LEN + 1];
    char *state_dir, *scratch;
    int lock_fd;
    bool state_dir_made;
    rk_cgroup_layout *layout;
    rk_cgroup *cg;      /* the container's cgroups (recorded, removed) */
    rk_cgroup *join;    /* where its first process goes: cg, or for an OS
                         * container RK_BOOT_INNER_CGROUP below it */
    rk_cgroup *inner;   /* owned: that subgroup */
    int sync[2];
    int sigfd;
    sigset_t oldmask;
    bool mask_changed;
    pid_t pid;
    int pidfd;
    int pty_master;
    int child_in, child_out, child_err; /* what the child gets as 0, 1, 2 */
    int relay_in_w, relay_out_r, relay_err_r; /* our ends of relay pipes */
    int held_stdin_w;   /* detached -i: the never-closing stdin pipe */
    int report_fd;      /* detached: to the waiting command line */
    rk_term_saved term;
    rk_seccomp_prog seccomp;
    struct winsize ws; /* the caller's terminal size, set on the pty before exec */
    bool have_ws;
    bool hold_done;    /* o->hold_fd closed */
    bool born_in_v2;   /* set before each clone3: the child reads it */
    /* OS containers. */
    bool boot;
    int notify_fd;
    int console_master; /* the pty on /dev/console */
    int console_hold;   /* a slave fd of our own: with no slave open, the
                         * master reads EIO and polls as hung up whenever
                         * systemd has closed the console */
    int console_log;    /* console.log */
    char **init_env;
    rk_console_tail *tail;
    pid_t guard;        /* kills PID 1 if we die (see start_guard) */
    int guard_fd;       /* its pipe: EOF when we are gone */
    char *host_os_release;
    bool pid1_dying;    /* --rm in the foreground: killed, its end not awaited */
} run_ctx;

static void run_ctx_init(run_ctx *c, const rk_run_options *o)
{
    memset(c, 0, sizeof(*c));
    c->o = o;
    c->spec = o->spec;
    c->lock_fd = c->sigfd = c->pidfd = c->pty_master = -1;
    c->sync[0] = c->sync[1] = -1;
    c->child_in = c->child_out = c->child_err = -1;
    c->relay_in_w = c->relay_out_r = c->relay_err_r = -1;
    c->held_stdin_w = c->report_fd = -1;
    c->term.fd = -1;
    c->notify_fd = c->console_master = c->console_hold = c->console_log = -1;
    c->guard_fd = -1;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* What stays behind after any exit path of the supervisor. */
static void run_ctx_release(run_ctx *c)
{
    if (c->o && c->o->hold_fd >= 0 && !c->hold_done)
        close(c->o->hold_fd);
    c->hold_done = true;
    rk_term_restore(&c->term);
    if (c->mask_changed)
        sigprocmask(SIG_SETMASK, &c->oldmask, NULL);
    closep_pair(c->sync);
    close_fd(&c->sigfd);
    close_fd(&c->pidfd);
    close_fd(&c->pty_master);
    close_fd(&c->child_in);
    close_fd(&c->child_out);
    close_fd(&c->child_err);
    close_fd(&c->relay_in_w);
    close_fd(&c->relay_out_r);
    close_fd(&c->relay_err_r);
    close_fd(&c->held_stdin_w);
    close_fd(&c->report_fd);
    close_fd(&c->notify_fd);
    close_fd(&c->console_master);
    close_fd(&c->console_hold);
    close_fd(&c->console_log);
    if (c->guard > 0) {
        close_fd(&c->guard_fd);
        waitpid(c->guard, NULL, 0);
        c->guard = 0;
    }
    rk_strv_free(c->init_env);
    c->init_env = NULL;
    free(c->host_os_release);
    c->host_os_release = NULL;
    free(c->tail);
    c->tail = NULL;
    rk_cgroup_free(c->inner);
    rk_cgroup_free(c->cg);
    rk_cgroup_layout_free(c->layout);
    rk_seccomp_prog_clear(&c->seccomp);
    free(c->state_dir);
    free(c->scratch);
    memset(&c->rec.spec, 0, sizeof(c->rec.spec)); /* a view of o->spec */
    rk_container_record_clear(&c->rec);
    close_fd(&c->lock_fd);
}

/* In a forked helper: every descriptor but keep[0..n-1] closed. */
static void close_all_but(int *keep, size_t n)
{
    for (size_t i = 1; i < n; i++) /* sort: n is tiny */
        for (size_t j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
            int t = keep[j];
            keep[j] = keep[j - 1];
            keep[j - 1] = t;
        }
    unsigned lo = 0;
    for (size_t i = 0; i < n; i++) {
        if (keep[i] < 0)
            continue;
        if ((unsigned)keep[i] > lo)
            syscall(SYS_close_range, lo, (unsigned)keep[i] - 1, 0);
        lo = (unsigned)keep[i] + 1;
    }
    syscall(SYS_close_range, lo, ~0U, 0);
}

/* systemd as PID 1 does not die with a supervisor that is killed (the
 * parent-death signal set before its exec does not survive its start-up:
 * seen with systemd 252, where a shell as PID 1 dies), so an OS container
 * would outlive it. A guard process
 * takes its place: it waits for the end of a pipe only the supervisor
 * holds, and kills PID 1 when that ends. Forked (racker is small), it
 * keeps nothing but the pipe and PID 1's pidfd: above all not the
 * container's lock, whose release tells racker the supervisor is gone. */
static int start_guard(run_ctx *c, rk_error **err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return rk_error_set(err, errno, "creating the guard's pipe");
    pid_t g = fork();
    if (g < 0) {
        close(p[0]);
        close(p[1]);
        return rk_error_set(err, errno, "forking the guard");
    }
    if (g == 0) {
        int keep[2] = {p[0], c->pidfd};
        close_all_but(keep, 2);
        prctl(PR_SET_NAME, "racker-guard", 0, 0, 0);
        struct pollfd pf[2] = {{.fd = p[0], .events = POLLIN}, {.fd = c->pidfd, .events = POLLIN}};
        while (poll(pf, 2, -1) < 0 && errno == EINTR) {
        }
        if (!pf[1].revents)
            pidfd_signal(c->pidfd, SIGKILL);
        _exit(0);
    }
    close(p[0]);
    c->guard = g;
    c->guard_fd = p[1];
    return 0;
}

/* The child: PID 1 of the new namespaces. Reports failures on the sync
 * channel; the parent prints them. */
static _Noreturn void run_child(run_ctx *c)
{
    rk_error *err = NULL;
    int fd = c->sync[1];
    close(c->sync[0]);
    /* C1. Die with the supervisor. If it died already, reading the sync
     *     channel below returns EOF and we exit. */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    /*     Join the v1 hierarchies (and v2 if not born there) ourselves,
     *     while the host's /sys/fs/cgroup is still in view: a thread
     *     moving itself skips the global lock (cgroup.h), single-threaded
     *     as we are. */
    if ((rk_cgroup_has_v1(c->join) || !c->born_in_v2) &&
        rk_cgroup_enter_self(c->join, c->born_in_v2, &err) < 0)
        goto fail;

    /* C2. The root file system, up to pivot_root. */
    rk_sandbox sb = {
        .spec = c->spec,
        .lowers = c->o->layers,
        .upper = c->rec.dir && !c->o->auto_remove ? rk_path_join(c->rec.dir, "upper") : NULL,
        .work = c->rec.dir && !c->o->auto_remove ? rk_path_join(c->rec.dir, "work") : NULL,
        .scratch = c->scratch,
        .hostname = c->spec->hostname,
        .cgroups = c->layout,
        .cgroup = c->join,
    };
    if (rk_sandbox_enter_root(&sb, &err) < 0)
        goto fail;
    if (c->boot) {
        rk_boot_root br = {
            .volatile_ = c->o->auto_remove,
            .payload = c->o->boot->payload != NULL,
            .init_has_args = c->o->boot->init_argv[0] && c->o->boot->init_argv[1],
            .host_os_release = c->host_os_release,
        };
        if (rk_boot_prepare_root(&br, &err) < 0)
            goto fail;
    }

    /* C3. -t: a pty of the container's own devpts; the master goes to the
     *     supervisor, the slave becomes /dev/console and our stdio. An OS
     *     container always has one: its console (the payload gets its own
     *     pty, see exec). */
    int slave = -1;
    if (c->spec->tty || c->boot) {
        int master;
        if (rk_pty_open("/dev/pts", &master, &slave, &err) < 0 ||
            rk_sandbox_console(slave, &err) < 0 ||
            rk_sync_send(fd, RK_SYNC_PTY, master, &err) < 0)
            goto fail;
        /* The size is right before the command starts, not after a
         * SIGWINCH it may not expect. */
        if (c->have_ws && !c->boot)
            ioctl(slave, TIOCSWINSZ, &c->ws);
        close(master);
    }

    /* C4. Wait until the supervisor moved us into our cgroups ... */
    rk_sync_msg m;
    int r = rk_sync_recv(fd, &m, NULL, &err);
    if (r <= 0 || m.type != RK_SYNC_GO)
        _exit(125); /* the supervisor is gone or gave up: nobody to tell */
    /* C5. ... so the cgroup namespace has our cgroup as its root. */
    if (unshare(CLONE_NEWCGROUP) < 0) {
        rk_error_set(&err, errno, "creating the cgroup namespace");
        goto fail;
    }
    if (rk_sandbox_finish(&sb, &err) < 0)
        goto fail;

    /* C6. The command; for an OS container, systemd as root with the
     *     container interface's environment. */
    rk_spec init_spec;
    const rk_spec *run_spec = c->spec;
    if (c->boot) {
        init_spec = *c->spec;
        init_spec.argv = (char **)c->o->boot->init_argv;
        init_spec.env = c->init_env;
        init_spec.user = NULL;
        init_spec.cwd = (char *)"/";
        init_spec.init = false;
        run_spec = &init_spec;
    }
    rk_process_opts po = {
        .stdin_fd = c->child_in,
        .stdout_fd = c->child_out,
        .stderr_fd = c->child_err,
        .pty_slave = slave,
        .create_cwd = true,
        .pid1 = true,
        .sigmask = &c->oldmask,
        .sync_fd = fd,
        .seccomp = &c->seccomp,
    };
    rk_process_start(run_spec, &po, &err);
fail:
    rk_sync_send_error(fd, err, 125);
    _exit(err && err->status ? err->status : 125);
}

/* Stdio for the container: racker's own fds where they are no terminal;
 * relay pipes for terminals; the log files when detached. */
static int setup_stdio(run_ctx *c, rk_error **err)
{
    const rk_spec *s = c->spec;
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0)
        return rk_error_set(err, errno, "opening /dev/null");
    _cleanup_close_ int dn = devnull;
    if (c->o->detach) {
        _cleanup_free_ char *out = rk_path_join(c->rec.dir, "stdout.log");
        _cleanup_free_ char *errp = rk_path_join(c->rec.dir, "stderr.log");
        c->child_out = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (c->child_out < 0)
            return rk_error_set(err, errno, "creating %s", out);
        c->child_err = open(errp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (c->child_err < 0)
            return rk_error_set(err, errno, "creating %s", errp);
        if (s->interactive && !s->tty) {
            int p[2];
            if (pipe2(p, O_CLOEXEC) < 0)
                return rk_error_set(err, errno, "creating a pipe");
            c->child_in = p[0];
            c->held_stdin_w = p[1];
        } else {
            c->child_in = fcntl(dn, F_DUPFD_CLOEXEC, 3);
        }
        return 0;
    }
    if (s->tty)
        return 0; /* the pty is all the container gets */
    if (c->o->capture_output) {
        c->child_in = fcntl(dn, F_DUPFD_CLOEXEC, 3);
        c->child_out = fcntl(c->o->output_fd, F_DUPFD_CLOEXEC, 3);
        c->child_err = fcntl(c->o->output_fd, F_DUPFD_CLOEXEC, 3);
        if (c->child_in < 0 || c->child_out < 0 || c->child_err < 0)
            return rk_error_set(err, errno, "duplicating the output pipe for the container");
        return 0;
    }
    /* stdin */
    if (!s->interactive) {
        c->child_in = fcntl(dn, F_DUPFD_CLOEXEC, 3);
    } else if (isatty(0)) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
            return rk_error_set(err, errno, "creating a pipe");
        c->child_in = p[0];
        c->relay_in_w = p[1];
    } else {
        c->child_in = fcntl(0, F_DUPFD_CLOEXEC, 3);
    }
    /* stdout, stderr */
    int *child[2] = {&c->child_out, &c->child_err};
    int *relay[2] = {&c->relay_out_r, &c->relay_err_r};
    for (int i = 0; i < 2; i++) {
        int fd = i + 1;
        if (isatty(fd)) {
            int p[2];
            if (pipe2(p, O_CLOEXEC) < 0)
                return rk_error_set(err, errno, "creating a pipe");
            *relay[i] = p[0];
            *child[i] = p[1];
        } else if (fcntl(fd, F_GETFD) < 0) {
            *child[i] = fcntl(dn, F_DUPFD_CLOEXEC, 3); /* closed: discard */
        } else {
            *child[i] = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        }
    }
    if (c->child_in < 0 || c->child_out < 0 || c->child_err < 0)
        return rk_error_set(err, errno, "duplicating stdio for the container");
    return 0;
}

static void forward_signal(void *ctx, int sig)
{
    run_ctx *c = ctx;
    if (c->pidfd >= 0)
        pidfd_signal(c->pidfd, sig);
}

static int write_state(run_ctx *c, enum rk_container_status st, int exit_code,
                       bool oom, rk_error **err)
{
    rk_run_state s = {
        .status = st,
        .pid = c->pid,
        .pid_start = c->pid > 0 ? rk_proc_start_time(c->pid) : 0,
        .supervisor = getpid(),
        .exit_code = exit_code,
        .oom_killed = oom,
        .cgroups = c->cg ? c->cg->dirs : NULL,
    };
    _cleanup_free_ char *now = rk_now_rfc3339();
    if (st == RK_STATUS_RUNNING)
        s.started = now;
    else if (st == RK_STATUS_EXITED)
        s.finished = now;
    return rk_run_state_write(c->o->rundir, c->id, &s, err);
}

/* Detached: what the waiting command line reads. */
typedef struct start_report {
    int32_t ok;
    int32_t status;
    char text[2000];
} start_report;

static void report_start(run_ctx *c, const rk_error *e)
{
    if (c->report_fd < 0)
        return;
    start_report r;
    memset(&r, 0, sizeof(r));
    r.ok = e == NULL;
    r.status = e && e->status ? e->status : 125;
    if (e)
        snprintf(r.text, sizeof(r.text), "%s", e->msg);
    else
        snprintf(r.text, sizeof(r.text), "%s", c->rec.name ? c->rec.name : "");
    rk_write_all(c->report_fd, &r, sizeof(r));
    close_fd(&c->report_fd);
}

static int create_record(run_ctx *c, rk_error **err)
{
    rk_container_record *r = &c->rec;
    if (rk_container_record_create(c->o->containers_dir, r, !c->o->auto_remove, err) < 0)
        return -1;
    c->record_written = true;
    if (c->o->hold_fd >= 0 && !c->hold_done)
        close(c->o->hold_fd); /* our copy; the record now pins the image */
    c->hold_done = true;
    if (!c->o->auto_remove) {
        _cleanup_free_ char *up = rk_path_join(r->dir, "upper");
        _cleanup_free_ char *wk = rk_path_join(r->dir, "work");
        if (mkdir(up, 0755) < 0 || mkdir(wk, 0700) < 0)
            return rk_error_set(err, errno, "creating the writable layer in %s", r->dir);
    }
    return 0;
}

/* The supervisor's cleanup once the container is gone (or failed). */
static void teardown(run_ctx *c, bool exited, int exit_code, bool oom)
{
    rk_error *e = NULL;
    if (c->cg && rk_cgroup_destroy(c->cg, &e) < 0) {
        rk_debug("%s", e->msg);
        rk_error_freep(&e);
    }
    if (c->o->auto_remove || !exited) {
        if (c->record_written)
            rk_container_record_remove(c->o->containers_dir, c->id, NULL);
        if (c->state_dir_made)
            rk_run_state_remove(c->o->rundir, c->id, NULL);
    } else if (c->state_dir_made) {
        write_state(c, RK_STATUS_EXITED, exit_code, oom, NULL);
    }
}

/* A --rm OS container in the foreground, killed: its result is known and
 * nothing of it can run any more, but the kernel takes tens of
 * milliseconds to end it (systemd closes its inotify descriptors one by
 * one at exit, each waiting for an SRCU grace period). The caller gets
 * its status at once; a helper that holds the container's lock waits for
 * the end, removes the cgroups and the runtime directory. The record
 * goes now, so the name is free. Nothing of the container is mounted on
 * the host meanwhile: its mounts die with its mount namespace. */
static void teardown_async(run_ctx *c)
{
    if (c->record_written)
        rk_container_record_remove(c->o->containers_dir, c->id, NULL);
    c->record_written = false;
    fflush(NULL);
    pid_t h = fork();
    if (h < 0) {
        siginfo_t si;
        while (waitid(P_PIDFD, (id_t)c->pidfd, &si, WEXITED) < 0 && errno == EINTR) {
        }
        teardown(c, true, 0, false);
        return;
    }
    if (h > 0) {
        c->state_dir_made = false; /* the helper's now */
        return;
    }
    /* Out of the caller's way: no terminal, no pipe held open, a session
     * of its own. */
    int dn = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (dn >= 0) {
        dup2(dn, 0);
        dup2(dn, 1);
        dup2(dn, 2);
    }
    int keep[2] = {c->lock_fd, c->pidfd};
    close_all_but(keep, 2);
    setsid();
    prctl(PR_SET_NAME, "racker-cleanup", 0, 0, 0);
    struct pollfd pf = {.fd = c->pidfd, .events = POLLIN};
    while (poll(&pf, 1, -1) < 0 && errno == EINTR) {
    }
    rk_cgroup_destroy(c->cg, NULL);
    rk_run_state_remove(c->o->rundir, c->id, NULL);
    _exit(0);
}

static int supervise(run_ctx *c, rk_run_result *res, rk_error **err);
static int run_booted(run_ctx *c, int *ret_code, int *ret_sig, rk_error **err);

int rk_container_run(const rk_run_options *o, rk_run_result *res, rk_error **err)
{
    memset(res, 0, sizeof(*res));
    step_time("run: start");
    run_ctx c;
    run_ctx_init(&c, o);
    c.boot = o->boot != NULL && o->spec->boot == RK_BOOT_YES;
    rk_container_new_id(c.id);
    memcpy(res->id, c.id, sizeof(c.id));
    rk_container_record *r = &c.rec;
    r->id = rk_xstrdup(c.id);
    r->name = o->name ? rk_xstrdup(o->name) : NULL;
    r->image_id = o->image_id ? rk_xstrdup(o->image_id) : NULL;
    r->image_ref = rk_xstrdup(o->image_ref);
    r->created = rk_now_rfc3339();
    r->auto_remove = o->auto_remove;
    r->detached = o->detach;
    r->layers = rk_strv_dup(o->layers);
    if (!c.spec->hostname)
        c.spec->hostname = rk_xstrndup(c.id, 12);
    r->spec = *c.spec; /* a view, for container.json */

    /* 1. Detached: a supervisor process of its own, in a new session,
     *    reports back once the command runs. */
    if (o->detach) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0) {
            rk_error_set(err, errno, "creating a pipe");
            goto fail_early;
        }
        fflush(NULL);
        pid_t sup = fork();
        if (sup < 0) {
            close(p[0]);
            close(p[1]);
            rk_error_set(err, errno, "forking the supervisor");
            goto fail_early;
        }
        if (sup > 0) {
            close(p[1]);
            start_report rep;
            memset(&rep, 0, sizeof(rep));
            ssize_t n;
            while ((n = read(p[0], &rep, sizeof(rep))) < 0 && errno == EINTR) {
            }
            close(p[0]);
            if (o->hold_fd >= 0)
                close(o->hold_fd);
            c.hold_done = true;
            waitpid(sup, NULL, WNOHANG);
            if (n != (ssize_t)sizeof(rep)) {
                rk_error_set(err, 0, "the container's supervisor died while starting it");
                goto fail_early;
            }
            if (!rep.ok) {
                rk_error_set_status(err, rep.status, 0, "%s", rep.text);
                goto fail_early;
            }
            res->name = rk_xstrdup(rep.text);
            run_ctx_release(&c);
            return 0;
        }
        close(p[0]);
        c.report_fd = p[1];
        setsid();
        if (chdir("/") < 0) { /* do not pin the caller's directory */
        }
        int dn = open("/dev/null", O_RDWR);
        if (dn >= 0) {
            dup2(dn, 0);
            dup2(dn, 1);
            dup2(dn, 2);
            if (dn > 2)
                close(dn);
        }
        rk_error *e = NULL;
        int rc = supervise(&c, res, &e);
        if (rc < 0)
            report_start(&c, e);
        rk_error_free(e);
        run_ctx_release(&c);
        _exit(rc < 0 ? 125 : 0);
    }

    int rc = supervise(&c, res, err);
    if (rc == 0)
        res->name = rk_xstrdup(c.rec.name);
    run_ctx_release(&c);
    return rc;

fail_early:
    run_ctx_release(&c);
    return -1;
}

/* Steps 2-11, in the supervisor. */
/* The child's reports on the sync socket: the pty master (-t), then either
 * its error (-2, in *err) or EOF (0), which means its execve() succeeded;
 * -1 when the socket itself fails. */
static int child_reports(run_ctx *c, rk_error **err)
{
    for (;;) {
        rk_sync_msg m;
        int pfd = -1;
        int rr = rk_sync_recv(c->sync[0], &m, &pfd, err);
        if (rr <= 0)
            return rr;
        if (m.type == RK_SYNC_PTY && pfd >= 0) {
            if (c->boot)
                c->console_master = pfd;
            else
                c->pty_master = pfd;
            continue;
        }
        if (pfd >= 0)
            close(pfd);
        if (m.type == RK_SYNC_ERROR) {
            rk_sync_error_from_msg(&m, err);
            return -2;
        }
    }
}

static int supervise(run_ctx *c, rk_run_result *res, rk_error **err)
{
    const rk_run_options *o = c->o;
    rk_spec *spec = c->spec;
    int code = 0, sig = 0;
    bool oom = false;
    _cleanup_free_ char *cgname = rk_xasprintf("racker-%s", c->id);
    _cleanup_free_ char *sc_cache = NULL;
    _cleanup_close_ int logfd = -1;

    /* 2. Runtime state: <rundir>/<id>/, locked for the supervisor's life,
     *    which is also where the child mounts its scratch tmpfs (in its
     *    own mount namespace: the host keeps seeing the state files). */
    c->lock_fd = rk_run_state_lock_new(o->rundir, c->id, err);
    if (c->lock_fd < 0)
        goto fail;
    c->state_dir_made = true;
    c->state_dir = rk_path_join(o->rundir, c->id);
    c->scratch = rk_xstrdup(c->state_dir);

    /*    An OS container: the socket its systemd reports READY=1 on
     *    (bound at /run/host/notify inside), and PID 1's environment. */
    if (c->boot) {
        free(spec->notify_socket);
        spec->notify_socket = rk_path_join(c->state_dir, "notify");
        c->rec.spec = *spec; /* the record's view */
        c->notify_fd = rk_boot_notify_open(spec->notify_socket, err);
        if (c->notify_fd < 0)
            goto fail;
        char uuid[33];
        rk_boot_uuid(c->id, uuid);
        c->init_env = rk_boot_init_env(uuid);
        c->tail = rk_xcalloc(1, sizeof(*c->tail));
        c->host_os_release = rk_boot_host_os_release();
    }

    /* 3. The record in the store, now when its directory is needed before
     *    the container starts (writable layer, logs); a --rm foreground
     *    container writes it while the child builds its root (step 7). */
    bool record_late = o->auto_remove && !o->detach;
    if (!record_late && create_record(c, err) < 0)
        goto fail;
    /*    The console log: kept with a kept container (racker logs), else
     *    in the runtime directory, gone with it. */
    if (c->boot) {
        _cleanup_free_ char *cl = rk_path_join(o->auto_remove ? c->state_dir : c->rec.dir,
                                               "console.log");
        c->console_log = open(cl, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (c->console_log < 0) {
            rk_error_set(err, errno, "creating %s", cl);
            goto fail;
        }
    }

    /* 4. Stdio and signals: forwarded signals and WINCH are blocked and
     *    read from a signalfd; the child restores the old mask. */
    if (setup_stdio(c, err) < 0)
        goto fail;
    c->sigfd = rk_signals_block(&c->oldmask, err);
    if (c->sigfd < 0)
        goto fail;
    c->mask_changed = true;
    /* A reader that goes away (our stdout piped to `head`) must not kill
     * the supervisor; the child resets every disposition. */
    signal(SIGPIPE, SIG_IGN);
    if (spec->tty && !o->detach) {
        int src = isatty(0) ? 0 : isatty(1) ? 1 : -1;
        c->have_ws = src >= 0 && ioctl(src, TIOCGWINSZ, &c->ws) == 0;
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, c->sync) < 0) {
        rk_error_set(err, errno, "creating the sync socket");
        goto fail;
    }
    /* The seccomp program, compiled once per capability set (seccomp.h). */
    sc_cache = rk_path_join(o->rundir, "seccomp");
    if (spec->seccomp && rk_seccomp_prepare(spec->caps, sc_cache, &c->seccomp, err) < 0)
        goto fail;
    step_time("state, stdio, signals, seccomp");

    /* 5. The cgroups and limits. The child is born in the v2 one; v1
     *    hierarchies (for limits, and systemd's named one for an OS
     *    container, see cgroup.h) it joins itself (C1). */
    if (rk_cgroup_layout_load(&c->layout, err) < 0)
        goto fail;
    rk_cgroup_limits lim = {
        .memory = spec->memory,
        .pids = spec->pids_limit,
        .cpu_quota = spec->cpu_quota,
        .cpu_period = spec->cpu_period,
        .named_systemd = c->boot,
    };
    if (rk_cgroup_create(c->layout, cgname, &lim, &c->cg, err) < 0)
        goto fail;
    c->join = c->cg;
    /*    An OS container: its device policy on racker-<id>, its processes
     *    one level down (see rk_boot_device_policy). */
    if (c->boot) {
        if (rk_boot_device_policy(c->cg, err) < 0 ||
            rk_cgroup_subgroup(c->cg, RK_BOOT_INNER_CGROUP, true, &c->inner, err) < 0)
            goto fail;
        c->join = c->inner;
    }
    step_time("cgroups created");

    /* 6. The child, in new mount, PID, UTS, IPC (and network) namespaces.
     *    The cgroup namespace comes later, once it is in all its cgroups. */
    unsigned long long flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
    if (spec->network == RK_NET_NONE)
        flags |= CLONE_NEWNET;
    c->born_in_v2 = c->join->v2_fd >= 0;
    c->pid = clone3_pidfd(flags, c->join->v2_fd, &c->pidfd);
    if (c->pid < 0 && c->born_in_v2) {
        /* A v2 cgroup that cannot take processes directly (a threaded or
         * domain-invalid parent): the child moves itself in (C1). */
        c->born_in_v2 = false;
        c->pid = clone3_pidfd(flags, -1, &c->pidfd);
    }
    if (c->pid < 0) {
        rk_error_set(err, errno, "creating the container process (clone3)");
        goto fail;
    }
    if (c->pid == 0)
        run_child(c);
    close_fd(&c->sync[1]);
    if (c->boot && start_guard(c, err) < 0)
        goto kill;
    if (!c->boot) { /* an OS container's stdio is its payload's */
        close_fd(&c->child_in);
        close_fd(&c->child_out);
        close_fd(&c->child_err);
    }
    step_time("cloned");

    /* 7. While the child builds its root: the record (--rm); then the
     *    child may go on (GO) to its cgroup namespace. */
    if (record_late && create_record(c, err) < 0)
        goto kill;
    if (rk_sync_send(c->sync[0], RK_SYNC_GO, -1, err) < 0) {
        /* EPIPE: the child failed while building its root and exited
         * before GO; its report is still queued on the socket and says
         * why, which the EPIPE does not. */
        rk_error *why = NULL;
        if (child_reports(c, &why) == -2 && err) {
            rk_error_free(*err);
            *err = why;
        } else {
            rk_error_free(why);
        }
        goto kill;
    }
    step_time("record written, GO sent");

    /* 8. The child's report. */
    if (child_reports(c, err) < 0)
        goto kill;
    close_fd(&c->sync[0]);
    step_time("child exec'd");

    /* 8b. An OS container: booted once its systemd says READY=1. */
    if (c->boot) {
        if (c->console_master < 0) {
            rk_error_set(err, EPROTO, "the container did not send its console");
            goto kill;
        }
        c->console_hold = ioctl(c->console_master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
        bool to_caller = !o->detach && !o->boot->payload;
        rk_boot_wait bw = {
            .notify_fd = c->notify_fd,
            .console_fd = c->console_master,
            .log_fd = to_caller ? 1 : c->console_log,
            .pidfd = c->pidfd,
            .pid = c->pid,
            .sigfd = c->sigfd,
            .timeout_ms = (o->boot->timeout > 0 ? o->boot->timeout : RK_BOOT_DEFAULT_TIMEOUT) * 1000,
            .tail = c->tail,
        };
        if (rk_boot_wait_ready(&bw, err) < 0) {
            if (err && *err)
                rk_error_wrap(err, "booting %s", c->rec.name ? c->rec.name : c->id);
            goto kill;
        }
        close_fd(&c->notify_fd);
        step_time("booted (READY=1)");
    }

    /* 9. Running: recorded, and reported to a waiting `run -d`. */
    if (write_state(c, RK_STATUS_RUNNING, -1, false, err) < 0)
        goto kill;
    report_start(c, NULL);

    /* 10. Relay and forward signals until the command exits. */
    if (c->boot) {
        if (run_booted(c, &code, &sig, err) < 0)
            goto kill;
        goto exited;
    }
    rk_relay rl = {.signal_fd = c->sigfd, .pidfd = c->pidfd, .winsize_src = -1,
                   .winsize_dst = -1, .forward = forward_signal, .ctx = c};
    if (spec->tty && c->pty_master >= 0) {
        if (o->detach) {
            _cleanup_free_ char *out = rk_path_join(c->rec.dir, "stdout.log");
            logfd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
            if (logfd < 0) {
                rk_error_set(err, errno, "creating %s", out);
                goto kill;
            }
            rl.s[rl.n++] = (rk_relay_stream){.from = c->pty_master, .to = logfd};
        } else {
            int tty_src = isatty(0) ? 0 : isatty(1) ? 1 : -1;
            rl.winsize_src = tty_src;
            rl.winsize_dst = c->pty_master;
            rk_term_copy_winsize(tty_src, c->pty_master);
            if (spec->interactive) {
                if (isatty(0) && rk_term_make_raw(0, &c->term, err) < 0)
                    goto kill;
                rl.s[rl.n++] = (rk_relay_stream){.from = 0, .to = c->pty_master,
                                                 .input = true, .to_is_pty = true};
            }
            rl.s[rl.n++] = (rk_relay_stream){.from = c->pty_master, .to = 1};
        }
    } else {
        if (c->relay_in_w >= 0)
            rl.s[rl.n++] = (rk_relay_stream){.from = 0, .to = c->relay_in_w, .input = true};
        if (c->relay_out_r >= 0)
            rl.s[rl.n++] = (rk_relay_stream){.from = c->relay_out_r, .to = 1};
        if (c->relay_err_r >= 0)
            rl.s[rl.n++] = (rk_relay_stream){.from = c->relay_err_r, .to = 2};
    }
    if (rk_relay_run(&rl, &code, &sig, err) < 0)
        goto kill;
    for (size_t i = 0; i < rl.n; i++)
        if (rl.s[i].input && !rl.s[i].to_is_pty && rl.s[i].to < 0)
            c->relay_in_w = -1; /* the relay closed it at EOF */
    rk_term_restore(&c->term);
    c->pid = 0;
exited:
    step_time("command exited");

    /* 11. Exit: was it the OOM killer? Record it, clean up. */
    /* (With --init, the reaper passes a SIGKILL on as status 137.) */
    if ((sig == SIGKILL || code == 128 + SIGKILL) && spec->memory && rk_cgroup_oom_killed(c->cg))
        oom = true;
    res->exit_code = code;
    res->signal = sig;
    res->oom_killed = oom;
    if (c->pid1_dying)
        teardown_async(c);
    else
        teardown(c, true, code, oom);
    step_time("cleaned up");
    return 0;

kill:
    if (c->pid > 0) {
        pidfd_signal(c->pidfd, SIGKILL);
        siginfo_t si;
        while (waitid(P_PIDFD, (id_t)c->pidfd, &si, WEXITED) < 0 && errno == EINTR) {
        }
        c->pid = 0;
    }
fail:
    rk_term_restore(&c->term);
    teardown(c, false, -1, false);
    return -1;
}

/* ------------------------------------------------------------------ */
/* exec                                                                */
/* ------------------------------------------------------------------ */

typedef struct exec_ctx {
    rk_spec spec;
    const rk_seccomp_prog *seccomp;
    struct winsize ws;
    bool have_ws;
    rk_cgroup *cg;
    int target_pidfd;  /* the container's PID 1 (not owned) */
    int sync[2];
    sigset_t oldmask;
    int child_in, child_out, child_err; /* the payload's 0, 1, 2 without -t */
    bool boot;         /* an OS container: the environment systemd gives services */
    bool detach;       /* exec -d: the payload outlives us */
} exec_ctx;

/* What racker pumps while the payload runs. */
typedef struct exec_io {
    int sigfd;
    int relay_in, relay_out, relay_err; /* our ends of stdio pipes, or -1 */
    int pty_out;       /* -t: where the pty's output goes (1, or a log) */
    bool pty_in;       /* -t -i: stdin goes to the pty */
    rk_term_saved *term;
    const rk_relay_stream *extra; /* also pumped (an OS container's console), or NULL */
} exec_io;

static void forward_exec(void *ctx, int sig)
{
    pidfd_signal(*(int *)ctx, sig);
}

/* The process in the container (E3-E4). */
static _Noreturn void exec_payload(exec_ctx *x)
{
    rk_error *err = NULL;
    int fd = x->sync[1];
    if (!x->detach)
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    /* E2b. The cgroup namespace, now that we were born in our cgroup
     *      (see E2). */
    if (setns(x->target_pidfd, CLONE_NEWCGROUP) < 0) {
        rk_error_set(&err, errno, "joining the container's cgroup namespace");
        goto fail;
    }
    close(x->target_pidfd);
    /* E3. -t: a pty from the container's devpts. */
    int slave = -1;
    if (x->spec.tty) {
        int master;
        if (rk_pty_open("/dev/pts", &master, &slave, &err) < 0 ||
            rk_sync_send(fd, RK_SYNC_PTY, master, &err) < 0)
            goto fail;
        if (x->have_ws)
            ioctl(slave, TIOCSWINSZ, &x->ws);
        close(master);
    }
    /* E4. The command, with the container's identity and restrictions. */
    rk_process_opts po = {
        .stdin_fd = x->child_in,
        .stdout_fd = x->child_out,
        .stderr_fd = x->child_err,
        .pty_slave = slave,
        .sigmask = &x->oldmask,
        .sync_fd = fd,
        .seccomp = x->seccomp,
        .outlive_parent = x->detach,
    };
    x->spec.init = false;
    rk_process_start(&x->spec, &po, &err);
fail:
    rk_sync_send_error(fd, err, 125);
    _exit(err && err->status ? err->status : 125);
}

/* The intermediate child (E1-E2): joins the container and starts the
 * payload as a sibling (CLONE_PARENT), so the exec command itself never
 * changes namespaces, not even the PID namespace for its children. */
static _Noreturn void exec_child(exec_ctx *x)
{
    rk_error *err = NULL;
    int fd = x->sync[1];
    close(x->sync[0]);
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    /* E1. The container's cgroups while the host's /sys/fs/cgroup is in
     *     view: v1 ones by moving ourselves (inherited by the payload;
     *     cheap, see rk_cgroup_enter_self), the v2 one at the payload's
     *     birth. */
    int v2fd = -1, v2procs = -1;
    const char *v2dir = NULL;
    for (size_t i = 0; i < x->cg->n; i++)
        if (x->cg->v2[i]) {
            v2dir = x->cg->dirs[i];
            v2fd = open(x->cg->dirs[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            _cleanup_free_ char *procs = rk_path_join(x->cg->dirs[i], "cgroup.procs");
            v2procs = open(procs, O_WRONLY | O_CLOEXEC);
        }
    if (rk_cgroup_has_v1(x->cg) && rk_cgroup_enter_self(x->cg, v2fd >= 0, &err) < 0)
        goto fail;
    /* E2. Its namespaces but the cgroup one; joining the mount namespace
     *     puts us at its root. Then the payload, born in the PID
     *     namespace and in its v2 cgroup. The kernel refuses a move into
     *     a v2 cgroup (CLONE_INTO_CGROUP or cgroup.procs) by a process
     *     whose cgroup lies outside its cgroup namespace (ENOENT): still
     *     in the host's cgroup, we must not be in the container's
     *     namespace yet; the payload joins it (E2b). */
    if (setns(x->target_pidfd, CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET |
                                   CLONE_NEWPID) < 0) {
        rk_error_set(&err, errno, "joining the container's namespaces");
        goto fail;
    }
    /*     In a booted system the payload gets what systemd gives a
     *     service (read from the container's own /etc), under the
     *     container's environment. */
    if (x->boot) {
        char **env = rk_boot_service_env(x->spec.env);
        rk_strv_free(x->spec.env);
        x->spec.env = env;
    }
    int pidfd = -1;
    pid_t pid = clone3_pidfd(CLONE_PARENT, v2fd, &pidfd);
    if (pid < 0 && v2fd >= 0) {
        /* The paths are the host's, out of view now: the fd opened
         * before setns. */
        if (v2procs < 0 || write(v2procs, "0", 1) != 1) {
            rk_error_set(&err, errno, "moving into cgroup %s", v2dir);
            goto fail;
        }
        pid = clone3_pidfd(CLONE_PARENT, -1, &pidfd);
    }
    if (pid < 0) {
        rk_error_set(&err, errno, "creating the process in the container (clone3)");
        goto fail;
    }
    if (pid == 0)
        exec_payload(x);
    if (rk_sync_send(fd, RK_SYNC_PIDFD, pidfd, &err) < 0) {
        syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
        goto fail;
    }
    _exit(0);
fail:
    rk_sync_send_error(fd, err, 125);
    _exit(err && err->status ? err->status : 125);
}

/* Steps 4-6 of exec, shared with an OS container's payload: the
 * intermediate child joins the container and starts the payload as our
 * child; we relay until it exits. Takes x->child_in/out/err (closed
 * here); io's relay ends stay the caller's (io->relay_in is set to -1
 * when the relay closed it at EOF). */
static int exec_launch(exec_ctx *x, exec_io *io, int *ret_code, int *ret_sig, rk_error **err)
{
    int rc = -1, pidfd = -1, pty = -1;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, x->sync) < 0) {
        rk_error_set(err, errno, "creating the sync socket");
        goto out;
    }

    /* 4. The intermediate child joins the container and starts the
     *    payload as our child (see exec_child). */
    int mid_pidfd = -1;
    pid_t mid = clone3_pidfd(0, -1, &mid_pidfd);
    if (mid < 0) {
        rk_error_set(err, errno, "creating the exec process (clone3)");
        goto out;
    }
    if (mid == 0)
        exec_child(x);
    close_fd(&x->sync[1]);
    close_fd(&x->child_in);
    close_fd(&x->child_out);
    close_fd(&x->child_err);
    siginfo_t msi;
    while (waitid(P_PIDFD, (id_t)mid_pidfd, &msi, WEXITED) < 0 && errno == EINTR) {
    }
    close(mid_pidfd);

    /* 5. The reports: the payload's pidfd, its pty master, then an error
     *    or EOF (it exec'd). */
    for (;;) {
        rk_sync_msg m;
        int pfd = -1;
        int rr = rk_sync_recv(x->sync[0], &m, &pfd, err);
        if (rr < 0)
            goto kill;
        if (rr == 0)
            break;
        if (m.type == RK_SYNC_PIDFD && pfd >= 0 && pidfd < 0) {
            pidfd = pfd;
            continue;
        }
        if (m.type == RK_SYNC_PTY && pfd >= 0) {
            pty = pfd;
            continue;
        }
        if (pfd >= 0)
            close(pfd);
        if (m.type == RK_SYNC_ERROR) {
            rk_sync_error_from_msg(&m, err);
            goto kill;
        }
    }

    if (pidfd < 0) {
        rk_error_set(err, EPROTO, "the exec process did not report");
        goto out;
    }
    /* Detached: it has exec'd; whoever is the subreaper reaps it. */
    if (x->detach) {
        *ret_code = 0;
        if (ret_sig)
            *ret_sig = 0;
        rc = 0;
        goto out;
    }

    /* 6. Relay until it exits. */
    rk_relay rl = {.signal_fd = io->sigfd, .pidfd = pidfd, .winsize_src = -1, .winsize_dst = -1};
    if (x->spec.tty && pty >= 0) {
        int tty_src = isatty(0) ? 0 : isatty(1) ? 1 : -1;
        if (io->pty_out == 1) {
            rl.winsize_src = tty_src;
            rl.winsize_dst = pty;
            rk_term_copy_winsize(tty_src, pty);
        }
        if (io->pty_in) {
            if (io->term && isatty(0) && rk_term_make_raw(0, io->term, err) < 0)
                goto kill;
            rl.s[rl.n++] = (rk_relay_stream){.from = 0, .to = pty, .input = true, .to_is_pty = true};
        }
        rl.s[rl.n++] = (rk_relay_stream){.from = pty, .to = io->pty_out};
    } else {
        if (io->relay_in >= 0)
            rl.s[rl.n++] = (rk_relay_stream){.from = 0, .to = io->relay_in, .input = true};
        if (io->relay_out >= 0)
            rl.s[rl.n++] = (rk_relay_stream){.from = io->relay_out, .to = 1};
        if (io->relay_err >= 0)
            rl.s[rl.n++] = (rk_relay_stream){.from = io->relay_err, .to = 2};
    }
    if (io->extra)
        rl.s[rl.n++] = *io->extra;
    /* Forwarded signals go to the exec'd process, not the container's init. */
    rl.forward = forward_exec;
    rl.ctx = &pidfd;
    int code = 0, sig = 0;
    int rr = rk_relay_run(&rl, &code, &sig, err);
    for (size_t i = 0; i < rl.n; i++)
        if (rl.s[i].input && !rl.s[i].to_is_pty && rl.s[i].to < 0)
            io->relay_in = -1;
    if (io->term)
        rk_term_restore(io->term);
    if (rr < 0)
        goto kill;
    *ret_code = code;
    if (ret_sig)
        *ret_sig = sig;
    rc = 0;
    goto out;

kill:
    if (pidfd >= 0) {
        pidfd_signal(pidfd, SIGKILL);
        siginfo_t si;
        while (waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0 && errno == EINTR) {
        }
    }
out:
    if (io->term)
        rk_term_restore(io->term);
    closep_pair(x->sync);
    close_fd(&pidfd);
    close_fd(&pty);
    close_fd(&x->child_in);
    close_fd(&x->child_out);
    close_fd(&x->child_err);
    return rc;
}

static int find_running(const char *containers_dir, const char *rundir,
                        const char *name, rk_container_record *rec, rk_run_state *st,
                        rk_error **err)
{
    if (rk_container_find(containers_dir, name, rec, err) < 0)
        return -1;
    if (rk_run_state_read(rundir, rec->id, st, err) < 0) {
        rk_container_record_clear(rec);
        return -1;
    }
    if (st->status != RK_STATUS_RUNNING) {
        rk_error_set_status(err, 125, 0, "container %s is not running", rec->name);
        rk_run_state_clear(st);
        rk_container_record_clear(rec);
        return -1;
    }
    return 0;
}

int rk_container_exec(const rk_exec_options *o, int *ret_code, rk_error **err)
{
    /* 1. The container, which must be running, and its PID 1. */
    rk_container_record rec;
    rk_run_state st;
    if (find_running(o->containers_dir, o->rundir, o->container, &rec, &st, err) < 0)
        return -1;
    exec_ctx x;
    memset(&x, 0, sizeof(x));
    x.sync[0] = x.sync[1] = -1;
    x.child_in = x.child_out = x.child_err = -1;
    int rc = -1, sigfd = -1;
    int relay_in = -1, relay_out = -1, relay_err = -1;
    rk_term_saved term = {.fd = -1};
    rk_seccomp_prog seccomp = {0};
    bool masked = false;
    _cleanup_free_ char *sc_cache = NULL;
    x.target_pidfd = pidfd_open_checked(st.pid, st.pid_start, err);
    if (x.target_pidfd < 0)
        goto out;

    /* 2. The process spec: the container's, with exec's overrides. */
    x.spec = rec.spec;
    memset(&rec.spec, 0, sizeof(rec.spec));
    rk_strv_free(x.spec.argv);
    x.spec.argv = rk_strv_dup(o->argv);
    for (size_t i = 0; o->env && o->env[i]; i++)
        rk_env_set(&x.spec.env, rk_xstrdup(o->env[i]));
    if (o->user) {
        free(x.spec.user);
        x.spec.user = rk_xstrdup(o->user);
    }
    if (o->cwd) {
        free(x.spec.cwd);
        x.spec.cwd = rk_xstrdup(o->cwd);
    }
    x.spec.tty = o->tty;
    x.spec.interactive = o->interactive;
    x.boot = x.spec.boot == RK_BOOT_YES;
    x.cg = rk_cgroup_from_dirs(st.cgroups);
    if (x.boot) {
        rk_cgroup *sub;
        if (rk_cgroup_subgroup(x.cg, RK_BOOT_INNER_CGROUP "/" RK_BOOT_EXEC_CGROUP, true, &sub,
                               err) < 0)
            goto out;
        rk_cgroup_free(x.cg);
        x.cg = sub;
    }
    sc_cache = rk_path_join(o->rundir, "seccomp");
    if (x.spec.seccomp && rk_seccomp_prepare(x.spec.caps, sc_cache, &seccomp, err) < 0)
        goto out;
    x.seccomp = &seccomp;

    /* 3. Stdio (as for run) and signals. */
    int dn = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (dn < 0) {
        rk_error_set(err, errno, "opening /dev/null");
        goto out;
    }
    x.detach = o->detach;
    if (o->detach) {
        if (o->tty) {
            rk_error_set_status(err, 125, 0,
                                "exec -d cannot allocate a terminal (-t): nothing would hold it");
            close(dn);
            goto out;
        }
        x.child_in = dn;
        dn = -1;
        x.child_out = open("/dev/null", O_WRONLY | O_CLOEXEC);
        x.child_err = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (x.child_out < 0 || x.child_err < 0) {
            rk_error_set(err, errno, "opening /dev/null");
            goto out;
        }
    } else if (!o->tty && o->capture_output) {
        x.child_in = dn;
        dn = -1;
        x.child_out = fcntl(o->output_fd, F_DUPFD_CLOEXEC, 3);
        x.child_err = fcntl(o->output_fd, F_DUPFD_CLOEXEC, 3);
        if (x.child_out < 0 || x.child_err < 0) {
            rk_error_set(err, errno, "duplicating the output descriptor");
            goto out;
        }
    } else if (!o->tty) {
        int p[2];
        if (!o->interactive) {
            x.child_in = dn;
            dn = -1;
        } else if (isatty(0)) {
            if (pipe2(p, O_CLOEXEC) < 0)
                goto pipe_fail;
            x.child_in = p[0];
            relay_in = p[1];
        } else {
            x.child_in = fcntl(0, F_DUPFD_CLOEXEC, 3);
        }
        int *child[2] = {&x.child_out, &x.child_err};
        int *relay[2] = {&relay_out, &relay_err};
        for (int i = 0; i < 2; i++) {
            if (isatty(i + 1)) {
                if (pipe2(p, O_CLOEXEC) < 0)
                    goto pipe_fail;
                *relay[i] = p[0];
                *child[i] = p[1];
            } else {
                *child[i] = fcntl(i + 1, F_DUPFD_CLOEXEC, 3);
            }
        }
    }
    if (dn >= 0)
        close(dn);
    sigfd = rk_signals_block(&x.oldmask, err);
    if (sigfd < 0)
        goto out;
    masked = true;
    signal(SIGPIPE, SIG_IGN);
    if (o->tty) {
        int src = isatty(0) ? 0 : isatty(1) ? 1 : -1;
        x.have_ws = src >= 0 && ioctl(src, TIOCGWINSZ, &x.ws) == 0;
    }

    /* 4-6. Start it and relay until it exits. */
    exec_io io = {
        .sigfd = sigfd,
        .relay_in = relay_in,
        .relay_out = relay_out,
        .relay_err = relay_err,
        .pty_out = 1,
        .pty_in = o->interactive,
        .term = &term,
    };
    rc = exec_launch(&x, &io, ret_code, NULL, err);
    relay_in = io.relay_in;
    goto out;

pipe_fail:
    rk_error_set(err, errno, "creating a pipe");
out:
    rk_term_restore(&term);
    if (masked)
        sigprocmask(SIG_SETMASK, &x.oldmask, NULL);
    closep_pair(x.sync);
    close_fd(&sigfd);
    close_fd(&relay_in);
    close_fd(&relay_out);
    close_fd(&relay_err);
    close_fd(&x.child_in);
    close_fd(&x.child_out);
    close_fd(&x.child_err);
    close_fd(&x.target_pidfd);
    rk_cgroup_free(x.cg);
    rk_seccomp_prog_clear(&seccomp);
    rk_spec_clear(&x.spec);
    rk_run_state_clear(&st);
    rk_container_record_clear(&rec);
    return rc;
}

/* ------------------------------------------------------------------ */
/* OS containers, once booted                                         */
/* ------------------------------------------------------------------ */

/* Without a payload, signals to racker stop the system: TERM would make
 * systemd re-execute itself, INT reboot it. */
static void forward_boot(void *ctx, int sig)
{
    run_ctx *c = ctx;
    if (c->pidfd < 0)
        return;
    bool stop = sig == SIGINT || sig == SIGTERM || sig == SIGHUP || sig == SIGQUIT;
    pidfd_signal(c->pidfd, stop ? SIGRTMIN + 3 : sig);
}

/* The payload, through exec's path (E1-E4), with the console pumped to
 * its log meanwhile. */
static int run_payload(run_ctx *c, int *ret_code, int *ret_sig, rk_error **err)
{
    const rk_run_options *o = c->o;
    exec_ctx x;
    memset(&x, 0, sizeof(x));
    x.sync[0] = x.sync[1] = -1;
    /* A copy of the container's spec, as exec would read it back. */
    _cleanup_json_ json_t *j = rk_spec_to_json(c->spec);
    if (rk_spec_from_json(j, &x.spec, err) < 0)
        return -1;
    rk_strv_free(x.spec.argv);
    x.spec.argv = rk_strv_dup(o->boot->payload);
    x.seccomp = &c->seccomp;
    x.ws = c->ws;
    x.have_ws = c->have_ws;
    x.target_pidfd = c->pidfd;
    x.oldmask = c->oldmask;
    x.boot = true;
    x.child_in = TAKE_FD(c->child_in);
    x.child_out = TAKE_FD(c->child_out);
    x.child_err = TAKE_FD(c->child_err);
    int rc = -1;
    if (rk_cgroup_subgroup(c->join, RK_BOOT_EXEC_CGROUP, true, &x.cg, err) < 0)
        goto out;
    /* Detached with -t, the pty goes to the log as a run's would. */
    int pty_out = 1;
    if (o->detach && x.spec.tty)
        pty_out = x.child_out;
    rk_relay_stream console = {.from = c->console_master, .to = c->console_log};
    exec_io io = {
        .sigfd = c->sigfd,
        .relay_in = c->relay_in_w,
        .relay_out = c->relay_out_r,
        .relay_err = c->relay_err_r,
        .pty_out = pty_out,
        .pty_in = x.spec.interactive && !o->detach,
        .term = o->detach ? NULL : &c->term,
        .extra = &console,
    };
    if (pty_out != 1)
        x.child_out = -1; /* the log stays ours, for the pty */
    step_time("payload: starting");
    rc = exec_launch(&x, &io, ret_code, ret_sig, err);
    c->relay_in_w = io.relay_in;
    if (pty_out != 1)
        close(pty_out);
out:
    close_fd(&x.child_in);
    close_fd(&x.child_out);
    close_fd(&x.child_err);
    rk_cgroup_free(x.cg);
    rk_spec_clear(&x.spec);
    return rc;
}

/* After the payload: a --rm container is killed at once (nothing of it
 * is kept, so an orderly shutdown would only cost time); a kept one is
 * halted, and killed when it takes longer than the grace period. */
static void stop_system(run_ctx *c)
{
    if (c->pid <= 0)
        return;
    if (c->o->auto_remove) {
        pidfd_signal(c->pidfd, SIGKILL);
        if (!c->o->detach) {
            c->pid1_dying = true; /* see teardown_async */
            return;
        }
    } else {
        pidfd_signal(c->pidfd, SIGRTMIN + 3);
        if (!rk_boot_console_until_exit(c->console_master, c->console_log, c->pidfd,
                                        RK_BOOT_HALT_GRACE * 1000, NULL))
            pidfd_signal(c->pidfd, SIGKILL);
    }
    siginfo_t si;
    while (waitid(P_PIDFD, (id_t)c->pidfd, &si, WEXITED) < 0 && errno == EINTR) {
    }
    c->pid = 0;
}

/* Step 10 of an OS container: the payload, or the console until the
 * system halts. */
static int run_booted(run_ctx *c, int *ret_code, int *ret_sig, rk_error **err)
{
    const rk_run_options *o = c->o;
    if (o->boot->payload) {
        int r = run_payload(c, ret_code, ret_sig, err);
        step_time("payload exited");
        stop_system(c);
        return r;
    }
    rk_relay rl = {.signal_fd = c->sigfd, .pidfd = c->pidfd, .winsize_src = -1,
                   .winsize_dst = -1, .forward = forward_boot, .ctx = c};
    if (o->detach) {
        rl.s[rl.n++] = (rk_relay_stream){.from = c->console_master, .to = c->console_log};
    } else {
        /* The console is the caller's, as with systemd-nspawn -b. */
        if (c->spec->tty) {
            int tty_src = isatty(0) ? 0 : isatty(1) ? 1 : -1;
            rl.winsize_src = tty_src;
            rl.winsize_dst = c->console_master;
            rk_term_copy_winsize(tty_src, c->console_master);
            if (c->spec->interactive && isatty(0) && rk_term_make_raw(0, &c->term, err) < 0)
                return -1;
        }
        if (c->spec->interactive)
            rl.s[rl.n++] = (rk_relay_stream){.from = 0, .to = c->console_master, .input = true,
                                             .to_is_pty = true};
        rl.s[rl.n++] = (rk_relay_stream){.from = c->console_master, .to = 1};
    }
    int code = 0, sig = 0;
    int r = rk_relay_run(&rl, &code, &sig, err);
    rk_term_restore(&c->term);
    if (r < 0)
        return -1;
    c->pid = 0;
    /* systemd's halt, poweroff and reboot end a PID namespace's init with
     * SIGINT or SIGHUP (reboot(2) in a PID namespace): a clean end. */
    if (sig == SIGINT || sig == SIGHUP)
        code = sig = 0;
    *ret_code = code;
    *ret_sig = sig;
    return 0;
}

/* ------------------------------------------------------------------ */
/* stop, remove, list                                                  */
/* ------------------------------------------------------------------ */

/* Wait for pidfd to become readable (the process exited). 1 exited, 0
 * timed out. timeout_ms < 0 waits forever. */
static int wait_exit(int pidfd, int timeout_ms)
{
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    for (;;) {
        int r = poll(&p, 1, timeout_ms);
        if (r < 0 && errno == EINTR)
            continue;
        return r > 0;
    }
}

static int kill_and_wait(const char *rundir, const rk_container_record *rec,
                         const rk_run_state *st, int first_signal, int timeout,
                         rk_error **err)
{
    rk_error *e = NULL;
    int pidfd = pidfd_open_checked(st->pid, st->pid_start, &e);
    if (pidfd >= 0) {
        if (first_signal != SIGKILL) {
            if (pidfd_signal(pidfd, first_signal) < 0 && errno != ESRCH) {
                close(pidfd);
                return rk_error_set(err, errno, "sending signal %d to %s", first_signal, rec->name);
            }
            if (!wait_exit(pidfd, timeout < 0 ? -1 : timeout * 1000))
                pidfd_signal(pidfd, SIGKILL);
        } else {
            pidfd_signal(pidfd, SIGKILL);
        }
        wait_exit(pidfd, -1);
        close(pidfd);
    } else {
        rk_error_free(e); /* already gone */
    }
    /* The supervisor records the exit and cleans up, then lets go. */
    return rk_run_state_wait_released(rundir, rec->id, err);
}

int rk_container_stop(const char *containers_dir, const char *rundir,
                      const char *container, int timeout, int signal_override,
                      rk_error **err)
{
    rk_container_record rec;
    if (rk_container_find(containers_dir, container, &rec, err) < 0)
        return -1;
    rk_run_state st;
    int rc = rk_run_state_read(rundir, rec.id, &st, err);
    if (rc == 0 && st.status == RK_STATUS_RUNNING) {
        int sig = signal_override > 0 ? signal_override : rec.spec.stop_signal;
        rc = kill_and_wait(rundir, &rec, &st, sig > 0 ? sig : SIGTERM, timeout, err);
    }
    if (rc == 0)
        rk_run_state_clear(&st);
    rk_container_record_clear(&rec);
    return rc;
}

int rk_container_remove(const char *containers_dir, const char *rundir,
                        const char *container, bool force, rk_error **err)
{
    rk_container_record rec;
    if (rk_container_find(containers_dir, container, &rec, err) < 0)
        return -1;
    rk_run_state st;
    int rc = rk_run_state_read(rundir, rec.id, &st, err);
    if (rc < 0)
        goto out;
    if (st.status == RK_STATUS_RUNNING) {
        if (!force) {
            rc = rk_error_set_status(err, 125, 0,
                                     "container %s is running: stop it first or use --force",
                                     rec.name);
            goto out_state;
        }
        if ((rc = kill_and_wait(rundir, &rec, &st, SIGKILL, 0, err)) < 0)
            goto out_state;
    }
    /* A supervisor that died left its cgroups behind (empty by now). */
    if (st.cgroups) {
        rk_cgroup *cg = rk_cgroup_from_dirs(st.cgroups);
        rk_cgroup_destroy(cg, NULL);
        rk_cgroup_free(cg);
    }
    if ((rc = rk_container_record_remove(containers_dir, rec.id, err)) < 0)
        goto out_state;
    rc = rk_run_state_remove(rundir, rec.id, err);
out_state:
    rk_run_state_clear(&st);
out:
    rk_container_record_clear(&rec);
    return rc;
}

int rk_container_list_all(const char *containers_dir, const char *rundir,
                          rk_container_info **ret, size_t *n, rk_error **err)
{
    rk_container_record *recs;
    size_t k;
    if (rk_container_list(containers_dir, &recs, &k, err) < 0)
        return -1;
    rk_container_info *v = rk_xcalloc(k + 1, sizeof(*v));
    for (size_t i = 0; i < k; i++) {
        v[i].rec = recs[i];
        rk_error *e = NULL;
        if (rk_run_state_read(rundir, recs[i].id, &v[i].state, &e) < 0) {
            rk_debug("%s", e->msg);
            rk_error_free(e);
            v[i].state.status = RK_STATUS_EXITED;
            v[i].state.exit_code = -1;
        }
    }
    free(recs);
    *ret = v;
    *n = k;
    return 0;
}

void rk_container_info_free(rk_container_info *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        rk_container_record_clear(&v[i].rec);
        rk_run_state_clear(&v[i].state);
    }
    free(v);
}
