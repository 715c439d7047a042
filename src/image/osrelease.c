/* os-release(5) parsing, family detection and provisioning recipes. */
#include "image/osrelease.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/strv.h"

/* ------------------------------------------------------------------ */
/* Parsing                                                             */
/* ------------------------------------------------------------------ */

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static void buf_putc(buf *b, char c)
{
    if (b->len + 2 > b->cap) {
        b->cap = b->cap ? 2 * b->cap : 64;
        b->p = rk_xrealloc(b->p, b->cap);
    }
    b->p[b->len++] = c;
    b->p[b->len] = '\0';
}

static void buf_reset(buf *b)
{
    if (!b->p) {
        b->cap = 64;
        b->p = rk_xmalloc(b->cap);
    }
    b->len = 0;
    b->p[0] = '\0';
}

static bool is_blank(char c)
{
    /* \r too: a file written on Windows ends its lines with \r\n. */
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static bool key_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool key_char(char c)
{
    return key_start(c) || (c >= '0' && c <= '9');
}

static void set_var(char ***vars, const char *key, size_t klen, const char *value)
{
    char *kv = rk_xasprintf("%.*s=%s", (int)klen, key, value);
    for (size_t i = 0; *vars && (*vars)[i]; i++) {
        if (!strncmp((*vars)[i], key, klen) && (*vars)[i][klen] == '=') {
            free((*vars)[i]);
            (*vars)[i] = kv;
            return;
        }
    }
    rk_strv_push(vars, kv);
}

static const char *get_var(char *const *vars, const char *key)
{
    size_t klen = strlen(key);
    for (size_t i = 0; vars && vars[i]; i++)
        if (!strncmp(vars[i], key, klen) && vars[i][klen] == '=')
            return vars[i] + klen + 1;
    return NULL;
}

/* One value, from *pp up to the unquoted end of its line. */
static int parse_value(const char **pp, const char *end, unsigned *line, buf *out,
                       rk_error **err)
{
    const char *p = *pp;
    size_t keep = 0; /* length without trailing unquoted blanks */
    buf_reset(out);
    while (p < end && *p != '\n') {
        char c = *p;
        if (c == '"') {
            unsigned start = *line;
            p++;
            for (;;) {
                if (p >= end)
                    return rk_error_set_status(err, 125, 0,
                                               "line %u: unterminated double quote", start);
                c = *p++;
                if (c == '"')
                    break;
                if (c == '\\' && p < end) {
                    char n = *p;
                    if (n == '\n') { /* line continuation */
                        (*line)++;
                        p++;
                        continue;
                    }
                    if (n == '"' || n == '\\' || n == '`' || n == '$') {
                        buf_putc(out, n);
                        p++;
                        continue;
                    }
                }
                if (c == '\n')
                    (*line)++;
                buf_putc(out, c);
            }
            keep = out->len;
        } else if (c == '\'') {
            unsigned start = *line;
            p++;
            for (;;) {
                if (p >= end)
                    return rk_error_set_status(err, 125, 0,
                                               "line %u: unterminated single quote", start);
                c = *p++;
                if (c == '\'')
                    break;
                if (c == '\n')
                    (*line)++;
                buf_putc(out, c);
            }
            keep = out->len;
        } else if (c == '\\') {
            p++;
            if (p >= end)
                break;
            if (*p == '\n') {
                (*line)++;
                p++;
                continue;
            }
            buf_putc(out, *p++);
            keep = out->len;
        } else if (is_blank(c)) {
            /* Kept inside a bare value (systemd does), dropped at its end. */
            buf_putc(out, c);
            p++;
        } else {
            buf_putc(out, c);
            p++;
            keep = out->len;
        }
    }
    out->len = keep;
    out->p[keep] = '\0';
    *pp = p;
    return 0;
}

void rk_os_release_clear(rk_os_release *r)
{
    rk_strv_free(r->vars);
    rk_strv_free(r->id_like);
    free(r->id);
    free(r->version_id);
    free(r->pretty_name);
    memset(r, 0, sizeof(*r));
}

const char *rk_os_release_get(const rk_os_release *r, const char *key)
{
    return get_var(r->vars, key);
}

int rk_os_release_parse(const char *text, size_t len, rk_os_release *ret, rk_error **err)
{
    memset(ret, 0, sizeof(*ret));
    if (len && memchr(text, '\0', len))
        return rk_error_set_status(err, 125, 0, "a NUL byte in os-release: not a text file");
    _cleanup_strv_ char **vars = NULL;
    buf val = {0};
    const char *p = text, *end = text + len;
    unsigned line = 1;
    int rc = 0;
    while (p < end) {
        while (p < end && is_blank(*p))
            p++;
        if (p >= end)
            break;
        if (*p == '\n') {
            p++;
            line++;
            continue;
        }
        const char *key = p;
        if (*p == '#' || !key_start(*p))
            goto skip_line;
        while (p < end && key_char(*p))
            p++;
        size_t klen = (size_t)(p - key);
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (p >= end || *p != '=')
            goto skip_line;
        p++;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if ((rc = parse_value(&p, end, &line, &val, err)) < 0)
            break;
        set_var(&vars, key, klen, val.p);
        continue;
    skip_line:
        /* A comment, or no assignment (systemd ignores such lines too). */
        while (p < end && *p != '\n')
            p++;
    }
    free(val.p);
    if (rc < 0)
        return rk_error_wrap(err, "parsing os-release");

    const char *id = get_var(vars, "ID");
    const char *like = get_var(vars, "ID_LIKE");
    const char *vid = get_var(vars, "VERSION_ID");
    const char *pretty = get_var(vars, "PRETTY_NAME");
    if (!pretty || !*pretty)
        pretty = get_var(vars, "NAME");
    ret->id = rk_xstrdup(id && *id ? id : "linux");
    ret->version_id = vid && *vid ? rk_xstrdup(vid) : NULL;
    ret->pretty_name = rk_xstrdup(pretty && *pretty ? pretty : "Linux");
    ret->id_like = rk_xcalloc(1, sizeof(char *));
    if (like) {
        _cleanup_free_ char *copy = rk_xstrdup(like);
        char *save = NULL;
        for (char *w = strtok_r(copy, " \t\n\r", &save); w; w = strtok_r(NULL, " \t\n\r", &save))
            rk_strv_push_dup(&ret->id_like, w);
    }
    ret->vars = TAKE_PTR(vars);
    if (!ret->vars)
        ret->vars = rk_xcalloc(1, sizeof(char *));
    return 0;
}

/* ------------------------------------------------------------------ */
/* Families and package managers                                       */
/* ------------------------------------------------------------------ */

static const struct {
    const char *id;
    rk_os_family family;
} known_ids[] = {
    {"debian", RK_OS_DEBIAN},
    {"ubuntu", RK_OS_DEBIAN},
    {"fedora", RK_OS_FEDORA},
    {"rhel", RK_OS_FEDORA},
    {"centos", RK_OS_FEDORA},
    {"rocky", RK_OS_FEDORA},
    {"almalinux", RK_OS_FEDORA},
    {"amzn", RK_OS_FEDORA},
    {"ol", RK_OS_FEDORA},
    {"scientific", RK_OS_FEDORA},
    {"opensuse", RK_OS_SUSE},
    {"opensuse-leap", RK_OS_SUSE},
    {"opensuse-tumbleweed", RK_OS_SUSE},
    {"sles", RK_OS_SUSE},
    {"sled", RK_OS_SUSE},
    {"sle-bci", RK_OS_SUSE},
    {"suse", RK_OS_SUSE},
    {"arch", RK_OS_ARCH},
};

static rk_os_family family_of(const char *word)
{
    for (size_t i = 0; i < RK_ELEMENTSOF(known_ids); i++)
        if (!strcmp(known_ids[i].id, word))
            return known_ids[i].family;
    return RK_OS_UNKNOWN;
}

rk_os_family rk_os_family_detect(const rk_os_release *r)
{
    rk_os_family f = r->id ? family_of(r->id) : RK_OS_UNKNOWN;
    for (size_t i = 0; f == RK_OS_UNKNOWN && r->id_like && r->id_like[i]; i++)
        f = family_of(r->id_like[i]);
    return f;
}

const char *rk_os_family_name(rk_os_family f)
{
    switch (f) {
    case RK_OS_DEBIAN: return "debian";
    case RK_OS_FEDORA: return "fedora";
    case RK_OS_SUSE: return "suse";
    case RK_OS_ARCH: return "arch";
    case RK_OS_UNKNOWN: break;
    }
    return "unknown";
}

static const struct {
    const char *name, *path;
} tools[RK_PKG_MAX_] = {
    [RK_PKG_NONE] = {"none", NULL},
    [RK_PKG_APT_GET] = {"apt-get", "/usr/bin/apt-get"},
    [RK_PKG_DNF5] = {"dnf5", "/usr/bin/dnf5"},
    [RK_PKG_DNF] = {"dnf", "/usr/bin/dnf"},
    [RK_PKG_MICRODNF] = {"microdnf", "/usr/bin/microdnf"},
    [RK_PKG_YUM] = {"yum", "/usr/bin/yum"},
    [RK_PKG_ZYPPER] = {"zypper", "/usr/bin/zypper"},
    [RK_PKG_PACMAN] = {"pacman", "/usr/bin/pacman"},
};

const char *rk_pkg_tool_name(rk_pkg_tool t)
{
    return (unsigned)t < RK_PKG_MAX_ ? tools[t].name : "none";
}

const char *rk_pkg_tool_path(rk_pkg_tool t)
{
    return (unsigned)t < RK_PKG_MAX_ ? tools[t].path : NULL;
}

const rk_pkg_tool *rk_os_family_tools(rk_os_family f)
{
    static const rk_pkg_tool debian[] = {RK_PKG_APT_GET, RK_PKG_NONE};
    /* dnf5 first: Fedora 41 and later have both names for it, older
     * releases only dnf (dnf 4); minimal images (UBI minimal, Oracle slim)
     * only microdnf; yum is what is left on old or odd images. */
    static const rk_pkg_tool fedora[] = {RK_PKG_DNF5, RK_PKG_DNF, RK_PKG_MICRODNF, RK_PKG_YUM,
                                         RK_PKG_NONE};
    static const rk_pkg_tool suse[] = {RK_PKG_ZYPPER, RK_PKG_NONE};
    static const rk_pkg_tool arch[] = {RK_PKG_PACMAN, RK_PKG_NONE};
    static const rk_pkg_tool none[] = {RK_PKG_NONE};
    switch (f) {
    case RK_OS_DEBIAN: return debian;
    case RK_OS_FEDORA: return fedora;
    case RK_OS_SUSE: return suse;
    case RK_OS_ARCH: return arch;
    case RK_OS_UNKNOWN: break;
    }
    return none;
}

/* ------------------------------------------------------------------ */
/* Recipes                                                             */
/* ------------------------------------------------------------------ */

/* Bump when the meaning of the commands changes without their text
 * changing (say, how they are run): every derived image is then made anew. */
#define RECIPE_VERSION 1

void rk_recipe_clear(rk_recipe *r)
{
    rk_strv_free(r->commands);
    free(r->text);
    free(r->script);
    memset(r, 0, sizeof(*r));
}

/* The leading number of a VERSION_ID ("8.10" -> 8), or -1. */
static long version_major(const char *v)
{
    if (!v || !isdigit((unsigned char)*v))
        return -1;
    long n = 0;
    for (; isdigit((unsigned char)*v) && n < 100000; v++)
        n = n * 10 + (*v - '0');
    return n;
}

static bool is_like(const rk_os_release *r, const char *word)
{
    return !strcmp(r->id, word) || rk_strv_contains(r->id_like, word);
}

/* systemd before 225 does not boot in a container with a cgroup namespace
 * of its own (the original Racker refused it too). These releases ship
 * such a systemd and nothing newer: CentOS, RHEL, Oracle and Scientific
 * Linux 7 (219), Amazon Linux 2 (219), Fedora 23 and older (222), Debian 8
 * (215), Ubuntu before 16.04 (upstart). */
static bool systemd_too_old(const rk_os_release *r, rk_os_family f)
{
    long major = version_major(r->version_id);
    if (major < 0)
        return false;
    if (!strcmp(r->id, "amzn"))
        return major < 2022;
    if (!strcmp(r->id, "fedora"))
        return major < 24;
    if (!strcmp(r->id, "debian"))
        return major < 9;
    if (!strcmp(r->id, "ubuntu"))
        return major < 16;
    /* Enterprise Linux by ID (Oracle Linux says only ID_LIKE="fedora")
     * or by ID_LIKE. */
    static const char *const el[] = {"rhel", "centos", "ol", "scientific", "rocky", "almalinux"};
    bool is_el = is_like(r, "rhel") || is_like(r, "centos");
    for (size_t i = 0; i < RK_ELEMENTSOF(el) && !is_el; i++)
        is_el = !strcmp(r->id, el[i]);
    if (f == RK_OS_FEDORA && is_el)
        return major < 8;
    return false;
}

/* The last check of every recipe: a package manager that skipped what it
 * could not install (dnf --skip-broken) must not leave an image that looks
 * provisioned but cannot boot. */
#define CHECK_SYSTEMD                                                              \
    "if [ ! -x /usr/lib/systemd/systemd ] && [ ! -x /lib/systemd/systemd ]; then " \
    "echo 'racker: systemd is still missing after the installation' >&2; exit 1; fi"

/* RPM images often have curl-minimal (Fedora 36+, UBI 9) or wget2's
 * wget already; asking for curl or wget again conflicts with them, so
 * only what is missing is named. */
static void rpm_pkgs(char ***cmds)
{
    rk_strv_push_dup(cmds, "pkgs=systemd");
    rk_strv_push_dup(cmds, "command -v curl >/dev/null 2>&1 || pkgs=\"$pkgs curl\"");
    rk_strv_push_dup(cmds, "command -v wget >/dev/null 2>&1 || pkgs=\"$pkgs wget\"");
}

static void debian_commands(const rk_os_release *r, char ***cmds)
{
    long major = version_major(r->version_id);
    /* stretch (9) and buster (10) are archived: their Release files are
     * past their Valid-Until and their -updates suites are gone. Where
     * the archive is served is the image's (or its mirror's) business:
     * racker names no package host, so an image whose sources point at a
     * location that is gone fails with apt's own message. */
    bool archived = !strcmp(r->id, "debian") && (major == 9 || major == 10);
    rk_strv_push_dup(cmds, "export DEBIAN_FRONTEND=noninteractive");
    if (archived)
        rk_strv_push_dup(cmds, "if [ -f /etc/apt/sources.list ]; then sed -i"
                               " -e '/-updates/d' /etc/apt/sources.list; fi");
    /* No Translation-* files: some 35 MB in the layer nobody reads. */
    rk_strv_push_dup(cmds, archived ? "apt-get -q -o Acquire::Languages=none"
                                      " -o Acquire::Check-Valid-Until=false update"
                                    : "apt-get -q -o Acquire::Languages=none update");
    /* Without recommends, but with what booting needs: systemd-sysv for
     * /sbin/init, dbus for hostnamectl, timedatectl and friends (systemd
     * only recommends it), and ca-certificates for curl and wget over
     * HTTPS (also only recommended). */
    /* dpkg's force-unsafe-io: no fsync per unpacked file (a third of the
     * time here); a provisioning cut short leaves no image anyway. */
    rk_strv_push_dup(cmds, "apt-get -q -o Dpkg::Options::=--force-unsafe-io install -y"
                           " --no-install-recommends"
                           " systemd systemd-sysv dbus ca-certificates curl wget");
    rk_strv_push_dup(cmds, "apt-get clean");
}

static void fedora_commands(const rk_os_release *r, rk_pkg_tool tool, char ***cmds)
{
    /* CentOS Linux 8 and Stream 8 reached their end of life and their
     * mirrorlist is gone: the image's repositories must point at an
     * archive (racker names no package host); dnf's message says so. */
    rpm_pkgs(cmds);
    /* --skip-broken as the original Racker used it; weak dependencies off
     * so that no extra service (systemd-resolved, say) comes along. */
    switch (tool) {
    case RK_PKG_DNF5:
        rk_strv_push_dup(cmds, "dnf5 install -y --skip-broken --setopt=install_weak_deps=0 $pkgs");
        break;
    case RK_PKG_DNF:
        rk_strv_push_dup(cmds, "dnf install -y --skip-broken --setopt=install_weak_deps=0 $pkgs");
        break;
    case RK_PKG_MICRODNF:
        rk_strv_push_dup(cmds, "microdnf install -y --setopt=install_weak_deps=0 $pkgs");
        break;
    default:
        rk_strv_push_dup(cmds, "yum install -y --skip-broken $pkgs");
        break;
    }
}

/* 'text' for sh: single quotes, each ' as '\''. */
static char *sh_quote(const char *text)
{
    size_t n = 3;
    for (const char *p = text; *p; p++)
        n += *p == '\'' ? 4 : 1;
    char *out = rk_xmalloc(n), *o = out;
    *o++ = '\'';
    for (const char *p = text; *p; p++) {
        if (*p == '\'') {
            memcpy(o, "'\\''", 4);
            o += 4;
        } else {
            *o++ = *p;
        }
    }
    *o++ = '\'';
    *o = '\0';
    return out;
}

/* The script `sh -e` runs. Each command is printed first ("+ CMD"). The
 * package managers run in the background,
 * waited for: a shell waiting for a foreground command defers a signal
 * until that command is done (POSIX), while `wait` is interrupted at
 * once. So a SIGINT forwarded to the shell ends the installation now,
 * not after the download; the container's teardown kills the rest. */
static char *build_script(char *const *cmds)
{
    static const char *const long_running[] = {"apt-get ", "dnf5 ",    "dnf ",    "microdnf ",
                                               "yum ",     "zypper ", "pacman "};
    _cleanup_strv_ char **lines = NULL;
    for (size_t i = 0; cmds[i]; i++) {
        bool bg = false;
        for (size_t k = 0; k < RK_ELEMENTSOF(long_running) && !bg; k++)
            bg = rk_startswith(cmds[i], long_running[k]);
        /* Each command announced in the output first (sh -x would trace
         * the background ones out of order), so the last lines of a
         * failure say which one it was. */
        _cleanup_free_ char *q = sh_quote(cmds[i]);
        rk_strv_push(&lines, rk_xasprintf("printf '+ %%s\\n' %s", q));
        rk_strv_push(&lines, bg ? rk_xasprintf("%s & wait $!", cmds[i]) : rk_xstrdup(cmds[i]));
    }
    return rk_strv_join(lines, "\n");
}

int rk_recipe_for(const rk_os_release *r, unsigned avail, rk_recipe *ret, bool *ret_unknown,
                  rk_error **err)
{
    memset(ret, 0, sizeof(*ret));
    if (ret_unknown)
        *ret_unknown = false;
    rk_os_family f = rk_os_family_detect(r);
    if (f == RK_OS_UNKNOWN) {
        if (ret_unknown)
            *ret_unknown = true;
        return rk_error_set_status(err, 125, 0,
                                   "%s (ID=%s) is no distribution Racker can install systemd "
                                   "into: it knows Debian, Ubuntu, Fedora, RHEL, CentOS, Rocky, "
                                   "Alma, Amazon and Oracle Linux, openSUSE, SLES and Arch",
                                   r->pretty_name, r->id);
    }
    if (systemd_too_old(r, f))
        return rk_error_set_status(err, 125, 0,
                                   "%s ships a systemd older than 225, which cannot boot in a "
                                   "container: use a newer release",
                                   r->pretty_name);
    rk_pkg_tool tool = RK_PKG_NONE;
    const rk_pkg_tool *cands = rk_os_family_tools(f);
    for (size_t i = 0; cands[i] != RK_PKG_NONE && tool == RK_PKG_NONE; i++)
        if (avail & RK_PKG_BIT(cands[i]))
            tool = cands[i];
    if (tool == RK_PKG_NONE) {
        _cleanup_strv_ char **paths = NULL;
        for (size_t i = 0; cands[i] != RK_PKG_NONE; i++)
            rk_strv_push_dup(&paths, rk_pkg_tool_path(cands[i]));
        _cleanup_free_ char *list = rk_strv_join(paths, ", ");
        return rk_error_set_status(err, 125, 0,
                                   "%s has no package manager to install systemd with "
                                   "(none of %s)",
                                   r->pretty_name, list);
    }

    char **cmds = NULL;
    switch (f) {
    case RK_OS_DEBIAN:
        debian_commands(r, &cmds);
        break;
    case RK_OS_FEDORA:
        fedora_commands(r, tool, &cmds);
        break;
    case RK_OS_SUSE:
        rk_strv_push_dup(&cmds, "zypper --non-interactive install systemd curl wget");
        break;
    case RK_OS_ARCH:
        /* -Syu: Arch does not support partial upgrades. */
        rk_strv_push_dup(&cmds, "pacman -Syu --noconfirm --needed --noprogressbar systemd curl wget");
        break;
    case RK_OS_UNKNOWN:
        break;
    }
    rk_strv_push_dup(&cmds, CHECK_SYSTEMD);

    ret->family = f;
    ret->tool = tool;
    ret->commands = cmds;
    ret->script = build_script(cmds);
    ret->text = rk_xasprintf("racker provisioning recipe %d\nfamily %s\ntool %s\n%s\n",
                             RECIPE_VERSION, rk_os_family_name(f), rk_pkg_tool_name(tool),
                             ret->script);
    rk_sha256_buf(ret->text, strlen(ret->text), ret->key);
    return 0;
}
