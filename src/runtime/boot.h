/* OS containers: systemd as PID 1, through systemd's container interface.
 *
 * What racker provides (as systemd-nspawn does):
 *   - environment of PID 1: container=racker, container_uuid=<32 hex>
 *     (systemd seeds an empty /etc/machine-id from it), NOTIFY_SOCKET=
 *     /run/host/notify, a socket racker listens on for READY=1;
 *   - tmpfs on /run, /run/lock and /tmp, /run/host/os-release from the
 *     host, /etc/hostname, /etc/hosts and /etc/resolv.conf written into
 *     its root, a boot ID of its own, /dev/console bound to a pty whose
 *     master racker reads (the console log);
 *   - a writable cgroup subtree (v2, and the named v1 systemd hierarchy on
 *     v1 and hybrid hosts) inside a cgroup namespace (see cgroup.h);
 *   - the capability set systemd-nspawn gives its containers.
 *
 * The payload (the command of `racker run IMG CMD`, and `racker exec`)
 * runs in the booted system once systemd reported READY=1: all its
 * namespaces, a cgroup of its own below the container's (RK_BOOT_EXEC_CGROUP),
 * and the environment systemd gives services (PATH, the locale).
 *
 * This module holds the pure parts (detection, the environment, notify
 * messages, the console's last lines) and the waiting for readiness; the
 * orchestration is in container.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"
#include "runtime/cgroup.h"
#include "runtime/spec.h"

#define RK_BOOT_NOTIFY_PATH "/run/host/notify"
/* The payload's cgroup, below the container's in every hierarchy: on v2
 * the container's own cgroup may not hold processes once systemd has
 * enabled controllers in it ("no internal processes"). */
#define RK_BOOT_EXEC_CGROUP "racker-exec"
/* The container's processes live one level below racker-<id>, whose
 * device policy they then cannot reach: their cgroup namespace starts at
 * racker-<id>/RK_BOOT_INNER_CGROUP. The payload's cgroup is below that. */
#define RK_BOOT_INNER_CGROUP "container"
#define RK_BOOT_DEFAULT_TIMEOUT 30
/* Seconds a kept container gets to halt before it is killed. */
#define RK_BOOT_HALT_GRACE 10

/* What the runtime needs to boot (rk_run_options.boot). */
typedef struct rk_boot_options {
    char *const *init_argv; /* PID 1: ["/lib/systemd/systemd", ...] */
    char *const *payload;   /* run in the booted system; NULL: none (the
                             * console is relayed, or -d keeps it up) */
    int timeout;            /* seconds until READY=1 */
} rk_boot_options;

/* systemd in the merged view of an image's layers (or a --rootfs tree as
 * one layer): /lib/systemd/systemd, /usr/lib/systemd/systemd, or /sbin/init
 * when it resolves to a systemd binary. Returns the path to run as PID 1,
 * or NULL. */
char *rk_boot_find_systemd(char *const *layer_dirs, size_t n);
/* Is argv0 an init (systemd, /sbin/init): then the image's command is
 * PID 1 itself, not a payload. */
bool rk_boot_is_init_command(const char *argv0);

/* systemd-nspawn's default set (Docker's plus AUDIT_CONTROL, IPC_OWNER,
 * LEASE, LINUX_IMMUTABLE, NET_BROADCAST, SYS_ADMIN, SYS_BOOT, SYS_NICE,
 * SYS_PTRACE, SYS_RESOURCE, SYS_TTY_CONFIG) without two it grants behind
 * a device policy racker does not have: MKNOD (with SYS_ADMIN a container
 * could mount a file system that allows devices, and make one for a host
 * disk there) and DAC_READ_SEARCH (open_by_handle_at() opens any file of
 * a file system the container can reach, by handle). */
uint64_t rk_boot_default_caps(void);
/* --cap-add/--cap-drop applied to that set (drops first, then adds, as in
 * rk_caps_compute); privileged: every known capability. Pure. */
int rk_boot_caps_compute(char *const *add, char *const *drop, bool privileged,
                         uint64_t *ret, rk_error **err);

/* The devices an OS container may open: /dev/null, zero, full, random,
 * urandom, tty, console, ptmx and the ptys of its devpts. An OS
 * container holds CAP_SYS_ADMIN: nodev mounts cannot keep it from a
 * device node an image ships (it can remount them), so the kernel's
 * device cgroup does, as systemd-nspawn's policy does. Applied to cg (the
 * container's outer cgroups, before anything joins them): a
 * BPF_CGROUP_DEVICE program on the v2 directory (hybrid and v2 hosts:
 * the kernel checks it on either), else the v1 devices controller. Error
 * when neither exists. */
int rk_boot_device_policy(const rk_cgroup *cg, rk_error **err);

/* Turn s into an OS container's spec: boot, console, a writable cgroup
 * tree, no no_new_privs, the stop signal SIGRTMIN+3 unless
 * keep_stop_signal, and the tmpfs mounts of the container interface
 * (/run, /run/lock, /tmp) in front of the user's. */
void rk_boot_spec_setup(rk_spec *s, bool keep_stop_signal);
/* The text of the host's os-release (/etc/os-release, else
 * /usr/lib/os-release), or NULL. */
char *rk_boot_host_os_release(void);

/* container_uuid from a container ID (its first 32 hex digits). */
void rk_boot_uuid(const char *id, char out[33]);
/* PID 1's environment. */
char **rk_boot_init_env(const char *uuid);

/* Locale variables (LANG, LANGUAGE, LC_*) from the text of
 * /etc/locale.conf or /etc/default/locale: KEY=value lines, values
 * optionally quoted, comments and other keys ignored. */
char **rk_boot_locale_parse(const char *text);
/* The environment systemd 252 gives services, as it builds it: PATH and
 * the locale from /etc/locale.conf, else /etc/default/locale (Debian's
 * systemd reads it), else LANG=C.UTF-8. The caller runs inside the container's mount
 * namespace, at its root. Then the container's env on top. */
char **rk_boot_service_env(char *const *container_env);

/* One datagram from the notify socket: does it say READY=1? *status gets
 * a STATUS= text (NULL when none). */
bool rk_boot_notify_ready(const char *msg, size_t len, char **status);

/* The console's last bytes, for error messages. */
typedef struct rk_console_tail {
    char buf[16384];
    size_t len;
} rk_console_tail;
void rk_console_tail_add(rk_console_tail *t, const char *data, size_t n);
/* The last nlines lines, carriage returns and terminal escape sequences
 * removed, each indented by two spaces; "" when nothing was written. */
char *rk_console_tail_lines(const rk_console_tail *t, size_t nlines);

/* The container's root, prepared inside it (at its root, after
 * pivot_root) before systemd starts:
 *   - runtime masks (symlinks to /dev/null in /run/systemd/system and
 *     /run/systemd/system-generators, what `systemctl mask --runtime`
 *     makes) of units and generators that cannot apply in a racker
 *     container (the lists below, with the reasons in boot.c), of
 *     generators that would find nothing to do (debug and run without
 *     init arguments, fstab with an /etc/fstab of no entries, rc-local
 *     without an executable /etc/rc.local), the getty generator when a
 *     payload has the terminal, and with volatile (--rm) what only keeps
 *     records of a system that is thrown away: the journal's flush to
 *     /var (the journal stays in /run/log/journal; journalctl reads it)
 *     and the utmp/wtmp boot and runlevel records. They live on the /run
 *     tmpfs: nothing in the image or the writable layer changes, and
 *     `systemctl list-unit-files` shows them as masked-runtime;
 *   - /run/host/os-release. */
typedef struct rk_boot_root {
    bool volatile_;            /* --rm */
    bool payload;              /* a payload will run */
    bool init_has_args;        /* PID 1 gets arguments (systemd.unit=...) */
    const char *host_os_release; /* its text, or NULL */
} rk_boot_root;
int rk_boot_prepare_root(const rk_boot_root *r, rk_error **err);
/* Does this /etc/fstab text hold no entry (only blanks and comments)? */
bool rk_boot_fstab_empty(const char *text);
/* The fixed lists (for docs and tests). */
extern const char *const rk_boot_masked_units[];
extern const char *const rk_boot_masked_units_volatile[];
extern const char *const rk_boot_masked_generators[];

/* Open the notify socket at path (datagrams, credentials passed). */
int rk_boot_notify_open(const char *path, rk_error **err);

/* Waiting for READY=1 while copying the console to log_fd (and into
 * tail). Returns 0 when ready; -1 with status 125 on timeout or when PID 1
 * exited first (the message ends with the last console lines), or with
 * status 128+N when signal N (one of the blocked forwarded signals, read
 * from sigfd) interrupted the boot. */
typedef struct rk_boot_wait {
    int notify_fd;
    int console_fd;  /* pty master, or -1 */
    int log_fd;      /* where console output goes, or -1 */
    int pidfd;       /* PID 1 */
    pid_t pid;       /* PID 1 (host view): only its READY=1 counts */
    int sigfd;       /* or -1 */
    int timeout_ms;
    rk_console_tail *tail;
} rk_boot_wait;
int rk_boot_wait_ready(const rk_boot_wait *w, rk_error **err);

/* Copy the console to log_fd until pidfd's process exits or timeout_ms
 * passes (< 0: no limit). 1 when it exited, 0 on timeout. */
int rk_boot_console_until_exit(int console_fd, int log_fd, int pidfd, int timeout_ms,
                               rk_console_tail *tail);
