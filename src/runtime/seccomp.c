#include "runtime/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <sched.h>
#include <seccomp.h>
#include <string.h>
#include <sys/socket.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "runtime/caps.h"

#define ALWAYS -1, -1, EPERM
#define UNLESS(c) c, -1, EPERM
#define UNLESS2(a, b) a, b, EPERM

static const rk_seccomp_rule rules[] = {
    /* Never allowed in Docker's default profile. */
    {"add_key", ALWAYS},
    {"keyctl", ALWAYS},
    {"request_key", ALWAYS},
    {"create_module", ALWAYS},
    {"get_kernel_syms", ALWAYS},
    {"query_module", ALWAYS},
    {"kexec_load", ALWAYS},
    {"kexec_file_load", ALWAYS},
    {"nfsservctl", ALWAYS},
    {"_sysctl", ALWAYS},
    {"sysfs", ALWAYS},
    {"uselib", ALWAYS},
    {"userfaultfd", ALWAYS},
    {"ustat", ALWAYS},
    {"vm86", ALWAYS},
    {"vm86old", ALWAYS},
    {"io_uring_setup", ALWAYS},
    {"io_uring_enter", ALWAYS},
    {"io_uring_register", ALWAYS},
    {"afs_syscall", ALWAYS},
    {"getpmsg", ALWAYS},
    {"putpmsg", ALWAYS},
    {"security", ALWAYS},
    {"tuxcall", ALWAYS},
    {"vserver", ALWAYS},
    {"lookup_dcookie", UNLESS(CAP_SYS_ADMIN)},
    /* CAP_SYS_ADMIN: mounts, namespaces, host and domain names, quotas. */
    {"mount", UNLESS(CAP_SYS_ADMIN)},
    {"umount", UNLESS(CAP_SYS_ADMIN)},
    {"umount2", UNLESS(CAP_SYS_ADMIN)},
    {"mount_setattr", UNLESS(CAP_SYS_ADMIN)},
    {"move_mount", UNLESS(CAP_SYS_ADMIN)},
    {"open_tree", UNLESS(CAP_SYS_ADMIN)},
    {"fsopen", UNLESS(CAP_SYS_ADMIN)},
    {"fsconfig", UNLESS(CAP_SYS_ADMIN)},
    {"fsmount", UNLESS(CAP_SYS_ADMIN)},
    {"fspick", UNLESS(CAP_SYS_ADMIN)},
    {"pivot_root", UNLESS(CAP_SYS_ADMIN)},
    {"unshare", UNLESS(CAP_SYS_ADMIN)},
    {"setns", UNLESS(CAP_SYS_ADMIN)},
    {"sethostname", UNLESS(CAP_SYS_ADMIN)},
    {"setdomainname", UNLESS(CAP_SYS_ADMIN)},
    {"quotactl", UNLESS(CAP_SYS_ADMIN)},
    {"quotactl_fd", UNLESS(CAP_SYS_ADMIN)},
    {"swapon", UNLESS(CAP_SYS_ADMIN)},
    {"swapoff", UNLESS(CAP_SYS_ADMIN)},
    {"fanotify_init", UNLESS(CAP_SYS_ADMIN)},
    {"name_to_handle_at", UNLESS2(CAP_SYS_ADMIN, CAP_DAC_READ_SEARCH)},
    {"open_by_handle_at", UNLESS(CAP_DAC_READ_SEARCH)},
    {"bpf", UNLESS2(CAP_SYS_ADMIN, CAP_BPF)},
    {"perf_event_open", UNLESS2(CAP_SYS_ADMIN, CAP_PERFMON)},
    {"syslog", UNLESS2(CAP_SYS_ADMIN, CAP_SYSLOG)},
    {"clone3", CAP_SYS_ADMIN, -1, ENOSYS},
    /* Other capabilities. */
    {"reboot", UNLESS(CAP_SYS_BOOT)},
    {"init_module", UNLESS(CAP_SYS_MODULE)},
    {"finit_module", UNLESS(CAP_SYS_MODULE)},
    {"delete_module", UNLESS(CAP_SYS_MODULE)},
    {"acct", UNLESS(CAP_SYS_PACCT)},
    {"ptrace", UNLESS(CAP_SYS_PTRACE)},
    {"kcmp", UNLESS(CAP_SYS_PTRACE)},
    {"process_vm_readv", UNLESS(CAP_SYS_PTRACE)},
    {"process_vm_writev", UNLESS(CAP_SYS_PTRACE)},
    {"process_madvise", UNLESS(CAP_SYS_PTRACE)},
    {"pidfd_getfd", UNLESS(CAP_SYS_PTRACE)},
    {"iopl", UNLESS(CAP_SYS_RAWIO)},
    {"ioperm", UNLESS(CAP_SYS_RAWIO)},
    {"settimeofday", UNLESS(CAP_SYS_TIME)},
    {"stime", UNLESS(CAP_SYS_TIME)},
    {"clock_settime", UNLESS(CAP_SYS_TIME)},
    {"clock_settime64", UNLESS(CAP_SYS_TIME)},
    {"clock_adjtime", UNLESS(CAP_SYS_TIME)},
    {"clock_adjtime64", UNLESS(CAP_SYS_TIME)},
    {"adjtimex", UNLESS(CAP_SYS_TIME)},
    {"vhangup", UNLESS(CAP_SYS_TTY_CONFIG)},
    {"get_mempolicy", UNLESS(CAP_SYS_NICE)},
    {"set_mempolicy", UNLESS(CAP_SYS_NICE)},
    {"mbind", UNLESS(CAP_SYS_NICE)},
    {"move_pages", UNLESS(CAP_SYS_NICE)},
    {"set_mempolicy_home_node", UNLESS(CAP_SYS_NICE)},
};

const rk_seccomp_rule *rk_seccomp_default_rules(size_t *n)
{
    *n = RK_ELEMENTSOF(rules);
    return rules;
}

static bool rule_applies(const rk_seccomp_rule *r, uint64_t caps)
{
    if (r->unless_cap >= 0 && (caps & rk_cap_bit(r->unless_cap)))
        return false;
    if (r->unless_cap2 >= 0 && (caps & rk_cap_bit(r->unless_cap2)))
        return false;
    return true;
}

bool rk_seccomp_blocks(const char *syscall, uint64_t caps)
{
    for (size_t i = 0; i < RK_ELEMENTSOF(rules); i++)
        if (!strcmp(rules[i].syscall, syscall))
            return rule_applies(&rules[i], caps);
    return false;
}

static void ctx_releasep(scmp_filter_ctx *c)
{
    if (*c)
        seccomp_release(*c);
}

/* Does the kernel take x32 syscalls at all? Debian's kernels have the ABI
 * built in but off (syscall.x32=n): then rules for it are dead weight (a
 * quarter of the filter, and of the time the kernel spends loading it). */
static bool x32_enabled(void)
{
#if defined(__x86_64__)
    static int cached = -1;
    if (cached < 0) {
        errno = 0;
        long r = syscall(0x40000000L | SYS_getpid);
        cached = !(r < 0 && errno == ENOSYS);
    }
    return cached;
#else
    return false;
#endif
}

static int build(uint64_t caps, scmp_filter_ctx *ret, rk_error **err)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx)
        return rk_error_set(err, ENOMEM, "creating the seccomp filter");
    *ret = ctx;
    int r;
#if defined(__x86_64__)
    /* 32-bit and x32 processes reach the kernel through other syscall
     * tables; without these the rules would not apply to them. */
    if ((r = seccomp_arch_add(ctx, SCMP_ARCH_X86)) < 0 && r != -EEXIST)
        return rk_error_set(err, -r, "adding the x86 ABI to the seccomp filter");
    if (x32_enabled() && (r = seccomp_arch_add(ctx, SCMP_ARCH_X32)) < 0 && r != -EEXIST)
        return rk_error_set(err, -r, "adding the x32 ABI to the seccomp filter");
#endif
    for (size_t i = 0; i < RK_ELEMENTSOF(rules); i++) {
        if (!rule_applies(&rules[i], caps))
            continue;
        int nr = seccomp_syscall_resolve_name(rules[i].syscall);
        if (nr == __NR_SCMP_ERROR)
            continue; /* not a syscall on this architecture */
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(rules[i].errnum), nr, 0);
        if (r < 0 && r != -EDOM)
            return rk_error_set(err, -r, "seccomp rule for %s", rules[i].syscall);
    }
    if (!(caps & rk_cap_bit(CAP_SYS_ADMIN))) {
        /* clone() that creates namespaces: one rule per flag, since a
         * rule can compare an argument only once. */
        static const unsigned long ns_flags[] = {
            CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
            CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP,
        };
        for (size_t i = 0; i < RK_ELEMENTSOF(ns_flags); i++) {
            r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                                 SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
            if (r < 0)
                return rk_error_set(err, -r, "seccomp rule for clone");
        }
    }
    /* personality(): Docker allows only PER_LINUX, PER_LINUX32, UNAME26,
     * their combination and the query 0xffffffff; any other bit
     * (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC...) is refused. The query
     * matters: systemd's LockPersonality= (journald, logind and most of
     * its services) asks it, and a service fails when it is refused.
     * A rule compares an argument once, so "some bit set, but not all
     * 32" takes a rule per pair: with bit 31 clear, any refused bit;
     * with bit 31 set, any other bit clear; anything above 32 bits (the
     * kernel reads an unsigned int, so such a value would act as its low
     * half). */
    const unsigned long long high = 0xffffffff00000000ULL, bit31 = 0x80000000ULL;
    for (int b = 0; b < 31; b++) {
        unsigned long long bit = 1ULL << b;
        if (bit != 0x0008 && bit != 0x20000) {
            r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(personality), 1,
                                 SCMP_A0(SCMP_CMP_MASKED_EQ, bit | bit31 | high, bit));
            if (r < 0)
                return rk_error_set(err, -r, "seccomp rule for personality");
        }
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(personality), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, bit | bit31 | high, bit31));
        if (r < 0)
            return rk_error_set(err, -r, "seccomp rule for personality");
    }
    r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(personality), 1,
                         SCMP_A0(SCMP_CMP_GT, 0xffffffffULL));
    if (r < 0)
        return rk_error_set(err, -r, "seccomp rule for personality");
    /* AF_VSOCK sockets reach the hypervisor. */
    r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 1,
                         SCMP_A0(SCMP_CMP_EQ, AF_VSOCK));
    if (r < 0 && r != -EDOM)
        return rk_error_set(err, -r, "seccomp rule for socket");
    /* The process keeps no_new_privs from the caller; libseccomp must not
     * try to set it itself (with privileged exec it is not wanted). */
    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    return 0;
}

int rk_seccomp_load_default(uint64_t caps, rk_error **err)
{
    __attribute__((cleanup(ctx_releasep))) scmp_filter_ctx ctx = NULL;
    if (build(caps, &ctx, err) < 0)
        return -1;
    int r;
    if ((r = seccomp_load(ctx)) < 0)
        return rk_error_set(err, -r, "loading the seccomp filter");
    return 0;
}

void rk_seccomp_prog_clear(rk_seccomp_prog *p)
{
    free(p->insns);
    p->insns = NULL;
    p->len = 0;
}

/* FNV-1a over everything the program depends on. */
static uint64_t rules_key(uint64_t caps)
{
    uint64_t h = 1469598103934665603ULL;
#define MIX(b) (h = (h ^ (uint8_t)(b)) * 1099511628211ULL)
    for (size_t i = 0; i < RK_ELEMENTSOF(rules); i++) {
        for (const char *c = rules[i].syscall; *c; c++)
            MIX(*c);
        MIX(rules[i].unless_cap);
        MIX(rules[i].unless_cap2);
        MIX(rules[i].errnum);
    }
    const struct scmp_version *v = seccomp_version();
    if (v) {
        MIX(v->major);
        MIX(v->minor);
        MIX(v->micro);
    }
    for (int i = 0; i < 8; i++)
        MIX(caps >> (8 * i));
    MIX(x32_enabled());
    /* The argument rules in build() are code, not table: bump this when
     * they change (2: personality's 0xffffffff query allowed). */
    MIX(2);
#undef MIX
    return h;
}

#define PROG_FORMAT 1 /* bump when the argument rules in build() change */

static int read_cached(const char *path, rk_seccomp_prog *ret)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) ||
        st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS)
        return -1;
    void *buf = rk_xmalloc((size_t)st.st_size);
    if (read(fd, buf, (size_t)st.st_size) != st.st_size) {
        free(buf);
        return -1;
    }
    ret->insns = buf;
    ret->len = (unsigned short)(st.st_size / sizeof(struct sock_filter));
    return 0;
}

int rk_seccomp_prepare(uint64_t caps, const char *cache_dir, rk_seccomp_prog *ret,
                       rk_error **err)
{
    memset(ret, 0, sizeof(*ret));
    _cleanup_free_ char *path = NULL;
    if (cache_dir) {
        path = rk_xasprintf("%s/seccomp-v%d-%016llx.bpf", cache_dir, PROG_FORMAT,
                            (unsigned long long)rules_key(caps));
        if (read_cached(path, ret) == 0)
            return 0;
    }
    __attribute__((cleanup(ctx_releasep))) scmp_filter_ctx ctx = NULL;
    if (build(caps, &ctx, err) < 0)
        return -1;
    _cleanup_close_ int mfd = memfd_create("racker-seccomp", MFD_CLOEXEC);
    if (mfd < 0)
        return rk_error_set(err, errno, "memfd_create for the seccomp filter");
    int r = seccomp_export_bpf(ctx, mfd);
    if (r < 0)
        return rk_error_set(err, -r, "exporting the seccomp filter");
    off_t size = lseek(mfd, 0, SEEK_END);
    if (size <= 0 || size % (off_t)sizeof(struct sock_filter) ||
        size / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS)
        return rk_error_set(err, EINVAL, "the seccomp filter has a bad size (%lld)", (long long)size);
    void *buf = rk_xmalloc((size_t)size);
    if (pread(mfd, buf, (size_t)size, 0) != size) {
        free(buf);
        return rk_error_set(err, errno, "reading back the seccomp filter");
    }
    ret->insns = buf;
    ret->len = (unsigned short)(size / (off_t)sizeof(struct sock_filter));
    if (path && rk_mkdir_p(cache_dir, 0700, NULL) == 0) {
        _cleanup_free_ char *tmp = rk_xasprintf("%s.%d.tmp", path, (int)getpid());
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0 && rk_write_all(fd, buf, (size_t)size) == 0 && rename(tmp, path) == 0)
            return 0;
        unlink(tmp);
        rk_debug("could not cache the seccomp filter in %s", cache_dir);
    }
    return 0;
}

int rk_seccomp_install(const rk_seccomp_prog *p, rk_error **err)
{
    struct sock_fprog prog = {.len = p->len, .filter = p->insns};
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
        return rk_error_set(err, errno, "loading the seccomp filter");
    return 0;
}
