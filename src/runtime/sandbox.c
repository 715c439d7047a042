#include "runtime/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/overlay.h"
#include "base/strv.h"

static int openat2_in_root(int rootfd, const char *path, int flags)
{
    struct open_how how = {
        .flags = (unsigned long long)(flags | O_CLOEXEC),
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    while (*path == '/')
        path++;
    if (!*path)
        path = ".";
    return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
}

static int open_in_root(int rootfd, const char *path, bool want_dir, bool create,
                        int depth, rk_error **err)
{
    if (depth > 40)
        return rk_error_set(err, ELOOP, "resolving %s in the container", path);
    int fd = openat2_in_root(rootfd, path, O_PATH);
    if (fd >= 0 || errno != ENOENT || !create) {
        if (fd < 0)
            return rk_error_set(err, errno, "resolving %s in the container", path);
        return fd;
    }
    /* Walk down, creating what is missing. */
    _cleanup_close_ int cur = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
    if (cur < 0)
        return rk_error_set(err, errno, "duplicating the root fd");
    _cleanup_free_ char *sofar = rk_xstrdup("");
    const char *p = path;
    for (;;) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *end = strchrnul(p, '/');
        _cleanup_free_ char *name = rk_xstrndup(p, (size_t)(end - p));
        const char *rest = end;
        while (*rest == '/')
            rest++;
        bool last = !*rest;
        _cleanup_free_ char *parent = TAKE_PTR(sofar);
        sofar = rk_xasprintf("%s/%s", parent, name);
        int nfd = openat2_in_root(rootfd, sofar, O_PATH);
        if (nfd < 0 && errno == ENOENT) {
            /* A dangling symlink (say /etc/resolv.conf -> /run/...): what
             * it points at is created, inside the root. */
            char link[4096];
            ssize_t n = readlinkat(cur, name, link, sizeof(link) - 1);
            if (n > 0) {
                link[n] = 0;
                _cleanup_free_ char *np = link[0] == '/'
                                              ? rk_xasprintf("%s/%s", link, rest)
                                              : rk_xasprintf("%s/%s/%s", parent, link, rest);
                if (last && !want_dir)
                    np[strlen(np) - 1] = 0; /* no trailing slash on a file */
                return open_in_root(rootfd, np, want_dir, create, depth + 1, err);
            }
            int r;
            if (!last || want_dir) {
                r = mkdirat(cur, name, 0755);
            } else {
                r = openat(cur, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0644);
                if (r >= 0) {
                    close(r);
                    r = 0;
                }
            }
            if (r < 0 && errno != EEXIST)
                return rk_error_set(err, errno, "creating %s in the container", sofar);
            nfd = openat2_in_root(rootfd, sofar, O_PATH);
        }
        if (nfd < 0)
            return rk_error_set(err, errno, "resolving %s in the container", sofar);
        close(cur);
        cur = nfd;
        p = end;
    }
    return TAKE_FD(cur);
}

int rk_open_in_root(int rootfd, const char *path, bool want_dir, bool create,
                    rk_error **err)
{
    return open_in_root(rootfd, path, want_dir, create, 0, err);
}

static char *fd_path(int fd)
{
    return rk_xasprintf("/proc/self/fd/%d", fd);
}

/* mount(2) onto a path resolved inside the root. */
static int mount_in_root(int rootfd, const char *src, const char *target,
                         const char *type, unsigned long flags, const char *data,
                         bool want_dir, rk_error **err)
{
    _cleanup_close_ int fd = rk_open_in_root(rootfd, target, want_dir, true, err);
    if (fd < 0)
        return rk_error_wrap(err, "mounting %s", target);
    _cleanup_free_ char *p = fd_path(fd);
    if (mount(src, p, type, flags, data) < 0)
        return rk_error_set(err, errno, "mounting %s on %s", type ? type : src, target);
    return 0;
}

/* Set mount attributes (MOUNT_ATTR_*) on the mount at target, and on
 * the mounts below it. */
static int mount_set(int rootfd, const char *target, unsigned long long attrs,
                     rk_error **err)
{
    _cleanup_close_ int fd = rk_open_in_root(rootfd, target, true, false, err);
    if (fd < 0)
        return -1;
    struct mount_attr attr = {.attr_set = attrs};
    if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
        return rk_error_set(err, errno, "setting the mount flags of %s%s", target,
                            attrs & MOUNT_ATTR_RDONLY ? " (read-only)" : "");
    return 0;
}

/* Docker's masked and read-only paths. */
static const char *const masked_paths[] = {
    "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
    "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
    "/sys/devices/virtual/powercap",
};
static const char *const readonly_paths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

/* An OS container holds CAP_SYS_ADMIN and could unmount any mask: it
 * gets what systemd's container interface asks for, /proc/sys read-only
 * (and sysrq-trigger), not Docker's masks. Fewer mounts matter there: a
 * sandboxed service (ProtectSystem=, ProtectKernelTunables=...) reads
 * the whole mount table for every remount its namespace needs. */
static const char *const readonly_paths_boot[] = {"/proc/sys", "/proc/sysrq-trigger"};

static int mask_paths(int rootfd, bool boot, rk_error **err)
{
    if (boot) {
        for (size_t i = 0; i < RK_ELEMENTSOF(readonly_paths_boot); i++) {
            int fd = openat2_in_root(rootfd, readonly_paths_boot[i], O_PATH);
            if (fd < 0)
                continue;
            _cleanup_close_ int f = fd;
            _cleanup_free_ char *p = fd_path(f);
            if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0)
                return rk_error_set(err, errno, "binding %s", readonly_paths_boot[i]);
            if (mount_set(rootfd, readonly_paths_boot[i],
                          MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                              MOUNT_ATTR_NOEXEC, err) < 0)
                return -1;
        }
        return 0;
    }
    for (size_t i = 0; i < RK_ELEMENTSOF(masked_paths); i++) {
        int fd = openat2_in_root(rootfd, masked_paths[i], O_PATH);
        if (fd < 0)
            continue; /* not on this kernel */
        _cleanup_close_ int f = fd;
        struct stat st;
        if (fstat(f, &st) < 0)
            return rk_error_set(err, errno, "stat %s", masked_paths[i]);
        _cleanup_free_ char *p = fd_path(f);
        int r = S_ISDIR(st.st_mode)
                    ? mount("tmpfs", p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0")
                    : mount("/dev/null", p, NULL, MS_BIND, NULL);
        if (r < 0)
            return rk_error_set(err, errno, "masking %s", masked_paths[i]);
    }
    for (size_t i = 0; i < RK_ELEMENTSOF(readonly_paths); i++) {
        int fd = openat2_in_root(rootfd, readonly_paths[i], O_PATH);
        if (fd < 0)
            continue;
        _cleanup_close_ int f = fd;
        _cleanup_free_ char *p = fd_path(f);
        if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0)
            return rk_error_set(err, errno, "binding %s", readonly_paths[i]);
        if (mount_set(rootfd, readonly_paths[i],
                      MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
                      err) < 0)
            return -1;
    }
    return 0;
}

/* An OS container's own boot ID, as systemd-nspawn gives one: journald
 * tags every entry with it, and `journalctl -b` selects by it. */
static int setup_boot_id(const rk_sandbox *sb, int rootfd, rk_error **err)
{
    char hex[33];
    rk_random_hex(hex, 16);
    hex[12] = '4'; /* a version 4 UUID, as the kernel makes them */
    hex[16] = "89ab"[hex[16] % 4];
    _cleanup_free_ char *text = rk_xasprintf("%.8s-%.4s-%.4s-%.4s-%.12s\n", hex, hex + 8,
                                             hex + 12, hex + 16, hex + 20);
    _cleanup_free_ char *src = rk_path_join(sb->scratch, "boot_id");
    _cleanup_close_ int fd = open(src, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    if (fd < 0 || rk_write_all(fd, text, strlen(text)) < 0)
        return rk_error_set(err, errno, "writing %s", src);
    int t = openat2_in_root(rootfd, "/proc/sys/kernel/random/boot_id", O_PATH);
    if (t < 0)
        return 0; /* no such file on this kernel: nothing to hide */
    _cleanup_close_ int target = t;
    _cleanup_free_ char *p = fd_path(target);
    if (mount(src, p, NULL, MS_BIND, NULL) < 0)
        return rk_error_set(err, errno, "binding the boot ID");
    return mount_set(rootfd, "/proc/sys/kernel/random/boot_id",
                     MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
                     err);
}

static const struct {
    const char *name;
    unsigned maj, min;
} dev_nodes[] = {
    {"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7},
    {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
};

static int setup_dev(const rk_sandbox *sb, int rootfd, rk_error **err)
{
    /* The nodes are made in /dev itself for --privileged, and for an OS
     * container: it holds CAP_SYS_ADMIN and could mount a tmpfs without
     * nodev anyway, so what keeps it from devices is that it cannot make
     * nodes (no CAP_MKNOD, see rk_boot_default_caps); and six binds fewer
     * make each of its sandboxed services start faster. */
    bool priv = sb->spec->privileged || sb->spec->boot == RK_BOOT_YES;
    if (mount_in_root(rootfd, "tmpfs", "/dev", "tmpfs",
                      MS_NOSUID | MS_STRICTATIME | (priv ? 0 : MS_NODEV),
                      "mode=755,size=65536k", true, err) < 0)
        return -1;
    _cleanup_close_ int dev = rk_open_in_root(rootfd, "/dev", true, false, err);
    if (dev < 0)
        return -1;
    /* mknodat needs a real directory fd, not an O_PATH one. */
    _cleanup_free_ char *dp = fd_path(dev);
    _cleanup_close_ int d = open(dp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0)
        return rk_error_set(err, errno, "opening the container's /dev");
    /* The nodes themselves live on the scratch tmpfs (devices allowed)
     * and are bound one by one into the nodev /dev. */
    _cleanup_free_ char *nodes = rk_path_join(sb->scratch, "dev");
    if (!priv && mkdir(nodes, 0755) < 0)
        return rk_error_set(err, errno, "creating %s", nodes);
    _cleanup_close_ int nd = priv ? -1 : open(nodes, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (!priv && nd < 0)
        return rk_error_set(err, errno, "opening %s", nodes);
    mode_t old = umask(0);
    for (size_t i = 0; i < RK_ELEMENTSOF(dev_nodes); i++) {
        dev_t num = makedev(dev_nodes[i].maj, dev_nodes[i].min);
        if (mknodat(priv ? d : nd, dev_nodes[i].name, S_IFCHR | 0666, num) < 0) {
            umask(old);
            return rk_error_set(err, errno, "creating the device node %s", dev_nodes[i].name);
        }
        if (priv)
            continue;
        int f = openat(d, dev_nodes[i].name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (f < 0) {
            umask(old);
            return rk_error_set(err, errno, "creating /dev/%s", dev_nodes[i].name);
        }
        close(f);
        _cleanup_free_ char *src = rk_path_join(nodes, dev_nodes[i].name);
        _cleanup_free_ char *dst = rk_xasprintf("%s/%s", dp, dev_nodes[i].name);
        if (mount(src, dst, NULL, MS_BIND, NULL) < 0) {
            umask(old);
            return rk_error_set(err, errno, "binding /dev/%s", dev_nodes[i].name);
        }
    }
    umask(old);
    static const struct {
        const char *name, *target;
    } links[] = {
        {"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"},
        {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"},
        {"ptmx", "pts/ptmx"}, {"core", "/proc/kcore"},
    };
    for (size_t i = 0; i < RK_ELEMENTSOF(links); i++)
        if (symlinkat(links[i].target, d, links[i].name) < 0)
            return rk_error_set(err, errno, "creating /dev/%s", links[i].name);
    if (mkdirat(d, "pts", 0755) < 0 || mkdirat(d, "shm", 01777) < 0 ||
        mkdirat(d, "mqueue", 0755) < 0)
        return rk_error_set(err, errno, "creating directories in /dev");
    /* gid 5 is "tty" in every mainstream distribution (and in Docker). */
    if (mount_in_root(rootfd, "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                      "newinstance,ptmxmode=0666,mode=620,gid=5", true, err) < 0 ||
        mount_in_root(rootfd, "shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                      "mode=1777,size=65536k", true, err) < 0 ||
        mount_in_root(rootfd, "mqueue", "/dev/mqueue", "mqueue",
                      MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, true, err) < 0)
        return -1;
    return 0;
}

static char *read_host_file(const char *path)
{
    char *text = NULL;
    if (rk_read_file_at(AT_FDCWD, path, 1 << 20, &text, NULL, NULL) < 0)
        return NULL;
    return text;
}

/* An OS container's /etc files are written into its root, as
 * systemd-nspawn copies them: hostnamectl set-hostname replaces
 * /etc/hostname by a rename, which a bind mount would refuse (EBUSY). A
 * symlink there (/etc/resolv.conf to systemd-resolved's stub) is the
 * system's own setup and stays. */
static int write_etc_in_root(int rootfd, const char *name, const char *content, rk_error **err)
{
    _cleanup_free_ char *path = rk_xasprintf("/etc/%s", name);
    int l = openat2_in_root(rootfd, path, O_PATH | O_NOFOLLOW);
    if (l >= 0) {
        struct stat st;
        int r = fstat(l, &st);
        close(l);
        if (r == 0 && S_ISLNK(st.st_mode))
            return 0;
    }
    _cleanup_close_ int etc = rk_open_in_root(rootfd, "/etc", true, true, err);
    if (etc < 0)
        return -1;
    _cleanup_free_ char *ep = fd_path(etc);
    _cleanup_close_ int dfd = open(ep, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return rk_error_set(err, errno, "opening the container's /etc");
    _cleanup_close_ int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                                    0644);
    if (fd < 0 || rk_write_all(fd, content, strlen(content)) < 0)
        return rk_error_set(err, errno, "writing %s in the container", path);
    return 0;
}

/* systemd seeds an empty /etc/machine-id from D-Bus's
 * /var/lib/dbus/machine-id first, when that is a file of its own (as the
 * dbus package leaves it in a provisioned image), and only then from
 * container_uuid: make it the link to /etc/machine-id that dbus makes on
 * a fresh system, so both name the container. */
static int link_dbus_machine_id(int rootfd, rk_error **err)
{
    int l = openat2_in_root(rootfd, "/var/lib/dbus/machine-id", O_PATH | O_NOFOLLOW);
    if (l < 0)
        return 0;
    struct stat st;
    int r = fstat(l, &st);
    close(l);
    if (r < 0 || !S_ISREG(st.st_mode))
        return 0;
    _cleanup_close_ int dir = rk_open_in_root(rootfd, "/var/lib/dbus", true, false, err);
    if (dir < 0)
        return -1;
    _cleanup_free_ char *dp = fd_path(dir);
    _cleanup_close_ int dfd = open(dp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || unlinkat(dfd, "machine-id", 0) < 0 ||
        symlinkat("/etc/machine-id", dfd, "machine-id") < 0)
        return rk_error_set(err, errno, "linking /var/lib/dbus/machine-id in the container");
    return 0;
}

/* /etc/hostname, /etc/hosts and /etc/resolv.conf: generated in the scratch
 * tmpfs and bound over the image's (which are left untouched); an OS
 * container's are written in place (write_etc_in_root). */
static int setup_etc(const rk_sandbox *sb, int rootfd, rk_error **err)
{
    _cleanup_free_ char *etc = rk_path_join(sb->scratch, "etc");
    if (mkdir(etc, 0755) < 0)
        return rk_error_set(err, errno, "creating %s", etc);
    _cleanup_free_ char *host_hosts = sb->spec->network == RK_NET_HOST
                                          ? read_host_file("/etc/hosts") : NULL;
    _cleanup_free_ char *resolv = read_host_file("/etc/resolv.conf");
    _cleanup_free_ char *hostname = rk_xasprintf("%s\n", sb->hostname);
    _cleanup_free_ char *hosts = rk_xasprintf(
        "%s%s127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        "127.0.1.1\t%s\n",
        host_hosts ? host_hosts : "",
        host_hosts && *host_hosts && host_hosts[strlen(host_hosts) - 1] != '\n' ? "\n" : "",
        sb->hostname);
    const struct {
        const char *name, *content;
    } files[] = {
        {"hostname", hostname},
        {"hosts", hosts},
        {"resolv.conf", resolv ? resolv : ""},
    };
    /* An OS container's machine ID comes from container_uuid, which
     * systemd uses only when /etc/machine-id is empty: missing, it would
     * be a first boot (presets applied, systemd-firstboot waiting for a
     * key on the console); set, every container of the image would be
     * the same machine (a provisioned image has the ID of the container
     * that installed systemd). */
    if (sb->spec->boot == RK_BOOT_YES &&
        (write_etc_in_root(rootfd, "machine-id", "", err) < 0 || link_dbus_machine_id(rootfd, err) < 0))
        return -1;
    for (size_t i = 0; i < RK_ELEMENTSOF(files); i++) {
        if (sb->spec->boot == RK_BOOT_YES) {
            if (write_etc_in_root(rootfd, files[i].name, files[i].content, err) < 0)
                return -1;
            continue;
        }
        _cleanup_free_ char *src = rk_path_join(etc, files[i].name);
        _cleanup_close_ int fd = open(src, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 || rk_write_all(fd, files[i].content, strlen(files[i].content)) < 0)
            return rk_error_set(err, errno, "writing %s", src);
        _cleanup_free_ char *dst = rk_xasprintf("/etc/%s", files[i].name);
        if (mount_in_root(rootfd, src, dst, NULL, MS_BIND, NULL, false, err) < 0)
            return -1;
    }
    return 0;
}

/* tmpfs options: the flag words become mount flags, the rest is data. */
static int tmpfs_flags(const char *opts, unsigned long *flags, char **data)
{
    *flags = MS_NOSUID | MS_NODEV;
    _cleanup_strv_ char **rest = NULL;
    _cleanup_free_ char *copy = rk_xstrdup(opts ? opts : "");
    char *save = NULL;
    for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
        if (!strcmp(o, "ro")) *flags |= MS_RDONLY;
        else if (!strcmp(o, "rw")) *flags &= ~(unsigned long)MS_RDONLY;
        else if (!strcmp(o, "noexec")) *flags |= MS_NOEXEC;
        else if (!strcmp(o, "exec")) *flags &= ~(unsigned long)MS_NOEXEC;
        else if (!strcmp(o, "nosuid")) *flags |= MS_NOSUID;
        else if (!strcmp(o, "suid")) *flags &= ~(unsigned long)MS_NOSUID;
        else if (!strcmp(o, "nodev")) *flags |= MS_NODEV;
        else if (!strcmp(o, "dev")) *flags &= ~(unsigned long)MS_NODEV;
        else rk_strv_push_dup(&rest, o);
    }
    bool has_mode = false;
    for (size_t i = 0; rest && rest[i]; i++)
        has_mode |= rk_startswith(rest[i], "mode=");
    if (!has_mode)
        rk_strv_push_dup(&rest, "mode=1777");
    *data = rk_strv_join(rest, ",");
    return 0;
}

static int setup_user_mounts(const rk_sandbox *sb, int rootfd, rk_error **err)
{
    for (size_t i = 0; i < sb->spec->n_mounts; i++) {
        const rk_mount_spec *m = &sb->spec->mounts[i];
        if (m->kind == RK_MOUNT_TMPFS) {
            unsigned long fl;
            _cleanup_free_ char *data = NULL;
            tmpfs_flags(m->options, &fl, &data);
            if (!sb->spec->privileged)
                fl |= MS_NODEV;
            if (mount_in_root(rootfd, "tmpfs", m->target, "tmpfs", fl, data, true, err) < 0)
                return -1;
            continue;
        }
        struct stat st;
        if (stat(m->source, &st) < 0)
            return rk_error_set_status(err, 125, errno, "bind source path %s", m->source);
        _cleanup_close_ int fd = rk_open_in_root(rootfd, m->target, S_ISDIR(st.st_mode), true, err);
        if (fd < 0)
            return rk_error_wrap(err, "volume %s", m->target);
        _cleanup_free_ char *p = fd_path(fd);
        if (mount(m->source, p, NULL, MS_BIND | MS_REC, NULL) < 0)
            return rk_error_set(err, errno, "binding %s on %s", m->source, m->target);
        unsigned long long attrs = (m->readonly ? MOUNT_ATTR_RDONLY : 0) |
                                   (sb->spec->privileged ? 0 : MOUNT_ATTR_NODEV);
        /* fd is the mount point below the new mount: resolve again. */
        if (attrs && mount_set(rootfd, m->target, attrs, err) < 0)
            return -1;
    }
    return 0;
}

static int loopback_up(rk_error **err)
{
    _cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return rk_error_set(err, errno, "creating a socket to bring up lo");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        return rk_error_set(err, errno, "reading the flags of lo");
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
        return rk_error_set(err, errno, "bringing up lo");
    return 0;
}

int rk_sandbox_enter_root(const rk_sandbox *sb, rk_error **err)
{
    const rk_spec *spec = sb->spec;
    /* 1. Nothing we mount may propagate back to the host, and host mounts
     *    made from now on stay out of the container. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return rk_error_set(err, errno, "making the mount namespace private");

    /* 2. The scratch tmpfs: root mount point, volatile upper layer, /etc
     *    files. It hides what the runtime directory holds (the notify
     *    socket): that is opened first. */
    _cleanup_close_ int notify = -1;
    if (spec->notify_socket) {
        notify = open(spec->notify_socket, O_PATH | O_CLOEXEC);
        if (notify < 0)
            return rk_error_set(err, errno, "opening the notify socket %s", spec->notify_socket);
    }
    if (mount("tmpfs", sb->scratch, "tmpfs", MS_NOSUID, "mode=0700") < 0)
        return rk_error_set(err, errno, "mounting a tmpfs on %s", sb->scratch);
    _cleanup_free_ char *root = rk_path_join(sb->scratch, "root");
    _cleanup_free_ char *vupper = rk_path_join(sb->scratch, "upper");
    _cleanup_free_ char *vwork = rk_path_join(sb->scratch, "work");
    if (mkdir(root, 0755) < 0)
        return rk_error_set(err, errno, "creating %s", root);
    if (!sb->upper && (mkdir(vupper, 0755) < 0 || mkdir(vwork, 0700) < 0))
        return rk_error_set(err, errno, "creating the volatile upper layer in %s", sb->scratch);

    /* 3. The root: the image's layers under the writable layer. */
    if (rk_overlay_mount(root, sb->lowers, sb->upper ? sb->upper : vupper,
                         sb->work ? sb->work : vwork, NULL, false, err) < 0)
        return rk_error_wrap(err, "mounting the container's root");
    _cleanup_close_ int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return rk_error_set(err, errno, "opening %s", root);

    /* 4. /proc, with Docker's masks unless privileged. */
    if (mount_in_root(rootfd, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                      NULL, true, err) < 0)
        return -1;
    /* 5. /sys, read-only unless privileged. */
    unsigned long sysfl = MS_NOSUID | MS_NODEV | MS_NOEXEC | (spec->privileged ? 0 : MS_RDONLY);
    if (mount_in_root(rootfd, "sysfs", "/sys", "sysfs", sysfl, NULL, true, err) < 0)
        return -1;
    if (!spec->privileged && mask_paths(rootfd, spec->boot == RK_BOOT_YES, err) < 0)
        return -1;
    if (spec->boot == RK_BOOT_YES && setup_boot_id(sb, rootfd, err) < 0)
        return -1;
    /* 6. /dev: a tmpfs with the usual nodes, a devpts of its own, shm, mqueue. */
    if (setup_dev(sb, rootfd, err) < 0)
        return -1;
    /* 7. /etc/hostname, /etc/hosts, /etc/resolv.conf. */
    if (setup_etc(sb, rootfd, err) < 0)
        return -1;
    /* 8. -v and --tmpfs, in the order given; then the notify socket an OS
     *    container's systemd reports READY=1 on (systemd's container
     *    interface puts it at /run/host/notify). */
    if (setup_user_mounts(sb, rootfd, err) < 0)
        return -1;
    if (notify >= 0) {
        _cleanup_free_ char *np = fd_path(notify);
        if (mount_in_root(rootfd, np, "/run/host/notify", NULL, MS_BIND, NULL, false, err) < 0)
            return -1;
    }
    /* 9. Names and network of the new UTS and network namespaces. */
    if (sethostname(sb->hostname, strlen(sb->hostname)) < 0)
        return rk_error_set(err, errno, "setting the hostname");
    if (spec->network == RK_NET_NONE && loopback_up(err) < 0)
        return -1;

    /* 10. pivot_root with the old root stacked under the new one, then
     *     detached: no directory for it is needed in the image. */
    if (fchdir(rootfd) < 0)
        return rk_error_set(err, errno, "entering %s", root);
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        return rk_error_set(err, errno, "pivot_root to %s", root);
    if (umount2(".", MNT_DETACH) < 0)
        return rk_error_set(err, errno, "detaching the old root");
    if (chdir("/") < 0)
        return rk_error_set(err, errno, "chdir to the new root");
    return 0;
}

int rk_sandbox_finish(const rk_sandbox *sb, rk_error **err)
{
    const rk_spec *spec = sb->spec;
    if (spec->cgroupfs != RK_CGROUPFS_NONE && sb->cgroups) {
        bool rw = spec->cgroupfs == RK_CGROUPFS_RW || spec->privileged;
        if (rk_cgroup_mount_in_container(sb->cgroups, sb->cgroup, "/sys/fs/cgroup", rw, err) < 0)
            return -1;
    }
    unsigned long fl = MS_REMOUNT | MS_BIND;
    if (!spec->privileged)
        fl |= MS_NODEV; /* device nodes shipped in an image stay inert */
    if (spec->read_only)
        fl |= MS_RDONLY;
    if (fl != (MS_REMOUNT | MS_BIND) && mount(NULL, "/", NULL, fl, NULL) < 0)
        return rk_error_set(err, errno, "remounting the root%s", spec->read_only ? " read-only" : "");
    return 0;
}

int rk_sandbox_console(int slave_fd, rk_error **err)
{
    int fd = open("/dev/console", O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0)
        return rk_error_set(err, errno, "creating /dev/console");
    close(fd);
    _cleanup_free_ char *p = fd_path(slave_fd);
    if (mount(p, "/dev/console", NULL, MS_BIND, NULL) < 0)
        return rk_error_set(err, errno, "binding the pty on /dev/console");
    return 0;
}
