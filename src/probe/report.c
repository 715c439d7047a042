#include "probe/report.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

rk_report *rk_report_new(const char *name)
{
    rk_report *r = rk_xcalloc(1, sizeof(*r));
    r->name = rk_xstrdup(name ? name : "postroj");
    r->started = (int64_t)time(NULL);
    return r;
}

static void check_free(rk_check *c)
{
    if (!c)
        return;
    free(c->name);
    free(c->reason);
    free(c->detail);
    free(c);
}

static void run_free(rk_probe_run *run)
{
    if (!run)
        return;
    for (size_t i = 0; i < run->n_checks; i++)
        check_free(run->checks[i]);
    free(run->checks);
    free(run->image);
    free(run->reference);
    free(run);
}

void rk_report_free(rk_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_runs; i++)
        run_free(r->runs[i]);
    free(r->runs);
    free(r->name);
    free(r);
}

rk_probe_run *rk_report_add_run(rk_report *r, const char *image,
                                const char *reference)
{
    rk_probe_run *run = rk_xcalloc(1, sizeof(*run));
    run->image = rk_xstrdup(image ? image : "");
    run->reference = reference ? rk_xstrdup(reference) : NULL;
    run->started = (int64_t)time(NULL);
    run->mono_start = mono_now();
    r->runs = rk_xrealloc(r->runs, (r->n_runs + 1) * sizeof(*r->runs));
    r->runs[r->n_runs++] = run;
    return run;
}

void rk_probe_run_set_reference(rk_probe_run *run, const char *reference)
{
    free(run->reference);
    run->reference = reference ? rk_xstrdup(reference) : NULL;
}

void rk_probe_run_finish(rk_probe_run *run)
{
    run->duration = mono_now() - run->mono_start;
    if (run->duration < 0)
        run->duration = 0;
}

/* Control characters (line breaks included) become spaces; trailing
 * spaces go. An empty result is NULL. */
static char *one_line(const char *s)
{
    if (!s)
        return NULL;
    char *r = rk_xstrdup(s);
    for (unsigned char *p = (unsigned char *)r; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            *p = ' ';
    size_t n = strlen(r);
    while (n > 0 && r[n - 1] == ' ')
        r[--n] = 0;
    if (!n) {
        free(r);
        return NULL;
    }
    return r;
}

void rk_check_set_reason(rk_check *c, const char *reason)
{
    free(c->reason);
    c->reason = one_line(reason);
}

rk_check *rk_probe_run_add_check(rk_probe_run *run, rk_check_kind kind,
                                 const char *name, rk_check_status status,
                                 const char *reason)
{
    rk_check *c = rk_xcalloc(1, sizeof(*c));
    c->name = rk_xstrdup(name && *name ? name : "unnamed");
    c->kind = kind;
    c->status = status;
    c->reason = one_line(reason);
    run->checks =
        rk_xrealloc(run->checks, (run->n_checks + 1) * sizeof(*run->checks));
    run->checks[run->n_checks++] = c;
    return c;
}

rk_check *rk_probe_run_add_checkf(rk_probe_run *run, rk_check_kind kind,
                                  const char *name, rk_check_status status,
                                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *reason = rk_xvasprintf(fmt, ap);
    va_end(ap);
    return rk_probe_run_add_check(run, kind, name, status, reason);
}

void rk_check_set_detail(rk_check *c, const char *detail)
{
    free(c->detail);
    c->detail = detail && *detail ? rk_xstrdup(detail) : NULL;
}

void rk_check_append_detail(rk_check *c, const char *text)
{
    if (!text || !*text)
        return;
    if (!c->detail) {
        c->detail = rk_xstrdup(text);
        return;
    }
    bool nl = c->detail[strlen(c->detail) - 1] == '\n';
    char *d = rk_xasprintf("%s%s%s", c->detail, nl ? "" : "\n", text);
    free(c->detail);
    c->detail = d;
}

const char *rk_check_status_name(rk_check_status s)
{
    switch (s) {
    case RK_CHECK_PASS:
        return "PASS";
    case RK_CHECK_FAIL:
        return "FAIL";
    case RK_CHECK_SKIP:
        return "SKIP";
    }
    return "FAIL";
}

const char *rk_check_kind_name(rk_check_kind k)
{
    switch (k) {
    case RK_CHECK_TEST:
        return "test";
    case RK_CHECK_INSTALL:
        return "install";
    case RK_CHECK_TESTBED:
        return "testbed";
    }
    return "test";
}

/* ---- exit codes and counts ---- */

struct flags {
    bool testbed_failed;
    bool any_test_passed;
    int bits;
};

static void run_flags(const rk_probe_run *run, struct flags *f)
{
    for (size_t i = 0; i < run->n_checks; i++) {
        const rk_check *c = run->checks[i];
        if (c->status == RK_CHECK_SKIP) {
            f->bits |= RK_PROBE_EXIT_SKIPPED;
        } else if (c->status == RK_CHECK_FAIL) {
            if (c->kind == RK_CHECK_TESTBED)
                f->testbed_failed = true;
            else if (c->kind == RK_CHECK_INSTALL)
                f->bits |= RK_PROBE_EXIT_BADPKG;
            else
                f->bits |= RK_PROBE_EXIT_FAILED;
        } else if (c->kind == RK_CHECK_TEST) {
            f->any_test_passed = true;
        }
    }
}

static int flags_code(const struct flags *f)
{
    if (f->testbed_failed)
        return RK_PROBE_EXIT_TESTBED;
    if ((f->bits == 0 || f->bits == RK_PROBE_EXIT_SKIPPED) &&
        !f->any_test_passed)
        return RK_PROBE_EXIT_NOTHING_RAN;
    return f->bits;
}

int rk_probe_run_exit_code(const rk_probe_run *run)
{
    struct flags f = {0};
    run_flags(run, &f);
    return flags_code(&f);
}

int rk_report_exit_code(const rk_report *r)
{
    struct flags f = {0};
    for (size_t i = 0; i < r->n_runs; i++)
        run_flags(r->runs[i], &f);
    return flags_code(&f);
}

void rk_probe_run_counts(const rk_probe_run *run, rk_report_counts *ret)
{
    memset(ret, 0, sizeof(*ret));
    for (size_t i = 0; i < run->n_checks; i++) {
        const rk_check *c = run->checks[i];
        ret->tests++;
        if (c->status == RK_CHECK_PASS)
            ret->passed++;
        else if (c->status == RK_CHECK_SKIP)
            ret->skipped++;
        else if (c->kind == RK_CHECK_TESTBED)
            ret->errors++;
        else
            ret->failures++;
    }
}

void rk_report_counts_total(const rk_report *r, rk_report_counts *ret)
{
    memset(ret, 0, sizeof(*ret));
    for (size_t i = 0; i < r->n_runs; i++) {
        rk_report_counts c;
        rk_probe_run_counts(r->runs[i], &c);
        ret->tests += c.tests;
        ret->passed += c.passed;
        ret->failures += c.failures;
        ret->errors += c.errors;
        ret->skipped += c.skipped;
    }
}

static double run_time(const rk_probe_run *run)
{
    if (run->duration > 0)
        return run->duration;
    double t = 0;
    for (size_t i = 0; i < run->n_checks; i++)
        t += run->checks[i]->duration;
    return t;
}

/* ---- summary lines ---- */

static void put_word(FILE *out, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        fputc(*p <= 0x20 || *p == 0x7f ? '_' : *p, out);
}

void rk_report_write_summary(const rk_report *r, FILE *out, bool image_prefix)
{
    for (size_t i = 0; i < r->n_runs; i++) {
        const rk_probe_run *run = r->runs[i];
        for (size_t k = 0; k < run->n_checks; k++) {
            const rk_check *c = run->checks[k];
            if (image_prefix) {
                put_word(out, run->image);
                fputc('/', out);
            }
            put_word(out, c->name);
            fprintf(out, " %s", rk_check_status_name(c->status));
            if (c->reason)
                fprintf(out, " %s", c->reason);
            fputc('\n', out);
        }
    }
}

/* ---- XML ---- */

/* Length of the valid UTF-8 sequence at p (n bytes left) that XML 1.0
 * allows, or 0. */
static size_t utf8_xml_char(const unsigned char *p, size_t n)
{
    unsigned char b = p[0];
    if (b >= 0xc2 && b <= 0xdf)
        return n >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
    if (b >= 0xe0 && b <= 0xef) {
        if (n < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
            return 0;
        if (b == 0xe0 && p[1] < 0xa0) /* overlong */
            return 0;
        if (b == 0xed && p[1] >= 0xa0) /* UTF-16 surrogates */
            return 0;
        if (b == 0xef && p[1] == 0xbf &&
            (p[2] == 0xbe || p[2] == 0xbf)) /* U+FFFE, U+FFFF */
            return 0;
        return 3;
    }
    if (b >= 0xf0 && b <= 0xf4) {
        if (n < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
            (p[3] & 0xc0) != 0x80)
            return 0;
        if (b == 0xf0 && p[1] < 0x90) /* overlong */
            return 0;
        if (b == 0xf4 && p[1] >= 0x90) /* above U+10FFFF */
            return 0;
        return 4;
    }
    return 0;
}

static void xml_escape_to(FILE *out, const char *s, size_t len, bool attr)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char b = p[i];
        if (b < 0x80) {
            switch (b) {
            case '&':
                fputs("&amp;", out);
                break;
            case '<':
                fputs("&lt;", out);
                break;
            case '>':
                fputs("&gt;", out);
                break;
            case '"':
                fputs(attr ? "&quot;" : "\"", out);
                break;
            case '\'':
                fputs(attr ? "&apos;" : "'", out);
                break;
            case '\t':
                fputs(attr ? "&#9;" : "\t", out);
                break;
            case '\n':
                fputs(attr ? "&#10;" : "\n", out);
                break;
            case '\r':
                fputs("&#13;", out);
                break;
            default:
                if (b < 0x20)
                    fprintf(out, "\\x%02x", b);
                else
                    fputc(b, out);
            }
            i++;
            continue;
        }
        size_t n = utf8_xml_char(p + i, len - i);
        if (n) {
            fwrite(p + i, 1, n, out);
            i += n;
        } else {
            fputs("\xef\xbf\xbd", out); /* U+FFFD */
            i++;
        }
    }
}

char *rk_report_xml_escape(const char *s, size_t len, bool attr)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f)
        abort();
    xml_escape_to(f, s ? s : "", s ? len : 0, attr);
    fclose(f);
    return buf;
}

static void xml_attr(FILE *out, const char *name, const char *value)
{
    fprintf(out, " %s=\"", name);
    xml_escape_to(out, value, strlen(value), true);
    fputc('"', out);
}

static void xml_attr_counts(FILE *out, const rk_report_counts *c, double t)
{
    fprintf(out,
            " tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\" "
            "time=\"%.3f\"",
            c->tests, c->failures, c->errors, c->skipped, t);
}

static void format_time(int64_t t, bool zone, char *out, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, len, zone ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%dT%H:%M:%S", &tm);
}

char *rk_report_junit_xml(const rk_report *r)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&buf, &size);
    if (!out)
        abort();
    rk_report_counts total;
    rk_report_counts_total(r, &total);
    double total_time = 0;
    for (size_t i = 0; i < r->n_runs; i++)
        total_time += run_time(r->runs[i]);
    char ts[32];
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites", out);
    xml_attr(out, "name", r->name);
    xml_attr_counts(out, &total, total_time);
    format_time(r->started, false, ts, sizeof(ts));
    xml_attr(out, "timestamp", ts);
    fputs(">\n", out);
    for (size_t i = 0; i < r->n_runs; i++) {
        const rk_probe_run *run = r->runs[i];
        rk_report_counts c;
        rk_probe_run_counts(run, &c);
        fputs("  <testsuite", out);
        xml_attr(out, "name", run->image);
        fprintf(out, " id=\"%zu\"", i);
        xml_attr_counts(out, &c, run_time(run));
        format_time(run->started, false, ts, sizeof(ts));
        xml_attr(out, "timestamp", ts);
        fputs(">\n", out);
        if (run->reference) {
            fputs("    <properties>\n      <property name=\"reference\"", out);
            xml_attr(out, "value", run->reference);
            fputs("/>\n    </properties>\n", out);
        }
        for (size_t k = 0; k < run->n_checks; k++) {
            const rk_check *ck = run->checks[k];
            fputs("    <testcase", out);
            xml_attr(out, "name", ck->name);
            xml_attr(out, "classname", run->image);
            fprintf(out, " time=\"%.3f\"", ck->duration);
            if (ck->status == RK_CHECK_PASS && !ck->detail) {
                fputs("/>\n", out);
                continue;
            }
            fputs(">\n", out);
            const char *reason = ck->reason ? ck->reason : "";
            if (ck->status == RK_CHECK_FAIL) {
                const char *el =
                    ck->kind == RK_CHECK_TESTBED ? "error" : "failure";
                fprintf(out, "      <%s", el);
                xml_attr(out, "message", reason);
                xml_attr(out, "type", rk_check_kind_name(ck->kind));
                fputs(">", out);
                xml_escape_to(out, reason, strlen(reason), false);
                fprintf(out, "</%s>\n", el);
            } else if (ck->status == RK_CHECK_SKIP) {
                fputs("      <skipped", out);
                xml_attr(out, "message", reason);
                fputs("/>\n", out);
            }
            if (ck->detail) {
                fputs("      <system-out>", out);
                xml_escape_to(out, ck->detail, strlen(ck->detail), false);
                fputs("</system-out>\n", out);
            }
            fputs("    </testcase>\n", out);
        }
        fputs("  </testsuite>\n", out);
    }
    fputs("</testsuites>\n", out);
    fclose(out);
    return buf;
}

static int write_atomic(const char *path, const char *what, const char *data,
                        rk_error **err)
{
    if (!path || !*path)
        return rk_error_set(err, 0, "writing the %s: no file name", what);
    if (rk_write_file_atomic(AT_FDCWD, path, data, strlen(data), 0644, err) < 0)
        return rk_error_wrap(err, "writing the %s to %s", what, path);
    return 0;
}

int rk_report_write_junit(const rk_report *r, const char *path, rk_error **err)
{
    _cleanup_free_ char *xml = rk_report_junit_xml(r);
    return write_atomic(path, "JUnit report", xml, err);
}

/* ---- JSON ---- */

static json_t *json_str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* jansson refuses strings that are not valid UTF-8; detail text comes
 * from containers and may hold anything. */
static json_t *json_text(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    size_t len = strlen(s);
    const unsigned char *p = (const unsigned char *)s;
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f)
        abort();
    for (size_t i = 0; i < len;) {
        size_t n = p[i] < 0x80 ? 1 : utf8_xml_char(p + i, len - i);
        if (n) {
            fwrite(p + i, 1, n, f);
            i += n;
        } else {
            fputs("\xef\xbf\xbd", f);
            i++;
        }
    }
    fclose(f);
    j = json_string(buf);
    free(buf);
    return j ? j : json_string("");
}

static json_t *counts_json(const rk_report_counts *c)
{
    return json_pack("{s:I,s:I,s:I,s:I,s:I}", "tests", (json_int_t)c->tests,
                     "passed", (json_int_t)c->passed, "failures",
                     (json_int_t)c->failures, "errors", (json_int_t)c->errors,
                     "skipped", (json_int_t)c->skipped);
}

static json_t *seconds_json(double t)
{
    /* Milliseconds are all the precision a probe has. */
    return json_real((double)(long long)(t * 1000.0 + 0.5) / 1000.0);
}

json_t *rk_report_to_json(const rk_report *r)
{
    char ts[32];
    json_t *runs = json_array();
    for (size_t i = 0; i < r->n_runs; i++) {
        const rk_probe_run *run = r->runs[i];
        json_t *checks = json_array();
        for (size_t k = 0; k < run->n_checks; k++) {
            const rk_check *c = run->checks[k];
            json_array_append_new(
                checks,
                json_pack("{s:o,s:s,s:s,s:o,s:o,s:o}", "name",
                          json_text(c->name), "kind",
                          rk_check_kind_name(c->kind), "status",
                          rk_check_status_name(c->status), "reason",
                          json_text(c->reason), "detail", json_text(c->detail),
                          "duration", seconds_json(c->duration)));
        }
        rk_report_counts cnt;
        rk_probe_run_counts(run, &cnt);
        format_time(run->started, true, ts, sizeof(ts));
        json_array_append_new(
            runs, json_pack("{s:o,s:o,s:s,s:o,s:i,s:o,s:o}", "image",
                            json_text(run->image), "reference",
                            json_str_or_null(run->reference), "started", ts,
                            "duration", seconds_json(run_time(run)),
                            "exit_code", rk_probe_run_exit_code(run), "counts",
                            counts_json(&cnt), "checks", checks));
    }
    rk_report_counts total;
    rk_report_counts_total(r, &total);
    format_time(r->started, true, ts, sizeof(ts));
    return json_pack("{s:o,s:s,s:i,s:o,s:o}", "name", json_text(r->name),
                     "started", ts, "exit_code", rk_report_exit_code(r),
                     "counts", counts_json(&total), "runs", runs);
}

char *rk_report_json_string(const rk_report *r)
{
    _cleanup_json_ json_t *j = rk_report_to_json(r);
    _cleanup_free_ char *s = json_dumps(
        j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    if (!s)
        abort();
    return rk_xasprintf("%s\n", s);
}

int rk_report_write_json(const rk_report *r, const char *path, rk_error **err)
{
    _cleanup_free_ char *s = rk_report_json_string(r);
    return write_atomic(path, "JSON report", s, err);
}

/* ---- reading a JSON report back ---- */

static int kind_from_name(const char *s, rk_check_kind *k)
{
    for (int i = RK_CHECK_TEST; i <= RK_CHECK_TESTBED; i++)
        if (s && !strcmp(s, rk_check_kind_name((rk_check_kind)i))) {
            *k = (rk_check_kind)i;
            return 0;
        }
    return -1;
}

static int status_from_name(const char *s, rk_check_status *st)
{
    for (int i = RK_CHECK_PASS; i <= RK_CHECK_SKIP; i++)
        if (s && !strcmp(s, rk_check_status_name((rk_check_status)i))) {
            *st = (rk_check_status)i;
            return 0;
        }
    return -1;
}

int rk_report_merge_json(rk_report *r, const char *text, size_t len, rk_error **err)
{
    json_error_t je;
    _cleanup_json_ json_t *j = json_loadb(text, len, 0, &je);
    json_t *runs = json_object_get(j, "runs");
    if (!json_is_array(runs))
        return rk_error_set(err, 0, "not a report (line %d: %s)", je.line,
                            j ? "no \"runs\"" : je.text);
    size_t i;
    json_t *jr;
    json_array_foreach(runs, i, jr)
    {
        const char *image = rk_json_str(jr, "image");
        if (!image)
            return rk_error_set(err, 0, "report run %zu has no image", i);
        rk_probe_run *run = rk_report_add_run(r, image, rk_json_str(jr, "reference"));
        json_t *d = json_object_get(jr, "duration");
        size_t k;
        json_t *jc;
        json_array_foreach(json_object_get(jr, "checks"), k, jc)
        {
            rk_check_kind kind;
            rk_check_status st;
            const char *name = rk_json_str(jc, "name");
            if (!name || kind_from_name(rk_json_str(jc, "kind"), &kind) < 0 ||
                status_from_name(rk_json_str(jc, "status"), &st) < 0)
                return rk_error_set(err, 0, "report run %zu, check %zu is malformed", i, k);
            rk_check *c = rk_probe_run_add_check(run, kind, name, st, rk_json_str(jc, "reason"));
            const char *detail = rk_json_str(jc, "detail");
            if (detail)
                rk_check_set_detail(c, detail);
            json_t *cd = json_object_get(jc, "duration");
            if (json_is_number(cd))
                c->duration = json_number_value(cd);
        }
        rk_probe_run_finish(run);
        if (json_is_number(d))
            run->duration = json_number_value(d);
    }
    return 0;
}
