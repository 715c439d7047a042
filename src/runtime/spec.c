#include "runtime/spec.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/strv.h"
#include "runtime/caps.h"

void rk_spec_init(rk_spec *s)
{
    memset(s, 0, sizeof(*s));
    s->cwd = rk_xstrdup("/");
    s->caps = rk_caps_docker_default();
    s->no_new_privs = true;
    s->seccomp = true;
    s->cgroupfs = RK_CGROUPFS_RO;
    s->stop_signal = SIGTERM;
    s->boot = RK_BOOT_AUTO;
}

void rk_mount_spec_clear(rk_mount_spec *m)
{
    free(m->source);
    free(m->target);
    free(m->options);
    memset(m, 0, sizeof(*m));
}

void rk_spec_clear(rk_spec *s)
{
    rk_strv_free(s->argv);
    rk_strv_free(s->env);
    free(s->cwd);
    free(s->user);
    free(s->hostname);
    for (size_t i = 0; i < s->n_mounts; i++)
        rk_mount_spec_clear(&s->mounts[i]);
    free(s->mounts);
    free(s->notify_socket);
    memset(s, 0, sizeof(*s));
}

void rk_spec_add_mount(rk_spec *s, const rk_mount_spec *m)
{
    s->mounts = rk_xrealloc(s->mounts, (s->n_mounts + 1) * sizeof(*s->mounts));
    rk_mount_spec *d = &s->mounts[s->n_mounts++];
    d->kind = m->kind;
    d->source = m->source ? rk_xstrdup(m->source) : NULL;
    d->target = rk_xstrdup(m->target);
    d->readonly = m->readonly;
    d->options = m->options ? rk_xstrdup(m->options) : NULL;
}

/* ---- JSON ---- */

static const char *net_name(enum rk_network_mode m)
{
    return m == RK_NET_NONE ? "none" : "host";
}

json_t *rk_spec_to_json(const rk_spec *s)
{
    json_t *j = json_object();
    json_object_set_new(j, "argv", rk_json_from_strv(s->argv));
    json_object_set_new(j, "env", rk_json_from_strv(s->env));
    json_object_set_new(j, "cwd", json_string(s->cwd ? s->cwd : "/"));
    if (s->user)
        json_object_set_new(j, "user", json_string(s->user));
    json_object_set_new(j, "tty", json_boolean(s->tty));
    json_object_set_new(j, "interactive", json_boolean(s->interactive));
    json_object_set_new(j, "init", json_boolean(s->init));
    if (s->hostname)
        json_object_set_new(j, "hostname", json_string(s->hostname));
    json_object_set_new(j, "network", json_string(net_name(s->network)));
    json_object_set_new(j, "read_only", json_boolean(s->read_only));
    json_object_set_new(j, "privileged", json_boolean(s->privileged));
    _cleanup_free_ char *caps = rk_caps_format(s->caps);
    json_object_set_new(j, "caps", json_string(caps));
    json_object_set_new(j, "no_new_privs", json_boolean(s->no_new_privs));
    json_object_set_new(j, "seccomp", json_boolean(s->seccomp));
    json_object_set_new(j, "cgroupfs", json_integer(s->cgroupfs));
    json_t *mounts = json_array();
    for (size_t i = 0; i < s->n_mounts; i++) {
        const rk_mount_spec *m = &s->mounts[i];
        json_t *o = json_object();
        json_object_set_new(o, "type", json_string(m->kind == RK_MOUNT_BIND ? "bind" : "tmpfs"));
        if (m->source)
            json_object_set_new(o, "source", json_string(m->source));
        json_object_set_new(o, "target", json_string(m->target));
        json_object_set_new(o, "readonly", json_boolean(m->readonly));
        if (m->options)
            json_object_set_new(o, "options", json_string(m->options));
        json_array_append_new(mounts, o);
    }
    json_object_set_new(j, "mounts", mounts);
    json_object_set_new(j, "memory", json_integer(s->memory));
    json_object_set_new(j, "pids_limit", json_integer(s->pids_limit));
    json_object_set_new(j, "cpu_quota", json_integer(s->cpu_quota));
    json_object_set_new(j, "cpu_period", json_integer(s->cpu_period));
    json_object_set_new(j, "boot", json_integer(s->boot));
    json_object_set_new(j, "stop_signal", json_integer(s->stop_signal));
    if (s->notify_socket)
        json_object_set_new(j, "notify_socket", json_string(s->notify_socket));
    json_object_set_new(j, "console", json_boolean(s->console));
    return j;
}

static bool jbool(const json_t *j, const char *k, bool def)
{
    json_t *v = json_object_get(j, k);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

static char *jstrdup(const json_t *j, const char *k)
{
    const char *s = rk_json_str(j, k);
    return s ? rk_xstrdup(s) : NULL;
}

int rk_spec_from_json(const json_t *j, rk_spec *ret, rk_error **err)
{
    if (!json_is_object(j))
        return rk_error_set(err, EINVAL, "container config is not an object");
    rk_spec_init(ret);
    ret->argv = rk_json_strv(json_object_get(j, "argv"));
    ret->env = rk_json_strv(json_object_get(j, "env"));
    if (!ret->argv || !ret->argv[0]) {
        rk_spec_clear(ret);
        return rk_error_set(err, EINVAL, "container config has no command");
    }
    free(ret->cwd);
    ret->cwd = jstrdup(j, "cwd");
    if (!ret->cwd)
        ret->cwd = rk_xstrdup("/");
    ret->user = jstrdup(j, "user");
    ret->tty = jbool(j, "tty", false);
    ret->interactive = jbool(j, "interactive", false);
    ret->init = jbool(j, "init", false);
    ret->hostname = jstrdup(j, "hostname");
    ret->network = rk_streq_ptr(rk_json_str(j, "network"), "none") ? RK_NET_NONE : RK_NET_HOST;
    ret->read_only = jbool(j, "read_only", false);
    ret->privileged = jbool(j, "privileged", false);
    if (rk_caps_parse_list(rk_json_str(j, "caps"), &ret->caps, err) < 0) {
        rk_spec_clear(ret);
        return -1;
    }
    ret->no_new_privs = jbool(j, "no_new_privs", true);
    ret->seccomp = jbool(j, "seccomp", true);
    ret->cgroupfs = (enum rk_cgroupfs_mode)rk_json_int(j, "cgroupfs", RK_CGROUPFS_RO);
    json_t *mounts = json_object_get(j, "mounts");
    size_t i;
    json_t *o;
    json_array_foreach(mounts, i, o) {
        const char *t = rk_json_str(o, "target");
        if (!t)
            continue;
        rk_mount_spec m = {
            .kind = rk_streq_ptr(rk_json_str(o, "type"), "tmpfs") ? RK_MOUNT_TMPFS : RK_MOUNT_BIND,
            .source = (char *)rk_json_str(o, "source"),
            .target = (char *)t,
            .readonly = jbool(o, "readonly", false),
            .options = (char *)rk_json_str(o, "options"),
        };
        rk_spec_add_mount(ret, &m);
    }
    ret->memory = rk_json_int(j, "memory", 0);
    ret->pids_limit = rk_json_int(j, "pids_limit", 0);
    ret->cpu_quota = rk_json_int(j, "cpu_quota", 0);
    ret->cpu_period = rk_json_int(j, "cpu_period", 0);
    ret->boot = (enum rk_boot_mode)rk_json_int(j, "boot", RK_BOOT_NO);
    ret->stop_signal = (int)rk_json_int(j, "stop_signal", SIGTERM);
    ret->notify_socket = jstrdup(j, "notify_socket");
    ret->console = jbool(j, "console", false);
    return 0;
}

/* ---- option parsers ---- */

static bool path_is_clean_abs(const char *p)
{
    return p && p[0] == '/';
}

static int parse_mount_opts(const char *what, const char *spec, const char *opts,
                            bool allow_other, rk_mount_spec *m, char **other,
                            rk_error **err)
{
    _cleanup_free_ char *copy = rk_xstrdup(opts);
    _cleanup_strv_ char **rest = NULL;
    char *save = NULL;
    for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
        if (!strcmp(o, "ro"))
            m->readonly = true;
        else if (!strcmp(o, "rw"))
            m->readonly = false;
        else if (allow_other)
            rk_strv_push_dup(&rest, o);
        else
            return rk_error_set_status(err, 125, 0, "%s '%s': unknown option '%s'",
                                       what, spec, o);
    }
    if (other)
        *other = rest ? rk_strv_join(rest, ",") : NULL;
    return 0;
}

int rk_volume_parse(const char *s, rk_mount_spec *ret, rk_error **err)
{
    memset(ret, 0, sizeof(*ret));
    ret->kind = RK_MOUNT_BIND;
    const char *c1 = strchr(s, ':');
    if (!c1 || c1 == s)
        return rk_error_set_status(err, 125, 0,
                                   "invalid volume '%s': expected SRC:DST[:ro|rw]", s);
    const char *dst = c1 + 1;
    const char *c2 = strchr(dst, ':');
    _cleanup_free_ char *src = rk_xstrndup(s, (size_t)(c1 - s));
    _cleanup_free_ char *d = c2 ? rk_xstrndup(dst, (size_t)(c2 - dst)) : rk_xstrdup(dst);
    if (!path_is_clean_abs(src))
        return rk_error_set_status(err, 125, 0,
                                   "invalid volume '%s': the source must be an absolute path "
                                   "(named volumes are not supported)", s);
    if (!path_is_clean_abs(d))
        return rk_error_set_status(err, 125, 0,
                                   "invalid volume '%s': the destination must be an absolute path", s);
    if (c2 && parse_mount_opts("invalid volume", s, c2 + 1, false, ret, NULL, err) < 0)
        return -1;
    ret->source = TAKE_PTR(src);
    ret->target = TAKE_PTR(d);
    return 0;
}

int rk_tmpfs_parse(const char *s, rk_mount_spec *ret, rk_error **err)
{
    memset(ret, 0, sizeof(*ret));
    ret->kind = RK_MOUNT_TMPFS;
    const char *c = strchr(s, ':');
    _cleanup_free_ char *d = c ? rk_xstrndup(s, (size_t)(c - s)) : rk_xstrdup(s);
    if (!path_is_clean_abs(d))
        return rk_error_set_status(err, 125, 0,
                                   "invalid tmpfs '%s': the destination must be an absolute path", s);
    if (c && parse_mount_opts("invalid tmpfs", s, c + 1, true, ret, &ret->options, err) < 0)
        return -1;
    ret->target = TAKE_PTR(d);
    return 0;
}

static bool env_name_ok(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (isspace((unsigned char)s[i]))
            return false;
    return true;
}

int rk_env_entry(const char *s, char *const *host_env, char **ret, rk_error **err)
{
    *ret = NULL;
    const char *eq = strchr(s, '=');
    size_t n = eq ? (size_t)(eq - s) : strlen(s);
    if (!env_name_ok(s, n))
        return rk_error_set_status(err, 125, 0, "invalid environment variable '%s'", s);
    if (eq) {
        *ret = rk_xstrdup(s);
        return 0;
    }
    const char *v = rk_env_get(host_env, s);
    if (v)
        *ret = rk_xasprintf("%s=%s", s, v);
    return 0;
}

const char *rk_env_get(char *const *env, const char *key)
{
    size_t n = strlen(key);
    for (size_t i = 0; env && env[i]; i++)
        if (!strncmp(env[i], key, n) && env[i][n] == '=')
            return env[i] + n + 1;
    return NULL;
}

void rk_env_set(char ***env, char *kv)
{
    const char *eq = strchr(kv, '=');
    size_t n = eq ? (size_t)(eq - kv) : strlen(kv);
    for (size_t i = 0; *env && (*env)[i]; i++) {
        const char *e = (*env)[i];
        if (!strncmp(e, kv, n) && (e[n] == '=' || e[n] == 0)) {
            free((*env)[i]);
            (*env)[i] = kv;
            return;
        }
    }
    rk_strv_push(env, kv);
}

int rk_env_file_parse(const char *text, const char *path, char *const *host_env,
                      char ***env, rk_error **err)
{
    _cleanup_free_ char *copy = rk_xstrdup(text);
    unsigned lineno = 0;
    /* strtok_r would merge empty lines and hide line numbers: split by hand. */
    for (char *line = copy; line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        lineno++;
        size_t len = strlen(line);
        if (len && line[len - 1] == '\r')
            line[--len] = 0;
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p && *p != '#') {
            char *kv = NULL;
            if (rk_env_entry(p, host_env, &kv, err) < 0)
                return rk_error_wrap(err, "%s:%u", path, lineno);
            if (kv)
                rk_env_set(env, kv);
        }
        line = nl ? nl + 1 : NULL;
    }
    return 0;
}

int rk_env_file_read(const char *path, char *const *host_env, char ***env,
                     rk_error **err)
{
    _cleanup_free_ char *text = NULL;
    if (rk_read_file_at(AT_FDCWD, path, 1 << 20, &text, NULL, err) < 0)
        return rk_error_wrap(err, "reading env file %s", path);
    return rk_env_file_parse(text, path, host_env, env, err);
}

int rk_size_parse(const char *s, int64_t *ret, rk_error **err)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !(v >= 0)) /* !(v >= 0) is also true for NaN */
        return rk_error_set_status(err, 125, 0, "invalid size '%s'", s);
    double mult = 1;
    switch (tolower((unsigned char)*end)) {
    case 0: break;
    case 'b': mult = 1; end++; break;
    case 'k': mult = 1024.0; end++; break;
    case 'm': mult = 1024.0 * 1024; end++; break;
    case 'g': mult = 1024.0 * 1024 * 1024; end++; break;
    case 't': mult = 1024.0 * 1024 * 1024 * 1024; end++; break;
    default:
        return rk_error_set_status(err, 125, 0, "invalid size '%s'", s);
    }
    if (mult > 1 && (*end == 'b' || *end == 'B'))
        end++;
    if (*end || v * mult > 9.0e18)
        return rk_error_set_status(err, 125, 0, "invalid size '%s'", s);
    *ret = (int64_t)(v * mult);
    return 0;
}

int rk_cpus_parse(const char *s, int64_t *quota, int64_t *period, rk_error **err)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !(v > 0) || v > 100000)
        return rk_error_set_status(err, 125, 0, "invalid --cpus '%s': expected a positive number", s);
    *period = 100000;
    *quota = (int64_t)(v * 100000.0 + 0.5);
    if (*quota < 1000) /* the kernel refuses quotas under 1 ms */
        return rk_error_set_status(err, 125, 0, "invalid --cpus '%s': the minimum is 0.01", s);
    return 0;
}

static const struct {
    const char *name;
    int sig;
} signals[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},     {"QUIT", SIGQUIT}, {"ILL", SIGILL},
    {"TRAP", SIGTRAP}, {"ABRT", SIGABRT},   {"IOT", SIGIOT},   {"BUS", SIGBUS},
    {"FPE", SIGFPE},   {"KILL", SIGKILL},   {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},
    {"USR2", SIGUSR2}, {"PIPE", SIGPIPE},   {"ALRM", SIGALRM}, {"TERM", SIGTERM},
    {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT}, {"STOP", SIGSTOP},
    {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN},   {"TTOU", SIGTTOU}, {"URG", SIGURG},
    {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},   {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
    {"WINCH", SIGWINCH}, {"IO", SIGIO},     {"POLL", SIGPOLL}, {"PWR", SIGPWR},
    {"SYS", SIGSYS},
};

int rk_signal_parse(const char *s)
{
    if (!s || !*s)
        return -1;
    unsigned long long n;
    if (rk_parse_uint64(s, &n))
        return n >= 1 && n <= (unsigned long long)SIGRTMAX ? (int)n : -1;
    if (!strncasecmp(s, "SIG", 3))
        s += 3;
    for (size_t i = 0; i < RK_ELEMENTSOF(signals); i++)
        if (!strcasecmp(s, signals[i].name))
            return signals[i].sig;
    int base = -1, sign = 1;
    const char *rest = NULL;
    if (!strncasecmp(s, "RTMIN", 5)) {
        base = SIGRTMIN;
        rest = s + 5;
    } else if (!strncasecmp(s, "RTMAX", 5)) {
        base = SIGRTMAX;
        rest = s + 5;
        sign = -1;
    }
    if (base < 0)
        return -1;
    if (!*rest)
        return base;
    if ((sign > 0 && *rest != '+') || (sign < 0 && *rest != '-'))
        return -1;
    if (!rk_parse_uint64(rest + 1, &n))
        return -1;
    long v = base + sign * (long)n;
    return v >= SIGRTMIN && v <= SIGRTMAX ? (int)v : -1;
}

int rk_spec_build_argv(char *const *img_entrypoint, char *const *img_cmd,
                       const char *entrypoint_override, char *const *user_args,
                       char ***ret, rk_error **err)
{
    _cleanup_strv_ char **argv = NULL;
    bool have_user_args = user_args && user_args[0];
    if (entrypoint_override) {
        if (*entrypoint_override)
            rk_strv_push_dup(&argv, entrypoint_override);
    } else {
        for (size_t i = 0; img_entrypoint && img_entrypoint[i]; i++)
            rk_strv_push_dup(&argv, img_entrypoint[i]);
    }
    if (have_user_args) {
        for (size_t i = 0; user_args[i]; i++)
            rk_strv_push_dup(&argv, user_args[i]);
    } else if (!entrypoint_override) {
        for (size_t i = 0; img_cmd && img_cmd[i]; i++)
            rk_strv_push_dup(&argv, img_cmd[i]);
    }
    if (!argv || !argv[0] || !*argv[0])
        return rk_error_set_status(err, 125, 0,
                                   "no command specified: the image has neither Entrypoint "
                                   "nor Cmd; give one after the image");
    *ret = TAKE_PTR(argv);
    return 0;
}

char **rk_spec_build_env(char *const *img_env, char *const *overrides)
{
    char **env = NULL;
    for (size_t i = 0; img_env && img_env[i]; i++)
        rk_env_set(&env, rk_xstrdup(img_env[i]));
    if (!rk_env_get(env, "PATH"))
        rk_env_set(&env, rk_xstrdup("PATH=" RK_DEFAULT_PATH));
    for (size_t i = 0; overrides && overrides[i]; i++)
        rk_env_set(&env, rk_xstrdup(overrides[i]));
    if (!env)
        env = rk_xcalloc(1, sizeof(char *));
    return env;
}
