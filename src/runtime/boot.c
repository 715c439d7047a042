#include "runtime/boot.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/strv.h"
#include "image/layers.h"
#include "runtime/caps.h"
#include "runtime/cgroup.h"

/* ---- detection ---- */

char *rk_boot_find_systemd(char *const *layer_dirs, size_t n)
{
    static const char *const direct[] = {"/lib/systemd/systemd", "/usr/lib/systemd/systemd"};
    for (size_t i = 0; i < RK_ELEMENTSOF(direct); i++)
        if (rk_layers_is_executable(layer_dirs, n, direct[i]))
            return rk_xstrdup(direct[i]);
    /* /sbin/init counts only when it is systemd: sysvinit's or busybox's
     * init would not speak the container interface. */
    static const char *const inits[] = {"/sbin/init", "/usr/sbin/init"};
    for (size_t i = 0; i < RK_ELEMENTSOF(inits); i++) {
        _cleanup_free_ char *host = NULL;
        struct stat st;
        rk_error *e = NULL;
        if (rk_layers_lookup(layer_dirs, n, inits[i], true, &host, &st, &e) < 0) {
            rk_error_free(e);
            continue;
        }
        if (S_ISREG(st.st_mode) && (st.st_mode & 0111) && rk_endswith(host, "/systemd"))
            return rk_xstrdup(inits[i]);
    }
    return NULL;
}

bool rk_boot_is_init_command(const char *argv0)
{
    static const char *const inits[] = {
        "/lib/systemd/systemd", "/usr/lib/systemd/systemd", "/sbin/init",
        "/usr/sbin/init", "systemd", "init",
    };
    for (size_t i = 0; argv0 && i < RK_ELEMENTSOF(inits); i++)
        if (!strcmp(argv0, inits[i]))
            return true;
    return false;
}

/* ---- capabilities ---- */

uint64_t rk_boot_default_caps(void)
{
    static const int caps[] = {
        CAP_AUDIT_CONTROL, CAP_AUDIT_WRITE,  CAP_CHOWN,           CAP_DAC_OVERRIDE,
        CAP_FOWNER,        CAP_FSETID,       CAP_IPC_OWNER,
        CAP_KILL,          CAP_LEASE,        CAP_LINUX_IMMUTABLE,
        CAP_NET_BIND_SERVICE, CAP_NET_BROADCAST, CAP_NET_RAW,     CAP_SETFCAP,
        CAP_SETGID,        CAP_SETPCAP,      CAP_SETUID,          CAP_SYS_ADMIN,
        CAP_SYS_BOOT,      CAP_SYS_CHROOT,   CAP_SYS_NICE,        CAP_SYS_PTRACE,
        CAP_SYS_RESOURCE,  CAP_SYS_TTY_CONFIG,
    };
    uint64_t m = 0;
    for (size_t i = 0; i < RK_ELEMENTSOF(caps); i++)
        m |= rk_cap_bit(caps[i]);
    return m;
}

int rk_boot_caps_compute(char *const *add, char *const *drop, bool privileged,
                         uint64_t *ret, rk_error **err)
{
    if (privileged)
        return rk_caps_compute(add, drop, true, ret, err);
    /* rk_caps_compute() starts from Docker's set; take the added and the
     * kept masks from it and apply them to nspawn's. */
    static char *const all[] = {"ALL", NULL};
    uint64_t added, kept;
    if (rk_caps_compute(add, all, false, &added, err) < 0 ||
        rk_caps_compute(NULL, drop, true, &kept, err) < 0)
        return -1;
    *ret = (rk_boot_default_caps() & kept) | added;
    return 0;
}

/* ---- devices ---- */

static const struct {
    unsigned major;
    int minor; /* -1: any */
} allowed_devices[] = {
    {1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, /* null zero full random urandom */
    {5, 0}, {5, 1}, {5, 2},                 /* tty console ptmx */
    {136, -1},                              /* /dev/pts/N */
};

#define INSN(c, d, s_, o, i)                                                   \
    ((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s_), .off = (o), .imm = (i)})

/* The program: char devices of the list allowed (any access), the rest
 * refused. r2 = type, r3 = major, r4 = minor. */
static size_t device_prog(struct bpf_insn *p, size_t max)
{
    size_t n = 0;
    p[n++] = INSN(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_2, BPF_REG_1, 0, 0);
    p[n++] = INSN(BPF_ALU | BPF_AND | BPF_K, BPF_REG_2, 0, 0, 0xffff);
    p[n++] = INSN(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_3, BPF_REG_1, 4, 0);
    p[n++] = INSN(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_4, BPF_REG_1, 8, 0);
    size_t deny_jump = n; /* patched: not a char device -> deny */
    p[n++] = INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_2, 0, 0, BPF_DEVCG_DEV_CHAR);
    for (size_t i = 0; i < RK_ELEMENTSOF(allowed_devices) && n + 4 < max; i++) {
        if (allowed_devices[i].minor < 0) {
            /* major matches: allow (jump over the next insn to "allow") */
            p[n++] = INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_3, 0, 2, (int)allowed_devices[i].major);
            p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 1);
            p[n++] = INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
        } else {
            p[n++] = INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_3, 0, 3, (int)allowed_devices[i].major);
            p[n++] = INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_4, 0, 2, allowed_devices[i].minor);
            p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 1);
            p[n++] = INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
        }
    }
    size_t deny = n;
    p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0);
    p[n++] = INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    p[deny_jump].off = (short)(deny - deny_jump - 1);
    return n;
}

static int device_policy_bpf(int cgroup_fd, rk_error **err)
{
    struct bpf_insn prog[64];
    size_t n = device_prog(prog, RK_ELEMENTSOF(prog));
    char log[1024] = "";
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    a.expected_attach_type = BPF_CGROUP_DEVICE;
    a.insns = (uint64_t)(uintptr_t)prog;
    a.insn_cnt = (uint32_t)n;
    a.license = (uint64_t)(uintptr_t)"GPL";
    _cleanup_close_ int pfd = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &a, sizeof(a));
    if (pfd < 0 && errno == EACCES) {
        /* Refused by the verifier: load again for its reason. */
        a.log_buf = (uint64_t)(uintptr_t)log;
        a.log_size = sizeof(log);
        a.log_level = 1;
        pfd = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &a, sizeof(a));
        errno = EACCES;
    }
    if (pfd < 0)
        return rk_error_set(err, errno, "loading the device policy (BPF)%s%.300s", *log ? ": " : "",
                            log);
    memset(&a, 0, sizeof(a));
    a.target_fd = (uint32_t)cgroup_fd;
    a.attach_bpf_fd = (uint32_t)pfd;
    a.attach_type = BPF_CGROUP_DEVICE;
    /* Units of the container's systemd may add programs of their own
     * below (DeviceAllow=): all of them must allow an access. */
    a.attach_flags = BPF_F_ALLOW_MULTI;
    if (syscall(SYS_bpf, BPF_PROG_ATTACH, &a, sizeof(a)) < 0)
        return rk_error_set(err, errno, "attaching the device policy to the container's cgroup");
    return 0;
}

static int device_policy_v1(const char *dir, rk_error **err)
{
    _cleanup_free_ char *deny = rk_path_join(dir, "devices.deny");
    _cleanup_free_ char *allow = rk_path_join(dir, "devices.allow");
    _cleanup_close_ int d = open(deny, O_WRONLY | O_CLOEXEC);
    if (d < 0 || write(d, "a", 1) != 1)
        return rk_error_set(err, errno, "writing %s", deny);
    _cleanup_close_ int a = open(allow, O_WRONLY | O_CLOEXEC);
    if (a < 0)
        return rk_error_set(err, errno, "opening %s", allow);
    for (size_t i = 0; i < RK_ELEMENTSOF(allowed_devices); i++) {
        char rule[32];
        if (allowed_devices[i].minor < 0)
            snprintf(rule, sizeof(rule), "c %u:* rwm", allowed_devices[i].major);
        else
            snprintf(rule, sizeof(rule), "c %u:%d rwm", allowed_devices[i].major,
                     allowed_devices[i].minor);
        if (write(a, rule, strlen(rule)) < 0)
            return rk_error_set(err, errno, "writing '%s' to %s", rule, allow);
    }
    return 0;
}

int rk_boot_device_policy(const rk_cgroup *cg, rk_error **err)
{
    if (cg->fake)
        return 0;
    if (cg->v2_fd >= 0)
        return device_policy_bpf(cg->v2_fd, err);
    for (size_t i = 0; i < cg->n; i++) {
        _cleanup_free_ char *probe = rk_path_join(cg->dirs[i], "devices.deny");
        if (!cg->v2[i] && access(probe, F_OK) == 0)
            return device_policy_v1(cg->dirs[i], err);
    }
    return rk_error_set_status(err, 125, 0,
                               "cannot restrict the devices of an OS container: this host has "
                               "neither a cgroup v2 tree nor the v1 devices controller");
}

/* ---- the spec ---- */

void rk_boot_spec_setup(rk_spec *s, bool keep_stop_signal)
{
    s->boot = RK_BOOT_YES;
    s->console = true;
    s->cgroupfs = RK_CGROUPFS_RW;
    /* setuid programs (su, sudo) and file capabilities work in a booted
     * system; systemd sets NoNewPrivileges= per service where wanted. */
    s->no_new_privs = false;
    s->init = false;
    if (!keep_stop_signal)
        s->stop_signal = SIGRTMIN + 3; /* systemd halts on it */

    /* The container interface's mounts go first: a -v into /run or /tmp
     * must land on top of them, not under. */
    const rk_mount_spec boot_mounts[] = {
        {.kind = RK_MOUNT_TMPFS, .target = "/run", .options = "mode=755"},
        {.kind = RK_MOUNT_TMPFS, .target = "/run/lock", .options = "mode=1777,size=5m"},
        {.kind = RK_MOUNT_TMPFS, .target = "/tmp", .options = "mode=1777"},
    };
    rk_mount_spec *user = s->mounts;
    size_t n_user = s->n_mounts;
    s->mounts = NULL;
    s->n_mounts = 0;
    for (size_t i = 0; i < RK_ELEMENTSOF(boot_mounts); i++)
        rk_spec_add_mount(s, &boot_mounts[i]);
    for (size_t i = 0; i < n_user; i++) {
        rk_spec_add_mount(s, &user[i]);
        rk_mount_spec_clear(&user[i]);
    }
    free(user);
}

char *rk_boot_host_os_release(void)
{
    static const char *const paths[] = {"/etc/os-release", "/usr/lib/os-release"};
    for (size_t i = 0; i < RK_ELEMENTSOF(paths); i++) {
        char *text = NULL;
        if (rk_read_file_at(AT_FDCWD, paths[i], 1 << 16, &text, NULL, NULL) == 0)
            return text;
    }
    return NULL;
}

void rk_boot_uuid(const char *id, char out[33])
{
    size_t n = strlen(id);
    for (size_t i = 0; i < 32; i++)
        out[i] = i < n ? id[i] : '0';
    out[32] = 0;
}

char **rk_boot_init_env(const char *uuid)
{
    char **env = NULL;
    rk_strv_push_dup(&env, "container=racker");
    rk_strv_push(&env, rk_xasprintf("container_uuid=%s", uuid));
    rk_strv_push_dup(&env, "NOTIFY_SOCKET=" RK_BOOT_NOTIFY_PATH);
    rk_strv_push_dup(&env, "PATH=" RK_DEFAULT_PATH);
    /* What systemd-nspawn gives a console that is not the caller's
     * terminal: systemd's status output needs no more than vt220. */
    rk_strv_push_dup(&env, "TERM=vt220");
    return env;
}

/* ---- the service environment ---- */

static bool is_locale_var(const char *k, size_t n)
{
    static const char *const vars[] = {
        "LANG", "LANGUAGE", "LC_CTYPE", "LC_NUMERIC", "LC_TIME", "LC_COLLATE",
        "LC_MONETARY", "LC_MESSAGES", "LC_PAPER", "LC_NAME", "LC_ADDRESS",
        "LC_TELEPHONE", "LC_MEASUREMENT", "LC_IDENTIFICATION",
    };
    for (size_t i = 0; i < RK_ELEMENTSOF(vars); i++)
        if (strlen(vars[i]) == n && !strncmp(k, vars[i], n))
            return true;
    return false;
}

char **rk_boot_locale_parse(const char *text)
{
    char **env = NULL;
    _cleanup_free_ char *copy = rk_xstrdup(text ? text : "");
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        while (*line == ' ' || *line == '\t')
            line++;
        if (rk_startswith(line, "export "))
            line += 7;
        if (*line == '#' || *line == ';')
            continue;
        char *eq = strchr(line, '=');
        if (!eq || !is_locale_var(line, (size_t)(eq - line)))
            continue;
        char *v = eq + 1;
        size_t len = strlen(v);
        while (len && (v[len - 1] == ' ' || v[len - 1] == '\t' || v[len - 1] == '\r'))
            v[--len] = 0;
        if (len >= 2 && (v[0] == '"' || v[0] == '\'') && v[len - 1] == v[0]) {
            v[len - 1] = 0;
            v++;
        }
        if (!*v)
            continue; /* an empty assignment sets nothing */
        rk_env_set(&env, rk_xasprintf("%.*s=%s", (int)(eq - line), line, v));
    }
    return env;
}

char **rk_boot_service_env(char *const *container_env)
{
    char **env = NULL;
    /* systemd's default PATH as Debian builds it (split /usr: /sbin and
     * /bin included), and the one `systemctl show-environment` prints. */
    rk_strv_push_dup(&env, "PATH=" RK_DEFAULT_PATH);
    _cleanup_free_ char *text = NULL;
    if (rk_read_file_at(AT_FDCWD, "/etc/locale.conf", 1 << 16, &text, NULL, NULL) < 0)
        rk_read_file_at(AT_FDCWD, "/etc/default/locale", 1 << 16, &text, NULL, NULL);
    _cleanup_strv_ char **loc = rk_boot_locale_parse(text);
    /* Nothing configured: systemd's compiled-in default (as
     * `systemctl show-environment` shows it). */
    if (!loc)
        rk_strv_push_dup(&loc, "LANG=C.UTF-8");
    for (size_t i = 0; loc && loc[i]; i++)
        rk_env_set(&env, rk_xstrdup(loc[i]));
    for (size_t i = 0; container_env && container_env[i]; i++)
        rk_env_set(&env, rk_xstrdup(container_env[i]));
    return env;
}

/* ---- notify messages ---- */

bool rk_boot_notify_ready(const char *msg, size_t len, char **status)
{
    bool ready = false;
    if (status)
        *status = NULL;
    const char *p = msg, *end = msg + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n == 7 && !memcmp(p, "READY=1", 7))
            ready = true;
        else if (status && n > 7 && !memcmp(p, "STATUS=", 7)) {
            free(*status);
            *status = rk_xstrndup(p + 7, n - 7);
        }
        p += n + 1;
    }
    return ready;
}

/* ---- the console ---- */

void rk_console_tail_add(rk_console_tail *t, const char *data, size_t n)
{
    size_t cap = sizeof(t->buf);
    if (n >= cap) {
        memcpy(t->buf, data + n - cap, cap);
        t->len = cap;
        return;
    }
    if (t->len + n > cap) {
        size_t drop = t->len + n - cap;
        memmove(t->buf, t->buf + drop, t->len - drop);
        t->len -= drop;
    }
    memcpy(t->buf + t->len, data, n);
    t->len += n;
}

char *rk_console_tail_lines(const rk_console_tail *t, size_t nlines)
{
    /* Clean copy: no CR, no escape sequences (systemd colours its status
     * words), no other control characters but newlines. */
    char *clean = rk_xmalloc(t->len + 1);
    size_t k = 0;
    for (size_t i = 0; i < t->len; i++) {
        unsigned char ch = (unsigned char)t->buf[i];
        if (ch == 0x1b) {
            /* CSI: ESC [ params final (0x40-0x7e); others: ESC + one. */
            if (i + 1 < t->len && t->buf[i + 1] == '[') {
                i += 2;
                while (i < t->len && !((unsigned char)t->buf[i] >= 0x40 &&
                                       (unsigned char)t->buf[i] <= 0x7e))
                    i++;
            } else {
                i++;
            }
            continue;
        }
        if (ch == '\n' || ch == '\t' || ch >= 0x20)
            clean[k++] = (char)ch;
    }
    clean[k] = 0;
    /* Drop trailing newlines, then find the start of the last lines. */
    while (k && clean[k - 1] == '\n')
        clean[--k] = 0;
    size_t start = k, seen = 0;
    while (start > 0) {
        if (clean[start - 1] == '\n' && ++seen == nlines)
            break;
        start--;
    }
    size_t lines = 1;
    for (size_t i = start; i < k; i++)
        lines += clean[i] == '\n';
    char *out = rk_xmalloc(k - start + 2 * lines + 1), *o = out;
    bool bol = true;
    for (size_t i = start; i < k; i++) {
        if (bol) {
            *o++ = ' ';
            *o++ = ' ';
            bol = false;
        }
        *o++ = clean[i];
        if (clean[i] == '\n')
            bol = true;
    }
    *o = 0;
    free(clean);
    return out;
}

/* ---- the root before systemd starts ---- */

/* Inapplicable in every racker container:
 *   systemd-remount-fs.service: the root is racker's overlay; /etc/fstab
 *     has nothing to remount there;
 *   systemd-tmpfiles-setup-dev.service: static device nodes; racker
 *     populates /dev, and the container cannot make nodes (no CAP_MKNOD);
 *   sys-fs-fuse-connections.mount: fusectl is the host's, under a
 *     read-only /sys;
 *   dev-hugepages.mount: hugetlbfs would hand out the host's huge pages;
 *   systemd-ask-password-console.path, systemd-ask-password-wall.path:
 *     password agents for disks unlocked at boot (a container has no
 *     disks); each keeps an inotify watch, and closing those is a large
 *     part of a kill (an SRCU grace period each). */
const char *const rk_boot_masked_units[] = {
    "systemd-remount-fs.service",
    "systemd-tmpfiles-setup-dev.service",
    "sys-fs-fuse-connections.mount",
    "dev-hugepages.mount",
    "systemd-ask-password-console.path",
    "systemd-ask-password-wall.path",
    NULL,
};
/* --rm only, for records of a system that is thrown away:
 *   systemd-journal-flush.service: the journal stays in /run/log/journal
 *     (journalctl reads it there) instead of being copied to /var;
 *   systemd-update-utmp.service, systemd-update-utmp-runlevel.service:
 *     the boot and runlevel records in utmp and wtmp (`who -b`, `last`,
 *     `runlevel`); the runlevel one runs last of all, after
 *     graphical.target. Debian's invoke-rc.d, the one thing in a package
 *     installation that asks, takes a system past sysinit.target for
 *     runlevel 5 without it. */
const char *const rk_boot_masked_units_volatile[] = {
    "systemd-journal-flush.service",
    "systemd-update-utmp.service",
    "systemd-update-utmp-runlevel.service",
    NULL,
};
/* Generators for block devices, hibernation and offline updates: a
 * container has no disks, never resumes, and racker does not reboot it
 * into system-update.target. Each is a fork and exec before the first
 * unit starts. */
const char *const rk_boot_masked_generators[] = {
    "systemd-cryptsetup-generator",
    "systemd-integritysetup-generator",
    "systemd-veritysetup-generator",
    "systemd-gpt-auto-generator",
    "systemd-hibernate-resume-generator",
    "systemd-system-update-generator",
    NULL,
};

static int mask(const char *dir, const char *name, rk_error **err)
{
    _cleanup_free_ char *p = rk_path_join(dir, name);
    if (symlink("/dev/null", p) < 0 && errno != EEXIST)
        return rk_error_set(err, errno, "masking %s", p);
    return 0;
}

static int mask_all(const char *dir, const char *const *names, rk_error **err)
{
    for (size_t i = 0; names[i]; i++)
        if (mask(dir, names[i], err) < 0)
            return -1;
    return 0;
}

bool rk_boot_fstab_empty(const char *text)
{
    for (const char *p = text ? text : ""; *p;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p && *p != '\n' && *p != '#')
            return false;
        p = strchrnul(p, '\n');
        if (*p)
            p++;
    }
    return true;
}

static int prepare_root(const rk_boot_root *r, rk_error **err)
{
    static const char *const units = "/run/systemd/system";
    static const char *const gens = "/run/systemd/system-generators";
    if (rk_mkdir_p(units, 0755, err) < 0 || rk_mkdir_p(gens, 0755, err) < 0 ||
        rk_mkdir_p("/run/host", 0755, err) < 0)
        return -1;
    if (mask_all(units, rk_boot_masked_units, err) < 0 ||
        (r->volatile_ && mask_all(units, rk_boot_masked_units_volatile, err) < 0) ||
        mask_all(gens, rk_boot_masked_generators, err) < 0)
        return -1;
    /* Generators with nothing to do, decided from what they would read:
     * the debug and run generators act on systemd.* arguments of PID 1
     * (a container's kernel command line), fstab's on /etc/fstab entries,
     * rc-local's on an executable /etc/rc.local. */
    if (!r->init_has_args && (mask(gens, "systemd-debug-generator", err) < 0 ||
                              mask(gens, "systemd-run-generator", err) < 0))
        return -1;
    _cleanup_free_ char *fstab = NULL;
    rk_read_file_at(AT_FDCWD, "/etc/fstab", 1 << 20, &fstab, NULL, NULL);
    if (rk_boot_fstab_empty(fstab) && mask(gens, "systemd-fstab-generator", err) < 0)
        return -1;
    struct stat st;
    if ((stat("/etc/rc.local", &st) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111)) &&
        mask(gens, "systemd-rc-local-generator", err) < 0)
        return -1;
    /* With a payload nobody logs in on the console (the payload has the
     * caller's terminal): no console-getty.service. */
    if (r->payload && mask(gens, "systemd-getty-generator", err) < 0)
        return -1;
    /* The host's os-release, copied (a bind would hand the container a
     * descriptor on the host's root file system). */
    if (r->host_os_release) {
        _cleanup_close_ int fd = open("/run/host/os-release",
                                      O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
        if (fd < 0 || rk_write_all(fd, r->host_os_release, strlen(r->host_os_release)) < 0)
            return rk_error_set(err, errno, "writing /run/host/os-release");
    }
    return 0;
}

int rk_boot_prepare_root(const rk_boot_root *r, rk_error **err)
{
    if (prepare_root(r, err) < 0)
        return rk_error_wrap(err, "preparing the container for systemd");
    return 0;
}

/* ---- the notify socket and waiting ---- */

int rk_boot_notify_open(const char *path, rk_error **err)
{
    /* sun_path holds 108 bytes, less than a runtime directory and an ID:
     * bind through the directory's descriptor. */
    const char *slash = strrchr(path, '/');
    _cleanup_free_ char *dir = slash ? rk_xstrndup(path, (size_t)(slash - path)) : rk_xstrdup(".");
    const char *base = slash ? slash + 1 : path;
    _cleanup_close_ int dfd = open(*dir ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return rk_error_set(err, errno, "opening %s", dir);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dfd, base);
    if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
        return rk_error_set(err, ENAMETOOLONG, "notify socket %s", path);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return rk_error_set(err, errno, "creating the notify socket");
    unlinkat(dfd, base, 0);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return rk_error_set(err, errno, "binding the notify socket %s", path);
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0)
        return rk_error_set(err, errno, "enabling credentials on the notify socket");
    return TAKE_FD(fd);
}

/* One datagram; 1 when it is PID 1's READY=1. */
static int read_notify(int fd, pid_t pid, char **status)
{
    char buf[4096];
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(struct ucred))];
    } control;
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf) - 1};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
                        .msg_controllen = sizeof(control)};
    ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    pid_t sender = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
            struct ucred uc;
            memcpy(&uc, CMSG_DATA(c), sizeof(uc));
            sender = uc.pid;
        } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            /* FDSTORE and the like: nothing we keep. */
            int *fds = (int *)CMSG_DATA(c);
            size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < nfd; i++)
                close(fds[i]);
        }
    }
    if ((size_t)n > sizeof(buf) - 1)
        n = sizeof(buf) - 1;
    /* Any process in the container can write to the socket; only PID 1
     * speaks for the system. */
    if (sender != pid)
        return 0;
    char *st = NULL;
    bool ready = rk_boot_notify_ready(buf, (size_t)n, &st);
    if (st) {
        free(*status);
        *status = st;
    }
    return ready;
}

/* Copy what the console has now; false when it is gone. */
static bool copy_console(int console_fd, int log_fd, rk_console_tail *tail)
{
    char buf[8192];
    for (int rounds = 0; rounds < 16; rounds++) {
        ssize_t n = read(console_fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return true;
        if (n <= 0)
            return false;
        if (tail)
            rk_console_tail_add(tail, buf, (size_t)n);
        if (log_fd >= 0 && rk_write_all(log_fd, buf, (size_t)n) < 0) {
        }
    }
    return true;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The error of a failed boot: what happened, systemd's last STATUS=, and
 * the last lines of the console. */
static int boot_failed(const rk_boot_wait *w, const char *status, rk_error **err,
                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int boot_failed(const rk_boot_wait *w, const char *status, rk_error **err,
                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *what = rk_xvasprintf(fmt, ap);
    va_end(ap);
    _cleanup_free_ char *lines = w->tail ? rk_console_tail_lines(w->tail, 15) : rk_xstrdup("");
    return rk_error_set_status(err, 125, 0, "%s%s%s%s; %s%s", what,
                               status ? " (systemd's status: " : "", status ? status : "",
                               status ? ")" : "",
                               *lines ? "the last lines of its console:\n" : "its console is empty",
                               lines);
}

int rk_boot_wait_ready(const rk_boot_wait *w, rk_error **err)
{
    if (w->console_fd >= 0)
        fcntl(w->console_fd, F_SETFL, fcntl(w->console_fd, F_GETFL) | O_NONBLOCK);
    long long deadline = now_ms() + w->timeout_ms;
    _cleanup_free_ char *status = NULL;
    bool console_open = w->console_fd >= 0;
    for (;;) {
        struct pollfd p[4];
        int np = 0, i_console = -1, i_sig = -1;
        p[np++] = (struct pollfd){.fd = w->notify_fd, .events = POLLIN};
        p[np++] = (struct pollfd){.fd = w->pidfd, .events = POLLIN};
        if (console_open) {
            i_console = np;
            p[np++] = (struct pollfd){.fd = w->console_fd, .events = POLLIN};
        }
        if (w->sigfd >= 0) {
            i_sig = np;
            p[np++] = (struct pollfd){.fd = w->sigfd, .events = POLLIN};
        }
        long long left = deadline - now_ms();
        if (left < 0)
            left = 0;
        int r = poll(p, (nfds_t)np, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return rk_error_set(err, errno, "waiting for the container to boot (poll)");
        if (i_console >= 0 && p[i_console].revents)
            console_open = copy_console(w->console_fd, w->log_fd, w->tail);
        if (p[0].revents) {
            int rr;
            while ((rr = read_notify(w->notify_fd, w->pid, &status)) != 0) {
                if (rr > 0) {
                    if (console_open)
                        copy_console(w->console_fd, w->log_fd, w->tail);
                    return 0;
                }
                if (rr < 0)
                    break;
            }
        }
        if (i_sig >= 0 && p[i_sig].revents) {
            struct signalfd_siginfo si;
            while (read(w->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if ((int)si.ssi_signo == SIGWINCH)
                    continue;
                return rk_error_set_status(err, 128 + (int)si.ssi_signo, 0,
                                           "interrupted by signal %d while the container booted",
                                           (int)si.ssi_signo);
            }
        }
        if (p[1].revents) {
            if (console_open)
                copy_console(w->console_fd, w->log_fd, w->tail);
            siginfo_t si;
            memset(&si, 0, sizeof(si));
            waitid(P_PIDFD, (id_t)w->pidfd, &si, WEXITED | WNOHANG | WNOWAIT);
            if (si.si_code == CLD_EXITED)
                return boot_failed(w, status, err,
                                   "the container's init exited with status %d before it was ready",
                                   si.si_status);
            return boot_failed(w, status, err,
                               "the container's init was killed by signal %d before it was ready",
                               si.si_status);
        }
        if (now_ms() >= deadline) {
            return boot_failed(w, status, err,
                               "the container did not report ready (READY=1) within %d s",
                               (w->timeout_ms + 999) / 1000);
        }
    }
}

int rk_boot_console_until_exit(int console_fd, int log_fd, int pidfd, int timeout_ms,
                               rk_console_tail *tail)
{
    if (console_fd >= 0)
        fcntl(console_fd, F_SETFL, fcntl(console_fd, F_GETFL) | O_NONBLOCK);
    long long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    bool open_ = console_fd >= 0;
    for (;;) {
        struct pollfd p[2] = {{.fd = pidfd, .events = POLLIN},
                              {.fd = open_ ? console_fd : -1, .events = POLLIN}};
        int left = -1;
        if (deadline >= 0) {
            long long l = deadline - now_ms();
            left = l < 0 ? 0 : (int)l;
        }
        int r = poll(p, 2, left);
        if (r < 0 && errno == EINTR)
            continue;
        if (open_ && p[1].revents)
            open_ = copy_console(console_fd, log_fd, tail);
        if (p[0].revents) {
            if (open_)
                copy_console(console_fd, log_fd, tail);
            return 1;
        }
        if (r == 0 || (deadline >= 0 && now_ms() >= deadline))
            return 0;
    }
}
