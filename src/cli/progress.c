/* Pull progress on stderr: one bar per layer on a terminal, one status
 * line per step otherwise, nothing when quiet. */
#include "cli/progress.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/digest.h"
#include "base/error.h"

struct layer_line {
    char short_id[13];
    int64_t done, total;
    const char *state; /* "waiting", "downloading", "done", "exists" */
};

struct rk_progress {
    bool tty, quiet;
    const char *prog;
    size_t n;
    struct layer_line *lines;
    size_t drawn; /* lines currently on screen below the cursor's origin */
    double last_draw;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void rk_format_size(int64_t bytes, char *out, size_t len)
{
    /* Decimal units, as Docker and Podman show sizes. */
    const char *units[] = {"B", "kB", "MB", "GB", "TB"};
    double v = (double)bytes;
    size_t u = 0;
    while (v >= 1000.0 && u + 1 < RK_ELEMENTSOF(units)) {
        v /= 1000.0;
        u++;
    }
    if (u == 0)
        snprintf(out, len, "%lld%s", (long long)bytes, units[0]);
    else
        snprintf(out, len, "%.3g%s", v, units[u]);
}

rk_progress *rk_progress_new(const char *prog, bool quiet)
{
    rk_progress *p = rk_xcalloc(1, sizeof(*p));
    p->prog = prog;
    p->quiet = quiet;
    p->tty = !quiet && isatty(STDERR_FILENO) && getenv("TERM") && strcmp(getenv("TERM"), "dumb");
    return p;
}

void rk_progress_free(rk_progress *p)
{
    if (!p)
        return;
    free(p->lines);
    free(p);
}

static void ensure_lines(rk_progress *p, size_t n)
{
    if (n <= p->n)
        return;
    p->lines = rk_xrealloc(p->lines, n * sizeof(*p->lines));
    for (size_t i = p->n; i < n; i++) {
        memset(&p->lines[i], 0, sizeof(p->lines[i]));
        p->lines[i].state = "waiting";
    }
    p->n = n;
}

static void draw(rk_progress *p, bool force)
{
    double t = now_s();
    if (!force && t - p->last_draw < 0.1)
        return;
    p->last_draw = t;
    unsigned cols = 80;
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
        cols = ws.ws_col;
    if (p->drawn)
        fprintf(stderr, "\033[%zuA", p->drawn);
    for (size_t i = 0; i < p->n; i++) {
        struct layer_line *l = &p->lines[i];
        char done[16], total[16];
        rk_format_size(l->done, done, sizeof(done));
        rk_format_size(l->total, total, sizeof(total));
        int width = (int)cols - 50;
        if (width > 40)
            width = 40;
        char bar[64] = "";
        if (width >= 10 && !strcmp(l->state, "downloading") && l->total > 0) {
            int fill = (int)((double)l->done / (double)l->total * width);
            if (fill > width)
                fill = width;
            bar[0] = '[';
            for (int k = 0; k < width; k++)
                bar[1 + k] = k < fill ? '=' : (k == fill ? '>' : ' ');
            bar[width + 1] = ']';
            bar[width + 2] = 0;
        }
        if (!strcmp(l->state, "downloading"))
            fprintf(stderr, "\r\033[K%s: %-11s %s %s/%s\n", l->short_id, l->state, bar, done, total);
        else
            fprintf(stderr, "\r\033[K%s: %s\n", l->short_id, l->state);
    }
    p->drawn = p->n;
    fflush(stderr);
}

static void line(rk_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(rk_progress *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *m = rk_xvasprintf(fmt, ap);
    va_end(ap);
    if (p->tty && p->drawn) {
        /* Print above the bars, then redraw them below. */
        fprintf(stderr, "\033[%zuA\r\033[K%s\n", p->drawn, m);
        p->drawn = 0;
        draw(p, true);
    } else {
        fprintf(stderr, "%s\n", m);
    }
}

void rk_progress_pull_event(void *ctx, const rk_pull_event *ev)
{
    rk_progress *p = ctx;
    if (p->quiet)
        return;
    if (ev->n_layers)
        ensure_lines(p, ev->n_layers);
    struct layer_line *l = ev->layer_index < p->n ? &p->lines[ev->layer_index] : NULL;
    if (l && ev->digest && !l->short_id[0] &&
        (ev->kind == RK_PULL_EV_LAYER_EXISTS || ev->kind == RK_PULL_EV_LAYER_START ||
         ev->kind == RK_PULL_EV_LAYER_PROGRESS || ev->kind == RK_PULL_EV_LAYER_DONE)) {
        _cleanup_free_ char *s = rk_digest_short(ev->digest);
        snprintf(l->short_id, sizeof(l->short_id), "%s", s);
    }
    char size[16];
    switch (ev->kind) {
    case RK_PULL_EV_RESOLVING:
        line(p, "%s: %s", ev->ref, ev->message);
        break;
    case RK_PULL_EV_NOTE:
        line(p, "%s: %s", ev->ref, ev->message);
        break;
    case RK_PULL_EV_MANIFEST:
        line(p, "%s: manifest %s, %zu layer%s", ev->ref, ev->digest, ev->n_layers,
             ev->n_layers == 1 ? "" : "s");
        break;
    case RK_PULL_EV_LAYER_EXISTS:
        l->state = "already exists";
        if (p->tty)
            draw(p, true);
        else
            line(p, "layer %zu/%zu %s: already exists", ev->layer_index + 1, ev->n_layers,
                 l->short_id);
        break;
    case RK_PULL_EV_LAYER_START:
        l->state = "downloading";
        l->done = ev->done;
        l->total = ev->total;
        if (p->tty) {
            draw(p, true);
        } else {
            rk_format_size(ev->total, size, sizeof(size));
            line(p, "layer %zu/%zu %s: downloading %s%s", ev->layer_index + 1, ev->n_layers,
                 l->short_id, size, ev->done ? " (resuming)" : "");
        }
        break;
    case RK_PULL_EV_LAYER_PROGRESS:
        l->done = ev->done;
        l->total = ev->total;
        if (p->tty)
            draw(p, false);
        break;
    case RK_PULL_EV_LAYER_DONE:
        l->state = "pull complete";
        l->done = l->total;
        if (p->tty)
            draw(p, true);
        else
            line(p, "layer %zu/%zu %s: done", ev->layer_index + 1, ev->n_layers, l->short_id);
        break;
    case RK_PULL_EV_UP_TO_DATE:
        line(p, "%s: image is up to date", ev->ref);
        break;
    case RK_PULL_EV_DONE:
        line(p, "%s: image ID %s", ev->ref, ev->digest);
        break;
    }
}
