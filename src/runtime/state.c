#include "runtime/state.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/json.h"
#include "base/strv.h"

void rk_container_record_clear(rk_container_record *r)
{
    free(r->id);
    free(r->name);
    free(r->image_id);
    free(r->image_ref);
    free(r->created);
    rk_strv_free(r->layers);
    free(r->dir);
    rk_spec_clear(&r->spec);
    memset(r, 0, sizeof(*r));
}

void rk_run_state_clear(rk_run_state *s)
{
    free(s->started);
    free(s->finished);
    rk_strv_free(s->cgroups);
    memset(s, 0, sizeof(*s));
}

const char *rk_container_status_name(enum rk_container_status s)
{
    switch (s) {
    case RK_STATUS_RUNNING: return "running";
    case RK_STATUS_EXITED: return "exited";
    default: return "created";
    }
}

char *rk_now_rfc3339(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char buf[64];
    size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, sizeof(buf) - n, ".%09ldZ", ts.tv_nsec);
    return rk_xstrdup(buf);
}

void rk_container_new_id(char out[RK_ID_LEN + 1])
{
    rk_random_hex(out, RK_ID_LEN / 2);
}

bool rk_container_name_valid(const char *name)
{
    if (!name || !isalnum((unsigned char)name[0]) || strlen(name) > 128)
        return false;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
            return false;
    return true;
}

/* Write name in dir without fsync: temp + rename is enough against torn
 * files for data whose loss at a power cut does not matter. */
static int write_file_fast(const char *dir, const char *name, const char *data,
                           rk_error **err)
{
    _cleanup_free_ char *tmp = rk_xasprintf("%s/.%s.tmp%d", dir, name, (int)getpid());
    _cleanup_free_ char *dst = rk_path_join(dir, name);
    _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return rk_error_set(err, errno, "creating %s", tmp);
    if (rk_write_all(fd, data, strlen(data)) < 0) {
        int e = errno;
        unlink(tmp);
        return rk_error_set(err, e, "writing %s", tmp);
    }
    if (rename(tmp, dst) < 0) {
        int e = errno;
        unlink(tmp);
        return rk_error_set(err, e, "renaming %s to %s", tmp, dst);
    }
    return 0;
}

static json_t *record_to_json(const rk_container_record *r)
{
    json_t *j = json_object();
    json_object_set_new(j, "id", json_string(r->id));
    json_object_set_new(j, "name", json_string(r->name));
    json_object_set_new(j, "image_id", r->image_id ? json_string(r->image_id) : json_null());
    json_object_set_new(j, "image_ref", json_string(r->image_ref ? r->image_ref : ""));
    json_object_set_new(j, "created", json_string(r->created));
    json_object_set_new(j, "command", rk_json_from_strv(r->spec.argv));
    json_object_set_new(j, "auto_remove", json_boolean(r->auto_remove));
    json_object_set_new(j, "detached", json_boolean(r->detached));
    json_object_set_new(j, "layers", rk_json_from_strv(r->layers));
    json_object_set_new(j, "config", rk_spec_to_json(&r->spec));
    return j;
}

static int record_from_json(const json_t *j, rk_container_record *r, rk_error **err)
{
    memset(r, 0, sizeof(*r));
    const char *id = rk_json_str(j, "id"), *name = rk_json_str(j, "name");
    if (!id || !name)
        return rk_error_set(err, EINVAL, "container.json lacks id or name");
    r->id = rk_xstrdup(id);
    r->name = rk_xstrdup(name);
    const char *s;
    if ((s = rk_json_str(j, "image_id")))
        r->image_id = rk_xstrdup(s);
    r->image_ref = rk_xstrdup((s = rk_json_str(j, "image_ref")) ? s : "");
    r->created = rk_xstrdup((s = rk_json_str(j, "created")) ? s : "");
    r->auto_remove = json_is_true(json_object_get(j, "auto_remove"));
    r->detached = json_is_true(json_object_get(j, "detached"));
    r->layers = rk_json_strv(json_object_get(j, "layers"));
    if (rk_spec_from_json(json_object_get(j, "config"), &r->spec, err) < 0) {
        rk_container_record_clear(r);
        return -1;
    }
    return 0;
}

static int load_dir(const char *containers_dir, const char *id,
                    rk_container_record *ret, rk_error **err)
{
    _cleanup_free_ char *dir = rk_path_join(containers_dir, id);
    _cleanup_free_ char *p = rk_path_join(dir, "container.json");
    _cleanup_free_ char *text = NULL;
    size_t len;
    if (rk_read_file_at(AT_FDCWD, p, 1 << 22, &text, &len, err) < 0)
        return -1;
    json_error_t je;
    _cleanup_json_ json_t *j = json_loadb(text, len, 0, &je);
    if (!j)
        return rk_error_set(err, EINVAL, "%s: %s", p, je.text);
    if (record_from_json(j, ret, err) < 0)
        return rk_error_wrap(err, "%s", p);
    ret->dir = TAKE_PTR(dir);
    return 0;
}

int rk_container_record_load(const char *containers_dir, const char *id,
                             rk_container_record *ret, rk_error **err)
{
    return load_dir(containers_dir, id, ret, err);
}

static void free_records(rk_container_record *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        rk_container_record_clear(&v[i]);
    free(v);
}

void rk_container_list_free(rk_container_record *v, size_t n)
{
    free_records(v, n);
}

static int cmp_created_desc(const void *a, const void *b)
{
    const rk_container_record *x = a, *y = b;
    return strcmp(y->created, x->created);
}

int rk_container_list(const char *containers_dir, rk_container_record **ret,
                      size_t *n, rk_error **err)
{
    *ret = NULL;
    *n = 0;
    _cleanup_closedir_ DIR *d = opendir(containers_dir);
    if (!d) {
        if (errno == ENOENT)
            return 0;
        return rk_error_set(err, errno, "listing %s", containers_dir);
    }
    rk_container_record *v = NULL;
    size_t k = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || strlen(de->d_name) != RK_ID_LEN)
            continue;
        rk_container_record r;
        rk_error *e = NULL;
        /* A directory being created or removed right now has no (or no
         * complete) container.json yet: skip it. */
        if (load_dir(containers_dir, de->d_name, &r, &e) < 0) {
            rk_debug("skipping container %s: %s", de->d_name, e ? e->msg : "?");
            rk_error_free(e);
            continue;
        }
        v = rk_xrealloc(v, (k + 1) * sizeof(*v));
        v[k++] = r;
    }
    if (k)
        qsort(v, k, sizeof(*v), cmp_created_desc);
    *ret = v;
    *n = k;
    return 0;
}

int rk_container_find(const char *containers_dir, const char *name_or_id,
                      rk_container_record *ret, rk_error **err)
{
    if (strlen(name_or_id) == RK_ID_LEN) {
        rk_error *e = NULL;
        if (load_dir(containers_dir, name_or_id, ret, &e) == 0)
            return 0;
        rk_error_free(e);
    }
    rk_container_record *v;
    size_t n;
    if (rk_container_list(containers_dir, &v, &n, err) < 0)
        return -1;
    ssize_t by_name = -1, by_prefix = -1;
    size_t n_prefix = 0;
    size_t len = strlen(name_or_id);
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(v[i].name, name_or_id))
            by_name = (ssize_t)i;
        else if (len > 0 && !strncmp(v[i].id, name_or_id, len)) {
            by_prefix = (ssize_t)i;
            n_prefix++;
        }
    }
    ssize_t pick = by_name >= 0 ? by_name : (n_prefix == 1 ? by_prefix : -1);
    if (pick < 0) {
        free_records(v, n);
        if (n_prefix > 1)
            return rk_error_set_status(err, 125, 0,
                                       "container ID prefix '%s' is ambiguous", name_or_id);
        rk_error_set_status(err, 125, 0, "no such container: %s", name_or_id);
        if (err && *err)
            (*err)->errnum = ENOENT;
        return -1;
    }
    *ret = v[pick];
    memset(&v[pick], 0, sizeof(v[pick]));
    free_records(v, n);
    return 0;
}

static const char *const adjectives[] = {
    "agile", "bold", "brave", "bright", "calm", "clever", "cosy", "crisp",
    "eager", "fair", "fond", "gentle", "happy", "jolly", "keen", "kind",
    "lucid", "merry", "modest", "nimble", "proud", "quick", "quiet", "sharp",
    "steady", "sunny", "swift", "tidy", "vivid", "witty", "zealous", "zen",
};
static const char *const nouns[] = {
    "babbage", "bohr", "curie", "darwin", "dijkstra", "einstein", "euler",
    "fermat", "gauss", "hopper", "hypatia", "kepler", "knuth", "lamarr",
    "lovelace", "meitner", "newton", "noether", "pascal", "planck", "ritchie",
    "shannon", "thompson", "turing", "volta", "wozniak", "yalow", "zuse",
    "galois", "riemann", "torvalds", "wing",
};

static char *make_name(void)
{
    char hex[9];
    rk_random_hex(hex, 4);
    unsigned long r = strtoul(hex, NULL, 16);
    return rk_xasprintf("%s_%s", adjectives[r % RK_ELEMENTSOF(adjectives)],
                        nouns[(r / RK_ELEMENTSOF(adjectives)) % RK_ELEMENTSOF(nouns)]);
}

static bool name_taken(const char *containers_dir, const char *name)
{
    rk_container_record *v;
    size_t n;
    if (rk_container_list(containers_dir, &v, &n, NULL) < 0)
        return false;
    bool taken = false;
    for (size_t i = 0; i < n && !taken; i++)
        taken = !strcmp(v[i].name, name);
    free_records(v, n);
    return taken;
}

int rk_container_record_create(const char *containers_dir, rk_container_record *r,
                               bool durable, rk_error **err)
{
    if (r->name && !rk_container_name_valid(r->name))
        return rk_error_set_status(err, 125, 0,
                                   "invalid container name '%s': only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                                   r->name);
    if (rk_mkdir_p(containers_dir, 0700, err) < 0)
        return -1;
    _cleanup_free_ char *locks = rk_xasprintf("%s/../locks", containers_dir);
    if (rk_mkdir_p(locks, 0700, err) < 0)
        return -1;
    /* Names are unique: the check and the creation happen under one lock. */
    _cleanup_free_ char *lp = rk_path_join(locks, "containers.lock");
    _cleanup_close_ int lock = rk_lock_at(AT_FDCWD, lp, LOCK_EX, err);
    if (lock < 0)
        return rk_error_wrap(err, "locking the container names");
    if (r->name) {
        if (name_taken(containers_dir, r->name))
            return rk_error_set_status(err, 125, 0,
                                       "the container name \"%s\" is already in use; "
                                       "remove that container or choose another name",
                                       r->name);
    } else {
        for (int tries = 0;; tries++) {
            char *n = tries < 8 ? make_name() : rk_xasprintf("racker_%.12s", r->id);
            if (tries >= 8 || !name_taken(containers_dir, n)) {
                r->name = n;
                break;
            }
            free(n);
        }
    }
    _cleanup_free_ char *dir = rk_path_join(containers_dir, r->id);
    if (mkdir(dir, 0700) < 0)
        return rk_error_set(err, errno, "creating %s", dir);
    _cleanup_json_ json_t *j = record_to_json(r);
    _cleanup_free_ char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    _cleanup_free_ char *p = rk_path_join(dir, "container.json");
    if (durable) {
        if (rk_write_file_atomic(AT_FDCWD, p, text, strlen(text), 0644, err) < 0)
            goto fail;
    } else if (write_file_fast(dir, "container.json", text, err) < 0) {
        goto fail;
    }
    free(r->dir);
    r->dir = TAKE_PTR(dir);
    return 0;
fail:
    rk_rm_rf(dir, NULL);
    return -1;
}

int rk_container_record_remove(const char *containers_dir, const char *id,
                               rk_error **err)
{
    _cleanup_free_ char *dir = rk_path_join(containers_dir, id);
    /* container.json goes first: a half-removed directory is then no
     * longer a container (and no longer pins its image). */
    _cleanup_free_ char *p = rk_path_join(dir, "container.json");
    if (unlink(p) < 0 && errno != ENOENT)
        return rk_error_set(err, errno, "removing %s", p);
    if (rk_rm_rf(dir, err) < 0)
        return rk_error_wrap(err, "removing container %s", id);
    return 0;
}

/* ---- runtime state ---- */

int rk_run_state_lock_new(const char *rundir, const char *id, rk_error **err)
{
    if (rk_mkdir_p(rundir, 0700, err) < 0)
        return -1;
    _cleanup_free_ char *dir = rk_path_join(rundir, id);
    if (mkdir(dir, 0700) < 0)
        return rk_error_set(err, errno, "creating %s", dir);
    _cleanup_free_ char *p = rk_path_join(dir, "lock");
    return rk_lock_at(AT_FDCWD, p, LOCK_EX, err);
}

int rk_run_state_write(const char *rundir, const char *id, const rk_run_state *s,
                       rk_error **err)
{
    _cleanup_json_ json_t *j = json_object();
    json_object_set_new(j, "status", json_string(rk_container_status_name(s->status)));
    json_object_set_new(j, "pid", json_integer(s->pid));
    json_object_set_new(j, "pid_start", json_integer((json_int_t)s->pid_start));
    json_object_set_new(j, "supervisor", json_integer(s->supervisor));
    json_object_set_new(j, "exit_code", json_integer(s->exit_code));
    json_object_set_new(j, "oom_killed", json_boolean(s->oom_killed));
    if (s->started)
        json_object_set_new(j, "started", json_string(s->started));
    if (s->finished)
        json_object_set_new(j, "finished", json_string(s->finished));
    json_object_set_new(j, "cgroups", rk_json_from_strv(s->cgroups));
    _cleanup_free_ char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    _cleanup_free_ char *dir = rk_path_join(rundir, id);
    return write_file_fast(dir, "state.json", text, err);
}

bool rk_run_state_supervised(const char *rundir, const char *id)
{
    _cleanup_free_ char *p = rk_xasprintf("%s/%s/lock", rundir, id);
    _cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    if (flock(fd, LOCK_SH | LOCK_NB) == 0)
        return false;
    return errno == EWOULDBLOCK;
}

int rk_run_state_wait_released(const char *rundir, const char *id, rk_error **err)
{
    _cleanup_free_ char *p = rk_xasprintf("%s/%s/lock", rundir, id);
    _cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : rk_error_set(err, errno, "opening %s", p);
    while (flock(fd, LOCK_SH) < 0)
        if (errno != EINTR)
            return rk_error_set(err, errno, "waiting for the lock %s", p);
    return 0;
}

int rk_run_state_read(const char *rundir, const char *id, rk_run_state *ret,
                      rk_error **err)
{
    memset(ret, 0, sizeof(*ret));
    ret->exit_code = -1;
    _cleanup_free_ char *p = rk_xasprintf("%s/%s/state.json", rundir, id);
    _cleanup_free_ char *text = NULL;
    size_t len;
    rk_error *e = NULL;
    if (rk_read_file_at(AT_FDCWD, p, 1 << 20, &text, &len, &e) < 0) {
        bool missing = e && e->errnum == ENOENT;
        if (missing) {
            rk_error_free(e);
            /* No runtime state: never started here, or the host rebooted. */
            ret->status = rk_run_state_supervised(rundir, id) ? RK_STATUS_CREATED
                                                              : RK_STATUS_EXITED;
            return 0;
        }
        if (err)
            *err = e;
        else
            rk_error_free(e);
        return -1;
    }
    json_error_t je;
    _cleanup_json_ json_t *j = json_loadb(text, len, 0, &je);
    if (!j)
        return rk_error_set(err, EINVAL, "%s: %s", p, je.text);
    const char *st = rk_json_str(j, "status");
    ret->status = rk_streq_ptr(st, "running") ? RK_STATUS_RUNNING
                  : rk_streq_ptr(st, "exited") ? RK_STATUS_EXITED
                                               : RK_STATUS_CREATED;
    ret->pid = (pid_t)rk_json_int(j, "pid", 0);
    ret->pid_start = (unsigned long long)rk_json_int(j, "pid_start", 0);
    ret->supervisor = (pid_t)rk_json_int(j, "supervisor", 0);
    ret->exit_code = (int)rk_json_int(j, "exit_code", -1);
    ret->oom_killed = json_is_true(json_object_get(j, "oom_killed"));
    const char *s;
    if ((s = rk_json_str(j, "started")))
        ret->started = rk_xstrdup(s);
    if ((s = rk_json_str(j, "finished")))
        ret->finished = rk_xstrdup(s);
    ret->cgroups = rk_json_strv(json_object_get(j, "cgroups"));
    if (ret->status != RK_STATUS_EXITED && !rk_run_state_supervised(rundir, id)) {
        /* The supervisor died; its parent-death signal killed the container. */
        ret->status = RK_STATUS_EXITED;
        ret->supervisor_died = true;
        if (ret->exit_code < 0)
            ret->exit_code = 128 + 9;
    }
    return 0;
}

int rk_run_state_remove(const char *rundir, const char *id, rk_error **err)
{
    _cleanup_free_ char *dir = rk_path_join(rundir, id);
    return rk_rm_rf(dir, err);
}

unsigned long long rk_proc_start_time(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    _cleanup_free_ char *text = NULL;
    if (rk_read_file_at(AT_FDCWD, path, 4096, &text, NULL, NULL) < 0)
        return 0;
    /* comm may hold spaces and parentheses: fields start after the last ')'. */
    char *p = strrchr(text, ')');
    if (!p)
        return 0;
    p++;
    /* p is at the space before field 3 (state); field 22 is starttime. */
    for (int field = 3; field < 22 && p; field++)
        p = strchr(p + 1, ' ');
    return p ? strtoull(p + 1, NULL, 10) : 0;
}
