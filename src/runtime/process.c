#include "runtime/process.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/strv.h"
#include "runtime/caps.h"
#include "runtime/seccomp.h"
#include "runtime/user.h"

int rk_exec_status(int errnum)
{
    return errnum == ENOENT || errnum == ENOTDIR ? 127 : 126;
}

int rk_exec_in_path(char *const *argv, char *const *env, rk_error **err)
{
    const char *cmd = argv[0];
    if (strchr(cmd, '/')) {
        execve(cmd, argv, env);
        int e = errno;
        return rk_error_set_status(err, rk_exec_status(e), e, "exec: \"%s\"", cmd);
    }
    const char *path = rk_env_get(env, "PATH");
    if (!path)
        path = RK_DEFAULT_PATH;
    int denied = 0;
    const char *p = path;
    for (;;) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        _cleanup_free_ char *full = n ? rk_xasprintf("%.*s/%s", (int)n, p, cmd)
                                      : rk_xstrdup(cmd); /* "" means the cwd */
        execve(full, argv, env);
        int e = errno;
        if (e == EACCES)
            denied = e;
        else if (e != ENOENT && e != ENOTDIR)
            return rk_error_set_status(err, 126, e, "exec: \"%s\"", full);
        if (!colon)
            break;
        p = colon + 1;
    }
    if (denied)
        return rk_error_set_status(err, 126, denied, "exec: \"%s\"", cmd);
    return rk_error_set_status(err, 127, 0, "exec: \"%s\": executable file not found in $PATH", cmd);
}

static char *read_etc(const char *name)
{
    char *text = NULL;
    _cleanup_free_ char *p = rk_path_join("/etc", name);
    if (rk_read_file_at(AT_FDCWD, p, 1 << 24, &text, NULL, NULL) < 0)
        return NULL;
    return text;
}

static int setup_stdio(const rk_process_opts *o, rk_error **err)
{
    if (setsid() < 0)
        return rk_error_set(err, errno, "creating a session (setsid)");
    if (o->pty_slave >= 0) {
        if (ioctl(o->pty_slave, TIOCSCTTY, 0) < 0)
            return rk_error_set(err, errno, "making the pty the controlling terminal");
        for (int fd = 0; fd < 3; fd++)
            if (dup2(o->pty_slave, fd) < 0)
                return rk_error_set(err, errno, "dup2 of the pty to fd %d", fd);
        if (o->pty_slave > 2)
            close(o->pty_slave);
        return 0;
    }
    const int src[3] = {o->stdin_fd, o->stdout_fd, o->stderr_fd};
    /* dup3 into 0..2 from a copy above 2, so an fd that already is one of
     * 0..2 cannot be clobbered before it was used. */
    int tmp[3];
    for (int i = 0; i < 3; i++) {
        tmp[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 3);
        if (tmp[i] < 0)
            return rk_error_set(err, errno, "duplicating stdio fd %d", src[i]);
    }
    for (int i = 0; i < 3; i++) {
        if (dup2(tmp[i], i) < 0)
            return rk_error_set(err, errno, "dup2 to fd %d", i);
        close(tmp[i]);
    }
    return 0;
}

static void reset_signals(const sigset_t *mask)
{
    struct sigaction sa = {.sa_handler = SIG_DFL};
    sigemptyset(&sa.sa_mask);
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            sigaction(s, &sa, NULL);
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, mask ? mask : &empty, NULL);
}

static void user_clearp(rk_user *u)
{
    rk_user_clear(u);
}

static void init_noop(int sig) { (void)sig; }

/* --init: PID 1 stays with us, forwards signals to the command and reaps
 * orphans; it exits with the command's status. A namespace's init gets
 * only the signals it has handlers for, hence the no-op handlers. */
static int run_init(char *const *argv, char *const *env, const rk_process_opts *o,
                    rk_error **err)
{
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    struct sigaction sa = {.sa_handler = init_noop};
    sigemptyset(&sa.sa_mask);
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            sigaction(s, &sa, NULL);
    pid_t child = fork();
    if (child < 0)
        return rk_error_set(err, errno, "forking the command under --init");
    if (child == 0) {
        reset_signals(o->sigmask);
        /* Only returns on failure: the caller reports it on the sync
         * channel and exits with its status, which the reaper passes on. */
        return rk_exec_in_path(argv, env, err);
    }
    /* The command owns stdio now, and nothing of the supervisor's (its
     * lock above all) may stay open in a process that never execs. */
    syscall(SYS_close_range, 0, ~0U, 0);
    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(&all, &si);
        if (sig < 0)
            continue;
        if (sig != SIGCHLD) {
            kill(child, sig);
            continue;
        }
        int st;
        pid_t p;
        while ((p = waitpid(-1, &st, WNOHANG)) > 0)
            if (p == child)
                _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    }
}

int rk_process_start(const rk_spec *spec, const rk_process_opts *o, rk_error **err)
{
    /* 1. stdio: the pty as controlling terminal, or the given fds; always a
     *    new session, so no terminal of the caller is reachable. */
    if (setup_stdio(o, err) < 0)
        return -1;

    /* 2. Who: user[:group] from the container's own passwd and group. */
    _cleanup_free_ char *passwd = read_etc("passwd"), *group = read_etc("group");
    _cleanup_(user_clearp) rk_user u = {0};
    if (rk_user_resolve(spec->user, passwd, group, &u, err) < 0)
        return -1;

    /* 3. The environment: HOME from passwd, HOSTNAME, TERM with a pty. */
    _cleanup_strv_ char **env = rk_strv_dup(spec->env);
    if (!env)
        env = rk_xcalloc(1, sizeof(char *));
    if (!rk_env_get(env, "HOME"))
        rk_env_set(&env, rk_xasprintf("HOME=%s", u.home));
    if (!rk_env_get(env, "HOSTNAME") && spec->hostname)
        rk_env_set(&env, rk_xasprintf("HOSTNAME=%s", spec->hostname));
    if (o->pty_slave >= 0 && !rk_env_get(env, "TERM"))
        rk_env_set(&env, rk_xstrdup("TERM=xterm"));

    /* 4. The working directory exists (Docker creates WorkingDir). */
    const char *cwd = spec->cwd && *spec->cwd ? spec->cwd : "/";
    if (o->create_cwd && access(cwd, F_OK) < 0 && rk_mkdir_p(cwd, 0755, err) < 0)
        return rk_error_wrap(err, "creating the working directory");

    /* 4b. Without no_new_privs (an OS container, --privileged), loading
     *     a filter needs CAP_SYS_ADMIN, which a switch to another user
     *     drops: load it now, as runc does. Nothing below uses a syscall
     *     it denies. */
    bool seccomp_early = spec->seccomp && !spec->no_new_privs;
    if (seccomp_early) {
        int r = o->seccomp && o->seccomp->len ? rk_seccomp_install(o->seccomp, err)
                                              : rk_seccomp_load_default(spec->caps, err);
        if (r < 0)
            return -1;
    }

    /* 5. Capabilities: the bounding set first (needs CAP_SETPCAP), then the
     *    user switch (needs CAP_SETUID/SETGID), then the process's sets. */
    if (rk_caps_drop_bounding(spec->caps, err) < 0)
        return -1;
    if (setgroups(u.n_groups, u.groups) < 0)
        return rk_error_set(err, errno, "setgroups");
    if (setresgid(u.gid, u.gid, u.gid) < 0)
        return rk_error_set(err, errno, "setgid %u", (unsigned)u.gid);
    if (setresuid(u.uid, u.uid, u.uid) < 0)
        return rk_error_set(err, errno, "setuid %u", (unsigned)u.uid);
    if (rk_caps_set_process(spec->caps, err) < 0)
        return -1;

    /* 6. No privilege gain through setuid binaries or file capabilities;
     *    die with the supervisor (set after the uid change, which clears
     *    it), unless detached. */
    if (spec->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return rk_error_set(err, errno, "setting no_new_privs");
    if (!o->outlive_parent && prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        return rk_error_set(err, errno, "setting the parent death signal");

    if (chdir(cwd) < 0)
        return rk_error_set_status(err, 126, errno, "chdir to %s", cwd);

    /* 7. Signals as a fresh process expects them. */
    if (!spec->init)
        reset_signals(o->sigmask);

    /* 8. The seccomp filter, last: the steps above use syscalls it denies. */
    if (spec->seccomp && !seccomp_early) {
        int r = o->seccomp && o->seccomp->len ? rk_seccomp_install(o->seccomp, err)
                                              : rk_seccomp_load_default(spec->caps, err);
        if (r < 0)
            return -1;
    }

    /* 9. No descriptor of racker's leaks into the container. */
    rk_cloexec_from(3, true);

    if (spec->init && o->pid1)
        return run_init(spec->argv, env, o, err);
    return rk_exec_in_path(spec->argv, env, err);
}
