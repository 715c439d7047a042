/* runtime/boot: detecting systemd in layers, the capability set, the
 * spec of an OS container, the service environment, notify messages, the
 * console's last lines, runtime masks and the notify socket. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/strv.h"
#include "runtime/boot.h"
#include "runtime/caps.h"
#include "runtime/cgroup.h"
#include "runtime/spec.h"

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/rk-test-boot-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rk_rm_rf(tmpdir, NULL);
    return 0;
}

/* A file in tmpdir/rel with the given mode (and parents). */
static void make_file(const char *rel, const char *content, mode_t mode)
{
    _cleanup_free_ char *p = rk_path_join(tmpdir, rel);
    _cleanup_free_ char *dir = rk_xstrdup(p);
    *strrchr(dir, '/') = 0;
    assert_int_equal(rk_mkdir_p(dir, 0755, NULL), 0);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(rk_write_all(fd, content, strlen(content)), 0);
    close(fd);
    chmod(p, mode);
}

static void make_link(const char *rel, const char *target)
{
    _cleanup_free_ char *p = rk_path_join(tmpdir, rel);
    _cleanup_free_ char *dir = rk_xstrdup(p);
    *strrchr(dir, '/') = 0;
    assert_int_equal(rk_mkdir_p(dir, 0755, NULL), 0);
    assert_int_equal(symlink(target, p), 0);
}

static void test_find_systemd(void **state)
{
    (void)state;
    char *layers[] = {tmpdir, NULL};
    /* nothing yet */
    assert_null(rk_boot_find_systemd(layers, 1));
    /* /sbin/init to something that is not systemd (busybox) does not count */
    make_file("bin/busybox", "#!x\n", 0755);
    make_link("sbin/init", "/bin/busybox");
    assert_null(rk_boot_find_systemd(layers, 1));
    /* /sbin/init to systemd counts; a non-executable systemd does not */
    make_file("usr/lib/systemd/systemd", "ELF", 0644);
    _cleanup_free_ char *init = rk_path_join(tmpdir, "sbin/init");
    unlink(init);
    make_link("sbin/init", "../usr/lib/systemd/systemd");
    assert_null(rk_boot_find_systemd(layers, 1));
    _cleanup_free_ char *sd = rk_path_join(tmpdir, "usr/lib/systemd/systemd");
    chmod(sd, 0755);
    _cleanup_free_ char *a = rk_boot_find_systemd(layers, 1);
    assert_string_equal(a, "/usr/lib/systemd/systemd");
    /* /lib/systemd/systemd first (Debian's path) */
    make_file("lib/systemd/systemd", "ELF", 0755);
    _cleanup_free_ char *b = rk_boot_find_systemd(layers, 1);
    assert_string_equal(b, "/lib/systemd/systemd");
}

static void test_is_init_command(void **state)
{
    (void)state;
    assert_true(rk_boot_is_init_command("/lib/systemd/systemd"));
    assert_true(rk_boot_is_init_command("/usr/lib/systemd/systemd"));
    assert_true(rk_boot_is_init_command("/sbin/init"));
    assert_true(rk_boot_is_init_command("systemd"));
    assert_false(rk_boot_is_init_command("bash"));
    assert_false(rk_boot_is_init_command("/bin/systemctl"));
    assert_false(rk_boot_is_init_command(NULL));
}

static void test_caps(void **state)
{
    (void)state;
    uint64_t def = rk_boot_default_caps();
    assert_true(def & rk_cap_bit(CAP_SYS_ADMIN));
    assert_true(def & rk_cap_bit(CAP_SYS_BOOT));
    assert_true(def & rk_cap_bit(CAP_SETUID));
    assert_false(def & rk_cap_bit(CAP_MKNOD));
    assert_false(def & rk_cap_bit(CAP_DAC_READ_SEARCH));
    assert_false(def & rk_cap_bit(CAP_NET_ADMIN));
    assert_false(def & rk_cap_bit(CAP_SYS_MODULE));
    uint64_t c;
    char *add[] = {"NET_ADMIN", NULL}, *drop[] = {"SYS_ADMIN", NULL};
    assert_int_equal(rk_boot_caps_compute(add, drop, false, &c, NULL), 0);
    assert_int_equal(c, (def & ~rk_cap_bit(CAP_SYS_ADMIN)) | rk_cap_bit(CAP_NET_ADMIN));
    /* drops first, then adds, as Docker */
    char *all[] = {"ALL", NULL}, *kill_[] = {"KILL", NULL};
    assert_int_equal(rk_boot_caps_compute(kill_, all, false, &c, NULL), 0);
    assert_int_equal(c, rk_cap_bit(CAP_KILL));
    assert_int_equal(rk_boot_caps_compute(NULL, NULL, true, &c, NULL), 0);
    assert_true(c & rk_cap_bit(CAP_MKNOD));
    rk_error *e = NULL;
    char *bad[] = {"NO_SUCH_CAP", NULL};
    assert_int_equal(rk_boot_caps_compute(bad, NULL, false, &c, &e), -1);
    assert_int_equal(e->status, 125);
    rk_error_free(e);
}

static void test_spec_setup(void **state)
{
    (void)state;
    rk_spec s;
    rk_spec_init(&s);
    rk_mount_spec user = {.kind = RK_MOUNT_TMPFS, .target = "/run/app"};
    rk_spec_add_mount(&s, &user);
    rk_boot_spec_setup(&s, false);
    assert_int_equal(s.boot, RK_BOOT_YES);
    assert_true(s.console);
    assert_int_equal(s.cgroupfs, RK_CGROUPFS_RW);
    assert_false(s.no_new_privs);
    assert_int_equal(s.stop_signal, SIGRTMIN + 3);
    /* the container interface's mounts first, the user's after */
    assert_int_equal(s.n_mounts, 4);
    assert_string_equal(s.mounts[0].target, "/run");
    assert_string_equal(s.mounts[1].target, "/run/lock");
    assert_string_equal(s.mounts[2].target, "/tmp");
    assert_string_equal(s.mounts[3].target, "/run/app");
    rk_spec_clear(&s);
    rk_spec_init(&s);
    s.stop_signal = SIGUSR1;
    rk_boot_spec_setup(&s, true);
    assert_int_equal(s.stop_signal, SIGUSR1);
    rk_spec_clear(&s);
}

static void test_uuid_and_init_env(void **state)
{
    (void)state;
    char uuid[33];
    rk_boot_uuid("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", uuid);
    assert_string_equal(uuid, "0123456789abcdef0123456789abcdef");
    _cleanup_strv_ char **env = rk_boot_init_env(uuid);
    assert_string_equal(rk_env_get(env, "container"), "racker");
    assert_string_equal(rk_env_get(env, "container_uuid"), uuid);
    assert_string_equal(rk_env_get(env, "NOTIFY_SOCKET"), "/run/host/notify");
    assert_string_equal(rk_env_get(env, "PATH"), RK_DEFAULT_PATH);
}

static void test_locale_parse(void **state)
{
    (void)state;
    _cleanup_strv_ char **a = rk_boot_locale_parse(
        "# comment\n"
        "LANG=\"de_DE.UTF-8\"\n"
        "  LC_TIME='en_GB.UTF-8'  \n"
        "export LC_PAPER=C\n"
        "LANGUAGE=\n"
        "NOT_A_LOCALE=x\n"
        "LC_CTYPE=C.UTF-8\r\n"
        "garbage line\n");
    assert_int_equal(rk_strv_len(a), 4);
    assert_string_equal(rk_env_get(a, "LANG"), "de_DE.UTF-8");
    assert_string_equal(rk_env_get(a, "LC_TIME"), "en_GB.UTF-8");
    assert_string_equal(rk_env_get(a, "LC_PAPER"), "C");
    assert_string_equal(rk_env_get(a, "LC_CTYPE"), "C.UTF-8");
    assert_null(rk_env_get(a, "LANGUAGE"));
    assert_null(rk_env_get(a, "NOT_A_LOCALE"));
    assert_null(rk_boot_locale_parse(NULL));
    assert_null(rk_boot_locale_parse(""));
}

static void test_notify_ready(void **state)
{
    (void)state;
    char *st = NULL;
    assert_true(rk_boot_notify_ready("READY=1", 7, &st));
    assert_null(st);
    const char *m = "STATUS=Startup finished in 200ms.\nREADY=1\nX_SYSTEMD_UNIT_ACTIVE=basic.target";
    assert_true(rk_boot_notify_ready(m, strlen(m), &st));
    assert_string_equal(st, "Startup finished in 200ms.");
    free(st);
    assert_false(rk_boot_notify_ready("READY=0\n", 8, NULL));
    assert_false(rk_boot_notify_ready("READY=11", 8, NULL));
    assert_false(rk_boot_notify_ready("XREADY=1", 8, NULL));
    /* not NUL terminated: only len bytes count */
    assert_false(rk_boot_notify_ready("READY=1", 6, NULL));
    assert_false(rk_boot_notify_ready("", 0, NULL));
}

static void test_console_tail(void **state)
{
    (void)state;
    rk_console_tail *t = rk_xcalloc(1, sizeof(*t));
    _cleanup_free_ char *empty = rk_console_tail_lines(t, 5);
    assert_string_equal(empty, "");
    const char *boot = "Welcome\r\n[\x1b[0;32m  OK  \x1b[0m] Started journald.\r\n"
                       "one\r\ntwo\r\nthree\r\n\r\n";
    rk_console_tail_add(t, boot, strlen(boot));
    _cleanup_free_ char *l2 = rk_console_tail_lines(t, 2);
    assert_string_equal(l2, "  two\n  three");
    _cleanup_free_ char *l4 = rk_console_tail_lines(t, 4);
    assert_string_equal(l4, "  [  OK  ] Started journald.\n  one\n  two\n  three");
    _cleanup_free_ char *all = rk_console_tail_lines(t, 100);
    assert_non_null(strstr(all, "  [  OK  ] Started journald.\n"));
    assert_null(strchr(all, '\x1b'));
    assert_null(strchr(all, '\r'));
    /* the buffer keeps the last bytes */
    char big[20000];
    memset(big, 'x', sizeof(big));
    big[sizeof(big) - 1] = '\n';
    rk_console_tail_add(t, big, sizeof(big));
    assert_int_equal(t->len, sizeof(t->buf));
    rk_console_tail_add(t, "last\n", 5);
    _cleanup_free_ char *last = rk_console_tail_lines(t, 1);
    assert_string_equal(last, "  last");
    free(t);
}

static void test_fstab_empty(void **state)
{
    (void)state;
    assert_true(rk_boot_fstab_empty(NULL));
    assert_true(rk_boot_fstab_empty(""));
    assert_true(rk_boot_fstab_empty("# UNCONFIGURED FSTAB FOR BASE SYSTEM\n"));
    assert_true(rk_boot_fstab_empty("\n   \n\t# x\n"));
    assert_false(rk_boot_fstab_empty("# x\n/dev/sda1 / ext4 defaults 0 1\n"));
    assert_false(rk_boot_fstab_empty("  tmpfs /mnt tmpfs defaults 0 0"));
}

/* rk_boot_prepare_root writes into the root it runs in: run it in a
 * child chrooted into a scratch tree. */
static void test_prepare_root(void **state)
{
    (void)state;
    make_file("etc/fstab", "# nothing\n", 0644);
    make_file("etc/rc.local", "#!/bin/sh\n", 0755);
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0) {
        if (chroot(tmpdir) < 0 || chdir("/") < 0)
            _exit(10);
        rk_boot_root r = {.volatile_ = true, .payload = true, .init_has_args = false,
                          .host_os_release = "ID=host\n"};
        _exit(rk_boot_prepare_root(&r, NULL) == 0 ? 0 : 11);
    }
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    char buf[256];
    const char *masked[] = {
        "run/systemd/system/systemd-remount-fs.service",
        "run/systemd/system/systemd-journal-flush.service",
        "run/systemd/system/systemd-update-utmp-runlevel.service",
        "run/systemd/system/systemd-ask-password-console.path",
        "run/systemd/system-generators/systemd-cryptsetup-generator",
        "run/systemd/system-generators/systemd-fstab-generator",
        "run/systemd/system-generators/systemd-debug-generator",
        "run/systemd/system-generators/systemd-getty-generator",
    };
    for (size_t i = 0; i < sizeof(masked) / sizeof(masked[0]); i++) {
        _cleanup_free_ char *path = rk_path_join(tmpdir, masked[i]);
        ssize_t n = readlink(path, buf, sizeof(buf) - 1);
        assert_true(n > 0);
        buf[n] = 0;
        assert_string_equal(buf, "/dev/null");
    }
    /* rc.local is executable: its generator has work */
    _cleanup_free_ char *rcgen =
        rk_path_join(tmpdir, "run/systemd/system-generators/systemd-rc-local-generator");
    assert_int_equal(access(rcgen, F_OK), -1);
    /* sysv-generator is never masked */
    _cleanup_free_ char *sysv =
        rk_path_join(tmpdir, "run/systemd/system-generators/systemd-sysv-generator");
    assert_int_equal(access(sysv, F_OK), -1);
    _cleanup_free_ char *osr = NULL;
    _cleanup_free_ char *osr_path = rk_path_join(tmpdir, "run/host/os-release");
    assert_int_equal(rk_read_file_at(AT_FDCWD, osr_path, 0, &osr, NULL, NULL), 0);
    assert_string_equal(osr, "ID=host\n");
}

/* A kept container keeps its utmp records and journal flush. */
static void test_prepare_root_kept(void **state)
{
    (void)state;
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0) {
        if (chroot(tmpdir) < 0 || chdir("/") < 0)
            _exit(10);
        rk_boot_root r = {.volatile_ = false, .payload = false, .init_has_args = true};
        _exit(rk_boot_prepare_root(&r, NULL) == 0 ? 0 : 11);
    }
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_int_equal(WEXITSTATUS(st), 0);
    const char *kept[] = {
        "run/systemd/system/systemd-journal-flush.service",
        "run/systemd/system/systemd-update-utmp.service",
        "run/systemd/system-generators/systemd-getty-generator",
        "run/systemd/system-generators/systemd-debug-generator",
        "run/systemd/system-generators/systemd-run-generator",
    };
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
        _cleanup_free_ char *path = rk_path_join(tmpdir, kept[i]);
        assert_int_equal(access(path, F_OK), -1);
    }
    _cleanup_free_ char *m = rk_path_join(tmpdir, "run/systemd/system/systemd-remount-fs.service");
    assert_int_equal(access(m, F_OK), 0);
}

/* The notify socket: a path longer than sun_path works, only PID 1's
 * READY=1 counts, the console is copied to the log meanwhile. */
static void test_notify_socket_and_wait(void **state)
{
    (void)state;
    char longdir[256];
    snprintf(longdir, sizeof(longdir), "%s/%s%s", tmpdir,
             "0123456789012345678901234567890123456789012345678901234567890123456789",
             "0123456789012345678901234567890123456789");
    assert_int_equal(mkdir(longdir, 0700), 0);
    _cleanup_free_ char *path = rk_path_join(longdir, "notify");
    assert_true(strlen(path) > 108);
    int fd = rk_boot_notify_open(path, NULL);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));

    int console[2], logp[2];
    assert_int_equal(pipe(console), 0);
    assert_int_equal(pipe(logp), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        /* a grandchild's READY=1 does not count; ours does */
        int s = socket(AF_UNIX, SOCK_DGRAM, 0);
        int dfd = open(longdir, O_PATH | O_DIRECTORY);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/notify", dfd);
        if (write(console[1], "booting\r\n", 9) != 9)
            _exit(3);
        pid_t g = fork();
        if (g == 0) {
            sendto(s, "READY=1", 7, 0, (struct sockaddr *)&sa, sizeof(sa));
            _exit(0);
        }
        waitpid(g, NULL, 0);
        usleep(300000);
        sendto(s, "STATUS=up\nREADY=1", 17, 0, (struct sockaddr *)&sa, sizeof(sa));
        pause();
        _exit(0);
    }
    close(console[1]);
    int pidfd = (int)syscall(SYS_pidfd_open, child, 0);
    assert_true(pidfd >= 0);
    rk_console_tail *tail = rk_xcalloc(1, sizeof(*tail));
    rk_boot_wait w = {.notify_fd = fd, .console_fd = console[0], .log_fd = logp[1],
                      .pidfd = pidfd, .pid = child, .sigfd = -1, .timeout_ms = 5000,
                      .tail = tail};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(rk_boot_wait_ready(&w, NULL), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* the grandchild's READY=1 came first and did not end the wait */
    double waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(waited >= 0.25);
    char buf[64] = {0};
    assert_int_equal(read(logp[0], buf, sizeof(buf) - 1), 9);
    assert_string_equal(buf, "booting\r\n");
    /* a timeout: the error carries the console's last lines */
    rk_error *e = NULL;
    w.timeout_ms = 200;
    assert_int_equal(rk_boot_wait_ready(&w, &e), -1);
    assert_int_equal(e->status, 125);
    assert_non_null(strstr(e->msg, "did not report ready (READY=1) within 1 s"));
    assert_non_null(strstr(e->msg, "  booting"));
    rk_error_free(e);
    /* PID 1 dying first is an error of its own */
    kill(child, SIGKILL);
    e = NULL;
    w.timeout_ms = 5000;
    assert_int_equal(rk_boot_wait_ready(&w, &e), -1);
    assert_non_null(strstr(e->msg, "was killed by signal 9 before it was ready"));
    rk_error_free(e);
    waitpid(child, NULL, 0);
    free(tail);
    close(pidfd);
    close(console[0]);
    close(logp[0]);
    close(logp[1]);
    close(fd);
}

/* An OS container's cgroups on fake trees of the three kinds of host: the
 * named systemd hierarchy joined on hybrid (and with everything on v1),
 * the inner cgroup below racker-<id>, the payload's below that, and the
 * calling thread's own move through `tasks`. */
static const char hybrid_mi[] =
    "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate\n";
static const char hybrid_pc[] = "9:name=systemd:/\n4:memory:/session\n0::/\n";
static const char v1_mi[] =
    "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    "38 31 0:35 / /sys/fs/cgroup/devices rw - cgroup cgroup rw,devices\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n";
static const char v1_pc[] = "9:name=systemd:/\n5:devices:/\n4:memory:/a\n";
static const char v2_mi[] = "25 20 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
static const char v2_pc[] = "0::/user.slice\n";

static rk_cgroup *os_cgroups(const char *mi, const char *pc, size_t *n, rk_cgroup **inner)
{
    _cleanup_free_ char *m = rk_xstrdup(mi);
    rk_cgroup_layout *l;
    assert_int_equal(rk_cgroup_layout_parse(m, pc, tmpdir, &l, NULL), 0);
    l->fake = true;
    for (size_t i = 0; i < l->n; i++) {
        _cleanup_free_ char *own = rk_path_join(l->h[i].mountpoint, l->h[i].own);
        assert_int_equal(rk_mkdir_p(own, 0755, NULL), 0);
    }
    rk_cgroup_limits lim = {.named_systemd = true};
    rk_cgroup *cg;
    rk_error *e = NULL;
    int r = rk_cgroup_create(l, "racker-x", &lim, &cg, &e);
    if (r < 0)
        fail_msg("%s", e->msg);
    *n = cg->n;
    assert_int_equal(rk_boot_device_policy(cg, NULL), 0); /* fake: nothing to load */
    assert_int_equal(rk_cgroup_subgroup(cg, RK_BOOT_INNER_CGROUP, true, inner, NULL), 0);
    rk_cgroup_layout_free(l);
    return cg;
}

static bool has_dir(const rk_cgroup *cg, const char *rel)
{
    _cleanup_free_ char *want = rk_path_join(tmpdir, rel);
    for (size_t i = 0; i < cg->n; i++)
        if (!strcmp(cg->dirs[i], want))
            return access(want, F_OK) == 0;
    return false;
}

static void test_cgroups_hybrid_v1_v2(void **state)
{
    (void)state;
    size_t n;
    rk_cgroup *inner, *cg = os_cgroups(hybrid_mi, hybrid_pc, &n, &inner);
    /* hybrid: the v2 tree and systemd's named hierarchy, not memory */
    assert_int_equal(n, 2);
    assert_true(has_dir(cg, "sys/fs/cgroup/unified/racker-x"));
    assert_true(has_dir(cg, "sys/fs/cgroup/systemd/racker-x"));
    assert_true(has_dir(inner, "sys/fs/cgroup/systemd/racker-x/container"));
    assert_true(has_dir(inner, "sys/fs/cgroup/unified/racker-x/container"));
    /* the first process moves itself: "0" to tasks (v1), not to v2 */
    assert_int_equal(rk_cgroup_enter_self(inner, true, NULL), 0);
    _cleanup_free_ char *tasks =
        rk_path_join(tmpdir, "sys/fs/cgroup/systemd/racker-x/container/tasks");
    _cleanup_free_ char *t = NULL;
    assert_int_equal(rk_read_file_at(AT_FDCWD, tasks, 0, &t, NULL, NULL), 0);
    assert_string_equal(t, "0\n");
    _cleanup_free_ char *v2procs =
        rk_path_join(tmpdir, "sys/fs/cgroup/unified/racker-x/container/cgroup.procs");
    assert_int_equal(access(v2procs, F_OK), -1);
    rk_cgroup *exec;
    assert_int_equal(rk_cgroup_subgroup(cg, RK_BOOT_INNER_CGROUP "/" RK_BOOT_EXEC_CGROUP, true,
                                        &exec, NULL), 0);
    assert_true(has_dir(exec, "sys/fs/cgroup/systemd/racker-x/container/racker-exec"));
    rk_cgroup_free(exec);
    assert_int_equal(rk_cgroup_destroy(cg, NULL), 0);
    _cleanup_free_ char *gone = rk_path_join(tmpdir, "sys/fs/cgroup/systemd/racker-x");
    assert_int_equal(access(gone, F_OK), -1);
    rk_cgroup_free(inner);
    rk_cgroup_free(cg);

    /* v1: every hierarchy, under racker's own cgroup in each */
    cg = os_cgroups(v1_mi, v1_pc, &n, &inner);
    assert_int_equal(n, 3);
    assert_true(has_dir(cg, "sys/fs/cgroup/memory/a/racker-x"));
    assert_true(has_dir(cg, "sys/fs/cgroup/devices/racker-x"));
    assert_true(has_dir(cg, "sys/fs/cgroup/systemd/racker-x"));
    rk_cgroup_destroy(cg, NULL);
    rk_cgroup_free(inner);
    rk_cgroup_free(cg);

    /* v2: one tree, racker-x under its root */
    cg = os_cgroups(v2_mi, v2_pc, &n, &inner);
    assert_int_equal(n, 1);
    assert_true(has_dir(cg, "sys/fs/cgroup/racker-x"));
    assert_true(has_dir(inner, "sys/fs/cgroup/racker-x/container"));
    rk_cgroup_destroy(cg, NULL);
    rk_cgroup_free(inner);
    rk_cgroup_free(cg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_find_systemd, setup, teardown),
        cmocka_unit_test(test_is_init_command),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_spec_setup),
        cmocka_unit_test(test_uuid_and_init_env),
        cmocka_unit_test(test_locale_parse),
        cmocka_unit_test(test_notify_ready),
        cmocka_unit_test(test_console_tail),
        cmocka_unit_test(test_fstab_empty),
        cmocka_unit_test_setup_teardown(test_prepare_root, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prepare_root_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notify_socket_and_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cgroups_hybrid_v1_v2, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
