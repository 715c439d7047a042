/* runtime/caps and runtime/seccomp: the capability and syscall tables. */
#include <linux/capability.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <errno.h>
#include <sys/prctl.h>
#include <sys/personality.h>
#include <sys/syscall.h>

#include <cmocka.h>

#include "base/error.h"
#include "runtime/caps.h"
#include "runtime/seccomp.h"

static void test_names(void **state)
{
    (void)state;
    assert_int_equal(rk_cap_from_name("CAP_CHOWN"), CAP_CHOWN);
    assert_int_equal(rk_cap_from_name("net_raw"), CAP_NET_RAW);
    assert_int_equal(rk_cap_from_name("Sys_Admin"), CAP_SYS_ADMIN);
    assert_int_equal(rk_cap_from_name("CAP_CHECKPOINT_RESTORE"), CAP_CHECKPOINT_RESTORE);
    assert_int_equal(rk_cap_from_name("NOPE"), -1);
    assert_int_equal(rk_cap_from_name("ALL"), -1);
    /* The table matches the kernel's numbering. */
    assert_string_equal(rk_cap_name(CAP_SYS_RESOURCE), "SYS_RESOURCE");
    assert_string_equal(rk_cap_name(CAP_AUDIT_READ), "AUDIT_READ");
    assert_string_equal(rk_cap_name(CAP_BPF), "BPF");
    assert_int_equal(rk_cap_last_known(), CAP_LAST_CAP);
    assert_null(rk_cap_name(63));
}

static void test_docker_default(void **state)
{
    (void)state;
    uint64_t d = rk_caps_docker_default();
    int expect[] = {CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FSETID, CAP_FOWNER, CAP_MKNOD,
                    CAP_NET_RAW, CAP_SETGID, CAP_SETUID, CAP_SETFCAP, CAP_SETPCAP,
                    CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT, CAP_KILL, CAP_AUDIT_WRITE};
    uint64_t m = 0;
    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++)
        m |= rk_cap_bit(expect[i]);
    assert_true(d == m);
    assert_false(d & rk_cap_bit(CAP_SYS_ADMIN));
    assert_false(d & rk_cap_bit(CAP_NET_ADMIN));
}

static void test_compute(void **state)
{
    (void)state;
    uint64_t c;
    char *add[] = {"NET_ADMIN", "CAP_SYS_PTRACE", NULL};
    char *drop[] = {"chown", "MKNOD", NULL};
    assert_int_equal(rk_caps_compute(add, drop, false, &c, NULL), 0);
    assert_true(c & rk_cap_bit(CAP_NET_ADMIN));
    assert_true(c & rk_cap_bit(CAP_SYS_PTRACE));
    assert_false(c & rk_cap_bit(CAP_CHOWN));
    assert_false(c & rk_cap_bit(CAP_MKNOD));
    assert_true(c & rk_cap_bit(CAP_KILL));
    /* drop ALL then add one: only that one (Docker's order) */
    char *all[] = {"ALL", NULL};
    char *raw[] = {"NET_RAW", NULL};
    assert_int_equal(rk_caps_compute(raw, all, false, &c, NULL), 0);
    assert_true(c == rk_cap_bit(CAP_NET_RAW));
    assert_int_equal(rk_caps_compute(NULL, all, false, &c, NULL), 0);
    assert_true(c == 0);
    /* privileged: everything known */
    assert_int_equal(rk_caps_compute(NULL, NULL, true, &c, NULL), 0);
    for (int i = 0; i <= CAP_LAST_CAP; i++)
        assert_true(c & rk_cap_bit(i));
    char *bad[] = {"CAP_FLY", NULL};
    rk_error *err = NULL;
    assert_int_equal(rk_caps_compute(bad, NULL, false, &c, &err), -1);
    assert_int_equal(err->status, 125);
    assert_non_null(strstr(err->msg, "CAP_FLY"));
    rk_error_free(err);
}

static void test_format_parse(void **state)
{
    (void)state;
    uint64_t c = rk_caps_docker_default() | rk_cap_bit(CAP_CHECKPOINT_RESTORE);
    char *s = rk_caps_format(c);
    assert_non_null(strstr(s, "CAP_CHOWN"));
    assert_non_null(strstr(s, "CAP_CHECKPOINT_RESTORE"));
    uint64_t back;
    assert_int_equal(rk_caps_parse_list(s, &back, NULL), 0);
    assert_true(back == c);
    free(s);
    char *empty = rk_caps_format(0);
    assert_string_equal(empty, "");
    assert_int_equal(rk_caps_parse_list(empty, &back, NULL), 0);
    assert_true(back == 0);
    free(empty);
    rk_error *err = NULL;
    assert_int_equal(rk_caps_parse_list("CAP_CHOWN,CAP_BOGUS", &back, &err), -1);
    rk_error_free(err);
}

static void test_seccomp_table(void **state)
{
    (void)state;
    uint64_t def = rk_caps_docker_default();
    const char *blocked[] = {"mount", "umount2", "unshare", "setns", "keyctl", "add_key",
                             "kexec_load", "init_module", "reboot", "ptrace", "bpf",
                             "perf_event_open", "clock_settime", "swapon", "pivot_root",
                             "open_by_handle_at", "userfaultfd", "io_uring_setup",
                             "move_mount", "fsopen", "syslog", "acct", "iopl", "clone3"};
    for (size_t i = 0; i < sizeof(blocked) / sizeof(blocked[0]); i++)
        assert_true(rk_seccomp_blocks(blocked[i], def));
    const char *allowed[] = {"read", "write", "clone", "execve", "chroot", "openat"};
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
        assert_false(rk_seccomp_blocks(allowed[i], def));
    /* Capabilities unlock what Docker unlocks. */
    uint64_t admin = def | rk_cap_bit(CAP_SYS_ADMIN);
    assert_false(rk_seccomp_blocks("mount", admin));
    assert_false(rk_seccomp_blocks("setns", admin));
    assert_false(rk_seccomp_blocks("bpf", admin));
    assert_true(rk_seccomp_blocks("kexec_load", admin));
    assert_false(rk_seccomp_blocks("ptrace", def | rk_cap_bit(CAP_SYS_PTRACE)));
    assert_false(rk_seccomp_blocks("reboot", def | rk_cap_bit(CAP_SYS_BOOT)));
    assert_false(rk_seccomp_blocks("settimeofday", def | rk_cap_bit(CAP_SYS_TIME)));
    assert_false(rk_seccomp_blocks("perf_event_open", def | rk_cap_bit(CAP_PERFMON)));
    assert_false(rk_seccomp_blocks("bpf", def | rk_cap_bit(CAP_BPF)));
    /* clone3 answers ENOSYS so that glibc falls back to clone. */
    size_t n;
    const rk_seccomp_rule *r = rk_seccomp_default_rules(&n);
    bool seen = false;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(r[i].syscall, "clone3")) {
            assert_int_equal(r[i].errnum, ENOSYS);
            seen = true;
        } else {
            assert_int_equal(r[i].errnum, EPERM);
        }
    assert_true(seen);
}

/* Load the filter in a child and check it really bites. */
static void test_seccomp_loaded(void **state)
{
    (void)state;
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0) {
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
            _exit(10);
        if (rk_seccomp_load_default(rk_caps_docker_default(), NULL) < 0)
            _exit(11);
        errno = 0;
        if (syscall(SYS_unshare, 0x00020000 /* CLONE_NEWNS */) != -1 || errno != EPERM)
            _exit(12);
        errno = 0;
        if (syscall(SYS_clone3, NULL, 0) != -1 || errno != ENOSYS)
            _exit(13);
        errno = 0;
        if (personality(ADDR_NO_RANDOMIZE) != -1 || errno != EPERM)
            _exit(14);
        if (personality(PER_LINUX) < 0)
            _exit(15);
        if (getpid() <= 0)
            _exit(16);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_docker_default),
        cmocka_unit_test(test_compute),
        cmocka_unit_test(test_format_parse),
        cmocka_unit_test(test_seccomp_table),
        cmocka_unit_test(test_seccomp_loaded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
