#include "runtime/caps.h"

#include <ctype.h>
#include <errno.h>
#include <linux/capability.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/strv.h"

static const char *const cap_names[] = {
    "CHOWN",           "DAC_OVERRIDE",     "DAC_READ_SEARCH", "FOWNER",
    "FSETID",          "KILL",             "SETGID",          "SETUID",
    "SETPCAP",         "LINUX_IMMUTABLE",  "NET_BIND_SERVICE", "NET_BROADCAST",
    "NET_ADMIN",       "NET_RAW",          "IPC_LOCK",        "IPC_OWNER",
    "SYS_MODULE",      "SYS_RAWIO",        "SYS_CHROOT",      "SYS_PTRACE",
    "SYS_PACCT",       "SYS_ADMIN",        "SYS_BOOT",        "SYS_NICE",
    "SYS_RESOURCE",    "SYS_TIME",         "SYS_TTY_CONFIG",  "MKNOD",
    "LEASE",           "AUDIT_WRITE",      "AUDIT_CONTROL",   "SETFCAP",
    "MAC_OVERRIDE",    "MAC_ADMIN",        "SYSLOG",          "WAKE_ALARM",
    "BLOCK_SUSPEND",   "AUDIT_READ",       "PERFMON",         "BPF",
    "CHECKPOINT_RESTORE",
};

int rk_cap_last_known(void)
{
    return (int)RK_ELEMENTSOF(cap_names) - 1;
}

const char *rk_cap_name(int cap)
{
    if (cap < 0 || cap > rk_cap_last_known())
        return NULL;
    return cap_names[cap];
}

int rk_cap_from_name(const char *name)
{
    if (!strncasecmp(name, "CAP_", 4))
        name += 4;
    for (int i = 0; i <= rk_cap_last_known(); i++)
        if (!strcasecmp(name, cap_names[i]))
            return i;
    return -1;
}

uint64_t rk_caps_docker_default(void)
{
    static const int def[] = {
        CAP_CHOWN,  CAP_DAC_OVERRIDE, CAP_FSETID,  CAP_FOWNER,
        CAP_MKNOD,  CAP_NET_RAW,      CAP_SETGID,  CAP_SETUID,
        CAP_SETFCAP, CAP_SETPCAP,     CAP_NET_BIND_SERVICE,
        CAP_SYS_CHROOT, CAP_KILL,     CAP_AUDIT_WRITE,
    };
    uint64_t m = 0;
    for (size_t i = 0; i < RK_ELEMENTSOF(def); i++)
        m |= rk_cap_bit(def[i]);
    return m;
}

static uint64_t all_known(void)
{
    int last = rk_cap_last_known();
    return last >= 63 ? ~(uint64_t)0 : (rk_cap_bit(last + 1) - 1);
}

static int names_to_mask(char *const *names, const char *what, uint64_t *ret,
                         rk_error **err)
{
    uint64_t m = 0;
    for (size_t i = 0; names && names[i]; i++) {
        if (!strcasecmp(names[i], "ALL")) {
            m |= all_known();
            continue;
        }
        int c = rk_cap_from_name(names[i]);
        if (c < 0)
            return rk_error_set_status(err, 125, 0, "%s: unknown capability '%s'",
                                       what, names[i]);
        m |= rk_cap_bit(c);
    }
    *ret = m;
    return 0;
}

int rk_caps_compute(char *const *add, char *const *drop, bool privileged,
                    uint64_t *ret, rk_error **err)
{
    uint64_t a, d;
    if (names_to_mask(add, "--cap-add", &a, err) < 0 ||
        names_to_mask(drop, "--cap-drop", &d, err) < 0)
        return -1;
    uint64_t m = privileged ? all_known() : rk_caps_docker_default();
    m &= ~d;
    m |= a;
    *ret = m;
    return 0;
}

char *rk_caps_format(uint64_t caps)
{
    _cleanup_strv_ char **v = NULL;
    for (int i = 0; i < RK_CAP_MAX; i++) {
        if (!(caps & rk_cap_bit(i)))
            continue;
        const char *n = rk_cap_name(i);
        rk_strv_push(&v, n ? rk_xasprintf("CAP_%s", n) : rk_xasprintf("%d", i));
    }
    return rk_strv_join(v, ",");
}

int rk_caps_parse_list(const char *s, uint64_t *ret, rk_error **err)
{
    uint64_t m = 0;
    _cleanup_free_ char *copy = rk_xstrdup(s ? s : "");
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int c = rk_cap_from_name(tok);
        if (c < 0) {
            unsigned long long n;
            if (!rk_parse_uint64(tok, &n) || n >= RK_CAP_MAX)
                return rk_error_set(err, EINVAL, "unknown capability '%s'", tok);
            c = (int)n;
        }
        m |= rk_cap_bit(c);
    }
    *ret = m;
    return 0;
}

int rk_caps_held(uint64_t *ret, rk_error **err)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof(d));
    if (syscall(SYS_capget, &h, d) < 0)
        return rk_error_set(err, errno, "reading racker's capabilities (capget)");
    *ret = (uint64_t)d[0].permitted | ((uint64_t)d[1].permitted << 32);
    return 0;
}

int rk_caps_drop_bounding(uint64_t caps, rk_error **err)
{
    for (int i = 0; i < RK_CAP_MAX; i++) {
        if (caps & rk_cap_bit(i))
            continue;
        if (prctl(PR_CAPBSET_DROP, i, 0, 0, 0) < 0) {
            if (errno == EINVAL) /* past the kernel's last capability */
                break;
            return rk_error_set(err, errno, "dropping capability %d from the bounding set", i);
        }
    }
    return 0;
}

int rk_caps_set_process(uint64_t caps, rk_error **err)
{
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return rk_error_set(err, errno, "clearing ambient capabilities");
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof(d));
    if (geteuid() == 0) {
        d[0].permitted = d[0].effective = (uint32_t)caps;
        d[1].permitted = d[1].effective = (uint32_t)(caps >> 32);
    }
    if (syscall(SYS_capset, &h, d) < 0)
        return rk_error_set(err, errno, "setting the container's capabilities (capset)");
    return 0;
}
