/* racker ps */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/strv.h"
#include "cli/cli.h"
#include "image/store.h"
#include "runtime/container.h"

enum { OPT_FORMAT = RK_OPT_FIRST_VERB_OPTION, OPT_NO_TRUNC };

struct ps_args {
    bool all, quiet, no_trunc;
    const char *format;
};

static int ps_opt(void *ctx, int opt, const char *arg, rk_error **err)
{
    struct ps_args *a = ctx;
    switch (opt) {
    case 'a': a->all = true; return 0;
    case 'q': a->quiet = true; return 0;
    case OPT_NO_TRUNC: a->no_trunc = true; return 0;
    case OPT_FORMAT:
        return rk_cli_parse_format(arg, &a->format, err);
    }
    return -1;
}

/* Seconds since an RFC 3339 UTC time, -1 when unknown. */
static long long since(const char *t)
{
    if (!t || !*t)
        return -1;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (!strptime(t, "%Y-%m-%dT%H:%M:%S", &tm))
        return -1;
    long long d = (long long)time(NULL) - (long long)timegm(&tm);
    return d < 0 ? 0 : d;
}

static void human(long long s, char *out, size_t len)
{
    if (s < 0)
        snprintf(out, len, "?");
    else if (s < 2)
        snprintf(out, len, "Less than a second");
    else if (s < 60)
        snprintf(out, len, "%lld seconds", s);
    else if (s < 3600)
        snprintf(out, len, "%lld minutes", s / 60);
    else if (s < 2 * 86400)
        snprintf(out, len, "%lld hours", s / 3600);
    else
        snprintf(out, len, "%lld days", s / 86400);
}

static char *status_text(const rk_container_info *c)
{
    char h[64];
    switch (c->state.status) {
    case RK_STATUS_RUNNING:
        human(since(c->state.started), h, sizeof(h));
        return rk_xasprintf("Up %s", h);
    case RK_STATUS_EXITED:
        if (c->state.finished) {
            human(since(c->state.finished), h, sizeof(h));
            return rk_xasprintf("Exited (%d) %s ago", c->state.exit_code, h);
        }
        if (c->state.exit_code >= 0)
            return rk_xasprintf("Exited (%d)%s", c->state.exit_code,
                                c->state.supervisor_died ? " (supervisor died)" : "");
        return rk_xstrdup("Exited");
    default:
        return rk_xstrdup("Created");
    }
}

static json_t *info_json(const rk_container_info *c)
{
    json_t *j = json_object();
    json_object_set_new(j, "Id", json_string(c->rec.id));
    json_object_set_new(j, "Names", json_pack("[s]", c->rec.name));
    json_object_set_new(j, "Image", json_string(c->rec.image_ref));
    json_object_set_new(j, "ImageID", c->rec.image_id ? json_string(c->rec.image_id) : json_null());
    json_object_set_new(j, "Command", rk_json_from_strv(c->rec.spec.argv));
    json_object_set_new(j, "Created", json_string(c->rec.created));
    json_object_set_new(j, "State", json_string(rk_container_status_name(c->state.status)));
    _cleanup_free_ char *st = status_text(c);
    json_object_set_new(j, "Status", json_string(st));
    json_object_set_new(j, "Pid", json_integer(c->state.status == RK_STATUS_RUNNING ? c->state.pid : 0));
    json_object_set_new(j, "ExitCode", json_integer(c->state.exit_code));
    json_object_set_new(j, "OOMKilled", json_boolean(c->state.oom_killed));
    json_object_set_new(j, "StartedAt", c->state.started ? json_string(c->state.started) : json_null());
    json_object_set_new(j, "FinishedAt", c->state.finished ? json_string(c->state.finished) : json_null());
    json_object_set_new(j, "AutoRemove", json_boolean(c->rec.auto_remove));
    return j;
}

/* racker inspect CONTAINER: Docker's layout, the fields racker has. */
json_t *rk_cli_container_json(const rk_container_record *rec, const rk_run_state *state)
{
    const rk_spec *sp = &rec->spec;
    json_t *st = json_object();
    bool running = state->status == RK_STATUS_RUNNING;
    json_object_set_new(st, "Status", json_string(rk_container_status_name(state->status)));
    json_object_set_new(st, "Running", json_boolean(running));
    json_object_set_new(st, "OOMKilled", json_boolean(state->oom_killed));
    json_object_set_new(st, "Pid", json_integer(running ? state->pid : 0));
    json_object_set_new(st, "ExitCode", json_integer(running ? 0 : state->exit_code));
    json_object_set_new(st, "StartedAt", state->started ? json_string(state->started) : json_null());
    json_object_set_new(st, "FinishedAt", state->finished ? json_string(state->finished) : json_null());

    json_t *cfg = json_object();
    json_object_set_new(cfg, "Hostname", json_string(sp->hostname ? sp->hostname : ""));
    json_object_set_new(cfg, "User", json_string(sp->user ? sp->user : ""));
    json_object_set_new(cfg, "Tty", json_boolean(sp->tty));
    json_object_set_new(cfg, "OpenStdin", json_boolean(sp->interactive));
    json_object_set_new(cfg, "Env", rk_json_from_strv(sp->env));
    json_object_set_new(cfg, "Cmd", rk_json_from_strv(sp->argv));
    json_object_set_new(cfg, "Image", json_string(rec->image_ref ? rec->image_ref : ""));
    json_object_set_new(cfg, "WorkingDir", json_string(sp->cwd ? sp->cwd : "/"));
    json_object_set_new(cfg, "StopSignal", json_integer(sp->stop_signal));

    json_t *mounts = json_array();
    for (size_t i = 0; i < sp->n_mounts; i++) {
        const rk_mount_spec *m = &sp->mounts[i];
        if (m->kind != RK_MOUNT_BIND && m->kind != RK_MOUNT_TMPFS)
            continue;
        json_array_append_new(
            mounts, json_pack("{s:s, s:s, s:s, s:b}", "Type",
                              m->kind == RK_MOUNT_BIND ? "bind" : "tmpfs", "Source",
                              m->source ? m->source : "", "Destination", m->target, "RW",
                              !m->readonly));
    }
    json_t *host = json_object();
    json_object_set_new(host, "AutoRemove", json_boolean(rec->auto_remove));
    json_object_set_new(host, "NetworkMode",
                        json_string(sp->network == RK_NET_NONE ? "none" : "host"));
    json_object_set_new(host, "Privileged", json_boolean(sp->privileged));
    json_object_set_new(host, "ReadonlyRootfs", json_boolean(sp->read_only));
    json_object_set_new(host, "Memory", json_integer(sp->memory));
    json_object_set_new(host, "PidsLimit", json_integer(sp->pids_limit));
    json_object_set_new(host, "CpuQuota", json_integer(sp->cpu_quota));
    json_object_set_new(host, "CpuPeriod", json_integer(sp->cpu_period));
    json_object_set_new(host, "Boot", json_boolean(sp->boot == RK_BOOT_YES));

    json_t *j = json_object();
    json_object_set_new(j, "Id", json_string(rec->id));
    json_object_set_new(j, "Created", json_string(rec->created));
    json_object_set_new(j, "Path", json_string(sp->argv && sp->argv[0] ? sp->argv[0] : ""));
    json_object_set_new(j, "Args", rk_json_from_strv(sp->argv && sp->argv[0] ? sp->argv + 1 : NULL));
    json_object_set_new(j, "State", st);
    json_object_set_new(j, "Image", rec->image_id ? json_string(rec->image_id) : json_null());
    json_object_set_new(j, "Name", json_sprintf("/%s", rec->name));
    json_object_set_new(j, "Mounts", mounts);
    json_object_set_new(j, "Config", cfg);
    json_object_set_new(j, "HostConfig", host);
    return j;
}

int rk_cmd_ps(struct rk_cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"all", no_argument, NULL, 'a'},
        {"quiet", no_argument, NULL, 'q'},
        {"no-trunc", no_argument, NULL, OPT_NO_TRUNC},
        {"format", required_argument, NULL, OPT_FORMAT},
        {NULL, 0, NULL, 0},
    };
    const struct rk_verb *verb = rk_cli_find_verb(rk_racker_verbs, "ps");
    struct ps_args a = {.format = "table"};
    int i = rk_cli_parse(cli, verb, argc, argv, "aq", longopts, false, ps_opt, &a);
    if (i < 0)
        return cli->usage_status;
    if (i < argc)
        return rk_cli_usage_error(cli, verb, "takes no arguments");
    rk_error *err = NULL;
    _cleanup_store_ rk_store *store = NULL;
    if (rk_store_open(cli->root, &store, &err) < 0)
        return rk_cli_fail(cli, err, RK_EXIT_FAILURE);
    rk_container_info *v;
    size_t n;
    if (rk_container_list_all(rk_store_containers_dir(store), cli->rundir, &v, &n, &err) < 0)
        return rk_cli_fail(cli, err, RK_EXIT_FAILURE);
    bool json = !strcmp(a.format, "json");
    json_t *arr = json ? json_array() : NULL;
    /* Table rows first, so the columns can be as wide as their content. */
    enum { NCOL = 6 };
    char **rows = NULL;
    size_t nrows = 0;
    static const char *const head[NCOL] = {"CONTAINER ID", "IMAGE", "COMMAND",
                                           "CREATED", "STATUS", "NAMES"};
    for (size_t k = 0; k < n; k++) {
        const rk_container_info *c = &v[k];
        if (!a.all && c->state.status != RK_STATUS_RUNNING)
            continue;
        if (json) {
            json_array_append_new(arr, info_json(c));
            continue;
        }
        if (a.quiet) {
            printf("%.*s\n", a.no_trunc ? 64 : 12, c->rec.id);
            continue;
        }
        _cleanup_free_ char *cmd = rk_strv_join(c->rec.spec.argv, " ");
        char created[64];
        human(since(c->rec.created), created, sizeof(created));
        rows = rk_xrealloc(rows, (nrows + 1) * NCOL * sizeof(char *));
        char **r = rows + nrows * NCOL;
        r[0] = rk_xstrndup(c->rec.id, a.no_trunc ? 64 : 12);
        r[1] = rk_xstrdup(c->rec.image_ref);
        r[2] = a.no_trunc || strlen(cmd) <= 20 ? rk_xasprintf("\"%s\"", cmd)
                                               : rk_xasprintf("\"%.19s…\"", cmd);
        r[3] = rk_xasprintf("%s ago", created);
        r[4] = status_text(c);
        r[5] = rk_xstrdup(c->rec.name);
        nrows++;
    }
    if (json) {
        _cleanup_free_ char *text = json_dumps(arr, JSON_INDENT(2));
        printf("%s\n", text);
        json_decref(arr);
    } else if (!a.quiet) {
        size_t w[NCOL];
        for (int col = 0; col < NCOL; col++) {
            w[col] = strlen(head[col]);
            for (size_t r = 0; r < nrows; r++)
                if (strlen(rows[r * NCOL + col]) > w[col])
                    w[col] = strlen(rows[r * NCOL + col]);
        }
        for (size_t r = 0; r <= nrows; r++) {
            for (int col = 0; col < NCOL; col++) {
                const char *cell = r == 0 ? head[col] : rows[(r - 1) * NCOL + col];
                if (col == NCOL - 1)
                    printf("%s\n", cell);
                else
                    printf("%-*s   ", (int)w[col], cell);
            }
        }
    }
    for (size_t r = 0; r < nrows * NCOL; r++)
        free(rows[r]);
    free(rows);
    rk_container_info_free(v, n);
    return 0;
}
