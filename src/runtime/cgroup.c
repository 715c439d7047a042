#include "runtime/cgroup.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/strv.h"

const char *rk_cgroup_mode_name(enum rk_cgroup_mode m)
{
    switch (m) {
    case RK_CGROUP_V1: return "v1";
    case RK_CGROUP_V2: return "v2";
    case RK_CGROUP_HYBRID: return "hybrid";
    default: return "none";
    }
}

void rk_cgroup_layout_free(rk_cgroup_layout *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        free(l->h[i].mountpoint);
        free(l->h[i].name);
        free(l->h[i].controllers);
        free(l->h[i].own);
    }
    free(l->h);
    free(l);
}

/* mountinfo escapes ' ', '\t', '\n' and '\\' as \ooo. */
static char *unescape(const char *s)
{
    char *out = rk_xmalloc(strlen(s) + 1), *o = out;
    for (; *s; s++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
            s[3] >= '0' && s[3] <= '7') {
            *o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 3;
        } else {
            *o++ = *s;
        }
    }
    *o = 0;
    return out;
}

/* Super options of a v1 cgroup mount that are not controllers. */
static bool is_v1_flag(const char *o)
{
    static const char *const flags[] = {"rw", "ro", "xattr", "noprefix",
                                        "clone_children", "cpuset_v2_mode",
                                        "favordynmods", "nsdelegate"};
    for (size_t i = 0; i < RK_ELEMENTSOF(flags); i++)
        if (!strcmp(o, flags[i]))
            return true;
    return rk_startswith(o, "release_agent=");
}

static char *v1_controllers(const char *superopts)
{
    _cleanup_free_ char *copy = rk_xstrdup(superopts);
    _cleanup_strv_ char **v = NULL;
    char *save = NULL;
    for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save))
        if (!is_v1_flag(o))
            rk_strv_push_dup(&v, o);
    return rk_strv_join(v, ",");
}

/* Same set of comma-separated words, in any order? */
static bool same_set(const char *a, const char *b)
{
    _cleanup_free_ char *ca = rk_xstrdup(a), *cb = rk_xstrdup(b);
    size_t na = 0, nb = 0;
    char *save = NULL;
    for (char *t = strtok_r(ca, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        na++;
        bool found = false;
        _cleanup_free_ char *cb2 = rk_xstrdup(b);
        char *s2 = NULL;
        for (char *u = strtok_r(cb2, ",", &s2); u; u = strtok_r(NULL, ",", &s2))
            if (!strcmp(t, u))
                found = true;
        if (!found)
            return false;
    }
    save = NULL;
    for (char *t = strtok_r(cb, ",", &save); t; t = strtok_r(NULL, ",", &save))
        nb++;
    return na == nb;
}

/* racker's cgroup for a hierarchy from /proc/self/cgroup ("" = v2). */
static char *own_cgroup(const char *proc_cgroup, const char *controllers, bool v2)
{
    _cleanup_free_ char *copy = rk_xstrdup(proc_cgroup ? proc_cgroup : "");
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *c1 = strchr(line, ':');
        if (!c1)
            continue;
        char *c2 = strchr(c1 + 1, ':');
        if (!c2)
            continue;
        *c1 = 0;
        *c2 = 0;
        const char *ctl = c1 + 1;
        bool match = v2 ? (!strcmp(line, "0") && !*ctl) : (*ctl && same_set(ctl, controllers));
        if (match)
            return rk_xstrdup(c2 + 1);
    }
    return NULL;
}

int rk_cgroup_layout_parse(const char *mountinfo, const char *proc_cgroup,
                           const char *prefix, rk_cgroup_layout **ret,
                           rk_error **err)
{
    rk_cgroup_layout *l = rk_xcalloc(1, sizeof(*l));
    /* Mount points are matched as the kernel shows them; the prefix only
     * moves where the files are looked for (a fake tree in tests). */
    const char *base = "/sys/fs/cgroup";
    size_t baselen = strlen(base);
    bool have_v1 = false, v2_top = false, v2_unified = false;
    _cleanup_free_ char *copy = rk_xstrdup(mountinfo ? mountinfo : "");
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        /* id parent maj:min root mountpoint opts [optional...] - fstype source superopts */
        char *f[6] = {0};
        char *lsave = NULL;
        size_t n = 0;
        for (char *t = strtok_r(line, " ", &lsave); t && n < 5; t = strtok_r(NULL, " ", &lsave))
            f[n++] = t;
        if (n < 5)
            continue;
        char *sep = NULL;
        for (char *t = strtok_r(NULL, " ", &lsave); t; t = strtok_r(NULL, " ", &lsave))
            if (!strcmp(t, "-")) {
                sep = t;
                break;
            }
        if (!sep)
            continue;
        char *fstype = strtok_r(NULL, " ", &lsave);
        char *source = strtok_r(NULL, " ", &lsave);
        char *superopts = strtok_r(NULL, " ", &lsave);
        (void)source;
        if (!fstype || !superopts)
            continue;
        bool v1 = !strcmp(fstype, "cgroup"), v2 = !strcmp(fstype, "cgroup2");
        if (!v1 && !v2)
            continue;
        _cleanup_free_ char *mp0 = unescape(f[4]);
        const char *mp = mp0;
        _cleanup_free_ char *root = unescape(f[3]);
        const char *name;
        if (!strcmp(mp, base))
            name = "";
        else if (rk_startswith(mp, base) && mp[baselen] == '/' && !strchr(mp + baselen + 1, '/'))
            name = mp + baselen + 1;
        else
            continue;
        if (v1 && !*name)
            continue; /* a v1 hierarchy on top of the tree: not a layout we know */
        _cleanup_free_ char *ctl = v1 ? v1_controllers(superopts) : rk_xstrdup("");
        if (v1 && !*ctl)
            continue;
        /* A later mount on the same point hides an earlier one. */
        _cleanup_free_ char *full_mp = rk_xasprintf("%s%s", prefix ? prefix : "", mp);
        for (size_t i = 0; i < l->n; i++)
            if (!strcmp(l->h[i].mountpoint, full_mp)) {
                free(l->h[i].mountpoint);
                free(l->h[i].name);
                free(l->h[i].controllers);
                free(l->h[i].own);
                l->h[i] = l->h[--l->n];
                break;
            }
        char *own = own_cgroup(proc_cgroup, ctl, v2);
        if (!own)
            continue; /* not a hierarchy this process is attached to */
        /* Inside a container a hierarchy may be mounted from a subtree
         * (root != "/"): racker's cgroup is then relative to that. */
        if (strcmp(root, "/") != 0 && rk_startswith(own, root)) {
            char *rel = rk_xstrdup(own[strlen(root)] ? own + strlen(root) : "/");
            free(own);
            own = rel;
        }
        l->h = rk_xrealloc(l->h, (l->n + 1) * sizeof(*l->h));
        l->h[l->n++] = (rk_cgroup_hier){
            .mountpoint = rk_xasprintf("%s%s", prefix ? prefix : "", mp),
            .name = rk_xstrdup(name),
            .controllers = TAKE_PTR(ctl),
            .v2 = v2,
            .own = own,
        };
        if (v1)
            have_v1 = true;
        else if (!*name)
            v2_top = true;
        else
            v2_unified = true;
    }
    if (v2_top)
        l->mode = RK_CGROUP_V2;
    else if (have_v1 && v2_unified)
        l->mode = RK_CGROUP_HYBRID;
    else if (have_v1)
        l->mode = RK_CGROUP_V1;
    else
        l->mode = RK_CGROUP_NONE;
    if (l->mode == RK_CGROUP_V2) {
        /* Only the top v2 tree is used; drop anything else. */
        size_t k = 0;
        for (size_t i = 0; i < l->n; i++) {
            if (l->h[i].v2 && !*l->h[i].name) {
                l->h[k++] = l->h[i];
            } else {
                free(l->h[i].mountpoint);
                free(l->h[i].name);
                free(l->h[i].controllers);
                free(l->h[i].own);
            }
        }
        l->n = k;
    }
    (void)err;
    *ret = l;
    return 0;
}

int rk_cgroup_layout_load(rk_cgroup_layout **ret, rk_error **err)
{
    _cleanup_free_ char *mi = NULL, *pc = NULL;
    if (rk_read_file_at(AT_FDCWD, "/proc/self/mountinfo", 0, &mi, NULL, err) < 0 ||
        rk_read_file_at(AT_FDCWD, "/proc/self/cgroup", 0, &pc, NULL, err) < 0)
        return rk_error_wrap(err, "detecting the cgroup layout");
    return rk_cgroup_layout_parse(mi, pc, NULL, ret, err);
}

void rk_cgroup_free(rk_cgroup *cg)
{
    if (!cg)
        return;
    rk_strv_free(cg->dirs);
    free(cg->v2);
    if (cg->v2_fd >= 0)
        close(cg->v2_fd);
    free(cg);
}

bool rk_cgroup_hier_joinable(const rk_cgroup_hier *h)
{
    if (h->v2)
        return true;
    return !same_set(h->controllers, "cpuset");
}

static bool has_controller(const rk_cgroup_hier *h, const char *c);

bool rk_cgroup_hier_needed(const rk_cgroup_layout *l, const rk_cgroup_hier *h,
                           const rk_cgroup_limits *lim)
{
    if (!rk_cgroup_hier_joinable(h))
        return false;
    if (h->v2 || l->mode == RK_CGROUP_V1 || lim->all_hierarchies)
        return true;
    if (lim->named_systemd && !strcmp(h->controllers, "name=systemd"))
        return true;
    if (l->mode == RK_CGROUP_V2)
        return false;
    return (lim->memory && has_controller(h, "memory")) ||
           (lim->pids && has_controller(h, "pids")) ||
           (lim->cpu_quota && has_controller(h, "cpu"));
}

static bool has_controller(const rk_cgroup_hier *h, const char *c)
{
    _cleanup_free_ char *copy = rk_xstrdup(h->controllers);
    char *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        if (!strcmp(t, c))
            return true;
    return false;
}

static int write_at(const char *dir, const char *file, const char *value,
                    bool fake, rk_error **err)
{
    _cleanup_free_ char *p = rk_path_join(dir, file);
    _cleanup_close_ int fd = open(p, O_WRONLY | O_CLOEXEC | (fake ? O_CREAT | O_APPEND : 0), 0644);
    if (fd < 0)
        return rk_error_set(err, errno, "opening %s", p);
    size_t len = strlen(value);
    ssize_t n = write(fd, value, len);
    if (n < 0)
        return rk_error_set(err, errno, "writing '%s' to %s", value, p);
    if ((size_t)n != len)
        return rk_error_set(err, EIO, "short write of '%s' to %s", value, p);
    if (fake && write(fd, "\n", 1) != 1)
        return rk_error_set(err, errno, "writing %s", p);
    return 0;
}

static bool file_exists(const char *dir, const char *file, bool fake)
{
    if (fake)
        return true;
    _cleanup_free_ char *p = rk_path_join(dir, file);
    return access(p, F_OK) == 0;
}

/* The v2 controllers a container's limits need, enabled from the root
 * down to the container's parent. */
static int v2_enable(const char *mountpoint, const char *parent_rel,
                     const rk_cgroup_limits *lim, bool fake, rk_error **err)
{
    char want[64] = "";
    if (lim->memory)
        strcat(want, "+memory ");
    if (lim->pids)
        strcat(want, "+pids ");
    if (lim->cpu_quota)
        strcat(want, "+cpu ");
    if (!*want)
        return 0;
    want[strlen(want) - 1] = 0;
    _cleanup_free_ char *dir = rk_path_join(mountpoint, parent_rel);
    if (write_at(dir, "cgroup.subtree_control", want, fake, err) < 0)
        return rk_error_wrap(err, "enabling cgroup v2 controllers (%s)", want);
    return 0;
}

static int apply_v1(const rk_cgroup_hier *h, const char *dir, const rk_cgroup_limits *lim,
                    bool fake, bool *done_mem, bool *done_pids, bool *done_cpu,
                    rk_error **err)
{
    char buf[64];
    if (lim->memory && has_controller(h, "memory")) {
        snprintf(buf, sizeof(buf), "%lld", (long long)lim->memory);
        if (write_at(dir, "memory.limit_in_bytes", buf, fake, err) < 0)
            return -1;
        /* No swap beyond the limit, so a hog is killed rather than swapped. */
        if (file_exists(dir, "memory.memsw.limit_in_bytes", fake) &&
            write_at(dir, "memory.memsw.limit_in_bytes", buf, fake, err) < 0)
            return -1;
        *done_mem = true;
    }
    if (lim->pids && has_controller(h, "pids")) {
        snprintf(buf, sizeof(buf), "%lld", (long long)lim->pids);
        if (write_at(dir, "pids.max", buf, fake, err) < 0)
            return -1;
        *done_pids = true;
    }
    if (lim->cpu_quota && has_controller(h, "cpu")) {
        snprintf(buf, sizeof(buf), "%lld", (long long)lim->cpu_period);
        if (write_at(dir, "cpu.cfs_period_us", buf, fake, err) < 0)
            return -1;
        snprintf(buf, sizeof(buf), "%lld", (long long)lim->cpu_quota);
        if (write_at(dir, "cpu.cfs_quota_us", buf, fake, err) < 0)
            return -1;
        *done_cpu = true;
    }
    return 0;
}

static int apply_v2(const char *dir, const rk_cgroup_limits *lim, bool fake,
                    bool *done_mem, bool *done_pids, bool *done_cpu, rk_error **err)
{
    char buf[64];
    if (lim->memory) {
        snprintf(buf, sizeof(buf), "%lld", (long long)lim->memory);
        if (write_at(dir, "memory.max", buf, fake, err) < 0)
            return -1;
        if (file_exists(dir, "memory.swap.max", fake) &&
            write_at(dir, "memory.swap.max", "0", fake, err) < 0)
            return -1;
        *done_mem = true;
    }
    if (lim->pids) {
        snprintf(buf, sizeof(buf), "%lld", (long long)lim->pids);
        if (write_at(dir, "pids.max", buf, fake, err) < 0)
            return -1;
        *done_pids = true;
    }
    if (lim->cpu_quota) {
        snprintf(buf, sizeof(buf), "%lld %lld", (long long)lim->cpu_quota,
                 (long long)lim->cpu_period);
        if (write_at(dir, "cpu.max", buf, fake, err) < 0)
            return -1;
        *done_cpu = true;
    }
    return 0;
}

int rk_cgroup_create(const rk_cgroup_layout *l, const char *name,
                     const rk_cgroup_limits *lim, rk_cgroup **ret,
                     rk_error **err)
{
    rk_cgroup *cg = rk_xcalloc(1, sizeof(*cg));
    cg->fake = l->fake;
    cg->v2_fd = -1;
    cg->v2 = rk_xcalloc(l->n + 1, sizeof(bool));
    bool done_mem = false, done_pids = false, done_cpu = false;
    /* A v2 tree with controllers (a pure v2 host) takes the limits; on
     * hybrid hosts the v2 tree has none and the v1 hierarchies do. */
    bool limits_on_v2 = l->mode == RK_CGROUP_V2;
    for (size_t i = 0; i < l->n; i++) {
        const rk_cgroup_hier *h = &l->h[i];
        if (!rk_cgroup_hier_needed(l, h, lim))
            continue;
        const char *parent = h->v2 ? "/" : h->own;
        _cleanup_free_ char *pdir = rk_path_join(h->mountpoint, parent);
        char *dir = rk_path_join(pdir, name);
        rk_strv_push(&cg->dirs, dir);
        cg->v2[cg->n++] = h->v2;
        if (h->v2 && limits_on_v2 && v2_enable(h->mountpoint, parent, lim, l->fake, err) < 0)
            goto fail;
        if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
            rk_error_set(err, errno, "creating cgroup %s", dir);
            goto fail;
        }
        int r = h->v2 ? (limits_on_v2 ? apply_v2(dir, lim, l->fake, &done_mem, &done_pids,
                                                 &done_cpu, err)
                                      : 0)
                      : apply_v1(h, dir, lim, l->fake, &done_mem, &done_pids, &done_cpu, err);
        if (r < 0) {
            rk_error_wrap(err, "setting limits of cgroup %s", dir);
            goto fail;
        }
        if (h->v2 && !l->fake) {
            cg->v2_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (cg->v2_fd < 0) {
                rk_error_set(err, errno, "opening cgroup %s", dir);
                goto fail;
            }
        }
    }
    if ((lim->memory && !done_mem) || (lim->pids && !done_pids) ||
        (lim->cpu_quota && !done_cpu)) {
        rk_error_set_status(err, 125, 0, "this host has no cgroup controller for %s",
                            lim->memory && !done_mem ? "--memory"
                            : lim->pids && !done_pids ? "--pids-limit"
                                                      : "--cpus");
        goto fail;
    }
    *ret = cg;
    return 0;
fail:
    rk_cgroup_destroy(cg, NULL);
    rk_cgroup_free(cg);
    return -1;
}

rk_cgroup *rk_cgroup_from_dirs(char *const *dirs)
{
    rk_cgroup *cg = rk_xcalloc(1, sizeof(*cg));
    cg->dirs = rk_strv_dup(dirs);
    cg->n = rk_strv_len(cg->dirs);
    cg->v2 = rk_xcalloc(cg->n + 1, sizeof(bool));
    cg->v2_fd = -1;
    for (size_t i = 0; i < cg->n; i++) {
        _cleanup_free_ char *p = rk_path_join(cg->dirs[i], "cgroup.controllers");
        cg->v2[i] = access(p, F_OK) == 0;
    }
    return cg;
}

int rk_cgroup_enter(const rk_cgroup *cg, pid_t pid, bool skip_v2, rk_error **err)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%d", (int)pid);
    for (size_t i = 0; i < cg->n; i++) {
        if (skip_v2 && cg->v2[i])
            continue;
        if (write_at(cg->dirs[i], "cgroup.procs", buf, cg->fake, err) < 0)
            return rk_error_wrap(err, "moving process %d into its cgroup", (int)pid);
    }
    return 0;
}

int rk_cgroup_enter_self(const rk_cgroup *cg, bool skip_v2, rk_error **err)
{
    for (size_t i = 0; i < cg->n; i++) {
        if (skip_v2 && cg->v2[i])
            continue;
        /* v2 has no `tasks`; its cgroup.procs takes the lock either way. */
        if (write_at(cg->dirs[i], cg->v2[i] ? "cgroup.procs" : "tasks", "0", cg->fake, err) < 0)
            return rk_error_wrap(err, "moving into cgroup %s", cg->dirs[i]);
    }
    return 0;
}

int rk_cgroup_subgroup(const rk_cgroup *cg, const char *name, bool create,
                       rk_cgroup **ret, rk_error **err)
{
    rk_cgroup *sub = rk_xcalloc(1, sizeof(*sub));
    sub->fake = cg->fake;
    sub->v2_fd = -1;
    sub->v2 = rk_xcalloc(cg->n + 1, sizeof(bool));
    for (size_t i = 0; i < cg->n; i++) {
        char *dir = rk_path_join(cg->dirs[i], name);
        rk_strv_push(&sub->dirs, dir);
        sub->v2[sub->n++] = cg->v2[i];
        if (create && mkdir(dir, 0755) < 0 && errno != EEXIST) {
            rk_error_set(err, errno, "creating cgroup %s", dir);
            goto fail;
        }
        if (cg->v2[i] && !cg->fake) {
            sub->v2_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (sub->v2_fd < 0) {
                rk_error_set(err, errno, "opening cgroup %s", dir);
                goto fail;
            }
        }
    }
    *ret = sub;
    return 0;
fail:
    rk_cgroup_free(sub);
    return -1;
}

bool rk_cgroup_has_v1(const rk_cgroup *cg)
{
    for (size_t i = 0; cg && i < cg->n; i++)
        if (!cg->v2[i])
            return true;
    return false;
}

/* rmdir a cgroup and its children, depth first. cgroupfs directories
 * hold only control files, which go away with the directory. */
static int rmdir_tree(int dirfd, const char *path, int depth)
{
    if (depth > 64)
        return -1;
    /* Most cgroups have no children: try that first. */
    if (unlinkat(dirfd, path, AT_REMOVEDIR) == 0)
        return 0;
    if (errno != EBUSY && errno != ENOTEMPTY)
        return -1;
    _cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        int dup_fd = dup(fd);
        DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
        if (!d && dup_fd >= 0)
            close(dup_fd);
        _cleanup_closedir_ DIR *dd = d;
        struct dirent *de;
        while (dd && (de = readdir(dd))) {
            if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            rmdir_tree(fd, de->d_name, depth + 1);
        }
    }
    for (int tries = 0;; tries++) {
        if (unlinkat(dirfd, path, AT_REMOVEDIR) == 0)
            return 0;
        /* A task that has just exited can still be counted for a moment. */
        if (errno != EBUSY || tries >= 50)
            return -1;
        usleep(2000);
    }
}

int rk_cgroup_destroy(const rk_cgroup *cg, rk_error **err)
{
    int ret = 0;
    for (size_t i = 0; cg && i < cg->n; i++) {
        int r = cg->fake ? rk_rm_rf(cg->dirs[i], NULL) : rmdir_tree(AT_FDCWD, cg->dirs[i], 0);
        if (r < 0 && errno != ENOENT && ret == 0)
            ret = rk_error_set(err, errno, "removing cgroup %s", cg->dirs[i]);
    }
    return ret;
}

static long long read_key(const char *dir, const char *file, const char *key)
{
    _cleanup_free_ char *p = rk_path_join(dir, file), *text = NULL;
    if (rk_read_file_at(AT_FDCWD, p, 1 << 16, &text, NULL, NULL) < 0)
        return -1;
    size_t kl = strlen(key);
    for (char *line = text; line && *line;) {
        if (!strncmp(line, key, kl) && line[kl] == ' ')
            return atoll(line + kl + 1);
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return -1;
}

bool rk_cgroup_oom_killed(const rk_cgroup *cg)
{
    for (size_t i = 0; cg && i < cg->n; i++) {
        long long n = cg->v2[i] ? read_key(cg->dirs[i], "memory.events", "oom_kill")
                                : read_key(cg->dirs[i], "memory.oom_control", "oom_kill");
        if (n > 0)
            return true;
    }
    return false;
}

static int mount_at(const char *src, const char *target, const char *type,
                    unsigned long flags, const char *data, rk_error **err)
{
    if (mkdir(target, 0755) < 0 && errno != EEXIST)
        return rk_error_set(err, errno, "creating %s", target);
    if (mount(src, target, type, flags, data) < 0)
        return rk_error_set(err, errno, "mounting %s (%s%s%s) on %s", type, type,
                            data ? " " : "", data ? data : "", target);
    return 0;
}

/* Is the hierarchy mounted at mountpoint one of cg's? */
static bool cg_has(const rk_cgroup *cg, const rk_cgroup_hier *h)
{
    for (size_t i = 0; cg && i < cg->n; i++)
        if (rk_startswith(cg->dirs[i], h->mountpoint) &&
            cg->dirs[i][strlen(h->mountpoint)] == '/')
            return true;
    return false;
}

int rk_cgroup_mount_in_container(const rk_cgroup_layout *l, const rk_cgroup *cg,
                                 const char *target, bool writable, rk_error **err)
{
    unsigned long common = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    unsigned long ro = writable ? 0 : MS_RDONLY;
    if (l->mode == RK_CGROUP_NONE)
        return 0;
    if (l->mode == RK_CGROUP_V2)
        return mount_at("cgroup2", target, "cgroup2", common | ro, NULL, err);
    if (mount_at("tmpfs", target, "tmpfs", common, "mode=755,size=64k", err) < 0)
        return -1;
    for (size_t i = 0; i < l->n; i++) {
        const rk_cgroup_hier *h = &l->h[i];
        /* A hierarchy the container has not joined would show the host's
         * tree (its cgroup namespace root is racker's cgroup there). */
        if (!cg_has(cg, h))
            continue;
        _cleanup_free_ char *dir = rk_path_join(target, h->name);
        if (h->v2) {
            if (mount_at("cgroup2", dir, "cgroup2", common | ro, NULL, err) < 0)
                return -1;
            continue;
        }
        if (mount_at("cgroup", dir, "cgroup", common | ro, h->controllers, err) < 0)
            return -1;
        /* Co-mounted controllers ("cpu,cpuacct") get one link per name. */
        if (strchr(h->name, ',')) {
            _cleanup_free_ char *copy = rk_xstrdup(h->name);
            char *save = NULL;
            for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                _cleanup_free_ char *link = rk_path_join(target, t);
                if (symlink(h->name, link) < 0 && errno != EEXIST)
                    return rk_error_set(err, errno, "creating %s", link);
            }
        }
    }
    if (mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | common | MS_RDONLY, NULL) < 0)
        return rk_error_set(err, errno, "making %s read-only", target);
    return 0;
}
